//! Single sign-on with OpenID Connect against a real, certified provider
//! (npm's `oidc-provider`, tests/oidc/provider.mjs): providers over the
//! API, the console's sign-in in a real Chromium and in a plain HTTP
//! browser, just-in-time accounts, the refusals (state, replays, another
//! browser, audience, expiry, domain, unverified email, disabled person),
//! the ID token exchange, and local passwords switched off.

use std::time::Duration;

use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use crate::{
    helpers::{expect_json, spawn_app},
    support::{
        browser::{click, run, text, wait_for_text},
        console::{person_with_password, PASSWORD},
        oidc::{query_param, spawn_sso_app, Browser, SsoApp, CLIENT_ID, CLIENT_SECRET},
    },
};

async fn person(s: &SsoApp, email: &str) -> Option<Value> {
    let people: Vec<Value> = s.app.get_json("/api/v1/people", &s.app.token).await;
    people.into_iter().find(|p| p["email"] == email)
}

fn session_cookie(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| c.starts_with("sb_access=") && !c.starts_with("sb_access=;"))
}

/// The refusal a page or problem shows.
async fn refusal_text(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test]
async fn a_provider_whose_issuer_cannot_be_reached_or_read_is_refused_with_the_reason() {
    let app = spawn_app().await;
    let body = |issuer: &str| {
        json!({ "name": "Corp", "issuer": issuer, "client_id": "c", "client_secret": "s",
                "allowed_domains": ["corp.example"] })
    };
    // Nothing listens there.
    let unreachable = app
        .post(
            "/api/v1/sso/providers",
            &app.token,
            &body("http://127.0.0.1:9"),
        )
        .await;
    let problem = expect_json(unreachable, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "issuer", "{problem}");
    let message = problem["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("http://127.0.0.1:9/.well-known/openid-configuration"),
        "{message}"
    );
    // Something answers, but not with a discovery document (the daemon itself).
    let not_oidc = app
        .post("/api/v1/sso/providers", &app.token, &body(&app.url("")))
        .await;
    let problem = expect_json(not_oidc, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "issuer", "{problem}");
    // Not a URL at all, and no domain.
    let bad = app
        .post(
            "/api/v1/sso/providers",
            &app.token,
            &json!({ "name": "Corp", "issuer": "corp", "client_id": "c", "client_secret": "s",
                     "allowed_domains": [] }),
        )
        .await;
    expect_json(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    let listed: Vec<Value> = app.get_json("/api/v1/sso/providers", &app.token).await;
    assert!(listed.is_empty());
}

#[tokio::test]
async fn providers_are_listed_changed_and_deleted_never_showing_their_secret_and_only_to_their_organization(
) {
    let s = spawn_sso_app().await;
    let app = &s.app;
    let path = format!("/api/v1/sso/providers/{}", s.provider_id);
    let one: Value = app.get_json(&path, &app.token).await;
    assert_eq!(one["name"], "Corp");
    assert_eq!(one["client_id"], CLIENT_ID);
    assert_eq!(one["role_mapping"]["itsm-admins"], "admin");
    let changed = app
        .send(
            reqwest::Method::PATCH,
            &path,
            &app.token,
            Some(
                &json!({ "name": "Corp SSO", "client_secret": "rotated-secret",
                          "allowed_domains": ["corp.example", "Sub.Corp.Example"] }),
            ),
        )
        .await;
    let changed = expect_json(changed, StatusCode::OK).await;
    assert_eq!(changed["name"], "Corp SSO");
    assert_eq!(
        changed["allowed_domains"],
        json!(["corp.example", "sub.corp.example"])
    );
    // The secret is in no answer and not stored in the clear.
    let listed = app.get("/api/v1/sso/providers", &app.token).await;
    let text = listed.text().await.expect("body");
    for secret in [CLIENT_SECRET, "rotated-secret"] {
        assert!(!text.contains(secret) && !changed.to_string().contains(secret));
    }
    let switchboard::store::Db::Postgres(pool) = &app.desk.db else {
        panic!("postgres")
    };
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT secret_sealed FROM sso_providers")
        .fetch_one(pool)
        .await
        .expect("row");
    assert!(!sealed.windows(6).any(|w| w == b"rotate"));

    // Another organization's admin sees none of it and changes nothing.
    let other = app.admin_of_new_org("org-a").await;
    let theirs: Vec<Value> = app.get_json("/api/v1/sso/providers", &other).await;
    assert!(theirs.is_empty());
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let answer = app.send(method, &path, &other, None).await;
        assert_eq!(answer.status(), StatusCode::NOT_FOUND);
    }
    let patched = app
        .send(
            reqwest::Method::PATCH,
            &path,
            &other,
            Some(&json!({ "name": "A was here" })),
        )
        .await;
    assert_eq!(patched.status(), StatusCode::NOT_FOUND);
    let agent = app
        .person_with_token("Ada Agent", "ada@corp.example", &["agent"])
        .await
        .1;
    assert_eq!(
        app.get("/api/v1/sso/providers", &agent).await.status(),
        StatusCode::FORBIDDEN
    );

    let deleted = app
        .send(reqwest::Method::DELETE, &path, &app.token, None)
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&path, &app.token).await.status(),
        StatusCode::NOT_FOUND
    );
    let actions = s.audit_actions().await;
    for action in [
        "sso.provider_created",
        "sso.provider_updated",
        "sso.provider_deleted",
    ] {
        assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
    }
}

