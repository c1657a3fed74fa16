//! identity: SSSD (running, configuration, domains online), NSS lookups of
//! directory users, the Kerberos keytab, FreeIPA enrolment, sudo and SSH keys
//! through SSSD, and the break-glass local account.
use crate::procs::Procs;
use crate::root::Root;
use crate::sys;
use e2et_model::facts::*;
use e2et_model::Observed;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const NSS_TIMEOUT: Duration = Duration::from_secs(5);
const CMD_TIMEOUT: Duration = Duration::from_secs(5);

/// An INI file as sssd.conf and /etc/ipa/default.conf use it: section →
/// key → value (keys lower-cased, later values win).
pub type Ini = BTreeMap<String, BTreeMap<String, String>>;

pub fn parse_ini(s: &str) -> Ini {
    let mut out: Ini = BTreeMap::new();
    let mut section = String::new();
    for l in s.lines() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        if let Some(name) = l.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            section = name.trim().to_string();
            out.entry(section.clone()).or_default();
            continue;
        }
        if let Some((k, v)) = l.split_once('=') {
            out.entry(section.clone())
                .or_default()
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    out
}

fn list(v: Option<&String>) -> Vec<String> {
    v.map(|s| {
        s.split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()
    })
    .unwrap_or_default()
}

fn truthy(v: Option<&String>) -> bool {
    v.is_some_and(|s| matches!(s.to_ascii_lowercase().as_str(), "true" | "yes" | "1"))
}

/// sssd.conf merged with its conf.d snippets → the facts.
pub fn sssd_conf_from(ini: &Ini, path: &str, mode: String, owner_uid: u32) -> SssdConf {
    let s = ini.get("sssd");
    let mut domains = Vec::new();
    for name in list(s.and_then(|m| m.get("domains"))) {
        let d = ini.get(&format!("domain/{name}"));
        let g = |k: &str| d.and_then(|m| m.get(k)).cloned();
        domains.push(SssdDomain {
            id_provider: g("id_provider"),
            auth_provider: g("auth_provider"),
            cache_credentials: truthy(d.and_then(|m| m.get("cache_credentials"))),
            krb5_realm: g("krb5_realm"),
            ipa_domain: g("ipa_domain"),
            ipa_server: g("ipa_server"),
            name,
        });
    }
    SssdConf {
        path: path.to_string(),
        mode,
        owner_uid,
        services: list(s.and_then(|m| m.get("services"))),
        domains,
    }
}

fn sssd_conf(root: &Root) -> Observed<SssdConf> {
    let path = "/etc/sssd/sssd.conf";
    if root.meta(path).is_none() {
        return Observed::na("no /etc/sssd/sssd.conf");
    }
    let Some(meta) = root.meta_follow(path) else {
        return Observed::err(format!("{path} is a dangling symlink"));
    };
    let text = match root.read(path) {
        Ok(t) => t,
        Err(e) => return Observed::err(format!("cannot read {path}: {e}")),
    };
    let mut ini = parse_ini(&text);
    // sssd reads conf.d/*.conf after the main file, in name order.
    for f in root.list("/etc/sssd/conf.d") {
        if f.ends_with(".conf") {
            if let Ok(t) = root.read(&format!("/etc/sssd/conf.d/{f}")) {
                for (sec, kv) in parse_ini(&t) {
                    ini.entry(sec).or_default().extend(kv);
                }
            }
        }
    }
    Observed::ok(sssd_conf_from(&ini, path, meta.mode_octal(), meta.uid))
}

/// `sssctl domain-status -o`: `Online status: Online|Offline`.
pub fn parse_online_status(s: &str) -> Option<bool> {
    s.lines()
        .find_map(|l| l.trim().strip_prefix("Online status:"))
        .map(|v| v.trim().eq_ignore_ascii_case("online"))
}

