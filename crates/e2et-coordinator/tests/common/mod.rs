//! Shared by the coordinator's integration tests: the daemon started on a
//! temporary store with a QMP peer as its PDU, and an agent's requests.
#![allow(dead_code)]
use e2et_model::api::*;
use e2et_model::facts::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

pub const MAC: &str = "52:54:00:e2:e7:01";
/// vm1's inventory address, a loopback alias: its boot script and agent
/// requests are taken from this address only.
pub const VM1_IP: &str = "127.0.0.11";

/// A client whose requests come from vm1's address.
pub fn client() -> reqwest::Client {
    client_from(VM1_IP)
}

/// A client whose requests come from `ip` (any 127/8 address is local).
pub fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// A QEMU stand-in speaking QMP: `stop` powers off (unless stuck), `cont` on.
pub fn qmp_peer(sock: &Path, running: Arc<Mutex<bool>>, stuck: bool) {
    let listener = tokio::net::UnixListener::bind(sock).unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            let running = running.clone();
            tokio::spawn(async move {
                let (r, mut w) = s.into_split();
                let mut lines = BufReader::new(r).lines();
                let _ = w
                    .write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n")
                    .await;
                while let Ok(Some(l)) = lines.next_line().await {
                    let v: Value = serde_json::from_str(&l).unwrap();
                    let reply = {
                        let mut on = running.lock().unwrap();
                        match v["execute"].as_str().unwrap_or("") {
                            "query-status" => {
                                json!({"return": {"running": *on, "status": if *on {"running"} else {"paused"}}})
                            }
                            "stop" => {
                                if !stuck {
                                    *on = false;
                                }
                                json!({"return": {}})
                            }
                            "cont" => {
                                *on = true;
                                json!({"return": {}})
                            }
                            _ => json!({"return": {}}),
                        }
                    };
                    let _ = w.write_all(format!("{reply}\n").as_bytes()).await;
                }
            });
        }
    });
}

/// A test directory with a QMP peer as outlet 1 of PDU `q` (powered on
/// when `on`; `stuck`: it never switches off); returns the directory and
/// the peer's power state.
pub fn with_qmp_peer(on: bool, stuck: bool) -> (tempfile::TempDir, Arc<Mutex<bool>>) {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("pdu")).unwrap();
    let running = Arc::new(Mutex::new(on));
    qmp_peer(&d.path().join("pdu/outlet-1.qmp"), running.clone(), stuck);
    (d, running)
}

