//! Macros (issue 23, item 4): canned replies with placeholders and field
//! changes, saved per organization or team, applied from the API, Slack
//! and Discord through one use case with one `macro_applied` activity
//! entry; a team's macro only on its tickets; checks when saved.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{error_fields, expect_json, spawn_app, spawn_on, TestApp};

const REPLY: &str =
    "Hi {{requester.name}}, {{ticket.number}} is now {{ticket.state}} at {{ticket.priority}}. — {{agent.name}}";

async fn save(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.post("/api/v1/macros", token, &body).await
}

async fn apply(app: &TestApp, token: &str, number: &str, name: &str) -> reqwest::Response {
    let name = name.replace(' ', "%20");
    app.post(
        &format!("/api/v1/tickets/{number}/macros/{name}"),
        token,
        &json!({}),
    )
    .await
}

/// A team with `members`, and an incident of Rita's for it.
async fn team_with_ticket(app: &TestApp, team: &str, members: &[&str], title: &str) -> String {
    expect_json(
        app.post(
            "/api/v1/teams",
            &app.token,
            &json!({ "name": team, "members": members }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    ticket_for(app, team, title).await
}

async fn ticket_for(app: &TestApp, team: &str, title: &str) -> String {
    let body = expect_json(
        app.post(
            "/api/v1/tickets",
            &app.token,
            &json!({ "kind": "incident", "title": title, "team": team,
                     "requester": "rita@example.com", "tags": ["triage"] }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    body["number"].as_str().expect("number").to_string()
}

async fn rita(app: &TestApp) {
    expect_json(
        app.post(
            "/api/v1/people",
            &app.token,
            &json!({ "name": "Rita Requester", "email": "rita@example.com", "roles": ["requester"] }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
}

/// A ticket's activity without who, where and when: what a macro did.
async fn what_happened(app: &TestApp, number: &str) -> Vec<Value> {
    let activity: Vec<Value> = app
        .get_json(&format!("/api/v1/tickets/{number}/activity"), &app.token)
        .await;
    activity
        .iter()
        .filter(|a| a["action"] != "created")
        .map(|a| {
            json!({ "action": a["action"], "field": a["field"],
                    "old": a["old_value"], "new": a["new_value"] })
        })
        .collect()
}

async fn comments(app: &TestApp, number: &str) -> Vec<Value> {
    app.get_json(&format!("/api/v1/tickets/{number}/comments"), &app.token)
        .await
}

#[tokio::test]
async fn a_macro_from_slack_and_from_the_api_gives_the_same_activity() {
    let (app, _fake, _) = crate::support::slack::spawn_slack_app().await;
    rita(&app).await;
    let (uma, uma_token) = app
        .person_with_token("Uma Agent", "uma@example.com", &["agent"])
        .await;
    let uma_id = uma["id"].as_str().expect("id").to_string();
    app.link_identity(&uma_id, "slack", crate::support::slack::TEAM, "UUMA")
        .await;
    let by_api = team_with_ticket(&app, "Network", &[&uma_id], "VPN drops").await;
    let by_slack = ticket_for(&app, "Network", "VPN drops again").await;
    let saved = expect_json(
        save(
            &app,
            &app.token,
            json!({ "name": "VPN reset", "body": REPLY,
                    "changes": { "state": "in_progress", "urgency": "high", "assignee": "me",
                                 "add_tags": ["VPN"], "remove_tags": ["triage"] } }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(saved["team"], Value::Null, "the organization's macro");
    assert_eq!(saved["changes"]["add_tags"], json!(["vpn"]), "normalized");

    let applied = expect_json(
        apply(&app, &uma_token, &by_api, "vpn reset").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(applied["macro"]["name"], "VPN reset");
    assert_eq!(applied["ticket"]["state"], "in_progress");
    assert_eq!(applied["ticket"]["urgency"], "high");
    assert_eq!(applied["ticket"]["assignee"]["id"], *uma_id);
    assert_eq!(applied["ticket"]["tags"], json!(["vpn"]));
    let priority = applied["ticket"]["priority"]
        .as_str()
        .expect("priority")
        .to_string();
    assert_eq!(
        applied["comment"]["body"],
        format!("Hi Rita Requester, {by_api} is now in_progress at {priority}. — Uma Agent")
    );
    assert_eq!(applied["comment"]["internal"], false);

    let command = format!(
        "token=t&team_id={}&channel_id=C1&user_id=UUMA&user_name=uma&command=%2Fmacro&text={by_slack}+VPN+reset&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT0TEST%2F1%2Fmacro&trigger_id=trig-macro-1",
        crate::support::slack::TEAM
    );
    let answer = expect_json(app.post_slack_command(&command).await, StatusCode::OK).await;
    assert_eq!(answer["response_type"], "ephemeral");
    let text = answer["text"].as_str().expect("text");
    assert!(
        text.starts_with(&format!(
            "Applied `VPN reset` to {by_slack}: replied to the requester;"
        )),
        "{answer}"
    );
    assert!(text.contains("state: in progress"), "{answer}");
    // Slack retries a command it got no answer to: nothing more happens.
    app.post_slack_command(&command).await;

    let api_lines = what_happened(&app, &by_api).await;
    let slack_lines = what_happened(&app, &by_slack).await;
    assert_eq!(api_lines, slack_lines, "the same activity either way");
    let macro_lines: Vec<&Value> = api_lines
        .iter()
        .filter(|l| l["action"] == "macro_applied")
        .collect();
    assert_eq!(
        macro_lines,
        vec![
            &json!({ "action": "macro_applied", "field": "macro", "old": null, "new": "VPN reset" })
        ],
        "{api_lines:?}"
    );
    for field in ["assignee", "urgency", "tags", "state"] {
        assert!(
            api_lines.iter().any(|l| l["field"] == field),
            "{field} recorded like a change by hand: {api_lines:?}"
        );
    }
    let activity: Vec<Value> = app
        .get_json(&format!("/api/v1/tickets/{by_slack}/activity"), &app.token)
        .await;
    assert!(activity
        .iter()
        .filter(|a| a["action"] != "created")
        .all(|a| a["channel"] == "slack" && a["actor"]["id"] == *uma_id));
    let said = comments(&app, &by_slack).await;
    assert_eq!(said.len(), 1, "one reply, the retry added none");
    assert_eq!(
        said[0]["body"],
        format!("Hi Rita Requester, {by_slack} is now in_progress at {priority}. — Uma Agent")
    );

    // Listing from chat: the ticket's macros by name.
    let list = format!(
        "token=t&team_id={}&channel_id=C1&user_id=UUMA&user_name=uma&command=%2Fmacro&text={by_slack}&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT0TEST%2F2%2Fmacro&trigger_id=trig-macro-2",
        crate::support::slack::TEAM
    );
    let answer = expect_json(app.post_slack_command(&list).await, StatusCode::OK).await;
    assert_eq!(
        answer["text"],
        format!("Macros for {by_slack}: `VPN reset`. Apply one with `/macro {by_slack} <name>`.")
    );
}

#[tokio::test]
async fn a_macro_from_discord_in_a_tickets_thread_or_naming_it() {
    use crate::support::discord::{self, spawn_discord_app, GUILD};
    let (app, _fake) = spawn_discord_app().await;
    rita(&app).await;
    let user = "3000000000000000700";
    let (agent, _) = app
        .person_with_token("Vic Agent", "vic@example.com", &["agent"])
        .await;
    let vic = agent["id"].as_str().expect("id").to_string();
    app.link_identity(&vic, "discord", GUILD, user).await;
    let number = team_with_ticket(&app, "Desk", &[&vic], "fan noise").await;
    expect_json(
        save(
            &app,
            &app.token,
            json!({ "name": "Hardware", "team": "Desk", "body": "Internal: {{ticket.title}}",
                    "internal": true, "changes": { "add_tags": ["hardware"] } }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let command = discord::command(
        "4000000000000000701",
        user,
        "macro",
        &[("name", "Hardware"), ("ticket", &number)],
    );
    let answer = app.discord_answer(&command).await;
    assert_eq!(answer["data"]["flags"], 64, "only Vic sees it");
    assert_eq!(
        discord::content(&answer),
        format!("Applied `Hardware` to {number}: added the internal note; tags: triage, hardware.")
    );
    let said = comments(&app, &number).await;
    assert_eq!(said.len(), 1);
    assert_eq!(said[0]["internal"], true);
    assert_eq!(said[0]["body"], "Internal: fan noise");

    let nameless = discord::command(
        "4000000000000000702",
        user,
        "macro",
        &[("name", "Hardware")],
    );
    let answer = app.discord_answer(&nameless).await;
    assert!(
        discord::content(&answer).contains("/macro INC0000042 VPN reset"),
        "outside a ticket's thread the ticket must be named: {answer}"
    );
}

#[tokio::test]
async fn a_teams_macro_is_refused_on_another_teams_ticket_and_managed_by_its_managers() {
    let app = spawn_app().await;
    rita(&app).await;
    let (ned, ned_token) = app
        .person_with_token("Ned Manager", "ned@example.com", &["manager"])
        .await;
    let ned_id = ned["id"].as_str().expect("id").to_string();
    let (amy, amy_token) = app
        .person_with_token("Amy Agent", "amy@example.com", &["agent"])
        .await;
    let amy_id = amy["id"].as_str().expect("id").to_string();
    let network_ticket =
        team_with_ticket(&app, "Network", &[&ned_id, &amy_id], "switch down").await;
    let desk_ticket = team_with_ticket(&app, "Desk", &[&amy_id], "mouse broken").await;

    // Ned manages Network's macros, not Desk's nor the organization's;
    // agents manage none.
    let network_macro = expect_json(
        save(
            &app,
            &ned_token,
            json!({ "name": "Switch", "team": "Network", "body": "Looking at {{ticket.title}}.",
                    "changes": { "state": "in_progress" } }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(network_macro["team"]["name"], "Network");
    for (token, body, why) in [
        (
            &ned_token,
            json!({ "name": "Mouse", "team": "Desk", "body": "x" }),
            "team Desk's macros",
        ),
        (
            &ned_token,
            json!({ "name": "Hello", "body": "x" }),
            "the organization's macros",
        ),
        (
            &amy_token,
            json!({ "name": "Mine", "team": "Network", "body": "x" }),
            "team Network's macros",
        ),
    ] {
        let refused = expect_json(save(&app, token, body).await, StatusCode::FORBIDDEN).await;
        assert!(
            refused["detail"].as_str().is_some_and(|d| d.contains(why)),
            "{refused}"
        );
    }

    // Amy works both teams, but Network's macro is for Network's tickets.
    let before: Value = app
        .get_json(&format!("/api/v1/tickets/{desk_ticket}"), &app.token)
        .await;
    let id = network_macro["id"].as_str().expect("id");
    for named in [id, "switch"] {
        let refused = expect_json(
            apply(&app, &amy_token, &desk_ticket, named).await,
            StatusCode::CONFLICT,
        )
        .await;
        assert_eq!(
            refused["detail"],
            format!(
                "macro `Switch` is team Network's and applies to its tickets only; {desk_ticket} is with team Desk"
            )
        );
    }
    let after: Value = app
        .get_json(&format!("/api/v1/tickets/{desk_ticket}"), &app.token)
        .await;
    assert_eq!(before, after, "the refusal changed nothing");
    assert!(comments(&app, &desk_ticket).await.is_empty());
    expect_json(
        apply(&app, &amy_token, &network_ticket, "Switch").await,
        StatusCode::OK,
    )
    .await;

    // Lists: all of them, or those a team's tickets take.
    let org_macro = expect_json(
        save(
            &app,
            &app.token,
            json!({ "name": "Thanks", "body": "Thanks, {{requester.name}}!" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let names = |list: Vec<Value>| -> Vec<String> {
        list.iter()
            .map(|m| m["name"].as_str().expect("name").to_string())
            .collect()
    };
    let all: Vec<Value> = app.get_json("/api/v1/macros", &amy_token).await;
    assert_eq!(names(all), ["Thanks", "Switch"]);
    let for_desk: Vec<Value> = app.get_json("/api/v1/macros?team=Desk", &amy_token).await;
    assert_eq!(names(for_desk), ["Thanks"]);
    let (_, requester) = app
        .person_with_token("Rex Requester", "rex@example.com", &["requester"])
        .await;
    let refused = app.get("/api/v1/macros", &requester).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // Ned cannot move Network's macro to Desk, nor edit the organization's.
    let path = format!("/api/v1/macros/{id}");
    let moved = app
        .send(
            Method::PATCH,
            &path,
            &ned_token,
            Some(&json!({ "team": "Desk" })),
        )
        .await;
    assert_eq!(moved.status(), StatusCode::FORBIDDEN);
    let org_path = format!("/api/v1/macros/{}", org_macro["id"].as_str().expect("id"));
    let edited = app
        .send(
            Method::PATCH,
            &org_path,
            &ned_token,
            Some(&json!({ "body": "mine" })),
        )
        .await;
    assert_eq!(edited.status(), StatusCode::FORBIDDEN);
    // The admin makes it the organization's; then it applies anywhere.
    let patched = expect_json(
        app.send(
            Method::PATCH,
            &path,
            &app.token,
            Some(&json!({ "team": null, "name": "Switch check" })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(patched["team"], Value::Null);
    assert_eq!(patched["body"], "Looking at {{ticket.title}}.", "kept");
    expect_json(
        apply(&app, &amy_token, &desk_ticket, "Switch check").await,
        StatusCode::OK,
    )
    .await;
    let deleted = app.send(Method::DELETE, &path, &app.token, None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = apply(&app, &amy_token, &desk_ticket, id).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn placeholders_and_changes_are_checked_when_a_macro_is_saved() {
    let app = spawn_app().await;
    let requester = app
        .person_with_token("Rita Requester", "rita@example.com", &["requester"])
        .await;
    let rita_id = requester.0["id"].as_str().expect("id").to_string();
    let refused = expect_json(
        save(
            &app,
            &app.token,
            json!({ "name": "Bad", "body": "Hi {{requester.email}}",
                    "changes": { "state": "done", "urgency": "urgent", "team": "Nowhere",
                                 "assignee": rita_id, "add_tags": ["a b"] } }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let fields = error_fields(&refused);
    for field in [
        "body",
        "changes.state",
        "changes.urgency",
        "changes.team",
        "changes.assignee",
        "changes.add_tags",
    ] {
        assert!(fields.contains(&field), "{field}: {refused}");
    }
    let body_error = refused["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .find(|e| e["field"] == "body")
        .expect("body error");
    assert!(
        body_error["message"]
            .as_str()
            .is_some_and(|m| m.contains("{{requester.email}}") && m.contains("{{requester.name}}")),
        "names the unknown placeholder and the known ones: {body_error}"
    );
    for (body, field) in [
        (json!({ "name": "Empty" }), "body"),
        (json!({ "name": "", "body": "x" }), "name"),
        (
            json!({ "name": "Open", "body": "Hi {{requester.name" }),
            "body",
        ),
        (
            json!({ "name": "Both", "changes": { "add_tags": ["x"], "remove_tags": ["x"] } }),
            "changes.remove_tags",
        ),
    ] {
        let refused = expect_json(
            save(&app, &app.token, body.clone()).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert!(error_fields(&refused).contains(&field), "{body}: {refused}");
    }
    let unknown = save(
        &app,
        &app.token,
        json!({ "name": "Colour", "changes": { "colour": "red" } }),
    )
    .await;
    assert!(unknown.status().is_client_error(), "{}", unknown.status());

    expect_json(
        save(
            &app,
            &app.token,
            json!({ "name": "Greeting", "body": "Hello" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let duplicate = expect_json(
        save(
            &app,
            &app.token,
            json!({ "name": "GREETING", "body": "Hi" }),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(
        duplicate["detail"],
        "the organization already has a macro named `GREETING`"
    );
    let macros: Vec<Value> = app.get_json("/api/v1/macros", &app.token).await;
    assert_eq!(macros.len(), 1, "nothing refused was saved");
}

async fn refused_transition_changes_nothing(app: &TestApp) {
    rita(app).await;
    let number = team_with_ticket(app, "Network", &[], "printer jam").await;
    expect_json(
        save(
            app,
            &app.token,
            json!({ "name": "Close", "body": "Closing {{ticket.number}}.",
                    "changes": { "state": "closed", "add_tags": ["done"] } }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let before: Value = app
        .get_json(&format!("/api/v1/tickets/{number}"), &app.token)
        .await;
    let refused = apply(app, &app.token, &number, "Close").await;
    let status = refused.status();
    let problem: Value = refused.json().await.expect("problem");
    assert!(
        status == StatusCode::CONFLICT || status == StatusCode::UNPROCESSABLE_ENTITY,
        "{status} {problem}"
    );
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("in_progress")),
        "names the allowed moves: {problem}"
    );
    let after: Value = app
        .get_json(&format!("/api/v1/tickets/{number}"), &app.token)
        .await;
    assert_eq!(before, after, "nothing of the macro stayed");
    assert!(comments(app, &number).await.is_empty());
    assert!(what_happened(app, &number).await.is_empty());

    // Resolving instead works, with the reply before the move.
    expect_json(
        app.send(
            Method::PATCH,
            &format!(
                "/api/v1/macros/{}",
                app.get_json::<Vec<Value>>("/api/v1/macros", &app.token)
                    .await[0]["id"]
                    .as_str()
                    .expect("id")
            ),
            &app.token,
            Some(&json!({ "changes": { "state": "resolved", "add_tags": ["done"] } })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let applied = expect_json(
        apply(app, &app.token, &number, "close").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(applied["ticket"]["state"], "resolved");
    assert_eq!(applied["changed"], json!(["tags", "comment", "state"]));
    let lines = what_happened(app, &number).await;
    let actions: Vec<&str> = lines
        .iter()
        .map(|l| l["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "macro_applied").count(),
        1,
        "{actions:?}"
    );
    let commented = actions.iter().position(|a| *a == "commented");
    let moved = actions.iter().position(|a| *a == "state_changed");
    assert!(
        commented < moved,
        "the reply comes before the move: {actions:?}"
    );
}

#[tokio::test]
async fn a_refused_change_refuses_the_whole_macro() {
    refused_transition_changes_nothing(&spawn_app().await).await;
}

#[tokio::test]
async fn a_refused_change_refuses_the_whole_macro_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("switchboard.db").display());
    refused_transition_changes_nothing(&spawn_on(&url, false, |_| {}).await).await;
}

#[tokio::test]
async fn the_console_applies_a_macro_as_the_api_does() {
    let app = spawn_app().await;
    rita(&app).await;
    let ada = crate::support::console::agent(&app).await;
    let number = team_with_ticket(&app, "Desk", &[], "Wi-Fi slow").await;
    let page = format!("/console/tickets/{number}");
    let bare = ada.get(&page).await;
    assert!(!bare.html.contains("Apply a macro"), "no macros, no form");
    let saved = expect_json(
        save(
            &app,
            &app.token,
            json!({ "name": "Wi-Fi", "body": "Hi {{requester.name}}, please forget and rejoin the network.",
                    "changes": { "state": "on_hold", "add_tags": ["wifi"] } }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let shown = ada.get(&page).await;
    assert!(shown.html.contains("Apply a macro"), "{}", shown.html);
    let id = saved["id"].as_str().expect("id");
    let applied = ada
        .submit(&page, &format!("{page}/macro"), &[("macro", id)])
        .await;
    assert_eq!(applied.status, StatusCode::SEE_OTHER, "{}", applied.html);
    let ticket: Value = app
        .get_json(&format!("/api/v1/tickets/{number}"), &app.token)
        .await;
    assert_eq!(ticket["state"], "on_hold");
    assert_eq!(ticket["tags"], json!(["triage", "wifi"]));
    let said = comments(&app, &number).await;
    assert_eq!(
        said[0]["body"],
        "Hi Rita Requester, please forget and rejoin the network."
    );
    assert_eq!(said[0]["channel"], "web");
    let lines = what_happened(&app, &number).await;
    assert!(lines
        .iter()
        .any(|l| l["action"] == "macro_applied" && l["new"] == "Wi-Fi"));

    // A refusal shows on the page, in the desk's words, and changes nothing.
    let close = expect_json(
        save(
            &app,
            &app.token,
            json!({ "name": "Close", "body": "Closing.", "changes": { "state": "closed" } }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let refused = ada
        .submit(
            &page,
            &format!("{page}/macro"),
            &[("macro", close["id"].as_str().expect("id"))],
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::CONFLICT,
        "on hold to closed is no move"
    );
    assert!(
        refused.html.contains("Allowed from here"),
        "{}",
        refused.html
    );
    assert_eq!(comments(&app, &number).await.len(), 1);
}
