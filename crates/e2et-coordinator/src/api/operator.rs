//! The operator API: runs, reports, consoles, hold and release, hosts.
use super::agent::enrolment_key;
use super::auth::*;
use super::error::{ApiErr, R};
use super::{App, Shared};
use crate::store::StoreError;
use crate::supervisor;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use e2et_model::api::*;
use e2et_model::report::Report;
use e2et_model::RunMode;
use e2et_score::render;
use rand::RngCore;
use tracing::info;

pub(super) fn view(app: &App, r: crate::store::RunRow) -> R<RunView> {
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

pub(super) fn new_run_id() -> String {
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
pub(super) async fn create_run(
    State(app): State<Shared>,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> R<(StatusCode, Json<RunView>)> {
    operator_auth(&app, &h)?;
    json_write(&h)?;
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
    supervisor::spawn(app.ctx.clone(), id.clone());
    let row = app.ctx.store.run(&id)?.ok_or(ApiErr(
        StatusCode::INTERNAL_SERVER_ERROR,
        "store",
        "run vanished".into(),
    ))?;
    Ok((StatusCode::CREATED, Json(view(&app, row)?)))
}

/// `GET /api/v1/runs[?limit=N][&before=<run>]` — operator. The newest runs
/// first, 100 unless `limit` says (at most 1000); `before` pages back.
pub(super) async fn list_runs(
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

pub(super) fn summary_view(app: &App, r: crate::store::RunSummary) -> R<RunView> {
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
pub(super) async fn get_run(
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

/// `GET /api/v1/runs/<id>/report.{json,md,junit.xml,html}` (`ReportFormat`) and
/// `console.log` — operator (bearer token or the read cookie).
pub(super) async fn get_report(
    State(app): State<Shared>,
    h: HeaderMap,
    Path((id, file)): Path<(String, String)>,
) -> R<Response> {
    operator_read_auth(&app, &h)?;
    if file == "console.log" {
        return console_log(&app, &id);
    }
    let Some(fmt) = ReportFormat::from_file_name(&file) else {
        let files: Vec<_> = ReportFormat::ALL.iter().map(|f| f.file_name()).collect();
        return Err(ApiErr(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no {file}; use {} or console.log", files.join(", ")),
        ));
    };
    let ctype = fmt.content_type();
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
pub(super) fn console_log(app: &App, id: &str) -> R<Response> {
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
    let path = app
        .ctx
        .consoles
        .path(id)
        .ok_or_else(|| missing("this coordinator keeps no consoles (--console-dir)".into()))?;
    let bytes = std::fs::read(&path).map_err(|e| {
        missing(format!(
            "no console kept for run {id} ({}: {e}); it may have expired (--retention-days)",
            path.display()
        ))
    })?;
    // The kernel prints its command line, token included: never served.
    let bytes = e2et_model::redact::token_bytes(&bytes);
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], bytes).into_response())
}

/// `POST /api/v1/runs/<id>/hold` and `/release` — operator, body
/// `{"reason": "..."}`. Hold keeps a failed or incomplete run's host for
/// inspection (no new run starts on it); release hands it back.
pub(super) async fn run_action(
    State(app): State<Shared>,
    h: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> R<Json<RunView>> {
    use crate::lifecycle::operator::{self, OperatorAction, Refused};
    operator_auth(&app, &h)?;
    json_write(&h)?;
    let r: ActionRequest = serde_json::from_slice(&body).map_err(|e| {
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
    app.ctx.transition(&id, run.state, to, &note).await?;
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
pub(super) async fn hosts(State(app): State<Shared>, h: HeaderMap) -> R<Json<HostsResponse>> {
    operator_read_auth(&app, &h)?;
    let mut out = HostsResponse::new();
    for (name, spec) in &app.ctx.inventory.hosts {
        let last = app.ctx.store.last_run(name)?;
        let lkg = app.ctx.store.last_known_good(name)?;
        out.insert(
            name.clone(),
            HostView {
                mac: spec.mac.clone(),
                ip: spec.ip.clone(),
                fqdn: spec.fqdn.clone(),
                required_zone: spec.required_zone,
                last_known_good: lkg.map(|l| LastKnownGoodView {
                    run: l.run_id,
                    revision: l.revision,
                    promoted_at: l.promoted_at,
                }),
                last_run: last.map(|r| LastRunView {
                    id: r.id,
                    state: r.state,
                    verdict: r.verdict,
                    score: r.score,
                    zone: r.zone,
                    note: r.note,
                }),
            },
        );
    }
    Ok(Json(out))
}
