//! A filesystem root the collectors read through: the live `/`, or a fixture
//! tree captured from a real host (`e2et-probe capture`).
//!
//! Everything a collector learns goes through here, in three channels:
//! - files, directory listings and symlinks under the root;
//! - metadata git cannot keep (modes, owners, sockets), from
//!   `<fixture>/.e2et/live.json` when the tree says so, else the tree itself;
//! - live operations (commands, DNS, NSS, adjtimex, block-device reads): run
//!   on a live root, replayed from `.e2et/live.json` on a fixture.
//!
//! With recording on (capture), every read is noted so the capture holds
//! exactly what the collectors read, nothing more.
use crate::sys::CmdOutput;
use e2et_model::Observed;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Where a fixture keeps what a tree of files cannot hold.
pub const CAPTURE_FILE: &str = ".e2et/live.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Socket,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub kind: Kind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub len: u64,
}

impl Meta {
    /// Permission bits as `0600`.
    pub fn mode_octal(&self) -> String {
        format!("{:04o}", self.mode & 0o7777)
    }
}

/// The part of a fixture that is not files.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Captured {
    pub version: u32,
    /// Live operations: key → the `Observed` result, as JSON.
    pub live: BTreeMap<String, serde_json::Value>,
    /// Metadata of paths the collectors asked about.
    pub meta: BTreeMap<String, Meta>,
}

/// What the collectors read, for `capture`.
#[derive(Debug, Default)]
pub struct Recording {
    /// Files read, with the bytes the collectors parsed.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Directory → entries (name, kind, symlink target).
    pub lists: BTreeMap<String, Vec<(String, Kind, Option<String>)>>,
    pub links: BTreeMap<String, String>,
    pub captured: Captured,
}

pub struct Root {
    base: PathBuf,
    live: bool,
    captured: OnceLock<Captured>,
    recorder: Option<Mutex<Recording>>,
}

impl std::fmt::Debug for Root {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Root")
            .field("base", &self.base)
            .field("live", &self.live)
            .finish()
    }
}

fn kind_of(ft: std::fs::FileType) -> Kind {
    if ft.is_symlink() {
        Kind::Symlink
    } else if ft.is_dir() {
        Kind::Dir
    } else if ft.is_file() {
        Kind::File
    } else if ft.is_socket() {
        Kind::Socket
    } else {
        Kind::Other
    }
}

impl Root {
    /// A root at `base`: the live host when `base` is `/`, a fixture otherwise.
    pub fn new(base: impl Into<PathBuf>) -> Root {
        let base = base.into();
        let live = base == Path::new("/");
        Root {
            base,
            live,
            captured: OnceLock::new(),
            recorder: None,
        }
    }

    pub fn live() -> Root {
        Root::new("/")
    }

    /// The live host, noting everything read (for `capture`).
    pub fn recording() -> Root {
        let mut r = Root::live();
        r.recorder = Some(Mutex::new(Recording::default()));
        r
    }

    /// Another handle on the same root (no recording), for a worker thread.
    pub fn clone_handle(&self) -> Root {
        Root::new(self.base.clone())
    }

    pub fn take_recording(&self) -> Option<Recording> {
        self.recorder
            .as_ref()
            .map(|m| std::mem::take(&mut *m.lock().unwrap_or_else(|p| p.into_inner())))
    }

    pub fn is_live(&self) -> bool {
        self.live
    }

    pub fn base(&self) -> &Path {
        &self.base
    }

    fn note(&self, f: impl FnOnce(&mut Recording)) {
        if let Some(r) = &self.recorder {
            f(&mut r.lock().unwrap_or_else(|p| p.into_inner()));
        }
    }

    fn captured(&self) -> &Captured {
        self.captured.get_or_init(|| {
            std::fs::read_to_string(self.base.join(CAPTURE_FILE))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default()
        })
    }

    /// Maps an absolute host path into the root, following every symlink
    /// (the last one too). On a fixture, links resolve inside the fixture
    /// as under chroot: an absolute target starts again at the fixture's
    /// top, never at this machine's `/`.
    pub fn path(&self, abs: &str) -> PathBuf {
        self.resolve(abs, true)
    }

    /// Like `path`, but a symlink in the last component is left alone (for
    /// lstat and readlink).
    fn path_nofollow(&self, abs: &str) -> PathBuf {
        self.resolve(abs, false)
    }

