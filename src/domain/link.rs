//! Ticket links and merges, without I/O.
//!
//! A link is stored once, in the direction it was declared: `from --kind-->
//! to` ("INC2 duplicate_of INC1"). Each ticket reads it from its own side:
//! the declaring ticket sees the kind, the other ticket its inverse
//! (`duplicated_by`, `causes`, `blocked_by`; `related` reads the same both
//! ways). Between two tickets there is at most one link of each kind, in
//! either direction: a second `A blocks B` is a duplicate, and `B blocks A`
//! beside it would contradict it (so would two tickets each a duplicate of
//! the other). Links may join tickets of different kinds (an incident
//! caused by a change).
//!
//! A merge closes ticket B "merged into A": the closing move is not a state
//! machine edge (an incident cannot go from `new` to `closed` by hand), so
//! it has its own rule here, [`merge_close`], which every kind allows from
//! every state that is not already final.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Kind, State};

/// What one ticket is to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    Related,
    DuplicateOf,
    CausedBy,
    Blocks,
}

string_enum!(LinkKind, "link kind", {
    Related => "related",
    DuplicateOf => "duplicate_of",
    CausedBy => "caused_by",
    Blocks => "blocks",
});

impl LinkKind {
    /// How the other ticket of the link reads it.
    pub const fn inverse(self) -> &'static str {
        match self {
            LinkKind::Related => "related",
            LinkKind::DuplicateOf => "duplicated_by",
            LinkKind::CausedBy => "causes",
            LinkKind::Blocks => "blocked_by",
        }
    }

    /// Whether the link reads the same from both tickets.
    pub const fn is_symmetric(self) -> bool {
        matches!(self, LinkKind::Related)
    }

    /// The link as seen from the ticket on `side`.
    pub const fn seen_from(self, side: Side) -> &'static str {
        match side {
            Side::From => self.as_str(),
            Side::To => self.inverse(),
        }
    }
}

/// Which end of a stored link a ticket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The ticket that declared the link.
    From,
    /// The ticket it points at.
    To,
}

/// A link's kind as one ticket reads it (`blocks` or `blocked_by` …): the
/// stored kind and which end that ticket is. `related` is either end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeenKind {
    pub kind: LinkKind,
    /// `None` for a symmetric kind: either end.
    pub side: Option<Side>,
}

impl SeenKind {
    /// Every name a ticket may read a link by.
    pub const NAMES: [&'static str; 7] = [
        "related",
        "duplicate_of",
        "duplicated_by",
        "caused_by",
        "causes",
        "blocks",
        "blocked_by",
    ];

    /// Parses a name as read from one ticket; the error names every
    /// accepted value.
    pub fn parse(value: &str) -> Result<Self, String> {
        let wanted = value.trim();
        for kind in LinkKind::ALL {
            if kind.is_symmetric() && kind.as_str().eq_ignore_ascii_case(wanted) {
                return Ok(Self { kind, side: None });
            }
            if kind.as_str().eq_ignore_ascii_case(wanted) {
                return Ok(Self {
                    kind,
                    side: Some(Side::From),
                });
            }
            if kind.inverse().eq_ignore_ascii_case(wanted) {
                return Ok(Self {
                    kind,
                    side: Some(Side::To),
                });
            }
        }
        Err(format!(
            "unknown link kind `{value}`; expected one of: {}",
            Self::NAMES.join(", ")
        ))
    }

    /// Whether the stored link `from --kind--> to`, read from `this`
    /// ticket, is one this name means.
    pub fn matches(self, link: &Link, this: Uuid) -> bool {
        link.kind == self.kind
            && match self.side {
                None => true,
                Some(Side::From) => link.from == this,
                Some(Side::To) => link.to == this,
            }
    }
}

/// A stored link between two tickets (by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub from: Uuid,
    pub to: Uuid,
    pub kind: LinkKind,
}

