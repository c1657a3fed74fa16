//! e2etd: serve the coordinator, check its configuration, or print the dnsmasq
//! configuration for the inventory.
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use e2et_coordinator::api::{router, sha256, App, AppConfig};
use e2et_coordinator::console::ConsoleConfig;
use e2et_coordinator::ctx::{Ctx, Edges, EngineConfig};
use e2et_coordinator::dnsmasq::{self, DnsmasqOptions};
use e2et_coordinator::store::Store;
use e2et_coordinator::{engine, supervisor};
use e2et_pdu::drivers::{self, Credentials};
use e2et_pdu::Poll;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// mimalloc: the agents' requests allocate and free many short JSON buffers
/// on several threads, where glibc's malloc spends its time consolidating.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(version, about = "e2et coordinator")]
struct Cli {
    /// Inventory: hosts/inventory.nix (evaluated with nix-instantiate) or its JSON.
    #[arg(long, env = "E2ET_INVENTORY", global = true)]
    inventory: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args)]
struct ServeArgs {
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// SQLite database file (created if missing).
    #[arg(long, default_value = "/var/lib/e2et/e2et.db")]
    db: PathBuf,
    /// URL hosts use to reach this coordinator (goes into boot scripts).
    #[arg(long)]
    public_url: String,
    /// Directory served at /boot/artifacts (kernel, initrd).
    #[arg(long)]
    artifacts: PathBuf,
    #[arg(long, default_value = "bzImage")]
    kernel: String,
    #[arg(long, default_value = "initrd")]
    initrd: String,
    /// Extra kernel command line for the netboot image.
    #[arg(long, default_value = "console=ttyS0,115200")]
    cmdline: String,
    /// A role's netboot image, served to the hosts whose inventory names it
    /// (`expect.image`): `<name>=<dir>`, the directory holding `kernel`,
    /// `initrd` and `cmdline`. Repeatable.
    #[arg(long = "image", value_name = "NAME=DIR")]
    images: Vec<String>,
    /// The bound of e2etd's own SSH key exchange with a host after each
    /// validation (connect retries included).
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=300))]
    ssh_timeout_s: u64,
    /// File holding the operator bearer token (systemd credential), at
    /// least 32 bytes (`openssl rand -hex 32`). Required, unless
    /// --insecure-open-operator-api.
    #[arg(long, env = "E2ET_OPERATOR_TOKEN_FILE")]
    operator_token_file: Option<PathBuf>,
    /// Serve the operator API without a token: anyone who reaches e2etd may
    /// create runs (which switch outlets) and release hosts. Only for a lab
    /// on a closed network; logged loudly at start.
    #[arg(long, conflicts_with = "operator_token_file")]
    insecure_open_operator_api: bool,
    /// Notification targets (JSON: ntfy, webhook, smtp; see docs/operator-guide.md);
    /// their secrets are read from the credentials directory.
    #[arg(long, env = "E2ET_NOTIFY_CONFIG")]
    notify_config: Option<PathBuf>,
    /// Runs driven at once (the rest wait in `queued`); each PDU still
    /// serves one command at a time.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_concurrent_runs: u64,
    /// Connections open at once (lowered to what the open-file limit
    /// allows); beyond it, new connections wait to be accepted.
    #[arg(long, default_value_t = 16384, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: u64,
    /// Connections open at once from one source address; beyond it a new
    /// one is closed at once. Each host is one address: one slow or greedy
    /// client cannot take the others' connections.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections_per_ip: u64,
    /// Seconds a client may take to send a request's headers (slow clients
    /// are cut off, freeing their connection).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_read_timeout_s: u64,
    /// Seconds one API request may take, body included (408 beyond); event
    /// streams, throughput uploads and artifact downloads are exempt.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    request_timeout_s: u64,
    /// Event-stream (dashboard SSE) subscribers at once; 503 beyond.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_event_subscribers: u64,
    /// Days old boot-script request rows (written by older e2etd; the log
    /// is now in memory) are kept (0: forever). Runs, facts and reports
    /// never expire.
    #[arg(long, default_value_t = 30)]
    retention_days: u32,
    #[arg(long, default_value_t = 300)]
    hello_timeout_s: u64,
    #[arg(long, default_value_t = 120)]
    facts_timeout_s: u64,
    /// Once an agent said hello, the longest it may stay silent (no
    /// heartbeat) before its host is taken for hung.
    #[arg(long, default_value_t = 60)]
    heartbeat_timeout_s: u64,
    /// dnsmasq's DHCP log (`log-facility` with `log-dhcp`): a stuck run's
    /// reason says when its host's DHCP was last seen.
    #[arg(long)]
    dhcp_log: Option<PathBuf>,
    /// Where each run's serial console is kept, for hosts with
    /// `consoleCapture` (default: `console/` beside the database).
    #[arg(long)]
    console_dir: Option<PathBuf>,
    #[arg(long, default_value_t = 60)]
    soft_off_timeout_s: u64,
    /// After the agent takes the poweroff command, seconds to let the OS shut
    /// down before the outlet is cut (when the PDU cannot see the host off).
    #[arg(long, default_value_t = 10)]
    soft_off_grace_s: u64,
    /// Directory of secrets: PDU (`pdu-<name>-auth`, `pdu-<name>-priv`),
    /// hosts' enrolment keys for quick runs (`agent-<host>`), BMC passwords
    /// for `ipmi-sol:` consoles (`ipmi-<host>`), notification secrets;
    /// defaults to $CREDENTIALS_DIRECTORY (systemd LoadCredential).
    #[arg(long)]
    credentials_dir: Option<PathBuf>,
    /// The ipmitool that reads `ipmi-sol:` consoles (its lanplus interface).
    #[arg(long, default_value = "ipmitool")]
    ipmitool: PathBuf,
    /// Test hook: abort right after entering this state, or after writing
    /// the intent of a power action (`intent:off`), as kill -9 would;
    /// `panic:<state>` panics the run's task there instead.
    #[arg(long, hide = true)]
    crash_after: Option<String>,
    /// Test hook: the intent of this power action (`on`, `off`,
    /// `soft_off`) cannot be recorded, as if the store's disk were full.
    #[arg(long, hide = true)]
    fail_intent: Option<String>,
    /// The longest wait between state reads after a command: the first
    /// read comes 50 ms after it, then the wait doubles up to this.
    #[arg(long, default_value_t = 1000)]
    poll_interval_ms: u64,
    #[arg(long, default_value_t = 20)]
    step_timeout_s: u64,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the coordinator.
    Serve(Box<ServeArgs>),
    /// Validate the inventory and configuration, then exit (used at build time).
    CheckConfig,
    /// Print the dnsmasq configuration for the inventory.
    DnsmasqConfig {
        #[arg(long)]
        interface: String,
        #[arg(long)]
        subnet: String,
        #[arg(long, default_value = "255.255.255.0")]
        netmask: String,
        #[arg(long)]
        public_url: String,
        #[arg(long)]
        tftp_root: Option<String>,
        #[arg(long)]
        router_advertisements: bool,
        #[arg(long)]
        dhcp_log: Option<String>,
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
        eprintln!("e2etd: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    let inv_path = cli
        .inventory
        .context("--inventory (or E2ET_INVENTORY) is required")?;
    let inventory = e2et_inventory::load(&inv_path)?;
    match cli.cmd {
        Cmd::CheckConfig => {
            // Secrets are not available at build time: only the settings are
            // checked here; a missing secret fails that PDU's runs at start.
            println!(
                "inventory {}: {} host(s), {} PDU(s): ok",
                inv_path.display(),
                inventory.hosts.len(),
                inventory.pdus.len()
            );
            Ok(())
        }
        Cmd::DnsmasqConfig {
            interface,
            subnet,
            netmask,
            public_url,
            tftp_root,
            router_advertisements,
            dhcp_log,
        } => {
            let conf = dnsmasq::render(
                &inventory,
                &DnsmasqOptions {
                    interface,
                    subnet,
                    netmask,
                    public_url,
                    tftp_root,
                    router_advertisements,
                    dhcp_log,
                },
            )
            .context("dnsmasq-config")?;
            print!("{conf}");
            Ok(())
        }
        Cmd::Serve(a) => serve(inventory, *a),
    }
}

/// One e2etd per database: two would both drive the same runs (and switch
/// their outlets). An exclusive lock on `<db>.lock`, taken before the store
/// is opened and held while serving.
fn lock_store(db: &std::path::Path) -> Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let mut path = db.as_os_str().to_owned();
    path.push(".lock");
    let path = std::path::PathBuf::from(path);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening the store lock {}", path.display()))?;
    // SAFETY: flock on a file descriptor this function owns, open for the
    // call's whole duration; it touches no memory.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    anyhow::ensure!(
        rc == 0,
        "another e2etd is serving {} (it holds {}): stop it first; one coordinator per database",
        db.display(),
        path.display()
    );
    Ok(f)
}

