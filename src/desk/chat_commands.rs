//! The desk-operation commands of chat, the same on Slack and Discord:
//! `/away …` (an absence in the typer's time zone) and `/time …` (time
//! logged on a ticket, named first or — on Discord — the ticket whose
//! thread it is typed in). Each runs one use case
//! as the person who typed it and answers a line of plain text, which the
//! platform shows only to them.

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::{
    availability::{AbsenceView, AwayOutcome},
    tickets::LogTime,
    Actor, Desk, DeskError, Work,
};
use crate::domain::{
    worklog::{format_minutes, parse_duration},
    TicketNumber,
};

/// A command typed in chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChatCommand {
    /// `/away until friday`, `/away back`.
    Away(String),
    /// `/time INC0000042 30m note`; `thread`: the chat thread it was typed
    /// in (platform, thread id), whose ticket is meant when none is named.
    Time {
        text: String,
        thread: Option<(String, String)>,
    },
}

/// How to use `/time`.
pub const TIME_HELP: &str = "Try `/time INC0000042 30m checked the switch` \
     (or, in a ticket's thread, `/time 1h30m`). Durations: 30m, 1h, 1h30m, 1.5h, 90.";

impl Desk {
    /// Runs a chat command; the answer is what the typer reads.
    pub async fn chat_command(
        &self,
        work: &mut Work,
        actor: &Actor,
        command: &ChatCommand,
    ) -> Result<String, DeskError> {
        match command {
            ChatCommand::Away(text) => {
                let outcome = self.away_from_chat(work, actor, text).await?;
                Ok(away_answer(&outcome))
            }
            ChatCommand::Time { text, thread } => {
                let mut words: Vec<&str> = text.split_whitespace().collect();
                let named = words
                    .first()
                    .filter(|w| TicketNumber::parse(w).is_ok())
                    .map(|w| w.to_uppercase());
                if named.is_some() {
                    words.remove(0);
                }
                let number = match (named, thread) {
                    (Some(number), _) => number,
                    (None, Some((platform, thread))) => {
                        self.thread_ticket(work, actor, platform, thread).await?
                    }
                    (None, None) => return Err(DeskError::invalid("ticket", TIME_HELP)),
                };
                // The duration is the first word or two ("1h 30m", "2 hours").
                let (minutes, rest) = match words.get(..2).map(|w| parse_duration(&w.join(" "))) {
                    Some(Ok(minutes)) => (minutes, &words[2..]),
                    _ => match words.first().map(|w| parse_duration(w)) {
                        Some(Ok(minutes)) => (minutes, &words[1..]),
                        Some(Err(e)) => {
                            return Err(DeskError::invalid("minutes", format!("{e}. {TIME_HELP}")))
                        }
                        None => return Err(DeskError::invalid("minutes", TIME_HELP)),
                    },
                };
                let input = LogTime {
                    minutes,
                    note: rest.join(" "),
                    ..LogTime::default()
                };
                let logged = self.log_time(work, actor, &number, input).await?;
                Ok(format!(
                    "Logged {} on {}.",
                    format_minutes(logged.entry.minutes),
                    logged.ticket.number
                ))
            }
        }
    }

    /// The ticket whose chat thread `thread` is.
    async fn thread_ticket(
        &self,
        work: &mut Work,
        actor: &Actor,
        platform: &str,
        thread: &str,
    ) -> Result<String, DeskError> {
        let root = crate::store::chat::find_by_ts_only(&self.db, platform, thread)
            .await?
            .filter(|r| r.org_id == actor.org_id);
        let ticket = match root.and_then(|r| r.ticket_id) {
            Some(id) => crate::store::tickets::find_ticket(&mut work.tx, actor.org_id, id).await?,
            None => None,
        };
        ticket
            .map(|t| t.number)
            .ok_or_else(|| DeskError::invalid("ticket", TIME_HELP))
    }
}

fn away_answer(outcome: &AwayOutcome) -> String {
    match outcome {
        AwayOutcome::Away(AbsenceView { ends_at, note, .. }, tz) => {
            let tz: Tz = tz.parse().unwrap_or(chrono_tz::UTC);
            let until = ends_at.with_timezone(&tz).format("%a %-d %b %Y %H:%M");
            let note = if note.is_empty() {
                String::new()
            } else {
                format!(" ({note})")
            };
            format!(
                "You are away until {until} ({tz}){note}. New tickets go to your teammates; \
                 `/away back` ends it early."
            )
        }
        AwayOutcome::Back { ended: 0 } => "You were not away.".into(),
        AwayOutcome::Back { .. } => "Welcome back: you get new tickets again.".into(),
    }
}
