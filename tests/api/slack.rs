//! Slack, driven as Slack drives it: signed events, commands and
//! interactions in Slack's formats, and a fake Web API that records what
//! the daemon posts. Covers signatures, direct-message intake with retries
//! deduplicated, thread sync both ways, the triage card updated in place,
//! `/ticket`, approvals by button (refused for non-approvers and second
//! clicks), modal validation and 429s.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{
    helpers::{expect_json, spawn_app_with, TestApp},
    support::{
        clock::now,
        desk::{next_attempt_at, number},
        slack::{self, spawn_slack_app, spawn_slack_app_with, FakeSlack, TEAM},
    },
};

#[tokio::test]
async fn forged_stale_or_unsigned_requests_get_401_and_change_nothing() {
    let (app, _fake, _) = spawn_slack_app().await;
    let body = slack::event(
        "Ev1",
        slack::direct_message("U1", "printer on fire", "1.1", None),
    );
    let stale = app
        .post_slack_signed("/slack/events", "application/json", &body, now() - 600)
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
    assert!(app.tickets().await.is_empty());
    let people: Vec<Value> = app.get_json("/api/v1/people", &app.token).await;
    assert!(
        people.iter().all(|p| p["name"] != "U1"),
        "no contact was created"
    );

    let challenge = app
        .post_slack_event(r#"{"type":"url_verification","token":"t","challenge":"abc123"}"#)
        .await;
    assert_eq!(challenge.status(), StatusCode::OK);
    assert_eq!(
        challenge.json::<Value>().await.expect("json")["challenge"],
        "abc123"
    );
    let malformed = app.post_slack_event("{not json").await;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn signed_bodies_that_are_not_slack_payloads_get_400_and_change_nothing() {
    let (app, _fake, _) = spawn_slack_app().await;
    // An envelope without its event id, one with a time that is no time,
    // and no envelope at all.
    for body in [
        json!({ "type": "event_callback", "team_id": TEAM, "api_app_id": "A0TEST",
                "event": slack::direct_message("U1", "printer on fire", "1.1", None),
                "event_time": 1700000000 })
        .to_string(),
        json!({ "type": "event_callback", "team_id": TEAM, "api_app_id": "A0TEST", "event_id": "EvBad2",
                "event": slack::direct_message("U1", "printer on fire", "1.2", None),
                "event_time": "yesterday" })
        .to_string(),
        "[1, 2]".to_string(),
    ] {
        let response = app.post_slack_event(&body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    // A click without its team, trigger or container.
    let mut click = slack::click(
        "U1",
        "trig-bad-1",
        "ticket_take",
        "INC0000001",
        "http://unused",
    );
    click.as_object_mut().map(|c| c.remove("team"));
    let response = app.post_slack_interaction(click).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = app
        .post_slack_interaction(json!({ "type": "view_submission", "view": {} }))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // A command without the trigger it is recorded under.
    let command = "token=t&team_id=T0TEST&channel_id=C1&user_id=U1&user_name=u&command=%2Fticket&text=Laptop&response_url=http%3A%2F%2Funused";
    let response = app.post_slack_command(command).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    assert!(app.tickets().await.is_empty());
    let people: Vec<Value> = app.get_json("/api/v1/people", &app.token).await;
    assert!(people.iter().all(|p| p["name"] != "U1" && p["name"] != "u"));
}

/// The `ts` of the direct message that opens the thread-sync tickets.
const DM_TS: &str = "1700000001.000100";

fn vpn_message() -> String {
    slack::event(
        "Ev100",
        slack::direct_message(
            "UREQ",
            "VPN keeps dropping\nSince this morning, every 10 minutes.",
            DM_TS,
            None,
        ),
    )
}

/// Opens a ticket by a direct message from UREQ and delivers what it sent
/// (the confirmation in the thread); returns the ticket's number.
async fn ticket_by_direct_message(app: &TestApp) -> String {
    assert_eq!(
        app.post_slack_event(&vpn_message()).await.status(),
        StatusCode::OK
    );
    app.dispatcher.drain().await.expect("deliver");
    number(&app.tickets().await[0])
}

#[tokio::test]
async fn a_direct_message_opens_one_ticket_even_when_retried_and_is_confirmed_in_its_thread() {
    let (app, fake, _) = spawn_slack_app().await;
    let body = vpn_message();
    assert_eq!(app.post_slack_event(&body).await.status(), StatusCode::OK);
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
    let all = app.tickets().await;
    assert_eq!(all.len(), 1);
    let ticket = &all[0];
    let number = number(ticket);
    assert_eq!(ticket["title"], "VPN keeps dropping");
    assert_eq!(ticket["channel"], "slack");
    assert_eq!(ticket["requester"]["name"], "UREQ");

    app.dispatcher.drain().await.expect("deliver");
    let posts = fake.posted_messages();
    let confirmation = posts
        .iter()
        .find(|p| p["thread_ts"] == DM_TS)
        .expect("confirmation in the thread");
    assert_eq!(confirmation["channel"], "DUREQ");
    assert!(confirmation["text"]
        .as_str()
        .expect("text")
        .contains(&number));
}

#[tokio::test]
async fn a_reply_in_the_thread_is_a_public_comment_not_echoed_back() {
    let (app, fake, _) = spawn_slack_app().await;
    let number = ticket_by_direct_message(&app).await;

    let reply = slack::event(
        "Ev101",
        slack::direct_message(
            "UREQ",
            "It just happened again",
            "1700000001.000200",
            Some(DM_TS),
        ),
    );
    assert_eq!(app.post_slack_event(&reply).await.status(), StatusCode::OK);
    let comments = app.comments(&number).await;
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0]["body"], "It just happened again");
    assert_eq!(comments[0]["internal"], false);
    assert_eq!(comments[0]["channel"], "slack");
    app.dispatcher.drain().await.expect("deliver");
    let echoed = fake
        .posted_messages()
        .iter()
        .filter(|p| {
            p["text"]
                .as_str()
                .unwrap_or("")
                .contains("It just happened again")
        })
        .count();
    assert_eq!(echoed, 0, "not echoed back to the thread it came from");
}

#[tokio::test]
async fn an_agents_public_comment_reaches_the_thread_and_an_internal_note_does_not() {
    let (app, fake, _) = spawn_slack_app().await;
    let number = ticket_by_direct_message(&app).await;

    app.comment(&number, "Resetting your token now").await;
    app.note(&number, "looks like the RADIUS box").await;
    app.dispatcher.drain().await.expect("deliver");
    let in_thread: Vec<String> = fake
        .posted_messages()
        .iter()
        .filter(|p| p["thread_ts"] == DM_TS)
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
}

fn resolution_yes(number: &str, base: &str) -> Value {
    slack::click(
        "UREQ",
        "trig-yes",
        "resolution_yes",
        number,
        &format!("{base}/response/yes"),
    )
}

#[tokio::test]
async fn resolving_asks_in_the_thread_is_this_solved_and_yes_closes_the_ticket() {
    let (app, fake, base) = spawn_slack_app().await;
    let number = ticket_by_direct_message(&app).await;

    expect_json(app.transition(&number, "resolved").await, StatusCode::OK).await;
    app.dispatcher.drain().await.expect("deliver");
    let check = fake
        .posted_messages()
        .into_iter()
        .find(|p| p["blocks"].to_string().contains("resolution_yes"))
        .expect("resolution check");
    assert_eq!(check["thread_ts"], DM_TS);
    let yes = app
        .post_slack_interaction(resolution_yes(&number, &base))
        .await;
    assert_eq!(yes.status(), StatusCode::OK);
    let closed = app.ticket(&number).await;
    assert_eq!(closed["state"], "closed");
}

#[tokio::test]
async fn yes_turns_the_check_into_a_rating_that_only_the_requester_gives() {
    let (app, fake, base) = spawn_slack_app().await;
    let number = ticket_by_direct_message(&app).await;
    expect_json(app.transition(&number, "resolved").await, StatusCode::OK).await;
    app.dispatcher.drain().await.expect("deliver");
    let yes = app
        .post_slack_interaction(resolution_yes(&number, &base))
        .await;
    assert_eq!(yes.status(), StatusCode::OK);

    // The check becomes an optional rating; a click on 4 stars rates it.
    assert!(fake.responded("yes").await);
    let rating = &fake.responses("yes")[0];
    assert_eq!(rating["replace_original"], true);
    assert!(rating["blocks"]
        .to_string()
        .contains(&format!("{number}:4")));
    let rate = |user: &str, trigger: &str, score: u8| {
        slack::click(
            user,
            trigger,
            "resolution_rate",
            &format!("{number}:{score}"),
            &format!("{base}/response/{trigger}"),
        )
    };
    // Only the requester rates.
    app.post_slack_interaction(rate("USTRANGER", "trig-rate-0", 1))
        .await;
    assert!(fake.responded("trig-rate-0").await);
    let unrated = app.ticket(&number).await;
    assert!(unrated["satisfaction"].is_null());
    app.post_slack_interaction(rate("UREQ", "trig-rate-1", 4))
        .await;
    let rated = app.ticket(&number).await;
    assert_eq!(rated["satisfaction"], 4);
    assert!(fake.responded("trig-rate-1").await);
    assert!(fake.responses("trig-rate-1")[0]["text"]
        .as_str()
        .expect("text")
        .contains("★★★★☆"));
}

/// A first delivery skips the read for an earlier result (the fast way);
/// copies Slack did not mark as retries — several at once, and one later —
/// are still caught when their record is written.
#[tokio::test]
async fn unmarked_repeats_of_an_event_open_one_ticket_and_add_one_comment() {
    let (app, _fake, _base) = spawn_slack_app().await;
    let body = slack::event(
        "Ev200",
        slack::direct_message("UREQ", "Printer on 3 is jammed", "1700000002.000100", None),
    );
    let copies = (0..4).map(|_| app.post_slack_event(&body));
    for response in futures::future::join_all(copies).await {
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(app.post_slack_event(&body).await.status(), StatusCode::OK);
    let all = app.tickets().await;
    assert_eq!(all.len(), 1, "{all:?}");
    let number = all[0]["number"].as_str().expect("number").to_string();

    let reply = slack::event(
        "Ev201",
        slack::direct_message(
            "UREQ",
            "Still jammed",
            "1700000002.000200",
            Some("1700000002.000100"),
        ),
    );
    for _ in 0..2 {
        assert_eq!(app.post_slack_event(&reply).await.status(), StatusCode::OK);
    }
    let comments: Vec<Value> = app.comments(&number).await;
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(comments[0]["body"], "Still jammed");

    // The next ticket still takes the next number: the repeats' predicted
    // numbers went back.
    let next = slack::event(
        "Ev202",
        slack::direct_message("UREQ", "Scanner too", "1700000002.000300", None),
    );
    assert_eq!(app.post_slack_event(&next).await.status(), StatusCode::OK);
    let all = app.tickets().await;
    assert_eq!(all.len(), 2);
    let mut numbers: Vec<&str> = all.iter().filter_map(|t| t["number"].as_str()).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, ["INC0000001", "INC0000002"]);
}

/// A team whose tickets are announced in #net-triage, worked by the Slack
/// user UAGENT, and one of its incidents with its card delivered; returns
/// the ticket's number.
async fn triage_card(app: &TestApp) -> String {
    let agent_id = slack_agent(app, "Al Agent", "al@example.com", "UAGENT").await;
    app.team_with_channel("Network", &[json!(agent_id)], "#net-triage")
        .await;
    let ticket = app.team_incident("Core switch down", "Network").await;
    app.dispatcher.drain().await.expect("deliver");
    number(&ticket)
}

fn take_click(number: &str) -> Value {
    slack::click(
        "UAGENT",
        "trig-take",
        "ticket_take",
        number,
        "http://unused",
    )
}

#[tokio::test]
async fn the_triage_card_is_posted_once_with_a_take_button() {
    let (app, fake, _) = spawn_slack_app().await;
    triage_card(&app).await;
    let cards: Vec<Value> = fake.posted_to("net-triage");
    assert_eq!(cards.len(), 1, "one card");
    assert!(cards[0]["blocks"].to_string().contains("ticket_take"));
}

#[tokio::test]
async fn take_on_the_triage_card_assigns_the_agent_who_clicked() {
    let (app, _fake, _) = spawn_slack_app().await;
    let number = triage_card(&app).await;

    // Take, clicked in Slack by the agent: the ticket is theirs.
    let take = app.post_slack_interaction(take_click(&number)).await;
    assert_eq!(take.status(), StatusCode::OK);
    let fetched: Value = app.ticket(&number).await;
    assert_eq!(fetched["assignee"]["name"], "Al Agent");
}

#[tokio::test]
async fn a_change_through_the_api_updates_the_taken_card_in_place() {
    let (app, fake, _) = spawn_slack_app().await;
    let number = triage_card(&app).await;
    let take = app.post_slack_interaction(take_click(&number)).await;
    assert_eq!(take.status(), StatusCode::OK);

    // A change through the API updates the same card too.
    app.patch_ticket(&number, json!({ "urgency": "high" }))
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
        fake.posted_messages()
            .iter()
            .filter(|p| p["channel"] == "net-triage" && p.get("thread_ts").is_none())
            .count(),
        1,
        "still one card"
    );
}

#[tokio::test]
async fn an_agents_reply_in_the_card_thread_is_an_internal_note() {
    let (app, fake, _) = spawn_slack_app().await;
    let number = triage_card(&app).await;
    // The card's ts, as the daemon names it when it updates the card.
    let take = app.post_slack_interaction(take_click(&number)).await;
    assert_eq!(take.status(), StatusCode::OK);
    app.dispatcher.drain().await.expect("deliver");
    let updates = fake.calls_to("chat.update");

    let card_ts = updates[0]["ts"].as_str().expect("ts").to_string();
    let note = slack::event(
        "Ev200",
        json!({ "type": "message", "channel": "net-triage", "channel_type": "channel", "user": "UAGENT",
                "text": "Replacing the PSU", "ts": "1700000002.000100", "thread_ts": card_ts }),
    );
    assert_eq!(app.post_slack_event(&note).await.status(), StatusCode::OK);
    let comments: Vec<Value> = app.comments(&number).await;
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0]["internal"], true);
    assert_eq!(comments[0]["author"]["name"], "Al Agent");
}

