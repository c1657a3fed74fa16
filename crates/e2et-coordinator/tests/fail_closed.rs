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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facts_that_would_overflow_a_computation_are_refused_with_422() {
    let (d, _running) = with_qmp_peer(false, false);
    let e = start(d.path(), false);
    let c = client();
    wait_up(&c, &e.url).await;
    let run = create_run(&c, &e.url, "vm1").await.id;
    wait_state(&c, &e.url, &run, "provisioning").await;
    let token = boot_token(&c, &e.url, &run).await;
    let cmdline = format!("console=ttyS0 e2et.run={run} e2et.token={token}");
    let hello = say_hello(&c, &e.url, &run, &token, "boot-1", &cmdline).await;
    assert_eq!(hello.status(), 200);
    let post = |f: e2et_model::facts::Facts| {
        c.post(format!("{}/api/v1/agent/facts", e.url))
            .bearer_auth(&token)
            .json(&e2et_model::api::FactsRequest {
                run_id: run.clone(),
                boot_id: "boot-1".into(),
                facts: f,
            })
            .send()
    };
    // An uptime no clock can place, a size beyond exact numbers.
    let mut f = facts("boot-1", &run, 4 << 20);
    f.first_boot.uptime_s = 1e300;
    let mut g = facts("boot-1", &run, 4 << 20);
    g.platform.mem_total_kib = u64::MAX;
    for (bad, field) in [(f, "first_boot.uptime_s"), (g, "platform.mem_total_kib")] {
        let r = post(bad).await.unwrap();
        assert_eq!(r.status(), 422, "{field}");
        let err: e2et_model::api::ApiError = r.json().await.unwrap();
        assert_eq!(err.code, "out_of_range");
        assert!(err.message.contains(field), "{}", err.message);
    }
    // Nothing was stored: the same boot's sound facts are the first taken.
    let r = post(facts("boot-1", &run, 4 << 20)).await.unwrap();
    let body = r.text().await.unwrap();
    let r: e2et_model::api::FactsResponse =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert!(r.accepted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_runs_task_holds_that_run_and_e2etd_serves_on() {
    let (d, running) = with_qmp_peer(false, false);
    let e = start_with(d.path(), false, &["--crash-after", "panic:validate"]);
    let c = client();
    wait_up(&c, &e.url).await;
    let run = create_run(&c, &e.url, "vm1").await.id;
    wait_state(&c, &e.url, &run, "provisioning").await;
    let token = boot_token(&c, &e.url, &run).await;
    agent_boot(&c, &e.url, &run, &token, "boot-1", 4 << 20).await;
    let v = wait_state(&c, &e.url, &run, "holding").await;
    assert!(v.note.contains("panicked"), "{}", v.note);
    // No task drives it: the outlet stays as the run left it (on), and
    // e2etd itself serves on.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(*running.lock().unwrap(), "a held run's outlet was switched");
    assert_eq!(
        run_view(&c, &e.url, &run).await.state.to_string(),
        "holding"
    );
    assert_eq!(get_text(&c, &format!("{}/healthz", e.url)).await, "ok\n");
}
