//! service: failed units (systemd) or failed and crashed services (OpenRC),
//! the spec's required services, and the role smoke checks (command, TCP,
//! HTTP), each bounded in time.
use crate::procs::Procs;
use crate::root::Root;
use crate::sys;
use e2et_model::expect::SmokeCheck;
use e2et_model::facts::*;
use e2et_model::Observed;
use std::time::{Duration, Instant};

const CMD_TIMEOUT: Duration = Duration::from_secs(10);

/// `systemctl list-units --state=failed --plain --no-legend`: unit load active sub description.
pub fn parse_failed_units(s: &str) -> Vec<FailedService> {
    s.lines()
        .filter_map(|l| {
            let l = l.trim_start_matches('●').trim();
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4).then(|| FailedService {
                name: f[0].to_string(),
                state: f[2].to_string(),
                detail: f[3..].join(" "),
            })
        })
        .collect()
}

/// `systemctl show -p Id,LoadState,ActiveState,SubState a b`: one block per
/// unit, in argument order, separated by blank lines.
pub fn parse_show(s: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    s.split("\n\n")
        .map(|b| {
            b.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<std::collections::BTreeMap<_, _>>()
        })
        .filter(|m| !m.is_empty())
        .collect()
}

fn unit(name: &str) -> String {
    if name.contains('.') {
        name.to_string()
    } else {
        format!("{name}.service")
    }
}

fn systemd_required(root: &Root, names: &[String]) -> Vec<ServiceStatus> {
    let alts: Vec<Vec<String>> = names
        .iter()
        .map(|n| n.split('|').map(|a| unit(a.trim())).collect())
        .collect();
    let mut args = vec![
        "systemctl",
        "show",
        "--property=Id,LoadState,ActiveState,SubState",
        "--",
    ];
    let flat: Vec<String> = alts.iter().flatten().cloned().collect();
    args.extend(flat.iter().map(String::as_str));
    let out = root.command(&args, CMD_TIMEOUT);
    let blocks = match &out {
        Observed::Ok { value } if value.success() => parse_show(&value.stdout),
        _ => Vec::new(),
    };
    let failure = out.why_not().or_else(|| {
        out.value()
            .filter(|v| !v.success())
            .map(|v| format!("systemctl show failed: {}", v.stderr.trim()))
    });
    let mut i = 0;
    names
        .iter()
        .zip(alts)
        .map(|(name, alts)| {
            let mine: Vec<_> = (0..alts.len())
                .map(|k| blocks.get(i + k).cloned().unwrap_or_default())
                .collect();
            i += alts.len();
            if let Some(f) = &failure {
                return ServiceStatus {
                    name: name.clone(),
                    matched: None,
                    running: false,
                    state: f.clone(),
                    via: "systemd".into(),
                };
            }
            let g = |m: &std::collections::BTreeMap<String, String>, k: &str| {
                m.get(k).cloned().unwrap_or_default()
            };
            let loaded: Vec<_> = mine
                .iter()
                .filter(|m| g(m, "LoadState") == "loaded")
                .collect();
            let best = loaded
                .iter()
                .find(|m| g(m, "ActiveState") == "active")
                .or(loaded.first());
            match best {
                Some(m) => ServiceStatus {
                    name: name.clone(),
                    matched: Some(g(m, "Id")),
                    running: g(m, "ActiveState") == "active",
                    state: format!("{} ({})", g(m, "ActiveState"), g(m, "SubState")),
                    via: "systemd".into(),
                },
                None => ServiceStatus {
                    name: name.clone(),
                    matched: None,
                    running: false,
                    state: "not found (no such unit loaded)".into(),
                    via: "systemd".into(),
                },
            }
        })
        .collect()
}

/// An OpenRC daemon record (/run/openrc/daemons/<svc>/NNN).
pub fn parse_openrc_daemon(s: &str) -> (Option<String>, Option<String>) {
    let mut exec = None;
    let mut pidfile = None;
    for l in s.lines() {
        match l.split_once('=') {
            Some(("exec", v)) if !v.is_empty() => exec = Some(v.to_string()),
            Some(("pidfile", v)) if !v.is_empty() => pidfile = Some(v.to_string()),
            _ => {}
        }
    }
    (exec, pidfile)
}

/// Whether a pid from a pidfile runs; `Some(why)` when it does not. A
/// zombie (exited, not yet reaped) is not running.
fn pidfile_dead(root: &Root, pidfile: &str) -> Option<String> {
    let Some(p) = root.line(pidfile).and_then(|p| p.parse::<u32>().ok()) else {
        return Some(format!("pidfile {pidfile} missing or empty"));
    };
    match root
        .read(&format!("/proc/{p}/stat"))
        .ok()
        .as_deref()
        .and_then(crate::procs::parse_stat)
        .map(|(_, state)| state)
    {
        None => Some(format!("pid {p} from {pidfile} is not running")),
        Some('Z') | Some('X') => Some(format!("pid {p} from {pidfile} has exited (zombie)")),
        Some(_) => None,
    }
}

