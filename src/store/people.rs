//! People of an organization (minimal here: name, email, roles).

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::{on, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PersonRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub roles: Json<Vec<String>>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_person(tx: &mut Tx, row: &PersonRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO people (id, org_id, name, email, roles, created_at) VALUES ($1, $2, $3, $4, $5, $6)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(&row.name)
        .bind(&row.email)
        .bind(&row.roles)
        .bind(row.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn find_person(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
) -> Result<Option<PersonRow>, sqlx::Error> {
    let sql = "SELECT id, org_id, name, email, roles, created_at FROM people WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query_as(sql).bind(org_id).bind(id).fetch_optional(c).await)
}

pub async fn find_person_by_email(
    tx: &mut Tx,
    org_id: Uuid,
    email: &str,
) -> Result<Option<PersonRow>, sqlx::Error> {
    let sql = "SELECT id, org_id, name, email, roles, created_at FROM people WHERE org_id = $1 AND email = $2";
    on!(tx, c => sqlx::query_as(sql).bind(org_id).bind(email).fetch_optional(c).await)
}

pub async fn list_people(tx: &mut Tx, org_id: Uuid) -> Result<Vec<PersonRow>, sqlx::Error> {
    let sql = "SELECT id, org_id, name, email, roles, created_at FROM people WHERE org_id = $1 ORDER BY name, id";
    on!(tx, c => sqlx::query_as(sql).bind(org_id).fetch_all(c).await)
}

pub async fn update_person(tx: &mut Tx, row: &PersonRow) -> Result<(), sqlx::Error> {
    let sql = "UPDATE people SET name = $3, email = $4, roles = $5 WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(sql)
        .bind(row.org_id)
        .bind(row.id)
        .bind(&row.name)
        .bind(&row.email)
        .bind(&row.roles)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}
