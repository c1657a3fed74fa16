# Lab twin: crates/e2et-lab/tests/pdu_snmp.rs (and `e2et-lab bench-pdu`).
# The SNMPv3 path alone: e2et-pdu against the AP7901 emulator on another
# node, for each protocol combination, cross-checked with net-snmp, then
# again after the PDU's snmpd restarts.
{
  pkgs,
  lib,
  self,
}:

let
  common = import ./common.nix { inherit pkgs lib self; };
  e2et = self.packages.${pkgs.stdenv.hostPlatform.system}.e2et;
  users = [
    {
      user = "e2et-md5des";
      a = "MD5";
      na = "MD5";
      ap = "md5-auth-pass";
      p = "DES";
      pp = "md5-priv-pass";
    }
    {
      user = "e2et-shaaes";
      a = "SHA";
      na = "SHA";
      ap = "sha-auth-pass";
      p = "AES";
      pp = "sha-priv-pass";
    }
    {
      user = "e2et-sha256aes";
      a = "SHA256";
      na = "SHA-256";
      ap = "sha256-auth-pass";
      p = "AES";
      pp = "sha256-priv-pass";
    }
  ];
  secretFiles = lib.concatMapStrings (u: ''
    printf '%s' '${u.ap}' > /run/keys/${u.user}-auth
    printf '%s' '${u.pp}' > /run/keys/${u.user}-priv
  '') users;
in
pkgs.testers.runNixOSTest {
  name = "e2et-pdu";
  globalTimeout = 1200;

  nodes = {
    pdu = common.pduNode;
    operator = {
      virtualisation.vlans = [ 1 ];
      environment.systemPackages = [
        e2et
        pkgs.net-snmp
      ];
      # RemainAfterExit: the test script waits for this unit, and the driver
      # fails wait_for_unit on an inactive unit with no pending job.
      systemd.services.test-secrets = {
        wantedBy = [ "multi-user.target" ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
        };
        script = ''
          install -d -m 0700 /run/keys
          ${secretFiles}
        '';
      };
    };
  };

  testScript = ''
    start_all()
    pdu.wait_for_unit("e2et-pdu-emulator.service")
    operator.wait_for_unit("test-secrets.service")
    pdu.wait_until_succeeds("${common.outletStateCmd 1}")

    def pdu_cmd(u, rest):
        return (
            f"e2et-pdu --address ${common.pduIp}:161 --user {u['user']} --auth-protocol {u['a']} "
            f"--auth-password-file /run/keys/{u['user']}-auth --priv-protocol {u['p']} "
            f"--priv-password-file /run/keys/{u['user']}-priv --poll-interval-ms 200 {rest}"
        )

    def net_snmp(u, oid):
        return operator.succeed(
            f"snmpget -v3 -l authPriv -u {u['user']} -a {u['na']} -A {u['ap']} -x {u['p']} -X {u['pp']} -Oqv ${common.pduIp} {oid}"
        ).strip()

    users = ${builtins.toJSON users}
    for i, u in enumerate(users, start=2):
        with subtest(f"{u['user']}: status, on, off, cycle agree with net-snmp"):
            oid = f".1.3.6.1.4.1.318.1.1.12.3.5.1.1.4.{i}"
            print(operator.succeed(pdu_cmd(u, "identify")))
            operator.succeed(pdu_cmd(u, f"--outlet {i} --force on"))
            assert net_snmp(u, oid) == "1"
            operator.succeed(pdu_cmd(u, f"--outlet {i} --force off"))
            assert net_snmp(u, oid) == "2"
            print(operator.succeed(pdu_cmd(u, f"--outlet {i} --force --delay-s 1 cycle")))
            assert net_snmp(u, oid) == "1"

    with subtest("a wrong password says usmStatsWrongDigests"):
        u = dict(users[1], user="e2et-guarded")
        operator.succeed("printf wrong > /run/keys/e2et-guarded-auth; cp /run/keys/e2et-shaaes-priv /run/keys/e2et-guarded-priv")
        out = operator.fail(pdu_cmd(u, "--outlet 2 status") + " 2>&1")
        assert "usmStatsWrongDigests" in out, out

    with subtest("the PDU's agent restarts: still readable"):
        pdu.systemctl("restart e2et-pdu-emulator.service")
        pdu.wait_until_succeeds("${common.outletStateCmd 1}")
        operator.succeed(pdu_cmd(users[0], "--outlet 2 status"))
  '';
}
