//! How each mailbox fares, for the admins' connector view: the mail worker
//! records every check (`mail_polled`), the console reads them
//! (`mailbox_polls`). A record of the worker, not a use case: one upsert
//! outside any transaction, no audit entry.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{mail::MailboxMapping, Actor, Desk, DeskError};
use crate::store;

/// A mailbox as last checked.
#[derive(Debug, Clone, Serialize)]
pub struct MailboxPollView {
    /// The mailbox's URL without credentials.
    pub mailbox: String,
    /// The last check that worked.
    pub polled_at: Option<DateTime<Utc>>,
    /// Since when checks fail, with why; none while they work.
    pub failed_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

impl Desk {
    /// Records a check of a mailbox: `error` none when it worked.
    pub async fn mail_polled(
        &self,
        mapping: &MailboxMapping,
        error: Option<&str>,
    ) -> Result<(), DeskError> {
        store::mail::record_poll(&self.db, &mapping.name, mapping.org_id, error).await?;
        Ok(())
    }

    /// The organization's mailboxes as last checked (admins).
    pub async fn mailbox_polls(&self, actor: &Actor) -> Result<Vec<MailboxPollView>, DeskError> {
        actor.require_admin()?;
        Ok(store::mail::list_polls(&self.db, actor.org_id)
            .await?
            .into_iter()
            .map(|p| MailboxPollView {
                mailbox: p.mailbox,
                polled_at: p.polled_at,
                failed_at: p.failed_at,
                error: p.error,
            })
            .collect())
    }
}
