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

      # Module files never mention the flake: this wrapper gives each the
      # package built here as a default.
      # The key lets the module system import the wrapper once however many
      # times it is reached (nixosModules.default and nixosModules.agent
      # together): without it the package default is defined twice.
      withPackage =
        file: path:
        { pkgs, lib, ... }:
        {
          key = "${toString file}#e2et-flake-package";
          _file = "${toString ./flake.nix}#nixosModules";
          imports = [ file ];
          config = lib.setAttrByPath (path ++ [ "package" ]) (
            lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.e2et
          );
        };

      # The netboot image with the agent, for one system.
      mkNetboot =
        system:
        lib.nixosSystem {
          inherit system;
          modules = [
            self.nixosModules.agent
            ./netboot
          ];
        };

      # Every vmtests/<name>.nix except the shared common.nix.
      vmtestNames = lib.mapAttrsToList (n: _: lib.removeSuffix ".nix" n) (
        lib.filterAttrs (n: t: t == "regular" && lib.hasSuffix ".nix" n && n != "common.nix") (
          builtins.readDir ./vmtests
        )
      );
    in
    {
      packages = forAllSystems (
        system: pkgs: {
          e2et = pkgs.callPackage ./package.nix { };
          e2et-lab = pkgs.callPackage ./package.nix { lab = true; };
          netboot = (mkNetboot system).config.system.build.e2etNetboot;
          default = self.packages.${system}.e2et;
        }
      );

      nixosModules = {
        coordinator = withPackage ./modules/coordinator.nix [
          "services"
          "e2et"
          "coordinator"
        ];
        agent = withPackage ./modules/agent.nix [
          "services"
          "e2et"
          "agent"
        ];
        identity = ./modules/identity.nix;
        netboot-server = ./modules/netboot-server.nix;
        default = {
          imports = with self.nixosModules; [
            coordinator
            agent
            identity
            netboot-server
          ];
        };
      };

      nixosConfigurations = {
        coordinator = lib.nixosSystem {
          system = "x86_64-linux";
          modules = [
            self.nixosModules.default
            ./hosts/coordinator
            { services.e2et.netbootServer.system = self.nixosConfigurations.netboot; }
          ];
        };
        k10 = lib.nixosSystem {
          system = "x86_64-linux";
          modules = [
            self.nixosModules.default
            ./hosts/k10
          ];
        };
        netboot = mkNetboot "x86_64-linux";
      };

      # Generated from the packages, the deployable hosts and vmtests/, not
      # hand-listed. VM tests and host builds are x86_64-only.
      checks = forAllSystems (
        system: pkgs:
        lib.mapAttrs' (n: p: lib.nameValuePair "package-${n}" p) self.packages.${system}
        // lib.optionalAttrs (system == "x86_64-linux") (
          lib.mapAttrs' (
            n: c: lib.nameValuePair "host-${n}" c.config.system.build.toplevel
          ) self.nixosConfigurations
          // lib.listToAttrs (
            map (
              n:
              lib.nameValuePair "vmtest-${n}" (
                import ./vmtests/${n}.nix {
                  inherit pkgs lib self;
                }
              )
            ) vmtestNames
          )
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
