//! e2et-pdu: status, on, off and cycle of an outlet named in the inventory.
use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use e2et_model::inventory::PduDriverKind;
use e2et_pdu::qmp::QmpDriver;
use e2et_pdu::{cycle, switch_all, Feed, NoLog, Poll, PowerDriver, PowerState};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    version,
    about = "Switch and read PDU outlets, verified by reading state back"
)]
struct Cli {
    /// Inventory (.nix evaluated with nix-instantiate, or its JSON).
    #[arg(long, env = "E2ET_INVENTORY")]
    inventory: PathBuf,
    #[arg(long)]
    pdu: String,
    #[arg(long)]
    outlet: u32,
    /// Act on an outlet the inventory maps to no host.
    #[arg(long)]
    force: bool,
    #[arg(long)]
    json: bool,
    #[arg(long, default_value_t = 1000)]
    poll_interval_ms: u64,
    #[arg(long, default_value_t = 20)]
    step_timeout_s: u64,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Clone, Copy)]
enum Cmd {
    Status,
    On,
    Off,
    /// Off, verified; the PDU's cycle delay; on, verified.
    Cycle,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run() {
        eprintln!("e2et-pdu: {e:#}");
        std::process::exit(1);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn run() -> Result<()> {
    let cli = Cli::parse();
    let inv = e2et_pdu::inventory::load(&cli.inventory)?;
    let spec = inv
        .pdus
        .get(&cli.pdu)
        .with_context(|| format!("PDU {} is not in the inventory", cli.pdu))?;
    if cli.outlet == 0 || cli.outlet > spec.outlets {
        bail!(
            "PDU {} has outlets 1..={}, not {}",
            cli.pdu,
            spec.outlets,
            cli.outlet
        );
    }
    let host = inv.host_on_outlet(&cli.pdu, cli.outlet);
    if host.is_none() && !matches!(cli.cmd, Cmd::Status) && !cli.force {
        bail!(
            "outlet {} of PDU {} powers no host in the inventory; refusing to switch it without --force",
            cli.outlet,
            cli.pdu
        );
    }
    let driver: Arc<dyn PowerDriver> = match spec.driver {
        PduDriverKind::Qmp => Arc::new(QmpDriver::new(cli.pdu.clone(), &spec.address)),
        PduDriverKind::ApcSnmp => bail!("PDU {}: the apc-snmp driver is not built yet", cli.pdu),
    };
    let poll = Poll {
        interval: Duration::from_millis(cli.poll_interval_ms),
        timeout: Duration::from_secs(cli.step_timeout_s),
    };
    let feeds = [Feed {
        pdu: cli.pdu.clone(),
        outlet: cli.outlet,
        driver: driver.clone(),
    }];
    let steps = match cli.cmd {
        Cmd::Status => {
            let s = driver.status(cli.outlet).await?;
            if cli.json {
                println!(
                    "{}",
                    serde_json::json!({"pdu": cli.pdu, "outlet": cli.outlet, "host": host, "state": s})
                );
            } else {
                println!(
                    "{} outlet {} ({}): {}",
                    cli.pdu,
                    cli.outlet,
                    host.unwrap_or("no host"),
                    s.as_str()
                );
            }
            return Ok(());
        }
        Cmd::On => switch_all(&NoLog, &feeds, PowerState::On, poll).await,
        Cmd::Off => switch_all(&NoLog, &feeds, PowerState::Off, poll).await,
        Cmd::Cycle => {
            cycle(
                &NoLog,
                &feeds,
                Duration::from_secs(spec.cycle_delay_s),
                poll,
            )
            .await
        }
    };
    let (steps, err) = match steps {
        Ok(s) => (s, None),
        Err((s, e)) => (s, Some(e)),
    };
    for s in &steps {
        if cli.json {
            println!("{}", serde_json::to_string(s)?);
        } else {
            println!(
                "{} {} outlet {}: {} → {}{}",
                s.at,
                s.pdu,
                s.outlet,
                s.action,
                s.observed.as_deref().unwrap_or("nothing read"),
                if s.ok { "" } else { " (FAILED)" }
            );
        }
    }
    if let Some(e) = err {
        return Err(e.into());
    }
    Ok(())
}
