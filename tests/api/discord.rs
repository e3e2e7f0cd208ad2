//! Discord, driven as Discord drives it: interactions signed with a test
//! Ed25519 key in Discord's JSON formats (PING, APPLICATION_COMMAND,
//! MESSAGE_COMPONENT, MODAL_SUBMIT, APPLICATION_COMMAND_AUTOCOMPLETE), and a
//! fake REST API that records what the daemon sends and can answer 429.
//! Covers signatures, every command, deduplicated retries, modal limits,
//! triage cards edited in place, approvals by button with refusals,
//! resolution checks, catalog forms in steps, rate limits and command
//! registration.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{
    helpers::{expect_json, TestApp},
    support::{
        clock::now,
        desk::{next_attempt_at, number},
        discord::{self, content, spawn_discord_app, FakeDiscord, FALLBACK, GUILD},
    },
};

const TRIAGE: &str = "1300000000000000777";

/// Links the Discord user `user` (in the test guild) to `person`.
async fn link(app: &TestApp, person: &Value, user: &str) {
    let id = person["id"].as_str().expect("id");
    app.link_identity(id, "discord", GUILD, user).await;
}

#[tokio::test]
async fn bad_signatures_get_401_and_store_nothing_and_ping_gets_pong() {
    let (app, _fake) = spawn_discord_app().await;
    let body = discord::ticket_modal(
        "2000000000000000001",
        "3000000000000000001",
        "Printer on fire",
        "high",
    )
    .to_string();

    // Signed with another application's key.
    let ts = now().to_string();
    let wrong = switchboard::channels::discord::verify::sign(&[1; 32], &ts, body.as_bytes());
    let response = app
        .post_discord_raw(
            &body,
            vec![
                ("x-signature-ed25519", wrong),
                ("x-signature-timestamp", ts),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Signed, then altered on the way.
    let altered = body.replace("Printer on fire", "Printer on ice!");
    let response = app
        .post_discord_raw(&altered, discord::signed(now(), &body))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // No signature headers at all, or only one of them.
    assert_eq!(
        app.post_discord_raw(&body, vec![]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let only_ts = vec![("x-signature-timestamp", now().to_string())];
    assert_eq!(
        app.post_discord_raw(&body, only_ts).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // A correctly signed request replayed ten minutes later.
    let stale = app
        .post_discord_raw(&body, discord::signed(now() - 600, &body))
        .await;
    assert_eq!(stale.status(), StatusCode::UNAUTHORIZED);

    assert!(app.tickets().await.is_empty(), "nothing stored");
    let people: Vec<Value> = app.get_json("/api/v1/people", &app.token).await;
    assert!(
        people.iter().all(|p| !p["name"]
            .as_str()
            .unwrap_or("")
            .contains("3000000000000000001")),
        "no contact was created"
    );

    // Discord's endpoint check: a signed PING is answered PONG.
    let ping = json!({ "id": "2000000000000000002", "application_id": discord::APP_ID, "type": 1,
                       "token": "aW50ZXJhY3Rpb246cGluZw", "version": 1, "app_permissions": "562949953601536",
                       "attachment_size_limit": 524288000, "authorizing_integration_owners": {}, "entitlements": [] });
    assert_eq!(app.discord_answer(&ping).await, json!({ "type": 1 }));
    // Malformed JSON, correctly signed: 400.
    let malformed = "{not json";
    let response = app
        .post_discord_raw(malformed, discord::signed(now(), malformed))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

/// A signed body twilight-model cannot read as an interaction: 400
/// problem+json, before anything is looked up, recorded or sent.
#[tokio::test]
async fn signed_bodies_that_are_no_interaction_get_400_problem_json_and_change_nothing() {
    let (app, fake) = spawn_discord_app().await;
    let user = "3000000000000000003";
    let good = discord::ticket_modal("2000000000000000003", user, "Printer on fire", "high");
    let broken = |change: &dyn Fn(&mut Value)| {
        let mut body = good.clone();
        change(&mut body);
        body.to_string()
    };
    let bodies = [
        broken(&|b| {
            if let Some(o) = b.as_object_mut() {
                o.remove("application_id");
            }
        }),
        broken(&|b| b["id"] = json!("0")),
        broken(&|b| b["member"]["user"]["id"] = json!("18446744073709551616")),
        broken(&|b| b["type"] = json!(42)),
        broken(&|b| {
            if let Some(o) = b.as_object_mut() {
                o.remove("data");
            }
        }),
        broken(&|b| b["data"]["components"][2]["component"] = json!({})),
        "[]".to_string(),
        "{not json".to_string(),
    ];
    let calls = fake.calls().len();
    for body in bodies {
        let response = app
            .post_discord_raw(&body, discord::signed(now(), &body))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let kind = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert_eq!(kind, "application/problem+json", "{body}");
        let problem: Value = response.json().await.expect("a problem");
        assert_eq!(problem["status"], 400);
        assert_eq!(problem["code"], "bad_request");
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.starts_with("not a Discord interaction"), "{detail}");
    }
    assert!(app.tickets().await.is_empty(), "nothing stored");
    assert_eq!(fake.calls().len(), calls, "nothing sent to Discord");
    let people: Vec<Value> = app.get_json("/api/v1/people", &app.token).await;
    assert!(
        people
            .iter()
            .all(|p| !p["name"].as_str().unwrap_or("").contains(user)),
        "no contact was created"
    );
    // Nothing was recorded under the interaction's id either: the same
    // interaction, well formed, is taken as new.
    let reply = app.discord_answer(&good).await;
    assert!(content(&reply).contains("Opened"), "{reply}");
    assert_eq!(app.tickets().await.len(), 1);
}

#[tokio::test]
async fn slash_ticket_opens_a_modal_whose_submission_opens_one_ticket_even_when_retried() {
    let (app, fake) = spawn_discord_app().await;
    let user = "3000000000000000010";
    let modal = app
        .discord_answer(&discord::command(
            "2000000000000000010",
            user,
            "ticket",
            &[],
        ))
        .await;
    assert_eq!(modal["type"], 9);
    assert_eq!(modal["data"]["custom_id"], "ticket_modal");
    let inputs: Vec<&str> = modal["data"]["components"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            // Text inputs sit in action rows, the urgency menu in a label.
            let input = if r["type"] == 18 {
                &r["component"]
            } else {
                &r["components"][0]
            };
            input["custom_id"].as_str().expect("id")
        })
        .collect();
    assert_eq!(inputs, ["title", "description", "urgency"]);
    let urgency = &modal["data"]["components"][2];
    assert_eq!(urgency["type"], 18, "{urgency}");
    assert_eq!(urgency["component"]["type"], 3, "a string select");
    let offered: Vec<&str> = urgency["component"]["options"]
        .as_array()
        .expect("options")
        .iter()
        .map(|o| o["value"].as_str().expect("value"))
        .collect();
    assert_eq!(offered, ["high", "medium", "low"]);
    assert_eq!(
        modal["data"]["components"][0]["components"][0]["max_length"],
        200
    );

    let submit = discord::ticket_modal("2000000000000000011", user, "VPN keeps dropping", "High");
    let first = app.discord_answer(&submit).await;
    assert_eq!(first["type"], 4);
    assert_eq!(first["data"]["flags"], 64, "ephemeral");
    let all = app.tickets().await;
    assert_eq!(all.len(), 1);
    let number = all[0]["number"].as_str().expect("number").to_string();
    assert!(content(&first).contains(&number), "{first}");
    assert_eq!(all[0]["title"], "VPN keeps dropping");
    assert_eq!(all[0]["urgency"], "high");
    assert_eq!(all[0]["channel"], "discord");
    assert_eq!(all[0]["requester"]["name"], format!("User {user}"));

    // The same interaction delivered again: the same answer, nothing new.
    let again = app.discord_answer(&submit).await;
    assert_eq!(again, first);
    assert_eq!(app.tickets().await.len(), 1);

    // Over the modal's limits, or invalid: the modal's own error, nothing stored.
    let long = "x".repeat(201);
    let refused = app
        .discord_answer(&discord::ticket_modal(
            "2000000000000000012",
            user,
            &long,
            "",
        ))
        .await;
    assert!(content(&refused).contains("longer than 200"), "{refused}");
    assert_eq!(refused["data"]["flags"], 64);
    let refused = app
        .discord_answer(&discord::ticket_modal(
            "2000000000000000013",
            user,
            "  ",
            "",
        ))
        .await;
    assert!(content(&refused).contains("title"), "{refused}");
    let refused = app
        .discord_answer(&discord::ticket_modal(
            "2000000000000000014",
            user,
            "Mouse",
            "urgent",
        ))
        .await;
    assert!(content(&refused).contains("urgency"), "{refused}");
    assert_eq!(app.tickets().await.len(), 1);

    // The requester gets the confirmation as a direct message.
    app.dispatcher.drain().await.expect("deliver");
    let dm = fake.calls_to("POST", "/users/@me/channels");
    assert_eq!(dm[0].body["recipient_id"], user);
    let posted = fake.calls_to(
        "POST",
        &format!("/channels/{}/messages", discord::dm_channel(user)),
    );
    assert_eq!(posted.len(), 1);
    assert!(posted[0].body["content"]
        .as_str()
        .expect("content")
        .contains(&number));
}

#[tokio::test]
async fn the_urgency_picked_from_the_ticket_modals_menu_is_the_tickets_urgency() {
    let (app, _fake) = spawn_discord_app().await;
    let user = "3000000000000000015";
    let submit = discord::ticket_modal("2000000000000000015", user, "Wiki is slow", "low");
    assert_eq!(app.discord_answer(&submit).await["type"], 4);
    let unpicked = discord::ticket_modal("2000000000000000016", user, "Badge reader", "");
    assert_eq!(app.discord_answer(&unpicked).await["type"], 4);

    let all = app.tickets().await;
    let urgency = |title: &str| {
        all.iter()
            .find(|t| t["title"] == title)
            .map(|t| t["urgency"].clone())
            .expect("ticket")
    };
    assert_eq!(urgency("Wiki is slow"), "low");
    // Nothing picked: medium, as for any ticket opened without one.
    assert_eq!(urgency("Badge reader"), "medium");
}

/// The Discord user whose own tickets the commands answer about.
const USER: &str = "3000000000000000020";

/// Two tickets of [`USER`] (the fan one resolved) and one of someone else;
/// returns their numbers (fan, dock, foreign).
async fn own_and_foreign_tickets(app: &TestApp) -> (String, String, String) {
    for (i, title) in ["Laptop fan loud", "Docking station dead"]
        .iter()
        .enumerate()
    {
        app.discord_answer(&discord::ticket_modal(
            &format!("20000000000000002{i}"),
            USER,
            title,
            "",
        ))
        .await;
    }
    let other = app
        .discord_answer(&discord::ticket_modal(
            "2000000000000000029",
            "3000000000000000029",
            "Not mine",
            "",
        ))
        .await;
    assert_eq!(other["type"], 4);
    let all = app.tickets().await;
    let number = |title: &str| {
        all.iter()
            .find(|t| t["title"] == title)
            .and_then(|t| t["number"].as_str())
            .expect("ticket")
            .to_string()
    };
    let (fan, dock, foreign) = (
        number("Laptop fan loud"),
        number("Docking station dead"),
        number("Not mine"),
    );
    expect_json(app.transition(&fan, "resolved").await, StatusCode::OK).await;
    (fan, dock, foreign)
}

#[tokio::test]
async fn slash_tickets_lists_only_the_persons_open_tickets() {
    let (app, _fake) = spawn_discord_app().await;
    let (fan, dock, foreign) = own_and_foreign_tickets(&app).await;

    let mine = app
        .discord_answer(&discord::command(
            "2000000000000000025",
            USER,
            "tickets",
            &[],
        ))
        .await;
    assert_eq!(mine["data"]["flags"], 64);
    let text = content(&mine);
    assert!(text.contains(&dock), "{text}");
    assert!(
        !text.contains(&fan),
        "resolved tickets are not open: {text}"
    );
    assert!(!text.contains(&foreign), "{text}");
}

#[tokio::test]
async fn ticket_status_answers_only_about_the_persons_own_tickets() {
    let (app, _fake) = spawn_discord_app().await;
    let (_, dock, foreign) = own_and_foreign_tickets(&app).await;

    let status = app
        .discord_answer(&discord::command(
            "2000000000000000026",
            USER,
            "ticket-status",
            &[("number", &dock.to_lowercase())],
        ))
        .await;
    assert!(
        content(&status).contains(&dock) && content(&status).contains("State: new"),
        "{status}"
    );
    let hidden = app
        .discord_answer(&discord::command(
            "2000000000000000027",
            USER,
            "ticket-status",
            &[("number", &foreign)],
        ))
        .await;
    assert!(content(&hidden).contains("can't find"), "{hidden}");
}

#[tokio::test]
async fn link_makes_the_discord_user_the_person_who_created_the_code() {
    let (app, _fake) = spawn_discord_app().await;
    let (_, _, foreign) = own_and_foreign_tickets(&app).await;

    // /link: the Discord user becomes Ada, who created a code in Switchboard.
    let (ada, ada_token) = app
        .person_with_token("Ada Lovelace", "ada@example.com", &["agent"])
        .await;
    let code = expect_json(
        app.post("/api/v1/me/link-codes", &ada_token, &json!({}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let code = code["code"].as_str().expect("code").to_string();
    let wrong = app
        .discord_answer(&discord::command(
            "2000000000000000030",
            "3000000000000000031",
            "link",
            &[("code", "000000")],
        ))
        .await;
    assert!(content(&wrong).contains("code"), "{wrong}");
    let linked = app
        .discord_answer(&discord::command(
            "2000000000000000031",
            "3000000000000000031",
            "link",
            &[("code", &code)],
        ))
        .await;
    assert!(content(&linked).contains("Ada Lovelace"), "{linked}");
    let identities: Vec<Value> = app
        .get_json(
            &format!(
                "/api/v1/people/{}/identities",
                ada["id"].as_str().expect("id")
            ),
            &app.token,
        )
        .await;
    assert!(identities.iter().any(|i| i["kind"] == "discord"
        && i["namespace"] == GUILD
        && i["external_id"] == "3000000000000000031"));
    // From now on the Discord user acts as Ada (an agent: sees every ticket).
    let status = app
        .discord_answer(&discord::command(
            "2000000000000000032",
            "3000000000000000031",
            "ticket-status",
            &[("number", &foreign)],
        ))
        .await;
    assert!(content(&status).contains(&foreign), "{status}");
}

#[tokio::test]
async fn create_ticket_on_a_message_links_back_to_it() {
    let (app, _fake) = spawn_discord_app().await;
    let target = "1600000000000000001";
    let mut message = discord::message(
        target,
        discord::CHANNEL,
        "The build server is down again\nsince 9:00",
    );
    message["author"] =
        json!({ "id": "3000000000000000041", "username": "bob", "discriminator": "0" });
    let data = json!({ "id": "1500000000000000005", "name": "Create ticket", "type": 3, "target_id": target,
                       "resolved": { "messages": { target: message } } });
    let invoked = discord::interaction("2000000000000000040", 2, "3000000000000000040", true, data);
    let reply = app.discord_answer(&invoked).await;
    let all = app.tickets().await;
    assert_eq!(all.len(), 1);
    assert!(content(&reply).contains(all[0]["number"].as_str().expect("number")));
    assert_eq!(all[0]["title"], "The build server is down again");
    let description = all[0]["description"].as_str().expect("description");
    assert!(
        description.contains(&format!(
            "https://discord.com/channels/{GUILD}/{}/{target}",
            discord::CHANNEL
        )),
        "{description}"
    );
    assert!(description.contains("bob"));
}

#[tokio::test]
async fn unknown_commands_and_custom_ids_get_an_ephemeral_unknown_action() {
    let (app, _fake) = spawn_discord_app().await;
    let reply = app
        .discord_answer(&discord::command(
            "2000000000000000050",
            "3000000000000000050",
            "frobnicate",
            &[],
        ))
        .await;
    assert_eq!(reply["type"], 4);
    assert_eq!(reply["data"]["flags"], 64);
    assert!(content(&reply).contains("unknown action"));
    let click = discord::click(
        "2000000000000000051",
        "3000000000000000050",
        true,
        "self_destruct:now",
        discord::message("1", discord::CHANNEL, ""),
    );
    assert!(content(&app.discord_answer(&click).await).contains("unknown action"));
    let modal = discord::modal(
        "2000000000000000052",
        "3000000000000000050",
        "mystery",
        &[("a", "b")],
    );
    assert!(content(&app.discord_answer(&modal).await).contains("unknown action"));
    assert!(app.tickets().await.is_empty());
}

/// The agent who works the triage channel's tickets (a linked Discord user).
const TRIAGE_AGENT: &str = "3000000000000000060";

/// A team whose tickets are announced in the triage channel, and one of its
/// incidents, its card delivered; returns (ticket number, card message id).
async fn triage_card(app: &TestApp, fake: &FakeDiscord) -> (String, String) {
    let (agent, _) = app
        .person_with_token("Al Agent", "al@example.com", &["agent"])
        .await;
    link(app, &agent, TRIAGE_AGENT).await;
    let agent_id = agent["id"].as_str().expect("id");
    app.team_with_channel("Network", &[json!(agent_id)], TRIAGE)
        .await;
    let ticket = app.team_incident("Core switch down", "Network").await;
    app.dispatcher.drain().await.expect("deliver");
    // The agent's new-ticket DM may go out first: find the card by channel.
    let (card_id, _) = fake.posted_in(TRIAGE).into_iter().next().expect("card");
    (number(&ticket), card_id)
}

/// A click on the triage card by `user` on the control `custom_id`.
fn card_click(id: &str, user: &str, custom_id: &str, card_id: &str) -> Value {
    discord::click(
        id,
        user,
        true,
        custom_id,
        discord::message(card_id, TRIAGE, ""),
    )
}

#[tokio::test]
async fn the_triage_card_is_posted_once_with_its_controls_and_a_thread() {
    let (app, fake) = spawn_discord_app().await;
    let (number, card_id) = triage_card(&app, &fake).await;
    let cards = fake.calls_to("POST", &format!("/channels/{TRIAGE}/messages"));
    assert_eq!(cards.len(), 1, "one card");
    let card = cards[0].body.to_string();
    assert!(
        card.contains(&format!("take:{number}")) && card.contains(&format!("priority:{number}")),
        "{card}"
    );
    assert!(
        card.contains(&format!("escalate:{number}")) && card.contains(&format!("resolve:{number}"))
    );
    let threads = fake.calls_to(
        "POST",
        &format!("/channels/{TRIAGE}/messages/{card_id}/threads"),
    );
    assert_eq!(threads.len(), 1, "a thread opened on the card");
    assert!(threads[0].body["name"]
        .as_str()
        .expect("name")
        .starts_with(&number));
}

#[tokio::test]
async fn take_on_the_triage_card_assigns_the_agent_and_is_refused_to_a_requester() {
    let (app, fake) = spawn_discord_app().await;
    let (number, card_id) = triage_card(&app, &fake).await;
    let card_id = card_id.as_str();

    // Take, clicked by the agent: assigned, and the clicked card shows it at once.
    let take = card_click(
        "2000000000000000060",
        TRIAGE_AGENT,
        &format!("take:{number}"),
        card_id,
    );
    let taken = app.discord_answer(&take).await;
    assert_eq!(taken["type"], 7, "{taken}");
    assert!(taken["data"]["embeds"].to_string().contains("Al Agent"));
    let fetched: Value = app.ticket(&number).await;
    assert_eq!(fetched["assignee"]["name"], "Al Agent");
    // A requester may not take it.
    let stranger = card_click(
        "2000000000000000061",
        "3000000000000000069",
        &format!("take:{number}"),
        card_id,
    );
    let refused = app.discord_answer(&stranger).await;
    assert_eq!(refused["type"], 4);
    assert_eq!(refused["data"]["flags"], 64);
}

#[tokio::test]
async fn a_change_through_the_api_edits_the_taken_card_in_place() {
    let (app, fake) = spawn_discord_app().await;
    let (number, card_id) = triage_card(&app, &fake).await;
    let card_id = card_id.as_str();
    let take = card_click(
        "2000000000000000060",
        TRIAGE_AGENT,
        &format!("take:{number}"),
        card_id,
    );
    assert_eq!(app.discord_answer(&take).await["type"], 7);

    // A change through the API edits the same card in place.
    app.patch_ticket(&number, json!({ "urgency": "high" }))
        .await;
    app.dispatcher.drain().await.expect("deliver");
    let edits = fake.calls_to("PATCH", &format!("/channels/{TRIAGE}/messages/{card_id}"));
    assert!(edits.len() >= 2, "{edits:?}");
    let last = &edits.last().expect("edit").body;
    assert!(
        last["content"].as_str().expect("content").contains("p2"),
        "{last}"
    );
    assert!(last["embeds"].to_string().contains("Al Agent"));
    assert_eq!(
        fake.calls_to("POST", &format!("/channels/{TRIAGE}/messages"))
            .len(),
        1,
        "still one card"
    );
}

#[tokio::test]
async fn a_comment_on_the_ticket_goes_to_the_cards_thread() {
    let (app, fake) = spawn_discord_app().await;
    let (number, card_id) = triage_card(&app, &fake).await;

    // A comment goes to the card's thread (whose id is the card's).
    app.note(&number, "PSU swapped").await;
    app.dispatcher.drain().await.expect("deliver");
    let in_thread = fake.calls_to("POST", &format!("/channels/{card_id}/messages"));
    assert!(in_thread.iter().any(|c| c.body["content"]
        .as_str()
        .unwrap_or("")
        .contains("PSU swapped")));
}

#[tokio::test]
async fn two_escalate_clicks_at_once_raise_the_level_by_two() {
    let (app, fake) = spawn_discord_app().await;
    let (number, card_id) = triage_card(&app, &fake).await;
    let escalate = format!("escalate:{number}");
    let first = card_click("2000000000000000064", TRIAGE_AGENT, &escalate, &card_id);
    let second = card_click("2000000000000000065", TRIAGE_AGENT, &escalate, &card_id);

    let (first, second) = tokio::join!(app.discord_answer(&first), app.discord_answer(&second));
    assert_eq!(first["type"], 7, "{first}");
    assert_eq!(second["type"], 7, "{second}");
    let fetched: Value = app.ticket(&number).await;
    assert_eq!(fetched["escalation_level"], 2, "{fetched}");
}

#[tokio::test]
async fn the_priority_select_and_escalate_on_the_card_change_the_ticket() {
    let (app, fake) = spawn_discord_app().await;
    let (number, card_id) = triage_card(&app, &fake).await;
    let card_id = card_id.as_str();

    // The priority select and Escalate, from the card.
    let mut select = card_click(
        "2000000000000000062",
        TRIAGE_AGENT,
        &format!("priority:{number}"),
        card_id,
    );
    select["data"]["values"] = json!(["low"]);
    assert_eq!(app.discord_answer(&select).await["type"], 7);
    let escalate = card_click(
        "2000000000000000063",
        TRIAGE_AGENT,
        &format!("escalate:{number}"),
        card_id,
    );
    assert_eq!(app.discord_answer(&escalate).await["type"], 7);
    let fetched: Value = app.ticket(&number).await;
    assert_eq!(fetched["urgency"], "low");
    assert_eq!(fetched["escalation_level"], 1);
}

async fn approval_setup(app: &TestApp, approver_user: &str) -> (String, String) {
    let (approver, _) = app
        .person_with_token("Ann Approver", "ann@example.com", &["approver"])
        .await;
    link(app, &approver, approver_user).await;
    let approver_id = approver["id"].as_str().expect("id");
    app.request_awaiting_approval_by(approver_id).await
}

#[tokio::test]
async fn an_approval_is_decided_by_button_and_refused_for_others_and_second_clicks() {
    let (app, fake) = spawn_discord_app().await;
    let ann = "3000000000000000070";
    let (_, approval_id) = approval_setup(&app, ann).await;
    app.dispatcher.drain().await.expect("deliver");
    let requests = fake.calls_to(
        "POST",
        &format!("/channels/{}/messages", discord::dm_channel(ann)),
    );
    assert_eq!(requests.len(), 1, "a direct message to the approver");
    assert!(requests[0].body["components"]
        .to_string()
        .contains(&format!("approve:{approval_id}")));
    let request_id = "1400000000000000001";
    let on_request = || discord::message(request_id, &discord::dm_channel(ann), "Approval needed");

    // Someone else clicks: an ephemeral explanation, nothing changes.
    let other = discord::click(
        "2000000000000000070",
        "3000000000000000079",
        true,
        &format!("approve:{approval_id}"),
        on_request(),
    );
    let refused = app.discord_answer(&other).await;
    assert_eq!(refused["data"]["flags"], 64);
    assert!(content(&refused).contains("not an approver"), "{refused}");
    let still: Value = app.approval(&approval_id).await;
    assert_eq!(still["status"], "pending");

    // The approver clicks Approve in the direct message (no guild there).
    let yes = discord::click(
        "2000000000000000071",
        ann,
        false,
        &format!("approve:{approval_id}"),
        on_request(),
    );
    let decided = app.discord_answer(&yes).await;
    assert_eq!(decided["type"], 7, "{decided}");
    assert!(
        content(&decided).contains("Approved by Ann Approver"),
        "{decided}"
    );
    assert_eq!(decided["data"]["components"], json!([]));
    let approval: Value = app.approval(&approval_id).await;
    assert_eq!(approval["status"], "approved");
    assert_eq!(approval["stages"][0]["decisions"][0]["channel"], "discord");
    // Discord retries the same interaction: the same answer, no second decision.
    assert_eq!(app.discord_answer(&yes).await, decided);

    // Every copy is edited after the decision.
    app.dispatcher.drain().await.expect("deliver");
    let edits = fake.calls_to(
        "PATCH",
        &format!(
            "/channels/{}/messages/{request_id}",
            discord::dm_channel(ann)
        ),
    );
    let last = edits.last().expect("the request was edited in place");
    assert!(last.body["content"]
        .as_str()
        .expect("content")
        .contains("Approved by Ann Approver"));
    assert!(!last.body.to_string().contains("approve:"));

    // A second click says who decided.
    let again = discord::click(
        "2000000000000000072",
        ann,
        false,
        &format!("approve:{approval_id}"),
        on_request(),
    );
    let text = content(&app.discord_answer(&again).await);
    assert!(
        text.contains("already approved") && text.contains("Ann Approver"),
        "{text}"
    );
}

#[tokio::test]
async fn reject_asks_for_a_reason_and_people_without_dms_are_asked_in_the_fallback_channel() {
    let (app, fake) = spawn_discord_app().await;
    let ann = "3000000000000000080";
    fake.refuse_dms(ann);
    let (number, approval_id) = approval_setup(&app, ann).await;
    app.dispatcher.drain().await.expect("deliver");
    let asked = fake.calls_to("POST", &format!("/channels/{FALLBACK}/messages"));
    assert_eq!(asked.len(), 1, "{:?}", fake.calls());
    assert!(asked[0].body["content"]
        .as_str()
        .expect("content")
        .starts_with(&format!("<@{ann}>")));
    assert_eq!(asked[0].body["allowed_mentions"]["users"], json!([ann]));
    let request = discord::message("1400000000000000001", FALLBACK, "Approval needed");

    let reject = discord::click(
        "2000000000000000080",
        ann,
        true,
        &format!("reject:{approval_id}"),
        request.clone(),
    );
    let modal = app.discord_answer(&reject).await;
    assert_eq!(modal["type"], 9);
    assert_eq!(
        modal["data"]["custom_id"],
        format!("reject_modal:{approval_id}")
    );

    let too_long = "no ".repeat(400);
    let refused = app
        .discord_answer(&discord::modal(
            "2000000000000000081",
            ann,
            &format!("reject_modal:{approval_id}"),
            &[("reason", &too_long)],
        ))
        .await;
    assert!(content(&refused).contains("longer than 1000"), "{refused}");
    let pending: Value = app.approval(&approval_id).await;
    assert_eq!(pending["status"], "pending");

    let submitted = app
        .discord_answer(&discord::modal(
            "2000000000000000082",
            ann,
            &format!("reject_modal:{approval_id}"),
            &[("reason", "Not without a business case")],
        ))
        .await;
    assert!(content(&submitted).contains(&number), "{submitted}");
    let rejected: Value = app.approval(&approval_id).await;
    assert_eq!(rejected["status"], "rejected");
    assert!(rejected.to_string().contains("Not without a business case"));
    app.dispatcher.drain().await.expect("deliver");
    let edited = fake.calls_to(
        "PATCH",
        &format!("/channels/{FALLBACK}/messages/1400000000000000001"),
    );
    assert!(edited.last().expect("edited").body["content"]
        .as_str()
        .expect("content")
        .contains("Rejected"));
}

#[tokio::test]
async fn resolving_asks_the_requester_and_yes_closes_the_ticket() {
    let (app, fake) = spawn_discord_app().await;
    let user = "3000000000000000090";
    app.discord_answer(&discord::ticket_modal(
        "2000000000000000090",
        user,
        "Screen flickers",
        "",
    ))
    .await;
    let number = number(&app.tickets().await[0]);
    app.dispatcher.drain().await.expect("deliver");
    expect_json(app.transition(&number, "resolved").await, StatusCode::OK).await;
    app.dispatcher.drain().await.expect("deliver");
    let check = fake
        .calls_to(
            "POST",
            &format!("/channels/{}/messages", discord::dm_channel(user)),
        )
        .into_iter()
        .find(|c| c.body["components"].to_string().contains("solved_yes"))
        .expect("a resolution check in the requester's DM");
    assert!(check.body["content"]
        .as_str()
        .expect("content")
        .contains(&number));
    let yes = discord::click(
        "2000000000000000091",
        user,
        false,
        &format!("solved_yes:{number}"),
        discord::message("1400000000000000003", &discord::dm_channel(user), ""),
    );
    let closed = app.discord_answer(&yes).await;
    assert_eq!(closed["type"], 7, "{closed}");
    let ticket: Value = app.ticket(&number).await;
    assert_eq!(ticket["state"], "closed");
    // The answer offers an optional rating; 5 stars is recorded.
    assert!(closed["data"]["components"]
        .to_string()
        .contains(&format!("rate:{number}:5")));
    let rate = discord::click(
        "2000000000000000092",
        user,
        false,
        &format!("rate:{number}:5"),
        discord::message("1400000000000000003", &discord::dm_channel(user), ""),
    );
    let thanked = app.discord_answer(&rate).await;
    assert_eq!(thanked["type"], 7, "{thanked}");
    assert!(content(&thanked).contains("★★★★★"), "{thanked}");
    let ticket: Value = app.ticket(&number).await;
    assert_eq!(ticket["satisfaction"], 5);
}

#[tokio::test]
async fn a_catalog_item_is_found_by_autocomplete_and_ordered_through_modals_in_steps() {
    let (app, _fake) = spawn_discord_app().await;
    let fields: Vec<Value> = (1..=7)
        .map(|i| json!({ "key": format!("f{i}"), "label": format!("Field {i}"), "type": "text", "required": i == 1 }))
        .chain([json!({ "key": "os", "label": "Operating system", "type": "choice", "required": true,
                        "options": [{ "value": "linux" }, { "value": "windows" }] })])
        .collect();
    let item = expect_json(
        app.post(
            "/api/v1/catalog/items",
            &app.token,
            &json!({ "name": "New laptop", "form": { "fields": fields } }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let item_id = item["id"].as_str().expect("id").to_string();
    let user = "3000000000000000100";

    let typing = discord::interaction(
        "2000000000000000100",
        4,
        user,
        true,
        json!({
        "id": "1500000000000000001", "name": "ticket", "type": 1,
        "options": [{ "type": 3, "name": "item", "value": "lapt", "focused": true }] }),
    );
    let suggestions = app.discord_answer(&typing).await;
    assert_eq!(suggestions["type"], 8);
    assert_eq!(
        suggestions["data"]["choices"],
        json!([{ "name": "New laptop", "value": item_id }])
    );

    let first = app
        .discord_answer(&discord::command(
            "2000000000000000101",
            user,
            "ticket",
            &[("item", &item_id)],
        ))
        .await;
    assert_eq!(first["type"], 9);
    assert_eq!(first["data"]["custom_id"], format!("catalog:{item_id}:0"));
    assert_eq!(
        first["data"]["components"].as_array().expect("rows").len(),
        5
    );
    assert_eq!(first["data"]["title"], "New laptop (1/2)");

    let step1 = discord::modal(
        "2000000000000000102",
        user,
        &format!("catalog:{item_id}:0"),
        &[
            ("f1", "one"),
            ("f2", ""),
            ("f3", "three"),
            ("f4", ""),
            ("f5", "five"),
        ],
    );
    let carry = app.discord_answer(&step1).await;
    assert_eq!(carry["type"], 4);
    assert!(
        carry["data"]["components"]
            .to_string()
            .contains(&format!("catalog_next:{item_id}:1")),
        "{carry}"
    );
    assert!(app.tickets().await.is_empty(), "nothing ordered yet");

    let message = discord::echoed("1700000000000000001", discord::CHANNEL, &carry["data"]);
    let next = discord::click(
        "2000000000000000103",
        user,
        true,
        &format!("catalog_next:{item_id}:1"),
        message.clone(),
    );
    let second = app.discord_answer(&next).await;
    assert_eq!(second["data"]["custom_id"], format!("catalog:{item_id}:1"));
    assert_eq!(
        second["data"]["components"].as_array().expect("rows").len(),
        3
    );

    let mut bad = discord::modal(
        "2000000000000000104",
        user,
        &format!("catalog:{item_id}:1"),
        &[("f6", "six"), ("f7", ""), ("os", "beos")],
    );
    bad["message"] = message.clone();
    let refused = app.discord_answer(&bad).await;
    assert!(content(&refused).contains("os"), "{refused}");
    assert!(app.tickets().await.is_empty());

    let mut good = discord::modal(
        "2000000000000000105",
        user,
        &format!("catalog:{item_id}:1"),
        &[("f6", "six"), ("f7", ""), ("os", "linux")],
    );
    good["message"] = message;
    let ordered = app.discord_answer(&good).await;
    let all = app.tickets().await;
    assert_eq!(all.len(), 1, "{ordered}");
    let number = all[0]["number"].as_str().expect("number");
    assert!(content(&ordered).contains(number));
    let request: Value = app
        .get_json(&format!("/api/v1/tickets/{number}/request"), &app.token)
        .await;
    assert_eq!(request["answers"]["f1"], "one");
    assert_eq!(request["answers"]["f5"], "five");
    assert_eq!(request["answers"]["f6"], "six");
    assert_eq!(request["answers"]["os"], "linux");
    assert!(request["answers"].get("f2").is_none_or(Value::is_null));
}

/// Opens a ticket by the `/ticket` modal: its confirmation is the first
/// call the daemon makes to Discord.
async fn ticket_by_modal(app: &TestApp, id: &str, user: &str, title: &str) {
    app.discord_answer(&discord::ticket_modal(id, user, title, ""))
        .await;
}

#[tokio::test]
async fn a_429_keeps_the_message_for_after_its_retry_after() {
    let (app, fake) = spawn_discord_app().await;
    fake.rate_limit_next(30.0, false);
    ticket_by_modal(
        &app,
        "2000000000000000110",
        "3000000000000000110",
        "Wi-Fi is slow",
    )
    .await;
    app.dispatcher.run_once().await.expect("dispatch");
    let pending = app.pending_for("discord").await;
    assert_eq!(pending.len(), 1, "kept for later, not dead");
    assert!(
        pending[0]["last_error"]
            .as_str()
            .expect("error")
            .contains("429"),
        "{pending:?}"
    );
    let next = next_attempt_at(&pending[0]);
    assert!(
        next >= chrono::Utc::now() + chrono::Duration::seconds(25),
        "retry_after honoured: {next}"
    );
    assert_eq!(fake.calls().len(), 1, "one attempt so far");
}

/// An empty bucket (X-RateLimit-Remaining: 0) closes its route until it
/// resets: the next call on that route is not even sent.
#[tokio::test]
async fn an_empty_bucket_holds_back_the_next_call_on_its_route_until_it_resets() {
    let (app, fake) = spawn_discord_app().await;
    fake.empty_bucket_next(30.0);
    ticket_by_modal(
        &app,
        "2000000000000000111",
        "3000000000000000111",
        "Printer jam",
    )
    .await;
    app.dispatcher.run_once().await.expect("dispatch");
    assert_eq!(fake.calls_to("POST", "/users/@me/channels").len(), 1);
    assert!(app.outbox("pending").await.is_empty(), "the first went out");
    ticket_by_modal(
        &app,
        "2000000000000000112",
        "3000000000000000112",
        "Toner empty",
    )
    .await;
    app.dispatcher.run_once().await.expect("dispatch");
    assert_eq!(
        fake.calls_to("POST", "/users/@me/channels").len(),
        1,
        "held back"
    );
    let held = app.outbox("pending").await;
    assert_eq!(held.len(), 1);
    assert!(
        held[0]["last_error"]
            .as_str()
            .expect("error")
            .contains("rate limited for"),
        "{held:?}"
    );
    let next = next_attempt_at(&held[0]);
    assert!(
        next >= chrono::Utc::now() + chrono::Duration::seconds(25),
        "until the reset: {next}"
    );
}

#[tokio::test]
async fn a_global_429_closes_every_route() {
    let (app, fake) = spawn_discord_app().await;
    fake.rate_limit_next(40.0, true);
    ticket_by_modal(&app, "2000000000000000113", "3000000000000000113", "Mouse").await;
    app.dispatcher.run_once().await.expect("dispatch");
    assert_eq!(fake.calls().len(), 1);
    let (agent, _) = app
        .person_with_token("Gil", "gil@example.com", &["agent"])
        .await;
    link(&app, &agent, "3000000000000000114").await;
    app.team_with_channel("Desk", &[agent["id"].clone()], TRIAGE)
        .await;
    app.team_incident("Fire", "Desk").await;
    app.dispatcher.run_once().await.expect("dispatch");
    assert_eq!(
        fake.calls().len(),
        1,
        "no call on any route: {:?}",
        fake.calls()
    );
    // Held: Mouse's DM, Fire's card and the DM telling the team's agent
    // (the email to the agent is not Discord's and goes its own way).
    let held = app.pending_for("discord").await;
    assert_eq!(held.len(), 3, "{held:?}");
    assert!(app.outbox("dead").await.is_empty());
}

#[tokio::test]
async fn a_5xx_is_retried_not_dead_lettered() {
    let (app, fake) = spawn_discord_app().await;
    fake.fail_next();
    ticket_by_modal(
        &app,
        "2000000000000000113",
        "3000000000000000113",
        "Keyboard",
    )
    .await;
    app.dispatcher.run_once().await.expect("dispatch");
    let pending = app.outbox("pending").await;
    assert!(
        pending
            .iter()
            .any(|m| m["last_error"].as_str().unwrap_or("").contains("502")),
        "{pending:?}"
    );
    assert!(app.outbox("dead").await.is_empty());
}

#[tokio::test]
async fn register_commands_puts_the_manifest_globally_or_in_a_guild() {
    let fake = FakeDiscord::default();
    let base = fake.start().await;
    let config = switchboard::config::DiscordConfig {
        application_id: discord::APP_ID.into(),
        public_key: discord::public_key(),
        bot_token: switchboard::config::Secret::new("bot-test-token"),
        api_base_url: base,
        ..switchboard::config::DiscordConfig::default()
    };
    let names = switchboard::channels::discord::register_commands(
        &config,
        Some(GUILD),
        switchboard::channels::discord::COMMANDS,
    )
    .await
    .expect("registered");
    assert_eq!(
        names,
        [
            "ticket",
            "tickets",
            "ticket-status",
            "link",
            "report",
            "time",
            "macro",
            "away",
            "Create ticket"
        ]
    );
    let put = fake.calls_to(
        "PUT",
        &format!("/applications/{}/guilds/{GUILD}/commands", discord::APP_ID),
    );
    assert_eq!(put.len(), 1);
    assert_eq!(put[0].body[0]["options"][0]["autocomplete"], true);
    switchboard::channels::discord::register_commands(
        &config,
        None,
        switchboard::channels::discord::COMMANDS,
    )
    .await
    .expect("registered globally");
    assert_eq!(
        fake.calls_to(
            "PUT",
            &format!("/applications/{}/commands", discord::APP_ID)
        )
        .len(),
        1
    );
}

#[tokio::test]
async fn an_escalation_arrives_with_an_acknowledge_button_that_stops_it() {
    let (app, fake) = spawn_discord_app().await;
    let lead_user = "3000000000000000120";
    let (lead, _) = app
        .person_with_token("Lena Lead", "lena@example.com", &["agent"])
        .await;
    link(&app, &lead, lead_user).await;
    expect_json(
        app.post(
            "/api/v1/teams",
            &app.token,
            &json!({ "name": "Network", "lead": lead["id"], "members": [lead["id"]] }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    expect_json(
        app.post("/api/v1/escalation-policies", &app.token, &json!({ "name": "net", "selector": { "teams": ["Network"] },
            "steps": [{ "after_minutes": 5, "actions": [{ "type": "notify_lead" }], "repeat_every_minutes": 10, "repeat_times": 3 }] }))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let ticket = app.team_incident("Uplink flapping", "Network").await;
    let number = number(&ticket);
    app.pass(chrono::Duration::minutes(6)).await;
    app.dispatcher.drain().await.expect("deliver");
    let alert = fake
        .calls_to(
            "POST",
            &format!("/channels/{}/messages", discord::dm_channel(lead_user)),
        )
        .into_iter()
        .find(|c| {
            c.body["components"]
                .to_string()
                .contains(&format!("ack:{number}"))
        })
        .expect("an escalation with an Acknowledge button");
    let shown = alert.body["content"].as_str().expect("content").to_string();
    assert!(shown.contains(&number), "{shown}");

    let ack = discord::click(
        "2000000000000000120",
        lead_user,
        false,
        &format!("ack:{number}"),
        discord::message(
            "1400000000000000001",
            &discord::dm_channel(lead_user),
            &shown,
        ),
    );
    let acknowledged = app.discord_answer(&ack).await;
    assert_eq!(acknowledged["type"], 7, "{acknowledged}");
    assert!(content(&acknowledged).contains("escalation acknowledged by Lena Lead"));
    assert_eq!(acknowledged["data"]["components"], json!([]));
    let escalation: Value = app
        .get_json(&format!("/api/v1/tickets/{number}/escalation"), &app.token)
        .await;
    assert_eq!(escalation["active"], false, "{escalation}");
}

#[tokio::test]
async fn a_slow_answer_is_deferred_and_sent_later_through_the_interaction_webhook() {
    let (app, fake) = spawn_discord_app().await;
    let switchboard::store::Db::Postgres(pool) = &app.desk.db else {
        panic!("the API tests run on Postgres");
    };
    // Hold the intake table so the use case cannot commit for a while.
    let mut lock = pool.begin().await.expect("begin");
    sqlx::query("LOCK TABLE inbound IN EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .expect("lock");
    let started = std::time::Instant::now();
    let deferred = app
        .discord_answer(&discord::ticket_modal(
            "2000000000000000130",
            "3000000000000000130",
            "Slow day",
            "",
        ))
        .await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "within Discord's 3 s"
    );
    assert_eq!(deferred, json!({ "type": 5, "data": { "flags": 64 } }));
    lock.commit().await.expect("release");
    let path = format!(
        "/webhooks/{}/token-2000000000000000130/messages/@original",
        discord::APP_ID
    );
    let sent = crate::helpers::eventually(std::time::Duration::from_secs(10), || async {
        !fake.calls_to("PATCH", &path).is_empty()
    })
    .await;
    assert!(sent, "{:?}", fake.calls());
    let number = number(&app.tickets().await[0]);
    let edit = &fake.calls_to("PATCH", &path)[0].body;
    assert!(
        edit["content"].as_str().expect("content").contains(&number),
        "{edit}"
    );
}

/// A `MESSAGE_CREATE` dispatch as the gateway sends it.
fn message_create(id: &str, channel: &str, guild: bool, author: &str, content: &str) -> Value {
    let mut d = json!({
        "id": id, "channel_id": channel, "type": 0, "content": content, "tts": false,
        "author": { "id": author, "username": format!("user{}", &author[author.len() - 4..]),
                    "global_name": format!("User {author}"), "discriminator": "0", "avatar": null },
        "timestamp": "2026-11-22T08:00:00.000000+00:00", "edited_timestamp": null, "flags": 0,
        "mentions": [], "mention_roles": [], "mention_everyone": false, "attachments": [], "embeds": [],
        "pinned": false, "components": [],
    });
    if guild {
        d["guild_id"] = json!(GUILD);
        d["member"] = json!({ "roles": [], "nick": null, "joined_at": "2024-01-01T00:00:00.000000+00:00",
                              "deaf": false, "mute": false, "flags": 0 });
    }
    d
}

/// The gateway's event handler, fed by the test instead of a connection.
fn gateway(app: &TestApp) -> switchboard::channels::discord::gateway::Gateway {
    switchboard::channels::discord::gateway::Gateway::new(app.desk.clone(), &app.config.discord)
        .expect("gateway")
}

const REQUESTER: &str = "3000000000000000141";

/// The requester's ticket opened by the `/ticket` modal, its confirmation
/// delivered to their DM channel; returns (number, DM channel, id of the
/// confirmation).
async fn requester_ticket(app: &TestApp, fake: &FakeDiscord) -> (String, String, String) {
    app.discord_answer(&discord::ticket_modal(
        "2000000000000000140",
        REQUESTER,
        "Laptop will not boot",
        "",
    ))
    .await;
    let mine = number(&app.ticket_titled("Laptop will not boot").await);
    app.dispatcher.drain().await.expect("deliver");
    let dm = discord::dm_channel(REQUESTER);
    let (confirmation, _) = fake
        .posted_in(&dm)
        .into_iter()
        .next()
        .expect("confirmation");
    (mine, dm, confirmation)
}

/// The requester's reply to the bot's confirmation, with a file attached.
fn boot_log_reply(app: &TestApp, dm: &str, confirmation: &str) -> Value {
    let mut reply = message_create(
        "1800000000000000002",
        dm,
        false,
        REQUESTER,
        "Here is the boot log",
    );
    reply["message_reference"] = json!({ "type": 0, "message_id": confirmation, "channel_id": dm });
    let base = app.config.discord.api_base_url.clone();
    reply["attachments"] = json!([{ "id": "1900000000000000001", "filename": "boot.log", "size": 25,
        "url": format!("{base}/attachments/boot.log"), "proxy_url": format!("{base}/attachments/boot.log"),
        "content_type": "text/plain" }]);
    reply
}

#[tokio::test]
async fn an_agents_reply_in_the_card_thread_is_an_internal_note_taken_once_and_not_echoed() {
    let (app, fake) = spawn_discord_app().await;
    let gateway = gateway(&app);
    let agent_user = "3000000000000000140";
    let (agent, _) = app
        .person_with_token("Al Agent", "al@example.com", &["agent"])
        .await;
    link(&app, &agent, agent_user).await;
    app.team_with_channel("Network", &[agent["id"].clone()], TRIAGE)
        .await;
    let ticket = app.team_incident("Core switch down", "Network").await;
    let number = number(&ticket);
    app.dispatcher.drain().await.expect("deliver");
    let (card_id, _) = fake.posted_in(TRIAGE).into_iter().next().expect("card");

    let note = message_create(
        "1800000000000000001",
        &card_id,
        true,
        agent_user,
        "Replacing the PSU",
    );
    gateway
        .handle_event("MESSAGE_CREATE", &note)
        .await
        .expect("handled");
    let comments = app.comments(&number).await;
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0]["internal"], true);
    assert_eq!(comments[0]["author"]["name"], "Al Agent");
    assert_eq!(comments[0]["channel"], "discord");
    // The same event again (a reconnect replays it): nothing new.
    gateway
        .handle_event("MESSAGE_CREATE", &note)
        .await
        .expect("handled");
    let comments = app.comments(&number).await;
    assert_eq!(comments.len(), 1);
    app.dispatcher.drain().await.expect("deliver");
    assert!(
        fake.posted_in(&card_id).iter().all(|(_, b)| !b["content"]
            .as_str()
            .unwrap_or("")
            .contains("Replacing the PSU")),
        "not echoed into the thread it came from"
    );
}

#[tokio::test]
async fn a_reply_to_the_bots_direct_message_is_a_public_comment_and_its_file_an_attachment() {
    let (app, fake) = spawn_discord_app().await;
    let gateway = gateway(&app);
    let (mine, dm, confirmation) = requester_ticket(&app, &fake).await;

    gateway
        .handle_event("MESSAGE_CREATE", &boot_log_reply(&app, &dm, &confirmation))
        .await
        .expect("handled");
    let comments = app.comments(&mine).await;
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(comments[0]["body"], "Here is the boot log");
    assert_eq!(comments[0]["internal"], false);
    let files = app.attachments(&mine).await;
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0]["filename"], "boot.log");
}

#[tokio::test]
async fn an_agents_public_comment_reaches_the_requesters_dm_where_their_reply_is_not_echoed() {
    let (app, fake) = spawn_discord_app().await;
    let gateway = gateway(&app);
    let (mine, dm, confirmation) = requester_ticket(&app, &fake).await;
    gateway
        .handle_event("MESSAGE_CREATE", &boot_log_reply(&app, &dm, &confirmation))
        .await
        .expect("handled");

    app.comment(&mine, "Try holding the power button").await;
    app.dispatcher.drain().await.expect("deliver");
    let in_dm: Vec<String> = fake
        .posted_in(&dm)
        .iter()
        .filter_map(|(_, b)| b["content"].as_str().map(String::from))
        .collect();
    assert!(
        in_dm
            .iter()
            .any(|t| t.contains("Try holding the power button")),
        "{in_dm:?}"
    );
    assert!(
        !in_dm.iter().any(|t| t.contains("Here is the boot log")),
        "not echoed: {in_dm:?}"
    );
}

#[tokio::test]
async fn any_other_direct_message_opens_a_ticket_and_the_bots_own_are_ignored() {
    let (app, fake) = spawn_discord_app().await;
    let gateway = gateway(&app);
    let (_, dm, _) = requester_ticket(&app, &fake).await;
    let before = app.tickets().await.len();

    let fresh = message_create(
        "1800000000000000003",
        &dm,
        false,
        REQUESTER,
        "My mouse is gone\nIt was here yesterday",
    );
    gateway
        .handle_event("MESSAGE_CREATE", &fresh)
        .await
        .expect("handled");
    let mut own = message_create(
        "1800000000000000004",
        &dm,
        false,
        discord::APP_ID,
        "I opened INC…",
    );
    own["author"]["bot"] = json!(true);
    gateway
        .handle_event("MESSAGE_CREATE", &own)
        .await
        .expect("handled");
    let all = app.tickets().await;
    assert_eq!(all.len(), before + 1, "{all:?}");
    assert!(all
        .iter()
        .any(|t| t["title"] == "My mouse is gone" && t["channel"] == "discord"));
}

#[tokio::test]
async fn the_gateway_identifies_keeps_heartbeats_resumes_and_only_one_replica_connects() {
    let (app, fake) = spawn_discord_app().await;
    fake.start_gateway().await;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    // Two replicas: the advisory lock lets only one of them connect.
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let gateway = switchboard::channels::discord::gateway::Gateway::new(
            app.desk.clone(),
            &app.config.discord,
        )
        .expect("gateway");
        replicas.push(tokio::spawn(gateway.run(shutdown.clone())));
    }
    let within = std::time::Duration::from_secs(10);
    let identified = |n: usize| {
        let fake = fake.clone();
        move || {
            let fake = fake.clone();
            async move {
                fake.gateway_received()
                    .iter()
                    .filter(|f| f["op"] == 2)
                    .count()
                    >= n
            }
        }
    };
    assert!(
        crate::helpers::eventually(within, identified(1)).await,
        "IDENTIFY sent"
    );
    let identify = fake
        .gateway_received()
        .into_iter()
        .find(|f| f["op"] == 2)
        .expect("identify");
    // twilight sends the token with its `Bot ` scheme, which Discord accepts.
    assert_eq!(identify["d"]["token"], "Bot bot-test-token");
    assert_eq!(
        identify["d"]["intents"],
        switchboard::channels::discord::gateway::INTENTS
    );

    // A direct message from someone new opens a ticket.
    let mut dm = json!({ "op": 0, "s": 7, "t": "MESSAGE_CREATE",
        "d": message_create("1800000000000000090", "1300000000000000090", false,
                            "3000000000000000190", "The projector in room 4 flickers") });
    fake.gateway_send(dm.take());
    assert!(
        crate::helpers::eventually(within, || async {
            app.tickets()
                .await
                .iter()
                .any(|t| t["title"] == "The projector in room 4 flickers")
        })
        .await,
        "a ticket from the gateway message"
    );
    // Heartbeats carry the last sequence number; they are acknowledged, so
    // the session stays up.
    assert!(
        crate::helpers::eventually(within, || async {
            fake.gateway_received()
                .iter()
                .any(|f| f["op"] == 1 && f["d"] == 7)
        })
        .await,
        "heartbeat with the sequence"
    );
    assert_eq!(fake.gateway_connections(), 1, "one replica connected");

    // Discord asks for a reconnect (op 7): the new connection RESUMEs the
    // session where the last committed event left it.
    let session = fake.gateway().session().expect("a session");
    fake.gateway_send(json!({ "op": 7, "d": null }));
    assert!(
        crate::helpers::eventually(within, || async {
            fake.gateway_received().iter().any(|f| {
                f["op"] == 6 && f["d"]["session_id"] == session.as_str() && f["d"]["seq"] == 7
            })
        })
        .await,
        "resumed after the reconnect: {:?}",
        fake.gateway_received()
    );
    assert_eq!(fake.gateway_connections(), 2);
    assert_eq!(fake.gateway().identifies(), 1, "no second IDENTIFY");

    stop.send(true).expect("stop");
    for replica in replicas {
        tokio::time::timeout(within, replica)
            .await
            .expect("replica stops on shutdown")
            .expect("joined");
    }
    assert_eq!(app.tickets().await.len(), 1, "nothing read twice");
}