#[tokio::test]
async fn a_first_sign_in_creates_the_person_with_the_roles_of_their_groups_and_audits_it() {
    let s = spawn_sso_app().await;
    let browser = Browser::new();
    let answer = s.sign_in(&browser, "alice@corp.example").await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert!(session_cookie(&answer), "the session cookies are set");
    // The console knows her: an agent lands on the queue.
    let home = browser.get(&s.app.url("/console/")).await;
    assert_eq!(
        home.headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some("/console/queue")
    );
    let alice = person(&s, "alice@corp.example").await.expect("created");
    assert_eq!(alice["name"], "Alice Agent");
    assert_eq!(alice["roles"], json!(["agent"]));
    // A second sign-in finds the same person (by subject), no second one.
    let again = s.sign_in(&Browser::new(), "alice@corp.example").await;
    assert!(session_cookie(&again));
    let people: Vec<Value> = s.app.get_json("/api/v1/people", &s.app.token).await;
    assert_eq!(
        people
            .iter()
            .filter(|p| p["email"] == "alice@corp.example")
            .count(),
        1
    );
    let actions = s.audit_actions().await;
    for action in [
        "person.created",
        "sso.person_created",
        "auth.sso_login_succeeded",
    ] {
        assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
    }
}

#[tokio::test]
async fn an_existing_person_is_linked_by_verified_email_and_takes_the_roles_of_their_groups() {
    let s = spawn_sso_app().await;
    let (known, _) = s
        .app
        .person_with_token("Bob B.", "bob@corp.example", &["requester"])
        .await;
    let answer = s.sign_in(&Browser::new(), "bob@corp.example").await;
    assert!(session_cookie(&answer));
    let bob = person(&s, "bob@corp.example").await.expect("bob");
    assert_eq!(bob["id"], known["id"], "linked, not created");
    assert_eq!(bob["roles"], json!(["admin"]));
    let actions = s.audit_actions().await;
    assert!(
        actions.iter().any(|a| a == "sso.person_linked"),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|a| a == "sso.roles_synced"),
        "{actions:?}"
    );
    assert!(
        !actions.iter().any(|a| a == "sso.person_created"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_replayed_callback_and_a_replayed_code_are_refused() {
    let s = spawn_sso_app().await;
    let browser = Browser::new();
    let callback = s.until_callback(&browser, "alice@corp.example").await;
    let first = browser.get(&callback).await;
    assert!(session_cookie(&first));

    // The same callback again: the state was used up.
    let (status, page) = refusal_text(browser.get(&callback).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("already used"), "{page}");

    // The same code under a fresh sign-in's state: the provider refuses it.
    let fresh = s.until_callback(&browser, "alice@corp.example").await;
    let state = query_param(&fresh, "state").expect("state");
    let code = query_param(&callback, "code").expect("code");
    let replay = format!("{}?code={code}&state={state}", s.redirect_uri);
    let answer = browser.get(&replay).await;
    assert!(!session_cookie(&answer));
    let (status, page) = refusal_text(answer).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("refused the code"), "{page}");
    assert!(s
        .audit_actions()
        .await
        .iter()
        .any(|a| a == "auth.sso_refused"));
}

#[tokio::test]
async fn a_wrong_state_or_another_browser_signs_nobody_in() {
    let s = spawn_sso_app().await;
    let browser = Browser::new();
    let callback = s.until_callback(&browser, "alice@corp.example").await;
    let state = query_param(&callback, "state").expect("state");
    let forged = callback.replace(&state, "forged-state");
    let (status, page) = refusal_text(browser.get(&forged).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("unknown"), "{page}");

    // The link handed to another browser (no binding cookie): refused,
    // and the sign-in is used up, so the link is worth nothing after.
    let (status, page) = refusal_text(Browser::new().get(&callback).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("another browser"), "{page}");
    let (status, _) = refusal_text(browser.get(&callback).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(person(&s, "alice@corp.example").await.is_none());

    // A provider's own refusal (the person cancelled) is shown, not a crash.
    let cancelled = browser
        .get(&format!(
            "{}?error=access_denied&state={state}",
            s.redirect_uri
        ))
        .await;
    let (status, page) = refusal_text(cancelled).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("access_denied"), "{page}");
}

#[tokio::test]
async fn an_entra_style_token_with_a_verified_email_domain_signs_in() {
    let s = spawn_sso_app().await;
    let answer = s.sign_in(&Browser::new(), "ezra@corp.example").await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert!(
        session_cookie(&answer),
        "xms_edov counts as a verified email"
    );
    let ezra = person(&s, "ezra@corp.example").await.expect("created");
    assert_eq!(ezra["roles"], json!(["agent"]));
}

#[tokio::test]
async fn people_outside_the_allowed_domains_unverified_or_disabled_are_refused() {
    let s = spawn_sso_app().await;
    for login in ["eve@elsewhere.example", "uma@corp.example"] {
        let answer = s.sign_in(&Browser::new(), login).await;
        assert!(!session_cookie(&answer), "{login}");
        let (status, page) = refusal_text(answer).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{login}: {page}");
        assert!(person(&s, login).await.is_none(), "{login} was not created");
    }
    // A disabled person is refused, whether linked yet or not.
    let (dora, _) = s
        .app
        .person_with_token("Dora", "dora@corp.example", &["agent"])
        .await;
    let id = dora["id"].as_str().expect("id");
    let disabled = s
        .app
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/people/{id}"),
            &s.app.token,
            Some(&json!({ "disabled": true })),
        )
        .await;
    assert_eq!(disabled.status(), StatusCode::OK);
    let answer = s.sign_in(&Browser::new(), "dora@corp.example").await;
    assert!(!session_cookie(&answer));
    let (status, page) = refusal_text(answer).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("disabled"), "{page}");
    let refusals = s
        .audit_actions()
        .await
        .into_iter()
        .filter(|a| a == "auth.sso_refused")
        .count();
    assert_eq!(refusals, 3);
}

