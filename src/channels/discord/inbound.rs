//! What Discord posts to the interactions endpoint, turned into desk
//! calls: PING, the slash commands (`/ticket`, `/tickets`,
//! `/ticket-status`, `/link`), the "Create ticket" message command,
//! autocomplete of catalog items, button and select clicks, and modal
//! submissions. Every change runs as one use case recorded under the
//! interaction id, so a repeat answers what the first did and changes
//! nothing. Discord wants an answer within three seconds: an answer not
//! ready after [`DEFER_AFTER`] becomes a deferred one, and the real answer
//! replaces it through the interaction's webhook when it is ready.

use std::{sync::Arc, time::Duration};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{api::DiscordApi, render, verify::Verifier, PLATFORM};
use crate::{
    desk::{
        alerts::{alert_brief, AlertBrief},
        catalog::OrderInput,
        chat::ticket_from_text,
        chat_actions::{ActionKind, ChatAction, ChatActionDone},
        chat_commands::ChatCommand,
        chat_reports::{read_report_command, read_report_file_action, ReportCommand, REPORT_FILE},
        identity::{Contact, IdentityKey},
        tickets::{ListTickets, OpenTicket},
        views::TicketView,
        Actor, Desk, DeskError, Intake, Outcome, Work,
    },
    domain::{
        form::{FieldKind, FormDefinition, FormField},
        Channel, Kind,
    },
    store,
};

/// After this long an answer is deferred (Discord's limit is 3 s).
pub const DEFER_AFTER: Duration = Duration::from_millis(2000);

/// What the HTTP endpoint answers Discord.
#[derive(Debug, PartialEq)]
pub enum Reply {
    /// 200 with this interaction response.
    Json(Value),
    /// 400: the body is not an interaction.
    BadRequest(String),
    /// 500: not recorded (a database problem).
    Retry,
}

#[derive(Clone)]
pub struct Discord {
    pub desk: Desk,
    pub api: Arc<DiscordApi>,
    pub verifier: Verifier,
    /// The organization (slug) the application's guilds belong to.
    pub organization: String,
}

/// Who used an interaction.
#[derive(Debug, Clone)]
struct Who {
    guild: Option<String>,
    user: String,
    name: String,
}

fn who(payload: &Value) -> Option<Who> {
    let user = if payload["member"]["user"].is_object() {
        &payload["member"]["user"]
    } else {
        &payload["user"]
    };
    let id = user["id"].as_str()?.to_string();
    let name = payload["member"]["nick"]
        .as_str()
        .or_else(|| user["global_name"].as_str())
        .or_else(|| user["username"].as_str())
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(&id)
        .to_string();
    Some(Who {
        guild: payload["guild_id"].as_str().map(String::from),
        user: id,
        name,
    })
}

/// A change an interaction asks for, run as one use case.
#[derive(Debug, Clone)]
enum Action {
    Open(OpenTicket),
    Order {
        item: Uuid,
        answers: Map<String, Value>,
    },
    /// A button or menu on a card.
    Chat(ChatAction),
    /// "Acknowledge" on an escalation message, whose text the answer keeps.
    Acknowledge(ChatAction, String),
    /// `/report` in a channel.
    Report {
        channel: String,
        command: ReportCommand,
    },
    /// A file button under a `/report` answer.
    ReportFile(Uuid, crate::domain::report::Format),
    /// `/away`.
    Desk(ChatCommand),
}

fn intake(key: &str, body: &[u8]) -> Intake {
    Intake {
        source: PLATFORM.into(),
        key: key.into(),
        fingerprint: hex::encode(Sha256::digest(body)),
        status: 200,
        first_delivery: false,
    }
}

/// Lasting refusals are answered; storage trouble is a 500.
fn refused(error: &DeskError) -> bool {
    !matches!(error, DeskError::Store(_) | DeskError::Internal(_))
}

