//! What Slack posts, read into slack-morphism's models: the one place the
//! wire format of events, interactions and slash commands is parsed. The
//! handlers in `inbound` then match on typed variants instead of indexing
//! JSON. A signed body that does not read is a client error, answered 400
//! by the endpoint: it never reaches the desk.
//!
//! slack-morphism 2.31 leaves out a few fields we act on; each wrapper
//! below carries those beside the model, read from the same body by a
//! small serde struct of ours, and says which field and why.

use serde::Deserialize;
use slack_morphism::events::{SlackCommandEvent, SlackInteractionEvent, SlackPushEvent};

/// An Events API body.
#[derive(Debug)]
pub struct Event {
    pub push: SlackPushEvent,
    pub extra: EventExtra,
}

/// Fields of an event callback's `event` that slack-morphism does not model.
#[derive(Debug, Default, Deserialize)]
pub struct EventExtra {
    /// `app_mention` has no sender in slack-morphism, but a bot's mention
    /// carries `bot_id`: bots are not taken in.
    pub bot_id: Option<String>,
    /// `message_changed` / `message_deleted`: slack-morphism's edited message
    /// has no `thread_ts`, and only edits in a ticket's thread are news.
    pub message: Option<ThreadOf>,
    pub previous_message: Option<ThreadOf>,
    /// A shared file's `mode` and `size` (slack-morphism's `SlackFile` has
    /// neither): external, deleted or oversize files are refused before
    /// download. In the order of the event's `files`.
    pub files: Option<Vec<FileExtra>>,
}

