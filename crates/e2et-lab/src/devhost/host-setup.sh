#!/bin/sh
# Runs inside the identity host's mount, UTS and network namespaces (e2et-lab
# scenario identity). Gives the host a private /etc (an overlay over the
# machine's), /run, /home and the daemons' state directories, then writes the
# configuration of an IPA/SSSD client as ipa-client-install would leave it.
# Nothing here touches the machine outside these namespaces.
# $1: the scenario's run directory.
set -eu
D="$1"
hostname idhost
mkdir -p "$D/ovl"
mount -t tmpfs tmpfs "$D/ovl"
mkdir -p "$D/ovl/etc" "$D/ovl/etc-work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$D/ovl/etc,workdir=$D/ovl/etc-work" /etc
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/dbus /run/sshd /run/chrony
chown _chrony:_chrony /run/chrony 2>/dev/null || true
for d in /var/lib/sss /var/log /home /var/lib/chrony; do mount -t tmpfs tmpfs "$d"; done
mkdir -p /var/lib/sss/db /var/lib/sss/pipes/private /var/lib/sss/mc \
  /var/lib/sss/pubconf/krb5.include.d /var/lib/sss/gpo_cache /var/log/sssd /var/log/chrony
chmod 700 /var/lib/sss/db /var/lib/sss/pipes/private
chown _chrony:_chrony /var/lib/chrony /var/log/chrony 2>/dev/null || true

echo idhost > /etc/hostname
printf 'search lab.e2et.test\nnameserver 10.98.0.1\n' > /etc/resolv.conf
printf '127.0.0.1 localhost\n::1 localhost\n' > /etc/hosts
cat > /etc/nsswitch.conf <<EOF
passwd: files sss
group: files sss
shadow: files sss
hosts: files dns
sudoers: files sss
EOF

mkdir -p /etc/sssd
cat > /etc/sssd/sssd.conf <<EOF
[sssd]
services = nss, pam, sudo, ssh, ifp
domains = lab.e2et.test

[domain/lab.e2et.test]
id_provider = ldap
auth_provider = ldap
ldap_uri = ldap://10.98.0.1:389
ldap_search_base = dc=lab,dc=e2et,dc=test
ldap_auth_disable_tls_never_use_in_production = true
cache_credentials = True
EOF
chown root:root /etc/sssd/sssd.conf
chmod 600 /etc/sssd/sssd.conf

# What ipa-client-install writes; the IPA server itself cannot run here.
mkdir -p /etc/ipa
cat > /etc/ipa/default.conf <<EOF
[global]
basedn = dc=lab,dc=e2et,dc=test
realm = LAB.E2ET.TEST
domain = lab.e2et.test
server = ipa.lab.e2et.test
host = idhost.lab.e2et.test
xmlrpc_uri = https://ipa.lab.e2et.test/ipa/xml
enable_ra = True
EOF

# The host keytab, written by MIT Kerberos' own ktutil.
rm -f /etc/krb5.keytab
printf 'addent -password -p host/idhost.lab.e2et.test@LAB.E2ET.TEST -k 2 -e aes256-cts-hmac-sha1-96\nhost-secret\nwkt /etc/krb5.keytab\nquit\n' | ktutil >/dev/null
chmod 600 /etc/krb5.keytab

# The break-glass account: local files only, a password and a key.
useradd -m -d /home/rescue -s /bin/bash rescue
echo 'rescue:break-glass-only-in-the-lab' | chpasswd 2>/dev/null
mkdir -p /home/rescue/.ssh
ssh-keygen -q -t ed25519 -N '' -C rescue@idhost -f "$D/rescue-key"
cp "$D/rescue-key.pub" /home/rescue/.ssh/authorized_keys
chown -R rescue:rescue /home/rescue/.ssh
chmod 700 /home/rescue/.ssh

rm -f /etc/ssh/ssh_host_*
ssh-keygen -A >/dev/null
cat > /etc/ssh/sshd_config <<EOF
ListenAddress 10.98.0.10
PermitRootLogin no
AuthorizedKeysCommand /usr/bin/sss_ssh_authorizedkeys
AuthorizedKeysCommandUser nobody
PidFile /run/sshd.pid
EOF

# rtcsync: chronyd tells the kernel the clock is synchronised (Debian's default).
mkdir -p /etc/chrony
cat > /etc/chrony/chrony.conf <<EOF
server 10.98.0.1 iburst minpoll -2 maxpoll 0
makestep 1 3
rtcsync
pidfile /run/chrony/chronyd.pid
driftfile /var/lib/chrony/drift
EOF