    fn resolve(&self, abs: &str, follow_last: bool) -> PathBuf {
        if self.live {
            return self.base.join(abs.trim_start_matches('/'));
        }
        let mut todo: std::collections::VecDeque<String> = abs
            .split('/')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect();
        let mut parts: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(c) = todo.pop_front() {
            match c.as_str() {
                "." => continue,
                ".." => {
                    parts.pop();
                    continue;
                }
                _ => parts.push(c),
            }
            if todo.is_empty() && !follow_last {
                break;
            }
            let here = self.base.join(parts.join("/"));
            let is_link = std::fs::symlink_metadata(&here)
                .map(|m| m.file_type().is_symlink())
                .unwrap_or(false);
            if !is_link || hops >= 40 {
                continue;
            }
            hops += 1;
            let Ok(target) = std::fs::read_link(&here) else {
                continue;
            };
            parts.pop();
            let t = target.to_string_lossy().into_owned();
            if t.starts_with('/') {
                parts.clear();
            }
            for (i, c) in t.split('/').filter(|c| !c.is_empty()).enumerate() {
                todo.insert(i, c.to_string());
            }
        }
        self.base.join(parts.join("/"))
    }

    pub fn read(&self, abs: &str) -> io::Result<String> {
        let b = self.read_bytes(abs)?;
        String::from_utf8(b).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    pub fn read_bytes(&self, abs: &str) -> io::Result<Vec<u8>> {
        let r = std::fs::read(self.path(abs));
        if let Ok(b) = &r {
            self.note(|rec| {
                rec.files.insert(abs.to_string(), b.clone());
            });
        }
        r
    }

    /// Reads a one-line file and trims it; `None` when absent, unreadable or empty.
    pub fn line(&self, abs: &str) -> Option<String> {
        self.read(abs)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    /// Entry names of a directory, sorted; empty when absent.
    pub fn list(&self, abs: &str) -> Vec<String> {
        let dir = self.path(abs);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut entries: Vec<(String, Kind, Option<String>)> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let kind = e.file_type().map(kind_of).ok()?;
                let target = (kind == Kind::Symlink)
                    .then(|| std::fs::read_link(e.path()).ok())
                    .flatten()
                    .map(|t| t.display().to_string());
                Some((name, kind, target))
            })
            .collect();
        entries.sort();
        let names = entries.iter().map(|e| e.0.clone()).collect();
        self.note(|rec| {
            rec.lists.insert(abs.to_string(), entries);
        });
        names
    }

    /// lstat: kind, mode, owner, size. Fixtures answer from their capture
    /// first (git keeps neither modes nor sockets).
    pub fn meta(&self, abs: &str) -> Option<Meta> {
        if !self.live {
            if let Some(m) = self.captured().meta.get(abs) {
                return Some(*m);
            }
        }
        let md = std::fs::symlink_metadata(self.path_nofollow(abs)).ok()?;
        let m = Meta {
            kind: kind_of(md.file_type()),
            mode: md.mode(),
            uid: md.uid(),
            gid: md.gid(),
            len: md.len(),
        };
        self.note(|rec| {
            rec.captured.meta.insert(abs.to_string(), m);
        });
        Some(m)
    }

    /// stat: like `meta`, following symlinks inside the root (NixOS links
    /// /etc/sssd/sssd.conf into /var/lib/sssd; a keytab may be linked to
    /// persistent storage). `None` for a dangling link or a loop.
    pub fn meta_follow(&self, abs: &str) -> Option<Meta> {
        let mut p = abs.to_string();
        for _ in 0..8 {
            let m = self.meta(&p)?;
            if m.kind != Kind::Symlink {
                return Some(m);
            }
            let t = self.readlink(&p)?;
            p = if t.starts_with('/') {
                t
            } else {
                let parent = p.rsplit_once('/').map_or("", |(d, _)| d).to_string();
                format!("{parent}/{t}")
            };
        }
        None
    }

    pub fn exists(&self, abs: &str) -> bool {
        self.meta(abs).is_some()
    }

    /// A directory (following a symlink to one). Fixtures answer from their
    /// capture first: git keeps no empty directory (/run/systemd/system).
    pub fn is_dir(&self, abs: &str) -> bool {
        if !self.live {
            if let Some(m) = self.captured().meta.get(abs) {
                return m.kind == Kind::Dir;
            }
        }
        let r = self.path(abs).is_dir();
        if r {
            self.note(|rec| {
                rec.captured.meta.entry(abs.to_string()).or_insert(Meta {
                    kind: Kind::Dir,
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                    len: 0,
                });
            });
        }
        r
    }

    pub fn readlink(&self, abs: &str) -> Option<String> {
        let t = std::fs::read_link(self.path_nofollow(abs))
            .ok()?
            .display()
            .to_string();
        self.note(|rec| {
            rec.links.insert(abs.to_string(), t.clone());
        });
        Some(t)
    }