/// Why a link cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkRefusal {
    #[error("a ticket cannot be linked to itself")]
    ToItself,
    #[error("these tickets are already linked as {0}")]
    Exists(&'static str),
    /// The opposite link of a directional kind is there (`B blocks A`
    /// against a new `A blocks B`); the name is how the new link's
    /// declaring ticket reads the existing one.
    #[error("the other ticket already {0} this one; remove that link first")]
    Contradicts(&'static str),
}

/// Checks a new link `from --kind--> to` against the links already
/// between the two tickets (`existing` may hold links to other tickets;
/// they are ignored).
pub fn check_new(
    from: Uuid,
    to: Uuid,
    kind: LinkKind,
    existing: &[Link],
) -> Result<(), LinkRefusal> {
    if from == to {
        return Err(LinkRefusal::ToItself);
    }
    for link in existing.iter().filter(|l| l.kind == kind) {
        if link.from == from && link.to == to {
            return Err(LinkRefusal::Exists(kind.as_str()));
        }
        if link.from == to && link.to == from {
            return Err(if kind.is_symmetric() {
                LinkRefusal::Exists(kind.as_str())
            } else {
                LinkRefusal::Contradicts(contradiction(kind))
            });
        }
    }
    Ok(())
}

/// How the declaring ticket of a new link describes the opposite link
/// that stands in its way.
const fn contradiction(kind: LinkKind) -> &'static str {
    match kind {
        LinkKind::Related => "is related to",
        LinkKind::DuplicateOf => "is a duplicate of",
        LinkKind::CausedBy => "is caused by",
        LinkKind::Blocks => "blocks",
    }
}

/// What a merge needs to know of each ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeSide {
    pub id: Uuid,
    pub kind: Kind,
    pub state: State,
    /// Already merged into another ticket.
    pub merged: bool,
}

/// Why ticket B cannot be merged into A. Each names the input at fault:
/// `into` (A) or the ticket in the path (B, `ticket`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeRefusal {
    #[error("a ticket cannot be merged into itself")]
    IntoItself,
    #[error("only tickets of one kind merge: this is {from}, the other is {into}")]
    KindsDiffer { from: Kind, into: Kind },
    #[error("the ticket to merge into is {0}; merge into an open ticket")]
    IntoFinished(State),
    #[error("the ticket to merge into was itself merged into another; merge into that one")]
    IntoMerged,
    #[error("this ticket was already merged")]
    AlreadyMerged,
    #[error("this ticket is {0} and cannot be merged")]
    Finished(State),
}

impl MergeRefusal {
    /// The request field the refusal is about.
    pub const fn field(&self) -> &'static str {
        match self {
            MergeRefusal::AlreadyMerged | MergeRefusal::Finished(_) => "ticket",
            _ => "into",
        }
    }
}

