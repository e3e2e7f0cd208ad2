//! Time logged on tickets (issue 23, item 5). The agents report's sums are
//! in `reports.rs`, beside the other report reads and their filter block.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{on, on_exec, Exec, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TimeEntryRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub ticket_id: Uuid,
    pub agent_id: Uuid,
    /// Read with the person; not a column of the table.
    pub agent_name: Option<String>,
    pub minutes: i32,
    pub note: String,
    pub billable: bool,
    pub started_at: DateTime<Utc>,
    pub channel: String,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_time_entry(tx: &mut Tx, row: &TimeEntryRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO time_entries (id, org_id, ticket_id, agent_id, minutes, note, billable, started_at, channel, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(row.ticket_id)
        .bind(row.agent_id)
        .bind(row.minutes)
        .bind(&row.note)
        .bind(row.billable)
        .bind(row.started_at)
        .bind(&row.channel)
        .bind(row.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A ticket's entries, oldest work first.
pub async fn list_time_entries(
    e: Exec<'_>,
    org_id: Uuid,
    ticket_id: Uuid,
) -> Result<Vec<TimeEntryRow>, sqlx::Error> {
    let sql =
        "SELECT e.id, e.org_id, e.ticket_id, e.agent_id, p.name AS agent_name, e.minutes, e.note, \
               e.billable, e.started_at, e.channel, e.created_at \
               FROM time_entries e LEFT JOIN people p ON p.id = e.agent_id \
               WHERE e.org_id = $1 AND e.ticket_id = $2 ORDER BY e.started_at, e.created_at, e.id";
    on_exec!(e, c => sqlx::query_as(sql).bind(org_id).bind(ticket_id).fetch_all(c).await)
}
