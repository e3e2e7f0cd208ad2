//! The agent queue: saved views (mine, my teams, unassigned, SLA at risk,
//! breached, open, all) narrowed by kind, state, priority and text, sorted,
//! paged by cursor — one `Desk::list_tickets` call, as `/api/v1/tickets`.
//! `/console/events` streams the numbers of tickets that change, and the
//! page's script reloads the rows (`?fragment=rows`) when one does.

use std::{convert::Infallible, time::Duration};

use askama::Template;
use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
    routing::get,
    Router,
};
use futures::stream::{self, Stream};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::{
    filters,
    layout::{Chrome, Section},
    render_status,
    session::Signed,
    Console, PageError,
};
use crate::desk::{tickets::ListTickets, views::TicketView, DeskError};

pub fn router() -> Router<Console> {
    Router::new()
        .route("/console/queue", get(queue))
        .route("/console/events", get(events))
}

/// The saved views, as the tabs name them.
pub const VIEWS: &[(&str, &str)] = &[
    ("mine", "Mine"),
    ("teams", "My teams"),
    ("unassigned", "Unassigned"),
    ("at_risk", "SLA at risk"),
    ("breached", "Breached"),
    ("open", "All open"),
    ("all", "Everything"),
];

#[derive(Debug, Default, Deserialize)]
pub struct QueueQuery {
    pub view: Option<String>,
    pub kind: Option<String>,
    pub state: Option<String>,
    pub priority: Option<String>,
    pub q: Option<String>,
    pub sort: Option<String>,
    pub cursor: Option<String>,
    /// `rows`: only the table body (for live updates).
    pub fragment: Option<String>,
}

impl QueueQuery {
    fn view(&self) -> &str {
        self.view.as_deref().unwrap_or("open")
    }

    /// ` selected` on the option of a filter that is in force.
    fn selected(&self, field: &str, value: &str) -> askama::filters::Safe<&'static str> {
        let current = match field {
            "kind" => self.kind.as_deref(),
            "state" => self.state.as_deref(),
            "priority" => self.priority.as_deref(),
            "sort" => Some(self.sort.as_deref().unwrap_or("-updated_at")),
            _ => None,
        };
        askama::filters::Safe(if current == Some(value) {
            " selected"
        } else {
            ""
        })
    }

    /// This query's link with another view, cursor or sort.
    fn link(&self, view: &str, cursor: Option<&str>) -> String {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        pairs.append_pair("view", view);
        for (name, value) in [
            ("kind", &self.kind),
            ("state", &self.state),
            ("priority", &self.priority),
            ("q", &self.q),
            ("sort", &self.sort),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                pairs.append_pair(name, v);
            }
        }
        if let Some(c) = cursor {
            pairs.append_pair("cursor", c);
        }
        format!("/console/queue?{}", pairs.finish())
    }
}

fn blank_is_none(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

pub struct Tab {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    query: QueueQuery,
    rows: Rows,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "queue_rows.html")]
struct Rows {
    tickets: Vec<TicketView>,
    next: Option<String>,
    /// Where the live update reloads these rows from.
    refresh: String,
}

async fn queue(
    State(console): State<Console>,
    Signed(signed): Signed,
    Query(query): Query<QueueQuery>,
) -> Result<Response, PageError> {
    signed.actor.require_agent()?;
    let view = query.view();
    let me = signed.actor.person_id.map(|id| id.to_string());
    let mut list = ListTickets {
        kind: blank_is_none(&query.kind),
        state: blank_is_none(&query.state),
        priority: blank_is_none(&query.priority),
        q: blank_is_none(&query.q),
        sort: blank_is_none(&query.sort).or(Some("-updated_at".into())),
        cursor: blank_is_none(&query.cursor),
        limit: Some(50),
        ..ListTickets::default()
    };
    match view {
        "mine" => {
            list.assignee = me;
            list.open = true;
        }
        "teams" => {
            list.my_teams = true;
            list.open = true;
        }
        "unassigned" => {
            list.unassigned = true;
            list.open = true;
        }
        "at_risk" => list.sla = Some("warned".into()),
        "breached" => list.sla = Some("breached".into()),
        "open" => list.open = list.state.is_none(),
        "all" => {}
        other => {
            return Err(PageError::BadRequest(format!(
                "unknown view `{other}`; the views are: {}",
                VIEWS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            )))
        }
    }
    let refresh = {
        let mut link = query.link(view, None);
        link.push_str("&fragment=rows");
        link
    };
    let (rows, error, status) = match console.desk.list_tickets(&signed.actor, list).await {
        Ok(found) => (
            Rows {
                next: found
                    .next_cursor
                    .as_deref()
                    .map(|c| query.link(view, Some(c))),
                tickets: found.items,
                refresh,
            },
            None,
            StatusCode::OK,
        ),
        // A filter the desk refuses is shown at the filters, not as a page.
        Err(error @ DeskError::Invalid(_)) => (
            Rows {
                tickets: Vec::new(),
                next: None,
                refresh,
            },
            Some(super::error::message(&error)),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(other) => return Err(other.into()),
    };
    if query.fragment.as_deref() == Some("rows") {
        return render_status(status, &rows);
    }
    let tabs = VIEWS
        .iter()
        .map(|(name, label)| Tab {
            label,
            href: query.link(name, None),
            current: *name == view,
        })
        .collect();
    let page = QueuePage {
        chrome: Chrome::new(&signed, Section::Queue, "Queue"),
        tabs,
        query,
        rows,
        error,
    };
    render_status(status, &page)
}

/// Server-sent events: `ticket` with a ticket's number whenever one of the
/// organization's tickets changes in this process; agents only (the
/// numbers are the queue's, which requesters do not see).
async fn events(
    State(console): State<Console>,
    Signed(signed): Signed,
) -> Result<Response, PageError> {
    signed.actor.require_agent()?;
    let org = signed.actor.org_id;
    let receiver = console.desk.changes.subscribe();
    let stream = changes(receiver, org);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(20)))
        .into_response())
}

fn changes(
    receiver: tokio::sync::broadcast::Receiver<crate::desk::events::TicketChanged>,
    org: uuid::Uuid,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(receiver, move |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(change) if change.org_id == org => {
                    let event = Event::default().event("ticket").data(change.number);
                    return Some((Ok(event), receiver));
                }
                Ok(_) => continue,
                // Fell behind: one event tells the page to reload anyway.
                Err(RecvError::Lagged(_)) => {
                    return Some((Ok(Event::default().event("ticket").data("*")), receiver));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}
