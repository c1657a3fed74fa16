//! Inventory strings reach dnsmasq's configuration, file names and
//! operators' terminals: e2etd refuses the inventory that would carry a
//! newline, a control character or a path into any of them, naming where.
mod common;
use common::*;
use std::process::Command;

fn e2etd(dir: &std::path::Path, inv: &serde_json::Value, args: &[&str]) -> (bool, String) {
    std::fs::write(dir.join("inv.json"), inv.to_string()).unwrap();
    let o = Command::new(assert_cmd::cargo::cargo_bin("e2etd"))
        .arg("--inventory")
        .arg(dir.join("inv.json"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

#[test]
fn an_inventory_that_would_add_a_dnsmasq_line_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let dnsmasq = [
        "dnsmasq-config",
        "--interface",
        "br0",
        "--subnet",
        "127.0.0.0",
        "--netmask",
        "255.0.0.0",
        "--public-url",
        "http://127.0.0.1:8080",
    ];
    // The inventory as the tests use it is fine.
    let good = inventory(d.path(), false);
    let (ok, out) = e2etd(d.path(), &good, &dnsmasq);
    assert!(ok, "{out}");
    assert!(out.contains("dhcp-host="), "{out}");

    let mut bad = good.clone();
    bad["site"]["name"] = "t\ndhcp-option=3,10.6.6.6".into();
    let (ok, out) = e2etd(d.path(), &bad, &dnsmasq);
    assert!(!ok, "{out}");
    assert!(!out.contains("dhcp-option=3,10.6.6.6\n"), "{out}");
    assert!(out.contains("site.name") && out.contains("U+000A"), "{out}");

    let mut bad = good.clone();
    bad["pdus"]["../../etc/shadow"] = bad["pdus"]["q"].clone();
    let (ok, out) = e2etd(d.path(), &bad, &["check-config"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("../../etc/shadow") && out.contains("name"),
        "{out}"
    );

    let mut args = dnsmasq.to_vec();
    args[2] = "br0\nenable-tftp";
    let (ok, out) = e2etd(d.path(), &good, &args);
    assert!(!ok, "{out}");
    assert!(out.contains("--interface"), "{out}");
}
