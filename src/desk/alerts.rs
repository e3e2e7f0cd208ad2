//! Alerts become incidents. One use case takes a batch of alerts of one
//! group (an Alertmanager notification, an Events v2 event, a generic
//! body) in one transaction: the group is locked, its incident opened,
//! reopened or joined (`domain::alert::on_firing`), the alerts written by
//! fingerprint, and the incident resolved when the last of them resolves.
//! A repeat of the same payload changes nothing and notifies nobody, so
//! the two Alertmanagers of an HA pair, or two replicas taking their
//! deliveries at once, give one incident and one notification.
//!
//! Also here: acknowledging and silencing a group's incident (Events v2
//! `acknowledge`, the chat buttons), the quiet-time resolution timer, and
//! reading an incident's alerts.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::{integrations::Integration, new_id, tickets::OpenTicket, Actor, Desk, DeskError, Work};
use crate::{
    domain::{
        alert::{clean_line, clean_text, on_firing, AlertStatus, Held, OnFiring, Opens},
        State,
    },
    store::{
        self,
        alerts::{AlertGroupRow, AlertRow},
        tickets::TicketRow,
        timers::TimerRow,
        Db, Exec,
    },
};

/// The timer that resolves an incident whose group has been quiet.
pub const ALERT_QUIET: &str = "alert_quiet";

/// How long "Silence" holds a group.
pub const SILENCE: Duration = Duration::hours(1);

/// Alerts of one group, as one sender's message carries them.
#[derive(Debug, Clone, Default)]
pub struct AlertBatch {
    /// Alertmanager's `groupKey`, the Events v2 `dedup_key`, the generic dedup key.
    pub group_key: String,
    /// Of a new incident.
    pub title: String,
    pub description: String,
    pub severity: Option<String>,
    /// What the mapping reads for the category and the CI (the group's
    /// common labels, an event's custom details).
    pub labels: BTreeMap<String, String>,
    pub alerts: Vec<AlertInput>,
}

#[derive(Debug, Clone)]
pub struct AlertInput {
    pub fingerprint: String,
    pub status: AlertStatus,
    pub summary: String,
    pub severity: Option<String>,
    pub labels: Value,
    pub annotations: Value,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub generator_url: Option<String>,
}

/// What a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertAction {
    /// A new incident.
    Opened,
    /// The group's resolved incident came back.
    Reopened,
    /// The open incident took the alerts (or nothing changed).
    Joined,
    /// The last alert resolved, and so did the incident.
    Resolved,
    /// Nothing to do: a resolution or acknowledgement of a group without
    /// an incident.
    Ignored,
}

