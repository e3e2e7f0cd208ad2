//! Change management rules: change types and the moves each allows, the
//! risk questionnaire and its score, planned windows and their conflicts,
//! and the post-implementation review.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{text::FieldError, State};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeType {
    /// Pre-approved, low risk, from a template.
    Standard,
    /// Risk assessment, then the CAB.
    Normal,
    /// Expedited approval (emergency CAB); review is mandatory.
    Emergency,
}

string_enum!(ChangeType, "change type", {
    Standard => "standard",
    Normal => "normal",
    Emergency => "emergency",
});

/// Why a change may not make a move that its kind's machine allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    #[error("a {0} change needs a risk assessment before it leaves assessment")]
    NeedsRisk(ChangeType),
    #[error("a {0} change needs a planned window before it leaves assessment")]
    NeedsWindow(ChangeType),
    #[error("a standard change is pre-approved: it goes from assessment to scheduled")]
    StandardSkipsApproval,
    #[error(
        "a {0} change must be approved: submit it for approval (assessment → awaiting_approval)"
    )]
    NeedsApproval(ChangeType),
    #[error("the approval decides this move; it cannot be made by hand")]
    DecidedByApproval,
    #[error("a {0} change needs a post-implementation review before it is closed")]
    NeedsReview(ChangeType),
}

/// What a change has, for the flow checks.
#[derive(Debug, Clone, Copy)]
pub struct ChangeFacts {
    pub change_type: ChangeType,
    pub risk_assessed: bool,
    pub window_planned: bool,
    pub reviewed: bool,
}

impl ChangeType {
    /// Whether the change type must pass a review before it closes.
    pub const fn review_required(self) -> bool {
        matches!(self, ChangeType::Normal | ChangeType::Emergency)
    }

    /// Checks a move by hand (agents, API, chat) beyond the state machine.
    /// Moves out of `awaiting_approval` are the approval's to make.
    pub fn check_move(facts: ChangeFacts, from: State, to: State) -> Result<(), FlowError> {
        let t = facts.change_type;
        match (from, to) {
            (State::Assessment, State::Scheduled | State::AwaitingApproval) => {
                if t != ChangeType::Standard && !facts.risk_assessed {
                    return Err(FlowError::NeedsRisk(t));
                }
                if !facts.window_planned {
                    return Err(FlowError::NeedsWindow(t));
                }
                match (t, to) {
                    (ChangeType::Standard, State::AwaitingApproval) => {
                        Err(FlowError::StandardSkipsApproval)
                    }
                    (ChangeType::Normal | ChangeType::Emergency, State::Scheduled) => {
                        Err(FlowError::NeedsApproval(t))
                    }
                    _ => Ok(()),
                }
            }
            (State::AwaitingApproval, State::Scheduled | State::Rejected) => {
                Err(FlowError::DecidedByApproval)
            }
            (State::Review, State::Closed) if t.review_required() && !facts.reviewed => {
                Err(FlowError::NeedsReview(t))
            }
            _ => Ok(()),
        }
    }
}

/// A risk level from a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
}

string_enum!(RiskLevel, "risk level", {
    Low => "low",
    Medium => "medium",
    High => "high",
});

/// One question of the risk questionnaire with the weight of each answer.
#[derive(Debug, Clone, Serialize)]
pub struct RiskQuestion {
    pub key: &'static str,
    pub text: &'static str,
    pub answers: &'static [(&'static str, u32)],
}

/// The risk questionnaire. Scores add up; 0–5 is low, 6–11 medium, 12+ high.
pub const RISK_QUESTIONS: &[RiskQuestion] = &[
    RiskQuestion {
        key: "user_impact",
        text: "How many users are affected while the change is implemented?",
        answers: &[("none", 0), ("some", 2), ("many", 4), ("all", 6)],
    },
    RiskQuestion {
        key: "complexity",
        text: "How complex is the implementation?",
        answers: &[("simple", 0), ("moderate", 2), ("complex", 4)],
    },
    RiskQuestion {
        key: "tested",
        text: "Was the change tested in a production-like environment?",
        answers: &[("yes", 0), ("partly", 2), ("no", 4)],
    },
    RiskQuestion {
        key: "rollback",
        text: "Can the change be rolled back?",
        answers: &[("easily", 0), ("with_effort", 2), ("no", 5)],
    },
    RiskQuestion {
        key: "done_before",
        text: "Has this kind of change been done successfully before?",
        answers: &[("often", 0), ("once", 1), ("never", 3)],
    },
];

const MEDIUM_FROM: u32 = 6;
const HIGH_FROM: u32 = 12;

/// A completed questionnaire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RiskAssessment {
    pub answers: BTreeMap<String, String>,
    pub score: u32,
    pub level: RiskLevel,
}

