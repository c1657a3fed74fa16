# Stub of nixpkgs nixos/modules/system/boot/stage-1.nix (subset), plus the
# boot.initrd options of luksroot.nix, udev.nix and systemd/initrd.nix that the
# stubs set, written for e2et's evaluation checks; not a copy.
#
# Modelled on the 25.x modules (not read page by page):
#   boot.initrd.compressor (str, "zstd" since 23.05), compressorArgs
#   (nullOr (listOf str), null), services.udev.rules (lines, ""),
#   luks.devices (attrsOf anything here, loose), systemd.enable (bool; false
#   at 25.11 -- systemd stage 1 is opt-in there), system.build.initialRamdisk
#   (fake derivation "initrd-linux-<version>" with an `initrd` file).
#   The assertion "The ‘fileSystems’ option does not specify your root file
#   system." (stage-1.nix) is kept: a non-container system needs
#   fileSystems."/".
{ config, lib, pkgs, ... }:

let
  fake = import ../../../lib/fake-drv.nix { inherit lib; };
  inherit (lib) mkOption types;
in
{
  options = {
    boot.initrd.compressor = mkOption {
      type = with types; either str (functionTo str);
      default = "zstd";
      description = "The compressor for the initrd.";
    };
    boot.initrd.compressorArgs = mkOption {
      type = types.nullOr (types.listOf types.str);
      default = null;
      description = "Arguments of the initrd compressor.";
    };
    boot.initrd.services.udev.rules = mkOption {
      type = types.lines;
      default = "";
      description = "udev rules of the initrd (udev.nix).";
    };
    boot.initrd.luks.devices = mkOption {
      type = types.attrsOf types.anything;
      default = { };
      description = "LUKS devices opened in the initrd (luksroot.nix; loose here).";
    };
    boot.initrd.systemd.enable = mkOption {
      type = types.bool;
      default = false;
      description = "Use systemd in stage 1 (systemd/initrd.nix).";
    };
    boot.isContainer = mkOption {
      type = types.bool;
      default = false;
      description = "Whether this NixOS machine is a lightweight container.";
    };
  };

  config = {
    system.build.initialRamdisk = fake.fakeDrv "initrd-linux" {
      modules = config.boot.initrd.availableKernelModules ++ config.boot.initrd.kernelModules;
    };

    assertions = lib.optional (!config.boot.isContainer) {
      assertion = lib.any (fs: fs.mountPoint == "/") (lib.attrValues config.fileSystems);
      message = "The ‘fileSystems’ option does not specify your root file system.";
    };
  };
}
