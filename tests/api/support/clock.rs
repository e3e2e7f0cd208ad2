//! Time in the tests, in one place. Signed chat requests carry the system
//! time (platforms sign with the wall clock, and the daemon refuses stale
//! signatures); everything the desk schedules runs on the desk's own clock,
//! which a test moves forward instead of waiting.

use chrono::Duration;

use crate::helpers::TestApp;

/// Unix seconds now, as Slack and Discord stamp a signed request.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl TestApp {
    /// Moves the desk's clock forward by `by` (every desk clone shares it)
    /// without running anything: for a test that acts before the timers run.
    pub fn advance_clock(&self, by: Duration) {
        self.desk.clock.advance(by);
    }

    /// Lets `by` pass: the clock moves forward, then one scheduler pass runs
    /// the timers now due. Returns how many ran.
    pub async fn pass(&self, by: Duration) -> usize {
        self.advance_clock(by);
        self.scheduler.run_due().await.expect("timers")
    }

    /// Moves every pending timer's due time into the past, as if the clock
    /// had jumped forward past all of them (the desk's clock stays put).
    pub async fn age_timers(&self) {
        let past = chrono::Utc::now() - Duration::seconds(1);
        let sql = "UPDATE timers SET due_at = $1";
        match &self.desk.db {
            switchboard::store::Db::Postgres(pool) => {
                sqlx::query(sql)
                    .bind(past)
                    .execute(pool)
                    .await
                    .expect("age timers");
            }
            switchboard::store::Db::Sqlite(pool) => {
                sqlx::query(sql)
                    .bind(past)
                    .execute(pool)
                    .await
                    .expect("age timers");
            }
        }
    }
}
