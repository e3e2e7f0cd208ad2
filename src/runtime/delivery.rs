//! The outbox delivery contract: a [`Deliverer`] sends the rows of one
//! outbox channel, one attempt per call, and says what came of it as a
//! [`Delivery`]; the dispatcher (`workers::dispatcher`) owns claiming,
//! ordering, retries and dead letters. It lives here, not beside the
//! dispatcher, because the deliverers live on both sides: webhooks, SMS and
//! mail in `workers`, Slack and Discord in `channels`.

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use reqwest::header::HeaderMap;

use crate::store::{self, outbox::OutboxRow};

/// Sends the outbox rows of one channel.
pub trait Deliverer: Send + Sync {
    /// The outbox channel this deliverer handles.
    fn channel(&self) -> &'static str;
    fn deliver<'a>(&'a self, message: &'a OutboxRow) -> BoxFuture<'a, Delivery>;
}

/// What one delivery attempt came to.
#[derive(Debug, PartialEq)]
pub enum Delivery {
    Delivered,
    /// Try again; `not_before` when the receiver said when (Retry-After).
    Retry {
        error: String,
        not_before: Option<DateTime<Utc>>,
    },
    /// No point in trying again.
    Permanent(String),
    /// Not the message's fault (the account cannot sign in): try again
    /// later without counting the attempt, so it is never dead-lettered
    /// for it.
    Held {
        error: String,
        not_before: Option<DateTime<Utc>>,
    },
}

impl Delivery {
    /// Try again, not before `after` from now when the receiver said so
    /// (a rate limit's wait, as the platform clients report it).
    pub fn retry_in(error: String, after: Option<std::time::Duration>) -> Self {
        Delivery::Retry {
            error,
            not_before: after
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .map(|d| store::now() + d),
        }
    }
}

/// `Retry-After` as seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<DateTime<Utc>> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(store::now() + chrono::Duration::seconds(seconds.min(86_400) as i64));
    }
    DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// An error and its sources on one line, for a row's `last_error`.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, "30".parse().expect("header"));
        let at = retry_after(&headers).expect("seconds");
        assert!((at - store::now()).num_seconds() >= 29);
        headers.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2037 07:28:00 GMT".parse().expect("header"),
        );
        assert_eq!(
            retry_after(&headers).map(|d| d.timestamp()),
            Some(2139722880)
        );
    }

    #[test]
    fn a_wait_the_receiver_asked_for_becomes_not_before() {
        let before = store::now();
        let Delivery::Retry { not_before, .. } =
            Delivery::retry_in("slow down".into(), Some(std::time::Duration::from_secs(5)))
        else {
            panic!("a retry");
        };
        let wait = not_before.expect("a time") - before;
        assert!(wait >= chrono::Duration::seconds(5) && wait < chrono::Duration::seconds(6));
        assert_eq!(
            Delivery::retry_in("again".into(), None),
            Delivery::Retry {
                error: "again".into(),
                not_before: None
            }
        );
    }
}
