//! What is wrong with a set of expectations, field by field.
use super::*;

impl Expect {
    /// Problems with these expectations, as (field, problem); the field is
    /// relative to `expect`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        let mut f = |field: String, msg: String| p.push((field, msg));
        if let Some(i) = &self.image {
            if !is_image_name(i) {
                f(
                    "image".into(),
                    format!("{i:?}: an image name is 1 to 64 of a-z, 0-9, - and _, starting with a letter or digit"),
                );
            }
        }
        let fb = &self.first_boot;
        if fb.ssh_port == 0 {
            f(
                "firstBoot.sshPort".into(),
                "must be a TCP port (1-65535)".into(),
            );
        }
        if let Some(i) = &fb.init {
            if !["systemd", "openrc", "sysvinit", "busybox"].contains(&i.as_str()) {
                f(
                    "firstBoot.init".into(),
                    format!("{i:?}: use systemd, openrc, sysvinit or busybox"),
                );
            }
        }
        if let Some(s) = &fb.system {
            if !s.starts_with("/nix/store/") {
                f(
                    "firstBoot.system".into(),
                    format!("{s:?} is not a /nix/store path"),
                );
            }
        }
        let pl = &self.platform;
        if let Some(m) = &pl.boot_mode {
            if m != "uefi" && m != "bios" {
                f(
                    "platform.bootMode".into(),
                    format!("{m:?}: use uefi or bios"),
                );
            }
        }
        for (i, d) in pl.disks.iter().enumerate() {
            if d.count == 0 {
                f(
                    format!("platform.disks[{i}].count"),
                    "must be at least 1".into(),
                );
            }
            if let Some(t) = &d.transport {
                if !["nvme", "sata", "sas", "usb", "virtio", "scsi", "mmc"].contains(&t.as_str()) {
                    f(
                        format!("platform.disks[{i}].transport"),
                        format!("{t:?}: use nvme, sata, sas, usb, virtio, scsi or mmc"),
                    );
                }
            }
        }
        for (i, d) in self.storage.blank_disks.iter().enumerate() {
            if d.is_empty() || d.contains('/') {
                f(
                    format!("storage.blankDisks[{i}]"),
                    format!("{d:?}: give the kernel name (sdb, nvme1n1), not a path"),
                );
            }
        }
        for (field, list) in [
            ("storage.mounts", &self.storage.mounts),
            ("storage.nfs", &self.storage.nfs),
        ] {
            for (i, m) in list.iter().enumerate() {
                if !m.starts_with('/') {
                    f(
                        format!("{field}[{i}]"),
                        format!("{m:?} is not an absolute path"),
                    );
                }
            }
        }
        for (i, s) in self.service.required.iter().enumerate() {
            if s.split('|').any(|a| a.trim().is_empty()) {
                f(
                    format!("service.required[{i}]"),
                    format!("{s:?}: a service name (or names separated by '|')"),
                );
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, s) in self.service.smoke.iter().enumerate() {
            let field = format!("service.smoke[{i}]");
            if s.name.trim().is_empty() || !names.insert(s.name.as_str()) {
                f(
                    format!("{field}.name"),
                    format!(
                        "{:?}: each smoke check needs its own non-empty name",
                        s.name
                    ),
                );
            }
            if s.kind().is_none() {
                f(
                    field.clone(),
                    "give exactly one of command (a non-empty argv), tcp or http".into(),
                );
            }
            if s.timeout_s == 0 || s.timeout_s > 300 {
                f(
                    format!("{field}.timeoutS"),
                    format!("{}: between 1 and 300 seconds", s.timeout_s),
                );
            }
            if let Some(t) = &s.tcp {
                let ok = t
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
                if !ok {
                    f(format!("{field}.tcp"), format!("{t:?} is not host:port"));
                }
            }
            if let Some(h) = &s.http {
                if !(h.url.starts_with("http://") || h.url.starts_with("https://")) {
                    f(
                        format!("{field}.http.url"),
                        format!("{:?} is not an http(s) URL", h.url),
                    );
                }
            }
        }
        if let Some(pf) = &self.performance {
            if !(0.0..100.0).contains(&pf.tolerance_pct) {
                f(
                    "performance.tolerancePct".into(),
                    format!("{}: between 0 and 100", pf.tolerance_pct),
                );
            }
            if !pf.disk_dir.starts_with('/') {
                f(
                    "performance.diskDir".into(),
                    format!("{:?} is not an absolute path", pf.disk_dir),
                );
            }
            if pf.disk_mib == 0 || pf.disk_mib > 4096 {
                f(
                    "performance.diskMib".into(),
                    format!("{}: between 1 and 4096", pf.disk_mib),
                );
            }
            if pf.tcp_mib == 0 || pf.tcp_mib > 4096 {
                f(
                    "performance.tcpMib".into(),
                    format!("{}: between 1 and 4096", pf.tcp_mib),
                );
            }
            if pf.duration_ms < 50 || pf.duration_ms > 30_000 {
                f(
                    "performance.durationMs".into(),
                    format!("{}: between 50 and 30000", pf.duration_ms),
                );
            }
            for (name, v) in [
                ("cpuSingleMibs", pf.cpu_single_mibs),
                ("cpuAllMibs", pf.cpu_all_mibs),
                ("memoryMibs", pf.memory_mibs),
                ("diskWriteMibs", pf.disk_write_mibs),
                ("diskReadMibs", pf.disk_read_mibs),
                ("fsyncP99Ms", pf.fsync_p99_ms),
                ("tcpMbits", pf.tcp_mbits),
            ] {
                if let Some(v) = v {
                    if !(v.is_finite() && v > 0.0) {
                        f(
                            format!("performance.{name}"),
                            format!("{v}: a positive baseline"),
                        );
                    }
                }
            }
        }
        p
    }
}
