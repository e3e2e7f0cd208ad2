//! The `email` outbox channel: renders an outbox row as a mail (text and a
//! simple HTML alternative) and sends it over SMTP with lettre.
//!
//! Each mail's `Message-ID` is `<outbox-id@from-domain>`, recorded against
//! its ticket before sending, so a retry sends the same id and a reply's
//! `In-Reply-To` finds the ticket. Mails about a ticket carry its token in
//! the subject (`[INC0000042] …`) and `In-Reply-To` / `References` to the
//! ticket's thread; automatic mails carry `Auto-Submitted`. Transient SMTP
//! failures (4xx, connection trouble) retry; permanent ones (5xx) are
//! dead letters.

use std::{
    collections::{HashMap, HashSet},
    sync::Mutex,
    time::{Duration, Instant},
};

use anyhow::Context;
use futures::future::BoxFuture;
use lettre::{
    message::{
        header::{ContentType, Header, HeaderName, HeaderValue},
        Attachment, Mailbox, MultiPart,
    },
    transport::smtp::authentication::{Credentials, Mechanism},
    AsyncSmtpTransport, AsyncTransport, Tokio1Executor,
};
use serde_json::Value;
use uuid::Uuid;

use super::oauth::TokenSource;
use crate::{
    config::OAuthConfig,
    desk::Desk,
    domain::mail::{self, MailUrl, Protocol, Security},
    runtime::delivery::{error_chain, Deliverer, Delivery},
    store::{self, outbox::OutboxRow, Db, Exec},
};

pub struct SmtpDeliverer {
    /// With a static password (or none): built once. With OAuth: rebuilt
    /// when the access token changes.
    transport: Mutex<Option<(String, AsyncSmtpTransport<Tokio1Executor>)>>,
    url: MailUrl,
    timeout: Duration,
    oauth: Option<TokenSource>,
    from: Mailbox,
    domain: String,
    db: Db,
    desk: Desk,
    /// Organizations whose current failure streak this process has
    /// recorded (the desk keeps the streak in the database, so replicas and
    /// restarts alert once; this only spares a write per failing mail).
    alerted: Mutex<HashSet<Uuid>>,
    /// Organizations known to have no streak, and since when: a success
    /// ends a streak in the database at most once a minute otherwise.
    cleared: Mutex<HashMap<Uuid, Instant>>,
}

/// The server refused our credentials, or no token could be had.
struct SignInFailed(String);

impl SmtpDeliverer {
    pub fn new(
        desk: Desk,
        smtp_url: &str,
        from: &str,
        oauth: &OAuthConfig,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let url = MailUrl::parse(smtp_url, Protocol::Smtp)
            .map_err(|e| anyhow::anyhow!("email.smtp_url: {e}"))?;
        let from: Mailbox = from
            .parse()
            .with_context(|| format!("email.from `{from}` is not a mail address"))?;
        let oauth = if oauth.enabled() {
            Some(TokenSource::new(oauth, timeout, desk.db.clone()).context("email.smtp_oauth")?)
        } else {
            None
        };
        let domain = from.email.domain().to_string();
        let deliverer = Self {
            transport: Mutex::new(None),
            url,
            timeout,
            oauth,
            from,
            domain,
            db: desk.db.clone(),
            desk,
            alerted: Mutex::default(),
            cleared: Mutex::default(),
        };
        if deliverer.oauth.is_none() {
            let transport = deliverer.build(None)?;
            *deliverer.lock_transport() = Some((String::new(), transport));
        }
        Ok(deliverer)
    }

