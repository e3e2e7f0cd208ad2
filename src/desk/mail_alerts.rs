//! Alerts about the mail connections themselves: a mailbox (IMAP) or the
//! SMTP account cannot sign in (refused credentials, or no OAuth token
//! could be had). The admins hear once per failure streak — on every
//! replica and across restarts, because the streak is a row
//! (`mail_auth_alerts`) that the alert inserts in its own transaction and a
//! successful sign-in deletes. Each alert is one use case: a notification to
//! every active admin and an audit event.

use serde_json::{json, Value};
use uuid::Uuid;

use super::{mail::clean_line, notify::Message, Actor, Desk, DeskError};
use crate::store;

impl Desk {
    /// A mailbox cannot sign in (or its token cannot be refreshed); returns
    /// how many admins were told.
    pub async fn mail_auth_failed(
        &self,
        org_id: Uuid,
        mailbox: &str,
        error: &str,
    ) -> Result<usize, DeskError> {
        let error = clean_line(error, 500);
        let message = Message {
            event: "email.auth_failed",
            subject: format!("Mailbox {mailbox} cannot sign in"),
            text: format!(
                "Switchboard cannot sign in to the mailbox {mailbox}: {error}\n\n\
                 Mail sent to it is not taken in until this is fixed (check the \
                 password or token in email.imap_url)."
            ),
            data: json!({ "mailbox": mailbox, "error": error }),
        };
        let account = format!("imap:{mailbox}");
        self.alert_admins(
            org_id,
            &account,
            message,
            "email.auth_failed",
            mailbox,
            &error,
        )
        .await
    }

    /// A mailbox signed in: its failure streak (if any) is over.
    pub async fn mailbox_signed_in(&self, org_id: Uuid, mailbox: &str) -> Result<(), DeskError> {
        store::mail::end_auth_alert(&self.db, org_id, &format!("imap:{mailbox}")).await?;
        Ok(())
    }

    /// Mail went out from `account`: its failure streak (if any) is over.
    pub async fn smtp_signed_in(&self, org_id: Uuid, account: &str) -> Result<(), DeskError> {
        store::mail::end_auth_alert(&self.db, org_id, &format!("smtp:{account}")).await?;
        Ok(())
    }

    /// Mail cannot be sent from `account`; returns how many admins were told.
    pub async fn smtp_auth_failed(
        &self,
        org_id: Uuid,
        account: &str,
        error: &str,
    ) -> Result<usize, DeskError> {
        let error = clean_line(error, 500);
        let message = Message {
            event: "email.auth_failed",
            subject: format!("Outgoing mail ({account}) cannot sign in"),
            text: format!(
                "Switchboard cannot sign in to the SMTP server as {account}: {error}\n\n\
                 Mail is kept queued and sent once this is fixed (check the password \
                 in email.smtp_url or the email.smtp_oauth settings)."
            ),
            data: json!({ "account": account, "error": error, "urgent": true }),
        };
        let streak = format!("smtp:{account}");
        self.alert_admins(
            org_id,
            &streak,
            message,
            "email.smtp_auth_failed",
            account,
            &error,
        )
        .await
    }

    /// Notifies every active admin of the organization and audits it,
    /// unless they were told of this failure streak of `account` already
    /// (then answers 0).
    async fn alert_admins(
        &self,
        org_id: Uuid,
        account: &str,
        message: Message<'static>,
        audit_action: &'static str,
        subject: &str,
        error: &str,
    ) -> Result<usize, DeskError> {
        let subject = subject.to_string();
        let detail: Value = json!({ "error": error });
        let desk = self.clone();
        let account = account.to_string();
        self.execute(move |work| {
            Box::pin(async move {
                let now = store::now();
                if !store::mail::start_auth_alert(&mut work.tx, org_id, &account, now).await? {
                    return Ok(0);
                }
                let admins: Vec<Uuid> = store::people::list_people(&mut work.tx, org_id)
                    .await?
                    .into_iter()
                    .filter(|p| p.disabled_at.is_none() && p.roles.0.iter().any(|r| r == "admin"))
                    .map(|p| p.id)
                    .collect();
                for admin in &admins {
                    desk.notify_person(work, org_id, *admin, &message).await?;
                }
                let mut detail = detail;
                detail["notified"] = json!(admins.len());
                work.audit(&Actor::system(org_id), audit_action, &subject, detail);
                Ok(admins.len())
            })
        })
        .await
    }
}
