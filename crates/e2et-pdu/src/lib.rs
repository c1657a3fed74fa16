//! Power control. A [`PowerDriver`] switches one outlet and reads its state
//! back; [`switch_verified`] and [`cycle`] build the observed sequences the
//! lifecycle needs (never trusting a command without reading the state back).
pub mod apc;
pub mod bmc;
pub mod drivers;
pub mod qmp;
pub mod serialized;
pub mod usm_probe;

use async_trait::async_trait;
use e2et_model::report::{PowerAction, PowerStep};
use std::sync::Arc;
use std::time::Duration;

pub use e2et_model::report::PowerState;

#[derive(Debug, thiserror::Error)]
pub enum PduError {
    #[error("cannot reach {target}: {source}")]
    Connect {
        target: String,
        source: std::io::Error,
    },
    #[error("{target}: protocol error: {message}")]
    Protocol { target: String, message: String },
    #[error("{target}: device refused {command}: {message}")]
    Device {
        target: String,
        command: String,
        message: String,
    },
    #[error(
        "outlet {outlet} did not reach {want} within {waited:?}; last state read: {last_seen}"
    )]
    NotReached {
        outlet: u32,
        want: &'static str,
        waited: Duration,
        last_seen: String,
    },
    #[error("{action} of outlet {outlet} not sent: its intent could not be recorded ({why})")]
    Unrecorded {
        outlet: u32,
        action: &'static str,
        why: String,
    },
    #[error("{target}: {operation} is not supported by this driver")]
    Unsupported {
        target: String,
        operation: &'static str,
    },
    #[error("timed out after {0:?} talking to the device")]
    Timeout(Duration),
    /// A command went out once and its answer did not come back: whether the
    /// device switched is read back, never assumed, and the command is not
    /// sent again under the same recorded intent.
    #[error("{target}: {command} sent, not confirmed: {message}")]
    Unconfirmed {
        target: String,
        command: String,
        message: String,
    },
}

/// One PDU (or power controller). Commands only send; callers verify with
/// [`PowerDriver::status`] (see [`switch_verified`]).
#[async_trait]
pub trait PowerDriver: Send + Sync {
    /// Human name of the device (`rack1-pdu-a`), used in logs and errors.
    fn name(&self) -> &str;
    async fn status(&self, outlet: u32) -> Result<PowerState, PduError>;
    async fn on(&self, outlet: u32) -> Result<(), PduError>;
    async fn off(&self, outlet: u32) -> Result<(), PduError>;
    /// Ask the host to shut down cleanly (ACPI power button). Drivers that cannot
    /// say so; the caller then goes straight to a hard off.
    async fn soft_off(&self, outlet: u32) -> Result<(), PduError> {
        let _ = outlet;
        Err(PduError::Unsupported {
            target: self.name().to_string(),
            operation: "soft_off",
        })
    }
}

/// Polling bounds of a verified step.
#[derive(Debug, Clone, Copy)]
pub struct Poll {
    pub interval: Duration,
    pub timeout: Duration,
}

