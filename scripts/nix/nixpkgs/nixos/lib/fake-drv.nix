# Stub nixpkgs for e2et's evaluation checks -- no counterpart in nixpkgs.
#
# Fake derivations for the stub modules: an attrset that lib.isDerivation,
# lib.types.package and string interpolation accept
# (`{ type = "derivation"; name; outPath = "/nix/store/<32 chars>-<name>"; }`),
# plus whatever the stub wants to record for a checker (`text`, `certificate`,
# ...). Nothing is ever built.
#
# The 32-character hash is derived from the name and a seed (sha256, hex), with
# `e` mapped to `g` so it stays inside Nix's base-32 alphabet
# (0-9 a-z without e, o, t, u): a checker matching store paths with
# `[0-9a-df-np-sv-z]{32}` accepts it.
{ lib }:

rec {
  storeHash =
    seed: lib.replaceStrings [ "e" ] [ "g" ] (builtins.substring 0 32 (builtins.hashString "sha256" seed));

  # fakeDrv "name" { extra attrs }  (the extra attrs are kept on the result).
  # `seed` in the attrs (a string) varies the hash; it is dropped from the result.
  fakeDrv =
    name: attrs:
    let
      seed = attrs.seed or "";
      rest = builtins.removeAttrs attrs [ "seed" ];
      outPath = "${builtins.storeDir}/${storeHash "${name}\n${seed}"}-${name}";
    in
    rest
    // {
      type = "derivation";
      inherit name outPath;
      drvPath = "${builtins.storeDir}/${storeHash "drv\n${name}\n${seed}"}-${name}.drv";
      outputs = [ "out" ];
      outputName = "out";
    };

  # A file derivation with its text recorded (what pkgs.writeText yields in
  # nixpkgs; the stubs use it for rendered configuration files).
  textFile = name: text: fakeDrv name { inherit text; seed = text; };

  # `pkgs.<name>` if the fake package set has it, else a fake derivation, so
  # that a stub module can mention a package the fake set does not provide.
  pkgOr = pkgs: name: pkgs.${name} or (fakeDrv name { });
}
