//! Clicks and modal submissions as twilight-model reads them: the buttons
//! and selects on cards, approvals, escalations, rating requests and
//! `/report` answers (`MessageComponent`), and the `/ticket`, rejection
//! and catalog-step modals (`ModalSubmit`). Custom ids are `action:value`
//! as `render` writes them; a modal's inputs are read by custom id wherever
//! Discord nests them (action rows, or Label components around a select).

use std::fmt::Display;

use serde_json::{Map, Value};
use twilight_model::application::interaction::{
    message_component::MessageComponentInteractionData,
    modal::{ModalInteractionComponent, ModalInteractionData},
    Interaction,
};
use uuid::Uuid;

use super::{
    inbound::{too_long, unknown, Action, Asked, Discord, Reply},
    render,
};
use crate::{
    desk::{
        chat_actions::{ActionKind, ChatAction},
        chat_reports::{read_report_file_action, REPORT_FILE},
        tickets::OpenTicket,
    },
    domain::{
        form::{FieldKind, FormDefinition},
        Kind,
    },
};

/// The values of a modal submission, by input custom id, in the order
/// the modal shows them.
fn modal_values(components: &[ModalInteractionComponent]) -> Vec<(String, String)> {
    let mut values = Vec::new();
    for component in components {
        collect_value(component, &mut values);
    }
    values
}

/// A menu's picks as one comma-separated answer, as a text input would.
fn joined<T: Display>(picked: &[T]) -> String {
    picked
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn collect_value(component: &ModalInteractionComponent, values: &mut Vec<(String, String)>) {
    use ModalInteractionComponent as C;
    let (id, value) = match component {
        // Action rows hold text inputs; Label components hold one input
        // each (selects can only sit in a modal inside a label).
        C::ActionRow(row) => {
            for inner in &row.components {
                collect_value(inner, values);
            }
            return;
        }
        C::Label(label) => return collect_value(&label.component, values),
        C::TextInput(input) => (&input.custom_id, input.value.clone()),
        C::StringSelect(menu) => (&menu.custom_id, menu.values.join(",")),
        C::UserSelect(menu) => (&menu.custom_id, joined(&menu.values)),
        C::RoleSelect(menu) => (&menu.custom_id, joined(&menu.values)),
        C::ChannelSelect(menu) => (&menu.custom_id, joined(&menu.values)),
        C::MentionableSelect(menu) => (&menu.custom_id, joined(&menu.values)),
        C::CheckboxGroup(group) => (&group.custom_id, group.values.join(",")),
        C::FileUpload(upload) => (&upload.custom_id, joined(&upload.values)),
        // No modal of ours has a lone checkbox or shows text that answers
        // nothing; an unknown component has no value to read.
        C::Checkbox(_) | C::TextDisplay(_) | C::Unknown(_) => return,
    };
    values.push((id.clone(), value));
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

impl Discord {
    pub(super) async fn component(
        &self,
        interaction: &Interaction,
        data: &MessageComponentInteractionData,
        asked: Asked,
    ) -> Reply {
        let custom_id = data.custom_id.as_str();
        if custom_id.starts_with(REPORT_FILE) {
            let Some((reference, format)) = read_report_file_action(custom_id) else {
                return unknown(custom_id);
            };
            return self
                .perform(&asked, Action::ReportFile(reference, format))
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
                return self.catalog_step(&asked.who, item, step).await;
            }
            other => {
                let selected = data.values.first().map(String::as_str);
                let Some(chat) =
                    action_kind(other).and_then(|k| ChatAction::read(k, &value, selected))
                else {
                    return unknown(custom_id);
                };
                if other == render::ACKNOWLEDGE {
                    let shown = interaction
                        .message
                        .as_ref()
                        .map(|m| m.content.clone())
                        .unwrap_or_default();
                    Action::Acknowledge(chat, shown)
                } else {
                    Action::Chat(chat)
                }
            }
        };
        self.perform(&asked, action).await
    }

    pub(super) async fn modal_submit(
        &self,
        interaction: &Interaction,
        data: &ModalInteractionData,
        asked: Asked,
    ) -> Reply {
        let custom_id = data.custom_id.as_str();
        let values = modal_values(&data.components);
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
                self.perform(&asked, Action::Open(input)).await
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
                self.perform(&asked, Action::Chat(reject)).await
            }
            render::CATALOG_MODAL => {
                let Some((item, step)) = rest.split_once(':') else {
                    return unknown(custom_id);
                };
                let (Ok(item), Ok(step)) = (Uuid::parse_str(item), step.parse::<usize>()) else {
                    return unknown(custom_id);
                };
                self.catalog_submit(interaction, &asked, item, step, values)
                    .await
            }
            _ => unknown(custom_id),
        }
    }

    /// A catalog step's answers: carried on to the next step, or, at the
    /// last, the order with every step's answers.
    async fn catalog_submit(
        &self,
        interaction: &Interaction,
        asked: &Asked,
        item_id: Uuid,
        step: usize,
        values: Vec<(String, String)>,
    ) -> Reply {
        let actor = match self.actor(&asked.who).await {
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
            interaction
                .message
                .iter()
                .flat_map(|m| m.embeds.first())
                .flat_map(|embed| &embed.fields)
                .map(|f| (f.name.clone(), f.value.clone()))
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
            asked,
            Action::Order {
                item: item_id,
                answers: typed,
            },
        )
        .await
    }
}
