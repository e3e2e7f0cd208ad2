//! Discord messages and modals: the triage card of a ticket (buttons and a
//! priority select while it is open), an approval request (buttons while
//! it is open, its outcome after), the resolution check, notices with an
//! Acknowledge button, and the modals of `/ticket`, Reject and catalog
//! forms. Custom ids (`action:value`) are the contract with `inbound`.

use serde_json::{json, Value};

use crate::{
    channels::common::{self, deliver::Markup},
    desk::{
        alerts::AlertBrief,
        approvals::ApprovalView,
        chat_reports::{report_file_action, ChatReportQueued, REPORT_FILE_FORMATS},
        views::TicketView,
    },
    domain::form::{FieldKind, FormField},
};

/// Custom-id actions of the components this module renders.
pub const TAKE: &str = "take";
pub const RESOLVE: &str = "resolve";
pub const ESCALATE: &str = "escalate";
pub const PRIORITY: &str = "priority";
pub const APPROVE: &str = "approve";
pub const REJECT: &str = "reject";
pub const ACKNOWLEDGE: &str = "ack";
/// On an alert's card: acknowledge, or silence the group for an hour; the
/// card is edited in answer.
pub const ALERT_ACK: &str = "alert_ack";
pub const SILENCE: &str = "silence";
pub const SOLVED_YES: &str = "solved_yes";
pub const SOLVED_NO: &str = "solved_no";
pub const RATE: &str = "rate";
/// Continues a catalog form in its next modal (`catalog_next:<item>:<step>`).
pub const CATALOG_NEXT: &str = "catalog_next";
/// Modal custom ids.
pub const TICKET_MODAL: &str = "ticket_modal";
pub const REJECT_MODAL: &str = "reject_modal";
pub const CATALOG_MODAL: &str = "catalog";

/// Longest title / description / reason accepted from a modal (Discord's
/// own limits on text inputs are 4000).
pub const TITLE_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 4000;
pub const REASON_MAX: usize = 1000;
/// Text inputs per modal (Discord's limit).
pub const FIELDS_PER_MODAL: usize = 5;
/// An embed field's value limit: answers carried between catalog steps.
pub const CARRIED_MAX: usize = 1024;

/// Message flag: only the person who used the command sees it.
pub const EPHEMERAL: u64 = 64;

/// Discord's markup for the delivery steps it shares with Slack.
pub const MARKUP: Markup = Markup {
    escape,
    bold: |text| format!("**{text}**"),
    text: |text| quiet(json!({ "content": cut(text, CONTENT_MAX) })),
    card,
    resolution_check,
    replies_go_to_the_ticket: "Replies here go to the ticket.",
};

/// Discord's limit on a message's content.
pub const CONTENT_MAX: usize = 2000;

/// Escapes Discord markdown so names and titles show as written.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '#' | '[' | ']'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Cuts text to `max` characters (Discord rejects longer labels and titles).
pub use crate::channels::common::cut;

fn button(label: &str, custom_id: String, style: u8) -> Value {
    json!({ "type": 2, "style": style, "label": label, "custom_id": custom_id })
}

fn row(components: Vec<Value>) -> Value {
    json!({ "type": 1, "components": components })
}

/// No pings from text we echo.
fn quiet(mut body: Value) -> Value {
    body["allowed_mentions"] = json!({ "parse": [] });
    body
}

fn is_open(state: &str) -> bool {
    !matches!(state, "resolved" | "closed" | "cancelled" | "rejected")
}

/// The embed fields of an incident's alerts.
fn alert_fields(brief: &AlertBrief) -> Vec<Value> {
    let mut status = format!("{} firing · {} resolved", brief.firing, brief.resolved);
    if let Some(at) = brief.acknowledged_at {
        status.push_str(&format!("\nacknowledged {} UTC", at.format("%H:%M")));
    }
    if let Some(until) = brief.silenced_until {
        status.push_str(&format!("\nsilenced until {} UTC", until.format("%H:%M")));
    }
    let mut fields = vec![json!({ "name": "Alerts", "value": status, "inline": false })];
    if !brief.labels.is_empty() {
        let labels: Vec<String> = brief
            .labels
            .iter()
            .map(|(k, v)| format!("`{}={}`", k.replace('`', "'"), v.replace('`', "'")))
            .collect();
        fields.push(
            json!({ "name": "Labels", "value": cut(&labels.join(" "), 1024), "inline": false }),
        );
    }
    let mut links = Vec::new();
    if let Some(url) = &brief.runbook {
        links.push(format!("[Runbook]({url})"));
    }
    if let Some(url) = &brief.source {
        links.push(format!("[Source]({url})"));
    }
    if !links.is_empty() {
        fields.push(
            json!({ "name": "Links", "value": cut(&links.join(" · "), 1024), "inline": false }),
        );
    }
    fields
}

