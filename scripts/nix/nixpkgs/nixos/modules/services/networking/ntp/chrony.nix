# Stub of nixpkgs nixos/modules/services/networking/ntp/chrony.nix (subset),
# written for e2et's evaluation checks; not a copy.
#
# Modelled on the 25.x module (effects checked against copies in the code
# index, e.g. id 503288413: `services.timesyncd.enable = mkForce false`,
# conflicts with ntpd.service and systemd-timesyncd.service):
#   services.chrony.enable bool, false; package (pkgs.chrony); servers
#   (listOf str, default networking.timeServers); serverOption (enum
#   "server"|"pool", "server"); enableNTS (bool, false); extraConfig (lines);
#   extraFlags (listOf str).
#   Effects: environment.systemPackages += chrony; users chrony;
#   services.timesyncd.enable = mkForce false; systemd.services.chronyd
#   (wantedBy multi-user.target, wants/before time-sync.target, after
#   network.target, conflicts = [ "ntpd.service" "systemd-timesyncd.service" ],
#   ExecStart "${chrony}/bin/chronyd <flags>"). nixpkgs has no assertion against
#   running chrony and ntpd together: with both enabled, both units are
#   wanted by multi-user.target and conflict at runtime.
{ config, lib, pkgs, ... }:

let
  cfg = config.services.chrony;
  fake = import ../../../../lib/fake-drv.nix { inherit lib; };
  inherit (lib) mkOption types;
  stateDir = "/var/lib/chrony";
  configFile = fake.textFile "chrony.conf" ''
    ${lib.concatMapStringsSep "\n" (s: "${cfg.serverOption} ${s} iburst${lib.optionalString cfg.enableNTS " nts"}") cfg.servers}
    driftfile ${stateDir}/chrony.drift
    ${cfg.extraConfig}
  '';
in
{
  options.services.chrony = {
    enable = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to synchronise your machine's time using chrony.";
    };
    package = lib.mkPackageOption pkgs "chrony" { };
    servers = mkOption {
      type = types.listOf types.str;
      default = config.networking.timeServers;
      defaultText = lib.literalExpression "config.networking.timeServers";
      description = "The set of NTP servers from which to synchronise.";
    };
    serverOption = mkOption {
      type = types.enum [
        "server"
        "pool"
      ];
      default = "server";
      description = "Set option for server directives.";
    };
    enableNTS = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to enable Network Time Security authentication.";
    };
    extraConfig = mkOption {
      type = types.lines;
      default = "";
      description = "Extra configuration directives appended to the chrony configuration.";
    };
    extraFlags = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Extra flags passed to the chronyd command.";
    };
  };

  config = lib.mkIf cfg.enable {
    environment.systemPackages = [ cfg.package ];

    users.groups.chrony = { };
    users.users.chrony = {
      isSystemUser = true;
      group = "chrony";
      description = "chrony daemon user";
      home = stateDir;
    };

    services.timesyncd.enable = lib.mkForce false;
    systemd.services.systemd-timedated.environment.SYSTEMD_TIMEDATED_NTP_SERVICES = "chronyd.service";

    systemd.services.chronyd = {
      description = "chrony NTP daemon";
      wantedBy = [ "multi-user.target" ];
      wants = [ "time-sync.target" ];
      before = [ "time-sync.target" ];
      after = [ "network.target" ];
      conflicts = [
        "ntpd.service"
        "systemd-timesyncd.service"
      ];
      path = [ cfg.package ];
      serviceConfig = {
        Type = "simple";
        ExecStart = "${cfg.package}/bin/chronyd -n -m -u chrony -f ${configFile} ${toString cfg.extraFlags}";
      };
    };
  };
}
