//! Where a ticket, comment or action came from.

use serde::{Deserialize, Serialize};

/// The channel through which something entered Switchboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Api,
    Web,
    Slack,
    Discord,
    Email,
    /// A monitoring alert, opened without a human in the loop.
    Alert,
    /// Switchboard itself, e.g. automatic closure of resolved tickets.
    System,
}

string_enum!(Channel, "channel", {
    Api => "api",
    Web => "web",
    Slack => "slack",
    Discord => "discord",
    Email => "email",
    Alert => "alert",
    System => "system",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roundtrip_and_match_serde() {
        for channel in Channel::ALL {
            assert_eq!(Channel::parse(channel.as_str()), Ok(channel));
            assert_eq!(channel.to_string(), channel.as_str());
            assert_eq!(
                serde_json::to_value(channel).ok(),
                Some(serde_json::Value::from(channel.as_str()))
            );
        }
    }

    #[test]
    fn parse_is_lenient_about_case_and_whitespace() {
        assert_eq!(Channel::parse(" Slack "), Ok(Channel::Slack));
    }

    #[test]
    fn unknown_channel_lists_alternatives() {
        let err = Channel::parse("fax").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "unknown channel `fax`; expected one of: \
                 api, web, slack, discord, email, alert, system"
            )
        );
    }
}
