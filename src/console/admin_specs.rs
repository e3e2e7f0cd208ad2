//! Admin: what the API takes as a JSON document — business calendars and
//! SLA policies, escalation policies, each team's on-call rotation, cron
//! schedules and automation rules — listed on their section pages and
//! edited as that same JSON in a `<textarea>`. The text is read into the
//! API's own input type (`CalendarInput`, `PolicyInput`, …) and handed to
//! the same desk use case the API route calls, which validates it; a
//! refusal shows the desk's field errors above the text, keeps the text,
//! and changes nothing.

use std::collections::HashMap;

use askama::Template;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
    routing::{get, post},
    Router,
};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{
    admin::{refusal, tabs, Tab},
    layout::{Chrome, Section},
    render_status,
    session::{check_csrf, see_other, Form, Signed, SignedIn},
    Console, PageError,
};
use crate::desk::{
    automation::RuleInput,
    escalation::{EscalationPolicyInput, RotationInput},
    schedules::ScheduleInput,
    sla::{CalendarInput, PolicyInput},
    Actor, DeskError,
};

/// The kinds of document edited here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Calendar,
    SlaPolicy,
    Escalation,
    /// Keyed by the team's id; set, never created or deleted on its own.
    OnCall,
    Schedule,
    Rule,
}

const KINDS: [Kind; 6] = [
    Kind::Calendar,
    Kind::SlaPolicy,
    Kind::Escalation,
    Kind::OnCall,
    Kind::Schedule,
    Kind::Rule,
];

impl Kind {
    /// Under `/console/admin/`.
    fn path(self) -> &'static str {
        match self {
            Kind::Calendar => "sla/calendars",
            Kind::SlaPolicy => "sla/policies",
            Kind::Escalation => "escalation/policies",
            Kind::OnCall => "on-call",
            Kind::Schedule => "schedules",
            Kind::Rule => "rules",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Kind::Calendar => "business calendar",
            Kind::SlaPolicy => "SLA policy",
            Kind::Escalation => "escalation policy",
            Kind::OnCall => "on-call rotation",
            Kind::Schedule => "schedule",
            Kind::Rule => "automation rule",
        }
    }

    /// The section page that lists this kind.
    fn home(self) -> &'static str {
        match self {
            Kind::Calendar | Kind::SlaPolicy => "/console/admin/sla",
            Kind::Escalation | Kind::OnCall | Kind::Schedule => "/console/admin/escalation",
            Kind::Rule => "/console/admin/automation",
        }
    }

    /// The fields of the document, in the API reference's words.
    fn help(self) -> &'static str {
        match self {
            Kind::Calendar => {
                "name; time_zone (IANA, e.g. Europe/Berlin); always_open (true: 24×7); \
                 hours per day (mon … sun) as intervals like \"09:00-17:00\"; \
                 holidays as {\"date\": \"2026-12-25\"}, with hours a partial day."
            }
            Kind::SlaPolicy => {
                "name; position (the first matching policy applies); selector: lists of \
                 kinds, priorities, categories, teams (empty = any); targets in business \
                 minutes: first_response_minutes, resolution_minutes, next_response_minutes; \
                 warn_at_percent; pause_states; on_reopen (restart or resume); calendar \
                 (a calendar id, or null for 24×7 UTC)."
            }
            Kind::Escalation => {
                "name; position; selector (as an SLA policy's); steps: each \
                 {\"after_minutes\": 30} or {\"on\": \"sla_warning\" | \"sla_breach\"} with \
                 actions (notify_person, notify_team, notify_lead, notify_on_call, \
                 notify_channel, reassign, raise_priority, mark_major) and optional \
                 repeat_every_minutes, repeat_times."
            }
            Kind::OnCall => {
                "time_zone of the hand-over; handoff_day (mon … sun); handoff_time (HH:MM); \
                 members: people (id or email) in rotation order; starts: a date in the \
                 first member's week; overrides: {\"person\", \"from\", \"to\"}."
            }
            Kind::Schedule => {
                "name; cron with seconds (e.g. \"0 0 9 * * Mon-Fri\"); time_zone; either \
                 ticket (kind, title, description, team, category, impact, urgency) to \
                 open at each run, or digest (team, channel, target); enabled."
            }
            Kind::Rule => {
                "name; trigger (ticket.created, ticket.updated, ticket.state_changed, \
                 ticket.commented, ticket.assigned, sla.warning, sla.breached); match \
                 (all or any); conditions; actions; stop_processing; enabled; position \
                 (rules run in ascending position)."
            }
        }
    }

    /// What a new document starts as.
    fn example(self) -> &'static str {
        match self {
            Kind::Calendar => {
                r#"{
  "name": "Office hours",
  "time_zone": "Europe/Berlin",
  "hours": {
    "mon": ["09:00-17:00"], "tue": ["09:00-17:00"], "wed": ["09:00-17:00"],
    "thu": ["09:00-17:00"], "fri": ["09:00-17:00"]
  },
  "holidays": [{"date": "2026-12-25"}]
}"#
            }
            Kind::SlaPolicy => {
                r#"{
  "name": "Urgent incidents",
  "position": 0,
  "selector": {"kinds": ["incident"], "priorities": ["p1"]},
  "targets": {"first_response_minutes": 15, "resolution_minutes": 240},
  "warn_at_percent": [75, 90],
  "pause_states": ["on_hold"],
  "on_reopen": "restart",
  "calendar": null
}"#
            }
            Kind::Escalation => {
                r#"{
  "name": "Urgent incidents",
  "position": 0,
  "selector": {"kinds": ["incident"], "priorities": ["p1"]},
  "steps": [
    {"after_minutes": 30, "actions": [{"type": "notify_lead"}]}
  ]
}"#
            }
            Kind::OnCall => {
                r#"{
  "time_zone": "UTC",
  "handoff_day": "mon",
  "handoff_time": "09:00",
  "members": [],
  "starts": "2026-01-05",
  "overrides": []
}"#
            }
            Kind::Schedule => {
                r#"{
  "name": "Weekly check",
  "cron": "0 0 9 * * Mon",
  "time_zone": "UTC",
  "ticket": {"kind": "service_request", "title": "Check the backups"},
  "enabled": true
}"#
            }
            Kind::Rule => {
                r#"{
  "name": "Urgent VPN incidents",
  "trigger": "ticket.created",
  "match": "all",
  "conditions": [
    {"field": "kind", "op": "equals", "value": "incident"},
    {"field": "text", "op": "contains", "value": "vpn"}
  ],
  "actions": [{"type": "set_field", "field": "urgency", "value": "high"}],
  "stop_processing": false,
  "enabled": true
}"#
            }
        }
    }

    /// Fields of the view that the input does not take.
    fn view_only(self) -> &'static [&'static str] {
        match self {
            Kind::OnCall => &["team", "on_call_now"],
            Kind::Schedule => &["id", "next_run_at", "last_run_at"],
            _ => &["id", "updated_at", "created_at"],
        }
    }

    fn href(self, id: Option<Uuid>) -> String {
        match id {
            Some(id) => format!("/console/admin/{}/{id}", self.path()),
            None => format!("/console/admin/{}/new", self.path()),
        }
    }
}

