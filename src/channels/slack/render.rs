//! Block Kit messages: the triage card of a ticket, an approval request
//! (with buttons while it is open, its outcome after), the resolution
//! check, and plain notices. Action ids are the contract with `inbound`.

use serde_json::{json, Value};

use crate::{
    channels::common::{self, cut, deliver::Markup},
    desk::{
        alerts::AlertBrief,
        approvals::ApprovalView,
        chat::HomeView,
        chat_reports::{report_file_action, ChatReportQueued, REPORT_FILE_FORMATS},
        views::TicketView,
    },
    domain::form::{FieldKind, FormField, FormOption},
};

/// Action ids of the buttons this module renders.
pub const TAKE: &str = "ticket_take";
pub const RESOLVE: &str = "ticket_resolve";
pub const ASSIGN: &str = "ticket_assign";
pub const PRIORITY: &str = "ticket_priority";
pub const ESCALATE: &str = "ticket_escalate";
pub const ACKNOWLEDGE: &str = "escalation_ack";
/// On an alert's card: acknowledge, or silence the group for an hour; the
/// answer is the card again, updated.
pub const ALERT_ACK: &str = "alert_ack";
pub const SILENCE: &str = "alert_silence";
pub const APPROVE: &str = "approval_approve";
pub const REJECT: &str = "approval_reject";
pub const SOLVED_YES: &str = "resolution_yes";
pub const SOLVED_NO: &str = "resolution_no";
pub const RATE: &str = "resolution_rate";
/// The catalog select on the new-ticket modal.
pub const CATALOG_PICK: &str = "catalog_pick";
/// Callback ids of modals.
pub const CREATE_MODAL: &str = "ticket_create";
pub const REJECT_MODAL: &str = "approval_reject";
pub const CATALOG_MODAL: &str = "catalog_order";
/// Slack's limits: options per select, characters of a modal title, of an
/// option's text and of a label.
const MAX_OPTIONS: usize = 100;
const TITLE_MAX: usize = 24;
const OPTION_MAX: usize = 75;
const LABEL_MAX: usize = 2000;

/// Slack's markup for the delivery steps it shares with Discord.
pub const MARKUP: Markup = Markup {
    escape,
    bold: |text| format!("*{text}*"),
    text: |text| json!({ "text": text }),
    card,
    resolution_check,
    replies_go_to_the_ticket: "Replies in this thread go to the ticket.",
};

/// Escapes text for Slack's mrkdwn (`&`, `<`, `>`).
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn button(text: &str, action_id: &str, value: &str, style: Option<&str>) -> Value {
    let mut b = json!({
        "type": "button",
        "text": { "type": "plain_text", "text": text },
        "action_id": action_id,
        "value": value,
    });
    if let Some(style) = style {
        b["style"] = json!(style);
    }
    b
}

/// What the card of an incident opened by alerts shows of them.
fn alert_blocks(brief: &AlertBrief) -> Vec<Value> {
    let mut status = vec![format!(
        ":bell: *{}* firing · {} resolved",
        brief.firing, brief.resolved
    )];
    if let Some(at) = brief.acknowledged_at {
        status.push(format!("acknowledged {} UTC", at.format("%H:%M")));
    }
    if let Some(until) = brief.silenced_until {
        status.push(format!("silenced until {} UTC", until.format("%H:%M")));
    }
    let mut lines = vec![status.join(" · ")];
    if !brief.labels.is_empty() {
        let labels: Vec<String> = brief
            .labels
            .iter()
            .map(|(k, v)| format!("`{}={}`", escape(k), escape(v)))
            .collect();
        lines.push(labels.join(" "));
    }
    let mut links = Vec::new();
    if let Some(url) = &brief.runbook {
        links.push(format!("<{}|Runbook>", escape(url)));
    }
    if let Some(url) = &brief.source {
        links.push(format!("<{}|Source>", escape(url)));
    }
    if !links.is_empty() {
        lines.push(links.join(" · "));
    }
    vec![json!({
        "type": "context",
        "elements": [{ "type": "mrkdwn", "text": cut(&lines.join("\n"), 3000) }],
    })]
}

