# nixpkgs lib at 25.11 (vendored in ../shared/vendor/nixpkgs-lib), made usable
# by Debian's Nix 2.8, the only Nix on the machines this is checked on: 2.8
# has no builtins.readFileType (Nix 2.14), which lib.filesystem.pathType is,
# so it is given the readDir-based definition older lib used.
{
  vendor ? ../../../shared/vendor/nixpkgs-lib/lib,
}:
let
  lib = import vendor;
in
if builtins ? readFileType then
  lib
else
  lib.extend (
    _final: prev: {
      filesystem = prev.filesystem // {
        pathType =
          path:
          if toString path == "/" then
            "directory"
          else
            (builtins.readDir (dirOf path)).${baseNameOf path}
              or (throw "lib.filesystem.pathType: ${toString path} does not exist");
      };
    }
  )
