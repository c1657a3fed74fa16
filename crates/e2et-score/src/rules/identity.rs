//! identity: SSSD running (a hard check on an AAA profile), its
//! configuration private, its domains online, directory users resolvable,
//! offline credential caching, the keytab, IPA enrolment, sudo and SSH keys
//! through SSSD, the break-glass local account.
use super::{join_or, C};
use e2et_model::check::{Check, Gate};
use e2et_model::facts::{Facts, SssdConf};
use e2et_model::inventory::HostSpec;
use e2et_model::Observed;

const G: Gate = Gate::Identity;

fn private(mode: &str) -> bool {
    u32::from_str_radix(mode, 8).is_ok_and(|m| m & 0o077 == 0)
}

pub fn checks(spec: &HostSpec, facts: &Facts, out: &mut Vec<Check>) {
    let id = &facts.identity;
    let e = &spec.expect.identity;
    let running = C::new("identity.sssd.running", "sssd is running", G).hard_if(e.sssd);
    if !e.sssd {
        out.push(running.off(spec, "SSSD (no AAA domain)"));
    } else {
        out.push(running.compare(
            !id.sssd_pids.is_empty(),
            "sssd running".into(),
            if id.sssd_pids.is_empty() {
                "no sssd process".into()
            } else {
                format!("sssd pid(s) {:?}", id.sssd_pids)
            },
            "process table".into(),
        ));
        out.push(
            C::new(
                "identity.sssd.conf_mode",
                "sssd.conf present, owned by root, mode 0600",
                G,
            )
            .require(&id.sssd_conf, "root:0600", |c, conf| {
                c.compare(
                    conf.owner_uid == 0 && private(&conf.mode),
                    "owner uid 0, no group/other access (0600)".into(),
                    format!("owner uid {}, mode {}", conf.owner_uid, conf.mode),
                    format!("stat {}", conf.path),
                )
            }),
        );
        let conf: Option<&SssdConf> = id.sssd_conf.value();
        let domains: Vec<String> = if e.domains.is_empty() {
            conf.map(|c| c.domains.iter().map(|d| d.name.clone()).collect())
                .unwrap_or_default()
        } else {
            e.domains.clone()
        };
        if domains.is_empty() {
            out.push(
                C::new("identity.sssd.domains", "SSSD has a domain", G).compare(
                    false,
                    "at least one domain".into(),
                    id.sssd_conf
                        .why_not()
                        .unwrap_or_else(|| "[sssd] domains is empty".into()),
                    "/etc/sssd/sssd.conf".into(),
                ),
            );
        }
        for d in &domains {
            let c = C::new(
                format!("identity.sssd.domain_online:{d}"),
                format!("SSSD domain {d} is online"),
                G,
            );
            out.push(match id.domain_status.iter().find(|s| &s.domain == d) {
                None => c.compare(
                    false,
                    "online".into(),
                    format!(
                        "not configured (domains: {})",
                        join_or(
                            &conf
                                .map(|c| c
                                    .domains
                                    .iter()
                                    .map(|d| d.name.clone())
                                    .collect::<Vec<_>>())
                                .unwrap_or_default(),
                            "none"
                        )
                    ),
                    "/etc/sssd/sssd.conf [sssd] domains".into(),
                ),
                Some(s) => c.over(&s.online, "online", |c, on| {
                    c.compare(
                        *on,
                        "online".into(),
                        if *on { "online" } else { "offline" }.into(),
                        format!("sssctl domain-status -o {d}: {}", s.detail),
                    )
                }),
            });
        }
        if e.offline_cache {
            out.push(
                C::new(
                    "identity.sssd.offline_cache",
                    "offline credential caching in every domain",
                    G,
                )
                .weight(5)
                .require(&id.sssd_conf, "cache_credentials = true", |c, conf| {
                    let off: Vec<String> = conf
                        .domains
                        .iter()
                        .filter(|d| !d.cache_credentials)
                        .map(|d| d.name.clone())
                        .collect();
                    c.compare(
                        off.is_empty() && !conf.domains.is_empty(),
                        "cache_credentials = true in every domain".into(),
                        if off.is_empty() {
                            "enabled in every domain".into()
                        } else {
                            format!("disabled in {}", off.join(", "))
                        },
                        format!("{} [domain/*] cache_credentials", conf.path),
                    )
                }),
            );
        }
        if e.sudo_sss {
            let ns = id.nsswitch.value();
            let sudoers = ns.map(|n| n.sudoers.clone()).unwrap_or_default();
            let services = conf.map(|c| c.services.clone()).unwrap_or_default();
            out.push(
                C::new("identity.sudo.sss", "sudo rules come from SSSD", G)
                    .weight(5)
                    .compare(
                        sudoers.iter().any(|s| s == "sss") && services.iter().any(|s| s == "sudo"),
                        "nsswitch sudoers: ... sss; sssd services include sudo".into(),
                        format!(
                            "sudoers: {}; sssd services: {}",
                            join_or(&sudoers, "(none)"),
                            join_or(&services, "(none)")
                        ),
                        "/etc/nsswitch.conf, /etc/sssd/sssd.conf".into(),
                    ),
            );
        }
        if e.ssh_keys_sss {
            let services = conf.map(|c| c.services.clone()).unwrap_or_default();
            out.push(
                C::new("identity.ssh.sss_keys", "SSH keys come from SSSD", G)
                    .weight(5)
                    .require(&id.sshd, "AuthorizedKeysCommand sss_ssh_authorizedkeys", |c, s| {
                        let cmd = s.authorized_keys_command.clone().unwrap_or_default();
                        c.compare(
                            s.via_sss
                                && s.command_present
                                && services.iter().any(|x| x == "ssh"),
                            "AuthorizedKeysCommand sss_ssh_authorizedkeys (present), sssd service ssh".into(),
                            format!(
                                "AuthorizedKeysCommand {}{}{}; sssd services: {}",
                                if cmd.is_empty() { "unset" } else { &cmd },
                                if s.command_present { "" } else { " (program missing)" },
                                if s.via_sss || cmd.is_empty() {
                                    ""
                                } else {
                                    " (does not run sss_ssh_authorizedkeys)"
                                },
                                join_or(&services, "(none)")
                            ),
                            "/etc/ssh/sshd_config (with Includes)".into(),
                        )
                    }),
            );
        }
    }
    for u in &e.users {
        let c = C::new(
            format!("identity.nss.user:{u}"),
            format!("directory user {u} resolves through NSS"),
            G,
        );
        out.push(match id.users.iter().find(|x| &x.name == u) {
            None => c.not_asked("resolvable", &format!("an NSS lookup of {u}")),
            Some(l) => {
                let srcs = id
                    .nsswitch
                    .value()
                    .map(|n| n.passwd.join(" "))
                    .unwrap_or_default();
                c.over(&l.entry, "resolvable", |c, p| {
                    c.compare(
                        p.is_some(),
                        "resolvable".into(),
                        p.as_ref().map_or_else(
                            || format!("not found through NSS (passwd: {srcs})"),
                            |p| {
                                format!(
                                    "uid {} gid {} home {} shell {}",
                                    p.uid, p.gid, p.home, p.shell
                                )
                            },
                        ),
                        format!("getpwnam({u}) via passwd: {srcs} in {:.1} ms", l.elapsed_ms),
                    )
                })
            }
        });
    }
    if e.keytab {
        let principal = format!("host/{}@", spec.fqdn);
        out.push(
            C::new(
                "identity.keytab",
                "the host keytab holds the host principal",
                G,
            )
            .require(
                &id.keytab,
                format!("{principal}REALM in a 0600 keytab"),
                |c, k| {
                    let has = k.entries.iter().any(|x| {
                        x.principal
                            .to_lowercase()
                            .starts_with(&principal.to_lowercase())
                    });
                    let mut ps: Vec<String> = k
                        .entries
                        .iter()
                        .map(|x| format!("{} (kvno {})", x.principal, x.kvno))
                        .collect();
                    ps.dedup();
                    c.compare(
                        has && private(&k.mode),
                        format!("{principal}REALM, mode 0600"),
                        format!("mode {}; {}", k.mode, join_or(&ps, "no entries")),
                        k.path.clone(),
                    )
                },
            ),
        );
    }
    if e.ipa {
        out.push(
            C::new(
                "identity.ipa.enrolled",
                "enrolled in FreeIPA as this host",
                G,
            )
            .require(&id.ipa, format!("host = {}", spec.fqdn), |c, i| {
                c.compare(
                    i.host
                        .as_deref()
                        .is_some_and(|h| h.eq_ignore_ascii_case(&spec.fqdn)),
                    format!("host = {}", spec.fqdn),
                    format!(
                        "host {}, realm {}, server {}",
                        i.host.as_deref().unwrap_or("unset"),
                        i.realm.as_deref().unwrap_or("unset"),
                        i.server.as_deref().unwrap_or("unset")
                    ),
                    "/etc/ipa/default.conf".into(),
                )
            }),
        );
    }
    if let Some(name) = &e.break_glass {
        let c = C::new(
            "identity.break_glass",
            "the break-glass local account is present and usable",
            G,
        );
        let asked = match &id.break_glass {
            Observed::NotApplicable { .. } => false,
            Observed::Ok { value } => &value.name == name,
            Observed::Error { .. } => true,
        };
        if !asked {
            out.push(c.not_asked(
                format!("{name}: local, login shell, usable credential"),
                &format!("the local account {name}"),
            ));
            return;
        }
        out.push(c.require(
            &id.break_glass,
            format!("{name}: local, login shell, usable credential"),
            |c, a| {
                let shell_ok = !a.shell.ends_with("nologin") && !a.shell.ends_with("/false");
                let cred_ok = a.password == "hash" || a.authorized_keys > 0;
                let mut bad = Vec::new();
                if !shell_ok {
                    bad.push(format!("shell {}", a.shell));
                }
                if !cred_ok {
                    bad.push(format!("password {} and no authorized key", a.password));
                }
                if a.expired {
                    bad.push("account expired".into());
                }
                if !a.home_exists {
                    bad.push(format!("home {} missing", a.home));
                }
                c.compare(
                    bad.is_empty(),
                    format!("{name}: local, login shell, password or key, not expired"),
                    if bad.is_empty() {
                        format!(
                            "uid {}, shell {}, password {}, {} key(s)",
                            a.uid, a.shell, a.password, a.authorized_keys
                        )
                    } else {
                        bad.join("; ")
                    },
                    "/etc/passwd, /etc/shadow, ~/.ssh/authorized_keys (files only, not NSS)".into(),
                )
            },
        ));
    }
}
