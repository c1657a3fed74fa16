{ lib, rustPlatform }:

rustPlatform.buildRustPackage {
  pname = "e2et";
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

  # The lab is a test harness for machines without Nix (namespaces, QEMU); it is
  # not shipped. Its scenarios run as nixosTests in vmtests/ instead.
  cargoBuildFlags = [
    "--workspace"
    "--exclude"
    "e2et-lab"
  ];
  cargoTestFlags = [
    "--workspace"
    "--exclude"
    "e2et-lab"
  ];

  meta = {
    description = "Evidence-based release gating for bare-metal hosts: probe, score, PDU control, coordinator";
    license = lib.licenses.mit;
    mainProgram = "e2et";
    platforms = lib.platforms.linux;
  };
}
