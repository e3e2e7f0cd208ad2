//! Macros (canned responses with field changes, issue 23 item 4): one
//! organization's, each for the whole organization or for one team.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::{on, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MacroRow {
    pub id: Uuid,
    pub org_id: Uuid,
    /// `None`: the whole organization's.
    pub team_id: Option<Uuid>,
    /// Read with the team; not a column of the table.
    pub team_name: Option<String>,
    pub name: String,
    /// The reply, with `{{placeholders}}`; empty: no reply.
    pub body: String,
    /// The reply is an internal note rather than a public comment.
    pub internal: bool,
    /// `domain::macros::MacroChanges`, checked when saved.
    pub changes: Json<Value>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const MACRO: &str =
    "SELECT m.id, m.org_id, m.team_id, t.name AS team_name, m.name, m.body, m.internal, \
                     m.changes, m.created_by, m.created_at, m.updated_at \
                     FROM macros m LEFT JOIN teams t ON t.id = m.team_id";

pub async fn insert_macro(tx: &mut Tx, row: &MacroRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO macros (id, org_id, team_id, name, body, internal, changes, created_by, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(row.team_id)
        .bind(&row.name)
        .bind(&row.body)
        .bind(row.internal)
        .bind(&row.changes)
        .bind(row.created_by)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn update_macro(tx: &mut Tx, row: &MacroRow) -> Result<(), sqlx::Error> {
    let sql = "UPDATE macros SET team_id = $3, name = $4, body = $5, internal = $6, changes = $7, updated_at = $8 \
               WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(sql)
        .bind(row.org_id)
        .bind(row.id)
        .bind(row.team_id)
        .bind(&row.name)
        .bind(&row.body)
        .bind(row.internal)
        .bind(&row.changes)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn delete_macro(tx: &mut Tx, org_id: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
    let sql = "DELETE FROM macros WHERE org_id = $1 AND id = $2";
    let n = on!(tx, c => sqlx::query(sql).bind(org_id).bind(id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

pub async fn find_macro(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
) -> Result<Option<MacroRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(MACRO, " WHERE m.org_id = $1 AND m.id = $2");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(id).fetch_optional(c).await)
}

/// An organization's macros, the organization's own first, then by team
/// and name. An organization keeps tens of them, not thousands: name
/// lookups (case-insensitive, Unicode-aware) are made on this list.
pub async fn list_macros(tx: &mut Tx, org_id: Uuid) -> Result<Vec<MacroRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        MACRO,
        " WHERE m.org_id = $1 ORDER BY m.team_id IS NOT NULL, t.name, m.name, m.id"
    );
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).fetch_all(c).await)
}
