# Stub of nixpkgs nixos/modules/system/boot/loader/systemd-boot/systemd-boot.nix
# (subset), written for e2et's evaluation checks; not a copy.
#   boot.loader.systemd-boot.enable: bool, default false. When enabled it sets
#   boot.loader.grub.enable = mkDefault false and system.boot.loader.id =
#   "systemd-boot" (25.x module).
{ config, lib, ... }:

{
  options.boot.loader.systemd-boot.enable = lib.mkEnableOption "the systemd-boot (formerly gummiboot) EFI boot manager";

  config = lib.mkIf config.boot.loader.systemd-boot.enable {
    boot.loader.grub.enable = lib.mkDefault false;
    system.boot.loader.id = "systemd-boot";
  };
}
