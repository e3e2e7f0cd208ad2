//! Approval policies and the rules of deciding: stages in sequence, each
//! with approvers and a rule (any one, all, quorum of N), self-approval
//! refused, explicit delegation, and what expiry does.
//!
//! Who the approvers of a stage are (a team's members, the requester's
//! manager) is resolved by the desk when the stage starts; the rules here
//! work on the resulting ids.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::text::FieldError;

/// Most stages in one policy.
pub const MAX_STAGES: usize = 10;
/// Longest reminder or expiry delay: 90 days, in minutes.
const MAX_MINUTES: u32 = 90 * 24 * 60;

/// How the decisions of a stage's approvers combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Rule {
    /// The first decision decides the stage.
    Any,
    /// Everyone must approve; one rejection rejects.
    All,
    /// `n` approvals approve; the stage is rejected as soon as `n` can no
    /// longer be reached.
    Quorum { n: u32 },
}

/// Who may decide a stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Approvers {
    Person {
        id: Uuid,
    },
    /// Every member of the team.
    Team {
        id: Uuid,
    },
    /// The manager of the ticket's requester.
    RequesterManager,
    /// A change advisory board: the members of the team, shown as a CAB
    /// with quorum progress.
    Cab {
        team: Uuid,
    },
}

/// What happens when a stage is not decided in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnExpiry {
    #[default]
    Reject,
    /// Once: the managers of the approvers who have not decided become
    /// approvers too and the stage gets another period; a second expiry
    /// rejects.
    Escalate,
    /// Approve (meant for standard, pre-approved changes).
    Approve,
}

