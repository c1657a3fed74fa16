//! Agent mode: reads the coordinator URL, run id and token from the kernel
//! cmdline (a netbooted host), or enrols with the host's key for them (a
//! host's installed system in a quick run); says hello, posts facts and
//! follows heartbeat commands.
use crate::{collect, Root};
use e2et_model::api::*;
use e2et_model::expect::ProbeSpec;
use std::time::Duration;
use tracing::{info, warn};

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("kernel cmdline has no {0}= (is this host booted by an e2et run?)")]
    MissingParam(&'static str),
    #[error("cannot read the kernel cmdline: {0}")]
    Cmdline(std::io::Error),
    #[error("coordinator refused {what}: HTTP {status}: {body}")]
    Refused {
        what: &'static str,
        status: u16,
        body: String,
    },
    #[error("coordinator unreachable for {what} after {tries} tries: {last}")]
    Unreachable {
        what: &'static str,
        tries: u32,
        last: String,
    },
    /// An enrolling agent trusts only answers signed with the host's key.
    #[error("the coordinator's answer to {what} is {why}: refused, nothing was run (is this the coordinator that holds this host's enrolment key?)")]
    Unsigned {
        what: &'static str,
        why: &'static str,
    },
    #[error("http client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("{0}")]
    Local(String),
}

/// What the kernel cmdline says about this boot's run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootParams {
    pub coordinator: String,
    pub run_id: String,
    pub token: String,
}

impl BootParams {
    pub fn from_cmdline(cmdline: &str) -> Result<BootParams, AgentError> {
        let get = |k: &'static str| {
            cmdline
                .split_whitespace()
                .find_map(|w| w.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .ok_or(AgentError::MissingParam(k))
        };
        Ok(BootParams {
            coordinator: get("e2et.coordinator")?.trim_end_matches('/').to_string(),
            run_id: get("e2et.run")?,
            token: get("e2et.token")?,
        })
    }
}

/// Knobs of the agent loop.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub heartbeat: Duration,
    pub retry_for: Duration,
    pub poweroff_cmd: Vec<String>,
    pub reboot_cmd: Vec<String>,
    /// Set on a host's installed system (enrolment): what the host itself
    /// allows, whatever the coordinator asks.
    pub enrolled: Option<EnrolPolicy>,
}

/// The installed system's own limits on an enrolling agent. A coordinator
/// (or whoever answers in its place) cannot widen them: answers must be
/// signed with the host's enrolment key, a `command` smoke check runs only
/// when the host's allow-list names its argv, the disk test is capped, and
/// reboot or power-off commands are ignored (a quick run cycles the outlet).
#[derive(Debug, Clone)]
pub struct EnrolPolicy {
    pub key: String,
    /// argvs the host allows as `command` smoke checks, exactly.
    pub allowed_commands: Vec<Vec<String>>,
    /// Where the allow-list came from (named in a refused check).
    pub allow_source: String,
    pub max_disk_mib: u64,
    pub max_tcp_mib: u64,
}

impl EnrolPolicy {
    /// Reads an allow-list: one argv per line, words split on whitespace;
    /// blank lines and `#` comments are skipped.
    pub fn parse_allow_list(text: &str) -> Vec<Vec<String>> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .collect()
    }

    /// The spec this host will run, and the smoke checks it refuses (as
    /// failed results, never as silence: a refused check is not a pass).
    pub fn apply(&self, mut spec: ProbeSpec) -> (ProbeSpec, Vec<e2et_model::facts::SmokeResult>) {
        let mut refused = Vec::new();
        spec.smoke.retain(|c| match &c.command {
            Some(argv) if !self.allowed_commands.contains(argv) => {
                warn!(check = %c.name, ?argv, "command smoke check not in the host's allow-list: not run");
                refused.push(e2et_model::facts::SmokeResult {
                    name: c.name.clone(),
                    kind: "command".into(),
                    ok: false,
                    timed_out: false,
                    detail: format!(
                        "not run: the host's allow-list ({}) does not name {argv:?}",
                        self.allow_source
                    ),
                    elapsed_ms: 0.0,
                });
                false
            }
            _ => true,
        });
        if let Some(p) = spec.performance.as_mut() {
            if p.disk_mib > self.max_disk_mib {
                warn!(
                    asked = p.disk_mib,
                    cap = self.max_disk_mib,
                    "disk test capped by the host"
                );
                p.disk_mib = self.max_disk_mib;
            }
            if p.tcp_mib > self.max_tcp_mib {
                warn!(
                    asked = p.tcp_mib,
                    cap = self.max_tcp_mib,
                    "TCP test capped by the host"
                );
                p.tcp_mib = self.max_tcp_mib;
            }
        }
        (spec, refused)
    }
}

