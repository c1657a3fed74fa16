//! first_boot: identity of the boot, consoles, SSH, time, logging, init and
//! the package profile.
use crate::procs::Procs;
use crate::root::{Kind, Root};
use crate::sys;
use e2et_model::facts::*;
use e2et_model::Observed;
use sha2::{Digest, Sha256};
use std::time::Duration;

const DNS_TIMEOUT: Duration = Duration::from_secs(3);
const CMD_TIMEOUT: Duration = Duration::from_secs(5);

fn need(root: &Root, p: &str) -> Result<String, String> {
    root.read(p).map_err(|e| format!("cannot read {p}: {e}"))
}

/// The kernel cmdline with the run token's value hidden: facts and reports
/// are kept and shown; the token is a credential.
pub fn redact_cmdline(s: &str) -> String {
    s.split_whitespace()
        .map(|w| match w.split_once('=') {
            Some(("e2et.token", _)) => "e2et.token=<redacted>".to_string(),
            _ => w.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn collect(
    root: &Root,
    procs: &Procs,
    ssh_port: Option<u16>,
) -> Result<FirstBootFacts, String> {
    let boot_id = need(root, "/proc/sys/kernel/random/boot_id")?
        .trim()
        .to_string();
    let cmdline = redact_cmdline(need(root, "/proc/cmdline")?.trim());
    let hostname = need(root, "/proc/sys/kernel/hostname")?.trim().to_string();
    let uptime_s = parse_uptime(&need(root, "/proc/uptime")?)
        .ok_or_else(|| "cannot parse /proc/uptime".to_string())?;
    let h = hostname.clone();
    let fqdn = root.live_op(&format!("resolve:canonical:{hostname}"), move || {
        sys::with_timeout(DNS_TIMEOUT, "canonical name lookup", move || {
            sys::canonical_name(&h)
        })
        .and_then(|r| r)
        .into()
    });
    Ok(FirstBootFacts {
        boot_id,
        cmdline,
        hostname,
        fqdn,
        uptime_s,
        init: detect_init(root),
        os: os_release(root),
        consoles: root
            .read("/proc/consoles")
            .map(|s| parse_consoles(&s))
            .unwrap_or_default(),
        ssh: ssh(root, procs, ssh_port),
        time: time(root, procs),
        logging: logging(root, procs),
        package_profile: package_profile(root),
    })
}

pub fn parse_uptime(s: &str) -> Option<f64> {
    s.split_whitespace().next()?.parse().ok()
}

/// What runs as PID 1, named by the service manager it means for the host.
pub fn detect_init(root: &Root) -> String {
    if root.is_dir("/run/systemd/system") {
        return "systemd".into();
    }
    if root.exists("/run/openrc/softlevel") || root.is_dir("/run/openrc/started") {
        return "openrc".into();
    }
    let exe = root.readlink("/proc/1/exe").unwrap_or_default();
    let comm = root.line("/proc/1/comm").unwrap_or_default();
    if exe.ends_with("/busybox")
        || (comm == "init" && exe.is_empty() && root.exists("/bin/busybox"))
    {
        return "busybox".into();
    }
    if comm == "init" {
        return "sysvinit".into();
    }
    format!("unknown ({})", if comm.is_empty() { "?" } else { &comm })
}

pub fn parse_os_release(s: &str) -> OsRelease {
    let mut o = OsRelease::default();
    for line in s.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
        match k.trim() {
            "ID" => o.id = v,
            "VERSION_ID" => o.version_id = Some(v),
            "PRETTY_NAME" => o.pretty_name = Some(v),
            "IMAGE_ID" => o.image_id = Some(v),
            "IMAGE_VERSION" => o.image_version = Some(v),
            "BUILD_ID" => o.build_id = Some(v),
            _ => {}
        }
    }
    o
}

fn os_release(root: &Root) -> Observed<OsRelease> {
    for p in ["/etc/os-release", "/usr/lib/os-release"] {
        if let Ok(s) = root.read(p) {
            let o = parse_os_release(&s);
            return if o.id.is_empty() {
                Observed::err(format!("{p} has no ID="))
            } else {
                Observed::ok(o)
            };
        }
    }
    Observed::na("no /etc/os-release (an initramfs, or a very old system)")
}

/// /proc/consoles: `ttyS0                -W- (EC  p a)    4:64`.
pub fn parse_consoles(s: &str) -> Vec<Console> {
    s.lines()
        .filter_map(|l| {
            let name = l.split_whitespace().next()?.to_string();
            let flags = l[name.len()..].trim().to_string();
            let paren = flags
                .split_once('(')
                .and_then(|(_, r)| r.split_once(')'))
                .map(|(f, _)| f)
                .unwrap_or("");
            Some(Console {
                enabled: paren.contains('E'),
                preferred: paren.contains('C'),
                name,
                flags,
            })
        })
        .collect()
}

/// The first `Port` of an sshd_config (22 when none).
pub fn parse_sshd_port(s: &str) -> Option<u16> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()?.eq_ignore_ascii_case("port"))
                .then(|| w.next()?.parse().ok())
                .flatten()
        })
}

