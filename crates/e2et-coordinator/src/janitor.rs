//! Retention: bulky logs expire, history does not. Today the only bulky log
//! in the store is the boot-script request log (one row per iPXE request of
//! every MAC, run or not); runs, transitions, facts, power steps and
//! reports are kept for good.
use crate::engine::Ctx;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// Rows deleted per write, so the janitor never holds the writer long.
const BATCH: usize = 5000;

/// Expires boot requests older than `days`, now and then every `every`.
pub async fn run(ctx: Arc<Ctx>, days: u32, every: Duration) {
    loop {
        // The store's own time format (`store::now`), so times compare as text.
        let cutoff = (chrono::Utc::now() - chrono::Duration::days(i64::from(days)))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut total = 0usize;
        loop {
            match ctx.store.expire_boot_requests(&cutoff, BATCH).await {
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
        tokio::time::sleep(every).await;
    }
}
