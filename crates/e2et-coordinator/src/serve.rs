//! The HTTP server's own limits, before any handler runs: a connection cap
//! (global, and per source address), a header-read timeout, and each
//! request's peer address for the handlers (`ConnectInfo`). A slow or
//! greedy client holds at most its own address's share of connections, for
//! at most the header timeout while it dawdles, so it cannot keep the hosts
//! of other runs from reaching the agent API.
use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;
use tracing::{debug, warn};

/// Bounds of the server (see `e2etd serve --help`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once; beyond it, accepting waits.
    pub max_connections: usize,
    /// Connections open at once from one source address; beyond it, a new
    /// connection is closed at once.
    pub max_connections_per_ip: usize,
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
}

impl Limits {
    /// `max_connections` lowered to what the process's open-file limit
    /// allows (leaving room for the store, consoles and PDU sockets): past
    /// it, accept() would fail and nobody would get in.
    pub fn within_open_files(mut self) -> Limits {
        let mut rl = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the struct it is given.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } == 0 {
            let room = usize::try_from(rl.rlim_cur)
                .unwrap_or(usize::MAX)
                .saturating_sub(RESERVED_FDS)
                .max(1);
            if room < self.max_connections {
                warn!(
                    open_files = rl.rlim_cur,
                    max_connections = room,
                    "the open-file limit caps connections lower than asked"
                );
                self.max_connections = room;
            }
        }
        self
    }
}

/// File descriptors kept free of connections.
const RESERVED_FDS: usize = 64;

/// Connections per source address, counted while they are open.
#[derive(Default)]
struct PerIp(Mutex<HashMap<IpAddr, usize>>);

impl PerIp {
    fn enter(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<IpSlot> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            map: self.clone(),
            ip,
        })
    }
}

struct IpSlot {
    map: Arc<PerIp>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut m = self.map.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_ip = Arc::new(PerIp::default());
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let builder = Arc::new(builder);
    let mut refused_logged = Instant::now() - Duration::from_secs(60);
    tokio::pin!(shutdown);
    loop {
        // A slot first: at the cap, connections wait in the listen backlog.
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => return Ok(()),
            },
            () = &mut shutdown => return Ok(()),
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let ip = peer.ip().to_canonical();
        let Some(ip_slot) = per_ip.enter(ip, limits.max_connections_per_ip) else {
            if refused_logged.elapsed() > Duration::from_secs(10) {
                warn!(%ip, max = limits.max_connections_per_ip, "connection refused: too many from one address");
                refused_logged = Instant::now();
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let builder = builder.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    router.clone().oneshot(req.map(axum::body::Body::new))
                },
            );
            if let Err(e) = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                .await
            {
                debug!(%peer, error = %e, "connection ended");
            }
            drop(ip_slot);
            drop(slot);
        });
    }
}