/// The card a team sees in its triage channel, edited in place; an
/// incident opened by alerts shows them, with Acknowledge and Silence.
pub fn card(ticket: &TicketView, alerts: Option<&AlertBrief>) -> Value {
    let who = |p: &Option<crate::desk::views::PersonRef>| {
        p.as_ref()
            .map(|p| escape(&p.name))
            .unwrap_or_else(|| "—".into())
    };
    let colour = match ticket.priority.as_str() {
        "p1" => 0xd7_26_3d,
        "p2" => 0xf4_6d_43,
        "p3" => 0xfd_ae_61,
        _ => 0x74_ad_d1,
    };
    let mut embed = json!({
        "title": cut(&format!("{} · {}", ticket.number, ticket.title), 256),
        "description": cut(&escape(&ticket.description), 1000),
        "color": colour,
        "fields": [
            { "name": "State", "value": ticket.state, "inline": true },
            { "name": "Priority", "value": ticket.priority, "inline": true },
            { "name": "Assignee", "value": who(&ticket.assignee), "inline": true },
            { "name": "Requester", "value": who(&ticket.requester), "inline": true },
        ],
    });
    if let (Some(brief), Some(fields)) = (alerts, embed["fields"].as_array_mut()) {
        fields.extend(alert_fields(brief));
    }
    let mut components = Vec::new();
    if is_open(&ticket.state) {
        let n = &ticket.number;
        let mut buttons = vec![button("Take", format!("{TAKE}:{n}"), 1)];
        if ticket.allowed_transitions.iter().any(|s| s == "resolved") {
            buttons.push(button("Resolve", format!("{RESOLVE}:{n}"), 3));
        }
        buttons.push(button("Escalate", format!("{ESCALATE}:{n}"), 4));
        if let Some(brief) = alerts {
            if brief.acknowledged_at.is_none() {
                buttons.push(button("Acknowledge", format!("{ALERT_ACK}:{n}"), 2));
            }
            buttons.push(button("Silence 1 h", format!("{SILENCE}:{n}"), 2));
        }
        components.push(row(buttons));
        let option = |level: &str, label: &str| json!({ "label": label, "value": level, "default": ticket.urgency == level });
        components.push(row(vec![json!({
            "type": 3,
            "custom_id": format!("{PRIORITY}:{n}"),
            "placeholder": "Priority (sets the urgency)",
            "options": [
                option("high", "High urgency"),
                option("medium", "Medium urgency"),
                option("low", "Low urgency"),
            ],
        })]));
    }
    quiet(json!({
        "content": format!("{} [{}] {}", ticket.number, ticket.priority, ticket.state),
        "embeds": [embed],
        "components": components,
    }))
}

/// An approval request as one approver sees it: buttons while the stage is
/// open, the outcome ("Approved by …, 14:02 UTC") once decided.
pub fn approval(view: &ApprovalView) -> Value {
    let mut lines = vec![format!(
        "**Approval needed** for **{}** · {}\nPolicy: {}",
        view.ticket,
        escape(&view.ticket_title),
        escape(&view.policy)
    )];
    if let Some(requester) = &view.requester {
        lines.push(format!("Requested by {}", escape(&requester.name)));
    }
    if let Some(stage) = view.stages.get(view.stage) {
        lines.push(if stage.cab {
            format!(
                "CAB: {} of {} approvals, {} rejections",
                stage.approvals, stage.needed, stage.rejections
            )
        } else {
            format!("Stage: {}", escape(&stage.name))
        });
    }
    let components = if view.status == "pending" {
        vec![row(vec![
            button("Approve", format!("{APPROVE}:{}", view.id), 3),
            button("Reject", format!("{REJECT}:{}", view.id), 4),
        ])]
    } else {
        lines.push(format!("**{}**", common::outcome(view, str::to_owned)));
        Vec::new()
    };
    quiet(json!({ "content": cut(&lines.join("\n"), 2000), "components": components }))
}

