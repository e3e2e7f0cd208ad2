//! The end of a use case's transaction: its buffered rows (intake record,
//! activity, outbox, inbox, timers, chat threads, a new ticket's
//! attachments, received Message-IDs) written and the organization's audit
//! head locked.
//!
//! Why one function: from the ticket counter to commit, creations of one
//! kind run one at a time, and every write of an organization queues on its
//! audit head (DESIGN.md §4). Each round trip spent in that window lowers
//! the ceiling of writes per second, so on Postgres all of it is ONE
//! statement — data-modifying CTEs over arrays (`UNNEST`), whose text never
//! varies, so it is prepared once per connection. SQLite (one writer at a
//! time, no round trips) keeps one statement per table.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    activity::{self, ActivityRow},
    audit,
    chat::{self, ChatMessageRow},
    inbound,
    inbound::InboundRow,
    inbox::{self, InboxRow},
    mail::{self, MailMessageRow},
    outbox::{self, OutboxRow},
    tickets::{self, AttachmentRow},
    timers::{self, TimerRow},
    Tx,
};

/// What one use case leaves to write at its end.
#[derive(Clone, Copy)]
pub struct Buffers<'a> {
    pub inbound: Option<&'a InboundRow>,
    pub activity: &'a [ActivityRow],
    pub outbox: &'a [OutboxRow],
    pub inbox: &'a [InboxRow],
    pub timers: &'a [TimerRow],
    pub chat: &'a [ChatMessageRow],
    /// Files of tickets this transaction opened (no ticket row to touch).
    pub attachments: &'a [AttachmentRow],
    pub mail_messages: &'a [MailMessageRow],
    /// A predicted ticket number: the counter moves to it only from just
    /// below it (see `desk::numbering`).
    pub counter: Option<CounterMove<'a>>,
    /// Audit entries of the organization whose head is locked, chained by
    /// the statement itself (Postgres only: SQLite has no SHA-256 in SQL,
    /// so there the caller chains them after the head is locked).
    pub audit: &'a [ChainRow],
}

/// An audit entry to chain: its canonical content around the sequence
/// number, which the locked head decides (`desk::audit::chain_rows`).
#[derive(Debug, Clone)]
pub struct ChainRow {
    pub content_before_seq: String,
    pub content_after_seq: String,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub subject: String,
}

/// The audit head of the organization asked for, locked until commit.
#[derive(Debug, PartialEq, Eq)]
pub enum AuditHead {
    /// No organization asked for.
    None,
    /// (last seq, last hash) — `(0, 32 zero bytes)` for a chain not started
    /// yet; the caller appends the entries.
    Locked(i64, Vec<u8>),
    /// [`Buffers::audit`] is written; the head after its last entry.
    Chained(i64, Vec<u8>),
}

/// Moves a ticket counter from `number - 1` to `number`.
#[derive(Debug, Clone, Copy)]
pub struct CounterMove<'a> {
    pub org_id: Uuid,
    pub kind: &'a str,
    pub number: i64,
}

/// What [`write_and_lock_head`] answers.
#[derive(Debug)]
pub struct Written {
    pub head: AuditHead,
    /// Whether [`Buffers::counter`] moved the counter; `false` when it stood
    /// elsewhere (or there was none to move).
    pub counter_moved: bool,
}

