//! The buttons and menus of chat cards, the same on Slack and Discord:
//! take, assign, priority, urgency, escalate, resolve, "solved?" yes/no,
//! rating, approve, reject, acknowledge an escalation, acknowledge or
//! silence an alert. A platform maps its own ids to a [`ChatAction`]
//! ([`ChatAction::read`]), [`Desk::chat_action`] runs it inside the
//! click's use case with the same locking whichever platform it came
//! from, and the platform renders the [`ChatActionDone`] it answers —
//! with the same sentences ([`ChatActionDone::notice`]).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    alerts::{alert_brief, AlertBrief},
    approvals::ApprovalView,
    identity::IdentityKey,
    tickets::{Assignment, TicketChanges},
    views::TicketView,
    Actor, Desk, DeskError, Work,
};

/// What a button or menu on a chat card is for, whatever the platform
/// calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    Take,
    Assign,
    Priority,
    Urgency,
    Escalate,
    Resolve,
    Solved,
    NotSolved,
    Rate,
    Approve,
    Acknowledge,
    AlertAck,
    Silence,
}

/// A click on a chat card, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatAction {
    /// The clicker takes the ticket.
    Take(String),
    /// The ticket goes to the person behind a chat identity.
    Assign {
        number: String,
        assignee: IdentityKey,
    },
    /// Priority from the organization's impact × urgency matrix.
    Priority {
        number: String,
        priority: String,
    },
    Urgency {
        number: String,
        urgency: String,
    },
    /// One escalation level up.
    Escalate(String),
    Resolve(String),
    /// The requester's answer to "is this solved?".
    Solved {
        number: String,
        solved: bool,
    },
    Rate {
        number: String,
        score: i64,
    },
    Approve(Uuid),
    Reject {
        approval: Uuid,
        reason: Option<String>,
    },
    /// Stops a ticket's escalation.
    Acknowledge(String),
    /// Acknowledges an alert incident's escalation (its card says so).
    AlertAck(String),
    Silence(String),
}

impl ChatAction {
    /// The action a platform's click asks for: `kind` from its id, `value`
    /// what the click carries (a ticket number, an approval id, or
    /// `number:choice` for the rating buttons and Slack's priority menu),
    /// `selected` a menu's choice when the platform sends it apart. `None`
    /// when the click does not make sense (a forged or stale id).
    pub fn read(kind: ActionKind, value: &str, selected: Option<&str>) -> Option<ChatAction> {
        let number = || (!value.trim().is_empty()).then(|| value.trim().to_string());
        // A choice comes apart from the ticket, or after it as `number:choice`.
        let choice = || match selected {
            Some(choice) => Some((number()?, choice.to_string())),
            None => value
                .rsplit_once(':')
                .filter(|(n, c)| !n.is_empty() && !c.is_empty())
                .map(|(n, c)| (n.to_string(), c.to_string())),
        };
        Some(match kind {
            ActionKind::Take => ChatAction::Take(number()?),
            ActionKind::Escalate => ChatAction::Escalate(number()?),
            ActionKind::Resolve => ChatAction::Resolve(number()?),
            ActionKind::Acknowledge => ChatAction::Acknowledge(number()?),
            ActionKind::AlertAck => ChatAction::AlertAck(number()?),
            ActionKind::Silence => ChatAction::Silence(number()?),
            ActionKind::Solved | ActionKind::NotSolved => ChatAction::Solved {
                number: number()?,
                solved: kind == ActionKind::Solved,
            },
            ActionKind::Approve => ChatAction::Approve(Uuid::parse_str(value.trim()).ok()?),
            ActionKind::Priority => {
                let (number, priority) = choice()?;
                ChatAction::Priority { number, priority }
            }
            ActionKind::Urgency => {
                let (number, urgency) = choice()?;
                ChatAction::Urgency { number, urgency }
            }
            ActionKind::Rate => {
                let (number, score) = choice()?;
                ChatAction::Rate {
                    number,
                    score: score.parse().ok()?,
                }
            }
            // An assignee is a chat identity, which only the platform knows
            // how to spell: see [`ChatAction::Assign`].
            ActionKind::Assign => return None,
        })
    }

    /// The ticket the action is about, if it is about one.
    pub fn ticket(&self) -> Option<&str> {
        match self {
            ChatAction::Take(n)
            | ChatAction::Escalate(n)
            | ChatAction::Resolve(n)
            | ChatAction::Acknowledge(n)
            | ChatAction::AlertAck(n)
            | ChatAction::Silence(n)
            | ChatAction::Assign { number: n, .. }
            | ChatAction::Priority { number: n, .. }
            | ChatAction::Urgency { number: n, .. }
            | ChatAction::Solved { number: n, .. }
            | ChatAction::Rate { number: n, .. } => Some(n),
            ChatAction::Approve(_) | ChatAction::Reject { .. } => None,
        }
    }
}

