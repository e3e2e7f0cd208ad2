//! Notifications: event → recipients → channels, inside the use case's
//! transaction. Ticket use cases call [`Desk::notify_ticket`] (recipients
//! by role: requester, assignee, team, watchers, plus people mentioned in
//! a comment, minus the actor); approvals, SLA alarms, escalations and
//! other use cases name their recipients and call [`Desk::notify_person`].
//! Either way each person gets one message per channel their preferences
//! (over the organization's defaults, see `domain::notify`) allow among
//! those they can be reached on: an outbox row for email (text + HTML),
//! Slack (`TEAM:USER`), Discord (`GUILD:USER`) and SMS, an inbox row for
//! in-app. Bodies are rendered here, at enqueue time, from templates that
//! were validated at start, against a context with every field the sample
//! has, so rendering cannot fail at send time. Outbox rows inside the
//! person's quiet hours wait (`next_attempt_at`) unless urgent.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{new_id, Actor, Desk, DeskError, Work};
use crate::{
    domain::notify::{self as rules, Prefs},
    store::{
        self, inbox::InboxRow, outbox::OutboxRow, people::PersonRow, tickets::TicketRow, Exec,
    },
};

/// What to tell someone: a subject and plain text for channels that need
/// them, and the structured data for those that render it. `data.urgent`
/// set to true marks a message that ignores quiet hours; `data.ticket`
/// (a number) names the ticket it is about.
#[derive(Clone)]
pub struct Message<'a> {
    pub event: &'a str,
    pub subject: String,
    pub text: String,
    pub data: Value,
}

/// The ticket as templates see it: flat strings.
pub(crate) fn ticket_context(row: &TicketRow) -> Value {
    json!({
        "number": row.number,
        "title": row.title,
        "description": row.description,
        "priority": row.priority,
        "state": row.state,
        "kind": row.kind,
        "team": row.team_name.clone().unwrap_or_default(),
        "assignee": row.assignee_name.clone().unwrap_or_default(),
        "requester": row.requester_name.clone().unwrap_or_default(),
        "channel": row.channel,
    })
}

/// `sample` with every leaf emptied: the shape a context must have so
/// that strict templates (checked against the sample) always render.
fn blank(sample: &Value) -> Value {
    match sample {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), blank(v))).collect())
        }
        Value::Number(_) => json!(0),
        Value::Bool(_) => json!(false),
        _ => json!(""),
    }
}

/// Lays `over` onto `base`, objects key by key.
fn overlay(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => overlay(slot, v),
                    Some(slot) if !v.is_null() => *slot = v.clone(),
                    Some(_) => {}
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) if !o.is_null() => *b = o.clone(),
        _ => {}
    }
}

/// One message about to go to the recipients, rendered per person.
struct Notice<'a> {
    event: &'a str,
    subject: String,
    /// The text when no template exists for the event.
    text: String,
    data: Value,
    /// What templates see besides `person` (ticket, sla, escalation, …).
    context: Value,
    urgent: bool,
    ticket: Option<String>,
}

impl Desk {
    /// Queues `message` for `person` on every channel their preferences
    /// allow. Disabled people and unknown ids get nothing.
    pub(crate) async fn notify_person(
        &self,
        work: &mut Work,
        org_id: Uuid,
        person_id: Uuid,
        message: &Message<'_>,
    ) -> Result<(), DeskError> {
        self.notify_person_in(work, org_id, person_id, message, None)
            .await
    }

