//! Slack, driven as Slack drives it: signed events, commands and
//! interactions in Slack's formats, and a fake Web API that records what
//! the daemon posts. Covers signatures, direct-message intake with retries
//! deduplicated, thread sync both ways, the triage card updated in place,
//! `/ticket`, approvals by button (refused for non-approvers and second
//! clicks), modal validation and 429s.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{
    helpers::{expect_json, spawn_app_with, TestApp},
    support::slack::{self, FakeSlack, SECRET, TEAM},
};

async fn slack_app() -> (TestApp, FakeSlack, String) {
    let fake = FakeSlack::default();
    let base = fake.start().await;
    let api = base.clone();
    let app = spawn_app_with(move |c| {
        c.slack.signing_secret = switchboard::config::Secret::new(SECRET);
        c.slack.bot_token = switchboard::config::Secret::new("xoxb-test");
        c.slack.api_base_url = api;
        c.slack.max_calls_per_second = 1000;
    })
    .await;
    (app, fake, base)
}

async fn post_signed(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: &str,
    at: i64,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(path))
        .header("content-type", content_type)
        .body(body.to_string());
    for (name, value) in slack::signed(at, body) {
        request = request.header(name, value);
    }
    request.send().await.expect("request sent")
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn send_event(app: &TestApp, body: &str) -> reqwest::Response {
    post_signed(app, "/slack/events", "application/json", body, now()).await
}

async fn send_interaction(app: &TestApp, payload: Value) -> reqwest::Response {
    post_signed(
        app,
        "/slack/interactions",
        "application/x-www-form-urlencoded",
        &slack::interaction(payload),
        now(),
    )
    .await
}

