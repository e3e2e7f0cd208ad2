//! SLA calendars, policies, per-ticket SLA state and outcomes.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::{on, on_exec, Exec, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CalendarRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub spec: Json<Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const CALENDAR: &str = "SELECT id, org_id, name, spec, created_at, updated_at FROM sla_calendars";

pub async fn upsert_calendar(tx: &mut Tx, row: &CalendarRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO sla_calendars (id, org_id, name, spec, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6) \
               ON CONFLICT (id) DO UPDATE SET name = $3, spec = $4, updated_at = $6";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(&row.name)
        .bind(&row.spec)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn list_calendars(exec: Exec<'_>, org_id: Uuid) -> Result<Vec<CalendarRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(CALENDAR, " WHERE org_id = $1 ORDER BY name");
    on_exec!(exec, c => sqlx::query_as(SQL).bind(org_id).fetch_all(c).await)
}

pub async fn find_calendar(
    exec: Exec<'_>,
    org_id: Uuid,
    id: Uuid,
) -> Result<Option<CalendarRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(CALENDAR, " WHERE org_id = $1 AND id = $2");
    on_exec!(exec, c => sqlx::query_as(SQL).bind(org_id).bind(id).fetch_optional(c).await)
}

pub async fn delete_calendar(tx: &mut Tx, org_id: Uuid, id: Uuid) -> Result<u64, sqlx::Error> {
    let sql = "DELETE FROM sla_calendars WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(sql).bind(org_id).bind(id).execute(c).await.map(|r| r.rows_affected()))
}

