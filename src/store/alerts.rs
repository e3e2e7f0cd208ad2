//! Alert intake: integrations (the senders and their hashed secrets), alert
//! groups (one incident at a time per group key) and the alerts of each
//! incident, by fingerprint.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::{multi_row_insert, on, on_exec, on_pool, Db, Exec, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IntegrationRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub kind: String,
    pub token_hash: String,
    /// A `domain::alert::Mapping`.
    pub settings: Json<serde_json::Value>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const INTEGRATION: &str = "SELECT id, org_id, name, kind, token_hash, settings, enabled, \
                           created_at, updated_at FROM integrations";

pub async fn insert_integration(tx: &mut Tx, r: &IntegrationRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO integrations (id, org_id, name, kind, token_hash, settings, enabled, \
               created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    on!(tx, c => sqlx::query(sql)
        .bind(r.id)
        .bind(r.org_id)
        .bind(&r.name)
        .bind(&r.kind)
        .bind(&r.token_hash)
        .bind(&r.settings)
        .bind(r.enabled)
        .bind(r.created_at)
        .bind(r.updated_at)
        .execute(c)
        .await
        .map(drop))
}

pub async fn update_integration(tx: &mut Tx, r: &IntegrationRow) -> Result<(), sqlx::Error> {
    let sql = "UPDATE integrations SET name = $3, token_hash = $4, settings = $5, enabled = $6, \
               updated_at = $7 WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(sql)
        .bind(r.org_id)
        .bind(r.id)
        .bind(&r.name)
        .bind(&r.token_hash)
        .bind(&r.settings)
        .bind(r.enabled)
        .bind(r.updated_at)
        .execute(c)
        .await
        .map(drop))
}

pub async fn list_integrations(
    exec: Exec<'_>,
    org_id: Uuid,
) -> Result<Vec<IntegrationRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(INTEGRATION, " WHERE org_id = $1 ORDER BY name, id");
    on_exec!(exec, c => sqlx::query_as(SQL).bind(org_id).fetch_all(c).await)
}

/// One integration of an organization (locked for change in a transaction
/// on Postgres).
pub async fn get_integration(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
) -> Result<Option<IntegrationRow>, sqlx::Error> {
    const PG: &str =
        const_format::concatcp!(INTEGRATION, " WHERE org_id = $1 AND id = $2 FOR UPDATE");
    const LITE: &str = const_format::concatcp!(INTEGRATION, " WHERE org_id = $1 AND id = $2");
    match tx {
        Tx::Postgres(t) => {
            sqlx::query_as(PG)
                .bind(org_id)
                .bind(id)
                .fetch_optional(&mut **t)
                .await
        }
        Tx::Sqlite(t) => {
            sqlx::query_as(LITE)
                .bind(org_id)
                .bind(id)
                .fetch_optional(&mut **t)
                .await
        }
    }
}

/// The integration a webhook names in its path, whatever its organization.
pub async fn find_integration(db: &Db, id: Uuid) -> Result<Option<IntegrationRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(INTEGRATION, " WHERE id = $1");
    on_pool!(db, p => sqlx::query_as(SQL).bind(id).fetch_optional(p).await)
}

/// The integration whose secret hashes to `hash` (Events v2's routing key).
pub async fn find_integration_by_secret(
    db: &Db,
    hash: &str,
) -> Result<Option<IntegrationRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(INTEGRATION, " WHERE token_hash = $1");
    on_pool!(db, p => sqlx::query_as(SQL).bind(hash).fetch_optional(p).await)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlertGroupRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub integration_id: Uuid,
    pub group_key: String,
    pub ticket_id: Option<Uuid>,
    pub firing: bool,
    pub opened_at: DateTime<Utc>,
    pub flap_since: DateTime<Utc>,
    pub flap_opens: i32,
    pub last_event_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub silenced_until: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

const GROUP: &str = "SELECT id, org_id, integration_id, group_key, ticket_id, firing, opened_at, \
                     flap_since, flap_opens, last_event_at, resolved_at, silenced_until, acknowledged_at FROM alert_groups";

