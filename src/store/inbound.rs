//! Idempotent intake: one row per input, keyed by source and natural key,
//! written in the same transaction as the use case it triggered.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use super::{on, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InboundRow {
    pub source: String,
    pub key: String,
    pub fingerprint: String,
    pub status: i32,
    pub response: Json<Value>,
    pub created_at: DateTime<Utc>,
}

/// Returns the recorded result of an earlier input with this key. On
/// Postgres a concurrent first attempt holds the row until it commits, so
/// the repeat waits for it instead of running twice.
pub async fn find_inbound(
    tx: &mut Tx,
    source: &str,
    key: &str,
) -> Result<Option<InboundRow>, sqlx::Error> {
    const PG: &str = "SELECT source, key, fingerprint, status, response, created_at FROM inbound \
                      WHERE source = $1 AND key = $2 FOR UPDATE";
    const LITE: &str =
        "SELECT source, key, fingerprint, status, response, created_at FROM inbound \
                        WHERE source = $1 AND key = $2";
    match tx {
        Tx::Postgres(t) => {
            sqlx::query_as(PG)
                .bind(source)
                .bind(key)
                .fetch_optional(&mut **t)
                .await
        }
        Tx::Sqlite(t) => {
            sqlx::query_as(LITE)
                .bind(source)
                .bind(key)
                .fetch_optional(&mut **t)
                .await
        }
    }
}

/// Records an input and its result. A concurrent duplicate makes this fail
/// with a unique violation, which rolls the duplicate's work back.
/// Whether `error` is the unique violation of an intake key recorded twice
/// (and not of another table written in the same statement).
pub fn is_duplicate(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(e) if e.is_unique_violation() => {
            // Postgres names the table; SQLite only says it in the message
            // ("UNIQUE constraint failed: inbound.source, inbound.key").
            e.table() == Some("inbound") || e.message().contains("inbound.")
        }
        _ => false,
    }
}

pub async fn insert_inbound(tx: &mut Tx, row: &InboundRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO inbound (source, key, fingerprint, status, response, created_at) VALUES ($1, $2, $3, $4, $5, $6)";
    on!(tx, c => sqlx::query(sql)
        .bind(&row.source)
        .bind(&row.key)
        .bind(&row.fingerprint)
        .bind(row.status)
        .bind(&row.response)
        .bind(row.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}
