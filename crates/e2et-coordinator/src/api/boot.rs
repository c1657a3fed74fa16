//! The boot API: `/boot/start.ipxe`, `/boot/<mac>.ipxe` (the decision is the
//! lifecycle core's, `lifecycle::boot`).
use super::auth::*;
use super::error::{ApiErr, R};
use super::Shared;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use e2et_model::inventory::normalize_mac;
use rand::RngCore;
use tracing::info;

/// `GET /boot/start.ipxe` and `GET /boot/<mac>.ipxe` — no auth (the network is
/// the boundary). The netboot script, with a freshly minted per-run token,
/// only while the MAC's host has an active run; otherwise the local disk.
pub(super) async fn boot_script(
    State(app): State<Shared>,
    Path(file): Path<String>,
) -> R<Response> {
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
