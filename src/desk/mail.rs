//! Email intake: one use case per received message ([`Desk::receive_mail`]),
//! in one transaction keyed by its Message-ID, so a message fetched twice
//! changes nothing the second time.
//!
//! A message becomes a comment when its `In-Reply-To` / `References` name a
//! message of a ticket, or its subject carries a ticket token and the sender
//! takes part in that ticket; otherwise it opens a ticket, acknowledged to
//! the sender (threaded to the original) unless the message is automatic,
//! bulk, from a list or a daemon. Bounces are recorded against the outbox
//! message they refer to. Senders over the rate limit, senders unknown to a
//! mailbox that does not create requesters, and messages that cannot be
//! read are kept in the quarantine with the reason — never dropped.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    identity::{Contact, IdentityKey},
    new_id,
    tickets::{OpenTicket, StoredFile},
    views::TicketView,
    Actor, Desk, DeskError, Intake, Outcome, Work,
};
use crate::{
    domain::{
        mail::{self as rules, MailCommand, NoReply},
        Channel,
    },
    store::{self, mail::QuarantineRow, outbox::OutboxRow, tickets::TicketRow, Exec},
};

/// How long the per-sender rate limit looks back.
const RATE_WINDOW: chrono::Duration = chrono::Duration::hours(1);
/// Longest ticket title / comment kept from a mail (the full text is in the
/// attached original).
const MAX_TITLE: usize = 200;
const MAX_BODY: usize = 50_000;

/// Where a mailbox's mail goes and how it is answered.
#[derive(Debug, Clone)]
pub struct MailboxMapping {
    /// Names the mailbox in the quarantine (its URL without credentials).
    pub name: String,
    pub org_id: Uuid,
    pub kind: String,
    pub team: Option<String>,
    pub category: Option<String>,
    pub acknowledge: bool,
    pub create_requesters: bool,
    pub cc_watchers: bool,
    pub sender_rate_limit: u32,
    /// Our own addresses (never answered, never a requester).
    pub own_addresses: Vec<String>,
}

/// A received message as the mail parser read it.
#[derive(Debug, Clone, Default)]
pub struct InboundMail {
    pub uid: u32,
    pub raw: Vec<u8>,
    /// Bare Message-ID (no brackets); `None` when the message has none.
    pub message_id: Option<String>,
    pub from_address: Option<String>,
    pub from_name: Option<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// The text body: text/plain preferred, else derived from the HTML.
    pub text: String,
    pub attachments: Vec<MailAttachment>,
    pub no_reply: Option<NoReply>,
    pub bounce: Option<Bounce>,
    /// Set when the message could not be read as a mail at all.
    pub unreadable: Option<String>,
}

#[derive(Debug, Clone)]
pub struct MailAttachment {
    pub filename: String,
    pub bytes: Vec<u8>,
}

/// A delivery status notification: what failed and which message it was.
#[derive(Debug, Clone, Default)]
pub struct Bounce {
    pub recipient: String,
    pub status: String,
    pub diagnostic: String,
    /// Message-IDs the report names (of the message that bounced).
    pub original_ids: Vec<String>,
}

/// What became of a message (recorded as the intake's result).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MailOutcome {
    /// `opened`, `commented`, `command`, `bounce`, `quarantined`, `refused`;
    /// `duplicate` for a message seen before.
    pub action: String,
    pub ticket: Option<String>,
    pub detail: Option<String>,
    /// The ticket's id, for this process only (not recorded).
    #[serde(skip)]
    ticket_id: Option<Uuid>,
}

impl MailOutcome {
    fn new(action: &str, ticket: Option<String>, detail: Option<String>) -> Self {
        Self {
            action: action.into(),
            ticket,
            detail,
            ticket_id: None,
        }
    }

    fn on(mut self, ticket_id: Uuid) -> Self {
        self.ticket_id = Some(ticket_id);
        self
    }
}

