//! e2et-pdu's APC driver against net-snmp's snmpd running the AP7901
//! emulator: every protocol combination, cross-checked with net-snmp's own
//! snmpget; the failures an operator meets; engine re-discovery after the
//! agent restarts.
use e2et_pdu::apc::{ApcConfig, ApcSnmpDriver, AuthProto, OutletTable, PrivProto, SnmpAuth};
use e2et_pdu::{switch_verified, Poll, PowerDriver, PowerState};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Emu {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for Emu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(dir: &Path, port: u16, stuck: &[u32]) -> Child {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("e2et-lab"));
    c.arg("pdu-emulator").arg("--dir").arg(dir).args([
        "--listen",
        &format!("udp:127.0.0.1:{port}"),
        "--delay-ms",
        "200",
    ]);
    for s in stuck {
        c.args(["--stuck", &s.to_string()]);
    }
    c.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("e2et-lab pdu-emulator")
}

fn snmpget(
    port: u16,
    user: &str,
    a: &str,
    ap: &str,
    p: &str,
    pp: &str,
    oid: &str,
) -> Option<String> {
    let o = Command::new("snmpget")
        .args([
            "-v3", "-l", "authPriv", "-u", user, "-a", a, "-A", ap, "-x", p, "-X", pp,
        ])
        .args(["-On", "-Oqv", "-t", "1", "-r", "0"])
        .arg(format!("127.0.0.1:{port}"))
        .arg(oid)
        .output()
        .expect("net-snmp's snmpget (package snmp)");
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

impl Emu {
    fn start(stuck: &[u32]) -> Emu {
        let dir = tempfile::tempdir().unwrap().keep();
        let port = free_udp_port();
        let child = spawn(&dir, port, stuck);
        let e = Emu { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while snmpget(
            port,
            "e2et-shaaes",
            "SHA",
            "sha-auth-pass",
            "AES",
            "sha-priv-pass",
            "1.3.6.1.2.1.1.2.0",
        )
        .is_none()
        {
            assert!(
                Instant::now() < deadline,
                "snmpd did not come up; see {}",
                e.dir.join("snmpd.log").display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        e
    }

    fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(&self.dir, self.port, &[]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while snmpget(
            self.port,
            "e2et-shaaes",
            "SHA",
            "sha-auth-pass",
            "AES",
            "sha-priv-pass",
            "1.3.6.1.2.1.1.2.0",
        )
        .is_none()
        {
            assert!(Instant::now() < deadline, "snmpd did not come back");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn driver(
        &self,
        user: &str,
        auth: AuthProto,
        ap: &str,
        privacy: Option<(PrivProto, &str)>,
    ) -> ApcSnmpDriver {
        ApcSnmpDriver::new(ApcConfig {
            name: "emu".into(),
            address: format!("127.0.0.1:{}", self.port),
            auth: SnmpAuth::V3 {
                user: user.into(),
                auth,
                auth_password: ap.into(),
                privacy: privacy.map(|(p, s)| (p, s.to_string())),
            },
            table: OutletTable::Rpdu,
            timeout: Duration::from_millis(700),
            retries: 1,
        })
    }
}

const POLL: Poll = Poll {
    interval: Duration::from_millis(100),
    timeout: Duration::from_secs(5),
};
const STATE: &str = "1.3.6.1.4.1.318.1.1.12.3.5.1.1.4";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_protocol_combination_matches_net_snmp() {
    let e = Emu::start(&[]);
    let combos = [
        (
            "e2et-md5des",
            AuthProto::Md5,
            "MD5",
            "md5-auth-pass",
            PrivProto::Des,
            "DES",
            "md5-priv-pass",
            1u32,
        ),
        (
            "e2et-shaaes",
            AuthProto::Sha,
            "SHA",
            "sha-auth-pass",
            PrivProto::Aes,
            "AES",
            "sha-priv-pass",
            2,
        ),
        (
            "e2et-sha256aes",
            AuthProto::Sha256,
            "SHA-256",
            "sha256-auth-pass",
            PrivProto::Aes,
            "AES",
            "sha256-priv-pass",
            3,
        ),
    ];
    for (user, auth, a, ap, privacy, p, pp, outlet) in combos {
        let d = e.driver(user, auth, ap, Some((privacy, pp)));
        let id = d.identify().await.unwrap();
        assert_eq!(id.sys_object_id, "1.3.6.1.4.1.318.1.3.4.5");
        assert_eq!(id.model.as_deref(), Some("AP7901"));
        assert_eq!(id.outlets, Some(8));
        let oid = format!("{STATE}.{outlet}");
        // What we read equals what net-snmp reads.
        let ours = d.status(outlet).await.unwrap();
        let theirs = snmpget(e.port, user, a, ap, p, pp, &oid).unwrap();
        assert_eq!((ours, theirs.as_str()), (PowerState::Off, "2"), "{user}");
        // What we set is what net-snmp then sees.
        assert_eq!(
            switch_verified(&d, outlet, PowerState::On, POLL)
                .await
                .unwrap(),
            PowerState::On
        );
        assert_eq!(
            snmpget(e.port, user, a, ap, p, pp, &oid).as_deref(),
            Some("1"),
            "{user}"
        );
        assert_eq!(
            switch_verified(&d, outlet, PowerState::Off, POLL)
                .await
                .unwrap(),
            PowerState::Off
        );
        assert_eq!(
            snmpget(e.port, user, a, ap, p, pp, &oid).as_deref(),
            Some("2"),
            "{user}"
        );
        let list = d.list(8).await.unwrap();
        assert_eq!(list[0].name, "Outlet 1");
        assert_eq!(list.len(), 8);
        assert_eq!(d.discoveries(), 1, "a steady agent needs one discovery");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pending_flag_shows_while_the_relay_has_not_switched() {
    let e = Emu::start(&[]);
    let d = e.driver(
        "e2et-shaaes",
        AuthProto::Sha,
        "sha-auth-pass",
        Some((PrivProto::Aes, "sha-priv-pass")),
    );
    d.on(4).await.unwrap();
    // The command was accepted; the state has not changed yet (200 ms delay).
    let l = d.list(4).await.unwrap();
    assert_eq!(
        (l[3].state, l[3].pending),
        (Some(PowerState::Off), Some(true))
    );
    assert_eq!(
        e2et_pdu::wait_state(&d, 4, PowerState::On, POLL)
            .await
            .unwrap(),
        PowerState::On
    );
    let l = d.list(4).await.unwrap();
    assert_eq!(l[3].pending, Some(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_say_what_went_wrong() {
    let e = Emu::start(&[7]);
    let err = |r: Result<PowerState, e2et_pdu::PduError>| r.unwrap_err().to_string();

    let wrong_pw = e.driver(
        "e2et-guarded",
        AuthProto::Sha,
        "not-the-password",
        Some((PrivProto::Aes, "the-right-priv-pass")),
    );
    let m = err(wrong_pw.status(1).await);
    assert!(
        m.contains("user e2et-guarded, auth SHA, privacy AES")
            && m.contains("usmStatsWrongDigests"),
        "{m}"
    );

    let unknown = e.driver(
        "nobody",
        AuthProto::Sha,
        "whatever-pass",
        Some((PrivProto::Aes, "whatever-pass")),
    );
    let m = err(unknown.status(1).await);
    assert!(
        m.contains("does not know user nobody") && m.contains("usmStatsUnknownUserNames"),
        "{m}"
    );

    let wrong_priv = e.driver(
        "e2et-shaaes",
        AuthProto::Sha,
        "sha-auth-pass",
        Some((PrivProto::Des, "sha-priv-pass")),
    );
    let m = err(wrong_priv.status(1).await);
    assert!(
        m.contains("cannot decrypt with DES") && m.contains("decryption error"),
        "{m}"
    );

    let wrong_auth_proto = e.driver(
        "e2et-md5des",
        AuthProto::Sha,
        "md5-auth-pass",
        Some((PrivProto::Des, "md5-priv-pass")),
    );
    let m = err(wrong_auth_proto.status(1).await);
    assert!(
        m.contains("usmStatsWrongDigests") && m.contains("another auth protocol than SHA"),
        "{m}"
    );

    // A port where nothing answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let unreachable = ApcSnmpDriver::new(ApcConfig {
        name: "gone".into(),
        address: silent.local_addr().unwrap().to_string(),
        auth: SnmpAuth::V3 {
            user: "e2et-shaaes".into(),
            auth: AuthProto::Sha,
            auth_password: "sha-auth-pass".into(),
            privacy: Some((PrivProto::Aes, "sha-priv-pass".into())),
        },
        table: OutletTable::Rpdu,
        timeout: Duration::from_millis(300),
        retries: 1,
    });
    let m = err(unreachable.status(1).await);
    assert!(m.contains("no answer to engine discovery"), "{m}");

    // A relay that never switches: the error names the last state read, and
    // nothing claims the outlet is off.
    let d = e.driver(
        "e2et-shaaes",
        AuthProto::Sha,
        "sha-auth-pass",
        Some((PrivProto::Aes, "sha-priv-pass")),
    );
    switch_verified(
        &d,
        7,
        PowerState::On,
        Poll {
            interval: Duration::from_millis(100),
            timeout: Duration::from_millis(800),
        },
    )
    .await
    .map(|_| ())
    .map_err(|e| e.to_string())
    .and_then(|_| Err::<(), _>("a stuck outlet was reported as switched".to_string()))
    .unwrap_or_else(|m| {
        assert!(
            m.contains("did not reach on") && m.contains("last state read: off"),
            "{m}"
        )
    });
    assert_eq!(d.status(7).await.unwrap(), PowerState::Off);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_is_rediscovered_between_two_commands() {
    let mut e = Emu::start(&[]);
    let d = e.driver(
        "e2et-sha256aes",
        AuthProto::Sha256,
        "sha256-auth-pass",
        Some((PrivProto::Aes, "sha256-priv-pass")),
    );
    assert_eq!(
        switch_verified(&d, 5, PowerState::On, POLL).await.unwrap(),
        PowerState::On
    );
    assert_eq!(d.discoveries(), 1);
    let boots_before =
        std::fs::read_to_string(e.dir.join("persist/snmpd.conf")).unwrap_or_default();
    e.restart();
    let boots_after = std::fs::read_to_string(e.dir.join("persist/snmpd.conf")).unwrap_or_default();
    assert_ne!(
        boots_before, boots_after,
        "the agent's engine boots must have changed"
    );
    // Same driver, same cached session: the old engine boots/time are out of
    // the window; the driver must re-discover and succeed.
    assert_eq!(
        d.status(5).await.unwrap(),
        PowerState::On,
        "outlet state survives the agent restart"
    );
    assert_eq!(
        switch_verified(&d, 5, PowerState::Off, POLL).await.unwrap(),
        PowerState::Off
    );
    assert_eq!(
        d.discoveries(),
        2,
        "exactly one re-discovery after the restart"
    );
}

/// A UDP relay between the driver and snmpd that can lose the next answer
/// (the command reached the device; its answer did not reach us).
struct LossyRelay {
    port: u16,
    drop_next_answer: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl LossyRelay {
    async fn start(upstream: u16) -> LossyRelay {
        use std::sync::atomic::Ordering;
        let front = std::sync::Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let back = std::sync::Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        back.connect(("127.0.0.1", upstream)).await.unwrap();
        let port = front.local_addr().unwrap().port();
        let drop_next_answer = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let client = std::sync::Arc::new(tokio::sync::Mutex::new(None));
        let (f, b, c) = (front.clone(), back.clone(), client.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            while let Ok((n, from)) = f.recv_from(&mut buf).await {
                *c.lock().await = Some(from);
                let _ = b.send(&buf[..n]).await;
            }
        });
        let drop = drop_next_answer.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = back.recv(&mut buf).await {
                if drop.swap(false, Ordering::SeqCst) {
                    continue;
                }
                if let Some(to) = *client.lock().await {
                    let _ = front.send_to(&buf[..n], to).await;
                }
            }
        });
        LossyRelay {
            port,
            drop_next_answer,
        }
    }
}

/// Counts the intents the driver's caller records (the coordinator's
/// power log does the same, durably).
#[derive(Default)]
struct Intents(std::sync::Mutex<Vec<(u32, e2et_model::report::PowerAction)>>);

impl e2et_pdu::StepLog for Intents {
    fn intent(
        &self,
        _: &str,
        outlet: u32,
        action: e2et_model::report::PowerAction,
    ) -> Result<(), String> {
        self.0.lock().unwrap().push((outlet, action));
        Ok(())
    }
    fn done(&self, _: &e2et_model::report::PowerStep) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_whose_answer_is_lost_is_never_resent_without_a_new_recorded_intent() {
    let e = Emu::start(&[]);
    let relay = LossyRelay::start(e.port).await;
    let d = ApcSnmpDriver::new(ApcConfig {
        name: "emu".into(),
        address: format!("127.0.0.1:{}", relay.port),
        auth: SnmpAuth::V3 {
            user: "e2et-shaaes".into(),
            auth: AuthProto::Sha,
            auth_password: "sha-auth-pass".into(),
            privacy: Some((PrivProto::Aes, "sha-priv-pass".into())),
        },
        table: OutletTable::Rpdu,
        timeout: Duration::from_millis(700),
        retries: 2,
    });
    let d: std::sync::Arc<dyn PowerDriver> = std::sync::Arc::new(d);
    // A session first (discovery and a read pass the relay untouched).
    assert_eq!(d.status(5).await.unwrap(), PowerState::Off);
    let feeds = [e2et_pdu::Feed {
        pdu: "emu".into(),
        outlet: 5,
        driver: d.clone(),
    }];
    let log = Intents::default();
    // The set reaches the device; its answer is lost.
    relay
        .drop_next_answer
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let steps = e2et_pdu::switch_all(&log, &feeds, PowerState::On, POLL)
        .await
        .unwrap_or_else(|(_, err)| panic!("{err}"));
    assert_eq!(steps.last().and_then(|s| s.observed), Some(PowerState::On));
    // What the device received, from its own log, against what was recorded.
    let received: Vec<i64> = std::fs::read_to_string(e.dir.join("sets.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["outlet"] == 5)
        .map(|v| v["value"].as_i64().unwrap())
        .collect();
    let intents = log.0.lock().unwrap().clone();
    assert!(
        !received.is_empty() && received.iter().all(|v| *v == 1),
        "{received:?}"
    );
    assert_eq!(
        received.len(),
        intents.len(),
        "the device received {} sets for {} recorded intents ({intents:?})",
        received.len(),
        intents.len()
    );
}