#[tokio::test]
async fn slash_ticket_opens_a_ticket_or_a_modal_whose_errors_show_per_field() {
    let (app, fake, _) = spawn_slack_app().await;
    let body = "token=t&team_id=T0TEST&team_domain=test&channel_id=C1&user_id=UCMD&user_name=casey&command=%2Fticket&text=Laptop+will+not+boot&response_url=http%3A%2F%2Funused&trigger_id=trig-cmd-1";
    let response = app.post_slack_command(body).await;
    let answer = expect_json(response, StatusCode::OK).await;
    assert_eq!(answer["response_type"], "ephemeral");
    let all = app.tickets().await;
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
    let response = app.post_slack_command(&empty).await;
    assert_eq!(response.status(), StatusCode::OK);
    let opened = fake.called("views.open").await;
    assert!(opened, "views.open called");
    assert_eq!(fake.calls_to("views.open")[0]["trigger_id"], "trig-cmd-2");

    // Submitting it without a title: the error is shown next to the field.
    let submission = |title: &str, trigger: &str| {
        slack::view_submission(
            "UCMD",
            trigger,
            slack::modal_view(
                "ticket_create",
                "",
                json!({
                    "title": { "value": { "type": "plain_text_input", "value": title } },
                    "description": { "value": { "type": "plain_text_input", "value": "It beeps" } },
                    "urgency": { "value": { "type": "static_select", "selected_option": slack::option("high") } }
                }),
            ),
        )
    };
    let refused = expect_json(
        app.post_slack_interaction(submission("  ", "trig-modal-1"))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(refused["response_action"], "errors");
    assert!(refused["errors"]["title"]
        .as_str()
        .expect("title error")
        .contains("empty"));
    assert_eq!(app.tickets().await.len(), 1);
    let accepted = app
        .post_slack_interaction(submission("Monitor flickers", "trig-modal-2"))
        .await;
    assert_eq!(accepted.status(), StatusCode::OK);
    let all = app.tickets().await;
    assert_eq!(all.len(), 2);
    let flicker = all
        .iter()
        .find(|t| t["title"] == "Monitor flickers")
        .expect("created");
    assert_eq!(flicker["urgency"], "high");
}

#[tokio::test]
async fn an_approval_is_decided_by_button_and_refused_for_others_and_second_clicks() {
    let (app, fake, base) = spawn_slack_app().await;
    let (approver, _) = app
        .person_with_token("Ann Approver", "ann@example.com", &["approver"])
        .await;
    let approver_id = approver["id"].as_str().expect("id").to_string();
    app.link_identity(&approver_id, "slack", TEAM, "UANN").await;
    let (_, approval_id) = app.request_awaiting_approval_by(&approver_id).await;
    app.dispatcher.drain().await.expect("deliver");
    let request = fake
        .posted_to("UANN")
        .into_iter()
        .next()
        .expect("the approver got a message");
    assert!(request["blocks"].to_string().contains("approval_approve"));

    // Someone else clicks: nothing changes, they are told why.
    let response_url = format!("{base}/response/1");
    let other = app
        .post_slack_interaction(slack::click(
            "UOTHER",
            "trig-a1",
            "approval_approve",
            &approval_id,
            &response_url,
        ))
        .await;
    assert_eq!(other.status(), StatusCode::OK);
    let told = fake.responded("1").await;
    assert!(told);
    assert!(fake.responses("1")[0]["text"]
        .as_str()
        .expect("text")
        .contains("not an approver"));
    let still: Value = app.approval(&approval_id).await;
    assert_eq!(still["status"], "pending");

    // The approver clicks Approve: decided through Slack, every copy updated.
    let yes = app
        .post_slack_interaction(slack::click(
            "UANN",
            "trig-a2",
            "approval_approve",
            &approval_id,
            &response_url,
        ))
        .await;
    assert_eq!(yes.status(), StatusCode::OK);
    let decided: Value = app.approval(&approval_id).await;
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
    let again = app
        .post_slack_interaction(slack::click(
            "UANN",
            "trig-a3",
            "approval_approve",
            &approval_id,
            &response_url2,
        ))
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    let told = fake.responded("2").await;
    assert!(told);
    let text = fake.responses("2")[0]["text"]
        .as_str()
        .expect("text")
        .to_string();
    assert!(
        text.contains("already approved") && text.contains("Ann Approver"),
        "{text}"
    );
}

/// The `ts` the fake gave the approval request.
fn request_ts(fake: &FakeSlack) -> Value {
    let ts = fake.posted_ts("UANN");
    json!(ts.first().expect("the request was posted"))
}

#[tokio::test]
async fn a_429_is_honoured_and_the_message_goes_out_later() {
    let (app, fake, _) = spawn_slack_app().await;
    fake.rate_limit_next("chat.postMessage", 30);
    let body = slack::event(
        "Ev300",
        slack::direct_message("URATE", "Wi-Fi is slow", "1700000003.000100", None),
    );
    assert_eq!(app.post_slack_event(&body).await.status(), StatusCode::OK);
    app.dispatcher.run_once().await.expect("dispatch");
    let pending = app.pending_for("slack").await;
    assert_eq!(pending.len(), 1, "kept for later, not dead");
    assert!(pending[0]["last_error"]
        .as_str()
        .expect("error")
        .contains("429"));
    let next = next_attempt_at(&pending[0]);
    assert!(
        next >= chrono::Utc::now() + chrono::Duration::seconds(25),
        "Retry-After honoured: {next}"
    );
    assert!(app.outbox("dead").await.is_empty());
    assert_eq!(fake.posted_messages().len(), 1, "one attempt so far");
}

/// An agent with a Slack identity; returns their person id.
async fn slack_agent(app: &TestApp, name: &str, email: &str, user: &str) -> String {
    let (agent, _) = app.person_with_token(name, email, &["agent"]).await;
    let id = agent["id"].as_str().expect("id").to_string();
    app.link_identity(&id, "slack", TEAM, user).await;
    id
}

/// A click on a card's menu: `users_select` or `static_select`.
fn menu_click(
    user: &str,
    trigger: &str,
    action_id: &str,
    block_id: &str,
    selected: Value,
) -> Value {
    let mut payload = slack::click(user, trigger, action_id, "", "http://unused");
    let mut action =
        json!({ "action_id": action_id, "block_id": block_id, "action_ts": "1700000000.2" });
    match action_id {
        "ticket_assign" => {
            action["type"] = json!("users_select");
            action["selected_user"] = selected;
        }
        _ => {
            action["type"] = json!("static_select");
            action["selected_option"] = selected;
        }
    }
    payload["actions"] = json!([action]);
    payload
}

/// Al's and Bea's team, announced in #desk, and one of its incidents with
/// its card delivered; returns the ticket's number.
async fn desk_card(app: &TestApp) -> String {
    let al = slack_agent(app, "Al Agent", "al@example.com", "UAL").await;
    let bea = slack_agent(app, "Bea Agent", "bea@example.com", "UBEA").await;
    app.team_with_channel("Desk", &[json!(al), json!(bea)], "#desk")
        .await;
    let ticket = app.team_incident("Mail bounces", "Desk").await;
    app.dispatcher.drain().await.expect("deliver");
    number(&ticket)
}

/// Al assigns the ticket to the Slack user Bea from the card's menu.
async fn assign_to_bea(app: &TestApp, number: &str) -> reqwest::Response {
    let block_id = format!("ticket:{number}");
    app.post_slack_interaction(menu_click(
        "UAL",
        "trig-as",
        "ticket_assign",
        &block_id,
        json!("UBEA"),
    ))
    .await
}

/// Al picks priority p1 from the card's menu.
async fn pick_p1(app: &TestApp, number: &str) -> reqwest::Response {
    let block_id = format!("ticket:{number}");
    let pick = menu_click(
        "UAL",
        "trig-pr",
        "ticket_priority",
        &block_id,
        json!({ "text": { "type": "plain_text", "text": "P1 · critical" }, "value": format!("{number}:p1") }),
    );
    app.post_slack_interaction(pick).await
}

/// Al clicks Escalate on the card.
async fn escalate(app: &TestApp, number: &str) -> reqwest::Response {
    app.post_slack_interaction(slack::click(
        "UAL",
        "trig-esc",
        "ticket_escalate",
        number,
        "http://unused",
    ))
    .await
}

#[tokio::test]
async fn the_card_carries_menus_to_assign_set_priority_and_escalate() {
    let (app, fake, _) = spawn_slack_app().await;
    desk_card(&app).await;
    let card = fake
        .posted_to("desk")
        .into_iter()
        .next()
        .expect("card posted");
    let blocks = card["blocks"].to_string();
    for control in [
        "ticket_assign",
        "users_select",
        "ticket_priority",
        "ticket_escalate",
    ] {
        assert!(blocks.contains(control), "{control} on the card: {blocks}");
    }
}

#[tokio::test]
async fn assigning_a_slack_user_from_the_card_gives_the_ticket_to_their_person() {
    let (app, _fake, _) = spawn_slack_app().await;
    let number = desk_card(&app).await;

    let assign = assign_to_bea(&app, &number).await;
    assert_eq!(assign.status(), StatusCode::OK);
    let now: Value = app.ticket(&number).await;
    assert_eq!(now["assignee"]["name"], "Bea Agent");
}

#[tokio::test]
async fn priority_p1_from_the_card_menu_sets_impact_and_urgency_high() {
    let (app, _fake, _) = spawn_slack_app().await;
    let number = desk_card(&app).await;

    assert_eq!(pick_p1(&app, &number).await.status(), StatusCode::OK);
    let now: Value = app.ticket(&number).await;
    assert_eq!(now["priority"], "p1");
    assert_eq!(now["impact"], "high");
    assert_eq!(now["urgency"], "high");
}

#[tokio::test]
async fn escalate_on_the_card_raises_the_level_one_step_and_the_card_shows_it() {
    let (app, fake, _) = spawn_slack_app().await;
    let number = desk_card(&app).await;
    assert_eq!(pick_p1(&app, &number).await.status(), StatusCode::OK);

    let escalate = escalate(&app, &number).await;
    assert_eq!(escalate.status(), StatusCode::OK);
    let now: Value = app.ticket(&number).await;
    assert_eq!(now["escalation_level"], 1);
    app.dispatcher.drain().await.expect("deliver");
    let last = fake.calls_to("chat.update").pop().expect("card updated");
    assert_eq!(last["channel"], "desk");
    assert!(
        last["blocks"].to_string().contains("Escalation level *1*"),
        "{last}"
    );
    assert!(last["text"].as_str().expect("text").contains("p1"));
}

#[tokio::test]
async fn two_escalate_clicks_at_once_raise_the_level_by_two() {
    let (app, _fake, _) = spawn_slack_app().await;
    let number = desk_card(&app).await;
    let click = |trigger: &str| {
        app.post_slack_interaction(slack::click(
            "UAL",
            trigger,
            "ticket_escalate",
            &number,
            "http://unused",
        ))
    };

    let (first, second) = tokio::join!(click("trig-esc-a"), click("trig-esc-b"));
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(second.status(), StatusCode::OK);
    let now: Value = app.ticket(&number).await;
    assert_eq!(now["escalation_level"], 2, "{now}");
}

#[tokio::test]
async fn an_unlinked_assignee_or_a_requesters_click_on_the_card_is_refused_and_changes_nothing() {
    let (app, fake, base) = spawn_slack_app().await;
    let number = desk_card(&app).await;
    assert_eq!(assign_to_bea(&app, &number).await.status(), StatusCode::OK);
    assert_eq!(escalate(&app, &number).await.status(), StatusCode::OK);
    let block_id = format!("ticket:{number}");

    let url = format!("{base}/response/9");
    let mut unknown = menu_click(
        "UAL",
        "trig-as2",
        "ticket_assign",
        &block_id,
        json!("UNOBODY"),
    );
    unknown["response_url"] = json!(url);
    assert_eq!(
        app.post_slack_interaction(unknown).await.status(),
        StatusCode::OK
    );
    let url2 = format!("{base}/response/10");
    let requester = app
        .post_slack_interaction(slack::click(
            "UREQUESTER",
            "trig-esc2",
            "ticket_escalate",
            &number,
            &url2,
        ))
        .await;
    assert_eq!(requester.status(), StatusCode::OK);
    let told = crate::helpers::eventually(std::time::Duration::from_secs(5), || async {
        !fake.responses("9").is_empty() && !fake.responses("10").is_empty()
    })
    .await;
    assert!(told, "both were told");
    assert!(fake.responses("9")[0]["text"]
        .as_str()
        .expect("text")
        .contains("not linked"));
    assert_eq!(fake.responses("10")[0]["response_type"], "ephemeral");
    let now: Value = app.ticket(&number).await;
    assert_eq!(now["assignee"]["name"], "Bea Agent");
    assert_eq!(now["escalation_level"], 1);
}

#[tokio::test]
async fn an_escalation_arrives_with_acknowledge_which_stops_the_chain() {
    let (app, fake, base) = spawn_slack_app().await;
    slack_agent(&app, "Omar Oncall", "omar@example.com", "UOMAR").await;
    expect_json(
        app.post(
            "/api/v1/escalation-policies",
            &app.token,
            &json!({ "name": "everything", "steps": [
                { "after_minutes": 10, "actions": [{ "type": "notify_person", "person": "omar@example.com" }] },
                { "after_minutes": 20, "actions": [{ "type": "notify_person", "person": "omar@example.com" }] },
            ] }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let ticket = app.create_ticket("incident", "Payroll export stuck").await;
    let number = number(&ticket);

    app.pass(chrono::Duration::minutes(11)).await;
    app.dispatcher.drain().await.expect("deliver");
    let alarms: Vec<Value> = fake.posted_to("UOMAR");
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    let blocks = alarms[0]["blocks"].to_string();
    assert!(
        blocks.contains("escalation_ack") && blocks.contains(&number),
        "{blocks}"
    );
    assert!(alarms[0]["text"]
        .as_str()
        .expect("text")
        .contains("Escalation"));

    let url = format!("{base}/response/ack");
    let ack = app
        .post_slack_interaction(slack::click(
            "UOMAR",
            "trig-ack",
            "escalation_ack",
            &number,
            &url,
        ))
        .await;
    assert_eq!(ack.status(), StatusCode::OK);
    let status: Value = app
        .get_json(&format!("/api/v1/tickets/{number}/escalation"), &app.token)
        .await;
    assert!(!status["acknowledged_at"].is_null(), "{status}");
    let replaced = fake.responded("ack").await;
    assert!(replaced);
    let note = &fake.responses("ack")[0];
    assert_eq!(note["replace_original"], true);
    assert!(note["text"]
        .as_str()
        .expect("text")
        .contains("acknowledged by Omar Oncall"));

    // The next step does not fire.
    app.pass(chrono::Duration::minutes(30)).await;
    app.dispatcher.drain().await.expect("deliver");
    assert_eq!(
        fake.posted_to("UOMAR").len(),
        1,
        "no second escalation message"
    );
}

/// A `reaction_added` event on a channel message.
fn reaction(user: &str, emoji: &str, channel: &str, ts: &str, author: &str) -> Value {
    json!({ "type": "reaction_added", "user": user, "reaction": emoji, "item_user": author,
            "item": { "type": "message", "channel": channel, "ts": ts }, "event_ts": "1700000009.000001" })
}

#[tokio::test]
async fn a_reaction_turns_the_message_into_a_ticket_after_the_ack() {
    let (app, fake, _) = spawn_slack_app().await;
    fake.add_message(
        "CGEN",
        json!({ "type": "message", "user": "UAUTHOR", "text": "Printer on floor 3 jams on every job", "ts": "1700000010.000100" }),
    );
    // Another emoji: nothing.
    let other = slack::event(
        "EvR0",
        reaction("UREACT", "eyes", "CGEN", "1700000010.000100", "UAUTHOR"),
    );
    assert_eq!(app.post_slack_event(&other).await.status(), StatusCode::OK);
    let body = slack::event(
        "EvR1",
        reaction("UREACT", "ticket", "CGEN", "1700000010.000100", "UAUTHOR"),
    );
    assert_eq!(app.post_slack_event(&body).await.status(), StatusCode::OK);
    // Acknowledged before any slow call: the work waits in the outbox.
    assert!(fake.calls_to("conversations.history").is_empty());
    assert!(app.tickets().await.is_empty());
    let waiting = app.outbox("pending").await;
    assert!(
        waiting.iter().any(|m| m["event"] == "slack.reaction"),
        "{waiting:?}"
    );
    // A second person reacting the same way: still one ticket.
    let again = slack::event(
        "EvR2",
        reaction("UOTHER", "ticket", "CGEN", "1700000010.000100", "UAUTHOR"),
    );
    assert_eq!(app.post_slack_event(&again).await.status(), StatusCode::OK);

    app.dispatcher.drain().await.expect("deliver");
    let history = fake.calls_to("conversations.history");
    assert_eq!(history[0]["latest"], "1700000010.000100");
    assert_eq!(history[0]["inclusive"], "true");
    assert_eq!(history[0]["limit"], "1");
    let all = app.tickets().await;
    assert_eq!(all.len(), 1, "{all:?}");
    let ticket = &all[0];
    assert_eq!(ticket["title"], "Printer on floor 3 jams on every job");
    assert_eq!(
        ticket["requester"]["name"], "UREACT",
        "the reactor by default"
    );
    assert_eq!(ticket["channel"], "slack");
    let number = ticket["number"].as_str().expect("number");
    let full: Value = app.ticket(number).await;
    assert!(
        full["description"]
            .as_str()
            .expect("description")
            .contains("https://test.slack.com/archives/CGEN/p1700000010000100"),
        "{full}"
    );
    // The requester is told, with the number.
    app.dispatcher.drain().await.expect("deliver");
    let told = fake
        .posted_to("UREACT")
        .into_iter()
        .next()
        .expect("confirmation to the reactor");
    assert!(told["text"].as_str().expect("text").contains(number));
}

#[tokio::test]
async fn a_reaction_can_make_the_author_the_requester_and_reaches_thread_replies() {
    let (app, fake, _) = spawn_slack_app_with(|c| {
        c.slack.reaction = "sos".into();
        c.slack.reaction_requester = "author".into();
    })
    .await;
    // A reply in a thread is not in the channel history; the thread has it.
    fake.add_message(
        "CGEN",
        json!({ "type": "message", "user": "UAUTHOR", "text": "Badge reader at door B is dead", "ts": "1700000011.000200", "thread_ts": "1700000011.000100" }),
    );
    let body = slack::event(
        "EvR3",
        reaction("UREACT", "sos", "CGEN", "1700000011.000200", "UAUTHOR"),
    );
    assert_eq!(app.post_slack_event(&body).await.status(), StatusCode::OK);
    app.dispatcher.drain().await.expect("deliver");
    let all = app.tickets().await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["requester"]["name"], "UAUTHOR");
    assert_eq!(all[0]["title"], "Badge reader at door B is dead");
}

#[tokio::test]
async fn edits_and_deletions_in_a_ticket_thread_are_recorded_and_the_comment_kept() {
    let (app, _fake, _) = spawn_slack_app().await;
    let open = slack::event(
        "EvE1",
        slack::direct_message("UED", "Scanner offline", "1700000020.000100", None),
    );
    assert_eq!(app.post_slack_event(&open).await.status(), StatusCode::OK);
    let reply = slack::event(
        "EvE2",
        slack::direct_message(
            "UED",
            "It is the one in room 12",
            "1700000020.000200",
            Some("1700000020.000100"),
        ),
    );
    assert_eq!(app.post_slack_event(&reply).await.status(), StatusCode::OK);
    let number = number(&app.tickets().await[0]);

    let edit = slack::event(
        "EvE3",
        json!({ "type": "message", "subtype": "message_changed", "channel": "DUED", "channel_type": "im",
                "hidden": true, "ts": "1700000020.000300", "event_ts": "1700000020.000300",
                "message": { "type": "message", "user": "UED", "text": "It is the one in room 14",
                             "ts": "1700000020.000200", "thread_ts": "1700000020.000100",
                             "edited": { "user": "UED", "ts": "1700000020.000300" } },
                "previous_message": { "type": "message", "user": "UED", "text": "It is the one in room 12",
                                      "ts": "1700000020.000200", "thread_ts": "1700000020.000100" } }),
    );
    assert_eq!(app.post_slack_event(&edit).await.status(), StatusCode::OK);
    let delete = slack::event(
        "EvE4",
        json!({ "type": "message", "subtype": "message_deleted", "channel": "DUED", "channel_type": "im",
                "hidden": true, "ts": "1700000020.000400", "deleted_ts": "1700000020.000200",
                "event_ts": "1700000020.000400",
                "previous_message": { "type": "message", "user": "UED", "text": "It is the one in room 14",
                                      "ts": "1700000020.000200", "thread_ts": "1700000020.000100" } }),
    );
    assert_eq!(app.post_slack_event(&delete).await.status(), StatusCode::OK);
    // An edit outside any ticket thread changes nothing.
    let elsewhere = slack::event(
        "EvE5",
        json!({ "type": "message", "subtype": "message_changed", "channel": "CRANDOM", "ts": "1700000020.000500",
                "message": { "user": "UED", "text": "new", "ts": "1700000020.000001", "thread_ts": "1700000019.000001" },
                "previous_message": { "user": "UED", "text": "old", "ts": "1700000020.000001", "thread_ts": "1700000019.000001" } }),
    );
    assert_eq!(
        app.post_slack_event(&elsewhere).await.status(),
        StatusCode::OK
    );

    let activity: Vec<Value> = app.activity(&number).await;
    let edited: Vec<&Value> = activity
        .iter()
        .filter(|a| a["action"] == "chat_message_edited")
        .collect();
    assert_eq!(edited.len(), 1, "{activity:?}");
    assert_eq!(edited[0]["old_value"], "It is the one in room 12");
    assert_eq!(edited[0]["new_value"], "It is the one in room 14");
    assert_eq!(edited[0]["channel"], "slack");
    let deleted: Vec<&Value> = activity
        .iter()
        .filter(|a| a["action"] == "chat_message_deleted")
        .collect();
    assert_eq!(deleted.len(), 1, "{activity:?}");
    assert_eq!(deleted[0]["old_value"], "It is the one in room 14");
    assert!(deleted[0]["new_value"].is_null());
    let comments: Vec<Value> = app.comments(&number).await;
    assert_eq!(comments.len(), 1);
    assert_eq!(
        comments[0]["body"], "It is the one in room 12",
        "original kept"
    );
}

fn file(id: &str, name: &str, size: usize, url: Option<String>) -> Value {
    let mut f = json!({ "id": id, "name": name, "title": name, "mimetype": "text/plain",
                        "filetype": "text", "size": size, "mode": "hosted" });
    match url {
        Some(url) => f["url_private_download"] = json!(url),
        None => f["mode"] = json!("external"),
    }
    f
}

#[tokio::test]
async fn files_shared_in_a_ticket_thread_become_attachments_within_the_limit() {
    let (app, fake, base) = spawn_slack_app_with(|c| c.storage.max_attachment_bytes = 1000).await;
    fake.add_file("log.txt", b"kernel: eth0 link down\n");
    fake.add_file("big.bin", &[7u8; 2000]);
    let open = slack::event(
        "EvF1",
        slack::direct_message("UFILE", "Network drops", "1700000030.000100", None),
    );
    assert_eq!(app.post_slack_event(&open).await.status(), StatusCode::OK);
    let number = number(&app.tickets().await[0]);
    app.dispatcher.drain().await.expect("deliver");

    let mut share = slack::direct_message(
        "UFILE",
        "Here are the logs",
        "1700000030.000200",
        Some("1700000030.000100"),
    );
    share["subtype"] = json!("file_share");
    share["files"] = json!([
        file("F1", "log.txt", 23, Some(format!("{base}/files/log.txt"))),
        file("F2", "big.bin", 2000, Some(format!("{base}/files/big.bin"))),
        file("F3", "design.gdoc", 10, None),
    ]);
    let response = app.post_slack_event(&slack::event("EvF2", share)).await;
    assert_eq!(response.status(), StatusCode::OK);
    // The text is a comment at once; the files wait for the deliverer.
    let comments: Vec<Value> = app.comments(&number).await;
    assert_eq!(comments.len(), 1);
    assert!(fake.calls().iter().all(|c| !c.method.starts_with("files/")));

    app.dispatcher.drain().await.expect("deliver");
    let downloads: Vec<Value> = fake
        .calls()
        .into_iter()
        .filter(|c| c.method == "files/log.txt")
        .map(|c| c.body)
        .collect();
    assert_eq!(downloads.len(), 1);
    assert_eq!(downloads[0]["authorization"], "Bearer xoxb-test");
    assert!(
        fake.calls().iter().all(|c| c.method != "files/big.bin"),
        "not downloaded: Slack said it is too large"
    );
    let attachments: Vec<Value> = app.attachments(&number).await;
    assert_eq!(attachments.len(), 1, "{attachments:?}");
    assert_eq!(attachments[0]["filename"], "log.txt");
    assert_eq!(attachments[0]["size_bytes"], 23);
    let refusal = fake
        .posted_messages()
        .into_iter()
        .find(|p| {
            p["text"]
                .as_str()
                .unwrap_or("")
                .contains("could not attach")
        })
        .expect("refusal in the thread");
    assert_eq!(refusal["thread_ts"], "1700000030.000100");
    let text = refusal["text"].as_str().expect("text");
    assert!(
        text.contains("big.bin") && text.contains("1000 bytes"),
        "{text}"
    );
    assert!(
        text.contains("design.gdoc") && text.contains("not supported"),
        "{text}"
    );
}

#[tokio::test]
async fn a_slack_user_is_linked_to_the_person_with_their_email() {
    let (app, fake, _) = spawn_slack_app().await;
    let (dana, _) = app
        .person_with_token("Dana Known", "dana@example.com", &["requester"])
        .await;
    let dana_id = dana["id"].as_str().expect("id").to_string();
    fake.add_user("UDANA", "Dana K.", "Dana@Example.com");
    let first = slack::event(
        "EvI1",
        slack::direct_message("UDANA", "Cannot print", "1700000040.000100", None),
    );
    assert_eq!(app.post_slack_event(&first).await.status(), StatusCode::OK);
    // users.info runs after the answer; the identity is linked then.
    let linked = crate::helpers::eventually(std::time::Duration::from_secs(5), || async {
        let ids: Vec<Value> = app
            .get_json(&format!("/api/v1/people/{dana_id}/identities"), &app.token)
            .await;
        ids.iter()
            .any(|i| i["kind"] == "slack" && i["external_id"] == "UDANA")
    })
    .await;
    assert!(linked, "linked by email");
    assert_eq!(fake.calls_to("users.info").len(), 1);
    let second = slack::event(
        "EvI2",
        slack::direct_message("UDANA", "Cannot scan either", "1700000041.000100", None),
    );
    assert_eq!(app.post_slack_event(&second).await.status(), StatusCode::OK);
    let scan = app.ticket_titled("Cannot scan either").await;
    assert_eq!(scan["requester"]["name"], "Dana Known");
    assert_eq!(fake.calls_to("users.info").len(), 1, "asked once");
}

#[tokio::test]
async fn app_home_shows_my_lists_and_is_refreshed_when_they_change() {
    let (app, fake, _) = spawn_slack_app().await;
    let al = slack_agent(&app, "Al Agent", "al@example.com", "UAL").await;
    expect_json(
        app.post(
            "/api/v1/teams",
            &app.token,
            &json!({ "name": "Desk", "members": [al] }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    app.team_incident("Old queue item", "Desk").await;
    app.dispatcher.drain().await.expect("deliver");
    let opened = slack::event(
        "EvH1",
        json!({ "type": "app_home_opened", "user": "UAL", "channel": "DUAL", "tab": "home", "event_ts": "1700000050.1" }),
    );
    assert_eq!(app.post_slack_event(&opened).await.status(), StatusCode::OK);
    let published = fake.called("views.publish").await;
    assert!(published);
    let home = &fake.calls_to("views.publish")[0];
    assert_eq!(home["user_id"], "UAL");
    assert_eq!(home["view"]["type"], "home");
    let blocks = home["view"]["blocks"].to_string();
    assert!(blocks.contains("My open tickets") && blocks.contains("Waiting for my approval"));
    assert!(
        blocks.contains("Queue: Desk") && blocks.contains("Old queue item"),
        "{blocks}"
    );

    // A new ticket for the team: Al's home is published again with it.
    let ticket = app.team_incident("Fresh queue item", "Desk").await;
    app.dispatcher.drain().await.expect("deliver");
    let homes = fake.calls_to("views.publish");
    assert_eq!(homes.len(), 2, "refreshed once");
    let blocks = homes[1]["view"]["blocks"].to_string();
    assert!(
        blocks.contains(ticket["number"].as_str().expect("number")),
        "{blocks}"
    );
}

#[tokio::test]
async fn socket_mode_takes_events_commands_and_clicks_acks_them_and_reconnects() {
    let fake = FakeSlack::default();
    let base = fake.start().await;
    fake.start_socket().await;
    let api = base.clone();
    let app = spawn_app_with(move |c| {
        // No signing secret: only Socket Mode, no public endpoints.
        c.slack.bot_token = switchboard::config::Secret::new("xoxb-test");
        c.slack.app_token = switchboard::config::Secret::new("xapp-test");
        c.slack.socket_mode = true;
        c.slack.api_base_url = api;
        c.slack.max_calls_per_second = 1000;
    })
    .await;
    let wait = |n: usize| {
        let fake = fake.clone();
        async move {
            crate::helpers::eventually(std::time::Duration::from_secs(10), || async {
                fake.socket_received().len() >= n
            })
            .await
        }
    };
    assert!(
        crate::helpers::eventually(std::time::Duration::from_secs(10), || async {
            fake.socket_connections() == 1
        })
        .await,
        "connected"
    );
    // The HTTP endpoints are not mounted without a signing secret.
    let http = app
        .post_slack_event(&slack::event(
            "EvS0",
            slack::direct_message("U1", "x", "1.1", None),
        ))
        .await;
    assert_eq!(http.status(), StatusCode::NOT_FOUND);

    let event: Value = serde_json::from_str(&slack::event(
        "EvS1",
        slack::direct_message("USOCK", "Socket mode works?", "1700000060.000100", None),
    ))
    .expect("json");
    let envelope = json!({ "envelope_id": "env-1", "type": "events_api", "payload": event,
                           "accepts_response_payload": false, "retry_attempt": 0, "retry_reason": "" });
    fake.socket_send(envelope.clone());
    assert!(wait(1).await, "acknowledged");
    assert_eq!(fake.socket_received()[0], json!({ "envelope_id": "env-1" }));
    // Slack re-sends an envelope it did not see acknowledged: still one ticket.
    let mut again = envelope;
    again["envelope_id"] = json!("env-1b");
    again["retry_attempt"] = json!(1);
    fake.socket_send(again);
    assert!(wait(2).await);
    let all = app.tickets().await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["title"], "Socket mode works?");

    // A slash command: the ack carries the answer.
    fake.socket_send(json!({ "envelope_id": "env-2", "type": "slash_commands", "accepts_response_payload": true,
        "payload": { "token": "t", "team_id": TEAM, "user_id": "USOCK", "user_name": "sock", "command": "/ticket",
                     "text": "Keyboard missing keys", "trigger_id": "trig-sock-1", "channel_id": "C1",
                     "response_url": "http://unused" } }));
    assert!(wait(3).await);
    let ack = fake
        .socket_received()
        .into_iter()
        .find(|a| a["envelope_id"] == "env-2")
        .expect("ack");
    assert_eq!(ack["payload"]["response_type"], "ephemeral");
    assert!(ack["payload"]["text"]
        .as_str()
        .expect("text")
        .contains("Opened"));

    // Slack refreshes the connection: we open a new one and keep working.
    fake.socket_send(json!({ "type": "disconnect", "reason": "refresh_requested" }));
    assert!(
        crate::helpers::eventually(std::time::Duration::from_secs(10), || async {
            fake.socket_connections() == 2
        })
        .await,
        "reconnected"
    );
    // An interaction over the new connection (a modal submission with an error).
    fake.socket_send(json!({ "envelope_id": "env-3", "type": "interactive", "accepts_response_payload": true,
        "payload": slack::view_submission("USOCK", "trig-sock-2", slack::modal_view("ticket_create", "", json!({
                         "title": { "value": { "type": "plain_text_input", "value": " " } } }))) }));
    assert!(wait(4).await);
    let ack = fake
        .socket_received()
        .into_iter()
        .find(|a| a["envelope_id"] == "env-3")
        .expect("ack");
    assert_eq!(ack["payload"]["response_action"], "errors");
    assert!(ack["payload"]["errors"]["title"].is_string());
    assert_eq!(app.tickets().await.len(), 2);
    assert!(fake.calls_to("apps.connections.open").len() >= 2);
}

/// The daemon with Slack's OAuth install switched on.
async fn spawn_oauth_app() -> (TestApp, FakeSlack) {
    let (app, fake, _) = spawn_slack_app_with(|c| {
        c.slack.client_id = "C123".into();
        c.slack.client_secret = switchboard::config::Secret::new("oauth-secret");
        c.slack.token_key = switchboard::config::Secret::new("a long random key for tests");
        c.server.public_url = "https://desk.example.com".into();
    })
    .await;
    (app, fake)
}

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The `state` of an install the admin starts.
async fn install_state(app: &TestApp) -> String {
    let go = no_redirects()
        .get(app.url("/slack/install"))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("sent");
    assert_eq!(go.status(), StatusCode::FOUND);
    let location =
        url::Url::parse(go.headers()["location"].to_str().expect("location")).expect("url");
    let state = location
        .query_pairs()
        .find(|(k, _)| k == "state")
        .expect("state");
    state.1.into_owned()
}

/// Slack sends the admin back with the good code for `state`.
async fn complete_install(app: &TestApp, state: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/slack/oauth/callback?code=code-ok&state={state}")))
        .send()
        .await
        .expect("sent")
}

#[tokio::test]
async fn an_oauth_install_is_for_admins_and_sends_them_to_slack_with_our_callback() {
    let (app, _fake) = spawn_oauth_app().await;
    let no_redirects = no_redirects();
    let (_, requester_token) = app
        .person_with_token("Rita Requester", "rita@example.com", &["requester"])
        .await;
    let refused = no_redirects
        .get(app.url("/slack/install"))
        .bearer_auth(&requester_token)
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let go = no_redirects
        .get(app.url("/slack/install"))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("sent");
    assert_eq!(go.status(), StatusCode::FOUND);
    let location =
        url::Url::parse(go.headers()["location"].to_str().expect("location")).expect("url");
    assert_eq!(location.host_str(), Some("slack.com"));
    assert_eq!(location.path(), "/oauth/v2/authorize");
    let query: std::collections::HashMap<String, String> =
        location.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], "C123");
    assert_eq!(
        query["redirect_uri"],
        "https://desk.example.com/slack/oauth/callback"
    );
    assert!(query["scope"].contains("reactions:read"));
    assert!(query.contains_key("state"), "{query:?}");
}

#[tokio::test]
async fn an_oauth_callback_with_a_forged_state_a_refusal_or_a_bad_code_is_answered_plainly() {
    let (app, _fake) = spawn_oauth_app().await;
    let state = install_state(&app).await;

    let forged = app
        .client
        .get(app.url("/slack/oauth/callback?code=code-ok&state=forged"))
        .send()
        .await
        .expect("sent");
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    let denied = app
        .client
        .get(app.url(&format!(
            "/slack/oauth/callback?error=access_denied&state={state}"
        )))
        .send()
        .await
        .expect("sent");
    assert_eq!(denied.status(), StatusCode::BAD_REQUEST);
    assert!(denied.text().await.expect("text").contains("access_denied"));
    let bad_code = app
        .client
        .get(app.url(&format!("/slack/oauth/callback?code=nope&state={state}")))
        .send()
        .await
        .expect("sent");
    assert_eq!(bad_code.status(), StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn a_completed_oauth_install_stores_the_workspace_token_sealed() {
    let (app, fake) = spawn_oauth_app().await;
    let state = install_state(&app).await;

    let done = complete_install(&app, &state).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.expect("text").contains("Other Co"));
    let exchange = fake.calls_to("oauth.v2.access");
    assert_eq!(
        exchange.last().expect("exchanged")["redirect_uri"],
        "https://desk.example.com/slack/oauth/callback"
    );

    // The token is not in the row.
    let switchboard::store::Db::Postgres(pool) = &app.desk.db else {
        panic!("tests run on Postgres");
    };
    let (sealed, nonce): (Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT token_sealed, token_nonce FROM slack_installs WHERE team_id = 'T0OTHER'",
    )
    .fetch_one(pool)
    .await
    .expect("install row");
    assert_eq!(nonce.len(), 12);
    assert!(!String::from_utf8_lossy(&sealed).contains("xoxb-other-workspace"));
}

#[tokio::test]
async fn the_installed_workspaces_messages_are_answered_with_its_token() {
    let (app, fake) = spawn_oauth_app().await;
    let state = install_state(&app).await;
    assert_eq!(
        complete_install(&app, &state).await.status(),
        StatusCode::OK
    );

    let dm = slack::event(
        "EvO1",
        slack::direct_message("UOTHERCO", "Need a monitor", "1700000070.000100", None),
    )
    .replace(TEAM, "T0OTHER");
    assert_eq!(app.post_slack_event(&dm).await.status(), StatusCode::OK);
    app.dispatcher.drain().await.expect("deliver");
    let confirmation = fake
        .calls()
        .into_iter()
        .find(|c| c.method == "chat.postMessage" && c.body["channel"] == "DUOTHERCO")
        .expect("confirmation");
    assert_eq!(confirmation.token.as_deref(), Some("xoxb-other-workspace"));
    let lookups: Vec<_> = fake
        .calls()
        .into_iter()
        .filter(|c| c.method == "users.info")
        .collect();
    assert!(lookups
        .iter()
        .all(|c| c.token.as_deref() == Some("xoxb-other-workspace")));
}

/// A catalog item whose form has one field of each kind; returns its id.
async fn laptop_item(app: &TestApp) -> String {
    let fields = json!([
        { "key": "os", "label": "Operating system", "type": "choice", "required": true,
          "options": [{ "value": "linux", "label": "Linux" }, { "value": "windows" }] },
        { "key": "count", "label": "How many", "type": "number", "integer": true, "max": 5.0 },
        { "key": "needed_by", "label": "Needed by", "type": "date" },
        { "key": "extras", "label": "Extras", "type": "multi_choice",
          "options": [{ "value": "dock" }, { "value": "bag" }, { "value": "mouse" }] },
        { "key": "notes", "label": "Notes", "type": "long_text", "help": "Anything else?" }
    ]);
    let item = expect_json(
        app.post(
            "/api/v1/catalog/items",
            &app.token,
            &json!({ "name": "New laptop for a new starter", "description": "A laptop & its kit",
                     "form": { "fields": fields } }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    item["id"].as_str().expect("id").to_string()
}

/// The item's form submitted as Slack sends a `view_submission`.
fn catalog_order(item_id: &str, trigger: &str, count: &str, os: Option<&str>) -> Value {
    let mut values = json!({
        "count": { "value": { "type": "number_input", "value": count } },
        "needed_by": { "value": { "type": "datepicker", "selected_date": "2026-12-24" } },
        "extras": { "value": { "type": "multi_static_select", "selected_options": [
            slack::option("dock"), slack::option("bag") ] } },
        "notes": { "value": { "type": "plain_text_input", "value": "Starts Monday" } }
    });
    if let Some(os) = os {
        values["os"] =
            json!({ "value": { "type": "static_select", "selected_option": slack::option(os) } });
    }
    slack::view_submission(
        "UCAT",
        trigger,
        slack::modal_view("catalog_order", item_id, values),
    )
}

#[tokio::test]
async fn slash_ticket_alone_offers_the_catalog_above_the_ticket_fields() {
    let (app, fake, _) = spawn_slack_app().await;
    let item_id = laptop_item(&app).await;

    let command = "token=t&team_id=T0TEST&team_domain=test&channel_id=C1&user_id=UCAT&user_name=cat&command=%2Fticket&text=&response_url=http%3A%2F%2Funused&trigger_id=trig-cat-1";
    let response = app.post_slack_command(command).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(fake.called("views.open").await, "views.open called");
    let opened = &fake.calls_to("views.open")[0];
    let select = &opened["view"]["blocks"][1]["elements"][0];
    assert_eq!(select["action_id"], "catalog_pick");
    assert_eq!(select["options"][0]["value"], item_id.as_str());
    assert_eq!(
        select["options"][0]["text"]["text"],
        "New laptop for a new starter"
    );
}

#[tokio::test]
async fn picking_a_catalog_item_turns_the_modal_into_its_form() {
    let (app, fake, _) = spawn_slack_app().await;
    let item_id = laptop_item(&app).await;

    let pick = json!({
        "type": "block_actions", "team": { "id": TEAM, "domain": "test" },
        "user": { "id": "UCAT", "username": "cat", "name": "cat", "team_id": TEAM },
        "api_app_id": "A0TEST", "token": "unused", "trigger_id": "trig-cat-2",
        "container": { "type": "view", "view_id": "V0CAT" },
        "view": slack::modal_view("ticket_create", "", json!({})),
        "actions": [{ "type": "static_select", "action_id": "catalog_pick", "block_id": "catalog",
                      "selected_option": { "value": item_id, "text": { "type": "plain_text", "text": "New laptop" } },
                      "action_ts": "1700000000.3" }]
    });
    assert_eq!(
        app.post_slack_interaction(pick).await.status(),
        StatusCode::OK
    );
    assert!(fake.called("views.update").await, "views.update called");
    let update = &fake.calls_to("views.update")[0];
    assert_eq!(update["view_id"], "V0CAT");
    assert_eq!(update["hash"], "1700000000.abc");
    let form = &update["view"];
    assert_eq!(form["callback_id"], "catalog_order");
    assert_eq!(form["private_metadata"], item_id.as_str());
    assert!(
        form["title"]["text"]
            .as_str()
            .expect("title")
            .chars()
            .count()
            <= 24,
        "Slack's title limit"
    );
    let blocks: Vec<&Value> = form["blocks"]
        .as_array()
        .expect("blocks")
        .iter()
        .filter(|b| b["type"] == "input")
        .collect();
    let kinds: Vec<(&str, &str)> = blocks
        .iter()
        .map(|b| {
            (
                b["block_id"].as_str().expect("block"),
                b["element"]["type"].as_str().expect("type"),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("os", "static_select"),
            ("count", "number_input"),
            ("needed_by", "datepicker"),
            ("extras", "multi_static_select"),
            ("notes", "plain_text_input"),
        ]
    );
    assert_eq!(blocks[0]["optional"], false);
    assert_eq!(blocks[1]["element"]["is_decimal_allowed"], false);
    assert_eq!(blocks[4]["hint"]["text"], "Anything else?");
}

#[tokio::test]
async fn a_wrong_catalog_order_shows_each_error_next_to_its_field_and_orders_nothing() {
    let (app, _fake, _) = spawn_slack_app().await;
    let item_id = laptop_item(&app).await;

    let refused = expect_json(
        app.post_slack_interaction(catalog_order(&item_id, "trig-cat-3", "9", None))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(refused["response_action"], "errors", "{refused}");
    assert!(refused["errors"]["os"].is_string(), "{refused}");
    assert!(refused["errors"]["count"].is_string(), "{refused}");
    assert!(app.tickets().await.is_empty());
}

#[tokio::test]
async fn a_right_catalog_order_opens_a_service_request_with_the_typed_answers() {
    let (app, _fake, _) = spawn_slack_app().await;
    let item_id = laptop_item(&app).await;

    let accepted = app
        .post_slack_interaction(catalog_order(&item_id, "trig-cat-4", "2", Some("linux")))
        .await;
    assert_eq!(accepted.status(), StatusCode::OK);
    let all = app.tickets().await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["kind"], "service_request");
    let number = all[0]["number"].as_str().expect("number");
    let request: Value = app
        .get_json(&format!("/api/v1/tickets/{number}/request"), &app.token)
        .await;
    assert_eq!(request["answers"]["os"], "linux");
    assert_eq!(request["answers"]["count"], 2.0);
    assert_eq!(request["answers"]["needed_by"], "2026-12-24");
    assert_eq!(request["answers"]["extras"], json!(["dock", "bag"]));
    assert_eq!(request["answers"]["notes"], "Starts Monday");
}
