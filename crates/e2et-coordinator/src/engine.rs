//! The engine: one task per run walks the state machine. Each transition is
//! written to the store before the new state's action (a side effect or a wait)
//! runs, so a restarted coordinator knows exactly where each run stood.
use crate::ctx::Ctx;
use crate::evidence::{add_engine_checks, engine_check};
use crate::lifecycle::machine::{action_for, next, Action, Event};
use crate::lifecycle::power::Work;
use crate::live::Interrupt;
use crate::store::{now, StoreError};
use e2et_model::check::{Gate, Outcome};
use e2et_model::inventory::HostSpec;
use e2et_model::{RunMode, RunState};
use e2et_score::{boot_checks, score_validation, BootContext};
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, info, warn};

/// Restart recovery: decides, for each unfinished run, whether it can resume.
/// A run whose power action may have happened without its outcome being
/// recorded is put on hold: the store cannot justify repeating it; so is a
/// run whose host's outlets in the inventory are not the ones it started
/// with.
pub async fn recover(ctx: &Ctx) -> Result<Vec<String>, StoreError> {
    let mut resume = Vec::new();
    for r in ctx.store.unfinished_runs()? {
        let unfinished = ctx.store.unfinished_power(&r.id)?;
        if unfinished > 0 {
            let why = format!(
                "coordinator restarted in {} with {unfinished} power command(s) sent but not read back; not repeating a power action the store cannot justify",
                r.state
            );
            warn!(run = %r.id, "{why}");
            ctx.transition(
                &r.id,
                r.state,
                next(r.mode, r.state, &Event::Hold(why.clone())).unwrap_or(RunState::Holding),
                &why,
            )
            .await?;
            continue;
        }
        let started: HostSpec = serde_json::from_str(&r.spec_json)?;
        let now = ctx.inventory.hosts.get(&r.host).map(|h| h.power.as_slice());
        if let Err(why) = crate::lifecycle::power::resumable(&r.host, &started.power, now) {
            warn!(run = %r.id, "{why}");
            add_engine_checks(ctx, &r.id, Some(&why), vec![]).await?;
            ctx.transition(
                &r.id,
                r.state,
                next(r.mode, r.state, &Event::Hold(why.clone())).unwrap_or(RunState::Holding),
                &why,
            )
            .await?;
            continue;
        }
        resume.push(r.id);
    }
    Ok(resume)
}

