//! A real host on this machine for the identity gate (issue 3's "real tests
//! on the machine itself"): Debian's slapd, sssd, sshd, chrony, rsyslog and
//! D-Bus, each a real daemon, in namespaces so the machine itself is left
//! alone.
//!
//! ```text
//!  netns e2etsite<pid>  10.98.0.1           netns e2ethost<pid>  10.98.0.10
//!   slapd (LDAP)                              + mount and UTS namespaces:
//!   dnsmasq (the site's DNS: A + PTR)           private /etc (overlay), /run,
//!   chronyd (NTP server)          ── veth ──    /home, /var/lib/sss, /var/log
//!                                               dbus, sssd (+ InfoPipe),
//!                                               sshd, chronyd, rsyslogd
//! ```
//!
//! The probe runs inside the host's namespaces and reads its live `/`; the
//! facts are scored against the inventory's `aaa-domain-client` profile.
//! Then the host is broken the ways the checks name: sssd.conf mode 0644, a
//! user deleted from the directory, the directory server down (the offline
//! cache keeps answering), sssd stopped.
use crate::scenario::{Env, Outcome};
use anyhow::{bail, ensure, Context, Result};
use e2et_model::report::Validation;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SETUP: &str = include_str!("devhost/host-setup.sh");
const OPENRC_SETUP: &str = include_str!("devhost/openrc-setup.sh");
const SITE_IP: &str = "10.98.0.1";
const HOST_IP: &str = "10.98.0.10";
const HOST_MAC: &str = "52:54:00:e2:e8:10";
const FQDN: &str = "idhost.lab.e2et.test";
const BASE: &str = "dc=lab,dc=e2et,dc=test";
const ADMIN: &str = "cn=admin,dc=lab,dc=e2et,dc=test";
const ADMIN_PW: &str = "lab-admin";

const LDIF: &str = "dn: dc=lab,dc=e2et,dc=test
objectClass: top
objectClass: dcObject
objectClass: organization
o: lab

dn: ou=people,dc=lab,dc=e2et,dc=test
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=lab,dc=e2et,dc=test
objectClass: organizationalUnit
ou: groups

dn: cn=staff,ou=groups,dc=lab,dc=e2et,dc=test
objectClass: posixGroup
cn: staff
gidNumber: 10001

dn: uid=alice,ou=people,dc=lab,dc=e2et,dc=test
objectClass: inetOrgPerson
objectClass: posixAccount
uid: alice
cn: Alice
sn: A
uidNumber: 10001
gidNumber: 10001
homeDirectory: /home/alice
loginShell: /bin/bash

dn: uid=e2et-canary,ou=people,dc=lab,dc=e2et,dc=test
objectClass: inetOrgPerson
objectClass: posixAccount
uid: e2et-canary
cn: canary
sn: canary
uidNumber: 10002
gidNumber: 10001
homeDirectory: /home/e2et-canary
loginShell: /bin/bash
";

