//! Slash commands (`POST /slack/commands`, or Socket Mode
//! `slash_commands`): `/ticket` with text opens a ticket and without opens
//! the new-ticket modal; `/report` queues a report for the channel;
//! `/away`, `/time` and `/macro` are desk commands answered to the typer
//! only. The dedupe key is the command's `trigger_id`.

use super::{
    super::{
        payload::{self, Command},
        render, PLATFORM,
    },
    ephemeral, intake, refused, unreadable, Reply, Slack,
};
use crate::{
    desk::{
        chat::ticket_from_text,
        chat_commands::ChatCommand,
        chat_reports::{read_report_command, ChatReportQueued},
        identity::Contact,
        Outcome,
    },
    domain::{Channel, Kind},
};

impl Slack {
    /// `POST /slack/commands` (form-encoded).
    pub async fn command(&self, form: &[(String, String)], body: &[u8]) -> Reply {
        let Command { event, user_name } = match payload::parse_command(form) {
            Ok(command) => command,
            Err(error) => return unreadable(error),
        };
        let (command, text, user, team, trigger, channel) = (
            event.command.0.as_str(),
            event.text.as_deref().unwrap_or_default().trim(),
            event.user_id.0.as_str(),
            event.team_id.0.as_str(),
            event.trigger_id.0.as_str(),
            event.channel_id.0.as_str(),
        );
        if !matches!(
            command,
            "/ticket" | "/report" | "/away" | "/time" | "/macro"
        ) {
            tracing::debug!(command, "ignoring an unknown Slack command");
            return ephemeral(&format!(
                "I don't know {command}. Try /ticket, /report, /away, /time or /macro."
            ));
        }
        let org_id = match self.org_id(team).await {
            Ok(id) => id,
            Err(e) => return self.failed("a slash command", &e),
        };
        let contact = self.contact(org_id, team, user, user_name.as_deref());
        if command == "/report" {
            let key = format!("command:{trigger}");
            return self
                .report_command(contact, channel, text, &key, body)
                .await;
        }
        if matches!(command, "/away" | "/time" | "/macro") {
            let key = format!("command:{trigger}");
            // Slack's commands carry no thread: the ticket is named.
            let command = match command {
                "/away" => ChatCommand::Away(text.to_string()),
                "/time" => ChatCommand::Time {
                    text: text.to_string(),
                    thread: None,
                },
                _ => ChatCommand::Macro {
                    text: text.to_string(),
                    thread: None,
                },
            };
            return self.desk_command(contact, command, &key, body).await;
        }
        if text.is_empty() {
            self.open_create_view(contact, team, trigger);
            return Reply::Ack;
        }
        let input = ticket_from_text(Kind::Incident, text);
        let desk = self.desk.clone();
        let outcome = self
            .desk
            .run(
                Some(&intake(&format!("command:{trigger}"), body)),
                move |work| {
                    Box::pin(async move {
                        let actor = desk.chat_actor(work, &contact, Channel::Slack).await?;
                        desk.open_ticket(work, &actor, input).await
                    })
                },
            )
            .await;
        match outcome {
            Ok(Outcome::Done(ticket)) => ephemeral(&format!(
                "Opened *{}*: {}. I'll message you about it.",
                ticket.number,
                render::escape(&ticket.title)
            )),
            Ok(Outcome::Replayed { body, .. }) => ephemeral(&format!(
                "Opened *{}*.",
                body["number"].as_str().unwrap_or_default()
            )),
            Err(e) if refused(&e) => ephemeral(&format!("I could not open that ticket: {e}")),
            Err(e) => self.failed("a slash command", &e),
        }
    }

    /// A desk command (`/away`): one use case, answered to the typer only.
    async fn desk_command(
        &self,
        contact: Contact,
        command: ChatCommand,
        key: &str,
        body: &[u8],
    ) -> Reply {
        let desk = self.desk.clone();
        let outcome = self
            .desk
            .run(Some(&intake(key, body)), move |work| {
                Box::pin(async move {
                    let actor = desk.chat_actor(work, &contact, Channel::Slack).await?;
                    desk.chat_command(work, &actor, &command).await
                })
            })
            .await;
        match outcome {
            Ok(Outcome::Done(answer)) => ephemeral(&answer),
            Ok(Outcome::Replayed { body, .. }) => ephemeral(body.as_str().unwrap_or("Done.")),
            Err(e) if refused(&e) => ephemeral(&e.to_string()),
            Err(e) => self.failed("a slash command", &e),
        }
    }

    /// `/report …`: the report's summary and chart go to the channel; the
    /// asker gets the file buttons.
    async fn report_command(
        &self,
        contact: Contact,
        channel: &str,
        text: &str,
        key: &str,
        body: &[u8],
    ) -> Reply {
        let command = match read_report_command(text) {
            Ok(command) => command,
            Err(help) => return ephemeral(&help),
        };
        let (desk, channel) = (self.desk.clone(), channel.to_string());
        let outcome = self
            .desk
            .run(Some(&intake(key, body)), move |work| {
                Box::pin(async move {
                    let actor = desk.chat_actor(work, &contact, Channel::Slack).await?;
                    desk.report_to_chat(work, &actor, PLATFORM, &channel, &command)
                        .await
                })
            })
            .await;
        match outcome {
            Ok(Outcome::Done(queued)) => Reply::Json(render::report_queued(&queued)),
            Ok(Outcome::Replayed { body, .. }) => {
                match serde_json::from_value::<ChatReportQueued>(body) {
                    Ok(queued) => Reply::Json(render::report_queued(&queued)),
                    Err(_) => Reply::Ack,
                }
            }
            Err(e) if refused(&e) => ephemeral(&format!("I could not run that report: {e}")),
            Err(e) => self.failed("a slash command", &e),
        }
    }
}
