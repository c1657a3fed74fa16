# Stub of nixpkgs nixos/modules/services/misc/sssd.nix, written for e2et's
# evaluation checks; not a copy.
#
# Versions read:
#   (A) NixOS/nixpkgs ba83a0db (2024: `security.krb5.settings` for kcm,
#       `config` with a shadowutils default, `script` running `sssd -D`);
#   (B) the copy with id 150254855 (late 2025: `settings` (RFC42, INI) next to
#       `config` (default ""), assertion that exactly one is non-empty,
#       Type=notify, `sssd -i`), i.e. after PR #448955 "nixos/sssd: migrate to
#       rfc42-style settings" (opened 2025-10-05) and before PR #470331
#       (2025-12-13, kcm flags);
#   (C) Swarsel/nixpkgs 4aa6836a (2026, adds subIDsIntegration).
# Modelled here: (A), the companion of the ipa.nix version this tree models
# (NixOS/nixpkgs 7e11627, which sets `services.sssd.config` text). Whether
# 25.11 has (A) or (B) depends on #448955's merge date, which could not be
# read; e2et's modules only set `config`, which both accept. Under (B) a host
# with sssd enabled and neither `config` nor `settings` fails an assertion;
# under (A) it silently gets the shadowutils proxy domain. See NOTES.md.
#
# Options (present in A, B and C): enable; config (lines); sshAuthorizedKeysIntegration
# (bool, false); kcm (bool, false); environmentFile (nullOr path, null).
# Effects (A):
#   - environment.etc."sssd/sssd.conf".source = /var/lib/sssd/sssd.conf
#     (rendered at start from `config` through envsubst, umask 0177);
#   - systemd.services.sssd: wantedBy multi-user.target, before
#     systemd-user-sessions.service nss-user-lookup.target, after/requires
#     network-online.target nscd.service, Type=forking, PIDFile=/run/sssd.pid,
#     StateDirectory=sssd, EnvironmentFile if set, script creating
#     /var/lib/sss/{pubconf,db,mc,pipes,gpo_cache,secrets} then `sssd -D -c`;
#   - system.nssModules = [ sssd ]; system.nssDatabases.{group,passwd,services,
#     shadow} = [ "sss" ] (NOT sudoers: sudo-through-SSSD needs
#     system.nssDatabases.sudoers = [ "sss" ] and a sudo built withSssd);
#   - services.dbus.packages = [ sssd ];
#   - kcm: sssd-kcm service + socket, security.krb5.settings.libdefaults.
#     default_ccache_name = "KCM:";
#   - sshAuthorizedKeysIntegration: environment.etc."ssh/authorized_keys_command"
#     (mode 0755, `exec ${sssd}/bin/sss_ssh_authorizedkeys "$@"`),
#     services.openssh.authorizedKeysCommand = "/etc/ssh/authorized_keys_command",
#     services.openssh.authorizedKeysCommandUser = "nobody".
{ config, lib, pkgs, ... }:

let
  cfg = config.services.sssd;
  fake = import ../../../lib/fake-drv.nix { inherit lib; };
  pkgOr = fake.pkgOr pkgs;
  inherit (lib) mkOption types;
  sssd = pkgs.sssd;
  dataDir = "/var/lib/sssd";
  settingsFile = "${dataDir}/sssd.conf";
  settingsFileUnsubstituted = fake.textFile "sssd-unsubstituted.conf" cfg.config;
