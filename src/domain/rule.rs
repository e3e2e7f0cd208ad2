//! Automation rules: when (an event) + if (conditions on the ticket and its
//! requester) + then (actions). Which rules fire for an event is decided
//! here, purely; the desk runs the actions.
//!
//! Loop safety: an event caused by a rule's actions carries the chain of
//! rules that led to it, and a rule never fires on an event its own chain
//! contains; the desk also caps firings per transaction.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::text::FieldError;

/// Most firings one use case may cause; beyond that automation stops and
/// says so in the activity log.
pub const MAX_FIRINGS: usize = 25;
const MAX_CONDITIONS: usize = 20;
const MAX_ACTIONS: usize = 20;

/// The events a rule can listen to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trigger {
    #[serde(rename = "ticket.created")]
    Created,
    #[serde(rename = "ticket.updated")]
    Updated,
    #[serde(rename = "ticket.state_changed")]
    StateChanged,
    #[serde(rename = "ticket.commented")]
    Commented,
    #[serde(rename = "ticket.assigned")]
    Assigned,
    #[serde(rename = "sla.warning")]
    SlaWarning,
    #[serde(rename = "sla.breached")]
    SlaBreached,
}

string_enum!(Trigger, "rule trigger", {
    Created => "ticket.created",
    Updated => "ticket.updated",
    StateChanged => "ticket.state_changed",
    Commented => "ticket.commented",
    Assigned => "ticket.assigned",
    SlaWarning => "sla.warning",
    SlaBreached => "sla.breached",
});

/// Ticket facts a condition can test. `answers.<key>` reads a catalog
/// order's form answer.
pub const FIELDS: &[&str] = &[
    "kind",
    "state",
    "priority",
    "impact",
    "urgency",
    "category",
    "team",
    "assignee",
    "channel",
    "title",
    "description",
    "text",
    "requester.email",
    "requester.name",
    "requester.role",
    "comment.body",
    "comment.internal",
    "catalog_item",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Equals,
    NotEquals,
    In,
    NotIn,
    /// Case-insensitive substring; for lists, any element equal.
    Contains,
    NotContains,
    IsEmpty,
    IsNotEmpty,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    pub field: String,
    pub op: Op,
    #[serde(default)]
    pub value: Value,
}

/// What a rule does; names are people or teams by email, name or id, as
/// everywhere in the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    AssignTeam {
        team: String,
    },
    AssignPerson {
        person: String,
    },
    /// `impact`, `urgency`, `category`, `title` or `state`.
    SetField {
        field: String,
        value: String,
    },
    AddWatcher {
        person: String,
    },
    AddComment {
        body: String,
        #[serde(default)]
        internal: bool,
    },
    /// `to`: `requester`, `assignee`, `team`, or a person.
    Notify {
        to: String,
        message: String,
    },
    StartApproval {
        policy: String,
    },
    /// Links the (incident) ticket to a problem, by number.
    LinkProblem {
        problem: String,
    },
}

const SETTABLE: &[&str] = &["impact", "urgency", "category", "title", "state"];

/// A rule as stored, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: Uuid,
    pub name: String,
    pub trigger: Trigger,
    pub match_all: bool,
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
    pub stop_processing: bool,
}

/// One fact's value: absent, one text, or several (roles, multi-choice answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    Text(String),
    List(Vec<String>),
}

pub type Facts = BTreeMap<String, Fact>;

