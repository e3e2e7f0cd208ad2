//! Impact analysis: walks an organization's relationship graph, cached per
//! organization in the `Desk` and rebuilt when its CMDB generation moves,
//! to list affected services and open tickets.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use uuid::Uuid;

use super::{ticket_ref, CiRef, Impact, ImpactedCi, PathStep};
use crate::desk::{Actor, Desk, DeskError};
use crate::{
    domain::{
        cmdb::{self, Direction, Edge, Lifecycle, RelationKind},
        cmdb_graph::{CmdbGraph, GraphCi},
    },
    store::{self, Exec},
};

impl Desk {
    /// What a CI's failure affects (upstream) and what it relies on
    /// (downstream), to `depth` hops; retired and disposed CIs pass nothing on.
    pub async fn impact(&self, actor: &Actor, id: Uuid, depth: u32) -> Result<Impact, DeskError> {
        actor.require_agent()?;
        if !(1..=IMPACT_MAX_DEPTH).contains(&depth) {
            return Err(DeskError::invalid(
                "depth",
                format!("must be between 1 and {IMPACT_MAX_DEPTH}"),
            ));
        }
        let start = store::cmdb::find_ci(Exec::Db(&self.db), actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("configuration item"))?;
        let graph = self.impact_graph(actor.org_id).await?;
        let upstream = graph.walk(id, Direction::Upstream, depth, IMPACT_MAX_NODES);
        let downstream = graph.walk(id, Direction::Downstream, depth, IMPACT_MAX_NODES);
        let mut all: Vec<Uuid> = vec![id];
        all.extend(upstream.reached.iter().map(|r| r.ci));
        all.extend(downstream.reached.iter().map(|r| r.ci));
        let describe = |reached: Vec<cmdb::Reached>| -> Vec<ImpactedCi> {
            let mut described = Vec::with_capacity(reached.len());
            described.extend(reached.into_iter().filter_map(|r| {
                let b = graph.ci(r.ci)?;
                Some(ImpactedCi {
                    id: r.ci,
                    name: b.name.clone(),
                    class: b.class.clone(),
                    criticality: b.criticality.clone(),
                    depth: r.depth,
                    path: r
                        .path
                        .into_iter()
                        .map(|(source, kind, target)| PathStep {
                            source,
                            kind,
                            target,
                        })
                        .collect(),
                })
            }));
            described
        };
        let truncated = upstream.truncated || downstream.truncated;
        let upstream_view = describe(upstream.reached);
        let downstream_view = describe(downstream.reached);
        let mut services: Vec<CiRef> =
            std::iter::once((start.id, start.class_name.as_str(), start.name.as_str()))
                .chain(
                    upstream_view
                        .iter()
                        .map(|c| (c.id, c.class.as_ref(), c.name.as_ref())),
                )
                .filter(|(_, class, _)| *class == "service")
                .map(|(id, _, name)| CiRef {
                    id,
                    name: name.to_string(),
                })
                .collect();
        services.dedup_by_key(|s| s.id);
        let tickets = if all.len() <= TICKETS_BY_CI_MAX {
            store::cmdb::tickets_on(Exec::Db(&self.db), actor.org_id, &all).await?
        } else {
            // Shipping thousands of ids costs more than reading the open
            // tickets that have CIs (a partial index) and keeping ours.
            let ours: HashSet<Uuid> = all.iter().copied().collect();
            let mut rows =
                store::cmdb::open_tickets_with_cis(Exec::Db(&self.db), actor.org_id).await?;
            rows.retain(|t| ours.contains(&t.ci_id));
            rows
        };
        let mut seen = HashSet::new();
        let mut open_incidents = Vec::new();
        let mut scheduled_changes = Vec::new();
        for t in tickets {
            if !seen.insert(t.number.clone()) {
                continue;
            }
            let open = !matches!(
                t.state.as_str(),
                "resolved" | "closed" | "cancelled" | "rejected"
            );
            if t.kind == "incident" && open {
                open_incidents.push(ticket_ref(t));
            } else if t.kind == "change"
                && matches!(
                    t.state.as_str(),
                    "awaiting_approval" | "scheduled" | "implementing"
                )
            {
                scheduled_changes.push(ticket_ref(t));
            }
        }
        Ok(Impact {
            ci: CiRef {
                id: start.id,
                name: start.name,
            },
            depth,
            upstream: upstream_view,
            downstream: downstream_view,
            services,
            open_incidents,
            scheduled_changes,
            truncated,
        })
    }

