# Stub of nixpkgs nixos/modules/system/boot/systemd.nix (subset), written for
# e2et's evaluation checks; not a copy.
#
# Option types come from ../../lib/systemd-unit-options.nix here (see its
# header: modelled on the 2025 nixpkgs file, read as infinixbot/nixpkgs
# 2568acd3). This module declares, as nixpkgs 25.x does:
#   systemd.package                    package, default pkgs.systemd
#   systemd.services.<name>            stage-2 service options (+ unitConfig /
#                                      serviceConfig modules: [Unit] keys from the
#                                      list options, PATH from `path`)
#   systemd.mounts                     listOf mount units (what/where/type/options)
#   systemd.sockets.<name>             socket units (listenStreams, socketConfig)
#   systemd.targets.<name>             target units
#   systemd.timers.<name>              loose
#   systemd.globalEnvironment          attrsOf (nullOr (oneOf [str path package]))
#   systemd.additionalUpstreamSystemUnits listOf str
#   systemd.units.<name>.text          the rendered unit files (generated here from
#                                      services and mounts the way nixpkgs'
#                                      serviceToUnit/mountToUnit render them:
#                                      [Unit] section, then [Service] with
#                                      Environment="K=V" lines, X-RestartIfChanged,
#                                      then serviceConfig), for checkers.
{ config, lib, pkgs, ... }:

let
  fake = import ../../../lib/fake-drv.nix { inherit lib; };
  systemdLib = import ../../../lib/systemd-lib.nix {
    inherit lib;
    inherit (fake) fakeDrv;
  };
  unitOptions = import ../../../lib/systemd-unit-options.nix {
    inherit lib pkgs systemdLib;
    inherit (fake) fakeDrv;
  };
  inherit (lib) mkOption types;
  inherit (systemdLib) attrsToSection;
  cfg = config.systemd;

  inherit (import ../../../lib/utils.nix { inherit lib; }) escapeSystemdPath;

  commonUnitText = def: ''
    [Unit]
    ${attrsToSection def.unitConfig}
  '';

  serviceToUnit = name: def: {
    inherit (def) aliases wantedBy requiredBy upheldBy enable;
    text =
      commonUnitText def
      + ''
        [Service]
        ${
          let
            env = cfg.globalEnvironment // def.environment;
          in
          lib.concatMapStrings (
            n: lib.optionalString (env.${n} != null) "Environment=${builtins.toJSON "${n}=${env.${n}}"}\n"
          ) (lib.attrNames env)
        }${
          if def.reloadIfChanged then
            "X-ReloadIfChanged=true\n"
          else if !def.restartIfChanged then
            "X-RestartIfChanged=false\n"
          else
            ""
        }${lib.optionalString (!def.stopIfChanged) "X-StopIfChanged=false\n"}${attrsToSection def.serviceConfig}'';
  };

  mountToUnit = def: {
    inherit (def) aliases wantedBy requiredBy upheldBy enable;
    text =
      commonUnitText def
      + ''
        [Mount]
        ${attrsToSection def.mountConfig}'';
  };

  mountModule =
    { config, ... }:
    {
      config = {
        name = "${escapeSystemdPath config.where}.mount";
        mountConfig =
          {
            What = config.what;
            Where = config.where;
          }
          // lib.optionalAttrs (config.type != "") { Type = config.type; }
          // lib.optionalAttrs (config.options != "") { Options = config.options; };
      };
    };

  socketModule = {
    options = {
      listenStreams = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "ListenStream= addresses.";
      };
      listenDatagrams = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "ListenDatagram= addresses.";
      };
      socketConfig = mkOption {
        type = types.attrsOf unitOptions.unitOption;
        default = { };
        description = "Options of the [Socket] section.";
      };
    };
  };

  unitModule = {
    options = unitOptions.sharedOptions // {
      text = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Text of this systemd unit.";
      };
    };
  };
in
{
  options.systemd = {
    package = mkOption {
      type = types.package;
      default = pkgs.systemd;
      defaultText = lib.literalExpression "pkgs.systemd";
      description = "The systemd package.";
    };

    services = mkOption {
      type = types.attrsOf (
        types.submodule [
          unitOptions.stage2ServiceOptions
          unitOptions.unitConfigModule
          unitOptions.serviceConfigModule
        ]
      );
      default = { };
      description = "Definition of systemd service units.";
    };

    mounts = mkOption {
      type = types.listOf (
        types.submodule [
          unitOptions.stage2CommonUnitOptions
          unitOptions.mountOptions
          unitOptions.unitConfigModule
          mountModule
        ]
      );
      default = [ ];
      description = "Definition of systemd mount units (a list: the name comes from `where`).";
    };

    sockets = mkOption {
      type = types.attrsOf (
        types.submodule [
          unitOptions.stage2CommonUnitOptions
          socketModule
          unitOptions.unitConfigModule
          ({ name, ... }: { config.name = "${name}.socket"; })
        ]
      );
      default = { };
      description = "Definition of systemd socket units.";
    };

    targets = mkOption {
      type = types.attrsOf (
        types.submodule [
          unitOptions.stage2CommonUnitOptions
          unitOptions.unitConfigModule
          ({ name, ... }: { config.name = "${name}.target"; })
        ]
      );
      default = { };
      description = "Definition of systemd target units.";
    };

    timers = mkOption {
      type = types.attrsOf (types.attrsOf types.anything);
      default = { };
      description = "Definition of systemd timer units (loose in this stub).";
    };

    globalEnvironment = mkOption {
      type =
        with types;
        attrsOf (
          nullOr (oneOf [
            str
            path
            package
          ])
        );
      default = { };
      description = "Environment variables passed to all systemd units.";
    };

    additionalUpstreamSystemUnits = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Additional units shipped with systemd that shall be enabled.";
    };

    units = mkOption {
      type = types.attrsOf (types.submodule unitModule);
      default = { };
      description = "Definition of systemd units (generated from services and mounts here).";
    };
  };

  config.systemd.units =
    lib.mapAttrs' (n: v: lib.nameValuePair "${n}.service" (serviceToUnit n v)) cfg.services
    // lib.listToAttrs (map (v: lib.nameValuePair v.name (mountToUnit v)) cfg.mounts);
}
