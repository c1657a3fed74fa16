//! Notices reach ntfy, a webhook and SMTP without holding up a run.
mod common;
use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// scripts/notify-peers.py: an HTTP and an SMTP receiver recording to `out`.
struct Peers {
    child: Child,
    http: u16,
    smtp: u16,
}

impl Drop for Peers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn notify_peers(out: &Path, secret: &str) -> Peers {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/notify-peers.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(out)
        .arg(secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 for the notification peers");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(
        line.starts_with("ready"),
        "notify-peers.py did not start (needs aiosmtpd: scripts/lab-deps.sh installs it): {line:?}"
    );
    let port = |k: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|p| p.parse().ok())
            .unwrap()
    };
    Peers {
        http: port("http="),
        smtp: port("smtp="),
        child,
    }
}

fn received(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "host tier: python3 with aiosmtpd and scripts/notify-peers.py (outside the package); scripts/test.sh runs it"]
async fn notifications_reach_ntfy_webhook_and_smtp_without_holding_up_the_run() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("pdu")).unwrap();
    let rec = d.path().join("received.jsonl");
    let peers = notify_peers(&rec, "hook-secret-1");
    let creds = d.path().join("creds");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::write(creds.join("notify-hook-secret"), "hook-secret-1\n").unwrap();
    std::fs::write(creds.join("notify-flaky-secret"), "hook-secret-1\n").unwrap();
    std::fs::write(creds.join("notify-dead-secret"), "hook-secret-1\n").unwrap();
    std::fs::write(creds.join("notify-phone-token"), "tk_ntfy\n").unwrap();
    let h = format!("http://127.0.0.1:{}", peers.http);
    let all = ["run_failed", "run_held", "pdu_error", "run_passed"];
    let cfg = json!({"targets": [
        {"kind": "ntfy", "name": "phone", "url": format!("{h}/e2et-alerts"), "token": true, "events": ["run_failed", "pdu_error"]},
        {"kind": "webhook", "name": "hook", "url": format!("{h}/hook"), "events": all},
        {"kind": "webhook", "name": "flaky", "url": format!("{h}/flaky"), "events": ["run_failed"]},
        {"kind": "webhook", "name": "dead", "url": format!("{h}/dead"), "events": ["run_failed"]},
        {"kind": "smtp", "name": "mail", "server": format!("127.0.0.1:{}", peers.smtp), "tls": "none",
         "from": "e2et <e2et@lab.test>", "to": ["ops@lab.test", "oncall@lab.test"], "events": ["run_failed", "run_held"]},
    ]});
    std::fs::write(d.path().join("notify.json"), cfg.to_string()).unwrap();
    let (nc, cd) = (
        d.path().join("notify.json").display().to_string(),
        creds.display().to_string(),
    );
    // An outlet stuck on: the power-on's off never reads back.
    let running = Arc::new(Mutex::new(true));
    qmp_peer(&d.path().join("pdu/outlet-1.qmp"), running, true);
    let e = start_with(
        d.path(),
        false,
        &["--notify-config", &nc, "--credentials-dir", &cd],
    );
    let c = client();
    wait_up(&c, &e.url).await;
    let v = create_run(&c, &e.url, "vm1").await;
    // The run ends at its own pace: the dead receiver's retries do not hold it.
    let failed = wait_state(&c, &e.url, &v.id, "failed").await;
    let r = c
        .post(format!("{}/api/v1/runs/{}/hold", e.url, v.id))
        .json(&json!({"reason": "relay 1 welded"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let want = |r: &[Value]| {
        let n = |f: &dyn Fn(&Value) -> bool| r.iter().filter(|x| f(x)).count();
        n(&|x| x["path"] == "/e2et-alerts") >= 2
            && n(&|x| x["path"] == "/hook") >= 3
            && n(&|x| x["path"] == "/flaky" && x["status"] == 200) == 1
            && n(&|x| x["path"] == "/dead") == 3
            && n(&|x| x["peer"] == "smtp") >= 2
    };
    let deadline = Instant::now() + Duration::from_secs(40);
    let got = loop {
        let got = received(&rec);
        if want(&got) {
            break got;
        }
        assert!(
            Instant::now() < deadline,
            "notifications missing; received: {got:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let body = |x: &Value| -> Value { serde_json::from_str(x["body"].as_str().unwrap()).unwrap() };
    let hooks: Vec<&Value> = got.iter().filter(|x| x["path"] == "/hook").collect();
    assert!(
        hooks.iter().all(|x| x["signature_valid"] == true),
        "{hooks:#?}"
    );
    let kinds: Vec<String> = hooks
        .iter()
        .map(|x| x["headers"]["x-e2et-event"].as_str().unwrap().to_string())
        .collect();
    for k in ["pdu_error", "run_failed", "run_held"] {
        assert!(kinds.iter().any(|x| x == k), "{k} not in {kinds:?}");
    }
    let f = hooks
        .iter()
        .map(|x| body(x))
        .find(|b| b["kind"] == "run_failed")
        .unwrap();
    assert_eq!(f["run"]["run"], v.id.as_str());
    assert_eq!(f["run"]["state"], "failed");
    assert!(
        f["reasons"].as_array().is_some_and(|r| !r.is_empty()),
        "a failed run's notice says why: {f}"
    );
    assert!(f["link"].as_str().unwrap().ends_with("/report.html"));
    let p = hooks
        .iter()
        .map(|x| body(x))
        .find(|b| b["kind"] == "pdu_error")
        .unwrap();
    assert_eq!(
        (&p["pdu_step"]["action"], &p["pdu_step"]["observed"]),
        (&json!("off"), &json!("on"))
    );
    let held = hooks
        .iter()
        .map(|x| body(x))
        .find(|b| b["kind"] == "run_held")
        .unwrap();
    assert!(held["message"].as_str().unwrap().contains("relay 1 welded"));
    // ntfy: the topic, its token, a title and priority.
    let n = got.iter().find(|x| x["path"] == "/e2et-alerts").unwrap();
    assert_eq!(n["headers"]["authorization"], "Bearer tk_ntfy");
    assert_eq!(n["headers"]["priority"], "high");
    assert!(n["headers"]["title"].as_str().unwrap().starts_with("vm1"));
    // SMTP: both recipients, a subject naming the host.
    let m = got.iter().find(|x| x["peer"] == "smtp").unwrap();
    assert_eq!(m["rcpt_tos"], json!(["ops@lab.test", "oncall@lab.test"]));
    assert!(
        m["data"].as_str().unwrap().contains("Subject: [e2et] vm1"),
        "{m}"
    );
    // The flaky receiver got it on the third try; the dead one never did,
    // which is logged and counted, and changed nothing for the run.
    assert_eq!(failed.state.as_str(), "failed");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let m = c
            .get(format!("{}/metrics", e.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if m.contains(
            "e2et_notifications_total{target=\"dead\",kind=\"run_failed\",delivered=\"false\"} 1",
        ) {
            assert!(m.contains("e2et_notifications_total{target=\"flaky\",kind=\"run_failed\",delivered=\"true\"} 1"), "{m}");
            break;
        }
        assert!(Instant::now() < deadline, "{m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = daemon_logs(d.path());
    assert!(
        log.contains("notification not delivered") && log.contains("dead"),
        "{log}"
    );
    assert!(
        !log.contains("hook-secret-1") && !log.contains("tk_ntfy"),
        "secrets stay out of the log"
    );
}
