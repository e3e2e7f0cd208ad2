//! The IMAP intake: one task per mailbox. Only the leader replica of a
//! mailbox reads it (a Postgres advisory lock; SQLite's single process
//! always leads). Each pass fetches the messages above the last UID stored
//! for the mailbox's UIDVALIDITY (`BODY.PEEK[]`, so nothing is marked read
//! by fetching), hands each to one desk use case keyed by its Message-ID,
//! and only after that committed marks it `\Seen` and moves the stored
//! position. Between passes it waits in IDLE where the server offers it,
//! else `email.poll_interval`; a dropped connection is retried with
//! exponential backoff. One failing mailbox never delays another.
//! With `processed_folder` set, committed messages are moved there (UID
//! MOVE, else UID COPY + `\Deleted` + expunge) after being flagged. With an
//! OAuth client configured, it signs in with XOAUTH2 and a refreshed token
//! (once more with a fresh token after a refusal).

use std::{
    collections::{HashMap, HashSet},
    fmt,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{anyhow, Context};
use async_imap::{Client, Session};
use futures::{StreamExt, TryStreamExt};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
};

use super::{oauth::TokenSource, parse};
use crate::{
    config::{EmailConfig, Mailbox},
    desk::{
        mail::{InboundMail, MailOutcome, MailboxMapping},
        Desk, DeskError,
    },
    domain::mail::{MailUrl, Protocol, Security},
    runtime::{self, Shutdown},
    store::{self, mail::Leader},
};

/// Messages fetched per `UID FETCH`.
const FETCH_BATCH: usize = 200;
/// Messages of one batch handled at the same time.
const CONCURRENCY: usize = 8;
/// Attempts at one message before it goes to the quarantine.
const MAX_MESSAGE_ATTEMPTS: u32 = 3;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// A connection, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> Io for T {}
type ImapSession = Session<Box<dyn Io>>;

pub struct MailboxWorker {
    desk: Desk,
    url: MailUrl,
    mapping: MailboxMapping,
    poll_interval: Duration,
    use_idle: bool,
    /// Failed attempts per UID in this process (poison messages).
    failures: Arc<Mutex<HashMap<u32, u32>>>,
    /// Where committed messages go; None: they stay, flagged `\Seen`.
    processed_folder: Option<String>,
    /// Set once the processed folder was created (or found).
    folder_ready: std::sync::atomic::AtomicBool,
    /// XOAUTH2 access tokens, when the mailbox has an OAuth client.
    oauth: Option<TokenSource>,
    fetch_batch: usize,
    concurrency: usize,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub processed: usize,
    /// The pass stopped early on a transient error; the rest waits.
    pub stopped_early: bool,
}

impl MailboxWorker {
    /// A worker for `mailbox`; the organization must exist.
    pub async fn new(desk: Desk, mailbox: &Mailbox, email: &EmailConfig) -> anyhow::Result<Self> {
        let url = MailUrl::parse(mailbox.imap_url.expose(), Protocol::Imap)
            .map_err(|e| anyhow!("email imap_url: {e}"))?;
        let (org, _) = desk.ensure_org(&mailbox.org).await.with_context(|| {
            format!(
                "organization `{}` of mailbox {}",
                mailbox.org,
                url.display_name()
            )
        })?;
        let mut own_addresses = Vec::new();
        if let Ok(from) = email.from.parse::<lettre::message::Mailbox>() {
            own_addresses.push(from.email.to_string().to_lowercase());
        }
        if url.user.contains('@') {
            own_addresses.push(url.user.to_lowercase());
        }
        let mapping = MailboxMapping {
            name: url.display_name(),
            org_id: org.id,
            kind: mailbox.kind.clone(),
            team: mailbox.team.clone(),
            category: mailbox.category.clone(),
            acknowledge: mailbox.acknowledge,
            create_requesters: mailbox.create_requesters,
            cc_watchers: email.cc_watchers,
            sender_rate_limit: email.sender_rate_limit,
            own_addresses,
        };
        let oauth = match &mailbox.oauth {
            Some(config) => Some(
                TokenSource::new(config, CONNECT_TIMEOUT, desk.db.clone())
                    .with_context(|| format!("OAuth of mailbox {}", url.display_name()))?,
            ),
            None => None,
        };
        Ok(Self {
            desk,
            url,
            mapping,
            poll_interval: Duration::from_secs(email.poll_interval.max(1)),
            use_idle: email.idle,
            failures: Arc::default(),
            processed_folder: mailbox.processed_folder.clone(),
            folder_ready: std::sync::atomic::AtomicBool::new(false),
            oauth,
            fetch_batch: FETCH_BATCH,
            concurrency: CONCURRENCY,
        })
    }

