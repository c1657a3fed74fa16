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
    #[error("inventory {path} is not pure data:\n{}", .problems.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Impure { path: String, problems: Vec<String> },
    #[error("inventory {path} is invalid:\n{}", .errors.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        path: String,
        errors: Vec<InventoryError>,
    },
}

/// Checks that Nix text is pure data: attribute sets, lists, strings without
/// interpolation, numbers, booleans and null. No functions, no imports or other
/// applications, no `let`/`with`/`rec`, no paths (which would copy files into
/// the store), no strings naming store paths. Problems name the line.
pub fn check_pure(text: &str) -> Result<(), Vec<String>> {
    use rnix::SyntaxKind::*;
    let parse = rnix::Root::parse(text);
    let line = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let mut problems: Vec<String> = parse
        .errors()
        .iter()
        .map(|e| format!("parse error: {e}"))
        .collect();
    for ev in parse.syntax().preorder_with_tokens() {
        let rnix::WalkEvent::Enter(el) = ev else {
            continue;
        };
        let at = line(usize::from(el.text_range().start()));
        let kind = el.kind();
        let what = match kind {
            NODE_ROOT | NODE_ATTR_SET | NODE_ATTRPATH_VALUE | NODE_ATTRPATH | NODE_LIST
            | NODE_LITERAL | NODE_STRING | NODE_PAREN | NODE_UNARY_OP => None,
            NODE_IDENT => {
                // An identifier is fine as an attribute name; as a value only
                // true, false and null are data.
                let name = el.to_string();
                let in_attrpath = el.parent().is_some_and(|p| p.kind() == NODE_ATTRPATH);
                (!in_attrpath && !matches!(name.as_str(), "true" | "false" | "null"))
                    .then(|| format!("a variable reference `{name}`"))
            }
            NODE_LAMBDA => Some("a function".into()),
            NODE_APPLY => Some("a function application (import, builtins, ...)".into()),
            NODE_LET_IN | NODE_LEGACY_LET => Some("a let binding".into()),
            NODE_WITH => Some("a `with` expression".into()),
            NODE_INTERPOL => Some("string interpolation".into()),
            NODE_PATH_ABS | NODE_PATH_HOME | NODE_PATH_REL | NODE_PATH_SEARCH => {
                Some(format!("a path `{el}` (it would be copied into the store)"))
            }
            TOKEN_REC => Some("a recursive attribute set".into()),
            TOKEN_STRING_CONTENT if el.to_string().contains("/nix/store/") => {
                Some("a string naming a store path".into())
            }
            k if format!("{k:?}").starts_with("NODE_") => Some(format!("{k:?}")),
            _ => None,
        };
        if let Some(w) = what {
            problems.push(format!("line {at}: {w}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Evaluates a `.nix` inventory to JSON text (after checking it is pure data),
/// or reads a JSON one.
pub fn inventory_json(path: &Path) -> Result<String, LoadError> {
    let p = path.display().to_string();
    if path.extension().and_then(|e| e.to_str()) == Some("nix") {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: p.clone(),
            source,
        })?;
        check_pure(&text).map_err(|problems| LoadError::Impure {
            path: p.clone(),
            problems,
        })?;
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

#[cfg(test)]
mod tests {
    use super::check_pure;

    #[test]
    fn plain_data_is_pure() {
        check_pure("{ a = 1; b = [ \"x\" (-2) true null ]; c.d = { e = 1.5; }; }").unwrap();
    }

    #[test]
    fn code_is_refused_with_the_line() {
        for (src, want) in [
            ("{ pkgs }:\n{ }", "a function"),
            (
                "{\n  hosts = import ./hosts.nix;\n}",
                "line 2: a function application",
            ),
            ("let x = 1; in { a = x; }", "a let binding"),
            ("{ a = ./secret; }", "a path `./secret`"),
            (
                "{ a = \"/nix/store/abc-pdu-pass\"; }",
                "a string naming a store path",
            ),
            (
                "{ a = \"${builtins.readFile /etc/x}\"; }",
                "string interpolation",
            ),
            ("rec { a = 1; b = a; }", "a recursive attribute set"),
            ("with builtins; { a = 1; }", "a `with` expression"),
            ("{ a = b; }", "a variable reference `b`"),
            ("{ a = ", "parse error"),
        ] {
            let e = check_pure(src).unwrap_err().join("; ");
            assert!(e.contains(want), "{src:?}: {e}");
        }
    }

    #[test]
    #[ignore = "host tier: reads hosts/inventory.nix, outside the package's source; scripts/test.sh runs it"]
    fn the_fleet_inventory_is_pure() {
        let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../../hosts/inventory.nix");
        check_pure(&std::fs::read_to_string(p).unwrap()).unwrap();
    }
}
