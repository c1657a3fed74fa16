//! HTTP: agent API (per-run token), boot API (iPXE scripts and artifacts),
//! operator API (bearer token from a file, when configured).
use crate::engine::{self, Ctx};
use crate::live::LiveRun;
use crate::store::StoreError;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use e2et_model::api::*;
use e2et_model::inventory::normalize_mac;
use e2et_model::report::Report;
use e2et_model::{RunMode, RunState};
use e2et_score::render;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tracing::{info, warn};

pub struct AppConfig {
    /// Base URL hosts use to reach this coordinator (`http://10.99.0.1:8080`).
    pub public_url: String,
    pub artifacts: PathBuf,
    pub kernel: String,
    pub initrd: String,
    /// Extra kernel arguments for the netboot image (`console=ttyS0`).
    pub cmdline: String,
    /// Sha256 of the operator token; `None` leaves the operator API open (lab).
    pub operator_token_sha256: Option<[u8; 32]>,
    /// Where each host's enrolment key is (`agent-<host>`), for quick runs.
    pub credentials_dir: Option<PathBuf>,
}

pub struct App {
    pub ctx: Arc<Ctx>,
    pub cfg: AppConfig,
}

type Shared = Arc<App>;

pub struct ApiErr(StatusCode, &'static str, String);

impl IntoResponse for ApiErr {
    fn into_response(self) -> Response {
        let body = ApiError {
            code: self.1.into(),
            error: self.0.canonical_reason().unwrap_or("error").into(),
            message: self.2,
        };
        (self.0, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiErr {
    fn from(e: StoreError) -> Self {
        warn!(error = %e, "store error");
        ApiErr(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string())
    }
}

type R<T> = Result<T, ApiErr>;

pub fn sha256(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

fn bearer(h: &HeaderMap) -> Option<&str> {
    h.get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

pub fn router(app: Shared) -> Router {
    Router::new()
        .route("/api/v1/agent/hello", post(hello))
        .route("/api/v1/agent/facts", post(facts))
        .route("/api/v1/agent/heartbeat", post(heartbeat))
        .route(
            "/api/v1/agent/enrol",
            post(enrol).layer(DefaultBodyLimit::max(4096)),
        )
        .route(
            "/api/v1/agent/throughput",
            post(throughput).layer(DefaultBodyLimit::max(MAX_THROUGHPUT_BYTES)),
        )
        .route("/api/v1/runs", post(create_run).get(list_runs))
        .route("/api/v1/runs/{id}", get(get_run))
        .route("/api/v1/runs/{id}/{file}", get(get_report).post(run_action))
        .route("/api/v1/hosts", get(hosts))
        .route("/boot/{file}", get(boot_script))
        .nest_service(
            "/boot/artifacts",
            tower_http::services::ServeDir::new(app.cfg.artifacts.clone()),
        )
        .route("/", get(dashboard))
        .route("/api/v1/events", get(events))
        .route("/login", get(login_form).post(login))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(4 * 1024 * 1024))
        .layer(axum::middleware::from_fn_with_state(app.clone(), observe))
        .with_state(app)
}

/// Times every request by its route pattern (not the raw path, so run ids
/// and MACs do not explode the label set).
async fn observe(
    State(app): State<Shared>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| {
            if req.uri().path().starts_with("/boot/artifacts/") {
                "/boot/artifacts".into()
            } else {
                "unmatched".into()
            }
        });
    let t = std::time::Instant::now();
    let resp = next.run(req).await;
    app.ctx
        .metrics
        .http(&route, resp.status().as_u16(), t.elapsed());
    resp
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The dashboard's page: hosts with their last run, the newest runs, and a
/// script that follows `/api/v1/events` to change rows in place (no build
/// step; without JavaScript the page reloads itself every 10 s instead).
const DASHBOARD_HEAD: &str = r#"<!doctype html><html><head><meta charset="utf-8">
<noscript><meta http-equiv="refresh" content="10"></noscript>
<title>e2et</title><style>
body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}
table{border-collapse:collapse;margin-bottom:1.5em}.passed{background:#dfd}.failed{background:#fdd}
.incomplete,.holding,.transient{background:#ffd}.released{background:#eee}
#live{font-size:.8em;padding:.1em .5em;border-radius:.5em;background:#eee}#live.on{background:#cfc}
td.note{max-width:40em}
</style></head><body><h1>e2et <span id="live">static</span></h1>
"#;

const DASHBOARD_SCRIPT: &str = r#"<script>
(function () {
  const live = document.getElementById('live');
  const terminal = ['passed','transient','failed','incomplete','holding','released'];
  const fmt = (v, f) => (v === null || v === undefined) ? '-' : (f ? f(v) : String(v));
  // Hosts whose serial console e2etd keeps (set by the page).
  const consoles = new Set(JSON.parse(document.body.dataset.consoles || '[]'));
  function links(id, host, done) {
    const b = '/api/v1/runs/' + encodeURIComponent(id) + '/';
    const r = done ? ['html','md','json','junit.xml'].map(f =>
      '<a href="' + b + 'report.' + f + '">' + (f === 'junit.xml' ? 'junit' : f) + '</a>') : [];
    if (consoles.has(host)) r.push('<a href="' + b + 'console.log">console</a>');
    return r.join(' ');
  }
  function set(row, field, text) {
    const td = row.querySelector('td[data-f="' + field + '"]');
    if (td) td.textContent = text;
  }
  function apply(e) {
    const rid = 'run-' + e.run;
    let row = document.getElementById(rid);
    if (!row) {
      const tb = document.getElementById('runs');
      row = document.createElement('tr');
      row.id = rid;
      ['run','host','mode','state','verdict','score','zone','updated','note','reports'].forEach(f => {
        const td = document.createElement('td'); td.dataset.f = f; row.appendChild(td);
      });
      row.querySelector('td[data-f="note"]').className = 'note';
      set(row, 'run', e.run); set(row, 'host', e.host); set(row, 'mode', e.mode);
      tb.insertBefore(row, tb.firstChild);
    }
    row.className = e.state;
    set(row, 'state', e.state); set(row, 'verdict', fmt(e.verdict));
    set(row, 'score', fmt(e.score, x => x.toFixed(2))); set(row, 'zone', fmt(e.zone));
    set(row, 'updated', e.at); set(row, 'note', e.note);
    row.querySelector('td[data-f="reports"]').innerHTML =
      links(e.run, e.host, e.verdict && terminal.includes(e.state));
    const h = document.getElementById('host-' + e.host);
    if (h) {
      h.className = e.state;
      set(h, 'run', e.run); set(h, 'state', e.state); set(h, 'verdict', fmt(e.verdict));
      set(h, 'score', fmt(e.score, x => x.toFixed(2))); set(h, 'zone', fmt(e.zone)); set(h, 'note', e.note);
    }
    document.body.dataset.events = String(Number(document.body.dataset.events || 0) + 1);
  }
  if (!window.EventSource) { setTimeout(() => location.reload(), 10000); return; }
  const es = new EventSource('/api/v1/events');
  es.onopen = () => { live.textContent = 'live'; live.className = 'on'; };
  es.onerror = () => { live.textContent = 'reconnecting'; live.className = ''; };
  es.addEventListener('run', m => apply(JSON.parse(m.data)));
  es.addEventListener('resync', () => location.reload());
})();
</script>"#;

/// `GET /` — the dashboard: hosts with their last run (why it is held, if
/// it is), the newest runs with links to their reports, changing live.
/// Read-only and without secrets, so it needs no token (the reports do).
async fn dashboard(State(app): State<Shared>) -> R<Response> {
    let runs = app.ctx.store.recent_runs(DASHBOARD_RUNS, None)?;
    let consoles: Vec<&str> = app
        .ctx
        .inventory
        .hosts
        .iter()
        .filter(|(_, h)| h.console_capture.is_some())
        .map(|(n, _)| n.as_str())
        .collect();
    let mut s = String::from(DASHBOARD_HEAD);
    s.push_str(&format!(
        "<script>document.body.dataset.consoles = {};</script>",
        // A JS string holding the JSON list (dataset values are strings);
        // inside a script element, so no '<' may close it.
        serde_json::to_string(&serde_json::to_string(&consoles).unwrap_or_else(|_| "[]".into()))
            .unwrap_or_else(|_| "\"[]\"".into())
            .replace('<', "\\u003c")
    ));
    s.push_str("<h2>Hosts</h2><table><thead><tr><th>host</th><th>fqdn</th><th>required</th><th>last run</th><th>state</th><th>verdict</th><th>score</th><th>zone</th><th>why</th><th>last-known-good</th></tr></thead><tbody id=\"hosts\">");
    let cell = |v: Option<String>| html_escape(&v.unwrap_or_else(|| "-".into()));
    for (name, spec) in &app.ctx.inventory.hosts {
        let last = app.ctx.store.last_run(name)?;
        let last = last.as_ref();
        let lkg = app.ctx.store.last_known_good(name)?;
        s.push_str(&format!(
            "<tr id=\"host-{n}\" class=\"{}\"><td>{n}</td><td>{}</td><td>{}</td><td data-f=\"run\">{}</td><td data-f=\"state\">{}</td><td data-f=\"verdict\">{}</td><td data-f=\"score\">{}</td><td data-f=\"zone\">{}</td><td data-f=\"note\" class=\"note\">{}</td><td class=\"note\">{}</td></tr>",
            last.map_or("", |r| r.state.as_str()),
            html_escape(&spec.fqdn),
            spec.required_zone,
            cell(last.map(|r| r.id.clone())),
            cell(last.map(|r| r.state.to_string())),
            cell(last.and_then(|r| r.verdict.clone())),
            cell(last.and_then(|r| r.score).map(|x| format!("{x:.2}"))),
            cell(last.and_then(|r| r.zone.clone())),
            cell(last.map(|r| r.note.clone())),
            cell(lkg.map(|l| format!("{} (run {})", l.revision, l.run_id))),
            n = html_escape(name),
        ));
    }
    s.push_str(&format!("</tbody></table><h2>Runs</h2><p>The newest {DASHBOARD_RUNS}; older ones through <code>GET /api/v1/runs?before=&lt;run&gt;</code>.</p><table><thead><tr><th>run</th><th>host</th><th>mode</th><th>state</th><th>verdict</th><th>score</th><th>zone</th><th>updated</th><th>note</th><th>reports</th></tr></thead><tbody id=\"runs\">"));
    for r in &runs {
        let id = html_escape(&r.id);
        let mut reports = if r.has_report {
            format!("<a href=\"/api/v1/runs/{id}/report.html\">html</a> <a href=\"/api/v1/runs/{id}/report.md\">md</a> <a href=\"/api/v1/runs/{id}/report.json\">json</a> <a href=\"/api/v1/runs/{id}/report.junit.xml\">junit</a>")
        } else {
            String::new()
        };
        if consoles.contains(&r.host.as_str()) {
            reports.push_str(&format!(
                " <a href=\"/api/v1/runs/{id}/console.log\">console</a>"
            ));
        }
        s.push_str(&format!(
            "<tr id=\"run-{id}\" class=\"{st}\"><td data-f=\"run\">{id}</td><td data-f=\"host\">{}</td><td data-f=\"mode\">{}</td><td data-f=\"state\">{st}</td><td data-f=\"verdict\">{}</td><td data-f=\"score\">{}</td><td data-f=\"zone\">{}</td><td data-f=\"updated\">{}</td><td data-f=\"note\" class=\"note\">{}</td><td data-f=\"reports\">{reports}</td></tr>",
            html_escape(&r.host),
            r.mode.as_str(),
            cell(r.verdict.clone()),
            cell(r.score.map(|x| format!("{x:.2}"))),
            cell(r.zone.clone()),
            html_escape(&r.updated_at),
            html_escape(&r.note),
            st = r.state.as_str(),
        ));
    }
    s.push_str("</tbody></table>");
    s.push_str(DASHBOARD_SCRIPT);
    s.push_str("</body></html>\n");
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        s,
    )
        .into_response())
}

/// Runs the dashboard lists.
const DASHBOARD_RUNS: usize = 200;

/// `GET /api/v1/events` — server-sent events: `event: run` carrying a
/// `RunEvent` for each durable change of a run's state, `event: resync` when
/// the client's `Last-Event-ID` is no longer in the backlog (it must reload
/// its view). Read-only like the dashboard, which it feeds: no token.
async fn events(
    State(app): State<Shared>,
    h: HeaderMap,
) -> axum::response::sse::Sse<
    impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
> {
    use axum::response::sse::{Event as Sse, KeepAlive};
    use futures_util::StreamExt;
    use tokio::sync::broadcast::error::RecvError;
    let last = h.get("last-event-id").and_then(|v| v.to_str().ok());
    let sub = app.ctx.events.subscribe(last);
    let to_sse = |e: &e2et_model::api::RunEvent| {
        Sse::default()
            .event("run")
            .id(e.id.clone())
            .data(serde_json::to_string(e).unwrap_or_default())
    };
    let resync = || Sse::default().event("resync").data("{}");
    let mut head: Vec<Sse> = Vec::new();
    if sub.resync {
        head.push(resync());
    }
    head.extend(sub.backlog.iter().map(|e| to_sse(e)));
    let tail = futures_util::stream::unfold(sub.rx, move |mut rx| async move {
        match rx.recv().await {
            Ok(e) => Some((to_sse(&e), rx)),
            // Too slow a client: tell it to reload rather than skip silently.
            Err(RecvError::Lagged(_)) => Some((resync(), rx)),
            Err(RecvError::Closed) => None,
        }
    });
    axum::response::sse::Sse::new(
        futures_util::stream::iter(head)
            .chain(tail)
            .map(Ok::<_, std::convert::Infallible>),
    )
    .keep_alive(KeepAlive::default())
}

/// `GET /metrics` — Prometheus text format (no auth: scrape from the
/// management network).
async fn metrics(State(app): State<Shared>) -> R<Response> {
    let (runs, verdicts) = app.ctx.store.counts()?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.ctx.metrics.render(
            &runs,
            &verdicts,
            app.ctx.events.subscribers(),
            &app.ctx.notifier.metrics.snapshot(),
        ),
    )
        .into_response())
}

// ---------------------------------------------------------------- agent API

/// Resolves the bearer token to its run and checks it matches the body's run.
/// A run in flight is answered from memory (no database read on the agents'
/// hot path); anything else from the store, which says 401, 403 or 410.
fn agent_auth(app: &App, h: &HeaderMap, run_id: &str) -> R<LiveRun> {
    let token = bearer(h).ok_or(ApiErr(
        StatusCode::UNAUTHORIZED,
        "no_token",
        "Authorization: Bearer <run token> required".into(),
    ))?;
    // Tokens are 256 random bits stored as their sha256: looking the hash up
    // reveals nothing about a token anyone could guess.
    let hash = hex::encode(sha256(token));
    let wrong = || {
        ApiErr(
            StatusCode::FORBIDDEN,
            "wrong_run",
            "token does not belong to this run".into(),
        )
    };
    if let Some(rid) = app.ctx.live.run_of_token(&hash) {
        if rid != run_id {
            return Err(wrong());
        }
        if let Some(run) = app.ctx.live.get(run_id) {
            return Ok(run);
        }
    }
    let (rid, _) = app.ctx.store.token_run(&hash)?.ok_or(ApiErr(
        StatusCode::UNAUTHORIZED,
        "bad_token",
        "token not issued by this coordinator".into(),
    ))?;
    if rid != run_id {
        return Err(wrong());
    }
    let run = app.ctx.store.run(run_id)?.ok_or(ApiErr(
        StatusCode::NOT_FOUND,
        "no_run",
        format!("run {run_id} not found"),
    ))?;
    if run.state.is_terminal() {
        return Err(ApiErr(
            StatusCode::GONE,
            "run_over",
            format!("run {run_id} is {}", run.state),
        ));
    }
    let spec: e2et_model::HostSpec =
        serde_json::from_str(&run.spec_json).map_err(StoreError::from)?;
    let boots = app.ctx.store.boots(run_id)?;
    Ok(LiveRun {
        host: run.host,
        mode: run.mode,
        state: run.state,
        spec: Arc::new(spec),
        boots: boots.into_iter().map(|b| (b.seq, b.boot_id)).collect(),
        facts: app.ctx.store.facts_seqs(run_id)?,
        since: std::time::Instant::now(),
        contact: Default::default(),
    })
}

/// `POST /api/v1/agent/hello` — agent token. Records a boot; boot 1 only while
/// provisioning, boot 2 only after the power cycle.
async fn hello(
    State(app): State<Shared>,
    h: HeaderMap,
    Json(req): Json<HelloRequest>,
) -> R<Json<HelloResponse>> {
    let run = agent_auth(&app, &h, &req.run_id)?;
    let state = run.state;
    let known = run
        .boots
        .iter()
        .find(|(_, b)| *b == req.boot_id)
        .map(|(s, _)| *s);
    let seq = match known {
        Some(s) => s,
        None => {
            let next = run.boots.len() as u32 + 1;
            // Cold: boot 1 while provisioning, boot 2 after the cycle. Quick:
            // one boot, the installed system's, after the cycle.
            let after_cycle = match run.mode {
                RunMode::Cold => 2,
                RunMode::Quick => 1,
            };
            let allowed = match next {
                1 if run.mode == RunMode::Cold => state == RunState::Provisioning,
                n if n == after_cycle => state == RunState::Revalidate,
                _ => false,
            };
            if !allowed {
                if next == after_cycle && state == RunState::PowerCycle {
                    return Err(ApiErr(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "cycling",
                        "run is still power cycling; retry".into(),
                    ));
                }
                return Err(ApiErr(
                    StatusCode::CONFLICT,
                    "unexpected_boot",
                    format!(
                        "boot {next} of run {} is not expected in state {state}",
                        req.run_id
                    ),
                ));
            }
            app.ctx
                .add_boot(&req.run_id, &req.boot_id, &req.cmdline)
                .await?
                .0
        }
    };
    info!(run = %req.run_id, seq, boot_id = %req.boot_id, hostname = %req.hostname, "hello");
    run.contact.touch(crate::live::ContactKind::Hello);
    app.ctx.wakers.wake(&req.run_id);
    let spec = &run.spec;
    let tcp_url = Some(format!("{}/api/v1/agent/throughput", app.cfg.public_url));
    Ok(Json(HelloResponse {
        boot_seq: seq,
        probe: spec
            .expect
            .probe_spec(Some(&spec.fqdn), Some(&spec.ip), tcp_url),
    }))
}

/// The largest upload the throughput test may send (the spec caps it at 4 GiB).
const MAX_THROUGHPUT_BYTES: usize = 4 << 30;

/// `POST /api/v1/agent/throughput` — agent token (of a live run). Reads and
/// discards the body, answering how many bytes arrived and how long it took:
/// the probe's TCP throughput test.
async fn throughput(
    State(app): State<Shared>,
    h: HeaderMap,
    body: axum::body::Body,
) -> R<Json<serde_json::Value>> {
    let token = bearer(&h).ok_or(ApiErr(
        StatusCode::UNAUTHORIZED,
        "no_token",
        "Authorization: Bearer <run token> required".into(),
    ))?;
    let hash = hex::encode(sha256(token));
    let (run_id, _) = app.ctx.store.token_run(&hash)?.ok_or(ApiErr(
        StatusCode::UNAUTHORIZED,
        "bad_token",
        "token not issued by this coordinator".into(),
    ))?;
    agent_auth(&app, &h, &run_id)?;
    let t = std::time::Instant::now();
    let mut bytes: u64 = 0;
    let mut stream = body.into_data_stream();
    use futures_util::StreamExt;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiErr(
                StatusCode::BAD_REQUEST,
                "body",
                format!("upload broke off after {bytes} bytes: {e}"),
            )
        })?;
        bytes += chunk.len() as u64;
    }
    Ok(Json(serde_json::json!({
        "bytes": bytes,
        "seconds": t.elapsed().as_secs_f64(),
    })))
}