pub fn router() -> Router<Console> {
    let mut router = Router::new()
        .route("/console/admin/sla", get(sla_page))
        .route("/console/admin/escalation", get(escalation_page));
    for kind in KINDS {
        let one = format!("/console/admin/{}/{{id}}", kind.path());
        router = router.route(
            &one,
            get(
                move |State(console): State<Console>,
                      Signed(signed): Signed,
                      Path(id): Path<Uuid>| async move {
                    editor(&console, &signed, kind, Some(id)).await
                },
            )
            .post(
                move |State(console): State<Console>,
                      Signed(signed): Signed,
                      Path(id): Path<Uuid>,
                      form: Form| async move {
                    submit(&console, &signed, kind, Some(id), form).await
                },
            ),
        );
        if kind == Kind::OnCall {
            continue;
        }
        let new = format!("/console/admin/{}/new", kind.path());
        router = router.route(
            &new,
            get(
                move |State(console): State<Console>, Signed(signed): Signed| async move {
                    editor(&console, &signed, kind, None).await
                },
            )
            .post(
                move |State(console): State<Console>, Signed(signed): Signed, form: Form| async move {
                    submit(&console, &signed, kind, None, form).await
                },
            ),
        );
        let delete = format!("/console/admin/{}/{{id}}/delete", kind.path());
        router = router.route(
            &delete,
            post(
                move |State(console): State<Console>,
                      Signed(signed): Signed,
                      Path(id): Path<Uuid>,
                      form: Form| async move {
                    remove(&console, &signed, kind, id, form).await
                },
            ),
        );
    }
    router
}

// ---- the section pages ------------------------------------------------

pub struct Entry {
    pub name: String,
    pub detail: String,
    pub href: String,
}

pub struct Group {
    pub id: &'static str,
    pub title: &'static str,
    pub new_href: Option<String>,
    pub noun: &'static str,
    pub entries: Vec<Entry>,
}

#[derive(Template)]
#[template(path = "admin_specs.html")]
struct SpecsPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    title: &'static str,
    groups: Vec<Group>,
}

