# Stub of nixpkgs nixos/modules/profiles/qemu-guest.nix, written for e2et's
# evaluation checks; not a copy.
# nixpkgs: virtio modules for the initrd (25.x, not read page by page).
{ ... }:

{
  boot.initrd.availableKernelModules = [
    "virtio_net"
    "virtio_pci"
    "virtio_mmio"
    "virtio_blk"
    "virtio_scsi"
    "9p"
    "9pnet_virtio"
  ];
  boot.initrd.kernelModules = [
    "virtio_balloon"
    "virtio_console"
    "virtio_rng"
    "virtio_gpu"
  ];
}
