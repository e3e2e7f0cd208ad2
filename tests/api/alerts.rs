//! Alerts become incidents: integrations over the API, a real Alertmanager
//! delivering to the daemon (one incident per group, repeats and an HA
//! pair's double deliveries deduplicated, resolved when every alert has),
//! Events v2 trigger/acknowledge/resolve, generic JSON with a signature,
//! the reopen window, duplicate deliveries at once on two daemons, and
//! refusals that open nothing.

use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::{
    helpers::{
        error_fields, eventually, expect_json, fresh_database, spawn_app, spawn_on, TestApp,
    },
    support::{
        alertmanager::Alertmanager,
        console,
        discord::{self, spawn_discord_app, GUILD},
        slack::{self, spawn_slack_app, TEAM},
    },
};

async fn integration(app: &TestApp, body: Value) -> Value {
    expect_json(
        app.post("/api/v1/integrations", &app.token, &body).await,
        StatusCode::CREATED,
    )
    .await
}

async fn incidents(app: &TestApp) -> Vec<Value> {
    let page: Value = app
        .get_json("/api/v1/tickets?kind=incident&limit=100", &app.token)
        .await;
    page["items"].as_array().cloned().unwrap_or_default()
}

async fn alerts_of(app: &TestApp, number: &str) -> Vec<Value> {
    app.get_json(&format!("/api/v1/tickets/{number}/alerts"), &app.token)
        .await
}

async fn hook(app: &TestApp, url: &str, secret: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(url)
        .bearer_auth(secret)
        .json(body)
        .send()
        .await
        .expect("request sent")
}

fn notification(group: &str, alerts: Value) -> Value {
    json!({
        "version": "4", "groupKey": format!("{{}}:{{alertname=\"{group}\"}}"),
        "truncatedAlerts": 0, "status": "firing", "receiver": "switchboard",
        "groupLabels": {"alertname": group},
        "commonLabels": {"alertname": group, "severity": "critical"},
        "commonAnnotations": {"summary": "Disk almost full", "runbook_url": "https://runbooks.example/disk"},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": alerts,
    })
}

fn alert(fingerprint: &str, instance: &str, status: &str) -> Value {
    json!({
        "status": status, "fingerprint": fingerprint,
        "labels": {"alertname": "DiskFull", "instance": instance, "severity": "critical"},
        "annotations": {"summary": format!("{instance} disk at 95%"),
                        "runbook_url": "https://runbooks.example/disk"},
        "startsAt": "2026-12-07T08:00:00Z",
        "endsAt": if status == "resolved" { "2026-12-07T08:30:00Z" } else { "0001-01-01T00:00:00Z" },
        "generatorURL": "http://prometheus.example/graph?g0.expr=disk",
    })
}

