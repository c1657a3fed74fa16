//! Facts a healthy host would report for a spec: every expectation met. For
//! tests and benchmarks that need a plausible facts document without a host
//! (the coordinator's integration test, the agents benchmark); each test then
//! breaks the one fact it is about.
use e2et_model::facts::*;
use e2et_model::inventory::HostSpec;
use e2et_model::{Observed, FACTS_VERSION};
use std::collections::BTreeMap;

pub fn healthy_facts(spec: &HostSpec, run_id: &str, boot_id: &str) -> Facts {
    let e = &spec.expect;
    let short = spec
        .fqdn
        .split('.')
        .next()
        .unwrap_or(&spec.fqdn)
        .to_string();
    let persistence = e
        .persistent_paths
        .iter()
        .map(|p| {
            (
                p.clone(),
                PathDigest {
                    exists: true,
                    sha256: Some("ab".repeat(32)),
                    bytes: 36,
                    error: None,
                },
            )
        })
        .collect();
    let mut vulnerabilities = BTreeMap::new();
    vulnerabilities.insert("meltdown".to_string(), "Not affected".to_string());
    vulnerabilities.insert(
        "spectre_v2".to_string(),
        "Mitigation: Retpolines; IBPB: conditional".to_string(),
    );
    let cpus = e.cpus.unwrap_or(2);
    let serial = e
        .first_boot
        .serial_console
        .clone()
        .or_else(|| {
            spec.console
                .strip_prefix("serial:")
                .map(|r| r.split(['@', ' ', ',']).next().unwrap_or(r).to_string())
        })
        .unwrap_or_else(|| "ttyS0".into());
    let mut cmdline = format!("console={serial},115200 e2et.run={run_id} e2et.token=<redacted>");
    for a in &e.first_boot.cmdline {
        cmdline.push(' ');
        cmdline.push_str(a);
    }
    let service = ServiceFacts {
        manager: "systemd".into(),
        failed: Observed::ok(vec![]),
        required: e
            .service
            .required
            .iter()
            .map(|n| ServiceStatus {
                name: n.clone(),
                matched: Some(format!("{}.service", n.split('|').next().unwrap_or(n))),
                running: true,
                state: "active (running)".into(),
                via: "systemd".into(),
            })
            .collect(),
        smoke: e
            .service
            .smoke
            .iter()
            .map(|s| SmokeResult {
                name: s.name.clone(),
                kind: s.kind().unwrap_or("command").into(),
                ok: true,
                timed_out: false,
                detail: "ok".into(),
                elapsed_ms: 3.0,
            })
            .collect(),
    };
    let id = &e.identity;
    let realm = spec
        .fqdn
        .split_once('.')
        .map_or("LAB", |(_, d)| d)
        .to_uppercase();
    let domains: Vec<String> = if id.domains.is_empty() {
        vec![spec
            .fqdn
            .split_once('.')
            .map_or("lab", |(_, d)| d)
            .to_string()]
    } else {
        id.domains.clone()
    };
    let identity = IdentityFacts {
        sssd_pids: if id.sssd { vec![400] } else { vec![] },
        sssd_conf: if id.sssd {
            Observed::ok(SssdConf {
                path: "/etc/sssd/sssd.conf".into(),
                mode: "0600".into(),
                owner_uid: 0,
                services: vec!["nss".into(), "pam".into(), "sudo".into(), "ssh".into()],
                domains: domains
                    .iter()
                    .map(|d| SssdDomain {
                        name: d.clone(),
                        id_provider: Some("ipa".into()),
                        cache_credentials: true,
                        ..Default::default()
                    })
                    .collect(),
            })
        } else {
            Observed::na("no /etc/sssd/sssd.conf")
        },
        domain_status: domains
            .iter()
            .filter(|_| id.sssd)
            .map(|d| DomainStatus {
                domain: d.clone(),
                online: Observed::ok(true),
                detail: "Online status: Online".into(),
            })
            .collect(),
        nsswitch: Observed::ok(NssSwitch {
            passwd: vec!["files".into(), "sss".into()],
            group: vec!["files".into(), "sss".into()],
            sudoers: vec!["files".into(), "sss".into()],
        }),
        users: id
            .users
            .iter()
            .enumerate()
            .map(|(i, u)| UserLookup {
                name: u.clone(),
                entry: Observed::ok(Some(PasswdEntry {
                    uid: 10_000 + i as u32,
                    gid: 10_000 + i as u32,
                    home: format!("/home/{u}"),
                    shell: "/bin/bash".into(),
                })),
                elapsed_ms: 1.0,
            })
            .collect(),
        keytab: Observed::ok(Keytab {
            path: "/etc/krb5.keytab".into(),
            mode: "0600".into(),
            entries: vec![KeytabEntry {
                principal: format!("host/{}@{realm}", spec.fqdn),
                kvno: 2,
                enctype: 18,
            }],
        }),
        ipa: Observed::ok(IpaConf {
            realm: Some(realm.clone()),
            domain: spec.fqdn.split_once('.').map(|(_, d)| d.to_string()),
            server: Some("ipa.example".into()),
            host: Some(spec.fqdn.clone()),
        }),
        sshd: Observed::ok(SshdAuth {
            authorized_keys_command: Some("/usr/bin/sss_ssh_authorizedkeys".into()),
            authorized_keys_command_user: Some("nobody".into()),
            command_present: true,
            via_sss: true,
        }),
        break_glass: match &id.break_glass {
            Some(n) => Observed::ok(LocalAccount {
                name: n.clone(),
                uid: 999,
                shell: "/bin/bash".into(),
                home: format!("/var/lib/{n}"),
                home_exists: true,
                password: "hash".into(),
                expired: false,
                authorized_keys: 1,
            }),
            None => Observed::na("the spec names no break-glass account"),
        },
    };
    Facts {
        version: FACTS_VERSION,
        probe_version: "example".into(),
        root: "/".into(),
        first_boot: FirstBootFacts {
            boot_id: boot_id.into(),
            cmdline,
            hostname: short,
            fqdn: Observed::ok(spec.fqdn.clone()),
            uptime_s: 12.0,
            init: e
                .first_boot
                .init
                .clone()
                .unwrap_or_else(|| "systemd".into()),
            os: Observed::ok(OsRelease {
                id: e.first_boot.os.clone().unwrap_or_else(|| "debian".into()),
                version_id: Some("12".into()),
                ..Default::default()
            }),
            consoles: vec![Console {
                name: serial,
                flags: "-W- (EC p a)".into(),
                enabled: true,
                preferred: true,
            }],
            ssh: SshFacts {
                port: e.first_boot.ssh_port,
                listeners: Observed::ok(vec![Listener {
                    address: "0.0.0.0".into(),
                    port: e.first_boot.ssh_port,
                    process: Some("sshd".into()),
                }]),
                host_keys: vec![HostKey {
                    path: "/etc/ssh/ssh_host_ed25519_key".into(),
                    kind: "ed25519".into(),
                    mode: "0600".into(),
                    bytes: 399,
                    public: Some(
                        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHt8rBTvEHuF9Gy5+IHJ2KLs2UN3F9T3SS4bnT4HMFqM"
                            .into(),
                    ),
                }],
            },
            time: TimeFacts {
                kernel: Observed::ok(KernelClock {
                    synchronised: true,
                    state: 0,
                    status: 0x2001,
                    max_error_us: 2000,
                    est_error_us: 100,
                }),
                daemons: vec![TimeDaemon {
                    name: "chronyd".into(),
                    synchronised: Observed::ok(true),
                    detail: "leap status Normal".into(),
                }],
            },
            logging: LoggingFacts {
                journald: true,
                syslog: vec![],
                dev_log: true,
            },
            package_profile: Observed::ok(PackageProfile {
                kind: "dpkg".into(),
                packages: 812,
                set_sha256: Some("cd".repeat(32)),
                ..Default::default()
            }),
        },
        platform: PlatformFacts {
            cpu_model: "AMD EPYC 7543 32-Core Processor".into(),
            cpu_vendor: "AuthenticAMD".into(),
            cpu_count: cpus,
            sockets: 1,
            cores: cpus,
            threads_per_core: 1,
            cpu_flags: ["aes", "avx2", "sse4_2"].map(String::from).to_vec(),
            microcode: Some("0xa0011d1".into()),
            mem_total_kib: (e.min_ram_mib.unwrap_or(1024) + 64) * 1024,
            kernel_release: "6.1.0-56-amd64".into(),
            block_devices: vec![BlockDevice {
                name: "nvme0n1".into(),
                size_bytes: 960 << 30,
                rotational: Some(false),
                model: Some("SAMSUNG MZQL2960HCJR".into()),
                serial: Some("anon-1234abcd".into()),
                transport: "nvme".into(),
                removable: false,
            }],
            nvdimm: Observed::na("no /sys/bus/nd"),
            dmi: Observed::ok(Dmi {
                sys_vendor: Some("Supermicro".into()),
                ..Default::default()
            }),
            firmware: Firmware {
                boot_mode: "uefi".into(),
                secure_boot: Some(false),
            },
            modules: vec!["virtio_net".into()],
            vulnerabilities,
        },
        network: NetworkFacts {
            interfaces: vec![Interface {
                name: "eno1".into(),
                mac: spec.mac.clone(),
                operstate: "up".into(),
                carrier: Some(true),
                mtu: Some(e.network.mtu.unwrap_or(1500)),
                speed_mbps: Some(e.network.min_speed_mbps.unwrap_or(25_000)),
                kind: "physical".into(),
                vlan: None,
                ipv4: Some(vec![format!("{}/24", spec.ip)]),
                ipv6: Some(vec![]),
            }],
            routes: vec![Route {
                destination: "0.0.0.0/0".into(),
                gateway: Some(
                    e.network
                        .gateway
                        .clone()
                        .unwrap_or_else(|| "10.0.0.1".into()),
                ),
                interface: "eno1".into(),
                metric: 0,
            }],
            resolver: Resolver {
                nameservers: vec!["10.0.0.1".into()],
                search: vec![],
            },
            dns: vec![
                DnsLookup {
                    kind: "forward".into(),
                    query: spec.fqdn.clone(),
                    answers: Observed::ok(vec![spec.ip.clone()]),
                    elapsed_ms: 0.4,
                },
                DnsLookup {
                    kind: "reverse".into(),
                    query: spec.ip.clone(),
                    answers: Observed::ok(vec![spec.fqdn.clone()]),
                    elapsed_ms: 0.4,
                },
            ],
        },
        storage: StorageFacts {
            mounts: vec![Mount {
                source: "/dev/nvme0n1p2".into(),
                target: "/".into(),
                fstype: e
                    .storage
                    .root_fstype
                    .clone()
                    .unwrap_or_else(|| "ext4".into()),
                options: "rw,relatime".into(),
            }],
            root: Observed::ok(RootFs {
                source: "/dev/nvme0n1p2".into(),
                fstype: e
                    .storage
                    .root_fstype
                    .clone()
                    .unwrap_or_else(|| "ext4".into()),
                read_only: false,
                health: "ext4 on nvme0n1p2: 0 errors recorded".into(),
                healthy: true,
            }),
            zfs: Observed::na("the zfs kernel module is not loaded"),
            iscsi: Observed::na("no /sys/class/iscsi_session"),
            ceph: Observed::na("no /etc/ceph/ceph.conf"),
            signatures: vec![],
        },
        identity,
        service,
        performance: Observed::na("the spec asks for no performance measurement"),
        persistence,
        errors: BTreeMap::new(),
        timings_ms: BTreeMap::new(),
    }
}
