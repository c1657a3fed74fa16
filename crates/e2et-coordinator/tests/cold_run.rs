//! A cold run through the real daemon: the whole lifecycle, and a power-on
//! that never reads back.
mod common;
use common::*;
use e2et_model::api::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_lifecycle_through_the_real_daemon() {
    let (d, running) = with_qmp_peer(false, false);
    let e = start(d.path(), false);
    let c = client();
    wait_up(&c, &e.url).await;

    // No run: the known MAC boots its local disk; an unknown one too.
    let s = c
        .get(format!("{}/boot/{MAC}.ipxe", e.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(s.contains("no active run") && s.contains("sanboot"), "{s}");
    let s = c
        .get(format!("{}/boot/52:54:00:00:00:99.ipxe", e.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(s.contains("MAC not in the inventory"), "{s}");
    let r = c
        .get(format!("{}/boot/nonsense.ipxe", e.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Bad requests are named.
    let r = c
        .post(format!("{}/api/v1/runs", e.url))
        .json(&json!({"host": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let err: ApiError = r.json().await.unwrap();
    assert_eq!(err.code, "unknown_host");
    let r = c
        .post(format!("{}/api/v1/runs", e.url))
        .header("content-type", "application/json")
        .body("{\"hots\": 1}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // A cross-site form cannot create a run: writes take JSON only.
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let r = c
            .post(format!("{}/api/v1/runs", e.url))
            .header("content-type", ct)
            .body("{\"host\": \"vm1\"}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 415, "{ct}");
    }

    // The event stream is open before the run exists.
    let stream = events(&c, &e.url, None).await;

    let v = create_run(&c, &e.url, "vm1").await;
    let run = v.id.clone();
    let r = c
        .post(format!("{}/api/v1/runs", e.url))
        .json(&json!({"host": "vm1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "one run per host");

    wait_state(&c, &e.url, &run, "provisioning").await;
    assert!(
        *running.lock().unwrap(),
        "power-on must leave the outlet on"
    );
    let t1 = boot_token(&c, &e.url, &run).await;

    // Range requests on artifacts.
    let r = c
        .get(format!("{}/boot/artifacts/vmlinuz", e.url))
        .header("Range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.bytes().await.unwrap().to_vec(),
        (10..20).map(|i| i as u8).collect::<Vec<u8>>()
    );

    // Tokens: none, foreign, then the right one.
    let hello = json!({"run_id": run, "boot_id": "b", "hostname": "h", "macs": [], "cmdline": "", "probe_version": "t"});
    let r = c
        .post(format!("{}/api/v1/agent/hello", e.url))
        .json(&hello)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .post(format!("{}/api/v1/agent/hello", e.url))
        .bearer_auth("f".repeat(64))
        .json(&hello)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    assert_eq!(
        agent_boot(&c, &e.url, &run, &t1, &"1".repeat(36), 250 * 1024).await,
        1
    );
    // Boot 1's agent is told to power off once the run cycles.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let hb: HeartbeatResponse = c
            .post(format!("{}/api/v1/agent/heartbeat", e.url))
            .bearer_auth(&t1)
            .json(&HeartbeatRequest {
                run_id: run.clone(),
                boot_id: "1".repeat(36),
            })
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if hb.command == AgentCommand::Poweroff {
            break;
        }
        assert!(Instant::now() < deadline, "never asked to power off");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    *running.lock().unwrap() = false; // the guest powers itself off
    wait_state(&c, &e.url, &run, "revalidate").await;
    let t2 = boot_token(&c, &e.url, &run).await;
    assert_ne!(t1, t2, "each boot window has its own token");
    assert_eq!(
        agent_boot(&c, &e.url, &run, &t2, &"2".repeat(36), 250 * 1024).await,
        2
    );
    let v = wait_state(&c, &e.url, &run, "passed").await;
    assert_eq!(v.verdict, Some(e2et_model::Verdict::Passed));

    // Server-sent events: one per stored transition, in order, the last
    // with the verdict; a client resuming from an id gets the rest.
    let seen = next_events(stream, v.transitions.len()).await;
    let states = |ev: &[RunEvent]| ev.iter().map(|e| e.state.to_string()).collect::<Vec<_>>();
    assert_eq!(
        states(&seen),
        v.transitions
            .iter()
            .map(|t| t.to.clone())
            .collect::<Vec<_>>()
    );
    assert!(seen.iter().all(|e| e.run == run && e.host == "vm1"));
    let last = seen.last().unwrap();
    assert_eq!(
        (last.verdict, last.from),
        (
            Some(e2et_model::Verdict::Passed),
            Some(e2et_model::RunState::Report)
        )
    );
    let resumed = next_events(events(&c, &e.url, Some(&seen[2].id)).await, seen.len() - 3).await;
    assert_eq!(states(&resumed), states(&seen[3..]));
    let r = events(&c, &e.url, Some("0-1")).await;
    let (kind, _) = next_sse(r).await;
    assert_eq!(kind, "resync", "an id from another coordinator start");

    // The boots' tokens are on their cmdlines (hello, facts): nothing
    // anyone reads carries them.
    for f in ReportFormat::ALL.iter().map(|f| f.file_name()) {
        let text = get_text(&c, &format!("{}/api/v1/runs/{run}/{f}", e.url)).await;
        assert!(!text.contains(&t1) && !text.contains(&t2), "{f}: {text}");
    }
    let view = get_text(&c, &format!("{}/api/v1/runs/{run}", e.url)).await;
    assert!(!view.contains(&t1) && !view.contains(&t2), "{view}");
    let rep: e2et_model::Report = c
        .get(format!("{}/api/v1/runs/{run}/report.json", e.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lc = &rep.lifecycle;
    assert_eq!(
        (lc.provisionings, lc.power_cycles, lc.boots, lc.validations),
        (1, 1, 2, 2)
    );
    let actions: Vec<(&str, Option<&str>)> = rep
        .run
        .power_steps
        .iter()
        .map(|p| (p.action.as_str(), p.observed.map(|o| o.as_str())))
        .collect();
    assert_eq!(
        actions,
        [
            ("off", Some("off")),
            ("on", Some("on")),
            ("soft_off", Some("off")),
            ("off", Some("off")),
            ("on", Some("on"))
        ]
    );
    let junit = c
        .get(format!("{}/api/v1/runs/{run}/report.junit.xml", e.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        junit.contains("<testsuites") && junit.contains("verdict — passed"),
        "{junit}"
    );
    // After the run, the agent is dismissed and the MAC boots locally again.
    let r = c
        .post(format!("{}/api/v1/agent/heartbeat", e.url))
        .bearer_auth(&t2)
        .json(&HeartbeatRequest {
            run_id: run.clone(),
            boot_id: "2".repeat(36),
        })
        .send()
        .await
        .unwrap();
    let hb: HeartbeatResponse = r.json().await.unwrap();
    assert_eq!(hb.command, AgentCommand::Abort);
    let s = c
        .get(format!("{}/boot/{MAC}.ipxe", e.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(s.contains("sanboot"), "{s}");
    // A passed cold run promotes what its last boot ran to last-known-good.
    let hosts: Value = c
        .get(format!("{}/api/v1/hosts", e.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lkg = &hosts["vm1"]["lastKnownGood"];
    assert_eq!(lkg["run"], json!(run), "{hosts}");
    assert!(
        lkg["revision"]
            .as_str()
            .is_some_and(|r| r.starts_with("dpkg packages sha256:")),
        "{hosts}"
    );
    // The dashboard and the HTML report show the run.
    let page = c
        .get(format!("{}/", e.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("<tr id=\"run-{run}\" class=\"passed\">"))
            && page.contains("<tr id=\"host-vm1\" class=\"passed\"><td>vm1</td>")
            && page.contains("new EventSource('/api/v1/events')"),
        "{page}"
    );
    let h = c
        .get(format!("{}/api/v1/runs/{run}/report.html", e.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        h.contains("vm1: <span class=\"verdict passed\">passed</span>")
            && h.contains("Power steps"),
        "{h}"
    );
    // Prometheus metrics saw the run, the agent API and the PDU.
    let m = c
        .get(format!("{}/metrics", e.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("e2et_runs{state=\"passed\"} 1"), "{m}");
    for st in [
        "queued",
        "power_on",
        "provisioning",
        "validate",
        "power_cycle",
        "report",
    ] {
        assert!(
            m.contains(&format!(
                "e2et_run_state_duration_seconds_count{{state=\"{st}\"}} 1"
            )),
            "{st}: {m}"
        );
    }
    assert!(m.contains("e2et_event_subscribers "), "{m}");
    assert!(m.contains("e2et_run_verdicts{verdict=\"passed\"} 1"), "{m}");
    assert!(m.contains("e2et_http_request_duration_seconds_count{route=\"/api/v1/agent/hello\",status=\"200\"} 2"), "{m}");
    assert!(
        m.contains(
            "e2et_pdu_command_duration_seconds_count{pdu=\"q\",action=\"off\",ok=\"true\"} 2"
        ),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outlet_that_never_switches_fails_the_run_with_what_was_read() {
    let (d, _) = with_qmp_peer(true, true);
    let e = start(d.path(), false);
    let c = client();
    wait_up(&c, &e.url).await;
    let v = create_run(&c, &e.url, "vm1").await;
    let v = wait_end(&c, &e.url, &v.id, 30).await;
    assert_eq!(v.state.as_str(), "failed");
    let rep = report_of(&c, &e.url, &v.id).await;
    let step = &rep.run.power_steps[0];
    assert_eq!(
        (
            step.action.as_str(),
            step.ok,
            step.observed.map(|o| o.as_str())
        ),
        ("off", false, Some("on"))
    );
    assert!(step.detail.contains("did not reach off"), "{}", step.detail);
    assert!(
        rep.run
            .power_steps
            .iter()
            .all(|p| p.action != e2et_model::report::PowerAction::On),
        "never switched on after a failed off"
    );
    assert!(
        rep.reasons
            .iter()
            .any(|r| r.contains("provisioning.power_on")),
        "{:?}",
        rep.reasons
    );
    // The operator holds the failed host, then releases it; reasons required.
    let act = |action: &str, reason: &str| {
        c.post(format!("{}/api/v1/runs/{}/{action}", e.url, v.id))
            .json(&json!({ "reason": reason }))
            .send()
    };
    assert_eq!(act("hold", "").await.unwrap().status(), 400);
    let held: RunView = act("hold", "relay 1 stuck, checking the PDU")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(held.state.as_str(), "holding");
    assert!(held.note.contains("relay 1 stuck"), "{}", held.note);
    assert_eq!(act("hold", "again").await.unwrap().status(), 409);
    // A held host takes no new run until it is released.
    let r = c
        .post(format!("{}/api/v1/runs", e.url))
        .json(&json!({"host": "vm1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let err: ApiError = r.json().await.unwrap();
    assert!(
        err.code == "host_busy" && err.message.contains("holding"),
        "{err:?}"
    );
    let rel: RunView = act("release", "PDU relay replaced")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rel.state.as_str(), "released");
}