impl Default for Poll {
    fn default() -> Self {
        Poll {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(20),
        }
    }
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The first read after a command: soon, since many relays switch in tens
/// of milliseconds.
pub const FIRST_READ: Duration = Duration::from_millis(50);

/// Polls until the outlet reads `want`, or errors naming the last state
/// seen. The first read comes [`FIRST_READ`] after the previous one, then
/// the wait doubles up to `poll.interval`; no wait runs past
/// `poll.timeout`.
pub async fn wait_state(
    d: &dyn PowerDriver,
    outlet: u32,
    want: PowerState,
    poll: Poll,
) -> Result<PowerState, PduError> {
    let start = tokio::time::Instant::now();
    let mut wait = FIRST_READ.min(poll.interval);
    loop {
        let last = match d.status(outlet).await {
            Ok(s) if s == want => return Ok(s),
            Ok(s) => s.as_str().to_string(),
            Err(e) => format!("error: {e}"),
        };
        if start.elapsed() >= poll.timeout {
            return Err(PduError::NotReached {
                outlet,
                want: want.as_str(),
                waited: start.elapsed(),
                last_seen: last,
            });
        }
        tokio::time::sleep(wait.min(poll.timeout.saturating_sub(start.elapsed()))).await;
        wait = (wait * 2).min(poll.interval);
    }
}

/// Sends on/off and polls until the state is read back.
pub async fn switch_verified(
    d: &dyn PowerDriver,
    outlet: u32,
    want: PowerState,
    poll: Poll,
) -> Result<PowerState, PduError> {
    match want {
        PowerState::On => d.on(outlet).await?,
        PowerState::Off => d.off(outlet).await?,
    }
    wait_state(d, outlet, want, poll).await
}

/// One power feed of a host.
#[derive(Clone)]
pub struct Feed {
    pub pdu: String,
    pub outlet: u32,
    pub driver: Arc<dyn PowerDriver>,
}

/// Receives each step: `intent` before the command is sent, `done` after the
/// state was read back (or the step failed). The coordinator persists both.
pub trait StepLog: Send + Sync {
    /// Records that `action` is about to be sent. `Err` (why it could not be
    /// recorded) means the command is not sent: fail closed.
    fn intent(&self, pdu: &str, outlet: u32, action: PowerAction) -> Result<(), String>;
    fn done(&self, step: &PowerStep);
}

/// Discards steps (CLI use prints them itself).
pub struct NoLog;
impl StepLog for NoLog {
    fn intent(&self, _: &str, _: u32, _: PowerAction) -> Result<(), String> {
        Ok(())
    }
    fn done(&self, _: &PowerStep) {}
}

/// A step whose intent could not be recorded: nothing was sent.
fn unrecorded(f: &Feed, action: PowerAction, why: String) -> (PowerStep, PduError) {
    let e = PduError::Unrecorded {
        outlet: f.outlet,
        action: action.as_str(),
        why,
    };
    (
        PowerStep {
            at: now(),
            pdu: f.pdu.clone(),
            outlet: f.outlet,
            action,
            observed: None,
            ok: false,
            detail: e.to_string(),
        },
        e,
    )
}

/// Sends of one step's command, each under its own recorded intent.
const MAX_SENDS: u32 = 3;

async fn step(
    log: &dyn StepLog,
    f: &Feed,
    want: PowerState,
    poll: Poll,
) -> Result<PowerStep, (PowerStep, PduError)> {
    let action = match want {
        PowerState::On => PowerAction::On,
        PowerState::Off => PowerAction::Off,
    };
    if let Err(why) = log.intent(&f.pdu, f.outlet, action) {
        return Err(unrecorded(f, action, why));
    }
    let mut r = switch_verified(f.driver.as_ref(), f.outlet, want, poll).await;
    // A command whose answer was lost is sent again only after the outlet
    // reads otherwise and a new intent is recorded: every command the
    // device may have received has its own intent in the log.
    let mut sends = 1;
    while let Err(PduError::Unconfirmed { .. }) = &r {
        if let Ok(s) = f.driver.status(f.outlet).await {
            if s == want {
                r = Ok(s);
                break;
            }
        }
        if sends >= MAX_SENDS {
            break;
        }
        if let Err(why) = log.intent(&f.pdu, f.outlet, action) {
            return Err(unrecorded(f, action, why));
        }
        sends += 1;
        tracing::warn!(pdu = %f.pdu, outlet = f.outlet, %action, sends, "command not confirmed: sending it again under a new intent");
        r = switch_verified(f.driver.as_ref(), f.outlet, want, poll).await;
    }
    let step = match &r {
        Ok(s) => PowerStep {
            at: now(),
            pdu: f.pdu.clone(),
            outlet: f.outlet,
            action,
            observed: Some(*s),
            ok: true,
            detail: format!("{action} sent; state read back {}", s.as_str()),
        },
        Err(e) => PowerStep {
            at: now(),
            pdu: f.pdu.clone(),
            outlet: f.outlet,
            action,
            observed: match e {
                PduError::NotReached { last_seen, .. } => PowerState::from_name(last_seen),
                _ => None,
            },
            ok: false,
            detail: e.to_string(),
        },
    };
    log.done(&step);
    match r {
        Ok(_) => Ok(step),
        Err(e) => Err((step, e)),
    }
}

/// Switches every feed to `want`, each verified, in order.
pub async fn switch_all(
    log: &dyn StepLog,
    feeds: &[Feed],
    want: PowerState,
    poll: Poll,
) -> Result<Vec<PowerStep>, (Vec<PowerStep>, PduError)> {
    let mut steps = Vec::new();
    for f in feeds {
        match step(log, f, want, poll).await {
            Ok(s) => steps.push(s),
            Err((s, e)) => {
                steps.push(s);
                return Err((steps, e));
            }
        }
    }
    Ok(steps)
}

/// What a cycle still has to do, in this order: soft off, off, the delay,
/// on. A whole cycle is [`CyclePlan::full`]; a caller that resumes a cycle
/// after a restart leaves out the steps it has seen read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CyclePlan {
    /// Ask the host to shut down first (see [`SoftOff`]).
    pub soft_off: bool,
    pub off: bool,
    /// Waited before `on` (zero for a power-on: off, then on at once).
    pub delay: Duration,
    pub on: bool,
}

