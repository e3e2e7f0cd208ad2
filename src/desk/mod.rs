//! Application services: one function per use case. Each runs in ONE
//! transaction through [`Desk::run`]: check permission, apply the domain
//! rule, write state + activity + audit event + outbox rows + timers, commit.
//! Channels (HTTP API, chat, email) and workers call in here; nothing here
//! knows about HTTP. May import `domain`, `store`, `templates`, `metrics`
//! and `config`; never `http`, `channels`, `workers`, `runtime`, `app`,
//! `console` or `cli` (`tests/tidy.rs` checks).
//!
//! Among themselves the desk modules import without cycles: what several
//! use cases share lives in leaf modules (`people`, `teams`, `tokens`,
//! `orgs`, `views`, `files`, `throttle`, `access`), and an effect one
//! feature has on another's writes goes through a `Desk` hook method the
//! other feature implements (`sla_on_*`, `mail_on_public_comment`), not
//! through an import.

pub mod access;
pub mod alerts;
pub mod approval_links;
pub mod approvals;
pub mod assignment;
mod audit;
pub mod auth;
pub mod automation;
pub mod availability;
pub mod catalog;
pub mod categories;
pub mod changes;
pub mod chat;
pub mod chat_actions;
pub mod chat_commands;
pub mod chat_reports;
pub mod cmdb;
pub mod error;
pub mod escalation;
pub mod events;
pub mod files;
pub mod identity;
pub mod incidents;
pub mod integrations;
pub mod macros;
pub mod mail;
mod mail_alerts;
pub mod mailboxes;
pub mod notify;
mod numbering;
pub mod orgs;
pub mod outbox;
pub mod people;
pub mod problems;
pub mod reports;
mod scheduled_reports;
pub mod schedules;
pub mod scim;
pub mod sla;
pub mod teams;
mod throttle;
pub mod tickets;
pub mod timers;
pub mod tokens;
pub mod views;
pub mod webhooks;

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{Notify, RwLock};
use uuid::Uuid;

pub use crate::domain::id::new_id;
pub use access::Actor;
pub use audit::verify as audit_verify;
pub use error::DeskError;
pub use scheduled_reports::{outbox_files, OutboxFile, REPORT_EVENT};

use crate::{
    domain::{Channel, PriorityMatrix},
    metrics::Metrics,
    store::{self, activity::ActivityRow, outbox::OutboxRow, timers::TimerRow, Db, Tx},
};

/// Settings the use cases need, taken from the configuration at start.
#[derive(Debug, Clone)]
pub struct DeskSettings {
    /// Where attachment content lives (`[storage] backend`).
    pub blobs: store::blobs::Blobs,
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
    /// Tickets changed by committed use cases of this process, for live
    /// views (the console's queue); see [`events::TicketChanged`].
    pub changes: tokio::sync::broadcast::Sender<events::TicketChanged>,
    matrices: Arc<RwLock<MatrixCache>>,
    /// Recently seen API tokens by hash; see [`tokens::TOKEN_CACHE_TTL`].
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
    /// Alert events per integration this minute; see [`integrations`].
    alert_rates: Arc<integrations::AlertRates>,
    /// Single sign-on providers' discovery documents and keys, cached.
    oidc: Arc<auth::oidc::Providers>,
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

/// One use case's transaction and what it leaves for the end: collected
/// while it runs and flushed just before commit, so the per-organization
/// audit head is locked as briefly as possible and the rows go out in few
/// round trips.
pub struct Work {
    pub tx: Tx,
    /// What a savepoint must undo along with the transaction.
    buffers: Buffers,
    /// Set when outbox rows became due without being inserted (requeue).
    outbox_touched: bool,
    /// What a new ticket read of its organization before taking its number
    /// (see [`Work::prefetch_for_open`]).
    prefetched: Option<Prefetched>,
    /// How this run takes ticket numbers (see [`Desk::number_ticket`]).
    numbering: numbering::Mode,
    /// The chat thread this change came from, if any (see `chat.rs`).
    chat_origin: Option<Value>,
    /// The organization whose CMDB this use case changed, if any; its
    /// generation is bumped at flush (see [`Work::cmdb_changed`]).
    cmdb_changed: Option<Uuid>,
}

/// The writes a use case buffers for its flush, and what goes with them:
/// everything a failed automation rule or mail command, rolled back to its
/// savepoint, must take back too.
#[derive(Default)]
struct Buffers {
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
    /// Tickets opened (kind, channel), counted once committed.
    created: Vec<(String, Channel)>,
    /// Ticket numbers this run holds until the transaction ends; one taken
    /// behind a savepoint goes back with it.
    numbers: Vec<numbering::Hold>,
}

/// How many buffers [`Buffers`] has.
const BUFFERS: usize = 11;

/// The buffers' lengths at a savepoint, in the order of [`Buffers::each`].
pub(crate) struct Marks([usize; BUFFERS]);

/// One buffer as a savepoint sees it.
trait Buffer {
    fn len(&self) -> usize;
    fn truncate(&mut self, len: usize);
}

impl<T> Buffer for Vec<T> {
    fn len(&self) -> usize {
        Vec::len(self)
    }

