//! The agent API: hello, facts, heartbeat, throughput, enrolment.
use super::auth::*;
use super::error::{ApiErr, R};
use super::{App, Shared};
use crate::evidence;
use crate::lifecycle::claims::{self, Binding};
use crate::store::Enrolled;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use e2et_model::api::*;
use e2et_model::{RunMode, RunState};
use rand::RngCore;
use std::net::SocketAddr;
use subtle::ConstantTimeEq;
use tracing::{info, warn};

/// `bind` returns conflicts as errors; this keeps the match exhaustive
/// without a panic.
fn unreachable_conflict() -> R<u32> {
    Err(ApiErr(
        StatusCode::CONFLICT,
        "conflicting_agents",
        "conflicting agents".into(),
    ))
}

/// An answer to an agent. An enrolling agent (on a host's installed system,
/// whose token came by enrolment, not on a netboot script) sends a nonce and
/// a timestamp with each request and trusts only an answer signed over them
/// with the host's enrolment key; every other agent gets the plain answer.
fn answer<T: serde::Serialize>(app: &App, h: &HeaderMap, host: &str, body: &T) -> Response {
    let bytes = match serde_json::to_vec(body) {
        Ok(b) => b,
        Err(e) => {
            return ApiErr(
                StatusCode::INTERNAL_SERVER_ERROR,
                "encode",
                format!("cannot encode the answer: {e}"),
            )
            .into_response()
        }
    };
    let header = |name: &str| h.get(name).and_then(|v| v.to_str().ok());
    let signature = match (header(ENROL_TIMESTAMP_HEADER), header(NONCE_HEADER)) {
        (Some(ts), Some(nonce)) => match enrolment_key(app, host) {
            Ok(key) => Some(format!(
                "sha256={}",
                answer_signature_hex(key.as_bytes(), ts, nonce, &bytes)
            )),
            // The agent refuses the unsigned answer: it stops, runs nothing.
            Err(e) => {
                warn!(host, "cannot sign the answer to an enrolling agent: {e}");
                None
            }
        },
        _ => None,
    };
    let mut resp = (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        bytes,
    )
        .into_response();
    if let Some(v) = signature.and_then(|s| axum::http::HeaderValue::from_str(&s).ok()) {
        resp.headers_mut().insert(ANSWER_SIGNATURE_HEADER, v);
    }
    resp
}

/// `POST /api/v1/agent/hello` — agent token, from the host's address. Records a boot; boot 1 only while
/// provisioning, boot 2 only after the power cycle.
pub(super) async fn hello(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    h: HeaderMap,
    authed: Option<axum::Extension<Authed>>,
    Json(req): Json<HelloRequest>,
) -> R<Response> {
    let call = agent_call(&app, &h, peer.ip(), &req.run_id, authed.map(|a| a.0)).await?;
    let binding = bind(&app, &call, &req.run_id, &req.boot_id).await?;
    let run = call.run;
    let state = run.state;
    let seq = match binding {
        Binding::Bound(s) => s,
        Binding::Conflict(_) => unreachable_conflict()?,
        Binding::Unbound(_) => {
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
            // An enrolled token speaks only for the boot that enrolled.
            if run.mode == RunMode::Quick {
                if let Some(enrolled) = app.ctx.store.enrolled_boot(&req.run_id)? {
                    if enrolled != req.boot_id {
                        let reason = claims::not_the_enrolled_boot(&enrolled, &req.boot_id);
                        evidence::conflict(&app.ctx, &req.run_id, &reason).await?;
                        return Err(ApiErr(StatusCode::CONFLICT, "conflicting_agents", reason));
                    }
                }
            }
            // Stored and shown without the token (e2et_model::redact).
            app.ctx
                .add_boot(
                    &req.run_id,
                    &req.boot_id,
                    &e2et_model::redact::tokens(&req.cmdline),
                )
                .await?
                .0
        }
    };
    info!(run = %req.run_id, seq, boot_id = %req.boot_id, hostname = %req.hostname, "hello");
    run.contact.touch(crate::live::ContactKind::Hello);
    app.ctx.wakers.wake(&req.run_id);
    let spec = &run.spec;
    let tcp_url = Some(format!("{}/api/v1/agent/throughput", app.cfg.public_url));
    Ok(answer(
        &app,
        &h,
        &run.host,
        &HelloResponse {
            boot_seq: seq,
            probe: spec
                .expect
                .probe_spec(Some(&spec.fqdn), Some(&spec.ip), tcp_url),
        },
    ))
}

/// The throughput upload may stall this long between chunks.
const THROUGHPUT_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// The largest upload the throughput test may send (the spec caps it at 4 GiB).
pub(super) const MAX_THROUGHPUT_BYTES: usize = 4 << 30;

