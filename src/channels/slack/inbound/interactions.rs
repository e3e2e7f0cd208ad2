//! Interactions (`POST /slack/interactions`'s `payload`, or Socket Mode
//! `interactive`): a button or menu on a card is one desk chat action, a
//! report's file button queues the file, the catalog pick turns the modal
//! into the item's form, a modal submission opens a ticket, orders an item
//! or rejects an approval (errors shown next to the fields), and the
//! shortcuts open a ticket from a message or the new-ticket modal. The
//! dedupe key is the interaction's `trigger_id`.

use std::collections::HashMap;

use serde_json::{json, Value};
use slack_morphism::{
    blocks::{SlackBlockId, SlackStatefulView, SlackView, SlackViewStateValue},
    events::{
        SlackInteractionActionContainer, SlackInteractionBlockActionsEvent, SlackInteractionEvent,
        SlackInteractionMessageActionEvent,
    },
    SlackActionId,
};
use uuid::Uuid;

use super::{
    super::{
        payload::{self, Interaction},
        render,
    },
    intake, refused, unreadable, Reply, Slack,
};
use crate::{
    desk::{
        catalog::OrderInput,
        chat::ticket_from_text,
        chat_actions::{ActionKind, ChatAction, ChatActionDone},
        chat_reports::read_report_file_action,
        identity::{Contact, IdentityKey},
        tickets::OpenTicket,
        Actor, Desk, DeskError, Outcome, Work,
    },
    domain::{form::FormDefinition, Channel, Kind},
};

impl Slack {
    /// `POST /slack/interactions` (`payload=<json>`).
    pub async fn interaction(&self, json: &str, body: &[u8]) -> Reply {
        let Interaction {
            event,
            selected_user,
        } = match payload::parse_interaction(json) {
            Ok(interaction) => interaction,
            Err(error) => return unreadable(error),
        };
        let (team, user, trigger) = match &event {
            SlackInteractionEvent::BlockActions(e) => {
                (&e.team, e.user.as_ref(), Some(&e.trigger_id))
            }
            SlackInteractionEvent::ViewSubmission(e) => {
                (&e.team, Some(&e.user), e.trigger_id.as_ref())
            }
            SlackInteractionEvent::MessageAction(e) => {
                (&e.team, Some(&e.user), Some(&e.trigger_id))
            }
            SlackInteractionEvent::Shortcut(e) => (&e.team, Some(&e.user), Some(&e.trigger_id)),
            other => {
                tracing::debug!(kind = ?interaction_kind(other), "ignoring a Slack interaction");
                return Reply::Ack;
            }
        };
        let team = team.id.0.clone();
        let name = user.and_then(|u| u.name.clone().or_else(|| u.username.clone()));
        let user = user.map(|u| u.id.0.clone()).unwrap_or_default();
        let trigger = trigger.map(|t| t.0.clone()).unwrap_or_default();
        let org_id = match self.org_id(&team).await {
            Ok(id) => id,
            Err(e) => return self.failed("an interaction", &e),
        };
        let contact = self.contact(org_id, &team, &user, name.as_deref());
        let key = format!("interaction:{trigger}");
        match event {
            SlackInteractionEvent::BlockActions(click) => {
                self.block_action(click, selected_user, contact, &key, body)
                    .await
            }
            SlackInteractionEvent::ViewSubmission(submission) => {
                self.view_submission(submission.view, contact, &key, body)
                    .await
            }
            SlackInteractionEvent::MessageAction(shortcut) => {
                self.message_action(shortcut, contact, &key, body).await
            }
            _ => {
                self.open_create_view(contact, &team, &trigger);
                Reply::Ack
            }
        }
    }

