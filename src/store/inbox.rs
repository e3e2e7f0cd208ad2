//! The in-app inbox (one row per message to a person, read through the
//! API) and each organization's notification defaults.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::{on, on_exec, Exec, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InboxRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub person_id: Uuid,
    pub event: String,
    /// The ticket number, when the message is about one.
    pub ticket: Option<String>,
    pub subject: String,
    pub text: String,
    pub data: Json<Value>,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, org_id, person_id, event, ticket, subject, text, data, created_at, read_at";

pub async fn insert_inbox(tx: &mut Tx, rows: &[InboxRow]) -> Result<(), sqlx::Error> {
    for r in rows {
        let sql = "INSERT INTO inbox (id, org_id, person_id, event, ticket, subject, text, data, created_at, read_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
        on!(tx, c => sqlx::query(sql)
            .bind(r.id)
            .bind(r.org_id)
            .bind(r.person_id)
            .bind(&r.event)
            .bind(&r.ticket)
            .bind(&r.subject)
            .bind(&r.text)
            .bind(&r.data)
            .bind(r.created_at)
            .bind(r.read_at)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// A person's messages, newest first; only unread ones when asked.
pub async fn list_inbox(
    e: Exec<'_>,
    org_id: Uuid,
    person_id: Uuid,
    unread_only: bool,
    limit: i64,
) -> Result<Vec<InboxRow>, sqlx::Error> {
    const ALL: &str = const_format::concatcp!(
        "SELECT ",
        COLUMNS,
        " FROM inbox WHERE org_id = $1 AND person_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3"
    );
    const UNREAD: &str = const_format::concatcp!(
        "SELECT ",
        COLUMNS,
        " FROM inbox WHERE org_id = $1 AND person_id = $2 AND read_at IS NULL \
          ORDER BY created_at DESC, id DESC LIMIT $3"
    );
    let sql = if unread_only { UNREAD } else { ALL };
    on_exec!(e, c => sqlx::query_as(sql).bind(org_id).bind(person_id).bind(limit).fetch_all(c).await)
}

/// Marks one of the person's messages read (kept read if it was); false
/// when the person has no such message.
pub async fn mark_read(
    tx: &mut Tx,
    org_id: Uuid,
    person_id: Uuid,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<Option<InboxRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        "UPDATE inbox SET read_at = COALESCE(read_at, $4) WHERE org_id = $1 AND person_id = $2 AND id = $3 RETURNING ",
        COLUMNS
    );
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(person_id).bind(id).bind(at).fetch_optional(c).await)
}

/// Marks all the person's unread messages read; returns how many.
pub async fn mark_all_read(
    tx: &mut Tx,
    org_id: Uuid,
    person_id: Uuid,
    at: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let sql =
        "UPDATE inbox SET read_at = $3 WHERE org_id = $1 AND person_id = $2 AND read_at IS NULL";
    on!(tx, c => sqlx::query(sql).bind(org_id).bind(person_id).bind(at).execute(c).await.map(|r| r.rows_affected()))
}

/// The organization's notification defaults (`{}` when never set).
pub async fn find_notification_defaults(tx: &mut Tx, org_id: Uuid) -> Result<Value, sqlx::Error> {
    let sql = "SELECT settings FROM notification_defaults WHERE org_id = $1";
    let found: Option<Json<Value>> =
        on!(tx, c => sqlx::query_scalar(sql).bind(org_id).fetch_optional(c).await)?;
    Ok(found.map_or_else(|| Value::Object(Default::default()), |j| j.0))
}

pub async fn upsert_notification_defaults(
    tx: &mut Tx,
    org_id: Uuid,
    settings: &Value,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let sql =
        "INSERT INTO notification_defaults (org_id, settings, updated_at) VALUES ($1, $2, $3) \
               ON CONFLICT (org_id) DO UPDATE SET settings = $2, updated_at = $3";
    on!(tx, c => sqlx::query(sql).bind(org_id).bind(Json(settings)).bind(at).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}