impl AlertAction {
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertAction::Opened => "opened",
            AlertAction::Reopened => "reopened",
            AlertAction::Joined => "joined",
            AlertAction::Resolved => "resolved",
            AlertAction::Ignored => "ignored",
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertOutcome {
    pub action: AlertAction,
    /// The group's incident.
    pub ticket: Option<String>,
    /// Its alerts now.
    pub firing: usize,
    pub resolved: usize,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertView {
    pub fingerprint: String,
    #[schema(value_type = String)]
    pub status: AlertStatus,
    pub summary: String,
    pub severity: Option<String>,
    #[schema(value_type = Object)]
    pub labels: Value,
    #[schema(value_type = Object)]
    pub annotations: Value,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub generator_url: Option<String>,
    pub updated_at: DateTime<Utc>,
}

impl From<AlertRow> for AlertView {
    fn from(r: AlertRow) -> Self {
        Self {
            status: AlertStatus::parse(&r.status).unwrap_or(AlertStatus::Firing),
            fingerprint: r.fingerprint,
            summary: r.summary,
            severity: r.severity,
            labels: r.labels.0,
            annotations: r.annotations.0,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            generator_url: r.generator_url,
            updated_at: r.updated_at,
        }
    }
}

/// What a triage card shows of an incident's alerts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertBrief {
    pub firing: usize,
    pub resolved: usize,
    /// Labels every alert shares (but `alertname`), at most eight.
    pub labels: Vec<(String, String)>,
    /// The runbook link of the annotations.
    pub runbook: Option<String>,
    /// Where the alert comes from (Prometheus' graph, the sender's page).
    pub source: Option<String>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub silenced_until: Option<DateTime<Utc>>,
}

/// The brief of an incident opened by alerts; `None` (without a read) for
/// other tickets.
pub async fn alert_brief(
    db: &Db,
    ticket: &super::views::TicketView,
) -> Result<Option<AlertBrief>, sqlx::Error> {
    if ticket.channel != crate::domain::Channel::Alert.as_str() {
        return Ok(None);
    }
    let ticket_id = ticket.id;
    let Some(group) = store::alerts::group_of_ticket(Exec::Db(db), ticket_id).await? else {
        return Ok(None);
    };
    let alerts = store::alerts::list_alerts(Exec::Db(db), ticket_id).await?;
    let escalation = store::sla::find_ticket_escalation(Exec::Db(db), ticket_id).await?;
    let firing = alerts
        .iter()
        .filter(|a| a.status == AlertStatus::Firing.as_str())
        .count();
    let text_of = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    let mut labels: Vec<(String, String)> = match alerts.first() {
        Some(first) => first
            .labels
            .0
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.as_str() != "alertname")
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect()
            })
            .unwrap_or_default(),
        None => Vec::new(),
    };
    labels.retain(|(k, v)| {
        alerts
            .iter()
            .all(|a| text_of(&a.labels.0, k).as_deref() == Some(v.as_str()))
    });
    labels.truncate(8);
    let firing_first = alerts
        .iter()
        .filter(|a| a.status == AlertStatus::Firing.as_str())
        .chain(alerts.iter());
    let mut runbook = None;
    let mut source = None;
    for alert in firing_first {
        runbook = runbook.or_else(|| {
            text_of(&alert.annotations.0, "runbook_url")
                .or_else(|| text_of(&alert.annotations.0, "runbook"))
        });
        source = source.or_else(|| alert.generator_url.clone());
    }
    Ok(Some(AlertBrief {
        firing,
        resolved: alerts.len() - firing,
        labels,
        runbook,
        source,
        acknowledged_at: group
            .acknowledged_at
            .or(escalation.and_then(|e| e.acknowledged_at)),
        silenced_until: group.silenced_until,
    }))
}

fn is_open(row: &TicketRow) -> bool {
    crate::domain::report::is_open_state(&row.state)
}

fn counts(alerts: &HashMap<String, AlertRow>) -> (usize, usize) {
    let firing = alerts
        .values()
        .filter(|a| a.status == AlertStatus::Firing.as_str())
        .count();
    (firing, alerts.len() - firing)
}

fn describe((firing, resolved): (usize, usize)) -> String {
    format!("{firing} firing, {resolved} resolved")
}

/// Same alert, same news: only the write times may differ.
fn same(a: &AlertRow, b: &AlertRow) -> bool {
    a.status == b.status
        && a.summary == b.summary
        && a.severity == b.severity
        && a.labels == b.labels
        && a.annotations == b.annotations
        && a.starts_at == b.starts_at
        && a.ends_at == b.ends_at
        && a.generator_url == b.generator_url
}

