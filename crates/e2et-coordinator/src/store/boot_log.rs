//! The boot-script request rows older e2etd wrote (the log is now in
//! memory, crate::boot_log): they expire by retention.
use super::*;
use e2et_model::RunState;
use rusqlite::params;

impl Store {
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
}
