//! The power log: each step's intent before its command, its outcome after.
use super::*;
use e2et_model::report::{PowerAction, PowerState, PowerStep};
use e2et_model::RunState;
use rusqlite::params;

impl Store {
    pub fn power_intent(
        &self,
        run_id: &str,
        state: RunState,
        pdu: &str,
        outlet: u32,
        action: PowerAction,
    ) -> Pending<()> {
        let (run_id, pdu, action, t) =
            (run_id.to_string(), pdu.to_string(), action.as_str(), now());
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
                step.action.as_str(),
                step.observed.map(|o| o.as_str()),
                step.ok,
                step.detail
            ])?;
            Ok(())
        })
    }

    /// Completed power steps of a run, with the lifecycle state they belong to.
    pub fn power_steps(&self, run_id: &str) -> Result<Vec<(RunState, PowerStep)>> {
        let c = self.c();
        let mut stmt = c.prepare_cached(
            "SELECT lifecycle_state, at, pdu, outlet, action, observed, ok, detail FROM power_log WHERE run_id = ?1 AND phase = 'done' ORDER BY id",
        )?;
        let rows = stmt
            .query_map([run_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    PowerStep {
                        at: r.get(1)?,
                        pdu: r.get(2)?,
                        outlet: r.get(3)?,
                        action: PowerAction::Status,
                        observed: None,
                        ok: r.get::<_, Option<bool>>(6)?.unwrap_or(false),
                        detail: r.get(7)?,
                    },
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(state, action, observed, mut step)| {
                step.action = PowerAction::from_name(&action)
                    .ok_or_else(|| StoreError::BadState(format!("power action {action}")))?;
                step.observed = match observed {
                    None => None,
                    Some(o) => Some(PowerState::from_name(&o).ok_or_else(|| {
                        StoreError::BadState(format!("outlet state read back {o}"))
                    })?),
                };
                Ok((parse_state(state)?, step))
            })
            .collect()
    }

    /// Power intents without a matching completion: an action that may or may
    /// not have happened (the coordinator died in between).
    pub fn unfinished_power(&self, run_id: &str) -> Result<u32> {
        Ok(self.c().prepare_cached("SELECT (SELECT COUNT(*) FROM power_log WHERE run_id = ?1 AND phase = 'intent') - (SELECT COUNT(*) FROM power_log WHERE run_id = ?1 AND phase = 'done')")?.query_row(
            [run_id],
            |r| r.get(0),
        )?)
    }
}