impl CyclePlan {
    /// Off, the delay, on.
    pub fn full(delay: Duration) -> CyclePlan {
        CyclePlan {
            soft_off: false,
            off: true,
            delay,
            on: true,
        }
    }
}

/// The clean shutdown before the outlet is cut: whoever can ask the host
/// (its agent, its BMC) asks, then waits, bounded. Returns what happened,
/// for the step's detail.
#[async_trait]
pub trait SoftOff: Send + Sync {
    async fn soft_off(&self, feeds: &[Feed]) -> String;
}

/// The one power cycle: a soft off if planned (each outlet's state read and
/// logged as a `soft_off` step), all feeds off (each read back off), the
/// delay, all on (each read back on). Never the PDU's own reboot command, so
/// every step is observed; each step's intent is logged before its command
/// goes out and its outcome after it is read back.
pub async fn cycle(
    log: &dyn StepLog,
    feeds: &[Feed],
    plan: &CyclePlan,
    soft: Option<&dyn SoftOff>,
    poll: Poll,
) -> Result<Vec<PowerStep>, (Vec<PowerStep>, PduError)> {
    let mut steps = Vec::new();
    if plan.soft_off {
        let how = match soft {
            Some(s) => s.soft_off(feeds).await,
            None => "nobody to ask for a clean shutdown".to_string(),
        };
        for f in feeds {
            if let Err(why) = log.intent(&f.pdu, f.outlet, PowerAction::SoftOff) {
                let (step, e) = unrecorded(f, PowerAction::SoftOff, why);
                steps.push(step);
                return Err((steps, e));
            }
            let read = f.driver.status(f.outlet).await;
            let step = PowerStep {
                at: now(),
                pdu: f.pdu.clone(),
                outlet: f.outlet,
                action: PowerAction::SoftOff,
                observed: read.as_ref().ok().copied(),
                ok: read.is_ok(),
                detail: match &read {
                    Ok(_) => how.clone(),
                    Err(e) => format!("{how}; status read failed: {e}"),
                },
            };
            log.done(&step);
            steps.push(step);
        }
    }
    let want = [(plan.off, PowerState::Off), (plan.on, PowerState::On)];
    for (_, state) in want.into_iter().filter(|(planned, _)| *planned) {
        if state == PowerState::On {
            tokio::time::sleep(plan.delay).await;
        }
        match switch_all(log, feeds, state, poll).await {
            Ok(s) => steps.extend(s),
            Err((s, e)) => {
                steps.extend(s);
                return Err((steps, e));
            }
        }
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// An outlet that takes `lag` status reads to follow a command, or never.
    struct Fake {
        state: Mutex<(PowerState, Option<PowerState>, u32)>,
        lag: Option<u32>,
    }

    #[async_trait]
    impl PowerDriver for Fake {
        fn name(&self) -> &str {
            "fake"
        }
        async fn status(&self, _: u32) -> Result<PowerState, PduError> {
            let mut s = self.state.lock().unwrap();
            if let (Some(p), Some(lag)) = (s.1, self.lag) {
                s.2 += 1;
                if s.2 > lag {
                    s.0 = p;
                    s.1 = None;
                }
            }
            Ok(s.0)
        }
        async fn on(&self, _: u32) -> Result<(), PduError> {
            let mut s = self.state.lock().unwrap();
            *s = (s.0, Some(PowerState::On), 0);
            Ok(())
        }
        async fn off(&self, _: u32) -> Result<(), PduError> {
            let mut s = self.state.lock().unwrap();
            *s = (s.0, Some(PowerState::Off), 0);
            Ok(())
        }
    }

    fn feed(lag: Option<u32>) -> Feed {
        Feed {
            pdu: "p".into(),
            outlet: 3,
            driver: Arc::new(Fake {
                state: Mutex::new((PowerState::On, None, 0)),
                lag,
            }),
        }
    }

    /// Virtual time: the reads' schedule, not the machine's speed.
    #[tokio::test(start_paused = true)]
    async fn the_first_read_comes_soon_then_the_wait_backs_off_within_the_step_timeout() {
        let poll = Poll {
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(2500),
        };
        // The relay follows on the fourth read: reads at 0, 50, 150, 350 ms
        // (a fixed 1 s interval would have taken 3 s).
        let f = feed(Some(3));
        let t = tokio::time::Instant::now();
        let s = switch_verified(f.driver.as_ref(), 3, PowerState::Off, poll).await;
        assert_eq!(s.unwrap(), PowerState::Off);
        assert_eq!(t.elapsed(), Duration::from_millis(350));
        // A relay that never follows: the waits grow to the interval and the
        // last one stops at the step timeout, not past it.
        let f = feed(None);
        let t = tokio::time::Instant::now();
        let e = switch_verified(f.driver.as_ref(), 3, PowerState::Off, poll)
            .await
            .unwrap_err();
        assert!(matches!(e, PduError::NotReached { .. }), "{e}");
        assert_eq!(t.elapsed(), Duration::from_millis(2500));
    }

    const FAST: Poll = Poll {
        interval: Duration::from_millis(1),
        timeout: Duration::from_millis(200),
    };

    #[tokio::test]
    async fn cycle_reads_back_each_state() {
        let feeds = [feed(Some(2)), feed(Some(0))];
        let steps = cycle(&NoLog, &feeds, &CyclePlan::full(Duration::ZERO), None, FAST)
            .await
            .unwrap();
        let seq: Vec<_> = steps
            .iter()
            .map(|s| (s.action.as_str(), s.observed.map(|o| o.as_str())))
            .collect();
        assert_eq!(
            seq,
            [
                ("off", Some("off")),
                ("off", Some("off")),
                ("on", Some("on")),
                ("on", Some("on"))
            ]
        );
    }

    /// Records nothing for `refuse`: as a store whose write failed.
    struct Refusing {
        refuse: PowerAction,
        done: Mutex<u32>,
    }
    impl StepLog for Refusing {
        fn intent(&self, _: &str, _: u32, action: PowerAction) -> Result<(), String> {
            if action == self.refuse {
                Err("disk full".into())
            } else {
                Ok(())
            }
        }
        fn done(&self, _: &PowerStep) {
            *self.done.lock().unwrap() += 1;
        }
    }

    #[tokio::test]
    async fn a_command_whose_intent_is_not_recorded_is_never_sent() {
        // Both outlets on; off is recorded, on is not.
        let feeds = [feed(Some(0)), feed(Some(0))];
        let log = Refusing {
            refuse: PowerAction::On,
            done: Mutex::new(0),
        };
        let (steps, e) = cycle(&log, &feeds, &CyclePlan::full(Duration::ZERO), None, FAST)
            .await
            .unwrap_err();
        assert!(
            matches!(e, PduError::Unrecorded { action: "on", .. }),
            "{e}"
        );
        assert!(e.to_string().contains("not sent") && e.to_string().contains("disk full"));
        // Both offs went out and read back; then nothing more was sent.
        assert_eq!(*log.done.lock().unwrap(), 2);
        assert_eq!(
            steps.last().map(|s| (s.action, s.ok)),
            Some((PowerAction::On, false))
        );
        for f in &feeds {
            assert_eq!(f.driver.status(f.outlet).await.unwrap(), PowerState::Off);
        }
        // A soft off's intent too.
        let log = Refusing {
            refuse: PowerAction::SoftOff,
            done: Mutex::new(0),
        };
        let plan = CyclePlan {
            soft_off: true,
            ..CyclePlan::full(Duration::ZERO)
        };
        let (_, e) = cycle(&log, &[feed(Some(0))], &plan, None, FAST)
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                PduError::Unrecorded {
                    action: "soft_off",
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(*log.done.lock().unwrap(), 0, "no step went out");
    }

    struct Asked(Mutex<u32>);
    #[async_trait]
    impl SoftOff for Asked {
        async fn soft_off(&self, _: &[Feed]) -> String {
            *self.0.lock().unwrap() += 1;
            "asked the agent".into()
        }
    }

    #[tokio::test]
    async fn a_planned_soft_off_asks_once_and_logs_a_step_per_outlet() {
        let feeds = [feed(Some(0)), feed(Some(0))];
        let asked = Asked(Mutex::new(0));
        let plan = CyclePlan {
            soft_off: true,
            ..CyclePlan::full(Duration::ZERO)
        };
        let steps = cycle(&NoLog, &feeds, &plan, Some(&asked), FAST)
            .await
            .unwrap();
        assert_eq!(*asked.0.lock().unwrap(), 1);
        let seq: Vec<_> = steps.iter().map(|s| (s.action.as_str(), s.ok)).collect();
        assert_eq!(
            seq,
            [
                ("soft_off", true),
                ("soft_off", true),
                ("off", true),
                ("off", true),
                ("on", true),
                ("on", true)
            ]
        );
        assert_eq!(steps[0].detail, "asked the agent");
    }

    #[tokio::test]
    async fn a_resumed_cycle_takes_only_the_planned_steps() {
        let feeds = [feed(Some(0))];
        let plan = CyclePlan {
            off: false,
            ..CyclePlan::full(Duration::ZERO)
        };
        let steps = cycle(&NoLog, &feeds, &plan, None, FAST).await.unwrap();
        let seq: Vec<_> = steps.iter().map(|s| s.action.as_str()).collect();
        assert_eq!(seq, ["on"]);
        let nothing = CyclePlan {
            off: false,
            on: false,
            ..CyclePlan::full(Duration::from_secs(3600))
        };
        assert!(cycle(&NoLog, &feeds, &nothing, None, FAST)
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn stuck_outlet_names_last_state_and_stops() {
        let feeds = [feed(None)];
        let (steps, e) = cycle(&NoLog, &feeds, &CyclePlan::full(Duration::ZERO), None, FAST)
            .await
            .unwrap_err();
        assert_eq!(steps.len(), 1, "no power-on after a failed off");
        assert!(!steps[0].ok);
        assert_eq!(steps[0].observed, Some(PowerState::On));
        assert!(e.to_string().contains("did not reach off"), "{e}");
        assert!(e.to_string().contains("last state read: on"), "{e}");
    }
}
