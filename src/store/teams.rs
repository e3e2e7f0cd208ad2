//! Teams, their members, and ticket categories.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{on, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TeamRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub description: String,
    pub lead_id: Option<Uuid>,
    /// Where the team's tickets are announced (e.g. a Slack channel id).
    pub default_channel: Option<String>,
    /// Who escalations go to when no policy says otherwise.
    pub escalation_contact: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// How tickets reaching the team are assigned (`domain::assignment::Strategy`).
    pub assignment: String,
    /// The most open tickets an agent may hold before automatic
    /// assignment passes them over.
    pub max_open_per_agent: Option<i32>,
}

const TEAM: &str = "SELECT id, org_id, name, description, lead_id, default_channel, escalation_contact, created_at, assignment, max_open_per_agent FROM teams";

pub async fn insert_team(tx: &mut Tx, row: &TeamRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO teams (id, org_id, name, description, lead_id, default_channel, escalation_contact, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(&row.name)
        .bind(&row.description)
        .bind(row.lead_id)
        .bind(&row.default_channel)
        .bind(row.escalation_contact)
        .bind(row.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn find_team(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
) -> Result<Option<TeamRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(TEAM, " WHERE org_id = $1 AND id = $2");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(id).fetch_optional(c).await)
}

pub async fn find_team_by_name(
    tx: &mut Tx,
    org_id: Uuid,
    name: &str,
) -> Result<Option<TeamRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(TEAM, " WHERE org_id = $1 AND name = $2");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(name).fetch_optional(c).await)
}

pub async fn list_teams(tx: &mut Tx, org_id: Uuid) -> Result<Vec<TeamRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(TEAM, " WHERE org_id = $1 ORDER BY name");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).fetch_all(c).await)
}

pub async fn update_team(tx: &mut Tx, row: &TeamRow) -> Result<(), sqlx::Error> {
    let sql = "UPDATE teams SET name = $3, description = $4, lead_id = $5, default_channel = $6, escalation_contact = $7, \
               assignment = $8, max_open_per_agent = $9 WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(sql)
        .bind(row.org_id)
        .bind(row.id)
        .bind(&row.name)
        .bind(&row.description)
        .bind(row.lead_id)
        .bind(&row.default_channel)
        .bind(row.escalation_contact)
        .bind(&row.assignment)
        .bind(row.max_open_per_agent)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn add_member(tx: &mut Tx, team_id: Uuid, person_id: Uuid) -> Result<(), sqlx::Error> {
    let sql =
        "INSERT INTO team_members (team_id, person_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
    on!(tx, c => sqlx::query(sql).bind(team_id).bind(person_id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn remove_member(
    tx: &mut Tx,
    team_id: Uuid,
    person_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let sql = "DELETE FROM team_members WHERE team_id = $1 AND person_id = $2";
    let done = on!(tx, c => sqlx::query(sql).bind(team_id).bind(person_id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(done > 0)
}

pub async fn list_members(tx: &mut Tx, team_id: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    let sql = "SELECT person_id FROM team_members WHERE team_id = $1 ORDER BY person_id";
    on!(tx, c => sqlx::query_scalar(sql).bind(team_id).fetch_all(c).await)
}

pub async fn is_member(tx: &mut Tx, team_id: Uuid, person_id: Uuid) -> Result<bool, sqlx::Error> {
    let sql = "SELECT COUNT(*) FROM team_members WHERE team_id = $1 AND person_id = $2";
    let n: i64 =
        on!(tx, c => sqlx::query_scalar(sql).bind(team_id).bind(person_id).fetch_one(c).await)?;
    Ok(n > 0)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CategoryRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub team_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_category(tx: &mut Tx, row: &CategoryRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO categories (id, org_id, name, team_id, created_at) VALUES ($1, $2, $3, $4, $5)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(&row.name)
        .bind(row.team_id)
        .bind(row.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn find_category_by_name(
    tx: &mut Tx,
    org_id: Uuid,
    name: &str,
) -> Result<Option<CategoryRow>, sqlx::Error> {
    let sql = "SELECT id, org_id, name, team_id, created_at FROM categories WHERE org_id = $1 AND name = $2";
    on!(tx, c => sqlx::query_as(sql).bind(org_id).bind(name).fetch_optional(c).await)
}

pub async fn find_category(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
) -> Result<Option<CategoryRow>, sqlx::Error> {
    let sql = "SELECT id, org_id, name, team_id, created_at FROM categories WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query_as(sql).bind(org_id).bind(id).fetch_optional(c).await)
}

pub async fn list_categories(tx: &mut Tx, org_id: Uuid) -> Result<Vec<CategoryRow>, sqlx::Error> {
    let sql = "SELECT id, org_id, name, team_id, created_at FROM categories WHERE org_id = $1 ORDER BY name";
    on!(tx, c => sqlx::query_as(sql).bind(org_id).fetch_all(c).await)
}
