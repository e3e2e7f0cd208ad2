//! The domain layer: pure rules, no I/O, imports nothing from the project.
//!
//! Everything here is plain data and functions over it — ticket kinds and
//! their state machines, priority calculation, ticket numbers, the audit hash
//! chain and validated text — so the rules can be tested in isolation and
//! reused by every adapter (HTTP, chat, storage) without dragging them along.

/// Implements `ALL`, `as_str`, `parse`, `Display` and `FromStr` for a
/// field-less enum, from a single table of variant ⇄ wire-name pairs.
///
/// Keeping the names in one table is what guarantees that `as_str` and
/// `parse` stay inverse to each other; the serde attributes on each enum must
/// agree with it, which every module checks in its tests.
macro_rules! string_enum {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every variant, in declaration order.
            pub const ALL: [$ty; [$($name),+].len()] = [$($ty::$variant),+];

            /// The stable wire name, as used in JSON, the database and commands.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }

            /// Parses a wire name. Surrounding whitespace and ASCII case are
            /// ignored because values often come from people typing in chat.
            pub fn parse(value: &str) -> Result<Self, super::ParseEnumError> {
                let wanted = value.trim();
                Self::ALL
                    .into_iter()
                    .find(|v| v.as_str().eq_ignore_ascii_case(wanted))
                    .ok_or_else(|| super::ParseEnumError {
                        what: $what,
                        value: value.to_owned(),
                        expected: Self::ALL.map(Self::as_str).join(", "),
                    })
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = super::ParseEnumError;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::parse(value)
            }
        }
    };
}

pub mod alert;
pub mod approval;
pub mod approval_link;
pub mod assignment;
pub mod audit;
pub mod availability;
pub mod calendar;
pub mod change;
pub mod channel;
pub mod cmdb;
pub mod cmdb_graph;
pub mod escalation;
pub mod form;
#[cfg(test)]
pub mod fuzz;
pub mod id;
pub mod link;
pub mod macros;
pub mod mail;
pub mod notify;
pub mod number;
pub mod password;
pub mod priority;
pub mod problem;
pub mod report;
pub mod role;
pub mod rule;
pub mod scim;
pub mod scim_filter;
pub mod scim_patch;
pub mod seal;
pub mod sla;
pub mod text;
pub mod ticket;
pub mod totp;
pub mod worklog;

pub use channel::Channel;
pub use number::TicketNumber;
pub use priority::{Level, Priority, PriorityMatrix};
pub use role::Role;
pub use text::FieldError;
pub use ticket::{Kind, State, TransitionError};

/// A string did not name any variant of one of the domain enums.
///
/// Shared by every enum so callers can report bad input uniformly, including
/// the list of values that would have been accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}`; expected one of: {expected}")]
pub struct ParseEnumError {
    /// What was being parsed, e.g. `"state"`.
    pub what: &'static str,
    /// The input as given.
    pub value: String,
    /// The accepted values, comma-separated.
    pub expected: String,
}
