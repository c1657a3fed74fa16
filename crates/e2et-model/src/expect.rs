//! The spec side of every check: what a host is expected to show, per gate.
//! A profile (`profiles.<name>` in hosts/inventory.nix) bundles these; a host
//! names its profile and overrides only what differs (see
//! [`crate::inventory::Inventory::from_json`] for the merge).
use serde::{Deserialize, Serialize};

mod problems;

fn yes() -> bool {
    true
}
fn port22() -> u16 {
    22
}

/// A netboot image's name (`Expect::image`, e2etd's `--image <name>=<dir>`):
/// 1 to 64 of `a-z0-9-_`, starting with a letter or digit, so it is safe in
/// a URL path and an iPXE script as it is.
pub fn is_image_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expect {
    /// The netboot image this host boots (a role's image, e.g.
    /// `aaa-domain-client`), by the name e2etd serves it under (`--image
    /// <name>=<dir>`); the image's os-release `IMAGE_ID` must say the same.
    /// Absent: e2etd's default image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Exact number of logical CPUs.
    #[serde(default)]
    pub cpus: Option<u32>,
    /// Minimum memory the kernel must report, in MiB.
    #[serde(default)]
    pub min_ram_mib: Option<u64>,
    /// Paths whose content must survive a power cycle unchanged.
    #[serde(default)]
    pub persistent_paths: Vec<String>,
    /// CPU vulnerabilities reported "Vulnerable" are a hard fail when true.
    #[serde(default)]
    pub vulnerabilities_hard: bool,
    #[serde(default)]
    pub first_boot: FirstBootExpect,
    #[serde(default)]
    pub platform: PlatformExpect,
    #[serde(default)]
    pub network: NetworkExpect,
    #[serde(default)]
    pub storage: StorageExpect,
    #[serde(default)]
    pub identity: IdentityExpect,
    #[serde(default)]
    pub service: ServiceExpect,
    /// Baselines; without them no performance is measured.
    #[serde(default)]
    pub performance: Option<PerformanceExpect>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FirstBootExpect {
    /// sshd listening on the management address with host keys (a hard
    /// check: no SSH on the management path fails the host).
    #[serde(default = "yes")]
    pub ssh: bool,
    #[serde(default = "port22")]
    pub ssh_port: u16,
    /// The serial console device that must be active (`ttyS0`). Without it,
    /// taken from the host's `console = "serial:<dev>@..."`.
    #[serde(default)]
    pub serial_console: Option<String>,
    /// The clock synchronised (kernel status and a time daemon).
    #[serde(default = "yes")]
    pub time_sync: bool,
    /// The kernel's clock status must say synchronised too. chronyd clears
    /// STA_UNSYNC only with `rtcsync`; NixOS' chrony defaults to rtcautotrim
    /// instead, and then timedatectl and time-wait-sync say "not
    /// synchronised". A profile that accepts that sets this false.
    #[serde(default = "yes")]
    pub kernel_clock_sync: bool,
    /// journald or a syslog daemon running.
    #[serde(default = "yes")]
    pub logging: bool,
    /// Arguments that must be on the kernel command line.
    #[serde(default)]
    pub cmdline: Vec<String>,
    /// `systemd`, `openrc`, `sysvinit` or `busybox`.
    #[serde(default)]
    pub init: Option<String>,
    /// os-release ID: `nixos`, `debian`, `gentoo`.
    #[serde(default)]
    pub os: Option<String>,
    /// NixOS: the system store path the host must run (drift otherwise).
    #[serde(default)]
    pub system: Option<String>,
    /// NixOS: the configuration revision (flake git revision) expected.
    #[serde(default)]
    pub configuration_revision: Option<String>,
    /// Debian/Gentoo: the package set hash expected.
    #[serde(default)]
    pub package_set_sha256: Option<String>,
}

impl Default for FirstBootExpect {
    fn default() -> Self {
        FirstBootExpect {
            ssh: true,
            ssh_port: 22,
            serial_console: None,
            time_sync: true,
            kernel_clock_sync: true,
            logging: true,
            cmdline: vec![],
            init: None,
            os: None,
            system: None,
            configuration_revision: None,
            package_set_sha256: None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlatformExpect {
    /// A substring of the CPU model name.
    #[serde(default)]
    pub cpu_model: Option<String>,
    #[serde(default)]
    pub sockets: Option<u32>,
    /// Physical cores over all sockets.
    #[serde(default)]
    pub cores: Option<u32>,
    /// CPU flags that must be present (`avx2`, `aes`, `vmx`).
    #[serde(default)]
    pub cpu_flags: Vec<String>,
    /// Disks that must be present.
    #[serde(default)]
    pub disks: Vec<DiskExpect>,
    /// Number of NVDIMM regions expected.
    #[serde(default)]
    pub nvdimm_regions: Option<u32>,
    #[serde(default)]
    pub dmi: DmiExpect,
    /// `uefi` or `bios`.
    #[serde(default)]
    pub boot_mode: Option<String>,
    #[serde(default)]
    pub secure_boot: Option<bool>,
    /// Kernel modules that must be loaded.
    #[serde(default)]
    pub modules: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DiskExpect {
    /// How many disks must match.
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub min_size_gib: Option<u64>,
    /// `nvme`, `sata`, `sas`, `virtio`, `usb`, `scsi`.
    #[serde(default)]
    pub transport: Option<String>,
    #[serde(default)]
    pub rotational: Option<bool>,
    /// A substring of the model.
    #[serde(default)]
    pub model: Option<String>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DmiExpect {
    #[serde(default)]
    pub vendor: Option<String>,
    #[serde(default)]
    pub product: Option<String>,
    #[serde(default)]
    pub bios_version: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkExpect {
    /// Forward (FQDN → IP) and reverse (IP → FQDN) DNS through the host's own
    /// resolver must agree with the inventory (a hard check).
    #[serde(default = "yes")]
    pub dns: bool,
    /// Minimum link speed of the management NIC, Mb/s.
    #[serde(default)]
    pub min_speed_mbps: Option<u32>,
    #[serde(default)]
    pub mtu: Option<u32>,
    /// VLAN ids that must exist as interfaces.
    #[serde(default)]
    pub vlans: Vec<u16>,
    /// The default gateway expected; without it, any default route passes.
    #[serde(default)]
    pub gateway: Option<String>,
    /// A default route must exist.
    #[serde(default = "yes")]
    pub default_route: bool,
}

impl Default for NetworkExpect {
    fn default() -> Self {
        NetworkExpect {
            dns: true,
            min_speed_mbps: None,
            mtu: None,
            vlans: vec![],
            gateway: None,
            default_route: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StorageExpect {
    /// The root filesystem type (`ext4`, `zfs`, `btrfs`, `tmpfs` for netboot).
    #[serde(default)]
    pub root_fstype: Option<String>,
    /// The root filesystem must be mounted read-write.
    #[serde(default = "yes")]
    pub root_writable: bool,
    /// Mount points that must be mounted.
    #[serde(default)]
    pub mounts: Vec<String>,
    /// NFS mount points that must be mounted.
    #[serde(default)]
    pub nfs: Vec<String>,
    /// iSCSI target IQNs with a logged-in session.
    #[serde(default)]
    pub iscsi_targets: Vec<String>,
    /// ZFS pools that must be ONLINE.
    #[serde(default)]
    pub zfs_pools: Vec<String>,
    /// The host is a Ceph client or node: `ceph status` must be HEALTH_OK.
    #[serde(default)]
    pub ceph: bool,
    /// Disks that must carry no data signature (targets of a destructive install).
    #[serde(default)]
    pub blank_disks: Vec<String>,
}

impl Default for StorageExpect {
    fn default() -> Self {
        StorageExpect {
            root_fstype: None,
            root_writable: true,
            mounts: vec![],
            nfs: vec![],
            iscsi_targets: vec![],
            zfs_pools: vec![],
            ceph: false,
            blank_disks: vec![],
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdentityExpect {
    /// The host is an SSSD client (AAA required): sssd must run, its
    /// configuration be private, its domains online. Missing SSSD is a hard fail.
    #[serde(default)]
    pub sssd: bool,
    /// SSSD domains that must be online (default: every configured domain).
    #[serde(default)]
    pub domains: Vec<String>,
    /// Directory users that must resolve through NSS.
    #[serde(default)]
    pub users: Vec<String>,
    /// Offline credential caching enabled in every domain.
    #[serde(default)]
    pub offline_cache: bool,
    /// /etc/krb5.keytab with the host principal.
    #[serde(default)]
    pub keytab: bool,
    /// Enrolled in FreeIPA (/etc/ipa/default.conf naming this host).
    #[serde(default)]
    pub ipa: bool,
    /// sudo rules from SSSD (nsswitch `sudoers: ... sss`, sssd services sudo).
    #[serde(default)]
    pub sudo_sss: bool,
    /// SSH keys from SSSD (sshd AuthorizedKeysCommand sss_ssh_authorizedkeys).
    #[serde(default)]
    pub ssh_keys_sss: bool,
    /// A local account that must work when the directory does not.
    #[serde(default)]
    pub break_glass: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceExpect {
    /// Services that must be running; `a|b` accepts either name (`sshd|ssh`).
    /// A required service that is not running is a hard fail.
    #[serde(default)]
    pub required: Vec<String>,
    /// No failed units (systemd) or failed/crashed services (OpenRC).
    #[serde(default = "yes")]
    pub no_failed: bool,
    /// Role smoke checks.
    #[serde(default)]
    pub smoke: Vec<SmokeCheck>,
}

impl Default for ServiceExpect {
    fn default() -> Self {
        ServiceExpect {
            required: vec![],
            no_failed: true,
            smoke: vec![],
        }
    }
}

/// One role smoke check: exactly one of `command`, `tcp`, `http`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SmokeCheck {
    pub name: String,
    /// argv of a command that must exit 0.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// `host:port` that must accept a TCP connection.
    #[serde(default)]
    pub tcp: Option<String>,
    #[serde(default)]
    pub http: Option<HttpSmoke>,
    #[serde(default = "five")]
    pub timeout_s: u64,
    /// A failure fails the host.
    #[serde(default)]
    pub hard: bool,
}

fn five() -> u64 {
    5
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpSmoke {
    pub url: String,
    #[serde(default = "ok200")]
    pub status: u16,
    /// A substring the body must contain.
    #[serde(default)]
    pub body_contains: Option<String>,
}

fn ok200() -> u16 {
    200
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PerformanceExpect {
    /// How far below a baseline (above, for latencies) a figure may be, in percent.
    #[serde(default = "twenty")]
    pub tolerance_pct: f64,
    #[serde(default)]
    pub cpu_single_mibs: Option<f64>,
    #[serde(default)]
    pub cpu_all_mibs: Option<f64>,
    #[serde(default)]
    pub memory_mibs: Option<f64>,
    #[serde(default)]
    pub disk_write_mibs: Option<f64>,
    #[serde(default)]
    pub disk_read_mibs: Option<f64>,
    #[serde(default)]
    pub fsync_p99_ms: Option<f64>,
    #[serde(default)]
    pub tcp_mbits: Option<f64>,
    /// Directory for the disk test's temporary file (on the disk to measure).
    #[serde(default = "var_tmp")]
    pub disk_dir: String,
    #[serde(default = "sixty_four")]
    pub disk_mib: u64,
    /// Time bound of each CPU and memory measurement.
    #[serde(default = "half_second")]
    pub duration_ms: u64,
    #[serde(default = "sixty_four")]
    pub tcp_mib: u64,
}

fn twenty() -> f64 {
    20.0
}
fn var_tmp() -> String {
    "/var/tmp".into()
}
fn sixty_four() -> u64 {
    64
}
fn half_second() -> u64 {
    500
}

/// What the probe must collect beyond what it always collects: derived from
/// the host's spec and sent to the agent in the hello answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    /// The primary identity to look up forward and reverse.
    #[serde(default)]
    pub fqdn: Option<String>,
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub persistent_paths: Vec<String>,
    #[serde(default)]
    pub ssh_port: Option<u16>,
    /// Users to look up through NSS.
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub break_glass: Option<String>,
    /// Services whose state to report (`a|b` alternatives).
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub smoke: Vec<SmokeCheck>,
    #[serde(default)]
    pub performance: Option<PerformanceRun>,
}

/// How to measure performance: the bounds of each test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PerformanceRun {
    pub duration_ms: u64,
    pub disk_dir: String,
    pub disk_mib: u64,
    /// URL the TCP test posts to (the coordinator's throughput endpoint),
    /// with the bearer token the agent already holds.
    #[serde(default)]
    pub tcp_url: Option<String>,
    pub tcp_mib: u64,
}

impl Expect {
    /// The collection request for this spec. `tcp_url` is the coordinator's
    /// throughput endpoint, when one is reachable.
    /// `fqdn` and `ip` are the host's primary identity; without them the
    /// probe looks up its own name and addresses.
    pub fn probe_spec(
        &self,
        fqdn: Option<&str>,
        ip: Option<&str>,
        tcp_url: Option<String>,
    ) -> ProbeSpec {
        ProbeSpec {
            fqdn: fqdn.map(str::to_string),
            ip: ip.map(str::to_string),
            persistent_paths: self.persistent_paths.clone(),
            ssh_port: Some(self.first_boot.ssh_port),
            users: self.identity.users.clone(),
            break_glass: self.identity.break_glass.clone(),
            services: self.service.required.clone(),
            smoke: self.service.smoke.clone(),
            performance: self.performance.as_ref().map(|p| PerformanceRun {
                duration_ms: p.duration_ms,
                disk_dir: p.disk_dir.clone(),
                disk_mib: p.disk_mib,
                tcp_url: if p.tcp_mbits.is_some() { tcp_url } else { None },
                tcp_mib: p.tcp_mib,
            }),
        }
    }
}

impl SmokeCheck {
    /// `command`, `tcp` or `http`; `None` when not exactly one is given.
    pub fn kind(&self) -> Option<&'static str> {
        match (&self.command, &self.tcp, &self.http) {
            (Some(c), None, None) if !c.is_empty() => Some("command"),
            (None, Some(_), None) => Some("tcp"),
            (None, None, Some(_)) => Some("http"),
            _ => None,
        }
    }
}
