//! The store: SQLite (WAL), one row per run plus append-only tables for
//! transitions, tokens, boots, facts, power steps and boot-script requests.
//! Every transition is written here before its side effect runs.
use e2et_model::{RunMode, RunState};
use rusqlite::Connection;
use std::path::Path;
use std::sync::Mutex;

mod agents;
mod boot_log;
mod power;
mod runs;

pub use agents::{BootRow, Enrolled, Issued};
pub use runs::{Counts, LastKnownGood, LiveRunRow, RunRow, RunSummary, Transitioned};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("stored JSON is corrupt: {0}")]
    Json(#[from] serde_json::Error),
    #[error("run {0} not found")]
    NoRun(String),
    #[error("stored state {0:?} is unknown")]
    BadState(String),
    #[error("commit failed, nothing of this write is stored: {0}")]
    Commit(String),
    #[error("the store's writer has stopped")]
    WriterGone,
    #[error("run {run} is in {actual}, no longer in {expected}")]
    Moved {
        run: String,
        expected: String,
        actual: String,
    },
    #[error("host {host} already has run {run} in {state}")]
    HostBusy {
        host: String,
        run: String,
        state: String,
    },
}

/// A write in its own savepoint: undone alone if it fails.
fn savepoint<T>(c: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    c.execute_batch("SAVEPOINT w")?;
    let r = f(c);
    match &r {
        Ok(_) => c.execute_batch("RELEASE w")?,
        Err(_) => c.execute_batch("ROLLBACK TO w; RELEASE w")?,
    }
    r
}

pub type Result<T> = std::result::Result<T, StoreError>;

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// One write for the writer thread: it runs in its own savepoint of the
/// batch's transaction (or, `None`, is told the batch could not begin) and
/// returns what to tell its caller once the batch's commit is known.
type Job = Box<dyn FnOnce(Option<&Connection>) -> Completion + Send>;
type Completion = Box<dyn FnOnce(Option<&str>) + Send>;

pub struct Store {
    /// To the writer thread, which owns the only writing connection.
    jobs: std::sync::mpsc::Sender<Job>,
    /// Read-only connections: in WAL mode they read the last committed state
    /// while the writer commits, so a read never waits for an fsync.
    readers: Vec<Mutex<Connection>>,
    next_reader: std::sync::atomic::AtomicUsize,
    /// The checkpoint thread runs while this lives.
    _alive: std::sync::Arc<()>,
}

/// How often the checkpoint thread copies committed WAL frames into the
/// database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Checkpoints off the writer's path: the writer connection has automatic
/// checkpoints off (one would stall every commit queued behind it while it
/// copies and fsyncs the database file); this thread runs PASSIVE
/// checkpoints, which never block the writer or a reader. Durability does
/// not depend on it: with synchronous=FULL a commit is durable in the WAL.
fn checkpointer(conn: Connection, alive: std::sync::Weak<()>) {
    while alive.upgrade().is_some() {
        std::thread::sleep(CHECKPOINT_EVERY);
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
        }
    }
}

/// Read access to one of the reader connections (derefs to it).
pub struct Conn<'a>(std::sync::MutexGuard<'a, Connection>);

impl std::ops::Deref for Conn<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.0
    }
}

/// Reader connections; about one per core is enough for this workload.
const READERS: usize = 4;
/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 64;
/// The most writes one commit takes.
const MAX_BATCH: usize = 1024;

/// Runs `f` where blocking is allowed: on a multi-threaded tokio runtime the
/// worker hands its other tasks over first.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// A write on its way: durable when it resolves. `.await` it in async code;
/// `.wait()` blocks (for synchronous callers and tools).
#[must_use = "a write is durable only once awaited or waited for"]
pub struct Pending<T>(std::result::Result<tokio::sync::oneshot::Receiver<Result<T>>, StoreError>);

impl<T> Pending<T> {
    /// Blocks this thread until the write is durable. Safe anywhere, a
    /// current-thread runtime included: the writer is its own thread.
    pub fn wait(self) -> Result<T> {
        match self.0 {
            Err(e) => Err(e),
            Ok(rx) => blocking(|| park_on(rx)).unwrap_or(Err(StoreError::WriterGone)),
        }
    }
}