    fn lock_transport(
        &self,
    ) -> std::sync::MutexGuard<'_, Option<(String, AsyncSmtpTransport<Tokio1Executor>)>> {
        self.transport.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A transport signing in with the URL's password, or with `token`
    /// over XOAUTH2.
    fn build(&self, token: Option<&str>) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
        let url = &self.url;
        let builder = match url.security {
            Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&url.host)
                .context("email.smtp_url: TLS setup")?,
            Security::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&url.host)
                .context("email.smtp_url: STARTTLS setup")?,
            Security::Plain => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&url.host),
        };
        let mut builder = builder.port(url.port).timeout(Some(self.timeout));
        if let Some(token) = token {
            builder = builder
                .credentials(Credentials::new(url.user.clone(), token.to_string()))
                .authentication(vec![Mechanism::Xoauth2]);
        } else if !url.user.is_empty() {
            builder = builder.credentials(Credentials::new(url.user.clone(), url.password.clone()));
            if url.xoauth2 {
                builder = builder.authentication(vec![Mechanism::Xoauth2]);
            }
        }
        Ok(builder.build())
    }

    /// The transport to send with (fetching or refreshing the OAuth token).
    async fn current_transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, SignInFailed> {
        let Some(oauth) = &self.oauth else {
            return self
                .lock_transport()
                .as_ref()
                .map(|(_, t)| t.clone())
                .ok_or_else(|| SignInFailed("no SMTP transport".into()));
        };
        let token = oauth
            .access_token()
            .await
            .map_err(|e| SignInFailed(e.to_string()))?;
        let mut slot = self.lock_transport();
        if let Some((current, transport)) = slot.as_ref() {
            if *current == token {
                return Ok(transport.clone());
            }
        }
        let transport = self
            .build(Some(&token))
            .map_err(|e| SignInFailed(format!("{e:#}")))?;
        *slot = Some((token, transport.clone()));
        Ok(transport)
    }

    /// Sends `mail`; a refused OAuth sign-in is retried once with a fresh token.
    async fn transmit(
        &self,
        mail: lettre::Message,
    ) -> Result<(), Result<lettre::transport::smtp::Error, SignInFailed>> {
        let transport = self.current_transport().await.map_err(Err)?;
        match transport.send(mail.clone()).await {
            Ok(_) => Ok(()),
            Err(e) if is_auth_failure(&e) && self.oauth.is_some() => {
                if let Some(oauth) = &self.oauth {
                    oauth.invalidate().await;
                }
                let transport = self.current_transport().await.map_err(Err)?;
                transport.send(mail).await.map(|_| ()).map_err(Ok)
            }
            Err(e) => Err(Ok(e)),
        }
    }

    /// Tells the organization's admins once per failure streak; the mail
    /// waits for the next try without using up its attempts.
    async fn sign_in_failed(&self, message: &OutboxRow, error: String) -> Delivery {
        self.desk.metrics.mail_error("smtp_auth");
        tracing::error!(error = %error, "SMTP authentication failed; mail stays queued");
        let first = self
            .alerted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(message.org_id);
        if first {
            self.cleared
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&message.org_id);
            if let Err(e) = self
                .desk
                .smtp_auth_failed(message.org_id, &self.account(), &error)
                .await
            {
                tracing::error!(error = %e, "could not notify the admins");
            }
        }
        Delivery::Held {
            error: format!("SMTP sign-in failed: {error}"),
            not_before: None,
        }
    }

    /// The SMTP account mail is sent as, as the admins' alert names it.
    fn account(&self) -> String {
        format!("{}@{}:{}", self.url.user, self.url.host, self.url.port)
    }

    /// Mail went out: a failure streak, here or on another replica, is over.
    async fn signed_in(&self, org_id: Uuid) {
        let streak = self
            .alerted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&org_id);
        let stale = self
            .cleared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&org_id)
            .is_none_or(|at| at.elapsed() > Duration::from_secs(60));
        if streak || stale {
            match self.desk.smtp_signed_in(org_id, &self.account()).await {
                Ok(()) => {
                    self.cleared
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(org_id, Instant::now());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not end the SMTP sign-in failure streak")
                }
            }
        }
    }

    /// The Message-ID of the mail for an outbox row (without brackets).
    pub fn message_id(outbox_id: Uuid, domain: &str) -> String {
        format!("{outbox_id}@{domain}")
    }

    async fn send(&self, message: &OutboxRow) -> Delivery {
        let payload = &message.payload.0;
        let to: Mailbox = match payload["to"].as_str().unwrap_or(&message.target).parse() {
            Ok(to) => to,
            Err(e) => {
                return Delivery::Permanent(format!("bad recipient `{}`: {e}", message.target))
            }
        };
        let subject = payload["subject"].as_str().unwrap_or("").to_string();
        let text = payload["text"].as_str().unwrap_or("").to_string();
        let number = ticket_number(payload, &subject);
        let ticket = match &number {
            Some(number) => match store::tickets::find_ticket_by_number(
                Exec::Db(&self.db),
                message.org_id,
                number,
            )
            .await
            {
                Ok(row) => row,
                Err(e) => return retry(format!("database: {e}")),
            },
            None => None,
        };
        let subject = match &ticket {
            Some(t) => mail::subject_with_token(&t.number, &subject),
            None => subject,
        };
        let message_id = Self::message_id(message.id, &self.domain);
        // Threading: the payload's own reply target, else the ticket's thread.
        let mut references: Vec<String> = payload["references"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let mut in_reply_to = payload["in_reply_to"].as_str().map(String::from);
        if let (Some(t), None) = (&ticket, &in_reply_to) {
            match store::mail::thread_ids(&self.db, message.org_id, t.id).await {
                Ok(thread) => {
                    in_reply_to = thread.last_received.clone();
                    for id in thread.ids {
                        if !references.contains(&id) {
                            references.push(id);
                        }
                    }
                }
                Err(e) => return retry(format!("database: {e}")),
            }
        }
        if let Some(irt) = &in_reply_to {
            if !references.contains(irt) {
                references.push(irt.clone());
            }
        }
        // Recorded first: a reply may arrive before this call returns.
        let sent = store::mail::MailMessageRow {
            org_id: message.org_id,
            message_id: message_id.clone(),
            direction: store::mail::OUT,
            ticket_id: ticket.as_ref().map(|t| t.id),
            sender: String::new(),
            outbox_id: Some(message.id),
            created_at: store::now(),
        };
        if let Err(e) = store::mail::insert_mail_message(Exec::Db(&self.db), &sent).await {
            return retry(format!("database: {e}"));
        }

        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(format!("<{message_id}>")));
        if let Some(irt) = &in_reply_to {
            builder = builder.in_reply_to(format!("<{irt}>"));
        }
        if !references.is_empty() {
            let refs: Vec<String> = references.iter().map(|r| format!("<{r}>")).collect();
            builder = builder.references(refs.join(" "));
        }
        if let Some(auto) = payload["auto_submitted"].as_str() {
            builder = builder
                .header(AutoSubmitted(auto.to_string()))
                .header(AutoResponseSuppress);
        } else if message.event != "email.reply" {
            // Notifications are generated by the system (RFC 3834).
            builder = builder
                .header(AutoSubmitted("auto-generated".into()))
                .header(AutoResponseSuppress);
        }
        // A notification's own HTML (rendered from its template at enqueue
        // time, e.g. with approval links), else the text in a plain layout.
        let html = match payload["html"].as_str().filter(|h| !h.trim().is_empty()) {
            Some(html) => html.to_string(),
            None => render_html(&text),
        };
        let body = MultiPart::alternative_plain_html(text, html);
        // A scheduled report's files ride along as ordinary attachments.
        let files = match crate::desk::outbox_files(payload) {
            Ok(files) => files,
            Err(e) => return Delivery::Permanent(format!("cannot build the mail: {e}")),
        };
        let body = if files.is_empty() {
            body
        } else {
            let mut mixed = MultiPart::mixed().multipart(body);
            for file in files {
                let content_type = match ContentType::parse(&file.content_type) {
                    Ok(t) => t,
                    Err(e) => {
                        return Delivery::Permanent(format!(
                            "attachment `{}`: bad content type: {e}",
                            file.name
                        ))
                    }
                };
                mixed = mixed.singlepart(Attachment::new(file.name).body(file.bytes, content_type));
            }
            mixed
        };
        let mail = match builder.multipart(body) {
            Ok(mail) => mail,
            Err(e) => return Delivery::Permanent(format!("cannot build the mail: {e}")),
        };
        match self.transmit(mail).await {
            Ok(()) => {
                self.signed_in(message.org_id).await;
                Delivery::Delivered
            }
            Err(Err(SignInFailed(error))) => self.sign_in_failed(message, error).await,
            Err(Ok(e)) if is_auth_failure(&e) => {
                self.sign_in_failed(message, error_chain(&e)).await
            }
            Err(Ok(e)) if e.is_permanent() => {
                Delivery::Permanent(format!("SMTP refused: {}", error_chain(&e)))
            }
            Err(Ok(e)) => retry(format!("SMTP: {}", error_chain(&e))),
        }
    }
}

