//! Timers: resolved tickets close by themselves unless reopened.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::spawn_app_with;

#[tokio::test]
async fn a_resolved_ticket_closes_itself_when_its_timer_is_due() {
    let app = spawn_app_with(|c| c.tickets.auto_close_after_days = 0.0).await;
    let ticket = app.create_ticket("incident", "fixed itself").await;
    let number = ticket["number"].as_str().expect("number");
    assert_eq!(
        app.transition(number, "resolved").await.status(),
        StatusCode::OK
    );

    assert_eq!(app.scheduler.run_due().await.expect("timers"), 1);

    let fetched: Value = app.ticket(number).await;
    assert_eq!(fetched["state"], "closed");
    let activity: Vec<Value> = app.activity(number).await;
    let close = activity
        .iter()
        .find(|a| a["new_value"] == "closed")
        .expect("close recorded");
    assert_eq!(close["channel"], "system");
    assert!(close["actor"].is_null());
    assert_eq!(
        app.scheduler.run_due().await.expect("timers"),
        0,
        "a timer fires once"
    );
}

#[tokio::test]
async fn a_reopened_ticket_does_not_close() {
    let app = spawn_app_with(|c| c.tickets.auto_close_after_days = 0.0).await;
    let ticket = app.create_ticket("incident", "came back").await;
    let number = ticket["number"].as_str().expect("number");
    assert_eq!(
        app.transition(number, "resolved").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.transition(number, "in_progress").await.status(),
        StatusCode::OK
    );

    app.scheduler.run_due().await.expect("timers");

    let fetched: Value = app.ticket(number).await;
    assert_eq!(fetched["state"], "in_progress");
    assert!(fetched["resolved_at"].is_null());
}

#[tokio::test]
async fn a_timer_not_yet_due_waits() {
    let app = spawn_app_with(|c| c.tickets.auto_close_after_days = 7.0).await;
    let ticket = app.create_ticket("incident", "patience").await;
    let number = ticket["number"].as_str().expect("number");
    assert_eq!(
        app.transition(number, "resolved").await.status(),
        StatusCode::OK
    );
    assert_eq!(app.scheduler.run_due().await.expect("timers"), 0);
    let fetched: Value = app.ticket(number).await;
    assert_eq!(fetched["state"], "resolved");
}
