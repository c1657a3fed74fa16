//! first_boot: boot id, names, kernel arguments, serial console, SSH on the
//! management path, time, logging, init system, package profile and drift.
use super::{join_or, C};
use e2et_model::check::{Check, Gate};
use e2et_model::facts::{Facts, PackageProfile};
use e2et_model::inventory::HostSpec;

const G: Gate = Gate::FirstBoot;

fn short(fqdn: &str) -> &str {
    fqdn.split('.').next().unwrap_or(fqdn)
}

fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// The serial device the spec expects: `firstBoot.serialConsole`, else the
/// host's `console = "serial:<dev>@..."`.
fn serial_device(spec: &HostSpec) -> Option<String> {
    spec.expect.first_boot.serial_console.clone().or_else(|| {
        spec.console
            .strip_prefix("serial:")
            .map(|r| r.split(['@', ' ', ',']).next().unwrap_or(r).to_string())
            .filter(|d| !d.is_empty())
    })
}

/// Drift on the host: on NixOS, the running system differs from the booted
/// one or from the one the inventory expects. Drift makes a passing run
/// transient, never passed.
pub fn drift(spec: &HostSpec, facts: &Facts) -> Vec<String> {
    let mut d = Vec::new();
    let Some(p) = facts.first_boot.package_profile.value() else {
        return d;
    };
    if p.kind != "nixos" {
        return d;
    }
    if let (Some(b), Some(c)) = (&p.booted_system, &p.current_system) {
        if b != c {
            d.push(format!(
                "/run/current-system ({c}) differs from /run/booted-system ({b}): a change was activated live"
            ));
        }
    }
    if let (Some(want), Some(c)) = (&spec.expect.first_boot.system, &p.current_system) {
        if want != c {
            d.push(format!("the host runs {c}, the inventory expects {want}"));
        }
    }
    d
}

/// The configuration a boot runs, as one string: what a passing cold run
/// promotes to the host's last-known-good. NixOS: the system store path (and
/// the flake revision when the system records it); an image-based system:
/// os-release's IMAGE_ID and IMAGE_VERSION (or BUILD_ID); dpkg and Gentoo:
/// the sha256 of the installed package set. `None` when the host shows none
/// of these: then nothing can be promoted.
pub fn configuration_revision(facts: &Facts) -> Option<String> {
    let fb = &facts.first_boot;
    if let Some(p) = fb.package_profile.value() {
        if p.kind == "nixos" {
            if let Some(sys) = p.current_system.as_ref().or(p.booted_system.as_ref()) {
                return Some(match &p.configuration_revision {
                    Some(r) => format!("nixos {sys} rev {r}"),
                    None => format!("nixos {sys}"),
                });
            }
        }
    }
    if let Some(o) = fb.os.value() {
        let version = o.image_version.as_ref().or(o.build_id.as_ref());
        match (&o.image_id, version) {
            (Some(id), Some(v)) => return Some(format!("image {id} {v}")),
            (None, Some(v)) if o.build_id.is_some() => return Some(format!("{} build {v}", o.id)),
            _ => {}
        }
    }
    let p = fb.package_profile.value()?;
    p.set_sha256
        .as_ref()
        .map(|h| format!("{} packages sha256:{h}", p.kind))
}

fn profile_text(p: &PackageProfile) -> String {
    match p.kind.as_str() {
        "nixos" => format!(
            "NixOS current {} booted {} revision {}",
            p.current_system.as_deref().unwrap_or("?"),
            p.booted_system.as_deref().unwrap_or("?"),
            p.configuration_revision.as_deref().unwrap_or("unknown")
        ),
        k => format!(
            "{k}: {} packages, set sha256 {}",
            p.packages,
            p.set_sha256.as_deref().unwrap_or("?")
        ),
    }
}

