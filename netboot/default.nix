# The NixOS netboot image carrying the e2et agent: `nix build .#netboot`
# yields bzImage, initrd and netboot.ipxe, which the coordinator serves.
{
  config,
  lib,
  pkgs,
  modulesPath,
  ...
}:

let
  build = config.system.build;
  kernelTarget = pkgs.stdenv.hostPlatform.linux-kernel.target;
in
{
  # netboot.nix builds the kernel, the initrd with the whole system in it and
  # the iPXE script; minimal.nix drops documentation and the like. Not
  # netboot-minimal.nix: it pulls in installation-device.nix (root logged in
  # on every console, empty passwords, passwordless sudo, a nixpkgs channel
  # copy), and a host under test must not be open on its console.
  imports = [
    (modulesPath + "/installer/netboot/netboot.nix")
    (modulesPath + "/profiles/minimal.nix")
  ];

  services.e2et.agent.enable = true;

  boot.kernelParams = [ "console=ttyS0,115200" ];
  networking.hostName = lib.mkDefault "";
  networking.useDHCP = lib.mkDefault true;
  services.openssh.enable = true;
  services.chrony.enable = true;

  system.build.e2etNetboot = pkgs.linkFarm "e2et-netboot" [
    {
      name = "bzImage";
      path = "${build.kernel}/${kernelTarget}";
    }
    {
      name = "initrd";
      path = "${build.netbootRamdisk}/initrd";
    }
    {
      name = "netboot.ipxe";
      path = "${build.netbootIpxeScript}/netboot.ipxe";
    }
  ];

  system.stateVersion = "25.11";
}
