//! What a scenario is given and what it ends with; shared by the lifecycle
//! scenarios (scenario.rs) and the ones on a real host (devhost.rs).
use crate::netboot::Artifacts;
use std::path::{Path, PathBuf};

/// A scenario's result: the verdict it ended with and how long it took.
pub struct Outcome {
    pub verdict: String,
    pub seconds: f64,
}

/// What every scenario runs with: the binaries, the embedded inventory, the
/// boot artifacts and the directory its logs and reports go to.
pub struct Env<'a> {
    pub bin: &'a Path,
    pub inventory_json: &'a str,
    pub artifacts: &'a Artifacts,
    pub out: PathBuf,
}
