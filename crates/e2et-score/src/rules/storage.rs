//! storage: persistent paths present, the root filesystem (type, writable,
//! health: a hard check), required mounts, NFS, iSCSI, ZFS pools, Ceph and
//! disks that must be blank.
use super::{describe_digest, join_or, BootContext, C};
use e2et_model::check::{Check, Gate, Outcome};
use e2et_model::facts::Facts;
use e2et_model::inventory::HostSpec;

const G: Gate = Gate::Storage;

pub fn checks(spec: &HostSpec, facts: &Facts, ctx: &BootContext<'_>, out: &mut Vec<Check>) {
    let s = &facts.storage;
    let e = &spec.expect.storage;
    for path in &spec.expect.persistent_paths {
        let c = C::new(
            format!("storage.persistent.present:{path}"),
            format!("persistent path {path} exists"),
            G,
        );
        match facts.persistence.get(path) {
            None => out.push(c.finish(
                Outcome::NotRun {
                    reason: "the probe did not report this path".into(),
                },
                Some("present".into()),
                Some("not reported".into()),
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
    // "Root pool invalid" is a hard fail.
    out.push(
        C::new("storage.root.health", "the root filesystem is healthy", G)
            .hard()
            .over(&s.root, "healthy, mounted read-write", |c, r| {
                let writable_ok = !e.root_writable || !r.read_only;
                c.compare(
                    r.healthy && writable_ok,
                    if e.root_writable {
                        "healthy, mounted read-write".into()
                    } else {
                        "healthy".into()
                    },
                    format!(
                        "{} on {} ({}): {}",
                        r.fstype,
                        r.source,
                        if r.read_only {
                            "read-only"
                        } else {
                            "read-write"
                        },
                        r.health
                    ),
                    "/proc/self/mountinfo, /sys/fs/ext4/<dev>/errors_count, zpool list".into(),
                )
            }),
    );
    if let Some(want) = &e.root_fstype {
        out.push(
            C::new(
                "storage.root.fstype",
                "the root filesystem type as declared",
                G,
            )
            .weight(5)
            .over(&s.root, want.clone(), |c, r| {
                c.compare(
                    &r.fstype == want,
                    want.clone(),
                    format!("{} on {}", r.fstype, r.source),
                    "/proc/self/mountinfo".into(),
                )
            }),
        );
    }
    for m in &e.mounts {
        let hit = s.mounts.iter().rev().find(|x| &x.target == m);
        out.push(
            C::new(format!("storage.mount:{m}"), format!("{m} is mounted"), G).compare(
                hit.is_some(),
                format!("a filesystem mounted at {m}"),
                hit.map_or("not mounted".into(), |x| {
                    format!("{} {} ({})", x.fstype, x.source, x.options)
                }),
                "/proc/self/mountinfo".into(),
            ),
        );
    }
    for m in &e.nfs {
        let hit = s.mounts.iter().rev().find(|x| &x.target == m);
        out.push(
            C::new(format!("storage.nfs:{m}"), format!("NFS mounted at {m}"), G).compare(
                hit.is_some_and(|x| x.fstype.starts_with("nfs")),
                format!("nfs or nfs4 at {m}"),
                hit.map_or("not mounted".into(), |x| {
                    format!("{} {}", x.fstype, x.source)
                }),
                "/proc/self/mountinfo".into(),
            ),
        );
    }
    for iqn in &e.iscsi_targets {
        out.push(
            C::new(format!("storage.iscsi:{iqn}"), "iSCSI session logged in", G).require(
                &s.iscsi,
                format!("{iqn} LOGGED_IN"),
                |c, sessions| {
                    let hit = sessions.iter().find(|x| &x.target == iqn);
                    let all: Vec<String> = sessions
                        .iter()
                        .map(|x| format!("{} {} {}", x.session, x.target, x.state))
                        .collect();
                    c.compare(
                        hit.is_some_and(|x| x.state == "LOGGED_IN"),
                        format!("{iqn} LOGGED_IN"),
                        hit.map_or("no session".into(), |x| x.state.clone()),
                        format!("/sys/class/iscsi_session: {}", join_or(&all, "none")),
                    )
                },
            ),
        );
    }
    for pool in &e.zfs_pools {
        out.push(
            C::new(
                format!("storage.zfs:{pool}"),
                format!("ZFS pool {pool} ONLINE"),
                G,
            )
            .hard()
            .require(&s.zfs, "ONLINE", |c, pools| {
                let hit = pools.iter().find(|p| &p.name == pool);
                c.compare(
                    hit.is_some_and(|p| p.health == "ONLINE"),
                    "ONLINE".into(),
                    hit.map_or("no such pool".into(), |p| p.health.clone()),
                    "zpool list -H -o name,health".into(),
                )
            }),
        );
    }
    if e.ceph {
        out.push(
            C::new("storage.ceph.health", "Ceph reports HEALTH_OK", G).require(
                &s.ceph,
                "HEALTH_OK",
                |c, st| {
                    c.compare(
                        st.health == "HEALTH_OK",
                        "HEALTH_OK".into(),
                        if st.detail.is_empty() {
                            st.health.clone()
                        } else {
                            format!("{}: {}", st.health, st.detail)
                        },
                        "ceph status --format json".into(),
                    )
                },
            ),
        );
    }
    for d in &e.blank_disks {
        let c = C::new(
            format!("storage.blank:{d}"),
            format!("{d} carries no data signature"),
            G,
        );
        out.push(match s.signatures.iter().find(|x| &x.device == d) {
            None => c.compare(
                false,
                "blank".into(),
                format!("no device {d}"),
                "/sys/block".into(),
            ),
            Some(x) => c.over(&x.signatures, "blank", |c, sigs| {
                let found: Vec<String> = sigs
                    .iter()
                    .map(|s| format!("{} at {} ({})", s.kind, s.offset, s.detail))
                    .collect();
                c.compare(
                    sigs.is_empty(),
                    "blank".into(),
                    join_or(&found, "blank"),
                    format!("wipe probe of /dev/{d} (first 1 MiB and last 128 KiB)"),
                )
            }),
        });
    }
}
