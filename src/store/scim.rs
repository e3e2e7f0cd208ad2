//! SCIM provisioning records (migration 25): provisioned users (a row per
//! person, keyed by the lower-cased userName), groups (a row per team a
//! group is), and the organization's group → role mapping.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::{on, Tx};

/// A provisioned user, with what its person row says about it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScimUserRow {
    pub person_id: Uuid,
    pub org_id: Uuid,
    pub user_name: String,
    pub user_name_key: String,
    pub external_id: Option<String>,
    /// The attributes as the provider sent them (no password, id or meta).
    pub attributes: Json<Value>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// From `people`: a disabled person is an inactive user.
    pub disabled_at: Option<DateTime<Utc>>,
}

const USER: &str =
    "SELECT u.person_id, u.org_id, u.user_name, u.user_name_key, u.external_id, u.attributes, \
                    u.version, u.created_at, u.updated_at, p.disabled_at \
                    FROM scim_users u JOIN people p ON p.id = u.person_id";

pub async fn insert_user(tx: &mut Tx, row: &ScimUserRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO scim_users (person_id, org_id, user_name, user_name_key, external_id, attributes, version, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.person_id)
        .bind(row.org_id)
        .bind(&row.user_name)
        .bind(&row.user_name_key)
        .bind(&row.external_id)
        .bind(&row.attributes)
        .bind(row.version)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Writes the provider's fields and version back.
pub async fn update_user(tx: &mut Tx, row: &ScimUserRow) -> Result<(), sqlx::Error> {
    let sql = "UPDATE scim_users SET user_name = $3, user_name_key = $4, external_id = $5, attributes = $6, \
               version = $7, updated_at = $8 WHERE org_id = $1 AND person_id = $2";
    on!(tx, c => sqlx::query(sql)
        .bind(row.org_id)
        .bind(row.person_id)
        .bind(&row.user_name)
        .bind(&row.user_name_key)
        .bind(&row.external_id)
        .bind(&row.attributes)
        .bind(row.version)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn delete_user(tx: &mut Tx, org_id: Uuid, person_id: Uuid) -> Result<bool, sqlx::Error> {
    let sql = "DELETE FROM scim_users WHERE org_id = $1 AND person_id = $2";
    let n = on!(tx, c => sqlx::query(sql).bind(org_id).bind(person_id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

pub async fn find_user(
    tx: &mut Tx,
    org_id: Uuid,
    person_id: Uuid,
) -> Result<Option<ScimUserRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(USER, " WHERE u.org_id = $1 AND u.person_id = $2");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(person_id).fetch_optional(c).await)
}

/// [`find_user`] for a change: on Postgres the row stays locked until
/// the transaction ends, so two PATCHes of one user (providers send them
/// in parallel) apply one after the other instead of one undoing the
/// other. SQLite has one writer at a time anyway.
pub async fn lock_user(
    tx: &mut Tx,
    org_id: Uuid,
    person_id: Uuid,
) -> Result<Option<ScimUserRow>, sqlx::Error> {
    const PG: &str = const_format::concatcp!(
        USER,
        " WHERE u.org_id = $1 AND u.person_id = $2 FOR NO KEY UPDATE OF u"
    );
    const SQLITE: &str = const_format::concatcp!(USER, " WHERE u.org_id = $1 AND u.person_id = $2");
    match tx {
        Tx::Postgres(c) => {
            sqlx::query_as(PG)
                .bind(org_id)
                .bind(person_id)
                .fetch_optional(&mut **c)
                .await
        }
        Tx::Sqlite(c) => {
            sqlx::query_as(SQLITE)
                .bind(org_id)
                .bind(person_id)
                .fetch_optional(&mut **c)
                .await
        }
    }
}

/// [`find_group`] for a change, locked like [`lock_user`]: Entra sends a
/// big group's member changes as several PATCHes at once.
pub async fn lock_group(
    tx: &mut Tx,
    org_id: Uuid,
    team_id: Uuid,
) -> Result<Option<ScimGroupRow>, sqlx::Error> {
    const PG: &str = const_format::concatcp!(
        GROUP,
        " WHERE g.org_id = $1 AND g.team_id = $2 FOR NO KEY UPDATE OF g"
    );
    const SQLITE: &str = const_format::concatcp!(GROUP, " WHERE g.org_id = $1 AND g.team_id = $2");
    match tx {
        Tx::Postgres(c) => {
            sqlx::query_as(PG)
                .bind(org_id)
                .bind(team_id)
                .fetch_optional(&mut **c)
                .await
        }
        Tx::Sqlite(c) => {
            sqlx::query_as(SQLITE)
                .bind(org_id)
                .bind(team_id)
                .fetch_optional(&mut **c)
                .await
        }
    }
}

/// The user whose lower-cased userName is `key`.
pub async fn find_user_by_key(
    tx: &mut Tx,
    org_id: Uuid,
    key: &str,
) -> Result<Option<ScimUserRow>, sqlx::Error> {
    const SQL: &str =
        const_format::concatcp!(USER, " WHERE u.org_id = $1 AND u.user_name_key = $2");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(key).fetch_optional(c).await)
}

pub async fn find_users_by_external_id(
    tx: &mut Tx,
    org_id: Uuid,
    external_id: &str,
) -> Result<Vec<ScimUserRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        USER,
        " WHERE u.org_id = $1 AND u.external_id = $2 ORDER BY u.created_at, u.person_id"
    );
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(external_id).fetch_all(c).await)
}

/// Every provisioned user of the organization, oldest first (the order
/// paging walks).
pub async fn list_users(tx: &mut Tx, org_id: Uuid) -> Result<Vec<ScimUserRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        USER,
        " WHERE u.org_id = $1 ORDER BY u.created_at, u.person_id"
    );
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).fetch_all(c).await)
}

