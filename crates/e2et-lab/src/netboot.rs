//! Builds the lab's netboot artifacts: a Debian kernel (unpacked from its .deb)
//! and an initramfs with busybox-static, the e2et probe with the shared
//! libraries it needs, and the NIC/disk modules in dependency order.
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const INIT: &str = include_str!("guest/init");
const UDHCPC: &str = include_str!("guest/udhcpc.script");
const POWEROFF: &str = include_str!("guest/e2et-poweroff");
const POWER_BUTTON: &str = include_str!("guest/acpi-power-button");

/// Modules the guest loads, roots of the dependency walk. crc32c goes first:
/// ext4 needs it but names it only as a soft dependency.
pub const WANTED: &[&str] = &[
    "crc32c_generic",
    "virtio_pci",
    "virtio_net",
    "virtio_blk",
    "ext4",
    // The ACPI power button as an input device, for busybox acpid.
    "evdev",
    "button",
    // nftables: the ssh-blocked scenario drops port 22 on eth0.
    "nf_tables",
];

/// Debian executables the image carries, with their shared libraries:
/// dropbear (the SSH server on the management path) and its key tool, and
/// nft (the ssh-blocked scenario's firewall). Packages dropbear-bin and
/// nftables (scripts/lab-deps.sh).
const EXTRA_BINS: &[(&str, &str)] = &[
    ("/usr/sbin/dropbear", "bin/dropbear"),
    ("/usr/bin/dropbearkey", "bin/dropbearkey"),
    ("/usr/sbin/nft", "bin/nft"),
];

pub struct Artifacts {
    pub dir: PathBuf,
    pub kernel: String,
    pub initrd: String,
    /// IMAGE_VERSION in the image's os-release.
    pub image_version: String,
}

/// Parses modules.dep into name → (path, deps as names).
pub fn parse_modules_dep(text: &str) -> BTreeMap<String, (String, Vec<String>)> {
    let name = |p: &str| {
        Path::new(p)
            .file_name()
            .and_then(|f| f.to_str())
            .map(|f| f.split(".ko").next().unwrap_or(f).replace('-', "_"))
            .unwrap_or_default()
    };
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(m, deps)| {
            (
                name(m),
                (m.to_string(), deps.split_whitespace().map(name).collect()),
            )
        })
        .collect()
}

/// Load order: every module after its dependencies, each once.
pub fn load_order(
    dep: &BTreeMap<String, (String, Vec<String>)>,
    wanted: &[&str],
) -> Result<Vec<String>> {
    fn visit(
        m: &str,
        dep: &BTreeMap<String, (String, Vec<String>)>,
        seen: &mut HashSet<String>,
        out: &mut Vec<String>,
        stack: &mut Vec<String>,
    ) -> Result<()> {
        if seen.contains(m) {
            return Ok(());
        }
        if stack.iter().any(|s| s == m) {
            bail!("module dependency cycle through {m}");
        }
        let Some((_, deps)) = dep.get(m) else {
            bail!("module {m} is not in modules.dep (built in, or a wrong kernel?)");
        };
        stack.push(m.to_string());
        for d in deps {
            visit(d, dep, seen, out, stack)?;
        }
        stack.pop();
        seen.insert(m.to_string());
        out.push(m.to_string());
        Ok(())
    }
    let (mut seen, mut out, mut stack) = (HashSet::new(), Vec::new(), Vec::new());
    for w in wanted {
        visit(w, dep, &mut seen, &mut out, &mut stack)?;
    }
    Ok(out)
}

fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `dir`'s tree as a gzip-compressed newc cpio archive (what the kernel
/// unpacks as an initramfs) at `out`.
fn cpio_gz(dir: &Path, out: &Path) -> Result<()> {
    run(Command::new("sh").arg("-c").arg(format!(
        "cd '{}' && find . | cpio -o -H newc --quiet | gzip -1 > '{}'",
        dir.display(),
        out.display()
    )))
    .map(|_| ())
}

fn write_exec(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// Shared libraries a dynamic executable needs, from ldd.
fn needed_libs(exe: &Path) -> Result<Vec<PathBuf>> {
    let out = run(Command::new("ldd").arg(exe))?;
    let mut libs = Vec::new();
    for l in out.lines() {
        let l = l.trim();
        let path = match l.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => l.split_whitespace().next().filter(|p| p.starts_with('/')),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            libs.push(PathBuf::from(p));
        }
    }
    Ok(libs)
}

