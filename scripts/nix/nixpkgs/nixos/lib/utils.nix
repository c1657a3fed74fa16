# Stub of nixpkgs nixos/lib/utils.nix (subset), written for e2et's evaluation
# checks; not a copy. NixOS modules receive it as the `utils` module argument
# (nixos/modules/misc/extra-arguments.nix: `_module.args.utils = import
# ../../lib/utils.nix { inherit lib config pkgs; }`), with the same
# `{ lib, config, pkgs }` signature at 25.x.
#
# Modelled (25.x behaviour, documented in systemd.unit(5) and in the nixpkgs
# comments; not read page by page):
#   escapeSystemdPath: path -> unit-name part: leading/trailing/duplicate
#     slashes dropped, "/" -> "-" ("/" alone -> "-"), characters outside
#     [A-Za-z0-9:_.] C-escaped (\x2d for "-"), a leading "." escaped.
#     "/var/lib/sss" -> "var-lib-sss" (so its mount unit is var-lib-sss.mount).
#   escapeSystemdExecArg / escapeSystemdExecArgs: quote for Exec*= lines.
#   toShellPath, removePackagesByName, fsNeededForBoot, fsBefore,
#   pathsNeededForBoot.
{ lib, config ? null, pkgs ? null }:

let
  inherit (lib)
    hasPrefix
    removePrefix
    removeSuffix
    replaceStrings
    stringToCharacters
    ;
in
rec {
  pathsNeededForBoot = [
    "/"
    "/nix"
    "/nix/store"
    "/var"
    "/var/log"
    "/var/lib"
    "/var/lib/nixos"
    "/etc"
    "/usr"
  ];

  fsNeededForBoot = fs: fs.neededForBoot || lib.elem fs.mountPoint pathsNeededForBoot;

  fsBefore =
    a: b:
    let
      normalisePath = path: "${path}${lib.optionalString (!(lib.hasSuffix "/" path)) "/"}";
      normalise = mount: mount // { mountPoint = normalisePath mount.mountPoint; };
      a' = normalise a;
      b' = normalise b;
    in
    lib.hasPrefix a'.mountPoint b'.mountPoint || lib.elem a.mountPoint (b.depends or [ ]);

  escapeSystemdPath =
    s:
    let
      replacePrefix = p: r: s: if hasPrefix p s then r + (removePrefix p s) else s;
      trim = s: removeSuffix "/" (removePrefix "/" s);
      normalizedPath = lib.strings.normalizePath s;
    in
    replaceStrings [ "/" ] [ "-" ] (
      replacePrefix "." (lib.strings.escapeC [ "." ] ".") (
        lib.strings.escapeC (stringToCharacters " !\"#$%&'()*+,;<=>=@[\\]^`{|}~-") (
          if normalizedPath == "/" then normalizedPath else trim normalizedPath
        )
      )
    );

  escapeSystemdExecArg =
    arg:
    let
      s =
        if lib.isPath arg then
          "${arg}"
        else if lib.isString arg then
          arg
        else if lib.isInt arg || lib.isFloat arg || lib.isDerivation arg then
          toString arg
        else
          throw "escapeSystemdExecArg only allows strings, paths, numbers and derivations";
    in
    replaceStrings [ "%" "$" ] [ "%%" "$$" ] (builtins.toJSON s);

  escapeSystemdExecArgs = lib.concatMapStringsSep " " escapeSystemdExecArg;

  toShellPath =
    shell: if lib.types.shellPackage.check shell then "/run/current-system/sw${shell.shellPath}" else shell;

  removePackagesByName =
    packages: packagesToRemove:
    let
      namesToRemove = map lib.getName packagesToRemove;
    in
    lib.filter (x: !(lib.elem (lib.getName x) namesToRemove)) packages;
}
