//! Lab scenarios: each runs the real lifecycle (dnsmasq, iPXE, QEMU, e2etd, the
//! e2et CLI) and checks what the issue says it must show.
use crate::lab::Lab;
use crate::netboot::Artifacts;
use crate::outcome::{Env, Outcome};
use anyhow::{bail, ensure, Context, Result};
use e2et_model::api::ReportFormat;
use e2et_model::report::Report;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

mod expect;
mod impostor;
mod other_runs;
use expect::{check, expect};
use other_runs::{fleet, no_run, quick, wait_for_text};

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
    /// vm1 boots as a UEFI server does: OVMF, no iPXE ROM on its NIC, the
    /// firmware's PXE client fetches ipxe.efi over TFTP from dnsmasq, iPXE
    /// then the run's HTTP script: passed, and the kept console shows the
    /// firmware's PXE, the TFTP transfer, iPXE and the kernel on both boots.
    Uefi,
    /// vm1's image drops port 22 on its management interface (nftables)
    /// while dropbear listens everywhere: the probe inside sees SSH fine,
    /// e2etd's own key exchange from outside does not get through: failed,
    /// on that check, with the reason.
    SshBlocked,
    /// A second machine on vm1's bridge (own namespace and address) takes
    /// vm1's boot script first and says hello as its agent: the run fails
    /// with "conflicting agents" naming both, and no power action follows.
    Impostor,
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
            Scenario::Impostor => "impostor",
            Scenario::Uefi => "uefi",
            Scenario::SshBlocked => "ssh-blocked",
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

/// The fleet scenario's second role: vm2 boots this image (the default
/// initramfs with its own os-release), every other VM the default one.
pub const ROLE_IMAGE: &str = "e2et-lab-role-b";

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
        // Two feeds, as a server with two power supplies: every restart
        // must resume per outlet. The second outlet is wired to nothing
        // (the VM follows the first); the device still logs each command.
        Scenario::Crash => {
            let mut second = vm1["power"][0].clone();
            second["outlet"] = Value::from(2);
            vm1["power"]
                .as_array_mut()
                .context("vm1.power")?
                .push(second);
        }
        // No agent of a quick run is up before its cycle: the hypervisor
        // presses the power button (QMP system_powerdown), as a BMC would.
        Scenario::Quick => {
            let n = vm1["power"][0]["outlet"]
                .as_u64()
                .context("vm1.power[0].outlet")?;
            vm1["bmc"] = Value::String(format!(
                "qmp:{}",
                pdu_dir.join(format!("outlet-{n}.qmp")).display()
            ));
        }
        Scenario::Pass
        | Scenario::Uefi
        | Scenario::SshBlocked
        | Scenario::NoRun
        | Scenario::Fleet
        | Scenario::Identity
        | Scenario::Openrc
        | Scenario::Hung
        | Scenario::Impostor => {}
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
        // Two roles in one fleet: vm2 boots its own image.
        if let Some(vm2) = hosts.get_mut("vm2") {
            vm2["expect"]["image"] = Value::String(ROLE_IMAGE.into());
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
    if s == Scenario::SshBlocked {
        lab.extra_kernel_args = "e2et.lab.drop_ssh".into();
    }
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
    let mut emulator = None;
    if let Some(listen) = &snmp_listen {
        let user = pdu["snmp"]["user"].as_str().context("lab PDU snmp.user")?;
        let (_, _, ap, _, pp) = crate::pdu_emulator::USERS
            .iter()
            .find(|u| u.0 == user)
            .with_context(|| format!("the emulator has no user {user}"))?;
        // The coordinator reads these as it would systemd credentials.
        std::fs::write(dir.join(format!("creds/pdu-{pdu_name}-auth")), ap)?;
        std::fs::write(dir.join(format!("creds/pdu-{pdu_name}-priv")), pp)?;
        emulator = Some(lab.start_pdu_emulator(listen, &pdu_dir)?);
        println!("[{}] PDU {pdu_name}: SNMPv3 ({user}) AP7901 emulator on {listen}, outlets wired to QEMU over QMP", s.name());
    }
    lab.start_site_dns(&inv_path)?;
    lab.start_dnsmasq(&inv_path, s == Scenario::Uefi)?;
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
        if s == Scenario::Fleet {
            let img = crate::netboot::role_image(env.artifacts, ROLE_IMAGE, &dir)?;
            lab.images.push((ROLE_IMAGE.to_string(), img));
        }
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
    if s == Scenario::Uefi {
        lab.uefi("vm1");
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
    let imp = match s {
        Scenario::Impostor => Some(impostor::start(&mut lab, &mac)?),
        _ => None,
    };
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
    let imp_seen = match imp {
        Some(t) => Some(
            t.join()
                .map_err(|_| anyhow::anyhow!("the impostor panicked"))??,
        ),
        None => None,
    };
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
    match &imp_seen {
        Some(seen) => impostor::expect(&report, code, seen)?,
        None => expect(s, &report, code, &texts)?,
    }
    if let Some(crashes) = crashes {
        let emulator = emulator.context("the crash scenario's PDU is the emulator")?;
        expect::device_received(
            &report,
            &crate::pdu_emulator::received_sets(&emulator.join("outlets.json")),
        )?;
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