    /// Like [`Desk::notify_person`], with the template context the caller
    /// has (ticket, sla, escalation …); without one it is built from the
    /// ticket named in the message's data.
    pub(crate) async fn notify_person_in(
        &self,
        work: &mut Work,
        org_id: Uuid,
        person_id: Uuid,
        message: &Message<'_>,
        context: Option<&Value>,
    ) -> Result<(), DeskError> {
        let number = message.data["ticket"]
            .as_str()
            .or_else(|| message.data["approval"]["ticket"].as_str())
            .map(str::to_string);
        let context = match context {
            Some(c) => c.clone(),
            None => {
                let mut c = json!({});
                if let Some(number) = &number {
                    if let Some(row) = store::tickets::find_ticket_by_number(
                        Exec::Tx(&mut work.tx),
                        org_id,
                        number,
                    )
                    .await?
                    {
                        c["ticket"] = ticket_context(&row);
                    }
                }
                if let Some(approval) = message.data.get("approval") {
                    let stage = approval["stages"]
                        .get(approval["stage"].as_u64().unwrap_or(0) as usize)
                        .and_then(|s| s["name"].as_str())
                        .unwrap_or("");
                    c["approval"] = json!({
                        "policy": approval["policy"],
                        "stage": stage,
                        "status": approval["status"],
                        "reason": approval["reason"],
                        "approve_url": message.data["links"]["approve"],
                        "reject_url": message.data["links"]["reject"],
                    });
                }
                c
            }
        };
        let notice = Notice {
            event: message.event,
            subject: message.subject.clone(),
            text: message.text.clone(),
            data: message.data.clone(),
            context,
            urgent: message.data["urgent"].as_bool().unwrap_or(false),
            ticket: number,
        };
        let defaults = self.notification_defaults(work, org_id).await?;
        self.deliver_notice(work, org_id, person_id, &notice, &defaults, &[])
            .await
    }

    /// The organization's defaults, read once per use case.
    async fn notification_defaults(
        &self,
        work: &mut Work,
        org_id: Uuid,
    ) -> Result<Prefs, DeskError> {
        let value = store::inbox::find_notification_defaults(&mut work.tx, org_id).await?;
        Ok(Prefs::read(&value, true))
    }

