use super::*;
use rusqlite::params;

#[test]
fn committed_pages_reach_the_database_file_without_the_writer_checkpointing() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("s.db");
    let s = Store::open(&db).unwrap();
    let before = std::fs::metadata(&db).unwrap().len();
    let spec = "x".repeat(4000);
    for i in 0..200 {
        s.create_run(&format!("r{i}"), &format!("h{i}"), RunMode::Cold, &spec)
            .wait()
            .unwrap();
    }
    // The writer never checkpoints (wal_autocheckpoint=0); the
    // checkpoint thread copies the ~800 KB of frames into the file.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::metadata(&db).unwrap().len() < before + 500_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the database file stayed at {} bytes",
            std::fs::metadata(&db).unwrap().len()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(s.run("r199").unwrap().unwrap().host, "h199");
}

#[test]
fn old_boot_requests_expire_except_those_of_runs_in_flight() {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(&d.path().join("s.db")).unwrap();
    s.create_run("done", "vm1", RunMode::Cold, "{}")
        .wait()
        .unwrap();
    s.transition("done", RunState::Passed, "x").wait().unwrap();
    s.create_run("live", "vm2", RunMode::Cold, "{}")
        .wait()
        .unwrap();
    s.write(|c| {
        for (at, run) in [
            ("2020-01-01T00:00:00.000Z", None),
            ("2020-01-02T00:00:00.000Z", Some("done")),
            ("2020-01-03T00:00:00.000Z", Some("live")),
            ("2030-01-01T00:00:00.000Z", None),
        ] {
            c.execute(
                "INSERT INTO boot_requests(at, mac, run_id, decision) VALUES (?1, 'm', ?2, 'd')",
                params![at, run],
            )?;
        }
        Ok(())
    })
    .wait()
    .unwrap();
    let cutoff = "2026-01-01T00:00:00.000Z";
    assert_eq!(s.expire_boot_requests(cutoff, 1).wait().unwrap(), 1);
    assert_eq!(s.expire_boot_requests(cutoff, 100).wait().unwrap(), 1);
    assert_eq!(s.expire_boot_requests(cutoff, 100).wait().unwrap(), 0);
    let left: Vec<String> = {
        let c = s.c();
        let mut st = c
            .prepare("SELECT at FROM boot_requests ORDER BY id")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    assert_eq!(
        left,
        ["2020-01-03T00:00:00.000Z", "2030-01-01T00:00:00.000Z"]
    );
    assert_eq!(s.run("done").unwrap().unwrap().state, RunState::Passed);
}

#[test]
fn transitions_are_numbered_and_survive_reopen() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("s.db");
    {
        let s = Store::open(&p).unwrap();
        s.create_run("r1", "vm1", RunMode::Cold, "{}")
            .wait()
            .unwrap();
        assert_eq!(
            s.transition("r1", RunState::InventoryGate, "a")
                .wait()
                .unwrap()
                .seq,
            1
        );
        assert_eq!(
            s.transition("r1", RunState::PowerOn, "b")
                .wait()
                .unwrap()
                .from,
            Some(RunState::InventoryGate)
        );
        s.power_intent(
            "r1",
            RunState::PowerOn,
            "p",
            1,
            e2et_model::report::PowerAction::Off,
        )
        .wait()
        .unwrap();
    }
    let s = Store::open(&p).unwrap();
    let r = s.run("r1").unwrap().unwrap();
    assert_eq!(r.state, RunState::PowerOn);
    let t = s.transitions("r1").unwrap();
    assert_eq!(t.len(), 3);
    assert_eq!(
        (t[2].from.as_str(), t[2].to.as_str()),
        ("inventory_gate", "power_on")
    );
    assert_eq!(s.unfinished_power("r1").unwrap(), 1);
    assert!(s.transition("nope", RunState::PowerOn, "x").wait().is_err());
}

#[test]
fn boots_are_idempotent_per_boot_id() {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(&d.path().join("s.db")).unwrap();
    s.create_run("r1", "vm1", RunMode::Cold, "{}")
        .wait()
        .unwrap();
    assert_eq!(s.add_boot("r1", "b1", "c").wait().unwrap(), (1, true));
    assert_eq!(s.add_boot("r1", "b1", "c").wait().unwrap(), (1, false));
    assert_eq!(s.add_boot("r1", "b2", "c").wait().unwrap(), (2, true));
}

#[test]
fn a_host_is_blocked_by_its_run_in_flight_or_its_held_run() {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(&d.path().join("s.db")).unwrap();
    s.create_run("r1", "vm1", RunMode::Cold, "{}")
        .wait()
        .unwrap();
    s.transition("r1", RunState::Failed, "x").wait().unwrap();
    s.create_run("r2", "vm2", RunMode::Cold, "{}")
        .wait()
        .unwrap();
    assert!(s.host_blocker("vm1").unwrap().is_none());
    s.create_run("r3", "vm1", RunMode::Cold, "{}")
        .wait()
        .unwrap();
    assert_eq!(s.host_blocker("vm1").unwrap().unwrap().id, "r3");
    assert_eq!(s.host_blocker("vm2").unwrap().unwrap().id, "r2");
    assert!(s.host_blocker("vm3").unwrap().is_none());
    s.transition("r3", RunState::Failed, "x").wait().unwrap();
    assert!(s.host_blocker("vm1").unwrap().is_none());
    s.transition("r3", RunState::Holding, "look")
        .wait()
        .unwrap();
    let b = s.host_blocker("vm1").unwrap().unwrap();
    assert_eq!((b.id.as_str(), b.state), ("r3", RunState::Holding));
    s.transition("r3", RunState::Released, "done")
        .wait()
        .unwrap();
    assert!(s.host_blocker("vm1").unwrap().is_none());
}

