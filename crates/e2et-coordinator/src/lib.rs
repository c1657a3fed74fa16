//! e2etd: the coordinator. Store (SQLite), engine (run state machine), HTTP
//! APIs (agent, boot, operator) and dnsmasq configuration.
pub mod api;
pub mod boot_log;
pub mod console;
pub mod ctx;
pub mod diagnose;
pub mod dnsmasq;
pub mod engine;
pub mod events;
pub mod evidence;
pub mod images;
pub mod janitor;
pub mod lifecycle;
pub mod live;
pub mod metrics;
pub mod notify;
pub mod power;
pub mod serve;
pub mod ssh;
pub mod store;
pub mod supervisor;