#[tokio::test]
async fn an_id_token_is_exchanged_for_a_session_and_one_for_another_audience_expired_or_forged_is_not(
) {
    let s = spawn_sso_app().await;
    let s = &s;
    let exchange = |token: String| {
        let provider = s.provider_id.clone();
        async move {
            s.app
                .post(
                    "/api/v1/auth/oidc/token",
                    "",
                    &json!({ "provider": provider, "id_token": token }),
                )
                .await
        }
    };
    let token = s
        .idp
        .id_token(
            (CLIENT_ID, CLIENT_SECRET),
            "bob@corp.example",
            &s.redirect_uri,
        )
        .await;
    let session = expect_json(exchange(token.clone()).await, StatusCode::OK).await;
    let access = session["access_token"].as_str().expect("access token");
    assert!(session["refresh_token"].is_string());
    let me: Value = s.app.get_json("/api/v1/me", access).await;
    assert_eq!(me["email"], "bob@corp.example");
    assert_eq!(me["roles"], json!(["admin"]));

    // Signed by the provider, but for another client.
    let other = s
        .idp
        .id_token(
            ("other-app", "other-secret"),
            "bob@corp.example",
            &s.redirect_uri,
        )
        .await;
    let problem = expect_json(exchange(other).await, StatusCode::UNAUTHORIZED).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("another audience"),
        "{problem}"
    );

    // A signature that does not verify.
    // (A character in the middle: the last one may hold only padding bits.)
    let at = token.rfind('.').expect("a signature") + 20;
    let mut forged = token.clone();
    let flipped = if &token[at..=at] == "A" { "B" } else { "A" };
    forged.replace_range(at..=at, flipped);
    let problem = expect_json(exchange(forged).await, StatusCode::UNAUTHORIZED).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("signature"),
        "{problem}"
    );

    // A token of a client whose ID tokens live one second, after it expired.
    let short = s
        .app
        .post(
            "/api/v1/sso/providers",
            &s.app.token,
            &json!({ "name": "Short", "issuer": s.idp.issuer, "client_id": "short-lived",
                     "client_secret": "short-secret", "allowed_domains": ["corp.example"] }),
        )
        .await;
    let short = expect_json(short, StatusCode::CREATED).await;
    let token = s
        .idp
        .id_token(
            ("short-lived", "short-secret"),
            "bob@corp.example",
            &s.redirect_uri,
        )
        .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let expired = s
        .app
        .post(
            "/api/v1/auth/oidc/token",
            "",
            &json!({ "provider": short["id"], "id_token": token }),
        )
        .await;
    let problem = expect_json(expired, StatusCode::UNAUTHORIZED).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("expired"),
        "{problem}"
    );
    let garbage = expect_json(
        exchange("not.a.token".into()).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(garbage["status"], 401);
}

