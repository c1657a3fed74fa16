//! The fleet's intent, as evaluated from hosts/inventory.nix to JSON.
pub use crate::expect::Expect;
use crate::report::Zone;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

mod load;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Inventory {
    pub version: u32,
    pub site: Site,
    pub pdus: BTreeMap<String, PduSpec>,
    /// Bundles of expectations (partial `expect` documents) a host names with
    /// `profile`; the host's own `expect` overrides them field by field.
    #[serde(default)]
    pub profiles: BTreeMap<String, serde_json::Value>,
    /// Hosts, each with its profile already merged into `expect`.
    pub hosts: BTreeMap<String, HostSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Site {
    pub name: String,
    pub domain: String,
    /// The site's DNS servers (its IPAM), handed out over DHCP. Hosts resolve
    /// their own identity through them; the DNS checks prove the records.
    #[serde(default)]
    pub dns_servers: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum PduDriverKind {
    /// APC rack PDU over SNMP (PowerNet-MIB).
    ApcSnmp,
    /// A QEMU VM's power over QMP; `address` is the directory holding
    /// `outlet-<n>.qmp` sockets.
    Qmp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PduSpec {
    pub driver: PduDriverKind,
    pub address: String,
    /// Number of outlets the PDU has (outlets are numbered from 1).
    pub outlets: u32,
    /// Seconds to wait with power cut during a cycle.
    #[serde(default = "default_cycle_delay")]
    pub cycle_delay_s: u64,
    /// SNMP settings of an `apc-snmp` PDU. Passwords are never here: they come
    /// from credential files named after the PDU.
    #[serde(default)]
    pub snmp: Option<SnmpSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SnmpSpec {
    /// `3` (default), or `2c`/`1` only with `allowInsecure = true`.
    #[serde(default = "default_snmp_version")]
    pub version: String,
    /// SNMPv3 user name (not a secret).
    #[serde(default)]
    pub user: Option<String>,
    /// `MD5`, `SHA` or `SHA256`.
    #[serde(default)]
    pub auth_protocol: Option<String>,
    /// `DES` or `AES`; required for authPriv.
    #[serde(default)]
    pub priv_protocol: Option<String>,
    /// `authPriv` (default) or `authNoPriv`.
    #[serde(default = "default_security_level")]
    pub security_level: String,
    /// Allows SNMPv1/v2c (community strings in clear text).
    #[serde(default)]
    pub allow_insecure: bool,
    /// `rpdu` (AP79xx, default) or `masterswitch` (older sPDUOutletCtl).
    #[serde(default = "default_table")]
    pub table: String,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "default_retries")]
    pub retries: u32,
}

fn default_snmp_version() -> String {
    "3".into()
}
fn default_security_level() -> String {
    "authPriv".into()
}
fn default_table() -> String {
    "rpdu".into()
}
fn default_timeout_ms() -> u64 {
    2000
}
fn default_retries() -> u32 {
    2
}

impl SnmpSpec {
    /// Problems with this PDU's SNMP settings, as (field, problem).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        let mut f = |field: &str, msg: String| p.push((format!("snmp.{field}"), msg));
        match self.version.as_str() {
            "3" => {
                if self.user.as_deref().unwrap_or("").is_empty() {
                    f("user", "SNMPv3 needs a user name".into());
                }
                match self.auth_protocol.as_deref() {
                    Some("MD5" | "SHA" | "SHA256") => {}
                    other => f("authProtocol", format!("{other:?}: use MD5, SHA or SHA256")),
                }
                match (self.security_level.as_str(), self.priv_protocol.as_deref()) {
                    ("authPriv", Some("DES" | "AES")) | ("authNoPriv", None) => {}
                    ("authPriv", other) => f(
                        "privProtocol",
                        format!("{other:?}: authPriv needs DES or AES"),
                    ),
                    ("authNoPriv", Some(_)) => f(
                        "privProtocol",
                        "authNoPriv takes no privacy protocol".into(),
                    ),
                    (other, _) => f(
                        "securityLevel",
                        format!("{other:?}: use authPriv or authNoPriv"),
                    ),
                }
            }
            "1" | "2c" => {
                if !self.allow_insecure {
                    f("version", format!("SNMPv{} sends the community in clear text; set allowInsecure = true to use it anyway", self.version));
                }
            }
            other => f(
                "version",
                format!("{other:?}: use 3 (or 2c/1 with allowInsecure)"),
            ),
        }
        if self.table != "rpdu" && self.table != "masterswitch" {
            f(
                "table",
                format!("{:?}: use rpdu or masterswitch", self.table),
            );
        }
        p
    }
}

fn default_cycle_delay() -> u64 {
    2
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutletRef {
    pub pdu: String,
    pub outlet: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostSpec {
    /// MAC of the management/provisioning NIC, `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// Primary IPv4 address on the provisioning network.
    pub ip: String,
    pub fqdn: String,
    /// Power feeds; more than one means dual feed, cycled together.
    pub power: Vec<OutletRef>,
    /// How a person reaches the console (`serial:ttyS0@115200`, `ipmi-sol`, ...).
    pub console: String,
    /// Where the coordinator reads the serial console to keep a copy per run:
    /// `tcp:<host>:<port>` (a console server's raw TCP port, ser2net),
    /// `unix:<path>` (a local socket: QEMU's chardev, ser2net) or
    /// `ipmi-sol:<user>@<bmc>[:<port>][?cipher=<n>]` (the BMC's Serial over
    /// LAN through ipmitool's lanplus interface; the password is the
    /// credential `ipmi-<host>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_capture: Option<String>,
    /// The host's BMC or hypervisor, asked for a clean shutdown (the ACPI
    /// power button) before the outlet is cut when no agent of the run is up
    /// to take one (quick runs, a hung host):
    /// `ipmi:<user>@<bmc>[:<port>][?cipher=<n>]` (`chassis power soft` over
    /// lanplus; the password is the credential `ipmi-<host>`) or
    /// `qmp:<absolute socket path>` (QEMU's `system_powerdown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bmc: Option<String>,
    pub profile: String,
    #[serde(default)]
    pub expect: Expect,
    pub required_zone: Zone,
}

/// Where a serial console is read from (`HostSpec::console_capture`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleSource {
    /// A console server's raw TCP port: `host:port`.
    Tcp(String),
    /// A local stream socket.
    Unix(std::path::PathBuf),
    /// A BMC's Serial over LAN (IPMI 2.0, RMCP+).
    IpmiSol(IpmiSol),
}

/// An IPMI Serial-over-LAN console: who logs in where, with which RMCP+
/// cipher suite. The password is a secret and never part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpmiSol {
    pub user: String,
    pub bmc: String,
    /// RMCP+ UDP port (623 unless given).
    pub port: u16,
    /// RMCP+ cipher suite ID (17, HMAC-SHA256 with AES-CBC-128, unless given;
    /// older BMCs offer only 3, HMAC-SHA1 with AES-CBC-128).
    pub cipher: u8,
}

impl IpmiSol {
    /// `rest`: what follows `scheme:` in `s`.
    fn parse(s: &str, scheme: &str, rest: &str) -> Result<IpmiSol, String> {
        let bad = |why: &str| {
            format!("{s:?}: {why}; expected {scheme}:<user>@<bmc>[:<port>][?cipher=<0-17>]")
        };
        let (target, cipher) = match rest.split_once('?') {
            None => (rest, 17),
            Some((t, q)) => {
                let n = q
                    .strip_prefix("cipher=")
                    .ok_or_else(|| bad("the only option is cipher"))?;
                match n.parse::<u8>() {
                    Ok(c) if c <= 17 => (t, c),
                    _ => return Err(bad("the cipher suite is a number from 0 to 17")),
                }
            }
        };
        let (user, addr) = target
            .split_once('@')
            .ok_or_else(|| bad("no user (the BMC account SOL logs in as)"))?;
        // IPMI user names are at most 16 bytes of printable ASCII.
        if user.is_empty() || user.len() > 16 || !user.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad("the user is 1 to 16 printable characters"));
        }
        let (bmc, port) = match addr.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => match p.parse::<u16>() {
                Ok(p) if p > 0 => (h, p),
                _ => return Err(bad("the port is a number from 1 to 65535")),
            },
            _ => (addr, 623),
        };
        let host_ok = !bmc.is_empty()
            && bmc
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if !host_ok {
            return Err(bad("the BMC is a host name or an IPv4 address"));
        }
        Ok(IpmiSol {
            user: user.to_string(),
            bmc: bmc.to_string(),
            port,
            cipher,
        })
    }
}

