//! Facts a probe collects on a host, grouped by gate domain.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Facts {
    pub version: u32,
    pub probe_version: String,
    /// The root the probe read (`/` on a live host, a fixture directory in tests).
    pub root: String,
    pub first_boot: FirstBootFacts,
    pub platform: PlatformFacts,
    pub network: NetworkFacts,
    /// Content digests of the paths the spec declares persistent, by path.
    pub persistence: BTreeMap<String, PathDigest>,
    /// Collector problems: domain → message. A collector that failed says so here
    /// instead of leaving an empty domain that could look like a pass.
    #[serde(default)]
    pub errors: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct FirstBootFacts {
    pub boot_id: String,
    pub cmdline: String,
    pub hostname: String,
    pub uptime_s: f64,
    /// `systemd`, `openrc`, `busybox` or `unknown`, from what PID 1 is.
    pub init: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct PlatformFacts {
    pub cpu_model: String,
    pub cpu_count: u32,
    pub mem_total_kib: u64,
    pub kernel_release: String,
    pub block_devices: Vec<BlockDevice>,
    pub modules: Vec<String>,
    /// `/sys/devices/system/cpu/vulnerabilities/<name>` → its text.
    pub vulnerabilities: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct BlockDevice {
    pub name: String,
    pub size_bytes: u64,
    pub rotational: Option<bool>,
    pub model: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct NetworkFacts {
    pub interfaces: Vec<Interface>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct Interface {
    pub name: String,
    pub mac: String,
    pub operstate: String,
    /// `/sys/class/net/<if>/carrier`: the physical link, which the kernel
    /// reports before operstate catches up (linkwatch runs up to a second late).
    #[serde(default)]
    pub carrier: Option<bool>,
    pub mtu: Option<u32>,
    /// IPv4 addresses with prefix length, `10.0.0.5/24`. `None` when the probe
    /// could not read addresses (fixture roots carry none).
    pub ipv4: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PathDigest {
    pub exists: bool,
    /// sha256 of a file's bytes, or of a directory's sorted (relative path, kind,
    /// content digest) listing.
    pub sha256: Option<String>,
    pub bytes: u64,
    pub error: Option<String>,
}