/// Scores answers to [`RISK_QUESTIONS`]; every question must be answered.
pub fn assess_risk(answers: &BTreeMap<String, String>) -> Result<RiskAssessment, Vec<FieldError>> {
    let mut errors = Vec::new();
    for key in answers.keys() {
        if !RISK_QUESTIONS.iter().any(|q| q.key == key) {
            errors.push(FieldError::new(
                format!("answers.{key}"),
                "is not a question of the risk questionnaire",
            ));
        }
    }
    let mut score = 0;
    for question in RISK_QUESTIONS {
        let place = format!("answers.{}", question.key);
        match answers.get(question.key) {
            None => errors.push(FieldError::new(place, "is required")),
            Some(given) => match question.answers.iter().find(|(a, _)| a == given) {
                Some((_, weight)) => score += weight,
                None => {
                    let options: Vec<&str> = question.answers.iter().map(|(a, _)| *a).collect();
                    errors.push(FieldError::new(
                        place,
                        format!("`{given}` is not one of: {}", options.join(", ")),
                    ));
                }
            },
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let level = match score {
        s if s >= HIGH_FROM => RiskLevel::High,
        s if s >= MEDIUM_FROM => RiskLevel::Medium,
        _ => RiskLevel::Low,
    };
    Ok(RiskAssessment {
        answers: answers.clone(),
        score,
        level,
    })
}

/// A planned window: start inclusive, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Window {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self, FieldError> {
        if end <= start {
            return Err(FieldError::new(
                "planned_end",
                "must be after planned_start",
            ));
        }
        if end - start > chrono::Duration::days(31) {
            return Err(FieldError::new(
                "planned_end",
                "a change window may last at most 31 days",
            ));
        }
        Ok(Self { start, end })
    }

    /// Whether the two windows share any instant; back-to-back windows do not.
    pub fn overlaps(&self, other: &Window) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// Another change planned in an overlapping window on a shared CI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// The other change's number, or the freeze window's name.
    pub with: String,
    pub kind: ConflictKind,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The configuration items both changes touch (empty for freezes).
    pub shared_cis: Vec<Uuid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    Change,
    Freeze,
}

/// A candidate for a conflict: another change's window and CIs.
#[derive(Debug, Clone)]
pub struct PlannedChange {
    pub number: String,
    pub window: Window,
    pub cis: Vec<Uuid>,
}

