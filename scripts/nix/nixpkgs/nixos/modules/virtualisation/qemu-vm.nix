# Stub of nixpkgs nixos/modules/virtualisation/qemu-vm.nix (subset), written
# for e2et's evaluation checks; not a copy. Not in module-list.nix: like
# nixpkgs, it is imported only for VMs (the test framework's nodes,
# `nixos-rebuild build-vm`).
#
# Read: NixOS/nixpkgs 00008e8eb762c5def2670c20231de50db9bb75b3 (a 2025 file:
# limine bootloader device, fileSystems.<n>.overlay for the writable store,
# erofs Nix store image, `qemu-common` imported as `{ inherit lib pkgs; }`,
# imports ./disk-size-option.nix). Taken as the 25.11 form.
#
# THE crucial behaviour, verbatim in effect:
#   fileSystems = lib.mkIf (cfg.fileSystems != { }) (mkVMOverride cfg.fileSystems);
# mkVMOverride = mkOverride 10 (vendored 25.11 lib/modules.nix). Priority 10
# beats normal definitions (100) and mkForce (50): inside a VM the WHOLE
# fileSystems attrset is replaced by virtualisation.fileSystems; a module's
# own fileSystems."/persist" or fileSystems."/var/lib/sss" is silently
# dropped unless it is also put in virtualisation.fileSystems. (The mkIf form
# is from PR #238847, 2023: `virtualisation.fileSystems = lib.mkForce { }`
# disables the override.) virtualisation.fileSystems has the very type of
# fileSystems (`virtualisation.fileSystems = options.fileSystems`), and gets
# by default: "/" (ext4 on virtualisation.rootDevice =
# /dev/disk/by-label/nixos, or tmpfs with diskImage = null), the 9p shares
# (/nix/.ro-store, /tmp/xchg, /tmp/shared), "/nix/store" (overlay on
# /nix/.ro-store when writableStore, else a bind mount) and "/nix/.rw-store"
# (tmpfs), "/tmp" when boot.tmp.useTmpfs.
#
# Options modelled (type, default): memorySize (ints.positive, 1024), msize,
# diskImage (nullOr str, "./<name>.qcow2"), emptyDiskImages (listOf
# ints.positive, []: extra qcow2 disks, /dev/vdb, /dev/vdc, ... after the root
# disk /dev/vda), cores (ints.positive, 1), vlans (listOf ints.unsigned,
# default [ 1 ] if `interfaces` is empty else []), interfaces (attrsOf
# { vlan (ints.unsigned); assignIP (bool, false) }), qemu.{package, options
# (listOf str, []), consoles, networkingOptions, drives, diskInterface,
# guestAgent.enable}, sharedDirectories, additionalPaths, forwardPorts
# (loose), restrictNetwork, writableStore, writableStoreUseTmpfs,
# mountHostNixStore, useNixStoreImage, useBootLoader, useEFIBoot,
# useDefaultFilesystems (true), rootDevice, bootLoaderDevice, graphics,
# directBoot.enable, host.pkgs, tpm.enable; networking.primaryIPAddress /
# primaryIPv6Address (str, "", internal -- set by the test network module).
# Other effects kept: swapDevices and boot.initrd.luks.devices mkVMOverride
# empty (with useDefaultFilesystems), services.timesyncd.enable = false
# (plain priority: "Don't run ntpd in the guest"), services.qemuGuest.enable,
# networking.usePredictableInterfaceNames = false (interfaces are eth0,
# eth1, ...), networking.wireless.enable = mkVMOverride false,
# networking.dhcpcd.extraConfig = "noarp", boot.loader.grub.device =
# mkVMOverride ("nodev" with useEFIBoot, else bootLoaderDevice),
# system.build.vm (fake, runs "run-<name>-vm").
{ config, lib, pkgs, options, ... }:

let
  cfg = config.virtualisation;
  fake = import ../../lib/fake-drv.nix { inherit lib; };
  qemu-common = import ../../lib/qemu-common.nix { inherit lib pkgs; };
  inherit (lib) mkOption mkVMOverride types;
  rootFilesystemLabel = "nixos";
  rootDriveSerialAttr = "root";
