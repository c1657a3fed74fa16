//! Run events: every durable change of a run's state, in order, for the
//! dashboard's server-sent events and for notifications. An event is
//! published only after the store made the change durable.
//!
//! Ids are `<epoch>-<n>`: `n` counts from this coordinator's start, `epoch`
//! names the start. A client resuming with `Last-Event-ID` gets what it
//! missed from a bounded backlog, or a `resync` when the backlog no longer
//! reaches back that far or the coordinator restarted in between.
use e2et_model::api::RunEvent;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Events kept for clients that reconnect.
pub const BACKLOG: usize = 4096;

pub struct Events {
    epoch: String,
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<RunEvent>>,
}

struct Inner {
    next: u64,
    recent: VecDeque<(u64, Arc<RunEvent>)>,
}

/// Where a subscriber starts.
pub struct Subscription {
    /// Missed events to send first.
    pub backlog: Vec<Arc<RunEvent>>,
    /// The client's position is unknown here: it must reload its view.
    pub resync: bool,
    pub rx: broadcast::Receiver<Arc<RunEvent>>,
}

impl Default for Events {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(BACKLOG);
        let epoch = format!(
            "{:x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0)
        );
        Events {
            epoch,
            inner: Mutex::new(Inner {
                next: 1,
                recent: VecDeque::with_capacity(BACKLOG),
            }),
            tx,
        }
    }
}

impl Events {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Numbers the event and sends it to every subscriber.
    pub fn publish(&self, mut ev: RunEvent) -> Arc<RunEvent> {
        let mut g = self.lock();
        let n = g.next;
        g.next += 1;
        ev.id = format!("{}-{n}", self.epoch);
        let ev = Arc::new(ev);
        if g.recent.len() == BACKLOG {
            g.recent.pop_front();
        }
        g.recent.push_back((n, ev.clone()));
        // No subscriber is not an error.
        let _ = self.tx.send(ev.clone());
        ev
    }

    /// A receiver of what comes next, and what the client missed after
    /// `last_id` (the SSE `Last-Event-ID`), taken under the same lock as
    /// publishing so nothing falls between the two.
    pub fn subscribe(&self, last_id: Option<&str>) -> Subscription {
        let g = self.lock();
        let rx = self.tx.subscribe();
        let Some(last) = last_id else {
            return Subscription {
                backlog: vec![],
                resync: false,
                rx,
            };
        };
        let n = last
            .split_once('-')
            .filter(|(e, _)| *e == self.epoch)
            .and_then(|(_, n)| n.parse::<u64>().ok())
            .filter(|n| *n < g.next);
        let oldest = g.recent.front().map_or(g.next, |(n, _)| *n);
        match n {
            Some(n) if n + 1 >= oldest => Subscription {
                backlog: g
                    .recent
                    .iter()
                    .filter(|(k, _)| *k > n)
                    .map(|(_, e)| e.clone())
                    .collect(),
                resync: false,
                rx,
            },
            _ => Subscription {
                backlog: vec![],
                resync: true,
                rx,
            },
        }
    }

    /// The subscribers right now (a gauge for /metrics).
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use e2et_model::{RunMode, RunState};

    fn ev(run: &str, state: RunState) -> RunEvent {
        RunEvent {
            id: String::new(),
            run: run.into(),
            host: "vm1".into(),
            mode: RunMode::Cold,
            state,
            from: None,
            verdict: None,
            score: None,
            zone: None,
            at: "t".into(),
            note: String::new(),
        }
    }

    #[tokio::test]
    async fn live_subscribers_get_events_in_order() {
        let e = Events::default();
        let mut s = e.subscribe(None);
        e.publish(ev("r1", RunState::Queued));
        e.publish(ev("r1", RunState::PowerOn));
        assert_eq!(s.rx.recv().await.unwrap().state, RunState::Queued);
        assert_eq!(s.rx.recv().await.unwrap().state, RunState::PowerOn);
    }

    #[test]
    fn a_reconnecting_client_gets_what_it_missed_or_a_resync() {
        let e = Events::default();
        let first = e.publish(ev("r1", RunState::Queued));
        e.publish(ev("r1", RunState::PowerOn));
        e.publish(ev("r1", RunState::Provisioning));
        let s = e.subscribe(Some(&first.id));
        assert!(!s.resync);
        let states: Vec<_> = s.backlog.iter().map(|e| e.state).collect();
        assert_eq!(states, [RunState::PowerOn, RunState::Provisioning]);
        // Another coordinator start, a garbled id, an id from the future.
        for id in ["0-1", "nonsense", &format!("{}-99", e.epoch)] {
            let s = e.subscribe(Some(id));
            assert!(s.resync && s.backlog.is_empty(), "{id}");
        }
        // Fell out of the backlog.
        for _ in 0..BACKLOG {
            e.publish(ev("r2", RunState::Queued));
        }
        assert!(e.subscribe(Some(&first.id)).resync);
    }
}
