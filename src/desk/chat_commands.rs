//! The desk-operation commands of chat, the same on Slack and Discord:
//! `/away …` (an absence in the typer's time zone), `/time …` (time
//! logged on a ticket) and `/macro …` (a macro applied to a ticket). The
//! ticket is named first or — on Discord — is the one whose thread the
//! command is typed in. Each runs one use case as the person who typed it
//! and answers a line of plain text, which the platform shows only to
//! them.

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::{
    availability::{AbsenceView, AwayOutcome},
    macros::MacroApplied,
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
    /// `/macro INC0000042 VPN reset`; on Discord in a ticket's thread the
    /// ticket may be left out. No macro name: the macros the ticket takes.
    Macro {
        text: String,
        thread: Option<(String, String)>,
    },
}

/// How to use `/time`.
pub const TIME_HELP: &str = "Try `/time INC0000042 30m checked the switch` \
     (or, in a ticket's thread, `/time 1h30m`). Durations: 30m, 1h, 1h30m, 1.5h, 90.";

/// How to use `/macro`.
pub const MACRO_HELP: &str = "Try `/macro INC0000042 VPN reset` (or, in a ticket's thread, \
     `/macro VPN reset`); `/macro INC0000042` lists the macros that ticket takes.";

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
                let (number, words) = self
                    .command_ticket(work, actor, text, thread.as_ref(), TIME_HELP)
                    .await?;
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
            ChatCommand::Macro { text, thread } => {
                let (number, words) = self
                    .command_ticket(work, actor, text, thread.as_ref(), MACRO_HELP)
                    .await?;
                if words.is_empty() {
                    return self.macros_for(work, actor, &number).await;
                }
                let applied = self
                    .apply_macro(work, actor, &number, &words.join(" "))
                    .await?;
                Ok(applied_answer(&applied))
            }
        }
    }

    /// The ticket a command means — named as its first word, or the one
    /// whose thread it was typed in — and the words after it.
    async fn command_ticket<'t>(
        &self,
        work: &mut Work,
        actor: &Actor,
        text: &'t str,
        thread: Option<&(String, String)>,
        help: &str,
    ) -> Result<(String, Vec<&'t str>), DeskError> {
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
                self.thread_ticket(work, actor, platform, thread, help)
                    .await?
            }
            (None, None) => return Err(DeskError::invalid("ticket", help)),
        };
        Ok((number, words))
    }

    /// The names of the macros a ticket takes, as a line to read.
    async fn macros_for(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
    ) -> Result<String, DeskError> {
        let ticket = crate::desk::tickets::lock_visible(&mut work.tx, actor, number).await?;
        let team = ticket.team_id.map(|t| t.to_string());
        let macros = self.list_macros(actor, team.as_deref()).await?;
        if macros.is_empty() {
            return Ok(format!("No macros apply to {}.", ticket.number));
        }
        let names: Vec<String> = macros.iter().map(|m| format!("`{}`", m.name)).collect();
        Ok(format!(
            "Macros for {}: {}. Apply one with `/macro {} <name>`.",
            ticket.number,
            names.join(", "),
            ticket.number
        ))
    }

    /// The ticket whose chat thread `thread` is.
    async fn thread_ticket(
        &self,
        work: &mut Work,
        actor: &Actor,
        platform: &str,
        thread: &str,
        help: &str,
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
            .ok_or_else(|| DeskError::invalid("ticket", help))
    }
}

fn applied_answer(applied: &MacroApplied) -> String {
    let ticket = &applied.ticket;
    let mut done: Vec<String> = Vec::new();
    if applied.comment.as_ref().is_some_and(|c| c.internal) {
        done.push("added the internal note".into());
    } else if applied.comment.is_some() {
        done.push("replied to the requester".into());
    }
    for field in &applied.changed {
        let now = match field.as_str() {
            "state" => ticket.state.replace('_', " "),
            "priority" => ticket.priority.clone(),
            "impact" => ticket.impact.clone(),
            "urgency" => ticket.urgency.clone(),
            "team" => ticket
                .team
                .as_ref()
                .map_or("none".into(), |t| t.name.clone()),
            "assignee" => ticket
                .assignee
                .as_ref()
                .map_or("nobody".into(), |a| a.name.clone()),
            "tags" if ticket.tags.is_empty() => "none".into(),
            "tags" => ticket.tags.join(", "),
            _ => continue,
        };
        done.push(format!("{field}: {now}"));
    }
    if done.is_empty() {
        done.push("nothing needed changing".into());
    }
    format!(
        "Applied `{}` to {}: {}.",
        applied.applied.name,
        ticket.number,
        done.join("; ")
    )
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