/// A quarantined message, for admins.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuarantineView {
    pub id: Uuid,
    pub mailbox: String,
    pub uid: i64,
    pub message_id: Option<String>,
    pub sender: String,
    pub subject: String,
    pub reason: String,
    /// SHA-256 of the raw message, stored like attachments.
    pub sha256: String,
    pub size_bytes: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<&QuarantineRow> for QuarantineView {
    fn from(r: &QuarantineRow) -> Self {
        Self {
            id: r.id,
            mailbox: r.mailbox.clone(),
            uid: r.uid,
            message_id: r.message_id.clone(),
            sender: r.sender.clone(),
            subject: r.subject.clone(),
            reason: r.reason.clone(),
            sha256: r.sha256.clone(),
            size_bytes: r.size_bytes,
            created_at: r.created_at,
        }
    }
}

/// The intake key of a message, the same for every copy of it however
/// many of the organization's mailboxes or addresses it reached (a
/// reply-all): its Message-ID, or without one a hash of what its sender
/// wrote ([`rules::content_key`]: relays' trace headers left out).
pub fn intake_key(mail: &InboundMail) -> String {
    match &mail.message_id {
        Some(id) => id.clone(),
        None => rules::content_key(&mail.raw),
    }
}

impl Desk {
    /// Turns one received message into its ticket change, in one
    /// transaction keyed by its Message-ID. A repeat answers `duplicate`.
    #[tracing::instrument(skip_all, fields(mailbox = %mailbox.name, uid = mail.uid), err(level = "debug"))]
    pub async fn receive_mail(
        &self,
        mailbox: &MailboxMapping,
        mail: InboundMail,
    ) -> Result<MailOutcome, DeskError> {
        let intake = Intake {
            source: format!("email:{}", mailbox.org_id),
            key: intake_key(&mail),
            // Copies of one message differ in their trace headers: the
            // Message-ID alone decides.
            fingerprint: "message-id".into(),
            status: 200,
            first_delivery: false,
        };
        // Files are content-addressed: written before the transaction, so
        // no disk write happens while the ticket counter is locked (an
        // unreferenced file after a rollback is harmless).
        let limit = self.settings.max_attachment_bytes;
        for bytes in mail
            .attachments
            .iter()
            .map(|a| &a.bytes)
            .chain(std::iter::once(&mail.raw))
            .filter(|b| b.len() as u64 <= limit)
        {
            super::files::store(&self.settings.blobs, bytes).await?;
        }
        let desk = self.clone();
        let mapping = mailbox.clone();
        let outcome = self
            .run(Some(&intake), move |work| {
                Box::pin(async move { desk.mail_in(work, &mapping, &mail).await })
            })
            .await?;
        Ok(match outcome {
            Outcome::Done(outcome) => outcome,
            Outcome::Replayed { body, .. } => {
                let first: Option<MailOutcome> = serde_json::from_value(body).ok();
                MailOutcome::new(
                    "duplicate",
                    first.and_then(|f| f.ticket),
                    Some("a message with this Message-ID was processed before".into()),
                )
            }
        })
    }

    /// Keeps a message that could not be processed, with the reason, and
    /// records its Message-ID so it is not fetched into the quarantine twice.
    pub async fn quarantine_mail(
        &self,
        mailbox: &MailboxMapping,
        mail: InboundMail,
        reason: String,
    ) -> Result<MailOutcome, DeskError> {
        let intake = Intake {
            source: format!("email:{}", mailbox.org_id),
            key: intake_key(&mail),
            fingerprint: "message-id".into(),
            status: 200,
            first_delivery: false,
        };
        let desk = self.clone();
        let mapping = mailbox.clone();
        let outcome = self
            .run(Some(&intake), move |work| {
                Box::pin(async move { desk.quarantine_in(work, &mapping, &mail, &reason).await })
            })
            .await?;
        Ok(match outcome {
            Outcome::Done(o) => o,
            Outcome::Replayed { .. } => MailOutcome::new("duplicate", None, None),
        })
    }

    /// Quarantined messages of the actor's organization (admins).
    pub async fn list_quarantine(
        &self,
        actor: &Actor,
        limit: i64,
    ) -> Result<Vec<QuarantineView>, DeskError> {
        actor.require_admin()?;
        let rows =
            store::mail::list_quarantine(&self.db, actor.org_id, limit.clamp(1, 500)).await?;
        Ok(rows.iter().map(QuarantineView::from).collect())
    }

