//! Report reads (issue 17). Counts are aggregated in SQL; only values that
//! need the calendar arithmetic in Rust (business durations, percentiles)
//! come back one row per outcome or resolution of the period.
//!
//! Every query takes the same filter block (`$1` organization, `$2`–`$8` the
//! filters of [`Filters`]) so the filters mean the same in every report;
//! each query's own parameters start at `$9`. Reads run in one snapshot
//! transaction (`Db::snapshot`) so the sections of a report agree.
//!
//! Buckets: the boundaries are computed in Rust (`domain::report::buckets`,
//! DST-exact) and each row's bucket in SQL as "how many boundaries are at or
//! before it": `width_bucket` over an array on Postgres; SQLite has no
//! arrays, so there the same number comes from a binary search written as
//! nested `CASE`s over one bound parameter per boundary. That is the one
//! place the two texts differ.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::{on, Tx};
use crate::domain::{
    report::{SlaGroup, VolumeGroup},
    sla::SlaState,
};

/// Filters every report takes; `None` is "any". `scope` limits the rows to
/// the tickets of the teams a person is a member of, or assigned to them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub team: Option<Uuid>,
    pub kind: Option<String>,
    pub priority: Option<String>,
    pub category: Option<Uuid>,
    pub channel: Option<String>,
    pub agent: Option<Uuid>,
    pub scope: Option<Uuid>,
}

/// The filter block over tickets `t`; the parameters are `$2`–`$8`.
const FILTER: &str = " AND (CAST($2 AS TEXT) IS NULL OR t.team_id = $2) \
    AND (CAST($3 AS TEXT) IS NULL OR t.kind = $3) \
    AND (CAST($4 AS TEXT) IS NULL OR t.priority = $4) \
    AND (CAST($5 AS TEXT) IS NULL OR t.category_id = $5) \
    AND (CAST($6 AS TEXT) IS NULL OR t.channel = $6) \
    AND (CAST($7 AS TEXT) IS NULL OR t.assignee_id = $7) \
    AND (CAST($8 AS TEXT) IS NULL OR t.assignee_id = $8 \
         OR t.team_id IN (SELECT m.team_id FROM team_members m WHERE m.person_id = $8)) ";

/// `domain::report::DONE_STATES` as SQL (a test keeps the two equal).
const DONE: &str = "('resolved', 'closed', 'cancelled', 'rejected')";

const RESOLUTION: &str = const_format::concatcp!(
    "(a.old_value NOT IN ",
    DONE,
    " AND a.new_value IN ",
    DONE,
    ")"
);
const REOPENING: &str = const_format::concatcp!(
    "(a.old_value IN ",
    DONE,
    " AND a.new_value NOT IN ",
    DONE,
    ")"
);

macro_rules! bind_filters {
    ($q:expr, $org:expr, $f:expr) => {
        $q.bind($org)
            .bind($f.team)
            .bind($f.kind.as_deref())
            .bind($f.priority.as_deref())
            .bind($f.category)
            .bind($f.channel.as_deref())
            .bind($f.agent)
            .bind($f.scope)
    };
}

// ---- look-ups of filter values -----------------------------------------

/// Name and time zone of an organization.
pub async fn org_report_facts(tx: &mut Tx, org_id: Uuid) -> Result<(String, String), sqlx::Error> {
    let sql = "SELECT name, time_zone FROM organizations WHERE id = $1";
    on!(tx, c => sqlx::query_as(sql).bind(org_id).fetch_one(c).await)
}

/// Sets the time zone reports cut days in (validated by the caller).
pub async fn set_org_time_zone(tx: &mut Tx, org_id: Uuid, zone: &str) -> Result<u64, sqlx::Error> {
    let sql = "UPDATE organizations SET time_zone = $2 WHERE id = $1";
    on!(tx, c => sqlx::query(sql).bind(org_id).bind(zone).execute(c).await.map(|r| r.rows_affected()))
}

pub async fn find_team_id(
    tx: &mut Tx,
    org_id: Uuid,
    name: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    let sql = "SELECT id FROM teams WHERE org_id = $1 AND name = $2";
    on!(tx, c => sqlx::query_scalar(sql).bind(org_id).bind(name).fetch_optional(c).await)
}

pub async fn find_category_id(
    tx: &mut Tx,
    org_id: Uuid,
    name: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    let sql = "SELECT id FROM categories WHERE org_id = $1 AND name = $2";
    on!(tx, c => sqlx::query_scalar(sql).bind(org_id).bind(name).fetch_optional(c).await)
}

/// A person of the organization by id or email address.
pub async fn find_person_id(
    tx: &mut Tx,
    org_id: Uuid,
    id: Option<Uuid>,
    email: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    let sql = "SELECT id FROM people WHERE org_id = $1 AND (id = $2 OR LOWER(email) = LOWER($3))";
    on!(tx, c => sqlx::query_scalar(sql).bind(org_id).bind(id).bind(email).fetch_optional(c).await)
}

// ---- buckets -------------------------------------------------------------

