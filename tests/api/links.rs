//! Ticket links: made on one ticket, read from both (each its own way), in
//! the single-ticket JSON and the webhook payload; refused with a reason;
//! agents only; never across organizations.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{
    helpers::{error_fields, expect_json, spawn_app, Receiver, TestApp},
    support::desk::number,
};

async fn link(app: &TestApp, token: &str, from: &str, to: &str, kind: &str) -> reqwest::Response {
    app.post(
        &format!("/api/v1/tickets/{from}/links"),
        token,
        &json!({ "to": to, "kind": kind }),
    )
    .await
}

async fn links(app: &TestApp, number: &str) -> Vec<Value> {
    expect_json(
        app.get(&format!("/api/v1/tickets/{number}/links"), &app.token)
            .await,
        StatusCode::OK,
    )
    .await
    .as_array()
    .cloned()
    .unwrap_or_default()
}

/// (other ticket, kind) of each link, in order.
fn pairs(links: &[Value]) -> Vec<(String, String)> {
    links
        .iter()
        .map(|l| {
            (
                l["ticket"].as_str().unwrap_or_default().to_string(),
                l["kind"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn pair(ticket: &str, kind: &str) -> (String, String) {
    (ticket.to_string(), kind.to_string())
}

#[tokio::test]
async fn a_link_shows_on_both_tickets_in_their_json_and_in_the_webhook_payload() {
    let app = spawn_app().await;
    let receiver = Receiver::default();
    let addr = receiver.serve("127.0.0.1:0".parse().expect("addr")).await;
    app.subscribe(&format!("http://{addr}/hook")).await;
    let incident = number(&app.create_ticket("incident", "Checkout fails").await);
    let change = number(
        &app.create_ticket("change", "Upgrade the payment library")
            .await,
    );

    // An incident caused by a change: links cross kinds.
    let made = expect_json(
        link(&app, &app.token, &incident, &change, "caused_by").await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(made["ticket"], change.as_str());
    assert_eq!(made["kind"], "caused_by");
    assert_eq!(made["ticket_kind"], "change");
    assert_eq!(made["title"], "Upgrade the payment library");

    assert_eq!(
        pairs(&links(&app, &incident).await),
        [pair(&change, "caused_by")]
    );
    assert_eq!(
        pairs(&links(&app, &change).await),
        [pair(&incident, "causes")]
    );
    let incident_json = app.ticket(&incident).await;
    let change_json = app.ticket(&change).await;
    assert_eq!(
        pairs(incident_json["links"].as_array().expect("links")),
        [pair(&change, "caused_by")]
    );
    assert_eq!(
        pairs(change_json["links"].as_array().expect("links")),
        [pair(&incident, "causes")]
    );
    assert_eq!(change_json["links"][0]["state"], "new");
    let list = app.tickets().await;
    assert!(
        list.iter().all(|t| t.get("links").is_none()),
        "lists stay lean: {list:?}"
    );
    for (ticket, seen) in [
        (&incident, format!("caused_by {change}")),
        (&change, format!("causes {incident}")),
    ] {
        let linked = app.activity_where(ticket, "linked").await;
        assert_eq!(linked.len(), 1, "{ticket}: {linked:?}");
        assert_eq!(linked[0]["new_value"], seen.as_str());
    }

    app.dispatcher.drain().await.expect("dispatch");
    let events: Vec<Value> = receiver
        .received()
        .iter()
        .map(|r| r.json())
        .filter(|e| e["type"] == "ticket.linked")
        .collect();
    assert_eq!(events.len(), 2, "one event per ticket: {events:?}");
    let of = |n: &str| {
        events
            .iter()
            .find(|e| e["ticket"]["number"] == n)
            .unwrap_or_else(|| panic!("a ticket.linked event for {n}"))
            .clone()
    };
    assert_eq!(
        pairs(of(&incident)["ticket"]["links"].as_array().expect("links")),
        [pair(&change, "caused_by")]
    );
    assert_eq!(
        pairs(of(&change)["ticket"]["links"].as_array().expect("links")),
        [pair(&incident, "causes")]
    );
    assert_eq!(of(&change)["details"]["link"]["kind"], "causes");

    // Removed from the other side, by the name that side reads it by.
    let removed = app
        .send(
            Method::DELETE,
            &format!("/api/v1/tickets/{change}/links/{incident}?kind=causes"),
            &app.token,
            None,
        )
        .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    assert!(links(&app, &incident).await.is_empty());
    assert!(links(&app, &change).await.is_empty());
    assert_eq!(app.activity_where(&incident, "unlinked").await.len(), 1);
    let again = app
        .send(
            Method::DELETE,
            &format!("/api/v1/tickets/{change}/links/{incident}"),
            &app.token,
            None,
        )
        .await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    app.dispatcher.drain().await.expect("dispatch");
    let unlinked = receiver
        .received()
        .iter()
        .filter(|r| r.json()["type"] == "ticket.unlinked")
        .count();
    assert_eq!(unlinked, 2);
}

#[tokio::test]
async fn a_link_to_itself_a_second_or_a_contradicting_one_is_refused_naming_the_field() {
    let app = spawn_app().await;
    let a = number(
        &app.create_ticket("incident", "Wi-Fi down on 3rd floor")
            .await,
    );
    let b = number(&app.create_ticket("incident", "Switch 3F rebooting").await);
    expect_json(
        link(&app, &app.token, &b, &a, "blocks").await,
        StatusCode::CREATED,
    )
    .await;
    expect_json(
        link(&app, &app.token, &a, &b, "related").await,
        StatusCode::CREATED,
    )
    .await;

    let refusals = [
        (a.clone(), a.clone(), "related", "to", "itself"),
        (
            b.clone(),
            a.clone(),
            "blocks",
            "to",
            "already linked as blocks",
        ),
        (
            a.clone(),
            b.clone(),
            "blocks",
            "to",
            "remove that link first",
        ),
        // Related reads the same both ways: the reverse is the same link.
        (
            b.clone(),
            a.clone(),
            "related",
            "to",
            "already linked as related",
        ),
        (
            a.clone(),
            b.clone(),
            "parent_of",
            "kind",
            "related, duplicate_of, caused_by, blocks",
        ),
        (
            a.clone(),
            "nonsense".into(),
            "related",
            "to",
            "not a ticket number",
        ),
        (
            a.clone(),
            "INC0000099".into(),
            "related",
            "to",
            "no ticket INC0000099",
        ),
    ];
    for (from, to, kind, field, says) in refusals {
        let problem = expect_json(
            link(&app, &app.token, &from, &to, kind).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(error_fields(&problem), [field], "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(says),
            "{says}: {problem}"
        );
    }
    assert_eq!(
        pairs(&links(&app, &a).await),
        [pair(&b, "blocked_by"), pair(&b, "related")]
    );
    let bad_kind = app
        .send(
            Method::DELETE,
            &format!("/api/v1/tickets/{a}/links/{b}?kind=child"),
            &app.token,
            None,
        )
        .await;
    let problem = expect_json(bad_kind, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("blocked_by"),
        "{problem}"
    );
    // `blocks` read from A is not there (A is blocked by B): nothing goes.
    let wrong_end = app
        .send(
            Method::DELETE,
            &format!("/api/v1/tickets/{a}/links/{b}?kind=blocks"),
            &app.token,
            None,
        )
        .await;
    assert_eq!(wrong_end.status(), StatusCode::NOT_FOUND);
    assert_eq!(links(&app, &a).await.len(), 2);
}

#[tokio::test]
async fn a_requester_may_not_link_or_merge_and_sees_only_links_to_their_own_tickets() {
    let app = spawn_app().await;
    let (_, rita) = app
        .person_with_token("Rita Requester", "rita@corp.example", &["requester"])
        .await;
    let hers = number(
        &expect_json(
            app.post(
                "/api/v1/tickets",
                &rita,
                &json!({ "kind": "incident", "title": "My laptop will not boot" }),
            )
            .await,
            StatusCode::CREATED,
        )
        .await,
    );
    let other = number(&app.create_ticket("incident", "Secret board laptop").await);
    let problem = expect_json(
        link(&app, &rita, &hers, &other, "related").await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(problem["code"], "forbidden");
    let merge = app
        .post(
            &format!("/api/v1/tickets/{hers}/merge"),
            &rita,
            &json!({ "into": other }),
        )
        .await;
    assert_eq!(merge.status(), StatusCode::FORBIDDEN);
    let list = app
        .get(&format!("/api/v1/tickets/{hers}/links"), &rita)
        .await;
    assert_eq!(list.status(), StatusCode::FORBIDDEN);

    // An agent links them: Rita's ticket JSON does not show the other
    // ticket, which is not hers to read.
    expect_json(
        link(&app, &app.token, &hers, &other, "related").await,
        StatusCode::CREATED,
    )
    .await;
    let seen: Value = app
        .get_json(&format!("/api/v1/tickets/{hers}"), &rita)
        .await;
    assert_eq!(seen["links"], json!([]), "{seen}");
    assert!(!seen.to_string().contains("Secret board"), "{seen}");
    assert_eq!(links(&app, &hers).await.len(), 1, "the agent sees it");
}

#[tokio::test]
async fn links_and_merges_never_reach_another_organization() {
    let app = spawn_app().await;
    // Numbers are per organization: kinds neither has of the other keep
    // a number from meaning a ticket on both sides.
    let ours = number(&app.create_ticket("problem", "Ours: printer").await);
    let theirs = app.admin_of_new_org("other").await;
    let mut their_numbers = Vec::new();
    for (kind, title) in [("change", "Theirs: private"), ("problem", "Theirs: twin")] {
        let made = expect_json(
            app.post(
                "/api/v1/tickets",
                &theirs,
                &json!({ "kind": kind, "title": title }),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
        their_numbers.push(number(&made));
    }
    let their_only = their_numbers[0].clone();
    assert_eq!(their_numbers[1], ours, "the same number on both sides");
    let ours_only = number(&app.create_ticket("incident", "Ours: scanner").await);

    // Their token on our ticket: not found.
    let response = link(&app, &theirs, &ours_only, &their_only, "related").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = app
        .get(&format!("/api/v1/tickets/{ours_only}/links"), &theirs)
        .await;
    let problem = expect_json(response, StatusCode::NOT_FOUND).await;
    assert!(!problem.to_string().contains("Ours"), "{problem}");
    let response = app
        .post(
            &format!("/api/v1/tickets/{ours_only}/merge"),
            &theirs,
            &json!({ "into": their_only }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // Our ticket pointing at a number only they have: no such ticket here.
    let problem = expect_json(
        link(&app, &app.token, &ours, &their_only, "duplicate_of").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&problem), ["to"]);
    assert!(!problem.to_string().contains("private"), "{problem}");
    let problem = expect_json(
        app.post(
            &format!("/api/v1/tickets/{ours}/merge"),
            &app.token,
            &json!({ "into": their_only }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&problem), ["into"]);
    assert_eq!(
        problem["type"],
        "https://switchboard.dev/problems/validation_failed"
    );
    assert!(links(&app, &ours).await.is_empty());
    assert_eq!(app.ticket(&ours).await["state"], "new");
}

#[tokio::test]
async fn the_openapi_document_describes_the_link_and_merge_bodies() {
    let app = spawn_app().await;
    let doc: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let schemas = &doc["components"]["schemas"];
    for name in ["CreateLink", "TicketLinkView", "MergeRequest", "MergeView"] {
        assert!(schemas[name].is_object(), "{name} in the document");
    }
    let kind = &schemas["CreateLink"]["properties"]["kind"]["description"];
    assert!(
        kind.as_str().unwrap_or_default().contains("duplicate_of"),
        "{kind}"
    );
    let remove = &doc["paths"]["/api/v1/tickets/{number}/links/{to}"]["delete"]["parameters"];
    assert!(
        remove
            .as_array()
            .expect("parameters")
            .iter()
            .any(|p| p["name"] == "kind" && p["in"] == "query"),
        "{remove}"
    );
}
