//! Serial consoles kept over IPMI Serial over LAN (ipmitool against
//! OpenIPMI's ipmi_sim).
mod common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// OpenIPMI's BMC simulator, serving RMCP+ on `port` with SOL wired to a
/// TCP "serial port"; killed on drop.
struct Bmc(Child);

impl Drop for Bmc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const BMC_PASSWORD: &str = "sol-s3cret";

fn ipmi_sim(dir: &Path, port: u16, serial: u16) -> Bmc {
    std::fs::create_dir_all(dir.join("bmc-state")).unwrap();
    std::fs::write(
        dir.join("lan.conf"),
        format!(
            "name \"e2et-test-bmc\"\nset_working_mc 0x20\n  startlan 1\n    addr 127.0.0.1 {port}\n    priv_limit admin\n    allowed_auths_admin md5\n    guid a123456789abcdefa123456789abcdef\n  endlan\n  sol \"tcp:127.0.0.1:{serial}\" 115200\n  user 2 true \"e2et\" \"{BMC_PASSWORD}\" admin 10 md5\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("bmc.emu"),
        "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n",
    )
    .unwrap();
    let child = Command::new("ipmi_sim")
        .arg("-c")
        .arg(dir.join("lan.conf"))
        .arg("-f")
        .arg(dir.join("bmc.emu"))
        .arg("-s")
        .arg(dir.join("bmc-state"))
        .arg("-n")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("ipmi_sim.log")).unwrap())
        .spawn()
        .expect("ipmi_sim (Debian package openipmi; scripts/lab-deps.sh installs it)");
    Bmc(child)
}

/// `ipmitool sol activate` against the test BMC, as a person (or a crashed
/// coordinator) would hold it.
fn sol_session(port: u16, pw: &Path) -> Command {
    let mut c = Command::new("ipmitool");
    c.args(["-I", "lanplus", "-H", "127.0.0.1", "-p", &port.to_string()])
        .args(["-U", "e2et", "-C", "3", "-f"])
        .arg(pw)
        .args(["sol", "activate"]);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "host tier: OpenIPMI's ipmi_sim and ipmitool; scripts/test.sh runs it"]
async fn a_console_behind_ipmi_sol_is_kept_through_ipmitool_and_its_session_freed() {
    let (d, _) = with_qmp_peer(false, false);
    // The host's serial port, which the BMC carries over SOL.
    let serial = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let serial_port = serial.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = serial.accept().await {
            tokio::spawn(async move {
                for i in 0.. {
                    let line = format!(
                        "serial line {i}: Linux version 6.1\r\nKernel command line: e2et.run=r e2et.token=deadbeef0123456789\r\n"
                    );
                    if s.write_all(line.as_bytes()).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
        }
    });
    let bmc_port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _bmc = ipmi_sim(d.path(), bmc_port, serial_port);
    let creds = d.path().join("creds");
    std::fs::create_dir_all(&creds).unwrap();
    let pw = d.path().join("bmc-password");
    std::fs::write(&pw, BMC_PASSWORD).unwrap();
    // A session left on the BMC by an ipmitool killed before it could
    // deactivate the payload (a coordinator crashed mid-capture, or a
    // person's terminal lost).
    let mut stale = loop {
        let mut s = sol_session(bmc_port, &pw)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ipmitool (Debian package ipmitool; scripts/lab-deps.sh installs it)");
        let mut out = std::io::BufReader::new(s.stdout.take().unwrap());
        let mut first = String::new();
        std::io::BufRead::read_line(&mut out, &mut first).unwrap();
        if first.contains("SOL Session operational") {
            break s;
        }
        // ipmi_sim not listening yet.
        let _ = s.kill();
        let _ = s.wait();
        std::thread::sleep(Duration::from_millis(300));
    };
    stale.kill().unwrap();
    stale.wait().unwrap();

    let mut inv = inventory(d.path(), false);
    inv["hosts"]["vm1"]["consoleCapture"] =
        Value::String(format!("ipmi-sol:e2et@127.0.0.1:{bmc_port}?cipher=3"));
    let e = start_inv(
        d.path(),
        inv,
        &[
            "--hello-timeout-s",
            "25",
            "--credentials-dir",
            creds.to_str().unwrap(),
        ],
    );
    let c = client();
    wait_up(&c, &e.url).await;
    let v = create_run(&c, &e.url, "vm1").await;
    let console = |c: reqwest::Client, url: String| async move {
        c.get(url).send().await.unwrap().text().await.unwrap()
    };
    let url = format!("{}/api/v1/runs/{}/console.log", e.url, v.id);
    let until = |want: &'static str| {
        let (c, url) = (c.clone(), url.clone());
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let text = console(c.clone(), url.clone()).await;
                if text.contains(want) {
                    return text;
                }
                assert!(
                    Instant::now() < deadline,
                    "no {want:?} in the console: {text}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    // No password yet: said in the console an operator reads, and retried.
    until("no SOL password:").await;
    std::fs::write(creds.join("ipmi-vm1"), BMC_PASSWORD).unwrap();
    // Then the stale session is taken over and the console flows.
    let text = until("serial line").await;
    let took = text
        .find("SOL payload was active in another session: deactivated it")
        .unwrap_or_else(|| panic!("the stale session was not taken over: {text}"));
    let connected = text
        .rfind("console ipmi-sol:e2et@127.0.0.1")
        .unwrap_or_else(|| panic!("no connection mark: {text}"));
    assert!(
        took < connected && connected < text.rfind("serial line").unwrap(),
        "{text}"
    );
    assert!(
        !text.contains(BMC_PASSWORD),
        "the password is in the console log"
    );
    // The kernel prints its command line: the run's token is never served.
    assert!(
        text.contains("e2et.token=<redacted>") && !text.contains("deadbeef0123456789"),
        "{text}"
    );
    // The run ends (no agent ever says hello); the capture closes its session
    // so the BMC's payload is free for the next person.
    let v = wait_end(&c, &e.url, &v.id, 60).await;
    assert_ne!(v.state.as_str(), "passed");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let o = sol_session(bmc_port, &pw)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        if o.status.success() && !err.contains("already active") {
            assert!(
                String::from_utf8_lossy(&o.stdout).contains("SOL Session operational"),
                "{o:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the coordinator left its SOL session on the BMC: {err}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let log = daemon_logs(d.path());
    assert!(
        !log.contains(BMC_PASSWORD),
        "the password is in e2etd's log"
    );
}
