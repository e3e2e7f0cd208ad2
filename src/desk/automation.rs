//! Automation rules: managed through the API, run at the end of every use
//! case on the ticket events it emitted, inside the same transaction — so
//! a rule's effects commit with the change that set them off, whatever the
//! channel. Each rule's actions run behind a savepoint: a failing rule is
//! undone alone and recorded, and never blocks the person's own change.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    new_id,
    notify::Message,
    people::resolve_person,
    teams::resolve_team,
    tickets::{Assignment, TicketChanges},
    Actor, Desk, DeskError, Work,
};
use crate::{
    domain::{
        rule::{self, Action, Fact, Facts, Trigger, MAX_FIRINGS},
        text::Name,
        State,
    },
    store::{self, rules::RuleRow},
};

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RuleInput {
    pub name: String,
    /// `ticket.created`, `ticket.updated`, `ticket.state_changed`,
    /// `ticket.commented`, `ticket.assigned`, `sla.warning`, `sla.breached`.
    pub trigger: String,
    /// `all` (default) or `any` of the conditions.
    #[serde(default)]
    pub r#match: Option<String>,
    #[schema(value_type = Vec<Object>)]
    #[serde(default = "empty_list")]
    pub conditions: Value,
    #[schema(value_type = Vec<Object>)]
    pub actions: Value,
    #[serde(default)]
    pub stop_processing: bool,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Rules run by ascending position; new rules go last.
    pub position: Option<i32>,
}