in
{
  imports = [
    ../profiles/qemu-guest.nix
    ./disk-size-option.nix
  ];

  options = {
    virtualisation.fileSystems = options.fileSystems;

    virtualisation.memorySize = mkOption {
      type = types.ints.positive;
      default = 1024;
      description = "The memory size of the virtual machine in MiB (1024×1024 bytes).";
    };
    virtualisation.msize = mkOption {
      type = types.ints.positive;
      default = 16384;
      description = "The msize (maximum packet size) option passed to 9p file systems, in bytes.";
    };
    virtualisation.diskImage = mkOption {
      type = types.nullOr types.str;
      default = "./${config.system.name}.qcow2";
      defaultText = lib.literalExpression ''"./''${config.system.name}.qcow2"'';
      description = "Path to the disk image containing the root filesystem (null: tmpfs root).";
    };
    virtualisation.bootLoaderDevice = mkOption {
      type = types.path;
      default = "/dev/disk/by-id/virtio-${rootDriveSerialAttr}";
      description = "The path (inside the VM) to the device to boot from when legacy booting.";
    };
    virtualisation.rootDevice = mkOption {
      type = types.nullOr types.path;
      default = "/dev/disk/by-label/${rootFilesystemLabel}";
      description = "The path (inside the VM) to the device containing the root filesystem.";
    };
    virtualisation.emptyDiskImages = mkOption {
      type = types.listOf types.ints.positive;
      default = [ ];
      description = ''
        Additional disk images to provide to the VM. The value is
        a list of size in MiB (1024×1024 bytes) of each disk. These disks are
        writeable by the VM.
      '';
    };
    virtualisation.graphics = mkOption {
      type = types.bool;
      default = true;
      description = "Whether to run QEMU with a graphics window, or in nographic mode.";
    };
    virtualisation.cores = mkOption {
      type = types.ints.positive;
      default = 1;
      description = "Specify the number of cores the guest is permitted to use.";
    };
    virtualisation.sharedDirectories = mkOption {
      type = types.attrsOf (
        types.submodule {
          options.source = mkOption {
            type = types.str;
            description = "The path of the directory to share, can be a shell variable";
          };
          options.target = mkOption {
            type = types.path;
            description = "The mount point of the directory inside the virtual machine";
          };
          options.securityModel = mkOption {
            type = types.enum [
              "passthrough"
              "mapped-xattr"
              "mapped-file"
              "none"
            ];
            default = "mapped-xattr";
            description = "The security model to use for this share.";
          };
        }
      );
      default = { };
      description = "Directories shared with the virtual machine using VirtFS (9P).";
    };
    virtualisation.additionalPaths = mkOption {
      type = types.listOf types.path;
      default = [ ];
      description = "A list of paths whose closure should be made available to the VM.";
    };
    virtualisation.forwardPorts = mkOption {
      type = types.listOf (types.attrsOf types.anything);
      default = [ ];
      description = "SLiRP port forwarding rules (loosely typed in this stub).";
    };
    virtualisation.restrictNetwork = mkOption {
      type = types.bool;
      default = false;
      description = "Isolate the guest from the host network (SLiRP restrict=on).";
    };
    virtualisation.vlans = mkOption {
      type = types.listOf types.ints.unsigned;
      default = if config.virtualisation.interfaces == { } then [ 1 ] else [ ];
      defaultText = lib.literalExpression ''if config.virtualisation.interfaces == {} then [ 1 ] else [ ]'';
      example = [
        1
        2
      ];
      description = ''
        Virtual networks to which the VM is connected. Each number N in this
        list gives the VM an interface (eth1, eth2, ... in list order) on a
        separate virtual network where it gets the address 192.168.N.M,
        M being the VM's node number.
      '';
    };
    virtualisation.interfaces = mkOption {
      type = types.attrsOf (
        types.submodule {
          options = {
            vlan = mkOption {
              type = types.ints.unsigned;
              description = "VLAN to which the network interface is connected.";
            };
            assignIP = mkOption {
              type = types.bool;
              default = false;
              description = "Automatically assign an IP address to the network interface using the same scheme as virtualisation.vlans.";
            };
          };
        }
      );
      default = { };
      example = {
        enp1s0.vlan = 1;
      };
      description = "Network interfaces to add to the VM.";
    };
    virtualisation.writableStore = mkOption {
      type = types.bool;
      default = cfg.mountHostNixStore;
      description = "Layer a writable overlay on top of the host's Nix store.";
    };
    virtualisation.writableStoreUseTmpfs = mkOption {
      type = types.bool;
      default = true;
      description = "Use a tmpfs for the writable store instead of writing to the VM's own filesystem.";
    };
    virtualisation.useNixStoreImage = mkOption {
      type = types.bool;
      default = false;
      description = "Build and use a disk image for the Nix store.";
    };
    virtualisation.mountHostNixStore = mkOption {
      type = types.bool;
      default = !cfg.useNixStoreImage && !cfg.useBootLoader;
      description = "Mount the host Nix store as a 9p mount.";
    };
    virtualisation.useBootLoader = mkOption {
      type = types.bool;
      default = false;
      description = "Use a boot loader to boot the system.";
    };
    virtualisation.useEFIBoot = mkOption {
      type = types.bool;
      default = false;
      description = "If enabled, the virtual machine will provide a EFI boot manager.";
    };
    virtualisation.useDefaultFilesystems = mkOption {
      type = types.bool;
      default = true;
      description = "Format and mount the boot disk with the default filesystems for testing.";
    };
    virtualisation.directBoot.enable = mkOption {
      type = types.bool;
      default = !cfg.useBootLoader;
      description = "Boot directly into the kernel instead of through a bootloader.";
    };
    virtualisation.host.pkgs = mkOption {
      type = types.raw;
      default = pkgs;
      description = "Package set to use for the host-specific packages of the VM runner.";
    };
    virtualisation.tpm.enable = lib.mkEnableOption "a TPM device in the virtual machine with a driver, using swtpm";
    virtualisation.qemu = {
      package = mkOption {
        type = types.package;
        default = pkgs.qemu_kvm or pkgs.qemu_test or (fake.fakeDrv "qemu" { });
        defaultText = lib.literalExpression "hostPkgs.qemu_kvm";
        description = "QEMU package to use.";
      };
      options = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "-vga std" ];
        description = "Options passed to QEMU.";
      };
      consoles = mkOption {
        type = types.listOf types.str;
        default =
          let
            consoles = [
              "${qemu-common.qemuSerialDevice},115200n8"
              "tty0"
            ];
          in
          if cfg.graphics then consoles else lib.reverseList consoles;
        description = "The output console devices passed to the kernel (`console=`).";
      };
      networkingOptions = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Networking-related command-line options that should be passed to qemu.";
      };
      drives = mkOption {
        type = types.listOf (types.attrsOf types.anything);
        default = [ ];
        description = "Drives passed to qemu (loosely typed in this stub).";
      };
      diskInterface = mkOption {
        type = types.enum [
          "virtio"
          "scsi"
          "ide"
        ];
        default = "virtio";
        description = "The interface used for the virtual hard disks.";
      };
      guestAgent.enable = mkOption {
        type = types.bool;
        default = true;
        description = "Enable the Qemu guest agent.";
      };
    };

    networking.primaryIPAddress = mkOption {
      type = types.str;
      default = "";
      internal = true;
      description = "Primary IP address used in /etc/hosts.";
    };
    networking.primaryIPv6Address = mkOption {
      type = types.str;
      default = "";
      internal = true;
      description = "Primary IPv6 address used in /etc/hosts.";
    };
  };

  config = {
    warnings = lib.optional (cfg.directBoot.enable && cfg.useBootLoader) ''
      You enabled direct boot and a bootloader, QEMU will not boot your bootloader, rendering
      `useBootLoader` useless. You might want to disable one of those options.
    '';

    boot.loader.grub.device = mkVMOverride (if cfg.useEFIBoot then "nodev" else cfg.bootLoaderDevice);

    boot.postBootCommands = lib.mkIf config.nix.enable ''
      if [[ "$(cat /proc/cmdline)" =~ regInfo=([^ ]*) ]]; then
        ${config.nix.package.out or config.nix.package}/bin/nix-store --load-db < ''${BASH_REMATCH[1]}
      fi
    '';

    boot.initrd.availableKernelModules = lib.optional (cfg.qemu.diskInterface == "scsi") "sym53c8xx";

    virtualisation.additionalPaths = [ config.system.build.toplevel ];

    virtualisation.sharedDirectories = {
      nix-store = lib.mkIf cfg.mountHostNixStore {
        source = builtins.storeDir;
        target = "/nix/.ro-store";
        securityModel = "none";
      };
      xchg = {
        source = ''"$TMPDIR"/xchg'';
        securityModel = "none";
        target = "/tmp/xchg";
      };
      shared = {
        source = ''"''${SHARED_DIR:-$TMPDIR/xchg}"'';
        target = "/tmp/shared";
        securityModel = "none";
      };
    };

    virtualisation.qemu.drives = lib.mkMerge [
      (lib.mkIf (cfg.diskImage != null) [
        {
          name = "root";
          file = ''"$NIX_DISK_IMAGE"'';
          deviceExtraOpts.serial = rootDriveSerialAttr;
        }
      ])
      (lib.imap0 (idx: size: {
        file = "$(pwd)/empty${toString idx}.qcow2";
        sizeMiB = size;
      }) cfg.emptyDiskImages)
    ];

    # By default, use mkVMOverride to enable building test VMs (e.g. via
    # `nixos-rebuild build-vm`) of a system configuration, where the regular
    # value for the `fileSystems' attribute should be disregarded.
    fileSystems = lib.mkIf (cfg.fileSystems != { }) (mkVMOverride cfg.fileSystems);

    virtualisation.diskSizeAutoSupported = false;

    # SLiRP user networking: the VM's first NIC (eth0 in tests).
    virtualisation.qemu.networkingOptions = [
      "-net nic,netdev=user.0,model=virtio"
      "-netdev user,id=user.0,\"$QEMU_NET_OPTS\""
    ];

    virtualisation.fileSystems =
      let
        mkSharedDir = tag: share: {
          name = share.target;
          value.device = tag;
          value.fsType = "9p";
          value.neededForBoot = true;
          value.options = [
            "trans=virtio"
            "version=9p2000.L"
            "msize=${toString cfg.msize}"
            "x-systemd.requires=modprobe@9pnet_virtio.service"
          ]
          ++ lib.optional (tag == "nix-store") "cache=loose";
        };
      in
      lib.mkMerge [
        (lib.mapAttrs' mkSharedDir cfg.sharedDirectories)
        {
          "/" = lib.mkIf cfg.useDefaultFilesystems (
            if cfg.diskImage == null then
              {
                device = "tmpfs";
                fsType = "tmpfs";
                options = [ "mode=755" ];
              }
            else
              {
                device = cfg.rootDevice;
                fsType = "ext4";
              }
          );
          "/tmp" = lib.mkIf config.boot.tmp.useTmpfs {
            device = "tmpfs";
            fsType = "tmpfs";
            neededForBoot = true;
            options = [
              "mode=1777"
              "strictatime"
              "nosuid"
              "nodev"
              "size=${toString config.boot.tmp.tmpfsSize}"
            ];
          };
          "/nix/store" = lib.mkIf (cfg.useNixStoreImage || cfg.mountHostNixStore) (
            if cfg.writableStore then
              {
                overlay = {
                  lowerdir = [ "/nix/.ro-store" ];
                  upperdir = "/nix/.rw-store/upper";
                  workdir = "/nix/.rw-store/work";
                };
              }
            else
              {
                device = "/nix/.ro-store";
                options = [ "bind" ];
              }
          );
          "/nix/.rw-store" = lib.mkIf (cfg.writableStore && cfg.writableStoreUseTmpfs) {
            fsType = "tmpfs";
            options = [ "mode=0755" ];
            neededForBoot = true;
          };
        }
      ];

    swapDevices = (if cfg.useDefaultFilesystems then mkVMOverride else lib.mkDefault) [ ];
    boot.initrd.luks.devices = (if cfg.useDefaultFilesystems then mkVMOverride else lib.mkDefault) { };

    # Don't run ntpd in the guest.  It should get the correct time from KVM.
    services.timesyncd.enable = false;

    services.qemuGuest.enable = cfg.qemu.guestAgent.enable;

    system.build.vm = fake.fakeDrv "nixos-vm" {
      mainProgram = "run-${config.system.name}-vm";
      qemuBinary = qemu-common.qemuBinary cfg.qemu.package;
      qemuOptions = cfg.qemu.options;
      memorySize = cfg.memorySize;
      emptyDiskImages = cfg.emptyDiskImages;
    };

    networking.wireless.enable = mkVMOverride false;
    networking.dhcpcd.extraConfig = "noarp";
    networking.usePredictableInterfaceNames = false;
  };
}
