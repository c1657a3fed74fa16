//! Who may act for a run's host. A boot script opens a boot window and its
//! token is the window's only one; the first boot that says hello with it
//! binds it; and only the host's own address may fetch the script or speak
//! for the agent. Every second claimant (another script consumer, another
//! boot id, another source address) is a conflict: it fails the run with a
//! reason that names both claimants, never a quiet refusal and never a pass.
use e2et_model::{RunMode, RunState};
use std::net::IpAddr;

/// The start of every conflict reason (the run's abort reason, the engine's
/// failed check, the report): operators and tests look for it.
pub const CONFLICT: &str = "conflicting agents";

/// The boot window a boot-script request in `state` belongs to: boot 1's
/// until the power cycle, boot 2's from it. A quick run boots its installed
/// system and has no netboot window.
pub fn window(mode: RunMode, state: RunState) -> Option<u32> {
    if mode == RunMode::Quick {
        return None;
    }
    match state {
        RunState::PowerOn | RunState::Provisioning | RunState::FirstBoot | RunState::Validate => {
            Some(1)
        }
        RunState::PowerCycle | RunState::Revalidate => Some(2),
        _ => None,
    }
}

/// Whether `peer` is the host's inventory address `host_ip` (the lease
/// dnsmasq gives its MAC). An IPv4 peer seen on an IPv6 socket counts as
/// its IPv4 address.
pub fn from_host(peer: IpAddr, host_ip: &str) -> bool {
    host_ip
        .parse::<IpAddr>()
        .is_ok_and(|want| want == peer.to_canonical())
}

/// The reason when a request for `host` came from another address.
pub fn foreign_source(host: &str, host_ip: &str, peer: IpAddr, what: &str) -> String {
    format!(
        "{CONFLICT}: {what} for {host} from {}, which is not the host's address {host_ip}",
        peer.to_canonical()
    )
}

/// The reason when boot window `window` is asked for a second time: the
/// first consumer (`first`, at `first_at`) and the second (`peer`).
pub fn window_taken(window: u32, first: &str, first_at: &str, peer: IpAddr) -> String {
    format!(
        "{CONFLICT}: the boot script of boot window {window} was fetched by {first} at {first_at} and again by {}; a window has one token",
        peer.to_canonical()
    )
}

/// What a request with the token of boot window `window` may be, for
/// `boot_id`, given the run's boots as (sequence, boot id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// The boot the window's token is bound to (it said hello with it).
    Bound(u32),
    /// The window's first boot: a hello binds the token to it.
    Unbound(u32),
    /// Another boot holds the window, or this boot holds another one.
    Conflict(String),
}

pub fn bind(window: u32, boots: &[(u32, String)], boot_id: &str) -> Binding {
    if let Some((seq, _)) = boots.iter().find(|(_, b)| b == boot_id) {
        return if *seq == window {
            Binding::Bound(*seq)
        } else {
            Binding::Conflict(format!(
                "{CONFLICT}: boot {boot_id} (boot {seq} of the run) used the token of boot window {window}"
            ))
        };
    }
    if let Some((_, first)) = boots.iter().find(|(s, _)| *s == window) {
        return Binding::Conflict(format!(
            "{CONFLICT}: boot window {window} is bound to boot {first}, and boot {boot_id} claims it too"
        ));
    }
    if boots.len() as u32 + 1 == window {
        Binding::Unbound(window)
    } else {
        Binding::Conflict(format!(
            "{CONFLICT}: boot {boot_id} claims boot window {window} while the run has {} boot(s)",
            boots.len()
        ))
    }
}

/// The reason when an installed system enrols a second boot in a quick run
/// (one boot, one token).
pub fn second_enrolment(first: &str, boot_id: &str) -> String {
    format!(
        "{CONFLICT}: boot {first} already enrolled in this quick run, and boot {boot_id} enrols too"
    )
}

