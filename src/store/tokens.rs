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
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub async fn insert_token(tx: &mut Tx, t: &TokenRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO api_tokens (id, org_id, person_id, name, role, token_hash, created_at, expires_at, revoked_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    on!(tx, c => sqlx::query(sql)
        .bind(t.id)
        .bind(t.org_id)
        .bind(t.person_id)
        .bind(&t.name)
        .bind(&t.role)
        .bind(&t.token_hash)
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(t.revoked_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A token with the person it acts as.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenLookup {
    pub org_id: Uuid,
    pub person_id: Uuid,
    pub person_name: String,
    pub person_email: Option<String>,
    pub role: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Looks a presented token up by its hash (no transaction: every request does this).
pub async fn find_token_by_hash(db: &Db, hash: &str) -> Result<Option<TokenLookup>, sqlx::Error> {
    let sql =
        "SELECT t.org_id, t.person_id, p.name AS person_name, p.email AS person_email, t.role, \
               t.expires_at, t.revoked_at FROM api_tokens t JOIN people p ON p.id = t.person_id \
               WHERE t.token_hash = $1";
    on_pool!(db, p => sqlx::query_as(sql).bind(hash).fetch_optional(p).await)
}
