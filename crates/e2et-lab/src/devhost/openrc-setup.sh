#!/bin/sh
# Runs inside the OpenRC host's namespaces (e2et-lab scenario openrc): a
# private /etc (overlay) and /run, every runlevel emptied so nothing of this
# machine starts, then three services of our own under Debian's real OpenRC:
# one supervised by supervise-daemon, one backgrounded by start-stop-daemon,
# one whose start fails. $1: the scenario's run directory.
set -eu
D="$1"
hostname orchost
mkdir -p "$D/ovl"
mount -t tmpfs tmpfs "$D/ovl"
mkdir -p "$D/ovl/etc" "$D/ovl/etc-work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$D/ovl/etc,workdir=$D/ovl/etc-work" /etc
mount -t tmpfs -o mode=755 tmpfs /run
for rl in /etc/runlevels/*; do
  find "$rl" -mindepth 1 -maxdepth 1 -exec rm -f {} +
done
cat > /etc/init.d/e2et-demo <<'S'
#!/sbin/openrc-run
description="a daemon supervised by supervise-daemon"
supervisor=supervise-daemon
command=/bin/sleep
command_args=86400
pidfile=/run/e2et-demo.pid
S
cat > /etc/init.d/e2et-bg <<'S'
#!/sbin/openrc-run
description="a daemon backgrounded by start-stop-daemon"
command=/bin/sleep
command_args=86401
command_background=true
pidfile=/run/e2et-bg.pid
S
cat > /etc/init.d/e2et-broken <<'S'
#!/sbin/openrc-run
description="a service whose start fails"
start() {
	ebegin "Starting e2et-broken"
	false
	eend $? "it fails on purpose"
}
S
chmod 755 /etc/init.d/e2et-demo /etc/init.d/e2et-bg /etc/init.d/e2et-broken
for s in e2et-demo e2et-bg e2et-broken; do rc-update add "$s" default >/dev/null; done
openrc sysinit >/dev/null 2>&1 || true
openrc boot >/dev/null 2>&1 || true
openrc default || true