#[test]
fn one_run_per_host_and_guarded_transitions_are_decided_in_the_write() {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(&d.path().join("s.db")).unwrap();
    s.create_run("a", "vm1", RunMode::Cold, "{}")
        .wait()
        .unwrap();
    let busy = s.create_run("b", "vm1", RunMode::Cold, "{}").wait();
    assert!(
        matches!(&busy, Err(StoreError::HostBusy { run, .. }) if run == "a"),
        "{busy:?}"
    );
    assert!(s.run("b").unwrap().is_none(), "a refused run leaves no row");
    // Another host is free.
    s.create_run("c", "vm2", RunMode::Cold, "{}")
        .wait()
        .unwrap();
    s.transition_from("a", RunState::Queued, RunState::Failed, "x")
        .wait()
        .unwrap();
    let moved = s
        .transition_from("a", RunState::Queued, RunState::Holding, "y")
        .wait();
    assert!(matches!(moved, Err(StoreError::Moved { .. })), "{moved:?}");
    assert_eq!(s.run("a").unwrap().unwrap().state, RunState::Failed);
    // A failed run frees its host; a held one keeps it.
    s.create_run("d", "vm1", RunMode::Cold, "{}")
        .wait()
        .unwrap();
}

/// Runs r0..r<n> of vm1, each ended (failed) before the next starts: one
/// run per host at a time.
fn ended_runs(s: &Store, n: usize) {
    for i in 0..n {
        s.create_run(&format!("r{i}"), "vm1", RunMode::Cold, "{}")
            .wait()
            .unwrap();
        s.transition(&format!("r{i}"), RunState::Failed, "x")
            .wait()
            .unwrap();
    }
}

#[test]
fn history_pages_newest_first_without_reports() {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(&d.path().join("s.db")).unwrap();
    ended_runs(&s, 5);
    s.finish("r2", "passed", 1.0, "p99", "{}", None)
        .wait()
        .unwrap();
    let ids = |v: Vec<RunSummary>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(s.recent_runs(2, None).unwrap()), ["r4", "r3"]);
    assert_eq!(ids(s.recent_runs(2, Some("r3")).unwrap()), ["r2", "r1"]);
    assert_eq!(ids(s.recent_runs(9, Some("r1")).unwrap()), ["r0"]);
    assert!(s.recent_runs(9, Some("nope")).unwrap().is_empty());
    let r2 = &s.recent_runs(1, Some("r3")).unwrap()[0];
    assert!(r2.has_report && r2.verdict.as_deref() == Some("passed"));
    assert_eq!(s.last_run("vm1").unwrap().unwrap().id, "r4");
}

#[test]
fn last_known_good_moves_only_with_a_promotion_and_enrolment_is_once_per_boot() {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open(&d.path().join("s.db")).unwrap();
    ended_runs(&s, 3);
    assert!(s.last_known_good("vm1").unwrap().is_none());
    s.finish("r0", "passed", 1.0, "p99", "{}", Some("image a 1"))
        .wait()
        .unwrap();
    s.finish("r1", "transient", 1.0, "p99", "{}", None)
        .wait()
        .unwrap();
    let l = s.last_known_good("vm1").unwrap().unwrap();
    assert_eq!(
        (l.run_id.as_str(), l.revision.as_str()),
        ("r0", "image a 1")
    );
    s.finish("r2", "passed", 1.0, "p99", "{}", Some("image a 2"))
        .wait()
        .unwrap();
    let l = s.last_known_good("vm1").unwrap().unwrap();
    assert_eq!(
        (l.run_id.as_str(), l.revision.as_str()),
        ("r2", "image a 2")
    );

    assert_eq!(
        s.enrol("r1", "b1", "h1", "10.0.0.1").wait().unwrap(),
        Enrolled::New
    );
    assert_eq!(
        s.enrol("r1", "b1", "h2", "10.0.0.1").wait().unwrap(),
        Enrolled::Again
    );
    assert_eq!(
        s.enrol("r1", "b2", "h3", "10.0.0.1").wait().unwrap(),
        Enrolled::Other("b1".into())
    );
    assert_eq!(s.token_run("h1").unwrap().unwrap(), ("r1".into(), 1));
    for h in ["h2", "h3"] {
        assert!(
            s.token_run(h).unwrap().is_none(),
            "a refused enrolment leaves no token"
        );
    }
    // One token per boot window, whoever asks.
    assert_eq!(
        s.issue_token("r2", 1, "w1", "10.0.0.2").wait().unwrap(),
        Issued::New
    );
    let Issued::Taken { source, .. } = s.issue_token("r2", 1, "w1b", "10.0.0.3").wait().unwrap()
    else {
        panic!("a second token for window 1")
    };
    assert_eq!(source, "10.0.0.2");
    assert!(s.token_run("w1b").unwrap().is_none());
    assert_eq!(
        s.issue_token("r2", 2, "w2", "10.0.0.2").wait().unwrap(),
        Issued::New
    );
    assert_eq!(s.token_run("w2").unwrap().unwrap(), ("r2".into(), 2));
}
