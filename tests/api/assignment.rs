//! Automatic assignment and availability (issue 23 items 1–2): a team's
//! strategy picks the agent when a ticket reaches it, passing over absent,
//! off-shift and capped agents; skills route; an absence that starts hands
//! its agent's tickets back; `/away` from Slack.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc, Weekday};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{
    helpers::{error_fields, expect_json, spawn_app, spawn_on, TestApp},
    support::{
        discord::{self, spawn_discord_app, GUILD},
        slack::{spawn_slack_app, TEAM},
    },
};

/// Agents (name → person id), all in team `team` with `strategy`.
async fn team_of(
    app: &TestApp,
    team: &str,
    names: &[&str],
    strategy: &str,
) -> HashMap<String, String> {
    let mut agents = HashMap::new();
    for name in names {
        let (person, _) = app
            .person_with_token(
                name,
                &format!("{}@example.com", name.to_lowercase()),
                &["agent"],
            )
            .await;
        agents.insert(
            name.to_string(),
            person["id"].as_str().expect("id").to_string(),
        );
    }
    let members: Vec<&String> = names.iter().map(|n| &agents[*n]).collect();
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
    let team_view = set_team(app, team, json!({ "assignment": strategy })).await;
    assert_eq!(team_view["assignment"], strategy);
    agents
}

async fn set_team(app: &TestApp, team: &str, body: Value) -> Value {
    expect_json(
        app.send(
            Method::PATCH,
            &format!("/api/v1/teams/{team}"),
            &app.token,
            Some(&body),
        )
        .await,
        StatusCode::OK,
    )
    .await
}

async fn open_for(app: &TestApp, team: &str, title: &str, extra: Value) -> Value {
    let mut body = json!({ "kind": "incident", "title": title, "team": team });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    expect_json(
        app.post("/api/v1/tickets", &app.token, &body).await,
        StatusCode::CREATED,
    )
    .await
}

fn assignee(ticket: &Value) -> String {
    ticket["assignee"]["id"]
        .as_str()
        .unwrap_or("nobody")
        .to_string()
}