    fn truncate(&mut self, len: usize) {
        Vec::truncate(self, len);
    }
}

impl Buffers {
    /// Every buffer, in one order. The pattern names each field (no `..`):
    /// a buffer added to the struct but not here does not compile, and one
    /// named but not listed is an unused variable.
    fn each(&mut self) -> [&mut dyn Buffer; BUFFERS] {
        let Buffers {
            activity,
            audit,
            outbox,
            inbox,
            timers,
            chat,
            attachments,
            mail_messages,
            events,
            created,
            numbers,
        } = self;
        [
            activity,
            audit,
            outbox,
            inbox,
            timers,
            chat,
            attachments,
            mail_messages,
            events,
            created,
            numbers,
        ]
    }

    /// How full the buffers are, to undo what follows behind a savepoint.
    pub(crate) fn marks(&mut self) -> Marks {
        Marks(self.each().map(|buffer| buffer.len()))
    }

    /// Back to `marks`, after rolling back to the savepoint taken with them.
    pub(crate) fn truncate(&mut self, marks: &Marks) {
        for (buffer, len) in self.each().into_iter().zip(marks.0) {
            buffer.truncate(len);
        }
    }
}

/// What opening a ticket reads of its organization before it takes a
/// number (`store::setup`, one statement on Postgres): each list is used
/// once, for that organization, in place of its own read later — by the
/// SLA and escalation hooks, automation and the webhook fan-out.
struct Prefetched {
    org_id: Uuid,
    webhooks: Option<Vec<store::webhooks::WebhookRow>>,
    sla_policies: Option<Vec<store::sla::PolicyRow>>,
    escalation_policies: Option<Vec<store::sla::EscalationPolicyRow>>,
    rules: Option<Vec<store::rules::RuleRow>>,
}

impl Work {
    fn new(tx: Tx, numbering: numbering::Mode) -> Self {
        Self {
            tx,
            buffers: Buffers::default(),
            outbox_touched: false,
            prefetched: None,
            numbering,
            chat_origin: None,
            cmdb_changed: None,
        }
    }

    pub fn schedule(&mut self, timer: TimerRow) {
        self.buffers.timers.push(timer);
    }

    /// Reads, before a new ticket takes its number, what its creation
    /// reads once it holds the number: webhook subscriptions (for the
    /// event), SLA and escalation policies (clocks on open) and enabled
    /// automation rules (run at flush). Same transaction, only earlier:
    /// every round trip while the number is held is one that the next
    /// creation of the kind waits for.
    pub(crate) async fn prefetch_for_open(&mut self, org_id: Uuid) -> Result<(), DeskError> {
        let setup = store::setup::read_open_setup(&mut self.tx, org_id).await?;
        self.prefetched = Some(Prefetched {
            org_id,
            webhooks: Some(setup.webhooks),
            sla_policies: Some(setup.sla_policies),
            escalation_policies: Some(setup.escalation_policies),
            rules: Some(setup.rules),
        });
        Ok(())
    }

    /// One list of [`Work::prefetch_for_open`], if read for `org_id` and not
    /// taken yet.
    fn take_prefetched<T>(
        &mut self,
        org_id: Uuid,
        list: impl FnOnce(&mut Prefetched) -> &mut Option<T>,
    ) -> Option<T> {
        let prefetched = self.prefetched.as_mut().filter(|p| p.org_id == org_id)?;
        list(prefetched).take()
    }