/// The bucket number of `column` for `boundaries` starting at parameter
/// `$first` (SQLite): the count of boundaries at or before the value, by
/// binary search.
fn sqlite_bucket(column: &str, first: usize, count: usize) -> String {
    fn search(out: &mut String, column: &str, first: usize, lo: usize, hi: usize) {
        if lo == hi {
            out.push_str(&lo.to_string());
            return;
        }
        let mid = (lo + hi) / 2;
        out.push_str(&format!("CASE WHEN {column} < ${} THEN ", first + mid));
        search(out, column, first, lo, mid);
        out.push_str(" ELSE ");
        search(out, column, first, mid + 1, hi);
        out.push_str(" END");
    }
    let mut out = String::with_capacity(count * 40);
    search(&mut out, column, first, 0, count);
    out
}

fn bucket(column: &str, postgres: bool, count: usize) -> String {
    if postgres {
        format!("CAST(width_bucket({column}, $10) AS BIGINT)")
    } else {
        format!("CAST({} AS BIGINT)", sqlite_bucket(column, 10, count))
    }
}

fn volume_group(group: VolumeGroup) -> (&'static str, &'static str) {
    match group {
        VolumeGroup::None => ("CAST(NULL AS TEXT)", ""),
        VolumeGroup::Kind => ("t.kind", ""),
        VolumeGroup::Priority => ("t.priority", ""),
        VolumeGroup::Channel => ("t.channel", ""),
        VolumeGroup::Team => ("g.name", " LEFT JOIN teams g ON g.id = t.team_id "),
        VolumeGroup::Category => ("g.name", " LEFT JOIN categories g ON g.id = t.category_id "),
    }
}

/// Counts of one bucket and group. Bucket 0 is everything before the
/// period (it makes the opening backlog); bucket `i` is `[b[i-1], b[i])`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct VolumeRow {
    pub bucket: i64,
    pub grp: Option<String>,
    pub created: i64,
    pub resolved: i64,
    pub reopened: i64,
}

/// Created, resolved and reopened per bucket and group, for every bucket
/// before `boundaries`' last (the period's end) — bucket 0 covering all
/// history before the period, for the opening backlog.
pub async fn volume(
    tx: &mut Tx,
    org_id: Uuid,
    filters: &Filters,
    group: VolumeGroup,
    boundaries: &[DateTime<Utc>],
) -> Result<Vec<VolumeRow>, sqlx::Error> {
    let Some(&to) = boundaries.last() else {
        return Ok(Vec::new());
    };
    let postgres = tx.is_postgres();
    let (g, join) = volume_group(group);
    let sql = format!(
        "SELECT x.b AS bucket, x.g AS grp, SUM(x.c) AS created, SUM(x.r) AS resolved, SUM(x.o) AS reopened FROM ( \
           SELECT {b_t} AS b, {g} AS g, 1 AS c, 0 AS r, 0 AS o FROM tickets t {join} \
             WHERE t.org_id = $1 AND t.created_at < $9 {FILTER} \
           UNION ALL \
           SELECT {b_a} AS b, {g} AS g, 0 AS c, \
             CASE WHEN {RESOLUTION} THEN 1 ELSE 0 END AS r, \
             CASE WHEN {REOPENING} THEN 1 ELSE 0 END AS o \
             FROM activity a JOIN tickets t ON t.id = a.ticket_id {join} \
             WHERE a.org_id = $1 AND a.action = 'state_changed' AND a.created_at < $9 \
               AND t.org_id = $1 {FILTER} \
         ) x GROUP BY x.b, x.g ORDER BY 1, 2",
        b_t = bucket("t.created_at", postgres, boundaries.len()),
        b_a = bucket("a.created_at", postgres, boundaries.len()),
    );
    let sql = sqlx::AssertSqlSafe(sql);
    match tx {
        Tx::Postgres(t) => {
            let q = bind_filters!(sqlx::query_as(sql), org_id, filters)
                .bind(to)
                .bind(boundaries);
            q.fetch_all(&mut **t).await
        }
        Tx::Sqlite(t) => {
            let mut q = bind_filters!(sqlx::query_as(sql), org_id, filters).bind(to);
            for b in boundaries {
                q = q.bind(*b);
            }
            q.fetch_all(&mut **t).await
        }
    }
}

// ---- dashboard -----------------------------------------------------------

/// Open tickets of one state, priority, kind and team.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OpenRow {
    pub state: String,
    pub priority: String,
    pub kind: String,
    pub team: Option<String>,
    pub tickets: i64,
    pub unassigned: i64,
}

pub async fn open_breakdown(
    tx: &mut Tx,
    org_id: Uuid,
    filters: &Filters,
) -> Result<Vec<OpenRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        "SELECT t.state, t.priority, t.kind, g.name AS team, COUNT(*) AS tickets, \
           COALESCE(SUM(CASE WHEN t.assignee_id IS NULL THEN 1 ELSE 0 END), 0) AS unassigned \
         FROM tickets t LEFT JOIN teams g ON g.id = t.team_id \
         WHERE t.org_id = $1 AND t.state NOT IN ",
        DONE,
        FILTER,
        " GROUP BY t.state, t.priority, t.kind, g.name ORDER BY 1, 2, 3, 4"
    );
    on!(tx, c => bind_filters!(sqlx::query_as(SQL), org_id, filters).fetch_all(c).await)
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OldestRow {
    pub number: String,
    pub title: String,
    pub created_at: DateTime<Utc>,
}

