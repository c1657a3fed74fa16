//! Runs: creation, transitions, the end with its report and promotion,
//! the lists and the record a report is built from.
use super::*;
use e2et_model::report::Transition;
use e2et_model::{RunMode, RunState};
use rusqlite::{params, OptionalExtension};

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
    /// (sha256 hex, boot window) of each token.
    pub token_hashes: Vec<(String, u32)>,
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

impl Store {
    /// Creates a run, unless its host has one in flight or held: the check
    /// and the insert are one write, so two creations at once yield one run
    /// ([`StoreError::HostBusy`] for the other).
    pub fn create_run(&self, id: &str, host: &str, mode: RunMode, spec_json: &str) -> Pending<()> {
        let t = now();
        let (id, host, spec_json) = (id.to_string(), host.to_string(), spec_json.to_string());
        let free = states_sql(|s| s.is_terminal() && s != RunState::Holding);
        self.write(move |tx| {
            let busy: Option<(String, String)> = tx
                .prepare_cached(&format!(
                    "SELECT id, state FROM runs WHERE host = ?1 AND state NOT IN ({free}) LIMIT 1"
                ))?
                .query_row([&host], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            if let Some((run, state)) = busy {
                return Err(StoreError::HostBusy { host, run, state });
            }
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
        self.transition_guarded(id, None, to, note)
    }

    /// A transition from `from` only: if the run is in another state by the
    /// time this write runs (an operator's hold beside the engine, or the
    /// engine beside an operator), nothing is written and the answer is
    /// [`StoreError::Moved`]. The check and the write are one.
    pub fn transition_from(
        &self,
        id: &str,
        from: RunState,
        to: RunState,
        note: &str,
    ) -> Pending<Transitioned> {
        self.transition_guarded(id, Some(from), to, note)
    }

    fn transition_guarded(
        &self,
        id: &str,
        expect: Option<RunState>,
        to: RunState,
        note: &str,
    ) -> Pending<Transitioned> {
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
            if let Some(want) = expect {
                if from != want.as_str() {
                    return Err(StoreError::Moved {
                        run: id,
                        expected: want.as_str().to_string(),
                        actual: from,
                    });
                }
            }
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

    /// Every run not yet finished with its boots and token hashes: what the
    /// in-memory view of runs in flight is rebuilt from at start.
    pub fn live_runs(&self) -> Result<Vec<LiveRunRow>> {
        let mut out = Vec::new();
        for r in self.unfinished_runs()? {
            let boots = self.boots(&r.id)?;
            let tokens = {
                let c = self.c();
                let mut st = c.prepare_cached(
                    "SELECT token_hash, boot_window FROM tokens WHERE run_id = ?1",
                )?;
                let rows = st.query_map([&r.id], |row| Ok((row.get(0)?, row.get(1)?)))?;
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
        let power_steps = self.power_steps(run_id)?;
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
}
