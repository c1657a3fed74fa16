# Stub of nixpkgs nixos/modules/profiles/base.nix, written for e2et's
# evaluation checks; not a copy.
# The nixpkgs profile (used by netboot-base.nix and the ISO images) adds
# rescue tools to environment.systemPackages and sets
# boot.supportedFilesystems for common file systems; nothing security
# relevant. Modelled loosely (25.x, not read page by page): a few of the
# packages (fake when the package set lacks them) and the file systems list.
{ lib, pkgs, ... }:

let
  fake = import ../../lib/fake-drv.nix { inherit lib; };
in
{
  environment.systemPackages = map (fake.pkgOr pkgs) [
    "w3m-nographics"
    "testdisk"
    "ms-sys"
    "efibootmgr"
    "efivar"
    "parted"
    "gptfdisk"
    "ddrescue"
    "ccrypt"
    "cryptsetup"
    "fuse"
    "fuse3"
    "sshfs-fuse"
    "socat"
    "screen"
    "tcpdump"
    "sdparm"
    "hdparm"
    "smartmontools"
    "pciutils"
    "usbutils"
    "nvme-cli"
    "unzip"
    "zip"
  ];

  boot.supportedFilesystems = [
    "btrfs"
    "cifs"
    "f2fs"
    "ntfs"
    "vfat"
    "xfs"
  ];
}