/// The card a team sees in its triage channel, updated in place; an
/// incident opened by alerts shows them, with Acknowledge and Silence.
pub fn card(ticket: &TicketView, alerts: Option<&AlertBrief>) -> Value {
    let who = |p: &Option<crate::desk::views::PersonRef>| {
        p.as_ref()
            .map(|p| escape(&p.name))
            .unwrap_or_else(|| "—".into())
    };
    let mut blocks = vec![
        json!({
            "type": "section",
            "text": { "type": "mrkdwn", "text": format!("*{}* · {}", ticket.number, escape(&ticket.title)) },
        }),
        json!({
            "type": "section",
            "fields": [
                { "type": "mrkdwn", "text": format!("*State*\n{}", ticket.state) },
                { "type": "mrkdwn", "text": format!("*Priority*\n{}", ticket.priority) },
                { "type": "mrkdwn", "text": format!("*Assignee*\n{}", who(&ticket.assignee)) },
                { "type": "mrkdwn", "text": format!("*Requester*\n{}", who(&ticket.requester)) },
            ],
        }),
    ];
    if ticket.major || ticket.escalation_level > 0 {
        let mut flags = Vec::new();
        if ticket.major {
            flags.push(":rotating_light: *Major incident*".to_string());
        }
        if ticket.escalation_level > 0 {
            flags.push(format!("Escalation level *{}*", ticket.escalation_level));
        }
        blocks.push(json!({
            "type": "context",
            "elements": [{ "type": "mrkdwn", "text": flags.join(" · ") }],
        }));
    }
    if let Some(brief) = alerts {
        blocks.extend(alert_blocks(brief));
    }
    let open = !matches!(
        ticket.state.as_str(),
        "resolved" | "closed" | "cancelled" | "rejected"
    );
    if open {
        let mut actions = vec![button("Take", TAKE, &ticket.number, None)];
        if let Some(brief) = alerts {
            if brief.acknowledged_at.is_none() {
                actions.push(button("Acknowledge", ALERT_ACK, &ticket.number, None));
            }
            actions.push(button("Silence 1 h", SILENCE, &ticket.number, None));
        }
        actions.push(json!({
            "type": "users_select",
            "action_id": ASSIGN,
            "placeholder": { "type": "plain_text", "text": "Assign to…" },
        }));
        actions.push(priority_select(ticket));
        if ticket.allowed_transitions.iter().any(|s| s == "resolved") {
            actions.push(button("Resolve", RESOLVE, &ticket.number, Some("primary")));
        }
        actions.push(button("Escalate", ESCALATE, &ticket.number, Some("danger")));
        // The block id carries the ticket: a select's answer has no `value`.
        blocks.push(json!({
            "type": "actions",
            "block_id": format!("{CARD_BLOCK}{}", ticket.number),
            "elements": actions,
        }));
    }
    json!({
        "text": format!("{} {} [{}] {}", ticket.number, ticket.title, ticket.priority, ticket.state),
        "blocks": blocks,
    })
}

/// The prefix of the card's actions block id; the ticket number follows.
pub const CARD_BLOCK: &str = "ticket:";

/// The priority menu of a card; option values are `<number>:<priority>`.
fn priority_select(ticket: &TicketView) -> Value {
    let option = |p: &str, label: &str| {
        json!({
            "text": { "type": "plain_text", "text": format!("{} · {label}", p.to_uppercase()) },
            "value": format!("{}:{p}", ticket.number),
        })
    };
    let options: Vec<Value> = [
        ("p1", "critical"),
        ("p2", "high"),
        ("p3", "moderate"),
        ("p4", "low"),
        ("p5", "planning"),
    ]
    .iter()
    .map(|(p, label)| option(p, label))
    .collect();
    let current = options
        .iter()
        .find(|o| o["value"].as_str() == Some(&format!("{}:{}", ticket.number, ticket.priority)))
        .cloned();
    let mut select = json!({
        "type": "static_select",
        "action_id": PRIORITY,
        "placeholder": { "type": "plain_text", "text": "Priority" },
        "options": options,
    });
    if let Some(current) = current {
        select["initial_option"] = current;
    }
    select
}

