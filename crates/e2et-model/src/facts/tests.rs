use super::*;

#[test]
fn observed_serialises_with_a_status_tag() {
    let o: Observed<u32> = Observed::ok(3);
    assert_eq!(
        serde_json::to_value(&o).unwrap(),
        serde_json::json!({"status": "ok", "value": 3})
    );
    let n: Observed<u32> = Observed::na("no zfs module");
    assert_eq!(
        serde_json::to_value(&n).unwrap(),
        serde_json::json!({"status": "not_applicable", "reason": "no zfs module"})
    );
    let back: Observed<u32> =
        serde_json::from_value(serde_json::json!({"status": "error", "message": "x"})).unwrap();
    assert_eq!(back.why_not().as_deref(), Some("error: x"));
    // The default is never a value: an uncollected fact cannot pass.
    assert!(Observed::<bool>::default().value().is_none());
}
