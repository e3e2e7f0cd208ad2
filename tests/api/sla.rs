//! SLA: policies attach clocks to new tickets; warnings and breaches fire
//! once as time moves (the desk's clock is moved forward, not the system's);
//! pauses move the timers; responses and resolutions meet targets;
//! compliance counts outcomes; a replay from the activity equals the live
//! state; two daemons on one database never fire an alarm twice.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{expect_json, fresh_database, spawn_app, spawn_on, TestApp};

async fn policy(app: &TestApp, body: &Value) -> Value {
    expect_json(
        app.post("/api/v1/sla/policies", &app.token, body).await,
        StatusCode::CREATED,
    )
    .await
}

/// First response 60 min, resolution 240 min, around the clock.
async fn standard_policy(app: &TestApp) -> Value {
    policy(
        app,
        &json!({
            "name": "standard",
            "targets": { "first_response_minutes": 60, "resolution_minutes": 240 },
        }),
    )
    .await
}

async fn sla(app: &TestApp, number: &str) -> Value {
    expect_json(
        app.get(&format!("/api/v1/tickets/{number}/sla"), &app.token)
            .await,
        StatusCode::OK,
    )
    .await
}

/// Business seconds as read through the API: the desk's clock runs on
/// system time, so a second or two may pass between the steps of a test.
fn near(value: &Value, expected: i64, remaining: bool) {
    let got = value.as_i64().expect("seconds");
    let drift = if remaining {
        expected - got
    } else {
        got - expected
    };
    assert!((0..=2).contains(&drift), "{got} is not about {expected}");
}

fn clock<'a>(sla: &'a Value, target: &str) -> &'a Value {
    sla["clocks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["target"] == target))
        .unwrap_or_else(|| panic!("no {target} clock in {sla}"))
}

#[tokio::test]
async fn a_new_ticket_gets_clocks_that_warn_and_breach_exactly_once() {
    warn_and_breach_story(&spawn_app().await).await;
}

/// Also run on SQLite (tests/api/sqlite.rs).
pub async fn warn_and_breach_story(app: &TestApp) {
    standard_policy(app).await;
    let ticket = app.create_ticket("incident", "mail is down").await;
    let number = ticket["number"].as_str().expect("number");

    let state = sla(app, number).await;
    assert_eq!(state["policy_name"], "standard");
    let first = clock(&state, "first_response");
    assert_eq!(first["state"], "running");
    assert_eq!(first["goal_seconds"], 3600);
    assert_eq!(clock(&state, "resolution")["state"], "running");

    // 50 minutes later: the 75% warning (45 min) is due, the 90% one not yet.
    assert_eq!(app.pass(Duration::minutes(50)).await, 1);
    assert_eq!(app.activity_where(number, "sla_warning").await.len(), 1);
    assert_eq!(
        clock(&sla(app, number).await, "first_response")["state"],
        "warned"
    );
    assert_eq!(app.scheduler.run_due().await.expect("timers"), 0);

    // 61 minutes: the 90% warning and the breach, noticed by one timer.
    app.pass(Duration::minutes(11)).await;
    let breaches = app.activity_where(number, "sla_breached").await;
    assert_eq!(breaches.len(), 1);
    assert_eq!(breaches[0]["field"], "first_response");
    let state = sla(app, number).await;
    let first = clock(&state, "first_response");
    assert_eq!(first["state"], "breached");
    assert!(first["remaining_seconds"].as_i64().expect("remaining") < 0);

    // Much later, every remaining alarm fires once and only once.
    app.pass(Duration::days(3)).await;
    app.scheduler.run_due().await.expect("timers");
    assert_eq!(app.activity_where(number, "sla_breached").await.len(), 2);
    assert_eq!(app.activity_where(number, "sla_warning").await.len(), 4);
    let compliance: Vec<Value> = app
        .get_json("/api/v1/sla/compliance?group_by=policy", &app.token)
        .await;
    let first = compliance
        .iter()
        .find(|r| r["target"] == "first_response")
        .expect("first response row");
    assert_eq!(first["group"], "standard");
    assert_eq!(first["breached"], 1);
    assert_eq!(first["compliance_percent"], 0.0);
}

#[tokio::test]
async fn on_hold_pauses_the_clocks_and_moves_their_timers() {
    pause_story(&spawn_app().await).await;
}

