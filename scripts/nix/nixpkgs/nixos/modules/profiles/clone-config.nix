# Stub of nixpkgs nixos/modules/profiles/clone-config.nix, written for e2et's
# evaluation checks; not a copy.
# The nixpkgs module (installer.cloneConfig, default true) writes the
# installer's own configuration to /etc/nixos/configuration.nix at first
# boot (boot.postBootCommands). Modelled loosely (25.x, not read page by
# page); the options are declared in ../misc/minor-toggles.nix.
{ config, lib, ... }:

{
  boot.postBootCommands = lib.mkIf config.installer.cloneConfig ''
    # Provide a mount point for nixos-install.
    mkdir -p /mnt

    # Provide a configuration for the CD/DVD itself, to allow users
    # to run nixos-rebuild to change the configuration of the
    # running system on the CD/DVD.
    if ! [ -e /etc/nixos/configuration.nix ]; then
      mkdir -p /etc/nixos
      echo "(cloned installer configuration)" > /etc/nixos/configuration.nix
    fi
  '';
}