/// `POST /api/v1/agent/facts` — agent token. Stores one boot's facts (once).
async fn facts(
    State(app): State<Shared>,
    h: HeaderMap,
    Json(req): Json<FactsRequest>,
) -> R<Json<FactsResponse>> {
    let run = agent_auth(&app, &h, &req.run_id)?;
    let seq = run
        .boots
        .iter()
        .find(|(_, b)| *b == req.boot_id)
        .map(|(s, _)| *s)
        .ok_or(ApiErr(
            StatusCode::CONFLICT,
            "no_hello",
            "say hello for this boot first".into(),
        ))?;
    if req.facts.version != e2et_model::FACTS_VERSION {
        return Err(ApiErr(
            StatusCode::UNPROCESSABLE_ENTITY,
            "facts_version",
            format!(
                "facts version {} from probe {}; this coordinator reads version {} (update the netboot image or the coordinator so they match)",
                req.facts.version,
                req.facts.probe_version,
                e2et_model::FACTS_VERSION
            ),
        ));
    }
    if req.facts.first_boot.boot_id != req.boot_id {
        return Err(ApiErr(
            StatusCode::UNPROCESSABLE_ENTITY,
            "boot_mismatch",
            "facts were collected on another boot".into(),
        ));
    }
    let accepted = app
        .ctx
        .add_facts(&req.run_id, seq, &req.boot_id, &req.facts)
        .await?;
    info!(run = %req.run_id, seq, accepted, "facts");
    run.contact.touch(crate::live::ContactKind::Facts);
    app.ctx.wakers.wake(&req.run_id);
    Ok(Json(FactsResponse {
        accepted,
        boot_seq: seq,
    }))
}

