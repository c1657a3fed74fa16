# Stub of nixpkgs nixos/modules/config/nsswitch.nix, written for e2et's
# evaluation checks; not a copy.
#
# Read: Swarsel/nixpkgs 4aa6836a (2026) and NixOS/nixpkgs 07c44b81 (old). The
# `sudoers` database is 25.11: it was added by NixOS/nixpkgs PR #310818
# ("nixos/nsswitch: add support for overriding sudoers entries", 2024-05,
# merged). The 2026 file also has subuid/subgid, which came with sssd's
# subIDsIntegration after 25.11 (sssd.nix still had no such option before
# 2025-12-13, PR #470331 era) -- not declared here.
#   system.nssDatabases.{passwd,group,shadow,sudoers,hosts,services}:
#     listOf str, default []; the module itself adds mkBefore [ "files" ] to
#     each (hosts: files at order 998, dns at 1499), so
#     `system.nssDatabases.sudoers = [ "sss" ]` yields "sudoers: files sss".
#   system.nssModules: listOf path, internal; apply -> { list; path }.
#   Assertion kept: NSS modules need services.nscd.enable.
#   environment.etc."nsswitch.conf".text rendered as in nixpkgs.
{ config, lib, ... }:

let
  inherit (lib) mkOption types;
  db = name: mkOption {
    type = types.listOf types.str;
    default = [ ];
    description = "List of ${name} entries to configure in {file}`/etc/nsswitch.conf` (\"files\" is always prepended).";
  };
  dbs = config.system.nssDatabases;
in
{
  options.system = {
    nssDatabases = {
      passwd = db "passwd";
      group = db "group";
      shadow = db "shadow";
      sudoers = db "sudoers";
      hosts = db "hosts";
      services = db "services";
    };
    nssModules = mkOption {
      type = types.listOf types.path;
      internal = true;
      default = [ ];
      description = "Search path for NSS (Name Service Switch) modules.";
      apply = list: {
        inherit list;
        path = lib.makeLibraryPath list;
      };
    };
  };

  config = {
    assertions = [
      {
        assertion = config.system.nssModules.path != "" -> config.services.nscd.enable;
        message = ''
          Loading NSS modules from system.nssModules (${config.system.nssModules.path}),
          requires services.nscd.enable being set to true.
        '';
      }
    ];

    environment.etc."nsswitch.conf".text = ''
      passwd:    ${lib.concatStringsSep " " dbs.passwd}
      group:     ${lib.concatStringsSep " " dbs.group}
      shadow:    ${lib.concatStringsSep " " dbs.shadow}
      sudoers:   ${lib.concatStringsSep " " dbs.sudoers}

      hosts:     ${lib.concatStringsSep " " dbs.hosts}
      networks:  files

      ethers:    files
      services:  ${lib.concatStringsSep " " dbs.services}
      protocols: files
      rpc:       files
    '';

    system.nssDatabases = {
      passwd = lib.mkBefore [ "files" ];
      group = lib.mkBefore [ "files" ];
      shadow = lib.mkBefore [ "files" ];
      sudoers = lib.mkBefore [ "files" ];
      services = lib.mkBefore [ "files" ];
      hosts = lib.mkMerge [
        (lib.mkOrder 998 [ "files" ])
        (lib.mkOrder 1499 [ "dns" ])
      ];
    };
  };
}
