//! CMDB storage: classes, configuration items, unique attribute values,
//! relationships, ticket links and CI history.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::{multi_row_insert, on, on_exec, Exec, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClassRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub label: String,
    pub schema: Json<Value>,
    pub builtin: bool,
    pub created_at: DateTime<Utc>,
}

/// Adds a class unless one of that name exists; true when it was added.
pub async fn insert_class(tx: &mut Tx, row: &ClassRow) -> Result<bool, sqlx::Error> {
    let sql = "INSERT INTO ci_classes (id, org_id, name, label, schema, builtin, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (org_id, name) DO NOTHING";
    let n = on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(&row.name)
        .bind(&row.label)
        .bind(&row.schema)
        .bind(row.builtin)
        .bind(row.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

const CLASS: &str = "SELECT id, org_id, name, label, schema, builtin, created_at FROM ci_classes";

pub async fn list_classes(e: Exec<'_>, org_id: Uuid) -> Result<Vec<ClassRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(CLASS, " WHERE org_id = $1 ORDER BY name");
    on_exec!(e, c => sqlx::query_as(SQL).bind(org_id).fetch_all(c).await)
}

pub async fn find_class_by_name(
    tx: &mut Tx,
    org_id: Uuid,
    name: &str,
) -> Result<Option<ClassRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(CLASS, " WHERE org_id = $1 AND name = $2");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(name).fetch_optional(c).await)
}

/// A configuration item with its class name and owner team name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CiRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub class_id: Uuid,
    pub class_name: String,
    pub name: String,
    pub owner_team_id: Option<Uuid>,
    pub owner_team_name: Option<String>,
    pub lifecycle: String,
    pub criticality: String,
    pub attributes: Json<Value>,
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const CI: &str = "SELECT ci.id, ci.org_id, ci.class_id, cl.name AS class_name, ci.name, ci.owner_team_id, \
                  tm.name AS owner_team_name, ci.lifecycle, ci.criticality, ci.attributes, ci.external_id, \
                  ci.created_at, ci.updated_at \
                  FROM configuration_items ci JOIN ci_classes cl ON cl.id = ci.class_id \
                  LEFT JOIN teams tm ON tm.id = ci.owner_team_id";

pub async fn insert_ci(tx: &mut Tx, row: &CiRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO configuration_items (id, org_id, class_id, name, owner_team_id, lifecycle, criticality, \
               attributes, external_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(row.class_id)
        .bind(&row.name)
        .bind(row.owner_team_id)
        .bind(&row.lifecycle)
        .bind(&row.criticality)
        .bind(&row.attributes)
        .bind(&row.external_id)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn update_ci(tx: &mut Tx, row: &CiRow) -> Result<(), sqlx::Error> {
    let sql = "UPDATE configuration_items SET name = $3, owner_team_id = $4, lifecycle = $5, criticality = $6, \
               attributes = $7, external_id = $8, updated_at = $9 WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(sql)
        .bind(row.org_id)
        .bind(row.id)
        .bind(&row.name)
        .bind(row.owner_team_id)
        .bind(&row.lifecycle)
        .bind(&row.criticality)
        .bind(&row.attributes)
        .bind(&row.external_id)
        .bind(row.updated_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn find_ci(e: Exec<'_>, org_id: Uuid, id: Uuid) -> Result<Option<CiRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(CI, " WHERE ci.org_id = $1 AND ci.id = $2");
    on_exec!(e, c => sqlx::query_as(SQL).bind(org_id).bind(id).fetch_optional(c).await)
}

/// A CI named by `value`, its external id or else its name (an alert's
/// `service` or `instance` label).
pub async fn find_ci_named(
    tx: &mut Tx,
    org_id: Uuid,
    value: &str,
) -> Result<Option<CiRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        CI,
        " WHERE ci.org_id = $1 AND (ci.external_id = $2 OR ci.name = $2) \
          ORDER BY CASE WHEN ci.external_id = $2 THEN 0 ELSE 1 END, ci.id LIMIT 1"
    );
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(value).fetch_optional(c).await)
}

pub async fn find_ci_by_external_id(
    tx: &mut Tx,
    org_id: Uuid,
    external_id: &str,
) -> Result<Option<CiRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(CI, " WHERE ci.org_id = $1 AND ci.external_id = $2");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(external_id).fetch_optional(c).await)
}

