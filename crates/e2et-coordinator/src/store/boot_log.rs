//! The boot-script request log (bounded by retention).
use super::*;
use e2et_model::RunState;
use rusqlite::{params, OptionalExtension};

impl Store {
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
