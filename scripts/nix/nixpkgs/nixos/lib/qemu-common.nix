# Stub of nixpkgs nixos/lib/qemu-common.nix, written for e2et's evaluation
# checks; not a copy.
#
# Version modelled: the 2025 file, read as infinixbot/nixpkgs 18ad13ed
# (nixfmt-formatted, `{ lib, pkgs }:` signature, `linuxHostGuestMatrix` /
# `otherHostGuestMatrix`, `hostStdenv.isLinux`). How it was judged to be the
# 25.11 form:
#   - 2025 consumers import it as `{ inherit lib pkgs; }`: nixos/lib/testing/
#     network.nix of infinixbot 4998c0ab and qemu-vm.nix of NixOS/nixpkgs
#     00008e8e (a 2025 file: limine, fileSystems.<n>.overlay, erofs store image).
#   - The `{ lib, stdenv }` form is 2026: NixOS/nixpkgs 003d5816:nixos/lib/
#     testing/network.nix imports it as `{ inherit (pkgs) lib stdenv; }` next to
#     the 2026 nspawn "containers" support (PR #478109, opened 2026-01-08).
#   So at 25.11 the signature is `{ lib, pkgs }` and calling it with
#   `{ lib, stdenv }` fails ("called with unexpected argument 'stdenv'").
#
# Results reproduced exactly:
#   qemuNicMac net machine   = "52:54:00:12:<net>:<machine>", each a
#                               lower-case hex byte zero-padded to 2 digits
#                               (lib.toHexString is upper-case: 10 -> "0A";
#                               255 max, else throw).
#   qemuNICFlags nic net machine = [ "-device virtio-net-pci,netdev=vlan<nic>,mac=<mac>"
#                                    "-netdev vde,id=vlan<nic>,sock=\"$QEMU_VDE_SOCKET_<net>\"" ]
#   qemuSerialDevice         = "ttyS0" on x86/loongarch64/mips64/riscv,
#                              "ttyAMA0" on aarch/power.
#   qemuBinary qemuPkg       = on a Linux host: x86_64-linux guest ->
#                              "${qemuPkg}/bin/qemu-kvm -cpu max", aarch64-linux ->
#                              "...qemu-system-aarch64 -machine virt,gic-version=max,accel=kvm:tcg -cpu max",
#                              other guests per the matrix, unknown -> "${qemuPkg}/bin/qemu-kvm".
# Note on the hex: nixpkgs uses lib.toHexString, which yields upper-case
# letters ("0A"); udev rules in network.nix lower-case the MAC. Reproduced as is.
{ lib, pkgs }:

let
  zeroPad =
    n:
    lib.optionalString (n < 16) "0"
    + (if n > 255 then throw "Can't have more than 255 nets or nodes!" else lib.toHexString n);
in

rec {
  qemuNicMac = net: machine: "52:54:00:12:${zeroPad net}:${zeroPad machine}";

  qemuNICFlags = nic: net: machine: [
    "-device virtio-net-pci,netdev=vlan${toString nic},mac=${qemuNicMac net machine}"
    ''-netdev vde,id=vlan${toString nic},sock="$QEMU_VDE_SOCKET_${toString net}"''
  ];

  qemuSerialDevice =
    let
      p = pkgs.stdenv.hostPlatform;
    in
    if (p.isx86 or false) || (p.isLoongArch64 or false) || (p.isMips64 or false) || (p.isRiscV or false) then
      "ttyS0"
    else if (p.isAarch or false) || (p.isPower or false) then
      "ttyAMA0"
    else
      throw "Unknown QEMU serial device for system '${p.system}'";

  qemuBinary =
    qemuPkg:
    let
      hostStdenv = qemuPkg.stdenv or pkgs.stdenv;
      hostSystem = hostStdenv.system or hostStdenv.hostPlatform.system;
      guestSystem = pkgs.stdenv.hostPlatform.system;

      linuxHostGuestMatrix = {
        x86_64-linux = "${qemuPkg}/bin/qemu-kvm -cpu max";
        armv7l-linux = "${qemuPkg}/bin/qemu-system-arm -machine virt,accel=kvm:tcg -cpu max";
        aarch64-linux = "${qemuPkg}/bin/qemu-system-aarch64 -machine virt,gic-version=max,accel=kvm:tcg -cpu max";
        powerpc64le-linux = "${qemuPkg}/bin/qemu-system-ppc64 -machine powernv";
        powerpc64-linux = "${qemuPkg}/bin/qemu-system-ppc64 -machine powernv";
        x86_64-darwin = "${qemuPkg}/bin/qemu-kvm -cpu max";
      };
      otherHostGuestMatrix = {
        aarch64-darwin = {
          aarch64-linux = "${qemuPkg}/bin/qemu-system-aarch64 -machine virt,gic-version=2,accel=hvf:tcg -cpu max";
          inherit (otherHostGuestMatrix.x86_64-darwin) x86_64-linux;
        };
        x86_64-darwin = {
          x86_64-linux = "${qemuPkg}/bin/qemu-system-x86_64 -machine type=q35,accel=hvf:tcg -cpu max";
        };
      };

      throwUnsupportedHostSystem =
        throw "Unsupported host system ${hostSystem}, supported: ${
          lib.concatStringsSep ", " ([ "linux" ] ++ lib.attrNames otherHostGuestMatrix)
        }";
      throwUnsupportedGuestSystem =
        guestMap:
        throw "Unsupported guest system ${guestSystem} for host ${hostSystem}, supported: ${lib.concatStringsSep ", " (lib.attrNames guestMap)}";
      hostIsLinux = hostStdenv.isLinux or hostStdenv.hostPlatform.isLinux or true;
    in
    if hostIsLinux then
      linuxHostGuestMatrix.${guestSystem} or "${qemuPkg}/bin/qemu-kvm"
    else
      let
        guestMap = otherHostGuestMatrix.${hostSystem} or throwUnsupportedHostSystem;
      in
      guestMap.${guestSystem} or (throwUnsupportedGuestSystem guestMap);
}
