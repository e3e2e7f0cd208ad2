//! Notifications: routing of ticket events to requester, assignee, team and
//! watchers by their preferences (never the actor), mentions, quiet hours
//! deferring ordinary messages but not urgent escalations, the in-app inbox,
//! SMS through a Twilio-compatible gateway, organization defaults, bad
//! preferences and templates refused with their place.

use base64::Engine;
use chrono::{DateTime, Timelike, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{
    helpers::{expect_json, fresh_database, spawn_app, spawn_app_with, test_config, TestApp},
    support::sms::{FakeSmsGateway, INVALID_NUMBER},
};

async fn patch_me(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.send(Method::PATCH, "/api/v1/me", token, Some(&body))
        .await
}

async fn inbox(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    expect_json(
        app.get(&format!("/api/v1/me/inbox{query}"), token).await,
        StatusCode::OK,
    )
    .await
    .as_array()
    .expect("list")
    .clone()
}

fn to(messages: &[Value], target: &str, event: &str) -> Vec<Value> {
    messages
        .iter()
        .filter(|m| m["target"] == target && m["event"] == event)
        .cloned()
        .collect()
}

/// An agent, a requester and a watcher on one ticket the agent opened for
/// the requester.
struct Cast {
    alan: String,
    rita: String,
    rita_id: String,
    wendy: String,
    number: String,
}

/// Alan (an agent of the cast) comments publicly on the cast's ticket.
async fn public_comment_by_alan(app: &TestApp, c: &Cast, body: &str) {
    expect_json(
        app.post(
            &format!("/api/v1/tickets/{}/comments", c.number),
            &c.alan,
            &json!({ "body": body, "internal": false }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
}

async fn cast(app: &TestApp) -> Cast {
    let (_, alan) = app
        .person_with_token("Alan Agent", "alan@corp.example", &["agent"])
        .await;
    let (rita, rita_token) = app
        .person_with_token("Rita Requester", "rita@corp.example", &["requester"])
        .await;
    let (wendy, wendy_token) = app
        .person_with_token("Wendy Watcher", "wendy@corp.example", &["requester"])
        .await;
    let ticket = expect_json(
        app.post(
            "/api/v1/tickets",
            &alan,
            &json!({ "kind": "incident", "title": "Printer on fire", "requester": rita["id"] }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let number = ticket["number"].as_str().expect("number").to_string();
    expect_json(
        app.post(
            &format!("/api/v1/tickets/{number}/watchers"),
            &alan,
            &json!({ "person": wendy["id"] }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    Cast {
        alan,
        rita: rita_token,
        rita_id: rita["id"].as_str().expect("id").to_string(),
        wendy: wendy_token,
        number,
    }
}

#[tokio::test]
async fn a_public_comment_reaches_requester_and_watchers_by_their_preferences_but_not_its_author() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    // Rita wants comments in the app only.
    expect_json(
        patch_me(
            &app,
            &c.rita,
            json!({ "notification_prefs": { "events": { "ticket.commented": ["in_app"] } } }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    public_comment_by_alan(&app, &c, "Extinguisher applied; please check.").await;

    let pending = app.outbox("pending").await;
    let wendy_mail = to(&pending, "wendy@corp.example", "ticket.commented");
    assert_eq!(wendy_mail.len(), 1, "{pending:#?}");
    let payload = &wendy_mail[0]["payload"];
    assert!(payload["text"]
        .as_str()
        .expect("text")
        .contains("Extinguisher applied"));
    assert!(
        payload["html"]
            .as_str()
            .expect("html")
            .contains("<blockquote>Extinguisher applied; please check.</blockquote>"),
        "{payload}"
    );
    assert_eq!(
        payload["subject"],
        format!("[{}] Printer on fire: new comment by Alan Agent", c.number)
    );
    assert!(to(&pending, "rita@corp.example", "ticket.commented").is_empty());
    assert!(to(&pending, "alan@corp.example", "ticket.commented").is_empty());
    // Rita was told of the new ticket by mail (before she chose) and of the comment in the app.
    assert_eq!(to(&pending, "rita@corp.example", "ticket.created").len(), 1);
    let rita_inbox = inbox(&app, &c.rita, "").await;
    let events: Vec<&str> = rita_inbox
        .iter()
        .filter_map(|m| m["event"].as_str())
        .collect();
    assert_eq!(events, ["ticket.commented", "ticket.created"]);
    assert!(rita_inbox[0]["text"]
        .as_str()
        .expect("text")
        .contains("Alan Agent wrote on"));
    assert!(
        inbox(&app, &c.alan, "").await.is_empty(),
        "the author hears nothing"
    );

    // Internal notes reach nobody but mentioned agents.
    let (_, _bob) = app
        .person_with_token("Bob Builder", "bob@corp.example", &["agent"])
        .await;
    expect_json(
        app.post(
            &format!("/api/v1/tickets/{}/comments", c.number),
            &c.alan,
            &json!({ "body": "@Bob Builder can you look? @Rita Requester must not see this", "internal": true }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let pending = app.outbox("pending").await;
    assert_eq!(to(&pending, "bob@corp.example", "mention").len(), 1);
    assert!(to(&pending, "rita@corp.example", "mention").is_empty());
    assert_eq!(
        to(&pending, "wendy@corp.example", "ticket.commented").len(),
        1
    );
    // A mention by email address in a public comment.
    expect_json(
        app.post(
            &format!("/api/v1/tickets/{}/comments", c.number),
            &c.rita,
            &json!({ "body": "Thanks! cc @wendy@corp.example", "internal": false }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let wendy_inbox = inbox(&app, &c.wendy, "").await;
    assert_eq!(wendy_inbox[0]["event"], "mention", "{wendy_inbox:#?}");
    assert_eq!(wendy_inbox[0]["ticket"], c.number);
}

fn hhmm(t: DateTime<Utc>) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

#[tokio::test]
async fn quiet_hours_defer_a_comment_notice_but_not_an_urgent_escalation() {
    let app = spawn_app().await;
    let (lena, lena_token) = app
        .person_with_token("Lena Lead", "lena@corp.example", &["agent"])
        .await;
    let (_, rita) = app
        .person_with_token("Rita Requester", "rita@corp.example", &["requester"])
        .await;
    let now = Utc::now();
    let (start, end) = (
        now - chrono::Duration::hours(1),
        now + chrono::Duration::hours(2),
    );
    expect_json(
        patch_me(
            &app,
            &lena_token,
            json!({ "time_zone": "UTC", "notification_prefs": { "quiet_hours": { "start": hhmm(start), "end": hhmm(end) } } }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    expect_json(
        app.post(
            "/api/v1/teams",
            &app.token,
            &json!({ "name": "Facilities", "lead": lena["id"], "members": [lena["id"]] }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    expect_json(
        app.post(
            "/api/v1/escalation-policies",
            &app.token,
            &json!({ "name": "facilities", "selector": { "teams": ["Facilities"] },
                     "steps": [{ "after_minutes": 5, "actions": [{ "type": "notify_lead" }] }] }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let ticket = expect_json(
        app.post(
            "/api/v1/tickets",
            &rita,
            &json!({ "kind": "incident", "title": "Door stuck", "team": "Facilities" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let number = ticket["number"].as_str().expect("number");
    expect_json(
        app.post(
            &format!("/api/v1/tickets/{number}/assignment"),
            &lena_token,
            &json!({ "assignee": "lena@corp.example" }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    expect_json(
        app.post(
            &format!("/api/v1/tickets/{number}/comments"),
            &rita,
            &json!({ "body": "Still stuck", "internal": false }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    app.pass(chrono::Duration::minutes(6)).await;

    let pending = app.outbox("pending").await;
    let at = |m: &Value| -> DateTime<Utc> {
        m["next_attempt_at"]
            .as_str()
            .expect("time")
            .parse()
            .expect("rfc3339")
    };
    let comment = to(&pending, "lena@corp.example", "ticket.commented");
    assert_eq!(comment.len(), 1, "{pending:#?}");
    let waits = at(&comment[0]) - Utc::now();
    assert!(
        waits > chrono::Duration::minutes(100),
        "deferred to the end of the quiet hours ({}): {waits}",
        hhmm(end)
    );
    let escalation = to(&pending, "lena@corp.example", "escalation");
    assert_eq!(escalation.len(), 1, "{pending:#?}");
    assert!(at(&escalation[0]) <= Utc::now(), "urgent: due at once");
    // The dispatcher leaves the deferred one alone.
    app.dispatcher.drain().await.expect("drain");
    let still: Vec<Value> = app.outbox("pending").await;
    assert_eq!(to(&still, "lena@corp.example", "ticket.commented").len(), 1);
    // The inbox is not intrusive: it has the comment at once.
    let lena_inbox = inbox(&app, &lena_token, "").await;
    assert!(lena_inbox.iter().any(|m| m["event"] == "ticket.commented"));
}

#[tokio::test]
async fn the_inbox_lists_unread_messages_and_marks_them_read() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    for body in ["one", "two"] {
        expect_json(
            app.post(
                &format!("/api/v1/tickets/{}/comments", c.number),
                &c.alan,
                &json!({ "body": body, "internal": false }),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
    }
    let unread = inbox(&app, &c.rita, "?unread=true").await;
    assert_eq!(unread.len(), 3, "created + two comments: {unread:#?}");
    let first = unread[0]["id"].as_str().expect("id");
    let read = expect_json(
        app.post(
            &format!("/api/v1/me/inbox/{first}/read"),
            &c.rita,
            &json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(read["read_at"].is_string());
    assert_eq!(inbox(&app, &c.rita, "?unread=true").await.len(), 2);
    assert_eq!(inbox(&app, &c.rita, "").await.len(), 3);
    // Someone else's message is not there for Wendy.
    let other = app
        .post(
            &format!("/api/v1/me/inbox/{first}/read"),
            &c.wendy,
            &json!({}),
        )
        .await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    let all = expect_json(
        app.post("/api/v1/me/inbox/read-all", &c.rita, &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(all["marked"], 2);
    assert!(inbox(&app, &c.rita, "?unread=true").await.is_empty());
    let _ = c.rita_id;
}

#[tokio::test]
async fn sms_goes_to_the_gateway_as_a_twilio_form_and_a_refused_number_is_dead_lettered() {
    let gateway = FakeSmsGateway::default();
    let base = gateway.start().await;
    let app = spawn_app_with(|config| {
        config.notifications.sms_api_base_url = base.clone();
        config.notifications.sms_account_sid = "AC123".into();
        config.notifications.sms_auth_token = switchboard::config::Secret::new("tok");
        config.notifications.sms_from = "+15005550006".into();
    })
    .await;
    let c = cast(&app).await;
    let bad = patch_me(&app, &c.rita, json!({ "phone": "0151 1234" })).await;
    let problem = expect_json(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "phone");
    let me = expect_json(
        patch_me(
            &app,
            &c.rita,
            json!({ "phone": "+49 151 1234 5678", "notification_prefs": { "events": { "ticket.commented": ["sms"] } } }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["phone"], "+4915112345678");
    expect_json(
        patch_me(
            &app,
            &c.wendy,
            json!({ "phone": INVALID_NUMBER, "notification_prefs": { "events": { "ticket.commented": ["sms"] } } }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    public_comment_by_alan(&app, &c, "Technician on the way").await;
    app.dispatcher.drain().await.expect("drain");

    let received = gateway.received();
    assert_eq!(received.len(), 2, "{received:#?}");
    let rita = received
        .iter()
        .find(|s| s.fields["To"] == "+4915112345678")
        .expect("Rita's SMS");
    assert_eq!(rita.account, "AC123");
    assert_eq!(rita.fields["From"], "+15005550006");
    assert_eq!(
        rita.fields["Body"],
        format!("{} Alan Agent: Technician on the way", c.number)
    );
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("AC123:tok")
    );
    assert_eq!(rita.authorization, expected);
    let delivered = app.outbox("delivered").await;
    assert_eq!(
        to(&delivered, "+4915112345678", "ticket.commented").len(),
        1
    );
    let dead = app.outbox("dead").await;
    let refused = to(&dead, INVALID_NUMBER, "ticket.commented");
    assert_eq!(refused.len(), 1, "4xx is permanent: {dead:#?}");
    assert!(refused[0]["last_error"]
        .as_str()
        .expect("error")
        .contains("not a valid phone number"));
}

#[tokio::test]
async fn bad_preferences_and_defaults_are_refused_naming_the_place() {
    let app = spawn_app().await;
    let (_, token) = app
        .person_with_token("Alan Agent", "alan@corp.example", &["agent"])
        .await;
    let bad = patch_me(
        &app,
        &token,
        json!({ "time_zone": "Mars/Olympus", "notification_prefs": {
            "channels": { "pager": true }, "events": { "ticket.exploded": ["email"], "mention": ["fax"] },
            "quiet_hours": { "start": "22:00", "end": "7 am" } } }),
    )
    .await;
    let problem = expect_json(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    let messages: Vec<String> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            format!(
                "{}: {}",
                e["field"].as_str().unwrap_or(""),
                e["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    let all = messages.join("\n");
    for place in [
        "time_zone: `Mars/Olympus`",
        "notification_prefs.channels.pager: unknown channel",
        "notification_prefs.events.ticket.exploded: unknown event",
        "notification_prefs.events.mention: unknown channel \"fax\"",
        "notification_prefs.quiet_hours.end: expected a local time HH:MM",
    ] {
        assert!(all.contains(place), "`{place}` in:\n{all}");
    }

    let refused = app
        .send(
            Method::PUT,
            "/api/v1/organization/notification-defaults",
            &app.token,
            Some(&json!({ "routes": { "ticket.created": ["boss"] }, "quiet_hours": { "start": "22:00", "end": "22:00" } })),
        )
        .await;
    let problem = expect_json(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
    let text = problem.to_string();
    assert!(
        text.contains("notification_defaults.routes.ticket.created"),
        "{text}"
    );
    assert!(text.contains("notification_defaults.quiet_hours"), "{text}");
    let forbidden = app
        .send(
            Method::PUT,
            "/api/v1/organization/notification-defaults",
            &token,
            Some(&json!({})),
        )
        .await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn organization_defaults_route_ticket_events_and_switch_channels_off() {
    let app = spawn_app().await;
    let c = cast(&app).await;
    expect_json(
        app.send(
            Method::PUT,
            "/api/v1/organization/notification-defaults",
            &app.token,
            Some(&json!({ "routes": { "ticket.commented": ["requester"] }, "channels": { "email": false } })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let saved: Value = app
        .get_json("/api/v1/organization/notification-defaults", &app.token)
        .await;
    assert_eq!(saved["routes"]["ticket.commented"], json!(["requester"]));
    public_comment_by_alan(&app, &c, "Org defaults apply").await;
    let pending = app.outbox("pending").await;
    assert!(
        to(&pending, "rita@corp.example", "ticket.commented").is_empty(),
        "email off"
    );
    assert!(to(&pending, "wendy@corp.example", "ticket.commented").is_empty());
    assert!(inbox(&app, &c.rita, "")
        .await
        .iter()
        .any(|m| m["event"] == "ticket.commented"));
    assert!(
        !inbox(&app, &c.wendy, "")
            .await
            .iter()
            .any(|m| m["event"] == "ticket.commented"),
        "watchers are not routed any more"
    );
    // A person's own choice wins over the organization's.
    expect_json(
        patch_me(
            &app,
            &c.rita,
            json!({ "notification_prefs": { "channels": { "email": true } } }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    public_comment_by_alan(&app, &c, "Second").await;
    let pending = app.outbox("pending").await;
    assert_eq!(
        to(&pending, "rita@corp.example", "ticket.commented").len(),
        1
    );
}

#[tokio::test]
async fn a_template_override_naming_an_unknown_field_stops_the_start() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("ticket_commented.email_html.hbs"),
        "<p>{{ticket.number}} {{ticket.colour}}</p>",
    )
    .expect("write");
    let data = tempfile::tempdir().expect("data");
    let mut config = test_config(&fresh_database().await, data.path());
    config.notifications.templates_dir = dir.path().display().to_string();
    let error = match switchboard::app::Application::build(config, false).await {
        Ok(_) => panic!("the daemon started with a broken template"),
        Err(e) => format!("{e:#}"),
    };
    assert!(error.contains("ticket_commented.email_html.hbs"), "{error}");
    assert!(error.contains("colour"), "{error}");
}
