//! The scenarios that are not one cold run of vm1 end to end: a quick run,
//! the fleet at once, and a host that boots with no run.
use super::*;

pub(super) fn quick(
    lab: &mut Lab,
    art: &Artifacts,
    dir: &Path,
    mac: &str,
    qmp: &Path,
    start: Instant,
) -> Result<Outcome> {
    // The host's enrolment key: on its disk, and as agent-vm1 among the
    // coordinator's credentials.
    let key = std::fs::read_to_string("/proc/sys/kernel/random/uuid")?
        .trim()
        .to_string();
    std::fs::write(dir.join("creds/agent-vm1"), &key)?;
    let img = dir.join("vm1.os.img");
    crate::netboot::installed_disk(art, "vm1", &crate::lab::coordinator_url(), &key, &img)?;
    lab.start_vm_with("vm1", mac, qmp, false, 2, Some(&img))?;

    let (code, cold) = lab_run(lab, &[], "[quick] cold: ")?;
    let cold_report: Report =
        serde_json::from_str(&cli_text(lab, &["report", &cold, "--format", "json"])?)?;
    let netboot = format!("image e2et-lab-netboot {}", art.image_version);
    ensure!(
        code == 0
            && cold_report
                .reasons
                .iter()
                .any(|r| r == &format!("last-known-good: {netboot} (promoted by this run)")),
        "the cold run exited {code}, verdict {}: {:?}",
        cold_report.verdict,
        cold_report.reasons
    );
    println!("[quick] cold run {cold} passed: last-known-good {netboot}");

    let t = Instant::now();
    let (code, run) = lab_run(lab, &["--quick"], "[quick] quick: ")?;
    let seconds = t.elapsed().as_secs_f64();
    let mut texts = Vec::new();
    for (fmt, file) in [ReportFormat::Json, ReportFormat::Md, ReportFormat::Junit]
        .map(|f| (f.name(), f.file_name()))
    {
        let t = cli_text(lab, &["report", &run, "--format", fmt])?;
        std::fs::write(dir.join(file), &t)?;
        texts.push(t);
    }
    let console = cli_text(lab, &["console", &run])?;
    std::fs::write(dir.join("console.log"), &console)?;
    lab.check_children()?;
    let r: Report = serde_json::from_str(&texts[0]).context("parsing report.json")?;
    print!("{}", texts[1]);
    let lc = &r.lifecycle;
    ensure!(
        code == 3 && r.verdict == e2et_model::Verdict::Transient,
        "quick run: exit {code}, verdict {}: {:?}",
        r.verdict,
        r.reasons
    );
    ensure!(
        r.mode == e2et_model::RunMode::Quick
            && (lc.provisionings, lc.power_cycles, lc.boots, lc.validations) == (0, 1, 1, 1),
        "quick run lifecycle {lc:?}"
    );
    let states: Vec<&str> = r.run.transitions.iter().map(|t| t.to.as_str()).collect();
    ensure!(
        states
            == [
                "queued",
                "inventory_gate",
                "power_cycle",
                "revalidate",
                "report"
            ],
        "quick run went through {states:?}"
    );
    let rb = check(&r, "first_boot.reboot_observed")?;
    ensure!(rb.passed(), "reboot not shown: {rb:?}");
    // No agent of the quick run was up: the hypervisor pressed the power
    // button, the guest shut itself down, and only then was the outlet cut.
    let actions: Vec<&str> = r
        .run
        .power_steps
        .iter()
        .map(|p| p.action.as_str())
        .collect();
    ensure!(
        actions == ["soft_off", "off", "on"],
        "quick run power steps {actions:?}: the soft off must come before the outlet is cut"
    );
    let soft = &r.run.power_steps[0];
    ensure!(
        soft.ok
            && soft.detail.contains("QMP system_powerdown")
            && soft.detail.contains("the host shut down after"),
        "the soft off did not go through the hypervisor: {soft:?}"
    );
    let installed = format!("image e2et-lab-installed {}", art.image_version);
    let kept = format!("quick runs never promote: last-known-good stays {netboot} (run {cold},");
    ensure!(
        r.reasons
            .iter()
            .any(|x| x.starts_with(&kept) && x.ends_with(&format!("this boot runs {installed}"))),
        "the quick run's reasons do not keep the cold run's last-known-good: {:?}",
        r.reasons
    );
    // The console shows the whole path: iPXE handed the host to its disk,
    // SYSLINUX booted the installed system, whose agent enrolled.
    // The guest's own line for the button, from QEMU's serial log (the kept
    // console connects as the run starts and may join mid-line: the soft
    // off follows the run's start within a second).
    let serial = std::fs::read_to_string(lab.dir.join("vm1.serial.log")).unwrap_or_default();
    let pressed = "e2et-lab: ACPI power button pressed: shutting down cleanly";
    ensure!(
        serial.contains(pressed),
        "vm1's serial log lacks {pressed:?}: the guest did not take the button; see {}",
        lab.dir.join("vm1.serial.log").display()
    );
    for want in [
        format!("e2et: quick run {run} boots the installed system"),
        "SYSLINUX".to_string(),
        "e2et-lab: installed system of vm1: enrolling".to_string(),
    ] {
        ensure!(
            console.contains(&want),
            "the quick run's console lacks {want:?}; see {}",
            dir.join("console.log").display()
        );
    }
    println!(
        "[quick] {}: {:.1} s, power steps {:?}; reboot: {}",
        r.verdict,
        seconds,
        r.run
            .power_steps
            .iter()
            .map(|p| format!("{}→{}", p.action, p.observed.map_or("?", |o| o.as_str())))
            .collect::<Vec<_>>(),
        rb.evidence
    );
    Ok(Outcome {
        verdict: r.verdict.to_string(),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Runs `e2et run vmN` for every VM at once (starts staggered by 2 s, so the
/// two cores are not asked to run eight firmware DHCP exchanges at once).
pub(super) fn fleet(lab: &mut Lab, inv: &Value, pdu_dir: &Path, start: Instant) -> Result<Outcome> {
    let hosts: Vec<(String, String, u64)> = inv["hosts"]
        .as_object()
        .context("hosts")?
        .iter()
        .map(|(n, h)| {
            (
                n.clone(),
                h["mac"].as_str().unwrap_or_default().to_string(),
                h["power"][0]["outlet"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    for (name, mac, outlet) in &hosts {
        lab.start_vm_cpus(
            name,
            mac,
            &pdu_dir.join(format!("outlet-{outlet}.qmp")),
            false,
            1,
        )?;
    }
    let mut runs = Vec::new();
    for (name, _, _) in &hosts {
        let log = lab.dir.join(format!("run-{name}.log"));
        let f = std::fs::File::create(&log)?;
        let child = lab
            .cli()
            .args(["run", name])
            .stdout(f.try_clone()?)
            .stderr(f)
            .spawn()
            .context("e2et run")?;
        runs.push((name.clone(), child, Instant::now(), log));
        std::thread::sleep(Duration::from_secs(2));
    }
    // Each run's time is taken when its CLI exits (polled, not in order).
    let mut ended: Vec<Option<(std::process::ExitStatus, f64)>> = vec![None; runs.len()];
    let deadline = Instant::now() + Duration::from_secs(900);
    while ended.iter().any(Option::is_none) {
        for (i, (_, child, t0, _)) in runs.iter_mut().enumerate() {
            if ended[i].is_none() {
                if let Some(st) = child.try_wait()? {
                    ended[i] = Some((st, t0.elapsed().as_secs_f64()));
                }
            }
        }
        ensure!(
            Instant::now() < deadline,
            "fleet runs did not end within 900 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut lines = Vec::new();
    let mut failed = Vec::new();
    let mut times = Vec::new();
    for ((name, _, _, log), end) in runs.into_iter().zip(ended) {
        let Some((st, secs)) = end else { continue };
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let verdict = text
            .lines()
            .find_map(|l| l.strip_prefix("verdict="))
            .map(|r| r.split_whitespace().next().unwrap_or("").to_string())
            .unwrap_or_else(|| "none".into());
        if !st.success() || verdict != "passed" {
            failed.push(format!("{name}: {verdict} (see {})", log.display()));
        }
        times.push(secs);
        // The image each host booted, as its report names it.
        let image = match super::verdict_run(&text) {
            Some(run) => {
                let r: Report =
                    serde_json::from_str(&cli_text(lab, &["report", &run, "--format", "json"])?)
                        .context("a fleet run's report.json")?;
                let want = if name == "vm2" {
                    super::ROLE_IMAGE
                } else {
                    "e2et-lab-netboot"
                };
                let named = r
                    .reasons
                    .iter()
                    .find_map(|x| x.strip_prefix("last-known-good: image "))
                    .map(|x| x.split_whitespace().next().unwrap_or("").to_string());
                if verdict == "passed" && named.as_deref() != Some(want) {
                    failed.push(format!(
                        "{name}: its report names image {named:?}, want {want}"
                    ));
                }
                if name == "vm2" {
                    let c = super::expect::check(&r, "first_boot.image")?;
                    if !c.passed() {
                        failed.push(format!("vm2: first_boot.image {c:?}"));
                    }
                }
                named.unwrap_or_else(|| "none".into())
            }
            None => "no run".into(),
        };
        lines.push(format!(
            "[fleet] {name}: verdict={verdict}, image {image}, start to verdict {secs:.1} s"
        ));
    }
    let total = start.elapsed().as_secs_f64();
    for l in &lines {
        println!("{l}");
    }
    times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "[fleet] {} VMs through the cold lifecycle at once: total {total:.1} s; per run min {:.1} s, median {:.1} s, max {:.1} s (one VM alone: scenario=pass)",
        hosts.len(),
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    );
    ensure!(failed.is_empty(), "not all VMs passed: {failed:?}");
    Ok(Outcome {
        verdict: "passed".into(),
        seconds: total,
    })
}

pub(super) fn wait_for_text(path: &Path, needle: &str, timeout: Duration) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if std::fs::read_to_string(path)
            .unwrap_or_default()
            .contains(needle)
        {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(false)
}

pub(super) fn no_run(lab: &mut Lab, mac: &str, qmp: &Path, start: Instant) -> Result<Outcome> {
    let vm = lab.start_vm("vm1", mac, qmp, true)?;
    let stranger = lab.start_vm("stranger", UNKNOWN_MAC, &lab.dir.join("stranger.qmp"), true)?;
    let local = format!("e2et: no active run for {mac}: booting the local disk");
    let ok = wait_for_text(&vm.serial, &local, Duration::from_secs(120))?;
    ensure!(
        ok,
        "vm1 never printed {local:?}; see {}",
        vm.serial.display()
    );
    println!("[no-run] vm1 ({mac}) serial: {local}");
    let dlog = lab.dir.join("dnsmasq.log");
    let ignored = format!("{UNKNOWN_MAC} ignored");
    let ok = wait_for_text(&dlog, &ignored, Duration::from_secs(60))?;
    ensure!(
        ok,
        "dnsmasq did not log {ignored:?}; see {}",
        dlog.display()
    );
    let log = std::fs::read_to_string(&dlog)?;
    let offers: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("DHCPOFFER") && l.contains(UNKNOWN_MAC))
        .collect();
    if !offers.is_empty() {
        bail!("dnsmasq offered an address to the unknown MAC: {offers:?}");
    }
    let runs = lab.cli().args(["runs", "--json"]).output()?;
    let runs: Value = serde_json::from_slice(&runs.stdout).context("e2et runs --json")?;
    ensure!(
        runs.as_array().is_some_and(|a| a.is_empty()),
        "a run exists: {runs}"
    );
    println!(
        "[no-run] unknown MAC {UNKNOWN_MAC}: dnsmasq '{ignored}', no DHCPOFFER; serial {}",
        stranger.serial.display()
    );
    Ok(Outcome {
        verdict: "not-booted".into(),
        seconds: start.elapsed().as_secs_f64(),
    })
}