    async fn block_action(
        &self,
        click: SlackInteractionBlockActionsEvent,
        selected_user: Option<String>,
        contact: Contact,
        key: &str,
        body: &[u8],
    ) -> Reply {
        let Some(action) = click.actions.as_ref().and_then(|a| a.first()) else {
            tracing::debug!("ignoring a Slack click without an action");
            return Reply::Ack;
        };
        let action_id = action.action_id.0.clone();
        let response_url = click.response_url.as_ref().map(|u| u.0.to_string());
        // Buttons carry a value; a menu its selection, with the ticket in
        // the block id (`ticket:<number>`) or the option value.
        let block_ticket = action
            .block_id
            .as_ref()
            .and_then(|b| b.0.strip_prefix(render::CARD_BLOCK))
            .map(String::from);
        let value = action
            .value
            .clone()
            .or_else(|| action.selected_option.as_ref().map(|o| o.value.clone()))
            .or(selected_user)
            .unwrap_or_default();
        if action_id.starts_with(crate::desk::chat_reports::REPORT_FILE) {
            return self
                .report_file(contact, &action_id, key, body, response_url)
                .await;
        }
        let team = click.team.id.0.as_str();
        if action_id == render::CATALOG_PICK {
            // The modal is the click's container; its hash guards the update.
            let view_id = match &click.container {
                SlackInteractionActionContainer::View(view) => Some(view.view_id.0.clone()),
                _ => None,
            };
            let hash = match &click.view {
                Some(SlackView::Modal(modal)) => modal.hash.clone(),
                _ => None,
            };
            self.show_catalog_form(view_id, hash, team, contact, &value);
            return Reply::Ack;
        }
        if action_id == render::REJECT {
            self.open_view(team, &click.trigger_id.0, render::reject_modal(&value));
            return Reply::Ack;
        }
        let action = match action_kind(&action_id) {
            Some(ActionKind::Assign) => match block_ticket {
                Some(number) => Some(ChatAction::Assign {
                    number,
                    assignee: IdentityKey::Slack {
                        team_id: match &contact.identity {
                            IdentityKey::Slack { team_id, .. } => team_id.clone(),
                            _ => String::new(),
                        },
                        user_id: value,
                    },
                }),
                None => None,
            },
            Some(kind) => ChatAction::read(kind, &value, None),
            None => None,
        };
        let Some(action) = action else {
            tracing::debug!(action_id, "ignoring an unknown Slack action");
            return Reply::Ack;
        };
        let desk = self.desk.clone();
        let outcome = self
            .desk
            .run(Some(&intake(key, body)), move |work| {
                Box::pin(async move {
                    let actor = desk.chat_actor(work, &contact, Channel::Slack).await?;
                    act(&desk, work, &actor, action).await
                })
            })
            .await;
        match outcome {
            Ok(Outcome::Done(Some(note))) => {
                if let Some(url) = response_url {
                    self.replace(url, note);
                }
                Reply::Ack
            }
            Ok(_) => Reply::Ack,
            Err(e) if refused(&e) => {
                // Only the person who clicked sees why nothing happened.
                if let Some(url) = response_url {
                    self.tell(url, e.to_string());
                }
                Reply::Ack
            }
            Err(e) => self.failed("a button click", &e),
        }
    }

    async fn view_submission(
        &self,
        view: SlackStatefulView,
        contact: Contact,
        key: &str,
        body: &[u8],
    ) -> Reply {
        let values = view
            .state_params
            .state
            .map(|state| state.values)
            .unwrap_or_default();
        // Each input block holds one element, whose action id is `value`.
        let text = |block: &str| {
            let v = values
                .get(&SlackBlockId(block.to_string()))?
                .get(&SlackActionId(ANSWER.to_string()))?;
            v.value
                .clone()
                .or_else(|| v.selected_option.as_ref().map(|o| o.value.clone()))
        };
        let (callback_id, metadata) = match &view.view {
            SlackView::Modal(modal) => (
                modal.callback_id.as_ref(),
                modal.private_metadata.as_deref(),
            ),
            SlackView::Home(home) => (home.callback_id.as_ref(), home.private_metadata.as_deref()),
        };
        let callback_id = callback_id.map(|c| c.0.as_str());
        let metadata = metadata.and_then(|s| Uuid::parse_str(s).ok());
        let desk = self.desk.clone();
        match callback_id {
            Some(render::CREATE_MODAL) => {
                let input = OpenTicket {
                    kind: Kind::Incident.as_str().into(),
                    title: text("title").unwrap_or_default(),
                    description: text("description").unwrap_or_default(),
                    urgency: text("urgency"),
                    ..OpenTicket::default()
                };
                let outcome = self
                    .desk
                    .run(Some(&intake(key, body)), move |work| {
                        Box::pin(async move {
                            let actor = desk.chat_actor(work, &contact, Channel::Slack).await?;
                            desk.open_ticket(work, &actor, input).await
                        })
                    })
                    .await;
                self.modal_outcome(outcome.map(|_| ()), "title")
            }
            Some(render::CATALOG_MODAL) => {
                let Some(item) = metadata else {
                    return Reply::Ack;
                };
                let input = OrderInput {
                    answers: modal_answers(&values),
                    requester: None,
                    title: None,
                };
                let outcome = self
                    .desk
                    .run(Some(&intake(key, body)), move |work| {
                        Box::pin(async move {
                            let actor = desk.chat_actor(work, &contact, Channel::Slack).await?;
                            desk.order_item(work, &actor, item, input).await
                        })
                    })
                    .await;
                self.modal_outcome(outcome.map(|_| ()), "catalog_form")
            }
            Some(render::REJECT_MODAL) => {
                let Some(approval) = metadata else {
                    return Reply::Ack;
                };
                let reason = text("reason");
                let outcome = self
                    .desk
                    .run(Some(&intake(key, body)), move |work| {
                        Box::pin(async move {
                            let actor = desk.chat_actor(work, &contact, Channel::Slack).await?;
                            let reject = ChatAction::Reject { approval, reason };
                            desk.chat_action(work, &actor, reject, "Slack").await?;
                            Ok(())
                        })
                    })
                    .await;
                self.modal_outcome(outcome.map(|_| ()), "reason")
            }
            other => {
                tracing::debug!(callback = ?other, "ignoring an unknown Slack modal");
                Reply::Ack
            }
        }
    }

