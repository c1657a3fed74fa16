//! Rules: facts × spec → checks. Each check carries its id, gate, severity,
//! expected and observed values and evidence a person can read. One module
//! per gate; a check the host kind cannot have says "not applicable" and
//! why, and a check the profile switches off says so too.
use e2et_model::check::{Check, Gate, Outcome, Severity};
use e2et_model::facts::{Facts, PathDigest};
use e2et_model::inventory::HostSpec;
use e2et_model::Observed;
use std::collections::BTreeMap;

mod first_boot;
mod identity;
mod network;
mod performance;
mod platform;
mod service;
mod storage;

pub use first_boot::{configuration_revision, drift};

/// What a rule needs to know besides the spec and the facts.
#[derive(Debug, Clone)]
pub struct BootContext<'a> {
    /// The run the facts belong to; `None` when scored outside a run
    /// (`e2et-score validate` of a collected facts file).
    pub run_id: Option<&'a str>,
    pub boot_seq: u32,
    /// A quick run's boot is the host's installed system, which must not
    /// have come through a netboot script.
    pub mode: e2et_model::RunMode,
}

pub(crate) struct C {
    id: String,
    title: String,
    gate: Gate,
    severity: Severity,
    weight: u32,
    required: bool,
}

impl C {
    pub(crate) fn new(id: impl Into<String>, title: impl Into<String>, gate: Gate) -> C {
        C {
            id: id.into(),
            title: title.into(),
            gate,
            severity: Severity::Weighted,
            weight: 10,
            required: true,
        }
    }
    pub(crate) fn hard(mut self) -> C {
        self.severity = Severity::Hard;
        self
    }
    pub(crate) fn weight(mut self, w: u32) -> C {
        self.weight = w;
        self
    }
    pub(crate) fn optional(mut self) -> C {
        self.required = false;
        self
    }
    pub(crate) fn finish(
        self,
        outcome: Outcome,
        expected: Option<String>,
        observed: Option<String>,
        evidence: impl Into<String>,
    ) -> Check {
        Check {
            id: self.id,
            title: self.title,
            gate: self.gate,
            severity: self.severity,
            weight: self.weight,
            required: self.required,
            outcome,
            expected,
            observed,
            evidence: evidence.into(),
        }
    }
    pub(crate) fn compare(
        self,
        ok: bool,
        expected: String,
        observed: String,
        evidence: String,
    ) -> Check {
        let o = if ok { Outcome::Pass } else { Outcome::Fail };
        self.finish(o, Some(expected), Some(observed), evidence)
    }
    /// Hard when `yes`.
    pub(crate) fn hard_if(self, yes: bool) -> C {
        if yes {
            self.hard()
        } else {
            self
        }
    }
    /// Not applicable here, with the reason (also shown as observed).
    pub(crate) fn na(self, reason: impl Into<String>, expected: impl Into<String>) -> Check {
        let reason = reason.into();
        self.finish(
            Outcome::NotApplicable {
                reason: reason.clone(),
            },
            Some(expected.into()),
            Some(format!("not applicable: {reason}")),
            reason,
        )
    }
    /// The facts lack what this check needs because the probe was not asked
    /// for it: a check that did not run (a required one leaves the verdict
    /// incomplete), never a pass or a fail.
    pub(crate) fn not_asked(self, expected: impl Into<String>, what: &str) -> Check {
        let why = format!(
            "the probe was not asked for {what}: collect with this host's spec (the agent does; by hand: e2et-probe collect --inventory <file> --host <name>)"
        );
        self.finish(
            Outcome::NotRun {
                reason: why.clone(),
            },
            Some(expected.into()),
            Some(format!("not collected: {what}")),
            why,
        )
    }
    /// The profile switched this check off.
    pub(crate) fn off(self, spec: &HostSpec, what: &str) -> Check {
        let why = format!("profile {} does not require {what}", spec.profile);
        self.na(why, "not required")
    }
    /// The probe could not establish the fact this check needs.
    pub(crate) fn error(self, message: impl Into<String>, expected: impl Into<String>) -> Check {
        let m = message.into();
        self.finish(
            Outcome::Error { message: m.clone() },
            Some(expected.into()),
            Some(m.clone()),
            format!("the probe reported: {m}"),
        )
    }
    /// A check over an observed fact: a value goes to `f`; not applicable
    /// and errors are the check's own outcome.
    pub(crate) fn over<T>(
        self,
        o: &Observed<T>,
        expected: impl Into<String>,
        f: impl FnOnce(C, &T) -> Check,
    ) -> Check {
        match o {
            Observed::Ok { value } => f(self, value),
            Observed::NotApplicable { reason } => self.na(reason.clone(), expected),
            Observed::Error { message } => self.error(message.clone(), expected),
        }
    }
    /// Like `over`, but the fact being absent here means the host lacks what
    /// the spec requires: a failure, not "not applicable".
    pub(crate) fn require<T>(
        self,
        o: &Observed<T>,
        expected: impl Into<String>,
        f: impl FnOnce(C, &T) -> Check,
    ) -> Check {
        let expected = expected.into();
        match o {
            Observed::Ok { value } => f(self, value),
            Observed::NotApplicable { reason } => {
                self.compare(false, expected, format!("absent: {reason}"), reason.clone())
            }
            Observed::Error { message } => self.error(message.clone(), expected),
        }
    }
}