impl Desk {
    /// Takes a batch of one group's alerts; see the module doc.
    #[tracing::instrument(skip_all, fields(integration = %integration.row.id), err(level = "debug"))]
    pub async fn take_alerts(
        &self,
        work: &mut Work,
        integration: &Integration,
        batch: AlertBatch,
    ) -> Result<AlertOutcome, DeskError> {
        let actor = integration.actor();
        let mapping = &integration.mapping;
        let org = actor.org_id;
        let now = self.clock.now();
        let mut group = store::alerts::lock_group(
            &mut work.tx,
            &AlertGroupRow {
                id: new_id(),
                org_id: org,
                integration_id: integration.row.id,
                group_key: batch.group_key.clone(),
                ticket_id: None,
                firing: false,
                opened_at: now,
                flap_since: now,
                flap_opens: 0,
                last_event_at: now,
                resolved_at: None,
                silenced_until: None,
                acknowledged_at: None,
            },
        )
        .await?;
        let mut ticket = self.group_ticket(work, &group).await?;
        let held = match &ticket {
            Some(t) if is_open(t) => Held::Open,
            Some(t) if t.state == State::Resolved.as_str() => Held::Resolved {
                at: t.resolved_at.or(group.resolved_at).unwrap_or(now),
            },
            _ => Held::Nothing,
        };
        let mut opens = Opens {
            since: group.flap_since,
            count: u32::try_from(group.flap_opens).unwrap_or(0),
        };
        let silenced = group.silenced_until.is_some_and(|until| until > now);
        let firing = batch.alerts.iter().any(|a| a.status == AlertStatus::Firing);
        let mut action = AlertAction::Joined;
        if firing {
            match on_firing(held, opens.flapping(now, mapping), now, mapping) {
                // Silenced: the firing is recorded on the incident it has.
                OnFiring::Open | OnFiring::Reopen if silenced && ticket.is_some() => {}
                OnFiring::Open => {
                    ticket = Some(self.open_alert_incident(work, integration, &batch).await?);
                    opens = opens.count(now, mapping);
                    group.opened_at = now;
                    action = AlertAction::Opened;
                }
                OnFiring::Reopen => {
                    if let Some(row) = ticket.take() {
                        ticket = Some(self.reopen_alert_incident(work, integration, row).await?);
                    }
                    opens = opens.count(now, mapping);
                    group.opened_at = now;
                    action = AlertAction::Reopened;
                }
                OnFiring::Join => {}
            }
        }
        let Some(row) = ticket else {
            return Ok(AlertOutcome {
                action: AlertAction::Ignored,
                ticket: None,
                firing: 0,
                resolved: 0,
            });
        };

        let mut alerts: HashMap<String, AlertRow> =
            store::alerts::list_alerts(Exec::Tx(&mut work.tx), row.id)
                .await?
                .into_iter()
                .map(|a| (a.fingerprint.clone(), a))
                .collect();
        let before = counts(&alerts);
        let mut changed: Vec<AlertRow> = Vec::new();
        for input in batch.alerts {
            let known = alerts.get(&input.fingerprint);
            // A resolution that says only "resolved" (Events v2) keeps
            // what the alert said when it fired.
            let summary = match (input.summary.trim().is_empty(), known) {
                (true, Some(k)) => k.summary.clone(),
                _ => clean_line(&input.summary, 500),
            };
            let keep = |given: Value, kept: Option<&sqlx::types::Json<Value>>| match (given, kept) {
                (Value::Null, Some(k)) => k.0.clone(),
                (Value::Null, None) => json!({}),
                (given, _) => given,
            };
            let labels = keep(input.labels, known.map(|k| &k.labels));
            let annotations = keep(input.annotations, known.map(|k| &k.annotations));
            let severity = input
                .severity
                .map(|s| clean_line(&s, 40))
                .or_else(|| known.and_then(|k| k.severity.clone()));
            let next = AlertRow {
                id: known.map_or_else(new_id, |k| k.id),
                org_id: org,
                group_id: group.id,
                ticket_id: row.id,
                fingerprint: input.fingerprint.clone(),
                status: input.status.as_str().into(),
                summary,
                severity,
                labels: sqlx::types::Json(labels),
                annotations: sqlx::types::Json(annotations),
                starts_at: input.starts_at.or_else(|| known.and_then(|k| k.starts_at)),
                ends_at: input.ends_at,
                generator_url: input.generator_url,
                created_at: known.map_or(now, |k| k.created_at),
                updated_at: now,
            };
            if known.is_none_or(|k| !same(k, &next)) {
                changed.retain(|c| c.fingerprint != next.fingerprint);
                changed.push(next.clone());
                alerts.insert(next.fingerprint.clone(), next);
            }
        }
        store::alerts::upsert_alerts(&mut work.tx, &changed).await?;
        let after = counts(&alerts);
        if after != before {
            work.record(
                &actor,
                row.id,
                "alerts_changed",
                Some(("alerts", Some(describe(before)), Some(describe(after)))),
            );
        }

        let mut row = row;
        if after.0 == 0 && after.1 > 0 && is_open(&row) {
            if mapping.auto_resolve && !opens.flapping(now, mapping) {
                row = self
                    .resolve_alert_incident(
                        work,
                        &actor,
                        row,
                        format!(
                            "All {} alerts of this incident have resolved; {} resolved it.",
                            after.1, integration.row.name
                        ),
                    )
                    .await?;
                action = AlertAction::Resolved;
            } else if mapping.auto_resolve && !changed.is_empty() {
                work.record(&actor, row.id, "alerts_flapping", None);
            }
        }

        group.ticket_id = Some(row.id);
        group.firing = after.0 > 0;
        group.flap_since = opens.since;
        group.flap_opens = i32::try_from(opens.count).unwrap_or(i32::MAX);
        group.last_event_at = now;
        match action {
            AlertAction::Resolved => group.resolved_at = row.resolved_at.or(Some(now)),
            AlertAction::Opened | AlertAction::Reopened => {
                // Firing anew: it wants acknowledging again.
                group.resolved_at = None;
                group.acknowledged_at = None;
            }
            AlertAction::Joined | AlertAction::Ignored => {}
        }
        store::alerts::update_group(&mut work.tx, &group).await?;
        if let (Some(minutes), true) = (mapping.resolve_after_quiet_minutes, is_open(&row)) {
            store::timers::cancel_timers(&mut work.tx, row.id, ALERT_QUIET).await?;
            work.schedule(TimerRow {
                id: new_id(),
                org_id: org,
                kind: ALERT_QUIET.into(),
                ticket_id: Some(row.id),
                payload: sqlx::types::Json(json!({ "group": group.id, "last_event_at": now })),
                due_at: now + Duration::minutes(i64::from(minutes)),
                created_at: now,
            });
        }
        self.metrics.alert_event(action.as_str());
        Ok(AlertOutcome {
            action,
            ticket: Some(row.number),
            firing: after.0,
            resolved: after.1,
        })
    }

