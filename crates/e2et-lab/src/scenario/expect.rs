//! What each scenario must show, checked on the report itself.
use super::*;
use e2et_model::report::PowerAction;

pub(super) fn check<'a>(r: &'a Report, id: &str) -> Result<&'a e2et_model::Check> {
    r.run_checks
        .iter()
        .chain(r.validations.iter().flat_map(|v| v.checks.iter()))
        .find(|c| c.id == id)
        .with_context(|| format!("report has no check {id}"))
}

/// What each scenario must show, checked on the report itself.
pub(super) fn expect(s: Scenario, r: &Report, code: i32, texts: &[String]) -> Result<()> {
    let lc = &r.lifecycle;
    match s {
        Scenario::Pass | Scenario::Uefi => {
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
                "[{}] console kept by e2etd: {} bytes: iPXE ran this run's script, {inits} boots of userspace",
                s.name(),
                console.len()
            );
            if s == Scenario::Uefi {
                uefi_console(console)?;
            }
            // SSH seen from e2etd on both boots: the key exchange completed
            // with the key the probe reported.
            for seq in [1, 2] {
                let c = check(r, &format!("network.ssh.key_exchange:boot{seq}"))?;
                ensure!(c.passed(), "SSH from the coordinator, boot {seq}: {c:?}");
            }
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
            // Switches read back in the state they asked for.
            let read_back = |a: e2et_model::report::PowerAction| {
                r.run
                    .power_steps
                    .iter()
                    .filter(|p| p.action == a && p.observed.is_some() && p.observed == a.target())
                    .count()
            };
            let offs = read_back(e2et_model::report::PowerAction::Off);
            let ons = read_back(e2et_model::report::PowerAction::On);
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
                "[{}] boot ids {b1} → {b2}; lifecycle {lc:?}; score {} zone {}",
                s.name(),
                r.score,
                r.zone
            );
        }
        Scenario::SshBlocked => {
            ensure!(
                code != 0 && r.verdict == e2et_model::Verdict::Failed,
                "verdict {} (exit {code}) with port 22 dropped: {:?}",
                r.verdict,
                r.reasons
            );
            let outside = check(r, "network.ssh.key_exchange:boot1")?;
            ensure!(
                outside.failed()
                    && outside.observed.as_deref() == Some("no key exchange")
                    && outside.evidence.contains("10.99.0.11:22"),
                "the SSH check from outside did not fail with its reason: {outside:?}"
            );
            // Inside, everything looks fine: only the outside view caught it.
            let inside = check(r, "first_boot.ssh.listening")?;
            ensure!(inside.passed(), "the probe's own SSH check: {inside:?}");
            ensure!(
                r.reasons
                    .iter()
                    .any(|x| x.contains("network.ssh.key_exchange")),
                "the reasons do not name the SSH check: {:?}",
                r.reasons
            );
            ensure!(
                texts[3].contains("e2et-lab: port 22 dropped on eth0"),
                "the kept console does not show the image dropping port 22"
            );
            println!(
                "[ssh-blocked] inside: {} ({}); from e2etd: {}",
                inside.observed.as_deref().unwrap_or("?"),
                inside.id,
                outside.evidence
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
            // Per outlet: off, on (power-on), off, on (the cycle); one soft
            // off for the host.
            let per = |outlet: u32| -> Vec<&str> {
                r.run
                    .power_steps
                    .iter()
                    .filter(|p| p.outlet == outlet && p.action != PowerAction::SoftOff)
                    .map(|p| p.action.as_str())
                    .collect()
            };
            let soft = r
                .run
                .power_steps
                .iter()
                .filter(|p| p.action == PowerAction::SoftOff)
                .count();
            let actions = (per(1), per(2), soft);
            ensure!(
                actions.0 == ["off", "on", "off", "on"]
                    && actions.1 == ["off", "on", "off", "on"]
                    && soft >= 1,
                "the PDU log repeats or lacks an action across restarts: outlet 1 {:?}, outlet 2 {:?}, {soft} soft offs",
                actions.0,
                actions.1
            );
            ensure!(
                r.run
                    .power_steps
                    .iter()
                    .all(|p| p.ok && p.observed.is_some()),
                "{:?}",
                r.run.power_steps
            );
            println!(
                "[crash] e2etd's power log across 7 restarts: outlet 1 {:?}, outlet 2 {:?}, {soft} soft off; facts of both boots kept",
                actions.0, actions.1
            );
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
        | Scenario::Quick
        | Scenario::Impostor => {
            bail!(
                "scenario {} is checked on its own (or has no single lifecycle report)",
                s.name()
            )
        }
    }
    Ok(())
}

/// The UEFI path, on each of the two boots, as the kept console shows it:
/// the firmware's own PXE client, its TFTP download of ipxe.efi, iPXE
/// running as an EFI program, then the kernel.
fn uefi_console(console: &str) -> Result<()> {
    let wants = [
        ("the firmware's PXE client", "Start PXE over IPv4"),
        ("the TFTP transfer of iPXE", "NBP filename is ipxe.efi"),
        (
            "the TFTP download finishing",
            "NBP file downloaded successfully",
        ),
        ("iPXE", "iPXE initialising devices"),
        ("the kernel", "EFI stub"),
    ];
    for (what, text) in wants {
        let n = console.matches(text).count();
        ensure!(
            n == 2,
            "the kept console shows {what} ({text:?}) {n} times, want once per boot (2)"
        );
    }
    println!(
        "[uefi] kept console, each of 2 boots: OVMF PXE → TFTP ipxe.efi → iPXE → kernel (EFI stub)"
    );
    Ok(())
}

/// What the PDU itself received (its own log: outlet, value 1 on / 2 off)
/// against e2etd's power log: each outlet got exactly the commands the run
/// recorded as read back, in order — no command lost and none sent twice
/// across the restarts.
pub(super) fn device_received(r: &Report, received: &[(u32, i64)]) -> Result<()> {
    let mut outlets: Vec<u32> = r.run.power_steps.iter().map(|p| p.outlet).collect();
    outlets.sort_unstable();
    outlets.dedup();
    ensure!(
        outlets.len() >= 2,
        "the crash scenario's host has two outlets: {outlets:?}"
    );
    for o in outlets {
        let logged: Vec<i64> = r
            .run
            .power_steps
            .iter()
            .filter(|p| p.outlet == o && p.ok)
            .filter_map(|p| match p.action {
                PowerAction::On => Some(1),
                PowerAction::Off => Some(2),
                _ => None,
            })
            .collect();
        let got: Vec<i64> = received
            .iter()
            .filter(|(n, _)| *n == o)
            .map(|(_, v)| *v)
            .collect();
        ensure!(
            got == logged,
            "outlet {o}: the PDU received {got:?} (1 on, 2 off), e2etd's power log says {logged:?}"
        );
        println!("[crash] outlet {o}: the PDU's own log shows {got:?} (1 on, 2 off), exactly e2etd's power log");
    }
    Ok(())
}
