//! Automation rules, in the order they run.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::{on, Tx};

#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct RuleRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub position: i32,
    pub enabled: bool,
    pub on_event: String,
    pub match_all: bool,
    pub conditions: Json<Value>,
    pub actions: Json<Value>,
    pub stop_processing: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(super) const RULE: &str =
    "SELECT id, org_id, name, position, enabled, on_event, match_all, conditions, actions, \
                    stop_processing, created_at, updated_at FROM automation_rules";

pub async fn insert_rule(tx: &mut Tx, row: &RuleRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO automation_rules (id, org_id, name, position, enabled, on_event, match_all, conditions, \
               actions, stop_processing, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(&row.name)
        .bind(row.position)
        .bind(row.enabled)
        .bind(&row.on_event)
        .bind(row.match_all)
        .bind(&row.conditions)
        .bind(&row.actions)
        .bind(row.stop_processing)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn update_rule(tx: &mut Tx, row: &RuleRow) -> Result<(), sqlx::Error> {
    let sql = "UPDATE automation_rules SET name = $3, position = $4, enabled = $5, on_event = $6, match_all = $7, \
               conditions = $8, actions = $9, stop_processing = $10, updated_at = $11 \
               WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(sql)
        .bind(row.org_id)
        .bind(row.id)
        .bind(&row.name)
        .bind(row.position)
        .bind(row.enabled)
        .bind(&row.on_event)
        .bind(row.match_all)
        .bind(&row.conditions)
        .bind(&row.actions)
        .bind(row.stop_processing)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn delete_rule(tx: &mut Tx, org_id: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
    let sql = "DELETE FROM automation_rules WHERE org_id = $1 AND id = $2";
    let n = on!(tx, c => sqlx::query(sql).bind(org_id).bind(id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

pub async fn find_rule(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
) -> Result<Option<RuleRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(RULE, " WHERE org_id = $1 AND id = $2");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(id).fetch_optional(c).await)
}

pub async fn list_rules(tx: &mut Tx, org_id: Uuid) -> Result<Vec<RuleRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(RULE, " WHERE org_id = $1 ORDER BY position, name");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).fetch_all(c).await)
}

/// The enabled rules of an organization, in order.
pub async fn enabled_rules(tx: &mut Tx, org_id: Uuid) -> Result<Vec<RuleRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        RULE,
        " WHERE org_id = $1 AND enabled ORDER BY position, name"
    );
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).fetch_all(c).await)
}

pub async fn next_position(tx: &mut Tx, org_id: Uuid) -> Result<i32, sqlx::Error> {
    let sql = "SELECT COALESCE(MAX(position), 0) + 10 FROM automation_rules WHERE org_id = $1";
    on!(tx, c => sqlx::query_scalar(sql).bind(org_id).fetch_one(c).await)
}
