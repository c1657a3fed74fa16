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

/// (label, count) pairs.
pub type Counts = Vec<(String, u64)>;

#[derive(Debug, Clone)]
pub struct BootRow {
    pub seq: u32,
    pub boot_id: String,
    pub hello_at: String,
    pub cmdline: String,
}

/// The connection and the group-commit state. Writers append to the open
/// transaction (each in its own savepoint); the first writer of a batch leads:
/// it lets others join for a moment, then commits once (one fsync for all).
/// Every writer returns only after its batch is durable.
struct Inner {
    conn: Connection,
    open: bool,
    batch: u64,
    led: bool,
    committed: u64,
    commit_error: Option<(u64, String)>,
}

pub struct Store {
    inner: Mutex<Inner>,
    committed: std::sync::Condvar,
}

/// Read access to the connection (derefs to it).
pub struct Conn<'a>(std::sync::MutexGuard<'a, Inner>);

impl std::ops::Deref for Conn<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.0.conn
    }
}

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

/// How long a batch leader waits for others to join before committing.
const GROUP_WINDOW: std::time::Duration = std::time::Duration::from_micros(400);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs(
  id TEXT PRIMARY KEY, host TEXT NOT NULL, mode TEXT NOT NULL, state TEXT NOT NULL,
  spec_json TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  note TEXT NOT NULL DEFAULT '', verdict TEXT, score REAL, zone TEXT, report_json TEXT,
  abort_reason TEXT, engine_checks TEXT NOT NULL DEFAULT '[]');
CREATE INDEX IF NOT EXISTS runs_host ON runs(host);
CREATE TABLE IF NOT EXISTS transitions(
  run_id TEXT NOT NULL, seq INTEGER NOT NULL, from_state TEXT NOT NULL, to_state TEXT NOT NULL,
  at TEXT NOT NULL, note TEXT NOT NULL, PRIMARY KEY(run_id, seq));
CREATE TABLE IF NOT EXISTS tokens(
  token_hash TEXT PRIMARY KEY, run_id TEXT NOT NULL, issued_at TEXT NOT NULL);
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
";

