//! Fail closed: a power command the store cannot justify is never sent,
//! and a run whose engine task stops is held, not left in flight.
mod common;
use common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_intent_that_cannot_be_recorded_sends_nothing_and_holds_the_run() {
    let (d, running) = with_qmp_peer(false, false);
    // The intent of every "on" fails to be written (a test hook, as a full
    // disk would).
    let e = start_with(d.path(), false, &["--fail-intent", "on"]);
    let c = client();
    wait_up(&c, &e.url).await;
    let run = create_run(&c, &e.url, "vm1").await.id;
    let v = wait_state(&c, &e.url, &run, "holding").await;
    assert!(
        v.note.contains("not sent") && v.note.contains("intent could not be recorded"),
        "{}",
        v.note
    );
    // The outlet was never switched on: the QMP peer got no `cont`.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!*running.lock().unwrap(), "the on command went out");
    let to: Vec<String> = v.transitions.iter().map(|t| t.to.clone()).collect();
    assert_eq!(to.last().map(String::as_str), Some("holding"), "{to:?}");
    // The log says why, once.
    let log = daemon_logs(d.path());
    assert!(log.contains("not sending the command"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inventory_change_between_crash_and_restart_holds_the_run() {
    let (d, running) = with_qmp_peer(false, false);
    // A second outlet, where vm1 is moved while e2etd is down.
    let moved = std::sync::Arc::new(std::sync::Mutex::new(false));
    qmp_peer(&d.path().join("pdu/outlet-2.qmp"), moved.clone(), false);
    let c = client();
    let mut e = start_with(d.path(), false, &["--crash-after", "inventory_gate"]);
    wait_up(&c, &e.url).await;
    let _ = c
        .post(format!("{}/api/v1/runs", e.url))
        .json(&serde_json::json!({"host": "vm1"}))
        .send()
        .await;
    wait_crash(&mut e, d.path());
    drop(e);
    let mut inv = inventory(d.path(), false);
    inv["hosts"]["vm1"]["power"][0]["outlet"] = 2.into();
    let e = start_inv(d.path(), inv, &[]);
    wait_up(&c, &e.url).await;
    let runs = list_runs(&c, &e.url).await;
    assert_eq!(runs.len(), 1);
    let v = wait_state(&c, &e.url, &runs[0].id, "holding").await;
    assert!(
        v.note.contains("inventory changed")
            && v.note.contains("[q:1]")
            && v.note.contains("[q:2]"),
        "{}",
        v.note
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !*running.lock().unwrap() && !*moved.lock().unwrap(),
        "an outlet was switched"
    );
}