    /// Events v2 `acknowledge`: the escalation of the group's open
    /// incident stops, as when an agent acknowledges it.
    pub async fn acknowledge_alert_group(
        &self,
        work: &mut Work,
        integration: &Integration,
        group_key: &str,
    ) -> Result<AlertOutcome, DeskError> {
        let actor = integration.actor();
        let Some(mut group) =
            store::alerts::find_group(&mut work.tx, integration.row.id, group_key).await?
        else {
            return Ok(ignored());
        };
        let Some(row) = self.group_ticket(work, &group).await?.filter(is_open) else {
            return Ok(ignored());
        };
        self.acknowledge_group(work, &actor, &mut group, &row)
            .await?;
        let alerts = store::alerts::list_alerts(Exec::Tx(&mut work.tx), row.id).await?;
        let firing = alerts
            .iter()
            .filter(|a| a.status == AlertStatus::Firing.as_str())
            .count();
        self.metrics.alert_event("acknowledged");
        Ok(AlertOutcome {
            action: AlertAction::Joined,
            ticket: Some(row.number),
            firing,
            resolved: alerts.len() - firing,
        })
    }

    /// "Silence for 1 h" (agents): the escalation is acknowledged, and for
    /// an hour the group's firings neither reopen its incident nor open a
    /// new one. Answers until when.
    pub async fn silence_alert_incident(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
    ) -> Result<DateTime<Utc>, DeskError> {
        let (mut group, row) = self
            .lock_alert_incident(work, actor, number, "so there is nothing to silence")
            .await?;
        let until = self.clock.now() + SILENCE;
        group.silenced_until = Some(until);
        self.acknowledge_group(work, actor, &mut group, &row)
            .await?;
        work.record(
            actor,
            row.id,
            "alerts_silenced",
            Some(("silenced_until", None, Some(until.to_rfc3339()))),
        );
        work.audit(
            actor,
            "ticket.alerts_silenced",
            &row.number,
            json!({ "until": until }),
        );
        Ok(until)
    }

