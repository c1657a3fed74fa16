//! The power plan: which steps a state still has to take. Every step is
//! written to the store (intent, then outcome read back); a run resumed after
//! a restart takes only the steps the store does not show read back, so no
//! power action is repeated.
use e2et_model::inventory::OutletRef;
use e2et_model::report::{PowerAction, PowerStep};
use e2et_model::RunState;

/// The power work of a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Power-on of a cold run: outlet(s) off, read back, then on, read back.
    PowerOn,
    /// The power cycle: a soft off first when an agent of the run is up to
    /// take it (`soft`), then off, the PDU's cycle delay, on.
    Cycle { soft: bool },
}

/// What is left to do, in this order: soft off, off, (delay,) on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Plan {
    pub soft_off: bool,
    pub off: bool,
    /// Wait the cycle delay before `on` (a cycle; not a power-on).
    pub delay: bool,
    pub on: bool,
}

/// Whether `action` was read back, successfully, on every outlet in `state`.
/// `steps`: the run's power steps with the state each was taken in.
pub fn read_back(
    steps: &[(RunState, PowerStep)],
    state: RunState,
    outlets: &[(&str, u32)],
    action: PowerAction,
) -> bool {
    outlets.iter().all(|(pdu, outlet)| {
        steps.iter().any(|(st, s)| {
            *st == state && s.action == action && s.pdu == *pdu && s.outlet == *outlet && s.ok
        })
    })
}

/// The plan of `work` in `state`, given the steps already taken.
pub fn plan(
    work: Work,
    state: RunState,
    outlets: &[(&str, u32)],
    steps: &[(RunState, PowerStep)],
) -> Plan {
    let done = |a: PowerAction| read_back(steps, state, outlets, a);
    let off_done = done(PowerAction::Off);
    let on_done = done(PowerAction::On);
    match work {
        Work::PowerOn => Plan {
            soft_off: false,
            off: !off_done,
            delay: false,
            on: !on_done,
        },
        Work::Cycle { soft } => Plan {
            // Once the outlet read back off, the soft off is moot.
            soft_off: soft && !off_done && !done(PowerAction::SoftOff),
            off: !off_done,
            delay: !on_done,
            on: !on_done,
        },
    }
}

/// Whether a run resumed after a restart may still switch the outlets it
/// started with: the host's feeds in the inventory now (`None`: the host is
/// gone) must be the ones the run was created with. Err: why not, for the
/// hold.
pub fn resumable(
    host: &str,
    started: &[OutletRef],
    now: Option<&[OutletRef]>,
) -> Result<(), String> {
    let list = |o: &[OutletRef]| {
        o.iter()
            .map(|o| format!("{}:{}", o.pdu, o.outlet))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match now {
        Some(now) if now == started => Ok(()),
        Some(now) => Err(format!(
            "the inventory changed while the coordinator was down: {host}'s outlets were [{}] when the run started and are [{}] now; not switching outlets the run did not start with",
            list(started),
            list(now)
        )),
        None => Err(format!(
            "the inventory changed while the coordinator was down: host {host} is no longer in it; not switching its outlets [{}]",
            list(started)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(state: RunState, action: PowerAction, outlet: u32, ok: bool) -> (RunState, PowerStep) {
        (
            state,
            PowerStep {
                at: String::new(),
                pdu: "p".into(),
                outlet,
                action,
                observed: None,
                ok,
                detail: String::new(),
            },
        )
    }

    const ONE: &[(&str, u32)] = &[("p", 1)];
    const TWO: &[(&str, u32)] = &[("p", 1), ("p", 2)];

    #[test]
    fn a_fresh_state_takes_every_step() {
        assert_eq!(
            plan(Work::PowerOn, RunState::PowerOn, ONE, &[]),
            Plan {
                soft_off: false,
                off: true,
                delay: false,
                on: true
            }
        );
        assert_eq!(
            plan(Work::Cycle { soft: true }, RunState::PowerCycle, ONE, &[]),
            Plan {
                soft_off: true,
                off: true,
                delay: true,
                on: true
            }
        );
        assert_eq!(
            plan(Work::Cycle { soft: false }, RunState::PowerCycle, ONE, &[]),
            Plan {
                soft_off: false,
                off: true,
                delay: true,
                on: true
            }
        );
    }

    #[test]
    fn a_resumed_state_skips_what_was_read_back() {
        let s = RunState::PowerCycle;
        let soft = [step(s, PowerAction::SoftOff, 1, true)];
        assert_eq!(
            plan(Work::Cycle { soft: true }, s, ONE, &soft),
            Plan {
                soft_off: false,
                off: true,
                delay: true,
                on: true
            }
        );
        let off = [step(s, PowerAction::Off, 1, true)];
        assert_eq!(
            plan(Work::Cycle { soft: true }, s, ONE, &off),
            Plan {
                soft_off: false,
                off: false,
                delay: true,
                on: true
            }
        );
        let all = [
            step(s, PowerAction::Off, 1, true),
            step(s, PowerAction::On, 1, true),
        ];
        assert_eq!(
            plan(Work::Cycle { soft: true }, s, ONE, &all),
            Plan::default()
        );
        let p = RunState::PowerOn;
        assert_eq!(
            plan(Work::PowerOn, p, ONE, &[step(p, PowerAction::Off, 1, true)]),
            Plan {
                off: false,
                on: true,
                ..Plan::default()
            }
        );
    }

    #[test]
    fn only_successful_steps_of_this_state_on_every_outlet_count() {
        let s = RunState::PowerCycle;
        // A failed read-back is not done.
        assert!(
            plan(
                Work::Cycle { soft: true },
                s,
                ONE,
                &[step(s, PowerAction::Off, 1, false)]
            )
            .off
        );
        // The power-on's off is not the cycle's.
        assert!(
            plan(
                Work::Cycle { soft: true },
                s,
                ONE,
                &[step(RunState::PowerOn, PowerAction::Off, 1, true)]
            )
            .off
        );
        // Off on one outlet of two is not off.
        assert!(
            plan(
                Work::Cycle { soft: false },
                s,
                TWO,
                &[step(s, PowerAction::Off, 1, true)]
            )
            .off
        );
        assert!(
            !plan(
                Work::Cycle { soft: false },
                s,
                TWO,
                &[
                    step(s, PowerAction::Off, 1, true),
                    step(s, PowerAction::Off, 2, true)
                ]
            )
            .off
        );
    }

    #[test]
    fn a_run_resumes_only_on_the_outlets_it_started_with() {
        let o = |pdu: &str, outlet: u32| OutletRef {
            pdu: pdu.into(),
            outlet,
        };
        let started = [o("a", 1), o("b", 1)];
        assert_eq!(resumable("k10", &started, Some(&started)), Ok(()));
        let moved = resumable("k10", &started, Some(&[o("a", 1), o("b", 2)])).unwrap_err();
        assert!(
            moved.contains("[a:1, b:1]") && moved.contains("[a:1, b:2]"),
            "{moved}"
        );
        // One feed fewer is a change too.
        assert!(resumable("k10", &started, Some(&[o("a", 1)])).is_err());
        let gone = resumable("k10", &started, None).unwrap_err();
        assert!(gone.contains("no longer in it"), "{gone}");
    }
}
