//! The service catalog and the approval engine through the API: an order
//! through two approval stages to fulfilment, a rejection, refusals (self-
//! approval, non-approvers, second clicks), reminders and expiry with
//! escalation, delegation, and orders with wrong answers changing nothing.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{expect_json, spawn_app, TestApp};

fn id(value: &Value) -> String {
    value["id"].as_str().expect("id").to_string()
}

struct Desk {
    requester: (Value, String),
    manager: (Value, String),
    finance: (Value, String),
    agent: (Value, String),
}

/// People: a requester whose manager approves, a finance approver, and a
/// fulfilment agent in the "Workplace" team.
async fn people(app: &TestApp) -> Desk {
    let requester = app
        .person_with_token("Rita Requester", "rita@example.com", &["requester"])
        .await;
    let manager = app
        .person_with_token("Max Manager", "max@example.com", &["approver"])
        .await;
    let finance = app
        .person_with_token("Fay Finance", "fay@example.com", &["approver"])
        .await;
    let agent = app
        .person_with_token("Al Agent", "al@example.com", &["agent"])
        .await;
    let set = app
        .send(
            Method::PUT,
            &format!("/api/v1/people/{}/manager", id(&requester.0)),
            &app.token,
            Some(&json!({ "manager": "max@example.com" })),
        )
        .await;
    expect_json(set, StatusCode::OK).await;
    expect_json(
        app.post(
            "/api/v1/teams",
            &app.token,
            &json!({ "name": "Workplace", "members": [id(&agent.0)] }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    Desk {
        requester,
        manager,
        finance,
        agent,
    }
}

async fn policy(app: &TestApp, body: Value) -> Value {
    expect_json(
        app.post("/api/v1/approval-policies", &app.token, &body)
            .await,
        StatusCode::CREATED,
    )
    .await
}

async fn laptop_item(app: &TestApp, policy: &str) -> Value {
    expect_json(
        app.post(
            "/api/v1/catalog/categories",
            &app.token,
            &json!({ "name": "Hardware" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    expect_json(
        app.post(
            "/api/v1/catalog/items",
            &app.token,
            &json!({
                "name": "Laptop",
                "description": "A new laptop",
                "category": "Hardware",
                "team": "Workplace",
                "approval_policy": policy,
                "tasks": ["Order the laptop", "Install the image"],
                "form": { "fields": [
                    { "key": "model", "label": "Model", "type": "choice", "required": true,
                      "options": [{ "value": "air" }, { "value": "pro" }] },
                    { "key": "ram_gb", "label": "Memory (GB)", "type": "number", "integer": true, "min": 8, "max": 64 },
                    { "key": "needed_by", "label": "Needed by", "type": "date" },
                    { "key": "backup", "label": "Backup contact", "type": "person" }
                ]}
            }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await
}

async fn order(app: &TestApp, item: &Value, token: &str, answers: Value) -> reqwest::Response {
    app.post(
        &format!("/api/v1/catalog/items/{}/orders", id(item)),
        token,
        &json!({ "answers": answers }),
    )
    .await
}

async fn decide(app: &TestApp, approval: &str, token: &str, decision: Value) -> reqwest::Response {
    app.post(
        &format!("/api/v1/approvals/{approval}/decisions"),
        token,
        &decision,
    )
    .await
}

async fn approvals_of(app: &TestApp, number: &str) -> Vec<Value> {
    app.get_json(&format!("/api/v1/tickets/{number}/approvals"), &app.token)
        .await
}

/// Pending outbox messages of one event to one address.
async fn messages(app: &TestApp, event: &str, to: &str) -> Vec<Value> {
    app.outbox("pending")
        .await
        .into_iter()
        .filter(|m| m["event"] == event && m["target"] == to)
        .collect()
}

async fn two_stage_setup(app: &TestApp) -> (Desk, Value) {
    let desk = people(app).await;
    policy(
        app,
        json!({ "name": "Laptop approval", "stages": [
            { "name": "Manager", "approvers": [{ "type": "requester_manager" }], "rule": { "type": "any" } },
            { "name": "Finance", "approvers": [{ "type": "person", "id": id(&desk.finance.0) }], "rule": { "type": "any" } }
        ]}),
    )
    .await;
    let item = laptop_item(app, "Laptop approval").await;
    (desk, item)
}

#[tokio::test]
async fn an_order_goes_through_two_approval_stages_to_fulfilment() {
    let app = spawn_app().await;
    two_stage_story(&app).await;
}

/// The whole story, also told on SQLite (tests/api/sqlite.rs).
pub async fn two_stage_story(app: &TestApp) {
    let (desk, item) = two_stage_setup(app).await;

    let catalog: Value = app.get_json("/api/v1/catalog", &desk.requester.1).await;
    assert_eq!(catalog["items"][0]["name"], "Laptop");
    assert_eq!(catalog["items"][0]["form"]["fields"][0]["type"], "choice");

    let request = expect_json(
        order(
            app,
            &item,
            &desk.requester.1,
            json!({ "model": "pro", "ram_gb": "32", "needed_by": "2026-12-24", "backup": "al@example.com" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let number = request["ticket"]["number"]
        .as_str()
        .expect("number")
        .to_string();
    assert_eq!(request["ticket"]["kind"], "service_request");
    assert_eq!(request["ticket"]["state"], "awaiting_approval");
    assert_eq!(request["ticket"]["team"]["name"], "Workplace");
    assert_eq!(request["answers"]["ram_gb"], 32);
    assert_eq!(request["answers"]["backup"]["name"], "Al Agent");
    let description = request["ticket"]["description"].as_str().expect("text");
    assert!(description.contains("Model: pro"), "{description}");

    // Stage 1: the requester's manager is asked, on every channel he has.
    assert_eq!(
        messages(app, "approval.requested", "max@example.com")
            .await
            .len(),
        1
    );
    assert!(messages(app, "approval.requested", "fay@example.com")
        .await
        .is_empty());
    let waiting: Vec<Value> = app.get_json("/api/v1/approvals", &desk.manager.1).await;
    assert_eq!(waiting.len(), 1);
    let approval = id(&waiting[0]);
    assert_eq!(
        waiting[0]["stages"][0]["approvers"][0]["name"],
        "Max Manager"
    );

    // The requester cannot approve her own request; finance is not asked yet.
    let own = expect_json(
        decide(
            app,
            &approval,
            &desk.requester.1,
            json!({ "decision": "approve" }),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        own["detail"].as_str().expect("detail").contains("yourself"),
        "{own}"
    );
    let early = expect_json(
        decide(
            app,
            &approval,
            &desk.finance.1,
            json!({ "decision": "approve" }),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(early["detail"]
        .as_str()
        .expect("detail")
        .contains("not an approver"));

    let after_manager = expect_json(
        decide(
            app,
            &approval,
            &desk.manager.1,
            json!({ "decision": "approve" }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(after_manager["status"], "pending");
    assert_eq!(after_manager["stage"], 1);
    assert_eq!(after_manager["stages"][0]["status"], "approved");
    assert_eq!(app.ticket(&number).await["state"], "awaiting_approval");
    assert_eq!(
        messages(app, "approval.requested", "fay@example.com")
            .await
            .len(),
        1
    );

    let done = expect_json(
        decide(
            app,
            &approval,
            &desk.finance.1,
            json!({ "decision": "approve" }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(done["status"], "approved");
    assert_eq!(
        done["stages"][1]["decisions"][0]["approver"]["name"],
        "Fay Finance"
    );
    assert_eq!(done["stages"][1]["decisions"][0]["channel"], "api");

    // Fulfilment: the request is in progress and the requester is told.
    assert_eq!(app.ticket(&number).await["state"], "in_progress");
    let told = messages(app, "approval.decided", "rita@example.com").await;
    assert_eq!(told.len(), 1);
    assert!(told[0]["payload"]["subject"]
        .as_str()
        .expect("subject")
        .contains("approved"));

    // A second click says who decided.
    let again = expect_json(
        decide(
            app,
            &approval,
            &desk.finance.1,
            json!({ "decision": "approve" }),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    let detail = again["detail"].as_str().expect("detail");
    assert!(
        detail.contains("already approved") && detail.contains("Fay Finance"),
        "{detail}"
    );

    // The item's tasks must be done before the request is resolved.
    let tasks: Vec<Value> = app
        .get_json(&format!("/api/v1/tickets/{number}/tasks"), &desk.agent.1)
        .await;
    assert_eq!(tasks.len(), 2);
    let blocked = expect_json(
        app.transition(&number, "resolved").await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(blocked["detail"]
        .as_str()
        .expect("detail")
        .contains("Order the laptop"));
    for task in &tasks {
        let done = app
            .send(
                Method::PATCH,
                &format!("/api/v1/tickets/{number}/tasks/{}", id(task)),
                &desk.agent.1,
                Some(&json!({ "state": "done" })),
            )
            .await;
        expect_json(done, StatusCode::OK).await;
    }
    expect_json(app.transition(&number, "resolved").await, StatusCode::OK).await;

    let activity: Vec<Value> = app.activity(&number).await;
    let actions: Vec<&str> = activity
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    for expected in [
        "created",
        "approval_requested",
        "approval_decided",
        "task_updated",
    ] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
}

#[tokio::test]
async fn a_rejection_ends_the_request_with_the_reason() {
    let app = spawn_app().await;
    let (desk, item) = two_stage_setup(&app).await;
    let request = expect_json(
        order(&app, &item, &desk.requester.1, json!({ "model": "air" })).await,
        StatusCode::CREATED,
    )
    .await;
    let number = request["ticket"]["number"]
        .as_str()
        .expect("number")
        .to_string();
    let approval = id(&approvals_of(&app, &number).await[0]);

    let no_reason = expect_json(
        decide(
            &app,
            &approval,
            &desk.manager.1,
            json!({ "decision": "reject" }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(no_reason["errors"][0]["field"], "reason");

    let rejected = expect_json(
        decide(
            &app,
            &approval,
            &desk.manager.1,
            json!({ "decision": "reject", "reason": "you got one last month" }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rejected["status"], "rejected");
    let fetched = app.ticket(&number).await;
    assert_eq!(fetched["state"], "rejected");
    assert!(fetched["closed_at"].is_string());
    let comments: Vec<Value> = app
        .get_json(
            &format!("/api/v1/tickets/{number}/comments"),
            &desk.requester.1,
        )
        .await;
    assert!(comments.iter().any(|c| c["body"]
        .as_str()
        .unwrap_or("")
        .contains("you got one last month")));
    let told = messages(&app, "approval.decided", "rita@example.com").await;
    assert!(told[0]["payload"]["text"]
        .as_str()
        .expect("text")
        .contains("you got one last month"));
    // Finance was never asked.
    assert!(messages(&app, "approval.requested", "fay@example.com")
        .await
        .is_empty());
}

#[tokio::test]
async fn wrong_answers_are_refused_field_by_field_and_nothing_is_stored() {
    let app = spawn_app().await;
    let (desk, item) = two_stage_setup(&app).await;
    let refused = expect_json(
        order(
            &app,
            &item,
            &desk.requester.1,
            json!({ "model": "thinkpad", "ram_gb": "lots", "needed_by": "soon", "backup": "nobody@example.com", "colour": "red" }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let mut fields = crate::helpers::error_fields(&refused);
    fields.sort();
    assert_eq!(
        fields,
        [
            "answers.colour",
            "answers.model",
            "answers.needed_by",
            "answers.ram_gb"
        ]
    );
    // Shape is fine, the person does not exist: refused by name as well.
    let unknown = expect_json(
        order(
            &app,
            &item,
            &desk.requester.1,
            json!({ "model": "air", "backup": "nobody@example.com" }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(unknown["errors"][0]["field"], "answers.backup");
    let missing = expect_json(
        order(&app, &item, &desk.requester.1, json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(missing["errors"][0]["field"], "answers.model");

    let tickets: Value = app.get_json("/api/v1/tickets", &app.token).await;
    assert_eq!(tickets["items"].as_array().expect("items").len(), 0);
    assert!(app
        .outbox("pending")
        .await
        .iter()
        .all(|m| m["event"] != "approval.requested"));

    // A broken form definition is refused with the place named.
    let bad_item = expect_json(
        app.post(
            "/api/v1/catalog/items",
            &app.token,
            &json!({ "name": "Broken", "form": { "fields": [{ "key": "x", "label": "X", "type": "number", "min": 5, "max": 1 }] } }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(bad_item["errors"][0]["field"], "form.fields[0].min");
}

#[tokio::test]
async fn reminders_and_expiry_fire_once_and_escalate_to_the_manager() {
    let app = spawn_app().await;
    let desk = people(&app).await;
    // Finance reports to the manager: on expiry the manager is added.
    let set = app
        .send(
            Method::PUT,
            &format!("/api/v1/people/{}/manager", id(&desk.finance.0)),
            &app.token,
            Some(&json!({ "manager": "max@example.com" })),
        )
        .await;
    expect_json(set, StatusCode::OK).await;
    policy(
        &app,
        json!({ "name": "Finance only", "stages": [
            { "name": "Finance", "approvers": [{ "type": "person", "id": id(&desk.finance.0) }], "rule": { "type": "any" },
              "remind_after_minutes": 60, "expire_after_minutes": 240, "on_expiry": "escalate" }
        ]}),
    )
    .await;
    let item = laptop_item(&app, "Finance only").await;
    let request = expect_json(
        order(&app, &item, &desk.requester.1, json!({ "model": "air" })).await,
        StatusCode::CREATED,
    )
    .await;
    let number = request["ticket"]["number"]
        .as_str()
        .expect("number")
        .to_string();
    let approval = id(&approvals_of(&app, &number).await[0]);

    // The clock passes both: one reminder, then escalation to the manager.
    app.age_timers().await;
    assert_eq!(app.scheduler.run_due().await.expect("timers"), 2);
    assert_eq!(
        messages(&app, "approval.reminder", "fay@example.com")
            .await
            .len(),
        1
    );
    assert_eq!(
        messages(&app, "approval.requested", "max@example.com")
            .await
            .len(),
        1
    );
    let view: Value = app.approval(&approval).await;
    assert_eq!(view["status"], "pending");
    let approvers: Vec<&str> = view["stages"][0]["approvers"]
        .as_array()
        .expect("approvers")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(approvers, ["Fay Finance", "Max Manager"]);
    assert_eq!(
        app.scheduler.run_due().await.expect("timers"),
        0,
        "each fires once"
    );

    // The second expiry rejects, exactly once.
    app.age_timers().await;
    assert_eq!(app.scheduler.run_due().await.expect("timers"), 1);
    let view: Value = app.approval(&approval).await;
    assert_eq!(view["status"], "rejected");
    assert!(view["reason"].as_str().expect("reason").contains("expired"));
    assert_eq!(app.ticket(&number).await["state"], "rejected");
    app.age_timers().await;
    assert_eq!(app.scheduler.run_due().await.expect("timers"), 0);
    let late = expect_json(
        decide(
            &app,
            &approval,
            &desk.manager.1,
            json!({ "decision": "approve" }),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        late["detail"].as_str().expect("detail").contains("expired"),
        "{late}"
    );
}

#[tokio::test]
async fn a_delegate_decides_in_the_approvers_place() {
    let app = spawn_app().await;
    let desk = people(&app).await;
    policy(
        &app,
        json!({ "name": "Finance only", "stages": [
            { "name": "Finance", "approvers": [{ "type": "person", "id": id(&desk.finance.0) }], "rule": { "type": "any" } }
        ]}),
    )
    .await;
    let item = laptop_item(&app, "Finance only").await;
    let until = (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339();
    // Finance is on holiday and delegates to the agent.
    let delegation = expect_json(
        app.post(
            "/api/v1/me/delegations",
            &desk.finance.1,
            &json!({ "to": "al@example.com", "ends_at": until }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    // Delegating to the requester does not let her approve her own order.
    expect_json(
        app.post(
            "/api/v1/me/delegations",
            &desk.finance.1,
            &json!({ "to": "rita@example.com", "ends_at": until }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let request = expect_json(
        order(&app, &item, &desk.requester.1, json!({ "model": "air" })).await,
        StatusCode::CREATED,
    )
    .await;
    let number = request["ticket"]["number"]
        .as_str()
        .expect("number")
        .to_string();
    let approval = id(&approvals_of(&app, &number).await[0]);
    expect_json(
        decide(
            &app,
            &approval,
            &desk.requester.1,
            json!({ "decision": "approve" }),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let waiting: Vec<Value> = app.get_json("/api/v1/approvals", &desk.agent.1).await;
    assert_eq!(
        waiting.len(),
        1,
        "the delegate sees what waits for the delegator"
    );

    let done = expect_json(
        decide(
            &app,
            &approval,
            &desk.agent.1,
            json!({ "decision": "approve" }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(done["status"], "approved");
    let decision = &done["stages"][0]["decisions"][0];
    assert_eq!(decision["approver"]["name"], "Fay Finance");
    assert_eq!(decision["decided_by"]["name"], "Al Agent");

    // Ended delegations give nothing.
    let ended = app
        .send(
            Method::DELETE,
            &format!("/api/v1/me/delegations/{}", id(&delegation)),
            &desk.finance.1,
            None,
        )
        .await;
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    let mine: Vec<Value> = app
        .get_json("/api/v1/me/delegations", &desk.finance.1)
        .await;
    assert_eq!(mine.len(), 1, "only the delegation to Rita is left");
}

#[tokio::test]
async fn policies_naming_unknown_people_or_bad_rules_are_refused() {
    let app = spawn_app().await;
    let refused = expect_json(
        app.post(
            "/api/v1/approval-policies",
            &app.token,
            &json!({ "name": "Broken", "stages": [
                { "name": "A", "approvers": [{ "type": "person", "id": "00000000-0000-0000-0000-000000000001" }], "rule": { "type": "any" } },
                { "name": "B", "approvers": [{ "type": "team", "id": "00000000-0000-0000-0000-000000000002" }], "rule": { "type": "quorum", "n": 0 } }
            ]}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let fields = crate::helpers::error_fields(&refused);
    assert_eq!(fields, ["stages[1].rule"]);
    let refused = expect_json(
        app.post(
            "/api/v1/approval-policies",
            &app.token,
            &json!({ "name": "Broken", "stages": [
                { "name": "A", "approvers": [{ "type": "person", "id": "00000000-0000-0000-0000-000000000001" }], "rule": { "type": "any" } }
            ]}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "stages[0].approvers");
    let policies: Vec<Value> = app.get_json("/api/v1/approval-policies", &app.token).await;
    assert!(policies.is_empty());
}

/// An approval started by hand on a new service request puts it in
/// `awaiting_approval`, and approving it moves it to `in_progress`, as a
/// catalog order's does.
#[tokio::test]
async fn an_approval_started_by_hand_on_a_new_request_moves_it_through_approval() {
    let app = spawn_app().await;
    let desk = people(&app).await;
    policy(
        &app,
        json!({ "name": "Finance sign-off", "stages": [
            { "name": "Finance", "approvers": [{ "type": "person", "id": id(&desk.finance.0) }], "rule": { "type": "any" } }
        ]}),
    )
    .await;
    let ticket = app
        .create_ticket("service_request", "Second monitor for the desk")
        .await;
    let number = ticket["number"].as_str().expect("number").to_string();
    assert_eq!(ticket["state"], "new");
    let approval = expect_json(
        app.post(
            &format!("/api/v1/tickets/{number}/approvals"),
            &desk.agent.1,
            &json!({ "policy": "Finance sign-off" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let waiting: Value = app
        .get_json(&format!("/api/v1/tickets/{number}"), &app.token)
        .await;
    assert_eq!(waiting["state"], "awaiting_approval", "{waiting}");
    assert_eq!(approvals_of(&app, &number).await.len(), 1, "one approval");

    let decided = decide(
        &app,
        &id(&approval),
        &desk.finance.1,
        json!({ "decision": "approve" }),
    )
    .await;
    expect_json(decided, StatusCode::OK).await;
    let approved: Value = app
        .get_json(&format!("/api/v1/tickets/{number}"), &app.token)
        .await;
    assert_eq!(approved["state"], "in_progress", "{approved}");
}
