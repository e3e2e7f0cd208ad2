//! The interaction body read into twilight-model's types, the one place
//! Discord's wire format is parsed. A body twilight cannot read is a
//! client error, answered 400 by the endpoint: it never reaches the desk.

use twilight_model::application::interaction::Interaction;

/// Reads a (signature-checked) interaction body.
pub fn parse_interaction(body: &[u8]) -> Result<Interaction, String> {
    serde_json::from_slice(body).map_err(|error| format!("not a Discord interaction: {error}"))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use twilight_model::application::interaction::{
        modal::ModalInteractionComponent, InteractionData, InteractionType,
    };

    use super::*;

    fn base(kind: u8, data: Option<Value>) -> Value {
        let mut i = json!({
            "id": "1300000000000000001", "application_id": "1200000000000000001",
            "type": kind, "token": "aW50ZXJhY3Rpb24", "version": 1,
            "attachment_size_limit": 26214400, "authorizing_integration_owners": { "0": "1100000000000000001" },
            "entitlements": [], "app_permissions": "2248473465835073", "locale": "en-US",
            "guild_id": "1100000000000000001", "guild_locale": "en-US", "context": 0,
            "channel_id": "1000000000000000001",
            "channel": { "id": "1000000000000000001", "type": 0, "guild_id": "1100000000000000001", "name": "help" },
            "member": {
                "user": { "id": "1400000000000000001", "username": "ada", "global_name": "Ada", "discriminator": "0", "avatar": null },
                "roles": [], "joined_at": "2025-01-01T00:00:00.000000+00:00", "deaf": false, "mute": false,
                "flags": 0, "permissions": "2248473465835073", "nick": null
            }
        });
        if let Some(data) = data {
            i["data"] = data;
        }
        i
    }

    fn message() -> Value {
        json!({
            "id": "1600000000000000001", "channel_id": "1000000000000000001", "type": 0,
            "content": "INC-1 · printer on fire",
            "author": { "id": "1200000000000000001", "username": "switchboard", "discriminator": "0", "avatar": null, "bot": true },
            "attachments": [], "embeds": [{ "type": "rich", "title": "Answers", "fields": [{ "name": "size", "value": "L", "inline": false }] }],
            "mentions": [], "mention_roles": [], "mention_everyone": false, "pinned": false, "tts": false,
            "timestamp": "2026-12-07T08:00:00.000000+00:00", "edited_timestamp": null, "flags": 0, "components": []
        })
    }

    /// Real-format samples: PING, a slash command, a button click and the
    /// `/ticket` modal with its Label-wrapped urgency select (type 18).
    pub(crate) fn samples() -> Vec<Vec<u8>> {
        let mut ping = base(1, None);
        ping.as_object_mut().map(|o| o.remove("member"));
        let command = base(
            2,
            Some(
                json!({ "id": "1500000000000000001", "name": "ticket-status", "type": 1,
                "options": [{ "name": "number", "type": 3, "value": "INC-1" }] }),
            ),
        );
        let mut click = base(
            3,
            Some(json!({ "custom_id": "priority:INC-1", "component_type": 3, "values": ["high"] })),
        );
        click["message"] = message();
        let modal = base(
            5,
            Some(json!({ "custom_id": "ticket", "components": [
                { "type": 1, "id": 1, "components": [{ "type": 4, "id": 2, "custom_id": "title", "value": "Printer" }] },
                { "type": 18, "id": 3, "component": { "type": 3, "id": 4, "custom_id": "urgency", "values": ["high"] } }
            ] })),
        );
        [ping, command, click, modal]
            .iter()
            .map(|v| serde_json::to_vec(v).unwrap_or_default())
            .collect()
    }

    #[test]
    fn real_format_interactions_parse() {
        let parsed: Vec<Interaction> = samples()
            .iter()
            .map(|s| parse_interaction(s).expect("a real-format interaction"))
            .collect();
        assert_eq!(parsed[0].kind, InteractionType::Ping);
        assert_eq!(parsed[2].message.as_ref().map(|m| m.embeds.len()), Some(1));
        let Some(InteractionData::ModalSubmit(modal)) = &parsed[3].data else {
            panic!("the modal submit has no modal data");
        };
        assert!(matches!(
            &modal.components[1],
            ModalInteractionComponent::Label(label)
                if matches!(&*label.component, ModalInteractionComponent::StringSelect(s) if s.values == ["high"])
        ));
    }

    #[test]
    fn unreadable_bodies_are_refused_with_a_reason() {
        for body in [&b"{"[..], b"{}", br#"{"type":2,"id":"0"}"#, b"[]"] {
            let error = parse_interaction(body).expect_err("not an interaction");
            assert!(error.starts_with("not a Discord interaction"), "{error}");
        }
    }

    #[test]
    fn fuzz_discord_interactions() {
        let tokens: &[&[u8]] = &[
            b"\"type\": 18, ",
            b"\"type\": 5, ",
            b"\"id\": \"0\", ",
            b"\"id\": \"18446744073709551616\", ",
            b"\"component\": {}, ",
            b"\"components\": [{}], ",
            b"\"values\": [], ",
            b"\"data\": null, ",
        ];
        let samples = samples();
        let seeds: Vec<&[u8]> = samples.iter().map(Vec::as_slice).collect();
        crate::domain::fuzz::run(&seeds, tokens, |body| parse_interaction(body).is_ok());
    }
}