pub async fn oldest_open(
    tx: &mut Tx,
    org_id: Uuid,
    filters: &Filters,
) -> Result<Option<OldestRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        "SELECT t.number, t.title, t.created_at FROM tickets t \
         WHERE t.org_id = $1 AND t.state NOT IN ",
        DONE,
        FILTER,
        " ORDER BY t.created_at, t.id LIMIT 1"
    );
    on!(tx, c => bind_filters!(sqlx::query_as(SQL), org_id, filters).fetch_optional(c).await)
}

/// Tickets created since `$9` and since `$10` (`$10` ≤ `$9`).
pub async fn created_since(
    tx: &mut Tx,
    org_id: Uuid,
    filters: &Filters,
    recent: DateTime<Utc>,
    earlier: DateTime<Utc>,
) -> Result<(i64, i64), sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        "SELECT COALESCE(SUM(CASE WHEN t.created_at >= $9 THEN 1 ELSE 0 END), 0), COUNT(*) \
         FROM tickets t WHERE t.org_id = $1 AND t.created_at >= $10",
        FILTER
    );
    on!(tx, c => bind_filters!(sqlx::query_as(SQL), org_id, filters)
        .bind(recent).bind(earlier).fetch_one(c).await)
}

/// Resolutions (as `domain::report` counts them) since `$9` and since `$10`.
pub async fn resolved_since(
    tx: &mut Tx,
    org_id: Uuid,
    filters: &Filters,
    recent: DateTime<Utc>,
    earlier: DateTime<Utc>,
) -> Result<(i64, i64), sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        "SELECT COALESCE(SUM(CASE WHEN a.created_at >= $9 THEN 1 ELSE 0 END), 0), COUNT(*) \
         FROM activity a JOIN tickets t ON t.id = a.ticket_id \
         WHERE a.org_id = $1 AND a.action = 'state_changed' AND a.created_at >= $10 AND t.org_id = $1 AND ",
        RESOLUTION,
        FILTER
    );
    on!(tx, c => bind_filters!(sqlx::query_as(SQL), org_id, filters)
        .bind(recent).bind(earlier).fetch_one(c).await)
}

/// The SLA states of the open tickets.
pub async fn open_sla_states(
    tx: &mut Tx,
    org_id: Uuid,
    filters: &Filters,
) -> Result<Vec<Json<SlaState>>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        "SELECT s.state FROM tickets t JOIN sla_states s ON s.ticket_id = t.id \
         WHERE t.org_id = $1 AND t.state NOT IN ",
        DONE,
        FILTER
    );
    on!(tx, c => bind_filters!(sqlx::query_scalar(SQL), org_id, filters).fetch_all(c).await)
}

/// Average rating and number of rated tickets created since `$9`.
pub async fn satisfaction_since(
    tx: &mut Tx,
    org_id: Uuid,
    filters: &Filters,
    since: DateTime<Utc>,
) -> Result<(Option<f64>, i64), sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        "SELECT AVG(CAST(t.satisfaction AS DOUBLE PRECISION)), COUNT(t.satisfaction) FROM tickets t \
         WHERE t.org_id = $1 AND t.created_at >= $9 AND t.satisfaction IS NOT NULL",
        FILTER
    );
    on!(tx, c => bind_filters!(sqlx::query_as(SQL), org_id, filters).bind(since).fetch_one(c).await)
}

/// The categories with most tickets created since `$9`, most first.
pub async fn top_categories(
    tx: &mut Tx,
    org_id: Uuid,
    filters: &Filters,
    since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        "SELECT g.name, COUNT(*) AS n FROM tickets t JOIN categories g ON g.id = t.category_id \
         WHERE t.org_id = $1 AND t.created_at >= $9",
        FILTER,
        " GROUP BY g.name ORDER BY n DESC, g.name LIMIT $10"
    );
    on!(tx, c => bind_filters!(sqlx::query_as(SQL), org_id, filters)
        .bind(since).bind(limit).fetch_all(c).await)
}

// ---- SLA -----------------------------------------------------------------

/// One SLA outcome decided in the period, with every dimension the SLA and
/// agents reports group by.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutcomeRow {
    pub policy: String,
    /// The team recorded with the outcome.
    pub team: Option<String>,
    pub priority: String,
    pub category: Option<String>,
    pub assignee_id: Option<Uuid>,
    pub assignee: Option<String>,
    pub ticket_team_id: Option<Uuid>,
    pub ticket_team: Option<String>,
    pub target: String,
    pub outcome: String,
    pub started_at: DateTime<Utc>,
    pub decided_at: DateTime<Utc>,
    pub calendar_id: Option<Uuid>,
}

