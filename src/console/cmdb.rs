//! The CMDB for agents: configuration items searched and filtered by class,
//! paged by cursor (`Desk::list_cis`, as `/api/v1/cmdb/cis`), and one CI
//! with its attributes, its relationships both ways as links, the tickets
//! on it, its recent history and its impact (`Desk::impact`, as
//! `/api/v1/cmdb/cis/{id}/impact`): what depends on it, what it relies on,
//! the business services affected, open incidents and scheduled changes.

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
    routing::get,
    Router,
};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::{
    error::message,
    filters,
    layout::{Chrome, Section},
    render, render_status,
    session::Signed,
    Console, PageError,
};
use crate::desk::{
    cmdb::{CiDetail, CiRef, CiView, ClassView, HistoryView, Impact, ImpactedCi},
    DeskError,
};

pub fn router() -> Router<Console> {
    Router::new()
        .route("/console/cmdb", get(list))
        .route("/console/cmdb/{id}", get(show))
}

const PAGE: i64 = 50;
/// Impacted CIs listed per direction; the rest are counted.
pub const SHOWN_IMPACT: usize = 100;
const DEFAULT_DEPTH: u32 = 3;
/// History entries shown on a CI's page.
const RECENT_HISTORY: usize = 10;

fn blank_is_none(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

#[derive(Debug, Default, Deserialize)]
struct CmdbQuery {
    class: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
}

impl CmdbQuery {
    fn link(&self, cursor: &str) -> String {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [("class", &self.class), ("q", &self.q)] {
            if let Some(v) = blank_is_none(value.as_deref()) {
                pairs.append_pair(name, &v);
            }
        }
        pairs.append_pair("cursor", cursor);
        format!("/console/cmdb?{}", pairs.finish())
    }

    fn is_class(&self, name: &str) -> askama::filters::Safe<&'static str> {
        askama::filters::Safe(if self.class.as_deref() == Some(name) {
            " selected"
        } else {
            ""
        })
    }
}

#[derive(Template)]
#[template(path = "cmdb.html")]
struct CmdbPage {
    chrome: Chrome,
    query: CmdbQuery,
    classes: Vec<ClassView>,
    cis: Vec<CiView>,
    next: Option<String>,
    error: Option<String>,
}

async fn list(
    State(console): State<Console>,
    Signed(signed): Signed,
    Query(query): Query<CmdbQuery>,
) -> Result<Response, PageError> {
    signed.actor.require_agent()?;
    let classes = console.desk.list_classes(&signed.actor).await?;
    let class = blank_is_none(query.class.as_deref());
    let q = blank_is_none(query.q.as_deref());
    let cursor = blank_is_none(query.cursor.as_deref());
    let (cis, next, error, status) = match console
        .desk
        .list_cis(
            &signed.actor,
            class.as_deref(),
            q.as_deref(),
            cursor.as_deref(),
            PAGE,
        )
        .await
    {
        Ok((cis, next)) => (cis, next.map(|c| query.link(&c)), None, StatusCode::OK),
        // An unknown class or a stale cursor is shown at the filters.
        Err(e @ DeskError::Invalid(_)) => (
            Vec::new(),
            None,
            Some(message(&e)),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(other) => return Err(other.into()),
    };
    let page = CmdbPage {
        chrome: Chrome::new(&signed, Section::Cmdb, "CMDB"),
        query,
        classes,
        cis,
        next,
        error,
    };
    render_status(status, &page)
}

/// A relationship as seen from the CI of the page.
struct Related {
    /// This CI is the source ("this runs on other").
    outgoing: bool,
    kind: String,
    other: CiRef,
}

#[derive(Template)]
#[template(path = "ci.html")]
struct CiPage {
    chrome: Chrome,
    ci: CiView,
    attributes: Vec<(String, String)>,
    related: Vec<Related>,
    tickets: Vec<crate::desk::cmdb::TicketRef>,
    history: Vec<HistoryView>,
    impact: Impact,
}

impl CiPage {
    fn shown<'a>(&self, list: &'a [ImpactedCi]) -> &'a [ImpactedCi] {
        &list[..list.len().min(SHOWN_IMPACT)]
    }

    fn hidden(&self, list: &[ImpactedCi]) -> usize {
        list.len().saturating_sub(SHOWN_IMPACT)
    }
}

/// An attribute's value as text (strings without their quotes).
fn attribute_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[derive(Debug, Default, Deserialize)]
struct DepthQuery {
    depth: Option<String>,
}

async fn show(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path(id): Path<String>,
    Query(query): Query<DepthQuery>,
) -> Result<Response, PageError> {
    let actor = &signed.actor;
    actor.require_agent()?;
    let id = Uuid::parse_str(id.trim()).map_err(|_| DeskError::NotFound("configuration item"))?;
    let depth = match blank_is_none(query.depth.as_deref()) {
        None => DEFAULT_DEPTH,
        Some(d) => d.parse::<u32>().map_err(|_| {
            PageError::BadRequest(format!("`depth` must be a whole number, not `{d}`"))
        })?,
    };
    let CiDetail {
        ci,
        relationships,
        tickets,
    } = console.desk.get_ci(actor, id).await?;
    let impact = console.desk.impact(actor, id, depth).await?;
    let mut history = console.desk.ci_history(actor, id).await?;
    history.sort_by_key(|h| std::cmp::Reverse(h.at));
    history.truncate(RECENT_HISTORY);
    let attributes = match &ci.attributes {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), attribute_text(v)))
            .collect(),
        _ => Vec::new(),
    };
    let related = relationships
        .into_iter()
        .map(|r| {
            let outgoing = r.source.id == ci.id;
            Related {
                outgoing,
                kind: r.kind,
                other: if outgoing { r.target } else { r.source },
            }
        })
        .collect();
    render(&CiPage {
        chrome: Chrome::new(&signed, Section::Cmdb, ci.name.clone()),
        ci,
        attributes,
        related,
        tickets,
        history,
        impact,
    })
}
