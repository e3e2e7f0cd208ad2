//! SCIM 2.0 provisioning driven as Okta and Entra ID drive it: the request
//! bodies in `tests/fixtures/scim/` are the ones their documentation shows
//! (Entra's `"Replace"` and `"False"`, Okta's path-less replace), sent with
//! a SCIM token to `/scim/v2`. On Postgres, and the main story on SQLite.

use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};
use switchboard::{
    desk::{
        identity::{Contact, IdentityKey},
        mail::MailboxMapping,
    },
    domain::{
        scim::{ERROR_SCHEMA, LIST_SCHEMA},
        Channel,
    },
};

use crate::{
    helpers::{spawn_app, spawn_on, TestApp},
    support::console::{person_with_password, PASSWORD},
};

/// A fixture with its `{{…}}` placeholders filled in.
fn fixture(name: &str, fill: &[(&str, &str)]) -> Value {
    let path = format!("{}/tests/fixtures/scim/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    for (key, value) in fill {
        text = text.replace(&format!("{{{{{key}}}}}"), value);
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// What a SCIM request got back.
struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("an id in {}", self.body))
            .to_string()
    }

    /// Asserts a SCIM error with this status and scimType.
    fn refused(&self, status: StatusCode, scim_type: Option<&str>) {
        assert_eq!(self.status, status, "{}", self.body);
        assert!(
            self.header("content-type")
                .starts_with("application/scim+json"),
            "SCIM errors are application/scim+json: {:?}",
            self.headers
        );
        assert_eq!(self.body["schemas"], json!([ERROR_SCHEMA]), "{}", self.body);
        assert_eq!(self.body["status"], status.as_u16().to_string());
        assert_eq!(self.body["scimType"].as_str(), scim_type, "{}", self.body);
    }
}

async fn scim(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> Answer {
    let mut request = app
        .client
        .request(method, app.url(&format!("/scim/v2{path}")))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request
            .header(header::CONTENT_TYPE, "application/scim+json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("{status}: not JSON: {}", String::from_utf8_lossy(&bytes)))
    };
    Answer {
        status,
        headers,
        body,
    }
}

async fn scim_token(app: &TestApp, org: &str) -> String {
    app.desk
        .create_token(org, "scim", "identity provider")
        .await
        .expect("scim token")
}

fn filter_path(resource: &str, filter: &str) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("filter", filter)
        .append_pair("startIndex", "1")
        .append_pair("count", "100")
        .finish();
    format!("/{resource}?{query}")
}

/// An email from `from` to the `default` organization's mailbox, taken in
/// by the desk as the IMAP poller would hand it over; the ticket it opened.
async fn mail_from(app: &TestApp, from: &str, subject: &str) -> Value {
    let (org, _) = app.desk.ensure_org("default").await.expect("org");
    let raw = format!(
        "From: {from}\r\nTo: help@example.com\r\nSubject: {subject}\r\nMessage-ID: <{}@example.com>\r\n\r\nMy laptop will not start.\r\n",
        uuid::Uuid::new_v4()
    );
    let mail = switchboard::workers::mail::parse::parse(1, raw.into_bytes(), &[]);
    let mailbox = MailboxMapping {
        name: "help".into(),
        org_id: org.id,
        kind: "incident".into(),
        team: None,
        category: None,
        acknowledge: false,
        // Only people we know: the sender must resolve to the provisioned one.
        create_requesters: false,
        cc_watchers: false,
        sender_rate_limit: 100,
        own_addresses: vec!["help@example.com".into()],
    };
    let outcome = app
        .desk
        .receive_mail(&mailbox, mail)
        .await
        .expect("mail taken in");
    assert_eq!(outcome.action, "opened", "{outcome:?}");
    let number = outcome.ticket.expect("a ticket");
    app.get_json(&format!("/api/v1/tickets/{number}"), &app.token)
        .await
}

