//! The end of a use case's transaction: its buffered rows (intake record,
//! activity, outbox, inbox, timers, chat threads, a new ticket's
//! attachments, received Message-IDs) written, and the part that must run
//! one transaction at a time — a predicted ticket number against its
//! counter, audit entries onto the organization's hash chain — done or
//! staged.
//!
//! Why: creations of one kind pass their counter one at a time, and every
//! write of an organization passes its audit head one at a time (DESIGN.md
//! §4). Each round trip spent holding them lowers the ceiling of writes per
//! second. So on Postgres the rows go in as ONE statement (data-modifying
//! CTEs over arrays, `UNNEST`, of fixed text, prepared once per connection)
//! under no lock, and the serial part is staged as a `commit_seals` row that
//! a deferred trigger applies inside COMMIT: the counter and the head are
//! held only while a transaction commits, and the next one, already waiting
//! in Postgres, follows without a round trip to the daemon. SQLite (one
//! writer at a time, no round trips, no SHA-256 in SQL) keeps one statement
//! per table, moves the counter here and leaves the chain to the caller.

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
    /// Audit entries of `audit_org`, chained at COMMIT on Postgres; SQLite
    /// ignores them (the caller chains them to the head it gets back).
    pub audit: &'a [ChainRow],
}

/// An audit entry to chain: its canonical content around the sequence
/// number, which the locked head decides (`desk::audit::chain_rows`).
#[derive(Debug, Clone, serde::Serialize)]
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
    /// Postgres: [`Buffers::audit`] is staged and chained at COMMIT.
    Staged,
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
    /// Whether [`Buffers::counter`] moved the counter; `None` when there was
    /// none, or on Postgres, where COMMIT moves it (and fails with
    /// `SBNUM`, `tickets::is_number_taken`, when it stands elsewhere).
    pub counter_moved: Option<bool>,
}

/// Writes `rows`. The ticket counter of [`Buffers::counter`] moves if it
/// stands just below it: here on SQLite, at COMMIT on Postgres. With
/// `audit_org`, the entries of [`Buffers::audit`] are staged for COMMIT on
/// Postgres; otherwise (SQLite, or no entries) that organization's audit
/// head is locked until commit and returned for the caller to append to.
///
/// A duplicate intake key fails the whole write with the unique violation
/// of `inbound` (see [`inbound::is_duplicate`]); a concurrent attempt with
/// the same key waits on the first one's row and then fails so.
pub async fn write_and_lock_head(
    tx: &mut Tx,
    rows: Buffers<'_>,
    audit_org: Option<Uuid>,
) -> Result<Written, sqlx::Error> {
    if let Tx::Postgres(t) = tx {
        let staged = audit_org.filter(|_| !rows.audit.is_empty());
        pg_statement(&rows, staged)
            .map_err(|e| sqlx::Error::Encode(e.into()))?
            .execute(&mut **t)
            .await?;
        let head = match (audit_org, staged) {
            (None, _) => AuditHead::None,
            (Some(_), Some(_)) => AuditHead::Staged,
            (Some(org_id), None) => {
                let (seq, hash) = audit::lock_audit_head(tx, org_id).await?;
                AuditHead::Locked(seq, hash)
            }
        };
        return Ok(Written {
            head,
            counter_moved: None,
        });
    }
    let counter_moved = match rows.counter {
        Some(c) => Some(tickets::advance_counter(tx, c.org_id, c.kind, c.number).await?),
        None => None,
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

/// The rows go in under no lock; the serial part — a predicted ticket
/// number checked against the counter, audit entries chained to the head —
/// is staged as one `commit_seals` row that a deferred trigger applies at
/// COMMIT (`switchboard_seal`, migration `…15_commit_seals`). So the counter
/// and the audit head are held only while a transaction commits, and the
/// next one, already waiting in Postgres, follows without a round trip.
const PG: &str = "WITH \
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
        ON CONFLICT DO NOTHING) \
    INSERT INTO commit_seals (id, audit_org, entries, counter_org, counter_kind, counter_number) \
    SELECT $74::uuid, $75::uuid, $76::jsonb, $77::uuid, $78::text, $79::int8 \
    WHERE $75::uuid IS NOT NULL OR $79::int8 IS NOT NULL";

/// One column of `rows` as an array parameter.
fn column<R, T: Clone>(rows: &[R], field: impl Fn(&R) -> &T) -> Vec<T> {
    rows.iter().map(|r| field(r).clone()).collect()
}

/// The statement with `rows` bound; `audit_org` names the organization
/// whose [`Buffers::audit`] entries are staged.
fn pg_statement<'q>(
    rows: &Buffers<'_>,
    audit_org: Option<Uuid>,
) -> Result<sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>, serde_json::Error>
{
    let intake: &[InboundRow] = rows.inbound.map(std::slice::from_ref).unwrap_or_default();
    let (a, o, i, t, c) = (
        rows.activity,
        rows.outbox,
        rows.inbox,
        rows.timers,
        rows.chat,
    );
    let (f, m) = (rows.attachments, rows.mail_messages);
    let entries = serde_json::to_value(rows.audit)?;
    Ok(sqlx::query(PG)
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
        .bind(crate::desk::new_id())
        .bind(audit_org)
        .bind(entries)
        .bind(rows.counter.map(|c| c.org_id))
        .bind(rows.counter.map(|c| c.kind.to_string()))
        .bind(rows.counter.map(|c| c.number)))
}
