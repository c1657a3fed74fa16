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
mod tests {
    use super::*;
    use crate::example::healthy_facts;
    use e2et_model::facts::*;
    use e2et_model::inventory::{Expect, OutletRef};
    use e2et_model::Zone;

    pub(crate) fn spec() -> HostSpec {
        HostSpec {
            mac: "52:54:00:e2:e7:01".into(),
            ip: "10.99.0.11".into(),
            fqdn: "vm1.lab.e2et.test".into(),
            power: vec![OutletRef {
                pdu: "p".into(),
                outlet: 1,
            }],
            console: "serial:ttyS0@115200".into(),
            console_capture: None,
            profile: "lab".into(),
            expect: Expect {
                cpus: Some(2),
                min_ram_mib: Some(200),
                persistent_paths: vec!["/persist/id".into()],
                ..Default::default()
            },
            required_zone: Zone::P90,
        }
    }

    /// The AAA client profile of the inventory, in the form rules see it.
    fn aaa() -> HostSpec {
        let mut s = spec();
        s.profile = "aaa-domain-client".into();
        let v = serde_json::json!({
            "identity": {"sssd": true, "domains": ["lab.e2et.test"], "users": ["alice"],
                         "offlineCache": true, "keytab": true, "ipa": true, "sudoSss": true,
                         "sshKeysSss": true, "breakGlass": "rescue"},
            "service": {"required": ["sshd|ssh", "sssd"]}
        });
        let more: Expect = serde_json::from_value(v).unwrap();
        s.expect.identity = more.identity;
        s.expect.service = more.service;
        s
    }

    pub(crate) fn facts(boot_id: &str, digest: &str) -> Facts {
        let mut f = healthy_facts(&spec(), "r1", boot_id);
        f.persistence.get_mut("/persist/id").unwrap().sha256 = Some(digest.into());
        f
    }