/// Conflicts of `window` on `cis` with other changes and with freezes.
pub fn conflicts(
    window: &Window,
    cis: &[Uuid],
    others: &[PlannedChange],
    freezes: &[(String, Window)],
) -> Vec<Conflict> {
    let mut found = Vec::new();
    for other in others {
        if !window.overlaps(&other.window) {
            continue;
        }
        let mut shared: Vec<Uuid> = other
            .cis
            .iter()
            .filter(|c| cis.contains(c))
            .copied()
            .collect();
        shared.sort();
        shared.dedup();
        if !shared.is_empty() {
            found.push(Conflict {
                with: other.number.clone(),
                kind: ConflictKind::Change,
                start: other.window.start,
                end: other.window.end,
                shared_cis: shared,
            });
        }
    }
    for (name, freeze) in freezes {
        if window.overlaps(freeze) {
            found.push(Conflict {
                with: name.clone(),
                kind: ConflictKind::Freeze,
                start: freeze.start,
                end: freeze.end,
                shared_cis: Vec::new(),
            });
        }
    }
    found
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewOutcome {
    Successful,
    SuccessfulWithIssues,
    Failed,
    RolledBack,
}

string_enum!(ReviewOutcome, "review outcome", {
    Successful => "successful",
    SuccessfulWithIssues => "successful_with_issues",
    Failed => "failed",
    RolledBack => "rolled_back",
});

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, hour, 0, 0)
            .single()
            .expect("valid time")
    }

    fn facts(change_type: ChangeType, risk: bool, window: bool, reviewed: bool) -> ChangeFacts {
        ChangeFacts {
            change_type,
            risk_assessed: risk,
            window_planned: window,
            reviewed,
        }
    }

    #[test]
    fn risk_scores_and_levels() {
        let answers = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let low = assess_risk(&answers(&[
            ("user_impact", "none"),
            ("complexity", "simple"),
            ("tested", "yes"),
            ("rollback", "easily"),
            ("done_before", "often"),
        ]))
        .expect("complete");
        assert_eq!((low.score, low.level), (0, RiskLevel::Low));
        let medium = assess_risk(&answers(&[
            ("user_impact", "some"),
            ("complexity", "moderate"),
            ("tested", "partly"),
            ("rollback", "easily"),
            ("done_before", "often"),
        ]))
        .expect("complete");
        assert_eq!((medium.score, medium.level), (6, RiskLevel::Medium));
        let high = assess_risk(&answers(&[
            ("user_impact", "all"),
            ("complexity", "complex"),
            ("tested", "no"),
            ("rollback", "no"),
            ("done_before", "never"),
        ]))
        .expect("complete");
        assert_eq!((high.score, high.level), (22, RiskLevel::High));

        let errors = assess_risk(&answers(&[("user_impact", "lots"), ("colour", "red")]))
            .expect_err("incomplete");
        let fields: Vec<String> = errors.iter().map(|e| e.field.to_string()).collect();
        assert_eq!(
            fields,
            [
                "answers.colour",
                "answers.user_impact",
                "answers.complexity",
                "answers.tested",
                "answers.rollback",
                "answers.done_before"
            ]
        );
    }

    #[test]
    fn windows_overlap_only_when_they_share_time() {
        let a = Window::new(at(1), at(3)).expect("valid");
        assert!(a.overlaps(&Window::new(at(2), at(4)).expect("valid")));
        assert!(a.overlaps(&Window::new(at(0), at(5)).expect("valid")));
        assert!(
            !a.overlaps(&Window::new(at(3), at(4)).expect("valid")),
            "back to back"
        );
        assert!(Window::new(at(3), at(3)).is_err());
        assert!(Window::new(at(3), at(1)).is_err());
    }

    #[test]
    fn conflicts_need_overlap_and_a_shared_ci() {
        let (db, web, dns) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let window = Window::new(at(1), at(3)).expect("valid");
        let others = [
            PlannedChange {
                number: "CHG0000001".into(),
                window: Window::new(at(2), at(5)).expect("valid"),
                cis: vec![db, dns],
            },
            PlannedChange {
                number: "CHG0000002".into(),
                window: Window::new(at(2), at(5)).expect("valid"),
                cis: vec![dns],
            },
            PlannedChange {
                number: "CHG0000003".into(),
                window: Window::new(at(5), at(6)).expect("valid"),
                cis: vec![db],
            },
        ];
        let freezes = [
            (
                "Year-end freeze".to_string(),
                Window::new(at(0), at(2)).expect("valid"),
            ),
            (
                "Later".to_string(),
                Window::new(at(4), at(8)).expect("valid"),
            ),
        ];
        let found = conflicts(&window, &[db, web], &others, &freezes);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].with, "CHG0000001");
        assert_eq!(found[0].shared_cis, vec![db]);
        assert_eq!(
            (found[1].with.as_str(), found[1].kind),
            ("Year-end freeze", ConflictKind::Freeze)
        );
    }

    #[test]
    fn flows_per_type() {
        use ChangeType::*;
        use State::*;
        // Standard: straight to scheduled, never through approval.
        assert_eq!(
            ChangeType::check_move(facts(Standard, false, true, false), Assessment, Scheduled),
            Ok(())
        );
        assert_eq!(
            ChangeType::check_move(
                facts(Standard, false, true, false),
                Assessment,
                AwaitingApproval
            ),
            Err(FlowError::StandardSkipsApproval)
        );
        // Normal and emergency: risk and window, then approval.
        assert_eq!(
            ChangeType::check_move(
                facts(Normal, false, true, false),
                Assessment,
                AwaitingApproval
            ),
            Err(FlowError::NeedsRisk(Normal))
        );
        assert_eq!(
            ChangeType::check_move(
                facts(Emergency, true, false, false),
                Assessment,
                AwaitingApproval
            ),
            Err(FlowError::NeedsWindow(Emergency))
        );
        assert_eq!(
            ChangeType::check_move(facts(Normal, true, true, false), Assessment, Scheduled),
            Err(FlowError::NeedsApproval(Normal))
        );
        assert_eq!(
            ChangeType::check_move(
                facts(Normal, true, true, false),
                Assessment,
                AwaitingApproval
            ),
            Ok(())
        );
        assert_eq!(
            ChangeType::check_move(
                facts(Normal, true, true, false),
                AwaitingApproval,
                Scheduled
            ),
            Err(FlowError::DecidedByApproval)
        );
        // Review before closing, except for standard changes.
        assert_eq!(
            ChangeType::check_move(facts(Emergency, true, true, false), Review, Closed),
            Err(FlowError::NeedsReview(Emergency))
        );
        assert_eq!(
            ChangeType::check_move(facts(Emergency, true, true, true), Review, Closed),
            Ok(())
        );
        assert_eq!(
            ChangeType::check_move(facts(Standard, false, true, false), Review, Closed),
            Ok(())
        );
    }
}
