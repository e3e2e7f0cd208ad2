//! Authentication and organization scoping.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::spawn_app;

#[tokio::test]
async fn another_organizations_token_sees_nothing_of_ours() {
    let app = spawn_app().await;
    let ours = app.create_ticket("incident", "internal only").await;
    let number = ours["number"].as_str().expect("number");
    let theirs = app.admin_of_new_org("other").await;

    let get = app.get(&format!("/api/v1/tickets/{number}"), &theirs).await;
    assert_eq!(get.status(), StatusCode::NOT_FOUND);
    let problem: Value = get.json().await.expect("json");
    assert_eq!(problem["code"], "not_found");
    let list: Value = app.get_json("/api/v1/tickets", &theirs).await;
    assert_eq!(list["items"], json!([]));
    let comment = app
        .post(
            &format!("/api/v1/tickets/{number}/comments"),
            &theirs,
            &json!({ "body": "hi" }),
        )
        .await;
    assert_eq!(comment.status(), StatusCode::NOT_FOUND);
    let moved = app
        .post(
            &format!("/api/v1/tickets/{number}/transitions"),
            &theirs,
            &json!({ "to": "cancelled" }),
        )
        .await;
    assert_eq!(moved.status(), StatusCode::NOT_FOUND);

    // Their own numbering starts at 1 and does not collide with ours.
    let their_ticket: Value = app
        .post(
            "/api/v1/tickets",
            &theirs,
            &json!({ "kind": "incident", "title": "theirs" }),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(their_ticket["number"], "INC0000001");
    let ours_again: Value = app.ticket(number).await;
    assert_eq!(ours_again["title"], "internal only");
    assert_eq!(ours_again["state"], "new");
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401() {
    let app = spawn_app().await;
    let none = app
        .client
        .get(app.url("/api/v1/tickets"))
        .send()
        .await
        .expect("sent");
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(none.headers()["content-type"], "application/problem+json");
    assert!(none.headers().contains_key("www-authenticate"));
    let forged = app
        .get(
            "/api/v1/tickets",
            "sb_0000000000000000000000000000000000000000000000000000000000000000",
        )
        .await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let created = app
        .post(
            "/api/v1/tickets",
            "nope",
            &json!({ "kind": "incident", "title": "x" }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::UNAUTHORIZED);
    let list: Value = app.get_json("/api/v1/tickets", &app.token).await;
    assert_eq!(
        list["items"],
        json!([]),
        "a rejected request changes nothing"
    );
}

#[tokio::test]
async fn requesters_cannot_administer() {
    let app = spawn_app().await;
    let (_, rita) = app
        .person_with_token("Rita", "rita@example.com", &["requester"])
        .await;
    let team = app
        .post("/api/v1/teams", &rita, &json!({ "name": "Mine" }))
        .await;
    assert_eq!(team.status(), StatusCode::FORBIDDEN);
    let hook = app
        .post(
            "/api/v1/webhooks",
            &rita,
            &json!({ "url": "http://127.0.0.1:9/hook" }),
        )
        .await;
    assert_eq!(hook.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/api/v1/outbox", &rita).await.status(),
        StatusCode::FORBIDDEN
    );
    let teams: Vec<Value> = app.get_json("/api/v1/teams", &app.token).await;
    assert!(teams.is_empty());
}
