# Stub of nixpkgs nixos/modules/system/boot/stage-2.nix (one option), written
# for e2et's evaluation checks; not a copy.
#   boot.postBootCommands: lines, default "" (shell commands run at the end of
#   stage 2; netboot.nix, channel.nix and qemu-vm.nix append to it at 25.x).
{ lib, ... }:

{
  options.boot.postBootCommands = lib.mkOption {
    type = lib.types.lines;
    default = "";
    description = "Shell commands to be executed just before systemd is started.";
  };
}