/// An escalation or SLA alarm sent to a person, with an Acknowledge button
/// that stops the ticket's escalation chain.
pub fn alarm(subject: &str, text: &str, ticket: &str) -> Value {
    json!({
        "text": format!("{subject}\n{text}"),
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn",
              "text": format!(":rotating_light: *{}*\n{}", escape(subject), escape(text)) } },
            { "type": "actions", "block_id": "escalation", "elements": [
                button("Acknowledge", ACKNOWLEDGE, ticket, Some("primary")),
            ] },
        ],
    })
}

/// An approval request as one approver sees it: buttons while the stage is
/// open, the outcome ("Approved by …, 14:02") once decided.
pub fn approval(view: &ApprovalView) -> Value {
    let stage = view.stages.get(view.stage);
    let mut lines = vec![format!(
        "*Approval needed* for *{}* · {}\nPolicy: {}",
        view.ticket,
        escape(&view.ticket_title),
        escape(&view.policy)
    )];
    if let Some(requester) = &view.requester {
        lines.push(format!("Requested by {}", escape(&requester.name)));
    }
    if let Some(stage) = stage {
        let progress = if stage.cab {
            format!(
                "CAB: {} of {} approvals, {} rejections",
                stage.approvals, stage.needed, stage.rejections
            )
        } else {
            format!("Stage: {}", escape(&stage.name))
        };
        lines.push(progress);
    }
    let mut blocks = vec![json!({
        "type": "section",
        "text": { "type": "mrkdwn", "text": lines.join("\n") },
    })];
    if view.status == "pending" {
        blocks.push(json!({
            "type": "actions",
            "block_id": "approval_actions",
            "elements": [
                button("Approve", APPROVE, &view.id.to_string(), Some("primary")),
                button("Reject", REJECT, &view.id.to_string(), Some("danger")),
            ],
        }));
    } else {
        blocks.push(json!({
            "type": "context",
            "elements": [{ "type": "mrkdwn", "text": common::outcome(view, escape) }],
        }));
    }
    json!({ "text": format!("Approval for {}: {}", view.ticket, view.status), "blocks": blocks })
}

/// "Is this solved?" with Yes / No, sent when a ticket is resolved.
pub fn resolution_check(ticket: &TicketView) -> Value {
    json!({
        "text": format!("{} was resolved. Is this solved?", ticket.number),
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn",
              "text": format!("*{}* · {} was resolved. Is this solved?", ticket.number, escape(&ticket.title)) } },
            { "type": "actions", "block_id": "resolution", "elements": [
                button("Yes, close it", SOLVED_YES, &ticket.number, Some("primary")),
                button("No, reopen", SOLVED_NO, &ticket.number, None),
            ] },
        ],
    })
}

/// The modal `/ticket` opens.
pub fn create_modal(catalog: &[(String, String)]) -> Value {
    let mut blocks = Vec::new();
    if !catalog.is_empty() {
        // Picking an item replaces this modal with the item's form
        // (`views.update`), so it sits in an actions block, not an input.
        let options: Vec<Value> = catalog
            .iter()
            .take(MAX_OPTIONS)
            .map(|(id, name)| option(name, id))
            .collect();
        blocks.push(json!({ "type": "section", "block_id": "catalog_hint",
            "text": { "type": "mrkdwn", "text": "Request something from the catalog, or describe a problem below." } }));
        blocks.push(json!({ "type": "actions", "block_id": "catalog", "elements": [
            { "type": "static_select", "action_id": CATALOG_PICK,
              "placeholder": { "type": "plain_text", "text": "Catalog item…" }, "options": options } ] }));
    }
    blocks.extend([
        json!({ "type": "input", "block_id": "title", "label": { "type": "plain_text", "text": "Title" },
          "element": { "type": "plain_text_input", "action_id": "value", "max_length": 200 } }),
        json!({ "type": "input", "block_id": "description", "optional": true, "label": { "type": "plain_text", "text": "Description" },
          "element": { "type": "plain_text_input", "action_id": "value", "multiline": true } }),
        json!({ "type": "input", "block_id": "urgency", "optional": true, "label": { "type": "plain_text", "text": "Urgency" },
          "element": { "type": "static_select", "action_id": "value", "options": [
              option("High", "high"), option("Medium", "medium"), option("Low", "low") ] } }),
    ]);
    json!({
        "type": "modal",
        "callback_id": CREATE_MODAL,
        "title": { "type": "plain_text", "text": "New ticket" },
        "submit": { "type": "plain_text", "text": "Create" },
        "blocks": blocks,
    })
}

