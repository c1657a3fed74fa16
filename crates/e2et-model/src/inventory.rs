//! The fleet's intent, as evaluated from hosts/inventory.nix to JSON.
pub use crate::expect::Expect;
use crate::report::Zone;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

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
    fn parse(s: &str, rest: &str) -> Result<IpmiSol, String> {
        let bad = |why: &str| {
            format!("{s:?}: {why}; expected ipmi-sol:<user>@<bmc>[:<port>][?cipher=<0-17>]")
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
            IpmiSol::parse(s, r).map(ConsoleSource::IpmiSol)
        } else {
            Err(format!(
                "{s:?}: expected tcp:<host>:<port>, unix:<path> or ipmi-sol:<user>@<bmc>[:<port>][?cipher=<n>]"
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

impl Inventory {
    /// Parses inventory JSON (as printed by
    /// `nix-instantiate --eval --strict --json hosts/inventory.nix`) and validates it.
    ///
    /// Each host's `expect` is its profile's expectations with the host's own
    /// `expect` merged over them (objects field by field, anything else
    /// replaced), so a host names its profile and overrides little. Every
    /// problem names the host, PDU or profile and the field.
    pub fn from_json(text: &str) -> Result<Inventory, Vec<InventoryError>> {
        let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            vec![err(
                "inventory".into(),
                "(document)",
                format!("not valid JSON: {e}"),
            )]
        })?;
        let mut errs = Vec::new();
        let Some(top) = doc.as_object() else {
            return Err(vec![err(
                "inventory".into(),
                "(document)",
                "the inventory must be an attribute set".into(),
            )]);
        };
        for k in top.keys() {
            if !["version", "site", "pdus", "profiles", "hosts"].contains(&k.as_str()) {
                errs.push(err(
                    "inventory".into(),
                    k,
                    "unknown top-level field (expected version, site, pdus, profiles, hosts)"
                        .into(),
                ));
            }
        }
        fn part<T: serde::de::DeserializeOwned>(
            v: Option<&serde_json::Value>,
            subject: &str,
            field: &str,
            errs: &mut Vec<InventoryError>,
        ) -> Option<T> {
            let Some(v) = v else {
                errs.push(err(subject.into(), field, "missing".into()));
                return None;
            };
            serde_json::from_value(v.clone())
                .map_err(|e| errs.push(err(subject.into(), field, e.to_string())))
                .ok()
        }
        let version: Option<u32> = part(top.get("version"), "inventory", "version", &mut errs);
        let site: Option<Site> = part(top.get("site"), "inventory", "site", &mut errs);
        let empty = serde_json::Map::new();
        let obj = |k: &str, errs: &mut Vec<InventoryError>| match top.get(k) {
            None => Some(&empty),
            Some(v) => v.as_object().or_else(|| {
                errs.push(err(
                    "inventory".into(),
                    k,
                    "must be an attribute set of named entries".into(),
                ));
                None
            }),
        };
        let mut pdus = BTreeMap::new();
        for (name, v) in obj("pdus", &mut errs).unwrap_or(&empty) {
            if let Some(p) = part(Some(v), &format!("pdu {name}"), "(spec)", &mut errs) {
                pdus.insert(name.clone(), p);
            }
        }
        let mut profiles = BTreeMap::new();
        for (name, v) in obj("profiles", &mut errs).unwrap_or(&empty) {
            // A profile alone must already be a valid (partial) expectation.
            let _: Option<Expect> =
                part(Some(v), &format!("profile {name}"), "(profile)", &mut errs);
            profiles.insert(name.clone(), v.clone());
        }
        let mut hosts = BTreeMap::new();
        for (name, v) in obj("hosts", &mut errs).unwrap_or(&empty) {
            let subject = format!("host {name}");
            let mut v = v.clone();
            let profile = v
                .get("profile")
                .and_then(|p| p.as_str())
                .map(str::to_string);
            if let (Some(pname), Some(h)) = (profile, v.as_object_mut()) {
                match profiles.get(&pname) {
                    Some(pv) => {
                        let own = h
                            .remove("expect")
                            .unwrap_or(serde_json::Value::Object(Default::default()));
                        h.insert("expect".into(), merge(pv.clone(), own));
                    }
                    None => {
                        errs.push(err(
                            subject.clone(),
                            "profile",
                            format!(
                                "profile {pname:?} is not defined (defined: {})",
                                if profiles.is_empty() {
                                    "none".to_string()
                                } else {
                                    profiles.keys().cloned().collect::<Vec<_>>().join(", ")
                                }
                            ),
                        ));
                        continue;
                    }
                }
            }
            if let Some(h) = part(Some(&v), &subject, "(spec)", &mut errs) {
                hosts.insert(name.clone(), h);
            }
        }
        let (Some(version), Some(site)) = (version, site) else {
            return Err(errs);
        };
        if !errs.is_empty() {
            return Err(errs);
        }
        let inv = Inventory {
            version,
            site,
            pdus,
            profiles,
            hosts,
        };
        inv.validate()?;
        Ok(inv.normalized())
    }

    fn normalized(mut self) -> Inventory {
        for h in self.hosts.values_mut() {
            if let Some(m) = normalize_mac(&h.mac) {
                h.mac = m;
            }
        }
        self
    }

    /// All problems at once, so an operator fixes the file in one go.
    pub fn validate(&self) -> Result<(), Vec<InventoryError>> {
        let mut errs = Vec::new();
        if self.version != 1 {
            errs.push(err(
                "inventory".into(),
                "version",
                format!("unsupported version {} (expected 1)", self.version),
            ));
        }
        for (i, d) in self.site.dns_servers.iter().enumerate() {
            if d.parse::<std::net::IpAddr>().is_err() {
                errs.push(err(
                    "inventory".into(),
                    &format!("site.dnsServers[{i}]"),
                    format!("{d:?} is not an IP address"),
                ));
            }
        }
        for (name, pdu) in &self.pdus {
            let subject = format!("pdu {name}");
            if pdu.outlets == 0 {
                errs.push(err(subject.clone(), "outlets", "must be at least 1".into()));
            }
            if pdu.address.trim().is_empty() {
                errs.push(err(subject.clone(), "address", "must not be empty".into()));
            }
            match (&pdu.driver, &pdu.snmp) {
                (PduDriverKind::ApcSnmp, None) => errs.push(err(
                    subject.clone(),
                    "snmp",
                    "an apc-snmp PDU needs its snmp settings (user, protocols)".into(),
                )),
                (PduDriverKind::ApcSnmp, Some(s)) => {
                    for (field, problem) in s.problems() {
                        errs.push(err(subject.clone(), &field, problem));
                    }
                }
                (PduDriverKind::Qmp, _) => {}
            }
        }
        let mut macs: HashMap<String, &str> = HashMap::new();
        let mut ips: HashMap<Ipv4Addr, &str> = HashMap::new();
        let mut outlets: HashMap<(String, u32), &str> = HashMap::new();
        for (name, h) in &self.hosts {
            let subject = format!("host {name}");
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                errs.push(err(
                    subject.clone(),
                    "name",
                    "host names use letters, digits, '-' and '_' only".into(),
                ));
            }
            match normalize_mac(&h.mac) {
                None => errs.push(err(
                    subject.clone(),
                    "mac",
                    format!("malformed MAC {:?} (expected aa:bb:cc:dd:ee:ff)", h.mac),
                )),
                Some(m) => {
                    if let Some(other) = macs.insert(m.clone(), name) {
                        errs.push(err(
                            subject.clone(),
                            "mac",
                            format!("MAC {m} is also used by host {other}"),
                        ));
                    }
                }
            }
            match h.ip.parse::<Ipv4Addr>() {
                Err(_) => errs.push(err(
                    subject.clone(),
                    "ip",
                    format!("malformed IPv4 address {:?}", h.ip),
                )),
                Ok(ip) => {
                    if let Some(other) = ips.insert(ip, name) {
                        errs.push(err(
                            subject.clone(),
                            "ip",
                            format!("address {ip} is also used by host {other}"),
                        ));
                    }
                }
            }
            if !h.fqdn.contains('.') || h.fqdn.starts_with('.') || h.fqdn.ends_with('.') {
                errs.push(err(
                    subject.clone(),
                    "fqdn",
                    format!("{:?} is not a fully qualified name", h.fqdn),
                ));
            }
            if h.console.trim().is_empty() {
                errs.push(err(
                    subject.clone(),
                    "console",
                    "no console path declared".into(),
                ));
            }
            if let Some(Err(e)) = h.console_capture.as_deref().map(ConsoleSource::parse) {
                errs.push(err(subject.clone(), "consoleCapture", e));
            }
            if h.power.is_empty() {
                errs.push(err(
                    subject.clone(),
                    "power",
                    "no PDU outlet declared: the lifecycle cannot power-cycle this host".into(),
                ));
            }
            for (i, o) in h.power.iter().enumerate() {
                let field = format!("power[{i}]");
                match self.pdus.get(&o.pdu) {
                    None => errs.push(err(
                        subject.clone(),
                        &field,
                        format!("unknown PDU {:?}", o.pdu),
                    )),
                    Some(p) if o.outlet == 0 || o.outlet > p.outlets => errs.push(err(
                        subject.clone(),
                        &field,
                        format!(
                            "outlet {} does not exist on PDU {} (outlets 1..={})",
                            o.outlet, o.pdu, p.outlets
                        ),
                    )),
                    Some(_) => {}
                }
                if let Some(other) = outlets.insert((o.pdu.clone(), o.outlet), name) {
                    errs.push(err(
                        subject.clone(),
                        &field,
                        format!(
                            "outlet {} of PDU {} is also used by host {other}",
                            o.outlet, o.pdu
                        ),
                    ));
                }
            }
            for (i, p) in h.expect.persistent_paths.iter().enumerate() {
                if !p.starts_with('/') || p.contains("/../") || p.ends_with("/..") {
                    errs.push(err(
                        subject.clone(),
                        &format!("expect.persistentPaths[{i}]"),
                        format!("{p:?} must be an absolute path without '..'"),
                    ));
                }
            }
            for (field, problem) in h.expect.problems() {
                errs.push(err(subject.clone(), &format!("expect.{field}"), problem));
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }

    pub fn host_by_mac(&self, mac: &str) -> Option<(&str, &HostSpec)> {
        let mac = normalize_mac(mac)?;
        self.hosts
            .iter()
            .find(|(_, h)| normalize_mac(&h.mac).as_deref() == Some(mac.as_str()))
            .map(|(n, h)| (n.as_str(), h))
    }

    /// The host an outlet powers, if any.
    pub fn host_on_outlet(&self, pdu: &str, outlet: u32) -> Option<&str> {
        self.hosts
            .iter()
            .find(|(_, h)| h.power.iter().any(|o| o.pdu == pdu && o.outlet == outlet))
            .map(|(n, _)| n.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> serde_json::Value {
        serde_json::json!({
            "version": 1,
            "site": {"name": "lab", "domain": "lab.test"},
            "pdus": {"p1": {"driver": "qmp", "address": "/run/x", "outlets": 8},
                     "apc": {"driver": "apc-snmp", "address": "pdu:161", "outlets": 8,
                             "snmp": {"user": "ops", "authProtocol": "SHA", "privProtocol": "AES"}}},
            "profiles": {"lab": {}},
            "hosts": {
                "a": {"mac": "52:54:00:00:00:01", "ip": "10.0.0.1", "fqdn": "a.lab.test",
                      "power": [{"pdu": "p1", "outlet": 1}], "console": "serial",
                      "profile": "lab", "requiredZone": "p90"},
                "b": {"mac": "52:54:00:00:00:02", "ip": "10.0.0.2", "fqdn": "b.lab.test",
                      "power": [{"pdu": "p1", "outlet": 2}], "console": "serial",
                      "profile": "lab", "requiredZone": "p80",
                      "expect": {"cpus": 2, "minRamMib": 100, "persistentPaths": ["/persist/x"]}}
            }
        })
    }

    fn errors_of(v: serde_json::Value) -> Vec<InventoryError> {
        Inventory::from_json(&v.to_string()).unwrap_err()
    }

    #[test]
    fn valid_inventory_loads() {
        let inv = Inventory::from_json(&sample().to_string()).unwrap();
        assert_eq!(inv.hosts["b"].expect.cpus, Some(2));
        assert_eq!(inv.host_by_mac("52-54-00-00-00-02").unwrap().0, "b");
        assert_eq!(inv.host_on_outlet("p1", 1), Some("a"));
        assert_eq!(inv.host_on_outlet("p1", 3), None);
    }

    #[test]
    fn duplicate_mac_names_both_hosts() {
        let mut v = sample();
        v["hosts"]["b"]["mac"] = "52:54:00:00:00:01".into();
        let e = errors_of(v);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].subject, "host b");
        assert_eq!(e[0].field, "mac");
        assert!(e[0].problem.contains("host a"), "{}", e[0]);
    }

    #[test]
    fn outlet_used_twice_is_refused() {
        let mut v = sample();
        v["hosts"]["b"]["power"][0]["outlet"] = 1.into();
        let e = errors_of(v);
        assert_eq!(e[0].field, "power[0]");
        assert!(e[0].to_string().contains("also used by host a"), "{}", e[0]);
    }

    #[test]
    fn malformed_mac_and_ip_are_named() {
        let mut v = sample();
        v["hosts"]["a"]["mac"] = "52:54:00:00:00".into();
        v["hosts"]["a"]["ip"] = "10.0.0.300".into();
        let e = errors_of(v);
        let fields: Vec<_> = e
            .iter()
            .map(|e| (e.subject.as_str(), e.field.as_str()))
            .collect();
        assert!(fields.contains(&("host a", "mac")), "{fields:?}");
        assert!(fields.contains(&("host a", "ip")), "{fields:?}");
    }

    #[test]
    fn unknown_pdu_outlet_range_and_unknown_field() {
        let mut v = sample();
        v["hosts"]["a"]["power"][0]["outlet"] = 9.into();
        v["hosts"]["b"]["power"][0]["pdu"] = "nope".into();
        let e = errors_of(v);
        assert!(e
            .iter()
            .any(|e| e.problem.contains("outlet 9 does not exist")));
        assert!(e.iter().any(|e| e.problem.contains("unknown PDU \"nope\"")));

        let mut v = sample();
        v["hosts"]["a"]["ramm"] = 5.into();
        let e = errors_of(v);
        assert!(e[0].problem.contains("unknown field `ramm`"), "{}", e[0]);
    }

    #[test]
    fn console_capture_is_a_tcp_port_a_unix_socket_or_ipmi_sol() {
        let mut v = sample();
        v["hosts"]["a"]["consoleCapture"] = "tcp:termsrv.mgmt:7001".into();
        v["hosts"]["b"]["consoleCapture"] = "unix:/run/vm1.console".into();
        let inv = Inventory::from_json(&v.to_string()).unwrap();
        assert_eq!(
            ConsoleSource::parse(inv.hosts["a"].console_capture.as_deref().unwrap()),
            Ok(ConsoleSource::Tcp("termsrv.mgmt:7001".into()))
        );
        let sol = |user: &str, bmc: &str, port, cipher| {
            Ok(ConsoleSource::IpmiSol(IpmiSol {
                user: user.into(),
                bmc: bmc.into(),
                port,
                cipher,
            }))
        };
        assert_eq!(
            ConsoleSource::parse("ipmi-sol:ADMIN@k10-bmc.mgmt"),
            sol("ADMIN", "k10-bmc.mgmt", 623, 17)
        );
        assert_eq!(
            ConsoleSource::parse("ipmi-sol:e2et@127.0.0.1:9623?cipher=3"),
            sol("e2et", "127.0.0.1", 9623, 3)
        );
        for bad in [
            "ipmi-sol:bmc",
            "ipmi-sol:@bmc",
            "ipmi-sol:a@",
            "ipmi-sol:a@bmc:0",
            "ipmi-sol:a@bmc:x",
            "ipmi-sol:a@bmc?cipher=18",
            "ipmi-sol:a@bmc?password=x",
            "ipmi-sol:a b@bmc",
            "ipmi-sol:a@b;rm",
            "serial:ttyS0",
            "tcp:termsrv",
            "tcp::7001",
            "tcp:h:0",
            "unix:rel/path",
        ] {
            let mut v = sample();
            v["hosts"]["a"]["consoleCapture"] = bad.into();
            let e = errors_of(v);
            assert_eq!(
                (e[0].subject.as_str(), e[0].field.as_str()),
                ("host a", "consoleCapture"),
                "{bad}"
            );
            assert!(e[0].problem.contains(bad), "{}", e[0]);
        }
    }

    #[test]
    fn snmp_settings_are_checked() {
        let mut v = sample();
        v["pdus"]["apc"]["snmp"]["version"] = "2c".into();
        let e = errors_of(v);
        assert_eq!(
            (e[0].subject.as_str(), e[0].field.as_str()),
            ("pdu apc", "snmp.version")
        );
        assert!(e[0].problem.contains("allowInsecure"));
        let mut v = sample();
        v["pdus"]["apc"]["snmp"]["privProtocol"] = serde_json::Value::Null;
        let e = errors_of(v);
        assert_eq!(e[0].field, "snmp.privProtocol");
        let mut v = sample();
        v["pdus"]["apc"]["snmp"]["authProtocol"] = "SHA512".into();
        assert_eq!(errors_of(v)[0].field, "snmp.authProtocol");
        let mut v = sample();
        v["pdus"]["apc"].as_object_mut().unwrap().remove("snmp");
        assert_eq!(errors_of(v)[0].field, "snmp");
    }

    #[test]
    fn profile_is_merged_under_the_hosts_own_expectations() {
        let mut v = sample();
        v["profiles"] = serde_json::json!({
            "aaa": {"identity": {"sssd": true, "users": ["alice"], "breakGlass": "rescue"},
                    "service": {"required": ["sshd|ssh", "sssd"]},
                    "firstBoot": {"timeSync": false}}
        });
        v["hosts"]["a"]["profile"] = "aaa".into();
        v["hosts"]["a"]["expect"] = serde_json::json!({"identity": {"users": ["bob"]}, "cpus": 4});
        v["hosts"]["b"]["profile"] = "aaa".into();
        let inv = Inventory::from_json(&v.to_string()).unwrap();
        let a = &inv.hosts["a"].expect;
        assert!(a.identity.sssd, "profile field kept");
        assert_eq!(
            a.identity.users,
            vec!["bob".to_string()],
            "host list replaces"
        );
        assert_eq!(a.identity.break_glass.as_deref(), Some("rescue"));
        assert_eq!(a.cpus, Some(4));
        assert!(!a.first_boot.time_sync);
        assert!(a.first_boot.ssh, "unset fields keep their defaults");
        let b = &inv.hosts["b"].expect;
        assert_eq!(b.identity.users, vec!["alice".to_string()]);
        assert_eq!(b.cpus, Some(2), "b's own expect stays");
        assert_eq!(b.service.required.len(), 2);
        // Parsing what the inventory serialises gives the same hosts (the
        // merge is idempotent).
        let again = Inventory::from_json(&serde_json::to_string(&inv).unwrap()).unwrap();
        assert_eq!(again.hosts, inv.hosts);
    }

    #[test]
    fn unknown_profile_and_bad_profile_field_are_named() {
        let mut v = sample();
        v["hosts"]["a"]["profile"] = "nope".into();
        v["profiles"] = serde_json::json!({"lab": {}, "bad": {"identity": {"sssdd": true}}});
        let e = errors_of(v);
        assert!(
            e.iter().any(|e| e.subject == "host a"
                && e.field == "profile"
                && e.problem
                    .contains("\"nope\" is not defined (defined: bad, lab)")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|e| e.subject == "profile bad" && e.problem.contains("unknown field `sssdd`")),
            "{e:?}"
        );
    }

    #[test]
    fn smoke_checks_are_validated() {
        let mut v = sample();
        v["hosts"]["a"]["expect"] = serde_json::json!({"service": {"smoke": [
            {"name": "web", "http": {"url": "ftp://x"}},
            {"name": "web", "tcp": "db:5432"},
            {"name": "both", "tcp": "x:1", "command": ["true"]},
            {"name": "port", "tcp": "nohost", "timeoutS": 0}
        ]}});
        let e = errors_of(v);
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert!(
            fields.contains(&"expect.service.smoke[0].http.url"),
            "{fields:?}"
        );
        assert!(
            fields.contains(&"expect.service.smoke[1].name"),
            "{fields:?}"
        );
        assert!(fields.contains(&"expect.service.smoke[2]"), "{fields:?}");
        assert!(
            fields.contains(&"expect.service.smoke[3].tcp"),
            "{fields:?}"
        );
        assert!(
            fields.contains(&"expect.service.smoke[3].timeoutS"),
            "{fields:?}"
        );
    }

    #[test]
    fn relative_persistent_path_is_refused() {
        let mut v = sample();
        v["hosts"]["b"]["expect"]["persistentPaths"] = serde_json::json!(["var/lib/sss"]);
        let e = errors_of(v);
        assert_eq!(e[0].field, "expect.persistentPaths[0]");
    }
}
