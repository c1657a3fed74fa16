//! Checks: one expectation compared with one observation, with evidence.
use serde::{Deserialize, Serialize};

crate::named_enum! {
/// The gate a check belongs to (DESIGN.md, "Checks, scoring, verdict").
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
pub enum Gate {
    Inventory = "inventory",
    Provisioning = "provisioning",
    FirstBoot = "first_boot",
    Platform = "platform",
    Network = "network",
    Storage = "storage",
    Identity = "identity",
    Service = "service",
    Performance = "performance",
}
}

impl Gate {
    pub const ALL: [Gate; 9] = [
        Gate::Inventory,
        Gate::Provisioning,
        Gate::FirstBoot,
        Gate::Platform,
        Gate::Network,
        Gate::Storage,
        Gate::Identity,
        Gate::Service,
        Gate::Performance,
    ];
}

/// Hard checks fail the run on their own; weighted ones only move the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Hard,
    Weighted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Outcome {
    Pass,
    Fail,
    /// The check does not apply to this host (no ZFS root, no service
    /// manager, the spec does not ask). It neither passes nor fails.
    NotApplicable {
        reason: String,
    },
    /// The check should have run and did not: a required one makes the
    /// verdict incomplete.
    NotRun {
        reason: String,
    },
    Error {
        message: String,
    },
    Waived {
        reason: String,
        expiry: String,
    },
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::NotApplicable { .. } => "not_applicable",
            Outcome::NotRun { .. } => "not_run",
            Outcome::Error { .. } => "error",
            Outcome::Waived { .. } => "waived",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Check {
    /// Stable id, `gate.area.name`, e.g. `platform.memory.min`.
    pub id: String,
    pub title: String,
    pub gate: Gate,
    pub severity: Severity,
    pub weight: u32,
    /// A required check that did not run makes the verdict incomplete.
    pub required: bool,
    pub outcome: Outcome,
    pub expected: Option<String>,
    pub observed: Option<String>,
    /// What a person reads to believe the outcome.
    pub evidence: String,
}

impl Check {
    pub fn passed(&self) -> bool {
        matches!(self.outcome, Outcome::Pass | Outcome::Waived { .. })
    }

    /// Failed or errored: the check ran and the host did not meet it.
    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Fail | Outcome::Error { .. })
    }

    pub fn hard_failed(&self) -> bool {
        self.severity == Severity::Hard && self.failed()
    }
}
