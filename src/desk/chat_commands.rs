//! The desk-operation commands of chat, the same on Slack and Discord:
//! `/away …` (an absence in the typer's time zone). Each runs one use case
//! as the person who typed it and answers a line of plain text, which the
//! platform shows only to them.

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::{
    availability::{AbsenceView, AwayOutcome},
    Actor, Desk, DeskError, Work,
};

/// A command typed in chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChatCommand {
    /// `/away until friday`, `/away back`.
    Away(String),
}

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
                let tz = match actor.person_id {
                    Some(id) => crate::store::people::find_person(&mut work.tx, actor.org_id, id)
                        .await?
                        .and_then(|p| p.time_zone.parse::<Tz>().ok()),
                    None => None,
                };
                Ok(away_answer(&outcome, tz.unwrap_or(chrono_tz::UTC)))
            }
        }
    }
}

fn away_answer(outcome: &AwayOutcome, tz: Tz) -> String {
    match outcome {
        AwayOutcome::Away(AbsenceView { ends_at, note, .. }) => {
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