/// A group: the team it is, and the provider's name for it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScimGroupRow {
    pub team_id: Uuid,
    pub org_id: Uuid,
    pub display_name: String,
    pub display_name_key: String,
    pub external_id: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const GROUP: &str =
    "SELECT g.team_id, g.org_id, g.display_name, g.display_name_key, g.external_id, g.version, \
                     g.created_at, g.updated_at FROM scim_groups g";

pub async fn insert_group(tx: &mut Tx, row: &ScimGroupRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO scim_groups (team_id, org_id, display_name, display_name_key, external_id, version, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.team_id)
        .bind(row.org_id)
        .bind(&row.display_name)
        .bind(&row.display_name_key)
        .bind(&row.external_id)
        .bind(row.version)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn update_group(tx: &mut Tx, row: &ScimGroupRow) -> Result<(), sqlx::Error> {
    let sql = "UPDATE scim_groups SET display_name = $3, display_name_key = $4, external_id = $5, version = $6, \
               updated_at = $7 WHERE org_id = $1 AND team_id = $2";
    on!(tx, c => sqlx::query(sql)
        .bind(row.org_id)
        .bind(row.team_id)
        .bind(&row.display_name)
        .bind(&row.display_name_key)
        .bind(&row.external_id)
        .bind(row.version)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn delete_group(tx: &mut Tx, org_id: Uuid, team_id: Uuid) -> Result<bool, sqlx::Error> {
    let sql = "DELETE FROM scim_groups WHERE org_id = $1 AND team_id = $2";
    let n = on!(tx, c => sqlx::query(sql).bind(org_id).bind(team_id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

pub async fn find_group(
    tx: &mut Tx,
    org_id: Uuid,
    team_id: Uuid,
) -> Result<Option<ScimGroupRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(GROUP, " WHERE g.org_id = $1 AND g.team_id = $2");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(team_id).fetch_optional(c).await)
}

pub async fn find_group_by_key(
    tx: &mut Tx,
    org_id: Uuid,
    key: &str,
) -> Result<Option<ScimGroupRow>, sqlx::Error> {
    const SQL: &str =
        const_format::concatcp!(GROUP, " WHERE g.org_id = $1 AND g.display_name_key = $2");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(key).fetch_optional(c).await)
}

pub async fn list_groups(tx: &mut Tx, org_id: Uuid) -> Result<Vec<ScimGroupRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        GROUP,
        " WHERE g.org_id = $1 ORDER BY g.created_at, g.team_id"
    );
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).fetch_all(c).await)
}

/// The groups `person` is a member of (through their teams).
pub async fn groups_of_person(
    tx: &mut Tx,
    org_id: Uuid,
    person_id: Uuid,
) -> Result<Vec<ScimGroupRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        GROUP,
        " JOIN team_members m ON m.team_id = g.team_id \
         WHERE g.org_id = $1 AND m.person_id = $2 ORDER BY g.display_name_key"
    );
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(person_id).fetch_all(c).await)
}

/// Every (person, group id, group displayName) membership of the
/// organization's groups.
pub async fn group_memberships(
    tx: &mut Tx,
    org_id: Uuid,
) -> Result<Vec<(Uuid, Uuid, String)>, sqlx::Error> {
    let sql = "SELECT m.person_id, g.team_id, g.display_name FROM scim_groups g \
               JOIN team_members m ON m.team_id = g.team_id WHERE g.org_id = $1 ORDER BY g.display_name_key";
    on!(tx, c => sqlx::query_as(sql).bind(org_id).fetch_all(c).await)
}

/// Everyone who is in some group of the organization.
pub async fn group_members(tx: &mut Tx, org_id: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    let sql = "SELECT DISTINCT m.person_id FROM scim_groups g JOIN team_members m ON m.team_id = g.team_id \
               WHERE g.org_id = $1 ORDER BY m.person_id";
    on!(tx, c => sqlx::query_scalar(sql).bind(org_id).fetch_all(c).await)
}

/// One entry of the group → role mapping.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GroupRoleRow {
    pub group_key: String,
    pub group_name: String,
    pub role: String,
}

pub async fn list_group_roles(tx: &mut Tx, org_id: Uuid) -> Result<Vec<GroupRoleRow>, sqlx::Error> {
    let sql = "SELECT group_key, group_name, role FROM scim_group_roles WHERE org_id = $1 ORDER BY group_key";
    on!(tx, c => sqlx::query_as(sql).bind(org_id).fetch_all(c).await)
}

/// Replaces the organization's mapping with `rows`.
pub async fn replace_group_roles(
    tx: &mut Tx,
    org_id: Uuid,
    rows: &[GroupRoleRow],
) -> Result<(), sqlx::Error> {
    let clear = "DELETE FROM scim_group_roles WHERE org_id = $1";
    on!(tx, c => sqlx::query(clear).bind(org_id).execute(c).await.map(|r| r.rows_affected()))?;
    let insert = "INSERT INTO scim_group_roles (org_id, group_key, group_name, role) VALUES ($1, $2, $3, $4)";
    for row in rows {
        on!(tx, c => sqlx::query(insert)
            .bind(org_id)
            .bind(&row.group_key)
            .bind(&row.group_name)
            .bind(&row.role)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// A team's members with their names, by name.
pub async fn members_named(tx: &mut Tx, team_id: Uuid) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    let sql = "SELECT p.id, p.name FROM team_members m JOIN people p ON p.id = m.person_id \
               WHERE m.team_id = $1 ORDER BY p.name, p.id";
    on!(tx, c => sqlx::query_as(sql).bind(team_id).fetch_all(c).await)
}
