//! network: interfaces (MAC, state, speed, MTU, kind, VLAN), addresses,
//! routes, the resolver configuration, and forward/reverse DNS of the host's
//! primary identity through its own resolver.
use crate::root::Root;
use crate::sys;
use e2et_model::facts::*;
use e2et_model::Observed;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const DNS_TIMEOUT: Duration = Duration::from_secs(3);

/// Interface name → (IPv4 with prefix, IPv6 with prefix).
pub type Addrs = BTreeMap<String, (Vec<String>, Vec<String>)>;

fn live_addrs() -> Observed<Addrs> {
    let addrs = match nix::ifaddrs::getifaddrs() {
        Ok(a) => a,
        Err(e) => return Observed::err(format!("getifaddrs: {e}")),
    };
    let mut out: Addrs = BTreeMap::new();
    for a in addrs {
        let (Some(addr), Some(mask)) = (a.address, a.netmask) else {
            continue;
        };
        let e = out.entry(a.interface_name).or_default();
        if let (Some(ip), Some(m)) = (addr.as_sockaddr_in(), mask.as_sockaddr_in()) {
            e.0.push(format!("{}/{}", ip.ip(), u32::from(m.ip()).count_ones()));
        } else if let (Some(ip), Some(m)) = (addr.as_sockaddr_in6(), mask.as_sockaddr_in6()) {
            e.1.push(format!("{}/{}", ip.ip(), u128::from(m.ip()).count_ones()));
        }
    }
    Observed::ok(out)
}

/// /proc/net/vlan/config: `eth0.100 | 100 | eth0` rows after two header lines.
pub fn parse_vlan_config(s: &str) -> BTreeMap<String, Vlan> {
    s.lines()
        .skip(2)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('|').map(str::trim).collect();
            (f.len() == 3).then(|| {
                Some((
                    f[0].to_string(),
                    Vlan {
                        id: f[1].parse().ok()?,
                        parent: f[2].to_string(),
                    },
                ))
            })?
        })
        .collect()
}

fn mask_prefix(mask_le_hex: &str) -> Option<u32> {
    Some(u32::from_str_radix(mask_le_hex, 16).ok()?.count_ones())
}

fn le_ipv4(h: &str) -> Option<std::net::Ipv4Addr> {
    Some(std::net::Ipv4Addr::from(
        u32::from_str_radix(h, 16).ok()?.to_le_bytes(),
    ))
}

/// /proc/net/route (IPv4).
pub fn parse_route(s: &str) -> Vec<Route> {
    s.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            let flags = u32::from_str_radix(f[3], 16).ok()?;
            if flags & 0x1 == 0 {
                return None; // not RTF_UP
            }
            let dest = le_ipv4(f[1])?;
            let gw = le_ipv4(f[2])?;
            Some(Route {
                destination: format!("{dest}/{}", mask_prefix(f[7])?),
                gateway: (flags & 0x2 != 0).then(|| gw.to_string()),
                interface: f[0].to_string(),
                metric: f[6].parse().unwrap_or(0),
            })
        })
        .collect()
}

fn hex_ipv6(h: &str) -> Option<std::net::Ipv6Addr> {
    Some(std::net::Ipv6Addr::from(u128::from_str_radix(h, 16).ok()?))
}

/// /proc/net/ipv6_route: unicast routes of real interfaces.
pub fn parse_ipv6_route(s: &str) -> Vec<Route> {
    s.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 10 || f[9] == "lo" {
                return None;
            }
            let dest = hex_ipv6(f[0])?;
            let plen = u32::from_str_radix(f[1], 16).ok()?;
            let gw = hex_ipv6(f[4])?;
            let flags = u32::from_str_radix(f[8], 16).ok()?;
            if flags & 0x1 == 0 || dest.segments()[0] & 0xff00 == 0xff00 {
                return None;
            }
            Some(Route {
                destination: format!("{dest}/{plen}"),
                gateway: (flags & 0x2 != 0 && !gw.is_unspecified()).then(|| gw.to_string()),
                interface: f[9].to_string(),
                metric: u32::from_str_radix(f[5], 16).unwrap_or(0),
            })
        })
        .collect()
}

pub fn parse_resolv_conf(s: &str) -> Resolver {
    let mut r = Resolver::default();
    for l in s.lines() {
        let mut w = l.split_whitespace();
        match w.next() {
            Some("nameserver") => r.nameservers.extend(w.next().map(str::to_string)),
            Some("search") | Some("domain") => {
                r.search = w.map(str::to_string).collect();
            }
            _ => {}
        }
    }
    r
}

fn kind(root: &Root, name: &str, vlans: &BTreeMap<String, Vlan>) -> String {
    let base = format!("/sys/class/net/{name}");
    if vlans.contains_key(name) {
        "vlan"
    } else if root.is_dir(&format!("{base}/bridge")) {
        "bridge"
    } else if root.is_dir(&format!("{base}/bonding")) {
        "bond"
    } else if root.exists(&format!("{base}/device")) {
        "physical"
    } else {
        "virtual"
    }
    .into()
}