    /// Smaller batches or less concurrency than the defaults (tests use
    /// this to cross batch boundaries with a few messages).
    pub fn with_batches(mut self, fetch_batch: usize, concurrency: usize) -> Self {
        self.fetch_batch = fetch_batch.max(1);
        self.concurrency = concurrency.max(1);
        self
    }

    /// `user@host:port/folder`, for logs.
    pub fn name(&self) -> &str {
        &self.mapping.name
    }

    /// Connects, takes in everything new, logs out. Tests step with this.
    pub async fn poll_once(&self) -> anyhow::Result<Pass> {
        let mut session = match self.connect().await {
            Ok(session) => session,
            Err(e) => {
                self.note_poll(Some(&e)).await;
                return Err(e);
            }
        };
        let pass = self.take_in(&mut session).await;
        let _ = session.logout().await;
        self.note_poll(pass.as_ref().err()).await;
        pass
    }

    /// Records the check for the admins' connector view; a failure to
    /// record it is logged, never a reason to stop reading mail.
    async fn note_poll(&self, error: Option<&anyhow::Error>) {
        let error = error.map(|e| format!("{e:#}"));
        if let Err(e) = self.desk.mail_polled(&self.mapping, error.as_deref()).await {
            tracing::warn!(mailbox = %self.name(), error = %e, "could not record the mailbox check");
        }
    }

