//! Slack Socket Mode notices trouble: a connection that goes silent (a
//! half-open link that answers no ping) is replaced and the next envelope
//! is handled on the new one; a `disconnect` refresh opens the next
//! connection before the old one closes, and envelopes sent on either in
//! between are all handled; `link_disabled` waits instead of reconnecting
//! in a loop.

use std::time::Duration;

use serde_json::{json, Value};

use crate::{
    helpers::{eventually, spawn_app_with, TestApp},
    support::slack::{self, FakeSlack},
};

const WITHIN: Duration = Duration::from_secs(10);

/// The daemon on Socket Mode only, against a fresh fake, with short timings.
async fn socket_app(link_disabled_retry_secs: u64) -> (TestApp, FakeSlack) {
    let fake = FakeSlack::default();
    let api = fake.start().await;
    fake.start_socket().await;
    let app = spawn_app_with(move |c| {
        c.slack.bot_token = switchboard::config::Secret::new("xoxb-test");
        c.slack.app_token = switchboard::config::Secret::new("xapp-test");
        c.slack.socket_mode = true;
        c.slack.api_base_url = api;
        c.slack.max_calls_per_second = 1000;
        c.slack.socket_ping_interval_ms = 200;
        c.slack.socket_read_timeout_ms = 1000;
        c.slack.socket_link_disabled_retry_secs = link_disabled_retry_secs;
    })
    .await;
    assert!(
        eventually(WITHIN, || async { fake.socket_connections() == 1 }).await,
        "connected"
    );
    (app, fake)
}

/// An `events_api` envelope carrying a direct message from a new person.
fn dm_envelope(n: u32, text: &str) -> Value {
    let event: Value = serde_json::from_str(&slack::event(
        &format!("EvSM{n}"),
        slack::direct_message(
            &format!("USM{n}"),
            text,
            &format!("1700000100.0001{n:02}"),
            None,
        ),
    ))
    .expect("json");
    json!({ "envelope_id": format!("env-sm-{n}"), "type": "events_api", "payload": event,
            "accepts_response_payload": false, "retry_attempt": 0, "retry_reason": "" })
}

async fn acked(fake: &FakeSlack, n: u32) -> bool {
    let id = format!("env-sm-{n}");
    eventually(WITHIN, || async {
        fake.socket_received()
            .iter()
            .any(|f| f["envelope_id"] == id.as_str())
    })
    .await
}

async fn titled(app: &TestApp, title: &str) -> usize {
    app.tickets()
        .await
        .iter()
        .filter(|t| t["title"] == title)
        .count()
}

#[tokio::test]
async fn a_connection_that_stops_answering_pings_is_replaced_and_the_next_envelope_handled() {
    let (app, fake) = socket_app(300).await;
    // We ping: pongs come back, the connection stays.
    // Longer than the read timeout: answered pings keep it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(fake.socket_connections(), 1, "a live link is kept");

    // The link goes half-open: nothing read, nothing answered.
    fake.socket_hang();
    assert!(
        eventually(WITHIN, || async { fake.socket_connections() == 2 }).await,
        "a new connection after the read timeout"
    );
    fake.socket_send(dm_envelope(1, "Monitor flickers after the hang"));
    assert!(acked(&fake, 1).await, "handled on the new connection");
    assert_eq!(titled(&app, "Monitor flickers after the hang").await, 1);
}

#[tokio::test]
async fn a_refresh_opens_the_next_connection_first_and_no_envelope_in_between_is_lost() {
    let (app, fake) = socket_app(300).await;
    fake.socket_send(json!({ "type": "disconnect", "reason": "refresh_requested",
                             "debug_info": { "host": "applink-test" } }));
    assert!(
        eventually(WITHIN, || async { fake.socket_connections() == 2 }).await,
        "the next connection"
    );
    // Right after: one envelope on the new connection, and one Slack still
    // sent on the old connection before closing it.
    fake.socket_send_to(2, dm_envelope(2, "Scanner offline on the new link"));
    fake.socket_send_to(1, dm_envelope(3, "Scanner offline on the old link"));
    assert!(
        acked(&fake, 2).await,
        "new connection's envelope acknowledged"
    );
    assert!(
        acked(&fake, 3).await,
        "old connection's envelope acknowledged"
    );
    assert_eq!(titled(&app, "Scanner offline on the new link").await, 1);
    assert_eq!(titled(&app, "Scanner offline on the old link").await, 1);
    assert_eq!(fake.socket_connections(), 2, "one reconnect, not a loop");
}

#[tokio::test]
async fn link_disabled_waits_before_trying_again_instead_of_looping() {
    let (_app, fake) = socket_app(2).await;
    fake.socket_send(json!({ "type": "disconnect", "reason": "link_disabled" }));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(fake.socket_connections(), 1, "no reconnect while disabled");
    assert!(
        eventually(WITHIN, || async { fake.socket_connections() == 2 }).await,
        "tried again after socket_link_disabled_retry_secs"
    );
    assert!(fake.calls_to("apps.connections.open").len() <= 3);
}
