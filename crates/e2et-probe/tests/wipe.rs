//! The wipe probe against util-linux's wipefs on images the real tools made
//! (mkfs.ext4, mkfs.xfs, mkfs.btrfs, mkfs.vfat, mkswap, sfdisk, cryptsetup,
//! pvcreate): both must find the same kinds of signature. The tools come
//! from scripts/lab-deps.sh; a missing one fails the test, it never skips.
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (install it: scripts/lab-deps.sh)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A sparse image file (XFS wants at least 300 MB; sparse, it costs nothing).
fn image(dir: &Path, name: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(320 << 20).unwrap();
    p
}

/// wipefs's types, with the protective MBR counted as part of the GPT.
fn wipefs(p: &Path) -> BTreeSet<String> {
    let out = Command::new("wipefs")
        .args(["--no-act", "--json"])
        .arg(p)
        .output()
        .expect("wipefs (util-linux)");
    assert!(
        out.status.success(),
        "wipefs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if out.stdout.is_empty() {
        return BTreeSet::new();
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["signatures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["type"].as_str())
        .map(|t| {
            if t == "PMBR" {
                "gpt".to_string()
            } else {
                t.to_string()
            }
        })
        .collect()
}

fn ours(p: &Path) -> BTreeSet<String> {
    e2et_probe::wipe::probe(p)
        .unwrap()
        .into_iter()
        .map(|s| s.kind)
        .collect()
}

#[test]
#[ignore = "host tier: mkfs.*, sfdisk, cryptsetup, wipefs, and root for losetup/pvcreate; scripts/test.sh runs it"]
fn same_signatures_as_wipefs_on_real_images() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let mut cases: Vec<(&str, std::path::PathBuf)> = Vec::new();

    cases.push(("blank", image(dir, "blank.img")));
    let p = image(dir, "ext4.img");
    run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&p));
    cases.push(("ext4", p));
    let p = image(dir, "xfs.img");
    run(Command::new("mkfs.xfs").args(["-q", "-f"]).arg(&p));
    cases.push(("xfs", p));
    let p = image(dir, "btrfs.img");
    run(Command::new("mkfs.btrfs").args(["-q", "-f"]).arg(&p));
    cases.push(("btrfs", p));
    let p = image(dir, "vfat.img");
    run(Command::new("mkfs.vfat").arg(&p));
    cases.push(("vfat", p));
    let p = image(dir, "swap.img");
    run(Command::new("mkswap").arg(&p));
    cases.push(("swap", p));
    for label in ["gpt", "dos"] {
        let p = image(dir, &format!("{label}.img"));
        let mut c = Command::new("sfdisk");
        c.arg("--quiet").arg(&p).stdin(std::process::Stdio::piped());
        let mut child = c.spawn().expect("sfdisk (fdisk package)");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("label: {label}\n,32M\n").as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "sfdisk {label}");
        cases.push((label, p));
    }
    let p = image(dir, "luks.img");
    let key = dir.join("key");
    std::fs::write(&key, "lab-only").unwrap();
    run(Command::new("cryptsetup")
        .args([
            "luksFormat",
            "--batch-mode",
            "--type",
            "luks2",
            "--pbkdf",
            "pbkdf2",
        ])
        .args(["--pbkdf-force-iterations", "1000", "--key-file"])
        .arg(&key)
        .arg(&p));
    cases.push(("crypto_LUKS", p));
    // LVM wants a block device: a loop device over the image.
    let p = image(dir, "lvm.img");
    let out = Command::new("losetup")
        .args(["--find", "--show"])
        .arg(&p)
        .output()
        .expect("losetup");
    assert!(
        out.status.success(),
        "losetup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let loopdev = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let pv = Command::new("pvcreate")
        .args(["-ff", "-y", "--config"])
        .arg("devices { obtain_device_list_from_udev = 0 } activation { udev_sync = 0 udev_rules = 0 }")
        .arg(&loopdev)
        .output();
    let _ = Command::new("losetup").args(["-d", &loopdev]).status();
    let pv = pv.expect("pvcreate (lvm2)");
    assert!(
        pv.status.success(),
        "pvcreate: {}",
        String::from_utf8_lossy(&pv.stderr)
    );
    cases.push(("LVM2_member", p));

    for (want, p) in &cases {
        let theirs = wipefs(p);
        let mine = ours(p);
        assert_eq!(
            mine, theirs,
            "{want}: e2et-probe {mine:?}, wipefs {theirs:?}"
        );
        if *want == "blank" {
            assert!(mine.is_empty());
        } else {
            assert!(mine.contains(*want), "{want}: {mine:?}");
        }
    }

    // The CLI: exit 1 when anything carries data, 0 when all are blank.
    let bin = env!("CARGO_BIN_EXE_e2et-probe");
    let blank = Command::new(bin)
        .arg("wipe-check")
        .arg(&cases[0].1)
        .output()
        .unwrap();
    assert_eq!(blank.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&blank.stdout).contains("blank"));
    let data = Command::new(bin)
        .args(["wipe-check", "--json"])
        .arg(&cases[0].1)
        .arg(&cases[1].1)
        .output()
        .unwrap();
    assert_eq!(data.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&data.stdout).unwrap();
    assert_eq!(v[1]["signatures"][0]["kind"], "ext4");
}
