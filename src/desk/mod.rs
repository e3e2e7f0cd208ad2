//! Application services: one function per use case. Each runs in ONE
//! transaction through [`Desk::run`]: check permission, apply the domain
//! rule, write state + activity + audit event + outbox rows + timers, commit.
//! Channels (HTTP API, chat, email) and workers call in here; nothing here
//! knows about HTTP. May import `domain` and `store`.

pub mod access;
pub mod admin;
pub mod approval_links;
pub mod approvals;
mod audit;
pub mod auth;
pub mod automation;
pub mod catalog;
pub mod changes;
pub mod chat;
pub mod cmdb;
pub mod error;
pub mod escalation;
mod events;
pub mod files;
pub mod identity;
pub mod mail;
mod mail_alerts;
pub mod notify;
mod numbering;
pub mod problems;
pub mod reports;
pub mod schedules;
pub mod sla;
pub mod tickets;
pub mod timers;
pub mod views;

use std::{collections::HashMap, path::PathBuf, sync::Arc, time::Duration};

use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{Notify, RwLock};
use uuid::Uuid;

pub use access::Actor;
pub use audit::verify as audit_verify;
pub use error::DeskError;

use crate::{
    domain::{Channel, PriorityMatrix},
    metrics::Metrics,
    store::{self, activity::ActivityRow, outbox::OutboxRow, timers::TimerRow, Db, Tx},
};

/// Settings the use cases need, taken from the configuration at start.
#[derive(Debug, Clone)]
pub struct DeskSettings {
    pub data_dir: PathBuf,
    pub max_attachment_bytes: u64,
    pub auto_close_after: chrono::Duration,
    pub auth: auth::AuthSettings,
    /// Chat platforms with a deliverer (`slack`, `discord`): ticket events
    /// are mirrored to them through the outbox.
    pub chat_platforms: Vec<String>,
}

/// Priority matrices by organization, with when they were read.
type MatrixCache = HashMap<Uuid, (std::time::Instant, Arc<PriorityMatrix>)>;

/// API token lookups by token hash, with when they were read.
type TokenCache = HashMap<String, (std::time::Instant, store::tokens::TokenLookup)>;

/// Entry point of every use case; cheap to clone.
#[derive(Clone)]
pub struct Desk {
    pub db: Db,
    pub settings: Arc<DeskSettings>,
    pub metrics: Arc<Metrics>,
    /// Woken after a commit that wrote outbox rows, so delivery starts at once.
    pub outbox_ready: Arc<Notify>,
    matrices: Arc<RwLock<MatrixCache>>,
    /// Recently seen API tokens by hash; see [`admin::TOKEN_CACHE_TTL`].
    tokens: Arc<std::sync::Mutex<TokenCache>>,
    /// This process's side of the ticket counters; see [`numbering`].
    counters: Arc<numbering::Counters>,
    /// The JWT signing key, read (or created) once from the database so
    /// every replica signs with the same one.
    jwt: Arc<tokio::sync::OnceCell<Vec<u8>>>,
    /// Relationship graphs for impact analysis, per organization; see
    /// [`cmdb::GraphCache`].
    impact_graphs: Arc<cmdb::GraphCache>,
    /// Where SLA and timer code read "now"; tests move it forward.
    pub clock: sla::Clock,
    /// Parsed business calendars, briefly cached.
    calendars: Arc<std::sync::Mutex<sla::CalendarCache>>,
    /// Message templates (validated when loaded).
    pub templates: Arc<crate::templates::Templates>,
}

/// The natural key of an input (DESIGN.md §3 step 2) and the fingerprint of
/// its content, so a reused key with different content is refused.
#[derive(Debug, Clone)]
pub struct Intake {
    pub source: String,
    pub key: String,
    pub fingerprint: String,
    /// The status to record with the result (what a replay answers).
    pub status: u16,
    /// The sender says it has not sent this input before (Slack without a
    /// retry number): the read for an earlier result before the use case
    /// is skipped. A repeat all the same is still caught when its record
    /// is written, and answered with the first result then.
    pub first_delivery: bool,
}

/// What a use case run produced: its own result, or the recorded result of
/// the first run with the same intake key.
#[derive(Debug)]
pub enum Outcome<T> {
    Done(T),
    Replayed { status: u16, body: Value },
}