/// A refusal as the person sees it: field errors one per line.
fn explain(error: &DeskError) -> String {
    match error {
        DeskError::Invalid(errors) => {
            let lines: Vec<String> = errors
                .iter()
                .map(|e| format!("• {}: {}", e.field, e.message))
                .collect();
            format!("Nothing was saved:\n{}", lines.join("\n"))
        }
        other => other.to_string(),
    }
}

fn unknown(what: &str) -> Reply {
    tracing::debug!(what, "unknown Discord action");
    Reply::Json(render::ephemeral("Sorry, that is an unknown action."))
}

/// The values of a modal submission, by input custom id.
fn modal_values(payload: &Value) -> Vec<(String, String)> {
    let mut values = Vec::new();
    for row in payload["data"]["components"]
        .as_array()
        .into_iter()
        .flatten()
    {
        // Action rows hold text inputs; newer label components hold one.
        let inner = row["components"]
            .as_array()
            .cloned()
            .or_else(|| row.get("component").map(|c| vec![c.clone()]))
            .unwrap_or_default();
        for input in inner {
            let Some(id) = input["custom_id"].as_str() else {
                continue;
            };
            // A text input has a value; a menu its choices.
            if let Some(value) = input["value"].as_str() {
                values.push((id.to_string(), value.to_string()));
            } else if let Some(choices) = input["values"].as_array() {
                let picked: Vec<&str> = choices.iter().filter_map(Value::as_str).collect();
                values.push((id.to_string(), picked.join(",")));
            }
        }
    }
    values
}

fn option<'a>(payload: &'a Value, name: &str) -> Option<&'a Value> {
    payload["data"]["options"]
        .as_array()?
        .iter()
        .find(|o| o["name"] == name)
        .map(|o| &o["value"])
}

/// A desk command's words, from its options in `names` order, and the
/// channel it was typed in: a ticket's thread stands for its ticket.
fn thread_command(payload: &Value, names: &[&str]) -> (String, Option<(String, String)>) {
    let words: Vec<&str> = names
        .iter()
        .filter_map(|name| option(payload, name).and_then(Value::as_str))
        .collect();
    let thread = payload["channel_id"]
        .as_str()
        .map(|id| (PLATFORM.to_string(), id.to_string()));
    (words.join(" "), thread)
}

fn too_long(label: &str, value: &str, max: usize) -> Option<Reply> {
    (value.chars().count() > max).then(|| {
        Reply::Json(render::ephemeral(&format!(
            "{label} is longer than {max} characters; nothing was saved."
        )))
    })
}

impl Discord {
    /// `POST /discord/interactions`, after the signature was checked.
    pub async fn interaction(&self, body: &[u8]) -> Reply {
        let Ok(payload) = serde_json::from_slice::<Value>(body) else {
            return Reply::BadRequest("malformed JSON".into());
        };
        let kind = payload["type"].as_u64();
        if kind == Some(1) {
            return Reply::Json(json!({ "type": 1 }));
        }
        let (Some(id), Some(who)) = (payload["id"].as_str(), who(&payload)) else {
            return Reply::BadRequest("not an interaction (no id or user)".into());
        };
        let key = format!("interaction:{id}");
        let token = payload["token"].as_str().unwrap_or_default().to_string();
        let this = self.clone();
        let body = body.to_vec();
        let work = async move {
            match kind {
                Some(2) => this.command(&payload, who, &key, &body).await,
                Some(3) => this.component(&payload, who, &key, &body).await,
                Some(4) => this.autocomplete(&payload, who).await,
                Some(5) => this.modal_submit(&payload, who, &key, &body).await,
                other => unknown(&format!("interaction type {other:?}")),
            }
        };
        self.in_time(token, work).await
    }

