//! The change calendar for agents: open changes with a planned window in a
//! chosen span of days (the next 30 by default), grouped by the day they
//! start, each with the conflicts the desk finds for its window (other
//! changes on the same CIs, freeze windows), and the freeze windows of the
//! span; open changes not planned yet are listed below.
//!
//! The desk has no query for "changes planned between two instants", so
//! the page lists the open changes (`Desk::list_tickets`, `kind=change`)
//! and reads each one's window and conflicts with `Desk::get_change`, as
//! `/api/v1/changes/{number}` does; at most [`MAX_CHANGES`] of them. The
//! conflict rules stay the desk's: nothing here decides what conflicts.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::{
    extract::{Query, State},
    response::Response,
    routing::get,
    Router,
};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Deserialize;

use super::{
    filters,
    layout::{Chrome, Section},
    render,
    session::Signed,
    Console, PageError,
};
use crate::{
    desk::{changes::ChangeView, tickets::ListTickets, DeskError},
    domain::change::ConflictKind,
};

pub fn router() -> Router<Console> {
    Router::new().route("/console/changes", get(calendar))
}

/// The most open changes one calendar reads.
pub const MAX_CHANGES: usize = 400;
/// Changes read at a time.
const PAGE: i64 = 200;
const DEFAULT_DAYS: i64 = 30;
const MAX_DAYS: i64 = 92;

#[derive(Debug, Default, Deserialize)]
struct CalendarQuery {
    /// First day, `YYYY-MM-DD` (UTC); today by default.
    from: Option<String>,
    /// How many days, 1–92; 30 by default.
    days: Option<String>,
}

/// A span of whole days (UTC).
#[derive(Debug, Clone, Copy)]
struct Span {
    first: NaiveDate,
    days: i64,
}

impl Span {
    fn parse(query: &CalendarQuery, today: NaiveDate) -> Result<Self, PageError> {
        let first = match query
            .from
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            None => today,
            Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
                PageError::BadRequest(format!("`from` must be a date like 2026-12-31, not `{v}`"))
            })?,
        };
        let days = match query
            .days
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            None => DEFAULT_DAYS,
            Some(v) => match v.parse::<i64>() {
                Ok(d) if (1..=MAX_DAYS).contains(&d) => d,
                _ => {
                    return Err(PageError::BadRequest(format!(
                        "`days` must be a whole number from 1 to {MAX_DAYS}, not `{v}`"
                    )))
                }
            },
        };
        Ok(Self { first, days })
    }

    fn start(&self) -> DateTime<Utc> {
        self.first.and_time(chrono::NaiveTime::MIN).and_utc()
    }

    fn end(&self) -> DateTime<Utc> {
        self.start() + Duration::days(self.days)
    }

    fn overlaps(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        start < self.end() && end > self.start()
    }

    fn link(&self, first: NaiveDate) -> String {
        format!(
            "/console/changes?from={}&days={}",
            first.format("%Y-%m-%d"),
            self.days
        )
    }
}

/// A conflict of a change's window, as the desk reported it.
struct ConflictNote {
    /// The other change's number, or the freeze window's name.
    with: String,
    /// The other change's page; none for a freeze.
    href: Option<String>,
    freeze: bool,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    shared_cis: usize,
}

struct Entry {
    number: String,
    title: String,
    state: String,
    change_type: String,
    team: Option<String>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    conflicts: Vec<ConflictNote>,
}

struct Day {
    label: String,
    iso: String,
    changes: Vec<Entry>,
    /// Freeze windows covering part of the day.
    freezes: Vec<String>,
}

struct Freeze {
    name: String,
    team: Option<String>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

struct Unplanned {
    number: String,
    title: String,
    state: String,
    change_type: String,
}

#[derive(Template)]
#[template(path = "changes.html")]
struct CalendarPage {
    chrome: Chrome,
    from: String,
    days: i64,
    last: String,
    earlier: String,
    later: String,
    calendar: Vec<Day>,
    freezes: Vec<Freeze>,
    unplanned: Vec<Unplanned>,
    conflicted: usize,
    /// More open changes exist than one calendar reads.
    truncated: bool,
}

impl CalendarPage {
    fn max_changes(&self) -> usize {
        MAX_CHANGES
    }

    fn days_selected(&self, n: &i64) -> askama::filters::Safe<&'static str> {
        askama::filters::Safe(if self.days == *n { " selected" } else { "" })
    }
}