/// The writes of one use case besides its own rows: collected while it runs
/// and flushed just before commit, so the per-organization audit head is
/// locked as briefly as possible and the rows go out in few round trips.
pub struct Work {
    pub tx: Tx,
    activity: Vec<ActivityRow>,
    audit: Vec<audit::PendingAudit>,
    outbox: Vec<OutboxRow>,
    /// In-app messages (see `notify.rs`).
    inbox: Vec<store::inbox::InboxRow>,
    timers: Vec<TimerRow>,
    /// Chat messages recorded as threads of tickets (see `chat.rs`).
    chat: Vec<store::chat::ChatMessageRow>,
    /// Files of tickets this transaction opened (see `attach_stored`).
    attachments: Vec<store::tickets::AttachmentRow>,
    /// Message-IDs of mail taken in (see `mail.rs`).
    mail_messages: Vec<store::mail::MailMessageRow>,
    events: Vec<events::TicketEvent>,
    created: Vec<(String, Channel)>,
    /// Set when outbox rows became due without being inserted (requeue).
    outbox_touched: bool,
    /// Webhook subscriptions read early by [`Work::prefetch_subscriptions`].
    subscriptions: Option<(Uuid, Vec<store::webhooks::WebhookRow>)>,
    /// SLA policies, escalation policies and enabled automation rules read
    /// early by [`Work::prefetch_for_open`], each used (once) instead of
    /// its read after the ticket counter is taken.
    sla_policies: Option<(Uuid, Vec<store::sla::PolicyRow>)>,
    escalation_policies: Option<(Uuid, Vec<store::sla::EscalationPolicyRow>)>,
    rules: Option<(Uuid, Vec<store::rules::RuleRow>)>,
    /// How this run takes ticket numbers, and the numbers it holds until
    /// the transaction ends; see [`Desk::number_ticket`].
    numbering: numbering::Mode,
    numbers: Vec<numbering::Hold>,
    /// The chat thread this change came from, if any (see `chat.rs`).
    chat_origin: Option<Value>,
    /// The organization whose CMDB this use case changed, if any; its
    /// generation is bumped at flush (see [`Work::cmdb_changed`]).
    cmdb_changed: Option<Uuid>,
}

/// Buffer lengths at a savepoint.
struct BufferMarks {
    activity: usize,
    audit: usize,
    outbox: usize,
    inbox: usize,
    timers: usize,
    chat: usize,
    attachments: usize,
    mail_messages: usize,
    events: usize,
    created: usize,
    numbers: usize,
}

impl Work {
    fn new(tx: Tx, numbering: numbering::Mode) -> Self {
        Self {
            tx,
            activity: Vec::new(),
            audit: Vec::new(),
            outbox: Vec::new(),
            inbox: Vec::new(),
            timers: Vec::new(),
            chat: Vec::new(),
            attachments: Vec::new(),
            mail_messages: Vec::new(),
            events: Vec::new(),
            created: Vec::new(),
            outbox_touched: false,
            subscriptions: None,
            sla_policies: None,
            escalation_policies: None,
            rules: None,
            numbering,
            numbers: Vec::new(),
            chat_origin: None,
            cmdb_changed: None,
        }
    }

    /// How full the buffers are, to undo a failed automation rule.
    fn buffer_marks(&self) -> BufferMarks {
        BufferMarks {
            activity: self.activity.len(),
            audit: self.audit.len(),
            outbox: self.outbox.len(),
            inbox: self.inbox.len(),
            timers: self.timers.len(),
            chat: self.chat.len(),
            attachments: self.attachments.len(),
            mail_messages: self.mail_messages.len(),
            events: self.events.len(),
            created: self.created.len(),
            numbers: self.numbers.len(),
        }
    }

    fn truncate_buffers(&mut self, marks: &BufferMarks) {
        self.activity.truncate(marks.activity);
        self.audit.truncate(marks.audit);
        self.outbox.truncate(marks.outbox);
        self.inbox.truncate(marks.inbox);
        self.timers.truncate(marks.timers);
        self.chat.truncate(marks.chat);
        self.attachments.truncate(marks.attachments);
        self.mail_messages.truncate(marks.mail_messages);
        self.events.truncate(marks.events);
        self.created.truncate(marks.created);
        // A number taken behind the savepoint went back with it.
        self.numbers.truncate(marks.numbers);
    }

