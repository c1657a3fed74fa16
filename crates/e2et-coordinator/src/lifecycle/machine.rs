//! The run state machine as a table: (mode, state, event) → next state. Pure;
//! the engine persists each transition before running the new state's action.
//!
//! A cold run walks the whole lifecycle. A quick run skips power-on and
//! provisioning: inventory gate → power cycle (no agent of the run is up to
//! take a soft off) → revalidate (boot 1, the host's installed system, whose
//! agent enrols) → report, at best transient.
use e2et_model::{RunMode, RunState, Verdict};

/// What ended the current state's action.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The state's action completed as intended.
    Done(String),
    /// The action failed (PDU error, inventory problem, boot path mismatch,
    /// a conflicting agent).
    Failed(String),
    /// A wait ran out (no hello, no facts).
    TimedOut(String),
    /// The report is built with this verdict.
    Verdict(Verdict),
    /// An operator holds a finished run / releases a held one.
    Hold(String),
    Release(String),
}

/// What the engine does on entering a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CheckInventory,
    PowerOnCold,
    AwaitHello(u32),
    CheckBootPath,
    AwaitFacts(u32),
    /// The power cycle; `soft`: ask boot 1's agent to power off first.
    Cycle {
        soft: bool,
    },
    /// A new boot after the cycle (this boot sequence), then its facts.
    AwaitRevalidation(u32),
    BuildReport,
    Nothing,
}

pub fn action_for(mode: RunMode, s: RunState) -> Action {
    let quick = mode == RunMode::Quick;
    match s {
        RunState::Queued => Action::Nothing,
        RunState::InventoryGate => Action::CheckInventory,
        RunState::PowerOn => Action::PowerOnCold,
        RunState::Provisioning => Action::AwaitHello(1),
        RunState::FirstBoot => Action::CheckBootPath,
        RunState::Validate => Action::AwaitFacts(1),
        RunState::PowerCycle => Action::Cycle { soft: !quick },
        RunState::Revalidate => Action::AwaitRevalidation(if quick { 1 } else { 2 }),
        RunState::Report => Action::BuildReport,
        _ => Action::Nothing,
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("no transition from {from} on {event}")]
pub struct BadTransition {
    pub from: RunState,
    pub event: String,
}

fn kind(e: &Event) -> &'static str {
    match e {
        Event::Done(_) => "done",
        Event::Failed(_) => "failed",
        Event::TimedOut(_) => "timed_out",
        Event::Verdict(_) => "verdict",
        Event::Hold(_) => "hold",
        Event::Release(_) => "release",
    }
}

/// The transition table.
const TABLE: &[(RunState, &str, RunState)] = &[
    (RunState::Queued, "done", RunState::InventoryGate),
    (RunState::InventoryGate, "done", RunState::PowerOn),
    (RunState::InventoryGate, "failed", RunState::Report),
    (RunState::PowerOn, "done", RunState::Provisioning),
    (RunState::PowerOn, "failed", RunState::Report),
    (RunState::Provisioning, "done", RunState::FirstBoot),
    (RunState::Provisioning, "timed_out", RunState::Report),
    (RunState::Provisioning, "failed", RunState::Report),
    (RunState::FirstBoot, "done", RunState::Validate),
    (RunState::FirstBoot, "failed", RunState::Report),
    (RunState::Validate, "done", RunState::PowerCycle),
    (RunState::Validate, "timed_out", RunState::Report),
    (RunState::Validate, "failed", RunState::Report),
    (RunState::PowerCycle, "done", RunState::Revalidate),
    (RunState::PowerCycle, "failed", RunState::Report),
    (RunState::Revalidate, "done", RunState::Report),
    (RunState::Revalidate, "timed_out", RunState::Report),
    (RunState::Revalidate, "failed", RunState::Report),
    (RunState::Failed, "hold", RunState::Holding),
    (RunState::Incomplete, "hold", RunState::Holding),
    (RunState::Holding, "release", RunState::Released),
];

