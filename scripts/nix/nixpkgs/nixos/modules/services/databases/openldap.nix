# Stub of nixpkgs nixos/modules/services/databases/openldap.nix (subset),
# written for e2et's evaluation checks; not a copy.
#
# Modelled on the 25.x module (OLC `settings` form since 21.05; not read page
# by page):
#   services.openldap.enable            bool, false
#   services.openldap.package           package, pkgs.openldap
#   services.openldap.user / group      str, "openldap"
#   services.openldap.urlList           listOf str, [ "ldap:///" ]
#   services.openldap.settings          LOOSE here: attrsOf anything. nixpkgs'
#                                       type is a recursive custom submodule
#                                       (attrs, children.<dn>, includes) -- a
#                                       complex custom type, so it is not
#                                       reproduced; structure errors in it are
#                                       NOT caught by this stub.
#   services.openldap.declarativeContents attrsOf lines, {} (keyed by suffix DN)
#   services.openldap.mutableConfig     bool, false
#   Effects: systemd.services.openldap (wantedBy multi-user.target,
#   Type=notify, ExecStart slapd), users/groups openldap.
{ config, lib, pkgs, ... }:

let
  cfg = config.services.openldap;
  inherit (lib) mkOption types;
in
{
  options.services.openldap = {
    enable = lib.mkEnableOption "the ldap server";
    package = lib.mkPackageOption pkgs "openldap" { };
    user = mkOption {
      type = types.str;
      default = "openldap";
      description = "User account under which slapd runs.";
    };
    group = mkOption {
      type = types.str;
      default = "openldap";
      description = "Group account under which slapd runs.";
    };
    urlList = mkOption {
      type = types.listOf types.str;
      default = [ "ldap:///" ];
      description = "URL list slapd should listen on.";
    };
    settings = mkOption {
      type = types.attrsOf types.anything;
      default = { };
      description = "Configuration for OpenLDAP, in OLC format (loosely typed in this stub).";
    };
    declarativeContents = mkOption {
      type = types.attrsOf types.lines;
      default = { };
      description = "Declarative contents for the LDAP databases, keyed by suffix DN (LDIF).";
    };
    mutableConfig = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to allow writable on-line configuration.";
    };
  };

  config = lib.mkIf cfg.enable {
    users.users = lib.optionalAttrs (cfg.user == "openldap") {
      openldap = {
        group = cfg.group;
        isSystemUser = true;
      };
    };
    users.groups = lib.optionalAttrs (cfg.group == "openldap") { openldap = { }; };

    systemd.services.openldap = {
      description = "OpenLDAP Server Daemon";
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" ];
      wants = [ "network-online.target" ];
      serviceConfig = {
        User = cfg.user;
        Group = cfg.group;
        Type = "notify";
        ExecStart = "${cfg.package}/libexec/slapd -d 0 -F /etc/openldap/slapd.d -h '${lib.concatStringsSep " " cfg.urlList}'";
        StateDirectory = [ "openldap" ];
      };
    };
  };
}
