//! How a team spreads its tickets over its agents: the strategies, who is
//! eligible (present, on shift, under the cap, skilled), and the pick with
//! the reason the activity shows. Pure: the desk reads the candidates
//! under the team's lock and writes the outcome.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A team's assignment strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Tickets wait in the team's queue for someone to take them.
    #[default]
    None,
    /// The present agent whose last automatic assignment is oldest.
    RoundRobin,
    /// The present agent with the least open work, weighted by priority.
    LeastLoaded,
    /// Among present agents holding every skill the ticket needs, the
    /// least loaded.
    Skills,
}

string_enum!(Strategy, "assignment strategy", {
    None => "none",
    RoundRobin => "round_robin",
    LeastLoaded => "least_loaded",
    Skills => "skills",
});

/// How much an open ticket of a priority weighs in an agent's workload:
/// one `p1` counts as much as five `p5`s.
pub fn priority_weight(priority: &str) -> i64 {
    match priority {
        "p1" => 5,
        "p2" => 4,
        "p3" => 3,
        "p4" => 2,
        _ => 1,
    }
}

/// A team member as the pick sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub person_id: Uuid,
    pub name: String,
    /// Open tickets assigned to them now (any team).
    pub open: i64,
    /// The same, each weighted by [`priority_weight`].
    pub load: i64,
    /// The team's rotation turn of their last automatic assignment (0: never).
    pub last_turn: i64,
    pub skills: BTreeSet<String>,
    /// Absent now (an out-of-office period covers this instant).
    pub away: bool,
    /// Outside their working hours now.
    pub off_shift: bool,
}

/// Why nobody was picked, or who was and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// The strategy is `none`.
    Manual,
    Assigned {
        person_id: Uuid,
        reason: String,
    },
    /// Nobody eligible: the ticket waits in the queue; the reason says why.
    Nobody {
        reason: String,
    },
}

/// Picks the agent for a ticket. `required` are the skills the ticket
/// needs (used by [`Strategy::Skills`] only); `cap` the most open tickets
/// an agent may hold before getting no more.
pub fn pick(
    strategy: Strategy,
    candidates: &[Candidate],
    required: &BTreeSet<String>,
    cap: Option<i64>,
) -> Pick {
    if strategy == Strategy::None {
        return Pick::Manual;
    }
    let present: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| !c.away && !c.off_shift && cap.is_none_or(|cap| c.open < cap))
        .collect();
    if present.is_empty() {
        let reason = match cap {
            _ if candidates.is_empty() => "the team has no agents".to_string(),
            Some(cap) if candidates.iter().any(|c| !c.away && !c.off_shift) => {
                format!("every present agent holds {cap} open tickets or more")
            }
            _ => "no agent is present".to_string(),
        };
        return Pick::Nobody { reason };
    }
    // Ties go to the agent whose turn is oldest, then by name and id, so
    // the outcome never depends on the order the database answered in.
    let by_turn = |c: &Candidate| (c.last_turn, c.name.clone(), c.person_id);
    match strategy {
        Strategy::None => Pick::Manual,
        Strategy::RoundRobin => {
            let chosen = present.iter().copied().min_by_key(|c| by_turn(c));
            assigned(chosen, |_| "round-robin".to_string())
        }
        Strategy::LeastLoaded => {
            let chosen = present.iter().copied().min_by_key(|c| (c.load, by_turn(c)));
            assigned(chosen, |c| format!("least loaded: {} open", c.open))
        }
        Strategy::Skills => {
            let skilled: Vec<&Candidate> = present
                .iter()
                .filter(|c| required.is_subset(&c.skills))
                .copied()
                .collect();
            if skilled.is_empty() {
                let skills: Vec<&str> = required.iter().map(String::as_str).collect();
                return Pick::Nobody {
                    reason: format!("no present agent has the skills {}", skills.join(", ")),
                };
            }
            let chosen = skilled.iter().copied().min_by_key(|c| (c.load, by_turn(c)));
            assigned(chosen, |c| {
                if required.is_empty() {
                    format!("skills: none needed; least loaded: {} open", c.open)
                } else {
                    let skills: Vec<&str> = required.iter().map(String::as_str).collect();
                    format!("skills: {}; {} open", skills.join(", "), c.open)
                }
            })
        }
    }
}

fn assigned(chosen: Option<&Candidate>, reason: impl Fn(&Candidate) -> String) -> Pick {
    match chosen {
        Some(c) => Pick::Assigned {
            person_id: c.person_id,
            reason: reason(c),
        },
        None => Pick::Nobody {
            reason: "no agent is present".into(),
        },
    }
}