/// Walks one run to its end (or until another hand ends it); its task is
/// [`crate::supervisor::spawn`]'s.
pub(crate) async fn drive(ctx: &Arc<Ctx>, run_id: &str) -> Result<(), StoreError> {
    loop {
        // A run in flight is in the live view; one that left it has ended.
        let Some(run) = ctx.live.get(run_id) else {
            let state = ctx
                .store
                .run(run_id)?
                .ok_or_else(|| StoreError::NoRun(run_id.into()))?
                .state;
            ctx.wakers.forget(run_id);
            if let Ok(mut m) = ctx.poweroff_sent.lock() {
                m.remove(run_id);
            }
            info!(%state, "run finished");
            return Ok(());
        };
        // The console is kept from before the power-on (firmware, iPXE) to
        // the verdict, and again after a restart of the coordinator.
        if !matches!(run.state, RunState::Queued | RunState::InventoryGate) {
            ctx.consoles.start(run_id, &run.spec);
        }
        // A conflicting claimant (lifecycle::claims) ends a wait at once, and
        // fails any other step once it is done.
        let ev = match action_for(run.mode, run.state) {
            Action::AwaitHello(_) | Action::AwaitFacts(_) | Action::AwaitRevalidation(_) => {
                tokio::select! {
                    ev = perform(ctx, run_id, run.mode, run.state, &run.spec) => ev?,
                    i = run.conflict.interrupted() => match i {
                        Interrupt::Conflict(reason) => Event::Failed(reason),
                        Interrupt::Left => {
                            info!("the run was ended by another hand (a hold); not driving it further");
                            return Ok(());
                        }
                    },
                }
            }
            _ => perform(ctx, run_id, run.mode, run.state, &run.spec).await?,
        };
        let ev = match (ev, run.conflict.get()) {
            (Event::Done(_), Some(reason)) => Event::Failed(reason.to_string()),
            (ev, _) => ev,
        };
        let to = match next(run.mode, run.state, &ev) {
            Ok(t) => t,
            Err(e) => {
                error!(error = %e, "engine bug: holding the run");
                RunState::Holding
            }
        };
        let note = match &ev {
            Event::Done(n)
            | Event::Failed(n)
            | Event::TimedOut(n)
            | Event::Hold(n)
            | Event::Release(n) => n.clone(),
            Event::Verdict(v) => format!("verdict {v}"),
        };
        if matches!(ev, Event::Failed(_) | Event::TimedOut(_)) {
            add_engine_checks(ctx, run_id, Some(&note), vec![]).await?;
        }
        match ctx.transition(run_id, run.state, to, &note).await {
            Ok(_) => {}
            // An operator moved the run (a hold) while this step ran: the
            // run is theirs now, and this task stops driving it.
            Err(StoreError::Moved { actual, .. }) => {
                warn!(%actual, "the run was moved meanwhile; not driving it further");
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        info!(from = %run.state, to = %to, %note, "transition");
        ctx.crash_if(to.as_str());
    }
}

/// Waits until `ready` holds or the timeout passes. The wake-up is armed
/// before each check, so a report arriving in between is not missed; a slow
/// fallback re-check covers anything else.
async fn wait_for<F>(
    ctx: &Ctx,
    run_id: &str,
    timeout: Duration,
    mut ready: F,
) -> Result<bool, StoreError>
where
    F: FnMut() -> Result<bool, StoreError>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let waker = ctx.wakers.get(run_id);
    loop {
        let notified = waker.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if ready()? {
            return Ok(true);
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        let _ = tokio::time::timeout((deadline - now).min(Duration::from_secs(5)), notified).await;
    }
}

async fn perform(
    ctx: &Ctx,
    run_id: &str,
    mode: RunMode,
    state: RunState,
    spec: &HostSpec,
) -> Result<Event, StoreError> {
    Ok(match action_for(mode, state) {
        Action::Nothing => Event::Done(String::from("run started")),
        Action::CheckInventory => check_inventory(ctx, run_id, spec).await?,
        Action::PowerOnCold => match crate::power::take_power(ctx, run_id, state, spec, Work::PowerOn).await? {
            Ok(()) => Event::Done("outlet(s) read back off, then on".into()),
            Err(e) => {
                add_engine_checks(
                    ctx,
                    run_id,
                    None,
                    vec![engine_check(
                        "provisioning.power_on",
                        "PDU powered the host on, read back",
                        Gate::Provisioning,
                        Outcome::Fail,
                        "off then on, read back",
                        "a step failed",
                        e.clone(),
                    )],
                )
                .await?;
                Event::Failed(format!("power-on failed: {e}"))
            }
        },
        Action::AwaitHello(seq) => {
            let ok = wait_for(ctx, run_id, ctx.cfg.hello_timeout, || {
                Ok(ctx
                    .live
                    .get(run_id)
                    .is_some_and(|r| r.boots.len() as u32 >= seq))
            })
            .await?;
            if ok {
                Event::Done(format!("boot {seq}: agent said hello"))
            } else {
                let why = format!(
                    "no hello within {}s after power-on: {}",
                    ctx.cfg.hello_timeout.as_secs(),
                    ctx.trail.of(run_id, spec)
                );
                add_engine_checks(
                    ctx,
                    run_id,
                    None,
                    vec![engine_check(
                        "first_boot.booted",
                        "host booted and its agent said hello",
                        Gate::FirstBoot,
                        Outcome::Fail,
                        "hello from the agent",
                        "no hello",
                        why.clone(),
                    )],
                )
                .await?;
                Event::TimedOut(why)
            }
        }
        Action::CheckBootPath => {
            let boots = ctx.store.boots(run_id)?;
            let want = format!("e2et.run={run_id}");
            match boots.first() {
                Some(b) if b.cmdline.split_whitespace().any(|w| w == want) => Event::Done(format!(
                    "boot 1 ({}) came through this run's netboot script",
                    b.boot_id
                )),
                Some(b) => Event::Failed(format!(
                    "boot 1 did not come through this run's script: cmdline {:?}",
                    b.cmdline
                )),
                None => Event::Failed("no boot recorded".into()),
            }
        }
        Action::AwaitFacts(seq) => await_facts(ctx, run_id, spec, mode, seq).await?,
        Action::Cycle { soft } => match crate::power::take_power(ctx, run_id, state, spec, Work::Cycle { soft }).await? {
            Ok(()) if soft => Event::Done("power cycle: off read back, on read back".into()),
            Ok(()) if spec.bmc.is_some() => Event::Done(
                "power cycle: soft off through the host's BMC, off read back, on read back (quick run: no agent of this run was up)".into(),
            ),
            Ok(()) => Event::Done(
                "power cycle: off read back, on read back (quick run: no agent of this run was up and the host has no BMC for a soft off)".into(),
            ),
            Err(e) => Event::Failed(format!("power cycle failed: {e}")),
        },
        Action::AwaitRevalidation(seq) => {
            let ok = wait_for(ctx, run_id, ctx.cfg.hello_timeout, || {
                Ok(ctx
                    .live
                    .get(run_id)
                    .is_some_and(|r| r.boots.len() as u32 >= seq))
            })
            .await?;
            if !ok {
                let which = if mode == RunMode::Quick {
                    "the installed system's agent (enrolled)"
                } else {
                    "a second boot"
                };
                let why = format!(
                    "no hello from {which} within {}s after the power cycle: {}",
                    ctx.cfg.hello_timeout.as_secs(),
                    ctx.trail.of(run_id, spec)
                );
                add_engine_checks(
                    ctx,
                    run_id,
                    None,
                    vec![engine_check(
                        "first_boot.rebooted",
                        "host came back after the power cycle",
                        Gate::FirstBoot,
                        Outcome::Fail,
                        &format!("hello from boot {seq}"),
                        "no hello",
                        why.clone(),
                    )],
                )
                .await?;
                Event::TimedOut(why)
            } else {
                await_facts(ctx, run_id, spec, mode, seq).await?
            }
        }
        Action::BuildReport => {
            let (report, promote) = build_report(ctx, run_id, spec)?;
            let json = e2et_score::render::json(&report);
            ctx.store
                .finish(
                    run_id,
                    report.verdict.as_str(),
                    report.score,
                    report.zone.as_str(),
                    &json,
                    promote.as_deref(),
                )
                .await?;
            if let Some(rev) = &promote {
                info!(revision = %rev, "promoted to the host's last-known-good");
            }
            Event::Verdict(report.verdict)
        }
    })
}

async fn await_facts(
    ctx: &Ctx,
    run_id: &str,
    spec: &HostSpec,
    mode: RunMode,
    seq: u32,
) -> Result<Event, StoreError> {
    // Done when the facts are in, or when the agent has been silent for
    // longer than the heartbeat timeout (a hung host need not use up the
    // whole facts timeout).
    let silent = || {
        ctx.live
            .get(run_id)
            .and_then(|r| r.contact.last())
            .filter(|(ago, _)| *ago > ctx.cfg.heartbeat_timeout)
    };
    let have = || ctx.live.get(run_id).is_some_and(|r| r.facts.contains(&seq));
    wait_for(ctx, run_id, ctx.cfg.facts_timeout, || {
        Ok(have() || silent().is_some())
    })
    .await?;
    if !have() {
        let trail = ctx.trail.of(run_id, spec);
        let why = match silent() {
            Some((ago, kind)) => format!(
                "boot {seq}: agent silent for {:.0}s (heartbeat timeout {}s) before sending facts, last heard: {}: {trail}",
                ago.as_secs_f64(),
                ctx.cfg.heartbeat_timeout.as_secs(),
                kind.as_str()
            ),
            None => format!(
                "boot {seq}: no facts within {}s of hello: {trail}",
                ctx.cfg.facts_timeout.as_secs()
            ),
        };
        add_engine_checks(
            ctx,
            run_id,
            None,
            vec![engine_check(
                &format!("first_boot.facts_reported.boot{seq}"),
                "agent reported facts",
                Gate::FirstBoot,
                Outcome::Error {
                    message: why.clone(),
                },
                "facts",
                "none",
                why.clone(),
            )],
        )
        .await?;
        return Ok(Event::TimedOut(why));
    }
    let facts = ctx.store.facts(run_id)?;
    let Some((_, boot_id, f)) = facts.iter().find(|(s, _, _)| *s == seq) else {
        return Ok(Event::Failed(format!("facts of boot {seq} vanished")));
    };
    // SSH seen from the network, beside what the probe saw inside.
    let offered = if spec.expect.first_boot.ssh {
        let addr = format!("{}:{}", spec.ip, f.first_boot.ssh.port);
        Some(match addr.parse::<std::net::SocketAddr>() {
            Ok(a) => crate::ssh::host_key(a, ctx.cfg.ssh_timeout).await,
            Err(e) => Err(format!("management address {addr}: {e}")),
        })
    } else {
        None
    };
    let ssh = crate::ssh::check(spec, f, seq, offered);
    let ssh_failed = ssh.failed().then(|| ssh.id.clone());
    add_engine_checks(ctx, run_id, None, vec![ssh]).await?;
    let v = score_validation(
        &ctx.policy,
        seq,
        boot_id,
        boot_checks(
            spec,
            f,
            &BootContext {
                run_id: Some(run_id),
                boot_seq: seq,
                mode,
            },
        ),
    );
    let failed: Vec<&str> = v
        .checks
        .iter()
        .filter(|c| c.failed())
        .map(|c| c.id.as_str())
        .chain(ssh_failed.as_deref())
        .collect();
    Ok(Event::Done(format!(
        "boot {seq} scored {:.2} ({}){}",
        v.score,
        v.zone,
        if failed.is_empty() {
            String::new()
        } else {
            format!("; failed: {}", failed.join(", "))
        }
    )))
}

/// The report of a finished run and the configuration it promotes to the
/// host's last-known-good, from the store's record of the run
/// (e2et_score::record::build assembles both).
pub fn build_report(
    ctx: &Ctx,
    run_id: &str,
    spec: &HostSpec,
) -> Result<(e2et_model::Report, Option<String>), StoreError> {
    let record = ctx.store.run_record(run_id)?;
    let a = e2et_score::record::build(&ctx.policy, spec, &record, &now());
    Ok((a.report, a.promote))
}

async fn check_inventory(ctx: &Ctx, run_id: &str, spec: &HostSpec) -> Result<Event, StoreError> {
    let mut checks = Vec::new();
    let mut problems = Vec::new();
    match ctx.feeds(spec) {
        Err(e) => problems.push(e),
        Ok(feeds) => {
            for f in feeds {
                let id = format!("inventory.pdu.reachable:{}/{}", f.pdu, f.outlet);
                let (outcome, obs, ev) = match f.driver.status(f.outlet).await {
                    Ok(s) => (
                        Outcome::Pass,
                        s.as_str().to_string(),
                        format!("status read: {}", s.as_str()),
                    ),
                    Err(e) => {
                        problems.push(format!("PDU {} outlet {}: {e}", f.pdu, f.outlet));
                        (Outcome::Fail, "unreachable".to_string(), e.to_string())
                    }
                };
                checks.push(engine_check(
                    &id,
                    "PDU reachable and the outlet readable",
                    Gate::Inventory,
                    outcome,
                    "outlet state readable",
                    &obs,
                    ev,
                ));
            }
        }
    }
    let console_ok = !spec.console.trim().is_empty();
    checks.push(engine_check(
        "inventory.console",
        "console path declared",
        Gate::Inventory,
        if console_ok {
            Outcome::Pass
        } else {
            Outcome::Fail
        },
        "a console path",
        &spec.console,
        format!("inventory console = {:?}", spec.console),
    ));
    // A role image the host must boot is one this coordinator serves.
    if let Some(name) = spec.expect.image.as_deref() {
        let served = ctx.cfg.images.contains(name);
        if !served {
            problems.push(format!(
                "the host boots image {name}, which this coordinator does not serve (--image {name}=<dir>)"
            ));
        }
        checks.push(engine_check(
            "inventory.image",
            "the host's netboot image is served",
            Gate::Inventory,
            if served { Outcome::Pass } else { Outcome::Fail },
            name,
            if served { name } else { "not served" },
            format!(
                "served images: {}",
                ctx.cfg
                    .images
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    add_engine_checks(ctx, run_id, None, checks).await?;
    Ok(if problems.is_empty() {
        Event::Done(
            "inventory gate passed: PDU reachable, outlet readable, console declared".into(),
        )
    } else {
        Event::Failed(format!("inventory gate: {}", problems.join("; ")))
    })
}
