//! The dashboard (templates/dashboard.html), sign-in, server-sent events and
//! Prometheus metrics.
use super::auth::*;
use super::error::{ApiErr, R};
use super::Shared;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tracing::warn;

/// The dashboard page (templates/dashboard.html); askama escapes every
/// value it inserts.
#[derive(askama::Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    /// A JS string literal holding the JSON list of hosts whose console is
    /// kept (dataset values are strings), with no '<' that could close the
    /// script element.
    consoles_js: String,
    hosts: Vec<HostRow>,
    runs: Vec<RunLine>,
    max_runs: usize,
}

struct HostRow {
    name: String,
    class: &'static str,
    fqdn: String,
    required: String,
    run: String,
    state: String,
    verdict: String,
    score: String,
    zone: String,
    note: String,
    last_known_good: String,
}

struct RunLine {
    id: String,
    host: String,
    mode: &'static str,
    state: &'static str,
    verdict: String,
    score: String,
    zone: String,
    updated: String,
    note: String,
    has_report: bool,
    console: bool,
}

/// A small page (templates/page.html).
#[derive(askama::Template)]
#[template(path = "page.html")]
struct Page {
    title: &'static str,
    body: PageBody,
}

enum PageBody {
    NoTokenNeeded,
    SignIn,
    NotAForm,
    WrongToken,
}

fn dash(v: Option<String>) -> String {
    v.unwrap_or_else(|| "-".into())
}

fn render_html(status: StatusCode, page: &impl askama::Template) -> Response {
    match page.render() {
        Ok(html) => (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            html,
        )
            .into_response(),
        Err(e) => ApiErr(
            StatusCode::INTERNAL_SERVER_ERROR,
            "template",
            format!("cannot render the page: {e}"),
        )
        .into_response(),
    }
}

/// `GET /` — the dashboard: hosts with their last run (why it is held, if
/// it is), the newest runs with links to their reports, changing live.
/// Read-only and without secrets, so it needs no token (the reports do).
pub(super) async fn dashboard(State(app): State<Shared>) -> R<Response> {
    let runs = app.ctx.store.recent_runs(DASHBOARD_RUNS, None)?;
    let consoles: Vec<&str> = app
        .ctx
        .inventory
        .hosts
        .iter()
        .filter(|(_, h)| h.console_capture.is_some())
        .map(|(n, _)| n.as_str())
        .collect();
    let consoles_js =
        serde_json::to_string(&serde_json::to_string(&consoles).unwrap_or_else(|_| "[]".into()))
            .unwrap_or_else(|_| "\"[]\"".into())
            .replace('<', "\\u003c");
    let mut hosts = Vec::new();
    for (name, spec) in &app.ctx.inventory.hosts {
        let last = app.ctx.store.last_run(name)?;
        let last = last.as_ref();
        let lkg = app.ctx.store.last_known_good(name)?;
        hosts.push(HostRow {
            name: name.clone(),
            class: last.map_or("", |r| r.state.as_str()),
            fqdn: spec.fqdn.clone(),
            required: spec.required_zone.to_string(),
            run: dash(last.map(|r| r.id.clone())),
            state: dash(last.map(|r| r.state.to_string())),
            verdict: dash(last.and_then(|r| r.verdict.clone())),
            score: dash(last.and_then(|r| r.score).map(|x| format!("{x:.2}"))),
            zone: dash(last.and_then(|r| r.zone.clone())),
            note: dash(last.map(|r| r.note.clone())),
            last_known_good: dash(lkg.map(|l| format!("{} (run {})", l.revision, l.run_id))),
        });
    }
    let runs = runs
        .into_iter()
        .map(|r| RunLine {
            console: consoles.contains(&r.host.as_str()),
            mode: r.mode.as_str(),
            state: r.state.as_str(),
            verdict: dash(r.verdict),
            score: dash(r.score.map(|x| format!("{x:.2}"))),
            zone: dash(r.zone),
            has_report: r.has_report,
            id: r.id,
            host: r.host,
            updated: r.updated_at,
            note: r.note,
        })
        .collect();
    Ok(render_html(
        StatusCode::OK,
        &DashboardPage {
            consoles_js,
            hosts,
            runs,
            max_runs: DASHBOARD_RUNS,
        },
    ))
}

/// Runs the dashboard lists.
pub(super) const DASHBOARD_RUNS: usize = 200;

/// `GET /api/v1/events` — server-sent events: `event: run` carrying a
/// `RunEvent` for each durable change of a run's state, `event: resync` when
/// the client's `Last-Event-ID` is no longer in the backlog (it must reload
/// its view). Read-only like the dashboard, which it feeds: no token.
pub(super) async fn events(State(app): State<Shared>, h: HeaderMap) -> Response {
    use axum::response::sse::{Event as Sse, KeepAlive};
    use futures_util::StreamExt;
    use tokio::sync::broadcast::error::RecvError;
    // A bounded number of subscribers: each holds a slot while it listens.
    let Ok(slot) = app.sse_slots.clone().try_acquire_owned() else {
        return ApiErr(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_subscribers",
            format!(
                "{} event subscribers already listen; retry later",
                app.cfg.max_event_subscribers
            ),
        )
        .into_response();
    };
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
    axum::response::sse::Sse::new(futures_util::stream::iter(head).chain(tail).map(move |e| {
        let _held = &slot;
        Ok::<_, std::convert::Infallible>(e)
    }))
    .keep_alive(KeepAlive::default())
    .into_response()
}

/// `GET /metrics` — Prometheus text format (no auth: scrape from the
/// management network).
pub(super) async fn metrics(State(app): State<Shared>) -> R<Response> {
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

/// `GET /login` — a form for the operator token (browsers cannot send a
/// bearer header from a link).
pub(super) async fn login_form(State(app): State<Shared>) -> Response {
    if app.cfg.operator_token_sha256.is_none() {
        return render_html(
            StatusCode::OK,
            &Page {
                title: "No sign-in needed",
                body: PageBody::NoTokenNeeded,
            },
        );
    }
    render_html(
        StatusCode::OK,
        &Page {
            title: "Sign in",
            body: PageBody::SignIn,
        },
    )
}

/// `POST /login` (form `token=...`): on the right token, a cookie for reads
/// (HttpOnly, SameSite=Strict; Secure behind https) and back to `/`.
/// At most 5 attempts per address a minute (429 beyond).
pub(super) async fn login(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    body: axum::body::Bytes,
) -> Response {
    if !app.session.attempt(peer.ip()) {
        warn!(peer = %peer.ip(), "too many dashboard sign-in attempts");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "60")],
            "too many sign-in attempts from this address: wait a minute\n",
        )
            .into_response();
    }
    #[derive(serde::Deserialize)]
    struct Form {
        token: String,
    }
    let Ok(Form { token }) = serde_urlencoded::from_bytes::<Form>(&body) else {
        return render_html(
            StatusCode::BAD_REQUEST,
            &Page {
                title: "Sign in",
                body: PageBody::NotAForm,
            },
        );
    };
    if check_operator(&app, Some(token.trim())).is_err() {
        warn!("dashboard sign-in with a wrong operator token");
        return render_html(
            StatusCode::UNAUTHORIZED,
            &Page {
                title: "Sign in",
                body: PageBody::WrongToken,
            },
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
                    app.session.cookie_value()
                ),
            ),
            (header::LOCATION, "/".to_string()),
        ],
    )
        .into_response()
}
