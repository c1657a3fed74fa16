# Lab twin: `e2et-lab scenario pass` (crates/e2et-lab/src/scenario.rs).
# A coordinator (e2etd + dnsmasq) on a test VLAN, a PDU node with the SNMPv3
# AP7901 emulator, and a PXE client started by the test script whenever the
# PDU's outlet 1 reads on (crashed when it reads off): the whole cold run.
{
  pkgs,
  lib,
  self,
}:

let
  common = import ./common.nix { inherit pkgs lib self; };
in
pkgs.testers.runNixOSTest {
  name = "e2et-lifecycle";
  globalTimeout = 3600;

  nodes = {
    coordinator = common.coordinatorNode { netbootSystem = self.nixosConfigurations.netboot; };
    pdu = common.pduNode;
  };

  testScript = ''
    import json, re
    ${common.wiringLoop}

    start_all()
    coordinator.wait_for_unit("e2etd.service")
    coordinator.wait_for_unit("dnsmasq.service")
    pdu.wait_for_unit("e2et-pdu-emulator.service")
    pdu.wait_until_succeeds("${common.outletStateCmd 1}")

    client = create_machine(${builtins.toJSON (common.clientStartCommand { })}, name="client")

    with subtest("a known MAC without a run boots its local disk"):
        script = coordinator.succeed("curl -sf http://${common.coordinatorIp}:8080/boot/${common.clientMac}.ipxe")
        assert "no active run" in script, script

    with subtest("cold run: power on, netboot, validate, power cycle, revalidate"):
        coordinator.succeed("e2et --token-file ${common.operatorTokenFile} --server http://${common.coordinatorIp}:8080 run client > /tmp/run.log 2>&1 &")
        run_log = follow_outlet(client)
        print(run_log)
        assert "verdict=passed" in run_log, run_log

    with subtest("the report shows two boots, one provisioning, one power cycle"):
        found = re.search(r"run=(\S+)", run_log)
        assert found is not None, run_log
        run = found.group(1)
        report = json.loads(coordinator.succeed(f"e2et --token-file ${common.operatorTokenFile} --server http://${common.coordinatorIp}:8080 report {run} --format json"))
        lc = report["lifecycle"]
        assert (lc["provisionings"], lc["power_cycles"], lc["boots"], lc["validations"]) == (1, 1, 2, 2), lc
        ids = [v["boot_id"] for v in report["validations"]]
        assert len(set(ids)) == 2, ids
        steps = [(s["action"], s["observed"]) for s in report["run"]["power_steps"]]
        assert ("off", "off") in steps and ("on", "on") in steps, steps
        coordinator.succeed(f"e2et --token-file ${common.operatorTokenFile} --server http://${common.coordinatorIp}:8080 report {run} --format junit | grep -q '<testsuites'")
  '';
}