/// Polls a future to completion by parking this thread between wake-ups.
fn park_on<F: std::future::Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

impl<T: Send + 'static> std::future::IntoFuture for Pending<T> {
    type Output = Result<T>;
    type IntoFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + Send>>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            match self.0 {
                Err(e) => Err(e),
                Ok(rx) => rx.await.unwrap_or(Err(StoreError::WriterGone)),
            }
        })
    }
}

/// The writer: takes what is queued (up to MAX_BATCH), runs each write in its
/// own savepoint, commits once (one fsync for all), then answers each. A
/// batch grows with the load by itself: while one commits, the next queues.
fn writer(conn: Connection, jobs: std::sync::mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let e = e.to_string();
            for j in batch {
                j(None)(Some(&e));
            }
            continue;
        }
        let done: Vec<Completion> = batch.into_iter().map(|j| j(Some(&conn))).collect();
        let err = conn.execute_batch("COMMIT").err().map(|e| {
            // Nothing of the batch is durable: undo it and tell everyone in it.
            let _ = conn.execute_batch("ROLLBACK");
            e.to_string()
        });
        for d in done {
            d(err.as_deref());
        }
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs(
  id TEXT PRIMARY KEY, host TEXT NOT NULL, mode TEXT NOT NULL, state TEXT NOT NULL,
  spec_json TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  note TEXT NOT NULL DEFAULT '', verdict TEXT, score REAL, zone TEXT, report_json TEXT,
  abort_reason TEXT, engine_checks TEXT NOT NULL DEFAULT '[]');
DROP INDEX IF EXISTS runs_host;
CREATE INDEX IF NOT EXISTS runs_state ON runs(state);
CREATE INDEX IF NOT EXISTS runs_created ON runs(created_at, id);
CREATE INDEX IF NOT EXISTS runs_host_created ON runs(host, created_at, id);
CREATE TABLE IF NOT EXISTS transitions(
  run_id TEXT NOT NULL, seq INTEGER NOT NULL, from_state TEXT NOT NULL, to_state TEXT NOT NULL,
  at TEXT NOT NULL, note TEXT NOT NULL, PRIMARY KEY(run_id, seq));
