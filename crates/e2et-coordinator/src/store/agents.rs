//! What agents bring: tokens, enrolments, boots and facts.
use super::*;
use e2et_model::facts::Facts;
use rusqlite::{params, OptionalExtension};

#[derive(Debug, Clone)]
pub struct BootRow {
    pub seq: u32,
    pub boot_id: String,
    pub hello_at: String,
    pub cmdline: String,
}

/// What asking for a boot window's token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issued {
    New,
    /// The window's token went to `source` at `at`.
    Taken {
        source: String,
        at: String,
    },
}

/// What an enrolment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enrolled {
    New,
    /// This boot had enrolled already (its token stands).
    Again,
    /// Another boot (this one) had enrolled in the run.
    Other(String),
}

impl Store {
    /// Hands the installed system's boot its token (hash stored), once per
    /// run: a quick run has one boot, so one enrolment. The token is boot
    /// window 1's, issued to `source`.
    pub fn enrol(
        &self,
        run_id: &str,
        boot_id: &str,
        token_hash: &str,
        source: &str,
    ) -> Pending<Enrolled> {
        let (run_id, boot_id, token_hash, source, t) = (
            run_id.to_string(),
            boot_id.to_string(),
            token_hash.to_string(),
            source.to_string(),
            now(),
        );
        self.write(move |c| {
            let first: Option<String> = c
                .prepare_cached("SELECT boot_id FROM enrolments WHERE run_id = ?1 LIMIT 1")?
                .query_row([&run_id], |r| r.get(0))
                .optional()?;
            match first {
                Some(b) if b == boot_id => return Ok(Enrolled::Again),
                Some(b) => return Ok(Enrolled::Other(b)),
                None => {}
            }
            c.prepare_cached("INSERT INTO enrolments(run_id, boot_id, at) VALUES (?1, ?2, ?3)")?
                .execute(params![run_id, boot_id, t])?;
            c.prepare_cached(
                "INSERT INTO tokens(token_hash, run_id, issued_at, boot_window, source) VALUES (?1, ?2, ?3, 1, ?4)",
            )?
            .execute(params![token_hash, run_id, t, source])?;
            Ok(Enrolled::New)
        })
    }

    /// Boot sequences whose facts are stored.
    pub fn facts_seqs(&self, run_id: &str) -> Result<Vec<u32>> {
        let c = self.c();
        let mut st =
            c.prepare_cached("SELECT boot_seq FROM facts WHERE run_id = ?1 ORDER BY boot_seq")?;
        let rows = st.query_map([run_id], |r| r.get::<_, u32>(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Issues the token of a run's boot `window` to `source`, unless the
    /// window already has one: one token per window, enforced by the store
    /// (a unique index), so two requests at once cannot both get one.
    pub fn issue_token(
        &self,
        run_id: &str,
        window: u32,
        token_hash: &str,
        source: &str,
    ) -> Pending<Issued> {
        let (run_id, token_hash, source, t) = (
            run_id.to_string(),
            token_hash.to_string(),
            source.to_string(),
            now(),
        );
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "INSERT OR IGNORE INTO tokens(token_hash, run_id, issued_at, boot_window, source) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![token_hash, run_id, t, window, source])?;
            if n == 1 {
                return Ok(Issued::New);
            }
            let (source, at) = c
                .prepare_cached(
                    "SELECT source, issued_at FROM tokens WHERE run_id = ?1 AND boot_window = ?2",
                )?
                .query_row(params![run_id, window], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?
                .unwrap_or_else(|| ("an earlier request".into(), "an unknown time".into()));
            Ok(Issued::Taken { source, at })
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

    /// The boot that enrolled in a quick run, if one did.
    pub fn enrolled_boot(&self, run_id: &str) -> Result<Option<String>> {
        Ok(self
            .c()
            .prepare_cached("SELECT boot_id FROM enrolments WHERE run_id = ?1 LIMIT 1")?
            .query_row([run_id], |r| r.get(0))
            .optional()?)
    }

    /// The run a token hash belongs to, and its boot window (0: a token from
    /// before windows).
    pub fn token_run(&self, token_hash: &str) -> Result<Option<(String, u32)>> {
        Ok(self
            .c()
            .prepare_cached("SELECT run_id, boot_window FROM tokens WHERE token_hash = ?1")?
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
}