/// The headers an enrolling agent signs its trust on: the request's time and
/// a fresh nonce, which the coordinator's answer must be signed over.
struct Challenge {
    timestamp: String,
    nonce: String,
    sent: std::time::Instant,
}

impl Challenge {
    fn new() -> Challenge {
        use rand::RngCore;
        let mut raw = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut raw);
        Challenge {
            timestamp: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default()
                .to_string(),
            nonce: hex::encode(raw),
            sent: std::time::Instant::now(),
        }
    }

    fn add(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        rb.header(ENROL_TIMESTAMP_HEADER, &self.timestamp)
            .header(NONCE_HEADER, &self.nonce)
    }

    /// The answer's body, if it is signed over this challenge with `key` and
    /// came back in time.
    async fn verify(
        &self,
        what: &'static str,
        key: &str,
        r: reqwest::Response,
    ) -> Result<Vec<u8>, AgentError> {
        let sig = r
            .headers()
            .get(ANSWER_SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = r.bytes().await?;
        let Some(sig) = sig else {
            return Err(AgentError::Unsigned {
                what,
                why: "not signed",
            });
        };
        if !answer_signature_ok(key.as_bytes(), &self.timestamp, &self.nonce, &body, &sig) {
            return Err(AgentError::Unsigned {
                what,
                why: "signed with another key or over another request",
            });
        }
        if self.sent.elapsed() > Duration::from_secs(ENROL_MAX_SKEW_S.unsigned_abs()) {
            return Err(AgentError::Unsigned {
                what,
                why: "stale (it came back later than the signature window)",
            });
        }
        Ok(body.to_vec())
    }
}

fn decode<R: serde::de::DeserializeOwned>(
    what: &'static str,
    body: &[u8],
) -> Result<R, AgentError> {
    serde_json::from_slice(body).map_err(|e| {
        AgentError::Local(format!(
            "the answer to {what} is not what this agent reads: {e}"
        ))
    })
}

pub struct Agent {
    root: Root,
    params: BootParams,
    cfg: AgentConfig,
    http: reqwest::Client,
}

fn client() -> Result<reqwest::Client, AgentError> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(5))
        .build()?)
}