    fn ctx() -> BootContext<'static> {
        BootContext {
            run_id: Some("r1"),
            boot_seq: 1,
            mode: e2et_model::RunMode::Cold,
        }
    }

    fn get<'a>(cs: &'a [Check], id: &str) -> &'a Check {
        cs.iter().find(|c| c.id == id).unwrap_or_else(|| {
            panic!(
                "no {id} in {:?}",
                cs.iter().map(|c| &c.id).collect::<Vec<_>>()
            )
        })
    }

    fn every_check_complete(cs: &[Check]) {
        for c in cs {
            assert!(!c.id.is_empty() && !c.title.is_empty(), "{c:?}");
            assert!(c.expected.is_some(), "{} has no expected", c.id);
            assert!(c.observed.is_some(), "{} has no observed", c.id);
            assert!(!c.evidence.is_empty(), "{} has no evidence", c.id);
        }
    }

    #[test]
    fn healthy_boot_passes_every_check() {
        for s in [spec(), aaa()] {
            let f = healthy_facts(&s, "r1", &"a".repeat(36));
            let cs = boot_checks(&s, &f, &ctx());
            every_check_complete(&cs);
            for c in &cs {
                assert!(
                    c.passed() || matches!(c.outcome, Outcome::NotApplicable { .. }),
                    "{c:?}"
                );
            }
            // Every gate a probe reports on has checks.
            for g in [
                Gate::FirstBoot,
                Gate::Platform,
                Gate::Network,
                Gate::Storage,
                Gate::Service,
            ] {
                assert!(cs.iter().any(|c| c.gate == g), "{g}");
            }
            assert!(drift(&s, &f).is_empty());
        }
        let cs = boot_checks(
            &aaa(),
            &healthy_facts(&aaa(), "r1", &"a".repeat(36)),
            &ctx(),
        );
        assert!(cs.iter().filter(|c| c.gate == Gate::Identity).count() >= 10);
    }

    #[test]
    fn too_little_ram_is_a_hard_fail_with_values() {
        let mut s = spec();
        s.expect.min_ram_mib = Some(65536);
        let cs = boot_checks(&s, &facts(&"a".repeat(36), "h1"), &ctx());
        let c = get(&cs, "platform.memory.min");
        assert!(c.hard_failed());
        assert_eq!(c.expected.as_deref(), Some(">= 65536 MiB"));
        assert_eq!(c.observed.as_deref(), Some("264 MiB"));
    }

    #[test]
    fn a_quick_boot_must_be_the_installed_system() {
        let mut f = facts(&"a".repeat(36), "h1");
        let quick = BootContext {
            mode: e2et_model::RunMode::Quick,
            ..ctx()
        };
        f.first_boot.cmdline = "console=ttyS0 root=/dev/sda1".into();
        assert!(get(&boot_checks(&spec(), &f, &quick), "provisioning.boot_path").passed());
        f.first_boot.cmdline = "console=ttyS0 e2et.run=r1".into();
        assert!(get(&boot_checks(&spec(), &f, &quick), "provisioning.boot_path").hard_failed());
    }

    #[test]
    fn wrong_run_on_cmdline_fails_boot_path() {
        let mut f = facts(&"a".repeat(36), "h1");
        f.first_boot.cmdline = "e2et.run=r0".into();
        let cs = boot_checks(&spec(), &f, &ctx());
        assert!(get(&cs, "provisioning.boot_path").hard_failed());
    }

    #[test]
    fn wrong_ip_and_missing_nic() {
        let mut f = facts(&"a".repeat(36), "h1");
        f.network.interfaces[0].ipv4 = Some(vec!["10.99.0.12/24".into()]);
        let cs = boot_checks(&spec(), &f, &ctx());
        assert!(get(&cs, "network.mgmt.ip").hard_failed());
        f.network.interfaces[0].mac = "52:54:00:00:00:09".into();
        let cs = boot_checks(&spec(), &f, &ctx());
        assert!(get(&cs, "network.mgmt.mac").hard_failed());
        assert!(get(&cs, "network.mgmt.ip").hard_failed());
    }

    #[test]
    fn dns_mismatch_of_the_primary_identity_is_a_hard_fail() {
        let mut f = facts(&"a".repeat(36), "h1");
        f.network.dns[0].answers = Observed::ok(vec!["10.99.0.99".into()]);
        f.network.dns[1].answers = Observed::err("Name or service not known");
        let cs = boot_checks(&spec(), &f, &ctx());
        let fwd = get(&cs, "network.dns.forward");
        assert!(fwd.hard_failed());
        assert_eq!(fwd.observed.as_deref(), Some("10.99.0.99"));
        let rev = get(&cs, "network.dns.reverse");
        assert!(rev.hard_failed());
        assert!(rev
            .observed
            .as_deref()
            .unwrap()
            .contains("Name or service not known"));
    }

    #[test]
    fn no_ssh_on_the_management_path_is_a_hard_fail() {
        let mut f = facts(&"a".repeat(36), "h1");
        f.first_boot.ssh.listeners = Observed::ok(vec![Listener {
            address: "127.0.0.1".into(),
            port: 22,
            process: Some("sshd".into()),
        }]);
        let cs = boot_checks(&spec(), &f, &ctx());
        let c = get(&cs, "first_boot.ssh.listening");
        assert!(c.hard_failed());
        assert_eq!(c.observed.as_deref(), Some("127.0.0.1:22 (sshd)"));
        f.first_boot.ssh.host_keys[0].mode = "0644".into();
        let cs = boot_checks(&spec(), &f, &ctx());
        assert!(get(&cs, "first_boot.ssh.host_keys").failed());
    }

    #[test]
    fn a_check_the_profile_switches_off_says_so() {
        let mut s = spec();
        s.expect.first_boot.ssh = false;
        s.expect.first_boot.time_sync = false;
        let mut f = facts(&"a".repeat(36), "h1");
        f.first_boot.ssh.listeners = Observed::ok(vec![]);
        let cs = boot_checks(&s, &f, &ctx());
        for id in [
            "first_boot.ssh.listening",
            "first_boot.time.kernel",
            "first_boot.time.daemon",
        ] {
            match &get(&cs, id).outcome {
                Outcome::NotApplicable { reason } => {
                    assert!(reason.contains("profile lab does not require"), "{reason}")
                }
                o => panic!("{id}: {o:?}"),
            }
        }
    }

    #[test]
    fn host_kind_without_a_service_manager_is_not_applicable_not_green() {
        let mut f = facts(&"a".repeat(36), "h1");
        f.service.manager = "none".into();
        f.service.failed = Observed::na("PID 1 is busybox: no service manager");
        f.first_boot.package_profile = Observed::na("no package database");
        let cs = boot_checks(&spec(), &f, &ctx());
        for id in [
            "service.failed",
            "first_boot.package_profile",
            "first_boot.system.drift",
        ] {
            let c = get(&cs, id);
            assert!(matches!(c.outcome, Outcome::NotApplicable { .. }), "{c:?}");
            assert!(!c.passed() && !c.failed());
        }
    }

    #[test]
    fn identity_breaks_in_the_ways_the_checks_name() {
        let s = aaa();
        let base = healthy_facts(&s, "r1", &"a".repeat(36));
        let run = |f: &Facts| boot_checks(&s, f, &ctx());

        let mut f = base.clone();
        f.identity.sssd_pids.clear();
        assert!(get(&run(&f), "identity.sssd.running").hard_failed());

        let mut f = base.clone();
        if let Observed::Ok { value } = &mut f.identity.sssd_conf {
            value.mode = "0644".into();
        }
        let c = get(&run(&f), "identity.sssd.conf_mode").clone();
        assert!(c.failed());
        assert_eq!(c.observed.as_deref(), Some("owner uid 0, mode 0644"));

        let mut f = base.clone();
        f.identity.users[0].entry = Observed::ok(None);
        let c = get(&run(&f), "identity.nss.user:alice").clone();
        assert_eq!(c.outcome, Outcome::Fail);
        assert_eq!(
            c.observed.as_deref(),
            Some("not found through NSS (passwd: files sss)")
        );

        let mut f = base.clone();
        f.identity.domain_status[0].online = Observed::ok(false);
        assert!(get(&run(&f), "identity.sssd.domain_online:lab.e2et.test").failed());

        let mut f = base.clone();
        f.identity.keytab = Observed::na("no /etc/krb5.keytab");
        let c = get(&run(&f), "identity.keytab").clone();
        assert!(
            c.failed(),
            "a keytab the spec requires and the host lacks fails: {c:?}"
        );

        let mut f = base.clone();
        if let Observed::Ok { value } = &mut f.identity.break_glass {
            value.password = "locked".into();
            value.authorized_keys = 0;
        }
        assert!(get(&run(&f), "identity.break_glass").failed());

        let mut f = base.clone();
        f.identity.sssd_conf = Observed::na("no /etc/sssd/sssd.conf");
        let cs = run(&f);
        assert!(get(&cs, "identity.sssd.conf_mode").failed());
    }

    #[test]
    fn a_required_service_not_running_is_a_hard_fail() {
        let s = aaa();
        let mut f = healthy_facts(&s, "r1", &"a".repeat(36));
        f.service.required[1].running = false;
        f.service.required[1].state = "failed (failed)".into();
        f.service.failed = Observed::ok(vec![FailedService {
            name: "sssd.service".into(),
            state: "failed".into(),
            detail: "failed".into(),
        }]);
        let cs = boot_checks(&s, &f, &ctx());
        assert!(get(&cs, "service.required:sssd").hard_failed());
        assert!(get(&cs, "service.failed").failed());
    }

    #[test]
    fn root_filesystem_unhealthy_or_read_only_is_a_hard_fail() {
        let mut f = facts(&"a".repeat(36), "h1");
        if let Observed::Ok { value } = &mut f.storage.root {
            value.read_only = true;
        }
        assert!(get(&boot_checks(&spec(), &f, &ctx()), "storage.root.health").hard_failed());
        let mut f = facts(&"a".repeat(36), "h1");
        if let Observed::Ok { value } = &mut f.storage.root {
            value.healthy = false;
            value.health = "ZFS pool rpool DEGRADED".into();
        }
        let cs = boot_checks(&spec(), &f, &ctx());
        assert!(get(&cs, "storage.root.health")
            .observed
            .as_deref()
            .unwrap()
            .contains("DEGRADED"));
    }

    #[test]
    fn nixos_drift_fails_its_check_and_is_reported() {
        let mut s = spec();
        s.expect.first_boot.system = Some("/nix/store/aaa-nixos-system-k10".into());
        let mut f = facts(&"a".repeat(36), "h1");
        f.first_boot.package_profile = Observed::ok(PackageProfile {
            kind: "nixos".into(),
            booted_system: Some("/nix/store/aaa-nixos-system-k10".into()),
            current_system: Some("/nix/store/bbb-nixos-system-k10".into()),
            ..Default::default()
        });
        let cs = boot_checks(&s, &f, &ctx());
        assert!(get(&cs, "first_boot.system.drift").failed());
        let d = drift(&s, &f);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].contains("differs from /run/booted-system"));
    }

    #[test]
    fn the_configuration_revision_comes_from_nixos_an_image_or_the_package_set() {
        let mut f = facts(&"a".repeat(36), "h1");
        f.first_boot.package_profile = Observed::na("no package database");
        f.first_boot.os = Observed::ok(OsRelease {
            id: "debian".into(),
            ..Default::default()
        });
        assert_eq!(configuration_revision(&f), None);
        f.first_boot.os = Observed::ok(OsRelease {
            id: "e2et-lab".into(),
            image_id: Some("e2et-lab-netboot".into()),
            image_version: Some("3f2a".into()),
            ..Default::default()
        });
        assert_eq!(
            configuration_revision(&f).as_deref(),
            Some("image e2et-lab-netboot 3f2a")
        );
        f.first_boot.package_profile = Observed::ok(PackageProfile {
            kind: "nixos".into(),
            current_system: Some("/nix/store/bbb-nixos-system-k10".into()),
            configuration_revision: Some("0123abc".into()),
            ..Default::default()
        });
        assert_eq!(
            configuration_revision(&f).as_deref(),
            Some("nixos /nix/store/bbb-nixos-system-k10 rev 0123abc")
        );
        f.first_boot.os = Observed::na("none");
        f.first_boot.package_profile = Observed::ok(PackageProfile {
            kind: "dpkg".into(),
            set_sha256: Some("beef".into()),
            ..Default::default()
        });
        assert_eq!(
            configuration_revision(&f).as_deref(),
            Some("dpkg packages sha256:beef")
        );
    }

    #[test]
    fn performance_below_baseline_fails_and_unmeasured_is_not_run() {
        let mut s = spec();
        s.expect.performance = serde_json::from_value(serde_json::json!(
            {"cpuSingleMibs": 1000.0, "fsyncP99Ms": 2.0, "tolerancePct": 10.0}
        ))
        .unwrap();
        let mut f = facts(&"a".repeat(36), "h1");
        f.performance = Observed::ok(PerformanceFacts {
            cpu_single_mibs: Observed::ok(850.0),
            cpu_all_mibs: Observed::ok(1700.0),
            memory_mibs: Observed::ok(9000.0),
            disk: Observed::ok(DiskPerf {
                fsync_p99_ms: 2.1,
                ..Default::default()
            }),
            tcp: Observed::na("no URL"),
        });
        let cs = boot_checks(&s, &f, &ctx());
        let c = get(&cs, "performance.cpu.single");
        assert!(c.failed());
        assert_eq!(
            c.expected.as_deref(),
            Some(">= 900.0 MiB/s (baseline 1000 MiB/s, tolerance 10%)")
        );
        assert!(
            get(&cs, "performance.disk.fsync_p99").passed(),
            "2.1 <= 2.2"
        );
        f.performance = Observed::na("the spec asks for no performance measurement");
        let cs = boot_checks(&s, &f, &ctx());
        assert!(matches!(
            get(&cs, "performance.cpu.single").outcome,
            Outcome::NotRun { .. }
        ));
    }

    #[test]
    fn collector_error_is_not_a_pass() {
        let mut f = facts(&"a".repeat(36), "h1");
        f.errors
            .insert("platform".into(), "cannot read /proc/cpuinfo".into());
        let cs = boot_checks(&spec(), &f, &ctx());
        assert!(get(&cs, "platform.collector.platform").failed());
    }

    #[test]
    fn vulnerable_cpu_fails_and_can_be_hard() {
        let mut f = facts(&"a".repeat(36), "h1");
        f.platform
            .vulnerabilities
            .insert("spectre_v2".into(), "Vulnerable: no microcode".into());
        let cs = boot_checks(&spec(), &f, &ctx());
        let c = get(&cs, "platform.cpu.vulnerabilities");
        assert!(c.failed() && !c.hard_failed());
        let mut s = spec();
        s.expect.vulnerabilities_hard = true;
        let cs = boot_checks(&s, &f, &ctx());
        assert!(get(&cs, "platform.cpu.vulnerabilities").hard_failed());
    }

    #[test]
    fn persistence_change_names_path_and_both_hashes() {
        let mut obs = RunObservations {
            boots: vec![(1, "a".into()), (2, "b".into())],
            power_cycle_verified: Some(true),
            power_cycle_evidence: "off seen, on seen".into(),
            ..Default::default()
        };
        obs.persistence.insert(1, facts("a", "aaaa").persistence);
        obs.persistence.insert(2, facts("b", "bbbb").persistence);
        let cs = run_checks(&spec(), &obs);
        let c = get(&cs, "storage.persistent.unchanged:/persist/id");
        assert!(c.hard_failed());
        assert!(c.evidence.contains("/persist/id"));
        assert!(
            c.evidence.contains("aaaa") && c.evidence.contains("bbbb"),
            "{}",
            c.evidence
        );
        assert!(get(&cs, "first_boot.reboot_observed").passed());
    }

    #[test]
    fn a_quick_run_proves_its_reboot_by_the_kernel_start() {
        let mut obs = RunObservations {
            boots: vec![(1, "a".into())],
            power_cycle_verified: Some(true),
            quick_boot_after_cycle: Some((
                true,
                "kernel started 12:00:05, off read 12:00:01".into(),
            )),
            ..Default::default()
        };
        obs.persistence.insert(1, facts("a", "aaaa").persistence);
        let cs = run_checks(&spec(), &obs);
        assert!(get(&cs, "first_boot.reboot_observed").passed());
        let p = get(&cs, "storage.persistent.unchanged:/persist/id");
        assert!(matches!(p.outcome, Outcome::NotApplicable { .. }), "{p:?}");
        assert!(p.evidence.contains("aaaa"), "{}", p.evidence);
        obs.quick_boot_after_cycle = Some((false, "kernel started before".into()));
        let cs = run_checks(&spec(), &obs);
        assert!(get(&cs, "first_boot.reboot_observed").hard_failed());
    }

    #[test]
    fn same_boot_id_twice_is_no_reboot() {
        let obs = RunObservations {
            boots: vec![(1, "a".into()), (2, "a".into())],
            ..Default::default()
        };
        let cs = run_checks(&spec(), &obs);
        assert!(get(&cs, "first_boot.reboot_observed").hard_failed());
        assert!(matches!(
            get(&cs, "provisioning.power_cycle").outcome,
            Outcome::NotRun { .. }
        ));
    }
}