/// "Is this solved?" with Yes / No, sent when a ticket is resolved.
pub fn resolution_check(ticket: &TicketView) -> Value {
    let n = &ticket.number;
    quiet(json!({
        "content": format!("**{n}** · {} was resolved. Is this solved?", escape(&ticket.title)),
        "components": [row(vec![
            button("Yes, close it", format!("{SOLVED_YES}:{n}"), 3),
            button("No, reopen", format!("{SOLVED_NO}:{n}"), 2),
        ])],
    }))
}

/// After "Yes, close it": closed, and an optional rating, 1–5.
pub fn rating_request(number: &str) -> Value {
    let buttons = (1..=5)
        .map(|n| button(&format!("{n} ★"), format!("{RATE}:{number}:{n}"), 2))
        .collect();
    json!({
        "content": format!("**{number}** is closed. How did we do? (optional)"),
        "components": [row(buttons)],
        "allowed_mentions": { "parse": [] },
    })
}

/// The rating message after a rating.
pub fn rated(number: &str, score: i64) -> Value {
    let n = score.clamp(0, 5) as usize;
    json!({
        "content": format!("**{number}** is closed. You rated it {}{} — thank you!", "★".repeat(n), "☆".repeat(5 - n)),
        "components": [],
        "allowed_mentions": { "parse": [] },
    })
}

/// A notice to a person; escalations and SLA alarms about a ticket carry an
/// Acknowledge button.
pub fn notice(subject: &str, text: &str, acknowledge: Option<&str>) -> Value {
    let mut body = json!({
        "content": cut(&format!("**{}**\n{}", escape(subject), escape(text)), 2000),
    });
    if let Some(number) = acknowledge {
        body["components"] = json!([row(vec![button(
            "Acknowledge",
            format!("{ACKNOWLEDGE}:{number}"),
            1
        )])]);
    }
    quiet(body)
}

/// An interaction answer only the person sees.
pub fn ephemeral(text: &str) -> Value {
    json!({ "type": 4, "data": { "content": cut(text, 2000), "flags": EPHEMERAL, "allowed_mentions": { "parse": [] } } })
}

fn text_input(
    custom_id: &str,
    label: &str,
    long: bool,
    max: usize,
    required: bool,
    placeholder: Option<&str>,
) -> Value {
    let mut input = json!({
        "type": 4,
        "custom_id": custom_id,
        "label": cut(label, 45),
        "style": if long { 2 } else { 1 },
        "max_length": max.clamp(1, 4000),
        "required": required,
    });
    if let Some(p) = placeholder.filter(|p| !p.is_empty()) {
        input["placeholder"] = json!(cut(p, 100));
    }
    row(vec![input])
}

fn modal(custom_id: &str, title: &str, inputs: Vec<Value>) -> Value {
    json!({ "type": 9, "data": { "custom_id": custom_id, "title": cut(title, 45), "components": inputs } })
}

/// The urgency of a new ticket, picked from a menu: a select in a modal
/// must sit in a Label (type 18), not an action row.
fn urgency_select() -> Value {
    let option = |value: &str, label: &str| json!({ "label": label, "value": value });
    json!({
        "type": 18,
        "label": "Urgency",
        "description": "How soon it needs fixing (the team decides if empty)",
        "component": {
            "type": 3,
            "custom_id": "urgency",
            "placeholder": "Pick an urgency",
            "required": false,
            "min_values": 0,
            "max_values": 1,
            "options": [
                option("high", "High: work is stopped"),
                option("medium", "Medium: work is slowed"),
                option("low", "Low: it can wait"),
            ],
        },
    })
}

/// The modal `/ticket` opens.
pub fn ticket_modal() -> Value {
    modal(
        TICKET_MODAL,
        "New ticket",
        vec![
            text_input("title", "Title", false, TITLE_MAX, true, None),
            text_input(
                "description",
                "Description",
                true,
                DESCRIPTION_MAX,
                false,
                None,
            ),
            urgency_select(),
        ],
    )
}

