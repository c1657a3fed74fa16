//! The boot API: `/boot/start.ipxe`, `/boot/<mac>.ipxe` (the decision is the
//! lifecycle core's, `lifecycle::boot`).
use super::auth::*;
use super::error::{ApiErr, R};
use super::Shared;
use crate::evidence;
use crate::lifecycle::claims;
use crate::store::Issued;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use e2et_model::inventory::normalize_mac;
use rand::RngCore;
use std::net::SocketAddr;
use tracing::{info, warn};

fn text(s: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], s).into_response()
}

/// No token: the local disk, saying why (the boot-request log keeps it).
fn refuse(app: &Shared, mac: &str, run: &str, why: String) -> R<Response> {
    warn!(%run, %mac, %why, "boot script refused");
    app.ctx
        .trail
        .boot_log
        .record(mac, Some(run), &format!("refused: {why}"), true);
    Ok(text(crate::lifecycle::boot::local_disk_script(mac, &why)))
}

/// `GET /boot/start.ipxe` and `GET /boot/<mac>.ipxe` — anyone may ask; only
/// the host's own address gets a token, once per boot window
/// (lifecycle::claims). The netboot script, with the window's token, while
/// the MAC's host has a cold run in a netboot state; otherwise the local
/// disk. A second consumer of a window, or a request from another address,
/// gets no token and fails the run as a conflicting claimant.
pub(super) async fn boot_script(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(file): Path<String>,
) -> R<Response> {
    use crate::lifecycle::boot::{self, BootScript, Holder};
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
            let host = host.unwrap_or_default();
            let Some(live) = app.ctx.live.get(run) else {
                return refuse(&app, &mac, run, "the run is no longer in flight".into());
            };
            if let Some(reason) = live.conflict.get() {
                return refuse(&app, &mac, run, reason.to_string());
            }
            let ip = &live.spec.ip;
            if !claims::from_host(peer.ip(), ip) {
                let reason = claims::foreign_source(host, ip, peer.ip(), "a boot script");
                evidence::conflict(&app.ctx, run, &reason).await?;
                return refuse(&app, &mac, run, reason);
            }
            let Some(window) = claims::window(live.mode, *state) else {
                return refuse(
                    &app,
                    &mac,
                    run,
                    format!("run {run} has no boot window in {state}"),
                );
            };
            // The host's role image (the run's own spec), or the default one,
            // resolved before a token is issued. The inventory gate refused a
            // run whose image is not served; this stays closed.
            let role = live.spec.expect.image.as_deref();
            let (kernel, initrd, cmdline) = match role {
                None => (
                    format!("artifacts/{}", app.cfg.kernel),
                    format!("artifacts/{}", app.cfg.initrd),
                    app.cfg.cmdline.as_str(),
                ),
                Some(name) => match app.cfg.images.get(name) {
                    Some(img) => (
                        format!("images/{name}/kernel"),
                        format!("images/{name}/initrd"),
                        img.cmdline.as_str(),
                    ),
                    None => {
                        return refuse(
                            &app,
                            &mac,
                            run,
                            format!(
                            "host {host} boots image {name}, which this coordinator does not serve"
                        ),
                        )
                    }
                },
            };
            let mut raw = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut raw);
            let token = hex::encode(raw);
            let source = peer.ip().to_canonical().to_string();
            let issued = app
                .ctx
                .issue_token(run, window, &hex::encode(sha256(&token)), &source)
                .await?;
            if let Issued::Taken { source: first, at } = issued {
                let reason = claims::window_taken(window, &first, &at, peer.ip());
                evidence::conflict(&app.ctx, run, &reason).await?;
                return refuse(&app, &mac, run, reason);
            }
            app.ctx
                .trail
                .boot_log
                .record(&mac, Some(run), &decision.log_note(), true);
            info!(%run, %mac, %state, window, "boot script issued");
            Ok(text(boot::netboot_script(
                &boot::Netboot {
                    public_url: &app.cfg.public_url,
                    kernel: &kernel,
                    initrd: &initrd,
                    cmdline,
                },
                run,
                host,
                &token,
            )))
        }
        BootScript::LocalDisk { run, why } => {
            app.ctx.trail.boot_log.record(
                &mac,
                run.as_deref(),
                &decision.log_note(),
                host.is_some(),
            );
            Ok(text(boot::local_disk_script(&mac, why)))
        }
    }
}