pub struct Daemon {
    pub child: Child,
    pub url: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn start(dir: &Path, extra_ram: bool) -> Daemon {
    start_with(dir, extra_ram, &[])
}

pub fn start_with(dir: &Path, extra_ram: bool, extra: &[&str]) -> Daemon {
    start_inv(dir, inventory(dir, extra_ram), extra)
}

pub fn inventory(dir: &Path, extra_ram: bool) -> Value {
    json!({
        "version": 1, "site": {"name": "t", "domain": "t.test"},
        "pdus": {"q": {"driver": "qmp", "address": dir.join("pdu"), "outlets": 4, "cycleDelayS": 0}},
        "profiles": {"lab": {}},
        "hosts": {"vm1": {"mac": MAC, "ip": VM1_IP, "fqdn": "vm1.t.test",
            "power": [{"pdu": "q", "outlet": 1}], "console": "serial", "profile": "lab",
            // No SSH server stands behind 127.0.0.11 here: the coordinator's
            // own key exchange is tested against a real one in tests/ssh.rs
            // and in the lab (dropbear).
            "expect": {"cpus": 2, "minRamMib": if extra_ram { 65536 } else { 100 }, "persistentPaths": ["/persist/id"],
                "firstBoot": {"ssh": false}},
            "requiredZone": "p90"}}
    })
}

/// e2etd on `inv`; `extra` flags override the test defaults given the same flag.
pub fn start_inv(dir: &Path, inv: Value, extra: &[&str]) -> Daemon {
    start_inv_nofile(dir, inv, extra, None)
}

/// As [`start_inv`], with this open-file limit for e2etd when given.
pub fn start_inv_nofile(dir: &Path, inv: Value, extra: &[&str], nofile: Option<u64>) -> Daemon {
    std::fs::write(dir.join("inv.json"), inv.to_string()).unwrap();
    let defaults = [
        ("--hello-timeout-s", "20"),
        ("--facts-timeout-s", "20"),
        ("--soft-off-timeout-s", "2"),
        ("--poll-interval-ms", "50"),
        ("--step-timeout-s", "2"),
    ];
    std::fs::create_dir_all(dir.join("art")).unwrap();
    std::fs::write(
        dir.join("art/vmlinuz"),
        (0..1000).map(|i| (i % 251) as u8).collect::<Vec<u8>>(),
    )
    .unwrap();
    let port = free_port();
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("e2etd"));
    if let Some(n) = nofile {
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit is async-signal-safe; it runs in the child only.
        unsafe {
            cmd.pre_exec(move || {
                let rl = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let child = cmd
        .arg("--inventory")
        .arg(dir.join("inv.json"))
        .arg("serve")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--public-url", &format!("http://127.0.0.1:{port}")])
        .arg("--db")
        .arg(dir.join("e2et.db"))
        .arg("--artifacts")
        .arg(dir.join("art"))
        .args(["--kernel", "vmlinuz"])
        .args(
            defaults
                .iter()
                .filter(|(f, _)| !extra.contains(f))
                .flat_map(|(f, v)| [*f, *v]),
        )
        // The tests' operator API is open unless a test gives a token.
        .args((!extra.contains(&"--operator-token-file")).then_some("--insecure-open-operator-api"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("e2etd-{port}.log"))).unwrap())
        .spawn()
        .unwrap();
    Daemon {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// Opens `GET /api/v1/events`, resuming after `last` when given.
pub async fn events(c: &reqwest::Client, url: &str, last: Option<&str>) -> reqwest::Response {
    let mut r = c.get(format!("{url}/api/v1/events"));
    if let Some(l) = last {
        r = r.header("Last-Event-ID", l);
    }
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    r
}

/// The first server-sent event's (kind, data), skipping keep-alive comments.
pub async fn next_sse(mut r: reqwest::Response) -> (String, String) {
    let mut buf = String::new();
    loop {
        if let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut kind = String::new();
            let mut data = String::new();
            for l in block.lines() {
                if let Some(v) = l.strip_prefix("event:") {
                    kind = v.trim().into();
                } else if let Some(v) = l.strip_prefix("data:") {
                    data.push_str(v.trim());
                }
            }
            if !kind.is_empty() {
                return (kind, data);
            }
            continue;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(30), r.chunk())
            .await
            .expect("no event within 30 s")
            .unwrap()
            .expect("event stream ended");
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

/// The next `n` run events of a stream.
pub async fn next_events(mut r: reqwest::Response, n: usize) -> Vec<RunEvent> {
    let mut buf = String::new();
    let mut out = Vec::new();
    while out.len() < n {
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if block.lines().any(|l| l == "event: run") {
                let data = block
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .unwrap();
                out.push(serde_json::from_str(data).unwrap());
            }
        }
        if out.len() >= n {
            break;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(30), r.chunk())
            .await
            .expect("no event within 30 s")
            .unwrap()
            .expect("event stream ended");
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    out
}

/// `GET url` as text (any status).
pub async fn get_text(c: &reqwest::Client, url: &str) -> String {
    c.get(url).send().await.unwrap().text().await.unwrap()
}

/// Every run the coordinator lists, newest first.
pub async fn list_runs(c: &reqwest::Client, url: &str) -> Vec<RunView> {
    c.get(format!("{url}/api/v1/runs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Starts a run of `host` in `mode` (`cold` or `quick`); it must be accepted.
pub async fn create_run_mode(c: &reqwest::Client, url: &str, host: &str, mode: &str) -> RunView {
    let r = c
        .post(format!("{url}/api/v1/runs"))
        .json(&json!({ "host": host, "mode": mode }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "creating a {mode} run of {host}");
    r.json().await.unwrap()
}

/// Starts a cold run of `host`; it must be accepted.
pub async fn create_run(c: &reqwest::Client, url: &str, host: &str) -> RunView {
    let r = c
        .post(format!("{url}/api/v1/runs"))
        .json(&json!({ "host": host }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "creating a run of {host}");
    r.json().await.unwrap()
}

pub async fn wait_up(c: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while c.get(format!("{url}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "e2etd did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn run_view(c: &reqwest::Client, url: &str, id: &str) -> RunView {
    c.get(format!("{url}/api/v1/runs/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub async fn wait_state(c: &reqwest::Client, url: &str, id: &str, want: &str) -> RunView {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = run_view(c, url, id).await;
        if v.state.as_str() == want {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "run stuck in {} (note {}), wanted {want}",
            v.state,
            v.note
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A healthy vm1's facts (every gate), with the RAM the test chooses.
/// Polls run `id` until it ends (at most `secs`), returning its last view.
pub async fn wait_end(c: &reqwest::Client, url: &str, id: &str, secs: u64) -> RunView {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = run_view(c, url, id).await;
        if v.state.is_terminal() {
            return v;
        }
        assert!(Instant::now() < deadline, "run {id} still {}", v.state);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn report_of(c: &reqwest::Client, url: &str, id: &str) -> e2et_model::Report {
    c.get(format!("{url}/api/v1/runs/{id}/report.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub fn facts(boot_id: &str, run: &str, ram_kib: u64) -> Facts {
    let spec: e2et_model::HostSpec = serde_json::from_value(json!({
        "mac": MAC, "ip": VM1_IP, "fqdn": "vm1.t.test",
        "power": [{"pdu": "q", "outlet": 1}], "console": "serial", "profile": "lab",
        "expect": {"cpus": 2, "persistentPaths": ["/persist/id"]},
        "requiredZone": "p90"}))
    .unwrap();
    let mut f = e2et_score::example::healthy_facts(&spec, run, boot_id);
    f.platform.mem_total_kib = ram_kib;
    f
}

/// Fetches the boot script and returns the token it carries.
/// vm1's boot script as iPXE asks for it.
pub async fn boot_script(c: &reqwest::Client, url: &str) -> String {
    c.get(format!("{url}/boot/52%3A54%3A00%3Ae2%3Ae7%3A01.ipxe"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub async fn boot_token(c: &reqwest::Client, url: &str, run: &str) -> String {
    let s = boot_script(c, url).await;
    assert!(s.starts_with("#!ipxe"), "{s}");
    assert!(s.contains(&format!("e2et.run={run}")), "{s}");
    assert!(
        s.contains(&format!("kernel {url}/boot/artifacts/vmlinuz")),
        "{s}"
    );
    s.split_whitespace()
        .find_map(|w| w.strip_prefix("e2et.token="))
        .unwrap()
        .to_string()
}

pub async fn agent_boot(
    c: &reqwest::Client,
    url: &str,
    run: &str,
    token: &str,
    boot_id: &str,
    ram_kib: u64,
) -> u32 {
    let cmdline = format!("console=ttyS0 e2et.run={run} e2et.token={token}");
    // The probe reads /proc/cmdline: the token is in the facts too.
    let mut f = facts(boot_id, run, ram_kib);
    f.first_boot.cmdline = cmdline.clone();
    let (hello, r) = hello_facts(c, url, run, token, boot_id, &cmdline, f).await;
    assert_eq!(
        hello.probe.persistent_paths,
        vec!["/persist/id".to_string()]
    );
    assert_eq!(hello.probe.fqdn.as_deref(), Some("vm1.t.test"));
    assert!(r.accepted);
    hello.boot_seq
}

/// The enrolment key the tests give vm1 (`agent-vm1`).
pub const ENROL_KEY: &str = "k3y-of-vm1";

/// e2etd on `inv` with vm1's enrolment key in its credentials directory,
/// and `extra` flags.
pub fn start_enrolling(dir: &Path, inv: Value, extra: &[&str]) -> Daemon {
    let creds = dir.join("creds");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::write(creds.join("agent-vm1"), format!("{ENROL_KEY}\n")).unwrap();
    let mut flags = vec!["--credentials-dir", creds.to_str().unwrap()];
    flags.extend_from_slice(extra);
    start_inv(dir, inv, &flags)
}

/// One hello of `boot_id` with `token`, as vm1 (the answer as it came).
pub async fn say_hello(
    c: &reqwest::Client,
    url: &str,
    run: &str,
    token: &str,
    boot_id: &str,
    cmdline: &str,
) -> reqwest::Response {
    c.post(format!("{url}/api/v1/agent/hello"))
        .bearer_auth(token)
        .json(&HelloRequest {
            run_id: run.into(),
            boot_id: boot_id.into(),
            hostname: "vm1".into(),
            macs: vec![MAC.into()],
            cmdline: cmdline.into(),
            probe_version: "test".into(),
        })
        .send()
        .await
        .unwrap()
}

/// An agent's hello (with this cmdline) and then these facts.
pub async fn hello_facts(
    c: &reqwest::Client,
    url: &str,
    run: &str,
    token: &str,
    boot_id: &str,
    cmdline: &str,
    facts: Facts,
) -> (HelloResponse, FactsResponse) {
    let hello: HelloResponse = say_hello(c, url, run, token, boot_id, cmdline)
        .await
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    let r: FactsResponse = c
        .post(format!("{url}/api/v1/agent/facts"))
        .bearer_auth(token)
        .json(&FactsRequest {
            run_id: run.into(),
            boot_id: boot_id.into(),
            facts,
        })
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    (hello, r)
}

/// What every e2etd started in `dir` logged (one file per daemon).
pub fn daemon_logs(dir: &Path) -> String {
    let mut logs = String::new();
    for f in std::fs::read_dir(dir).unwrap().flatten() {
        if f.file_name().to_string_lossy().starts_with("e2etd-") {
            logs += &std::fs::read_to_string(f.path()).unwrap_or_default();
        }
    }
    logs
}

/// Waits for a daemon armed with --crash-after to abort.
pub fn wait_crash(e: &mut Daemon, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(st) = e.child.try_wait().unwrap() {
            assert!(!st.success(), "e2etd exited cleanly instead of aborting");
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "e2etd did not hit its crash point; its log:\n{}",
                daemon_logs(dir)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Enrols `boot_id` of the host's installed system with `key`, signed at
/// `ts` (Unix seconds).
pub async fn enrol(
    c: &reqwest::Client,
    url: &str,
    host: &str,
    boot_id: &str,
    key: &str,
    ts: i64,
) -> reqwest::Response {
    let body = serde_json::to_vec(&EnrolRequest {
        host: host.into(),
        boot_id: boot_id.into(),
    })
    .unwrap();
    let ts = ts.to_string();
    c.post(format!("{url}/api/v1/agent/enrol"))
        .header(ENROL_TIMESTAMP_HEADER, &ts)
        .header(
            ENROL_SIGNATURE_HEADER,
            format!("sha256={}", hmac_sha256_hex(key.as_bytes(), &ts, &body)),
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// The installed system's agent of a quick run: enrol, hello, facts with
/// this uptime. Returns the boot sequence the coordinator gave.
pub async fn installed_boot(
    c: &reqwest::Client,
    url: &str,
    key: &str,
    boot_id: &str,
    uptime_s: f64,
) -> (String, u32) {
    let now = chrono::Utc::now().timestamp();
    let r = enrol(c, url, "vm1", boot_id, key, now).await;
    assert_eq!(r.status(), 200);
    enrolled_boot(c, url, &r.json().await.unwrap(), boot_id, uptime_s).await
}

/// Hello and facts of an enrolled boot.
pub async fn enrolled_boot(
    c: &reqwest::Client,
    url: &str,
    en: &EnrolResponse,
    boot_id: &str,
    uptime_s: f64,
) -> (String, u32) {
    // The installed system's own boot loader: no run on its cmdline.
    let cmdline = "console=ttyS0 root=/dev/vda1";
    let mut f = facts(boot_id, &en.run_id, 4 << 20);
    f.first_boot.uptime_s = uptime_s;
    f.first_boot.cmdline = cmdline.into();
    let (hello, _) = hello_facts(c, url, &en.run_id, &en.token, boot_id, cmdline, f).await;
    (en.run_id.clone(), hello.boot_seq)
}