/// Listening TCP sockets from /proc/net/tcp or tcp6: (address, port, inode).
pub fn parse_proc_net_tcp(s: &str, v6: bool) -> Vec<(String, u16, u64)> {
    let mut out = Vec::new();
    for l in s.lines().skip(1) {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 10 || f[3] != "0A" {
            continue;
        }
        let Some((addr_hex, port_hex)) = f[1].split_once(':') else {
            continue;
        };
        let Ok(port) = u16::from_str_radix(port_hex, 16) else {
            continue;
        };
        let Some(addr) = hex_addr(addr_hex, v6) else {
            continue;
        };
        let inode = f[9].parse().unwrap_or(0);
        out.push((addr, port, inode));
    }
    out
}

/// /proc/net addresses are the kernel's bytes in host order, printed per
/// 32-bit word.
fn hex_addr(h: &str, v6: bool) -> Option<String> {
    if !v6 {
        let n = u32::from_str_radix(h, 16).ok()?;
        return Some(std::net::Ipv4Addr::from(n.to_le_bytes()).to_string());
    }
    if h.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for w in 0..4 {
        let n = u32::from_str_radix(&h[w * 8..w * 8 + 8], 16).ok()?;
        bytes[w * 4..w * 4 + 4].copy_from_slice(&n.to_le_bytes());
    }
    Some(std::net::Ipv6Addr::from(bytes).to_string())
}

/// Daemons that may hold an SSH listener (socket activation included).
const SSH_HOLDERS: &[&str] = &["sshd", "dropbear", "systemd", "inetd", "xinetd"];

