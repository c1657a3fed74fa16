//! Policy: gate scores, total score, zone and verdict, as DESIGN.md defines them.
use e2et_model::check::{Check, Gate, Outcome};
use e2et_model::report::{GateResult, LifecycleCounts, Report, RunInfo, Validation, Verdict, Zone};
use e2et_model::{RunMode, REPORT_VERSION};

/// Relative weight of each gate in the total score.
#[derive(Debug, Clone)]
pub struct Policy {
    pub gate_weights: Vec<(Gate, f64)>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            gate_weights: vec![
                (Gate::Inventory, 5.0),
                (Gate::Provisioning, 10.0),
                (Gate::FirstBoot, 15.0),
                (Gate::Platform, 15.0),
                (Gate::Network, 15.0),
                (Gate::Storage, 15.0),
                (Gate::Identity, 10.0),
                (Gate::Service, 10.0),
                (Gate::Performance, 5.0),
            ],
        }
    }
}

impl Policy {
    fn gate_weight(&self, g: Gate) -> f64 {
        self.gate_weights
            .iter()
            .find(|(x, _)| *x == g)
            .map_or(0.0, |(_, w)| *w)
    }

    /// Gate scores and the weighted total (0–100). A check applies unless it did
    /// not run; waived checks count as passed.
    pub fn score(&self, checks: &[Check]) -> (Vec<GateResult>, f64) {
        let mut gates = Vec::new();
        let (mut num, mut den) = (0.0, 0.0);
        for g in Gate::ALL {
            let applicable: Vec<&Check> = checks
                .iter()
                .filter(|c| {
                    c.gate == g
                        && !matches!(
                            c.outcome,
                            Outcome::NotRun { .. } | Outcome::NotApplicable { .. }
                        )
                })
                .collect();
            let aw: u32 = applicable.iter().map(|c| c.weight).sum();
            let pw: u32 = applicable
                .iter()
                .filter(|c| c.passed())
                .map(|c| c.weight)
                .sum();
            if !checks.iter().any(|c| c.gate == g) {
                continue;
            }
            let score = (aw > 0).then(|| f64::from(pw) * 100.0 / f64::from(aw));
            if let Some(s) = score {
                num += self.gate_weight(g) * s;
                den += self.gate_weight(g);
            }
            gates.push(GateResult {
                gate: g,
                applicable_weight: aw,
                passed_weight: pw,
                score: score.map(round2),
            });
        }
        let total = if den > 0.0 { num / den } else { 0.0 };
        (gates, round2(total))
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Scores one boot's checks.
pub fn score_validation(
    policy: &Policy,
    boot_seq: u32,
    boot_id: &str,
    mut checks: Vec<Check>,
) -> Validation {
    checks.sort_by(|a, b| a.id.cmp(&b.id));
    let (gates, score) = policy.score(&checks);
    Validation {
        boot_seq,
        boot_id: boot_id.to_string(),
        score,
        zone: Zone::from_score(score),
        gates,
        checks,
    }
}

/// Everything the verdict depends on besides the checks.
#[derive(Debug, Clone)]
pub struct RunFacts {
    pub host: String,
    pub mode: RunMode,
    pub required_zone: Zone,
    pub lifecycle: LifecycleCounts,
    /// The engine's own account of a lifecycle step that did not complete
    /// (timeout, PDU error, abort), if any.
    pub aborted: Option<String>,
    /// Drift found on the host (running system differs from booted or intended).
    pub drift: Vec<String>,
}

fn describe(c: &Check) -> String {
    format!(
        "{} ({}): expected {}, observed {}",
        c.id,
        c.title,
        c.expected.as_deref().unwrap_or("-"),
        c.observed.as_deref().unwrap_or("-")
    )
}

/// Assembles the report and decides the verdict:
/// failed (a hard fail, or the score below the host's required zone),
/// incomplete (a required check or lifecycle step missing), transient (all
/// passed, but quick or drifting), passed (cold lifecycle complete, both boots
/// pass, persistence intact, score at or above the required zone).
pub fn assemble_report(
    rf: RunFacts,
    validations: Vec<Validation>,
    mut run_checks: Vec<Check>,
    run: RunInfo,
) -> Report {
    run_checks.sort_by(|a, b| a.id.cmp(&b.id));
    // Each check with where it was seen: "run" or "boot N".
    let all: Vec<(String, &Check)> = run_checks
        .iter()
        .map(|c| ("run".to_string(), c))
        .chain(validations.iter().flat_map(|v| {
            v.checks
                .iter()
                .map(move |c| (format!("boot {}", v.boot_seq), c))
        }))
        .collect();
    let score = validations
        .iter()
        .map(|v| v.score)
        .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.min(s))))
        .unwrap_or(0.0);
    let zone = Zone::from_score(score);

    let mut reasons = Vec::new();
    let hard: Vec<String> = all
        .iter()
        .filter(|(_, c)| c.hard_failed())
        .map(|(w, c)| format!("{w}: hard check failed: {}", describe(c)))
        .collect();
    let missing: Vec<String> = all
        .iter()
        .filter(|(_, c)| c.required)
        .filter_map(|(w, c)| match &c.outcome {
            Outcome::NotRun { reason } => Some(format!(
                "{w}: required check did not run: {} ({reason})",
                c.id
            )),
            _ => None,
        })
        .collect();
    let mut lifecycle_missing = Vec::new();
    if let Some(a) = &rf.aborted {
        lifecycle_missing.push(format!("lifecycle did not complete: {a}"));
    }
    let lc = &rf.lifecycle;
    // A cold run boots twice (provisioned, then after the cycle); a quick
    // run once (its installed system, after the cycle).
    let expect_boots = match rf.mode {
        RunMode::Cold => 2,
        RunMode::Quick => 1,
    };
    if lc.boots < expect_boots || lc.validations < expect_boots {
        lifecycle_missing.push(format!(
            "lifecycle incomplete: {} boot(s), {} validation(s) of {expect_boots}",
            lc.boots, lc.validations
        ));
    }
    if lc.power_cycles != 1 {
        lifecycle_missing.push(format!(
            "lifecycle: {} power cycle(s), exactly 1 required",
            lc.power_cycles
        ));
    }
    if rf.mode == RunMode::Cold && lc.provisionings != 1 {
        lifecycle_missing.push(format!(
            "lifecycle: {} provisioning(s), exactly 1 required for a cold run",
            lc.provisionings
        ));
    }
    let below_zone = score < rf.required_zone.threshold();

    let verdict = if !hard.is_empty() {
        reasons.extend(hard);
        reasons.extend(lifecycle_missing);
        Verdict::Failed
    } else if !missing.is_empty() || !lifecycle_missing.is_empty() {
        reasons.extend(lifecycle_missing);
        reasons.extend(missing);
        Verdict::Incomplete
    } else if below_zone {
        reasons.push(format!(
            "score {score} is in zone {zone}, below the required {}",
            rf.required_zone
        ));
        for (w, c) in all.iter().filter(|(_, c)| c.failed()) {
            reasons.push(format!("{w}: failed: {}", describe(c)));
        }
        Verdict::Failed
    } else if rf.mode == RunMode::Quick || !rf.drift.is_empty() {
        if rf.mode == RunMode::Quick {
            reasons.push("quick run: revalidated without reprovisioning".into());
        }
        reasons.extend(rf.drift.iter().map(|d| format!("drift: {d}")));
        Verdict::Transient
    } else {
        reasons.push(format!(
            "cold lifecycle complete; score {score} in zone {zone} (required {})",
            rf.required_zone
        ));
        for (w, c) in all.iter().filter(|(_, c)| c.failed()) {
            reasons.push(format!("{w}: weighted check failed: {}", describe(c)));
        }
        Verdict::Passed
    };

    Report {
        version: REPORT_VERSION,
        host: rf.host,
        mode: rf.mode,
        verdict,
        reasons,
        score,
        zone,
        required_zone: rf.required_zone,
        lifecycle: rf.lifecycle,
        validations,
        run_checks,
        run,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use e2et_model::check::Severity;

    fn check(id: &str, gate: Gate, sev: Severity, w: u32, outcome: Outcome) -> Check {
        Check {
            id: id.into(),
            title: id.into(),
            gate,
            severity: sev,
            weight: w,
            required: true,
            outcome,
            expected: Some("e".into()),
            observed: Some("o".into()),
            evidence: "ev".into(),
        }
    }

    fn full_lifecycle() -> LifecycleCounts {
        LifecycleCounts {
            provisionings: 1,
            power_cycles: 1,
            boots: 2,
            validations: 2,
        }
    }

    fn rf(lc: LifecycleCounts, mode: RunMode) -> RunFacts {
        RunFacts {
            host: "h".into(),
            mode,
            required_zone: Zone::P90,
            lifecycle: lc,
            aborted: None,
            drift: vec![],
        }
    }

    fn info() -> RunInfo {
        RunInfo {
            id: "r".into(),
            started_at: "t0".into(),
            finished_at: "t1".into(),
            transitions: vec![],
            power_steps: vec![],
        }
    }

    fn good() -> Vec<Check> {
        vec![
            check("a", Gate::Platform, Severity::Hard, 10, Outcome::Pass),
            check("b", Gate::Network, Severity::Weighted, 10, Outcome::Pass),
        ]
    }

    #[test]
    fn zones_have_the_documented_edges() {
        assert_eq!(Zone::from_score(59.99), Zone::Unusable);
        assert_eq!(Zone::from_score(60.0), Zone::P60);
        assert_eq!(Zone::from_score(80.0), Zone::P80);
        assert_eq!(Zone::from_score(94.99), Zone::P90);
        assert_eq!(Zone::from_score(95.0), Zone::P95);
        assert_eq!(Zone::from_score(100.0), Zone::P99);
    }

    #[test]
    fn gate_scores_weight_passed_over_applicable() {
        let p = Policy::default();
        let cs = vec![
            check("a", Gate::Platform, Severity::Weighted, 30, Outcome::Pass),
            check("b", Gate::Platform, Severity::Weighted, 10, Outcome::Fail),
            check(
                "c",
                Gate::Platform,
                Severity::Weighted,
                50,
                Outcome::NotRun { reason: "x".into() },
            ),
            check("d", Gate::Network, Severity::Weighted, 10, Outcome::Pass),
        ];
        let (gates, total) = p.score(&cs);
        let plat = gates.iter().find(|g| g.gate == Gate::Platform).unwrap();
        assert_eq!((plat.applicable_weight, plat.passed_weight), (40, 30));
        assert_eq!(plat.score, Some(75.0));
        // platform 75 and network 100, equal gate weights: 87.5
        assert_eq!(total, 87.5);
    }

    #[test]
    fn complete_cold_run_passes() {
        let v1 = score_validation(&Policy::default(), 1, "a", good());
        let v2 = score_validation(&Policy::default(), 2, "b", good());
        let r = assemble_report(
            rf(full_lifecycle(), RunMode::Cold),
            vec![v1, v2],
            vec![],
            info(),
        );
        assert_eq!(r.verdict, Verdict::Passed, "{:?}", r.reasons);
        assert_eq!(r.score, 100.0);
        assert_eq!(r.zone, Zone::P99);
    }

    #[test]
    fn hard_fail_in_either_boot_fails_and_is_named() {
        let v1 = score_validation(&Policy::default(), 1, "a", good());
        let mut bad = good();
        bad[0].outcome = Outcome::Fail;
        let v2 = score_validation(&Policy::default(), 2, "b", bad);
        let r = assemble_report(
            rf(full_lifecycle(), RunMode::Cold),
            vec![v1, v2],
            vec![],
            info(),
        );
        assert_eq!(r.verdict, Verdict::Failed);
        assert!(
            r.reasons[0].contains("boot 2: hard check failed: a"),
            "{:?}",
            r.reasons
        );
    }

    #[test]
    fn required_not_run_is_incomplete_never_passed() {
        let mut cs = good();
        cs.push(check(
            "c",
            Gate::Identity,
            Severity::Weighted,
            10,
            Outcome::NotRun {
                reason: "no sssd".into(),
            },
        ));
        let v1 = score_validation(&Policy::default(), 1, "a", cs.clone());
        let v2 = score_validation(&Policy::default(), 2, "b", cs);
        let r = assemble_report(
            rf(full_lifecycle(), RunMode::Cold),
            vec![v1, v2],
            vec![],
            info(),
        );
        assert_eq!(r.verdict, Verdict::Incomplete);
        assert!(r.reasons.iter().any(|x| x.contains("did not run: c")));
    }

    #[test]
    fn missing_second_boot_is_incomplete() {
        let v1 = score_validation(&Policy::default(), 1, "a", good());
        let lc = LifecycleCounts {
            provisionings: 1,
            power_cycles: 1,
            boots: 1,
            validations: 1,
        };
        let r = assemble_report(rf(lc, RunMode::Cold), vec![v1], vec![], info());
        assert_eq!(r.verdict, Verdict::Incomplete);
    }

    #[test]
    fn quick_run_is_at_best_transient() {
        let v1 = score_validation(&Policy::default(), 1, "a", good());
        let v2 = score_validation(&Policy::default(), 2, "b", good());
        let lc = LifecycleCounts {
            provisionings: 0,
            ..full_lifecycle()
        };
        let r = assemble_report(rf(lc, RunMode::Quick), vec![v1, v2], vec![], info());
        assert_eq!(r.verdict, Verdict::Transient);
    }

    #[test]
    fn a_quick_run_needs_its_one_boot_and_its_cycle() {
        let v1 = score_validation(&Policy::default(), 1, "a", good());
        let lc = LifecycleCounts {
            provisionings: 0,
            power_cycles: 1,
            boots: 1,
            validations: 1,
        };
        let r = assemble_report(
            rf(lc.clone(), RunMode::Quick),
            vec![v1.clone()],
            vec![],
            info(),
        );
        assert_eq!(r.verdict, Verdict::Transient, "{:?}", r.reasons);
        let no_cycle = LifecycleCounts {
            power_cycles: 0,
            ..lc.clone()
        };
        let r = assemble_report(rf(no_cycle, RunMode::Quick), vec![v1], vec![], info());
        assert_eq!(r.verdict, Verdict::Incomplete);
        let no_facts = LifecycleCounts {
            validations: 0,
            ..lc
        };
        let r = assemble_report(rf(no_facts, RunMode::Quick), vec![], vec![], info());
        assert_eq!(r.verdict, Verdict::Incomplete, "{:?}", r.reasons);
        assert!(
            r.reasons[0].contains("0 validation(s) of 1"),
            "{:?}",
            r.reasons
        );
    }

    #[test]
    fn below_required_zone_fails() {
        let mut cs = good();
        cs[1].outcome = Outcome::Fail; // network gate 0, platform 100 => 50
        let v1 = score_validation(&Policy::default(), 1, "a", cs.clone());
        let v2 = score_validation(&Policy::default(), 2, "b", cs);
        let r = assemble_report(
            rf(full_lifecycle(), RunMode::Cold),
            vec![v1, v2],
            vec![],
            info(),
        );
        assert_eq!(r.verdict, Verdict::Failed);
        assert_eq!(r.zone, Zone::Unusable);
        assert!(r.reasons[0].contains("below the required p90"));
    }

    #[test]
    fn drift_makes_transient() {
        let v1 = score_validation(&Policy::default(), 1, "a", good());
        let v2 = score_validation(&Policy::default(), 2, "b", good());
        let mut f = rf(full_lifecycle(), RunMode::Cold);
        f.drift.push("current-system differs".into());
        let r = assemble_report(f, vec![v1, v2], vec![], info());
        assert_eq!(r.verdict, Verdict::Transient);
    }
}
