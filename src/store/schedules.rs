//! Cron schedules for recurring tickets and digests.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::{on, on_exec, Exec, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScheduleRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub cron: String,
    pub time_zone: String,
    pub action: String,
    pub template: Json<Value>,
    pub enabled: bool,
    pub next_run_at: Option<DateTime<Utc>>,
    pub last_run_at: Option<DateTime<Utc>>,
    pub generation: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SCHEDULE: &str =
    "SELECT id, org_id, name, cron, time_zone, action, template, enabled, next_run_at, \
                        last_run_at, generation, created_at, updated_at FROM schedules";

pub async fn upsert_schedule(tx: &mut Tx, row: &ScheduleRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO schedules (id, org_id, name, cron, time_zone, action, template, enabled, next_run_at, \
               last_run_at, generation, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
               ON CONFLICT (id) DO UPDATE SET name = $3, cron = $4, time_zone = $5, action = $6, template = $7, \
               enabled = $8, next_run_at = $9, last_run_at = $10, generation = $11, updated_at = $13";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(&row.name)
        .bind(&row.cron)
        .bind(&row.time_zone)
        .bind(&row.action)
        .bind(&row.template)
        .bind(row.enabled)
        .bind(row.next_run_at)
        .bind(row.last_run_at)
        .bind(row.generation)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn list_schedules(exec: Exec<'_>, org_id: Uuid) -> Result<Vec<ScheduleRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(SCHEDULE, " WHERE org_id = $1 ORDER BY name");
    on_exec!(exec, c => sqlx::query_as(SQL).bind(org_id).fetch_all(c).await)
}

pub async fn find_schedule(
    exec: Exec<'_>,
    org_id: Uuid,
    id: Uuid,
) -> Result<Option<ScheduleRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(SCHEDULE, " WHERE org_id = $1 AND id = $2");
    on_exec!(exec, c => sqlx::query_as(SQL).bind(org_id).bind(id).fetch_optional(c).await)
}

/// Reads a schedule for change; Postgres locks the row until commit.
pub async fn lock_schedule(tx: &mut Tx, id: Uuid) -> Result<Option<ScheduleRow>, sqlx::Error> {
    const PG: &str = const_format::concatcp!(SCHEDULE, " WHERE id = $1 FOR UPDATE");
    const LITE: &str = const_format::concatcp!(SCHEDULE, " WHERE id = $1");
    match tx {
        Tx::Postgres(t) => sqlx::query_as(PG).bind(id).fetch_optional(&mut **t).await,
        Tx::Sqlite(t) => sqlx::query_as(LITE).bind(id).fetch_optional(&mut **t).await,
    }
}

pub async fn delete_schedule(tx: &mut Tx, org_id: Uuid, id: Uuid) -> Result<u64, sqlx::Error> {
    let sql = "DELETE FROM schedules WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(sql).bind(org_id).bind(id).execute(c).await.map(|r| r.rows_affected()))
}