    /// Tells the people concerned of a ticket event: the recipient roles of
    /// the event (organization routes, else built-in), people mentioned in
    /// a comment (`@email` or `@Name`; they get `mention` instead), never
    /// the actor. `comment` is the comment's body and whether it is internal
    /// (an internal note reaches only mentioned agents).
    pub(crate) async fn notify_ticket(
        &self,
        work: &mut Work,
        actor: &Actor,
        row: &TicketRow,
        event: &'static str,
        comment: Option<(&str, bool)>,
        details: Value,
    ) -> Result<(), DeskError> {
        // A new ticket has no assignee or watchers yet: with no requester
        // but the actor and no team, nobody can be routed — skip the reads
        // (ticket creation is a hot path).
        let others = |p: Option<Uuid>| p.is_some() && p != actor.person_id;
        if event == "ticket.created" && !others(row.requester_id) && row.team_id.is_none() {
            return Ok(());
        }
        let defaults = self.notification_defaults(work, row.org_id).await?;
        let mut recipients: Vec<Uuid> = Vec::new();
        let internal = comment.is_some_and(|c| c.1);
        if !internal {
            for role in rules::route(event, &defaults) {
                match role {
                    "requester" => recipients.extend(row.requester_id),
                    "assignee" => recipients.extend(row.assignee_id),
                    "team" => {
                        if let Some(team) = row.team_id {
                            recipients
                                .extend(store::teams::list_members(&mut work.tx, team).await?);
                        }
                    }
                    "watchers" => recipients.extend(
                        store::tickets::list_watchers(Exec::Tx(&mut work.tx), row.id)
                            .await?
                            .into_iter()
                            .map(|w| w.0),
                    ),
                    _ => {}
                }
            }
        }
        let mut mentioned: Vec<Uuid> = Vec::new();
        if let Some((body, internal)) = comment.filter(|c| c.0.contains('@')) {
            let people = store::people::list_people(&mut work.tx, row.org_id).await?;
            let named: Vec<(Uuid, String, Option<String>)> = people
                .iter()
                .filter(|p| p.disabled_at.is_none())
                // Internal notes are for agents' eyes only.
                .filter(|p| !internal || p.roles.0.iter().any(|r| r == "agent" || r == "admin"))
                .map(|p| (p.id, p.name.clone(), p.email.clone()))
                .collect();
            mentioned = rules::mentions(body, &named);
        }
        let base = json!({
            "ticket": ticket_context(row),
            "comment": {
                "body": comment.map(|c| c.0).unwrap_or(""),
                "author": actor.name,
            },
            "change": details,
            "actor": { "name": actor.name },
        });
        let (subject, text) = ticket_subject(event, row, &actor.name);
        let mut told: Vec<Uuid> = Vec::new();
        for person in mentioned {
            if Some(person) == actor.person_id || told.contains(&person) {
                continue;
            }
            told.push(person);
            let notice = Notice {
                event: "mention",
                subject: format!("[{}] {} mentioned you", row.number, actor.name),
                text: format!(
                    "{} mentioned you on {} \"{}\":\n\n{}",
                    actor.name,
                    row.number,
                    row.title,
                    comment.map(|c| c.0).unwrap_or("")
                ),
                data: json!({ "ticket": row.number, "event": "mention" }),
                context: base.clone(),
                urgent: false,
                ticket: Some(row.number.clone()),
            };
            self.deliver_notice(work, row.org_id, person, &notice, &defaults, &[])
                .await?;
        }
        for person in recipients {
            if Some(person) == actor.person_id || told.contains(&person) {
                continue;
            }
            told.push(person);
            // The requester's own conversation (mail thread, chat thread)
            // already carries this; no second copy there.
            let skip: &[&str] = if Some(person) != row.requester_id {
                &[]
            } else {
                match row.channel.as_str() {
                    "slack" => &["slack"],
                    "discord" => &["discord"],
                    "email" if matches!(event, "ticket.created" | "ticket.commented") => &["email"],
                    _ => &[],
                }
            };
            let notice = Notice {
                event,
                subject: subject.clone(),
                text: text.clone(),
                data: json!({ "ticket": row.number, "event": event, "details": base["change"] }),
                context: base.clone(),
                urgent: false,
                ticket: Some(row.number.clone()),
            };
            self.deliver_notice(work, row.org_id, person, &notice, &defaults, skip)
                .await?;
        }
        Ok(())
    }

