//! Retention: bulky logs expire, history does not. The bulky logs are the
//! boot-script request log (one row per iPXE request of every MAC, run or
//! not) and the runs' serial console copies; runs, transitions, facts, power
//! steps and reports are kept for good.
use crate::console::Consoles;
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// Rows deleted per write, so the janitor never holds the writer long.
const BATCH: usize = 5000;

/// Expires boot requests older than `days`, now and then every `every`.
pub async fn run(store: Arc<Store>, consoles: Arc<Consoles>, days: u32, every: Duration) {
    loop {
        // The store's own time format (`store::now`), so times compare as text.
        let cutoff = (chrono::Utc::now() - chrono::Duration::days(i64::from(days)))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut total = 0usize;
        loop {
            match store.expire_boot_requests(&cutoff, BATCH).await {
                Ok(n) => {
                    total += n;
                    if n < BATCH {
                        break;
                    }
                }
                Err(e) => {
                    warn!(error = %e, "retention: expiring boot requests failed");
                    break;
                }
            }
        }
        if total > 0 {
            info!(deleted = total, %cutoff, "retention: boot requests expired");
        }
        let consoles = expire_consoles(&consoles, Duration::from_secs(u64::from(days) * 86400));
        if consoles > 0 {
            info!(deleted = consoles, "retention: console logs expired");
        }
        tokio::time::sleep(every).await;
    }
}

/// Deletes console logs last written more than `age` ago, except those of
/// runs in flight. Returns how many went.
pub fn expire_consoles(consoles: &Consoles, age: Duration) -> usize {
    let Some(dir) = consoles.dir() else {
        return 0;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in entries.flatten() {
        let p = e.path();
        let Some(run) = p
            .file_name()
            .and_then(|f| f.to_str())
            .and_then(|f| f.strip_suffix(".log"))
        else {
            continue;
        };
        if consoles.in_flight(run) {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|a| a > age);
        if old {
            match std::fs::remove_file(&p) {
                Ok(()) => n += 1,
                Err(err) => warn!(file = %p.display(), "retention: cannot delete: {err}"),
            }
        }
    }
    n
}