/// A started service whose daemon is gone. OpenRC's own test
/// (rc_service_daemons_crashed) reads the daemon records its
/// start-stop-daemon and supervise-daemon write; where the distribution's
/// start-stop-daemon writes none (Debian ships dpkg's), the pidfile the
/// service declared (options/<svc>/pidfile) is checked instead.
fn openrc_crashed(root: &Root, procs: &Procs, svc: &str) -> Option<String> {
    let records = root.list(&format!("/run/openrc/daemons/{svc}"));
    for f in &records {
        let Ok(t) = root.read(&format!("/run/openrc/daemons/{svc}/{f}")) else {
            continue;
        };
        match parse_openrc_daemon(&t) {
            (_, Some(pidfile)) => {
                if let Some(why) = pidfile_dead(root, &pidfile) {
                    return Some(why);
                }
            }
            (Some(exec), None) => {
                let name = exec.rsplit('/').next().unwrap_or(&exec);
                if !procs.running(name) {
                    return Some(format!("no process running {exec}"));
                }
            }
            (None, None) => {}
        }
    }
    if records.is_empty() {
        if let Some(pidfile) = root.line(&format!("/run/openrc/options/{svc}/pidfile")) {
            return pidfile_dead(root, &pidfile).map(|w| format!("{w} (no daemon record)"));
        }
    }
    None
}

/// Services of the runlevels the host is in: sysinit, boot and the current
/// softlevel, each with the runlevel it is in.
fn openrc_runlevel_services(root: &Root) -> Vec<(String, String)> {
    let soft = root
        .line("/run/openrc/softlevel")
        .unwrap_or_else(|| "default".into());
    let mut levels = vec!["sysinit".to_string(), "boot".to_string()];
    if !levels.contains(&soft) {
        levels.push(soft);
    }
    let mut out = Vec::new();
    for rl in levels {
        for svc in root.list(&format!("/etc/runlevels/{rl}")) {
            if !out.iter().any(|(s, _)| s == &svc) {
                out.push((svc, rl.clone()));
            }
        }
    }
    out
}

/// Failed services: in failed/; in a runlevel the host is in but neither
/// started, starting nor inactive (a failed start leaves a service stopped);
/// started but crashed.
fn openrc_failed(root: &Root, procs: &Procs) -> Vec<FailedService> {
    let mut v: Vec<FailedService> = root
        .list("/run/openrc/failed")
        .into_iter()
        .map(|n| FailedService {
            name: n,
            state: "failed".into(),
            detail: "in /run/openrc/failed".into(),
        })
        .collect();
    for (svc, rl) in openrc_runlevel_services(root) {
        let state = |d: &str| root.exists(&format!("/run/openrc/{d}/{svc}"));
        if !(state("started") || state("starting") || state("inactive") || state("failed")) {
            v.push(FailedService {
                name: svc,
                state: "stopped".into(),
                detail: format!(
                    "in runlevel {rl} but not started (a failed start leaves a service stopped)"
                ),
            });
        }
    }
    for svc in root.list("/run/openrc/started") {
        if let Some(why) = openrc_crashed(root, procs, &svc) {
            v.push(FailedService {
                name: svc,
                state: "crashed".into(),
                detail: why,
            });
        }
    }
    v
}

fn openrc_required(root: &Root, procs: &Procs, names: &[String]) -> Vec<ServiceStatus> {
    names
        .iter()
        .map(|name| {
            let alts: Vec<&str> = name.split('|').map(str::trim).collect();
            let status = |svc: &str| -> Option<(bool, String)> {
                if root.exists(&format!("/run/openrc/started/{svc}")) {
                    Some(match openrc_crashed(root, procs, svc) {
                        Some(why) => (false, format!("crashed: {why}")),
                        None => (true, "started".into()),
                    })
                } else if root.exists(&format!("/run/openrc/failed/{svc}")) {
                    Some((false, "failed".into()))
                } else if root.exists(&format!("/etc/init.d/{svc}")) {
                    Some((false, "stopped".into()))
                } else {
                    None
                }
            };
            let found: Vec<(&str, (bool, String))> = alts
                .iter()
                .filter_map(|a| status(a).map(|s| (*a, s)))
                .collect();
            let best = found.iter().find(|(_, s)| s.0).or(found.first());
            match best {
                Some((svc, (running, state))) => ServiceStatus {
                    name: name.clone(),
                    matched: Some(svc.to_string()),
                    running: *running,
                    state: state.clone(),
                    via: "openrc".into(),
                },
                None => ServiceStatus {
                    name: name.clone(),
                    matched: None,
                    running: false,
                    state: "not found (no /etc/init.d script)".into(),
                    via: "openrc".into(),
                },
            }
        })
        .collect()
}