/// Writes `rows`, moves the ticket counter of [`Buffers::counter`] if it
/// stands just below, and, when `audit_org` is given, locks that
/// organization's audit head until commit, chaining [`Buffers::audit`] to it
/// on Postgres.
///
/// A duplicate intake key fails the whole write with the unique violation
/// of `inbound` (see [`inbound::is_duplicate`]). On Postgres the head is
/// locked before the intake row is inserted: a concurrent attempt with the
/// same key then finds the first one committed rather than waiting on it
/// while holding the head.
pub async fn write_and_lock_head(
    tx: &mut Tx,
    rows: Buffers<'_>,
    audit_org: Option<Uuid>,
) -> Result<Written, sqlx::Error> {
    if let Tx::Postgres(t) = tx {
        let (moved, chained, seq, hash): PgFlushed =
            pg_statement(&rows, audit_org).fetch_one(&mut **t).await?;
        let (seq, hash) = seq.zip(hash).unwrap_or_else(audit::genesis_head);
        let head = match audit_org {
            None => AuditHead::None,
            Some(_) if chained > 0 => AuditHead::Chained(seq, hash),
            Some(_) => AuditHead::Locked(seq, hash),
        };
        return Ok(Written {
            head,
            counter_moved: moved == 1,
        });
    }
    let counter_moved = match rows.counter {
        Some(c) => tickets::advance_counter(tx, c.org_id, c.kind, c.number).await?,
        None => false,
    };
    if let Some(row) = rows.inbound {
        inbound::insert_inbound(tx, row).await?;
    }
    activity::insert_activity(tx, rows.activity).await?;
    outbox::insert_outbox(tx, rows.outbox).await?;
    inbox::insert_inbox(tx, rows.inbox).await?;
    for timer in rows.timers {
        timers::insert_timer(tx, timer).await?;
    }
    for message in rows.chat {
        chat::insert_message(tx, message).await?;
    }
    if let Some(first) = rows.attachments.first() {
        let (org_id, ticket_id) = (first.org_id, first.ticket_id);
        tickets::insert_attachments(tx, rows.attachments, org_id, ticket_id, None).await?;
    }
    for m in rows.mail_messages {
        mail::insert_mail_message(super::Exec::Tx(tx), m).await?;
    }
    let head = match audit_org {
        Some(org_id) => {
            let (seq, hash) = audit::lock_audit_head(tx, org_id).await?;
            AuditHead::Locked(seq, hash)
        }
        None => AuditHead::None,
    };
    Ok(Written {
        head,
        counter_moved,
    })
}

