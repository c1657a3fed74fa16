//! The Nix side, checked without a Nix store: every .nix file parses (rnix),
//! flake.nix has the outputs users rely on, and hosts/inventory.nix evaluates
//! (nix-instantiate, Debian's nix-bin) to what the coordinator loads.
use rnix::SyntaxKind::*;
use rnix::{SyntaxNode, WalkEvent};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn nix_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        // Symlinks are not followed: the probe's fixtures hold host trees
        // whose links point at paths of the host they came from.
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && !name.starts_with('.') && name != "target" && name != "lab-out" {
            nix_files(&p, out);
        } else if name.ends_with(".nix") {
            out.push(p);
        }
    }
}

#[test]
fn every_nix_file_parses() {
    let mut files = Vec::new();
    nix_files(&repo(), &mut files);
    assert!(files.len() >= 12, "found only {files:?}");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let parse = rnix::Root::parse(&text);
        assert!(
            parse.errors().is_empty(),
            "{}: {:?}",
            f.display(),
            parse.errors()
        );
    }
}

/// Attribute names bound anywhere under `node` (each path segment).
fn names_under(node: &SyntaxNode) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for ev in node.preorder() {
        if let WalkEvent::Enter(n) = ev {
            if n.kind() == NODE_ATTRPATH {
                for seg in n.children() {
                    out.insert(seg.to_string().trim_matches('"').to_string());
                }
            }
        }
    }
    out
}

/// The value node of `name = ...;` among the direct bindings of an attr set.
fn binding(set: &SyntaxNode, name: &str) -> Option<SyntaxNode> {
    set.children()
        .filter(|c| c.kind() == NODE_ATTRPATH_VALUE)
        .find(|c| c.children().next().is_some_and(|p| p.to_string() == name))
        .and_then(|c| c.children().nth(1))
}

#[test]
fn flake_has_the_outputs_users_rely_on() {
    let text = std::fs::read_to_string(repo().join("flake.nix")).unwrap();
    let root = rnix::Root::parse(&text).syntax();
    let top = root.children().next().expect("an attribute set");
    assert_eq!(top.kind(), NODE_ATTR_SET);
    let inputs = names_under(
        &binding(&top, "inputs")
            .or_else(|| {
                top.children().find(|c| {
                    c.kind() == NODE_ATTRPATH_VALUE && c.to_string().starts_with("inputs")
                })
            })
            .expect("inputs"),
    );
    assert!(inputs.contains("nixpkgs"), "{inputs:?}");
    let outputs = binding(&top, "outputs").expect("outputs");
    assert_eq!(outputs.kind(), NODE_LAMBDA);
    // outputs = { self, nixpkgs }: let ... in { <outputs> }
    let body = outputs.children().last().unwrap();
    let set = if body.kind() == NODE_LET_IN {
        body.children().last().unwrap()
    } else {
        body
    };
    assert_eq!(set.kind(), NODE_ATTR_SET);
    for o in [
        "packages",
        "nixosModules",
        "nixosConfigurations",
        "checks",
        "devShells",
        "formatter",
    ] {
        assert!(binding(&set, o).is_some(), "flake output {o} missing");
    }
    let want = [
        ("packages", &["e2et", "netboot", "default"][..]),
        (
            "nixosModules",
            &[
                "coordinator",
                "agent",
                "identity",
                "netboot-server",
                "default",
            ][..],
        ),
        ("nixosConfigurations", &["coordinator", "netboot"][..]),
        ("devShells", &["default"][..]),
    ];
    for (output, names) in want {
        let got = names_under(&binding(&set, output).unwrap());
        for n in names {
            assert!(got.contains(*n), "{output}.{n} missing (has {got:?})");
        }
    }
    // checks are generated from packages, hosts and vmtests/, not hand-listed.
    let checks = binding(&set, "checks").unwrap().to_string();
    for src in ["self.packages", "self.nixosConfigurations", "vmtestNames"] {
        assert!(checks.contains(src), "checks do not derive from {src}");
    }
    // nixpkgs is the only input; the lock pins it.
    let lock: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("flake.lock")).unwrap()).unwrap();
    assert_eq!(
        lock["nodes"]["root"]["inputs"].as_object().unwrap().len(),
        1
    );
    assert_eq!(
        lock["nodes"]["nixpkgs"]["locked"]["rev"],
        "8fd9daa3db09ced9700431c5b7ad0e8ba199b575"
    );
}

#[test]
fn every_vmtest_names_its_lab_twin() {
    for e in std::fs::read_dir(repo().join("vmtests")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "common.nix" {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap();
        assert!(text.contains("Lab twin:"), "{name} names no lab twin");
        assert!(
            text.contains("runNixOSTest") && text.contains("subtest("),
            "{name}"
        );
    }
}

#[test]
fn inventory_evaluates_to_what_the_coordinator_loads() {
    let path = repo().join("hosts/inventory.nix");
    let inv = e2et_inventory::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(inv.hosts.contains_key("vm1") && inv.hosts.contains_key("k10"));
    assert_eq!(
        inv.pdus["lab-apc"]
            .snmp
            .as_ref()
            .unwrap()
            .priv_protocol
            .as_deref(),
        Some("AES")
    );
    // An impure inventory is refused before evaluation.
    let d = tempfile::tempdir().unwrap();
    let bad = d.path().join("inventory.nix");
    std::fs::write(
        &bad,
        "let pw = builtins.readFile /etc/pdu-pass; in { version = 1; }",
    )
    .unwrap();
    let e = e2et_inventory::load(&bad).unwrap_err().to_string();
    assert!(
        e.contains("not pure data") && e.contains("a let binding"),
        "{e}"
    );
}
