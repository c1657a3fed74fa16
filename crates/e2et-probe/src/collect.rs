//! Collectors: pure parsers over text read through a [`Root`].
use crate::root::Root;
use e2et_model::facts::*;
use e2et_model::FACTS_VERSION;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// Collects every domain. A domain whose collector fails records its error in
/// `Facts::errors` rather than coming back silently empty.
pub fn collect(root: &Root, persistent_paths: &[String]) -> Facts {
    let mut errors = BTreeMap::new();
    let first_boot = first_boot(root).unwrap_or_else(|e| {
        errors.insert("first_boot".to_string(), e);
        FirstBootFacts::default()
    });
    let platform = platform(root).unwrap_or_else(|e| {
        errors.insert("platform".to_string(), e);
        PlatformFacts::default()
    });
    let network = network(root).unwrap_or_else(|e| {
        errors.insert("network".to_string(), e);
        NetworkFacts::default()
    });
    let persistence = persistent_paths
        .iter()
        .map(|p| (p.clone(), digest_path(&root.path(p))))
        .collect();
    Facts {
        version: FACTS_VERSION,
        probe_version: env!("CARGO_PKG_VERSION").to_string(),
        root: root.base().display().to_string(),
        first_boot,
        platform,
        network,
        persistence,
        errors,
    }
}

fn need(root: &Root, p: &str) -> Result<String, String> {
    root.read(p).map_err(|e| format!("cannot read {p}: {e}"))
}

pub fn first_boot(root: &Root) -> Result<FirstBootFacts, String> {
    let boot_id = need(root, "/proc/sys/kernel/random/boot_id")?
        .trim()
        .to_string();
    let cmdline = need(root, "/proc/cmdline")?.trim().to_string();
    let hostname = need(root, "/proc/sys/kernel/hostname")?.trim().to_string();
    let uptime_s = parse_uptime(&need(root, "/proc/uptime")?)
        .ok_or_else(|| "cannot parse /proc/uptime".to_string())?;
    Ok(FirstBootFacts {
        boot_id,
        cmdline,
        hostname,
        uptime_s,
        init: detect_init(root),
    })
}

pub fn parse_uptime(s: &str) -> Option<f64> {
    s.split_whitespace().next()?.parse().ok()
}

fn detect_init(root: &Root) -> String {
    if root.path("/run/systemd/system").is_dir() {
        return "systemd".into();
    }
    if root.path("/run/openrc").is_dir() {
        return "openrc".into();
    }
    let exe = std::fs::read_link(root.path("/proc/1/exe"))
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let comm = root.line("/proc/1/comm").unwrap_or_default();
    if exe.contains("busybox") || comm == "init" && root.path("/bin/busybox").exists() {
        return "busybox".into();
    }
    "unknown".into()
}

pub fn platform(root: &Root) -> Result<PlatformFacts, String> {
    let (cpu_model, cpu_count) = parse_cpuinfo(&need(root, "/proc/cpuinfo")?);
    if cpu_count == 0 {
        return Err("/proc/cpuinfo lists no processor".into());
    }
    let mem_total_kib =
        parse_meminfo_total(&need(root, "/proc/meminfo")?).ok_or("no MemTotal in /proc/meminfo")?;
    let kernel_release = root.line("/proc/sys/kernel/osrelease").unwrap_or_default();
    let modules = root
        .read("/proc/modules")
        .map(|s| parse_modules(&s))
        .unwrap_or_default();
    let mut vulnerabilities = BTreeMap::new();
    for name in root.list("/sys/devices/system/cpu/vulnerabilities") {
        if let Some(v) = root.line(&format!("/sys/devices/system/cpu/vulnerabilities/{name}")) {
            vulnerabilities.insert(name, v);
        }
    }
    let mut block_devices = Vec::new();
    for name in root.list("/sys/block") {
        if name.starts_with("loop") || name.starts_with("ram") {
            continue;
        }
        let base = format!("/sys/block/{name}");
        let sectors: u64 = root
            .line(&format!("{base}/size"))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        block_devices.push(BlockDevice {
            size_bytes: sectors * 512,
            rotational: root
                .line(&format!("{base}/queue/rotational"))
                .map(|s| s == "1"),
            model: root
                .line(&format!("{base}/device/model"))
                .filter(|s| !s.is_empty()),
            name,
        });
    }
    Ok(PlatformFacts {
        cpu_model,
        cpu_count,
        mem_total_kib,
        kernel_release,
        block_devices,
        modules,
        vulnerabilities,
    })
}

/// (model name of the first processor, number of processors).
pub fn parse_cpuinfo(s: &str) -> (String, u32) {
    let mut model = String::new();
    let mut count = 0;
    for line in s.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        match k.trim() {
            "processor" => count += 1,
            "model name" if model.is_empty() => model = v.trim().to_string(),
            _ => {}
        }
    }
    (model, count)
}

