//! The operator's side: who may write and read, run slots, retention.
mod common;
use common::*;
use e2et_model::api::*;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_token_guards_writes_and_a_browser_cookie_only_reads() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("pdu")).unwrap();
    std::fs::write(
        d.path().join("token"),
        "s3cret-token-of-at-least-32-bytes\n",
    )
    .unwrap();
    let tf = d.path().join("token").display().to_string();
    let e = start_with(d.path(), false, &["--operator-token-file", &tf]);
    let c = reqwest::Client::builder()
        .local_address(VM1_IP.parse::<std::net::IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    wait_up(&c, &e.url).await;
    let runs = format!("{}/api/v1/runs", e.url);
    assert_eq!(c.get(&runs).send().await.unwrap().status(), 401);
    let ok = c
        .get(&runs)
        .bearer_auth("s3cret-token-of-at-least-32-bytes")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    // The dashboard and its event stream are read-only and open.
    assert_eq!(c.get(&e.url).send().await.unwrap().status(), 200);
    events(&c, &e.url, None).await;
    // Sign-in: a wrong token is refused, the right one sets a cookie.
    let login = |t: &str| {
        c.post(format!("{}/login", e.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={t}"))
            .send()
    };
    assert_eq!(login("nope").await.unwrap().status(), 401);
    let r = login("s3cret-token-of-at-least-32-bytes").await.unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("s3cret"), "the cookie is not the token");
    let pair = cookie.split(';').next().unwrap().to_string();
    let r = c.get(&runs).header("cookie", &pair).send().await.unwrap();
    assert_eq!(r.status(), 200, "the cookie reads");
    let r = c
        .post(&runs)
        .header("cookie", &pair)
        .json(&json!({"host": "vm1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the cookie never writes");
    let r = c
        .get(format!("{runs}?limit=0"))
        .bearer_auth("s3cret-token-of-at-least-32-bytes")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .get(format!("{runs}?limt=3"))
        .bearer_auth("s3cret-token-of-at-least-32-bytes")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "an unknown query parameter is named");
    // A restart makes every earlier cookie worthless: it was this process's.
    drop(e);
    let e = start_with(d.path(), false, &["--operator-token-file", &tf]);
    wait_up(&c, &e.url).await;
    let runs = format!("{}/api/v1/runs", e.url);
    let r = c.get(&runs).header("cookie", &pair).send().await.unwrap();
    assert_eq!(r.status(), 401, "a cookie from before the restart reads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_attempts_are_limited_per_address() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("pdu")).unwrap();
    let token = "s3cret-token-of-at-least-32-bytes";
    std::fs::write(d.path().join("token"), token).unwrap();
    let tf = d.path().join("token").display().to_string();
    let e = start_with(d.path(), false, &["--operator-token-file", &tf]);
    let guesser = client_from("127.0.0.77");
    wait_up(&guesser, &e.url).await;
    let login = |c: &reqwest::Client, t: &str| {
        c.post(format!("{}/login", e.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={t}"))
            .send()
    };
    for i in 0..5 {
        let r = login(&guesser, &format!("guess-{i}")).await.unwrap();
        assert_eq!(r.status(), 401);
    }
    // The sixth attempt in the minute is refused, even with the right token.
    let r = login(&guesser, token).await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "60");
    // Another address is not held up by it.
    let other = reqwest::Client::builder()
        .local_address(VM1_IP.parse::<std::net::IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    assert_eq!(login(&other, token).await.unwrap().status(), 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_beyond_the_limit_wait_queued_for_a_slot() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("pdu")).unwrap();
    for o in [1, 2] {
        qmp_peer(
            &d.path().join(format!("pdu/outlet-{o}.qmp")),
            Arc::new(Mutex::new(false)),
            false,
        );
    }
    let mut inv = inventory(d.path(), false);
    let mut vm2 = inv["hosts"]["vm1"].clone();
    vm2["mac"] = json!("52:54:00:e2:e7:02");
    vm2["fqdn"] = json!("vm2.t.test");
    vm2["ip"] = json!("127.0.0.12");
    vm2["power"][0]["outlet"] = json!(2);
    inv["hosts"]["vm2"] = vm2;
    let e = start_inv(
        d.path(),
        inv,
        &["--max-concurrent-runs", "1", "--hello-timeout-s", "3"],
    );
    let c = client();
    wait_up(&c, &e.url).await;
    let create = |h: &'static str| {
        c.post(format!("{}/api/v1/runs", e.url))
            .json(&json!({ "host": h }))
            .send()
    };
    let r1: RunView = create("vm1").await.unwrap().json().await.unwrap();
    wait_state(&c, &e.url, &r1.id, "provisioning").await;
    let r2: RunView = create("vm2").await.unwrap().json().await.unwrap();
    // vm1 holds the only slot until it gives up waiting for its hello.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(run_view(&c, &e.url, &r2.id).await.state.as_str(), "queued");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // vm2 first: once it left queued, vm1 must already be over (vm1's
        // end is durable before its slot is freed). Read the other way
        // round, vm1 could end between the two reads.
        let v2 = run_view(&c, &e.url, &r2.id).await;
        let v1 = run_view(&c, &e.url, &r1.id).await;
        if v2.state != e2et_model::RunState::Queued {
            assert!(
                v1.state.is_terminal(),
                "vm2 is {} while vm1 is still {}",
                v2.state,
                v1.state
            );
            break;
        }
        assert!(Instant::now() < deadline, "vm2 never got the slot");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_boot_request_rows_expire_and_the_history_stays() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("pdu")).unwrap();
    let db = d.path().join("e2et.db");
    // A store with a finished run and boot requests from long ago and today.
    {
        let s = e2et_coordinator::store::Store::open(&db).unwrap();
        s.create_run("old", "vm1", e2et_model::RunMode::Cold, "{}")
            .wait()
            .unwrap();
        s.transition("old", e2et_model::RunState::Failed, "x")
            .wait()
            .unwrap();
    }
    {
        // Rows an older e2etd wrote (the log is in memory now).
        let c = rusqlite::Connection::open(&db).unwrap();
        let today = e2et_coordinator::store::now();
        c.execute(
            "INSERT INTO boot_requests(at, mac, run_id, decision) VALUES (?1, ?2, 'old', 'today')",
            [today.as_str(), MAC],
        )
        .unwrap();
        for at in ["2020-01-01T00:00:00.000Z", "2020-06-01T00:00:00.000Z"] {
            c.execute(
                "INSERT INTO boot_requests(at, mac, run_id, decision) VALUES (?1, ?2, 'old', 'long ago')",
                [at, MAC],
            )
            .unwrap();
        }
    }
    let count = |sql: &str| -> i64 {
        rusqlite::Connection::open(&db)
            .unwrap()
            .query_row(sql, [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(count("SELECT COUNT(*) FROM boot_requests"), 3);
    let e = start_with(d.path(), false, &["--retention-days", "30"]);
    let c = client();
    wait_up(&c, &e.url).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while count("SELECT COUNT(*) FROM boot_requests") != 1 {
        assert!(
            Instant::now() < deadline,
            "the janitor did not expire the old requests"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        count("SELECT COUNT(*) FROM boot_requests WHERE decision = 'today'"),
        1
    );
    assert_eq!(count("SELECT COUNT(*) FROM runs"), 1, "history stays");
    assert_eq!(count("SELECT COUNT(*) FROM transitions"), 2);
}

/// `e2etd serve` with `extra`; it must exit (within 20 s): its status and
/// what it logged.
fn serve_exits(dir: &std::path::Path, extra: &[&str]) -> (bool, String) {
    std::fs::write(dir.join("inv.json"), inventory(dir, false).to_string()).unwrap();
    std::fs::create_dir_all(dir.join("art")).unwrap();
    let port = free_port();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("e2etd"))
        .arg("--inventory")
        .arg(dir.join("inv.json"))
        .arg("serve")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--public-url", &format!("http://127.0.0.1:{port}")])
        .arg("--db")
        .arg(dir.join("e2et.db"))
        .arg("--artifacts")
        .arg(dir.join("art"))
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let st = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("e2etd serve {extra:?} kept serving");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (st.success(), err)
}

#[test]
fn e2etd_refuses_to_serve_an_open_or_weakly_guarded_operator_api() {
    let d = tempfile::tempdir().unwrap();
    let (ok, err) = serve_exits(d.path(), &[]);
    assert!(!ok);
    assert!(
        err.contains("no operator token") && err.contains("--insecure-open-operator-api"),
        "{err}"
    );
    std::fs::write(d.path().join("short"), "hunter2\n").unwrap();
    let short = d.path().join("short").display().to_string();
    let (ok, err) = serve_exits(d.path(), &["--operator-token-file", &short]);
    assert!(!ok);
    assert!(
        err.contains("7 bytes") && err.contains("at least 32"),
        "{err}"
    );
    // Both at once is a contradiction, not a choice.
    let (ok, err) = serve_exits(
        d.path(),
        &[
            "--operator-token-file",
            &short,
            "--insecure-open-operator-api",
        ],
    );
    assert!(!ok);
    assert!(err.contains("cannot be used with"), "{err}");
}
