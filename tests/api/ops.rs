//! Operations: health, readiness, metrics, OpenAPI, graceful shutdown, the
//! CLI contract (`token create`, `config check`, SIGTERM) and audit.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::Value;

use crate::helpers::{fresh_database, spawn_app, spawn_on, Receiver};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = spawn_app().await;
    let health = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(health.status(), 200);
    let ready = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(ready.status(), 200);
    app.create_ticket("incident", "counted").await;
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("switchboard_tickets_created_total{kind=\"incident\",channel=\"api\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("switchboard_http_request_duration_seconds_count{method=\"POST\",route=\"/api/v1/tickets\"} 1"), "{metrics}");
    assert!(metrics.contains("switchboard_outbox_messages{state=\"pending\"} 0"));
    assert!(metrics.contains("switchboard_timer_oldest_overdue_seconds"));
}

#[tokio::test]
async fn the_openapi_document_covers_every_route() {
    let app = spawn_app().await;
    let doc: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let expected = [
        ("/api/v1/tickets", &["get", "post"][..]),
        ("/api/v1/tickets/{number}", &["get", "patch"]),
        ("/api/v1/tickets/{number}/transitions", &["post"]),
        ("/api/v1/tickets/{number}/satisfaction", &["post"]),
        ("/api/v1/tickets/{number}/assignment", &["post"]),
        ("/api/v1/tickets/{number}/comments", &["get", "post"]),
        ("/api/v1/tickets/{number}/attachments", &["get", "post"]),
        ("/api/v1/tickets/{number}/attachments/{id}", &["get"]),
        ("/api/v1/tickets/{number}/activity", &["get"]),
        ("/api/v1/tickets/{number}/watchers", &["get", "post"]),
        ("/api/v1/tickets/{number}/watchers/{person}", &["delete"]),
        ("/api/v1/tickets/{number}/links", &["get", "post"]),
        ("/api/v1/tickets/{number}/links/{to}", &["delete"]),
        ("/api/v1/tickets/{number}/merge", &["post"]),
        ("/api/v1/auth/login", &["post"]),
        ("/api/v1/auth/mfa", &["post"]),
        ("/api/v1/auth/refresh", &["post"]),
        ("/api/v1/auth/logout", &["post"]),
        ("/api/v1/auth/register", &["post"]),
        ("/api/v1/auth/password-reset", &["post"]),
        ("/api/v1/auth/password-reset/confirm", &["post"]),
        ("/api/v1/me", &["get", "patch"]),
        ("/api/v1/me/password", &["post"]),
        ("/api/v1/me/mfa/totp", &["post"]),
        ("/api/v1/me/mfa/totp/confirm", &["post"]),
        ("/api/v1/me/mfa/disable", &["post"]),
        ("/api/v1/me/link-codes", &["post"]),
        ("/api/v1/invitations", &["post"]),
        ("/api/v1/organization", &["get", "patch"]),
        ("/api/v1/people/{id}/identities", &["get", "post"]),
        ("/api/v1/people/{id}/identities/{identity}", &["delete"]),
        ("/api/v1/tokens", &["get", "post"]),
        ("/api/v1/tokens/{id}", &["delete"]),
        ("/api/v1/cmdb/classes", &["get", "post"]),
        ("/api/v1/cmdb/cis", &["get", "post"]),
        ("/api/v1/cmdb/cis/{id}", &["get", "patch", "delete"]),
        ("/api/v1/cmdb/cis/{id}/history", &["get"]),
        ("/api/v1/cmdb/cis/{id}/impact", &["get"]),
        ("/api/v1/cmdb/relationships", &["post"]),
        ("/api/v1/cmdb/relationships/{id}", &["delete"]),
        ("/api/v1/cmdb/bulk", &["post"]),
        ("/api/v1/tickets/{number}/cis", &["get", "post"]),
        ("/api/v1/tickets/{number}/cis/{ci}", &["delete"]),
        ("/api/v1/problems/{number}", &["get", "patch"]),
        ("/api/v1/problems/{number}/incidents", &["get", "post"]),
        (
            "/api/v1/problems/{number}/incidents/{incident}",
            &["delete"],
        ),
        ("/api/v1/problems/{number}/resolve", &["post"]),
        ("/api/v1/known-errors", &["get", "post"]),
        ("/api/v1/known-errors/{id}", &["get", "patch"]),
        ("/api/v1/tickets/{number}/problem", &["get"]),
        ("/api/v1/tickets/{number}/suggestions", &["get"]),
        ("/api/v1/tickets/{number}/known-errors", &["get", "post"]),
        ("/api/v1/tickets/{number}/major", &["post"]),
        ("/api/v1/tickets/{number}/escalation", &["get", "post"]),
        ("/api/v1/tickets/{number}/parent", &["put", "delete"]),
        ("/api/v1/tickets/{number}/children", &["get"]),
        ("/api/v1/catalog", &["get"]),
        ("/api/v1/catalog/categories", &["post"]),
        ("/api/v1/catalog/items", &["post"]),
        ("/api/v1/catalog/items/{id}", &["get", "put"]),
        ("/api/v1/catalog/items/{id}/orders", &["post"]),
        ("/api/v1/tickets/{number}/request", &["get"]),
        ("/api/v1/approval-policies", &["get", "post"]),
        ("/api/v1/approval-policies/{id}", &["get", "put"]),
        ("/api/v1/approvals", &["get"]),
        ("/api/v1/approvals/{id}", &["get"]),
        ("/api/v1/approvals/{id}/decisions", &["post"]),
        ("/api/v1/tickets/{number}/approvals", &["get", "post"]),
        ("/api/v1/me/delegations", &["get", "post"]),
        ("/api/v1/me/delegations/{id}", &["delete"]),
        ("/api/v1/people/{id}/manager", &["put"]),
        ("/api/v1/changes", &["post"]),
        ("/api/v1/changes/risk-questionnaire", &["get"]),
        ("/api/v1/changes/{number}", &["get"]),
        ("/api/v1/changes/{number}/window", &["put"]),
        ("/api/v1/changes/{number}/conflicts", &["get"]),
        ("/api/v1/changes/{number}/risk", &["put"]),
        ("/api/v1/changes/{number}/review", &["put"]),
        ("/api/v1/change-templates", &["get", "post"]),
        ("/api/v1/freeze-windows", &["get", "post"]),
        ("/api/v1/tickets/{number}/tasks", &["get", "post"]),
        ("/api/v1/tickets/{number}/tasks/{id}", &["patch"]),
        ("/api/v1/rules", &["get", "post"]),
        ("/api/v1/rules/{id}", &["get", "put", "delete"]),
        ("/api/v1/sla/calendars", &["get", "post"]),
        ("/api/v1/sla/calendars/{id}", &["get", "put", "delete"]),
        ("/api/v1/sla/policies", &["get", "post"]),
        ("/api/v1/sla/policies/{id}", &["get", "put", "delete"]),
        ("/api/v1/sla/compliance", &["get"]),
        ("/api/v1/tickets/{number}/sla", &["get"]),
        ("/api/v1/escalation-policies", &["get", "post"]),
        (
            "/api/v1/escalation-policies/{id}",
            &["get", "put", "delete"],
        ),
        ("/api/v1/teams/{team}/on-call", &["get", "put"]),
        ("/api/v1/tickets/{number}/acknowledge", &["post"]),
        ("/api/v1/schedules", &["get", "post"]),
        ("/api/v1/schedules/{id}", &["get", "put", "delete"]),
        ("/api/v1/people", &["get", "post"]),
        ("/api/v1/people/{id}", &["get", "patch"]),
        ("/api/v1/teams", &["get", "post"]),
        ("/api/v1/teams/{team}", &["get", "patch"]),
        ("/api/v1/teams/{team}/members", &["post"]),
        ("/api/v1/teams/{team}/members/{person}", &["delete"]),
        ("/api/v1/categories", &["get", "post"]),
        ("/api/v1/webhooks", &["get", "post"]),
        ("/api/v1/webhooks/{id}", &["delete"]),
        ("/api/v1/outbox", &["get"]),
        ("/api/v1/outbox/{id}/retry", &["post"]),
        ("/api/v1/email/quarantine", &["get"]),
        ("/api/v1/me/inbox", &["get"]),
        ("/api/v1/me/inbox/{id}/read", &["post"]),
        ("/api/v1/me/inbox/read-all", &["post"]),
        (
            "/api/v1/organization/notification-defaults",
            &["get", "put"],
        ),
        ("/api/v1/reports/dashboard", &["get"]),
        ("/api/v1/reports/volume", &["get"]),
        ("/api/v1/reports/sla", &["get"]),
        ("/api/v1/reports/agents", &["get"]),
        ("/api/v1/reports/processes", &["get"]),
        ("/api/v1/integrations", &["get", "post"]),
        ("/api/v1/integrations/{id}", &["get", "patch", "delete"]),
        ("/api/v1/integrations/{id}/rotate-secret", &["post"]),
        ("/api/v1/tickets/{number}/time", &["get", "post"]),
        ("/api/v1/macros", &["get", "post"]),
        ("/api/v1/macros/{id}", &["get", "patch", "delete"]),
        ("/api/v1/tickets/{number}/macros/{macro}", &["post"]),
        ("/api/v1/tickets/{number}/alerts", &["get"]),
        ("/api/v1/tickets/{number}/silence", &["post"]),
        ("/api/v1/people/{id}/availability", &["get"]),
        ("/api/v1/people/{id}/skills", &["put"]),
        ("/api/v1/people/{id}/working-hours", &["put"]),
        ("/api/v1/people/{id}/absences", &["post"]),
        ("/api/v1/people/{id}/absences/{absence}", &["delete"]),
        ("/api/v1/skill-rules", &["get", "post"]),
        ("/api/v1/skill-rules/{id}", &["delete"]),
        ("/api/v1/scim/group-roles", &["get", "put"]),
        ("/scim/v2/Users", &["get", "post"]),
        ("/scim/v2/Users/{id}", &["get", "put", "patch", "delete"]),
        ("/scim/v2/Groups", &["get", "post"]),
        ("/scim/v2/Groups/{id}", &["get", "put", "patch", "delete"]),
        ("/scim/v2/ServiceProviderConfig", &["get"]),
        ("/scim/v2/ResourceTypes", &["get"]),
        ("/scim/v2/ResourceTypes/{id}", &["get"]),
        ("/scim/v2/Schemas", &["get"]),
        ("/scim/v2/Schemas/{id}", &["get"]),
        ("/api/v1/sso/providers", &["get", "post"]),
        ("/api/v1/sso/providers/{id}", &["get", "patch", "delete"]),
        ("/api/v1/sso/settings", &["get", "patch"]),
        ("/api/v1/auth/oidc/token", &["post"]),
        ("/api/v1/openapi.json", &["get"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
        ("/metrics", &["get"]),
    ];
    let paths = doc["paths"].as_object().expect("paths");
    for (path, methods) in expected {
        for method in methods {
            assert!(
                paths.get(path).and_then(|p| p.get(method)).is_some(),
                "{method} {path} missing from the OpenAPI document"
            );
        }
    }
    assert_eq!(
        paths.len(),
        expected.len(),
        "the document has no routes the router lacks"
    );
    assert!(doc["components"]["schemas"]["TicketView"].is_object());
}

#[tokio::test]
async fn shutdown_finishes_the_delivery_in_flight() {
    let url = fresh_database().await;
    let app = spawn_on(&url, true, |_| {}).await;
    let receiver = Receiver::default();
    receiver.delay(Duration::from_millis(800));
    let addr = receiver.serve("127.0.0.1:0".parse().expect("addr")).await;
    app.subscribe(&format!("http://{addr}/hook")).await;
    app.create_ticket("incident", "deliver me before you go")
        .await;
    // The running dispatcher picks the message up at once; stop while the
    // receiver is still holding the request.
    let arrived = crate::helpers::eventually(Duration::from_secs(10), || async {
        receiver.arrived.load(std::sync::atomic::Ordering::SeqCst) == 1
    })
    .await;
    assert!(arrived, "the delivery started");
    let base = app.url("/healthz");
    let desk = app.desk.clone();

    app.shutdown().await.expect("clean shutdown");

    assert_eq!(receiver.received().len(), 1);
    let counts = switchboard::store::outbox::count_by_state(&desk.db, None).await;
    assert!(counts.is_err(), "the pool is closed after shutdown");
    let db = switchboard::store::Db::connect(&url, 1, Duration::from_secs(5))
        .await
        .expect("reconnect");
    let counts = switchboard::store::outbox::count_by_state(&db, None)
        .await
        .expect("counts");
    assert_eq!(counts, vec![("delivered".to_string(), 1)]);
    assert!(
        reqwest::get(base).await.is_err(),
        "no longer accepting connections"
    );
}

#[tokio::test]
async fn serve_on_sqlite_prints_a_bootstrap_token_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().expect("dir");
    let mut child = Command::new(BIN)
        .arg("serve")
        .current_dir(dir.path())
        .env("SWITCHBOARD__SERVER__LISTEN", "127.0.0.1:0")
        .env("SWITCHBOARD__LOG__FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    // Keep draining: the daemon logs until it exits.
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut addr = None;
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(30)) {
        if let Ok(event) = serde_json::from_str::<Value>(&line) {
            if event["message"] == "switchboard listening" {
                assert_eq!(event["connectors"], "slack=off discord=off email=off");
                assert_eq!(event["database"], "sqlite");
                addr = event["addr"].as_str().map(str::to_string);
                break;
            }
        }
    }
    let addr = addr.expect("the listening line names the address");
    let ready = reqwest::get(format!("http://{addr}/readyz"))
        .await
        .expect("reachable");
    assert_eq!(ready.status(), 200);
    assert!(
        dir.path().join("switchboard.db").exists(),
        "the SQLite default lives in the working directory"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let output = child.wait_with_output().expect("exits");
    assert!(output.status.success(), "exit status {:?}", output.status);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("admin token"), "{stdout}");
    assert!(stdout.contains("sb_"));
}

#[tokio::test]
async fn token_create_prints_only_the_token_and_it_works() {
    let url = fresh_database().await;
    let output = Command::new(BIN)
        .args(["token", "create", "--org", "default", "--role", "admin"])
        .env("SWITCHBOARD__DATABASE__URL", &url)
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("utf8");
    let token = stdout.trim();
    assert!(
        token.starts_with("sb_") && !token.contains(char::is_whitespace),
        "{stdout:?}"
    );
    assert_eq!(stdout.lines().count(), 1);

    let app = spawn_on(&url, false, |_| {}).await;
    let response = app.get("/api/v1/tickets", token).await;
    assert_eq!(response.status(), 200);
}

/// A typo in `--org` must not create a tenant: the command fails naming
/// the organizations there are; `org create` makes one, once.
#[tokio::test]
async fn token_create_for_a_missing_org_fails_and_org_create_makes_it() {
    let url = fresh_database().await;
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env("SWITCHBOARD__DATABASE__URL", &url)
            .output()
            .expect("runs")
    };
    let typo = run(&["token", "create", "--org", "defualt", "--role", "admin"]);
    assert!(!typo.status.success());
    assert!(typo.stdout.is_empty(), "no token printed");
    let stderr = String::from_utf8_lossy(&typo.stderr);
    assert!(
        stderr.contains("no organization `defualt`") && stderr.contains("there are: default"),
        "{stderr}"
    );
    let app = spawn_on(&url, false, |_| {}).await;
    let orgs: Vec<String> = switchboard::store::orgs::list_orgs(&app.desk.db)
        .await
        .expect("orgs")
        .into_iter()
        .map(|o| o.slug)
        .collect();
    assert_eq!(orgs, ["default"], "nothing created by the typo");

    for _ in 0..2 {
        let created = run(&["org", "create", "acme"]);
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stderr)
        );
    }
    assert!(!run(&["org", "create", "Not A Slug"]).status.success());
    let token = run(&["token", "create", "--org", "acme", "--role", "admin"]);
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let token = String::from_utf8(token.stdout).expect("utf8");
    let me: serde_json::Value = app.get_json("/api/v1/organization", token.trim()).await;
    assert_eq!(me["slug"], "acme", "{me}");
}