/// Checks merging `from` (B) into `into` (A) and gives the state B closes
/// in: `closed`, for every kind, from any state that is not final.
pub fn merge_close(from: MergeSide, into: MergeSide) -> Result<State, MergeRefusal> {
    if from.id == into.id {
        return Err(MergeRefusal::IntoItself);
    }
    if from.merged {
        return Err(MergeRefusal::AlreadyMerged);
    }
    if from.state.is_terminal() {
        return Err(MergeRefusal::Finished(from.state));
    }
    if from.kind != into.kind {
        return Err(MergeRefusal::KindsDiffer {
            from: from.kind,
            into: into.kind,
        });
    }
    if into.merged {
        return Err(MergeRefusal::IntoMerged);
    }
    if into.state.is_terminal() {
        return Err(MergeRefusal::IntoFinished(into.state));
    }
    Ok(State::Closed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn kinds_parse_from_their_wire_names_and_list_them_when_unknown() {
        for kind in LinkKind::ALL {
            assert_eq!(LinkKind::parse(kind.as_str()), Ok(kind));
            let json = serde_json::to_value(kind).expect("json");
            assert_eq!(json, kind.as_str());
        }
        assert_eq!(LinkKind::parse(" Blocks "), Ok(LinkKind::Blocks));
        let error = LinkKind::parse("parent_of").expect_err("unknown");
        assert_eq!(
            error.to_string(),
            "unknown link kind `parent_of`; expected one of: related, duplicate_of, caused_by, blocks"
        );
    }

    #[test]
    fn each_end_reads_the_link_its_own_way() {
        let expected = [
            (LinkKind::Related, "related", "related"),
            (LinkKind::DuplicateOf, "duplicate_of", "duplicated_by"),
            (LinkKind::CausedBy, "caused_by", "causes"),
            (LinkKind::Blocks, "blocks", "blocked_by"),
        ];
        for (kind, from, to) in expected {
            assert_eq!(kind.seen_from(Side::From), from);
            assert_eq!(kind.seen_from(Side::To), to);
        }
    }

    #[test]
    fn a_seen_name_finds_the_stored_link_from_its_end_only() {
        let (a, b) = (id(1), id(2));
        let blocks = Link {
            from: a,
            to: b,
            kind: LinkKind::Blocks,
        };
        let seen = |name: &str| SeenKind::parse(name).expect(name);
        assert!(seen("blocks").matches(&blocks, a));
        assert!(!seen("blocks").matches(&blocks, b));
        assert!(seen("blocked_by").matches(&blocks, b));
        assert!(!seen("blocked_by").matches(&blocks, a));
        assert!(!seen("related").matches(&blocks, a));
        let related = Link {
            from: a,
            to: b,
            kind: LinkKind::Related,
        };
        assert!(seen("related").matches(&related, a) && seen("related").matches(&related, b));
        for name in SeenKind::NAMES {
            assert!(SeenKind::parse(name).is_ok(), "{name}");
        }
        let error = SeenKind::parse("child").expect_err("unknown");
        assert!(
            error.contains("duplicated_by, caused_by, causes"),
            "{error}"
        );
    }

    #[test]
    fn a_ticket_is_not_linked_to_itself_nor_twice_nor_both_ways() {
        let (a, b, c) = (id(1), id(2), id(3));
        assert_eq!(
            check_new(a, a, LinkKind::Related, &[]),
            Err(LinkRefusal::ToItself)
        );
        let existing = [
            Link {
                from: a,
                to: b,
                kind: LinkKind::Blocks,
            },
            Link {
                from: b,
                to: a,
                kind: LinkKind::Related,
            },
        ];
        assert_eq!(
            check_new(a, b, LinkKind::Blocks, &existing),
            Err(LinkRefusal::Exists("blocks"))
        );
        assert_eq!(
            check_new(b, a, LinkKind::Blocks, &existing),
            Err(LinkRefusal::Contradicts("blocks"))
        );
        // Related reads the same both ways: the reverse is the same link.
        assert_eq!(
            check_new(a, b, LinkKind::Related, &existing),
            Err(LinkRefusal::Exists("related"))
        );
        // Another kind between the same two, and the same kind elsewhere.
        assert_eq!(check_new(a, b, LinkKind::CausedBy, &existing), Ok(()));
        assert_eq!(check_new(a, c, LinkKind::Blocks, &existing), Ok(()));
        assert_eq!(check_new(c, a, LinkKind::Blocks, &existing), Ok(()));
    }

    fn side(n: u128, kind: Kind, state: State) -> MergeSide {
        MergeSide {
            id: id(n),
            kind,
            state,
            merged: false,
        }
    }

    #[test]
    fn every_kind_merges_from_every_open_state_into_closed() {
        for kind in Kind::ALL {
            for &state in kind.states() {
                let from = side(1, kind, state);
                let into = side(2, kind, State::New);
                let outcome = merge_close(from, into);
                if state.is_terminal() {
                    assert_eq!(
                        outcome,
                        Err(MergeRefusal::Finished(state)),
                        "{kind} {state}"
                    );
                } else {
                    assert_eq!(outcome, Ok(State::Closed), "{kind} {state}");
                    // Closed is in every kind's machine.
                    assert!(kind.states().contains(&State::Closed));
                }
            }
        }
    }

    #[test]
    fn a_merge_is_refused_into_itself_across_kinds_and_into_finished_or_merged_tickets() {
        let b = side(1, Kind::Incident, State::InProgress);
        assert_eq!(merge_close(b, b), Err(MergeRefusal::IntoItself));
        let change = side(2, Kind::Change, State::New);
        let refused = merge_close(b, change).expect_err("kinds");
        assert_eq!(refused.field(), "into");
        assert_eq!(
            refused.to_string(),
            "only tickets of one kind merge: this is incident, the other is change"
        );
        let closed = side(3, Kind::Incident, State::Closed);
        assert_eq!(
            merge_close(b, closed),
            Err(MergeRefusal::IntoFinished(State::Closed))
        );
        let merged_into = MergeSide {
            merged: true,
            ..side(4, Kind::Incident, State::Resolved)
        };
        assert_eq!(merge_close(b, merged_into), Err(MergeRefusal::IntoMerged));
        let merged = MergeSide { merged: true, ..b };
        let refused = merge_close(merged, side(5, Kind::Incident, State::New)).expect_err("merged");
        assert_eq!(refused, MergeRefusal::AlreadyMerged);
        assert_eq!(refused.field(), "ticket");
        // A resolved ticket is not final: it may still be merged.
        let resolved = side(6, Kind::Incident, State::Resolved);
        assert_eq!(
            merge_close(resolved, side(7, Kind::Incident, State::OnHold)),
            Ok(State::Closed)
        );
    }
}
