//! Why a run is stuck: the host's trail since its power-on, read from every
//! witness the coordinator has (dnsmasq's DHCP log, the boot-script request
//! log, the agent's last contact, the captured serial console), so a timeout's
//! reason says where the boot stopped instead of only that it did.
use crate::console::Consoles;
use crate::live::Live;
use crate::store::Store;
use chrono::{DateTime, Datelike, Local, NaiveDateTime, TimeZone, Utc};
use e2et_model::inventory::{normalize_mac, HostSpec};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

/// How much of the end of the DHCP log is read: dnsmasq writes ~10 lines per
/// lease, so this covers thousands of boots without reading a year of log.
const DHCP_TAIL_BYTES: u64 = 4 << 20;

/// One line of dnsmasq's DHCP log that names a MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpSeen {
    pub at: DateTime<Utc>,
    /// The message without the transaction id: `DHCPACK(br0) 10.99.0.11 52:54:00:... vm1`.
    pub what: String,
}

/// dnsmasq stamps its log lines `Nov 23 01:49:44` (`%h %e %H:%M:%S`, local
/// time, no year): the year is the one that puts the stamp at most a day
/// ahead of `now`.
fn parse_stamp(stamp: &str, now: DateTime<Local>) -> Option<DateTime<Utc>> {
    for year in [now.year(), now.year() - 1] {
        let naive =
            NaiveDateTime::parse_from_str(&format!("{year} {stamp}"), "%Y %b %e %H:%M:%S").ok()?;
        let t = Local.from_local_datetime(&naive).earliest()?;
        if t <= now + chrono::Duration::days(1) {
            return Some(t.with_timezone(&Utc));
        }
    }
    None
}

/// The last DHCP line for `mac` in dnsmasq's log (`log-facility` file with
/// `log-dhcp`), reading only the end of the file.
pub fn last_dhcp(log: &Path, mac: &str, now: DateTime<Local>) -> std::io::Result<Option<DhcpSeen>> {
    let mac = normalize_mac(mac).unwrap_or_else(|| mac.to_ascii_lowercase());
    let mut f = std::fs::File::open(log)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(DHCP_TAIL_BYTES)))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    for line in text.lines().rev() {
        let Some((head, msg)) = line.split_once("]: ") else {
            continue;
        };
        if !head.contains("dnsmasq-dhcp") || !msg.to_ascii_lowercase().contains(&mac) {
            continue;
        }
        // A transaction id leads DHCPv4 lines; RA and DHCPv6 lines have none.
        let what = match msg.split_once(' ') {
            Some((xid, rest)) if xid.bytes().all(|b| b.is_ascii_digit()) => rest,
            _ => msg,
        };
        if !(what.starts_with("DHCP") || what.starts_with("BOOTP") || what.starts_with("PXE")) {
            continue;
        }
        let Some(at) = head.get(..15).and_then(|s| parse_stamp(s, now)) else {
            continue;
        };
        return Ok(Some(DhcpSeen {
            at,
            what: what.trim().to_string(),
        }));
    }
    Ok(None)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// When the run last switched its host's power on (the start of the boot the
/// trail is about), from the store's power steps.
/// What a stuck run's trail is read from.
pub struct Trail {
    store: Arc<Store>,
    live: Arc<Live>,
    consoles: Arc<Consoles>,
    /// dnsmasq's DHCP log (`log-facility`).
    dhcp_log: Option<std::path::PathBuf>,
    /// The boot-script requests (in memory).
    pub boot_log: crate::boot_log::BootLog,
}

impl Trail {
    pub fn new(
        store: Arc<Store>,
        live: Arc<Live>,
        consoles: Arc<Consoles>,
        dhcp_log: Option<std::path::PathBuf>,
    ) -> Trail {
        Trail {
            store,
            live,
            consoles,
            dhcp_log,
            boot_log: Default::default(),
        }
    }

    /// The host's trail since power-on (see [`trail`]).
    pub fn of(&self, run_id: &str, spec: &HostSpec) -> String {
        trail(self, run_id, spec)
    }
}

