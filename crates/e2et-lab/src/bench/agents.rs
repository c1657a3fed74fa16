//! `e2et-lab bench-agents`: N simulated agents (hello, facts, heartbeats)
//! against a real e2etd on loopback whose store holds N runs in flight.
use anyhow::{bail, Context, Result};
use e2et_coordinator::store::Store;
use e2et_model::api::*;
use e2et_model::facts::*;
use e2et_model::{RunMode, RunState};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Host `h<i>`'s address: 127.100.0.1, 127.100.0.2, … (all of 127/8 is
/// local on Linux).
fn ip(i: usize) -> String {
    let (a, b) = (i / 250, i % 250 + 1);
    format!("127.{}.{}.{b}", 100 + a / 250, a % 250)
}

fn host(i: usize) -> serde_json::Value {
    serde_json::json!({
        "mac": format!("02:00:00:00:{:02x}:{:02x}", i / 256, i % 256),
        // Each agent speaks from its host's own address (a loopback alias):
        // e2etd takes a run's agent requests from that address only.
        "ip": ip(i),
        "fqdn": format!("h{i}.bench.test"),
        "power": [{"pdu": "p", "outlet": i + 1}],
        "console": "serial", "profile": "bench", "requiredZone": "p90",
        "expect": {"cpus": 2, "minRamMib": 100, "persistentPaths": ["/persist/id"]}
    })
}

fn inventory(n: usize) -> serde_json::Value {
    let hosts: serde_json::Map<String, serde_json::Value> =
        (0..n).map(|i| (format!("h{i}"), host(i))).collect();
    serde_json::json!({
        "version": 1, "site": {"name": "bench", "domain": "bench.test"},
        "pdus": {"p": {"driver": "qmp", "address": "/nonexistent/e2et-bench", "outlets": n, "cycleDelayS": 0}},
        "profiles": {"bench": {}},
        "hosts": hosts
    })
}

/// A healthy host's facts for host `h<i>` (what a probe on a real
/// server sends: every gate, a dozen vulnerability entries, modules).
fn facts(boot_id: &str, run: &str, i: usize) -> Result<Facts> {
    let spec: e2et_model::HostSpec =
        serde_json::from_value(host(i)).context("the bench host spec")?;
    let mut f = e2et_score::example::healthy_facts(&spec, run, boot_id);
    for v in [
        "meltdown",
        "spectre_v1",
        "spectre_v2",
        "mds",
        "l1tf",
        "retbleed",
        "srbds",
        "mmio_stale_data",
        "itlb_multihit",
        "tsx_async_abort",
        "gather_data_sampling",
    ] {
        f.platform.vulnerabilities.insert(
            v.to_string(),
            "Mitigation: something long enough to be realistic".to_string(),
        );
    }
    f.platform.modules = (0..80).map(|m| format!("module_{m}")).collect();
    Ok(f)
}

/// A whole HTTP/1.1 POST, ready to write.
fn request(port: u16, path: &str, token: &str, body: &[u8]) -> Arc<[u8]> {
    let mut r = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
    r.extend_from_slice(body);
    r.into()
}

/// An agent's connection to e2etd on loopback, from its host's address.
async fn connect(from: std::net::SocketAddr, port: u16) -> Result<Conn> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.bind(from)
        .with_context(|| format!("binding {from} (a loopback alias)"))?;
    let s = sock.connect(([127, 0, 0, 1], port).into()).await?;
    s.set_nodelay(true)?;
    Ok(Conn::new(s))
}

/// A keep-alive connection to e2etd.
struct Conn {
    s: tokio::net::TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn new(s: tokio::net::TcpStream) -> Conn {
        Conn {
            s,
            buf: Vec::with_capacity(4096),
        }
    }

