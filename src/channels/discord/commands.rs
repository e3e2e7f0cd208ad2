//! The application commands as twilight-model reads them: the slash
//! commands (`/ticket`, `/tickets`, `/ticket-status`, `/report`, `/away`,
//! `/time`, `/macro`, `/link`), the "Create ticket" message command, and
//! autocomplete of catalog items for `/ticket item:`. The first step of a
//! catalog form is a modal opened here; its submission is `interactions`'.

use serde_json::{json, Value};
use twilight_model::{
    application::{
        command::CommandType,
        interaction::{
            application_command::{CommandData, CommandOptionValue},
            Interaction,
        },
    },
    id::marker::MessageMarker,
};
use uuid::Uuid;

use super::{
    inbound::{channel_id, unknown, Action, Asked, Discord, Reply, Who},
    render, PLATFORM,
};
use crate::{
    desk::{
        chat::ticket_from_text, chat_commands::ChatCommand, chat_reports::read_report_command,
        identity::IdentityKey, tickets::ListTickets, DeskError,
    },
    domain::{
        form::{FieldKind, FormDefinition, FormField},
        Kind,
    },
};

/// A string option's value. The commands only declare string options, so
/// another kind under a known name is as good as absent.
fn option<'a>(data: &'a CommandData, name: &str) -> Option<&'a str> {
    data.options
        .iter()
        .find(|o| o.name == name)
        .and_then(|o| match &o.value {
            CommandOptionValue::String(value) => Some(value.as_str()),
            _ => None,
        })
}

/// A desk command's words, from its options in `names` order, and the
/// channel it was typed in: a ticket's thread stands for its ticket.
fn thread_command(
    interaction: &Interaction,
    data: &CommandData,
    names: &[&str],
) -> (String, Option<(String, String)>) {
    let words: Vec<&str> = names.iter().filter_map(|name| option(data, name)).collect();
    let thread = channel_id(interaction).map(|id| (PLATFORM.to_string(), id));
    (words.join(" "), thread)
}

impl Discord {
    pub(super) async fn command(
        &self,
        interaction: &Interaction,
        data: &CommandData,
        asked: Asked,
    ) -> Reply {
        let name = data.name.as_str();
        match (data.kind, name) {
            (CommandType::ChatInput, "ticket") => match option(data, "item") {
                None => Reply::Json(render::ticket_modal()),
                Some(item) => self.catalog_step(&asked.who, item, 0).await,
            },
            (CommandType::ChatInput, "tickets") => self.my_tickets(&asked.who).await,
            (CommandType::ChatInput, "ticket-status") => {
                let number = option(data, "number")
                    .unwrap_or_default()
                    .trim()
                    .to_uppercase();
                self.status(&asked.who, &number).await
            }
            (CommandType::ChatInput, "report") => {
                // The options spell the same words as Slack's `/report …`.
                let text: Vec<&str> = ["report", "period", "filters"]
                    .into_iter()
                    .filter_map(|name| option(data, name))
                    .collect();
                match read_report_command(&text.join(" ")) {
                    Ok(command) => {
                        let channel = channel_id(interaction).unwrap_or_default();
                        let action = Action::Report { channel, command };
                        self.perform(&asked, action).await
                    }
                    Err(help) => Reply::Json(render::ephemeral(&help)),
                }
            }
            (CommandType::ChatInput, "away") => {
                let text = option(data, "until").unwrap_or_default().to_string();
                let action = Action::Desk(ChatCommand::Away(text));
                self.perform(&asked, action).await
            }
            (CommandType::ChatInput, "time") => {
                let (text, thread) =
                    thread_command(interaction, data, &["ticket", "spent", "note"]);
                let command = ChatCommand::Time { text, thread };
                self.perform(&asked, Action::Desk(command)).await
            }
            (CommandType::ChatInput, "macro") => {
                let (text, thread) = thread_command(interaction, data, &["ticket", "name"]);
                let command = ChatCommand::Macro { text, thread };
                self.perform(&asked, Action::Desk(command)).await
            }
            (CommandType::ChatInput, "link") => {
                let code = option(data, "code").unwrap_or_default().trim().to_string();
                self.link(&asked.who, code).await
            }
            (CommandType::Message, "Create ticket") => self.message_command(data, asked).await,
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
    async fn message_command(&self, data: &CommandData, asked: Asked) -> Reply {
        let target = data.target_id;
        let message = target.and_then(|target| {
            data.resolved
                .as_ref()?
                .messages
                .get(&target.cast::<MessageMarker>())
        });
        let Some(message) = message.filter(|m| !m.content.trim().is_empty()) else {
            return Reply::Json(render::ephemeral(
                "That message has no text to make a ticket of.",
            ));
        };
        let text = message.content.trim();
        let channel = message.channel_id.to_string();
        let target = target.map(|t| t.to_string()).unwrap_or_default();
        let guild = asked.who.guild.as_deref().unwrap_or("@me");
        let author = &message.author.name;
        let mut input = ticket_from_text(Kind::Incident, text);
        input.description = format!(
            "{text}\n\n— message by {author}: https://discord.com/channels/{guild}/{channel}/{target}"
        );
        self.perform(&asked, Action::Open(input)).await
    }

    /// One step of a catalog item's form as a modal.
    pub(super) async fn catalog_step(&self, who: &Who, item: &str, step: usize) -> Reply {
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

    pub(super) async fn autocomplete(&self, data: &CommandData, who: Who) -> Reply {
        let typed = data
            .options
            .iter()
            .find_map(|o| match &o.value {
                CommandOptionValue::Focused(value, _) => Some(value.as_str()),
                _ => None,
            })
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
}
