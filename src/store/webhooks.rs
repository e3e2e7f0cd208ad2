//! Outbound webhook subscriptions.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::{on, on_pool, Db, Tx};

#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct WebhookRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub url: String,
    pub secret: String,
    /// Event names, or `*` for all.
    pub events: Json<Vec<String>>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

pub(super) const COLUMNS: &str =
    "SELECT id, org_id, url, secret, events, active, created_at FROM webhook_subscriptions";

pub async fn insert_webhook(tx: &mut Tx, w: &WebhookRow) -> Result<(), sqlx::Error> {
    let sql =
        "INSERT INTO webhook_subscriptions (id, org_id, url, secret, events, active, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7)";
    on!(tx, c => sqlx::query(sql)
        .bind(w.id)
        .bind(w.org_id)
        .bind(&w.url)
        .bind(&w.secret)
        .bind(&w.events)
        .bind(w.active)
        .bind(w.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn list_webhooks(tx: &mut Tx, org_id: Uuid) -> Result<Vec<WebhookRow>, sqlx::Error> {
    const SQL: &str =
        const_format::concatcp!(COLUMNS, " WHERE org_id = $1 ORDER BY created_at, id");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).fetch_all(c).await)
}

pub async fn list_active_webhooks(
    tx: &mut Tx,
    org_id: Uuid,
) -> Result<Vec<WebhookRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(COLUMNS, " WHERE org_id = $1 AND active = TRUE");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).fetch_all(c).await)
}

pub async fn get_webhook(db: &Db, id: Uuid) -> Result<Option<WebhookRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(COLUMNS, " WHERE id = $1");
    on_pool!(db, p => sqlx::query_as(SQL).bind(id).fetch_optional(p).await)
}

pub async fn delete_webhook(tx: &mut Tx, org_id: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
    let sql = "UPDATE webhook_subscriptions SET active = FALSE WHERE org_id = $1 AND id = $2 AND active = TRUE";
    let done = on!(tx, c => sqlx::query(sql).bind(org_id).bind(id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(done > 0)
}
