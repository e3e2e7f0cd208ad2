//! The web console over plain HTTP: each page's status, key content and
//! permissions; sessions, anti-forgery tokens, escaping; what a form
//! changes, read back through the API. (Browser tests: `browser.rs`.)

use reqwest::StatusCode;
use serde_json::{json, Value};
use switchboard::domain::totp::{code_at, TotpSecret};

use crate::{
    helpers::{expect_json, spawn_app, TestApp},
    support::console::{
        agent, finance_policy, hidden, person_with_password, requester, signed_in, Visitor,
        PASSWORD,
    },
};

async fn ticket(app: &TestApp, number: &str) -> Value {
    app.get_json(&format!("/api/v1/tickets/{number}"), &app.token)
        .await
}

#[tokio::test]
async fn a_stranger_is_sent_to_sign_in_and_every_page_carries_the_security_headers() {
    let app = spawn_app().await;
    let visitor = Visitor::new(&app);
    let root = visitor.get("/").await;
    assert_eq!(root.status, StatusCode::SEE_OTHER);
    assert_eq!(root.location(), "/console/");
    let home = visitor.get("/console/").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert!(home.location().starts_with("/console/sign-in?next="));
    let queue = visitor.get("/console/queue?view=mine").await;
    assert_eq!(
        queue.location(),
        "/console/sign-in?next=%2Fconsole%2Fqueue%3Fview%3Dmine"
    );

    let sign_in = visitor.get("/console/sign-in").await;
    assert_eq!(sign_in.status, StatusCode::OK);
    assert!(sign_in.html.contains("<label for=\"email\">Email</label>"));
    let csp = sign_in.headers["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    assert_eq!(sign_in.headers["x-content-type-options"], "nosniff");
    // Every script is a file of ours: nothing inline.
    assert!(!sign_in.html.contains("<script>"), "no inline script");
    // The pre-session form cookie is HttpOnly and SameSite=Lax.
    let cookie = sign_in.headers["set-cookie"].to_str().expect("cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    for asset in [
        "/console/assets/app.css",
        "/console/assets/console.js",
        "/console/assets/htmx.min.js",
    ] {
        assert_eq!(visitor.get(asset).await.status, StatusCode::OK, "{asset}");
    }

    app.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_wrong_password_is_refused_at_the_form_and_sign_out_ends_the_session_at_once() {
    let app = spawn_app().await;
    person_with_password(&app, &app.token, "Ada Agent", "ada@example.com", &["agent"]).await;
    let visitor = Visitor::new(&app);
    let wrong = visitor
        .submit(
            "/console/sign-in",
            "/console/sign-in",
            &[
                ("email", "ada@example.com"),
                ("password", "not the password"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.html.contains("Wrong email, password or code."));
    assert!(
        wrong.html.contains("value=\"ada@example.com\""),
        "the email stays typed"
    );

    // A client whose cookies the test holds, to replay them after sign-out.
    let cookies = raw_sign_in(&app, "ada@example.com").await;
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let queue = raw
        .get(app.url("/console/queue"))
        .header("cookie", &cookies)
        .send()
        .await
        .expect("sent");
    assert_eq!(queue.status(), StatusCode::OK);
    let html = queue.text().await.expect("html");
    assert!(html.contains("Ada Agent"));
    let csrf = hidden(&html, "csrf").expect("csrf");
    let out = raw
        .post(app.url("/console/sign-out"))
        .header("cookie", &cookies)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("sent");
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(out.headers()["location"], "/console/sign-in");
    let replayed = raw
        .get(app.url("/console/queue"))
        .header("cookie", &cookies)
        .send()
        .await
        .expect("sent");
    assert_eq!(
        replayed.status(),
        StatusCode::SEE_OTHER,
        "the old cookies no longer work"
    );

    app.shutdown().await.expect("shutdown");
}

fn pairs(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// Signs in without a cookie store; the Cookie header of the session.
async fn raw_sign_in(app: &TestApp, email: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = client
        .get(app.url("/console/sign-in"))
        .send()
        .await
        .expect("sent");
    let form_cookie = page.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_string();
    let html = page.text().await.expect("html");
    let csrf = hidden(&html, "csrf").expect("csrf");
    let signed = client
        .post(app.url("/console/sign-in"))
        .header("cookie", &form_cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("sent");
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);
    signed
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::test]
async fn sign_in_asks_for_the_totp_code_of_a_person_with_mfa() {
    let app = spawn_app().await;
    person_with_password(&app, &app.token, "Ada Agent", "ada@example.com", &["agent"]).await;
    let visitor = Visitor::new(&app);
    visitor.sign_in("ada@example.com", PASSWORD).await;
    // Enrol on the console's own page.
    let enrol = visitor.get("/console/mfa").await;
    assert_eq!(enrol.status, StatusCode::OK);
    let secret = enrol.hidden("secret").expect("a secret to add");
    let totp = TotpSecret::from_base32(&secret).expect("base32");
    let now = chrono::Utc::now().timestamp();
    let code = code_at(&totp, now);
    let confirmed = visitor
        .post(
            "/console/mfa",
            &[
                ("csrf", enrol.hidden("csrf").expect("csrf").as_str()),
                ("code", code.as_str()),
            ],
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK);
    assert!(confirmed.html.contains("recovery codes"));

    let fresh = Visitor::new(&app);
    let step = fresh.try_sign_in("ada@example.com", PASSWORD).await;
    assert_eq!(
        step.status,
        StatusCode::OK,
        "the code step, not signed in yet"
    );
    assert!(step.html.contains("Code from your authenticator app"));
    assert_eq!(
        fresh.get("/console/queue").await.status,
        StatusCode::SEE_OTHER
    );
    let form = |code: &str| {
        vec![
            ("csrf".to_string(), step.hidden("csrf").expect("csrf")),
            (
                "mfa_token".to_string(),
                step.hidden("mfa_token").expect("token"),
            ),
            ("code".to_string(), code.to_string()),
        ]
    };
    let wrong = form("000000");
    let refused = fresh.post("/console/sign-in/code", &pairs(&wrong)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    // The enrolment's code cannot be replayed; the next window's works.
    let replayed = fresh
        .post("/console/sign-in/code", &pairs(&form(&code)))
        .await;
    assert_eq!(replayed.status, StatusCode::UNAUTHORIZED);
    let right = form(&code_at(&totp, now + 30));
    let signed = fresh.post("/console/sign-in/code", &pairs(&right)).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.html);
    assert_eq!(fresh.get("/console/queue").await.status, StatusCode::OK);

    app.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn an_agent_takes_a_ticket_from_the_queue_replies_and_resolves_it() {
    let app = spawn_app().await;
    let created = app.create_ticket("incident", "Printer on fire").await;
    let number = created["number"].as_str().expect("number").to_string();
    let ada = agent(&app).await;

    let unassigned = ada.get("/console/queue?view=unassigned").await;
    assert_eq!(unassigned.status, StatusCode::OK);
    assert!(unassigned.html.contains("Printer on fire"));
    let mine = ada.get("/console/queue?view=mine").await;
    assert!(!mine.html.contains("Printer on fire"));

    let page = format!("/console/tickets/{number}");
    let taken = ada
        .submit(&page, &format!("{page}/assign"), &[("assignee", "me")])
        .await;
    assert_eq!(taken.status, StatusCode::SEE_OTHER);
    assert_eq!(ticket(&app, &number).await["assignee"]["name"], "Ada Agent");
    assert!(ada
        .get("/console/queue?view=mine")
        .await
        .html
        .contains("Printer on fire"));

    let replied = ada
        .submit(
            &page,
            &format!("{page}/reply"),
            &[("body", "On my way with an extinguisher")],
        )
        .await;
    assert_eq!(replied.status, StatusCode::SEE_OTHER);
    let noted = ada
        .submit(
            &page,
            &format!("{page}/reply"),
            &[("body", "Third time this month"), ("internal", "on")],
        )
        .await;
    assert_eq!(noted.status, StatusCode::SEE_OTHER);
    let comments: Vec<Value> = app
        .get_json(&format!("/api/v1/tickets/{number}/comments"), &app.token)
        .await;
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[0]["channel"], "web");
    assert_eq!(comments[0]["internal"], false);
    assert_eq!(comments[1]["internal"], true);
    let shown = ada.get(&page).await;
    assert!(shown.html.contains("On my way with an extinguisher"));
    assert!(shown.html.contains("via console"));
    assert!(shown.html.contains("Internal note"));

    // Straight from new to closed is not a move of this process: refused
    // with the allowed ones named, nothing changed.
    let refused = ada
        .submit(&page, &format!("{page}/transition"), &[("to", "closed")])
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused.html.contains("Allowed from here"),
        "{}",
        refused.html
    );
    assert_eq!(ticket(&app, &number).await["state"], "new");

    for to in ["in_progress", "resolved"] {
        let moved = ada
            .submit(&page, &format!("{page}/transition"), &[("to", to)])
            .await;
        assert_eq!(
            moved.status,
            StatusCode::SEE_OTHER,
            "to {to}: {}",
            moved.html
        );
    }
    assert_eq!(ticket(&app, &number).await["state"], "resolved");

    app.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_form_without_its_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let created = app.create_ticket("incident", "VPN down").await;
    let number = created["number"].as_str().expect("number");
    let ada = agent(&app).await;
    let reply = format!("/console/tickets/{number}/reply");
    let missing = ada.post(&reply, &[("body", "forged")]).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert!(missing.html.contains("This form has expired"));
    let wrong = ada
        .post(&reply, &[("csrf", "not-the-token"), ("body", "forged")])
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    // Another session's token does not do either.
    person_with_password(&app, &app.token, "Bo Agent", "bo@example.com", &["agent"]).await;
    let bo = Visitor::new(&app);
    bo.sign_in("bo@example.com", PASSWORD).await;
    let bos = bo.get("/console/queue").await.hidden("csrf").expect("csrf");
    let crossed = ada
        .post(&reply, &[("csrf", bos.as_str()), ("body", "forged")])
        .await;
    assert_eq!(crossed.status, StatusCode::FORBIDDEN);
    let comments: Vec<Value> = app
        .get_json(&format!("/api/v1/tickets/{number}/comments"), &app.token)
        .await;
    assert!(comments.is_empty(), "{comments:?}");
    // The sign-in form needs its pre-session token too.
    let fresh = Visitor::new(&app);
    let bare = fresh
        .post(
            "/console/sign-in",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(bare.status, StatusCode::FORBIDDEN);

    app.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn markup_in_a_title_or_comment_is_shown_as_text() {
    let app = spawn_app().await;
    let created = app
        .create_ticket(
            "incident",
            "<script>alert(1)</script><img src=x onerror=alert(2)>",
        )
        .await;
    let number = created["number"].as_str().expect("number");
    let ada = agent(&app).await;
    let page = ada.get(&format!("/console/tickets/{number}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.html.contains("<script>alert"));
    assert!(!page.html.contains("<img src=x"));
    assert!(
        page.html
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{}",
        page.html
    );
    let queue = ada.get("/console/queue").await;
    assert!(!queue.html.contains("<script>alert"));

    app.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn another_organizations_ticket_is_a_404_and_requesters_see_only_their_own() {
    let app = spawn_app().await;
    let ours = app.create_ticket("incident", "Ours only").await;
    let number = ours["number"].as_str().expect("number");
    let other_admin = app.admin_of_new_org("other").await;
    person_with_password(
        &app,
        &other_admin,
        "Olga Other",
        "olga@example.com",
        &["agent"],
    )
    .await;
    let olga = Visitor::new(&app);
    olga.sign_in("olga@example.com", PASSWORD).await;
    let theirs = olga.get(&format!("/console/tickets/{number}")).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert!(!theirs.html.contains("Ours only"));
    assert!(!olga
        .get("/console/queue?view=all")
        .await
        .html
        .contains("Ours only"));

    let rex = requester(&app).await;
    assert_eq!(
        rex.get(&format!("/console/tickets/{number}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        rex.get("/console/queue").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        rex.get("/console/admin").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        rex.get("/console/dashboard").await.status,
        StatusCode::FORBIDDEN
    );
    let home = rex.get("/console/").await;
    assert_eq!(home.location(), "/console/my");

    app.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_requester_raises_a_ticket_sees_it_and_rates_it_once_resolved() {
    let app = spawn_app().await;
    let rex = requester(&app).await;
    let empty = rex
        .submit(
            "/console/new",
            "/console/new",
            &[("kind", "incident"), ("title", "")],
        )
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.html.contains("id=\"title-error\""), "{}", empty.html);
    let raised = rex
        .submit(
            "/console/new",
            "/console/new",
            &[
                ("kind", "incident"),
                ("title", "Monitor flickers"),
                ("description", "Since Monday"),
                ("urgency", "high"),
            ],
        )
        .await;
    assert_eq!(raised.status, StatusCode::SEE_OTHER);
    let number = raised
        .location()
        .strip_prefix("/console/tickets/")
        .expect("to the ticket")
        .to_string();
    let t = ticket(&app, &number).await;
    assert_eq!(t["title"], "Monitor flickers");
    assert_eq!(t["channel"], "web");
    assert_eq!(t["requester"]["name"], "Rex Requester");
    assert!(rex
        .get("/console/my")
        .await
        .html
        .contains("Monitor flickers"));
    let page = format!("/console/tickets/{number}");
    let shown = rex.get(&page).await;
    assert!(!shown.html.contains("How did we do?"));
    // Only the moves a requester may make are offered: cancel, not start.
    assert!(
        shown.html.contains("<option value=\"cancelled\">"),
        "{}",
        shown.html
    );
    assert!(!shown.html.contains("<option value=\"in_progress\">"));

    for to in ["in_progress", "resolved"] {
        expect_json(app.transition(&number, to).await, StatusCode::OK).await;
    }
    assert!(rex.get(&page).await.html.contains("How did we do?"));
    let rated = rex
        .submit(&page, &format!("{page}/rate"), &[("score", "5")])
        .await;
    assert_eq!(rated.status, StatusCode::SEE_OTHER);
    assert_eq!(ticket(&app, &number).await["satisfaction"], 5);

    app.shutdown().await.expect("shutdown");
}

async fn catalog_item(app: &TestApp) -> String {
    let item = expect_json(
        app.post(
            "/api/v1/catalog/items",
            &app.token,
            &json!({
                "name": "Laptop",
                "description": "A new laptop",
                "form": { "fields": [
                    { "key": "model", "label": "Model", "type": "choice", "required": true,
                      "options": [{ "value": "air", "label": "Air" }, { "value": "pro", "label": "Pro" }] },
                    { "key": "ram_gb", "label": "Memory (GB)", "type": "number", "integer": true, "min": 8, "max": 64 },
                    { "key": "extras", "label": "Extras", "type": "multi_choice",
                      "options": [{ "value": "dock" }, { "value": "bag" }] }
                ]}
            }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    item["id"].as_str().expect("id").to_string()
}

#[tokio::test]
async fn a_catalog_order_with_a_wrong_field_shows_the_error_at_that_field_then_goes_through() {
    let app = spawn_app().await;
    let item = catalog_item(&app).await;
    let rex = requester(&app).await;
    let catalog = rex.get("/console/catalog").await;
    assert!(catalog.html.contains("Laptop"));
    let page = format!("/console/catalog/{item}");
    let form = rex.get(&page).await;
    assert!(form.html.contains("<select id=\"field-model\""));
    assert!(form.html.contains("type=\"number\""));

    let wrong = rex
        .submit(
            &page,
            &page,
            &[("answers.model", "pro"), ("answers.ram_gb", "4")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong.html.contains("id=\"field-ram_gb-error\""),
        "{}",
        wrong.html
    );
    assert!(wrong.html.contains("value=\"4\""), "what was typed stays");
    let before: Value = app.get_json("/api/v1/tickets", &app.token).await;
    assert_eq!(before["items"], json!([]), "nothing stored");

    let right = rex
        .submit(
            &page,
            &page,
            &[
                ("answers.model", "pro"),
                ("answers.ram_gb", "32"),
                ("answers.extras", "dock"),
                ("answers.extras", "bag"),
            ],
        )
        .await;
    assert_eq!(right.status, StatusCode::SEE_OTHER, "{}", right.html);
    let number = right.location().trim_start_matches("/console/tickets/");
    let request: Value = app
        .get_json(&format!("/api/v1/tickets/{number}/request"), &app.token)
        .await;
    assert_eq!(request["answers"]["ram_gb"], 32);
    assert_eq!(request["answers"]["extras"], json!(["dock", "bag"]));

    app.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn an_approver_approves_from_the_approvals_page() {
    let app = spawn_app().await;
    finance_policy(&app).await;
    let created = app.create_ticket("service_request", "A new chair").await;
    let number = created["number"].as_str().expect("number");
    expect_json(
        app.post(
            &format!("/api/v1/tickets/{number}/approvals"),
            &app.token,
            &json!({ "policy": "Finance" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;

    let fay = Visitor::new(&app);
    fay.sign_in("fay@example.com", PASSWORD).await;
    let page = fay.get("/console/approvals").await;
    assert!(page.html.contains("A new chair"), "{}", page.html);
    let approvals: Vec<Value> = app
        .get_json(&format!("/api/v1/tickets/{number}/approvals"), &app.token)
        .await;
    let id = approvals[0]["id"].as_str().expect("id");
    let action = format!("/console/approvals/{id}/decide");
    let no_reason = fay
        .submit("/console/approvals", &action, &[("decision", "reject")])
        .await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        no_reason.html.contains("say why you reject"),
        "{}",
        no_reason.html
    );
    let approved = fay
        .submit("/console/approvals", &action, &[("decision", "approve")])
        .await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER);
    let after: Vec<Value> = app
        .get_json(&format!("/api/v1/tickets/{number}/approvals"), &app.token)
        .await;
    assert_eq!(after[0]["status"], "approved");
    assert_eq!(after[0]["stages"][0]["decisions"][0]["channel"], "web");
    assert!(fay
        .get("/console/approvals")
        .await
        .html
        .contains("Nothing waits"));

    app.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn the_dashboard_shows_the_figures_and_exports_reports() {
    let app = spawn_app().await;
    app.create_ticket("incident", "One").await;
    app.create_ticket("incident", "Two").await;
    let mia = signed_in(&app, "Mia Manager", "mia@example.com", &["admin"]).await;
    let page = mia.get("/console/dashboard").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.html.contains("<span class=\"figure\">2</span> open"),
        "{}",
        page.html
    );
    let chart = mia
        .get("/console/reports/volume?format=svg&interval=day")
        .await;
    assert_eq!(chart.status, StatusCode::OK);
    assert_eq!(chart.headers["content-type"], "image/svg+xml");
    assert!(chart.html.starts_with("<svg") || chart.html.contains("<svg"));
    let workbook = mia
        .client
        .get(app.url("/console/reports/volume?format=xlsx"))
        .send()
        .await
        .expect("sent");
    assert_eq!(workbook.status(), StatusCode::OK);
    assert!(workbook.headers()["content-disposition"]
        .to_str()
        .expect("disposition")
        .starts_with("attachment; filename=\"volume-"));
    let bytes = workbook.bytes().await.expect("bytes");
    assert_eq!(&bytes[..2], b"PK", "an xlsx is a zip");
    let bad = mia
        .get("/console/reports/volume?format=xlsx&interval=hour")
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

    app.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn the_admin_page_shows_connectors_and_retries_a_dead_delivery() {
    let app = spawn_app().await;
    let mia = signed_in(&app, "Mia Manager", "mia@example.com", &["admin"]).await;
    let page = mia.get("/console/admin").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page
        .html
        .contains("<strong>Slack</strong>: <span class=\"badge state-other\">off</span>"));
    assert!(page.html.contains("Mia Manager"));
    assert!(page.html.contains("Every worker is running."));
    // The invitation mail has no connector here; make it a dead letter.
    let pending = app.outbox("pending").await;
    let id = pending[0]["id"].as_str().expect("id").to_string();
    let switchboard::store::Db::Postgres(pool) = &app.desk.db else {
        panic!("postgres")
    };
    sqlx::query("UPDATE outbox SET state = 'dead', last_error = 'gave up' WHERE id = $1")
        .bind(id.parse::<uuid::Uuid>().expect("uuid"))
        .execute(pool)
        .await
        .expect("dead letter");
    let page = mia.get("/console/admin").await;
    assert!(page.html.contains("gave up"));
    let retried = mia
        .submit(
            "/console/admin",
            &format!("/console/admin/outbox/{id}/retry"),
            &[],
        )
        .await;
    assert_eq!(retried.status, StatusCode::SEE_OTHER);
    let pending = app.outbox("pending").await;
    assert!(pending.iter().any(|m| m["id"] == id.as_str()));

    app.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn the_queue_views_narrow_to_unassigned_and_sla_standing_as_the_api_does() {
    let app = spawn_app().await;
    app.create_ticket("incident", "Nobody has me").await;
    let list: Value = app
        .get_json("/api/v1/tickets?unassigned=true&open=true", &app.token)
        .await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    let breached: Value = app
        .get_json("/api/v1/tickets?sla=breached", &app.token)
        .await;
    assert_eq!(breached["items"], json!([]));
    let bad = app.get("/api/v1/tickets?sla=ok", &app.token).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let ada = agent(&app).await;
    let page = ada.get("/console/queue?view=breached").await;
    assert!(page.html.contains("No tickets in this view."));
    let unknown = ada.get("/console/queue?view=everything-ever").await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);

    app.shutdown().await.expect("shutdown");
}
