//! An APC AP79xx rack PDU for tests: snmpd (net-snmp) serves the SNMPv3 side
//! and calls this program through `pass_persist` for the PowerNet-MIB subtree.
//! Outlet commands take effect after a realistic delay with the pending flag
//! set meanwhile; state survives snmpd restarts (a state file). In the lab an
//! outlet drives its VM over QMP: off = power cut (stop), on = cold start
//! (system_reset + cont).
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const RPDU: &str = "1.3.6.1.4.1.318.1.1.12";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Outlet {
    name: String,
    /// 1 on, 2 off.
    state: i64,
    /// (target state, due at ms since epoch); a reboot queues off then on.
    #[serde(default)]
    pending: Vec<(i64, u128)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    model: String,
    outlets: Vec<Outlet>,
}

pub struct Emulator {
    state: Arc<Mutex<State>>,
    file: PathBuf,
    qmp_dir: Option<PathBuf>,
    delay: Duration,
    /// Outlets whose relay never follows a command (a failed relay).
    stuck: Vec<u32>,
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// Numeric OID compare for getnext.
fn cmp_oid(a: &str, b: &str) -> std::cmp::Ordering {
    let pa = a.split('.').map(|x| x.parse::<u64>().unwrap_or(0));
    let pb = b.split('.').map(|x| x.parse::<u64>().unwrap_or(0));
    pa.cmp(pb)
}

/// Where the emulator whose state file is `state` logs the commands it received.
pub fn sets_log(state: &Path) -> PathBuf {
    state.with_file_name("sets.jsonl")
}

/// The outlet commands the emulator received, as (outlet, value: 1 on, 2
/// off, 3 reboot), oldest first.
pub fn received_sets(state: &Path) -> Vec<(u32, i64)> {
    std::fs::read_to_string(sets_log(state))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            Some((
                u32::try_from(v["outlet"].as_u64()?).ok()?,
                v["value"].as_i64()?,
            ))
        })
        .collect()
}

/// Sends QMP commands to a VM (one session): names, or JSON commands.
pub fn qmp(sock: &Path, cmds: &[&str]) -> Result<()> {
    let s = UnixStream::connect(sock).with_context(|| format!("QMP {}", sock.display()))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut w = s.try_clone()?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line)?; // greeting
    for cmd in std::iter::once("qmp_capabilities").chain(cmds.iter().copied()) {
        // A bare name, or a whole command with arguments.
        if cmd.starts_with('{') {
            writeln!(w, "{cmd}")?;
        } else {
            writeln!(w, "{{\"execute\": \"{cmd}\"}}")?;
        }
        loop {
            line.clear();
            if r.read_line(&mut line)? == 0 {
                anyhow::bail!("QMP closed during {cmd}");
            }
            if line.contains("\"return\"") {
                break;
            }
            if line.contains("\"error\"") {
                anyhow::bail!("QMP {cmd}: {}", line.trim());
            }
        }
    }
    Ok(())
}

impl Emulator {
    pub fn open(
        file: &Path,
        outlets: u32,
        delay: Duration,
        qmp_dir: Option<PathBuf>,
        stuck: Vec<u32>,
    ) -> Result<Emulator> {
        let state = match std::fs::read_to_string(file) {
            Ok(t) => serde_json::from_str(&t)
                .with_context(|| format!("state file {}", file.display()))?,
            Err(_) => State {
                model: "AP7901".into(),
                outlets: (1..=outlets)
                    .map(|n| Outlet {
                        name: format!("Outlet {n}"),
                        state: 2,
                        pending: vec![],
                    })
                    .collect(),
            },
        };
        let e = Emulator {
            state: Arc::new(Mutex::new(state)),
            file: file.to_path_buf(),
            qmp_dir,
            delay,
            stuck,
        };
        e.save();
        Ok(e)
    }

    /// The device's own record of every outlet command it received
    /// (`sets.jsonl` beside the state file, one JSON object a line), what a
    /// test counts against e2etd's power log.
    fn log_set(&self, outlet: usize, value: i64) {
        use std::io::Write as _;
        let line = serde_json::json!({"at_ms": now_ms() as u64, "outlet": outlet, "value": value});
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(sets_log(&self.file))
        {
            let _ = writeln!(f, "{line}");
        }
    }

    fn save(&self) {
        if let Ok(st) = self.state.lock() {
            if let Ok(t) = serde_json::to_string_pretty(&*st) {
                let tmp = self.file.with_extension("tmp");
                if std::fs::write(&tmp, t).is_ok() {
                    let _ = std::fs::rename(&tmp, &self.file);
                }
            }
        }
    }

