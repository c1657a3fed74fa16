# Stub of nixpkgs nixos/modules/system/boot/kernel.nix (subset) and
# nixos/modules/config/sysctl.nix (boot.kernel.sysctl, loosely), written for
# e2et's evaluation checks; not a copy.
#
# Modelled on the 25.x modules (not read page by page):
#   boot.kernelPackages   raw; nixpkgs default pkgs.linuxPackages. Here:
#                         pkgs.linuxPackages if the fake set has it, else
#                         { kernel = pkgs.linux; }.
#   boot.kernelParams     listOf kernelParam, the 25.x type
#                         strMatching ''([^"[:space:]]|"[^"]*")+'': one
#                         parameter per element, spaces only inside double
#                         quotes ("console=ttyS0 quiet" as one element fails).
#   boot.kernelModules, boot.initrd.availableKernelModules,
#   boot.initrd.kernelModules: listOf str, default [].
#   boot.kernel.sysctl: attrsOf anything here (nixpkgs: a custom
#                       "sysctl option value" type -- loose on purpose).
#   system.build.kernel = config.boot.kernelPackages.kernel (what netboot.nix
#                       and e2et's netboot-server read, with
#                       "${kernel}/${pkgs.stdenv.hostPlatform.linux-kernel.target}").
#   system.boot.loader.kernelFile defaults to that target (loader.nix).
{ config, lib, pkgs, ... }:

let
  fake = import ../../../lib/fake-drv.nix { inherit lib; };
  inherit (lib) mkOption types;
  kernelParam =
    types.strMatching ''([^"[:space:]]|"[^"]*")+''
    // {
      name = "kernelParam";
      description = "string, with spaces inside double quotes";
    };
in
{
  options = {
    boot.kernelPackages = mkOption {
      type = types.raw;
      default = pkgs.linuxPackages or { kernel = fake.pkgOr pkgs "linux"; };
      defaultText = lib.literalExpression "pkgs.linuxPackages";
      description = "The kernel package set (its `kernel` is booted).";
    };
    boot.kernelParams = mkOption {
      type = types.listOf kernelParam;
      default = [ ];
      description = "Parameters added to the kernel command line.";
    };
    boot.kernelModules = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Kernel modules loaded in the second stage.";
    };
    boot.extraModulePackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
      description = "Extra out-of-tree kernel module packages.";
    };
    boot.initrd.availableKernelModules = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Kernel modules available in the initrd.";
    };
    boot.initrd.kernelModules = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Kernel modules always loaded by the initrd.";
    };
    boot.kernel.sysctl = mkOption {
      type = types.attrsOf types.anything;
      default = { };
      description = "Runtime kernel parameters (loosely typed in this stub).";
    };
  };

  config.system.build.kernel = config.boot.kernelPackages.kernel;
}
