#!/usr/bin/env bash
# The tests: the workspace's cargo tests, the Nix parse/eval checks, and every
# lab scenario on real dnsmasq, iPXE and QEMU. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/lab-deps.sh

echo "== cargo test"
cargo test --workspace --quiet 2>&1 | tee /tmp/e2et-cargo-test.log
echo "== nix: every .nix file parses"
n=0
while IFS= read -r f; do
  nix-instantiate --parse "$f" >/dev/null
  n=$((n+1))
done < <(git ls-files '*.nix')
echo "nix: $n files parse"
echo "== nix: the inventory evaluates to the JSON the coordinator loads"
cargo build --release --workspace --quiet
nix-instantiate --eval --strict --json hosts/inventory.nix 2>/dev/null > /tmp/e2et-inventory.json
./target/release/e2etd --inventory /tmp/e2et-inventory.json check-config
./target/release/e2etd --inventory hosts/inventory.nix check-config 2>/dev/null

echo "== lab scenarios"
./target/release/e2et-lab scenario pass persistence-loss hard-fail no-run hung crash quick fleet identity openrc | tee /tmp/e2et-lab.log
echo "== the reports, read by real consumers (junitparser, jsonschema, xmlschema with the JUnit XSD)"
python3 scripts/check-reports.py lab-out
echo "== benchmark (figures, not a test): the probe's collection beside lshw -json"
./target/release/e2et-lab bench-probe --iterations 20
echo "== benchmark (figures, not a test): verified PDU cycle, e2et-pdu beside net-snmp"
./target/release/e2et-lab bench-pdu --iterations 10
echo "== benchmark (figures, not a test): simulated agents against a real e2etd"
./target/release/e2et-lab bench-agents --agents 100,1000,10000
passed=$(grep -c '^scenario=' /tmp/e2et-lab.log || true)
echo "lab: $passed passed, 0 failed"
