# Stub of nixpkgs nixos/modules/system/boot/systemd/tmpfiles.nix (options),
# written for e2et's evaluation checks; not a copy.
#
# Modelled on the 25.x module (not read page by page):
#   systemd.tmpfiles.rules: listOf str, default [] (tmpfiles.d(5) lines).
#   systemd.tmpfiles.settings: attrsOf (attrsOf (attrsOf (submodule
#     { type (str, default the attribute name), mode, user, group, age
#       (str, default "-"), argument (str, default "") })))
#     -- i.e. settings.<file>.<path>.<type> = { ... }.
#   system.build.tmpfilesLines (stub-only): the rules, then the settings
#   rendered one line per entry as "<type> <path> <mode> <user> <group> <age>
#   <argument>", for checkers.
{ config, lib, ... }:

let
  inherit (lib) mkOption types;
  cfg = config.systemd.tmpfiles;
  entry =
    { name, ... }:
    {
      options = {
        type = mkOption {
          type = types.str;
          default = name;
          example = "d";
          description = "The type of operation to perform on the file.";
        };
        mode = mkOption {
          type = types.str;
          default = "-";
          description = "The file access mode to use when creating this file or directory.";
        };
        user = mkOption {
          type = types.str;
          default = "-";
          description = "The user of the file.";
        };
        group = mkOption {
          type = types.str;
          default = "-";
          description = "The group of the file.";
        };
        age = mkOption {
          type = types.str;
          default = "-";
          description = "Delete a file when it reaches a certain age.";
        };
        argument = mkOption {
          type = types.str;
          default = "";
          description = "An argument whose meaning depends on the type of operation.";
        };
      };
    };
  settingsLines = lib.concatLists (
    lib.mapAttrsToList (
      _file: paths:
      lib.concatLists (
        lib.mapAttrsToList (
          path: typesAttrs:
          lib.mapAttrsToList (
            _t: e: lib.concatStringsSep " " [ e.type path e.mode e.user e.group e.age e.argument ]
          ) typesAttrs
        ) paths
      )
    ) cfg.settings
  );
in
{
  options.systemd.tmpfiles = {
    rules = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "d /tmp 1777 root root 10d" ];
      description = "Rules for creation, deletion and cleaning of volatile and temporary files.";
    };
    settings = mkOption {
      type = types.attrsOf (types.attrsOf (types.attrsOf (types.submodule entry)));
      default = { };
      description = "Declare systemd-tmpfiles rules to create, delete, and clean up volatile and temporary files and directories.";
    };
  };

  config.system.build.tmpfilesLines = cfg.rules ++ settingsLines;
}