/// Also run on SQLite (tests/api/sqlite.rs).
pub async fn pause_story(app: &TestApp) {
    standard_policy(app).await;
    let ticket = app.create_ticket("incident", "waiting on the vendor").await;
    let number = ticket["number"].as_str().expect("number");
    app.advance_clock(Duration::minutes(30));
    assert_eq!(
        app.transition(number, "on_hold").await.status(),
        StatusCode::OK
    );

    // A week on hold: nothing fires, nothing elapses.
    app.pass(Duration::days(7)).await;
    assert!(app.activity_where(number, "sla_warning").await.is_empty());
    let state = sla(app, number).await;
    let resolution = clock(&state, "resolution");
    assert_eq!(resolution["state"], "paused");
    near(&resolution["elapsed_seconds"], 1800, false);
    assert!(resolution["due_at"].is_null());

    // Resumed: the remaining 210 minutes run from now.
    assert_eq!(
        app.transition(number, "in_progress").await.status(),
        StatusCode::OK
    );
    let resolution = clock(&sla(app, number).await, "resolution").clone();
    assert_eq!(resolution["state"], "running");
    let due: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(resolution["due_at"].clone()).expect("due");
    let expected = app.desk.clock.now() + Duration::minutes(210);
    assert!(
        (due - expected).num_seconds().abs() <= 2,
        "{due} vs {expected}"
    );
}