    /// A modal's answer: closed on success, errors shown next to the fields
    /// (the block ids are the desk's field names), anything else on `fallback`.
    fn modal_outcome(&self, outcome: Result<(), DeskError>, fallback: &str) -> Reply {
        match outcome {
            Ok(()) => Reply::Ack,
            Err(DeskError::Invalid(errors)) => {
                let mut shown = serde_json::Map::new();
                for e in errors {
                    // A catalog form's blocks are its fields' keys.
                    let answer = e
                        .field
                        .strip_prefix("answers.")
                        .map(|rest| rest.split('.').next().unwrap_or(rest));
                    let block = match (e.field.as_ref(), answer) {
                        (_, Some(key)) => key.to_string(),
                        ("title" | "description" | "urgency" | "reason", _) => e.field.to_string(),
                        _ => fallback.to_string(),
                    };
                    shown.entry(block).or_insert_with(|| json!(e.message));
                }
                Reply::Json(json!({ "response_action": "errors", "errors": shown }))
            }
            Err(e) if refused(&e) => Reply::Json(json!({
                "response_action": "errors",
                "errors": { fallback: e.to_string() },
            })),
            Err(e) => self.failed("a modal", &e),
        }
    }

    /// The "Create ticket" message shortcut: the message becomes a ticket
    /// raised by whoever used the shortcut.
    async fn message_action(
        &self,
        shortcut: SlackInteractionMessageActionEvent,
        contact: Contact,
        key: &str,
        body: &[u8],
    ) -> Reply {
        let message = shortcut.message.as_ref();
        let text = message
            .and_then(|m| m.content.text.as_deref())
            .unwrap_or_default()
            .trim()
            .to_string();
        if text.is_empty() {
            return Reply::Ack;
        }
        let channel = shortcut
            .channel
            .as_ref()
            .map(|c| c.id.0.as_str())
            .unwrap_or_default();
        let author = message
            .and_then(|m| m.sender.user.as_ref())
            .map(|u| u.0.as_str())
            .unwrap_or_default();
        let mut input = ticket_from_text(Kind::Incident, &text);
        input.description = format!("{text}\n\n— message by <@{author}> in <#{channel}>");
        let desk = self.desk.clone();
        let outcome = self
            .desk
            .run(Some(&intake(key, body)), move |work| {
                Box::pin(async move {
                    let actor = desk.chat_actor(work, &contact, Channel::Slack).await?;
                    desk.open_ticket(work, &actor, input).await
                })
            })
            .await;
        match outcome {
            Ok(_) => Reply::Ack,
            Err(e) => self.failed("a message shortcut", &e),
        }
    }

    /// A catalog item picked on the new-ticket modal: the modal becomes the
    /// item's form (`views.update`, after the answer).
    fn show_catalog_form(
        &self,
        view_id: Option<String>,
        hash: Option<String>,
        team: &str,
        contact: Contact,
        item: &str,
    ) {
        let (Some(view_id), Ok(item)) = (view_id, Uuid::parse_str(item)) else {
            tracing::debug!("a catalog pick without a view or item");
            return;
        };
        let team = team.to_string();
        let this = self.clone();
        tokio::spawn(async move {
            let found = match this.actor_of(contact).await {
                Ok(actor) => this.desk.get_catalog_item(&actor, item).await,
                Err(error) => Err(error),
            };
            let item = match found {
                Ok(item) if item.active => item,
                Ok(_) => return tracing::debug!("a retired catalog item was picked"),
                Err(error) => return tracing::warn!(%error, "could not load a catalog item"),
            };
            let form: FormDefinition = match serde_json::from_value(item.form.clone()) {
                Ok(form) => form,
                Err(error) => {
                    return tracing::warn!(%error, item = %item.id, "unreadable catalog form")
                }
            };
            let view = render::catalog_modal(
                &item.id.to_string(),
                &item.name,
                &item.description,
                &form.fields,
            );
            let mut body = json!({ "view_id": view_id, "view": view });
            if let Some(hash) = hash {
                body["hash"] = json!(hash);
            }
            this.call_views(&team, "views.update", &body).await;
        });
    }