fn option(text: &str, value: &str) -> Value {
    json!({ "text": { "type": "plain_text", "text": cut(text, OPTION_MAX) }, "value": value })
}

fn form_options(options: &[FormOption]) -> Vec<Value> {
    options
        .iter()
        .take(MAX_OPTIONS)
        .map(|o| option(o.label.as_deref().unwrap_or(&o.value), &o.value))
        .collect()
}

/// A catalog item's form as a modal: one input block per field, its block
/// id the field's key (so the desk's `answers.<key>` errors land next to
/// the field), the item in `private_metadata`.
pub fn catalog_modal(item_id: &str, name: &str, description: &str, fields: &[FormField]) -> Value {
    let mut blocks = Vec::new();
    if !description.trim().is_empty() {
        blocks.push(json!({ "type": "section",
            "text": { "type": "mrkdwn", "text": cut(&escape(description), 3000) } }));
    }
    if fields.is_empty() {
        blocks.push(json!({ "type": "section",
            "text": { "type": "mrkdwn", "text": "Nothing to fill in: submit to order it." } }));
    }
    for field in fields {
        let mut hint = field.help.clone();
        let element = match &field.kind {
            FieldKind::Text { max_length, .. } => {
                let mut e = json!({ "type": "plain_text_input", "action_id": "value" });
                if let Some(max) = max_length {
                    e["max_length"] = json!((*max).min(3000));
                }
                e
            }
            FieldKind::LongText { max_length } => {
                let mut e =
                    json!({ "type": "plain_text_input", "action_id": "value", "multiline": true });
                if let Some(max) = max_length {
                    e["max_length"] = json!((*max).min(3000));
                }
                e
            }
            FieldKind::Number { min, max, integer } => {
                let mut e = json!({ "type": "number_input", "action_id": "value",
                                    "is_decimal_allowed": !integer });
                if let Some(min) = min {
                    e["min_value"] = json!(min.to_string());
                }
                if let Some(max) = max {
                    e["max_value"] = json!(max.to_string());
                }
                e
            }
            FieldKind::Date { .. } => json!({ "type": "datepicker", "action_id": "value" }),
            FieldKind::Choice { options } => json!({ "type": "static_select", "action_id": "value",
                                                     "options": form_options(options) }),
            FieldKind::MultiChoice {
                options,
                max_selected,
                ..
            } => {
                let mut e = json!({ "type": "multi_static_select", "action_id": "value",
                                    "options": form_options(options) });
                if let Some(max) = max_selected {
                    e["max_selected_items"] = json!(max);
                }
                e
            }
            FieldKind::Person => {
                hint.get_or_insert_with(|| "The person's email address.".into());
                json!({ "type": "plain_text_input", "action_id": "value" })
            }
            FieldKind::ConfigurationItem { .. } => {
                hint.get_or_insert_with(|| "The configuration item's external id.".into());
                json!({ "type": "plain_text_input", "action_id": "value" })
            }
        };
        let mut block = json!({
            "type": "input",
            "block_id": field.key,
            "optional": !field.required,
            "label": { "type": "plain_text", "text": cut(&field.label, LABEL_MAX) },
            "element": element,
        });
        if let Some(hint) = hint {
            block["hint"] = json!({ "type": "plain_text", "text": cut(&hint, LABEL_MAX) });
        }
        blocks.push(block);
    }
    json!({
        "type": "modal",
        "callback_id": CATALOG_MODAL,
        "private_metadata": item_id,
        "title": { "type": "plain_text", "text": cut(name, TITLE_MAX) },
        "submit": { "type": "plain_text", "text": "Order" },
        "blocks": blocks,
    })
}

