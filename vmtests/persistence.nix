# Lab twin: `e2et-lab scenario persistence-loss`.
# The K10 finding as a test: a netboot-only host writes SSSD-like state into
# its RAM root at boot; the spec declares that path persistent; the power
# cycle loses it and the run must not pass.
{
  pkgs,
  lib,
  self,
}:

let
  common = import ./common.nix { inherit pkgs lib self; };
  statePath = "/var/lib/sss/db/cache_vmtest.ldb";
  # The netboot image, plus what an enrolment would write at first boot.
  netbootWithState = self.nixosConfigurations.netboot.extendModules {
    modules = [
      {
        systemd.services.fake-enrolment = {
          wantedBy = [ "multi-user.target" ];
          before = [ "e2et-agent.service" ];
          serviceConfig.Type = "oneshot";
          script = ''
            mkdir -p ${dirOf statePath}
            [ -s ${statePath} ] || cat /proc/sys/kernel/random/uuid > ${statePath}
          '';
        };
      }
    ];
  };
  fleet = lib.recursiveUpdate common.inventory {
    hosts.client.expect.persistentPaths = [ statePath ];
  };
in
pkgs.testers.runNixOSTest {
  name = "e2et-persistence";
  globalTimeout = 3600;

  nodes = {
    coordinator = common.coordinatorNode {
      netbootSystem = netbootWithState;
      inherit fleet;
    };
    pdu = common.pduNode;
  };

  testScript = ''
    import json, re
    ${common.wiringLoop}

    start_all()
    coordinator.wait_for_unit("e2etd.service")
    pdu.wait_for_unit("e2et-pdu-emulator.service")
    pdu.wait_until_succeeds("${common.outletStateCmd 1}")
    client = create_machine(${builtins.toJSON (common.clientStartCommand { })}, name="client")

    with subtest("the netboot-only host loses its state across the cycle and is not passed"):
        coordinator.succeed("e2et --token-file ${common.operatorTokenFile} --server http://${common.coordinatorIp}:8080 run client > /tmp/run.log 2>&1 &")
        run_log = follow_outlet(client)
        print(run_log)
        assert "verdict=passed" not in run_log, run_log
        found = re.search(r"run=(\S+)", run_log)
        assert found is not None, run_log
        run = found.group(1)
        report = json.loads(coordinator.succeed(f"e2et --token-file ${common.operatorTokenFile} --server http://${common.coordinatorIp}:8080 report {run} --format json"))
        check = [c for c in report["run_checks"] if c["id"] == "storage.persistent.unchanged:${statePath}"][0]
        assert check["outcome"]["status"] == "fail", check
        assert "${statePath}" in check["evidence"] and check["evidence"].count("sha256:") == 2, check
  '';
}
