//! A coordinator that crashes or restarts: runs resume, power is never
//! repeated, silent hosts are caught with their trail.
mod common;
use common::*;
use e2et_model::api::*;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_in_inventory_gate_resumes_the_run() {
    let (d, running) = with_qmp_peer(false, false);
    let c = client();
    let mut e = start_with(d.path(), false, &["--crash-after", "inventory_gate"]);
    wait_up(&c, &e.url).await;
    // The reply may or may not beat the abort; the store has the run either way.
    let _ = c
        .post(format!("{}/api/v1/runs", e.url))
        .json(&json!({"host": "vm1"}))
        .send()
        .await;
    wait_crash(&mut e, d.path());
    assert!(
        !*running.lock().unwrap(),
        "no power action before the crash"
    );
    drop(e);
    let e = start(d.path(), false);
    wait_up(&c, &e.url).await;
    let runs = list_runs(&c, &e.url).await;
    assert_eq!(runs.len(), 1);
    let v = wait_state(&c, &e.url, &runs[0].id, "provisioning").await;
    let states: Vec<&str> = v.transitions.iter().map(|t| t.to.as_str()).collect();
    assert_eq!(
        states,
        ["queued", "inventory_gate", "power_on", "provisioning"],
        "resumed without repeating"
    );
    assert!(*running.lock().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_power_command_and_read_back_holds_the_run() {
    let (d, running) = with_qmp_peer(true, false);
    let c = client();
    let mut e = start_with(d.path(), false, &["--crash-after", "intent:off"]);
    wait_up(&c, &e.url).await;
    let v = create_run(&c, &e.url, "vm1").await;
    wait_crash(&mut e, d.path());
    drop(e);
    let e = start(d.path(), false);
    wait_up(&c, &e.url).await;
    let v = wait_state(&c, &e.url, &v.id, "holding").await;
    assert!(
        v.note.contains("not read back") && v.note.contains("power_on"),
        "{}",
        v.note
    );
    // Nothing was switched after the restart: the outlet is as it was.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        *running.lock().unwrap(),
        "a power action the store cannot justify was repeated"
    );
    let r = c
        .get(format!("{}/api/v1/runs/{}/report.json", e.url, v.id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "a held run has no verdict report");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_silent_after_hello_times_out_on_the_heartbeat_with_its_trail() {
    let (d, _) = with_qmp_peer(true, false);
    // The host's serial console: a socket the coordinator reads.
    let sock = d.path().join("vm1.console");
    let listener = tokio::net::UnixListener::bind(&sock).unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s
                .write_all(b"\x1b[2JSeaBIOS\r\nLinux version 6.1\r\nINFO: task kworker/0:1 blocked for more than 120 seconds.\r\n")
                .await;
            tokio::time::sleep(Duration::from_secs(600)).await;
        }
    });
    let mut inv = inventory(d.path(), false);
    inv["hosts"]["vm1"]["consoleCapture"] = Value::String(format!("unix:{}", sock.display()));
    let dhcp_log = d.path().join("dnsmasq.log").display().to_string();
    let e = start_inv(
        d.path(),
        inv,
        &[
            "--facts-timeout-s",
            "120",
            "--heartbeat-timeout-s",
            "2",
            "--dhcp-log",
            &dhcp_log,
        ],
    );
    let c = client();
    wait_up(&c, &e.url).await;
    let v = create_run(&c, &e.url, "vm1").await;
    wait_state(&c, &e.url, &v.id, "provisioning").await;
    // The host's DHCP after its power-on, as dnsmasq's `log-facility`
    // writes it (local time, whole seconds).
    let stamp = chrono::Local::now().format("%b %e %H:%M:%S");
    std::fs::write(
        d.path().join("dnsmasq.log"),
        format!(
            "{stamp} dnsmasq-dhcp[7]: 42 DHCPDISCOVER(br0) {MAC} \n\
             {stamp} dnsmasq-dhcp[7]: 42 DHCPACK(br0) 10.99.0.11 {MAC} vm1\n\
             {stamp} dnsmasq-dhcp[7]: 43 DHCPDISCOVER(br0) 52:54:00:00:00:99 ignored\n"
        ),
    )
    .unwrap();
    let token = boot_token(&c, &e.url, &v.id).await;
    let boot_id = "6e0c1a2b-0000-4000-8000-000000000001";
    c.post(format!("{}/api/v1/agent/hello", e.url))
        .bearer_auth(&token)
        .json(&HelloRequest {
            run_id: v.id.clone(),
            boot_id: boot_id.into(),
            hostname: "vm1".into(),
            macs: vec![MAC.into()],
            cmdline: format!("e2et.run={} e2et.token=x", v.id),
            probe_version: "test".into(),
        })
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let hb: HeartbeatResponse = c
        .post(format!("{}/api/v1/agent/heartbeat", e.url))
        .bearer_auth(&token)
        .json(&HeartbeatRequest {
            run_id: v.id.clone(),
            boot_id: boot_id.into(),
        })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(hb.command, AgentCommand::Continue);
    // Then nothing: the host hangs while collecting.
    let v = wait_end(&c, &e.url, &v.id, 60).await;
    assert_ne!(v.state.as_str(), "passed");
    let rep = report_of(&c, &e.url, &v.id).await;
    let check = rep
        .run_checks
        .iter()
        .find(|c| c.id == "first_boot.facts_reported.boot1")
        .unwrap_or_else(|| panic!("no facts check: {:?}", rep.run_checks));
    for want in [
        "agent silent for",
        "(heartbeat timeout 2s)",
        "last heard: heartbeat",
        "last DHCP seen at",
        &format!("(DHCPACK(br0) 10.99.0.11 {MAC} vm1)"),
        "iPXE script fetched at",
        "console's last line: \"INFO: task kworker/0:1 blocked for more than 120 seconds.\"",
    ] {
        assert!(
            check.evidence.contains(want),
            "no {want:?} in: {}",
            check.evidence
        );
    }
    // The console is served with the run.
    let console = c
        .get(format!("{}/api/v1/runs/{}/console.log", e.url, v.id))
        .send()
        .await
        .unwrap();
    assert_eq!(console.status(), 200);
    let text = console.text().await.unwrap();
    assert!(text.contains("Linux version 6.1"), "{text}");
    // The dashboard links it from the run's row, and tells its script which
    // hosts have one (for rows it adds live).
    let page = c
        .get(format!("{}/", e.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!(
            "<a href=\"/api/v1/runs/{}/console.log\">console</a>",
            v.id
        )) && page.contains(r#"document.body.dataset.consoles = "[\"vm1\"]";"#),
        "{page}"
    );
    let none = c
        .get(format!("{}/api/v1/runs/nope/console.log", e.url))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_hangs_while_the_coordinator_is_down_is_caught_after_the_restart() {
    let (d, _) = with_qmp_peer(true, false);
    let c = client();
    let mut e = start_with(d.path(), false, &["--crash-after", "validate"]);
    wait_up(&c, &e.url).await;
    let v = create_run(&c, &e.url, "vm1").await;
    wait_state(&c, &e.url, &v.id, "provisioning").await;
    let token = boot_token(&c, &e.url, &v.id).await;
    // The hello moves the run to validate, where the coordinator aborts; the
    // answer may or may not beat the abort.
    let _ = c
        .post(format!("{}/api/v1/agent/hello", e.url))
        .bearer_auth(&token)
        .json(&HelloRequest {
            run_id: v.id.clone(),
            boot_id: "6e0c1a2b-0000-4000-8000-000000000002".into(),
            hostname: "vm1".into(),
            macs: vec![MAC.into()],
            cmdline: format!("e2et.run={} e2et.token=x", v.id),
            probe_version: "test".into(),
        })
        .send()
        .await;
    wait_crash(&mut e, d.path());
    drop(e);
    // Restarted; the agent never speaks again (the host hung meanwhile).
    let e = start_with(
        d.path(),
        false,
        &["--facts-timeout-s", "120", "--heartbeat-timeout-s", "2"],
    );
    wait_up(&c, &e.url).await;
    let v = wait_end(&c, &e.url, &v.id, 60).await;
    let rep = report_of(&c, &e.url, &v.id).await;
    let check = rep
        .run_checks
        .iter()
        .find(|c| c.id == "first_boot.facts_reported.boot1")
        .unwrap_or_else(|| panic!("no facts check: {:?}", rep.run_checks));
    assert!(
        check.evidence.contains("agent silent for")
            && check
                .evidence
                .contains("last heard: nothing since the coordinator restarted"),
        "{}",
        check.evidence
    );
}