    async fn quarantine_in(
        &self,
        work: &mut Work,
        mailbox: &MailboxMapping,
        mail: &InboundMail,
        reason: &str,
    ) -> Result<MailOutcome, DeskError> {
        let stored = super::files::store_in(&mut work.tx, &self.settings.blobs, &mail.raw).await?;
        let row = QuarantineRow {
            id: new_id(),
            org_id: mailbox.org_id,
            mailbox: mailbox.name.clone(),
            uid: i64::from(mail.uid),
            message_id: mail.message_id.clone(),
            sender: clean_line(mail.from_address.as_deref().unwrap_or(""), 320),
            subject: clean_line(&mail.subject, 500),
            reason: clean_line(reason, 1000),
            sha256: stored.sha256,
            size_bytes: mail.raw.len() as i64,
            created_at: store::now(),
        };
        store::mail::insert_quarantine(&mut work.tx, &row).await?;
        work.audit(
            &Actor::system(mailbox.org_id),
            "email.quarantined",
            &row.id.to_string(),
            json!({ "mailbox": row.mailbox, "uid": row.uid, "reason": row.reason }),
        );
        Ok(MailOutcome::new("quarantined", None, Some(row.reason)))
    }

    async fn mail_in(
        &self,
        work: &mut Work,
        mailbox: &MailboxMapping,
        mail: &InboundMail,
    ) -> Result<MailOutcome, DeskError> {
        let org_id = mailbox.org_id;
        if let Some(reason) = &mail.unreadable {
            return self
                .quarantine_in(work, mailbox, mail, &format!("unreadable: {reason}"))
                .await;
        }
        let Some(sender) = mail
            .from_address
            .as_deref()
            .and_then(|a| super::people::normalize_email(a).ok())
        else {
            return self
                .quarantine_in(work, mailbox, mail, "no usable sender address (From)")
                .await;
        };
        let now = store::now();
        if let Some(bounce) = &mail.bounce {
            return self
                .record_bounce(work, mailbox, mail, bounce, &sender)
                .await;
        }
        if mail.no_reply == Some(NoReply::OwnAddress) {
            return self
                .quarantine_in(
                    work,
                    mailbox,
                    mail,
                    "sent from our own address (mail loop?)",
                )
                .await;
        }
        let recent =
            store::mail::count_received_since(&mut work.tx, org_id, &sender, now - RATE_WINDOW)
                .await?;
        if recent >= i64::from(mailbox.sender_rate_limit) {
            return self
                .quarantine_in(
                    work,
                    mailbox,
                    mail,
                    &format!(
                        "rate limit: {recent} messages from {sender} in the last hour (limit {})",
                        mailbox.sender_rate_limit
                    ),
                )
                .await;
        }
        // Who sent it: a known person, or a new requester where allowed.
        let contact = Contact {
            org_id,
            identity: IdentityKey::Email(sender.clone()),
            display_name: mail.from_name.clone().unwrap_or_default(),
            verified_email: None,
        };
        let person = if mailbox.create_requesters {
            Some(super::identity::resolve_contact_in(work, &contact).await?)
        } else {
            super::identity::find_contact_in(work, &contact).await?
        };
        let Some(person) = person else {
            if mail.no_reply.is_none() {
                let text = "Hello,\n\nthis address only accepts requests from people we know, \
                            and we could not find yours. Please raise your request through your \
                            usual contact or ask an administrator to add you.\n\nThis is an automatic reply.";
                queue_mail(
                    work,
                    org_id,
                    &sender,
                    "email.refused",
                    &rules::reply_subject(&mail.subject),
                    text,
                    None,
                    mail,
                );
            }
            self.quarantine_in(
                work,
                mailbox,
                mail,
                "unknown sender; this mailbox does not create requesters",
            )
            .await?;
            return Ok(MailOutcome::new("refused", None, Some(sender)));
        };
        let actor = super::people::actor_for(&person, Channel::Email);

        // Threading: a message of the ticket's thread, else the subject token.
        let mut thread: Vec<String> = mail.in_reply_to.clone();
        thread.extend(mail.references.iter().rev().cloned());
        let mut ticket =
            match store::mail::find_thread_ticket(&mut work.tx, org_id, &thread).await? {
                Some(id) => store::tickets::find_ticket(&mut work.tx, org_id, id).await?,
                None => None,
            };
        if let Some(row) = ticket.take() {
            // The thread of a merged ticket goes on in the one it went into.
            ticket = Some(self.merge_survivor(work, &actor, row).await?);
        }
        if let Some(row) = &ticket {
            // Replying inside a ticket's thread makes the sender a participant.
            if !actor.is_agent()
                && !is_participant(work, &actor, row).await?
                && store::tickets::add_watcher(&mut work.tx, row.id, person.id).await?
            {
                work.record(
                    &Actor::system(org_id),
                    row.id,
                    "watcher_added",
                    Some(("watchers", None, Some(person.name.clone()))),
                );
            }
        } else if let Some(number) = rules::subject_token(&mail.subject) {
            let found = store::tickets::find_ticket_by_number(
                Exec::Tx(&mut work.tx),
                org_id,
                &number.to_string(),
            )
            .await?;
            if let Some(row) = found {
                if actor.is_agent() || is_participant(work, &actor, &row).await? {
                    ticket = Some(self.merge_survivor(work, &actor, row).await?);
                }
            }
        }

        let outcome = match ticket {
            Some(row) => self.mail_comment(work, mailbox, mail, &actor, &row).await?,
            None => {
                self.mail_ticket(work, mailbox, mail, &actor, &sender)
                    .await?
            }
        };
        let ticket_id = outcome.ticket_id;
        if let Some(id) = &mail.message_id {
            // Written with the flush (a round trip less under the counter).
            work.buffers
                .mail_messages
                .push(store::mail::MailMessageRow {
                    org_id,
                    message_id: id.clone(),
                    direction: store::mail::IN,
                    ticket_id,
                    sender: sender.clone(),
                    outbox_id: None,
                    created_at: now,
                });
        }
        Ok(outcome)
    }

