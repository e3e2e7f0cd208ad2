//! The `switchboard` command line: a thin shell over the library.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::{Parser, Subcommand};
use switchboard::{
    app::{self, Application},
    config::Config,
    demo, store, telemetry,
};

/// Switchboard — IT service management as a chat-ops daemon.
///
/// Tickets from Slack, Discord, email and a REST API; SLAs, approvals and
/// notifications run on their own. With no configuration it runs on an
/// embedded SQLite file (switchboard.db) at http://127.0.0.1:8080.
#[derive(Parser)]
#[command(name = "switchboard", version, propagate_version = true)]
struct Cli {
    /// Configuration file (TOML). Default: ./switchboard.toml when present.
    /// Every key can also be set as SWITCHBOARD__SECTION__KEY.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: HTTP API, webhooks, timers (migrates the database first).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Seed a demo organization with sample teams, people and tickets, print an
    /// admin token and a curl example, then serve.
    Demo,
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Check the tamper-evident audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The configuration management database.
    Cmdb {
        #[command(subcommand)]
        command: CmdbCommand,
    },
    /// SLA clocks.
    Sla {
        #[command(subcommand)]
        command: SlaCommand,
    },
    /// The Discord application.
    Discord {
        #[command(subcommand)]
        command: DiscordCommand,
    },
    /// A report (dashboard, volume, sla, agents, processes) as JSON or CSV.
    Report(switchboard::cli::report::ReportArgs),
    /// Load benchmark against a running daemon (see BENCHMARKS.md).
    Bench(switchboard::bench::BenchArgs),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration (defaults < file < environment) with
    /// secrets redacted; exit 2 naming the bad key when something is invalid.
    Check,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token and print it alone on standard output.
    Create {
        /// Organization slug (the first start creates `default`).
        #[arg(long, default_value = "default")]
        org: String,
        /// Role the token acts with: requester, agent, approver, manager or admin.
        #[arg(long)]
        role: String,
        /// A name to recognise the token by.
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

#[derive(Subcommand)]
enum CmdbCommand {
    /// Import configuration items and relationships from a file, idempotently
    /// (matched by external_id). CSV items: external_id,class,name[,lifecycle,
    /// criticality,owner_team,attr.<name>…]; CSV relationships:
    /// source_external_id,kind,target_external_id; JSON as the bulk API;
    /// JSON Lines one record a line. Errors are reported by line.
    Import {
        /// .csv, .json, .jsonl or .ndjson
        file: PathBuf,
        /// Organization slug.
        #[arg(long, default_value = "default")]
        org: String,
        /// Records per transaction.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// No progress bar (for logs and scripts).
        #[arg(long)]
        quiet: bool,
    },
}

#[derive(Subcommand)]
enum SlaCommand {
    /// Recompute SLA state from the activity history alone and compare it
    /// with the live state; exit 1 when any ticket differs.
    Replay {
        /// One ticket number; all tickets with an SLA when absent.
        #[arg(long)]
        ticket: Option<String>,
        /// Organization slug.
        #[arg(long, default_value = "default")]
        org: String,
    },
    /// Benchmark due-date arithmetic and timer firing (see BENCHMARKS.md);
    /// uses the configured database for the timers.
    Bench(switchboard::bench_sla::SlaBenchArgs),
}

#[derive(Subcommand)]
enum DiscordCommand {
    /// Register (replace) the application's commands from
    /// bot-manifest/discord-commands.json: globally, or in one guild (at once).
    RegisterCommands {
        /// A guild id: register there only (no propagation delay).
        #[arg(long)]
        guild: Option<String>,
        /// Another commands file; the built-in copy of the manifest by default.
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute every organization's hash chain; exit 1 at the first broken link.
    Verify,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("switchboard: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Command::Config {
        command: ConfigCommand::Check,
    } = cli.command
    {
        print!("{}", config.redacted_toml());
        return ExitCode::SUCCESS;
    }
    telemetry::init(&config.log);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("switchboard: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("switchboard: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => serve(config, false).await,
        Command::Demo => serve(config, true).await,
        Command::Migrate => {
            let db = app::open_database(&config).await?;
            tracing::info!(backend = db.backend(), "migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { .. } => Ok(ExitCode::SUCCESS),
        Command::Token {
            command: TokenCommand::Create { org, role, name },
        } => {
            let db = app::open_database(&config).await?;
            let desk = app::build_desk(&config, db);
            desk.ensure_org(switchboard::desk::admin::DEFAULT_ORG)
                .await?;
            let token = desk.create_token(&org, &role, &name).await?;
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let db = app::open_database(&config).await?;
            let mut ok = true;
            for org in store::orgs::list_orgs(&db).await? {
                match switchboard::desk::audit_verify(&db, org.id).await {
                    Ok(n) => println!("{}: {n} entries, chain intact", org.slug),
                    Err(e) => {
                        ok = false;
                        println!("{}: TAMPERED: {e}", org.slug);
                    }
                }
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Cmdb {
            command:
                CmdbCommand::Import {
                    file,
                    org,
                    batch,
                    quiet,
                },
        } => {
            let db = app::open_database(&config).await?;
            let desk = app::build_desk(&config, db);
            desk.ensure_org(switchboard::desk::admin::DEFAULT_ORG)
                .await?;
            let (org, _) = desk.ensure_org(&org).await?;
            desk.ensure_default_classes_everywhere().await?;
            let actor = switchboard::desk::Actor::system(org.id);
            let report = switchboard::import::import(&desk, &actor, &file, batch, !quiet).await?;
            let r = &report.result;
            println!(
                "created {} CIs, updated {}, unchanged {}; relationships: {} new, {} existing",
                r.created,
                r.updated,
                r.unchanged,
                r.relationships_created,
                r.relationships_existing
            );
            if report.errors.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                for e in &report.errors {
                    eprintln!("{}: {e}", file.display());
                }
                Ok(ExitCode::FAILURE)
            }
        }
        Command::Sla {
            command: SlaCommand::Replay { ticket, org },
        } => {
            let db = app::open_database(&config).await?;
            let desk = app::build_desk(&config, db);
            let reports = desk.replay_sla(&org, ticket.as_deref()).await?;
            let mut ok = true;
            for report in &reports {
                if report.consistent {
                    println!(
                        "{}: consistent ({} clocks)",
                        report.number,
                        report.live.len()
                    );
                } else {
                    ok = false;
                    println!(
                        "{}: DIFFERS\n  live:     {}\n  replayed: {}",
                        report.number,
                        serde_json::to_string(&report.live)?,
                        serde_json::to_string(&report.replayed)?
                    );
                }
            }
            println!("{} tickets replayed", reports.len());
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Sla {
            command: SlaCommand::Bench(args),
        } => {
            let desk = if args.timers > 0 {
                let db = app::open_database(&config).await?;
                Some(app::build_desk(&config, db))
            } else {
                None
            };
            match desk {
                Some(desk) => switchboard::bench_sla::run(&desk, &args).await?,
                None => {
                    let (secs, _) = switchboard::bench_sla::due_dates(args.tickets)?;
                    println!(
                        "due dates: {} tickets x 2 targets in {secs:.3} s",
                        args.tickets
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Discord {
            command: DiscordCommand::RegisterCommands { guild, file },
        } => {
            let commands = match &file {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?,
                None => switchboard::channels::discord::COMMANDS.to_string(),
            };
            let names = switchboard::channels::discord::register_commands(
                &config.discord,
                guild.as_deref(),
                &commands,
            )
            .await?;
            println!(
                "registered {} commands {}: {}",
                names.len(),
                guild.map_or("globally".to_string(), |g| format!("in guild {g}")),
                names.join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Report(args) => switchboard::cli::report::run(&config, args).await,
        Command::Bench(args) if args.scenario == "reports" => {
            switchboard::cli::bench_reports::run(&config, &args).await
        }
        Command::Bench(args) if args.scenario == "email" => {
            switchboard::bench_email::run(config, args.messages)
                .await
                .map(|()| ExitCode::SUCCESS)
        }
        Command::Bench(args) => switchboard::bench::run(args)
            .await
            .map(|()| ExitCode::SUCCESS),
    }
}

async fn serve(config: Config, demo: bool) -> anyhow::Result<ExitCode> {
    // Handlers first: a SIGTERM during start-up still shuts down cleanly.
    let stop = app::shutdown_signal();
    let application = Application::build(config.clone(), true).await?;
    let addr = application.local_addr();
    let connectors: Vec<String> = config
        .connectors()
        .into_iter()
        .map(|(name, on)| format!("{name}={}", if on { "on" } else { "off" }))
        .collect();
    tracing::info!(%addr, database = application.desk().db.backend(), connectors = %connectors.join(" "), "switchboard listening");
    if let Some(token) = &application.bootstrap_token {
        println!("First start: created organization `default` and this admin token (shown once, keep it):\n\n    {token}\n");
    }
    if demo {
        let token = demo::seed(application.desk())
            .await
            .context("seeding the demo organization")?;
        println!(
            "Demo organization `demo` is ready. Admin token:\n\n    {token}\n\nTry:\n\n    curl -s -H 'Authorization: Bearer {token}' 'http://{addr}/api/v1/tickets?limit=5'\n\n    curl -s -X POST -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\\n      -d '{{\"kind\":\"incident\",\"title\":\"Printer on fire\",\"impact\":\"high\",\"urgency\":\"high\"}}' http://{addr}/api/v1/tickets\n"
        );
    }
    application.run_until_stopped(stop).await?;
    Ok(ExitCode::SUCCESS)
}
