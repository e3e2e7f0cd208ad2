//! Tickets, their gap-free numbers, comments and attachments.

use chrono::{DateTime, Utc};
use const_format::concatcp;
use sqlx::types::Json;
use uuid::Uuid;

use super::{on, on_exec, Exec, Tx};

/// A ticket with the names of the people and team it points at, as every
/// read path needs them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TicketRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub number: String,
    pub kind: String,
    pub title: String,
    pub description: String,
    pub state: String,
    pub impact: String,
    pub urgency: String,
    pub priority: String,
    pub requester_id: Option<Uuid>,
    pub requester_name: Option<String>,
    pub requester_email: Option<String>,
    pub assignee_id: Option<Uuid>,
    pub assignee_name: Option<String>,
    pub assignee_email: Option<String>,
    pub team_id: Option<Uuid>,
    pub team_name: Option<String>,
    pub category_id: Option<Uuid>,
    pub category_name: Option<String>,
    pub channel: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The requester's rating, 1–5, once given.
    pub satisfaction: Option<i32>,
    /// Major flag, parent incident and escalation level (written by
    /// `store::problems`, not by [`update_ticket`]).
    #[sqlx(flatten)]
    pub extra: TicketExtra,
}

/// The incident-management columns of a ticket.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct TicketExtra {
    pub major: bool,
    pub parent_id: Option<Uuid>,
    pub parent_number: Option<String>,
    pub escalation_level: i32,
    /// Labels agents and rules put on the ticket (normalized, see
    /// `domain::assignment::normalize_label`); written by [`update_tags`].
    pub tags: Json<Vec<String>>,
    /// Whether the ticket ever had a link or was merged (set by
    /// `store::links`); when false it has no links to look up.
    pub linked: bool,
}

pub(super) const SELECT_TICKET: &str =
    "SELECT t.id, t.org_id, t.number, t.kind, t.title, t.description, t.state, \
     t.impact, t.urgency, t.priority, \
     t.requester_id, r.name AS requester_name, r.email AS requester_email, \
     t.assignee_id, a.name AS assignee_name, a.email AS assignee_email, \
     t.team_id, tm.name AS team_name, t.category_id, cat.name AS category_name, \
     t.channel, t.created_at, t.updated_at, t.resolved_at, t.closed_at, t.satisfaction, \
     t.major, t.parent_id, par.number AS parent_number, t.escalation_level, t.tags, t.linked \
     FROM tickets t \
     LEFT JOIN people r ON r.id = t.requester_id \
     LEFT JOIN people a ON a.id = t.assignee_id \
     LEFT JOIN teams tm ON tm.id = t.team_id \
     LEFT JOIN categories cat ON cat.id = t.category_id \
     LEFT JOIN tickets par ON par.id = t.parent_id";

/// The columns a ticket is written with.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub id: Uuid,
    pub org_id: Uuid,
    pub kind: String,
    pub title: String,
    pub description: String,
    pub state: String,
    pub impact: String,
    pub urgency: String,
    pub priority: String,
    pub requester_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub category_id: Option<Uuid>,
    pub channel: String,
    pub created_at: DateTime<Utc>,
}

/// The advisory lock of a ticket counter, as SQL over the parameters that
/// hold its organization and kind: class `'tick'`, key a hash of the two.
/// A creation that predicts its number holds it shared, one that locks the
/// counter row holds it exclusively (see `desk::numbering`): so a locked
/// creation never waits on a predicted ticket row while that one waits on
/// the counter row it holds. The two-key form keeps clear of the one-key
/// leader locks. A macro so that every statement spells the key the same
/// way, whichever parameters it binds the two to.
macro_rules! counter_lock {
    ($org:literal, $kind:literal) => {
        concat!(
            "1952670571, hashtext(",
            $org,
            "::text || '/' || ",
            $kind,
            ")"
        )
    };
}

