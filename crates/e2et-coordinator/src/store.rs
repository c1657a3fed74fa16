//! The store: SQLite (WAL), one row per run plus append-only tables for
//! transitions, tokens, boots, facts, power steps and boot-script requests.
//! Every transition is written here before its side effect runs.
use e2et_model::facts::Facts;
use e2et_model::report::{PowerStep, Transition};
use e2et_model::{RunMode, RunState};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Mutex;

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

#[derive(Debug, Clone)]
pub struct RunRow {
    pub id: String,
    pub host: String,
    pub mode: RunMode,
    pub state: RunState,
    pub spec_json: String,
    pub created_at: String,
    pub updated_at: String,
    pub note: String,
    pub verdict: Option<String>,
    pub score: Option<f64>,
    pub zone: Option<String>,
    pub report_json: Option<String>,
    /// Why the lifecycle stopped early, if it did.
    pub abort_reason: Option<String>,
    /// Extra run checks the engine recorded (JSON array of Check).
    pub engine_checks: String,
}

/// A run without its bulky columns (spec, report): what lists show.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub id: String,
    pub host: String,
    pub mode: RunMode,
    pub state: RunState,
    pub created_at: String,
    pub updated_at: String,
    pub note: String,
    pub verdict: Option<String>,
    pub score: Option<f64>,
    pub zone: Option<String>,
    pub has_report: bool,
}

/// (label, count) pairs.
pub type Counts = Vec<(String, u64)>;

/// A run not yet finished, with what the in-memory view needs of it.
/// A host's last-known-good configuration: what its newest passing cold run
/// observed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LastKnownGood {
    pub run_id: String,
    pub revision: String,
    pub promoted_at: String,
}

