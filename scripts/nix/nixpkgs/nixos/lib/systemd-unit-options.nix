# Stub of nixpkgs nixos/lib/systemd-unit-options.nix (subset), written for
# e2et's evaluation checks; not a copy.
#
# Read: infinixbot/nixpkgs 2568acd3:nixos/lib/systemd-unit-options.nix (2025,
# nixfmt-formatted; has `upheldBy`, `upholds`, `overrideStrategy`,
# `notify-reload` in checkService -- the 25.x shape). Option names, types and
# defaults below follow it: sharedOptions (enable, requiredBy, upheldBy,
# wantedBy, aliases), commonUnitOptions (description, documentation, requires,
# wants, upholds, after, before, bindsTo, partOf, conflicts, requisite,
# unitConfig, onFailure, onSuccess, startLimitBurst, startLimitIntervalSec),
# stage2CommonUnitOptions (restartTriggers, reloadTriggers), serviceOptions
# (environment, path, serviceConfig with the Type/Restart check, script,
# scriptArgs, preStart, postStart, reload, preStop, postStop, jobScripts) and
# stage2ServiceOptions (restartIfChanged, reloadIfChanged, stopIfChanged,
# startAt). The config parts that turn `script` & co. into Exec* lines also
# follow it. The [Unit] keys derived from the list options (Requires=, After=,
# ...) and the service PATH/name follow systemd-lib.nix's unitConfig and
# serviceConfig modules (not read verbatim; see systemd-lib.nix here).
# Not modelled: socket/timer/path/slice option sets beyond what the stubs use.
{ lib, systemdLib, pkgs, fakeDrv }:

let
  inherit (systemdLib)
    assertValueOneOf
    checkUnitConfig
    makeJobScript
    unitNameType
    unitOption
    ;
  inherit (lib)
    mkIf
    mkMerge
    mkOption
    optionalAttrs
    types
    ;
  pkgOr = name: pkgs.${name} or (fakeDrv name { });

  checkService = checkUnitConfig "Service" [
    (assertValueOneOf "Type" [
      "exec"
      "simple"
      "forking"
      "oneshot"
      "dbus"
      "notify"
      "notify-reload"
      "idle"
    ])
    (assertValueOneOf "Restart" [
      "no"
      "on-success"
      "on-failure"
      "on-abnormal"
      "on-abort"
      "always"
    ])
  ];

  listOfUnits = description: mkOption {
    default = [ ];
    type = types.listOf unitNameType;
    inherit description;
  };
