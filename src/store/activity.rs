//! The activity record of a ticket: every change, who, via which channel.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{on, on_exec, Exec, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ActivityRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub ticket_id: Uuid,
    pub actor_id: Option<Uuid>,
    pub actor_name: Option<String>,
    pub channel: String,
    pub action: String,
    pub field: Option<String>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Inserts several rows in one statement (one round trip per use case).
pub async fn insert_activity(tx: &mut Tx, rows: &[ActivityRow]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let sql = super::multi_row_insert(
        "INSERT INTO activity (id, org_id, ticket_id, actor_id, channel, action, field, old_value, new_value, created_at) VALUES ",
        10,
        rows.len(),
        "",
    );
    let sql = sqlx::AssertSqlSafe(sql);
    on!(tx, c => {
        let mut q = sqlx::query(sql);
        for r in rows {
            q = q
                .bind(r.id)
                .bind(r.org_id)
                .bind(r.ticket_id)
                .bind(r.actor_id)
                .bind(&r.channel)
                .bind(&r.action)
                .bind(&r.field)
                .bind(&r.old_value)
                .bind(&r.new_value)
                .bind(r.created_at);
        }
        q.execute(c).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

pub async fn list_activity(
    e: Exec<'_>,
    org_id: Uuid,
    ticket_id: Uuid,
) -> Result<Vec<ActivityRow>, sqlx::Error> {
    let sql = "SELECT a.id, a.org_id, a.ticket_id, a.actor_id, p.name AS actor_name, a.channel, a.action, \
               a.field, a.old_value, a.new_value, a.created_at \
               FROM activity a LEFT JOIN people p ON p.id = a.actor_id \
               WHERE a.org_id = $1 AND a.ticket_id = $2 ORDER BY a.created_at, a.id";
    on_exec!(e, c => sqlx::query_as(sql).bind(org_id).bind(ticket_id).fetch_all(c).await)
}
