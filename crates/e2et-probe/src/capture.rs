//! `e2et-probe capture`: writes what one live collection read as a fixture
//! tree (files, listings, symlinks, plus `.e2et/live.json` for modes, owners,
//! sockets and live operations), anonymised: password hashes, key material,
//! serial numbers, the run token and process arguments never leave the host.
use crate::first_boot::redact_cmdline;
use crate::identity::anonymise_keytab;
use crate::root::{Kind, Recording, CAPTURE_FILE};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0} exists and is not empty: capture into a new directory")]
    NotEmpty(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CaptureError + '_ {
    move |source| CaptureError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What was written, for the operator.
#[derive(Debug, Default)]
pub struct Summary {
    pub files: usize,
    pub symlinks: usize,
    pub live_ops: usize,
    pub anonymised: Vec<String>,
}

fn anon_serial(s: &str) -> String {
    let h = Sha256::digest(s.trim().as_bytes());
    format!("anon-{}\n", &hex::encode(h)[..8])
}

const DMI_SECRETS: &[&str] = &[
    "product_serial",
    "board_serial",
    "chassis_serial",
    "product_uuid",
];

/// The bytes to store for a file the collectors read, anonymised by path.
/// `None` keeps them as they are.
pub fn anonymise(path: &str, bytes: &[u8]) -> Option<Vec<u8>> {
    let text = || String::from_utf8_lossy(bytes).into_owned();
    let name = path.rsplit('/').next().unwrap_or("");
    if path == "/etc/shadow" {
        let out: Vec<String> = text()
            .lines()
            .map(|l| {
                let mut f: Vec<String> = l.split(':').map(str::to_string).collect();
                if f.len() > 1 {
                    let h = &f[1];
                    f[1] = match h.as_str() {
                        "" | "*" | "!" | "!!" | "!*" => h.clone(),
                        h if h.starts_with('!') => "!$6$anonymised$".into(),
                        h if h.starts_with('*') => "*".into(),
                        _ => "$6$anonymised$".into(),
                    };
                }
                f.join(":")
            })
            .collect();
        return Some((out.join("\n") + "\n").into_bytes());
    }
    if path == "/etc/krb5.keytab" {
        return Some(anonymise_keytab(bytes).unwrap_or_default());
    }
    if path.starts_with("/etc/sssd/") {
        let out: Vec<String> = text()
            .lines()
            .map(|l| match l.split_once('=') {
                Some((k, _))
                    if {
                        let k = k.trim().to_ascii_lowercase();
                        k.contains("authtok") || k.contains("password") || k.contains("secret")
                    } =>
                {
                    format!("{}= anonymised", k)
                }
                _ => l.to_string(),
            })
            .collect();
        return Some((out.join("\n") + "\n").into_bytes());
    }
    if path == "/var/lib/dpkg/status" {
        // Only what the collector reads (name, status, version,
        // architecture): the package set hash stays the same, the fixture
        // shrinks tenfold.
        let keep = ["Package:", "Status:", "Version:", "Architecture:"];
        let out: Vec<String> = text()
            .split("\n\n")
            .map(|stanza| {
                stanza
                    .lines()
                    .filter(|l| keep.iter().any(|k| l.starts_with(k)))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .filter(|s| !s.is_empty())
            .collect();
        return Some((out.join("\n\n") + "\n").into_bytes());
    }
    if path == "/proc/cmdline" {
        return Some((redact_cmdline(&text()) + "\n").into_bytes());
    }
    if path.starts_with("/proc/") && name == "cmdline" {
        // Arguments can carry secrets; the program name is all we use.
        let a0 = bytes.split(|b| *b == 0).next().unwrap_or(&[]);
        let mut v = a0.to_vec();
        v.push(0);
        return Some(v);
    }
    if path.starts_with("/sys/class/dmi/id/") && DMI_SECRETS.contains(&name) {
        return Some(b"ANONYMISED\n".to_vec());
    }
    if path.starts_with("/sys/") && (name == "serial" || name == "wwid") {
        return Some(anon_serial(&text()).into_bytes());
    }
    if path.starts_with("/sys/") && name == "vpd_pg80" {
        let s = anon_serial(&String::from_utf8_lossy(bytes.get(4..).unwrap_or(&[])));
        let s = s.trim().as_bytes();
        let mut v = vec![0, 0x80, 0, s.len() as u8];
        v.extend_from_slice(s);
        return Some(v);
    }
    None
}

/// The fixture path of an absolute host path.
fn inside(out: &Path, abs: &str) -> PathBuf {
    out.join(abs.trim_start_matches('/'))
}

/// Writes the fixture. `out` must be new or empty.
pub fn write(rec: &Recording, out: &Path) -> Result<Summary, CaptureError> {
    if out.exists() && std::fs::read_dir(out).map_err(io(out))?.next().is_some() {
        return Err(CaptureError::NotEmpty(out.display().to_string()));
    }
    std::fs::create_dir_all(out).map_err(io(out))?;
    let mut sum = Summary::default();
    // Every symlink the collectors saw: in listings, or read with readlink.
    let mut links: Vec<(String, String)> = rec
        .links
        .iter()
        .map(|(a, b)| (a.clone(), b.clone()))
        .collect();
    for (dir, entries) in &rec.lists {
        for (name, kind, target) in entries {
            if *kind == Kind::Symlink {
                if let Some(t) = target {
                    let p = format!("{}/{name}", dir.trim_end_matches('/'));
                    links.push((p, t.clone()));
                }
            }
        }
    }
    links.sort_by_key(|(p, _)| (p.matches('/').count(), p.clone()));
    links.dedup();
    let read_paths: BTreeSet<&str> = rec
        .files
        .keys()
        .map(String::as_str)
        .chain(rec.lists.keys().map(String::as_str))
        .collect();
    for (path, target) in &links {
        let at = inside(out, path);
        if at.symlink_metadata().is_ok() {
            continue;
        }
        if let Some(parent) = at.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        // A link the collectors read through must lead somewhere inside the
        // fixture: its target directory is created there too. The target
        // itself is kept as it was (a fixture resolves links like chroot).
        let through = read_paths
            .iter()
            .any(|p| p.starts_with(&format!("{path}/")));
        if through {
            if let Ok(real) = std::fs::canonicalize(path) {
                if real.is_dir() {
                    let d = inside(out, &real.display().to_string());
                    std::fs::create_dir_all(&d).map_err(io(&d))?;
                }
            }
        }
        let target_path = PathBuf::from(target);
        std::os::unix::fs::symlink(&target_path, &at).map_err(io(&at))?;
        sum.symlinks += 1;
    }
    for (dir, entries) in &rec.lists {
        let d = inside(out, dir);
        std::fs::create_dir_all(&d).map_err(io(&d))?;
        for (name, kind, _) in entries {
            let p = d.join(name);
            if p.symlink_metadata().is_ok() {
                continue;
            }
            match kind {
                Kind::Dir => std::fs::create_dir_all(&p).map_err(io(&p))?,
                Kind::File => {
                    std::fs::write(&p, b"").map_err(io(&p))?;
                }
                _ => {}
            }
        }
    }
    for (path, bytes) in &rec.files {
        let p = inside(out, path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let data = match anonymise(path, bytes) {
            Some(a) => {
                sum.anonymised.push(path.clone());
                a
            }
            None => bytes.clone(),
        };
        std::fs::write(&p, data).map_err(io(&p))?;
        sum.files += 1;
    }
    let cap = inside(out, &format!("/{CAPTURE_FILE}"));
    if let Some(parent) = cap.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let mut captured = rec.captured.clone();
    captured.version = 1;
    sum.live_ops = captured.live.len();
    let text = serde_json::to_string_pretty(&captured).unwrap_or_default();
    std::fs::write(&cap, text + "\n").map_err(io(&cap))?;
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_anonymised() {
        let sh = anonymise(
            "/etc/shadow",
            b"root:$6$abc$def:19000:0:99999:7:::\nlocked:!$6$x$y:1::::::\nnopw:*:1::::::\n",
        )
        .unwrap();
        let sh = String::from_utf8(sh).unwrap();
        assert!(!sh.contains("abc$def") && !sh.contains("$x$y"), "{sh}");
        assert!(sh.contains("root:$6$anonymised$:19000"));
        assert!(sh.contains("locked:!$6$anonymised$:"));
        assert!(sh.contains("nopw:*:"));
        let c = anonymise(
            "/etc/sssd/sssd.conf",
            b"[domain/x]\nldap_default_authtok = hunter2\nid_provider = ldap\n",
        )
        .unwrap();
        let c = String::from_utf8(c).unwrap();
        assert!(!c.contains("hunter2") && c.contains("id_provider = ldap"));
        let cl = anonymise("/proc/cmdline", b"console=ttyS0 e2et.token=abcdef\n").unwrap();
        assert_eq!(cl, b"console=ttyS0 e2et.token=<redacted>\n");
        let a = anonymise("/proc/42/cmdline", b"/usr/sbin/sshd\0-o\0Password=x\0").unwrap();
        assert_eq!(a, b"/usr/sbin/sshd\0");
        assert_eq!(
            anonymise("/sys/class/dmi/id/product_serial", b"ABC123\n").unwrap(),
            b"ANONYMISED\n"
        );
        let s = anonymise("/sys/block/vda/serial", b"DISK-SERIAL\n").unwrap();
        assert!(s.starts_with(b"anon-") && !s.windows(6).any(|w| w == b"SERIAL"));
        assert!(anonymise("/proc/meminfo", b"MemTotal: 1 kB\n").is_none());
        let status = "Package: a\nStatus: install ok installed\nPriority: required\nDescription: long\n text\nVersion: 1\nArchitecture: amd64\n\nPackage: b\nStatus: install ok installed\nVersion: 2\nArchitecture: all\n";
        let small =
            String::from_utf8(anonymise("/var/lib/dpkg/status", status.as_bytes()).unwrap())
                .unwrap();
        assert!(!small.contains("Description"));
        assert_eq!(
            crate::first_boot::dpkg_installed(&small),
            crate::first_boot::dpkg_installed(status),
            "the package set is unchanged"
        );
    }

    #[test]
    fn refuses_a_non_empty_directory() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("x"), b"").unwrap();
        assert!(matches!(
            write(&Recording::default(), d.path()),
            Err(CaptureError::NotEmpty(_))
        ));
    }
}