#[test]
fn config_check_redacts_secrets_and_names_bad_keys() {
    let ok = Command::new(BIN)
        .args(["config", "check"])
        .env("SWITCHBOARD__SLACK__BOT_TOKEN", "xoxb-top-secret")
        .env(
            "SWITCHBOARD__DATABASE__URL",
            "postgres://sb:hunter2@db.internal/sb",
        )
        .output()
        .expect("runs");
    assert!(ok.status.success());
    let shown = String::from_utf8_lossy(&ok.stdout);
    assert!(
        !shown.contains("xoxb-top-secret") && !shown.contains("hunter2"),
        "{shown}"
    );
    assert!(shown.contains("[redacted]"));

    // Ids that look like numbers stay exactly as written.
    let ids = Command::new(BIN)
        .args(["config", "check"])
        .env(
            "SWITCHBOARD__DISCORD__APPLICATION_ID",
            "1100000000000000001",
        )
        .env("SWITCHBOARD__SLACK__CLIENT_ID", "1234567890.1234567890123")
        .output()
        .expect("runs");
    assert!(
        ids.status.success(),
        "{}",
        String::from_utf8_lossy(&ids.stderr)
    );
    let shown = String::from_utf8_lossy(&ids.stdout);
    assert!(
        shown.contains("1100000000000000001") && shown.contains("1234567890.1234567890123"),
        "{shown}"
    );

    let bad = Command::new(BIN)
        .args(["config", "check"])
        .env("SWITCHBOARD__SERVER__LISTEN", "everywhere")
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("server.listen"));

    let wrong_type = Command::new(BIN)
        .args(["config", "check"])
        .env("SWITCHBOARD__OUTBOX__MAX_ATTEMPTS", "lots")
        .output()
        .expect("runs");
    assert_eq!(wrong_type.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong_type.stderr).contains("outbox.max_attempts"));
}

