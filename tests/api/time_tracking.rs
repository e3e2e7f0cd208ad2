//! Time tracking (issue 23, item 5): agents log minutes on tickets; the
//! ticket's totals, the agents report and its CSV export sum them; the
//! `time.logged` webhook carries the entry.

use chrono::{Duration, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{error_fields, expect_json, spawn_app, spawn_on, Receiver, TestApp};

fn period() -> String {
    let at = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let now = Utc::now();
    format!(
        "from={}&to={}",
        at(now - Duration::days(2)),
        at(now + Duration::days(1))
    )
}

async fn ticket_of_team(app: &TestApp, title: &str, team: &str) -> String {
    let body = expect_json(
        app.post(
            "/api/v1/tickets",
            &app.token,
            &json!({ "kind": "incident", "title": title, "team": team }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    body["number"].as_str().expect("number").to_string()
}

async fn log(app: &TestApp, token: &str, number: &str, body: Value) -> reqwest::Response {
    app.post(&format!("/api/v1/tickets/{number}/time"), token, &body)
        .await
}

/// Two agents of one team log time on two tickets; one entry is not
/// billable. Returns (ada's id, bob's id, the two ticket numbers).
async fn seed(app: &TestApp) -> (String, String, String, String) {
    let (ada, ada_token) = app
        .person_with_token("Ada Agent", "ada@example.com", &["agent"])
        .await;
    let (bob, bob_token) = app
        .person_with_token("Bob Agent", "bob@example.com", &["agent"])
        .await;
    let ada_id = ada["id"].as_str().expect("id").to_string();
    let bob_id = bob["id"].as_str().expect("id").to_string();
    expect_json(
        app.post(
            "/api/v1/teams",
            &app.token,
            &json!({ "name": "Network", "members": [ada_id, bob_id] }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let first = ticket_of_team(app, "switch down", "Network").await;
    let second = ticket_of_team(app, "router down", "Network").await;
    for (token, number, body) in [
        (
            &ada_token,
            &first,
            json!({ "minutes": 30, "note": "rebooted" }),
        ),
        (
            &ada_token,
            &first,
            json!({ "minutes": 15, "note": "wrote it up", "billable": false }),
        ),
        (
            &bob_token,
            &first,
            json!({ "minutes": 60, "note": "swapped it" }),
        ),
        (
            &bob_token,
            &second,
            json!({ "minutes": 20, "note": "checked" }),
        ),
    ] {
        expect_json(log(app, token, number, body).await, StatusCode::CREATED).await;
    }
    (ada_id, bob_id, first, second)
}

async fn time_story(app: &TestApp) {
    let (ada_id, bob_id, first, second) = seed(app).await;

    let time: Value = app
        .get_json(&format!("/api/v1/tickets/{first}/time"), &app.token)
        .await;
    assert_eq!(time["entries"].as_array().expect("entries").len(), 3);
    assert_eq!(time["total_minutes"], 105);
    assert_eq!(time["billable_minutes"], 90);
    let per_agent = time["per_agent"].as_array().expect("per agent");
    assert_eq!(per_agent.len(), 2);
    assert_eq!(per_agent[0]["agent"]["name"], "Ada Agent");
    assert_eq!(per_agent[0]["minutes"], 45);
    assert_eq!(per_agent[0]["billable_minutes"], 30);
    assert_eq!(per_agent[1]["agent"]["id"], *bob_id);
    assert_eq!(per_agent[1]["minutes"], 60);
    assert_eq!(time["entries"][1]["billable"], false);

    let report: Value = app
        .get_json(&format!("/api/v1/reports/agents?{}", period()), &app.token)
        .await;
    let row = |list: &str, id: &str| -> Value {
        report[list]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} in {list}: {report}"))
    };
    let ada = row("agents", &ada_id);
    assert_eq!(ada["time_logged_minutes"], 45);
    assert_eq!(ada["billable_minutes"], 30);
    let bob = row("agents", &bob_id);
    assert_eq!(bob["time_logged_minutes"], 80);
    assert_eq!(bob["billable_minutes"], 80);
    let network = report["teams"]
        .as_array()
        .expect("teams")
        .iter()
        .find(|t| t["name"] == "Network")
        .cloned()
        .expect("the team's row");
    assert_eq!(network["time_logged_minutes"], 125);
    assert_eq!(network["billable_minutes"], 110);

    // Another period has none of it.
    let before: Value = app
        .get_json(
            "/api/v1/reports/agents?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z",
            &app.token,
        )
        .await;
    let logged: i64 = before["agents"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["time_logged_minutes"].as_i64().unwrap_or_default())
        .sum();
    assert_eq!(logged, 0, "{before}");
    let _ = second;
}

#[tokio::test]
async fn time_totals_per_ticket_agent_and_team_reach_the_agents_report() {
    time_story(&spawn_app().await).await;
}

#[tokio::test]
async fn time_totals_are_the_same_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("switchboard.db").display());
    time_story(&spawn_on(&url, false, |_| {}).await).await;
}

#[tokio::test]
async fn the_agents_report_csv_has_the_time_columns() {
    let app = spawn_app().await;
    let (ada_id, _, _, _) = seed(&app).await;
    let response = app
        .get(
            &format!("/api/v1/reports/agents?{}&format=csv", period()),
            &app.token,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.bytes().await.expect("body");
    let mut reader = csv::Reader::from_reader(body.as_ref());
    let headers: Vec<String> = reader
        .headers()
        .expect("headers")
        .iter()
        .map(String::from)
        .collect();
    let at = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("{name} in {headers:?}"))
    };
    let (logged, billable, id) = (at("time_logged_minutes"), at("billable_minutes"), at("id"));
    let ada = reader
        .records()
        .map(|r| r.expect("row"))
        .find(|r| &r[id] == ada_id.as_str())
        .expect("ada's row");
    assert_eq!(&ada[logged], "45");
    assert_eq!(&ada[billable], "30");
}

#[tokio::test]
async fn time_that_is_not_positive_or_too_long_or_from_a_requester_is_refused() {
    let app = spawn_app().await;
    let ticket = app.create_ticket("incident", "printer").await;
    let number = ticket["number"].as_str().expect("number");
    for minutes in [0, -30, 1441] {
        let problem = expect_json(
            log(&app, &app.token, number, json!({ "minutes": minutes })).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(error_fields(&problem), ["minutes"], "{problem}");
    }
    let future = (Utc::now() + Duration::hours(2)).to_rfc3339();
    let problem = expect_json(
        log(
            &app,
            &app.token,
            number,
            json!({ "minutes": 5, "started_at": future }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&problem), ["started_at"]);

    // The requester of the ticket sees it but may not log time on it.
    let (_, requester) = app
        .person_with_token("Rey Requester", "rey@example.com", &["requester"])
        .await;
    let own = expect_json(
        app.post(
            "/api/v1/tickets",
            &requester,
            &json!({ "kind": "incident", "title": "mine" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let own = own["number"].as_str().expect("number");
    let refused = log(&app, &requester, own, json!({ "minutes": 5 })).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let refused = app
        .get(&format!("/api/v1/tickets/{own}/time"), &requester)
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // Another organization's admin finds no such ticket.
    let other = app.admin_of_new_org("elsewhere").await;
    let hidden = log(&app, &other, number, json!({ "minutes": 5 })).await;
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
    let hidden = app
        .get(&format!("/api/v1/tickets/{number}/time"), &other)
        .await;
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);

    let time: Value = app
        .get_json(&format!("/api/v1/tickets/{number}/time"), &app.token)
        .await;
    assert_eq!(time["entries"], json!([]), "nothing was logged");
    assert_eq!(time["total_minutes"], 0);
}

#[tokio::test]
async fn logged_time_goes_out_as_a_time_logged_webhook_and_into_the_activity() {
    let app = spawn_app().await;
    let receiver = Receiver::default();
    let addr = receiver.serve("127.0.0.1:0".parse().expect("addr")).await;
    let ticket = app.create_ticket("incident", "disk full").await;
    let number = ticket["number"].as_str().expect("number");
    app.subscribe(&format!("http://{addr}/hook")).await;

    let logged = expect_json(
        log(
            &app,
            &app.token,
            number,
            json!({ "minutes": 90, "note": "cleaned /var", "billable": false }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(logged["entry"]["minutes"], 90);
    assert_eq!(logged["ticket"]["number"], *number);
    app.dispatcher.drain().await.expect("dispatch");

    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let event = got[0].json();
    assert_eq!(event["type"], "time.logged");
    assert_eq!(got[0].header("switchboard-event"), "time.logged");
    assert_eq!(event["ticket"]["number"], *number);
    let entry = &event["details"]["entry"];
    assert_eq!(entry["minutes"], 90);
    assert_eq!(entry["note"], "cleaned /var");
    assert_eq!(entry["billable"], false);
    assert_eq!(entry["id"], logged["entry"]["id"]);

    let activity: Vec<Value> = app
        .get_json(&format!("/api/v1/tickets/{number}/activity"), &app.token)
        .await;
    let line = activity
        .iter()
        .find(|a| a["action"] == "time_logged")
        .expect("an activity line");
    assert_eq!(line["new_value"], "1h 30m (not billable)");
}

#[tokio::test]
async fn time_from_slack_and_discord_is_logged_like_the_apis() {
    let (app, _fake, _) = crate::support::slack::spawn_slack_app().await;
    let (agent, _) = app
        .person_with_token("Uma Agent", "uma@example.com", &["agent"])
        .await;
    let id = agent["id"].as_str().expect("id").to_string();
    app.link_identity(&id, "slack", crate::support::slack::TEAM, "UUMA")
        .await;
    let ticket = app.create_ticket("incident", "cable cut").await;
    let number = ticket["number"].as_str().expect("number");
    let command = |text: &str, trigger: &str| {
        format!(
            "token=t&team_id={}&channel_id=C1&user_id=UUMA&user_name=uma&command=%2Ftime&text={text}&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT0TEST%2F1%2Ftime&trigger_id={trigger}",
            crate::support::slack::TEAM
        )
    };
    let answer = expect_json(
        app.post_slack_command(&command(
            &format!("{number}+1h+30m+spliced+it"),
            "trig-time-1",
        ))
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(answer["response_type"], "ephemeral");
    assert_eq!(answer["text"], format!("Logged 1h 30m on {number}."));
    // A retry of the same command logs nothing more.
    app.post_slack_command(&command(
        &format!("{number}+1h+30m+spliced+it"),
        "trig-time-1",
    ))
    .await;
    let time: Value = app
        .get_json(&format!("/api/v1/tickets/{number}/time"), &app.token)
        .await;
    assert_eq!(time["total_minutes"], 90);
    assert_eq!(time["entries"][0]["note"], "spliced it");

    for bad in ["1h", &format!("{number}+lots")] {
        let refused = expect_json(
            app.post_slack_command(&command(bad, &format!("trig-bad-{bad}")))
                .await,
            StatusCode::OK,
        )
        .await;
        assert!(
            refused["text"]
                .as_str()
                .is_some_and(|t| t.contains("/time INC0000042 30m")),
            "{refused}"
        );
    }
    let time: Value = app
        .get_json(&format!("/api/v1/tickets/{number}/time"), &app.token)
        .await;
    assert_eq!(time["total_minutes"], 90, "refusals change nothing");
}

#[tokio::test]
async fn time_from_discord_names_the_ticket_or_takes_the_threads() {
    use crate::support::discord::{self, spawn_discord_app, GUILD};
    let (app, _fake) = spawn_discord_app().await;
    let user = "3000000000000000500";
    let (agent, _) = app
        .person_with_token("Vic Agent", "vic@example.com", &["agent"])
        .await;
    app.link_identity(agent["id"].as_str().expect("id"), "discord", GUILD, user)
        .await;
    let ticket = app.create_ticket("incident", "fan noise").await;
    let number = ticket["number"].as_str().expect("number");
    let log = discord::command(
        "4000000000000000501",
        user,
        "time",
        &[("spent", "45m"), ("ticket", number), ("note", "dusted")],
    );
    let answer = app.discord_answer(&log).await;
    assert_eq!(answer["data"]["flags"], 64);
    assert_eq!(
        discord::content(&answer),
        format!("Logged 45m on {number}.")
    );
    let nameless = discord::command("4000000000000000502", user, "time", &[("spent", "45m")]);
    let answer = app.discord_answer(&nameless).await;
    assert!(
        discord::content(&answer).contains("/time INC0000042"),
        "{answer}"
    );
    let time: Value = app
        .get_json(&format!("/api/v1/tickets/{number}/time"), &app.token)
        .await;
    assert_eq!(time["total_minutes"], 45);
}
