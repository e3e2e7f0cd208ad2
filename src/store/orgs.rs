//! Organizations (tenants).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::{on, on_pool, Db, Tx};

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct OrgRow {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub priority_matrix: Json<Value>,
    pub mfa_required: bool,
    pub created_at: DateTime<Utc>,
    /// The IANA zone reports cut days in (`UTC` until an admin sets one).
    pub time_zone: String,
}

pub async fn insert_org(tx: &mut Tx, row: &OrgRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO organizations (id, slug, name, priority_matrix, mfa_required, created_at, time_zone) VALUES ($1, $2, $3, $4, $5, $6, $7)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(&row.slug)
        .bind(&row.name)
        .bind(&row.priority_matrix)
        .bind(row.mfa_required)
        .bind(row.created_at)
        .bind(&row.time_zone)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn find_org_by_slug(tx: &mut Tx, slug: &str) -> Result<Option<OrgRow>, sqlx::Error> {
    let sql =
        "SELECT id, slug, name, priority_matrix, mfa_required, created_at, time_zone FROM organizations WHERE slug = $1";
    on!(tx, c => sqlx::query_as(sql).bind(slug).fetch_optional(c).await)
}

pub async fn get_org(tx: &mut Tx, id: Uuid) -> Result<OrgRow, sqlx::Error> {
    let sql = "SELECT id, slug, name, priority_matrix, mfa_required, created_at, time_zone FROM organizations WHERE id = $1";
    on!(tx, c => sqlx::query_as(sql).bind(id).fetch_one(c).await)
}

pub async fn list_orgs(db: &Db) -> Result<Vec<OrgRow>, sqlx::Error> {
    let sql = "SELECT id, slug, name, priority_matrix, mfa_required, created_at, time_zone FROM organizations ORDER BY slug";
    on_pool!(db, p => sqlx::query_as(sql).fetch_all(p).await)
}
