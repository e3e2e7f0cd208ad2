//! Email: Message-IDs by ticket (threading), mailbox positions (UIDVALIDITY
//! and last UID), the quarantine, bounces, and the advisory lock that makes
//! one replica the leader of a mailbox.

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::{on, on_exec, on_pool, Db, Exec, Tx};

pub const IN: &str = "in";
pub const OUT: &str = "out";

/// A Message-ID we received or sent, and the ticket it belongs to.
#[derive(Debug, Clone)]
pub struct MailMessageRow {
    pub org_id: Uuid,
    pub message_id: String,
    /// [`IN`] or [`OUT`].
    pub direction: &'static str,
    pub ticket_id: Option<Uuid>,
    pub sender: String,
    pub outbox_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// Records a Message-ID; a repeat of (organization, id, direction) is ignored.
pub async fn insert_mail_message(exec: Exec<'_>, row: &MailMessageRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO mail_messages (org_id, message_id, direction, ticket_id, sender, outbox_id, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";
    on_exec!(exec, c => sqlx::query(sql)
        .bind(row.org_id)
        .bind(&row.message_id)
        .bind(row.direction)
        .bind(row.ticket_id)
        .bind(&row.sender)
        .bind(row.outbox_id)
        .bind(row.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The ticket the first of `ids` that we know belongs to.
pub async fn find_thread_ticket(
    tx: &mut Tx,
    org_id: Uuid,
    ids: &[String],
) -> Result<Option<Uuid>, sqlx::Error> {
    let sql = "SELECT ticket_id FROM mail_messages WHERE org_id = $1 AND message_id = $2 \
               AND ticket_id IS NOT NULL LIMIT 1";
    for id in ids {
        let found: Option<Option<Uuid>> =
            on!(tx, c => sqlx::query_scalar(sql).bind(org_id).bind(id).fetch_optional(c).await)?;
        if let Some(Some(ticket)) = found {
            return Ok(Some(ticket));
        }
    }
    Ok(None)
}

/// The outbox message that was sent with the first of `ids` we sent.
pub async fn find_sent_outbox(
    tx: &mut Tx,
    org_id: Uuid,
    ids: &[String],
) -> Result<Option<(Uuid, String)>, sqlx::Error> {
    let sql = "SELECT outbox_id FROM mail_messages WHERE org_id = $1 AND message_id = $2 \
               AND direction = 'out' AND outbox_id IS NOT NULL";
    for id in ids {
        let found: Option<Option<Uuid>> =
            on!(tx, c => sqlx::query_scalar(sql).bind(org_id).bind(id).fetch_optional(c).await)?;
        if let Some(Some(outbox)) = found {
            return Ok(Some((outbox, id.clone())));
        }
    }
    Ok(None)
}

/// Messages received from `sender` since `since` (the rate limit).
pub async fn count_received_since(
    tx: &mut Tx,
    org_id: Uuid,
    sender: &str,
    since: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    let sql = "SELECT COUNT(*) FROM mail_messages WHERE org_id = $1 AND sender = $2 \
               AND direction = 'in' AND created_at >= $3";
    on!(tx, c => sqlx::query_scalar(sql).bind(org_id).bind(sender).bind(since).fetch_one(c).await)
}

/// (UIDVALIDITY, last UID processed) of a mailbox.
pub async fn get_cursor(db: &Db, mailbox: &str) -> Result<Option<(i64, i64)>, sqlx::Error> {
    let sql = "SELECT uid_validity, last_uid FROM mail_cursors WHERE mailbox = $1";
    on_pool!(db, p => sqlx::query_as(sql).bind(mailbox).fetch_optional(p).await)
}

/// Moves a mailbox's position; never backwards within one UIDVALIDITY.
pub async fn save_cursor(
    db: &Db,
    mailbox: &str,
    uid_validity: i64,
    last_uid: i64,
) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO mail_cursors (mailbox, uid_validity, last_uid, updated_at) VALUES ($1, $2, $3, $4) \
               ON CONFLICT (mailbox) DO UPDATE SET \
               last_uid = CASE WHEN mail_cursors.uid_validity = excluded.uid_validity \
                          AND mail_cursors.last_uid > excluded.last_uid \
                          THEN mail_cursors.last_uid ELSE excluded.last_uid END, \
               uid_validity = excluded.uid_validity, updated_at = excluded.updated_at";
    on_pool!(db, p => sqlx::query(sql)
        .bind(mailbox)
        .bind(uid_validity)
        .bind(last_uid)
        .bind(super::now())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QuarantineRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub mailbox: String,
    pub uid: i64,
    pub message_id: Option<String>,
    pub sender: String,
    pub subject: String,
    pub reason: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_quarantine(tx: &mut Tx, r: &QuarantineRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO mail_quarantine (id, org_id, mailbox, uid, message_id, sender, subject, reason, \
               sha256, size_bytes, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
    on!(tx, c => sqlx::query(sql)
        .bind(r.id)
        .bind(r.org_id)
        .bind(&r.mailbox)
        .bind(r.uid)
        .bind(&r.message_id)
        .bind(&r.sender)
        .bind(&r.subject)
        .bind(&r.reason)
        .bind(&r.sha256)
        .bind(r.size_bytes)
        .bind(r.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn list_quarantine(
    db: &Db,
    org_id: Uuid,
    limit: i64,
) -> Result<Vec<QuarantineRow>, sqlx::Error> {
    let sql = "SELECT id, org_id, mailbox, uid, message_id, sender, subject, reason, sha256, size_bytes, \
               created_at FROM mail_quarantine WHERE org_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2";
    on_pool!(db, p => sqlx::query_as(sql).bind(org_id).bind(limit).fetch_all(p).await)
}

#[derive(Debug, Clone)]
pub struct BounceRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub outbox_id: Option<Uuid>,
    pub original_message_id: Option<String>,
    pub recipient: String,
    pub status: String,
    pub diagnostic: String,
    pub created_at: DateTime<Utc>,
}

/// Records a bounce and notes it on the outbox message it refers to.
pub async fn insert_bounce(tx: &mut Tx, b: &BounceRow) -> Result<(), sqlx::Error> {
    let sql =
        "INSERT INTO mail_bounces (id, org_id, outbox_id, original_message_id, recipient, status, \
               diagnostic, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    on!(tx, c => sqlx::query(sql)
        .bind(b.id)
        .bind(b.org_id)
        .bind(b.outbox_id)
        .bind(&b.original_message_id)
        .bind(&b.recipient)
        .bind(&b.status)
        .bind(&b.diagnostic)
        .bind(b.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    if let Some(outbox) = b.outbox_id {
        let note = format!("bounced: {} {} {}", b.recipient, b.status, b.diagnostic);
        let sql = "UPDATE outbox SET last_error = $3 WHERE org_id = $1 AND id = $2";
        on!(tx, c => sqlx::query(sql)
            .bind(b.org_id)
            .bind(outbox)
            .bind(note.trim())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

/// Bounces recorded against an outbox message.
pub async fn count_bounces(db: &Db, org_id: Uuid, outbox_id: Uuid) -> Result<i64, sqlx::Error> {
    let sql = "SELECT COUNT(*) FROM mail_bounces WHERE org_id = $1 AND outbox_id = $2";
    on_pool!(db, p => sqlx::query_scalar(sql).bind(org_id).bind(outbox_id).fetch_one(p).await)
}

/// Leadership of a singleton task (DESIGN.md §8). On Postgres a session
/// advisory lock held on a connection of its own, taken out of the pool so
/// that dropping it closes the session and frees the lock; SQLite has one
/// process, which always leads.
pub enum Leader {
    Postgres(PgConnection),
    Sqlite,
}

impl Leader {
    /// Takes the lock named `key` if no other replica holds it.
    pub async fn try_acquire(db: &Db, key: &str) -> Result<Option<Leader>, sqlx::Error> {
        match db {
            Db::Sqlite(_) => Ok(Some(Leader::Sqlite)),
            Db::Postgres(pool) => {
                let mut conn = pool.acquire().await?.detach();
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(lock_key(key))
                    .fetch_one(&mut conn)
                    .await?;
                if got {
                    Ok(Some(Leader::Postgres(conn)))
                } else {
                    let _ = conn.close().await;
                    Ok(None)
                }
            }
        }
    }

    /// Whether the lock's session is still alive.
    pub async fn still_leading(&mut self) -> bool {
        match self {
            Leader::Sqlite => true,
            Leader::Postgres(conn) => conn.ping().await.is_ok(),
        }
    }

    pub async fn release(self) {
        if let Leader::Postgres(conn) = self {
            let _ = conn.close().await;
        }
    }
}

/// A stable 64-bit lock id for a name (the first 8 bytes of its SHA-256).
fn lock_key(name: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("switchboard:{name}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// The Message-IDs of a ticket's thread: the first and the latest few (for
/// `References`), and the latest one received (for `In-Reply-To`).
pub struct Thread {
    pub ids: Vec<String>,
    pub last_received: Option<String>,
}

pub async fn thread_ids(db: &Db, org_id: Uuid, ticket_id: Uuid) -> Result<Thread, sqlx::Error> {
    let sql =
        "SELECT message_id, direction FROM mail_messages WHERE org_id = $1 AND ticket_id = $2 \
               ORDER BY created_at, message_id LIMIT 200";
    let rows: Vec<(String, String)> =
        on_pool!(db, p => sqlx::query_as(sql).bind(org_id).bind(ticket_id).fetch_all(p).await)?;
    let last_received = rows
        .iter()
        .rev()
        .find(|(_, d)| d == IN)
        .map(|(id, _)| id.clone());
    let mut ids: Vec<String> = Vec::new();
    if let Some((first, _)) = rows.first() {
        ids.push(first.clone());
    }
    let tail = rows.len().saturating_sub(9).max(1);
    ids.extend(rows.iter().skip(tail).map(|(id, _)| id.clone()));
    Ok(Thread { ids, last_received })
}

/// A mailbox's last check, for the admins' connector view.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MailPollRow {
    pub mailbox: String,
    pub org_id: Uuid,
    pub polled_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

/// Records a check of a mailbox: `error` none for one that worked (which
/// clears the last failure), else why it failed (the last success stays).
pub async fn record_poll(
    db: &Db,
    mailbox: &str,
    org_id: Uuid,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    let now = super::now();
    let sql = match error {
        None => {
            // `$4` is NULL here: the last failure is over.
            "INSERT INTO mail_polls (mailbox, org_id, polled_at, failed_at, error) VALUES ($1, $2, $3, NULL, $4) \
             ON CONFLICT (mailbox) DO UPDATE SET org_id = $2, polled_at = $3, failed_at = NULL, error = $4"
        }
        Some(_) => {
            "INSERT INTO mail_polls (mailbox, org_id, polled_at, failed_at, error) VALUES ($1, $2, NULL, $3, $4) \
             ON CONFLICT (mailbox) DO UPDATE SET org_id = $2, failed_at = $3, error = $4"
        }
    };
    on_pool!(db, p => sqlx::query(sql)
        .bind(mailbox)
        .bind(org_id)
        .bind(now)
        .bind(error)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The organization's mailboxes as last checked, by name.
pub async fn list_polls(db: &Db, org_id: Uuid) -> Result<Vec<MailPollRow>, sqlx::Error> {
    let sql = "SELECT mailbox, org_id, polled_at, failed_at, error FROM mail_polls \
               WHERE org_id = $1 ORDER BY mailbox";
    on_pool!(db, p => sqlx::query_as(sql).bind(org_id).fetch_all(p).await)
}

/// The sealed refresh token stored under `key`: (nonce, sealed).
pub async fn find_refresh_token(
    db: &Db,
    key: &str,
) -> Result<Option<(Vec<u8>, Vec<u8>)>, sqlx::Error> {
    let sql = "SELECT token_nonce, token_sealed FROM oauth_refresh_tokens WHERE key = $1";
    on_pool!(db, p => sqlx::query_as(sql).bind(key).fetch_optional(p).await)
}

pub async fn save_refresh_token(
    db: &Db,
    key: &str,
    nonce: &[u8],
    sealed: &[u8],
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO oauth_refresh_tokens (key, token_nonce, token_sealed, updated_at) \
               VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO UPDATE SET \
               token_nonce = excluded.token_nonce, token_sealed = excluded.token_sealed, \
               updated_at = excluded.updated_at";
    on_pool!(db, p => sqlx::query(sql).bind(key).bind(nonce).bind(sealed).bind(at).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Records that `account` of the organization cannot sign in; true when
/// this starts the streak (nobody was told yet).
pub async fn start_auth_alert(
    tx: &mut Tx,
    org_id: Uuid,
    account: &str,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = "INSERT INTO mail_auth_alerts (org_id, account, alerted_at) VALUES ($1, $2, $3) \
               ON CONFLICT DO NOTHING";
    let done = on!(tx, c => sqlx::query(sql).bind(org_id).bind(account).bind(at).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

/// Ends the failure streak of `account` (it signed in).
pub async fn end_auth_alert(db: &Db, org_id: Uuid, account: &str) -> Result<(), sqlx::Error> {
    let sql = "DELETE FROM mail_auth_alerts WHERE org_id = $1 AND account = $2";
    on_pool!(db, p => sqlx::query(sql).bind(org_id).bind(account).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(())
}
