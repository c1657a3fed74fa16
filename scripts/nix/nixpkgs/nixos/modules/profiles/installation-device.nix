# Stub of nixpkgs nixos/modules/profiles/installation-device.nix, written for
# e2et's evaluation checks; not a copy.
#
# Read: Swarsel/nixpkgs 4aa6836a (2026). The settings that make an installer
# "open" have been the same since 23.05 (when wheelNeedsPassword became
# mkImageMediaOverride false) and are taken as the 25.11 form:
#   services.getty.autologinUser = "nixos"            (normal priority)
#   users.users.nixos = { isNormalUser = true; extraGroups = [ "wheel"
#     "networkmanager" "video" ]; initialHashedPassword = ""; }  (EMPTY password)
#   users.users.root.initialHashedPassword = ""        (EMPTY root password)
#   security.sudo = { enable = mkDefault true;
#                     wheelNeedsPassword = mkImageMediaOverride false; }
#   services.openssh = { enable = mkDefault true;
#                        settings.PermitRootLogin = mkDefault "yes"; }
#   networking.networkmanager.enable = true
#   nix.settings.trusted-users = [ "nixos" ]
#   documentation.enable / documentation.nixos.enable = mkImageMediaOverride true
#   system.nixos.variant_id = mkDefault "installer"
#   plus: boot.kernel.sysctl."vm.overcommit_memory" = "1", boot.swraid,
#   /etc/systemd/pstore.conf, GC_INITIAL_HEAP_SIZE, firewall
#   logRefusedConnections = mkDefault false, security.polkit.enable,
#   getty helpLine, nixpkgs overlay for mbrola-voices, system.extraDependencies.
# Imports (as nixpkgs): ../installer/scan/detected.nix,
# ../installer/scan/not-detected.nix, ./clone-config.nix,
# ../installer/cd-dvd/channel.nix (system.installer.channel.enable, default
# true: the nixpkgs source copied into root's channel).
{ config, lib, pkgs, ... }:

let
  fake = import ../../lib/fake-drv.nix { inherit lib; };
  pkgOr = fake.pkgOr pkgs;
  inherit (lib) mkDefault mkImageMediaOverride;
in
{
  imports = [
    ../installer/scan/detected.nix
    ../installer/scan/not-detected.nix
    ./clone-config.nix
    ../installer/cd-dvd/channel.nix
  ];

  config = {
    boot.kernel.sysctl."vm.overcommit_memory" = "1";
    boot.swraid.enable = true;
    boot.swraid.mdadmConf = "PROGRAM ${pkgOr "coreutils"}/bin/true";

    documentation.enable = mkImageMediaOverride true;
    documentation.nixos.enable = mkImageMediaOverride true;

    environment.etc."systemd/pstore.conf".text = ''
      [PStore]
      Unlink=no
    '';

    environment.variables.GC_INITIAL_HEAP_SIZE = "1M";
    networking.firewall.logRefusedConnections = mkDefault false;
    networking.networkmanager.enable = true;
    nix.settings.trusted-users = [ "nixos" ];

    nixpkgs.overlays = [
      (_: prev: {
        mbrola-voices = prev.mbrola-voices.override { languages = [ "*1" ]; };
      })
    ];

    security.polkit.enable = true;

    security.sudo = {
      enable = mkDefault true;
      wheelNeedsPassword = mkImageMediaOverride false;
    };

    services.getty.autologinUser = "nixos";

    services.getty.helpLine = ''
      The "nixos" and "root" accounts have empty passwords.

      To log in over ssh you must set a password for either "nixos" or "root"
      with `passwd` (prefix with `sudo` for "root"), or add your public key to
      /home/nixos/.ssh/authorized_keys or /root/.ssh/authorized_keys.

      To set up a wireless connection, run `nmtui`.
    ''
    + lib.optionalString config.services.xserver.enable ''

      Type `sudo systemctl start display-manager' to
      start the graphical user interface.
    '';

    services.openssh = {
      enable = mkDefault true;
      settings.PermitRootLogin = mkDefault "yes";
    };

    system.extraDependencies = map pkgOr [
      "stdenvNoCC"
      "busybox"
      "makeInitrdNGTool"
      "jq"
    ];

    system.nixos.variant_id = mkDefault "installer";

    users.users.nixos = {
      isNormalUser = true;
      extraGroups = [
        "wheel"
        "networkmanager"
        "video"
      ];
      initialHashedPassword = "";
    };

    users.users.root.initialHashedPassword = "";
  };
}