    /// Writes `req` and reads the whole response (status line, headers,
    /// a Content-Length body); returns the status code.
    async fn exchange(&mut self, req: &[u8]) -> Result<u16> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.s.write_all(req).await?;
        self.buf.clear();
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > 64 << 10 {
                bail!("response head over 64 KiB");
            }
            let mut chunk = [0u8; 4096];
            let n = self.s.read(&mut chunk).await?;
            if n == 0 {
                bail!("e2etd closed the connection");
            }
            self.buf.extend_from_slice(&chunk[..n]);
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).context("response head")?;
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .context("no status code")?;
        let len: usize = head
            .split("\r\n")
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())
                    .flatten()
            })
            .context("response without Content-Length")?;
        let mut have = self.buf.len() - head_end;
        while have < len {
            let mut chunk = [0u8; 4096];
            let n = self.s.read(&mut chunk).await?;
            if n == 0 {
                bail!("e2etd closed the connection mid-body");
            }
            have += n;
        }
        if have > len {
            bail!("bytes after the response: this client sends one request at a time");
        }
        Ok(status)
    }
}

#[derive(Default)]
struct Lat {
    hello: Vec<f64>,
    facts: Vec<f64>,
    heartbeat: Vec<f64>,
}

/// User plus system CPU seconds of process `pid` (from /proc), so the
/// figures show what the daemon costs apart from the simulated agents
/// sharing the same cores.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // /proc reports clock ticks in USER_HZ, 100 on every Linux port we run on.
    Some(ticks / 100.0)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return 0.0;
    }
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

pub fn run(bin: &Path, counts: &[usize], heartbeats: usize, concurrency: usize) -> Result<()> {
    println!("agents: hello + facts (~{} KB) + {heartbeats} heartbeats each, {concurrency} agents in flight (one connection each, from its host's address), real e2etd on loopback, SQLite WAL synchronous=FULL",
            serde_json::to_string(&facts("x", "r", 0)?)?.len() / 1024);
    for &n in counts {
        one(bin, n, heartbeats, concurrency)?;
    }
    Ok(())
}

