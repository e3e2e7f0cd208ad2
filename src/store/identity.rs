//! Identity and access: linked identities, link codes, invitations,
//! password resets, refresh-token families, MFA challenges and recovery
//! codes, login throttling, and the shared server secrets.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::{on, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IdentityRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub person_id: Uuid,
    /// `slack`, `discord` or `email`.
    pub kind: String,
    /// Slack team id, Discord guild id, or empty for email.
    pub namespace: String,
    pub external_id: String,
    pub verified: bool,
    pub created_at: DateTime<Utc>,
}

const IDENTITY: &str = "SELECT id, org_id, person_id, kind, namespace, external_id, verified, created_at FROM identities";

pub async fn find_identity(
    tx: &mut Tx,
    org_id: Uuid,
    kind: &str,
    namespace: &str,
    external_id: &str,
) -> Result<Option<IdentityRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        IDENTITY,
        " WHERE org_id = $1 AND kind = $2 AND namespace = $3 AND external_id = $4"
    );
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(kind).bind(namespace).bind(external_id).fetch_optional(c).await)
}

/// Holds the identity (kind, namespace, external id) of `org_id` until the
/// transaction ends, so that creating a person for a first contact and
/// linking that identity to a known person happen one after the other,
/// each seeing the other's result. SQLite has one writer already.
pub async fn lock_identity_key(
    tx: &mut Tx,
    org_id: Uuid,
    kind: &str,
    namespace: &str,
    external_id: &str,
) -> Result<(), sqlx::Error> {
    // Two-key form: class 'iden', then the key's hash.
    const SQL: &str = "SELECT pg_advisory_xact_lock(1768187246, \
                       hashtext($1::text || '/' || $2 || '/' || $3 || '/' || $4))";
    if let Tx::Postgres(c) = tx {
        sqlx::query(SQL)
            .bind(org_id)
            .bind(kind)
            .bind(namespace)
            .bind(external_id)
            .execute(&mut **c)
            .await?;
    }
    Ok(())
}

pub async fn list_identities(
    tx: &mut Tx,
    org_id: Uuid,
    person_id: Uuid,
) -> Result<Vec<IdentityRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        IDENTITY,
        " WHERE org_id = $1 AND person_id = $2 ORDER BY created_at, id"
    );
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(person_id).fetch_all(c).await)
}

