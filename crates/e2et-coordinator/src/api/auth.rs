//! Who may call what: the agent's run token, the operator's bearer token or
//! its digest in the read cookie.
use super::error::{ApiErr, R};
use super::App;
use crate::evidence;
use crate::lifecycle::claims::{self, Binding};
use crate::live::LiveRun;
use crate::store::StoreError;
use axum::http::{header, HeaderMap, StatusCode};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::Arc;
use subtle::ConstantTimeEq;

pub fn sha256(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

pub(super) fn bearer(h: &HeaderMap) -> Option<&str> {
    h.get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// A request authenticated as a run's agent: the run, and the boot window
/// of the token it carried.
#[derive(Clone)]
pub(super) struct AgentCall {
    pub run: LiveRun,
    pub window: u32,
}

/// What the agent gate (`gate.rs`) found for a request's token: its run
/// and the call, handed to the handler so it is not checked twice.
#[derive(Clone)]
pub(super) struct Authed {
    pub run_id: String,
    pub call: AgentCall,
}

/// The agent call for `run_id` (the run the body names): the gate's, if it
/// found one for this token; otherwise checked here (a token of an ended
/// run, which the gate lets through for its 410 or `abort`).
pub(super) async fn agent_call(
    app: &App,
    h: &HeaderMap,
    peer: IpAddr,
    run_id: &str,
    authed: Option<Authed>,
) -> R<AgentCall> {
    match authed {
        Some(a) if a.run_id == run_id => Ok(a.call),
        Some(_) => Err(ApiErr(
            StatusCode::FORBIDDEN,
            "wrong_run",
            "token does not belong to this run".into(),
        )),
        None => agent_auth(app, h, peer, run_id).await,
    }
}

/// Resolves the bearer token to its run and checks it matches the body's run
/// and that the request came from the host's own address (anything else is
/// a conflicting claimant: the run fails, lifecycle::claims). A run in
/// flight is answered from memory (no database read on the agents' hot
/// path); anything else from the store, which says 401, 403 or 410.
pub(super) async fn agent_auth(
    app: &App,
    h: &HeaderMap,
    peer: IpAddr,
    run_id: &str,
) -> R<AgentCall> {
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
    let (run, window) = match app.ctx.live.run_of_token(&hash) {
        Some((rid, _)) if rid != run_id => return Err(wrong()),
        Some((_, window)) => match app.ctx.live.get(run_id) {
            Some(run) => (run, window),
            None => stored_run(app, &hash, run_id)?,
        },
        None => stored_run(app, &hash, run_id)?,
    };
    if window == 0 {
        return Err(ApiErr(
            StatusCode::UNAUTHORIZED,
            "old_token",
            "token issued before boot windows (an older coordinator): start a new run".into(),
        ));
    }
    refuse_if_conflicted(&run)?;
    if !claims::from_host(peer, &run.spec.ip) {
        let reason = claims::foreign_source(&run.host, &run.spec.ip, peer, "an agent request");
        evidence::conflict(&app.ctx, run_id, &reason).await?;
        return Err(ApiErr(
            StatusCode::FORBIDDEN,
            "foreign_source",
            "this run's agent requests are taken from its host's address only".into(),
        ));
    }
    Ok(AgentCall { run, window })
}

/// A run with a conflicting claimant is failing: nobody speaks for its host
/// any more (no token, no hello, no facts).
pub(super) fn refuse_if_conflicted(run: &LiveRun) -> R<()> {
    match run.conflict.get() {
        Some(reason) => Err(ApiErr(
            StatusCode::CONFLICT,
            "conflicting_agents",
            reason.to_string(),
        )),
        None => Ok(()),
    }
}

/// A token's run from the store (a run no longer, or not yet, in memory).
fn stored_run(app: &App, hash: &str, run_id: &str) -> R<(LiveRun, u32)> {
    let (rid, window) = app.ctx.store.token_run(hash)?.ok_or(ApiErr(
        StatusCode::UNAUTHORIZED,
        "bad_token",
        "token not issued by this coordinator".into(),
    ))?;
    if rid != run_id {
        return Err(ApiErr(
            StatusCode::FORBIDDEN,
            "wrong_run",
            "token does not belong to this run".into(),
        ));
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
    Ok((
        LiveRun {
            host: run.host,
            mode: run.mode,
            state: run.state,
            spec: Arc::new(spec),
            boots: boots.into_iter().map(|b| (b.seq, b.boot_id)).collect(),
            facts: app.ctx.store.facts_seqs(run_id)?,
            since: std::time::Instant::now(),
            contact: Default::default(),
            conflict: Default::default(),
        },
        window,
    ))
}

/// Checks a request's boot id against its token's window: the bound boot
/// (`Bound`), the window's first boot (`Unbound`), or a conflicting
/// claimant, which fails the run and is refused.
pub(super) async fn bind(app: &App, call: &AgentCall, run_id: &str, boot_id: &str) -> R<Binding> {
    // A boot id is the kernel's (a UUID): it is stored, and reasons carry it
    // to operators' terminals and iPXE scripts.
    if boot_id.is_empty()
        || boot_id.len() > 64
        || !boot_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(ApiErr(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_boot_id",
            "boot_id: 1 to 64 letters, digits and '-' (the kernel's boot id)".into(),
        ));
    }
    match claims::bind(call.window, &call.run.boots, boot_id) {
        Binding::Conflict(reason) => {
            evidence::conflict(&app.ctx, run_id, &reason).await?;
            Err(ApiErr(StatusCode::CONFLICT, "conflicting_agents", reason))
        }
        b => Ok(b),
    }
}

/// Operator writes carry JSON: a cross-site form (text/plain,
/// application/x-www-form-urlencoded, multipart) cannot create runs or
/// release hosts, whatever a browser sends along.
pub(super) fn json_write(h: &HeaderMap) -> R<()> {
    let ct = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiErr(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content_type",
            format!("writes take Content-Type: application/json, not {ct:?}"),
        ))
    }
}