/// The thread of an edited or deleted message.
#[derive(Debug, Default, Deserialize)]
pub struct ThreadOf {
    pub thread_ts: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct FileExtra {
    pub mode: Option<String>,
    pub size: Option<u64>,
}

#[derive(Deserialize)]
struct EnvelopeExtra {
    event: Option<EventExtra>,
}

/// Reads a (signature-checked) Events API body. An event type
/// slack-morphism does not model, or a known one of another shape, reads
/// as `SlackEventCallbackBody::Unknown` (ignored by the handler); only a
/// body that is not an envelope at all is refused.
pub fn parse_event(body: &[u8]) -> Result<Event, String> {
    let push = serde_json::from_slice::<SlackPushEvent>(body)
        .map_err(|error| format!("not a Slack event: {error}"))?;
    // Lenient: what slack-morphism read is not refused over a field of ours.
    let extra = match &push {
        SlackPushEvent::EventCallback(_) => serde_json::from_slice::<EnvelopeExtra>(body)
            .ok()
            .and_then(|envelope| envelope.event)
            .unwrap_or_default(),
        _ => EventExtra::default(),
    };
    Ok(Event { push, extra })
}

/// An interaction payload (`payload=<json>` of `/slack/interactions`).
#[derive(Debug)]
pub struct Interaction {
    pub event: SlackInteractionEvent,
    /// The first action's `selected_user` (a `users_select` pick, the
    /// assignee menu): slack-morphism's action info has no such field.
    pub selected_user: Option<String>,
}

#[derive(Deserialize)]
struct InteractionExtra {
    actions: Option<Vec<ActionExtra>>,
}

#[derive(Deserialize)]
struct ActionExtra {
    selected_user: Option<String>,
}

/// Reads the JSON of an interaction payload.
pub fn parse_interaction(payload: &str) -> Result<Interaction, String> {
    let event = serde_json::from_str::<SlackInteractionEvent>(payload)
        .map_err(|error| format!("not a Slack interaction: {error}"))?;
    let selected_user = serde_json::from_str::<InteractionExtra>(payload)
        .ok()
        .and_then(|extra| extra.actions)
        .and_then(|actions| actions.into_iter().next())
        .and_then(|action| action.selected_user);
    Ok(Interaction {
        event,
        selected_user,
    })
}

/// A slash command's form.
#[derive(Debug)]
pub struct Command {
    pub event: SlackCommandEvent,
    /// The typer's name, shown until `users.info` answers: slack-morphism's
    /// command event has no `user_name`.
    pub user_name: Option<String>,
}

/// Reads a slash command's fields (the form of `/slack/commands`, or a
/// Socket Mode payload's fields). A repeated field counts once, as first
/// given.
pub fn parse_command(form: &[(String, String)]) -> Result<Command, String> {
    let mut fields = serde_json::Map::new();
    for (name, value) in form {
        fields
            .entry(name.clone())
            .or_insert_with(|| serde_json::Value::String(value.clone()));
    }
    let user_name = fields
        .get("user_name")
        .and_then(|v| v.as_str())
        .map(String::from);
    let event = serde_json::from_value::<SlackCommandEvent>(serde_json::Value::Object(fields))
        .map_err(|error| format!("not a Slack command: {error}"))?;
    Ok(Command { event, user_name })
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use slack_morphism::events::{SlackEventCallbackBody, SlackMessageEventType};
    use slack_morphism::SlackReactionsItem;

    use super::*;

    fn envelope(event_id: &str, event: Value) -> Value {
        json!({
            "token": "unused", "team_id": "T0TEST", "api_app_id": "A0TEST", "type": "event_callback",
            "event_id": event_id, "event_time": 1700000000, "event_context": "4-eyJldCI6Im1lc3NhZ2UifQ",
            "authorizations": [{ "enterprise_id": null, "team_id": "T0TEST", "user_id": "U0BOT",
                                 "is_bot": true, "is_enterprise_install": false }],
            "event": event,
        })
    }

    /// Real-format Events API bodies: the URL check, a direct message, a
    /// thread reply with files, a mention, an edit, a deletion, a reaction
    /// and a visit of the home tab.
    pub(crate) fn event_samples() -> Vec<Vec<u8>> {
        let file = |id: &str, name: &str, size: u64| {
            json!({ "id": id, "created": 1700000030, "timestamp": 1700000030, "name": name, "title": name,
                    "mimetype": "text/plain", "filetype": "text", "pretty_type": "Plain Text", "user": "UFILE",
                    "user_team": "T0TEST", "editable": true, "size": size, "mode": "hosted",
                    "is_external": false, "external_type": "", "is_public": false, "public_url_shared": false,
                    "display_as_bot": false, "username": "",
                    "url_private": format!("https://files.slack.com/files-pri/T0TEST-{id}/{name}"),
                    "url_private_download": format!("https://files.slack.com/files-pri/T0TEST-{id}/download/{name}"),
                    "permalink": format!("https://test.slack.com/files/UFILE/{id}/{name}") })
        };
        let samples = [
            json!({ "token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification" }),
            envelope(
                "Ev01",
                json!({
                "type": "message", "client_msg_id": "6e5a1f2c-1d7b-4b1e-9d3a-0c2f1e0a9b11", "text": "The VPN is down",
                "user": "U1", "ts": "1700000001.000100", "team": "T0TEST", "channel": "DU1", "event_ts": "1700000001.000100",
                "channel_type": "im",
                "blocks": [{ "type": "rich_text", "block_id": "Xr2", "elements": [{ "type": "rich_text_section",
                             "elements": [{ "type": "text", "text": "The VPN is down" }] }] }] }),
            ),
            envelope(
                "Ev02",
                json!({
                "type": "message", "subtype": "file_share", "text": "Here are the logs", "user": "UFILE",
                "upload": false, "display_as_bot": false, "ts": "1700000030.000200", "thread_ts": "1700000030.000100",
                "channel": "DUFILE", "channel_type": "im", "event_ts": "1700000030.000200",
                "files": [file("F1", "log.txt", 23), file("F2", "big.bin", 2000),
                          { "id": "F3", "mode": "tombstone" }] }),
            ),
            envelope(
                "Ev03",
                json!({
                "type": "app_mention", "user": "U2", "text": "<@U0BOT> printer on fire", "ts": "1700000002.000100",
                "team": "T0TEST", "channel": "CHELP", "event_ts": "1700000002.000100" }),
            ),
            envelope(
                "Ev04",
                json!({
                "type": "message", "subtype": "message_changed", "hidden": true, "channel": "DUED",
                "channel_type": "im", "ts": "1700000020.000300", "event_ts": "1700000020.000300",
                "message": { "type": "message", "user": "UED", "text": "It is the one in room 14",
                             "ts": "1700000020.000200", "thread_ts": "1700000020.000100",
                             "edited": { "user": "UED", "ts": "1700000020.000300" } },
                "previous_message": { "type": "message", "user": "UED", "text": "It is the one in room 12",
                                      "ts": "1700000020.000200", "thread_ts": "1700000020.000100" } }),
            ),
            envelope(
                "Ev05",
                json!({
                "type": "message", "subtype": "message_deleted", "hidden": true, "channel": "DUED",
                "channel_type": "im", "ts": "1700000020.000400", "deleted_ts": "1700000020.000200",
                "event_ts": "1700000020.000400",
                "previous_message": { "type": "message", "user": "UED", "text": "It is the one in room 14",
                                      "ts": "1700000020.000200", "thread_ts": "1700000020.000100" } }),
            ),
            envelope(
                "Ev06",
                json!({
                "type": "reaction_added", "user": "UREACT", "reaction": "ticket", "item_user": "UAUTHOR",
                "item": { "type": "message", "channel": "CGENERAL", "ts": "1700000010.000100" },
                "event_ts": "1700000010.000200" }),
            ),
            envelope(
                "Ev07",
                json!({
                "type": "app_home_opened", "user": "UAL", "channel": "DUAL", "tab": "home",
                "event_ts": "1700000050.100000" }),
            ),
        ];
        samples
            .iter()
            .map(|v| serde_json::to_vec(v).unwrap_or_default())
            .collect()
    }

    fn modal_view(callback: &str, metadata: &str, values: Value) -> Value {
        json!({
            "id": "V0MODAL", "team_id": "T0TEST", "type": "modal", "blocks": [
                { "type": "input", "block_id": "title", "label": { "type": "plain_text", "text": "Title" },
                  "element": { "type": "plain_text_input", "action_id": "value" } }],
            "private_metadata": metadata, "callback_id": callback,
            "state": { "values": values }, "hash": "1700000000.abc123",
            "title": { "type": "plain_text", "text": "New ticket", "emoji": true },
            "clear_on_close": false, "notify_on_close": false, "close": null,
            "submit": { "type": "plain_text", "text": "Open", "emoji": true },
            "previous_view_id": null, "root_view_id": "V0MODAL", "app_id": "A0TEST",
            "external_id": "", "app_installed_team_id": "T0TEST", "bot_id": "B0BOT"
        })
    }

    /// Real-format interaction payloads: a button click on a card, the
    /// assignee menu, the catalog pick inside a modal, a modal submission,
    /// the "Create ticket" message shortcut and the global shortcut.
    pub(crate) fn interaction_samples() -> Vec<String> {
        let user = json!({ "id": "UAL", "username": "al", "name": "al", "team_id": "T0TEST" });
        let team = json!({ "id": "T0TEST", "domain": "test" });
        let message_container = json!({ "type": "message", "message_ts": "1700000040.000100",
                                        "channel_id": "CTRIAGE", "is_ephemeral": false });
        let samples = [
            json!({
                "type": "block_actions", "user": user, "api_app_id": "A0TEST", "token": "unused",
                "container": message_container, "trigger_id": "123.456.abc", "team": team,
                "enterprise": null, "is_enterprise_install": false,
                "channel": { "id": "CTRIAGE", "name": "triage" },
                "message": { "type": "message", "user": "U0BOT", "ts": "1700000040.000100", "bot_id": "B0BOT",
                             "app_id": "A0TEST", "text": "INC0000001 · VPN down", "team": "T0TEST",
                             "blocks": [{ "type": "section", "block_id": "head",
                                          "text": { "type": "mrkdwn", "text": "*INC0000001*", "verbatim": false } }] },
                "state": { "values": {} },
                "response_url": "https://hooks.slack.com/actions/T0TEST/1/abc",
                "actions": [{ "action_id": "ticket_take", "block_id": "ticket:INC0000001",
                              "text": { "type": "plain_text", "text": "Take", "emoji": true },
                              "value": "INC0000001", "type": "button", "action_ts": "1700000041.000100" }]
            }),
            json!({
                "type": "block_actions", "user": user, "api_app_id": "A0TEST", "container": message_container,
                "trigger_id": "123.456.def", "team": team, "channel": { "id": "CTRIAGE", "name": "triage" },
                "response_url": "https://hooks.slack.com/actions/T0TEST/2/def",
                "actions": [{ "type": "users_select", "action_id": "ticket_assign", "block_id": "ticket:INC0000001",
                              "selected_user": "UBEA", "action_ts": "1700000042.000100" }]
            }),
            json!({
                "type": "block_actions", "user": user, "api_app_id": "A0TEST", "trigger_id": "123.456.ghi",
                "team": team, "container": { "type": "view", "view_id": "V0MODAL" },
                "view": modal_view("ticket_create", "", json!({})),
                "actions": [{ "type": "static_select", "action_id": "catalog_pick", "block_id": "catalog",
                              "selected_option": { "text": { "type": "plain_text", "text": "New laptop", "emoji": true },
                                                   "value": "0b7d5f8e-3c1a-4f3e-9a57-6f0a1c2d3e4f" },
                              "placeholder": { "type": "plain_text", "text": "Pick", "emoji": true },
                              "action_ts": "1700000043.000100" }]
            }),
            json!({
                "type": "view_submission", "team": team, "user": user, "api_app_id": "A0TEST",
                "token": "unused", "trigger_id": "123.456.jkl",
                "view": modal_view("ticket_create", "", json!({
                    "title": { "value": { "type": "plain_text_input", "value": "Printer jams" } },
                    "description": { "value": { "type": "plain_text_input", "value": null } },
                    "urgency": { "value": { "type": "static_select", "selected_option": {
                        "text": { "type": "plain_text", "text": "High", "emoji": true }, "value": "high" } } },
                    "needed_by": { "value": { "type": "datepicker", "selected_date": "2026-12-24" } },
                    "extras": { "value": { "type": "multi_static_select", "selected_options": [
                        { "text": { "type": "plain_text", "text": "Dock", "emoji": true }, "value": "dock" }] } }
                })),
                "response_urls": [], "is_enterprise_install": false, "enterprise": null
            }),
            json!({
                "type": "message_action", "token": "unused", "action_ts": "1700000044.000100", "team": team,
                "user": user, "channel": { "id": "CGENERAL", "name": "general" }, "is_enterprise_install": false,
                "enterprise": null, "callback_id": "create_ticket", "trigger_id": "123.456.mno",
                "response_url": "https://hooks.slack.com/app/T0TEST/3/mno",
                "message_ts": "1700000010.000100",
                "message": { "client_msg_id": "6e5a1f2c", "type": "message", "text": "The printer is on fire",
                             "user": "UAUTHOR", "ts": "1700000010.000100", "team": "T0TEST" }
            }),
            json!({
                "type": "shortcut", "token": "unused", "action_ts": "1700000045.000100", "team": team,
                "user": user, "is_enterprise_install": false, "enterprise": null,
                "callback_id": "new_ticket", "trigger_id": "123.456.pqr"
            }),
        ];
        samples.iter().map(Value::to_string).collect()
    }

    /// A slash command's form, as Slack posts it.
    pub(crate) fn command_sample() -> Vec<(String, String)> {
        [
            ("token", "unused"),
            ("team_id", "T0TEST"),
            ("team_domain", "test"),
            ("channel_id", "C1"),
            ("channel_name", "helpdesk"),
            ("user_id", "UCMD"),
            ("user_name", "casey"),
            ("command", "/ticket"),
            ("text", "Laptop will not boot"),
            ("api_app_id", "A0TEST"),
            ("is_enterprise_install", "false"),
            (
                "response_url",
                "https://hooks.slack.com/commands/T0TEST/4/xyz",
            ),
            ("trigger_id", "123.456.stu"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn real_format_events_parse() {
        let parsed: Vec<Event> = event_samples()
            .iter()
            .map(|s| parse_event(s).expect("a real-format event"))
            .collect();
        assert!(
            matches!(&parsed[0].push, SlackPushEvent::UrlVerification(v) if v.challenge.starts_with("3eZb"))
        );
        let body = |i: usize| match &parsed[i].push {
            SlackPushEvent::EventCallback(callback) => &callback.event,
            other => panic!("not a callback: {other:?}"),
        };
        assert!(
            matches!(body(1), SlackEventCallbackBody::Message(m) if m.origin.channel_type.as_ref().map(|t| t.0.as_str()) == Some("im"))
        );
        let SlackEventCallbackBody::Message(share) = body(2) else {
            panic!("a file share is a message");
        };
        assert_eq!(share.subtype, Some(SlackMessageEventType::FileShare));
        let files = share.content.as_ref().and_then(|c| c.files.as_ref());
        assert_eq!(files.map(Vec::len), Some(3));
        let extras = parsed[2].extra.files.as_ref().expect("file extras");
        assert_eq!(extras[1].size, Some(2000));
        assert_eq!(extras[2].mode.as_deref(), Some("tombstone"));
        assert!(matches!(body(3), SlackEventCallbackBody::AppMention(m) if m.user.0 == "U2"));
        assert!(parsed[3].extra.bot_id.is_none());
        let SlackEventCallbackBody::Message(edit) = body(4) else {
            panic!("an edit is a message");
        };
        assert_eq!(edit.subtype, Some(SlackMessageEventType::MessageChanged));
        assert_eq!(
            parsed[4]
                .extra
                .message
                .as_ref()
                .and_then(|m| m.thread_ts.as_deref()),
            Some("1700000020.000100")
        );
        assert!(matches!(body(5), SlackEventCallbackBody::Message(m) if m.deleted_ts.is_some()));
        let SlackEventCallbackBody::ReactionAdded(reaction) = body(6) else {
            panic!("a reaction");
        };
        assert!(
            matches!(&reaction.item, SlackReactionsItem::Message(m) if m.origin.ts.0 == "1700000010.000100")
        );
        assert!(
            matches!(body(7), SlackEventCallbackBody::AppHomeOpened(h) if h.tab.as_deref() == Some("home"))
        );
    }

    #[test]
    fn events_slack_morphism_does_not_model_are_unknown_not_refused() {
        let body = envelope(
            "Ev09",
            json!({ "type": "pin_added", "user": "U1", "channel_id": "C1", "event_ts": "1.2" }),
        );
        let event = parse_event(body.to_string().as_bytes()).expect("an envelope");
        assert!(matches!(
            event.push,
            SlackPushEvent::EventCallback(c) if matches!(c.event, SlackEventCallbackBody::Unknown(_))
        ));
    }

    #[test]
    fn real_format_interactions_parse() {
        let parsed: Vec<Interaction> = interaction_samples()
            .iter()
            .map(|s| parse_interaction(s).expect("a real-format interaction"))
            .collect();
        let SlackInteractionEvent::BlockActions(click) = &parsed[0].event else {
            panic!("a click");
        };
        let action = &click.actions.as_ref().expect("actions")[0];
        assert_eq!(action.action_id.0, "ticket_take");
        assert_eq!(action.value.as_deref(), Some("INC0000001"));
        assert!(click.response_url.is_some());
        assert_eq!(parsed[1].selected_user.as_deref(), Some("UBEA"));
        assert!(parsed[0].selected_user.is_none());
        assert!(
            matches!(&parsed[2].event, SlackInteractionEvent::BlockActions(b) if b.view.is_some())
        );
        let SlackInteractionEvent::ViewSubmission(submission) = &parsed[3].event else {
            panic!("a submission");
        };
        let state = submission.view.state_params.state.as_ref().expect("state");
        assert_eq!(state.values.len(), 5);
        assert!(matches!(
            &parsed[4].event,
            SlackInteractionEvent::MessageAction(m)
                if m.message.as_ref().and_then(|m| m.content.text.as_deref()) == Some("The printer is on fire")
        ));
        assert!(matches!(
            &parsed[5].event,
            SlackInteractionEvent::Shortcut(_)
        ));
    }

    #[test]
    fn real_format_commands_parse() {
        let command = parse_command(&command_sample()).expect("a real-format command");
        assert_eq!(command.event.command.0, "/ticket");
        assert_eq!(command.event.text.as_deref(), Some("Laptop will not boot"));
        assert_eq!(command.user_name.as_deref(), Some("casey"));
    }

    #[test]
    fn unreadable_bodies_are_refused_with_a_reason() {
        for body in [
            &b"{"[..],
            b"{}",
            b"[]",
            br#"{"type":"event_callback","team_id":"T1"}"#,
        ] {
            let error = parse_event(body).expect_err("not an event");
            assert!(error.starts_with("not a Slack event"), "{error}");
        }
        for payload in [
            "{",
            r#"{"type":"block_actions"}"#,
            r#"{"type":"view_submission","team":{"id":"T"},"user":{"id":"U"}}"#,
        ] {
            let error = parse_interaction(payload).expect_err("not an interaction");
            assert!(error.starts_with("not a Slack interaction"), "{error}");
        }
        let mut form = command_sample();
        form.retain(|(k, _)| k != "trigger_id");
        let error = parse_command(&form).expect_err("no trigger");
        assert!(error.starts_with("not a Slack command"), "{error}");
    }

    #[test]
    fn fuzz_slack_payloads() {
        let tokens: &[&[u8]] = &[
            b"\"type\": \"message\", ",
            b"\"type\": \"event_callback\", ",
            b"\"type\": \"block_actions\", ",
            b"\"type\": \"view_submission\", ",
            b"\"subtype\": \"message_changed\", ",
            b"\"files\": [{}], ",
            b"\"actions\": [], ",
            b"\"state\": {\"values\": {\"b\": {\"a\": {}}}}, ",
            b"\"view\": null, ",
            b"\"ts\": 1.5, ",
        ];
        let mut seeds: Vec<Vec<u8>> = event_samples();
        seeds.extend(interaction_samples().into_iter().map(String::into_bytes));
        seeds.push(
            serde_urlencoded::to_string(command_sample())
                .unwrap_or_default()
                .into_bytes(),
        );
        let seeds: Vec<&[u8]> = seeds.iter().map(Vec::as_slice).collect();
        // Each input is read the way the edge would read it: as an event,
        // as an interaction payload, and as a command form.
        crate::domain::fuzz::run(&seeds, tokens, |input| {
            let event = parse_event(input).is_ok();
            let interaction = std::str::from_utf8(input)
                .map(|s| parse_interaction(s).is_ok())
                .unwrap_or(false);
            let command = serde_urlencoded::from_bytes::<Vec<(String, String)>>(input)
                .map(|form| parse_command(&form).is_ok())
                .unwrap_or(false);
            event || interaction || command
        });
    }
}