/// DNS lookups of the primary identity: the spec's FQDN and IP when given,
/// else the host's own name and global IPv4 addresses. Run in parallel,
/// each bounded.
fn dns(root: &Root, names: Vec<String>, ips: Vec<String>) -> Vec<DnsLookup> {
    let jobs: Vec<(&str, String)> = names
        .into_iter()
        .map(|n| ("forward", n))
        .chain(ips.into_iter().map(|i| ("reverse", i)))
        .collect();
    std::thread::scope(|s| {
        let hs: Vec<_> = jobs
            .into_iter()
            .map(|(kind, q)| {
                s.spawn(move || {
                    let t = Instant::now();
                    let key = format!("resolve:{kind}:{q}");
                    let qq = q.clone();
                    let answers = root.live_op(&key, move || {
                        let r =
                            sys::with_timeout(DNS_TIMEOUT, &format!("{kind} lookup of {qq}"), {
                                let qq = qq.clone();
                                move || {
                                    if kind == "forward" {
                                        sys::forward(&qq)
                                    } else {
                                        sys::reverse(&qq)
                                    }
                                }
                            });
                        r.and_then(|r| r).into()
                    });
                    DnsLookup {
                        kind: kind.to_string(),
                        query: q,
                        answers,
                        elapsed_ms: t.elapsed().as_secs_f64() * 1000.0,
                    }
                })
            })
            .collect();
        hs.into_iter().filter_map(|h| h.join().ok()).collect()
    })
}

pub struct Identity<'a> {
    pub fqdn: Option<&'a str>,
    pub ip: Option<&'a str>,
}

pub fn collect(
    root: &Root,
    id: &Identity<'_>,
    own_fqdn: Option<&str>,
) -> Result<NetworkFacts, String> {
    let names = root.list("/sys/class/net");
    if names.is_empty() {
        return Err("no interfaces under /sys/class/net".into());
    }
    let vlans = root
        .read("/proc/net/vlan/config")
        .map(|s| parse_vlan_config(&s))
        .unwrap_or_default();
    let addrs = root.live_op("getifaddrs", live_addrs);
    let mut interfaces = Vec::new();
    for name in names {
        if name == "lo" {
            continue;
        }
        let base = format!("/sys/class/net/{name}");
        let a = addrs
            .value()
            .map(|m| m.get(&name).cloned().unwrap_or_default());
        interfaces.push(Interface {
            mac: root.line(&format!("{base}/address")).unwrap_or_default(),
            operstate: root
                .line(&format!("{base}/operstate"))
                .unwrap_or_else(|| "unknown".into()),
            carrier: root.line(&format!("{base}/carrier")).map(|s| s == "1"),
            mtu: root
                .line(&format!("{base}/mtu"))
                .and_then(|s| s.parse().ok()),
            speed_mbps: root
                .line(&format!("{base}/speed"))
                .and_then(|s| s.parse::<i64>().ok())
                .filter(|s| *s > 0)
                .and_then(|s| u32::try_from(s).ok()),
            kind: kind(root, &name, &vlans),
            vlan: vlans.get(&name).cloned(),
            ipv4: a.as_ref().map(|a| a.0.clone()),
            ipv6: a.map(|a| a.1),
            name,
        });
    }
    let mut routes = root
        .read("/proc/net/route")
        .map(|s| parse_route(&s))
        .unwrap_or_default();
    routes.extend(
        root.read("/proc/net/ipv6_route")
            .map(|s| parse_ipv6_route(&s))
            .unwrap_or_default(),
    );
    let resolver = root
        .read("/etc/resolv.conf")
        .map(|s| parse_resolv_conf(&s))
        .unwrap_or_default();
    let fwd: Vec<String> = id
        .fqdn
        .or(own_fqdn)
        .map(|s| vec![s.to_string()])
        .unwrap_or_default();
    let rev: Vec<String> = match id.ip {
        Some(ip) => vec![ip.to_string()],
        None => interfaces
            .iter()
            .flat_map(|i| i.ipv4.iter().flatten())
            .filter_map(|a| a.split('/').next())
            .filter(|a| !a.starts_with("127.") && !a.starts_with("169.254."))
            .take(2)
            .map(str::to_string)
            .collect(),
    };
    Ok(NetworkFacts {
        interfaces,
        routes,
        resolver,
        dns: dns(root, fwd, rev),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_routes_default_and_connected() {
        let s =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t0100630A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
eth0\t0000630A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let r = parse_route(s);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].destination, "0.0.0.0/0");
        assert_eq!(r[0].gateway.as_deref(), Some("10.99.0.1"));
        assert_eq!(r[1].destination, "10.99.0.0/24");
        assert_eq!(r[1].gateway, None);
    }

    #[test]
    fn ipv6_default_route() {
        let s = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth0\n\
ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000003 00000000 00000001     eth0\n\
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000001 00000000 80200001       lo\n";
        let r = parse_ipv6_route(s);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].destination, "::/0");
        assert_eq!(r[0].gateway.as_deref(), Some("fe80::1"));
        assert_eq!(r[0].metric, 1024);
    }

    #[test]
    fn vlan_config_and_resolv_conf() {
        let v = parse_vlan_config("VLAN Dev name\t | VLAN ID\nName-Type: VLAN_NAME_TYPE_RAW_PLUS_VID_NO_PAD\neth0.100       | 100  | eth0\n");
        assert_eq!(
            v["eth0.100"],
            Vlan {
                id: 100,
                parent: "eth0".into()
            }
        );
        let r = parse_resolv_conf(
            "# x\nnameserver 10.99.0.1\nnameserver ::1\nsearch lab.e2et.test e2et.test\n",
        );
        assert_eq!(r.nameservers, vec!["10.99.0.1", "::1"]);
        assert_eq!(r.search, vec!["lab.e2et.test", "e2et.test"]);
    }
}
