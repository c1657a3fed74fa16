//! e2et-score: score a facts document against a host spec, or render a report.
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use e2et_model::facts::Facts;
use e2et_model::inventory::Inventory;
use e2et_model::report::Report;
use e2et_score::render::{render, Format};
use e2et_score::{boot_checks, score_validation, BootContext, Policy};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    version,
    about = "Score facts against the inventory and render reports"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Score one boot's facts against a host of the inventory; prints the validation JSON.
    Validate {
        #[arg(long)]
        inventory: PathBuf,
        #[arg(long)]
        host: String,
        #[arg(long)]
        facts: PathBuf,
        #[arg(long, default_value = "offline")]
        run_id: String,
    },
    /// Print the JSON Schema of the report or of the facts document.
    Schema {
        #[arg(value_enum)]
        kind: e2et_score::SchemaKind,
    },
    /// Render a stored report JSON as json, md or junit.
    Render {
        report: PathBuf,
        #[arg(long, value_enum, default_value = "md")]
        format: Format,
    },
}

fn main() {
    if let Err(e) = run() {
        eprintln!("e2et-score: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Validate {
            inventory,
            host,
            facts,
            run_id,
        } => {
            let text = std::fs::read_to_string(&inventory)
                .with_context(|| format!("reading {}", inventory.display()))?;
            let inv = Inventory::from_json(&text).map_err(|errs| {
                anyhow::anyhow!(
                    "{}",
                    errs.iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            })?;
            let spec = inv
                .hosts
                .get(&host)
                .with_context(|| format!("host {host} is not in the inventory"))?;
            let f: Facts = serde_json::from_str(
                &std::fs::read_to_string(&facts)
                    .with_context(|| format!("reading {}", facts.display()))?,
            )
            .with_context(|| format!("parsing facts {}", facts.display()))?;
            let checks = boot_checks(
                spec,
                &f,
                &BootContext {
                    run_id: &run_id,
                    boot_seq: 1,
                },
            );
            let v = score_validation(&Policy::default(), 1, &f.first_boot.boot_id, checks);
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Cmd::Schema { kind } => print!("{}", e2et_score::schema(kind)),
        Cmd::Render { report, format } => {
            let r: Report = serde_json::from_str(
                &std::fs::read_to_string(&report)
                    .with_context(|| format!("reading {}", report.display()))?,
            )
            .with_context(|| format!("parsing report {}", report.display()))?;
            print!("{}", render(&r, format));
        }
    }
    Ok(())
}
