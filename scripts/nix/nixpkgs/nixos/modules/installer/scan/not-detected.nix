# Stub of nixpkgs nixos/modules/installer/scan/not-detected.nix, written for
# e2et's evaluation checks; not a copy.
# nixpkgs: hardware.enableRedistributableFirmware = lib.mkDefault true (firmware
# for hardware nixos-generate-config could not detect).
{ lib, ... }:

{
  hardware.enableRedistributableFirmware = lib.mkDefault true;
}
