//! The lifecycle core: every decision about a run, as pure functions over
//! plain values (no tokio, no store, no HTTP). The engine and the HTTP
//! handlers read what they need, ask the core, then act and persist.
//!
//! - [`machine`]: the state table, (mode, state, event) → next state, and
//!   what the engine does in each state;
//! - [`power`]: which power steps a state still has to take, given what the
//!   store shows was already read back (a resumed run repeats nothing);
//! - [`boot`]: what `/boot/<mac>.ipxe` answers a MAC, and the iPXE text;
//! - [`heartbeat`]: which command an agent's heartbeat gets;
//! - [`operator`]: whether an operator's hold or release is allowed;
//! - [`claims`]: who may act for a run's host (boot windows, the boot a
//!   window's token is bound to, the host's address), and the conflicts.
pub mod boot;
pub mod claims;
pub mod heartbeat;
pub mod machine;
pub mod operator;
pub mod power;
