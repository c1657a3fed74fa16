# Stub of nixpkgs nixos/modules/security/sudo.nix, written for e2et's
# evaluation checks; not a copy.
#
# Read: Swarsel/nixpkgs 4aa6836a:nixos/modules/security/sudo.nix (2026;
# nixfmt, `lib.`-qualified). The options and the sudoers rendering have not
# changed in substance since 2023 (sudo-rs split, `package` via
# mkPackageOption), so this is taken as the 25.11 shape:
#   security.sudo.enable            bool, default TRUE
#   security.sudo.package           package, default pkgs.sudo
#                                   (pkgs/by-name/su/sudo/package.nix at 2025,
#                                   read as NixOS/nixpkgs 19811afc, sudo
#                                   1.9.17p1, takes `withSssd ? false` (and
#                                   `withInsults`): SSSD support is
#                                   pkgs.sudo.override { withSssd = true; })
#   security.sudo.configFile        lines (generated; the sudoers text)
#   security.sudo.defaultOptions    listOf str, [ "SETENV" ]
#   security.sudo.execWheelOnly     bool, false
#   security.sudo.extraConfig       lines, ""
#   security.sudo.extraRules        listOf { users, groups (listOf (either str
#                                   int)), host ("ALL"), runAs ("ALL:ALL"),
#                                   commands (listOf (either str { command;
#                                   options (listOf enum NOPASSWD|PASSWD|...) })) }
#   security.sudo.wheelNeedsPassword bool, default true; false adds NOPASSWD to
#                                   the wheel rule ("%wheel ALL=(ALL:ALL) NOPASSWD:SETENV: ALL").
#   Assertion kept: package must not be sudo-rs.
#   Effects: environment.etc.sudoers (mode 0440, text = configFile),
#   environment.systemPackages, security.wrappers.{sudo,sudoedit} (setuid),
#   security.pam.services.sudo.
{ config, lib, pkgs, ... }:

let
  cfg = config.security.sudo;
  inherit (lib) mkOption types;

  toUserString = user: if lib.isInt user then "#${toString user}" else "${user}";
  toGroupString = group: if lib.isInt group then "%#${toString group}" else "%${group}";
  toCommandOptionsString =
    options: "${lib.concatStringsSep ":" options}${lib.optionalString (lib.length options != 0) ":"} ";
  toCommandsString =
    commands:
    lib.concatStringsSep ", " (
      map (
        command:
        if lib.isString command then command else "${toCommandOptionsString command.options}${command.command}"
      ) commands
    );

  commandOptions = types.listOf (
    types.enum [
      "NOPASSWD"
      "PASSWD"
      "NOEXEC"
      "EXEC"
      "SETENV"
      "NOSETENV"
      "LOG_INPUT"
      "NOLOG_INPUT"
      "LOG_OUTPUT"
      "NOLOG_OUTPUT"
      "MAIL"
      "NOMAIL"
      "FOLLOW"
      "NOFLLOW"
      "INTERCEPT"
      "NOINTERCEPT"
    ]
  );

  ruleType = types.submodule {
    options = {
      users = mkOption {
        type = with types; listOf (either str int);
        default = [ ];
        description = "The usernames / UIDs this rule should apply for.";
      };
      groups = mkOption {
        type = with types; listOf (either str int);
        default = [ ];
        description = "The groups / GIDs this rule should apply for.";
      };
      host = mkOption {
        type = types.str;
        default = "ALL";
        description = "For what host this rule should apply.";
      };
      runAs = mkOption {
        type = types.str;
        default = "ALL:ALL";
        description = "Under which user/group the specified command is allowed to run.";
      };
      commands = mkOption {
        type =
          with types;
          listOf (
            either str (submodule {
              options = {
                options = mkOption {
                  type = commandOptions;
                  default = [ ];
                  description = "Options for running the command.";
                };
                command = mkOption {
                  type = types.str;
                  description = "A command (path, or full command with arguments).";
                };
              };
            })
          );
        description = "The commands for which the rule should apply.";
      };
    };
  };
