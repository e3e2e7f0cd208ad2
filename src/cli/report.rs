//! `switchboard report <dashboard|volume|sla|agents|processes>`: a report
//! of one organization, run as the system through the same desk use case
//! and the same encoders as the API, so the numbers and bytes are the
//! API's. Standard output unless `--output` names a file.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context;

use crate::{
    app,
    config::Config,
    desk::{
        reports::{
            document::{self, parse_format},
            ReportQuery,
        },
        DeskError,
    },
    domain::report::{Format, ReportKind},
};

#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// dashboard, volume, sla, agents or processes.
    pub report: String,
    /// Organization slug.
    #[arg(long, default_value = "default")]
    pub org: String,
    /// Start of the period (RFC 3339); default 30 days before `--to`.
    #[arg(long)]
    pub from: Option<String>,
    /// End of the period (RFC 3339, exclusive); default now.
    #[arg(long)]
    pub to: Option<String>,
    /// Volume: day, week or month.
    #[arg(long)]
    pub interval: Option<String>,
    /// Volume: none, kind, team, priority, channel, category; SLA: policy, team, priority, category.
    #[arg(long)]
    pub group_by: Option<String>,
    /// json, csv, xlsx, pdf, png (the report's chart) or svg.
    #[arg(long, default_value = "json")]
    pub format: String,
    #[arg(long)]
    pub team: Option<String>,
    #[arg(long)]
    pub kind: Option<String>,
    #[arg(long)]
    pub priority: Option<String>,
    #[arg(long)]
    pub category: Option<String>,
    #[arg(long)]
    pub channel: Option<String>,
    /// Assignee: email address or person id.
    #[arg(long)]
    pub agent: Option<String>,
    /// IANA time zone for buckets; default the organization's.
    #[arg(long)]
    pub time_zone: Option<String>,
    /// Write here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

impl ReportArgs {
    fn query(&self) -> ReportQuery {
        ReportQuery {
            from: self.from.clone(),
            to: self.to.clone(),
            interval: self.interval.clone(),
            group_by: self.group_by.clone(),
            format: Some(self.format.clone()),
            team: self.team.clone(),
            kind: self.kind.clone(),
            priority: self.priority.clone(),
            category: self.category.clone(),
            channel: self.channel.clone(),
            agent: self.agent.clone(),
            time_zone: self.time_zone.clone(),
        }
    }
}

/// Bad parameters are reported like the API's 400s and exit with 2.
pub async fn run(config: &Config, args: ReportArgs) -> anyhow::Result<ExitCode> {
    let kind = match ReportKind::parse(&args.report) {
        Ok(kind) => kind,
        Err(e) => {
            eprintln!("switchboard report: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let format = match parse_format(Some(&args.format)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("switchboard report: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let db = app::open_database(config).await?;
    let desk = app::build_desk(config, db)?;
    let actor = desk
        .report_actor(&args.org)
        .await
        .with_context(|| format!("finding organization `{}`", args.org))?;
    let (request, report) = match desk.report(&actor, kind, &args.query()).await {
        Ok(r) => r,
        Err(DeskError::Invalid(fields)) => {
            for f in fields {
                eprintln!("switchboard report: `{}`: {}", f.field, f.message);
            }
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(anyhow::Error::new(e).context(format!("running the {kind} report"))),
    };
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let target = args
        .output
        .as_deref()
        .unwrap_or(Path::new("standard output"));
    match format {
        Format::Csv => {
            let doc = document::document(&request, &report);
            let table = document::main_table(&doc)
                .cloned()
                .with_context(|| format!("the {kind} report has no table"))?;
            for chunk in document::csv_chunks(table) {
                out.write_all(&chunk.context("encoding CSV")?)
                    .with_context(|| format!("writing {}", target.display()))?;
            }
        }
        Format::Xlsx | Format::Pdf | Format::Png | Format::Svg => {
            let doc = document::document(&request, &report);
            let bytes = document::export_bytes(format, &doc)
                .with_context(|| format!("writing the {kind} report as {format}"))?;
            out.write_all(&bytes)
                .with_context(|| format!("writing {}", target.display()))?;
        }
        Format::Json => {
            serde_json::to_writer(&mut out, &report).context("encoding JSON")?;
            if args.output.is_none() {
                out.write_all(b"\n").context("writing standard output")?;
            }
        }
    }
    out.flush()
        .with_context(|| format!("writing {}", target.display()))?;
    Ok(ExitCode::SUCCESS)
}
