//! People and identities: first contact from a channel, linking by verified
//! email, one-time link codes, agent link/unlink; profiles; watchers; team
//! profile fields.

use reqwest::StatusCode;
use serde_json::{json, Value};
use switchboard::{
    desk::identity::{Contact, IdentityKey},
    domain::Channel,
};
use uuid::Uuid;

use crate::helpers::spawn_app;

fn slack(user: &str) -> IdentityKey {
    IdentityKey::Slack {
        team_id: "T0001".into(),
        user_id: user.into(),
    }
}

#[tokio::test]
async fn a_first_contact_from_chat_creates_a_requester_once_and_a_verified_email_links_to_the_known_person(
) {
    let app = spawn_app().await;
    let org = switchboard::store::orgs::list_orgs(&app.desk.db)
        .await
        .expect("orgs")[0]
        .id;
    let contact = |user: &str, email: Option<&str>| Contact {
        org_id: org,
        identity: slack(user),
        display_name: "Sam Slack".into(),
        verified_email: email.map(str::to_string),
    };

    let first = app
        .desk
        .resolve_contact(contact("U1", None), Channel::Slack)
        .await
        .expect("resolved");
    let again = app
        .desk
        .resolve_contact(contact("U1", None), Channel::Slack)
        .await
        .expect("resolved");
    assert_eq!(
        first.person_id, again.person_id,
        "the same person on every contact"
    );
    assert_eq!(first.roles, vec![switchboard::domain::Role::Requester]);
    assert_eq!(first.name, "Sam Slack");

    let (known, _) = app
        .person_with_token("Kim Known", "kim@example.com", &["agent"])
        .await;
    let linked = app
        .desk
        .resolve_contact(contact("U2", Some("KIM@example.com")), Channel::Slack)
        .await
        .expect("resolved");
    assert_eq!(
        linked.person_id.map(|p| p.to_string()),
        known["id"].as_str().map(str::to_string)
    );
    let identities: Vec<Value> = app
        .get_json(
            &format!(
                "/api/v1/people/{}/identities",
                known["id"].as_str().expect("id")
            ),
            &app.token,
        )
        .await;
    assert_eq!(identities.len(), 1);
    assert_eq!(identities[0]["kind"], "slack");
    assert_eq!(identities[0]["verified"], true);

    // An email sender is the person with that address.
    let by_mail = Contact {
        org_id: org,
        identity: IdentityKey::Email("Kim@Example.com".into()),
        display_name: "Kim".into(),
        verified_email: None,
    };
    let from_mail = app
        .desk
        .resolve_contact(by_mail, Channel::Email)
        .await
        .expect("resolved");
    assert_eq!(from_mail.person_id, linked.person_id);
}

