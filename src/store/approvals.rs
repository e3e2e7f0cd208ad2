//! Approval policies, approval runs, their approvers and decisions,
//! delegations and who manages whom.
//!
//! Decisions on one approval serialize on its ticket's row lock, which the
//! desk takes first; the unique key on decisions is the last line of defence.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::{on, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PolicyRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub description: String,
    pub stages: Json<Value>,
    pub default_for: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const POLICY: &str = "SELECT id, org_id, name, description, stages, default_for, created_at, updated_at FROM approval_policies";

pub async fn insert_policy(tx: &mut Tx, row: &PolicyRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO approval_policies (id, org_id, name, description, stages, default_for, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(&row.name)
        .bind(&row.description)
        .bind(&row.stages)
        .bind(&row.default_for)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn update_policy(tx: &mut Tx, row: &PolicyRow) -> Result<(), sqlx::Error> {
    let sql = "UPDATE approval_policies SET name = $3, description = $4, stages = $5, default_for = $6, updated_at = $7 \
               WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(sql)
        .bind(row.org_id)
        .bind(row.id)
        .bind(&row.name)
        .bind(&row.description)
        .bind(&row.stages)
        .bind(&row.default_for)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn find_policy(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
) -> Result<Option<PolicyRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(POLICY, " WHERE org_id = $1 AND id = $2");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(id).fetch_optional(c).await)
}

pub async fn find_policy_by_name(
    tx: &mut Tx,
    org_id: Uuid,
    name: &str,
) -> Result<Option<PolicyRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(POLICY, " WHERE org_id = $1 AND name = $2");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(name).fetch_optional(c).await)
}

pub async fn find_default_policy(
    tx: &mut Tx,
    org_id: Uuid,
    default_for: &str,
) -> Result<Option<PolicyRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(POLICY, " WHERE org_id = $1 AND default_for = $2");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(default_for).fetch_optional(c).await)
}

pub async fn list_policies(tx: &mut Tx, org_id: Uuid) -> Result<Vec<PolicyRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(POLICY, " WHERE org_id = $1 ORDER BY name");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).fetch_all(c).await)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApprovalRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub ticket_id: Uuid,
    pub policy_id: Option<Uuid>,
    pub policy_name: String,
    pub stages: Json<Value>,
    pub status: String,
    pub stage: i32,
    pub stage_started_at: DateTime<Utc>,
    pub escalated: bool,
    pub requester_id: Option<Uuid>,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

const APPROVAL: &str = "SELECT id, org_id, ticket_id, policy_id, policy_name, stages, status, stage, stage_started_at, \
                        escalated, requester_id, reason, created_at, completed_at FROM approvals";

pub async fn insert_approval(tx: &mut Tx, row: &ApprovalRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO approvals (id, org_id, ticket_id, policy_id, policy_name, stages, status, stage, \
               stage_started_at, escalated, requester_id, reason, created_at, completed_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(row.ticket_id)
        .bind(row.policy_id)
        .bind(&row.policy_name)
        .bind(&row.stages)
        .bind(&row.status)
        .bind(row.stage)
        .bind(row.stage_started_at)
        .bind(row.escalated)
        .bind(row.requester_id)
        .bind(&row.reason)
        .bind(row.created_at)
        .bind(row.completed_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn update_approval(tx: &mut Tx, row: &ApprovalRow) -> Result<(), sqlx::Error> {
    let sql = "UPDATE approvals SET status = $3, stage = $4, stage_started_at = $5, escalated = $6, reason = $7, \
               completed_at = $8 WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(sql)
        .bind(row.org_id)
        .bind(row.id)
        .bind(&row.status)
        .bind(row.stage)
        .bind(row.stage_started_at)
        .bind(row.escalated)
        .bind(&row.reason)
        .bind(row.completed_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn find_approval(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
) -> Result<Option<ApprovalRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(APPROVAL, " WHERE org_id = $1 AND id = $2");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(id).fetch_optional(c).await)
}

pub async fn list_ticket_approvals(
    tx: &mut Tx,
    org_id: Uuid,
    ticket_id: Uuid,
) -> Result<Vec<ApprovalRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        APPROVAL,
        " WHERE org_id = $1 AND ticket_id = $2 ORDER BY created_at, id"
    );
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(ticket_id).fetch_all(c).await)
}

