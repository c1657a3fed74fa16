use super::*;

#[test]
fn sssd_conf_domains_and_services() {
    let ini = parse_ini(
            "[sssd]\nservices = nss, pam, sudo, ssh\ndomains = lab.e2et.test, other\n\n\
             [domain/lab.e2et.test]\nid_provider = ipa\nipa_domain = lab.e2et.test\nipa_server = _srv_, ipa.lab.e2et.test\nkrb5_realm = LAB.E2ET.TEST\ncache_credentials = True\n\
             # a comment\n[domain/other]\nid_provider = ldap\n",
        );
    let c = sssd_conf_from(&ini, "/etc/sssd/sssd.conf", "0600".into(), 0);
    assert_eq!(c.services, vec!["nss", "pam", "sudo", "ssh"]);
    assert_eq!(c.domains.len(), 2);
    assert!(c.domains[0].cache_credentials);
    assert_eq!(c.domains[0].krb5_realm.as_deref(), Some("LAB.E2ET.TEST"));
    assert!(!c.domains[1].cache_credentials);
}

#[test]
fn online_status_and_nsswitch() {
    assert_eq!(parse_online_status("Online status: Online\n\n"), Some(true));
    assert_eq!(parse_online_status("Online status: Offline\n"), Some(false));
    assert_eq!(
        parse_online_status("Unable to connect to system bus!"),
        None
    );
    let n = parse_nsswitch("passwd: files systemd sss\ngroup:  files [SUCCESS=merge] sss\nsudoers: files sss # via sssd\n");
    assert_eq!(n.passwd, vec!["files", "systemd", "sss"]);
    assert_eq!(n.group, vec!["files", "sss"]);
    assert_eq!(n.sudoers, vec!["files", "sss"]);
}

fn keytab_v2(entries: &[(&[&str], &str, u32, u16)]) -> Vec<u8> {
    let mut b = vec![5u8, 2];
    for (comps, realm, kvno, et) in entries {
        let mut e = Vec::new();
        e.extend((comps.len() as u16).to_be_bytes());
        e.extend((realm.len() as u16).to_be_bytes());
        e.extend(realm.as_bytes());
        for c in *comps {
            e.extend((c.len() as u16).to_be_bytes());
            e.extend(c.as_bytes());
        }
        e.extend(1u32.to_be_bytes()); // KRB5_NT_PRINCIPAL
        e.extend(1_700_000_000u32.to_be_bytes());
        e.push((*kvno & 0xff) as u8);
        e.extend(et.to_be_bytes());
        e.extend(32u16.to_be_bytes());
        e.extend([0u8; 32]);
        e.extend(kvno.to_be_bytes());
        b.extend((e.len() as i32).to_be_bytes());
        b.extend(e);
    }
    // A hole left by a removed entry.
    b.extend((-8i32).to_be_bytes());
    b.extend([0u8; 8]);
    b
}

#[test]
fn keytab_entries() {
    let b = keytab_v2(&[
        (&["host", "k10.lab.e2et.test"], "LAB.E2ET.TEST", 2, 18),
        (&["host", "k10.lab.e2et.test"], "LAB.E2ET.TEST", 300, 17),
    ]);
    let e = parse_keytab(&b).unwrap();
    assert_eq!(e.len(), 2);
    assert_eq!(e[0].principal, "host/k10.lab.e2et.test@LAB.E2ET.TEST");
    assert_eq!((e[0].kvno, e[0].enctype), (2, 18));
    assert_eq!(e[1].kvno, 300, "the 32-bit kvno wins over the 8-bit one");
    assert!(parse_keytab(b"\x05\x09").is_err());
    let mut secret = b.clone();
    let at = secret.windows(32).position(|w| w == [0u8; 32]).unwrap();
    secret[at] = 0x77;
    let anon = anonymise_keytab(&secret).unwrap();
    assert_eq!(anon, b, "only the key bytes change");
    assert_eq!(parse_keytab(&anon).unwrap(), e);
    assert!(parse_keytab(&b[..20]).is_err());
}

#[test]
fn shadow_password_states() {
    assert_eq!(password_state(Some("$6$salt$hash")), "hash");
    assert_eq!(password_state(Some("!$6$salt$hash")), "locked");
    assert_eq!(password_state(Some("*")), "locked");
    assert_eq!(password_state(Some("")), "empty");
    assert_eq!(password_state(None), "no_shadow_entry");
}