fn sh(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} exited {}: {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub struct DevHost {
    dir: PathBuf,
    bin: PathBuf,
    site: String,
    host: String,
    /// `sleep` holding the host's mount and UTS namespaces.
    holder: Child,
    daemons: Vec<(String, Child)>,
}

impl DevHost {
    fn site_cmd(&self, prog: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.site, prog]);
        c
    }

    /// A command inside the host (its mount, UTS and network namespaces).
    fn host_cmd(&self, prog: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("-t")
            .arg(self.holder.id().to_string())
            .args(["-m", "-u", "-n", "--"])
            .arg(prog);
        c
    }

    fn daemon(&mut self, name: &str, mut c: Command) -> Result<()> {
        let log = std::fs::File::create(self.dir.join(format!("{name}.log")))?;
        c.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        let child = c.spawn().with_context(|| format!("starting {name}"))?;
        self.daemons.push((name.to_string(), child));
        Ok(())
    }

    fn stop(&mut self, name: &str) -> Result<()> {
        let i = self
            .daemons
            .iter()
            .position(|(n, _)| n == name)
            .with_context(|| format!("no daemon {name}"))?;
        let (_, mut c) = self.daemons.remove(i);
        let _ = Command::new("kill").arg(c.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
        Ok(())
    }

    fn wait_for(&self, what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while !f() {
            if Instant::now() > deadline {
                bail!(
                    "{what}: not ready within {}s (logs in {})",
                    timeout.as_secs(),
                    self.dir.display()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }

    fn ok(c: &mut Command) -> bool {
        c.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// The identity host: site services, then the host's daemons.
    pub fn up(dir: &Path, bin: &Path) -> Result<DevHost> {
        let mut h = DevHost::namespaces(dir, bin)?;
        h.start_site()?;
        h.start_host()?;
        Ok(h)
    }

    /// The two network namespaces joined by a veth, and the host's mount and
    /// UTS namespaces held open by a `sleep`.
    fn namespaces(dir: &Path, bin: &Path) -> Result<DevHost> {
        let pid = std::process::id();
        let (site, host) = (format!("e2etsite{pid}"), format!("e2ethost{pid}"));
        for ns in [&site, &host] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            sh(Command::new("ip").args(["netns", "add", ns]))
                .context("creating a network namespace (the scenario needs root)")?;
        }
        let ipn = |ns: &str, args: &[&str]| sh(Command::new("ip").args(["-n", ns]).args(args));
        ipn(
            &site,
            &[
                "link", "add", "site0", "type", "veth", "peer", "name", "eth0", "netns", &host,
            ],
        )?;
        ipn(
            &site,
            &["addr", "add", &format!("{SITE_IP}/24"), "dev", "site0"],
        )?;
        ipn(&site, &["link", "set", "site0", "up"])?;
        ipn(&site, &["link", "set", "lo", "up"])?;
        ipn(&host, &["link", "set", "eth0", "address", HOST_MAC])?;
        ipn(
            &host,
            &["addr", "add", &format!("{HOST_IP}/24"), "dev", "eth0"],
        )?;
        ipn(&host, &["link", "set", "eth0", "up"])?;
        ipn(&host, &["link", "set", "lo", "up"])?;
        ipn(&host, &["route", "add", "default", "via", SITE_IP])?;
        let holder = Command::new("ip")
            .args([
                "netns",
                "exec",
                &host,
                "unshare",
                "-m",
                "-u",
                "--propagation",
                "private",
            ])
            .args(["sleep", "infinity"])
            .stdin(Stdio::null())
            .spawn()
            .context("starting the host's namespace holder")?;
        let h = DevHost {
            dir: dir.to_path_buf(),
            bin: bin.to_path_buf(),
            site,
            host,
            holder,
            daemons: Vec::new(),
        };
        // unshare has exec'd sleep once the holder is in its own mount namespace.
        h.wait_for("namespace holder", Duration::from_secs(5), || {
            let me = std::fs::read_link("/proc/self/ns/mnt").ok();
            let it = std::fs::read_link(format!("/proc/{}/ns/mnt", h.holder.id())).ok();
            it.is_some() && it != me
        })?;
        Ok(h)
    }

    /// Every process in the host's mount namespace (daemons the host's own
    /// service manager started included), so nothing outlives the scenario.
    fn kill_host_processes(&self) {
        let Ok(ns) = std::fs::read_link(format!("/proc/{}/ns/mnt", self.holder.id())) else {
            return;
        };
        for _ in 0..2 {
            for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                if pid == self.holder.id() {
                    continue;
                }
                if std::fs::read_link(format!("/proc/{pid}/ns/mnt"))
                    .ok()
                    .as_ref()
                    == Some(&ns)
                {
                    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn start_site(&mut self) -> Result<()> {
        let d = &self.dir.clone();
        std::fs::create_dir_all(d.join("ldap-db"))?;
        std::fs::write(
            d.join("slapd.conf"),
            format!(
                "include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\n\
                 include /etc/ldap/schema/inetorgperson.schema\ninclude /etc/ldap/schema/nis.schema\n\
                 pidfile {0}/slapd.pid\nmodulepath /usr/lib/ldap\nmoduleload back_mdb\n\
                 database mdb\nsuffix \"{BASE}\"\nrootdn \"{ADMIN}\"\nrootpw {ADMIN_PW}\ndirectory {0}/ldap-db\n",
                d.display()
            ),
        )?;
        std::fs::write(d.join("base.ldif"), LDIF)?;
        std::fs::write(
            d.join("chrony-server.conf"),
            format!(
                "local stratum 8\nallow 10.98.0.0/24\nbindaddress {SITE_IP}\ncmdport 0\n\
                 pidfile {0}/chrony-server.pid\ndriftfile {0}/chrony-server.drift\n",
                d.display()
            ),
        )?;
        let mut c = self.site_cmd("slapd");
        c.args(["-d", "0", "-f"])
            .arg(d.join("slapd.conf"))
            .args(["-h", &format!("ldap://{SITE_IP}:389/")]);
        self.daemon("slapd", c)?;
        let mut c = self.site_cmd("dnsmasq");
        c.args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--port=53",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--local=/lab.e2et.test/",
            "--log-queries",
        ])
        .arg(format!("--listen-address={SITE_IP}"))
        .arg(format!("--host-record={FQDN},{HOST_IP}"))
        .arg(format!("--pid-file={}/dns.pid", d.display()));
        self.daemon("site-dns", c)?;
        let mut c = self.site_cmd("chronyd");
        c.args(["-d", "-x", "-f"]).arg(d.join("chrony-server.conf"));
        self.daemon("ntp-server", c)?;
        let url = format!("ldap://{SITE_IP}:389");
        self.wait_for("slapd", Duration::from_secs(15), || {
            Self::ok(
                self.site_cmd("ldapsearch")
                    .args(["-x", "-H", &url, "-b", "", "-s", "base"]),
            )
        })?;
        sh(self
            .site_cmd("ldapadd")
            .args(["-x", "-H", &url, "-D", ADMIN, "-w", ADMIN_PW, "-f"])
            .arg(d.join("base.ldif")))?;
        Ok(())
    }

    fn start_host(&mut self) -> Result<()> {
        std::fs::write(self.dir.join("host-setup.sh"), SETUP)?;
        sh(self
            .host_cmd("sh")
            .arg(self.dir.join("host-setup.sh"))
            .arg(&self.dir))?;
        let mut c = self.host_cmd("dbus-daemon");
        c.args(["--system", "--nofork", "--nopidfile"]);
        self.daemon("dbus", c)?;
        self.wait_for("dbus", Duration::from_secs(10), || {
            Self::ok(
                self.host_cmd("test")
                    .args(["-S", "/run/dbus/system_bus_socket"]),
            )
        })?;
        let mut c = self.host_cmd("sssd");
        c.args(["-i", "--logger=stderr"]);
        self.daemon("sssd", c)?;
        let mut c = self.host_cmd("/usr/sbin/sshd");
        c.args(["-D", "-e"]);
        self.daemon("sshd", c)?;
        let mut c = self.host_cmd("chronyd");
        c.arg("-d");
        self.daemon("chronyd", c)?;
        let mut c = self.host_cmd("rsyslogd");
        c.args(["-n", "-iNONE"]);
        self.daemon("rsyslogd", c)?;
        self.wait_for("sssd: getent passwd alice", Duration::from_secs(30), || {
            Self::ok(self.host_cmd("getent").args(["passwd", "alice"]))
        })?;
        self.wait_for(
            "sshd: ssh-keyscan from the site",
            Duration::from_secs(15),
            || Self::ok(self.site_cmd("ssh-keyscan").args(["-T", "2", HOST_IP])),
        )?;
        self.wait_for(
            "chronyd synchronised (leap status normal)",
            Duration::from_secs(45),
            || {
                self.host_cmd("chronyc")
                    .args(["-n", "tracking"])
                    .output()
                    .map(|o| {
                        String::from_utf8_lossy(&o.stdout).contains("Leap status     : Normal")
                    })
                    .unwrap_or(false)
            },
        )?;
        Ok(())
    }

    /// The probe inside the host, then the score against the inventory.
    fn validate(&self, inv: &Path, tag: &str) -> Result<Validation> {
        let facts = self.dir.join(format!("facts-{tag}.json"));
        let out = self
            .host_cmd(self.bin.join("e2et-probe"))
            .arg("collect")
            .arg("--inventory")
            .arg(inv)
            .args(["--host", "idhost"])
            .stderr(Stdio::null())
            .output()
            .context("running e2et-probe in the host")?;
        ensure!(
            out.status.success(),
            "e2et-probe collect failed: {}",
            out.status
        );
        std::fs::write(&facts, &out.stdout)?;
        self.score(inv, &facts, tag)
    }

    fn score(&self, inv: &Path, facts: &Path, tag: &str) -> Result<Validation> {
        let v = sh(Command::new(self.bin.join("e2et-score"))
            .arg("validate")
            .arg("--inventory")
            .arg(inv)
            .args(["--host", "idhost", "--facts"])
            .arg(facts))?;
        std::fs::write(self.dir.join(format!("validation-{tag}.json")), &v)?;
        serde_json::from_str(&v).context("parsing the validation")
    }
}

impl Drop for DevHost {
    fn drop(&mut self) {
        for (_, c) in self.daemons.iter_mut().rev() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
        }
        for (_, c) in self.daemons.iter_mut() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        self.kill_host_processes();
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        for ns in [&self.site, &self.host] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn outcome(v: &Validation, id: &str) -> Result<(String, String)> {
    let c = v
        .checks
        .iter()
        .find(|c| c.id == id)
        .with_context(|| format!("no check {id} in the validation"))?;
    Ok((
        c.outcome.label().to_string(),
        c.observed.clone().unwrap_or_default(),
    ))
}

/// Each (check, wanted outcome) holds, or the scenario fails naming it.
fn expect(v: &Validation, step: &str, want: &[(&str, &str)]) -> Result<()> {
    let mut wrong = Vec::new();
    for (id, w) in want {
        let (got, obs) = outcome(v, id)?;
        println!("[{step}] {id:<44} {got:<8} {obs}");
        if got != *w {
            wrong.push(format!("{id}: {got}, expected {w} ({obs})"));
        }
    }
    ensure!(wrong.is_empty(), "{step}: {}", wrong.join("; "));
    Ok(())
}

/// The inventory for the host: hosts/inventory.nix's profiles, one host.
fn inventory(base_json: &str, dir: &Path) -> Result<PathBuf> {
    let mut inv: serde_json::Value = serde_json::from_str(base_json)?;
    let pdu = inv["pdus"]
        .as_object()
        .and_then(|p| p.keys().next().cloned())
        .context("the inventory has no PDU")?;
    inv["site"]["dnsServers"] = serde_json::json!([SITE_IP]);
    inv["hosts"] = serde_json::json!({"idhost": {
        "mac": HOST_MAC, "ip": HOST_IP, "fqdn": FQDN,
        "power": [{"pdu": pdu, "outlet": 1}],
        "console": "serial:ttyS0@115200",
        "profile": "aaa-domain-client",
        "requiredZone": "p90",
        "expect": {"identity": {"users": ["alice", "e2et-canary"]}}
    }});
    let p = dir.join("inventory.json");
    std::fs::write(&p, serde_json::to_string_pretty(&inv)?)?;
    Ok(p)
}

const HEALTHY: &[(&str, &str)] = &[
    ("identity.sssd.running", "pass"),
    ("identity.sssd.conf_mode", "pass"),
    ("identity.sssd.domain_online:lab.e2et.test", "pass"),
    ("identity.sssd.offline_cache", "pass"),
    ("identity.nss.user:alice", "pass"),
    ("identity.nss.user:e2et-canary", "pass"),
    ("identity.keytab", "pass"),
    ("identity.ipa.enrolled", "pass"),
    ("identity.sudo.sss", "pass"),
    ("identity.ssh.sss_keys", "pass"),
    ("identity.break_glass", "pass"),
    ("first_boot.ssh.listening", "pass"),
    ("first_boot.ssh.host_keys", "pass"),
    ("first_boot.time.daemon", "pass"),
    ("first_boot.time.kernel", "pass"),
    ("first_boot.logging", "pass"),
    ("first_boot.fqdn", "pass"),
    ("network.dns.forward", "pass"),
    ("network.dns.reverse", "pass"),
    ("network.mgmt.mac", "pass"),
    ("network.mgmt.ip", "pass"),
    ("service.required:sshd|ssh", "pass"),
    ("service.required:sssd", "pass"),
    ("service.required:chronyd|chrony|systemd-timesyncd", "pass"),
    ("storage.root.health", "pass"),
];

pub fn run(env: &Env<'_>) -> Result<Outcome> {
    let start = Instant::now();
    let dir = env.out.join("identity");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let dir = dir.canonicalize()?;
    let inv = inventory(env.inventory_json, &dir)?;
    println!(
        "[identity] host {FQDN} ({HOST_IP}) in netns, site services on {SITE_IP}; logs in {}",
        dir.display()
    );
    let mut h = DevHost::up(&dir, env.bin)?;
    println!("[identity] up: slapd, site DNS, NTP server; host: dbus, sssd, sshd, chronyd, rsyslogd ({:.1}s)", start.elapsed().as_secs_f64());

    let v = h.validate(&inv, "healthy")?;
    expect(&v, "healthy", HEALTHY)?;
    println!(
        "[identity] healthy: score {:.2}, zone {} against profile aaa-domain-client",
        v.score, v.zone
    );

    // Capture the live host as a fixture and replay it: every check must come
    // out the same from the fixture as from the live host.
    let fixture = dir.join("capture");
    sh(h.host_cmd(h.bin.join("e2et-probe"))
        .arg("capture")
        .arg("--out")
        .arg(&fixture)
        .arg("--inventory")
        .arg(&inv)
        .args(["--host", "idhost"]))?;
    let replay_facts = dir.join("facts-replay.json");
    let out = sh(Command::new(h.bin.join("e2et-probe"))
        .arg("--root")
        .arg(&fixture)
        .arg("collect")
        .arg("--inventory")
        .arg(&inv)
        .args(["--host", "idhost"]))?;
    std::fs::write(&replay_facts, out)?;
    let replay = h.score(&inv, &replay_facts, "replay")?;
    let live = h.score(&inv, &dir.join("facts-healthy.json"), "live")?;
    let diff: Vec<String> = live
        .checks
        .iter()
        .filter_map(|c| {
            let r = replay.checks.iter().find(|r| r.id == c.id);
            match r {
                Some(r) if r.outcome == c.outcome => None,
                Some(r) => Some(format!(
                    "{}: live {} replay {}",
                    c.id,
                    c.outcome.label(),
                    r.outcome.label()
                )),
                None => Some(format!("{}: missing from the replay", c.id)),
            }
        })
        .collect();
    ensure!(
        diff.is_empty(),
        "the captured fixture replays differently: {}",
        diff.join("; ")
    );
    println!(
        "[identity] capture: {} checks replay identically from {}",
        live.checks.len(),
        fixture.display()
    );

    // sssd.conf readable by others.
    sh(h.host_cmd("chmod").args(["0644", "/etc/sssd/sssd.conf"]))?;
    let v = h.validate(&inv, "conf-0644")?;
    expect(
        &v,
        "sssd.conf mode 0644",
        &[("identity.sssd.conf_mode", "fail")],
    )?;
    sh(h.host_cmd("chmod").args(["0600", "/etc/sssd/sssd.conf"]))?;

    // A user removed from the directory and from sssd's cache.
    sh(h.site_cmd("ldapdelete").args([
        "-x",
        "-H",
        &format!("ldap://{SITE_IP}:389"),
        "-D",
        ADMIN,
        "-w",
        ADMIN_PW,
        &format!("uid=alice,ou=people,{BASE}"),
    ]))?;
    sh(h.host_cmd("sss_cache").arg("-E"))?;
    let v = h.validate(&inv, "user-deleted")?;
    expect(
        &v,
        "alice deleted",
        &[
            ("identity.nss.user:alice", "fail"),
            ("identity.nss.user:e2et-canary", "pass"),
        ],
    )?;

    // The directory server down: the domain goes offline, the credential
    // cache keeps answering for a user seen before.
    h.stop("slapd")?;
    let v = h.validate(&inv, "ldap-down")?;
    expect(
        &v,
        "directory down",
        &[
            ("identity.sssd.domain_online:lab.e2et.test", "fail"),
            ("identity.nss.user:e2et-canary", "pass"),
        ],
    )?;

    // sssd stopped: a hard fail on an AAA profile.
    h.stop("sssd")?;
    let v = h.validate(&inv, "sssd-stopped")?;
    expect(
        &v,
        "sssd stopped",
        &[
            ("identity.sssd.running", "fail"),
            ("service.required:sssd", "fail"),
        ],
    )?;
    let hard: Vec<&str> = v
        .checks
        .iter()
        .filter(|c| c.hard_failed())
        .map(|c| c.id.as_str())
        .collect();
    ensure!(
        hard.contains(&"identity.sssd.running"),
        "sssd stopped must be a hard fail, hard fails: {hard:?}"
    );
    Ok(Outcome {
        verdict: "passed".into(),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// `e2et-lab scenario openrc`: Debian's real OpenRC as the service manager
/// of a host in namespaces. The probe must read what OpenRC itself left: a
/// service whose start failed (OpenRC leaves it stopped, not in failed/), a
/// started daemon that died (Debian's start-stop-daemon writes no daemon
/// record, so OpenRC's own rc-status cannot see it), and a supervised daemon
/// that supervise-daemon respawns.
pub fn run_openrc(env: &Env<'_>) -> Result<Outcome> {
    let start = Instant::now();
    let dir = env.out.join("openrc");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let dir = dir.canonicalize()?;
    let mut inv: serde_json::Value = serde_json::from_str(env.inventory_json)?;
    let pdu = inv["pdus"]
        .as_object()
        .and_then(|p| p.keys().next().cloned())
        .context("the inventory has no PDU")?;
    inv["profiles"]["lab-openrc"] = serde_json::json!({
        "firstBoot": {"ssh": false, "timeSync": false, "logging": false, "init": "openrc"},
        "network": {"dns": false, "defaultRoute": true},
        "service": {"required": ["e2et-demo", "e2et-bg"]}
    });
    inv["hosts"] = serde_json::json!({"orchost": {
        "mac": HOST_MAC, "ip": HOST_IP, "fqdn": "orchost.lab.e2et.test",
        "power": [{"pdu": pdu, "outlet": 1}], "console": "serial:ttyS0@115200",
        "profile": "lab-openrc", "requiredZone": "p80"
    }});
    let inv_path = dir.join("inventory.json");
    std::fs::write(&inv_path, serde_json::to_string_pretty(&inv)?)?;
    let h = DevHost::namespaces(&dir, env.bin)?;
    std::fs::write(dir.join("openrc-setup.sh"), OPENRC_SETUP)?;
    let out = h
        .host_cmd("sh")
        .arg(dir.join("openrc-setup.sh"))
        .arg(&dir)
        .output()
        .context("running openrc-setup.sh")?;
    std::fs::write(dir.join("openrc.log"), [out.stdout, out.stderr].concat())?;
    let rc_status = |h: &DevHost, args: &[&str]| -> String {
        h.host_cmd("rc-status")
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    println!(
        "[openrc] OpenRC {} runlevel default:\n{}",
        h.host_cmd("openrc")
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default(),
        rc_status(&h, &["default"])
    );
    let validate = |h: &DevHost, tag: &str| -> Result<Validation> {
        let facts = dir.join(format!("facts-{tag}.json"));
        let out = h
            .host_cmd(h.bin.join("e2et-probe"))
            .arg("collect")
            .arg("--inventory")
            .arg(&inv_path)
            .args(["--host", "orchost"])
            .stderr(Stdio::null())
            .output()?;
        ensure!(out.status.success(), "e2et-probe collect failed");
        std::fs::write(&facts, &out.stdout)?;
        let v = sh(Command::new(h.bin.join("e2et-score"))
            .arg("validate")
            .arg("--inventory")
            .arg(&inv_path)
            .args(["--host", "orchost", "--facts"])
            .arg(&facts))?;
        Ok(serde_json::from_str(&v)?)
    };
    let v = validate(&h, "runlevel")?;
    expect(
        &v,
        "runlevel default",
        &[
            ("first_boot.init", "pass"),
            ("service.required:e2et-demo", "pass"),
            ("service.required:e2et-bg", "pass"),
            ("service.failed", "fail"),
        ],
    )?;
    let (_, obs) = outcome(&v, "service.failed")?;
    ensure!(
        obs.contains("e2et-broken stopped"),
        "the failed start of e2et-broken is not named: {obs}"
    );
    sh(h.host_cmd(h.bin.join("e2et-probe"))
        .arg("capture")
        .arg("--out")
        .arg(dir.join("capture"))
        .arg("--inventory")
        .arg(&inv_path)
        .args(["--host", "orchost"]))?;

    // supervise-daemon respawns its child: still running.
    let child = sh(h
        .host_cmd("cat")
        .arg("/run/openrc/options/e2et-demo/child_pid"))?;
    sh(h.host_cmd("kill").arg(child.trim()))?;
    std::thread::sleep(Duration::from_millis(1500));
    let v = validate(&h, "respawned")?;
    expect(
        &v,
        "supervised child killed",
        &[("service.required:e2et-demo", "pass")],
    )?;

    // The start-stop-daemon child dies: crashed, though OpenRC cannot tell.
    let bg = sh(h.host_cmd("cat").arg("/run/e2et-bg.pid"))?;
    sh(h.host_cmd("kill").arg(bg.trim()))?;
    std::thread::sleep(Duration::from_millis(300));
    let v = validate(&h, "crashed")?;
    expect(
        &v,
        "start-stop-daemon child killed",
        &[
            ("service.required:e2et-bg", "fail"),
            ("service.failed", "fail"),
        ],
    )?;
    let (_, obs) = outcome(&v, "service.failed")?;
    ensure!(
        obs.contains("e2et-bg crashed"),
        "the crash of e2et-bg is not named: {obs}"
    );
    println!(
        "[openrc] OpenRC's own rc-status --crashed says: {:?}",
        rc_status(&h, &["--crashed"])
    );
    Ok(Outcome {
        verdict: "passed".into(),
        seconds: start.elapsed().as_secs_f64(),
    })
}
