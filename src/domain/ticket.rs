//! Ticket kinds and the state machine each kind follows.
//!
//! The machines are the single source of truth for which moves are legal;
//! callers ask [`Kind::transition`] rather than encoding rules of their own.

use serde::{Deserialize, Serialize};

/// The ITIL practice a ticket belongs to; it decides the ticket's workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Something is broken and needs restoring.
    Incident,
    /// Someone wants something (access, hardware, information).
    ServiceRequest,
    /// The underlying cause of one or more incidents.
    Problem,
    /// A planned modification to a service.
    Change,
}

string_enum!(Kind, "ticket kind", {
    Incident => "incident",
    ServiceRequest => "service_request",
    Problem => "problem",
    Change => "change",
});

/// Where a ticket is in its workflow. Not every state is used by every kind;
/// see [`Kind::states`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    New,
    InProgress,
    OnHold,
    AwaitingApproval,
    Investigating,
    KnownError,
    Assessment,
    Scheduled,
    Implementing,
    Review,
    Resolved,
    Rejected,
    Closed,
    Cancelled,
}

string_enum!(State, "state", {
    New => "new",
    InProgress => "in_progress",
    OnHold => "on_hold",
    AwaitingApproval => "awaiting_approval",
    Investigating => "investigating",
    KnownError => "known_error",
    Assessment => "assessment",
    Scheduled => "scheduled",
    Implementing => "implementing",
    Review => "review",
    Resolved => "resolved",
    Rejected => "rejected",
    Closed => "closed",
    Cancelled => "cancelled",
});

impl State {
    /// Whether the ticket is finished for good. `Resolved` is not terminal:
    /// the requester may still reopen it.
    pub const fn is_terminal(self) -> bool {
        matches!(self, State::Closed | State::Cancelled | State::Rejected)
    }

    /// Whether the work is done but the ticket is not yet closed.
    pub const fn is_resolved(self) -> bool {
        matches!(self, State::Resolved)
    }
}

impl Kind {
    /// The prefix of this kind's ticket numbers, e.g. `INC` in `INC0000042`.
    pub const fn prefix(self) -> &'static str {
        match self {
            Kind::Incident => "INC",
            Kind::ServiceRequest => "REQ",
            Kind::Problem => "PRB",
            Kind::Change => "CHG",
        }
    }

    /// The state every new ticket of this kind starts in.
    pub const fn initial_state(self) -> State {
        State::New
    }

    /// The states of this kind's machine, starting with the initial one.
    pub const fn states(self) -> &'static [State] {
        use State::*;
        match self {
            Kind::Incident => &[New, InProgress, OnHold, Resolved, Closed, Cancelled],
            Kind::ServiceRequest => &[
                New,
                AwaitingApproval,
                InProgress,
                OnHold,
                Resolved,
                Rejected,
                Closed,
                Cancelled,
            ],
            Kind::Problem => &[New, Investigating, KnownError, Resolved, Closed, Cancelled],
            Kind::Change => &[
                New,
                Assessment,
                AwaitingApproval,
                Scheduled,
                Implementing,
                Review,
                Rejected,
                Closed,
                Cancelled,
            ],
        }
    }

    /// The states a ticket of this kind may move to from `from`.
    ///
    /// Terminal states, and states that are not part of this kind's machine,
    /// have no exits.
    pub const fn allowed_from(self, from: State) -> &'static [State] {
        use State::*;
        match (self, from) {
            (Kind::Incident, New) => &[InProgress, OnHold, Resolved, Cancelled],
            (Kind::Incident, InProgress) => &[OnHold, Resolved, Cancelled],
            (Kind::Incident, OnHold) => &[InProgress, Resolved, Cancelled],
            (Kind::Incident, Resolved) => &[Closed, InProgress],

            (Kind::ServiceRequest, New) => &[AwaitingApproval, InProgress, Cancelled],
            (Kind::ServiceRequest, AwaitingApproval) => &[InProgress, Rejected, Cancelled],
            (Kind::ServiceRequest, InProgress) => &[OnHold, Resolved, Cancelled],
            (Kind::ServiceRequest, OnHold) => &[InProgress, Resolved, Cancelled],
            (Kind::ServiceRequest, Resolved) => &[Closed, InProgress],

            (Kind::Problem, New) => &[Investigating, Cancelled],
            (Kind::Problem, Investigating) => &[KnownError, Resolved, Cancelled],
            (Kind::Problem, KnownError) => &[Investigating, Resolved, Cancelled],
            (Kind::Problem, Resolved) => &[Closed, Investigating],

            (Kind::Change, New) => &[Assessment, Cancelled],
            (Kind::Change, Assessment) => &[AwaitingApproval, Scheduled, Cancelled],
            (Kind::Change, AwaitingApproval) => &[Scheduled, Rejected, Cancelled],
            (Kind::Change, Scheduled) => &[Implementing, Cancelled],
            // Once work has started on a change it must be reviewed, even if
            // it failed: cancelling would hide the outcome.
            (Kind::Change, Implementing) => &[Review],
            (Kind::Change, Review) => &[Closed],

            _ => &[],
        }
    }

    /// Checks that a ticket of this kind may move from `from` to `to`.
    pub fn transition(self, from: State, to: State) -> Result<(), TransitionError> {
        let allowed = self.allowed_from(from);
        if allowed.contains(&to) {
            Ok(())
        } else {
            Err(TransitionError {
                kind: self,
                from,
                to,
                allowed: allowed.to_vec(),
            })
        }
    }

    /// The kind with its indefinite article, for sentences in messages.
    const fn with_article(self) -> &'static str {
        match self {
            Kind::Incident => "an incident",
            Kind::ServiceRequest => "a service_request",
            Kind::Problem => "a problem",
            Kind::Change => "a change",
        }
    }
}

