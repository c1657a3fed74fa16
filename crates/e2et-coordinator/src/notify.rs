//! Notifications: ntfy, a generic webhook (JSON, HMAC-SHA256 signed) and
//! SMTP, each for the event kinds it asks for. Delivery runs in its own
//! tasks: a slow or dead receiver is retried, then logged and counted, and
//! never holds up the engine.
//!
//! The config (`--notify-config`, JSON) names targets; their secrets come
//! from the credentials directory like the PDUs' (`notify-<name>-token` for
//! ntfy, `notify-<name>-secret` for a webhook, `notify-<name>-password` for
//! SMTP), never from the config itself.
use e2et_model::api::RunEvent;
use e2et_model::report::PowerStep;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// What is sent: one per event, the same for every target.
pub use e2et_model::api::Notice;
/// What a notice is about (the wire type lives in e2et-model).
pub use e2et_model::api::NoticeKind as Kind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain SMTP (a relay on localhost only).
    None,
    Starttls,
    /// Implicit TLS (port 465).
    Tls,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TargetConfig {
    /// `POST <url>` (the topic's URL) with ntfy's headers.
    Ntfy {
        name: String,
        url: String,
        events: BTreeSet<Kind>,
        /// Read `notify-<name>-token` (an ntfy access token) from the
        /// credentials directory.
        #[serde(default)]
        token: bool,
    },
    /// `POST <url>` with the notice as JSON, signed with
    /// `notify-<name>-secret`.
    Webhook {
        name: String,
        url: String,
        events: BTreeSet<Kind>,
    },
    Smtp {
        name: String,
        /// `host:port`.
        server: String,
        tls: SmtpTls,
        from: String,
        to: Vec<String>,
        events: BTreeSet<Kind>,
        /// With a user, the password is `notify-<name>-password`.
        #[serde(default)]
        user: Option<String>,
    },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    pub targets: Vec<TargetConfig>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("notify config {path}: {msg}")]
    Invalid { path: String, msg: String },
}

enum Target {
    Ntfy {
        url: String,
        token: Option<String>,
    },
    Webhook {
        url: String,
        secret: String,
    },
    Smtp {
        transport: Box<lettre::AsyncSmtpTransport<lettre::Tokio1Executor>>,
        from: lettre::message::Mailbox,
        to: Vec<lettre::message::Mailbox>,
    },
}

struct Named {
    name: String,
    events: BTreeSet<Kind>,
    target: Target,
}

/// Configured targets and the HTTP client they share.
pub struct Notifier {
    targets: Vec<Arc<Named>>,
    http: reqwest::Client,
    /// Attempts per delivery and the pause before each retry.
    retries: Vec<Duration>,
    pub metrics: Arc<Deliveries>,
    /// Links in notices point here.
    public_url: String,
}

/// Deliveries by (target, kind, ok), for /metrics.
#[derive(Default)]
pub struct Deliveries(std::sync::Mutex<std::collections::BTreeMap<(String, String, bool), u64>>);

impl Deliveries {
    fn count(&self, target: &str, kind: Kind, ok: bool) {
        if let Ok(mut m) = self.0.lock() {
            *m.entry((target.to_string(), kind.as_str().to_string(), ok))
                .or_default() += 1;
        }
    }

    pub fn snapshot(&self) -> Vec<((String, String, bool), u64)> {
        self.0
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }
}

fn read_secret(dir: Option<&Path>, file: &str, path: &str) -> Result<String, ConfigError> {
    let bad = |msg: String| ConfigError::Invalid {
        path: path.into(),
        msg,
    };
    let dir = dir.ok_or_else(|| {
        bad(format!(
            "{file} is needed but there is no credentials directory (--credentials-dir or CREDENTIALS_DIRECTORY)"
        ))
    })?;
    e2et_pdu::drivers::read_secret(&dir.join(file)).map_err(bad)
}