fn group(kind: Kind, id: &'static str, title: &'static str, entries: Vec<Entry>) -> Group {
    Group {
        id,
        title,
        new_href: (kind != Kind::OnCall).then(|| kind.href(None)),
        noun: kind.noun(),
        entries,
    }
}

fn minutes(m: Option<i64>) -> Option<String> {
    m.map(|m| super::filters::duration(m * 60))
}

async fn sla_page(
    State(console): State<Console>,
    Signed(signed): Signed,
) -> Result<Response, PageError> {
    signed.actor.require_admin()?;
    let actor = &signed.actor;
    let calendars = console.desk.list_calendars(actor).await?;
    let names: HashMap<Uuid, String> = calendars.iter().map(|c| (c.id, c.name.clone())).collect();
    let calendars = calendars
        .into_iter()
        .map(|c| Entry {
            href: Kind::Calendar.href(Some(c.id)),
            detail: if c.always_open {
                format!("{} · around the clock", c.time_zone)
            } else {
                format!(
                    "{} · open {} days a week · {} holidays",
                    c.time_zone,
                    c.hours.values().filter(|h| !h.is_empty()).count(),
                    c.holidays.len()
                )
            },
            name: c.name,
        })
        .collect();
    let policies = console
        .desk
        .list_sla_policies(actor)
        .await?
        .into_iter()
        .map(|p| {
            let t = &p.targets;
            let targets: Vec<String> = [
                minutes(t.first_response_minutes).map(|m| format!("first response {m}")),
                minutes(t.next_response_minutes).map(|m| format!("next response {m}")),
                minutes(t.resolution_minutes).map(|m| format!("resolution {m}")),
            ]
            .into_iter()
            .flatten()
            .collect();
            let calendar = p
                .calendar
                .map(|c| names.get(&c).cloned().unwrap_or_else(|| c.to_string()))
                .unwrap_or_else(|| "24×7 UTC".into());
            Entry {
                href: Kind::SlaPolicy.href(Some(p.id)),
                detail: format!(
                    "position {} · {} · {calendar}",
                    p.position,
                    targets.join(", ")
                ),
                name: p.name,
            }
        })
        .collect();
    let page = SpecsPage {
        chrome: Chrome::new(&signed, Section::Admin, "SLA"),
        tabs: tabs("/console/admin/sla"),
        title: "SLA calendars and policies",
        groups: vec![
            group(Kind::Calendar, "calendars", "Business calendars", calendars),
            group(Kind::SlaPolicy, "policies", "SLA policies", policies),
        ],
    };
    render_status(StatusCode::OK, &page)
}

async fn escalation_page(
    State(console): State<Console>,
    Signed(signed): Signed,
) -> Result<Response, PageError> {
    signed.actor.require_admin()?;
    let actor = &signed.actor;
    let policies = console
        .desk
        .list_escalation_policies(actor)
        .await?
        .into_iter()
        .map(|p| Entry {
            href: Kind::Escalation.href(Some(p.id)),
            detail: format!(
                "position {} · {} step{}",
                p.position,
                p.steps.len(),
                if p.steps.len() == 1 { "" } else { "s" }
            ),
            name: p.name,
        })
        .collect();
    let people: HashMap<Uuid, String> = console
        .desk
        .list_people(actor)
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    let name_of = |id: &Uuid| people.get(id).cloned().unwrap_or_else(|| id.to_string());
    let mut rotations = Vec::new();
    for team in console.desk.list_teams(actor).await? {
        let detail = match console.desk.get_on_call(actor, &team.id.to_string()).await {
            Ok(r) => format!(
                "{} · hand-over {} {} {} · on call now: {}",
                r.members.iter().map(name_of).collect::<Vec<_>>().join(", "),
                r.handoff_day,
                r.handoff_time,
                r.time_zone,
                r.on_call_now
                    .as_ref()
                    .map(name_of)
                    .unwrap_or_else(|| "nobody".into())
            ),
            Err(DeskError::NotFound(_)) => "no rotation yet".into(),
            Err(e) => return Err(e.into()),
        };
        rotations.push(Entry {
            href: Kind::OnCall.href(Some(team.id)),
            detail,
            name: team.name,
        });
    }
    let schedules = console
        .desk
        .list_schedules(actor)
        .await?
        .into_iter()
        .map(|s| Entry {
            href: Kind::Schedule.href(Some(s.id)),
            detail: format!(
                "{} ({}) · {}{}",
                s.cron,
                s.time_zone,
                if s.ticket.is_some() {
                    "opens a ticket"
                } else {
                    "sends a digest"
                },
                if s.enabled { "" } else { " · disabled" }
            ),
            name: s.name,
        })
        .collect();
    let page = SpecsPage {
        chrome: Chrome::new(&signed, Section::Admin, "Escalation and on-call"),
        tabs: tabs("/console/admin/escalation"),
        title: "Escalation, on-call and schedules",
        groups: vec![
            group(
                Kind::Escalation,
                "policies",
                "Escalation policies",
                policies,
            ),
            group(Kind::OnCall, "on-call", "On-call rotations", rotations),
            group(Kind::Schedule, "schedules", "Schedules", schedules),
        ],
    };
    render_status(StatusCode::OK, &page)
}

