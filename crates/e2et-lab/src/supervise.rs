//! Restarts the lab's coordinator after each test-hook crash, arming the next
//! crash point, so one run is killed once in every lifecycle state.
use crate::lab::Lab;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub struct Supervisor {
    handle: Option<JoinHandle<Result<Vec<String>>>>,
    current: Arc<Mutex<Option<Child>>>,
    stop: Arc<AtomicBool>,
}

fn spawn(mut c: Command, log: &Path) -> Result<Child> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    c.stdin(Stdio::null()).stdout(f.try_clone()?).stderr(f);
    c.spawn().context("starting e2etd")
}

impl Supervisor {
    pub fn start(
        lab: &Lab,
        inventory: &Path,
        artifacts: &crate::netboot::Artifacts,
        points: &'static [&'static str],
    ) -> Result<Supervisor> {
        let log = lab.dir.join("e2etd.log");
        let first = spawn(
            lab.e2etd_command(inventory, artifacts, 180, points.first().copied()),
            &log,
        )?;
        lab.wait_e2etd()?;
        let current = Arc::new(Mutex::new(Some(first)));
        let stop = Arc::new(AtomicBool::new(false));
        // The commands for the restarts, built now (Lab is not Send).
        let mut next: Vec<(Option<&'static str>, Command)> = points
            .iter()
            .skip(1)
            .map(|p| {
                (
                    Some(*p),
                    lab.e2etd_command(inventory, artifacts, 180, Some(p)),
                )
            })
            .collect();
        next.push((None, lab.e2etd_command(inventory, artifacts, 180, None)));
        let (cur, st) = (current.clone(), stop.clone());
        let mut armed = points.first().copied();
        let handle = std::thread::spawn(move || -> Result<Vec<String>> {
            let mut crashed = Vec::new();
            let mut queue = next.into_iter();
            loop {
                if st.load(Ordering::Relaxed) {
                    return Ok(crashed);
                }
                let exited = {
                    let mut g = cur.lock().map_err(|_| anyhow::anyhow!("lock"))?;
                    match g.as_mut() {
                        Some(c) => c.try_wait()?,
                        None => None,
                    }
                };
                if let Some(status) = exited {
                    let Some(point) = armed else {
                        bail!("e2etd exited without a crash point armed ({status})");
                    };
                    crashed.push(point.to_string());
                    match queue.next() {
                        Some((p, cmd)) => {
                            *cur.lock().map_err(|_| anyhow::anyhow!("lock"))? =
                                Some(spawn(cmd, &log)?);
                            armed = p;
                        }
                        None => bail!("no command left to restart e2etd"),
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Ok(Supervisor {
            handle: Some(handle),
            current,
            stop,
        })
    }

    /// Stops supervising; returns the crash points that fired. The last
    /// coordinator is stopped.
    pub fn finish(mut self) -> Result<Vec<String>> {
        self.stop.store(true, Ordering::Relaxed);
        let crashed = match self.handle.take() {
            Some(h) => h
                .join()
                .map_err(|_| anyhow::anyhow!("supervisor thread panicked"))??,
            None => Vec::new(),
        };
        Ok(crashed)
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        if let Ok(mut g) = self.current.lock() {
            if let Some(mut c) = g.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}