/// What a chat action did, for the platform to show.
#[derive(Debug, Clone)]
pub enum ChatActionDone {
    /// The ticket as it stands now (its card may be redrawn).
    Ticket(TicketView),
    /// An alert incident and its alerts as they stand once the click
    /// commits.
    Alert(TicketView, AlertBrief),
    Approved(ApprovalView),
    Rejected(ApprovalView),
    /// An escalation was acknowledged, by whom and since when.
    Acknowledged {
        number: String,
        by: String,
        at: Option<DateTime<Utc>>,
    },
    /// "Yes, solved": the ticket is closed; its requester is asked to rate it.
    Closed(TicketView),
    Rated {
        number: String,
        score: i64,
    },
    /// "Not solved": the ticket is open again.
    Reopened(TicketView),
}

impl ChatActionDone {
    /// The sentence a plain-text answer says, the same on every platform;
    /// `bold` and `escape` are the platform's markup. `None` for answers
    /// that are cards or approvals (the platform draws those).
    pub fn notice(&self, bold: fn(&str) -> String, escape: fn(&str) -> String) -> Option<String> {
        match self {
            ChatActionDone::Acknowledged { number, by, at } => {
                let at = at
                    .map(|at| format!(", {} UTC", at.format("%H:%M")))
                    .unwrap_or_default();
                Some(format!(
                    "✅ {}: escalation acknowledged by {}{at}.",
                    bold(number),
                    escape(by)
                ))
            }
            ChatActionDone::Reopened(ticket) => Some(format!(
                "{} is open again; the team will look at it.",
                bold(&ticket.number)
            )),
            _ => None,
        }
    }
}

impl Desk {
    /// Runs a chat action as `actor` inside the click's use case. Every
    /// change locks its ticket (or approval) before reading what it
    /// changes, so two clicks at once act one after the other: two
    /// "Escalate" clicks raise the level by two. `platform` names where the
    /// click came from in the ticket's history ("Slack", "Discord").
    pub async fn chat_action(
        &self,
        work: &mut Work,
        actor: &Actor,
        action: ChatAction,
        platform: &str,
    ) -> Result<ChatActionDone, DeskError> {
        Ok(match action {
            ChatAction::Take(number) => {
                let me = actor.person_id.map(|id| id.to_string());
                let change = Assignment {
                    team: None,
                    assignee: Some(me),
                };
                ChatActionDone::Ticket(self.assign(work, actor, &number, change).await?)
            }
            ChatAction::Assign { number, assignee } => {
                let Some(person) = self
                    .chat_linked_person(work, actor.org_id, &assignee)
                    .await?
                else {
                    let who = match &assignee {
                        IdentityKey::Slack { user_id, .. } => format!("<@{user_id}>"),
                        IdentityKey::Discord { user_id, .. } => format!("<@{user_id}>"),
                        _ => "that person".into(),
                    };
                    return Err(DeskError::invalid(
                        "assignee",
                        format!("{who} is not linked to a person in Switchboard yet"),
                    ));
                };
                let change = Assignment {
                    team: None,
                    assignee: Some(Some(person.to_string())),
                };
                ChatActionDone::Ticket(self.assign(work, actor, &number, change).await?)
            }
            ChatAction::Priority { number, priority } => {
                ChatActionDone::Ticket(self.set_priority(work, actor, &number, &priority).await?)
            }
            ChatAction::Urgency { number, urgency } => {
                let change = TicketChanges {
                    urgency: Some(urgency),
                    ..TicketChanges::default()
                };
                ChatActionDone::Ticket(self.update_ticket(work, actor, &number, change).await?)
            }
            ChatAction::Escalate(number) => {
                ChatActionDone::Ticket(self.escalate_one_level(work, actor, &number).await?)
            }
            ChatAction::Resolve(number) => ChatActionDone::Ticket(
                self.transition(work, actor, &number, "resolved", None)
                    .await?,
            ),
            ChatAction::Solved {
                number,
                solved: true,
            } => ChatActionDone::Closed(
                self.transition(work, actor, &number, "closed", None)
                    .await?,
            ),
            ChatAction::Solved {
                number,
                solved: false,
            } => {
                let note = format!("Not solved yet (answered in {platform}).");
                let ticket = self
                    .transition(work, actor, &number, "in_progress", Some(note))
                    .await?;
                ChatActionDone::Reopened(ticket)
            }
            ChatAction::Rate { number, score } => {
                let ticket = self.rate_ticket(work, actor, &number, score).await?;
                ChatActionDone::Rated {
                    number: ticket.number,
                    score,
                }
            }
            ChatAction::Approve(id) => {
                ChatActionDone::Approved(self.decide(work, actor, id, "approve", None).await?)
            }
            ChatAction::Reject { approval, reason } => ChatActionDone::Rejected(
                self.decide(work, actor, approval, "reject", reason).await?,
            ),
            ChatAction::Acknowledge(number) => {
                let status = self.acknowledge(work, actor, &number).await?;
                ChatActionDone::Acknowledged {
                    number,
                    by: actor.name.clone(),
                    at: status.acknowledged_at,
                }
            }
            ChatAction::AlertAck(number) => {
                let at = self
                    .acknowledge_alert_incident(work, actor, &number)
                    .await?;
                self.alert_done(actor, &number, |b| b.acknowledged_at = Some(at))
                    .await?
            }
            ChatAction::Silence(number) => {
                let until = self.silence_alert_incident(work, actor, &number).await?;
                let now = self.clock.now();
                self.alert_done(actor, &number, |b| {
                    b.silenced_until = Some(until);
                    b.acknowledged_at = b.acknowledged_at.or(Some(now));
                })
                .await?
            }
        })
    }

