//! A ticket's conversation and history: comments (public or internal, each
//! passed to the SLA and mail hooks) and the activity list.

use serde_json::json;

use super::lock_visible;
use crate::desk::{
    new_id,
    views::{ActivityView, CommentView, TicketView},
    Actor, Desk, DeskError, Work,
};
use crate::{
    domain::text::CommentBody,
    store::{
        self,
        tickets::{CommentRow, TicketRow},
        Exec,
    },
};

impl Desk {
    pub async fn add_comment(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        body: &str,
        internal: bool,
    ) -> Result<CommentView, DeskError> {
        if internal && !actor.is_agent() {
            return Err(DeskError::Forbidden(
                "only agents may write internal notes".into(),
            ));
        }
        let mut row = lock_visible(&mut work.tx, actor, number).await?;
        row.updated_at = store::now();
        store::tickets::update_ticket(&mut work.tx, &row).await?;
        self.insert_comment(work, actor, &row, body, internal).await
    }

    pub(super) async fn insert_comment(
        &self,
        work: &mut Work,
        actor: &Actor,
        ticket: &TicketRow,
        body: &str,
        internal: bool,
    ) -> Result<CommentView, DeskError> {
        let body = CommentBody::parse("body", body)?;
        let comment = CommentRow {
            id: new_id(),
            org_id: actor.org_id,
            ticket_id: ticket.id,
            author_id: actor.person_id,
            author_name: Some(actor.name.clone()),
            body: body.into_inner(),
            internal,
            channel: actor.channel.as_str().into(),
            created_at: store::now(),
            merged_from: None,
        };
        store::tickets::insert_comment(&mut work.tx, &comment).await?;
        if !internal {
            self.mail_on_public_comment(work, actor, ticket, &comment.body);
        }
        let action = if internal {
            "internal_note"
        } else {
            "commented"
        };
        work.record(actor, ticket.id, action, None);
        self.sla_on_comment(work, actor, ticket, internal).await?;
        work.audit(
            actor,
            "ticket.commented",
            &ticket.number,
            json!({ "comment": comment.id, "internal": internal }),
        );
        let view = CommentView::from_row(&comment, &ticket.number);
        work.emit(
            actor.org_id,
            "ticket.commented",
            TicketView::from(ticket),
            json!({ "comment": view }),
        );
        let said = Some((comment.body.as_str(), internal));
        self.notify_ticket(work, actor, ticket, "ticket.commented", said, json!({}))
            .await?;
        Ok(view)
    }

    pub async fn list_comments(
        &self,
        actor: &Actor,
        number: &str,
    ) -> Result<Vec<CommentView>, DeskError> {
        let ticket = self
            .visible_ticket(Exec::Db(&self.db), actor, number)
            .await?;
        let rows = store::tickets::list_comments(
            Exec::Db(&self.db),
            actor.org_id,
            ticket.id,
            actor.is_agent(),
        )
        .await?;
        Ok(rows
            .iter()
            .map(|c| CommentView::from_row(c, &ticket.number))
            .collect())
    }

    pub async fn list_activity(
        &self,
        actor: &Actor,
        number: &str,
    ) -> Result<Vec<ActivityView>, DeskError> {
        actor.require_agent()?;
        let ticket = self
            .visible_ticket(Exec::Db(&self.db), actor, number)
            .await?;
        let rows =
            store::activity::list_activity(Exec::Db(&self.db), actor.org_id, ticket.id).await?;
        Ok(rows.iter().map(ActivityView::from).collect())
    }
}
