# Stub of nixpkgs nixos/modules/misc/version.nix (subset), written for e2et's
# evaluation checks; not a copy.
#
# Modelled on the nixpkgs 25.x module (not read page by page; the option set is
# long-standing): system.nixos.{release,codeName,version,versionSuffix,
# revision,label,tags,variant_id,distroId,distroName} and system.stateVersion.
# Values come from the vendored 25.11 lib (lib.trivial.release = "25.11",
# lib.trivial.codeName = "Xantusia"). The stateVersion warning (not set
# explicitly) follows the 2024+ module, which warns when only the default is
# used.
{ config, lib, options, ... }:

let
  cfg = config.system.nixos;
  inherit (lib) mkOption types;
in
{
  options.system = {
    nixos = {
      version = mkOption {
        internal = true;
        type = types.str;
        description = "The full NixOS version (e.g. `25.11pre-git`).";
      };
      release = mkOption {
        readOnly = true;
        type = types.str;
        default = lib.trivial.release;
        description = "The NixOS release (e.g. `25.11`).";
      };
      versionSuffix = mkOption {
        internal = true;
        type = types.str;
        default = lib.trivial.versionSuffix;
        description = "The NixOS version suffix (e.g. `1160.f2d4ee1`).";
      };
      revision = mkOption {
        internal = true;
        type = types.nullOr types.str;
        default = lib.trivial.revisionWithDefault null;
        description = "The Git revision from which this NixOS configuration was built.";
      };
      codeName = mkOption {
        readOnly = true;
        type = types.str;
        default = lib.trivial.codeName;
        description = "The NixOS release code name (e.g. `Xantusia`).";
      };
      label = mkOption {
        type = types.strMatching "[a-zA-Z0-9:_\\.-]*";
        description = "NixOS version name to be used in the names of generated outputs and boot labels.";
      };
      tags = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Strings prefixed to the system label.";
      };
      variant_id = mkOption {
        type = types.nullOr (types.strMatching "^[a-z0-9._-]+$");
        default = null;
        description = "A lower-case string identifying a specific variant or edition of the OS.";
      };
      distroId = mkOption {
        internal = true;
        type = types.str;
        default = "nixos";
        description = "The id of the operating system.";
      };
      distroName = mkOption {
        internal = true;
        type = types.str;
        default = "NixOS";
        description = "The name of the operating system.";
      };
    };

    stateVersion = mkOption {
      type = types.str;
      default = cfg.release;
      defaultText = lib.literalExpression "config.system.nixos.release";
      description = "The NixOS release with which stateful data on this system was first created.";
    };
  };

  config = {
    system.nixos = {
      version = lib.mkDefault (cfg.release + cfg.versionSuffix);
      label = lib.mkDefault (
        lib.concatStringsSep "-" ((lib.sort (x: y: x < y) cfg.tags) ++ [ cfg.version ])
      );
    };
    warnings = lib.optional (options.system.stateVersion.highestPrio == (lib.mkOptionDefault null).priority) ''
      system.stateVersion is not set, defaulting to ${config.system.stateVersion}.
    '';
  };
}