    /// Answers within [`DEFER_AFTER`], or defers and answers later by
    /// editing the deferred answer.
    async fn in_time(
        &self,
        token: String,
        work: impl std::future::Future<Output = Reply> + Send + 'static,
    ) -> Reply {
        let mut task = tokio::spawn(work);
        match tokio::time::timeout(DEFER_AFTER, &mut task).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(error)) => {
                tracing::error!(%error, "a Discord interaction task failed");
                Reply::Retry
            }
            Err(_) => {
                let api = self.api.clone();
                tokio::spawn(async move {
                    let data = match task.await {
                        Ok(Reply::Json(answer)) if answer["data"].is_object() => {
                            answer["data"].clone()
                        }
                        Ok(Reply::Json(_)) => json!({ "content": "Done." }),
                        _ => json!({ "content": "Sorry, that failed; please try again." }),
                    };
                    if let Err(error) = api.edit_original(&token, &data).await {
                        tracing::warn!(?error, "could not send a deferred Discord answer");
                    }
                });
                tracing::info!("a Discord interaction took long: answered deferred");
                Reply::Json(json!({ "type": 5, "data": { "flags": render::EPHEMERAL } }))
            }
        }
    }

    async fn org_id(&self) -> Result<Uuid, DeskError> {
        self.desk.organization_id(&self.organization).await
    }

    /// The contact behind an interaction. In a direct message there is no
    /// guild: the person is found by their Discord user id alone.
    async fn contact(&self, who: &Who) -> Result<Option<Contact>, DeskError> {
        let org_id = self.org_id().await?;
        let guild = match &who.guild {
            Some(guild) => guild.clone(),
            None => {
                let mut tx = self.desk.db.read().await?;
                match store::identity::find_identity_any_namespace(
                    &mut tx, org_id, PLATFORM, &who.user,
                )
                .await?
                {
                    Some(identity) => identity.namespace,
                    None => return Ok(None),
                }
            }
        };
        Ok(Some(Contact {
            org_id,
            identity: IdentityKey::Discord {
                guild_id: guild,
                user_id: who.user.clone(),
            },
            display_name: who.name.clone(),
            verified_email: None,
        }))
    }

    async fn actor(&self, who: &Who) -> Result<Option<Actor>, DeskError> {
        match self.contact(who).await? {
            Some(contact) => self
                .desk
                .resolve_contact(contact, Channel::Discord)
                .await
                .map(Some),
            None => Ok(None),
        }
    }

    fn failed(&self, what: &str, error: &DeskError) -> Reply {
        if refused(error) {
            tracing::info!(%error, "refused {what}");
            Reply::Json(render::ephemeral(&explain(error)))
        } else {
            tracing::error!(%error, "could not record {what}");
            Reply::Retry
        }
    }

    fn stranger() -> Reply {
        Reply::Json(render::ephemeral(
            "I don't know you yet: use a command in your server first, or /link your account there.",
        ))
    }

    /// Runs `action` as one use case under the interaction's key.
    async fn perform(&self, who: &Who, key: &str, body: &[u8], action: Action) -> Reply {
        let contact = match self.contact(who).await {
            Ok(Some(contact)) => contact,
            Ok(None) => return Self::stranger(),
            Err(e) => return self.failed("an interaction", &e),
        };
        let desk = self.desk.clone();
        let outcome = self
            .desk
            .run(Some(&intake(key, body)), move |work| {
                Box::pin(async move {
                    let actor = desk.chat_actor(work, &contact, Channel::Discord).await?;
                    act(&desk, work, &actor, action).await
                })
            })
            .await;
        match outcome {
            Ok(Outcome::Done(answer)) => Reply::Json(answer),
            Ok(Outcome::Replayed { body, .. }) => Reply::Json(body),
            Err(e) => self.failed("an interaction", &e),
        }
    }

    async fn command(&self, payload: &Value, who: Who, key: &str, body: &[u8]) -> Reply {
        let data = &payload["data"];
        let name = data["name"].as_str().unwrap_or_default();
        match (data["type"].as_u64().unwrap_or(1), name) {
            (1, "ticket") => match option(payload, "item").and_then(Value::as_str) {
                None => Reply::Json(render::ticket_modal()),
                Some(item) => self.catalog_step(&who, item, 0).await,
            },
            (1, "tickets") => self.my_tickets(&who).await,
            (1, "ticket-status") => {
                let number = option(payload, "number")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .trim()
                    .to_uppercase();
                self.status(&who, &number).await
            }
            (1, "report") => {
                // The options spell the same words as Slack's `/report …`.
                let text: Vec<&str> = ["report", "period", "filters"]
                    .into_iter()
                    .filter_map(|name| option(payload, name).and_then(Value::as_str))
                    .collect();
                match read_report_command(&text.join(" ")) {
                    Ok(command) => {
                        let channel = payload["channel_id"]
                            .as_str()
                            .or_else(|| payload["channel"]["id"].as_str())
                            .unwrap_or_default()
                            .to_string();
                        let action = Action::Report { channel, command };
                        self.perform(&who, key, body, action).await
                    }
                    Err(help) => Reply::Json(render::ephemeral(&help)),
                }
            }
            (1, "away") => {
                let text = option(payload, "until")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let action = Action::Desk(ChatCommand::Away(text));
                self.perform(&who, key, body, action).await
            }
            (1, "time") => {
                let (text, thread) = thread_command(payload, &["ticket", "spent", "note"]);
                let command = ChatCommand::Time { text, thread };
                self.perform(&who, key, body, Action::Desk(command)).await
            }
            (1, "macro") => {
                let (text, thread) = thread_command(payload, &["ticket", "name"]);
                let command = ChatCommand::Macro { text, thread };
                self.perform(&who, key, body, Action::Desk(command)).await
            }
            (1, "link") => {
                let code = option(payload, "code")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                self.link(&who, code).await
            }
            (3, "Create ticket") => self.message_command(payload, who, key, body).await,
            _ => unknown(&format!("command {name}")),
        }
    }

    async fn my_tickets(&self, who: &Who) -> Reply {
        let actor = match self.actor(who).await {
            Ok(Some(actor)) => actor,
            Ok(None) => return Self::stranger(),
            Err(e) => return self.failed("/tickets", &e),
        };
        let query = ListTickets {
            requester: actor.person_id.map(|id| id.to_string()),
            sort: Some("-updated_at".into()),
            limit: Some(100),
            ..ListTickets::default()
        };
        match self.desk.list_tickets(&actor, query).await {
            Ok(list) => {
                let open: Vec<String> = list
                    .items
                    .iter()
                    .filter(|t| {
                        !matches!(
                            t.state.as_str(),
                            "resolved" | "closed" | "cancelled" | "rejected"
                        )
                    })
                    .take(20)
                    .map(|t| {
                        format!(
                            "**{}** · {} — {}, {}",
                            t.number,
                            render::escape(&render::cut(&t.title, 80)),
                            t.state,
                            t.priority
                        )
                    })
                    .collect();
                let text = if open.is_empty() {
                    "You have no open tickets.".to_string()
                } else {
                    format!("Your open tickets:\n{}", open.join("\n"))
                };
                Reply::Json(render::ephemeral(&text))
            }
            Err(e) => self.failed("/tickets", &e),
        }
    }

    async fn status(&self, who: &Who, number: &str) -> Reply {
        let actor = match self.actor(who).await {
            Ok(Some(actor)) => actor,
            Ok(None) => return Self::stranger(),
            Err(e) => return self.failed("/ticket-status", &e),
        };
        match self.desk.get_ticket(&actor, number).await {
            Ok(t) => {
                let assignee = t
                    .assignee
                    .as_ref()
                    .map(|p| render::escape(&p.name))
                    .unwrap_or_else(|| "nobody yet".into());
                Reply::Json(render::ephemeral(&format!(
                    "**{}** · {}\nState: {} · Priority: {} · Assignee: {}\nUpdated {}",
                    t.number,
                    render::escape(&t.title),
                    t.state,
                    t.priority,
                    assignee,
                    t.updated_at.format("%Y-%m-%d %H:%M UTC")
                )))
            }
            Err(DeskError::NotFound(_)) => Reply::Json(render::ephemeral(&format!(
                "I can't find a ticket {number} that you may see."
            ))),
            Err(e) => self.failed("/ticket-status", &e),
        }
    }

    async fn link(&self, who: &Who, code: String) -> Reply {
        let Some(guild) = who.guild.clone() else {
            return Reply::Json(render::ephemeral("Use /link in your server."));
        };
        let org_id = match self.org_id().await {
            Ok(id) => id,
            Err(e) => return self.failed("/link", &e),
        };
        let identity = IdentityKey::Discord {
            guild_id: guild,
            user_id: who.user.clone(),
        };
        match self.desk.redeem_link_code(org_id, identity, code).await {
            Ok(person) => Reply::Json(render::ephemeral(&format!(
                "Linked: you are {} here from now on.",
                render::escape(&person.name)
            ))),
            Err(e) => self.failed("/link", &e),
        }
    }

    /// The "Create ticket" message command: the message becomes a ticket
    /// raised by whoever used the command, with a link back to it.
    async fn message_command(&self, payload: &Value, who: Who, key: &str, body: &[u8]) -> Reply {
        let data = &payload["data"];
        let target = data["target_id"].as_str().unwrap_or_default();
        let message = &data["resolved"]["messages"][target];
        let text = message["content"].as_str().unwrap_or_default().trim();
        if text.is_empty() {
            return Reply::Json(render::ephemeral(
                "That message has no text to make a ticket of.",
            ));
        }
        let channel = message["channel_id"]
            .as_str()
            .or_else(|| payload["channel_id"].as_str())
            .unwrap_or_default();
        let guild = who.guild.as_deref().unwrap_or("@me");
        let author = message["author"]["username"].as_str().unwrap_or("someone");
        let mut input = ticket_from_text(Kind::Incident, text);
        input.description = format!(
            "{text}\n\n— message by {author}: https://discord.com/channels/{guild}/{channel}/{target}"
        );
        self.perform(&who, key, body, Action::Open(input)).await
    }

    /// One step of a catalog item's form as a modal.
    async fn catalog_step(&self, who: &Who, item: &str, step: usize) -> Reply {
        let Ok(item_id) = Uuid::parse_str(item.trim()) else {
            return Reply::Json(render::ephemeral(
                "Pick a catalog item from the suggestions.",
            ));
        };
        let actor = match self.actor(who).await {
            Ok(Some(actor)) => actor,
            Ok(None) => return Self::stranger(),
            Err(e) => return self.failed("a catalog form", &e),
        };
        let item = match self.desk.get_catalog_item(&actor, item_id).await {
            Ok(item) if item.active => item,
            Ok(_) | Err(DeskError::NotFound(_)) => {
                return Reply::Json(render::ephemeral("That catalog item is not available."))
            }
            Err(e) => return self.failed("a catalog form", &e),
        };
        let form: FormDefinition = serde_json::from_value(item.form.clone()).unwrap_or_default();
        if form.fields.is_empty() {
            // Nothing to ask: a modal needs at least one input.
            return Reply::Json(render::catalog_modal(
                &item.id.to_string(),
                &item.name,
                &[FormField {
                    key: "details".into(),
                    label: "Details".into(),
                    kind: FieldKind::LongText { max_length: None },
                    required: false,
                    default: None,
                    help: None,
                }],
                0,
            ));
        }
        Reply::Json(render::catalog_modal(
            &item.id.to_string(),
            &item.name,
            &form.fields,
            step,
        ))
    }

    async fn autocomplete(&self, payload: &Value, who: Who) -> Reply {
        let typed = payload["data"]["options"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|o| o["focused"] == true)
            .and_then(|o| o["value"].as_str())
            .unwrap_or_default()
            .to_lowercase();
        let actor = match self.actor(&who).await {
            Ok(Some(actor)) => actor,
            Ok(None) => return Reply::Json(json!({ "type": 8, "data": { "choices": [] } })),
            Err(e) => return self.failed("an autocomplete", &e),
        };
        let choices: Vec<Value> = match self.desk.catalog(&actor).await {
            Ok(catalog) => catalog
                .items
                .iter()
                .filter(|i| i.active && i.name.to_lowercase().contains(typed.trim()))
                .take(25)
                .map(|i| json!({ "name": render::cut(&i.name, 100), "value": i.id.to_string() }))
                .collect(),
            Err(e) => return self.failed("an autocomplete", &e),
        };
        Reply::Json(json!({ "type": 8, "data": { "choices": choices } }))
    }

    async fn component(&self, payload: &Value, who: Who, key: &str, body: &[u8]) -> Reply {
        let data = &payload["data"];
        let custom_id = data["custom_id"].as_str().unwrap_or_default();
        if custom_id.starts_with(REPORT_FILE) {
            let Some((reference, format)) = read_report_file_action(custom_id) else {
                return unknown(custom_id);
            };
            return self
                .perform(&who, key, body, Action::ReportFile(reference, format))
                .await;
        }
        let (action, value) = custom_id.split_once(':').unwrap_or((custom_id, ""));
        let value = value.to_string();
        let action = match action {
            render::REJECT => {
                if Uuid::parse_str(&value).is_err() {
                    return unknown(custom_id);
                }
                return Reply::Json(render::reject_modal(&value));
            }
            render::CATALOG_NEXT => {
                let Some((item, step)) = value.split_once(':') else {
                    return unknown(custom_id);
                };
                let Ok(step) = step.parse::<usize>() else {
                    return unknown(custom_id);
                };
                return self.catalog_step(&who, item, step).await;
            }
            other => {
                let selected = data["values"][0].as_str();
                let Some(chat) =
                    action_kind(other).and_then(|k| ChatAction::read(k, &value, selected))
                else {
                    return unknown(custom_id);
                };
                if other == render::ACKNOWLEDGE {
                    let shown = payload["message"]["content"].as_str().unwrap_or_default();
                    Action::Acknowledge(chat, shown.to_string())
                } else {
                    Action::Chat(chat)
                }
            }
        };
        self.perform(&who, key, body, action).await
    }

    async fn modal_submit(&self, payload: &Value, who: Who, key: &str, body: &[u8]) -> Reply {
        let custom_id = payload["data"]["custom_id"].as_str().unwrap_or_default();
        let values = modal_values(payload);
        let value = |name: &str| {
            values
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let (kind, rest) = custom_id.split_once(':').unwrap_or((custom_id, ""));
        match kind {
            render::TICKET_MODAL => {
                let (title, description, urgency) =
                    (value("title"), value("description"), value("urgency"));
                for (label, text, max) in [
                    ("Title", &title, render::TITLE_MAX),
                    ("Description", &description, render::DESCRIPTION_MAX),
                    ("Urgency", &urgency, 6),
                ] {
                    if let Some(refusal) = too_long(label, text, max) {
                        return refusal;
                    }
                }
                let urgency = urgency.trim().to_lowercase();
                let input = OpenTicket {
                    kind: Kind::Incident.as_str().into(),
                    title,
                    description,
                    urgency: (!urgency.is_empty()).then_some(urgency),
                    ..OpenTicket::default()
                };
                self.perform(&who, key, body, Action::Open(input)).await
            }
            render::REJECT_MODAL => {
                let Ok(approval) = Uuid::parse_str(rest) else {
                    return unknown(custom_id);
                };
                let reason = value("reason");
                if let Some(refusal) = too_long("The reason", &reason, render::REASON_MAX) {
                    return refusal;
                }
                let reject = ChatAction::Reject {
                    approval,
                    reason: Some(reason),
                };
                self.perform(&who, key, body, Action::Chat(reject)).await
            }
            render::CATALOG_MODAL => {
                let Some((item, step)) = rest.split_once(':') else {
                    return unknown(custom_id);
                };
                let (Ok(item), Ok(step)) = (Uuid::parse_str(item), step.parse::<usize>()) else {
                    return unknown(custom_id);
                };
                self.catalog_submit(payload, &who, key, body, item, step, values)
                    .await
            }
            _ => unknown(custom_id),
        }
    }

    /// A catalog step's answers: carried on to the next step, or, at the
    /// last, the order with every step's answers.
    #[allow(clippy::too_many_arguments)]
    async fn catalog_submit(
        &self,
        payload: &Value,
        who: &Who,
        key: &str,
        body: &[u8],
        item_id: Uuid,
        step: usize,
        values: Vec<(String, String)>,
    ) -> Reply {
        let actor = match self.actor(who).await {
            Ok(Some(actor)) => actor,
            Ok(None) => return Self::stranger(),
            Err(e) => return self.failed("a catalog form", &e),
        };
        let item = match self.desk.get_catalog_item(&actor, item_id).await {
            Ok(item) => item,
            Err(e) => return self.failed("a catalog form", &e),
        };
        let form: FormDefinition = serde_json::from_value(item.form.clone()).unwrap_or_default();
        let steps = form.fields.len().div_ceil(render::FIELDS_PER_MODAL).max(1);
        let last = step + 1 >= steps;
        // Answers of earlier steps travel in the embed of the message whose
        // Continue button opened this modal.
        let mut answers: Vec<(String, String)> = if step > 0 {
            payload["message"]["embeds"][0]["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| {
                    Some((
                        f["name"].as_str()?.to_string(),
                        f["value"].as_str()?.to_string(),
                    ))
                })
                .filter(|(k, _)| form.fields.iter().any(|f| &f.key == k))
                .map(|(k, v)| (k, if v == "—" { String::new() } else { v }))
                .collect()
        } else {
            Vec::new()
        };
        for field in form
            .fields
            .iter()
            .skip(step * render::FIELDS_PER_MODAL)
            .take(render::FIELDS_PER_MODAL)
        {
            let answer = values
                .iter()
                .find(|(k, _)| k == &field.key)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            if let Some(refusal) = too_long(&field.label, &answer, render::field_max(field, !last))
            {
                return refusal;
            }
            answers.retain(|(k, _)| k != &field.key);
            answers.push((field.key.clone(), answer));
        }
        if form.fields.is_empty() {
            answers = values;
        }
        if !last {
            return Reply::Json(render::catalog_continue(
                &item_id.to_string(),
                &item.name,
                &answers,
                step + 1,
                steps,
            ));
        }
        let mut typed = Map::new();
        for (k, v) in answers {
            if v.trim().is_empty() {
                continue;
            }
            let value = match form.fields.iter().find(|f| f.key == k).map(|f| &f.kind) {
                Some(FieldKind::MultiChoice { .. }) => Value::Array(
                    v.split(',')
                        .map(|s| Value::String(s.trim().to_string()))
                        .filter(|s| s.as_str() != Some(""))
                        .collect(),
                ),
                _ => Value::String(v),
            };
            typed.insert(k, value);
        }
        self.perform(
            who,
            key,
            body,
            Action::Order {
                item: item_id,
                answers: typed,
            },
        )
        .await
    }
}

