# Stub of nixpkgs nixos/modules/profiles/minimal.nix, written for e2et's
# evaluation checks; not a copy.
# Read: NixOS/nixpkgs 0148e16d (nixfmt-formatted, 2025: `let inherit (lib)
# mkDefault`, stub-ld, fish.generateCompletions, xdg.*). Everything is
# mkDefault; it does NOT touch users, getty, sudo or sshd (it is not what
# makes the installer open): documentation.{enable,doc,info,man,nixos} = false,
# environment.defaultPackages = [], environment.stub-ld.enable = false,
# programs.command-not-found.enable = false, programs.fish.generateCompletions
# = false, services.logrotate.enable = false, services.udisks2.enable = false,
# xdg.{autostart,icons,mime,sounds}.enable = false.
{ lib, ... }:

let
  inherit (lib) mkDefault;
in
{
  documentation = {
    enable = mkDefault false;
    doc.enable = mkDefault false;
    info.enable = mkDefault false;
    man.enable = mkDefault false;
    nixos.enable = mkDefault false;
  };

  environment = {
    defaultPackages = mkDefault [ ];
    stub-ld.enable = mkDefault false;
  };

  programs = {
    command-not-found.enable = mkDefault false;
    fish.generateCompletions = mkDefault false;
  };

  services = {
    logrotate.enable = mkDefault false;
    udisks2.enable = mkDefault false;
  };

  xdg = {
    autostart.enable = mkDefault false;
    icons.enable = mkDefault false;
    mime.enable = mkDefault false;
    sounds.enable = mkDefault false;
  };
}
