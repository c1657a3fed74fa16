# Stub-only file (no counterpart path in nixpkgs): one-line options of several
# nixpkgs modules that the profiles and installer modules set, declared so that
# those definitions type-check. Written for e2et's evaluation checks; not a
# copy. Each option, its nixpkgs module, and the type/default modelled (25.x,
# long-standing; not read page by page):
#   environment.stub-ld.enable          config/stub-ld.nix           bool, true
#   environment.variables               config/shells-environment.nix attrsOf (either str (listOf str)) (loose: anything)
#   programs.command-not-found.enable   programs/command-not-found/command-not-found.nix bool, true
#   programs.fish.generateCompletions   programs/fish.nix            bool, true
#   services.udisks2.enable             services/hardware/udisks2.nix bool, false
#   xdg.{autostart,icons,mime,sounds}.enable config/xdg/*.nix        bool, true
#   hardware.enableRedistributableFirmware hardware/all-firmware.nix bool, false
#   hardware.enableAllHardware          hardware/all-hardware.nix     bool, false
#   security.polkit.enable              security/polkit.nix           bool, false
#   services.xserver.enable             services/x11/xserver.nix      bool, false
#   services.qemuGuest.enable           services/misc/qemu-guest-agent.nix bool, false
#   boot.swraid.enable / mdadmConf      tasks/swraid.nix              bool, false / lines
#   boot.tmp.useTmpfs / tmpfsSize       system/boot/tmp.nix           bool, false / str "50%"
#   installer.cloneConfig(+Includes, Extra) profiles/clone-config.nix bool, true / listOf str / lines
{ lib, ... }:

let
  inherit (lib) mkOption types;
  bool = default: description: mkOption {
    type = types.bool;
    inherit default description;
  };
in
{
  options = {
    environment.stub-ld.enable = bool true "Whether to install a stub ELF loader at /lib64/ld-linux-x86-64.so.2.";
    environment.variables = mkOption {
      type = types.attrsOf types.anything;
      default = { };
      description = "Global environment variables (loose).";
    };
    programs.command-not-found.enable = bool true "Whether interactive shells should show which Nix package provides a missing command.";
    programs.fish.generateCompletions = bool true "Whether to generate fish completions from man pages.";
    services.udisks2.enable = bool false "Whether to enable Udisks.";
    xdg.autostart.enable = bool true "Whether to install files to support the XDG Autostart specification.";
    xdg.icons.enable = bool true "Whether to install files to support the XDG Icon Theme specification.";
    xdg.mime.enable = bool true "Whether to install files to support the XDG Shared MIME-info specification.";
    xdg.sounds.enable = bool true "Whether to install files to support the XDG Sound Theme specification.";
    hardware.enableRedistributableFirmware = bool false "Whether to enable firmware with a license allowing redistribution.";
    hardware.enableAllHardware = bool false "Whether to enable support for most hardware.";
    security.polkit.enable = bool false "Whether to enable polkit.";
    services.xserver.enable = bool false "Whether to enable the X server.";
    services.qemuGuest.enable = bool false "Whether to enable the qemu guest agent.";
    boot.swraid.enable = bool false "Whether to enable support for Linux MD RAID arrays.";
    boot.swraid.mdadmConf = mkOption {
      type = types.lines;
      default = "";
      description = "Contents of /etc/mdadm.conf.";
    };
    boot.tmp.useTmpfs = bool false "Whether to mount a tmpfs on /tmp during boot.";
    boot.tmp.tmpfsSize = mkOption {
      type = types.oneOf [
        types.str
        types.int
      ];
      default = "50%";
      description = "Size of tmpfs in percentage.";
    };
    installer.cloneConfig = bool true "Try to clone the installation-device configuration by re-using it's profile from the list of imported modules.";
    installer.cloneConfigIncludes = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "List of modules used to re-build this installation device profile.";
    };
    installer.cloneConfigExtra = mkOption {
      type = types.lines;
      default = "";
      description = "Extra text to include in the cloned configuration.nix included in this installer.";
    };
  };
}
