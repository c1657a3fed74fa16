//! e2et-probe: `collect` prints facts JSON; `agent` reports to the coordinator.
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use e2et_probe::agent::{Agent, AgentConfig};
use e2et_probe::{collect, Root};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    version,
    about = "Collect host facts for e2et, or run as the boot-time agent"
)]
struct Cli {
    /// Read this directory as the host's root instead of `/` (fixture trees).
    #[arg(long, global = true, default_value = "/")]
    root: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print the facts JSON on stdout.
    Collect {
        /// A path whose content digest to include (repeatable).
        #[arg(long = "persistent")]
        persistent: Vec<String>,
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
    if let Err(e) = run() {
        eprintln!("e2et-probe: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    let root = Root::new(cli.root);
    match cli.cmd {
        Cmd::Collect { persistent } => {
            let facts = collect(&root, &persistent);
            println!("{}", serde_json::to_string_pretty(&facts)?);
        }
        Cmd::Agent {
            heartbeat_s,
            retry_s,
            poweroff_cmd,
            reboot_cmd,
        } => {
            let split = |s: String| s.split_whitespace().map(str::to_string).collect();
            let cfg = AgentConfig {
                heartbeat: Duration::from_secs(heartbeat_s),
                retry_for: Duration::from_secs(retry_s),
                poweroff_cmd: split(poweroff_cmd),
                reboot_cmd: split(reboot_cmd),
            };
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?;
            let agent = Agent::new(root, cfg)?;
            let last = rt.block_on(agent.run())?;
            tracing::info!(?last, "agent done");
        }
    }
    Ok(())
}
