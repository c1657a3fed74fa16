# Stub of nixpkgs nixos/modules/installer/netboot/netboot-minimal.nix,
# written for e2et's evaluation checks; not a copy.
#
# Read: NixOS/nixpkgs 14fd9760 (2024: just the two imports) and
# Swarsel/nixpkgs 4aa6836a (2026: the same imports plus
# documentation.man.enable = mkOverride 500 true,
# hardware.enableRedistributableFirmware = mkOverride 70 false,
# networking.networkmanager.enable = mkOverride 500 false,
# system.extraDependencies = mkOverride 70 []). Which of the two the 25.11
# file is could not be determined; the imports (what matters: it pulls in
# netboot-base.nix, hence installation-device.nix) are the same in both.
# Modelled: the 2026 body (the overrides only shrink the image).
{ lib, ... }:

{
  imports = [
    ./netboot-base.nix
    ../../profiles/minimal.nix
  ];

  documentation.man.enable = lib.mkOverride 500 true;
  hardware.enableRedistributableFirmware = lib.mkOverride 70 false;
  networking.networkmanager.enable = lib.mkOverride 500 false;
  system.extraDependencies = lib.mkOverride 70 [ ];
}
