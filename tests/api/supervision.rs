//! Supervised workers at the boundary: a daemon that runs its workers shows
//! a restart counter for each in `/metrics`, is ready while none keeps
//! failing, and still stops promptly. How a panicking or returning worker
//! is restarted, counted and reported by `/readyz` is tested with worker
//! closures that panic, in `runtime::supervise` — production code offers
//! no way to make a worker fail on purpose, and should not.

use std::time::Duration;

use crate::helpers::{fresh_database, spawn_on};

#[tokio::test]
async fn a_daemon_running_its_workers_counts_their_restarts_and_is_ready() {
    let url = fresh_database().await;
    let app = spawn_on(&url, true, |_| {}).await;

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("body");
    let ready = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("sent");

    for worker in ["dispatcher", "scheduler"] {
        let series = format!("switchboard_worker_restarts_total{{worker=\"{worker}\"}} 0");
        assert!(metrics.contains(&series), "no `{series}` in:\n{metrics}");
    }
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.expect("body"), "ready");
    tokio::time::timeout(Duration::from_secs(10), app.shutdown())
        .await
        .expect("the supervised workers stop promptly")
        .expect("clean shutdown");
}
