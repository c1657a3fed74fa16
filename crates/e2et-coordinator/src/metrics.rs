//! Prometheus metrics, rendered in the text exposition format at `/metrics`:
//! runs by state and verdict (from the store), HTTP request counts and
//! latencies per route, PDU command latencies per PDU and action, time spent
//! in each lifecycle state, event-stream subscribers.
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Lifecycle states last from a second (a gate) to many minutes (a slow POST).
const STEP_BUCKETS: [f64; 11] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
];

#[derive(Clone)]
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    count: u64,
    sum: f64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new(&BUCKETS)
    }
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            count: 0,
            sum: 0.0,
        }
    }

    fn observe(&mut self, secs: f64) {
        for (i, b) in self.bounds.iter().enumerate() {
            if secs <= *b {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

/// Label sets are kept sorted so the exposition is stable.
#[derive(Default)]
pub struct Metrics {
    http: Mutex<BTreeMap<(String, u16), Histogram>>,
    pdu: Mutex<BTreeMap<(String, String, bool), Histogram>>,
    /// Seconds a run spent in a state, observed when it leaves it.
    steps: Mutex<BTreeMap<String, Histogram>>,
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn hist(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    for (i, b) in h.bounds.iter().enumerate() {
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{b}\"}} {}", h.counts[i]);
    }
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum);
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
}

impl Metrics {
    pub fn http(&self, route: &str, status: u16, took: Duration) {
        if let Ok(mut m) = self.http.lock() {
            m.entry((route.to_string(), status))
                .or_default()
                .observe(took.as_secs_f64());
        }
    }

    pub fn pdu(&self, pdu: &str, action: &str, ok: bool, took: Duration) {
        if let Ok(mut m) = self.pdu.lock() {
            m.entry((pdu.to_string(), action.to_string(), ok))
                .or_default()
                .observe(took.as_secs_f64());
        }
    }

    /// The exposition; `runs` are (state, count) and `verdicts` (verdict, count).
    /// A run left `state` after `took` in it.
    pub fn step(&self, state: &str, took: Duration) {
        if let Ok(mut m) = self.steps.lock() {
            m.entry(state.to_string())
                .or_insert_with(|| Histogram::new(&STEP_BUCKETS))
                .observe(took.as_secs_f64());
        }
    }

    pub fn render(
        &self,
        runs: &[(String, u64)],
        verdicts: &[(String, u64)],
        subscribers: usize,
        notifications: &[((String, String, bool), u64)],
    ) -> String {
        let mut out = String::new();
        out.push_str("# HELP e2et_runs Runs by lifecycle state.\n# TYPE e2et_runs gauge\n");
        for (s, n) in runs {
            let _ = writeln!(out, "e2et_runs{{state=\"{}\"}} {n}", esc(s));
        }
        out.push_str(
            "# HELP e2et_run_verdicts Finished runs by verdict.\n# TYPE e2et_run_verdicts gauge\n",
        );
        for (v, n) in verdicts {
            let _ = writeln!(out, "e2et_run_verdicts{{verdict=\"{}\"}} {n}", esc(v));
        }
        out.push_str("# HELP e2et_http_request_duration_seconds HTTP requests by route and status.\n# TYPE e2et_http_request_duration_seconds histogram\n");
        if let Ok(m) = self.http.lock() {
            for ((route, status), h) in m.iter() {
                hist(
                    &mut out,
                    "e2et_http_request_duration_seconds",
                    &format!("route=\"{}\",status=\"{status}\"", esc(route)),
                    h,
                );
            }
        }
        out.push_str("# HELP e2et_pdu_command_duration_seconds PDU commands, from command to state read back.\n# TYPE e2et_pdu_command_duration_seconds histogram\n");
        if let Ok(m) = self.pdu.lock() {
            for ((pdu, action, ok), h) in m.iter() {
                hist(
                    &mut out,
                    "e2et_pdu_command_duration_seconds",
                    &format!(
                        "pdu=\"{}\",action=\"{}\",ok=\"{ok}\"",
                        esc(pdu),
                        esc(action)
                    ),
                    h,
                );
            }
        }
        out.push_str("# HELP e2et_run_state_duration_seconds Time a run spent in a lifecycle state (observed on leaving it; since the coordinator's start for a run it resumed).\n# TYPE e2et_run_state_duration_seconds histogram\n");
        if let Ok(m) = self.steps.lock() {
            for (state, h) in m.iter() {
                hist(
                    &mut out,
                    "e2et_run_state_duration_seconds",
                    &format!("state=\"{}\"", esc(state)),
                    h,
                );
            }
        }
        out.push_str("# HELP e2et_notifications_total Notifications by target, kind and whether they were delivered (after retries).\n# TYPE e2et_notifications_total counter\n");
        for ((target, kind, ok), n) in notifications {
            let _ = writeln!(
                out,
                "e2et_notifications_total{{target=\"{}\",kind=\"{}\",delivered=\"{ok}\"}} {n}",
                esc(target),
                esc(kind)
            );
        }
        let _ = writeln!(
            out,
            "# HELP e2et_event_subscribers Clients following /api/v1/events.\n# TYPE e2et_event_subscribers gauge\ne2et_event_subscribers {subscribers}"
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_cumulative_buckets() {
        let m = Metrics::default();
        m.http("/api/v1/agent/hello", 200, Duration::from_millis(3));
        m.http("/api/v1/agent/hello", 200, Duration::from_millis(30));
        let t = m.render(&[("provisioning".into(), 2)], &[], 0, &[]);
        assert!(t.contains("e2et_runs{state=\"provisioning\"} 2"));
        assert!(
            t.contains("route=\"/api/v1/agent/hello\",status=\"200\",le=\"0.005\"} 1"),
            "{t}"
        );
        assert!(
            t.contains("route=\"/api/v1/agent/hello\",status=\"200\",le=\"0.05\"} 2"),
            "{t}"
        );
        assert!(t.contains("e2et_http_request_duration_seconds_count{route=\"/api/v1/agent/hello\",status=\"200\"} 2"));
    }
}
