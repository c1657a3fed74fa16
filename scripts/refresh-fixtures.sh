#!/usr/bin/env bash
# Regenerates the probe's fixtures (crates/e2et-probe/tests/fixtures): the two
# Debian hosts are captured from the identity and openrc lab scenarios, the
# NixOS host is written by make-nixos-k10.py; each gets the facts it replays.
# Needs root and what scripts/lab-deps.sh installs. Review the diff before
# committing: a capture is a real host's state.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/lab-deps.sh >/dev/null
cargo build --release --workspace --quiet
fx=crates/e2et-probe/tests/fixtures
./target/release/e2et-lab scenario identity openrc
for pair in "identity debian-sssd" "openrc debian-openrc"; do
  set -- $pair
  rm -rf "$fx/$2"
  cp -a "lab-out/$1/capture" "$fx/$2"
  cp "lab-out/$1/inventory.json" "$fx/$2/.e2et/inventory.json"
done
rm -rf "$fx/nixos-k10"
python3 "$fx/make-nixos-k10.py" "$fx/nixos-k10"
nix-instantiate --eval --strict --json hosts/inventory.nix 2>/dev/null | python3 -c '
import json, sys
inv = json.load(sys.stdin)
inv["hosts"] = {"k10": inv["hosts"]["k10"]}
inv["pdus"] = {k: v for k, v in inv["pdus"].items() if k == inv["hosts"]["k10"]["power"][0]["pdu"]}
json.dump(inv, open(sys.argv[1], "w"), indent=2, sort_keys=True)' "$fx/nixos-k10/.e2et/inventory.json"
# What the coordinator would send k10's agent, then the facts the fixture gives back.
./target/release/e2et-probe spec --inventory "$fx/nixos-k10/.e2et/inventory.json" --host k10 \
  > "$fx/nixos-k10/.e2et/spec.json"
./target/release/e2et-probe --root "$fx/nixos-k10" collect > "$fx/nixos-k10/.e2et/facts.json"
echo "fixtures refreshed in $fx; review with git diff"
