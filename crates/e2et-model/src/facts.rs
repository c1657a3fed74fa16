//! Facts a probe collects on a host, grouped by gate domain.
//!
//! A fact the probe could not establish is never an empty value that could
//! read as a pass: it is an [`Observed`] that says "not applicable here, and
//! why" or "could not be read, and why".
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod identity;

/// One observation: a value, not applicable on this host (with the reason),
/// or an error (with the message).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
#[schemars(rename = "Observed_{T}")]
pub enum Observed<T> {
    Ok {
        value: T,
    },
    /// The thing does not exist on this kind of host (no ZFS module, no
    /// service manager, not NixOS). The spec decides whether that fails.
    NotApplicable {
        reason: String,
    },
    /// The probe tried and could not tell.
    Error {
        message: String,
    },
}

impl<T> Default for Observed<T> {
    fn default() -> Self {
        Observed::Error {
            message: "not collected".into(),
        }
    }
}

impl<T> Observed<T> {
    pub fn ok(value: T) -> Self {
        Observed::Ok { value }
    }
    pub fn na(reason: impl Into<String>) -> Self {
        Observed::NotApplicable {
            reason: reason.into(),
        }
    }
    pub fn err(message: impl Into<String>) -> Self {
        Observed::Error {
            message: message.into(),
        }
    }
    pub fn value(&self) -> Option<&T> {
        match self {
            Observed::Ok { value } => Some(value),
            _ => None,
        }
    }
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Observed<U> {
        match self {
            Observed::Ok { value } => Observed::Ok { value: f(value) },
            Observed::NotApplicable { reason } => Observed::NotApplicable { reason },
            Observed::Error { message } => Observed::Error { message },
        }
    }
    /// The bare reason or message when there is no value.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Observed::Ok { .. } => None,
            Observed::NotApplicable { reason } => Some(reason),
            Observed::Error { message } => Some(message),
        }
    }
    /// Why there is no value (`None` when there is one).
    pub fn why_not(&self) -> Option<String> {
        match self {
            Observed::Ok { .. } => None,
            Observed::NotApplicable { reason } => Some(format!("not applicable: {reason}")),
            Observed::Error { message } => Some(format!("error: {message}")),
        }
    }
}