/// `POST /api/v1/agent/heartbeat` — agent token. The answer carries the next
/// command, derived from the run's state: boot 1's agent is asked to power off
/// once the run enters its power cycle.
async fn heartbeat(
    State(app): State<Shared>,
    h: HeaderMap,
    Json(req): Json<HeartbeatRequest>,
) -> Response {
    let run = match agent_auth(&app, &h, &req.run_id) {
        Ok(r) => r,
        Err(ApiErr(StatusCode::GONE, ..)) => {
            return Json(HeartbeatResponse {
                command: AgentCommand::Abort,
            })
            .into_response()
        }
        Err(e) => return e.into_response(),
    };
    let beat = crate::lifecycle::heartbeat::decide(run.mode, run.state, &run.boots, &req.boot_id);
    // Only the newest boot's agent counts as the host being alive.
    if beat.alive {
        run.contact.touch(crate::live::ContactKind::Heartbeat);
    }
    if beat.poweroff_asked {
        if let Ok(mut m) = app.ctx.poweroff_sent.lock() {
            m.entry(req.run_id.clone())
                .or_insert_with(tokio::time::Instant::now);
        }
    }
    let command = beat.command;
    Json(HeartbeatResponse { command }).into_response()
}

/// The host's enrolment key: `agent-<host>` in the credentials directory.
fn enrolment_key(app: &App, host: &str) -> Result<String, String> {
    let dir = app.cfg.credentials_dir.as_ref().ok_or_else(|| {
        format!("no credentials directory (set --credentials-dir or CREDENTIALS_DIRECTORY) for agent-{host}")
    })?;
    e2et_pdu::drivers::read_secret(&dir.join(format!("agent-{host}")))
}

