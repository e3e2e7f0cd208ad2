//! Sample data for `switchboard demo`: an organization `demo` with teams,
//! people, categories, an approval policy and a CAB, a catalog, a standard
//! change template, an automation rule and a few dozen tickets in varied
//! states, created through the same use cases as real input (so activity,
//! audit, approvals and numbering are real too).

use anyhow::Context;
use serde_json::json;

use crate::{
    desk::{
        approvals::PolicyInput,
        automation::RuleInput,
        catalog::{ItemInput, OrderInput},
        changes::NewChange,
        tickets::OpenTicket,
        views::TicketView,
        Actor, Desk, DeskError,
    },
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

/// The demo's console sign-ins: an admin, an agent, a requester and an
/// approver, all with [`DEMO_PASSWORD`].
pub const SIGN_INS: &[(&str, &str, &[&str])] = &[
    ("Ada Admin", "admin@demo.example", &["admin", "agent"]),
    ("Alice Moreau", "alice@demo.example", &["agent"]),
    ("Dana Okafor", "dana@demo.example", &["requester"]),
    (
        "Fatima Zahra",
        "fatima@demo.example",
        &["requester", "approver"],
    ),
];

/// The password of every demo sign-in: printed by `switchboard demo`, for
/// trying the console on one's own machine only.
pub const DEMO_PASSWORD: &str = "switchboard-demo";

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
    let access_item = seed_processes(desk, &admin).await?;
    let agents = [&people[0], &people[1], &people[2]];
    let requesters = [&people[3], &people[4], &people[5]];
    for (round, suffix) in ["", " (again)"].iter().enumerate() {
        for (i, (kind, title, category, impact, urgency, states)) in TICKETS.iter().enumerate() {
            if round == 1 && i % 2 == 0 {
                continue;
            }
            let requester = requesters[i % requesters.len()];
            let input = OpenTicket {
                tags: Vec::new(),
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
            let (ticket, states) =
                open_seed_ticket(desk, &opener, input, states, access_item, i).await?;
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
            for state in states {
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
    crate::cli::demo_history::seed(desk, &admin).await?;
    seed_sign_ins(desk, &admin).await?;
    tracing::info!(org = %org.slug, "demo data seeded");
    Ok(token)
}

/// Gives the demo's sign-ins a password the way people get one: an
/// invitation, accepted with its token.
async fn seed_sign_ins(desk: &Desk, admin: &Actor) -> anyhow::Result<()> {
    for (name, email, roles) in SIGN_INS {
        let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
        let invitation = call(desk, admin, move |d, w, a| {
            Box::pin(async move { d.invite(w, &a, email, name, &roles).await })
        })
        .await?;
        let token = invitation
            .accept_url
            .split("token=")
            .nth(1)
            .context("the invitation link carries its token")?;
        desk.register(token.to_string(), DEMO_PASSWORD.to_string())
            .await
            .with_context(|| format!("registering the demo sign-in {email}"))?;
    }
    Ok(())
}

/// Approval policies (a line manager for access requests, a CAB for
/// normal changes), a catalog item, a standard change template and a rule.
/// Returns the catalog item that needs approval.
async fn seed_processes(desk: &Desk, admin: &Actor) -> anyhow::Result<uuid::Uuid> {
    let chen = desk
        .list_people(admin)
        .await?
        .into_iter()
        .find(|p| p.email.as_deref() == Some("chen@demo.example"))
        .context("demo manager")?
        .id;
    let platform = desk.get_team(admin, "Platform").await?.id;
    for (name, default_for, stages) in [
        (
            "Line manager",
            None,
            json!([{ "name": "Manager", "approvers": [{ "type": "person", "id": chen }], "rule": { "type": "any" },
                     "remind_after_minutes": 240, "expire_after_minutes": 2880 }]),
        ),
        (
            "Change Advisory Board",
            Some("normal_change".to_string()),
            json!([{ "name": "CAB", "approvers": [{ "type": "cab", "team": platform }], "rule": { "type": "quorum", "n": 1 } }]),
        ),
    ] {
        let input = PolicyInput {
            name: name.into(),
            description: String::new(),
            stages,
            default_for,
        };
        call(desk, admin, move |d, w, a| {
            Box::pin(async move { d.create_policy(w, &a, input).await })
        })
        .await?;
    }
    call(desk, admin, |d, w, a| {
        Box::pin(async move {
            d.create_catalog_category(w, &a, "Access", "Accounts, shares and permissions", Some(1))
                .await
        })
    })
    .await?;
    let item: ItemInput = serde_json::from_value(json!({
        "name": "Shared folder access",
        "description": "Read or write access to a team share",
        "category": "Access",
        "team": "Service Desk",
        "approval_policy": "Line manager",
        "tasks": ["Grant access", "Tell the requester"],
        "form": { "fields": [
            { "key": "folder", "label": "Folder", "type": "text", "required": true },
            { "key": "access", "label": "Access", "type": "choice", "required": true,
              "options": [{ "value": "read" }, { "value": "write" }] },
            { "key": "reason", "label": "Why", "type": "long_text" }
        ]}
    }))
    .context("demo catalog item")?;
    let item = call(desk, admin, move |d, w, a| {
        Box::pin(async move { d.create_catalog_item(w, &a, item).await })
    })
    .await?;
    call(desk, admin, |d, w, a| {
        Box::pin(async move {
            d.create_template(
                w,
                &a,
                "Certificate rotation",
                "Rotate a TLS certificate before it expires",
                vec![
                    "Issue the certificate".into(),
                    "Deploy it".into(),
                    "Verify clients".into(),
                ],
            )
            .await
        })
    })
    .await?;
    let rule: RuleInput = serde_json::from_value(json!({
        "name": "VPN incidents to Network",
        "trigger": "ticket.created",
        "conditions": [
            { "field": "kind", "op": "equals", "value": "incident" },
            { "field": "text", "op": "contains", "value": "vpn" }
        ],
        "actions": [{ "type": "assign_team", "team": "Network" }]
    }))
    .context("demo rule")?;
    call(desk, admin, move |d, w, a| {
        Box::pin(async move { d.create_rule(w, &a, rule).await })
    })
    .await?;
    Ok(item.id)
}

/// Opens a seed ticket the way a real one would be: requests that need
/// approval are ordered from the catalog, changes that get scheduled come
/// from the template (standard) or are assessed and planned (normal).
/// Returns the ticket and the states still to walk.
async fn open_seed_ticket(
    desk: &Desk,
    opener: &Actor,
    input: OpenTicket,
    states: &'static [&'static str],
    access_item: uuid::Uuid,
    i: usize,
) -> anyhow::Result<(TicketView, Vec<&'static str>)> {
    match (input.kind.as_str(), states.first()) {
        ("service_request", Some(&"awaiting_approval")) => {
            let order = OrderInput {
                answers: json!({ "folder": "\\\\files\\finance", "access": "read", "reason": input.title })
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                requester: input.requester.clone(),
                title: Some(input.title.clone()),
            };
            let request = call(desk, opener, move |d, w, a| {
                Box::pin(async move { d.order_item(w, &a, access_item, order).await })
            })
            .await?;
            if states.contains(&"rejected") {
                let mut chen = opener.clone();
                let manager = desk
                    .list_people(opener)
                    .await?
                    .into_iter()
                    .find(|p| p.email.as_deref() == Some("chen@demo.example"))
                    .context("demo manager")?;
                chen.person_id = Some(manager.id);
                chen.name = manager.name;
                let number = request.ticket.number.clone();
                let approvals = desk.ticket_approvals(opener, &number).await?;
                let approval = approvals.first().context("demo approval")?.id;
                call(desk, &chen, move |d, w, a| {
                    Box::pin(async move {
                        d.decide(
                            w,
                            &a,
                            approval,
                            "reject",
                            Some("Contractors get access through their sponsor".into()),
                        )
                        .await
                    })
                })
                .await?;
            }
            Ok((request.ticket, Vec::new()))
        }
        ("change", Some(_)) => {
            let standard = states.contains(&"scheduled");
            let start = chrono::Utc::now() + chrono::Duration::days(7 + i as i64);
            let change = NewChange {
                title: input.title,
                description: input.description,
                change_type: if standard { "standard" } else { "normal" }.into(),
                template: standard.then(|| "Certificate rotation".to_string()),
                impact: input.impact,
                urgency: input.urgency,
                category: input.category,
                planned_start: Some(start),
                planned_end: Some(start + chrono::Duration::hours(2)),
                requester: input.requester,
                ..NewChange::default()
            };
            let view = call(desk, opener, move |d, w, a| {
                Box::pin(async move { d.create_change(w, &a, change).await })
            })
            .await?;
            if !standard {
                let number = view.ticket.number.clone();
                let answers = [
                    ("user_impact", "many"),
                    ("complexity", "moderate"),
                    ("tested", "partly"),
                    ("rollback", "with_effort"),
                    ("done_before", "once"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
                call(desk, opener, move |d, w, a| {
                    Box::pin(async move { d.assess_change_risk(w, &a, &number, answers).await })
                })
                .await?;
            }
            // Walked here: the template's tasks are done before review.
            let number = view.ticket.number.clone();
            for state in states {
                if *state == "review" {
                    for task in desk.list_tasks(opener, &number).await? {
                        let number = number.clone();
                        call(desk, opener, move |d, w, a| {
                            Box::pin(async move {
                                d.update_task(w, &a, &number, task.id, Some("done".into()), None)
                                    .await
                            })
                        })
                        .await?;
                    }
                }
                let number = number.clone();
                call(desk, opener, move |d, w, a| {
                    Box::pin(async move { d.transition(w, &a, &number, state, None).await })
                })
                .await?;
            }
            Ok((view.ticket, Vec::new()))
        }
        _ => {
            let ticket = call(desk, opener, move |d, w, a| {
                Box::pin(async move { d.open_ticket(w, &a, input).await })
            })
            .await?;
            Ok((ticket, states.to_vec()))
        }
    }
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
        + Clone
        + Send
        + 'static,
{
    let d = desk.clone();
    let a = actor.clone();
    desk.execute(move |w| f(d, w, a))
        .await
        .context("seeding demo data")
}
