# Stub of nixpkgs nixos/lib/systemd-lib.nix (subset), written for e2et's
# evaluation checks; not a copy.
#
# Read: the type/merge helpers as used by nixos/lib/systemd-unit-options.nix of
# infinixbot/nixpkgs 2568acd3 (a 2025, nixfmt-formatted nixpkgs tree: `upheldBy`,
# `overrideStrategy`, `checkService` with `notify-reload`), which imports
# `unitNameType`, `checkUnitConfig`, `assertValueOneOf`, `makeJobScript` from
# systemd-lib.nix. systemd-lib.nix itself was not read page by page; the
# helpers below reproduce the behaviour nixpkgs documents and that the unit
# options rely on:
#   - unitNameType: "<name>.<service|socket|device|mount|automount|swap|target|
#     path|timer|scope|slice>" (so `before = [ "var-lib-sss.mount" ]` is valid,
#     `before = [ "var-lib-sss" ]` is not);
#   - checkUnitConfig/assertValueOneOf: a value outside the allowed set makes the
#     whole attrset fail its type check ("Systemd Service field `Type' cannot
#     have value ..." is traced);
#   - makeJobScript: a derivation "unit-script-<name>" (here a fake one that
#     records the script text);
#   - toOption/attrsToSection: how [Unit]/[Service] lines are rendered
#     (true -> "true", lists -> one line per element).
{ lib, fakeDrv }:

let
  inherit (lib)
    any
    concatMap
    concatStrings
    concatStringsSep
    elem
    filterOverrides
    isList
    mapAttrs
    mapAttrsToList
    mergeEqualOption
    mkOptionType
    optional
    toList
    types
    ;
in
rec {
  unitNameType = types.strMatching "[a-zA-Z0-9@%:_.\\-]+[.](service|socket|device|mount|automount|swap|target|path|timer|scope|slice)";

  # The option type of every entry of unitConfig/serviceConfig/mountConfig:
  # lists from several definitions are concatenated, scalars must agree.
  unitOption = mkOptionType {
    name = "systemd option";
    merge =
      loc: defs:
      let
        defs' = filterOverrides defs;
      in
      if any (def: isList def.value) defs' then
        concatMap (def: toList def.value) defs'
      else
        mergeEqualOption loc defs';
  };

  checkUnitConfig =
    group: checks: attrs:
    let
      # Applied to the raw attrset of one definition: unwrap mkIf/mkOverride.
      defs = mapAttrs (
        _: v:
        if (v._type or "") == "override" then
          v.content
        else if (v._type or "") == "if" then
          v.content
        else
          v
      ) attrs;
      errors = concatMap (c: c group defs) checks;
    in
    if errors == [ ] then true else builtins.trace (concatStringsSep "\n" errors) false;

  assertValueOneOf =
    name: values: group: attr:
    optional (
      attr ? ${name} && !elem attr.${name} values
    ) "Systemd ${group} field `${name}' cannot have value `${toString attr.${name}}'.";

  makeJobScript =
    name: text:
    fakeDrv "unit-script-${name}" {
      inherit text;
      seed = text;
    };

  toOption =
    x:
    if x == true then
      "true"
    else if x == false then
      "false"
    else
      toString x;

  attrsToSection =
    as:
    concatStrings (
      lib.concatLists (
        mapAttrsToList (name: value: map (x: "${name}=${toOption x}\n") (if isList value then value else [ value ])) as
      )
    );
}
