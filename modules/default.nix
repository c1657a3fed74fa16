# All e2et NixOS modules. The flake's nixosModules wrap the same files and set
# each module's package from the flake.
{
  imports = [
    ./coordinator.nix
    ./agent.nix
    ./identity.nix
    ./netboot-server.nix
  ];
}