fn domain_status(root: &Root, procs: &Procs, conf: &Observed<SssdConf>) -> Vec<DomainStatus> {
    let Some(conf) = conf.value() else {
        return Vec::new();
    };
    let running = procs.running("sssd");
    if running && root.is_live() {
        // sssd notices an unreachable server only on its next request to it:
        // a name that cannot be in any cache makes that request now.
        let probe = format!(
            "e2et-online-check-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        );
        let _ = sys::with_timeout(NSS_TIMEOUT, "online check lookup", move || {
            sys::getpwnam(&probe)
        });
    }
    conf.domains
        .iter()
        .map(|d| {
            if !running {
                return DomainStatus {
                    domain: d.name.clone(),
                    online: Observed::err("sssd is not running"),
                    detail: String::new(),
                };
            }
            let out = root.command(&["sssctl", "domain-status", "-o", &d.name], CMD_TIMEOUT);
            let (online, detail) = match &out {
                Observed::Ok { value } => {
                    let text = format!("{}{}", value.stdout, value.stderr)
                        .trim()
                        .to_string();
                    match (value.success(), parse_online_status(&value.stdout)) {
                        (true, Some(o)) => (Observed::ok(o), text),
                        _ => (Observed::err(format!("sssctl: {text}")), text),
                    }
                }
                other => (
                    Observed::err(other.why_not().unwrap_or_default()),
                    String::new(),
                ),
            };
            DomainStatus {
                domain: d.name.clone(),
                online,
                detail,
            }
        })
        .collect()
}

/// nsswitch.conf sources per database, without the `[NOTFOUND=return]` actions.
pub fn parse_nsswitch(s: &str) -> NssSwitch {
    let mut n = NssSwitch::default();
    for l in s.lines() {
        let l = l.split('#').next().unwrap_or("").trim();
        let Some((db, srcs)) = l.split_once(':') else {
            continue;
        };
        let v: Vec<String> = srcs
            .split_whitespace()
            .filter(|w| !w.starts_with('['))
            .map(str::to_string)
            .collect();
        match db.trim() {
            "passwd" => n.passwd = v,
            "group" => n.group = v,
            "sudoers" => n.sudoers = v,
            _ => {}
        }
    }
    n
}

fn users(root: &Root, names: &[String], nss: &Observed<NssSwitch>) -> Vec<UserLookup> {
    let sources = nss
        .value()
        .map(|n| n.passwd.join(" "))
        .unwrap_or_else(|| "files (no nsswitch.conf)".into());
    names
        .iter()
        .map(|name| {
            let t = Instant::now();
            let n = name.clone();
            let srcs = sources.clone();
            let entry = root.live_op(
                &format!("nss:passwd:{name}"),
                move || match sys::with_timeout(NSS_TIMEOUT, &format!("getpwnam({n})"), {
                    let n = n.clone();
                    move || sys::getpwnam(&n)
                }) {
                    Ok(Ok(found)) => Observed::ok(found),
                    Ok(Err(e)) | Err(e) => Observed::err(format!("{e} (passwd: {srcs})")),
                },
            );
            UserLookup {
                name: name.clone(),
                entry,
                elapsed_ms: t.elapsed().as_secs_f64() * 1000.0,
            }
        })
        .collect()
}

/// The MIT keytab format (version 0x0502, big-endian; 0x0501 native order):
/// its entries' principals, key version numbers and enctypes.
pub fn parse_keytab(b: &[u8]) -> Result<Vec<KeytabEntry>, String> {
    Ok(keytab_entries(b)?.into_iter().map(|(e, _)| e).collect())
}

/// The keytab with every key's bytes zeroed (for fixtures: the principals,
/// versions and enctypes stay, the secrets go).
pub fn anonymise_keytab(b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = b.to_vec();
    for (_, keys) in keytab_entries(b)? {
        out[keys].iter_mut().for_each(|x| *x = 0);
    }
    Ok(out)
}

type KeyRange = std::ops::Range<usize>;

fn keytab_entries(b: &[u8]) -> Result<Vec<(KeytabEntry, KeyRange)>, String> {
    struct Rd<'a> {
        b: &'a [u8],
        p: usize,
        le: bool,
    }
    impl Rd<'_> {
        fn take(&mut self, n: usize) -> Result<&[u8], String> {
            let s = self
                .b
                .get(self.p..self.p + n)
                .ok_or_else(|| format!("keytab truncated at byte {}", self.p))?;
            self.p += n;
            Ok(s)
        }
        fn u16(&mut self) -> Result<u16, String> {
            let s: [u8; 2] = self.take(2)?.try_into().map_err(|_| "short")?;
            Ok(if self.le {
                u16::from_le_bytes(s)
            } else {
                u16::from_be_bytes(s)
            })
        }
        fn u32(&mut self) -> Result<u32, String> {
            let s: [u8; 4] = self.take(4)?.try_into().map_err(|_| "short")?;
            Ok(if self.le {
                u32::from_le_bytes(s)
            } else {
                u32::from_be_bytes(s)
            })
        }
        fn string(&mut self) -> Result<String, String> {
            let n = self.u16()? as usize;
            Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
        }
    }
    if b.len() < 2 || b[0] != 5 {
        return Err("not a keytab (no 0x05 format byte)".into());
    }
    let v = b[1];
    if v != 1 && v != 2 {
        return Err(format!("unsupported keytab version 5.{v}"));
    }
    let mut r = Rd {
        b,
        p: 2,
        le: v == 1 && cfg!(target_endian = "little"),
    };
    let mut out = Vec::new();
    while r.p < b.len() {
        let size = r.u32()? as i32;
        if size == 0 {
            break;
        }
        if size < 0 {
            r.take(size.unsigned_abs() as usize)?; // a hole left by a removed entry
            continue;
        }
        let end = r.p + size as usize;
        if end > b.len() {
            return Err(format!("keytab entry at byte {} runs past the end", r.p));
        }
        let mut n = r.u16()? as usize;
        if v == 1 {
            n = n.saturating_sub(1);
        }
        let realm = r.string()?;
        let comps: Vec<String> = (0..n).map(|_| r.string()).collect::<Result<_, _>>()?;
        if v == 2 {
            r.u32()?; // name type
        }
        r.u32()?; // timestamp
        let vno8 = r.take(1)?[0];
        let enctype = r.u16()? as i16;
        let klen = r.u16()? as usize;
        let key_at = r.p;
        r.take(klen)?;
        let kvno = if end - r.p >= 4 {
            r.u32()?
        } else {
            u32::from(vno8)
        };
        r.p = end;
        out.push((
            KeytabEntry {
                principal: format!("{}@{realm}", comps.join("/")),
                kvno,
                enctype: i32::from(enctype),
            },
            key_at..key_at + klen,
        ));
    }
    Ok(out)
}

