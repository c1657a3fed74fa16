//! The runs in flight, in memory: what every agent request needs (which run a
//! token belongs to, the run's state, its host's spec, its boots) without a
//! database read. It follows the store, never leads it: each change is
//! applied here only after the store made it durable, and the whole view is
//! rebuilt from the store when the coordinator starts.
use e2et_model::inventory::HostSpec;
use e2et_model::{RunMode, RunState};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// What an agent last said to the coordinator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactKind {
    Hello,
    Heartbeat,
    Facts,
    /// Not the agent: this coordinator restarted with the run's agent up
    /// (contact is not stored), so silence is counted from the restart.
    Restart,
}

impl ContactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ContactKind::Hello => "hello",
            ContactKind::Heartbeat => "heartbeat",
            ContactKind::Facts => "facts",
            ContactKind::Restart => "nothing since the coordinator restarted",
        }
    }
}

/// When a run's agent was last heard from: kept in memory only (a heartbeat
/// is not worth an fsync), shared by every clone of the run's view so an
/// agent request updates it without taking the view's write lock. The clock
/// is monotonic; a wall time is derived only to report it.
#[derive(Debug)]
pub struct Contact {
    base: Instant,
    /// Milliseconds after `base` plus one (0: never heard from).
    at_ms: AtomicU64,
    kind: AtomicU8,
}

impl Default for Contact {
    fn default() -> Self {
        Contact {
            base: Instant::now(),
            at_ms: AtomicU64::new(0),
            kind: AtomicU8::new(0),
        }
    }
}

impl Contact {
    pub fn touch(&self, kind: ContactKind) {
        let ms = self.base.elapsed().as_millis() as u64 + 1;
        self.kind.store(kind as u8, Ordering::Relaxed);
        self.at_ms.store(ms, Ordering::Relaxed);
    }

    /// How long ago the agent was last heard from, and what it said.
    pub fn last(&self) -> Option<(Duration, ContactKind)> {
        let at = self.at_ms.load(Ordering::Relaxed);
        if at == 0 {
            return None;
        }
        let kind = match self.kind.load(Ordering::Relaxed) {
            0 => ContactKind::Hello,
            1 => ContactKind::Heartbeat,
            2 => ContactKind::Facts,
            _ => ContactKind::Restart,
        };
        let ago = self
            .base
            .elapsed()
            .saturating_sub(Duration::from_millis(at - 1));
        Some((ago, kind))
    }
}

/// Why a run's host has a conflicting claimant (lifecycle::claims), once:
/// the first reason stands; and whether the run left the engine's hands
/// (someone else ended it: an operator's hold). The run's engine task waits
/// on both beside its own waits, so either ends a wait at once.
#[derive(Debug, Default)]
pub struct Conflict {
    claimed: std::sync::atomic::AtomicBool,
    reason: std::sync::OnceLock<String>,
    left: std::sync::atomic::AtomicBool,
    notify: tokio::sync::Notify,
}

/// What ended an engine wait from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interrupt {
    Conflict(String),
    /// The run reached a terminal state (or hold) by another hand.
    Left,
}

impl Conflict {
    /// `true` for the first caller only: it records the conflict durably,
    /// then [`Conflict::set`]s it.
    pub fn claim(&self) -> bool {
        !self.claimed.swap(true, Ordering::SeqCst)
    }

    /// Records `reason`; `false` if another one was recorded first.
    pub fn set(&self, reason: String) -> bool {
        let first = self.reason.set(reason).is_ok();
        self.notify.notify_waiters();
        first
    }

    pub fn get(&self) -> Option<&str> {
        self.reason.get().map(String::as_str)
    }

    /// The run left the view of runs in flight.
    pub fn leave(&self) {
        self.left.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Resolves once there is a conflict or the run has left.
    pub async fn interrupted(&self) -> Interrupt {
        loop {
            let n = self.notify.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if let Some(r) = self.reason.get() {
                return Interrupt::Conflict(r.clone());
            }
            if self.left.load(Ordering::SeqCst) {
                return Interrupt::Left;
            }
            n.await;
        }
    }
}

#[derive(Debug, Clone)]
pub struct LiveRun {
    pub host: String,
    pub mode: RunMode,
    pub state: RunState,
    pub spec: Arc<HostSpec>,
    /// (seq, boot_id), in order.
    pub boots: Vec<(u32, String)>,
    /// Boot sequences whose facts are stored.
    pub facts: Vec<u32>,
    /// When the run entered its state (here: since this process knows it).
    pub since: std::time::Instant,
    /// When its agent was last heard from (since this process started).
    pub contact: Arc<Contact>,
    /// A conflicting claimant, if one showed up.
    pub conflict: Arc<Conflict>,
}

#[derive(Default)]
struct Inner {
    runs: HashMap<String, LiveRun>,
    /// sha256 (hex) of a token → its run and boot window.
    tokens: HashMap<String, (String, u32)>,
}

#[derive(Default)]
pub struct Live {
    inner: RwLock<Inner>,
}

impl Live {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn insert(&self, id: &str, run: LiveRun) {
        self.write().runs.insert(id.to_string(), run);
    }

