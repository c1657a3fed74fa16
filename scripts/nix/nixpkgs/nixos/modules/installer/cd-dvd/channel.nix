# Stub of nixpkgs nixos/modules/installer/cd-dvd/channel.nix, written for
# e2et's evaluation checks; not a copy.
#
# Read: Swarsel/nixpkgs 4aa6836a (2026). The option is
#   system.installer.channel.enable: bool (mkEnableOption), default TRUE --
#   "bundling NixOS/Nixpkgs channel in the installer".
# When enabled, nixpkgs copies the (cleaned) nixpkgs source into the image as
# the root user's "nixos" channel on first boot and pins the `nixpkgs` flake
# registry entry to it. The 2026 file does the unpacking in a
# nix-channel-init systemd service; its own comment says this replaced
# boot.postBootCommands, which is what the 25.x file used -- modelled here
# as boot.postBootCommands. Stub-only: system.build.installerChannelSources is
# the fake "nixos-<version>" derivation holding the copy, for checkers.
{ config, lib, pkgs, ... }:

let
  fake = import ../../../lib/fake-drv.nix { inherit lib; };
  channelSources = fake.fakeDrv "nixos-${config.system.nixos.version}" {
    source = "nixpkgs (lib.cleanSource pkgs.path)";
  };
in
{
  options.system.installer.channel.enable =
    (lib.mkEnableOption "bundling NixOS/Nixpkgs channel in the installer")
    // {
      default = true;
    };

  config = lib.mkIf config.system.installer.channel.enable {
    nix.registry.nixpkgs.to = {
      path = "${channelSources}/nixos";
      type = "path";
    };

    boot.postBootCommands = lib.mkAfter ''
      if ! [ -e /var/lib/nixos/did-channel-init ]; then
        echo "unpacking the NixOS/Nixpkgs sources..."
        mkdir -p /nix/var/nix/profiles/per-user/root
        ${config.nix.package}/bin/nix-env -p /nix/var/nix/profiles/per-user/root/channels \
          -i ${channelSources} --quiet --option build-use-substitutes false
        mkdir -m 0700 -p /root/.nix-defexpr
        ln -sfn /nix/var/nix/profiles/per-user/root/channels /root/.nix-defexpr/channels
        mkdir -m 0755 -p /var/lib/nixos
        touch /var/lib/nixos/did-channel-init
      fi
    '';

    system.build.installerChannelSources = channelSources;
  };
}
