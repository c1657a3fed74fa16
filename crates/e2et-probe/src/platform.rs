//! platform: CPU (model, topology, flags, microcode), memory, disks, NVDIMM,
//! DMI, firmware, kernel modules and CPU vulnerability mitigations.
use crate::root::Root;
use e2et_model::facts::*;
use e2et_model::Observed;
use std::collections::{BTreeMap, BTreeSet};

fn need(root: &Root, p: &str) -> Result<String, String> {
    root.read(p).map_err(|e| format!("cannot read {p}: {e}"))
}

/// What /proc/cpuinfo says.
#[derive(Debug, Default, PartialEq)]
pub struct CpuInfo {
    pub model: String,
    pub vendor: String,
    pub logical: u32,
    pub sockets: u32,
    pub cores: u32,
    pub flags: Vec<String>,
    pub microcode: Option<String>,
    /// Whether the topology came from cpuinfo (x86 prints physical/core ids).
    pub has_topology: bool,
}

pub fn parse_cpuinfo(s: &str) -> CpuInfo {
    let mut c = CpuInfo::default();
    let mut sockets = BTreeSet::new();
    let mut cores = BTreeSet::new();
    let mut phys = String::new();
    for line in s.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k.trim() {
            "processor" => {
                c.logical += 1;
                phys.clear();
            }
            "model name" | "Model" | "cpu model" if c.model.is_empty() => c.model = v.to_string(),
            "vendor_id" | "CPU implementer" if c.vendor.is_empty() => c.vendor = v.to_string(),
            "flags" | "Features" if c.flags.is_empty() => {
                c.flags = v.split_whitespace().map(str::to_string).collect();
            }
            "microcode" if c.microcode.is_none() => c.microcode = Some(v.to_string()),
            "physical id" => {
                c.has_topology = true;
                phys = v.to_string();
                sockets.insert(v.to_string());
            }
            "core id" => {
                cores.insert((phys.clone(), v.to_string()));
            }
            _ => {}
        }
    }
    c.sockets = sockets.len() as u32;
    c.cores = cores.len() as u32;
    c.flags.sort();
    c
}

