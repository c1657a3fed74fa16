# Stub of nixpkgs nixos/modules/tasks/filesystems.nix (+ the `overlay`
# sub-options of tasks/filesystems/overlayfs.nix, `encrypted` loosely, and
# config/swap.nix's swapDevices loosely), written for e2et's evaluation checks;
# not a copy.
#
# Modelled on the 25.x modules (option set long-standing; not read page by
# page; the `overlay` sub-options are the ones netboot.nix and qemu-vm.nix of
# 2025 use: lowerdir, upperdir, workdir):
#   fileSystems: attrsOf submodule, keyed by mount point
#     enable        bool, true
#     mountPoint    non-empty str without trailing slash, default the name
#     device        nullOr non-empty str, null
#     fsType        non-empty str, "auto"
#     options       nonEmptyListOf non-empty str, [ "defaults" ]
#     label         nullOr str, null
#     autoFormat    bool, false
#     formatOptions nullOr str, null (removed: asserting it is null)
#     autoResize    bool, false (ext*/f2fs only, asserted)
#     noCheck       bool, false
#     depends       listOf non-empty str, [] (mount points mounted first)
#     neededForBoot bool, false
#     overlay.{lowerdir,upperdir,workdir,useStage1BaseDirectories}
#   Assertions kept: mount order must be a DAG (depends/prefix cycle),
#   autoResize only on ext*/f2fs, formatOptions must be null, and
#   `label` must match the device "/dev/disk/by-label/<label>".
#   boot.supportedFilesystems: coercedTo (listOf str) -> attrsOf bool (24.05+).
{ config, lib, ... }:

let
  inherit (lib) mkOption types;

  nonEmptyStr = types.addCheck types.str (s: builtins.match "[ \t\n]*" s == null) // {
    description = "non-empty string";
  };
  nonEmptyWithoutTrailingSlash = types.addCheck nonEmptyStr (s: s == "/" || !lib.hasSuffix "/" s) // {
    description = "non-empty string without trailing slash";
  };

  fileSystemOpts =
    { name, config, ... }:
    {
      options = {
        enable = mkOption {
          type = types.bool;
          default = true;
          description = "Whether to mount this file system.";
        };
        mountPoint = mkOption {
          type = nonEmptyWithoutTrailingSlash;
          default = name;
          example = "/mnt/usb";
          description = "Location of the mounted file system.";
        };
        device = mkOption {
          type = types.nullOr nonEmptyStr;
          default = null;
          example = "/dev/sda";
          description = "The device as passed to `mount`.";
        };
        fsType = mkOption {
          type = nonEmptyStr;
          default = "auto";
          example = "ext3";
          description = "Type of the file system.";
        };
        options = mkOption {
          type = types.nonEmptyListOf nonEmptyStr;
          default = [ "defaults" ];
          example = [ "data=journal" ];
          description = "Options used to mount the file system.";
        };
        label = mkOption {
          type = types.nullOr nonEmptyStr;
          default = null;
          description = "Label of the device (if any).";
        };
        autoFormat = mkOption {
          type = types.bool;
          default = false;
          description = "Create the file system on `device` if it has none.";
        };
        formatOptions = mkOption {
          visible = false;
          type = types.nullOr nonEmptyStr;
          default = null;
          description = "Removed option.";
        };
        autoResize = mkOption {
          type = types.bool;
          default = false;
          description = "Grow the file system to the size of its device (ext*/f2fs).";
        };
        noCheck = mkOption {
          type = types.bool;
          default = false;
          description = "Disable running fsck on this filesystem.";
        };
        depends = mkOption {
          type = types.listOf nonEmptyWithoutTrailingSlash;
          default = [ ];
          example = [ "/persist" ];
          description = "Mount points this file system depends on (mounted before it).";
        };
        neededForBoot = mkOption {
          type = types.bool;
          default = false;
          description = "Mount this file system in the initial ramdisk.";
        };
        encrypted = mkOption {
          type = types.attrsOf types.anything;
          default = { };
          description = "Encryption settings (loose in this stub).";
        };
        overlay = {
          lowerdir = mkOption {
            type = with types; nullOr (nonEmptyListOf (either str pathInStore));
            default = null;
            description = "The list of path(s) to the lowerdir(s).";
          };
          upperdir = mkOption {
            type = types.nullOr types.str;
            default = null;
            description = "The path to the upperdir.";
          };
          workdir = mkOption {
            type = types.nullOr types.str;
            default = null;
            description = "The path to the workdir.";
          };
          useStage1BaseDirectories = mkOption {
            type = types.bool;
            default = true;
            description = "Create the base directories of the overlay in stage 1.";
          };
        };
      };
      config = lib.mkMerge [
        { device = lib.mkIf (config.label != null) (lib.mkDefault "/dev/disk/by-label/${config.label}"); }
        (lib.mkIf (config.overlay.lowerdir != null) {
          fsType = "overlay";
          device = lib.mkDefault "overlay";
        })
      ];
    };

  fileSystems = lib.filter (fs: fs.enable) (lib.attrValues config.fileSystems);

  # Mount order as in nixpkgs: a file system is mounted after those it depends
  # on and after any whose mount point is a prefix of its own.
  fsBefore =
    a: b:
    a.mountPoint == "/"
    || lib.elem a.mountPoint b.depends
    || (a.mountPoint != b.mountPoint && lib.hasPrefix "${lib.removeSuffix "/" a.mountPoint}/" b.mountPoint);
  sorted = lib.toposort fsBefore fileSystems;

  resizable = fs: lib.hasPrefix "ext" fs.fsType || fs.fsType == "f2fs";
