//! e2et-pdu: status, on, off, cycle, list and identify, verified by reading
//! state back. The PDU comes from the inventory (`--inventory F --pdu NAME`) or
//! from fence_apc_snmp-style flags.
use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use e2et_model::inventory::{Inventory, PduDriverKind};
use e2et_pdu::apc::{ApcConfig, ApcSnmpDriver, AuthProto, OutletTable, PrivProto, SnmpAuth};
use e2et_pdu::drivers::{self, read_secret, Credentials};
use e2et_pdu::{cycle, switch_all, CyclePlan, Feed, NoLog, Poll, PowerDriver, PowerState};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Every option is global: `e2et-pdu off --outlet 3` (as fence agents and
/// operators type it) and `e2et-pdu --outlet 3 off` are the same.
#[derive(Parser)]
#[command(
    version,
    about = "Switch and read PDU outlets, verified by reading state back"
)]
struct Cli {
    /// Inventory (.nix evaluated with nix-instantiate, or its JSON).
    #[arg(long, global = true, env = "E2ET_INVENTORY")]
    inventory: Option<PathBuf>,
    /// PDU name in the inventory.
    #[arg(long, global = true)]
    pdu: Option<String>,
    /// Directory of secrets `pdu-<name>-auth|priv|community` (default $CREDENTIALS_DIRECTORY).
    #[arg(long, global = true)]
    credentials_dir: Option<PathBuf>,

    /// Without an inventory: the PDU's address, HOST[:PORT].
    #[arg(long, global = true)]
    address: Option<String>,
    #[arg(long, global = true, default_value = "3")]
    snmp_version: String,
    #[arg(long, global = true)]
    user: Option<String>,
    #[arg(long, global = true, value_enum)]
    auth_protocol: Option<AuthProto>,
    #[arg(long, global = true)]
    auth_password_file: Option<PathBuf>,
    #[arg(long, global = true, value_enum)]
    priv_protocol: Option<PrivProto>,
    #[arg(long, global = true)]
    priv_password_file: Option<PathBuf>,
    #[arg(long, global = true)]
    community_file: Option<PathBuf>,
    /// Allow SNMPv1/v2c (community in clear text).
    #[arg(long, global = true)]
    allow_insecure: bool,
    /// Older MasterSwitch outlet table (sPDUOutletCtl).
    #[arg(long, global = true)]
    masterswitch: bool,

    /// Outlet number (from 1).
    #[arg(long, global = true)]
    outlet: Option<u32>,
    /// The host the operator means; refuses an outlet mapped to another host.
    #[arg(long, global = true)]
    host: Option<String>,
    /// Act on an outlet the inventory maps to no host, or to another host.
    #[arg(long, global = true)]
    force: bool,
    #[arg(long, global = true)]
    json: bool,
    /// The longest wait between state reads after a command: the first
    /// read comes 50 ms after it, then the wait doubles up to this.
    #[arg(long, global = true, default_value_t = 1000)]
    poll_interval_ms: u64,
    #[arg(long, global = true, default_value_t = 20)]
    step_timeout_s: u64,
    #[arg(long, global = true, default_value_t = 2000)]
    timeout_ms: u64,
    #[arg(long, global = true, default_value_t = 2)]
    retries: u32,
    /// Seconds between off and on in a cycle (default: the inventory's, else 5).
    #[arg(long, global = true)]
    delay_s: Option<u64>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Status,
    On,
    Off,
    /// Off, verified; the cycle delay; on, verified.
    Cycle,
    /// Every outlet with its name, state and pending flag.
    List,
    /// sysObjectID, model and outlet count.
    Identify,
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
        eprintln!("e2et-pdu: {e:#}");
        std::process::exit(1);
    }
}

struct Target {
    name: String,
    driver: Arc<dyn PowerDriver>,
    apc: Option<Arc<ApcSnmpDriver>>,
    outlets: u32,
    delay: u64,
    inventory: Option<Inventory>,
}

