//! e2et-lab: runs the e2et lifecycle on this machine without Nix: a network
//! namespace with a bridge, dnsmasq, e2etd, QEMU (TCG) netbooting through iPXE.
mod bench;
mod browser;
mod devhost;
mod lab;
mod netboot;
mod outcome;
mod pdu_emulator;
mod scenario;
mod supervise;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use scenario::Scenario;
use std::path::PathBuf;

/// The same allocator as e2etd: the load generator shares the cores with the
/// daemon it measures, and glibc's malloc costs it more of them.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "The e2et lab: the whole lifecycle on QEMU, dnsmasq and iPXE")]
struct Cli {
    /// The fleet inventory (.nix, evaluated with nix-instantiate).
    #[arg(long, default_value = "hosts/inventory.nix")]
    inventory: PathBuf,
    /// Kernel unpacked from its Debian package (scripts/lab-deps.sh).
    #[arg(long, default_value = ".cache/kernel/root")]
    kernel_root: PathBuf,
    #[arg(long, default_value = "/bin/busybox")]
    busybox: PathBuf,
    /// Where runs keep their logs, databases and reports.
    #[arg(long, default_value = "lab-out")]
    out: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The pass_persist program snmpd runs for the PowerNet-MIB subtree.
    PduPass {
        #[arg(long)]
        state: PathBuf,
        #[arg(long, default_value_t = 8)]
        outlets: u32,
        #[arg(long, default_value_t = 300)]
        delay_ms: u64,
        /// Directory of `outlet-<n>.qmp` sockets the outlets drive.
        #[arg(long)]
        qmp_dir: Option<PathBuf>,
        /// An outlet whose relay never switches (repeatable).
        #[arg(long)]
        stuck: Vec<u32>,
    },
    /// Runs net-snmp's snmpd as an emulated APC AP7901 (foreground). Writes
    /// the users' passwords as credential files `pdu-<user>-auth|priv` in DIR/creds.
    PduEmulator {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value = "udp:127.0.0.1:16161")]
        listen: String,
        #[arg(long, default_value_t = 300)]
        delay_ms: u64,
        #[arg(long)]
        qmp_dir: Option<PathBuf>,
        #[arg(long)]
        stuck: Vec<u32>,
    },
    /// Benchmark: a verified PDU cycle by e2et-pdu beside net-snmp's commands.
    BenchPdu {
        #[arg(long, default_value_t = 20)]
        iterations: usize,
    },
    /// Benchmark: N simulated agents (hello, facts, heartbeats) against a real
    /// e2etd on loopback with N runs in flight.
    BenchAgents {
        #[arg(long, value_delimiter = ',', default_value = "100,1000,10000")]
        agents: Vec<usize>,
        #[arg(long, default_value_t = 3)]
        heartbeats: usize,
        #[arg(long, default_value_t = 128)]
        concurrency: usize,
    },
    /// Benchmark: the probe's collection (all gates but performance) beside
    /// `lshw -json`, one process per run.
    BenchProbe {
        #[arg(long, default_value_t = 20)]
        iterations: usize,
    },
    /// Build the netboot kernel + initramfs into OUT/artifacts.
    BuildNetboot,
    /// Run one scenario; prints `scenario=<name> verdict=<verdict> seconds=<n>`.
    Scenario {
        #[arg(value_enum)]
        name: Vec<Scenario>,
    },
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Err(e) = run() {
        eprintln!("e2et-lab: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    match &cli.cmd {
        Cmd::PduPass {
            state,
            outlets,
            delay_ms,
            qmp_dir,
            stuck,
        } => {
            return pdu_emulator::Emulator::open(
                state,
                *outlets,
                std::time::Duration::from_millis(*delay_ms),
                qmp_dir.clone(),
                stuck.clone(),
            )?
            .serve();
        }
        Cmd::PduEmulator {
            dir,
            listen,
            delay_ms,
            qmp_dir,
            stuck,
        } => return pdu_emulator::exec_snmpd(dir, listen, *delay_ms, qmp_dir.as_deref(), stuck),
        Cmd::BenchAgents {
            agents,
            heartbeats,
            concurrency,
        } => {
            let bin = std::env::current_exe()?
                .parent()
                .context("binary directory")?
                .to_path_buf();
            return bench::agents::run(&bin, agents, *heartbeats, *concurrency);
        }
        Cmd::BenchProbe { iterations } => {
            let bin = std::env::current_exe()?
                .parent()
                .context("binary directory")?
                .to_path_buf();
            return bench::probe::run(&bin, &cli.inventory, *iterations);
        }
        Cmd::BenchPdu { iterations } => {
            let bin = std::env::current_exe()?
                .parent()
                .context("binary directory")?
                .to_path_buf();
            return bench::run(&bin, *iterations);
        }
        _ => {}
    }
    let bin = std::env::current_exe()?
        .parent()
        .context("binary directory")?
        .to_path_buf();
    for b in ["e2etd", "e2et", "e2et-probe"] {
        anyhow::ensure!(
            bin.join(b).exists(),
            "{} missing: build the workspace first (cargo build --release --workspace)",
            bin.join(b).display()
        );
    }
    std::fs::create_dir_all(&cli.out)?;
    let out = cli.out.canonicalize()?;
    let art = netboot::build(
        &cli.kernel_root,
        &bin.join("e2et-probe"),
        &cli.busybox,
        &out,
    )?;
    match cli.cmd {
        Cmd::PduPass { .. }
        | Cmd::PduEmulator { .. }
        | Cmd::BenchPdu { .. }
        | Cmd::BenchProbe { .. }
        | Cmd::BenchAgents { .. } => {
            unreachable!("handled above")
        }
        Cmd::BuildNetboot => {
            println!("netboot artifacts in {}", art.dir.display());
            Ok(())
        }
        Cmd::Scenario { name } => {
            let inventory_json = e2et_inventory::inventory_json(&cli.inventory)?;
            let env = outcome::Env {
                bin: &bin,
                inventory_json: &inventory_json,
                artifacts: &art,
                out,
            };
            let names = if name.is_empty() {
                vec![Scenario::Pass]
            } else {
                name
            };
            let mut failed = Vec::new();
            let mut lines = Vec::new();
            for s in names {
                match scenario::run(&env, s) {
                    Ok(o) => lines.push(format!(
                        "scenario={} verdict={} seconds={:.1}",
                        s.name(),
                        o.verdict,
                        o.seconds
                    )),
                    Err(e) => {
                        eprintln!(
                            "e2et-lab: scenario {} did not show what it must: {e:#}",
                            s.name()
                        );
                        lines.push(format!("scenario={} verdict=error seconds=0", s.name()));
                        failed.push(s.name());
                    }
                }
            }
            for l in &lines {
                println!("{l}");
            }
            anyhow::ensure!(
                failed.is_empty(),
                "scenarios not as expected: {}",
                failed.join(", ")
            );
            Ok(())
        }
    }
}
