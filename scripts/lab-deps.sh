#!/usr/bin/env bash
# Installs what the lab and the tests need on a fresh Debian bookworm machine
# (no Nix store, no KVM) and unpacks a Debian kernel into .cache/kernel.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(qemu-system-x86 ipxe-qemu dnsmasq-base busybox-static cpio kmod nix-bin
      iproute2 e2fsprogs binutils snmpd snmp)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "lab-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  extra=()
  # A newer qemu-utils (from backports) Breaks bookworm's qemu-system-common;
  # take bookworm's qemu-utils alongside so apt can resolve it.
  if dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null | grep -q bpo; then
    extra=(qemu-utils/bookworm --allow-downgrades)
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" "${extra[@]}" >/dev/null
fi

kdir=.cache/kernel
if ! ls "$kdir"/root/boot/vmlinuz-* >/dev/null 2>&1; then
  find_kernel() {
    apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -n 1
  }
  ver=$(find_kernel)
  if [ -z "$ver" ]; then apt-get update -qq; ver=$(find_kernel); fi
  [ -n "$ver" ] || { echo "lab-deps: no linux-image-6.1.0-*-amd64 in apt (run apt-get update)" >&2; exit 1; }
  echo "lab-deps: fetching $ver (unpacked, not installed)"
  rm -rf "$kdir" && mkdir -p "$kdir/deb"
  (cd "$kdir/deb" && apt-get download -qq "$ver")
  dpkg-deb -x "$kdir"/deb/*.deb "$kdir/root"
  kver=$(ls "$kdir/root/lib/modules")
  depmod -b "$kdir/root" "$kver"
  rm -rf "$kdir/deb"
fi
echo "lab-deps: ok ($(ls "$kdir"/root/boot/vmlinuz-*))"