pub async fn outcomes(
    tx: &mut Tx,
    org_id: Uuid,
    filters: &Filters,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<OutcomeRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        "SELECT o.policy_name AS policy, ot.name AS team, o.priority, cg.name AS category, \
           t.assignee_id, ap.name AS assignee, t.team_id AS ticket_team_id, tt.name AS ticket_team, \
           o.target, o.outcome, o.started_at, o.decided_at, p.calendar_id \
         FROM sla_outcomes o JOIN tickets t ON t.id = o.ticket_id \
           LEFT JOIN sla_policies p ON p.id = o.policy_id \
           LEFT JOIN teams ot ON ot.id = o.team_id \
           LEFT JOIN teams tt ON tt.id = t.team_id \
           LEFT JOIN categories cg ON cg.id = t.category_id \
           LEFT JOIN people ap ON ap.id = t.assignee_id \
         WHERE o.org_id = $1 AND o.decided_at >= $9 AND o.decided_at < $10 AND t.org_id = $1",
        FILTER,
        " ORDER BY o.decided_at, o.id"
    );
    on!(tx, c => bind_filters!(sqlx::query_as(SQL), org_id, filters)
        .bind(from).bind(to).fetch_all(c).await)
}

/// SLA states that may hold a clock still running at `$10`: the open
/// tickets', and those changed since `$9`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StateRow {
    pub grp: Option<String>,
    pub state: Json<SlaState>,
}

pub async fn running_states(
    tx: &mut Tx,
    org_id: Uuid,
    filters: &Filters,
    group: SlaGroup,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<StateRow>, sqlx::Error> {
    const BODY: &str = const_format::concatcp!(
        " AS grp, s.state FROM sla_states s JOIN tickets t ON t.id = s.ticket_id \
           LEFT JOIN sla_policies p ON p.id = s.policy_id \
           LEFT JOIN teams tt ON tt.id = t.team_id \
           LEFT JOIN categories cg ON cg.id = t.category_id \
         WHERE s.org_id = $1 AND t.org_id = $1 AND t.created_at < $10 \
           AND (s.updated_at >= $9 OR t.state NOT IN ",
        DONE,
        ")",
        FILTER
    );
    const POLICY: &str = const_format::concatcp!("SELECT p.name", BODY);
    const TEAM: &str = const_format::concatcp!("SELECT tt.name", BODY);
    const PRIORITY: &str = const_format::concatcp!("SELECT t.priority", BODY);
    const CATEGORY: &str = const_format::concatcp!("SELECT cg.name", BODY);
    let sql = match group {
        SlaGroup::Policy => POLICY,
        SlaGroup::Team => TEAM,
        SlaGroup::Priority => PRIORITY,
        SlaGroup::Category => CATEGORY,
    };
    on!(tx, c => bind_filters!(sqlx::query_as(sql), org_id, filters)
        .bind(from).bind(to).fetch_all(c).await)
}

/// Business calendars of the organization (id, spec JSON).
pub async fn calendars(
    tx: &mut Tx,
    org_id: Uuid,
) -> Result<Vec<(Uuid, Json<serde_json::Value>)>, sqlx::Error> {
    let sql = "SELECT id, spec FROM sla_calendars WHERE org_id = $1";
    on!(tx, c => sqlx::query_as(sql).bind(org_id).fetch_all(c).await)
}

// ---- agents and processes -----------------------------------------------

/// One resolution in the period, for durations from creation.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ResolutionRow {
    pub assignee_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub priority: String,
    pub created_at: DateTime<Utc>,
    pub resolved_at: DateTime<Utc>,
    pub calendar_id: Option<Uuid>,
}

pub async fn resolutions(
    tx: &mut Tx,
    org_id: Uuid,
    filters: &Filters,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<ResolutionRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        "SELECT t.assignee_id, t.team_id, t.priority, t.created_at, a.created_at AS resolved_at, p.calendar_id \
         FROM activity a JOIN tickets t ON t.id = a.ticket_id \
           LEFT JOIN sla_states s ON s.ticket_id = t.id \
           LEFT JOIN sla_policies p ON p.id = s.policy_id \
         WHERE a.org_id = $1 AND a.action = 'state_changed' AND a.created_at >= $9 AND a.created_at < $10 \
           AND t.org_id = $1 AND ",
        RESOLUTION,
        FILTER,
        " ORDER BY a.created_at, a.id"
    );
    on!(tx, c => bind_filters!(sqlx::query_as(SQL), org_id, filters)
        .bind(from).bind(to).fetch_all(c).await)
}

/// Whom the agents report counts per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Assignee,
    Team,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WorkRow {
    pub id: Option<Uuid>,
    pub name: Option<String>,
    pub assigned: i64,
    pub resolved: i64,
    pub reopened: i64,
    pub open_at_end: i64,
    pub rated: i64,
    pub score: i64,
}

