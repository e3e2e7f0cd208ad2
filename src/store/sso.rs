//! Single sign-on (migration 26): an organization's OpenID providers (the
//! client secret stored sealed; sealing is the caller's job), sign-ins
//! under way (single use), the subjects linked to people, and whether
//! local passwords still sign in.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::{on, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProviderRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub secret_nonce: Vec<u8>,
    pub secret_sealed: Vec<u8>,
    pub allowed_domains: Json<Vec<String>>,
    /// Group → role.
    pub role_mapping: Json<Value>,
    pub groups_claim: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const PROVIDER: &str = "SELECT id, org_id, name, issuer, client_id, secret_nonce, secret_sealed, \
                        allowed_domains, role_mapping, groups_claim, created_at, updated_at FROM sso_providers";

pub async fn insert_provider(tx: &mut Tx, row: &ProviderRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO sso_providers (id, org_id, name, issuer, client_id, secret_nonce, secret_sealed, \
               allowed_domains, role_mapping, groups_claim, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(&row.name)
        .bind(&row.issuer)
        .bind(&row.client_id)
        .bind(&row.secret_nonce)
        .bind(&row.secret_sealed)
        .bind(&row.allowed_domains)
        .bind(&row.role_mapping)
        .bind(&row.groups_claim)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Writes every column but the id, organization and creation time back.
pub async fn update_provider(tx: &mut Tx, row: &ProviderRow) -> Result<(), sqlx::Error> {
    let sql =
        "UPDATE sso_providers SET name = $3, issuer = $4, client_id = $5, secret_nonce = $6, \
               secret_sealed = $7, allowed_domains = $8, role_mapping = $9, groups_claim = $10, \
               updated_at = $11 WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(sql)
        .bind(row.org_id)
        .bind(row.id)
        .bind(&row.name)
        .bind(&row.issuer)
        .bind(&row.client_id)
        .bind(&row.secret_nonce)
        .bind(&row.secret_sealed)
        .bind(&row.allowed_domains)
        .bind(&row.role_mapping)
        .bind(&row.groups_claim)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn list_providers(tx: &mut Tx, org_id: Uuid) -> Result<Vec<ProviderRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(PROVIDER, " WHERE org_id = $1 ORDER BY name, id");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).fetch_all(c).await)
}

pub async fn find_provider(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
) -> Result<Option<ProviderRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(PROVIDER, " WHERE org_id = $1 AND id = $2");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(id).fetch_optional(c).await)
}

/// A provider by id alone: a sign-in starts before anyone is known, and
/// the provider names its organization.
pub async fn find_provider_by_id(
    tx: &mut Tx,
    id: Uuid,
) -> Result<Option<ProviderRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(PROVIDER, " WHERE id = $1");
    on!(tx, c => sqlx::query_as(SQL).bind(id).fetch_optional(c).await)
}