/// Lists CIs by name (keyset after `after` = (name, id)), optionally of one
/// class and matching text in name or external id. Only fixed fragments go
/// into the SQL; every value is bound.
pub async fn list_cis(
    e: Exec<'_>,
    org_id: Uuid,
    class_id: Option<Uuid>,
    text: Option<&str>,
    after: Option<(String, Uuid)>,
    limit: i64,
) -> Result<Vec<CiRow>, sqlx::Error> {
    let mut sql = String::from(CI);
    sql.push_str(" WHERE ci.org_id = $1");
    let mut n = 1;
    let mut next = || {
        n += 1;
        n
    };
    let class_mark = class_id.map(|_| next());
    if let Some(m) = class_mark {
        sql.push_str(&format!(" AND ci.class_id = ${m}"));
    }
    let pattern = text.map(|t| format!("%{}%", t.to_lowercase().replace(['\\', '%', '_'], "")));
    if pattern.is_some() {
        let m = next();
        sql.push_str(&format!(
            " AND (lower(ci.name) LIKE ${m} OR lower(ci.external_id) LIKE ${m})"
        ));
    }
    if after.is_some() {
        let (a, b) = (next(), next());
        sql.push_str(&format!(" AND (ci.name, ci.id) > (${a}, ${b})"));
    }
    let m = next();
    sql.push_str(&format!(" ORDER BY ci.name, ci.id LIMIT ${m}"));
    let sql = sqlx::AssertSqlSafe(sql);
    on_exec!(e, c => {
        let mut q = sqlx::query_as(sql).bind(org_id);
        if let Some(id) = class_id {
            q = q.bind(id);
        }
        if let Some(p) = &pattern {
            q = q.bind(p.clone());
        }
        if let Some((name, id)) = &after {
            q = q.bind(name.clone()).bind(*id);
        }
        q.bind(limit).fetch_all(c).await
    })
}