fn ssh(root: &Root, procs: &Procs, spec_port: Option<u16>) -> SshFacts {
    let cfg_port = root
        .read("/etc/ssh/sshd_config")
        .ok()
        .and_then(|s| parse_sshd_port(&s));
    let port = spec_port.or(cfg_port).unwrap_or(22);
    let mut socks = Vec::new();
    let mut read_any = false;
    for (p, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        if let Ok(s) = root.read(p) {
            read_any = true;
            socks.extend(
                parse_proc_net_tcp(&s, v6)
                    .into_iter()
                    .filter(|s| s.1 == port),
            );
        }
    }
    let listeners = if !read_any {
        Observed::err("cannot read /proc/net/tcp")
    } else {
        // Which process holds each socket: look only at the fds of the
        // daemons that could (cheap even on a busy host).
        let want: Vec<u64> = socks.iter().map(|s| s.2).collect();
        let mut owner = std::collections::HashMap::new();
        if !want.is_empty() {
            for p in procs
                .procs
                .iter()
                .filter(|p| SSH_HOLDERS.contains(&p.name.as_str()))
            {
                for fd in root.list(&format!("/proc/{}/fd", p.pid)) {
                    if let Some(t) = root.readlink(&format!("/proc/{}/fd/{fd}", p.pid)) {
                        if let Some(ino) = t
                            .strip_prefix("socket:[")
                            .and_then(|r| r.strip_suffix(']'))
                            .and_then(|n| n.parse::<u64>().ok())
                        {
                            if want.contains(&ino) {
                                owner.insert(ino, p.name.clone());
                            }
                        }
                    }
                }
            }
        }
        Observed::ok(
            socks
                .into_iter()
                .map(|(address, port, ino)| Listener {
                    address,
                    port,
                    process: owner.get(&ino).cloned(),
                })
                .collect(),
        )
    };
    let mut host_keys = Vec::new();
    for (dir, prefix, suffix) in [
        ("/etc/ssh", "ssh_host_", "_key"),
        ("/etc/dropbear", "dropbear_", "_host_key"),
    ] {
        for name in root.list(dir) {
            let Some(kind) = name
                .strip_prefix(prefix)
                .and_then(|r| r.strip_suffix(suffix))
            else {
                continue;
            };
            let path = format!("{dir}/{name}");
            if let Some(m) = root.meta(&path) {
                let public = root
                    .read(&format!("{path}.pub"))
                    .ok()
                    .and_then(|t| public_key_line(&t));
                host_keys.push(HostKey {
                    kind: kind.to_string(),
                    mode: m.mode_octal(),
                    bytes: m.len,
                    path,
                    public,
                });
            }
        }
    }
    SshFacts {
        port,
        listeners,
        host_keys,
    }
}

/// `<algorithm> <base64>` from a `.pub` file's first key line (the comment
/// dropped); `None` when it does not look like one.
pub fn public_key_line(text: &str) -> Option<String> {
    let line = text
        .lines()
        .find(|l| l.starts_with("ssh-") || l.starts_with("ecdsa-"))?;
    let mut f = line.split_whitespace();
    let (alg, b64) = (f.next()?, f.next()?);
    let ok = b64.len() >= 16
        && b64
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=');
    ok.then(|| format!("{alg} {b64}"))
}

/// `chronyc -c tracking`: the last field is the leap status.
pub fn parse_chronyc_tracking_csv(s: &str) -> Option<(bool, String)> {
    let line = s.lines().next()?.trim();
    let fields: Vec<&str> = line.split(',').collect();
    if fields.len() < 14 {
        return None;
    }
    let leap = fields[fields.len() - 1].trim().to_string();
    Some((
        leap == "Normal" || leap.starts_with("Insert") || leap.starts_with("Delete"),
        format!(
            "chronyc tracking: reference {} ({}), stratum {}, leap status {leap}",
            fields[1], fields[0], fields[2]
        ),
    ))
}

fn time(root: &Root, procs: &Procs) -> TimeFacts {
    let kernel = root.live_op("adjtimex", sys::adjtimex);
    let mut daemons = Vec::new();
    if procs.running("chronyd") {
        let out = root.command(&["chronyc", "-n", "-c", "tracking"], CMD_TIMEOUT);
        let (synchronised, detail) = match &out {
            Observed::Ok { value } if value.success() => {
                match parse_chronyc_tracking_csv(&value.stdout) {
                    Some((s, d)) => (Observed::ok(s), d),
                    None => (
                        Observed::err("unexpected chronyc output"),
                        value.stdout.trim().to_string(),
                    ),
                }
            }
            Observed::Ok { value } => (
                Observed::err(format!("chronyc failed: {}", value.stderr.trim())),
                value.stderr.trim().to_string(),
            ),
            other => (
                Observed::err(other.why_not().unwrap_or_default()),
                String::new(),
            ),
        };
        daemons.push(TimeDaemon {
            name: "chronyd".into(),
            synchronised,
            detail,
        });
    }
    if procs.running("systemd-timesyncd") {
        // systemd >= 239 touches this file once the clock is synchronised.
        let s = root.exists("/run/systemd/timesync/synchronized");
        daemons.push(TimeDaemon {
            name: "systemd-timesyncd".into(),
            synchronised: Observed::ok(s),
            detail: format!(
                "/run/systemd/timesync/synchronized {}",
                if s { "present" } else { "absent" }
            ),
        });
    }
    for n in ["ntpd", "openntpd"] {
        if procs.running(n) {
            // ntpd disciplines the kernel clock: its state is the kernel's.
            let s = kernel.value().map(|k| k.synchronised);
            daemons.push(TimeDaemon {
                name: n.into(),
                synchronised: s
                    .map_or_else(|| Observed::err("kernel clock state unknown"), Observed::ok),
                detail: "synchronisation read from the kernel clock it disciplines".into(),
            });
        }
    }
    TimeFacts { kernel, daemons }
}