/// Deletes a provider with its sign-ins under way and its linked subjects
/// (the people stay).
pub async fn delete_provider(tx: &mut Tx, org_id: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
    // SQLite enforces ON DELETE CASCADE only with foreign keys on: delete
    // the dependants explicitly on both.
    for sql in [
        "DELETE FROM sso_logins WHERE org_id = $1 AND provider_id = $2",
        "DELETE FROM sso_identities WHERE org_id = $1 AND provider_id = $2",
    ] {
        on!(tx, c => sqlx::query(sql).bind(org_id).bind(id).execute(c).await.map(|r| r.rows_affected()))?;
    }
    let sql = "DELETE FROM sso_providers WHERE org_id = $1 AND id = $2";
    let n = on!(tx, c => sqlx::query(sql).bind(org_id).bind(id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LoginRow {
    pub state_hash: String,
    pub org_id: Uuid,
    pub provider_id: Uuid,
    pub browser_hash: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub redirect_uri: String,
    pub next_path: String,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_login(tx: &mut Tx, row: &LoginRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO sso_logins (state_hash, org_id, provider_id, browser_hash, nonce, pkce_verifier, \
               redirect_uri, next_path, expires_at, used_at, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
    on!(tx, c => sqlx::query(sql)
        .bind(&row.state_hash)
        .bind(row.org_id)
        .bind(row.provider_id)
        .bind(&row.browser_hash)
        .bind(&row.nonce)
        .bind(&row.pkce_verifier)
        .bind(&row.redirect_uri)
        .bind(&row.next_path)
        .bind(row.expires_at)
        .bind(row.used_at)
        .bind(row.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Takes a sign-in under way for its callback: marks it used and returns
/// it, or `None` when it is unknown, used or expired. One statement, so
/// of two callbacks with the same state only one gets the row.
pub async fn take_login(
    tx: &mut Tx,
    state_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<LoginRow>, sqlx::Error> {
    let sql = "UPDATE sso_logins SET used_at = $2 WHERE state_hash = $1 AND used_at IS NULL AND expires_at > $2 \
               RETURNING state_hash, org_id, provider_id, browser_hash, nonce, pkce_verifier, redirect_uri, \
               next_path, expires_at, used_at, created_at";
    on!(tx, c => sqlx::query_as(sql).bind(state_hash).bind(now).fetch_optional(c).await)
}

/// Forgets sign-ins that ended over a day ago (used ones are kept that long
/// so a replay is told it was used).
pub async fn purge_logins(tx: &mut Tx, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let sql = "DELETE FROM sso_logins WHERE expires_at < $1";
    on!(tx, c => sqlx::query(sql).bind(before).execute(c).await.map(|r| r.rows_affected()))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SsoIdentityRow {
    pub provider_id: Uuid,
    pub subject: String,
    pub org_id: Uuid,
    pub person_id: Uuid,
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub last_login: DateTime<Utc>,
}

pub async fn find_identity(
    tx: &mut Tx,
    provider_id: Uuid,
    subject: &str,
) -> Result<Option<SsoIdentityRow>, sqlx::Error> {
    let sql = "SELECT provider_id, subject, org_id, person_id, email, created_at, last_login \
               FROM sso_identities WHERE provider_id = $1 AND subject = $2";
    on!(tx, c => sqlx::query_as(sql).bind(provider_id).bind(subject).fetch_optional(c).await)
}

pub async fn insert_identity(tx: &mut Tx, row: &SsoIdentityRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO sso_identities (provider_id, subject, org_id, person_id, email, created_at, last_login) \
               VALUES ($1, $2, $3, $4, $5, $6, $7)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.provider_id)
        .bind(&row.subject)
        .bind(row.org_id)
        .bind(row.person_id)
        .bind(&row.email)
        .bind(row.created_at)
        .bind(row.last_login)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn touch_identity(
    tx: &mut Tx,
    provider_id: Uuid,
    subject: &str,
    email: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let sql = "UPDATE sso_identities SET email = $3, last_login = $4 WHERE provider_id = $1 AND subject = $2";
    on!(tx, c => sqlx::query(sql).bind(provider_id).bind(subject).bind(email).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SettingsRow {
    pub org_id: Uuid,
    pub local_passwords: bool,
    /// Ids of the people who keep password sign-in.
    pub break_glass: Json<Vec<Uuid>>,
    pub updated_at: DateTime<Utc>,
}

pub async fn find_settings(tx: &mut Tx, org_id: Uuid) -> Result<Option<SettingsRow>, sqlx::Error> {
    let sql = "SELECT org_id, local_passwords, break_glass, updated_at FROM sso_settings WHERE org_id = $1";
    on!(tx, c => sqlx::query_as(sql).bind(org_id).fetch_optional(c).await)
}

pub async fn save_settings(tx: &mut Tx, row: &SettingsRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO sso_settings (org_id, local_passwords, break_glass, updated_at) VALUES ($1, $2, $3, $4) \
               ON CONFLICT (org_id) DO UPDATE SET local_passwords = $2, break_glass = $3, updated_at = $4";
    on!(tx, c => sqlx::query(sql)
        .bind(row.org_id)
        .bind(row.local_passwords)
        .bind(&row.break_glass)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}
