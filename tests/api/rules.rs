//! Automation rules through the API: routing on creation with each firing
//! in the activity log, ordered rules that stop processing, loop safety,
//! a failing rule undone alone, and rules naming unknown fields refused.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{expect_json, spawn_app, TestApp};

async fn rule(app: &TestApp, body: Value) -> Value {
    expect_json(
        app.post("/api/v1/rules", &app.token, &body).await,
        StatusCode::CREATED,
    )
    .await
}

fn fired(activity: &[Value], action: &str) -> Vec<String> {
    activity
        .iter()
        .filter(|a| a["action"] == action)
        .filter_map(|a| a["new_value"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn rules_route_new_tickets_and_record_each_firing() {
    let app = spawn_app().await;
    routing_story(&app).await;
}

/// Also told on SQLite (tests/api/sqlite.rs), where rules run behind
/// savepoints too.
pub async fn routing_story(app: &TestApp) {
    expect_json(
        app.post("/api/v1/teams", &app.token, &json!({ "name": "Network" }))
            .await,
        StatusCode::CREATED,
    )
    .await;
    rule(
        app,
        json!({ "name": "VPN to network", "trigger": "ticket.created",
                "conditions": [
                    { "field": "kind", "op": "equals", "value": "incident" },
                    { "field": "text", "op": "contains", "value": "vpn" }
                ],
                "actions": [
                    { "type": "assign_team", "team": "Network" },
                    { "type": "set_field", "field": "urgency", "value": "high" },
                    { "type": "add_comment", "body": "Routed to Network by rule.", "internal": true }
                ],
                "stop_processing": true }),
    )
    .await;
    // Never reached for VPN tickets: the rule before stops processing.
    rule(
        app,
        json!({ "name": "Everything else", "trigger": "ticket.created",
                "actions": [{ "type": "add_comment", "body": "Catch-all", "internal": true }] }),
    )
    .await;

    let vpn = app.create_ticket("incident", "VPN drops every hour").await;
    let number = vpn["number"].as_str().expect("number");
    assert_eq!(
        vpn["team"],
        Value::Null,
        "the answer shows the ticket as created"
    );
    let fetched: Value = app.ticket(number).await;
    assert_eq!(fetched["team"]["name"], "Network");
    assert_eq!(fetched["urgency"], "high");
    let comments: Vec<Value> = app.comments(number).await;
    let bodies: Vec<&str> = comments.iter().filter_map(|c| c["body"].as_str()).collect();
    assert_eq!(bodies, ["Routed to Network by rule."]);
    let log = app.activity(number).await;
    assert_eq!(fired(&log, "rule_fired"), ["VPN to network"]);
    let assigned = log
        .iter()
        .find(|a| a["action"] == "assigned")
        .expect("assignment recorded");
    assert_eq!(assigned["channel"], "system");

    let printer = app.create_ticket("incident", "Printer jams").await;
    let log = app
        .activity(printer["number"].as_str().expect("number"))
        .await;
    assert_eq!(fired(&log, "rule_fired"), ["Everything else"]);
}

#[tokio::test]
async fn rules_that_trigger_each_other_fire_once_each() {
    let app = spawn_app().await;
    // Each rule's change is an update the other listens to: a loop.
    rule(
        &app,
        json!({ "name": "Ping", "trigger": "ticket.updated",
                "actions": [{ "type": "set_field", "field": "impact", "value": "high" }] }),
    )
    .await;
    rule(
        &app,
        json!({ "name": "Pong", "trigger": "ticket.updated",
                "actions": [{ "type": "set_field", "field": "impact", "value": "low" }] }),
    )
    .await;
    let ticket = app.create_ticket("incident", "loop bait").await;
    let number = ticket["number"].as_str().expect("number");
    let updated = app
        .send(
            Method::PATCH,
            &format!("/api/v1/tickets/{number}"),
            &app.token,
            Some(&json!({ "title": "loop bait, renamed" })),
        )
        .await;
    expect_json(updated, StatusCode::OK).await;
    let log = app.activity(number).await;
    let mut firings = fired(&log, "rule_fired");
    firings.sort();
    // The title update fires both; each one's change fires only the other.
    assert_eq!(firings, ["Ping", "Ping", "Pong", "Pong"]);
    assert!(fired(&log, "automation_stopped").is_empty());
}

#[tokio::test]
async fn a_failing_rule_is_undone_alone_and_recorded() {
    let app = spawn_app().await;
    failing_rule_story(&app).await;
}

/// Also told on SQLite, whose savepoints behave differently under load.
pub async fn failing_rule_story(app: &TestApp) {
    rule(
        app,
        json!({ "name": "Impossible", "trigger": "ticket.created",
                "actions": [
                    { "type": "add_comment", "body": "half done", "internal": true },
                    { "type": "set_field", "field": "state", "value": "closed" }
                ] }),
    )
    .await;
    rule(
        app,
        json!({ "name": "Fine", "trigger": "ticket.created",
                "actions": [{ "type": "add_comment", "body": "all done", "internal": true }] }),
    )
    .await;
    let ticket = app.create_ticket("incident", "still created").await;
    let number = ticket["number"].as_str().expect("number");
    let comments: Vec<Value> = app.comments(number).await;
    let bodies: Vec<&str> = comments.iter().filter_map(|c| c["body"].as_str()).collect();
    assert_eq!(bodies, ["all done"], "the failed rule's comment is undone");
    let log = app.activity(number).await;
    let failed = fired(&log, "rule_failed");
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].starts_with("Impossible: ") && failed[0].contains("allowed"),
        "{failed:?}"
    );
    assert_eq!(fired(&log, "rule_fired"), ["Fine"]);
}

#[tokio::test]
async fn rules_naming_unknown_fields_or_things_are_refused() {
    let app = spawn_app().await;
    let refused = expect_json(
        app.post(
            "/api/v1/rules",
            &app.token,
            &json!({ "name": "Broken", "trigger": "ticket.created",
                     "conditions": [{ "field": "colour", "op": "equals", "value": "red" }],
                     "actions": [{ "type": "assign_team", "team": "Nobody" }] }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let fields = crate::helpers::error_fields(&refused);
    assert_eq!(fields, ["conditions[0].field", "actions[0]"]);
    let trigger = expect_json(
        app.post(
            "/api/v1/rules",
            &app.token,
            &json!({ "name": "Broken", "trigger": "ticket.exploded",
                     "actions": [{ "type": "add_comment", "body": "x" }] }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(trigger["errors"][0]["field"], "trigger");
    let rules: Vec<Value> = app.get_json("/api/v1/rules", &app.token).await;
    assert!(rules.is_empty());
}
