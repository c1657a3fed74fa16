# Stub of nixpkgs nixos/modules/security/ipa.nix, written for e2et's
# evaluation checks; not a copy.
#
# Version modelled: NixOS/nixpkgs 7e11627259348a340b42c4b7dd7448f1e68ce7de
# (the only version of this path the index attributes to NixOS/nixpkgs).
# Dating: commit 7e11627 is also the stored commit of the test driver's
# __init__.py, which already has the debug hook (PR #422066, opened
# 2025-07-03, merged July 2025) and not yet the 2026 nspawn work, so the
# snapshot is from the 25.11 development window or just after. The file
# itself is after the 2024 krb5 rename (`security.krb5.enable`), has
# `ipaHostname` and the `ipa-activation` systemd service, and is BEFORE three
# PRs by MarcelCoding: #448947 "nixos/ipa: install shells into well-known
# paths" (opened 2025-10-05), #448955 "nixos/sssd: migrate to rfc42-style
# settings" (2025-10-05) and #461646 "nixos/ipa: fix proper hostname handling"
# (opened 2025-11-14, 10 days before the 25.11 branch-off; it removes the
# top-level `with lib`, renders /etc/ipa/default.conf with toINI). Their merge
# dates could not be read. A later master version (read as the
# 503947774-id copy and Swarsel/nixpkgs 4aa6836a, 2026) has `shells`,
# `useAsTimeserver`, uses services.sssd.settings and sets
# networking.timeServers = [ server ] INSTEAD of enabling ntpd. If those PRs
# landed before 2025-11-24 (or were backported), 25.11 behaves like the later
# version; this stub follows 7e11627. See NOTES.md.
#
# Options (all of 7e11627): enable; certificate (package, no default);
# domain, realm, server, basedn (str, no default); offlinePasswords (bool,
# true); cacheCredentials (bool, true); ipaHostname (str, default fqdn if
# networking.domain is set, else "<hostName>.<ipa domain>"); ifpAllowedUids
# (listOf str, [ "root" ]); dyndns.enable (bool, true); dyndns.interface (str,
# "*"); chromiumSupport (bool, true).
#
# Config effects of 7e11627 (when enable):
#   - assertions: !security.krb5.enable, !users.ldap.enable (nixpkgs wording);
#   - environment.systemPackages += [ krb5Full freeipa ];
#   - environment.etc: "ipa/default.conf" (host = networking.hostName),
#     "ipa/nssdb".source = the NSS db (runCommand "ipa-nssdb": `certutil -d
#     $out -N --empty-password` then `certutil -d $out -A --empty-password
#     -n "<realm> IPA CA" -t CT,C,C -i <certificate>` -- so a certificate that
#     is not a PEM/DER certificate fails the system build), "krb5.conf",
#     "ldap.conf", and "chromium/policies/managed/freeipa.json" if
#     chromiumSupport;
#   - systemd.services.ipa-activation (oneshot, RemainAfterExit, wantedBy
#     sysinit.target, DefaultDependencies=no) copying the certificate to
#     /etc/ipa/ca.crt and printing the join instructions if /etc/krb5.keytab
#     is missing;
#   - services.sssd.config = the IPA sssd.conf (cache_credentials =
#     True/False from cacheCredentials, services = nss, sudo, pam, ssh, ifp);
#   - services.sssd.enable = true;
#   - services.ntp.enable = true and services.ntp.servers = [ server ]
#     (=> ntpd runs, and ntpd.nix forces services.timesyncd.enable = false);
#   - security.pki.certificateFiles = [ certificate ].
# Stub-only, for checkers: system.build.ipaNssDb = the fake "ipa-nssdb"
# derivation, recording `certificate` (the option's value) and `realm`.
{ config, lib, pkgs, ... }:

