//! The dashboard in a real browser: Debian's Chromium, headless, driven by
//! playwright-core (scripts/dashboard-test/watch.mjs) inside the lab's
//! namespace. It opens the page before the run exists and must see the
//! host's row follow the run to its end without reloading.
use crate::lab::{coordinator_url, Lab};
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: PathBuf,
}

fn script() -> Result<PathBuf> {
    let p = std::env::var_os("E2ET_DASHBOARD_TEST")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("scripts/dashboard-test/watch.mjs"));
    let p = p.canonicalize().with_context(|| {
        format!(
            "the dashboard test {} (run from the repository root)",
            p.display()
        )
    })?;
    let modules = p
        .parent()
        .map(|d| d.join("node_modules/playwright-core"))
        .context("the dashboard test's directory")?;
    if !modules.is_dir() {
        bail!(
            "{} is missing: run scripts/lab-deps.sh (npm ci in scripts/dashboard-test)",
            modules.display()
        );
    }
    Ok(p)
}

impl Watch {
    /// Opens the dashboard and returns once its event stream is connected.
    pub fn start(lab: &Lab, host: &str, png: &Path, prefix: &str) -> Result<Watch> {
        let log = lab.dir.join("dashboard-test.log");
        let mut c = lab.cmd("node");
        c.arg(script()?)
            .args(["--url", &format!("{}/", coordinator_url()), "--host", host])
            .arg("--out")
            .arg(png)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).with_context(|| log.display().to_string())?);
        let mut child = c.spawn().context("starting node for the dashboard test")?;
        let out = child.stdout.take().context("the dashboard test's stdout")?;
        let (tx, lines) = mpsc::channel();
        let prefix = prefix.to_string();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(|l| l.ok()) {
                println!("{prefix}(chromium) {l}");
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut w = Watch { child, lines, log };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match w.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(l) if l.starts_with("ready") => return Ok(w),
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    if let Some(st) = w.child.try_wait()? {
                        bail!(
                            "the dashboard test exited ({st}) before the page was live: {}",
                            w.stderr()
                        );
                    }
                }
                Err(_) => {
                    let _ = w.child.kill();
                    bail!("the dashboard page never went live: {}", w.stderr());
                }
            }
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// Waits for the browser's verdict: its summary line on success.
    pub fn finish(mut self, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        let st = loop {
            if let Some(st) = self.child.try_wait()? {
                break st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!(
                    "the dashboard never showed the run's end within {timeout:?}: {}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        // The reader ends with the browser's stdout.
        let mut lines = Vec::new();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            lines.push(l);
        }
        if !st.success() {
            bail!("the dashboard test failed ({st}): {}", self.stderr());
        }
        lines
            .into_iter()
            .rev()
            .find(|l| l.starts_with('{'))
            .context("the dashboard test printed no summary")
    }
}

impl Drop for Watch {
    /// A scenario that fails early leaves no browser behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
