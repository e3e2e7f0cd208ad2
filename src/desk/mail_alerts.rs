//! Alerts about the mail connection itself: the SMTP account cannot sign
//! in (refused credentials, or no OAuth token could be had). The IMAP
//! side's twin is `Desk::mail_auth_failed` in `mail.rs`. Callers alert once
//! per failure streak; each alert is one use case: the admins'
//! notifications and an audit event.

use serde_json::json;
use uuid::Uuid;

use super::{notify::Message, Actor, Desk, DeskError};
use crate::store;

impl Desk {
    /// Tells the organization's admins that mail cannot be sent from
    /// `account`; returns how many were told.
    pub async fn smtp_auth_failed(
        &self,
        org_id: Uuid,
        account: &str,
        error: &str,
    ) -> Result<usize, DeskError> {
        let account = account.to_string();
        let error: String = error
            .chars()
            .filter(|c| !c.is_control())
            .take(500)
            .collect();
        let desk = self.clone();
        self.execute(move |work| {
            Box::pin(async move {
                let admins: Vec<Uuid> = store::people::list_people(&mut work.tx, org_id)
                    .await?
                    .into_iter()
                    .filter(|p| p.disabled_at.is_none() && p.roles.0.iter().any(|r| r == "admin"))
                    .map(|p| p.id)
                    .collect();
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
                for admin in &admins {
                    desk.notify_person(work, org_id, *admin, &message).await?;
                }
                work.audit(
                    &Actor::system(org_id),
                    "email.smtp_auth_failed",
                    &account,
                    json!({ "error": error, "notified": admins.len() }),
                );
                Ok(admins.len())
            })
        })
        .await
    }
}