impl ConsoleSource {
    pub fn parse(s: &str) -> Result<ConsoleSource, String> {
        if let Some(a) = s.strip_prefix("tcp:") {
            let ok = a
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !ok {
                return Err(format!("{s:?}: expected tcp:<host>:<port>"));
            }
            Ok(ConsoleSource::Tcp(a.to_string()))
        } else if let Some(p) = s.strip_prefix("unix:") {
            if !p.starts_with('/') {
                return Err(format!("{s:?}: expected unix:<absolute path>"));
            }
            Ok(ConsoleSource::Unix(p.into()))
        } else if let Some(r) = s.strip_prefix("ipmi-sol:") {
            IpmiSol::parse(s, "ipmi-sol", r).map(ConsoleSource::IpmiSol)
        } else {
            Err(format!(
                "{s:?}: expected tcp:<host>:<port>, unix:<path> or ipmi-sol:<user>@<bmc>[:<port>][?cipher=<n>]"
            ))
        }
    }
}

/// Who presses a host's power button (`HostSpec::bmc`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BmcSource {
    /// A BMC over IPMI 2.0 (RMCP+): `chassis power soft`, `chassis power
    /// status`. The user, address and cipher suite as for SOL.
    Ipmi(IpmiSol),
    /// A QEMU hypervisor's QMP socket: `system_powerdown`, `query-status`.
    Qmp(std::path::PathBuf),
}