/// A refused sign-in (RFC 4954: 530 authentication required, 534
/// mechanism too weak, 535 credentials invalid, 454 temporary failure), or
/// no mechanism in common: the account's fault, not the message's.
fn is_auth_failure(e: &lettre::transport::smtp::Error) -> bool {
    if let Some(code) = e.status() {
        return matches!(code.to_string().as_str(), "530" | "534" | "535" | "454");
    }
    error_chain(e).contains("authentication mechanism")
}

fn retry(error: String) -> Delivery {
    Delivery::Retry {
        error,
        not_before: None,
    }
}

impl Deliverer for SmtpDeliverer {
    fn channel(&self) -> &'static str {
        "email"
    }

    fn deliver<'a>(&'a self, message: &'a OutboxRow) -> BoxFuture<'a, Delivery> {
        Box::pin(self.send(message))
    }
}

/// The ticket a mail is about: named in the payload, in its data, or by
/// the token in its subject.
fn ticket_number(payload: &Value, subject: &str) -> Option<String> {
    let candidates = [
        &payload["ticket"],
        &payload["data"]["ticket"]["number"],
        &payload["data"]["approval"]["ticket"],
        &payload["data"]["ticket"],
    ];
    candidates
        .iter()
        .find_map(|v| v.as_str().map(String::from))
        .or_else(|| mail::subject_token(subject).map(|n| n.to_string()))
}

/// The HTML alternative: the text, escaped, in a plain layout.
pub fn render_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 64);
    for c in text.chars() {
        match c {
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '&' => escaped.push_str("&amp;"),
            '"' => escaped.push_str("&quot;"),
            '\n' => escaped.push_str("<br>\n"),
            c => escaped.push(c),
        }
    }
    format!(
        "<!DOCTYPE html><html><body style=\"font-family: sans-serif; font-size: 14px\">\
         <div>{escaped}</div></body></html>"
    )
}

/// `Auto-Submitted` (RFC 3834): `auto-replied` on acknowledgements,
/// `auto-generated` on notifications.
#[derive(Clone)]
struct AutoSubmitted(String);

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_string()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// Asks Exchange not to answer with out-of-office replies.
#[derive(Clone)]
struct AutoResponseSuppress;

impl Header for AutoResponseSuppress {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Auto-Response-Suppress")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "All".into())
    }
}
