//! API tokens for machines and scripts, stored as SHA-256 hashes.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{on, on_pool, Db, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub person_id: Uuid,
    pub name: String,
    pub role: String,
    /// `read`, `read_write` or `scim` (only SCIM, see `desk::scim`).
    pub scope: String,
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "SELECT id, org_id, person_id, name, role, scope, token_hash, created_at, expires_at, revoked_at FROM api_tokens";

pub async fn insert_token(tx: &mut Tx, t: &TokenRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO api_tokens (id, org_id, person_id, name, role, scope, token_hash, created_at, expires_at, revoked_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    on!(tx, c => sqlx::query(sql)
        .bind(t.id)
        .bind(t.org_id)
        .bind(t.person_id)
        .bind(&t.name)
        .bind(&t.role)
        .bind(&t.scope)
        .bind(&t.token_hash)
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(t.revoked_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The organization's tokens, or only those acting as `person`.
pub async fn list_tokens(
    tx: &mut Tx,
    org_id: Uuid,
    person: Option<Uuid>,
) -> Result<Vec<TokenRow>, sqlx::Error> {
    const ALL: &str =
        const_format::concatcp!(COLUMNS, " WHERE org_id = $1 ORDER BY created_at, id");
    const MINE: &str = const_format::concatcp!(
        COLUMNS,
        " WHERE org_id = $1 AND person_id = $2 ORDER BY created_at, id"
    );
    match person {
        None => on!(tx, c => sqlx::query_as(ALL).bind(org_id).fetch_all(c).await),
        Some(p) => on!(tx, c => sqlx::query_as(MINE).bind(org_id).bind(p).fetch_all(c).await),
    }
}

pub async fn find_token(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
) -> Result<Option<TokenRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(COLUMNS, " WHERE org_id = $1 AND id = $2");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(id).fetch_optional(c).await)
}

pub async fn revoke_token(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE api_tokens SET revoked_at = $3 WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL";
    let n = on!(tx, c => sqlx::query(sql).bind(org_id).bind(id).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// A token with the person it acts as.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenLookup {
    pub org_id: Uuid,
    pub person_id: Uuid,
    pub person_name: String,
    pub person_email: Option<String>,
    pub person_disabled_at: Option<DateTime<Utc>>,
    pub role: String,
    pub scope: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Looks a presented token up by its hash (no transaction: every request does this).
pub async fn find_token_by_hash(db: &Db, hash: &str) -> Result<Option<TokenLookup>, sqlx::Error> {
    let sql = "SELECT t.org_id, t.person_id, p.name AS person_name, p.email AS person_email, \
               p.disabled_at AS person_disabled_at, t.role, t.scope, t.expires_at, t.revoked_at \
               FROM api_tokens t JOIN people p ON p.id = t.person_id WHERE t.token_hash = $1";
    on_pool!(db, p => sqlx::query_as(sql).bind(hash).fetch_optional(p).await)
}
