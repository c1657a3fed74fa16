//! e2et-probe: `collect` prints facts JSON; `capture` writes a fixture tree of
//! this host; `wipe-check` lists data signatures before anything destructive;
//! `agent` reports to the coordinator.
use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use e2et_model::expect::ProbeSpec;
use e2et_probe::agent::{Agent, AgentConfig, EnrolPolicy};
use e2et_probe::{capture, collect, Root};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    version,
    about = "Collect host facts for e2et, capture fixtures, or run as the boot-time agent"
)]
struct Cli {
    /// Read this directory (a captured fixture tree) as the host's root instead of `/`.
    #[arg(long, global = true, default_value = "/")]
    root: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

/// Where the collection request comes from.
#[derive(clap::Args)]
struct SpecArgs {
    /// The inventory (hosts/inventory.nix or its JSON); with --host, collect
    /// what that host's spec asks for (its FQDN, IP, users, services, ...).
    #[arg(long)]
    inventory: Option<PathBuf>,
    #[arg(long, requires = "inventory", conflicts_with = "profile")]
    host: Option<String>,
    /// With --inventory: collect what this profile asks for, with this
    /// host's own name and addresses as its identity.
    #[arg(long, requires = "inventory")]
    profile: Option<String>,
    /// A ProbeSpec JSON file (what the coordinator sends the agent).
    #[arg(long, conflicts_with = "inventory")]
    spec: Option<PathBuf>,
    /// A path whose content digest to include (repeatable).
    #[arg(long = "persistent")]
    persistent: Vec<String>,
    /// Leave out the performance measurements even if the spec asks for them.
    #[arg(long, conflicts_with = "performance")]
    no_performance: bool,
    /// Measure performance even if the spec does not ask: CPU, memory, and
    /// the disk under this directory (no TCP test without a coordinator).
    #[arg(long, value_name = "DISK_DIR", num_args = 0..=1, default_missing_value = "/var/tmp")]
    performance: Option<String>,
}

impl SpecArgs {
    /// The collection request: from --spec, the inventory, or (for a
    /// captured fixture given as --root) the spec it was captured with.
    fn load(&self, root: &std::path::Path) -> Result<ProbeSpec> {
        let captured = root.join(".e2et/spec.json");
        let mut spec = if let Some(p) = self.spec.as_ref().or_else(|| {
            (self.inventory.is_none() && root != std::path::Path::new("/") && captured.exists())
                .then_some(&captured)
        }) {
            let t =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            serde_json::from_str(&t)
                .with_context(|| format!("{} is not a probe spec", p.display()))?
        } else if let Some(inv) = &self.inventory {
            let inv = e2et_inventory::load(inv)?;
            match (&self.host, &self.profile) {
                (Some(host), _) => {
                    let h = inv
                        .hosts
                        .get(host)
                        .with_context(|| format!("host {host} is not in the inventory"))?;
                    h.expect.probe_spec(Some(&h.fqdn), Some(&h.ip), None)
                }
                (None, Some(p)) => {
                    let v = inv.profiles.get(p).with_context(|| {
                        format!(
                            "profile {p} is not in the inventory (defined: {})",
                            inv.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
                        )
                    })?;
                    let e: e2et_model::Expect = serde_json::from_value(v.clone())
                        .with_context(|| format!("profile {p}"))?;
                    e.probe_spec(None, None, None)
                }
                (None, None) => bail!("--inventory needs --host or --profile"),
            }
        } else {
            ProbeSpec::default()
        };
        spec.persistent_paths
            .extend(self.persistent.iter().cloned());
        if self.no_performance {
            spec.performance = None;
        }
        if let Some(dir) = &self.performance {
            let p = spec
                .performance
                .get_or_insert(e2et_model::expect::PerformanceRun {
                    duration_ms: 500,
                    disk_dir: dir.clone(),
                    disk_mib: 64,
                    tcp_url: None,
                    tcp_mib: 64,
                });
            p.disk_dir = dir.clone();
        }
        Ok(spec)
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Print the facts JSON on stdout.
    Collect {
        #[command(flatten)]
        spec: SpecArgs,
    },
    /// Print the collection request (ProbeSpec JSON) the other options make:
    /// what the coordinator would send this host's agent.
    Spec {
        #[command(flatten)]
        spec: SpecArgs,
    },
    /// Collect from this live host and write everything the collectors read as
    /// a fixture tree (anonymised: no password hashes, keys, serials or tokens).
    Capture {
        /// A new (or empty) directory.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        spec: SpecArgs,
    },
    /// List the data signatures on block devices (or image files): exits 1
    /// when any device carries data, 0 when all are blank.
    WipeCheck {
        #[arg(required = true)]
        devices: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Say hello to the coordinator named on the kernel cmdline, post facts,
    /// follow heartbeat commands.
    Agent {
        #[arg(long, default_value_t = 2)]
        heartbeat_s: u64,
        /// How long to keep retrying an unreachable coordinator.
        #[arg(long, default_value_t = 300)]
        retry_s: u64,
        #[arg(long, default_value = "poweroff")]
        poweroff_cmd: String,
        #[arg(long, default_value = "reboot")]
        reboot_cmd: String,
        /// On a host's installed system (not netbooted by a run): enrol with
        /// the coordinator at this URL for a waiting quick run's token
        /// instead of reading it from the kernel cmdline. Without a quick
        /// run for the host the agent exits 0.
        #[arg(long, requires_all = ["host", "key_file"])]
        enrol: Option<String>,
        /// The host's inventory name (with --enrol).
        #[arg(long, requires = "enrol")]
        host: Option<String>,
        /// The host's enrolment key (with --enrol): a file, never a flag's
        /// value; the coordinator holds the same key as agent-<host>.
        #[arg(long, env = "E2ET_ENROL_KEY_FILE", requires = "enrol")]
        key_file: Option<PathBuf>,
        /// With --enrol: the `command` smoke checks this host allows, one
        /// argv per line (words split on whitespace, `#` comments). A
        /// command the list does not name is not run and is reported as a
        /// failed check. Without the file no command check runs.
        #[arg(long, requires = "enrol")]
        allow_commands: Option<PathBuf>,
        /// With --enrol: the most MiB the disk test may write, whatever the
        /// coordinator asks.
        #[arg(long, default_value_t = 256, requires = "enrol")]
        max_disk_mib: u64,
        /// With --enrol: the most MiB the TCP throughput test may send.
        #[arg(long, default_value_t = 256, requires = "enrol")]
        max_tcp_mib: u64,
    },
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("e2et-probe: {e:#}");
            std::process::exit(2);
        }
    }
}

fn run() -> Result<i32> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Collect { spec } => {
            let spec = spec.load(&cli.root)?;
            let root = Root::new(cli.root);
            let facts = collect(&root, &spec, None);
            println!("{}", serde_json::to_string_pretty(&facts)?);
        }
        Cmd::Spec { spec } => {
            println!("{}", serde_json::to_string_pretty(&spec.load(&cli.root)?)?);
        }
        Cmd::Capture { out, spec } => {
            if cli.root != std::path::Path::new("/") {
                bail!("capture reads the live host: drop --root");
            }
            let spec = spec.load(&cli.root)?;
            let root = Root::recording();
            let _live = collect(&root, &spec, None);
            let rec = root
                .take_recording()
                .context("the recording root kept no recording")?;
            let sum = capture::write(&rec, &out)?;
            // The facts as the fixture gives them back (anonymised, unlike
            // the live ones): what a test of this fixture expects.
            let facts = collect(&Root::new(&out), &spec, None);
            std::fs::write(
                out.join(".e2et/facts.json"),
                serde_json::to_string_pretty(&facts)? + "\n",
            )
            .context("writing .e2et/facts.json")?;
            std::fs::write(
                out.join(".e2et/spec.json"),
                serde_json::to_string_pretty(&spec)? + "\n",
            )
            .context("writing .e2et/spec.json")?;
            eprintln!(
                "captured {} files, {} symlinks, {} live results into {}; anonymised: {}",
                sum.files,
                sum.symlinks,
                sum.live_ops,
                out.display(),
                if sum.anonymised.is_empty() {
                    "nothing".into()
                } else {
                    sum.anonymised.join(", ")
                }
            );
        }
        Cmd::WipeCheck { devices, json } => {
            let mut any = false;
            let mut rows = Vec::new();
            for d in &devices {
                let sigs = e2et_probe::wipe::probe(d)
                    .with_context(|| format!("reading {}", d.display()))?;
                any |= !sigs.is_empty();
                if !json {
                    if sigs.is_empty() {
                        println!("{}: blank", d.display());
                    }
                    for s in &sigs {
                        println!(
                            "{}: {} at offset {} ({})",
                            d.display(),
                            s.kind,
                            s.offset,
                            s.detail
                        );
                    }
                }
                rows.push(serde_json::json!({"device": d, "signatures": sigs}));
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            }
            return Ok(i32::from(any));
        }
        Cmd::Agent {
            heartbeat_s,
            retry_s,
            poweroff_cmd,
            reboot_cmd,
            enrol,
            host,
            key_file,
            allow_commands,
            max_disk_mib,
            max_tcp_mib,
        } => {
            let split = |s: String| s.split_whitespace().map(str::to_string).collect();
            let mut cfg = AgentConfig {
                heartbeat: Duration::from_secs(heartbeat_s),
                retry_for: Duration::from_secs(retry_s),
                poweroff_cmd: split(poweroff_cmd),
                reboot_cmd: split(reboot_cmd),
                enrolled: None,
            };
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?;
            let root = Root::new(cli.root);
            let agent = match (enrol, host, key_file) {
                (Some(url), Some(host), Some(key_file)) => {
                    let key = std::fs::read_to_string(&key_file).with_context(|| {
                        format!("reading the enrolment key {}", key_file.display())
                    })?;
                    let key = key.trim_end_matches(['\n', '\r']);
                    anyhow::ensure!(
                        !key.is_empty(),
                        "enrolment key file {} is empty",
                        key_file.display()
                    );
                    let (allowed_commands, allow_source) = match &allow_commands {
                        Some(p) => (
                            EnrolPolicy::parse_allow_list(
                                &std::fs::read_to_string(p).with_context(|| {
                                    format!("reading the command allow-list {}", p.display())
                                })?,
                            ),
                            p.display().to_string(),
                        ),
                        None => (vec![], "none given: --allow-commands".to_string()),
                    };
                    cfg.enrolled = Some(EnrolPolicy {
                        key: key.to_string(),
                        allowed_commands,
                        allow_source,
                        max_disk_mib,
                        max_tcp_mib,
                    });
                    let Some(params) = rt.block_on(e2et_probe::agent::enrol(
                        &root,
                        &url,
                        &host,
                        key,
                        cfg.retry_for,
                    ))?
                    else {
                        return Ok(0);
                    };
                    Agent::with_params(root, params, cfg)?
                }
                _ => Agent::new(root, cfg)?,
            };
            let last = rt.block_on(agent.run())?;
            tracing::info!(?last, "agent done");
        }
    }
    Ok(0)
}