fn one(bin: &Path, n: usize, heartbeats: usize, concurrency: usize) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("e2et-bench-agents-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("art"))?;
    let inv = inventory(n);
    std::fs::write(dir.join("inv.json"), inv.to_string())?;
    // N runs in flight: provisioning, one boot token each.
    let mut tokens = Vec::with_capacity(n);
    {
        let store = Store::open(&dir.join("e2et.db"))?;
        for i in 0..n {
            let run = format!("r{i}");
            let spec = serde_json::to_string(&inv["hosts"][format!("h{i}")])?;
            store
                .create_run(&run, &format!("h{i}"), RunMode::Cold, &spec)
                .wait()?;
            store
                .transition(&run, RunState::Provisioning, "bench")
                .wait()?;
            let token = format!("token-{i}-{}", std::process::id());
            let hash = hex::encode(e2et_coordinator::api::sha256(&token));
            store.issue_token(&run, 1, &hash, &ip(i)).wait()?;
            tokens.push((run, token, ip(i)));
        }
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let mut daemon = Command::new(bin.join("e2etd"))
        .env("RUST_LOG", "warn")
        .arg("--inventory")
        .arg(dir.join("inv.json"))
        .arg("serve")
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--public-url",
            &url,
        ])
        .arg("--db")
        .arg(dir.join("e2et.db"))
        .arg("--artifacts")
        .arg(dir.join("art"))
        // Only the agent API is measured; nothing else reaches this e2etd.
        .arg("--insecure-open-operator-api")
        .args([
            "--hello-timeout-s",
            "3600",
            "--facts-timeout-s",
            "3600",
            "--soft-off-timeout-s",
            "0",
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("e2etd.log"))?)
        .spawn()
        .context("starting e2etd")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
            let http = reqwest::Client::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            while http.get(format!("{url}/healthz")).send().await.is_err() {
                if Instant::now() > deadline {
                    bail!("e2etd did not start; see {}", dir.join("e2etd.log").display());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // The agents' side is a lean HTTP/1.1 client: each agent has its
            // own keep-alive connection from its host's address (as a real
            // host would) and writes requests whole from bytes built before
            // the clock starts. The daemon's side is untouched (axum/hyper
            // parse and answer every request as from any agent); the client
            // only spends less of the two shared cores than reqwest would.
            let sem = Arc::new(Semaphore::new(concurrency));
            let lat = Arc::new(std::sync::Mutex::new(Lat::default()));
            let errors = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            // Every request is serialized before the clock starts, as an
            // agent would hold its facts before sending them: the load
            // generator shares the two cores with e2etd, so every cycle it
            // spends measuring is one the daemon lacks.
            let mut work = Vec::with_capacity(n);
            for (i, (run, token, ip)) in tokens.into_iter().enumerate() {
                let boot_id = format!("{i:08x}-0000-4000-8000-{i:012x}");
                let hello = serde_json::to_vec(&HelloRequest {
                    run_id: run.clone(), boot_id: boot_id.clone(), hostname: format!("h{i}"),
                    macs: vec![], cmdline: format!("e2et.run={run}"), probe_version: "bench".into(),
                })?;
                let f = serde_json::to_vec(&FactsRequest { run_id: run.clone(), boot_id: boot_id.clone(), facts: facts(&boot_id, &run, i)? })?;
                let hb = serde_json::to_vec(&HeartbeatRequest { run_id: run.clone(), boot_id })?;
                let from: std::net::SocketAddr = (ip.parse::<std::net::Ipv4Addr>()?, 0).into();
                work.push((
                    from,
                    request(port, "/api/v1/agent/hello", &token, &hello),
                    request(port, "/api/v1/agent/facts", &token, &f),
                    request(port, "/api/v1/agent/heartbeat", &token, &hb),
                ));
            }
            let cpu0 = cpu_seconds(daemon.id()).unwrap_or(0.0);
            let gen0 = cpu_seconds(std::process::id()).unwrap_or(0.0);
            let t0 = Instant::now();
            let mut tasks = Vec::with_capacity(n);
            for (from, hello, f, hb) in work {
                let (sem, lat, errors) = (sem.clone(), lat.clone(), errors.clone());
                tasks.push(tokio::spawn(async move {
                    let record = |kind: u8, v: Option<f64>| match v {
                        Some(ms) => {
                            if let Ok(mut l) = lat.lock() {
                                match kind { 0 => l.hello.push(ms), 1 => l.facts.push(ms), _ => l.heartbeat.push(ms) }
                            }
                        }
                        None => { errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed); }
                    };
                    let Ok(_permit) = sem.acquire().await else { return };
                    let Ok(mut conn) = connect(from, port).await else {
                        errors.fetch_add(2 + heartbeats, std::sync::atomic::Ordering::Relaxed);
                        return;
                    };
                    let mut timed = async |req: &[u8]| {
                        let t = Instant::now();
                        let status = conn.exchange(req).await;
                        let ms = t.elapsed().as_secs_f64() * 1000.0;
                        matches!(status, Ok(200..=299)).then_some(ms)
                    };
                    record(0, timed(&hello).await);
                    record(1, timed(&f).await);
                    for _ in 0..heartbeats {
                        record(2, timed(&hb).await);
                    }
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
            let secs = t0.elapsed().as_secs_f64();
            let cpu = cpu_seconds(daemon.id()).map(|c| c - cpu0).unwrap_or(f64::NAN);
            let gen = cpu_seconds(std::process::id()).map(|c| c - gen0).unwrap_or(f64::NAN);
            let mut l = std::mem::take(&mut *lat.lock().map_err(|_| anyhow::anyhow!("lock"))?);
            let total = l.hello.len() + l.facts.len() + l.heartbeat.len();
            let errs = errors.load(std::sync::atomic::Ordering::Relaxed);
            let mut all: Vec<f64> = l.hello.iter().chain(&l.facts).chain(&l.heartbeat).copied().collect();
            println!(
                "N={n:<6} requests {total:<6} errors {errs:<4} {secs:6.2} s  {:8.0} req/s  p50 {:6.2} ms  p99 {:7.2} ms | hello p99 {:6.2} ms  facts p99 {:6.2} ms  heartbeat p99 {:6.2} ms | e2etd CPU {cpu:.2} s ({:.0} us/request), agents' CPU {gen:.2} s",
                total as f64 / secs,
                pct(&mut all, 0.5),
                pct(&mut all, 0.99),
                pct(&mut l.hello, 0.99),
                pct(&mut l.facts, 0.99),
                pct(&mut l.heartbeat, 0.99),
                cpu * 1e6 / total.max(1) as f64,
            );
            Ok(())
        });
    let _ = daemon.kill();
    let _ = daemon.wait();
    if std::env::var_os("E2ET_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}
