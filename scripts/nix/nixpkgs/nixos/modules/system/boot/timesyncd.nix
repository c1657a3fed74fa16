# Stub of nixpkgs nixos/modules/system/boot/timesyncd.nix (subset), written
# for e2et's evaluation checks; not a copy.
#
# Modelled on the 25.x module:
#   services.timesyncd.enable: bool, default `!config.boot.isContainer`
#     (i.e. ON on every ordinary system). Turned off by chrony.nix and
#     ntpd.nix with mkForce false, and by qemu-vm.nix with a plain `false`
#     ("Don't run ntpd in the guest").
#   services.timesyncd.servers: nullOr (listOf str), default
#     config.networking.timeServers.
#   Effect: systemd.services.systemd-timesyncd (wantedBy sysinit.target) when enabled.
{ config, lib, ... }:

let
  cfg = config.services.timesyncd;
in
{
  options.services.timesyncd = {
    enable = lib.mkOption {
      type = lib.types.bool;
      default = !config.boot.isContainer;
      defaultText = lib.literalExpression "!config.boot.isContainer";
      description = "Enables the systemd NTP client daemon.";
    };
    servers = lib.mkOption {
      type = lib.types.nullOr (lib.types.listOf lib.types.str);
      default = config.networking.timeServers;
      defaultText = lib.literalExpression "config.networking.timeServers";
      description = "The set of NTP servers from which to synchronise.";
    };
  };

  config = lib.mkIf cfg.enable {
    systemd.additionalUpstreamSystemUnits = [ "systemd-timesyncd.service" ];
    systemd.services.systemd-timesyncd = {
      wantedBy = [ "sysinit.target" ];
      aliases = [ "dbus-org.freedesktop.timesync1.service" ];
    };
  };
}