    async fn mail_ticket(
        &self,
        work: &mut Work,
        mailbox: &MailboxMapping,
        mail: &InboundMail,
        actor: &Actor,
        sender: &str,
    ) -> Result<MailOutcome, DeskError> {
        let title = match clean_line(&mail.subject, MAX_TITLE) {
            t if t.is_empty() => "(no subject)".to_string(),
            t => t,
        };
        let description = rules::truncate_chars(&clean_text(&mail.text), MAX_BODY);
        // Hashed and named before the ticket counter is taken.
        let (files, skipped) = self.mail_files(mail);
        let mut row = self
            .open_ticket_row(
                work,
                actor,
                OpenTicket {
                    kind: mailbox.kind.clone(),
                    title: title.clone(),
                    description,
                    team: mailbox.team.clone(),
                    category: mailbox.category.clone(),
                    ..OpenTicket::default()
                },
            )
            .await?;
        if mailbox.cc_watchers {
            self.cc_watchers(work, mailbox, mail, actor, &row.number)
                .await?;
        }
        self.attach_stored(work, actor, &mut row, files, true)
            .await?;
        let view = TicketView::from(&row);
        if mailbox.acknowledge && mail.no_reply.is_none() {
            let mut text = format!(
                "Hello,\n\nwe have received your request and opened ticket {number}: \"{title}\".\n\n\
                 Reply to this mail to add information; keep [{number}] in the subject.\n",
                number = view.number
            );
            if !skipped.is_empty() {
                text.push_str(&format!(
                    "\nThese attachments were too large to keep: {}.\n",
                    skipped.join(", ")
                ));
            }
            text.push_str("\nThis is an automatic reply.");
            queue_mail(
                work,
                actor.org_id,
                sender,
                "email.acknowledgement",
                &rules::subject_with_token(&view.number, &rules::reply_subject(&title)),
                &text,
                Some(&view.number),
                mail,
            );
        }
        Ok(MailOutcome::new("opened", Some(view.number), None).on(view.id))
    }

    async fn mail_comment(
        &self,
        work: &mut Work,
        _mailbox: &MailboxMapping,
        mail: &InboundMail,
        actor: &Actor,
        ticket: &TicketRow,
    ) -> Result<MailOutcome, DeskError> {
        let body = clean_text(&rules::trim_reply(&mail.text));
        if let Some(command) = rules::parse_command(&body) {
            return self
                .mail_command(work, mail, actor, ticket, command, &body)
                .await;
        }
        let body = if body.trim().is_empty() {
            "(no text; see the attached message)".to_string()
        } else {
            rules::truncate_chars(&body, MAX_BODY)
        };
        self.add_comment(work, actor, &ticket.number, &body, false)
            .await?;
        self.mail_attachments(work, actor, &ticket.number, mail)
            .await?;
        Ok(MailOutcome::new("commented", Some(ticket.number.clone()), None).on(ticket.id))
    }