fn keytab(root: &Root) -> Observed<Keytab> {
    let path = "/etc/krb5.keytab";
    if root.meta(path).is_none() {
        return Observed::na("no /etc/krb5.keytab");
    }
    let Some(meta) = root.meta_follow(path) else {
        return Observed::err(format!("{path} is a dangling symlink"));
    };
    match root.read_bytes(path) {
        Err(e) => Observed::err(format!("cannot read {path}: {e}")),
        Ok(b) => match parse_keytab(&b) {
            Ok(entries) => Observed::ok(Keytab {
                path: path.into(),
                mode: meta.mode_octal(),
                entries,
            }),
            Err(e) => Observed::err(format!("{path}: {e}")),
        },
    }
}

fn ipa(root: &Root) -> Observed<IpaConf> {
    let path = "/etc/ipa/default.conf";
    let Ok(t) = root.read(path) else {
        return Observed::na("no /etc/ipa/default.conf: not enrolled in FreeIPA");
    };
    let ini = parse_ini(&t);
    let g = ini.get("global");
    let f = |k: &str| g.and_then(|m| m.get(k)).cloned();
    let server = f("server").or_else(|| {
        f("xmlrpc_uri").and_then(|u| {
            u.split("://")
                .nth(1)
                .and_then(|r| r.split('/').next())
                .map(str::to_string)
        })
    });
    Observed::ok(IpaConf {
        realm: f("realm"),
        domain: f("domain"),
        server,
        host: f("host"),
    })
}

/// sshd_config values, first one wins (sshd's rule), following `Include`.
fn sshd_values(root: &Root, path: &str, depth: u32, out: &mut BTreeMap<String, String>) {
    let Ok(t) = root.read(path) else {
        return;
    };
    for l in t.lines() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (k, v) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
        let k = k.to_ascii_lowercase();
        if k == "match" {
            break; // the rest is conditional
        }
        if k == "include" && depth < 4 {
            for pat in v.split_whitespace() {
                let pat = if pat.starts_with('/') {
                    pat.to_string()
                } else {
                    format!("/etc/ssh/{pat}")
                };
                if let Some((dir, glob)) = pat.rsplit_once('/') {
                    let (pre, suf) = glob.split_once('*').unwrap_or((glob, ""));
                    for f in root.list(dir) {
                        if (glob.contains('*') && f.starts_with(pre) && f.ends_with(suf))
                            || f == glob
                        {
                            sshd_values(root, &format!("{dir}/{f}"), depth + 1, out);
                        }
                    }
                }
            }
            continue;
        }
        out.entry(k).or_insert_with(|| v.trim().to_string());
    }
}

