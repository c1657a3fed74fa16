# Stub of nixpkgs nixos/modules/misc/nixpkgs.nix (subset), written for e2et's
# evaluation checks; not a copy. The package set itself is the caller's fake
# `pkgs` (passed as _module.args.pkgs); these options are accepted loosely:
#   nixpkgs.overlays (listOf anything), nixpkgs.config (attrsOf anything),
#   nixpkgs.hostPlatform / buildPlatform (raw), nixpkgs.system (str).
{ lib, ... }:

{
  options.nixpkgs = {
    overlays = lib.mkOption {
      type = lib.types.listOf lib.types.anything;
      default = [ ];
      description = "List of overlays to apply to Nixpkgs (not applied by this stub).";
    };
    config = lib.mkOption {
      type = lib.types.attrsOf lib.types.anything;
      default = { };
      description = "Nixpkgs configuration (not applied by this stub).";
    };
    hostPlatform = lib.mkOption {
      type = lib.types.raw;
      description = "The platform NixOS runs on.";
    };
    buildPlatform = lib.mkOption {
      type = lib.types.raw;
      description = "The platform NixOS is built on.";
    };
    system = lib.mkOption {
      type = lib.types.str;
      default = "x86_64-linux";
      description = "Legacy system string.";
    };
  };
}
