//! Property tests of request parsing: arbitrary bodies, paths and tokens sent
//! to the agent, boot and operator APIs never panic and never answer 5xx —
//! bad input gets a 4xx that says what was wrong.
use axum::body::Body;
use axum::http::{Method, Request};
use e2et_coordinator::api::{router, App, AppConfig};
use e2et_coordinator::ctx::{Ctx, Edges, EngineConfig};
use e2et_coordinator::store::Store;
use e2et_model::inventory::Inventory;
use proptest::prelude::*;
use std::sync::Arc;
use tower::ServiceExt;

const ENROL_KEY: &str = "fuzz-key";

fn app(dir: &std::path::Path) -> axum::Router {
    let inv = Inventory::from_json(
        &serde_json::json!({
            "version": 1, "site": {"name": "f", "domain": "f.test"},
            "pdus": {"q": {"driver": "qmp", "address": dir.join("pdu"), "outlets": 2}},
            "profiles": {"p": {}},
            "hosts": {"vm1": {"mac": "52:54:00:00:00:01", "ip": "127.0.0.11", "fqdn": "vm1.f.test",
                "power": [{"pdu": "q", "outlet": 1}], "console": "s", "profile": "p", "requiredZone": "p90"}}
        })
        .to_string(),
    )
    .unwrap();
    let store = Store::open(&dir.join("f.db")).unwrap();
    // A run in flight, so that agent requests reach past authentication.
    store
        .create_run(
            "r1",
            "vm1",
            e2et_model::RunMode::Cold,
            &serde_json::to_string(&inv.hosts["vm1"]).unwrap(),
        )
        .wait()
        .unwrap();
    store
        .transition("r1", e2et_model::RunState::Provisioning, "fuzz")
        .wait()
        .unwrap();
    store
        .issue_token(
            "r1",
            1,
            &hex::encode(e2et_coordinator::api::sha256("good-token")),
            "127.0.0.11",
        )
        .wait()
        .unwrap();
    let drivers = e2et_pdu::drivers::for_inventory(&inv, &Default::default());
    let ctx = Arc::new(
        Ctx::new(
            store,
            inv,
            drivers,
            EngineConfig::default(),
            Edges::default(),
        )
        .unwrap(),
    );
    std::fs::create_dir_all(dir.join("art")).unwrap();
    std::fs::create_dir_all(dir.join("creds")).unwrap();
    std::fs::write(dir.join("creds/agent-vm1"), ENROL_KEY).unwrap();
    router(Arc::new(App {
        ctx,
        cfg: AppConfig {
            public_url: "http://x".into(),
            artifacts: dir.join("art"),
            kernel: "k".into(),
            initrd: "i".into(),
            cmdline: String::new(),
            images: Default::default(),
            operator_token_sha256: None,
            credentials_dir: Some(dir.join("creds")),
            request_timeout: std::time::Duration::from_secs(30),
            max_event_subscribers: 4,
        },
        session: Default::default(),
        sse_slots: Arc::new(tokio::sync::Semaphore::new(4)),
    }))
}

/// JSON values of any shape, including the right keys with wrong types.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        prop_oneof![
            Just("r1".to_string()),
            Just("vm1".to_string()),
            ".{0,40}".prop_map(String::from)
        ]
        .prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("run_id".to_string()),
                    Just("boot_id".to_string()),
                    Just("facts".to_string()),
                    Just("host".to_string()),
                    Just("mode".to_string()),
                    Just("cmdline".to_string()),
                    "[a-z_]{1,10}".prop_map(String::from)
                ],
                inner,
                0..8
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Well-formed agent bodies with arbitrary values reach the store.
        (".{0,60}", ".{0,60}", prop::collection::vec(".{0,20}", 0..3)).prop_map(|(b, h, macs)| {
            serde_json::json!({"run_id": "r1", "boot_id": b, "hostname": h, "macs": macs,
                               "cmdline": h, "probe_version": "p"})
            .to_string()
            .into_bytes()
        }),
        ".{0,60}".prop_map(|b| serde_json::json!({"run_id": "r1", "boot_id": b})
            .to_string()
            .into_bytes()),
        (
            prop_oneof![Just("vm1".to_string()), ".{0,20}".prop_map(String::from)],
            ".{0,60}"
        )
            .prop_map(|(h, b)| serde_json::json!({"host": h, "boot_id": b})
                .to_string()
                .into_bytes()),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..512),
    ]
}

fn route() -> impl Strategy<Value = (Method, String)> {
    let seg = "[a-zA-Z0-9%:._-]{0,30}";
    prop_oneof![
        Just((Method::POST, "/api/v1/agent/hello".to_string())),
        Just((Method::POST, "/api/v1/agent/facts".to_string())),
        Just((Method::POST, "/api/v1/agent/heartbeat".to_string())),
        Just((Method::POST, "/api/v1/agent/enrol".to_string())),
        Just((Method::POST, "/api/v1/runs".to_string())),
        Just((Method::GET, "/api/v1/runs".to_string())),
        Just((Method::GET, "/api/v1/hosts".to_string())),
        Just((Method::POST, "/login".to_string())),
        "[a-z0-9=&%_-]{0,30}".prop_map(|q| (Method::GET, format!("/api/v1/runs?{q}"))),
        (seg, prop_oneof![Just("hold"), Just("release")])
            .prop_map(|(r, a)| (Method::POST, format!("/api/v1/runs/{r}/{a}"))),
        seg.prop_map(|s| (Method::GET, format!("/api/v1/runs/{s}"))),
        (seg, seg).prop_map(|(a, b)| (Method::GET, format!("/api/v1/runs/{a}/{b}"))),
        seg.prop_map(|s| (Method::GET, format!("/boot/{s}"))),
        seg.prop_map(|s| (Method::GET, format!("/boot/artifacts/{s}"))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn no_panic_and_no_5xx(
        (method, path) in route(),
        body in body(),
        token in prop_oneof![Just(None), Just(Some("good-token".to_string())), "[ -~]{0,40}".prop_map(Some)],
        json_ct in any::<bool>(),
        signed in prop_oneof![Just(None), Just(Some(0i64)), any::<i64>().prop_map(Some)],
    ) {
        let d = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let status = rt.block_on(async {
            let mut req = Request::builder().method(method).uri(&path);
            if json_ct {
                req = req.header("content-type", "application/json");
            }
            if let Some(t) = &token {
                req = req.header("authorization", format!("Bearer {t}"));
            }
            // Enrolment signed with the host's key, at now + an offset.
            if let Some(off) = signed {
                let ts = chrono::Utc::now().timestamp().saturating_add(off).to_string();
                let sig = e2et_model::api::hmac_sha256_hex(ENROL_KEY.as_bytes(), &ts, &body);
                req = req
                    .header(e2et_model::api::ENROL_TIMESTAMP_HEADER, ts)
                    .header(e2et_model::api::ENROL_SIGNATURE_HEADER, format!("sha256={sig}"));
            }
            let mut req = req.body(Body::from(body.clone())).unwrap();
            // As e2etd serves: every request knows its peer (vm1's address).
            req.extensions_mut().insert(axum::extract::ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 11], 40000))));
            app(d.path()).oneshot(req).await.unwrap().status()
        });
        prop_assert!(!status.is_server_error(), "{} {} -> {}", path, String::from_utf8_lossy(&body), status);
    }
}