/// Claims unique attribute values for a CI; a clash is a unique violation.
pub async fn claim_unique_value(
    tx: &mut Tx,
    org_id: Uuid,
    class_id: Uuid,
    attribute: &str,
    value: &str,
    ci_id: Uuid,
) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO ci_unique_values (org_id, class_id, attribute, value, ci_id) VALUES ($1, $2, $3, $4, $5)";
    on!(tx, c => sqlx::query(sql).bind(org_id).bind(class_id).bind(attribute).bind(value).bind(ci_id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// The CI that holds a unique value, if any.
pub async fn unique_value_owner(
    tx: &mut Tx,
    org_id: Uuid,
    class_id: Uuid,
    attribute: &str,
    value: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    let sql = "SELECT ci_id FROM ci_unique_values WHERE org_id = $1 AND class_id = $2 AND attribute = $3 AND value = $4";
    on!(tx, c => sqlx::query_scalar(sql).bind(org_id).bind(class_id).bind(attribute).bind(value).fetch_optional(c).await)
}

pub async fn release_unique_values(tx: &mut Tx, ci_id: Uuid) -> Result<(), sqlx::Error> {
    let sql = "DELETE FROM ci_unique_values WHERE ci_id = $1";
    on!(tx, c => sqlx::query(sql).bind(ci_id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RelationshipRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub source_id: Uuid,
    pub target_id: Uuid,
    pub kind: String,
    pub attributes: Json<Value>,
    pub created_at: DateTime<Utc>,
}

/// Adds a relationship unless the same (source, target, kind) exists;
/// returns the id of the one that is there now and whether it is new.
pub async fn upsert_relationship(
    tx: &mut Tx,
    row: &RelationshipRow,
) -> Result<(Uuid, bool), sqlx::Error> {
    let sql = "INSERT INTO ci_relationships (id, org_id, source_id, target_id, kind, attributes, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (org_id, source_id, target_id, kind) DO NOTHING";
    let n = on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(row.source_id)
        .bind(row.target_id)
        .bind(&row.kind)
        .bind(&row.attributes)
        .bind(row.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    if n > 0 {
        return Ok((row.id, true));
    }
    let sql = "SELECT id FROM ci_relationships WHERE org_id = $1 AND source_id = $2 AND target_id = $3 AND kind = $4";
    let id = on!(tx, c => sqlx::query_scalar(sql).bind(row.org_id).bind(row.source_id).bind(row.target_id).bind(&row.kind).fetch_one(c).await)?;
    Ok((id, false))
}

pub async fn delete_relationship(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
) -> Result<Option<RelationshipRow>, sqlx::Error> {
    let sql = "SELECT id, org_id, source_id, target_id, kind, attributes, created_at FROM ci_relationships WHERE org_id = $1 AND id = $2";
    let row: Option<RelationshipRow> =
        on!(tx, c => sqlx::query_as(sql).bind(org_id).bind(id).fetch_optional(c).await)?;
    if row.is_some() {
        let sql = "DELETE FROM ci_relationships WHERE org_id = $1 AND id = $2";
        on!(tx, c => sqlx::query(sql).bind(org_id).bind(id).execute(c).await.map(|r| r.rows_affected()))?;
    }
    Ok(row)
}

/// A relationship seen from one of its CIs, with the other end's name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RelationshipOf {
    pub id: Uuid,
    pub source_id: Uuid,
    pub source_name: String,
    pub target_id: Uuid,
    pub target_name: String,
    pub kind: String,
    pub attributes: Json<Value>,
}

pub async fn list_relationships_of(
    e: Exec<'_>,
    org_id: Uuid,
    ci_id: Uuid,
) -> Result<Vec<RelationshipOf>, sqlx::Error> {
    let sql = "SELECT r.id, r.source_id, s.name AS source_name, r.target_id, t.name AS target_name, r.kind, r.attributes \
               FROM ci_relationships r JOIN configuration_items s ON s.id = r.source_id \
               JOIN configuration_items t ON t.id = r.target_id \
               WHERE r.org_id = $1 AND (r.source_id = $2 OR r.target_id = $2) ORDER BY r.kind, s.name, t.name";
    on_exec!(e, c => sqlx::query_as(sql).bind(org_id).bind(ci_id).fetch_all(c).await)
}

pub async fn count_relationships_of(tx: &mut Tx, ci_id: Uuid) -> Result<i64, sqlx::Error> {
    let sql = "SELECT COUNT(*) FROM ci_relationships WHERE source_id = $1 OR target_id = $1";
    on!(tx, c => sqlx::query_scalar(sql).bind(ci_id).fetch_one(c).await)
}

/// The organization's CMDB generation: how many CMDB writes it has
/// committed (0 before the first).
pub async fn cmdb_generation(e: Exec<'_>, org_id: Uuid) -> Result<i64, sqlx::Error> {
    let sql = "SELECT generation FROM cmdb_generations WHERE org_id = $1";
    let found: Option<i64> =
        on_exec!(e, c => sqlx::query_scalar(sql).bind(org_id).fetch_optional(c).await)?;
    Ok(found.unwrap_or(0))
}

/// Counts one more CMDB write; the row stays locked until commit, so
/// generations commit in order.
pub async fn bump_cmdb_generation(tx: &mut Tx, org_id: Uuid) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO cmdb_generations (org_id, generation) VALUES ($1, 1) \
               ON CONFLICT (org_id) DO UPDATE SET generation = cmdb_generations.generation + 1";
    on!(tx, c => sqlx::query(sql).bind(org_id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Every CI of an organization, as the impact graph needs it.
pub async fn all_briefs(tx: &mut Tx, org_id: Uuid) -> Result<Vec<CiBrief>, sqlx::Error> {
    let sql = "SELECT ci.id, ci.name, cl.name AS class_name, ci.lifecycle, ci.criticality FROM configuration_items ci \
               JOIN ci_classes cl ON cl.id = ci.class_id WHERE ci.org_id = $1";
    on!(tx, c => sqlx::query_as(sql).bind(org_id).fetch_all(c).await)
}

/// Every relationship of an organization as (source, target, kind).
pub async fn all_edges(
    tx: &mut Tx,
    org_id: Uuid,
) -> Result<Vec<(Uuid, Uuid, String)>, sqlx::Error> {
    let sql = "SELECT source_id, target_id, kind FROM ci_relationships WHERE org_id = $1";
    on!(tx, c => sqlx::query_as(sql).bind(org_id).fetch_all(c).await)
}

/// What impact answers show of a CI.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CiBrief {
    pub id: Uuid,
    pub name: String,
    pub class_name: String,
    pub lifecycle: String,
    pub criticality: String,
}

/// Runs `select` (ending in the column compared) for all of `ids`: one
/// array parameter on Postgres, chunked IN lists on SQLite.
async fn by_ids<T>(
    e: Exec<'_>,
    org_id: Uuid,
    ids: &[Uuid],
    select: &str,
) -> Result<Vec<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + Send
        + Unpin,
{
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut e = e;
    let pg_sql = || sqlx::AssertSqlSafe(format!("{select} = ANY($2)"));
    match &mut e {
        Exec::Db(super::Db::Postgres(pool)) => {
            let pool: &sqlx::PgPool = pool;
            return sqlx::query_as(pg_sql())
                .bind(org_id)
                .bind(ids)
                .fetch_all(pool)
                .await;
        }
        Exec::Tx(Tx::Postgres(t)) => {
            return sqlx::query_as(pg_sql())
                .bind(org_id)
                .bind(ids)
                .fetch_all(&mut **t)
                .await
        }
        _ => {}
    }
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = sqlx::AssertSqlSafe(format!("{select} IN ({})", marks.join(", ")));
        let rows: Vec<T> = on_exec!(e.reborrow(), c => {
            let mut q = sqlx::query_as(sql).bind(org_id);
            for id in chunk {
                q = q.bind(*id);
            }
            q.fetch_all(c).await
        })?;
        out.extend(rows);
    }
    Ok(out)
}

pub async fn link_ticket(
    tx: &mut Tx,
    ticket_id: Uuid,
    ci_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = "INSERT INTO ticket_cis (ticket_id, ci_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
    let n = on!(tx, c => sqlx::query(sql).bind(ticket_id).bind(ci_id).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

pub async fn unlink_ticket(tx: &mut Tx, ticket_id: Uuid, ci_id: Uuid) -> Result<bool, sqlx::Error> {
    let sql = "DELETE FROM ticket_cis WHERE ticket_id = $1 AND ci_id = $2";
    let n = on!(tx, c => sqlx::query(sql).bind(ticket_id).bind(ci_id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

pub async fn count_ticket_links(tx: &mut Tx, ci_id: Uuid) -> Result<i64, sqlx::Error> {
    let sql = "SELECT COUNT(*) FROM ticket_cis WHERE ci_id = $1";
    on!(tx, c => sqlx::query_scalar(sql).bind(ci_id).fetch_one(c).await)
}

/// A ticket linked to a CI.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkedTicket {
    pub ci_id: Uuid,
    pub number: String,
    pub kind: String,
    pub state: String,
    pub title: String,
    pub priority: String,
}

/// Tickets linked to any of `ids`.
pub async fn tickets_on(
    e: Exec<'_>,
    org_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<LinkedTicket>, sqlx::Error> {
    const SELECT: &str =
        "SELECT l.ci_id, t.number, t.kind, t.state, t.title, t.priority FROM ticket_cis l \
                          JOIN tickets t ON t.id = l.ticket_id WHERE t.org_id = $1 AND l.ci_id";
    let mut rows: Vec<LinkedTicket> = by_ids(e, org_id, ids, SELECT).await?;
    rows.sort_by(|a, b| a.number.cmp(&b.number));
    Ok(rows)
}

/// Tickets linked to any CI that are not resolved, closed, cancelled or
/// rejected (the `tickets_open` partial index), sorted like [`tickets_on`].
pub async fn open_tickets_with_cis(
    e: Exec<'_>,
    org_id: Uuid,
) -> Result<Vec<LinkedTicket>, sqlx::Error> {
    let sql = "SELECT l.ci_id, t.number, t.kind, t.state, t.title, t.priority FROM tickets t \
               JOIN ticket_cis l ON l.ticket_id = t.id WHERE t.org_id = $1 \
               AND t.state NOT IN ('resolved', 'closed', 'cancelled', 'rejected')";
    let mut rows: Vec<LinkedTicket> =
        on_exec!(e, c => sqlx::query_as(sql).bind(org_id).fetch_all(c).await)?;
    rows.sort_by(|a, b| a.number.cmp(&b.number));
    Ok(rows)
}

/// (id, name, class) of the CIs a ticket is linked to.
pub async fn cis_of_ticket(
    e: Exec<'_>,
    ticket_id: Uuid,
) -> Result<Vec<(Uuid, String, String)>, sqlx::Error> {
    let sql = "SELECT ci.id, ci.name, cl.name FROM ticket_cis l JOIN configuration_items ci ON ci.id = l.ci_id \
               JOIN ci_classes cl ON cl.id = ci.class_id WHERE l.ticket_id = $1 ORDER BY ci.name";
    on_exec!(e, c => sqlx::query_as(sql).bind(ticket_id).fetch_all(c).await)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CiHistoryRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub ci_id: Uuid,
    pub actor_id: Option<Uuid>,
    pub actor_name: Option<String>,
    pub channel: String,
    pub action: String,
    pub field: Option<String>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Inserts history rows, many per statement (bulk imports write thousands):
/// on Postgres one statement of arrays, on SQLite multi-row inserts.
pub async fn insert_history(tx: &mut Tx, rows: &[CiHistoryRow]) -> Result<(), sqlx::Error> {
    const COLUMNS: usize = 10;
    if rows.is_empty() {
        return Ok(());
    }
    if let Tx::Postgres(t) = tx {
        // Ten array parameters instead of ten per row: the statement is
        // parsed once and planned cheaply whatever the batch size. Rows go
        // in CI order, so neighbours touch the same index and key pages.
        let mut sorted: Vec<&CiHistoryRow> = rows.iter().collect();
        sorted.sort_by_key(|r| r.ci_id);
        let rows = sorted;
        let sql = "INSERT INTO ci_history (id, org_id, ci_id, actor_id, channel, action, field, old_value, new_value, created_at) \
                   SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], \
                   $8::text[], $9::text[], $10::timestamptz[])";
        sqlx::query(sql)
            .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.org_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.ci_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.actor_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.channel.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.action.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.field.as_deref()).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.old_value.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|r| r.new_value.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.created_at).collect::<Vec<_>>())
            .execute(&mut **t)
            .await?;
        return Ok(());
    }
    for chunk in rows.chunks(500) {
        let sql = multi_row_insert(
            "INSERT INTO ci_history (id, org_id, ci_id, actor_id, channel, action, field, old_value, new_value, created_at) VALUES ",
            COLUMNS,
            chunk.len(),
            "",
        );
        let sql = sqlx::AssertSqlSafe(sql);
        on!(tx, c => {
            let mut q = sqlx::query(sql);
            for r in chunk {
                q = q
                    .bind(r.id)
                    .bind(r.org_id)
                    .bind(r.ci_id)
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
    }
    Ok(())
}

/// Adds relationships in few statements, skipping ones that exist; returns
/// the ids of those actually added.
pub async fn insert_relationships(
    tx: &mut Tx,
    rows: &[RelationshipRow],
) -> Result<Vec<Uuid>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    if let Tx::Postgres(t) = tx {
        // In source order, so neighbours touch the same index pages.
        let mut sorted: Vec<&RelationshipRow> = rows.iter().collect();
        sorted.sort_by_key(|r| (r.source_id, r.target_id));
        let rows = sorted;
        let sql = "INSERT INTO ci_relationships (id, org_id, source_id, target_id, kind, attributes, created_at) \
                   SELECT id, org_id, source_id, target_id, kind, attributes::jsonb, created_at \
                   FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::timestamptz[]) \
                   AS u(id, org_id, source_id, target_id, kind, attributes, created_at) \
                   ON CONFLICT (org_id, source_id, target_id, kind) DO NOTHING RETURNING id";
        return sqlx::query_scalar(sql)
            .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.org_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.source_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.target_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.attributes.0.to_string())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.created_at).collect::<Vec<_>>())
            .fetch_all(&mut **t)
            .await;
    }
    let mut created = Vec::new();
    for chunk in rows.chunks(500) {
        let sql = multi_row_insert(
            "INSERT INTO ci_relationships (id, org_id, source_id, target_id, kind, attributes, created_at) VALUES ",
            7,
            chunk.len(),
            " ON CONFLICT (org_id, source_id, target_id, kind) DO NOTHING RETURNING id",
        );
        let sql = sqlx::AssertSqlSafe(sql);
        let ids: Vec<Uuid> = on!(tx, c => {
            let mut q = sqlx::query_scalar(sql);
            for r in chunk {
                q = q
                    .bind(r.id)
                    .bind(r.org_id)
                    .bind(r.source_id)
                    .bind(r.target_id)
                    .bind(&r.kind)
                    .bind(&r.attributes)
                    .bind(r.created_at);
            }
            q.fetch_all(c).await
        })?;
        created.extend(ids);
    }
    Ok(created)
}

/// Inserts many CIs in few statements (bulk imports).
pub async fn insert_cis(tx: &mut Tx, rows: &[CiRow]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    if let Tx::Postgres(t) = tx {
        let sql = "INSERT INTO configuration_items (id, org_id, class_id, name, owner_team_id, lifecycle, criticality, \
                   attributes, external_id, created_at, updated_at) \
                   SELECT id, org_id, class_id, name, owner_team_id, lifecycle, criticality, attributes::jsonb, external_id, \
                   created_at, updated_at \
                   FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::uuid[], $6::text[], $7::text[], $8::text[], \
                   $9::text[], $10::timestamptz[], $11::timestamptz[]) \
                   AS u(id, org_id, class_id, name, owner_team_id, lifecycle, criticality, attributes, external_id, \
                   created_at, updated_at)";
        sqlx::query(sql)
            .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.org_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.class_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.owner_team_id).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.lifecycle.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|r| r.criticality.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|r| r.attributes.0.to_string())
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|r| r.external_id.as_deref())
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
            "INSERT INTO configuration_items (id, org_id, class_id, name, owner_team_id, lifecycle, criticality, \
             attributes, external_id, created_at, updated_at) VALUES ",
            11,
            chunk.len(),
            "",
        );
        let sql = sqlx::AssertSqlSafe(sql);
        on!(tx, c => {
            let mut q = sqlx::query(sql);
            for r in chunk {
                q = q
                    .bind(r.id)
                    .bind(r.org_id)
                    .bind(r.class_id)
                    .bind(&r.name)
                    .bind(r.owner_team_id)
                    .bind(&r.lifecycle)
                    .bind(&r.criticality)
                    .bind(&r.attributes)
                    .bind(&r.external_id)
                    .bind(r.created_at)
                    .bind(r.updated_at);
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

/// A unique attribute value a CI claims.
#[derive(Debug, Clone)]
pub struct UniqueClaim {
    pub org_id: Uuid,
    pub class_id: Uuid,
    pub attribute: String,
    pub value: String,
    pub ci_id: Uuid,
}

/// Claims many unique values; returns the CIs whose claim was refused
/// because the value is taken (by another CI, or earlier in the batch).
pub async fn claim_unique_values(
    tx: &mut Tx,
    claims: &[UniqueClaim],
) -> Result<Vec<(Uuid, String, String)>, sqlx::Error> {
    let mut won = HashSet::new();
    for chunk in claims.chunks(500) {
        let sql = multi_row_insert(
            "INSERT INTO ci_unique_values (org_id, class_id, attribute, value, ci_id) VALUES ",
            5,
            chunk.len(),
            " ON CONFLICT (org_id, class_id, attribute, value) DO NOTHING RETURNING ci_id, attribute",
        );
        let sql = sqlx::AssertSqlSafe(sql);
        let rows: Vec<(Uuid, String)> = on!(tx, c => {
            let mut q = sqlx::query_as(sql);
            for u in chunk {
                q = q.bind(u.org_id).bind(u.class_id).bind(&u.attribute).bind(&u.value).bind(u.ci_id);
            }
            q.fetch_all(c).await
        })?;
        won.extend(rows);
    }
    Ok(claims
        .iter()
        .filter(|u| !won.contains(&(u.ci_id, u.attribute.clone())))
        .map(|u| (u.ci_id, u.attribute.clone(), u.value.clone()))
        .collect())
}

/// (external id, CI id, class, name) for those of `external_ids` that exist.
pub async fn find_by_external_ids(
    tx: &mut Tx,
    org_id: Uuid,
    external_ids: &[String],
) -> Result<Vec<(String, Uuid, String, String)>, sqlx::Error> {
    const SELECT: &str = "SELECT ci.external_id, ci.id, cl.name, ci.name FROM configuration_items ci \
                          JOIN ci_classes cl ON cl.id = ci.class_id WHERE ci.org_id = $1 AND ci.external_id";
    if let Tx::Postgres(t) = tx {
        // One array parameter: the same statement (and an index plan) for any batch size.
        const SQL: &str = const_format::concatcp!(SELECT, " = ANY($2)");
        return sqlx::query_as(SQL)
            .bind(org_id)
            .bind(external_ids)
            .fetch_all(&mut **t)
            .await;
    }
    let mut out = Vec::new();
    for chunk in external_ids.chunks(500) {
        let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = sqlx::AssertSqlSafe(format!("{SELECT} IN ({})", marks.join(", ")));
        let rows: Vec<(String, Uuid, String, String)> = on!(tx, c => {
            let mut q = sqlx::query_as(sql).bind(org_id);
            for e in chunk {
                q = q.bind(e);
            }
            q.fetch_all(c).await
        })?;
        out.extend(rows);
    }
    Ok(out)
}

pub async fn list_history(
    e: Exec<'_>,
    org_id: Uuid,
    ci_id: Uuid,
) -> Result<Vec<CiHistoryRow>, sqlx::Error> {
    let sql = "SELECT h.id, h.org_id, h.ci_id, h.actor_id, p.name AS actor_name, h.channel, h.action, h.field, \
               h.old_value, h.new_value, h.created_at FROM ci_history h LEFT JOIN people p ON p.id = h.actor_id \
               WHERE h.org_id = $1 AND h.ci_id = $2 ORDER BY h.created_at, h.id";
    on_exec!(e, c => sqlx::query_as(sql).bind(org_id).bind(ci_id).fetch_all(c).await)
}

pub async fn delete_ci(tx: &mut Tx, org_id: Uuid, id: Uuid) -> Result<(), sqlx::Error> {
    for sql in [
        "DELETE FROM ci_history WHERE org_id = $1 AND ci_id = $2",
        "DELETE FROM ci_unique_values WHERE org_id = $1 AND ci_id = $2",
        "DELETE FROM configuration_items WHERE org_id = $1 AND id = $2",
    ] {
        on!(tx, c => sqlx::query(sql).bind(org_id).bind(id).execute(c).await.map(|r| r.rows_affected()))?;
    }
    Ok(())
}
