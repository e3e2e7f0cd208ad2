//! Deliveries paced by the platforms' rules, and deliveries that resume
//! where they failed: a retried row never posts a thread comment twice;
//! a Slack 429 closes that method for that workspace only, and the other
//! rows wait for it without using attempts; Discord buckets learned from
//! the headers, and a global 429; a post whose answer was lost is found
//! (Slack: by its metadata mark) or answered with the first message
//! (Discord: an enforced nonce), not posted twice.

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
    let ts = fake.posted_ts(SLACK_TRIAGE);
    ts.first().expect("the card was posted").clone()
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

/// Every message posted carries a different mark (its outbox row and step).
fn marks_unique(posts: &[Value], mark: impl Fn(&Value) -> &Value) {
    let marks: Vec<&Value> = posts.iter().map(&mark).collect();
    assert!(marks.iter().all(|m| m.is_string()), "unmarked: {posts:?}");
    let unique: std::collections::HashSet<String> = marks.iter().map(|m| m.to_string()).collect();
    assert_eq!(unique.len(), marks.len(), "a mark posted twice: {posts:?}");
}

#[tokio::test]
async fn slack_a_post_whose_answer_was_lost_is_found_by_its_mark_not_posted_again() {
    let (app, fake, _) = spawn_slack_app().await;
    // Slack posts the first message of the ticket (the assignee's direct
    // message), but its answer never arrives.
    fake.lose_next_answer("chat.postMessage");
    let number = team_ticket(&app, "slack", TEAM, "UAGENT", SLACK_TRIAGE).await;
    drain_all(&app, "slack").await;
    let cards = fake.posted_ts(SLACK_TRIAGE);
    assert_eq!(cards.len(), 1, "one card: {cards:?}");
    marks_unique(&fake.posted_messages(), |p| {
        &p["metadata"]["event_payload"]["mark"]
    });
    let history = fake.calls_to("conversations.history");
    assert!(
        history.iter().any(|h| h["include_all_metadata"] == "true"),
        "looked for by its metadata: {history:?}"
    );

    // The same for a comment in the card's thread, found in the thread.
    fake.lose_next_answer("chat.postMessage");
    app.note(&number, "PSU swapped").await;
    drain_all(&app, "slack").await;
    let in_thread: Vec<Value> = fake
        .posted_messages()
        .into_iter()
        .filter(|p| p["thread_ts"] == cards[0].as_str())
        .collect();
    assert_eq!(
        texts_containing(&in_thread, "text", "PSU swapped"),
        1,
        "one copy of the comment: {in_thread:?}"
    );
    assert!(fake
        .calls_to("conversations.replies")
        .iter()
        .any(|r| r["ts"] == cards[0].as_str()));
    // The card found is the card recorded: later changes edit it.
    assert!(fake
        .calls_to("chat.update")
        .iter()
        .all(|u| u["ts"] == cards[0].as_str()));
    marks_unique(&fake.posted_messages(), |p| {
        &p["metadata"]["event_payload"]["mark"]
    });
}

#[tokio::test]
async fn discord_a_post_whose_answer_was_lost_is_not_posted_again() {
    let (app, fake) = spawn_discord_app().await;
    fake.lose_next_answer_on("POST", &format!("/channels/{DISCORD_TRIAGE}/messages"));
    team_ticket(
        &app,
        "discord",
        GUILD,
        "3000000000000000061",
        DISCORD_TRIAGE,
    )
    .await;
    drain_all(&app, "discord").await;
    let cards = fake.posted_in(DISCORD_TRIAGE);
    assert_eq!(cards.len(), 1, "one card: {cards:?}");
    // Both attempts sent the same enforced nonce; Discord answered the
    // second with the first message.
    let creates: Vec<Value> = fake
        .calls()
        .into_iter()
        .filter(|c| c.method == "POST" && c.path.ends_with(&format!("{DISCORD_TRIAGE}/messages")))
        .map(|c| c.body)
        .collect();
    assert_eq!(creates.len(), 2, "{creates:?}");
    assert_eq!(creates[0]["nonce"], creates[1]["nonce"]);
    assert_eq!(creates[1]["enforce_nonce"], true);
}
