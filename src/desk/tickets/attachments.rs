//! A ticket's files: stored by content hash before the transaction, recorded
//! with the ticket inside it, listed and read back.

use serde_json::json;
use uuid::Uuid;

use super::{lock_visible, require_view, StoredFile};
use crate::desk::{
    new_id,
    views::{AttachmentView, TicketView},
    Actor, Desk, DeskError, Work,
};
use crate::store::{
    self,
    tickets::{AttachmentRow, TicketRow},
    Exec,
};

impl Desk {
    /// Stores an uploaded file by content hash and links it to the ticket.
    pub async fn add_attachment(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        filename: &str,
        bytes: &[u8],
    ) -> Result<AttachmentView, DeskError> {
        if bytes.len() as u64 > self.settings.max_attachment_bytes {
            return Err(DeskError::TooLarge(format!(
                "attachments may be at most {} bytes (got {})",
                self.settings.max_attachment_bytes,
                bytes.len()
            )));
        }
        let filename = crate::desk::files::clean_filename(filename)?;
        let mut row = lock_visible(&mut work.tx, actor, number).await?;
        // Written before the row commits; a rolled-back upload leaves an
        // unreferenced, content-addressed file, which is harmless.
        let stored =
            crate::desk::files::store_in(&mut work.tx, &self.settings.blobs, bytes).await?;
        let attachment = AttachmentRow {
            id: new_id(),
            org_id: actor.org_id,
            ticket_id: row.id,
            filename,
            content_type: stored.content_type,
            size_bytes: bytes.len() as i64,
            sha256: stored.sha256,
            uploaded_by: actor.person_id,
            channel: actor.channel.as_str().into(),
            created_at: store::now(),
        };
        store::tickets::insert_attachment(&mut work.tx, &attachment).await?;
        row.updated_at = attachment.created_at;
        store::tickets::update_ticket(&mut work.tx, &row).await?;
        Ok(record_attachment(
            work,
            actor,
            &row,
            TicketView::from(&row),
            &attachment,
        ))
    }

    /// Attaches files already in the store ([`crate::desk::files::store`]) to a
    /// ticket this transaction holds for change (it opened or locked `row`):
    /// the rows and the ticket's `updated_at` in one statement on Postgres,
    /// with the activity, audit entry and event of each file as
    /// [`Desk::add_attachment`] records them. For intake that carries several
    /// files at once (a mail and its original): no lock, no file I/O and no
    /// per-file round trips while the ticket counter may be held.
    ///
    /// `opened_here`: this transaction opened the ticket, and the files come
    /// with it — they carry its creation time and the ticket row is not
    /// written again (an update of a ticket rewrites every index entry).
    pub(crate) async fn attach_stored(
        &self,
        work: &mut Work,
        actor: &Actor,
        row: &mut TicketRow,
        files: Vec<StoredFile>,
        opened_here: bool,
    ) -> Result<Vec<AttachmentView>, DeskError> {
        if files.is_empty() {
            return Ok(Vec::new());
        }
        require_view(Exec::Tx(&mut work.tx), actor, row).await?;
        let now = if opened_here {
            row.created_at
        } else {
            store::now()
        };
        let rows: Vec<AttachmentRow> = files
            .into_iter()
            .map(|f| AttachmentRow {
                id: new_id(),
                org_id: actor.org_id,
                ticket_id: row.id,
                filename: f.filename,
                content_type: f.stored.content_type,
                size_bytes: f.size_bytes,
                sha256: f.stored.sha256,
                uploaded_by: actor.person_id,
                channel: actor.channel.as_str().into(),
                created_at: now,
            })
            .collect();
        if opened_here {
            // Written with the flush: the ticket counter is held until
            // commit, and this saves a round trip under it.
            work.buffers.attachments.extend(rows.iter().cloned());
        } else {
            store::tickets::insert_attachments(&mut work.tx, &rows, row.org_id, row.id, Some(now))
                .await?;
        }
        row.updated_at = now;
        let ticket = TicketView::from(&*row);
        let mut views = Vec::with_capacity(rows.len());
        for attachment in &rows {
            views.push(record_attachment(
                work,
                actor,
                row,
                ticket.clone(),
                attachment,
            ));
        }
        Ok(views)
    }

    pub async fn list_attachments(
        &self,
        actor: &Actor,
        number: &str,
    ) -> Result<Vec<AttachmentView>, DeskError> {
        let ticket = self
            .visible_ticket(Exec::Db(&self.db), actor, number)
            .await?;
        let rows =
            store::tickets::list_attachments(Exec::Db(&self.db), actor.org_id, ticket.id).await?;
        Ok(rows.iter().map(AttachmentView::from).collect())
    }

    /// Returns the attachment's metadata and content.
    pub async fn read_attachment(
        &self,
        actor: &Actor,
        number: &str,
        id: Uuid,
    ) -> Result<(AttachmentView, Vec<u8>), DeskError> {
        let ticket = self
            .visible_ticket(Exec::Db(&self.db), actor, number)
            .await?;
        let row = store::tickets::find_attachment(Exec::Db(&self.db), actor.org_id, ticket.id, id)
            .await?
            .ok_or(DeskError::NotFound("attachment"))?;
        let bytes = crate::desk::files::load(&self.settings.blobs, &row.sha256).await?;
        Ok((AttachmentView::from(&row), bytes))
    }
}

/// An attachment's activity, audit entry and event.
fn record_attachment(
    work: &mut Work,
    actor: &Actor,
    row: &TicketRow,
    ticket: TicketView,
    attachment: &store::tickets::AttachmentRow,
) -> AttachmentView {
    work.record(
        actor,
        row.id,
        "attachment_added",
        Some(("attachment", None, Some(attachment.filename.clone()))),
    );
    work.audit(
        actor,
        "ticket.attachment_added",
        &row.number,
        json!({ "attachment": attachment.id, "sha256": attachment.sha256 }),
    );
    let view = AttachmentView::from(attachment);
    work.emit(
        actor.org_id,
        "ticket.attachment_added",
        ticket,
        json!({ "attachment": view }),
    );
    view
}
