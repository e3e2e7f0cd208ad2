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
//! per table and leaves the chain to the caller; it numbers tickets with
//! the counter row locked (`desk::numbering`), so it has no counter to
//! move here.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::id::new_id;

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
    /// A predicted ticket number, Postgres only: the counter moves to it
    /// only from just below it, at COMMIT (see `desk::numbering`).
    pub counter: Option<CounterMove<'a>>,
    /// Audit entries of `audit_org`, chained at COMMIT on Postgres; SQLite
    /// ignores them (the caller chains them to the head it gets back).
    pub audit: &'a [ChainRow],
}

/// An audit entry to chain: its canonical content around the sequence
/// number, which the locked head decides (`domain::audit::SeqSplit`; the
/// seal trigger reads these field names).
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

/// Writes `rows`. The ticket counter of [`Buffers::counter`] moves at
/// COMMIT if it stands just below it; otherwise the COMMIT fails with
/// `SBNUM` ([`tickets::is_number_taken`]). With `audit_org`, the entries of
/// [`Buffers::audit`] are staged for COMMIT on Postgres; otherwise (SQLite,
/// or no entries) that organization's audit head is locked until commit
/// and returned for the caller to append to.
///
/// A duplicate intake key fails the whole write with the unique violation
/// of `inbound` (see [`inbound::is_duplicate`]); a concurrent attempt with
/// the same key waits on the first one's row and then fails so. A counter
/// on SQLite is refused: nothing predicts numbers there.
pub async fn write_and_lock_head(
    tx: &mut Tx,
    rows: Buffers<'_>,
    audit_org: Option<Uuid>,
) -> Result<AuditHead, sqlx::Error> {
    if let Tx::Postgres(t) = tx {
        let staged = audit_org.filter(|_| !rows.audit.is_empty());
        let statement = pg_statement(&rows, staged).map_err(|e| sqlx::Error::Encode(e.into()))?;
        if let Some(mut statement) = statement {
            statement.build().execute(&mut **t).await?;
        }
        return Ok(match (audit_org, staged) {
            (None, _) => AuditHead::None,
            (Some(_), Some(_)) => AuditHead::Staged,
            (Some(org_id), None) => {
                let (seq, hash) = audit::lock_audit_head(tx, org_id).await?;
                AuditHead::Locked(seq, hash)
            }
        });
    }
    if let Some(c) = rows.counter {
        return Err(sqlx::Error::InvalidArgument(format!(
            "a predicted ticket number ({} {}) on SQLite, which numbers with the counter locked",
            c.kind, c.number
        )));
    }
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
    Ok(match audit_org {
        Some(org_id) => {
            let (seq, hash) = audit::lock_audit_head(tx, org_id).await?;
            AuditHead::Locked(seq, hash)
        }
        None => AuditHead::None,
    })
}