/// The group of `key`, created if new, and locked until commit: deliveries
/// of one group (an HA pair of Alertmanagers sends each twice, two
/// replicas may take them) pass it one at a time.
pub async fn lock_group(tx: &mut Tx, fresh: &AlertGroupRow) -> Result<AlertGroupRow, sqlx::Error> {
    let insert = "INSERT INTO alert_groups (id, org_id, integration_id, group_key, ticket_id, \
                  firing, opened_at, flap_since, flap_opens, last_event_at, resolved_at) \
                  VALUES ($1, $2, $3, $4, NULL, $5, $6, $7, $8, $9, NULL) \
                  ON CONFLICT (integration_id, group_key) DO NOTHING";
    on!(tx, c => sqlx::query(insert)
        .bind(fresh.id)
        .bind(fresh.org_id)
        .bind(fresh.integration_id)
        .bind(&fresh.group_key)
        .bind(fresh.firing)
        .bind(fresh.opened_at)
        .bind(fresh.flap_since)
        .bind(fresh.flap_opens)
        .bind(fresh.last_event_at)
        .execute(c)
        .await
        .map(drop))?;
    const PG: &str = const_format::concatcp!(
        GROUP,
        " WHERE integration_id = $1 AND group_key = $2 FOR UPDATE"
    );
    const LITE: &str =
        const_format::concatcp!(GROUP, " WHERE integration_id = $1 AND group_key = $2");
    match tx {
        Tx::Postgres(t) => {
            sqlx::query_as(PG)
                .bind(fresh.integration_id)
                .bind(&fresh.group_key)
                .fetch_one(&mut **t)
                .await
        }
        Tx::Sqlite(t) => {
            sqlx::query_as(LITE)
                .bind(fresh.integration_id)
                .bind(&fresh.group_key)
                .fetch_one(&mut **t)
                .await
        }
    }
}

/// An existing group, locked until commit.
pub async fn find_group(
    tx: &mut Tx,
    integration_id: Uuid,
    group_key: &str,
) -> Result<Option<AlertGroupRow>, sqlx::Error> {
    const PG: &str = const_format::concatcp!(
        GROUP,
        " WHERE integration_id = $1 AND group_key = $2 FOR UPDATE"
    );
    const LITE: &str =
        const_format::concatcp!(GROUP, " WHERE integration_id = $1 AND group_key = $2");
    match tx {
        Tx::Postgres(t) => {
            sqlx::query_as(PG)
                .bind(integration_id)
                .bind(group_key)
                .fetch_optional(&mut **t)
                .await
        }
        Tx::Sqlite(t) => {
            sqlx::query_as(LITE)
                .bind(integration_id)
                .bind(group_key)
                .fetch_optional(&mut **t)
                .await
        }
    }
}

pub async fn update_group(tx: &mut Tx, g: &AlertGroupRow) -> Result<(), sqlx::Error> {
    let sql = "UPDATE alert_groups SET ticket_id = $2, firing = $3, opened_at = $4, \
               flap_since = $5, flap_opens = $6, last_event_at = $7, resolved_at = $8, \
               silenced_until = $9, acknowledged_at = $10 WHERE id = $1";
    on!(tx, c => sqlx::query(sql)
        .bind(g.id)
        .bind(g.ticket_id)
        .bind(g.firing)
        .bind(g.opened_at)
        .bind(g.flap_since)
        .bind(g.flap_opens)
        .bind(g.last_event_at)
        .bind(g.resolved_at)
        .bind(g.silenced_until)
        .bind(g.acknowledged_at)
        .execute(c)
        .await
        .map(drop))
}

/// The group whose incident `ticket_id` is now, locked until commit. Lock
/// it before the ticket, as a delivery does, or the two can deadlock.
pub async fn lock_group_of_ticket(
    tx: &mut Tx,
    ticket_id: Uuid,
) -> Result<Option<AlertGroupRow>, sqlx::Error> {
    const PG: &str = const_format::concatcp!(GROUP, " WHERE ticket_id = $1 FOR UPDATE");
    const LITE: &str = const_format::concatcp!(GROUP, " WHERE ticket_id = $1");
    match tx {
        Tx::Postgres(t) => {
            sqlx::query_as(PG)
                .bind(ticket_id)
                .fetch_optional(&mut **t)
                .await
        }
        Tx::Sqlite(t) => {
            sqlx::query_as(LITE)
                .bind(ticket_id)
                .fetch_optional(&mut **t)
                .await
        }
    }
}