/// `POST /api/v1/agent/enrol` — signed with the host's enrolment key (see
/// `EnrolRequest`). An agent on the installed system of a host whose quick
/// run waits for it (revalidate) gets a run token for its boot, once.
async fn enrol(State(app): State<Shared>, h: HeaderMap, body: axum::body::Bytes) -> R<Response> {
    let bad = |code: &'static str, msg: String| ApiErr(StatusCode::UNAUTHORIZED, code, msg);
    let header = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let ts = header(e2et_model::api::ENROL_TIMESTAMP_HEADER).ok_or(bad(
        "no_timestamp",
        format!(
            "header {} (Unix seconds) required",
            e2et_model::api::ENROL_TIMESTAMP_HEADER
        ),
    ))?;
    let sig = header(e2et_model::api::ENROL_SIGNATURE_HEADER)
        .and_then(|v| v.strip_prefix("sha256="))
        .ok_or(bad(
            "no_signature",
            format!(
                "header {}: sha256=<hex HMAC-SHA256 of timestamp.body> required",
                e2et_model::api::ENROL_SIGNATURE_HEADER
            ),
        ))?;
    let req: e2et_model::api::EnrolRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiErr(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("invalid enrolment request: {e}"),
        )
    })?;
    if !app.ctx.inventory.hosts.contains_key(&req.host) {
        return Err(ApiErr(
            StatusCode::NOT_FOUND,
            "unknown_host",
            format!("host {} is not in the inventory", req.host),
        ));
    }
    let key = enrolment_key(&app, &req.host).map_err(|e| {
        warn!(host = %req.host, "enrolment refused: {e}");
        bad(
            "no_key",
            format!("host {} has no enrolment key here", req.host),
        )
    })?;
    let want = e2et_model::api::hmac_sha256_hex(key.as_bytes(), ts, &body);
    if !bool::from(want.as_bytes().ct_eq(sig.as_bytes())) {
        warn!(host = %req.host, "enrolment with a wrong signature");
        return Err(bad(
            "bad_signature",
            "signature does not match the host's enrolment key".into(),
        ));
    }
    let skew = ts
        .parse::<i64>()
        .ok()
        .map(|t| (chrono::Utc::now().timestamp() - t).abs());
    let fresh = matches!(skew, Some(s) if s <= e2et_model::api::ENROL_MAX_SKEW_S);
    if !fresh {
        return Err(bad(
            "stale",
            format!(
                "timestamp {ts:?} is not within {}s of the coordinator's clock",
                e2et_model::api::ENROL_MAX_SKEW_S
            ),
        ));
    }
    let run = app.ctx.store.host_blocker(&req.host)?;
    let run = match run {
        Some(r) if r.mode == RunMode::Quick && r.state == RunState::Revalidate => r,
        Some(r)
            if r.mode == RunMode::Quick
                && matches!(
                    r.state,
                    RunState::Queued | RunState::InventoryGate | RunState::PowerCycle
                ) =>
        {
            return Err(ApiErr(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_yet",
                format!("quick run {} is in {}; retry", r.id, r.state),
            ))
        }
        Some(r) if r.mode == RunMode::Quick => {
            return Err(ApiErr(
                StatusCode::CONFLICT,
                "past_enrolment",
                format!(
                    "quick run {} is in {}: it no longer takes an enrolment",
                    r.id, r.state
                ),
            ))
        }
        _ => {
            return Err(ApiErr(
                StatusCode::NOT_FOUND,
                "no_run",
                format!("no quick run waits for {}", req.host),
            ))
        }
    };
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let token = hex::encode(raw);
    let hash = hex::encode(sha256(&token));
    if !app.ctx.store.enrol(&run.id, &req.boot_id, &hash).await? {
        return Err(ApiErr(
            StatusCode::CONFLICT,
            "enrolled",
            format!(
                "boot {} already enrolled in run {}: one token per boot",
                req.boot_id, run.id
            ),
        ));
    }
    app.ctx.live.token(&hash, &run.id);
    info!(run = %run.id, host = %req.host, boot_id = %req.boot_id, "agent enrolled");
    Ok(Json(e2et_model::api::EnrolResponse {
        run_id: run.id,
        token,
    })
    .into_response())
}