/// `POST /api/v1/agent/throughput` — agent token (of a live run). Reads and
/// discards the body, answering how many bytes arrived and how long it took:
/// the probe's TCP throughput test.
pub(super) async fn throughput(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    h: HeaderMap,
    authed: Option<axum::Extension<Authed>>,
    body: axum::body::Body,
) -> R<Json<serde_json::Value>> {
    // The gate found the token's live run; without it (an ended run's
    // token) the store says why not.
    if authed.is_none() {
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
        agent_auth(&app, &h, peer.ip(), &run_id).await?;
    }
    let t = std::time::Instant::now();
    let mut bytes: u64 = 0;
    let mut stream = body.into_data_stream();
    use futures_util::StreamExt;
    loop {
        // An upload that stalls is cut off (the route has no overall deadline).
        let next = tokio::time::timeout(THROUGHPUT_IDLE, stream.next())
            .await
            .map_err(|_| {
                ApiErr(
                    StatusCode::REQUEST_TIMEOUT,
                    "stalled",
                    format!(
                        "upload stalled for {}s after {bytes} bytes",
                        THROUGHPUT_IDLE.as_secs()
                    ),
                )
            })?;
        let Some(chunk) = next else { break };
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
pub(super) async fn facts(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    h: HeaderMap,
    authed: Option<axum::Extension<Authed>>,
    Json(mut req): Json<FactsRequest>,
) -> R<Response> {
    // The facts are stored, scored and reported without the run's token.
    req.facts.first_boot.cmdline =
        e2et_model::redact::tokens(&req.facts.first_boot.cmdline).into_owned();
    let call = agent_call(&app, &h, peer.ip(), &req.run_id, authed.map(|a| a.0)).await?;
    let Binding::Bound(seq) = bind(&app, &call, &req.run_id, &req.boot_id).await? else {
        return Err(ApiErr(
            StatusCode::CONFLICT,
            "no_hello",
            "say hello for this boot first".into(),
        ));
    };
    let run = call.run;
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
    let bad = req.facts.out_of_range();
    if !bad.is_empty() {
        return Err(ApiErr(
            StatusCode::UNPROCESSABLE_ENTITY,
            "out_of_range",
            format!(
                "facts refused, values out of range: {}",
                e2et_model::redact::tokens(&bad.join("; "))
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
    Ok(answer(
        &app,
        &h,
        &run.host,
        &FactsResponse {
            accepted,
            boot_seq: seq,
        },
    ))
}

/// `POST /api/v1/agent/heartbeat` — agent token. The answer carries the next
/// command, derived from the run's state: boot 1's agent is asked to power off
/// once the run enters its power cycle.
pub(super) async fn heartbeat(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    h: HeaderMap,
    authed: Option<axum::Extension<Authed>>,
    Json(req): Json<HeartbeatRequest>,
) -> Response {
    let call = match agent_call(&app, &h, peer.ip(), &req.run_id, authed.map(|a| a.0)).await {
        Ok(c) => c,
        Err(ApiErr(StatusCode::GONE, ..)) => {
            return Json(HeartbeatResponse {
                command: AgentCommand::Abort,
            })
            .into_response()
        }
        Err(e) => return e.into_response(),
    };
    if let Err(e) = bind(&app, &call, &req.run_id, &req.boot_id).await {
        return e.into_response();
    }
    let run = call.run;
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
    answer(
        &app,
        &h,
        &run.host,
        &HeartbeatResponse {
            command: beat.command,
        },
    )
}

/// The host's enrolment key: `agent-<host>` in the credentials directory.
pub(super) fn enrolment_key(app: &App, host: &str) -> Result<String, String> {
    let dir = app.cfg.credentials_dir.as_ref().ok_or_else(|| {
        format!("no credentials directory (set --credentials-dir or CREDENTIALS_DIRECTORY) for agent-{host}")
    })?;
    e2et_pdu::drivers::read_secret(&dir.join(format!("agent-{host}")))
}

/// `POST /api/v1/agent/enrol` — signed with the host's enrolment key (see
/// `EnrolRequest`). An agent on the installed system of a host whose quick
/// run waits for it (revalidate) gets a run token for its boot, once.
pub(super) async fn enrol(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> R<Response> {
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
    // The address the run was created with (the inventory's, if the run is
    // not in memory).
    let ip = match app.ctx.live.get(&run.id) {
        Some(r) => {
            refuse_if_conflicted(&r)?;
            r.spec.ip.clone()
        }
        None => app
            .ctx
            .inventory
            .hosts
            .get(&req.host)
            .map(|h| h.ip.clone())
            .unwrap_or_default(),
    };
    if !claims::from_host(peer.ip(), &ip) {
        let reason = claims::foreign_source(&req.host, &ip, peer.ip(), "an enrolment");
        evidence::conflict(&app.ctx, &run.id, &reason).await?;
        return Err(ApiErr(
            StatusCode::FORBIDDEN,
            "foreign_source",
            "enrolments are taken from the host's address only".into(),
        ));
    }
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let token = hex::encode(raw);
    let hash = hex::encode(sha256(&token));
    let source = peer.ip().to_canonical().to_string();
    match app
        .ctx
        .store
        .enrol(&run.id, &req.boot_id, &hash, &source)
        .await?
    {
        Enrolled::New => {}
        Enrolled::Again => {
            return Err(ApiErr(
                StatusCode::CONFLICT,
                "enrolled",
                format!(
                    "boot {} already enrolled in run {}: one token per boot",
                    req.boot_id, run.id
                ),
            ))
        }
        Enrolled::Other(first) => {
            let reason = claims::second_enrolment(&first, &req.boot_id);
            evidence::conflict(&app.ctx, &run.id, &reason).await?;
            return Err(ApiErr(StatusCode::CONFLICT, "conflicting_agents", reason));
        }
    }
    app.ctx.live.token(&hash, &run.id, 1);
    info!(run = %run.id, host = %req.host, boot_id = %req.boot_id, "agent enrolled");
    Ok(answer(
        &app,
        &h,
        &req.host,
        &e2et_model::api::EnrolResponse {
            run_id: run.id,
            token,
        },
    ))
}
