# Stub of nixpkgs nixos/modules/installer/scan/detected.nix, written for
# e2et's evaluation checks; not a copy.
# In nixpkgs it enables firmware for commonly detected wireless devices
# (networking.enableIntel2200BGFirmware = mkDefault true). Nothing relevant
# to e2et's checks; modelled as an empty module.
{ ... }:

{ }