pub async fn calendar_in_use(tx: &mut Tx, id: Uuid) -> Result<bool, sqlx::Error> {
    // SLA policies and agents' working hours point at calendars.
    let sql = "SELECT (SELECT COUNT(*) FROM sla_policies WHERE calendar_id = $1) \
               + (SELECT COUNT(*) FROM people WHERE work_calendar_id = $1)";
    let n: i64 = on!(tx, c => sqlx::query_scalar(sql).bind(id).fetch_one(c).await)?;
    Ok(n > 0)
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct PolicyRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub position: i64,
    pub selector: Json<Value>,
    pub targets: Json<Value>,
    pub warn_at_percent: Json<Value>,
    pub pause_states: Json<Value>,
    pub on_reopen: String,
    pub calendar_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(super) const POLICY: &str =
    "SELECT id, org_id, name, position, selector, targets, warn_at_percent, pause_states, \
                      on_reopen, calendar_id, created_at, updated_at FROM sla_policies";

pub async fn upsert_policy(tx: &mut Tx, row: &PolicyRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO sla_policies (id, org_id, name, position, selector, targets, warn_at_percent, \
               pause_states, on_reopen, calendar_id, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
               ON CONFLICT (id) DO UPDATE SET name = $3, position = $4, selector = $5, targets = $6, \
               warn_at_percent = $7, pause_states = $8, on_reopen = $9, calendar_id = $10, updated_at = $12";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(&row.name)
        .bind(row.position)
        .bind(&row.selector)
        .bind(&row.targets)
        .bind(&row.warn_at_percent)
        .bind(&row.pause_states)
        .bind(&row.on_reopen)
        .bind(row.calendar_id)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The organization's policies in the order they are tried.
pub async fn list_policies(exec: Exec<'_>, org_id: Uuid) -> Result<Vec<PolicyRow>, sqlx::Error> {
    const SQL: &str =
        const_format::concatcp!(POLICY, " WHERE org_id = $1 ORDER BY position, created_at");
    on_exec!(exec, c => sqlx::query_as(SQL).bind(org_id).fetch_all(c).await)
}

pub async fn find_policy(
    exec: Exec<'_>,
    org_id: Uuid,
    id: Uuid,
) -> Result<Option<PolicyRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(POLICY, " WHERE org_id = $1 AND id = $2");
    on_exec!(exec, c => sqlx::query_as(SQL).bind(org_id).bind(id).fetch_optional(c).await)
}

/// Deletes a policy; tickets keep the terms they were given.
pub async fn delete_policy(tx: &mut Tx, org_id: Uuid, id: Uuid) -> Result<u64, sqlx::Error> {
    let detach = "UPDATE sla_states SET policy_id = NULL WHERE policy_id = $1";
    on!(tx, c => sqlx::query(detach).bind(id).execute(c).await.map(|r| r.rows_affected()))?;
    let outcomes = "UPDATE sla_outcomes SET policy_id = NULL WHERE policy_id = $1";
    on!(tx, c => sqlx::query(outcomes).bind(id).execute(c).await.map(|r| r.rows_affected()))?;
    let sql = "DELETE FROM sla_policies WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(sql).bind(org_id).bind(id).execute(c).await.map(|r| r.rows_affected()))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SlaStateRow {
    pub ticket_id: Uuid,
    pub org_id: Uuid,
    pub policy_id: Option<Uuid>,
    pub state: Json<Value>,
    pub generation: i64,
    pub updated_at: DateTime<Utc>,
}

pub async fn find_state(
    exec: Exec<'_>,
    ticket_id: Uuid,
) -> Result<Option<SlaStateRow>, sqlx::Error> {
    let sql = "SELECT ticket_id, org_id, policy_id, state, generation, updated_at FROM sla_states WHERE ticket_id = $1";
    on_exec!(exec, c => sqlx::query_as(sql).bind(ticket_id).fetch_optional(c).await)
}

/// Writes a ticket's SLA state; `standing` is its worst clock
/// (`domain::sla::Standing`), kept beside the JSON for the queue views.
pub async fn upsert_state(
    tx: &mut Tx,
    row: &SlaStateRow,
    standing: &str,
) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO sla_states (ticket_id, org_id, policy_id, state, generation, updated_at, standing) \
               VALUES ($1, $2, $3, $4, $5, $6, $7) \
               ON CONFLICT (ticket_id) DO UPDATE SET policy_id = $3, state = $4, generation = $5, updated_at = $6, standing = $7";
    on!(tx, c => sqlx::query(sql)
        .bind(row.ticket_id)
        .bind(row.org_id)
        .bind(row.policy_id)
        .bind(&row.state)
        .bind(row.generation)
        .bind(row.updated_at)
        .bind(standing)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Tickets with an SLA state in an organization (for a replay of all).
pub async fn list_state_tickets(exec: Exec<'_>, org_id: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    let sql = "SELECT ticket_id FROM sla_states WHERE org_id = $1 ORDER BY ticket_id";
    on_exec!(exec, c => sqlx::query_scalar(sql).bind(org_id).fetch_all(c).await)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutcomeRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub ticket_id: Uuid,
    pub target: String,
    pub started_at: DateTime<Utc>,
    pub policy_id: Option<Uuid>,
    pub policy_name: String,
    pub team_id: Option<Uuid>,
    pub priority: String,
    pub kind: String,
    pub outcome: String,
    pub due_at: Option<DateTime<Utc>>,
    pub decided_at: DateTime<Utc>,
}

/// Records how a clock round ended; the first word stays (a breach is final).
pub async fn insert_outcome(tx: &mut Tx, row: &OutcomeRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO sla_outcomes (id, org_id, ticket_id, target, started_at, policy_id, policy_name, \
               team_id, priority, kind, outcome, due_at, decided_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
               ON CONFLICT (ticket_id, target, started_at) DO NOTHING";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(row.ticket_id)
        .bind(&row.target)
        .bind(row.started_at)
        .bind(row.policy_id)
        .bind(&row.policy_name)
        .bind(row.team_id)
        .bind(&row.priority)
        .bind(&row.kind)
        .bind(&row.outcome)
        .bind(row.due_at)
        .bind(row.decided_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// One group of the compliance report.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ComplianceRow {
    pub key: Option<String>,
    pub target: String,
    pub total: i64,
    pub met: i64,
}

/// What the compliance report groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Policy,
    Team,
    Priority,
}

/// Outcomes decided in `[from, to)`, counted per group and target.
pub async fn compliance(
    exec: Exec<'_>,
    org_id: Uuid,
    group: GroupBy,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<ComplianceRow>, sqlx::Error> {
    const TAIL: &str = " AS key, o.target, COUNT(*) AS total, \
                        SUM(CASE WHEN o.outcome = 'met' THEN 1 ELSE 0 END) AS met FROM sla_outcomes o ";
    const WHERE: &str = " WHERE o.org_id = $1 AND o.decided_at >= $2 AND o.decided_at < $3 ";
    const POLICY: &str = const_format::concatcp!(
        "SELECT o.policy_name",
        TAIL,
        WHERE,
        "GROUP BY o.policy_name, o.target ORDER BY 1, 2"
    );
    const TEAM: &str = const_format::concatcp!(
        "SELECT t.name",
        TAIL,
        "LEFT JOIN teams t ON t.id = o.team_id",
        WHERE,
        "GROUP BY t.name, o.target ORDER BY 1, 2"
    );
    const PRIORITY: &str = const_format::concatcp!(
        "SELECT o.priority",
        TAIL,
        WHERE,
        "GROUP BY o.priority, o.target ORDER BY 1, 2"
    );
    let sql = match group {
        GroupBy::Policy => POLICY,
        GroupBy::Team => TEAM,
        GroupBy::Priority => PRIORITY,
    };
    on_exec!(exec, c => sqlx::query_as(sql).bind(org_id).bind(from).bind(to).fetch_all(c).await)
}

/// Takes a ticket's row lock (Postgres) so SLA changes of one ticket serialize.
pub async fn lock_ticket(tx: &mut Tx, ticket_id: Uuid) -> Result<(), sqlx::Error> {
    const PG: &str = "SELECT id FROM tickets WHERE id = $1 FOR UPDATE";
    if let Tx::Postgres(t) = tx {
        sqlx::query_scalar::<_, Uuid>(PG)
            .bind(ticket_id)
            .fetch_optional(&mut **t)
            .await?;
    }
    Ok(())
}

/// The SLA events recorded in a ticket's activity, oldest first.
pub async fn list_sla_events(
    exec: Exec<'_>,
    ticket_id: Uuid,
) -> Result<Vec<(DateTime<Utc>, Option<String>)>, sqlx::Error> {
    let sql =
        "SELECT created_at, new_value FROM activity WHERE ticket_id = $1 AND action = 'sla_event' \
               ORDER BY created_at, id";
    on_exec!(exec, c => sqlx::query_as(sql).bind(ticket_id).fetch_all(c).await)
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct EscalationPolicyRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub position: i64,
    pub selector: Json<Value>,
    pub steps: Json<Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(super) const ESCALATION_POLICY: &str =
    "SELECT id, org_id, name, position, selector, steps, created_at, updated_at FROM escalation_policies";

pub async fn upsert_escalation_policy(
    tx: &mut Tx,
    row: &EscalationPolicyRow,
) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO escalation_policies (id, org_id, name, position, selector, steps, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
               ON CONFLICT (id) DO UPDATE SET name = $3, position = $4, selector = $5, steps = $6, updated_at = $8";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(&row.name)
        .bind(row.position)
        .bind(&row.selector)
        .bind(&row.steps)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn list_escalation_policies(
    exec: Exec<'_>,
    org_id: Uuid,
) -> Result<Vec<EscalationPolicyRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        ESCALATION_POLICY,
        " WHERE org_id = $1 ORDER BY position, created_at"
    );
    on_exec!(exec, c => sqlx::query_as(SQL).bind(org_id).fetch_all(c).await)
}

pub async fn find_escalation_policy(
    exec: Exec<'_>,
    org_id: Uuid,
    id: Uuid,
) -> Result<Option<EscalationPolicyRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(ESCALATION_POLICY, " WHERE org_id = $1 AND id = $2");
    on_exec!(exec, c => sqlx::query_as(SQL).bind(org_id).bind(id).fetch_optional(c).await)
}

pub async fn delete_escalation_policy(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
) -> Result<u64, sqlx::Error> {
    let detach = "UPDATE ticket_escalations SET policy_id = NULL WHERE policy_id = $1";
    on!(tx, c => sqlx::query(detach).bind(id).execute(c).await.map(|r| r.rows_affected()))?;
    let sql = "DELETE FROM escalation_policies WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(sql).bind(org_id).bind(id).execute(c).await.map(|r| r.rows_affected()))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TicketEscalationRow {
    pub ticket_id: Uuid,
    pub org_id: Uuid,
    pub policy_id: Option<Uuid>,
    pub policy_name: String,
    pub steps: Json<Value>,
    pub started_at: DateTime<Utc>,
    pub generation: i64,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<Uuid>,
    pub stopped_at: Option<DateTime<Utc>>,
}

pub async fn find_ticket_escalation(
    exec: Exec<'_>,
    ticket_id: Uuid,
) -> Result<Option<TicketEscalationRow>, sqlx::Error> {
    let sql = "SELECT ticket_id, org_id, policy_id, policy_name, steps, started_at, generation, \
               acknowledged_at, acknowledged_by, stopped_at FROM ticket_escalations WHERE ticket_id = $1";
    on_exec!(exec, c => sqlx::query_as(sql).bind(ticket_id).fetch_optional(c).await)
}

pub async fn upsert_ticket_escalation(
    tx: &mut Tx,
    row: &TicketEscalationRow,
) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO ticket_escalations (ticket_id, org_id, policy_id, policy_name, steps, started_at, \
               generation, acknowledged_at, acknowledged_by, stopped_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
               ON CONFLICT (ticket_id) DO UPDATE SET generation = $7, acknowledged_at = $8, \
               acknowledged_by = $9, stopped_at = $10";
    on!(tx, c => sqlx::query(sql)
        .bind(row.ticket_id)
        .bind(row.org_id)
        .bind(row.policy_id)
        .bind(&row.policy_name)
        .bind(&row.steps)
        .bind(row.started_at)
        .bind(row.generation)
        .bind(row.acknowledged_at)
        .bind(row.acknowledged_by)
        .bind(row.stopped_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RotationRow {
    pub team_id: Uuid,
    pub org_id: Uuid,
    pub spec: Json<Value>,
    pub updated_at: DateTime<Utc>,
}

pub async fn upsert_rotation(tx: &mut Tx, row: &RotationRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO on_call_rotations (team_id, org_id, spec, updated_at) VALUES ($1, $2, $3, $4) \
               ON CONFLICT (team_id) DO UPDATE SET spec = $3, updated_at = $4";
    on!(tx, c => sqlx::query(sql)
        .bind(row.team_id)
        .bind(row.org_id)
        .bind(&row.spec)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn find_rotation(
    exec: Exec<'_>,
    org_id: Uuid,
    team_id: Uuid,
) -> Result<Option<RotationRow>, sqlx::Error> {
    let sql = "SELECT team_id, org_id, spec, updated_at FROM on_call_rotations WHERE org_id = $1 AND team_id = $2";
    on_exec!(exec, c => sqlx::query_as(sql).bind(org_id).bind(team_id).fetch_optional(c).await)
}
