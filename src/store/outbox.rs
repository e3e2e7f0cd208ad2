//! The outbox: messages written by use cases, delivered after commit.
//! A claim leases a row by moving `next_attempt_at` forward, so a daemon
//! that dies mid-delivery leaves the row due again once the lease ends.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::{on, on_pool, Db, Tx};

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const DEAD: &str = "dead";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: Uuid,
    pub org_id: Uuid,
    /// Which deliverer handles it: `webhook`, later `slack`, `discord`, `email`.
    pub channel: String,
    /// Deliverer-specific address, e.g. the webhook subscription id.
    pub target: String,
    pub event: String,
    pub payload: Json<Value>,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl OutboxRow {
    /// A new row, due now, with id `id`.
    pub fn pending(
        id: Uuid,
        org_id: Uuid,
        channel: &str,
        target: &str,
        event: &str,
        payload: Value,
    ) -> Self {
        let now = super::now();
        Self {
            id,
            org_id,
            channel: channel.into(),
            target: target.into(),
            event: event.into(),
            payload: Json(payload),
            state: PENDING.into(),
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            created_at: now,
            delivered_at: None,
        }
    }
}

const COLUMNS: &str =
    "id, org_id, channel, target, event, payload, state, attempts, next_attempt_at, \
                       last_error, created_at, delivered_at";

