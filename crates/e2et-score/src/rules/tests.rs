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
        bmc: None,
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
fn a_host_on_a_role_image_must_boot_that_image() {
    let mut s = spec();
    let mut f = facts(&"a".repeat(36), "h1");
    let cs = boot_checks(&s, &f, &ctx());
    assert!(
        !cs.iter().any(|c| c.id == "first_boot.image"),
        "no role image named, no image check"
    );
    s.expect.image = Some("aaa-domain-client".into());
    let mut os = f.first_boot.os.value().cloned().unwrap_or_default();
    os.image_id = Some("aaa-domain-client".into());
    os.image_version = Some("7".into());
    f.first_boot.os = Observed::ok(os.clone());
    let cs = boot_checks(&s, &f, &ctx());
    let c = get(&cs, "first_boot.image");
    assert!(c.passed(), "{c:?}");
    os.image_id = Some("e2et-netboot".into());
    f.first_boot.os = Observed::ok(os);
    let cs = boot_checks(&s, &f, &ctx());
    let c = get(&cs, "first_boot.image");
    assert!(c.hard_failed(), "{c:?}");
    assert_eq!(
        c.observed.as_deref(),
        Some("IMAGE_ID=e2et-netboot IMAGE_VERSION=7")
    );
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
        quick_boot_after_cycle: Some((true, "kernel started 12:00:05, off read 12:00:01".into())),
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