    /// Runs until shutdown: leader election, then passes separated by IDLE
    /// or the poll interval, reconnecting with backoff.
    pub async fn run(self, mut shutdown: Shutdown) {
        let mut backoff = Duration::from_secs(1);
        let mut alerted = false;
        let lock_name = format!("imap:{}", self.mapping.name);
        while !*shutdown.borrow() {
            let mut leader = match Leader::try_acquire(&self.desk.db, &lock_name).await {
                Ok(Some(leader)) => leader,
                Ok(None) => {
                    tracing::debug!(mailbox = %self.name(), "another replica reads this mailbox");
                    runtime::idle(&mut shutdown, None, self.poll_interval).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(mailbox = %self.name(), error = %e, "leader election failed");
                    runtime::idle(&mut shutdown, None, backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            match self
                .session_loop(&mut leader, &mut shutdown, &mut alerted)
                .await
            {
                Ok(()) => backoff = Duration::from_secs(1),
                Err(e) => {
                    self.note_poll(Some(&e)).await;
                    let auth = e.downcast_ref::<AuthFailed>().is_some();
                    self.desk
                        .metrics
                        .mail_error(if auth { "auth" } else { "connect" });
                    if auth {
                        tracing::error!(mailbox = %self.name(), error = %format!("{e:#}"), retry_in = ?backoff, "mailbox authentication failed");
                        if !alerted {
                            alerted = true;
                            let notified = self
                                .desk
                                .mail_auth_failed(
                                    self.mapping.org_id,
                                    self.name(),
                                    &format!("{e:#}"),
                                )
                                .await;
                            if let Err(e) = notified {
                                tracing::error!(mailbox = %self.name(), error = %e, "could not notify the admins");
                            }
                        }
                    } else {
                        tracing::warn!(mailbox = %self.name(), error = %format!("{e:#}"), retry_in = ?backoff, "mailbox connection failed; reconnecting");
                    }
                    leader.release().await;
                    runtime::idle(&mut shutdown, None, backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
            leader.release().await;
        }
        tracing::info!(mailbox = %self.name(), "mail intake stopped");
    }

    /// One connection's life: passes until shutdown or an error.
    async fn session_loop(
        &self,
        leader: &mut Leader,
        shutdown: &mut Shutdown,
        alerted: &mut bool,
    ) -> anyhow::Result<()> {
        let mut session = self.connect().await?;
        // Signed in: a failure streak (ours, or before a restart or on
        // another replica) is over, and the next one alerts again.
        *alerted = false;
        if let Err(e) = self
            .desk
            .mailbox_signed_in(self.mapping.org_id, self.name())
            .await
        {
            tracing::warn!(mailbox = %self.name(), error = %e, "could not end the sign-in failure streak");
        }
        let idle = self.use_idle
            && session
                .capabilities()
                .await
                .map(|c| c.has_str("IDLE"))
                .unwrap_or(false);
        tracing::info!(mailbox = %self.name(), idle, "mail intake connected");
        loop {
            if *shutdown.borrow() {
                let _ = session.logout().await;
                return Ok(());
            }
            if !leader.still_leading().await {
                let _ = session.logout().await;
                return Err(anyhow!("lost the leader lock's database session"));
            }
            let pass = self.take_in(&mut session).await?;
            self.note_poll(None).await;
            if pass.processed > 0 || pass.stopped_early {
                if pass.stopped_early {
                    runtime::idle(shutdown, None, Duration::from_secs(1)).await;
                }
                continue;
            }
            if idle {
                session = self.wait_idle(session, shutdown).await?;
            } else {
                runtime::idle(shutdown, None, self.poll_interval).await;
                // Keeps the connection alive and notices a dropped one.
                session.noop().await.context("NOOP")?;
            }
        }
    }

    /// Waits in IDLE until the server reports a change, the poll interval
    /// passes or shutdown is signalled.
    async fn wait_idle(
        &self,
        session: ImapSession,
        shutdown: &mut Shutdown,
    ) -> anyhow::Result<ImapSession> {
        let mut handle = session.idle();
        handle.init().await.context("IDLE")?;
        {
            let (wait, stop) = handle.wait_with_timeout(self.poll_interval);
            tokio::select! {
                result = wait => { result.context("waiting in IDLE")?; }
                _ = shutdown.changed() => { drop(stop); }
            }
        }
        handle.done().await.context("ending IDLE")
    }

    async fn connect(&self) -> anyhow::Result<ImapSession> {
        let url = &self.url;
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((url.host.as_str(), url.port)),
        )
        .await
        .map_err(|_| anyhow!("connecting to {}:{} timed out", url.host, url.port))?
        .with_context(|| format!("connecting to {}:{}", url.host, url.port))?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Io> = match url.security {
            Security::Plain => Box::new(tcp),
            Security::Tls => Box::new(runtime::tls::connect(&url.host, tcp).await?),
            Security::StartTls => {
                let mut client = Client::new(tcp);
                client
                    .read_response()
                    .await
                    .context("reading the IMAP greeting")?;
                client
                    .run_command_and_check_ok("STARTTLS", None)
                    .await
                    .context("STARTTLS")?;
                Box::new(runtime::tls::connect(&url.host, client.into_inner()).await?)
            }
        };
        let mut client = Client::new(stream);
        if url.security != Security::StartTls {
            client
                .read_response()
                .await
                .context("reading the IMAP greeting")?
                .ok_or_else(|| anyhow!("the server closed the connection before its greeting"))?;
        }
        let session = if let Some(oauth) = &self.oauth {
            self.oauth_sign_in(client, oauth).await?
        } else if url.xoauth2 {
            let auth = XOAuth2 {
                user: url.user.clone(),
                token: url.password.clone(),
            };
            client
                .authenticate("XOAUTH2", auth)
                .await
                .map_err(|(e, _)| AuthFailed(format!("XOAUTH2 as {}: {e}", url.user)))?
        } else {
            client
                .login(&url.user, &url.password)
                .await
                .map_err(|(e, _)| AuthFailed(format!("login as {}: {e}", url.user)))?
        };
        Ok(session)
    }

    /// Fetches and takes in every message above the stored position. Batch
    /// `k + 1` is fetched while batch `k` is taken in (one connection, one
    /// command at a time); the position then moves over batch `k`'s
    /// committed prefix before anything of batch `k + 1` is considered.
    async fn take_in(&self, session: &mut ImapSession) -> anyhow::Result<Pass> {
        let folder = session
            .select(&self.url.folder)
            .await
            .with_context(|| format!("selecting folder {}", self.url.folder))?;
        let validity = i64::from(folder.uid_validity.unwrap_or(0));
        let db = &self.desk.db;
        let mut last = match store::mail::get_cursor(db, &self.mapping.name).await? {
            Some((v, last)) if v == validity => last,
            Some((v, _)) => {
                tracing::warn!(mailbox = %self.name(), old = v, new = validity, "UIDVALIDITY changed; reading the folder again (known Message-IDs are skipped)");
                store::mail::save_cursor(db, &self.mapping.name, validity, 0).await?;
                0
            }
            None => 0,
        };
        let mut pass = Pass::default();
        loop {
            let found: HashSet<u32> = session
                .uid_search(format!("UID {}:*", last + 1))
                .await
                .context("UID SEARCH")?;
            let mut uids: Vec<u32> = found.into_iter().filter(|u| i64::from(*u) > last).collect();
            if uids.is_empty() {
                return Ok(pass);
            }
            uids.sort_unstable();
            let chunks: Vec<&[u32]> = uids.chunks(self.fetch_batch).collect();
            let mut next = match chunks.first() {
                Some(first) => Some(fetch(session, first).await),
                None => None,
            };
            for (k, chunk) in chunks.iter().enumerate() {
                let messages = match next.take() {
                    Some(fetched) => fetched?,
                    None => Vec::new(),
                };
                let ingest = self.ingest_batch(messages);
                let done = match chunks.get(k + 1) {
                    Some(following) => {
                        let (done, fetched) = tokio::join!(ingest, fetch(session, following));
                        next = Some(fetched);
                        done
                    }
                    None => ingest.await,
                };
                // Only a gap-free prefix counts: the position never passes a
                // message that is not committed.
                let committed: Vec<u32> = chunk
                    .iter()
                    .copied()
                    .take_while(|uid| done.contains(uid))
                    .collect();
                let stopped_early = committed.len() < chunk.len();
                if let Some(&max) = committed.last() {
                    let seen = committed
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(",");
                    session
                        .uid_store(&seen, "+FLAGS.SILENT (\\Seen)")
                        .await
                        .context("UID STORE \\Seen")?
                        .try_collect::<Vec<_>>()
                        .await
                        .context("UID STORE \\Seen")?;
                    self.move_processed(session, &seen).await?;
                    last = i64::from(max);
                    store::mail::save_cursor(db, &self.mapping.name, validity, last).await?;
                    pass.processed += committed.len();
                }
                if stopped_early {
                    // What was fetched ahead is fetched again next pass.
                    pass.stopped_early = true;
                    return Ok(pass);
                }
            }
        }
    }

    /// Takes in a batch, up to `concurrency` messages at a time, in an
    /// order that keeps what depends on order: one sender's messages go one
    /// after the other (so the rate limit counts each), and a message that
    /// answers another one of the batch waits for it. A message whose
    /// predecessor did not commit is left for the next pass (the position
    /// stops before the predecessor anyway). Returns the UIDs that committed.
    async fn ingest_batch(&self, messages: Vec<(u32, Vec<u8>)>) -> HashSet<u32> {
        // Parsing is CPU work: on a blocking thread, not the runtime's.
        let own = self.mapping.own_addresses.clone();
        let parsing = tokio::task::spawn_blocking(move || {
            messages
                .into_iter()
                .map(|(uid, raw)| parse::parse(uid, raw, &own))
                .collect::<Vec<InboundMail>>()
        });
        let parsed = match parsing.await {
            Ok(parsed) => parsed,
            Err(error) => {
                tracing::error!(mailbox = %self.name(), %error, "parsing a batch failed; it is read again next pass");
                return HashSet::new();
            }
        };
        let taker = Taker {
            desk: self.desk.clone(),
            mapping: self.mapping.clone(),
            failures: self.failures.clone(),
        };
        let plan = Plan::of(&parsed);
        let mut waiting = plan.waiting_on;
        let mut blocked = vec![false; parsed.len()];
        let mut slots: Vec<Option<InboundMail>> = parsed.into_iter().map(Some).collect();
        let mut ready: std::collections::VecDeque<usize> =
            (0..slots.len()).filter(|i| waiting[*i] == 0).collect();
        let mut running = futures::stream::FuturesUnordered::new();
        let mut done = HashSet::new();
        loop {
            while running.len() < self.concurrency {
                let Some(i) = ready.pop_front() else { break };
                let Some(mail) = slots[i].take() else {
                    continue;
                };
                if blocked[i] {
                    // Not attempted: its dependents wait for a later pass too.
                    for &d in &plan.dependents[i] {
                        blocked[d] = true;
                        waiting[d] -= 1;
                        if waiting[d] == 0 {
                            ready.push_back(d);
                        }
                    }
                    continue;
                }
                let uid = mail.uid;
                let task = tokio::spawn(taker.clone().ingest(mail));
                running.push(async move {
                    // A task that panicked did not commit.
                    (i, uid, task.await.unwrap_or(false))
                });
            }
            let Some((i, uid, committed)) = running.next().await else {
                break;
            };
            if committed {
                done.insert(uid);
            }
            for &d in &plan.dependents[i] {
                blocked[d] |= !committed;
                waiting[d] -= 1;
                if waiting[d] == 0 {
                    ready.push_back(d);
                }
            }
        }
        done
    }

    /// XOAUTH2 with the token source's access token; a refusal is tried
    /// once more with a freshly refreshed token. A failed refresh is an
    /// authentication failure too (it raises the same alert).
    async fn oauth_sign_in(
        &self,
        client: Client<Box<dyn Io>>,
        oauth: &TokenSource,
    ) -> anyhow::Result<ImapSession> {
        let user = self.url.user.clone();
        let token = oauth
            .access_token()
            .await
            .map_err(|e| AuthFailed(e.to_string()))?;
        let auth = XOAuth2 {
            user: user.clone(),
            token,
        };
        match client.authenticate("XOAUTH2", auth).await {
            Ok(session) => Ok(session),
            Err((first, client)) => {
                tracing::info!(mailbox = %self.name(), error = %first, "XOAUTH2 refused; refreshing the token once");
                oauth.invalidate().await;
                let token = oauth
                    .access_token()
                    .await
                    .map_err(|e| AuthFailed(e.to_string()))?;
                let auth = XOAuth2 {
                    user: user.clone(),
                    token,
                };
                client
                    .authenticate("XOAUTH2", auth)
                    .await
                    .map_err(|(e, _)| AuthFailed(format!("XOAUTH2 as {user}: {e}")).into())
            }
        }
    }

    /// Moves committed messages (`uids`, a UID set) to the processed
    /// folder, creating it the first time. Without MOVE: COPY, flag
    /// `\Deleted`, and expunge just those (UID EXPUNGE with UIDPLUS).
    async fn move_processed(&self, session: &mut ImapSession, uids: &str) -> anyhow::Result<()> {
        use std::sync::atomic::Ordering;
        let Some(folder) = &self.processed_folder else {
            return Ok(());
        };
        if !self.folder_ready.load(Ordering::Relaxed) {
            // "Already exists" is the usual answer; a real problem shows in the move.
            if let Err(e) = session.create(folder).await {
                tracing::debug!(mailbox = %self.name(), folder, error = %e, "CREATE of the processed folder");
            }
            self.folder_ready.store(true, Ordering::Relaxed);
        }
        let caps = session.capabilities().await.context("CAPABILITY")?;
        if caps.has_str("MOVE") {
            return session
                .uid_mv(uids, folder)
                .await
                .with_context(|| format!("UID MOVE to {folder}"));
        }
        session
            .uid_copy(uids, folder)
            .await
            .with_context(|| format!("UID COPY to {folder}"))?;
        session
            .uid_store(uids, "+FLAGS.SILENT (\\Deleted)")
            .await
            .context("UID STORE \\Deleted")?
            .try_collect::<Vec<_>>()
            .await
            .context("UID STORE \\Deleted")?;
        if caps.has_str("UIDPLUS") {
            session
                .uid_expunge(uids)
                .await
                .context("UID EXPUNGE")?
                .try_collect::<Vec<_>>()
                .await
                .context("UID EXPUNGE")?;
        } else {
            session
                .expunge()
                .await
                .context("EXPUNGE")?
                .try_collect::<Vec<_>>()
                .await
                .context("EXPUNGE")?;
        }
        Ok(())
    }
}

/// What taking in one message needs, cloned into each message's task: the
/// messages of a batch then run on all of the runtime's threads, and a
/// transaction holding the ticket counter is not kept waiting behind
/// another message's parsing and hashing on the same thread.
#[derive(Clone)]
struct Taker {
    desk: Desk,
    mapping: MailboxMapping,
    failures: Arc<Mutex<HashMap<u32, u32>>>,
}

impl Taker {
    fn name(&self) -> &str {
        &self.mapping.name
    }

    /// One message through its use case; true once it is committed (taken
    /// in or quarantined). A transient failure leaves it for the next pass;
    /// one that keeps failing is quarantined.
    async fn ingest(self, mail: InboundMail) -> bool {
        let uid = mail.uid;
        let copy = mail.clone();
        let result = self.desk.receive_mail(&self.mapping, mail).await;
        let reason = match result {
            Ok(outcome) => {
                self.record(uid, &outcome);
                return true;
            }
            Err(DeskError::Store(e)) => {
                let attempts = self.note_failure(uid);
                tracing::warn!(mailbox = %self.name(), uid, attempts, error = %e, "mail not taken in; will retry");
                if attempts < MAX_MESSAGE_ATTEMPTS {
                    return false;
                }
                format!("failed {attempts} times: database error")
            }
            Err(DeskError::Internal(e)) => {
                let attempts = self.note_failure(uid);
                tracing::warn!(mailbox = %self.name(), uid, attempts, error = %format!("{e:#}"), "mail not taken in; will retry");
                if attempts < MAX_MESSAGE_ATTEMPTS {
                    return false;
                }
                format!("failed {attempts} times: {e:#}")
            }
            Err(refused) => refused.to_string(),
        };
        self.desk.metrics.mail_error("process");
        match self.desk.quarantine_mail(&self.mapping, copy, reason).await {
            Ok(outcome) => {
                self.record(uid, &outcome);
                true
            }
            Err(e) => {
                tracing::error!(mailbox = %self.name(), uid, error = %e, "mail could not even be quarantined; will retry");
                false
            }
        }
    }

    fn note_failure(&self, uid: u32) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = failures.entry(uid).or_default();
        *n += 1;
        *n
    }

    fn record(&self, uid: u32, outcome: &MailOutcome) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&uid);
        self.desk.metrics.mail_received(&outcome.action);
        tracing::debug!(mailbox = %self.name(), uid, action = %outcome.action, ticket = ?outcome.ticket, "mail taken in");
    }
}

/// The messages of `uids` that are still there, in UID order.
async fn fetch(session: &mut ImapSession, uids: &[u32]) -> anyhow::Result<Vec<(u32, Vec<u8>)>> {
    let set = uids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let fetched: Vec<(u32, Vec<u8>)> = session
        .uid_fetch(&set, "(UID BODY.PEEK[])")
        .await
        .context("UID FETCH")?
        .try_filter_map(|f| async move {
            Ok(f.uid
                .map(|uid| (uid, f.body().unwrap_or_default().to_vec())))
        })
        .try_collect()
        .await
        .context("reading fetched messages")?;
    let mut by_uid: HashMap<u32, Vec<u8>> = fetched.into_iter().collect();
    // A UID that vanished (expunged meanwhile) has nothing to take in.
    Ok(uids
        .iter()
        .filter_map(|uid| by_uid.remove(uid).map(|raw| (*uid, raw)))
        .collect())
}

/// The order a batch must keep: message `i` starts once the `waiting_on[i]`
/// messages it depends on have finished; `dependents[i]` are those waiting
/// for it.
#[derive(Debug)]
struct Plan {
    waiting_on: Vec<usize>,
    dependents: Vec<Vec<usize>>,
}

impl Plan {
    /// One sender's messages in UID order; a reply after the message of the
    /// batch it answers (also one with a higher UID, unless such answers
    /// form a cycle — then only earlier messages count).
    fn of(mails: &[InboundMail]) -> Self {
        let mut ids: HashMap<&str, usize> = HashMap::new();
        for (i, mail) in mails.iter().enumerate() {
            if let Some(id) = &mail.message_id {
                ids.entry(id.as_str()).or_insert(i);
            }
        }
        let mut edges: Vec<(usize, usize)> = Vec::new();
        let mut last_of_sender: HashMap<String, usize> = HashMap::new();
        for (i, mail) in mails.iter().enumerate() {
            let sender = mail
                .from_address
                .as_deref()
                .unwrap_or_default()
                .to_lowercase();
            if let Some(previous) = last_of_sender.insert(sender, i) {
                edges.push((previous, i));
            }
            for answered in mail.in_reply_to.iter().chain(mail.references.iter()) {
                if let Some(&j) = ids.get(answered.as_str()) {
                    if j != i {
                        edges.push((j, i));
                    }
                }
            }
        }
        edges.sort_unstable();
        edges.dedup();
        let plan = Self::from_edges(mails.len(), &edges);
        if plan.is_acyclic() {
            return plan;
        }
        edges.retain(|(before, after)| before < after);
        Self::from_edges(mails.len(), &edges)
    }

    fn from_edges(n: usize, edges: &[(usize, usize)]) -> Self {
        let mut plan = Plan {
            waiting_on: vec![0; n],
            dependents: vec![Vec::new(); n],
        };
        for &(before, after) in edges {
            plan.waiting_on[after] += 1;
            plan.dependents[before].push(after);
        }
        plan
    }

    fn is_acyclic(&self) -> bool {
        let mut waiting = self.waiting_on.clone();
        let mut ready: Vec<usize> = (0..waiting.len()).filter(|i| waiting[*i] == 0).collect();
        let mut finished = 0;
        while let Some(i) = ready.pop() {
            finished += 1;
            for &d in &self.dependents[i] {
                waiting[d] -= 1;
                if waiting[d] == 0 {
                    ready.push(d);
                }
            }
        }
        finished == waiting.len()
    }
}

/// The server refused our credentials (as opposed to a network failure).
#[derive(Debug, thiserror::Error)]
#[error("authentication failed: {0}")]
struct AuthFailed(String);

/// SASL XOAUTH2: the user and an OAuth 2.0 bearer token.
struct XOAuth2 {
    user: String,
    token: String,
}

impl async_imap::Authenticator for XOAuth2 {
    type Response = String;

    fn process(&mut self, challenge: &[u8]) -> Self::Response {
        if challenge.is_empty() {
            format!("user={}\x01auth=Bearer {}\x01\x01", self.user, self.token)
        } else {
            // After a refusal the server sends its error as a challenge;
            // an empty answer ends the exchange (RFC 7628 / XOAUTH2).
            String::new()
        }
    }
}
