//! Bodies of the agent and operator HTTP APIs.
use crate::facts::Facts;
use crate::report::{PowerStep, Verdict, Zone};
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

/// An enrolling agent's request carries this header (random, fresh per
/// request) beside [`ENROL_TIMESTAMP_HEADER`]; the coordinator's answer then
/// carries [`ANSWER_SIGNATURE_HEADER`]: `sha256=<hex>` of
/// [`answer_signature_hex`] with the host's enrolment key.
pub const NONCE_HEADER: &str = "x-e2et-nonce";
pub const ANSWER_SIGNATURE_HEADER: &str = "x-e2et-answer-signature-256";

/// HMAC-SHA256 of a coordinator's answer to an enrolling agent: over a
/// domain label, the request's timestamp and nonce, and the answer's body.
/// The label keeps a request's own signature from passing as an answer's;
/// the nonce ties the answer to one request (a replayed answer fails).
pub fn answer_signature_hex(secret: &[u8], timestamp: &str, nonce: &str, body: &[u8]) -> String {
    use hmac::Mac;
    hex::encode(
        answer_mac(secret, timestamp, nonce, body)
            .finalize()
            .into_bytes(),
    )
}

/// Whether `header` (`sha256=<hex>`) is the answer's signature, compared in
/// constant time.
pub fn answer_signature_ok(
    secret: &[u8],
    timestamp: &str,
    nonce: &str,
    body: &[u8],
    header: &str,
) -> bool {
    use hmac::Mac;
    let Some(sig) = header
        .trim()
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    answer_mac(secret, timestamp, nonce, body)
        .verify_slice(&sig)
        .is_ok()
}

fn answer_mac(
    secret: &[u8],
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> hmac::Hmac<sha2::Sha256> {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(b"e2et-answer\n");
    mac.update(timestamp.as_bytes());
    mac.update(b"\n");
    mac.update(nonce.as_bytes());
    mac.update(b"\n");
    mac.update(body);
    mac
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

/// A run's report in one of its renderings: the `--format` name, the file
/// the operator API serves it as, and its media type, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    Json,
    Md,
    Junit,
    Html,
}

impl ReportFormat {
    pub const ALL: [ReportFormat; 4] = [
        ReportFormat::Json,
        ReportFormat::Md,
        ReportFormat::Junit,
        ReportFormat::Html,
    ];

    /// The name operators type (`e2et report <run> --format md`).
    pub fn name(self) -> &'static str {
        match self {
            ReportFormat::Json => "json",
            ReportFormat::Md => "md",
            ReportFormat::Junit => "junit",
            ReportFormat::Html => "html",
        }
    }

    /// `GET /api/v1/runs/<id>/<file>`.
    pub fn file_name(self) -> &'static str {
        match self {
            ReportFormat::Json => "report.json",
            ReportFormat::Md => "report.md",
            ReportFormat::Junit => "report.junit.xml",
            ReportFormat::Html => "report.html",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Json => "application/json",
            ReportFormat::Md => "text/markdown; charset=utf-8",
            ReportFormat::Junit => "application/xml",
            ReportFormat::Html => "text/html; charset=utf-8",
        }
    }

    pub fn from_name(s: &str) -> Option<ReportFormat> {
        Self::ALL.into_iter().find(|f| f.name() == s)
    }

    pub fn from_file_name(s: &str) -> Option<ReportFormat> {
        Self::ALL.into_iter().find(|f| f.file_name() == s)
    }
}

impl std::str::FromStr for ReportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ReportFormat::from_name(s).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|f| f.name()).collect();
            format!("no report format {s:?}; use one of {}", names.join(", "))
        })
    }
}

/// `POST /api/v1/runs/<id>/hold` and `/release`: why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    pub reason: String,
}

/// `GET /api/v1/hosts`: each inventory host, by name.
pub type HostsResponse = std::collections::BTreeMap<String, HostView>;

/// An inventory host with its last run and its last-known-good.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostView {
    pub mac: String,
    pub ip: String,
    pub fqdn: String,
    pub required_zone: Zone,
    pub last_known_good: Option<LastKnownGoodView>,
    pub last_run: Option<LastRunView>,
}

/// The configuration a host last passed a cold run with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastKnownGoodView {
    pub run: String,
    pub revision: String,
    pub promoted_at: String,
}

/// A host's newest run, briefly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastRunView {
    pub id: String,
    pub state: RunState,
    pub verdict: Option<String>,
    pub score: Option<f64>,
    pub zone: Option<String>,
    pub note: String,
}