pub async fn insert_identity(tx: &mut Tx, row: &IdentityRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO identities (id, org_id, person_id, kind, namespace, external_id, verified, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(row.person_id)
        .bind(&row.kind)
        .bind(&row.namespace)
        .bind(&row.external_id)
        .bind(row.verified)
        .bind(row.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Moves an identity to another person (linking after first contact).
pub async fn move_identity(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
    person_id: Uuid,
    verified: bool,
) -> Result<(), sqlx::Error> {
    let sql = "UPDATE identities SET person_id = $3, verified = $4 WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(sql).bind(org_id).bind(id).bind(person_id).bind(verified).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn delete_identity(
    tx: &mut Tx,
    org_id: Uuid,
    person_id: Uuid,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let sql = "DELETE FROM identities WHERE org_id = $1 AND person_id = $2 AND id = $3";
    let n = on!(tx, c => sqlx::query(sql).bind(org_id).bind(person_id).bind(id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// A one-time secret (link code, invitation, reset, MFA challenge) looked up
/// by its hash: who it is for and whether it is still good.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OneTimeRow {
    pub org_id: Uuid,
    pub person_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// The single-use tables that share one shape.
#[derive(Debug, Clone, Copy)]
pub enum OneTime {
    LinkCode,
    PasswordReset,
    MfaChallenge,
}

impl OneTime {
    fn table(self) -> (&'static str, &'static str, &'static str) {
        // (insert, lock-for-use, mark-used) per table.
        match self {
            OneTime::LinkCode => (
                "INSERT INTO link_codes (code_hash, org_id, person_id, expires_at, used_at, created_at) VALUES ($1, $2, $3, $4, NULL, $5)",
                "SELECT org_id, person_id, expires_at, used_at FROM link_codes WHERE code_hash = $1",
                "UPDATE link_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL",
            ),
            OneTime::PasswordReset => (
                "INSERT INTO password_resets (token_hash, org_id, person_id, expires_at, used_at, created_at) VALUES ($1, $2, $3, $4, NULL, $5)",
                "SELECT org_id, person_id, expires_at, used_at FROM password_resets WHERE token_hash = $1",
                "UPDATE password_resets SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL",
            ),
            OneTime::MfaChallenge => (
                "INSERT INTO mfa_challenges (token_hash, org_id, person_id, expires_at, used_at, created_at) VALUES ($1, $2, $3, $4, NULL, $5)",
                "SELECT org_id, person_id, expires_at, used_at FROM mfa_challenges WHERE token_hash = $1",
                "UPDATE mfa_challenges SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL",
            ),
        }
    }
}

pub async fn insert_one_time(
    tx: &mut Tx,
    which: OneTime,
    hash: &str,
    org_id: Uuid,
    person_id: Uuid,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let (insert, _, _) = which.table();
    on!(tx, c => sqlx::query(insert)
        .bind(hash)
        .bind(org_id)
        .bind(person_id)
        .bind(expires_at)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn find_one_time(
    tx: &mut Tx,
    which: OneTime,
    hash: &str,
) -> Result<Option<OneTimeRow>, sqlx::Error> {
    let (_, select, _) = which.table();
    on!(tx, c => sqlx::query_as(select).bind(hash).fetch_optional(c).await)
}

/// Marks a one-time secret used; false when it already was (a concurrent
/// use won), so the caller refuses.
pub async fn use_one_time(
    tx: &mut Tx,
    which: OneTime,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let (_, _, update) = which.table();
    let n = on!(tx, c => sqlx::query(update).bind(hash).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvitationRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub email: String,
    pub name: String,
    pub roles: Json<Vec<String>>,
    pub token_hash: String,
    pub invited_by: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_invitation(tx: &mut Tx, row: &InvitationRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO invitations (id, org_id, email, name, roles, token_hash, invited_by, expires_at, accepted_at, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(&row.email)
        .bind(&row.name)
        .bind(&row.roles)
        .bind(&row.token_hash)
        .bind(row.invited_by)
        .bind(row.expires_at)
        .bind(row.accepted_at)
        .bind(row.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn find_invitation_by_hash(
    tx: &mut Tx,
    hash: &str,
) -> Result<Option<InvitationRow>, sqlx::Error> {
    let sql = "SELECT id, org_id, email, name, roles, token_hash, invited_by, expires_at, accepted_at, created_at \
               FROM invitations WHERE token_hash = $1";
    on!(tx, c => sqlx::query_as(sql).bind(hash).fetch_optional(c).await)
}

pub async fn accept_invitation(
    tx: &mut Tx,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE invitations SET accepted_at = $2 WHERE id = $1 AND accepted_at IS NULL";
    let n = on!(tx, c => sqlx::query(sql).bind(id).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub person_id: Uuid,
    pub family_id: Uuid,
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_refresh(tx: &mut Tx, row: &RefreshRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO refresh_tokens (id, org_id, person_id, family_id, token_hash, expires_at, used_at, revoked_at, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(row.person_id)
        .bind(row.family_id)
        .bind(&row.token_hash)
        .bind(row.expires_at)
        .bind(row.used_at)
        .bind(row.revoked_at)
        .bind(row.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Reads a refresh token for rotation (row-locked on Postgres so two
/// concurrent uses of one token cannot both rotate it).
pub async fn lock_refresh(tx: &mut Tx, hash: &str) -> Result<Option<RefreshRow>, sqlx::Error> {
    const PG: &str = "SELECT id, org_id, person_id, family_id, token_hash, expires_at, used_at, revoked_at, created_at \
                      FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE";
    const LITE: &str = "SELECT id, org_id, person_id, family_id, token_hash, expires_at, used_at, revoked_at, created_at \
                        FROM refresh_tokens WHERE token_hash = $1";
    match tx {
        Tx::Postgres(t) => sqlx::query_as(PG).bind(hash).fetch_optional(&mut **t).await,
        Tx::Sqlite(t) => {
            sqlx::query_as(LITE)
                .bind(hash)
                .fetch_optional(&mut **t)
                .await
        }
    }
}

pub async fn mark_refresh_used(
    tx: &mut Tx,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let sql = "UPDATE refresh_tokens SET used_at = $2 WHERE id = $1";
    on!(tx, c => sqlx::query(sql).bind(id).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn revoke_family(
    tx: &mut Tx,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let sql =
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL";
    on!(tx, c => sqlx::query(sql).bind(family_id).bind(now).execute(c).await.map(|r| r.rows_affected()))
}

/// Revokes every session of a person (password change or reset).
pub async fn revoke_person_sessions(
    tx: &mut Tx,
    person_id: Uuid,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let sql =
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE person_id = $1 AND revoked_at IS NULL";
    on!(tx, c => sqlx::query(sql).bind(person_id).bind(now).execute(c).await.map(|r| r.rows_affected()))
}

/// Whether a session (refresh family) was revoked: access tokens die with it.
pub async fn family_revoked(db: &super::Db, family_id: Uuid) -> Result<bool, sqlx::Error> {
    let sql = "SELECT COUNT(*) FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NOT NULL";
    let n: i64 =
        super::on_pool!(db, p => sqlx::query_scalar(sql).bind(family_id).fetch_one(p).await)?;
    Ok(n > 0)
}

pub async fn replace_recovery_codes(
    tx: &mut Tx,
    person_id: Uuid,
    hashes: &[String],
) -> Result<(), sqlx::Error> {
    let sql = "DELETE FROM recovery_codes WHERE person_id = $1";
    on!(tx, c => sqlx::query(sql).bind(person_id).execute(c).await.map(|r| r.rows_affected()))?;
    for hash in hashes {
        let sql =
            "INSERT INTO recovery_codes (person_id, code_hash, used_at) VALUES ($1, $2, NULL)";
        on!(tx, c => sqlx::query(sql).bind(person_id).bind(hash).execute(c).await.map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// Consumes a recovery code; false when unknown or already used.
pub async fn use_recovery_code(
    tx: &mut Tx,
    person_id: Uuid,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE recovery_codes SET used_at = $3 WHERE person_id = $1 AND code_hash = $2 AND used_at IS NULL";
    let n = on!(tx, c => sqlx::query(sql).bind(person_id).bind(hash).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ThrottleRow {
    pub key: String,
    pub failures: i32,
    pub window_start: DateTime<Utc>,
    pub locked_until: Option<DateTime<Utc>>,
}

pub async fn find_throttle(tx: &mut Tx, key: &str) -> Result<Option<ThrottleRow>, sqlx::Error> {
    let sql = "SELECT key, failures, window_start, locked_until FROM login_throttle WHERE key = $1";
    on!(tx, c => sqlx::query_as(sql).bind(key).fetch_optional(c).await)
}

pub async fn save_throttle(tx: &mut Tx, row: &ThrottleRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO login_throttle (key, failures, window_start, locked_until) VALUES ($1, $2, $3, $4) \
               ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, window_start = excluded.window_start, \
               locked_until = excluded.locked_until";
    on!(tx, c => sqlx::query(sql)
        .bind(&row.key)
        .bind(row.failures)
        .bind(row.window_start)
        .bind(row.locked_until)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn clear_throttle(tx: &mut Tx, key: &str) -> Result<(), sqlx::Error> {
    let sql = "DELETE FROM login_throttle WHERE key = $1";
    on!(tx, c => sqlx::query(sql).bind(key).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Returns the named secret, creating it with `fresh` when absent (the
/// first replica to start wins; the others read its value).
pub async fn ensure_server_secret(
    tx: &mut Tx,
    name: &str,
    fresh: &str,
    now: DateTime<Utc>,
) -> Result<String, sqlx::Error> {
    let sql = "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";
    on!(tx, c => sqlx::query(sql).bind(name).bind(fresh).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
    let sql = "SELECT value FROM server_secrets WHERE name = $1";
    on!(tx, c => sqlx::query_scalar(sql).bind(name).fetch_one(c).await)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub roles: Json<Vec<String>>,
    pub password_hash: Option<String>,
    pub mfa_secret: Option<String>,
    pub mfa_enabled: bool,
    pub mfa_last_step: Option<i64>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub mfa_required: bool,
}

const ACCOUNT: &str =
    "SELECT p.id, p.org_id, p.name, p.email, p.roles, p.password_hash, p.mfa_secret, \
                       p.mfa_enabled, p.mfa_last_step, p.disabled_at, o.mfa_required \
                       FROM people p JOIN organizations o ON o.id = p.org_id";

/// The people with a login under this email, across organizations.
pub async fn find_accounts_by_email(
    tx: &mut Tx,
    email: &str,
) -> Result<Vec<AccountRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(ACCOUNT, " WHERE p.email = $1 ORDER BY o.slug");
    on!(tx, c => sqlx::query_as(SQL).bind(email).fetch_all(c).await)
}

pub async fn find_account(
    tx: &mut Tx,
    org_id: Uuid,
    person_id: Uuid,
) -> Result<Option<AccountRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(ACCOUNT, " WHERE p.org_id = $1 AND p.id = $2");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(person_id).fetch_optional(c).await)
}

pub async fn set_password_hash(
    tx: &mut Tx,
    person_id: Uuid,
    hash: &str,
) -> Result<(), sqlx::Error> {
    let sql = "UPDATE people SET password_hash = $2 WHERE id = $1";
    on!(tx, c => sqlx::query(sql).bind(person_id).bind(hash).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn set_mfa(
    tx: &mut Tx,
    person_id: Uuid,
    secret: Option<&str>,
    enabled: bool,
    last_step: Option<i64>,
) -> Result<(), sqlx::Error> {
    let sql =
        "UPDATE people SET mfa_secret = $2, mfa_enabled = $3, mfa_last_step = $4 WHERE id = $1";
    on!(tx, c => sqlx::query(sql).bind(person_id).bind(secret).bind(enabled).bind(last_step).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn set_mfa_last_step(tx: &mut Tx, person_id: Uuid, step: i64) -> Result<(), sqlx::Error> {
    let sql = "UPDATE people SET mfa_last_step = $2 WHERE id = $1";
    on!(tx, c => sqlx::query(sql).bind(person_id).bind(step).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn set_org_mfa_required(
    tx: &mut Tx,
    org_id: Uuid,
    required: bool,
) -> Result<(), sqlx::Error> {
    let sql = "UPDATE organizations SET mfa_required = $2 WHERE id = $1";
    on!(tx, c => sqlx::query(sql).bind(org_id).bind(required).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// The oldest identity of a platform user in any namespace: Discord user
/// ids are global, and a click in a direct message carries no guild.
pub async fn find_identity_any_namespace(
    tx: &mut Tx,
    org_id: Uuid,
    kind: &str,
    external_id: &str,
) -> Result<Option<IdentityRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        IDENTITY,
        " WHERE org_id = $1 AND kind = $2 AND external_id = $3 ORDER BY created_at, id LIMIT 1"
    );
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(kind).bind(external_id).fetch_optional(c).await)
}
