//! The ticket page: the ticket, its SLA clocks, the conversation with each
//! message's channel, attachments, watchers, approvals and (for agents) the
//! activity timeline, an alert incident's alerts; and its forms — reply or
//! internal note, a move to one of the allowed states, assignment,
//! watching, rating, uploads, acknowledging and silencing alerts. Each form
//! is one desk use case, the same one the API and chat run; a refusal is
//! shown on the page with the desk's own words.

use askama::Template;
use axum::{
    extract::{Multipart, Path, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Router,
};
use uuid::Uuid;

use super::{
    error::{describe, message},
    filters,
    layout::{Chrome, Section},
    render_status,
    session::{check_csrf, see_other, Form, Signed, SignedIn},
    ticket_process::{self, Process},
    Console, PageError,
};
use crate::desk::{
    alerts::{alert_brief, AlertBrief, AlertView},
    approvals::ApprovalView,
    macros::MacroView,
    sla::ClockView,
    tickets::Assignment,
    views::{ActivityView, AttachmentView, CommentView, PersonRef, TeamView, TicketView},
    DeskError,
};

pub fn router() -> Router<Console> {
    Router::new()
        .route("/console/tickets/{number}", get(show))
        .route("/console/tickets/{number}/reply", post(reply))
        .route("/console/tickets/{number}/macro", post(apply_macro))
        .route("/console/tickets/{number}/transition", post(transition))
        .route("/console/tickets/{number}/assign", post(assign))
        .route("/console/tickets/{number}/watch", post(watch))
        .route("/console/tickets/{number}/rate", post(rate))
        .route("/console/tickets/{number}/attachments", post(upload))
        .route(
            "/console/tickets/{number}/known-errors",
            post(link_known_error),
        )
        .route("/console/tickets/{number}/attachments/{id}", get(download))
        .route(
            "/console/tickets/{number}/alerts/acknowledge",
            post(acknowledge_alerts),
        )
        .route(
            "/console/tickets/{number}/alerts/silence",
            post(silence_alerts),
        )
}

#[derive(Template)]
#[template(path = "ticket.html")]
struct TicketPage {
    chrome: Chrome,
    ticket: TicketView,
    clocks: Vec<ClockView>,
    comments: Vec<CommentView>,
    attachments: Vec<AttachmentView>,
    watchers: Vec<PersonRef>,
    approvals: Vec<ApprovalView>,
    activity: Vec<ActivityView>,
    teams: Vec<TeamView>,
    agents: Vec<PersonRef>,
    /// The macros the ticket takes: the organization's and its team's.
    macros: Vec<MacroView>,
    /// Problem, change and CMDB parts (agents only).
    process: Option<Process>,
    /// An incident opened by alerts: what its card shows, and each alert
    /// (agents only).
    alert: Option<AlertBrief>,
    alerts: Vec<AlertView>,
    /// The next states the reader may choose (the kind's and their role's).
    moves: Vec<String>,
    /// The person is the ticket's requester (may rate it once resolved).
    requester: bool,
    watching: bool,
    /// A refusal of the form just sent, in the desk's words.
    error: Option<String>,
    /// States the desk named as allowed when it refused a move.
    allowed: Vec<String>,
}

impl TicketPage {
    fn is_image(&self, a: &AttachmentView) -> bool {
        inline_image(&a.content_type)
    }

    fn can_rate(&self) -> bool {
        self.requester && matches!(self.ticket.state.as_str(), "resolved" | "closed")
    }

    fn is_assignee(&self, id: impl std::borrow::Borrow<Uuid>) -> bool {
        self.ticket
            .assignee
            .as_ref()
            .is_some_and(|a| &a.id == id.borrow())
    }

    fn is_team(&self, id: impl std::borrow::Borrow<Uuid>) -> bool {
        self.ticket
            .team
            .as_ref()
            .is_some_and(|t| &t.id == id.borrow())
    }
}

/// Image types a browser shows inline without running anything (no SVG:
/// it can carry script).
fn inline_image(content_type: &str) -> bool {
    matches!(
        content_type,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp"
    )
}

/// Reads everything the page shows; what a requester may not see (the
/// activity timeline, internal notes) the desk leaves out or refuses.
async fn load(console: &Console, signed: &SignedIn, number: &str) -> Result<TicketPage, DeskError> {
    let desk = &console.desk;
    let actor = &signed.actor;
    let ticket = desk.get_ticket(actor, number).await?;
    let number = ticket.number.clone();
    let clocks = match desk.ticket_sla(actor, &number).await {
        Ok(sla) => sla.clocks,
        Err(DeskError::NotFound(_)) => Vec::new(),
        Err(e) => return Err(e),
    };
    let comments = desk.list_comments(actor, &number).await?;
    let attachments = desk.list_attachments(actor, &number).await?;
    let watchers = desk.list_watchers(actor, &number).await?;
    let approvals = desk.ticket_approvals(actor, &number).await?;
    let (activity, teams, agents, macros) = if actor.is_agent() {
        let people = desk.list_people(actor).await?;
        let agents = people
            .into_iter()
            .filter(|p| !p.disabled && p.roles.iter().any(|r| r == "agent" || r == "admin"))
            .map(|p| PersonRef {
                id: p.id,
                name: p.name,
                email: p.email,
            })
            .collect();
        let team = ticket.team.as_ref().map(|t| t.id.to_string());
        (
            desk.list_activity(actor, &number).await?,
            desk.list_teams(actor).await?,
            agents,
            desk.list_macros(actor, team.as_deref()).await?,
        )
    } else {
        (Vec::new(), Vec::new(), Vec::new(), Vec::new())
    };
    let process = ticket_process::load(desk, actor, &ticket).await?;
    let (alert, alerts) = match actor.is_agent() {
        true => match alert_brief(&desk.db, &ticket).await? {
            Some(brief) => (Some(brief), desk.ticket_alerts(actor, &number).await?),
            None => (None, Vec::new()),
        },
        false => (None, Vec::new()),
    };
    let me = actor.person_id;
    Ok(TicketPage {
        chrome: Chrome::new(
            signed,
            if actor.is_agent() {
                Section::Queue
            } else {
                Section::Mine
            },
            format!("{} {}", ticket.number, ticket.title),
        ),
        moves: actor.moves_for(&ticket),
        requester: me.is_some() && ticket.requester.as_ref().map(|r| r.id) == me,
        watching: me.is_some_and(|me| watchers.iter().any(|w| w.id == me)),
        ticket,
        clocks,
        comments,
        attachments,
        watchers,
        approvals,
        activity,
        teams,
        agents,
        macros,
        process,
        alert,
        alerts,
        error: None,
        allowed: Vec::new(),
    })
}

async fn show(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path(number): Path<String>,
) -> Result<Response, PageError> {
    let page = load(&console, &signed, &number).await?;
    render_status(StatusCode::OK, &page)
}

/// After a form: back to the ticket when the desk agreed; the page with the
/// desk's refusal (and its status) when it did not.
async fn after(
    console: &Console,
    signed: &SignedIn,
    number: &str,
    outcome: Result<(), DeskError>,
) -> Result<Response, PageError> {
    let error = match outcome {
        Ok(()) => return Ok(see_other(&format!("/console/tickets/{number}"))),
        Err(
            e @ (DeskError::Invalid(_)
            | DeskError::Transition(_)
            | DeskError::Conflict(_)
            | DeskError::Forbidden(_)
            | DeskError::TooLarge(_)),
        ) => e,
        Err(other) => return Err(other.into()),
    };
    let (status, _) = describe(&error);
    let mut page = load(console, signed, number).await?;
    page.allowed = match &error {
        DeskError::Transition(t) => t
            .allowed
            .iter()
            .map(|s| filters::words(s.as_str()))
            .collect(),
        _ => Vec::new(),
    };
    page.error = Some(message(&error));
    render_status(status, &page)
}

/// Runs one desk use case for a form of the ticket page.
macro_rules! on_ticket {
    ($console:expr, |$desk:ident, $work:ident| $call:expr) => {{
        let $desk = $console.desk.clone();
        $console
            .desk
            .execute(move |$work| Box::pin(async move { $call.await.map(|_| ()) }))
            .await
    }};
}

async fn reply(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path(number): Path<String>,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let body = form.get("body").unwrap_or_default().to_string();
    let internal = form.checked("internal");
    let (actor, n) = (signed.actor.clone(), number.clone());
    let outcome = on_ticket!(console, |desk, work| desk
        .add_comment(work, &actor, &n, &body, internal));
    after(&console, &signed, &number, outcome).await
}

async fn apply_macro(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path(number): Path<String>,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let id = form.get("macro").unwrap_or_default().to_string();
    let (actor, n) = (signed.actor.clone(), number.clone());
    let outcome = on_ticket!(console, |desk, work| desk
        .apply_macro(work, &actor, &n, &id));
    after(&console, &signed, &number, outcome).await
}

async fn transition(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path(number): Path<String>,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let to = form.get("to").unwrap_or_default().to_string();
    let comment = form.text("comment");
    let (actor, n) = (signed.actor.clone(), number.clone());
    let outcome = on_ticket!(console, |desk, work| desk
        .transition(work, &actor, &n, &to, comment));
    after(&console, &signed, &number, outcome).await
}

async fn assign(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path(number): Path<String>,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    // An empty choice clears the field; "me" is the person signed in.
    let pick = |name: &str| {
        form.get(name).map(|v| match v.trim() {
            "" => None,
            "me" => signed.actor.person_id.map(|id| id.to_string()),
            v => Some(v.to_string()),
        })
    };
    let change = Assignment {
        team: pick("team"),
        assignee: pick("assignee"),
    };
    let (actor, n) = (signed.actor.clone(), number.clone());
    let outcome = on_ticket!(console, |desk, work| desk.assign(work, &actor, &n, change));
    after(&console, &signed, &number, outcome).await
}

async fn watch(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path(number): Path<String>,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let me = signed
        .actor
        .person_id
        .ok_or(DeskError::Forbidden("only people can watch tickets".into()))?;
    let stop = form.get("stop").is_some();
    let (actor, n) = (signed.actor.clone(), number.clone());
    let outcome = if stop {
        on_ticket!(console, |desk, work| desk
            .remove_watcher(work, &actor, &n, me))
    } else {
        on_ticket!(console, |desk, work| desk.add_watcher(work, &actor, &n, me))
    };
    after(&console, &signed, &number, outcome).await
}

async fn rate(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path(number): Path<String>,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let score = match form.get("score").map(str::parse::<i64>) {
        Some(Ok(score)) => score,
        _ => 0,
    };
    let (actor, n) = (signed.actor.clone(), number.clone());
    let outcome = on_ticket!(console, |desk, work| desk
        .rate_ticket(work, &actor, &n, score));
    after(&console, &signed, &number, outcome).await
}

/// Acknowledge on an alert incident: what the chat card's button does.
async fn acknowledge_alerts(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path(number): Path<String>,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let (actor, n) = (signed.actor.clone(), number.clone());
    let outcome = on_ticket!(console, |desk, work| desk
        .acknowledge_alert_incident(work, &actor, &n));
    after(&console, &signed, &number, outcome).await
}

/// Silence 1 h on an alert incident: what the chat card's button does.
async fn silence_alerts(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path(number): Path<String>,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let (actor, n) = (signed.actor.clone(), number.clone());
    let outcome = on_ticket!(console, |desk, work| desk
        .silence_alert_incident(work, &actor, &n));
    after(&console, &signed, &number, outcome).await
}

async fn link_known_error(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path(number): Path<String>,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let Some(id) = form
        .text("known_error")
        .and_then(|v| Uuid::parse_str(&v).ok())
    else {
        let outcome = Err(DeskError::invalid("known_error", "choose a known error"));
        return after(&console, &signed, &number, outcome).await;
    };
    let (actor, n) = (signed.actor.clone(), number.clone());
    let outcome = on_ticket!(console, |desk, work| desk
        .link_known_error(work, &actor, &n, id));
    after(&console, &signed, &number, outcome).await
}

async fn upload(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path(number): Path<String>,
    mut multipart: Multipart,
) -> Result<Response, PageError> {
    let mut csrf = None;
    let mut file = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| PageError::BadRequest(e.body_text()))?
    {
        match field.name() {
            Some("csrf") => {
                csrf = Some(
                    field
                        .text()
                        .await
                        .map_err(|e| PageError::BadRequest(e.body_text()))?,
                )
            }
            Some("file") => {
                let name = field.file_name().unwrap_or("upload").to_string();
                // The token comes first in the form: nothing is read of a
                // file whose form was forged.
                check_csrf(
                    &signed,
                    &Form(vec![("csrf".into(), csrf.clone().unwrap_or_default())]),
                )?;
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| PageError::BadRequest(e.body_text()))?;
                file = Some((name, bytes));
            }
            _ => {}
        }
    }
    check_csrf(
        &signed,
        &Form(vec![("csrf".into(), csrf.unwrap_or_default())]),
    )?;
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return after(
            &console,
            &signed,
            &number,
            Err(DeskError::invalid("file", "choose a file to attach")),
        )
        .await;
    };
    let (actor, n) = (signed.actor.clone(), number.clone());
    let outcome = on_ticket!(console, |desk, work| desk
        .add_attachment(work, &actor, &n, &name, &bytes));
    after(&console, &signed, &number, outcome).await
}

async fn download(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path((number, id)): Path<(String, Uuid)>,
) -> Result<Response, PageError> {
    let (view, bytes) = console
        .desk
        .read_attachment(&signed.actor, &number, id)
        .await?;
    let inline = inline_image(&view.content_type);
    let content_type = if inline {
        view.content_type.as_str()
    } else {
        "application/octet-stream"
    };
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    let disposition = format!(
        "{}; filename=\"{}\"",
        if inline { "inline" } else { "attachment" },
        view.filename.replace(['"', '\\', '\r', '\n'], "_")
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    Ok(response)
}
