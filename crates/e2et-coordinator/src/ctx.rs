//! The coordinator's shared context: the store, the runs in flight, the
//! PDU drivers, events and the edges (consoles, trails, notices), and the
//! changes of a run that go durable first, then to the in-memory view and the
//! event stream. The engine drives runs over it; the HTTP handlers read it.
use crate::store::{Store, StoreError};
use e2et_model::api::RunEvent;
use e2et_model::inventory::{HostSpec, Inventory};
use e2et_model::{RunMode, RunState};
use e2et_pdu::{Feed, Poll, PowerDriver};
use e2et_score::Policy;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tracing::error;

/// What the context's edges need besides the engine's configuration.
#[derive(Debug, Clone, Default)]
pub struct Edges {
    pub console: crate::console::ConsoleConfig,
    /// dnsmasq's DHCP log (`log-facility`), read for a stuck run's reason.
    pub dhcp_log: Option<std::path::PathBuf>,
}

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
    /// Test hook (hidden flag): the intent of this power action cannot be
    /// recorded (the command must then not be sent).
    pub fail_intent: Option<String>,
    /// Runs driven at once; more wait in `queued` for a slot.
    pub max_runs: usize,
    /// The role images served (`--image`), for the inventory gate.
    pub images: std::collections::BTreeSet<String>,
    /// The bound of e2etd's own SSH key exchange with a host (crate::ssh).
    pub ssh_timeout: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            hello_timeout: Duration::from_secs(300),
            facts_timeout: Duration::from_secs(120),
            heartbeat_timeout: Duration::from_secs(60),
            soft_off_timeout: Duration::from_secs(60),
            soft_off_grace: Duration::from_secs(10),
            poll: Poll::default(),
            crash_after: None,
            fail_intent: None,
            max_runs: 64,
            images: Default::default(),
            ssh_timeout: crate::ssh::BOUND,
        }
    }
}

pub struct Ctx {
    pub store: Arc<Store>,
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
    pub live: Arc<crate::live::Live>,
    /// Every durable change of a run's state, for SSE and notifications.
    pub events: Arc<crate::events::Events>,
    /// Where notices go (none unless configured).
    pub notifier: Arc<crate::notify::Notifier>,
    /// Slots for runs driven at once (`EngineConfig::max_runs`).
    pub slots: Arc<tokio::sync::Semaphore>,
    /// The runs' serial consoles (hosts with `consoleCapture`).
    pub consoles: Arc<crate::console::Consoles>,
    /// A stuck run's trail, for timeout reasons.
    pub trail: crate::diagnose::Trail,
}

impl Ctx {
    /// A context over `store`, its view of the runs in flight rebuilt from
    /// it; consoles kept as `console` says, stuck runs' trails reading
    /// dnsmasq's `dhcp_log`.
    pub fn new(
        store: Store,
        inventory: Inventory,
        drivers: HashMap<String, Result<Arc<dyn PowerDriver>, String>>,
        cfg: EngineConfig,
        edges: Edges,
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
            // A conflict recorded before the restart still ends the run.
            let conflict = Arc::new(crate::live::Conflict::default());
            if let Some(r) = row
                .abort_reason
                .as_deref()
                .filter(|r| r.starts_with(crate::lifecycle::claims::CONFLICT))
            {
                conflict.claim();
                conflict.set(r.to_string());
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
                    conflict,
                },
            );
            for (t, window) in tokens {
                live.token(&t, &row.id, window);
            }
        }
        let cfg_max_runs = cfg.max_runs.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        let store = Arc::new(store);
        let live = Arc::new(live);
        let consoles = Arc::new(crate::console::Consoles::new(edges.console, live.clone()));
        Ok(Ctx {
            trail: crate::diagnose::Trail::new(
                store.clone(),
                live.clone(),
                consoles.clone(),
                edges.dhcp_log,
            ),
            consoles,
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
                conflict: Default::default(),
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

    /// A transition from `from` (refused with [`StoreError::Moved`] if the
    /// run has left it meanwhile): durably, then everywhere that follows runs.
    pub async fn transition(
        &self,
        id: &str,
        from: RunState,
        to: RunState,
        note: &str,
    ) -> Result<u32, StoreError> {
        let t = self.store.transition_from(id, from, to, note).await?;
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

    /// Issues boot window `window`'s token of a run to `source`: durably
    /// (one per window, the store refuses a second), then in the view.
    pub async fn issue_token(
        &self,
        run_id: &str,
        window: u32,
        token_hash: &str,
        source: &str,
    ) -> Result<crate::store::Issued, StoreError> {
        let issued = self
            .store
            .issue_token(run_id, window, token_hash, source)
            .await?;
        if issued == crate::store::Issued::New {
            self.live.token(token_hash, run_id, window);
        }
        Ok(issued)
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

    pub fn feeds(&self, spec: &HostSpec) -> Result<Vec<Feed>, String> {
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

    pub fn cycle_delay(&self, spec: &HostSpec) -> Duration {
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

impl Ctx {
    /// Test hook (`--crash-after`): abort here, as `kill -9` would; with
    /// `panic:<point>`, panic the run's task here instead (the supervisor
    /// must hold the run).
    pub fn crash_if(&self, point: &str) {
        if self
            .cfg
            .crash_after
            .as_deref()
            .and_then(|c| c.strip_prefix("panic:"))
            == Some(point)
        {
            error!(
                point,
                "test hook: panicking the run's task here (--crash-after panic:)"
            );
            panic!("test hook: panic at {point}");
        }
        if self.cfg.crash_after.as_deref() == Some(point) {
            error!(
                point,
                "test hook: aborting the coordinator here (--crash-after)"
            );
            std::process::abort();
        }
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
