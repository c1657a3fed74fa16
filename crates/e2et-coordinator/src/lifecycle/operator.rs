//! Whether an operator's hold or release is allowed, and where it leads.
use super::machine::{next, Event};
use e2et_model::{RunMode, RunState};

/// What an operator can do to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorAction {
    /// Keep a failed or incomplete host for inspection.
    Hold,
    /// Let a held host go.
    Release,
}

impl OperatorAction {
    /// The action named in `/api/v1/runs/<id>/<action>`.
    pub fn parse(s: &str) -> Option<OperatorAction> {
        match s {
            "hold" => Some(OperatorAction::Hold),
            "release" => Some(OperatorAction::Release),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OperatorAction::Hold => "hold",
            OperatorAction::Release => "release",
        }
    }
}

/// Why an operator action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("say why (reason must not be empty)")]
    NoReason,
    #[error("run {run} is {state}; only failed or incomplete runs can be held, and only held runs released")]
    State { run: String, state: RunState },
}

/// The state the run moves to and the transition's note. Live runs are not
/// held from outside: the engine is acting on them.
pub fn decide(
    run: &str,
    mode: RunMode,
    state: RunState,
    action: OperatorAction,
    reason: &str,
) -> Result<(RunState, String), Refused> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Refused::NoReason);
    }
    let allowed = matches!(
        (state, action),
        (
            RunState::Failed | RunState::Incomplete,
            OperatorAction::Hold
        ) | (RunState::Holding, OperatorAction::Release)
    );
    let ev = match action {
        OperatorAction::Hold => Event::Hold(reason.to_string()),
        OperatorAction::Release => Event::Release(reason.to_string()),
    };
    let to = next(mode, state, &ev)
        .ok()
        .filter(|_| allowed)
        .ok_or(Refused::State {
            run: run.to_string(),
            state,
        })?;
    Ok((to, format!("{} by operator: {reason}", action.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_and_action() {
        for mode in [RunMode::Cold, RunMode::Quick] {
            for s in RunState::ALL {
                for a in [OperatorAction::Hold, OperatorAction::Release] {
                    let got = decide("r1", mode, s, a, " disk smells ");
                    let want = match (s, a) {
                        (RunState::Failed | RunState::Incomplete, OperatorAction::Hold) => Ok((
                            RunState::Holding,
                            "hold by operator: disk smells".to_string(),
                        )),
                        (RunState::Holding, OperatorAction::Release) => Ok((
                            RunState::Released,
                            "release by operator: disk smells".to_string(),
                        )),
                        _ => Err(Refused::State {
                            run: "r1".into(),
                            state: s,
                        }),
                    };
                    assert_eq!(got, want, "{mode:?} {s} {a:?}");
                }
            }
        }
    }

    #[test]
    fn a_reason_is_required() {
        assert_eq!(
            decide(
                "r1",
                RunMode::Cold,
                RunState::Failed,
                OperatorAction::Hold,
                "  "
            ),
            Err(Refused::NoReason)
        );
    }

    #[test]
    fn actions_parse_by_name() {
        assert_eq!(OperatorAction::parse("hold"), Some(OperatorAction::Hold));
        assert_eq!(
            OperatorAction::parse("release"),
            Some(OperatorAction::Release)
        );
        assert_eq!(OperatorAction::parse("reboot"), None);
        for a in [OperatorAction::Hold, OperatorAction::Release] {
            assert_eq!(OperatorAction::parse(a.as_str()), Some(a));
        }
    }
}
