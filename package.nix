{
  lib,
  rustPlatform,
  # Build the test harness (e2et-lab: lab scenarios, the AP7901 emulator)
  # instead of the shipped tools. The vmtests use it for their PDU node.
  lab ? false,
}:

let
  flags =
    if lab then
      [
        "-p"
        "e2et-lab"
      ]
    else
      [
        "--workspace"
        "--exclude"
        "e2et-lab"
      ];
in
rustPlatform.buildRustPackage {
  pname = if lab then "e2et-lab" else "e2et";
  version = "0.1.0";

  src = lib.fileset.toSource {
    root = ./.;
    # The published JSON Schemas are part of the contract the tests check
    # against the types (crates/e2et-score/tests/schema.rs).
    fileset = lib.fileset.unions [
      ./Cargo.toml
      ./Cargo.lock
      ./crates
      ./docs/schema
    ];
  };

  # The lock file is the source of truth: no vendor hash to churn.
  cargoLock.lockFile = ./Cargo.lock;

  cargoBuildFlags = flags;
  cargoTestFlags = flags;
  # The hermetic tier only: tests that need root, host tools (python3,
  # ipmi_sim, mkfs.*, losetup) or files outside this fileset are #[ignore]d
  # with the reason "host tier: ..." and run by scripts/test.sh. The lab's
  # own tests need namespaces, QEMU and snmpd: they run in the lab and as
  # vmtests, not in the build sandbox. scripts/sandbox-check.sh runs this
  # check phase as the sandbox would.
  doCheck = !lab;

  meta = {
    description =
      if lab then
        "e2et test harness: lab scenarios and an APC AP7901 emulator on net-snmp"
      else
        "Evidence-based release gating for bare-metal hosts: probe, score, PDU control, coordinator";
    license = lib.licenses.mit;
    mainProgram = if lab then "e2et-lab" else "e2et";
    platforms = lib.platforms.linux;
  };
}
