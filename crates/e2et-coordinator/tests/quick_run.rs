//! Quick runs: the installed system enrols, is cycled and revalidated, and
//! never promotes.
mod common;
use common::*;
use e2et_model::api::*;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quick_run_cycles_and_revalidates_the_installed_system_and_never_promotes() {
    // The host is up on its installed system.
    let (d, running) = with_qmp_peer(true, false);
    let creds = d.path().join("creds");
    std::fs::create_dir_all(&creds).unwrap();
    let e = start_with(
        d.path(),
        false,
        &["--credentials-dir", creds.to_str().unwrap()],
    );
    let c = client();
    wait_up(&c, &e.url).await;

    // Without the host's enrolment key a quick run could never finish.
    let r = c
        .post(format!("{}/api/v1/runs", e.url))
        .json(&json!({"host": "vm1", "mode": "quick"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let err: ApiError = r.json().await.unwrap();
    assert_eq!(err.code, "no_enrolment_key");
    assert!(err.message.contains("agent-vm1"), "{}", err.message);
    let key = "k3y-of-vm1";
    std::fs::write(creds.join("agent-vm1"), format!("{key}\n")).unwrap();
    let now = chrono::Utc::now().timestamp();
    // No run waits for the host: a normal boot of its installed system.
    let r = enrol(&c, &e.url, "vm1", "boot-0", key, now).await;
    assert_eq!(r.status(), 404);

    let r = c
        .post(format!("{}/api/v1/runs", e.url))
        .json(&json!({"host": "vm1", "mode": "quick"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: RunView = r.json().await.unwrap();
    let run = v.id.clone();
    assert_eq!(v.mode, e2et_model::RunMode::Quick);
    wait_state(&c, &e.url, &run, "revalidate").await;
    assert!(
        *running.lock().unwrap(),
        "the cycle ends with the outlet on"
    );
    // The boot path hands the host to its disk, never the netboot image.
    let s = c
        .get(format!("{}/boot/{MAC}.ipxe", e.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        s.contains("boots the installed system")
            && s.contains("sanboot")
            && !s.contains("e2et.token"),
        "{s}"
    );
    // Enrolment refuses a wrong key, a stale or missing timestamp, an
    // unknown host; nothing of that hands out a token.
    for (host, k, ts, want, code) in [
        ("vm1", "wrong", now, 401, "bad_signature"),
        ("vm1", key, now - 3600, 401, "stale"),
        ("vm9", key, now, 404, "unknown_host"),
    ] {
        let r = enrol(&c, &e.url, host, "boot-x", k, ts).await;
        assert_eq!(r.status(), want, "{host} {k} {ts}");
        let err: ApiError = r.json().await.unwrap();
        assert_eq!(err.code, code);
    }
    let r = c
        .post(format!("{}/api/v1/agent/enrol", e.url))
        .json(&json!({"host": "vm1", "boot_id": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // The host boots for a while after the outlet came back on.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (rid, seq) = installed_boot(&c, &e.url, key, &"1".repeat(36), 0.2).await;
    assert_eq!((rid.as_str(), seq), (run.as_str(), 1));

    let v = wait_end(&c, &e.url, &run, 30).await;
    assert_eq!(
        v.state.as_str(),
        "transient",
        "{}: {:?}",
        v.note,
        report_of(&c, &e.url, &run).await.reasons
    );
    let rep = report_of(&c, &e.url, &run).await;
    assert_eq!(rep.mode, e2et_model::RunMode::Quick);
    assert_eq!(
        (
            rep.lifecycle.provisionings,
            rep.lifecycle.power_cycles,
            rep.lifecycle.boots
        ),
        (0, 1, 1)
    );
    assert!(
        rep.reasons
            .iter()
            .any(|r| r.contains("quick run: revalidated without reprovisioning"))
            && rep.reasons.iter().any(
                |r| r.contains("quick runs never promote: the host has no last-known-good yet")
            ),
        "{:?}",
        rep.reasons
    );
    let rb = rep
        .run_checks
        .iter()
        .find(|c| c.id == "first_boot.reboot_observed")
        .unwrap();
    assert!(rb.passed(), "{rb:?}");
    assert!(
        rb.evidence.contains("outlet read back off at"),
        "{}",
        rb.evidence
    );
    // The cycle was cut without a soft off (no agent of the run was up).
    let actions: Vec<&str> = rep
        .run
        .power_steps
        .iter()
        .map(|s| s.action.as_str())
        .collect();
    assert_eq!(actions, ["off", "on"], "{actions:?}");
    let states: Vec<&str> = rep.run.transitions.iter().map(|t| t.to.as_str()).collect();
    assert_eq!(
        states,
        [
            "queued",
            "inventory_gate",
            "power_cycle",
            "revalidate",
            "report"
        ]
    );
    let hosts: Value = c
        .get(format!("{}/api/v1/hosts", e.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(hosts["vm1"]["lastKnownGood"].is_null(), "{hosts}");

    // A boot whose kernel started before the cycle is no reboot: failed.
    let r = c
        .post(format!("{}/api/v1/runs", e.url))
        .json(&json!({"host": "vm1", "mode": "quick"}))
        .send()
        .await
        .unwrap();
    let run2 = r.json::<RunView>().await.unwrap().id;
    wait_state(&c, &e.url, &run2, "revalidate").await;
    // One token per boot: a replay of the enrolment is refused.
    let b2 = "2".repeat(36);
    let now = chrono::Utc::now().timestamp();
    let en: EnrolResponse = enrol(&c, &e.url, "vm1", &b2, key, now)
        .await
        .json()
        .await
        .unwrap();
    let r = enrol(&c, &e.url, "vm1", &b2, key, now).await;
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<ApiError>().await.unwrap().code, "enrolled");
    enrolled_boot(&c, &e.url, &en, &b2, 86_400.0).await;
    let v = wait_end(&c, &e.url, &run2, 30).await;
    assert_eq!(v.state.as_str(), "failed", "{}", v.note);
    let r = enrol(&c, &e.url, "vm1", &"3".repeat(36), key, now).await;
    assert_eq!(r.status(), 404, "a finished run takes no enrolment");
    let rep = report_of(&c, &e.url, &run2).await;
    assert!(
        rep.reasons
            .iter()
            .any(|r| r.contains("first_boot.reboot_observed")),
        "{:?}",
        rep.reasons
    );
}