pub(super) fn operator_auth(app: &App, h: &HeaderMap) -> R<()> {
    check_operator(app, bearer(h))
}

/// Reads (runs, reports, hosts) also take the `e2et_operator` cookie
/// `/login` sets, so the dashboard's report links work in a browser.
/// Writes need the bearer header: a cookie rides along cross-site requests.
pub(super) fn operator_read_auth(app: &App, h: &HeaderMap) -> R<()> {
    if app.cfg.operator_token_sha256.is_some() && bearer(h).is_none() {
        if let Some(c) = operator_cookie(h) {
            return if app.session.cookie_ok(c) {
                Ok(())
            } else {
                Err(ApiErr(
                    StatusCode::UNAUTHORIZED,
                    "operator_token",
                    "the sign-in cookie is not this coordinator's (it restarted?): sign in again at /login".into(),
                ))
            };
        }
    }
    operator_auth(app, h)
}

/// The cookie holds a random value of this e2etd process, never the token
/// or anything derived from it: a leaked cookie reads until the next
/// restart, and never writes.
pub(super) const OPERATOR_COOKIE: &str = "e2et_operator";

/// Sign-in attempts per address and window.
const LOGIN_ATTEMPTS: u32 = 5;
const LOGIN_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);
/// Addresses tracked at once; beyond it (after forgetting expired ones),
/// sign-in is refused rather than the table grown.
const LOGIN_TRACKED: usize = 4096;

/// The dashboard's sign-in state: the read cookie's value, random at every
/// start of e2etd (a cookie from before a restart reads nothing), and the
/// sign-in attempts per address.
pub struct Session {
    read_cookie: [u8; 32],
    attempts: std::sync::Mutex<std::collections::HashMap<IpAddr, (std::time::Instant, u32)>>,
}

impl Default for Session {
    fn default() -> Self {
        Session::new()
    }
}

impl Session {
    pub fn new() -> Session {
        let mut read_cookie = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut read_cookie);
        Session {
            read_cookie,
            attempts: Default::default(),
        }
    }

    pub(super) fn cookie_value(&self) -> String {
        hex::encode(self.read_cookie)
    }

    pub(super) fn cookie_ok(&self, got: [u8; 32]) -> bool {
        got.ct_eq(&self.read_cookie).into()
    }

    /// Counts a sign-in attempt from `ip`: `false` once it is over
    /// LOGIN_ATTEMPTS in LOGIN_WINDOW.
    pub(super) fn attempt(&self, ip: IpAddr) -> bool {
        let mut m = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        if m.len() >= LOGIN_TRACKED {
            m.retain(|_, (t, _)| now.duration_since(*t) < LOGIN_WINDOW);
            if m.len() >= LOGIN_TRACKED && !m.contains_key(&ip) {
                return false;
            }
        }
        let e = m.entry(ip).or_insert((now, 0));
        if now.duration_since(e.0) >= LOGIN_WINDOW {
            *e = (now, 0);
        }
        e.1 += 1;
        e.1 <= LOGIN_ATTEMPTS
    }
}

pub(super) fn operator_cookie(h: &HeaderMap) -> Option<[u8; 32]> {
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

pub(super) fn check_digest(app: &App, got: [u8; 32]) -> R<()> {
    match app.cfg.operator_token_sha256 {
        Some(want) if !bool::from(got.ct_eq(&want)) => Err(ApiErr(
            StatusCode::UNAUTHORIZED,
            "operator_token",
            "a valid operator bearer token is required (browsers: sign in at /login)".into(),
        )),
        _ => Ok(()),
    }
}

pub(super) fn check_operator(app: &App, token: Option<&str>) -> R<()> {
    check_digest(app, token.map(sha256).unwrap_or([0u8; 32]))
}
