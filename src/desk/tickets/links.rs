//! Ticket links: related, duplicate of, caused by, blocks (rules in
//! `domain::link`). A link is made and removed by agents, managers and
//! admins; both tickets are locked (in id order, so two use cases that
//! lock the same pair never wait on each other in a circle), both get an
//! activity line and a `ticket.linked` / `ticket.unlinked` event whose
//! ticket carries its links, and the audit gets one entry.

use serde_json::json;
use uuid::Uuid;

use super::{normalize_number, require_view};
use crate::desk::{
    new_id,
    views::{TicketLinkView, TicketView},
    Actor, Desk, DeskError, Work,
};
use crate::{
    domain::{
        link::{self, Link, LinkKind, SeenKind, Side},
        TicketNumber,
    },
    store::{
        self,
        links::{LinkRow, LinkedRow},
        tickets::TicketRow,
        Exec, Tx,
    },
};

impl Desk {
    /// Links ticket `number` to `to` with `kind` (`number --kind--> to`);
    /// answers the link as `number` reads it.
    #[tracing::instrument(skip_all, fields(ticket = %number, to = %to, kind = %kind), err(level = "debug"))]
    pub async fn link_tickets(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        to: &str,
        kind: &str,
    ) -> Result<TicketLinkView, DeskError> {
        actor.require_agent()?;
        let kind = LinkKind::parse(kind).map_err(|e| DeskError::invalid("kind", e.to_string()))?;
        let (this, other) = lock_pair(&mut work.tx, actor, number, to, "to").await?;
        let existing = links_between(&mut work.tx, actor.org_id, &this, &other).await?;
        link::check_new(this.id, other.id, kind, &existing)
            .map_err(|refused| DeskError::invalid("to", refused.to_string()))?;
        let row = LinkRow {
            id: new_id(),
            org_id: actor.org_id,
            from_ticket_id: this.id,
            to_ticket_id: other.id,
            kind: kind.as_str().into(),
            created_by: actor.person_id,
            created_at: store::now(),
        };
        if !store::links::insert_link(&mut work.tx, &row).await? {
            return Err(DeskError::invalid(
                "to",
                format!("these tickets are already linked as {kind}"),
            ));
        }
        self.record_link(work, actor, "linked", &this, &other, kind)
            .await?;
        Ok(TicketLinkView {
            ticket: other.number.clone(),
            title: other.title.clone(),
            state: other.state.clone(),
            ticket_kind: other.kind.clone(),
            kind: kind.seen_from(Side::From).into(),
            created_at: row.created_at,
        })
    }

    /// Removes the links between `number` and `to`; with `kind` (as
    /// `number` reads it: `blocked_by` …) only that one.
    #[tracing::instrument(skip_all, fields(ticket = %number, to = %to), err(level = "debug"))]
    pub async fn unlink_tickets(
        &self,
        work: &mut Work,
        actor: &Actor,
        number: &str,
        to: &str,
        kind: Option<&str>,
    ) -> Result<(), DeskError> {
        actor.require_agent()?;
        let seen = kind
            .map(SeenKind::parse)
            .transpose()
            .map_err(|message| DeskError::invalid("kind", message))?;
        let (this, other) = lock_pair(&mut work.tx, actor, number, to, "to").await?;
        let rows =
            store::links::links_between(&mut work.tx, actor.org_id, this.id, other.id).await?;
        let mut removed = 0;
        for row in rows {
            let Ok(kind) = LinkKind::parse(&row.kind) else {
                continue;
            };
            let link = Link {
                from: row.from_ticket_id,
                to: row.to_ticket_id,
                kind,
            };
            if seen.is_some_and(|s| !s.matches(&link, this.id)) {
                continue;
            }
            store::links::delete_link(&mut work.tx, actor.org_id, row.id).await?;
            let (from, to) = if link.from == this.id {
                (&this, &other)
            } else {
                (&other, &this)
            };
            self.record_link(work, actor, "unlinked", from, to, kind)
                .await?;
            removed += 1;
        }
        if removed == 0 {
            return Err(DeskError::NotFound("link"));
        }
        Ok(())
    }

    /// The links of ticket `number`, both directions, as it reads them.
    pub async fn list_links(
        &self,
        actor: &Actor,
        number: &str,
    ) -> Result<Vec<TicketLinkView>, DeskError> {
        actor.require_agent()?;
        let row = self
            .visible_ticket(Exec::Db(&self.db), actor, number)
            .await?;
        ticket_links(Exec::Db(&self.db), actor, &row).await
    }

    /// Activity on both tickets, one audit entry and an event on each
    /// (whose ticket carries its links now) for a link made or removed
    /// (`action` is `linked` or `unlinked`), `from --kind--> to`.
    async fn record_link(
        &self,
        work: &mut Work,
        actor: &Actor,
        action: &'static str,
        from: &TicketRow,
        to: &TicketRow,
        kind: LinkKind,
    ) -> Result<(), DeskError> {
        for (ticket, other, side) in [(from, to, Side::From), (to, from, Side::To)] {
            let value = Some(format!("{} {}", kind.seen_from(side), other.number));
            let change = if action == "linked" {
                (None, value)
            } else {
                (value, None)
            };
            work.record(
                actor,
                ticket.id,
                action,
                Some(("links", change.0, change.1)),
            );
        }
        work.audit(
            actor,
            &format!("ticket.{action}"),
            &from.number,
            json!({ "to": to.number, "kind": kind }),
        );
        let event = if action == "linked" {
            "ticket.linked"
        } else {
            "ticket.unlinked"
        };
        for (ticket, other, side) in [(from, to, Side::From), (to, from, Side::To)] {
            let mut view = TicketView::from(ticket);
            view.links = Some(ticket_links(Exec::Tx(&mut work.tx), actor, ticket).await?);
            work.emit(
                actor.org_id,
                event,
                view,
                json!({ "link": { "ticket": other.number, "kind": kind.seen_from(side) } }),
            );
        }
        Ok(())
    }

