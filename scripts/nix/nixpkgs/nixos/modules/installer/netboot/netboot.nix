# Stub of nixpkgs nixos/modules/installer/netboot/netboot.nix, written for
# e2et's evaluation checks; not a copy.
#
# Versions read: infinixbot/nixpkgs 04729e95 (2025: nixfmt, `with lib`,
# netboot.squashfsCompression with an xz default, fileSystems."/nix/store"
# as an `overlay`, makeInitrdNG `contents = [{ source; target; }]`,
# nix-store --load-db in boot.postBootCommands), NixOS/nixpkgs 03a5cc69
# (2023, older) and Swarsel/nixpkgs 4aa6836a (2026: image.* options,
# zstd default, a register-nix-paths systemd service instead of
# postBootCommands, `live.nixos.password*` kernel parameters, kernel target
# from config.boot.kernelPackages.kernel.target). Modelled: the 2025 file
# (infinixbot), as the closest readable one to the 25.11 branch-off; the
# parts a checker cares about are identical in all three.
#
# What it sets (all with mkImageMediaOverride = priority 60 where nixpkgs does):
#   fileSystems."/"              tmpfs, options [ "mode=0755" ]
#   fileSystems."/nix/.ro-store" squashfs, device "../nix-store.squashfs",
#                                options [ "loop" "threads=multi" ], neededForBoot
#   fileSystems."/nix/.rw-store" tmpfs, [ "mode=0755" ], neededForBoot
#   fileSystems."/nix/store"     overlay { lowerdir = [ "/nix/.ro-store" ];
#                                upperdir = "/nix/.rw-store/store";
#                                workdir = "/nix/.rw-store/work"; }, neededForBoot
#   boot.initrd.availableKernelModules += [ "squashfs" "overlay" ]
#   boot.initrd.kernelModules += [ "loop" "overlay" ]
#   boot.loader.grub.enable = false; boot.loader.timeout = 10
#   netboot.storeContents = [ system.build.toplevel ]
#   system.build.squashfsStore   (make-squashfs.nix; fake here)
#   system.build.netbootRamdisk  makeInitrdNG: prepend
#                                "${system.build.initialRamdisk}/initrd", adds
#                                /nix-store.squashfs; has an `initrd` file.
#   system.build.netbootIpxeScript writeTextDir "netboot.ipxe": "#!ipxe",
#                                "kernel <linux-kernel.target> init=<toplevel>/init
#                                initrd=initrd <kernelParams> ${cmdline}",
#                                "initrd initrd", "boot" (fake here, `.text`).
#   system.build.kexecScript, system.build.kexecTree (linkFarm of initrd.gz,
#                                bzImage = "${system.build.kernel}/${system.boot.loader.kernelFile}",
#                                kexec-boot).
#   boot.postBootCommands: nix-store --load-db < /nix/store/nix-path-registration,
#                                touch /etc/NIXOS, nix-env -p .../system --set.
# system.build.kernel itself comes from system/boot/kernel.nix
# (config.boot.kernelPackages.kernel), not from this module.
{ config, lib, pkgs, ... }:

let
  fake = import ../../../lib/fake-drv.nix { inherit lib; };
  inherit (lib) mkOption mkImageMediaOverride types;
  build = config.system.build;
  kernelTarget = pkgs.stdenv.hostPlatform.linux-kernel.target or "bzImage";
  ipxeText = ''
    #!ipxe
    # Use the cmdline variable to allow the user to specify custom kernel params
    # when chainloading this script from other iPXE scripts like netboot.xyz
    kernel ${kernelTarget} init=${build.toplevel}/init initrd=initrd ${toString config.boot.kernelParams} ''${cmdline}
    initrd initrd
    boot
  '';
in
{
  options.netboot = {
    squashfsCompression = mkOption {
      type = types.str;
      default =
        let
          p = pkgs.stdenv.hostPlatform;
        in
        "xz -Xdict-size 100% "
        + lib.optionalString (p.isx86 or false) "-Xbcj x86"
        + lib.optionalString (p.isAarch or false) "-Xbcj arm";
      example = "zstd -Xcompression-level 6";
      description = "Compression settings to use for the squashfs nix store.";
    };
    storeContents = mkOption {
      example = lib.literalExpression "[ pkgs.stdenv ]";
      description = "Additional derivations to be included in the Nix store of the netboot image.";
    };
  };

  config = {
    boot.loader.grub.enable = false;

    fileSystems."/" = mkImageMediaOverride {
      fsType = "tmpfs";
      options = [ "mode=0755" ];
    };

    fileSystems."/nix/.ro-store" = mkImageMediaOverride {
      fsType = "squashfs";
      device = "../nix-store.squashfs";
      options = [
        "loop"
        "threads=multi"
      ];
      neededForBoot = true;
    };

    fileSystems."/nix/.rw-store" = mkImageMediaOverride {
      fsType = "tmpfs";
      options = [ "mode=0755" ];
      neededForBoot = true;
    };

    fileSystems."/nix/store" = mkImageMediaOverride {
      overlay = {
        lowerdir = [ "/nix/.ro-store" ];
        upperdir = "/nix/.rw-store/store";
        workdir = "/nix/.rw-store/work";
      };
      neededForBoot = true;
    };

    boot.initrd.availableKernelModules = [
      "squashfs"
      "overlay"
    ];
    boot.initrd.kernelModules = [
      "loop"
      "overlay"
    ];

    netboot.storeContents = [ build.toplevel ];

    system.build.squashfsStore = fake.fakeDrv "squashfs.img" {
      comp = config.netboot.squashfsCompression;
      storeContents = config.netboot.storeContents;
    };

    system.build.netbootRamdisk = fake.fakeDrv "initrd" {
      prepend = [ "${build.initialRamdisk}/initrd" ];
      contents = [
        {
          source = build.squashfsStore;
          target = "/nix-store.squashfs";
        }
      ];
      files = [ "initrd" ];
    };

    system.build.netbootIpxeScript = fake.fakeDrv "netboot.ipxe" {
      seed = ipxeText;
      text = ipxeText;
      files = [ "netboot.ipxe" ];
    };

    system.build.kexecScript = fake.fakeDrv "kexec-boot" {
      text = ''
        kexec --load ''${SCRIPT_DIR}/bzImage --initrd=''${SCRIPT_DIR}/initrd.gz --command-line "init=${build.toplevel}/init ${toString config.boot.kernelParams}"
      '';
    };

    system.build.kexecTree = fake.fakeDrv "kexec-tree" {
      entries = [
        {
          name = "initrd.gz";
          path = "${build.netbootRamdisk}/initrd";
        }
        {
          name = "bzImage";
          path = "${build.kernel}/${config.system.boot.loader.kernelFile}";
        }
        {
          name = "kexec-boot";
          path = build.kexecScript;
        }
      ];
    };

    boot.loader.timeout = 10;

    boot.postBootCommands = ''
      # After booting, register the contents of the Nix store
      # in the Nix database in the tmpfs.
      ${config.nix.package}/bin/nix-store --load-db < /nix/store/nix-path-registration

      # nixos-rebuild also requires a "system" profile and an
      # /etc/NIXOS tag.
      touch /etc/NIXOS
      ${config.nix.package}/bin/nix-env -p /nix/var/nix/profiles/system --set /run/current-system
    '';
  };
}
