//! Lab scenarios: each runs the real lifecycle (dnsmasq, iPXE, QEMU, e2etd, the
//! e2et CLI) and checks what the issue says it must show.
use crate::lab::Lab;
use crate::netboot::Artifacts;
use anyhow::{bail, ensure, Context, Result};
use e2et_model::api::ReportFormat;
use e2et_model::report::Report;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// vm1 through the whole cold lifecycle: passed.
    Pass,
    /// A path on the netboot rootfs (RAM) declared persistent: not passed.
    PersistenceLoss,
    /// The spec asks for more RAM than the VM has: failed on a hard check.
    HardFail,
    /// A known MAC without a run boots the local disk; an unknown MAC gets no DHCP.
    NoRun,
    /// The coordinator is killed (abort, as kill -9) right after entering each
    /// lifecycle state of one run and restarted; the run must resume, pass,
    /// and the PDU log show every power action exactly once.
    Crash,
    /// Eight VMs (vm1..vm8 on outlets 1..8 of one SNMPv3 PDU) through the
    /// cold lifecycle at once: all passed; total time beside each run's.
    Fleet,
    /// A real IPA/SSSD client on this machine (slapd, sssd, sshd, chrony in
    /// namespaces): the identity gate passes, then breaks the ways its checks
    /// name; a capture of it replays identically.
    Identity,
    /// Debian's real OpenRC as a host's service manager: failed starts,
    /// crashed daemons and supervised respawns read from what OpenRC leaves.
    Openrc,
    /// vm1's link goes down right after it fetched its iPXE script (QMP
    /// set_link, a dead switch port): the run times out without a hello and
    /// its reason names the last DHCP, the script fetch, the agent's silence
    /// and the console's last line; the console is served with the run.
    Hung,
    /// vm1 also has an installed system on a disk (SYSLINUX). A cold run
    /// passes and promotes the netboot image to last-known-good; then a quick
    /// run power-cycles vm1, which boots its disk (the boot script hands it
    /// over), whose agent enrols with the host's key: transient, and the
    /// last-known-good stays the cold run's.
    Quick,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Pass => "pass",
            Scenario::PersistenceLoss => "persistence-loss",
            Scenario::HardFail => "hard-fail",
            Scenario::NoRun => "no-run",
            Scenario::Crash => "crash",
            Scenario::Fleet => "fleet",
            Scenario::Identity => "identity",
            Scenario::Openrc => "openrc",
            Scenario::Hung => "hung",
            Scenario::Quick => "quick",
        }
    }
}

/// States the crash scenario kills the coordinator in, in lifecycle order.
/// (inventory_gate is covered by crates/e2et-coordinator/tests/lifecycle.rs:
/// there the crash races the reply to the run's creation.)
pub const CRASH_POINTS: &[&str] = &[
    "power_on",
    "provisioning",
    "first_boot",
    "validate",
    "power_cycle",
    "revalidate",
    "report",
];

/// VMs in the fleet scenario.
pub const FLEET: u32 = 8;

pub const RAM_PATH: &str = "/var/lib/sss/db/cache_lab.e2et.test.ldb";
const UNKNOWN_MAC: &str = "52:54:00:e2:e7:99";

