//! The impostor: a second machine on vm1's provisioning bridge (its own
//! namespace and address) that asks for vm1's boot script the moment vm1's
//! run starts and then says hello as vm1's agent, with whatever token it
//! got. The run must never pass: it fails with "conflicting agents" naming
//! both addresses, and no power action follows the conflict.
use super::*;
use e2et_model::report::{PowerAction, PowerState};
use std::process::Command;

/// The impostor's address on the bridge (vm1 has 10.99.0.11).
pub(super) const IMPOSTOR_IP: &str = "10.99.0.66";

/// Starts the impostor; its thread returns what it saw.
pub(super) fn start(lab: &mut Lab, mac: &str) -> Result<std::thread::JoinHandle<Result<String>>> {
    let ns = lab.add_neighbour("imp", &format!("{IMPOSTOR_IP}/24"))?;
    let mac = mac.to_string();
    println!("[impostor] (lab) a second machine on the bridge: netns {ns}, {IMPOSTOR_IP}, asking for {mac}'s boot script");
    Ok(std::thread::spawn(move || impostor(&ns, &mac)))
}

fn curl(ns: &str, args: &[&str]) -> Result<String> {
    let o = Command::new("ip")
        .args(["netns", "exec", ns, "curl", "-sS", "-m", "5"])
        .args(args)
        .output()
        .context("running curl in the impostor's namespace (scripts/lab-deps.sh installs curl)")?;
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

fn impostor(ns: &str, mac: &str) -> Result<String> {
    let url = crate::lab::coordinator_url();
    let deadline = Instant::now() + Duration::from_secs(180);
    // Until vm1's run owns its boot path, the answer is its local disk
    // ("no active run", "... not booting"); then take the script first.
    let script = loop {
        let s = curl(ns, &[&format!("{url}/boot/{mac}.ipxe")])?;
        if s.contains("e2et.run=") || s.contains("conflicting agents") {
            break s;
        }
        ensure!(
            Instant::now() < deadline,
            "vm1's run never owned its boot path: last answer {s:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let word = |k: &str| {
        script
            .split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .map(str::to_string)
    };
    let token = word("e2et.token=");
    let run = word("e2et.run=").unwrap_or_else(|| "unknown".into());
    let hello = serde_json::json!({
        "run_id": run, "boot_id": "66666666-6666-4666-8666-666666666666",
        "hostname": "vm1", "macs": [mac], "cmdline": format!("e2et.run={run}"),
        "probe_version": "impostor"
    })
    .to_string();
    let status = curl(
        ns,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            &format!(
                "Authorization: Bearer {}",
                token.as_deref().unwrap_or("forged")
            ),
            "-H",
            "Content-Type: application/json",
            "-d",
            &hello,
            &format!("{url}/api/v1/agent/hello"),
        ],
    )?;
    let first = script.lines().find(|l| l.starts_with("echo")).unwrap_or("");
    Ok(format!(
        "script: {} ({first}); hello: HTTP {status}",
        if token.is_some() {
            "WITH a token"
        } else {
            "no token"
        },
    ))
}

/// What the impostor scenario must show.
pub(super) fn expect(r: &Report, code: i32, seen: &str) -> Result<()> {
    println!("[impostor] the impostor's view: {seen}");
    ensure!(
        seen.contains("no token") && !seen.contains("HTTP 200"),
        "the impostor got a token or was heard: {seen}"
    );
    ensure!(
        code != 0 && r.verdict == e2et_model::Verdict::Failed,
        "verdict {} (exit {code}) with an impostor on the bridge: {:?}",
        r.verdict,
        r.reasons
    );
    let c = check(r, "provisioning.one_agent")?;
    ensure!(c.hard_failed(), "{c:?}");
    for want in ["conflicting agents", IMPOSTOR_IP, "10.99.0.11"] {
        ensure!(
            c.evidence.contains(want),
            "the conflict lacks {want:?}: {}",
            c.evidence
        );
    }
    // The only power actions are the run's own power-on (off, then on, each
    // read back): nothing the impostor did switched the outlet.
    let steps: Vec<(PowerAction, Option<PowerState>)> = r
        .run
        .power_steps
        .iter()
        .map(|p| (p.action, p.observed))
        .collect();
    ensure!(
        steps
            == [
                (PowerAction::Off, Some(PowerState::Off)),
                (PowerAction::On, Some(PowerState::On))
            ]
            && r.lifecycle.power_cycles == 0,
        "power steps {steps:?}, {} cycle(s): want the power-on's off and on only",
        r.lifecycle.power_cycles
    );
    println!("[impostor] {}: {}", c.id, c.evidence);
    println!("[impostor] power log: off, on (the run's power-on); no cycle, no soft off");
    Ok(())
}
