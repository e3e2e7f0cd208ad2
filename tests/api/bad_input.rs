//! Bad input gets a clear problem+json answer and changes nothing.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

async fn assert_nothing_created(app: &TestApp) {
    let list: Value = app.get_json("/api/v1/tickets", &app.token).await;
    assert_eq!(list["items"], json!([]));
}

async fn problem(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.expect("problem json");
    assert_eq!(body["status"], status.as_u16());
    body
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/v1/tickets"))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body("{\"kind\": \"incident\", \"title\": ")
        .send()
        .await
        .expect("sent");
    let body = problem(response, StatusCode::BAD_REQUEST).await;
    assert!(body["detail"]
        .as_str()
        .expect("detail")
        .contains("malformed JSON"));
    assert_nothing_created(&app).await;
}

#[tokio::test]
async fn unknown_fields_and_enum_values_are_refused_by_name() {
    let app = spawn_app().await;
    let unknown_field = app
        .post(
            "/api/v1/tickets",
            &app.token,
            &json!({ "kind": "incident", "title": "x", "priorty": "p1" }),
        )
        .await;
    let body = problem(unknown_field, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(body["detail"].as_str().expect("detail").contains("priorty"));

    let bad_kind = app
        .post(
            "/api/v1/tickets",
            &app.token,
            &json!({ "kind": "bug", "title": "x", "impact": "huge" }),
        )
        .await;
    let body = problem(bad_kind, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields = crate::helpers::error_fields(&body);
    assert_eq!(fields, ["kind", "impact"]);
    assert!(body["errors"][0]["message"]
        .as_str()
        .expect("message")
        .contains("incident, service_request, problem, change"));
    assert_nothing_created(&app).await;
}

#[tokio::test]
async fn over_long_and_empty_strings_are_refused() {
    let app = spawn_app().await;
    let long = app
        .post(
            "/api/v1/tickets",
            &app.token,
            &json!({ "kind": "incident", "title": "x".repeat(201) }),
        )
        .await;
    let body = problem(long, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "title");
    assert!(body["errors"][0]["message"]
        .as_str()
        .expect("message")
        .contains("at most 200"));
    let empty = app
        .post(
            "/api/v1/tickets",
            &app.token,
            &json!({ "kind": "incident", "title": "   " }),
        )
        .await;
    problem(empty, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_nothing_created(&app).await;
}

#[tokio::test]
async fn wrong_content_type_is_a_415() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/v1/tickets"))
        .bearer_auth(&app.token)
        .body("kind=incident&title=x")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .expect("sent");
    problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert_nothing_created(&app).await;
}

#[tokio::test]
async fn oversize_uploads_are_a_413_and_store_nothing() {
    let app = spawn_app_with(|c| c.storage.max_attachment_bytes = 1024).await;
    let ticket = app.create_ticket("incident", "big file").await;
    let number = ticket["number"].as_str().expect("number");
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(vec![7u8; 4096]).file_name("big.bin"),
    );
    let response = app
        .client
        .post(app.url(&format!("/api/v1/tickets/{number}/attachments")))
        .bearer_auth(&app.token)
        .multipart(form)
        .send()
        .await
        .expect("sent");
    problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    let listed: Vec<Value> = app.attachments(number).await;
    assert!(listed.is_empty());
    assert!(!app.config.storage.data_dir.join("attachments").exists());
}

#[tokio::test]
async fn bodies_over_the_server_limit_are_a_413() {
    let app = spawn_app_with(|c| c.server.max_body_bytes = 2048).await;
    let response = app
        .post(
            "/api/v1/tickets",
            &app.token,
            &json!({ "kind": "incident", "title": "x", "description": "y".repeat(10_000) }),
        )
        .await;
    problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_nothing_created(&app).await;
}

#[tokio::test]
async fn unknown_tickets_and_query_parameters_are_clear() {
    let app = spawn_app().await;
    let missing = app.get("/api/v1/tickets/INC0009999", &app.token).await;
    problem(missing, StatusCode::NOT_FOUND).await;
    let garbage = app.get("/api/v1/tickets/not-a-number", &app.token).await;
    problem(garbage, StatusCode::NOT_FOUND).await;
    let bad_query = app.get("/api/v1/tickets?colour=red", &app.token).await;
    let body = problem(bad_query, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(body["detail"].as_str().expect("detail").contains("colour"));
    let bad_cursor = app.get("/api/v1/tickets?cursor=%%%", &app.token).await;
    problem(bad_cursor, StatusCode::UNPROCESSABLE_ENTITY).await;
}

/// NUL characters cannot be stored by PostgreSQL: refused with a 400 that
/// names the parameter, on every route alike, instead of a 500.
#[tokio::test]
async fn a_nul_character_in_a_filter_the_path_or_a_body_is_refused_naming_where() {
    let app = spawn_app().await;
    for (path, place) in [
        ("/api/v1/tickets?q=%00abc", "query parameter `q`"),
        (
            "/api/v1/tickets?assignee=%00x",
            "query parameter `assignee`",
        ),
        ("/api/v1/tickets?team=x%00", "query parameter `team`"),
        ("/api/v1/known-errors?q=%00x", "query parameter `q`"),
        ("/api/v1/cmdb/cis?q=%00x", "query parameter `q`"),
        ("/api/v1/tickets/INC%000001", "the path"),
    ] {
        let body = problem(app.get(path, &app.token).await, StatusCode::BAD_REQUEST).await;
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.starts_with(place), "{path}: {detail}");
    }
    let response = app
        .client
        .post(app.url("/api/v1/tickets"))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body(r#"{"kind": "incident", "title": "printer\u0000 jammed"}"#)
        .send()
        .await
        .expect("sent");
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(crate::helpers::error_fields(&body), ["body"]);
    assert_nothing_created(&app).await;
}

/// What axum itself refuses (a path segment that is not a UUID or not
/// UTF-8, an upload that is not multipart) is problem+json like the rest.
#[tokio::test]
async fn rejections_before_a_handler_are_problem_json_too() {
    let app = spawn_app().await;
    let ticket = app.create_ticket("incident", "upload target").await;
    let number = ticket["number"].as_str().expect("number");
    for path in [
        "/api/v1/cmdb/cis/not-a-uuid".to_string(),
        format!("/api/v1/tickets/{number}/attachments/not-a-uuid"),
        "/api/v1/tickets/%FF%FE".to_string(),
    ] {
        let response = app.get(&path, &app.token).await;
        assert!(
            response.status().is_client_error(),
            "{path}: {}",
            response.status()
        );
        let status = response.status();
        let body = problem(response, status).await;
        assert!(
            !body["detail"].as_str().unwrap_or_default().is_empty(),
            "{path}"
        );
    }
    let response = app
        .client
        .post(app.url(&format!("/api/v1/tickets/{number}/attachments")))
        .bearer_auth(&app.token)
        .header("content-type", "text/plain")
        .body("not a form")
        .send()
        .await
        .expect("sent");
    assert!(response.status().is_client_error());
    let status = response.status();
    let body = problem(response, status).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("multipart"),
        "{body}"
    );
}
