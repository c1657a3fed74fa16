//! A filesystem root the collectors read through.
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Root {
    base: PathBuf,
}

impl Root {
    pub fn new(base: impl Into<PathBuf>) -> Root {
        Root { base: base.into() }
    }

    pub fn live() -> Root {
        Root::new("/")
    }

    pub fn is_live(&self) -> bool {
        self.base == Path::new("/")
    }

    pub fn base(&self) -> &Path {
        &self.base
    }

    /// Maps an absolute host path into the root.
    pub fn path(&self, abs: &str) -> PathBuf {
        self.base.join(abs.trim_start_matches('/'))
    }

    pub fn read(&self, abs: &str) -> io::Result<String> {
        std::fs::read_to_string(self.path(abs))
    }

    /// Reads a one-line file and trims it; `None` when absent or unreadable.
    pub fn line(&self, abs: &str) -> Option<String> {
        self.read(abs).ok().map(|s| s.trim().to_string())
    }

    /// Entry names of a directory, sorted; empty when absent.
    pub fn list(&self, abs: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.path(abs))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}
