# The per-node part of nixpkgs' test framework (nixos/lib/testing/network.nix
# at 25.11, see nixpkgs/NOTES.md): nodes are numbered from 1 in the order of
# their names; the i-th VLAN of a node is eth<i> with 192.168.<vlan>.<node>/24
# (its MAC is 52:54:00:12:<vlan>:<node>, nixos/lib/qemu-common.nix).
{ config, lib, ... }:
let
  t = config.virtualisation.test;
in
{
  options.virtualisation.test = {
    nodeName = lib.mkOption {
      type = lib.types.str;
      internal = true;
      description = "The node's name in the test.";
    };
    nodeNumber = lib.mkOption {
      type = lib.types.int;
      internal = true;
      description = "The node's number: its place among the test's node names, from 1.";
    };
  };
  config = {
    networking.hostName = lib.mkDefault t.nodeName;
    networking.interfaces = lib.listToAttrs (
      lib.imap1 (
        i: vlan:
        lib.nameValuePair "eth${toString i}" {
          ipv4.addresses = [
            {
              address = "192.168.${toString vlan}.${toString t.nodeNumber}";
              prefixLength = 24;
            }
          ];
        }
      ) config.virtualisation.vlans
    );
  };
}
