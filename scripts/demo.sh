#!/usr/bin/env bash
# The main job on its embedded default: the lab host vm1 through the whole cold
# lifecycle (PDU power-on over QMP, PXE/iPXE via dnsmasq, validate, power
# cycle, revalidate, score, report). Installs what is missing first. Needs root
# (network namespaces, tap devices).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/lab-deps.sh
cargo build --release --workspace --quiet
exec ./target/release/e2et-lab scenario "${@:-pass}"