/// Takes the next number of (organization, kind), the plain way of
/// `desk::numbering`: the counter row stays locked until the transaction
/// ends, which is what makes numbers gap-free — a rolled-back ticket gives
/// its number back. On Postgres the counter's advisory lock is taken
/// exclusively first (see `counter_lock!`).
pub async fn next_ticket_seq(tx: &mut Tx, org_id: Uuid, kind: &str) -> Result<i64, sqlx::Error> {
    const INTO: &str = "INSERT INTO ticket_counters (org_id, kind, last_value) ";
    const NEXT: &str = " ON CONFLICT (org_id, kind) \
                        DO UPDATE SET last_value = ticket_counters.last_value + 1 RETURNING last_value";
    const PG: &str = concatcp!(
        "WITH gate AS (SELECT pg_advisory_xact_lock(",
        counter_lock!("$1", "$2"),
        ")) ",
        INTO,
        "SELECT $1, $2, 1 FROM gate",
        NEXT
    );
    const LITE: &str = concatcp!(INTO, "VALUES ($1, $2, 1)", NEXT);
    match tx {
        Tx::Postgres(c) => {
            sqlx::query_scalar(PG)
                .bind(org_id)
                .bind(kind)
                .fetch_one(&mut **c)
                .await
        }
        Tx::Sqlite(c) => {
            sqlx::query_scalar(LITE)
                .bind(org_id)
                .bind(kind)
                .fetch_one(&mut **c)
                .await
        }
    }
}

/// The last number taken of (organization, kind) as committed; 0 before
/// the first. Reads without locking (see `desk::numbering`).
pub async fn last_ticket_seq(tx: &mut Tx, org_id: Uuid, kind: &str) -> Result<i64, sqlx::Error> {
    let sql = "SELECT last_value FROM ticket_counters WHERE org_id = $1 AND kind = $2";
    let last: Option<i64> =
        on!(tx, c => sqlx::query_scalar(sql).bind(org_id).bind(kind).fetch_optional(c).await)?;
    Ok(last.unwrap_or(0))
}

