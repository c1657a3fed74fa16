//! The coordinator's own SSH key exchange (crate::ssh) against a real SSH
//! server (russh's, in this process, on loopback) holding a fixed test host
//! key: the key exchanged is the server's, the check passes only when the
//! probe reported that key, and a closed port or a non-SSH peer fails with
//! the reason.
use e2et_coordinator::ssh;
use e2et_model::check::Outcome;
use std::sync::Arc;
use std::time::Duration;

/// A throwaway ed25519 host key made for this test (ssh-keygen), never used
/// anywhere else.
const HOST_KEY: &str = include_str!("fixtures/ssh_host_ed25519_key.test-only");
const HOST_PUB: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM6AmYeug0CKCyQ8osPi0PvreGvDVom0ZErAQN7wrPIt";
const OTHER_PUB: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJOXAGT4NBzgMrbs/S2NFly3jzMCKGks7+LuySH9dxVJ";

struct Server;
impl russh::server::Handler for Server {
    type Error = russh::Error;
}

/// An SSH server on 127.0.0.1 (every connection served); its address.
async fn ssh_server() -> std::net::SocketAddr {
    let key = russh::keys::PrivateKey::from_openssh(HOST_KEY).expect("the test host key");
    let config = Arc::new(russh::server::Config {
        keys: vec![key],
        ..Default::default()
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            let config = config.clone();
            tokio::spawn(async move {
                if let Ok(s) = russh::server::run_stream(config, sock, Server).await {
                    let _ = s.await;
                }
            });
        }
    });
    addr
}

fn spec_and_facts(port: u16, reported: Option<&str>) -> (e2et_model::HostSpec, e2et_model::Facts) {
    let spec: e2et_model::HostSpec = serde_json::from_value(serde_json::json!({
        "mac": "52:54:00:e2:e7:01", "ip": "127.0.0.1", "fqdn": "vm1.t.test",
        "power": [{"pdu": "q", "outlet": 1}], "console": "serial", "profile": "lab",
        "expect": {"cpus": 2}, "requiredZone": "p90"}))
    .unwrap();
    let mut f = e2et_score::example::healthy_facts(&spec, "r1", "b1");
    f.first_boot.ssh.port = port;
    f.first_boot.ssh.host_keys[0].public = reported.map(str::to_string);
    (spec, f)
}

#[tokio::test]
async fn the_key_exchanged_is_the_servers_and_must_be_the_one_reported() {
    let addr = ssh_server().await;
    let offered = ssh::host_key(addr, Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        offered, HOST_PUB,
        "russh shows the key in OpenSSH form, no comment"
    );

    let (spec, f) = spec_and_facts(addr.port(), Some(HOST_PUB));
    let c = ssh::check(&spec, &f, 1, Some(Ok(offered.clone())));
    assert_eq!(c.outcome, Outcome::Pass, "{c:?}");
    assert_eq!(c.id, "network.ssh.key_exchange:boot1");
    assert!(c.required);

    // The probe reported another key: whoever answers is not the host the
    // probe ran on (or its key changed under it).
    let (spec, f) = spec_and_facts(addr.port(), Some(OTHER_PUB));
    let c = ssh::check(&spec, &f, 2, Some(Ok(offered.clone())));
    assert_eq!(c.outcome, Outcome::Fail);
    assert!(
        c.evidence.contains("did not report") && c.evidence.contains(OTHER_PUB),
        "{}",
        c.evidence
    );

    // Nothing reported to compare with: fails closed.
    let (spec, f) = spec_and_facts(addr.port(), None);
    let c = ssh::check(&spec, &f, 1, Some(Ok(offered)));
    assert_eq!(c.outcome, Outcome::Fail);
    assert!(c.evidence.contains("no public host key"), "{}", c.evidence);
}

#[tokio::test]
async fn a_closed_port_fails_within_the_bound_with_the_reason() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let e = ssh::host_key(addr, Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(e.contains("within 2s") && e.contains("TCP connect"), "{e}");
    let (spec, f) = spec_and_facts(addr.port(), Some(HOST_PUB));
    let c = ssh::check(&spec, &f, 1, Some(Err(e)));
    assert_eq!(c.outcome, Outcome::Fail);
    assert_eq!(c.observed.as_deref(), Some("no key exchange"));
}

#[tokio::test]
async fn a_peer_that_is_not_ssh_fails() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            use tokio::io::AsyncWriteExt;
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });
    let e = ssh::host_key(addr, Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(e.contains("within 2s"), "{e}");
}

#[test]
fn not_expected_is_not_applicable_and_not_required() {
    let (mut spec, f) = spec_and_facts(22, Some(HOST_PUB));
    spec.expect.first_boot.ssh = false;
    let c = ssh::check(&spec, &f, 1, None);
    assert!(matches!(c.outcome, Outcome::NotApplicable { .. }), "{c:?}");
    assert!(!c.required);
}