// ---- the editor -------------------------------------------------------

#[derive(Template)]
#[template(path = "admin_spec.html")]
struct SpecPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    heading: String,
    noun: &'static str,
    home: &'static str,
    action: String,
    delete: Option<String>,
    help: &'static str,
    text: String,
    errors: Vec<String>,
}

/// The view as the input document: pretty JSON without the fields the
/// input does not take.
fn document<V: Serialize>(kind: Kind, view: &V) -> Result<String, DeskError> {
    let mut value = serde_json::to_value(view).map_err(anyhow::Error::from)?;
    if let Value::Object(map) = &mut value {
        for key in kind.view_only() {
            map.remove(*key);
        }
    }
    Ok(serde_json::to_string_pretty(&value).map_err(anyhow::Error::from)?)
}

/// The stored document's name and text (`None` for a team's rotation not
/// set yet, which starts from the example).
async fn current(
    console: &Console,
    actor: &Actor,
    kind: Kind,
    id: Uuid,
) -> Result<(String, Option<String>), DeskError> {
    let desk = &console.desk;
    Ok(match kind {
        Kind::Calendar => {
            let v = desk.get_calendar(actor, id).await?;
            (v.name.clone(), Some(document(kind, &v)?))
        }
        Kind::SlaPolicy => {
            let v = desk.get_sla_policy(actor, id).await?;
            (v.name.clone(), Some(document(kind, &v)?))
        }
        Kind::Escalation => {
            let v = desk.get_escalation_policy(actor, id).await?;
            (v.name.clone(), Some(document(kind, &v)?))
        }
        Kind::OnCall => {
            let team = desk.get_team(actor, &id.to_string()).await?;
            match desk.get_on_call(actor, &id.to_string()).await {
                Ok(v) => (team.name, Some(document(kind, &v)?)),
                Err(DeskError::NotFound(_)) => (team.name, None),
                Err(e) => return Err(e),
            }
        }
        Kind::Schedule => {
            let v = desk.get_schedule(actor, id).await?;
            (v.name.clone(), Some(document(kind, &v)?))
        }
        Kind::Rule => {
            let v = desk.get_rule(actor, id).await?;
            (v.name.clone(), Some(document(kind, &v)?))
        }
    })
}

async fn editor_page(
    console: &Console,
    signed: &SignedIn,
    kind: Kind,
    id: Option<Uuid>,
) -> Result<SpecPage, DeskError> {
    signed.actor.require_admin()?;
    let (heading, text) = match id {
        Some(id) => {
            let (name, text) = current(console, &signed.actor, kind, id).await?;
            let heading = if kind == Kind::OnCall {
                format!("On-call rotation of {name}")
            } else {
                name
            };
            (heading, text.unwrap_or_else(|| kind.example().into()))
        }
        None => (format!("New {}", kind.noun()), kind.example().into()),
    };
    Ok(SpecPage {
        chrome: Chrome::new(signed, Section::Admin, heading.clone()),
        tabs: tabs(kind.home()),
        heading,
        noun: kind.noun(),
        home: kind.home(),
        action: kind.href(id),
        delete: id
            .filter(|_| kind != Kind::OnCall)
            .map(|id| format!("{}/delete", kind.href(Some(id)))),
        help: kind.help(),
        text,
        errors: Vec::new(),
    })
}

async fn editor(
    console: &Console,
    signed: &SignedIn,
    kind: Kind,
    id: Option<Uuid>,
) -> Result<Response, PageError> {
    render_status(
        StatusCode::OK,
        &editor_page(console, signed, kind, id).await?,
    )
}

/// The text as the API's input type; malformed JSON or a wrong shape is a
/// field error of the text, as the API answers it.
fn parse<T: DeserializeOwned>(text: &str) -> Result<T, DeskError> {
    serde_json::from_str(text).map_err(|e| DeskError::invalid("document", e.to_string()))
}