/// The lab's inventory: hosts/inventory.nix evaluated, narrowed to the hosts on
/// the lab's QMP "PDU", whose sockets live in the run directory, with the
/// scenario's changes.
pub fn lab_inventory(base_json: &str, pdu_dir: &Path, s: Scenario) -> Result<Value> {
    let mut inv: Value = serde_json::from_str(base_json).context("inventory JSON")?;
    let hosts = inv["hosts"]
        .as_object_mut()
        .context("inventory has no hosts")?;
    hosts.retain(|name, _| name == "vm1");
    let vm1 = hosts
        .get_mut("vm1")
        .context("the inventory has no lab host vm1")?;
    let used: Vec<String> = vm1["power"]
        .as_array()
        .context("vm1.power")?
        .iter()
        .filter_map(|o| o["pdu"].as_str().map(str::to_string))
        .collect();
    match s {
        Scenario::PersistenceLoss => {
            vm1["expect"]["persistentPaths"]
                .as_array_mut()
                .context("vm1.expect.persistentPaths")?
                .push(Value::String(RAM_PATH.into()));
        }
        Scenario::HardFail => vm1["expect"]["minRamMib"] = Value::from(65536),
        Scenario::Pass
        | Scenario::NoRun
        | Scenario::Crash
        | Scenario::Fleet
        | Scenario::Identity
        | Scenario::Openrc
        | Scenario::Hung
        | Scenario::Quick => {}
    }
    if s == Scenario::Fleet {
        // vm2..vm8 from vm1's spec: their own MAC, address and outlet, one CPU
        // each (eight guests share the machine's two cores).
        let mut template = hosts.get("vm1").cloned().context("vm1")?;
        template["expect"]["cpus"] = Value::from(1);
        // Eight guests on two cores: measuring performance there would
        // measure the contention (the pass scenario measures it alone).
        if let Some(e) = template["expect"].as_object_mut() {
            e.remove("performance");
        }
        hosts.insert("vm1".into(), template.clone());
        for n in 2..=FLEET {
            let mut h = template.clone();
            h["mac"] = Value::String(format!("52:54:00:e2:e7:{n:02x}"));
            h["ip"] = Value::String(format!("10.99.0.{}", 10 + n));
            h["fqdn"] = Value::String(format!("vm{n}.lab.e2et.test"));
            h["power"][0]["outlet"] = Value::from(n);
            hosts.insert(format!("vm{n}"), h);
        }
    }
    // Every lab VM's serial console is a QEMU socket the coordinator keeps;
    // in the crash scenario vm1's goes through its BMC's Serial over LAN (a
    // coordinator killed mid-capture must not leave the session stuck).
    let lab_dir = pdu_dir.parent().unwrap_or(pdu_dir);
    for (name, h) in hosts.iter_mut() {
        h["consoleCapture"] = Value::String(if s == Scenario::Crash && name == "vm1" {
            crate::lab::sol_capture()
        } else {
            format!(
                "unix:{}",
                crate::lab::console_socket(lab_dir, name).display()
            )
        });
    }
    let pdus = inv["pdus"]
        .as_object_mut()
        .context("inventory has no pdus")?;
    pdus.retain(|name, _| used.contains(name));
    for p in pdus.values_mut() {
        if p["driver"] == "qmp" {
            p["address"] = Value::String(pdu_dir.display().to_string());
        }
    }
    Ok(inv)
}

/// The hung scenario's hello timeout: iPXE's script arrives ~4 s after
/// power-on and the hello ~12 s later under TCG.
const HUNG_HELLO_TIMEOUT_S: u64 = 60;

pub struct Outcome {
    pub verdict: String,
    pub seconds: f64,
}

pub struct Env<'a> {
    pub bin: &'a Path,
    pub inventory_json: &'a str,
    pub artifacts: &'a Artifacts,
    pub out: PathBuf,
}

fn spec_mac(inv: &Value, host: &str) -> Result<String> {
    inv["hosts"][host]["mac"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("inventory host {host} has no mac"))
}

fn outlet(inv: &Value, host: &str) -> Result<u64> {
    inv["hosts"][host]["power"][0]["outlet"]
        .as_u64()
        .with_context(|| format!("inventory host {host} has no outlet"))
}

