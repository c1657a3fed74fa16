//! An enrolling agent (a host's installed system) trusts only answers signed
//! with the host's enrolment key: whoever sits between it and e2etd cannot
//! make it run anything.
mod common;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use common::*;
use e2et_model::api::*;
use e2et_probe::agent::{enrol, Agent, AgentConfig, AgentError, EnrolPolicy};
use e2et_probe::Root;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// A man in the middle: forwards to e2etd from the host's address and drops
/// the answer's signature on one path.
struct Mitm {
    upstream: String,
    strip_on: &'static str,
    http: reqwest::Client,
}

async fn forward(State(m): State<Arc<Mitm>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let mut headers = parts.headers.clone();
    headers.remove("host");
    let r = m
        .http
        .request(parts.method, format!("{}{path}", m.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let mut headers = r.headers().clone();
    if path == m.strip_on {
        headers.remove(ANSWER_SIGNATURE_HEADER);
    }
    let body = r.bytes().await.unwrap();
    (status, headers, body).into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_hello_answer_makes_the_enrolling_agent_exit_without_running_anything() {
    let (d, _running) = with_qmp_peer(true, false);
    let key = ENROL_KEY;
    // The spec asks for a command the host allows: had the agent believed
    // the forged answer, it would have run it.
    let marker = d.path().join("the-command-ran");
    let argv = vec!["touch".to_string(), marker.display().to_string()];
    let mut inv = inventory(d.path(), false);
    inv["hosts"]["vm1"]["expect"]["service"] =
        json!({"smoke": [{"name": "marker", "command": argv}]});
    let e = start_enrolling(d.path(), inv, &[]);
    let c = client();
    wait_up(&c, &e.url).await;
    let run = create_run_mode(&c, &e.url, "vm1", "quick").await;
    wait_state(&c, &e.url, &run.id, "revalidate").await;

    let mitm = Arc::new(Mitm {
        upstream: e.url.clone(),
        strip_on: "/api/v1/agent/hello",
        http: client(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let via = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(forward).with_state(mitm);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let policy = EnrolPolicy {
        key: key.into(),
        allowed_commands: vec![argv.clone()],
        allow_source: "test".into(),
        max_disk_mib: 16,
        max_tcp_mib: 16,
    };
    let root = Root::live();
    // The enrolment's answer passes through signed: the agent takes it.
    let params = enrol(&root, &via, "vm1", key, Duration::from_secs(10))
        .await
        .unwrap()
        .expect("a quick run waits");
    assert_eq!(params.run_id, run.id);
    let cfg = AgentConfig {
        heartbeat: Duration::from_millis(100),
        retry_for: Duration::from_secs(5),
        poweroff_cmd: vec!["touch".into(), marker.display().to_string()],
        reboot_cmd: vec!["touch".into(), marker.display().to_string()],
        enrolled: Some(policy),
    };
    let token = params.token.clone();
    let agent = Agent::with_params(root, params, cfg).unwrap();
    let err = tokio::time::timeout(Duration::from_secs(30), agent.run())
        .await
        .expect("the agent stops at once")
        .unwrap_err();
    assert!(
        matches!(err, AgentError::Unsigned { what: "hello", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("nothing was run"), "{err}");
    assert!(
        !marker.exists(),
        "the agent ran a command on a forged answer"
    );

    // e2etd does sign, over the request's own nonce: the same heartbeat
    // answered to two nonces carries two signatures, each valid only for
    // its own; without a nonce the answer is plain.
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .unwrap()
        .trim()
        .to_string();
    let beat = |nonce: Option<&'static str>| {
        let rb = c
            .post(format!("{}/api/v1/agent/heartbeat", e.url))
            .bearer_auth(&token)
            .json(&HeartbeatRequest {
                run_id: run.id.clone(),
                boot_id: boot_id.clone(),
            });
        match nonce {
            Some(n) => rb
                .header(ENROL_TIMESTAMP_HEADER, "1700000000")
                .header(NONCE_HEADER, n),
            None => rb,
        }
        .send()
    };
    for n in ["n-1", "n-2"] {
        let r = beat(Some(n)).await.unwrap();
        assert_eq!(r.status(), 200);
        let sig = r.headers()[ANSWER_SIGNATURE_HEADER]
            .to_str()
            .unwrap()
            .to_string();
        let body = r.bytes().await.unwrap();
        assert!(answer_signature_ok(
            key.as_bytes(),
            "1700000000",
            n,
            &body,
            &sig
        ));
        let other = if n == "n-1" { "n-2" } else { "n-1" };
        assert!(!answer_signature_ok(
            key.as_bytes(),
            "1700000000",
            other,
            &body,
            &sig
        ));
    }
    let r = beat(None).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get(ANSWER_SIGNATURE_HEADER).is_none());

    // The agent posted no facts for its boot: the first facts e2etd takes
    // for it are these.
    let r: FactsResponse = c
        .post(format!("{}/api/v1/agent/facts", e.url))
        .bearer_auth(&token)
        .json(&FactsRequest {
            run_id: run.id.clone(),
            boot_id: boot_id.clone(),
            facts: facts(&boot_id, &run.id, 4 << 20),
        })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r.accepted, "facts were posted after a forged answer");
}
