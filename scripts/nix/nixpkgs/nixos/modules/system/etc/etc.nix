# Stub of nixpkgs nixos/modules/system/etc/etc.nix (options only), written for
# e2et's evaluation checks; not a copy.
#
# Modelled on the 25.x module (long-standing option set; not read page by
# page): environment.etc is attrsOf submodule with enable (bool, true),
# target (str, default the attribute name), text (nullOr lines, default null),
# source (path; when `text` is set it defaults to a file holding the text --
# here a fake derivation with `.text`), mode (str, "symlink"), uid/gid (int, 0),
# user/group (str, "+0"). Loosely modelled: no /etc activation.
{ config, lib, pkgs, ... }:

let
  fake = import ../../../lib/fake-drv.nix { inherit lib; };
  inherit (lib) mkOption types;

  etcEntry =
    { name, config, options, ... }:
    {
      options = {
        enable = mkOption {
          type = types.bool;
          default = true;
          description = "Whether this /etc file should be generated.";
        };
        target = mkOption {
          type = types.str;
          default = name;
          description = "Name of the symlink (relative to /etc).";
        };
        text = mkOption {
          type = types.nullOr types.lines;
          default = null;
          description = "Text of the file.";
        };
        source = mkOption {
          type = types.path;
          description = "Path of the source file.";
        };
        mode = mkOption {
          type = types.str;
          default = "symlink";
          example = "0600";
          description = "File mode, or `symlink`.";
        };
        uid = mkOption {
          type = types.int;
          default = 0;
          description = "UID of the created file.";
        };
        gid = mkOption {
          type = types.int;
          default = 0;
          description = "GID of the created file.";
        };
        user = mkOption {
          type = types.str;
          default = "+${toString config.uid}";
          description = "User name of the file owner.";
        };
        group = mkOption {
          type = types.str;
          default = "+${toString config.gid}";
          description = "Group name of the file owner.";
        };
      };
      config.source = lib.mkIf (config.text != null) (
        lib.mkDerivedConfig options.text (fake.textFile "etc-${lib.replaceStrings [ "/" ] [ "-" ] name}")
      );
    };
in
{
  options.environment.etc = mkOption {
    type = types.attrsOf (types.submodule etcEntry);
    default = { };
    description = "Set of files that have to be linked in /etc.";
  };
}
