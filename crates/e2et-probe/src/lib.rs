//! The probe: collectors per gate domain, reading through a [`Root`] (the live
//! `/` or a fixture directory), and the agent that reports to the coordinator.
pub mod agent;
pub mod collect;
pub mod root;

pub use collect::collect;
pub use root::Root;
