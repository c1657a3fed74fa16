# services.e2et.netbootServer: serve a NixOS netboot system (kernel, initrd
# and its init= command line) through the coordinator's boot API.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.e2et.netbootServer;
  sys = cfg.system.config;
  kernelTarget = cfg.system.pkgs.stdenv.hostPlatform.linux-kernel.target;
  artifacts = pkgs.linkFarm "e2et-netboot-artifacts" [
    {
      name = "bzImage";
      path = "${sys.system.build.kernel}/${kernelTarget}";
    }
    {
      name = "initrd";
      path = "${sys.system.build.netbootRamdisk}/initrd";
    }
  ];
in
{
  options.services.e2et.netbootServer = {
    enable = lib.mkEnableOption "serving a NixOS netboot image through e2etd";

    system = lib.mkOption {
      type = lib.types.raw;
      example = lib.literalExpression "self.nixosConfigurations.netboot";
      description = ''
        The evaluated NixOS netboot system (a `nixosSystem` importing
        installer/netboot/netboot.nix). Its kernel and initrd are served, and
        its `init=` and kernel parameters go into every boot script.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = sys.system.build ? netbootRamdisk;
        message = "services.e2et.netbootServer.system must import nixos/modules/installer/netboot/netboot.nix (no netbootRamdisk).";
      }
    ];

    services.e2et.coordinator = {
      artifacts = "${artifacts}";
      kernel = "bzImage";
      initrd = "initrd";
      kernelParams = lib.concatStringsSep " " (
        [ "init=${sys.system.build.toplevel}/init" ] ++ sys.boot.kernelParams
      );
    };
  };
}
