//! The engine's power edge: a state's power work, planned by the lifecycle
//! core (`lifecycle::power`), taken by the one power cycle
//! (`e2et_pdu::cycle`), each step's intent written to the store before its
//! command and its outcome after the read-back.
use crate::ctx::Ctx;
use crate::lifecycle::power::{self, Work};
use crate::store::{Store, StoreError};
use e2et_model::inventory::HostSpec;
use e2et_model::report::{PowerAction, PowerStep};
use e2et_model::RunState;
use e2et_pdu::{CyclePlan, Feed, PowerState, SoftOff, StepLog};
use std::time::Duration;
use tracing::{error, info};

/// Writes each power step's intent and outcome to the store.
struct StoreLog<'a> {
    ctx: &'a Ctx,
    store: &'a Store,
    run_id: &'a str,
    state: RunState,
    /// When the current command was sent, for the PDU latency metric.
    started: std::sync::Mutex<Option<std::time::Instant>>,
}

impl StepLog for StoreLog<'_> {
    fn intent(&self, pdu: &str, outlet: u32, action: PowerAction) -> Result<(), String> {
        // Durable before the command goes out: the store must justify it,
        // or the command is not sent (fail closed).
        let written = if self.ctx.cfg.fail_intent.as_deref() == Some(action.as_str()) {
            Err("test hook: --fail-intent".to_string())
        } else {
            self.store
                .power_intent(self.run_id, self.state, pdu, outlet, action)
                .wait()
                .map_err(|e| e.to_string())
        };
        if let Err(e) = written {
            error!(error = %e, pdu, outlet, action = %action, "cannot record power intent: not sending the command");
            return Err(e);
        }
        self.ctx.crash_if(&format!("intent:{action}"));
        if let Ok(mut t) = self.started.lock() {
            *t = Some(std::time::Instant::now());
        }
        info!(pdu, outlet, action = %action, "power command");
        Ok(())
    }
    fn done(&self, step: &PowerStep) {
        if let Err(e) = self.store.power_done(self.run_id, self.state, step).wait() {
            error!(error = %e, "cannot record power step");
        }
        if let Some(t) = self.started.lock().ok().and_then(|mut t| t.take()) {
            self.ctx
                .metrics
                .pdu(&step.pdu, step.action.as_str(), step.ok, t.elapsed());
        }
        info!(pdu = %step.pdu, outlet = step.outlet, action = %step.action, observed = ?step.observed, ok = step.ok, "power step");
        // A switch that did not read back is the PDU's fault or its wiring's
        // (a soft off that has not landed yet is neither).
        if !step.ok && matches!(step.action, PowerAction::On | PowerAction::Off) {
            let host = self
                .ctx
                .live
                .get(self.run_id)
                .map(|r| r.host)
                .unwrap_or_default();
            let n =
                crate::notify::pdu_notice(self.run_id, &host, step, self.ctx.notifier.public_url());
            self.ctx.notifier.send(n);
        }
    }
}

/// The state's power work: the core plans what is left (a resumed run
/// repeats nothing the store shows read back), `e2et_pdu::cycle` takes the
/// steps, each intent and outcome written to the store. Err: which step
/// failed, or why no step could be taken.
pub async fn take_power(
    ctx: &Ctx,
    run_id: &str,
    state: RunState,
    spec: &HostSpec,
    work: Work,
) -> Result<Result<(), String>, StoreError> {
    let feeds = match ctx.feeds(spec) {
        Ok(f) => f,
        Err(e) => return Ok(Err(e)),
    };
    let outlets: Vec<(&str, u32)> = feeds.iter().map(|f| (f.pdu.as_str(), f.outlet)).collect();
    // A host with a BMC (or hypervisor) gets its clean shutdown from it when
    // no agent of the run is up to take one (a quick run).
    let agent = matches!(work, Work::Cycle { soft: true });
    let work = match work {
        Work::Cycle { soft } => Work::Cycle {
            soft: soft || spec.bmc.is_some(),
        },
        w => w,
    };
    let plan = power::plan(work, state, &outlets, &ctx.store.power_steps(run_id)?);
    let whole = power::plan(work, state, &outlets, &[]);
    if plan != whole {
        info!(%state, ?plan, "steps read back before a restart are not repeated");
    }
    let log = StoreLog {
        ctx,
        store: &ctx.store,
        run_id,
        state,
        started: Default::default(),
    };
    let cycle = CyclePlan {
        soft_off: plan.soft_off,
        off: plan.off,
        delay: if plan.delay {
            ctx.cycle_delay(spec)
        } else {
            Duration::ZERO
        },
        on: plan.on,
    };
    let soft = HostSoftOff {
        ctx,
        run_id,
        spec,
        agent,
    };
    match e2et_pdu::cycle(&log, &feeds, &cycle, Some(&soft), ctx.cfg.poll).await {
        Ok(_) => Ok(Ok(())),
        // The store could not justify the command, so it was not sent: a
        // store failure, which holds the run (supervisor::spawn).
        Err((_, e @ e2et_pdu::PduError::Unrecorded { .. })) => {
            Err(StoreError::Commit(e.to_string()))
        }
        Err((_, e)) => Ok(Err(e.to_string())),
    }
}

