//! One task per run, supervised: the engine drives the run
//! ([`crate::engine::drive`]); a store error or a panic in that task holds
//! the run with the reason instead of leaving it in flight without a task.
use crate::ctx::Ctx;
use crate::evidence::add_engine_checks;
use crate::lifecycle::machine::{next, Event};
use e2et_model::RunState;
use std::sync::Arc;
use tracing::{error, info, info_span, Instrument};

/// Drives a run in its own task, supervised: a store error or a panic in
/// the task holds the run with the reason (no run is left in flight without
/// a task, and no further power action is taken for it).
pub fn spawn(ctx: Arc<Ctx>, run_id: String) {
    let host = ctx
        .store
        .run(&run_id)
        .ok()
        .flatten()
        .map(|r| r.host)
        .unwrap_or_default();
    let span = info_span!("run", run = %run_id, host = %host);
    tokio::spawn(
        async move {
            let slots = ctx.slots.clone();
            let _slot = match slots.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    info!(
                        max = ctx.cfg.max_runs,
                        "every run slot is taken: waiting in queue"
                    );
                    match slots.acquire_owned().await {
                        Ok(p) => p,
                        Err(_) => return,
                    }
                }
            };
            let task = {
                let (ctx, run_id) = (ctx.clone(), run_id.clone());
                tokio::spawn(
                    async move { crate::engine::drive(&ctx, &run_id).await }.in_current_span(),
                )
            };
            let why = match task.await {
                Ok(Ok(())) => return,
                Ok(Err(e)) => format!("the engine stopped on a store error: {e}"),
                Err(j) if j.is_panic() => "the engine's task panicked".to_string(),
                Err(_) => "the engine's task was cancelled".to_string(),
            };
            error!(%why, "holding the run");
            hold(&ctx, &run_id, &why).await;
        }
        .instrument(span),
    );
}

/// Puts a run whose task stopped on hold, if it is still in flight.
async fn hold(ctx: &Ctx, run_id: &str, why: &str) {
    let Some(run) = ctx.live.get(run_id) else {
        return;
    };
    let to = next(run.mode, run.state, &Event::Hold(why.to_string())).unwrap_or(RunState::Holding);
    if let Err(e) = add_engine_checks(ctx, run_id, Some(why), vec![]).await {
        error!(error = %e, "cannot record why the run is held");
    }
    if let Err(e) = ctx.transition(run_id, run.state, to, why).await {
        error!(error = %e, "cannot hold the run: it stays as it is, with no task driving it");
    }
}