    /// "Acknowledge" on an alert incident (agents): its escalation stops
    /// and its card says since when, until its group fires anew. Answers
    /// since when.
    pub async fn acknowledge_alert_incident(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
    ) -> Result<DateTime<Utc>, DeskError> {
        let (mut group, row) = self
            .lock_alert_incident(work, actor, number, "acknowledge its escalation instead")
            .await?;
        self.acknowledge_group(work, actor, &mut group, &row).await
    }

    /// An agent's alert incident and its group, both locked, the group
    /// first (the order a delivery locks them, so the two cannot deadlock);
    /// a ticket no alert opened is refused, `otherwise` saying what to do.
    async fn lock_alert_incident(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        otherwise: &str,
    ) -> Result<(AlertGroupRow, TicketRow), DeskError> {
        actor.require_agent()?;
        let seen = self
            .visible_ticket(Exec::Tx(&mut work.tx), actor, number)
            .await?;
        let group = store::alerts::lock_group_of_ticket(&mut work.tx, seen.id).await?;
        let row = super::tickets::lock_visible(&mut work.tx, actor, number).await?;
        match group {
            Some(group) => Ok((group, row)),
            None => Err(DeskError::Conflict(format!(
                "{} was not opened by an alert; {otherwise}",
                row.number
            ))),
        }
    }

    /// Records the group's acknowledgement (once per opening) and stops
    /// the incident's escalation; saves the group.
    async fn acknowledge_group(
        &self,
        work: &mut Work,
        actor: &Actor,
        group: &mut AlertGroupRow,
        row: &TicketRow,
    ) -> Result<DateTime<Utc>, DeskError> {
        let at = match group.acknowledged_at {
            Some(at) => at,
            None => {
                let now = self.clock.now();
                group.acknowledged_at = Some(now);
                work.record(actor, row.id, "alerts_acknowledged", None);
                work.audit(actor, "ticket.alerts_acknowledged", &row.number, json!({}));
                now
            }
        };
        store::alerts::update_group(&mut work.tx, group).await?;
        self.acknowledge(work, actor, &row.number).await?;
        Ok(at)
    }

    /// The alerts of an incident (agents).
    pub async fn ticket_alerts(
        &self,
        actor: &Actor,
        number: &str,
    ) -> Result<Vec<AlertView>, DeskError> {
        actor.require_agent()?;
        let row = self
            .visible_ticket(Exec::Db(&self.db), actor, number)
            .await?;
        Ok(store::alerts::list_alerts(Exec::Db(&self.db), row.id)
            .await?
            .into_iter()
            .map(AlertView::from)
            .collect())
    }

    /// The `alert_quiet` timer: the group has sent nothing since the event
    /// that set it, so its incident resolves.
    pub(super) async fn alert_quiet_timer(
        &self,
        work: &mut Work,
        timer: &TimerRow,
    ) -> Result<(), DeskError> {
        let Some(ticket_id) = timer.ticket_id else {
            return Ok(());
        };
        let Some(group) = store::alerts::lock_group_of_ticket(&mut work.tx, ticket_id).await?
        else {
            return Ok(());
        };
        let Some(row) = self.group_ticket(work, &group).await?.filter(is_open) else {
            return Ok(());
        };
        let set_at = timer
            .payload
            .0
            .get("last_event_at")
            .and_then(|v| serde_json::from_value::<DateTime<Utc>>(v.clone()).ok());
        if set_at != Some(group.last_event_at) {
            return Ok(());
        }
        let Some(integration) = store::alerts::find_integration(&self.db, group.integration_id)
            .await?
            .map(Integration::read)
            .transpose()?
        else {
            return Ok(());
        };
        let Some(minutes) = integration.mapping.resolve_after_quiet_minutes else {
            return Ok(());
        };
        let actor = integration.actor();
        let note = format!(
            "No alert of this incident for {minutes} minutes; {} resolved it.",
            integration.row.name
        );
        let row = self.resolve_alert_incident(work, &actor, row, note).await?;
        let mut group = group;
        group.resolved_at = row.resolved_at;
        store::alerts::update_group(&mut work.tx, &group).await?;
        self.metrics.alert_event("resolved_quiet");
        Ok(())
    }

