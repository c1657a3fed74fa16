# Stub of nixpkgs nixos/modules/system/boot/loader/efi.nix, written for e2et's
# evaluation checks; not a copy.
#   boot.loader.efi.canTouchEfiVariables: bool, default false.
#   boot.loader.efi.efiSysMountPoint: str, default "/boot".
{ lib, ... }:

{
  options.boot.loader.efi = {
    canTouchEfiVariables = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Whether the installation process is allowed to modify EFI boot variables.";
    };
    efiSysMountPoint = lib.mkOption {
      type = lib.types.str;
      default = "/boot";
      description = "Where the EFI System Partition is mounted.";
    };
  };
}
