//! Bodies of the agent and operator HTTP APIs.
use crate::facts::Facts;
use crate::report::{Verdict, Zone};
use crate::run::{RunMode, RunState};
use serde::{Deserialize, Serialize};

/// `POST /api/v1/agent/hello`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelloRequest {
    pub run_id: String,
    pub boot_id: String,
    pub hostname: String,
    pub macs: Vec<String>,
    pub cmdline: String,
    pub probe_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HelloResponse {
    /// 1 for the first boot of the run, 2 for the boot after the power cycle.
    pub boot_seq: u32,
    /// What to collect beyond the always-collected facts: the primary
    /// identity, users, services, smoke checks, persistent paths, performance.
    pub probe: crate::expect::ProbeSpec,
}

/// `POST /api/v1/agent/facts`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactsRequest {
    pub run_id: String,
    pub boot_id: String,
    pub facts: Facts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactsResponse {
    pub accepted: bool,
    pub boot_seq: u32,
}

/// `POST /api/v1/agent/heartbeat`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatRequest {
    pub run_id: String,
    pub boot_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentCommand {
    /// Keep heartbeating.
    Continue,
    /// Shut the host down cleanly (soft off before the PDU cuts power).
    Poweroff,
    Reboot,
    /// Stop the agent; the run no longer needs it.
    Abort,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    pub command: AgentCommand,
}

/// `POST /api/v1/runs`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRunRequest {
    pub host: String,
    #[serde(default)]
    pub mode: RunMode,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunView {
    pub id: String,
    pub host: String,
    pub mode: RunMode,
    pub state: RunState,
    pub verdict: Option<Verdict>,
    pub score: Option<f64>,
    pub zone: Option<Zone>,
    pub created_at: String,
    pub updated_at: String,
    /// Why the run is where it is (last transition's note).
    pub note: String,
    pub transitions: Vec<crate::report::Transition>,
}

/// Every API error: a stable machine code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: String,
    pub error: String,
    pub message: String,
}

/// One change of a run, as `GET /api/v1/events` streams it (server-sent
/// events, `event: run`) and notifications carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEvent {
    /// `<coordinator start>-<n>`: the SSE id a client resumes from.
    pub id: String,
    pub run: String,
    pub host: String,
    pub mode: RunMode,
    /// The state the run entered.
    pub state: RunState,
    /// The state it left (`None` when the run was created).
    pub from: Option<RunState>,
    pub verdict: Option<Verdict>,
    pub score: Option<f64>,
    pub zone: Option<Zone>,
    pub at: String,
    /// The transition's reason (why a run is held, what failed).
    pub note: String,
}
