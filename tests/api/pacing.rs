//! Deliveries paced by the platforms' rules, and deliveries that resume
//! where they failed: a retried row never posts a thread comment twice;
//! a Slack 429 closes that method for that workspace only, and the other
//! rows wait for it without using attempts; Discord buckets learned from
//! the headers, and a global 429.

use std::time::Duration;

use serde_json::{json, Value};

use crate::{
    helpers::TestApp,
    support::{
        desk::number,
        discord::{spawn_discord_app, GUILD},
        slack::{spawn_slack_app, FakeSlack, TEAM},
    },
};

const SLACK_TRIAGE: &str = "net-triage";
const DISCORD_TRIAGE: &str = "1300000000000000777";

/// A team announcing its tickets in `channel` with an agent linked as
/// `user` on `platform`, and one of its incidents, delivered.
async fn team_ticket(
    app: &TestApp,
    platform: &str,
    namespace: &str,
    user: &str,
    channel: &str,
) -> String {
    let (agent, _) = app
        .person_with_token("Al Agent", "al@example.com", &["agent"])
        .await;
    let id = agent["id"].as_str().expect("id").to_string();
    app.link_identity(&id, platform, namespace, user).await;
    app.team_with_channel("Network", &[json!(id)], channel)
        .await;
    let ticket = app.team_incident("Core switch down", "Network").await;
    app.dispatcher.drain().await.expect("deliver");
    number(&ticket)
}

/// Drains the outbox until nothing is pending (retries are due within a
/// fraction of a second in tests), at most for five seconds.
async fn drain_all(app: &TestApp, channel: &str) {
    for _ in 0..50 {
        app.dispatcher.drain().await.expect("deliver");
        if app.pending_for(channel).await.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{channel} rows still pending: {:?}",
        app.pending_for(channel).await
    );
}

fn texts_containing(posts: &[Value], field: &str, needle: &str) -> usize {
    posts
        .iter()
        .filter(|p| p[field].as_str().unwrap_or_default().contains(needle))
        .count()
}

#[tokio::test]
async fn slack_a_failed_card_edit_does_not_post_the_thread_comment_twice() {
    let (app, fake, _) = spawn_slack_app().await;
    let number = team_ticket(&app, "slack", TEAM, "UAGENT", SLACK_TRIAGE).await;
    let card = fake.posted_to(SLACK_TRIAGE);
    assert_eq!(card.len(), 1, "one card");
    let card_ts = card_ts(&fake);

    // The comment goes into the card's thread; then the card edit fails.
    fake.rate_limit_next("chat.update", 0);
    app.note(&number, "PSU swapped").await;
    drain_all(&app, "slack").await;

    let in_thread: Vec<Value> = fake
        .posted_messages()
        .into_iter()
        .filter(|p| p["thread_ts"] == card_ts.as_str())
        .collect();
    assert_eq!(
        texts_containing(&in_thread, "text", "PSU swapped"),
        1,
        "one copy of the comment: {in_thread:?}"
    );
    // The retry went on to the step that failed: the card was edited.
    assert!(
        fake.calls_to("chat.update").len() >= 2,
        "{:?}",
        fake.calls_to("chat.update")
    );
    assert!(app.outbox("dead").await.is_empty());
}

/// The card's ts, as Slack answered its `chat.postMessage`.
fn card_ts(fake: &FakeSlack) -> String {
    let calls = fake.calls();
    let n = calls
        .iter()
        .filter(|c| !c.method.starts_with("response/"))
        .position(|c| c.method == "chat.postMessage" && c.body["channel"] == SLACK_TRIAGE)
        .expect("the card was posted")
        + 1;
    format!("1700000000.{n:06}")
}

#[tokio::test]
async fn discord_a_failed_card_edit_does_not_post_the_thread_comment_twice() {
    let (app, fake) = spawn_discord_app().await;
    let number = team_ticket(
        &app,
        "discord",
        GUILD,
        "3000000000000000060",
        DISCORD_TRIAGE,
    )
    .await;
    let (card_id, _) = fake
        .posted_in(DISCORD_TRIAGE)
        .into_iter()
        .next()
        .expect("card");

    fake.fail_next_on(
        "PATCH",
        &format!("/channels/{DISCORD_TRIAGE}/messages/{card_id}"),
    );
    app.note(&number, "PSU swapped").await;
    drain_all(&app, "discord").await;

    let in_thread: Vec<Value> = fake
        .posted_in(&card_id)
        .into_iter()
        .map(|(_, body)| body)
        .collect();
    assert_eq!(
        texts_containing(&in_thread, "content", "PSU swapped"),
        1,
        "one copy of the comment: {in_thread:?}"
    );
    let edits = fake.calls_to(
        "PATCH",
        &format!("/channels/{DISCORD_TRIAGE}/messages/{card_id}"),
    );
    assert_eq!(edits.len(), 2, "failed once, then edited: {edits:?}");
    assert!(app.outbox("dead").await.is_empty());
}
