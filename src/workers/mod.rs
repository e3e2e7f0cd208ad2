//! Long-running tasks: the outbox dispatcher, the timer scheduler and the
//! mail intake (one task per mailbox). Each
//! exposes a "do one unit now" method that tests call to step it
//! deterministically, and a loop that runs until shutdown is signalled.
//! May import `desk`, `store` and `domain`.

pub mod dispatcher;
pub mod mail;
pub mod scheduler;
pub mod sms;
pub mod webhook;

/// Tells loops to finish their current unit of work and return.
pub type Shutdown = tokio::sync::watch::Receiver<bool>;

/// Waits until `dur` has passed, `wake` is notified or shutdown is signalled.
pub(crate) async fn idle(
    shutdown: &mut Shutdown,
    wake: Option<&tokio::sync::Notify>,
    dur: std::time::Duration,
) {
    let notified = async {
        match wake {
            Some(n) => n.notified().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::time::sleep(dur) => {}
        _ = notified => {}
        _ = shutdown.changed() => {}
    }
}