let
  cfg = config.security.ipa;
  fake = import ../../lib/fake-drv.nix { inherit lib; };
  pkgOr = fake.pkgOr pkgs;
  inherit (lib) mkOption types;
  pyBool = x: if x then "True" else "False";

  ldapConf = fake.textFile "ldap.conf" ''
    # Turning this off breaks GSSAPI used with krb5 when rdns = false
    SASL_NOCANON    on

    URI ldaps://${cfg.server}
    BASE ${cfg.basedn}
    TLS_CACERT /etc/ipa/ca.crt
  '';

  # pkgs.runCommand "ipa-nssdb" { nativeBuildInputs = [ pkgs.nss.tools ]; }
  #   certutil -d $out -N --empty-password
  #   certutil -d $out -A --empty-password -n "<realm> IPA CA" -t CT,C,C -i <certificate>
  nssDb = fake.fakeDrv "ipa-nssdb" {
    seed = "${cfg.realm}\n${toString cfg.certificate}";
    inherit (cfg) certificate realm;
    buildCommands = [
      "certutil -d $out -N --empty-password"
      "certutil -d $out -A --empty-password -n \"${cfg.realm} IPA CA\" -t CT,C,C -i ${cfg.certificate}"
    ];
  };
in
{
  options.security.ipa = {
    enable = lib.mkEnableOption "FreeIPA domain integration";

    certificate = mkOption {
      type = types.package;
      description = ''
        IPA server CA certificate.

        Use `nix-prefetch-url http://$server/ipa/config/ca.crt` to
        obtain the file and the hash.
      '';
    };

    domain = mkOption {
      type = types.str;
      example = "example.com";
      description = "Domain of the IPA server.";
    };

    realm = mkOption {
      type = types.str;
      example = "EXAMPLE.COM";
      description = "Kerberos realm.";
    };

    server = mkOption {
      type = types.str;
      example = "ipa.example.com";
      description = "IPA Server hostname.";
    };

    basedn = mkOption {
      type = types.str;
      example = "dc=example,dc=com";
      description = "Base DN to use when performing LDAP operations.";
    };

    offlinePasswords = mkOption {
      type = types.bool;
      default = true;
      description = "Whether to store offline passwords when the server is down.";
    };

    cacheCredentials = mkOption {
      type = types.bool;
      default = true;
      description = "Whether to cache credentials.";
    };

    ipaHostname = mkOption {
      type = types.str;
      example = "myworkstation.example.com";
      default =
        if config.networking.domain != null then
          config.networking.fqdn
        else
          "${config.networking.hostName}.${cfg.domain}";
      defaultText = lib.literalExpression ''
        if config.networking.domain != null then config.networking.fqdn
        else "''${networking.hostName}.''${security.ipa.domain}"
      '';
      description = "Fully-qualified hostname used to identify this host in the IPA domain.";
    };

    ifpAllowedUids = mkOption {
      type = types.listOf types.str;
      default = [ "root" ];
      description = "A list of users allowed to access the ifp dbus interface.";
    };

    dyndns = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Whether to enable FreeIPA automatic hostname updates.";
      };
      interface = mkOption {
        type = types.str;
        example = "eth0";
        default = "*";
        description = "Network interface to perform hostname updates through.";
      };
    };

    chromiumSupport = mkOption {
      type = types.bool;
      default = true;
      description = "Whether to whitelist the FreeIPA domain in Chromium.";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = !config.security.krb5.enable;
        message = "krb5 must be disabled through `security.krb5.enable` for FreeIPA integration to work.";
      }
      {
        assertion = !config.users.ldap.enable;
        message = "ldap must be disabled through `users.ldap.enable` for FreeIPA integration to work.";
      }
    ];

    environment.systemPackages = [
      (pkgOr "krb5Full")
      (pkgOr "freeipa")
    ];

    environment.etc = {
      "ipa/default.conf".text = ''
        [global]
        basedn = ${cfg.basedn}
        realm = ${cfg.realm}
        domain = ${cfg.domain}
        server = ${cfg.server}
        host = ${config.networking.hostName}
        xmlrpc_uri = https://${cfg.server}/ipa/xml
        enable_ra = True
      '';

      "ipa/nssdb".source = nssDb;

      "krb5.conf".text = ''
        [libdefaults]
         default_realm = ${cfg.realm}
         dns_lookup_realm = false
         dns_lookup_kdc = true
         rdns = false
         ticket_lifetime = 24h
         forwardable = true
         udp_preference_limit = 0

        [realms]
         ${cfg.realm} = {
          kdc = ${cfg.server}:88
          master_kdc = ${cfg.server}:88
          admin_server = ${cfg.server}:749
          default_domain = ${cfg.domain}
          pkinit_anchors = FILE:/etc/ipa/ca.crt
        }

        [domain_realm]
         .${cfg.domain} = ${cfg.realm}
         ${cfg.domain} = ${cfg.realm}
         ${cfg.server} = ${cfg.realm}

        [dbmodules]
          ${cfg.realm} = {
            db_library = ${pkgOr "freeipa"}/lib/krb5/plugins/kdb/ipadb.so
          }
      '';

      "ldap.conf".source = ldapConf;

      "chromium/policies/managed/freeipa.json" = lib.mkIf cfg.chromiumSupport {
        text = ''
          { "AuthServerWhitelist": "*.${cfg.domain}" }
        '';
      };
    };

    systemd.services.ipa-activation = {
      wantedBy = [ "sysinit.target" ];
      before = [
        "sysinit.target"
        "shutdown.target"
      ];
      conflicts = [ "shutdown.target" ];
      unitConfig.DefaultDependencies = false;
      serviceConfig.Type = "oneshot";
      serviceConfig.RemainAfterExit = true;
      script = ''
        # libcurl requires a hard copy of the certificate
        if ! ${pkgOr "diffutils"}/bin/diff ${cfg.certificate} /etc/ipa/ca.crt > /dev/null 2>&1; then
          rm -f /etc/ipa/ca.crt
          cp ${cfg.certificate} /etc/ipa/ca.crt
        fi

        if [ ! -f /etc/krb5.keytab ]; then
          cat <<EOF

            In order to complete FreeIPA integration, please join the domain by completing the following steps:
            1. Authenticate as an IPA user authorized to join new hosts, e.g. kinit admin@${cfg.realm}
            2. Join the domain and obtain the keytab file: ipa-join
            3. Install the keytab file: sudo install -m 600 krb5.keytab /etc/
            4. Restart sssd systemd service: sudo systemctl restart sssd

        EOF
        fi
      '';
    };

    services.sssd.config = ''
      [domain/${cfg.domain}]
      id_provider = ipa
      auth_provider = ipa
      access_provider = ipa
      chpass_provider = ipa

      ipa_domain = ${cfg.domain}
      ipa_server = _srv_, ${cfg.server}
      ipa_hostname = ${cfg.ipaHostname}

      cache_credentials = ${pyBool cfg.cacheCredentials}
      krb5_store_password_if_offline = ${pyBool cfg.offlinePasswords}
      ${lib.optionalString ((lib.toLower cfg.domain) != (lib.toLower cfg.realm)) "krb5_realm = ${cfg.realm}"}

      dyndns_update = ${pyBool cfg.dyndns.enable}
      dyndns_iface = ${cfg.dyndns.interface}

      ldap_tls_cacert = /etc/ipa/ca.crt
      ldap_user_extra_attrs = mail:mail, sn:sn, givenname:givenname, telephoneNumber:telephoneNumber, lock:nsaccountlock

      [sssd]
      services = nss, sudo, pam, ssh, ifp
      domains = ${cfg.domain}

      [nss]
      homedir_substring = /home

      [pam]
      pam_pwd_expiration_warning = 3
      pam_verbosity = 3

      [sudo]

      [autofs]

      [ssh]

      [pac]

      [ifp]
      user_attributes = +mail, +telephoneNumber, +givenname, +sn, +lock
      allowed_uids = ${lib.concatStringsSep ", " cfg.ifpAllowedUids}
    '';

    services.ntp.servers = lib.singleton cfg.server;
    services.sssd.enable = true;
    services.ntp.enable = true;

    security.pki.certificateFiles = lib.singleton cfg.certificate;

    # Stub-only: what the NSS db build consumes, for checkers.
    system.build.ipaNssDb = nssDb;
  };
}
