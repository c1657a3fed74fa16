//! Run lifecycle states and modes.
use serde::{Deserialize, Serialize};

crate::named_enum! {
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
pub enum RunState {
    Queued = "queued",
    InventoryGate = "inventory_gate",
    PowerOn = "power_on",
    Provisioning = "provisioning",
    FirstBoot = "first_boot",
    Validate = "validate",
    PowerCycle = "power_cycle",
    Revalidate = "revalidate",
    Report = "report",
    Passed = "passed",
    Transient = "transient",
    Failed = "failed",
    Incomplete = "incomplete",
    Holding = "holding",
    Released = "released",
}
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

    pub fn parse(s: &str) -> Option<RunState> {
        RunState::from_name(s)
    }
}

crate::named_enum! {
/// Cold runs go through the whole lifecycle; quick runs skip provisioning and
/// can at best be transient.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
pub enum RunMode {
    #[default]
    Cold = "cold",
    Quick = "quick",
}
}

impl RunMode {}

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