pub fn build(kernel_root: &Path, probe: &Path, busybox: &Path, out: &Path) -> Result<Artifacts> {
    let moddir = kernel_root.join("lib/modules");
    let kver = std::fs::read_dir(&moddir)
        .with_context(|| format!("{} (run scripts/lab-deps.sh)", moddir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
        .context("no kernel under .cache/kernel (run scripts/lab-deps.sh)")?;
    let kdir = moddir.join(&kver);
    let dep_text = std::fs::read_to_string(kdir.join("modules.dep")).with_context(|| {
        format!(
            "{}/modules.dep: run depmod (scripts/lab-deps.sh)",
            kdir.display()
        )
    })?;
    let dep = parse_modules_dep(&dep_text);
    let order = load_order(&dep, WANTED)?;

    let stage = out.join("initramfs-root");
    if stage.exists() {
        std::fs::remove_dir_all(&stage)?;
    }
    for d in [
        "bin",
        "etc",
        "proc",
        "sys",
        "dev",
        "run",
        "tmp",
        "persist",
        "lib/modules",
        "var/lib",
    ] {
        std::fs::create_dir_all(stage.join(d))?;
    }
    std::fs::copy(busybox, stage.join("bin/busybox"))
        .with_context(|| format!("copying {}", busybox.display()))?;
    let probe_dst = stage.join("bin/e2et-probe");
    run(Command::new("objcopy")
        .arg("--strip-all")
        .arg(probe)
        .arg(&probe_dst))?;
    let mut libs = needed_libs(probe)?;
    for (src, dst) in EXTRA_BINS {
        let src = Path::new(src);
        std::fs::copy(src, stage.join(dst)).with_context(|| {
            format!(
                "copying {} (scripts/lab-deps.sh installs it)",
                src.display()
            )
        })?;
        libs.extend(needed_libs(src)?);
    }
    libs.sort();
    libs.dedup();
    for lib in libs {
        let dst = stage.join(lib.strip_prefix("/").unwrap_or(&lib));
        if let Some(p) = dst.parent() {
            std::fs::create_dir_all(p)?;
        }
        std::fs::copy(&lib, &dst).with_context(|| format!("copying {}", lib.display()))?;
    }
    for m in &order {
        let (rel, _) = &dep[m];
        std::fs::copy(kdir.join(rel), stage.join(format!("lib/modules/{m}.ko")))
            .with_context(|| format!("copying module {rel}"))?;
    }
    std::fs::write(stage.join("etc/modules.order"), order.join("\n") + "\n")?;
    // Which build of the image this is (os-release IMAGE_ID/IMAGE_VERSION):
    // what a passing cold run promotes to the host's last-known-good.
    let image_version = {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(std::fs::read(&probe_dst)?);
        h.update(INIT.as_bytes());
        h.update(POWER_BUTTON.as_bytes());
        for (_, dst) in EXTRA_BINS {
            h.update(std::fs::read(stage.join(dst))?);
        }
        h.update(kver.as_bytes());
        hex::encode(&h.finalize()[..6])
    };
    std::fs::write(
        stage.join("etc/os-release"),
        os_release("e2et-lab-netboot", &image_version),
    )?;
    write_exec(&stage.join("init"), INIT)?;
    write_exec(&stage.join("etc/udhcpc.script"), UDHCPC)?;
    write_exec(&stage.join("bin/e2et-poweroff"), POWEROFF)?;
    std::fs::create_dir_all(stage.join("etc/acpi/PWRF"))?;
    write_exec(&stage.join("etc/acpi/PWRF/00000080"), POWER_BUTTON)?;
    run(Command::new("mknod")
        .arg(stage.join("dev/console"))
        .args(["c", "5", "1"]))?;

    let art = out.join("artifacts");
    std::fs::create_dir_all(&art)?;
    let vmlinuz = kernel_root.join(format!("boot/vmlinuz-{kver}"));
    std::fs::copy(&vmlinuz, art.join("vmlinuz"))
        .with_context(|| format!("copying {}", vmlinuz.display()))?;
    let initrd = art.join("initrd.gz");
    cpio_gz(&stage, &initrd)?;
    Ok(Artifacts {
        dir: art,
        kernel: "vmlinuz".into(),
        initrd: "initrd.gz".into(),
        image_version,
    })
}

fn os_release(image_id: &str, version: &str) -> String {
    format!(
        "ID=e2et-lab\nNAME=\"e2et lab guest\"\nPRETTY_NAME=\"e2et lab guest ({image_id})\"\nIMAGE_ID={image_id}\nIMAGE_VERSION={version}\n"
    )
}

/// A role's netboot image beside the default one (e2etd `--image
/// <name>=<dir>`): the same kernel, the default initramfs with a second
/// archive appended that gives it its own os-release (`IMAGE_ID=<name>`),
/// and its command line. Returns the image's directory
/// (`<out>/images/<name>`, holding `kernel`, `initrd`, `cmdline`).
pub fn role_image(art: &Artifacts, name: &str, out: &Path) -> Result<PathBuf> {
    let dir = out.join("images").join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let layer = dir.join("layer");
    std::fs::create_dir_all(layer.join("etc"))?;
    std::fs::write(
        layer.join("etc/os-release"),
        os_release(name, &art.image_version),
    )?;
    std::fs::copy(art.dir.join(&art.kernel), dir.join("kernel"))?;
    // The kernel unpacks concatenated (compressed) cpio archives in order:
    // the layer's os-release replaces the base image's.
    let base = std::fs::read(art.dir.join(&art.initrd))?;
    let extra = dir.join("layer.gz");
    cpio_gz(&layer, &extra)?;
    let mut initrd = base;
    initrd.extend(std::fs::read(&extra)?);
    std::fs::write(dir.join("initrd"), initrd)?;
    std::fs::write(
        dir.join("cmdline"),
        "console=ttyS0,115200 loglevel=4 panic=10\n",
    )?;
    std::fs::remove_dir_all(&layer)?;
    std::fs::remove_file(&extra)?;
    Ok(dir)
}

/// A host's "installed system" for quick runs: a FAT disk image that
/// SYSLINUX boots from the BIOS (the lab's stand-in for a disk install),
/// holding the lab kernel, the netboot initramfs and a second initramfs with
/// this host's enrolment key, the coordinator's URL and its own os-release.
/// Its init then runs the agent in enrolment mode.
pub fn installed_disk(
    art: &Artifacts,
    host: &str,
    coordinator: &str,
    key: &str,
    img: &Path,
) -> Result<()> {
    let work = img.with_extension("stage");
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    let etc = work.join("root/etc/e2et");
    std::fs::create_dir_all(&etc)?;
    std::fs::write(etc.join("enrol.key"), key)?;
    std::fs::write(
        etc.join("installed"),
        format!("host={host}\ncoordinator={coordinator}\n"),
    )?;
    std::fs::write(
        work.join("root/etc/os-release"),
        os_release("e2et-lab-installed", &art.image_version),
    )?;
    let host_cpio = work.join("host.gz");
    cpio_gz(&work.join("root"), &host_cpio)?;
    std::fs::write(
        work.join("syslinux.cfg"),
        format!(
            "DEFAULT installed\nPROMPT 0\nTIMEOUT 0\nSERIAL 0 115200\nLABEL installed\n  KERNEL {}\n  INITRD {},host.gz\n  APPEND console=ttyS0,115200 loglevel=4 panic=10\n",
            art.kernel, art.initrd
        ),
    )?;
    if img.exists() {
        std::fs::remove_file(img)?;
    }
    run(Command::new("mkfs.vfat")
        .args(["-n", "E2ETBOOT", "-C"])
        .arg(img)
        .arg("65536"))?;
    run(Command::new("syslinux").arg("--install").arg(img))?;
    run(Command::new("mcopy")
        .arg("-i")
        .arg(img)
        .arg(art.dir.join(&art.kernel))
        .arg(art.dir.join(&art.initrd))
        .arg(&host_cpio)
        .arg(work.join("syslinux.cfg"))
        .arg("::"))?;
    std::fs::remove_dir_all(&work)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deps_load_before_dependents() {
        let dep = parse_modules_dep(
            "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko\n\
             kernel/lib/crc16.ko:\nkernel/fs/mbcache.ko:\nkernel/fs/jbd2/jbd2.ko:\n\
             kernel/crypto/crc32c_generic.ko:\n\
             kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko\n\
             kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko\nkernel/net/core/failover.ko:\n",
        );
        let o = load_order(&dep, &["crc32c_generic", "virtio_net", "ext4"]).unwrap();
        let pos = |m: &str| o.iter().position(|x| x == m).unwrap();
        assert!(pos("failover") < pos("net_failover"));
        assert!(pos("net_failover") < pos("virtio_net"));
        assert!(pos("jbd2") < pos("ext4") && pos("crc16") < pos("ext4"));
        assert_eq!(pos("crc32c_generic"), 0);
        assert_eq!(o.len(), 8);
        assert!(load_order(&dep, &["nope"]).is_err());
    }
}
