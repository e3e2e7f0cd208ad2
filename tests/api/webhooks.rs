//! Outbound webhooks through the outbox: signed delivery, retries with
//! backoff, Retry-After, dead-lettering.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::helpers::{eventually, spawn_app, spawn_app_with, Receiver};

fn verify(secret: &str, timestamp: &str, body: &[u8], signature: &str) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
    expected == signature
}

#[tokio::test]
async fn ticket_events_are_posted_signed_to_subscribers() {
    let app = spawn_app().await;
    let receiver = Receiver::default();
    let addr = receiver.serve("127.0.0.1:0".parse().expect("addr")).await;
    let secret = app.subscribe(&format!("http://{addr}/hook")).await;

    let ticket = app.create_ticket("incident", "disk full").await;
    let number = ticket["number"].as_str().expect("number");
    assert_eq!(app.transition(number, "in_progress").await.status(), 200);
    app.dispatcher.drain().await.expect("dispatch");

    let got = receiver.received();
    assert_eq!(got.len(), 2);
    let created = &got[0];
    assert!(verify(
        &secret,
        created.header("switchboard-timestamp"),
        &created.body,
        created.header("switchboard-signature")
    ));
    assert!(!verify(
        "wrong-secret-wrong-secret",
        created.header("switchboard-timestamp"),
        &created.body,
        created.header("switchboard-signature")
    ));
    let events: Vec<String> = got
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(events, ["ticket.created", "ticket.state_changed"]);
    assert_eq!(created.header("switchboard-event"), "ticket.created");
    let body: Value = created.json();
    assert_eq!(body["ticket"]["number"], *number);
    assert_eq!(
        body["id"].as_str(),
        Some(created.header("switchboard-delivery"))
    );
    assert_eq!(got[1].json()["details"]["to"], "in_progress");
    assert_eq!(app.outbox("delivered").await.len(), 2);
    assert!(app.outbox("pending").await.is_empty());
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_the_event_once_it_is_back() {
    let app = spawn_app().await;
    // Reserve a port, then free it: nothing listens there for now.
    let parked = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = parked.local_addr().expect("addr");
    drop(parked);
    app.subscribe(&format!("http://{addr}/hook")).await;
    app.create_ticket("incident", "while you were out").await;

    assert_eq!(app.dispatcher.run_once().await.expect("dispatch"), 1);
    let pending = app.outbox("pending").await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["attempts"], 1);
    assert!(pending[0]["last_error"]
        .as_str()
        .expect("error")
        .contains("request failed"));

    let receiver = Receiver::default();
    receiver.serve(addr).await;
    let delivered = eventually(Duration::from_secs(5), || async {
        app.dispatcher.run_once().await.expect("dispatch");
        !receiver.received().is_empty()
    })
    .await;
    assert!(delivered, "delivered after the receiver came back");
    app.dispatcher.drain().await.expect("dispatch");
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.dispatcher.drain().await.expect("dispatch");
    assert_eq!(receiver.received().len(), 1, "delivered once");
    assert_eq!(app.outbox("delivered").await.len(), 1);
}

#[tokio::test]
async fn retry_after_from_a_429_is_honoured() {
    let app = spawn_app().await;
    let receiver = Receiver::default();
    receiver.then(429, &[("retry-after", "2")]);
    let addr = receiver.serve("127.0.0.1:0".parse().expect("addr")).await;
    app.subscribe(&format!("http://{addr}/hook")).await;
    app.create_ticket("incident", "slow down").await;

    app.dispatcher.run_once().await.expect("dispatch");
    let pending = app.outbox("pending").await;
    let next: chrono::DateTime<chrono::Utc> = pending[0]["next_attempt_at"]
        .as_str()
        .expect("time")
        .parse()
        .expect("rfc3339");
    let wait = next - chrono::Utc::now();
    assert!(
        wait > chrono::Duration::milliseconds(1500),
        "backoff (≤ 0.2 s here) gave way to Retry-After: {wait}"
    );

    // Not before the receiver asked…
    assert_eq!(app.dispatcher.run_once().await.expect("dispatch"), 0);
    assert_eq!(receiver.received().len(), 1);
    // …and delivered after.
    let delivered = eventually(Duration::from_secs(5), || async {
        app.dispatcher.run_once().await.expect("dispatch");
        receiver.received().len() == 2
    })
    .await;
    assert!(delivered);
    assert_eq!(app.outbox("delivered").await.len(), 1);
}

#[tokio::test]
async fn a_receiver_that_keeps_failing_gets_the_message_dead_lettered() {
    let app = spawn_app_with(|c| c.outbox.max_attempts = 3).await;
    let receiver = Receiver::default();
    receiver.always(500);
    let addr = receiver.serve("127.0.0.1:0".parse().expect("addr")).await;
    app.subscribe(&format!("http://{addr}/hook")).await;
    app.create_ticket("incident", "doomed").await;

    let dead = eventually(Duration::from_secs(10), || async {
        app.dispatcher.run_once().await.expect("dispatch");
        !app.outbox("dead").await.is_empty()
    })
    .await;
    assert!(dead, "dead-lettered after the last attempt");
    let dead = app.outbox("dead").await;
    assert_eq!(dead[0]["attempts"], 3);
    assert!(dead[0]["last_error"]
        .as_str()
        .expect("error")
        .contains("500"));
    assert_eq!(receiver.received().len(), 3);
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("switchboard_outbox_dead_lettered_total{channel=\"webhook\"} 1"),
        "{metrics}"
    );

    // An operator can put it back once the receiver is fixed.
    receiver.always(200);
    let id = dead[0]["id"].as_str().expect("id");
    let retry = app
        .post(
            &format!("/api/v1/outbox/{id}/retry"),
            &app.token,
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(retry.status(), 202);
    app.dispatcher.drain().await.expect("dispatch");
    assert_eq!(app.outbox("delivered").await.len(), 1);
}
