//! The probe: collectors per gate domain, reading through a [`Root`] (the live
//! `/` or a fixture tree captured from a real host), and the agent that
//! reports to the coordinator.
pub mod agent;
pub mod capture;
pub mod collect;
pub mod first_boot;
pub mod identity;
pub mod network;
pub mod performance;
pub mod persistence;
pub mod platform;
pub mod procs;
pub mod root;
pub mod service;
pub mod storage;
pub mod sys;
pub mod wipe;

pub use collect::collect;
pub use root::Root;