/// The rows go in under no lock; the serial part — a predicted ticket
/// number checked against the counter, audit entries chained to the head —
/// is staged as one `commit_seals` row that a deferred trigger applies at
/// COMMIT (`switchboard_seal`, migrations `…15_commit_seals` and
/// `…16_lean_writes`). So the counter and the audit head are held only
/// while a transaction commits, and the next one, already waiting in
/// Postgres, follows without a round trip.
///
/// Only buffers with rows take part: a target table costs its executor
/// set-up (the table and its indexes opened) even for no rows. The few
/// shapes that occur are each prepared once per connection.
fn pg_statement(
    rows: &Buffers<'_>,
    audit_org: Option<Uuid>,
) -> Result<Option<sqlx::QueryBuilder<sqlx::Postgres>>, serde_json::Error> {
    const INBOUND: &str = "inbound (source, key, fingerprint, status, response, created_at)";
    const ACTIVITY: &str = "activity (id, org_id, ticket_id, actor_id, channel, action, field, \
                            old_value, new_value, created_at)";
    const OUTBOX: &str = "outbox (id, org_id, channel, target, event, payload, state, attempts, \
                          next_attempt_at, last_error, created_at, delivered_at)";
    const INBOX: &str = "inbox (id, org_id, person_id, event, ticket, subject, text, data, \
                         created_at, read_at)";
    const TIMERS: &str = "timers (id, org_id, kind, ticket_id, payload, due_at, created_at)";
    const CHAT: &str = "chat_messages (id, org_id, platform, purpose, ticket_id, approval_id, \
                        person_id, channel, ts, outbox_id, created_at)";
    const ATTACHMENTS: &str = "attachments (id, org_id, ticket_id, filename, content_type, \
                               size_bytes, sha256, uploaded_by, channel, created_at)";
    const MAIL: &str = "mail_messages (org_id, message_id, direction, ticket_id, sender, \
                        outbox_id, created_at)";
    const SEALS: &str =
        "commit_seals (id, audit_org, entries, counter_org, counter_kind, counter_number)";
    const SKIP_TAKEN: &str = " ON CONFLICT DO NOTHING";

    let mut w = Inserts::default();
    let r: &[InboundRow] = rows.inbound.map(std::slice::from_ref).unwrap_or_default();
    w.part(r.len(), INBOUND, "", |c| {
        c.array(column(r, |r| &r.source), "text");
        c.array(column(r, |r| &r.key), "text");
        c.array(column(r, |r| &r.fingerprint), "text");
        c.array(column(r, |r| &r.status), "int4");
        c.array(column(r, |r| &r.response), "jsonb");
        c.array(column(r, |r| &r.created_at), "timestamptz");
    });
    let a = rows.activity;
    w.part(a.len(), ACTIVITY, "", |c| {
        c.array(column(a, |r| &r.id), "uuid");
        c.array(column(a, |r| &r.org_id), "uuid");
        c.array(column(a, |r| &r.ticket_id), "uuid");
        c.array(column(a, |r| &r.actor_id), "uuid");
        c.array(column(a, |r| &r.channel), "text");
        c.array(column(a, |r| &r.action), "text");
        c.array(column(a, |r| &r.field), "text");
        c.array(column(a, |r| &r.old_value), "text");
        c.array(column(a, |r| &r.new_value), "text");
        c.array(column(a, |r| &r.created_at), "timestamptz");
    });
    let o = rows.outbox;
    w.part(o.len(), OUTBOX, "", |c| {
        c.array(column(o, |r| &r.id), "uuid");
        c.array(column(o, |r| &r.org_id), "uuid");
        c.array(column(o, |r| &r.channel), "text");
        c.array(column(o, |r| &r.target), "text");
        c.array(column(o, |r| &r.event), "text");
        c.array(column(o, |r| &r.payload), "jsonb");
        c.array(column(o, |r| &r.state), "text");
        c.array(column(o, |r| &r.attempts), "int4");
        c.array(column(o, |r| &r.next_attempt_at), "timestamptz");
        c.array(column(o, |r| &r.last_error), "text");
        c.array(column(o, |r| &r.created_at), "timestamptz");
        c.array(column(o, |r| &r.delivered_at), "timestamptz");
    });
    let i = rows.inbox;
    w.part(i.len(), INBOX, "", |c| {
        c.array(column(i, |r| &r.id), "uuid");
        c.array(column(i, |r| &r.org_id), "uuid");
        c.array(column(i, |r| &r.person_id), "uuid");
        c.array(column(i, |r| &r.event), "text");
        c.array(column(i, |r| &r.ticket), "text");
        c.array(column(i, |r| &r.subject), "text");
        c.array(column(i, |r| &r.text), "text");
        c.array(column(i, |r| &r.data), "jsonb");
        c.array(column(i, |r| &r.created_at), "timestamptz");
        c.array(column(i, |r| &r.read_at), "timestamptz");
    });
    let t = rows.timers;
    w.part(t.len(), TIMERS, "", |c| {
        c.array(column(t, |r| &r.id), "uuid");
        c.array(column(t, |r| &r.org_id), "uuid");
        c.array(column(t, |r| &r.kind), "text");
        c.array(column(t, |r| &r.ticket_id), "uuid");
        c.array(column(t, |r| &r.payload), "jsonb");
        c.array(column(t, |r| &r.due_at), "timestamptz");
        c.array(column(t, |r| &r.created_at), "timestamptz");
    });
    let m = rows.chat;
    w.part(m.len(), CHAT, SKIP_TAKEN, |c| {
        c.array(column(m, |r| &r.id), "uuid");
        c.array(column(m, |r| &r.org_id), "uuid");
        c.array(column(m, |r| &r.platform), "text");
        c.array(column(m, |r| &r.purpose), "text");
        c.array(column(m, |r| &r.ticket_id), "uuid");
        c.array(column(m, |r| &r.approval_id), "uuid");
        c.array(column(m, |r| &r.person_id), "uuid");
        c.array(column(m, |r| &r.channel), "text");
        c.array(column(m, |r| &r.ts), "text");
        c.array(column(m, |r| &r.outbox_id), "uuid");
        c.array(column(m, |r| &r.created_at), "timestamptz");
    });
    let f = rows.attachments;
    w.part(f.len(), ATTACHMENTS, "", |c| {
        c.array(column(f, |r| &r.id), "uuid");
        c.array(column(f, |r| &r.org_id), "uuid");
        c.array(column(f, |r| &r.ticket_id), "uuid");
        c.array(column(f, |r| &r.filename), "text");
        c.array(column(f, |r| &r.content_type), "text");
        c.array(column(f, |r| &r.size_bytes), "int8");
        c.array(column(f, |r| &r.sha256), "text");
        c.array(column(f, |r| &r.uploaded_by), "uuid");
        c.array(column(f, |r| &r.channel), "text");
        c.array(column(f, |r| &r.created_at), "timestamptz");
    });
    let e = rows.mail_messages;
    w.part(e.len(), MAIL, SKIP_TAKEN, |c| {
        c.array(column(e, |r| &r.org_id), "uuid");
        c.array(column(e, |r| &r.message_id), "text");
        c.array(e.iter().map(|r| r.direction).collect::<Vec<&str>>(), "text");
        c.array(column(e, |r| &r.ticket_id), "uuid");
        c.array(column(e, |r| &r.sender), "text");
        c.array(column(e, |r| &r.outbox_id), "uuid");
        c.array(column(e, |r| &r.created_at), "timestamptz");
    });
    let counter = rows.counter;
    let sealed = audit_org.is_some() || counter.is_some();
    let entries = serde_json::to_value(rows.audit)?;
    w.part(usize::from(sealed), SEALS, "", |c| {
        c.array(vec![new_id()], "uuid");
        c.array(vec![audit_org], "uuid");
        c.array(vec![entries], "jsonb");
        c.array(vec![counter.map(|c| c.org_id)], "uuid");
        c.array(vec![counter.map(|c| c.kind.to_string())], "text");
        c.array(vec![counter.map(|c| c.number)], "int8");
    });
    Ok(w.finish())
}