#[tokio::test]
async fn with_local_passwords_off_only_the_break_glass_admin_signs_in_with_a_password_and_is_audited(
) {
    let s = spawn_sso_app().await;
    let app = &s.app;
    let admin = person_with_password(
        app,
        &app.token,
        "Greta Glass",
        "greta@corp.example",
        &["admin"],
    )
    .await;
    person_with_password(
        app,
        &app.token,
        "Pete Password",
        "pete@corp.example",
        &["agent"],
    )
    .await;
    let settings = |body: Value| async move {
        app.send(
            reqwest::Method::PATCH,
            "/api/v1/sso/settings",
            &app.token,
            Some(&body),
        )
        .await
    };
    // Off without a break-glass admin would lock everyone out of passwords.
    let refused = settings(json!({ "local_passwords": false })).await;
    expect_json(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
    let not_admin =
        settings(json!({ "local_passwords": false, "break_glass": ["pete@corp.example"] })).await;
    expect_json(not_admin, StatusCode::UNPROCESSABLE_ENTITY).await;
    let off =
        settings(json!({ "local_passwords": false, "break_glass": ["greta@corp.example"] })).await;
    let off = expect_json(off, StatusCode::OK).await;
    assert_eq!(off["local_passwords"], false);
    assert_eq!(off["break_glass"], json!([admin["id"]]));

    let login = |email: &'static str| async move {
        app.post(
            "/api/v1/auth/login",
            "",
            &json!({ "email": email, "password": PASSWORD }),
        )
        .await
    };
    let problem = expect_json(login("pete@corp.example").await, StatusCode::UNAUTHORIZED).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("single sign-on"),
        "{problem}"
    );
    let greta = expect_json(login("greta@corp.example").await, StatusCode::OK).await;
    assert_eq!(greta["status"], "authenticated");
    let actions = s.audit_actions().await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "auth.break_glass_sign_in")
            .count(),
        1,
        "{actions:?}"
    );
    assert!(actions.iter().any(|a| a == "auth.password_sign_in_refused"));
    assert!(actions.iter().any(|a| a == "sso.settings_changed"));

    // Nor can an invitation set a new password meanwhile.
    let invited = app
        .post(
            "/api/v1/invitations",
            &app.token,
            &json!({ "email": "ivy@corp.example", "name": "Ivy", "roles": ["agent"] }),
        )
        .await;
    let invitation = expect_json(invited, StatusCode::CREATED).await;
    let url = invitation["accept_url"].as_str().expect("accept_url");
    let token = url.split("token=").nth(1).expect("a token in the link");
    let registered = app
        .post(
            "/api/v1/auth/register",
            "",
            &json!({ "token": token, "password": PASSWORD }),
        )
        .await;
    expect_json(registered, StatusCode::FORBIDDEN).await;

    // Single sign-on still works for Pete's colleagues.
    let answer = s.sign_in(&Browser::new(), "alice@corp.example").await;
    assert!(session_cookie(&answer));

    // Back on: Pete's password works again.
    let on = settings(json!({ "local_passwords": true })).await;
    expect_json(on, StatusCode::OK).await;
    expect_json(login("pete@corp.example").await, StatusCode::OK).await;
}

