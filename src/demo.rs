//! Sample data for `switchboard demo`: an organization `demo` with teams,
//! people, categories and a few dozen tickets in varied states, created
//! through the same use cases as real input (so activity, audit and
//! numbering are real too).

use anyhow::Context;

use crate::{
    desk::{tickets::OpenTicket, Actor, Desk, DeskError},
    domain::{Channel, Role},
};

pub const DEMO_ORG: &str = "demo";

const PEOPLE: &[(&str, &str, &[&str])] = &[
    ("Alice Moreau", "alice@demo.example", &["agent"]),
    ("Bilal Khan", "bilal@demo.example", &["agent"]),
    ("Chen Wei", "chen@demo.example", &["agent", "manager"]),
    ("Dana Okafor", "dana@demo.example", &["requester"]),
    ("Emil Larsen", "emil@demo.example", &["requester"]),
    (
        "Fatima Zahra",
        "fatima@demo.example",
        &["requester", "approver"],
    ),
];

const TEAMS: &[(&str, &str, &[usize])] = &[
    (
        "Service Desk",
        "First line: accounts, laptops, how-to",
        &[0, 1],
    ),
    ("Network", "LAN, Wi-Fi, VPN, firewalls", &[1, 2]),
    ("Platform", "Servers, databases, CI", &[2, 0]),
];

const CATEGORIES: &[(&str, &str)] = &[
    ("Access", "Service Desk"),
    ("Hardware", "Service Desk"),
    ("Network", "Network"),
    ("Email", "Platform"),
    ("Database", "Platform"),
];

/// (kind, title, category, impact, urgency, states to walk through)
type SeedTicket = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

const TICKETS: &[SeedTicket] = &[
    (
        "incident",
        "VPN disconnects every 10 minutes",
        "Network",
        "medium",
        "high",
        &["in_progress"],
    ),
    (
        "incident",
        "Payroll database unreachable",
        "Database",
        "high",
        "high",
        &["in_progress", "resolved"],
    ),
    (
        "incident",
        "Laptop does not boot after update",
        "Hardware",
        "low",
        "medium",
        &[],
    ),
    (
        "incident",
        "Shared mailbox not syncing",
        "Email",
        "medium",
        "medium",
        &["on_hold"],
    ),
    (
        "incident",
        "Office Wi-Fi slow on 3rd floor",
        "Network",
        "medium",
        "low",
        &["in_progress", "resolved", "closed"],
    ),
    (
        "incident",
        "Printer on 2nd floor jams",
        "Hardware",
        "low",
        "low",
        &["cancelled"],
    ),
    (
        "incident",
        "CI runners out of disk",
        "Database",
        "high",
        "medium",
        &["in_progress"],
    ),
    (
        "incident",
        "Cannot log in to HR portal",
        "Access",
        "medium",
        "high",
        &["resolved"],
    ),
    (
        "incident",
        "Calendar invites arrive twice",
        "Email",
        "low",
        "medium",
        &[],
    ),
    (
        "incident",
        "Badge reader rejects valid badges",
        "Access",
        "medium",
        "medium",
        &["in_progress", "on_hold"],
    ),
    (
        "service_request",
        "New laptop for new hire",
        "Hardware",
        "low",
        "medium",
        &["in_progress"],
    ),
    (
        "service_request",
        "Access to finance share",
        "Access",
        "low",
        "low",
        &["awaiting_approval"],
    ),
    (
        "service_request",
        "Add distribution list sales-emea",
        "Email",
        "low",
        "low",
        &["in_progress", "resolved"],
    ),
    (
        "service_request",
        "Second monitor",
        "Hardware",
        "low",
        "low",
        &[],
    ),
    (
        "service_request",
        "VPN account for contractor",
        "Network",
        "low",
        "medium",
        &["awaiting_approval", "rejected"],
    ),
    (
        "service_request",
        "Database read replica for analytics",
        "Database",
        "medium",
        "low",
        &["in_progress", "resolved", "closed"],
    ),
    (
        "problem",
        "Recurring VPN drops",
        "Network",
        "medium",
        "medium",
        &["investigating"],
    ),
    (
        "problem",
        "Mail sync failures after migration",
        "Email",
        "medium",
        "medium",
        &["investigating", "known_error"],
    ),
    (
        "problem",
        "Disk pressure on CI hosts",
        "Database",
        "high",
        "medium",
        &["investigating", "resolved"],
    ),
    (
        "change",
        "Upgrade core switch firmware",
        "Network",
        "high",
        "medium",
        &["assessment", "awaiting_approval"],
    ),
    (
        "change",
        "Rotate database TLS certificates",
        "Database",
        "medium",
        "medium",
        &["assessment", "scheduled"],
    ),
    (
        "change",
        "Enable MFA for all staff",
        "Access",
        "high",
        "low",
        &[
            "assessment",
            "scheduled",
            "implementing",
            "review",
            "closed",
        ],
    ),
    (
        "change",
        "Decommission old file server",
        "Hardware",
        "low",
        "low",
        &[],
    ),
];

