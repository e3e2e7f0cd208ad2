//! The embedded default: the same API flows on SQLite, including concurrent
//! writers (one writer at a time, no lost or duplicated numbers).

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_on, Receiver, TestApp};

async fn spawn_sqlite(dir: &tempfile::TempDir) -> TestApp {
    let url = format!("sqlite://{}", dir.path().join("switchboard.db").display());
    spawn_on(&url, false, |_| {}).await
}

#[tokio::test]
async fn concurrent_tickets_on_sqlite_get_consecutive_numbers() {
    let dir = tempfile::tempdir().expect("dir");
    let app = spawn_sqlite(&dir).await;
    let requests = (0..20).map(|i| {
        let app = &app;
        async move {
            let response = app
                .post(
                    "/api/v1/tickets",
                    &app.token,
                    &json!({ "kind": "problem", "title": format!("p{i}") }),
                )
                .await;
            assert_eq!(response.status(), StatusCode::CREATED);
            let body: Value = response.json().await.expect("json");
            body["number"].as_str().expect("number").to_string()
        }
    });
    let mut numbers = futures::future::join_all(requests).await;
    numbers.sort();
    let expected: Vec<String> = (1..=20).map(|n| format!("PRB{n:07}")).collect();
    assert_eq!(numbers, expected);
}

#[tokio::test]
async fn a_ticket_lives_its_life_on_sqlite_and_its_events_go_out() {
    let dir = tempfile::tempdir().expect("dir");
    let app = spawn_sqlite(&dir).await;
    let receiver = Receiver::default();
    let addr = receiver.serve("127.0.0.1:0".parse().expect("addr")).await;
    app.subscribe(&format!("http://{addr}/hook")).await;

    let ticket = app
        .create_ticket("incident", "on the embedded database")
        .await;
    let number = ticket["number"].as_str().expect("number");
    for to in ["in_progress", "resolved", "closed"] {
        assert_eq!(app.transition(number, to).await.status(), StatusCode::OK);
    }
    let comment = app
        .post(
            &format!("/api/v1/tickets/{number}/comments"),
            &app.token,
            &json!({ "body": "done" }),
        )
        .await;
    assert_eq!(comment.status(), StatusCode::CREATED);
    let list: Value = app
        .get_json("/api/v1/tickets?state=closed&q=EMBEDDED", &app.token)
        .await;
    assert_eq!(list["items"][0]["number"], *number);

    app.dispatcher.drain().await.expect("dispatch");
    let types: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "ticket.created",
            "ticket.state_changed",
            "ticket.state_changed",
            "ticket.state_changed",
            "ticket.commented"
        ]
    );
    let org = switchboard::store::orgs::list_orgs(&app.desk.db)
        .await
        .expect("orgs")[0]
        .id;
    switchboard::desk::audit_verify(&app.desk.db, org)
        .await
        .expect("audit chain intact on SQLite");
}

#[tokio::test]
async fn the_cmdb_and_its_impact_analysis_work_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let app = spawn_sqlite(&dir).await;
    let bulk = json!({
        "items": [
            { "external_id": "h", "class": "server", "name": "host", "attributes": { "hostname": "host" } },
            { "external_id": "v", "class": "virtual_machine", "name": "vm", "attributes": { "hostname": "vm" } },
            { "external_id": "a", "class": "application", "name": "app" },
            { "external_id": "s", "class": "service", "name": "Shop" }
        ],
        "relationships": [
            { "source_external_id": "v", "kind": "runs_on", "target_external_id": "h" },
            { "source_external_id": "a", "kind": "runs_on", "target_external_id": "v" },
            { "source_external_id": "s", "kind": "depends_on", "target_external_id": "a" }
        ]
    });
    let applied = app.post("/api/v1/cmdb/bulk", &app.token, &bulk).await;
    assert_eq!(applied.status(), StatusCode::OK);
    let list: Value = app.get_json("/api/v1/cmdb/cis?q=host", &app.token).await;
    let host = list["items"][0]["id"]
        .as_str()
        .expect("host id")
        .to_string();
    let incident = app.create_ticket("incident", "host down").await;
    let linked = app
        .post(
            &format!(
                "/api/v1/tickets/{}/cis",
                incident["number"].as_str().expect("number")
            ),
            &app.token,
            &json!({ "ci": host }),
        )
        .await;
    assert_eq!(linked.status(), StatusCode::OK);

    let impact: Value = app
        .get_json(
            &format!("/api/v1/cmdb/cis/{host}/impact?depth=5"),
            &app.token,
        )
        .await;
    let names: Vec<&str> = impact["upstream"]
        .as_array()
        .expect("upstream")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(impact["services"][0]["name"], "Shop");
    assert_eq!(impact["open_incidents"][0]["number"], incident["number"]);
}

#[tokio::test]
async fn catalog_orders_approvals_and_rules_work_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = spawn_sqlite(&dir).await;
    crate::approvals::two_stage_story(&app).await;
    crate::rules::routing_story(&app).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let fresh = spawn_sqlite(&dir).await;
    crate::rules::failing_rule_story(&fresh).await;
}

#[tokio::test]
async fn sla_clocks_warn_breach_and_pause_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let app = spawn_sqlite(&dir).await;
    crate::sla::warn_and_breach_story(&app).await;
    let dir = tempfile::tempdir().expect("dir");
    let app = spawn_sqlite(&dir).await;
    crate::sla::pause_story(&app).await;
}

#[tokio::test]
async fn escalations_and_schedules_run_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let app = spawn_sqlite(&dir).await;
    crate::escalation::escalation_story(&app).await;
    let dir = tempfile::tempdir().expect("dir");
    let app = spawn_sqlite(&dir).await;
    crate::schedules::schedule_story(&app).await;
}

#[tokio::test]
async fn alerts_become_incidents_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let app = spawn_sqlite(&dir).await;
    crate::alerts::alert_group_story(&app).await;
}

#[tokio::test]
async fn the_first_sign_in_of_a_fresh_sqlite_database_works_in_the_console() {
    // The session signing key is created at the first sign-in; inside the
    // sign-in's own write transaction that once waited on itself.
    let dir = tempfile::tempdir().expect("dir");
    let app = spawn_sqlite(&dir).await;
    crate::support::console::person_with_password(
        &app,
        &app.token,
        "Ada Agent",
        "ada@example.com",
        &["agent"],
    )
    .await;
    let visitor = crate::support::console::Visitor::new(&app);
    visitor
        .sign_in("ada@example.com", crate::support::console::PASSWORD)
        .await;
    app.create_ticket("incident", "Kept in one file").await;
    let queue = visitor.get("/console/queue").await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(queue.html.contains("Kept in one file"));
    // The queue's SLA views read the standing column on SQLite too.
    let breached = visitor.get("/console/queue?view=breached").await;
    assert_eq!(breached.status, StatusCode::OK);
}

#[tokio::test]
async fn links_and_merges_work_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let app = spawn_sqlite(&dir).await;
    crate::merge::merge_story(&app).await;
}
