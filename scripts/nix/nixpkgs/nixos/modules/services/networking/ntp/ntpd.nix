# Stub of nixpkgs nixos/modules/services/networking/ntp/ntpd.nix (subset),
# written for e2et's evaluation checks; not a copy.
#
# Modelled on the 25.x module (the effects below were checked against
# several copies of ntpd.nix in the code index, e.g. id 109658051):
#   services.ntp.enable  bool, false
#   services.ntp.servers listOf str, default networking.timeServers
#   services.ntp.extraFlags listOf str, []
#   Effects: environment.systemPackages += ntp;
#   services.timesyncd.enable = mkForce false; users.users.ntp (system user,
#   group ntp); systemd.services.ntpd (wantedBy multi-user.target, wants and
#   before time-sync.target, ExecStart "@${ntp}/bin/ntpd ntpd -g <flags>",
#   Type=forking); systemd-timedated told to use ntpd.service.
{ config, lib, pkgs, ... }:

let
  cfg = config.services.ntp;
  fake = import ../../../../lib/fake-drv.nix { inherit lib; };
  ntp = fake.pkgOr pkgs "ntp";
  inherit (lib) mkOption types;
  stateDir = "/var/lib/ntp";
  configFile = fake.textFile "ntp.conf" ''
    driftfile ${stateDir}/ntp.drift
    ${lib.concatMapStringsSep "\n" (s: "server ${s} iburst") cfg.servers}
  '';
  ntpFlags = [ "-c" "${configFile}" "-u" "ntp:ntp" ] ++ cfg.extraFlags;
in
{
  options.services.ntp = {
    enable = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to synchronise your machine's time using ntpd, as a peer in the NTP network.";
    };
    servers = mkOption {
      type = types.listOf types.str;
      default = config.networking.timeServers;
      defaultText = lib.literalExpression "config.networking.timeServers";
      description = "The set of NTP servers from which to synchronise.";
    };
    extraFlags = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Extra flags passed to the ntpd command.";
    };
  };

  config = lib.mkIf cfg.enable {
    environment.systemPackages = [ ntp ];
    services.timesyncd.enable = lib.mkForce false;
    systemd.services.systemd-timedated.environment.SYSTEMD_TIMEDATED_NTP_SERVICES = "ntpd.service";

    users.users.ntp = {
      isSystemUser = true;
      group = "ntp";
      description = "NTP daemon user";
      home = stateDir;
    };
    users.groups.ntp = { };

    systemd.services.ntpd = {
      description = "NTP Daemon";
      wantedBy = [ "multi-user.target" ];
      wants = [ "time-sync.target" ];
      before = [ "time-sync.target" ];
      preStart = ''
        mkdir -m 0755 -p ${stateDir}
        chown ntp ${stateDir}
      '';
      serviceConfig = {
        ExecStart = "@${ntp}/bin/ntpd ntpd -g ${toString ntpFlags}";
        Type = "forking";
      };
    };
  };
}
