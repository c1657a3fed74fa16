//! A finished run's report, from a plain record of the run: what the store
//! holds of it, loaded in one call, goes in; the report and the
//! configuration to promote to the host's last-known-good come out. Pure:
//! the coordinator persists both in one transaction.
use crate::{
    assemble_report, boot_checks, configuration_revision, drift, run_checks, score_validation,
    BootContext, Policy, RunFacts, RunObservations,
};
use e2et_model::check::Check;
use e2et_model::inventory::HostSpec;
use e2et_model::report::{
    LifecycleCounts, PowerAction, PowerState, PowerStep, RunInfo, Transition,
};
use e2et_model::{Facts, Report, RunMode, RunState, Verdict};

/// One boot's facts as stored.
#[derive(Debug, Clone)]
pub struct BootFacts {
    pub seq: u32,
    pub boot_id: String,
    pub facts: Facts,
    /// When the coordinator received them (RFC 3339), its own clock.
    pub received_at: Option<String>,
}

/// The host's last-known-good before this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownGood {
    pub run_id: String,
    pub revision: String,
    pub promoted_at: String,
}

/// Everything the report is built from.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub id: String,
    pub host: String,
    pub mode: RunMode,
    pub created_at: String,
    /// Why the lifecycle stopped early, if it did.
    pub abort_reason: Option<String>,
    /// Checks the engine recorded (timeouts, power failures).
    pub engine_checks: Vec<Check>,
    /// (sequence, boot id) per hello, in order.
    pub boots: Vec<(u32, String)>,
    pub facts: Vec<BootFacts>,
    /// Each power step with the state it was taken in.
    pub power_steps: Vec<(RunState, PowerStep)>,
    pub transitions: Vec<Transition>,
    /// How often the run entered provisioning.
    pub provisionings: u32,
    pub last_known_good: Option<KnownGood>,
}

/// The report, and the revision to promote (only a passed cold run
/// promotes, what its last boot ran).
#[derive(Debug, Clone)]
pub struct Assembled {
    pub report: Report,
    pub promote: Option<String>,
}

