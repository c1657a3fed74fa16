# Stub of nixpkgs nixos/modules/services/system/nscd.nix (subset) and
# services/system/dbus.nix (services.dbus.packages), written for e2et's
# evaluation checks; not a copy.
#   services.nscd.enable: bool, default true (25.x).
#   environment.etc."nscd.conf" is defined (sssd.nix reads its `.source` in
#   restartTriggers).
#   services.dbus.packages: listOf path, default [].
{ config, lib, ... }:

{
  options = {
    services.nscd.enable = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Whether to enable the Name Service Cache Daemon (needed for NSS modules).";
    };
    services.dbus.packages = lib.mkOption {
      type = lib.types.listOf lib.types.path;
      default = [ ];
      description = "Packages whose D-Bus configuration files should be included.";
    };
  };

  config = lib.mkIf config.services.nscd.enable {
    environment.etc."nscd.conf".text = ''
      server-user             nscd
      enable-cache            passwd          yes
      enable-cache            group           yes
    '';
  };
}