    /// The group's incident, locked for change.
    async fn group_ticket(
        &self,
        work: &mut Work,
        group: &AlertGroupRow,
    ) -> Result<Option<TicketRow>, DeskError> {
        let Some(id) = group.ticket_id else {
            return Ok(None);
        };
        let Some(found) = store::tickets::find_ticket(&mut work.tx, group.org_id, id).await? else {
            return Ok(None);
        };
        Ok(
            store::tickets::lock_ticket_by_number(&mut work.tx, group.org_id, &found.number)
                .await?,
        )
    }

    async fn open_alert_incident(
        &self,
        work: &mut Work,
        integration: &Integration,
        batch: &AlertBatch,
    ) -> Result<TicketRow, DeskError> {
        let actor = integration.actor();
        let mapping = &integration.mapping;
        let levels = mapping.levels(batch.severity.as_deref());
        // A mapping that names what is not there (a renamed category, a
        // deleted team) never loses the alert: the incident opens without.
        let category_name = mapping.category.clone().or_else(|| {
            mapping
                .category_label
                .as_ref()
                .and_then(|label| batch.labels.get(label).cloned())
        });
        let category = match category_name {
            Some(name) => store::teams::find_category_by_name(&mut work.tx, actor.org_id, &name)
                .await?
                .map(|c| c.id.to_string()),
            None => None,
        };
        let team = match mapping.team_id {
            Some(id) => store::teams::find_team(&mut work.tx, actor.org_id, id)
                .await?
                .map(|t| t.id.to_string()),
            None => None,
        };
        let title = match clean_line(&batch.title, 200) {
            t if t.is_empty() => format!("Alert from {}", integration.row.name),
            t => t,
        };
        let input = OpenTicket {
            tags: Vec::new(),
            kind: "incident".into(),
            title,
            description: clean_text(&batch.description, 50_000),
            impact: Some(levels.impact.as_str().into()),
            urgency: Some(levels.urgency.as_str().into()),
            category,
            team,
            requester: None,
        };
        let row = self.open_ticket_row(work, &actor, input).await?;
        if let Some(policy) = mapping.escalation_policy_id {
            self.escalation_replace(work, &row, policy).await?;
        }
        for label in &mapping.ci_labels {
            let Some(value) = batch.labels.get(label) else {
                continue;
            };
            if let Some(ci) = store::cmdb::find_ci_named(&mut work.tx, actor.org_id, value).await? {
                self.link_ticket_ci(work, &actor, &row.number, ci.id)
                    .await?;
                break;
            }
        }
        Ok(row)
    }

    async fn reopen_alert_incident(
        &self,
        work: &mut Work,
        integration: &Integration,
        row: TicketRow,
    ) -> Result<TicketRow, DeskError> {
        let actor = integration.actor();
        let (id, org) = (row.id, row.org_id);
        let note = format!(
            "The alerts of this incident fire again ({}).",
            integration.row.name
        );
        self.apply_transition(work, &actor, row, State::InProgress.as_str(), Some(note))
            .await?;
        let row = store::tickets::find_ticket(&mut work.tx, org, id)
            .await?
            .ok_or(DeskError::NotFound("ticket"))?;
        match integration.mapping.escalation_policy_id {
            Some(policy) => self.escalation_replace(work, &row, policy).await?,
            None => self.escalation_restart(work, &row).await?,
        }
        Ok(row)
    }

    async fn resolve_alert_incident(
        &self,
        work: &mut Work,
        actor: &Actor,
        row: TicketRow,
        note: String,
    ) -> Result<TicketRow, DeskError> {
        let (id, org) = (row.id, row.org_id);
        self.apply_transition(work, actor, row, State::Resolved.as_str(), Some(note))
            .await?;
        work.record(actor, id, "alerts_resolved", None);
        store::tickets::find_ticket(&mut work.tx, org, id)
            .await?
            .ok_or(DeskError::NotFound("ticket"))
    }
}

fn ignored() -> AlertOutcome {
    AlertOutcome {
        action: AlertAction::Ignored,
        ticket: None,
        firing: 0,
        resolved: 0,
    }
}