in
rec {
  inherit unitOption;

  sharedOptions = {
    enable = mkOption {
      type = types.bool;
      default = true;
      description = "If false, the unit is a symlink to /dev/null.";
    };
    name = mkOption {
      type = types.str;
      description = "The unit's name including its extension.";
    };
    overrideStrategy = mkOption {
      type = types.enum [
        "asDropinIfExists"
        "asDropin"
      ];
      default = "asDropinIfExists";
      description = "Unit file or drop-in.";
    };
    requiredBy = listOfUnits "Units that require this unit.";
    upheldBy = listOfUnits "Units that uphold this unit.";
    wantedBy = listOfUnits "Units that want this unit.";
    aliases = listOfUnits "Aliases of the unit.";
  };

  commonUnitOptions = {
    options = sharedOptions // {
      description = mkOption {
        type = types.singleLineStr;
        default = "";
        description = "Description= of the unit.";
      };
      documentation = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Documentation= URIs.";
      };
      requires = listOfUnits "Requires=.";
      wants = listOfUnits "Wants=.";
      upholds = listOfUnits "Upholds=.";
      after = listOfUnits "After=.";
      before = listOfUnits "Before=.";
      bindsTo = listOfUnits "BindsTo=.";
      partOf = listOfUnits "PartOf=.";
      conflicts = listOfUnits "Conflicts=.";
      requisite = listOfUnits "Requisite=.";
      unitConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
        example = {
          RequiresMountsFor = "/data";
        };
        description = "Options of the [Unit] section.";
      };
      onFailure = listOfUnits "OnFailure=.";
      onSuccess = listOfUnits "OnSuccess=.";
      startLimitBurst = mkOption {
        type = types.int;
        description = "StartLimitBurst=.";
      };
      startLimitIntervalSec = mkOption {
        type = types.int;
        description = "StartLimitIntervalSec=.";
      };
    };
  };

  stage2CommonUnitOptions = {
    imports = [ commonUnitOptions ];
    options = {
      restartTriggers = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
        description = "Restart the unit when any of these change.";
      };
      reloadTriggers = mkOption {
        type = types.listOf unitOption;
        default = [ ];
        description = "Reload the unit when any of these change.";
      };
    };
  };

  serviceOptions =
    { name, config, ... }:
    {
      options = {
        environment = mkOption {
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
          description = "Environment variables of the service.";
        };
        path = mkOption {
          type =
            with types;
            listOf (oneOf [
              package
              str
            ]);
          default = [ ];
          description = "Packages whose bin/ and sbin/ go on the service's PATH.";
        };
        serviceConfig = mkOption {
          type = types.addCheck (types.attrsOf unitOption) checkService;
          default = { };
          description = "Options of the [Service] section.";
        };
        script = mkOption {
          type = types.lines;
          default = "";
          description = "Shell commands run as the service's main process.";
        };
        scriptArgs = mkOption {
          type = types.str;
          default = "";
          description = "Arguments of the main script.";
        };
        preStart = mkOption {
          type = types.lines;
          default = "";
          description = "ExecStartPre= script.";
        };
        postStart = mkOption {
          type = types.lines;
          default = "";
          description = "ExecStartPost= script.";
        };
        reload = mkOption {
          type = types.lines;
          default = "";
          description = "ExecReload= script.";
        };
        preStop = mkOption {
          type = types.lines;
          default = "";
          description = "ExecStop= script.";
        };
        postStop = mkOption {
          type = types.lines;
          default = "";
          description = "ExecStopPost= script.";
        };
        jobScripts = mkOption {
          type = with types; coercedTo path lib.singleton (listOf path);
          internal = true;
          default = [ ];
          description = "The job script derivations of this unit.";
        };
      };

      config = mkMerge [
        (mkIf (config.preStart != "") rec {
          jobScripts = makeJobScript "${name}-pre-start" config.preStart;
          serviceConfig.ExecStartPre = [ jobScripts ];
        })
        (mkIf (config.script != "") rec {
          jobScripts = makeJobScript "${name}-start" config.script;
          serviceConfig.ExecStart = "${jobScripts} ${config.scriptArgs}";
        })
        (mkIf (config.postStart != "") rec {
          jobScripts = makeJobScript "${name}-post-start" config.postStart;
          serviceConfig.ExecStartPost = [ jobScripts ];
        })
        (mkIf (config.reload != "") rec {
          jobScripts = makeJobScript "${name}-reload" config.reload;
          serviceConfig.ExecReload = "${jobScripts}";
        })
        (mkIf (config.preStop != "") rec {
          jobScripts = makeJobScript "${name}-pre-stop" config.preStop;
          serviceConfig.ExecStop = "${jobScripts}";
        })
        (mkIf (config.postStop != "") rec {
          jobScripts = makeJobScript "${name}-post-stop" config.postStop;
          serviceConfig.ExecStopPost = "${jobScripts}";
        })
      ];
    };

  stage2ServiceOptions = {
    imports = [
      stage2CommonUnitOptions
      serviceOptions
    ];
    options = {
      restartIfChanged = mkOption {
        type = types.bool;
        default = true;
        description = "Restart on a configuration switch if the unit changed.";
      };
      reloadIfChanged = mkOption {
        type = types.bool;
        default = false;
        description = "Reload instead of restart on a switch.";
      };
      stopIfChanged = mkOption {
        type = types.bool;
        default = true;
        description = "Stop in the old configuration, start in the new one.";
      };
      startAt = mkOption {
        type = with types; either str (listOf str);
        default = [ ];
        description = "OnCalendar= of a timer that starts this unit.";
        apply = v: if lib.isList v then v else [ v ];
      };
    };
  };

  # systemd-lib.nix's `unitConfig` module: the list options become [Unit] keys.
  unitConfigModule =
    { config, options, ... }:
    {
      config.unitConfig =
        optionalAttrs (config.requires != [ ]) { Requires = toString config.requires; }
        // optionalAttrs (config.wants != [ ]) { Wants = toString config.wants; }
        // optionalAttrs (config.upholds != [ ]) { Upholds = toString config.upholds; }
        // optionalAttrs (config.after != [ ]) { After = toString config.after; }
        // optionalAttrs (config.before != [ ]) { Before = toString config.before; }
        // optionalAttrs (config.bindsTo != [ ]) { BindsTo = toString config.bindsTo; }
        // optionalAttrs (config.partOf != [ ]) { PartOf = toString config.partOf; }
        // optionalAttrs (config.conflicts != [ ]) { Conflicts = toString config.conflicts; }
        // optionalAttrs (config.requisite != [ ]) { Requisite = toString config.requisite; }
        // optionalAttrs (config.description != "") { Description = config.description; }
        // optionalAttrs (config.documentation != [ ]) { Documentation = toString config.documentation; }
        // optionalAttrs (config.onFailure != [ ]) { OnFailure = toString config.onFailure; }
        // optionalAttrs (config.onSuccess != [ ]) { OnSuccess = toString config.onSuccess; }
        // optionalAttrs options.startLimitIntervalSec.isDefined {
          StartLimitIntervalSec = toString config.startLimitIntervalSec;
        }
        // optionalAttrs options.startLimitBurst.isDefined {
          StartLimitBurst = toString config.startLimitBurst;
        };
    };

  # systemd-lib.nix's `stage2ServiceConfig`: name, the default PATH entries and
  # Environment PATH derived from `path`.
  serviceConfigModule =
    { name, config, ... }:
    {
      config = {
        name = "${name}.service";
        path = lib.mkAfter [
          (pkgOr "coreutils")
          (pkgOr "findutils")
          (pkgOr "gnugrep")
          (pkgOr "gnused")
          (pkgOr "systemd")
        ];
        environment.PATH = mkIf (config.path != [ ]) "${lib.makeBinPath config.path}:${lib.makeSearchPathOutput "bin" "sbin" config.path}";
      };
    };

  # nixos/lib/systemd-unit-options.nix mountOptions (what, where, type,
  # options, mountConfig), with the common unit options.
  mountOptions = {
    options = {
      what = mkOption {
        type = types.str;
        example = "/dev/sda1";
        description = "Absolute path of device node, file or other resource (What=).";
      };
      where = mkOption {
        type = types.str;
        example = "/mnt";
        description = "Absolute path of the mount point (Where=).";
      };
      type = mkOption {
        type = types.str;
        default = "";
        description = "File system type (Type=).";
      };
      options = mkOption {
        type = types.commas;
        default = "";
        description = "Mount options (Options=).";
      };
      mountConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
        description = "Options of the [Mount] section.";
      };
    };
  };
}
