# Stub of nixpkgs nixos/modules/services/ttys/getty.nix (subset), written for
# e2et's evaluation checks; not a copy.
#   services.getty.autologinUser: nullOr str, default null -- the user logged
#     in automatically on the virtual consoles (installation-device.nix sets
#     "nixos").
#   services.getty.helpLine (lines, ""), greetingLine (str), loginProgram,
#   extraArgs (listOf str).
{ lib, pkgs, ... }:

{
  options.services.getty = {
    autologinUser = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      description = "Username of the account that will be automatically logged in at the console.";
    };
    helpLine = lib.mkOption {
      type = lib.types.lines;
      default = "";
      description = "Help line printed by mingetty below the welcome line.";
    };
    greetingLine = lib.mkOption {
      type = lib.types.str;
      default = "<<< Welcome to NixOS (\\m) - \\l >>>";
      description = "Welcome line printed by agetty.";
    };
    extraArgs = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      description = "Additional arguments passed to agetty.";
    };
  };
}
