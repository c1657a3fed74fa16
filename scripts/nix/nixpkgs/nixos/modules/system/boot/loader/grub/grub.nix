# Stub of nixpkgs nixos/modules/system/boot/loader/grub/grub.nix (subset),
# written for e2et's evaluation checks; not a copy.
#
# Modelled on the 25.x module (not read page by page): grub.enable defaults to
# TRUE (a host that enables no other boot loader gets GRUB), device (str, ""),
# devices (listOf str, [] + device), mirroredBoots (derived), gfxmodeBios.
# The assertion "You must set the option ‘boot.loader.grub.devices’ or
# 'boot.loader.grub.mirroredBoots' to make the system bootable." is kept:
# enabling systemd-boot sets grub.enable = mkDefault false (systemd-boot.nix);
# netboot.nix sets it to false; qemu-vm.nix sets grub.device with mkVMOverride.
{ config, lib, ... }:

let
  cfg = config.boot.loader.grub;
  inherit (lib) mkOption types;
in
{
  options.boot.loader.grub = {
    enable = mkOption {
      type = types.bool;
      default = true;
      description = "Whether to enable the GNU GRUB boot loader.";
    };
    device = mkOption {
      type = types.str;
      default = "";
      example = "/dev/disk/by-id/wwn-0x500001234567890a";
      description = "The device on which the GRUB boot loader will be installed (or \"nodev\").";
    };
    devices = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "The devices on which the boot loader will be installed.";
    };
    mirroredBoots = mkOption {
      type = types.listOf types.attrs;
      default = [ ];
      description = "Mirror the boot configuration to multiple partitions.";
    };
    gfxmodeBios = mkOption {
      type = types.str;
      default = "1024x768";
      description = "The gfxmode passed to GRUB when loading a graphical theme (BIOS).";
    };
  };

  config = lib.mkMerge [
    { boot.loader.grub.devices = lib.optional (cfg.device != "") cfg.device; }
    (lib.mkIf cfg.enable {
      boot.loader.grub.mirroredBoots = lib.optionals (cfg.devices != [ ]) [
        {
          path = "/boot";
          inherit (cfg) devices;
        }
      ];
      assertions = [
        {
          assertion = cfg.mirroredBoots != [ ];
          message = "You must set the option ‘boot.loader.grub.devices’ or 'boot.loader.grub.mirroredBoots' to make the system bootable.";
        }
      ];
    })
  ];
}