pub fn build(policy: &Policy, spec: &HostSpec, run: &RunRecord, finished_at: &str) -> Assembled {
    let validations: Vec<_> = run
        .facts
        .iter()
        .map(|b| {
            score_validation(
                policy,
                b.seq,
                &b.boot_id,
                boot_checks(
                    spec,
                    &b.facts,
                    &BootContext {
                        run_id: Some(&run.id),
                        boot_seq: b.seq,
                        mode: run.mode,
                    },
                ),
            )
        })
        .collect();
    let cycle_steps: Vec<&PowerStep> = run
        .power_steps
        .iter()
        .filter(|(st, s)| {
            *st == RunState::PowerCycle && matches!(s.action, PowerAction::Off | PowerAction::On)
        })
        .map(|(_, s)| s)
        .collect();
    let read_back = |action: PowerAction| {
        cycle_steps.iter().any(|s| {
            s.action == action && s.ok && s.observed.is_some() && s.observed == action.target()
        })
    };
    let power_cycle_verified = if cycle_steps.is_empty() {
        None
    } else {
        Some(
            read_back(PowerAction::Off)
                && read_back(PowerAction::On)
                && cycle_steps.iter().all(|s| s.ok),
        )
    };
    let obs = RunObservations {
        boots: run.boots.clone(),
        persistence: run
            .facts
            .iter()
            .map(|b| (b.seq, b.facts.persistence.clone()))
            .collect(),
        power_cycle_verified,
        power_cycle_evidence: cycle_steps
            .iter()
            .map(|s| {
                format!(
                    "{} {} outlet {} {} → {}",
                    s.at,
                    s.pdu,
                    s.outlet,
                    s.action,
                    s.observed.map_or("nothing read", |o| o.as_str())
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        quick_boot_after_cycle: (run.mode == RunMode::Quick)
            .then(|| quick_boot_after_cycle(&run.facts, &cycle_steps))
            .flatten(),
    };
    let mut rc = run_checks(spec, &obs);
    rc.extend(run.engine_checks.iter().cloned());
    let lifecycle = LifecycleCounts {
        provisionings: run.provisionings,
        power_cycles: u32::from(power_cycle_verified == Some(true)),
        boots: run.boots.len() as u32,
        validations: validations.len() as u32,
    };
    let mut drifted: Vec<String> = run
        .facts
        .iter()
        .flat_map(|b| {
            drift(spec, &b.facts)
                .into_iter()
                .map(move |x| format!("boot {}: {x}", b.seq))
        })
        .collect();
    drifted.dedup();
    let rf = RunFacts {
        host: run.host.clone(),
        mode: run.mode,
        required_zone: spec.required_zone,
        lifecycle,
        aborted: run.abort_reason.clone().filter(|s| !s.is_empty()),
        drift: drifted,
    };
    let mut report = assemble_report(
        rf,
        validations,
        rc,
        RunInfo {
            id: run.id.clone(),
            started_at: run.created_at.clone(),
            finished_at: finished_at.to_string(),
            transitions: run.transitions.clone(),
            power_steps: run.power_steps.iter().map(|(_, s)| s.clone()).collect(),
        },
    );
    let promote = promotion(&mut report, run);
    Assembled { report, promote }
}

/// What a run promotes, with the reason it adds to the report: a passed cold
/// run promotes what its last boot ran; a quick run never promotes.
fn promotion(report: &mut Report, run: &RunRecord) -> Option<String> {
    let revision = run
        .facts
        .iter()
        .max_by_key(|b| b.seq)
        .and_then(|b| configuration_revision(&b.facts));
    let kept = match &run.last_known_good {
        Some(l) => format!(
            "last-known-good stays {} (run {}, {})",
            l.revision, l.run_id, l.promoted_at
        ),
        None => "the host has no last-known-good yet".to_string(),
    };
    match (report.verdict, run.mode, revision) {
        (Verdict::Passed, RunMode::Cold, Some(rev)) => {
            report
                .reasons
                .push(format!("last-known-good: {rev} (promoted by this run)"));
            Some(rev)
        }
        (Verdict::Passed, RunMode::Cold, None) => {
            report.reasons.push(format!(
                "passed, but the host shows no configuration revision (a NixOS system, os-release IMAGE_ID with IMAGE_VERSION or BUILD_ID, or a package set): nothing to promote; {kept}"
            ));
            None
        }
        (_, RunMode::Quick, rev) => {
            report.reasons.push(format!(
                "quick runs never promote: {kept}{}",
                rev.map(|r| format!("; this boot runs {r}"))
                    .unwrap_or_default()
            ));
            None
        }
        _ => None,
    }
}

/// A quick run's one boot: did its kernel start after the power cycle's
/// outlet read back off? Kernel start = when its facts arrived minus the
/// uptime they carry (both measured without trusting the host's clock).
fn quick_boot_after_cycle(
    facts: &[BootFacts],
    cycle_steps: &[&PowerStep],
) -> Option<(bool, String)> {
    let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
    let off = cycle_steps
        .iter()
        .filter(|s| s.action == PowerAction::Off && s.ok && s.observed == Some(PowerState::Off))
        .filter_map(|s| parse(&s.at))
        .max();
    let boot = facts.iter().find(|b| b.seq == 1)?;
    let received = boot.received_at.as_deref().and_then(parse);
    let f = &boot.facts;
    Some(match (off, received) {
        (Some(off), Some(received)) => {
            // Checked: an uptime no clock can hold is a failed check, not a panic.
            let started = chrono::TimeDelta::try_milliseconds((f.first_boot.uptime_s * 1000.0) as i64)
                .and_then(|up| received.checked_sub_signed(up));
            let Some(started) = started else {
                return Some((
                    false,
                    format!(
                        "uptime {}s cannot be placed in time: the reboot cannot be placed after the cycle",
                        f.first_boot.uptime_s
                    ),
                ));
            };
            (
                started > off,
                format!(
                    "kernel started about {} (facts at {}, uptime {:.1}s); outlet read back off at {}",
                    started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    received.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    f.first_boot.uptime_s,
                    off.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                ),
            )
        }
        _ => (
            false,
            "no off read back in the power cycle, or no facts time: the reboot cannot be placed after the cycle".into(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::example::healthy_facts;
    use e2et_model::inventory::Inventory;

    fn spec() -> HostSpec {
        let inv = Inventory::from_json(
            &serde_json::json!({
                "version": 1, "site": {"name": "lab", "domain": "lab.test"},
                "pdus": {"p": {"driver": "qmp", "address": "/x", "outlets": 2}},
                "profiles": {"lab": {}},
                "hosts": {"vm1": {"mac": "52:54:00:aa:00:01", "ip": "10.99.0.11", "fqdn": "vm1.lab.test",
                    "power": [{"pdu": "p", "outlet": 1}], "console": "serial", "profile": "lab", "requiredZone": "p60"}}
            })
            .to_string(),
        )
        .unwrap();
        inv.hosts["vm1"].clone()
    }

    fn step(action: &str, observed: &str, at: &str) -> (RunState, PowerStep) {
        (
            RunState::PowerCycle,
            PowerStep {
                at: at.into(),
                pdu: "p".into(),
                outlet: 1,
                action: PowerAction::from_name(action).expect("a power action"),
                observed: PowerState::from_name(observed),
                ok: true,
                detail: String::new(),
            },
        )
    }

    fn id(seq: u32) -> String {
        format!("5f0c7a1e-0000-4000-8000-00000000000{seq}")
    }

    fn record(mode: RunMode, spec: &HostSpec) -> RunRecord {
        let boot = |seq: u32| BootFacts {
            seq,
            boot_id: id(seq),
            facts: healthy_facts(spec, "r1", &id(seq)),
            received_at: Some("2026-12-02T10:00:30.000Z".into()),
        };
        RunRecord {
            id: "r1".into(),
            host: "vm1".into(),
            mode,
            created_at: "2026-12-02T10:00:00.000Z".into(),
            abort_reason: None,
            engine_checks: vec![],
            boots: if mode == RunMode::Cold {
                vec![(1, id(1)), (2, id(2))]
            } else {
                vec![(1, id(1))]
            },
            facts: if mode == RunMode::Cold {
                vec![boot(1), boot(2)]
            } else {
                vec![boot(1)]
            },
            power_steps: vec![
                step("off", "off", "2026-12-02T10:00:10.000Z"),
                step("on", "on", "2026-12-02T10:00:12.000Z"),
            ],
            transitions: vec![],
            provisionings: u32::from(mode == RunMode::Cold),
            last_known_good: Some(KnownGood {
                run_id: "r0".into(),
                revision: "image old 1".into(),
                promoted_at: "2026-12-01T00:00:00.000Z".into(),
            }),
        }
    }

    #[test]
    fn a_cold_run_with_both_boots_passes_and_promotes_its_last_boot() {
        let spec = spec();
        let a = build(
            &Policy::default(),
            &spec,
            &record(RunMode::Cold, &spec),
            "t",
        );
        assert_eq!(a.report.verdict, Verdict::Passed, "{:?}", a.report.reasons);
        let lc = &a.report.lifecycle;
        assert_eq!(
            (lc.provisionings, lc.power_cycles, lc.boots, lc.validations),
            (1, 1, 2, 2)
        );
        let rev = configuration_revision(&healthy_facts(&spec, "r1", &id(2)));
        assert_eq!(a.promote, rev);
        if let Some(rev) = rev {
            assert!(a
                .report
                .reasons
                .contains(&format!("last-known-good: {rev} (promoted by this run)")));
        }
    }

    #[test]
    fn a_cycle_that_did_not_read_back_is_not_counted_and_does_not_pass() {
        let spec = spec();
        let mut r = record(RunMode::Cold, &spec);
        r.power_steps[1].1.ok = false;
        let a = build(&Policy::default(), &spec, &r, "t");
        assert_eq!(a.report.lifecycle.power_cycles, 0);
        assert_ne!(a.report.verdict, Verdict::Passed);
        assert_eq!(a.promote, None);
    }

    #[test]
    fn a_quick_run_never_promotes_and_places_its_boot_after_the_cycle() {
        let spec = spec();
        let mut r = record(RunMode::Quick, &spec);
        r.facts[0].facts.first_boot.uptime_s = 5.0; // started 10:00:25, after the off at :10
        let a = build(&Policy::default(), &spec, &r, "t");
        assert_eq!(a.promote, None);
        assert!(
            a.report.reasons.iter().any(|x| x.starts_with(
                "quick runs never promote: last-known-good stays image old 1 (run r0"
            )),
            "{:?}",
            a.report.reasons
        );
        let reboot = a
            .report
            .run_checks
            .iter()
            .find(|c| c.id == "first_boot.reboot_observed")
            .expect("the reboot check");
        assert!(reboot.passed(), "{reboot:?}");
        // A day of uptime: the kernel did not start after the cycle.
        r.facts[0].facts.first_boot.uptime_s = 86_400.0;
        let a = build(&Policy::default(), &spec, &r, "t");
        let reboot = a
            .report
            .run_checks
            .iter()
            .find(|c| c.id == "first_boot.reboot_observed")
            .unwrap();
        assert!(!reboot.passed(), "{reboot:?}");
    }

    /// Every number an agent can send, at every extreme JSON can carry,
    /// scores without a panic (a run's report is built from it).
    #[test]
    fn no_extreme_number_in_the_facts_panics_the_scoring() {
        fn leaves(v: &serde_json::Value, path: Vec<String>, out: &mut Vec<Vec<String>>) {
            match v {
                serde_json::Value::Number(_) => out.push(path),
                serde_json::Value::Object(m) => {
                    for (k, x) in m {
                        let mut p = path.clone();
                        p.push(k.clone());
                        leaves(x, p, out);
                    }
                }
                serde_json::Value::Array(a) => {
                    for (i, x) in a.iter().enumerate() {
                        let mut p = path.clone();
                        p.push(i.to_string());
                        leaves(x, p, out);
                    }
                }
                _ => {}
            }
        }
        let spec = spec();
        for mode in [RunMode::Cold, RunMode::Quick] {
            let base = record(mode, &spec);
            let json = serde_json::to_value(&base.facts[0].facts).unwrap();
            let mut paths = Vec::new();
            leaves(&json, vec![], &mut paths);
            assert!(
                paths.len() > 20,
                "the healthy facts carry numbers: {}",
                paths.len()
            );
            let extremes = [
                serde_json::json!(1e300),
                serde_json::json!(-1e300),
                serde_json::json!(u64::MAX),
                serde_json::json!(i64::MIN),
                serde_json::json!(-1),
                serde_json::json!(0),
            ];
            let mut tried = 0;
            for p in &paths {
                for x in &extremes {
                    let mut j = json.clone();
                    let mut at = &mut j;
                    for k in p {
                        at = match at {
                            serde_json::Value::Array(a) => &mut a[k.parse::<usize>().unwrap()],
                            other => &mut other[k.as_str()],
                        };
                    }
                    *at = x.clone();
                    // A value the field's type cannot hold never gets past
                    // the API's JSON parsing.
                    let Ok(f) = serde_json::from_value::<Facts>(j) else {
                        continue;
                    };
                    let mut r = base.clone();
                    for b in &mut r.facts {
                        b.facts = f.clone();
                    }
                    tried += 1;
                    let built =
                        std::panic::catch_unwind(|| build(&Policy::default(), &spec, &r, "t"));
                    assert!(built.is_ok(), "{} = {x} panics the scoring", p.join("."));
                }
            }
            assert!(tried > paths.len(), "{tried} cases");
        }
    }
}
