# services.e2et.agent: the probe agent, started at boot when the kernel command
# line carries e2et.coordinator= (put there by the coordinator's boot script).
# Used by the netboot image and by installed NixOS hosts alike. With
# `enrol.enable`, an installed host's own boots (no e2et.coordinator=) enrol
# with the host's key for a quick run that waits for them, and exit when none
# does.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.e2et.agent;
  # The enrolled agent's allow-list: one argv per line.
  allowList = pkgs.writeText "e2et-enrol-allowed-commands" (
    lib.concatMapStrings (argv: lib.concatStringsSep " " argv + "\n") cfg.enrol.allowedCommands
  );
  # One agent unit: after the network and the services it checks, on the
  # kernel command line condition given, with the agent's flags.
  agentUnit =
    {
      description,
      condition,
      args,
      extraServiceConfig ? { },
    }:
    {
      inherit description;
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [
        "network-online.target"
        "sshd.service"
        "sssd.service"
        "time-sync.target"
      ];
      unitConfig.ConditionKernelCommandLine = condition;
      # The host's own tools first (its zpool, chronyc, sssctl, ceph, the
      # versions it runs), then the agent's.
      path = [ "/run/current-system/sw" ] ++ cfg.extraPackages ++ [ config.systemd.package ];
      serviceConfig = {
        ExecStart = lib.escapeShellArgs (
          [
            (lib.getExe' cfg.package "e2et-probe")
            "agent"
            "--heartbeat-s"
            (toString cfg.heartbeatSeconds)
            "--poweroff-cmd"
            "systemctl poweroff"
            "--reboot-cmd"
            "systemctl reboot"
          ]
          ++ args
        );
        # Runs as root on purpose: the collectors read what only root may
        # (DMI serials, keytab and sssd.conf modes, block devices). The
        # coordinator's sandbox is not copied here.
        Restart = "on-failure";
        RestartSec = 5;
      }
      // extraServiceConfig;
    };
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

    enrol = {
      enable = lib.mkEnableOption "enrolment of the installed system's boots for quick runs (signed with the host's key)";

      coordinator = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        example = "http://10.20.0.5:8080";
        description = "The coordinator's URL, as hosts reach it.";
      };

      host = lib.mkOption {
        type = lib.types.str;
        default = config.networking.hostName;
        defaultText = lib.literalExpression "config.networking.hostName";
        description = "This host's name in the inventory.";
      };

      keyFile = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        example = "/var/lib/e2et-secrets/enrol-key";
        description = ''
          File holding this host's enrolment key (the coordinator holds the
          same key in services.e2et.coordinator.agentEnrolmentKeyFiles),
          passed to the agent as a systemd credential. Must not be in the Nix
          store.
        '';
      };

      waitSeconds = lib.mkOption {
        type = lib.types.ints.positive;
        default = 120;
        description = "How long to retry while the coordinator is unreachable or the quick run is still cycling.";
      };

      allowedCommands = lib.mkOption {
        type = lib.types.listOf (lib.types.nonEmptyListOf lib.types.str);
        default = [ ];
        example = [
          [
            "systemctl"
            "is-active"
            "sshd"
          ]
        ];
        description = ''
          The `command` smoke checks this host runs when it enrols, each an
          exact argv (no word may contain whitespace). A check the
          coordinator asks for that is not listed is not run and is reported
          as failed: the installed system decides what runs on it, not
          whoever answers for the coordinator.
        '';
      };

      maxDiskMib = lib.mkOption {
        type = lib.types.ints.positive;
        default = 256;
        description = "The most MiB the enrolled agent's disk test writes, whatever the coordinator asks.";
      };

      maxTcpMib = lib.mkOption {
        type = lib.types.ints.positive;
        default = 256;
        description = "The most MiB the enrolled agent's TCP throughput test sends.";
      };

      writablePaths = lib.mkOption {
        type = lib.types.listOf lib.types.str;
        default = [ "/var/tmp" ];
        description = ''
          Directories the enrolled agent may write (its disk test's
          directory); the rest of the file system is read-only to it.
        '';
      };
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
    assertions = [
      {
        assertion = !cfg.enrol.enable || (cfg.enrol.coordinator != null && cfg.enrol.keyFile != null);
        message = "services.e2et.agent.enrol: coordinator and keyFile must be set.";
      }
      {
        assertion = lib.all (lib.all (w: builtins.match ".*[[:space:]].*" w == null)) cfg.enrol.allowedCommands;
        message = "services.e2et.agent.enrol.allowedCommands: a word contains whitespace (the allow-list splits argvs on it).";
      }
      {
        assertion =
          cfg.enrol.keyFile == null
          || (lib.hasPrefix "/" cfg.enrol.keyFile && !lib.hasPrefix "${builtins.storeDir}/" cfg.enrol.keyFile);
        message = "services.e2et.agent.enrol.keyFile must be an absolute path outside the Nix store.";
      }
    ];

    # An installed system's own boot: enrol for a quick run, if one waits.
    systemd.services.e2et-agent-enrol = lib.mkIf cfg.enrol.enable (
      agentUnit {
        description = "e2et probe agent (quick-run enrolment of the installed system)";
        # A boot through a run's netboot script is e2et-agent's.
        condition = "!e2et.coordinator";
        args = [
          "--enrol"
          cfg.enrol.coordinator
          "--host"
          cfg.enrol.host
          "--key-file"
          "%d/enrol-key"
          "--retry-s"
          (toString cfg.enrol.waitSeconds)
          "--allow-commands"
          "${allowList}"
          "--max-disk-mib"
          (toString cfg.enrol.maxDiskMib)
          "--max-tcp-mib"
          (toString cfg.enrol.maxTcpMib)
        ];
        extraServiceConfig = {
          LoadCredential = [ "enrol-key:${toString cfg.enrol.keyFile}" ];
          # What the collectors tolerate: they read everything (root, for
          # DMI serials, keytab modes, block devices) and write only the
          # disk test's directory. Reboot and power-off are ignored in enrol
          # mode, so the unit needs no access to systemd's manager.
          ProtectSystem = "strict";
          ReadWritePaths = cfg.enrol.writablePaths;
          ProtectHome = "read-only";
          PrivateTmp = true;
          NoNewPrivileges = true;
          ProtectClock = true;
          ProtectHostname = true;
          ProtectKernelModules = true;
          ProtectKernelTunables = true;
          ProtectControlGroups = true;
          RestrictSUIDSGID = true;
          RestrictRealtime = true;
          RestrictNamespaces = true;
          LockPersonality = true;
          SystemCallArchitectures = "native";
          # ip and the network collector speak netlink.
          RestrictAddressFamilies = [
            "AF_UNIX"
            "AF_INET"
            "AF_INET6"
            "AF_NETLINK"
          ];
          # Reading root-only files and block devices, SMART ioctls, ICMP.
          CapabilityBoundingSet = [
            "CAP_DAC_READ_SEARCH"
            "CAP_SYS_RAWIO"
            "CAP_SYS_ADMIN"
            "CAP_NET_RAW"
          ];
        };
      }
    );

    systemd.services.e2et-agent = agentUnit {
      description = "e2et probe agent";
      # Without e2et.coordinator= the host was not booted by a run: do nothing.
      condition = "e2et.coordinator";
      args = [
        "--retry-s"
        (toString cfg.retrySeconds)
      ];
    };
  };
}
