//! Who may speak for a run's host, through the real daemon: one token per
//! boot window, bound to the first boot that says hello with it, taken from
//! the host's own address only. Every second claimant fails the run loudly,
//! with a reason naming both, and causes no power action.
mod common;
use common::*;
use e2et_model::api::*;
use e2et_model::{RunState, Verdict};

/// vm1's cold run, started and waiting for its first boot.
async fn provisioning() -> (tempfile::TempDir, Daemon, reqwest::Client, String) {
    let (d, _running) = with_qmp_peer(false, false);
    let e = start(d.path(), false);
    let c = client();
    wait_up(&c, &e.url).await;
    let run = create_run(&c, &e.url, "vm1").await.id;
    wait_state(&c, &e.url, &run, "provisioning").await;
    (d, e, c, run)
}

async fn script(c: &reqwest::Client, url: &str) -> String {
    get_text(c, &format!("{url}/boot/{MAC}.ipxe")).await
}

/// The run ended failed, its report says why (naming `names`), and the
/// conflict caused no power action: a cold run's stop before its cycle.
async fn failed_for_conflict(c: &reqwest::Client, url: &str, run: &str, names: &[&str]) {
    failed_after_cycles(c, url, run, names, 0).await
}

async fn failed_after_cycles(
    c: &reqwest::Client,
    url: &str,
    run: &str,
    names: &[&str],
    cycles: u32,
) {
    let v = wait_end(c, url, run, 30).await;
    assert_eq!(v.state, RunState::Failed, "{}", v.note);
    let r = report_of(c, url, run).await;
    assert_eq!(r.verdict, Verdict::Failed, "{:?}", r.reasons);
    assert!(
        r.reasons.iter().any(|x| x.contains("conflicting agents")),
        "{:?}",
        r.reasons
    );
    let check = r
        .run_checks
        .iter()
        .find(|c| c.id == "provisioning.one_agent")
        .expect("the conflict is a check of the report");
    assert!(check.failed(), "{check:?}");
    for n in names {
        assert!(check.evidence.contains(n), "{n} not in {}", check.evidence);
        assert!(
            r.reasons.iter().any(|x| x.contains(n)),
            "{n} not in {:?}",
            r.reasons
        );
    }
    let states: Vec<&str> = r.run.transitions.iter().map(|t| t.to.as_str()).collect();
    assert_eq!(
        states.iter().filter(|s| **s == "power_cycle").count() as u32,
        cycles,
        "{states:?}"
    );
    assert_eq!(r.lifecycle.power_cycles, cycles);
    assert_eq!(states.last(), Some(&"report"), "{states:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_boot_script_asked_for_from_another_address_carries_no_token_and_fails_the_run() {
    let (_d, e, c, run) = provisioning().await;
    let s = script(&client_from("127.0.0.66"), &e.url).await;
    assert!(!s.contains("e2et.token="), "{s}");
    assert!(
        s.contains("sanboot") && s.contains("conflicting agents"),
        "{s}"
    );
    // The host itself now gets nothing either: the run is over.
    failed_for_conflict(&c, &e.url, &run, &["127.0.0.66", VM1_IP]).await;
    let s = script(&c, &e.url).await;
    assert!(!s.contains("e2et.token="), "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_fetch_in_the_same_boot_window_gets_no_token_and_fails_the_run() {
    let (_d, e, c, run) = provisioning().await;
    let first = boot_token(&c, &e.url, &run).await;
    let s = script(&c, &e.url).await;
    assert!(!s.contains("e2et.token="), "{s}");
    assert!(s.contains("boot window 1"), "{s}");
    failed_for_conflict(&c, &e.url, &run, &["boot window 1", VM1_IP]).await;
    // The first token died with the run.
    let r = c
        .post(format!("{}/api/v1/agent/heartbeat", e.url))
        .bearer_auth(&first)
        .json(&HeartbeatRequest {
            run_id: run.clone(),
            boot_id: "a".repeat(36),
        })
        .send()
        .await
        .unwrap();
    let b: HeartbeatResponse = r.json().await.unwrap();
    assert_eq!(b.command, AgentCommand::Abort);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_boot_ids_with_one_windows_token_fail_the_run_naming_both() {
    let (_d, e, c, run) = provisioning().await;
    let t = boot_token(&c, &e.url, &run).await;
    let cmdline = format!("e2et.run={run} e2et.token={t}");
    let hello = |boot: String| {
        let (c, url, t, run, cmdline) = (
            c.clone(),
            e.url.clone(),
            t.clone(),
            run.clone(),
            cmdline.clone(),
        );
        async move { say_hello(&c, &url, &run, &t, &boot, &cmdline).await }
    };
    let first = "1".repeat(36);
    let second = "2".repeat(36);
    // A boot id is the kernel's: no terminal escapes, no iPXE commands.
    for bad in ["x\u{1b}[2J", "x ; chain http://evil", "", &"a".repeat(65)] {
        let r = hello(bad.to_string()).await;
        assert_eq!(r.status(), 422, "{bad:?}");
    }
    assert_eq!(hello(first.clone()).await.status(), 200);
    // Saying hello again for the same boot is fine.
    assert_eq!(hello(first.clone()).await.status(), 200);
    let r = hello(second.clone()).await;
    assert_eq!(r.status(), 409);
    let err: ApiError = r.json().await.unwrap();
    assert_eq!(err.code, "conflicting_agents");
    failed_for_conflict(&c, &e.url, &run, &[&first, &second]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_token_used_from_another_address_is_refused_and_fails_the_run() {
    let (_d, e, c, run) = provisioning().await;
    let t = boot_token(&c, &e.url, &run).await;
    let r = client_from("127.0.0.66")
        .post(format!("{}/api/v1/agent/hello", e.url))
        .bearer_auth(&t)
        .json(&HelloRequest {
            run_id: run.clone(),
            boot_id: "6".repeat(36),
            hostname: "vm1".into(),
            macs: vec![MAC.into()],
            cmdline: String::new(),
            probe_version: "test".into(),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    failed_for_conflict(&c, &e.url, &run, &["127.0.0.66", VM1_IP]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_boot_enrolling_in_a_quick_run_fails_it_naming_both() {
    let (d, _running) = with_qmp_peer(true, false);
    let key = ENROL_KEY;
    let e = start_enrolling(d.path(), inventory(d.path(), false), &[]);
    let c = client();
    wait_up(&c, &e.url).await;
    let run = create_run_mode(&c, &e.url, "vm1", "quick").await.id;
    wait_state(&c, &e.url, &run, "revalidate").await;
    let now = chrono::Utc::now().timestamp();
    // Signed with the host's key, but from another address.
    let r = enrol(
        &client_from("127.0.0.66"),
        &e.url,
        "vm1",
        &"6".repeat(36),
        key,
        now,
    )
    .await;
    assert_eq!(r.status(), 403);
    let (first, second) = ("1".repeat(36), "2".repeat(36));
    // The foreign enrolment failed the run: nobody enrols in it any more.
    let r = enrol(&c, &e.url, "vm1", &first, key, now).await;
    assert!(
        matches!(r.status().as_u16(), 404 | 409),
        "{}",
        r.text().await.unwrap()
    );
    failed_after_cycles(&c, &e.url, &run, &["127.0.0.66", VM1_IP], 1).await;

    // A fresh quick run: its boot enrols, then a second boot id does too.
    let run = create_run_mode(&c, &e.url, "vm1", "quick").await.id;
    wait_state(&c, &e.url, &run, "revalidate").await;
    let r = enrol(&c, &e.url, "vm1", &first, key, now).await;
    assert_eq!(r.status(), 200);
    let r = enrol(&c, &e.url, "vm1", &second, key, now).await;
    assert_eq!(r.status(), 409);
    assert_eq!(
        r.json::<ApiError>().await.unwrap().code,
        "conflicting_agents"
    );
    failed_after_cycles(&c, &e.url, &run, &[&first, &second], 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolled_token_speaks_only_for_the_boot_that_enrolled() {
    let (d, _running) = with_qmp_peer(true, false);
    let key = ENROL_KEY;
    let e = start_enrolling(d.path(), inventory(d.path(), false), &[]);
    let c = client();
    wait_up(&c, &e.url).await;
    let run = create_run_mode(&c, &e.url, "vm1", "quick").await.id;
    wait_state(&c, &e.url, &run, "revalidate").await;
    let (enrolled, other) = ("1".repeat(36), "2".repeat(36));
    let now = chrono::Utc::now().timestamp();
    let r = enrol(&c, &e.url, "vm1", &enrolled, key, now).await;
    assert_eq!(r.status(), 200);
    let en: EnrolResponse = r.json().await.unwrap();
    // The token says hello for another boot: a second agent.
    let r = say_hello(&c, &e.url, &run, &en.token, &other, "").await;
    assert_eq!(r.status(), 409);
    assert_eq!(
        r.json::<ApiError>().await.unwrap().code,
        "conflicting_agents"
    );
    failed_after_cycles(&c, &e.url, &run, &[&enrolled, &other], 1).await;
}