// ----------------------------------------------------------------- boot API

/// `GET /boot/start.ipxe` and `GET /boot/<mac>.ipxe` — no auth (the network is
/// the boundary). The netboot script, with a freshly minted per-run token,
/// only while the MAC's host has an active run; otherwise the local disk.
async fn boot_script(State(app): State<Shared>, Path(file): Path<String>) -> R<Response> {
    use crate::lifecycle::boot::{self, BootScript, Holder};
    let text =
        |s: String| ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], s).into_response();
    if file == "start.ipxe" {
        return Ok(text(boot::start_script(&app.cfg.public_url)));
    }
    let Some(raw) = file.strip_suffix(".ipxe") else {
        return Err(ApiErr(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no boot file {file}"),
        ));
    };
    let Some(mac) = normalize_mac(raw) else {
        return Err(ApiErr(
            StatusCode::BAD_REQUEST,
            "bad_mac",
            format!("{raw:?} is not a MAC address"),
        ));
    };
    let host = app.ctx.inventory.host_by_mac(&mac).map(|(h, _)| h);
    let holder = match &host {
        Some(h) => app.ctx.store.host_blocker(h)?,
        None => None,
    };
    let decision = boot::decide(
        host.is_some(),
        holder.as_ref().map(|r| Holder {
            id: &r.id,
            mode: r.mode,
            state: r.state,
        }),
    );
    match &decision {
        BootScript::Netboot { run, state } => {
            let mut raw = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut raw);
            let token = hex::encode(raw);
            app.ctx.add_token(run, &hex::encode(sha256(&token))).await?;
            app.ctx
                .store
                .boot_request(&mac, Some(run), &decision.log_note())
                .await?;
            info!(%run, %mac, %state, "boot script issued");
            Ok(text(boot::netboot_script(
                &boot::Netboot {
                    public_url: &app.cfg.public_url,
                    kernel: &app.cfg.kernel,
                    initrd: &app.cfg.initrd,
                    cmdline: &app.cfg.cmdline,
                },
                run,
                host.unwrap_or_default(),
                &token,
            )))
        }
        BootScript::LocalDisk { run, why } => {
            app.ctx
                .store
                .boot_request(&mac, run.as_deref(), &decision.log_note())
                .await?;
            Ok(text(boot::local_disk_script(&mac, why)))
        }
    }
}