    pub fn token(&self, token_hash: &str, run_id: &str, window: u32) {
        self.write()
            .tokens
            .insert(token_hash.to_string(), (run_id.to_string(), window));
    }

    pub fn boot(&self, run_id: &str, seq: u32, boot_id: &str) {
        if let Some(r) = self.write().runs.get_mut(run_id) {
            if !r.boots.iter().any(|(s, _)| *s == seq) {
                r.boots.push((seq, boot_id.to_string()));
                r.boots.sort();
            }
        }
    }

    pub fn facts(&self, run_id: &str, seq: u32) {
        if let Some(r) = self.write().runs.get_mut(run_id) {
            if !r.facts.contains(&seq) {
                r.facts.push(seq);
            }
        }
    }

    /// A run's new state; a finished run leaves the view (with its tokens).
    /// Returns how long it was in the state it left, if it was in flight.
    pub fn state(&self, run_id: &str, state: RunState) -> Option<(RunState, std::time::Duration)> {
        let mut g = self.write();
        let now = std::time::Instant::now();
        let left = g
            .runs
            .get(run_id)
            .map(|r| (r.state, now.saturating_duration_since(r.since)));
        if state.is_terminal() {
            if let Some(r) = g.runs.remove(run_id) {
                r.conflict.leave();
            }
            g.tokens.retain(|_, (r, _)| r != run_id);
        } else if let Some(r) = g.runs.get_mut(run_id) {
            r.state = state;
            r.since = now;
        }
        left
    }

    pub fn get(&self, run_id: &str) -> Option<LiveRun> {
        self.read().runs.get(run_id).cloned()
    }

    /// The run and boot window of a token.
    pub fn run_of_token(&self, token_hash: &str) -> Option<(String, u32)> {
        self.read().tokens.get(token_hash).cloned()
    }

    pub fn len(&self) -> usize {
        self.read().runs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Arc<HostSpec> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "mac": "52:54:00:00:00:01", "ip": "10.0.0.1", "fqdn": "a.t", "power": [],
                "console": "s", "profile": "p", "requiredZone": "p90"
            }))
            .unwrap(),
        )
    }

    #[test]
    fn follows_a_run_and_forgets_it_when_it_ends() {
        let l = Live::default();
        l.insert(
            "r1",
            LiveRun {
                host: "a".into(),
                mode: RunMode::Cold,
                state: RunState::Queued,
                spec: spec(),
                boots: vec![],
                facts: vec![],
                since: std::time::Instant::now(),
                contact: Default::default(),
                conflict: Default::default(),
            },
        );
        l.token("h1", "r1", 1);
        assert_eq!(
            l.state("r1", RunState::Provisioning).map(|(s, _)| s),
            Some(RunState::Queued)
        );
        l.boot("r1", 1, "b1");
        l.boot("r1", 1, "b1");
        l.facts("r1", 1);
        assert_eq!(l.get("r1").unwrap().facts, vec![1]);
        let r = l.get("r1").unwrap();
        assert_eq!(r.state, RunState::Provisioning);
        assert_eq!(r.boots, vec![(1, "b1".to_string())]);
        assert_eq!(l.run_of_token("h1"), Some(("r1".to_string(), 1)));
        l.state("r1", RunState::Passed);
        assert!(l.get("r1").is_none());
        assert!(l.run_of_token("h1").is_none());
        assert!(l.is_empty());
    }

    #[test]
    fn contact_is_shared_by_every_view_of_a_run() {
        let l = Live::default();
        l.insert(
            "r1",
            LiveRun {
                host: "a".into(),
                mode: RunMode::Cold,
                state: RunState::FirstBoot,
                spec: spec(),
                boots: vec![],
                facts: vec![],
                since: std::time::Instant::now(),
                contact: Default::default(),
                conflict: Default::default(),
            },
        );
        assert!(l.get("r1").unwrap().contact.last().is_none());
        l.get("r1").unwrap().contact.touch(ContactKind::Heartbeat);
        let (ago, kind) = l.get("r1").unwrap().contact.last().unwrap();
        assert_eq!(kind, ContactKind::Heartbeat);
        assert!(ago < Duration::from_secs(60));
        l.get("r1").unwrap().contact.touch(ContactKind::Facts);
        assert_eq!(
            l.get("r1").unwrap().contact.last().unwrap().1,
            ContactKind::Facts
        );
    }
}
