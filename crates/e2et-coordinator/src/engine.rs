//! The engine: one task per run walks the state machine. Each transition is
//! written to the store before the new state's action (a side effect or a wait)
//! runs, so a restarted coordinator knows exactly where each run stood.
use crate::lifecycle::machine::{action_for, next, Action, Event};
use crate::lifecycle::power::{self, Work};
use crate::store::{now, Store, StoreError};
use e2et_model::api::RunEvent;
use e2et_model::check::{Check, Gate, Outcome, Severity};
use e2et_model::inventory::{HostSpec, Inventory};
use e2et_model::report::PowerStep;
use e2et_model::{RunMode, RunState};
use e2et_pdu::{CyclePlan, Feed, Poll, PowerDriver, PowerState, SoftOff, StepLog};
use e2et_score::{boot_checks, score_validation, BootContext, Policy};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tracing::{error, info, info_span, warn, Instrument};

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Provisioning and revalidate: from power-on to the agent's hello.
    pub hello_timeout: Duration,
    /// First boot and revalidate: from hello to the facts.
    pub facts_timeout: Duration,
    /// First boot and revalidate, once the agent said hello: the longest its
    /// silence (no hello, heartbeat or facts) may last before the host is
    /// taken for hung.
    pub heartbeat_timeout: Duration,
    /// dnsmasq's DHCP log (`log-facility`), read for a stuck run's reason.
    pub dhcp_log: Option<std::path::PathBuf>,
    /// Where each run's serial console is kept (hosts with `consoleCapture`).
    pub console_dir: Option<std::path::PathBuf>,
    /// Secrets read by the engine: SOL passwords (`ipmi-<host>`).
    pub credentials_dir: Option<std::path::PathBuf>,
    /// The ipmitool run for `ipmi-sol:` consoles.
    pub ipmitool: std::path::PathBuf,
    pub soft_off_timeout: Duration,
    /// After the agent took the poweroff command, how long to give the OS to
    /// shut down when the PDU cannot tell (an outlet reads on while the host
    /// is off).
    pub soft_off_grace: Duration,
    pub poll: Poll,
    /// Test hook (hidden flag): abort the process, as `kill -9` would, right
    /// after persisting the transition into this state, or right after writing
    /// the intent of this power action (`intent:off`), before its side effect.
    pub crash_after: Option<String>,
    /// Runs driven at once; more wait in `queued` for a slot.
    pub max_runs: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            hello_timeout: Duration::from_secs(300),
            facts_timeout: Duration::from_secs(120),
            heartbeat_timeout: Duration::from_secs(60),
            dhcp_log: None,
            console_dir: None,
            credentials_dir: None,
            ipmitool: "ipmitool".into(),
            soft_off_timeout: Duration::from_secs(60),
            soft_off_grace: Duration::from_secs(10),
            poll: Poll::default(),
            crash_after: None,
            max_runs: 64,
        }
    }
}