/// Records the requester's rating of a ticket.
pub async fn set_satisfaction(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
    score: i32,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let sql = "UPDATE tickets SET satisfaction = $3, updated_at = $4 WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(sql)
        .bind(org_id)
        .bind(id)
        .bind(score)
        .bind(at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Inserts a ticket under a predicted number (`seq`, shown as `number`)
/// without touching the counter: its COMMIT moves it (`store::flush`), with
/// the counter's advisory lock held shared (see `counter_lock!`) and the
/// number's own held exclusively until the transaction ends: the next
/// number's COMMIT waits on it (`switchboard_number_key` and
/// `switchboard_seal` in the migrations). Postgres only: SQLite, one writer
/// at a time, numbers with the counter locked.
pub async fn insert_predicted_ticket(
    tx: &mut Tx,
    t: &NewTicket,
    number: &str,
    seq: i64,
) -> Result<(), sqlx::Error> {
    let Tx::Postgres(c) = tx else {
        return Err(sqlx::Error::InvalidArgument(format!(
            "a predicted ticket number ({number}) on SQLite, which numbers with the counter locked"
        )));
    };
    const SQL: &str = concatcp!(
        "WITH gate AS (SELECT pg_advisory_xact_lock_shared(",
        counter_lock!("$2", "$3"),
        "), pg_advisory_xact_lock(switchboard_number_key($2, $3), ($17 % 2147483648)::int4)) \
         INSERT INTO tickets (id, org_id, kind, title, description, state, impact, urgency, \
         priority, requester_id, assignee_id, team_id, category_id, channel, created_at, updated_at, number) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16 FROM gate \
         RETURNING id"
    );
    let _: (Uuid,) = sqlx::query_as(SQL)
        .bind(t.id)
        .bind(t.org_id)
        .bind(&t.kind)
        .bind(&t.title)
        .bind(&t.description)
        .bind(&t.state)
        .bind(&t.impact)
        .bind(&t.urgency)
        .bind(&t.priority)
        .bind(t.requester_id)
        .bind(t.assignee_id)
        .bind(t.team_id)
        .bind(t.category_id)
        .bind(&t.channel)
        .bind(t.created_at)
        .bind(number)
        .bind(seq)
        .fetch_one(&mut **c)
        .await?;
    Ok(())
}

/// Whether a COMMIT failed because its predicted ticket number was taken
/// (`SBNUM`, raised by `switchboard_seal` in the migrations).
pub fn is_number_taken(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.code().as_deref() == Some("SBNUM"))
}

pub async fn insert_ticket(tx: &mut Tx, t: &NewTicket, number: &str) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO tickets (id, org_id, number, kind, title, description, state, impact, urgency, \
               priority, requester_id, assignee_id, team_id, category_id, channel, created_at, updated_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)";
    on!(tx, c => sqlx::query(sql)
        .bind(t.id)
        .bind(t.org_id)
        .bind(number)
        .bind(&t.kind)
        .bind(&t.title)
        .bind(&t.description)
        .bind(&t.state)
        .bind(&t.impact)
        .bind(&t.urgency)
        .bind(&t.priority)
        .bind(t.requester_id)
        .bind(t.assignee_id)
        .bind(t.team_id)
        .bind(t.category_id)
        .bind(&t.channel)
        .bind(t.created_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn find_ticket_by_number(
    e: Exec<'_>,
    org_id: Uuid,
    number: &str,
) -> Result<Option<TicketRow>, sqlx::Error> {
    const SQL: &str = concatcp!(SELECT_TICKET, " WHERE t.org_id = $1 AND t.number = $2");
    on_exec!(e, c => sqlx::query_as(SQL).bind(org_id).bind(number).fetch_optional(c).await)
}

/// Reads a ticket for change. Postgres takes the row lock so that concurrent
/// changes of one ticket serialize; SQLite has one writer already.
pub async fn lock_ticket_by_number(
    tx: &mut Tx,
    org_id: Uuid,
    number: &str,
) -> Result<Option<TicketRow>, sqlx::Error> {
    const PG: &str = concatcp!(
        SELECT_TICKET,
        " WHERE t.org_id = $1 AND t.number = $2 FOR UPDATE OF t"
    );
    const LITE: &str = concatcp!(SELECT_TICKET, " WHERE t.org_id = $1 AND t.number = $2");
    match tx {
        Tx::Postgres(t) => {
            sqlx::query_as(PG)
                .bind(org_id)
                .bind(number)
                .fetch_optional(&mut **t)
                .await
        }
        Tx::Sqlite(t) => {
            sqlx::query_as(LITE)
                .bind(org_id)
                .bind(number)
                .fetch_optional(&mut **t)
                .await
        }
    }
}

pub async fn find_ticket(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
) -> Result<Option<TicketRow>, sqlx::Error> {
    const SQL: &str = concatcp!(SELECT_TICKET, " WHERE t.org_id = $1 AND t.id = $2");
    on!(tx, c => sqlx::query_as(SQL).bind(org_id).bind(id).fetch_optional(c).await)
}

/// Writes the mutable columns of a ticket back.
pub async fn update_ticket(tx: &mut Tx, t: &TicketRow) -> Result<(), sqlx::Error> {
    let sql = "UPDATE tickets SET title = $3, description = $4, state = $5, impact = $6, urgency = $7, \
               priority = $8, assignee_id = $9, team_id = $10, category_id = $11, updated_at = $12, \
               resolved_at = $13, closed_at = $14 WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(sql)
        .bind(t.org_id)
        .bind(t.id)
        .bind(&t.title)
        .bind(&t.description)
        .bind(&t.state)
        .bind(&t.impact)
        .bind(&t.urgency)
        .bind(&t.priority)
        .bind(t.assignee_id)
        .bind(t.team_id)
        .bind(t.category_id)
        .bind(t.updated_at)
        .bind(t.resolved_at)
        .bind(t.closed_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Replaces a ticket's tags.
pub async fn update_tags(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
    tags: &[String],
) -> Result<(), sqlx::Error> {
    let sql = "UPDATE tickets SET tags = $3 WHERE org_id = $1 AND id = $2";
    on!(tx, c => sqlx::query(sql)
        .bind(org_id)
        .bind(id)
        .bind(Json(tags))
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Which column a ticket list is ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    Created,
    Updated,
}

#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub kind: Option<String>,
    pub state: Option<String>,
    pub priority: Option<String>,
    pub team_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
    pub requester_id: Option<Uuid>,
    /// Matched case-insensitively against title, description and number.
    pub text: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub updated_after: Option<DateTime<Utc>>,
    pub updated_before: Option<DateTime<Utc>>,
    /// Set for requesters: only tickets they raised or watch.
    pub only_visible_to: Option<Uuid>,
    /// Only tickets nobody is assigned to.
    pub unassigned: bool,
    /// Only tickets of the teams this person is a member of.
    pub team_member: Option<Uuid>,
    /// Only tickets whose SLA stands so (`domain::sla::Standing`).
    pub sla_standing: Option<String>,
    /// Only open tickets (not resolved, closed, cancelled or rejected).
    pub open_only: bool,
}

#[derive(Debug, Clone)]
pub struct TicketPage {
    pub sort: SortField,
    pub descending: bool,
    /// Keyset cursor: the sort value and id of the last row already seen.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

enum Arg {
    Uuid(Uuid),
    Text(String),
    Time(DateTime<Utc>),
    Int(i64),
}

/// Lists tickets with keyset pagination. The SQL is assembled from fixed
/// fragments only; every user value is bound.
pub async fn list_tickets(
    e: Exec<'_>,
    org_id: Uuid,
    filter: &TicketFilter,
    page: &TicketPage,
) -> Result<Vec<TicketRow>, sqlx::Error> {
    let mut sql = String::from(SELECT_TICKET);
    let mut args = vec![Arg::Uuid(org_id)];
    sql.push_str(" WHERE t.org_id = $1");
    if filter.unassigned {
        sql.push_str(" AND t.assignee_id IS NULL");
    }
    if filter.open_only {
        // The open-ticket indexes' predicate, to the letter.
        sql.push_str(" AND t.state NOT IN ('resolved', 'closed', 'cancelled', 'rejected')");
    }
    let mut push = |clause: &str, arg: Arg, args: &mut Vec<Arg>| {
        args.push(arg);
        sql.push_str(&clause.replace("$?", &format!("${}", args.len())));
    };
    let text_arg = |s: &String| Arg::Text(s.clone());
    if let Some(v) = &filter.kind {
        push(" AND t.kind = $?", text_arg(v), &mut args);
    }
    if let Some(v) = &filter.state {
        push(" AND t.state = $?", text_arg(v), &mut args);
    }
    if let Some(v) = &filter.priority {
        push(" AND t.priority = $?", text_arg(v), &mut args);
    }
    if let Some(v) = filter.team_id {
        push(" AND t.team_id = $?", Arg::Uuid(v), &mut args);
    }
    if let Some(v) = filter.assignee_id {
        push(" AND t.assignee_id = $?", Arg::Uuid(v), &mut args);
    }
    if let Some(v) = filter.requester_id {
        push(" AND t.requester_id = $?", Arg::Uuid(v), &mut args);
    }
    if let Some(v) = filter.only_visible_to {
        push(
            " AND (t.requester_id = $? OR EXISTS (SELECT 1 FROM watchers w WHERE w.ticket_id = t.id AND w.person_id = $?))",
            Arg::Uuid(v),
            &mut args,
        );
    }
    if let Some(v) = filter.team_member {
        push(
            " AND t.team_id IN (SELECT m.team_id FROM team_members m WHERE m.person_id = $?)",
            Arg::Uuid(v),
            &mut args,
        );
    }
    if let Some(v) = &filter.sla_standing {
        push(
            " AND EXISTS (SELECT 1 FROM sla_states s WHERE s.ticket_id = t.id AND s.standing = $?)",
            text_arg(v),
            &mut args,
        );
    }
    if let Some(v) = &filter.text {
        let pattern = format!("%{}%", escape_like(&v.to_lowercase()));
        push(
            " AND (lower(t.title) LIKE $? ESCAPE '\\' OR lower(t.description) LIKE $? ESCAPE '\\' OR lower(t.number) LIKE $? ESCAPE '\\')",
            Arg::Text(pattern),
            &mut args,
        );
    }
    for (value, clause) in [
        (filter.created_after, " AND t.created_at >= $?"),
        (filter.created_before, " AND t.created_at < $?"),
        (filter.updated_after, " AND t.updated_at >= $?"),
        (filter.updated_before, " AND t.updated_at < $?"),
    ] {
        if let Some(v) = value {
            push(clause, Arg::Time(v), &mut args);
        }
    }
    let column = match page.sort {
        SortField::Created => "t.created_at",
        SortField::Updated => "t.updated_at",
    };
    let (cmp, dir) = if page.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some((value, id)) = page.after {
        args.push(Arg::Time(value));
        let v = args.len();
        args.push(Arg::Uuid(id));
        let i = args.len();
        sql.push_str(&format!(" AND ({column}, t.id) {cmp} (${v}, ${i})"));
    }
    args.push(Arg::Int(page.limit));
    sql.push_str(&format!(
        " ORDER BY {column} {dir}, t.id {dir} LIMIT ${}",
        args.len()
    ));

    let sql = sqlx::AssertSqlSafe(sql);
    on_exec!(e, c => {
        let mut query = sqlx::query_as(sql);
        for arg in args {
            query = match arg {
                Arg::Uuid(v) => query.bind(v),
                Arg::Text(v) => query.bind(v),
                Arg::Time(v) => query.bind(v),
                Arg::Int(v) => query.bind(v),
            };
        }
        query.fetch_all(c).await
    })
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CommentRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub ticket_id: Uuid,
    pub author_id: Option<Uuid>,
    pub author_name: Option<String>,
    pub body: String,
    pub internal: bool,
    pub channel: String,
    pub created_at: DateTime<Utc>,
    /// The number of the ticket a merge copied this comment from.
    #[sqlx(default)]
    pub merged_from: Option<String>,
}

pub async fn insert_comment(tx: &mut Tx, c: &CommentRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO comments (id, org_id, ticket_id, author_id, body, internal, channel, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    on!(tx, conn => sqlx::query(sql)
        .bind(c.id)
        .bind(c.org_id)
        .bind(c.ticket_id)
        .bind(c.author_id)
        .bind(&c.body)
        .bind(c.internal)
        .bind(&c.channel)
        .bind(c.created_at)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn list_comments(
    e: Exec<'_>,
    org_id: Uuid,
    ticket_id: Uuid,
    include_internal: bool,
) -> Result<Vec<CommentRow>, sqlx::Error> {
    let sql = "SELECT c.id, c.org_id, c.ticket_id, c.author_id, p.name AS author_name, c.body, c.internal, \
               c.channel, c.created_at, mf.number AS merged_from FROM comments c \
               LEFT JOIN people p ON p.id = c.author_id LEFT JOIN tickets mf ON mf.id = c.merged_from_id \
               WHERE c.org_id = $1 AND c.ticket_id = $2 AND (c.internal = $3 OR c.internal = FALSE) \
               ORDER BY c.created_at, c.id";
    on_exec!(e, conn => sqlx::query_as(sql).bind(org_id).bind(ticket_id).bind(include_internal).fetch_all(conn).await)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AttachmentRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub ticket_id: Uuid,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub uploaded_by: Option<Uuid>,
    pub channel: String,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_attachment(tx: &mut Tx, a: &AttachmentRow) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO attachments (id, org_id, ticket_id, filename, content_type, size_bytes, sha256, \
               uploaded_by, channel, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
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
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Inserts attachments of one ticket and, with `touch`, moves the ticket's
/// `updated_at`: one statement on Postgres (a data-modifying CTE), a
/// multi-row insert and an update on SQLite.
pub async fn insert_attachments(
    tx: &mut Tx,
    rows: &[AttachmentRow],
    org_id: Uuid,
    ticket_id: Uuid,
    touch: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    // 10 parameters a row; both backends allow far more than 100 rows' worth.
    for (i, chunk) in rows.chunks(100).enumerate() {
        let updated_at = touch.filter(|_| i == 0);
        let mut values = String::new();
        for r in 0..chunk.len() {
            let b = r * 10;
            if r > 0 {
                values.push_str(", ");
            }
            let params: Vec<String> = (b + 1..=b + 10).map(|n| format!("${n}")).collect();
            values.push_str(&format!("({})", params.join(", ")));
        }
        let insert = format!(
            "INSERT INTO attachments (id, org_id, ticket_id, filename, content_type, size_bytes, \
             sha256, uploaded_by, channel, created_at) VALUES {values}"
        );
        let n = chunk.len() * 10;
        let touch_sql = format!(
            "UPDATE tickets SET updated_at = ${} WHERE org_id = ${} AND id = ${}",
            n + 1,
            n + 2,
            n + 3
        );
        macro_rules! with_rows {
            ($sql:expr) => {{
                let mut q = sqlx::query(sqlx::AssertSqlSafe($sql));
                for a in chunk {
                    q = q
                        .bind(a.id)
                        .bind(a.org_id)
                        .bind(a.ticket_id)
                        .bind(&a.filename)
                        .bind(&a.content_type)
                        .bind(a.size_bytes)
                        .bind(&a.sha256)
                        .bind(a.uploaded_by)
                        .bind(&a.channel)
                        .bind(a.created_at);
                }
                q
            }};
        }
        match tx {
            Tx::Postgres(t) if updated_at.is_some() => {
                with_rows!(format!("WITH added AS ({insert}) {touch_sql}"))
                    .bind(updated_at)
                    .bind(org_id)
                    .bind(ticket_id)
                    .execute(&mut **t)
                    .await?;
            }
            Tx::Postgres(t) => {
                with_rows!(insert).execute(&mut **t).await?;
            }
            Tx::Sqlite(t) => {
                with_rows!(insert).execute(&mut **t).await?;
            }
        }
    }
    if let (Tx::Sqlite(_), Some(updated_at), false) = (&*tx, touch, rows.is_empty()) {
        let sql = "UPDATE tickets SET updated_at = $1 WHERE org_id = $2 AND id = $3";
        on!(tx, c => sqlx::query(sql)
            .bind(updated_at)
            .bind(org_id)
            .bind(ticket_id)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    Ok(())
}

const SELECT_ATTACHMENT: &str =
    "SELECT id, org_id, ticket_id, filename, content_type, size_bytes, sha256, \
                                 uploaded_by, channel, created_at FROM attachments";

pub async fn list_attachments(
    e: Exec<'_>,
    org_id: Uuid,
    ticket_id: Uuid,
) -> Result<Vec<AttachmentRow>, sqlx::Error> {
    const SQL: &str = concatcp!(
        SELECT_ATTACHMENT,
        " WHERE org_id = $1 AND ticket_id = $2 ORDER BY created_at, id"
    );
    on_exec!(e, c => sqlx::query_as(SQL).bind(org_id).bind(ticket_id).fetch_all(c).await)
}

pub async fn find_attachment(
    e: Exec<'_>,
    org_id: Uuid,
    ticket_id: Uuid,
    id: Uuid,
) -> Result<Option<AttachmentRow>, sqlx::Error> {
    const SQL: &str = concatcp!(
        SELECT_ATTACHMENT,
        " WHERE org_id = $1 AND ticket_id = $2 AND id = $3"
    );
    on_exec!(e, c => sqlx::query_as(SQL).bind(org_id).bind(ticket_id).bind(id).fetch_optional(c).await)
}

pub async fn add_watcher(
    tx: &mut Tx,
    ticket_id: Uuid,
    person_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let sql = "INSERT INTO watchers (ticket_id, person_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
    let n = on!(tx, c => sqlx::query(sql).bind(ticket_id).bind(person_id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

pub async fn remove_watcher(
    tx: &mut Tx,
    ticket_id: Uuid,
    person_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let sql = "DELETE FROM watchers WHERE ticket_id = $1 AND person_id = $2";
    let n = on!(tx, c => sqlx::query(sql).bind(ticket_id).bind(person_id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// (id, name, email) of the people watching a ticket.
pub async fn list_watchers(
    e: Exec<'_>,
    ticket_id: Uuid,
) -> Result<Vec<(Uuid, String, Option<String>)>, sqlx::Error> {
    let sql = "SELECT p.id, p.name, p.email FROM watchers w JOIN people p ON p.id = w.person_id \
               WHERE w.ticket_id = $1 ORDER BY p.name, p.id";
    on_exec!(e, c => sqlx::query_as(sql).bind(ticket_id).fetch_all(c).await)
}

pub async fn is_watching(
    e: Exec<'_>,
    ticket_id: Uuid,
    person_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let sql = "SELECT COUNT(*) FROM watchers WHERE ticket_id = $1 AND person_id = $2";
    let n: i64 = on_exec!(e, c => sqlx::query_scalar(sql).bind(ticket_id).bind(person_id).fetch_one(c).await)?;
    Ok(n > 0)
}