// ------------------------------------------------------------- operator API

fn operator_auth(app: &App, h: &HeaderMap) -> R<()> {
    check_operator(app, bearer(h))
}

/// Reads (runs, reports, hosts) also take the token from the `e2et_operator`
/// cookie `/login` sets, so the dashboard's report links work in a browser.
/// Writes need the bearer header: a cookie rides along cross-site requests.
fn operator_read_auth(app: &App, h: &HeaderMap) -> R<()> {
    if app.cfg.operator_token_sha256.is_some() && bearer(h).is_none() {
        if let Some(c) = operator_cookie(h) {
            return check_digest(app, c);
        }
    }
    operator_auth(app, h)
}

/// The cookie holds the token's sha256 (hex), not the token: a leaked cookie
/// reads, but never writes.
const OPERATOR_COOKIE: &str = "e2et_operator";

fn operator_cookie(h: &HeaderMap) -> Option<[u8; 32]> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            kv.trim()
                .strip_prefix(OPERATOR_COOKIE)
                .and_then(|r| r.strip_prefix('='))
        })
        .and_then(|v| hex::decode(v).ok())
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
}

fn check_digest(app: &App, got: [u8; 32]) -> R<()> {
    match app.cfg.operator_token_sha256 {
        Some(want) if !bool::from(got.ct_eq(&want)) => Err(ApiErr(
            StatusCode::UNAUTHORIZED,
            "operator_token",
            "a valid operator bearer token is required (browsers: sign in at /login)".into(),
        )),
        _ => Ok(()),
    }
}

fn check_operator(app: &App, token: Option<&str>) -> R<()> {
    check_digest(app, token.map(sha256).unwrap_or([0u8; 32]))
}

fn html_page(status: StatusCode, title: &str, body: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>e2et: {t}</title></head><body style=\"font-family:sans-serif;margin:2em\"><h1>{t}</h1>{body}</body></html>\n",
            t = html_escape(title)
        ),
    )
        .into_response()
}

/// `GET /login` — a form for the operator token (browsers cannot send a
/// bearer header from a link).
async fn login_form(State(app): State<Shared>) -> Response {
    if app.cfg.operator_token_sha256.is_none() {
        return html_page(
            StatusCode::OK,
            "No sign-in needed",
            "<p>This coordinator has no operator token configured. <a href=\"/\">Dashboard</a></p>",
        );
    }
    html_page(
        StatusCode::OK,
        "Sign in",
        "<form method=\"post\" action=\"/login\"><label>Operator token <input type=\"password\" name=\"token\" autocomplete=\"current-password\" required></label> <button>Sign in</button></form>",
    )
}

