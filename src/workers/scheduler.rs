//! The timer scheduler: claims due timers in batches (one organization, up
//! to [`BATCH`] timers, one transaction) and lets the desk handle them
//! (DESIGN.md §3 step 7). Several daemons may run it side by side;
//! Postgres row claims keep them from doing a timer twice.

use std::time::Duration;

use super::{idle, Shutdown};
use crate::desk::Desk;

/// Timers handled per transaction.
pub const BATCH: i64 = 32;

pub struct Scheduler {
    desk: Desk,
    poll: Duration,
}

impl Scheduler {
    pub fn new(desk: Desk, poll: Duration) -> Self {
        Self { desk, poll }
    }

    /// Handles every timer due now; returns how many.
    pub async fn run_due(&self) -> anyhow::Result<usize> {
        let mut handled = 0;
        loop {
            let n = self.desk.fire_due_timers(BATCH).await?;
            if n == 0 {
                return Ok(handled);
            }
            handled += n;
        }
    }

    pub async fn run(self, mut shutdown: Shutdown) {
        while !*shutdown.borrow() {
            if let Err(e) = self.run_due().await {
                tracing::error!(error = %format!("{e:#}"), "timer scheduler failed; retrying");
            }
            idle(&mut shutdown, None, self.poll).await;
        }
        tracing::info!("timer scheduler stopped");
    }
}