pub fn parse_meminfo_total(s: &str) -> Option<u64> {
    s.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

pub fn parse_modules(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// The bus a disk hangs off, from its sysfs device path.
pub fn transport_of(name: &str, sys_path: &str) -> String {
    let t = if name.starts_with("dm-") {
        "dm"
    } else if name.starts_with("md") {
        "md"
    } else if sys_path.contains("/nvme") {
        "nvme"
    } else if sys_path.contains("/usb") {
        "usb"
    } else if sys_path.contains("/virtio") {
        "virtio"
    } else if sys_path.contains("/ata") {
        "sata"
    } else if sys_path.contains("/end_device-") || sys_path.contains("/sas_") {
        "sas"
    } else if sys_path.contains("/mmc") {
        "mmc"
    } else if sys_path.contains("/host") || sys_path.contains("/target") {
        "scsi"
    } else {
        "unknown"
    };
    t.into()
}

/// Unit serial number page (0x80): 4 header bytes, then the serial.
pub fn parse_vpd_pg80(b: &[u8]) -> Option<String> {
    if b.len() < 4 || b[1] != 0x80 {
        return None;
    }
    let len = usize::from(b[3]);
    let s = String::from_utf8_lossy(b.get(4..4 + len.min(b.len().saturating_sub(4)))?)
        .trim()
        .trim_matches('\0')
        .to_string();
    (!s.is_empty()).then_some(s)
}

/// Devices that hold no data of their own: loop, RAM disks, zram swap.
fn skip_block(name: &str) -> bool {
    name.starts_with("loop") || name.starts_with("ram") || name.starts_with("zram")
}

pub fn block_devices(root: &Root) -> Vec<BlockDevice> {
    let mut out = Vec::new();
    for name in root.list("/sys/block") {
        if skip_block(&name) {
            continue;
        }
        let base = format!("/sys/block/{name}");
        let sectors: u64 = root
            .line(&format!("{base}/size"))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let sys_path = root.readlink(&base).unwrap_or_default();
        let serial = root
            .line(&format!("{base}/device/serial"))
            .or_else(|| root.line(&format!("{base}/serial")))
            .or_else(|| {
                root.read_bytes(&format!("{base}/device/vpd_pg80"))
                    .ok()
                    .and_then(|b| parse_vpd_pg80(&b))
            });
        out.push(BlockDevice {
            size_bytes: sectors * 512,
            rotational: root
                .line(&format!("{base}/queue/rotational"))
                .map(|s| s == "1"),
            model: root.line(&format!("{base}/device/model")),
            serial,
            transport: transport_of(&name, &sys_path),
            removable: root.line(&format!("{base}/removable")).as_deref() == Some("1"),
            name,
        });
    }
    out
}

fn nvdimm(root: &Root) -> Observed<Vec<NvdimmDevice>> {
    if !root.is_dir("/sys/bus/nd") {
        return Observed::na("no /sys/bus/nd: the kernel has no NVDIMM (libnvdimm) support loaded");
    }
    let mut v = Vec::new();
    for name in root.list("/sys/bus/nd/devices") {
        if !(name.starts_with("region")
            || name.starts_with("namespace")
            || name.starts_with("nmem"))
        {
            continue;
        }
        let base = format!("/sys/bus/nd/devices/{name}");
        v.push(NvdimmDevice {
            size_bytes: root
                .line(&format!("{base}/size"))
                .and_then(|s| s.parse().ok()),
            mode: name
                .starts_with("namespace")
                .then(|| root.line(&format!("{base}/mode")))
                .flatten(),
            name,
        });
    }
    Observed::ok(v)
}

fn dmi(root: &Root) -> Observed<Dmi> {
    let base = "/sys/class/dmi/id";
    if !root.is_dir(base) {
        return Observed::na(
            "no /sys/class/dmi/id: the firmware publishes no SMBIOS tables (a VM without SMBIOS, or not a PC)",
        );
    }
    let f = |n: &str| root.line(&format!("{base}/{n}"));
    Observed::ok(Dmi {
        sys_vendor: f("sys_vendor"),
        product_name: f("product_name"),
        product_serial: f("product_serial"),
        board_vendor: f("board_vendor"),
        board_name: f("board_name"),
        bios_vendor: f("bios_vendor"),
        bios_version: f("bios_version"),
        bios_date: f("bios_date"),
    })
}

const SECURE_BOOT_VAR: &str =
    "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c";

fn firmware(root: &Root) -> Firmware {
    if root.is_dir("/sys/firmware/efi") {
        // efivarfs: 4 bytes of attributes, then the value.
        let secure_boot = root
            .read_bytes(SECURE_BOOT_VAR)
            .ok()
            .and_then(|b| b.get(4).copied())
            .map(|v| v == 1);
        Firmware {
            boot_mode: "uefi".into(),
            secure_boot,
        }
    } else {
        Firmware {
            boot_mode: "bios".into(),
            secure_boot: None,
        }
    }
}

/// Topology from sysfs where cpuinfo has none (non-x86).
fn sysfs_topology(root: &Root) -> (u32, u32) {
    let mut sockets = BTreeSet::new();
    let mut cores = BTreeSet::new();
    for cpu in root.list("/sys/devices/system/cpu") {
        if !cpu.starts_with("cpu")
            || !cpu[3..].chars().all(|c| c.is_ascii_digit())
            || cpu.len() == 3
        {
            continue;
        }
        let t = format!("/sys/devices/system/cpu/{cpu}/topology");
        let (Some(pkg), Some(core)) = (
            root.line(&format!("{t}/physical_package_id")),
            root.line(&format!("{t}/core_id")),
        ) else {
            continue;
        };
        sockets.insert(pkg.clone());
        cores.insert((pkg, core));
    }
    (sockets.len() as u32, cores.len() as u32)
}

pub fn collect(root: &Root) -> Result<PlatformFacts, String> {
    let ci = parse_cpuinfo(&need(root, "/proc/cpuinfo")?);
    if ci.logical == 0 {
        return Err("/proc/cpuinfo lists no processor".into());
    }
    let (sockets, cores) = if ci.has_topology {
        (ci.sockets, ci.cores)
    } else {
        sysfs_topology(root)
    };
    let mem_total_kib =
        parse_meminfo_total(&need(root, "/proc/meminfo")?).ok_or("no MemTotal in /proc/meminfo")?;
    let kernel_release = root.line("/proc/sys/kernel/osrelease").unwrap_or_default();
    let modules = root
        .read("/proc/modules")
        .map(|s| parse_modules(&s))
        .unwrap_or_default();
    let mut vulnerabilities = BTreeMap::new();
    for name in root.list("/sys/devices/system/cpu/vulnerabilities") {
        if let Some(v) = root.line(&format!("/sys/devices/system/cpu/vulnerabilities/{name}")) {
            vulnerabilities.insert(name, v);
        }
    }
    Ok(PlatformFacts {
        threads_per_core: if cores > 0 {
            ci.logical / cores.max(1)
        } else {
            0
        },
        cpu_model: ci.model,
        cpu_vendor: ci.vendor,
        cpu_count: ci.logical,
        sockets,
        cores,
        cpu_flags: ci.flags,
        microcode: ci.microcode,
        mem_total_kib,
        kernel_release,
        block_devices: block_devices(root),
        nvdimm: nvdimm(root),
        dmi: dmi(root),
        firmware: firmware(root),
        modules,
        vulnerabilities,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuinfo_topology_two_sockets_smt() {
        let mut s = String::new();
        let mut n = 0;
        for sock in 0..2 {
            for core in 0..2 {
                for _thread in 0..2 {
                    s.push_str(&format!(
                        "processor\t: {n}\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6230\nmicrocode\t: 0x5003604\nphysical id\t: {sock}\ncore id\t\t: {core}\nflags\t\t: fpu vmx avx2 aes\n\n"
                    ));
                    n += 1;
                }
            }
        }
        let c = parse_cpuinfo(&s);
        assert_eq!((c.logical, c.sockets, c.cores), (8, 2, 4));
        assert_eq!(c.flags, vec!["aes", "avx2", "fpu", "vmx"]);
        assert_eq!(c.microcode.as_deref(), Some("0x5003604"));
        assert!(c.has_topology);
    }

    #[test]
    fn cpuinfo_without_topology() {
        let c = parse_cpuinfo("processor\t: 0\nmodel name\t: QEMU Virtual CPU version 2.5+\n\nprocessor\t: 1\nmodel name\t: QEMU Virtual CPU version 2.5+\n");
        assert_eq!(
            (c.logical, c.sockets, c.cores, c.has_topology),
            (2, 0, 0, false)
        );
        assert_eq!(c.model, "QEMU Virtual CPU version 2.5+");
    }

    #[test]
    fn transports_from_sysfs_paths() {
        assert_eq!(
            transport_of(
                "nvme0n1",
                "../devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0/nvme0n1"
            ),
            "nvme"
        );
        assert_eq!(
            transport_of(
                "vda",
                "../devices/pci0000:00/0000:00:04.0/virtio1/block/vda"
            ),
            "virtio"
        );
        assert_eq!(
            transport_of(
                "sda",
                "../devices/pci0000:00/0000:00:17.0/ata3/host2/target2:0:0/2:0:0:0/block/sda"
            ),
            "sata"
        );
        assert_eq!(transport_of("sdb", "../devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0/block/sdb"), "usb");
        assert_eq!(transport_of("sdc", "../devices/pci0000:80/0000:80:01.0/0000:81:00.0/host0/port-0:0/end_device-0:0/target0:0:0/0:0:0:0/block/sdc"), "sas");
        assert_eq!(transport_of("dm-0", "../devices/virtual/block/dm-0"), "dm");
    }

    #[test]
    fn vpd_serial() {
        let mut b = vec![0u8, 0x80, 0, 8];
        b.extend_from_slice(b"  S3Z9NB0K  ");
        assert_eq!(parse_vpd_pg80(&b[..12]).as_deref(), Some("S3Z9NB"));
        assert_eq!(parse_vpd_pg80(&[0, 0x83, 0, 0]), None);
    }

    #[test]
    fn meminfo_total() {
        assert_eq!(
            parse_meminfo_total("MemTotal:        8000000 kB\nMemFree: 1 kB\n"),
            Some(8_000_000)
        );
        assert_eq!(parse_meminfo_total("MemFree: 1 kB\n"), None);
    }
}
