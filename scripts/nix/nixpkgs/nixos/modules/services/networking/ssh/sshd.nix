# Stub of nixpkgs nixos/modules/services/networking/ssh/sshd.nix (subset),
# written for e2et's evaluation checks; not a copy.
#
# Modelled on the 25.x module (not read page by page; the RFC42 `settings`
# form dates from 23.05):
#   services.openssh.enable                 bool, false
#   services.openssh.package                package, pkgs.openssh
#   services.openssh.ports                  listOf port, [ 22 ]
#   services.openssh.openFirewall           bool, true (opens `ports`)
#   services.openssh.authorizedKeysCommand  str, "none"
#   services.openssh.authorizedKeysCommandUser str, "nobody"
#   services.openssh.authorizedKeysFiles    listOf str, []
#   services.openssh.settings               submodule, freeform (loose here:
#     attrsOf (nullOr (oneOf [bool int str (listOf str)]))) with the declared
#     options PermitRootLogin (enum yes|without-password|prohibit-password|
#     forced-commands-only|no, default "prohibit-password"),
#     PasswordAuthentication (bool, true), KbdInteractiveAuthentication (bool,
#     true), X11Forwarding (bool, false), UsePAM (bool, true).
#   Effects: systemd.services.sshd (ExecStart "${package}/bin/sshd -D -f
#   /etc/ssh/sshd_config"), environment.etc."ssh/sshd_config" (rendered here:
#   settings, AuthorizedKeysCommand/User when not "none"), firewall ports.
{ config, lib, pkgs, ... }:

let
  cfg = config.services.openssh;
  inherit (lib) mkOption types;
  render =
    n: v:
    if v == null then
      ""
    else if lib.isBool v then
      "${n} ${if v then "yes" else "no"}\n"
    else if lib.isList v then
      "${n} ${lib.concatStringsSep "," v}\n"
    else
      "${n} ${toString v}\n";
in
{
  options.services.openssh = {
    enable = lib.mkEnableOption "the OpenSSH secure shell daemon";
    package = lib.mkPackageOption pkgs "openssh" { };
    ports = mkOption {
      type = types.listOf types.port;
      default = [ 22 ];
      description = "Specifies on which ports the SSH daemon listens.";
    };
    openFirewall = mkOption {
      type = types.bool;
      default = true;
      description = "Whether to automatically open the specified ports in the firewall.";
    };
    authorizedKeysCommand = mkOption {
      type = types.str;
      default = "none";
      description = "Program used to look up the user's public keys (AuthorizedKeysCommand).";
    };
    authorizedKeysCommandUser = mkOption {
      type = types.str;
      default = "nobody";
      description = "User under which authorizedKeysCommand runs.";
    };
    authorizedKeysFiles = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Extra files in which to look for authorized keys.";
    };
    settings = mkOption {
      type = types.submodule {
        freeformType =
          with types;
          attrsOf (
            nullOr (oneOf [
              bool
              int
              str
              (listOf str)
            ])
          );
        options = {
          PermitRootLogin = mkOption {
            type = types.enum [
              "yes"
              "without-password"
              "prohibit-password"
              "forced-commands-only"
              "no"
            ];
            default = "prohibit-password";
            description = "Whether the root user can login using ssh.";
          };
          PasswordAuthentication = mkOption {
            type = types.bool;
            default = true;
            description = "Specifies whether password authentication is allowed.";
          };
          KbdInteractiveAuthentication = mkOption {
            type = types.bool;
            default = true;
            description = "Specifies whether keyboard-interactive authentication is allowed.";
          };
          X11Forwarding = mkOption {
            type = types.bool;
            default = false;
            description = "Whether to allow X11 connections to be forwarded.";
          };
          UsePAM = mkOption {
            type = types.bool;
            default = true;
            description = "Whether to enable PAM authentication.";
          };
        };
      };
      default = { };
      description = "Configuration for `sshd_config(5)` (loosely typed freeform part in this stub).";
    };
  };

  config = lib.mkIf cfg.enable {
    environment.etc."ssh/sshd_config".text =
      lib.concatStrings (lib.mapAttrsToList render cfg.settings)
      + lib.optionalString (cfg.authorizedKeysCommand != "none") ''
        AuthorizedKeysCommand ${cfg.authorizedKeysCommand}
        AuthorizedKeysCommandUser ${cfg.authorizedKeysCommandUser}
      ''
      + lib.concatMapStrings (p: "Port ${toString p}\n") cfg.ports;

    networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall cfg.ports;

    users.users.sshd = {
      isSystemUser = true;
      group = "sshd";
      description = "SSH privilege separation user";
    };
    users.groups.sshd = { };

    systemd.services.sshd = {
      description = "SSH Daemon";
      wantedBy = [ "multi-user.target" ];
      after = [ "network.target" ];
      restartTriggers = [ config.environment.etc."ssh/sshd_config".source ];
      serviceConfig = {
        ExecStart = "${cfg.package}/bin/sshd -D -f /etc/ssh/sshd_config";
        KillMode = "process";
        Restart = "always";
        Type = "simple";
      };
    };
  };
}
