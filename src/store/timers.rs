//! Timers: rows with a due time. A claim happens inside the transaction of
//! the use case that handles the timer, so the timer and its effect commit
//! (or roll back) together.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::{on, on_pool, Db, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TimerRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub kind: String,
    pub ticket_id: Option<Uuid>,
    pub payload: Json<Value>,
    pub due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_timer(tx: &mut Tx, t: &TimerRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO timers (id, org_id, kind, ticket_id, payload, due_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
    on!(tx, c => sqlx::query(sql)
        .bind(t.id)
        .bind(t.org_id)
        .bind(&t.kind)
        .bind(t.ticket_id)
        .bind(&t.payload)
        .bind(t.due_at)
        .bind(t.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Removes the pending timers of one kind on a ticket (e.g. a reopened
/// ticket no longer auto-closes).
pub async fn cancel_timers(tx: &mut Tx, ticket_id: Uuid, kind: &str) -> Result<u64, sqlx::Error> {
    let sql = "DELETE FROM timers WHERE ticket_id = $1 AND kind = $2";
    let done = on!(tx, c => sqlx::query(sql).bind(ticket_id).bind(kind).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(done)
}

/// Claims one due timer; it stays locked (Postgres) until the transaction ends.
pub async fn claim_due_timer(
    tx: &mut Tx,
    now: DateTime<Utc>,
) -> Result<Option<TimerRow>, sqlx::Error> {
    const PG: &str = "SELECT id, org_id, kind, ticket_id, payload, due_at, created_at FROM timers \
                      WHERE due_at <= $1 ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED";
    const LITE: &str =
        "SELECT id, org_id, kind, ticket_id, payload, due_at, created_at FROM timers \
                        WHERE due_at <= $1 ORDER BY due_at LIMIT 1";
    match tx {
        Tx::Postgres(t) => sqlx::query_as(PG).bind(now).fetch_optional(&mut **t).await,
        Tx::Sqlite(t) => {
            sqlx::query_as(LITE)
                .bind(now)
                .fetch_optional(&mut **t)
                .await
        }
    }
}

/// Claims and removes up to `limit` due timers of one organization (that of
/// the oldest due timer nobody holds) in one statement; the rows stay
/// locked (Postgres) and come back if the transaction rolls back. One
/// organization per batch because a use case's events and audit chain
/// belong to one. Oldest first.
pub async fn claim_due_timers(
    tx: &mut Tx,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<TimerRow>, sqlx::Error> {
    const PG: &str = "DELETE FROM timers WHERE id IN (SELECT id FROM timers WHERE due_at <= $1 \
                      AND org_id = (SELECT org_id FROM timers WHERE due_at <= $1 ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED) \
                      ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
                      RETURNING id, org_id, kind, ticket_id, payload, due_at, created_at";
    const LITE: &str = "DELETE FROM timers WHERE id IN (SELECT id FROM timers WHERE due_at <= $1 \
                        AND org_id = (SELECT org_id FROM timers WHERE due_at <= $1 ORDER BY due_at LIMIT 1) \
                        ORDER BY due_at LIMIT $2) \
                        RETURNING id, org_id, kind, ticket_id, payload, due_at, created_at";
    let mut rows: Vec<TimerRow> = match tx {
        Tx::Postgres(t) => {
            sqlx::query_as(PG)
                .bind(now)
                .bind(limit)
                .fetch_all(&mut **t)
                .await?
        }
        Tx::Sqlite(t) => {
            sqlx::query_as(LITE)
                .bind(now)
                .bind(limit)
                .fetch_all(&mut **t)
                .await?
        }
    };
    // DELETE … RETURNING gives no order.
    rows.sort_by_key(|t| (t.due_at, t.id));
    Ok(rows)
}

pub async fn delete_timer(tx: &mut Tx, id: Uuid) -> Result<(), sqlx::Error> {
    let sql = "DELETE FROM timers WHERE id = $1";
    on!(tx, c => sqlx::query(sql).bind(id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn list_ticket_timers(
    tx: &mut Tx,
    ticket_id: Uuid,
) -> Result<Vec<TimerRow>, sqlx::Error> {
    let sql = "SELECT id, org_id, kind, ticket_id, payload, due_at, created_at FROM timers WHERE ticket_id = $1 ORDER BY due_at";
    on!(tx, c => sqlx::query_as(sql).bind(ticket_id).fetch_all(c).await)
}

/// The due time of the oldest overdue timer, for the timer-lag metric.
pub async fn oldest_due(db: &Db, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let sql = "SELECT due_at FROM timers WHERE due_at <= $1 ORDER BY due_at LIMIT 1";
    on_pool!(db, p => sqlx::query_scalar(sql).bind(now).fetch_optional(p).await)
}