#[tokio::test]
async fn a_link_code_joins_a_chat_identity_to_the_account_and_wrong_codes_are_throttled() {
    let app = spawn_app().await;
    let org = switchboard::store::orgs::list_orgs(&app.desk.db)
        .await
        .expect("orgs")[0]
        .id;
    let (ada, ada_token) = app
        .person_with_token("Ada", "ada@example.com", &["agent"])
        .await;
    let discord = IdentityKey::Discord {
        guild_id: "G1".into(),
        user_id: "D42".into(),
    };
    // Ada first wrote from Discord before linking: a stray requester exists.
    let stray = app
        .desk
        .resolve_contact(
            Contact {
                org_id: org,
                identity: discord.clone(),
                display_name: "ada#42".into(),
                verified_email: None,
            },
            Channel::Discord,
        )
        .await
        .expect("resolved");
    assert_ne!(
        stray.person_id.map(|p| p.to_string()).as_deref(),
        ada["id"].as_str()
    );

    let code: Value = app
        .post("/api/v1/me/link-codes", &ada_token, &json!({}))
        .await
        .json()
        .await
        .expect("json");
    let code = code["code"].as_str().expect("code").to_string();
    assert_eq!(code.len(), 6);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused = app
        .desk
        .redeem_link_code(org, discord.clone(), wrong.into())
        .await;
    assert!(refused.is_err());
    let person = app
        .desk
        .redeem_link_code(org, discord.clone(), code.clone())
        .await
        .expect("linked");
    assert_eq!(Some(person.id.to_string()).as_deref(), ada["id"].as_str());
    assert!(
        app.desk
            .redeem_link_code(org, discord.clone(), code)
            .await
            .is_err(),
        "a code works once"
    );
    let now_ada = app
        .desk
        .resolve_contact(
            Contact {
                org_id: org,
                identity: discord.clone(),
                display_name: "x".into(),
                verified_email: None,
            },
            Channel::Discord,
        )
        .await
        .expect("resolved");
    assert_eq!(
        now_ada.person_id.map(|p| p.to_string()).as_deref(),
        ada["id"].as_str()
    );

    let other = IdentityKey::Discord {
        guild_id: "G1".into(),
        user_id: "D99".into(),
    };
    for _ in 0..5 {
        let _ = app
            .desk
            .redeem_link_code(org, other.clone(), "123456".into())
            .await;
    }
    let fresh: Value = app
        .post("/api/v1/me/link-codes", &ada_token, &json!({}))
        .await
        .json()
        .await
        .expect("json");
    let locked = app
        .desk
        .redeem_link_code(org, other, fresh["code"].as_str().expect("code").into())
        .await;
    assert!(
        matches!(locked, Err(switchboard::desk::DeskError::Forbidden(_))),
        "locked after repeated wrong codes: {locked:?}"
    );
}