async fn reasons(app: &TestApp, number: &str) -> Vec<String> {
    let activity: Vec<Value> = app
        .get_json(&format!("/api/v1/tickets/{number}/activity"), &app.token)
        .await;
    activity
        .iter()
        .filter(|a| a["action"] == "auto_assigned")
        .map(|a| a["new_value"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn away(app: &TestApp, person: &str, body: Value) -> reqwest::Response {
    app.post(
        &format!("/api/v1/people/{person}/absences"),
        &app.token,
        &body,
    )
    .await
}

#[tokio::test]
async fn round_robin_over_three_agents_with_one_away_rotates_strictly_over_the_two_present() {
    let app = spawn_app().await;
    let agents = team_of(&app, "Desk", &["Ana", "Bo", "Cy"], "round_robin").await;
    let until = Utc::now() + Duration::days(2);
    let response = away(
        &app,
        &agents["Bo"],
        json!({ "ends_at": until, "note": "conference" }),
    )
    .await;
    let absence = expect_json(response, StatusCode::CREATED).await;
    assert_eq!(absence["handover"], "keep");

    let mut got = Vec::new();
    for i in 0..6 {
        let ticket = open_for(&app, "Desk", &format!("printer {i}"), json!({})).await;
        got.push(assignee(&ticket));
        let number = ticket["number"].as_str().expect("number");
        assert_eq!(reasons(&app, number).await, ["round-robin"]);
    }
    let (ana, cy) = (agents["Ana"].clone(), agents["Cy"].clone());
    assert_eq!(got, [&ana, &cy, &ana, &cy, &ana, &cy].map(String::clone));

    // Bo is back: the rotation takes him in (his turn is the oldest).
    let availability: Value = app
        .get_json(
            &format!("/api/v1/people/{}/availability", agents["Bo"]),
            &app.token,
        )
        .await;
    assert_eq!(availability["away"], true);
    let id = availability["absences"][0]["id"]
        .as_str()
        .expect("absence id");
    let ended = app
        .send(
            Method::DELETE,
            &format!("/api/v1/people/{}/absences/{id}", agents["Bo"]),
            &app.token,
            None,
        )
        .await;
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    let ticket = open_for(&app, "Desk", "printer 7", json!({})).await;
    assert_eq!(assignee(&ticket), agents["Bo"]);

    // A ticket moved to the team is assigned the same way; naming the
    // assignee wins over the strategy.
    let elsewhere = expect_json(
        app.post(
            "/api/v1/tickets",
            &app.token,
            &json!({ "kind": "incident", "title": "moved" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let number = elsewhere["number"].as_str().expect("number");
    let moved = expect_json(
        app.post(
            &format!("/api/v1/tickets/{number}/assignment"),
            &app.token,
            &json!({ "team": "Desk" }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(assignee(&moved), ana, "Ana's turn is the oldest now");
    assert_eq!(reasons(&app, number).await, ["round-robin"]);
}

#[tokio::test]
async fn least_loaded_under_twenty_concurrent_tickets_ends_balanced_within_one() {
    let app = spawn_app().await;
    let agents = team_of(&app, "Ops", &["Dee", "Eli", "Fay", "Gus"], "least_loaded").await;
    let requests = (0..20).map(|i| {
        let app = &app;
        async move { open_for(app, "Ops", &format!("disk {i}"), json!({})).await }
    });
    let tickets = futures::future::join_all(requests).await;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for ticket in &tickets {
        *counts.entry(assignee(ticket)).or_default() += 1;
    }
    assert_eq!(counts.len(), 4, "everyone got work: {counts:?}");
    assert!(!counts.contains_key("nobody"));
    let (min, max) = (counts.values().min(), counts.values().max());
    assert!(
        max.zip(min).is_some_and(|(max, min)| max - min <= 1),
        "{counts:?}"
    );
    let number = tickets[19]["number"].as_str().expect("number");
    let reason = reasons(&app, number).await;
    assert!(reason[0].starts_with("least loaded: "), "{reason:?}");

    // Priority weighs: a p1 counts five times; whoever holds it is passed
    // over until the others catch up.
    let urgent = open_for(
        &app,
        "Ops",
        "all disks full",
        json!({ "impact": "high", "urgency": "high" }),
    )
    .await;
    assert_eq!(urgent["priority"], "p1");
    let holder = assignee(&urgent);
    for i in 0..3 {
        let next = open_for(&app, "Ops", &format!("after {i}"), json!({})).await;
        assert_ne!(assignee(&next), holder);
    }
    assert!(agents.values().any(|id| *id == holder));
}

#[tokio::test]
async fn skills_route_to_the_agent_who_has_them_and_a_cap_holds_agents_back() {
    let app = spawn_app().await;
    let agents = team_of(&app, "Infra", &["Hal", "Ivy"], "skills").await;
    for (name, skills) in [
        ("Hal", json!(["Windows"])),
        ("Ivy", json!(["network", "windows"])),
    ] {
        let saved = expect_json(
            app.send(
                Method::PUT,
                &format!("/api/v1/people/{}/skills", agents[name]),
                &app.token,
                Some(&json!({ "skills": skills })),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        assert!(saved["skills"].as_array().is_some_and(|s| s
            .iter()
            .all(|s| s.as_str().is_some_and(|s| s == s.to_lowercase()))));
    }
    expect_json(
        app.post(
            "/api/v1/categories",
            &app.token,
            &json!({ "name": "Network", "team": "Infra" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    for rule in [
        json!({ "skill": "network", "category": "Network" }),
        json!({ "skill": "sap", "tag": "SAP" }),
    ] {
        expect_json(
            app.post("/api/v1/skill-rules", &app.token, &rule).await,
            StatusCode::CREATED,
        )
        .await;
    }
    let refused = app
        .post(
            "/api/v1/skill-rules",
            &app.token,
            &json!({ "skill": "x", "tag": "a", "category": "Network" }),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The category's team gets it, and only Ivy has the skill.
    let ticket = expect_json(
        app.post(
            "/api/v1/tickets",
            &app.token,
            &json!({ "kind": "incident", "title": "switch down", "category": "Network" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(ticket["team"]["name"], "Infra");
    assert_eq!(assignee(&ticket), agents["Ivy"]);
    let number = ticket["number"].as_str().expect("number");
    assert_eq!(reasons(&app, number).await, ["skills: network; 0 open"]);

    // Nobody knows SAP: the ticket waits in the queue, saying why.
    let sap = open_for(
        &app,
        "Infra",
        "SAP login",
        json!({ "tags": ["sap", "emea"] }),
    )
    .await;
    assert_eq!(sap["tags"], json!(["sap", "emea"]));
    assert_eq!(assignee(&sap), "nobody");
    let number = sap["number"].as_str().expect("number");
    assert_eq!(
        reasons(&app, number).await,
        ["left in the queue: no present agent has the skills sap"]
    );

    // No skill needed: the least loaded (Hal). A cap of one open ticket
    // then leaves the next one in the queue.
    let plain = open_for(&app, "Infra", "mouse", json!({})).await;
    assert_eq!(assignee(&plain), agents["Hal"]);
    set_team(&app, "Infra", json!({ "max_open_per_agent": 1 })).await;
    let capped = open_for(&app, "Infra", "keyboard", json!({})).await;
    assert_eq!(assignee(&capped), "nobody");
    let number = capped["number"].as_str().expect("number");
    assert_eq!(
        reasons(&app, number).await,
        ["left in the queue: every present agent holds 1 open tickets or more"]
    );
}

#[tokio::test]
async fn an_absence_hands_tickets_back_when_it_starts_not_before() {
    let app = spawn_app().await;
    let agents = team_of(&app, "Field", &["Jo", "Kim"], "round_robin").await;
    let first = open_for(&app, "Field", "laptop", json!({})).await;
    assert_eq!(assignee(&first), agents["Jo"]);
    let number = first["number"].as_str().expect("number").to_string();

    // Jo is off tomorrow at 09:00 in Berlin, for a day, handing over.
    let berlin = chrono_tz::Europe::Berlin;
    let tomorrow = (Utc::now().with_timezone(&berlin) + Duration::days(1)).date_naive();
    let starts = berlin
        .from_local_datetime(&tomorrow.and_hms_opt(9, 0, 0).expect("time"))
        .earliest()
        .expect("local time");
    let response = away(
        &app,
        &agents["Jo"],
        json!({
            "starts_at": starts.to_rfc3339(),
            "ends_at": (starts + Duration::days(1)).to_rfc3339(),
            "handover": "queue",
        }),
    )
    .await;
    let absence = expect_json(response, StatusCode::CREATED).await;
    let starts_utc: DateTime<Utc> = absence["starts_at"]
        .as_str()
        .expect("starts")
        .parse()
        .expect("time");
    assert_eq!(starts_utc, starts.with_timezone(&Utc));

    // Not yet: the timer waits for 09:00 Berlin time.
    app.scheduler.run_due().await.expect("timers");
    let still: Value = app.ticket(&number).await;
    assert_eq!(assignee(&still), agents["Jo"]);

    let wait = starts.with_timezone(&Utc) - Utc::now() + Duration::minutes(1);
    app.desk.clock.advance(wait);
    assert_eq!(app.scheduler.run_due().await.expect("timers"), 1);
    let moved: Value = app.ticket(&number).await;
    assert_eq!(
        assignee(&moved),
        agents["Kim"],
        "back to the team, which gave it to Kim"
    );
    let activity: Vec<Value> = app
        .get_json(&format!("/api/v1/tickets/{number}/activity"), &app.token)
        .await;
    let handed = activity
        .iter()
        .rev()
        .find(|a| a["action"] == "assigned" && a["field"] == "assignee")
        .expect("reassignment recorded");
    assert_eq!(handed["channel"], "system");
    assert_eq!(handed["new_value"], "Kim");

    // While away, Jo gets nothing new.
    for i in 0..2 {
        let ticket = open_for(&app, "Field", &format!("dock {i}"), json!({})).await;
        assert_eq!(assignee(&ticket), agents["Kim"]);
    }
}

#[tokio::test]
async fn refusals_name_what_is_allowed_and_change_nothing() {
    let app = spawn_app().await;
    let agents = team_of(&app, "Desk", &["Lu"], "none").await;
    let response = app
        .send(
            Method::PATCH,
            "/api/v1/teams/Desk",
            &app.token,
            Some(&json!({ "assignment": "random" })),
        )
        .await;
    let problem = expect_json(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&problem), ["assignment"]);
    assert!(
        problem
            .to_string()
            .contains("round_robin, least_loaded, skills"),
        "{problem}"
    );
    let team: Value = app.get_json("/api/v1/teams/Desk", &app.token).await;
    assert_eq!(team["assignment"], "none");

    // With no strategy a ticket waits in the queue and says nothing.
    let ticket = open_for(&app, "Desk", "queue me", json!({})).await;
    assert_eq!(assignee(&ticket), "nobody");
    let number = ticket["number"].as_str().expect("number");
    assert!(reasons(&app, number).await.is_empty());

    for (body, field) in [
        (
            json!({ "ends_at": Utc::now() - Duration::hours(1) }),
            "ends_at",
        ),
        (
            json!({ "ends_at": Utc::now() + Duration::days(400) }),
            "ends_at",
        ),
        (
            json!({ "ends_at": Utc::now() + Duration::days(1), "handover": "delegate" }),
            "delegate",
        ),
        (
            json!({ "ends_at": Utc::now() + Duration::days(1), "handover": "vanish" }),
            "handover",
        ),
    ] {
        let problem = expect_json(
            away(&app, &agents["Lu"], body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(error_fields(&problem), [field], "{problem}");
    }
    let bad_tags = app
        .post(
            "/api/v1/tickets",
            &app.token,
            &json!({ "kind": "incident", "title": "t", "tags": ["two words"] }),
        )
        .await;
    let problem = expect_json(bad_tags, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&problem), ["tags"]);

    // A requester may not record anyone's absence or see availability.
    let (_, requester) = app
        .person_with_token("Max", "max@example.com", &["requester"])
        .await;
    let forbidden = app
        .post(
            &format!("/api/v1/people/{}/absences", agents["Lu"]),
            &requester,
            &json!({ "ends_at": Utc::now() + Duration::days(1) }),
        )
        .await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    let forbidden = app
        .get(
            &format!("/api/v1/people/{}/availability", agents["Lu"]),
            &requester,
        )
        .await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn away_from_slack_ends_at_the_agents_local_midnight_and_back_ends_it() {
    let (app, _fake, _) = spawn_slack_app().await;
    let (agent, token) = app
        .person_with_token("Nia", "nia@example.com", &["agent"])
        .await;
    let id = agent["id"].as_str().expect("id").to_string();
    app.link_identity(&id, "slack", TEAM, "UNIA").await;
    expect_json(
        app.send(
            Method::PATCH,
            "/api/v1/me",
            &token,
            Some(&json!({ "time_zone": "America/New_York" })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let command = |text: &str, trigger: &str| {
        format!(
            "token=t&team_id={TEAM}&channel_id=C1&user_id=UNIA&user_name=nia&command=%2Faway&text={text}&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT0TEST%2F1%2Faway&trigger_id={trigger}"
        )
    };
    let answer = expect_json(
        app.post_slack_command(&command("until+friday", "trig-away-1"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(answer["response_type"], "ephemeral");
    let text = answer["text"].as_str().expect("text");
    assert!(text.contains("You are away until Fri"), "{text}");
    assert!(text.contains("America/New_York"), "{text}");

    let availability: Value = app
        .get_json(&format!("/api/v1/people/{id}/availability"), &app.token)
        .await;
    assert_eq!(availability["away"], true);
    let ends: DateTime<Utc> = availability["absences"][0]["ends_at"]
        .as_str()
        .expect("ends")
        .parse()
        .expect("time");
    let local = ends.with_timezone(&chrono_tz::America::New_York);
    assert_eq!(local.weekday(), Weekday::Fri);
    assert_eq!(local.format("%H:%M").to_string(), "00:00");
    assert!(ends > Utc::now() && ends - Utc::now() <= Duration::days(7));

    // A retried command does not record a second absence.
    app.post_slack_command(&command("until+friday", "trig-away-1"))
        .await;
    let availability: Value = app
        .get_json(&format!("/api/v1/people/{id}/availability"), &app.token)
        .await;
    assert_eq!(availability["absences"].as_array().map(Vec::len), Some(1));

    let unreadable = expect_json(
        app.post_slack_command(&command("someday+maybe", "trig-away-2"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(unreadable["text"]
        .as_str()
        .is_some_and(|t| t.contains("/away until friday")));

    let back = expect_json(
        app.post_slack_command(&command("back", "trig-away-3"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(
        back["text"]
            .as_str()
            .is_some_and(|t| t.contains("Welcome back")),
        "{back}"
    );
    let availability: Value = app
        .get_json(&format!("/api/v1/people/{id}/availability"), &app.token)
        .await;
    assert_eq!(availability["away"], false);
}

#[tokio::test]
async fn round_robin_and_absences_work_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("switchboard.db").display());
    let app = spawn_on(&url, false, |_| {}).await;
    let agents = team_of(&app, "Desk", &["Oz", "Pia"], "round_robin").await;
    let response = away(
        &app,
        &agents["Oz"],
        json!({ "ends_at": Utc::now() + Duration::hours(3) }),
    )
    .await;
    expect_json(response, StatusCode::CREATED).await;
    for i in 0..3 {
        let ticket = open_for(
            &app,
            "Desk",
            &format!("sqlite {i}"),
            json!({ "tags": ["Lite"] }),
        )
        .await;
        assert_eq!(assignee(&ticket), agents["Pia"]);
        assert_eq!(ticket["tags"], json!(["lite"]));
    }
}

#[tokio::test]
async fn away_from_discord_answers_like_slack_and_keeps_new_tickets_off_the_agent() {
    let (app, _fake) = spawn_discord_app().await;
    let user = "3000000000000000400";
    let agents = team_of(&app, "Desk", &["Quin", "Ray"], "round_robin").await;
    app.link_identity(&agents["Quin"], "discord", GUILD, user)
        .await;

    let away = discord::command(
        "4000000000000000401",
        user,
        "away",
        &[("until", "for 2 days")],
    );
    let answer = app.discord_answer(&away).await;
    assert_eq!(
        answer["data"]["flags"], 64,
        "only the typer sees the answer"
    );
    assert!(
        discord::content(&answer).contains("You are away until"),
        "{answer}"
    );
    for i in 0..2 {
        let ticket = open_for(&app, "Desk", &format!("discord {i}"), json!({})).await;
        assert_eq!(assignee(&ticket), agents["Ray"]);
    }

    let unreadable = discord::command("4000000000000000402", user, "away", &[("until", "soon")]);
    let answer = app.discord_answer(&unreadable).await;
    assert!(
        discord::content(&answer).contains("/away until friday"),
        "{answer}"
    );
    let back = discord::command("4000000000000000403", user, "away", &[("until", "back")]);
    let answer = app.discord_answer(&back).await;
    assert!(
        discord::content(&answer).contains("Welcome back"),
        "{answer}"
    );
}