#[tokio::test]
async fn the_audit_chain_verifies_and_detects_tampering() {
    let url = fresh_database().await;
    let app = spawn_on(&url, false, |_| {}).await;
    let ticket = app.create_ticket("incident", "audited").await;
    app.transition(ticket["number"].as_str().expect("number"), "in_progress")
        .await;
    let org = switchboard::store::orgs::list_orgs(&app.desk.db)
        .await
        .expect("orgs")[0]
        .id;
    let checked = switchboard::desk::audit_verify(&app.desk.db, org)
        .await
        .expect("intact");
    assert!(
        checked >= 4,
        "org, token, person, ticket and transition were audited: {checked}"
    );

    let switchboard::store::Db::Postgres(pool) = &app.desk.db else {
        panic!("postgres")
    };
    sqlx::query("UPDATE audit_log SET content = replace(content, 'in_progress', 'resolved') WHERE action = 'ticket.state_changed'")
        .execute(pool)
        .await
        .expect("tamper");
    let error = switchboard::desk::audit_verify(&app.desk.db, org)
        .await
        .expect_err("tampering is detected");
    assert!(error.to_string().contains("does not match"), "{error}");

    let output = Command::new(BIN)
        .args(["audit", "verify"])
        .env("SWITCHBOARD__DATABASE__URL", &url)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("TAMPERED"));
}