    pub fn schedule(&mut self, timer: TimerRow) {
        self.timers.push(timer);
    }

    /// The predicted number's ticket row and lock are in: the next number
    /// may go on to COMMIT and wait there (see [`numbering`]).
    fn numbered(&mut self) {
        for hold in &self.numbers {
            if let numbering::Hold::Predicted(reservation) = hold {
                reservation.numbered();
            }
        }
    }

    /// Marks the organization's CMDB (CIs or relationships) as changed, so
    /// cached impact graphs are rebuilt once this transaction commits.
    pub(crate) fn cmdb_changed(&mut self, org_id: Uuid) {
        self.cmdb_changed = Some(org_id);
    }

    /// Writes the buffered rows and the audit chain; `inbound` is the
    /// intake record, written with them. A duplicate intake key fails with
    /// [`Flushed::Duplicate`] and leaves the transaction to be rolled back.
    async fn flush(
        &mut self,
        inbound: Option<&store::inbound::InboundRow>,
    ) -> Result<Flushed, DeskError> {
        events::fan_out(self).await?;
        if let Some(org_id) = self.cmdb_changed {
            // Late, like the audit head: the row stays locked until commit.
            store::cmdb::bump_cmdb_generation(&mut self.tx, org_id).await?;
        }
        let inbox = self.take_inbox();
        let mut pending = std::mem::take(&mut self.audit);
        let audit_org = pending.first().map(|p| p.org_id);
        let chain = match (&self.tx, audit_org) {
            (Tx::Postgres(_), Some(org_id)) => audit::chain_rows(&pending, org_id)?,
            _ => Vec::new(),
        };
        let mut predicted = self.numbers.iter_mut().find_map(|hold| match hold {
            numbering::Hold::Predicted(r) => Some(r),
            numbering::Hold::Locked { .. } => None,
        });
        let counter = predicted.as_ref().map(|r| store::flush::CounterMove {
            org_id: r.key().0,
            kind: r.key().1,
            number: r.number,
        });
        if let Some(reservation) = predicted.as_mut() {
            reservation.wait_turn().await;
        }
        let rows = store::flush::Buffers {
            inbound,
            activity: &self.activity,
            outbox: &self.outbox,
            inbox: &inbox,
            timers: &self.timers,
            chat: &self.chat,
            attachments: &self.attachments,
            mail_messages: &self.mail_messages,
            counter,
            audit: &chain,
        };
        let written = match store::flush::write_and_lock_head(&mut self.tx, rows, audit_org).await {
            Ok(written) => written,
            Err(error) if store::inbound::is_duplicate(&error) => return Ok(Flushed::Duplicate),
            Err(error) => return Err(error.into()),
        };
        if counter.is_some() && written.counter_moved == Some(false) {
            return Err(numbering::renumber());
        }
        let locked = match written.head {
            store::flush::AuditHead::Locked(seq, hash) => audit_org.map(|org| (org, (seq, hash))),
            // Staged for COMMIT; entries of other organizations (rare) lock
            // their own heads.
            store::flush::AuditHead::Staged => {
                pending.retain(|p| Some(p.org_id) != audit_org);
                None
            }
            store::flush::AuditHead::None => None,
        };
        audit::append(self, pending, locked).await?;
        Ok(Flushed::Written)
    }
}

/// How a flush ended.
enum Flushed {
    Written,
    /// Another attempt with the same intake key committed first.
    Duplicate,
}

impl Desk {
    pub fn new(db: Db, settings: DeskSettings, metrics: Arc<Metrics>) -> Self {
        Self {
            db,
            settings: Arc::new(settings),
            metrics,
            outbox_ready: Arc::new(Notify::new()),
            matrices: Arc::default(),
            tokens: Arc::default(),
            counters: Arc::default(),
            jwt: Arc::default(),
            impact_graphs: Arc::default(),
            clock: sla::Clock::default(),
            calendars: Arc::default(),
            templates: Arc::default(),
        }
    }

