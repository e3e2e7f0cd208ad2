//! `switchboard bench --scenario reports`: seeds an organization
//! `bench-reports` with `SWITCHBOARD_BENCH_TICKETS` incidents (default
//! 1,000,000) over the last 12 months in the configured database — people,
//! teams and categories through the use cases, tickets, their state changes
//! and SLA outcomes in bulk SQL (`store::reports::seed_bench`) — then runs
//! each report `SWITCHBOARD_BENCH_RUNS` times (default 20) through the same
//! use case as the API and prints p50, p95 and max. Seeding happens once;
//! a second run measures the same data. Targets: BENCHMARKS.md.

use std::{process::ExitCode, time::Instant};

use anyhow::Context;
use chrono::{Duration, SecondsFormat, Utc};

use crate::{
    app,
    cli::bench::load::BenchArgs,
    config::Config,
    desk::{reports::ReportQuery, Actor, Desk, DeskError},
    domain::{report::ReportKind, Channel},
    store,
};

const ORG: &str = "bench-reports";
const TEAMS: usize = 8;
const AGENTS: usize = 24;
const CATEGORIES: usize = 6;

pub(super) fn env_number(name: &str, default: i64) -> anyhow::Result<i64> {
    match std::env::var(name) {
        Ok(v) => v
            .replace(['_', ','], "")
            .parse()
            .with_context(|| format!("{name}={v} is not a whole number")),
        Err(_) => Ok(default),
    }
}

async fn call<T: Send + 'static>(
    desk: &Desk,
    actor: &Actor,
    f: impl for<'w> FnOnce(
            Desk,
            &'w mut crate::desk::Work,
            Actor,
        ) -> futures::future::BoxFuture<'w, Result<T, DeskError>>
        + Clone
        + Send
        + 'static,
) -> anyhow::Result<T> {
    let d = desk.clone();
    let a = actor.clone();
    desk.execute(move |w| f(d, w, a))
        .await
        .context("seeding the reports benchmark")
}

/// People, teams and categories, then the tickets in bulk.
pub(super) async fn seed(desk: &Desk, admin: &Actor, n: i64) -> anyhow::Result<()> {
    let mut agents = Vec::new();
    for i in 0..AGENTS {
        let name = format!("Bench agent {i:02}");
        let email = format!("agent{i:02}@bench.example");
        let roles = vec!["agent".to_string()];
        let person = call(desk, admin, move |d, w, a| {
            Box::pin(async move { d.create_person(w, &a, &name, Some(&email), &roles).await })
        })
        .await?;
        agents.push(person.id);
    }
    let mut teams = Vec::new();
    for t in 0..TEAMS {
        let name = format!("Team {t}");
        let members: Vec<uuid::Uuid> = agents.iter().skip(t).step_by(TEAMS).copied().collect();
        let team = call(desk, admin, move |d, w, a| {
            Box::pin(async move { d.create_team(w, &a, &name, "bench", None, &members).await })
        })
        .await?;
        teams.push(team.id);
    }
    let mut categories = Vec::new();
    for c in 0..CATEGORIES {
        let name = format!("Category {c}");
        let team = format!("Team {}", c % TEAMS);
        let category = call(desk, admin, move |d, w, a| {
            Box::pin(async move { d.create_category(w, &a, &name, Some(team.as_str())).await })
        })
        .await?;
        categories.push(category.id);
    }
    let start = Utc::now() - Duration::days(365);
    let began = Instant::now();
    let mut tx = desk.db.begin().await?;
    let plan = store::reports::BenchSeed {
        tickets: n,
        start,
        span_secs: 365 * 86_400,
        teams,
        agents,
        categories,
    };
    let written = store::reports::seed_bench(&mut tx, admin.org_id, &plan)
        .await
        .context("bulk seeding tickets")?;
    tx.commit().await?;
    let mut tx = desk.db.begin().await?;
    store::reports::analyze(&mut tx).await?;
    tx.commit().await?;
    println!(
        "seeded {written} tickets (with state changes and SLA outcomes) in {:.1} s",
        began.elapsed().as_secs_f64()
    );
    Ok(())
}

fn stamp(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub async fn run(config: &Config, _args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let n = env_number("SWITCHBOARD_BENCH_TICKETS", 1_000_000)?;
    let runs = env_number("SWITCHBOARD_BENCH_RUNS", 20)?.max(1) as usize;
    let db = app::open_database(config).await?;
    let desk = app::build_desk(config, db)?;
    desk.ensure_org(ORG).await?;
    let token = desk.create_token(ORG, "admin", "bench").await?;
    let admin = desk.authenticate_token(&token, Channel::Api).await?;
    let mut tx = desk.db.read().await?;
    let existing = store::reports::count_tickets(&mut tx, admin.org_id).await?;
    drop(tx);
    if existing == 0 {
        seed(&desk, &admin, n).await?;
    } else {
        println!("{ORG} already holds {existing} tickets; measuring those");
    }

    let now = Utc::now();
    let year = stamp(now - Duration::days(365));
    let month = stamp(now - Duration::days(30));
    let to = stamp(now);
    let q = |from: &str, interval: Option<&str>, group: Option<&str>| ReportQuery {
        from: Some(from.to_string()),
        to: Some(to.clone()),
        interval: interval.map(String::from),
        group_by: group.map(String::from),
        ..ReportQuery::default()
    };
    let cases = [
        ("dashboard", ReportKind::Dashboard, ReportQuery::default()),
        (
            "volume day x team, 12 months",
            ReportKind::Volume,
            q(&year, Some("day"), Some("team")),
        ),
        (
            "volume week, 12 months",
            ReportKind::Volume,
            q(&year, Some("week"), None),
        ),
        (
            "sla by team, 30 days",
            ReportKind::Sla,
            q(&month, None, Some("team")),
        ),
        ("agents, 30 days", ReportKind::Agents, q(&month, None, None)),
        (
            "agents, 12 months",
            ReportKind::Agents,
            q(&year, None, None),
        ),
        (
            "processes, 30 days",
            ReportKind::Processes,
            q(&month, None, None),
        ),
    ];
    let tickets = if existing == 0 { n } else { existing };
    println!(
        "backend={} tickets={tickets} runs={runs}",
        desk.db.backend()
    );
    for (name, kind, query) in cases {
        // One run to warm caches and statements, not counted.
        desk.report(&admin, kind, &query)
            .await
            .with_context(|| format!("report {name}"))?;
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let began = Instant::now();
            desk.report(&admin, kind, &query)
                .await
                .with_context(|| format!("report {name}"))?;
            times.push(began.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        let at = |p: usize| times[((p * times.len()).div_ceil(100)).max(1) - 1];
        println!(
            "{name:<32} p50={:>8.1} ms  p95={:>8.1} ms  max={:>8.1} ms",
            at(50),
            at(95),
            times[times.len() - 1]
        );
    }
    Ok(ExitCode::SUCCESS)
}
