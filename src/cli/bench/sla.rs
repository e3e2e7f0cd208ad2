//! `switchboard sla bench`: the SLA engine's two benchmark targets
//! (BENCHMARKS.md): due dates for many tickets on a business calendar with
//! holidays, on one core; and firing many due SLA timers end to end through
//! the scheduler against the configured database.

use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};

use crate::{
    desk::{sla::PolicyInput, tickets::OpenTicket, Actor, Desk},
    domain::calendar::{Calendar, CalendarSpec, HolidaySpec},
    workers::scheduler::Scheduler,
};

#[derive(Debug, clap::Args)]
pub struct SlaBenchArgs {
    /// Tickets whose due dates are computed (pure arithmetic, one thread).
    #[arg(long, default_value_t = 1_000_000)]
    pub tickets: usize,
    /// Due SLA timers fired through the scheduler (0 skips the database part).
    #[arg(long, default_value_t = 10_000)]
    pub timers: usize,
    /// Schedulers firing side by side (each claims with SKIP LOCKED).
    #[arg(long, default_value_t = 4)]
    pub schedulers: usize,
    /// Timers per transaction (1: one transaction per timer).
    #[arg(long, default_value_t = crate::workers::scheduler::BATCH)]
    pub batch: i64,
}

/// Office hours with lunch, Monday to Friday, in Berlin, with a year of holidays.
pub fn office_calendar() -> anyhow::Result<Calendar> {
    let day = vec!["08:00-12:00".to_string(), "13:00-17:30".to_string()];
    let holidays = [
        "2026-01-01",
        "2026-04-03",
        "2026-04-06",
        "2026-05-01",
        "2026-05-14",
        "2026-05-25",
        "2026-10-03",
        "2026-12-25",
        "2026-12-26",
        "2027-01-01",
        "2027-03-26",
        "2027-03-29",
    ];
    let spec = CalendarSpec {
        time_zone: "Europe/Berlin".into(),
        always_open: false,
        hours: ["mon", "tue", "wed", "thu", "fri"]
            .iter()
            .map(|d| (d.to_string(), day.clone()))
            .collect(),
        holidays: holidays
            .iter()
            .map(|d| HolidaySpec {
                date: d.to_string(),
                name: None,
                hours: vec![],
            })
            .chain(std::iter::once(HolidaySpec {
                date: "2026-12-24".into(),
                name: Some("Christmas Eve".into()),
                hours: vec!["08:00-12:00".into()],
            }))
            .collect(),
    };
    Calendar::parse(&spec).map_err(|e| anyhow::anyhow!("bench calendar: {e:?}"))
}

/// Due dates (first response 4 h, resolution 3 business days) for `n`
/// tickets opened at spread-out instants over a year; returns seconds taken.
pub fn due_dates(n: usize) -> anyhow::Result<(f64, DateTime<Utc>)> {
    let cal = office_calendar()?;
    let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")?.with_timezone(&Utc);
    let began = Instant::now();
    let mut latest = start;
    for i in 0..n {
        // A new ticket every ~31 s of the year, at odd seconds.
        let opened = start + Duration::seconds((i as i64 * 31_337) % 31_536_000);
        let first = cal.add_business_duration(opened, Duration::hours(4));
        let resolution = cal.add_business_duration(opened, Duration::hours(3 * 8));
        latest = latest.max(first).max(resolution);
    }
    Ok((began.elapsed().as_secs_f64(), latest))
}

pub async fn run(desk: &Desk, args: &SlaBenchArgs) -> anyhow::Result<()> {
    let (secs, latest) = due_dates(args.tickets)?;
    println!(
        "due dates: {} tickets x 2 targets on a business calendar with holidays in {secs:.3} s \
         ({:.0} ns per due date; latest {latest})",
        args.tickets,
        secs * 1e9 / (2 * args.tickets.max(1)) as f64
    );
    if args.timers == 0 {
        return Ok(());
    }
    let (org, _) = desk.ensure_org("sla-bench").await?;
    let actor = Actor::system(org.id);
    let policy = PolicyInput {
        name: format!("bench {}", crate::desk::new_id()),
        position: -1_000_000,
        selector: Default::default(),
        targets: crate::domain::sla::Targets {
            first_response_minutes: Some(30),
            resolution_minutes: None,
            next_response_minutes: None,
        },
        warn_at_percent: vec![],
        pause_states: vec![],
        on_reopen: Default::default(),
        calendar: None,
    };
    let (d, a) = (desk.clone(), actor.clone());
    desk.execute(move |work| Box::pin(async move { d.create_sla_policy(work, &a, policy).await }))
        .await
        .context("creating the bench SLA policy")?;
    let began = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let per_task = args.timers.div_ceil(4);
    for t in 0..4 {
        let (desk, actor) = (desk.clone(), actor.clone());
        let count = per_task.min(args.timers.saturating_sub(t * per_task));
        tasks.spawn(async move {
            for i in 0..count {
                let (d, a) = (desk.clone(), actor.clone());
                let input = OpenTicket {
                    kind: "incident".into(),
                    title: format!("sla bench {t}-{i}"),
                    ..OpenTicket::default()
                };
                desk.execute(move |work| {
                    Box::pin(async move { d.open_ticket(work, &a, input).await })
                })
                .await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    println!(
        "set-up: {} tickets with an SLA clock opened in {:.1} s",
        args.timers,
        began.elapsed().as_secs_f64()
    );
    // Every breach is now due.
    desk.clock.advance(Duration::hours(1));
    let began = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.schedulers.max(1) {
        let scheduler = Scheduler::new(desk.clone(), std::time::Duration::from_millis(50))
            .with_batch(args.batch);
        tasks.spawn(async move { scheduler.run_due().await });
    }
    let mut fired = 0;
    while let Some(done) = tasks.join_next().await {
        fired += done??;
    }
    let secs = began.elapsed().as_secs_f64();
    println!(
        "fired {fired} due SLA timers with {} schedulers, {} per transaction, in {secs:.2} s ({:.0} timers/s)",
        args.schedulers,
        args.batch,
        fired as f64 / secs
    );
    Ok(())
}
