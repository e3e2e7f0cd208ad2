//! An in-memory snapshot of an organization's relationship graph, for
//! impact analysis without a database round trip per level.
//!
//! [`CmdbGraph::walk`] answers exactly what [`traverse`](super::cmdb::traverse)
//! answers when it is fed the stored edges whose ends are both active (the
//! start counts as active): same CIs, depths, paths, order and truncation. The
//! property test below holds it to that. The speed comes from the layout: CIs
//! are numbered in id order, so "sorted by id" is "sorted by number", and each
//! CI's relationships are stored once, pre-sorted in the order the walk
//! expands them.

use std::{collections::HashMap, sync::Arc};

use uuid::Uuid;

use super::cmdb::{Direction, Edge, Propagation, Reached, RelationKind, Traversal};

/// What the graph keeps of one configuration item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphCi {
    pub id: Uuid,
    /// Shared: answers repeat them for thousands of CIs.
    pub name: Arc<str>,
    pub class: Arc<str>,
    pub criticality: Arc<str>,
    /// Whether the CI passes impact on (see `Lifecycle::is_active`).
    pub active: bool,
}

/// A relationship seen from one of its ends.
#[derive(Debug, Clone, Copy)]
struct Link {
    /// The CI at the other end.
    other: u32,
    kind: RelationKind,
    /// Whether the CI this link is stored under is the relationship's source.
    outgoing: bool,
}

/// The CIs and relationships of one organization.
#[derive(Debug, Default)]
pub struct CmdbGraph {
    /// Sorted by id: a CI's number is its position here.
    cis: Vec<GraphCi>,
    number: HashMap<Uuid, u32>,
    /// The links of CI `n` are `links[offsets[n]..offsets[n + 1]]`, sorted
    /// by (kind name, other CI, source, target): the walk's expansion order.
    offsets: Vec<u32>,
    links: Vec<Link>,
}

/// The start of a walk has no number of its own in `slot`.
const START: u32 = u32::MAX - 1;
const UNSEEN: u32 = u32::MAX;

/// One CI found while walking, before its path is spelled out.
struct Found {
    ci: u32,
    depth: u32,
    /// Index in the walk's found list of the CI it was reached from, or
    /// [`START`].
    parent: u32,
    source: u32,
    kind: RelationKind,
    target: u32,
}

impl CmdbGraph {
    /// Builds the graph. Edges naming a CI not in `cis`, and self-loops,
    /// are left out (neither can be walked); of CIs listed twice the first
    /// is kept.
    pub fn new(mut cis: Vec<GraphCi>, edges: impl IntoIterator<Item = Edge>) -> Self {
        cis.sort_by_key(|c| c.id);
        cis.dedup_by_key(|c| c.id);
        let number: HashMap<Uuid, u32> = cis
            .iter()
            .enumerate()
            .filter_map(|(n, c)| Some((c.id, u32::try_from(n).ok()?)))
            .collect();
        // (CI, link, source, target), both ends of every edge.
        let mut ends: Vec<(u32, Link, u32, u32)> = Vec::new();
        for edge in edges {
            let (Some(&s), Some(&t)) = (number.get(&edge.source), number.get(&edge.target)) else {
                continue;
            };
            if s == t {
                continue;
            }
            let link = |other, outgoing| Link {
                other,
                kind: edge.kind,
                outgoing,
            };
            ends.push((s, link(t, true), s, t));
            ends.push((t, link(s, false), s, t));
        }
        ends.sort_unstable_by(|a, b| {
            (a.0, a.1.kind.as_str(), a.1.other, a.2, a.3).cmp(&(
                b.0,
                b.1.kind.as_str(),
                b.1.other,
                b.2,
                b.3,
            ))
        });
        let mut offsets = Vec::with_capacity(cis.len() + 1);
        let mut at = 0usize;
        for n in 0..cis.len() {
            offsets.push(u32::try_from(at).unwrap_or(u32::MAX));
            while ends.get(at).is_some_and(|e| e.0 as usize == n) {
                at += 1;
            }
        }
        offsets.push(u32::try_from(at).unwrap_or(u32::MAX));
        Self {
            cis,
            number,
            offsets,
            links: ends.into_iter().map(|e| e.1).collect(),
        }
    }

