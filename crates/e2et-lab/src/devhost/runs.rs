//! The identity and OpenRC scenarios on a [`DevHost`]: score the healthy
//! host, break it the ways the checks name, score it again.
use super::*;

fn outcome(v: &Validation, id: &str) -> Result<(String, String)> {
    let c = v
        .checks
        .iter()
        .find(|c| c.id == id)
        .with_context(|| format!("no check {id} in the validation"))?;
    Ok((
        c.outcome.label().to_string(),
        c.observed.clone().unwrap_or_default(),
    ))
}

/// Each (check, wanted outcome) holds, or the scenario fails naming it.
fn expect(v: &Validation, step: &str, want: &[(&str, &str)]) -> Result<()> {
    let mut wrong = Vec::new();
    for (id, w) in want {
        let (got, obs) = outcome(v, id)?;
        println!("[{step}] {id:<44} {got:<8} {obs}");
        if got != *w {
            wrong.push(format!("{id}: {got}, expected {w} ({obs})"));
        }
    }
    ensure!(wrong.is_empty(), "{step}: {}", wrong.join("; "));
    Ok(())
}

/// The inventory for the host: hosts/inventory.nix's profiles, one host.
fn inventory(base_json: &str, dir: &Path) -> Result<PathBuf> {
    let mut inv: serde_json::Value = serde_json::from_str(base_json)?;
    let pdu = inv["pdus"]
        .as_object()
        .and_then(|p| p.keys().next().cloned())
        .context("the inventory has no PDU")?;
    inv["site"]["dnsServers"] = serde_json::json!([SITE_IP]);
    inv["hosts"] = serde_json::json!({"idhost": {
        "mac": HOST_MAC, "ip": HOST_IP, "fqdn": FQDN,
        "power": [{"pdu": pdu, "outlet": 1}],
        "console": "serial:ttyS0@115200",
        "profile": "aaa-domain-client",
        "requiredZone": "p90",
        "expect": {"identity": {"users": ["alice", "e2et-canary"]}}
    }});
    let p = dir.join("inventory.json");
    std::fs::write(&p, serde_json::to_string_pretty(&inv)?)?;
    Ok(p)
}

const HEALTHY: &[(&str, &str)] = &[
    ("identity.sssd.running", "pass"),
    ("identity.sssd.conf_mode", "pass"),
    ("identity.sssd.domain_online:lab.e2et.test", "pass"),
    ("identity.sssd.offline_cache", "pass"),
    ("identity.nss.user:alice", "pass"),
    ("identity.nss.user:e2et-canary", "pass"),
    ("identity.keytab", "pass"),
    ("identity.ipa.enrolled", "pass"),
    ("identity.sudo.sss", "pass"),
    ("identity.ssh.sss_keys", "pass"),
    ("identity.break_glass", "pass"),
    ("first_boot.ssh.listening", "pass"),
    ("first_boot.ssh.host_keys", "pass"),
    ("first_boot.time.daemon", "pass"),
    ("first_boot.time.kernel", "pass"),
    ("first_boot.logging", "pass"),
    ("first_boot.fqdn", "pass"),
    ("network.dns.forward", "pass"),
    ("network.dns.reverse", "pass"),
    ("network.mgmt.mac", "pass"),
    ("network.mgmt.ip", "pass"),
    ("service.required:sshd|ssh", "pass"),
    ("service.required:sssd", "pass"),
    ("service.required:chronyd|chrony|systemd-timesyncd", "pass"),
    ("storage.root.health", "pass"),
];

