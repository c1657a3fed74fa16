//! SSH seen from the network: e2etd connects to the host's management
//! address, completes the SSH key exchange (the server's signature over the
//! exchange hash verified by russh before the key is shown to us), and
//! compares the host key it was offered with the public keys the probe
//! reported from inside. No user name, no password, no login: the session
//! ends right after the key exchange.
use e2et_model::check::{Check, Gate, Outcome};
use e2et_model::facts::Facts;
use e2et_model::inventory::HostSpec;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// How long the whole attempt may take by default (connect retries
/// included): sshd may still be starting when the facts arrive. e2etd's
/// `--ssh-timeout-s`.
pub const BOUND: Duration = Duration::from_secs(15);

struct KeyOnly {
    offered: Option<oneshot::Sender<String>>,
}

impl russh::client::Handler for KeyOnly {
    type Error = russh::Error;

    /// Called once the key exchange is done and the server's signature
    /// verified. The key is passed on and the session refused here: nothing
    /// past the key exchange is ever sent.
    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let text = match key {
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => key.to_openssh(),
            russh::keys::PublicKeyOrCertificate::Certificate(c) => c.to_openssh(),
        }
        .unwrap_or_default();
        if let Some(tx) = self.offered.take() {
            let _ = tx.send(text);
        }
        Ok(false)
    }
}

/// The host key `addr` proves it holds, as `<algorithm> <base64>`.
pub async fn host_key(addr: SocketAddr, bound: Duration) -> Result<String, String> {
    let deadline = tokio::time::Instant::now() + bound;
    let mut last = String::from("no attempt");
    loop {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        if remaining.is_zero() {
            return Err(format!(
                "no SSH key exchange with {addr} within {}s: {last}",
                bound.as_secs()
            ));
        }
        match tokio::time::timeout(remaining, one_exchange(addr)).await {
            Ok(Ok(key)) => return Ok(key),
            Ok(Err(e)) => last = e,
            Err(_) => last = format!("timed out after {}s", bound.as_secs()),
        }
        tokio::time::sleep(Duration::from_millis(500).min(remaining)).await;
    }
}

async fn one_exchange(addr: SocketAddr) -> Result<String, String> {
    let config = Arc::new(russh::client::Config {
        inactivity_timeout: Some(Duration::from_secs(10)),
        ..Default::default()
    });
    let (tx, rx) = oneshot::channel();
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("TCP connect to {addr}: {e}"))?;
    let session = russh::client::connect_stream(config, stream, KeyOnly { offered: Some(tx) });
    // The session is refused in check_server_key, so connect ends in an
    // error; the key arrived only if the exchange completed.
    let outcome = session.await;
    match rx.await {
        Ok(key) if !key.is_empty() => Ok(key),
        _ => Err(match outcome {
            Ok(_) => format!("{addr}: the session opened without showing a host key"),
            Err(e) => format!("{addr}: key exchange failed: {e}"),
        }),
    }
}

/// `<algorithm> <base64>` of an OpenSSH public key line (comment dropped).
fn key_of(line: &str) -> Option<(String, String)> {
    let mut f = line.split_whitespace();
    Some((f.next()?.to_string(), f.next()?.to_string()))
}

/// The run check of boot `seq`: the key exchanged from outside is one the
/// probe reported from inside. `offered`: what [`host_key`] returned.
pub fn check(
    spec: &HostSpec,
    facts: &Facts,
    seq: u32,
    offered: Option<Result<String, String>>,
) -> Check {
    let ssh = &facts.first_boot.ssh;
    let id = format!("network.ssh.key_exchange:boot{seq}");
    let title = "SSH key exchange from the coordinator on the management path";
    let addr = format!("{}:{}", spec.ip, ssh.port);
    let reported: Vec<(String, String)> = ssh
        .host_keys
        .iter()
        .filter_map(|k| k.public.as_deref().and_then(key_of))
        .collect();
    let mk = |outcome: Outcome, exp: String, obs: String, ev: String| {
        let mut c =
            crate::evidence::engine_check(&id, title, Gate::Network, outcome, &exp, &obs, ev);
        c.required = spec.expect.first_boot.ssh;
        c
    };
    let Some(offered) = offered else {
        return mk(
            Outcome::NotApplicable {
                reason: "the spec does not expect SSH (expect.firstBoot.ssh = false)".into(),
            },
            "not expected".into(),
            "not tried".into(),
            "the coordinator did not connect".into(),
        );
    };
    let exp = format!("{addr} completes a key exchange with a host key the probe reported");
    match offered {
        Err(e) => mk(Outcome::Fail, exp, "no key exchange".into(), e),
        Ok(line) => {
            let Some((alg, key)) = key_of(&line) else {
                return mk(
                    Outcome::Fail,
                    exp,
                    "unreadable key".into(),
                    format!("offered {line:?}"),
                );
            };
            let short = format!("{alg} …{}", &key[key.len().saturating_sub(12)..]);
            if reported.is_empty() {
                return mk(
                    Outcome::Fail,
                    exp,
                    short,
                    format!("{addr} offered {alg} {key}, but the probe reported no public host key to compare it with (no <key>.pub beside {} private key(s))", ssh.host_keys.len()),
                );
            }
            if reported.iter().any(|(a, k)| *a == alg && *k == key) {
                mk(
                    Outcome::Pass,
                    exp,
                    short,
                    format!("key exchange with {addr} completed (server signature verified); host key {alg} {key} is the one the probe reported"),
                )
            } else {
                mk(
                    Outcome::Fail,
                    exp,
                    short,
                    format!(
                        "{addr} proved a host key the probe did not report ({alg} {key}); reported: {}",
                        reported.iter().map(|(a, k)| format!("{a} {k}")).collect::<Vec<_>>().join(", ")
                    ),
                )
            }
        }
    }
}