    pub fn ci(&self, id: Uuid) -> Option<&GraphCi> {
        self.number.get(&id).and_then(|&n| self.cis.get(n as usize))
    }

    pub fn ci_count(&self) -> usize {
        self.cis.len()
    }

    pub fn relationship_count(&self) -> usize {
        self.links.len() / 2
    }

    fn links_of(&self, n: u32) -> &[Link] {
        let from = self.offsets.get(n as usize).copied().unwrap_or(0) as usize;
        let to = self.offsets.get(n as usize + 1).copied().unwrap_or(0) as usize;
        self.links.get(from..to).unwrap_or_default()
    }

    fn id(&self, n: u32) -> Uuid {
        self.cis.get(n as usize).map(|c| c.id).unwrap_or_default()
    }

    /// Breadth-first walk from `start`, as [`traverse`](super::cmdb::traverse)
    /// over the edges whose ends are both active or the start.
    pub fn walk(
        &self,
        start: Uuid,
        direction: Direction,
        max_depth: u32,
        max_nodes: usize,
    ) -> Traversal {
        let Some(&start) = self.number.get(&start) else {
            // A CI without relationships reaches nothing.
            return Traversal {
                reached: Vec::new(),
                truncated: false,
            };
        };
        let usable = |n: u32| n == start || self.cis.get(n as usize).is_some_and(|c| c.active);
        // Per CI: UNSEEN, START, or its index in `found`.
        let mut slot = vec![UNSEEN; self.cis.len()];
        if let Some(s) = slot.get_mut(start as usize) {
            *s = START;
        }
        let mut found: Vec<Found> = Vec::new();
        let mut frontier = vec![start];
        let mut depth = 0;
        let mut truncated = false;
        while !frontier.is_empty() && depth < max_depth && !truncated {
            depth += 1;
            let mut next = Vec::new();
            'level: for &from in &frontier {
                if !usable(from) {
                    continue;
                }
                let parent = slot.get(from as usize).copied().unwrap_or(START);
                for link in self.links_of(from) {
                    let followable = match (link.kind.propagates(), direction) {
                        (Propagation::None, _) => false,
                        (Propagation::Both, _) => true,
                        (Propagation::ToSource, Direction::Upstream) => !link.outgoing,
                        (Propagation::ToSource, Direction::Downstream) => link.outgoing,
                    };
                    let to = link.other;
                    if !followable
                        || !usable(to)
                        || slot.get(to as usize).is_none_or(|&s| s != UNSEEN)
                    {
                        continue;
                    }
                    if found.len() >= max_nodes {
                        truncated = true;
                        break 'level;
                    }
                    let (source, target) = if link.outgoing {
                        (from, to)
                    } else {
                        (to, from)
                    };
                    if let Some(s) = slot.get_mut(to as usize) {
                        *s = u32::try_from(found.len()).unwrap_or(UNSEEN);
                    }
                    found.push(Found {
                        ci: to,
                        depth,
                        parent,
                        source,
                        kind: link.kind,
                        target,
                    });
                    next.push(to);
                }
            }
            next.sort_unstable();
            frontier = next;
        }
        let mut order: Vec<usize> = (0..found.len()).collect();
        order.sort_unstable_by_key(|&i| found.get(i).map(|f| (f.depth, f.ci)));
        let reached = order
            .into_iter()
            .filter_map(|i| {
                let f = found.get(i)?;
                let mut path = Vec::with_capacity(f.depth as usize);
                let mut step = Some(f);
                while let Some(s) = step {
                    path.push((self.id(s.source), s.kind, self.id(s.target)));
                    step = found.get(s.parent as usize);
                }
                path.reverse();
                Some(Reached {
                    ci: self.id(f.ci),
                    depth: f.depth,
                    path,
                })
            })
            .collect();
        Traversal { reached, truncated }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::cmdb::traverse;
    use proptest::prelude::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn ci(n: u128, active: bool) -> GraphCi {
        GraphCi {
            id: id(n),
            name: format!("ci-{n}").into(),
            class: "server".into(),
            criticality: "medium".into(),
            active,
        }
    }

