//! Ticket lifecycles, transitions, numbering, assignment, comments,
//! attachments and listing through the API.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{expect_json, spawn_app};

async fn walk(kind: &str, path: &[&str]) {
    let app = spawn_app().await;
    let ticket = app.create_ticket(kind, &format!("a {kind} to walk")).await;
    let number = ticket["number"].as_str().expect("number").to_string();
    assert_eq!(ticket["state"], "new");
    for to in path {
        let response = app.transition(&number, to).await;
        assert_eq!(response.status(), StatusCode::OK, "{kind}: moving to {to}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["state"], *to);
    }
    let fetched: Value = app.ticket(&number).await;
    assert_eq!(fetched["state"], *path.last().expect("non-empty path"));
    assert!(
        fetched["closed_at"].is_string(),
        "a closed ticket has closed_at"
    );

    let activity: Vec<Value> = app.activity(&number).await;
    let states: Vec<&str> = activity
        .iter()
        .filter(|a| a["field"] == "state")
        .filter_map(|a| a["new_value"].as_str())
        .collect();
    assert_eq!(
        states,
        path.to_vec(),
        "every state change is in the activity record"
    );
    assert!(activity.iter().all(|a| a["channel"] == "api"));
}

#[tokio::test]
async fn an_incident_goes_from_new_to_closed() {
    walk(
        "incident",
        &[
            "in_progress",
            "on_hold",
            "in_progress",
            "resolved",
            "closed",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_service_request_without_approval_goes_to_work_and_closes() {
    // Requests with approvals come from the catalog: tests/api/approvals.rs.
    walk("service_request", &["in_progress", "resolved", "closed"]).await;
}

#[tokio::test]
async fn a_problem_becomes_a_known_error_then_closes() {
    walk(
        "problem",
        &["investigating", "known_error", "resolved", "closed"],
    )
    .await;
}

#[tokio::test]
async fn a_change_can_be_cancelled_while_it_is_assessed() {
    // The full change flow, with risk, window and CAB: tests/api/changes.rs.
    walk("change", &["assessment", "cancelled"]).await;
}

#[tokio::test]
async fn an_illegal_transition_says_which_are_allowed_and_changes_nothing() {
    let app = spawn_app().await;
    let ticket = app.create_ticket("incident", "stuck").await;
    let number = ticket["number"].as_str().expect("number");

    let response = app.transition(number, "closed").await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["code"], "invalid_transition");
    assert_eq!(
        problem["allowed"],
        json!(["in_progress", "on_hold", "resolved", "cancelled"])
    );
    assert!(problem["detail"]
        .as_str()
        .expect("detail")
        .contains("allowed from new: in_progress, on_hold, resolved, cancelled"));
    let fetched: Value = app.ticket(number).await;
    assert_eq!(fetched["state"], "new");

    let unknown = app.transition(number, "teleported").await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn fifty_concurrent_tickets_get_fifty_consecutive_numbers() {
    let app = spawn_app().await;
    let requests = (0..50).map(|i| {
        let app = &app;
        async move {
            let response = app
                .post(
                    "/api/v1/tickets",
                    &app.token,
                    &json!({ "kind": "incident", "title": format!("burst {i}") }),
                )
                .await;
            assert_eq!(response.status(), StatusCode::CREATED);
            let body: Value = response.json().await.expect("json");
            body["number"].as_str().expect("number").to_string()
        }
    });
    let mut numbers = futures::future::join_all(requests).await;
    numbers.sort();
    let expected: Vec<String> = (1..=50).map(|n| format!("INC{n:07}")).collect();
    assert_eq!(numbers, expected);

    let change = app.create_ticket("change", "numbered per kind").await;
    assert_eq!(change["number"], "CHG0000001");
}

#[tokio::test]
async fn priority_follows_the_itil_matrix_and_changes_with_impact() {
    let app = spawn_app().await;
    let cases = [
        ("high", "high", "p1"),
        ("high", "medium", "p2"),
        ("medium", "medium", "p3"),
        ("low", "medium", "p4"),
        ("low", "low", "p5"),
    ];
    for (impact, urgency, priority) in cases {
        let response = app
            .post("/api/v1/tickets", &app.token, &json!({ "kind": "incident", "title": "prio", "impact": impact, "urgency": urgency }))
            .await;
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["priority"], priority, "{impact} × {urgency}");
    }
    let ticket = app.create_ticket("incident", "escalating").await;
    let number = ticket["number"].as_str().expect("number");
    let response = app
        .client
        .patch(app.url(&format!("/api/v1/tickets/{number}")))
        .bearer_auth(&app.token)
        .json(&json!({ "impact": "high", "urgency": "high" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["priority"], "p1");
    let activity: Vec<Value> = app.activity(number).await;
    assert!(activity
        .iter()
        .any(|a| a["field"] == "priority" && a["old_value"] == "p3" && a["new_value"] == "p1"));
}

#[tokio::test]
async fn tickets_are_assigned_to_a_team_and_one_of_its_agents() {
    let app = spawn_app().await;
    let (agent, _) = app
        .person_with_token("Ada Agent", "ada@example.com", &["agent"])
        .await;
    let (outsider, _) = app
        .person_with_token("Otto Other", "otto@example.com", &["agent"])
        .await;
    let (requester, _) = app
        .person_with_token("Rita Requester", "rita@example.com", &["requester"])
        .await;
    let team = app
        .post(
            "/api/v1/teams",
            &app.token,
            &json!({ "name": "Network", "members": [agent["id"]] }),
        )
        .await;
    assert_eq!(team.status(), StatusCode::CREATED);
    let ticket = app.create_ticket("incident", "switch down").await;
    let number = ticket["number"].as_str().expect("number");
    let path = format!("/api/v1/tickets/{number}/assignment");

    let ok = app
        .post(
            &path,
            &app.token,
            &json!({ "team": "Network", "assignee": "ada@example.com" }),
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let body: Value = ok.json().await.expect("json");
    assert_eq!(body["team"]["name"], "Network");
    assert_eq!(body["assignee"]["name"], "Ada Agent");

    let not_member = app
        .post(&path, &app.token, &json!({ "assignee": outsider["email"] }))
        .await;
    assert_eq!(not_member.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let not_agent = app
        .post(
            &path,
            &app.token,
            &json!({ "team": null, "assignee": requester["email"] }),
        )
        .await;
    assert_eq!(not_agent.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let unassign = app
        .post(&path, &app.token, &json!({ "assignee": null }))
        .await;
    let body: Value = unassign.json().await.expect("json");
    assert!(body["assignee"].is_null());
    assert_eq!(body["team"]["name"], "Network", "absent fields are kept");
}

#[tokio::test]
async fn requesters_see_public_comments_only_and_only_their_own_tickets() {
    let app = spawn_app().await;
    let (_, rita) = app
        .person_with_token("Rita", "rita@example.com", &["requester"])
        .await;
    let (_, sam) = app
        .person_with_token("Sam", "sam@example.com", &["requester"])
        .await;
    let created = app
        .post(
            "/api/v1/tickets",
            &rita,
            &json!({ "kind": "incident", "title": "my mouse" }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let ticket: Value = created.json().await.expect("json");
    let number = ticket["number"].as_str().expect("number");
    assert_eq!(ticket["requester"]["email"], "rita@example.com");
    let comments = format!("/api/v1/tickets/{number}/comments");

    assert_eq!(
        app.post(&comments, &app.token, &json!({ "body": "Looking into it" }))
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.post(
            &comments,
            &app.token,
            &json!({ "body": "It's the dongle", "internal": true })
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.post(&comments, &rita, &json!({ "body": "Thanks!" }))
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.post(
            &comments,
            &rita,
            &json!({ "body": "sneaky", "internal": true })
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );

    let seen_by_rita: Vec<Value> = app.get_json(&comments, &rita).await;
    let bodies: Vec<&str> = seen_by_rita
        .iter()
        .filter_map(|c| c["body"].as_str())
        .collect();
    assert_eq!(bodies, ["Looking into it", "Thanks!"]);
    let seen_by_agent: Vec<Value> = app.get_json(&comments, &app.token).await;
    assert_eq!(seen_by_agent.len(), 3);

    assert_eq!(
        app.get(&format!("/api/v1/tickets/{number}"), &sam)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let sams: Value = app.get_json("/api/v1/tickets", &sam).await;
    assert_eq!(sams["items"], json!([]));
    assert_eq!(
        app.transition(number, "in_progress").await.status(),
        StatusCode::OK
    );
    let rita_moves = app
        .post(
            &format!("/api/v1/tickets/{number}/transitions"),
            &rita,
            &json!({ "to": "on_hold" }),
        )
        .await;
    assert_eq!(rita_moves.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn attachments_are_stored_by_content_and_typed_by_their_bytes() {
    let app = spawn_app().await;
    let ticket = app.create_ticket("incident", "screenshot attached").await;
    let number = ticket["number"].as_str().expect("number");
    let png =
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89".to_vec();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(png.clone())
            .file_name("../../evil.txt")
            .mime_str("text/plain")
            .expect("mime"),
    );
    let response = app
        .client
        .post(app.url(&format!("/api/v1/tickets/{number}/attachments")))
        .bearer_auth(&app.token)
        .multipart(form)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::CREATED);
    let attachment: Value = response.json().await.expect("json");
    assert_eq!(
        attachment["content_type"], "image/png",
        "sniffed, not the claimed text/plain"
    );
    assert_eq!(attachment["filename"], "evil.txt");
    assert_eq!(attachment["size_bytes"], png.len());

    let id = attachment["id"].as_str().expect("id");
    let download = app
        .get(
            &format!("/api/v1/tickets/{number}/attachments/{id}"),
            &app.token,
        )
        .await;
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.headers()["content-type"], "image/png");
    assert_eq!(download.bytes().await.expect("bytes").to_vec(), png);
    let sha = attachment["sha256"].as_str().expect("sha");
    assert!(app
        .config
        .storage
        .data_dir
        .join("attachments")
        .join(&sha[..2])
        .join(sha)
        .exists());
}

#[tokio::test]
async fn the_list_filters_searches_and_pages_with_a_cursor() {
    let app = spawn_app().await;
    for i in 0..7 {
        app.create_ticket("incident", &format!("Printer {i} jammed"))
            .await;
    }
    app.create_ticket("problem", "Printers keep jamming").await;
    app.create_ticket("incident", "VPN down").await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path =
            "/api/v1/tickets?kind=incident&q=printer&limit=3&sort=created_at".to_string();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page: Value = app.get_json(&path, &app.token).await;
        for t in page["items"].as_array().expect("items") {
            seen.push(t["title"].as_str().expect("title").to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..7).map(|i| format!("Printer {i} jammed")).collect();
    assert_eq!(seen, expected);

    let problems: Value = app
        .get_json("/api/v1/tickets?kind=problem", &app.token)
        .await;
    assert_eq!(problems["items"].as_array().map(Vec::len), Some(1));
    let newest: Value = app.get_json("/api/v1/tickets?limit=1", &app.token).await;
    assert_eq!(newest["items"][0]["title"], "VPN down");
    let bad = app.get("/api/v1/tickets?state=flying", &app.token).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_requester_rates_a_resolved_ticket_and_nobody_else_can() {
    let app = spawn_app().await;
    let (requester, token) = app
        .person_with_token("Rita Requester", "rita@example.com", &["requester"])
        .await;
    let ticket = expect_json(
        app.post(
            "/api/v1/tickets",
            &token,
            &json!({ "kind": "incident", "title": "VPN drops" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let number = ticket["number"].as_str().expect("number");
    assert!(ticket["satisfaction"].is_null());
    let path = format!("/api/v1/tickets/{number}/satisfaction");

    // Not resolved yet: refused, saying why.
    let early = expect_json(
        app.post(&path, &token, &json!({ "score": 5 })).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(early["detail"]
        .as_str()
        .expect("detail")
        .contains("resolved"));
    expect_json(app.transition(number, "resolved").await, StatusCode::OK).await;

    // Out of range, or someone else (even an admin): refused, nothing kept.
    let bad = expect_json(
        app.post(&path, &token, &json!({ "score": 6 })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(bad["errors"][0]["field"], "score");
    expect_json(
        app.post(&path, &app.token, &json!({ "score": 1 })).await,
        StatusCode::FORBIDDEN,
    )
    .await;

    let rated = expect_json(
        app.post(&path, &token, &json!({ "score": 4 })).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rated["satisfaction"], 4);
    assert_eq!(rated["requester"]["id"], requester["id"]);
    let activity: Value = app
        .get_json(&format!("/api/v1/tickets/{number}/activity"), &app.token)
        .await;
    assert!(
        activity.to_string().contains("\"rated\""),
        "recorded in the activity: {activity}"
    );
}