fn from_flags(cli: &Cli) -> Result<Target> {
    let address = cli
        .address
        .clone()
        .context("give --inventory and --pdu, or --address")?;
    let address = if address.contains(':') {
        address
    } else {
        format!("{address}:161")
    };
    let auth = match cli.snmp_version.as_str() {
        "3" => {
            let auth = cli
                .auth_protocol
                .context("--auth-protocol MD5|SHA|SHA256 is required for SNMPv3")?;
            let apf = cli
                .auth_password_file
                .as_ref()
                .context("--auth-password-file is required for SNMPv3")?;
            let privacy = match (cli.priv_protocol, &cli.priv_password_file) {
                (Some(p), Some(f)) => Some((p, read_secret(f).map_err(anyhow::Error::msg)?)),
                (None, None) => None,
                _ => bail!("--priv-protocol and --priv-password-file go together"),
            };
            SnmpAuth::V3 {
                user: cli.user.clone().context("--user is required for SNMPv3")?,
                auth,
                auth_password: read_secret(apf).map_err(anyhow::Error::msg)?,
                privacy,
            }
        }
        v @ ("1" | "2c") => {
            if !cli.allow_insecure {
                bail!("SNMPv{v} sends the community in clear text: add --allow-insecure to use it anyway");
            }
            let f = cli
                .community_file
                .as_ref()
                .context("--community-file is required for SNMPv1/v2c")?;
            SnmpAuth::Community {
                v1: v == "1",
                community: read_secret(f).map_err(anyhow::Error::msg)?,
            }
        }
        v => bail!("--snmp-version {v}: use 3 (or 2c/1 with --allow-insecure)"),
    };
    let apc = Arc::new(ApcSnmpDriver::new(ApcConfig {
        name: address.clone(),
        address: address.clone(),
        auth,
        table: if cli.masterswitch {
            OutletTable::Masterswitch
        } else {
            OutletTable::Rpdu
        },
        timeout: Duration::from_millis(cli.timeout_ms),
        retries: cli.retries,
    }));
    Ok(Target {
        name: address,
        driver: apc.clone(),
        apc: Some(apc),
        outlets: 0,
        delay: cli.delay_s.unwrap_or(5),
        inventory: None,
    })
}

fn from_inventory(cli: &Cli, path: &std::path::Path) -> Result<Target> {
    let inv = e2et_inventory::load(path)?;
    let name = cli
        .pdu
        .clone()
        .context("--pdu NAME is required with --inventory")?;
    let spec = inv
        .pdus
        .get(&name)
        .with_context(|| format!("PDU {name} is not in the inventory"))?
        .clone();
    let creds = Credentials::from_env_or(cli.credentials_dir.clone());
    let driver = drivers::build(&name, &spec, &creds).map_err(anyhow::Error::msg)?;
    let apc = match spec.driver {
        PduDriverKind::ApcSnmp => {
            let s = spec
                .snmp
                .as_ref()
                .context("apc-snmp PDU without snmp settings")?;
            Some(Arc::new(ApcSnmpDriver::new(ApcConfig {
                name: name.clone(),
                address: spec.address.clone(),
                auth: drivers::snmp_auth(&name, s, &creds).map_err(anyhow::Error::msg)?,
                table: if s.table == "masterswitch" {
                    OutletTable::Masterswitch
                } else {
                    OutletTable::Rpdu
                },
                timeout: Duration::from_millis(s.timeout_ms),
                retries: s.retries,
            })))
        }
        PduDriverKind::Qmp => None,
    };
    Ok(Target {
        name,
        driver,
        apc,
        outlets: spec.outlets,
        delay: cli.delay_s.unwrap_or(spec.cycle_delay_s),
        inventory: Some(inv),
    })
}

