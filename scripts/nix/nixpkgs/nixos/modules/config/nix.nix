# Stub of nixpkgs nixos/modules/config/nix.nix and
# services/system/nix-daemon.nix (subset), written for e2et's evaluation
# checks; not a copy.
#   nix.enable: bool, true.   nix.package: package, pkgs.nix.
#   nix.settings: LOOSE here (nixpkgs: a submodule with a freeform
#   nix.conf-value type and many declared settings, e.g. trusted-users
#   listOf str): attrsOf anything.
#   nix.registry: LOOSE (attrsOf anything; nixpkgs: flake registry entries).
{ config, lib, pkgs, ... }:

let
  fake = import ../../lib/fake-drv.nix { inherit lib; };
in
{
  options.nix = {
    enable = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Whether to enable Nix.";
    };
    package = lib.mkOption {
      type = lib.types.package;
      default = fake.pkgOr pkgs "nix";
      defaultText = lib.literalExpression "pkgs.nix";
      description = "This option specifies the Nix package instance to use throughout the system.";
    };
    settings = lib.mkOption {
      type = lib.types.attrsOf lib.types.anything;
      default = { };
      description = "Configuration for Nix (nix.conf; loosely typed in this stub).";
    };
    registry = lib.mkOption {
      type = lib.types.attrsOf lib.types.anything;
      default = { };
      description = "A system-wide flake registry (loosely typed in this stub).";
    };
  };
}