async fn calendar(
    State(console): State<Console>,
    Signed(signed): Signed,
    Query(query): Query<CalendarQuery>,
) -> Result<Response, PageError> {
    let actor = &signed.actor;
    actor.require_agent()?;
    let span = Span::parse(&query, Utc::now().date_naive())?;
    let desk = &console.desk;

    // The open changes, newest first, at most MAX_CHANGES.
    let mut numbers = Vec::new();
    let mut cursor = None;
    let mut truncated = false;
    loop {
        let page = desk
            .list_tickets(
                actor,
                ListTickets {
                    kind: Some("change".into()),
                    open: true,
                    cursor: cursor.take(),
                    limit: Some(PAGE),
                    ..ListTickets::default()
                },
            )
            .await?;
        numbers.extend(page.items.into_iter().map(|t| t.number));
        match page.next_cursor {
            Some(next) if numbers.len() < MAX_CHANGES => cursor = Some(next),
            Some(_) => {
                truncated = true;
                break;
            }
            None => break,
        }
    }
    numbers.truncate(MAX_CHANGES);
    let changes: Vec<ChangeView> = stream::iter(numbers)
        .map(|number| async move {
            match desk.get_change(actor, &number).await {
                // Closed or moved away between the two reads.
                Err(DeskError::NotFound(_)) => Ok(None),
                other => other.map(Some),
            }
        })
        .buffered(4)
        .try_filter_map(|found| async move { Ok(found) })
        .try_collect()
        .await?;

    let teams: HashMap<uuid::Uuid, String> = desk
        .list_teams(actor)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    let mut freezes: Vec<Freeze> = desk
        .list_freezes(actor)
        .await?
        .into_iter()
        .filter(|f| span.overlaps(f.starts_at, f.ends_at))
        .map(|f| Freeze {
            team: f.team.map(|id| teams.get(&id).cloned().unwrap_or_default()),
            name: f.name,
            start: f.starts_at,
            end: f.ends_at,
        })
        .collect();
    freezes.sort_by_key(|f| f.start);

    let mut by_day: BTreeMap<NaiveDate, Vec<Entry>> = BTreeMap::new();
    let mut unplanned = Vec::new();
    for change in changes {
        let ticket = change.ticket;
        let (Some(start), Some(end)) = (change.planned_start, change.planned_end) else {
            unplanned.push(Unplanned {
                number: ticket.number,
                title: ticket.title,
                state: ticket.state,
                change_type: change.change_type,
            });
            continue;
        };
        if !span.overlaps(start, end) {
            continue;
        }
        let conflicts = change
            .conflicts
            .into_iter()
            .map(|c| {
                let freeze = c.kind == ConflictKind::Freeze;
                ConflictNote {
                    href: (!freeze).then(|| format!("/console/tickets/{}", c.with)),
                    with: c.with,
                    freeze,
                    start: c.start,
                    end: c.end,
                    shared_cis: c.shared_cis.len(),
                }
            })
            .collect();
        // A change that began before the span shows on its first day.
        let day = start.max(span.start()).date_naive();
        by_day.entry(day).or_default().push(Entry {
            number: ticket.number,
            title: ticket.title,
            state: ticket.state,
            change_type: change.change_type,
            team: ticket.team.map(|t| t.name),
            start,
            end,
            conflicts,
        });
    }
    let mut conflicted = 0;
    let calendar = by_day
        .into_iter()
        .map(|(date, mut changes)| {
            changes.sort_by(|a, b| (a.start, &a.number).cmp(&(b.start, &b.number)));
            conflicted += changes.iter().filter(|c| !c.conflicts.is_empty()).count();
            let day_start = date.and_time(chrono::NaiveTime::MIN).and_utc();
            let day_end = day_start + Duration::days(1);
            Day {
                label: date.format("%a %-d %b %Y").to_string(),
                iso: date.format("%Y-%m-%d").to_string(),
                freezes: freezes
                    .iter()
                    .filter(|f| f.start < day_end && f.end > day_start)
                    .map(|f| f.name.clone())
                    .collect(),
                changes,
            }
        })
        .collect();
    unplanned.sort_by(|a: &Unplanned, b| a.number.cmp(&b.number));

    let page = CalendarPage {
        chrome: Chrome::new(&signed, Section::Changes, "Change calendar"),
        from: span.first.format("%Y-%m-%d").to_string(),
        days: span.days,
        last: (span.first + Duration::days(span.days - 1))
            .format("%Y-%m-%d")
            .to_string(),
        earlier: span.link(span.first - Duration::days(span.days)),
        later: span.link(span.first + Duration::days(span.days)),
        calendar,
        freezes,
        unplanned,
        conflicted,
        truncated,
    };
    render(&page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn the_span_defaults_to_thirty_days_from_today_and_refuses_nonsense() {
        let today = date("2026-12-07");
        let span = Span::parse(&CalendarQuery::default(), today).expect("default");
        assert_eq!((span.first, span.days), (today, 30));
        assert_eq!(span.end().date_naive(), date("2027-01-06"));
        for (from, days) in [
            ("12/07/2026", "30"),
            ("2026-12-07", "0"),
            ("2026-12-07", "93"),
        ] {
            let query = CalendarQuery {
                from: Some(from.into()),
                days: Some(days.into()),
            };
            assert!(Span::parse(&query, today).is_err(), "{from} {days}");
        }
    }

    #[test]
    fn a_window_overlaps_the_span_when_it_shares_any_instant() {
        let span = Span {
            first: date("2026-12-07"),
            days: 1,
        };
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("instant")
                .with_timezone(&Utc)
        };
        assert!(span.overlaps(at("2026-12-06T23:00:00Z"), at("2026-12-07T01:00:00Z")));
        assert!(!span.overlaps(at("2026-12-06T22:00:00Z"), at("2026-12-07T00:00:00Z")));
        assert!(!span.overlaps(at("2026-12-08T00:00:00Z"), at("2026-12-08T01:00:00Z")));
    }
}
