//! The console in a real headless Chromium: what a person clicks, and what
//! the service desk then holds (read back through the API).

use std::time::Duration;

use fantoccini::{Client, Locator};
use reqwest::StatusCode;
use serde_json::{json, Value};
use switchboard::domain::totp::{code_at, TotpSecret};

use crate::{
    helpers::{expect_json, spawn_app, TestApp},
    support::{
        browser::{click, fill, run, sign_in, submit, text, wait_for_text},
        console::{finance_policy, person_with_password, PASSWORD},
    },
};

async fn ticket(app: &TestApp, number: &str) -> Value {
    app.get_json(&format!("/api/v1/tickets/{number}"), &app.token)
        .await
}

async fn path(client: &Client) -> String {
    client.current_url().await.expect("url").path().to_string()
}

#[tokio::test]
async fn an_agent_with_totp_signs_in_takes_a_ticket_replies_and_resolves_it() {
    let app = spawn_app().await;
    person_with_password(&app, &app.token, "Ada Agent", "ada@example.com", &["agent"]).await;
    let created = app.create_ticket("incident", "Printer on fire").await;
    let number = created["number"].as_str().expect("number").to_string();
    let base = app.url("");
    let n = number.clone();
    run("totp_take_reply_resolve", |c| async move {
        // Enrol in two-factor sign-in on the console's page.
        sign_in(&c, &base, "ada@example.com", PASSWORD, None).await;
        c.goto(&format!("{base}/console/mfa"))
            .await
            .expect("mfa page");
        let secret = c
            .find(Locator::Css("code.secret"))
            .await
            .expect("the key to type in")
            .text()
            .await
            .expect("text");
        let totp = TotpSecret::from_base32(&secret).expect("base32");
        let now = chrono::Utc::now().timestamp();
        fill(&c, "#code", &code_at(&totp, now)).await;
        click(&c, "main form button[type=submit]").await;
        wait_for_text(&c, "recovery codes").await;
        click(&c, "form.signout button").await;
        wait_for_text(&c, "Sign in").await;

        // Password, then the next window's code (the first cannot be replayed).
        sign_in(
            &c,
            &base,
            "ada@example.com",
            PASSWORD,
            Some(&code_at(&totp, now + 30)),
        )
        .await;
        assert_eq!(path(&c).await, "/console/queue");

        // From the queue to the ticket; take it, reply, resolve.
        c.goto(&format!("{base}/console/queue?view=unassigned"))
            .await
            .expect("queue");
        click(&c, &format!("a[href='/console/tickets/{n}']")).await;
        wait_for_text(&c, "Printer on fire").await;
        submit(&c, "form[action$='/assign'] button.secondary").await;
        wait_for_text(&c, "Take it").await;
        fill(&c, "#reply-body", "On my way with an extinguisher").await;
        submit(&c, "form.reply button[type=submit]").await;
        wait_for_text(&c, "On my way with an extinguisher").await;
        for state in ["in_progress", "resolved"] {
            c.find(Locator::Css("#to"))
                .await
                .expect("the move select")
                .select_by_value(state)
                .await
                .expect("select");
            submit(&c, "form[action$='/transition'] button").await;
            wait_for_text(&c, &switchboard_label(state)).await;
        }
    })
    .await;
    let t = ticket(&app, &number).await;
    assert_eq!(t["state"], "resolved");
    assert_eq!(t["assignee"]["name"], "Ada Agent");
    let comments: Vec<Value> = app
        .get_json(&format!("/api/v1/tickets/{number}/comments"), &app.token)
        .await;
    assert_eq!(comments[0]["body"], "On my way with an extinguisher");
    assert_eq!(comments[0]["channel"], "web");
    app.shutdown().await.expect("shutdown");
}