/// The answer that replaces the clicked message (type 7).
/// A ticket's card as it stands once the click commits: an alert incident
/// with its alerts (`change` applies what the click did to them, not yet
/// visible outside its transaction).
async fn card(
    desk: &Desk,
    ticket: &TicketView,
    change: impl FnOnce(&mut AlertBrief),
) -> Result<Value, DeskError> {
    let brief = alert_brief(&desk.db, ticket).await?.map(|mut brief| {
        change(&mut brief);
        brief
    });
    Ok(render::card(ticket, brief.as_ref()))
}

fn update(body: Value) -> Value {
    json!({ "type": 7, "data": body })
}

/// What an action does, as the person who asked, and the answer to Discord.
async fn act(
    desk: &Desk,
    work: &mut Work,
    actor: &Actor,
    action: Action,
) -> Result<Value, DeskError> {
    Ok(match action {
        Action::Report { channel, command } => {
            let queued = desk
                .report_to_chat(work, actor, PLATFORM, &channel, &command)
                .await?;
            render::report_queued(&queued)
        }
        Action::Desk(command) => {
            let answer = desk.chat_command(work, actor, &command).await?;
            render::ephemeral(&answer)
        }
        Action::ReportFile(reference, format) => {
            let name = desk
                .report_file_to_chat(work, actor, reference, format)
                .await?;
            render::ephemeral(&format!(
                "{} is on its way to this channel.",
                render::escape(&name)
            ))
        }
        Action::Open(input) => {
            let ticket = desk.open_ticket(work, actor, input).await?;
            render::ephemeral(&format!(
                "Opened **{}**: {}. I'll message you about it.",
                ticket.number,
                render::escape(&ticket.title)
            ))
        }
        Action::Order { item, answers } => {
            let input = OrderInput {
                answers,
                requester: None,
                title: None,
            };
            let request = desk.order_item(work, actor, item, input).await?;
            render::ephemeral(&format!(
                "Ordered: **{}** · {}. I'll message you about it.",
                request.ticket.number,
                render::escape(&request.ticket.title)
            ))
        }
        Action::Chat(chat) => {
            let done = desk.chat_action(work, actor, chat, "Discord").await?;
            answer(desk, done).await?
        }
        Action::Acknowledge(chat, shown) => {
            let done = desk.chat_action(work, actor, chat, "Discord").await?;
            let notice = done
                .notice(render::MARKUP.bold, render::escape)
                .unwrap_or_default();
            update(json!({
                "content": render::cut(&format!("{shown}\n{notice}"), render::CONTENT_MAX),
                "components": [],
                "allowed_mentions": { "parse": [] },
            }))
        }
    })
}