#[tokio::test]
async fn agents_link_and_unlink_identities() {
    let app = spawn_app().await;
    let (bo, bo_token) = app
        .person_with_token("Bo", "bo@example.com", &["requester"])
        .await;
    let id = bo["id"].as_str().expect("id");
    let path = format!("/api/v1/people/{id}/identities");
    let linked = app
        .post(
            &path,
            &app.token,
            &json!({ "kind": "slack", "namespace": "T1", "external_id": "U7" }),
        )
        .await;
    assert_eq!(linked.status(), StatusCode::CREATED);
    let linked: Value = linked.json().await.expect("json");
    let bad = app
        .post(
            &path,
            &app.token,
            &json!({ "kind": "myspace", "external_id": "x" }),
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let by_requester = app
        .post(
            &path,
            &bo_token,
            &json!({ "kind": "email", "external_id": "bo@home.example" }),
        )
        .await;
    assert_eq!(by_requester.status(), StatusCode::FORBIDDEN);
    let own: Vec<Value> = app.get_json(&path, &bo_token).await;
    assert_eq!(own.len(), 1, "people see their own identities");
    let unlink = app
        .client
        .delete(app.url(&format!("{path}/{}", linked["id"].as_str().expect("id"))))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("sent");
    assert_eq!(unlink.status(), StatusCode::NO_CONTENT);
    let left: Vec<Value> = app.get_json(&path, &app.token).await;
    assert!(left.is_empty());
}

#[tokio::test]
async fn people_keep_a_profile_with_time_zone_locale_and_notification_preferences() {
    let app = spawn_app().await;
    let (_, token) = app
        .person_with_token("Pia", "pia@example.com", &["requester"])
        .await;
    let patch = |body: Value| {
        app.client
            .patch(app.url("/api/v1/me"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let ok = patch(json!({ "time_zone": "Europe/Paris", "locale": "fr-FR", "notification_prefs": { "email": false, "slack": true } })).await.expect("sent");
    assert_eq!(ok.status(), StatusCode::OK);
    let me: Value = app.get_json("/api/v1/me", &token).await;
    assert_eq!(me["time_zone"], "Europe/Paris");
    assert_eq!(me["locale"], "fr-FR");
    assert_eq!(
        me["notification_prefs"],
        json!({ "email": false, "slack": true })
    );
    let bad =
        patch(json!({ "time_zone": "Mars/Olympus", "notification_prefs": { "pager": true } }))
            .await
            .expect("sent");
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = bad.json().await.expect("json");
    let fields = crate::helpers::error_fields(&problem);
    assert_eq!(fields, ["time_zone", "notification_prefs"]);
    let unchanged: Value = app.get_json("/api/v1/me", &token).await;
    assert_eq!(unchanged["time_zone"], "Europe/Paris");
}

#[tokio::test]
async fn a_watcher_sees_the_ticket_and_its_public_comments() {
    let app = spawn_app().await;
    let (_, rita) = app
        .person_with_token("Rita", "rita@example.com", &["requester"])
        .await;
    let (walt, walt_token) = app
        .person_with_token("Walt", "walt@example.com", &["requester"])
        .await;
    let ticket: Value = app
        .post(
            "/api/v1/tickets",
            &rita,
            &json!({ "kind": "incident", "title": "shared printer" }),
        )
        .await
        .json()
        .await
        .expect("json");
    let number = ticket["number"].as_str().expect("number");
    assert_eq!(
        app.get(&format!("/api/v1/tickets/{number}"), &walt_token)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    let added = app
        .post(
            &format!("/api/v1/tickets/{number}/watchers"),
            &rita,
            &json!({ "person": walt["id"] }),
        )
        .await;
    assert_eq!(added.status(), StatusCode::OK);
    let watchers: Vec<Value> = added.json().await.expect("json");
    assert_eq!(watchers[0]["name"], "Walt");
    assert_eq!(
        app.get(&format!("/api/v1/tickets/{number}"), &walt_token)
            .await
            .status(),
        StatusCode::OK
    );
    let listed: Value = app.get_json("/api/v1/tickets", &walt_token).await;
    assert_eq!(listed["items"][0]["number"], *number);
    app.post(
        &format!("/api/v1/tickets/{number}/comments"),
        &app.token,
        &json!({ "body": "internal", "internal": true }),
    )
    .await;
    let comments: Vec<Value> = app
        .get_json(&format!("/api/v1/tickets/{number}/comments"), &walt_token)
        .await;
    assert!(
        comments.is_empty(),
        "internal notes stay hidden from watchers"
    );
    let moved = app
        .post(
            &format!("/api/v1/tickets/{number}/transitions"),
            &walt_token,
            &json!({ "to": "cancelled" }),
        )
        .await;
    assert_ne!(moved.status(), StatusCode::OK, "watching is not owning");

    let walt_id = walt["id"].as_str().expect("id");
    let removed = app
        .client
        .delete(app.url(&format!("/api/v1/tickets/{number}/watchers/{walt_id}")))
        .bearer_auth(&walt_token)
        .send()
        .await
        .expect("sent");
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/api/v1/tickets/{number}"), &walt_token)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn teams_carry_a_default_channel_and_an_escalation_contact() {
    let app = spawn_app().await;
    let (lead, _) = app
        .person_with_token("Lee Lead", "lee@example.com", &["agent", "manager"])
        .await;
    let team: Value = app
        .post("/api/v1/teams", &app.token, &json!({ "name": "Platform" }))
        .await
        .json()
        .await
        .expect("json");
    let path = format!("/api/v1/teams/{}", team["id"].as_str().expect("id"));
    let patched = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&app.token)
        .json(&json!({ "lead": lead["id"], "default_channel": "C0PLATFORM", "escalation_contact": lead["id"] }))
        .send()
        .await
        .expect("sent");
    assert_eq!(patched.status(), StatusCode::OK);
    let team: Value = app.get_json(&path, &app.token).await;
    assert_eq!(team["default_channel"], "C0PLATFORM");
    assert_eq!(team["escalation_contact"], lead["id"]);
    assert_eq!(team["members"], json!([lead["id"]]), "the lead is a member");
    let stranger = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&app.token)
        .json(&json!({ "escalation_contact": Uuid::nil() }))
        .send()
        .await
        .expect("sent");
    assert_eq!(stranger.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let cleared: Value = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&app.token)
        .json(&json!({ "default_channel": null }))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert!(cleared["default_channel"].is_null());
    assert_eq!(
        cleared["escalation_contact"], lead["id"],
        "absent fields are kept"
    );
}
