# Stub of nixpkgs nixos/modules/module-list.nix for e2et's evaluation checks;
# not a copy.
#
# nixpkgs' module-list.nix (read at NixOS/nixpkgs 7e11627, a 25.11-window
# snapshot) is the list of every NixOS module every system imports, most of
# them inert until enabled. This is the same idea restricted to the stub
# modules of this tree: everything e2et's modules, hosts, netboot image and VM
# test nodes set or read outside services.e2et.*. Like nixpkgs it does NOT
# include the profiles, the installer modules or virtualisation/qemu-vm.nix:
# those are imported explicitly (`modulesPath + "/installer/netboot/..."`,
# the test framework for VM nodes).
#
# Usage (with the vendored 25.11 lib):
#   lib.evalModules {
#     specialArgs.modulesPath = <this dir>;
#     modules = import ./module-list.nix ++ [
#       { _module.args.pkgs = fakePkgs; } ./host.nix ];
#   }
[
  ./config/ldap.nix
  ./config/nix.nix
  ./config/nsswitch.nix
  ./config/system-path.nix
  ./config/users-groups.nix
  ./misc/assertions.nix
  ./misc/documentation.nix
  ./misc/extra-arguments.nix
  ./misc/minor-toggles.nix
  ./misc/nixpkgs.nix
  ./misc/version.nix
  ./security/ca.nix
  ./security/ipa.nix
  ./security/krb5/default.nix
  ./security/sudo.nix
  ./services/databases/openldap.nix
  ./services/logging/logrotate.nix
  ./services/misc/sssd.nix
  ./services/networking/dnsmasq.nix
  ./services/networking/firewall.nix
  ./services/networking/ntp/chrony.nix
  ./services/networking/ntp/ntpd.nix
  ./services/networking/ssh/sshd.nix
  ./services/system/nscd.nix
  ./services/ttys/getty.nix
  ./system/activation/top-level.nix
  ./system/boot/kernel.nix
  ./system/boot/loader/efi.nix
  ./system/boot/loader/grub/grub.nix
  ./system/boot/loader/loader.nix
  ./system/boot/loader/systemd-boot/systemd-boot.nix
  ./system/boot/stage-1.nix
  ./system/boot/stage-2.nix
  ./system/boot/systemd.nix
  ./system/boot/systemd/tmpfiles.nix
  ./system/boot/timesyncd.nix
  ./system/etc/etc.nix
  ./tasks/filesystems.nix
  ./tasks/network-interfaces.nix
]