    /// `#resolve`, `#approve`, `#reject reason` on the first line. A command
    /// the sender may not give is answered with the reason, and the mail is
    /// kept as a comment.
    async fn mail_command(
        &self,
        work: &mut Work,
        mail: &InboundMail,
        actor: &Actor,
        ticket: &TicketRow,
        command: MailCommand,
        body: &str,
    ) -> Result<MailOutcome, DeskError> {
        let rest: String = body
            .lines()
            .skip_while(|l| l.trim().is_empty())
            .skip(1)
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_string();
        let marks = work.buffers.marks();
        store::savepoint(&mut work.tx).await?;
        let result = match &command {
            MailCommand::Resolve => self
                .transition(
                    work,
                    actor,
                    &ticket.number,
                    "resolved",
                    (!rest.is_empty()).then(|| rest.clone()),
                )
                .await
                .map(|_| "resolved".to_string()),
            MailCommand::Approve | MailCommand::Reject(_) => {
                self.mail_decide(work, actor, ticket, &command).await
            }
        };
        match result {
            Ok(done) => {
                store::release_savepoint(&mut work.tx).await?;
                self.mail_attachments(work, actor, &ticket.number, mail)
                    .await?;
                Ok(
                    MailOutcome::new("command", Some(ticket.number.clone()), Some(done))
                        .on(ticket.id),
                )
            }
            Err(e @ (DeskError::Internal(_) | DeskError::Store(_) | DeskError::Retry(_))) => Err(e),
            Err(refused) => {
                store::rollback_to_savepoint(&mut work.tx).await?;
                work.buffers.truncate(&marks);
                let reason = refused.to_string();
                if mail.no_reply.is_none() {
                    if let Some(to) = &mail.from_address {
                        queue_mail(
                            work,
                            actor.org_id,
                            to,
                            "email.command_refused",
                            &rules::subject_with_token(
                                &ticket.number,
                                &rules::reply_subject(&mail.subject),
                            ),
                            &format!(
                                "Hello,\n\nyour command could not be carried out: {reason}\n\n\
                                 Your message was added to {} as a comment.\n\nThis is an automatic reply.",
                                ticket.number
                            ),
                            Some(&ticket.number),
                            mail,
                        );
                    }
                }
                let comment = rules::truncate_chars(body, MAX_BODY);
                self.add_comment(work, actor, &ticket.number, &comment, false)
                    .await?;
                self.mail_attachments(work, actor, &ticket.number, mail)
                    .await?;
                Ok(MailOutcome::new(
                    "commented",
                    Some(ticket.number.clone()),
                    Some(format!("command refused: {reason}")),
                )
                .on(ticket.id))
            }
        }
    }

    /// Decides the ticket's approval that waits for the actor.
    async fn mail_decide(
        &self,
        work: &mut Work,
        actor: &Actor,
        ticket: &TicketRow,
        command: &MailCommand,
    ) -> Result<String, DeskError> {
        let person = actor
            .person_id
            .ok_or_else(|| DeskError::Forbidden("only a person can decide".into()))?;
        let waiting =
            store::approvals::list_waiting_for(&mut work.tx, actor.org_id, person, store::now())
                .await?;
        let Some(approval) = waiting.iter().find(|a| a.ticket_id == ticket.id) else {
            return Err(DeskError::Forbidden(format!(
                "no approval of {} is waiting for your decision",
                ticket.number
            )));
        };
        let (decision, reason) = match command {
            MailCommand::Reject(reason) => ("reject", Some(reason.clone())),
            _ => ("approve", None),
        };
        self.decide(work, actor, approval.id, decision, reason)
            .await?;
        Ok(format!("{decision}d"))
    }

    /// Puts the mail's attachments and the original message on the
    /// ticket (locked for it); returns the names of those over the size limit.
    async fn mail_attachments(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        mail: &InboundMail,
    ) -> Result<Vec<String>, DeskError> {
        let (files, skipped) = self.mail_files(mail);
        if !files.is_empty() {
            let mut row = super::tickets::lock_visible(&mut work.tx, actor, number).await?;
            self.attach_stored(work, actor, &mut row, files, false)
                .await?;
        }
        Ok(skipped)
    }