pub fn checks(spec: &HostSpec, facts: &Facts, out: &mut Vec<Check>) {
    let fb = &facts.first_boot;
    let e = &spec.expect.first_boot;
    out.push(
        C::new("first_boot.boot_id", "kernel reports a boot id", G)
            .hard()
            .compare(
                fb.boot_id.len() >= 32,
                "a 128-bit boot id".into(),
                if fb.boot_id.is_empty() {
                    "none".into()
                } else {
                    fb.boot_id.clone()
                },
                "/proc/sys/kernel/random/boot_id".into(),
            ),
    );
    let s = short(&spec.fqdn);
    out.push(
        C::new("first_boot.hostname", "hostname matches the inventory", G)
            .weight(5)
            .compare(
                same_name(&fb.hostname, &spec.fqdn) || same_name(&fb.hostname, s),
                format!("{s} or {}", spec.fqdn),
                fb.hostname.clone(),
                "/proc/sys/kernel/hostname".into(),
            ),
    );
    out.push(
        C::new(
            "first_boot.fqdn",
            "the resolver's canonical name is the inventory FQDN",
            G,
        )
        .weight(5)
        .over(&fb.fqdn, spec.fqdn.clone(), |c, got| {
            c.compare(
                same_name(got, &spec.fqdn),
                spec.fqdn.clone(),
                got.clone(),
                format!("getaddrinfo({}, AI_CANONNAME)", fb.hostname),
            )
        }),
    );
    // A role's image: the system that booted says it is that image.
    if let Some(want) = spec.expect.image.as_deref() {
        out.push(
            C::new(
                "first_boot.image",
                "the booted image is the host's role image",
                G,
            )
            .hard()
            .over(&fb.os, want.to_string(), |c, o| {
                let got = o.image_id.as_deref().unwrap_or("none");
                c.compare(
                    got == want,
                    format!("IMAGE_ID={want}"),
                    match &o.image_version {
                        Some(v) => format!("IMAGE_ID={got} IMAGE_VERSION={v}"),
                        None => format!("IMAGE_ID={got}"),
                    },
                    "/etc/os-release".into(),
                )
            }),
        );
    }
    let args = C::new("first_boot.cmdline", "required kernel arguments present", G).weight(5);
    if e.cmdline.is_empty() {
        out.push(args.na("the spec requires no kernel arguments", "no requirement"));
    } else {
        let words: Vec<&str> = fb.cmdline.split_whitespace().collect();
        let missing: Vec<String> = e
            .cmdline
            .iter()
            .filter(|a| !words.contains(&a.as_str()))
            .cloned()
            .collect();
        out.push(args.compare(
            missing.is_empty(),
            e.cmdline.join(" "),
            if missing.is_empty() {
                "all present".into()
            } else {
                format!("missing: {}", missing.join(" "))
            },
            format!("/proc/cmdline: {}", fb.cmdline),
        ));
    }
    let serial = C::new(
        "first_boot.console.serial",
        "the serial console is active",
        G,
    )
    .weight(5);
    match serial_device(spec) {
        None => out.push(serial.na(
            format!(
                "the inventory declares no serial console (console = {:?})",
                spec.console
            ),
            "no requirement",
        )),
        Some(dev) => {
            let got: Vec<String> = fb
                .consoles
                .iter()
                .map(|c| format!("{} ({})", c.name, c.flags))
                .collect();
            out.push(serial.compare(
                fb.consoles.iter().any(|c| c.name == dev && c.enabled),
                format!("{dev} enabled in /proc/consoles"),
                join_or(&got, "no console"),
                "/proc/consoles".into(),
            ));
        }
    }

    // SSH on the management path (a hard fail when required).
    let listening = C::new(
        "first_boot.ssh.listening",
        "sshd listens on the management address",
        G,
    )
    .hard_if(e.ssh);
    let keys = C::new(
        "first_boot.ssh.host_keys",
        "SSH host keys present and private",
        G,
    )
    .weight(5);
    if !e.ssh {
        out.push(listening.off(spec, "SSH"));
        out.push(keys.off(spec, "SSH"));
    } else {
        let want = format!("{}:{} (or a wildcard address)", spec.ip, fb.ssh.port);
        out.push(listening.over(&fb.ssh.listeners, want.clone(), |c, ls| {
            let ok = ls
                .iter()
                .any(|l| l.address == spec.ip || l.address == "0.0.0.0" || l.address == "::");
            let seen: Vec<String> = ls
                .iter()
                .map(|l| {
                    format!(
                        "{}:{}{}",
                        l.address,
                        l.port,
                        l.process
                            .as_deref()
                            .map(|p| format!(" ({p})"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            c.compare(
                ok,
                want,
                join_or(&seen, &format!("nothing listens on port {}", fb.ssh.port)),
                "/proc/net/tcp, /proc/net/tcp6 (LISTEN)".into(),
            )
        }));
        let private = |m: &str| u32::from_str_radix(m, 8).is_ok_and(|m| m & 0o077 == 0);
        let shown: Vec<String> = fb
            .ssh
            .host_keys
            .iter()
            .map(|k| format!("{} {} {}", k.kind, k.mode, k.path))
            .collect();
        out.push(keys.compare(
            !fb.ssh.host_keys.is_empty() && fb.ssh.host_keys.iter().all(|k| private(&k.mode)),
            "at least one host key, none readable by group or others".into(),
            join_or(&shown, "no host key"),
            "/etc/ssh/ssh_host_*_key, /etc/dropbear/dropbear_*_host_key".into(),
        ));
    }

    let kernel = C::new(
        "first_boot.time.kernel",
        "the kernel clock is synchronised",
        G,
    )
    .weight(5);
    let daemon = C::new(
        "first_boot.time.daemon",
        "a time daemon runs and reports synchronisation",
        G,
    )
    .weight(5);
    if !e.time_sync {
        out.push(kernel.off(spec, "time synchronisation"));
        out.push(daemon.off(spec, "time synchronisation"));
    } else {
        let daemon_synced = fb
            .time
            .daemons
            .iter()
            .find(|d| d.synchronised.value() == Some(&true))
            .map(|d| d.name.clone());
        if !e.kernel_clock_sync {
            out.push(kernel.off(
                spec,
                "the kernel's clock status (firstBoot.kernelClockSync)",
            ));
        } else {
            out.push(kernel.over(&fb.time.kernel, "synchronised (no STA_UNSYNC)", |c, k| {
                let hint = match (&daemon_synced, k.synchronised) {
                    (Some(d), false) if d == "chronyd" => {
                        "; chronyd is synchronised but tells the kernel only with `rtcsync` (NixOS' chrony uses rtcautotrim): timedatectl and time-wait-sync see an unsynchronised clock"
                    }
                    _ => "",
                };
                c.compare(
                    k.synchronised,
                    "synchronised (no STA_UNSYNC)".into(),
                    format!(
                        "{} (adjtimex state {}, status {:#x}, max error {} µs){hint}",
                        if k.synchronised {
                            "synchronised"
                        } else {
                            "unsynchronised"
                        },
                        k.state,
                        k.status,
                        k.max_error_us
                    ),
                    "adjtimex(2) with no modes".into(),
                )
            }));
        }
        let seen: Vec<String> = fb
            .time
            .daemons
            .iter()
            .map(|d| {
                format!(
                    "{}: {}",
                    d.name,
                    match d.synchronised.value() {
                        Some(true) => "synchronised".to_string(),
                        Some(false) => "not synchronised".to_string(),
                        None => d.synchronised.why_not().unwrap_or_default(),
                    }
                )
            })
            .collect();
        let details: Vec<String> = fb.time.daemons.iter().map(|d| d.detail.clone()).collect();
        out.push(
            daemon.compare(
                fb.time
                    .daemons
                    .iter()
                    .any(|d| d.synchronised.value() == Some(&true)),
                "chronyd, systemd-timesyncd or ntpd synchronised".into(),
                join_or(&seen, "no time daemon running"),
                join_or(&details, "process table"),
            ),
        );
    }

    let logging = C::new("first_boot.logging", "journald or a syslog daemon runs", G).weight(5);
    if !e.logging {
        out.push(logging.off(spec, "logging"));
    } else {
        let mut seen = fb.logging.syslog.clone();
        if fb.logging.journald {
            seen.insert(0, "systemd-journald".into());
        }
        out.push(logging.compare(
            !seen.is_empty(),
            "systemd-journald or a syslog daemon".into(),
            format!(
                "{}; /dev/log {}",
                join_or(&seen, "no logging daemon"),
                if fb.logging.dev_log {
                    "is a socket"
                } else {
                    "absent"
                }
            ),
            "process table, /run/systemd/journal/socket, /dev/log".into(),
        ));
    }

    let known = ["systemd", "openrc", "sysvinit", "busybox"];
    let init = C::new("first_boot.init", "the init system is the expected one", G).weight(5);
    out.push(match &e.init {
        Some(want) => init.compare(
            &fb.init == want,
            want.clone(),
            fb.init.clone(),
            "/run/systemd/system, /run/openrc, /proc/1/comm".into(),
        ),
        None => init.compare(
            known.contains(&fb.init.as_str()),
            format!("one of {}", known.join(", ")),
            fb.init.clone(),
            "/run/systemd/system, /run/openrc, /proc/1/comm".into(),
        ),
    });

    if let Some(want) = &e.os {
        out.push(
            C::new(
                "first_boot.os",
                "the operating system is the expected one",
                G,
            )
            .weight(5)
            .require(&fb.os, want.clone(), |c, o| {
                c.compare(
                    &o.id == want,
                    want.clone(),
                    format!("{} ({})", o.id, o.pretty_name.as_deref().unwrap_or("")),
                    "/etc/os-release ID".into(),
                )
            }),
        );
    }

    out.push(
        C::new(
            "first_boot.package_profile",
            "the package profile is identified (and as pinned)",
            G,
        )
        .weight(5)
        .over(&fb.package_profile, "an identified package set", |c, p| {
            let mut wrong = Vec::new();
            if let (Some(want), true) = (&e.configuration_revision, p.kind == "nixos") {
                if p.configuration_revision.as_deref() != Some(want) {
                    wrong.push(format!(
                        "configuration revision {} (want {want})",
                        p.configuration_revision.as_deref().unwrap_or("unknown")
                    ));
                }
            }
            if let (Some(want), true) = (&e.package_set_sha256, p.kind != "nixos") {
                if p.set_sha256.as_deref() != Some(want) {
                    wrong.push(format!("package set differs from the pinned {want}"));
                }
            }
            c.compare(
                wrong.is_empty(),
                "identified; pinned values match".into(),
                if wrong.is_empty() {
                    profile_text(p)
                } else {
                    format!("{}: {}", profile_text(p), wrong.join("; "))
                },
                "/run/current-system, /var/lib/dpkg/status, /var/db/pkg".into(),
            )
        }),
    );

    let dr = C::new(
        "first_boot.system.drift",
        "the running system is the booted and intended one",
        G,
    );
    out.push(match fb.package_profile.value() {
        Some(p) if p.kind == "nixos" => {
            let d = drift(spec, facts);
            dr.compare(
                d.is_empty(),
                spec.expect
                    .first_boot
                    .system
                    .clone()
                    .unwrap_or_else(|| "current = booted".into()),
                if d.is_empty() {
                    p.current_system.clone().unwrap_or_default()
                } else {
                    d.join("; ")
                },
                "/run/current-system, /run/booted-system".into(),
            )
        }
        Some(p) => dr.na(
            format!("a {} host: drift is read from NixOS system links", p.kind),
            "current = booted",
        ),
        None => dr.na(
            fb.package_profile
                .reason()
                .unwrap_or("no package profile")
                .to_string(),
            "current = booted",
        ),
    });
}