#[tokio::main(flavor = "current_thread")]
async fn run() -> Result<()> {
    let cli = Cli::parse();
    let t = match &cli.inventory {
        Some(p) if cli.address.is_none() => from_inventory(&cli, p)?,
        _ => from_flags(&cli)?,
    };
    match cli.cmd {
        Cmd::Identify | Cmd::List => {
            let apc = t
                .apc
                .as_ref()
                .context("identify and list need an SNMP PDU")?;
            let id = apc.identify().await?;
            if cli.cmd == Cmd::Identify {
                if cli.json {
                    println!("{}", serde_json::to_string(&id)?);
                } else {
                    println!(
                        "{}: sysObjectID {}{}, model {}, {} outlets, table {:?}",
                        t.name,
                        id.sys_object_id,
                        if id.sys_object_id == e2et_pdu::apc::oids::RPDU_SYS_OBJECT_ID {
                            " (APC rack PDU)"
                        } else {
                            ""
                        },
                        id.model.as_deref().unwrap_or("unknown"),
                        id.outlets.map_or("?".into(), |n| n.to_string()),
                        id.table
                    );
                }
                return Ok(());
            }
            let count = id.outlets.unwrap_or(t.outlets).max(t.outlets);
            let list = apc.list(count).await?;
            for o in &list {
                let host = t
                    .inventory
                    .as_ref()
                    .and_then(|i| i.host_on_outlet(&t.name, o.outlet));
                if cli.json {
                    println!(
                        "{}",
                        serde_json::json!({"outlet": o.outlet, "name": o.name, "state": o.state, "pending": o.pending, "host": host})
                    );
                } else {
                    println!(
                        "{:>3}  {:<20} {:<4} {}{}",
                        o.outlet,
                        o.name,
                        o.state.map_or("?", |s| s.as_str()),
                        if o.pending == Some(true) {
                            "(command pending) "
                        } else {
                            ""
                        },
                        host.map_or(String::new(), |h| format!("host {h}"))
                    );
                }
            }
            return Ok(());
        }
        _ => {}
    }
    let outlet = cli.outlet.context("--outlet N is required")?;
    if t.outlets > 0 && (outlet == 0 || outlet > t.outlets) {
        bail!("PDU {} has outlets 1..={}, not {outlet}", t.name, t.outlets);
    }
    let mapped = t
        .inventory
        .as_ref()
        .and_then(|i| i.host_on_outlet(&t.name, outlet));
    if cli.cmd != Cmd::Status && !cli.force {
        match (mapped, &cli.host, &t.inventory) {
            (_, _, None) => bail!("no inventory to check outlet {outlet} of {} against: pass --inventory, or --force", t.name),
            (None, _, _) => bail!("outlet {outlet} of PDU {} powers no host in the inventory; refusing without --force", t.name),
            (Some(m), Some(h), _) if m != h => bail!("outlet {outlet} of PDU {} powers host {m}, not {h}; refusing without --force", t.name),
            _ => {}
        }
    }
    let poll = Poll {
        interval: Duration::from_millis(cli.poll_interval_ms),
        timeout: Duration::from_secs(cli.step_timeout_s),
    };
    let feeds = [Feed {
        pdu: t.name.clone(),
        outlet,
        driver: t.driver.clone(),
    }];
    let steps = match cli.cmd {
        Cmd::Status => {
            let s = t.driver.status(outlet).await?;
            if cli.json {
                println!(
                    "{}",
                    serde_json::json!({"pdu": t.name, "outlet": outlet, "host": mapped, "state": s})
                );
            } else {
                println!(
                    "{} outlet {} ({}): {}",
                    t.name,
                    outlet,
                    mapped.unwrap_or("no host"),
                    s.as_str()
                );
            }
            return Ok(());
        }
        Cmd::On => switch_all(&NoLog, &feeds, PowerState::On, poll).await,
        Cmd::Off => switch_all(&NoLog, &feeds, PowerState::Off, poll).await,
        Cmd::Cycle => {
            let plan = CyclePlan::full(Duration::from_secs(t.delay));
            cycle(&NoLog, &feeds, &plan, None, poll).await
        }
        Cmd::List | Cmd::Identify => unreachable!("handled above"),
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
                "{} {} outlet {}: {} → read back {}{}",
                s.at,
                s.pdu,
                s.outlet,
                s.action,
                s.observed.map_or("nothing", |o| o.as_str()),
                if s.ok { "" } else { " (FAILED)" }
            );
        }
    }
    if let Some(e) = err {
        return Err(e.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_go_before_or_after_the_subcommand() {
        for argv in [
            &["e2et-pdu", "off", "--outlet", "3", "--pdu", "rack1"][..],
            &["e2et-pdu", "--outlet", "3", "off", "--pdu", "rack1"][..],
            &["e2et-pdu", "--outlet", "3", "--pdu", "rack1", "off"][..],
        ] {
            let c = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
            assert!(c.cmd == Cmd::Off && c.outlet == Some(3), "{argv:?}");
            assert_eq!(c.pdu.as_deref(), Some("rack1"));
        }
    }
}
