//! performance: each measured figure against the spec's baseline and
//! tolerance. A baseline the probe did not measure is a required check that
//! did not run (the verdict is then incomplete, never green).
use super::C;
use e2et_model::check::{Check, Gate, Outcome};
use e2et_model::facts::{Facts, PerformanceFacts};
use e2et_model::inventory::HostSpec;
use e2et_model::Observed;

const G: Gate = Gate::Performance;

/// One measured figure and its baseline.
struct Figure<'a> {
    id: &'a str,
    title: &'a str,
    unit: &'a str,
    baseline: Option<f64>,
    /// Throughput (at least baseline × (1 − tol)); otherwise a latency (at
    /// most baseline × (1 + tol)).
    higher: bool,
    got: Observed<f64>,
    evidence: String,
}

impl Figure<'_> {
    fn judge(self, tol_pct: f64) -> Option<Check> {
        let b = self.baseline?;
        let limit = if self.higher {
            b * (1.0 - tol_pct / 100.0)
        } else {
            b * (1.0 + tol_pct / 100.0)
        };
        let unit = self.unit;
        let expected = format!(
            "{} {limit:.1} {unit} (baseline {b} {unit}, tolerance {tol_pct}%)",
            if self.higher { ">=" } else { "<=" }
        );
        let c = C::new(self.id, self.title, G).weight(5);
        Some(match self.got {
            Observed::Ok { value } => c.compare(
                if self.higher {
                    value >= limit
                } else {
                    value <= limit
                },
                expected,
                format!("{value:.1} {unit}"),
                self.evidence,
            ),
            Observed::NotApplicable { reason } | Observed::Error { message: reason } => c.finish(
                Outcome::NotRun {
                    reason: reason.clone(),
                },
                Some(expected),
                Some(format!("not measured: {reason}")),
                reason,
            ),
        })
    }
}

pub fn checks(spec: &HostSpec, facts: &Facts, out: &mut Vec<Check>) {
    let Some(e) = &spec.expect.performance else {
        return;
    };
    let p = match &facts.performance {
        Observed::Ok { value } => value.clone(),
        other => {
            let why = other.why_not().unwrap_or_default();
            PerformanceFacts {
                cpu_single_mibs: Observed::err(why.clone()),
                cpu_all_mibs: Observed::err(why.clone()),
                memory_mibs: Observed::err(why.clone()),
                disk: Observed::err(why.clone()),
                tcp: Observed::err(why),
            }
        }
    };
    let disk_ev = p.disk.value().map_or(String::new(), |d| {
        format!(
            "{} MiB with O_DIRECT in {}; fsync p50 {:.2} ms",
            d.bytes >> 20,
            d.dir,
            d.fsync_p50_ms
        )
    });
    let tcp_ev = p.tcp.value().map_or(String::new(), |x| {
        format!(
            "{} MiB to {} in {:.2} s",
            x.bytes >> 20,
            x.target,
            x.seconds
        )
    });
    let figures = [
        Figure {
            id: "performance.cpu.single",
            title: "single-thread SHA-256 throughput",
            unit: "MiB/s",
            baseline: e.cpu_single_mibs,
            higher: true,
            got: p.cpu_single_mibs.clone(),
            evidence: format!("SHA-256 over 1 MiB buffers for {} ms", e.duration_ms),
        },
        Figure {
            id: "performance.cpu.all",
            title: "all-core SHA-256 throughput",
            unit: "MiB/s",
            baseline: e.cpu_all_mibs,
            higher: true,
            got: p.cpu_all_mibs.clone(),
            evidence: format!(
                "one thread per logical CPU ({}), {} ms",
                facts.platform.cpu_count, e.duration_ms
            ),
        },
        Figure {
            id: "performance.memory.bandwidth",
            title: "memory copy bandwidth",
            unit: "MiB/s",
            baseline: e.memory_mibs,
            higher: true,
            got: p.memory_mibs.clone(),
            evidence: "memcpy of a buffer of a sixteenth of memory (4 to 64 MiB), repeated".into(),
        },
        Figure {
            id: "performance.disk.write",
            title: "sequential write",
            unit: "MiB/s",
            baseline: e.disk_write_mibs,
            higher: true,
            got: p.disk.clone().map(|d| d.write_mibs),
            evidence: disk_ev.clone(),
        },
        Figure {
            id: "performance.disk.read",
            title: "sequential read",
            unit: "MiB/s",
            baseline: e.disk_read_mibs,
            higher: true,
            got: p.disk.clone().map(|d| d.read_mibs),
            evidence: disk_ev.clone(),
        },
        Figure {
            id: "performance.disk.fsync_p99",
            title: "fsync latency (p99)",
            unit: "ms",
            baseline: e.fsync_p99_ms,
            higher: false,
            got: p.disk.clone().map(|d| d.fsync_p99_ms),
            evidence: disk_ev,
        },
        Figure {
            id: "performance.network.tcp",
            title: "TCP throughput to the coordinator",
            unit: "Mb/s",
            baseline: e.tcp_mbits,
            higher: true,
            got: p.tcp.clone().map(|x| x.mbits),
            evidence: tcp_ev,
        },
    ];
    out.extend(figures.into_iter().filter_map(|f| f.judge(e.tolerance_pct)));
}