fn known_field(field: &str) -> bool {
    FIELDS.contains(&field)
        || field.strip_prefix("answers.").is_some_and(|key| {
            !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

/// Checks conditions and actions; errors name the place (`conditions[1].field`).
pub fn check(
    conditions: &Value,
    actions: &Value,
) -> Result<(Vec<Condition>, Vec<Action>), Vec<FieldError>> {
    let mut errors = Vec::new();
    let conditions: Vec<Condition> = match serde_json::from_value(conditions.clone()) {
        Ok(c) => c,
        Err(e) => {
            errors.push(FieldError::new("conditions", e.to_string()));
            Vec::new()
        }
    };
    let actions: Vec<Action> = match serde_json::from_value(actions.clone()) {
        Ok(a) => a,
        Err(e) => {
            errors.push(FieldError::new("actions", e.to_string()));
            Vec::new()
        }
    };
    if conditions.len() > MAX_CONDITIONS {
        errors.push(FieldError::new(
            "conditions",
            format!("at most {MAX_CONDITIONS}"),
        ));
    }
    for (i, c) in conditions.iter().enumerate() {
        if !known_field(&c.field) {
            errors.push(FieldError::new(
                format!("conditions[{i}].field"),
                format!(
                    "unknown field `{}`; known: {}, answers.<key>",
                    c.field,
                    FIELDS.join(", ")
                ),
            ));
        }
        let needs = match c.op {
            Op::IsEmpty | Op::IsNotEmpty => None,
            Op::In | Op::NotIn => Some(
                c.value
                    .as_array()
                    .is_some_and(|a| a.iter().all(Value::is_string)),
            ),
            _ => Some(c.value.is_string() || c.value.is_boolean() || c.value.is_number()),
        };
        if needs == Some(false) {
            errors.push(FieldError::new(
                format!("conditions[{i}].value"),
                match c.op {
                    Op::In | Op::NotIn => "must be a list of texts",
                    _ => "must be a text, number or boolean",
                },
            ));
        }
    }
    if actions.is_empty() || actions.len() > MAX_ACTIONS {
        errors.push(FieldError::new(
            "actions",
            format!("a rule needs 1 to {MAX_ACTIONS} actions"),
        ));
    }
    for (i, a) in actions.iter().enumerate() {
        let place = format!("actions[{i}]");
        let blank = |s: &str| s.trim().is_empty();
        let problem = match a {
            Action::SetField { field, .. } if !SETTABLE.contains(&field.as_str()) => Some(format!(
                "cannot set `{field}`; settable: {}",
                SETTABLE.join(", ")
            )),
            Action::AssignTeam { team: s }
            | Action::AssignPerson { person: s }
            | Action::AddWatcher { person: s }
            | Action::AddComment { body: s, .. }
            | Action::StartApproval { policy: s }
            | Action::LinkProblem { problem: s }
                if blank(s) =>
            {
                Some("must not be empty".into())
            }
            Action::Notify { to, message } if blank(to) || blank(message) => {
                Some("needs `to` and `message`".into())
            }
            _ => None,
        };
        if let Some(problem) = problem {
            errors.push(FieldError::new(place, problem));
        }
    }
    if errors.is_empty() {
        Ok((conditions, actions))
    } else {
        Err(errors)
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Condition {
    pub fn holds(&self, facts: &Facts) -> bool {
        let fact = facts.get(&self.field);
        let wanted = text_of(&self.value);
        let eq = |a: &str| a.eq_ignore_ascii_case(wanted.trim());
        let listed = |a: &str| {
            self.value
                .as_array()
                .is_some_and(|l| l.iter().any(|v| text_of(v).eq_ignore_ascii_case(a)))
        };
        match self.op {
            Op::Equals => match fact {
                Some(Fact::Text(t)) => eq(t),
                Some(Fact::List(l)) => l.iter().any(|t| eq(t)),
                None => false,
            },
            Op::NotEquals => !Condition {
                op: Op::Equals,
                ..self.clone()
            }
            .holds(facts),
            Op::In => match fact {
                Some(Fact::Text(t)) => listed(t),
                Some(Fact::List(l)) => l.iter().any(|t| listed(t)),
                None => false,
            },
            Op::NotIn => !Condition {
                op: Op::In,
                ..self.clone()
            }
            .holds(facts),
            Op::Contains => {
                let needle = wanted.to_lowercase();
                match fact {
                    Some(Fact::Text(t)) => t.to_lowercase().contains(&needle),
                    Some(Fact::List(l)) => l.iter().any(|t| eq(t)),
                    None => false,
                }
            }
            Op::NotContains => !Condition {
                op: Op::Contains,
                ..self.clone()
            }
            .holds(facts),
            Op::IsEmpty => match fact {
                None => true,
                Some(Fact::Text(t)) => t.trim().is_empty(),
                Some(Fact::List(l)) => l.is_empty(),
            },
            Op::IsNotEmpty => !Condition {
                op: Op::IsEmpty,
                ..self.clone()
            }
            .holds(facts),
        }
    }
}

impl Rule {
    pub fn matches(&self, facts: &Facts) -> bool {
        if self.conditions.is_empty() {
            return true;
        }
        if self.match_all {
            self.conditions.iter().all(|c| c.holds(facts))
        } else {
            self.conditions.iter().any(|c| c.holds(facts))
        }
    }
}

/// The rules that fire for an event, in order: listening to `trigger`, not
/// in the event's causal `chain`, matching the facts; a firing rule that
/// stops processing ends the list.
pub fn select<'r>(
    rules: &'r [Rule],
    trigger: Trigger,
    facts: &Facts,
    chain: &[Uuid],
) -> Vec<&'r Rule> {
    let mut firing = Vec::new();
    for rule in rules {
        if rule.trigger != trigger || chain.contains(&rule.id) || !rule.matches(facts) {
            continue;
        }
        firing.push(rule);
        if rule.stop_processing {
            break;
        }
    }
    firing
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn facts(pairs: &[(&str, Fact)]) -> Facts {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn text(s: &str) -> Fact {
        Fact::Text(s.into())
    }

    fn rule(n: u128, trigger: Trigger, conditions: Value, stop: bool) -> Rule {
        let (conditions, actions) = check(
            &conditions,
            &json!([{ "type": "add_comment", "body": "x" }]),
        )
        .expect("valid");
        Rule {
            id: Uuid::from_u128(n),
            name: format!("rule {n}"),
            trigger,
            match_all: true,
            conditions,
            actions,
            stop_processing: stop,
        }
    }

    #[test]
    fn conditions_compare_case_insensitively() {
        let f = facts(&[
            ("kind", text("incident")),
            ("title", text("VPN is down in Berlin")),
            (
                "requester.role",
                Fact::List(vec!["requester".into(), "approver".into()]),
            ),
            ("answers.extras", Fact::List(vec!["dock".into()])),
        ]);
        let holds = |c: Value| {
            let c: Condition = serde_json::from_value(c).expect("condition");
            c.holds(&f)
        };
        assert!(holds(
            json!({ "field": "kind", "op": "equals", "value": "Incident" })
        ));
        assert!(holds(
            json!({ "field": "title", "op": "contains", "value": "vpn" })
        ));
        assert!(!holds(
            json!({ "field": "title", "op": "not_contains", "value": "vpn" })
        ));
        assert!(holds(
            json!({ "field": "requester.role", "op": "equals", "value": "approver" })
        ));
        assert!(holds(
            json!({ "field": "kind", "op": "in", "value": ["change", "incident"] })
        ));
        assert!(holds(json!({ "field": "team", "op": "is_empty" })));
        assert!(holds(
            json!({ "field": "answers.extras", "op": "contains", "value": "dock" })
        ));
        assert!(!holds(
            json!({ "field": "category", "op": "equals", "value": "x" })
        ));
        assert!(holds(
            json!({ "field": "category", "op": "not_equals", "value": "x" })
        ));
    }

    #[test]
    fn rules_run_in_order_and_stop_processing_stops() {
        let rules = [
            rule(
                1,
                Trigger::Created,
                json!([{ "field": "kind", "op": "equals", "value": "incident" }]),
                false,
            ),
            rule(2, Trigger::Updated, json!([]), false),
            rule(3, Trigger::Created, json!([]), true),
            rule(4, Trigger::Created, json!([]), false),
        ];
        let f = facts(&[("kind", text("incident"))]);
        let ids: Vec<u128> = select(&rules, Trigger::Created, &f, &[])
            .iter()
            .map(|r| r.id.as_u128())
            .collect();
        assert_eq!(ids, [1, 3]);
        let f = facts(&[("kind", text("change"))]);
        let ids: Vec<u128> = select(&rules, Trigger::Created, &f, &[])
            .iter()
            .map(|r| r.id.as_u128())
            .collect();
        assert_eq!(ids, [3]);
    }

    #[test]
    fn a_rule_never_fires_on_events_it_caused() {
        let rules = [
            rule(1, Trigger::Updated, json!([]), false),
            rule(2, Trigger::Updated, json!([]), false),
        ];
        // Rule 1 changed the ticket; the update event carries [1].
        let ids: Vec<u128> = select(
            &rules,
            Trigger::Updated,
            &Facts::new(),
            &[Uuid::from_u128(1)],
        )
        .iter()
        .map(|r| r.id.as_u128())
        .collect();
        assert_eq!(ids, [2]);
        // Rule 2 reacted to that; its events carry [1, 2]: nothing fires again.
        let chain = [Uuid::from_u128(1), Uuid::from_u128(2)];
        assert!(select(&rules, Trigger::Updated, &Facts::new(), &chain).is_empty());
    }

    #[test]
    fn unknown_fields_and_bad_actions_are_refused_by_place() {
        let errors = check(
            &json!([
                { "field": "kind", "op": "equals", "value": "incident" },
                { "field": "colour", "op": "equals", "value": "red" },
                { "field": "kind", "op": "in", "value": "incident" }
            ]),
            &json!([
                { "type": "set_field", "field": "priority", "value": "p1" },
                { "type": "assign_team", "team": " " }
            ]),
        )
        .expect_err("invalid");
        let fields: Vec<String> = errors.iter().map(|e| e.field.to_string()).collect();
        assert_eq!(
            fields,
            [
                "conditions[1].field",
                "conditions[2].value",
                "actions[0]",
                "actions[1]"
            ]
        );
        assert!(check(&json!([]), &json!([{ "type": "launch_rocket" }])).is_err());
        assert!(check(&json!([]), &json!([])).is_err());
        assert!(check(
            &json!([{ "field": "answers.laptop_model", "op": "is_not_empty" }]),
            &json!([{ "type": "add_comment", "body": "x" }])
        )
        .is_ok());
    }
}