pub fn run(env: &Env<'_>) -> Result<Outcome> {
    let start = Instant::now();
    let dir = env.out.join("identity");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let dir = dir.canonicalize()?;
    let inv = inventory(env.inventory_json, &dir)?;
    println!(
        "[identity] host {FQDN} ({HOST_IP}) in netns, site services on {SITE_IP}; logs in {}",
        dir.display()
    );
    let mut h = DevHost::up(&dir, env.bin)?;
    println!("[identity] up: slapd, site DNS, NTP server; host: dbus, sssd, sshd, chronyd, rsyslogd ({:.1}s)", start.elapsed().as_secs_f64());

    let v = h.validate(&inv, "healthy")?;
    expect(&v, "healthy", HEALTHY)?;
    println!(
        "[identity] healthy: score {:.2}, zone {} against profile aaa-domain-client",
        v.score, v.zone
    );

    // Capture the live host as a fixture and replay it: every check must come
    // out the same from the fixture as from the live host.
    let fixture = dir.join("capture");
    sh(h.host_cmd(h.bin.join("e2et-probe"))
        .arg("capture")
        .arg("--out")
        .arg(&fixture)
        .arg("--inventory")
        .arg(&inv)
        .args(["--host", "idhost"]))?;
    let replay_facts = dir.join("facts-replay.json");
    let out = sh(Command::new(h.bin.join("e2et-probe"))
        .arg("--root")
        .arg(&fixture)
        .arg("collect")
        .arg("--inventory")
        .arg(&inv)
        .args(["--host", "idhost"]))?;
    std::fs::write(&replay_facts, out)?;
    let replay = h.score(&inv, &replay_facts, "replay")?;
    let live = h.score(&inv, &dir.join("facts-healthy.json"), "live")?;
    let diff: Vec<String> = live
        .checks
        .iter()
        .filter_map(|c| {
            let r = replay.checks.iter().find(|r| r.id == c.id);
            match r {
                Some(r) if r.outcome == c.outcome => None,
                Some(r) => Some(format!(
                    "{}: live {} replay {}",
                    c.id,
                    c.outcome.label(),
                    r.outcome.label()
                )),
                None => Some(format!("{}: missing from the replay", c.id)),
            }
        })
        .collect();
    ensure!(
        diff.is_empty(),
        "the captured fixture replays differently: {}",
        diff.join("; ")
    );
    println!(
        "[identity] capture: {} checks replay identically from {}",
        live.checks.len(),
        fixture.display()
    );

    // sssd.conf readable by others.
    sh(h.host_cmd("chmod").args(["0644", "/etc/sssd/sssd.conf"]))?;
    let v = h.validate(&inv, "conf-0644")?;
    expect(
        &v,
        "sssd.conf mode 0644",
        &[("identity.sssd.conf_mode", "fail")],
    )?;
    sh(h.host_cmd("chmod").args(["0600", "/etc/sssd/sssd.conf"]))?;

    // A user removed from the directory and from sssd's cache.
    sh(h.site_cmd("ldapdelete").args([
        "-x",
        "-H",
        &format!("ldap://{SITE_IP}:389"),
        "-D",
        ADMIN,
        "-w",
        ADMIN_PW,
        &format!("uid=alice,ou=people,{BASE}"),
    ]))?;
    sh(h.host_cmd("sss_cache").arg("-E"))?;
    let v = h.validate(&inv, "user-deleted")?;
    expect(
        &v,
        "alice deleted",
        &[
            ("identity.nss.user:alice", "fail"),
            ("identity.nss.user:e2et-canary", "pass"),
        ],
    )?;

    // The directory server down: the domain goes offline, the credential
    // cache keeps answering for a user seen before.
    h.stop("slapd")?;
    let v = h.validate(&inv, "ldap-down")?;
    expect(
        &v,
        "directory down",
        &[
            ("identity.sssd.domain_online:lab.e2et.test", "fail"),
            ("identity.nss.user:e2et-canary", "pass"),
        ],
    )?;

    // sssd stopped: a hard fail on an AAA profile.
    h.stop("sssd")?;
    let v = h.validate(&inv, "sssd-stopped")?;
    expect(
        &v,
        "sssd stopped",
        &[
            ("identity.sssd.running", "fail"),
            ("service.required:sssd", "fail"),
        ],
    )?;
    let hard: Vec<&str> = v
        .checks
        .iter()
        .filter(|c| c.hard_failed())
        .map(|c| c.id.as_str())
        .collect();
    ensure!(
        hard.contains(&"identity.sssd.running"),
        "sssd stopped must be a hard fail, hard fails: {hard:?}"
    );
    Ok(Outcome {
        verdict: "passed".into(),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// `e2et-lab scenario openrc`: Debian's real OpenRC as the service manager
/// of a host in namespaces. The probe must read what OpenRC itself left: a
/// service whose start failed (OpenRC leaves it stopped, not in failed/), a
/// started daemon that died (Debian's start-stop-daemon writes no daemon
/// record, so OpenRC's own rc-status cannot see it), and a supervised daemon
/// that supervise-daemon respawns.
pub fn run_openrc(env: &Env<'_>) -> Result<Outcome> {
    let start = Instant::now();
    let dir = env.out.join("openrc");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let dir = dir.canonicalize()?;
    let mut inv: serde_json::Value = serde_json::from_str(env.inventory_json)?;
    let pdu = inv["pdus"]
        .as_object()
        .and_then(|p| p.keys().next().cloned())
        .context("the inventory has no PDU")?;
    inv["profiles"]["lab-openrc"] = serde_json::json!({
        "firstBoot": {"ssh": false, "timeSync": false, "logging": false, "init": "openrc"},
        "network": {"dns": false, "defaultRoute": true},
        "service": {"required": ["e2et-demo", "e2et-bg"]}
    });
    inv["hosts"] = serde_json::json!({"orchost": {
        "mac": HOST_MAC, "ip": HOST_IP, "fqdn": "orchost.lab.e2et.test",
        "power": [{"pdu": pdu, "outlet": 1}], "console": "serial:ttyS0@115200",
        "profile": "lab-openrc", "requiredZone": "p80"
    }});
    let inv_path = dir.join("inventory.json");
    std::fs::write(&inv_path, serde_json::to_string_pretty(&inv)?)?;
    let h = DevHost::namespaces(&dir, env.bin)?;
    std::fs::write(dir.join("openrc-setup.sh"), OPENRC_SETUP)?;
    let out = h
        .host_cmd("sh")
        .arg(dir.join("openrc-setup.sh"))
        .arg(&dir)
        .output()
        .context("running openrc-setup.sh")?;
    std::fs::write(dir.join("openrc.log"), [out.stdout, out.stderr].concat())?;
    let rc_status = |h: &DevHost, args: &[&str]| -> String {
        h.host_cmd("rc-status")
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    println!(
        "[openrc] OpenRC {} runlevel default:\n{}",
        h.host_cmd("openrc")
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default(),
        rc_status(&h, &["default"])
    );
    let validate = |h: &DevHost, tag: &str| -> Result<Validation> {
        let facts = dir.join(format!("facts-{tag}.json"));
        let out = h
            .host_cmd(h.bin.join("e2et-probe"))
            .arg("collect")
            .arg("--inventory")
            .arg(&inv_path)
            .args(["--host", "orchost"])
            .stderr(Stdio::null())
            .output()?;
        ensure!(out.status.success(), "e2et-probe collect failed");
        std::fs::write(&facts, &out.stdout)?;
        let v = sh(Command::new(h.bin.join("e2et-score"))
            .arg("validate")
            .arg("--inventory")
            .arg(&inv_path)
            .args(["--host", "orchost", "--facts"])
            .arg(&facts))?;
        Ok(serde_json::from_str(&v)?)
    };
    let v = validate(&h, "runlevel")?;
    expect(
        &v,
        "runlevel default",
        &[
            ("first_boot.init", "pass"),
            ("service.required:e2et-demo", "pass"),
            ("service.required:e2et-bg", "pass"),
            ("service.failed", "fail"),
        ],
    )?;
    let (_, obs) = outcome(&v, "service.failed")?;
    ensure!(
        obs.contains("e2et-broken stopped"),
        "the failed start of e2et-broken is not named: {obs}"
    );
    sh(h.host_cmd(h.bin.join("e2et-probe"))
        .arg("capture")
        .arg("--out")
        .arg(dir.join("capture"))
        .arg("--inventory")
        .arg(&inv_path)
        .args(["--host", "orchost"]))?;

    // supervise-daemon respawns its child: still running.
    let child = sh(h
        .host_cmd("cat")
        .arg("/run/openrc/options/e2et-demo/child_pid"))?;
    sh(h.host_cmd("kill").arg(child.trim()))?;
    std::thread::sleep(Duration::from_millis(1500));
    let v = validate(&h, "respawned")?;
    expect(
        &v,
        "supervised child killed",
        &[("service.required:e2et-demo", "pass")],
    )?;

    // The start-stop-daemon child dies: crashed, though OpenRC cannot tell.
    let bg = sh(h.host_cmd("cat").arg("/run/e2et-bg.pid"))?;
    sh(h.host_cmd("kill").arg(bg.trim()))?;
    std::thread::sleep(Duration::from_millis(300));
    let v = validate(&h, "crashed")?;
    expect(
        &v,
        "start-stop-daemon child killed",
        &[
            ("service.required:e2et-bg", "fail"),
            ("service.failed", "fail"),
        ],
    )?;
    let (_, obs) = outcome(&v, "service.failed")?;
    ensure!(
        obs.contains("e2et-bg crashed"),
        "the crash of e2et-bg is not named: {obs}"
    );
    println!(
        "[openrc] OpenRC's own rc-status --crashed says: {:?}",
        rc_status(&h, &["--crashed"])
    );
    Ok(Outcome {
        verdict: "passed".into(),
        seconds: start.elapsed().as_secs_f64(),
    })
}
