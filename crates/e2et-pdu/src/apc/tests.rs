use super::*;

#[test]
fn oids_match_powernet_mib() {
    assert_eq!(
        dotted(&oids::at(oids::RPDU_CONTROL, 3)),
        "1.3.6.1.4.1.318.1.1.12.3.3.1.1.4.3"
    );
    assert_eq!(
        dotted(&oids::at(oids::RPDU_STATE, 3)),
        "1.3.6.1.4.1.318.1.1.12.3.5.1.1.4.3"
    );
    assert_eq!(
        dotted(&oids::at(oids::RPDU_PENDING, 1)),
        "1.3.6.1.4.1.318.1.1.12.3.5.1.1.5.1"
    );
    assert_eq!(
        dotted(&oids::at(oids::SPDU_CTL, 2)),
        "1.3.6.1.4.1.318.1.1.4.4.2.1.3.2"
    );
    assert_eq!(dotted(oids::RPDU_MODEL), "1.3.6.1.4.1.318.1.1.12.1.5.0");
}

#[test]
fn debug_never_shows_passwords() {
    let a = SnmpAuth::V3 {
        user: "ops".into(),
        auth: AuthProto::Md5,
        auth_password: "s3cret-auth".into(),
        privacy: Some((PrivProto::Des, "s3cret-priv".into())),
    };
    let d = format!("{a:?}");
    assert!(!d.contains("s3cret"), "{d}");
    assert!(d.contains("MD5") && d.contains("DES") && d.contains("ops"));
}

#[tokio::test]
async fn unreachable_pdu_times_out_with_what_was_tried() {
    // A bound UDP socket that never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let d = ApcSnmpDriver::new(ApcConfig {
        name: "p".into(),
        address: silent.local_addr().unwrap().to_string(),
        auth: SnmpAuth::V3 {
            user: "ops".into(),
            auth: AuthProto::Sha,
            auth_password: "x".repeat(10),
            privacy: Some((PrivProto::Aes, "y".repeat(10))),
        },
        table: OutletTable::Rpdu,
        timeout: Duration::from_millis(100),
        retries: 1,
    });
    let e = d.status(1).await.unwrap_err().to_string();
    assert!(e.contains("no answer to engine discovery"), "{e}");
    assert!(e.contains("user ops, auth SHA, privacy AES"), "{e}");
}
