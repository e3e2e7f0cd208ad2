//! What Discord posts to the interactions endpoint, read once into
//! twilight-model's [`Interaction`] (`payload`) and turned into desk calls:
//! PING is answered here, the application commands and autocomplete in
//! `commands`, button and select clicks and modal submissions in
//! `interactions`. Every change runs as one use case recorded under the
//! interaction id, so a repeat answers what the first did and changes
//! nothing. Discord wants an answer within three seconds: an answer not
//! ready after [`DEFER_AFTER`] becomes a deferred one, and the real answer
//! replaces it through the interaction's webhook when it is ready.

use std::{sync::Arc, time::Duration};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use twilight_model::application::interaction::{Interaction, InteractionData, InteractionType};
use uuid::Uuid;

use super::{api::DiscordApi, payload::parse_interaction, render, verify::Verifier, PLATFORM};
use crate::{
    desk::{
        alerts::{alert_brief, AlertBrief},
        catalog::OrderInput,
        chat_actions::{ChatAction, ChatActionDone},
        chat_commands::ChatCommand,
        chat_reports::ReportCommand,
        identity::{Contact, IdentityKey},
        tickets::OpenTicket,
        views::TicketView,
        Actor, Desk, DeskError, Intake, Outcome, Work,
    },
    domain::Channel,
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
pub(super) struct Who {
    pub(super) guild: Option<String>,
    pub(super) user: String,
    pub(super) name: String,
}

/// The member's nickname, else their display name, else their user name;
/// an empty one is the user id.
fn who(interaction: &Interaction) -> Option<Who> {
    let user = interaction.author()?;
    let id = user.id.to_string();
    let nick = interaction.member.as_ref().and_then(|m| m.nick.as_deref());
    let name = nick
        .or(user.global_name.as_deref())
        .unwrap_or(user.name.as_str());
    let name = if name.trim().is_empty() {
        id.clone()
    } else {
        name.to_string()
    };
    Some(Who {
        guild: interaction.guild_id.map(|g| g.to_string()),
        user: id,
        name,
    })
}

/// The channel an interaction was used in. Discord still sends the
/// deprecated `channel_id` beside `channel`; either will do.
pub(super) fn channel_id(interaction: &Interaction) -> Option<String> {
    #[allow(deprecated)]
    let old = interaction.channel_id;
    interaction
        .channel
        .as_ref()
        .map(|c| c.id)
        .or(old)
        .map(|id| id.to_string())
}

/// One interaction as its handler needs it: who used it, the key its use
/// case is recorded under, and the signed body (the replay fingerprint).
pub(super) struct Asked {
    pub(super) who: Who,
    pub(super) key: String,
    pub(super) body: Vec<u8>,
}

/// A change an interaction asks for, run as one use case.
#[derive(Debug, Clone)]
pub(super) enum Action {
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
    /// `/away`, `/time`, `/macro`.
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

pub(super) fn unknown(what: &str) -> Reply {
    tracing::debug!(what, "unknown Discord action");
    Reply::Json(render::ephemeral("Sorry, that is an unknown action."))
}

pub(super) fn too_long(label: &str, value: &str, max: usize) -> Option<Reply> {
    (value.chars().count() > max).then(|| {
        Reply::Json(render::ephemeral(&format!(
            "{label} is longer than {max} characters; nothing was saved."
        )))
    })
}

impl Discord {
    /// `POST /discord/interactions`, after the signature was checked. A
    /// body that is not an interaction is refused before anything is
    /// looked up or stored.
    pub async fn interaction(&self, body: &[u8]) -> Reply {
        let mut interaction = match parse_interaction(body) {
            Ok(interaction) => interaction,
            Err(reason) => return Reply::BadRequest(reason),
        };
        if interaction.kind == InteractionType::Ping {
            return Reply::Json(json!({ "type": 1 }));
        }
        let Some(who) = who(&interaction) else {
            return Reply::BadRequest("not an interaction (no user)".into());
        };
        let asked = Asked {
            who,
            key: format!("interaction:{}", interaction.id),
            body: body.to_vec(),
        };
        let token = interaction.token.clone();
        let data = interaction.data.take();
        let this = self.clone();
        let work = async move {
            let kind = interaction.kind;
            match (kind, data) {
                (
                    InteractionType::ApplicationCommand,
                    Some(InteractionData::ApplicationCommand(data)),
                ) => this.command(&interaction, &data, asked).await,
                (
                    InteractionType::ApplicationCommandAutocomplete,
                    Some(InteractionData::ApplicationCommand(data)),
                ) => this.autocomplete(&data, asked.who).await,
                (_, Some(InteractionData::MessageComponent(data))) => {
                    this.component(&interaction, &data, asked).await
                }
                (_, Some(InteractionData::ModalSubmit(data))) => {
                    this.modal_submit(&interaction, &data, asked).await
                }
                _ => unknown(&format!("interaction type {kind:?}")),
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

    pub(super) async fn org_id(&self) -> Result<Uuid, DeskError> {
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

    pub(super) async fn actor(&self, who: &Who) -> Result<Option<Actor>, DeskError> {
        match self.contact(who).await? {
            Some(contact) => self
                .desk
                .resolve_contact(contact, Channel::Discord)
                .await
                .map(Some),
            None => Ok(None),
        }
    }

    pub(super) fn failed(&self, what: &str, error: &DeskError) -> Reply {
        if refused(error) {
            tracing::info!(%error, "refused {what}");
            Reply::Json(render::ephemeral(&explain(error)))
        } else {
            tracing::error!(%error, "could not record {what}");
            Reply::Retry
        }
    }

    pub(super) fn stranger() -> Reply {
        Reply::Json(render::ephemeral(
            "I don't know you yet: use a command in your server first, or /link your account there.",
        ))
    }

    /// Runs `action` as one use case under the interaction's key.
    pub(super) async fn perform(&self, asked: &Asked, action: Action) -> Reply {
        let contact = match self.contact(&asked.who).await {
            Ok(Some(contact)) => contact,
            Ok(None) => return Self::stranger(),
            Err(e) => return self.failed("an interaction", &e),
        };
        let desk = self.desk.clone();
        let outcome = self
            .desk
            .run(Some(&intake(&asked.key, &asked.body)), move |work| {
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
}

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

/// The answer that replaces the clicked message (type 7).
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
