//! Agent mode: reads the coordinator URL, run id and token from the kernel
//! cmdline (a netbooted host), or enrols with the host's key for them (a
//! host's installed system in a quick run); says hello, posts facts and
//! follows heartbeat commands.
use crate::{collect, Root};
use e2et_model::api::*;
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
        let res = http
            .post(&url)
            .header(ENROL_TIMESTAMP_HEADER, &ts)
            .header(ENROL_SIGNATURE_HEADER, format!("sha256={sig}"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await;
        let last = match res {
            Ok(r) if r.status().is_success() => {
                let en: EnrolResponse = r.json().await?;
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
            let res = self
                .http
                .post(&url)
                .bearer_auth(&self.params.token)
                .json(body)
                .send()
                .await;
            let last = match res {
                Ok(r) if r.status().is_success() => return Ok(r.json().await?),
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
        let spec = hello.probe.clone();
        let collecting =
            tokio::task::spawn_blocking(move || collect::collect(&root, &spec, Some(&token)));
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
}
