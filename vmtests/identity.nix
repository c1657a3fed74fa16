# Lab twin: the identity scenarios of issue 3 (sssd against slapd on the dev
# machine). An SSSD client of an OpenLDAP server node, using the identity
# role with /persist: SSSD's cache (on /persist) survives a reboot and
# serves the domain user while the LDAP server is down.
{
  pkgs,
  lib,
  self,
}:

let
  suffix = "dc=vmtest,dc=e2et,dc=test";
  rootPw = "vmtest-root";
in
pkgs.testers.runNixOSTest {
  name = "e2et-identity";
  globalTimeout = 1200;

  nodes = {
    ldap = {
      virtualisation.vlans = [ 1 ];
      networking.firewall.allowedTCPPorts = [ 389 ];
      services.openldap = {
        enable = true;
        settings.children = {
          "cn=schema".includes = [
            "${pkgs.openldap}/etc/schema/core.ldif"
            "${pkgs.openldap}/etc/schema/cosine.ldif"
            "${pkgs.openldap}/etc/schema/inetorgperson.ldif"
            "${pkgs.openldap}/etc/schema/nis.ldif"
          ];
          "olcDatabase={1}mdb".attrs = {
            objectClass = [
              "olcDatabaseConfig"
              "olcMdbConfig"
            ];
            olcDatabase = "{1}mdb";
            olcDbDirectory = "/var/lib/openldap/db";
            olcSuffix = suffix;
            olcRootDN = "cn=admin,${suffix}";
            olcRootPW = rootPw;
          };
        };
        declarativeContents.${suffix} = ''
          dn: ${suffix}
          objectClass: top
          objectClass: dcObject
          objectClass: organization
          dc: vmtest
          o: vmtest

          dn: ou=people,${suffix}
          objectClass: organizationalUnit
          ou: people

          dn: uid=alice,ou=people,${suffix}
          objectClass: person
          objectClass: posixAccount
          uid: alice
          homeDirectory: /home/alice
          uidNumber: 4242
          gidNumber: 4242
          cn: alice
          sn: alice
        '';
      };
    };

    client =
      { ... }:
      {
        imports = [ self.nixosModules.default ];
        virtualisation.vlans = [ 1 ];
        virtualisation.emptyDiskImages = [ 256 ];
        # In test VMs qemu-vm.nix replaces fileSystems with
        # virtualisation.fileSystems (mkVMOverride): declare mounts there.
        virtualisation.fileSystems."/persist" = {
          device = "/dev/vdb";
          fsType = "ext4";
          autoFormat = true;
        };
        services.e2et.identity = {
          enable = true;
          persistencePath = "/persist";
        };
        services.sssd.config = ''
          [sssd]
          config_file_version = 2
          services = nss, pam
          domains = vmtest

          [domain/vmtest]
          id_provider = ldap
          auth_provider = ldap
          cache_credentials = true
          ldap_uri = ldap://ldap
          ldap_search_base = ${suffix}
          ldap_default_bind_dn = cn=admin,${suffix}
          ldap_default_authtok_type = password
          ldap_default_authtok = ${rootPw}
        '';
        environment.systemPackages = [ self.packages.${pkgs.stdenv.hostPlatform.system}.e2et ];
      };
  };

  testScript = ''
    import json
    start_all()
    ldap.wait_for_unit("openldap.service")
    client.wait_for_unit("sssd.service")

    with subtest("the domain user resolves through SSSD"):
        client.wait_until_succeeds("getent passwd alice")

    with subtest("SSSD's state is on /persist, and survives a reboot"):
        client.succeed("findmnt /var/lib/sss | grep -q /persist")
        before = json.loads(client.succeed("e2et-probe collect --persistent /var/lib/sss"))["persistence"]["/var/lib/sss"]
        assert before["exists"], before
        client.shutdown()
        ldap.stop_job("openldap.service")
        client.start()
        client.wait_for_unit("sssd.service")
        client.succeed("findmnt /var/lib/sss | grep -q /persist")
        # Offline: the cached user still resolves from the persistent cache.
        client.wait_until_succeeds("getent passwd alice")
  '';
}
