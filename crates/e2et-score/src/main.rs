//! e2et-score: score a facts document against a host spec, or render a report.
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use e2et_model::facts::Facts;
use e2et_model::inventory::{Expect, HostSpec, Inventory};
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
    /// Score one boot's facts against a host of the inventory, or against a
    /// profile with this host's own identity; prints the validation.
    Validate {
        /// hosts/inventory.nix or its JSON.
        #[arg(long)]
        inventory: PathBuf,
        /// A host of the inventory.
        #[arg(long, required_unless_present = "profile", conflicts_with = "profile")]
        host: Option<String>,
        /// A profile of the inventory, applied to the host the facts come
        /// from (its FQDN, and the MAC and IPv4 of the NIC with the default
        /// route): "would this machine pass as an aaa-domain-client?".
        #[arg(long)]
        profile: Option<String>,
        #[arg(long)]
        facts: PathBuf,
        /// The run the facts belong to; without it the boot-path check is not applicable.
        #[arg(long)]
        run_id: Option<String>,
        #[arg(long, value_enum, default_value = "json")]
        format: Output,
    },
    /// Print the JSON Schema of the report or of the facts document.
    Schema {
        #[arg(value_enum)]
        kind: e2et_score::SchemaKind,
    },
    /// Render a stored report JSON as json, md or junit.
    Render {
        report: PathBuf,
        #[arg(long, default_value = "md", value_parser = report_format())]
        format: Format,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    Json,
    /// One line per check: outcome, severity, id, expected, observed.
    Table,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("e2et-score: {e:#}");
        std::process::exit(1);
    }
}

/// A host spec for the machine the facts come from, with a profile's
/// expectations.
fn spec_from_facts(inv: &Inventory, profile: &str, f: &Facts) -> Result<HostSpec> {
    let p = inv.profiles.get(profile).with_context(|| {
        format!(
            "profile {profile} is not in the inventory (defined: {})",
            inv.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })?;
    let expect: Expect =
        serde_json::from_value(p.clone()).with_context(|| format!("profile {profile}"))?;
    let nic_name = f
        .network
        .routes
        .iter()
        .find(|r| r.destination == "0.0.0.0/0")
        .map(|r| r.interface.clone())
        .or_else(|| f.network.interfaces.first().map(|i| i.name.clone()))
        .context("the facts show no network interface")?;
    let nic = f
        .network
        .interfaces
        .iter()
        .find(|i| i.name == nic_name)
        .with_context(|| format!("interface {nic_name} is not in the facts"))?;
    let ip = nic
        .ipv4
        .iter()
        .flatten()
        .next()
        .and_then(|a| a.split('/').next())
        .with_context(|| format!("{nic_name} has no IPv4 address in the facts"))?;
    Ok(HostSpec {
        mac: nic.mac.clone(),
        ip: ip.to_string(),
        fqdn: f
            .first_boot
            .fqdn
            .value()
            .cloned()
            .unwrap_or_else(|| f.first_boot.hostname.clone()),
        power: vec![],
        console: "unknown (scored against a profile)".into(),
        console_capture: None,
        bmc: None,
        profile: profile.to_string(),
        expect,
        required_zone: e2et_model::Zone::P90,
    })
}

fn run() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Validate {
            inventory,
            host,
            profile,
            facts,
            run_id,
            format,
        } => {
            let inv = e2et_inventory::load(&inventory)?;
            let f: Facts = serde_json::from_str(
                &std::fs::read_to_string(&facts)
                    .with_context(|| format!("reading {}", facts.display()))?,
            )
            .with_context(|| format!("parsing facts {}", facts.display()))?;
            let spec = match (&host, &profile) {
                (Some(h), _) => inv
                    .hosts
                    .get(h)
                    .cloned()
                    .with_context(|| format!("host {h} is not in the inventory"))?,
                (None, Some(p)) => spec_from_facts(&inv, p, &f)?,
                (None, None) => anyhow::bail!("give --host or --profile"),
            };
            let checks = boot_checks(
                &spec,
                &f,
                &BootContext {
                    run_id: run_id.as_deref(),
                    boot_seq: 1,
                    mode: e2et_model::RunMode::Cold,
                },
            );
            let v = score_validation(&Policy::default(), 1, &f.first_boot.boot_id, checks);
            match format {
                Output::Json => println!("{}", serde_json::to_string_pretty(&v)?),
                Output::Table => {
                    println!(
                        "{} as {} (profile {}): score {:.2}, zone {}",
                        spec.fqdn, spec.ip, spec.profile, v.score, v.zone
                    );
                    for c in &v.checks {
                        println!(
                            "{:<14} {:<8} {:<11} {:<44} expected: {} | observed: {} | evidence: {}",
                            c.outcome.label(),
                            format!("{:?}", c.severity).to_lowercase(),
                            c.gate.as_str(),
                            c.id,
                            c.expected.as_deref().unwrap_or("-"),
                            c.observed.as_deref().unwrap_or("-"),
                            c.evidence
                        );
                    }
                }
            }
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

/// `--format`: the report formats by the model's names (one mapping).
fn report_format() -> impl clap::builder::TypedValueParser<Value = e2et_model::api::ReportFormat> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(e2et_model::api::ReportFormat::ALL.map(|f| f.name()))
        .try_map(|s| s.parse::<e2et_model::api::ReportFormat>())
}
