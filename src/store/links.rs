//! Ticket links (`ticket_links`, stored once in the declared direction) and
//! what a merge writes: the merged ticket's pointer to its survivor, the
//! copies of its comments and attachments on the survivor (marked with
//! where they came from), its watchers, and its chat threads moved over.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    on, on_exec,
    tickets::{AttachmentRow, CommentRow},
    Exec, Tx,
};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub from_ticket_id: Uuid,
    pub to_ticket_id: Uuid,
    pub kind: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A link as one ticket reads it, with the other ticket's fields.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkedRow {
    pub id: Uuid,
    pub from_ticket_id: Uuid,
    pub to_ticket_id: Uuid,
    pub kind: String,
    pub created_at: DateTime<Utc>,
    pub other_id: Uuid,
    pub other_number: String,
    pub other_title: String,
    pub other_state: String,
    pub other_kind: String,
    pub other_requester_id: Option<Uuid>,
}

/// Records a link; false when the same (from, to, kind) is there already.
pub async fn insert_link(tx: &mut Tx, row: &LinkRow) -> Result<bool, sqlx::Error> {
    let sql = "INSERT INTO ticket_links (id, org_id, from_ticket_id, to_ticket_id, kind, created_by, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";
    let n = on!(tx, c => sqlx::query(sql)
        .bind(row.id)
        .bind(row.org_id)
        .bind(row.from_ticket_id)
        .bind(row.to_ticket_id)
        .bind(&row.kind)
        .bind(row.created_by)
        .bind(row.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    mark_linked(tx, row.from_ticket_id, row.to_ticket_id).await?;
    Ok(n > 0)
}

/// Marks both tickets as having had a link (see `TicketExtra::linked`).
async fn mark_linked(tx: &mut Tx, a: Uuid, b: Uuid) -> Result<(), sqlx::Error> {
    let sql = "UPDATE tickets SET linked = TRUE WHERE id IN ($1, $2) AND NOT linked";
    on!(tx, c => sqlx::query(sql).bind(a).bind(b).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// The links between two tickets, in either direction.
pub async fn links_between(
    tx: &mut Tx,
    org_id: Uuid,
    a: Uuid,
    b: Uuid,
) -> Result<Vec<LinkRow>, sqlx::Error> {
    let sql = "SELECT id, org_id, from_ticket_id, to_ticket_id, kind, created_by, created_at \
               FROM ticket_links WHERE org_id = $1 AND \
               ((from_ticket_id = $2 AND to_ticket_id = $3) OR (from_ticket_id = $3 AND to_ticket_id = $2)) \
               ORDER BY created_at, id";
    on!(tx, c => sqlx::query_as(sql).bind(org_id).bind(a).bind(b).fetch_all(c).await)
}

pub async fn delete_link(tx: &mut Tx, org_id: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
    let sql = "DELETE FROM ticket_links WHERE org_id = $1 AND id = $2";
    let n = on!(tx, c => sqlx::query(sql)
        .bind(org_id)
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// Every link of a ticket, both directions, oldest first: one indexed
/// read per direction. (Sorted outside the UNION: SQLite orders a compound
/// select only by result columns it can name, which `l.created_at` is not.)
pub async fn list_links(
    e: Exec<'_>,
    org_id: Uuid,
    ticket_id: Uuid,
) -> Result<Vec<LinkedRow>, sqlx::Error> {
    let sql =
        "SELECT * FROM (SELECT l.id, l.from_ticket_id, l.to_ticket_id, l.kind, l.created_at, \
               t.id AS other_id, t.number AS other_number, t.title AS other_title, \
               t.state AS other_state, t.kind AS other_kind, t.requester_id AS other_requester_id \
               FROM ticket_links l JOIN tickets t ON t.id = l.to_ticket_id \
               WHERE l.org_id = $1 AND l.from_ticket_id = $2 \
               UNION ALL \
               SELECT l.id, l.from_ticket_id, l.to_ticket_id, l.kind, l.created_at, \
               t.id AS other_id, t.number AS other_number, t.title AS other_title, \
               t.state AS other_state, t.kind AS other_kind, t.requester_id AS other_requester_id \
               FROM ticket_links l JOIN tickets t ON t.id = l.from_ticket_id \
               WHERE l.org_id = $1 AND l.to_ticket_id = $2) AS links \
               ORDER BY created_at, id";
    on_exec!(e, c => sqlx::query_as(sql).bind(org_id).bind(ticket_id).fetch_all(c).await)
}

/// The ticket a merged ticket was merged into: (id, number).
pub async fn merged_into(
    e: Exec<'_>,
    org_id: Uuid,
    ticket_id: Uuid,
) -> Result<Option<(Uuid, String)>, sqlx::Error> {
    let sql = "SELECT m.id, m.number FROM tickets t JOIN tickets m ON m.id = t.merged_into_id \
               WHERE t.org_id = $1 AND t.id = $2";
    on_exec!(e, c => sqlx::query_as(sql).bind(org_id).bind(ticket_id).fetch_optional(c).await)
}

/// Marks `ticket_id` as merged into `into_id`.
pub async fn set_merged_into(
    tx: &mut Tx,
    org_id: Uuid,
    ticket_id: Uuid,
    into_id: Uuid,
) -> Result<(), sqlx::Error> {
    let sql = "UPDATE tickets SET merged_into_id = $3, linked = TRUE WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(sql)
        .bind(org_id)
        .bind(ticket_id)
        .bind(into_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Writes the copy of a comment of `merged_from` onto another ticket
/// (`c.ticket_id`), with its author, channel and time.
pub async fn insert_merged_comment(
    tx: &mut Tx,
    c: &CommentRow,
    merged_from: Uuid,
) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO comments (id, org_id, ticket_id, author_id, body, internal, channel, created_at, merged_from_id) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    on!(tx, conn => sqlx::query(sql)
        .bind(c.id)
        .bind(c.org_id)
        .bind(c.ticket_id)
        .bind(c.author_id)
        .bind(&c.body)
        .bind(c.internal)
        .bind(&c.channel)
        .bind(c.created_at)
        .bind(merged_from)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Writes the copy of an attachment of `merged_from` onto another ticket
/// (`a.ticket_id`): the same stored file (content-addressed), uploader and time.
pub async fn insert_merged_attachment(
    tx: &mut Tx,
    a: &AttachmentRow,
    merged_from: Uuid,
) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO attachments (id, org_id, ticket_id, filename, content_type, size_bytes, sha256, \
               uploaded_by, channel, created_at, merged_from_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
    on!(tx, c => sqlx::query(sql)
        .bind(a.id)
        .bind(a.org_id)
        .bind(a.ticket_id)
        .bind(&a.filename)
        .bind(&a.content_type)
        .bind(a.size_bytes)
        .bind(&a.sha256)
        .bind(a.uploaded_by)
        .bind(&a.channel)
        .bind(a.created_at)
        .bind(merged_from)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Makes the watchers of `from` watchers of `into` too; answers how many
/// were new there.
pub async fn copy_watchers(tx: &mut Tx, from: Uuid, into: Uuid) -> Result<u64, sqlx::Error> {
    let sql = "INSERT INTO watchers (ticket_id, person_id) \
               SELECT $2, person_id FROM watchers WHERE ticket_id = $1 ON CONFLICT DO NOTHING";
    on!(tx, c => sqlx::query(sql)
        .bind(from)
        .bind(into)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
}

/// Points the chat messages of `from` with one of `purposes` (its
/// requester threads, its triage cards) at `into`, so a reply in them
/// lands on `into` and `into`'s changes are mirrored there.
pub async fn move_chat_threads(
    tx: &mut Tx,
    org_id: Uuid,
    from: Uuid,
    into: Uuid,
    purposes: [&str; 2],
) -> Result<u64, sqlx::Error> {
    let sql = "UPDATE chat_messages SET ticket_id = $3 \
               WHERE org_id = $1 AND ticket_id = $2 AND purpose IN ($4, $5)";
    on!(tx, c => sqlx::query(sql)
        .bind(org_id)
        .bind(from)
        .bind(into)
        .bind(purposes[0])
        .bind(purposes[1])
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
}
