//! The approver's page: what waits for my decision (mine or delegated to
//! me), approve or reject with a reason — `Desk::decide`, as the chat
//! buttons and the one-click email links — and my delegations.

use askama::Template;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
    routing::{get, post},
    Router,
};
use chrono::{NaiveDate, TimeZone, Utc};
use uuid::Uuid;

use super::{
    error::{describe, message},
    filters,
    layout::{Chrome, Section},
    render_status,
    session::{check_csrf, see_other, Form, Signed, SignedIn},
    Console, PageError,
};
use crate::desk::{
    approvals::{delegations::DelegationView, ApprovalView},
    DeskError,
};

pub fn router() -> Router<Console> {
    Router::new()
        .route("/console/approvals", get(page))
        .route("/console/approvals/{id}/decide", post(decide))
        .route("/console/approvals/delegations", post(delegate))
}

/// A delegation with the delegate as the approver may see them.
pub struct Delegation {
    pub view: DelegationView,
    /// The delegate's name (and email), when the desk lets this person
    /// look people up (agents); `None` otherwise, and the page shows the id.
    pub to: Option<String>,
}

#[derive(Template)]
#[template(path = "approvals.html")]
struct ApprovalsPage {
    chrome: Chrome,
    pending: Vec<ApprovalView>,
    delegations: Vec<Delegation>,
    error: Option<String>,
}

/// Names the delegates: through `Desk::get_person`, which shows agents
/// anyone and others only themselves; a refusal leaves the id.
async fn delegations(console: &Console, signed: &SignedIn) -> Result<Vec<Delegation>, DeskError> {
    let mut named = Vec::new();
    for view in console.desk.list_delegations(&signed.actor).await? {
        let to = match console.desk.get_person(&signed.actor, view.to).await {
            Ok(p) => Some(match p.email {
                Some(email) => format!("{} ({email})", p.name),
                None => p.name,
            }),
            Err(DeskError::Forbidden(_) | DeskError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        named.push(Delegation { view, to });
    }
    Ok(named)
}

async fn load(
    console: &Console,
    signed: &SignedIn,
    error: Option<String>,
) -> Result<ApprovalsPage, DeskError> {
    Ok(ApprovalsPage {
        chrome: Chrome::new(signed, Section::Approvals, "Approvals"),
        pending: console.desk.my_approvals(&signed.actor).await?,
        delegations: delegations(console, signed).await?,
        error,
    })
}

async fn page(
    State(console): State<Console>,
    Signed(signed): Signed,
) -> Result<Response, PageError> {
    render_status(StatusCode::OK, &load(&console, &signed, None).await?)
}

/// A refusal shown on the page; anything else is an error page.
async fn refused(
    console: &Console,
    signed: &SignedIn,
    error: DeskError,
) -> Result<Response, PageError> {
    match error {
        DeskError::Invalid(_)
        | DeskError::Conflict(_)
        | DeskError::Forbidden(_)
        | DeskError::NotFound(_) => {
            let (status, _) = describe(&error);
            let page = load(console, signed, Some(message(&error))).await?;
            render_status(status, &page)
        }
        other => Err(other.into()),
    }
}

async fn decide(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path(id): Path<Uuid>,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let decision = form.get("decision").unwrap_or_default().to_string();
    let reason = form.text("reason");
    let (desk, actor) = (console.desk.clone(), signed.actor.clone());
    let decided = console
        .desk
        .execute(move |work| {
            Box::pin(async move { desk.decide(work, &actor, id, &decision, reason).await })
        })
        .await;
    match decided {
        Ok(_) => Ok(see_other("/console/approvals")),
        Err(error) => refused(&console, &signed, error).await,
    }
}

async fn delegate(
    State(console): State<Console>,
    Signed(signed): Signed,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let to = form.text("to").unwrap_or_default();
    // The last day of the delegation counts whole: it ends at midnight UTC
    // after it.
    let ends = form
        .text("until")
        .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok())
        .and_then(|d| d.succ_opt())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| Utc.from_utc_datetime(&d));
    let Some(ends_at) = ends else {
        let error = DeskError::invalid("until", "give the last day as a date");
        return refused(&console, &signed, error).await;
    };
    let (desk, actor) = (console.desk.clone(), signed.actor.clone());
    let created = console
        .desk
        .execute(move |work| {
            Box::pin(async move {
                desk.create_delegation(work, &actor, None, &to, None, ends_at)
                    .await
            })
        })
        .await;
    match created {
        Ok(_) => Ok(see_other("/console/approvals")),
        Err(error) => refused(&console, &signed, error).await,
    }
}
