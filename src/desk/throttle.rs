//! Failure counters with temporary lockout, keyed by what is being guessed
//! (an account, an address, a chat identity redeeming link codes): sign-in
//! and link-code redemption share them. A leaf.

use chrono::{DateTime, Duration, Utc};

use super::DeskError;
use crate::store::{self, identity::ThrottleRow, Tx};

/// The time of an active lockout on `key`, if any.
pub(crate) async fn locked_until(
    tx: &mut Tx,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DeskError> {
    Ok(store::identity::find_throttle(tx, key)
        .await?
        .and_then(|t| t.locked_until)
        .filter(|until| *until > now))
}

/// Counts a failure on `key`; locks it once `max` failures fall in the window.
/// Returns the lockout end when this failure caused one.
pub(crate) async fn count_failure(
    tx: &mut Tx,
    key: &str,
    now: DateTime<Utc>,
    max: i32,
    lockout: Duration,
) -> Result<Option<DateTime<Utc>>, DeskError> {
    let window = Duration::minutes(15);
    let mut row = store::identity::find_throttle(tx, key)
        .await?
        .unwrap_or(ThrottleRow {
            key: key.to_string(),
            failures: 0,
            window_start: now,
            locked_until: None,
        });
    if now - row.window_start > window {
        row.failures = 0;
        row.window_start = now;
    }
    row.failures += 1;
    let mut locked = None;
    if row.failures >= max {
        let until = now + lockout;
        row.locked_until = Some(until);
        row.failures = 0;
        row.window_start = now;
        locked = Some(until);
    }
    store::identity::save_throttle(tx, &row).await?;
    Ok(locked)
}
