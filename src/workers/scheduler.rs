//! The timer scheduler: claims due timers in batches (one organization, up
//! to [`BATCH`] timers, one transaction) and lets the desk handle them
//! (DESIGN.md §3 step 7). Several daemons may run it side by side;
//! Postgres row claims keep them from doing a timer twice.

use std::time::Duration;

use crate::{
    desk::Desk,
    runtime::{idle, Shutdown},
};

/// Timers handled per transaction.
pub const BATCH: i64 = 32;

#[derive(Clone)]
pub struct Scheduler {
    desk: Desk,
    poll: Duration,
    batch: i64,
}

impl Scheduler {
    pub fn new(desk: Desk, poll: Duration) -> Self {
        Self {
            desk,
            poll,
            batch: BATCH,
        }
    }

    /// Handles up to `batch` timers per transaction (1: one each, as
    /// before batching; the benchmark compares the two).
    pub fn with_batch(mut self, batch: i64) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Handles every timer due now; returns how many.
    pub async fn run_due(&self) -> anyhow::Result<usize> {
        let mut handled = 0;
        loop {
            let n = self.desk.fire_due_timers(self.batch).await?;
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