    /// Applies due commands: the relay switches (and the VM with it).
    pub fn tick(&self) {
        let mut changed = Vec::new();
        if let Ok(mut st) = self.state.lock() {
            let t = now_ms();
            for (i, o) in st.outlets.iter_mut().enumerate() {
                if self.stuck.contains(&(i as u32 + 1)) {
                    continue; // the command stays pending forever
                }
                while let Some(&(target, due)) = o.pending.first() {
                    if due > t {
                        break;
                    }
                    o.pending.remove(0);
                    if o.state != target {
                        o.state = target;
                        changed.push((i as u32 + 1, target));
                    }
                }
            }
        }
        if changed.is_empty() {
            return;
        }
        self.save();
        if let Some(dir) = &self.qmp_dir {
            for (n, target) in changed {
                let sock = dir.join(format!("outlet-{n}.qmp"));
                if !sock.exists() {
                    continue; // nothing plugged in
                }
                let r = if target == 1 {
                    qmp(&sock, &["system_reset", "cont"])
                } else {
                    qmp(&sock, &["stop"])
                };
                if let Err(e) = r {
                    eprintln!("pdu-emulator: outlet {n}: {e:#}");
                }
            }
        }
    }

    fn table(&self) -> Vec<(String, &'static str, String)> {
        let Ok(st) = self.state.lock() else {
            return vec![];
        };
        let mut v = vec![
            (format!("{RPDU}.1.5.0"), "string", st.model.clone()),
            (
                format!("{RPDU}.1.8.0"),
                "integer",
                st.outlets.len().to_string(),
            ),
        ];
        for (i, o) in st.outlets.iter().enumerate() {
            let n = i + 1;
            v.push((
                format!("{RPDU}.3.3.1.1.4.{n}"),
                "integer",
                o.state.to_string(),
            ));
            v.push((format!("{RPDU}.3.5.1.1.2.{n}"), "string", o.name.clone()));
            v.push((
                format!("{RPDU}.3.5.1.1.4.{n}"),
                "integer",
                o.state.to_string(),
            ));
            v.push((
                format!("{RPDU}.3.5.1.1.5.{n}"),
                "integer",
                if o.pending.is_empty() { "2" } else { "1" }.to_string(),
            ));
        }
        v.sort_by(|a, b| cmp_oid(&a.0, &b.0));
        v
    }

    fn set(&self, oid: &str, typ_val: &str) -> &'static str {
        let prefix = format!("{RPDU}.3.3.1.1.4.");
        let Some(n) = oid
            .strip_prefix(&prefix)
            .and_then(|n| n.parse::<usize>().ok())
        else {
            return "not-writable";
        };
        let mut it = typ_val.split_whitespace();
        if it.next() != Some("integer") {
            return "wrong-type";
        }
        let Some(v) = it.next().and_then(|v| v.parse::<i64>().ok()) else {
            return "wrong-value";
        };
        self.log_set(n, v);
        let d = self.delay.as_millis();
        {
            let Ok(mut st) = self.state.lock() else {
                return "not-writable";
            };
            let Some(o) = n.checked_sub(1).and_then(|i| st.outlets.get_mut(i)) else {
                return "not-writable";
            };
            let t = now_ms();
            o.pending = match v {
                1 => vec![(1, t + d)],
                2 => vec![(2, t + d)],
                3 => vec![(2, t + d), (1, t + d + 5000)],
                _ => return "wrong-value",
            };
        }
        self.save();
        "DONE"
    }

    /// The pass_persist loop on stdin/stdout (snmpd(8), "pass_persist").
    pub fn serve(self) -> Result<()> {
        let me = Arc::new(self);
        let ticker = me.clone();
        std::thread::spawn(move || loop {
            ticker.tick();
            std::thread::sleep(Duration::from_millis(50));
        });
        let stdin = std::io::stdin();
        let mut lines = stdin.lock().lines();
        let mut out = std::io::stdout();
        while let Some(cmd) = lines.next() {
            let cmd = cmd?;
            let reply = match cmd.trim() {
                "PING" => "PONG\n".to_string(),
                "get" | "getnext" => {
                    // Apply due switches before answering, so a read never
                    // lags the relay by the ticker's period.
                    me.tick();
                    let oid = lines.next().transpose()?.unwrap_or_default();
                    let oid = oid.trim().trim_start_matches('.').to_string();
                    let table = me.table();
                    let hit = if cmd.trim() == "get" {
                        table.iter().find(|(o, _, _)| *o == oid)
                    } else {
                        table.iter().find(|(o, _, _)| cmp_oid(o, &oid).is_gt())
                    };
                    match hit {
                        Some((o, t, v)) => format!(".{o}\n{t}\n{v}\n"),
                        None => "NONE\n".into(),
                    }
                }
                "set" => {
                    let oid = lines.next().transpose()?.unwrap_or_default();
                    let val = lines.next().transpose()?.unwrap_or_default();
                    format!(
                        "{}\n",
                        me.set(oid.trim().trim_start_matches('.'), val.trim())
                    )
                }
                "" => continue,
                _ => "NONE\n".into(),
            };
            out.write_all(reply.as_bytes())?;
            out.flush()?;
        }
        Ok(())
    }
}

