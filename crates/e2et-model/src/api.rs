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

/// `POST /api/v1/agent/enrol` — how an agent on a host's installed system
/// (not booted through this coordinator's netboot script, so without a run
/// token on its kernel command line) gets one for a quick run. The body is
/// signed with the host's enrolment key (a file on the host and, as
/// `agent-<host>`, in the coordinator's credentials directory):
/// [`ENROL_TIMESTAMP_HEADER`] carries the Unix time and
/// [`ENROL_SIGNATURE_HEADER`] `sha256=<hex>` of [`hmac_sha256_hex`] over
/// `<timestamp>.<body>`. One token is handed out per boot of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    /// The host's inventory name.
    pub host: String,
    /// `/proc/sys/kernel/random/boot_id` of the boot asking.
    pub boot_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrolResponse {
    pub run_id: String,
    /// The run token for this boot (the agent then says hello with it).
    pub token: String,
}

pub const ENROL_TIMESTAMP_HEADER: &str = "x-e2et-timestamp";
pub const ENROL_SIGNATURE_HEADER: &str = "x-e2et-signature-256";
/// How far the signed timestamp may be from the coordinator's clock.
pub const ENROL_MAX_SKEW_S: i64 = 300;

/// HMAC-SHA256 over `<timestamp>.<body>`, hex: the signature of enrolment
/// requests and of webhook notices (the receiver recomputes it with the
/// shared secret and refuses a stale timestamp).
pub fn hmac_sha256_hex(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
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
