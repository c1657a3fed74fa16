{
  description = "e2et: decide, with evidence, whether a bare-metal host is fit for release";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});

      # The module files never mention the flake: this wrapper gives them the
      # package built here as a default.
      withPackage =
        module: option:
        { pkgs, lib, ... }:
        {
          imports = [ module ];
          config = lib.setAttrByPath (option ++ [ "package" ]) (
            lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.e2et
          );
        };
    in
    {
      packages = forAllSystems (
        system: pkgs: {
          e2et = pkgs.callPackage ./package.nix { };
          default = self.packages.${system}.e2et;
        }
      );

      nixosModules = {
        coordinator = withPackage ./modules/coordinator.nix [
          "services"
          "e2et"
          "coordinator"
        ];
        default = self.nixosModules.coordinator;
      };

      nixosConfigurations.coordinator = lib.nixosSystem {
        system = "x86_64-linux";
        modules = [
          self.nixosModules.default
          ./hosts/coordinator
        ];
      };

      # Generated from the packages and the deployable hosts, not hand-listed.
      checks = forAllSystems (
        system: _pkgs:
        lib.mapAttrs' (n: p: lib.nameValuePair "package-${n}" p) self.packages.${system}
        // lib.optionalAttrs (system == "x86_64-linux") (
          lib.mapAttrs' (
            n: c: lib.nameValuePair "host-${n}" c.config.system.build.toplevel
          ) self.nixosConfigurations
        )
      );

      devShells = forAllSystems (
        system: pkgs: {
          default = pkgs.mkShell {
            inputsFrom = [ self.packages.${system}.e2et ];
            packages = with pkgs; [
              cargo
              rustc
              clippy
              rustfmt
              qemu
              dnsmasq
              net-snmp
              busybox
              cpio
              nix
            ];
          };
        }
      );

      formatter = forAllSystems (_system: pkgs: pkgs.nixfmt-tree);
    };
}