CREATE TABLE IF NOT EXISTS tokens(
  token_hash TEXT PRIMARY KEY, run_id TEXT NOT NULL, issued_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tokens_run ON tokens(run_id);
CREATE TABLE IF NOT EXISTS boots(
  run_id TEXT NOT NULL, seq INTEGER NOT NULL, boot_id TEXT NOT NULL, hello_at TEXT NOT NULL,
  cmdline TEXT NOT NULL, PRIMARY KEY(run_id, seq));
CREATE TABLE IF NOT EXISTS facts(
  run_id TEXT NOT NULL, boot_seq INTEGER NOT NULL, boot_id TEXT NOT NULL, facts_json TEXT NOT NULL,
  received_at TEXT NOT NULL, PRIMARY KEY(run_id, boot_seq));
CREATE TABLE IF NOT EXISTS power_log(
  id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, lifecycle_state TEXT NOT NULL,
  phase TEXT NOT NULL, at TEXT NOT NULL, pdu TEXT NOT NULL, outlet INTEGER NOT NULL,
  action TEXT NOT NULL, observed TEXT, ok INTEGER, detail TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS power_log_run ON power_log(run_id, id);
CREATE TABLE IF NOT EXISTS boot_requests(
  id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, mac TEXT NOT NULL, run_id TEXT,
  decision TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS boot_requests_mac ON boot_requests(mac, id);
CREATE TABLE IF NOT EXISTS enrolments(
  run_id TEXT NOT NULL, boot_id TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY(run_id, boot_id));
CREATE TABLE IF NOT EXISTS last_known_good(
  host TEXT PRIMARY KEY, run_id TEXT NOT NULL, revision TEXT NOT NULL, promoted_at TEXT NOT NULL);
";

/// Columns added after the first release, on a store made before them.
/// `tokens.boot_window`: the boot window a token belongs to (0: a token from
/// before windows, which no request is accepted with); `tokens.source`: the
/// address it was issued to. One token per run and window, enforced here.
fn migrate(conn: &Connection) -> Result<()> {
    let has = |table: &str, col: &str| -> Result<bool> {
        let mut st = conn.prepare(&format!("PRAGMA table_info({table})"))?;
        let names = st.query_map([], |r| r.get::<_, String>(1))?;
        for n in names {
            if n? == col {
                return Ok(true);
            }
        }
        Ok(false)
    };
    if !has("tokens", "boot_window")? {
        conn.execute_batch(
            "ALTER TABLE tokens ADD COLUMN boot_window INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE tokens ADD COLUMN source TEXT NOT NULL DEFAULT '';",
        )?;
    }
    conn.execute_batch(
        "CREATE UNIQUE INDEX IF NOT EXISTS tokens_window ON tokens(run_id, boot_window) WHERE boot_window > 0;",
    )?;
    Ok(())
}

fn parse_state(s: String) -> Result<RunState> {
    RunState::parse(&s).ok_or(StoreError::BadState(s))
}

/// The states matching `pred`, as an SQL list (`'passed', 'failed'`) for
/// `state IN (...)`: names come from RunState, never from input.
fn states_sql(pred: impl Fn(RunState) -> bool) -> String {
    RunState::ALL
        .iter()
        .filter(|s| pred(**s))
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A verdict or zone as stored (its serde name); `None` if absent or unknown.
pub fn parse_label<T: serde::de::DeserializeOwned>(v: Option<&str>) -> Option<T> {
    v.and_then(|v| serde_json::from_value(serde_json::Value::String(v.into())).ok())
}

fn parse_mode(s: &str) -> RunMode {
    if s == "quick" {
        RunMode::Quick
    } else {
        RunMode::Cold
    }
}

impl Store {
    pub fn open(path: &Path) -> Result<Store> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        migrate(&conn)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            r.busy_timeout(std::time::Duration::from_secs(5))?;
            // Pages straight from the page cache, not a pread each.
            r.pragma_update(None, "mmap_size", 1i64 << 30)?;
            r.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            readers.push(Mutex::new(r));
        }
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let cp = Connection::open(path)?;
        cp.busy_timeout(std::time::Duration::from_secs(5))?;
        let alive = std::sync::Arc::new(());
        let weak = std::sync::Arc::downgrade(&alive);
        std::thread::Builder::new()
            .name("e2et-store-checkpoint".into())
            .spawn(move || checkpointer(cp, weak))
            .map_err(|e| StoreError::Commit(format!("cannot start the checkpoint thread: {e}")))?;
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("e2et-store-writer".into())
            .spawn(move || writer(conn, rx))
            .map_err(|e| StoreError::Commit(format!("cannot start the writer thread: {e}")))?;
        Ok(Store {
            jobs: tx,
            readers,
            next_reader: std::sync::atomic::AtomicUsize::new(0),
            _alive: alive,
        })
    }

    /// One atomic write, durable once the returned `Pending` resolves.
    fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Pending<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn: Option<&Connection>| -> Completion {
            let r = conn.map(|c| savepoint(c, f));
            Box::new(move |commit_err: Option<&str>| {
                let out = match (commit_err, r) {
                    (Some(e), _) => Err(StoreError::Commit(e.to_string())),
                    (None, Some(r)) => r,
                    (None, None) => Err(StoreError::Commit("the batch did not begin".into())),
                };
                let _ = tx.send(out);
            })
        });
        match self.jobs.send(job) {
            Ok(()) => Pending(Ok(rx)),
            Err(_) => Pending(Err(StoreError::WriterGone)),
        }
    }

    /// A reader: a free one if there is, else the next in turn.
    fn c(&self) -> Conn<'_> {
        for r in &self.readers {
            if let Ok(g) = r.try_lock() {
                return Conn(g);
            }
        }
        let i = self
            .next_reader
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % self.readers.len();
        Conn(self.readers[i].lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[cfg(test)]
mod tests;