/// One column of `rows` as an array parameter.
fn column<R, T: Clone>(rows: &[R], field: impl Fn(&R) -> &T) -> Vec<T> {
    rows.iter().map(|r| field(r).clone()).collect()
}

/// The flush statement under construction: `WITH` parts, each inserting
/// one buffer's rows from array parameters (`UNNEST`).
#[derive(Default)]
struct Inserts {
    sql: Option<sqlx::QueryBuilder<sqlx::Postgres>>,
    parts: usize,
}

impl Inserts {
    /// Adds `INSERT INTO {target} SELECT * FROM UNNEST(…){suffix}` with
    /// the arrays `columns` binds, in `target`'s column order; nothing for
    /// no rows.
    fn part(
        &mut self,
        rows: usize,
        target: &str,
        suffix: &str,
        columns: impl FnOnce(&mut Arrays<'_>),
    ) {
        if rows == 0 {
            return;
        }
        let sql = self
            .sql
            .get_or_insert_with(|| sqlx::QueryBuilder::new("WITH "));
        if self.parts > 0 {
            sql.push(", ");
        }
        sql.push(format_args!(
            "p{} AS (INSERT INTO {target} SELECT * FROM UNNEST(",
            self.parts
        ));
        columns(&mut Arrays { sql, first: true });
        sql.push(format_args!("){suffix})"));
        self.parts += 1;
    }

    /// The statement; `None` when no buffer had rows.
    fn finish(self) -> Option<sqlx::QueryBuilder<sqlx::Postgres>> {
        let mut sql = self.sql?;
        // Data-modifying parts run to completion whatever the main query reads.
        sql.push(" SELECT 1");
        Some(sql)
    }
}

/// The array parameters of one [`Inserts::part`].
struct Arrays<'b> {
    sql: &'b mut sqlx::QueryBuilder<sqlx::Postgres>,
    first: bool,
}

impl Arrays<'_> {
    /// Binds one column as an array of SQL type `ty`.
    fn array<T>(&mut self, values: Vec<T>, ty: &str)
    where
        Vec<T>:
            for<'e> sqlx::Encode<'e, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + 'static,
    {
        if !std::mem::take(&mut self.first) {
            self.sql.push(", ");
        }
        self.sql.push_bind(values).push(format_args!("::{ty}[]"));
    }
}