#[tokio::test]
async fn a_person_signs_in_through_the_provider_in_a_real_browser_and_lands_as_themselves() {
    let s = spawn_sso_app().await;
    let base = s.app.url("");
    run("sso_sign_in", |c| async move {
        c.goto(&format!("{base}/console/sign-in"))
            .await
            .expect("sign-in page");
        wait_for_text(&c, "Sign in with Corp").await;
        click(&c, "a.sso-button").await;
        // The provider's own login page, then its consent page.
        crate::support::browser::fill(&c, "input[name=login]", "bob@corp.example").await;
        crate::support::browser::fill(&c, "input[name=password]", "whatever").await;
        click(&c, "button[type=submit]").await;
        wait_for_text(&c, "Authorize").await;
        click(&c, "button[type=submit]").await;
        wait_for_text(&c, "Sign out").await;
        let page = text(&c).await;
        assert!(page.contains("Bob Admin"), "{page}");
        let url = c.current_url().await.expect("url");
        assert!(url.as_str().starts_with(&base), "{url}");
        // An admin: the admin pages open.
        c.goto(&format!("{base}/console/admin"))
            .await
            .expect("admin page");
        let page = text(&c).await;
        assert!(!page.contains("needs the admin role"), "{page}");
    })
    .await;
    let bob = person(&s, "bob@corp.example").await.expect("bob");
    assert_eq!(bob["roles"], json!(["admin"]));
}