impl<T, E: std::fmt::Display> From<Result<T, E>> for Observed<T> {
    fn from(r: Result<T, E>) -> Self {
        match r {
            Ok(v) => Observed::ok(v),
            Err(e) => Observed::err(e.to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct Facts {
    pub version: u32,
    pub probe_version: String,
    /// The root the probe read (`/` on a live host, a fixture directory in tests).
    pub root: String,
    pub first_boot: FirstBootFacts,
    pub platform: PlatformFacts,
    pub network: NetworkFacts,
    pub storage: StorageFacts,
    pub identity: IdentityFacts,
    pub service: ServiceFacts,
    /// Measured only when the spec asks for it (it takes seconds).
    pub performance: Observed<PerformanceFacts>,
    /// Content digests of the paths the spec declares persistent, by path.
    pub persistence: BTreeMap<String, PathDigest>,
    /// Collector problems: domain → message. A collector that failed says so here
    /// instead of leaving an empty domain that could look like a pass.
    #[serde(default)]
    pub errors: BTreeMap<String, String>,
    /// Milliseconds each domain's collection took (run-varying).
    #[serde(default)]
    pub timings_ms: BTreeMap<String, f64>,
}

/// The largest magnitude a number in facts may have: 2^53, beyond which a
/// float is no longer exact and a time or size computation overflows.
pub const MAX_FACT_MAGNITUDE: f64 = 9_007_199_254_740_992.0;

/// The longest uptime that can be placed in time (100 years, in seconds).
pub const MAX_UPTIME_S: f64 = 100.0 * 365.25 * 86_400.0;

impl Facts {
    /// Values that would overflow a time or number computation, each as
    /// `<path> = <value> (<why>)`: empty when the facts can be scored.
    pub fn out_of_range(&self) -> Vec<String> {
        let mut bad = Vec::new();
        let u = self.first_boot.uptime_s;
        if !(0.0..=MAX_UPTIME_S).contains(&u) {
            bad.push(format!(
                "first_boot.uptime_s = {u} (must be 0 to {MAX_UPTIME_S} seconds)"
            ));
        }
        if let Ok(v) = serde_json::to_value(self) {
            walk(&v, &mut String::new(), &mut bad);
        }
        bad
    }
}

fn walk(v: &serde_json::Value, path: &mut String, bad: &mut Vec<String>) {
    let len = path.len();
    match v {
        serde_json::Value::Number(n) if n.as_f64().is_none_or(|x| x.abs() > MAX_FACT_MAGNITUDE) => {
            bad.push(format!("{path} = {n} (beyond ±2^53)"));
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                path.push_str(&format!("[{i}]"));
                walk(x, path, bad);
                path.truncate(len);
            }
        }
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                walk(x, path, bad);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

// ------------------------------------------------------------------ first boot

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct FirstBootFacts {
    pub boot_id: String,
    pub cmdline: String,
    pub hostname: String,
    /// The canonical name the host's resolver gives its hostname (`hostname -f`).
    pub fqdn: Observed<String>,
    pub uptime_s: f64,
    /// `systemd`, `openrc`, `sysvinit`, `busybox`, or `unknown (<comm of PID 1>)`.
    pub init: String,
    /// `/etc/os-release`: ID, VERSION_ID, PRETTY_NAME, IMAGE_ID, IMAGE_VERSION, BUILD_ID.
    pub os: Observed<OsRelease>,
    /// `/proc/consoles`.
    pub consoles: Vec<Console>,
    pub ssh: SshFacts,
    pub time: TimeFacts,
    pub logging: LoggingFacts,
    pub package_profile: Observed<PackageProfile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct OsRelease {
    pub id: String,
    pub version_id: Option<String>,
    pub pretty_name: Option<String>,
    /// `IMAGE_ID` and `IMAGE_VERSION` of an image-based system (a netboot
    /// image, an appliance): which build this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_version: Option<String>,
    /// `BUILD_ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct Console {
    /// `ttyS0`, `tty0`, `hvc0`.
    pub name: String,
    /// The flags column of /proc/consoles (`-W- (EC p a)`).
    pub flags: String,
    pub enabled: bool,
    /// The preferred console (`C`): where /dev/console goes.
    pub preferred: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct SshFacts {
    /// The port sshd is configured for (`Port` in sshd_config, 22 by default).
    pub port: u16,
    /// TCP sockets listening on that port, `address:port`.
    pub listeners: Observed<Vec<Listener>>,
    /// Host keys found (OpenSSH in /etc/ssh, dropbear in /etc/dropbear).
    pub host_keys: Vec<HostKey>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct Listener {
    pub address: String,
    pub port: u16,
    /// The process holding the socket, when the probe could see it.
    pub process: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct HostKey {
    pub path: String,
    /// `rsa`, `ecdsa`, `ed25519`.
    pub kind: String,
    /// Octal permission bits of the private key.
    pub mode: String,
    pub bytes: u64,
    /// The public key as `<algorithm> <base64>`, from `<path>.pub` beside
    /// the private key (OpenSSH writes it; for dropbear, `dropbearkey -y`
    /// prints it). What the coordinator's own SSH key exchange must be
    /// offered. The private key is never read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct TimeFacts {
    /// The kernel's view (adjtimex with no modes).
    pub kernel: Observed<KernelClock>,
    /// Time daemons found running.
    pub daemons: Vec<TimeDaemon>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct KernelClock {
    /// Not STA_UNSYNC and adjtimex did not return TIME_ERROR.
    pub synchronised: bool,
    /// adjtimex return value (0 TIME_OK .. 5 TIME_ERROR).
    pub state: i32,
    /// The status bits.
    pub status: i64,
    pub max_error_us: i64,
    pub est_error_us: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct TimeDaemon {
    /// `chronyd`, `systemd-timesyncd`, `ntpd`, `openntpd`.
    pub name: String,
    /// What the daemon says of its own synchronisation.
    pub synchronised: Observed<bool>,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct LoggingFacts {
    /// systemd-journald running with its socket.
    pub journald: bool,
    /// Syslog daemons running (rsyslogd, syslog-ng, syslogd, metalog).
    pub syslog: Vec<String>,
    /// /dev/log is a socket.
    pub dev_log: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct PackageProfile {
    /// `nixos`, `dpkg` or `gentoo`.
    pub kind: String,
    /// NixOS: /run/booted-system's store path.
    pub booted_system: Option<String>,
    /// NixOS: /run/current-system's store path.
    pub current_system: Option<String>,
    /// NixOS: `nixos-version --configuration-revision` (the flake's git revision).
    pub configuration_revision: Option<String>,
    /// Number of installed packages (dpkg, gentoo) or of store paths in the
    /// system's closure when known.
    pub packages: u64,
    /// sha256 of the sorted `name version` list: two hosts with the same set
    /// have the same hash (dpkg, gentoo); the system store path on NixOS.
    pub set_sha256: Option<String>,
}

// -------------------------------------------------------------------- platform

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct PlatformFacts {
    pub cpu_model: String,
    pub cpu_vendor: String,
    /// Logical CPUs.
    pub cpu_count: u32,
    pub sockets: u32,
    /// Physical cores over all sockets.
    pub cores: u32,
    pub threads_per_core: u32,
    pub cpu_flags: Vec<String>,
    /// Microcode revision as /proc/cpuinfo prints it (`0xb000038`).
    pub microcode: Option<String>,
    pub mem_total_kib: u64,
    pub kernel_release: String,
    pub block_devices: Vec<BlockDevice>,
    /// NVDIMM / Optane persistent memory regions and namespaces (/sys/bus/nd).
    pub nvdimm: Observed<Vec<NvdimmDevice>>,
    pub dmi: Observed<Dmi>,
    pub firmware: Firmware,
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
    pub serial: Option<String>,
    /// `nvme`, `sata`, `sas`, `usb`, `virtio`, `scsi`, `mmc`, `md`, `dm`, or `unknown`.
    pub transport: String,
    pub removable: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct NvdimmDevice {
    /// `region0`, `namespace0.0`, `nmem0`.
    pub name: String,
    pub size_bytes: Option<u64>,
    /// Namespace mode (`fsdax`, `devdax`, `raw`, `sector`) when a namespace.
    pub mode: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct Dmi {
    pub sys_vendor: Option<String>,
    pub product_name: Option<String>,
    pub product_serial: Option<String>,
    pub board_vendor: Option<String>,
    pub board_name: Option<String>,
    pub bios_vendor: Option<String>,
    pub bios_version: Option<String>,
    pub bios_date: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct Firmware {
    /// `uefi` or `bios`.
    pub boot_mode: String,
    /// From the SecureBoot EFI variable, when UEFI.
    pub secure_boot: Option<bool>,
}

// --------------------------------------------------------------------- network

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct NetworkFacts {
    pub interfaces: Vec<Interface>,
    pub routes: Vec<Route>,
    pub resolver: Resolver,
    /// Forward and reverse lookups of the host's primary identity, through
    /// the host's own resolver (nsswitch, resolv.conf).
    pub dns: Vec<DnsLookup>,
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
    /// Link speed in Mb/s (`None` when the driver does not say, or link down).
    pub speed_mbps: Option<u32>,
    /// `physical`, `vlan`, `bridge`, `bond`, `virtual`.
    pub kind: String,
    /// For a VLAN interface: its id and parent.
    pub vlan: Option<Vlan>,
    /// IPv4 addresses with prefix length, `10.0.0.5/24`. `None` when the probe
    /// could not read addresses.
    pub ipv4: Option<Vec<String>>,
    pub ipv6: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct Vlan {
    pub id: u16,
    pub parent: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct Route {
    /// `0.0.0.0/0`, `10.0.0.0/24`, `::/0`.
    pub destination: String,
    pub gateway: Option<String>,
    pub interface: String,
    pub metric: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct Resolver {
    pub nameservers: Vec<String>,
    pub search: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct DnsLookup {
    /// `forward` (name → addresses) or `reverse` (address → names).
    pub kind: String,
    pub query: String,
    pub answers: Observed<Vec<String>>,
    pub elapsed_ms: f64,
}

// --------------------------------------------------------------------- storage

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct StorageFacts {
    pub mounts: Vec<Mount>,
    pub root: Observed<RootFs>,
    pub zfs: Observed<Vec<ZPool>>,
    pub iscsi: Observed<Vec<IscsiSession>>,
    pub ceph: Observed<CephStatus>,
    /// Data signatures on each disk and partition (the wipe probe).
    pub signatures: Vec<DeviceSignatures>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct Mount {
    pub source: String,
    pub target: String,
    pub fstype: String,
    pub options: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct RootFs {
    pub source: String,
    pub fstype: String,
    pub read_only: bool,
    /// `ok`, or what is wrong (ext4 error count, pool state).
    pub health: String,
    pub healthy: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct ZPool {
    pub name: String,
    /// `ONLINE`, `DEGRADED`, `FAULTED`, ...
    pub health: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct IscsiSession {
    pub session: String,
    pub target: String,
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct CephStatus {
    /// `HEALTH_OK`, `HEALTH_WARN`, `HEALTH_ERR`.
    pub health: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct DeviceSignatures {
    /// `vda`, `vda1`.
    pub device: String,
    pub signatures: Observed<Vec<Signature>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct Signature {
    /// `gpt`, `mbr`, `ext4`, `xfs`, `btrfs`, `swap`, `LVM2_member`,
    /// `zfs_member`, `ceph_bluestore`, `crypto_LUKS`, `linux_raid_member`, `vfat`, `iso9660`.
    pub kind: String,
    /// Byte offset of the magic.
    pub offset: u64,
    pub detail: String,
}

pub use identity::*;

// --------------------------------------------------------------------- service

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct ServiceFacts {
    /// `systemd`, `openrc`, or `none`.
    pub manager: String,
    /// Failed units (systemd) or failed/crashed services (OpenRC).
    pub failed: Observed<Vec<FailedService>>,
    /// The services the spec requires, each as its manager sees it.
    pub required: Vec<ServiceStatus>,
    pub smoke: Vec<SmokeResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct FailedService {
    pub name: String,
    /// `failed` (systemd, OpenRC) or `crashed` (OpenRC: started, daemon gone).
    pub state: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct ServiceStatus {
    /// The name as the spec gives it (`sshd|ssh` means either).
    pub name: String,
    /// The unit or service that matched, if any.
    pub matched: Option<String>,
    pub running: bool,
    /// `active (running)`, `started`, `failed`, `not found`, ...
    pub state: String,
    /// `systemd`, `openrc` or `process` (PID scan when there is no manager).
    pub via: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct SmokeResult {
    pub name: String,
    /// `command`, `tcp` or `http`.
    pub kind: String,
    pub ok: bool,
    pub timed_out: bool,
    pub detail: String,
    pub elapsed_ms: f64,
}

// ----------------------------------------------------------------- performance

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct PerformanceFacts {
    /// SHA-256 throughput of one thread, MiB/s.
    pub cpu_single_mibs: Observed<f64>,
    /// SHA-256 throughput of one thread per logical CPU, MiB/s summed.
    pub cpu_all_mibs: Observed<f64>,
    /// Memory copy bandwidth, MiB/s.
    pub memory_mibs: Observed<f64>,
    pub disk: Observed<DiskPerf>,
    pub tcp: Observed<TcpPerf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct DiskPerf {
    pub dir: String,
    /// The file was opened with O_DIRECT (page cache bypassed).
    pub direct: bool,
    pub bytes: u64,
    pub write_mibs: f64,
    pub read_mibs: f64,
    pub fsync_p50_ms: f64,
    pub fsync_p99_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct TcpPerf {
    pub target: String,
    pub bytes: u64,
    pub seconds: f64,
    pub mbits: f64,
}

// ----------------------------------------------------------------- persistence

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PathDigest {
    pub exists: bool,
    /// sha256 of a file's bytes, or of a directory's sorted (relative path, kind,
    /// content digest) listing.
    pub sha256: Option<String>,
    pub bytes: u64,
    pub error: Option<String>,
}

#[cfg(test)]
mod tests;