/// The main query moves the ticket counter, then locks the audit head (the
/// head's CTE reads the counter's, which fixes that order: a locked-mode
/// creation takes them in the same order, so the two cannot deadlock), then
/// chains the entries to it (`chain`: the same SHA-256 over previous hash and
/// canonical content as `domain::audit::chain_hash`) and writes them with
/// the new head — so nothing is left to do but COMMIT once it returns. The
/// other inserts are CTEs nobody reads, which Postgres runs to completion
/// after it; the intake row among them, so a concurrent attempt with the same
/// key finds the first one committed rather than waiting on it while holding
/// the head.
const PG: &str = "WITH RECURSIVE \
    inbound_rows AS (INSERT INTO inbound (source, key, fingerprint, status, response, created_at) \
        SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int4[], $5::jsonb[], $6::timestamptz[])), \
    activity_rows AS (INSERT INTO activity (id, org_id, ticket_id, actor_id, channel, action, field, old_value, new_value, created_at) \
        SELECT * FROM UNNEST($7::uuid[], $8::uuid[], $9::uuid[], $10::uuid[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::timestamptz[])), \
    outbox_rows AS (INSERT INTO outbox (id, org_id, channel, target, event, payload, state, attempts, next_attempt_at, last_error, created_at, delivered_at) \
        SELECT * FROM UNNEST($17::uuid[], $18::uuid[], $19::text[], $20::text[], $21::text[], $22::jsonb[], $23::text[], $24::int4[], $25::timestamptz[], $26::text[], $27::timestamptz[], $28::timestamptz[])), \
    inbox_rows AS (INSERT INTO inbox (id, org_id, person_id, event, ticket, subject, text, data, created_at, read_at) \
        SELECT * FROM UNNEST($29::uuid[], $30::uuid[], $31::uuid[], $32::text[], $33::text[], $34::text[], $35::text[], $36::jsonb[], $37::timestamptz[], $38::timestamptz[])), \
    timer_rows AS (INSERT INTO timers (id, org_id, kind, ticket_id, payload, due_at, created_at) \
        SELECT * FROM UNNEST($39::uuid[], $40::uuid[], $41::text[], $42::uuid[], $43::jsonb[], $44::timestamptz[], $45::timestamptz[])), \
    chat_rows AS (INSERT INTO chat_messages (id, org_id, platform, purpose, ticket_id, approval_id, person_id, channel, ts, outbox_id, created_at) \
        SELECT * FROM UNNEST($46::uuid[], $47::uuid[], $48::text[], $49::text[], $50::uuid[], $51::uuid[], $52::uuid[], $53::text[], $54::text[], $55::uuid[], $56::timestamptz[]) \
        ON CONFLICT DO NOTHING), \
    attachment_rows AS (INSERT INTO attachments (id, org_id, ticket_id, filename, content_type, size_bytes, sha256, uploaded_by, channel, created_at) \
        SELECT * FROM UNNEST($57::uuid[], $58::uuid[], $59::uuid[], $60::text[], $61::text[], $62::int8[], $63::text[], $64::uuid[], $65::text[], $66::timestamptz[])), \
    mail_rows AS (INSERT INTO mail_messages (org_id, message_id, direction, ticket_id, sender, outbox_id, created_at) \
        SELECT * FROM UNNEST($67::uuid[], $68::text[], $69::text[], $70::uuid[], $71::text[], $72::uuid[], $73::timestamptz[]) \
        ON CONFLICT DO NOTHING), \
    counter_row AS (INSERT INTO ticket_counters (org_id, kind, last_value) \
        SELECT $75::uuid, $76::text, $77::int8 WHERE $77::int8 IS NOT NULL \
        AND ($77::int8 = 1 OR EXISTS (SELECT 1 FROM ticket_counters WHERE org_id = $75::uuid AND kind = $76::text)) \
        ON CONFLICT (org_id, kind) DO UPDATE SET last_value = EXCLUDED.last_value \
        WHERE ticket_counters.last_value = EXCLUDED.last_value - 1 RETURNING 1), \
    moved AS (SELECT count(*) AS n FROM counter_row), \
    head AS (SELECT seq, hash FROM audit_heads, moved WHERE org_id = $74 FOR UPDATE OF audit_heads), \
    entries AS (SELECT * FROM UNNEST($78::text[], $79::text[], $80::timestamptz[], $81::uuid[], $82::text[], $83::text[]) \
        WITH ORDINALITY AS e(before_seq, after_seq, at, actor_id, action, subject, i)), \
    chain(i, seq, hash, content) AS ( \
        SELECT 0::int8, COALESCE((SELECT seq FROM head), 0::int8), \
            COALESCE((SELECT hash FROM head), decode(repeat('00', 32), 'hex')), NULL::text FROM moved \
        UNION ALL \
        SELECT c.i + 1, c.seq + 1, \
            sha256(c.hash || convert_to(e.before_seq || (c.seq + 1)::text || e.after_seq, 'UTF8')), \
            e.before_seq || (c.seq + 1)::text || e.after_seq \
        FROM chain c JOIN entries e ON e.i = c.i + 1), \
    audit_rows AS (INSERT INTO audit_log (org_id, seq, at, actor_id, action, subject, content, hash) \
        SELECT $74, c.seq, e.at, e.actor_id, e.action, e.subject, c.content, c.hash \
        FROM chain c JOIN entries e ON e.i = c.i RETURNING seq, hash), \
    head_move AS (INSERT INTO audit_heads (org_id, seq, hash) \
        SELECT $74, seq, hash FROM audit_rows ORDER BY seq DESC LIMIT 1 \
        ON CONFLICT (org_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash RETURNING seq, hash) \
    SELECT (SELECT n FROM moved), (SELECT count(*) FROM audit_rows), \
        COALESCE((SELECT seq FROM head_move), (SELECT seq FROM head)), \
        COALESCE((SELECT hash FROM head_move), (SELECT hash FROM head))";

/// What the Postgres statement answers: counter rows moved (0 or 1), audit
/// entries chained, and the audit head's seq and hash if it has one.
type PgFlushed = (i64, i64, Option<i64>, Option<Vec<u8>>);

/// One column of `rows` as an array parameter.
fn column<R, T: Clone>(rows: &[R], field: impl Fn(&R) -> &T) -> Vec<T> {
    rows.iter().map(|r| field(r).clone()).collect()
}

