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
fn bmc_is_ipmi_or_a_qmp_socket() {
    let mut v = sample();
    v["hosts"]["a"]["bmc"] = "ipmi:ADMIN@k10-bmc.mgmt?cipher=3".into();
    v["hosts"]["b"]["bmc"] = "qmp:/run/vm1.qmp".into();
    let inv = Inventory::from_json(&v.to_string()).unwrap();
    assert_eq!(
        BmcSource::parse(inv.hosts["a"].bmc.as_deref().unwrap()),
        Ok(BmcSource::Ipmi(IpmiSol {
            user: "ADMIN".into(),
            bmc: "k10-bmc.mgmt".into(),
            port: 623,
            cipher: 3,
        }))
    );
    assert_eq!(
        BmcSource::parse(inv.hosts["b"].bmc.as_deref().unwrap()),
        Ok(BmcSource::Qmp("/run/vm1.qmp".into()))
    );
    for bad in [
        "ipmi:bmc",
        "ipmi:a@bmc:0",
        "ipmi-sol:a@bmc",
        "qmp:rel.qmp",
        "redfish:bmc",
    ] {
        let mut v = sample();
        v["hosts"]["a"]["bmc"] = bad.into();
        let e = errors_of(v);
        assert_eq!(
            (e[0].subject.as_str(), e[0].field.as_str()),
            ("host a", "bmc"),
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

#[test]
fn control_characters_never_reach_a_config_file_or_a_terminal() {
    let mut v = sample();
    // One line more in dnsmasq's configuration, via the site's name.
    v["site"]["name"] = "lab\ndhcp-option=3,10.6.6.6".into();
    // A terminal escape in a host's console path.
    v["hosts"]["a"]["console"] = "serial\u{1b}]2;owned\u{7}".into();
    // In a key, too.
    v["profiles"]["la\rb"] = serde_json::json!({});
    let e = errors_of(v);
    let at = |f: &str| {
        e.iter()
            .find(|x| x.field == f)
            .unwrap_or_else(|| panic!("no error at {f}: {e:?}"))
    };
    assert!(at("site.name").problem.contains("U+000A"), "{e:?}");
    assert!(at("hosts.a.console").problem.contains("U+001B"), "{e:?}");
    assert!(
        at("profiles.la\\rb (the name)").problem.contains("U+000D"),
        "{e:?}"
    );
}

#[test]
fn names_that_become_file_names_or_dns_names_are_checked() {
    let mut v = sample();
    let p1 = v["pdus"]["p1"].clone();
    v["pdus"]["../../etc/shadow"] = p1;
    v["site"]["domain"] = "lab test".into();
    v["hosts"]["a"]["fqdn"] = "a.lab.test;reboot".into();
    let e = errors_of(v);
    let fields: Vec<(&str, &str)> = e
        .iter()
        .map(|x| (x.subject.as_str(), x.field.as_str()))
        .collect();
    for want in [
        ("pdu ../../etc/shadow", "name"),
        ("inventory", "site.domain"),
        ("host a", "fqdn"),
    ] {
        assert!(fields.contains(&want), "{want:?} not in {fields:?}");
    }
}
