# What package.nix hands rustPlatform.buildRustPackage, evaluated without
# nixpkgs: the files of its source fileset (relative to the repository) and
# its check settings. scripts/sandbox-check.sh copies exactly these files and
# runs the check phase's command on them, as `nix build` would.
#   nix-instantiate --eval --strict --json scripts/nix/package-info.nix \
#     --arg lib "import scripts/nix/lib.nix {}" [--arg lab true]
{
  lib,
  lab ? false,
}:
let
  root = ../..;
  # lib.fileset.toSource would copy the files to the store; list them instead.
  libNoStore = lib // {
    fileset = lib.fileset // {
      toSource = args: {
        inherit (args) root;
        files = map toString (lib.fileset.toList args.fileset);
      };
    };
  };
  args = import (root + "/package.nix") {
    lib = libNoStore;
    rustPlatform.buildRustPackage = a: a;
    inherit lab;
  };
  rel = p: lib.removePrefix (toString args.src.root + "/") p;
in
{
  inherit (args) pname;
  files = map rel args.src.files;
  doCheck = args.doCheck or true;
  cargoTestFlags = args.cargoTestFlags or [ ];
  checkFlags = args.checkFlags or [ ];
  cargoCheckFeatures = args.cargoCheckFeatures or args.buildFeatures or [ ];
  cargoCheckType = args.cargoCheckType or args.buildType or "release";
  lockFile = rel (toString args.cargoLock.lockFile);
}