pub fn parse_meminfo_total(s: &str) -> Option<u64> {
    s.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

pub fn parse_modules(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

pub fn network(root: &Root) -> Result<NetworkFacts, String> {
    let names = root.list("/sys/class/net");
    if names.is_empty() {
        return Err("no interfaces under /sys/class/net".into());
    }
    let addrs = if root.is_live() {
        Some(live_ipv4())
    } else {
        None
    };
    let mut interfaces = Vec::new();
    for name in names {
        if name == "lo" {
            continue;
        }
        let base = format!("/sys/class/net/{name}");
        interfaces.push(Interface {
            mac: root.line(&format!("{base}/address")).unwrap_or_default(),
            operstate: root
                .line(&format!("{base}/operstate"))
                .unwrap_or_else(|| "unknown".into()),
            carrier: root.line(&format!("{base}/carrier")).map(|s| s == "1"),
            mtu: root
                .line(&format!("{base}/mtu"))
                .and_then(|s| s.parse().ok()),
            ipv4: addrs
                .as_ref()
                .map(|m: &BTreeMap<String, Vec<String>>| m.get(&name).cloned().unwrap_or_default()),
            name,
        });
    }
    Ok(NetworkFacts { interfaces })
}

fn live_ipv4() -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return out;
    };
    for a in addrs {
        let (Some(addr), Some(mask)) = (a.address, a.netmask) else {
            continue;
        };
        let (Some(ip), Some(m)) = (addr.as_sockaddr_in(), mask.as_sockaddr_in()) else {
            continue;
        };
        let prefix = u32::from(m.ip()).count_ones();
        out.entry(a.interface_name)
            .or_default()
            .push(format!("{}/{prefix}", ip.ip()));
    }
    out
}

/// Digest of a file's bytes, or of a directory's sorted listing of (relative path,
/// kind, content digest); symlinks digest their target path.
pub fn digest_path(p: &Path) -> PathDigest {
    match std::fs::symlink_metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => PathDigest {
            exists: false,
            sha256: None,
            bytes: 0,
            error: None,
        },
        Err(e) => PathDigest {
            exists: false,
            sha256: None,
            bytes: 0,
            error: Some(e.to_string()),
        },
        Ok(_) => {
            let mut h = Sha256::new();
            let mut bytes = 0;
            match feed(p, Path::new(""), &mut h, &mut bytes) {
                Ok(()) => PathDigest {
                    exists: true,
                    sha256: Some(hex::encode(h.finalize())),
                    bytes,
                    error: None,
                },
                Err(e) => PathDigest {
                    exists: true,
                    sha256: None,
                    bytes,
                    error: Some(e.to_string()),
                },
            }
        }
    }
}

fn feed(p: &Path, rel: &Path, h: &mut Sha256, bytes: &mut u64) -> std::io::Result<()> {
    let md = std::fs::symlink_metadata(p)?;
    let ft = md.file_type();
    if ft.is_symlink() {
        h.update(format!(
            "L {}\0{}\0",
            rel.display(),
            std::fs::read_link(p)?.display()
        ));
    } else if ft.is_dir() {
        h.update(format!("D {}\0", rel.display()));
        let mut entries: Vec<_> = std::fs::read_dir(p)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        entries.sort();
        for name in entries {
            feed(&p.join(&name), &rel.join(&name), h, bytes)?;
        }
    } else if ft.is_file() {
        h.update(format!("F {} {}\0", rel.display(), md.len()));
        let mut f = std::fs::File::open(p)?;
        let mut buf = [0u8; 65536];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            *bytes += n as u64;
        }
    } else {
        h.update(format!("S {}\0", rel.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuinfo_counts_processors() {
        let s = "processor\t: 0\nmodel name\t: QEMU Virtual CPU version 2.5+\n\nprocessor\t: 1\nmodel name\t: QEMU Virtual CPU version 2.5+\n";
        assert_eq!(
            parse_cpuinfo(s),
            ("QEMU Virtual CPU version 2.5+".into(), 2)
        );
    }

    #[test]
    fn meminfo_and_uptime() {
        assert_eq!(
            parse_meminfo_total("MemTotal:        8000000 kB\nMemFree: 1 kB\n"),
            Some(8_000_000)
        );
        assert_eq!(parse_meminfo_total("MemFree: 1 kB\n"), None);
        assert_eq!(parse_uptime("12.50 3.00\n"), Some(12.5));
    }

    #[test]
    fn digest_changes_with_content_and_tracks_dirs() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("state");
        assert!(!digest_path(&f).exists);
        std::fs::write(&f, b"one").unwrap();
        let a = digest_path(&f);
        std::fs::write(&f, b"two").unwrap();
        let b = digest_path(&f);
        assert!(a.exists && b.exists);
        assert_ne!(a.sha256, b.sha256);
        let da = digest_path(d.path());
        std::fs::write(d.path().join("other"), b"x").unwrap();
        let db = digest_path(d.path());
        assert_ne!(da.sha256, db.sha256);
    }

    #[test]
    fn fixture_root_without_proc_reports_errors_not_empty_domains() {
        let d = tempfile::tempdir().unwrap();
        let f = collect(&Root::new(d.path()), &[]);
        assert!(f.errors.contains_key("first_boot"));
        assert!(f.errors.contains_key("platform"));
        assert!(f.errors.contains_key("network"));
    }
}