    /// A file button under a `/report` answer.
    async fn report_file(
        &self,
        contact: Contact,
        action_id: &str,
        key: &str,
        body: &[u8],
        response_url: Option<String>,
    ) -> Reply {
        let Some((reference, format)) = read_report_file_action(action_id) else {
            return Reply::Ack;
        };
        let desk = self.desk.clone();
        let outcome = self
            .desk
            .run(Some(&intake(key, body)), move |work| {
                Box::pin(async move {
                    let actor = desk.chat_actor(work, &contact, Channel::Slack).await?;
                    desk.report_file_to_chat(work, &actor, reference, format)
                        .await
                })
            })
            .await;
        let answer = match outcome {
            Ok(Outcome::Done(name)) => format!("{name} is on its way to this channel."),
            Ok(Outcome::Replayed { .. }) => return Reply::Ack,
            Err(e) if refused(&e) => format!("I could not make that file: {e}"),
            Err(e) => return self.failed("a report file button", &e),
        };
        if let Some(url) = response_url {
            self.tell(url, answer);
        }
        Reply::Ack
    }

    /// Replaces the clicked message (e.g. an alarm, once acknowledged).
    fn replace(&self, response_url: String, message: Value) {
        let api = self.api.clone();
        tokio::spawn(async move {
            let mut body = message;
            body["replace_original"] = json!(true);
            if let Err(error) = api.respond(&response_url, &body).await {
                tracing::warn!(?error, "could not update a Slack message");
            }
        });
    }
}

/// Slack's action ids, as the desk's chat actions.
fn action_kind(action_id: &str) -> Option<ActionKind> {
    Some(match action_id {
        render::APPROVE => ActionKind::Approve,
        render::TAKE => ActionKind::Take,
        render::RESOLVE => ActionKind::Resolve,
        render::SOLVED_YES => ActionKind::Solved,
        render::SOLVED_NO => ActionKind::NotSolved,
        render::ESCALATE => ActionKind::Escalate,
        render::RATE => ActionKind::Rate,
        render::ACKNOWLEDGE => ActionKind::Acknowledge,
        render::ALERT_ACK => ActionKind::AlertAck,
        render::SILENCE => ActionKind::Silence,
        render::ASSIGN => ActionKind::Assign,
        render::PRIORITY => ActionKind::Priority,
        _ => return None,
    })
}

/// What a click does, as the person who clicked it; some clicks answer
/// with a message that replaces the clicked one (an acknowledged alarm,
/// the rating buttons after "Yes, close it"); the others change the ticket,
/// whose card the mirror redraws.
async fn act(
    desk: &Desk,
    work: &mut Work,
    actor: &Actor,
    action: ChatAction,
) -> Result<Option<Value>, DeskError> {
    let done = desk.chat_action(work, actor, action, "Slack").await?;
    if let Some(text) = done.notice(render::MARKUP.bold, render::MARKUP.escape) {
        return Ok(Some(json!({ "text": text })));
    }
    Ok(match done {
        ChatActionDone::Alert(ticket, brief) => Some(render::card(&ticket, Some(&brief))),
        ChatActionDone::Closed(ticket) => Some(render::rating_request(&ticket.number)),
        ChatActionDone::Rated { number, score } => Some(render::rated(&number, score)),
        _ => None,
    })
}

/// The action id `render` gives the one element of every modal input block.
const ANSWER: &str = "value";

/// An ignored interaction's type, for the debug log.
fn interaction_kind(interaction: &SlackInteractionEvent) -> Option<String> {
    let value = serde_json::to_value(interaction).ok()?;
    value["type"].as_str().map(String::from)
}

/// A catalog form's answers by field key (its blocks' ids), as the desk
/// reads them: lists for multi-selects and checkboxes, the picked value of
/// a menu, the date of a date picker, the typed text otherwise.
fn modal_answers(
    values: &HashMap<SlackBlockId, HashMap<SlackActionId, SlackViewStateValue>>,
) -> serde_json::Map<String, Value> {
    let mut answers = serde_json::Map::new();
    for (block, actions) in values {
        let Some(v) = actions.get(&SlackActionId(ANSWER.to_string())) else {
            continue;
        };
        let answer = match v.action_type.0.as_str() {
            "multi_static_select" | "checkboxes" => Some(Value::Array(
                v.selected_options
                    .iter()
                    .flatten()
                    .map(|o| json!(o.value))
                    .collect(),
            )),
            "static_select" | "radio_buttons" => v.selected_option.as_ref().map(|o| json!(o.value)),
            "datepicker" => v.selected_date.as_ref().map(|d| json!(d)),
            _ => v.value.as_ref().map(|t| json!(t)),
        };
        if let Some(answer) = answer {
            answers.insert(block.0.clone(), answer);
        }
    }
    answers
}
