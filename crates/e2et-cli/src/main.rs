//! e2et: start cold runs, follow them, list runs, fetch reports.
use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use e2et_model::api::{ApiError, CreateRunRequest, RunView};
use e2et_model::RunMode;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(version, about = "Operator CLI of e2et")]
struct Cli {
    /// Coordinator base URL.
    #[arg(
        long,
        env = "E2ET_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    server: String,
    /// File holding the operator bearer token.
    #[arg(long, env = "E2ET_TOKEN_FILE", global = true)]
    token_file: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

use e2et_model::api::ReportFormat as Format;

#[derive(Subcommand)]
enum Cmd {
    /// Start a run of HOST (cold unless --quick), show each state as it
    /// happens; exit 0 only when the verdict is passed, 3 when transient, 1
    /// for any other verdict.
    Run {
        host: String,
        /// A quick run: power-cycle the host and revalidate its installed
        /// system (its agent enrols with the host's key), without
        /// reprovisioning. At best transient; never promotes.
        #[arg(long)]
        quick: bool,
        /// Give up following after this many seconds (the run goes on).
        #[arg(long, default_value_t = 1800)]
        follow_timeout_s: u64,
        #[arg(long)]
        json: bool,
    },
    /// List runs.
    Runs {
        #[arg(long)]
        json: bool,
    },
    /// Hold a failed or incomplete run's host for inspection.
    Hold {
        run: String,
        #[arg(long)]
        reason: String,
    },
    /// Release a held host.
    Release {
        run: String,
        #[arg(long)]
        reason: String,
    },
    /// Print a finished run's report.
    Report {
        run: String,
        #[arg(long, default_value = "md", value_parser = report_format())]
        format: Format,
    },
    /// Print a run's serial console as the coordinator kept it (hosts with
    /// `consoleCapture`), while the run is in flight too.
    Console { run: String },
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    fn req(&self, m: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(m, format!("{}{}", self.base, path));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    async fn check(resp: reqwest::Response) -> Result<reqwest::Response> {
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        match serde_json::from_str::<ApiError>(&text) {
            Ok(e) => bail!("coordinator: {} ({}): {}", status, e.code, e.message),
            Err(_) => bail!("coordinator: {status}: {text}"),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    match run().await {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("e2et: {e:#}");
            std::process::exit(2);
        }
    }
}

async fn run() -> Result<i32> {
    let cli = Cli::parse();
    let token = match &cli.token_file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("reading token file {}", p.display()))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    let c = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        base: cli.server.trim_end_matches('/').to_string(),
        token,
    };
    match cli.cmd {
        Cmd::Run {
            host,
            quick,
            follow_timeout_s,
            json,
        } => {
            let resp = c
                .req(reqwest::Method::POST, "/api/v1/runs")
                .json(&CreateRunRequest {
                    host: host.clone(),
                    mode: if quick { RunMode::Quick } else { RunMode::Cold },
                })
                .send()
                .await
                .with_context(|| format!("reaching {}", c.base))?;
            let v: RunView = Client::check(resp).await?.json().await?;
            println!("run {} host {} started ({})", v.id, v.host, v.mode.as_str());
            let deadline = tokio::time::Instant::now() + Duration::from_secs(follow_timeout_s);
            let mut shown = 0usize;
            loop {
                let resp = c
                    .req(reqwest::Method::GET, &format!("/api/v1/runs/{}", v.id))
                    .send()
                    .await;
                let cur: RunView = match resp {
                    Ok(r) => Client::check(r).await?.json().await?,
                    Err(e) => {
                        eprintln!("e2et: coordinator unreachable ({e}); retrying");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        continue;
                    }
                };
                for t in cur.transitions.iter().skip(shown) {
                    println!("{}  {:<15} {}", t.at, t.to, t.note);
                }
                shown = cur.transitions.len();
                if cur.state.is_terminal() {
                    if json {
                        println!("{}", serde_json::to_string_pretty(&cur)?);
                    }
                    println!(
                        "verdict={} score={} zone={} run={}",
                        cur.verdict.map_or("none".into(), |v| v.to_string()),
                        cur.score.map_or("-".into(), |s| format!("{s:.2}")),
                        cur.zone.map_or("-".into(), |z| z.to_string()),
                        cur.id
                    );
                    // 0 passed; 3 transient (everything checked held, but
                    // the run was quick or found drift: not release-eligible);
                    // 1 any other verdict (2 is an error of the CLI itself).
                    return Ok(match cur.verdict {
                        Some(e2et_model::Verdict::Passed) => 0,
                        Some(e2et_model::Verdict::Transient) => 3,
                        _ => 1,
                    });
                }
                if tokio::time::Instant::now() >= deadline {
                    bail!(
                        "run {} still in {} after {follow_timeout_s}s",
                        cur.id,
                        cur.state
                    );
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        Cmd::Runs { json } => {
            let resp = c.req(reqwest::Method::GET, "/api/v1/runs").send().await?;
            let runs: Vec<RunView> = Client::check(resp).await?.json().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
            } else {
                println!(
                    "{:<26} {:<8} {:<12} {:<10} {:>7} {:<8}",
                    "RUN", "HOST", "STATE", "VERDICT", "SCORE", "ZONE"
                );
                for r in runs {
                    println!(
                        "{:<26} {:<8} {:<12} {:<10} {:>7} {:<8}",
                        r.id,
                        r.host,
                        r.state.to_string(),
                        r.verdict.map_or("-".into(), |v| v.to_string()),
                        r.score.map_or("-".into(), |s| format!("{s:.2}")),
                        r.zone.map_or("-".into(), |z| z.to_string())
                    );
                }
            }
            Ok(0)
        }
        cmd @ (Cmd::Hold { .. } | Cmd::Release { .. }) => {
            let (action, run, reason) = match cmd {
                Cmd::Hold { run, reason } => ("hold", run, reason),
                Cmd::Release { run, reason } => ("release", run, reason),
                _ => unreachable!("matched above"),
            };
            let resp = c
                .req(
                    reqwest::Method::POST,
                    &format!("/api/v1/runs/{run}/{action}"),
                )
                .json(&e2et_model::api::ActionRequest { reason })
                .send()
                .await?;
            let v: RunView = Client::check(resp).await?.json().await?;
            println!("run {} host {}: {} ({})", v.id, v.host, v.state, v.note);
            Ok(0)
        }
        Cmd::Report { run, format } => {
            let file = format.file_name();
            let resp = c
                .req(reqwest::Method::GET, &format!("/api/v1/runs/{run}/{file}"))
                .send()
                .await?;
            print!("{}", Client::check(resp).await?.text().await?);
            Ok(0)
        }
        Cmd::Console { run } => {
            let resp = c
                .req(
                    reqwest::Method::GET,
                    &format!("/api/v1/runs/{run}/console.log"),
                )
                .send()
                .await?;
            let bytes = Client::check(resp).await?.bytes().await?;
            use std::io::Write;
            std::io::stdout().write_all(&bytes)?;
            Ok(0)
        }
    }
}

/// `--format`: the report formats by the model's names (one mapping).
fn report_format() -> impl clap::builder::TypedValueParser<Value = e2et_model::api::ReportFormat> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(e2et_model::api::ReportFormat::ALL.map(|f| f.name()))
        .try_map(|s| s.parse::<e2et_model::api::ReportFormat>())
}