    /// A live operation: run `f` on a live root (recorded when capturing), or
    /// replay what was captured on a fixture.
    pub fn live_op<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
        f: impl FnOnce() -> Observed<T>,
    ) -> Observed<T> {
        if self.live {
            let v = f();
            self.note(|rec| {
                if let Ok(j) = serde_json::to_value(&v) {
                    rec.captured.live.insert(key.to_string(), j);
                }
            });
            return v;
        }
        match self.captured().live.get(key) {
            Some(j) => serde_json::from_value(j.clone())
                .unwrap_or_else(|e| Observed::err(format!("fixture entry {key} is corrupt: {e}"))),
            None => Observed::err(format!(
                "the fixture holds no capture of {key} (cannot run it on a fixture root)"
            )),
        }
    }

    /// Runs a command with a time bound (live), or replays its capture.
    /// A program that is not installed is "not applicable", not an error.
    pub fn command(&self, argv: &[&str], timeout: Duration) -> Observed<CmdOutput> {
        let key = format!("cmd:{}", argv.join(" "));
        self.live_op(&key, || crate::sys::run_command(argv, timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_answers_meta_and_live_ops_from_its_capture() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc/sssd")).unwrap();
        std::fs::write(d.path().join("etc/sssd/sssd.conf"), "[sssd]\n").unwrap();
        let mut c = Captured::default();
        c.meta.insert(
            "/etc/sssd/sssd.conf".into(),
            Meta {
                kind: Kind::File,
                mode: 0o100600,
                uid: 0,
                gid: 0,
                len: 7,
            },
        );
        c.live.insert(
            "cmd:sssctl domain-list".into(),
            serde_json::json!({"status": "ok", "value": {"code": 0, "stdout": "lab\n", "stderr": ""}}),
        );
        std::fs::create_dir_all(d.path().join(".e2et")).unwrap();
        std::fs::write(
            d.path().join(CAPTURE_FILE),
            serde_json::to_string(&c).unwrap(),
        )
        .unwrap();
        let r = Root::new(d.path());
        assert!(!r.is_live());
        assert_eq!(
            r.meta("/etc/sssd/sssd.conf").unwrap().mode_octal(),
            "0600",
            "the capture's mode wins over the checkout's"
        );
        let out = r.command(&["sssctl", "domain-list"], Duration::from_secs(1));
        assert_eq!(out.value().unwrap().stdout, "lab\n");
        let missing = r.command(&["zpool", "list"], Duration::from_secs(1));
        assert!(missing
            .why_not()
            .unwrap()
            .contains("holds no capture of cmd:zpool list"));
    }

    #[test]
    fn fixture_symlinks_resolve_inside_the_fixture() {
        let d = tempfile::tempdir().unwrap();
        let b = d.path();
        std::fs::create_dir_all(b.join("var/lib/sssd")).unwrap();
        std::fs::write(b.join("var/lib/sssd/sssd.conf"), "[sssd]\n").unwrap();
        std::fs::create_dir_all(b.join("etc/sssd")).unwrap();
        // Absolute, as NixOS links it: must not leave the fixture.
        std::os::unix::fs::symlink("/var/lib/sssd/sssd.conf", b.join("etc/sssd/sssd.conf"))
            .unwrap();
        std::os::unix::fs::symlink("../var/lib", b.join("etc/lib")).unwrap();
        let r = Root::new(b);
        assert_eq!(r.read("/etc/sssd/sssd.conf").unwrap(), "[sssd]\n");
        assert_eq!(r.read("/etc/lib/sssd/sssd.conf").unwrap(), "[sssd]\n");
        assert_eq!(r.meta("/etc/sssd/sssd.conf").unwrap().kind, Kind::Symlink);
        assert_eq!(
            r.meta_follow("/etc/sssd/sssd.conf").unwrap().kind,
            Kind::File
        );
        assert_eq!(
            r.readlink("/etc/sssd/sssd.conf").as_deref(),
            Some("/var/lib/sssd/sssd.conf")
        );
        // A loop ends.
        std::os::unix::fs::symlink("/loop", b.join("loop")).unwrap();
        assert!(r.read("/loop").is_err());
    }

    #[test]
    fn recording_notes_reads_lists_and_live_ops() {
        let r = Root::recording();
        assert!(r.read("/proc/uptime").is_ok());
        let _ = r.list("/proc/sys/kernel/random");
        let _: Observed<u32> = r.live_op("k", || Observed::ok(7));
        let rec = r.take_recording().unwrap();
        assert!(rec.files.contains_key("/proc/uptime"));
        assert!(rec.lists.contains_key("/proc/sys/kernel/random"));
        assert_eq!(
            rec.captured.live["k"],
            serde_json::json!({"status": "ok", "value": 7})
        );
    }
}
