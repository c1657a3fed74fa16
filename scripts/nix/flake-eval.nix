# e2et's flake, evaluated by its own outputs function with a stand-in for the
# nixpkgs input: nixpkgs lib at 25.11 (vendored), option declarations written
# from nixpkgs' 25.11 sources (./nixpkgs, each file names its source), and a
# package set that records instead of building (./fake-pkgs.nix).
#
# `report` is what scripts/nix-checks.py reads: for every host of
# nixosConfigurations and every node of every vmtest, its failed assertions,
# warnings and the rendered pieces the checks look at; for every vmtest, its
# testScript, nodes and VLANs.
#   nix-instantiate --eval --strict --json scripts/nix/flake-eval.nix -A report
{
  root ? ../..,
  vendor ? root + "/../shared/vendor/nixpkgs-lib/lib",
}:
let
  lib0 = import ./lib.nix { inherit vendor; };
  stubs = ./nixpkgs;
  modulesPath = stubs + "/nixos/modules";
  baseModules = import (modulesPath + "/module-list.nix");
  systems = [
    "x86_64-linux"
    "aarch64-linux"
  ];

  # nixpkgs' flake.nix: lib.nixosSystem → nixos/lib/eval-config.nix.
  nixosSystem =
    {
      system ? "x86_64-linux",
      modules,
      specialArgs ? { },
      extraModules ? [ ],
      ...
    }:
    let
      eval = lib.evalModules {
        class = "nixos";
        specialArgs = {
          inherit modulesPath;
        }
        // specialArgs;
        modules =
          baseModules
          ++ extraModules
          ++ [
            {
              nixpkgs.hostPlatform = lib.mkDefault system;
              _module.args.pkgs = lib.mkDefault pkgsFor.${system};
            }
          ]
          ++ modules;
      };
      # eval-config.nix's withExtraAttrs: the result carries its package
      # set, also after extendModules.
      withExtraAttrs =
        configuration:
        configuration
        // {
          inherit (configuration._module.args) pkgs;
          inherit lib;
          extendModules = args: withExtraAttrs (configuration.extendModules args);
        };
    in
    withExtraAttrs eval;

  # pkgs.testers.runNixOSTest (nixos/lib/testing): the test's own attribute
  # set is checked against the options it has at 25.11, its nodes are NixOS
  # systems with qemu-vm.nix and the test network, numbered in the order of
  # their names, and its testScript is rendered.
  testOptions = [
    "name"
    "nodes"
    "testScript"
    "globalTimeout"
    "meta"
    "skipLint"
    "skipTypeCheck"
    "defaults"
    "extraBaseModules"
    "extraPythonPackages"
    "enableOCR"
    "interactive"
    "node"
    "passthru"
    "hostPkgs"
    "qemu"
    "sshBackdoor"
    "enableDebugHook"
  ];
  runNixOSTest =
    pkgs: t:
    let
      unknown = lib.subtractLists testOptions (lib.attrNames t);
      names = lib.attrNames t.nodes;
      number = lib.listToAttrs (lib.imap1 (i: n: lib.nameValuePair n i) names);
      nodes = lib.mapAttrs (
        name: m:
        nixosSystem {
          inherit (pkgs) system;
          modules = [
            (modulesPath + "/virtualisation/qemu-vm.nix")
            ./testing-node.nix
            {
              # nixos/lib/testing/nodes.nix
              system.stateVersion = lib.mkDefault lib.trivial.release;
              virtualisation.test = {
                nodeName = name;
                nodeNumber = number.${name};
              };
            }
            (t.defaults or { })
            m
          ];
        }
      ) t.nodes;
      script =
        if lib.isFunction t.testScript then
          t.testScript { nodes = lib.mapAttrs (_: n: n.config) nodes; }
        else
          t.testScript;
    in
    if unknown != [ ] then
      throw "runNixOSTest ${t.name or "?"}: unknown attributes ${toString unknown}"
    else
      {
        type = "derivation";
        name = "vm-test-run-${t.name}";
        outPath = "${builtins.storeDir}/00000000000000000000000000000000-vm-test-run-${t.name}";
        e2etTest = {
          inherit (t) name;
          inherit nodes names number;
          testScript = script;
          globalTimeout = t.globalTimeout or 3600;
        };
      };

  pkgsFor = lib.genAttrs systems (
    system:
    import ./fake-pkgs.nix {
      inherit
        lib
        system
        nixosSystem
        runNixOSTest
        ;
      path = toString stubs;
    }
  );

  lib = lib0.extend (_: _: { inherit nixosSystem; });

  nixpkgs = {
    inherit lib;
    outPath = toString stubs;
    legacyPackages = pkgsFor;
  };

  flake = import (root + "/flake.nix");
  self =
    flake.outputs {
      inherit self nixpkgs;
    }
    // {
      outPath = toString root;
      inputs = { inherit nixpkgs; };
    };

  report = import ./report.nix { inherit lib self; };
in
{
  inherit
    self
    lib
    nixosSystem
    pkgsFor
    report
    ;
}