    /// The organization's relationship graph as of its current CMDB
    /// generation: the cached one when the generation still matches (one
    /// primary-key read), else rebuilt from one consistent snapshot. One
    /// rebuild at a time per organization; requests arriving meanwhile wait
    /// for it rather than each loading the graph.
    pub(super) async fn impact_graph(&self, org_id: Uuid) -> Result<Arc<CmdbGraph>, DeskError> {
        let generation = store::cmdb::cmdb_generation(Exec::Db(&self.db), org_id).await?;
        if let Some(graph) = self.impact_graphs.current(org_id, generation) {
            return Ok(graph);
        }
        let gate = self.impact_graphs.gate(org_id);
        let _turn = gate.lock().await;
        let mut tx = self.db.snapshot().await?;
        let generation = store::cmdb::cmdb_generation(Exec::Tx(&mut tx), org_id).await?;
        if let Some(graph) = self.impact_graphs.current(org_id, generation) {
            return Ok(graph);
        }
        let cis = store::cmdb::all_briefs(&mut tx, org_id).await?;
        let edges = store::cmdb::all_edges(&mut tx, org_id).await?;
        tx.commit().await?;
        let graph = tokio::task::spawn_blocking(move || build_graph(cis, edges))
            .await
            .map_err(|e| anyhow::Error::new(e).context("building the impact graph"))?;
        let graph = Arc::new(graph);
        self.impact_graphs.store(org_id, generation, graph.clone());
        Ok(graph)
    }
}

/// Most CIs one impact answer lists.
pub const IMPACT_MAX_NODES: usize = 10_000;

pub const IMPACT_MAX_DEPTH: u32 = 10;

/// Above this many CIs, impact answers find their tickets from the open
/// ones rather than by CI id.
pub(super) const TICKETS_BY_CI_MAX: usize = 1_000;

/// Impact graphs by organization, each with the CMDB generation it was
/// built from. Every CMDB write bumps the generation in its transaction
/// ([`Work::cmdb_changed`]), so a graph whose generation matches the
/// database's is exactly what the database holds — on every replica.
#[derive(Default)]
pub struct GraphCache {
    graphs: std::sync::RwLock<HashMap<Uuid, (i64, Arc<CmdbGraph>)>>,
    gates: std::sync::Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
}

impl GraphCache {
    fn current(&self, org_id: Uuid, generation: i64) -> Option<Arc<CmdbGraph>> {
        let graphs = self.graphs.read().unwrap_or_else(|e| e.into_inner());
        graphs
            .get(&org_id)
            .filter(|(g, _)| *g == generation)
            .map(|(_, graph)| graph.clone())
    }

    fn store(&self, org_id: Uuid, generation: i64, graph: Arc<CmdbGraph>) {
        let mut graphs = self.graphs.write().unwrap_or_else(|e| e.into_inner());
        graphs.insert(org_id, (generation, graph));
    }

    /// The organization's rebuild queue.
    fn gate(&self, org_id: Uuid) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        gates.entry(org_id).or_default().clone()
    }
}

/// Retired and disposed CIs pass nothing on; relationships of an unknown
/// kind are not walked.
pub(super) fn build_graph(
    cis: Vec<store::cmdb::CiBrief>,
    edges: Vec<(Uuid, Uuid, String)>,
) -> CmdbGraph {
    let cis = cis
        .into_iter()
        .map(|c| GraphCi {
            id: c.id,
            active: Lifecycle::parse(&c.lifecycle).is_ok_and(Lifecycle::is_active),
            name: c.name.into(),
            class: c.class_name.into(),
            criticality: c.criticality.into(),
        })
        .collect();
    let edges = edges.into_iter().filter_map(|(source, target, kind)| {
        RelationKind::parse(&kind).ok().map(|kind| Edge {
            source,
            target,
            kind,
        })
    });
    CmdbGraph::new(cis, edges)
}
