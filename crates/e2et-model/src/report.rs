//! Scores, zones, verdicts and the conformance report.
use crate::check::{Check, Gate};
use crate::run::RunMode;
use serde::{Deserialize, Serialize};

crate::named_enum! {
/// Score zones. Below 60 a host is unusable; p60 minimally usable; p80 lab host;
/// p90 release candidate; p95 GA; p99 production-critical.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub enum Zone {
    Unusable = "unusable",
    P60 = "p60",
    P80 = "p80",
    P90 = "p90",
    P95 = "p95",
    P99 = "p99",
}
}

impl Zone {
    /// The lowest score (0–100) inside the zone.
    pub fn threshold(self) -> f64 {
        match self {
            Zone::Unusable => 0.0,
            Zone::P60 => 60.0,
            Zone::P80 => 80.0,
            Zone::P90 => 90.0,
            Zone::P95 => 95.0,
            Zone::P99 => 99.0,
        }
    }

    pub fn from_score(score: f64) -> Zone {
        [Zone::P99, Zone::P95, Zone::P90, Zone::P80, Zone::P60]
            .into_iter()
            .find(|z| score >= z.threshold())
            .unwrap_or(Zone::Unusable)
    }
}

crate::named_enum! {
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Verdict {
    Passed = "passed",
    Transient = "transient",
    Failed = "failed",
    Incomplete = "incomplete",
}
}

impl Verdict {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GateResult {
    pub gate: Gate,
    pub applicable_weight: u32,
    pub passed_weight: u32,
    /// passed / applicable × 100; `None` when nothing in the gate applied.
    pub score: Option<f64>,
}

/// One validation: the checks of one boot's facts against the spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Validation {
    /// 1 for the first boot, 2 after the power cycle.
    pub boot_seq: u32,
    pub boot_id: String,
    pub score: f64,
    pub zone: Zone,
    pub gates: Vec<GateResult>,
    pub checks: Vec<Check>,
}

/// How many times each lifecycle action happened in the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LifecycleCounts {
    pub provisionings: u32,
    pub power_cycles: u32,
    pub boots: u32,
    pub validations: u32,
}

/// One PDU action with the state read back afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PowerStep {
    pub at: String,
    pub pdu: String,
    pub outlet: u32,
    pub action: PowerAction,
    /// The state read back from the device after the action, or `None` when
    /// nothing could be read.
    pub observed: Option<PowerState>,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Transition {
    pub seq: u32,
    pub from: String,
    pub to: String,
    pub at: String,
    pub note: String,
}

crate::named_enum! {
    /// What a power step did to an outlet.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
    pub enum PowerAction {
        /// The host was asked to shut down cleanly (its agent, its BMC);
        /// the outlet's state was read.
        SoftOff = "soft_off",
        Off = "off",
        On = "on",
        /// The outlet's state was only read.
        Status = "status",
    }
}

/// Fields that change from run to run, kept apart so two reports diff cleanly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunInfo {
    pub id: String,
    pub started_at: String,
    pub finished_at: String,
    pub transitions: Vec<Transition>,
    pub power_steps: Vec<PowerStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Report {
    pub version: u32,
    pub host: String,
    pub mode: RunMode,
    pub verdict: Verdict,
    /// Why the verdict is what it is, one line each, most important first.
    pub reasons: Vec<String>,
    /// The lower of the validations' scores.
    pub score: f64,
    pub zone: Zone,
    pub required_zone: Zone,
    pub lifecycle: LifecycleCounts,
    pub validations: Vec<Validation>,
    /// Checks about the run as a whole: boot path, power cycle, reboot proof,
    /// persistence across the cycle.
    pub run_checks: Vec<Check>,
    pub run: RunInfo,
}

crate::named_enum! {
    /// An outlet's state as read back from the device.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
    pub enum PowerState {
        On = "on",
        Off = "off",
    }
}

impl PowerAction {
    /// The state an outlet must read back after this action, for the actions
    /// that switch it.
    pub fn target(self) -> Option<PowerState> {
        match self {
            PowerAction::On => Some(PowerState::On),
            PowerAction::Off => Some(PowerState::Off),
            PowerAction::SoftOff | PowerAction::Status => None,
        }
    }
}
