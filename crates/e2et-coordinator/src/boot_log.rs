//! The boot-script request log, in memory and bounded: anyone on the
//! provisioning network may ask for a boot script, so asking never makes a
//! durable write (it cannot fill the disk or delay a power intent behind
//! the store's writer). The last request of each inventory MAC is kept
//! apart from the ring, so a flood of unknown MACs cannot push a host's
//! trail out; the stuck-run diagnosis reads it. Lost on restart.
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Requests kept in the ring, whatever their MAC.
pub const RECENT: usize = 4096;

/// One request for a boot script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootRequest {
    /// RFC 3339, the store's format.
    pub at: String,
    pub mac: String,
    pub run: Option<String>,
    pub decision: String,
}

#[derive(Default)]
struct Inner {
    recent: VecDeque<BootRequest>,
    /// By MAC, inventory hosts only (bounded by the inventory).
    last_known: HashMap<String, BootRequest>,
}

pub struct BootLog {
    inner: Mutex<Inner>,
    cap: usize,
}

impl Default for BootLog {
    fn default() -> Self {
        BootLog::new(RECENT)
    }
}

impl BootLog {
    pub fn new(cap: usize) -> BootLog {
        BootLog {
            inner: Mutex::default(),
            cap: cap.max(1),
        }
    }

    /// Notes a request; `known` when the MAC is an inventory host's.
    pub fn record(&self, mac: &str, run: Option<&str>, decision: &str, known: bool) {
        let r = BootRequest {
            at: crate::store::now(),
            mac: mac.to_string(),
            run: run.map(str::to_string),
            decision: decision.to_string(),
        };
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if known {
            g.last_known.insert(r.mac.clone(), r.clone());
        }
        if g.recent.len() >= self.cap {
            g.recent.pop_front();
        }
        g.recent.push_back(r);
    }

    /// The last request of `mac`: (time, decision).
    pub fn last(&self, mac: &str) -> Option<(String, String)> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.last_known
            .get(mac)
            .or_else(|| g.recent.iter().rev().find(|r| r.mac == mac))
            .map(|r| (r.at.clone(), r.decision.clone()))
    }

    /// The ring, oldest first.
    pub fn recent(&self) -> Vec<BootRequest> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.recent.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_is_bounded_and_a_flood_cannot_push_out_a_hosts_last_request() {
        let log = BootLog::new(3);
        log.record("52:54:00:e2:e7:01", Some("r1"), "netboot", true);
        for i in 0..10 {
            log.record(&format!("02:00:00:00:00:{i:02x}"), None, "unknown", false);
        }
        assert_eq!(log.recent().len(), 3, "bounded");
        assert_eq!(log.recent()[2].mac, "02:00:00:00:00:09");
        assert_eq!(
            log.last("52:54:00:e2:e7:01").map(|(_, d)| d).as_deref(),
            Some("netboot"),
            "the host's own last request survives the flood"
        );
        assert_eq!(
            log.last("02:00:00:00:00:00"),
            None,
            "pushed out of the ring"
        );
        assert_eq!(
            log.last("02:00:00:00:00:09").map(|(_, d)| d).as_deref(),
            Some("unknown")
        );
        log.record("52:54:00:e2:e7:01", Some("r1"), "refused: x", true);
        assert_eq!(
            log.last("52:54:00:e2:e7:01").map(|(_, d)| d).as_deref(),
            Some("refused: x"),
            "the newest"
        );
    }
}