pub fn next(mode: RunMode, from: RunState, e: &Event) -> Result<RunState, BadTransition> {
    // A quick run goes from its inventory gate straight to the power cycle.
    if mode == RunMode::Quick && from == RunState::InventoryGate && matches!(e, Event::Done(_)) {
        return Ok(RunState::PowerCycle);
    }
    if let Event::Verdict(v) = e {
        if from == RunState::Report {
            return Ok(match v {
                Verdict::Passed => RunState::Passed,
                Verdict::Transient => RunState::Transient,
                Verdict::Failed => RunState::Failed,
                Verdict::Incomplete => RunState::Incomplete,
            });
        }
    }
    let k = kind(e);
    // Any live state can be put on hold by an operator (or by a restart that
    // cannot prove what a power action did).
    if k == "hold" && !from.is_terminal() {
        return Ok(RunState::Holding);
    }
    TABLE
        .iter()
        .find(|(f, ev, _)| *f == from && *ev == k)
        .map(|(_, _, to)| *to)
        .ok_or(BadTransition {
            from,
            event: k.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next(from: RunState, e: &Event) -> Result<RunState, BadTransition> {
        super::next(RunMode::Cold, from, e)
    }

    #[test]
    fn a_quick_run_skips_power_on_and_provisioning() {
        let mut s = RunState::Queued;
        let mut seen = vec![s];
        while s != RunState::Report {
            s = super::next(RunMode::Quick, s, &Event::Done(String::new())).unwrap();
            seen.push(s);
        }
        use RunState::*;
        assert_eq!(
            seen,
            [Queued, InventoryGate, PowerCycle, Revalidate, Report]
        );
        assert_eq!(
            action_for(RunMode::Quick, PowerCycle),
            Action::Cycle { soft: false }
        );
        assert_eq!(
            action_for(RunMode::Quick, Revalidate),
            Action::AwaitRevalidation(1)
        );
        assert_eq!(
            super::next(RunMode::Quick, InventoryGate, &Event::Failed("x".into())),
            Ok(Report)
        );
    }

    /// Every (mode, state, event) pair against the rules stated once more,
    /// in words rather than as a table: the lifecycle's order, where a
    /// failure or a timeout may end it early, who may hold and release.
    #[test]
    fn every_state_and_event_pair() {
        use RunState::*;
        let lifecycle = [
            Queued,
            InventoryGate,
            PowerOn,
            Provisioning,
            FirstBoot,
            Validate,
            PowerCycle,
            Revalidate,
            Report,
        ];
        let quick = [Queued, InventoryGate, PowerCycle, Revalidate, Report];
        // States whose action can fail (PDU, inventory, boot path) and
        // states whose action waits and can time out.
        // The waits fail too: a conflicting agent ends them (claims.rs).
        let can_fail = [
            InventoryGate,
            PowerOn,
            Provisioning,
            FirstBoot,
            Validate,
            PowerCycle,
            Revalidate,
        ];
        let can_time_out = [Provisioning, Validate, Revalidate];
        let events = [
            Event::Done(String::new()),
            Event::Failed(String::new()),
            Event::TimedOut(String::new()),
            Event::Verdict(Verdict::Passed),
            Event::Verdict(Verdict::Transient),
            Event::Verdict(Verdict::Failed),
            Event::Verdict(Verdict::Incomplete),
            Event::Hold(String::new()),
            Event::Release(String::new()),
        ];
        let mut pairs = 0;
        for mode in [RunMode::Cold, RunMode::Quick] {
            let order: &[RunState] = if mode == RunMode::Quick {
                &quick
            } else {
                &lifecycle
            };
            for s in RunState::ALL {
                for e in &events {
                    pairs += 1;
                    let after = |order: &[RunState]| {
                        order
                            .iter()
                            .position(|x| *x == s)
                            .and_then(|i| order.get(i + 1).copied())
                    };
                    let want: Option<RunState> = match e {
                        Event::Done(_) if s != Report => after(order),
                        Event::Failed(_) if can_fail.contains(&s) => Some(Report),
                        Event::TimedOut(_) if can_time_out.contains(&s) => Some(Report),
                        Event::Verdict(v) if s == Report => Some(match v {
                            Verdict::Passed => Passed,
                            Verdict::Transient => Transient,
                            Verdict::Failed => Failed,
                            Verdict::Incomplete => Incomplete,
                        }),
                        Event::Hold(_) if !s.is_terminal() || matches!(s, Failed | Incomplete) => {
                            Some(Holding)
                        }
                        Event::Release(_) if s == Holding => Some(Released),
                        _ => None,
                    };
                    let got = super::next(mode, s, e).ok();
                    // A quick run's own states follow its order; the cold
                    // states it never enters still answer like a cold run's.
                    let want = if mode == RunMode::Quick && !quick.contains(&s) {
                        match e {
                            Event::Done(_) => after(&lifecycle),
                            _ => want,
                        }
                    } else {
                        want
                    };
                    assert_eq!(got, want, "{mode:?} {s} on {}", kind(e));
                }
            }
        }
        assert_eq!(pairs, 2 * 15 * 9);
    }

    #[test]
    fn happy_path_walks_the_lifecycle_in_order() {
        let mut s = RunState::Queued;
        let mut seen = vec![s];
        while s != RunState::Report {
            s = next(s, &Event::Done(String::new())).unwrap();
            seen.push(s);
        }
        s = next(s, &Event::Verdict(Verdict::Passed)).unwrap();
        seen.push(s);
        use RunState::*;
        assert_eq!(
            seen,
            [
                Queued,
                InventoryGate,
                PowerOn,
                Provisioning,
                FirstBoot,
                Validate,
                PowerCycle,
                Revalidate,
                Report,
                Passed
            ]
        );
    }

    #[test]
    fn every_live_state_has_a_way_to_the_report_or_hold() {
        for s in RunState::ALL.into_iter().filter(|s| !s.is_terminal()) {
            assert_eq!(next(s, &Event::Hold("x".into())), Ok(RunState::Holding));
            if s != RunState::Queued && s != RunState::Report {
                let failed = next(s, &Event::Failed("x".into()));
                let timed = next(s, &Event::TimedOut("x".into()));
                assert!(
                    failed == Ok(RunState::Report) || timed == Ok(RunState::Report),
                    "{s} cannot end early"
                );
            }
        }
    }

    #[test]
    fn terminal_states_do_not_move_except_hold_and_release() {
        assert!(next(RunState::Passed, &Event::Done(String::new())).is_err());
        assert!(next(RunState::Passed, &Event::Hold(String::new())).is_err());
        assert_eq!(
            next(RunState::Failed, &Event::Hold(String::new())),
            Ok(RunState::Holding)
        );
        assert_eq!(
            next(RunState::Holding, &Event::Release(String::new())),
            Ok(RunState::Released)
        );
        assert!(next(RunState::Validate, &Event::Verdict(Verdict::Passed)).is_err());
    }

    #[test]
    fn every_state_has_its_action_in_both_modes() {
        use RunState::*;
        for s in RunState::ALL {
            let cold = match s {
                InventoryGate => Action::CheckInventory,
                PowerOn => Action::PowerOnCold,
                Provisioning => Action::AwaitHello(1),
                FirstBoot => Action::CheckBootPath,
                Validate => Action::AwaitFacts(1),
                PowerCycle => Action::Cycle { soft: true },
                Revalidate => Action::AwaitRevalidation(2),
                Report => Action::BuildReport,
                _ => Action::Nothing,
            };
            assert_eq!(action_for(RunMode::Cold, s), cold, "cold {s}");
            // A quick run: no agent of the run is up before its cycle, and
            // its one boot is the installed system after it.
            let quick = match s {
                PowerCycle => Action::Cycle { soft: false },
                Revalidate => Action::AwaitRevalidation(1),
                _ => cold,
            };
            assert_eq!(action_for(RunMode::Quick, s), quick, "quick {s}");
        }
    }

    #[test]
    fn each_state_has_its_action() {
        let cold = RunMode::Cold;
        assert_eq!(
            action_for(cold, RunState::PowerCycle),
            Action::Cycle { soft: true }
        );
        assert_eq!(
            action_for(cold, RunState::Revalidate),
            Action::AwaitRevalidation(2)
        );
        assert_eq!(
            action_for(cold, RunState::Provisioning),
            Action::AwaitHello(1)
        );
        assert_eq!(action_for(cold, RunState::Passed), Action::Nothing);
    }
}
