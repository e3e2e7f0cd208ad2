//! Chat messages linked to tickets and approvals (see the `chat_messages`
//! migration): how a thread reply finds its ticket and an update finds the
//! message to edit.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{on, Db, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChatMessageRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub platform: String,
    pub purpose: String,
    pub ticket_id: Option<Uuid>,
    pub approval_id: Option<Uuid>,
    pub person_id: Option<Uuid>,
    pub channel: String,
    pub ts: String,
    pub outbox_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

const MESSAGE: &str =
    "SELECT id, org_id, platform, purpose, ticket_id, approval_id, person_id, channel, ts, \
                       outbox_id, created_at FROM chat_messages";

/// Records a message; a repeat of (platform, channel, ts) is ignored.
pub async fn insert_message(tx: &mut Tx, row: &ChatMessageRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO chat_messages (id, org_id, platform, purpose, ticket_id, approval_id, person_id, channel, \
               ts, outbox_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
               ON CONFLICT DO NOTHING";
    on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(&row.platform)
        .bind(&row.purpose)
        .bind(row.ticket_id)
        .bind(row.approval_id)
        .bind(row.person_id)
        .bind(&row.channel)
        .bind(&row.ts)
        .bind(row.outbox_id)
        .bind(row.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The message at (channel, ts), e.g. the root of a thread someone replied in.
pub async fn find_by_ts(
    tx: &mut Tx,
    platform: &str,
    channel: &str,
    ts: &str,
) -> Result<Option<ChatMessageRow>, sqlx::Error> {
    const SQL: &str =
        const_format::concatcp!(MESSAGE, " WHERE platform = $1 AND channel = $2 AND ts = $3");
    on!(tx, c => sqlx::query_as(SQL).bind(platform).bind(channel).bind(ts).fetch_optional(c).await)
}

/// A ticket's messages of one purpose (its requester thread, its card).
pub async fn for_ticket(
    db: &Db,
    platform: &str,
    ticket_id: Uuid,
    purpose: &str,
) -> Result<Vec<ChatMessageRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        MESSAGE,
        " WHERE platform = $1 AND ticket_id = $2 AND purpose = $3 ORDER BY created_at"
    );
    super::on_pool!(db, p => sqlx::query_as(SQL).bind(platform).bind(ticket_id).bind(purpose).fetch_all(p).await)
}

/// The approval requests sent for an approval, one per approver.
pub async fn for_approval(
    db: &Db,
    platform: &str,
    approval_id: Uuid,
) -> Result<Vec<ChatMessageRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        MESSAGE,
        " WHERE platform = $1 AND approval_id = $2 ORDER BY created_at"
    );
    super::on_pool!(db, p => sqlx::query_as(SQL).bind(platform).bind(approval_id).fetch_all(p).await)
}

/// The message an outbox row posted, if it got that far before.
pub async fn for_outbox(db: &Db, outbox_id: Uuid) -> Result<Option<ChatMessageRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(MESSAGE, " WHERE outbox_id = $1");
    super::on_pool!(db, p => sqlx::query_as(SQL).bind(outbox_id).fetch_optional(p).await)
}

/// Records a message posted by a deliverer (outside any use case).
pub async fn record_posted(db: &Db, row: &ChatMessageRow) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    insert_message(&mut tx, row).await?;
    tx.commit().await
}

/// The message with id `ts` in any channel: on Discord a thread opened on
/// a message has that message's id, so a reply in a card's thread finds
/// the card.
pub async fn find_by_ts_only(
    db: &Db,
    platform: &str,
    ts: &str,
) -> Result<Option<ChatMessageRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        MESSAGE,
        " WHERE platform = $1 AND ts = $2 ORDER BY created_at LIMIT 1"
    );
    super::on_pool!(db, p => sqlx::query_as(SQL).bind(platform).bind(ts).fetch_optional(p).await)
}

/// The people among a ticket's requester, assignee and team members who
/// opened the App Home (purpose `app_home`): their `channel` is the user id
/// to publish to.
pub async fn home_viewers(
    db: &Db,
    platform: &str,
    org_id: Uuid,
    people: &[Option<Uuid>; 2],
    team_id: Option<Uuid>,
) -> Result<Vec<ChatMessageRow>, sqlx::Error> {
    const SQL: &str = const_format::concatcp!(
        MESSAGE,
        " WHERE platform = $1 AND purpose = 'app_home' AND org_id = $2 AND (person_id = $3 \
          OR person_id = $4 OR person_id IN (SELECT person_id FROM team_members WHERE team_id = $5))"
    );
    super::on_pool!(db, p => sqlx::query_as(SQL)
        .bind(platform)
        .bind(org_id)
        .bind(people[0])
        .bind(people[1])
        .bind(team_id)
        .fetch_all(p)
        .await)
}