/// A state as the page shows it.
fn switchboard_label(state: &str) -> String {
    let spaced = state.replace('_', " ");
    let mut chars = spaced.chars();
    chars
        .next()
        .map(|f| f.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_ticket_raised_through_the_api_appears_in_the_open_queue_without_a_reload() {
    let app = spawn_app().await;
    person_with_password(&app, &app.token, "Ada Agent", "ada@example.com", &["agent"]).await;
    let base = app.url("");
    let api = app.url("/api/v1/tickets");
    let token = app.token.clone();
    run("live_queue", |c| async move {
        sign_in(&c, &base, "ada@example.com", PASSWORD, None).await;
        c.goto(&format!("{base}/console/queue?view=open"))
            .await
            .expect("queue");
        wait_for_text(&c, "No tickets in this view.").await;
        // A mark on this page: gone if the page reloads.
        c.execute("window.__stillHere = true;", vec![])
            .await
            .expect("mark");
        // Let the page open its event stream before the change happens.
        for _ in 0..50 {
            let open = c
                .execute(
                    "return performance.getEntriesByType('resource').some(e => e.name.includes('/console/events'));",
                    vec![],
                )
                .await
                .expect("script");
            if open == json!(true) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let created = reqwest::Client::new()
            .post(&api)
            .bearer_auth(&token)
            .json(&json!({ "kind": "incident", "title": "Raised in Slack a second ago" }))
            .send()
            .await
            .expect("sent");
        assert_eq!(created.status(), StatusCode::CREATED);
        wait_for_text(&c, "Raised in Slack a second ago").await;
        let still = c
            .execute("return window.__stillHere === true;", vec![])
            .await
            .expect("script");
        assert_eq!(still, json!(true), "the row arrived without a reload");
    })
    .await;
    app.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn markup_in_a_title_runs_nothing_and_a_form_without_its_token_is_refused() {
    let app = spawn_app().await;
    person_with_password(&app, &app.token, "Ada Agent", "ada@example.com", &["agent"]).await;
    let title = "<img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script>";
    let created = app.create_ticket("incident", title).await;
    let number = created["number"].as_str().expect("number").to_string();
    let base = app.url("");
    let n = number.clone();
    run("escaping_and_csrf", |c| async move {
        sign_in(&c, &base, "ada@example.com", PASSWORD, None).await;
        for page in [
            format!("{base}/console/tickets/{n}"),
            format!("{base}/console/queue?view=all"),
        ] {
            c.goto(&page).await.expect("page");
            wait_for_text(&c, "window.__xss=2").await;
            let ran = c
                .execute("return typeof window.__xss;", vec![])
                .await
                .expect("script");
            assert_eq!(
                ran,
                json!("undefined"),
                "nothing of the title ran on {page}"
            );
        }
        // The reply form without its token: refused, nothing stored.
        c.goto(&format!("{base}/console/tickets/{n}"))
            .await
            .expect("ticket");
        c.execute(
            "document.querySelector('form.reply input[name=csrf]').remove();",
            vec![],
        )
        .await
        .expect("remove the token");
        fill(&c, "#reply-body", "forged").await;
        click(&c, "form.reply button[type=submit]").await;
        wait_for_text(&c, "This form has expired").await;
    })
    .await;
    let comments: Vec<Value> = app
        .get_json(&format!("/api/v1/tickets/{number}/comments"), &app.token)
        .await;
    assert!(comments.is_empty());
    app.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_requester_orders_with_a_wrong_field_then_correctly_and_an_approver_approves() {
    let app = spawn_app().await;
    person_with_password(
        &app,
        &app.token,
        "Rex Requester",
        "rex@example.com",
        &["requester"],
    )
    .await;
    finance_policy(&app).await;
    let item = expect_json(
        app.post(
            "/api/v1/catalog/items",
            &app.token,
            &json!({
                "name": "Laptop",
                "description": "A new laptop",
                "approval_policy": "Finance",
                "form": { "fields": [
                    { "key": "model", "label": "Model", "type": "choice", "required": true,
                      "options": [{ "value": "air", "label": "Air" }, { "value": "pro", "label": "Pro" }] },
                    { "key": "ram_gb", "label": "Memory (GB)", "type": "number", "integer": true, "min": 8, "max": 64 }
                ]}
            }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let item = item["id"].as_str().expect("id").to_string();
    let base = app.url("");
    let ordered = run_order(&base, &item).await;
    let t = ticket(&app, &ordered).await;
    assert_eq!(t["state"], "awaiting_approval");

    let b = base.clone();
    run("approve", |c| async move {
        sign_in(&c, &b, "fay@example.com", PASSWORD, None).await;
        c.goto(&format!("{b}/console/approvals"))
            .await
            .expect("approvals");
        wait_for_text(&c, "Laptop").await;
        click(&c, "form.decide button[value=approve]").await;
        wait_for_text(&c, "Nothing waits for your decision.").await;
    })
    .await;
    let approvals: Vec<Value> = app
        .get_json(&format!("/api/v1/tickets/{ordered}/approvals"), &app.token)
        .await;
    assert_eq!(approvals[0]["status"], "approved");
    app.shutdown().await.expect("shutdown");
}

/// The requester's half: a wrong answer shown at its field, then the order.
async fn run_order(base: &str, item: &str) -> String {
    let number = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let found = number.clone();
    let base = base.to_string();
    let item = item.to_string();
    run("order", |c| async move {
        sign_in(&c, &base, "rex@example.com", PASSWORD, None).await;
        c.goto(&format!("{base}/console/catalog"))
            .await
            .expect("catalog");
        click(&c, &format!("a[href='/console/catalog/{item}']")).await;
        c.find(Locator::Css("#field-model"))
            .await
            .expect("model")
            .select_by_value("pro")
            .await
            .expect("select");
        fill(&c, "#field-ram_gb", "4").await;
        click(&c, "main form button[type=submit]").await;
        let error = c
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("#field-ram_gb-error"))
            .await
            .expect("the error at the memory field");
        assert!(
            error.text().await.expect("text").contains("8"),
            "names the minimum"
        );
        fill(&c, "#field-ram_gb", "32").await;
        click(&c, "main form button[type=submit]").await;
        wait_for_text(&c, "Awaiting approval").await;
        let at = path(&c).await;
        *found.lock().expect("lock") = at
            .strip_prefix("/console/tickets/")
            .expect("on the new ticket's page")
            .to_string();
        assert!(text(&c).await.contains("Laptop"));
    })
    .await;
    let n = number.lock().expect("lock").clone();
    n
}