fn empty_list() -> Value {
    json!([])
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RuleView {
    pub id: Uuid,
    pub name: String,
    pub trigger: String,
    pub r#match: String,
    #[schema(value_type = Vec<Object>)]
    pub conditions: Value,
    #[schema(value_type = Vec<Object>)]
    pub actions: Value,
    pub stop_processing: bool,
    pub enabled: bool,
    pub position: i32,
    pub updated_at: DateTime<Utc>,
}

impl From<&RuleRow> for RuleView {
    fn from(r: &RuleRow) -> Self {
        Self {
            id: r.id,
            name: r.name.clone(),
            trigger: r.on_event.clone(),
            r#match: if r.match_all { "all" } else { "any" }.into(),
            conditions: r.conditions.0.clone(),
            actions: r.actions.0.clone(),
            stop_processing: r.stop_processing,
            enabled: r.enabled,
            position: r.position,
            updated_at: r.updated_at,
        }
    }
}

fn to_rule(row: &RuleRow) -> Option<rule::Rule> {
    let trigger = Trigger::parse(&row.on_event).ok()?;
    let (conditions, actions) = rule::check(&row.conditions.0, &row.actions.0).ok()?;
    Some(rule::Rule {
        id: row.id,
        name: row.name.clone(),
        trigger,
        match_all: row.match_all,
        conditions,
        actions,
        stop_processing: row.stop_processing,
    })
}

impl Desk {
    pub async fn create_rule(
        &self,
        work: &mut Work,
        actor: &Actor,
        input: RuleInput,
    ) -> Result<RuleView, DeskError> {
        actor.require_admin()?;
        let position = match input.position {
            Some(p) => p,
            None => store::rules::next_position(&mut work.tx, actor.org_id).await?,
        };
        let now = store::now();
        let row = self
            .rule_row(work, actor, new_id(), position, now, input)
            .await?;
        if store::rules::list_rules(&mut work.tx, actor.org_id)
            .await?
            .iter()
            .any(|r| r.name == row.name)
        {
            return Err(DeskError::invalid(
                "name",
                format!("a rule named `{}` already exists", row.name),
            ));
        }
        store::rules::insert_rule(&mut work.tx, &row).await?;
        work.audit(actor, "rule.created", &row.name, json!({ "id": row.id }));
        Ok(RuleView::from(&row))
    }

    pub async fn update_rule(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
        input: RuleInput,
    ) -> Result<RuleView, DeskError> {
        actor.require_admin()?;
        let old = store::rules::find_rule(&mut work.tx, actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("rule"))?;
        let position = input.position.unwrap_or(old.position);
        let mut row = self
            .rule_row(work, actor, id, position, old.created_at, input)
            .await?;
        if store::rules::list_rules(&mut work.tx, actor.org_id)
            .await?
            .iter()
            .any(|r| r.name == row.name && r.id != id)
        {
            return Err(DeskError::invalid(
                "name",
                format!("a rule named `{}` already exists", row.name),
            ));
        }
        row.updated_at = store::now();
        store::rules::update_rule(&mut work.tx, &row).await?;
        work.audit(actor, "rule.updated", &row.name, json!({ "id": row.id }));
        Ok(RuleView::from(&row))
    }

    pub async fn delete_rule(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
    ) -> Result<(), DeskError> {
        actor.require_admin()?;
        let row = store::rules::find_rule(&mut work.tx, actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("rule"))?;
        store::rules::delete_rule(&mut work.tx, actor.org_id, id).await?;
        work.audit(actor, "rule.deleted", &row.name, json!({ "id": id }));
        Ok(())
    }

    pub async fn list_rules(&self, actor: &Actor) -> Result<Vec<RuleView>, DeskError> {
        actor.require_agent()?;
        let mut tx = self.db.read().await?;
        Ok(store::rules::list_rules(&mut tx, actor.org_id)
            .await?
            .iter()
            .map(RuleView::from)
            .collect())
    }

    pub async fn get_rule(&self, actor: &Actor, id: Uuid) -> Result<RuleView, DeskError> {
        actor.require_agent()?;
        let mut tx = self.db.read().await?;
        store::rules::find_rule(&mut tx, actor.org_id, id)
            .await?
            .map(|r| RuleView::from(&r))
            .ok_or(DeskError::NotFound("rule"))
    }

    /// Checks a rule: trigger, fields, actions, and that the teams, people
    /// and policies its actions name exist now.
    async fn rule_row(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
        position: i32,
        created_at: DateTime<Utc>,
        input: RuleInput,
    ) -> Result<RuleRow, DeskError> {
        let mut errors = Vec::new();
        let name = Name::parse("name", &input.name)
            .map_err(|e| errors.push(e))
            .ok();
        let trigger = Trigger::parse(&input.trigger)
            .map_err(|e| errors.push(crate::domain::FieldError::new("trigger", e.to_string())))
            .ok();
        let match_all = match input.r#match.as_deref().map(str::trim) {
            None | Some("all") => true,
            Some("any") => false,
            Some(other) => {
                errors.push(crate::domain::FieldError::new(
                    "match",
                    format!("`{other}` is not one of: all, any"),
                ));
                true
            }
        };
        let checked = rule::check(&input.conditions, &input.actions)
            .map_err(|mut e| errors.append(&mut e))
            .ok();
        // What the actions name must exist, even when other parts are wrong.
        if let Ok(actions) = serde_json::from_value::<Vec<Action>>(input.actions.clone()) {
            for (i, action) in actions.iter().enumerate() {
                let place = format!("actions[{i}]");
                let tx = &mut work.tx;
                let missing = match action {
                    Action::AssignTeam { team } => resolve_team(tx, actor.org_id, team).await.err(),
                    Action::AssignPerson { person } | Action::AddWatcher { person } => {
                        resolve_person(tx, actor.org_id, "person", person)
                            .await
                            .err()
                    }
                    Action::Notify { to, .. }
                        if !matches!(to.as_str(), "requester" | "assignee" | "team") =>
                    {
                        resolve_person(tx, actor.org_id, "to", to).await.err()
                    }
                    Action::StartApproval { policy } => self
                        .resolve_policy(tx, actor.org_id, "policy", policy)
                        .await
                        .err(),
                    Action::SetField { field, value } if field == "state" => State::parse(value)
                        .err()
                        .map(|e| DeskError::invalid("state", e.to_string())),
                    _ => None,
                };
                if let Some(error) = missing {
                    errors.push(crate::domain::FieldError::new(place, error.to_string()));
                }
            }
        }
        let (Some(name), Some(trigger), Some(_)) = (name, trigger, checked) else {
            return Err(DeskError::Invalid(errors));
        };
        if !errors.is_empty() {
            return Err(DeskError::Invalid(errors));
        }
        Ok(RuleRow {
            id,
            org_id: actor.org_id,
            name: name.into_inner(),
            position,
            enabled: input.enabled,
            on_event: trigger.as_str().into(),
            match_all,
            conditions: sqlx::types::Json(input.conditions),
            actions: sqlx::types::Json(input.actions),
            stop_processing: input.stop_processing,
            created_at,
            updated_at: store::now(),
        })
    }

    /// Runs the rules on the ticket events of this transaction, including
    /// those the rules' own actions emit (with the chain that caused them).
    pub(crate) async fn automate(&self, work: &mut Work) -> Result<(), DeskError> {
        let mut chains: Vec<Vec<Uuid>> = Vec::new();
        let mut rules: HashMap<Uuid, Vec<rule::Rule>> = HashMap::new();
        let mut firings = 0;
        let mut next = 0;
        while next < work.buffers.events.len() {
            let event = work.buffers.events[next].clone();
            let chain = chains.get(next).cloned().unwrap_or_default();
            next += 1;
            let Ok(trigger) = Trigger::parse(event.name) else {
                continue;
            };
            let org_rules = match rules.get(&event.org_id) {
                Some(loaded) => loaded.clone(),
                None => {
                    let rows = match work.take_rules(event.org_id) {
                        Some(rows) => rows,
                        None => store::rules::enabled_rules(&mut work.tx, event.org_id).await?,
                    };
                    let loaded: Vec<rule::Rule> = rows.iter().filter_map(to_rule).collect();
                    rules.insert(event.org_id, loaded.clone());
                    loaded
                }
            };
            if !org_rules.iter().any(|r| r.trigger == trigger) {
                continue;
            }
            let facts = self
                .facts(work, event.org_id, &event.ticket, &event.details)
                .await?;
            for rule in rule::select(&org_rules, trigger, &facts, &chain) {
                let actor = Actor {
                    name: format!("Automation: {}", rule.name),
                    ..Actor::system(event.org_id)
                };
                if firings == MAX_FIRINGS {
                    work.record(
                        &actor,
                        event.ticket.id,
                        "automation_stopped",
                        Some((
                            "rule",
                            None,
                            Some(format!(
                                "more than {MAX_FIRINGS} rule firings in one change"
                            )),
                        )),
                    );
                    return Ok(());
                }
                firings += 1;
                let (before, events_before) = (work.buffers.marks(), work.buffers.events.len());
                store::savepoint(&mut work.tx).await?;
                match self.fire(work, &actor, rule, &event.ticket.number).await {
                    Ok(()) => {
                        store::release_savepoint(&mut work.tx).await?;
                        chains.resize(events_before, Vec::new());
                        let mut caused = chain.clone();
                        caused.push(rule.id);
                        chains.resize(work.buffers.events.len(), caused);
                        work.record(
                            &actor,
                            event.ticket.id,
                            "rule_fired",
                            Some(("rule", None, Some(rule.name.clone()))),
                        );
                    }
                    // Not the rule's fault: the whole use case runs again.
                    Err(error) if super::numbering::retry_locked(&error) => return Err(error),
                    Err(error) => {
                        store::rollback_to_savepoint(&mut work.tx).await?;
                        store::release_savepoint(&mut work.tx).await?;
                        work.buffers.truncate(&before);
                        tracing::info!(rule = %rule.name, %error, "automation rule failed");
                        work.record(
                            &actor,
                            event.ticket.id,
                            "rule_failed",
                            Some(("rule", None, Some(format!("{}: {error}", rule.name)))),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// The facts conditions test, from the event's ticket snapshot, its
    /// requester and its catalog order.
    async fn facts(
        &self,
        work: &mut Work,
        org_id: Uuid,
        ticket: &super::views::TicketView,
        details: &Value,
    ) -> Result<Facts, DeskError> {
        let mut facts = Facts::new();
        let mut text = |k: &str, v: &str| {
            facts.insert(k.to_string(), Fact::Text(v.to_string()));
        };
        text("kind", &ticket.kind);
        text("state", &ticket.state);
        text("priority", &ticket.priority);
        text("impact", &ticket.impact);
        text("urgency", &ticket.urgency);
        text("channel", &ticket.channel);
        text("title", &ticket.title);
        text("description", &ticket.description);
        text("text", &format!("{}\n{}", ticket.title, ticket.description));
        if let Some(category) = &ticket.category {
            text("category", category);
        }
        if let Some(team) = &ticket.team {
            text("team", &team.name);
        }
        if let Some(assignee) = &ticket.assignee {
            text(
                "assignee",
                assignee.email.as_deref().unwrap_or(&assignee.name),
            );
        }
        if let Some(body) = details["comment"]["body"].as_str() {
            text("comment.body", body);
            text(
                "comment.internal",
                if details["comment"]["internal"].as_bool() == Some(true) {
                    "true"
                } else {
                    "false"
                },
            );
        }
        if let Some(requester) = &ticket.requester {
            text("requester.name", &requester.name);
            if let Some(email) = &requester.email {
                text("requester.email", email);
            }
            if let Some(person) =
                store::people::find_person(&mut work.tx, org_id, requester.id).await?
            {
                facts.insert("requester.role".into(), Fact::List(person.roles.0.clone()));
            }
        }
        if ticket.kind == "service_request" {
            if let Some(request) = store::catalog::find_request(&mut work.tx, ticket.id).await? {
                if let Some(item) =
                    store::catalog::find_item(&mut work.tx, request.org_id, request.item_id).await?
                {
                    facts.insert("catalog_item".into(), Fact::Text(item.name));
                }
                if let Value::Object(answers) = request.answers.0 {
                    for (key, value) in answers {
                        let fact = match value {
                            Value::String(s) => Fact::Text(s),
                            Value::Array(items) => Fact::List(
                                items
                                    .iter()
                                    .map(|v| {
                                        v.as_str()
                                            .map(str::to_string)
                                            .unwrap_or_else(|| v.to_string())
                                    })
                                    .collect(),
                            ),
                            Value::Object(o) => Fact::Text(
                                o.get("name")
                                    .and_then(Value::as_str)
                                    .unwrap_or_default()
                                    .to_string(),
                            ),
                            other => Fact::Text(other.to_string()),
                        };
                        facts.insert(format!("answers.{key}"), fact);
                    }
                }
            }
        }
        Ok(facts)
    }

    async fn fire(
        &self,
        work: &mut Work,
        actor: &Actor,
        rule: &rule::Rule,
        number: &str,
    ) -> Result<(), DeskError> {
        for action in &rule.actions {
            match action {
                Action::AssignTeam { team } => {
                    self.assign(
                        work,
                        actor,
                        number,
                        Assignment {
                            team: Some(Some(team.clone())),
                            assignee: None,
                        },
                    )
                    .await?;
                }
                Action::AssignPerson { person } => {
                    self.assign(
                        work,
                        actor,
                        number,
                        Assignment {
                            team: None,
                            assignee: Some(Some(person.clone())),
                        },
                    )
                    .await?;
                }
                Action::SetField { field, value } => {
                    let mut changes = TicketChanges::default();
                    match field.as_str() {
                        "impact" => changes.impact = Some(value.clone()),
                        "urgency" => changes.urgency = Some(value.clone()),
                        "title" => changes.title = Some(value.clone()),
                        "category" => changes.category = Some(Some(value.clone())),
                        "state" => {
                            let to = State::parse(value)
                                .map_err(|e| DeskError::invalid("state", e.to_string()))?;
                            self.move_ticket(work, actor, number, to, None, false)
                                .await?;
                            continue;
                        }
                        other => {
                            return Err(DeskError::invalid(
                                "field",
                                format!("cannot set `{other}`"),
                            ))
                        }
                    }
                    self.update_ticket(work, actor, number, changes).await?;
                }
                Action::AddWatcher { person } => {
                    let (id, _, _) =
                        resolve_person(&mut work.tx, actor.org_id, "person", person).await?;
                    self.add_watcher(work, actor, number, id).await?;
                }
                Action::AddComment { body, internal } => {
                    self.add_comment(work, actor, number, body, *internal)
                        .await?;
                }
                Action::Notify { to, message } => {
                    let ticket = super::tickets::lock_visible(&mut work.tx, actor, number).await?;
                    let recipients: Vec<Uuid> = match to.as_str() {
                        "requester" => ticket.requester_id.into_iter().collect(),
                        "assignee" => ticket.assignee_id.into_iter().collect(),
                        "team" => match ticket.team_id {
                            Some(team) => store::teams::list_members(&mut work.tx, team).await?,
                            None => Vec::new(),
                        },
                        who => vec![
                            resolve_person(&mut work.tx, actor.org_id, "to", who)
                                .await?
                                .0,
                        ],
                    };
                    let view = super::views::TicketView::from(&ticket);
                    let note = Message {
                        event: "automation.notify",
                        subject: format!("[{}] {}", ticket.number, ticket.title),
                        text: message.clone(),
                        data: json!({ "ticket": view, "rule": rule.name }),
                    };
                    for person in recipients {
                        self.notify_person(work, actor.org_id, person, &note)
                            .await?;
                    }
                }
                Action::StartApproval { policy } => {
                    self.request_approval(work, actor, number, policy).await?;
                }
                Action::LinkProblem { problem } => {
                    self.link_problem_incident(work, actor, problem, number)
                        .await?;
                }
            }
        }
        Ok(())
    }
}