/// Seeds the demo organization unless it exists; returns an admin token.
pub async fn seed(desk: &Desk) -> anyhow::Result<String> {
    let (org, created) = desk.ensure_org(DEMO_ORG).await?;
    let token = desk.create_token(DEMO_ORG, "admin", "demo").await?;
    if !created {
        return Ok(token);
    }
    let admin = desk.authenticate_token(&token, Channel::Api).await?;
    let mut people = Vec::new();
    for (name, email, roles) in PEOPLE {
        let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
        let view = call(desk, &admin, move |d, w, a| {
            Box::pin(async move { d.create_person(w, &a, name, Some(email), &roles).await })
        })
        .await?;
        people.push(view);
    }
    for (name, description, members) in TEAMS {
        let ids: Vec<_> = members.iter().map(|i| people[*i].id).collect();
        let lead = ids.first().copied();
        call(desk, &admin, move |d, w, a| {
            Box::pin(async move { d.create_team(w, &a, name, description, lead, &ids).await })
        })
        .await?;
    }
    for (name, team) in CATEGORIES {
        call(desk, &admin, move |d, w, a| {
            Box::pin(async move { d.create_category(w, &a, name, Some(team)).await })
        })
        .await?;
    }
    let agents = [&people[0], &people[1], &people[2]];
    let requesters = [&people[3], &people[4], &people[5]];
    for (round, suffix) in ["", " (again)"].iter().enumerate() {
        for (i, (kind, title, category, impact, urgency, states)) in TICKETS.iter().enumerate() {
            if round == 1 && i % 2 == 0 {
                continue;
            }
            let requester = requesters[i % requesters.len()];
            let input = OpenTicket {
                kind: kind.to_string(),
                title: format!("{title}{suffix}"),
                description: format!("Reported by {} via the demo seed.", requester.name),
                impact: Some(impact.to_string()),
                urgency: Some(urgency.to_string()),
                category: Some(category.to_string()),
                team: None,
                requester: requester.email.clone(),
            };
            let channel = [
                Channel::Slack,
                Channel::Email,
                Channel::Api,
                Channel::Discord,
            ][i % 4];
            let mut opener = admin.clone();
            opener.channel = channel;
            let ticket = call(desk, &opener, move |d, w, a| {
                Box::pin(async move { d.open_ticket(w, &a, input).await })
            })
            .await?;
            if !states.is_empty() || i % 3 == 0 {
                let agent = agents[i % agents.len()].email.clone();
                let team = ticket.team.as_ref().map(|t| t.id.to_string());
                let number = ticket.number.clone();
                let change = crate::desk::tickets::Assignment {
                    team: None,
                    assignee: Some(agent),
                };
                // The seed agent may not be in the category's team: fall back to the team's lead.
                let assigned = call(desk, &admin, {
                    let number = number.clone();
                    move |d, w, a| Box::pin(async move { d.assign(w, &a, &number, change).await })
                })
                .await;
                if assigned.is_err() {
                    if let Some(team) = team {
                        let lead = desk
                            .get_team(&admin, &team)
                            .await?
                            .lead
                            .map(|id| id.to_string());
                        let change = crate::desk::tickets::Assignment {
                            team: None,
                            assignee: Some(lead),
                        };
                        let number = number.clone();
                        call(desk, &admin, move |d, w, a| {
                            Box::pin(async move { d.assign(w, &a, &number, change).await })
                        })
                        .await?;
                    }
                }
            }
            for state in *states {
                let number = ticket.number.clone();
                call(desk, &admin, move |d, w, a| {
                    Box::pin(async move { d.transition(w, &a, &number, state, None).await })
                })
                .await?;
            }
            if i % 2 == 1 {
                let number = ticket.number.clone();
                let mut requester_actor = admin.clone();
                requester_actor.person_id = Some(requester.id);
                requester_actor.roles = vec![Role::Requester];
                requester_actor.name = requester.name.clone();
                call(desk, &requester_actor, move |d, w, a| {
                    Box::pin(async move {
                        d.add_comment(w, &a, &number, "Any news on this?", false)
                            .await
                    })
                })
                .await?;
            }
        }
    }
    let cmdb: crate::desk::cmdb::BulkUpsert = serde_json::from_value(serde_json::json!({
        "items": [
            { "external_id": "core-sw", "class": "network_device", "name": "core-switch-1", "lifecycle": "in_use", "criticality": "critical", "attributes": { "hostname": "core-sw-1", "kind": "switch" } },
            { "external_id": "host-1", "class": "server", "name": "esx-host-1", "lifecycle": "in_use", "attributes": { "hostname": "esx-host-1", "cpu_count": 32 } },
            { "external_id": "vm-db", "class": "virtual_machine", "name": "payroll-db-vm", "lifecycle": "in_use", "attributes": { "hostname": "payroll-db-vm" } },
            { "external_id": "vm-app", "class": "virtual_machine", "name": "payroll-app-vm", "lifecycle": "in_use", "attributes": { "hostname": "payroll-app-vm" } },
            { "external_id": "db", "class": "database", "name": "payroll-db", "lifecycle": "in_use", "attributes": { "engine": "postgres", "version": "15" } },
            { "external_id": "app", "class": "application", "name": "payroll-app", "lifecycle": "in_use" },
            { "external_id": "svc", "class": "service", "name": "Payroll", "lifecycle": "in_use", "criticality": "critical" }
        ],
        "relationships": [
            { "source_external_id": "host-1", "kind": "connected_to", "target_external_id": "core-sw" },
            { "source_external_id": "vm-db", "kind": "runs_on", "target_external_id": "host-1" },
            { "source_external_id": "vm-app", "kind": "runs_on", "target_external_id": "host-1" },
            { "source_external_id": "db", "kind": "runs_on", "target_external_id": "vm-db" },
            { "source_external_id": "app", "kind": "runs_on", "target_external_id": "vm-app" },
            { "source_external_id": "app", "kind": "depends_on", "target_external_id": "db" },
            { "source_external_id": "svc", "kind": "depends_on", "target_external_id": "app" }
        ]
    }))
    .context("demo CMDB")?;
    call(desk, &admin, move |d, w, a| {
        Box::pin(async move { d.bulk_upsert(w, &a, cmdb).await })
    })
    .await?;
    tracing::info!(org = %org.slug, "demo data seeded");
    Ok(token)
}

/// Runs one use case as `actor` in its own transaction.
async fn call<T, F>(desk: &Desk, actor: &Actor, f: F) -> anyhow::Result<T>
where
    T: serde::Serialize + Send + 'static,
    F: for<'w> FnOnce(
            Desk,
            &'w mut crate::desk::Work,
            Actor,
        ) -> futures::future::BoxFuture<'w, Result<T, DeskError>>
        + Send
        + 'static,
{
    let d = desk.clone();
    let a = actor.clone();
    desk.execute(move |w| f(d, w, a))
        .await
        .context("seeding demo data")
}
