//! Problem management storage: incidents linked to problems, problem
//! details (workaround, root-cause analysis), the known-error database and
//! its search, known errors linked to tickets; and the incident columns of
//! `tickets` (major flag, parent, escalation level).

use chrono::{DateTime, Utc};
use const_format::concatcp;
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::{on, on_exec, tickets::TicketRow, tickets::SELECT_TICKET, Exec, Tx};
use crate::domain::problem::{relevance, term_score, KnownErrorText, TermScore};

/// Links an incident to a problem; false when it already was (to this one).
pub async fn link_incident(
    tx: &mut Tx,
    org_id: Uuid,
    problem_id: Uuid,
    incident_id: Uuid,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = "INSERT INTO problem_incidents (incident_id, problem_id, org_id, created_at) \
               VALUES ($1, $2, $3, $4) ON CONFLICT (incident_id) DO NOTHING";
    let n = on!(tx, c => sqlx::query(sql)
        .bind(incident_id)
        .bind(problem_id)
        .bind(org_id)
        .bind(at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

pub async fn unlink_incident(
    tx: &mut Tx,
    org_id: Uuid,
    problem_id: Uuid,
    incident_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let sql =
        "DELETE FROM problem_incidents WHERE org_id = $1 AND problem_id = $2 AND incident_id = $3";
    let n = on!(tx, c => sqlx::query(sql)
        .bind(org_id)
        .bind(problem_id)
        .bind(incident_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// The problem an incident is linked to, if any.
pub async fn problem_of_incident(
    e: Exec<'_>,
    org_id: Uuid,
    incident_id: Uuid,
) -> Result<Option<TicketRow>, sqlx::Error> {
    const SQL: &str = concatcp!(
        SELECT_TICKET,
        " JOIN problem_incidents pi ON pi.problem_id = t.id \
          WHERE t.org_id = $1 AND pi.org_id = $1 AND pi.incident_id = $2"
    );
    on_exec!(e, c => sqlx::query_as(SQL).bind(org_id).bind(incident_id).fetch_optional(c).await)
}

/// The incidents linked to a problem, oldest first.
pub async fn incidents_of_problem(
    e: Exec<'_>,
    org_id: Uuid,
    problem_id: Uuid,
) -> Result<Vec<TicketRow>, sqlx::Error> {
    const SQL: &str = concatcp!(
        SELECT_TICKET,
        " JOIN problem_incidents pi ON pi.incident_id = t.id \
          WHERE t.org_id = $1 AND pi.org_id = $1 AND pi.problem_id = $2 \
          ORDER BY t.created_at, t.id"
    );
    on_exec!(e, c => sqlx::query_as(SQL).bind(org_id).bind(problem_id).fetch_all(c).await)
}

/// The child incidents of a parent, oldest first.
pub async fn children_of(
    e: Exec<'_>,
    org_id: Uuid,
    parent_id: Uuid,
) -> Result<Vec<TicketRow>, sqlx::Error> {
    const SQL: &str = concatcp!(
        SELECT_TICKET,
        " WHERE t.org_id = $1 AND t.parent_id = $2 ORDER BY t.created_at, t.id"
    );
    on_exec!(e, c => sqlx::query_as(SQL).bind(org_id).bind(parent_id).fetch_all(c).await)
}

pub async fn has_children(e: Exec<'_>, org_id: Uuid, parent_id: Uuid) -> Result<bool, sqlx::Error> {
    let sql = "SELECT COUNT(*) FROM tickets WHERE org_id = $1 AND parent_id = $2";
    let n: i64 =
        on_exec!(e, c => sqlx::query_scalar(sql).bind(org_id).bind(parent_id).fetch_one(c).await)?;
    Ok(n > 0)
}

/// Writes the incident columns of a ticket (and its `updated_at`).
pub async fn update_ticket_extra(tx: &mut Tx, t: &TicketRow) -> Result<(), sqlx::Error> {
    let sql =
        "UPDATE tickets SET major = $3, parent_id = $4, escalation_level = $5, updated_at = $6 \
               WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(sql)
        .bind(t.org_id)
        .bind(t.id)
        .bind(t.extra.major)
        .bind(t.extra.parent_id)
        .bind(t.extra.escalation_level)
        .bind(t.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProblemDetailsRow {
    pub ticket_id: Uuid,
    pub org_id: Uuid,
    pub workaround: String,
    pub rca: Option<Json<Value>>,
    pub updated_by: Option<Uuid>,
    pub updated_at: DateTime<Utc>,
}

pub async fn find_problem_details(
    e: Exec<'_>,
    org_id: Uuid,
    ticket_id: Uuid,
) -> Result<Option<ProblemDetailsRow>, sqlx::Error> {
    let sql =
        "SELECT ticket_id, org_id, workaround, rca, updated_by, updated_at FROM problem_details \
               WHERE org_id = $1 AND ticket_id = $2";
    on_exec!(e, c => sqlx::query_as(sql).bind(org_id).bind(ticket_id).fetch_optional(c).await)
}

pub async fn upsert_problem_details(
    tx: &mut Tx,
    row: &ProblemDetailsRow,
) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO problem_details (ticket_id, org_id, workaround, rca, updated_by, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6) \
               ON CONFLICT (ticket_id) DO UPDATE SET workaround = excluded.workaround, rca = excluded.rca, \
               updated_by = excluded.updated_by, updated_at = excluded.updated_at";
    on!(tx, c => sqlx::query(sql)
        .bind(row.ticket_id)
        .bind(row.org_id)
        .bind(&row.workaround)
        .bind(&row.rca)
        .bind(row.updated_by)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A known error with the number of the problem it came from.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KnownErrorRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub title: String,
    pub symptoms: String,
    pub cause: String,
    pub workaround: String,
    pub problem_id: Option<Uuid>,
    pub problem_number: Option<String>,
    pub active: bool,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SELECT_KE: &str =
    "SELECT ke.id, ke.org_id, ke.title, ke.symptoms, ke.cause, ke.workaround, ke.problem_id, \
     p.number AS problem_number, ke.active, ke.created_by, ke.created_at, ke.updated_at \
     FROM known_errors ke LEFT JOIN tickets p ON p.id = ke.problem_id";

/// The searchable document of a known error; the GIN index of the Postgres
/// migration is on exactly this expression.
const KE_DOCUMENT: &str = "(setweight(to_tsvector('english', ke.title), 'A') || \
     setweight(to_tsvector('english', ke.symptoms), 'B') || \
     setweight(to_tsvector('english', ke.cause), 'C') || \
     setweight(to_tsvector('english', ke.workaround), 'D'))";

pub async fn insert_known_error(tx: &mut Tx, k: &KnownErrorRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO known_errors (id, org_id, title, symptoms, cause, workaround, problem_id, active, \
               created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
    on!(tx, c => sqlx::query(sql)
        .bind(k.id)
        .bind(k.org_id)
        .bind(&k.title)
        .bind(&k.symptoms)
        .bind(&k.cause)
        .bind(&k.workaround)
        .bind(k.problem_id)
        .bind(k.active)
        .bind(k.created_by)
        .bind(k.created_at)
        .bind(k.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn update_known_error(tx: &mut Tx, k: &KnownErrorRow) -> Result<(), sqlx::Error> {
    let sql = "UPDATE known_errors SET title = $3, symptoms = $4, cause = $5, workaround = $6, \
               problem_id = $7, active = $8, updated_at = $9 WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(sql)
        .bind(k.org_id)
        .bind(k.id)
        .bind(&k.title)
        .bind(&k.symptoms)
        .bind(&k.cause)
        .bind(&k.workaround)
        .bind(k.problem_id)
        .bind(k.active)
        .bind(k.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn find_known_error(
    e: Exec<'_>,
    org_id: Uuid,
    id: Uuid,
) -> Result<Option<KnownErrorRow>, sqlx::Error> {
    const SQL: &str = concatcp!(SELECT_KE, " WHERE ke.org_id = $1 AND ke.id = $2");
    on_exec!(e, c => sqlx::query_as(SQL).bind(org_id).bind(id).fetch_optional(c).await)
}

/// Reads a known error for change; Postgres locks the row so concurrent
/// edits serialize (SQLite has one writer already).
pub async fn lock_known_error(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
) -> Result<Option<KnownErrorRow>, sqlx::Error> {
    const PG: &str = concatcp!(
        SELECT_KE,
        " WHERE ke.org_id = $1 AND ke.id = $2 FOR UPDATE OF ke"
    );
    const LITE: &str = concatcp!(SELECT_KE, " WHERE ke.org_id = $1 AND ke.id = $2");
    match tx {
        Tx::Postgres(t) => {
            sqlx::query_as(PG)
                .bind(org_id)
                .bind(id)
                .fetch_optional(&mut **t)
                .await
        }
        Tx::Sqlite(t) => {
            sqlx::query_as(LITE)
                .bind(org_id)
                .bind(id)
                .fetch_optional(&mut **t)
                .await
        }
    }
}

/// Known errors newest first, inactive ones only when asked.
pub async fn list_known_errors(
    e: Exec<'_>,
    org_id: Uuid,
    include_inactive: bool,
    limit: i64,
) -> Result<Vec<KnownErrorRow>, sqlx::Error> {
    const SQL: &str = concatcp!(
        SELECT_KE,
        " WHERE ke.org_id = $1 AND (ke.active OR $2) ORDER BY ke.updated_at DESC, ke.id DESC LIMIT $3"
    );
    on_exec!(e, c => sqlx::query_as(SQL).bind(org_id).bind(include_inactive).bind(limit).fetch_all(c).await)
}

/// The known errors of a problem, newest first.
pub async fn known_errors_of_problem(
    e: Exec<'_>,
    org_id: Uuid,
    problem_id: Uuid,
) -> Result<Vec<KnownErrorRow>, sqlx::Error> {
    const SQL: &str = concatcp!(
        SELECT_KE,
        " WHERE ke.org_id = $1 AND ke.problem_id = $2 ORDER BY ke.updated_at DESC, ke.id DESC"
    );
    on_exec!(e, c => sqlx::query_as(SQL).bind(org_id).bind(problem_id).fetch_all(c).await)
}

/// How the words of a search combine.
#[derive(Debug, Clone)]
pub enum KnownErrorQuery {
    /// What an agent typed: web-search syntax on Postgres (every word must
    /// match, `"quoted phrases"`, `or`, `-word`); on SQLite every term
    /// (`terms`) must match.
    Typed { text: String, terms: Vec<String> },
    /// Any of these alphanumeric terms (suggestions for an incident).
    AnyOf(Vec<String>),
}

/// The most candidates SQLite ranks in memory per search.
const SQLITE_CANDIDATES: i64 = 5_000;

/// Active known errors matching `query`, best first, with a relevance
/// score. Postgres ranks with full-text search (`ts_rank` over the weighted
/// document, title weighing most); SQLite, which has no such engine here,
/// ranks by matched terms ([`term_score`]) over the organization's most
/// recently updated known errors.
pub async fn search_known_errors(
    e: Exec<'_>,
    org_id: Uuid,
    query: &KnownErrorQuery,
    limit: i64,
) -> Result<Vec<(KnownErrorRow, f32)>, sqlx::Error> {
    let (pg_text, terms, require_all) = match query {
        KnownErrorQuery::Typed { text, terms } => (text.clone(), terms, true),
        KnownErrorQuery::AnyOf(terms) => (terms.join(" or "), terms, false),
    };
    if terms.is_empty() && pg_text.trim().is_empty() {
        return Ok(Vec::new());
    }
    match e {
        Exec::Tx(Tx::Postgres(_)) | Exec::Db(super::Db::Postgres(_)) => {
            search_postgres(e, org_id, &pg_text, limit).await
        }
        _ => {
            const SQL: &str = concatcp!(
                SELECT_KE,
                " WHERE ke.org_id = $1 AND ke.active ORDER BY ke.updated_at DESC, ke.id DESC LIMIT $2"
            );
            let rows: Vec<KnownErrorRow> = on_exec!(e, c => sqlx::query_as(SQL).bind(org_id).bind(SQLITE_CANDIDATES).fetch_all(c).await)?;
            let mut scored: Vec<(TermScore, KnownErrorRow)> = rows
                .into_iter()
                .map(|row| {
                    let score = term_score(
                        terms,
                        KnownErrorText {
                            title: &row.title,
                            symptoms: &row.symptoms,
                            cause: &row.cause,
                            workaround: &row.workaround,
                        },
                    );
                    (score, row)
                })
                .filter(|(score, _)| {
                    score.matched > 0 && (!require_all || score.matched == terms.len())
                })
                .collect();
            scored.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.updated_at.cmp(&a.1.updated_at)));
            scored.truncate(usize::try_from(limit).unwrap_or(0));
            Ok(scored
                .into_iter()
                .map(|(score, row)| (row, relevance(score, terms.len())))
                .collect())
        }
    }
}

#[derive(sqlx::FromRow)]
struct RankedKnownError {
    #[sqlx(flatten)]
    row: KnownErrorRow,
    rank: f32,
}

async fn search_postgres(
    e: Exec<'_>,
    org_id: Uuid,
    text: &str,
    limit: i64,
) -> Result<Vec<(KnownErrorRow, f32)>, sqlx::Error> {
    const SQL: &str = concatcp!(
        "SELECT ke.id, ke.org_id, ke.title, ke.symptoms, ke.cause, ke.workaround, ke.problem_id, \
         p.number AS problem_number, ke.active, ke.created_by, ke.created_at, ke.updated_at, ts_rank(",
        KE_DOCUMENT,
        ", websearch_to_tsquery('english', $2)) AS rank \
         FROM known_errors ke LEFT JOIN tickets p ON p.id = ke.problem_id \
         WHERE ke.org_id = $1 AND ke.active AND ",
        KE_DOCUMENT,
        " @@ websearch_to_tsquery('english', $2) \
         ORDER BY rank DESC, ke.updated_at DESC, ke.id DESC LIMIT $3"
    );
    let rows: Vec<RankedKnownError> = on_exec!(e, c => sqlx::query_as(SQL).bind(org_id).bind(text).bind(limit).fetch_all(c).await)?;
    Ok(rows.into_iter().map(|r| (r.row, r.rank)).collect())
}

/// Links a known error to a ticket; false when it already was.
pub async fn link_ticket_known_error(
    tx: &mut Tx,
    org_id: Uuid,
    ticket_id: Uuid,
    known_error_id: Uuid,
    linked_by: Option<Uuid>,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = "INSERT INTO ticket_known_errors (ticket_id, known_error_id, org_id, linked_by, created_at) \
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT (ticket_id, known_error_id) DO NOTHING";
    let n = on!(tx, c => sqlx::query(sql)
        .bind(ticket_id)
        .bind(known_error_id)
        .bind(org_id)
        .bind(linked_by)
        .bind(at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// The known errors linked to a ticket, in the order they were linked.
pub async fn known_errors_of_ticket(
    e: Exec<'_>,
    org_id: Uuid,
    ticket_id: Uuid,
) -> Result<Vec<KnownErrorRow>, sqlx::Error> {
    const SQL: &str = concatcp!(
        SELECT_KE,
        " JOIN ticket_known_errors tk ON tk.known_error_id = ke.id \
          WHERE ke.org_id = $1 AND tk.org_id = $1 AND tk.ticket_id = $2 ORDER BY tk.created_at, ke.id"
    );
    on_exec!(e, c => sqlx::query_as(SQL).bind(org_id).bind(ticket_id).fetch_all(c).await)
}
