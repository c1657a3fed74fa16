//! One command at a time per PDU: many runs share a PDU (eight hosts on one
//! AP7901), and a rack PDU's management card handles one SNMP set at a time
//! and switches relays one after another. Every call on the device —
//! commands and the status reads that verify them — goes through one lock.
use crate::{PduError, PowerDriver, PowerState};
use async_trait::async_trait;
use std::sync::Arc;

pub struct Serialized {
    inner: Arc<dyn PowerDriver>,
    lock: tokio::sync::Mutex<()>,
}

impl Serialized {
    pub fn new(inner: Arc<dyn PowerDriver>) -> Serialized {
        Serialized {
            inner,
            lock: tokio::sync::Mutex::new(()),
        }
    }
}

#[async_trait]
impl PowerDriver for Serialized {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn status(&self, outlet: u32) -> Result<PowerState, PduError> {
        let _g = self.lock.lock().await;
        self.inner.status(outlet).await
    }
    async fn on(&self, outlet: u32) -> Result<(), PduError> {
        let _g = self.lock.lock().await;
        self.inner.on(outlet).await
    }
    async fn off(&self, outlet: u32) -> Result<(), PduError> {
        let _g = self.lock.lock().await;
        self.inner.off(outlet).await
    }
    async fn soft_off(&self, outlet: u32) -> Result<(), PduError> {
        let _g = self.lock.lock().await;
        self.inner.soft_off(outlet).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A device that notes how many calls are inside it at once.
    #[derive(Default)]
    struct Busy {
        now: AtomicUsize,
        max: AtomicUsize,
    }

    impl Busy {
        async fn enter(&self) {
            let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.max.fetch_max(n, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
        }
    }

    #[async_trait]
    impl PowerDriver for Busy {
        fn name(&self) -> &str {
            "busy"
        }
        async fn status(&self, _: u32) -> Result<PowerState, PduError> {
            self.enter().await;
            Ok(PowerState::On)
        }
        async fn on(&self, _: u32) -> Result<(), PduError> {
            self.enter().await;
            Ok(())
        }
        async fn off(&self, _: u32) -> Result<(), PduError> {
            self.enter().await;
            Ok(())
        }
    }

    async fn hammer(d: Arc<dyn PowerDriver>) {
        let mut tasks = Vec::new();
        for outlet in 1..=8 {
            let d = d.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..3 {
                    d.off(outlet).await.unwrap();
                    d.status(outlet).await.unwrap();
                    d.on(outlet).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn eight_runs_on_one_pdu_never_overlap_their_commands() {
        // Without the lock the device does see overlapping calls ...
        let raw = Arc::new(Busy::default());
        hammer(raw.clone()).await;
        assert!(raw.max.load(Ordering::SeqCst) > 1);
        // ... with it, never.
        let busy = Arc::new(Busy::default());
        hammer(Arc::new(Serialized::new(busy.clone()))).await;
        assert_eq!(busy.max.load(Ordering::SeqCst), 1);
    }
}