    /// Uses `templates` for messages (the configured directory's).
    pub fn with_templates(mut self, templates: crate::templates::Templates) -> Self {
        self.templates = Arc::new(templates);
        self
    }

    /// Takes the ticket counter of (organization, kind) for one new ticket
    /// and holds it until the transaction ends. Answers the predicted
    /// number in [`numbering::Mode::Predict`]; `None` in
    /// [`numbering::Mode::Lock`], where the caller increments the counter
    /// row itself as it inserts the ticket.
    ///
    /// A second ticket in a predicted run fails with [`numbering::Renumber`]
    /// and the use case runs again the plain way: one flush checks one
    /// counter, and two predictions of one counter in one transaction need
    /// not be consecutive. A counter whose prediction failed within the last
    /// second is taken the plain way too.
    pub(crate) async fn number_ticket(
        &self,
        work: &mut Work,
        org_id: Uuid,
        kind: &'static str,
    ) -> Result<Option<i64>, DeskError> {
        let key = (org_id, kind);
        match work.numbering {
            numbering::Mode::Predict if !self.counters.cooling(key) => {
                if !work.numbers.is_empty() {
                    return Err(numbering::renumber());
                }
                let reservation = self.counters.predict(key, &mut work.tx).await?;
                let number = reservation.number;
                work.numbers.push(numbering::Hold::Predicted(reservation));
                Ok(Some(number))
            }
            _ => {
                if !work.numbers.iter().any(|hold| hold.key() == key) {
                    let hold = self.counters.lock(key).await;
                    work.numbers.push(hold);
                }
                Ok(None)
            }
        }
    }