/// `POST /login` (form `token=...`): on the right token, a cookie for reads
/// (HttpOnly, SameSite=Strict; Secure behind https) and back to `/`.
async fn login(State(app): State<Shared>, body: axum::body::Bytes) -> Response {
    #[derive(serde::Deserialize)]
    struct Form {
        token: String,
    }
    let Ok(Form { token }) = serde_urlencoded::from_bytes::<Form>(&body) else {
        return html_page(
            StatusCode::BAD_REQUEST,
            "Sign in",
            "<p>Expected a form with a <code>token</code> field. <a href=\"/login\">Try again</a></p>",
        );
    };
    if check_operator(&app, Some(token.trim())).is_err() {
        warn!("dashboard sign-in with a wrong operator token");
        return html_page(
            StatusCode::UNAUTHORIZED,
            "Sign in",
            "<p>That is not the operator token. <a href=\"/login\">Try again</a></p>",
        );
    }
    let secure = if app.cfg.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                format!(
                    "{OPERATOR_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict{secure}",
                    hex::encode(sha256(token.trim()))
                ),
            ),
            (header::LOCATION, "/".to_string()),
        ],
    )
        .into_response()
}

fn view(app: &App, r: crate::store::RunRow) -> R<RunView> {
    summary_view(
        app,
        crate::store::RunSummary {
            has_report: r.report_json.is_some(),
            id: r.id,
            host: r.host,
            mode: r.mode,
            state: r.state,
            created_at: r.created_at,
            updated_at: r.updated_at,
            note: r.note,
            verdict: r.verdict,
            score: r.score,
            zone: r.zone,
        },
    )
}

fn new_run_id() -> String {
    let mut b = [0u8; 3];
    rand::thread_rng().fill_bytes(&mut b);
    format!(
        "r{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S"),
        hex::encode(b)
    )
}

/// `POST /api/v1/runs` — operator. Starts a run of a host of the inventory:
/// cold (the whole lifecycle) or quick (power cycle and revalidation of the
/// installed system, whose agent enrols with the host's key).
async fn create_run(
    State(app): State<Shared>,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> R<(StatusCode, Json<RunView>)> {
    operator_auth(&app, &h)?;
    let req: CreateRunRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiErr(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("invalid run request: {e}"),
        )
    })?;
    let spec = app.ctx.inventory.hosts.get(&req.host).ok_or(ApiErr(
        StatusCode::NOT_FOUND,
        "unknown_host",
        format!("host {} is not in the inventory", req.host),
    ))?;
    if req.mode == RunMode::Quick {
        // Without the host's enrolment key the installed system's agent
        // could never get a token: refuse now rather than time out later.
        enrolment_key(&app, &req.host).map_err(|e| {
            ApiErr(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no_enrolment_key",
                format!("a quick run of {} needs its enrolment key: {e}", req.host),
            )
        })?;
    }
    if let Some(r) = app.ctx.store.host_blocker(&req.host)? {
        return Err(ApiErr(
            StatusCode::CONFLICT,
            "host_busy",
            format!("host {} already has run {} in {}", req.host, r.id, r.state),
        ));
    }
    let id = new_run_id();
    app.ctx.create_run(&id, &req.host, req.mode, spec).await?;
    info!(run = %id, host = %req.host, "run created");
    engine::spawn(app.ctx.clone(), id.clone());
    let row = app.ctx.store.run(&id)?.ok_or(ApiErr(
        StatusCode::INTERNAL_SERVER_ERROR,
        "store",
        "run vanished".into(),
    ))?;
    Ok((StatusCode::CREATED, Json(view(&app, row)?)))
}

/// `GET /api/v1/runs[?limit=N][&before=<run>]` — operator. The newest runs
/// first, 100 unless `limit` says (at most 1000); `before` pages back.
async fn list_runs(
    State(app): State<Shared>,
    h: HeaderMap,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> R<Json<Vec<RunView>>> {
    operator_read_auth(&app, &h)?;
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Page {
        limit: Option<usize>,
        before: Option<String>,
    }
    let page: Page = serde_urlencoded::from_str(q.as_deref().unwrap_or("")).map_err(|e| {
        ApiErr(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("query parameters are limit (a number) and before (a run id): {e}"),
        )
    })?;
    let limit = page.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiErr(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("limit {limit} is out of range 1..=1000"),
        ));
    }
    let rows = app.ctx.store.recent_runs(limit, page.before.as_deref())?;
    Ok(Json(
        rows.into_iter()
            .map(|r| summary_view(&app, r))
            .collect::<R<Vec<_>>>()?,
    ))
}

fn summary_view(app: &App, r: crate::store::RunSummary) -> R<RunView> {
    let transitions = app.ctx.store.transitions(&r.id)?;
    Ok(RunView {
        verdict: crate::store::parse_label(r.verdict.as_deref()),
        zone: crate::store::parse_label(r.zone.as_deref()),
        id: r.id,
        host: r.host,
        mode: r.mode,
        state: r.state,
        score: r.score,
        created_at: r.created_at,
        updated_at: r.updated_at,
        note: r.note,
        transitions,
    })
}

