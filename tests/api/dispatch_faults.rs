//! The outbox dispatcher under a receiver that hangs: the attempt is cut
//! and counted, the other targets are delivered in the same pass, and a
//! shutdown gives what it could not finish back to the outbox, due at once
//! and with the attempt not counted, so the next start delivers it.

use std::{sync::Arc, time::Duration};

use futures::future::BoxFuture;
use switchboard::{
    config::OutboxConfig,
    runtime::delivery::{Deliverer, Delivery},
    store::{self, outbox::OutboxRow},
    workers::dispatcher::Dispatcher,
};

use crate::helpers::{spawn_app, TestApp};

/// Delivers at once, except to target `stuck`, where it never answers.
struct Receiver;

impl Deliverer for Receiver {
    fn channel(&self) -> &'static str {
        "test"
    }

    fn deliver<'a>(&'a self, message: &'a OutboxRow) -> BoxFuture<'a, Delivery> {
        Box::pin(async move {
            if message.target == "stuck" {
                std::future::pending::<()>().await;
            }
            Delivery::Delivered
        })
    }
}

async fn queue(app: &TestApp, targets: &[&str]) {
    let org = app.desk.organization_id("default").await.expect("org");
    let rows: Vec<OutboxRow> = targets
        .iter()
        .map(|t| {
            OutboxRow::pending(
                switchboard::desk::new_id(),
                org,
                "test",
                t,
                "test.event",
                serde_json::json!({}),
            )
        })
        .collect();
    let mut tx = app.desk.db.begin().await.expect("tx");
    store::outbox::insert_outbox(&mut tx, &rows)
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
}

/// (state, attempts, last_error) of the rows of `target`.
async fn rows(app: &TestApp, target: &str) -> Vec<(String, i32, Option<String>)> {
    let mut tx = app.desk.db.read().await.expect("tx");
    let org = app.desk.organization_id("default").await.expect("org");
    store::outbox::list_outbox(&mut tx, org, None, 100)
        .await
        .expect("outbox")
        .into_iter()
        .filter(|r| r.channel == "test" && r.target == target)
        .map(|r| (r.state, r.attempts, r.last_error))
        .collect()
}

fn dispatcher(app: &TestApp) -> Dispatcher {
    let settings = OutboxConfig {
        delivery_timeout_secs: 1,
        ..app.config.outbox.clone()
    };
    Dispatcher::new(app.desk.clone(), settings, vec![Arc::new(Receiver)])
}

#[tokio::test]
async fn a_hanging_receiver_is_cut_and_counted_while_the_others_are_delivered() {
    let app = spawn_app().await;
    queue(&app, &["stuck", "a", "b"]).await;
    let handled = tokio::time::timeout(Duration::from_secs(30), dispatcher(&app).run_once())
        .await
        .expect("the pass ends although one receiver never answers")
        .expect("pass");
    assert_eq!(handled, 3);
    for target in ["a", "b"] {
        assert_eq!(rows(&app, target).await[0].0, "delivered", "{target}");
    }
    let stuck = rows(&app, "stuck").await;
    assert_eq!(
        (stuck[0].0.as_str(), stuck[0].1),
        ("pending", 1),
        "{stuck:?}"
    );
    let error = stuck[0].2.clone().unwrap_or_default();
    assert!(error.contains("the attempt was cut"), "{error}");
}

#[tokio::test]
async fn a_shutdown_gives_back_what_it_could_not_finish() {
    let app = spawn_app().await;
    queue(&app, &["stuck"]).await;
    // A long cut, so the shutdown comes first.
    let settings = OutboxConfig {
        delivery_timeout_secs: 600,
        ..app.config.outbox.clone()
    };
    let dispatcher = Dispatcher::new(app.desk.clone(), settings, vec![Arc::new(Receiver)])
        .with_grace(Duration::from_millis(300));
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(dispatcher.run(shutdown));
    // Claimed: the attempt is counted and the row leased.
    let claimed = crate::helpers::eventually(Duration::from_secs(10), || async {
        rows(&app, "stuck").await[0].1 == 1
    })
    .await;
    assert!(claimed, "claimed");
    stop.send(true).expect("stop");
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("stops within its grace although a delivery hangs")
        .expect("joined");
    let row = &rows(&app, "stuck").await[0];
    assert_eq!(
        (row.0.as_str(), row.1),
        ("pending", 0),
        "given back: {row:?}"
    );
    let mut tx = app.desk.db.read().await.expect("tx");
    let org = app.desk.organization_id("default").await.expect("org");
    let due = store::outbox::list_outbox(&mut tx, org, None, 100)
        .await
        .expect("outbox")
        .into_iter()
        .find(|r| r.target == "stuck")
        .map(|r| r.next_attempt_at)
        .expect("row");
    assert!(due <= store::now(), "due at once, not after the lease");
}
