# Stub of nixpkgs nixos/modules/config/ldap.nix (one option), written for
# e2et's evaluation checks; not a copy.
#   users.ldap.enable: bool, default false (ipa.nix asserts it is false).
{ lib, ... }:

{
  options.users.ldap.enable = lib.mkEnableOption "authentication against an LDAP server";
}
