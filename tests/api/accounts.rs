//! Local accounts end to end: invitation → registration → login → MFA →
//! refresh → reuse detection → logout; password change and reset; lockout;
//! organization MFA policy; API token scopes and revocation.

use reqwest::StatusCode;
use serde_json::{json, Value};
use switchboard::domain::totp::{code_at, TotpSecret};

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

const PASSWORD: &str = "correct horse battery staple";

async fn invite_and_register(app: &TestApp, email: &str, roles: &[&str]) -> Value {
    let invited = app
        .post(
            "/api/v1/invitations",
            &app.token,
            &json!({ "email": email, "name": "Ines Invited", "roles": roles }),
        )
        .await;
    assert_eq!(invited.status(), StatusCode::CREATED);
    // No email connector yet: the dispatcher leaves the message pending.
    app.dispatcher.drain().await.expect("dispatch");
    let token = app.emailed_token(email).await;
    let registered = app
        .post(
            "/api/v1/auth/register",
            "",
            &json!({ "token": token, "password": PASSWORD }),
        )
        .await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    registered.json().await.expect("session")
}

async fn login(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.post(
        "/api/v1/auth/login",
        "",
        &json!({ "email": email, "password": password }),
    )
    .await
}

async fn audit_actions(app: &TestApp) -> Vec<String> {
    let switchboard::store::Db::Postgres(pool) = &app.desk.db else {
        panic!("postgres")
    };
    sqlx::query_scalar("SELECT action FROM audit_log ORDER BY at, seq")
        .fetch_all(pool)
        .await
        .expect("audit")
}

