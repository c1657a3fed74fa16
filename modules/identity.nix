# services.e2et.identity: the FreeIPA/SSSD client role (profile
# "aaa-domain-client"), with its state on persistent storage. A diskless
# host without a persistence path is refused: its SSSD cache and keytab would
# vanish at the next power cycle (the K10 finding).
{
  config,
  lib,
  pkgs,
  utils,
  ...
}:

let
  cfg = config.services.e2et.identity;
  p = cfg.persistencePath;
  sssMount = "${utils.escapeSystemdPath "/var/lib/sss"}.mount";
in
{
  options.services.e2et.identity = {
    enable = lib.mkEnableOption "the aaa-domain-client role (FreeIPA enrolment through SSSD)";

    ipa = lib.mkOption {
      default = null;
      description = ''
        FreeIPA enrolment through nixpkgs' security.ipa. Leave null to configure
        services.sssd yourself (an LDAP domain, say); the role then only adds
        persistence, the break-glass account and the assertions.
      '';
      type = lib.types.nullOr (
        lib.types.submodule {
          options = {
            domain = lib.mkOption {
              type = lib.types.str;
              example = "lab.example.org";
              description = "FreeIPA domain.";
            };
            realm = lib.mkOption {
              type = lib.types.str;
              example = "LAB.EXAMPLE.ORG";
              description = "Kerberos realm.";
            };
            server = lib.mkOption {
              type = lib.types.str;
              example = "ipa.lab.example.org";
              description = "FreeIPA server.";
            };
            basedn = lib.mkOption {
              type = lib.types.str;
              example = "dc=lab,dc=example,dc=org";
              description = "LDAP base DN of the domain.";
            };
            certificate = lib.mkOption {
              type = lib.types.package;
              description = "The IPA CA certificate (a fixed-output fetch of /ipa/config/ca.crt).";
            };
          };
        }
      );
    };

    diskless = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "The root filesystem does not survive a power cycle (netboot, tmpfs root).";
    };

    persistencePath = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "/persist";
      description = ''
        Mount point of storage that survives a power cycle. /var/lib/sss is
        bind-mounted from `<path>/var/lib/sss` and /etc/krb5.keytab links to
        `<path>/etc/krb5.keytab`. Required when `diskless` is true.
      '';
    };

    sudoThroughSssd = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = ''
        Take sudo rules from the directory through SSSD (profile field
        identity.sudoSss): sudo built with SSSD support and
        `sudoers: files sss` in nsswitch.conf.
      '';
    };

    sshKeysThroughSssd = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = ''
        Take users' SSH public keys from the directory through SSSD
        (`sss_ssh_authorizedkeys` as sshd's AuthorizedKeysCommand; profile
        field identity.sshKeysSss).
      '';
    };

    breakGlass = {
      user = lib.mkOption {
        type = lib.types.str;
        default = "breakglass";
        description = "Local account that works when the domain does not.";
      };
      hashedPasswordFile = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = null;
        description = "File with the break-glass account's password hash (outside the Nix store).";
      };
    };
  };

  config = lib.mkIf cfg.enable {
    # sssctl and sss_cache for operators and for the probe's domain-status
    # check (nixpkgs' sssd module installs only the NSS module).
    environment.systemPackages = [ pkgs.sssd ];

    assertions = [
      {
        assertion = !cfg.diskless || p != null;
        message = ''
          services.e2et.identity: this host is diskless and has no persistencePath,
          so SSSD's cache (/var/lib/sss) and /etc/krb5.keytab live in RAM and are
          lost at every power cycle; the host then fails revalidation (the K10
          finding). Set services.e2et.identity.persistencePath to storage that
          survives a power cycle, e.g. "/persist".
        '';
      }
      {
        assertion = p == null || (lib.hasPrefix "/" p && p != "/");
        message = "services.e2et.identity.persistencePath must be an absolute path other than /.";
      }
      {
        assertion =
          cfg.breakGlass.hashedPasswordFile == null
          || !(lib.hasPrefix "${builtins.storeDir}/" cfg.breakGlass.hashedPasswordFile);
        message = "services.e2et.identity.breakGlass.hashedPasswordFile must not be in the Nix store.";
      }
    ];

    security.ipa = lib.mkIf (cfg.ipa != null) {
      enable = true;
      inherit (cfg.ipa)
        domain
        realm
        server
        basedn
        certificate
        ;
      cacheCredentials = true;
    };

    services.sssd.enable = true;
    services.sssd.sshAuthorizedKeysIntegration = cfg.sshKeysThroughSssd;

    security.sudo = lib.mkIf cfg.sudoThroughSssd {
      enable = true;
      package = pkgs.sudo.override { withSssd = true; };
    };
    system.nssDatabases.sudoers = lib.mkIf cfg.sudoThroughSssd [ "sss" ];

    # One time daemon, from the IPA server: chrony. Some nixpkgs versions of
    # security.ipa turn on ntpd instead; two daemons would fight over the
    # clock, and the acceptance profile expects chronyd or timesyncd.
    services.ntp.enable = lib.mkIf (cfg.ipa != null) (lib.mkForce false);
    services.chrony = lib.mkIf (cfg.ipa != null) {
      enable = lib.mkDefault true;
      servers = lib.mkDefault [ cfg.ipa.server ];
    };

    users.users.${cfg.breakGlass.user} = {
      isNormalUser = true;
      extraGroups = [ "wheel" ];
      hashedPasswordFile = cfg.breakGlass.hashedPasswordFile;
    };

    # The bind mount's source must exist before the mount: tmpfiles runs
    # after local-fs.target, too late on a fresh /persist (the mount fails
    # and the boot drops to emergency mode). This unit creates it in
    # between: after the persistent storage is mounted, before the bind.
    # A mount unit, not fileSystems: test VMs replace fileSystems wholesale.
    systemd.services.e2et-identity-persist = lib.mkIf (p != null) {
      description = "Create the identity role's directories on ${p}";
      unitConfig = {
        DefaultDependencies = false;
        RequiresMountsFor = [ p ];
      };
      before = [
        sssMount
        "shutdown.target"
      ];
      requiredBy = [ sssMount ];
      conflicts = [ "shutdown.target" ];
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
      };
      script = ''
        ${pkgs.coreutils}/bin/install -d -m 0700 ${p}/var/lib/sss
        ${pkgs.coreutils}/bin/install -d -m 0755 ${p}/etc
      '';
    };

    systemd.mounts = lib.mkIf (p != null) [
      {
        what = "${p}/var/lib/sss";
        where = "/var/lib/sss";
        type = "none";
        options = "bind";
        wantedBy = [ "local-fs.target" ];
        before = [ "local-fs.target" ];
        requires = [ "e2et-identity-persist.service" ];
        after = [ "e2et-identity-persist.service" ];
        unitConfig.RequiresMountsFor = [ p ];
      }
    ];

    systemd.tmpfiles.rules = lib.mkIf (p != null) [
      "L+ /etc/krb5.keytab - - - - ${p}/etc/krb5.keytab"
    ];

    systemd.services.sssd.unitConfig.RequiresMountsFor = lib.mkIf (p != null) [ "/var/lib/sss" ];
  };
}