    /// Runs one use case in one transaction. With an `intake`, a repeat of
    /// the same key returns the first result and changes nothing.
    pub async fn run<T, F>(
        &self,
        intake: Option<&Intake>,
        use_case: F,
    ) -> Result<Outcome<T>, DeskError>
    where
        T: Serialize + Send,
        F: for<'w> FnOnce(&'w mut Work) -> BoxFuture<'w, Result<T, DeskError>> + Clone + Send,
    {
        let intake = intake.map(|i| (i, to_json::<T> as Record<T>));
        self.transact(intake, use_case).await
    }

    /// Like [`Desk::run`] without an intake key: always a fresh result.
    pub async fn execute<T, F>(&self, use_case: F) -> Result<T, DeskError>
    where
        T: Send,
        F: for<'w> FnOnce(&'w mut Work) -> BoxFuture<'w, Result<T, DeskError>> + Clone + Send,
    {
        match self.transact(None, use_case).await? {
            Outcome::Done(value) => Ok(value),
            Outcome::Replayed { .. } => Err(DeskError::Internal(anyhow::anyhow!(
                "replay without an intake key"
            ))),
        }
    }

    /// The one transaction of a use case; `intake` comes with the function
    /// that turns the result into what a replay answers. A run whose
    /// predicted ticket number failed rolls back and runs again with the
    /// counter locked (see [`numbering`]).
    async fn transact<T, F>(
        &self,
        intake: Option<(&Intake, Record<T>)>,
        use_case: F,
    ) -> Result<Outcome<T>, DeskError>
    where
        T: Send,
        F: for<'w> FnOnce(&'w mut Work) -> BoxFuture<'w, Result<T, DeskError>> + Clone + Send,
    {
        if let Db::Sqlite(_) = self.db {
            // One writer at a time: nothing to gain from predicting.
            return self
                .transact_once(intake, use_case, numbering::Mode::Lock)
                .await;
        }
        let first = self
            .transact_once(intake, use_case.clone(), numbering::Mode::Predict)
            .await;
        match first {
            Err(error) if numbering::retry_locked(&error) => {
                tracing::debug!(%error, "ticket number prediction failed; running the use case again");
                self.metrics.ticket_number_retried();
                self.transact_once(intake, use_case, numbering::Mode::Lock)
                    .await
            }
            outcome => outcome,
        }
    }

    async fn transact_once<T, F>(
        &self,
        intake: Option<(&Intake, Record<T>)>,
        use_case: F,
        numbering: numbering::Mode,
    ) -> Result<Outcome<T>, DeskError>
    where
        T: Send,
        F: for<'w> FnOnce(&'w mut Work) -> BoxFuture<'w, Result<T, DeskError>> + Send,
    {
        let mut work = Work::new(self.db.begin().await?, numbering);
        if let Some((intake, _)) = intake.filter(|(i, _)| !i.first_delivery) {
            if let Some(replay) = replay(&mut work.tx, intake).await? {
                return Ok(replay);
            }
        }
        let result = match use_case(&mut work).await {
            Ok(result) => result,
            Err(error) => {
                drop(work);
                // A first delivery was not checked before it ran: if it is a
                // repeat after all, refused by what its first run changed,
                // the first result stands.
                let repeat = match intake.filter(|(i, _)| i.first_delivery) {
                    Some((intake, _)) => replay(&mut self.db.begin().await?, intake).await?,
                    None => None,
                };
                return repeat.ok_or(error);
            }
        };
        if !work.events.is_empty() {
            self.automate(&mut work).await?;
            self.chat_fan_out(&mut work);
        }
        let inbound = match intake {
            Some((intake, record)) => Some(store::inbound::InboundRow {
                source: intake.source.clone(),
                key: intake.key.clone(),
                fingerprint: intake.fingerprint.clone(),
                status: i32::from(intake.status),
                response: sqlx::types::Json(record(&result).map_err(anyhow::Error::from)?),
                created_at: store::now(),
            }),
            None => None,
        };
        if let Flushed::Duplicate = work.flush(inbound.as_ref()).await? {
            // A concurrent first attempt committed meanwhile: ours rolls back.
            drop(work);
            let intake = intake.map(|(intake, _)| intake).ok_or_else(|| {
                DeskError::Internal(anyhow::anyhow!("a duplicate intake without an intake key"))
            })?;
            let mut tx = self.db.begin().await?;
            return replay(&mut tx, intake).await?.ok_or_else(|| {
                DeskError::Conflict(
                    "a request with this idempotency key is still in progress".into(),
                )
            });
        }
        let wrote_outbox = !work.outbox.is_empty() || work.outbox_touched;
        let created = std::mem::take(&mut work.created);
        // Held past COMMIT: the next prediction must see this number taken.
        let numbers = std::mem::take(&mut work.numbers);
        work.tx.commit().await?;
        numbers.into_iter().for_each(numbering::Hold::committed);
        for (kind, channel) in created {
            self.metrics.ticket_created(&kind, channel.as_str());
        }
        if wrote_outbox {
            self.outbox_ready.notify_one();
        }
        Ok(Outcome::Done(result))
    }

    /// The organization's priority matrix, cached briefly: it changes rarely
    /// and every ticket creation needs it.
    async fn priority_matrix(
        &self,
        tx: &mut Tx,
        org_id: Uuid,
    ) -> Result<Arc<PriorityMatrix>, DeskError> {
        const TTL: Duration = Duration::from_secs(30);
        if let Some((at, matrix)) = self.matrices.read().await.get(&org_id) {
            if at.elapsed() < TTL {
                return Ok(matrix.clone());
            }
        }
        let org = store::orgs::get_org(tx, org_id).await?;
        let matrix =
            Arc::new(PriorityMatrix::from_json(&org.priority_matrix.0).unwrap_or_default());
        self.matrices
            .write()
            .await
            .insert(org_id, (std::time::Instant::now(), matrix.clone()));
        Ok(matrix)
    }
}

async fn replay<T>(tx: &mut Tx, intake: &Intake) -> Result<Option<Outcome<T>>, DeskError> {
    let Some(previous) = store::inbound::find_inbound(tx, &intake.source, &intake.key).await?
    else {
        return Ok(None);
    };
    if previous.fingerprint != intake.fingerprint {
        return Err(DeskError::IdempotencyMismatch);
    }
    Ok(Some(Outcome::Replayed {
        status: u16::try_from(previous.status).unwrap_or(200),
        body: previous.response.0,
    }))
}

/// Turns a use case's result into what a replay of its intake answers.
type Record<T> = fn(&T) -> serde_json::Result<Value>;

fn to_json<T: Serialize>(value: &T) -> serde_json::Result<Value> {
    serde_json::to_value(value)
}

/// A new time-ordered id.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}