/// The single sign-on rows on one backend: a provider, a sign-in under
/// way taken once only (and never after its expiry), a linked subject,
/// the settings, and a deletion that takes the provider's rows along.
async fn sso_store_story(db: switchboard::store::Db) {
    use switchboard::store::{self, sso};
    let now = store::now();
    let mut tx = db.begin().await.expect("begin");
    let org = store::orgs::OrgRow {
        id: uuid::Uuid::now_v7(),
        slug: "story".into(),
        name: "Story".into(),
        priority_matrix: sqlx::types::Json(json!({})),
        mfa_required: false,
        created_at: now,
        time_zone: "UTC".into(),
    };
    store::orgs::insert_org(&mut tx, &org).await.expect("org");
    let person = store::people::PersonRow::new(
        uuid::Uuid::now_v7(),
        org.id,
        "Ada".into(),
        Some("ada@corp.example".into()),
        vec!["agent".into()],
        now,
    );
    store::people::insert_person(&mut tx, &person)
        .await
        .expect("person");
    let provider = sso::ProviderRow {
        id: uuid::Uuid::now_v7(),
        org_id: org.id,
        name: "Corp".into(),
        issuer: "https://idp.example".into(),
        client_id: "client".into(),
        secret_nonce: vec![1; 12],
        secret_sealed: vec![2; 20],
        allowed_domains: sqlx::types::Json(vec!["corp.example".into()]),
        role_mapping: sqlx::types::Json(json!({ "g": "agent" })),
        groups_claim: "groups".into(),
        created_at: now,
        updated_at: now,
    };
    sso::insert_provider(&mut tx, &provider)
        .await
        .expect("provider");
    let login = |state: &str, expires| sso::LoginRow {
        state_hash: state.into(),
        org_id: org.id,
        provider_id: provider.id,
        browser_hash: "b".into(),
        nonce: "n".into(),
        pkce_verifier: "v".into(),
        redirect_uri: "https://desk.example/console/sso/callback".into(),
        next_path: "/console/".into(),
        expires_at: expires,
        used_at: None,
        created_at: now,
    };
    sso::insert_login(&mut tx, &login("live", now + chrono::Duration::minutes(10)))
        .await
        .expect("login");
    sso::insert_login(&mut tx, &login("stale", now - chrono::Duration::seconds(1)))
        .await
        .expect("stale login");
    let taken = sso::take_login(&mut tx, "live", now).await.expect("take");
    assert_eq!(taken.map(|l| l.pkce_verifier), Some("v".to_string()));
    assert!(sso::take_login(&mut tx, "live", now)
        .await
        .expect("again")
        .is_none());
    assert!(sso::take_login(&mut tx, "stale", now)
        .await
        .expect("stale")
        .is_none());
    sso::insert_identity(
        &mut tx,
        &sso::SsoIdentityRow {
            provider_id: provider.id,
            subject: "sub-1".into(),
            org_id: org.id,
            person_id: person.id,
            email: "ada@corp.example".into(),
            created_at: now,
            last_login: now,
        },
    )
    .await
    .expect("identity");
    let found = sso::find_identity(&mut tx, provider.id, "sub-1")
        .await
        .expect("find");
    assert_eq!(found.map(|i| i.person_id), Some(person.id));
    sso::save_settings(
        &mut tx,
        &sso::SettingsRow {
            org_id: org.id,
            local_passwords: false,
            break_glass: sqlx::types::Json(vec![person.id]),
            updated_at: now,
        },
    )
    .await
    .expect("settings");
    let settings = sso::find_settings(&mut tx, org.id)
        .await
        .expect("read")
        .expect("row");
    assert!(!settings.local_passwords);
    assert_eq!(settings.break_glass.0, vec![person.id]);
    let listed = sso::list_providers(&mut tx, org.id).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].role_mapping.0, json!({ "g": "agent" }));
    assert_eq!(listed[0].secret_sealed, vec![2; 20]);
    assert!(sso::delete_provider(&mut tx, org.id, provider.id)
        .await
        .expect("delete"));
    assert!(sso::find_identity(&mut tx, provider.id, "sub-1")
        .await
        .expect("gone")
        .is_none());
    assert!(sso::find_provider_by_id(&mut tx, provider.id)
        .await
        .expect("gone")
        .is_none());
    tx.commit().await.expect("commit");
}

#[tokio::test]
async fn the_single_sign_on_rows_hold_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("sso.db").display());
    let db = switchboard::store::Db::connect(&url, 4, Duration::from_secs(5))
        .await
        .expect("sqlite");
    db.migrate().await.expect("migrate");
    sso_store_story(db).await;
}

#[tokio::test]
async fn the_single_sign_on_rows_hold_on_postgres() {
    let url = crate::helpers::fresh_database().await;
    let db = switchboard::store::Db::connect(&url, 4, Duration::from_secs(5))
        .await
        .expect("postgres");
    sso_store_story(db).await;
}