    /// An alert incident's card as it stands once the click commits:
    /// `change` applies what the click did, not yet visible outside its
    /// transaction.
    async fn alert_done(
        &self,
        actor: &Actor,
        number: &str,
        change: impl FnOnce(&mut AlertBrief),
    ) -> Result<ChatActionDone, DeskError> {
        let ticket = self.get_ticket(actor, number).await?;
        let mut brief = alert_brief(&self.db, &ticket).await?.unwrap_or_default();
        change(&mut brief);
        Ok(ChatActionDone::Alert(ticket, brief))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_button_carries_its_number() {
        assert_eq!(
            ChatAction::read(ActionKind::Escalate, "INC-000042", None),
            Some(ChatAction::Escalate("INC-000042".into()))
        );
        assert_eq!(
            ChatAction::read(ActionKind::NotSolved, "INC-7", None),
            Some(ChatAction::Solved {
                number: "INC-7".into(),
                solved: false
            })
        );
        assert_eq!(ChatAction::read(ActionKind::Take, " ", None), None);
    }

    #[test]
    fn a_choice_comes_after_the_number_or_apart() {
        assert_eq!(
            ChatAction::read(ActionKind::Priority, "INC-1:p2", None),
            Some(ChatAction::Priority {
                number: "INC-1".into(),
                priority: "p2".into()
            })
        );
        assert_eq!(
            ChatAction::read(ActionKind::Urgency, "INC-1", Some("high")),
            Some(ChatAction::Urgency {
                number: "INC-1".into(),
                urgency: "high".into()
            })
        );
        assert_eq!(
            ChatAction::read(ActionKind::Rate, "INC-1:5", None),
            Some(ChatAction::Rate {
                number: "INC-1".into(),
                score: 5
            })
        );
        assert_eq!(ChatAction::read(ActionKind::Rate, "INC-1:five", None), None);
        assert_eq!(ChatAction::read(ActionKind::Priority, "INC-1", None), None);
    }

    #[test]
    fn an_approval_button_carries_an_approval_id() {
        let id = Uuid::new_v4();
        assert_eq!(
            ChatAction::read(ActionKind::Approve, &id.to_string(), None),
            Some(ChatAction::Approve(id))
        );
        assert_eq!(ChatAction::read(ActionKind::Approve, "INC-1", None), None);
        // An assignee needs the platform's identity.
        assert_eq!(ChatAction::read(ActionKind::Assign, "U1", None), None);
    }

    #[test]
    fn notices_read_the_same_on_every_platform() {
        let done = ChatActionDone::Acknowledged {
            number: "INC-1".into(),
            by: "Omar Oncall".into(),
            at: None,
        };
        let bold = |s: &str| format!("*{s}*");
        assert_eq!(
            done.notice(bold, str::to_owned).as_deref(),
            Some("✅ *INC-1*: escalation acknowledged by Omar Oncall.")
        );
        let bold = |s: &str| format!("**{s}**");
        assert_eq!(
            done.notice(bold, str::to_owned).as_deref(),
            Some("✅ **INC-1**: escalation acknowledged by Omar Oncall.")
        );
    }
}
