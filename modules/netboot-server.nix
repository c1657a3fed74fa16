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
  # One role image as e2etd's --image directory: kernel, initrd, cmdline.
  roleImage =
    name: s:
    let
      c = s.config;
      target = s.pkgs.stdenv.hostPlatform.linux-kernel.target;
    in
    pkgs.linkFarm "e2et-image-${name}" [
      {
        name = "kernel";
        path = "${c.system.build.kernel}/${target}";
      }
      {
        name = "initrd";
        path = "${c.system.build.netbootRamdisk}/initrd";
      }
      {
        name = "cmdline";
        path = pkgs.writeText "e2et-image-${name}-cmdline" (
          lib.concatStringsSep " " ([ "init=${c.system.build.toplevel}/init" ] ++ c.boot.kernelParams)
        );
      }
    ];
in
{
  options.services.e2et.netbootServer = {
    enable = lib.mkEnableOption "serving a NixOS netboot image through e2etd";

    images = lib.mkOption {
      type = lib.types.attrsOf lib.types.raw;
      default = { };
      example = lib.literalExpression "{ aaa-domain-client = self.nixosConfigurations.netboot-aaa-domain-client; }";
      description = ''
        Role images by name: evaluated NixOS netboot systems, each served as
        `services.e2et.coordinator.images.<name>` (kernel, initrd and its
        `init=` command line) to the hosts whose inventory names it
        (`expect.image`). Each should set `system.image.id` to its name, so
        that the booted os-release says which image it is
        (check `first_boot.image`).
      '';
    };

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
        assertion = lib.all (s: s.config.system.build ? netbootRamdisk) (lib.attrValues cfg.images);
        message = "services.e2et.netbootServer.images: every image must import nixos/modules/installer/netboot/netboot.nix (no netbootRamdisk).";
      }
      {
        assertion = sys.system.build ? netbootRamdisk;
        message = "services.e2et.netbootServer.system must import nixos/modules/installer/netboot/netboot.nix (no netbootRamdisk).";
      }
    ];

    services.e2et.coordinator = {
      images = lib.mapAttrs (name: s: roleImage name s) cfg.images;
      artifacts = "${artifacts}";
      kernel = "bzImage";
      initrd = "initrd";
      kernelParams = lib.concatStringsSep " " (
        [ "init=${sys.system.build.toplevel}/init" ] ++ sys.boot.kernelParams
      );
    };
  };
}
