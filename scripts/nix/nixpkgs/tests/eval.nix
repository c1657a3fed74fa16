# Helper for selftest.nix: evaluate NixOS-style modules with the stub tree.
# `lib` defaults to the vendored 25.11 lib of shared/ beside the repository
# (<repo>/../shared/vendor/nixpkgs-lib/lib).
{
  lib ? import ../../lib.nix { vendor = ../../../../../shared/vendor/nixpkgs-lib/lib; },
}:

let
  modulesPath = toString ../nixos/modules;
  pkgs = import ../../fake-pkgs.nix {
    inherit lib;
    system = "x86_64-linux";
    path = toString ../.;
    nixosSystem = _: throw "selftest: no nixosSystem";
    runNixOSTest = _: throw "selftest: no runNixOSTest";
  };
in
rec {
  inherit lib pkgs modulesPath;
  eval =
    modules:
    let
      r = lib.evalModules {
        specialArgs = { inherit modulesPath; };
        modules = import ../nixos/modules/module-list.nix ++ [ { _module.args.pkgs = pkgs; } ] ++ modules;
      };
    in
    r // { inherit pkgs; };
  # Does evaluating `x` (deeply) throw?
  fails = x: !(builtins.tryEval (builtins.deepSeq x x)).success;
}