/// The clean shutdown before a power cycle cuts the outlets. In a cold run
/// boot 1's agent is told to power off by its heartbeat
/// (lifecycle::heartbeat); when no agent of the run is up (a quick run) or
/// the agent never takes the command, the host's BMC or hypervisor presses
/// its power button (inventory `bmc`).
struct HostSoftOff<'a> {
    ctx: &'a Ctx,
    run_id: &'a str,
    spec: &'a HostSpec,
    /// An agent of the run is up to take the poweroff command.
    agent: bool,
}

#[async_trait::async_trait]
impl SoftOff for HostSoftOff<'_> {
    async fn soft_off(&self, feeds: &[Feed]) -> String {
        let mut said = String::new();
        if self.agent {
            match agent_soft_off(self.ctx, self.run_id, feeds).await {
                AgentOff::Done(how) => return how,
                AgentOff::NoAck(how) if self.spec.bmc.is_none() => return how,
                AgentOff::NoAck(how) => said = format!("{how}; "),
            }
        }
        let Some(src) = self.spec.bmc.as_deref() else {
            return "no agent of the run is up and the host has no BMC: cutting power".into();
        };
        format!("{said}{}", bmc_soft_off(self.ctx, self.run_id, src).await)
    }
}

/// Presses the host's power button through its BMC (or hypervisor), then
/// waits, bounded by the soft-off timeout, for the BMC to read the host off.
/// Returns what happened, for the power step's detail.
async fn bmc_soft_off(ctx: &Ctx, run_id: &str, src: &str) -> String {
    let host = match ctx.store.run(run_id) {
        Ok(Some(r)) => r.host,
        _ => return "cannot read the run's host to find its BMC credential: cutting power".into(),
    };
    let (creds, ipmitool) = ctx.consoles.ipmi();
    let bmc = match e2et_model::inventory::BmcSource::parse(src)
        .and_then(|s| e2et_pdu::bmc::Bmc::new(&host, &s, creds, ipmitool))
    {
        Ok(b) => b,
        Err(e) => return format!("cannot use the host's BMC ({e}): cutting power"),
    };
    let what = bmc.describe();
    let start = tokio::time::Instant::now();
    if let Err(e) = bmc.press_power_button().await {
        return format!("{what} failed ({e}): cutting power");
    }
    info!(run_id, host, bmc = %what, "power button pressed through the BMC");
    let deadline = start + ctx.cfg.soft_off_timeout;
    loop {
        match bmc.power().await {
            Ok(PowerState::Off) => {
                return format!(
                    "{what}: the host shut down after {:.1}s (the BMC reads it off)",
                    start.elapsed().as_secs_f64()
                )
            }
            Ok(_) => {}
            Err(e) => {
                return format!(
                    "{what} sent; the BMC's power state cannot be read ({e}): cutting power"
                )
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return format!(
                "{what} sent; the host was still on after {}s: cutting power",
                ctx.cfg.soft_off_timeout.as_secs()
            );
        }
        tokio::time::sleep(ctx.cfg.poll.interval.min(Duration::from_millis(500))).await;
    }
}

/// How the agent's soft off ended.
enum AgentOff {
    /// The host shut down, or the agent took the command (grace given).
    Done(String),
    /// No acknowledgement within the soft-off timeout.
    NoAck(String),
}

/// Waits for the host to go down after the agent is asked to power off: until
/// every feed reads off (a QMP "PDU" sees the guest stop), or the grace period
/// after the agent took the command (a real PDU's outlet stays on), or the
/// timeout. Returns what happened, for the power step's detail.
async fn agent_soft_off(ctx: &Ctx, run_id: &str, feeds: &[Feed]) -> AgentOff {
    let start = tokio::time::Instant::now();
    let deadline = start + ctx.cfg.soft_off_timeout;
    loop {
        let mut all_off = true;
        for f in feeds {
            if f.driver.status(f.outlet).await.ok() != Some(PowerState::Off) {
                all_off = false;
            }
        }
        if all_off {
            return AgentOff::Done(format!(
                "host shut down on the agent's poweroff after {:.1}s (outlet reads off)",
                start.elapsed().as_secs_f64()
            ));
        }
        let sent = ctx
            .poweroff_sent
            .lock()
            .ok()
            .and_then(|m| m.get(run_id).copied());
        if let Some(t) = sent {
            if t.elapsed() >= ctx.cfg.soft_off_grace {
                return AgentOff::Done(format!(
                    "agent took the poweroff command; gave the OS {}s to shut down before cutting power",
                    ctx.cfg.soft_off_grace.as_secs()
                ));
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return AgentOff::NoAck(format!(
                "no poweroff acknowledged within {}s",
                ctx.cfg.soft_off_timeout.as_secs()
            ));
        }
        tokio::time::sleep(ctx.cfg.poll.interval).await;
    }
}
