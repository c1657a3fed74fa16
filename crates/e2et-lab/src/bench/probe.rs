//! `e2et-lab bench-probe`: the probe's whole collection (every gate but
//! performance) beside `lshw -json` on this machine, each a fresh process
//! per run as an operator or the agent would start it. Goal: at most half
//! of lshw's time.
use super::stats;
use anyhow::{ensure, Context, Result};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

fn time(c: &mut Command) -> Result<f64> {
    let t = Instant::now();
    let s = c
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("running {c:?}"))?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    ensure!(s.success(), "{c:?} exited {s}");
    Ok(ms)
}

pub fn run(bin: &Path, inventory: &Path, iterations: usize) -> Result<()> {
    let probe = bin.join("e2et-probe");
    let lshw = Command::new("lshw").arg("-version").output();
    ensure!(
        lshw.is_ok(),
        "lshw is not installed (scripts/lab-deps.sh installs it)"
    );
    // The agent gets its spec from the coordinator: evaluate the
    // inventory once, so the runs time collection, not nix-instantiate.
    let inv_json =
        std::env::temp_dir().join(format!("e2et-bench-probe-{}.json", std::process::id()));
    std::fs::write(&inv_json, e2et_inventory::inventory_json(inventory)?)?;
    let inventory = inv_json.as_path();
    let mut plain = Vec::new();
    let mut profiled = Vec::new();
    let mut hw = Vec::new();
    // Warm the page cache for all three first.
    time(Command::new(&probe).arg("collect"))?;
    time(Command::new("lshw").arg("-json"))?;
    for _ in 0..iterations {
        plain.push(time(Command::new(&probe).arg("collect"))?);
        profiled.push(time(
            Command::new(&probe)
                .arg("collect")
                .arg("--inventory")
                .arg(inventory)
                .args(["--profile", "aaa-domain-client"]),
        )?);
        hw.push(time(Command::new("lshw").arg("-json"))?);
    }
    // One run's own per-domain timings, to show where the time goes.
    let out = Command::new(&probe).arg("collect").output()?;
    let facts: e2et_model::Facts = serde_json::from_slice(&out.stdout)?;
    println!(
            "probe collection (all gates but performance) vs lshw -json, {iterations} runs each, one process per run, on {} CPU(s)",
            facts.platform.cpu_count
        );
    let a = stats("e2et-probe collect", plain);
    let b = stats("e2et-probe collect --profile aaa-domain-client", profiled);
    let c = stats("lshw -json", hw);
    let domains: Vec<String> = facts
        .timings_ms
        .iter()
        .map(|(d, ms)| format!("{d} {ms:.1}"))
        .collect();
    println!(
        "per domain in one run (ms, in parallel): {}",
        domains.join(", ")
    );
    println!(
        "ratio to lshw (p50): {:.2}, with the AAA profile's lookups {:.2}  (goal <= 0.50)",
        a / c,
        b / c
    );
    let _ = std::fs::remove_file(inventory);
    Ok(())
}