impl BmcSource {
    pub fn parse(s: &str) -> Result<BmcSource, String> {
        if let Some(r) = s.strip_prefix("ipmi:") {
            IpmiSol::parse(s, "ipmi", r).map(BmcSource::Ipmi)
        } else if let Some(p) = s.strip_prefix("qmp:") {
            if !p.starts_with('/') || p.contains('\0') {
                return Err(format!("{s:?}: expected qmp:<absolute socket path>"));
            }
            Ok(BmcSource::Qmp(p.into()))
        } else {
            Err(format!(
                "{s:?}: expected ipmi:<user>@<bmc>[:<port>][?cipher=<n>] or qmp:<absolute socket path>"
            ))
        }
    }
}

/// One thing wrong with an inventory, naming the host (or PDU) and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{subject}: field `{field}`: {problem}")]
pub struct InventoryError {
    /// `host vm1` or `pdu rack1`.
    pub subject: String,
    pub field: String,
    pub problem: String,
}

fn err(subject: String, field: &str, problem: String) -> InventoryError {
    InventoryError {
        subject,
        field: field.to_string(),
        problem,
    }
}

/// Parses `aa:bb:cc:dd:ee:ff` (or with `-`), returning the canonical lower-case
/// colon form.
pub fn normalize_mac(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut out = Vec::with_capacity(6);
    for p in parts {
        if p.len() != 2 || !p.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        out.push(p.to_ascii_lowercase());
    }
    Some(out.join(":"))
}

/// Merges `over` onto `base`: objects field by field (recursively), anything
/// else (lists, strings, numbers) replaced by `over`'s value.
pub fn merge(base: serde_json::Value, over: serde_json::Value) -> serde_json::Value {
    match (base, over) {
        (serde_json::Value::Object(mut b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                let merged = match b.remove(&k) {
                    Some(bv) => merge(bv, v),
                    None => v,
                };
                b.insert(k, merged);
            }
            serde_json::Value::Object(b)
        }
        (_, over) => over,
    }
}

#[cfg(test)]
mod tests;