string_enum!(OnExpiry, "expiry action", {
    Reject => "reject",
    Escalate => "escalate",
    Approve => "approve",
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    pub name: String,
    pub approvers: Vec<Approvers>,
    pub rule: Rule,
    /// Remind the approvers who have not decided after this many minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remind_after_minutes: Option<u32>,
    /// The stage expires after this many minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_after_minutes: Option<u32>,
    #[serde(default)]
    pub on_expiry: OnExpiry,
}

/// The stages of a policy, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyStages(pub Vec<Stage>);

impl PolicyStages {
    /// Reads and checks a policy's stages; errors name the place.
    pub fn parse(value: &serde_json::Value) -> Result<Self, Vec<FieldError>> {
        let stages: Vec<Stage> = serde_json::from_value(value.clone())
            .map_err(|e| vec![FieldError::new("stages", e.to_string())])?;
        let mut errors = Vec::new();
        if stages.is_empty() || stages.len() > MAX_STAGES {
            errors.push(FieldError::new(
                "stages",
                format!("a policy needs 1 to {MAX_STAGES} stages"),
            ));
        }
        for (i, stage) in stages.iter().enumerate() {
            let place = |what: &str| format!("stages[{i}].{what}");
            let name = stage.name.trim().chars().count();
            if name == 0 || name > 100 {
                errors.push(FieldError::new(
                    place("name"),
                    "must be 1 to 100 characters",
                ));
            }
            if stage.approvers.is_empty() {
                errors.push(FieldError::new(
                    place("approvers"),
                    "name at least one approver",
                ));
            }
            if let Rule::Quorum { n } = stage.rule {
                if n == 0 {
                    errors.push(FieldError::new(
                        place("rule"),
                        "a quorum needs n of at least 1",
                    ));
                }
            }
            for (what, minutes) in [
                ("remind_after_minutes", stage.remind_after_minutes),
                ("expire_after_minutes", stage.expire_after_minutes),
            ] {
                if minutes.is_some_and(|m| m == 0 || m > MAX_MINUTES) {
                    errors.push(FieldError::new(
                        place(what),
                        format!("must be 1 to {MAX_MINUTES} minutes"),
                    ));
                }
            }
            if let (Some(remind), Some(expire)) =
                (stage.remind_after_minutes, stage.expire_after_minutes)
            {
                if remind >= expire {
                    errors.push(FieldError::new(
                        place("remind_after_minutes"),
                        "a reminder must come before the expiry",
                    ));
                }
            }
            if stage.on_expiry != OnExpiry::Reject && stage.expire_after_minutes.is_none() {
                errors.push(FieldError::new(
                    place("on_expiry"),
                    "needs expire_after_minutes",
                ));
            }
        }
        if errors.is_empty() {
            Ok(PolicyStages(stages))
        } else {
            Err(errors)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

string_enum!(Decision, "decision", {
    Approve => "approve",
    Reject => "reject",
});

/// Where an approval (or one stage of it) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Approved,
    Rejected,
    /// Withdrawn because the ticket was cancelled.
    Cancelled,
}

string_enum!(Status, "approval status", {
    Pending => "pending",
    Approved => "approved",
    Rejected => "rejected",
    Cancelled => "cancelled",
});

impl Status {
    pub const fn is_open(self) -> bool {
        matches!(self, Status::Pending)
    }
}

/// The outcome of a stage given its rule, how many may decide, and the
/// decisions so far.
pub fn tally(rule: Rule, eligible: usize, approvals: usize, rejections: usize) -> Status {
    match rule {
        Rule::Any => {
            if approvals > 0 {
                Status::Approved
            } else if rejections > 0 {
                Status::Rejected
            } else {
                Status::Pending
            }
        }
        Rule::All => {
            if rejections > 0 {
                Status::Rejected
            } else if approvals >= eligible && eligible > 0 {
                Status::Approved
            } else {
                Status::Pending
            }
        }
        Rule::Quorum { n } => {
            let n = n as usize;
            if approvals >= n {
                Status::Approved
            } else if eligible.saturating_sub(rejections) < n {
                Status::Rejected
            } else {
                Status::Pending
            }
        }
    }
}

/// How many approvals a stage needs, for progress displays ("2 of 3").
pub fn needed(rule: Rule, eligible: usize) -> usize {
    match rule {
        Rule::Any => 1,
        Rule::All => eligible,
        Rule::Quorum { n } => n as usize,
    }
}

/// Why someone may not decide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("you raised this request and cannot approve it yourself")]
    SelfApproval,
    #[error("you are not an approver of this stage")]
    NotAnApprover,
    #[error("you have already decided this stage")]
    AlreadyDecided,
}

/// An active delegation: `to` may decide for `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delegation {
    pub from: Uuid,
    pub to: Uuid,
}

/// Whose place `decider` takes in this stage: themselves if they are an
/// approver who has not decided, else the first undecided approver who
/// delegated to them. The requester may never decide, not even as a delegate.
pub fn authorize(
    decider: Uuid,
    requester: Option<Uuid>,
    eligible: &[Uuid],
    decided: &[Uuid],
    delegations: &[Delegation],
) -> Result<Uuid, Refusal> {
    if requester == Some(decider) {
        return Err(Refusal::SelfApproval);
    }
    if eligible.contains(&decider) {
        return if decided.contains(&decider) {
            Err(Refusal::AlreadyDecided)
        } else {
            Ok(decider)
        };
    }
    let mut delegated = delegations
        .iter()
        .filter(|d| d.to == decider && eligible.contains(&d.from))
        .map(|d| d.from)
        .peekable();
    if delegated.peek().is_none() {
        return Err(Refusal::NotAnApprover);
    }
    let mut delegated = delegated.collect::<Vec<_>>();
    delegated.sort();
    delegated
        .into_iter()
        .find(|from| !decided.contains(from) && requester != Some(*from))
        .ok_or(Refusal::AlreadyDecided)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn any_one_decision_decides() {
        assert_eq!(tally(Rule::Any, 3, 0, 0), Status::Pending);
        assert_eq!(tally(Rule::Any, 3, 1, 0), Status::Approved);
        assert_eq!(tally(Rule::Any, 3, 0, 1), Status::Rejected);
    }

    #[test]
    fn all_need_everyone_and_one_rejection_rejects() {
        assert_eq!(tally(Rule::All, 3, 2, 0), Status::Pending);
        assert_eq!(tally(Rule::All, 3, 3, 0), Status::Approved);
        assert_eq!(tally(Rule::All, 3, 2, 1), Status::Rejected);
        assert_eq!(tally(Rule::All, 0, 0, 0), Status::Pending);
    }

    #[test]
    fn quorum_approves_at_n_and_rejects_when_out_of_reach() {
        let q = Rule::Quorum { n: 3 };
        assert_eq!(tally(q, 5, 2, 2), Status::Pending);
        assert_eq!(tally(q, 5, 3, 2), Status::Approved);
        assert_eq!(tally(q, 5, 2, 3), Status::Rejected);
        assert_eq!(
            tally(q, 2, 0, 0),
            Status::Rejected,
            "unreachable from the start"
        );
        assert_eq!(needed(q, 5), 3);
    }

    proptest! {
        #[test]
        fn tallies_are_monotonic(eligible in 1usize..10, yes in 0usize..10, no in 0usize..10, n in 1u32..10) {
            prop_assume!(yes + no <= eligible);
            for rule in [Rule::Any, Rule::All, Rule::Quorum { n }] {
                let now = tally(rule, eligible, yes, no);
                // A decided stage stays decided the same way whatever comes later.
                if now != Status::Pending && yes + no < eligible {
                    let more_yes = tally(rule, eligible, yes + 1, no);
                    let more_no = tally(rule, eligible, yes, no + 1);
                    if rule != Rule::Any {
                        prop_assert!(more_yes == now || now == Status::Rejected && more_yes == Status::Rejected);
                    }
                    prop_assert!(more_no == now || now == Status::Approved);
                }
                // Everyone approving approves under every satisfiable rule.
                if tally(rule, eligible, 0, 0) == Status::Pending {
                    prop_assert_eq!(tally(rule, eligible, eligible, 0), Status::Approved);
                }
            }
        }
    }

    #[test]
    fn self_approval_is_refused_even_through_a_delegation() {
        let requester = id(1);
        assert_eq!(
            authorize(requester, Some(requester), &[requester, id(2)], &[], &[]),
            Err(Refusal::SelfApproval)
        );
        let delegation = Delegation {
            from: id(2),
            to: requester,
        };
        assert_eq!(
            authorize(requester, Some(requester), &[id(2)], &[], &[delegation]),
            Err(Refusal::SelfApproval)
        );
    }

    #[test]
    fn approvers_decide_once() {
        assert_eq!(
            authorize(id(2), Some(id(1)), &[id(2), id(3)], &[], &[]),
            Ok(id(2))
        );
        assert_eq!(
            authorize(id(2), Some(id(1)), &[id(2), id(3)], &[id(2)], &[]),
            Err(Refusal::AlreadyDecided)
        );
        assert_eq!(
            authorize(id(9), Some(id(1)), &[id(2), id(3)], &[], &[]),
            Err(Refusal::NotAnApprover)
        );
    }

    #[test]
    fn delegates_decide_in_the_place_of_their_delegator() {
        let delegations = [
            Delegation {
                from: id(3),
                to: id(9),
            },
            Delegation {
                from: id(2),
                to: id(9),
            },
        ];
        assert_eq!(
            authorize(id(9), Some(id(1)), &[id(2), id(3)], &[], &delegations),
            Ok(id(2))
        );
        assert_eq!(
            authorize(id(9), Some(id(1)), &[id(2), id(3)], &[id(2)], &delegations),
            Ok(id(3))
        );
        assert_eq!(
            authorize(
                id(9),
                Some(id(1)),
                &[id(2), id(3)],
                &[id(2), id(3)],
                &delegations
            ),
            Err(Refusal::AlreadyDecided)
        );
        // A delegation from someone who is not an approver here gives nothing.
        let elsewhere = [Delegation {
            from: id(7),
            to: id(9),
        }];
        assert_eq!(
            authorize(id(9), Some(id(1)), &[id(2)], &[], &elsewhere),
            Err(Refusal::NotAnApprover)
        );
    }

    #[test]
    fn policies_are_checked_with_the_place_named() {
        let ok = PolicyStages::parse(&json!([
            { "name": "Manager", "approvers": [{ "type": "requester_manager" }], "rule": { "type": "any" } },
            { "name": "CAB", "approvers": [{ "type": "cab", "team": id(5) }], "rule": { "type": "quorum", "n": 2 },
              "remind_after_minutes": 60, "expire_after_minutes": 1440, "on_expiry": "escalate" }
        ]))
        .expect("valid");
        assert_eq!(ok.0.len(), 2);
        assert_eq!(ok.0[1].on_expiry, OnExpiry::Escalate);

        let errors = PolicyStages::parse(&json!([
            { "name": "", "approvers": [], "rule": { "type": "quorum", "n": 0 },
              "remind_after_minutes": 100, "expire_after_minutes": 50 },
            { "name": "x", "approvers": [{ "type": "person", "id": id(2) }], "rule": { "type": "any" }, "on_expiry": "approve" }
        ]))
        .expect_err("invalid");
        let fields: Vec<String> = errors.iter().map(|e| e.field.to_string()).collect();
        assert_eq!(
            fields,
            [
                "stages[0].name",
                "stages[0].approvers",
                "stages[0].rule",
                "stages[0].remind_after_minutes",
                "stages[1].on_expiry"
            ]
        );
        assert!(PolicyStages::parse(&json!([])).is_err());
        assert!(PolicyStages::parse(
            &json!([{ "name": "x", "approvers": [{ "type": "boss" }], "rule": { "type": "any" } }])
        )
        .is_err());
    }
}
