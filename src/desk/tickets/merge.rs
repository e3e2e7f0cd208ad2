//! Merging a duplicate (B) into the ticket that goes on (A), in one
//! transaction with both tickets locked in id order.
//!
//! Nothing of B is rewritten, so every earlier activity line and audit
//! entry stays true: B's description, comments and attachments are
//! *copied* onto A with their authors, channels and times, each marked
//! with B (`merged_from`); B's watchers and its requester become watchers
//! of A; B's chat threads (requester thread, triage card) are moved to A,
//! so a reply in them lands on A. B then closes — a move of its own
//! (`domain::link::merge_close`), allowed for every kind from every state
//! not already final — with a `duplicate_of` link to A and `merged_into`
//! set; mail that still finds B (its Message-IDs, its number in a subject)
//! is taken to A ([`Desk::merge_survivor`]). Both requesters are told once
//! (`ticket.merged`), and a `ticket.merged` webhook event carries both
//! tickets.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{
    links::{links_between, lock_pair, ticket_links},
    AUTO_CLOSE,
};
use crate::desk::{
    new_id,
    notify::{ticket_context, Message},
    views::TicketView,
    Actor, Desk, DeskError, Work,
};
use crate::{
    domain::{
        link::{self, LinkKind, LinkRefusal, MergeSide},
        Kind, State,
    },
    store::{
        self,
        links::LinkRow,
        tickets::{AttachmentRow, CommentRow, TicketRow},
        Exec,
    },
};

/// The chat messages of a ticket that follow it into a merge: the
/// requester's thread and the triage card (`desk::chat`'s purposes).
/// Others (a resolution check's buttons) stay with the ticket they asked about.
const MOVED_CHAT: [&str; 2] = ["requester_thread", "triage_card"];

/// How many merges mail follows from a ticket to the one that goes on.
const MAX_HOPS: usize = 8;

/// What a merge did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MergeView {
    /// The merged ticket, now closed, with `merged_into`.
    pub ticket: TicketView,
    /// The ticket it was merged into.
    pub into: TicketView,
    /// Comments copied onto `into` (the description counts as one).
    pub comments: u64,
    pub attachments: u64,
    /// People who became watchers of `into`.
    pub watchers: u64,
}

impl Desk {
    /// Merges ticket `number` (B) into `into` (A).
    #[tracing::instrument(skip_all, fields(ticket = %number, into = %into), err(level = "debug"))]
    pub async fn merge_ticket(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        into: &str,
    ) -> Result<MergeView, DeskError> {
        actor.require_agent()?;
        let org_id = actor.org_id;
        let (mut b, mut a) = lock_pair(&mut work.tx, actor, number, into, "into").await?;
        let refuse = |field: &'static str, why: String| {
            DeskError::invalid(
                field,
                format!("cannot merge {} into {}: {why}", b.number, a.number),
            )
        };
        let from = State::parse(&b.state).map_err(anyhow::Error::from)?;
        let b_side = merge_side(&mut work.tx, &b).await?;
        let a_side = merge_side(&mut work.tx, &a).await?;
        let to = link::merge_close(b_side, a_side)
            .map_err(|refused| refuse(refused.field(), refused.to_string()))?;
        let existing = links_between(&mut work.tx, org_id, &b, &a).await?;
        let now = store::now();
        match link::check_new(b.id, a.id, LinkKind::DuplicateOf, &existing) {
            Ok(()) => {
                let row = LinkRow {
                    id: new_id(),
                    org_id,
                    from_ticket_id: b.id,
                    to_ticket_id: a.id,
                    kind: LinkKind::DuplicateOf.as_str().into(),
                    created_by: actor.person_id,
                    created_at: now,
                };
                store::links::insert_link(&mut work.tx, &row).await?;
            }
            Err(LinkRefusal::Exists(_)) => {}
            Err(refused) => return Err(refuse("into", refused.to_string())),
        }

        // B's conversation, copied onto A as it was written.
        let mut comments = 0;
        let opening = CommentRow {
            id: new_id(),
            org_id,
            ticket_id: a.id,
            author_id: b.requester_id,
            author_name: b.requester_name.clone(),
            body: format!("{}\n\n{}", b.title, b.description)
                .trim_end()
                .to_string(),
            internal: false,
            channel: b.channel.clone(),
            created_at: b.created_at,
            merged_from: None,
        };
        store::links::insert_merged_comment(&mut work.tx, &opening, b.id).await?;
        comments += 1;
        for comment in
            store::tickets::list_comments(Exec::Tx(&mut work.tx), org_id, b.id, true).await?
        {
            let copy = CommentRow {
                id: new_id(),
                ticket_id: a.id,
                ..comment
            };
            store::links::insert_merged_comment(&mut work.tx, &copy, b.id).await?;
            comments += 1;
        }
        let mut attachments = 0;
        for file in store::tickets::list_attachments(Exec::Tx(&mut work.tx), org_id, b.id).await? {
            let copy = AttachmentRow {
                id: new_id(),
                ticket_id: a.id,
                ..file
            };
            store::links::insert_merged_attachment(&mut work.tx, &copy, b.id).await?;
            attachments += 1;
        }
        let mut watchers = store::links::copy_watchers(&mut work.tx, b.id, a.id).await?;
        if let Some(requester) = b.requester_id.filter(|r| Some(*r) != a.requester_id) {
            if store::tickets::add_watcher(&mut work.tx, a.id, requester).await? {
                watchers += 1;
            }
        }
        store::links::move_chat_threads(&mut work.tx, org_id, b.id, a.id, MOVED_CHAT).await?;

