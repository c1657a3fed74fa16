# Stub of nixpkgs nixos/modules/config/system-path.nix (subset), written for
# e2et's evaluation checks; not a copy.
#
# Modelled on the 25.x module (option names/types long-standing; not read page
# by page): environment.systemPackages (listOf package, default []),
# environment.defaultPackages (listOf package; nixpkgs' default is perl, rsync,
# strace -- profiles/minimal.nix sets it to mkDefault []),
# environment.pathsToLink (listOf str), environment.extraOutputsToInstall.
# system.path is a fake derivation recording the package names.
{ config, lib, pkgs, ... }:

let
  fake = import ../../lib/fake-drv.nix { inherit lib; };
  inherit (lib) mkOption types;
in
{
  options.environment = {
    systemPackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
      example = lib.literalExpression "[ pkgs.firefox pkgs.thunderbird ]";
      description = "The set of packages that appear in /run/current-system/sw.";
    };
    defaultPackages = mkOption {
      type = types.listOf types.package;
      default = map (fake.pkgOr pkgs) [
        "perl"
        "rsync"
        "strace"
      ];
      defaultText = lib.literalExpression "[ pkgs.perl pkgs.rsync pkgs.strace ]";
      description = "Packages installed by default (removable with `environment.defaultPackages = [ ];`).";
    };
    pathsToLink = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Paths linked into the system environment.";
    };
    extraOutputsToInstall = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Extra outputs installed for the system packages.";
    };
  };

  options.system.path = mkOption {
    internal = true;
    description = "The packages you want in the system environment.";
  };

  config.system.path = fake.fakeDrv "system-path" {
    packages = map (p: p.name or (toString p)) (config.environment.systemPackages ++ config.environment.defaultPackages);
  };
}