/// Discord's custom id prefixes, as the desk's chat actions.
fn action_kind(prefix: &str) -> Option<ActionKind> {
    Some(match prefix {
        render::TAKE => ActionKind::Take,
        render::RESOLVE => ActionKind::Resolve,
        render::ESCALATE => ActionKind::Escalate,
        // Discord's card menu picks the urgency (priority follows the matrix).
        render::PRIORITY => ActionKind::Urgency,
        render::APPROVE => ActionKind::Approve,
        render::ACKNOWLEDGE => ActionKind::Acknowledge,
        render::ALERT_ACK => ActionKind::AlertAck,
        render::SILENCE => ActionKind::Silence,
        render::SOLVED_YES => ActionKind::Solved,
        render::SOLVED_NO => ActionKind::NotSolved,
        render::RATE => ActionKind::Rate,
        _ => return None,
    })
}

/// A chat action's answer: the clicked message is replaced (type 7) by
/// the card, approval or sentence it now shows; a rejection, typed in a
/// modal, is answered to the rejecter alone.
async fn answer(desk: &Desk, done: ChatActionDone) -> Result<Value, DeskError> {
    let notice = done.notice(render::MARKUP.bold, render::escape);
    Ok(match done {
        ChatActionDone::Acknowledged { .. } | ChatActionDone::Reopened(_) => update(json!({
            "content": notice.unwrap_or_default(),
            "components": [],
        })),
        ChatActionDone::Ticket(ticket) => update(card(desk, &ticket, |_| {}).await?),
        ChatActionDone::Alert(ticket, brief) => update(render::card(&ticket, Some(&brief))),
        ChatActionDone::Approved(view) => update(render::approval(&view)),
        ChatActionDone::Rejected(view) => render::ephemeral(&format!(
            "Rejected {}: {}",
            view.ticket,
            crate::channels::common::outcome(&view, str::to_owned)
        )),
        ChatActionDone::Closed(ticket) => update(render::rating_request(&ticket.number)),
        ChatActionDone::Rated { number, score } => update(render::rated(&number, score)),
    })
}