/// Enrols this boot of the host's installed system with the coordinator:
/// the request is signed with the host's enrolment key. `Ok(None)` when no
/// quick run waits for the host (an ordinary boot: nothing to do); a run
/// still cycling is waited for, within `retry_for`.
pub async fn enrol(
    root: &Root,
    coordinator: &str,
    host: &str,
    key: &str,
    retry_for: Duration,
) -> Result<Option<BootParams>, AgentError> {
    let coordinator = coordinator.trim_end_matches('/').to_string();
    let boot_id = root
        .line("/proc/sys/kernel/random/boot_id")
        .unwrap_or_default();
    if boot_id.is_empty() {
        return Err(AgentError::Local(
            "cannot read /proc/sys/kernel/random/boot_id".into(),
        ));
    }
    let body = serde_json::to_vec(&EnrolRequest {
        host: host.to_string(),
        boot_id,
    })
    .map_err(|e| AgentError::Local(e.to_string()))?;
    let http = client()?;
    let url = format!("{coordinator}/api/v1/agent/enrol");
    let deadline = std::time::Instant::now() + retry_for;
    let mut tries = 0;
    loop {
        tries += 1;
        // Signed afresh each try: the timestamp must be current.
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
            .to_string();
        let sig = hmac_sha256_hex(key.as_bytes(), &ts, &body);
        let challenge = Challenge {
            timestamp: ts,
            ..Challenge::new()
        };
        let res = challenge
            .add(http.post(&url))
            .header(ENROL_SIGNATURE_HEADER, format!("sha256={sig}"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await;
        let last = match res {
            Ok(r) if r.status().is_success() => {
                let body = challenge.verify("enrolment", key, r).await?;
                let en: EnrolResponse = decode("enrolment", &body)?;
                info!(run = %en.run_id, "enrolled");
                return Ok(Some(BootParams {
                    coordinator,
                    run_id: en.run_id,
                    token: en.token,
                }));
            }
            Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => {
                let body = r.text().await.unwrap_or_default();
                if body.contains("\"no_run\"") {
                    info!(host, "no quick run waits for this host");
                    return Ok(None);
                }
                return Err(AgentError::Refused {
                    what: "enrolment",
                    status: 404,
                    body,
                });
            }
            Ok(r) if r.status().is_client_error() => {
                let status = r.status().as_u16();
                let body = r.text().await.unwrap_or_default();
                return Err(AgentError::Refused {
                    what: "enrolment",
                    status,
                    body,
                });
            }
            Ok(r) => format!("HTTP {}", r.status()),
            Err(e) => e.to_string(),
        };
        if std::time::Instant::now() >= deadline {
            return Err(AgentError::Unreachable {
                what: "enrolment",
                tries,
                last,
            });
        }
        warn!(tries, error = %last, "enrolment: retrying");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

impl Agent {
    /// The agent of a netbooted host: its run and token are on the cmdline.
    pub fn new(root: Root, cfg: AgentConfig) -> Result<Agent, AgentError> {
        let cmdline = root.read("/proc/cmdline").map_err(AgentError::Cmdline)?;
        let params = BootParams::from_cmdline(&cmdline)?;
        Agent::with_params(root, params, cfg)
    }

    /// The agent of a run whose token came another way (enrolment).
    pub fn with_params(
        root: Root,
        params: BootParams,
        cfg: AgentConfig,
    ) -> Result<Agent, AgentError> {
        Ok(Agent {
            root,
            params,
            cfg,
            http: client()?,
        })
    }

    /// POSTs JSON with retries on transport errors and 5xx; 4xx is final.
    async fn post<B: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        what: &'static str,
        path: &str,
        body: &B,
    ) -> Result<R, AgentError> {
        let url = format!("{}{}", self.params.coordinator, path);
        let deadline = std::time::Instant::now() + self.cfg.retry_for;
        let mut tries = 0;
        let mut wait = Duration::from_millis(250);
        loop {
            tries += 1;
            let challenge = Challenge::new();
            let mut rb = self
                .http
                .post(&url)
                .bearer_auth(&self.params.token)
                .json(body);
            if self.cfg.enrolled.is_some() {
                rb = challenge.add(rb);
            }
            let res = rb.send().await;
            let last = match res {
                Ok(r) if r.status().is_success() => {
                    return match &self.cfg.enrolled {
                        Some(p) => decode(what, &challenge.verify(what, &p.key, r).await?),
                        None => Ok(r.json().await?),
                    };
                }
                Ok(r) if r.status().is_client_error() => {
                    let status = r.status().as_u16();
                    let body = r.text().await.unwrap_or_default();
                    return Err(AgentError::Refused { what, status, body });
                }
                Ok(r) => format!("HTTP {}", r.status()),
                Err(e) => e.to_string(),
            };
            if std::time::Instant::now() >= deadline {
                return Err(AgentError::Unreachable { what, tries, last });
            }
            warn!(what, tries, error = %last, "retrying");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
        }
    }

    pub async fn run(&self) -> Result<AgentCommand, AgentError> {
        let line = |p: &str| self.root.line(p).unwrap_or_default();
        let boot_id = line("/proc/sys/kernel/random/boot_id");
        if boot_id.is_empty() {
            return Err(AgentError::Local(
                "cannot read /proc/sys/kernel/random/boot_id".into(),
            ));
        }
        let macs = self
            .root
            .list("/sys/class/net")
            .into_iter()
            .filter(|n| n != "lo")
            .filter_map(|n| self.root.line(&format!("/sys/class/net/{n}/address")))
            .collect();
        let hello: HelloResponse = self
            .post(
                "hello",
                "/api/v1/agent/hello",
                &HelloRequest {
                    run_id: self.params.run_id.clone(),
                    boot_id: boot_id.clone(),
                    hostname: line("/proc/sys/kernel/hostname"),
                    macs,
                    cmdline: crate::first_boot::redact_cmdline(&line("/proc/cmdline")),
                    probe_version: env!("CARGO_PKG_VERSION").to_string(),
                },
            )
            .await?;
        info!(run = %self.params.run_id, boot_seq = hello.boot_seq, "hello accepted");
        // Collection blocks (threads, commands, lookups): off the runtime.
        let root = self.root.clone_handle();
        let token = self.params.token.clone();
        let (spec, refused) = match &self.cfg.enrolled {
            Some(p) => p.apply(hello.probe.clone()),
            None => (hello.probe.clone(), vec![]),
        };
        let collecting = tokio::task::spawn_blocking(move || {
            let mut f = collect::collect(&root, &spec, Some(&token));
            f.service.smoke.extend(refused);
            f
        });
        // Heartbeats go on while collecting (a performance gate can take
        // minutes): the coordinator tells a busy host from a hung one by them.
        let beats = async {
            let hb = HeartbeatRequest {
                run_id: self.params.run_id.clone(),
                boot_id: boot_id.clone(),
            };
            let url = format!("{}/api/v1/agent/heartbeat", self.params.coordinator);
            loop {
                tokio::time::sleep(self.cfg.heartbeat).await;
                let r = self
                    .http
                    .post(&url)
                    .bearer_auth(&self.params.token)
                    .json(&hb)
                    .send()
                    .await;
                if let Err(e) = r.and_then(|r| r.error_for_status()) {
                    warn!(error = %e, "heartbeat while collecting failed");
                }
            }
        };
        let facts = tokio::select! {
            r = collecting => r.map_err(|e| AgentError::Local(format!("the collection failed: {e}")))?,
            never = beats => never,
        };
        let r: FactsResponse = self
            .post(
                "facts",
                "/api/v1/agent/facts",
                &FactsRequest {
                    run_id: self.params.run_id.clone(),
                    boot_id: boot_id.clone(),
                    facts,
                },
            )
            .await?;
        info!(accepted = r.accepted, boot_seq = r.boot_seq, "facts posted");
        loop {
            let hb: HeartbeatResponse = self
                .post(
                    "heartbeat",
                    "/api/v1/agent/heartbeat",
                    &HeartbeatRequest {
                        run_id: self.params.run_id.clone(),
                        boot_id: boot_id.clone(),
                    },
                )
                .await?;
            match hb.command {
                AgentCommand::Continue => tokio::time::sleep(self.cfg.heartbeat).await,
                c @ (AgentCommand::Poweroff | AgentCommand::Reboot)
                    if self.cfg.enrolled.is_some() =>
                {
                    warn!(command = ?c, "ignored: an enrolled agent never reboots or powers off its installed system (the run switches the outlet)");
                    tokio::time::sleep(self.cfg.heartbeat).await
                }
                AgentCommand::Poweroff => {
                    info!("coordinator asks for power-off");
                    run_cmd(&self.cfg.poweroff_cmd).await;
                    return Ok(AgentCommand::Poweroff);
                }
                AgentCommand::Reboot => {
                    info!("coordinator asks for reboot");
                    run_cmd(&self.cfg.reboot_cmd).await;
                    return Ok(AgentCommand::Reboot);
                }
                AgentCommand::Abort => {
                    info!("coordinator says the run needs this agent no more");
                    return Ok(AgentCommand::Abort);
                }
            }
        }
    }
}

async fn run_cmd(cmd: &[String]) {
    let Some((prog, args)) = cmd.split_first() else {
        return;
    };
    match tokio::process::Command::new(prog).args(args).status().await {
        Ok(s) => info!(%s, prog, "command ran"),
        Err(e) => warn!(prog, error = %e, "command failed to start"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_boot_params() {
        let p = BootParams::from_cmdline(
            "console=ttyS0 e2et.coordinator=http://10.99.0.1:8080/ e2et.run=r-1 e2et.token=abc quiet",
        )
        .unwrap();
        assert_eq!(p.coordinator, "http://10.99.0.1:8080");
        assert_eq!(p.run_id, "r-1");
        assert_eq!(p.token, "abc");
    }

    #[test]
    fn missing_param_is_named() {
        let e = BootParams::from_cmdline("e2et.coordinator=http://x e2et.token=").unwrap_err();
        assert_eq!(
            e.to_string(),
            "kernel cmdline has no e2et.run= (is this host booted by an e2et run?)"
        );
    }

    #[test]
    fn an_enrolled_host_runs_only_the_commands_it_allows_and_caps_its_tests() {
        let list = EnrolPolicy::parse_allow_list(
            "# checks this host allows\n\nsystemctl is-active  sshd\n/usr/bin/true\n",
        );
        assert_eq!(
            list,
            vec![
                vec!["systemctl".to_string(), "is-active".into(), "sshd".into()],
                vec!["/usr/bin/true".to_string()]
            ]
        );
        let policy = EnrolPolicy {
            key: "k".into(),
            allowed_commands: list,
            allow_source: "/etc/e2et/allow".into(),
            max_disk_mib: 64,
            max_tcp_mib: 32,
        };
        let check = |name: &str, argv: Option<&[&str]>| e2et_model::expect::SmokeCheck {
            name: name.into(),
            command: argv.map(|a| a.iter().map(|s| s.to_string()).collect()),
            tcp: argv.is_none().then(|| "127.0.0.1:22".into()),
            http: None,
            timeout_s: 5,
            hard: true,
        };
        let spec = ProbeSpec {
            smoke: vec![
                check("sshd", Some(&["systemctl", "is-active", "sshd"])),
                check("wipe", Some(&["sh", "-c", "rm -rf /"])),
                check(
                    "sshd-longer",
                    Some(&["systemctl", "is-active", "sshd", "x"]),
                ),
                check("port", None),
            ],
            performance: Some(e2et_model::expect::PerformanceRun {
                duration_ms: 500,
                disk_dir: "/var/tmp".into(),
                disk_mib: 4096,
                tcp_url: None,
                tcp_mib: 16,
            }),
            ..ProbeSpec::default()
        };
        let (run, refused) = policy.apply(spec);
        let names: Vec<_> = run.smoke.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["sshd", "port"],
            "the allowed command and the TCP check"
        );
        let refused: Vec<_> = refused.iter().map(|r| (r.name.as_str(), r.ok)).collect();
        assert_eq!(refused, [("wipe", false), ("sshd-longer", false)]);
        let p = run.performance.unwrap();
        assert_eq!((p.disk_mib, p.tcp_mib), (64, 16), "capped, never raised");
    }
}
