# Stub of nixpkgs nixos/modules/security/ca.nix (subset), written for e2et's
# evaluation checks; not a copy.
#   security.pki.certificateFiles: listOf path, default [] (ipa.nix adds its
#   CA certificate); security.pki.certificates: listOf str;
#   security.pki.installCACerts: bool, true.
{ lib, ... }:

{
  options.security.pki = {
    installCACerts = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Whether to enable certificate management with nixpkgs.";
    };
    certificateFiles = lib.mkOption {
      type = lib.types.listOf lib.types.path;
      default = [ ];
      description = "A list of files containing trusted root certificates in PEM format.";
    };
    certificates = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      description = "A list of trusted root certificates in PEM format.";
    };
  };
}
