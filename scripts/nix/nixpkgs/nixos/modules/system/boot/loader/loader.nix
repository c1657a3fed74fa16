# Stub of nixpkgs nixos/modules/system/boot/loader/loader.nix, written for
# e2et's evaluation checks; not a copy.
#   boot.loader.timeout: nullOr int, default 5.
#   system.boot.loader.id (str, ""), kernelFile (str, default
#   pkgs.stdenv.hostPlatform.linux-kernel.target, e.g. "bzImage"),
#   initrdFile (str, "initrd").
{ lib, pkgs, ... }:

{
  options = {
    boot.loader.timeout = lib.mkOption {
      type = lib.types.nullOr lib.types.int;
      default = 5;
      description = "Timeout (in seconds) until the loader boots the default entry.";
    };
    system.boot.loader.id = lib.mkOption {
      internal = true;
      type = lib.types.str;
      default = "";
      description = "Id string of the used bootloader.";
    };
    system.boot.loader.kernelFile = lib.mkOption {
      internal = true;
      type = lib.types.str;
      default = pkgs.stdenv.hostPlatform.linux-kernel.target or "bzImage";
      defaultText = lib.literalExpression "pkgs.stdenv.hostPlatform.linux-kernel.target";
      description = "Name of the kernel file to be passed to the bootloader.";
    };
    system.boot.loader.initrdFile = lib.mkOption {
      internal = true;
      type = lib.types.str;
      default = "initrd";
      description = "Name of the initrd file to be passed to the bootloader.";
    };
  };
}