/// Pending approvals whose current stage `person` may decide, directly or
/// through an active delegation.
pub async fn list_waiting_for(
    tx: &mut Tx,
    org_id: Uuid,
    person: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<ApprovalRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        APPROVAL,
        " WHERE org_id = $1 AND status = 'pending' AND id IN ( \
           SELECT a.approval_id FROM approval_approvers a \
           JOIN approvals p ON p.id = a.approval_id AND p.stage = a.stage \
           WHERE (a.person_id = $2 OR a.person_id IN ( \
              SELECT from_id FROM delegations WHERE to_id = $2 AND starts_at <= $3 AND ends_at > $3)) \
             AND NOT EXISTS (SELECT 1 FROM approval_decisions d WHERE d.approval_id = a.approval_id \
                             AND d.stage = a.stage AND d.approver_id = a.person_id)) \
         ORDER BY created_at, id"
    );
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(person).bind(now).fetch_all(c).await)
}

pub async fn insert_approvers(
    tx: &mut Tx,
    approval_id: Uuid,
    stage: i32,
    people: &[Uuid],
) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO approval_approvers (approval_id, stage, person_id) VALUES ($1, $2, $3) \
               ON CONFLICT DO NOTHING";
    for person in people {
        on!(tx, c => sqlx::query(sql)
            .bind(approval_id)
            .bind(stage)
            .bind(person)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// A stage's approvers with their names and emails: (id, name, email).
pub async fn list_approvers(
    tx: &mut Tx,
    approval_id: Uuid,
    stage: i32,
) -> Result<Vec<(Uuid, String, Option<String>)>, sqlx::Error> {
    let sql = "SELECT p.id, p.name, p.email FROM approval_approvers a JOIN people p ON p.id = a.person_id \
               WHERE a.approval_id = $1 AND a.stage = $2 ORDER BY p.name, p.id";
    on!(tx, c => sqlx::query_as(sql).bind(approval_id).bind(stage).fetch_all(c).await)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DecisionRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub approval_id: Uuid,
    pub stage: i32,
    pub approver_id: Uuid,
    pub decided_by: Option<Uuid>,
    pub decision: String,
    pub reason: Option<String>,
    pub channel: String,
    pub created_at: DateTime<Utc>,
    /// Joined: the names of the approver and of who decided.
    #[sqlx(default)]
    pub approver_name: Option<String>,
    #[sqlx(default)]
    pub decided_by_name: Option<String>,
}

pub async fn insert_decision(tx: &mut Tx, row: &DecisionRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO approval_decisions (id, org_id, approval_id, stage, approver_id, decided_by, decision, \
               reason, channel, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(row.approval_id)
        .bind(row.stage)
        .bind(row.approver_id)
        .bind(row.decided_by)
        .bind(&row.decision)
        .bind(&row.reason)
        .bind(&row.channel)
        .bind(row.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn list_decisions(
    tx: &mut Tx,
    approval_id: Uuid,
) -> Result<Vec<DecisionRow>, sqlx::Error> {
    let sql = "SELECT d.id, d.org_id, d.approval_id, d.stage, d.approver_id, d.decided_by, d.decision, d.reason, \
               d.channel, d.created_at, a.name AS approver_name, b.name AS decided_by_name \
               FROM approval_decisions d JOIN people a ON a.id = d.approver_id \
               LEFT JOIN people b ON b.id = d.decided_by \
               WHERE d.approval_id = $1 ORDER BY d.created_at, d.id";
    on!(tx, c => sqlx::query_as(sql).bind(approval_id).fetch_all(c).await)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DelegationRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub from_id: Uuid,
    pub to_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

const DELEGATION: &str =
    "SELECT id, org_id, from_id, to_id, starts_at, ends_at, created_at FROM delegations";

pub async fn insert_delegation(tx: &mut Tx, row: &DelegationRow) -> Result<(), sqlx::Error> {
    let sql =
        "INSERT INTO delegations (id, org_id, from_id, to_id, starts_at, ends_at, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(row.from_id)
        .bind(row.to_id)
        .bind(row.starts_at)
        .bind(row.ends_at)
        .bind(row.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Delegations of the organization that are in force at `now`.
pub async fn active_delegations(
    tx: &mut Tx,
    org_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<DelegationRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        DELEGATION,
        " WHERE org_id = $1 AND starts_at <= $2 AND ends_at > $2 ORDER BY created_at"
    );
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(now).fetch_all(c).await)
}

/// A person's delegations, given or received, that have not ended.
pub async fn list_delegations(
    tx: &mut Tx,
    org_id: Uuid,
    person: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<DelegationRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        DELEGATION,
        " WHERE org_id = $1 AND (from_id = $2 OR to_id = $2) AND ends_at > $3 ORDER BY starts_at"
    );
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(person).bind(now).fetch_all(c).await)
}

/// Ends a delegation now (only the delegator's own).
pub async fn end_delegation(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
    from_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE delegations SET ends_at = $4 WHERE org_id = $1 AND id = $2 AND from_id = $3 AND ends_at > $4";
    let n = on!(tx, c => sqlx::query(sql).bind(org_id).bind(id).bind(from_id).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

pub async fn set_manager(
    tx: &mut Tx,
    org_id: Uuid,
    person: Uuid,
    manager: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    match manager {
        Some(manager) => {
            let sql =
                "INSERT INTO person_managers (person_id, org_id, manager_id) VALUES ($1, $2, $3) \
                       ON CONFLICT (person_id) DO UPDATE SET manager_id = excluded.manager_id";
            on!(tx, c => sqlx::query(sql).bind(person).bind(org_id).bind(manager).execute(c).await.map(|r| r.rows_affected()))?;
        }
        None => {
            let sql = "DELETE FROM person_managers WHERE org_id = $1 AND person_id = $2";
            on!(tx, c => sqlx::query(sql).bind(org_id).bind(person).execute(c).await.map(|r| r.rows_affected()))?;
        }
    }
    Ok(())
}

pub async fn find_manager(
    tx: &mut Tx,
    org_id: Uuid,
    person: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    let sql = "SELECT manager_id FROM person_managers WHERE org_id = $1 AND person_id = $2";
    on!(tx, c => sqlx::query_scalar(sql).bind(org_id).bind(person).fetch_optional(c).await)
}

/// A one-click approval link that was used.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkUseRow {
    pub token_hash: String,
    pub org_id: Uuid,
    pub approval_id: Uuid,
    pub person_id: Uuid,
    pub decision: String,
    pub used_at: DateTime<Utc>,
}

/// Records that a link was used; false when it already was.
pub async fn insert_link_use(tx: &mut Tx, row: &LinkUseRow) -> Result<bool, sqlx::Error> {
    let sql = "INSERT INTO approval_link_uses (token_hash, org_id, approval_id, person_id, decision, used_at) \
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (token_hash) DO NOTHING RETURNING token_hash";
    let inserted: Option<String> = on!(tx, c => sqlx::query_scalar(sql)
        .bind(&row.token_hash)
        .bind(row.org_id)
        .bind(row.approval_id)
        .bind(row.person_id)
        .bind(&row.decision)
        .bind(row.used_at)
        .fetch_optional(c)
        .await)?;
    Ok(inserted.is_some())
}

pub async fn find_link_use(
    tx: &mut Tx,
    org_id: Uuid,
    token_hash: &str,
) -> Result<Option<LinkUseRow>, sqlx::Error> {
    let sql = "SELECT token_hash, org_id, approval_id, person_id, decision, used_at \
               FROM approval_link_uses WHERE org_id = $1 AND token_hash = $2";
    on!(tx, c => sqlx::query_as(sql).bind(org_id).bind(token_hash).fetch_optional(c).await)
}