fn powered_on_at(ctx: &Trail, run_id: &str) -> Option<DateTime<Utc>> {
    let steps = ctx.store.power_steps(run_id).ok()?;
    steps
        .iter()
        .rev()
        .find(|(_, s)| s.action == e2et_model::report::PowerAction::On && s.ok)
        .and_then(|(_, s)| DateTime::parse_from_rfc3339(&s.at).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// The trail of `run_id`'s host since its last power-on, one clause per
/// witness, for a timeout's reason.
fn trail(ctx: &Trail, run_id: &str, spec: &HostSpec) -> String {
    let since = powered_on_at(ctx, run_id);
    let mut parts = Vec::new();
    let after = |t: DateTime<Utc>| since.is_none_or(|s| t >= s - chrono::Duration::seconds(1));
    if let Some(s) = since {
        parts.push(format!("powered on at {}", rfc3339(s)));
    }
    match &ctx.dhcp_log {
        None => parts.push("DHCP not watched (no --dhcp-log)".into()),
        Some(log) => match last_dhcp(log, &spec.mac, Local::now()) {
            Ok(Some(d)) if after(d.at) => {
                parts.push(format!("last DHCP seen at {} ({})", rfc3339(d.at), d.what))
            }
            Ok(Some(d)) => parts.push(format!(
                "no DHCP from {} since power-on (the last, at {}, was {})",
                spec.mac,
                rfc3339(d.at),
                d.what
            )),
            Ok(None) => parts.push(format!("no DHCP from {} in {}", spec.mac, log.display())),
            Err(e) => parts.push(format!("DHCP log {} unreadable: {e}", log.display())),
        },
    }
    let mac = normalize_mac(&spec.mac).unwrap_or_else(|| spec.mac.clone());
    match ctx.boot_log.last(&mac) {
        Some((at, detail)) => {
            let t = DateTime::parse_from_rfc3339(&at)
                .ok()
                .map(|t| t.with_timezone(&Utc));
            if t.is_none_or(after) {
                parts.push(format!("iPXE script fetched at {at} ({detail})"));
            } else {
                parts.push(format!(
                    "no iPXE script fetched since power-on (the last at {at}: {detail})"
                ));
            }
        }
        None => parts.push(format!(
            "no iPXE script requested by {mac} since e2etd started"
        )),
    }
    match ctx.live.get(run_id).and_then(|r| r.contact.last()) {
        Some((ago, kind)) => parts.push(format!(
            "agent last heard {:.0}s ago ({})",
            ago.as_secs_f64(),
            kind.as_str()
        )),
        None => parts.push("agent not heard from".into()),
    }
    if let Some(line) = ctx.consoles.last_line(run_id) {
        parts.push(format!("console's last line: {line:?}"));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
Nov 23 01:49:40 dnsmasq-dhcp[731]: 3640896060 DHCPDISCOVER(br0) 52:54:00:e2:e7:01 
Nov 23 01:49:40 dnsmasq-dhcp[731]: 3640896060 DHCPOFFER(br0) 10.99.0.11 52:54:00:e2:e7:01 
Nov 23 01:49:44 dnsmasq-dhcp[731]: 3640896060 DHCPACK(br0) 10.99.0.11 52:54:00:e2:e7:01 vm1
Nov 23 01:49:44 dnsmasq-dhcp[731]: 3640896060 tags: known, ipxe, br0
Nov 23 01:49:57 dnsmasq-dhcp[731]: RTR-SOLICIT(br0) 52:54:00:e2:e7:01
Nov 23 01:50:06 dnsmasq-dhcp[731]: 3885170245 DHCPDISCOVER(br0) 52:54:00:e2:e7:02 ignored
Nov  3 02:00:00 dnsmasq[731]: read /etc/hosts - 2 names
";

    fn now() -> DateTime<Local> {
        Local
            .from_local_datetime(
                &NaiveDateTime::parse_from_str("2026-11-23 02:00:00", "%Y-%m-%d %H:%M:%S").unwrap(),
            )
            .earliest()
            .unwrap()
    }

    #[test]
    fn finds_the_last_dhcp_line_of_a_mac_and_skips_ra_and_other_macs() {
        let dir = std::env::temp_dir().join(format!("e2et-dhcp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("dnsmasq.log");
        std::fs::write(&log, LOG).unwrap();
        let d = last_dhcp(&log, "52-54-00-E2-E7-01", now())
            .unwrap()
            .unwrap();
        assert_eq!(d.what, "DHCPACK(br0) 10.99.0.11 52:54:00:e2:e7:01 vm1");
        let local = d.at.with_timezone(&Local);
        assert_eq!(
            (
                local.year(),
                local.month(),
                local.day(),
                local.format("%T").to_string()
            ),
            (2026, 11, 23, "01:49:44".to_string())
        );
        let other = last_dhcp(&log, "52:54:00:e2:e7:02", now())
            .unwrap()
            .unwrap();
        assert_eq!(other.what, "DHCPDISCOVER(br0) 52:54:00:e2:e7:02 ignored");
        assert!(last_dhcp(&log, "52:54:00:e2:e7:03", now())
            .unwrap()
            .is_none());
        assert!(last_dhcp(&dir.join("missing.log"), "52:54:00:e2:e7:01", now()).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_stamp_ahead_of_now_belongs_to_last_year() {
        // 31 Dec, read on 1 Jan: last year's.
        let jan = Local
            .from_local_datetime(
                &NaiveDateTime::parse_from_str("2027-01-01 00:10:00", "%Y-%m-%d %H:%M:%S").unwrap(),
            )
            .earliest()
            .unwrap();
        let t = parse_stamp("Dec 31 23:59:00", jan)
            .unwrap()
            .with_timezone(&Local);
        assert_eq!((t.year(), t.month(), t.day()), (2026, 12, 31));
        // Space-padded days parse.
        let t = parse_stamp("Jan  1 00:05:00", jan)
            .unwrap()
            .with_timezone(&Local);
        assert_eq!((t.year(), t.month(), t.day()), (2027, 1, 1));
        assert!(parse_stamp("Foo 99 99:99:99", jan).is_none());
    }
}