fn sshd(root: &Root) -> Observed<SshdAuth> {
    if !root.exists("/etc/ssh/sshd_config") {
        return Observed::na("no /etc/ssh/sshd_config");
    }
    let mut v = BTreeMap::new();
    sshd_values(root, "/etc/ssh/sshd_config", 0, &mut v);
    let cmd = v
        .get("authorizedkeyscommand")
        .filter(|c| c.as_str() != "none")
        .cloned();
    let program = cmd
        .as_deref()
        .and_then(|c| c.split_whitespace().next())
        .map(str::to_string);
    let command_present = program
        .as_deref()
        .and_then(|p| root.meta_follow(p))
        .is_some_and(|m| m.mode & 0o111 != 0);
    // NixOS (services.sssd.sshAuthorizedKeysIntegration) names a small
    // wrapper script that execs sss_ssh_authorizedkeys.
    let via_sss = cmd
        .as_deref()
        .is_some_and(|c| c.contains("sss_ssh_authorizedkeys"))
        || program.as_deref().is_some_and(|p| {
            root.meta_follow(p).is_some_and(|m| m.len < 64 * 1024)
                && root
                    .read(p)
                    .is_ok_and(|t| t.starts_with("#!") && t.contains("sss_ssh_authorizedkeys"))
        });
    Observed::ok(SshdAuth {
        authorized_keys_command: cmd,
        authorized_keys_command_user: v.get("authorizedkeyscommanduser").cloned(),
        command_present,
        via_sss,
    })
}

/// The password state of a shadow hash field.
pub fn password_state(hash: Option<&str>) -> &'static str {
    match hash {
        None => "no_shadow_entry",
        Some("") => "empty",
        Some(h) if h.starts_with('!') || h.starts_with('*') => "locked",
        Some(_) => "hash",
    }
}

fn break_glass(root: &Root, name: Option<&str>) -> Observed<LocalAccount> {
    let Some(name) = name else {
        return Observed::na("the spec names no break-glass account");
    };
    let passwd = match root.read("/etc/passwd") {
        Ok(p) => p,
        Err(e) => return Observed::err(format!("cannot read /etc/passwd: {e}")),
    };
    let Some(f) = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 7 && f[0] == name)
    else {
        return Observed::err(format!("no local account {name} in /etc/passwd"));
    };
    let shadow = root.read("/etc/shadow").ok();
    let sh: Option<Vec<String>> = shadow.as_deref().and_then(|s| {
        s.lines()
            .map(|l| l.split(':').map(str::to_string).collect::<Vec<_>>())
            .find(|f| f.first().map(String::as_str) == Some(name))
    });
    let today = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86400)
        .unwrap_or(0);
    let expired = sh
        .as_ref()
        .and_then(|f| f.get(7))
        .and_then(|e| e.parse::<u64>().ok())
        .is_some_and(|e| e <= today);
    let home = f[5].to_string();
    let keys = root
        .read(&format!("{home}/.ssh/authorized_keys"))
        .map(|t| {
            t.lines()
                .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                .count() as u32
        })
        .unwrap_or(0);
    Observed::ok(LocalAccount {
        name: name.to_string(),
        uid: f[2].parse().unwrap_or(u32::MAX),
        shell: f[6].to_string(),
        home_exists: root.is_dir(&home),
        home,
        password: password_state(sh.as_ref().and_then(|f| f.get(1)).map(String::as_str)).into(),
        expired,
        authorized_keys: keys,
    })
}

pub struct Wanted<'a> {
    pub users: &'a [String],
    pub break_glass: Option<&'a str>,
}

pub fn collect(root: &Root, procs: &Procs, w: &Wanted<'_>) -> IdentityFacts {
    let sssd_conf = sssd_conf(root);
    let nsswitch: Observed<NssSwitch> = match root.read("/etc/nsswitch.conf") {
        Ok(t) => Observed::ok(parse_nsswitch(&t)),
        Err(_) => Observed::na("no /etc/nsswitch.conf (glibc defaults: files)"),
    };
    let users = users(root, w.users, &nsswitch);
    IdentityFacts {
        sssd_pids: procs.pids("sssd"),
        domain_status: domain_status(root, procs, &sssd_conf),
        sssd_conf,
        nsswitch,
        users,
        keytab: keytab(root),
        ipa: ipa(root),
        sshd: sshd(root),
        break_glass: break_glass(root, w.break_glass),
    }
}

#[cfg(test)]
mod tests;
