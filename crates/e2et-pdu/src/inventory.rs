//! Loading the inventory: JSON directly, or a `.nix` file evaluated with
//! `nix-instantiate --eval --strict --json` (pure data, no store needed).
use e2et_model::inventory::{Inventory, InventoryError};
use std::path::Path;
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read inventory {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot run nix-instantiate for {path}: {source} (install nix, Debian's nix-bin)")]
    NixMissing {
        path: String,
        source: std::io::Error,
    },
    #[error("nix-instantiate could not evaluate {path}:\n{stderr}")]
    Eval { path: String, stderr: String },
    #[error("inventory {path} is invalid:\n{}", .errors.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        path: String,
        errors: Vec<InventoryError>,
    },
}

/// Evaluates a `.nix` inventory to JSON text, or reads a JSON one.
pub fn inventory_json(path: &Path) -> Result<String, LoadError> {
    let p = path.display().to_string();
    if path.extension().and_then(|e| e.to_str()) == Some("nix") {
        let out = Command::new("nix-instantiate")
            .args(["--eval", "--strict", "--json"])
            .arg(path)
            .output()
            .map_err(|source| LoadError::NixMissing {
                path: p.clone(),
                source,
            })?;
        if !out.status.success() {
            return Err(LoadError::Eval {
                path: p,
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        std::fs::read_to_string(path).map_err(|source| LoadError::Read { path: p, source })
    }
}

pub fn load(path: &Path) -> Result<Inventory, LoadError> {
    let text = inventory_json(path)?;
    Inventory::from_json(&text).map_err(|errors| LoadError::Invalid {
        path: path.display().to_string(),
        errors,
    })
}