/// Runs one desk use case of this page with a clone of the desk and actor.
macro_rules! exec {
    ($console:expr, $actor:expr, |$desk:ident, $work:ident, $a:ident| $call:expr) => {{
        let $desk = $console.desk.clone();
        let $a = $actor.clone();
        $console
            .desk
            .execute(move |$work| Box::pin(async move { $call.await.map(|_| ()) }))
            .await
    }};
}

async fn save(
    console: &Console,
    actor: &Actor,
    kind: Kind,
    id: Option<Uuid>,
    text: &str,
) -> Result<(), DeskError> {
    match (kind, id) {
        (Kind::Calendar, None) => {
            let input: CalendarInput = parse(text)?;
            exec!(console, actor, |desk, work, a| desk
                .create_calendar(work, &a, input))
        }
        (Kind::Calendar, Some(id)) => {
            let input: CalendarInput = parse(text)?;
            exec!(console, actor, |desk, work, a| desk
                .update_calendar(work, &a, id, input))
        }
        (Kind::SlaPolicy, None) => {
            let input: PolicyInput = parse(text)?;
            exec!(console, actor, |desk, work, a| desk
                .create_sla_policy(work, &a, input))
        }
        (Kind::SlaPolicy, Some(id)) => {
            let input: PolicyInput = parse(text)?;
            exec!(console, actor, |desk, work, a| desk
                .update_sla_policy(work, &a, id, input))
        }
        (Kind::Escalation, None) => {
            let input: EscalationPolicyInput = parse(text)?;
            exec!(console, actor, |desk, work, a| desk
                .create_escalation_policy(work, &a, input))
        }
        (Kind::Escalation, Some(id)) => {
            let input: EscalationPolicyInput = parse(text)?;
            exec!(console, actor, |desk, work, a| desk
                .update_escalation_policy(work, &a, id, input))
        }
        (Kind::OnCall, Some(team)) => {
            let input: RotationInput = parse(text)?;
            let team = team.to_string();
            exec!(console, actor, |desk, work, a| desk
                .set_on_call(work, &a, &team, input))
        }
        (Kind::OnCall, None) => Err(DeskError::NotFound("team")),
        (Kind::Schedule, None) => {
            let input: ScheduleInput = parse(text)?;
            exec!(console, actor, |desk, work, a| desk
                .create_schedule(work, &a, input))
        }
        (Kind::Schedule, Some(id)) => {
            let input: ScheduleInput = parse(text)?;
            exec!(console, actor, |desk, work, a| desk
                .update_schedule(work, &a, id, input))
        }
        (Kind::Rule, None) => {
            let input: RuleInput = parse(text)?;
            exec!(console, actor, |desk, work, a| desk
                .create_rule(work, &a, input))
        }
        (Kind::Rule, Some(id)) => {
            let input: RuleInput = parse(text)?;
            exec!(console, actor, |desk, work, a| desk
                .update_rule(work, &a, id, input))
        }
    }
}

async fn submit(
    console: &Console,
    signed: &SignedIn,
    kind: Kind,
    id: Option<Uuid>,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(signed, &form)?;
    let text = form.get("document").unwrap_or_default().to_string();
    match save(console, &signed.actor, kind, id, &text).await {
        Ok(()) => Ok(see_other(kind.home())),
        Err(error) => {
            let (status, errors) = refusal(error)?;
            let mut page = editor_page(console, signed, kind, id).await?;
            page.text = text;
            page.errors = errors;
            render_status(status, &page)
        }
    }
}

async fn remove(
    console: &Console,
    signed: &SignedIn,
    kind: Kind,
    id: Uuid,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(signed, &form)?;
    let actor = &signed.actor;
    let deleted = match kind {
        Kind::Calendar => exec!(console, actor, |desk, work, a| desk
            .delete_calendar(work, &a, id)),
        Kind::SlaPolicy => exec!(console, actor, |desk, work, a| desk
            .delete_sla_policy(work, &a, id)),
        Kind::Escalation => exec!(console, actor, |desk, work, a| desk
            .delete_escalation_policy(work, &a, id)),
        Kind::Schedule => exec!(console, actor, |desk, work, a| desk
            .delete_schedule(work, &a, id)),
        Kind::Rule => exec!(console, actor, |desk, work, a| desk
            .delete_rule(work, &a, id)),
        Kind::OnCall => Err(DeskError::NotFound("page")),
    };
    match deleted {
        Ok(()) => Ok(see_other(kind.home())),
        Err(error) => {
            let (status, errors) = refusal(error)?;
            let mut page = editor_page(console, signed, kind, Some(id)).await?;
            page.errors = errors;
            render_status(status, &page)
        }
    }
}
