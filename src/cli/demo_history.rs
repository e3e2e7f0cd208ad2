//! 90 days of history for `switchboard demo`, so every report has
//! something to show on first run: tickets opened through the real use
//! cases (numbers, activity, audit as for real input), assigned, worked,
//! resolved, some reopened and resolved again, some closed, rated by their
//! requesters, with SLA outcomes met and breached.
//!
//! The use cases stamp what they write with the present (`store::now`, not
//! the desk's movable clock), so each ticket's recorded instants are then
//! placed on a made-up timeline in the past (`store::reports::
//! place_ticket_history`): creations spread over 90 days in working hours,
//! first responses minutes to hours later, resolutions hours to days later.
//! The timeline is deterministic (a fixed seed), so two demos look alike.

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};

use crate::{
    desk::{
        tickets::{Assignment, OpenTicket},
        views::TicketView,
        Actor, Desk, DeskError,
    },
    domain::Channel,
    store::{self, sla::OutcomeRow},
};

/// The categories `demo::seed` makes, with the team each belongs to.
const CATEGORIES: &[(&str, &str)] = &[
    ("Access", "Service Desk"),
    ("Hardware", "Service Desk"),
    ("Network", "Network"),
    ("Email", "Platform"),
    ("Database", "Platform"),
];

/// The agents of each of `demo::seed`'s teams. An automation rule may move
/// a new ticket to another team after the view of it was made, so the
/// assignment names the team as well as an agent of it.
const TEAM_AGENTS: &[(&str, &[&str])] = &[
    (
        "Service Desk",
        &["alice@demo.example", "bilal@demo.example"],
    ),
    ("Network", &["bilal@demo.example", "chen@demo.example"]),
    ("Platform", &["chen@demo.example", "alice@demo.example"]),
];

const REQUESTERS: &[&str] = &[
    "dana@demo.example",
    "emil@demo.example",
    "fatima@demo.example",
];

const TITLES: &[&str] = &[
    "Cannot sign in",
    "Laptop will not boot",
    "Wi-Fi drops in meeting room",
    "Mailbox full",
    "Report query times out",
    "Need access to shared drive",
    "Printer jams",
    "VPN slow from home",
];

const DAYS: i64 = 90;
const PER_DAY: i64 = 3;

/// Resolution target per priority, minutes (the demo's SLA outcomes).
fn resolution_goal(priority: &str) -> i64 {
    match priority {
        "p1" => 4 * 60,
        "p2" => 8 * 60,
        "p3" => 24 * 60,
        _ => 72 * 60,
    }
}

/// A small deterministic generator (xorshift64*): the demo needs variety,
/// not randomness.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// 0..n
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

async fn run<T: Send + 'static>(
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
        .context("seeding demo history")
}

/// Seeds the history into `org` (whose people, teams and categories
/// `demo::seed` made). Returns the number of tickets.
pub async fn seed(desk: &Desk, admin: &Actor) -> anyhow::Result<usize> {
    // Reports cut days in the organization's zone; London shows the
    // October DST change in the daily volume.
    let mut tx = desk.db.begin().await?;
    store::reports::set_org_time_zone(&mut tx, admin.org_id, "Europe/London").await?;
    tx.commit().await?;
    let mut dice = Dice(0x5eed_2026_1206);
    let now = Utc::now();
    let start = now - Duration::days(DAYS);
    let mut count = 0;
    for day in 0..DAYS {
        for slot in 0..PER_DAY {
            // Working hours 07:00–19:00 UTC, some evenings.
            let minute = 7 * 60 + dice.below(12 * 60) as i64 + if slot == 2 { 120 } else { 0 };
            let created = start + Duration::days(day) + Duration::minutes(minute);
            if created >= now - Duration::hours(1) {
                continue;
            }
            seed_ticket(desk, admin, &mut dice, created, now, count).await?;
            count += 1;
        }
    }
    Ok(count)
}