in
{
  options.services.sssd = {
    enable = lib.mkEnableOption "the System Security Services Daemon";

    config = mkOption {
      type = types.lines;
      description = "Contents of {file}`sssd.conf`.";
      default = ''
        [sssd]
        config_file_version = 2
        services = nss, pam
        domains = shadowutils

        [nss]

        [pam]

        [domain/shadowutils]
        id_provider = proxy
        proxy_lib_name = files
        auth_provider = proxy
        proxy_pam_target = sssd-shadowutils
        proxy_fast_alias = True
      '';
    };

    sshAuthorizedKeysIntegration = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Whether to make sshd look up authorized keys from SSS.
        For this to work, the `ssh` SSS service must be enabled in the sssd configuration.
      '';
    };

    kcm = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to use SSS as a Kerberos Cache Manager (KCM).";
    };

    environmentFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      description = "Environment file (systemd.exec(5)) whose variables are substituted into the config.";
    };
  };

  config = lib.mkMerge [
    (lib.mkIf cfg.enable {
      environment.etc."sssd/sssd.conf".source = settingsFile;
      environment.etc."sssd/conf.d".source = "${dataDir}/conf.d";

      systemd.services.sssd = {
        description = "System Security Services Daemon";
        wantedBy = [ "multi-user.target" ];
        before = [
          "systemd-user-sessions.service"
          "nss-user-lookup.target"
        ];
        after = [
          "network-online.target"
          "nscd.service"
        ];
        requires = [
          "network-online.target"
          "nscd.service"
        ];
        wants = [ "nss-user-lookup.target" ];
        restartTriggers = [
          config.environment.etc."nscd.conf".source
          settingsFileUnsubstituted
        ];
        script = ''
          export LDB_MODULES_PATH+="''${LDB_MODULES_PATH+:}${pkgOr "ldb"}/modules/ldb:${sssd}/modules/ldb"
          mkdir -p /var/lib/sss/{pubconf,db,mc,pipes,gpo_cache,secrets} /var/lib/sss/pipes/private /var/lib/sss/pubconf/krb5.include.d
          ${sssd}/bin/sssd -D -c ${settingsFile}
        '';
        serviceConfig = {
          Type = "forking";
          PIDFile = "/run/sssd.pid";
          StateDirectory = baseNameOf dataDir;
          EnvironmentFile = lib.mkIf (cfg.environmentFile != null) cfg.environmentFile;
        };
        preStart = ''
          mkdir -p "${dataDir}/conf.d"
          [ -f ${settingsFile} ] && rm -f ${settingsFile}
          old_umask=$(umask)
          umask 0177
          ${pkgOr "envsubst"}/bin/envsubst \
            -o ${settingsFile} \
            -i ${settingsFileUnsubstituted}
          umask $old_umask
        '';
      };

      system.nssModules = [ sssd ];
      system.nssDatabases = {
        group = [ "sss" ];
        passwd = [ "sss" ];
        services = [ "sss" ];
        shadow = [ "sss" ];
      };
      services.dbus.packages = [ sssd ];

      # Stub-only: the rendered (unsubstituted) sssd.conf, for checkers.
      system.build.sssdConf = settingsFileUnsubstituted;
    })

    (lib.mkIf cfg.kcm {
      systemd.services.sssd-kcm = {
        description = "SSSD Kerberos Cache Manager";
        requires = [ "sssd-kcm.socket" ];
        serviceConfig = {
          ExecStartPre = "-${sssd}/bin/sssd --genconf-section=kcm";
          ExecStart = "${sssd}/libexec/sssd/sssd_kcm --uid 0 --gid 0";
        };
        restartTriggers = [ settingsFileUnsubstituted ];
      };
      systemd.sockets.sssd-kcm = {
        description = "SSSD Kerberos Cache Manager responder socket";
        wantedBy = [ "sockets.target" ];
        listenStreams = [ "/var/run/.heim_org.h5l.kcm-socket" ];
      };
      security.krb5.settings.libdefaults.default_ccache_name = "KCM:";
    })

    (lib.mkIf cfg.sshAuthorizedKeysIntegration {
      # sshd refuses a store path (group-writable /nix/store), hence the /etc indirection.
      environment.etc."ssh/authorized_keys_command" = {
        mode = "0755";
        text = ''
          #!/bin/sh
          exec ${sssd}/bin/sss_ssh_authorizedkeys "$@"
        '';
      };
      services.openssh.authorizedKeysCommand = "/etc/ssh/authorized_keys_command";
      services.openssh.authorizedKeysCommandUser = "nobody";
    })
  ];
}