fn process_required(procs: &Procs, names: &[String]) -> Vec<ServiceStatus> {
    names
        .iter()
        .map(|name| {
            let alts: Vec<&str> = name.split('|').map(str::trim).collect();
            let hit = procs.first_running(&alts);
            ServiceStatus {
                name: name.clone(),
                matched: hit.map(str::to_string),
                running: hit.is_some(),
                state: match hit {
                    Some(h) => format!("process {h} running (pids {:?})", procs.pids(h)),
                    None => "no such process".into(),
                },
                via: "process".into(),
            }
        })
        .collect()
}

fn tail(s: &str, n: usize) -> String {
    let t = s.trim();
    if t.len() <= n {
        return t.to_string();
    }
    let mut start = t.len() - n;
    while !t.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &t[start..])
}

fn smoke_one(root: &Root, s: &SmokeCheck) -> SmokeResult {
    let t = Instant::now();
    let timeout = Duration::from_secs(s.timeout_s.max(1));
    let key = format!("smoke:{}", s.name);
    let r: Observed<(bool, bool, String)> = root.live_op(&key, || {
        let (ok, timed_out, detail) = if let Some(argv) = &s.command {
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            match sys::run_command(&argv, timeout) {
                Observed::Ok { value } => (
                    value.success(),
                    false,
                    format!(
                        "exit {}; {}",
                        value.code.map_or("by signal".into(), |c| c.to_string()),
                        tail(&format!("{}{}", value.stdout, value.stderr), 300)
                    ),
                ),
                other => {
                    let why = other.why_not().unwrap_or_default();
                    (false, why.contains("did not finish"), why)
                }
            }
        } else if let Some(addr) = &s.tcp {
            tcp_check(addr, timeout)
        } else if let Some(h) = &s.http {
            let h = h.clone();
            match sys::with_timeout(timeout + Duration::from_millis(500), "http", move || {
                http_check(&h, timeout)
            }) {
                Ok(r) => r,
                Err(e) => (false, true, e),
            }
        } else {
            (false, false, "no command, tcp or http given".into())
        };
        Observed::ok((ok, timed_out, detail))
    });
    let (ok, timed_out, detail) = match r {
        Observed::Ok { value } => value,
        other => (false, false, other.why_not().unwrap_or_default()),
    };
    SmokeResult {
        name: s.name.clone(),
        kind: s.kind().unwrap_or("invalid").into(),
        ok,
        timed_out,
        detail,
        elapsed_ms: t.elapsed().as_secs_f64() * 1000.0,
    }
}

fn tcp_check(addr: &str, timeout: Duration) -> (bool, bool, String) {
    use std::net::ToSocketAddrs;
    let addrs: Vec<_> = match addr.to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(e) => return (false, false, format!("cannot resolve {addr}: {e}")),
    };
    let mut last = format!("{addr} resolved to no address");
    for a in addrs {
        match std::net::TcpStream::connect_timeout(&a, timeout) {
            Ok(_) => return (true, false, format!("connected to {a}")),
            Err(e) => {
                let to = e.kind() == std::io::ErrorKind::TimedOut;
                last = format!("{a}: {e}");
                if to {
                    return (false, true, last);
                }
            }
        }
    }
    (false, false, last)
}

fn http_check(h: &e2et_model::expect::HttpSmoke, timeout: Duration) -> (bool, bool, String) {
    let client = match reqwest::blocking::Client::builder()
        .timeout(timeout)
        .build()
    {
        Ok(c) => c,
        Err(e) => return (false, false, format!("http client: {e}")),
    };
    match client.get(&h.url).send() {
        Err(e) => (false, e.is_timeout(), format!("GET {}: {e}", h.url)),
        Ok(r) => {
            let status = r.status().as_u16();
            let body = r.text().unwrap_or_default();
            let body_ok = h
                .body_contains
                .as_deref()
                .is_none_or(|want| body.contains(want));
            let ok = status == h.status && body_ok;
            let mut d = format!("GET {} → {status} (want {})", h.url, h.status);
            if let Some(want) = &h.body_contains {
                d.push_str(&format!(
                    "; body {} {want:?}",
                    if body_ok { "contains" } else { "lacks" }
                ));
            }
            (ok, false, d)
        }
    }
}