impl Notifier {
    /// No targets: every notice is dropped.
    pub fn none() -> Notifier {
        Notifier {
            targets: vec![],
            http: reqwest::Client::new(),
            retries: vec![],
            metrics: Default::default(),
            public_url: String::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Builds the targets of `cfg`, reading their secrets; every mistake is
    /// named with the target and the field.
    pub fn new(
        cfg: &NotifyConfig,
        credentials: Option<&Path>,
        public_url: &str,
    ) -> Result<Notifier, ConfigError> {
        let mut names = BTreeSet::new();
        let mut targets = Vec::new();
        for (i, t) in cfg.targets.iter().enumerate() {
            let (name, events) = match t {
                TargetConfig::Ntfy { name, events, .. }
                | TargetConfig::Webhook { name, events, .. }
                | TargetConfig::Smtp { name, events, .. } => (name, events),
            };
            let path = format!("targets[{i}] ({name})");
            let bad = |msg: String| ConfigError::Invalid {
                path: path.clone(),
                msg,
            };
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(bad(format!(
                    "name {name:?} must be non-empty letters, digits, - or _ (it names the secret file)"
                )));
            }
            if !names.insert(name.clone()) {
                return Err(bad(format!("a second target is named {name}")));
            }
            if events.is_empty() {
                return Err(bad(
                    "events is empty: name the kinds this target wants".into()
                ));
            }
            let url_ok = |u: &str| -> Result<(), ConfigError> {
                let p = reqwest::Url::parse(u).map_err(|e| bad(format!("url {u:?}: {e}")))?;
                if !matches!(p.scheme(), "http" | "https") {
                    return Err(bad(format!("url {u:?}: only http and https")));
                }
                Ok(())
            };
            let target = match t {
                TargetConfig::Ntfy { url, token, .. } => {
                    url_ok(url)?;
                    Target::Ntfy {
                        url: url.clone(),
                        token: token
                            .then(|| {
                                read_secret(credentials, &format!("notify-{name}-token"), &path)
                            })
                            .transpose()?,
                    }
                }
                TargetConfig::Webhook { url, .. } => {
                    url_ok(url)?;
                    Target::Webhook {
                        url: url.clone(),
                        secret: read_secret(credentials, &format!("notify-{name}-secret"), &path)?,
                    }
                }
                TargetConfig::Smtp {
                    server,
                    tls,
                    from,
                    to,
                    user,
                    ..
                } => {
                    let (host, port) = server
                        .rsplit_once(':')
                        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
                        .ok_or_else(|| bad(format!("server {server:?} is not host:port")))?;
                    let mut b = match tls {
                        SmtpTls::None => {
                            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(
                                &host,
                            )
                        }
                        SmtpTls::Starttls => {
                            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::starttls_relay(
                                &host,
                            )
                            .map_err(|e| bad(format!("server {host}: {e}")))?
                        }
                        SmtpTls::Tls => {
                            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::relay(&host)
                                .map_err(|e| bad(format!("server {host}: {e}")))?
                        }
                    }
                    .port(port)
                    .timeout(Some(Duration::from_secs(10)));
                    if let Some(u) = user {
                        let pw =
                            read_secret(credentials, &format!("notify-{name}-password"), &path)?;
                        b = b.credentials(
                            lettre::transport::smtp::authentication::Credentials::new(
                                u.clone(),
                                pw,
                            ),
                        );
                    }
                    if to.is_empty() {
                        return Err(bad("to is empty".into()));
                    }
                    let mb = |a: &str, field: &str| {
                        a.parse::<lettre::message::Mailbox>()
                            .map_err(|e| bad(format!("{field} {a:?}: {e}")))
                    };
                    Target::Smtp {
                        transport: Box::new(b.build()),
                        from: mb(from, "from")?,
                        to: to.iter().map(|a| mb(a, "to")).collect::<Result<_, _>>()?,
                    }
                }
            };
            targets.push(Arc::new(Named {
                name: name.clone(),
                events: events.clone(),
                target,
            }));
        }
        Ok(Notifier {
            targets,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| ConfigError::Invalid {
                    path: "http client".into(),
                    msg: e.to_string(),
                })?,
            retries: vec![
                Duration::ZERO,
                Duration::from_secs(1),
                Duration::from_secs(4),
            ],
            metrics: Default::default(),
            public_url: public_url.trim_end_matches('/').to_string(),
        })
    }