/// A tiny issuer for key rotation, which oidc-provider cannot do while it
/// runs: a discovery document and a key set (Ed25519 keys) that the test
/// swaps, counting how often the key set is fetched; tokens minted here.
mod rotation {
    use std::sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    };

    use axum::{extract::State, routing::get, Json, Router};
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    use ed25519_dalek::{Signer, SigningKey};
    use serde_json::{json, Value};

    #[derive(Clone, Default)]
    pub struct Issuer {
        pub url: Arc<Mutex<String>>,
        pub published: Arc<Mutex<Vec<Value>>>,
        pub key_fetches: Arc<AtomicUsize>,
    }

    pub fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    pub fn jwk(kid: &str, key: &SigningKey) -> Value {
        json!({ "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()) })
    }

    impl Issuer {
        pub async fn serve() -> Self {
            let issuer = Issuer::default();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            *issuer.url.lock().expect("lock") =
                format!("http://{}", listener.local_addr().expect("addr"));
            let router = Router::new()
                .route("/.well-known/openid-configuration", get(discovery))
                .route("/jwks", get(jwks))
                .with_state(issuer.clone());
            tokio::spawn(async move { axum::serve(listener, router).await });
            issuer
        }

        pub fn url(&self) -> String {
            self.url.lock().expect("lock").clone()
        }

        pub fn publish(&self, keys: Vec<Value>) {
            *self.published.lock().expect("lock") = keys;
        }

        pub fn fetches(&self) -> usize {
            self.key_fetches.load(Ordering::SeqCst)
        }

        /// An ID token for `email`, signed by `key` under `kid`.
        pub fn mint(&self, kid: &str, key: &SigningKey, email: &str) -> String {
            let now = chrono::Utc::now().timestamp();
            let header = json!({ "alg": "EdDSA", "kid": kid, "typ": "JWT" });
            let claims = json!({ "iss": self.url(), "aud": "rotating", "sub": email, "email": email,
                                 "email_verified": true, "iat": now, "exp": now + 300,
                                 "groups": ["itsm-agents"] });
            let signing_input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let signature = key.sign(signing_input.as_bytes());
            format!(
                "{signing_input}.{}",
                URL_SAFE_NO_PAD.encode(signature.to_bytes())
            )
        }
    }

    async fn discovery(State(issuer): State<Issuer>) -> Json<Value> {
        let url = issuer.url();
        Json(json!({
            "issuer": url,
            "authorization_endpoint": format!("{url}/auth"),
            "token_endpoint": format!("{url}/token"),
            "jwks_uri": format!("{url}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["EdDSA"],
        }))
    }

    async fn jwks(State(issuer): State<Issuer>) -> Json<Value> {
        issuer.key_fetches.fetch_add(1, Ordering::SeqCst);
        Json(json!({ "keys": issuer.published.lock().expect("lock").clone() }))
    }
}

#[tokio::test]
async fn the_key_set_is_cached_and_fetched_again_when_the_provider_rotates_its_keys() {
    let app = spawn_app().await;
    let issuer = rotation::Issuer::serve().await;
    let (old, new) = (rotation::key(1), rotation::key(2));
    issuer.publish(vec![rotation::jwk("old", &old)]);
    let created = app
        .post(
            "/api/v1/sso/providers",
            &app.token,
            &json!({ "name": "Rotating", "issuer": issuer.url(), "client_id": "rotating",
                     "client_secret": "s", "allowed_domains": ["corp.example"],
                     "role_mapping": { "itsm-agents": "agent" } }),
        )
        .await;
    let provider = expect_json(created, StatusCode::CREATED).await;
    let exchange = |token: String| {
        let body = json!({ "provider": provider["id"], "id_token": token });
        let app = &app;
        async move { app.post("/api/v1/auth/oidc/token", "", &body).await }
    };
    let fetched_at_creation = issuer.fetches();

    // Signed with the published key: the cached key set serves, twice.
    for _ in 0..2 {
        let token = issuer.mint("old", &old, "kim@corp.example");
        expect_json(exchange(token).await, StatusCode::OK).await;
    }
    assert_eq!(
        issuer.fetches(),
        fetched_at_creation,
        "served from the cache"
    );

    // The provider rotates: a token under the new key makes the daemon
    // fetch the key set once more, then it is cached again.
    issuer.publish(vec![rotation::jwk("new", &new)]);
    for _ in 0..2 {
        let token = issuer.mint("new", &new, "kim@corp.example");
        let session = expect_json(exchange(token).await, StatusCode::OK).await;
        assert!(session["access_token"].is_string());
    }
    assert_eq!(issuer.fetches(), fetched_at_creation + 1);

    // A key nobody publishes: refused, and not fetched again so soon.
    let stranger = rotation::key(3);
    let token = issuer.mint("stranger", &stranger, "kim@corp.example");
    let problem = expect_json(exchange(token).await, StatusCode::UNAUTHORIZED).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("signature"),
        "{problem}"
    );
    assert_eq!(issuer.fetches(), fetched_at_creation + 1);
    // A retired key's token no longer verifies either.
    let token = issuer.mint("old", &old, "kim@corp.example");
    expect_json(exchange(token).await, StatusCode::UNAUTHORIZED).await;
}
