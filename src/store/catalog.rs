//! The service catalog: categories, items with their forms, and what each
//! order asked for.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::{on, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CatalogCategoryRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub description: String,
    pub position: i32,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_category(tx: &mut Tx, row: &CatalogCategoryRow) -> Result<(), sqlx::Error> {
    let sql =
        "INSERT INTO catalog_categories (id, org_id, name, description, position, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(&row.name)
        .bind(&row.description)
        .bind(row.position)
        .bind(row.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn list_categories(
    tx: &mut Tx,
    org_id: Uuid,
) -> Result<Vec<CatalogCategoryRow>, sqlx::Error> {
    let sql = "SELECT id, org_id, name, description, position, created_at FROM catalog_categories \
               WHERE org_id = $1 ORDER BY position, name";
    on!(tx, c => sqlx::query_as(sql).bind(org_id).fetch_all(c).await)
}

pub async fn find_category_by_name(
    tx: &mut Tx,
    org_id: Uuid,
    name: &str,
) -> Result<Option<CatalogCategoryRow>, sqlx::Error> {
    let sql = "SELECT id, org_id, name, description, position, created_at FROM catalog_categories \
               WHERE org_id = $1 AND name = $2";
    on!(tx, c => sqlx::query_as(sql).bind(org_id).bind(name).fetch_optional(c).await)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CatalogItemRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub category_id: Option<Uuid>,
    pub category_name: Option<String>,
    pub name: String,
    pub description: String,
    pub form: Json<Value>,
    pub team_id: Option<Uuid>,
    pub team_name: Option<String>,
    pub approval_policy_id: Option<Uuid>,
    pub approval_policy_name: Option<String>,
    pub tasks: Json<Vec<String>>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const ITEM: &str = "SELECT i.id, i.org_id, i.category_id, c.name AS category_name, i.name, i.description, i.form, \
                    i.team_id, t.name AS team_name, i.approval_policy_id, p.name AS approval_policy_name, i.tasks, \
                    i.active, i.created_at, i.updated_at FROM catalog_items i \
                    LEFT JOIN catalog_categories c ON c.id = i.category_id \
                    LEFT JOIN teams t ON t.id = i.team_id \
                    LEFT JOIN approval_policies p ON p.id = i.approval_policy_id";

pub async fn insert_item(tx: &mut Tx, row: &CatalogItemRow) -> Result<(), sqlx::Error> {
    let sql =
        "INSERT INTO catalog_items (id, org_id, category_id, name, description, form, team_id, \
               approval_policy_id, tasks, active, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(row.category_id)
        .bind(&row.name)
        .bind(&row.description)
        .bind(&row.form)
        .bind(row.team_id)
        .bind(row.approval_policy_id)
        .bind(&row.tasks)
        .bind(row.active)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn update_item(tx: &mut Tx, row: &CatalogItemRow) -> Result<(), sqlx::Error> {
    let sql = "UPDATE catalog_items SET category_id = $3, name = $4, description = $5, form = $6, team_id = $7, \
               approval_policy_id = $8, tasks = $9, active = $10, updated_at = $11 WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(sql)
        .bind(row.org_id)
        .bind(row.id)
        .bind(row.category_id)
        .bind(&row.name)
        .bind(&row.description)
        .bind(&row.form)
        .bind(row.team_id)
        .bind(row.approval_policy_id)
        .bind(&row.tasks)
        .bind(row.active)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn find_item(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
) -> Result<Option<CatalogItemRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(ITEM, " WHERE i.org_id = $1 AND i.id = $2");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(id).fetch_optional(c).await)
}

pub async fn find_item_by_name(
    tx: &mut Tx,
    org_id: Uuid,
    name: &str,
) -> Result<Option<CatalogItemRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(ITEM, " WHERE i.org_id = $1 AND i.name = $2");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(name).fetch_optional(c).await)
}

pub async fn list_items(
    tx: &mut Tx,
    org_id: Uuid,
    include_inactive: bool,
) -> Result<Vec<CatalogItemRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        ITEM,
        " WHERE i.org_id = $1 AND (i.active OR $2) ORDER BY c.position, c.name, i.name"
    );
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(include_inactive).fetch_all(c).await)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RequestDetailsRow {
    pub ticket_id: Uuid,
    pub org_id: Uuid,
    pub item_id: Uuid,
    pub answers: Json<Value>,
}

pub async fn insert_request(tx: &mut Tx, row: &RequestDetailsRow) -> Result<(), sqlx::Error> {
    let sql =
        "INSERT INTO request_details (ticket_id, org_id, item_id, answers) VALUES ($1, $2, $3, $4)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.ticket_id)
        .bind(row.org_id)
        .bind(row.item_id)
        .bind(&row.answers)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn find_request(
    tx: &mut Tx,
    ticket_id: Uuid,
) -> Result<Option<RequestDetailsRow>, sqlx::Error> {
    let sql =
        "SELECT ticket_id, org_id, item_id, answers FROM request_details WHERE ticket_id = $1";
    on!(tx, c => sqlx::query_as(sql).bind(ticket_id).fetch_optional(c).await)
}