#[tokio::test]
async fn okta_provisions_a_user_finds_it_by_user_name_and_replaces_it() {
    let app = spawn_app().await;
    let token = scim_token(&app, "default").await;

    // Create, as Okta sends it (with a password we must not keep).
    let created = scim(
        &app,
        Method::POST,
        "/Users",
        &token,
        Some(&fixture("okta/create_user.json", &[])),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert!(created
        .header("content-type")
        .starts_with("application/scim+json"));
    let id = created.id();
    assert_eq!(created.body["userName"], "test.user@okta.local");
    assert_eq!(created.body["externalId"], "00ujl29u0le5T6Aj10h7");
    assert_eq!(created.body["active"], true);
    assert!(
        created.body.get("password").is_none(),
        "no password comes back"
    );
    let meta = &created.body["meta"];
    assert_eq!(meta["resourceType"], "User");
    assert!(meta["location"]
        .as_str()
        .is_some_and(|l| l.ends_with(&format!("/scim/v2/Users/{id}"))));
    assert_eq!(
        created.header("location"),
        meta["location"].as_str().unwrap_or_default()
    );
    assert_eq!(meta["version"], "W/\"1\"");
    assert_eq!(created.header("etag"), "W/\"1\"");
    assert!(meta["created"].is_string() && meta["lastModified"].is_string());

    // The person exists with the email as a verified identity…
    let person: Value = app
        .get_json(&format!("/api/v1/people/{id}"), &app.token)
        .await;
    assert_eq!(person["name"], "Test User");
    assert_eq!(person["email"], "test.user@okta.local");
    assert_eq!(person["disabled"], false);
    let identities: Vec<Value> = app
        .get_json(&format!("/api/v1/people/{id}/identities"), &app.token)
        .await;
    assert!(
        identities.iter().any(|i| i["kind"] == "email"
            && i["external_id"] == "test.user@okta.local"
            && i["verified"] == true),
        "{identities:?}"
    );
    // …so their mail is theirs (the mailbox creates no one).
    let ticket = mail_from(&app, "Test User <Test.User@okta.local>", "Laptop").await;
    assert_eq!(ticket["requester"]["id"], id.as_str(), "{ticket}");
    // …and so is a Slack user whose verified profile email it is.
    let (org, _) = app.desk.ensure_org("default").await.expect("org");
    let slack = app
        .desk
        .resolve_contact(
            Contact {
                org_id: org.id,
                identity: IdentityKey::Slack {
                    team_id: "T0001".into(),
                    user_id: "U0001".into(),
                },
                display_name: "test.user".into(),
                verified_email: Some("test.user@okta.local".into()),
            },
            Channel::Slack,
        )
        .await
        .expect("contact resolved");
    assert_eq!(slack.person_id.map(|p| p.to_string()), Some(id.clone()));

    // Okta's existence check: userName eq, case-insensitive.
    for user_name in ["test.user@okta.local", "TEST.USER@okta.LOCAL"] {
        let found = scim(
            &app,
            Method::GET,
            &filter_path("Users", &format!("userName eq \"{user_name}\"")),
            &token,
            None,
        )
        .await;
        assert_eq!(found.status, StatusCode::OK);
        assert_eq!(found.body["schemas"], json!([LIST_SCHEMA]));
        assert_eq!(found.body["totalResults"], 1);
        assert_eq!(found.body["Resources"][0]["id"], id.as_str());
    }
    let none = scim(
        &app,
        Method::GET,
        &filter_path("Users", "userName eq \"nobody@okta.local\""),
        &token,
        None,
    )
    .await;
    assert_eq!(none.body["totalResults"], 0);
    assert_eq!(none.body["Resources"], json!([]));

    // PUT replaces the user; the person follows.
    let replaced = scim(
        &app,
        Method::PUT,
        &format!("/Users/{id}"),
        &token,
        Some(&fixture("okta/replace_user.json", &[("user_id", &id)])),
    )
    .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    assert_eq!(replaced.body["displayName"], "Another User");
    assert_eq!(replaced.body["name"]["givenName"], "Another");
    assert_eq!(replaced.body["meta"]["version"], "W/\"2\"");
    let person: Value = app
        .get_json(&format!("/api/v1/people/{id}"), &app.token)
        .await;
    assert_eq!(person["name"], "Another User");
    let fetched = scim(&app, Method::GET, &format!("/Users/{id}"), &token, None).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body["displayName"], "Another User");
    assert_eq!(fetched.header("etag"), "W/\"2\"");

    // A stale If-Match is refused.
    let stale = app
        .client
        .put(app.url(&format!("/scim/v2/Users/{id}")))
        .bearer_auth(&token)
        .header(header::IF_MATCH, "W/\"1\"")
        .header(header::CONTENT_TYPE, "application/scim+json")
        .body(fixture("okta/replace_user.json", &[("user_id", &id)]).to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
}

#[tokio::test]
async fn entra_patches_with_capitalised_ops_work_email_paths_and_string_booleans() {
    let app = spawn_app().await;
    let token = scim_token(&app, "default").await;
    let created = scim(
        &app,
        Method::POST,
        "/Users",
        &token,
        Some(&fixture("entra/create_user.json", &[])),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.id();
    let person: Value = app
        .get_json(&format!("/api/v1/people/{id}"), &app.token)
        .await;
    assert_eq!(person["name"], "givenName familyName");
    assert_eq!(
        person["email"],
        "test_user_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"
    );

    // Entra looks users up by externalId and by email too.
    let by_external = scim(
        &app,
        Method::GET,
        &filter_path(
            "Users",
            "externalId eq \"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef\"",
        ),
        &token,
        None,
    )
    .await;
    assert_eq!(by_external.body["totalResults"], 1);
    let by_case = scim(
        &app,
        Method::GET,
        &filter_path(
            "Users",
            "externalId eq \"0A21F0F2-8D2A-4F8E-BF98-7363C4AED4EF\"",
        ),
        &token,
        None,
    )
    .await;
    assert_eq!(by_case.body["totalResults"], 0, "externalId is case-exact");

    let updated = scim(
        &app,
        Method::PATCH,
        &format!("/Users/{id}"),
        &token,
        Some(&fixture("entra/update_user.json", &[])),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(
        updated.body["emails"][0]["value"],
        "updatedEmail@microsoft.com"
    );
    assert_eq!(updated.body["emails"][0]["type"], "work");
    assert_eq!(updated.body["name"]["familyName"], "updatedFamilyName");
    let enterprise = &updated.body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
    assert_eq!(enterprise["department"], "Tour Operations");
    assert_eq!(
        enterprise["manager"],
        "2819c223-7f76-453a-919d-413861904646"
    );
    assert!(updated.body["schemas"]
        .as_array()
        .is_some_and(|s| s.len() == 2));
    let person: Value = app
        .get_json(&format!("/api/v1/people/{id}"), &app.token)
        .await;
    assert_eq!(person["email"], "updatedemail@microsoft.com");
    let by_email = scim(
        &app,
        Method::GET,
        &filter_path("Users", "emails.value eq \"updatedEmail@microsoft.com\""),
        &token,
        None,
    )
    .await;
    assert_eq!(by_email.body["totalResults"], 1, "{}", by_email.body);
    let by_work = scim(
        &app,
        Method::GET,
        &filter_path(
            "Users",
            "emails[type eq \"work\" and value co \"microsoft\"]",
        ),
        &token,
        None,
    )
    .await;
    assert_eq!(by_work.body["totalResults"], 1, "{}", by_work.body);

    // `"value": "False"` deactivates.
    let disabled = scim(
        &app,
        Method::PATCH,
        &format!("/Users/{id}"),
        &token,
        Some(&fixture("entra/disable_user.json", &[])),
    )
    .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
    assert_eq!(disabled.body["active"], false);
    let person: Value = app
        .get_json(&format!("/api/v1/people/{id}"), &app.token)
        .await;
    assert_eq!(person["disabled"], true);
    let inactive = scim(
        &app,
        Method::GET,
        &filter_path("Users", "active eq false"),
        &token,
        None,
    )
    .await;
    assert_eq!(inactive.body["totalResults"], 1);
}

#[tokio::test]
async fn deactivating_a_user_signs_the_person_out_everywhere() {
    // Arrange: a person with a password and a session, then provisioned
    // (the existing person is taken over by email, not duplicated).
    let app = spawn_app().await;
    let token = scim_token(&app, "default").await;
    let person = person_with_password(
        &app,
        &app.token,
        "Test User",
        "test.user@okta.local",
        &["agent"],
    )
    .await;
    let session: Value = app
        .post(
            "/api/v1/auth/login",
            "",
            &json!({ "email": "test.user@okta.local", "password": PASSWORD }),
        )
        .await
        .json()
        .await
        .expect("session");
    let access = session["access_token"]
        .as_str()
        .expect("access token")
        .to_string();
    let refresh = session["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_string();
    assert_eq!(
        app.get("/api/v1/me", &access).await.status(),
        StatusCode::OK
    );
    let person_id = person["id"].as_str().expect("id");
    let api_token = app
        .desk
        .create_token_for_person(
            "default",
            person_id.parse().expect("uuid"),
            "agent",
            "laptop",
        )
        .await
        .expect("token");
    let created = scim(
        &app,
        Method::POST,
        "/Users",
        &token,
        Some(&fixture("okta/create_user.json", &[])),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        created.id(),
        person_id,
        "the person who had the email became the user"
    );
    let people: Vec<Value> = app.get_json("/api/v1/people", &app.token).await;
    assert_eq!(
        people
            .iter()
            .filter(|p| p["email"] == "test.user@okta.local")
            .count(),
        1
    );

    // Act: Okta deactivates.
    let id = created.id();
    let patched = scim(
        &app,
        Method::PATCH,
        &format!("/Users/{id}"),
        &token,
        Some(&fixture("okta/deactivate_user.json", &[])),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["active"], false);

    // Assert: the access token, the refresh token and the API token are refused.
    assert_eq!(
        app.get("/api/v1/me", &access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let refreshed = app
        .post(
            "/api/v1/auth/refresh",
            "",
            &json!({ "refresh_token": refresh }),
        )
        .await;
    assert_eq!(
        refreshed.status(),
        StatusCode::UNAUTHORIZED,
        "{:?}",
        refreshed.text().await
    );
    assert_eq!(
        app.get("/api/v1/me", &api_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let login = app
        .post(
            "/api/v1/auth/login",
            "",
            &json!({ "email": "test.user@okta.local", "password": PASSWORD }),
        )
        .await;
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);

    // Reactivation lets them sign in again.
    let active = scim(
        &app,
        Method::PATCH,
        &format!("/Users/{id}"),
        &token,
        Some(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{ "op": "Replace", "path": "active", "value": "True" }]
        })),
    )
    .await;
    assert_eq!(active.body["active"], true, "{}", active.body);
    let login = app
        .post(
            "/api/v1/auth/login",
            "",
            &json!({ "email": "test.user@okta.local", "password": PASSWORD }),
        )
        .await;
    assert_eq!(login.status(), StatusCode::OK);
    // The sessions of before were ended, not only held while disabled.
    assert_eq!(
        app.get("/api/v1/me", &access).await.status(),
        StatusCode::UNAUTHORIZED,
        "the old access token stays dead"
    );
    let refreshed = app
        .post(
            "/api/v1/auth/refresh",
            "",
            &json!({ "refresh_token": refresh }),
        )
        .await;
    assert_eq!(refreshed.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_second_user_with_the_same_user_name_is_a_uniqueness_conflict() {
    let app = spawn_app().await;
    let token = scim_token(&app, "default").await;
    let first = scim(
        &app,
        Method::POST,
        "/Users",
        &token,
        Some(&fixture("okta/create_user.json", &[])),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let mut again = fixture("okta/create_user.json", &[]);
    again["userName"] = json!("TEST.USER@OKTA.LOCAL");
    again["emails"] = json!([{ "value": "other@okta.local", "primary": true }]);
    scim(&app, Method::POST, "/Users", &token, Some(&again))
        .await
        .refused(StatusCode::CONFLICT, Some("uniqueness"));
    // Another user name with the first user's email is refused too.
    let mut same_email = fixture("okta/create_user.json", &[]);
    same_email["userName"] = json!("someone.else");
    scim(&app, Method::POST, "/Users", &token, Some(&same_email))
        .await
        .refused(StatusCode::CONFLICT, Some("uniqueness"));
}

#[tokio::test]
async fn users_are_listed_in_pages_oldest_first() {
    let app = spawn_app().await;
    let token = scim_token(&app, "default").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let user = json!({ "userName": format!("user{i}@example.com"), "name": { "givenName": "User", "familyName": format!("{i}") } });
        let created = scim(&app, Method::POST, "/Users", &token, Some(&user)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        ids.push(created.id());
    }
    let page = scim(
        &app,
        Method::GET,
        "/Users?startIndex=3&count=2",
        &token,
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body["totalResults"], 5);
    assert_eq!(page.body["startIndex"], 3);
    assert_eq!(page.body["itemsPerPage"], 2);
    let got: Vec<&str> = page.body["Resources"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(got, [ids[2].as_str(), ids[3].as_str()]);
    let last = scim(
        &app,
        Method::GET,
        "/Users?startIndex=5&count=10",
        &token,
        None,
    )
    .await;
    assert_eq!(last.body["itemsPerPage"], 1);
    let count_only = scim(&app, Method::GET, "/Users?count=0", &token, None).await;
    assert_eq!(count_only.body["totalResults"], 5);
    assert_eq!(count_only.body["Resources"], json!([]));
    let filtered = scim(
        &app,
        Method::GET,
        &filter_path("Users", "name.familyName eq \"3\" or userName sw \"user4\""),
        &token,
        None,
    )
    .await;
    assert_eq!(filtered.body["totalResults"], 2, "{}", filtered.body);
    let only = scim(
        &app,
        Method::GET,
        "/Users?attributes=userName&count=1",
        &token,
        None,
    )
    .await;
    let first = &only.body["Resources"][0];
    assert!(
        first["userName"].is_string() && first["id"].is_string() && first.get("name").is_none(),
        "{first}"
    );
}

#[tokio::test]
async fn deleting_a_user_disables_the_person_and_the_user_is_gone() {
    let app = spawn_app().await;
    let token = scim_token(&app, "default").await;
    let created = scim(
        &app,
        Method::POST,
        "/Users",
        &token,
        Some(&fixture("entra/create_user.json", &[])),
    )
    .await;
    let id = created.id();
    let deleted = scim(&app, Method::DELETE, &format!("/Users/{id}"), &token, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    scim(&app, Method::GET, &format!("/Users/{id}"), &token, None)
        .await
        .refused(StatusCode::NOT_FOUND, None);
    scim(&app, Method::DELETE, &format!("/Users/{id}"), &token, None)
        .await
        .refused(StatusCode::NOT_FOUND, None);
    let found = scim(
        &app,
        Method::GET,
        &filter_path(
            "Users",
            "userName eq \"Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1\"",
        ),
        &token,
        None,
    )
    .await;
    assert_eq!(found.body["totalResults"], 0);
    let person: Value = app
        .get_json(&format!("/api/v1/people/{id}"), &app.token)
        .await;
    assert_eq!(
        person["disabled"], true,
        "the person stays for their tickets, disabled"
    );
    // Provisioned again later: the same person, enabled.
    let again = scim(
        &app,
        Method::POST,
        "/Users",
        &token,
        Some(&fixture("entra/create_user.json", &[])),
    )
    .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_eq!(again.id(), id);
    let person: Value = app
        .get_json(&format!("/api/v1/people/{id}"), &app.token)
        .await;
    assert_eq!(person["disabled"], false);
}

async fn roles_of(app: &TestApp, id: &str) -> Value {
    let person: Value = app
        .get_json(&format!("/api/v1/people/{id}"), &app.token)
        .await;
    person["roles"].clone()
}

#[tokio::test]
async fn groups_become_teams_and_their_members_get_the_mapped_role() {
    let app = spawn_app().await;
    let token = scim_token(&app, "default").await;
    let mapping = app
        .send(
            Method::PUT,
            "/api/v1/scim/group-roles",
            &app.token,
            Some(&json!({ "mappings": [
            { "group": "service desk agents", "role": "agent" },
            { "group": "Network", "role": "manager" }
        ] })),
        )
        .await;
    assert_eq!(mapping.status(), StatusCode::OK);
    let user = scim(
        &app,
        Method::POST,
        "/Users",
        &token,
        Some(&fixture("entra/create_user.json", &[])),
    )
    .await
    .id();
    assert_eq!(roles_of(&app, &user).await, json!(["requester"]));

    // Entra: the group, then a member added.
    let group = scim(
        &app,
        Method::POST,
        "/Groups",
        &token,
        Some(&fixture("entra/create_group.json", &[])),
    )
    .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.body);
    assert_eq!(group.body["members"], json!([]));
    let group_id = group.id();
    let team: Value = app
        .get_json(&format!("/api/v1/teams/{group_id}"), &app.token)
        .await;
    assert_eq!(team["name"], "Service Desk Agents");
    let added = scim(
        &app,
        Method::PATCH,
        &format!("/Groups/{group_id}"),
        &token,
        Some(&fixture("entra/add_member.json", &[("user_id", &user)])),
    )
    .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert_eq!(added.body["members"][0]["value"], user.as_str());
    let team: Value = app
        .get_json(&format!("/api/v1/teams/{group_id}"), &app.token)
        .await;
    assert_eq!(team["members"], json!([user]));
    assert_eq!(roles_of(&app, &user).await, json!(["requester", "agent"]));
    let fetched = scim(&app, Method::GET, &format!("/Users/{user}"), &token, None).await;
    assert_eq!(fetched.body["groups"][0]["value"], group_id.as_str());
    let lean = scim(
        &app,
        Method::GET,
        &format!("/Groups/{group_id}?excludedAttributes=members"),
        &token,
        None,
    )
    .await;
    assert!(
        lean.body.get("members").is_none() && lean.body["displayName"].is_string(),
        "{}",
        lean.body
    );
    let by_name = scim(
        &app,
        Method::GET,
        &format!(
            "{}&excludedAttributes=members",
            filter_path("Groups", "displayName eq \"Service Desk Agents\"")
        ),
        &token,
        None,
    )
    .await;
    assert_eq!(by_name.body["totalResults"], 1);

    // Renamed out of the mapping: the role goes; back in: it returns.
    let renamed = scim(
        &app,
        Method::PATCH,
        &format!("/Groups/{group_id}"),
        &token,
        Some(&fixture("entra/rename_group.json", &[])),
    )
    .await;
    assert_eq!(
        renamed.body["displayName"], "Service Desk Agents (EMEA)",
        "{}",
        renamed.body
    );
    assert_eq!(roles_of(&app, &user).await, json!(["requester"]));
    let team: Value = app
        .get_json(&format!("/api/v1/teams/{group_id}"), &app.token)
        .await;
    assert_eq!(team["name"], "Service Desk Agents (EMEA)");
    let put = scim(
        &app,
        Method::PUT,
        &format!("/Groups/{group_id}"),
        &token,
        Some(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Service Desk Agents",
            "members": [{ "value": user }]
        })),
    )
    .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(roles_of(&app, &user).await, json!(["requester", "agent"]));

    // Entra removes the member: the role follows.
    let removed = scim(
        &app,
        Method::PATCH,
        &format!("/Groups/{group_id}"),
        &token,
        Some(&fixture("entra/remove_member.json", &[("user_id", &user)])),
    )
    .await;
    assert_eq!(removed.body["members"], json!([]), "{}", removed.body);
    assert_eq!(roles_of(&app, &user).await, json!(["requester"]));

    // Okta: a group named like an existing team is that team.
    let existing = app
        .post(
            "/api/v1/teams",
            &app.token,
            &json!({ "name": "Network", "description": "the network team" }),
        )
        .await;
    assert_eq!(existing.status(), StatusCode::CREATED);
    let existing: Value = existing.json().await.expect("team");
    let mut okta_group = fixture("okta/create_group.json", &[]);
    okta_group["displayName"] = json!("Network");
    let network = scim(&app, Method::POST, "/Groups", &token, Some(&okta_group)).await;
    assert_eq!(network.status, StatusCode::CREATED, "{}", network.body);
    assert_eq!(network.body["id"], existing["id"]);
    let network_id = network.id();
    let added = scim(
        &app,
        Method::PATCH,
        &format!("/Groups/{network_id}"),
        &token,
        Some(&fixture("okta/add_members.json", &[("user_id", &user)])),
    )
    .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert_eq!(roles_of(&app, &user).await, json!(["requester", "manager"]));
    let removed = scim(
        &app,
        Method::PATCH,
        &format!("/Groups/{network_id}"),
        &token,
        Some(&fixture("okta/remove_member.json", &[("user_id", &user)])),
    )
    .await;
    assert_eq!(removed.body["members"], json!([]));
    assert_eq!(roles_of(&app, &user).await, json!(["requester"]));
    let renamed = scim(
        &app,
        Method::PATCH,
        &format!("/Groups/{network_id}"),
        &token,
        Some(&fixture(
            "okta/rename_group.json",
            &[("group_id", &network_id)],
        )),
    )
    .await;
    assert_eq!(
        renamed.body["displayName"], "Test SCIMv2 renamed",
        "{}",
        renamed.body
    );
    scim(
        &app,
        Method::POST,
        "/Groups",
        &token,
        Some(&json!({ "displayName": "test scimv2 RENAMED" })),
    )
    .await
    .refused(StatusCode::CONFLICT, Some("uniqueness"));

    // Deleting a group leaves the team.
    let deleted = scim(
        &app,
        Method::DELETE,
        &format!("/Groups/{network_id}"),
        &token,
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    scim(
        &app,
        Method::GET,
        &format!("/Groups/{network_id}"),
        &token,
        None,
    )
    .await
    .refused(StatusCode::NOT_FOUND, None);
    let team = app
        .get(&format!("/api/v1/teams/{network_id}"), &app.token)
        .await;
    assert_eq!(team.status(), StatusCode::OK);
    let listed = scim(&app, Method::GET, "/Groups", &token, None).await;
    assert_eq!(listed.body["totalResults"], 1);
    let mapping: Value = app.get_json("/api/v1/scim/group-roles", &app.token).await;
    assert_eq!(mapping["mappings"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn a_scim_token_never_reaches_another_organization() {
    let app = spawn_app().await;
    let ours = scim_token(&app, "default").await;
    app.desk.ensure_org("org-a").await.expect("org a");
    let theirs = scim_token(&app, "org-a").await;
    let user = scim(
        &app,
        Method::POST,
        "/Users",
        &ours,
        Some(&fixture("okta/create_user.json", &[])),
    )
    .await
    .id();
    let group = scim(
        &app,
        Method::POST,
        "/Groups",
        &ours,
        Some(&fixture("okta/create_group.json", &[])),
    )
    .await
    .id();

    scim(&app, Method::GET, &format!("/Users/{user}"), &theirs, None)
        .await
        .refused(StatusCode::NOT_FOUND, None);
    scim(
        &app,
        Method::PUT,
        &format!("/Users/{user}"),
        &theirs,
        Some(&fixture("okta/replace_user.json", &[("user_id", &user)])),
    )
    .await
    .refused(StatusCode::NOT_FOUND, None);
    scim(
        &app,
        Method::PATCH,
        &format!("/Users/{user}"),
        &theirs,
        Some(&fixture("okta/deactivate_user.json", &[])),
    )
    .await
    .refused(StatusCode::NOT_FOUND, None);
    scim(
        &app,
        Method::DELETE,
        &format!("/Users/{user}"),
        &theirs,
        None,
    )
    .await
    .refused(StatusCode::NOT_FOUND, None);
    scim(
        &app,
        Method::GET,
        &format!("/Groups/{group}"),
        &theirs,
        None,
    )
    .await
    .refused(StatusCode::NOT_FOUND, None);
    scim(
        &app,
        Method::PATCH,
        &format!("/Groups/{group}"),
        &theirs,
        Some(&fixture("okta/add_members.json", &[("user_id", &user)])),
    )
    .await
    .refused(StatusCode::NOT_FOUND, None);
    let listed = scim(&app, Method::GET, "/Users", &theirs, None).await;
    assert_eq!(listed.body["totalResults"], 0);
    let filtered = scim(
        &app,
        Method::GET,
        &filter_path("Users", "userName eq \"test.user@okta.local\""),
        &theirs,
        None,
    )
    .await;
    assert_eq!(filtered.body["totalResults"], 0);
    assert_eq!(
        scim(&app, Method::GET, "/Groups", &theirs, None).await.body["totalResults"],
        0
    );

    // The same userName is free in their organization, and their group
    // cannot take our user in.
    let their_user = scim(
        &app,
        Method::POST,
        "/Users",
        &theirs,
        Some(&fixture("okta/create_user.json", &[])),
    )
    .await;
    assert_eq!(
        their_user.status,
        StatusCode::CREATED,
        "{}",
        their_user.body
    );
    assert_ne!(their_user.id(), user);
    let their_group = scim(
        &app,
        Method::POST,
        "/Groups",
        &theirs,
        Some(&fixture("okta/create_group.json", &[])),
    )
    .await
    .id();
    scim(
        &app,
        Method::PATCH,
        &format!("/Groups/{their_group}"),
        &theirs,
        Some(&fixture("okta/add_members.json", &[("user_id", &user)])),
    )
    .await
    .refused(StatusCode::BAD_REQUEST, Some("invalidValue"));

    // Ours is as it was.
    let mine = scim(&app, Method::GET, &format!("/Users/{user}"), &ours, None).await;
    assert_eq!(mine.body["active"], true);
    assert_eq!(mine.body["meta"]["version"], "W/\"1\"");
}

#[tokio::test]
async fn a_scim_token_may_call_only_scim_and_only_admins_may_call_scim() {
    let app = spawn_app().await;
    let token = scim_token(&app, "default").await;
    for path in [
        "/api/v1/tickets",
        "/api/v1/people",
        "/api/v1/me",
        "/api/v1/scim/group-roles",
    ] {
        let response = app.get(path, &token).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let ticket = app
        .post(
            "/api/v1/tickets",
            &token,
            &json!({ "kind": "incident", "title": "x" }),
        )
        .await;
    assert_eq!(ticket.status(), StatusCode::FORBIDDEN);
    let tokens = app
        .post(
            "/api/v1/tokens",
            &token,
            &json!({ "name": "escalate", "role": "admin" }),
        )
        .await;
    assert_eq!(tokens.status(), StatusCode::FORBIDDEN);

    // An admin's token may call SCIM; an agent's may not; none is 401.
    assert_eq!(
        scim(&app, Method::GET, "/Users", &app.token, None)
            .await
            .status,
        StatusCode::OK
    );
    let (_, agent) = app
        .person_with_token("Ada Agent", "ada@example.com", &["agent"])
        .await;
    scim(&app, Method::GET, "/Users", &agent, None)
        .await
        .refused(StatusCode::FORBIDDEN, None);
    scim(&app, Method::GET, "/Users", "", None)
        .await
        .refused(StatusCode::UNAUTHORIZED, None);
    scim(&app, Method::GET, "/Users", "sb_not_a_token", None)
        .await
        .refused(StatusCode::UNAUTHORIZED, None);

    // An admin may also make a SCIM token through the API.
    let made = app
        .post(
            "/api/v1/tokens",
            &app.token,
            &json!({ "name": "entra", "role": "scim" }),
        )
        .await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let made: Value = made.json().await.expect("token");
    assert_eq!(made["scope"], "scim");
    let raw = made["token"].as_str().expect("token");
    assert_eq!(
        scim(&app, Method::GET, "/ServiceProviderConfig", raw, None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/tickets", raw).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn malformed_requests_are_answered_as_scim_errors_never_500() {
    let app = spawn_app().await;
    let token = scim_token(&app, "default").await;
    for filter in [
        "userName eq",
        "userName equals \"x\"",
        "(userName eq \"x\"",
        "emails[type eq \"work\"",
    ] {
        scim(
            &app,
            Method::GET,
            &filter_path("Users", filter),
            &token,
            None,
        )
        .await
        .refused(StatusCode::BAD_REQUEST, Some("invalidFilter"));
    }
    scim(&app, Method::GET, "/Users?count=many", &token, None)
        .await
        .refused(StatusCode::BAD_REQUEST, Some("invalidValue"));

    let raw = |method: Method, path: &str, body: &'static str| {
        app.client
            .request(method, app.url(&format!("/scim/v2{path}")))
            .bearer_auth(&token)
            .header(header::CONTENT_TYPE, "application/scim+json")
            .body(body)
            .send()
    };
    let bad_json = raw(Method::POST, "/Users", "{\"userName\": ")
        .await
        .expect("sent");
    let status = bad_json.status();
    let body: Value = bad_json.json().await.expect("a SCIM error body");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["scimType"], "invalidSyntax");
    assert_eq!(body["schemas"], json!([ERROR_SCHEMA]));

    scim(
        &app,
        Method::POST,
        "/Users",
        &token,
        Some(&json!({ "name": { "givenName": "No" } })),
    )
    .await
    .refused(StatusCode::BAD_REQUEST, Some("invalidValue"));
    scim(
        &app,
        Method::POST,
        "/Users",
        &token,
        Some(&json!({ "userName": "a\u{0}b" })),
    )
    .await
    .refused(StatusCode::BAD_REQUEST, Some("invalidValue"));
    scim(
        &app,
        Method::POST,
        "/Users",
        &token,
        Some(&json!(["not", "an", "object"])),
    )
    .await
    .refused(StatusCode::BAD_REQUEST, Some("invalidSyntax"));
    let id = scim(
        &app,
        Method::POST,
        "/Users",
        &token,
        Some(&fixture("okta/create_user.json", &[])),
    )
    .await
    .id();
    let patch = |ops: Value| json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops });
    for (ops, scim_type) in [
        (
            json!([{ "op": "jump", "path": "active", "value": true }]),
            "invalidSyntax",
        ),
        (json!([{ "op": "remove" }]), "noTarget"),
        (
            json!([{ "op": "replace", "path": "emails[type eq", "value": "x" }]),
            "invalidPath",
        ),
        (
            json!([{ "op": "replace", "path": "id", "value": "x" }]),
            "mutability",
        ),
        (
            json!([{ "op": "replace", "path": "active", "value": "perhaps" }]),
            "invalidValue",
        ),
        (
            json!([{ "op": "replace", "path": "userName", "value": "" }]),
            "invalidValue",
        ),
    ] {
        scim(
            &app,
            Method::PATCH,
            &format!("/Users/{id}"),
            &token,
            Some(&patch(ops)),
        )
        .await
        .refused(StatusCode::BAD_REQUEST, Some(scim_type));
    }
    scim(
        &app,
        Method::PATCH,
        &format!("/Users/{id}"),
        &token,
        Some(&json!({ "Operations": "none" })),
    )
    .await
    .refused(StatusCode::BAD_REQUEST, Some("invalidSyntax"));
    scim(&app, Method::GET, "/Users/not-an-id", &token, None)
        .await
        .refused(StatusCode::NOT_FOUND, None);
    scim(
        &app,
        Method::GET,
        &format!("/Users/{}", uuid::Uuid::new_v4()),
        &token,
        None,
    )
    .await
    .refused(StatusCode::NOT_FOUND, None);
    scim(&app, Method::GET, "/Nothing", &token, None)
        .await
        .refused(StatusCode::NOT_FOUND, None);
    scim(
        &app,
        Method::POST,
        &format!("/Users/{id}"),
        &token,
        Some(&json!({})),
    )
    .await
    .refused(StatusCode::METHOD_NOT_ALLOWED, None);
    let wrong_type = app
        .client
        .post(app.url("/scim/v2/Users"))
        .bearer_auth(&token)
        .header(header::CONTENT_TYPE, "text/plain")
        .body("userName=x")
        .send()
        .await
        .expect("sent");
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // The user is as created.
    let user = scim(&app, Method::GET, &format!("/Users/{id}"), &token, None).await;
    assert_eq!(user.body["meta"]["version"], "W/\"1\"");
}

#[tokio::test]
async fn the_discovery_endpoints_describe_what_is_supported() {
    let app = spawn_app().await;
    let token = scim_token(&app, "default").await;
    let config = scim(&app, Method::GET, "/ServiceProviderConfig", &token, None).await;
    assert_eq!(config.status, StatusCode::OK);
    assert_eq!(config.body["patch"]["supported"], true);
    assert_eq!(config.body["filter"]["supported"], true);
    assert_eq!(config.body["bulk"]["supported"], false);
    assert_eq!(config.body["etag"]["supported"], true);
    let types = scim(&app, Method::GET, "/ResourceTypes", &token, None).await;
    assert_eq!(types.body["totalResults"], 2);
    let user_type = scim(&app, Method::GET, "/ResourceTypes/User", &token, None).await;
    assert_eq!(user_type.body["endpoint"], "/Users");
    let schemas = scim(&app, Method::GET, "/Schemas", &token, None).await;
    assert_eq!(schemas.body["totalResults"], 3);
    let user_schema = scim(
        &app,
        Method::GET,
        "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
        &token,
        None,
    )
    .await;
    assert_eq!(user_schema.status, StatusCode::OK);
    assert!(user_schema.body["attributes"].as_array().is_some_and(|a| a
        .iter()
        .any(|a| a["name"] == "userName" && a["uniqueness"] == "server")));
}

#[tokio::test]
async fn the_scim_story_holds_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("switchboard.db").display());
    let app = spawn_on(&url, false, |_| {}).await;
    let token = scim_token(&app, "default").await;
    let created = scim(
        &app,
        Method::POST,
        "/Users",
        &token,
        Some(&fixture("entra/create_user.json", &[])),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.id();
    let found = scim(
        &app,
        Method::GET,
        &filter_path(
            "Users",
            "userName eq \"TEST_USER_AB6490EE-1E48-479E-A20B-2D77186B5DD1\"",
        ),
        &token,
        None,
    )
    .await;
    assert_eq!(found.body["totalResults"], 1);
    scim(
        &app,
        Method::POST,
        "/Users",
        &token,
        Some(&fixture("entra/create_user.json", &[])),
    )
    .await
    .refused(StatusCode::CONFLICT, Some("uniqueness"));
    let patched = scim(
        &app,
        Method::PATCH,
        &format!("/Users/{id}"),
        &token,
        Some(&fixture("entra/update_user.json", &[])),
    )
    .await;
    assert_eq!(
        patched.body["emails"][0]["value"], "updatedEmail@microsoft.com",
        "{}",
        patched.body
    );
    let group = scim(
        &app,
        Method::POST,
        "/Groups",
        &token,
        Some(&fixture("entra/create_group.json", &[])),
    )
    .await
    .id();
    let added = scim(
        &app,
        Method::PATCH,
        &format!("/Groups/{group}"),
        &token,
        Some(&fixture("entra/add_member.json", &[("user_id", &id)])),
    )
    .await;
    assert_eq!(
        added.body["members"][0]["value"],
        id.as_str(),
        "{}",
        added.body
    );
    let disabled = scim(
        &app,
        Method::PATCH,
        &format!("/Users/{id}"),
        &token,
        Some(&fixture("entra/disable_user.json", &[])),
    )
    .await;
    assert_eq!(disabled.body["active"], false);
    let person: Value = app
        .get_json(&format!("/api/v1/people/{id}"), &app.token)
        .await;
    assert_eq!(person["disabled"], true);
    assert_eq!(
        scim(&app, Method::DELETE, &format!("/Users/{id}"), &token, None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let group_now = scim(&app, Method::GET, &format!("/Groups/{group}"), &token, None).await;
    assert_eq!(
        group_now.body["members"],
        json!([]),
        "a deleted user leaves its groups"
    );
}

#[tokio::test]
async fn parallel_member_changes_of_one_group_apply_one_after_another() {
    // Entra sends a big group's members as several PATCHes at once.
    let app = spawn_app().await;
    let token = scim_token(&app, "default").await;
    let group = scim(
        &app,
        Method::POST,
        "/Groups",
        &token,
        Some(&fixture("entra/create_group.json", &[])),
    )
    .await
    .id();
    let mut users = Vec::new();
    for i in 0..8 {
        let user = json!({ "userName": format!("member{i}@example.com") });
        users.push(
            scim(&app, Method::POST, "/Users", &token, Some(&user))
                .await
                .id(),
        );
    }
    let adds = users.iter().map(|user| {
        let body = fixture("entra/add_member.json", &[("user_id", user)]);
        let (app, token, group) = (&app, &token, &group);
        async move {
            scim(
                app,
                Method::PATCH,
                &format!("/Groups/{group}"),
                token,
                Some(&body),
            )
            .await
            .status
        }
    });
    let statuses = futures::future::join_all(adds).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    let now = scim(&app, Method::GET, &format!("/Groups/{group}"), &token, None).await;
    assert_eq!(now.body["members"].as_array().map(Vec::len), Some(8));
    assert_eq!(
        now.body["meta"]["version"], "W/\"9\"",
        "each change its own version"
    );
}
