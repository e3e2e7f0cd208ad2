//! `switchboard sla replay` and `sla bench`: check SLA state against the
//! activity history, and time the SLA engine.

use std::process::ExitCode;

use super::bench::sla::{self as sla_bench, SlaBenchArgs};
use crate::{app, config::Config};

/// Recomputes SLA state from the activity history of one ticket (or all
/// tickets with an SLA) and compares it with the live state; fails when
/// any ticket differs.
pub async fn replay(config: Config, org: &str, ticket: Option<&str>) -> anyhow::Result<ExitCode> {
    let db = app::open_database(&config).await?;
    let desk = app::build_desk(&config, db)?;
    let reports = desk.replay_sla(org, ticket).await?;
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

/// Times due dates, and — unless `--timers 0` — SLA timers firing through
/// the scheduler against the configured database.
pub async fn bench(config: Config, args: SlaBenchArgs) -> anyhow::Result<ExitCode> {
    let desk = if args.timers > 0 {
        let db = app::open_database(&config).await?;
        Some(app::build_desk(&config, db)?)
    } else {
        None
    };
    match desk {
        Some(desk) => sla_bench::run(&desk, &args).await?,
        None => {
            let (secs, _) = sla_bench::due_dates(args.tickets)?;
            println!(
                "due dates: {} tickets x 2 targets in {secs:.3} s",
                args.tickets
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