async fn tickets(app: &TestApp) -> Vec<Value> {
    let list: Value = app.get_json("/api/v1/tickets", &app.token).await;
    list["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn forged_stale_or_unsigned_requests_get_401_and_change_nothing() {
    let (app, _fake, _) = slack_app().await;
    let body = slack::event(
        "Ev1",
        slack::direct_message("U1", "printer on fire", "1.1", None),
    );
    let stale = post_signed(
        &app,
        "/slack/events",
        "application/json",
        &body,
        now() - 600,
    )
    .await;
    assert_eq!(stale.status(), StatusCode::UNAUTHORIZED);
    let forged = app
        .client
        .post(app.url("/slack/events"))
        .header("x-slack-request-timestamp", now().to_string())
        .header("x-slack-signature", "v0=00ff")
        .body(body.clone())
        .send()
        .await
        .expect("sent");
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let unsigned = app
        .client
        .post(app.url("/slack/commands"))
        .body("command=%2Fticket&text=hello")
        .send()
        .await
        .expect("sent");
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    // Signed for another body: the body was altered on the way.
    let mut altered = app
        .client
        .post(app.url("/slack/events"))
        .body(body.replace("fire", "ice"));
    for (name, value) in slack::signed(now(), &body) {
        altered = altered.header(name, value);
    }
    assert_eq!(
        altered.send().await.expect("sent").status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(tickets(&app).await.is_empty());
    let people: Vec<Value> = app.get_json("/api/v1/people", &app.token).await;
    assert!(
        people.iter().all(|p| p["name"] != "U1"),
        "no contact was created"
    );

    let challenge = send_event(
        &app,
        r#"{"type":"url_verification","token":"t","challenge":"abc123"}"#,
    )
    .await;
    assert_eq!(challenge.status(), StatusCode::OK);
    assert_eq!(
        challenge.json::<Value>().await.expect("json")["challenge"],
        "abc123"
    );
    let malformed = send_event(&app, "{not json").await;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_direct_message_opens_one_ticket_and_the_thread_syncs_both_ways() {
    let (app, fake, _) = slack_app().await;
    let body = slack::event(
        "Ev100",
        slack::direct_message(
            "UREQ",
            "VPN keeps dropping\nSince this morning, every 10 minutes.",
            "1700000001.000100",
            None,
        ),
    );
    assert_eq!(send_event(&app, &body).await.status(), StatusCode::OK);
    // Slack retries the same event (e.g. our answer was slow): nothing new.
    let retry = app
        .client
        .post(app.url("/slack/events"))
        .header("x-slack-retry-num", "1")
        .header("x-slack-retry-reason", "http_timeout");
    let mut retry = retry.body(body.clone());
    for (name, value) in slack::signed(now(), &body) {
        retry = retry.header(name, value);
    }
    assert_eq!(retry.send().await.expect("sent").status(), StatusCode::OK);
    let all = tickets(&app).await;
    assert_eq!(all.len(), 1);
    let ticket = &all[0];
    let number = ticket["number"].as_str().expect("number").to_string();
    assert_eq!(ticket["title"], "VPN keeps dropping");
    assert_eq!(ticket["channel"], "slack");
    assert_eq!(ticket["requester"]["name"], "UREQ");

    // The confirmation goes to the DM thread.
    app.dispatcher.drain().await.expect("deliver");
    let posts = fake.calls_to("chat.postMessage");
    let confirmation = posts
        .iter()
        .find(|p| p["thread_ts"] == "1700000001.000100")
        .expect("confirmation in the thread");
    assert_eq!(confirmation["channel"], "DUREQ");
    assert!(confirmation["text"]
        .as_str()
        .expect("text")
        .contains(&number));

    // A reply in the thread is a public comment…
    let reply = slack::event(
        "Ev101",
        slack::direct_message(
            "UREQ",
            "It just happened again",
            "1700000001.000200",
            Some("1700000001.000100"),
        ),
    );
    assert_eq!(send_event(&app, &reply).await.status(), StatusCode::OK);
    let comments: Vec<Value> = app
        .get_json(&format!("/api/v1/tickets/{number}/comments"), &app.token)
        .await;
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0]["body"], "It just happened again");
    assert_eq!(comments[0]["internal"], false);
    assert_eq!(comments[0]["channel"], "slack");
    app.dispatcher.drain().await.expect("deliver");
    let echoed = fake
        .calls_to("chat.postMessage")
        .iter()
        .filter(|p| {
            p["text"]
                .as_str()
                .unwrap_or("")
                .contains("It just happened again")
        })
        .count();
    assert_eq!(echoed, 0, "not echoed back to the thread it came from");

    // …and an agent's public comment elsewhere shows up in the thread;
    // an internal note does not.
    expect_json(
        app.post(
            &format!("/api/v1/tickets/{number}/comments"),
            &app.token,
            &json!({ "body": "Resetting your token now" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    expect_json(
        app.post(
            &format!("/api/v1/tickets/{number}/comments"),
            &app.token,
            &json!({ "body": "looks like the RADIUS box", "internal": true }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    app.dispatcher.drain().await.expect("deliver");
    let in_thread: Vec<String> = fake
        .calls_to("chat.postMessage")
        .iter()
        .filter(|p| p["thread_ts"] == "1700000001.000100")
        .filter_map(|p| p["text"].as_str().map(String::from))
        .collect();
    assert!(
        in_thread
            .iter()
            .any(|t| t.contains("Resetting your token now")),
        "{in_thread:?}"
    );
    assert!(
        !in_thread.iter().any(|t| t.contains("RADIUS")),
        "{in_thread:?}"
    );

    // Resolving asks "Is this solved?"; Yes closes the ticket.
    expect_json(app.transition(&number, "resolved").await, StatusCode::OK).await;
    app.dispatcher.drain().await.expect("deliver");
    let check = fake
        .calls_to("chat.postMessage")
        .into_iter()
        .find(|p| p["blocks"].to_string().contains("resolution_yes"))
        .expect("resolution check");
    assert_eq!(check["thread_ts"], "1700000001.000100");
    let yes = send_interaction(
        &app,
        slack::click(
            "UREQ",
            "trig-yes",
            "resolution_yes",
            &number,
            "http://unused",
        ),
    )
    .await;
    assert_eq!(yes.status(), StatusCode::OK);
    let closed: Value = app
        .get_json(&format!("/api/v1/tickets/{number}"), &app.token)
        .await;
    assert_eq!(closed["state"], "closed");
}

#[tokio::test]
async fn the_triage_card_is_posted_once_and_updated_in_place() {
    let (app, fake, _) = slack_app().await;
    let (agent, _) = app
        .person_with_token("Al Agent", "al@example.com", &["agent"])
        .await;
    let agent_id = agent["id"].as_str().expect("id").to_string();
    expect_json(
        app.post(
            &format!("/api/v1/people/{agent_id}/identities"),
            &app.token,
            &json!({ "kind": "slack", "namespace": TEAM, "external_id": "UAGENT" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    expect_json(
        app.post(
            "/api/v1/teams",
            &app.token,
            &json!({ "name": "Network", "members": [agent_id] }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    expect_json(
        app.send(
            Method::PATCH,
            "/api/v1/teams/Network",
            &app.token,
            Some(&json!({ "default_channel": "#net-triage" })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let ticket = expect_json(
        app.post(
            "/api/v1/tickets",
            &app.token,
            &json!({ "kind": "incident", "title": "Core switch down", "team": "Network" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let number = ticket["number"].as_str().expect("number").to_string();
    app.dispatcher.drain().await.expect("deliver");
    let cards: Vec<Value> = fake
        .calls_to("chat.postMessage")
        .into_iter()
        .filter(|p| p["channel"] == "net-triage")
        .collect();
    assert_eq!(cards.len(), 1, "one card");
    assert!(cards[0]["blocks"].to_string().contains("ticket_take"));

    // Take, clicked in Slack by the agent: assigned, and the card changes in place.
    let take = send_interaction(
        &app,
        slack::click(
            "UAGENT",
            "trig-take",
            "ticket_take",
            &number,
            "http://unused",
        ),
    )
    .await;
    assert_eq!(take.status(), StatusCode::OK);
    let fetched: Value = app
        .get_json(&format!("/api/v1/tickets/{number}"), &app.token)
        .await;
    assert_eq!(fetched["assignee"]["name"], "Al Agent");
    // A change through the API updates the same card too.
    expect_json(
        app.send(
            Method::PATCH,
            &format!("/api/v1/tickets/{number}"),
            &app.token,
            Some(&json!({ "urgency": "high" })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    app.dispatcher.drain().await.expect("deliver");
    let updates = fake.calls_to("chat.update");
    assert!(updates.len() >= 2, "{updates:?}");
    let last = updates.last().expect("update");
    assert_eq!(last["channel"], "net-triage");
    assert!(
        last["text"].as_str().expect("text").contains("p2"),
        "{last}"
    );
    assert!(last["blocks"].to_string().contains("Al Agent"));
    assert_eq!(
        fake.calls_to("chat.postMessage")
            .iter()
            .filter(|p| p["channel"] == "net-triage" && p.get("thread_ts").is_none())
            .count(),
        1,
        "still one card"
    );

    // An agent's reply in the card's thread is an internal note.
    let card_ts = updates[0]["ts"].as_str().expect("ts").to_string();
    let note = slack::event(
        "Ev200",
        json!({ "type": "message", "channel": "net-triage", "channel_type": "channel", "user": "UAGENT",
                "text": "Replacing the PSU", "ts": "1700000002.000100", "thread_ts": card_ts }),
    );
    assert_eq!(send_event(&app, &note).await.status(), StatusCode::OK);
    let comments: Vec<Value> = app
        .get_json(&format!("/api/v1/tickets/{number}/comments"), &app.token)
        .await;
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0]["internal"], true);
    assert_eq!(comments[0]["author"]["name"], "Al Agent");
}

#[tokio::test]
async fn slash_ticket_opens_a_ticket_or_a_modal_whose_errors_show_per_field() {
    let (app, fake, _) = slack_app().await;
    let body = "token=t&team_id=T0TEST&team_domain=test&channel_id=C1&user_id=UCMD&user_name=casey&command=%2Fticket&text=Laptop+will+not+boot&response_url=http%3A%2F%2Funused&trigger_id=trig-cmd-1";
    let response = post_signed(
        &app,
        "/slack/commands",
        "application/x-www-form-urlencoded",
        body,
        now(),
    )
    .await;
    let answer = expect_json(response, StatusCode::OK).await;
    assert_eq!(answer["response_type"], "ephemeral");
    let all = tickets(&app).await;
    assert_eq!(all.len(), 1);
    assert!(answer["text"]
        .as_str()
        .expect("text")
        .contains(all[0]["number"].as_str().expect("number")));
    assert_eq!(all[0]["title"], "Laptop will not boot");

    // Without text: a modal opens (after the answer).
    let empty = body
        .replace("Laptop+will+not+boot", "")
        .replace("trig-cmd-1", "trig-cmd-2");
    let response = post_signed(
        &app,
        "/slack/commands",
        "application/x-www-form-urlencoded",
        &empty,
        now(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let opened = crate::helpers::eventually(std::time::Duration::from_secs(5), || async {
        !fake.calls_to("views.open").is_empty()
    })
    .await;
    assert!(opened, "views.open called");
    assert_eq!(fake.calls_to("views.open")[0]["trigger_id"], "trig-cmd-2");

    // Submitting it without a title: the error is shown next to the field.
    let submission = |title: &str, trigger: &str| {
        json!({
            "type": "view_submission",
            "team": { "id": TEAM }, "user": { "id": "UCMD", "name": "casey" },
            "trigger_id": trigger,
            "view": { "callback_id": "ticket_create", "state": { "values": {
                "title": { "value": { "type": "plain_text_input", "value": title } },
                "description": { "value": { "type": "plain_text_input", "value": "It beeps" } },
                "urgency": { "value": { "type": "static_select", "selected_option": { "value": "high" } } }
            } } }
        })
    };
    let refused = expect_json(
        send_interaction(&app, submission("  ", "trig-modal-1")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(refused["response_action"], "errors");
    assert!(refused["errors"]["title"]
        .as_str()
        .expect("title error")
        .contains("empty"));
    assert_eq!(tickets(&app).await.len(), 1);
    let accepted = send_interaction(&app, submission("Monitor flickers", "trig-modal-2")).await;
    assert_eq!(accepted.status(), StatusCode::OK);
    let all = tickets(&app).await;
    assert_eq!(all.len(), 2);
    let flicker = all
        .iter()
        .find(|t| t["title"] == "Monitor flickers")
        .expect("created");
    assert_eq!(flicker["urgency"], "high");
}

#[tokio::test]
async fn an_approval_is_decided_by_button_and_refused_for_others_and_second_clicks() {
    let (app, fake, base) = slack_app().await;
    let (approver, _) = app
        .person_with_token("Ann Approver", "ann@example.com", &["approver"])
        .await;
    let approver_id = approver["id"].as_str().expect("id").to_string();
    expect_json(
        app.post(
            &format!("/api/v1/people/{approver_id}/identities"),
            &app.token,
            &json!({ "kind": "slack", "namespace": TEAM, "external_id": "UANN" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    expect_json(
        app.post("/api/v1/approval-policies", &app.token, &json!({ "name": "Ann", "stages": [
            { "name": "Ann", "approvers": [{ "type": "person", "id": approver_id }], "rule": { "type": "any" } }] }))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let ticket = app
        .create_ticket("service_request", "Admin rights on my laptop")
        .await;
    let number = ticket["number"].as_str().expect("number").to_string();
    let approval = expect_json(
        app.post(
            &format!("/api/v1/tickets/{number}/approvals"),
            &app.token,
            &json!({ "policy": "Ann" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let approval_id = approval["id"].as_str().expect("id").to_string();
    app.dispatcher.drain().await.expect("deliver");
    let request = fake
        .calls_to("chat.postMessage")
        .into_iter()
        .find(|p| p["channel"] == "UANN")
        .expect("the approver got a message");
    assert!(request["blocks"].to_string().contains("approval_approve"));

    // Someone else clicks: nothing changes, they are told why.
    let response_url = format!("{base}/response/1");
    let other = send_interaction(
        &app,
        slack::click(
            "UOTHER",
            "trig-a1",
            "approval_approve",
            &approval_id,
            &response_url,
        ),
    )
    .await;
    assert_eq!(other.status(), StatusCode::OK);
    let told = crate::helpers::eventually(std::time::Duration::from_secs(5), || async {
        !fake.calls_to("response/1").is_empty()
    })
    .await;
    assert!(told);
    assert!(fake.calls_to("response/1")[0]["text"]
        .as_str()
        .expect("text")
        .contains("not an approver"));
    let still: Value = app
        .get_json(&format!("/api/v1/approvals/{approval_id}"), &app.token)
        .await;
    assert_eq!(still["status"], "pending");

    // The approver clicks Approve: decided through Slack, every copy updated.
    let yes = send_interaction(
        &app,
        slack::click(
            "UANN",
            "trig-a2",
            "approval_approve",
            &approval_id,
            &response_url,
        ),
    )
    .await;
    assert_eq!(yes.status(), StatusCode::OK);
    let decided: Value = app
        .get_json(&format!("/api/v1/approvals/{approval_id}"), &app.token)
        .await;
    assert_eq!(decided["status"], "approved");
    assert_eq!(decided["stages"][0]["decisions"][0]["channel"], "slack");
    app.dispatcher.drain().await.expect("deliver");
    let updated = fake
        .calls_to("chat.update")
        .into_iter()
        .rev()
        .find(|u| u["channel"] == "UANN")
        .expect("the request was updated in place");
    assert_eq!(updated["ts"], request_ts(&fake));
    assert!(
        updated["blocks"]
            .to_string()
            .contains("Approved by Ann Approver"),
        "{updated}"
    );
    assert!(!updated["blocks"].to_string().contains("approval_approve"));

    // A second click says who decided.
    let response_url2 = format!("{base}/response/2");
    let again = send_interaction(
        &app,
        slack::click(
            "UANN",
            "trig-a3",
            "approval_approve",
            &approval_id,
            &response_url2,
        ),
    )
    .await;
    assert_eq!(again.status(), StatusCode::OK);
    let told = crate::helpers::eventually(std::time::Duration::from_secs(5), || async {
        !fake.calls_to("response/2").is_empty()
    })
    .await;
    assert!(told);
    let text = fake.calls_to("response/2")[0]["text"]
        .as_str()
        .expect("text")
        .to_string();
    assert!(
        text.contains("already approved") && text.contains("Ann Approver"),
        "{text}"
    );
}

/// The `ts` the fake gave the approval request: it numbers its answers to
/// Web API calls in order.
fn request_ts(fake: &FakeSlack) -> Value {
    let n = fake
        .calls()
        .iter()
        .filter(|c| !c.method.starts_with("response/"))
        .position(|c| c.method == "chat.postMessage" && c.body["channel"] == "UANN")
        .expect("the request was posted")
        + 1;
    json!(format!("1700000000.{n:06}"))
}

#[tokio::test]
async fn a_429_is_honoured_and_the_message_goes_out_later() {
    let (app, fake, _) = slack_app().await;
    fake.rate_limit_next(30);
    let body = slack::event(
        "Ev300",
        slack::direct_message("URATE", "Wi-Fi is slow", "1700000003.000100", None),
    );
    assert_eq!(send_event(&app, &body).await.status(), StatusCode::OK);
    app.dispatcher.run_once().await.expect("dispatch");
    let pending: Vec<Value> = app
        .outbox("pending")
        .await
        .into_iter()
        .filter(|m| m["channel"] == "slack")
        .collect();
    assert_eq!(pending.len(), 1, "kept for later, not dead");
    assert!(pending[0]["last_error"]
        .as_str()
        .expect("error")
        .contains("429"));
    let next: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(pending[0]["next_attempt_at"].clone()).expect("time");
    assert!(
        next >= chrono::Utc::now() + chrono::Duration::seconds(25),
        "Retry-After honoured: {next}"
    );
    assert!(app.outbox("dead").await.is_empty());
    assert_eq!(
        fake.calls_to("chat.postMessage").len(),
        1,
        "one attempt so far"
    );
}
