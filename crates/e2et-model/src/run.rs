//! Run lifecycle states and modes.
use serde::{Deserialize, Serialize};
use std::fmt;

/// A state of one acceptance run. See DESIGN.md, "The lifecycle".
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    PartialOrd,
    Ord,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Queued,
    InventoryGate,
    PowerOn,
    Provisioning,
    FirstBoot,
    Validate,
    PowerCycle,
    Revalidate,
    Report,
    Passed,
    Transient,
    Failed,
    Incomplete,
    Holding,
    Released,
}

impl RunState {
    pub const ALL: [RunState; 15] = [
        RunState::Queued,
        RunState::InventoryGate,
        RunState::PowerOn,
        RunState::Provisioning,
        RunState::FirstBoot,
        RunState::Validate,
        RunState::PowerCycle,
        RunState::Revalidate,
        RunState::Report,
        RunState::Passed,
        RunState::Transient,
        RunState::Failed,
        RunState::Incomplete,
        RunState::Holding,
        RunState::Released,
    ];

    /// A terminal state ends the engine's work on the run (Holding waits for an operator).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunState::Passed
                | RunState::Transient
                | RunState::Failed
                | RunState::Incomplete
                | RunState::Holding
                | RunState::Released
        )
    }

    /// A run in one of these states owns its host's boot path: `/boot/<mac>.ipxe`
    /// hands out the netboot script only then.
    pub fn boots_netboot(self) -> bool {
        matches!(
            self,
            RunState::PowerOn
                | RunState::Provisioning
                | RunState::FirstBoot
                | RunState::Validate
                | RunState::PowerCycle
                | RunState::Revalidate
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::InventoryGate => "inventory_gate",
            RunState::PowerOn => "power_on",
            RunState::Provisioning => "provisioning",
            RunState::FirstBoot => "first_boot",
            RunState::Validate => "validate",
            RunState::PowerCycle => "power_cycle",
            RunState::Revalidate => "revalidate",
            RunState::Report => "report",
            RunState::Passed => "passed",
            RunState::Transient => "transient",
            RunState::Failed => "failed",
            RunState::Incomplete => "incomplete",
            RunState::Holding => "holding",
            RunState::Released => "released",
        }
    }

    pub fn parse(s: &str) -> Option<RunState> {
        RunState::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Cold runs go through the whole lifecycle; quick runs skip provisioning and
/// can at best be transient.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    #[default]
    Cold,
    Quick,
}

impl RunMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::Cold => "cold",
            RunMode::Quick => "quick",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_round_trip_and_match_serde() {
        for st in RunState::ALL {
            assert_eq!(RunState::parse(st.as_str()), Some(st));
            let json = serde_json::to_string(&st).unwrap();
            assert_eq!(json, format!("\"{}\"", st.as_str()));
        }
        assert_eq!(RunState::parse("bogus"), None);
    }
}
