//! Change management: per-change details (type, risk, window, review),
//! standard-change templates, freeze windows, and the tasks of changes and
//! requests.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::{on, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChangeRow {
    pub ticket_id: Uuid,
    pub org_id: Uuid,
    pub change_type: String,
    pub template_id: Option<Uuid>,
    pub approval_policy_id: Option<Uuid>,
    pub risk: Option<Json<Value>>,
    pub planned_start: Option<DateTime<Utc>>,
    pub planned_end: Option<DateTime<Utc>>,
    pub review: Option<Json<Value>>,
}

pub async fn save_change(tx: &mut Tx, row: &ChangeRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO change_details (ticket_id, org_id, change_type, template_id, approval_policy_id, risk, \
               planned_start, planned_end, review) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
               ON CONFLICT (ticket_id) DO UPDATE SET change_type = excluded.change_type, \
               template_id = excluded.template_id, approval_policy_id = excluded.approval_policy_id, \
               risk = excluded.risk, planned_start = excluded.planned_start, planned_end = excluded.planned_end, \
               review = excluded.review";
    on!(tx, c => sqlx::query(sql)
        .bind(row.ticket_id)
        .bind(row.org_id)
        .bind(&row.change_type)
        .bind(row.template_id)
        .bind(row.approval_policy_id)
        .bind(&row.risk)
        .bind(row.planned_start)
        .bind(row.planned_end)
        .bind(&row.review)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn find_change(tx: &mut Tx, ticket_id: Uuid) -> Result<Option<ChangeRow>, sqlx::Error> {
    let sql = "SELECT ticket_id, org_id, change_type, template_id, approval_policy_id, risk, planned_start, \
               planned_end, review FROM change_details WHERE ticket_id = $1";
    on!(tx, c => sqlx::query_as(sql).bind(ticket_id).fetch_optional(c).await)
}

/// Other live changes whose window overlaps [start, end), with each CI
/// they are linked to: (number, start, end, ci id).
pub async fn overlapping_changes(
    tx: &mut Tx,
    org_id: Uuid,
    except: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<(String, DateTime<Utc>, DateTime<Utc>, Uuid)>, sqlx::Error> {
    let sql = "SELECT t.number, d.planned_start, d.planned_end, l.ci_id FROM change_details d \
               JOIN tickets t ON t.id = d.ticket_id \
               JOIN ticket_cis l ON l.ticket_id = d.ticket_id \
               WHERE d.org_id = $1 AND d.ticket_id <> $2 AND d.planned_start < $4 AND d.planned_end > $3 \
                 AND t.state NOT IN ('closed', 'cancelled', 'rejected') \
               ORDER BY d.planned_start, t.number";
    on!(tx, c => sqlx::query_as(sql).bind(org_id).bind(except).bind(start).bind(end).fetch_all(c).await)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TemplateRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub description: String,
    pub tasks: Json<Vec<String>>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_template(tx: &mut Tx, row: &TemplateRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO change_templates (id, org_id, name, description, tasks, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(&row.name)
        .bind(&row.description)
        .bind(&row.tasks)
        .bind(row.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn list_templates(tx: &mut Tx, org_id: Uuid) -> Result<Vec<TemplateRow>, sqlx::Error> {
    let sql = "SELECT id, org_id, name, description, tasks, created_at FROM change_templates \
               WHERE org_id = $1 ORDER BY name";
    on!(tx, c => sqlx::query_as(sql).bind(org_id).fetch_all(c).await)
}

pub async fn find_template(
    tx: &mut Tx,
    org_id: Uuid,
    id_or_name: &str,
) -> Result<Option<TemplateRow>, sqlx::Error> {
    match Uuid::parse_str(id_or_name.trim()) {
        Ok(id) => {
            let sql =
                "SELECT id, org_id, name, description, tasks, created_at FROM change_templates \
                       WHERE org_id = $1 AND id = $2";
            on!(tx, c => sqlx::query_as(sql).bind(org_id).bind(id).fetch_optional(c).await)
        }
        Err(_) => {
            let sql =
                "SELECT id, org_id, name, description, tasks, created_at FROM change_templates \
                       WHERE org_id = $1 AND name = $2";
            on!(tx, c => sqlx::query_as(sql).bind(org_id).bind(id_or_name.trim()).fetch_optional(c).await)
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FreezeRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub team_id: Option<Uuid>,
    pub name: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_freeze(tx: &mut Tx, row: &FreezeRow) -> Result<(), sqlx::Error> {
    let sql =
        "INSERT INTO freeze_windows (id, org_id, team_id, name, starts_at, ends_at, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(row.team_id)
        .bind(&row.name)
        .bind(row.starts_at)
        .bind(row.ends_at)
        .bind(row.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn list_freezes(tx: &mut Tx, org_id: Uuid) -> Result<Vec<FreezeRow>, sqlx::Error> {
    let sql =
        "SELECT id, org_id, team_id, name, starts_at, ends_at, created_at FROM freeze_windows \
               WHERE org_id = $1 ORDER BY starts_at";
    on!(tx, c => sqlx::query_as(sql).bind(org_id).fetch_all(c).await)
}

/// Freezes overlapping [start, end) that apply to `team` (or to everyone).
pub async fn overlapping_freezes(
    tx: &mut Tx,
    org_id: Uuid,
    team: Option<Uuid>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<FreezeRow>, sqlx::Error> {
    let sql = "SELECT id, org_id, team_id, name, starts_at, ends_at, created_at FROM freeze_windows \
               WHERE org_id = $1 AND (team_id IS NULL OR team_id = $2) AND starts_at < $4 AND ends_at > $3 \
               ORDER BY starts_at";
    on!(tx, c => sqlx::query_as(sql).bind(org_id).bind(team).bind(start).bind(end).fetch_all(c).await)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TaskRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub ticket_id: Uuid,
    pub position: i32,
    pub title: String,
    pub assignee_id: Option<Uuid>,
    pub assignee_name: Option<String>,
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const TASK: &str = "SELECT k.id, k.org_id, k.ticket_id, k.position, k.title, k.assignee_id, p.name AS assignee_name, \
                    k.state, k.created_at, k.updated_at FROM tasks k LEFT JOIN people p ON p.id = k.assignee_id";

pub async fn insert_task(tx: &mut Tx, row: &TaskRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO tasks (id, org_id, ticket_id, position, title, assignee_id, state, created_at, updated_at) \
               VALUES ($1, $2, $3, (SELECT COALESCE(MAX(position), 0) + 1 FROM tasks WHERE ticket_id = $3), \
               $4, $5, $6, $7, $8)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(row.ticket_id)
        .bind(&row.title)
        .bind(row.assignee_id)
        .bind(&row.state)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn update_task(tx: &mut Tx, row: &TaskRow) -> Result<(), sqlx::Error> {
    let sql = "UPDATE tasks SET title = $3, assignee_id = $4, state = $5, updated_at = $6 \
               WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(sql)
        .bind(row.org_id)
        .bind(row.id)
        .bind(&row.title)
        .bind(row.assignee_id)
        .bind(&row.state)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn list_tasks(tx: &mut Tx, ticket_id: Uuid) -> Result<Vec<TaskRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(TASK, " WHERE k.ticket_id = $1 ORDER BY k.position");
    on!(tx, c => sqlx::query_as(SQL).bind(ticket_id).fetch_all(c).await)
}

pub async fn find_task(
    tx: &mut Tx,
    ticket_id: Uuid,
    id: Uuid,
) -> Result<Option<TaskRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(TASK, " WHERE k.ticket_id = $1 AND k.id = $2");
    on!(tx, c => sqlx::query_as(SQL).bind(ticket_id).bind(id).fetch_optional(c).await)
}
