//! network: the management NIC (MAC, address, link, speed, MTU), VLANs,
//! the default route, and DNS forward and reverse of the primary identity.
use super::{join_or, C};
use e2et_model::check::{Check, Gate, Outcome};
use e2et_model::facts::{DnsLookup, Facts};
use e2et_model::inventory::{normalize_mac, HostSpec};

const G: Gate = Gate::Network;

fn lookup<'a>(facts: &'a Facts, kind: &str, q: &str) -> Option<&'a DnsLookup> {
    facts
        .network
        .dns
        .iter()
        .find(|d| d.kind == kind && d.query.eq_ignore_ascii_case(q))
}

pub fn checks(spec: &HostSpec, facts: &Facts, out: &mut Vec<Check>) {
    let n = &facts.network;
    let e = &spec.expect.network;
    let want_mac = normalize_mac(&spec.mac).unwrap_or_else(|| spec.mac.clone());
    let nic = n
        .interfaces
        .iter()
        .find(|i| normalize_mac(&i.mac).as_deref() == Some(want_mac.as_str()));
    let seen: Vec<String> = n
        .interfaces
        .iter()
        .map(|i| format!("{}={}", i.name, i.mac))
        .collect();
    out.push(
        C::new(
            "network.mgmt.mac",
            "management NIC with the inventory MAC present",
            G,
        )
        .hard()
        .compare(
            nic.is_some(),
            want_mac.clone(),
            nic.map_or_else(
                || format!("absent (seen: {})", seen.join(", ")),
                |n| format!("{} on {}", n.mac, n.name),
            ),
            "/sys/class/net/*/address".into(),
        ),
    );
    let ip_check = C::new(
        "network.mgmt.ip",
        "management NIC carries the inventory address",
        G,
    )
    .hard();
    match nic.map(|n| (n, n.ipv4.as_ref())) {
        None => out.push(ip_check.finish(
            Outcome::Fail,
            Some(spec.ip.clone()),
            Some("no management NIC".into()),
            "management NIC absent",
        )),
        Some((n, None)) => out.push(ip_check.finish(
            Outcome::NotRun {
                reason: format!("the probe could not read addresses of {}", n.name),
            },
            Some(spec.ip.clone()),
            Some("addresses not collected".into()),
            "addresses not collected",
        )),
        Some((n, Some(addrs))) => {
            let ok = addrs.iter().any(|a| a.split('/').next() == Some(&spec.ip));
            out.push(ip_check.compare(
                ok,
                spec.ip.clone(),
                if addrs.is_empty() {
                    "no IPv4 address".into()
                } else {
                    addrs.join(", ")
                },
                format!("getifaddrs on {}", n.name),
            ));
        }
    }
    if let Some(nic) = nic {
        out.push(
            C::new("network.mgmt.link", "management link is up", G)
                .weight(5)
                .compare(
                    nic.operstate == "up" || nic.carrier == Some(true),
                    "up (operstate up or carrier 1)".into(),
                    format!(
                        "operstate {}, carrier {}",
                        nic.operstate,
                        nic.carrier.map_or("unknown", |c| if c { "1" } else { "0" })
                    ),
                    format!(
                        "/sys/class/net/{0}/operstate, /sys/class/net/{0}/carrier",
                        nic.name
                    ),
                ),
        );
        if let Some(min) = e.min_speed_mbps {
            out.push(
                C::new(
                    "network.mgmt.speed",
                    "management link speed at least as declared",
                    G,
                )
                .weight(5)
                .compare(
                    nic.speed_mbps.is_some_and(|s| s >= min),
                    format!(">= {min} Mb/s"),
                    nic.speed_mbps
                        .map_or("unknown (the driver reports none)".into(), |s| {
                            format!("{s} Mb/s")
                        }),
                    format!("/sys/class/net/{}/speed", nic.name),
                ),
            );
        }
        if let Some(mtu) = e.mtu {
            out.push(
                C::new("network.mgmt.mtu", "management MTU as declared", G)
                    .weight(5)
                    .compare(
                        nic.mtu == Some(mtu),
                        mtu.to_string(),
                        nic.mtu.map_or("unknown".into(), |m| m.to_string()),
                        format!("/sys/class/net/{}/mtu", nic.name),
                    ),
            );
        }
    }
    for id in &e.vlans {
        let hit = n
            .interfaces
            .iter()
            .find(|i| i.vlan.as_ref().is_some_and(|v| v.id == *id));
        let all: Vec<String> = n
            .interfaces
            .iter()
            .filter_map(|i| {
                i.vlan
                    .as_ref()
                    .map(|v| format!("{} (vlan {} on {})", i.name, v.id, v.parent))
            })
            .collect();
        out.push(
            C::new(
                format!("network.vlan:{id}"),
                format!("VLAN {id} configured"),
                G,
            )
            .weight(5)
            .compare(
                hit.is_some(),
                format!("an interface for VLAN {id}"),
                hit.map_or_else(
                    || format!("absent (VLANs: {})", join_or(&all, "none")),
                    |i| format!("{} {}", i.name, i.operstate),
                ),
                "/proc/net/vlan/config".into(),
            ),
        );
    }
    let dr = C::new(
        "network.route.default",
        "a default route (via the declared gateway)",
        G,
    )
    .weight(5);
    if !e.default_route {
        out.push(dr.off(spec, "a default route"));
    } else {
        let defaults: Vec<String> = n
            .routes
            .iter()
            .filter(|r| r.destination == "0.0.0.0/0" || r.destination == "::/0")
            .map(|r| {
                format!(
                    "{} via {} dev {}",
                    r.destination,
                    r.gateway.as_deref().unwrap_or("(direct)"),
                    r.interface
                )
            })
            .collect();
        let ok = match &e.gateway {
            Some(g) => n.routes.iter().any(|r| {
                (r.destination == "0.0.0.0/0" || r.destination == "::/0")
                    && r.gateway.as_deref() == Some(g)
            }),
            None => !defaults.is_empty(),
        };
        out.push(
            dr.compare(
                ok,
                e.gateway
                    .as_ref()
                    .map_or("a default route".into(), |g| format!("default via {g}")),
                join_or(&defaults, "no default route"),
                "/proc/net/route, /proc/net/ipv6_route".into(),
            ),
        );
    }

    // DNS of the primary identity: a mismatch is a hard fail.
    let fwd = C::new(
        "network.dns.forward",
        "the FQDN resolves to the inventory address",
        G,
    )
    .hard_if(e.dns);
    let rev = C::new(
        "network.dns.reverse",
        "the inventory address resolves back to the FQDN",
        G,
    )
    .hard_if(e.dns);
    if !e.dns {
        out.push(fwd.off(spec, "DNS records"));
        out.push(rev.off(spec, "DNS records"));
        return;
    }
    let resolvers = join_or(&n.resolver.nameservers, "no nameserver");
    out.push(match lookup(facts, "forward", &spec.fqdn) {
        None => fwd.finish(
            Outcome::NotRun {
                reason: format!("the probe did not look up {}", spec.fqdn),
            },
            Some(spec.ip.clone()),
            Some("not looked up".into()),
            "no forward lookup in the facts",
        ),
        Some(l) => fwd.over(&l.answers, spec.ip.clone(), |c, a| {
            c.compare(
                a.contains(&spec.ip),
                format!("{} → {}", spec.fqdn, spec.ip),
                join_or(a, "no address"),
                format!(
                    "getaddrinfo({}) through the host's resolver ({resolvers}) in {:.1} ms",
                    spec.fqdn, l.elapsed_ms
                ),
            )
        }),
    });
    out.push(match lookup(facts, "reverse", &spec.ip) {
        None => rev.finish(
            Outcome::NotRun {
                reason: format!("the probe did not look up {}", spec.ip),
            },
            Some(spec.fqdn.clone()),
            Some("not looked up".into()),
            "no reverse lookup in the facts",
        ),
        Some(l) => rev.over(&l.answers, spec.fqdn.clone(), |c, a| {
            c.compare(
                a.iter().any(|n| {
                    n.trim_end_matches('.')
                        .eq_ignore_ascii_case(spec.fqdn.trim_end_matches('.'))
                }),
                format!("{} → {}", spec.ip, spec.fqdn),
                join_or(a, "no name"),
                format!(
                    "getnameinfo({}, NI_NAMEREQD) through the host's resolver ({resolvers}) in {:.1} ms",
                    spec.ip, l.elapsed_ms
                ),
            )
        }),
    });
}
