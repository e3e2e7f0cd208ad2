//! Priority as a function of impact and urgency.
//!
//! Organizations disagree about the exact table, so the matrix is data, not
//! code: [`PriorityMatrix::itil_default`] is only a starting point.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A three-step scale, used for both impact and urgency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    High,
    Medium,
    Low,
}

string_enum!(Level, "level", {
    High => "high",
    Medium => "medium",
    Low => "low",
});

/// How soon a ticket should be worked, P1 being the most pressing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    P1,
    P2,
    P3,
    P4,
    P5,
}

string_enum!(Priority, "priority", {
    P1 => "p1",
    P2 => "p2",
    P3 => "p3",
    P4 => "p4",
    P5 => "p5",
});

impl Priority {
    /// A human name for the priority, for display next to the code.
    pub const fn label(self) -> &'static str {
        match self {
            Priority::P1 => "critical",
            Priority::P2 => "high",
            Priority::P3 => "moderate",
            Priority::P4 => "low",
            Priority::P5 => "planning",
        }
    }
}

/// An organization's impact × urgency → priority table.
///
/// Serializes as nested objects keyed by impact and then urgency, e.g.
/// `{"high":{"high":"p1","medium":"p2","low":"p3"},"medium":{…},"low":{…}}`,
/// so that admins can read and edit it as configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorityMatrix {
    high: ByUrgency,
    medium: ByUrgency,
    low: ByUrgency,
}

/// One impact row of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ByUrgency {
    high: Priority,
    medium: Priority,
    low: Priority,
}

impl ByUrgency {
    fn get(&self, urgency: Level) -> Priority {
        match urgency {
            Level::High => self.high,
            Level::Medium => self.medium,
            Level::Low => self.low,
        }
    }

    fn get_mut(&mut self, urgency: Level) -> &mut Priority {
        match urgency {
            Level::High => &mut self.high,
            Level::Medium => &mut self.medium,
            Level::Low => &mut self.low,
        }
    }
}

impl PriorityMatrix {
    /// The usual ITIL table: priority drops one step for each step that
    /// impact or urgency drops.
    pub const fn itil_default() -> Self {
        use Priority::*;
        Self {
            high: ByUrgency {
                high: P1,
                medium: P2,
                low: P3,
            },
            medium: ByUrgency {
                high: P2,
                medium: P3,
                low: P4,
            },
            low: ByUrgency {
                high: P3,
                medium: P4,
                low: P5,
            },
        }
    }

    /// The priority for a ticket with the given impact and urgency.
    pub fn priority(&self, impact: Level, urgency: Level) -> Priority {
        self.row(impact).get(urgency)
    }

    /// Overrides one cell of the table.
    pub fn set(&mut self, impact: Level, urgency: Level, priority: Priority) {
        *self.row_mut(impact).get_mut(urgency) = priority;
    }

    /// Reads a matrix from its JSON form, checking it more carefully than
    /// plain deserialization so that an admin gets a message naming every
    /// missing cell rather than only the first missing key.
    pub fn from_json(value: &Value) -> Result<Self, String> {
        let rows = value.as_object().ok_or_else(|| {
            "priority matrix must be a JSON object keyed by impact (high, medium, low)".to_owned()
        })?;
        reject_unknown_keys(rows, "impact")?;

        let mut matrix = Self::itil_default();
        let mut missing = Vec::new();
        for impact in Level::ALL {
            let row = match rows.get(impact.as_str()) {
                None => None,
                Some(row) => Some(row.as_object().ok_or_else(|| {
                    format!("priority matrix impact={impact} must be an object keyed by urgency")
                })?),
            };
            if let Some(row) = row {
                reject_unknown_keys(row, "urgency")?;
            }
            for urgency in Level::ALL {
                let cell = format!("impact={impact} urgency={urgency}");
                match row.and_then(|r| r.get(urgency.as_str())) {
                    None => missing.push(cell),
                    Some(Value::String(s)) => {
                        let priority = Priority::parse(s)
                            .map_err(|e| format!("priority matrix {cell}: {e}"))?;
                        matrix.set(impact, urgency, priority);
                    }
                    Some(other) => {
                        return Err(format!(
                            "priority matrix {cell}: expected a priority like \"p1\", got {other}"
                        ))
                    }
                }
            }
        }
        if missing.is_empty() {
            Ok(matrix)
        } else {
            Err(format!("priority matrix is missing {}", missing.join(", ")))
        }
    }

    fn row(&self, impact: Level) -> &ByUrgency {
        match impact {
            Level::High => &self.high,
            Level::Medium => &self.medium,
            Level::Low => &self.low,
        }
    }

