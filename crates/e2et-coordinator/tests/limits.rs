//! Limits before work: a slow or greedy client cannot keep the hosts of
//! other runs from reaching the agent API, and unauthenticated requests get
//! no body read and no durable write.
mod common;
use common::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A connection from `ip` that sends the start of a request's headers and
/// then dawdles (slow loris).
async fn loris(ip: &str, url: &str) -> Option<TcpStream> {
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let s = TcpSocket::new_v4().unwrap();
    s.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    let mut c = tokio::time::timeout(Duration::from_secs(2), s.connect(addr))
        .await
        .ok()?
        .ok()?;
    let _ = c
        .write_all(b"POST /api/v1/agent/hello HTTP/1.1\r\nHost: e2etd\r\nX-Slow: ")
        .await;
    Some(c)
}

/// Whether e2etd closed `c` (EOF or reset) within `within`.
async fn closed(c: &mut TcpStream, within: Duration) -> bool {
    let mut b = [0u8; 256];
    loop {
        match tokio::time::timeout(within, c.read(&mut b)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // An answer (408 or 400) before the close is fine.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_loris_client_cannot_keep_other_runs_agents_out() {
    let (d, _running) = with_qmp_peer(false, false);
    // Few open files: without limits, one client's dawdling connections
    // take them all and accept() fails for everyone.
    let e = start_inv_nofile(
        d.path(),
        inventory(d.path(), false),
        &[
            "--max-connections-per-ip",
            "16",
            "--header-read-timeout-s",
            "2",
        ],
        Some(256),
    );
    let c = client();
    wait_up(&c, &e.url).await;
    let run = create_run(&c, &e.url, "vm1").await;
    wait_state(&c, &e.url, &run.id, "provisioning").await;
    let token = boot_token(&c, &e.url, &run.id).await;

    // One address opens 400 connections and dawdles on each.
    let mut held = Vec::new();
    for _ in 0..400 {
        if let Some(s) = loris("127.0.0.66", &e.url).await {
            held.push(s);
        }
    }
    // The host of the run still gets through, on fresh connections.
    let fresh = client();
    let boot = tokio::time::timeout(
        Duration::from_secs(15),
        agent_boot(&fresh, &e.url, &run.id, &token, "boot-1", 4 << 20),
    )
    .await
    .expect("vm1's agent could not reach e2etd past the slow client");
    assert_eq!(boot, 1);

    // Beyond its share the slow client's connections were closed at once;
    // the rest are cut off by the header-read timeout: none is left open.
    let mut open = 0;
    for s in &mut held {
        if !closed(s, Duration::from_secs(10)).await {
            open += 1;
        }
    }
    assert_eq!(open, 0, "e2etd kept {open} dawdling connections open");
    drop(held);

    // Many addresses, one dawdling connection each, up to the connection
    // cap: the header timeout frees them and the host gets in again.
    let mut held = Vec::new();
    for i in 0..250u32 {
        if let Some(s) = loris(&format!("127.0.{}.{}", 100 + i / 200, 1 + i % 200), &e.url).await {
            held.push(s);
        }
    }
    let r = tokio::time::timeout(
        Duration::from_secs(15),
        fresh
            .post(format!("{}/api/v1/agent/heartbeat", e.url))
            .bearer_auth(&token)
            .json(&e2et_model::api::HeartbeatRequest {
                run_id: run.id.clone(),
                boot_id: "boot-1".into(),
            })
            .send(),
    )
    .await
    .expect("vm1's heartbeat waited past the header timeout of the dawdlers")
    .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_body_is_read_before_the_credentials_are_checked() {
    let (d, _running) = with_qmp_peer(false, false);
    let tok = "o".repeat(40);
    std::fs::write(d.path().join("op-token"), &tok).unwrap();
    let e = start_with(
        d.path(),
        false,
        &[
            "--operator-token-file",
            d.path().join("op-token").to_str().unwrap(),
            "--max-event-subscribers",
            "2",
        ],
    );
    let c = client();
    wait_up(&c, &e.url).await;
    // A request that announces a body and never sends it: without a valid
    // credential it is answered at once, not after waiting for the body.
    let addr = e.url.trim_start_matches("http://");
    for (path, auth) in [
        ("/api/v1/agent/hello", "Bearer not-a-token"),
        ("/api/v1/agent/facts", ""),
        (
            "/api/v1/runs",
            "Bearer wrong-operator-token-of-40-bytes-xxxx",
        ),
    ] {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let auth = if auth.is_empty() {
            String::new()
        } else {
            format!("Authorization: {auth}\r\n")
        };
        s.write_all(
            format!(
                "POST {path} HTTP/1.1\r\nHost: e2etd\r\n{auth}Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let mut b = vec![0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut b))
            .await
            .unwrap_or_else(|_| panic!("{path}: e2etd waited for the body"))
            .unwrap();
        let head = String::from_utf8_lossy(&b[..n]);
        assert!(head.starts_with("HTTP/1.1 401"), "{path}: {head}");
    }
    // The event stream takes a bounded number of subscribers.
    let sub = |c: &reqwest::Client| c.get(format!("{}/api/v1/events", e.url)).send();
    let (a, b) = (sub(&c).await.unwrap(), sub(&c).await.unwrap());
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let third = sub(&c).await.unwrap();
    assert_eq!(third.status(), 503);
    drop(a);
    // A subscriber that leaves frees its place.
    let mut again = None;
    for _ in 0..50 {
        let r = sub(&c).await.unwrap();
        if r.status() == 200 {
            again = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(again.is_some(), "a left subscriber's place was not freed");
    drop(b);
}
