//! The real e2etd binary against a QMP peer on a Unix socket and an agent
//! speaking HTTP: the whole cold lifecycle, the boot-script rules, token
//! checks, range requests, and a PDU outlet that never switches.
use e2et_model::api::*;
use e2et_model::facts::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const MAC: &str = "52:54:00:e2:e7:01";

/// A QEMU stand-in speaking QMP: `stop` powers off (unless stuck), `cont` on.
fn qmp_peer(sock: &Path, running: Arc<Mutex<bool>>, stuck: bool) {
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
fn with_qmp_peer(on: bool, stuck: bool) -> (tempfile::TempDir, Arc<Mutex<bool>>) {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("pdu")).unwrap();
    let running = Arc::new(Mutex::new(on));
    qmp_peer(&d.path().join("pdu/outlet-1.qmp"), running.clone(), stuck);
    (d, running)
}

struct Daemon {
    child: Child,
    url: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(dir: &Path, extra_ram: bool) -> Daemon {
    start_with(dir, extra_ram, &[])
}

fn start_with(dir: &Path, extra_ram: bool, extra: &[&str]) -> Daemon {
    start_inv(dir, inventory(dir, extra_ram), extra)
}

fn inventory(dir: &Path, extra_ram: bool) -> Value {
    json!({
        "version": 1, "site": {"name": "t", "domain": "t.test"},
        "pdus": {"q": {"driver": "qmp", "address": dir.join("pdu"), "outlets": 4, "cycleDelayS": 0}},
        "profiles": {"lab": {}},
        "hosts": {"vm1": {"mac": MAC, "ip": "10.99.0.11", "fqdn": "vm1.t.test",
            "power": [{"pdu": "q", "outlet": 1}], "console": "serial", "profile": "lab",
            "expect": {"cpus": 2, "minRamMib": if extra_ram { 65536 } else { 100 }, "persistentPaths": ["/persist/id"]},
            "requiredZone": "p90"}}
    })
}

/// e2etd on `inv`; `extra` flags override the test defaults given the same flag.
fn start_inv(dir: &Path, inv: Value, extra: &[&str]) -> Daemon {
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
    let child = Command::new(assert_cmd::cargo::cargo_bin("e2etd"))
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
async fn events(c: &reqwest::Client, url: &str, last: Option<&str>) -> reqwest::Response {
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
async fn next_sse(mut r: reqwest::Response) -> (String, String) {
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
async fn next_events(mut r: reqwest::Response, n: usize) -> Vec<RunEvent> {
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

/// Starts a cold run of `host`; it must be accepted.
async fn create_run(c: &reqwest::Client, url: &str, host: &str) -> RunView {
    let r = c
        .post(format!("{url}/api/v1/runs"))
        .json(&json!({ "host": host }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "creating a run of {host}");
    r.json().await.unwrap()
}

async fn wait_up(c: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while c.get(format!("{url}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "e2etd did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn run_view(c: &reqwest::Client, url: &str, id: &str) -> RunView {
    c.get(format!("{url}/api/v1/runs/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn wait_state(c: &reqwest::Client, url: &str, id: &str, want: &str) -> RunView {
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
async fn wait_end(c: &reqwest::Client, url: &str, id: &str, secs: u64) -> RunView {
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

async fn report_of(c: &reqwest::Client, url: &str, id: &str) -> e2et_model::Report {
    c.get(format!("{url}/api/v1/runs/{id}/report.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn facts(boot_id: &str, run: &str, ram_kib: u64) -> Facts {
    let spec: e2et_model::HostSpec = serde_json::from_value(json!({
        "mac": MAC, "ip": "10.99.0.11", "fqdn": "vm1.t.test",
        "power": [{"pdu": "q", "outlet": 1}], "console": "serial", "profile": "lab",
        "expect": {"cpus": 2, "persistentPaths": ["/persist/id"]},
        "requiredZone": "p90"}))
    .unwrap();
    let mut f = e2et_score::example::healthy_facts(&spec, run, boot_id);
    f.platform.mem_total_kib = ram_kib;
    f
}

/// Fetches the boot script and returns the token it carries.
async fn boot_token(c: &reqwest::Client, url: &str, run: &str) -> String {
    let s = c
        .get(format!("{url}/boot/52%3A54%3A00%3Ae2%3Ae7%3A01.ipxe"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
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

async fn agent_boot(
    c: &reqwest::Client,
    url: &str,
    run: &str,
    token: &str,
    boot_id: &str,
    ram_kib: u64,
) -> u32 {
    let cmdline = format!("console=ttyS0 e2et.run={run} e2et.token={token}");
    let (hello, r) = hello_facts(
        c,
        url,
        run,
        token,
        boot_id,
        &cmdline,
        facts(boot_id, run, ram_kib),
    )
    .await;
    assert_eq!(
        hello.probe.persistent_paths,
        vec!["/persist/id".to_string()]
    );
    assert_eq!(hello.probe.fqdn.as_deref(), Some("vm1.t.test"));
    assert!(r.accepted);
    hello.boot_seq
}

/// An agent's hello (with this cmdline) and then these facts.
async fn hello_facts(
    c: &reqwest::Client,
    url: &str,
    run: &str,
    token: &str,
    boot_id: &str,
    cmdline: &str,
    facts: Facts,
) -> (HelloResponse, FactsResponse) {
    let hello: HelloResponse = c
        .post(format!("{url}/api/v1/agent/hello"))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_lifecycle_through_the_real_daemon() {
    let (d, running) = with_qmp_peer(false, false);
    let e = start(d.path(), false);
    let c = reqwest::Client::new();
    wait_up(&c, &e.url).await;

    // No run: the known MAC boots its local disk; an unknown one too.
    let s = c
        .get(format!("{}/boot/{MAC}.ipxe", e.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(s.contains("no active run") && s.contains("sanboot"), "{s}");
    let s = c
        .get(format!("{}/boot/52:54:00:00:00:99.ipxe", e.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(s.contains("MAC not in the inventory"), "{s}");
    let r = c
        .get(format!("{}/boot/nonsense.ipxe", e.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Bad requests are named.
    let r = c
        .post(format!("{}/api/v1/runs", e.url))
        .json(&json!({"host": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let err: ApiError = r.json().await.unwrap();
    assert_eq!(err.code, "unknown_host");
    let r = c
        .post(format!("{}/api/v1/runs", e.url))
        .body("{\"hots\": 1}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // The event stream is open before the run exists.
    let stream = events(&c, &e.url, None).await;

    let v = create_run(&c, &e.url, "vm1").await;
    let run = v.id.clone();
    let r = c
        .post(format!("{}/api/v1/runs", e.url))
        .json(&json!({"host": "vm1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "one run per host");

    wait_state(&c, &e.url, &run, "provisioning").await;
    assert!(
        *running.lock().unwrap(),
        "power-on must leave the outlet on"
    );
    let t1 = boot_token(&c, &e.url, &run).await;

    // Range requests on artifacts.
    let r = c
        .get(format!("{}/boot/artifacts/vmlinuz", e.url))
        .header("Range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.bytes().await.unwrap().to_vec(),
        (10..20).map(|i| i as u8).collect::<Vec<u8>>()
    );

    // Tokens: none, foreign, then the right one.
    let hello = json!({"run_id": run, "boot_id": "b", "hostname": "h", "macs": [], "cmdline": "", "probe_version": "t"});
    let r = c
        .post(format!("{}/api/v1/agent/hello", e.url))
        .json(&hello)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .post(format!("{}/api/v1/agent/hello", e.url))
        .bearer_auth("f".repeat(64))
        .json(&hello)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    assert_eq!(
        agent_boot(&c, &e.url, &run, &t1, &"1".repeat(36), 250 * 1024).await,
        1
    );
    // Boot 1's agent is told to power off once the run cycles.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let hb: HeartbeatResponse = c
            .post(format!("{}/api/v1/agent/heartbeat", e.url))
            .bearer_auth(&t1)
            .json(&HeartbeatRequest {
                run_id: run.clone(),
                boot_id: "1".repeat(36),
            })
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if hb.command == AgentCommand::Poweroff {
            break;
        }
        assert!(Instant::now() < deadline, "never asked to power off");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    *running.lock().unwrap() = false; // the guest powers itself off
    wait_state(&c, &e.url, &run, "revalidate").await;
    let t2 = boot_token(&c, &e.url, &run).await;
    assert_ne!(t1, t2, "each boot script mints its own token");
    assert_eq!(
        agent_boot(&c, &e.url, &run, &t2, &"2".repeat(36), 250 * 1024).await,
        2
    );
    let v = wait_state(&c, &e.url, &run, "passed").await;
    assert_eq!(v.verdict, Some(e2et_model::Verdict::Passed));

    // Server-sent events: one per stored transition, in order, the last
    // with the verdict; a client resuming from an id gets the rest.
    let seen = next_events(stream, v.transitions.len()).await;
    let states = |ev: &[RunEvent]| ev.iter().map(|e| e.state.to_string()).collect::<Vec<_>>();
    assert_eq!(
        states(&seen),
        v.transitions
            .iter()
            .map(|t| t.to.clone())
            .collect::<Vec<_>>()
    );
    assert!(seen.iter().all(|e| e.run == run && e.host == "vm1"));
    let last = seen.last().unwrap();
    assert_eq!(
        (last.verdict, last.from),
        (
            Some(e2et_model::Verdict::Passed),
            Some(e2et_model::RunState::Report)
        )
    );
    let resumed = next_events(events(&c, &e.url, Some(&seen[2].id)).await, seen.len() - 3).await;
    assert_eq!(states(&resumed), states(&seen[3..]));
    let r = events(&c, &e.url, Some("0-1")).await;
    let (kind, _) = next_sse(r).await;
    assert_eq!(kind, "resync", "an id from another coordinator start");

    let rep: e2et_model::Report = c
        .get(format!("{}/api/v1/runs/{run}/report.json", e.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lc = &rep.lifecycle;
    assert_eq!(
        (lc.provisionings, lc.power_cycles, lc.boots, lc.validations),
        (1, 1, 2, 2)
    );
    let actions: Vec<(&str, Option<&str>)> = rep
        .run
        .power_steps
        .iter()
        .map(|p| (p.action.as_str(), p.observed.as_deref()))
        .collect();
    assert_eq!(
        actions,
        [
            ("off", Some("off")),
            ("on", Some("on")),
            ("soft_off", Some("off")),
            ("off", Some("off")),
            ("on", Some("on"))
        ]
    );
    let junit = c
        .get(format!("{}/api/v1/runs/{run}/report.junit.xml", e.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        junit.contains("<testsuites") && junit.contains("verdict — passed"),
        "{junit}"
    );
    // After the run, the agent is dismissed and the MAC boots locally again.
    let r = c
        .post(format!("{}/api/v1/agent/heartbeat", e.url))
        .bearer_auth(&t2)
        .json(&HeartbeatRequest {
            run_id: run.clone(),
            boot_id: "2".repeat(36),
        })
        .send()
        .await
        .unwrap();
    let hb: HeartbeatResponse = r.json().await.unwrap();
    assert_eq!(hb.command, AgentCommand::Abort);
    let s = c
        .get(format!("{}/boot/{MAC}.ipxe", e.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(s.contains("sanboot"), "{s}");
    // A passed cold run promotes what its last boot ran to last-known-good.
    let hosts: Value = c
        .get(format!("{}/api/v1/hosts", e.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lkg = &hosts["vm1"]["lastKnownGood"];
    assert_eq!(lkg["run"], json!(run), "{hosts}");
    assert!(
        lkg["revision"]
            .as_str()
            .is_some_and(|r| r.starts_with("dpkg packages sha256:")),
        "{hosts}"
    );
    // The dashboard and the HTML report show the run.
    let page = c
        .get(format!("{}/", e.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("<tr id=\"run-{run}\" class=\"passed\">"))
            && page.contains("<tr id=\"host-vm1\" class=\"passed\"><td>vm1</td>")
            && page.contains("new EventSource('/api/v1/events')"),
        "{page}"
    );
    let h = c
        .get(format!("{}/api/v1/runs/{run}/report.html", e.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        h.contains("vm1: <span class=\"verdict passed\">passed</span>")
            && h.contains("Power steps"),
        "{h}"
    );
    // Prometheus metrics saw the run, the agent API and the PDU.
    let m = c
        .get(format!("{}/metrics", e.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("e2et_runs{state=\"passed\"} 1"), "{m}");
    for st in [
        "queued",
        "power_on",
        "provisioning",
        "validate",
        "power_cycle",
        "report",
    ] {
        assert!(
            m.contains(&format!(
                "e2et_run_state_duration_seconds_count{{state=\"{st}\"}} 1"
            )),
            "{st}: {m}"
        );
    }
    assert!(m.contains("e2et_event_subscribers "), "{m}");
    assert!(m.contains("e2et_run_verdicts{verdict=\"passed\"} 1"), "{m}");
    assert!(m.contains("e2et_http_request_duration_seconds_count{route=\"/api/v1/agent/hello\",status=\"200\"} 2"), "{m}");
    assert!(
        m.contains(
            "e2et_pdu_command_duration_seconds_count{pdu=\"q\",action=\"off\",ok=\"true\"} 2"
        ),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outlet_that_never_switches_fails_the_run_with_what_was_read() {
    let (d, _) = with_qmp_peer(true, true);
    let e = start(d.path(), false);
    let c = reqwest::Client::new();
    wait_up(&c, &e.url).await;
    let v = create_run(&c, &e.url, "vm1").await;
    let v = wait_end(&c, &e.url, &v.id, 30).await;
    assert_eq!(v.state.as_str(), "failed");
    let rep = report_of(&c, &e.url, &v.id).await;
    let step = &rep.run.power_steps[0];
    assert_eq!(
        (step.action.as_str(), step.ok, step.observed.as_deref()),
        ("off", false, Some("on"))
    );
    assert!(step.detail.contains("did not reach off"), "{}", step.detail);
    assert!(
        rep.run.power_steps.iter().all(|p| p.action != "on"),
        "never switched on after a failed off"
    );
    assert!(
        rep.reasons
            .iter()
            .any(|r| r.contains("provisioning.power_on")),
        "{:?}",
        rep.reasons
    );
    // The operator holds the failed host, then releases it; reasons required.
    let act = |action: &str, reason: &str| {
        c.post(format!("{}/api/v1/runs/{}/{action}", e.url, v.id))
            .json(&json!({ "reason": reason }))
            .send()
    };
    assert_eq!(act("hold", "").await.unwrap().status(), 400);
    let held: RunView = act("hold", "relay 1 stuck, checking the PDU")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(held.state.as_str(), "holding");
    assert!(held.note.contains("relay 1 stuck"), "{}", held.note);
    assert_eq!(act("hold", "again").await.unwrap().status(), 409);
    // A held host takes no new run until it is released.
    let r = c
        .post(format!("{}/api/v1/runs", e.url))
        .json(&json!({"host": "vm1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let err: ApiError = r.json().await.unwrap();
    assert!(
        err.code == "host_busy" && err.message.contains("holding"),
        "{err:?}"
    );
    let rel: RunView = act("release", "PDU relay replaced")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rel.state.as_str(), "released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_token_guards_writes_and_a_browser_cookie_only_reads() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("pdu")).unwrap();
    std::fs::write(d.path().join("token"), "s3cret-token\n").unwrap();
    let tf = d.path().join("token").display().to_string();
    let e = start_with(d.path(), false, &["--operator-token-file", &tf]);
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    wait_up(&c, &e.url).await;
    let runs = format!("{}/api/v1/runs", e.url);
    assert_eq!(c.get(&runs).send().await.unwrap().status(), 401);
    let ok = c
        .get(&runs)
        .bearer_auth("s3cret-token")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    // The dashboard and its event stream are read-only and open.
    assert_eq!(c.get(&e.url).send().await.unwrap().status(), 200);
    events(&c, &e.url, None).await;
    // Sign-in: a wrong token is refused, the right one sets a cookie.
    let login = |t: &str| {
        c.post(format!("{}/login", e.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={t}"))
            .send()
    };
    assert_eq!(login("nope").await.unwrap().status(), 401);
    let r = login("s3cret-token").await.unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("s3cret"), "the cookie is not the token");
    let pair = cookie.split(';').next().unwrap().to_string();
    let r = c.get(&runs).header("cookie", &pair).send().await.unwrap();
    assert_eq!(r.status(), 200, "the cookie reads");
    let r = c
        .post(&runs)
        .header("cookie", &pair)
        .json(&json!({"host": "vm1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the cookie never writes");
    let r = c
        .get(format!("{runs}?limit=0"))
        .bearer_auth("s3cret-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .get(format!("{runs}?limt=3"))
        .bearer_auth("s3cret-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "an unknown query parameter is named");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_beyond_the_limit_wait_queued_for_a_slot() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("pdu")).unwrap();
    for o in [1, 2] {
        qmp_peer(
            &d.path().join(format!("pdu/outlet-{o}.qmp")),
            Arc::new(Mutex::new(false)),
            false,
        );
    }
    let mut inv = inventory(d.path(), false);
    let mut vm2 = inv["hosts"]["vm1"].clone();
    vm2["mac"] = json!("52:54:00:e2:e7:02");
    vm2["fqdn"] = json!("vm2.t.test");
    vm2["ip"] = json!("10.99.0.12");
    vm2["power"][0]["outlet"] = json!(2);
    inv["hosts"]["vm2"] = vm2;
    let e = start_inv(
        d.path(),
        inv,
        &["--max-concurrent-runs", "1", "--hello-timeout-s", "3"],
    );
    let c = reqwest::Client::new();
    wait_up(&c, &e.url).await;
    let create = |h: &'static str| {
        c.post(format!("{}/api/v1/runs", e.url))
            .json(&json!({ "host": h }))
            .send()
    };
    let r1: RunView = create("vm1").await.unwrap().json().await.unwrap();
    wait_state(&c, &e.url, &r1.id, "provisioning").await;
    let r2: RunView = create("vm2").await.unwrap().json().await.unwrap();
    // vm1 holds the only slot until it gives up waiting for its hello.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(run_view(&c, &e.url, &r2.id).await.state.as_str(), "queued");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // vm2 first: once it left queued, vm1 must already be over (vm1's
        // end is durable before its slot is freed). Read the other way
        // round, vm1 could end between the two reads.
        let v2 = run_view(&c, &e.url, &r2.id).await;
        let v1 = run_view(&c, &e.url, &r1.id).await;
        if v2.state != e2et_model::RunState::Queued {
            assert!(
                v1.state.is_terminal(),
                "vm2 is {} while vm1 is still {}",
                v2.state,
                v1.state
            );
            break;
        }
        assert!(Instant::now() < deadline, "vm2 never got the slot");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_boot_request_log_expires_and_the_history_stays() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("pdu")).unwrap();
    let db = d.path().join("e2et.db");
    // A store with a finished run and boot requests from long ago and today.
    {
        let s = e2et_coordinator::store::Store::open(&db).unwrap();
        s.create_run("old", "vm1", e2et_model::RunMode::Cold, "{}")
            .wait()
            .unwrap();
        s.transition("old", e2et_model::RunState::Failed, "x")
            .wait()
            .unwrap();
        s.boot_request(MAC, Some("old"), "today").wait().unwrap();
    }
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        for at in ["2020-01-01T00:00:00.000Z", "2020-06-01T00:00:00.000Z"] {
            c.execute(
                "INSERT INTO boot_requests(at, mac, run_id, decision) VALUES (?1, ?2, 'old', 'long ago')",
                [at, MAC],
            )
            .unwrap();
        }
    }
    let count = |sql: &str| -> i64 {
        rusqlite::Connection::open(&db)
            .unwrap()
            .query_row(sql, [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(count("SELECT COUNT(*) FROM boot_requests"), 3);
    let e = start_with(d.path(), false, &["--retention-days", "30"]);
    let c = reqwest::Client::new();
    wait_up(&c, &e.url).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while count("SELECT COUNT(*) FROM boot_requests") != 1 {
        assert!(
            Instant::now() < deadline,
            "the janitor did not expire the old requests"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        count("SELECT COUNT(*) FROM boot_requests WHERE decision = 'today'"),
        1
    );
    assert_eq!(count("SELECT COUNT(*) FROM runs"), 1, "history stays");
    assert_eq!(count("SELECT COUNT(*) FROM transitions"), 2);
}

/// scripts/notify-peers.py: an HTTP and an SMTP receiver recording to `out`.
struct Peers {
    child: Child,
    http: u16,
    smtp: u16,
}

impl Drop for Peers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn notify_peers(out: &Path, secret: &str) -> Peers {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/notify-peers.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(out)
        .arg(secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 for the notification peers");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(
        line.starts_with("ready"),
        "notify-peers.py did not start (needs aiosmtpd: scripts/lab-deps.sh installs it): {line:?}"
    );
    let port = |k: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|p| p.parse().ok())
            .unwrap()
    };
    Peers {
        http: port("http="),
        smtp: port("smtp="),
        child,
    }
}

fn received(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "host tier: python3 with aiosmtpd and scripts/notify-peers.py (outside the package); scripts/test.sh runs it"]
async fn notifications_reach_ntfy_webhook_and_smtp_without_holding_up_the_run() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("pdu")).unwrap();
    let rec = d.path().join("received.jsonl");
    let peers = notify_peers(&rec, "hook-secret-1");
    let creds = d.path().join("creds");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::write(creds.join("notify-hook-secret"), "hook-secret-1\n").unwrap();
    std::fs::write(creds.join("notify-flaky-secret"), "hook-secret-1\n").unwrap();
    std::fs::write(creds.join("notify-dead-secret"), "hook-secret-1\n").unwrap();
    std::fs::write(creds.join("notify-phone-token"), "tk_ntfy\n").unwrap();
    let h = format!("http://127.0.0.1:{}", peers.http);
    let all = ["run_failed", "run_held", "pdu_error", "run_passed"];
    let cfg = json!({"targets": [
        {"kind": "ntfy", "name": "phone", "url": format!("{h}/e2et-alerts"), "token": true, "events": ["run_failed", "pdu_error"]},
        {"kind": "webhook", "name": "hook", "url": format!("{h}/hook"), "events": all},
        {"kind": "webhook", "name": "flaky", "url": format!("{h}/flaky"), "events": ["run_failed"]},
        {"kind": "webhook", "name": "dead", "url": format!("{h}/dead"), "events": ["run_failed"]},
        {"kind": "smtp", "name": "mail", "server": format!("127.0.0.1:{}", peers.smtp), "tls": "none",
         "from": "e2et <e2et@lab.test>", "to": ["ops@lab.test", "oncall@lab.test"], "events": ["run_failed", "run_held"]},
    ]});
    std::fs::write(d.path().join("notify.json"), cfg.to_string()).unwrap();
    let (nc, cd) = (
        d.path().join("notify.json").display().to_string(),
        creds.display().to_string(),
    );
    // An outlet stuck on: the power-on's off never reads back.
    let running = Arc::new(Mutex::new(true));
    qmp_peer(&d.path().join("pdu/outlet-1.qmp"), running, true);
    let e = start_with(
        d.path(),
        false,
        &["--notify-config", &nc, "--credentials-dir", &cd],
    );
    let c = reqwest::Client::new();
    wait_up(&c, &e.url).await;
    let v = create_run(&c, &e.url, "vm1").await;
    // The run ends at its own pace: the dead receiver's retries do not hold it.
    let failed = wait_state(&c, &e.url, &v.id, "failed").await;
    let r = c
        .post(format!("{}/api/v1/runs/{}/hold", e.url, v.id))
        .json(&json!({"reason": "relay 1 welded"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let want = |r: &[Value]| {
        let n = |f: &dyn Fn(&Value) -> bool| r.iter().filter(|x| f(x)).count();
        n(&|x| x["path"] == "/e2et-alerts") >= 2
            && n(&|x| x["path"] == "/hook") >= 3
            && n(&|x| x["path"] == "/flaky" && x["status"] == 200) == 1
            && n(&|x| x["path"] == "/dead") == 3
            && n(&|x| x["peer"] == "smtp") >= 2
    };
    let deadline = Instant::now() + Duration::from_secs(40);
    let got = loop {
        let got = received(&rec);
        if want(&got) {
            break got;
        }
        assert!(
            Instant::now() < deadline,
            "notifications missing; received: {got:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let body = |x: &Value| -> Value { serde_json::from_str(x["body"].as_str().unwrap()).unwrap() };
    let hooks: Vec<&Value> = got.iter().filter(|x| x["path"] == "/hook").collect();
    assert!(
        hooks.iter().all(|x| x["signature_valid"] == true),
        "{hooks:#?}"
    );
    let kinds: Vec<String> = hooks
        .iter()
        .map(|x| x["headers"]["x-e2et-event"].as_str().unwrap().to_string())
        .collect();
    for k in ["pdu_error", "run_failed", "run_held"] {
        assert!(kinds.iter().any(|x| x == k), "{k} not in {kinds:?}");
    }
    let f = hooks
        .iter()
        .map(|x| body(x))
        .find(|b| b["kind"] == "run_failed")
        .unwrap();
    assert_eq!(f["run"]["run"], v.id.as_str());
    assert_eq!(f["run"]["state"], "failed");
    assert!(
        f["reasons"].as_array().is_some_and(|r| !r.is_empty()),
        "a failed run's notice says why: {f}"
    );
    assert!(f["link"].as_str().unwrap().ends_with("/report.html"));
    let p = hooks
        .iter()
        .map(|x| body(x))
        .find(|b| b["kind"] == "pdu_error")
        .unwrap();
    assert_eq!(
        (&p["pdu_step"]["action"], &p["pdu_step"]["observed"]),
        (&json!("off"), &json!("on"))
    );
    let held = hooks
        .iter()
        .map(|x| body(x))
        .find(|b| b["kind"] == "run_held")
        .unwrap();
    assert!(held["message"].as_str().unwrap().contains("relay 1 welded"));
    // ntfy: the topic, its token, a title and priority.
    let n = got.iter().find(|x| x["path"] == "/e2et-alerts").unwrap();
    assert_eq!(n["headers"]["authorization"], "Bearer tk_ntfy");
    assert_eq!(n["headers"]["priority"], "high");
    assert!(n["headers"]["title"].as_str().unwrap().starts_with("vm1"));
    // SMTP: both recipients, a subject naming the host.
    let m = got.iter().find(|x| x["peer"] == "smtp").unwrap();
    assert_eq!(m["rcpt_tos"], json!(["ops@lab.test", "oncall@lab.test"]));
    assert!(
        m["data"].as_str().unwrap().contains("Subject: [e2et] vm1"),
        "{m}"
    );
    // The flaky receiver got it on the third try; the dead one never did,
    // which is logged and counted, and changed nothing for the run.
    assert_eq!(failed.state.as_str(), "failed");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let m = c
            .get(format!("{}/metrics", e.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if m.contains(
            "e2et_notifications_total{target=\"dead\",kind=\"run_failed\",delivered=\"false\"} 1",
        ) {
            assert!(m.contains("e2et_notifications_total{target=\"flaky\",kind=\"run_failed\",delivered=\"true\"} 1"), "{m}");
            break;
        }
        assert!(Instant::now() < deadline, "{m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = daemon_logs(d.path());
    assert!(
        log.contains("notification not delivered") && log.contains("dead"),
        "{log}"
    );
    assert!(
        !log.contains("hook-secret-1") && !log.contains("tk_ntfy"),
        "secrets stay out of the log"
    );
}

/// What every e2etd started in `dir` logged (one file per daemon).
fn daemon_logs(dir: &Path) -> String {
    let mut logs = String::new();
    for f in std::fs::read_dir(dir).unwrap().flatten() {
        if f.file_name().to_string_lossy().starts_with("e2etd-") {
            logs += &std::fs::read_to_string(f.path()).unwrap_or_default();
        }
    }
    logs
}

/// Waits for a daemon armed with --crash-after to abort.
fn wait_crash(e: &mut Daemon, dir: &Path) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_in_inventory_gate_resumes_the_run() {
    let (d, running) = with_qmp_peer(false, false);
    let c = reqwest::Client::new();
    let mut e = start_with(d.path(), false, &["--crash-after", "inventory_gate"]);
    wait_up(&c, &e.url).await;
    // The reply may or may not beat the abort; the store has the run either way.
    let _ = c
        .post(format!("{}/api/v1/runs", e.url))
        .json(&json!({"host": "vm1"}))
        .send()
        .await;
    wait_crash(&mut e, d.path());
    assert!(
        !*running.lock().unwrap(),
        "no power action before the crash"
    );
    drop(e);
    let e = start(d.path(), false);
    wait_up(&c, &e.url).await;
    let runs: Vec<RunView> = c
        .get(format!("{}/api/v1/runs", e.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(runs.len(), 1);
    let v = wait_state(&c, &e.url, &runs[0].id, "provisioning").await;
    let states: Vec<&str> = v.transitions.iter().map(|t| t.to.as_str()).collect();
    assert_eq!(
        states,
        ["queued", "inventory_gate", "power_on", "provisioning"],
        "resumed without repeating"
    );
    assert!(*running.lock().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_power_command_and_read_back_holds_the_run() {
    let (d, running) = with_qmp_peer(true, false);
    let c = reqwest::Client::new();
    let mut e = start_with(d.path(), false, &["--crash-after", "intent:off"]);
    wait_up(&c, &e.url).await;
    let v = create_run(&c, &e.url, "vm1").await;
    wait_crash(&mut e, d.path());
    drop(e);
    let e = start(d.path(), false);
    wait_up(&c, &e.url).await;
    let v = wait_state(&c, &e.url, &v.id, "holding").await;
    assert!(
        v.note.contains("not read back") && v.note.contains("power_on"),
        "{}",
        v.note
    );
    // Nothing was switched after the restart: the outlet is as it was.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        *running.lock().unwrap(),
        "a power action the store cannot justify was repeated"
    );
    let r = c
        .get(format!("{}/api/v1/runs/{}/report.json", e.url, v.id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "a held run has no verdict report");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_silent_after_hello_times_out_on_the_heartbeat_with_its_trail() {
    let (d, _) = with_qmp_peer(true, false);
    // The host's serial console: a socket the coordinator reads.
    let sock = d.path().join("vm1.console");
    let listener = tokio::net::UnixListener::bind(&sock).unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s
                .write_all(b"\x1b[2JSeaBIOS\r\nLinux version 6.1\r\nINFO: task kworker/0:1 blocked for more than 120 seconds.\r\n")
                .await;
            tokio::time::sleep(Duration::from_secs(600)).await;
        }
    });
    let mut inv = inventory(d.path(), false);
    inv["hosts"]["vm1"]["consoleCapture"] = Value::String(format!("unix:{}", sock.display()));
    let dhcp_log = d.path().join("dnsmasq.log").display().to_string();
    let e = start_inv(
        d.path(),
        inv,
        &[
            "--facts-timeout-s",
            "120",
            "--heartbeat-timeout-s",
            "2",
            "--dhcp-log",
            &dhcp_log,
        ],
    );
    let c = reqwest::Client::new();
    wait_up(&c, &e.url).await;
    let v = create_run(&c, &e.url, "vm1").await;
    wait_state(&c, &e.url, &v.id, "provisioning").await;
    // The host's DHCP after its power-on, as dnsmasq's `log-facility`
    // writes it (local time, whole seconds).
    let stamp = chrono::Local::now().format("%b %e %H:%M:%S");
    std::fs::write(
        d.path().join("dnsmasq.log"),
        format!(
            "{stamp} dnsmasq-dhcp[7]: 42 DHCPDISCOVER(br0) {MAC} \n\
             {stamp} dnsmasq-dhcp[7]: 42 DHCPACK(br0) 10.99.0.11 {MAC} vm1\n\
             {stamp} dnsmasq-dhcp[7]: 43 DHCPDISCOVER(br0) 52:54:00:00:00:99 ignored\n"
        ),
    )
    .unwrap();
    let token = boot_token(&c, &e.url, &v.id).await;
    let boot_id = "6e0c1a2b-0000-4000-8000-000000000001";
    c.post(format!("{}/api/v1/agent/hello", e.url))
        .bearer_auth(&token)
        .json(&HelloRequest {
            run_id: v.id.clone(),
            boot_id: boot_id.into(),
            hostname: "vm1".into(),
            macs: vec![MAC.into()],
            cmdline: format!("e2et.run={} e2et.token=x", v.id),
            probe_version: "test".into(),
        })
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let hb: HeartbeatResponse = c
        .post(format!("{}/api/v1/agent/heartbeat", e.url))
        .bearer_auth(&token)
        .json(&HeartbeatRequest {
            run_id: v.id.clone(),
            boot_id: boot_id.into(),
        })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(hb.command, AgentCommand::Continue);
    // Then nothing: the host hangs while collecting.
    let v = wait_end(&c, &e.url, &v.id, 60).await;
    assert_ne!(v.state.as_str(), "passed");
    let rep = report_of(&c, &e.url, &v.id).await;
    let check = rep
        .run_checks
        .iter()
        .find(|c| c.id == "first_boot.facts_reported.boot1")
        .unwrap_or_else(|| panic!("no facts check: {:?}", rep.run_checks));
    for want in [
        "agent silent for",
        "(heartbeat timeout 2s)",
        "last heard: heartbeat",
        "last DHCP seen at",
        &format!("(DHCPACK(br0) 10.99.0.11 {MAC} vm1)"),
        "iPXE script fetched at",
        "console's last line: \"INFO: task kworker/0:1 blocked for more than 120 seconds.\"",
    ] {
        assert!(
            check.evidence.contains(want),
            "no {want:?} in: {}",
            check.evidence
        );
    }
    // The console is served with the run.
    let console = c
        .get(format!("{}/api/v1/runs/{}/console.log", e.url, v.id))
        .send()
        .await
        .unwrap();
    assert_eq!(console.status(), 200);
    let text = console.text().await.unwrap();
    assert!(text.contains("Linux version 6.1"), "{text}");
    // The dashboard links it from the run's row, and tells its script which
    // hosts have one (for rows it adds live).
    let page = c
        .get(format!("{}/", e.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!(
            "<a href=\"/api/v1/runs/{}/console.log\">console</a>",
            v.id
        )) && page.contains(r#"document.body.dataset.consoles = "[\"vm1\"]";"#),
        "{page}"
    );
    let none = c
        .get(format!("{}/api/v1/runs/nope/console.log", e.url))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_hangs_while_the_coordinator_is_down_is_caught_after_the_restart() {
    let (d, _) = with_qmp_peer(true, false);
    let c = reqwest::Client::new();
    let mut e = start_with(d.path(), false, &["--crash-after", "validate"]);
    wait_up(&c, &e.url).await;
    let v = create_run(&c, &e.url, "vm1").await;
    wait_state(&c, &e.url, &v.id, "provisioning").await;
    let token = boot_token(&c, &e.url, &v.id).await;
    // The hello moves the run to validate, where the coordinator aborts; the
    // answer may or may not beat the abort.
    let _ = c
        .post(format!("{}/api/v1/agent/hello", e.url))
        .bearer_auth(&token)
        .json(&HelloRequest {
            run_id: v.id.clone(),
            boot_id: "6e0c1a2b-0000-4000-8000-000000000002".into(),
            hostname: "vm1".into(),
            macs: vec![MAC.into()],
            cmdline: format!("e2et.run={} e2et.token=x", v.id),
            probe_version: "test".into(),
        })
        .send()
        .await;
    wait_crash(&mut e, d.path());
    drop(e);
    // Restarted; the agent never speaks again (the host hung meanwhile).
    let e = start_with(
        d.path(),
        false,
        &["--facts-timeout-s", "120", "--heartbeat-timeout-s", "2"],
    );
    wait_up(&c, &e.url).await;
    let v = wait_end(&c, &e.url, &v.id, 60).await;
    let rep = report_of(&c, &e.url, &v.id).await;
    let check = rep
        .run_checks
        .iter()
        .find(|c| c.id == "first_boot.facts_reported.boot1")
        .unwrap_or_else(|| panic!("no facts check: {:?}", rep.run_checks));
    assert!(
        check.evidence.contains("agent silent for")
            && check
                .evidence
                .contains("last heard: nothing since the coordinator restarted"),
        "{}",
        check.evidence
    );
}

/// Enrols `boot_id` of the host's installed system with `key`, signed at
/// `ts` (Unix seconds).
async fn enrol(
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
async fn installed_boot(
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
async fn enrolled_boot(
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quick_run_cycles_and_revalidates_the_installed_system_and_never_promotes() {
    // The host is up on its installed system.
    let (d, running) = with_qmp_peer(true, false);
    let creds = d.path().join("creds");
    std::fs::create_dir_all(&creds).unwrap();
    let e = start_with(
        d.path(),
        false,
        &["--credentials-dir", creds.to_str().unwrap()],
    );
    let c = reqwest::Client::new();
    wait_up(&c, &e.url).await;

    // Without the host's enrolment key a quick run could never finish.
    let r = c
        .post(format!("{}/api/v1/runs", e.url))
        .json(&json!({"host": "vm1", "mode": "quick"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let err: ApiError = r.json().await.unwrap();
    assert_eq!(err.code, "no_enrolment_key");
    assert!(err.message.contains("agent-vm1"), "{}", err.message);
    let key = "k3y-of-vm1";
    std::fs::write(creds.join("agent-vm1"), format!("{key}\n")).unwrap();
    let now = chrono::Utc::now().timestamp();
    // No run waits for the host: a normal boot of its installed system.
    let r = enrol(&c, &e.url, "vm1", "boot-0", key, now).await;
    assert_eq!(r.status(), 404);

    let r = c
        .post(format!("{}/api/v1/runs", e.url))
        .json(&json!({"host": "vm1", "mode": "quick"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: RunView = r.json().await.unwrap();
    let run = v.id.clone();
    assert_eq!(v.mode, e2et_model::RunMode::Quick);
    wait_state(&c, &e.url, &run, "revalidate").await;
    assert!(
        *running.lock().unwrap(),
        "the cycle ends with the outlet on"
    );
    // The boot path hands the host to its disk, never the netboot image.
    let s = c
        .get(format!("{}/boot/{MAC}.ipxe", e.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        s.contains("boots the installed system")
            && s.contains("sanboot")
            && !s.contains("e2et.token"),
        "{s}"
    );
    // Enrolment refuses a wrong key, a stale or missing timestamp, an
    // unknown host; nothing of that hands out a token.
    for (host, k, ts, want, code) in [
        ("vm1", "wrong", now, 401, "bad_signature"),
        ("vm1", key, now - 3600, 401, "stale"),
        ("vm9", key, now, 404, "unknown_host"),
    ] {
        let r = enrol(&c, &e.url, host, "boot-x", k, ts).await;
        assert_eq!(r.status(), want, "{host} {k} {ts}");
        let err: ApiError = r.json().await.unwrap();
        assert_eq!(err.code, code);
    }
    let r = c
        .post(format!("{}/api/v1/agent/enrol", e.url))
        .json(&json!({"host": "vm1", "boot_id": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // The host boots for a while after the outlet came back on.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (rid, seq) = installed_boot(&c, &e.url, key, &"1".repeat(36), 0.2).await;
    assert_eq!((rid.as_str(), seq), (run.as_str(), 1));

    let v = wait_end(&c, &e.url, &run, 30).await;
    assert_eq!(
        v.state.as_str(),
        "transient",
        "{}: {:?}",
        v.note,
        report_of(&c, &e.url, &run).await.reasons
    );
    let rep = report_of(&c, &e.url, &run).await;
    assert_eq!(rep.mode, e2et_model::RunMode::Quick);
    assert_eq!(
        (
            rep.lifecycle.provisionings,
            rep.lifecycle.power_cycles,
            rep.lifecycle.boots
        ),
        (0, 1, 1)
    );
    assert!(
        rep.reasons
            .iter()
            .any(|r| r.contains("quick run: revalidated without reprovisioning"))
            && rep.reasons.iter().any(
                |r| r.contains("quick runs never promote: the host has no last-known-good yet")
            ),
        "{:?}",
        rep.reasons
    );
    let rb = rep
        .run_checks
        .iter()
        .find(|c| c.id == "first_boot.reboot_observed")
        .unwrap();
    assert!(rb.passed(), "{rb:?}");
    assert!(
        rb.evidence.contains("outlet read back off at"),
        "{}",
        rb.evidence
    );
    // The cycle was cut without a soft off (no agent of the run was up).
    let actions: Vec<&str> = rep
        .run
        .power_steps
        .iter()
        .map(|s| s.action.as_str())
        .collect();
    assert_eq!(actions, ["off", "on"], "{actions:?}");
    let states: Vec<&str> = rep.run.transitions.iter().map(|t| t.to.as_str()).collect();
    assert_eq!(
        states,
        [
            "queued",
            "inventory_gate",
            "power_cycle",
            "revalidate",
            "report"
        ]
    );
    let hosts: Value = c
        .get(format!("{}/api/v1/hosts", e.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(hosts["vm1"]["lastKnownGood"].is_null(), "{hosts}");

    // A boot whose kernel started before the cycle is no reboot: failed.
    let r = c
        .post(format!("{}/api/v1/runs", e.url))
        .json(&json!({"host": "vm1", "mode": "quick"}))
        .send()
        .await
        .unwrap();
    let run2 = r.json::<RunView>().await.unwrap().id;
    wait_state(&c, &e.url, &run2, "revalidate").await;
    // One token per boot: a replay of the enrolment is refused.
    let b2 = "2".repeat(36);
    let now = chrono::Utc::now().timestamp();
    let en: EnrolResponse = enrol(&c, &e.url, "vm1", &b2, key, now)
        .await
        .json()
        .await
        .unwrap();
    let r = enrol(&c, &e.url, "vm1", &b2, key, now).await;
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<ApiError>().await.unwrap().code, "enrolled");
    enrolled_boot(&c, &e.url, &en, &b2, 86_400.0).await;
    let v = wait_end(&c, &e.url, &run2, 30).await;
    assert_eq!(v.state.as_str(), "failed", "{}", v.note);
    let r = enrol(&c, &e.url, "vm1", &"3".repeat(36), key, now).await;
    assert_eq!(r.status(), 404, "a finished run takes no enrolment");
    let rep = report_of(&c, &e.url, &run2).await;
    assert!(
        rep.reasons
            .iter()
            .any(|r| r.contains("first_boot.reboot_observed")),
        "{:?}",
        rep.reasons
    );
}

/// OpenIPMI's BMC simulator, serving RMCP+ on `port` with SOL wired to a
/// TCP "serial port"; killed on drop.
struct Bmc(Child);

impl Drop for Bmc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const BMC_PASSWORD: &str = "sol-s3cret";

fn ipmi_sim(dir: &Path, port: u16, serial: u16) -> Bmc {
    std::fs::create_dir_all(dir.join("bmc-state")).unwrap();
    std::fs::write(
        dir.join("lan.conf"),
        format!(
            "name \"e2et-test-bmc\"\nset_working_mc 0x20\n  startlan 1\n    addr 127.0.0.1 {port}\n    priv_limit admin\n    allowed_auths_admin md5\n    guid a123456789abcdefa123456789abcdef\n  endlan\n  sol \"tcp:127.0.0.1:{serial}\" 115200\n  user 2 true \"e2et\" \"{BMC_PASSWORD}\" admin 10 md5\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("bmc.emu"),
        "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n",
    )
    .unwrap();
    let child = Command::new("ipmi_sim")
        .arg("-c")
        .arg(dir.join("lan.conf"))
        .arg("-f")
        .arg(dir.join("bmc.emu"))
        .arg("-s")
        .arg(dir.join("bmc-state"))
        .arg("-n")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("ipmi_sim.log")).unwrap())
        .spawn()
        .expect("ipmi_sim (Debian package openipmi; scripts/lab-deps.sh installs it)");
    Bmc(child)
}

/// `ipmitool sol activate` against the test BMC, as a person (or a crashed
/// coordinator) would hold it.
fn sol_session(port: u16, pw: &Path) -> Command {
    let mut c = Command::new("ipmitool");
    c.args(["-I", "lanplus", "-H", "127.0.0.1", "-p", &port.to_string()])
        .args(["-U", "e2et", "-C", "3", "-f"])
        .arg(pw)
        .args(["sol", "activate"]);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "host tier: OpenIPMI's ipmi_sim and ipmitool; scripts/test.sh runs it"]
async fn a_console_behind_ipmi_sol_is_kept_through_ipmitool_and_its_session_freed() {
    let (d, _) = with_qmp_peer(false, false);
    // The host's serial port, which the BMC carries over SOL.
    let serial = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let serial_port = serial.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = serial.accept().await {
            tokio::spawn(async move {
                for i in 0.. {
                    let line = format!("serial line {i}: Linux version 6.1\r\n");
                    if s.write_all(line.as_bytes()).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
        }
    });
    let bmc_port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _bmc = ipmi_sim(d.path(), bmc_port, serial_port);
    let creds = d.path().join("creds");
    std::fs::create_dir_all(&creds).unwrap();
    let pw = d.path().join("bmc-password");
    std::fs::write(&pw, BMC_PASSWORD).unwrap();
    // A session left on the BMC by an ipmitool killed before it could
    // deactivate the payload (a coordinator crashed mid-capture, or a
    // person's terminal lost).
    let mut stale = loop {
        let mut s = sol_session(bmc_port, &pw)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ipmitool (Debian package ipmitool; scripts/lab-deps.sh installs it)");
        let mut out = std::io::BufReader::new(s.stdout.take().unwrap());
        let mut first = String::new();
        std::io::BufRead::read_line(&mut out, &mut first).unwrap();
        if first.contains("SOL Session operational") {
            break s;
        }
        // ipmi_sim not listening yet.
        let _ = s.kill();
        let _ = s.wait();
        std::thread::sleep(Duration::from_millis(300));
    };
    stale.kill().unwrap();
    stale.wait().unwrap();

    let mut inv = inventory(d.path(), false);
    inv["hosts"]["vm1"]["consoleCapture"] =
        Value::String(format!("ipmi-sol:e2et@127.0.0.1:{bmc_port}?cipher=3"));
    let e = start_inv(
        d.path(),
        inv,
        &[
            "--hello-timeout-s",
            "25",
            "--credentials-dir",
            creds.to_str().unwrap(),
        ],
    );
    let c = reqwest::Client::new();
    wait_up(&c, &e.url).await;
    let v = create_run(&c, &e.url, "vm1").await;
    let console = |c: reqwest::Client, url: String| async move {
        c.get(url).send().await.unwrap().text().await.unwrap()
    };
    let url = format!("{}/api/v1/runs/{}/console.log", e.url, v.id);
    let until = |want: &'static str| {
        let (c, url) = (c.clone(), url.clone());
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let text = console(c.clone(), url.clone()).await;
                if text.contains(want) {
                    return text;
                }
                assert!(
                    Instant::now() < deadline,
                    "no {want:?} in the console: {text}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    // No password yet: said in the console an operator reads, and retried.
    until("no SOL password:").await;
    std::fs::write(creds.join("ipmi-vm1"), BMC_PASSWORD).unwrap();
    // Then the stale session is taken over and the console flows.
    let text = until("serial line").await;
    let took = text
        .find("SOL payload was active in another session: deactivated it")
        .unwrap_or_else(|| panic!("the stale session was not taken over: {text}"));
    let connected = text
        .rfind("console ipmi-sol:e2et@127.0.0.1")
        .unwrap_or_else(|| panic!("no connection mark: {text}"));
    assert!(
        took < connected && connected < text.rfind("serial line").unwrap(),
        "{text}"
    );
    assert!(
        !text.contains(BMC_PASSWORD),
        "the password is in the console log"
    );
    // The run ends (no agent ever says hello); the capture closes its session
    // so the BMC's payload is free for the next person.
    let v = wait_end(&c, &e.url, &v.id, 60).await;
    assert_ne!(v.state.as_str(), "passed");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let o = sol_session(bmc_port, &pw)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        if o.status.success() && !err.contains("already active") {
            assert!(
                String::from_utf8_lossy(&o.stdout).contains("SOL Session operational"),
                "{o:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the coordinator left its SOL session on the BMC: {err}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let log = daemon_logs(d.path());
    assert!(
        !log.contains(BMC_PASSWORD),
        "the password is in e2etd's log"
    );
}