const SYSLOGS: &[&str] = &[
    "rsyslogd",
    "syslog-ng",
    "syslogd",
    "metalog",
    "busybox-syslogd",
];

fn logging(root: &Root, procs: &Procs) -> LoggingFacts {
    let journald = procs.running("systemd-journald") && root.exists("/run/systemd/journal/socket");
    let syslog = SYSLOGS
        .iter()
        .filter(|n| procs.running(n))
        .map(|n| n.to_string())
        .collect();
    let dev_log = match root.meta("/dev/log").map(|m| m.kind) {
        Some(Kind::Socket) => true,
        Some(Kind::Symlink) => root
            .readlink("/dev/log")
            .and_then(|t| root.meta(&t))
            .is_some_and(|m| m.kind == Kind::Socket),
        _ => false,
    };
    LoggingFacts {
        journald,
        syslog,
        dev_log,
    }
}

/// Installed packages of a dpkg status file, as sorted `name version arch` lines.
pub fn dpkg_installed(status: &str) -> Vec<String> {
    let mut out = Vec::new();
    for stanza in status.split("\n\n") {
        let (mut name, mut ver, mut arch, mut installed) = ("", "", "", false);
        for l in stanza.lines() {
            if let Some(v) = l.strip_prefix("Package: ") {
                name = v.trim();
            } else if let Some(v) = l.strip_prefix("Version: ") {
                ver = v.trim();
            } else if let Some(v) = l.strip_prefix("Architecture: ") {
                arch = v.trim();
            } else if let Some(v) = l.strip_prefix("Status: ") {
                installed = v.trim().ends_with(" installed");
            }
        }
        if installed && !name.is_empty() {
            out.push(format!("{name} {ver} {arch}"));
        }
    }
    out.sort();
    out
}