    /// One person, one notice: channels by preference, bodies rendered,
    /// outbox rows (deferred past quiet hours unless urgent) and the inbox row.
    async fn deliver_notice(
        &self,
        work: &mut Work,
        org_id: Uuid,
        person_id: Uuid,
        notice: &Notice<'_>,
        defaults: &Prefs,
        skip: &[&str],
    ) -> Result<(), DeskError> {
        let Some(person) = store::people::find_person(&mut work.tx, org_id, person_id).await?
        else {
            return Ok(());
        };
        if person.disabled_at.is_some() {
            return Ok(());
        }
        let mut targets: Vec<(&'static str, String)> = Vec::new();
        if let Some(email) = &person.email {
            targets.push(("email", email.clone()));
        }
        for identity in store::identity::list_identities(&mut work.tx, org_id, person_id).await? {
            match identity.kind.as_str() {
                "slack" => targets.push((
                    "slack",
                    format!("{}:{}", identity.namespace, identity.external_id),
                )),
                "discord" => targets.push((
                    "discord",
                    format!("{}:{}", identity.namespace, identity.external_id),
                )),
                _ => {}
            }
        }
        if let Some(phone) = &person.phone {
            targets.push(("sms", phone.clone()));
        }
        targets.retain(|(c, _)| !skip.contains(c));
        let mut available: Vec<&str> = targets.iter().map(|t| t.0).collect();
        available.push("in_app");
        let prefs = Prefs::read(&person.notification_prefs.0, false);
        let channels = rules::channels_for(notice.event, &prefs, defaults, &available);
        if channels.is_empty() {
            return Ok(());
        }
        let bodies = self.render(notice, &person, org_id);
        let now = store::now();
        let release = rules::release_at(now, &prefs, defaults, &person.time_zone, notice.urgent);
        for channel in channels {
            if channel == "in_app" {
                work.buffers.inbox.push(InboxRow {
                    id: new_id(),
                    org_id,
                    person_id,
                    event: notice.event.into(),
                    ticket: notice.ticket.clone(),
                    subject: notice.subject.clone(),
                    text: bodies.text.clone(),
                    data: sqlx::types::Json(notice.data.clone()),
                    created_at: now,
                    read_at: None,
                });
                continue;
            }
            for (_, target) in targets.iter().filter(|t| t.0 == channel) {
                let text = if channel == "sms" {
                    &bodies.sms
                } else {
                    &bodies.text
                };
                let mut payload = json!({
                    "to": target,
                    "person": person_id,
                    "subject": notice.subject,
                    "text": text,
                    "data": notice.data,
                });
                if channel == "email" {
                    payload["html"] = json!(bodies.html);
                }
                work.buffers.outbox.push(OutboxRow {
                    id: new_id(),
                    org_id,
                    channel: channel.into(),
                    target: target.clone(),
                    event: notice.event.into(),
                    payload: sqlx::types::Json(payload),
                    state: store::outbox::PENDING.into(),
                    attempts: 0,
                    next_attempt_at: release,
                    last_error: None,
                    created_at: now,
                    delivered_at: None,
                });
            }
        }
        Ok(())
    }

    /// Text, HTML and SMS bodies of a notice for one person.
    fn render(&self, notice: &Notice<'_>, person: &PersonRow, org_id: Uuid) -> Bodies {
        let sample = crate::templates::sample_context();
        let mut context = blank(&sample);
        overlay(
            &mut context,
            &json!({
                "organization": { "id": org_id.to_string(), "public_url": self.settings.auth.public_url.as_str() },
            }),
        );
        overlay(&mut context, &notice.context);
        overlay(
            &mut context,
            &json!({ "person": { "name": person.name, "email": person.email.clone().unwrap_or_default() },
                     "subject": notice.subject, "text": notice.text }),
        );
        let Some(stem) = rules::template_stem(notice.event) else {
            // System messages (a mailbox that cannot sign in …): no template.
            let html = format!(
                "<p>{}</p>",
                handlebars::html_escape(&notice.text).replace('\n', "<br>")
            );
            return Bodies {
                text: notice.text.clone(),
                sms: notice.text.clone(),
                html,
            };
        };
        let text = self
            .templates
            .render(&format!("{stem}.text"), &context, notice.text.clone());
        let sms_fallback = notice.data["sms"]
            .as_str()
            .map_or_else(|| text.clone(), str::to_string);
        let sms = self
            .templates
            .render(&format!("{stem}.sms"), &context, sms_fallback);
        let html = self.templates.render(
            &format!("{stem}.email_html"),
            &context,
            format!("<pre>{}</pre>", handlebars::html_escape(&text)),
        );
        // Template files end with a newline; messages do not.
        Bodies {
            text: text.trim_end().to_string(),
            sms: sms.trim_end().to_string(),
            html,
        }
    }
}

struct Bodies {
    text: String,
    sms: String,
    html: String,
}

/// Subject and plain-text fallback of a ticket event.
fn ticket_subject(event: &str, row: &TicketRow, actor: &str) -> (String, String) {
    let what = match event {
        "ticket.created" => "opened".to_string(),
        "ticket.assigned" => format!(
            "assigned to {}",
            row.assignee_name
                .clone()
                .or_else(|| row.team_name.clone())
                .unwrap_or_else(|| "nobody".into())
        ),
        "ticket.commented" => format!("new comment by {actor}"),
        "ticket.state_changed" => format!("now {}", row.state.replace('_', " ")),
        other => other.to_string(),
    };
    (
        format!("[{}] {}: {what}", row.number, row.title),
        format!("{} \"{}\": {what}.", row.number, row.title),
    )
}

impl Work {
    /// Inbox rows are written with the rest at flush.
    pub(super) fn take_inbox(&mut self) -> Vec<InboxRow> {
        std::mem::take(&mut self.buffers.inbox)
    }
}

/// A message in a person's in-app inbox.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InboxView {
    pub id: Uuid,
    /// e.g. `ticket.commented`, `mention`, `approval.requested`.
    pub event: String,
    /// The ticket number, when the message is about one.
    pub ticket: Option<String>,
    pub subject: String,
    pub text: String,
    #[schema(value_type = Object)]
    pub data: Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub read_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<&InboxRow> for InboxView {
    fn from(r: &InboxRow) -> Self {
        Self {
            id: r.id,
            event: r.event.clone(),
            ticket: r.ticket.clone(),
            subject: r.subject.clone(),
            text: r.text.clone(),
            data: r.data.0.clone(),
            created_at: r.created_at,
            read_at: r.read_at,
        }
    }
}

impl Desk {
    /// The signed-in person's inbox, newest first.
    pub async fn list_inbox(
        &self,
        actor: &Actor,
        unread_only: bool,
        limit: i64,
    ) -> Result<Vec<InboxView>, DeskError> {
        let person = actor.person_id.ok_or(DeskError::NotFound("person"))?;
        let rows = store::inbox::list_inbox(
            Exec::Db(&self.db),
            actor.org_id,
            person,
            unread_only,
            limit.clamp(1, 500),
        )
        .await?;
        Ok(rows.iter().map(InboxView::from).collect())
    }

