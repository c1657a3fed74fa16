#!/usr/bin/env bash
# The tests, in two tiers, then the lab:
#   hermetic tier  the tests `nix build .#e2et` runs in its check phase (no
#                  root, no network, no host tools, only package.nix's
#                  fileset), run here as the sandbox would (sandbox-check.sh);
#   host tier      tests that need root or host tools, #[ignore]d with the
#                  reason "host tier: ..." and run here with --include-ignored;
#   nix checks     the flake evaluated with nixpkgs lib 25.11 and option
#                  declarations from nixpkgs' sources: assertions, inventories,
#                  profiles, mounts, the netboot image's console, testScripts
#                  linted as nixpkgs does (scripts/nix-checks.py);
#   lab            every scenario on real dnsmasq, iPXE, QEMU and net-snmp.
# Installs what is missing first. Prints each stage's time.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
stage_start=$SECONDS
stage() {
  local now=$SECONDS
  [ -n "${stage_name:-}" ] && echo "-- stage '$stage_name' took $((now - stage_start)) s"
  stage_name=$1
  stage_start=$now
  echo "== $1"
}

stage "dependencies (scripts/lab-deps.sh)"
./scripts/lab-deps.sh

stage "cargo test: both tiers (hermetic, and host tier with --include-ignored)"
cargo test --workspace --quiet -- --include-ignored 2>&1 | tee /tmp/e2et-cargo-test.log

stage "clippy and fmt (clippy holds the code to the declared rust-version)"
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo fmt --all -- --check

stage "hermetic tier as nix build runs it (scripts/sandbox-check.sh)"
./scripts/sandbox-check.sh 2>&1 | tee /tmp/e2et-sandbox-check.log | grep -E '^(sandbox-check|test result|error)' || true
grep -q '^sandbox-check: e2et: the check phase passed in the sandbox' /tmp/e2et-sandbox-check.log \
  || { tail -n 60 /tmp/e2et-sandbox-check.log; echo "sandbox-check failed" >&2; exit 1; }

stage "release build"
cargo build --release --workspace --quiet

stage "nix: every .nix file parses"
n=0
while IFS= read -r f; do
  nix-instantiate --parse "$f" >/dev/null
  n=$((n+1))
done < <(git ls-files '*.nix')
echo "nix: $n files parse"

stage "nix: flake, modules, hosts, inventories and vmtests (scripts/nix-checks.py)"
./target/release/e2etd --inventory hosts/inventory.nix check-config 2>/dev/null
python3 scripts/nix-checks.py | tee /tmp/e2et-nix-checks.log | grep -v '^ok ' || true
grep -q 'nix-checks: [0-9]* passed, 0 failed' /tmp/e2et-nix-checks.log || { echo "nix-checks failed" >&2; exit 1; }

stage "nix: each check can fail: the old defects put back one at a time (scripts/nix-checks-defects.py)"
python3 scripts/nix-checks-defects.py

stage "lab scenarios"
./target/release/e2et-lab scenario pass uefi ssh-blocked persistence-loss hard-fail no-run hung crash quick impostor fleet identity openrc | tee /tmp/e2et-lab.log

stage "the reports, read by real consumers (junitparser, jsonschema, xmlschema with the JUnit XSD)"
python3 scripts/check-reports.py lab-out

stage "benchmark (figures, not a test): the probe's collection beside lshw -json"
./target/release/e2et-lab bench-probe --iterations 20

stage "benchmark (figures, not a test): verified PDU cycle, e2et-pdu beside net-snmp"
./target/release/e2et-lab bench-pdu --iterations 10

stage "benchmark (figures, not a test): simulated agents against a real e2etd"
./target/release/e2et-lab bench-agents --agents 100,1000,10000

stage "done"
passed=$(grep -c '^scenario=' /tmp/e2et-lab.log || true)
echo "total $((SECONDS - t0)) s"
echo "lab: $passed passed, 0 failed"