/// A skill or a ticket tag as stored: trimmed, lower case, 1–50 of
/// letters, digits and `-_.:/`, so `SAP` and ` sap ` are one tag.
pub fn normalize_label(what: &str, value: &str) -> Result<String, String> {
    let label = value.trim().to_lowercase();
    if label.is_empty() || label.chars().count() > 50 {
        return Err(format!("a {what} has 1 to 50 characters"));
    }
    if let Some(bad) = label
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/')))
    {
        return Err(format!(
            "a {what} is letters, digits and - _ . : / only, not `{bad}`"
        ));
    }
    Ok(label)
}

/// Normalizes a list of labels, dropping duplicates, keeping the order.
pub fn normalize_labels(what: &str, values: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        let label = normalize_label(what, value)?;
        if !out.contains(&label) {
            out.push(label);
        }
    }
    if out.len() > 30 {
        return Err(format!("at most 30 {what}s"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(name: &str, open: i64, load: i64, last_turn: i64) -> Candidate {
        Candidate {
            person_id: Uuid::from_u128(name.bytes().map(u128::from).sum()),
            name: name.into(),
            open,
            load,
            last_turn,
            skills: BTreeSet::new(),
            away: false,
            off_shift: false,
        }
    }

    fn who(pick: &Pick) -> Option<Uuid> {
        match pick {
            Pick::Assigned { person_id, .. } => Some(*person_id),
            _ => None,
        }
    }

    #[test]
    fn wire_names_round_trip() {
        for s in Strategy::ALL {
            assert_eq!(Strategy::parse(s.as_str()), Ok(s));
            let json = serde_json::to_value(s).expect("json");
            assert_eq!(json, s.as_str());
        }
        let err = Strategy::parse("random").expect_err("unknown");
        assert!(err
            .to_string()
            .contains("round_robin, least_loaded, skills"));
    }

    #[test]
    fn round_robin_takes_the_oldest_turn_and_skips_the_absent() {
        let mut team = vec![
            agent("ana", 0, 0, 3),
            agent("bo", 0, 0, 1),
            agent("cy", 0, 0, 2),
        ];
        team[1].away = true;
        let pick = pick(Strategy::RoundRobin, &team, &BTreeSet::new(), None);
        assert_eq!(who(&pick), Some(team[2].person_id));
        assert!(matches!(pick, Pick::Assigned { reason, .. } if reason == "round-robin"));
    }

    #[test]
    fn least_loaded_weighs_priority_and_reports_the_count() {
        let team = vec![agent("ana", 1, 5, 0), agent("bo", 3, 3, 0)];
        match pick(Strategy::LeastLoaded, &team, &BTreeSet::new(), None) {
            Pick::Assigned { person_id, reason } => {
                assert_eq!(person_id, team[1].person_id);
                assert_eq!(reason, "least loaded: 3 open");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn equal_loads_rotate() {
        let team = vec![agent("ana", 1, 2, 7), agent("bo", 1, 2, 6)];
        assert_eq!(
            who(&pick(Strategy::LeastLoaded, &team, &BTreeSet::new(), None)),
            Some(team[1].person_id)
        );
    }

    #[test]
    fn skills_need_every_required_skill() {
        let mut team = vec![agent("ana", 0, 0, 0), agent("bo", 4, 9, 0)];
        team[0].skills.insert("windows".into());
        team[1]
            .skills
            .extend(["network".to_string(), "windows".to_string()]);
        let required: BTreeSet<String> = ["network".to_string()].into();
        match pick(Strategy::Skills, &team, &required, None) {
            Pick::Assigned { person_id, reason } => {
                assert_eq!(person_id, team[1].person_id);
                assert_eq!(reason, "skills: network; 4 open");
            }
            other => panic!("{other:?}"),
        }
        let rare: BTreeSet<String> = ["mainframe".to_string()].into();
        assert!(matches!(
            pick(Strategy::Skills, &team, &rare, None),
            Pick::Nobody { reason } if reason.contains("mainframe")
        ));
    }

    #[test]
    fn the_cap_and_shifts_hold_agents_back() {
        let mut team = vec![agent("ana", 5, 5, 0), agent("bo", 1, 1, 9)];
        team[1].off_shift = true;
        assert!(matches!(
            pick(Strategy::RoundRobin, &team, &BTreeSet::new(), Some(5)),
            Pick::Nobody { .. }
        ));
        assert_eq!(
            who(&pick(
                Strategy::RoundRobin,
                &team,
                &BTreeSet::new(),
                Some(6)
            )),
            Some(team[0].person_id)
        );
        assert_eq!(
            pick(Strategy::None, &team, &BTreeSet::new(), None),
            Pick::Manual
        );
    }

    #[test]
    fn labels_are_normalized() {
        assert_eq!(normalize_label("tag", "  SAP ").as_deref(), Ok("sap"));
        assert!(normalize_label("tag", "two words").is_err());
        assert!(normalize_label("skill", "").is_err());
        assert_eq!(
            normalize_labels("tag", &["VPN".into(), "vpn".into(), "emea/de".into()]),
            Ok(vec!["vpn".to_string(), "emea/de".to_string()])
        );
    }
}
