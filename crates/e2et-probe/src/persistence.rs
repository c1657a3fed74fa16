//! Persistence: content digests of the paths the spec declares persistent,
//! compared across the power cycle by the coordinator.
use e2et_model::facts::PathDigest;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

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
}
