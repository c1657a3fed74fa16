# Stub of nixpkgs nixos/modules/misc/extra-arguments.nix, written for e2et's
# evaluation checks; not a copy. nixpkgs (25.x) passes the `utils` module
# argument here: `_module.args.utils = import ../../lib/utils.nix { inherit
# lib config pkgs; }` (the stub utils.nix of this tree).
{ lib, config, pkgs, ... }:

{
  _module.args.utils = import ../../lib/utils.nix { inherit lib config pkgs; };
}
