//! The coordinator's own checks of a run (power, boot path, timeouts,
//! conflicting agents): hard, required, and durable in the run's row before
//! the transition that names them, so a restart cannot lose them and the
//! report always carries them.
use crate::ctx::Ctx;
use crate::store::StoreError;
use e2et_model::check::{Check, Gate, Outcome, Severity};
use tracing::warn;

pub(crate) fn engine_check(
    id: &str,
    title: &str,
    gate: Gate,
    outcome: Outcome,
    exp: &str,
    obs: &str,
    ev: String,
) -> Check {
    Check {
        id: id.into(),
        title: title.into(),
        gate,
        severity: Severity::Hard,
        weight: 10,
        required: true,
        outcome,
        expected: Some(exp.into()),
        observed: Some(obs.into()),
        evidence: ev,
    }
}

pub(crate) async fn add_engine_checks(
    ctx: &Ctx,
    run_id: &str,
    reason: Option<&str>,
    new: Vec<Check>,
) -> Result<(), StoreError> {
    let row = ctx
        .store
        .run(run_id)?
        .ok_or_else(|| StoreError::NoRun(run_id.into()))?;
    let mut checks: Vec<Check> = serde_json::from_str(&row.engine_checks)?;
    // A check taken again (a run resumed after a restart) replaces its
    // earlier outcome rather than standing beside it.
    checks.retain(|c| !new.iter().any(|n| n.id == c.id));
    checks.extend(new);
    let reason = reason.map(str::to_string).or(row.abort_reason);
    ctx.store
        .set_abort(
            run_id,
            reason.as_deref().unwrap_or(""),
            &serde_json::to_string(&checks)?,
        )
        .await
}

/// A conflicting claimant for a run's host (lifecycle::claims): a failed
/// check in the provisioning gate, durable first (the verdict cannot be a
/// pass, even after a restart), then the live view, which ends the run's
/// current wait. The first conflict is recorded; later ones are logged.
pub async fn conflict(ctx: &Ctx, run_id: &str, reason: &str) -> Result<(), StoreError> {
    let Some(run) = ctx.live.get(run_id) else {
        warn!(run = %run_id, %reason, "conflicting claimant for a run that has ended");
        return Ok(());
    };
    if !run.conflict.claim() {
        warn!(run = %run_id, %reason, "another conflicting claimant");
        return Ok(());
    }
    warn!(run = %run_id, %reason, "failing the run");
    add_engine_checks(
        ctx,
        run_id,
        Some(reason),
        vec![engine_check(
            "provisioning.one_agent",
            "one agent speaks for the host",
            Gate::Provisioning,
            Outcome::Fail,
            "one boot-script consumer and one boot per boot window, from the host's address",
            "a second claimant",
            reason.to_string(),
        )],
    )
    .await?;
    run.conflict.set(reason.to_string());
    ctx.wakers.wake(run_id);
    Ok(())
}