    /// Active webhook subscriptions read by [`Work::prefetch_for_open`].
    pub(crate) fn take_webhooks(
        &mut self,
        org_id: Uuid,
    ) -> Option<Vec<store::webhooks::WebhookRow>> {
        self.take_prefetched(org_id, |p| &mut p.webhooks)
    }

    /// SLA policies read by [`Work::prefetch_for_open`].
    pub(crate) fn take_sla_policies(&mut self, org_id: Uuid) -> Option<Vec<store::sla::PolicyRow>> {
        self.take_prefetched(org_id, |p| &mut p.sla_policies)
    }

    /// Escalation policies read by [`Work::prefetch_for_open`].
    pub(crate) fn take_escalation_policies(
        &mut self,
        org_id: Uuid,
    ) -> Option<Vec<store::sla::EscalationPolicyRow>> {
        self.take_prefetched(org_id, |p| &mut p.escalation_policies)
    }

    /// Enabled automation rules read by [`Work::prefetch_for_open`].
    pub(crate) fn take_rules(&mut self, org_id: Uuid) -> Option<Vec<store::rules::RuleRow>> {
        self.take_prefetched(org_id, |p| &mut p.rules)
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
        let mut pending = std::mem::take(&mut self.buffers.audit);
        let audit_org = pending.first().map(|p| p.org_id);
        let chain = match (&self.tx, audit_org) {
            (Tx::Postgres(_), Some(org_id)) => audit::chain_rows(&pending, org_id),
            _ => Vec::new(),
        };
        let counter = self.predicted_counter().await;
        let buffers = &self.buffers;
        let rows = store::flush::Buffers {
            inbound,
            activity: &buffers.activity,
            outbox: &buffers.outbox,
            inbox: &inbox,
            timers: &buffers.timers,
            chat: &buffers.chat,
            attachments: &buffers.attachments,
            mail_messages: &buffers.mail_messages,
            counter,
            audit: &chain,
        };
        let head = match store::flush::write_and_lock_head(&mut self.tx, rows, audit_org).await {
            Ok(head) => head,
            Err(error) if store::inbound::is_duplicate(&error) => return Ok(Flushed::Duplicate),
            Err(error) => return Err(error.into()),
        };
        let locked = match head {
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
            changes: tokio::sync::broadcast::channel(events::CHANGES_BUFFER).0,
            matrices: Arc::default(),
            tokens: Arc::default(),
            counters: Arc::default(),
            jwt: Arc::default(),
            impact_graphs: Arc::default(),
            clock: sla::Clock::default(),
            calendars: Arc::default(),
            templates: Arc::default(),
            alert_rates: Arc::default(),
            oidc: Arc::default(),
        }
    }

    /// Uses `templates` for messages (the configured directory's).
    pub fn with_templates(mut self, templates: crate::templates::Templates) -> Self {
        self.templates = Arc::new(templates);
        self
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
        let last = if let Db::Sqlite(_) = self.db {
            // One writer at a time: nothing to gain from predicting.
            self.transact_once(intake, use_case, numbering::Mode::Lock)
                .await
        } else {
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
        };
        // With the counter locked nothing predicts, so nothing asks for a
        // re-run; should something all the same, it is an internal error
        // like any other, never a refusal.
        last.map_err(|error| match error {
            DeskError::Retry(why) => DeskError::Internal(anyhow::anyhow!(
                "a ticket number failed with the counter locked: {why}"
            )),
            other => other,
        })
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
        if !work.buffers.events.is_empty() {
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
        let changed = events::changed(&work, &self.changes);
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
        let wrote_outbox = !work.buffers.outbox.is_empty() || work.outbox_touched;
        let created = std::mem::take(&mut work.buffers.created);
        // Held past COMMIT: the next prediction must see this number taken.
        let numbers = std::mem::take(&mut work.buffers.numbers);
        work.tx.commit().await?;
        numbers.into_iter().for_each(numbering::Hold::committed);
        for (kind, channel) in created {
            self.metrics.ticket_created(&kind, channel.as_str());
        }
        if wrote_outbox {
            self.outbox_ready.notify_one();
        }
        for change in changed {
            // No live view listening is no error.
            let _ = self.changes.send(change);
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
