//! The probe against fixture trees of each host kind (tests/fixtures/README.md):
//! a replay gives back exactly the facts recorded with the fixture, and each
//! is scored against the inventory it came with.
use e2et_model::expect::ProbeSpec;
use e2et_model::facts::Facts;
use e2et_model::report::Validation;
use e2et_model::Observed;
use e2et_probe::{collect, Root};
use e2et_score::{boot_checks, score_validation, BootContext, Policy};
use std::path::PathBuf;

fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn read_json<T: serde::de::DeserializeOwned>(p: PathBuf) -> T {
    let t = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&t).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn facts(name: &str) -> Facts {
    let spec: ProbeSpec = read_json(dir(name).join(".e2et/spec.json"));
    collect(&Root::new(dir(name)), &spec, None)
}

fn validate(name: &str, host: &str) -> Validation {
    let inv = e2et_inventory::load(&dir(name).join(".e2et/inventory.json"))
        .unwrap_or_else(|e| panic!("{e}"));
    let spec = &inv.hosts[host];
    let f = facts(name);
    score_validation(
        &Policy::default(),
        1,
        &f.first_boot.boot_id,
        boot_checks(
            spec,
            &f,
            &BootContext {
                run_id: None,
                boot_seq: 1,
                mode: e2et_model::RunMode::Cold,
            },
        ),
    )
}

/// Facts without what changes from run to run.
fn stable(f: &Facts) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.remove("elapsed_ms");
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(f).unwrap();
    v.as_object_mut().unwrap().remove("timings_ms");
    v.as_object_mut().unwrap().remove("root");
    strip(&mut v);
    v
}

fn outcome<'a>(v: &'a Validation, id: &str) -> &'a e2et_model::Check {
    v.checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no {id}"))
}

const ALL: [&str; 3] = ["debian-sssd", "debian-openrc", "nixos-k10"];

#[test]
fn every_fixture_replays_its_recorded_facts_with_no_empty_domain() {
    for name in ALL {
        let f = facts(name);
        assert!(f.errors.is_empty(), "{name}: {:?}", f.errors);
        assert_eq!(f.first_boot.boot_id.len(), 36, "{name}");
        assert!(f.platform.cpu_count > 0, "{name}");
        assert!(!f.network.interfaces.is_empty(), "{name}");
        assert!(!f.storage.mounts.is_empty(), "{name}");
        assert!(f.storage.root.value().is_some(), "{name}");
        assert!(!f.service.manager.is_empty(), "{name}");
        let recorded: Facts = read_json(dir(name).join(".e2et/facts.json"));
        assert_eq!(
            stable(&f),
            stable(&recorded),
            "{name}: the replay differs from .e2et/facts.json"
        );
    }
}

#[test]
fn every_check_has_id_gate_severity_expected_observed_and_evidence() {
    for (name, host) in [
        ("debian-sssd", "idhost"),
        ("debian-openrc", "orchost"),
        ("nixos-k10", "k10"),
    ] {
        let v = validate(name, host);
        assert!(v.checks.len() >= 20, "{name}: {} checks", v.checks.len());
        for c in &v.checks {
            assert!(!c.id.is_empty() && !c.title.is_empty(), "{name}: {c:?}");
            assert!(
                c.expected.is_some() && c.observed.is_some(),
                "{name}: {}",
                c.id
            );
            assert!(!c.evidence.is_empty(), "{name}: {}", c.id);
        }
    }
}

#[test]
fn debian_sssd_client_passes_its_identity_gate() {
    let f = facts("debian-sssd");
    assert_eq!(f.first_boot.os.value().unwrap().id, "debian");
    assert_eq!(f.first_boot.package_profile.value().unwrap().kind, "dpkg");
    assert_eq!(f.service.manager, "none");
    let v = validate("debian-sssd", "idhost");
    let identity: Vec<_> = v
        .checks
        .iter()
        .filter(|c| c.gate == e2et_model::Gate::Identity)
        .collect();
    assert!(identity.len() >= 11);
    for c in identity {
        assert!(c.passed(), "{c:?}");
    }
    // Not a service manager we can read: said, not passed.
    assert!(matches!(
        outcome(&v, "service.failed").outcome,
        e2et_model::Outcome::NotApplicable { .. }
    ));
    assert!(outcome(&v, "first_boot.init").failed());
}

#[test]
fn debian_openrc_failed_start_is_named() {
    let f = facts("debian-openrc");
    assert_eq!(f.first_boot.init, "openrc");
    assert_eq!(f.service.manager, "openrc");
    let failed = f.service.failed.value().unwrap();
    assert!(
        failed
            .iter()
            .any(|s| s.name == "e2et-broken" && s.state == "stopped"),
        "{failed:?}"
    );
    let v = validate("debian-openrc", "orchost");
    assert!(outcome(&v, "service.required:e2et-demo").passed());
    assert!(outcome(&v, "service.required:e2et-bg").passed());
    assert!(outcome(&v, "service.failed").failed());
}

#[test]
fn nixos_drift_zfs_and_failed_unit() {
    let f = facts("nixos-k10");
    let p = f.first_boot.package_profile.value().unwrap();
    assert_eq!(p.kind, "nixos");
    assert_ne!(p.booted_system, p.current_system);
    assert_eq!(
        p.configuration_revision.as_deref(),
        Some("1d341c6f0a4b7e2d9c8a5f3e1b0d7c6a9e8f2b14")
    );
    assert_eq!(f.storage.root.value().unwrap().fstype, "zfs");
    assert!(matches!(&f.storage.zfs, Observed::Ok { value } if value[0].health == "ONLINE"));
    assert_eq!(
        (f.platform.sockets, f.platform.cores, f.platform.cpu_count),
        (1, 16, 32)
    );
    assert_eq!(f.platform.firmware.boot_mode, "uefi");
    assert_eq!(f.platform.firmware.secure_boot, Some(false));
    let inv = e2et_inventory::load(&dir("nixos-k10").join(".e2et/inventory.json")).unwrap();
    let d = e2et_score::drift(&inv.hosts["k10"], &f);
    assert_eq!(d.len(), 1, "{d:?}");
    let v = validate("nixos-k10", "k10");
    assert!(outcome(&v, "first_boot.system.drift").failed());
    assert!(outcome(&v, "service.failed").failed());
    assert!(outcome(&v, "storage.root.health").passed());
    assert!(outcome(&v, "service.required:sshd|ssh").passed());
    // NixOS links sssd.conf and (with the identity role) the keytab; sshd
    // runs a wrapper of sss_ssh_authorizedkeys: judged through the links.
    for id in [
        "identity.sssd.conf_mode",
        "identity.keytab",
        "identity.ssh.sss_keys",
    ] {
        assert!(outcome(&v, id).passed(), "{:?}", outcome(&v, id));
    }
}