#[tokio::test]
async fn the_demo_seeds_a_few_dozen_tickets_in_varied_states() {
    let url = fresh_database().await;
    let app = spawn_on(&url, false, |_| {}).await;

    let token = switchboard::cli::demo::seed(&app.desk)
        .await
        .expect("seeded");

    let mut tickets = Vec::new();
    let mut cursor = String::new();
    loop {
        let page: Value = app
            .get_json(&format!("/api/v1/tickets?limit=200{cursor}"), &token)
            .await;
        tickets.extend(page["items"].as_array().expect("items").clone());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert!(
        tickets.len() >= 24,
        "a few dozen tickets: {}",
        tickets.len()
    );
    let mut states: Vec<&str> = tickets.iter().filter_map(|t| t["state"].as_str()).collect();
    states.sort();
    states.dedup();
    assert!(states.len() >= 8, "varied states: {states:?}");
    let teams: Vec<Value> = app.get_json("/api/v1/teams", &token).await;
    assert_eq!(teams.len(), 3);
    let cis: Value = app.get_json("/api/v1/cmdb/cis?q=core", &token).await;
    let switch = cis["items"][0]["id"]
        .as_str()
        .expect("the demo has a core switch")
        .to_string();
    let impact: Value = app
        .get_json(&format!("/api/v1/cmdb/cis/{switch}/impact?depth=5"), &token)
        .await;
    assert_eq!(
        impact["services"][0]["name"], "Payroll",
        "a switch failure reaches the payroll service"
    );
    // Seeding again keeps the data and just issues another token.
    let again = switchboard::cli::demo::seed(&app.desk)
        .await
        .expect("idempotent");
    let count: Value = app.get_json("/api/v1/tickets?limit=200", &again).await;
    assert_eq!(
        count["items"].as_array().map(Vec::len),
        Some(tickets.len().min(200))
    );
    // The default organization sees none of it.
    let ours: Value = app.get_json("/api/v1/tickets", &app.token).await;
    assert_eq!(ours["items"], serde_json::json!([]));
}
