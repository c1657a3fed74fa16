#!/usr/bin/env python3
"""Proves that scripts/nix-checks.py can fail: each defect the flake once had
(issue "the flake works the first time") is put back into a copy of the
repository, one at a time, and the check that catches its class must fail
with the expected finding. A check that no defect can fail would prove
nothing.

Each defect is reintroduced from the code as it was (git history before the
fix): either one file as it was, or one replacement of the fixed text by the
old text.

Usage: scripts/nix-checks-defects.py [--e2etd PATH] [DEFECT...]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# The commit before the fixes: "old" files are read from it.
BEFORE = "44b2d8c"

# (defect, what, mutation, checks to run, a finding the checks must print)
# mutation: ("file", path) takes the file as it was at BEFORE;
#           ("sub", path, new, old) replaces the fixed text with the old one.
DEFECTS = [
    (2, "qemu-common.nix imported with 2026's { lib, stdenv }",
     ("sub", "vmtests/common.nix",
      'pkgs.callPackage "${pkgs.path}/nixos/lib/qemu-common.nix" { }',
      'import "${pkgs.path}/nixos/lib/qemu-common.nix" { inherit (pkgs) lib stdenv; }'),
     ["eval"], "vmtest lifecycle evaluates: error: anonymous function"),
    (3, "the vmtest inventory names a profile it does not define",
     ("sub", "vmtests/common.nix", 'profile = "nixos-netboot";', 'profile = "lab-netboot";'),
     ["inventory"], "vmtest lifecycle, node coordinator: its inventory passes e2etd check-config"),
    (4, "a command with double quotes spliced into a Python string",
     ("sub", "vmtests/lifecycle.nix",
      'client = create_machine(${builtins.toJSON (common.clientStartCommand { })}, name="client")',
      'client = create_machine("${common.clientStartCommand { }}")'),
     ["vmtests"], "lifecycle: testScript passes pyflakes and mypy"),
    (5, "`log` shadows the driver's logger; re.search(...).group(1) unchecked",
     ("sub", "vmtests/persistence.nix",
      '''        run_log = follow_outlet(client)
        print(run_log)
        assert "verdict=passed" not in run_log, run_log
        found = re.search(r"run=(\\S+)", run_log)
        assert found is not None, run_log
        run = found.group(1)''',
      '''        log = follow_outlet(client)
        print(log)
        assert "verdict=passed" not in log, log
        run = re.search(r"run=(\\S+)", log).group(1)'''),
     ["vmtests"], "persistence: testScript passes pyflakes and mypy"),
    (6, "the client's MAC is the coordinator's eth1 MAC",
     ("sub", "vmtests/common.nix", 'clientMac = "52:54:00:e2:e7:c1";', 'clientMac = "52:54:00:12:01:01";'),
     ["vmtests"], "lifecycle: every NIC on the test VLANs has its own MAC"),
    (7, "wait_for_unit on a oneshot without RemainAfterExit",
     ("file", "vmtests/pdu.nix"),
     ["vmtests"], "operator.wait_for_unit('test-secrets.service') can succeed"),
    (8, "/persist declared in fileSystems of a test VM",
     ("sub", "vmtests/identity.nix", 'virtualisation.fileSystems."/persist" = {', 'fileSystems."/persist" = {'),
     ["mounts"], "every fileSystems entry it declares is mounted in the test VM: /persist dropped"),
    (9, "the bind mount's source made by tmpfiles, after local-fs.target",
     ("file", "modules/identity.nix"),
     ["mounts"], "the source /persist/var/lib/sss of bind mount /var/lib/sss exists before var-lib-sss.mount"),
    (10, "an empty IPA CA certificate",
     ("file", "hosts/k10/default.nix"),
     ["ipa"], "security.ipa.certificate is a PEM X.509 certificate"),
    (11, "k10 does not meet aaa-domain-client",
     ("file", "modules/identity.nix"),
     ["profiles"], "sudo rules come from SSSD (identity.sudoSss)"),
    (11, "k10's break-glass account is not the profile's",
     ("file", "hosts/k10/default.nix"),
     ["profiles"], "has the break-glass account 'rescue'"),
    (12, "the flake's module wrapper has no key",
     ("file", "flake.nix"),
     ["eval"], "imported together: error: The option `services.e2et.agent.package' is defined multiple times"),
    (13, "the netboot image built on netboot-minimal.nix",
     ("file", "netboot/default.nix"),
     ["console"], "no console autologin: services.getty.autologinUser = 'nixos'"),
    (14, "the coordinator's secrets under /run/keys",
     ("file", "hosts/coordinator/default.nix"),
     ["eval"], "nixosConfigurations.coordinator: evaluates without warnings: services.e2et.coordinator: /run/keys/"),
    (15, "k10's IP outside every dhcp-range the coordinator serves",
     ("file", "hosts/inventory.nix"),
     ["inventory"], "lies outside the provisioning subnet"),
    (16, "undionly.kpxe taken from pkgs.ipxe on every platform",
     ("sub", "modules/coordinator.nix", "lib.optional pkgs.stdenv.hostPlatform.isx86 {", "lib.optional true {"),
     ["eval"], "undionly.kpxe does not exist: ipxe on aarch64-linux"),
    (17, "docs/nix.md names nixpkgs files that are not where 25.11 has them",
     ("file", "docs/nix.md"),
     ["docs"], "pkgs/tools/misc/ipxe"),
    (18, "rust-version 1.80, inherited by no crate",
     ("file", "Cargo.toml"),
     ["msrv"], "is at least every locked dependency's"),
]


def tree_copy(dst):
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\n")
    for f in files:
        if not f or not (ROOT / f).exists() or f.startswith(("lab-out/", ".cache/")):
            continue
        (dst / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, dst / f, follow_symlinks=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--e2etd", default=str(ROOT / "target" / "release" / "e2etd"))
    ap.add_argument("defects", nargs="*", type=int)
    a = ap.parse_args()
    vendor = (ROOT / ".." / "shared" / "vendor" / "nixpkgs-lib" / "lib").resolve()
    passed = failed = 0
    for n, what, mutation, checks, finding in DEFECTS:
        if a.defects and n not in a.defects:
            continue
        with tempfile.TemporaryDirectory(prefix=f"e2et-defect-{n}-") as d:
            d = Path(d)
            tree_copy(d)
            if mutation[0] == "file":
                old = subprocess.run(["git", "show", f"{BEFORE}:{mutation[1]}"], cwd=ROOT,
                                     capture_output=True, text=True, check=True).stdout
                (d / mutation[1]).write_text(old)
            else:
                _, path, new, old = mutation
                text = (d / path).read_text()
                if new not in text:
                    print(f"FAIL defect {n} ({what}): the fixed text is no longer in {path}")
                    failed += 1
                    continue
                (d / path).write_text(text.replace(new, old))
            p = subprocess.run([sys.executable, str(d / "scripts" / "nix-checks.py"), "--root", str(d),
                                "--vendor", str(vendor), "--e2etd", a.e2etd] + checks,
                               capture_output=True, text=True, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
            hits = [l for l in p.stdout.splitlines() if l.startswith("FAIL") and finding in l]
            if p.returncode == 1 and hits:
                passed += 1
                print(f"ok   defect {n} ({what}) is caught: {hits[0][:240]}")
            else:
                failed += 1
                fails = [l for l in p.stdout.splitlines() if l.startswith("FAIL")]
                print(f"FAIL defect {n} ({what}) is not caught by {', '.join(checks)} "
                      f"(rc {p.returncode}); its findings: {fails[:5]} {p.stderr[-400:]}")
    print(f"nix-checks-defects: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