    /// Marks one message of the actor's inbox read; another's is "not found".
    pub async fn mark_inbox_read(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
    ) -> Result<InboxView, DeskError> {
        let person = actor
            .person_id
            .ok_or(DeskError::NotFound("inbox message"))?;
        let row = store::inbox::mark_read(&mut work.tx, actor.org_id, person, id, store::now())
            .await?
            .ok_or(DeskError::NotFound("inbox message"))?;
        Ok(InboxView::from(&row))
    }

    /// Marks every unread message of the actor's inbox read; returns how many.
    pub async fn mark_inbox_all_read(
        &self,
        work: &mut Work,
        actor: &Actor,
    ) -> Result<u64, DeskError> {
        let person = actor.person_id.ok_or(DeskError::NotFound("person"))?;
        Ok(store::inbox::mark_all_read(&mut work.tx, actor.org_id, person, store::now()).await?)
    }

    /// The organization's notification defaults as stored (`{}`: built-in).
    pub async fn get_notification_defaults(&self, actor: &Actor) -> Result<Value, DeskError> {
        actor.require_admin()?;
        let mut tx = self.db.begin().await?;
        Ok(store::inbox::find_notification_defaults(&mut tx, actor.org_id).await?)
    }

    /// Replaces the organization's notification defaults; refused with the
    /// place of every problem (unknown channel, event or role, malformed
    /// quiet hours).
    pub async fn set_notification_defaults(
        &self,
        work: &mut Work,
        actor: &Actor,
        settings: Value,
    ) -> Result<Value, DeskError> {
        actor.require_admin()?;
        Prefs::parse(&settings, "notification_defaults", true).map_err(pref_errors)?;
        store::inbox::upsert_notification_defaults(
            &mut work.tx,
            actor.org_id,
            &settings,
            store::now(),
        )
        .await?;
        work.audit(
            actor,
            "notifications.defaults_set",
            "notification_defaults",
            settings.clone(),
        );
        Ok(settings)
    }
}

/// Preference problems as field errors, each naming its place.
pub(crate) fn pref_errors(errors: Vec<rules::PrefError>) -> DeskError {
    DeskError::Invalid(
        errors
            .into_iter()
            .map(|e| crate::domain::FieldError {
                field: e.place.split('.').next().unwrap_or("").to_string().into(),
                message: format!("{}: {}", e.place, e.message),
            })
            .collect(),
    )
}
