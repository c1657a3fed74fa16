# All e2et NixOS modules. The flake's nixosModules.default wraps the same files
# and sets each module's package from the flake.
{
  imports = [ ./coordinator.nix ];
}
