//! Scoring: pure functions from facts and spec to checks, scores, zones and a
//! verdict, and the renderers of the conformance report. No I/O here.
pub mod policy;
pub mod render;
pub mod rules;

pub use policy::{assemble_report, score_validation, Policy, RunFacts};
pub use rules::{boot_checks, run_checks, BootContext, RunObservations};