/// The shortest operator token e2etd accepts, in bytes.
const MIN_OPERATOR_TOKEN: usize = 32;

#[tokio::main]
async fn serve(inventory: e2et_model::Inventory, a: ServeArgs) -> Result<()> {
    let images = e2et_coordinator::images::load(&a.images)?;
    let operator_token_sha256 = match (&a.operator_token_file, a.insecure_open_operator_api) {
        (Some(p), _) => {
            let t = std::fs::read_to_string(p)
                .with_context(|| format!("reading operator token file {}", p.display()))?;
            let t = t.trim();
            anyhow::ensure!(
                t.len() >= MIN_OPERATOR_TOKEN,
                "the operator token in {} is {} bytes; it must be at least {MIN_OPERATOR_TOKEN} (e.g. `openssl rand -hex 32`)",
                p.display(),
                t.len()
            );
            Some(sha256(t))
        }
        (None, true) => {
            tracing::error!(
                "--insecure-open-operator-api: the operator API is OPEN; anyone who reaches this e2etd may create runs, switch outlets and release hosts"
            );
            None
        }
        (None, false) => anyhow::bail!(
            "no operator token: pass --operator-token-file FILE (a secret of at least {MIN_OPERATOR_TOKEN} bytes), or --insecure-open-operator-api for a lab on a closed network"
        ),
    };
    if let Some(dir) = a.db.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Held until the process ends (a crash releases it with the process).
    let _lock = lock_store(&a.db)?;
    let store = Store::open(&a.db).with_context(|| format!("opening {}", a.db.display()))?;
    let drivers = drivers::for_inventory(
        &inventory,
        &Credentials::from_env_or(a.credentials_dir.clone()),
    );
    for (name, d) in &drivers {
        if let Err(e) = d {
            tracing::warn!(pdu = %name, "PDU unusable: {e}");
        }
    }
    // A SOL console without its password is captured by no run: say so now
    // (each run's console log says it again).
    let creds = e2et_coordinator::notify::credentials_dir(a.credentials_dir.clone());
    for (host, spec) in &inventory.hosts {
        let sol = spec
            .console_capture
            .as_deref()
            .map(e2et_model::inventory::ConsoleSource::parse);
        if let Some(Ok(e2et_model::inventory::ConsoleSource::IpmiSol(_))) = sol {
            let pw = creds.as_ref().map(|d| d.join(format!("ipmi-{host}")));
            if !pw.as_ref().is_some_and(|p| p.is_file()) {
                tracing::warn!(
                    %host,
                    "console over IPMI SOL not capturable: no password credential ipmi-{host}"
                );
            }
        }
    }
    let public_url = a.public_url.trim_end_matches('/').to_string();
    let notifier = match &a.notify_config {
        Some(p) => {
            let n = e2et_coordinator::notify::Notifier::from_file(
                p,
                e2et_coordinator::notify::credentials_dir(a.credentials_dir.clone()).as_deref(),
                &public_url,
            )?;
            tracing::info!(config = %p.display(), "notifications configured");
            n
        }
        None => e2et_coordinator::notify::Notifier::none(),
    };
    let mut ctx = Ctx::new(
        store,
        inventory,
        drivers,
        EngineConfig {
            hello_timeout: Duration::from_secs(a.hello_timeout_s),
            facts_timeout: Duration::from_secs(a.facts_timeout_s),
            heartbeat_timeout: Duration::from_secs(a.heartbeat_timeout_s),
            soft_off_timeout: Duration::from_secs(a.soft_off_timeout_s),
            soft_off_grace: Duration::from_secs(a.soft_off_grace_s),
            poll: Poll {
                interval: Duration::from_millis(a.poll_interval_ms),
                timeout: Duration::from_secs(a.step_timeout_s),
            },
            crash_after: a.crash_after.clone(),
            fail_intent: a.fail_intent.clone(),
            max_runs: usize::try_from(a.max_concurrent_runs).unwrap_or(usize::MAX),
            images: images.keys().cloned().collect(),
            ssh_timeout: Duration::from_secs(a.ssh_timeout_s),
        },
        Edges {
            console: ConsoleConfig {
                dir: Some(a.console_dir.clone().unwrap_or_else(|| {
                    a.db.parent()
                        .unwrap_or(std::path::Path::new("."))
                        .join("console")
                })),
                credentials_dir: e2et_coordinator::notify::credentials_dir(
                    a.credentials_dir.clone(),
                ),
                ipmitool: a.ipmitool.clone(),
            },
            dhcp_log: a.dhcp_log.clone(),
        },
    )
    .context("loading the runs in flight")?;
    ctx.notifier = Arc::new(notifier);
    let ctx = Arc::new(ctx);
    tokio::spawn(e2et_coordinator::notify::follow(
        ctx.notifier.clone(),
        ctx.events.clone(),
        ctx.store.clone(),
    ));
    if a.retention_days > 0 {
        tokio::spawn(e2et_coordinator::janitor::run(
            ctx.store.clone(),
            ctx.consoles.clone(),
            a.retention_days,
            Duration::from_secs(3600),
        ));
    }
    for id in engine::recover(&ctx).await? {
        tracing::info!(run = %id, "resuming run");
        supervisor::spawn(ctx.clone(), id);
    }
    let app = Arc::new(App {
        ctx,
        cfg: AppConfig {
            public_url,
            artifacts: a.artifacts,
            kernel: a.kernel,
            initrd: a.initrd,
            cmdline: a.cmdline,
            images,
            operator_token_sha256,
            credentials_dir: e2et_coordinator::notify::credentials_dir(a.credentials_dir.clone()),
            request_timeout: Duration::from_secs(a.request_timeout_s),
            max_event_subscribers: usize::try_from(a.max_event_subscribers).unwrap_or(usize::MAX),
        },
        session: e2et_coordinator::api::Session::new(),
        sse_slots: Arc::new(tokio::sync::Semaphore::new(
            usize::try_from(a.max_event_subscribers).unwrap_or(usize::MAX),
        )),
    });
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("binding {}", a.listen))?;
    tracing::info!(listen = %a.listen, "e2etd serving");
    // Each request knows its peer's address: boot scripts and agent requests
    // are taken from the host's own address only (lifecycle::claims).
    let limits = e2et_coordinator::serve::Limits {
        max_connections: usize::try_from(a.max_connections).unwrap_or(usize::MAX),
        max_connections_per_ip: usize::try_from(a.max_connections_per_ip).unwrap_or(usize::MAX),
        header_read_timeout: Duration::from_secs(a.header_read_timeout_s),
    }
    .within_open_files();
    tracing::info!(?limits, "connection limits");
    e2et_coordinator::serve::serve(listener, router(app), limits, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