/// What a notification target receives (the webhook's JSON body; ntfy and
/// SMTP take its title, message and link): one per event, the same for
/// every target.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Notice {
    /// Version of this JSON body (webhook).
    pub version: u32,
    pub kind: NoticeKind,
    /// Unique per notice (the event id, or the PDU step's): receivers
    /// deduplicate retries with it.
    pub id: String,
    pub title: String,
    pub message: String,
    pub host: Option<String>,
    pub run: Option<RunEvent>,
    pub pdu_step: Option<PowerStep>,
    /// Why the run did not pass (from its report).
    pub reasons: Vec<String>,
    /// The report, or the dashboard.
    pub link: String,
}

crate::named_enum! {
/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum NoticeKind {
    /// A run ended failed or incomplete.
    RunFailed = "run_failed",
    /// A run ended transient (quick run, or drift): not a pass.
    RunTransient = "run_transient",
    RunPassed = "run_passed",
    /// An operator (or a restart without proof) put a run on hold.
    RunHeld = "run_held",
    /// A PDU command did not read back the state it asked for.
    PduError = "pdu_error",
}
}

impl NoticeKind {
    /// The kind a run event is, if it is one people are told about.
    pub fn of(e: &RunEvent) -> Option<NoticeKind> {
        match e.state {
            RunState::Failed | RunState::Incomplete => Some(NoticeKind::RunFailed),
            RunState::Transient => Some(NoticeKind::RunTransient),
            RunState::Passed => Some(NoticeKind::RunPassed),
            RunState::Holding => Some(NoticeKind::RunHeld),
            _ => None,
        }
    }
}

#[cfg(test)]
mod wire_tests {
    use super::*;

    #[test]
    fn each_report_format_maps_both_ways() {
        for f in ReportFormat::ALL {
            assert_eq!(ReportFormat::from_name(f.name()), Some(f));
            assert_eq!(ReportFormat::from_file_name(f.file_name()), Some(f));
            assert_eq!(f.name().parse::<ReportFormat>(), Ok(f));
            // The serde name is the --format name.
            assert_eq!(serde_json::to_value(f).unwrap(), f.name());
        }
        assert!("pdf"
            .parse::<ReportFormat>()
            .unwrap_err()
            .contains("json, md, junit, html"));
        assert_eq!(ReportFormat::from_file_name("console.log"), None);
    }

    #[test]
    fn the_hosts_answer_keeps_its_json_names() {
        let h = HostView {
            mac: "m".into(),
            ip: "i".into(),
            fqdn: "f".into(),
            required_zone: Zone::P90,
            last_known_good: Some(LastKnownGoodView {
                run: "r".into(),
                revision: "v".into(),
                promoted_at: "t".into(),
            }),
            last_run: None,
        };
        let v = serde_json::to_value(&h).unwrap();
        assert_eq!(v["requiredZone"], "p90");
        assert_eq!(v["lastKnownGood"]["promotedAt"], "t");
        assert!(v["lastRun"].is_null());
    }

    #[test]
    fn notice_kinds_name_themselves_as_serde_does() {
        use NoticeKind::*;
        for k in [RunFailed, RunTransient, RunPassed, RunHeld, PduError] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_signature_binds_key_timestamp_nonce_and_body() {
        let (k, ts, n, b) = (
            b"key".as_slice(),
            "1700000000",
            "n0nce",
            b"{\"x\":1}".as_slice(),
        );
        let good = format!("sha256={}", answer_signature_hex(k, ts, n, b));
        assert!(answer_signature_ok(k, ts, n, b, &good));
        assert!(!answer_signature_ok(b"other", ts, n, b, &good), "key");
        assert!(
            !answer_signature_ok(k, "1700000001", n, b, &good),
            "timestamp"
        );
        assert!(
            !answer_signature_ok(k, ts, "other", b, &good),
            "nonce (a replay)"
        );
        assert!(!answer_signature_ok(k, ts, n, b"{\"x\":2}", &good), "body");
        assert!(!answer_signature_ok(k, ts, n, b, ""), "unsigned");
        assert!(!answer_signature_ok(k, ts, n, b, "sha256=zz"), "not hex");
        // A request's own signature over the same bytes is not an answer's.
        let req = format!("sha256={}", hmac_sha256_hex(k, ts, b));
        assert!(!answer_signature_ok(k, ts, n, b, &req));
    }
}
