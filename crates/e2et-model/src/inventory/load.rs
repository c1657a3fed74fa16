//! Reading an inventory: parse, merge each host onto its profile, validate.
use super::*;

/// Every string (and key) holding a control character, by its JSON path.
fn control_characters(v: &serde_json::Value, path: &str, errs: &mut Vec<InventoryError>) {
    let bad = |s: &str| s.chars().find(|c| c.is_control());
    let report = |errs: &mut Vec<InventoryError>, at: String, c: char| {
        errs.push(err(
            "inventory".into(),
            &at,
            format!(
                "contains the control character U+{:04X}: newlines and control characters never reach dnsmasq's configuration, a file name or a terminal",
                c as u32
            ),
        ))
    };
    match v {
        serde_json::Value::String(s) => {
            if let Some(c) = bad(s) {
                report(errs, path.to_string(), c);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                control_characters(x, &format!("{path}[{i}]"), errs);
            }
        }
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                let at = if path.is_empty() {
                    k.escape_debug().to_string()
                } else {
                    format!("{path}.{}", k.escape_debug())
                };
                if let Some(c) = bad(k) {
                    report(errs, format!("{at} (the name)"), c);
                }
                control_characters(x, &at, errs);
            }
        }
        _ => {}
    }
}

/// A DNS name: letters, digits, '-' and '.', no empty label.
fn dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
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
        // Inventory strings reach dnsmasq's configuration, file names and
        // operators' terminals: none may carry a newline or another control
        // character (one line could add a dnsmasq option, one escape could
        // rewrite a terminal).
        control_characters(&doc, "", &mut errs);
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
        if !dns_name(&self.site.domain) {
            errs.push(err(
                "inventory".into(),
                "site.domain",
                format!(
                    "{:?} is not a DNS domain (letters, digits, '-', dots between labels)",
                    self.site.domain
                ),
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
            // Its secrets are read from files named after it (pdu-<name>-auth).
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                errs.push(err(
                    subject.clone(),
                    "name",
                    "PDU names use letters, digits, '-' and '_' only (they name credential files)"
                        .into(),
                ));
            }
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
            if !h.fqdn.contains('.') || !dns_name(&h.fqdn) {
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
            if let Some(Err(e)) = h.bmc.as_deref().map(BmcSource::parse) {
                errs.push(err(subject.clone(), "bmc", e));
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
