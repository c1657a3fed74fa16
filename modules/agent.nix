# services.e2et.agent: the probe agent, started at boot when the kernel command
# line carries e2et.coordinator= (put there by the coordinator's boot script).
# Used by the netboot image and by installed NixOS hosts alike.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.e2et.agent;
in
{
  options.services.e2et.agent = {
    enable = lib.mkEnableOption "the e2et probe agent at boot (only when the kernel command line carries e2et.coordinator=)";

    package = lib.mkPackageOption pkgs "e2et" { };

    heartbeatSeconds = lib.mkOption {
      type = lib.types.ints.positive;
      default = 2;
      description = "Seconds between heartbeats; the answer carries the coordinator's next command.";
    };

    retrySeconds = lib.mkOption {
      type = lib.types.ints.positive;
      default = 300;
      description = "How long the agent keeps retrying an unreachable coordinator before it gives up.";
    };

    extraPackages = lib.mkOption {
      type = lib.types.listOf lib.types.package;
      default = with pkgs; [
        iproute2
        util-linux
        kmod
        coreutils
      ];
      defaultText = lib.literalExpression "with pkgs; [ iproute2 util-linux kmod coreutils ]";
      description = "Tools on the agent's PATH for collectors that call them.";
    };
  };

  config = lib.mkIf cfg.enable {
    systemd.services.e2et-agent = {
      description = "e2et probe agent";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [
        "network-online.target"
        "sshd.service"
        "sssd.service"
        "time-sync.target"
      ];
      # Without e2et.coordinator= the host was not booted by a run: do nothing.
      unitConfig.ConditionKernelCommandLine = "e2et.coordinator";
      # The host's own tools first (its zpool, chronyc, sssctl, ceph, the
      # versions it runs), then the agent's.
      path = [ "/run/current-system/sw" ] ++ cfg.extraPackages ++ [ config.systemd.package ];
      serviceConfig = {
        ExecStart = lib.escapeShellArgs [
          (lib.getExe' cfg.package "e2et-probe")
          "agent"
          "--heartbeat-s"
          (toString cfg.heartbeatSeconds)
          "--retry-s"
          (toString cfg.retrySeconds)
          "--poweroff-cmd"
          "systemctl poweroff"
          "--reboot-cmd"
          "systemctl reboot"
        ];
        # Runs as root on purpose: the collectors read what only root may
        # (DMI serials, keytab and sssd.conf modes, block devices). The
        # coordinator's sandbox is not copied here.
        Restart = "on-failure";
        RestartSec = 5;
      };
    };
  };
}