/// The modal a Reject click opens, asking for the reason.
pub fn reject_modal(approval: &str) -> Value {
    modal(
        &format!("{REJECT_MODAL}:{approval}"),
        "Reject",
        vec![text_input("reason", "Why?", true, REASON_MAX, true, None)],
    )
}

/// The longest answer a catalog field's text input accepts; `carried`
/// when the answer must travel to a later step in an embed field.
pub fn field_max(field: &FormField, carried: bool) -> usize {
    let max = match &field.kind {
        FieldKind::Text { max_length, .. } => {
            max_length.unwrap_or(crate::domain::form::MAX_TEXT_CHARS)
        }
        FieldKind::LongText { max_length } => {
            max_length.unwrap_or(crate::domain::form::MAX_LONG_TEXT_CHARS)
        }
        FieldKind::MultiChoice { .. } => 1000,
        _ => 200,
    };
    let max = max.min(4000);
    if carried {
        max.min(CARRIED_MAX)
    } else {
        max
    }
}

fn placeholder(field: &FormField) -> Option<String> {
    let options = |opts: &[crate::domain::form::FormOption], sep: &str| {
        let list: Vec<&str> = opts.iter().map(|o| o.value.as_str()).collect();
        format!("{sep}{}", list.join(", "))
    };
    match &field.kind {
        FieldKind::Choice { options: o } => Some(options(o, "one of: ")),
        FieldKind::MultiChoice { options: o, .. } => Some(options(o, "comma-separated: ")),
        FieldKind::Date { .. } => Some("YYYY-MM-DD".into()),
        FieldKind::Number { .. } => Some("a number".into()),
        FieldKind::Person => Some("email of the person".into()),
        FieldKind::ConfigurationItem { .. } => Some("id or external id".into()),
        _ => field.help.clone(),
    }
}

/// One step of a catalog item's form: up to five of its fields.
pub fn catalog_modal(item_id: &str, item_name: &str, fields: &[FormField], step: usize) -> Value {
    let steps = fields.len().div_ceil(FIELDS_PER_MODAL).max(1);
    let last = step + 1 >= steps;
    let inputs = fields
        .iter()
        .skip(step * FIELDS_PER_MODAL)
        .take(FIELDS_PER_MODAL)
        .map(|f| {
            text_input(
                &f.key,
                &f.label,
                matches!(f.kind, FieldKind::LongText { .. }),
                field_max(f, !last),
                f.required,
                placeholder(f).as_deref(),
            )
        })
        .collect();
    let title = if steps > 1 {
        format!("{} ({}/{steps})", item_name, step + 1)
    } else {
        item_name.to_string()
    };
    modal(&format!("{CATALOG_MODAL}:{item_id}:{step}"), &title, inputs)
}

/// Between two steps of a catalog form: the answers so far (carried in the
/// embed's fields to the next step) and a button to continue.
pub fn catalog_continue(
    item_id: &str,
    item_name: &str,
    answers: &[(String, String)],
    next_step: usize,
    steps: usize,
) -> Value {
    let fields: Vec<Value> = answers
        .iter()
        .map(|(k, v)| json!({ "name": k, "value": if v.is_empty() { "—".to_string() } else { cut(v, CARRIED_MAX) } }))
        .collect();
    json!({ "type": 4, "data": {
        "content": format!("{}: step {} of {steps} done.", escape(item_name), next_step),
        "flags": EPHEMERAL,
        "embeds": [{ "title": "Your answers so far", "fields": fields }],
        "components": [row(vec![button(
            &format!("Continue ({}/{steps})", next_step + 1),
            format!("{CATALOG_NEXT}:{item_id}:{next_step}"),
            1,
        )])],
        "allowed_mentions": { "parse": [] },
    } })
}

/// The answer to `/report`: what is being posted, and the file buttons.
pub fn report_queued(queued: &ChatReportQueued) -> Value {
    let buttons: Vec<Value> = REPORT_FILE_FORMATS
        .iter()
        .map(|(format, label)| button(label, report_file_action(queued.reference, *format), 2))
        .collect();
    let text = format!(
        "Posting the **{}** report to this channel. Want the files?",
        escape(&queued.title)
    );
    let mut answer = ephemeral(&text);
    answer["data"]["components"] = json!([{ "type": 1, "components": buttons }]);
    answer
}