/// `GET /api/v1/runs/<id>` — operator.
async fn get_run(
    State(app): State<Shared>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> R<Json<RunView>> {
    operator_read_auth(&app, &h)?;
    let r = app.ctx.store.run(&id)?.ok_or(ApiErr(
        StatusCode::NOT_FOUND,
        "no_run",
        format!("run {id} not found"),
    ))?;
    Ok(Json(view(&app, r)?))
}

/// `GET /api/v1/runs/<id>/report.{json,md,junit.xml}` — operator.
async fn get_report(
    State(app): State<Shared>,
    h: HeaderMap,
    Path((id, file)): Path<(String, String)>,
) -> R<Response> {
    operator_read_auth(&app, &h)?;
    if file == "console.log" {
        return console_log(&app, &id);
    }
    let (fmt, ctype) = match file.as_str() {
        "report.json" => (render::Format::Json, "application/json"),
        "report.md" => (render::Format::Md, "text/markdown; charset=utf-8"),
        "report.junit.xml" => (render::Format::Junit, "application/xml"),
        "report.html" => (render::Format::Html, "text/html; charset=utf-8"),
        _ => {
            return Err(ApiErr(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no {file}; use report.json, report.md, report.junit.xml, report.html or console.log"),
            ))
        }
    };
    let r = app.ctx.store.run(&id)?.ok_or(ApiErr(
        StatusCode::NOT_FOUND,
        "no_run",
        format!("run {id} not found"),
    ))?;
    let Some(json) = r.report_json else {
        return Err(ApiErr(
            StatusCode::CONFLICT,
            "no_report_yet",
            format!("run {id} is in {}; the report exists once it ends", r.state),
        ));
    };
    let report: Report = serde_json::from_str(&json).map_err(StoreError::from)?;
    Ok((
        [(header::CONTENT_TYPE, ctype)],
        render::render(&report, fmt),
    )
        .into_response())
}

/// `GET /api/v1/runs/<id>/console.log` — operator (read). The run's serial
/// console as the coordinator kept it (hosts with `consoleCapture`), while the
/// run is in flight too.
fn console_log(app: &App, id: &str) -> R<Response> {
    let r = app.ctx.store.run(id)?.ok_or(ApiErr(
        StatusCode::NOT_FOUND,
        "no_run",
        format!("run {id} not found"),
    ))?;
    let spec: e2et_model::HostSpec =
        serde_json::from_str(&r.spec_json).map_err(StoreError::from)?;
    let missing = |why: String| ApiErr(StatusCode::NOT_FOUND, "no_console", why);
    if spec.console_capture.is_none() {
        return Err(missing(format!(
            "host {} has no consoleCapture in the inventory this run was started with",
            r.host
        )));
    }
    let path = crate::console::path(&app.ctx, id)
        .ok_or_else(|| missing("this coordinator keeps no consoles (--console-dir)".into()))?;
    let bytes = std::fs::read(&path).map_err(|e| {
        missing(format!(
            "no console kept for run {id} ({}: {e}); it may have expired (--retention-days)",
            path.display()
        ))
    })?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], bytes).into_response())
}

/// `POST /api/v1/runs/<id>/hold` and `/release` — operator, body
/// `{"reason": "..."}`. Hold keeps a failed or incomplete run's host for
/// inspection (no new run starts on it); release hands it back.
async fn run_action(
    State(app): State<Shared>,
    h: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> R<Json<RunView>> {
    use crate::lifecycle::operator::{self, OperatorAction, Refused};
    operator_auth(&app, &h)?;
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Reason {
        reason: String,
    }
    let r: Reason = serde_json::from_slice(&body).map_err(|e| {
        ApiErr(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("expected {{\"reason\": \"...\"}}: {e}"),
        )
    })?;
    let Some(act) = OperatorAction::parse(&action) else {
        return Err(ApiErr(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no action {action}; use hold or release"),
        ));
    };
    let run = app.ctx.store.run(&id)?.ok_or(ApiErr(
        StatusCode::NOT_FOUND,
        "no_run",
        format!("run {id} not found"),
    ))?;
    let (to, note) = operator::decide(&id, run.mode, run.state, act, &r.reason).map_err(|e| {
        let code = match e {
            Refused::NoReason => (StatusCode::BAD_REQUEST, "no_reason"),
            Refused::State { .. } => (StatusCode::CONFLICT, "bad_state"),
        };
        ApiErr(code.0, code.1, e.to_string())
    })?;
    app.ctx.transition(&id, to, &note).await?;
    info!(run = %id, %action, reason = %r.reason, "operator action");
    let row = app.ctx.store.run(&id)?.ok_or(ApiErr(
        StatusCode::NOT_FOUND,
        "no_run",
        "run vanished".into(),
    ))?;
    Ok(Json(view(&app, row)?))
}

/// `GET /api/v1/hosts` — operator. Inventory hosts with their last run and
/// their last-known-good configuration.
async fn hosts(State(app): State<Shared>, h: HeaderMap) -> R<Json<serde_json::Value>> {
    operator_read_auth(&app, &h)?;
    let mut out = serde_json::Map::new();
    for (name, spec) in &app.ctx.inventory.hosts {
        let last = app.ctx.store.last_run(name)?;
        let lkg = app.ctx.store.last_known_good(name)?;
        out.insert(
            name.clone(),
            serde_json::json!({
                "mac": spec.mac, "ip": spec.ip, "fqdn": spec.fqdn,
                "requiredZone": spec.required_zone,
                "lastKnownGood": lkg.map(|l| serde_json::json!({"run": l.run_id, "revision": l.revision, "promotedAt": l.promoted_at})),
                "lastRun": last.map(|r| serde_json::json!({"id": r.id, "state": r.state, "verdict": r.verdict, "score": r.score, "zone": r.zone, "note": r.note})),
            }),
        );
    }
    Ok(Json(serde_json::Value::Object(out)))
}