/// A requested state change that the kind's machine does not allow.
///
/// It carries the legal alternatives so the message can tell the user what
/// they can do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{} cannot move from {from} to {to}; allowed from {from}: {}",
    .kind.with_article(),
    list_states(.allowed)
)]
pub struct TransitionError {
    pub kind: Kind,
    pub from: State,
    pub to: State,
    pub allowed: Vec<State>,
}

fn list_states(states: &[State]) -> String {
    if states.is_empty() {
        "none".to_owned()
    } else {
        states
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{HashSet, VecDeque};
    use State::*;

    /// Each machine written out edge by edge, independently of `allowed_from`.
    fn expected_edges(kind: Kind) -> Vec<(State, State)> {
        match kind {
            Kind::Incident => vec![
                (New, InProgress),
                (New, OnHold),
                (New, Resolved),
                (New, Cancelled),
                (InProgress, OnHold),
                (InProgress, Resolved),
                (InProgress, Cancelled),
                (OnHold, InProgress),
                (OnHold, Resolved),
                (OnHold, Cancelled),
                (Resolved, Closed),
                (Resolved, InProgress),
            ],
            Kind::ServiceRequest => vec![
                (New, AwaitingApproval),
                (New, InProgress),
                (New, Cancelled),
                (AwaitingApproval, InProgress),
                (AwaitingApproval, Rejected),
                (AwaitingApproval, Cancelled),
                (InProgress, OnHold),
                (InProgress, Resolved),
                (InProgress, Cancelled),
                (OnHold, InProgress),
                (OnHold, Resolved),
                (OnHold, Cancelled),
                (Resolved, Closed),
                (Resolved, InProgress),
            ],
            Kind::Problem => vec![
                (New, Investigating),
                (New, Cancelled),
                (Investigating, KnownError),
                (Investigating, Resolved),
                (Investigating, Cancelled),
                (KnownError, Investigating),
                (KnownError, Resolved),
                (KnownError, Cancelled),
                (Resolved, Closed),
                (Resolved, Investigating),
            ],
            Kind::Change => vec![
                (New, Assessment),
                (New, Cancelled),
                (Assessment, AwaitingApproval),
                (Assessment, Scheduled),
                (Assessment, Cancelled),
                (AwaitingApproval, Scheduled),
                (AwaitingApproval, Rejected),
                (AwaitingApproval, Cancelled),
                (Scheduled, Implementing),
                (Scheduled, Cancelled),
                (Implementing, Review),
                (Review, Closed),
            ],
        }
    }

    fn assert_machine(kind: Kind) {
        let expected: HashSet<_> = expected_edges(kind).into_iter().collect();
        for from in State::ALL {
            for to in State::ALL {
                let ok = kind.transition(from, to).is_ok();
                assert_eq!(ok, expected.contains(&(from, to)), "{kind}: {from} -> {to}");
            }
        }
    }

    #[test]
    fn incident_machine() {
        assert_machine(Kind::Incident);
    }

    #[test]
    fn service_request_machine() {
        assert_machine(Kind::ServiceRequest);
    }

    #[test]
    fn problem_machine() {
        assert_machine(Kind::Problem);
    }

    #[test]
    fn change_machine() {
        assert_machine(Kind::Change);
    }

    #[test]
    fn error_lists_allowed_states() {
        let err = Kind::Incident.transition(New, Closed).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some(
                "an incident cannot move from new to closed; \
                 allowed from new: in_progress, on_hold, resolved, cancelled"
            )
        );
    }

    #[test]
    fn error_from_terminal_state_says_none() {
        let err = Kind::Incident.transition(Closed, InProgress).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("an incident cannot move from closed to in_progress; allowed from closed: none")
        );
    }

    #[test]
    fn error_uses_the_right_article() {
        let message = |kind: Kind| {
            kind.transition(Closed, New)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(message(Kind::ServiceRequest).starts_with("a service_request cannot"));
        assert!(message(Kind::Problem).starts_with("a problem cannot"));
        assert!(message(Kind::Change).starts_with("a change cannot"));
    }

    #[test]
    fn foreign_states_have_no_exits() {
        assert!(Kind::Incident.allowed_from(Investigating).is_empty());
        assert!(Kind::Problem.allowed_from(InProgress).is_empty());
    }

    #[test]
    fn names_roundtrip_and_match_serde() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Ok(kind));
            assert_eq!(kind.to_string(), kind.as_str());
            assert_eq!(
                serde_json::to_value(kind).ok(),
                Some(serde_json::Value::from(kind.as_str()))
            );
        }
        for state in State::ALL {
            assert_eq!(State::parse(state.as_str()), Ok(state));
            assert_eq!(state.to_string(), state.as_str());
            assert_eq!(
                serde_json::to_value(state).ok(),
                Some(serde_json::Value::from(state.as_str()))
            );
        }
    }

    #[test]
    fn prefixes_are_distinct() {
        let prefixes: HashSet<_> = Kind::ALL.map(Kind::prefix).into_iter().collect();
        assert_eq!(prefixes.len(), Kind::ALL.len());
    }

    #[test]
    fn every_state_of_a_machine_is_reachable_from_new() {
        for kind in Kind::ALL {
            let mut seen = HashSet::from([kind.initial_state()]);
            let mut queue = VecDeque::from([kind.initial_state()]);
            while let Some(state) = queue.pop_front() {
                for &next in kind.allowed_from(state) {
                    if seen.insert(next) {
                        queue.push_back(next);
                    }
                }
            }
            let states: HashSet<_> = kind.states().iter().copied().collect();
            assert_eq!(seen, states, "{kind}");
        }
    }

    #[test]
    fn machines_stay_within_their_states() {
        for kind in Kind::ALL {
            assert_eq!(kind.states().first(), Some(&kind.initial_state()));
            for &from in kind.states() {
                for to in kind.allowed_from(from) {
                    assert!(kind.states().contains(to), "{kind}: {from} -> {to}");
                }
            }
        }
    }

    fn any_kind() -> impl Strategy<Value = Kind> {
        proptest::sample::select(Kind::ALL.to_vec())
    }

    fn any_state() -> impl Strategy<Value = State> {
        proptest::sample::select(State::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn transition_ok_iff_allowed(kind in any_kind(), from in any_state(), to in any_state()) {
            let allowed = kind.allowed_from(from).contains(&to);
            match kind.transition(from, to) {
                Ok(()) => prop_assert!(allowed),
                Err(err) => {
                    prop_assert!(!allowed);
                    prop_assert_eq!(err.allowed.as_slice(), kind.allowed_from(from));
                }
            }
        }

        #[test]
        fn terminal_states_have_no_exits(kind in any_kind(), from in any_state(), to in any_state()) {
            if from.is_terminal() {
                prop_assert!(kind.transition(from, to).is_err());
            }
        }

        #[test]
        fn staying_put_is_not_a_transition(kind in any_kind(), state in any_state()) {
            prop_assert!(kind.transition(state, state).is_err());
        }
    }
}
