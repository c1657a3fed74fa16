# Stub of nixpkgs nixos/modules/misc/assertions.nix, written for e2et's
# evaluation checks; not a copy.
#
# This module has been stable for years (two options, no config); modelled on
# the nixpkgs 2025 tree (infinixbot/nixpkgs / NixOS/nixpkgs index copies) and on
# how top-level.nix consumes it at 25.11 (lib.asserts.checkAssertWarn, present
# in the vendored 25.11 lib).
#   assertions: listOf unspecified, default [], internal; each element
#               { assertion = bool; message = str; }.
#   warnings:   listOf str, default [], internal.
{ lib, ... }:

{
  options = {
    assertions = lib.mkOption {
      type = lib.types.listOf lib.types.unspecified;
      internal = true;
      default = [ ];
      example = [
        {
          assertion = false;
          message = "you can't enable this for that reason";
        }
      ];
      description = ''
        Conditions that must hold during the evaluation of the whole
        configuration; a failing one stops system.build.toplevel with its message.
      '';
    };

    warnings = lib.mkOption {
      internal = true;
      default = [ ];
      type = lib.types.listOf lib.types.str;
      example = [ "The `foo' service is deprecated and will go away soon!" ];
      description = "Warnings printed when system.build.toplevel is evaluated.";
    };
  };
}
