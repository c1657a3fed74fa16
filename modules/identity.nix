# services.e2et.identity: the FreeIPA/SSSD client role (profile
# "aaa-domain-client"), with its state on persistent storage. A diskless
# host without a persistence path is refused: its SSSD cache and keytab would
# vanish at the next power cycle (the K10 finding).
{
  config,
  lib,
  pkgs,
  ...
}:


let
  cfg = config.services.e2et.identity;
  p = cfg.persistencePath;
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

    users.users.${cfg.breakGlass.user} = {
      isNormalUser = true;
      extraGroups = [ "wheel" ];
      hashedPasswordFile = cfg.breakGlass.hashedPasswordFile;
    };

    fileSystems."/var/lib/sss" = lib.mkIf (p != null) {
      device = "${p}/var/lib/sss";
      fsType = "none";
      options = [ "bind" ];
      depends = [ p ];
    };

    systemd.tmpfiles.rules = lib.mkIf (p != null) [
      "d ${p}/var/lib/sss 0700 root root -"
      "d ${p}/etc 0755 root root -"
      "L+ /etc/krb5.keytab - - - - ${p}/etc/krb5.keytab"
    ];

    systemd.services.sssd.unitConfig.RequiresMountsFor = lib.mkIf (p != null) [ "/var/lib/sss" ];
  };
}