async fn seed_ticket(
    desk: &Desk,
    admin: &Actor,
    dice: &mut Dice,
    created: DateTime<Utc>,
    now: DateTime<Utc>,
    i: usize,
) -> anyhow::Result<()> {
    let (category, team) = CATEGORIES[dice.below(CATEGORIES.len() as u64) as usize];
    let levels = ["high", "medium", "low"];
    let impact = levels[dice.below(3) as usize];
    let urgency = levels[dice.below(3) as usize];
    let input = OpenTicket {
        tags: Vec::new(),
        kind: if dice.chance(75) {
            "incident"
        } else {
            "service_request"
        }
        .into(),
        title: format!("{} ({})", TITLES[i % TITLES.len()], i + 1),
        description: "Seeded history for the reports demo.".into(),
        impact: Some(impact.into()),
        urgency: Some(urgency.into()),
        category: Some(category.into()),
        team: None,
        requester: Some(REQUESTERS[i % REQUESTERS.len()].into()),
    };
    let mut opener = admin.clone();
    opener.channel = [
        Channel::Slack,
        Channel::Email,
        Channel::Api,
        Channel::Discord,
    ][dice.below(4) as usize];
    let ticket: TicketView = run(desk, &opener, move |d, w, a| {
        Box::pin(async move { d.open_ticket(w, &a, input).await })
    })
    .await?;
    let number = ticket.number.clone();
    let agents = TEAM_AGENTS
        .iter()
        .find(|(name, _)| *name == team)
        .map_or(&["chen@demo.example"][..], |(_, agents)| *agents);
    let agent = agents[dice.below(agents.len() as u64) as usize].to_string();
    let assigned: TicketView = {
        let number = number.clone();
        let change = Assignment {
            team: Some(Some(team.to_string())),
            assignee: Some(Some(agent)),
        };
        run(desk, admin, move |d, w, a| {
            Box::pin(async move { d.assign(w, &a, &number, change).await })
        })
        .await?
    };

    // The timeline: first response, resolution, maybe a reopening.
    let age = now - created;
    let respond = created + Duration::minutes(5 + dice.below(150) as i64);
    let goal = Duration::minutes(resolution_goal(&ticket.priority));
    let resolve =
        respond + Duration::minutes(30 + dice.below((goal.num_minutes() * 2) as u64) as i64);
    let mut states: Vec<(&str, DateTime<Utc>)> = vec![("in_progress", respond)];
    // Recent tickets are still being worked on more often.
    let resolved = resolve < now && dice.chance(if age < Duration::days(3) { 40 } else { 92 });
    let mut last_resolution = None;
    if resolved {
        states.push(("resolved", resolve));
        last_resolution = Some(resolve);
        let reopen = resolve + Duration::hours(2 + dice.below(40) as i64);
        if dice.chance(8) && reopen < now {
            states.push(("in_progress", reopen));
            let again = reopen + Duration::hours(1 + dice.below(8) as i64);
            if again < now {
                states.push(("resolved", again));
                last_resolution = Some(again);
            }
        }
        let close = last_resolution.unwrap_or(resolve) + Duration::days(3);
        if states.last().map(|s| s.0) == Some("resolved") && close < now && dice.chance(70) {
            states.push(("closed", close));
        }
    }
    for (state, _) in &states {
        let number = number.clone();
        let state = state.to_string();
        run(desk, admin, move |d, w, a| {
            Box::pin(async move { d.transition(w, &a, &number, &state, None).await })
        })
        .await?;
    }

    let moves: Vec<DateTime<Utc>> = states.iter().map(|s| s.1).collect();
    let rating = (last_resolution.is_some() && dice.chance(60)).then(|| {
        // Mostly content, some not.
        [5, 5, 4, 4, 4, 3, 2, 5, 4, 1][dice.below(10) as usize]
    });
    let mut tx = desk.db.begin().await?;
    store::reports::place_ticket_history(
        &mut tx,
        admin.org_id,
        ticket.id,
        created,
        &moves,
        last_resolution,
    )
    .await?;
    if let (Some(score), Some(at)) = (rating, last_resolution) {
        store::tickets::set_satisfaction(&mut tx, admin.org_id, ticket.id, score, at).await?;
    }
    // SLA outcomes as the demo's policy would have decided them: first
    // response in an hour, resolution by priority.
    let team_id = assigned.team.as_ref().map(|t| t.id);
    let outcome = |target: &str, goal: Duration, done: Option<DateTime<Utc>>| {
        let due = created + goal;
        let (outcome, decided) = match done {
            Some(at) if at <= due => ("met", at),
            _ => ("breached", due),
        };
        (decided < now).then(|| OutcomeRow {
            id: uuid::Uuid::now_v7(),
            org_id: admin.org_id,
            ticket_id: ticket.id,
            target: target.into(),
            started_at: created,
            policy_id: None,
            policy_name: "Demo standard".into(),
            team_id,
            priority: ticket.priority.clone(),
            kind: ticket.kind.clone(),
            outcome: outcome.into(),
            due_at: Some(due),
            decided_at: decided,
        })
    };
    let first_resolution = moves.get(1).copied().filter(|_| resolved);
    for row in [
        outcome("first_response", Duration::hours(1), Some(respond)),
        outcome("resolution", goal, first_resolution),
    ]
    .into_iter()
    .flatten()
    {
        store::sla::insert_outcome(&mut tx, &row).await?;
    }
    tx.commit().await?;
    Ok(())
}