    fn row_mut(&mut self, impact: Level) -> &mut ByUrgency {
        match impact {
            Level::High => &mut self.high,
            Level::Medium => &mut self.medium,
            Level::Low => &mut self.low,
        }
    }
}

impl Default for PriorityMatrix {
    fn default() -> Self {
        Self::itil_default()
    }
}

/// A misspelled key would otherwise be silently ignored and the intended
/// cell reported as missing, which hides the real mistake.
fn reject_unknown_keys(object: &serde_json::Map<String, Value>, what: &str) -> Result<(), String> {
    match object.keys().find(|k| Level::parse(k).is_err()) {
        Some(key) => Err(format!(
            "priority matrix has unknown {what} `{key}`; expected one of: high, medium, low"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn itil_default_table() {
        use Level::*;
        use Priority::*;
        let m = PriorityMatrix::default();
        let expected = [
            (High, High, P1),
            (High, Medium, P2),
            (Medium, High, P2),
            (High, Low, P3),
            (Medium, Medium, P3),
            (Low, High, P3),
            (Medium, Low, P4),
            (Low, Medium, P4),
            (Low, Low, P5),
        ];
        for (impact, urgency, priority) in expected {
            assert_eq!(m.priority(impact, urgency), priority, "{impact}/{urgency}");
        }
    }

    #[test]
    fn serializes_as_readable_nested_objects() {
        let value = serde_json::to_value(PriorityMatrix::itil_default()).ok();
        assert_eq!(
            value,
            Some(json!({
                "high": {"high": "p1", "medium": "p2", "low": "p3"},
                "medium": {"high": "p2", "medium": "p3", "low": "p4"},
                "low": {"high": "p3", "medium": "p4", "low": "p5"},
            }))
        );
    }

    #[test]
    fn from_json_names_missing_cells() {
        let value = json!({
            "high": {"high": "p1", "medium": "p2"},
            "medium": {"high": "p2", "medium": "p3", "low": "p4"},
        });
        assert_eq!(
            PriorityMatrix::from_json(&value),
            Err("priority matrix is missing impact=high urgency=low, \
                 impact=low urgency=high, impact=low urgency=medium, impact=low urgency=low"
                .to_owned())
        );
    }

    #[test]
    fn from_json_rejects_bad_cells_and_keys() {
        let mut value = serde_json::to_value(PriorityMatrix::itil_default()).unwrap_or_default();
        value["low"]["low"] = json!("p9");
        let err = PriorityMatrix::from_json(&value).err().unwrap_or_default();
        assert!(err.starts_with("priority matrix impact=low urgency=low: unknown priority `p9`"));

        value["low"]["low"] = json!(5);
        assert!(PriorityMatrix::from_json(&value).is_err());

        value["low"]["low"] = json!("p5");
        value["urgent"] = json!({});
        let err = PriorityMatrix::from_json(&value).err().unwrap_or_default();
        assert!(err.contains("unknown impact `urgent`"), "{err}");

        assert!(PriorityMatrix::from_json(&json!([])).is_err());
    }

    #[test]
    fn names_roundtrip_and_match_serde() {
        for level in Level::ALL {
            assert_eq!(Level::parse(level.as_str()), Ok(level));
            assert_eq!(
                serde_json::to_value(level).ok(),
                Some(Value::from(level.as_str()))
            );
        }
        for priority in Priority::ALL {
            assert_eq!(Priority::parse(priority.as_str()), Ok(priority));
            assert_eq!(priority.to_string(), priority.as_str());
            assert_eq!(
                serde_json::to_value(priority).ok(),
                Some(Value::from(priority.as_str()))
            );
        }
        assert_eq!(Priority::parse("P1"), Ok(Priority::P1));
        assert_eq!(Priority::P3.label(), "moderate");
    }

    fn any_matrix() -> impl Strategy<Value = PriorityMatrix> {
        proptest::collection::vec(proptest::sample::select(Priority::ALL.to_vec()), 9).prop_map(
            |cells| {
                let mut m = PriorityMatrix::itil_default();
                let coords = Level::ALL
                    .into_iter()
                    .flat_map(|i| Level::ALL.into_iter().map(move |u| (i, u)));
                for ((impact, urgency), p) in coords.zip(cells) {
                    m.set(impact, urgency, p);
                }
                m
            },
        )
    }

    proptest! {
        #[test]
        fn json_roundtrip(matrix in any_matrix()) {
            let value = serde_json::to_value(&matrix).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(PriorityMatrix::from_json(&value), Ok(matrix.clone()));
            let back: PriorityMatrix = serde_json::from_value(value)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, matrix);
        }
    }
}
