//! storage: mounts, the root filesystem and its health (ZFS pool when the
//! root is on ZFS), iSCSI sessions, Ceph health, and the wipe probe's data
//! signatures on each disk and partition.
use crate::root::Root;
use crate::wipe;
use e2et_model::facts::*;
use e2et_model::Observed;
use std::time::Duration;

const CMD_TIMEOUT: Duration = Duration::from_secs(10);

/// Undoes /proc's octal escapes (`\040` for a space).
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .map(|d| d.iter().fold(0u32, |n, c| n * 8 + u32::from(c - b'0')));
        if let Some(n) = octal.and_then(|n| u8::try_from(n).ok()) {
            out.push(n);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One /proc/self/mountinfo row.
#[derive(Debug, Clone, PartialEq)]
pub struct MountInfo {
    pub major_minor: String,
    pub target: String,
    pub mount_options: String,
    pub fstype: String,
    pub source: String,
    pub super_options: String,
}

pub fn parse_mountinfo(s: &str) -> Vec<MountInfo> {
    s.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let a: Vec<&str> = pre.split_whitespace().collect();
            let b: Vec<&str> = post.split_whitespace().collect();
            if a.len() < 6 || b.len() < 2 {
                return None;
            }
            Some(MountInfo {
                major_minor: a[2].to_string(),
                target: unescape(a[4]),
                mount_options: a[5].to_string(),
                fstype: b[0].to_string(),
                source: unescape(b[1]),
                super_options: b.get(2).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

fn has_opt(opts: &str, o: &str) -> bool {
    opts.split(',').any(|x| x == o)
}

/// `zpool list -H -o name,health`.
pub fn parse_zpool_list(s: &str) -> Vec<ZPool> {
    s.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some(ZPool {
                name: f.next()?.trim().to_string(),
                health: f.next()?.trim().to_string(),
            })
        })
        .filter(|p| !p.name.is_empty())
        .collect()
}

/// `ceph status --format json`: `.health.status` and the check summaries.
pub fn parse_ceph_status(s: &str) -> Result<CephStatus, String> {
    let v: serde_json::Value =
        serde_json::from_str(s).map_err(|e| format!("ceph status is not JSON: {e}"))?;
    let health = v["health"]["status"]
        .as_str()
        .or_else(|| v["health"]["overall_status"].as_str())
        .ok_or("ceph status has no health.status")?
        .to_string();
    let detail = v["health"]["checks"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, c)| format!("{k}: {}", c["summary"]["message"].as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    Ok(CephStatus { health, detail })
}

fn zfs(root: &Root) -> Observed<Vec<ZPool>> {
    if !root.is_dir("/sys/module/zfs") {
        return Observed::na("the zfs kernel module is not loaded");
    }
    match root.command(&["zpool", "list", "-H", "-o", "name,health"], CMD_TIMEOUT) {
        Observed::Ok { value } if value.success() => Observed::ok(parse_zpool_list(&value.stdout)),
        Observed::Ok { value } => Observed::err(format!(
            "zpool list exited {:?}: {}",
            value.code,
            value.stderr.trim()
        )),
        Observed::NotApplicable { reason } => Observed::err(format!("zfs is loaded but {reason}")),
        Observed::Error { message } => Observed::err(message),
    }
}

fn root_fs(root: &Root, mounts: &[MountInfo], pools: &Observed<Vec<ZPool>>) -> Observed<RootFs> {
    let Some(m) = mounts.iter().rev().find(|m| m.target == "/") else {
        return Observed::err("no mount at / in /proc/self/mountinfo");
    };
    let read_only = has_opt(&m.mount_options, "ro");
    let (healthy, health) = match m.fstype.as_str() {
        "ext2" | "ext3" | "ext4" => {
            let dev = root
                .readlink(&format!("/sys/dev/block/{}", m.major_minor))
                .and_then(|t| t.rsplit('/').next().map(str::to_string));
            match dev.and_then(|d| {
                root.line(&format!("/sys/fs/ext4/{d}/errors_count"))
                    .map(|n| (d, n))
            }) {
                Some((d, n)) if n == "0" => (true, format!("ext4 on {d}: 0 errors recorded")),
                Some((d, n)) => {
                    let first = root
                        .line(&format!("/sys/fs/ext4/{d}/first_error_time"))
                        .unwrap_or_default();
                    (
                        false,
                        format!("ext4 on {d}: {n} error(s) recorded (first error time {first})"),
                    )
                }
                None => (
                    !read_only,
                    "ext4 error counter not readable (no /sys/fs/ext4/<dev>/errors_count)".into(),
                ),
            }
        }
        "zfs" => {
            let pool = m.source.split('/').next().unwrap_or("").to_string();
            match pools
                .value()
                .and_then(|ps| ps.iter().find(|p| p.name == pool))
            {
                Some(p) if p.health == "ONLINE" => (true, format!("ZFS pool {pool} ONLINE")),
                Some(p) => (false, format!("ZFS pool {pool} {}", p.health)),
                None => (
                    false,
                    format!(
                        "ZFS pool {pool} of the root dataset not listed by zpool ({})",
                        pools.why_not().unwrap_or_else(|| "absent".into())
                    ),
                ),
            }
        }
        "tmpfs" | "rootfs" | "ramfs" => (
            true,
            format!("{} in RAM: nothing on it survives a power cycle", m.fstype),
        ),
        other => (
            !read_only,
            format!(
                "{other}: no error counter read; mounted {}",
                if read_only { "read-only" } else { "read-write" }
            ),
        ),
    };
    Observed::ok(RootFs {
        source: m.source.clone(),
        fstype: m.fstype.clone(),
        read_only,
        health,
        healthy,
    })
}

fn iscsi(root: &Root) -> Observed<Vec<IscsiSession>> {
    let base = "/sys/class/iscsi_session";
    if !root.is_dir(base) {
        return Observed::na(
            "no /sys/class/iscsi_session: no iSCSI initiator (scsi_transport_iscsi not loaded)",
        );
    }
    Observed::ok(
        root.list(base)
            .into_iter()
            .map(|s| IscsiSession {
                target: root
                    .line(&format!("{base}/{s}/targetname"))
                    .unwrap_or_default(),
                state: root.line(&format!("{base}/{s}/state")).unwrap_or_default(),
                session: s,
            })
            .collect(),
    )
}

fn ceph(root: &Root) -> Observed<CephStatus> {
    if !root.exists("/etc/ceph/ceph.conf") {
        return Observed::na("no /etc/ceph/ceph.conf: not a Ceph client or node");
    }
    match root.command(
        &[
            "ceph",
            "status",
            "--format",
            "json",
            "--connect-timeout",
            "5",
        ],
        CMD_TIMEOUT,
    ) {
        Observed::Ok { value } if value.success() => parse_ceph_status(&value.stdout).into(),
        Observed::Ok { value } => Observed::err(format!(
            "ceph status exited {:?}: {}",
            value.code,
            value.stderr.trim()
        )),
        Observed::NotApplicable { reason } => {
            Observed::err(format!("/etc/ceph/ceph.conf exists but {reason}"))
        }
        Observed::Error { message } => Observed::err(message),
    }
}

/// Disks and their partitions, as kernel names.
pub fn disks_and_partitions(root: &Root) -> Vec<String> {
    let mut out = Vec::new();
    for d in root.list("/sys/block") {
        if d.starts_with("loop") || d.starts_with("ram") || d.starts_with("zram") {
            continue;
        }
        let parts: Vec<String> = root
            .list(&format!("/sys/block/{d}"))
            .into_iter()
            .filter(|p| p.starts_with(&d) && root.exists(&format!("/sys/block/{d}/{p}/partition")))
            .collect();
        out.push(d);
        out.extend(parts);
    }
    out
}

fn signatures(root: &Root) -> Vec<DeviceSignatures> {
    let devs = disks_and_partitions(root);
    std::thread::scope(|s| {
        let hs: Vec<_> = devs
            .into_iter()
            .map(|d| {
                s.spawn(move || {
                    let path = format!("/dev/{d}");
                    let signatures = root.live_op(&format!("signatures:{path}"), || {
                        wipe::probe(std::path::Path::new(&path))
                            .map_err(|e| format!("reading {path}: {e}"))
                            .into()
                    });
                    DeviceSignatures {
                        device: d,
                        signatures,
                    }
                })
            })
            .collect();
        hs.into_iter().filter_map(|h| h.join().ok()).collect()
    })
}

pub fn collect(root: &Root) -> Result<StorageFacts, String> {
    let text = root
        .read("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    let infos = parse_mountinfo(&text);
    let zfs = zfs(root);
    let rootfs = root_fs(root, &infos, &zfs);
    Ok(StorageFacts {
        mounts: infos
            .iter()
            .map(|m| Mount {
                source: m.source.clone(),
                target: m.target.clone(),
                fstype: m.fstype.clone(),
                options: m.mount_options.clone(),
            })
            .collect(),
        root: rootfs,
        zfs,
        iscsi: iscsi(root),
        ceph: ceph(root),
        signatures: signatures(root),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_rows_and_escapes() {
        let s = "22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n\
                 30 22 0:26 / /mnt/my\\040disk ro,nosuid - nfs4 srv:/export/a\\040b rw,vers=4.2\n";
        let m = parse_mountinfo(s);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].major_minor, "253:0");
        assert_eq!((m[0].target.as_str(), m[0].fstype.as_str()), ("/", "ext4"));
        assert_eq!(m[1].target, "/mnt/my disk");
        assert_eq!(m[1].source, "srv:/export/a b");
        assert!(has_opt(&m[1].mount_options, "ro"));
    }

    #[test]
    fn zpool_and_ceph_parsers() {
        assert_eq!(
            parse_zpool_list("rpool\tONLINE\ntank\tDEGRADED\n"),
            vec![
                ZPool {
                    name: "rpool".into(),
                    health: "ONLINE".into()
                },
                ZPool {
                    name: "tank".into(),
                    health: "DEGRADED".into()
                }
            ]
        );
        let c = parse_ceph_status(r#"{"health":{"status":"HEALTH_WARN","checks":{"OSD_DOWN":{"severity":"HEALTH_WARN","summary":{"message":"1 osds down"}}}}}"#).unwrap();
        assert_eq!(c.health, "HEALTH_WARN");
        assert_eq!(c.detail, "OSD_DOWN: 1 osds down");
        assert!(parse_ceph_status("nope").is_err());
    }
}