    /// The mail's attachments and its original as files to attach (written
    /// to the store by [`Desk::receive_mail`] before its transaction), and
    /// the names of those over the size limit.
    fn mail_files(&self, mail: &InboundMail) -> (Vec<StoredFile>, Vec<String>) {
        let limit = self.settings.max_attachment_bytes;
        let mut files = Vec::new();
        let mut skipped = Vec::new();
        for attachment in &mail.attachments {
            if attachment.bytes.len() as u64 > limit {
                skipped.push(format!(
                    "{} ({} bytes)",
                    attachment.filename,
                    attachment.bytes.len()
                ));
                continue;
            }
            let name = super::files::clean_filename(&attachment.filename)
                .unwrap_or_else(|_| "attachment.bin".to_string());
            files.push(stored_file(name, &attachment.bytes));
        }
        if mail.raw.len() as u64 <= limit {
            let name = match &mail.message_id {
                Some(_) => format!(
                    "message-{}.eml",
                    &hex::encode(Sha256::digest(&mail.raw))[..12]
                ),
                None => "message.eml".to_string(),
            };
            files.push(stored_file(name, &mail.raw));
        } else {
            skipped.push(format!("the original message ({} bytes)", mail.raw.len()));
        }
        (files, skipped)
    }

    async fn cc_watchers(
        &self,
        work: &mut Work,
        mailbox: &MailboxMapping,
        mail: &InboundMail,
        actor: &Actor,
        number: &str,
    ) -> Result<(), DeskError> {
        let Some(ticket) =
            store::tickets::find_ticket_by_number(Exec::Tx(&mut work.tx), actor.org_id, number)
                .await?
        else {
            return Ok(());
        };
        for address in mail.cc.iter().take(20) {
            let Ok(address) = super::people::normalize_email(address) else {
                continue;
            };
            if mailbox
                .own_addresses
                .iter()
                .any(|o| o.eq_ignore_ascii_case(&address))
                || Some(&address) == actor.email.as_ref()
            {
                continue;
            }
            let contact = Contact {
                org_id: actor.org_id,
                identity: IdentityKey::Email(address.clone()),
                display_name: String::new(),
                verified_email: None,
            };
            let person = if mailbox.create_requesters {
                Some(super::identity::resolve_contact_in(work, &contact).await?)
            } else {
                super::identity::find_contact_in(work, &contact).await?
            };
            if let Some(person) = person {
                if store::tickets::add_watcher(&mut work.tx, ticket.id, person.id).await? {
                    work.record(
                        actor,
                        ticket.id,
                        "watcher_added",
                        Some(("watchers", None, Some(person.name.clone()))),
                    );
                }
            }
        }
        Ok(())
    }

    async fn record_bounce(
        &self,
        work: &mut Work,
        mailbox: &MailboxMapping,
        mail: &InboundMail,
        bounce: &super::mail::Bounce,
        sender: &str,
    ) -> Result<MailOutcome, DeskError> {
        let org_id = mailbox.org_id;
        let mut ids = bounce.original_ids.clone();
        ids.extend(mail.in_reply_to.iter().cloned());
        ids.extend(mail.references.iter().cloned());
        let sent = store::mail::find_sent_outbox(&mut work.tx, org_id, &ids).await?;
        let row = store::mail::BounceRow {
            id: new_id(),
            org_id,
            outbox_id: sent.as_ref().map(|s| s.0),
            original_message_id: sent.map(|s| s.1).or_else(|| ids.first().cloned()),
            recipient: clean_line(&bounce.recipient, 320),
            status: clean_line(&bounce.status, 40),
            diagnostic: clean_line(&bounce.diagnostic, 1000),
            created_at: store::now(),
        };
        store::mail::insert_bounce(&mut work.tx, &row).await?;
        if let Some(id) = &mail.message_id {
            work.buffers
                .mail_messages
                .push(store::mail::MailMessageRow {
                    org_id,
                    message_id: id.clone(),
                    direction: store::mail::IN,
                    ticket_id: None,
                    sender: sender.to_string(),
                    outbox_id: None,
                    created_at: row.created_at,
                });
        }
        work.audit(
            &Actor::system(org_id),
            "email.bounced",
            &row.recipient,
            json!({ "outbox": row.outbox_id, "status": row.status }),
        );
        Ok(MailOutcome::new(
            "bounce",
            None,
            Some(format!("{} {}", row.recipient, row.status)),
        ))
    }
}