    /// What the database-driven walk did: `traverse`, fed per level with the
    /// edges whose ends are both active (or the start).
    fn reference(
        cis: &[GraphCi],
        edges: &[Edge],
        start: Uuid,
        direction: Direction,
        max_depth: u32,
        max_nodes: usize,
    ) -> Traversal {
        let active: HashMap<Uuid, bool> = cis.iter().map(|c| (c.id, c.active)).collect();
        let usable = |n: Uuid| n == start || active.get(&n).copied().unwrap_or(false);
        traverse(start, direction, max_depth, max_nodes, |frontier| {
            edges
                .iter()
                .filter(|e| frontier.contains(&e.source) || frontier.contains(&e.target))
                .filter(|e| usable(e.source) && usable(e.target))
                .copied()
                .collect()
        })
    }

    fn any_case() -> impl Strategy<Value = (Vec<GraphCi>, Vec<Edge>, u128)> {
        (1u128..=30).prop_flat_map(|nodes| {
            let edge = (
                0..nodes,
                0..nodes,
                proptest::sample::select(RelationKind::ALL.to_vec()),
            )
                .prop_map(|(s, t, kind)| Edge {
                    source: id(s),
                    target: id(t),
                    kind,
                });
            (
                proptest::collection::vec(proptest::bool::weighted(0.85), nodes as usize),
                proptest::collection::vec(edge, 0..=90),
                0..nodes + 1,
            )
                .prop_map(|(active, edges, start)| {
                    let cis = active
                        .into_iter()
                        .enumerate()
                        .map(|(n, a)| ci(n as u128, a))
                        .collect();
                    (cis, edges, start)
                })
        })
    }

    proptest! {
        #[test]
        fn the_snapshot_walk_answers_what_the_level_by_level_walk_answers(
            (cis, edges, start) in any_case(),
            direction in proptest::sample::select(Direction::ALL.to_vec()),
            max_depth in 0u32..8,
            max_nodes in prop_oneof![0usize..12, Just(100_000usize)],
        ) {
            let graph = CmdbGraph::new(cis.clone(), edges.iter().copied());
            let start = id(start);
            prop_assert_eq!(
                graph.walk(start, direction, max_depth, max_nodes),
                reference(&cis, &edges, start, direction, max_depth, max_nodes)
            );
        }
    }

    #[test]
    fn counts_and_lookups() {
        let graph = CmdbGraph::new(
            vec![ci(2, true), ci(1, false), ci(2, true)],
            [
                Edge {
                    source: id(1),
                    target: id(2),
                    kind: RelationKind::DependsOn,
                },
                Edge {
                    source: id(1),
                    target: id(1),
                    kind: RelationKind::DependsOn,
                },
                Edge {
                    source: id(1),
                    target: id(9),
                    kind: RelationKind::DependsOn,
                },
            ],
        );
        assert_eq!(graph.ci_count(), 2);
        assert_eq!(graph.relationship_count(), 1);
        assert_eq!(graph.ci(id(1)).map(|c| c.active), Some(false));
        assert!(graph.ci(id(9)).is_none());
        // Walking from an inactive start still leaves it.
        let up = graph.walk(id(2), Direction::Upstream, 3, 10);
        assert_eq!(up.reached.len(), 0, "the consumer is retired");
        let down = graph.walk(id(1), Direction::Downstream, 3, 10);
        assert_eq!(down.reached.len(), 1);
        assert_eq!(
            down.reached[0].path,
            vec![(id(1), RelationKind::DependsOn, id(2))]
        );
    }
}
