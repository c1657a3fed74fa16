# Stub of nixpkgs nixos/modules/security/krb5/default.nix (subset), written
# for e2et's evaluation checks; not a copy.
#   security.krb5.enable: bool, default false (renamed from krb5.enable in
#   24.05; ipa.nix asserts it is false).
#   security.krb5.settings: loose here (nixpkgs: a krb5-conf-format
#   freeform type -- a complex custom type, hence attrsOf anything).
{ lib, ... }:

{
  options.security.krb5 = {
    enable = lib.mkEnableOption "building krb5.conf, configuration file for Kerberos V";
    settings = lib.mkOption {
      type = lib.types.attrsOf lib.types.anything;
      default = { };
      description = "Structured contents of the {file}`krb5.conf` file (loose in this stub).";
    };
  };
}