pub fn run(env: &Env<'_>, s: Scenario) -> Result<Outcome> {
    if s == Scenario::Identity {
        return crate::devhost::run(env);
    }
    if s == Scenario::Openrc {
        return crate::devhost::run_openrc(env);
    }
    let dir = env.out.join(s.name());
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let dir = dir.canonicalize()?;
    let pdu_dir = dir.join("pdu");
    let inv = lab_inventory(env.inventory_json, &pdu_dir, s)?;
    let inv_path = dir.join("inventory.json");
    std::fs::write(&inv_path, serde_json::to_string_pretty(&inv)?)?;
    let mac = spec_mac(&inv, "vm1")?;
    let qmp = pdu_dir.join(format!("outlet-{}.qmp", outlet(&inv, "vm1")?));

    let mut lab = Lab::new(&dir, env.bin)?;
    println!("[{}] lab in {} (netns {})", s.name(), dir.display(), lab.ns);
    // vm1's PDU: an SNMPv3 AP7901 emulator wired to QEMU, or QMP directly.
    let pdu_name = inv["hosts"]["vm1"]["power"][0]["pdu"]
        .as_str()
        .context("vm1.power[0].pdu")?
        .to_string();
    let pdu = inv["pdus"][&pdu_name].clone();
    let snmp_listen = (pdu["driver"] == "apc-snmp")
        .then(|| pdu["address"].as_str().map(str::to_string))
        .flatten();
    std::fs::create_dir_all(dir.join("creds"))?;
    if let Some(listen) = &snmp_listen {
        let user = pdu["snmp"]["user"].as_str().context("lab PDU snmp.user")?;
        let (_, _, ap, _, pp) = crate::pdu_emulator::USERS
            .iter()
            .find(|u| u.0 == user)
            .with_context(|| format!("the emulator has no user {user}"))?;
        // The coordinator reads these as it would systemd credentials.
        std::fs::write(dir.join(format!("creds/pdu-{pdu_name}-auth")), ap)?;
        std::fs::write(dir.join(format!("creds/pdu-{pdu_name}-priv")), pp)?;
        lab.start_pdu_emulator(listen, &pdu_dir)?;
        println!("[{}] PDU {pdu_name}: SNMPv3 ({user}) AP7901 emulator on {listen}, outlets wired to QEMU over QMP", s.name());
    }
    lab.start_site_dns(&inv_path)?;
    lab.start_dnsmasq(&inv_path)?;
    // The crash scenario's coordinator runs under a supervisor that restarts
    // it after each crash, arming the next crash point.
    let supervisor = if s == Scenario::Crash {
        Some(crate::supervise::Supervisor::start(
            &lab,
            &inv_path,
            env.artifacts,
            CRASH_POINTS,
        )?)
    } else {
        // The hung host's run should not wait 3 minutes to say it is stuck.
        let hello_timeout = if s == Scenario::Hung {
            HUNG_HELLO_TIMEOUT_S
        } else {
            180
        };
        lab.start_e2etd(&inv_path, env.artifacts, hello_timeout)?;
        None
    };
    let start = Instant::now();

    if s == Scenario::NoRun {
        return no_run(&mut lab, &mac, &qmp, start);
    }
    if s == Scenario::Fleet {
        return fleet(&mut lab, &inv, &pdu_dir, start);
    }
    if s == Scenario::Quick {
        return quick(&mut lab, env.artifacts, &dir, &mac, &qmp, start);
    }

    if s == Scenario::Crash {
        lab.serial_over_sol("vm1");
    }
    let vm = lab.start_vm("vm1", &mac, &qmp, false)?;
    if s == Scenario::Crash {
        lab.start_bmc("vm1")?;
        println!(
            "[crash] vm1's BMC: ipmi_sim, RMCP+ on 127.0.0.1:{} (SOL: vm1's serial port); e2etd reads the console as {}",
            crate::lab::BMC_PORT,
            crate::lab::sol_capture()
        );
    }
    // The pass scenario is watched in Chromium: the dashboard is open before
    // the run exists and must follow it live.
    let watch = if s == Scenario::Pass {
        Some(crate::browser::Watch::start(
            &lab,
            "vm1",
            &dir.join("dashboard.png"),
            &format!("[{}] ", s.name()),
        )?)
    } else {
        None
    };
    // The hung scenario cuts vm1's link once its script is fetched (the
    // kernel download then fails): a watcher, as the CLI prints nothing until
    // the run ends.
    let cutter = (s == Scenario::Hung).then(|| {
        let (log, qmp) = (dir.join("e2etd.log"), qmp.clone());
        std::thread::spawn(move || -> Result<()> {
            ensure!(
                wait_for_text(&log, "boot script issued", Duration::from_secs(180))?,
                "vm1 never fetched its boot script; see {}",
                log.display()
            );
            crate::pdu_emulator::qmp(
                &qmp,
                &[r#"{"execute": "set_link", "arguments": {"name": "n0", "up": false}}"#],
            )?;
            println!("[hung] (lab) vm1 fetched its iPXE script: its link is now down");
            Ok(())
        })
    });
    let mut c = lab.cli();
    c.args(["run", "vm1"]);
    // In the pass scenario the PDU's SNMP agent restarts between the power-on
    // and the power cycle of the same run: the coordinator must re-discover
    // the engine (new boots, time reset) instead of failing notInTimeWindow.
    let mut restarted = false;
    let restart_at = (s == Scenario::Pass)
        .then_some(snmp_listen.clone())
        .flatten();
    let prefix = format!("[{}] ", s.name());
    let (code, out) = lab.run_streamed(c, &prefix, &mut |lab, line| {
        if let Some(listen) = &restart_at {
            if !restarted && line.contains(" validate ") {
                lab.restart_pdu_emulator(listen)?;
                restarted = true;
                println!("{prefix}(lab) restarted the PDU's snmpd during validate: engine boots incremented");
            }
        }
        Ok(())
    })?;
    ensure!(
        restart_at.is_none() || restarted,
        "the run never reached validate, so the PDU agent restart was not exercised"
    );
    if restarted {
        let log = std::fs::read_to_string(dir.join("e2etd.log")).unwrap_or_default();
        let line = log
            .lines()
            .find(|l| l.contains("SNMP engine re-discovered"))
            .context("the PDU agent restarted but e2etd logged no engine re-discovery")?;
        println!("[{}] e2etd: {}", s.name(), line.trim());
    }
    let seconds = start.elapsed().as_secs_f64();
    if let Some(t) = cutter {
        t.join()
            .map_err(|_| anyhow::anyhow!("the link cutter panicked"))??;
    }
    lab.check_children()?;
    if let Some(w) = watch {
        let summary: Value = serde_json::from_str(&w.finish(Duration::from_secs(60))?)
            .context("the dashboard test's summary")?;
        let seen: Vec<&str> = summary["seen"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        ensure!(
            ["provisioning", "validate", "revalidate"]
                .iter()
                .all(|st| seen.contains(st))
                && seen.last() == Some(&"passed"),
            "the dashboard's host row did not follow the run: it showed {seen:?}"
        );
        let links: Vec<&str> = summary["reportLinks"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        ensure!(
            links.contains(&"junit") && links.contains(&"console"),
            "the finished run's row links {links:?}, want the reports and the kept console"
        );
        println!(
            "[{}] Chromium saw the dashboard change live (no reload): {} -> {}; screenshot {}",
            s.name(),
            summary["initial"].as_str().unwrap_or("?"),
            seen.join(" -> "),
            dir.join("dashboard.png").display()
        );
    }
    let run_id = verdict_run(&out).with_context(|| {
        format!(
            "the CLI printed no verdict line; serial log: {}",
            vm.serial.display()
        )
    })?;
    // The three renderings of the same run.
    let mut texts = Vec::new();
    for (fmt, file) in [ReportFormat::Json, ReportFormat::Md, ReportFormat::Junit]
        .map(|f| (f.name(), f.file_name()))
    {
        let o = lab
            .cli()
            .args(["report", &run_id, "--format", fmt])
            .output()
            .context("e2et report")?;
        ensure!(
            o.status.success(),
            "e2et report --format {fmt}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        ensure!(!o.stdout.is_empty(), "empty {fmt} report");
        std::fs::write(dir.join(file), &o.stdout)?;
        texts.push(String::from_utf8_lossy(&o.stdout).into_owned());
    }
    // The console the coordinator kept, fetched as an operator would.
    let o = lab
        .cli()
        .args(["console", &run_id])
        .output()
        .context("e2et console")?;
    ensure!(
        o.status.success(),
        "e2et console {run_id}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::write(dir.join("console.log"), &o.stdout)?;
    texts.push(String::from_utf8_lossy(&o.stdout).into_owned());
    let crashes = match supervisor {
        Some(sup) => Some(sup.finish()?),
        None => None,
    };
    let report: Report = serde_json::from_str(&texts[0]).context("parsing report.json")?;
    println!(
        "[{}] reports: {}/report.{{json,md,junit.xml}}",
        s.name(),
        dir.display()
    );
    print!("{}", texts[1]);
    expect(s, &report, code, &texts)?;
    if let Some(crashes) = crashes {
        ensure!(
            crashes.len() == CRASH_POINTS.len(),
            "the coordinator crashed at {crashes:?}, expected each of {CRASH_POINTS:?}"
        );
        println!(
            "[crash] coordinator aborted and restarted after entering: {}",
            crashes.join(", ")
        );
    }
    Ok(Outcome {
        verdict: report.verdict.to_string(),
        seconds,
    })
}

fn check<'a>(r: &'a Report, id: &str) -> Result<&'a e2et_model::Check> {
    r.run_checks
        .iter()
        .chain(r.validations.iter().flat_map(|v| v.checks.iter()))
        .find(|c| c.id == id)
        .with_context(|| format!("report has no check {id}"))
}

/// What each scenario must show, checked on the report itself.
fn expect(s: Scenario, r: &Report, code: i32, texts: &[String]) -> Result<()> {
    let lc = &r.lifecycle;
    match s {
        Scenario::Pass => {
            ensure!(
                code == 0,
                "e2et run exited {code}, verdict {}: {:?}",
                r.verdict,
                r.reasons
            );
            ensure!(
                r.verdict == e2et_model::Verdict::Passed,
                "verdict {}: {:?}",
                r.verdict,
                r.reasons
            );
            ensure!(
                (lc.provisionings, lc.power_cycles, lc.boots, lc.validations) == (1, 1, 2, 2),
                "lifecycle counts {lc:?}, want 1 provisioning, 1 power cycle, 2 boots, 2 validations"
            );
            // The console e2etd kept: iPXE running this run's script, and
            // both boots' userspace.
            let console = &texts[3];
            let script = format!("e2et: run {} host vm1: netboot", r.run.id);
            let inits = console.matches("e2et-lab: init on").count();
            ensure!(
                console.contains(&script) && inits == 2,
                "the kept console lacks {script:?} or has {inits} boots of userspace, want 2"
            );
            println!(
                "[pass] console kept by e2etd: {} bytes: iPXE ran this run's script, {inits} boots of userspace",
                console.len()
            );
            ensure!(
                r.validations.len() == 2,
                "{} validations",
                r.validations.len()
            );
            let (b1, b2) = (&r.validations[0].boot_id, &r.validations[1].boot_id);
            ensure!(
                b1 != b2 && !b1.is_empty(),
                "boot ids not different: {b1} {b2}"
            );
            ensure!(
                r.zone >= r.required_zone,
                "zone {} below {}",
                r.zone,
                r.required_zone
            );
            let offs = r
                .run
                .power_steps
                .iter()
                .filter(|p| {
                    p.action == e2et_model::report::PowerAction::Off
                        && p.observed == Some(e2et_model::report::PowerState::Off)
                })
                .count();
            let ons = r
                .run
                .power_steps
                .iter()
                .filter(|p| {
                    p.action == e2et_model::report::PowerAction::On
                        && p.observed == Some(e2et_model::report::PowerState::On)
                })
                .count();
            ensure!(
                offs >= 2 && ons >= 2,
                "power steps not read back: {:?}",
                r.run.power_steps
            );
            ensure!(
                texts[2].contains("<testsuites") && texts[1].contains("PASSED"),
                "md/junit do not show the run"
            );
            println!(
                "[pass] boot ids {b1} → {b2}; lifecycle {lc:?}; score {} zone {}",
                r.score, r.zone
            );
        }
        Scenario::PersistenceLoss => {
            ensure!(
                r.verdict != e2et_model::Verdict::Passed,
                "verdict passed despite lost state"
            );
            let c = check(r, &format!("storage.persistent.unchanged:{RAM_PATH}"))?;
            ensure!(c.hard_failed(), "persistence check did not fail: {c:?}");
            let hashes: Vec<&str> = c
                .evidence
                .split("sha256:")
                .skip(1)
                .map(|h| &h[..16.min(h.len())])
                .collect();
            ensure!(
                c.evidence.contains(RAM_PATH) && hashes.len() == 2 && hashes[0] != hashes[1],
                "evidence must name the path and two different hashes: {}",
                c.evidence
            );
            let kept = check(r, "storage.persistent.unchanged:/persist/e2et/enrolment")?;
            ensure!(
                kept.passed(),
                "the disk-backed path should have survived: {kept:?}"
            );
            println!("[persistence-loss] {}: {}", c.id, c.evidence);
        }
        Scenario::HardFail => {
            ensure!(
                r.verdict == e2et_model::Verdict::Failed,
                "verdict {}",
                r.verdict
            );
            let c = check(r, "platform.memory.min")?;
            ensure!(c.hard_failed(), "{c:?}");
            ensure!(c.expected.as_deref() == Some(">= 65536 MiB"), "{c:?}");
            ensure!(
                r.reasons.iter().any(|x| x.contains("platform.memory.min")),
                "{:?}",
                r.reasons
            );
            println!(
                "[hard-fail] {}: expected {:?}, observed {:?}",
                c.id, c.expected, c.observed
            );
        }
        Scenario::Crash => {
            ensure!(
                r.verdict == e2et_model::Verdict::Passed,
                "verdict {}: {:?}",
                r.verdict,
                r.reasons
            );
            ensure!(
                (lc.provisionings, lc.power_cycles, lc.boots, lc.validations) == (1, 1, 2, 2),
                "lifecycle counts {lc:?} after the restarts"
            );
            let actions: Vec<&str> = r
                .run
                .power_steps
                .iter()
                .map(|p| p.action.as_str())
                .collect();
            ensure!(
                actions == ["off", "on", "soft_off", "off", "on"],
                "the PDU log repeats or lacks an action across restarts: {actions:?}"
            );
            ensure!(
                r.run
                    .power_steps
                    .iter()
                    .all(|p| p.ok && p.observed.is_some()),
                "{:?}",
                r.run.power_steps
            );
            println!("[crash] power log across 7 restarts: {actions:?}; facts of both boots kept");
            // The console, read over IPMI SOL by each coordinator in turn:
            // both boots' iPXE script and userspace, and a session that
            // every restart got back (ended by the dead one's ipmitool on
            // its closed input, or taken over from the BMC).
            let console = &texts[3];
            let script = format!("e2et: run {} host vm1: netboot", r.run.id);
            let inits = console.matches("e2et-lab: init on").count();
            let scripts = console.matches(&script).count();
            let sessions = console.matches("[SOL Session operational").count();
            let takeovers = console
                .matches("SOL payload was active in another session")
                .count();
            ensure!(
                scripts == 2 && inits == 2,
                "the console read over SOL has {scripts} of this run's iPXE scripts and {inits} boots of userspace, want 2 and 2"
            );
            // (A coordinator that crashes within a step of its start may
            // die before its session is up: not every start shows one.)
            ensure!(
                sessions >= 2,
                "{sessions} SOL sessions across {} coordinator starts: a restarted coordinator never got the console back",
                CRASH_POINTS.len() + 1
            );
            println!(
                "[crash] console kept over IPMI SOL: {} bytes, {sessions} SOL sessions ({takeovers} taken over from a stale session), both boots' iPXE script and userspace",
                console.len()
            );
        }
        Scenario::Hung => {
            ensure!(
                r.verdict != e2et_model::Verdict::Passed,
                "a host that never said hello passed"
            );
            let c = check(r, "first_boot.booted")?;
            ensure!(c.hard_failed(), "{c:?}");
            // The trail: each witness, in the reason an operator reads.
            for want in [
                "no hello within",
                "powered on at",
                "last DHCP seen at",
                "DHCPACK(br0) 10.99.0.11",
                "iPXE script fetched at",
                "agent not heard from",
                "console's last line",
            ] {
                ensure!(
                    c.evidence.contains(want),
                    "the reason lacks {want:?}: {}",
                    c.evidence
                );
            }
            let console = &texts[3];
            ensure!(
                console.contains("iPXE") && console.contains("console unix:"),
                "the kept console has no iPXE output: {} bytes",
                console.len()
            );
            println!("[hung] {}: {}", c.id, c.evidence);
            println!(
                "[hung] console kept by e2etd: {} bytes, served at /api/v1/runs/{}/console.log",
                console.len(),
                r.run.id
            );
        }
        Scenario::NoRun
        | Scenario::Fleet
        | Scenario::Identity
        | Scenario::Openrc
        | Scenario::Quick => {
            bail!("scenario {} has no single lifecycle report", s.name())
        }
    }
    Ok(())
}

/// Runs `e2et run vm1` with `args`, returning (exit code, run id).
fn lab_run(lab: &mut Lab, args: &[&str], prefix: &str) -> Result<(i32, String)> {
    let mut c = lab.cli();
    c.args(["run", "vm1"]).args(args);
    let (code, out) = lab.run_streamed(c, prefix, &mut |_, _| Ok(()))?;
    let id = verdict_run(&out).context("the CLI printed no verdict line")?;
    Ok((code, id))
}

/// The run id on `e2et run`'s closing `verdict=… run=<id>` line.
fn verdict_run(out: &str) -> Option<String> {
    out.lines()
        .find_map(|l| {
            l.strip_prefix("verdict=")
                .and_then(|r| r.split("run=").nth(1))
        })
        .map(|s| s.trim().to_string())
}

/// `e2et report <run> --format <fmt>` (and `console`), as text.
fn cli_text(lab: &Lab, args: &[&str]) -> Result<String> {
    let o = lab.cli().args(args).output().context("e2et")?;
    ensure!(
        o.status.success(),
        "e2et {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

fn quick(
    lab: &mut Lab,
    art: &Artifacts,
    dir: &Path,
    mac: &str,
    qmp: &Path,
    start: Instant,
) -> Result<Outcome> {
    // The host's enrolment key: on its disk, and as agent-vm1 among the
    // coordinator's credentials.
    let key = std::fs::read_to_string("/proc/sys/kernel/random/uuid")?
        .trim()
        .to_string();
    std::fs::write(dir.join("creds/agent-vm1"), &key)?;
    let img = dir.join("vm1.os.img");
    crate::netboot::installed_disk(art, "vm1", &crate::lab::coordinator_url(), &key, &img)?;
    lab.start_vm_with("vm1", mac, qmp, false, 2, Some(&img))?;

    let (code, cold) = lab_run(lab, &[], "[quick] cold: ")?;
    let cold_report: Report =
        serde_json::from_str(&cli_text(lab, &["report", &cold, "--format", "json"])?)?;
    let netboot = format!("image e2et-lab-netboot {}", art.image_version);
    ensure!(
        code == 0
            && cold_report
                .reasons
                .iter()
                .any(|r| r == &format!("last-known-good: {netboot} (promoted by this run)")),
        "the cold run exited {code}, verdict {}: {:?}",
        cold_report.verdict,
        cold_report.reasons
    );
    println!("[quick] cold run {cold} passed: last-known-good {netboot}");

    let t = Instant::now();
    let (code, run) = lab_run(lab, &["--quick"], "[quick] quick: ")?;
    let seconds = t.elapsed().as_secs_f64();
    let mut texts = Vec::new();
    for (fmt, file) in [ReportFormat::Json, ReportFormat::Md, ReportFormat::Junit]
        .map(|f| (f.name(), f.file_name()))
    {
        let t = cli_text(lab, &["report", &run, "--format", fmt])?;
        std::fs::write(dir.join(file), &t)?;
        texts.push(t);
    }
    let console = cli_text(lab, &["console", &run])?;
    std::fs::write(dir.join("console.log"), &console)?;
    lab.check_children()?;
    let r: Report = serde_json::from_str(&texts[0]).context("parsing report.json")?;
    print!("{}", texts[1]);
    let lc = &r.lifecycle;
    ensure!(
        code == 3 && r.verdict == e2et_model::Verdict::Transient,
        "quick run: exit {code}, verdict {}: {:?}",
        r.verdict,
        r.reasons
    );
    ensure!(
        r.mode == e2et_model::RunMode::Quick
            && (lc.provisionings, lc.power_cycles, lc.boots, lc.validations) == (0, 1, 1, 1),
        "quick run lifecycle {lc:?}"
    );
    let states: Vec<&str> = r.run.transitions.iter().map(|t| t.to.as_str()).collect();
    ensure!(
        states
            == [
                "queued",
                "inventory_gate",
                "power_cycle",
                "revalidate",
                "report"
            ],
        "quick run went through {states:?}"
    );
    let rb = check(&r, "first_boot.reboot_observed")?;
    ensure!(rb.passed(), "reboot not shown: {rb:?}");
    let installed = format!("image e2et-lab-installed {}", art.image_version);
    let kept = format!("quick runs never promote: last-known-good stays {netboot} (run {cold},");
    ensure!(
        r.reasons
            .iter()
            .any(|x| x.starts_with(&kept) && x.ends_with(&format!("this boot runs {installed}"))),
        "the quick run's reasons do not keep the cold run's last-known-good: {:?}",
        r.reasons
    );
    // The console shows the whole path: iPXE handed the host to its disk,
    // SYSLINUX booted the installed system, whose agent enrolled.
    for want in [
        format!("e2et: quick run {run} boots the installed system"),
        "SYSLINUX".to_string(),
        "e2et-lab: installed system of vm1: enrolling".to_string(),
    ] {
        ensure!(
            console.contains(&want),
            "the quick run's console lacks {want:?}; see {}",
            dir.join("console.log").display()
        );
    }
    println!(
        "[quick] {}: {:.1} s, power steps {:?}; reboot: {}",
        r.verdict,
        seconds,
        r.run
            .power_steps
            .iter()
            .map(|p| format!("{}→{}", p.action, p.observed.map_or("?", |o| o.as_str())))
            .collect::<Vec<_>>(),
        rb.evidence
    );
    Ok(Outcome {
        verdict: r.verdict.to_string(),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Runs `e2et run vmN` for every VM at once (starts staggered by 2 s, so the
/// two cores are not asked to run eight firmware DHCP exchanges at once).
fn fleet(lab: &mut Lab, inv: &Value, pdu_dir: &Path, start: Instant) -> Result<Outcome> {
    let hosts: Vec<(String, String, u64)> = inv["hosts"]
        .as_object()
        .context("hosts")?
        .iter()
        .map(|(n, h)| {
            (
                n.clone(),
                h["mac"].as_str().unwrap_or_default().to_string(),
                h["power"][0]["outlet"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    for (name, mac, outlet) in &hosts {
        lab.start_vm_cpus(
            name,
            mac,
            &pdu_dir.join(format!("outlet-{outlet}.qmp")),
            false,
            1,
        )?;
    }
    let mut runs = Vec::new();
    for (name, _, _) in &hosts {
        let log = lab.dir.join(format!("run-{name}.log"));
        let f = std::fs::File::create(&log)?;
        let child = lab
            .cli()
            .args(["run", name])
            .stdout(f.try_clone()?)
            .stderr(f)
            .spawn()
            .context("e2et run")?;
        runs.push((name.clone(), child, Instant::now(), log));
        std::thread::sleep(Duration::from_secs(2));
    }
    // Each run's time is taken when its CLI exits (polled, not in order).
    let mut ended: Vec<Option<(std::process::ExitStatus, f64)>> = vec![None; runs.len()];
    let deadline = Instant::now() + Duration::from_secs(900);
    while ended.iter().any(Option::is_none) {
        for (i, (_, child, t0, _)) in runs.iter_mut().enumerate() {
            if ended[i].is_none() {
                if let Some(st) = child.try_wait()? {
                    ended[i] = Some((st, t0.elapsed().as_secs_f64()));
                }
            }
        }
        ensure!(
            Instant::now() < deadline,
            "fleet runs did not end within 900 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut lines = Vec::new();
    let mut failed = Vec::new();
    let mut times = Vec::new();
    for ((name, _, _, log), end) in runs.into_iter().zip(ended) {
        let Some((st, secs)) = end else { continue };
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let verdict = text
            .lines()
            .find_map(|l| l.strip_prefix("verdict="))
            .map(|r| r.split_whitespace().next().unwrap_or("").to_string())
            .unwrap_or_else(|| "none".into());
        if !st.success() || verdict != "passed" {
            failed.push(format!("{name}: {verdict} (see {})", log.display()));
        }
        times.push(secs);
        lines.push(format!(
            "[fleet] {name}: verdict={verdict}, start to verdict {secs:.1} s"
        ));
    }
    let total = start.elapsed().as_secs_f64();
    for l in &lines {
        println!("{l}");
    }
    times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "[fleet] {} VMs through the cold lifecycle at once: total {total:.1} s; per run min {:.1} s, median {:.1} s, max {:.1} s (one VM alone: scenario=pass)",
        hosts.len(),
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    );
    ensure!(failed.is_empty(), "not all VMs passed: {failed:?}");
    Ok(Outcome {
        verdict: "passed".into(),
        seconds: total,
    })
}

fn wait_for_text(path: &Path, needle: &str, timeout: Duration) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if std::fs::read_to_string(path)
            .unwrap_or_default()
            .contains(needle)
        {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(false)
}

fn no_run(lab: &mut Lab, mac: &str, qmp: &Path, start: Instant) -> Result<Outcome> {
    let vm = lab.start_vm("vm1", mac, qmp, true)?;
    let stranger = lab.start_vm("stranger", UNKNOWN_MAC, &lab.dir.join("stranger.qmp"), true)?;
    let local = format!("e2et: no active run for {mac}: booting the local disk");
    let ok = wait_for_text(&vm.serial, &local, Duration::from_secs(120))?;
    ensure!(
        ok,
        "vm1 never printed {local:?}; see {}",
        vm.serial.display()
    );
    println!("[no-run] vm1 ({mac}) serial: {local}");
    let dlog = lab.dir.join("dnsmasq.log");
    let ignored = format!("{UNKNOWN_MAC} ignored");
    let ok = wait_for_text(&dlog, &ignored, Duration::from_secs(60))?;
    ensure!(
        ok,
        "dnsmasq did not log {ignored:?}; see {}",
        dlog.display()
    );
    let log = std::fs::read_to_string(&dlog)?;
    let offers: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("DHCPOFFER") && l.contains(UNKNOWN_MAC))
        .collect();
    if !offers.is_empty() {
        bail!("dnsmasq offered an address to the unknown MAC: {offers:?}");
    }
    let runs = lab.cli().args(["runs", "--json"]).output()?;
    let runs: Value = serde_json::from_slice(&runs.stdout).context("e2et runs --json")?;
    ensure!(
        runs.as_array().is_some_and(|a| a.is_empty()),
        "a run exists: {runs}"
    );
    println!(
        "[no-run] unknown MAC {UNKNOWN_MAC}: dnsmasq '{ignored}', no DHCPOFFER; serial {}",
        stranger.serial.display()
    );
    Ok(Outcome {
        verdict: "not-booted".into(),
        seconds: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> String {
        serde_json::json!({
            "version": 1, "site": {"name": "lab", "domain": "lab.test"},
            "pdus": {"lab-qmp": {"driver": "qmp", "address": "/run/x", "outlets": 8},
                     "apc": {"driver": "apc-snmp", "address": "pdu:161", "outlets": 8}},
            "hosts": {
                "vm1": {"mac": "52:54:00:e2:e7:01", "power": [{"pdu": "lab-qmp", "outlet": 1}],
                        "expect": {"persistentPaths": ["/persist/e2et/enrolment"], "minRamMib": 200}},
                "k10": {"mac": "3c:ec:ef:10:0a:10", "power": [{"pdu": "apc", "outlet": 3}]}
            }
        })
        .to_string()
    }

    #[test]
    fn lab_inventory_narrows_and_applies_the_scenario() {
        let v = lab_inventory(&base(), Path::new("/tmp/p"), Scenario::PersistenceLoss).unwrap();
        assert_eq!(v["pdus"].as_object().unwrap().len(), 1, "only vm1's PDU");
        assert_eq!(v["pdus"]["lab-qmp"]["address"], "/tmp/p");
        assert!(v["hosts"].get("k10").is_none());
        assert_eq!(v["hosts"]["vm1"]["expect"]["persistentPaths"][1], RAM_PATH);
        let v = lab_inventory(&base(), Path::new("/tmp/p"), Scenario::HardFail).unwrap();
        assert_eq!(v["hosts"]["vm1"]["expect"]["minRamMib"], 65536);
    }
}
