//! One collection: every domain, in parallel where they do not disturb each
//! other, then performance (alone) when the spec asks for it.
use crate::procs::Procs;
use crate::root::Root;
use crate::{first_boot, identity, network, performance, persistence, platform, service, storage};
use e2et_model::expect::ProbeSpec;
use e2et_model::facts::*;
use e2et_model::{Observed, FACTS_VERSION};
use std::collections::BTreeMap;
use std::time::Instant;

fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let v = f();
    (v, t.elapsed().as_secs_f64() * 1000.0)
}

type Maps<'a> = (
    &'a mut BTreeMap<String, String>,
    &'a mut BTreeMap<String, f64>,
);

/// A domain's result: its value, or its error (and timing) noted.
fn take<T>(
    (errors, timings): &mut Maps<'_>,
    name: &str,
    r: Result<(Result<T, String>, f64), String>,
) -> Option<T> {
    match r {
        Ok((v, t)) => {
            timings.insert(name.to_string(), t);
            v.map_err(|e| errors.insert(name.to_string(), e)).ok()
        }
        Err(e) => {
            errors.insert(name.to_string(), e);
            None
        }
    }
}

/// Collects every domain. A domain whose collector fails records its error in
/// `Facts::errors` rather than coming back silently empty. `token` is the
/// run's bearer token, for the TCP throughput test against the coordinator.
pub fn collect(root: &Root, spec: &ProbeSpec, token: Option<&str>) -> Facts {
    let mut errors = BTreeMap::new();
    let mut timings = BTreeMap::new();
    let (procs, t) = timed(|| Procs::scan(root));
    timings.insert("processes".to_string(), t);
    let init = first_boot::detect_init(root);
    let ((fb, pl, net, st, id, sv), _) = timed(|| {
        std::thread::scope(|s| {
            let fb = s.spawn(|| timed(|| first_boot::collect(root, &procs, spec.ssh_port)));
            let pl = s.spawn(|| timed(|| platform::collect(root)));
            let net = s.spawn(|| {
                timed(|| {
                    network::collect(
                        root,
                        &network::Identity {
                            fqdn: spec.fqdn.as_deref(),
                            ip: spec.ip.as_deref(),
                        },
                        root.line("/proc/sys/kernel/hostname").as_deref(),
                    )
                })
            });
            let st = s.spawn(|| timed(|| storage::collect(root)));
            let id = s.spawn(|| {
                timed(|| {
                    identity::collect(
                        root,
                        &procs,
                        &identity::Wanted {
                            users: &spec.users,
                            break_glass: spec.break_glass.as_deref(),
                        },
                    )
                })
            });
            let sv = s.spawn(|| {
                timed(|| {
                    service::collect(
                        root,
                        &procs,
                        &init,
                        &service::Wanted {
                            services: &spec.services,
                            smoke: &spec.smoke,
                        },
                    )
                })
            });
            let join = |name: &str| format!("the {name} collector panicked");
            (
                fb.join().map_err(|_| join("first_boot")),
                pl.join().map_err(|_| join("platform")),
                net.join().map_err(|_| join("network")),
                st.join().map_err(|_| join("storage")),
                id.join().map_err(|_| join("identity")),
                sv.join().map_err(|_| join("service")),
            )
        })
    });
    let mut maps = (&mut errors, &mut timings);
    let first_boot: FirstBootFacts = take(&mut maps, "first_boot", fb).unwrap_or_default();
    let platform: PlatformFacts = take(&mut maps, "platform", pl).unwrap_or_default();
    let network: NetworkFacts = take(&mut maps, "network", net).unwrap_or_default();
    let storage: StorageFacts = take(&mut maps, "storage", st).unwrap_or_default();
    let identity: IdentityFacts =
        take(&mut maps, "identity", id.map(|(v, t)| (Ok(v), t))).unwrap_or_default();
    let service: ServiceFacts =
        take(&mut maps, "service", sv.map(|(v, t)| (Ok(v), t))).unwrap_or_default();
    // A digest, not the content: a capture keeps what the path hashed to
    // (sssd's cache and the keytab never leave the host).
    let persistence = spec
        .persistent_paths
        .iter()
        .map(|p| {
            let d = root.live_op(&format!("digest:{p}"), || {
                Observed::ok(persistence::digest_path(&root.path(p)))
            });
            let d = match d {
                Observed::Ok { value } => value,
                other => PathDigest {
                    exists: false,
                    sha256: None,
                    bytes: 0,
                    error: other.why_not(),
                },
            };
            (p.clone(), d)
        })
        .collect();
    let performance = match (&spec.performance, root.is_live()) {
        (None, _) => Observed::na("the spec asks for no performance measurement"),
        (Some(_), false) => Observed::na("performance is measured on a live host, not a fixture"),
        (Some(run), true) => {
            let cpus = platform.cpu_count.max(1) as usize;
            let (p, t) = timed(|| performance::collect(run, cpus, platform.mem_total_kib, token));
            timings.insert("performance".to_string(), t);
            Observed::ok(p)
        }
    };
    Facts {
        version: FACTS_VERSION,
        probe_version: env!("CARGO_PKG_VERSION").to_string(),
        root: root.base().display().to_string(),
        first_boot,
        platform,
        network,
        storage,
        identity,
        service,
        performance,
        persistence,
        errors,
        timings_ms: timings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_root_without_proc_reports_errors_not_empty_domains() {
        let d = tempfile::tempdir().unwrap();
        let f = collect(&Root::new(d.path()), &ProbeSpec::default(), None);
        assert!(f.errors.contains_key("first_boot"));
        assert!(f.errors.contains_key("platform"));
        assert!(f.errors.contains_key("network"));
        assert!(f.errors.contains_key("storage"));
        assert!(f
            .identity
            .sssd_conf
            .why_not()
            .unwrap()
            .contains("no /etc/sssd/sssd.conf"));
    }

    #[test]
    fn live_collection_fills_every_domain() {
        let f = collect(&Root::live(), &ProbeSpec::default(), None);
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        assert_eq!(f.first_boot.boot_id.len(), 36);
        assert!(f.platform.cpu_count > 0);
        assert!(!f.network.interfaces.is_empty());
        assert!(!f.storage.mounts.is_empty());
        assert!(f.storage.root.value().is_some(), "{:?}", f.storage.root);
        assert!(!f.service.manager.is_empty());
        for d in [
            "first_boot",
            "platform",
            "network",
            "storage",
            "identity",
            "service",
        ] {
            assert!(f.timings_ms.contains_key(d), "{d}");
        }
    }
}
