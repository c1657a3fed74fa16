//! QEMU over QMP as a power controller: outlet `n` of a QMP "PDU" is the VM whose
//! QMP socket is `<dir>/outlet-<n>.qmp`. Off = the VM stopped (a power cut: the
//! guest no longer runs); on = a reset and `cont` (a cold start from firmware);
//! soft off = the ACPI power button. QEMU must run with `-no-shutdown` so that a
//! guest power-off reads back as off rather than ending the process.
use crate::{PduError, PowerDriver, PowerState};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

pub struct QmpDriver {
    name: String,
    dir: PathBuf,
    /// One VM's socket for every outlet (a hypervisor as a host's BMC).
    fixed: Option<PathBuf>,
    timeout: Duration,
}

impl QmpDriver {
    pub fn new(name: impl Into<String>, dir: impl Into<PathBuf>) -> QmpDriver {
        QmpDriver {
            name: name.into(),
            dir: dir.into(),
            fixed: None,
            timeout: Duration::from_secs(10),
        }
    }

    /// One VM at `socket`: every outlet number names it.
    pub fn at_socket(name: impl Into<String>, socket: impl Into<PathBuf>) -> QmpDriver {
        let socket = socket.into();
        QmpDriver {
            name: name.into(),
            dir: socket.parent().map(PathBuf::from).unwrap_or_default(),
            fixed: Some(socket),
            timeout: Duration::from_secs(10),
        }
    }

    pub fn socket(&self, outlet: u32) -> PathBuf {
        match &self.fixed {
            Some(p) => p.clone(),
            None => self.dir.join(format!("outlet-{outlet}.qmp")),
        }
    }

    /// Runs QMP commands in one session; returns each command's `return` value.
    pub async fn execute(&self, outlet: u32, cmds: &[Value]) -> Result<Vec<Value>, PduError> {
        let target = format!(
            "{} outlet {outlet} ({})",
            self.name,
            self.socket(outlet).display()
        );
        tokio::time::timeout(self.timeout, self.session(outlet, &target, cmds))
            .await
            .map_err(|_| PduError::Timeout(self.timeout))?
    }

    async fn session(
        &self,
        outlet: u32,
        target: &str,
        cmds: &[Value],
    ) -> Result<Vec<Value>, PduError> {
        let stream = UnixStream::connect(self.socket(outlet))
            .await
            .map_err(|source| PduError::Connect {
                target: target.to_string(),
                source,
            })?;
        let (r, mut w) = stream.into_split();
        let mut lines = BufReader::new(r).lines();
        let proto = |message: String| PduError::Protocol {
            target: target.to_string(),
            message,
        };
        let greeting = next_message(&mut lines)
            .await
            .map_err(&proto)?
            .ok_or_else(|| proto("closed before the greeting".into()))?;
        if greeting.get("QMP").is_none() {
            return Err(proto(format!("unexpected greeting {greeting}")));
        }
        let mut out = Vec::new();
        let all =
            std::iter::once(json!({"execute": "qmp_capabilities"})).chain(cmds.iter().cloned());
        for (i, cmd) in all.enumerate() {
            let mut line = cmd.to_string();
            line.push('\n');
            w.write_all(line.as_bytes())
                .await
                .map_err(|e| proto(format!("write: {e}")))?;
            loop {
                let msg = next_message(&mut lines)
                    .await
                    .map_err(&proto)?
                    .ok_or_else(|| proto(format!("closed while waiting for {cmd}")))?;
                if msg.get("event").is_some() {
                    continue;
                }
                if let Some(ret) = msg.get("return") {
                    if i > 0 {
                        out.push(ret.clone());
                    }
                    break;
                }
                if let Some(err) = msg.get("error") {
                    return Err(PduError::Device {
                        target: target.to_string(),
                        command: cmd["execute"].as_str().unwrap_or("?").to_string(),
                        message: err["desc"].as_str().unwrap_or("unknown").to_string(),
                    });
                }
                return Err(proto(format!("unexpected message {msg}")));
            }
        }
        Ok(out)
    }
}