fn pg_statement<'q>(
    rows: &Buffers<'_>,
    audit_org: Option<Uuid>,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, PgFlushed, sqlx::postgres::PgArguments> {
    let intake: &[InboundRow] = rows.inbound.map(std::slice::from_ref).unwrap_or_default();
    let (a, o, i, t, c) = (
        rows.activity,
        rows.outbox,
        rows.inbox,
        rows.timers,
        rows.chat,
    );
    let (f, m) = (rows.attachments, rows.mail_messages);
    sqlx::query_as(PG)
        .bind(column(intake, |r| &r.source))
        .bind(column(intake, |r| &r.key))
        .bind(column(intake, |r| &r.fingerprint))
        .bind(column(intake, |r| &r.status))
        .bind(column(intake, |r| &r.response))
        .bind(column(intake, |r| &r.created_at))
        .bind(column(a, |r| &r.id))
        .bind(column(a, |r| &r.org_id))
        .bind(column(a, |r| &r.ticket_id))
        .bind(column(a, |r| &r.actor_id))
        .bind(column(a, |r| &r.channel))
        .bind(column(a, |r| &r.action))
        .bind(column(a, |r| &r.field))
        .bind(column(a, |r| &r.old_value))
        .bind(column(a, |r| &r.new_value))
        .bind(column(a, |r| &r.created_at))
        .bind(column(o, |r| &r.id))
        .bind(column(o, |r| &r.org_id))
        .bind(column(o, |r| &r.channel))
        .bind(column(o, |r| &r.target))
        .bind(column(o, |r| &r.event))
        .bind(column(o, |r| &r.payload))
        .bind(column(o, |r| &r.state))
        .bind(column(o, |r| &r.attempts))
        .bind(column(o, |r| &r.next_attempt_at))
        .bind(column(o, |r| &r.last_error))
        .bind(column(o, |r| &r.created_at))
        .bind(column(o, |r| &r.delivered_at))
        .bind(column(i, |r| &r.id))
        .bind(column(i, |r| &r.org_id))
        .bind(column(i, |r| &r.person_id))
        .bind(column(i, |r| &r.event))
        .bind(column(i, |r| &r.ticket))
        .bind(column(i, |r| &r.subject))
        .bind(column(i, |r| &r.text))
        .bind(column(i, |r| &r.data))
        .bind(column(i, |r| &r.created_at))
        .bind(column(i, |r| &r.read_at))
        .bind(column(t, |r| &r.id))
        .bind(column(t, |r| &r.org_id))
        .bind(column(t, |r| &r.kind))
        .bind(column(t, |r| &r.ticket_id))
        .bind(column(t, |r| &r.payload))
        .bind(column(t, |r| &r.due_at))
        .bind(column(t, |r| &r.created_at))
        .bind(column(c, |r| &r.id))
        .bind(column(c, |r| &r.org_id))
        .bind(column(c, |r| &r.platform))
        .bind(column(c, |r| &r.purpose))
        .bind(column(c, |r| &r.ticket_id))
        .bind(column(c, |r| &r.approval_id))
        .bind(column(c, |r| &r.person_id))
        .bind(column(c, |r| &r.channel))
        .bind(column(c, |r| &r.ts))
        .bind(column(c, |r| &r.outbox_id))
        .bind(column(c, |r| &r.created_at))
        .bind(column(f, |r| &r.id))
        .bind(column(f, |r| &r.org_id))
        .bind(column(f, |r| &r.ticket_id))
        .bind(column(f, |r| &r.filename))
        .bind(column(f, |r| &r.content_type))
        .bind(column(f, |r| &r.size_bytes))
        .bind(column(f, |r| &r.sha256))
        .bind(column(f, |r| &r.uploaded_by))
        .bind(column(f, |r| &r.channel))
        .bind(column(f, |r| &r.created_at))
        .bind(column(m, |r| &r.org_id))
        .bind(column(m, |r| &r.message_id))
        .bind(m.iter().map(|r| r.direction).collect::<Vec<&str>>())
        .bind(column(m, |r| &r.ticket_id))
        .bind(column(m, |r| &r.sender))
        .bind(column(m, |r| &r.outbox_id))
        .bind(column(m, |r| &r.created_at))
        .bind(audit_org)
        .bind(rows.counter.map(|c| c.org_id))
        .bind(rows.counter.map(|c| c.kind.to_string()))
        .bind(rows.counter.map(|c| c.number))
        .bind(column(rows.audit, |r| &r.content_before_seq))
        .bind(column(rows.audit, |r| &r.content_after_seq))
        .bind(column(rows.audit, |r| &r.at))
        .bind(column(rows.audit, |r| &r.actor_id))
        .bind(column(rows.audit, |r| &r.action))
        .bind(column(rows.audit, |r| &r.subject))
}