/// Per assignee or team: tickets created in the period (and their ratings),
/// resolutions and reopenings in the period, and tickets open at the end of
/// the period (from the history, so a closed period reads the same later;
/// for a period ending now it is the open workload now).
pub async fn workload(
    tx: &mut Tx,
    org_id: Uuid,
    filters: &Filters,
    who: Who,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<WorkRow>, sqlx::Error> {
    macro_rules! workload_sql {
        ($who:literal, $names:literal) => {
            const_format::concatcp!(
                "SELECT x.who AS id, n.name, SUM(x.assigned) AS assigned, SUM(x.resolved) AS resolved, \
                   SUM(x.reopened) AS reopened, SUM(x.open_now) AS open_at_end, SUM(x.rated) AS rated, \
                   SUM(x.score) AS score FROM ( \
                   SELECT ", $who, " AS who, 1 AS assigned, 0 AS resolved, 0 AS reopened, 0 AS open_now, \
                     CASE WHEN t.satisfaction IS NULL THEN 0 ELSE 1 END AS rated, \
                     COALESCE(t.satisfaction, 0) AS score \
                     FROM tickets t WHERE t.org_id = $1 AND t.created_at >= $9 AND t.created_at < $10",
                FILTER,
                " UNION ALL SELECT ", $who, ", 0, CASE WHEN ", RESOLUTION, " THEN 1 ELSE 0 END, \
                     CASE WHEN ", REOPENING, " THEN 1 ELSE 0 END, 0, 0, 0 \
                     FROM activity a JOIN tickets t ON t.id = a.ticket_id \
                     WHERE a.org_id = $1 AND a.action = 'state_changed' AND a.created_at >= $9 \
                       AND a.created_at < $10 AND t.org_id = $1",
                FILTER,
                " UNION ALL SELECT ", $who, ", 0, 0, 0, 1, 0, 0 FROM tickets t \
                     WHERE t.org_id = $1 AND t.created_at < $10",
                FILTER,
                " UNION ALL SELECT ", $who, ", 0, 0, 0, CASE WHEN ", REOPENING, " THEN 1 WHEN ", RESOLUTION,
                " THEN -1 ELSE 0 END, 0, 0 FROM activity a JOIN tickets t ON t.id = a.ticket_id \
                     WHERE a.org_id = $1 AND a.action = 'state_changed' AND a.created_at < $10 AND t.org_id = $1",
                FILTER,
                " ) x LEFT JOIN ", $names, " n ON n.id = x.who GROUP BY x.who, n.name ORDER BY n.name, x.who"
            )
        };
    }
    const ASSIGNEE: &str = workload_sql!("t.assignee_id", "people");
    const TEAM: &str = workload_sql!("t.team_id", "teams");
    let sql = match who {
        Who::Assignee => ASSIGNEE,
        Who::Team => TEAM,
    };
    on!(tx, c => bind_filters!(sqlx::query_as(sql), org_id, filters)
        .bind(from).bind(to).fetch_all(c).await)
}

/// Time logged in the period (by the entries' `started_at`) on the tickets
/// the filters select: per agent who logged it, or per the ticket's team.
/// Rows: (who, name, minutes, billable minutes).
pub async fn time_logged(
    tx: &mut Tx,
    org_id: Uuid,
    filters: &Filters,
    who: Who,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(Option<Uuid>, Option<String>, i64, i64)>, sqlx::Error> {
    macro_rules! time_sql {
        ($who:literal, $names:literal) => {
            const_format::concatcp!(
                "SELECT ", $who, " AS who, n.name, SUM(e.minutes) AS minutes, \
                   SUM(CASE WHEN e.billable THEN e.minutes ELSE 0 END) AS billable \
                 FROM time_entries e JOIN tickets t ON t.id = e.ticket_id \
                   LEFT JOIN ", $names, " n ON n.id = ", $who, " \
                 WHERE e.org_id = $1 AND t.org_id = $1 AND e.started_at >= $9 AND e.started_at < $10",
                FILTER,
                " GROUP BY ", $who, ", n.name ORDER BY n.name, 1"
            )
        };
    }
    const AGENT: &str = time_sql!("e.agent_id", "people");
    const TEAM: &str = time_sql!("t.team_id", "teams");
    let sql = match who {
        Who::Assignee => AGENT,
        Who::Team => TEAM,
    };
    on!(tx, c => bind_filters!(sqlx::query_as(sql), org_id, filters)
        .bind(from).bind(to).fetch_all(c).await)
}

/// Problems created in the period and the incidents linked to them.
pub async fn problem_links(
    tx: &mut Tx,
    org_id: Uuid,
    filters: &Filters,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(i64, i64), sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        "SELECT COUNT(DISTINCT t.id), COUNT(pi.incident_id) FROM tickets t \
           LEFT JOIN problem_incidents pi ON pi.problem_id = t.id \
         WHERE t.org_id = $1 AND t.kind = 'problem' AND t.created_at >= $9 AND t.created_at < $10",
        FILTER
    );
    on!(tx, c => bind_filters!(sqlx::query_as(SQL), org_id, filters)
        .bind(from).bind(to).fetch_one(c).await)
}

/// Post-implementation review outcomes recorded in the period, by outcome.
pub async fn change_reviews(
    tx: &mut Tx,
    org_id: Uuid,
    filters: &Filters,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(Option<String>, i64)>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        "SELECT a.new_value, COUNT(*) FROM activity a JOIN tickets t ON t.id = a.ticket_id \
         WHERE a.org_id = $1 AND a.action = 'change_reviewed' AND a.created_at >= $9 AND a.created_at < $10 \
           AND t.org_id = $1",
        FILTER,
        " GROUP BY a.new_value ORDER BY 1"
    );
    on!(tx, c => bind_filters!(sqlx::query_as(SQL), org_id, filters)
        .bind(from).bind(to).fetch_all(c).await)
}

