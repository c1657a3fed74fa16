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
    fileset = lib.fileset.unions [
      ./Cargo.toml
      ./Cargo.lock
      ./crates
    ];
  };

  # The lock file is the source of truth: no vendor hash to churn.
  cargoLock.lockFile = ./Cargo.lock;

  cargoBuildFlags = flags;
  cargoTestFlags = flags;
  # The lab's own tests need namespaces, QEMU and snmpd: they run in the lab
  # (scripts/test.sh) and as vmtests, not in the build sandbox.
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