fn parse_state(s: String) -> Result<RunState> {
    RunState::parse(&s).ok_or(StoreError::BadState(s))
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
        Ok(Store {
            inner: Mutex::new(Inner {
                conn,
                open: false,
                batch: 0,
                led: false,
                committed: 0,
                commit_error: None,
            }),
            committed: std::sync::Condvar::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves SQLite consistent (each write
        // is a savepoint in a transaction), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn c(&self) -> Conn<'_> {
        Conn(self.lock())
    }

    /// One atomic write, durable when this returns (group commit).
    fn write<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        blocking(|| {
            let mut g = self.lock();
            if !g.open {
                g.conn.execute_batch("BEGIN IMMEDIATE")?;
                g.open = true;
                g.batch += 1;
                g.led = false;
            }
            let mine = g.batch;
            g.conn.execute_batch("SAVEPOINT w")?;
            let r = f(&g.conn);
            match &r {
                Ok(_) => g.conn.execute_batch("RELEASE w")?,
                Err(_) => g.conn.execute_batch("ROLLBACK TO w; RELEASE w")?,
            }
            if !g.led {
                g.led = true;
                drop(g);
                std::thread::sleep(GROUP_WINDOW);
                g = self.lock();
                let res = g.conn.execute_batch("COMMIT");
                g.open = false;
                g.committed = mine;
                if let Err(e) = res {
                    // Nothing of the batch is durable: undo it and tell everyone in it.
                    let _ = g.conn.execute_batch("ROLLBACK");
                    g.commit_error = Some((mine, e.to_string()));
                }
                self.committed.notify_all();
            } else {
                while g.committed < mine {
                    g = self.committed.wait(g).unwrap_or_else(|p| p.into_inner());
                }
            }
            if let Some((b, e)) = &g.commit_error {
                if *b == mine {
                    return Err(StoreError::Commit(e.clone()));
                }
            }
            r
        })
    }

    pub fn create_run(&self, id: &str, host: &str, mode: RunMode, spec_json: &str) -> Result<()> {
        let t = now();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO runs(id, host, mode, state, spec_json, created_at, updated_at, note)
             VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?5, 'created')",
                params![id, host, mode.as_str(), spec_json, t],
            )?;
            tx.execute(
                "INSERT INTO transitions(run_id, seq, from_state, to_state, at, note)
             VALUES (?1, 0, '', 'queued', ?2, 'run created')",
                params![id, t],
            )?;
            Ok(())
        })
    }

    /// Persists a transition (durably) and returns its sequence number.
    pub fn transition(&self, id: &str, to: RunState, note: &str) -> Result<u32> {
        let t = now();
        self.write(|tx| {
        let from: String = tx
            .query_row("SELECT state FROM runs WHERE id = ?1", [id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| StoreError::NoRun(id.into()))?;
        let seq: u32 = tx.query_row(
            "SELECT COALESCE(MAX(seq), -1) + 1 FROM transitions WHERE run_id = ?1",
            [id],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO transitions(run_id, seq, from_state, to_state, at, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, seq, from, to.as_str(), t, note],
        )?;
        tx.execute(
            "UPDATE runs SET state = ?2, updated_at = ?3, note = ?4 WHERE id = ?1",
            params![id, to.as_str(), t, note],
        )?;
        Ok(seq)
        })
    }

    pub fn set_abort(&self, id: &str, reason: &str, checks_json: &str) -> Result<()> {
        self.write(|c| {
            c.execute(
                "UPDATE runs SET abort_reason = ?2, engine_checks = ?3 WHERE id = ?1",
                params![id, reason, checks_json],
            )?;
            Ok(())
        })
    }

    pub fn finish(
        &self,
        id: &str,
        verdict: &str,
        score: f64,
        zone: &str,
        report_json: &str,
    ) -> Result<()> {
        self.write(|c| {
            Ok(c.execute(
            "UPDATE runs SET verdict = ?2, score = ?3, zone = ?4, report_json = ?5 WHERE id = ?1",
            params![id, verdict, score, zone, report_json],
        )?)
        })?;
        Ok(())
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
            .query_row(
                &format!("SELECT {} FROM runs WHERE id = ?1", Self::COLS),
                [id],
                Self::row,
            )
            .optional()?;
        r.map(|(mut row, st)| {
            row.state = parse_state(st)?;
            Ok(row)
        })
        .transpose()
    }

    pub fn runs(&self) -> Result<Vec<RunRow>> {
        let c = self.c();
        let mut stmt = c.prepare(&format!(
            "SELECT {} FROM runs ORDER BY created_at DESC, id DESC",
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

    /// The host's run that is not yet finished, if any.
    /// Reads only that host's runs (index runs_host): this is on the path of
    /// every boot-script request and every run creation.
    pub fn active_run_for_host(&self, host: &str) -> Result<Option<RunRow>> {
        let c = self.c();
        let mut stmt = c.prepare(&format!(
            "SELECT {} FROM runs WHERE host = ?1 ORDER BY created_at DESC, id DESC",
            Self::COLS
        ))?;
        let rows = stmt.query_map([host], Self::row)?;
        for r in rows {
            let (mut row, st) = r?;
            row.state = parse_state(st)?;
            if !row.state.is_terminal() {
                return Ok(Some(row));
            }
        }
        Ok(None)
    }

    pub fn transitions(&self, id: &str) -> Result<Vec<Transition>> {
        let c = self.c();
        let mut stmt = c.prepare(
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
        Ok(self.c().query_row(
            "SELECT COUNT(*) FROM transitions WHERE run_id = ?1 AND to_state = ?2",
            params![id, to.as_str()],
            |r| r.get(0),
        )?)
    }

    pub fn add_token(&self, run_id: &str, token_hash: &str) -> Result<()> {
        self.write(|c| {
            Ok(c.execute(
                "INSERT INTO tokens(token_hash, run_id, issued_at) VALUES (?1, ?2, ?3)",
                params![token_hash, run_id, now()],
            )?)
        })?;
        Ok(())
    }

    /// The run a token hash belongs to.
    pub fn token_run(&self, token_hash: &str) -> Result<Option<(String, String)>> {
        Ok(self
            .c()
            .query_row(
                "SELECT run_id, token_hash FROM tokens WHERE token_hash = ?1",
                [token_hash],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    pub fn boots(&self, run_id: &str) -> Result<Vec<BootRow>> {
        let c = self.c();
        let mut stmt = c.prepare(
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
    pub fn add_boot(&self, run_id: &str, boot_id: &str, cmdline: &str) -> Result<(u32, bool)> {
        self.write(|tx| {
        let known: Option<u32> = tx
            .query_row(
                "SELECT seq FROM boots WHERE run_id = ?1 AND boot_id = ?2",
                params![run_id, boot_id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(seq) = known {
            return Ok((seq, false));
        }
        let seq: u32 = tx.query_row(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM boots WHERE run_id = ?1",
            [run_id],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO boots(run_id, seq, boot_id, hello_at, cmdline) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![run_id, seq, boot_id, now(), cmdline],
        )?;
        Ok((seq, true))
        })
    }

    /// Stores a boot's facts once; a repeat post keeps the first copy.
    pub fn add_facts(&self, run_id: &str, seq: u32, boot_id: &str, facts: &Facts) -> Result<bool> {
        let json = serde_json::to_string(facts)?;
        let n = self.write(|c| Ok(c.execute(
            "INSERT OR IGNORE INTO facts(run_id, boot_seq, boot_id, facts_json, received_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![run_id, seq, boot_id, json, now()],
        )?))?;
        Ok(n == 1)
    }

    pub fn facts(&self, run_id: &str) -> Result<Vec<(u32, String, Facts)>> {
        let c = self.c();
        let mut stmt = c.prepare(
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
    ) -> Result<()> {
        self.write(|c| Ok(c.execute(
            "INSERT INTO power_log(run_id, lifecycle_state, phase, at, pdu, outlet, action) VALUES (?1, ?2, 'intent', ?3, ?4, ?5, ?6)",
            params![run_id, state.as_str(), now(), pdu, outlet, action],
        )?))?;
        Ok(())
    }

    pub fn power_done(&self, run_id: &str, state: RunState, step: &PowerStep) -> Result<()> {
        self.write(|c| Ok(c.execute(
            "INSERT INTO power_log(run_id, lifecycle_state, phase, at, pdu, outlet, action, observed, ok, detail) VALUES (?1, ?2, 'done', ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![run_id, state.as_str(), step.at, step.pdu, step.outlet, step.action, step.observed, step.ok, step.detail],
        )?))?;
        Ok(())
    }

    /// Completed power steps of a run, with the lifecycle state they belong to.
    pub fn power_steps(&self, run_id: &str) -> Result<Vec<(String, PowerStep)>> {
        let c = self.c();
        let mut stmt = c.prepare(
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
        Ok(self.c().query_row(
            "SELECT (SELECT COUNT(*) FROM power_log WHERE run_id = ?1 AND phase = 'intent') - (SELECT COUNT(*) FROM power_log WHERE run_id = ?1 AND phase = 'done')",
            [run_id],
            |r| r.get(0),
        )?)
    }

    pub fn boot_request(&self, mac: &str, run_id: Option<&str>, decision: &str) -> Result<()> {
        self.write(|c| {
            Ok(c.execute(
                "INSERT INTO boot_requests(at, mac, run_id, decision) VALUES (?1, ?2, ?3, ?4)",
                params![now(), mac, run_id, decision],
            )?)
        })?;
        Ok(())
    }

    /// (state, count) and (verdict, count) over all runs, for /metrics.
    pub fn counts(&self) -> Result<(Counts, Counts)> {
        let c = self.c();
        let q = |sql: &str| -> Result<Vec<(String, u64)>> {
            let mut st = c.prepare(sql)?;
            let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        };
        Ok((
            q("SELECT state, COUNT(*) FROM runs GROUP BY state ORDER BY state")?,
            q("SELECT verdict, COUNT(*) FROM runs WHERE verdict IS NOT NULL GROUP BY verdict ORDER BY verdict")?,
        ))
    }

    /// Last boot-script request of a MAC: (time, decision).
    pub fn last_boot_request(&self, mac: &str) -> Result<Option<(String, String)>> {
        Ok(self
            .c()
            .query_row(
                "SELECT at, decision FROM boot_requests WHERE mac = ?1 ORDER BY id DESC LIMIT 1",
                [mac],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_are_numbered_and_survive_reopen() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.db");
        {
            let s = Store::open(&p).unwrap();
            s.create_run("r1", "vm1", RunMode::Cold, "{}").unwrap();
            assert_eq!(s.transition("r1", RunState::InventoryGate, "a").unwrap(), 1);
            assert_eq!(s.transition("r1", RunState::PowerOn, "b").unwrap(), 2);
            s.power_intent("r1", RunState::PowerOn, "p", 1, "off")
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
        assert!(s.transition("nope", RunState::PowerOn, "x").is_err());
    }

    #[test]
    fn boots_are_idempotent_per_boot_id() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("s.db")).unwrap();
        s.create_run("r1", "vm1", RunMode::Cold, "{}").unwrap();
        assert_eq!(s.add_boot("r1", "b1", "c").unwrap(), (1, true));
        assert_eq!(s.add_boot("r1", "b1", "c").unwrap(), (1, false));
        assert_eq!(s.add_boot("r1", "b2", "c").unwrap(), (2, true));
    }

    #[test]
    fn active_run_is_the_hosts_unfinished_one() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("s.db")).unwrap();
        s.create_run("r1", "vm1", RunMode::Cold, "{}").unwrap();
        s.transition("r1", RunState::Failed, "x").unwrap();
        s.create_run("r2", "vm2", RunMode::Cold, "{}").unwrap();
        assert!(s.active_run_for_host("vm1").unwrap().is_none());
        s.create_run("r3", "vm1", RunMode::Cold, "{}").unwrap();
        assert_eq!(s.active_run_for_host("vm1").unwrap().unwrap().id, "r3");
        assert_eq!(s.active_run_for_host("vm2").unwrap().unwrap().id, "r2");
        assert!(s.active_run_for_host("vm3").unwrap().is_none());
    }
}
