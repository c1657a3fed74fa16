# Stub of nixpkgs nixos/modules/virtualisation/disk-size-option.nix, written
# for e2et's evaluation checks; not a copy.
# qemu-vm.nix of 2025 (NixOS/nixpkgs 00008e8e) imports ./disk-size-option.nix
# for virtualisation.diskSize and sets virtualisation.diskSizeAutoSupported =
# false. Modelled (25.x, not read page by page):
#   virtualisation.diskSize: either (enum [ "auto" ]) ints.positive, default
#     1024 (MiB); "auto" is rejected by an assertion when not supported.
#   virtualisation.diskSizeAutoSupported: bool, internal, default true.
{ config, lib, ... }:

{
  options.virtualisation = {
    diskSize = lib.mkOption {
      type = with lib.types; either (enum [ "auto" ]) ints.positive;
      default = 1024;
      description = "The disk size in megabytes of the virtual machine.";
    };
    diskSizeAutoSupported = lib.mkOption {
      type = lib.types.bool;
      default = true;
      internal = true;
      description = "Whether the current image builder or vm runner supports `virtualisation.diskSize = \"auto\"`.";
    };
  };

  config.assertions = [
    {
      assertion = config.virtualisation.diskSize != "auto" || config.virtualisation.diskSizeAutoSupported;
      message = "Setting virtualisation.diskSize to `auto` is not supported by the current image build or vm runner; use an explicit size.";
    }
  ];
}