#[tokio::test]
async fn integrations_are_created_with_a_secret_shown_once_changed_rotated_and_disabled() {
    let app = spawn_app().await;
    let am = integration(&app, json!({"name": "Prometheus", "kind": "alertmanager"})).await;
    let id = am["id"].as_str().expect("id");
    assert_eq!(
        am["url"],
        format!("http://127.0.0.1:8080/hooks/alertmanager/{id}")
    );
    let token = am["token"].as_str().expect("token shown once");
    assert!(token.starts_with("sbint_"));
    assert!(am.get("routing_key").is_none());
    let ev2 = integration(&app, json!({"name": "Grafana", "kind": "events_v2"})).await;
    assert_eq!(ev2["url"], "http://127.0.0.1:8080/v2/enqueue");
    assert_eq!(ev2["routing_key"].as_str().map(str::len), Some(32));

    let listed: Vec<Value> = app.get_json("/api/v1/integrations", &app.token).await;
    assert_eq!(listed.len(), 2);
    assert!(
        listed.iter().all(|i| i.get("token").is_none()),
        "{listed:?}"
    );

    // A bad kind, a generic one without pointers, an unknown team: named.
    let bad = app
        .post(
            "/api/v1/integrations",
            &app.token,
            &json!({"name": "x", "kind": "nagios"}),
        )
        .await;
    assert_eq!(
        error_fields(&expect_json(bad, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["kind"]
    );
    let bad = app
        .post(
            "/api/v1/integrations",
            &app.token,
            &json!({"name": "x", "kind": "generic"}),
        )
        .await;
    assert_eq!(
        error_fields(&expect_json(bad, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["settings.pointers"]
    );
    let bad = app
        .post(
            "/api/v1/integrations",
            &app.token,
            &json!({"name": "x", "kind": "alertmanager", "team": "Nobody"}),
        )
        .await;
    assert_eq!(
        error_fields(&expect_json(bad, StatusCode::UNPROCESSABLE_ENTITY).await),
        ["team"]
    );

    // A change merges into the mapping.
    let path = format!("/api/v1/integrations/{id}");
    let changed = expect_json(
        app.send(
            reqwest::Method::PATCH,
            &path,
            &app.token,
            Some(&json!({"settings": {"reopen_window_minutes": 5, "auto_resolve": false}})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(changed["settings"]["reopen_window_minutes"], 5);
    assert_eq!(changed["settings"]["auto_resolve"], false);
    assert_eq!(changed["settings"]["severity_label"], "severity");

    // The secret works; after rotation only the new one does.
    let url = app.url(&format!("/hooks/alertmanager/{id}"));
    let body = notification("DiskFull", json!([alert("aa1", "db1", "firing")]));
    assert_eq!(
        hook(&app, &url, token, &body).await.status(),
        StatusCode::OK
    );
    let rotated = expect_json(
        app.post(&format!("{path}/rotate-secret"), &app.token, &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let new_token = rotated["token"].as_str().expect("new token");
    assert_eq!(
        hook(&app, &url, token, &body).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        hook(&app, &url, new_token, &body).await.status(),
        StatusCode::OK
    );
    // Disabled: refused, its incident stays.
    expect_json(
        app.send(reqwest::Method::DELETE, &path, &app.token, None)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        hook(&app, &url, new_token, &body).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(incidents(&app).await.len(), 1);

    // Agents may not manage integrations.
    let (_, agent) = app
        .person_with_token("Ada Agent", "ada@example.com", &["agent"])
        .await;
    assert_eq!(
        app.get("/api/v1/integrations", &agent).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn an_alertmanager_group_is_one_incident_that_resolves_when_every_alert_has() {
    alert_group_story(&spawn_app().await).await;
}

/// Also run on SQLite (tests/api/sqlite.rs).
pub async fn alert_group_story(app: &TestApp) {
    expect_json(
        app.post("/api/v1/teams", &app.token, &json!({"name": "SRE"}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let am = integration(
        app,
        json!({"name": "Prometheus", "kind": "alertmanager", "team": "SRE"}),
    )
    .await;
    let url = app.url(&format!(
        "/hooks/alertmanager/{}",
        am["id"].as_str().expect("id")
    ));
    let secret = am["token"].as_str().expect("token");

    let firing = notification(
        "DiskFull",
        json!([alert("aa1", "db1", "firing"), alert("bb2", "db2", "firing")]),
    );
    let answer = expect_json(hook(app, &url, secret, &firing).await, StatusCode::OK).await;
    assert_eq!(answer["action"], "opened");
    let number = answer["incident"].as_str().expect("incident").to_string();
    let ticket = app.ticket(&number).await;
    assert_eq!(ticket["title"], "DiskFull: Disk almost full");
    assert_eq!(
        ticket["priority"], "p1",
        "critical is high impact and urgency"
    );
    assert_eq!(ticket["channel"], "alert");
    assert_eq!(ticket["team"]["name"], "SRE");
    assert!(ticket["description"]
        .as_str()
        .is_some_and(|d| d.contains("runbook_url: https://runbooks.example/disk")));
    let created_notes = app
        .outbox("pending")
        .await
        .iter()
        .filter(|m| m["event"] == "ticket.created")
        .count();

    // The same notification again (a repeat, the other Alertmanager of a
    // pair): nothing new, nobody told again.
    for _ in 0..3 {
        let again = expect_json(hook(app, &url, secret, &firing).await, StatusCode::OK).await;
        assert_eq!(again["action"], "joined");
        assert_eq!(again["incident"], number.as_str());
    }
    assert_eq!(incidents(app).await.len(), 1);
    let notes = app.outbox("pending").await;
    assert_eq!(
        notes
            .iter()
            .filter(|m| m["event"] == "ticket.created")
            .count(),
        created_notes
    );
    assert_eq!(app.activity_where(&number, "alerts_changed").await.len(), 1);

    // One resolves; the truncated next one leaves the absent alert alone.
    let mut partly = notification("DiskFull", json!([alert("aa1", "db1", "resolved")]));
    partly["truncatedAlerts"] = json!(1);
    let answer = expect_json(hook(app, &url, secret, &partly).await, StatusCode::OK).await;
    assert_eq!(
        (answer["firing"].clone(), answer["resolved"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(app.ticket(&number).await["state"], "new");
    let alerts = alerts_of(app, &number).await;
    let db2 = alerts
        .iter()
        .find(|a| a["fingerprint"] == "bb2")
        .expect("db2 alert");
    assert_eq!(db2["status"], "firing");
    assert_eq!(db2["labels"]["instance"], "db2");
    assert_eq!(
        db2["generator_url"],
        "http://prometheus.example/graph?g0.expr=disk"
    );

    // The last one resolves: so does the incident, saying why.
    let done = notification("DiskFull", json!([alert("bb2", "db2", "resolved")]));
    let answer = expect_json(hook(app, &url, secret, &done).await, StatusCode::OK).await;
    assert_eq!(answer["action"], "resolved");
    assert_eq!(app.ticket(&number).await["state"], "resolved");
    assert_eq!(
        app.activity_where(&number, "alerts_resolved").await.len(),
        1
    );
    let comments = app.comments(&number).await;
    assert!(
        comments.iter().any(|c| c["body"]
            .as_str()
            .is_some_and(|b| b.contains("All 2 alerts of this incident have resolved"))),
        "{comments:?}"
    );

    // It fires again within the reopen window: the same incident reopens.
    let answer = expect_json(hook(app, &url, secret, &firing).await, StatusCode::OK).await;
    assert_eq!(answer["action"], "reopened");
    assert_eq!(answer["incident"], number.as_str());
    assert_eq!(app.ticket(&number).await["state"], "in_progress");
    // Resolved again and past the window: a new incident opens.
    let both_done = notification(
        "DiskFull",
        json!([
            alert("aa1", "db1", "resolved"),
            alert("bb2", "db2", "resolved")
        ]),
    );
    hook(app, &url, secret, &both_done).await;
    assert_eq!(app.ticket(&number).await["state"], "resolved");
    app.pass(chrono::Duration::minutes(61)).await;
    let answer = expect_json(hook(app, &url, secret, &firing).await, StatusCode::OK).await;
    assert_eq!(answer["action"], "opened");
    assert_ne!(answer["incident"], number.as_str());
    assert_eq!(incidents(app).await.len(), 2);
}

#[tokio::test]
async fn wrong_secrets_and_bad_bodies_are_refused_and_open_nothing() {
    let app = spawn_app().await;
    let am = integration(&app, json!({"name": "Prometheus", "kind": "alertmanager"})).await;
    let id = am["id"].as_str().expect("id");
    let url = app.url(&format!("/hooks/alertmanager/{id}"));
    let secret = am["token"].as_str().expect("token");
    let body = notification("DiskFull", json!([alert("aa1", "db1", "firing")]));

    assert_eq!(
        hook(&app, &url, "sbint_wrong", &body).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let unsigned = app
        .client
        .post(&url)
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    let elsewhere = app.url(&format!("/hooks/alertmanager/{}", uuid::Uuid::nil()));
    assert_eq!(
        hook(&app, &elsewhere, secret, &body).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The Alertmanager secret on the generic endpoint: not its kind.
    let generic = app.url(&format!("/hooks/generic/{id}"));
    assert_eq!(
        hook(&app, &generic, secret, &body).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let broken = app
        .client
        .post(&url)
        .bearer_auth(secret)
        .header("content-type", "application/json")
        .body("{\"version\": \"4\", ")
        .send()
        .await
        .expect("sent");
    let problem = expect_json(broken, StatusCode::BAD_REQUEST).await;
    assert_eq!(problem["code"], "bad_request");
    let mut old = body.clone();
    old["version"] = json!("3");
    assert_eq!(
        hook(&app, &url, secret, &old).await.status(),
        StatusCode::BAD_REQUEST
    );
    // Basic auth (Alertmanager's basic_auth) carries the secret as password.
    assert!(incidents(&app).await.is_empty());
    let basic = app
        .client
        .post(&url)
        .basic_auth("alertmanager", Some(secret))
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert_eq!(basic.status(), StatusCode::OK);
    assert_eq!(incidents(&app).await.len(), 1);
}

#[tokio::test]
async fn events_v2_trigger_acknowledge_and_resolve_like_pagerduty() {
    let app = spawn_app().await;
    expect_json(
        app.post(
            "/api/v1/escalation-policies",
            &app.token,
            &json!({ "name": "page", "selector": { "kinds": ["change"] }, "steps": [
                { "after_minutes": 10, "actions": [{ "type": "raise_priority" }] } ] }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let ev2 = integration(
        &app,
        json!({"name": "Grafana", "kind": "events_v2", "escalation_policy": "page"}),
    )
    .await;
    let key = ev2["routing_key"].as_str().expect("routing key");
    let enqueue = |body: Value| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/v2/enqueue"))
                .json(&body)
                .send()
                .await
                .expect("sent")
        }
    };
    let trigger = json!({
        "routing_key": key, "event_action": "trigger",
        "payload": {"summary": "API latency above 2 s", "source": "api-1", "severity": "error",
                    "custom_details": {"p99": "2.4s", "service": "checkout"}},
        "links": [{"href": "https://grafana.example/d/api", "text": "Dashboard"}],
        "client": "Grafana", "client_url": "https://grafana.example",
    });
    // Without a dedup_key one is made and answered.
    let answer = expect_json(enqueue(trigger.clone()).await, StatusCode::ACCEPTED).await;
    assert_eq!(answer["status"], "success");
    assert_eq!(answer["message"], "Event processed");
    let made = answer["dedup_key"].as_str().expect("dedup key").to_string();
    assert!(!made.is_empty());
    // With one, repeats are the same incident.
    let mut keyed = trigger.clone();
    keyed["dedup_key"] = json!("checkout-latency");
    keyed["payload"]["summary"] = json!("Checkout latency above 2 s");
    for _ in 0..2 {
        let answer = expect_json(enqueue(keyed.clone()).await, StatusCode::ACCEPTED).await;
        assert_eq!(answer["dedup_key"], "checkout-latency");
    }
    let all = incidents(&app).await;
    assert_eq!(all.len(), 2, "one per dedup key");
    let ticket = all
        .iter()
        .find(|t| t["title"] == "API latency above 2 s")
        .expect("incident");
    let number = ticket["number"].as_str().expect("number").to_string();
    assert_eq!(
        ticket["priority"], "p2",
        "error is high impact, medium urgency"
    );
    let escalation: Value = app
        .get_json(&format!("/api/v1/tickets/{number}/escalation"), &app.token)
        .await;
    assert_eq!(
        escalation["policy_name"], "page",
        "the integration's policy"
    );
    assert_eq!(escalation["active"], true);

    // Acknowledge stops the escalation; resolve resolves.
    let answer = expect_json(
        enqueue(json!({"routing_key": key, "event_action": "acknowledge", "dedup_key": made}))
            .await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(answer["dedup_key"], made.as_str());
    let escalation: Value = app
        .get_json(&format!("/api/v1/tickets/{number}/escalation"), &app.token)
        .await;
    assert_eq!(escalation["active"], false);
    assert!(escalation["acknowledged_at"].is_string());
    expect_json(
        enqueue(json!({"routing_key": key, "event_action": "resolve", "dedup_key": made})).await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(app.ticket(&number).await["state"], "resolved");
    let alerts = alerts_of(&app, &number).await;
    assert_eq!(alerts[0]["status"], "resolved");
    assert_eq!(
        alerts[0]["summary"], "API latency above 2 s",
        "kept from the trigger"
    );
    // A resolve of a key nobody triggered is taken and does nothing.
    expect_json(
        enqueue(json!({"routing_key": key, "event_action": "resolve", "dedup_key": "never"})).await,
        StatusCode::ACCEPTED,
    )
    .await;

    // Refusals: 400 for what is not an event, 401 for an unknown key.
    let invalid = expect_json(
        enqueue(
            json!({"routing_key": key, "event_action": "trigger", "payload": {"summary": "x"}}),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(invalid["status"], "invalid event");
    assert_eq!(invalid["errors"].as_array().map(Vec::len), Some(2));
    let no_key = expect_json(
        enqueue(json!({"routing_key": key, "event_action": "resolve"})).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(no_key["errors"][0]
        .as_str()
        .is_some_and(|e| e.contains("dedup_key")));
    let unknown = enqueue(json!({"routing_key": "0123456789abcdef0123456789abcdef",
                                 "event_action": "trigger"}))
    .await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let not_json = app
        .client
        .post(app.url("/v2/enqueue"))
        .body("routing_key=x")
        .send()
        .await
        .expect("sent");
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        incidents(&app).await.len(),
        2,
        "nothing refused opened anything"
    );
}

#[tokio::test]
async fn events_v2_over_the_rate_limit_get_429() {
    let app = spawn_app().await;
    let ev2 = integration(
        &app,
        json!({"name": "Zabbix", "kind": "events_v2", "settings": {"rate_limit_per_minute": 3}}),
    )
    .await;
    let key = ev2["routing_key"].as_str().expect("routing key");
    let mut statuses = Vec::new();
    for i in 0..5 {
        let body = json!({"routing_key": key, "event_action": "trigger", "dedup_key": format!("k{i}"),
                          "payload": {"summary": "x", "source": "zbx", "severity": "info"}});
        let response = app
            .client
            .post(app.url("/v2/enqueue"))
            .json(&body)
            .send()
            .await
            .expect("sent");
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [202, 202, 202, 429, 429]);
    assert_eq!(incidents(&app).await.len(), 3);
}

#[tokio::test]
async fn generic_json_is_read_through_pointers_and_may_be_signed() {
    let app = spawn_app().await;
    let secret = "0123456789abcdef-signing";
    let generic = integration(
        &app,
        json!({"name": "Uptime Kuma", "kind": "generic", "settings": {
            "pointers": {"title": "/monitor/name", "dedup_key": "/monitor/id",
                         "status": "/heartbeat/status", "resolved_value": "up",
                         "severity": "/level", "description": "/msg"},
            "signature": {"header": "X-Signature", "secret": secret}}}),
    )
    .await;
    let url = app.url(&format!(
        "/hooks/generic/{}",
        generic["id"].as_str().expect("id")
    ));
    let token = generic["token"].as_str().expect("token");
    let down = json!({"monitor": {"name": "Website", "id": 7}, "heartbeat": {"status": "down"},
                      "level": "critical", "msg": "HTTP 502 from https://www.example.com"});
    let answer = expect_json(hook(&app, &url, token, &down).await, StatusCode::OK).await;
    assert_eq!(answer["action"], "opened");
    let number = answer["incident"].as_str().expect("incident").to_string();
    let ticket = app.ticket(&number).await;
    assert_eq!(ticket["title"], "Website");
    assert!(ticket["description"]
        .as_str()
        .is_some_and(|d| d.contains("HTTP 502")));

    // Signed instead of bearer: the same alert, now up.
    let up = json!({"monitor": {"name": "Website", "id": 7}, "heartbeat": {"status": "UP"}});
    let bytes = serde_json::to_vec(&up).expect("json");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(&bytes);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let signed = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .header("x-signature", &signature)
        .body(bytes.clone())
        .send()
        .await
        .expect("sent");
    let answer = expect_json(signed, StatusCode::OK).await;
    assert_eq!(answer["action"], "resolved");
    assert_eq!(app.ticket(&number).await["state"], "resolved");

    let forged = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .header("x-signature", "sha256=00ff")
        .body(bytes)
        .send()
        .await
        .expect("sent");
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let untitled = hook(&app, &url, token, &json!({"monitor": {}})).await;
    let problem = expect_json(untitled, StatusCode::BAD_REQUEST).await;
    assert!(problem["detail"]
        .as_str()
        .is_some_and(|d| d.contains("/monitor/name")));
    assert_eq!(incidents(&app).await.len(), 1);
}

#[tokio::test]
async fn duplicate_deliveries_at_once_on_two_daemons_give_one_incident_and_one_notification() {
    let url = fresh_database().await;
    let a = spawn_on(&url, false, |_| {}).await;
    let b = spawn_on(&url, false, |_| {}).await;
    let am = integration(&a, json!({"name": "Prometheus", "kind": "alertmanager"})).await;
    let id = am["id"].as_str().expect("id");
    let secret = am["token"].as_str().expect("token").to_string();
    let body = notification(
        "DiskFull",
        json!([alert("aa1", "db1", "firing"), alert("bb2", "db2", "firing")]),
    );
    let urls: Vec<(&TestApp, String)> = (0..16)
        .map(|i| {
            let app = if i % 2 == 0 { &a } else { &b };
            (app, app.url(&format!("/hooks/alertmanager/{id}")))
        })
        .collect();
    let sends = urls.iter().map(|(app, url)| hook(app, url, &secret, &body));
    let answers = futures::future::join_all(sends).await;
    assert!(answers.iter().all(|r| r.status() == StatusCode::OK));
    let all = incidents(&a).await;
    assert_eq!(all.len(), 1, "{all:?}");
    let number = all[0]["number"].as_str().expect("number");
    assert_eq!(alerts_of(&a, number).await.len(), 2);
    let created: Vec<Value> = a
        .outbox("pending")
        .await
        .into_iter()
        .filter(|m| m["event"] == "ticket.created")
        .collect();
    let by_channel = |c: &str| created.iter().filter(|m| m["channel"] == c).count();
    assert!(
        by_channel("webhook") <= 1 && by_channel("email") <= 1,
        "{created:?}"
    );
    assert_eq!(a.activity_where(number, "created").await.len(), 1);
}

#[tokio::test]
async fn a_real_alertmanager_opens_one_incident_per_group_and_resolves_it() {
    let app = spawn_app().await;
    let am = integration(&app, json!({"name": "Prometheus", "kind": "alertmanager"})).await;
    let hook_url = app.url(&format!(
        "/hooks/alertmanager/{}",
        am["id"].as_str().expect("id")
    ));
    let secret = am["token"].as_str().expect("token").to_string();
    // Listed twice: every notification arrives twice, as from an HA pair.
    let manager =
        Alertmanager::start(&[(hook_url.clone(), secret.clone()), (hook_url, secret)]).await;
    let now = chrono::Utc::now();
    let fire = |instance: &str, ends: Option<chrono::DateTime<chrono::Utc>>| {
        let mut a = json!({
            "labels": {"alertname": "DiskFull", "instance": instance, "severity": "warning"},
            "annotations": {"summary": format!("{instance} disk at 95%")},
            "startsAt": (now - chrono::Duration::minutes(5)).to_rfc3339(),
            "generatorURL": "http://prometheus.example/graph",
        });
        if let Some(ends) = ends {
            a["endsAt"] = json!(ends.to_rfc3339());
        }
        a
    };
    manager
        .post_alerts(&json!([fire("db1", None), fire("db2", None)]))
        .await;
    manager
        .post_alerts(&json!([{
            "labels": {"alertname": "HighLatency", "service": "api", "severity": "critical"},
            "annotations": {"summary": "p99 above 2 s"},
        }]))
        .await;

    let two_groups = eventually(Duration::from_secs(30), || async {
        let all = incidents(&app).await;
        all.len() == 2
            && match all.iter().find(|t| {
                t["title"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("DiskFull"))
            }) {
                Some(t) => {
                    let number = t["number"].as_str().unwrap_or_default();
                    alerts_of(&app, number).await.len() == 2
                }
                None => false,
            }
    })
    .await;
    assert!(
        two_groups,
        "one incident per group: {:?}",
        incidents(&app).await
    );
    // Posted again (Prometheus re-sends while an alert fires): no new incident.
    manager
        .post_alerts(&json!([fire("db1", None), fire("db2", None)]))
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = incidents(&app).await;
    assert_eq!(all.len(), 2, "{all:?}");
    let disk = all
        .iter()
        .find(|t| {
            t["title"]
                .as_str()
                .is_some_and(|s| s.starts_with("DiskFull"))
        })
        .expect("disk incident");
    let number = disk["number"].as_str().expect("number").to_string();
    assert_eq!(
        disk["priority"], "p3",
        "warning is medium impact and urgency"
    );

    // Both resolve: Alertmanager sends the resolution; the incident resolves.
    let ended = Some(chrono::Utc::now() - chrono::Duration::seconds(1));
    manager
        .post_alerts(&json!([fire("db1", ended), fire("db2", ended)]))
        .await;
    let resolved = eventually(Duration::from_secs(30), || async {
        app.ticket(&number).await["state"] == "resolved"
    })
    .await;
    assert!(resolved, "{:?}", alerts_of(&app, &number).await);
    assert_eq!(
        app.activity_where(&number, "alerts_resolved").await.len(),
        1
    );
    let latency = all
        .iter()
        .find(|t| {
            t["title"]
                .as_str()
                .is_some_and(|s| s.starts_with("HighLatency"))
        })
        .expect("latency incident");
    let latency = latency["number"].as_str().expect("number");
    assert_ne!(app.ticket(latency).await["state"], "resolved");
}

#[tokio::test]
async fn the_slack_card_shows_the_alert_and_acknowledge_stops_the_escalation() {
    let (app, fake, base) = spawn_slack_app().await;
    let (agent, _) = app
        .person_with_token("Al Agent", "al@example.com", &["agent"])
        .await;
    let agent_id = agent["id"].as_str().expect("id").to_string();
    app.link_identity(&agent_id, "slack", TEAM, "UAGENT").await;
    app.team_with_channel("SRE", &[json!(agent_id)], "#sre-triage")
        .await;
    expect_json(
        app.post(
            "/api/v1/escalation-policies",
            &app.token,
            &json!({ "name": "page", "selector": { "kinds": ["change"] }, "steps": [
                { "after_minutes": 10, "actions": [{ "type": "raise_priority" }] } ] }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let am = integration(
        &app,
        json!({"name": "Prometheus", "kind": "alertmanager", "team": "SRE",
               "escalation_policy": "page"}),
    )
    .await;
    let url = app.url(&format!(
        "/hooks/alertmanager/{}",
        am["id"].as_str().expect("id")
    ));
    let firing = notification(
        "DiskFull",
        json!([alert("aa1", "db1", "firing"), alert("bb2", "db2", "firing")]),
    );
    let answer = expect_json(
        hook(&app, &url, am["token"].as_str().expect("token"), &firing).await,
        StatusCode::OK,
    )
    .await;
    let number = answer["incident"].as_str().expect("incident").to_string();
    app.dispatcher.drain().await.expect("deliver");

    let cards = fake.posted_to("sre-triage");
    assert_eq!(cards.len(), 1, "one card: {cards:?}");
    let card = cards[0]["blocks"].to_string();
    for shown in [
        "2* firing · 0 resolved",
        "`severity=critical`",
        "https://runbooks.example/disk|Runbook",
        "http://prometheus.example/graph?g0.expr=disk|Source",
        "alert_ack",
        "alert_silence",
    ] {
        assert!(card.contains(shown), "{shown} on the card: {card}");
    }

    // Acknowledge, clicked in Slack: the escalation stops and the card
    // that was clicked says so, without the button.
    let click = slack::click(
        "UAGENT",
        "trig-ack",
        "alert_ack",
        &number,
        &format!("{base}/response/ack1"),
    );
    assert_eq!(
        app.post_slack_interaction(click).await.status(),
        StatusCode::OK
    );
    assert!(fake.responded("ack1").await);
    let replaced = &fake.responses("ack1")[0];
    assert_eq!(replaced["replace_original"], true);
    let blocks = replaced["blocks"].to_string();
    assert!(blocks.contains("acknowledged"), "{blocks}");
    assert!(!blocks.contains("alert_ack"), "{blocks}");
    assert!(blocks.contains("alert_silence"), "{blocks}");
    let escalation: Value = app
        .get_json(&format!("/api/v1/tickets/{number}/escalation"), &app.token)
        .await;
    assert_eq!(escalation["active"], false);
    app.pass(chrono::Duration::minutes(11)).await;
    assert!(app.activity_where(&number, "escalated").await.is_empty());
    assert_eq!(app.ticket(&number).await["priority"], "p1");

    // Silence: for an hour the group's firings reopen nothing.
    let click = slack::click(
        "UAGENT",
        "trig-silence",
        "alert_silence",
        &number,
        &format!("{base}/response/silence1"),
    );
    assert_eq!(
        app.post_slack_interaction(click).await.status(),
        StatusCode::OK
    );
    assert!(fake.responded("silence1").await);
    assert!(fake.responses("silence1")[0]["blocks"]
        .to_string()
        .contains("silenced until"));
    let done = notification(
        "DiskFull",
        json!([
            alert("aa1", "db1", "resolved"),
            alert("bb2", "db2", "resolved")
        ]),
    );
    let token = am["token"].as_str().expect("token");
    hook(&app, &url, token, &done).await;
    assert_eq!(app.ticket(&number).await["state"], "resolved");
    let again = expect_json(hook(&app, &url, token, &firing).await, StatusCode::OK).await;
    assert_eq!(again["action"], "joined", "silenced: not reopened");
    assert_eq!(app.ticket(&number).await["state"], "resolved");
}

#[tokio::test]
async fn labels_map_to_category_and_ci_flapping_stays_open_and_quiet_groups_resolve() {
    let app = spawn_app().await;
    expect_json(
        app.post(
            "/api/v1/categories",
            &app.token,
            &json!({"name": "Storage"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    expect_json(
        app.post(
            "/api/v1/cmdb/cis",
            &app.token,
            &json!({"class": "service", "name": "db1.example"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let am = integration(
        &app,
        json!({"name": "Prometheus", "kind": "alertmanager",
               "settings": {"category_label": "area", "flap_opens": 3}}),
    )
    .await;
    let url = app.url(&format!(
        "/hooks/alertmanager/{}",
        am["id"].as_str().expect("id")
    ));
    let secret = am["token"].as_str().expect("token");
    let mut firing = notification("DiskFull", json!([alert("aa1", "db1.example", "firing")]));
    firing["commonLabels"]["instance"] = json!("db1.example");
    firing["commonLabels"]["area"] = json!("Storage");
    let mut resolved = firing.clone();
    resolved["alerts"] = json!([alert("aa1", "db1.example", "resolved")]);

    let answer = expect_json(hook(&app, &url, secret, &firing).await, StatusCode::OK).await;
    let number = answer["incident"].as_str().expect("incident").to_string();
    assert_eq!(app.ticket(&number).await["category"], "Storage");
    let cis: Vec<Value> = app
        .get_json(&format!("/api/v1/tickets/{number}/cis"), &app.token)
        .await;
    assert_eq!(cis.len(), 1, "{cis:?}");
    assert_eq!(cis[0]["name"], "db1.example");

    // Resolved and fired again twice more: the third opening flaps, so
    // the next resolution leaves the incident open.
    for round in 0..2 {
        let answer = expect_json(hook(&app, &url, secret, &resolved).await, StatusCode::OK).await;
        assert_eq!(answer["action"], "resolved", "round {round}");
        app.pass(chrono::Duration::minutes(2)).await;
        let answer = expect_json(hook(&app, &url, secret, &firing).await, StatusCode::OK).await;
        assert_eq!(answer["action"], "reopened", "round {round}");
    }
    let answer = expect_json(hook(&app, &url, secret, &resolved).await, StatusCode::OK).await;
    assert_eq!(answer["action"], "joined");
    assert_eq!(app.ticket(&number).await["state"], "in_progress");
    assert_eq!(
        app.activity_where(&number, "alerts_flapping").await.len(),
        1
    );
    assert_eq!(
        incidents(&app).await.len(),
        1,
        "a flapping group is one incident"
    );

    // An integration that resolves after 30 quiet minutes.
    let quiet = integration(
        &app,
        json!({"name": "Heartbeats", "kind": "alertmanager",
               "settings": {"resolve_after_quiet_minutes": 30}}),
    )
    .await;
    let url = app.url(&format!(
        "/hooks/alertmanager/{}",
        quiet["id"].as_str().expect("id")
    ));
    let secret = quiet["token"].as_str().expect("token");
    let beat = notification("NoHeartbeat", json!([alert("hb1", "web1", "firing")]));
    let answer = expect_json(hook(&app, &url, secret, &beat).await, StatusCode::OK).await;
    let number = answer["incident"].as_str().expect("incident").to_string();
    app.pass(chrono::Duration::minutes(20)).await;
    // An event resets the clock.
    hook(&app, &url, secret, &beat).await;
    app.pass(chrono::Duration::minutes(20)).await;
    assert_eq!(app.ticket(&number).await["state"], "new");
    app.pass(chrono::Duration::minutes(11)).await;
    assert_eq!(app.ticket(&number).await["state"], "resolved");
    assert!(app.comments(&number).await.iter().any(|c| c["body"]
        .as_str()
        .is_some_and(|b| b.contains("No alert of this incident for 30 minutes"))));
}

#[tokio::test]
async fn the_discord_card_shows_the_alert_and_its_buttons_acknowledge_and_silence() {
    const TRIAGE: &str = "1300000000000000888";
    const AGENT: &str = "3000000000000000070";
    let (app, fake) = spawn_discord_app().await;
    let (agent, _) = app
        .person_with_token("Al Agent", "al@example.com", &["agent"])
        .await;
    let agent_id = agent["id"].as_str().expect("id").to_string();
    app.link_identity(&agent_id, "discord", GUILD, AGENT).await;
    app.team_with_channel("SRE", &[json!(agent_id)], TRIAGE)
        .await;
    let am = integration(
        &app,
        json!({"name": "Prometheus", "kind": "alertmanager", "team": "SRE"}),
    )
    .await;
    let url = app.url(&format!(
        "/hooks/alertmanager/{}",
        am["id"].as_str().expect("id")
    ));
    let firing = notification("DiskFull", json!([alert("aa1", "db1", "firing")]));
    let answer = expect_json(
        hook(&app, &url, am["token"].as_str().expect("token"), &firing).await,
        StatusCode::OK,
    )
    .await;
    let number = answer["incident"].as_str().expect("incident").to_string();
    app.dispatcher.drain().await.expect("deliver");
    let (card_id, card) = fake.posted_in(TRIAGE).into_iter().next().expect("card");
    let shown = card.to_string();
    for expected in [
        "1 firing · 0 resolved",
        "[Runbook](https://runbooks.example/disk)",
        format!("alert_ack:{number}").as_str(),
        format!("silence:{number}").as_str(),
    ] {
        assert!(shown.contains(expected), "{expected} on the card: {shown}");
    }

    let click = |id: &str, custom_id: String| {
        discord::click(
            id,
            AGENT,
            true,
            &custom_id,
            discord::message(&card_id, TRIAGE, ""),
        )
    };
    let acked = app
        .discord_answer(&click("2000000000000000070", format!("alert_ack:{number}")))
        .await;
    assert_eq!(acked["type"], 7, "the card is edited: {acked}");
    let embeds = acked["data"]["embeds"].to_string();
    assert!(embeds.contains("acknowledged"), "{embeds}");
    assert!(!acked["data"]["components"]
        .to_string()
        .contains("alert_ack"));
    // Without an escalation policy too: the acknowledgement is the incident's.
    let acked = app.activity_where(&number, "alerts_acknowledged").await;
    assert_eq!(acked.len(), 1);
    assert_eq!(acked[0]["channel"], "discord");
    let silenced = app
        .discord_answer(&click("2000000000000000071", format!("silence:{number}")))
        .await;
    assert!(silenced["data"]["embeds"]
        .to_string()
        .contains("silenced until"));
    let activity = app.activity_where(&number, "alerts_silenced").await;
    assert_eq!(activity.len(), 1);
    assert_eq!(activity[0]["channel"], "discord");
}

#[tokio::test]
async fn the_console_shows_an_alert_incidents_alerts_and_acknowledges_like_chat() {
    let app = spawn_app().await;
    let am = integration(&app, json!({"name": "Prometheus", "kind": "alertmanager"})).await;
    let url = app.url(&format!(
        "/hooks/alertmanager/{}",
        am["id"].as_str().expect("id")
    ));
    let firing = notification(
        "DiskFull",
        json!([
            alert("aa1", "db1", "firing"),
            alert("bb2", "db2", "resolved")
        ]),
    );
    let answer = expect_json(
        hook(&app, &url, am["token"].as_str().expect("token"), &firing).await,
        StatusCode::OK,
    )
    .await;
    let number = answer["incident"].as_str().expect("incident").to_string();
    let agent = console::agent(&app).await;
    let path = format!("/console/tickets/{number}");
    let page = agent.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    for shown in [
        "<h2 id=\"alerts-heading\">Alerts</h2>",
        "<strong>1</strong> firing · 1 resolved",
        "db1 disk at 95%",
        "href=\"https://runbooks.example/disk\"",
        "/alerts/acknowledge",
    ] {
        assert!(page.html.contains(shown), "{shown} on the page");
    }
    let done = agent
        .submit(&path, &format!("{path}/alerts/acknowledge"), &[])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let acked = app.activity_where(&number, "alerts_acknowledged").await;
    assert_eq!(acked.len(), 1);
    assert_eq!(acked[0]["channel"], "web");
    let page = agent.get(&path).await;
    assert!(page.html.contains("acknowledged <time"));
    assert!(!page.html.contains("/alerts/acknowledge"));
    // A ticket not opened by an alert shows no alerts panel.
    let other = app.create_ticket("incident", "Printer on fire").await;
    let page = agent
        .get(&format!(
            "/console/tickets/{}",
            other["number"].as_str().expect("number")
        ))
        .await;
    assert!(!page.html.contains("alerts-heading"));
}
