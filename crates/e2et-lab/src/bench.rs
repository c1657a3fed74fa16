//! `e2et-lab bench-pdu`: a full verified cycle (off, read back off, on, read
//! back on; no configured delay) against the AP7901 emulator on loopback, done
//! by e2et-pdu's driver in process, by the e2et-pdu CLI, and by net-snmp's
//! snmpset/snmpget commands, in one run. Prints the figures.
use anyhow::{bail, Context, Result};
use e2et_pdu::apc::{ApcConfig, ApcSnmpDriver, AuthProto, OutletTable, PrivProto, SnmpAuth};
use e2et_pdu::{cycle, CyclePlan, Feed, NoLog, Poll};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub mod agents;
pub mod probe;

const USER: &str = "e2et-shaaes";
const AP: &str = "sha-auth-pass";
const PP: &str = "sha-priv-pass";

fn stats(name: &str, mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let p50 = v[v.len() / 2];
    let p90 = v[(v.len() * 9 / 10).min(v.len() - 1)];
    println!(
        "{name:<44} n={:<3} mean {mean:8.2} ms  p50 {p50:8.2} ms  p90 {p90:8.2} ms",
        v.len()
    );
    p50
}

fn net_snmp(tool: &str, addr: &str, oid: &str, set: Option<i64>) -> Result<String> {
    let mut c = Command::new(tool);
    c.args([
        "-v3", "-l", "authPriv", "-u", USER, "-a", "SHA", "-A", AP, "-x", "AES", "-X", PP,
    ])
    .args(["-Oqv", "-t", "1", "-r", "1", addr, oid]);
    if let Some(v) = set {
        c.args(["i", &v.to_string()]);
    }
    let o = c.output().with_context(|| format!("running {tool}"))?;
    if !o.status.success() {
        bail!("{tool}: {}", String::from_utf8_lossy(&o.stderr));
    }
    Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// The verified cycle with net-snmp's commands: what a shell script would do.
fn cli_cycle(addr: &str, outlet: u32) -> Result<()> {
    let ctl = format!("1.3.6.1.4.1.318.1.1.12.3.3.1.1.4.{outlet}");
    let st = format!("1.3.6.1.4.1.318.1.1.12.3.5.1.1.4.{outlet}");
    for (cmd, want) in [(2, "2"), (1, "1")] {
        net_snmp("snmpset", addr, &ctl, Some(cmd))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while net_snmp("snmpget", addr, &st, None)? != want {
            if Instant::now() > deadline {
                bail!("outlet {outlet} never read {want}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Ok(())
}

pub fn run(bin: &Path, iterations: usize) -> Result<()> {
    let dir = tempfile_dir()?;
    let port = std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut emu = Command::new(bin.join("e2et-lab"))
        .arg("pdu-emulator")
        .arg("--dir")
        .arg(&dir)
        .args(["--listen", &format!("udp:{addr}"), "--delay-ms", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the emulator")?;
    let result = (|| -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while net_snmp("snmpget", &addr, "1.3.6.1.2.1.1.2.0", None).is_err() {
            if Instant::now() > deadline {
                bail!("emulator did not start");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        println!("full verified cycle (off, read back off, on, read back on), AP7901 emulator on {addr}, SNMPv3 SHA/AES authPriv, no cycle delay, {iterations} iterations each");
        let poll = Poll {
            interval: Duration::from_millis(10),
            timeout: Duration::from_secs(5),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let driver = Arc::new(ApcSnmpDriver::new(ApcConfig {
            name: "bench".into(),
            address: addr.clone(),
            auth: SnmpAuth::V3 {
                user: USER.into(),
                auth: AuthProto::Sha,
                auth_password: AP.into(),
                privacy: Some((PrivProto::Aes, PP.into())),
            },
            table: OutletTable::Rpdu,
            timeout: Duration::from_secs(1),
            retries: 1,
        }));
        let feeds = [Feed {
            pdu: "bench".into(),
            outlet: 1,
            driver: driver.clone(),
        }];
        let mut lib = Vec::new();
        for _ in 0..iterations {
            let t = Instant::now();
            rt.block_on(cycle(
                &NoLog,
                &feeds,
                &CyclePlan::full(Duration::ZERO),
                None,
                poll,
            ))
            .map_err(|(_, e)| anyhow::anyhow!("{e}"))?;
            lib.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let creds = dir.join("creds");
        let mut proc_ = Vec::new();
        for _ in 0..iterations {
            let t = Instant::now();
            let o = Command::new(bin.join("e2et-pdu"))
                .args(["--address", &addr, "--user", USER, "--auth-protocol", "SHA"])
                .arg("--auth-password-file")
                .arg(creds.join(format!("pdu-{USER}-auth")))
                .args(["--priv-protocol", "AES"])
                .arg("--priv-password-file")
                .arg(creds.join(format!("pdu-{USER}-priv")))
                .args([
                    "--outlet",
                    "2",
                    "--force",
                    "--poll-interval-ms",
                    "10",
                    "--delay-s",
                    "0",
                    "cycle",
                ])
                .output()?;
            if !o.status.success() {
                bail!("e2et-pdu cycle: {}", String::from_utf8_lossy(&o.stderr));
            }
            proc_.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let mut cli = Vec::new();
        for _ in 0..iterations {
            let t = Instant::now();
            cli_cycle(&addr, 3)?;
            cli.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let a = stats("e2et-pdu driver (in process, session kept)", lib);
        let b = stats("e2et-pdu CLI (one process per cycle)", proc_);
        let c = stats("net-snmp snmpset/snmpget (process per call)", cli);
        println!(
            "ratio to net-snmp (p50): driver {:.3}, e2et-pdu CLI {:.3}  (goal <= 0.25)",
            a / c,
            b / c
        );
        Ok(())
    })();
    let _ = emu.kill();
    let _ = emu.wait();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("e2et-bench-pdu-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
