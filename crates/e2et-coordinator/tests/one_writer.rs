//! One writer: one e2etd per database, and the store itself keeps one run
//! per host, however many creations arrive at once.
mod common;
use common::*;
use e2et_model::api::*;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_e2etd_on_the_same_database_refuses_to_start() {
    let (d, _running) = with_qmp_peer(false, false);
    let first = start(d.path(), false);
    let c = client();
    wait_up(&c, &first.url).await;
    let mut second = start(d.path(), false);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = second.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "a second e2etd is serving the same database"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!status.success());
    let log = daemon_logs(d.path());
    assert!(
        log.contains("another e2etd is serving") && log.contains("e2et.db.lock"),
        "{log}"
    );
    // The first one is unaffected.
    assert_eq!(
        c.get(format!("{}/healthz", first.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_run_creations_for_one_host_yield_one_run() {
    let (d, _running) = with_qmp_peer(false, false);
    let e = start(d.path(), false);
    let c = client();
    wait_up(&c, &e.url).await;
    let tries: Vec<_> = (0..32)
        .map(|_| {
            let (c, url) = (c.clone(), e.url.clone());
            tokio::spawn(async move {
                let r = c
                    .post(format!("{url}/api/v1/runs"))
                    .json(&serde_json::json!({"host": "vm1"}))
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let body = r.text().await.unwrap();
                (status, body)
            })
        })
        .collect();
    let mut created = 0;
    for t in tries {
        let (status, body) = t.await.unwrap();
        match status {
            201 => created += 1,
            409 => {
                let err: ApiError = serde_json::from_str(&body).unwrap();
                assert_eq!(err.code, "host_busy", "{body}");
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(created, 1);
    let runs = list_runs(&c, &e.url).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_releases_of_a_held_run_release_it_once() {
    let (d, _running) = with_qmp_peer(false, false);
    // No agent ever says hello: the run fails after 1 s.
    let e = start_with(d.path(), false, &["--hello-timeout-s", "1"]);
    let c = client();
    wait_up(&c, &e.url).await;
    let run = create_run(&c, &e.url, "vm1").await.id;
    let v = wait_end(&c, &e.url, &run, 30).await;
    assert_eq!(v.state.as_str(), "failed", "{}", v.note);
    let act = |what: &'static str| {
        let (c, url, run) = (c.clone(), e.url.clone(), run.clone());
        tokio::spawn(async move {
            c.post(format!("{url}/api/v1/runs/{run}/{what}"))
                .json(&serde_json::json!({"reason": "cabling check"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    assert_eq!(act("hold").await.unwrap(), 200);
    let tries: Vec<_> = (0..16).map(|_| act("release")).collect();
    let mut codes = Vec::new();
    for t in tries {
        codes.push(t.await.unwrap());
    }
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    assert!(codes.iter().all(|c| *c == 200 || *c == 409), "{codes:?}");
    let v = run_view(&c, &e.url, &run).await;
    let released = v
        .transitions
        .iter()
        .filter(|t| t.to.as_str() == "released")
        .count();
    assert_eq!(released, 1, "{:?}", v.transitions);
}
