//! Problem management and incident specifics through the API: problems with
//! their incidents, analysis and resolution; the known-error database with
//! suggestions for new incidents; parent/child incidents; the major flag and
//! the escalation level; bad links refused without changing anything.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{
    helpers::{spawn_app, spawn_on, TestApp},
    support::desk::number,
};

async fn ok_json(response: reqwest::Response, expected: StatusCode) -> Value {
    let status = response.status();
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(status, expected, "{body}");
    body
}

async fn incident(app: &TestApp, title: &str, description: &str) -> String {
    let response = app
        .post(
            "/api/v1/tickets",
            &app.token,
            &json!({ "kind": "incident", "title": title, "description": description }),
        )
        .await;
    number(&ok_json(response, StatusCode::CREATED).await)
}

async fn link(app: &TestApp, problem: &str, incident: &str) -> reqwest::Response {
    app.post(
        &format!("/api/v1/problems/{problem}/incidents"),
        &app.token,
        &json!({ "incident": incident }),
    )
    .await
}

fn numbers(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(number)
        .collect()
}

async fn known_error(app: &TestApp, body: Value) -> Value {
    ok_json(
        app.post("/api/v1/known-errors", &app.token, &body).await,
        StatusCode::CREATED,
    )
    .await
}

#[tokio::test]
async fn resolving_a_problem_resolves_its_open_incidents_with_a_note() {
    // Arrange: a problem with three incidents, one of them resolved already.
    let app = spawn_app().await;
    let problem = number(
        &app.create_ticket("problem", "Expired certificate on the VPN gateway")
            .await,
    );
    let first = incident(&app, "VPN down for sales", "").await;
    let second = incident(&app, "VPN down for support", "").await;
    let done = incident(&app, "VPN down for finance", "").await;
    assert_eq!(
        app.transition(&done, "resolved").await.status(),
        StatusCode::OK
    );
    for inc in [&first, &second, &done] {
        assert_eq!(link(&app, &problem, inc).await.status(), StatusCode::OK);
    }
    let again = ok_json(link(&app, &problem, &first).await, StatusCode::OK).await;
    assert_eq!(
        numbers(&again),
        [first.as_str(), second.as_str(), done.as_str()],
        "linking twice is harmless"
    );
    let of_incident: Value = app
        .get_json(&format!("/api/v1/tickets/{first}/problem"), &app.token)
        .await;
    assert_eq!(of_incident["problem"]["number"], problem.as_str());

    assert_eq!(
        app.transition(&problem, "investigating").await.status(),
        StatusCode::OK
    );
    let record = ok_json(
        app.client
            .patch(app.url(&format!("/api/v1/problems/{problem}")))
            .bearer_auth(&app.token)
            .json(&json!({
                "workaround": "Connect through the backup gateway",
                "rca": {
                    "timeline": [
                        { "at": "2026-11-22T09:30:00Z", "text": "Certificate renewed" },
                        { "at": "2026-11-22T08:00:00Z", "text": "First reports" }
                    ],
                    "cause": "The gateway certificate expired",
                    "five_whys": ["TLS handshakes failed", "The certificate expired", "Nobody owned renewal"]
                }
            }))
            .send()
            .await
            .expect("sent"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(record["workaround"], "Connect through the backup gateway");
    assert_eq!(
        record["rca"]["timeline"][0]["text"], "First reports",
        "time order"
    );
    assert_eq!(record["incidents"].as_array().map(Vec::len), Some(3));

    // Act
    let resolution = ok_json(
        app.post(
            &format!("/api/v1/problems/{problem}/resolve"),
            &app.token,
            &json!({ "resolve_incidents": true, "note": "Certificate renewed, monitoring added" }),
        )
        .await,
        StatusCode::OK,
    )
    .await;

    // Assert
    assert_eq!(resolution["problem"]["state"], "resolved");
    assert_eq!(
        numbers(&resolution["resolved_incidents"]),
        [first.as_str(), second.as_str()]
    );
    for inc in [&first, &second] {
        assert_eq!(app.ticket(inc).await["state"], "resolved");
        let notes = app.comments(inc).await;
        assert!(
            notes.iter().any(|c| c["body"]
                == format!(
                    "Resolved with problem {problem}: Certificate renewed, monitoring added"
                )
                .as_str()
                && c["internal"] == false),
            "{notes:?}"
        );
        let lines = app.activity(inc).await;
        assert!(
            lines.iter().any(|a| a["action"] == "resolved_by_problem"
                && a["new_value"] == problem.as_str()),
            "{lines:?}"
        );
    }
    assert!(
        app.comments(&done).await.is_empty(),
        "the resolved one is left alone"
    );
    let again = app
        .post(
            &format!("/api/v1/problems/{problem}/resolve"),
            &app.token,
            &json!({ "resolve_incidents": true }),
        )
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT, "resolved already");
}

#[tokio::test]
async fn a_new_incident_is_offered_matching_known_errors_best_first_and_links_one_in_one_call() {
    // Arrange: a problem and a small KEDB.
    let app = spawn_app().await;
    let problem = number(&app.create_ticket("problem", "VPN MTU mismatch").await);
    let vpn = known_error(
        &app,
        json!({
            "title": "VPN client disconnects every few minutes",
            "symptoms": "The VPN tunnel drops and reconnects in a loop",
            "cause": "MTU mismatch after the firewall upgrade",
            "workaround": "Set the MTU of the VPN adapter to 1400",
            "problem": problem,
        }),
    )
    .await;
    let shares = known_error(
        &app,
        json!({ "title": "Slow file shares", "symptoms": "Users on the VPN see slow file shares" }),
    )
    .await;
    let printer = known_error(
        &app,
        json!({ "title": "Printer offline on floor 3", "symptoms": "Jobs stuck in the queue", "workaround": "Power-cycle the printer" }),
    )
    .await;
    known_error(
        &app,
        json!({ "title": "VPN client disconnects (old client)", "active": false }),
    )
    .await;

    // Act: a new incident, its suggestions.
    let inc = incident(
        &app,
        "VPN disconnects constantly",
        "My VPN client disconnects every few minutes since this morning.",
    )
    .await;
    let suggestions: Vec<Value> = app
        .get_json(&format!("/api/v1/tickets/{inc}/suggestions"), &app.token)
        .await;

    // Assert: most relevant first; unrelated and inactive ones absent.
    let ids: Vec<&Value> = suggestions.iter().map(|s| &s["id"]).collect();
    assert_eq!(ids.first(), Some(&&vpn["id"]), "{suggestions:?}");
    assert!(ids.contains(&&shares["id"]), "{suggestions:?}");
    assert!(!ids.contains(&&printer["id"]), "{suggestions:?}");
    assert_eq!(
        ids.len(),
        2,
        "the inactive one is not offered: {suggestions:?}"
    );
    assert!(suggestions[0]["score"].as_f64() > suggestions[1]["score"].as_f64());
    let search: Vec<Value> = app
        .get_json("/api/v1/known-errors?q=printer%20queue", &app.token)
        .await;
    assert_eq!(search.len(), 1);
    assert_eq!(search[0]["id"], printer["id"]);

    // Act: link the best one in one call.
    let linked = ok_json(
        app.post(
            &format!("/api/v1/tickets/{inc}/known-errors"),
            &app.token,
            &json!({ "known_error": vpn["id"] }),
        )
        .await,
        StatusCode::OK,
    )
    .await;

    // Assert: linked to the KE and its problem, workaround as internal note.
    assert_eq!(linked["problem"], problem.as_str());
    assert_eq!(linked["note"]["internal"], true);
    assert!(
        linked["note"]["body"]
            .as_str()
            .is_some_and(|b| b.contains("Set the MTU of the VPN adapter to 1400")),
        "{linked}"
    );
    let incidents: Value = app
        .get_json(&format!("/api/v1/problems/{problem}/incidents"), &app.token)
        .await;
    assert_eq!(numbers(&incidents), [inc.as_str()]);
    let of_ticket: Vec<Value> = app
        .get_json(&format!("/api/v1/tickets/{inc}/known-errors"), &app.token)
        .await;
    assert_eq!(of_ticket.len(), 1);
    let lines = app.activity(&inc).await;
    for action in ["known_error_linked", "problem_linked", "internal_note"] {
        assert!(
            lines.iter().any(|a| a["action"] == action),
            "{action}: {lines:?}"
        );
    }
    let again = ok_json(
        app.post(
            &format!("/api/v1/tickets/{inc}/known-errors"),
            &app.token,
            &json!({ "known_error": vpn["id"] }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(again["note"].is_null(), "nothing done twice");
    assert_eq!(app.comments(&inc).await.len(), 1);

    // A retired known error is no longer offered; the problem hears of edits.
    let retired = ok_json(
        app.client
            .patch(app.url(&format!(
                "/api/v1/known-errors/{}",
                shares["id"].as_str().expect("id")
            )))
            .bearer_auth(&app.token)
            .json(&json!({ "active": false, "problem": problem }))
            .send()
            .await
            .expect("sent"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(retired["active"], false);
    assert_eq!(retired["problem"], problem.as_str());
    let suggestions: Vec<Value> = app
        .get_json(&format!("/api/v1/tickets/{inc}/suggestions"), &app.token)
        .await;
    assert_eq!(suggestions.len(), 1, "{suggestions:?}");
    let record: Value = app
        .get_json(&format!("/api/v1/problems/{problem}"), &app.token)
        .await;
    assert_eq!(record["known_errors"].as_array().map(Vec::len), Some(2));
    let lines = app.activity(&problem).await;
    let added = lines
        .iter()
        .filter(|a| a["action"] == "known_error_added")
        .count();
    assert_eq!(added, 2, "{lines:?}");
}

#[tokio::test]
async fn resolving_a_parent_incident_resolves_its_open_children_with_a_note() {
    let app = spawn_app().await;
    let parent = incident(&app, "Core switch failure", "").await;
    let child = incident(&app, "No network on floor 2", "").await;
    let cancelled = incident(&app, "No network on floor 5", "").await;
    for c in [&child, &cancelled] {
        let linked = ok_json(
            app.client
                .put(app.url(&format!("/api/v1/tickets/{c}/parent")))
                .bearer_auth(&app.token)
                .json(&json!({ "parent": parent }))
                .send()
                .await
                .expect("sent"),
            StatusCode::OK,
        )
        .await;
        assert_eq!(linked["parent"], parent.as_str());
    }
    assert_eq!(
        app.transition(&cancelled, "cancelled").await.status(),
        StatusCode::OK
    );
    let children: Value = app
        .get_json(&format!("/api/v1/tickets/{parent}/children"), &app.token)
        .await;
    assert_eq!(numbers(&children), [child.as_str(), cancelled.as_str()]);

    assert_eq!(
        app.transition(&parent, "resolved").await.status(),
        StatusCode::OK
    );

    assert_eq!(app.ticket(&child).await["state"], "resolved");
    assert_eq!(app.ticket(&cancelled).await["state"], "cancelled");
    let notes = app.comments(&child).await;
    assert_eq!(notes.len(), 1);
    assert_eq!(
        notes[0]["body"],
        format!("Resolved with parent incident {parent}.").as_str()
    );
    assert!(app
        .activity(&child)
        .await
        .iter()
        .any(|a| a["action"] == "resolved_by_parent"));

    let detached = app
        .client
        .delete(app.url(&format!("/api/v1/tickets/{child}/parent")))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("sent");
    let detached = ok_json(detached, StatusCode::OK).await;
    assert!(detached["parent"].is_null());
}

#[tokio::test]
async fn agents_declare_and_clear_a_major_incident_and_set_its_escalation_level() {
    let app = spawn_app().await;
    app.subscribe("http://127.0.0.1:9/hook").await;
    let inc = incident(&app, "Payments failing everywhere", "").await;
    let fresh = app.ticket(&inc).await;
    assert_eq!(fresh["major"], false);
    assert_eq!(fresh["escalation_level"], 0);

    let declared = ok_json(
        app.post(
            &format!("/api/v1/tickets/{inc}/major"),
            &app.token,
            &json!({ "major": true, "reason": "All card payments fail" }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(declared["major"], true);
    assert_eq!(app.ticket(&inc).await["major"], true);
    let events: Vec<Value> = app.outbox("pending").await;
    let major_events: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "ticket.major_changed")
        .collect();
    assert_eq!(major_events.len(), 1);
    assert_eq!(major_events[0]["payload"]["details"]["major"], true);

    let escalated = ok_json(
        app.post(
            &format!("/api/v1/tickets/{inc}/escalation"),
            &app.token,
            &json!({ "level": 2 }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(escalated["escalation_level"], 2);
    let too_high = app
        .post(
            &format!("/api/v1/tickets/{inc}/escalation"),
            &app.token,
            &json!({ "level": 11 }),
        )
        .await;
    assert_eq!(too_high.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let cleared = ok_json(
        app.post(
            &format!("/api/v1/tickets/{inc}/major"),
            &app.token,
            &json!({ "major": false }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cleared["major"], false);
    assert_eq!(cleared["escalation_level"], 2);
    let lines = app.activity(&inc).await;
    let changes: Vec<(&Value, &Value)> = lines
        .iter()
        .filter(|a| a["field"] == "major")
        .map(|a| (&a["old_value"], &a["new_value"]))
        .collect();
    assert_eq!(
        changes,
        [
            (&json!("false"), &json!("true")),
            (&json!("true"), &json!("false"))
        ]
    );
    assert!(lines
        .iter()
        .any(|a| a["field"] == "escalation_level" && a["new_value"] == "2"));

    let (_, requester) = app
        .person_with_token("Rita", "rita@example.com", &["requester"])
        .await;
    let own = ok_json(
        app.post(
            "/api/v1/tickets",
            &requester,
            &json!({ "kind": "incident", "title": "My laptop is slow" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let refused = app
        .post(
            &format!("/api/v1/tickets/{}/major", number(&own)),
            &requester,
            &json!({ "major": true }),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let problem = number(&app.create_ticket("problem", "Not an incident").await);
    let on_problem = app
        .post(
            &format!("/api/v1/tickets/{problem}/major"),
            &app.token,
            &json!({ "major": true }),
        )
        .await;
    assert_eq!(on_problem.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn requesters_see_only_what_hangs_on_their_own_tickets() {
    let app = spawn_app().await;
    let (_, requester) = app
        .person_with_token("Rita", "rita@example.com", &["requester"])
        .await;
    let own = number(
        &ok_json(
            app.post(
                "/api/v1/tickets",
                &requester,
                &json!({ "kind": "incident", "title": "Mail bounces" }),
            )
            .await,
            StatusCode::CREATED,
        )
        .await,
    );
    let someone_elses = incident(&app, "Mail bounces too", "").await;
    let problem = number(
        &app.create_ticket("problem", "Mail relay misconfigured")
            .await,
    );
    for inc in [&own, &someone_elses] {
        assert_eq!(link(&app, &problem, inc).await.status(), StatusCode::OK);
    }

    let mine: Value = app
        .get_json(&format!("/api/v1/tickets/{own}/problem"), &requester)
        .await;
    assert_eq!(mine["problem"]["number"], problem.as_str());
    for path in [
        format!("/api/v1/tickets/{someone_elses}/problem"),
        format!("/api/v1/problems/{problem}"),
        format!("/api/v1/problems/{problem}/incidents"),
    ] {
        assert_eq!(
            app.get(&path, &requester).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    for path in [
        "/api/v1/known-errors".to_string(),
        format!("/api/v1/tickets/{own}/suggestions"),
        format!("/api/v1/tickets/{own}/known-errors"),
    ] {
        assert_eq!(
            app.get(&path, &requester).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let write = app
        .post(
            &format!("/api/v1/problems/{problem}/incidents"),
            &requester,
            &json!({ "incident": own }),
        )
        .await;
    assert_eq!(write.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn bad_links_are_refused_with_clear_errors_and_change_nothing() {
    let app = spawn_app().await;
    let problem = number(&app.create_ticket("problem", "Flaky DNS").await);
    let other_problem = number(&app.create_ticket("problem", "Flaky DHCP").await);
    let request = number(&app.create_ticket("service_request", "New laptop").await);
    let first = incident(&app, "DNS lookups fail", "").await;
    let second = incident(&app, "Web pages time out", "").await;
    let third = incident(&app, "Mail delayed", "").await;

    // A problem gathers incidents only, known ones only, one problem each.
    let not_incident = link(&app, &problem, &request).await;
    assert_eq!(not_incident.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = not_incident.json().await.expect("problem json");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("not an incident")),
        "{body}"
    );
    let unknown = link(&app, &problem, "INC0009999").await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = unknown.json().await.expect("problem json");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("INC0009999")),
        "{body}"
    );
    assert_eq!(
        link(&app, &first, &second).await.status(),
        StatusCode::NOT_FOUND,
        "an incident is no problem"
    );
    assert_eq!(
        link(&app, "PRB0009999", &first).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(link(&app, &problem, &first).await.status(), StatusCode::OK);
    assert_eq!(
        link(&app, &other_problem, &first).await.status(),
        StatusCode::CONFLICT,
        "one problem per incident"
    );

    // Parent/child: incidents only, no self, no cycles, one level.
    let set_parent = |child: String, parent: String| {
        let app = &app;
        async move {
            app.client
                .put(app.url(&format!("/api/v1/tickets/{child}/parent")))
                .bearer_auth(&app.token)
                .json(&json!({ "parent": parent }))
                .send()
                .await
                .expect("sent")
        }
    };
    assert_eq!(
        set_parent(first.clone(), second.clone()).await.status(),
        StatusCode::OK
    );
    for (child, parent, says) in [
        (first.clone(), first.clone(), "itself"),
        (second.clone(), first.clone(), "cycle"),
        (third.clone(), first.clone(), "a child cannot be a parent"),
        (
            second.clone(),
            third.clone(),
            "a parent cannot become a child",
        ),
        (third.clone(), request.clone(), "not an incident"),
        (third.clone(), "INC0009999".to_string(), "INC0009999"),
    ] {
        let refused = set_parent(child.clone(), parent.clone()).await;
        let status = refused.status();
        let body: Value = refused.json().await.expect("problem json");
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{child} under {parent}: {body}"
        );
        assert!(
            body["detail"].as_str().is_some_and(|d| d.contains(says)),
            "{child} under {parent}: {body}"
        );
    }

    // Analyses and known errors are checked too.
    let empty_rca = app
        .client
        .patch(app.url(&format!("/api/v1/problems/{problem}")))
        .bearer_auth(&app.token)
        .json(&json!({ "rca": { "five_whys": ["  "] } }))
        .send()
        .await
        .expect("sent");
    assert_eq!(empty_rca.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let ke_on_incident = app
        .post(
            "/api/v1/known-errors",
            &app.token,
            &json!({ "title": "x", "problem": first }),
        )
        .await;
    assert_eq!(ke_on_incident.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let unknown_ke = app
        .post(
            &format!("/api/v1/tickets/{third}/known-errors"),
            &app.token,
            &json!({ "known_error": uuid::Uuid::new_v4() }),
        )
        .await;
    assert_eq!(unknown_ke.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Nothing changed.
    let incidents: Value = app
        .get_json(&format!("/api/v1/problems/{problem}/incidents"), &app.token)
        .await;
    assert_eq!(numbers(&incidents), [first.as_str()]);
    let others: Value = app
        .get_json(
            &format!("/api/v1/problems/{other_problem}/incidents"),
            &app.token,
        )
        .await;
    assert_eq!(numbers(&others), Vec::<String>::new());
    let children: Value = app
        .get_json(&format!("/api/v1/tickets/{second}/children"), &app.token)
        .await;
    assert_eq!(numbers(&children), [first.as_str()]);
    for t in [&second, &third] {
        assert!(app.ticket(t).await["parent"].is_null(), "{t}");
    }
    let record: Value = app
        .get_json(&format!("/api/v1/problems/{problem}"), &app.token)
        .await;
    assert!(record["rca"].is_null());
    let kedb: Vec<Value> = app.get_json("/api/v1/known-errors", &app.token).await;
    assert!(kedb.is_empty());
    assert!(app.comments(&third).await.is_empty());
}

#[tokio::test]
async fn the_kedb_ranks_by_matched_terms_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("switchboard.db").display());
    let app = spawn_on(&url, false, |_| {}).await;
    let problem = number(&app.create_ticket("problem", "Outlook add-in crash").await);
    let best = known_error(
        &app,
        json!({ "title": "Outlook crashes on start", "symptoms": "Outlook closes right after the splash screen",
                "workaround": "Start Outlook in safe mode and disable the add-in", "problem": problem }),
    )
    .await;
    let weaker = known_error(
        &app,
        json!({ "title": "Calendar sync delays", "symptoms": "Outlook calendar shows old meetings" }),
    )
    .await;
    known_error(
        &app,
        json!({ "title": "Printer offline", "symptoms": "Jobs stuck" }),
    )
    .await;

    let inc = incident(
        &app,
        "Outlook crash",
        "Outlook crashes every time I start it",
    )
    .await;
    let suggestions: Vec<Value> = app
        .get_json(&format!("/api/v1/tickets/{inc}/suggestions"), &app.token)
        .await;
    let ids: Vec<&Value> = suggestions.iter().map(|s| &s["id"]).collect();
    assert_eq!(ids, [&best["id"], &weaker["id"]], "{suggestions:?}");

    let search: Vec<Value> = app
        .get_json("/api/v1/known-errors?q=outlook%20calendar", &app.token)
        .await;
    let ids: Vec<&Value> = search.iter().map(|s| &s["id"]).collect();
    assert_eq!(
        ids,
        [&weaker["id"]],
        "every typed word must match: {search:?}"
    );

    let linked = ok_json(
        app.post(
            &format!("/api/v1/tickets/{inc}/known-errors"),
            &app.token,
            &json!({ "known_error": best["id"] }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(linked["problem"], problem.as_str());
}