    /// Adds the links (and the merge survivor, once merged) to a ticket's
    /// single-ticket view.
    pub(crate) async fn with_links(
        &self,
        actor: &Actor,
        row: &TicketRow,
        view: &mut TicketView,
    ) -> Result<(), DeskError> {
        if !row.extra.linked {
            // Never linked nor merged: nothing to look up (the common read).
            view.links = Some(Vec::new());
            return Ok(());
        }
        view.links = Some(ticket_links(Exec::Db(&self.db), actor, row).await?);
        view.merged_into = store::links::merged_into(Exec::Db(&self.db), row.org_id, row.id)
            .await?
            .map(|(_, number)| number);
        Ok(())
    }
}

/// A ticket's links as it reads them; a requester sees only those to
/// tickets they raised (the others' titles are not theirs to read).
pub(super) async fn ticket_links(
    exec: Exec<'_>,
    actor: &Actor,
    row: &TicketRow,
) -> Result<Vec<TicketLinkView>, DeskError> {
    let rows = store::links::list_links(exec, row.org_id, row.id).await?;
    Ok(rows
        .iter()
        .filter(|l| {
            actor.is_agent()
                || (actor.person_id.is_some() && l.other_requester_id == actor.person_id)
        })
        .filter_map(|l| link_view(l, row.id))
        .collect())
}

fn link_view(l: &LinkedRow, this: Uuid) -> Option<TicketLinkView> {
    let kind = LinkKind::parse(&l.kind).ok()?;
    let side = if l.from_ticket_id == this {
        Side::From
    } else {
        Side::To
    };
    Some(TicketLinkView {
        ticket: l.other_number.clone(),
        title: l.other_title.clone(),
        state: l.other_state.clone(),
        ticket_kind: l.other_kind.clone(),
        kind: kind.seen_from(side).into(),
        created_at: l.created_at,
    })
}

/// The links between two tickets as the domain reads them.
pub(super) async fn links_between(
    tx: &mut Tx,
    org_id: Uuid,
    a: &TicketRow,
    b: &TicketRow,
) -> Result<Vec<Link>, DeskError> {
    Ok(store::links::links_between(tx, org_id, a.id, b.id)
        .await?
        .iter()
        .filter_map(|r| {
            Some(Link {
                from: r.from_ticket_id,
                to: r.to_ticket_id,
                kind: LinkKind::parse(&r.kind).ok()?,
            })
        })
        .collect())
}

/// Locks ticket `number` (the path's: not found is 404) and `other` (a
/// field of the request, `field`: not found is a 422 naming it — another
/// organization's number reads the same as one that does not exist),
/// both for change, in the order of their ids. The same number twice
/// answers the one ticket twice (the domain refuses that with its reason).
pub(super) async fn lock_pair(
    tx: &mut Tx,
    actor: &Actor,
    number: &str,
    other: &str,
    field: &'static str,
) -> Result<(TicketRow, TicketRow), DeskError> {
    let this_number = normalize_number(number)?;
    let other_number = TicketNumber::parse(other)
        .map(|n| n.to_string())
        .map_err(|_| {
            DeskError::invalid(
                field,
                format!("`{other}` is not a ticket number (e.g. INC0000042)"),
            )
        })?;
    let missing = || {
        DeskError::invalid(
            field,
            format!("no ticket {other_number} in this organization"),
        )
    };
    let this_id = find_id(tx, actor.org_id, &this_number)
        .await?
        .ok_or(DeskError::NotFound("ticket"))?;
    let other_id = find_id(tx, actor.org_id, &other_number)
        .await?
        .ok_or_else(missing)?;
    let mut order = [(this_id, &this_number), (other_id, &other_number)];
    order.sort_by_key(|(id, _)| *id);
    let mut locked: Vec<TicketRow> = Vec::with_capacity(2);
    for (id, number) in order {
        if locked.iter().any(|r| r.id == id) {
            continue;
        }
        let row = store::tickets::lock_ticket_by_number(tx, actor.org_id, number)
            .await?
            .ok_or(DeskError::NotFound("ticket"))?;
        locked.push(row);
    }
    let take = |id: Uuid| locked.iter().find(|r| r.id == id).cloned();
    let (Some(this), Some(other)) = (take(this_id), take(other_id)) else {
        return Err(DeskError::NotFound("ticket"));
    };
    require_view(Exec::Tx(tx), actor, &this).await?;
    require_view(Exec::Tx(tx), actor, &other)
        .await
        .map_err(|_| missing())?;
    Ok((this, other))
}

async fn find_id(tx: &mut Tx, org_id: Uuid, number: &str) -> Result<Option<Uuid>, DeskError> {
    Ok(
        store::tickets::find_ticket_by_number(Exec::Tx(tx), org_id, number)
            .await?
            .map(|r| r.id),
    )
}