pub struct Ctx {
    pub store: Store,
    pub inventory: Inventory,
    /// A driver per PDU, or why it could not be built (a missing secret).
    pub drivers: HashMap<String, Result<Arc<dyn PowerDriver>, String>>,
    pub metrics: crate::metrics::Metrics,
    /// When each run's boot-1 agent was told to power off (soft off).
    pub poweroff_sent: std::sync::Mutex<HashMap<String, tokio::time::Instant>>,
    pub cfg: EngineConfig,
    /// Per-run wake-ups: an agent's report wakes only its run's engine task.
    pub wakers: Wakers,
    pub policy: Policy,
    /// The runs in flight, in memory (follows the store).
    pub live: crate::live::Live,
    /// Every durable change of a run's state, for SSE and notifications.
    pub events: crate::events::Events,
    /// Where notices go (none unless configured).
    pub notifier: Arc<crate::notify::Notifier>,
    /// Slots for runs driven at once (`EngineConfig::max_runs`).
    pub slots: Arc<tokio::sync::Semaphore>,
    /// Runs whose console is being kept.
    pub consoles: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Ctx {
    /// A context over `store`, its view of the runs in flight rebuilt from it.
    pub fn new(
        store: Store,
        inventory: Inventory,
        drivers: HashMap<String, Result<Arc<dyn PowerDriver>, String>>,
        cfg: EngineConfig,
    ) -> Result<Ctx, StoreError> {
        let live = crate::live::Live::default();
        for crate::store::LiveRunRow {
            run: row,
            boots,
            token_hashes: tokens,
        } in store.live_runs()?
        {
            let spec: HostSpec = serde_json::from_str(&row.spec_json)?;
            // An agent that said hello before the restart: its silence is
            // counted from now, so a host that hung meanwhile is still caught.
            let contact = Arc::new(crate::live::Contact::default());
            if !boots.is_empty() {
                contact.touch(crate::live::ContactKind::Restart);
            }
            live.insert(
                &row.id,
                crate::live::LiveRun {
                    host: row.host.clone(),
                    mode: row.mode,
                    state: row.state,
                    spec: Arc::new(spec),
                    boots: boots.iter().map(|b| (b.seq, b.boot_id.clone())).collect(),
                    facts: store.facts_seqs(&row.id)?,
                    since: std::time::Instant::now(),
                    contact,
                },
            );
            for t in tokens {
                live.token(&t, &row.id);
            }
        }
        let cfg_max_runs = cfg.max_runs.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        Ok(Ctx {
            store,
            inventory,
            metrics: Default::default(),
            poweroff_sent: Default::default(),
            cfg,
            wakers: Default::default(),
            policy: Default::default(),
            live,
            events: Default::default(),
            notifier: Arc::new(crate::notify::Notifier::none()),
            slots: Arc::new(tokio::sync::Semaphore::new(cfg_max_runs)),
            consoles: Default::default(),
            // Every PDU serves one command at a time, whichever runs share it.
            drivers: drivers
                .into_iter()
                .map(|(name, d)| {
                    let d = d.map(|d| {
                        Arc::new(e2et_pdu::serialized::Serialized::new(d)) as Arc<dyn PowerDriver>
                    });
                    (name, d)
                })
                .collect(),
        })
    }

    /// Creates a run: durably, then in the view of runs in flight.
    pub async fn create_run(
        &self,
        id: &str,
        host: &str,
        mode: RunMode,
        spec: &HostSpec,
    ) -> Result<(), StoreError> {
        self.store
            .create_run(id, host, mode, &serde_json::to_string(spec)?)
            .await?;
        self.live.insert(
            id,
            crate::live::LiveRun {
                host: host.to_string(),
                mode,
                state: RunState::Queued,
                spec: Arc::new(spec.clone()),
                boots: vec![],
                facts: vec![],
                since: std::time::Instant::now(),
                contact: Default::default(),
            },
        );
        self.events.publish(RunEvent {
            id: String::new(),
            run: id.to_string(),
            host: host.to_string(),
            mode,
            state: RunState::Queued,
            from: None,
            verdict: None,
            score: None,
            zone: None,
            at: crate::store::now(),
            note: "run created".into(),
        });
        Ok(())
    }

    /// Stores a boot's facts: durably, then in the view (waking its run).
    pub async fn add_facts(
        &self,
        run_id: &str,
        seq: u32,
        boot_id: &str,
        facts: &e2et_model::Facts,
    ) -> Result<bool, StoreError> {
        let accepted = self.store.add_facts(run_id, seq, boot_id, facts).await?;
        self.live.facts(run_id, seq);
        Ok(accepted)
    }

    /// A transition: durably, then everywhere that follows runs.
    pub async fn transition(&self, id: &str, to: RunState, note: &str) -> Result<u32, StoreError> {
        let t = self.store.transition(id, to, note).await?;
        if let Some((left, took)) = self.live.state(id, to) {
            self.metrics.step(left.as_str(), took);
        }
        self.events.publish(RunEvent {
            id: String::new(),
            run: id.to_string(),
            host: t.host,
            mode: t.mode,
            state: to,
            from: t.from,
            verdict: crate::store::parse_label(t.verdict.as_deref()),
            score: t.score,
            zone: crate::store::parse_label(t.zone.as_deref()),
            at: t.at,
            note: note.to_string(),
        });
        Ok(t.seq)
    }

    pub async fn add_token(&self, run_id: &str, token_hash: &str) -> Result<(), StoreError> {
        self.store.add_token(run_id, token_hash).await?;
        self.live.token(token_hash, run_id);
        Ok(())
    }

    /// Records a hello: (boot sequence, whether it is a new boot).
    pub async fn add_boot(
        &self,
        run_id: &str,
        boot_id: &str,
        cmdline: &str,
    ) -> Result<(u32, bool), StoreError> {
        let (seq, new) = self.store.add_boot(run_id, boot_id, cmdline).await?;
        self.live.boot(run_id, seq, boot_id);
        Ok((seq, new))
    }

    fn feeds(&self, spec: &HostSpec) -> Result<Vec<Feed>, String> {
        spec.power
            .iter()
            .map(|o| match self.drivers.get(&o.pdu) {
                Some(Ok(d)) => Ok(Feed {
                    pdu: o.pdu.clone(),
                    outlet: o.outlet,
                    driver: d.clone(),
                }),
                Some(Err(e)) => Err(e.clone()),
                None => Err(format!("PDU {} is not in the inventory", o.pdu)),
            })
            .collect()
    }

    fn cycle_delay(&self, spec: &HostSpec) -> Duration {
        let s = spec
            .power
            .iter()
            .filter_map(|o| self.inventory.pdus.get(&o.pdu))
            .map(|p| p.cycle_delay_s)
            .max()
            .unwrap_or(2);
        Duration::from_secs(s)
    }
}

fn crash_if(ctx: &Ctx, point: &str) {
    if ctx.cfg.crash_after.as_deref() == Some(point) {
        error!(
            point,
            "test hook: aborting the coordinator here (--crash-after)"
        );
        std::process::abort();
    }
}

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
    fn intent(&self, pdu: &str, outlet: u32, action: &str) {
        // Durable before the command goes out: the store must justify it.
        if let Err(e) = self
            .store
            .power_intent(self.run_id, self.state, pdu, outlet, action)
            .wait()
        {
            error!(error = %e, "cannot record power intent");
        }
        crash_if(self.ctx, &format!("intent:{action}"));
        if let Ok(mut t) = self.started.lock() {
            *t = Some(std::time::Instant::now());
        }
        info!(pdu, outlet, action, "power command");
    }
    fn done(&self, step: &PowerStep) {
        if let Err(e) = self.store.power_done(self.run_id, self.state, step).wait() {
            error!(error = %e, "cannot record power step");
        }
        if let Some(t) = self.started.lock().ok().and_then(|mut t| t.take()) {
            self.ctx
                .metrics
                .pdu(&step.pdu, &step.action, step.ok, t.elapsed());
        }
        info!(pdu = %step.pdu, outlet = step.outlet, action = %step.action, observed = ?step.observed, ok = step.ok, "power step");
        // A switch that did not read back is the PDU's fault or its wiring's
        // (a soft off that has not landed yet is neither).
        if !step.ok && matches!(step.action.as_str(), "on" | "off") {
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

fn engine_check(
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

async fn add_engine_checks(
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

/// Restart recovery: decides, for each unfinished run, whether it can resume.
/// A run whose power action may have happened without its outcome being
/// recorded is put on hold: the store cannot justify repeating it.
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
            if let Err(e) = drive(&ctx, &run_id).await {
                error!(error = %e, "engine stopped on a store error");
            }
        }
        .instrument(span),
    );
}

async fn drive(ctx: &Arc<Ctx>, run_id: &str) -> Result<(), StoreError> {
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
            crate::console::start(ctx, run_id, &run.spec);
        }
        let ev = perform(ctx, run_id, run.mode, run.state, &run.spec).await?;
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
        ctx.transition(run_id, to, &note).await?;
        info!(from = %run.state, to = %to, %note, "transition");
        crash_if(ctx, to.as_str());
    }
}