        // B closes as merged; A has changed.
        b.state = to.as_str().into();
        b.updated_at = now;
        b.closed_at = Some(now);
        store::tickets::update_ticket(&mut work.tx, &b).await?;
        store::links::set_merged_into(&mut work.tx, org_id, b.id, a.id).await?;
        store::timers::cancel_timers(&mut work.tx, b.id, AUTO_CLOSE).await?;
        self.cancel_approvals(work, &b).await?;
        self.sla_on_move(work, &b, from, to).await?;
        a.updated_at = now;
        store::tickets::update_ticket(&mut work.tx, &a).await?;

        work.record(
            actor,
            b.id,
            "state_changed",
            Some((
                "state",
                Some(from.as_str().into()),
                Some(to.as_str().into()),
            )),
        );
        work.record(
            actor,
            b.id,
            "merged",
            Some(("merged_into", None, Some(a.number.clone()))),
        );
        work.record(
            actor,
            a.id,
            "merged",
            Some(("merged_from", None, Some(b.number.clone()))),
        );
        work.audit(
            actor,
            "ticket.merged",
            &b.number,
            json!({ "into": a.number, "comments": comments, "attachments": attachments, "watchers": watchers }),
        );

        let mut b_view = TicketView::from(&b);
        b_view.merged_into = Some(a.number.clone());
        b_view.links = Some(ticket_links(Exec::Tx(&mut work.tx), actor, &b).await?);
        let mut a_view = TicketView::from(&a);
        a_view.links = Some(ticket_links(Exec::Tx(&mut work.tx), actor, &a).await?);
        work.emit(
            org_id,
            "ticket.state_changed",
            b_view.clone(),
            json!({ "from": from, "to": to, "merged_into": a.number }),
        );
        work.emit(
            org_id,
            "ticket.merged",
            b_view.clone(),
            json!({ "into": a_view, "comments": comments, "attachments": attachments, "watchers": watchers }),
        );
        self.tell_merged(work, actor, &b, &a).await?;
        Ok(MergeView {
            ticket: b_view,
            into: a_view,
            comments,
            attachments,
            watchers,
        })
    }

    /// Tells B's requester and A's requester, once each (once in all when
    /// they are one person), never the actor.
    async fn tell_merged(
        &self,
        work: &mut Work,
        actor: &Actor,
        b: &TicketRow,
        a: &TicketRow,
    ) -> Result<(), DeskError> {
        let merge = json!({ "from": b.number, "from_title": b.title, "into": a.number, "into_title": a.title });
        let to_b = (
            b,
            format!("[{}] {}: merged into {}", b.number, b.title, a.number),
            format!(
                "{} \"{}\" was merged into {} \"{}\", where the work goes on; replies to {} reach {}.",
                b.number, b.title, a.number, a.title, b.number, a.number
            ),
        );
        let to_a = (
            a,
            format!("[{}] {}: {} merged into it", a.number, a.title, b.number),
            format!(
                "{} \"{}\" was merged into {} \"{}\".",
                b.number, b.title, a.number, a.title
            ),
        );
        let mut told = Vec::new();
        for (about, subject, text) in [to_b, to_a] {
            let Some(person) = about.requester_id else {
                continue;
            };
            if Some(person) == actor.person_id || told.contains(&person) {
                continue;
            }
            told.push(person);
            let context = json!({
                "ticket": ticket_context(about),
                "merge": merge,
                "actor": { "name": actor.name },
            });
            let message = Message {
                event: "ticket.merged",
                subject,
                text,
                data: json!({ "ticket": about.number, "event": "ticket.merged", "details": merge }),
            };
            self.notify_person_in(work, actor.org_id, person, &message, Some(&context))
                .await?;
        }
        Ok(())
    }

    /// The ticket mail found (by thread or subject token), or, when that
    /// one was merged, the ticket it went into (following merges of merges).
    /// A sender who is not a participant there becomes a watcher of it,
    /// so the reply can be added.
    pub(crate) async fn merge_survivor(
        &self,
        work: &mut Work,
        actor: &Actor,
        found: TicketRow,
    ) -> Result<TicketRow, DeskError> {
        let mut row = found;
        let mut moved = false;
        for _ in 0..MAX_HOPS {
            let Some((id, _)) =
                store::links::merged_into(Exec::Tx(&mut work.tx), row.org_id, row.id).await?
            else {
                break;
            };
            row = store::tickets::find_ticket(&mut work.tx, row.org_id, id)
                .await?
                .ok_or(DeskError::NotFound("ticket"))?;
            moved = true;
        }
        let Some(person) = actor.person_id.filter(|_| moved && !actor.is_agent()) else {
            return Ok(row);
        };
        let participant = row.requester_id == Some(person)
            || row.assignee_id == Some(person)
            || store::tickets::is_watching(Exec::Tx(&mut work.tx), row.id, person).await?;
        if !participant && store::tickets::add_watcher(&mut work.tx, row.id, person).await? {
            work.record(
                &Actor::system(row.org_id),
                row.id,
                "watcher_added",
                Some(("watchers", None, Some(actor.name.clone()))),
            );
        }
        Ok(row)
    }
}

/// A ticket as the merge rule sees it.
async fn merge_side(tx: &mut store::Tx, row: &TicketRow) -> Result<MergeSide, DeskError> {
    Ok(MergeSide {
        id: row.id,
        kind: Kind::parse(&row.kind).map_err(anyhow::Error::from)?,
        state: State::parse(&row.state).map_err(anyhow::Error::from)?,
        merged: store::links::merged_into(Exec::Tx(tx), row.org_id, row.id)
            .await?
            .is_some(),
    })
}