in
{
  options = {
    fileSystems = mkOption {
      type = types.attrsOf (types.submodule fileSystemOpts);
      default = { };
      example = lib.literalExpression ''
        {
          "/".device = "/dev/hda1";
          "/data" = { device = "/dev/hda2"; fsType = "ext3"; options = [ "data=journal" ]; };
          "/bigdisk".label = "bigdisk";
        }
      '';
      description = "The file systems to be mounted, keyed by mount point.";
    };

    swapDevices = mkOption {
      type = types.listOf (types.attrsOf types.anything);
      default = [ ];
      description = "The swap devices and files (config/swap.nix; loose in this stub).";
    };

    boot.supportedFilesystems = mkOption {
      type = types.coercedTo (types.listOf types.str) (
        enabled: lib.listToAttrs (map (fs: lib.nameValuePair fs true) enabled)
      ) (types.attrsOf types.bool);
      default = { };
      description = "Names of supported filesystem types (list or attrset of bools).";
    };
  };

  config = {
    # Stub-only: the mount points in the order nixpkgs would mount them.
    system.build.fileSystemsMountOrder =
      if sorted ? result then map (fs: fs.mountPoint) sorted.result else [ ];

    assertions = [
      {
        assertion = !(sorted ? cycle);
        message = "The ‘fileSystems’ option can't be topologically sorted: mountpoint dependency path ${
          lib.concatMapStringsSep " -> " (x: x.mountPoint) (sorted.cycle or [ ])
        } loops to ${lib.concatMapStringsSep ", " (x: x.mountPoint) (sorted.loops or [ ])}";
      }
      {
        assertion = !(lib.any (fs: fs.autoResize && !resizable fs) fileSystems);
        message = "Mountpoints with autoResize enabled must be ext* or f2fs file systems.";
      }
      {
        assertion = !(lib.any (fs: fs.formatOptions != null) fileSystems);
        message = "'fileSystems.<name>.formatOptions' has been removed, since systemd-makefs does not support any way to provide formatting options.";
      }
    ]
    ++ map (fs: {
      assertion = fs.label != null -> fs.device == "/dev/disk/by-label/${fs.label}";
      message = "The filesystem mounted at ${fs.mountPoint} has a label and a device that does not match it.";
    }) fileSystems;
  };
}