/// Wake-up handles per run, so that one agent's report wakes one engine task
/// instead of every run in flight.
#[derive(Default)]
pub struct Wakers {
    map: std::sync::Mutex<HashMap<String, Arc<Notify>>>,
}

impl Wakers {
    pub fn get(&self, run_id: &str) -> Arc<Notify> {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(run_id.to_string()).or_default().clone()
    }

    pub fn wake(&self, run_id: &str) {
        let m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get(run_id) {
            n.notify_waiters();
        }
    }

    pub fn forget(&self, run_id: &str) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        m.remove(run_id);
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
        Action::PowerOnCold => match take_power(ctx, run_id, state, spec, Work::PowerOn).await? {
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
                    crate::diagnose::trail(ctx, run_id, spec)
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
        Action::Cycle { soft } => match take_power(ctx, run_id, state, spec, Work::Cycle { soft }).await? {
            Ok(()) if soft => Event::Done("power cycle: off read back, on read back".into()),
            Ok(()) => Event::Done(
                "power cycle: off read back, on read back (quick run: no agent of this run was up to take a soft off)".into(),
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
                    crate::diagnose::trail(ctx, run_id, spec)
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

/// The state's power work: the core plans what is left (a resumed run
/// repeats nothing the store shows read back), `e2et_pdu::cycle` takes the
/// steps, each intent and outcome written to the store. Err: which step
/// failed, or why no step could be taken.
async fn take_power(
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
    let agent = AgentSoftOff { ctx, run_id };
    Ok(
        e2et_pdu::cycle(&log, &feeds, &cycle, Some(&agent), ctx.cfg.poll)
            .await
            .map(|_| ())
            .map_err(|(_, e)| e.to_string()),
    )
}

/// The soft off of a cold run's power cycle: boot 1's agent is told to power
/// off by its heartbeat (lifecycle::heartbeat).
struct AgentSoftOff<'a> {
    ctx: &'a Ctx,
    run_id: &'a str,
}

#[async_trait::async_trait]
impl SoftOff for AgentSoftOff<'_> {
    async fn soft_off(&self, feeds: &[Feed]) -> String {
        soft_off(self.ctx, self.run_id, feeds).await
    }
}

/// Waits for the host to go down after the agent is asked to power off: until
/// every feed reads off (a QMP "PDU" sees the guest stop), or the grace period
/// after the agent took the command (a real PDU's outlet stays on), or the
/// timeout. Returns what happened, for the power step's detail.
async fn soft_off(ctx: &Ctx, run_id: &str, feeds: &[Feed]) -> String {
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
            return format!(
                "host shut down on the agent's poweroff after {:.1}s (outlet reads off)",
                start.elapsed().as_secs_f64()
            );
        }
        let sent = ctx
            .poweroff_sent
            .lock()
            .ok()
            .and_then(|m| m.get(run_id).copied());
        if let Some(t) = sent {
            if t.elapsed() >= ctx.cfg.soft_off_grace {
                return format!(
                    "agent took the poweroff command; gave the OS {}s to shut down before cutting power",
                    ctx.cfg.soft_off_grace.as_secs()
                );
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return format!(
                "no poweroff acknowledged within {}s; cutting power",
                ctx.cfg.soft_off_timeout.as_secs()
            );
        }
        tokio::time::sleep(ctx.cfg.poll.interval).await;
    }
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
        let trail = crate::diagnose::trail(ctx, run_id, spec);
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
    add_engine_checks(ctx, run_id, None, checks).await?;
    Ok(if problems.is_empty() {
        Event::Done(
            "inventory gate passed: PDU reachable, outlet readable, console declared".into(),
        )
    } else {
        Event::Failed(format!("inventory gate: {}", problems.join("; ")))
    })
}