/// A quick run's hello from another boot than the one that enrolled.
pub fn not_the_enrolled_boot(enrolled: &str, boot_id: &str) -> String {
    format!(
        "{CONFLICT}: boot {enrolled} enrolled in this quick run, and boot {boot_id} says hello with its token"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boots(ids: &[&str]) -> Vec<(u32, String)> {
        ids.iter()
            .enumerate()
            .map(|(i, b)| (i as u32 + 1, b.to_string()))
            .collect()
    }

    #[test]
    fn a_cold_run_has_window_1_until_the_power_cycle_and_2_from_it() {
        for s in RunState::ALL {
            let want = match s {
                RunState::PowerOn
                | RunState::Provisioning
                | RunState::FirstBoot
                | RunState::Validate => Some(1),
                RunState::PowerCycle | RunState::Revalidate => Some(2),
                _ => None,
            };
            assert_eq!(window(RunMode::Cold, s), want, "{s}");
            assert_eq!(window(RunMode::Quick, s), None, "{s}");
            // The window exists exactly where the boot decision netboots.
            assert_eq!(want.is_some(), s.boots_netboot(), "{s}");
        }
    }

    #[test]
    fn only_the_hosts_own_address_is_the_host() {
        let v4: IpAddr = "10.99.0.11".parse().unwrap();
        assert!(from_host(v4, "10.99.0.11"));
        assert!(!from_host("10.99.0.66".parse().unwrap(), "10.99.0.11"));
        // Seen on a dual-stack socket.
        assert!(from_host(
            "::ffff:10.99.0.11".parse().unwrap(),
            "10.99.0.11"
        ));
        // A malformed inventory address matches nothing.
        assert!(!from_host(v4, "not-an-ip"));
        let r = foreign_source(
            "vm1",
            "10.99.0.11",
            "::ffff:10.99.0.66".parse().unwrap(),
            "boot script",
        );
        assert_eq!(r, "conflicting agents: boot script for vm1 from 10.99.0.66, which is not the host's address 10.99.0.11");
    }

    #[test]
    fn the_first_hello_binds_a_window_and_every_other_boot_conflicts() {
        // Window 1, no boot yet: the first hello binds it.
        assert_eq!(bind(1, &[], "a"), Binding::Unbound(1));
        // Bound: the same boot keeps using it.
        assert_eq!(bind(1, &boots(&["a"]), "a"), Binding::Bound(1));
        // Another boot id with window 1's token.
        let Binding::Conflict(r) = bind(1, &boots(&["a"]), "b") else {
            panic!()
        };
        assert!(
            r.starts_with(CONFLICT) && r.contains(" a,") && r.contains("boot b"),
            "{r}"
        );
        // Boot 2's agent with window 1's token, and boot 1's with window 2's.
        assert!(matches!(
            bind(1, &boots(&["a", "b"]), "b"),
            Binding::Conflict(_)
        ));
        assert!(matches!(
            bind(2, &boots(&["a", "b"]), "a"),
            Binding::Conflict(_)
        ));
        // Window 2 after boot 1: its first hello binds it.
        assert_eq!(bind(2, &boots(&["a"]), "b"), Binding::Unbound(2));
        assert_eq!(bind(2, &boots(&["a", "b"]), "b"), Binding::Bound(2));
        // Window 2's token before boot 1 said hello.
        assert!(matches!(bind(2, &[], "b"), Binding::Conflict(_)));
    }

    #[test]
    fn conflict_reasons_name_both_claimants() {
        let r = window_taken(
            1,
            "10.99.0.11",
            "2026-12-03T07:00:00Z",
            "10.99.0.12".parse().unwrap(),
        );
        assert!(
            r.starts_with(CONFLICT) && r.contains("10.99.0.11") && r.contains("10.99.0.12"),
            "{r}"
        );
        let r = second_enrolment("b1", "b2");
        assert!(
            r.starts_with(CONFLICT) && r.contains("b1") && r.contains("b2"),
            "{r}"
        );
    }
}
