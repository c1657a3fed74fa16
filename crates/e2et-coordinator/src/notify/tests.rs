use super::*;

#[test]
fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
    // Reference from Python: hmac.new(b"Jefe", b'1700000000.{"a":1}', sha256).
    assert_eq!(
        sign("Jefe", "1700000000", br#"{"a":1}"#),
        "fa5f6481efc59da48b19c9dc10196c9953e5651f8304b3a318b6b87d70272e0a"
    );
}

#[test]
fn config_mistakes_are_named() {
    let d = tempfile::tempdir().unwrap();
    let cases = [
        (
            r#"{"targets":[{"kind":"ntfy","name":"a","url":"ftp://x/t","events":["run_failed"]}]}"#,
            "only http and https",
        ),
        (
            r#"{"targets":[{"kind":"ntfy","name":"a b","url":"http://x/t","events":["run_failed"]}]}"#,
            "must be non-empty",
        ),
        (
            r#"{"targets":[{"kind":"ntfy","name":"a","url":"http://x/t","events":[]}]}"#,
            "events is empty",
        ),
        (
            r#"{"targets":[{"kind":"webhook","name":"w","url":"http://x/h","events":["pdu_error"]}]}"#,
            "notify-w-secret",
        ),
        (
            r#"{"targets":[{"kind":"smtp","name":"m","server":"mail","tls":"none","from":"a@b","to":["c@d"],"events":["run_held"]}]}"#,
            "not host:port",
        ),
        (
            r#"{"targets":[{"kind":"smtp","name":"m","server":"mail:25","tls":"none","from":"nope","to":["c@d"],"events":["run_held"]}]}"#,
            "from \"nope\"",
        ),
        (
            r#"{"targets":[{"kind":"ntfy","name":"a","url":"http://x/t","events":["run_exploded"]}]}"#,
            "unknown variant",
        ),
        (
            r#"{"targets":[{"kind":"ntfy","name":"a","url":"http://x/t","events":["run_failed"]},{"kind":"ntfy","name":"a","url":"http://x/u","events":["run_failed"]}]}"#,
            "a second target",
        ),
    ];
    for (json, want) in cases {
        let p = d.path().join("n.json");
        std::fs::write(&p, json).unwrap();
        let e = Notifier::from_file(&p, Some(d.path()), "http://c")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains(want), "{json}: {e}");
    }
    std::fs::write(d.path().join("notify-w-secret"), "k\n").unwrap();
    let p = d.path().join("n.json");
    std::fs::write(
        &p,
        r#"{"targets":[{"kind":"webhook","name":"w","url":"http://x/h","events":["pdu_error"]}]}"#,
    )
    .unwrap();
    assert!(!Notifier::from_file(&p, Some(d.path()), "http://c")
        .unwrap()
        .is_empty());
}
