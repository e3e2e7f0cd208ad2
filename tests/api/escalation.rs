//! Escalations: steps after N minutes and on SLA breach, an empty on-call
//! rotation falling through at once, repeats stopped by acknowledgement,
//! everything recorded and messaged through the outbox.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{expect_json, spawn_app, TestApp};

#[tokio::test]
async fn escalation_steps_fire_fall_through_an_empty_rotation_and_stop_when_acknowledged() {
    escalation_story(&spawn_app().await).await;
}

/// Also run on SQLite (tests/api/sqlite.rs).
pub async fn escalation_story(app: &TestApp) {
    let (lead, _) = app
        .person_with_token("Lena Lead", "lena@example.com", &["agent"])
        .await;
    let (oncall, _) = app
        .person_with_token("Omar Oncall", "omar@example.com", &["agent"])
        .await;
    expect_json(
        app.post(
            "/api/v1/teams",
            &app.token,
            &json!({ "name": "Network", "lead": lead["id"], "members": [lead["id"], oncall["id"]] }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    // A subscriber that is never reached: its rows wait in the outbox.
    app.subscribe("http://127.0.0.1:9/hook").await;
    // Nobody on call this week.
    let rotation = expect_json(
        app.send(
            reqwest::Method::PUT,
            "/api/v1/teams/Network/on-call",
            &app.token,
            Some(&json!({ "time_zone": "Europe/Berlin", "handoff_day": "mon", "handoff_time": "09:00",
                          "members": [], "starts": "2026-11-23" })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(rotation["on_call_now"].is_null());
    expect_json(
        app.post(
            "/api/v1/sla/policies",
            &app.token,
            &json!({ "name": "standard", "targets": { "first_response_minutes": 60 }, "warn_at_percent": [] }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let bad = app
        .post(
            "/api/v1/escalation-policies",
            &app.token,
            &json!({ "name": "bad", "steps": [{ "after_minutes": 5, "on": "sla_breach", "actions": [] }] }),
        )
        .await;
    let problem = expect_json(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "steps[0]");
    expect_json(
        app.post(
            "/api/v1/escalation-policies",
            &app.token,
            &json!({ "name": "network incidents", "selector": { "teams": ["Network"] }, "steps": [
                { "after_minutes": 30, "actions": [{ "type": "notify_on_call" }] },
                { "after_minutes": 600, "actions": [{ "type": "notify_lead" }],
                  "repeat_every_minutes": 10, "repeat_times": 5 },
                { "on": "sla_breach", "actions": [{ "type": "raise_priority" }, { "type": "mark_major" }] },
            ] }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let ticket = expect_json(
        app.post(
            "/api/v1/tickets",
            &app.token,
            &json!({ "kind": "incident", "title": "core switch down", "team": "Network" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let number = ticket["number"].as_str().expect("number");
    let escalation: Value = app
        .get_json(&format!("/api/v1/tickets/{number}/escalation"), &app.token)
        .await;
    assert_eq!(escalation["policy_name"], "network incidents");
    assert_eq!(escalation["active"], true);

    // 31 minutes: step 1 finds nobody on call and step 2 runs at once.
    app.pass(Duration::minutes(31)).await;
    let announced: Vec<Value> = app
        .outbox("pending")
        .await
        .into_iter()
        .filter(|m| m["channel"] == "webhook" && m["event"] == "ticket.escalated")
        .collect();
    assert_eq!(announced.len(), 2, "each step run announced to webhooks");
    assert_eq!(
        announced
            .iter()
            .filter(|m| m["payload"]["details"]["step"] == 2)
            .count(),
        1
    );
    assert_eq!(app.activity_where(number, "escalated").await.len(), 2);
    assert_eq!(
        app.activity_where(number, "escalation_fell_through")
            .await
            .len(),
        1
    );
    let pending = app.outbox("pending").await;
    let to_lead = pending
        .iter()
        .filter(|m| m["event"] == "escalation" && m["target"] == "lena@example.com")
        .count();
    assert_eq!(to_lead, 1, "{pending:?}");

    // 61 minutes: the first response is breached; the breach step raises
    // the priority and declares a major incident.
    app.pass(Duration::minutes(30)).await;
    let now: Value = app.ticket(number).await;
    assert_eq!(now["urgency"], "high");
    assert_eq!(now["major"], true);
    assert_eq!(
        app.activity_where(number, "escalated").await.len(),
        4,
        "one repeat and the breach step"
    );

    // Acknowledged: the repeats stop.
    let ack = expect_json(
        app.post(
            &format!("/api/v1/tickets/{number}/acknowledge"),
            &app.token,
            &json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(ack["active"], false);
    app.pass(Duration::hours(12)).await;
    app.scheduler.run_due().await.expect("timers");
    assert_eq!(app.activity_where(number, "escalated").await.len(), 4);
    assert_eq!(
        app.activity_where(number, "escalation_acknowledged")
            .await
            .len(),
        1
    );
}
