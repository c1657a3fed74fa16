//! Credentials before bodies: agent calls and operator writes are checked
//! on their headers and source address alone, so an unauthenticated client
//! never makes e2etd read (or wait for) a body. The gate hands what it found
//! to the handler (`Authed`), which checks it against what the body says
//! (the run it names, the boot it speaks for).
use super::auth::*;
use super::error::ApiErr;
use super::Shared;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

/// Agent routes (hello, facts, heartbeat, throughput): a run token this
/// coordinator issued, from its host's address. An ended run's token passes
/// (heartbeat answers it `abort`; the others refuse it themselves).
pub(super) async fn agent(State(app): State<Shared>, mut req: Request, next: Next) -> Response {
    let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() else {
        return no_peer();
    };
    let Some(token) = bearer(req.headers()) else {
        return ApiErr(
            StatusCode::UNAUTHORIZED,
            "no_token",
            "Authorization: Bearer <run token> required".into(),
        )
        .into_response();
    };
    let hash = hex::encode(sha256(token));
    let run_id = match app.ctx.live.run_of_token(&hash) {
        Some((run, _)) => run,
        None => match app.ctx.store.token_run(&hash) {
            Ok(Some((run, _))) => run,
            Ok(None) => {
                return ApiErr(
                    StatusCode::UNAUTHORIZED,
                    "bad_token",
                    "token not issued by this coordinator".into(),
                )
                .into_response()
            }
            Err(e) => return ApiErr::from(e).into_response(),
        },
    };
    match agent_auth(&app, req.headers(), peer.ip(), &run_id).await {
        Ok(call) => {
            req.extensions_mut().insert(Authed { run_id, call });
            next.run(req).await
        }
        Err(ApiErr(StatusCode::GONE, ..)) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// Operator writes (create a run, hold, release): the operator's bearer
/// token and a JSON body type, before the body.
pub(super) async fn operator_write(
    State(app): State<Shared>,
    req: Request,
    next: Next,
) -> Response {
    if let Err(e) = operator_auth(&app, req.headers()).and_then(|()| json_write(req.headers())) {
        return e.into_response();
    }
    next.run(req).await
}

fn no_peer() -> Response {
    ApiErr(
        StatusCode::INTERNAL_SERVER_ERROR,
        "no_peer",
        "the server did not record the client's address".into(),
    )
    .into_response()
}
