//! What the daemon's long-running parts share, kept below both `workers`
//! and `channels` so that neither imports the other: the shutdown signal
//! and idle wait every loop uses (here), the outbox delivery contract that
//! each deliverer implements and the dispatcher drives (`delivery`), the
//! TLS client every connector dials with (`tls`), secrets sealed at rest
//! (`seal`), and the supervisor that
//! `app` runs the loops under (`supervise`).
//!
//! May import `store` (the outbox row, the clock), `domain` and `metrics`;
//! nothing here knows the desk, a platform or HTTP.

pub mod delivery;
pub mod seal;
pub mod supervise;
pub mod tls;

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