async fn next_message<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut tokio::io::Lines<R>,
) -> Result<Option<Value>, String> {
    match lines.next_line().await {
        Ok(Some(l)) => serde_json::from_str(&l)
            .map(Some)
            .map_err(|e| format!("bad JSON {l:?}: {e}")),
        Ok(None) => Ok(None),
        Err(e) => Err(format!("read: {e}")),
    }
}

/// Maps `query-status` to a power state: only a running guest is on.
pub fn state_of(status: &Value) -> Result<PowerState, String> {
    match (status["running"].as_bool(), status["status"].as_str()) {
        (Some(true), _) => Ok(PowerState::On),
        (Some(false), Some(_)) => Ok(PowerState::Off),
        _ => Err(format!("query-status returned {status}")),
    }
}

#[async_trait]
impl PowerDriver for QmpDriver {
    fn name(&self) -> &str {
        &self.name
    }

    async fn status(&self, outlet: u32) -> Result<PowerState, PduError> {
        let r = self
            .execute(outlet, &[json!({"execute": "query-status"})])
            .await?;
        state_of(&r[0]).map_err(|message| PduError::Protocol {
            target: self.name.clone(),
            message,
        })
    }

    async fn on(&self, outlet: u32) -> Result<(), PduError> {
        if self.status(outlet).await? == PowerState::On {
            return Ok(());
        }
        self.execute(
            outlet,
            &[
                json!({"execute": "system_reset"}),
                json!({"execute": "cont"}),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn off(&self, outlet: u32) -> Result<(), PduError> {
        self.execute(outlet, &[json!({"execute": "stop"})])
            .await
            .map(|_| ())
    }

    async fn soft_off(&self, outlet: u32) -> Result<(), PduError> {
        self.execute(outlet, &[json!({"execute": "system_powerdown"})])
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_running_is_on() {
        assert_eq!(
            state_of(&json!({"running": true, "status": "running"})),
            Ok(PowerState::On)
        );
        for s in ["paused", "prelaunch", "shutdown", "guest-panicked"] {
            assert_eq!(
                state_of(&json!({"running": false, "status": s})),
                Ok(PowerState::Off)
            );
        }
        assert!(state_of(&json!({})).is_err());
    }

    /// A QMP peer speaking the real framing (greeting, capabilities, events in
    /// between) on a Unix socket.
    #[tokio::test]
    async fn talks_qmp_over_a_socket() {
        let d = tempfile::tempdir().unwrap();
        let drv = QmpDriver::new("t", d.path());
        let listener = tokio::net::UnixListener::bind(drv.socket(1)).unwrap();
        let server = tokio::spawn(async move {
            for running in [false, true] {
                let (s, _) = listener.accept().await.unwrap();
                let (r, mut w) = s.into_split();
                let mut lines = BufReader::new(r).lines();
                w.write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n")
                    .await
                    .unwrap();
                while let Some(l) = lines.next_line().await.unwrap() {
                    let v: Value = serde_json::from_str(&l).unwrap();
                    let reply = match v["execute"].as_str().unwrap() {
                        "query-status" => {
                            json!({"return": {"running": running, "status": if running {"running"} else {"paused"}}})
                        }
                        _ => json!({"return": {}}),
                    };
                    w.write_all(b"{\"event\": \"RESUME\", \"timestamp\": {}}\n")
                        .await
                        .unwrap();
                    w.write_all(format!("{reply}\n").as_bytes()).await.unwrap();
                }
            }
        });
        assert_eq!(drv.status(1).await.unwrap(), PowerState::Off);
        assert_eq!(drv.status(1).await.unwrap(), PowerState::On);
        server.await.unwrap();
        let e = drv.status(2).await.unwrap_err();
        assert!(e.to_string().contains("outlet-2.qmp"), "{e}");
    }
}
