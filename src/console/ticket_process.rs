//! What the ticket page adds for agents from problem, change and
//! configuration management: a problem's record (workaround, root cause,
//! linked incidents, known errors), an incident's problem, linked known
//! errors and the KEDB's suggestions for it, a change's planned window
//! with its conflicts, and the configuration items linked to the ticket
//! with their impact. Each part is the desk's own read, as the API serves
//! it (`/api/v1/problems/{n}`, `/tickets/{n}/problem`,
//! `/tickets/{n}/known-errors`, `/tickets/{n}/suggestions`,
//! `/changes/{n}`, `/tickets/{n}/cis`, `/cmdb/cis/{id}/impact`).

use crate::{
    desk::{
        changes::ChangeView,
        cmdb::{CiRef, Impact},
        problems::{KnownErrorView, ProblemView, TicketRef},
        views::TicketView,
        Actor, Desk, DeskError,
    },
    domain::change::ConflictKind,
};

/// Linked CIs whose impact the page works out; the rest are links only.
pub const CIS_WITH_IMPACT: usize = 10;
/// Hops followed for a linked CI's impact (the API's default).
const IMPACT_DEPTH: u32 = 3;

pub struct LinkedCi {
    pub ci: CiRef,
    /// For the first [`CIS_WITH_IMPACT`] CIs.
    pub impact: Option<Impact>,
}

pub struct Process {
    /// The ticket is a problem: its record.
    pub problem: Option<ProblemView>,
    /// The ticket is an incident linked to a problem.
    pub incident_problem: Option<TicketRef>,
    /// The ticket is an incident: the known errors linked to it.
    pub known_errors: Vec<KnownErrorView>,
    /// The ticket is an incident: known errors that may explain it and are
    /// not linked yet, best first.
    pub suggestions: Vec<KnownErrorView>,
    /// The ticket is a change: its window and that window's conflicts.
    pub change: Option<ChangeView>,
    pub cis: Vec<LinkedCi>,
}

impl Process {
    pub fn is_freeze(&self, kind: &ConflictKind) -> bool {
        *kind == ConflictKind::Freeze
    }
}

/// Reads the parts that apply to this ticket; `None` for a requester.
pub async fn load(
    desk: &Desk,
    actor: &Actor,
    ticket: &TicketView,
) -> Result<Option<Process>, DeskError> {
    if !actor.is_agent() {
        return Ok(None);
    }
    let number = ticket.number.as_str();
    let mut process = Process {
        problem: None,
        incident_problem: None,
        known_errors: Vec::new(),
        suggestions: Vec::new(),
        change: None,
        cis: Vec::new(),
    };
    match ticket.kind.as_str() {
        "problem" => process.problem = Some(desk.get_problem(actor, number).await?),
        "incident" => {
            process.incident_problem = desk.incident_problem(actor, number).await?.problem;
            process.known_errors = desk.ticket_known_errors(actor, number).await?;
            process.suggestions = desk
                .suggest_known_errors(actor, number, None)
                .await?
                .into_iter()
                .filter(|s| !process.known_errors.iter().any(|k| k.id == s.id))
                .collect();
        }
        "change" => process.change = Some(desk.get_change(actor, number).await?),
        _ => {}
    }
    for (i, ci) in desk
        .ticket_cis(actor, number)
        .await?
        .into_iter()
        .enumerate()
    {
        let impact = if i < CIS_WITH_IMPACT {
            match desk.impact(actor, ci.id, IMPACT_DEPTH).await {
                Ok(impact) => Some(impact),
                // Deleted between the two reads.
                Err(DeskError::NotFound(_)) => None,
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        process.cis.push(LinkedCi { ci, impact });
    }
    Ok(Some(process))
}
