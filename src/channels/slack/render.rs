//! Block Kit messages: the triage card of a ticket, an approval request
//! (with buttons while it is open, its outcome after), the resolution
//! check, and plain notices. Action ids are the contract with `inbound`.

use serde_json::{json, Value};

use crate::desk::{approvals::ApprovalView, chat::HomeView, views::TicketView};

/// Action ids of the buttons this module renders.
pub const TAKE: &str = "ticket_take";
pub const RESOLVE: &str = "ticket_resolve";
pub const ASSIGN: &str = "ticket_assign";
pub const PRIORITY: &str = "ticket_priority";
pub const ESCALATE: &str = "ticket_escalate";
pub const ACKNOWLEDGE: &str = "escalation_ack";
pub const APPROVE: &str = "approval_approve";
pub const REJECT: &str = "approval_reject";
pub const SOLVED_YES: &str = "resolution_yes";
pub const SOLVED_NO: &str = "resolution_no";
/// Callback ids of modals.
pub const CREATE_MODAL: &str = "ticket_create";
pub const REJECT_MODAL: &str = "approval_reject";

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

/// The card a team sees in its triage channel, updated in place.
pub fn card(ticket: &TicketView) -> Value {
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
    let open = !matches!(
        ticket.state.as_str(),
        "resolved" | "closed" | "cancelled" | "rejected"
    );
    if open {
        let mut actions = vec![button("Take", TAKE, &ticket.number, None)];
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
            "elements": [{ "type": "mrkdwn", "text": outcome(view) }],
        }));
    }
    json!({ "text": format!("Approval for {}: {}", view.ticket, view.status), "blocks": blocks })
}

/// "Approved by Ada Lovelace, 14:02 UTC" and the like.
pub fn outcome(view: &ApprovalView) -> String {
    let last = view
        .stages
        .iter()
        .flat_map(|s| s.decisions.iter())
        .max_by_key(|d| d.at);
    let verb = match view.status.as_str() {
        "approved" => "Approved",
        "rejected" => "Rejected",
        "cancelled" => "Cancelled",
        other => other,
    };
    match (last, view.status.as_str()) {
        (_, "cancelled") => "Cancelled with its ticket".into(),
        (Some(d), _)
            if view
                .reason
                .as_deref()
                .is_none_or(|r| r.starts_with("rejected by")) =>
        {
            format!(
                "{verb} by {}, {} UTC",
                escape(&d.approver.name),
                d.at.format("%H:%M")
            )
        }
        (_, _) => match &view.reason {
            Some(reason) => format!("{verb}: {}", escape(reason)),
            None => verb.to_string(),
        },
    }
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
pub fn create_modal() -> Value {
    json!({
        "type": "modal",
        "callback_id": CREATE_MODAL,
        "title": { "type": "plain_text", "text": "New ticket" },
        "submit": { "type": "plain_text", "text": "Create" },
        "blocks": [
            { "type": "input", "block_id": "title", "label": { "type": "plain_text", "text": "Title" },
              "element": { "type": "plain_text_input", "action_id": "value", "max_length": 200 } },
            { "type": "input", "block_id": "description", "optional": true, "label": { "type": "plain_text", "text": "Description" },
              "element": { "type": "plain_text_input", "action_id": "value", "multiline": true } },
            { "type": "input", "block_id": "urgency", "optional": true, "label": { "type": "plain_text", "text": "Urgency" },
              "element": { "type": "static_select", "action_id": "value", "options": [
                  { "text": { "type": "plain_text", "text": "High" }, "value": "high" },
                  { "text": { "type": "plain_text", "text": "Medium" }, "value": "medium" },
                  { "text": { "type": "plain_text", "text": "Low" }, "value": "low" } ] } },
        ],
    })
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
    json!({ "type": "home", "blocks": blocks })
}
