//! The `switchboard` command line: argument parsing and dispatch only; the
//! commands' bodies live in the library's `cli` module.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use switchboard::{cli, config::Config, telemetry};

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
    /// Manage organizations (tenants).
    Org {
        #[command(subcommand)]
        command: OrgCommand,
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
    /// Attachment storage.
    Storage {
        #[command(subcommand)]
        command: StorageCommand,
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
    Report(cli::report::ReportArgs),
    /// Load benchmark against a running daemon (see BENCHMARKS.md).
    Bench(cli::bench::load::BenchArgs),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration (defaults < file < environment) with
    /// secrets redacted; exit 2 naming the bad key when something is invalid.
    Check,
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organization unless it exists (the only command that
    /// creates one).
    Create {
        /// Its slug: lowercase letters, digits and hyphens.
        slug: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token and print it alone on standard output.
    Create {
        /// Organization slug; it must exist (the first start creates
        /// `default`; `switchboard org create` others).
        #[arg(long, default_value = "default")]
        org: String,
        /// Role the token acts with: requester, agent, approver, manager or
        /// admin; or `scim` for a token that may call only SCIM (`/scim/v2`).
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
    Bench(cli::bench::sla::SlaBenchArgs),
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
enum StorageCommand {
    /// Copy attachment content from another backend into the configured one
    /// (checked by hash, resumable; the source is left as it was).
    Migrate {
        /// Where the content is now: filesystem, database or s3.
        #[arg(long)]
        from: String,
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
        cli::config::check(&config);
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
        Command::Serve => cli::serve::serve(config, false).await,
        Command::Demo => cli::serve::serve(config, true).await,
        Command::Migrate => cli::serve::migrate(config).await,
        Command::Config { .. } => Ok(ExitCode::SUCCESS),
        Command::Org {
            command: OrgCommand::Create { slug },
        } => cli::org::create(config, &slug).await,
        Command::Token {
            command: TokenCommand::Create { org, role, name },
        } => cli::token::create(config, &org, &role, &name).await,
        Command::Audit {
            command: AuditCommand::Verify,
        } => cli::audit::verify(config).await,
        Command::Storage {
            command: StorageCommand::Migrate { from },
        } => cli::storage::migrate(config, &from).await,
        Command::Cmdb {
            command:
                CmdbCommand::Import {
                    file,
                    org,
                    batch,
                    quiet,
                },
        } => cli::import::command(config, &file, &org, batch, quiet).await,
        Command::Sla {
            command: SlaCommand::Replay { ticket, org },
        } => cli::sla::replay(config, &org, ticket.as_deref()).await,
        Command::Sla {
            command: SlaCommand::Bench(args),
        } => cli::sla::bench(config, args).await,
        Command::Discord {
            command: DiscordCommand::RegisterCommands { guild, file },
        } => cli::discord::register_commands(config, guild, file.as_deref()).await,
        Command::Report(args) => cli::report::run(&config, args).await,
        Command::Bench(args) => cli::bench::run(config, args).await,
    }
}
