# Stub of nixpkgs nixos/modules/installer/netboot/netboot-base.nix, written
# for e2et's evaluation checks; not a copy.
# Read: NixOS/nixpkgs 03beb85a. It imports ./netboot.nix,
# ../../profiles/base.nix and ../../profiles/installation-device.nix (the
# installer profile: autologin, empty passwords, passwordless sudo, sshd,
# channel) and sets hardware.enableAllHardware = true.
{ ... }:

{
  imports = [
    ./netboot.nix
    ../../profiles/base.nix
    ../../profiles/installation-device.nix
  ];

  hardware.enableAllHardware = true;
}
