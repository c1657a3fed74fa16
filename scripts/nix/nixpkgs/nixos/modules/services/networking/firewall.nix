# Stub of nixpkgs nixos/modules/services/networking/firewall.nix (subset),
# written for e2et's evaluation checks; not a copy.
#
# Modelled on the 25.x module (not read page by page):
#   networking.firewall.enable               bool, true
#   networking.firewall.allowedTCPPorts      listOf port (0..65535), []
#   networking.firewall.allowedUDPPorts      listOf port, []
#   networking.firewall.allowedTCPPortRanges listOf (attrsOf port), []
#   networking.firewall.allowedUDPPortRanges listOf (attrsOf port), []
#   networking.firewall.interfaces.<name>.{allowedTCPPorts,allowedUDPPorts,
#     allowedTCPPortRanges,allowedUDPPortRanges}  (same types, per interface)
#   networking.firewall.trustedInterfaces    listOf str, []
#   networking.firewall.logRefusedConnections bool, true
{ lib, ... }:

let
  inherit (lib) mkOption types;
  commonOptions = {
    allowedTCPPorts = mkOption {
      type = types.listOf types.port;
      default = [ ];
      apply = lib.unique;
      description = "List of TCP ports on which incoming connections are accepted.";
    };
    allowedUDPPorts = mkOption {
      type = types.listOf types.port;
      default = [ ];
      apply = lib.unique;
      description = "List of open UDP ports.";
    };
    allowedTCPPortRanges = mkOption {
      type = types.listOf (types.attrsOf types.port);
      default = [ ];
      description = "A range of TCP ports on which incoming connections are accepted.";
    };
    allowedUDPPortRanges = mkOption {
      type = types.listOf (types.attrsOf types.port);
      default = [ ];
      description = "Range of open UDP ports.";
    };
  };
in
{
  options.networking.firewall = commonOptions // {
    enable = mkOption {
      type = types.bool;
      default = true;
      description = "Whether to enable the firewall.";
    };
    interfaces = mkOption {
      type = types.attrsOf (types.submodule { options = commonOptions; });
      default = { };
      description = "Interface-specific open ports.";
    };
    trustedInterfaces = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Traffic coming in from these interfaces will be accepted unconditionally.";
    };
    logRefusedConnections = mkOption {
      type = types.bool;
      default = true;
      description = "Whether to log rejected or dropped incoming connections.";
    };
  };
}