pub async fn insert_outbox(tx: &mut Tx, rows: &[OutboxRow]) -> Result<(), sqlx::Error> {
    for r in rows {
        let sql =
            "INSERT INTO outbox (id, org_id, channel, target, event, payload, state, attempts, \
                   next_attempt_at, last_error, created_at, delivered_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
        on!(tx, c => sqlx::query(sql)
            .bind(r.id)
            .bind(r.org_id)
            .bind(&r.channel)
            .bind(&r.target)
            .bind(&r.event)
            .bind(&r.payload)
            .bind(&r.state)
            .bind(r.attempts)
            .bind(r.next_attempt_at)
            .bind(&r.last_error)
            .bind(r.created_at)
            .bind(r.delivered_at)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// Claims up to `limit` due messages of one channel, leasing them until
/// `lease_until` and counting the attempt. Postgres skips rows another
/// daemon has locked. Channels nobody delivers yet stay pending (visible).
pub async fn claim_due_outbox(
    db: &Db,
    channel: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<OutboxRow>, sqlx::Error> {
    const PG: &str = const_format::concatcp!(
        "UPDATE outbox SET next_attempt_at = $2, attempts = attempts + 1 WHERE id IN \
         (SELECT id FROM outbox WHERE state = 'pending' AND channel = $4 AND next_attempt_at <= $1 \
          ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING ",
        COLUMNS
    );
    const LITE: &str = const_format::concatcp!(
        "UPDATE outbox SET next_attempt_at = $2, attempts = attempts + 1 WHERE id IN \
         (SELECT id FROM outbox WHERE state = 'pending' AND channel = $4 AND next_attempt_at <= $1 \
          ORDER BY next_attempt_at LIMIT $3) RETURNING ",
        COLUMNS
    );
    match db {
        Db::Postgres(p) => {
            sqlx::query_as(PG)
                .bind(now)
                .bind(lease_until)
                .bind(limit)
                .bind(channel)
                .fetch_all(p)
                .await
        }
        Db::Sqlite(p) => {
            sqlx::query_as(LITE)
                .bind(now)
                .bind(lease_until)
                .bind(limit)
                .bind(channel)
                .fetch_all(p)
                .await
        }
    }
}

/// Extends the claims of messages this daemon still holds.
pub async fn extend_claims(db: &Db, ids: &[Uuid], until: DateTime<Utc>) -> Result<(), sqlx::Error> {
    let sql = "UPDATE outbox SET next_attempt_at = $1 WHERE id = $2 AND state = 'pending'";
    for id in ids {
        on_pool!(db, p => sqlx::query(sql).bind(until).bind(id).execute(p).await.map(drop))?;
    }
    Ok(())
}

/// Gives claims back: due at `now`, the attempt the claim counted undone.
pub async fn release_claims(db: &Db, ids: &[Uuid], now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    let sql = "UPDATE outbox SET next_attempt_at = $1, attempts = attempts - 1 \
               WHERE id = $2 AND state = 'pending' AND attempts > 0";
    for id in ids {
        on_pool!(db, p => sqlx::query(sql).bind(now).bind(id).execute(p).await.map(drop))?;
    }
    Ok(())
}

/// The steps an earlier attempt of the row did (`{}` when none), so a
/// retry skips them.
pub async fn steps(db: &Db, id: Uuid) -> Result<Value, sqlx::Error> {
    let sql = "SELECT steps FROM outbox WHERE id = $1";
    let steps: Option<Option<Json<Value>>> =
        on_pool!(db, p => sqlx::query_scalar(sql).bind(id).fetch_optional(p).await)?;
    Ok(steps
        .flatten()
        .map(|s| s.0)
        .unwrap_or_else(|| Value::Object(Default::default())))
}

/// Records that the row did step `key` (what it made: `done`), merged
/// into the steps recorded before.
pub async fn record_step(db: &Db, id: Uuid, key: &str, done: Value) -> Result<(), sqlx::Error> {
    let mut patch = serde_json::Map::new();
    patch.insert(key.to_string(), done);
    let patch = Json(Value::Object(patch));
    match db {
        Db::Postgres(p) => {
            sqlx::query(
                "UPDATE outbox SET steps = COALESCE(steps, '{}'::jsonb) || $2 WHERE id = $1",
            )
            .bind(id)
            .bind(patch)
            .execute(p)
            .await?;
        }
        Db::Sqlite(p) => {
            sqlx::query(
                "UPDATE outbox SET steps = json_patch(COALESCE(steps, '{}'), $2) WHERE id = $1",
            )
            .bind(id)
            .bind(patch)
            .execute(p)
            .await?;
        }
    }
    Ok(())
}

pub async fn mark_delivered(db: &Db, id: Uuid, at: DateTime<Utc>) -> Result<(), sqlx::Error> {
    let sql =
        "UPDATE outbox SET state = 'delivered', delivered_at = $2, last_error = NULL WHERE id = $1";
    on_pool!(db, p => sqlx::query(sql).bind(id).bind(at).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn mark_retry(
    db: &Db,
    id: Uuid,
    next_attempt_at: DateTime<Utc>,
    error: &str,
) -> Result<(), sqlx::Error> {
    let sql = "UPDATE outbox SET next_attempt_at = $2, last_error = $3 WHERE id = $1";
    on_pool!(db, p => sqlx::query(sql).bind(id).bind(next_attempt_at).bind(error).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Like [`mark_retry`], giving back the attempt the claim counted.
pub async fn mark_held(
    db: &Db,
    id: Uuid,
    next_attempt_at: DateTime<Utc>,
    error: &str,
) -> Result<(), sqlx::Error> {
    let sql = "UPDATE outbox SET next_attempt_at = $2, last_error = $3, \
               attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END WHERE id = $1";
    on_pool!(db, p => sqlx::query(sql).bind(id).bind(next_attempt_at).bind(error).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn mark_dead(db: &Db, id: Uuid, error: &str) -> Result<(), sqlx::Error> {
    let sql = "UPDATE outbox SET state = 'dead', last_error = $2 WHERE id = $1";
    on_pool!(db, p => sqlx::query(sql).bind(id).bind(error).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Puts a dead-lettered message back in the queue (operator action).
pub async fn requeue(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = $3 \
               WHERE org_id = $1 AND id = $2 AND state = 'dead'";
    let done = on!(tx, c => sqlx::query(sql).bind(org_id).bind(id).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(done > 0)
}

pub async fn find_outbox_state(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    let sql = "SELECT state FROM outbox WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query_scalar(sql).bind(org_id).bind(id).fetch_optional(c).await)
}

pub async fn list_outbox(
    tx: &mut Tx,
    org_id: Uuid,
    state: Option<&str>,
    limit: i64,
) -> Result<Vec<OutboxRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        "SELECT ",
        COLUMNS,
        " FROM outbox WHERE org_id = $1 AND (state = $2 OR CAST($2 AS TEXT) IS NULL) ORDER BY created_at DESC, id DESC LIMIT $3"
    );
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(state).bind(limit).fetch_all(c).await)
}

/// The payload of one of the organization's outbox rows of `event`.
pub async fn find_outbox_payload(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
    event: &str,
) -> Result<Option<(String, String, Json<Value>)>, sqlx::Error> {
    let sql =
        "SELECT channel, target, payload FROM outbox WHERE org_id = $1 AND id = $2 AND event = $3";
    on!(tx, c => sqlx::query_as(sql).bind(org_id).bind(id).bind(event).fetch_optional(c).await)
}

/// Counts per state, of one organization or of all.
pub async fn count_by_state(
    db: &Db,
    org_id: Option<Uuid>,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    const ALL: &str = "SELECT state, COUNT(*) FROM outbox GROUP BY state ORDER BY state";
    const ONE: &str =
        "SELECT state, COUNT(*) FROM outbox WHERE org_id = $1 GROUP BY state ORDER BY state";
    match org_id {
        None => on_pool!(db, p => sqlx::query_as(ALL).fetch_all(p).await),
        Some(id) => on_pool!(db, p => sqlx::query_as(ONE).bind(id).fetch_all(p).await),
    }
}
