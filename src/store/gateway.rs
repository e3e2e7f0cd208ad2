//! The Discord gateway's session (the `gateway_sessions` migration): the
//! session id, the URL to resume at and the last *committed* dispatch
//! sequence, so any replica that becomes leader RESUMEs the same session;
//! plus the attempts on an event that keeps failing, and the events given
//! up on (`gateway_failed_events`). Each write is its own statement on the
//! pool: the gateway commits a sequence after the use case committed.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::{on_pool, Db};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GatewaySession {
    pub session_id: Option<String>,
    pub resume_url: Option<String>,
    pub sequence: i64,
    pub failing_sequence: Option<i64>,
    pub failing_attempts: i64,
}

pub async fn load(db: &Db, name: &str) -> Result<Option<GatewaySession>, sqlx::Error> {
    const SQL: &str =
        "SELECT session_id, resume_url, sequence, failing_sequence, failing_attempts \
                       FROM gateway_sessions WHERE name = $1";
    on_pool!(db, p => sqlx::query_as(SQL).bind(name).fetch_optional(p).await)
}

/// A new session (READY): its id, where to resume it, its first sequence;
/// the previous session's failure count no longer applies.
pub async fn start(
    db: &Db,
    name: &str,
    session_id: &str,
    resume_url: &str,
    sequence: i64,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO gateway_sessions (name, session_id, resume_url, sequence, \
                       failing_sequence, failing_attempts, updated_at) \
                       VALUES ($1, $2, $3, $4, NULL, 0, $5) \
                       ON CONFLICT (name) DO UPDATE SET session_id = $2, resume_url = $3, \
                       sequence = $4, failing_sequence = NULL, failing_attempts = 0, updated_at = $5";
    on_pool!(db, p => sqlx::query(SQL)
        .bind(name)
        .bind(session_id)
        .bind(resume_url)
        .bind(sequence)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Marks a dispatch as read: its use case committed (or it needed none).
/// Never moves the sequence backwards.
pub async fn commit(
    db: &Db,
    name: &str,
    session_id: &str,
    sequence: i64,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "UPDATE gateway_sessions SET sequence = $3, failing_sequence = NULL, \
                       failing_attempts = 0, updated_at = $4 \
                       WHERE name = $1 AND session_id = $2 AND sequence < $3";
    on_pool!(db, p => sqlx::query(SQL)
        .bind(name)
        .bind(session_id)
        .bind(sequence)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Counts a failed attempt on the dispatch `sequence`; returns the attempts
/// so far (1 on the first failure of that sequence).
pub async fn record_failure(
    db: &Db,
    name: &str,
    sequence: i64,
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    const SQL: &str = "UPDATE gateway_sessions SET \
                       failing_attempts = CASE WHEN failing_sequence = $2 THEN failing_attempts + 1 ELSE 1 END, \
                       failing_sequence = $2, updated_at = $3 \
                       WHERE name = $1 RETURNING failing_attempts";
    let attempts: Option<(i64,)> = on_pool!(db, p => sqlx::query_as(SQL)
        .bind(name)
        .bind(sequence)
        .bind(now)
        .fetch_optional(p)
        .await)?;
    Ok(attempts.map_or(1, |(n,)| n))
}

/// The session cannot be resumed (invalid session, 4007/4009): the next
/// connection identifies afresh.
pub async fn forget(db: &Db, name: &str, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    const SQL: &str = "UPDATE gateway_sessions SET session_id = NULL, resume_url = NULL, \
                       sequence = 0, failing_sequence = NULL, failing_attempts = 0, updated_at = $2 \
                       WHERE name = $1";
    on_pool!(db, p => sqlx::query(SQL).bind(name).bind(now).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// An event given up on after repeated failures, kept for an operator.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FailedEvent {
    pub sequence: i64,
    pub event_type: String,
    pub payload: Json<Value>,
    pub attempts: i64,
    pub error: String,
}

pub async fn insert_failed_event(
    db: &Db,
    name: &str,
    event: &FailedEvent,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    const SQL: &str =
        "INSERT INTO gateway_failed_events (id, name, sequence, event_type, payload, \
                       attempts, error, failed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    on_pool!(db, p => sqlx::query(SQL)
        .bind(Uuid::now_v7())
        .bind(name)
        .bind(event.sequence)
        .bind(&event.event_type)
        .bind(&event.payload)
        .bind(event.attempts)
        .bind(&event.error)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn list_failed_events(db: &Db, name: &str) -> Result<Vec<FailedEvent>, sqlx::Error> {
    const SQL: &str = "SELECT sequence, event_type, payload, attempts, error \
                       FROM gateway_failed_events WHERE name = $1 ORDER BY failed_at";
    on_pool!(db, p => sqlx::query_as(SQL).bind(name).fetch_all(p).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same SQL on SQLite (Postgres runs it in tests/api/gateway.rs).
    #[tokio::test]
    async fn a_session_is_stored_committed_forward_only_counted_and_forgotten_on_sqlite() {
        let db = Db::connect("sqlite::memory:", 1, std::time::Duration::from_secs(5))
            .await
            .expect("connect");
        db.migrate().await.expect("migrate");
        let now = Utc::now();
        assert_eq!(load(&db, "g").await.expect("load"), None);
        start(&db, "g", "s1", "wss://resume", 1, now)
            .await
            .expect("start");
        commit(&db, "g", "s1", 5, now).await.expect("commit");
        commit(&db, "g", "s1", 3, now).await.expect("an older one");
        commit(&db, "g", "other", 9, now)
            .await
            .expect("another session");
        assert_eq!(record_failure(&db, "g", 6, now).await.expect("fail"), 1);
        assert_eq!(record_failure(&db, "g", 6, now).await.expect("fail"), 2);
        let stored = load(&db, "g").await.expect("load").expect("row");
        assert_eq!(stored.session_id.as_deref(), Some("s1"));
        assert_eq!(stored.resume_url.as_deref(), Some("wss://resume"));
        assert_eq!(
            (
                stored.sequence,
                stored.failing_sequence,
                stored.failing_attempts
            ),
            (5, Some(6), 2)
        );
        let failed = FailedEvent {
            sequence: 6,
            event_type: "MESSAGE_CREATE".into(),
            payload: Json(serde_json::json!({ "id": "1" })),
            attempts: 2,
            error: "boom".into(),
        };
        insert_failed_event(&db, "g", &failed, now)
            .await
            .expect("set aside");
        let kept = list_failed_events(&db, "g").await.expect("list");
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].payload.0["id"], "1");
        forget(&db, "g", now).await.expect("forget");
        let stored = load(&db, "g").await.expect("load").expect("row");
        assert_eq!((stored.session_id, stored.sequence), (None, 0));
    }
}