impl Desk {
    /// The mail side of a public comment, a hook the ticket use cases call
    /// inside their transaction like the SLA hooks: the ticket module need
    /// not know that some tickets came in by email.
    pub(crate) fn mail_on_public_comment(
        &self,
        work: &mut Work,
        actor: &Actor,
        ticket: &TicketRow,
        body: &str,
    ) {
        mail_public_comment(work, actor, ticket, body);
    }
}

/// A public comment on a ticket that came in by email reaches its
/// requester by email (threaded, token in the subject), unless the
/// requester wrote it.
fn mail_public_comment(work: &mut Work, actor: &Actor, ticket: &TicketRow, body: &str) {
    if ticket.channel != Channel::Email.as_str() || actor.person_id == ticket.requester_id {
        return;
    }
    let Some(to) = &ticket.requester_email else {
        return;
    };
    let now = store::now();
    let text = format!(
        "{} wrote on {}:\n\n{body}\n\n-- \nReply to this mail to answer; keep [{}] in the subject.",
        actor.name, ticket.number, ticket.number
    );
    work.buffers.outbox.push(OutboxRow {
        id: new_id(),
        org_id: ticket.org_id,
        channel: "email".into(),
        target: to.clone(),
        event: "email.reply".into(),
        payload: sqlx::types::Json(json!({
            "to": to,
            "subject": rules::subject_with_token(&ticket.number, &rules::reply_subject(&ticket.title)),
            "text": text,
            "ticket": ticket.number,
        })),
        state: store::outbox::PENDING.into(),
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
        created_at: now,
        delivered_at: None,
    });
}

/// The requester, the assignee or a watcher.
async fn is_participant(
    work: &mut Work,
    actor: &Actor,
    ticket: &TicketRow,
) -> Result<bool, DeskError> {
    let Some(person) = actor.person_id else {
        return Ok(false);
    };
    if ticket.requester_id == Some(person) || ticket.assignee_id == Some(person) {
        return Ok(true);
    }
    Ok(store::tickets::is_watching(Exec::Tx(&mut work.tx), ticket.id, person).await?)
}

/// Queues a mail in answer to `original`, threaded to it.
#[allow(clippy::too_many_arguments)]
fn queue_mail(
    work: &mut Work,
    org_id: Uuid,
    to: &str,
    event: &str,
    subject: &str,
    text: &str,
    ticket: Option<&str>,
    original: &InboundMail,
) {
    let now = store::now();
    let mut references = original.references.clone();
    if let Some(id) = &original.message_id {
        references.push(id.clone());
    }
    work.buffers.outbox.push(OutboxRow {
        id: new_id(),
        org_id,
        channel: "email".into(),
        target: to.to_string(),
        event: event.into(),
        payload: sqlx::types::Json(json!({
            "to": to,
            "subject": subject,
            "text": text,
            "ticket": ticket,
            "in_reply_to": original.message_id,
            "references": references,
            "auto_submitted": "auto-replied",
        })),
        state: store::outbox::PENDING.into(),
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
        created_at: now,
        delivered_at: None,
    });
}

/// A file of a mail as the store keeps it (content-addressed, so the same
/// hash and type [`super::files::store`] gave it before the transaction).
fn stored_file(filename: String, bytes: &[u8]) -> StoredFile {
    StoredFile {
        filename,
        size_bytes: bytes.len() as i64,
        stored: super::files::Stored {
            sha256: hex::encode(Sha256::digest(bytes)),
            content_type: super::files::sniff(bytes),
        },
    }
}

/// One line: control characters become spaces, runs of space collapse.
pub(super) fn clean_line(input: &str, max_chars: usize) -> String {
    let spaced: String = input
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let joined = spaced.split_whitespace().collect::<Vec<_>>().join(" ");
    joined.chars().take(max_chars).collect()
}

/// Multi-line text: `\r\n` → `\n`, other control characters dropped.
fn clean_text(input: &str) -> String {
    input
        .replace("\r\n", "\n")
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect()
}
