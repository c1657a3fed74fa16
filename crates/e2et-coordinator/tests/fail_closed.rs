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