fn set_hash(lines: &[String]) -> String {
    let mut h = Sha256::new();
    for l in lines {
        h.update(l.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

fn package_profile(root: &Root) -> Observed<PackageProfile> {
    if let Some(current) = root.readlink("/run/current-system") {
        let booted = root.readlink("/run/booted-system");
        let rev = root.command(
            &[
                "/run/current-system/sw/bin/nixos-version",
                "--configuration-revision",
            ],
            CMD_TIMEOUT,
        );
        let configuration_revision = rev
            .value()
            .filter(|o| o.success())
            .map(|o| o.stdout.trim().to_string())
            .filter(|s| !s.is_empty());
        return Observed::ok(PackageProfile {
            kind: "nixos".into(),
            booted_system: booted,
            current_system: Some(current),
            configuration_revision,
            packages: 0,
            set_sha256: None,
        });
    }
    if let Ok(status) = root.read("/var/lib/dpkg/status") {
        let pk = dpkg_installed(&status);
        return Observed::ok(PackageProfile {
            kind: "dpkg".into(),
            packages: pk.len() as u64,
            set_sha256: Some(set_hash(&pk)),
            ..Default::default()
        });
    }
    if root.is_dir("/var/db/pkg") {
        let mut pk = Vec::new();
        for cat in root.list("/var/db/pkg") {
            for p in root.list(&format!("/var/db/pkg/{cat}")) {
                pk.push(format!("{cat}/{p}"));
            }
        }
        pk.sort();
        return Observed::ok(PackageProfile {
            kind: "gentoo".into(),
            packages: pk.len() as u64,
            set_sha256: Some(set_hash(&pk)),
            ..Default::default()
        });
    }
    Observed::na(
        "no package database: not NixOS (no /run/current-system), no /var/lib/dpkg/status, no /var/db/pkg",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pub_file_gives_algorithm_and_key_without_the_comment() {
        assert_eq!(
            public_key_line("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHt8rBTvEHuF9Gy5 root@vm1\n")
                .as_deref(),
            Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHt8rBTvEHuF9Gy5")
        );
        // dropbearkey -y prints a header first.
        assert_eq!(
            public_key_line("Public key portion is:\necdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY= x\nFingerprint: sha1!! 00").as_deref(),
            Some("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY=")
        );
        assert_eq!(public_key_line("-----BEGIN OPENSSH PRIVATE KEY-----"), None);
        assert_eq!(public_key_line("ssh-ed25519 not;base64!"), None);
    }

    #[test]
    fn token_is_redacted_and_the_rest_kept() {
        assert_eq!(
            redact_cmdline("console=ttyS0 e2et.run=r1 e2et.token=abc123 quiet"),
            "console=ttyS0 e2et.run=r1 e2et.token=<redacted> quiet"
        );
    }

    #[test]
    fn consoles_flags() {
        let c = parse_consoles("ttyS0                -W- (EC  p a)    4:64\ntty0                 -WU (E  p  )    4:1\n");
        assert_eq!(c.len(), 2);
        assert!(c[0].enabled && c[0].preferred);
        assert!(c[1].enabled && !c[1].preferred);
        assert_eq!(c[1].name, "tty0");
    }

    #[test]
    fn proc_net_tcp_listeners_v4_and_v6() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0B00630A:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:1F90 0100007F:D2A2 01 00000000:00000000 00:00000000 00000000     0        0 999 1\n";
        assert_eq!(
            parse_proc_net_tcp(v4, false),
            vec![("10.99.0.11".to_string(), 22, 12345)]
        );
        let v6 = "  sl  local_address remote_address st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 555 1\n   1: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 556 1\n";
        assert_eq!(
            parse_proc_net_tcp(v6, true),
            vec![("::".to_string(), 22, 555), ("::1".to_string(), 22, 556)]
        );
    }

    #[test]
    fn sshd_port_first_uncommented() {
        assert_eq!(
            parse_sshd_port("#Port 2222\nPort 2200\nPort 22\n"),
            Some(2200)
        );
        assert_eq!(parse_sshd_port("PermitRootLogin no\n"), None);
    }

    #[test]
    fn chrony_tracking_csv() {
        let ok = "7F000001,127.0.0.1,9,1700000000.1,0.000001,0.0,0.0,1.0,0.0,0.1,0.0001,0.0001,16.0,Normal\n";
        assert!(parse_chronyc_tracking_csv(ok).unwrap().0);
        let no = "00000000,,0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,1.0,1.0,0.0,Not synchronised\n";
        let (s, d) = parse_chronyc_tracking_csv(no).unwrap();
        assert!(!s && d.contains("Not synchronised"));
        assert!(parse_chronyc_tracking_csv("garbage").is_none());
    }

    #[test]
    fn dpkg_status_counts_installed_only() {
        let s = "Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n\nPackage: b\nStatus: deinstall ok config-files\nVersion: 2\nArchitecture: amd64\n\nPackage: c\nStatus: install ok installed\nVersion: 3\nArchitecture: all\n";
        assert_eq!(dpkg_installed(s), vec!["a 1 amd64", "c 3 all"]);
    }

    #[test]
    fn os_release_quotes() {
        let o = parse_os_release("NAME=\"NixOS\"\nID=nixos\nVERSION_ID=\"25.11\"\nPRETTY_NAME=\"NixOS 25.11 (Xantusia)\"\n");
        assert_eq!(o.id, "nixos");
        assert_eq!(o.version_id.as_deref(), Some("25.11"));
    }
}
