//! Use cases fired by timers (DESIGN.md §3 step 7). The scheduler calls
//! [`Desk::fire_next_timer`]; the claim, the effect and the timer's removal
//! commit together.

use serde_json::json;

use super::{
    alerts::ALERT_QUIET,
    approvals::{APPROVAL_EXPIRY, APPROVAL_REMINDER},
    availability::ABSENCE_START,
    escalation::ESCALATION_STEP,
    schedules::SCHEDULE_RUN,
    sla::SLA_ALARM,
    tickets::AUTO_CLOSE,
    Actor, Desk, DeskError, Work,
};
use crate::{
    domain::State,
    store::{self, timers::TimerRow},
};

impl Desk {
    /// Claims and handles one due timer. Returns false when none was due.
    pub async fn fire_next_timer(&self) -> Result<bool, DeskError> {
        let desk = self.clone();
        let fired = self
            .execute(move |work| {
                Box::pin(async move {
                    let Some(timer) =
                        store::timers::claim_due_timer(&mut work.tx, desk.clock.now()).await?
                    else {
                        return Ok(None);
                    };
                    store::timers::delete_timer(&mut work.tx, timer.id).await?;
                    let lag =
                        (desk.clock.now() - timer.due_at).num_milliseconds().max(0) as f64 / 1000.0;
                    desk.handle_timer(work, &timer).await?;
                    Ok(Some(lag))
                })
            })
            .await?;
        if let Some(lag) = fired {
            self.metrics.timer_fired(lag);
        }
        Ok(fired.is_some())
    }

    /// Claims up to `limit` due timers of one organization in one
    /// statement and handles them all in one transaction: one commit and a
    /// few round trips for the lot instead of per timer (the 10,000-timer
    /// benchmark). If the batch fails, it rolls back whole (the timers are
    /// due again) and they are retried one transaction each, so one bad
    /// timer cannot hold the others back. Returns how many were handled.
    pub async fn fire_due_timers(&self, limit: i64) -> Result<usize, DeskError> {
        if limit <= 1 {
            return Ok(usize::from(self.fire_next_timer().await?));
        }
        let desk = self.clone();
        let batch = self
            .execute(move |work| {
                Box::pin(async move {
                    let now = desk.clock.now();
                    let timers = store::timers::claim_due_timers(&mut work.tx, now, limit).await?;
                    let mut lags = Vec::with_capacity(timers.len());
                    for timer in &timers {
                        lags.push((now - timer.due_at).num_milliseconds().max(0) as f64 / 1000.0);
                        desk.handle_timer(work, timer).await?;
                    }
                    Ok(lags)
                })
            })
            .await;
        match batch {
            Ok(lags) => {
                for lag in &lags {
                    self.metrics.timer_fired(*lag);
                }
                Ok(lags.len())
            }
            Err(error) => {
                tracing::warn!(error = %error, "a batch of timers failed; firing them one at a time");
                let mut fired = 0;
                while fired < limit as usize && self.fire_next_timer().await? {
                    fired += 1;
                }
                Ok(fired)
            }
        }
    }

    async fn handle_timer(&self, work: &mut Work, timer: &TimerRow) -> Result<(), DeskError> {
        match timer.kind.as_str() {
            AUTO_CLOSE => self.auto_close(work, timer).await,
            APPROVAL_REMINDER | APPROVAL_EXPIRY => self.approval_timer(work, timer).await,
            SLA_ALARM => self.sla_timer(work, timer).await,
            ESCALATION_STEP => self.escalation_timer(work, timer).await,
            SCHEDULE_RUN => self.schedule_timer(work, timer).await,
            ALERT_QUIET => self.alert_quiet_timer(work, timer).await,
            ABSENCE_START => self.absence_timer(work, timer).await,
            other => {
                // A timer from a newer version, or a typo in a migration: keep
                // a trace, never loop on it.
                tracing::warn!(kind = other, timer = %timer.id, "dropping a timer of unknown kind");
                Ok(())
            }
        }
    }

    /// Closes a ticket that stayed resolved for the configured period.
    async fn auto_close(&self, work: &mut Work, timer: &TimerRow) -> Result<(), DeskError> {
        let Some(ticket_id) = timer.ticket_id else {
            return Ok(());
        };
        let Some(ticket) =
            store::tickets::find_ticket(&mut work.tx, timer.org_id, ticket_id).await?
        else {
            return Ok(());
        };
        // Reopened and resolved again since: a newer timer covers it.
        if ticket.state != State::Resolved.as_str() {
            return Ok(());
        }
        let actor = Actor::system(timer.org_id);
        self.transition(work, &actor, &ticket.number, State::Closed.as_str(), None)
            .await?;
        work.audit(
            &actor,
            "ticket.auto_closed",
            &ticket.number,
            json!({ "resolved_at": ticket.resolved_at }),
        );
        Ok(())
    }
}
