//! Shared types of e2et. Nothing here does I/O; every type that crosses a
//! process boundary (inventory JSON, facts, agent and operator API bodies,
//! reports) is defined here and nowhere else.

pub mod api;
pub mod check;
pub mod expect;
pub mod facts;
pub mod inventory;
pub mod names;
pub mod redact;
pub mod report;
pub mod run;

pub use check::{Check, Gate, Outcome, Severity};
pub use expect::{Expect, ProbeSpec};
pub use facts::{Facts, Observed};
pub use inventory::{HostSpec, Inventory, InventoryError};
pub use report::{Report, Verdict, Zone};
pub use run::{RunMode, RunState};

/// Version of the facts document a probe emits. Bumped on any change of shape.
pub const FACTS_VERSION: u32 = 3;
/// Version of the report document. Bumped on any change of shape.
pub const REPORT_VERSION: u32 = 2;