#[tokio::test]
async fn an_invited_person_registers_signs_in_with_totp_and_their_session_survives_only_honest_refreshes(
) {
    let app = spawn_app().await;
    let session = invite_and_register(&app, "ines@example.com", &["agent"]).await;
    let me: Value = app
        .get_json(
            "/api/v1/me",
            session["access_token"].as_str().expect("access"),
        )
        .await;
    assert_eq!(me["email"], "ines@example.com");
    assert_eq!(me["roles"], json!(["agent"]));

    // Password sign-in, then MFA enrolment.
    let signed_in: Value = login(&app, "ines@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(signed_in["status"], "authenticated");
    let access = signed_in["access_token"]
        .as_str()
        .expect("access")
        .to_string();
    let enrolment: Value = app
        .post("/api/v1/me/mfa/totp", &access, &json!({}))
        .await
        .json()
        .await
        .expect("json");
    assert!(enrolment["otpauth_uri"]
        .as_str()
        .expect("uri")
        .starts_with("otpauth://totp/Switchboard:ines%40example.com?"));
    let secret =
        TotpSecret::from_base32(enrolment["secret"].as_str().expect("secret")).expect("base32");
    let now = chrono::Utc::now().timestamp();
    let confirmed = app
        .post(
            "/api/v1/me/mfa/totp/confirm",
            &access,
            &json!({ "code": code_at(&secret, now) }),
        )
        .await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    let recovery: Value = confirmed.json().await.expect("json");
    let recovery_codes: Vec<String> =
        serde_json::from_value(recovery["recovery_codes"].clone()).expect("codes");
    assert_eq!(recovery_codes.len(), 10);

    // Now sign-in takes two steps; a wrong code is refused.
    let step_one: Value = login(&app, "ines@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(step_one["status"], "mfa_required");
    let mfa_token = step_one["mfa_token"]
        .as_str()
        .expect("mfa token")
        .to_string();
    let wrong = app
        .post(
            "/api/v1/auth/mfa",
            "",
            &json!({ "mfa_token": mfa_token, "code": "000000" }),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    // The code used at enrolment cannot be replayed; the next one works.
    let replay = app
        .post(
            "/api/v1/auth/mfa",
            "",
            &json!({ "mfa_token": mfa_token, "code": code_at(&secret, now) }),
        )
        .await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    let ok = app
        .post(
            "/api/v1/auth/mfa",
            "",
            &json!({ "mfa_token": mfa_token, "code": code_at(&secret, now + 30) }),
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let session: Value = ok.json().await.expect("json");
    let again = app
        .post(
            "/api/v1/auth/mfa",
            "",
            &json!({ "mfa_token": mfa_token, "code": code_at(&secret, now + 30) }),
        )
        .await;
    assert_eq!(
        again.status(),
        StatusCode::UNAUTHORIZED,
        "an MFA challenge is single use"
    );

    // A recovery code works once.
    let step_one: Value = login(&app, "ines@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    let body = json!({ "mfa_token": step_one["mfa_token"], "recovery_code": recovery_codes[0].to_uppercase() });
    assert_eq!(
        app.post("/api/v1/auth/mfa", "", &body).await.status(),
        StatusCode::OK
    );
    let step_one: Value = login(&app, "ines@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    let body = json!({ "mfa_token": step_one["mfa_token"], "recovery_code": recovery_codes[0] });
    assert_eq!(
        app.post("/api/v1/auth/mfa", "", &body).await.status(),
        StatusCode::UNAUTHORIZED,
        "recovery codes are single use"
    );

    // Refresh rotates; presenting a rotated token revokes the whole family.
    let first_refresh = session["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    let rotated = app
        .post(
            "/api/v1/auth/refresh",
            "",
            &json!({ "refresh_token": first_refresh }),
        )
        .await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let rotated: Value = rotated.json().await.expect("json");
    let reused = app
        .post(
            "/api/v1/auth/refresh",
            "",
            &json!({ "refresh_token": first_refresh }),
        )
        .await;
    assert_eq!(reused.status(), StatusCode::UNAUTHORIZED);
    let after_theft = app
        .post(
            "/api/v1/auth/refresh",
            "",
            &json!({ "refresh_token": rotated["refresh_token"] }),
        )
        .await;
    assert_eq!(
        after_theft.status(),
        StatusCode::UNAUTHORIZED,
        "the family is revoked"
    );
    let access = rotated["access_token"].as_str().expect("access");
    assert_eq!(
        app.get("/api/v1/me", access).await.status(),
        StatusCode::UNAUTHORIZED,
        "access tokens die with the session"
    );

    // Logout ends a fresh session at once.
    let step_one: Value = login(&app, "ines@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    let fresh: Value = app
        .post(
            "/api/v1/auth/mfa",
            "",
            &json!({ "mfa_token": step_one["mfa_token"], "recovery_code": recovery_codes[1] }),
        )
        .await
        .json()
        .await
        .expect("json");
    let access = fresh["access_token"].as_str().expect("access");
    assert_eq!(
        app.get("/api/v1/tickets", access).await.status(),
        StatusCode::OK
    );
    let out = app
        .post(
            "/api/v1/auth/logout",
            "",
            &json!({ "refresh_token": fresh["refresh_token"] }),
        )
        .await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/tickets", access).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let actions = audit_actions(&app).await;
    for expected in [
        "invitation.created",
        "invitation.accepted",
        "auth.login_succeeded",
        "mfa.enabled",
        "auth.mfa_failed",
        "auth.recovery_code_used",
        "auth.refresh_reuse_detected",
        "auth.logout",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "audit has {expected}: {actions:?}"
        );
    }
    let org = switchboard::store::orgs::list_orgs(&app.desk.db)
        .await
        .expect("orgs")[0]
        .id;
    switchboard::desk::audit_verify(&app.desk.db, org)
        .await
        .expect("chain intact");
}

#[tokio::test]
async fn a_password_reset_link_works_once_and_signs_out_every_session() {
    let app = spawn_app().await;
    let session = invite_and_register(&app, "rob@example.com", &["requester"]).await;
    let access = session["access_token"]
        .as_str()
        .expect("access")
        .to_string();

    let unknown = app
        .post(
            "/api/v1/auth/password-reset",
            "",
            &json!({ "email": "nobody@example.com" }),
        )
        .await;
    assert_eq!(
        unknown.status(),
        StatusCode::ACCEPTED,
        "same answer whether or not the account exists"
    );
    let asked = app
        .post(
            "/api/v1/auth/password-reset",
            "",
            &json!({ "email": "ROB@example.com" }),
        )
        .await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    let outbox = app.outbox("pending").await;
    assert!(!outbox.iter().any(|m| m["target"] == "nobody@example.com"));
    let token = app.emailed_token("rob@example.com").await;

    let weak = app
        .post(
            "/api/v1/auth/password-reset/confirm",
            "",
            &json!({ "token": token, "new_password": "short" }),
        )
        .await;
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let new_password = "a much better passphrase";
    let done = app
        .post(
            "/api/v1/auth/password-reset/confirm",
            "",
            &json!({ "token": token, "new_password": new_password }),
        )
        .await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    let reused = app
        .post(
            "/api/v1/auth/password-reset/confirm",
            "",
            &json!({ "token": token, "new_password": "yet another passphrase" }),
        )
        .await;
    assert_eq!(reused.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(
        app.get("/api/v1/me", &access).await.status(),
        StatusCode::UNAUTHORIZED,
        "old sessions are revoked"
    );
    assert_eq!(
        login(&app, "rob@example.com", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, "rob@example.com", new_password).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one() {
    let app = spawn_app().await;
    let session = invite_and_register(&app, "cam@example.com", &["agent"]).await;
    let access = session["access_token"].as_str().expect("access");
    let wrong = app
        .post(
            "/api/v1/me/password",
            access,
            &json!({ "current_password": "not it at all!", "new_password": "the next passphrase" }),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let ok = app
        .post(
            "/api/v1/me/password",
            access,
            &json!({ "current_password": PASSWORD, "new_password": "the next passphrase" }),
        )
        .await;
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        login(&app, "cam@example.com", "the next passphrase")
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn repeated_failures_lock_the_account_for_a_while() {
    let app = spawn_app().await;
    invite_and_register(&app, "lou@example.com", &["agent"]).await;
    for _ in 0..4 {
        assert_eq!(
            login(&app, "lou@example.com", "wrong password!!")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let fifth = login(&app, "lou@example.com", "wrong password!!").await;
    assert_eq!(fifth.status(), StatusCode::TOO_MANY_REQUESTS);
    let right_but_locked = login(&app, "lou@example.com", PASSWORD).await;
    assert_eq!(right_but_locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: i64 = right_but_locked.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry_after > 60);
    let actions = audit_actions(&app).await;
    assert!(actions.iter().filter(|a| *a == "auth.login_failed").count() >= 5);
    assert!(actions.iter().any(|a| a == "auth.locked_out"));
    assert!(actions.iter().any(|a| a == "auth.login_refused_locked"));
}

#[tokio::test]
async fn bad_invitations_and_weak_passwords_are_refused_and_change_nothing() {
    let app = spawn_app_with(|c| c.auth.invitation_ttl_hours = 0.0).await;
    let unknown = app
        .post(
            "/api/v1/auth/register",
            "",
            &json!({ "token": "sbi_nope", "password": PASSWORD }),
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let invited = app
        .post(
            "/api/v1/invitations",
            &app.token,
            &json!({ "email": "old@example.com", "name": "Old", "roles": ["agent"] }),
        )
        .await;
    assert_eq!(invited.status(), StatusCode::CREATED);
    let token = app.emailed_token("old@example.com").await;
    let weak = app
        .post(
            "/api/v1/auth/register",
            "",
            &json!({ "token": token, "password": "password1234" }),
        )
        .await;
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let long = app
        .post(
            "/api/v1/auth/register",
            "",
            &json!({ "token": token, "password": "x".repeat(300) }),
        )
        .await;
    assert_eq!(long.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let expired = app
        .post(
            "/api/v1/auth/register",
            "",
            &json!({ "token": token, "password": PASSWORD }),
        )
        .await;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    let problem: Value = expired.json().await.expect("json");
    assert!(problem["detail"]
        .as_str()
        .expect("detail")
        .contains("expired"));
    let people: Vec<Value> = app.get_json("/api/v1/people", &app.token).await;
    assert!(!people.iter().any(|p| p["email"] == "old@example.com"));
}

#[tokio::test]
async fn an_organization_that_requires_mfa_lets_the_unenrolled_only_enrol() {
    let app = spawn_app().await;
    let session = invite_and_register(&app, "mia@example.com", &["agent"]).await;
    let policy = app
        .client
        .patch(app.url("/api/v1/organization"))
        .bearer_auth(&app.token)
        .json(&json!({ "mfa_required": true }))
        .send()
        .await
        .expect("sent");
    assert_eq!(policy.status(), StatusCode::OK);

    let signed_in: Value = login(&app, "mia@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(signed_in["mfa_enrollment_required"], true);
    let access = signed_in["access_token"].as_str().expect("access");
    let blocked = app.get("/api/v1/tickets", access).await;
    assert_eq!(blocked.status(), StatusCode::FORBIDDEN);
    let problem: Value = blocked.json().await.expect("json");
    assert_eq!(problem["code"], "mfa_enrollment_required");
    let enrolment: Value = app
        .post("/api/v1/me/mfa/totp", access, &json!({}))
        .await
        .json()
        .await
        .expect("json");
    let secret =
        TotpSecret::from_base32(enrolment["secret"].as_str().expect("secret")).expect("base32");
    let confirm = app
        .post(
            "/api/v1/me/mfa/totp/confirm",
            access,
            &json!({ "code": code_at(&secret, chrono::Utc::now().timestamp()) }),
        )
        .await;
    assert_eq!(confirm.status(), StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/tickets", access).await.status(),
        StatusCode::OK
    );
    let _ = session;
}

#[tokio::test]
async fn api_tokens_are_named_scoped_listed_and_revoked() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/api/v1/tokens",
            &app.token,
            &json!({ "name": "grafana", "role": "agent", "scope": "read" }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.expect("json");
    let read_only = created["token"]
        .as_str()
        .expect("token shown once")
        .to_string();

    assert_eq!(
        app.get("/api/v1/tickets", &read_only).await.status(),
        StatusCode::OK
    );
    let write = app
        .post(
            "/api/v1/tickets",
            &read_only,
            &json!({ "kind": "incident", "title": "nope" }),
        )
        .await;
    assert_eq!(write.status(), StatusCode::FORBIDDEN);

    let listed: Vec<Value> = app.get_json("/api/v1/tokens", &app.token).await;
    let grafana = listed
        .iter()
        .find(|t| t["name"] == "grafana")
        .expect("listed");
    assert!(grafana.get("token").is_none(), "the secret is never listed");
    assert_eq!(grafana["scope"], "read");

    let id = created["id"].as_str().expect("id");
    let revoked = app
        .client
        .delete(app.url(&format!("/api/v1/tokens/{id}")))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("sent");
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/tickets", &read_only).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let expiring = app
        .post(
            "/api/v1/tokens",
            &app.token,
            &json!({ "name": "temp", "role": "admin", "expires_at": "2000-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(
        expiring.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "an expiry in the past is refused"
    );
}

#[tokio::test]
async fn a_disabled_person_is_signed_out_everywhere() {
    let app = spawn_app().await;
    let session = invite_and_register(&app, "dee@example.com", &["agent"]).await;
    let access = session["access_token"].as_str().expect("access");
    let me: Value = app.get_json("/api/v1/me", access).await;
    let id = me["id"].as_str().expect("id");
    let disabled = app
        .client
        .patch(app.url(&format!("/api/v1/people/{id}")))
        .bearer_auth(&app.token)
        .json(&json!({ "disabled": true }))
        .send()
        .await
        .expect("sent");
    assert_eq!(disabled.status(), StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/me", access).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, "dee@example.com", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let promoted = app
        .client
        .patch(app.url(&format!("/api/v1/people/{id}")))
        .bearer_auth(&app.token)
        .json(&json!({ "roles": ["agent", "manager"], "disabled": false }))
        .send()
        .await
        .expect("sent");
    let promoted: Value = promoted.json().await.expect("json");
    assert_eq!(promoted["roles"], json!(["agent", "manager"]));
    assert!(audit_actions(&app)
        .await
        .iter()
        .any(|a| a == "person.roles_changed"));
}
