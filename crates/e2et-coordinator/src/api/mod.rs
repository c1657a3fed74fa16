//! HTTP, split by audience over one router: agent API (`agent.rs`, the boot
//! window's token, from the host's own address), boot API (`boot.rs`, iPXE
//! scripts and artifacts; anyone may ask, only the host's address gets a
//! token, once per boot window: lifecycle::claims), operator API (`operator.rs`,
//! bearer token), dashboard, sign-in, events and metrics (`dashboard.rs`);
//! authentication in `auth.rs`, errors as JSON in `error.rs`. Each handler
//! parses, asks the lifecycle core or the engine, and renders; each names
//! its route and who may call it in its doc comment. `gate.rs` checks the
//! credentials of agent calls and operator writes before any body is read.
mod agent;
mod auth;
mod boot;
mod dashboard;
mod error;
mod gate;
mod operator;

use crate::ctx::Ctx;
pub use auth::{sha256, Session};
use axum::extract::{DefaultBodyLimit, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use std::path::PathBuf;
use std::sync::Arc;

pub struct AppConfig {
    /// Base URL hosts use to reach this coordinator (`http://10.99.0.1:8080`).
    pub public_url: String,
    pub artifacts: PathBuf,
    pub kernel: String,
    pub initrd: String,
    /// Extra kernel arguments for the netboot image (`console=ttyS0`).
    pub cmdline: String,
    /// The role images (crate::images), served at /boot/images/<name>/.
    pub images: std::collections::BTreeMap<String, crate::images::Image>,
    /// Sha256 of the operator token; `None` leaves the operator API open (lab).
    pub operator_token_sha256: Option<[u8; 32]>,
    /// Where each host's enrolment key is (`agent-<host>`), for quick runs.
    pub credentials_dir: Option<PathBuf>,
    /// How long one API request may take, body included (408 beyond); the
    /// event stream, the throughput upload and the artifacts are exempt.
    pub request_timeout: std::time::Duration,
    /// Event-stream (SSE) subscribers at once; 503 beyond.
    pub max_event_subscribers: usize,
}

pub struct App {
    pub ctx: Arc<Ctx>,
    pub cfg: AppConfig,
    /// The dashboard's sign-in (read cookie, attempts).
    pub session: Session,
    /// One permit per event-stream subscriber (`cfg.max_event_subscribers`).
    pub sse_slots: Arc<tokio::sync::Semaphore>,
}

type Shared = Arc<App>;

pub fn router(app: Shared) -> Router {
    use axum::middleware::from_fn_with_state;
    let agent = from_fn_with_state(app.clone(), gate::agent);
    let operator = from_fn_with_state(app.clone(), gate::operator_write);
    // Requests that answer in bounded time: one deadline each.
    let bounded = Router::new()
        .route(
            "/api/v1/agent/hello",
            post(agent::hello).route_layer(agent.clone()),
        )
        .route(
            "/api/v1/agent/facts",
            post(agent::facts).route_layer(agent.clone()),
        )
        .route(
            "/api/v1/agent/heartbeat",
            post(agent::heartbeat).route_layer(agent.clone()),
        )
        // Signed over its body: the one body read before authentication,
        // 4 KiB at most.
        .route(
            "/api/v1/agent/enrol",
            post(agent::enrol).layer(DefaultBodyLimit::max(4096)),
        )
        .route(
            "/api/v1/runs",
            post(operator::create_run)
                .route_layer(operator.clone())
                .get(operator::list_runs),
        )
        .route("/api/v1/runs/{id}", get(operator::get_run))
        .route(
            "/api/v1/runs/{id}/{file}",
            post(operator::run_action)
                .route_layer(operator)
                .get(operator::get_report),
        )
        .route("/api/v1/hosts", get(operator::hosts))
        .route("/boot/{file}", get(boot::boot_script))
        .route("/", get(dashboard::dashboard))
        .route(
            "/login",
            get(dashboard::login_form)
                .post(dashboard::login)
                .layer(DefaultBodyLimit::max(4096)),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(dashboard::metrics))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            app.cfg.request_timeout,
        ));
    // Streams: long by nature, bounded otherwise (subscriber cap, idle
    // upload timeout, static files).
    let streams = Router::new()
        .route(
            "/api/v1/agent/throughput",
            post(agent::throughput)
                .route_layer(agent)
                .layer(DefaultBodyLimit::max(agent::MAX_THROUGHPUT_BYTES)),
        )
        .route("/api/v1/events", get(dashboard::events))
        .nest_service(
            "/boot/artifacts",
            tower_http::services::ServeDir::new(app.cfg.artifacts.clone()),
        );
    // Each role image's kernel and initrd (and nothing else of its directory).
    let streams = app.cfg.images.iter().fold(streams, |r, (name, img)| {
        ["kernel", "initrd"].iter().fold(r, |r, f| {
            r.route_service(
                &format!("/boot/images/{name}/{f}"),
                tower_http::services::ServeFile::new(img.dir.join(f)),
            )
        })
    });
    bounded
        .merge(streams)
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
            } else if req.uri().path().starts_with("/boot/images/") {
                "/boot/images".into()
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
