//! platform: CPU count, model, topology and flags; memory; disks; NVDIMM;
//! DMI; firmware; kernel modules; CPU vulnerabilities.
use super::{join_or, C};
use e2et_model::check::{Check, Gate, Outcome};
use e2et_model::expect::DiskExpect;
use e2et_model::facts::{BlockDevice, Facts};
use e2et_model::inventory::HostSpec;

const G: Gate = Gate::Platform;

fn gib(b: u64) -> f64 {
    b as f64 / (1u64 << 30) as f64
}

fn disk_matches(d: &BlockDevice, e: &DiskExpect) -> bool {
    e.min_size_gib.is_none_or(|m| d.size_bytes >= m << 30)
        && e.transport.as_deref().is_none_or(|t| d.transport == t)
        && e.rotational.is_none_or(|r| d.rotational == Some(r))
        && e.model.as_deref().is_none_or(|m| {
            d.model
                .as_deref()
                .is_some_and(|dm| dm.to_lowercase().contains(&m.to_lowercase()))
        })
}

fn describe_disk_expect(e: &DiskExpect) -> String {
    let mut p = vec![format!("{} disk(s)", e.count)];
    if let Some(m) = e.min_size_gib {
        p.push(format!(">= {m} GiB"));
    }
    if let Some(t) = &e.transport {
        p.push(t.clone());
    }
    if let Some(r) = e.rotational {
        p.push(if r { "rotational" } else { "solid-state" }.into());
    }
    if let Some(m) = &e.model {
        p.push(format!("model ~ {m:?}"));
    }
    p.join(", ")
}