in
{
  options.security.sudo = {
    enable = mkOption {
      type = types.bool;
      default = true;
      description = "Whether to enable the {command}`sudo` command.";
    };
    package = lib.mkPackageOption pkgs "sudo" { };
    configFile = mkOption {
      type = types.lines;
      description = "This string contains the contents of the {file}`sudoers` file.";
    };
    defaultOptions = mkOption {
      type = with types; listOf str;
      default = [ "SETENV" ];
      description = "Options used for the default rules (root and wheel).";
    };
    execWheelOnly = mkOption {
      type = types.bool;
      default = false;
      description = "Only allow members of the `wheel` group to execute sudo.";
    };
    extraConfig = mkOption {
      type = types.lines;
      default = "";
      description = "Extra configuration text appended to {file}`sudoers`.";
    };
    extraRules = mkOption {
      type = types.listOf ruleType;
      default = [ ];
      description = "Specific rules of the {file}`sudoers` file.";
    };
    wheelNeedsPassword = mkOption {
      type = types.bool;
      default = true;
      description = "Whether users of the `wheel` group must provide a password to run commands as super user via {command}`sudo`.";
    };
  };

  options.security.wrappers = mkOption {
    type = types.attrsOf (types.attrsOf types.anything);
    default = { };
    description = "Setuid/setcap wrappers (security/wrappers; loose in this stub).";
  };

  options.security.pam.services = mkOption {
    type = types.attrsOf (types.attrsOf types.anything);
    default = { };
    description = "PAM services (security/pam.nix; loose in this stub).";
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = (cfg.package.pname or "sudo") != "sudo-rs";
        message = "NixOS' `sudo` module does not support `sudo-rs`; see `security.sudo-rs` instead.";
      }
    ];

    security.sudo.extraRules =
      let
        defaultRule =
          {
            users ? [ ],
            groups ? [ ],
            opts ? [ ],
          }:
          [
            {
              inherit users groups;
              commands = [
                {
                  command = "ALL";
                  options = opts ++ cfg.defaultOptions;
                }
              ];
            }
          ];
      in
      lib.mkMerge [
        (lib.mkOrder 400 (defaultRule { users = [ "root" ]; }))
        (lib.mkOrder 600 (defaultRule {
          groups = [ "wheel" ];
          opts = lib.optional (!cfg.wheelNeedsPassword) "NOPASSWD";
        }))
      ];

    security.sudo.configFile = lib.concatStringsSep "\n" (
      lib.filter (s: s != "") [
        ''
          # Don't edit this file. Set the NixOS options ‘security.sudo.configFile’
          # or ‘security.sudo.extraRules’ instead.
        ''
        (lib.pipe cfg.extraRules [
          (lib.filter (rule: lib.length rule.commands != 0))
          (map (rule: [
            (map (
              user: "${toUserString user}     ${rule.host}=(${rule.runAs})    ${toCommandsString rule.commands}"
            ) rule.users)
            (map (
              group: "${toGroupString group}  ${rule.host}=(${rule.runAs})    ${toCommandsString rule.commands}"
            ) rule.groups)
          ]))
          lib.flatten
          (lib.concatStringsSep "\n")
        ])
        "\n"
        (lib.optionalString (cfg.extraConfig != "") ''
          # extraConfig
          ${cfg.extraConfig}
        '')
      ]
    );

    environment.etc.sudoers = {
      mode = "0440";
      text = cfg.configFile;
    };

    environment.systemPackages = [ cfg.package ];

    security.pam.services.sudo = {
      sshAgentAuth = true;
      usshAuth = true;
    };

    security.wrappers =
      let
        owner = "root";
        group = if cfg.execWheelOnly then "wheel" else "root";
        setuid = true;
        permissions = if cfg.execWheelOnly then "u+rx,g+x" else "u+rx,g+x,o+x";
      in
      {
        sudo = {
          inherit owner group setuid permissions;
          source = "${cfg.package.out or cfg.package}/bin/sudo";
        };
        sudoedit = {
          inherit owner group setuid permissions;
          source = "${cfg.package.out or cfg.package}/bin/sudoedit";
        };
      };
  };
}
