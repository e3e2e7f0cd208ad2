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

use std::time::Duration;

use anyhow::Context;
use futures::future::BoxFuture;
use lettre::{
    message::{
        header::{Header, HeaderName, HeaderValue},
        Mailbox, MultiPart,
    },
    transport::smtp::authentication::{Credentials, Mechanism},
    AsyncSmtpTransport, AsyncTransport, Tokio1Executor,
};
use serde_json::Value;
use uuid::Uuid;

use super::super::dispatcher::{error_chain, Deliverer, Delivery};
use crate::{
    domain::mail::{self, MailUrl, Protocol, Security},
    store::{self, outbox::OutboxRow, Db, Exec},
};

pub struct SmtpDeliverer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
    db: Db,
}

impl SmtpDeliverer {
    pub fn new(db: Db, smtp_url: &str, from: &str, timeout: Duration) -> anyhow::Result<Self> {
        let url = MailUrl::parse(smtp_url, Protocol::Smtp)
            .map_err(|e| anyhow::anyhow!("email.smtp_url: {e}"))?;
        let from: Mailbox = from
            .parse()
            .with_context(|| format!("email.from `{from}` is not a mail address"))?;
        let builder = match url.security {
            Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&url.host)
                .context("email.smtp_url: TLS setup")?,
            Security::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&url.host)
                .context("email.smtp_url: STARTTLS setup")?,
            Security::Plain => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&url.host),
        };
        let mut builder = builder.port(url.port).timeout(Some(timeout));
        if !url.user.is_empty() {
            builder = builder.credentials(Credentials::new(url.user.clone(), url.password.clone()));
            if url.xoauth2 {
                builder = builder.authentication(vec![Mechanism::Xoauth2]);
            }
        }
        let domain = from.email.domain().to_string();
        Ok(Self {
            transport: builder.build(),
            from,
            domain,
            db,
        })
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
        if let Err(e) = store::mail::insert_mail_message(
            Exec::Db(&self.db),
            message.org_id,
            &message_id,
            store::mail::OUT,
            ticket.as_ref().map(|t| t.id),
            "",
            Some(message.id),
            store::now(),
        )
        .await
        {
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
        let mail = match builder.multipart(MultiPart::alternative_plain_html(text, html)) {
            Ok(mail) => mail,
            Err(e) => return Delivery::Permanent(format!("cannot build the mail: {e}")),
        };
        match self.transport.send(mail).await {
            Ok(_) => Delivery::Delivered,
            Err(e) if e.is_permanent() => {
                Delivery::Permanent(format!("SMTP refused: {}", error_chain(&e)))
            }
            Err(e) => retry(format!("SMTP: {}", error_chain(&e))),
        }
    }
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