pub fn checks(spec: &HostSpec, facts: &Facts, out: &mut Vec<Check>) {
    let p = &facts.platform;
    let e = &spec.expect.platform;
    if let Some(cpus) = spec.expect.cpus {
        out.push(
            C::new("platform.cpu.count", "logical CPU count as declared", G).compare(
                p.cpu_count == cpus,
                cpus.to_string(),
                p.cpu_count.to_string(),
                format!("/proc/cpuinfo: {} × {}", p.cpu_count, p.cpu_model),
            ),
        );
    }
    if let Some(min) = spec.expect.min_ram_mib {
        let have = p.mem_total_kib / 1024;
        out.push(
            C::new(
                "platform.memory.min",
                "memory at least the declared minimum",
                G,
            )
            .hard()
            .compare(
                have >= min,
                format!(">= {min} MiB"),
                format!("{have} MiB"),
                format!("/proc/meminfo MemTotal: {} kB", p.mem_total_kib),
            ),
        );
    }
    let vc = C::new(
        "platform.cpu.vulnerabilities",
        "no CPU vulnerability reported as Vulnerable",
        G,
    )
    .weight(5);
    let vc = if spec.expect.vulnerabilities_hard {
        vc.hard()
    } else {
        vc.optional()
    };
    if p.vulnerabilities.is_empty() {
        out.push(vc.finish(
            Outcome::NotRun {
                reason: "the kernel exposes no /sys/devices/system/cpu/vulnerabilities".into(),
            },
            Some("no Vulnerable entry".into()),
            Some("directory absent or empty".into()),
            "directory absent or empty",
        ));
    } else {
        let bad: Vec<String> = p
            .vulnerabilities
            .iter()
            .filter(|(_, v)| v.trim_start().starts_with("Vulnerable"))
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        out.push(vc.compare(
            bad.is_empty(),
            "no Vulnerable entry".into(),
            if bad.is_empty() {
                format!("{} entries, none Vulnerable", p.vulnerabilities.len())
            } else {
                bad.join("; ")
            },
            "/sys/devices/system/cpu/vulnerabilities/*".into(),
        ));
    }
    if let Some(m) = &e.cpu_model {
        out.push(
            C::new("platform.cpu.model", "CPU model as declared", G)
                .weight(5)
                .compare(
                    p.cpu_model.to_lowercase().contains(&m.to_lowercase()),
                    format!("contains {m:?}"),
                    p.cpu_model.clone(),
                    "/proc/cpuinfo model name".into(),
                ),
        );
    }
    if e.sockets.is_some() || e.cores.is_some() {
        let ok = e.sockets.is_none_or(|s| s == p.sockets) && e.cores.is_none_or(|c| c == p.cores);
        out.push(
            C::new("platform.cpu.topology", "sockets and cores as declared", G)
                .weight(5)
                .compare(
                    ok,
                    format!(
                        "{} socket(s), {} core(s)",
                        e.sockets.map_or("any".into(), |s| s.to_string()),
                        e.cores.map_or("any".into(), |c| c.to_string())
                    ),
                    format!(
                        "{} socket(s), {} core(s), {} thread(s) per core",
                        p.sockets, p.cores, p.threads_per_core
                    ),
                    "/proc/cpuinfo physical id / core id (sysfs topology otherwise)".into(),
                ),
        );
    }
    if !e.cpu_flags.is_empty() {
        let missing: Vec<String> = e
            .cpu_flags
            .iter()
            .filter(|f| !p.cpu_flags.contains(f))
            .cloned()
            .collect();
        out.push(
            C::new("platform.cpu.flags", "required CPU flags present", G)
                .weight(5)
                .compare(
                    missing.is_empty(),
                    e.cpu_flags.join(" "),
                    if missing.is_empty() {
                        "all present".into()
                    } else {
                        format!("missing: {}", missing.join(" "))
                    },
                    format!(
                        "/proc/cpuinfo flags ({}; microcode {})",
                        p.cpu_flags.len(),
                        p.microcode.as_deref().unwrap_or("unknown")
                    ),
                ),
        );
    }
    for (i, d) in e.disks.iter().enumerate() {
        let hits: Vec<String> = p
            .block_devices
            .iter()
            .filter(|b| disk_matches(b, d))
            .map(|b| {
                format!(
                    "{} {:.0} GiB {} {}",
                    b.name,
                    gib(b.size_bytes),
                    b.transport,
                    b.model.as_deref().unwrap_or("")
                )
            })
            .collect();
        let all: Vec<String> = p
            .block_devices
            .iter()
            .map(|b| format!("{} {:.0} GiB {}", b.name, gib(b.size_bytes), b.transport))
            .collect();
        out.push(
            C::new(format!("platform.disks[{i}]"), "declared disks present", G).compare(
                hits.len() as u32 >= d.count,
                describe_disk_expect(d),
                format!("{} matching: {}", hits.len(), join_or(&hits, "none")),
                format!("/sys/block: {}", join_or(&all, "no disks")),
            ),
        );
    }
    if let Some(n) = e.nvdimm_regions {
        out.push(
            C::new("platform.nvdimm", "NVDIMM regions as declared", G)
                .weight(5)
                .require(&p.nvdimm, format!("{n} region(s)"), |c, devs| {
                    let regions = devs.iter().filter(|d| d.name.starts_with("region")).count();
                    let names: Vec<String> = devs.iter().map(|d| d.name.clone()).collect();
                    c.compare(
                        regions as u32 == n,
                        format!("{n} region(s)"),
                        format!("{regions} region(s)"),
                        format!("/sys/bus/nd/devices: {}", join_or(&names, "empty")),
                    )
                }),
        );
    }
    let de = &e.dmi;
    if de.vendor.is_some() || de.product.is_some() || de.bios_version.is_some() {
        let want = format!(
            "vendor {}, product {}, BIOS {}",
            de.vendor.as_deref().unwrap_or("any"),
            de.product.as_deref().unwrap_or("any"),
            de.bios_version.as_deref().unwrap_or("any")
        );
        out.push(
            C::new(
                "platform.dmi",
                "system vendor, product and BIOS as declared",
                G,
            )
            .weight(5)
            .require(&p.dmi, want.clone(), |c, d| {
                let eq = |w: &Option<String>, g: &Option<String>| {
                    w.as_deref().is_none_or(|w| g.as_deref() == Some(w))
                };
                c.compare(
                    eq(&de.vendor, &d.sys_vendor)
                        && eq(&de.product, &d.product_name)
                        && eq(&de.bios_version, &d.bios_version),
                    want,
                    format!(
                        "vendor {}, product {}, BIOS {} ({})",
                        d.sys_vendor.as_deref().unwrap_or("?"),
                        d.product_name.as_deref().unwrap_or("?"),
                        d.bios_version.as_deref().unwrap_or("?"),
                        d.bios_date.as_deref().unwrap_or("?")
                    ),
                    "/sys/class/dmi/id".into(),
                )
            }),
        );
    }
    if let Some(m) = &e.boot_mode {
        out.push(
            C::new(
                "platform.firmware.boot_mode",
                "firmware boot mode as declared",
                G,
            )
            .weight(5)
            .compare(
                &p.firmware.boot_mode == m,
                m.clone(),
                p.firmware.boot_mode.clone(),
                "/sys/firmware/efi".into(),
            ),
        );
    }
    if let Some(sb) = e.secure_boot {
        out.push(
            C::new(
                "platform.firmware.secure_boot",
                "Secure Boot as declared",
                G,
            )
            .weight(5)
            .compare(
                p.firmware.secure_boot == Some(sb),
                if sb { "enabled" } else { "disabled" }.into(),
                match p.firmware.secure_boot {
                    Some(true) => "enabled".into(),
                    Some(false) => "disabled".into(),
                    None => format!("unknown (boot mode {})", p.firmware.boot_mode),
                },
                "efivars SecureBoot-8be4df61-...".into(),
            ),
        );
    }
    if !e.modules.is_empty() {
        let missing: Vec<String> = e
            .modules
            .iter()
            .filter(|m| !p.modules.contains(m))
            .cloned()
            .collect();
        out.push(
            C::new("platform.modules", "required kernel modules loaded", G)
                .weight(5)
                .compare(
                    missing.is_empty(),
                    e.modules.join(" "),
                    if missing.is_empty() {
                        "all loaded".into()
                    } else {
                        format!("not loaded: {}", missing.join(" "))
                    },
                    format!("/proc/modules ({} loaded)", p.modules.len()),
                ),
        );
    }
}