    /// Loads and builds a JSON config file.
    pub fn from_file(
        p: &Path,
        credentials: Option<&Path>,
        public_url: &str,
    ) -> Result<Notifier, ConfigError> {
        let bad = |msg: String| ConfigError::Invalid {
            path: p.display().to_string(),
            msg,
        };
        let text = std::fs::read_to_string(p).map_err(|e| bad(e.to_string()))?;
        let cfg: NotifyConfig = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        Notifier::new(&cfg, credentials, public_url)
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Sends `n` to every target that wants its kind, each in its own task.
    pub fn send(self: &Arc<Self>, n: Notice) {
        let n = Arc::new(n);
        for t in &self.targets {
            if !t.events.contains(&n.kind) {
                continue;
            }
            let (me, t, n) = (self.clone(), t.clone(), n.clone());
            tokio::spawn(async move { me.deliver(&t, &n).await });
        }
    }

    async fn deliver(&self, t: &Named, n: &Notice) {
        let mut last = String::new();
        for (attempt, pause) in self.retries.iter().enumerate() {
            tokio::time::sleep(*pause).await;
            match self.attempt(&t.target, n).await {
                Ok(()) => {
                    info!(target = %t.name, kind = n.kind.as_str(), id = %n.id, attempt = attempt + 1, "notification delivered");
                    self.metrics.count(&t.name, n.kind, true);
                    return;
                }
                Err(e) => last = e,
            }
        }
        warn!(target = %t.name, kind = n.kind.as_str(), id = %n.id, error = %last, "notification not delivered");
        self.metrics.count(&t.name, n.kind, false);
    }

    async fn attempt(&self, t: &Target, n: &Notice) -> Result<(), String> {
        match t {
            Target::Ntfy { url, token } => {
                let (priority, tags) = match n.kind {
                    Kind::RunFailed | Kind::PduError => ("high", "rotating_light"),
                    Kind::RunHeld | Kind::RunTransient => ("default", "warning"),
                    Kind::RunPassed => ("low", "white_check_mark"),
                };
                let mut r = self
                    .http
                    .post(url)
                    .header("Title", &n.title)
                    .header("Priority", priority)
                    .header("Tags", tags)
                    .header("Click", &n.link)
                    .body(n.message.clone());
                if let Some(tok) = token {
                    r = r.bearer_auth(tok);
                }
                check(r.send().await).await
            }
            Target::Webhook { url, secret } => {
                let body = serde_json::to_vec(n).map_err(|e| e.to_string())?;
                let ts = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
                    .to_string();
                let sig = sign(secret, &ts, &body);
                let r = self
                    .http
                    .post(url)
                    .header("content-type", "application/json")
                    .header("X-E2ET-Event", n.kind.as_str())
                    .header("X-E2ET-Delivery", &n.id)
                    .header("X-E2ET-Timestamp", &ts)
                    .header("X-E2ET-Signature-256", format!("sha256={sig}"))
                    .body(body);
                check(r.send().await).await
            }
            Target::Smtp {
                transport,
                from,
                to,
            } => {
                use lettre::AsyncTransport;
                let mut m = lettre::Message::builder()
                    .from(from.clone())
                    .subject(format!("[e2et] {}", n.title))
                    .header(lettre::message::header::ContentType::TEXT_PLAIN);
                for a in to {
                    m = m.to(a.clone());
                }
                let m = m
                    .body(format!("{}\n\n{}\n", n.message, n.link))
                    .map_err(|e| e.to_string())?;
                transport
                    .send(m)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        }
    }
}

async fn check(r: reqwest::Result<reqwest::Response>) -> Result<(), String> {
    let r = r.map_err(|e| e.to_string())?;
    if r.status().is_success() {
        Ok(())
    } else {
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        Err(format!(
            "HTTP {status}: {}",
            body.chars().take(200).collect::<String>()
        ))
    }
}

/// HMAC-SHA256 over `<timestamp>.<body>`, hex: what a receiver recomputes
/// with the shared secret (and rejects if the timestamp is stale).
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    e2et_model::api::hmac_sha256_hex(secret.as_bytes(), timestamp, body)
}

/// The notice for a run event, with the report's reasons when it did not pass.
pub fn run_notice(e: &RunEvent, kind: Kind, reasons: Vec<String>, public_url: &str) -> Notice {
    let what = match kind {
        Kind::RunFailed => format!(
            "{} ({})",
            e.state,
            e.verdict.map_or("no verdict".into(), |v| v.to_string())
        ),
        Kind::RunHeld => "held".into(),
        _ => e.state.to_string(),
    };
    let score = e
        .score
        .map(|s| format!(", score {s:.2}"))
        .unwrap_or_default();
    let zone = e.zone.map(|z| format!(" zone {z}")).unwrap_or_default();
    let mut message = format!("{} run {} {what}{score}{zone}: {}", e.host, e.run, e.note);
    for r in reasons.iter().take(5) {
        message.push_str(&format!("\n- {r}"));
    }
    Notice {
        version: 1,
        kind,
        id: e.id.clone(),
        title: format!("{}: {what}", e.host),
        message,
        host: Some(e.host.clone()),
        run: Some(e.clone()),
        pdu_step: None,
        reasons,
        link: if e.verdict.is_some() {
            format!("{public_url}/api/v1/runs/{}/report.html", e.run)
        } else {
            format!("{public_url}/")
        },
    }
}

/// The notice for a PDU command that did not do what it asked.
pub fn pdu_notice(run: &str, host: &str, step: &PowerStep, public_url: &str) -> Notice {
    Notice {
        version: 1,
        kind: Kind::PduError,
        id: format!("{run}-pdu-{}-{}-{}", step.pdu, step.outlet, step.at),
        title: format!(
            "{host}: PDU {} outlet {} {} did not read back",
            step.pdu, step.outlet, step.action
        ),
        message: format!(
            "PDU {} outlet {} ({host}, run {run}): {} read back {}: {}",
            step.pdu,
            step.outlet,
            step.action,
            step.observed.map_or("nothing", |o| o.as_str()),
            step.detail
        ),
        host: Some(host.to_string()),
        run: None,
        pdu_step: Some(step.clone()),
        reasons: vec![],
        link: format!("{public_url}/"),
    }
}

/// Follows the run events and sends a notice for each kind people are told
/// about (with the report's reasons for a run that did not pass). Runs until
/// the event stream closes; a lagging follower logs what it skipped.
pub async fn follow(
    notifier: Arc<Notifier>,
    events: Arc<crate::events::Events>,
    store: Arc<crate::store::Store>,
) {
    use tokio::sync::broadcast::error::RecvError;
    if notifier.is_empty() {
        return;
    }
    let mut rx = events.subscribe(None).rx;
    loop {
        match rx.recv().await {
            Ok(e) => {
                let Some(kind) = Kind::of(&e) else { continue };
                let reasons = if kind == Kind::RunFailed {
                    report_reasons(&store, &e.run)
                } else {
                    vec![]
                };
                let n = run_notice(&e, kind, reasons, notifier.public_url());
                notifier.send(n);
            }
            Err(RecvError::Lagged(k)) => {
                warn!(
                    skipped = k,
                    "notifications fell behind the run events; skipped some"
                );
            }
            Err(RecvError::Closed) => return,
        }
    }
}

fn report_reasons(store: &crate::store::Store, run: &str) -> Vec<String> {
    match store.run(run) {
        Ok(Some(r)) => r
            .report_json
            .and_then(|j| serde_json::from_str::<e2et_model::report::Report>(&j).ok())
            .map(|r| r.reasons)
            .unwrap_or_default(),
        Ok(None) => vec![],
        Err(e) => {
            warn!(%run, error = %e, "no reasons for the notice: store read failed");
            vec![]
        }
    }
}

/// Where secrets are read from: the flag, else systemd's directory.
pub fn credentials_dir(flag: Option<PathBuf>) -> Option<PathBuf> {
    flag.or_else(|| std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from))
}

#[cfg(test)]
mod tests;