pub struct Wanted<'a> {
    pub services: &'a [String],
    pub smoke: &'a [SmokeCheck],
}

pub fn collect(root: &Root, procs: &Procs, init: &str, w: &Wanted<'_>) -> ServiceFacts {
    let (manager, failed, required) = match init {
        "systemd" => {
            let out = root.command(
                &[
                    "systemctl",
                    "list-units",
                    "--state=failed",
                    "--all",
                    "--plain",
                    "--no-legend",
                    "--no-pager",
                    "--full",
                ],
                CMD_TIMEOUT,
            );
            let failed = match out {
                Observed::Ok { value } if value.success() => {
                    Observed::ok(parse_failed_units(&value.stdout))
                }
                Observed::Ok { value } => Observed::err(format!(
                    "systemctl list-units exited {:?}: {}",
                    value.code,
                    value.stderr.trim()
                )),
                other => Observed::err(other.why_not().unwrap_or_default()),
            };
            ("systemd", failed, systemd_required(root, w.services))
        }
        "openrc" => (
            "openrc",
            Observed::ok(openrc_failed(root, procs)),
            openrc_required(root, procs, w.services),
        ),
        other => (
            "none",
            Observed::na(format!(
                "PID 1 is {other}: no service manager (systemd, OpenRC) whose failures can be read"
            )),
            process_required(procs, w.services),
        ),
    };
    let smoke = std::thread::scope(|s| {
        let hs: Vec<_> = w
            .smoke
            .iter()
            .map(|c| s.spawn(move || smoke_one(root, c)))
            .collect();
        hs.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    ServiceFacts {
        manager: manager.into(),
        failed,
        required,
        smoke,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_units_and_show_blocks() {
        let f = parse_failed_units("● nginx.service loaded failed failed A high performance web server\nbad.mount loaded failed failed /bad\n");
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].name, "nginx.service");
        assert_eq!(f[0].state, "failed");
        assert!(parse_failed_units("").is_empty());
        let b = parse_show("Id=ssh.service\nLoadState=loaded\nActiveState=active\nSubState=running\n\nId=nope.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\n");
        assert_eq!(b.len(), 2);
        assert_eq!(b[0]["Id"], "ssh.service");
        assert_eq!(b[1]["LoadState"], "not-found");
    }

    #[test]
    fn openrc_daemon_record() {
        assert_eq!(
            parse_openrc_daemon(
                "exec=/usr/sbin/sshd\nargv_0=/usr/sbin/sshd\npidfile=/run/sshd.pid\n"
            ),
            (Some("/usr/sbin/sshd".into()), Some("/run/sshd.pid".into()))
        );
        assert_eq!(
            parse_openrc_daemon("exec=/usr/sbin/crond\npidfile=\n"),
            (Some("/usr/sbin/crond".into()), None)
        );
    }

    #[test]
    fn smoke_command_tcp_http_against_real_peers() {
        let root = Root::live();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let srv = std::thread::spawn(move || {
            use std::io::{Read, Write};
            for _ in 0..2 {
                let Ok((mut c, _)) = listener.accept() else {
                    return;
                };
                let mut buf = [0u8; 1024];
                let n = c.read(&mut buf).unwrap_or(0);
                if n > 0 {
                    let _ = c.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\nhealthy",
                    );
                }
            }
        });
        let checks: Vec<SmokeCheck> = serde_json::from_value(serde_json::json!([
            {"name": "true", "command": ["true"]},
            {"name": "false", "command": ["sh", "-c", "echo broken >&2; exit 4"]},
            {"name": "slow", "command": ["sleep", "5"], "timeoutS": 1},
            {"name": "tcp", "tcp": format!("127.0.0.1:{port}")},
            {"name": "http", "http": {"url": format!("http://127.0.0.1:{port}/health"), "bodyContains": "healthy"}},
            {"name": "closed", "tcp": "127.0.0.1:1"}
        ]))
        .unwrap();
        let f = collect(
            &root,
            &Procs::default(),
            "unknown (test)",
            &Wanted {
                services: &[],
                smoke: &checks,
            },
        );
        let by = |n: &str| f.smoke.iter().find(|s| s.name == n).unwrap();
        assert!(by("true").ok);
        assert!(
            !by("false").ok
                && by("false").detail.contains("exit 4")
                && by("false").detail.contains("broken")
        );
        assert!(!by("slow").ok && by("slow").timed_out);
        assert!(by("tcp").ok, "{:?}", by("tcp"));
        assert!(by("http").ok, "{:?}", by("http"));
        assert!(!by("closed").ok);
        assert!(f.failed.why_not().unwrap().contains("no service manager"));
        srv.join().unwrap();
    }
}