#[derive(Debug, Clone)]
pub struct LiveRunRow {
    pub run: RunRow,
    pub boots: Vec<BootRow>,
    pub token_hashes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct BootRow {
    pub seq: u32,
    pub boot_id: String,
    pub hello_at: String,
    pub cmdline: String,
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

/// A transition as stored, with what an event about it needs.
#[derive(Debug, Clone)]
pub struct Transitioned {
    pub seq: u32,
    pub from: Option<RunState>,
    pub host: String,
    pub mode: RunMode,
    pub verdict: Option<String>,
    pub score: Option<f64>,
    pub zone: Option<String>,
    pub at: String,
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

    pub fn create_run(&self, id: &str, host: &str, mode: RunMode, spec_json: &str) -> Pending<()> {
        let t = now();
        let (id, host, spec_json) = (id.to_string(), host.to_string(), spec_json.to_string());
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO runs(id, host, mode, state, spec_json, created_at, updated_at, note)
             VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?5, 'created')",
            )?
            .execute(params![id, host, mode.as_str(), spec_json, t])?;
            tx.prepare_cached(
                "INSERT INTO transitions(run_id, seq, from_state, to_state, at, note)
             VALUES (?1, 0, '', 'queued', ?2, 'run created')",
            )?
            .execute(params![id, t])?;
            Ok(())
        })
    }

    /// Persists a transition (durably); what the run was and is now.
    pub fn transition(&self, id: &str, to: RunState, note: &str) -> Pending<Transitioned> {
        let t = now();
        let (id, note) = (id.to_string(), note.to_string());
        self.write(move |tx| {
            let (from, host, mode, verdict, score, zone): (
                String,
                String,
                String,
                Option<String>,
                Option<f64>,
                Option<String>,
            ) = tx
                .prepare_cached(
                    "SELECT state, host, mode, verdict, score, zone FROM runs WHERE id = ?1",
                )?
                .query_row([&id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
                })
                .optional()?
                .ok_or_else(|| StoreError::NoRun(id.clone()))?;
            let seq: u32 = tx
                .prepare_cached(
                    "SELECT COALESCE(MAX(seq), -1) + 1 FROM transitions WHERE run_id = ?1",
                )?
                .query_row([&id], |r| r.get(0))?;
            tx.prepare_cached(
                "INSERT INTO transitions(run_id, seq, from_state, to_state, at, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![id, seq, from, to.as_str(), t, note])?;
            tx.prepare_cached(
                "UPDATE runs SET state = ?2, updated_at = ?3, note = ?4 WHERE id = ?1",
            )?
            .execute(params![id, to.as_str(), t, note])?;
            Ok(Transitioned {
                seq,
                from: parse_state(from).ok(),
                host,
                mode: parse_mode(&mode),
                verdict,
                score,
                zone,
                at: t,
            })
        })
    }

    pub fn set_abort(&self, id: &str, reason: &str, checks_json: &str) -> Pending<()> {
        let (id, reason, checks_json) =
            (id.to_string(), reason.to_string(), checks_json.to_string());
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE runs SET abort_reason = ?2, engine_checks = ?3 WHERE id = ?1",
            )?
            .execute(params![id, reason, checks_json])?;
            Ok(())
        })
    }

    /// Stores the run's report and, in the same transaction, promotes the
    /// configuration revision it passed with to its host's last-known-good.
    pub fn finish(
        &self,
        id: &str,
        verdict: &str,
        score: f64,
        zone: &str,
        report_json: &str,
        promote: Option<&str>,
    ) -> Pending<()> {
        let (id, verdict, zone, report_json, promote, t) = (
            id.to_string(),
            verdict.to_string(),
            zone.to_string(),
            report_json.to_string(),
            promote.map(str::to_string),
            now(),
        );
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE runs SET verdict = ?2, score = ?3, zone = ?4, report_json = ?5 WHERE id = ?1",
            )?
            .execute(params![id, verdict, score, zone, report_json])?;
            if let Some(rev) = &promote {
                c.prepare_cached(
                    "INSERT INTO last_known_good(host, run_id, revision, promoted_at)
                     SELECT host, id, ?2, ?3 FROM runs WHERE id = ?1
                     ON CONFLICT(host) DO UPDATE SET run_id = excluded.run_id,
                       revision = excluded.revision, promoted_at = excluded.promoted_at",
                )?
                .execute(params![id, rev, t])?;
            }
            Ok(())
        })
    }

    /// The configuration a host last passed a cold run with.
    pub fn last_known_good(&self, host: &str) -> Result<Option<LastKnownGood>> {
        Ok(self
            .c()
            .prepare_cached(
                "SELECT run_id, revision, promoted_at FROM last_known_good WHERE host = ?1",
            )?
            .query_row([host], |r| {
                Ok(LastKnownGood {
                    run_id: r.get(0)?,
                    revision: r.get(1)?,
                    promoted_at: r.get(2)?,
                })
            })
            .optional()?)
    }

    /// Hands a boot of a run its token (hash stored), once: `false` when this
    /// boot already enrolled (a second claim for it is refused).
    pub fn enrol(&self, run_id: &str, boot_id: &str, token_hash: &str) -> Pending<bool> {
        let (run_id, boot_id, token_hash, t) = (
            run_id.to_string(),
            boot_id.to_string(),
            token_hash.to_string(),
            now(),
        );
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "INSERT OR IGNORE INTO enrolments(run_id, boot_id, at) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![run_id, boot_id, t])?;
            if n == 0 {
                return Ok(false);
            }
            c.prepare_cached(
                "INSERT INTO tokens(token_hash, run_id, issued_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![token_hash, run_id, t])?;
            Ok(true)
        })
    }

    fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(RunRow, String)> {
        let state: String = r.get(3)?;
        let mode: String = r.get(2)?;
        Ok((
            RunRow {
                id: r.get(0)?,
                host: r.get(1)?,
                mode: parse_mode(&mode),
                state: RunState::Queued,
                spec_json: r.get(4)?,
                created_at: r.get(5)?,
                updated_at: r.get(6)?,
                note: r.get(7)?,
                verdict: r.get(8)?,
                score: r.get(9)?,
                zone: r.get(10)?,
                report_json: r.get(11)?,
                abort_reason: r.get(12)?,
                engine_checks: r.get(13)?,
            },
            state,
        ))
    }

    const COLS: &'static str = "id, host, mode, state, spec_json, created_at, updated_at, note, verdict, score, zone, report_json, abort_reason, engine_checks";

    pub fn run(&self, id: &str) -> Result<Option<RunRow>> {
        let c = self.c();
        let r = c
            .prepare_cached(&format!("SELECT {} FROM runs WHERE id = ?1", Self::COLS))?
            .query_row([id], Self::row)
            .optional()?;
        r.map(|(mut row, st)| {
            row.state = parse_state(st)?;
            Ok(row)
        })
        .transpose()
    }

    pub fn runs(&self) -> Result<Vec<RunRow>> {
        self.runs_where("1")
    }

    /// The runs not yet in a terminal state (index runs_state): what a
    /// restart resumes, without reading the history's reports.
    pub fn unfinished_runs(&self) -> Result<Vec<RunRow>> {
        self.runs_where(&format!(
            "state NOT IN ({})",
            states_sql(RunState::is_terminal)
        ))
    }

    fn runs_where(&self, filter: &str) -> Result<Vec<RunRow>> {
        let c = self.c();
        let mut stmt = c.prepare_cached(&format!(
            "SELECT {} FROM runs WHERE {filter} ORDER BY created_at DESC, id DESC",
            Self::COLS
        ))?;
        let rows = stmt.query_map([], Self::row)?;
        let mut out = Vec::new();
        for r in rows {
            let (mut row, st) = r?;
            row.state = parse_state(st)?;
            out.push(row);
        }
        Ok(out)
    }

    /// Boot sequences whose facts are stored.
    pub fn facts_seqs(&self, run_id: &str) -> Result<Vec<u32>> {
        let c = self.c();
        let mut st =
            c.prepare_cached("SELECT boot_seq FROM facts WHERE run_id = ?1 ORDER BY boot_seq")?;
        let rows = st.query_map([run_id], |r| r.get::<_, u32>(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every run not yet finished with its boots and token hashes: what the
    /// in-memory view of runs in flight is rebuilt from at start.
    pub fn live_runs(&self) -> Result<Vec<LiveRunRow>> {
        let mut out = Vec::new();
        for r in self.unfinished_runs()? {
            let boots = self.boots(&r.id)?;
            let tokens = {
                let c = self.c();
                let mut st = c.prepare_cached("SELECT token_hash FROM tokens WHERE run_id = ?1")?;
                let rows = st.query_map([&r.id], |row| row.get::<_, String>(0))?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            out.push(LiveRunRow {
                run: r,
                boots,
                token_hashes: tokens,
            });
        }
        Ok(out)
    }

    /// The run that keeps a new one off `host`: one in flight, or one held
    /// for inspection (an operator must release it first). One indexed read
    /// (runs_host_created): this is on the path of every boot-script request
    /// and every run creation.
    pub fn host_blocker(&self, host: &str) -> Result<Option<RunSummary>> {
        let free = states_sql(|s| s.is_terminal() && s != RunState::Holding);
        Ok(self
            .summaries(&format!("host = ?1 AND state NOT IN ({free})"), &[&host], 1)?
            .pop())
    }

    const SUMMARY_COLS: &'static str = "id, host, mode, state, created_at, updated_at, note, verdict, score, zone, report_json IS NOT NULL";

    fn summaries(
        &self,
        filter: &str,
        args: &[&dyn rusqlite::ToSql],
        limit: usize,
    ) -> Result<Vec<RunSummary>> {
        let c = self.c();
        let mut stmt = c.prepare_cached(&format!(
            "SELECT {} FROM runs WHERE {filter} ORDER BY created_at DESC, id DESC LIMIT {limit}",
            Self::SUMMARY_COLS
        ))?;
        let rows = stmt.query_map(args, |r| {
            let mode: String = r.get(2)?;
            let state: String = r.get(3)?;
            Ok((
                RunSummary {
                    id: r.get(0)?,
                    host: r.get(1)?,
                    mode: parse_mode(&mode),
                    state: RunState::Queued,
                    created_at: r.get(4)?,
                    updated_at: r.get(5)?,
                    note: r.get(6)?,
                    verdict: r.get(7)?,
                    score: r.get(8)?,
                    zone: r.get(9)?,
                    has_report: r.get(10)?,
                },
                state,
            ))
        })?;
        let mut out = Vec::new();
        for r in rows {
            let (mut row, st) = r?;
            row.state = parse_state(st)?;
            out.push(row);
        }
        Ok(out)
    }

    /// The newest runs first, at most `limit`, those older than run `before`
    /// when given (a page of the history, without reports).
    pub fn recent_runs(&self, limit: usize, before: Option<&str>) -> Result<Vec<RunSummary>> {
        match before {
            None => self.summaries("1", &[], limit),
            Some(b) => self.summaries(
                "(created_at, id) < (SELECT created_at, id FROM runs WHERE id = ?1)",
                &[&b],
                limit,
            ),
        }
    }

    /// Each host's newest run.
    pub fn last_run(&self, host: &str) -> Result<Option<RunSummary>> {
        Ok(self.summaries("host = ?1", &[&host], 1)?.pop())
    }

    pub fn transitions(&self, id: &str) -> Result<Vec<Transition>> {
        let c = self.c();
        let mut stmt = c.prepare_cached(
            "SELECT seq, from_state, to_state, at, note FROM transitions WHERE run_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([id], |r| {
            Ok(Transition {
                seq: r.get(0)?,
                from: r.get(1)?,
                to: r.get(2)?,
                at: r.get(3)?,
                note: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn count_transitions_to(&self, id: &str, to: RunState) -> Result<u32> {
        Ok(self
            .c()
            .prepare_cached("SELECT COUNT(*) FROM transitions WHERE run_id = ?1 AND to_state = ?2")?
            .query_row(params![id, to.as_str()], |r| r.get(0))?)
    }

    pub fn add_token(&self, run_id: &str, token_hash: &str) -> Pending<()> {
        let (run_id, token_hash, t) = (run_id.to_string(), token_hash.to_string(), now());
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO tokens(token_hash, run_id, issued_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![token_hash, run_id, t])?;
            Ok(())
        })
    }

    /// When a boot's facts arrived (the coordinator's clock).
    pub fn facts_received_at(&self, run_id: &str, seq: u32) -> Result<Option<String>> {
        Ok(self
            .c()
            .prepare_cached("SELECT received_at FROM facts WHERE run_id = ?1 AND boot_seq = ?2")?
            .query_row(params![run_id, seq], |r| r.get(0))
            .optional()?)
    }

    /// The run a token hash belongs to.
    pub fn token_run(&self, token_hash: &str) -> Result<Option<(String, String)>> {
        Ok(self
            .c()
            .prepare_cached("SELECT run_id, token_hash FROM tokens WHERE token_hash = ?1")?
            .query_row([token_hash], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    pub fn boots(&self, run_id: &str) -> Result<Vec<BootRow>> {
        let c = self.c();
        let mut stmt = c.prepare_cached(
            "SELECT seq, boot_id, hello_at, cmdline FROM boots WHERE run_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([run_id], |r| {
            Ok(BootRow {
                seq: r.get(0)?,
                boot_id: r.get(1)?,
                hello_at: r.get(2)?,
                cmdline: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records a hello. A repeated hello of a known boot returns its sequence;
    /// a new boot gets the next one.
    pub fn add_boot(&self, run_id: &str, boot_id: &str, cmdline: &str) -> Pending<(u32, bool)> {
        let (run_id, boot_id, cmdline, t) = (
            run_id.to_string(),
            boot_id.to_string(),
            cmdline.to_string(),
            now(),
        );
        self.write(move |tx| {
            let known: Option<u32> = tx
                .prepare_cached("SELECT seq FROM boots WHERE run_id = ?1 AND boot_id = ?2")?
                .query_row(params![run_id, boot_id], |r| r.get(0))
                .optional()?;
            if let Some(seq) = known {
                return Ok((seq, false));
            }
            let seq: u32 = tx
                .prepare_cached("SELECT COALESCE(MAX(seq), 0) + 1 FROM boots WHERE run_id = ?1")?
                .query_row([&run_id], |r| r.get(0))?;
            tx.prepare_cached(
                "INSERT INTO boots(run_id, seq, boot_id, hello_at, cmdline) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![run_id, seq, boot_id, t, cmdline])?;
            Ok((seq, true))
        })
    }

    /// Stores a boot's facts once; a repeat post keeps the first copy.
    pub fn add_facts(&self, run_id: &str, seq: u32, boot_id: &str, facts: &Facts) -> Pending<bool> {
        let json = match serde_json::to_string(facts) {
            Ok(j) => j,
            Err(e) => return Pending(Err(e.into())),
        };
        let (run_id, boot_id, t) = (run_id.to_string(), boot_id.to_string(), now());
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "INSERT OR IGNORE INTO facts(run_id, boot_seq, boot_id, facts_json, received_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![run_id, seq, boot_id, json, t])?;
            Ok(n == 1)
        })
    }

    pub fn facts(&self, run_id: &str) -> Result<Vec<(u32, String, Facts)>> {
        let c = self.c();
        let mut stmt = c.prepare_cached(
            "SELECT boot_seq, boot_id, facts_json FROM facts WHERE run_id = ?1 ORDER BY boot_seq",
        )?;
        let rows = stmt.query_map([run_id], |r| {
            Ok((
                r.get::<_, u32>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for r in rows {
            let (s, b, j) = r?;
            out.push((s, b, serde_json::from_str(&j)?));
        }
        Ok(out)
    }

    pub fn power_intent(
        &self,
        run_id: &str,
        state: RunState,
        pdu: &str,
        outlet: u32,
        action: &str,
    ) -> Pending<()> {
        let (run_id, pdu, action, t) = (
            run_id.to_string(),
            pdu.to_string(),
            action.to_string(),
            now(),
        );
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO power_log(run_id, lifecycle_state, phase, at, pdu, outlet, action) VALUES (?1, ?2, 'intent', ?3, ?4, ?5, ?6)",
            )?
            .execute(params![run_id, state.as_str(), t, pdu, outlet, action])?;
            Ok(())
        })
    }

    pub fn power_done(&self, run_id: &str, state: RunState, step: &PowerStep) -> Pending<()> {
        let (run_id, step) = (run_id.to_string(), step.clone());
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO power_log(run_id, lifecycle_state, phase, at, pdu, outlet, action, observed, ok, detail) VALUES (?1, ?2, 'done', ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                run_id,
                state.as_str(),
                step.at,
                step.pdu,
                step.outlet,
                step.action,
                step.observed,
                step.ok,
                step.detail
            ])?;
            Ok(())
        })
    }

    /// Everything a finished run's report is built from, in one call
    /// (e2et_score::record::build turns it into the report).
    pub fn run_record(&self, run_id: &str) -> Result<e2et_score::record::RunRecord> {
        use e2et_score::record::{BootFacts, KnownGood, RunRecord};
        let run = self
            .run(run_id)?
            .ok_or_else(|| StoreError::NoRun(run_id.into()))?;
        let mut facts = Vec::new();
        for (seq, boot_id, f) in self.facts(run_id)? {
            facts.push(BootFacts {
                received_at: self.facts_received_at(run_id, seq)?,
                seq,
                boot_id,
                facts: f,
            });
        }
        let power_steps = self
            .power_steps(run_id)?
            .into_iter()
            .map(|(st, step)| {
                parse_label::<RunState>(Some(&st))
                    .map(|state| (state, step))
                    .ok_or(StoreError::BadState(st))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RunRecord {
            engine_checks: serde_json::from_str(&run.engine_checks)?,
            boots: self
                .boots(run_id)?
                .into_iter()
                .map(|b| (b.seq, b.boot_id))
                .collect(),
            facts,
            power_steps,
            transitions: self.transitions(run_id)?,
            provisionings: self.count_transitions_to(run_id, RunState::Provisioning)?,
            last_known_good: self.last_known_good(&run.host)?.map(|l| KnownGood {
                run_id: l.run_id,
                revision: l.revision,
                promoted_at: l.promoted_at,
            }),
            id: run.id,
            host: run.host,
            mode: run.mode,
            created_at: run.created_at,
            abort_reason: run.abort_reason,
        })
    }

    /// Completed power steps of a run, with the lifecycle state they belong to.
    pub fn power_steps(&self, run_id: &str) -> Result<Vec<(String, PowerStep)>> {
        let c = self.c();
        let mut stmt = c.prepare_cached(
            "SELECT lifecycle_state, at, pdu, outlet, action, observed, ok, detail FROM power_log WHERE run_id = ?1 AND phase = 'done' ORDER BY id",
        )?;
        let rows = stmt.query_map([run_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                PowerStep {
                    at: r.get(1)?,
                    pdu: r.get(2)?,
                    outlet: r.get(3)?,
                    action: r.get(4)?,
                    observed: r.get(5)?,
                    ok: r.get::<_, Option<bool>>(6)?.unwrap_or(false),
                    detail: r.get(7)?,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Power intents without a matching completion: an action that may or may
    /// not have happened (the coordinator died in between).
    pub fn unfinished_power(&self, run_id: &str) -> Result<u32> {
        Ok(self.c().prepare_cached("SELECT (SELECT COUNT(*) FROM power_log WHERE run_id = ?1 AND phase = 'intent') - (SELECT COUNT(*) FROM power_log WHERE run_id = ?1 AND phase = 'done')")?.query_row(
            [run_id],
            |r| r.get(0),
        )?)
    }

    pub fn boot_request(&self, mac: &str, run_id: Option<&str>, decision: &str) -> Pending<()> {
        let (mac, run_id, decision, t) = (
            mac.to_string(),
            run_id.map(str::to_string),
            decision.to_string(),
            now(),
        );
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO boot_requests(at, mac, run_id, decision) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![t, mac, run_id, decision])?;
            Ok(())
        })
    }

    /// (state, count) and (verdict, count) over all runs, for /metrics.
    pub fn counts(&self) -> Result<(Counts, Counts)> {
        let c = self.c();
        let q = |sql: &str| -> Result<Vec<(String, u64)>> {
            let mut st = c.prepare_cached(sql)?;
            let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        };
        Ok((
            q("SELECT state, COUNT(*) FROM runs GROUP BY state ORDER BY state")?,
            q("SELECT verdict, COUNT(*) FROM runs WHERE verdict IS NOT NULL GROUP BY verdict ORDER BY verdict")?,
        ))
    }

    /// Deletes up to `batch` boot-script requests recorded before `cutoff`
    /// (an RFC 3339 time like `now()`), except those of runs in flight, whose
    /// stuck-state diagnosis reads them. Returns how many went. Runs, their
    /// transitions, facts, power steps and reports are history: never here.
    pub fn expire_boot_requests(&self, cutoff: &str, batch: usize) -> Pending<usize> {
        let sql = format!(
            "DELETE FROM boot_requests WHERE id IN (SELECT id FROM boot_requests WHERE at < ?1 \
             AND (run_id IS NULL OR run_id NOT IN (SELECT id FROM runs WHERE state NOT IN ({}))) \
             ORDER BY id LIMIT ?2)",
            states_sql(RunState::is_terminal)
        );
        let cutoff = cutoff.to_string();
        self.write(move |c| Ok(c.prepare_cached(&sql)?.execute(params![cutoff, batch])?))
    }

    /// Last boot-script request of a MAC: (time, decision).
    pub fn last_boot_request(&self, mac: &str) -> Result<Option<(String, String)>> {
        Ok(self
            .c()
            .prepare_cached(
                "SELECT at, decision FROM boot_requests WHERE mac = ?1 ORDER BY id DESC LIMIT 1",
            )?
            .query_row([mac], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_pages_reach_the_database_file_without_the_writer_checkpointing() {
        let d = tempfile::tempdir().unwrap();
        let db = d.path().join("s.db");
        let s = Store::open(&db).unwrap();
        let before = std::fs::metadata(&db).unwrap().len();
        let spec = "x".repeat(4000);
        for i in 0..200 {
            s.create_run(&format!("r{i}"), &format!("h{i}"), RunMode::Cold, &spec)
                .wait()
                .unwrap();
        }
        // The writer never checkpoints (wal_autocheckpoint=0); the
        // checkpoint thread copies the ~800 KB of frames into the file.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::fs::metadata(&db).unwrap().len() < before + 500_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "the database file stayed at {} bytes",
                std::fs::metadata(&db).unwrap().len()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(s.run("r199").unwrap().unwrap().host, "h199");
    }

    #[test]
    fn old_boot_requests_expire_except_those_of_runs_in_flight() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("s.db")).unwrap();
        s.create_run("done", "vm1", RunMode::Cold, "{}")
            .wait()
            .unwrap();
        s.transition("done", RunState::Passed, "x").wait().unwrap();
        s.create_run("live", "vm2", RunMode::Cold, "{}")
            .wait()
            .unwrap();
        s.write(|c| {
            for (at, run) in [
                ("2020-01-01T00:00:00.000Z", None),
                ("2020-01-02T00:00:00.000Z", Some("done")),
                ("2020-01-03T00:00:00.000Z", Some("live")),
                ("2030-01-01T00:00:00.000Z", None),
            ] {
                c.execute(
                    "INSERT INTO boot_requests(at, mac, run_id, decision) VALUES (?1, 'm', ?2, 'd')",
                    params![at, run],
                )?;
            }
            Ok(())
        })
        .wait()
        .unwrap();
        let cutoff = "2026-01-01T00:00:00.000Z";
        assert_eq!(s.expire_boot_requests(cutoff, 1).wait().unwrap(), 1);
        assert_eq!(s.expire_boot_requests(cutoff, 100).wait().unwrap(), 1);
        assert_eq!(s.expire_boot_requests(cutoff, 100).wait().unwrap(), 0);
        let left: Vec<String> = {
            let c = s.c();
            let mut st = c
                .prepare("SELECT at FROM boot_requests ORDER BY id")
                .unwrap();
            st.query_map([], |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        };
        assert_eq!(
            left,
            ["2020-01-03T00:00:00.000Z", "2030-01-01T00:00:00.000Z"]
        );
        assert_eq!(s.run("done").unwrap().unwrap().state, RunState::Passed);
    }

    #[test]
    fn transitions_are_numbered_and_survive_reopen() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.db");
        {
            let s = Store::open(&p).unwrap();
            s.create_run("r1", "vm1", RunMode::Cold, "{}")
                .wait()
                .unwrap();
            assert_eq!(
                s.transition("r1", RunState::InventoryGate, "a")
                    .wait()
                    .unwrap()
                    .seq,
                1
            );
            assert_eq!(
                s.transition("r1", RunState::PowerOn, "b")
                    .wait()
                    .unwrap()
                    .from,
                Some(RunState::InventoryGate)
            );
            s.power_intent("r1", RunState::PowerOn, "p", 1, "off")
                .wait()
                .unwrap();
        }
        let s = Store::open(&p).unwrap();
        let r = s.run("r1").unwrap().unwrap();
        assert_eq!(r.state, RunState::PowerOn);
        let t = s.transitions("r1").unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(
            (t[2].from.as_str(), t[2].to.as_str()),
            ("inventory_gate", "power_on")
        );
        assert_eq!(s.unfinished_power("r1").unwrap(), 1);
        assert!(s.transition("nope", RunState::PowerOn, "x").wait().is_err());
    }

    #[test]
    fn boots_are_idempotent_per_boot_id() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("s.db")).unwrap();
        s.create_run("r1", "vm1", RunMode::Cold, "{}")
            .wait()
            .unwrap();
        assert_eq!(s.add_boot("r1", "b1", "c").wait().unwrap(), (1, true));
        assert_eq!(s.add_boot("r1", "b1", "c").wait().unwrap(), (1, false));
        assert_eq!(s.add_boot("r1", "b2", "c").wait().unwrap(), (2, true));
    }

    #[test]
    fn a_host_is_blocked_by_its_run_in_flight_or_its_held_run() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("s.db")).unwrap();
        s.create_run("r1", "vm1", RunMode::Cold, "{}")
            .wait()
            .unwrap();
        s.transition("r1", RunState::Failed, "x").wait().unwrap();
        s.create_run("r2", "vm2", RunMode::Cold, "{}")
            .wait()
            .unwrap();
        assert!(s.host_blocker("vm1").unwrap().is_none());
        s.create_run("r3", "vm1", RunMode::Cold, "{}")
            .wait()
            .unwrap();
        assert_eq!(s.host_blocker("vm1").unwrap().unwrap().id, "r3");
        assert_eq!(s.host_blocker("vm2").unwrap().unwrap().id, "r2");
        assert!(s.host_blocker("vm3").unwrap().is_none());
        s.transition("r3", RunState::Failed, "x").wait().unwrap();
        assert!(s.host_blocker("vm1").unwrap().is_none());
        s.transition("r3", RunState::Holding, "look")
            .wait()
            .unwrap();
        let b = s.host_blocker("vm1").unwrap().unwrap();
        assert_eq!((b.id.as_str(), b.state), ("r3", RunState::Holding));
        s.transition("r3", RunState::Released, "done")
            .wait()
            .unwrap();
        assert!(s.host_blocker("vm1").unwrap().is_none());
    }

    #[test]
    fn history_pages_newest_first_without_reports() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("s.db")).unwrap();
        for i in 0..5 {
            s.create_run(&format!("r{i}"), "vm1", RunMode::Cold, "{}")
                .wait()
                .unwrap();
        }
        s.finish("r2", "passed", 1.0, "p99", "{}", None)
            .wait()
            .unwrap();
        let ids = |v: Vec<RunSummary>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(s.recent_runs(2, None).unwrap()), ["r4", "r3"]);
        assert_eq!(ids(s.recent_runs(2, Some("r3")).unwrap()), ["r2", "r1"]);
        assert_eq!(ids(s.recent_runs(9, Some("r1")).unwrap()), ["r0"]);
        assert!(s.recent_runs(9, Some("nope")).unwrap().is_empty());
        let r2 = &s.recent_runs(1, Some("r3")).unwrap()[0];
        assert!(r2.has_report && r2.verdict.as_deref() == Some("passed"));
        assert_eq!(s.last_run("vm1").unwrap().unwrap().id, "r4");
    }

    #[test]
    fn last_known_good_moves_only_with_a_promotion_and_enrolment_is_once_per_boot() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("s.db")).unwrap();
        for i in 0..3 {
            s.create_run(&format!("r{i}"), "vm1", RunMode::Cold, "{}")
                .wait()
                .unwrap();
        }
        assert!(s.last_known_good("vm1").unwrap().is_none());
        s.finish("r0", "passed", 1.0, "p99", "{}", Some("image a 1"))
            .wait()
            .unwrap();
        s.finish("r1", "transient", 1.0, "p99", "{}", None)
            .wait()
            .unwrap();
        let l = s.last_known_good("vm1").unwrap().unwrap();
        assert_eq!(
            (l.run_id.as_str(), l.revision.as_str()),
            ("r0", "image a 1")
        );
        s.finish("r2", "passed", 1.0, "p99", "{}", Some("image a 2"))
            .wait()
            .unwrap();
        let l = s.last_known_good("vm1").unwrap().unwrap();
        assert_eq!(
            (l.run_id.as_str(), l.revision.as_str()),
            ("r2", "image a 2")
        );

        assert!(s.enrol("r1", "b1", "h1").wait().unwrap());
        assert!(!s.enrol("r1", "b1", "h2").wait().unwrap());
        assert!(s.enrol("r1", "b2", "h3").wait().unwrap());
        assert_eq!(s.token_run("h1").unwrap().unwrap().0, "r1");
        assert!(
            s.token_run("h2").unwrap().is_none(),
            "a refused enrolment leaves no token"
        );
    }
}
