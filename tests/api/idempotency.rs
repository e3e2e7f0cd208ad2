//! `Idempotency-Key`: a repeat returns the first result and changes nothing.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_repeated_post_returns_the_first_ticket_and_creates_no_second() {
    let app = spawn_app().await;
    let body = json!({ "kind": "incident", "title": "printer on fire" });
    let send = || {
        app.client
            .post(app.url("/api/v1/tickets"))
            .bearer_auth(&app.token)
            .header("Idempotency-Key", "retry-me-1")
            .json(&body)
            .send()
    };

    let first = send().await.expect("sent");
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.expect("json");
    let second = send().await.expect("sent");
    assert_eq!(second.status(), StatusCode::CREATED);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    let second: Value = second.json().await.expect("json");

    assert_eq!(first, second);
    let list: Value = app.get_json("/api/v1/tickets", &app.token).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn concurrent_repeats_of_one_key_create_one_ticket() {
    let app = spawn_app().await;
    let attempts = (0..8).map(|_| {
        app.client
            .post(app.url("/api/v1/tickets"))
            .bearer_auth(&app.token)
            .header("Idempotency-Key", "storm")
            .json(&json!({ "kind": "incident", "title": "storm" }))
            .send()
    });
    let responses = futures::future::join_all(attempts).await;
    let mut numbers = Vec::new();
    for r in responses {
        let r = r.expect("sent");
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.expect("json");
        numbers.push(body["number"].as_str().expect("number").to_string());
    }
    numbers.dedup();
    assert_eq!(numbers, ["INC0000001"]);
    let list: Value = app.get_json("/api/v1/tickets", &app.token).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_key_reused_with_another_body_is_refused() {
    let app = spawn_app().await;
    let post = |title: &'static str| {
        app.client
            .post(app.url("/api/v1/tickets"))
            .bearer_auth(&app.token)
            .header("Idempotency-Key", "same-key")
            .json(&json!({ "kind": "incident", "title": title }))
            .send()
    };
    assert_eq!(
        post("one").await.expect("sent").status(),
        StatusCode::CREATED
    );
    let reused = post("two").await.expect("sent");
    assert_eq!(reused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = reused.json().await.expect("json");
    assert_eq!(problem["code"], "idempotency_key_reused");
}

#[tokio::test]
async fn comments_and_transitions_honour_the_key_too() {
    let app = spawn_app().await;
    let ticket = app.create_ticket("incident", "keyed").await;
    let number = ticket["number"].as_str().expect("number");
    for _ in 0..2 {
        let r = app
            .client
            .post(app.url(&format!("/api/v1/tickets/{number}/comments")))
            .bearer_auth(&app.token)
            .header("Idempotency-Key", "c1")
            .json(&json!({ "body": "once" }))
            .send()
            .await
            .expect("sent");
        assert_eq!(r.status(), StatusCode::CREATED);
        let t = app
            .client
            .post(app.url(&format!("/api/v1/tickets/{number}/transitions")))
            .bearer_auth(&app.token)
            .header("Idempotency-Key", "t1")
            .json(&json!({ "to": "in_progress" }))
            .send()
            .await
            .expect("sent");
        assert_eq!(
            t.status(),
            StatusCode::OK,
            "the repeat does not fail as in_progress → in_progress"
        );
    }
    let comments: Vec<Value> = app.comments(number).await;
    assert_eq!(comments.len(), 1);
}