/// SNMPv3 users of the emulator: (user, auth, auth password, privacy, privacy password).
pub const USERS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "e2et-md5des",
        "MD5",
        "md5-auth-pass",
        "DES",
        "md5-priv-pass",
    ),
    (
        "e2et-shaaes",
        "SHA",
        "sha-auth-pass",
        "AES",
        "sha-priv-pass",
    ),
    (
        "e2et-sha256aes",
        "SHA-256",
        "sha256-auth-pass",
        "AES",
        "sha256-priv-pass",
    ),
    // The wrong-password tests use this user with other passwords.
    (
        "e2et-guarded",
        "SHA",
        "the-right-auth-pass",
        "AES",
        "the-right-priv-pass",
    ),
];

/// snmpd.conf for the emulator on `addr` (`udp:127.0.0.1:16161`).
pub fn snmpd_conf(addr: &str, pass_cmd: &str) -> String {
    let mut c = format!(
        "agentAddress {addr}\nsysObjectID .1.3.6.1.4.1.318.1.3.4.5\nsysDescr APC Web/SNMP Management Card (MB:v4.1.0 PF:v6.x PN:apc_hw05_aos AF1:v6.x AN1:apc_hw05_rpdu) emulated by e2et-lab\n"
    );
    for (u, a, ap, p, pp) in USERS {
        c.push_str(&format!(
            "createUser {u} {a} \"{ap}\" {p} \"{pp}\"\nrwuser {u} priv\n"
        ));
    }
    c.push_str(&format!(
        "pass_persist .1.3.6.1.4.1.318.1.1.12 {pass_cmd}\n"
    ));
    c
}

/// Prepares DIR (config, persistent engine state, credential files) and
/// replaces this process with snmpd in the foreground.
pub fn exec_snmpd(
    dir: &Path,
    listen: &str,
    delay_ms: u64,
    qmp_dir: Option<&Path>,
    stuck: &[u32],
) -> Result<()> {
    use std::os::unix::process::CommandExt;
    std::fs::create_dir_all(dir.join("persist"))?;
    std::fs::create_dir_all(dir.join("creds"))?;
    let dir = dir.canonicalize()?;
    let me = std::env::current_exe()?;
    let mut pass = format!(
        "{} pdu-pass --state {} --delay-ms {delay_ms}",
        me.display(),
        dir.join("outlets.json").display()
    );
    if let Some(q) = qmp_dir {
        pass.push_str(&format!(" --qmp-dir {}", q.display()));
    }
    for n in stuck {
        pass.push_str(&format!(" --stuck {n}"));
    }
    let conf = dir.join("snmpd.conf");
    std::fs::write(&conf, snmpd_conf(listen, &pass))?;
    for (u, _, ap, _, pp) in USERS {
        std::fs::write(dir.join(format!("creds/pdu-{u}-auth")), format!("{ap}\n"))?;
        std::fs::write(dir.join(format!("creds/pdu-{u}-priv")), format!("{pp}\n"))?;
    }
    let err = std::process::Command::new("snmpd")
        .env("SNMP_PERSISTENT_DIR", dir.join("persist"))
        .env("MIBS", "")
        .args(["-f", "-C", "-c"])
        .arg(&conf)
        .arg("-Lf")
        .arg(dir.join("snmpd.log"))
        .arg("-p")
        .arg(dir.join("snmpd.pid"))
        .exec();
    Err(anyhow::anyhow!(
        "cannot exec snmpd (install net-snmp's snmpd): {err}"
    ))
}