/// After "Yes, close it": closed, and how did we do? (1–5, optional).
pub fn rating_request(number: &str) -> Value {
    let buttons: Vec<Value> = (1..=5)
        .map(|n| button(&stars(n), RATE, &format!("{number}:{n}"), None))
        .collect();
    json!({
        "text": format!("{number} is closed. How did we do?"),
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn",
              "text": format!(":white_check_mark: *{number}* is closed. How did we do? (optional)") } },
            { "type": "actions", "block_id": format!("rate:{number}"), "elements": buttons },
        ],
    })
}

/// The rating message after a rating.
pub fn rated(number: &str, score: i64) -> Value {
    json!({ "text": format!(":white_check_mark: *{number}* is closed. You rated it {} — thank you!", stars(score)) })
}

fn stars(n: i64) -> String {
    let n = n.clamp(0, 5) as usize;
    format!("{}{}", "★".repeat(n), "☆".repeat(5 - n))
}

/// The modal a Reject click opens, asking for the reason.
pub fn reject_modal(approval: &str) -> Value {
    json!({
        "type": "modal",
        "callback_id": REJECT_MODAL,
        "private_metadata": approval,
        "title": { "type": "plain_text", "text": "Reject" },
        "submit": { "type": "plain_text", "text": "Reject" },
        "blocks": [
            { "type": "input", "block_id": "reason", "label": { "type": "plain_text", "text": "Why?" },
              "element": { "type": "plain_text_input", "action_id": "value", "multiline": true } },
        ],
    })
}

/// The bot's home tab: my open tickets, approvals waiting for me, my
/// teams' queues. Approvals keep their buttons, so they can be decided here.
pub fn home(view: &HomeView) -> Value {
    let line = |t: &TicketView| {
        format!(
            "*{}* · {} — {}, {}",
            t.number,
            escape(&t.title),
            t.priority,
            t.state.replace('_', " ")
        )
    };
    let section =
        |text: String| json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } });
    let list = |tickets: &[TicketView], empty: &str| {
        if tickets.is_empty() {
            format!("_{empty}_")
        } else {
            tickets.iter().map(line).collect::<Vec<_>>().join("\n")
        }
    };
    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": "My open tickets" } }),
        section(list(
            &view.mine,
            "Nothing open. Message me to raise a ticket.",
        )),
        json!({ "type": "header", "text": { "type": "plain_text", "text": "Waiting for my approval" } }),
    ];
    if view.approvals.is_empty() {
        blocks.push(section("_No approvals waiting for you._".into()));
    }
    for approval in &view.approvals {
        let mut request = self::approval(approval);
        if let Some(more) = request["blocks"].as_array_mut() {
            blocks.append(more);
        }
    }
    for (team, tickets) in &view.queues {
        blocks.push(json!({ "type": "header", "text": { "type": "plain_text", "text": format!("Queue: {team}") } }));
        blocks.push(section(list(tickets, "Queue empty.")));
    }
    if let Some(lines) = &view.dashboard {
        blocks.push(
            json!({ "type": "header", "text": { "type": "plain_text", "text": "The desk now" } }),
        );
        let lines: Vec<String> = lines.iter().map(|l| escape(l)).collect();
        blocks.push(section(lines.join("\n")));
        blocks.push(json!({ "type": "context", "elements": [{ "type": "mrkdwn",
            "text": "`/report` posts any report with its chart to a channel." }] }));
    }
    json!({ "type": "home", "blocks": blocks })
}

/// The answer to `/report`: what is being posted, and the file buttons.
pub fn report_queued(queued: &ChatReportQueued) -> Value {
    let text = format!(
        "Posting the *{}* report to this channel. Want the files?",
        escape(&queued.title)
    );
    let buttons: Vec<Value> = REPORT_FILE_FORMATS
        .iter()
        .map(|(format, label)| {
            let id = report_file_action(queued.reference, *format);
            json!({ "type": "button", "text": { "type": "plain_text", "text": label },
                    "action_id": id, "value": id })
        })
        .collect();
    json!({
        "response_type": "ephemeral",
        "text": text,
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": text } },
            { "type": "actions", "elements": buttons },
        ],
    })
}