/// Changes created in the period, by change type.
pub async fn change_types(
    tx: &mut Tx,
    org_id: Uuid,
    filters: &Filters,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        "SELECT d.change_type, COUNT(*) FROM tickets t JOIN change_details d ON d.ticket_id = t.id \
         WHERE t.org_id = $1 AND t.kind = 'change' AND t.created_at >= $9 AND t.created_at < $10",
        FILTER,
        " GROUP BY d.change_type ORDER BY 1"
    );
    on!(tx, c => bind_filters!(sqlx::query_as(SQL), org_id, filters)
        .bind(from).bind(to).fetch_all(c).await)
}

// ---- demo history --------------------------------------------------------

/// Demo seeding only (`cli::demo_history`): moves a ticket's recorded
/// history to the instants of a made-up past. The ticket was created and
/// moved through the real use cases a moment ago; its non-move activity and
/// comments go to `created_at`, its state changes, in order, to `moves`.
pub async fn place_ticket_history(
    tx: &mut Tx,
    org_id: Uuid,
    ticket_id: Uuid,
    created_at: DateTime<Utc>,
    moves: &[DateTime<Utc>],
    resolved_at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    let last = moves.last().copied().unwrap_or(created_at);
    let ids_sql = "SELECT id FROM activity WHERE ticket_id = $1 AND action = 'state_changed' \
                   ORDER BY created_at, id";
    let ids: Vec<Uuid> =
        on!(tx, c => sqlx::query_scalar(ids_sql).bind(ticket_id).fetch_all(c).await)?;
    let move_sql = "UPDATE activity SET created_at = $2 WHERE id = $1";
    for (id, at) in ids.iter().zip(moves) {
        on!(tx, c => sqlx::query(move_sql).bind(id).bind(at).execute(c).await.map(|r| r.rows_affected()))?;
    }
    let rest =
        "UPDATE activity SET created_at = $2 WHERE ticket_id = $1 AND action <> 'state_changed'";
    on!(tx, c => sqlx::query(rest).bind(ticket_id).bind(created_at).execute(c).await.map(|r| r.rows_affected()))?;
    let comments = "UPDATE comments SET created_at = $2 WHERE ticket_id = $1";
    on!(tx, c => sqlx::query(comments).bind(ticket_id).bind(created_at).execute(c).await.map(|r| r.rows_affected()))?;
    let ticket = "UPDATE tickets SET created_at = $3, updated_at = $4, \
                  resolved_at = CASE WHEN resolved_at IS NULL THEN NULL ELSE $5 END, \
                  closed_at = CASE WHEN closed_at IS NULL THEN NULL ELSE $4 END \
                  WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(ticket)
        .bind(org_id)
        .bind(ticket_id)
        .bind(created_at)
        .bind(last)
        .bind(resolved_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

// ---- benchmark seed ------------------------------------------------------

/// What the reports benchmark seeds: how many tickets over which span, and
/// the people, teams and categories they are spread over.
#[derive(Debug, Clone)]
pub struct BenchSeed {
    pub tickets: i64,
    pub start: DateTime<Utc>,
    pub span_secs: i64,
    pub teams: Vec<Uuid>,
    pub agents: Vec<Uuid>,
    pub categories: Vec<Uuid>,
}

/// `switchboard bench --scenario reports` only: `n` incidents spread evenly
/// over `span_secs` from `start`, in one statement per table (a load
/// generator, not input: no intake, audit or outbox). One in ten stays new,
/// one in ten in progress, the rest are resolved (half of those closed)
/// 1–48 hours after creation; one in fifty was reopened once on the way.
/// Activity holds each state change; every resolved ticket has a
/// resolution SLA outcome (24 hours). Returns the tickets written.
pub async fn seed_bench(tx: &mut Tx, org_id: Uuid, seed: &BenchSeed) -> Result<u64, sqlx::Error> {
    let BenchSeed {
        tickets: n,
        start,
        span_secs,
        teams,
        agents,
        categories,
    } = seed;
    let (n, start, span_secs) = (*n, *start, *span_secs);
    match tx {
        Tx::Postgres(t) => {
            const TICKETS: &str = "INSERT INTO tickets (id, org_id, number, kind, title, description, state, \
                impact, urgency, priority, requester_id, assignee_id, team_id, category_id, channel, \
                created_at, updated_at, resolved_at, closed_at, satisfaction) \
              SELECT gen_random_uuid(), $1, 'INC' || lpad(g::text, 7, '0'), 'incident', 'bench ' || g, '', \
                CASE WHEN g % 10 = 0 THEN 'new' WHEN g % 10 = 1 THEN 'in_progress' \
                     WHEN g % 10 < 6 THEN 'resolved' ELSE 'closed' END, \
                'medium', 'medium', 'p' || (1 + g % 4), NULL, \
                ($6::uuid[])[(1 + g % cardinality($6::uuid[]))::int], ($5::uuid[])[(1 + g % cardinality($5::uuid[]))::int], \
                ($7::uuid[])[(1 + g % cardinality($7::uuid[]))::int], \
                (ARRAY['api', 'slack', 'email', 'discord'])[(1 + g % 4)::int], c, c, \
                CASE WHEN g % 10 >= 2 THEN c + make_interval(hours => 1 + (g % 48)::int) END, \
                CASE WHEN g % 10 >= 6 THEN c + make_interval(hours => 49) END, \
                CASE WHEN g % 10 >= 2 AND g % 3 = 0 THEN 1 + (g % 5)::int END \
              FROM generate_series(1, $2::bigint) g, \
                LATERAL (SELECT $3::timestamptz + make_interval(secs => g::float8 * $4::float8 / $2::float8) AS c) x";
            const ACTIVITY: &str = "INSERT INTO activity (id, org_id, ticket_id, actor_id, channel, action, field, \
                old_value, new_value, created_at) \
              SELECT gen_random_uuid(), $1, t.id, NULL, 'api', 'state_changed', 'state', m.o, m.n, m.at \
              FROM tickets t, LATERAL (SELECT substr(t.number, 4)::bigint AS g) k, \
                LATERAL (VALUES \
                  ('new', 'in_progress', t.created_at + interval '10 minutes', k.g % 10 <> 0), \
                  ('in_progress', 'resolved', t.resolved_at - interval '50 minutes', k.g % 50 = 2), \
                  ('resolved', 'in_progress', t.resolved_at - interval '40 minutes', k.g % 50 = 2), \
                  ('in_progress', 'resolved', t.resolved_at, t.resolved_at IS NOT NULL), \
                  ('resolved', 'closed', t.closed_at, t.closed_at IS NOT NULL) \
                ) AS m(o, n, at, keep) \
              WHERE t.org_id = $1 AND m.keep";
            const OUTCOMES: &str = "INSERT INTO sla_outcomes (id, org_id, ticket_id, target, started_at, policy_id, \
                policy_name, team_id, priority, kind, outcome, due_at, decided_at) \
              SELECT gen_random_uuid(), $1, t.id, 'resolution', t.created_at, NULL, 'bench', t.team_id, \
                t.priority, t.kind, \
                CASE WHEN t.resolved_at <= t.created_at + interval '24 hours' THEN 'met' ELSE 'breached' END, \
                t.created_at + interval '24 hours', LEAST(t.resolved_at, t.created_at + interval '24 hours') \
              FROM tickets t WHERE t.org_id = $1 AND t.resolved_at IS NOT NULL";
            let written = sqlx::query(TICKETS)
                .bind(org_id)
                .bind(n)
                .bind(start)
                .bind(span_secs)
                .bind(teams.as_slice())
                .bind(agents.as_slice())
                .bind(categories.as_slice())
                .execute(&mut **t)
                .await?
                .rows_affected();
            sqlx::query(ACTIVITY).bind(org_id).execute(&mut **t).await?;
            sqlx::query(OUTCOMES).bind(org_id).execute(&mut **t).await?;
            Ok(written)
        }
        Tx::Sqlite(t) => {
            // No arrays: the k-th team, agent or category by offset; no
            // interval type: instants as sqlx writes them, from seconds.
            const TS: &str = "strftime('%Y-%m-%dT%H:%M:%S', ";
            const TICKETS: &str = const_format::concatcp!(
                "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < $2), \
                 x AS (SELECT g, $3 + (g * $4) / $2 AS c FROM s), \
                 agents AS (SELECT id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS k FROM people \
                   WHERE org_id = $1 AND name LIKE 'Bench agent %'), \
                 teams_k AS (SELECT id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS k FROM teams WHERE org_id = $1), \
                 categories_k AS (SELECT id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS k FROM categories WHERE org_id = $1) \
                 INSERT INTO tickets (id, org_id, number, kind, title, description, state, impact, urgency, \
                   priority, requester_id, assignee_id, team_id, category_id, channel, created_at, updated_at, \
                   resolved_at, closed_at, satisfaction) \
                 SELECT randomblob(16), $1, 'INC' || substr('0000000' || g, -7), 'incident', 'bench ' || g, '', \
                   CASE WHEN g % 10 = 0 THEN 'new' WHEN g % 10 = 1 THEN 'in_progress' \
                        WHEN g % 10 < 6 THEN 'resolved' ELSE 'closed' END, \
                   'medium', 'medium', 'p' || (1 + g % 4), NULL, \
                   (SELECT a.id FROM agents a WHERE a.k = g % $6), (SELECT m.id FROM teams_k m WHERE m.k = g % $5), \
                   (SELECT c.id FROM categories_k c WHERE c.k = g % $7), \
                   CASE g % 4 WHEN 0 THEN 'api' WHEN 1 THEN 'slack' WHEN 2 THEN 'email' ELSE 'discord' END, ",
                TS, "c, 'unixepoch') || '+00:00', ", TS, "c, 'unixepoch') || '+00:00', \
                   CASE WHEN g % 10 >= 2 THEN ", TS, "c + 3600 * (1 + g % 48), 'unixepoch') || '+00:00' END, \
                   CASE WHEN g % 10 >= 6 THEN ", TS, "c + 3600 * 49, 'unixepoch') || '+00:00' END, \
                   CASE WHEN g % 10 >= 2 AND g % 3 = 0 THEN 1 + g % 5 END \
                 FROM x"
            );
            const ACTIVITY: &str = const_format::concatcp!(
                "INSERT INTO activity (id, org_id, ticket_id, actor_id, channel, action, field, old_value, new_value, created_at) \
                 SELECT randomblob(16), $1, t.id, NULL, 'api', 'state_changed', 'state', m.o, m.n, ", TS,
                "CASE m.step WHEN 0 THEN unixepoch(t.created_at) + 600 \
                   WHEN 1 THEN unixepoch(t.resolved_at) - 3000 WHEN 2 THEN unixepoch(t.resolved_at) - 2400 \
                   WHEN 3 THEN unixepoch(t.resolved_at) ELSE unixepoch(t.closed_at) END, 'unixepoch') || '+00:00' \
                 FROM tickets t JOIN (\
                   SELECT 'new' AS o, 'in_progress' AS n, 0 AS step UNION ALL \
                   SELECT 'in_progress', 'resolved', 1 UNION ALL \
                   SELECT 'resolved', 'in_progress', 2 UNION ALL \
                   SELECT 'in_progress', 'resolved', 3 UNION ALL \
                   SELECT 'resolved', 'closed', 4) m \
                 WHERE t.org_id = $1 AND CASE m.step \
                   WHEN 0 THEN CAST(substr(t.number, 4) AS INTEGER) % 10 <> 0 \
                   WHEN 1 THEN CAST(substr(t.number, 4) AS INTEGER) % 50 = 2 \
                   WHEN 2 THEN CAST(substr(t.number, 4) AS INTEGER) % 50 = 2 \
                   WHEN 3 THEN t.resolved_at IS NOT NULL \
                   ELSE t.closed_at IS NOT NULL END"
            );
            const OUTCOMES: &str = const_format::concatcp!(
                "INSERT INTO sla_outcomes (id, org_id, ticket_id, target, started_at, policy_id, policy_name, team_id, \
                   priority, kind, outcome, due_at, decided_at) \
                 SELECT randomblob(16), $1, t.id, 'resolution', t.created_at, NULL, 'bench', t.team_id, t.priority, t.kind, \
                   CASE WHEN unixepoch(t.resolved_at) <= unixepoch(t.created_at) + 86400 THEN 'met' ELSE 'breached' END, \
                   ", TS, "unixepoch(t.created_at) + 86400, 'unixepoch') || '+00:00', \
                   ", TS, "MIN(unixepoch(t.resolved_at), unixepoch(t.created_at) + 86400), 'unixepoch') || '+00:00' \
                 FROM tickets t WHERE t.org_id = $1 AND t.resolved_at IS NOT NULL"
            );
            let written = sqlx::query(TICKETS)
                .bind(org_id)
                .bind(n)
                .bind(start.timestamp())
                .bind(span_secs)
                .bind(teams.len() as i64)
                .bind(agents.len() as i64)
                .bind(categories.len() as i64)
                .execute(&mut **t)
                .await?
                .rows_affected();
            sqlx::query(ACTIVITY).bind(org_id).execute(&mut **t).await?;
            sqlx::query(OUTCOMES).bind(org_id).execute(&mut **t).await?;
            Ok(written)
        }
    }
}

/// Tickets of an organization (the bench seeds once).
pub async fn count_tickets(tx: &mut Tx, org_id: Uuid) -> Result<i64, sqlx::Error> {
    let sql = "SELECT COUNT(*) FROM tickets WHERE org_id = $1";
    on!(tx, c => sqlx::query_scalar(sql).bind(org_id).fetch_one(c).await)
}

/// Brings the planner's statistics up to date after the bulk seed.
pub async fn analyze(tx: &mut Tx) -> Result<(), sqlx::Error> {
    on!(tx, c => sqlx::query("ANALYZE").execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::DONE_STATES;

    #[test]
    fn the_sql_list_of_done_states_is_the_domain_list() {
        let sql: Vec<String> = DONE_STATES.iter().map(|s| format!("'{s}'")).collect();
        assert_eq!(DONE, format!("({})", sql.join(", ")));
    }

    #[test]
    fn the_sqlite_bucket_search_counts_boundaries_at_or_before() {
        // Evaluate the generated CASE tree for integer "timestamps".
        fn eval(expr: &str, x: i64, bounds: &[i64]) -> i64 {
            let expr = expr.trim();
            if let Some(rest) = expr.strip_prefix("CASE WHEN c < $") {
                let (param, rest) = rest.split_once(" THEN ").expect("then");
                let k: usize = param.parse().expect("param");
                let body = rest.strip_suffix(" END").expect("end");
                // Split at the ELSE that belongs to this CASE.
                let mut depth = 0;
                let mut split = None;
                for i in 0..body.len() {
                    if body[i..].starts_with("CASE") {
                        depth += 1;
                    } else if body[i..].starts_with(" END") {
                        depth -= 1;
                    } else if depth == 0 && body[i..].starts_with(" ELSE ") {
                        split = Some(i);
                        break;
                    }
                }
                let i = split.expect("else");
                let (then, other) = (&body[..i], &body[i + 6..]);
                if x < bounds[k - 1] {
                    eval(then, x, bounds)
                } else {
                    eval(other, x, bounds)
                }
            } else {
                expr.parse().expect("leaf")
            }
        }
        for n in 1..12usize {
            let bounds: Vec<i64> = (0..n as i64).map(|i| i * 10).collect();
            let expr = sqlite_bucket("c", 1, n);
            for x in -5..(n as i64 * 10 + 5) {
                let expected = bounds.iter().filter(|b| **b <= x).count() as i64;
                assert_eq!(eval(&expr, x, &bounds), expected, "n={n} x={x}");
            }
        }
    }
}