/// `a, b` or `none`.
pub(crate) fn join_or(v: &[String], none: &str) -> String {
    if v.is_empty() {
        none.to_string()
    } else {
        v.join(", ")
    }
}

pub(crate) fn cmdline_value<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// Checks of one boot's facts against the host's spec.
pub fn boot_checks(spec: &HostSpec, facts: &Facts, ctx: &BootContext<'_>) -> Vec<Check> {
    let mut out = Vec::new();

    // A collector that failed is an error in its domain, never an empty pass.
    for (domain, msg) in &facts.errors {
        let gate = match domain.as_str() {
            "first_boot" => Gate::FirstBoot,
            "network" => Gate::Network,
            "persistence" | "storage" => Gate::Storage,
            "identity" => Gate::Identity,
            "service" => Gate::Service,
            "performance" => Gate::Performance,
            _ => Gate::Platform,
        };
        out.push(
            C::new(
                format!("{gate}.collector.{domain}"),
                format!("collector {domain} ran without error"),
                gate,
            )
            .weight(5)
            .finish(
                Outcome::Error {
                    message: msg.clone(),
                },
                Some("no collector error".into()),
                Some(msg.clone()),
                format!("probe {} reported: {msg}", facts.probe_version),
            ),
        );
    }

    let fb = &facts.first_boot;
    let run_on_cmdline = cmdline_value(&fb.cmdline, "e2et.run");
    let bp = C::new(
        "provisioning.boot_path",
        "booted through this run's netboot script",
        Gate::Provisioning,
    )
    .hard();
    out.push(match ctx.run_id {
        None => bp.na(
            "scored outside a run: there is no run whose netboot script to check",
            "e2et.run=<run id>",
        ),
        Some(_) if ctx.mode == e2et_model::RunMode::Quick => C::new(
            "provisioning.boot_path",
            "booted the installed system, not a netboot script",
            Gate::Provisioning,
        )
        .hard()
        .compare(
            run_on_cmdline.is_none(),
            "no e2et.run= (the host's own boot loader)".into(),
            run_on_cmdline.map_or("no e2et.run= on the kernel cmdline".into(), |r| {
                format!("netbooted by run {r}")
            }),
            format!("/proc/cmdline: {}", fb.cmdline),
        ),
        Some(run_id) => bp.compare(
            run_on_cmdline == Some(run_id),
            format!("e2et.run={run_id}"),
            run_on_cmdline.map_or("no e2et.run= on the kernel cmdline".into(), |r| {
                format!("e2et.run={r}")
            }),
            format!("/proc/cmdline: {}", fb.cmdline),
        ),
    });

    first_boot::checks(spec, facts, &mut out);
    platform::checks(spec, facts, &mut out);
    network::checks(spec, facts, &mut out);
    storage::checks(spec, facts, ctx, &mut out);
    identity::checks(spec, facts, &mut out);
    service::checks(spec, facts, &mut out);
    performance::checks(spec, facts, &mut out);
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

pub(crate) fn describe_digest(d: &PathDigest) -> String {
    match (&d.error, d.exists, &d.sha256) {
        (Some(e), _, _) => format!("unreadable: {e}"),
        (None, false, _) => "absent".into(),
        (None, true, Some(h)) => format!("sha256:{h} ({} bytes)", d.bytes),
        (None, true, None) => "present, no digest".into(),
    }
}

/// What the coordinator observed of the run as a whole.
#[derive(Debug, Clone, Default)]
pub struct RunObservations {
    /// (boot_seq, boot_id) per hello, in order.
    pub boots: Vec<(u32, String)>,
    /// Persistence digests per boot_seq.
    pub persistence: BTreeMap<u32, BTreeMap<String, PathDigest>>,
    /// `Some(true)` when the power cycle's off and on were both read back from the
    /// device; `Some(false)` when a step failed; `None` when no cycle ran.
    pub power_cycle_verified: Option<bool>,
    pub power_cycle_evidence: String,
    /// A quick run has one boot, after the cycle: whether its kernel started
    /// after the outlet read back off (facts' uptime against the time they
    /// arrived), with the figures. `None` for cold runs, which compare two
    /// boot ids instead.
    pub quick_boot_after_cycle: Option<(bool, String)>,
}

/// Checks about the run as a whole.
pub fn run_checks(spec: &HostSpec, obs: &RunObservations) -> Vec<Check> {
    let mut out = Vec::new();
    let pc = C::new(
        "provisioning.power_cycle",
        "PDU power cycle observed off and on",
        Gate::Provisioning,
    )
    .hard();
    out.push(match obs.power_cycle_verified {
        None => pc.finish(
            Outcome::NotRun {
                reason: "no power cycle ran".into(),
            },
            Some("off and on read back".into()),
            None,
            obs.power_cycle_evidence.clone(),
        ),
        Some(ok) => pc.compare(
            ok,
            "off and on read back".into(),
            if ok {
                "off and on read back".into()
            } else {
                "a step was not verified".into()
            },
            obs.power_cycle_evidence.clone(),
        ),
    });

    if let Some((after, evidence)) = &obs.quick_boot_after_cycle {
        // A quick run: one boot, on the host's installed system. Its reboot
        // is proven by when its kernel started; persistence across a cycle
        // needs a boot on each side of it, which only a cold run has.
        out.push(
            C::new(
                "first_boot.reboot_observed",
                "the kernel started after the power cycle cut the outlet",
                Gate::FirstBoot,
            )
            .hard()
            .compare(
                *after,
                "kernel start after the outlet read back off".into(),
                if *after {
                    "after".into()
                } else {
                    "before: the host did not reboot".into()
                },
                evidence.clone(),
            ),
        );
        for path in &spec.expect.persistent_paths {
            out.push(
                C::new(
                    format!("storage.persistent.unchanged:{path}"),
                    format!("{path} unchanged across the power cycle"),
                    Gate::Storage,
                )
                .hard()
                .finish(
                    Outcome::NotApplicable {
                        reason: "quick run: one boot, after the cycle; persistence across a power cycle is shown by a cold run".into(),
                    },
                    Some("same digest on both boots".into()),
                    None,
                    format!(
                        "boot 1: {}",
                        obs.persistence
                            .get(&1)
                            .and_then(|m| m.get(path))
                            .map_or("missing".into(), describe_digest)
                    ),
                ),
            );
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        return out;
    }
    let b1 = obs.boots.iter().find(|(s, _)| *s == 1).map(|(_, b)| b);
    let b2 = obs.boots.iter().find(|(s, _)| *s == 2).map(|(_, b)| b);
    let rb = C::new(
        "first_boot.reboot_observed",
        "a new boot id after the power cycle",
        Gate::FirstBoot,
    )
    .hard();
    out.push(match (b1, b2) {
        (Some(a), Some(b)) => rb.compare(
            a != b,
            format!("boot id different from {a}"),
            b.clone(),
            format!("boot 1: {a}; boot 2: {b}"),
        ),
        _ => rb.finish(
            Outcome::NotRun {
                reason: "fewer than two boots reported".into(),
            },
            Some("two different boot ids".into()),
            None,
            format!("boots reported: {}", obs.boots.len()),
        ),
    });

    for path in &spec.expect.persistent_paths {
        let c = C::new(
            format!("storage.persistent.unchanged:{path}"),
            format!("{path} unchanged across the power cycle"),
            Gate::Storage,
        )
        .hard();
        let d1 = obs.persistence.get(&1).and_then(|m| m.get(path));
        let d2 = obs.persistence.get(&2).and_then(|m| m.get(path));
        out.push(match (d1, d2) {
            (Some(a), Some(b)) => {
                let same = a.exists && b.exists && a.error.is_none() && a.sha256 == b.sha256;
                c.compare(
                    same,
                    format!("boot 2 = boot 1 = {}", describe_digest(a)),
                    describe_digest(b),
                    format!(
                        "{path}: boot 1 {}, boot 2 {}",
                        describe_digest(a),
                        describe_digest(b)
                    ),
                )
            }
            _ => c.finish(
                Outcome::NotRun {
                    reason: "digests from both boots are needed".into(),
                },
                Some("same digest on both boots".into()),
                None,
                format!(
                    "boot 1: {}; boot 2: {}",
                    d1.map_or("missing".into(), describe_digest),
                    d2.map_or("missing".into(), describe_digest)
                ),
            ),
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

#[cfg(test)]
mod tests;