#[tokio::test]
async fn an_agents_public_reply_meets_first_response_and_resolution_meets_the_rest() {
    let app = spawn_app().await;
    standard_policy(&app).await;
    let (_, requester) = app
        .person_with_token("Rita", "rita@example.com", &["requester"])
        .await;
    let (_, agent) = app
        .person_with_token("Alan", "alan@example.com", &["agent"])
        .await;
    let ticket = expect_json(
        app.post(
            "/api/v1/tickets",
            &requester,
            &json!({ "kind": "incident", "title": "VPN drops" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let number = ticket["number"].as_str().expect("number");
    let comments = format!("/api/v1/tickets/{number}/comments");
    // An internal note is not a response.
    app.post(
        &comments,
        &agent,
        &json!({ "body": "looking", "internal": true }),
    )
    .await;
    assert_eq!(
        clock(&sla(&app, number).await, "first_response")["state"],
        "running"
    );
    app.advance_clock(Duration::minutes(10));
    let reply = app
        .post(
            &comments,
            &agent,
            &json!({ "body": "on it", "internal": false }),
        )
        .await;
    assert_eq!(reply.status(), StatusCode::CREATED);
    let state = sla(&app, number).await;
    assert_eq!(clock(&state, "first_response")["state"], "met");
    near(
        &clock(&state, "first_response")["elapsed_seconds"],
        600,
        false,
    );
    assert_eq!(
        app.transition(number, "resolved").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        clock(&sla(&app, number).await, "resolution")["state"],
        "met"
    );

    let compliance: Vec<Value> = app
        .get_json("/api/v1/sla/compliance?group_by=priority", &app.token)
        .await;
    assert_eq!(compliance.len(), 2, "{compliance:?}");
    assert!(compliance
        .iter()
        .all(|r| r["met"] == 1 && r["compliance_percent"] == 100.0));

    // Reopened: resolution restarts, without the old round's alarms.
    assert_eq!(
        app.transition(number, "in_progress").await.status(),
        StatusCode::OK
    );
    let resolution = clock(&sla(&app, number).await, "resolution").clone();
    assert_eq!(resolution["state"], "running");
    near(&resolution["elapsed_seconds"], 0, false);
    let replay = app
        .desk
        .replay_sla("default", Some(number))
        .await
        .expect("replay");
    assert!(replay[0].consistent, "{replay:?}");
}

#[tokio::test]
async fn a_priority_change_selects_another_policy_and_keeps_the_time_used() {
    let app = spawn_app().await;
    let ticket = app.create_ticket("incident", "slow laptop").await;
    let priority = ticket["priority"].as_str().expect("priority").to_string();
    policy(
        &app,
        &json!({
            "name": "urgent", "position": 1,
            "selector": { "priorities": ["p1"] },
            "targets": { "resolution_minutes": 60 },
        }),
    )
    .await;
    policy(
        &app,
        &json!({
            "name": "normal", "position": 2,
            "targets": { "resolution_minutes": 480 },
        }),
    )
    .await;
    // Created before any policy: no clocks.
    assert!(
        sla(&app, ticket["number"].as_str().expect("number")).await["clocks"]
            .as_array()
            .expect("clocks")
            .is_empty()
    );

    let ticket = app.create_ticket("incident", "slow laptop again").await;
    let number = ticket["number"].as_str().expect("number");
    assert_ne!(priority, "p1");
    assert_eq!(sla(&app, number).await["policy_name"], "normal");
    app.advance_clock(Duration::minutes(20));
    let changed = app
        .send(
            Method::PATCH,
            &format!("/api/v1/tickets/{number}"),
            &app.token,
            Some(&json!({ "impact": "high", "urgency": "high" })),
        )
        .await;
    let changed = expect_json(changed, StatusCode::OK).await;
    assert_eq!(changed["priority"], "p1");
    let state = sla(&app, number).await;
    assert_eq!(state["policy_name"], "urgent");
    let resolution = clock(&state, "resolution");
    assert_eq!(resolution["goal_seconds"], 3600);
    near(&resolution["elapsed_seconds"], 1200, false);
    near(&resolution["remaining_seconds"], 2400, true);
    app.pass(Duration::minutes(41)).await;
    assert_eq!(app.activity_where(number, "sla_breached").await.len(), 1);
    let replay = app.desk.replay_sla("default", None).await.expect("replay");
    assert_eq!(replay.len(), 1);
    assert!(replay.iter().all(|r| r.consistent), "{replay:?}");
}

#[tokio::test]
async fn business_hours_calendars_set_due_dates_and_bad_ones_are_refused() {
    let app = spawn_app().await;
    let bad = app
        .post(
            "/api/v1/sla/calendars",
            &app.token,
            &json!({
                "name": "broken", "time_zone": "Mars/Olympus",
                "hours": { "mon": ["09:00-12:00", "11:00-13:00"], "tue": ["17:00-09:00"] },
            }),
        )
        .await;
    let problem = expect_json(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields = crate::helpers::error_fields(&problem);
    assert_eq!(fields, ["time_zone", "hours.mon[1]", "hours.tue[0]"]);
    let no_targets = app
        .post(
            "/api/v1/sla/policies",
            &app.token,
            &json!({ "name": "empty", "targets": {}, "warn_at_percent": [150] }),
        )
        .await;
    let problem = expect_json(no_targets, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "targets");
    assert_eq!(problem["errors"][1]["field"], "warn_at_percent[0]");

    let day = json!(["00:00-24:00"]);
    let calendar = expect_json(
        app.post(
            "/api/v1/sla/calendars",
            &app.token,
            &json!({
                "name": "weekdays", "time_zone": "Europe/Berlin",
                "hours": { "mon": day, "tue": day, "wed": day, "thu": day, "fri": day },
            }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let id = calendar["id"].as_str().expect("id");
    policy(
        &app,
        &json!({
            "name": "weekdays", "calendar": id,
            "targets": { "resolution_minutes": 60 },
        }),
    )
    .await;
    let ticket = app.create_ticket("incident", "on the calendar").await;
    let number = ticket["number"].as_str().expect("number");
    let resolution = clock(&sla(&app, number).await, "resolution").clone();
    let due: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(resolution["due_at"].clone()).expect("due");
    let now = app.desk.clock.now();
    let weekday = chrono::Datelike::weekday(&now.with_timezone(&chrono_tz::Europe::Berlin));
    match weekday.num_days_from_monday() {
        0..=3 => assert!((due - now - Duration::minutes(60)).num_seconds().abs() <= 2),
        4 => assert!(due - now >= Duration::minutes(59)),
        days_from_monday => {
            // The weekend does not count: the hour starts at Monday 00:00 in
            // Berlin (late on a Sunday that is under two hours away).
            let monday = now.with_timezone(&chrono_tz::Europe::Berlin).date_naive()
                + chrono::Days::new(u64::from(7 - days_from_monday));
            let start = monday
                .and_time(chrono::NaiveTime::MIN)
                .and_local_timezone(chrono_tz::Europe::Berlin)
                .earliest()
                .expect("Monday midnight exists in Berlin");
            let expected = start.with_timezone(&chrono::Utc) + Duration::minutes(60);
            assert!(
                (due - expected).num_seconds().abs() <= 2,
                "the weekend does not count"
            );
        }
    }
    // A calendar in use is not deleted.
    let delete = app
        .send(
            Method::DELETE,
            &format!("/api/v1/sla/calendars/{id}"),
            &app.token,
            None,
        )
        .await;
    assert_eq!(delete.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn two_daemons_on_one_database_fire_each_alarm_once_and_survive_a_restart() {
    let url = fresh_database().await;
    let first = spawn_on(&url, false, |_| {}).await;
    standard_policy(&first).await;
    let mut numbers = Vec::new();
    for i in 0..10 {
        let ticket = first
            .create_ticket("incident", &format!("outage {i}"))
            .await;
        numbers.push(ticket["number"].as_str().expect("number").to_string());
    }
    // The first daemon stops before anything is due.
    let desk_token = first.token.clone();
    first.shutdown().await.expect("clean stop");

    let a = spawn_on(&url, false, |_| {}).await;
    let b = spawn_on(&url, false, |_| {}).await;
    for app in [&a, &b] {
        app.advance_clock(Duration::days(2));
    }
    for _ in 0..4 {
        let (x, y) = tokio::join!(a.scheduler.run_due(), b.scheduler.run_due());
        x.expect("scheduler a");
        y.expect("scheduler b");
    }
    for number in &numbers {
        let all: Vec<Value> = a
            .get_json(&format!("/api/v1/tickets/{number}/activity"), &desk_token)
            .await;
        let count = |action: &str| all.iter().filter(|x| x["action"] == action).count();
        assert_eq!(count("sla_breached"), 2, "{number}: {all:?}");
        assert_eq!(count("sla_warning"), 4, "{number}");
    }
    let replay = a.desk.replay_sla("default", None).await.expect("replay");
    assert_eq!(replay.len(), 10);
    assert!(replay.iter().all(|r| r.consistent), "{replay:?}");
}
