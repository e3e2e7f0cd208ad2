//! Cron schedules: the next run is a timer in the schedule's time zone; a
//! run after downtime happens once; digests go to a team's channel; bad
//! expressions are refused naming the field.

use chrono::{Duration, Timelike};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{expect_json, spawn_app, TestApp};

#[tokio::test]
async fn a_recurring_ticket_runs_once_after_downtime_and_digests_reach_the_channel() {
    schedule_story(&spawn_app().await).await;
}

/// Also run on SQLite (tests/api/sqlite.rs).
pub async fn schedule_story(app: &TestApp) {
    let bad = app
        .post(
            "/api/v1/schedules",
            &app.token,
            &json!({ "name": "bad", "cron": "every monday", "time_zone": "Mars/Base",
                     "ticket": { "kind": "incident", "title": "x" } }),
        )
        .await;
    let problem = expect_json(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["cron", "time_zone"]);

    let schedule = expect_json(
        app.post(
            "/api/v1/schedules",
            &app.token,
            &json!({ "name": "backup check", "cron": "0 0 9 * * *", "time_zone": "Europe/Berlin",
                     "ticket": { "kind": "service_request", "title": "Check last night's backup" } }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let next: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(schedule["next_run_at"].clone()).expect("next run");
    let local = next.with_timezone(&chrono_tz::Europe::Berlin);
    assert_eq!((local.hour(), local.minute()), (9, 0));
    assert!(next > app.desk.clock.now());

    // Three days of downtime: one run, not three.
    app.pass(Duration::days(3)).await;
    app.scheduler.run_due().await.expect("timers");
    let list: Value = app.get_json("/api/v1/tickets?q=backup", &app.token).await;
    assert_eq!(list["items"].as_array().expect("items").len(), 1);
    let id = schedule["id"].as_str().expect("id");
    let after: Value = app
        .get_json(&format!("/api/v1/schedules/{id}"), &app.token)
        .await;
    assert!(after["last_run_at"].is_string());
    let next: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(after["next_run_at"].clone()).expect("next run");
    assert!(next > app.desk.clock.now());

    expect_json(
        app.post("/api/v1/teams", &app.token, &json!({ "name": "Ops" }))
            .await,
        StatusCode::CREATED,
    )
    .await;
    expect_json(
        app.post(
            "/api/v1/tickets",
            &app.token,
            &json!({ "kind": "incident", "title": "disk filling up", "team": "Ops" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    expect_json(
        app.post(
            "/api/v1/schedules",
            &app.token,
            &json!({ "name": "ops digest", "cron": "0 30 8 * * Mon-Fri", "time_zone": "Europe/Berlin",
                     "digest": { "team": "Ops", "channel": "slack", "target": "C0OPS" } }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    app.pass(Duration::days(4)).await;
    let digests: Vec<Value> = app
        .outbox("pending")
        .await
        .into_iter()
        .filter(|m| m["event"] == "digest")
        .collect();
    assert_eq!(digests.len(), 1, "{digests:?}");
    assert_eq!(digests[0]["target"], "C0OPS");
}
