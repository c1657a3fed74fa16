//! Rules: facts × spec → checks. Each check carries its id, gate, severity,
//! expected and observed values and evidence a person can read.
use e2et_model::check::{Check, Gate, Outcome, Severity};
use e2et_model::facts::{Facts, PathDigest};
use e2et_model::inventory::{normalize_mac, HostSpec};
use std::collections::BTreeMap;

/// What a rule needs to know besides the spec and the facts.
#[derive(Debug, Clone)]
pub struct BootContext<'a> {
    pub run_id: &'a str,
    pub boot_seq: u32,
}

struct C {
    id: String,
    title: String,
    gate: Gate,
    severity: Severity,
    weight: u32,
    required: bool,
}

impl C {
    fn new(id: impl Into<String>, title: impl Into<String>, gate: Gate) -> C {
        C {
            id: id.into(),
            title: title.into(),
            gate,
            severity: Severity::Weighted,
            weight: 10,
            required: true,
        }
    }
    fn hard(mut self) -> C {
        self.severity = Severity::Hard;
        self
    }
    fn weight(mut self, w: u32) -> C {
        self.weight = w;
        self
    }
    fn optional(mut self) -> C {
        self.required = false;
        self
    }
    fn finish(
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
    fn compare(self, ok: bool, expected: String, observed: String, evidence: String) -> Check {
        let o = if ok { Outcome::Pass } else { Outcome::Fail };
        self.finish(o, Some(expected), Some(observed), evidence)
    }
}

fn cmdline_value<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// Checks of one boot's facts against the host's spec.
pub fn boot_checks(spec: &HostSpec, facts: &Facts, ctx: &BootContext<'_>) -> Vec<Check> {
    let mut out = Vec::new();
    let fb = &facts.first_boot;

    // A collector that failed is an error in its domain, never an empty pass.
    for (domain, msg) in &facts.errors {
        let gate = match domain.as_str() {
            "first_boot" => Gate::FirstBoot,
            "network" => Gate::Network,
            "persistence" | "storage" => Gate::Storage,
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

    let run_on_cmdline = cmdline_value(&fb.cmdline, "e2et.run");
    out.push(
        C::new(
            "provisioning.boot_path",
            "booted through this run's netboot script",
            Gate::Provisioning,
        )
        .hard()
        .compare(
            run_on_cmdline == Some(ctx.run_id),
            format!("e2et.run={}", ctx.run_id),
            run_on_cmdline.map_or("no e2et.run= on the kernel cmdline".into(), |r| {
                format!("e2et.run={r}")
            }),
            format!("/proc/cmdline: {}", fb.cmdline),
        ),
    );

    out.push(
        C::new(
            "first_boot.boot_id",
            "kernel reports a boot id",
            Gate::FirstBoot,
        )
        .hard()
        .compare(
            fb.boot_id.len() >= 32,
            "a 128-bit boot id".into(),
            if fb.boot_id.is_empty() {
                "none".into()
            } else {
                fb.boot_id.clone()
            },
            "/proc/sys/kernel/random/boot_id".into(),
        ),
    );

    let short = spec.fqdn.split('.').next().unwrap_or(&spec.fqdn);
    out.push(
        C::new(
            "first_boot.hostname",
            "hostname matches the inventory",
            Gate::FirstBoot,
        )
        .weight(5)
        .compare(
            fb.hostname == spec.fqdn || fb.hostname == short,
            format!("{short} or {}", spec.fqdn),
            fb.hostname.clone(),
            "/proc/sys/kernel/hostname".into(),
        ),
    );

    let p = &facts.platform;
    if let Some(cpus) = spec.expect.cpus {
        out.push(
            C::new(
                "platform.cpu.count",
                "logical CPU count as declared",
                Gate::Platform,
            )
            .compare(
                p.cpu_count == cpus,
                cpus.to_string(),
                p.cpu_count.to_string(),
                format!("/proc/cpuinfo: {} × {}", p.cpu_count, p.cpu_model),
            ),
        );
    }
    if let Some(min) = spec.expect.min_ram_mib {
        let have = p.mem_total_kib / 1024;
        out.push(
            C::new(
                "platform.memory.min",
                "memory at least the declared minimum",
                Gate::Platform,
            )
            .hard()
            .compare(
                have >= min,
                format!(">= {min} MiB"),
                format!("{have} MiB"),
                format!("/proc/meminfo MemTotal: {} kB", p.mem_total_kib),
            ),
        );
    }
    let vuln_check = C::new(
        "platform.cpu.vulnerabilities",
        "no CPU vulnerability reported as Vulnerable",
        Gate::Platform,
    )
    .weight(5);
    let vuln_check = if spec.expect.vulnerabilities_hard {
        vuln_check.hard()
    } else {
        vuln_check.optional()
    };
    if p.vulnerabilities.is_empty() {
        out.push(vuln_check.finish(
            Outcome::NotRun {
                reason: "the kernel exposes no /sys/devices/system/cpu/vulnerabilities".into(),
            },
            Some("no Vulnerable entry".into()),
            None,
            "directory absent or empty",
        ));
    } else {
        let bad: Vec<String> = p
            .vulnerabilities
            .iter()
            .filter(|(_, v)| v.trim_start().starts_with("Vulnerable"))
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        out.push(vuln_check.compare(
            bad.is_empty(),
            "no Vulnerable entry".into(),
            if bad.is_empty() {
                format!("{} entries, none Vulnerable", p.vulnerabilities.len())
            } else {
                bad.join("; ")
            },
            "/sys/devices/system/cpu/vulnerabilities/*".into(),
        ));
    }

    let want_mac = normalize_mac(&spec.mac).unwrap_or_else(|| spec.mac.clone());
    let nic = facts
        .network
        .interfaces
        .iter()
        .find(|i| normalize_mac(&i.mac).as_deref() == Some(want_mac.as_str()));
    let seen: Vec<String> = facts
        .network
        .interfaces
        .iter()
        .map(|i| format!("{}={}", i.name, i.mac))
        .collect();
    out.push(
        C::new(
            "network.mgmt.mac",
            "management NIC with the inventory MAC present",
            Gate::Network,
        )
        .hard()
        .compare(
            nic.is_some(),
            want_mac.clone(),
            nic.map_or_else(
                || format!("absent (seen: {})", seen.join(", ")),
                |n| format!("{} on {}", n.mac, n.name),
            ),
            "/sys/class/net/*/address".into(),
        ),
    );
    let ip_check = C::new(
        "network.mgmt.ip",
        "management NIC carries the inventory address",
        Gate::Network,
    )
    .hard();
    match nic.map(|n| (n, n.ipv4.as_ref())) {
        None => out.push(ip_check.finish(
            Outcome::Fail,
            Some(spec.ip.clone()),
            Some("no management NIC".into()),
            "management NIC absent",
        )),
        Some((n, None)) => out.push(ip_check.finish(
            Outcome::NotRun {
                reason: format!("the probe could not read addresses of {}", n.name),
            },
            Some(spec.ip.clone()),
            None,
            "addresses not collected",
        )),
        Some((n, Some(addrs))) => {
            let ok = addrs.iter().any(|a| a.split('/').next() == Some(&spec.ip));
            out.push(ip_check.compare(
                ok,
                spec.ip.clone(),
                if addrs.is_empty() {
                    "no IPv4 address".into()
                } else {
                    addrs.join(", ")
                },
                format!("getifaddrs on {}", n.name),
            ));
        }
    }
    if let Some(n) = nic {
        out.push(
            C::new("network.mgmt.link", "management link is up", Gate::Network)
                .weight(5)
                .compare(
                    n.operstate == "up" || n.carrier == Some(true),
                    "up (operstate up or carrier 1)".into(),
                    format!(
                        "operstate {}, carrier {}",
                        n.operstate,
                        n.carrier.map_or("unknown", |c| if c { "1" } else { "0" })
                    ),
                    format!(
                        "/sys/class/net/{0}/operstate, /sys/class/net/{0}/carrier",
                        n.name
                    ),
                ),
        );
    }

    for path in &spec.expect.persistent_paths {
        let c = C::new(
            format!("storage.persistent.present:{path}"),
            format!("persistent path {path} exists"),
            Gate::Storage,
        );
        match facts.persistence.get(path) {
            None => out.push(c.finish(
                Outcome::NotRun {
                    reason: "the probe did not report this path".into(),
                },
                Some("present".into()),
                None,
                "no digest in the facts",
            )),
            Some(d) => out.push(c.compare(
                d.exists && d.error.is_none(),
                "present".into(),
                describe_digest(d),
                format!("digest of {path} on boot {}", ctx.boot_seq),
            )),
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

fn describe_digest(d: &PathDigest) -> String {
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
            console: "serial".into(),
            profile: "lab".into(),
            expect: Expect {
                cpus: Some(2),
                min_ram_mib: Some(200),
                persistent_paths: vec!["/persist/id".into()],
                vulnerabilities_hard: false,
            },
            required_zone: Zone::P90,
        }
    }

    pub(crate) fn facts(boot_id: &str, digest: &str) -> Facts {
        let mut persistence = BTreeMap::new();
        persistence.insert(
            "/persist/id".to_string(),
            PathDigest {
                exists: true,
                sha256: Some(digest.into()),
                bytes: 16,
                error: None,
            },
        );
        let mut vulns = BTreeMap::new();
        vulns.insert("meltdown".to_string(), "Not affected".to_string());
        Facts {
            version: 1,
            probe_version: "t".into(),
            root: "/".into(),
            first_boot: FirstBootFacts {
                boot_id: boot_id.into(),
                cmdline: "console=ttyS0 e2et.run=r1 e2et.token=x".into(),
                hostname: "vm1".into(),
                uptime_s: 3.0,
                init: "busybox".into(),
            },
            platform: PlatformFacts {
                cpu_model: "QEMU".into(),
                cpu_count: 2,
                mem_total_kib: 250 * 1024,
                kernel_release: "6.1".into(),
                block_devices: vec![],
                modules: vec![],
                vulnerabilities: vulns,
            },
            network: NetworkFacts {
                interfaces: vec![Interface {
                    name: "eth0".into(),
                    mac: "52:54:00:E2:E7:01".into(),
                    operstate: "up".into(),
                    carrier: Some(true),
                    mtu: Some(1500),
                    ipv4: Some(vec!["10.99.0.11/24".into()]),
                }],
            },
            persistence,
            errors: BTreeMap::new(),
        }
    }

    fn ctx() -> BootContext<'static> {
        BootContext {
            run_id: "r1",
            boot_seq: 1,
        }
    }

    fn get<'a>(cs: &'a [Check], id: &str) -> &'a Check {
        cs.iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no {id}"))
    }

    #[test]
    fn healthy_boot_passes_every_check() {
        let cs = boot_checks(&spec(), &facts(&"a".repeat(36), "h1"), &ctx());
        for c in &cs {
            assert!(c.passed(), "{c:?}");
        }
        assert!(cs.len() >= 8);
    }

    #[test]
    fn too_little_ram_is_a_hard_fail_with_values() {
        let mut s = spec();
        s.expect.min_ram_mib = Some(65536);
        let cs = boot_checks(&s, &facts(&"a".repeat(36), "h1"), &ctx());
        let c = get(&cs, "platform.memory.min");
        assert!(c.hard_failed());
        assert_eq!(c.expected.as_deref(), Some(">= 65536 MiB"));
        assert_eq!(c.observed.as_deref(), Some("250 MiB"));
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
