//! Change management through the API: a normal change from assessment
//! through a CAB quorum to review and closure, a standard change from its
//! template, and window conflicts with other changes and freezes refused
//! with nothing changed.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{expect_json, spawn_app, TestApp};

fn id(value: &Value) -> String {
    value["id"].as_str().expect("id").to_string()
}

async fn service(app: &TestApp, name: &str) -> String {
    let ci = expect_json(
        app.post(
            "/api/v1/cmdb/cis",
            &app.token,
            &json!({ "class": "service", "name": name }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    id(&ci)
}

async fn put(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.send(Method::PUT, path, &app.token, Some(&body)).await
}

const LOW_RISK: &str = r#"{ "answers": { "user_impact": "some", "complexity": "simple", "tested": "yes", "rollback": "easily", "done_before": "often" } }"#;

#[tokio::test]
async fn a_normal_change_goes_through_a_cab_quorum_to_review_and_closure() {
    let app = spawn_app().await;
    let mut members = Vec::new();
    for (name, email) in [
        ("Cee One", "cab1@example.com"),
        ("Cee Two", "cab2@example.com"),
        ("Cee Three", "cab3@example.com"),
    ] {
        members.push(app.person_with_token(name, email, &["approver"]).await);
    }
    let ids: Vec<String> = members.iter().map(|m| id(&m.0)).collect();
    let cab = expect_json(
        app.post(
            "/api/v1/teams",
            &app.token,
            &json!({ "name": "CAB", "members": ids }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    expect_json(
        app.post(
            "/api/v1/approval-policies",
            &app.token,
            &json!({ "name": "CAB", "default_for": "normal_change", "stages": [
                { "name": "CAB", "approvers": [{ "type": "cab", "team": id(&cab) }], "rule": { "type": "quorum", "n": 2 } }
            ]}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let payroll = service(&app, "Payroll").await;
    let change = expect_json(
        app.post(
            "/api/v1/changes",
            &app.token,
            &json!({
                "title": "Upgrade the payroll database", "change_type": "normal", "cis": [payroll],
                "planned_start": "2026-12-05T22:00:00Z", "planned_end": "2026-12-06T02:00:00Z"
            }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let number = change["ticket"]["number"]
        .as_str()
        .expect("number")
        .to_string();
    assert!(number.starts_with("CHG"));
    assert_eq!(change["change_type"], "normal");
    assert_eq!(change["conflicts"], json!([]));

    expect_json(app.transition(&number, "assessment").await, StatusCode::OK).await;
    // Not without a risk assessment; then not straight to scheduled.
    let unassessed = expect_json(
        app.transition(&number, "awaiting_approval").await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(unassessed["detail"]
        .as_str()
        .expect("detail")
        .contains("risk assessment"));
    let risk = expect_json(
        put(
            &app,
            &format!("/api/v1/changes/{number}/risk"),
            serde_json::from_str(LOW_RISK).expect("json"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(risk["risk"]["score"], 2);
    assert_eq!(risk["risk"]["level"], "low");
    let skipped = expect_json(
        app.transition(&number, "scheduled").await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(skipped["detail"]
        .as_str()
        .expect("detail")
        .contains("must be approved"));

    // Submitting starts the CAB policy (the default for normal changes).
    expect_json(
        app.transition(&number, "awaiting_approval").await,
        StatusCode::OK,
    )
    .await;
    let approvals: Vec<Value> = app
        .get_json(&format!("/api/v1/tickets/{number}/approvals"), &app.token)
        .await;
    let approval = id(&approvals[0]);
    assert_eq!(approvals[0]["stages"][0]["cab"], true);
    assert_eq!(approvals[0]["stages"][0]["needed"], 2);
    let decide = |who: usize, body: Value| {
        let token = members[who].1.clone();
        let app = &app;
        let approval = approval.clone();
        async move {
            app.post(
                &format!("/api/v1/approvals/{approval}/decisions"),
                &token,
                &body,
            )
            .await
        }
    };
    let one = expect_json(
        decide(0, json!({ "decision": "approve" })).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(one["stages"][0]["approvals"], 1);
    let twice = expect_json(
        decide(0, json!({ "decision": "approve" })).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(twice["detail"]
        .as_str()
        .expect("detail")
        .contains("already decided"));
    let no = expect_json(
        decide(
            1,
            json!({ "decision": "reject", "reason": "not this weekend" }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(no["status"], "pending", "two of three can still approve");
    // The agent cannot push it through by hand.
    let by_hand = expect_json(
        app.transition(&number, "scheduled").await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(by_hand["detail"]
        .as_str()
        .expect("detail")
        .contains("approval decides"));
    let yes = expect_json(
        decide(2, json!({ "decision": "approve" })).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(yes["status"], "approved");
    assert_eq!(yes["stages"][0]["approvals"], 2);
    assert_eq!(yes["stages"][0]["rejections"], 1);

    let scheduled: Value = app
        .get_json(&format!("/api/v1/changes/{number}"), &app.token)
        .await;
    assert_eq!(scheduled["ticket"]["state"], "scheduled");
    let task = expect_json(
        app.post(
            &format!("/api/v1/tickets/{number}/tasks"),
            &app.token,
            &json!({ "title": "Take a backup" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    expect_json(
        app.transition(&number, "implementing").await,
        StatusCode::OK,
    )
    .await;
    expect_json(
        app.transition(&number, "review").await,
        StatusCode::CONFLICT,
    )
    .await;
    expect_json(
        app.send(
            Method::PATCH,
            &format!("/api/v1/tickets/{number}/tasks/{}", id(&task)),
            &app.token,
            Some(&json!({ "state": "done" })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    expect_json(app.transition(&number, "review").await, StatusCode::OK).await;

    // Closing needs the post-implementation review.
    let unreviewed = expect_json(
        app.transition(&number, "closed").await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(unreviewed["detail"]
        .as_str()
        .expect("detail")
        .contains("post-implementation review"));
    let incident = app
        .create_ticket("incident", "payroll slow after upgrade")
        .await;
    let bad_review = expect_json(
        put(
            &app,
            &format!("/api/v1/changes/{number}/review"),
            json!({ "outcome": "meh", "lessons": "", "incidents": ["INC9999999"] }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(bad_review["errors"].as_array().expect("errors").len(), 3);
    let reviewed = expect_json(
        put(
            &app,
            &format!("/api/v1/changes/{number}/review"),
            json!({ "outcome": "successful_with_issues", "lessons": "Warm the cache first.", "incidents": [incident["number"]] }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(reviewed["review"]["incidents"][0], incident["number"]);
    expect_json(app.transition(&number, "closed").await, StatusCode::OK).await;
}

#[tokio::test]
async fn a_standard_change_comes_from_its_template_without_approval() {
    let app = spawn_app().await;
    expect_json(
        app.post(
            "/api/v1/change-templates",
            &app.token,
            &json!({ "name": "Rotate TLS certificate", "description": "Routine rotation", "tasks": ["Issue", "Deploy", "Verify"] }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let missing = expect_json(
        app.post(
            "/api/v1/changes",
            &app.token,
            &json!({ "title": "Rotate", "change_type": "standard" }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(missing["errors"][0]["field"], "template");
    let change = expect_json(
        app.post(
            "/api/v1/changes",
            &app.token,
            &json!({ "title": "Rotate api cert", "change_type": "standard", "template": "Rotate TLS certificate",
                     "planned_start": "2026-12-01T10:00:00Z", "planned_end": "2026-12-01T11:00:00Z" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let number = change["ticket"]["number"]
        .as_str()
        .expect("number")
        .to_string();
    assert_eq!(change["template"], "Rotate TLS certificate");
    assert_eq!(change["tasks"].as_array().expect("tasks").len(), 3);
    assert_eq!(change["ticket"]["description"], "Routine rotation");
    expect_json(app.transition(&number, "assessment").await, StatusCode::OK).await;
    expect_json(
        app.transition(&number, "awaiting_approval").await,
        StatusCode::CONFLICT,
    )
    .await;
    expect_json(app.transition(&number, "scheduled").await, StatusCode::OK).await;
}

#[tokio::test]
async fn overlapping_windows_and_freezes_are_refused_with_nothing_changed() {
    let app = spawn_app().await;
    let payroll = service(&app, "Payroll").await;
    let intranet = service(&app, "Intranet").await;
    let first = expect_json(
        app.post(
            "/api/v1/changes",
            &app.token,
            &json!({ "title": "Patch payroll", "change_type": "normal", "cis": [payroll],
                     "planned_start": "2026-12-05T22:00:00Z", "planned_end": "2026-12-06T02:00:00Z" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let first_number = first["ticket"]["number"]
        .as_str()
        .expect("number")
        .to_string();

    // Same CI, overlapping window: refused, and no change is created.
    let clash = expect_json(
        app.post(
            "/api/v1/changes",
            &app.token,
            &json!({ "title": "Move payroll", "change_type": "normal", "cis": [payroll],
                     "planned_start": "2026-12-06T01:00:00Z", "planned_end": "2026-12-06T03:00:00Z" }),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        clash["detail"]
            .as_str()
            .expect("detail")
            .contains(&first_number),
        "{clash}"
    );
    let changes: Value = app
        .get_json("/api/v1/tickets?kind=change", &app.token)
        .await;
    assert_eq!(changes["items"].as_array().expect("items").len(), 1);

    // Another CI in the same window is fine; back to back on the same CI too.
    let second = expect_json(
        app.post(
            "/api/v1/changes",
            &app.token,
            &json!({ "title": "Patch intranet", "change_type": "normal", "cis": [intranet],
                     "planned_start": "2026-12-06T01:00:00Z", "planned_end": "2026-12-06T03:00:00Z" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let second_number = second["ticket"]["number"]
        .as_str()
        .expect("number")
        .to_string();
    expect_json(
        app.post(
            "/api/v1/changes",
            &app.token,
            &json!({ "title": "Payroll follow-up", "change_type": "normal", "cis": [payroll],
                     "planned_start": "2026-12-06T02:00:00Z", "planned_end": "2026-12-06T03:00:00Z" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;

    // Re-planning into a freeze is refused and the old window stays.
    expect_json(
        app.post(
            "/api/v1/freeze-windows",
            &app.token,
            &json!({ "name": "Year-end freeze", "starts_at": "2026-12-20T00:00:00Z", "ends_at": "2027-01-03T00:00:00Z" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let preview: Vec<Value> = app
        .get_json(
            &format!("/api/v1/changes/{second_number}/conflicts?start=2026-12-24T10:00:00Z&end=2026-12-24T12:00:00Z"),
            &app.token,
        )
        .await;
    assert_eq!(preview[0]["kind"], "freeze");
    let frozen = expect_json(
        put(
            &app,
            &format!("/api/v1/changes/{second_number}/window"),
            json!({ "planned_start": "2026-12-24T10:00:00Z", "planned_end": "2026-12-24T12:00:00Z" }),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(frozen["detail"]
        .as_str()
        .expect("detail")
        .contains("Year-end freeze"));
    let kept: Value = app
        .get_json(&format!("/api/v1/changes/{second_number}"), &app.token)
        .await;
    assert_eq!(kept["planned_start"], "2026-12-06T01:00:00Z");

    let inverted = expect_json(
        put(
            &app,
            &format!("/api/v1/changes/{second_number}/window"),
            json!({ "planned_start": "2026-12-24T12:00:00Z", "planned_end": "2026-12-24T10:00:00Z" }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(inverted["errors"][0]["field"], "planned_end");
}