/// The group whose incident `ticket_id` is now.
pub async fn group_of_ticket(
    exec: Exec<'_>,
    ticket_id: Uuid,
) -> Result<Option<AlertGroupRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(GROUP, " WHERE ticket_id = $1");
    on_exec!(exec, c => sqlx::query_as(SQL).bind(ticket_id).fetch_optional(c).await)
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AlertRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub group_id: Uuid,
    pub ticket_id: Uuid,
    pub fingerprint: String,
    pub status: String,
    pub summary: String,
    pub severity: Option<String>,
    pub labels: Json<serde_json::Value>,
    pub annotations: Json<serde_json::Value>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub generator_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const ALERT: &str = "SELECT id, org_id, group_id, ticket_id, fingerprint, status, summary, \
                     severity, labels, annotations, starts_at, ends_at, generator_url, \
                     created_at, updated_at FROM alerts";

/// The alerts of an incident, by fingerprint.
pub async fn list_alerts(exec: Exec<'_>, ticket_id: Uuid) -> Result<Vec<AlertRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(ALERT, " WHERE ticket_id = $1 ORDER BY fingerprint");
    on_exec!(exec, c => sqlx::query_as(SQL).bind(ticket_id).fetch_all(c).await)
}

/// Writes new and changed alerts, many per statement (one Alertmanager
/// notification may carry a thousand).
pub async fn upsert_alerts(tx: &mut Tx, rows: &[AlertRow]) -> Result<(), sqlx::Error> {
    const COLUMNS: usize = 15;
    const ON_CONFLICT: &str = " ON CONFLICT (ticket_id, fingerprint) DO UPDATE SET \
        status = excluded.status, summary = excluded.summary, severity = excluded.severity, \
        labels = excluded.labels, annotations = excluded.annotations, \
        starts_at = excluded.starts_at, ends_at = excluded.ends_at, \
        generator_url = excluded.generator_url, updated_at = excluded.updated_at";
    if rows.is_empty() {
        return Ok(());
    }
    if let Tx::Postgres(t) = tx {
        let sql = const_format::concatcp!(
            "INSERT INTO alerts (id, org_id, group_id, ticket_id, fingerprint, status, summary, \
             severity, labels, annotations, starts_at, ends_at, generator_url, created_at, \
             updated_at) \
             SELECT id, org_id, group_id, ticket_id, fingerprint, status, summary, severity, \
             labels::jsonb, annotations::jsonb, starts_at, ends_at, generator_url, created_at, \
             updated_at FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], \
             $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::timestamptz[], \
             $12::timestamptz[], $13::text[], $14::timestamptz[], $15::timestamptz[]) \
             AS u(id, org_id, group_id, ticket_id, fingerprint, status, summary, severity, \
             labels, annotations, starts_at, ends_at, generator_url, created_at, updated_at)",
            ON_CONFLICT
        );
        let json = |v: &serde_json::Value| v.to_string();
        sqlx::query(sql)
            .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.org_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.group_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.ticket_id).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.fingerprint.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.summary.as_str()).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.severity.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| json(&r.labels.0)).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| json(&r.annotations.0))
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.starts_at).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.ends_at).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.generator_url.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.created_at).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.updated_at).collect::<Vec<_>>())
            .execute(&mut **t)
            .await?;
        return Ok(());
    }
    for chunk in rows.chunks(500) {
        let sql = multi_row_insert(
            "INSERT INTO alerts (id, org_id, group_id, ticket_id, fingerprint, status, summary, \
             severity, labels, annotations, starts_at, ends_at, generator_url, created_at, \
             updated_at) VALUES ",
            COLUMNS,
            chunk.len(),
            ON_CONFLICT,
        );
        let sql = sqlx::AssertSqlSafe(sql);
        on!(tx, c => {
            let mut q = sqlx::query(sql);
            for r in chunk {
                q = q
                    .bind(r.id)
                    .bind(r.org_id)
                    .bind(r.group_id)
                    .bind(r.ticket_id)
                    .bind(&r.fingerprint)
                    .bind(&r.status)
                    .bind(&r.summary)
                    .bind(&r.severity)
                    .bind(&r.labels)
                    .bind(&r.annotations)
                    .bind(r.starts_at)
                    .bind(r.ends_at)
                    .bind(&r.generator_url)
                    .bind(r.created_at)
                    .bind(r.updated_at);
            }
            q.execute(c).await.map(drop)
        })?;
    }
    Ok(())
}
