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
use crate::outcome::{Env, Outcome};
use anyhow::{bail, ensure, Context, Result};
use e2et_model::report::Validation;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod runs;
pub use runs::{run, run_openrc};

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
