# Stub of nixpkgs nixos/modules/misc/documentation.nix (the enable toggles),
# written for e2et's evaluation checks; not a copy.
#   documentation.{enable,man.enable,info.enable,doc.enable,nixos.enable}:
#   bool, default true (25.x). profiles/minimal.nix sets them to mkDefault
#   false; installation-device.nix forces documentation.enable and
#   documentation.nixos.enable back to true with mkImageMediaOverride.
{ lib, ... }:

let
  toggle = what: lib.mkOption {
    type = lib.types.bool;
    default = true;
    description = "Whether to install ${what}.";
  };
in
{
  options.documentation = {
    enable = toggle "documentation of packages from environment.systemPackages";
    man.enable = toggle "manual pages";
    info.enable = toggle "info pages";
    doc.enable = toggle "documentation distributed in packages' /share/doc";
    nixos.enable = toggle "NixOS's own documentation";
  };
}
