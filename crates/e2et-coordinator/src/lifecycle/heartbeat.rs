//! Which command an agent's heartbeat gets, and what the heartbeat tells
//! about the host.
use e2et_model::api::AgentCommand;
use e2et_model::{RunMode, RunState};

/// The answer to one heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Beat {
    pub command: AgentCommand,
    /// The agent of the run's newest boot beat: the host is alive.
    pub alive: bool,
    /// The answer asks for the soft power-off: the engine's power cycle
    /// counts the grace period from the first such answer.
    pub poweroff_asked: bool,
}

/// `boots`: the run's boots as (sequence, boot id), in order; `boot_id`:
/// the beating agent's. A boot the run does not know gets `abort`; so does
/// an older boot's agent. In a cold run's power cycle, boot 1's agent is
/// told to power off (the soft off before the outlet is cut); a quick run
/// has no agent of its own up before its cycle.
pub fn decide(mode: RunMode, state: RunState, boots: &[(u32, String)], boot_id: &str) -> Beat {
    let seq = boots.iter().find(|(_, b)| b == boot_id).map(|(s, _)| *s);
    let newest = seq.is_some_and(|s| s as usize == boots.len());
    let command = match (state, seq) {
        (_, None) => AgentCommand::Abort,
        (RunState::PowerCycle, Some(1)) if mode == RunMode::Cold => AgentCommand::Poweroff,
        (_, Some(s)) if (s as usize) < boots.len() => AgentCommand::Abort,
        _ => AgentCommand::Continue,
    };
    Beat {
        command,
        alive: newest,
        poweroff_asked: command == AgentCommand::Poweroff,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AgentCommand::*;

    fn boots(n: u32) -> Vec<(u32, String)> {
        (1..=n).map(|s| (s, format!("b{s}"))).collect()
    }

    #[test]
    fn an_unknown_boot_is_told_to_abort_and_is_not_contact() {
        for s in RunState::ALL {
            for mode in [RunMode::Cold, RunMode::Quick] {
                let b = decide(mode, s, &boots(2), "stranger");
                assert_eq!(
                    b,
                    Beat {
                        command: Abort,
                        alive: false,
                        poweroff_asked: false
                    },
                    "{mode:?} {s}"
                );
            }
        }
    }

    #[test]
    fn boot_one_powers_off_in_a_cold_power_cycle_only() {
        for s in RunState::ALL {
            let b = decide(RunMode::Cold, s, &boots(1), "b1");
            let want = if s == RunState::PowerCycle {
                Poweroff
            } else {
                Continue
            };
            assert_eq!(b.command, want, "{s}");
            assert_eq!(b.poweroff_asked, want == Poweroff);
            assert!(b.alive);
            // A quick run's boot 1 is the installed system after the cycle.
            assert_eq!(decide(RunMode::Quick, s, &boots(1), "b1").command, Continue);
        }
    }

    #[test]
    fn an_older_boot_is_told_to_abort_the_newest_continues() {
        for s in RunState::ALL {
            let old = decide(RunMode::Cold, s, &boots(2), "b1");
            let new = decide(RunMode::Cold, s, &boots(2), "b2");
            // Boot 1 in the power cycle with a second boot already seen: the
            // cycle is done with it (only possible on a late heartbeat).
            if s == RunState::PowerCycle {
                assert_eq!(old.command, Poweroff);
            } else {
                assert_eq!(old.command, Abort, "{s}");
            }
            assert!(!old.alive, "an old boot is no sign of life");
            assert_eq!(new.command, Continue, "{s}");
            assert!(new.alive);
        }
    }
}
