//! The console's admin pages over plain HTTP (people and roles, teams and
//! categories, SLA, escalation and on-call, schedules, the catalog, rules
//! and webhooks): each page's status and key content, admins only, forms
//! without their token refused, a refused form showing the desk's words and
//! changing nothing — read back through the REST API. Also the pages before
//! a session (forgotten password, reset, invitation) and MFA enforcement,
//! and delegates named on the approvals page.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{
    helpers::{expect_json, spawn_app, TestApp},
    support::console::{person_with_password, Page, Visitor, PASSWORD},
};

async fn admin(app: &TestApp) -> (Visitor, Value) {
    let mia = person_with_password(
        app,
        &app.token,
        "Mia Manager",
        "mia@example.com",
        &["admin"],
    )
    .await;
    let visitor = Visitor::new(app);
    visitor.sign_in("mia@example.com", PASSWORD).await;
    (visitor, mia)
}

async fn agent(app: &TestApp) -> (Visitor, Value) {
    let ada =
        person_with_password(app, &app.token, "Ada Agent", "ada@example.com", &["agent"]).await;
    let visitor = Visitor::new(app);
    visitor.sign_in("ada@example.com", PASSWORD).await;
    (visitor, ada)
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

/// What askama makes of a JSON text inside a textarea.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&#34;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&#39;")
}

fn refused(page: &Page, status: StatusCode, words: &str) {
    assert_eq!(page.status, status, "{}", page.html);
    assert!(page.html.contains(words), "`{words}` in {}", page.html);
}

#[tokio::test]
async fn admin_pages_are_for_admins_and_forms_need_their_token() {
    let app = spawn_app().await;
    let (mia, _) = admin(&app).await;
    let (ada, _) = agent(&app).await;
    for page in [
        "/console/admin",
        "/console/admin/people",
        "/console/admin/teams",
        "/console/admin/sla",
        "/console/admin/sla/calendars/new",
        "/console/admin/sla/policies/new",
        "/console/admin/escalation",
        "/console/admin/escalation/policies/new",
        "/console/admin/schedules/new",
        "/console/admin/catalog",
        "/console/admin/catalog/items/new",
        "/console/admin/automation",
        "/console/admin/rules/new",
    ] {
        let shown = mia.get(page).await;
        assert_eq!(shown.status, StatusCode::OK, "{page}: {}", shown.html);
        assert!(
            shown.html.contains("aria-label=\"Admin sections\""),
            "{page} has the admin navigation"
        );
        assert!(!shown.html.contains("<script>"), "{page}: no inline script");
        assert!(!shown.html.contains("style="), "{page}: no inline style");
        let denied = ada.get(page).await;
        assert_eq!(denied.status, StatusCode::FORBIDDEN, "{page} for an agent");
    }
    let stranger = Visitor::new(&app);
    assert_eq!(
        stranger.get("/console/admin/people").await.status,
        StatusCode::SEE_OTHER
    );

    // A form without its token changes nothing.
    for (action, fields) in [
        (
            "/console/admin/people/invite",
            vec![
                ("email", "eve@example.com"),
                ("name", "Eve"),
                ("role", "agent"),
            ],
        ),
        ("/console/admin/teams", vec![("name", "Forged")]),
        ("/console/admin/categories", vec![("name", "Forged")]),
        (
            "/console/admin/catalog/categories",
            vec![("name", "Forged")],
        ),
        (
            "/console/admin/sla/calendars/new",
            vec![(
                "document",
                r#"{"name":"Forged","time_zone":"UTC","always_open":true}"#,
            )],
        ),
        (
            "/console/admin/webhooks",
            vec![("url", "https://hooks.example.com/forged")],
        ),
    ] {
        let forged = mia.post(action, &fields).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{action}");
        assert!(forged.html.contains("This form has expired"), "{action}");
    }
    let people: Vec<Value> = app.get_json("/api/v1/people", &app.token).await;
    assert!(!people.iter().any(|p| p["email"] == "eve@example.com"));
    let teams: Vec<Value> = app.get_json("/api/v1/teams", &app.token).await;
    assert!(!teams.iter().any(|t| t["name"] == "Forged"));
    let categories: Vec<Value> = app.get_json("/api/v1/categories", &app.token).await;
    assert!(categories.is_empty());
    let calendars: Vec<Value> = app.get_json("/api/v1/sla/calendars", &app.token).await;
    assert!(calendars.is_empty());
    let hooks: Vec<Value> = app.get_json("/api/v1/webhooks", &app.token).await;
    assert!(hooks.is_empty());

    // An agent's forged-free form is still the desk's to refuse.
    let by_agent = ada
        .submit(
            "/console/queue",
            "/console/admin/teams",
            &[("name", "Agents' team")],
        )
        .await;
    assert_eq!(by_agent.status, StatusCode::FORBIDDEN);
    let teams: Vec<Value> = app.get_json("/api/v1/teams", &app.token).await;
    assert!(!teams.iter().any(|t| t["name"] == "Agents' team"));

    app.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn an_admin_invites_people_changes_roles_and_disables_them() {
    let app = spawn_app().await;
    let (mia, me) = admin(&app).await;
    let (_, ada) = agent(&app).await;
    let page = mia.get("/console/admin/people").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("Invite someone") && page.html.contains("Ada Agent"));

    let bad = mia
        .submit(
            "/console/admin/people",
            "/console/admin/people/invite",
            &[
                ("email", "not an address"),
                ("name", "Nell New"),
                ("role", "agent"),
            ],
        )
        .await;
    refused(&bad, StatusCode::UNPROCESSABLE_ENTITY, "email:");
    assert!(
        bad.html.contains("value=\"Nell New\""),
        "the name stays typed"
    );
    let invited = mia
        .submit(
            "/console/admin/people",
            "/console/admin/people/invite",
            &[
                ("email", "nell@example.com"),
                ("name", "Nell New"),
                ("role", "agent"),
            ],
        )
        .await;
    assert_eq!(invited.status, StatusCode::SEE_OTHER, "{}", invited.html);
    assert!(mia
        .get(invited.location())
        .await
        .html
        .contains("An invitation is on its way to nell@example.com"));
    assert!(app
        .emailed_token("nell@example.com")
        .await
        .starts_with("sbi_"));

    let ada_id = id(&ada);
    let action = format!("/console/admin/people/{ada_id}");
    let changed = mia
        .submit(
            "/console/admin/people",
            &action,
            &[
                ("name", "Ada Lovelace"),
                ("role", "agent"),
                ("role", "approver"),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.html);
    let person: Value = app
        .get_json(&format!("/api/v1/people/{ada_id}"), &app.token)
        .await;
    assert_eq!(person["name"], "Ada Lovelace");
    assert_eq!(person["roles"], json!(["agent", "approver"]));

    // The desk refuses removing one's own admin role: shown at that
    // person's form, with what was typed; nothing changes.
    let own = format!("/console/admin/people/{}", id(&me));
    let refusal = mia
        .submit(
            "/console/admin/people",
            &own,
            &[("name", "Mia Renamed"), ("role", "agent")],
        )
        .await;
    refused(
        &refusal,
        StatusCode::FORBIDDEN,
        "you cannot remove your own admin role",
    );
    assert!(refusal.html.contains("value=\"Mia Renamed\""));
    let mine: Value = app
        .get_json(&format!("/api/v1/people/{}", id(&me)), &app.token)
        .await;
    assert_eq!(mine["name"], "Mia Manager");
    assert_eq!(mine["roles"], json!(["admin"]));

    let disabled = mia
        .submit(
            "/console/admin/people",
            &action,
            &[
                ("name", "Ada Lovelace"),
                ("role", "agent"),
                ("disabled", "on"),
            ],
        )
        .await;
    assert_eq!(disabled.status, StatusCode::SEE_OTHER);
    let person: Value = app
        .get_json(&format!("/api/v1/people/{ada_id}"), &app.token)
        .await;
    assert_eq!(person["disabled"], true);
    let after = Visitor::new(&app);
    let sign_in = after.try_sign_in("ada@example.com", PASSWORD).await;
    assert_ne!(
        sign_in.status,
        StatusCode::SEE_OTHER,
        "a disabled person cannot sign in"
    );

    app.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn an_admin_creates_teams_changes_members_and_routes_categories() {
    let app = spawn_app().await;
    let (mia, _) = admin(&app).await;
    let (_, ada) = agent(&app).await;
    let created = mia
        .submit(
            "/console/admin/teams",
            "/console/admin/teams",
            &[
                ("name", "Network"),
                ("description", "Cables and VPN"),
                ("lead", &id(&ada)),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.html);
    let teams: Vec<Value> = app.get_json("/api/v1/teams", &app.token).await;
    let network = teams
        .iter()
        .find(|t| t["name"] == "Network")
        .expect("the team");
    assert_eq!(network["lead"], ada["id"]);
    let team_id = id(network);

    let twice = mia
        .submit(
            "/console/admin/teams",
            "/console/admin/teams",
            &[("name", "Network"), ("description", "Again")],
        )
        .await;
    refused(
        &twice,
        StatusCode::CONFLICT,
        "a team named `Network` already exists",
    );
    assert!(
        twice.html.contains("value=\"Again\""),
        "the description stays typed"
    );
    let teams: Vec<Value> = app.get_json("/api/v1/teams", &app.token).await;
    assert_eq!(teams.iter().filter(|t| t["name"] == "Network").count(), 1);

    let added = mia
        .submit(
            "/console/admin/teams",
            &format!("/console/admin/teams/{team_id}/members"),
            &[("person", &id(&ada))],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.html);
    let team: Value = app
        .get_json(&format!("/api/v1/teams/{team_id}"), &app.token)
        .await;
    assert_eq!(team["members"], json!([ada["id"]]));
    let page = mia.get("/console/admin/teams").await;
    assert!(page.html.contains("lead: Ada Agent"), "{}", page.html);
    let removed = mia
        .submit(
            "/console/admin/teams",
            &format!("/console/admin/teams/{team_id}/members/{}/remove", id(&ada)),
            &[],
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    let team: Value = app
        .get_json(&format!("/api/v1/teams/{team_id}"), &app.token)
        .await;
    assert_eq!(team["members"], json!([]));

    let category = mia
        .submit(
            "/console/admin/teams",
            "/console/admin/categories",
            &[("name", "VPN"), ("team", &team_id)],
        )
        .await;
    assert_eq!(category.status, StatusCode::SEE_OTHER, "{}", category.html);
    let again = mia
        .submit(
            "/console/admin/teams",
            "/console/admin/categories",
            &[("name", "VPN"), ("team", "")],
        )
        .await;
    refused(
        &again,
        StatusCode::CONFLICT,
        "a category named `VPN` already exists",
    );
    let categories: Vec<Value> = app.get_json("/api/v1/categories", &app.token).await;
    assert_eq!(categories.len(), 1);
    assert_eq!(categories[0]["team"], team_id.as_str());
    assert!(mia
        .get("/console/admin/teams")
        .await
        .html
        .contains("<strong>VPN</strong> → Network"));

    // The team's assignment: the same settings as PATCH /api/v1/teams/{team}.
    let saved = mia
        .submit(
            "/console/admin/teams",
            &format!("/console/admin/teams/{team_id}/assignment"),
            &[("assignment", "least_loaded"), ("max_open_per_agent", "12")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let team: Value = app
        .get_json(&format!("/api/v1/teams/{team_id}"), &app.token)
        .await;
    assert_eq!(team["assignment"], "least_loaded");
    assert_eq!(team["max_open_per_agent"], 12);
    let page = mia.get("/console/admin/teams").await;
    assert!(
        page.html
            .contains("<option value=\"least_loaded\" selected>"),
        "{}",
        page.html
    );
    let bad = mia
        .submit(
            "/console/admin/teams",
            &format!("/console/admin/teams/{team_id}/assignment"),
            &[
                ("assignment", "least_loaded"),
                ("max_open_per_agent", "lots"),
            ],
        )
        .await;
    refused(&bad, StatusCode::UNPROCESSABLE_ENTITY, "a whole number");
    let team: Value = app
        .get_json(&format!("/api/v1/teams/{team_id}"), &app.token)
        .await;
    assert_eq!(
        team["max_open_per_agent"], 12,
        "a refused form changes nothing"
    );

    app.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn sla_calendars_and_policies_are_edited_as_the_apis_json() {
    let app = spawn_app().await;
    let (mia, _) = admin(&app).await;
    let new = "/console/admin/sla/calendars/new";
    let example = mia.get(new).await;
    assert!(
        example.html.contains("Europe/Berlin"),
        "an example to start from"
    );

    let broken = mia.submit(new, new, &[("document", "{\"name\": ")]).await;
    refused(
        &broken,
        StatusCode::UNPROCESSABLE_ENTITY,
        "document: EOF while parsing",
    );
    let mars = r#"{"name": "Mars office", "time_zone": "Mars/Olympus", "hours": {"mon": ["09:00-17:00"]}}"#;
    let wrong = mia.submit(new, new, &[("document", mars)]).await;
    refused(&wrong, StatusCode::UNPROCESSABLE_ENTITY, "time_zone:");
    assert!(
        wrong.html.contains(&escaped(mars)),
        "the text stays as typed"
    );
    let calendars: Vec<Value> = app.get_json("/api/v1/sla/calendars", &app.token).await;
    assert!(calendars.is_empty(), "nothing stored");

    let office = r#"{"name": "Office", "time_zone": "Europe/Berlin", "hours": {"mon": ["09:00-17:00"], "tue": ["09:00-17:00"]}}"#;
    let saved = mia.submit(new, new, &[("document", office)]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    assert_eq!(saved.location(), "/console/admin/sla");
    let calendars: Vec<Value> = app.get_json("/api/v1/sla/calendars", &app.token).await;
    let calendar = id(&calendars[0]);
    let list = mia.get("/console/admin/sla").await;
    assert!(list.html.contains("Office") && list.html.contains("open 2 days a week"));

    let edit = format!("/console/admin/sla/calendars/{calendar}");
    let shown = mia.get(&edit).await;
    assert!(
        shown
            .html
            .contains("&#34;time_zone&#34;: &#34;Europe/Berlin&#34;"),
        "{}",
        shown.html
    );
    assert!(
        !shown.html.contains("&#34;updated_at&#34;"),
        "only what the input takes"
    );
    let renamed = office.replace("\"Office\"", "\"Head office\"");
    let updated = mia.submit(&edit, &edit, &[("document", &renamed)]).await;
    assert_eq!(updated.status, StatusCode::SEE_OTHER, "{}", updated.html);
    let stored: Value = app
        .get_json(&format!("/api/v1/sla/calendars/{calendar}"), &app.token)
        .await;
    assert_eq!(stored["name"], "Head office");

    let policy = json!({
        "name": "Urgent", "selector": {"priorities": ["p1"]},
        "targets": {"first_response_minutes": 15, "resolution_minutes": 240},
        "calendar": calendar,
    })
    .to_string();
    let new_policy = "/console/admin/sla/policies/new";
    let no_targets = mia
        .submit(
            new_policy,
            new_policy,
            &[("document", r#"{"name": "Empty", "targets": {}}"#)],
        )
        .await;
    assert_eq!(
        no_targets.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        no_targets.html
    );
    let saved = mia
        .submit(new_policy, new_policy, &[("document", &policy)])
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let policies: Vec<Value> = app.get_json("/api/v1/sla/policies", &app.token).await;
    assert_eq!(policies.len(), 1);
    assert!(mia
        .get("/console/admin/sla")
        .await
        .html
        .contains("first response 15 min, resolution 4 h 0 min · Head office"));

    // A calendar a policy uses cannot go: the desk's words, nothing deleted.
    let in_use = mia.submit(&edit, &format!("{edit}/delete"), &[]).await;
    refused(&in_use, StatusCode::CONFLICT, "is used by an SLA policy");
    let calendars: Vec<Value> = app.get_json("/api/v1/sla/calendars", &app.token).await;
    assert_eq!(calendars.len(), 1);
    let policy_page = format!("/console/admin/sla/policies/{}", id(&policies[0]));
    let gone = mia
        .submit(&policy_page, &format!("{policy_page}/delete"), &[])
        .await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    let policies: Vec<Value> = app.get_json("/api/v1/sla/policies", &app.token).await;
    assert!(policies.is_empty());

    app.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn escalation_policies_on_call_rotations_and_schedules_are_edited_as_json() {
    let app = spawn_app().await;
    let (mia, _) = admin(&app).await;
    let (_, ada) = agent(&app).await;
    let team = expect_json(
        app.post("/api/v1/teams", &app.token, &json!({ "name": "Network" }))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let team_id = id(&team);

    let new = "/console/admin/escalation/policies/new";
    let bad =
        r#"{"name": "bad", "steps": [{"after_minutes": 5, "on": "sla_breach", "actions": []}]}"#;
    let refusal = mia.submit(new, new, &[("document", bad)]).await;
    refused(&refusal, StatusCode::UNPROCESSABLE_ENTITY, "steps[0]");
    let policies: Vec<Value> = app
        .get_json("/api/v1/escalation-policies", &app.token)
        .await;
    assert!(policies.is_empty());
    let example = mia.get(new).await;
    assert_eq!(example.status, StatusCode::OK);
    let good = r#"{"name": "Urgent", "selector": {"priorities": ["p1"]}, "steps": [{"after_minutes": 30, "actions": [{"type": "notify_lead"}]}]}"#;
    let saved = mia.submit(new, new, &[("document", good)]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let policies: Vec<Value> = app
        .get_json("/api/v1/escalation-policies", &app.token)
        .await;
    assert_eq!(policies[0]["name"], "Urgent");

    let list = mia.get("/console/admin/escalation").await;
    assert!(list.html.contains("Urgent") && list.html.contains("1 step"));
    assert!(list.html.contains("no rotation yet"));
    let on_call = format!("/console/admin/on-call/{team_id}");
    let page = mia.get(&on_call).await;
    assert!(
        page.html.contains("On-call rotation of Network"),
        "{}",
        page.html
    );
    let rotation = json!({
        "time_zone": "UTC", "handoff_day": "mon", "handoff_time": "09:00",
        "members": ["ada@example.com"], "starts": "2026-01-05",
    })
    .to_string();
    let unknown_day = rotation.replace("\"mon\"", "\"someday\"");
    let refusal = mia
        .submit(&on_call, &on_call, &[("document", &unknown_day)])
        .await;
    refused(&refusal, StatusCode::UNPROCESSABLE_ENTITY, "handoff_day");
    let saved = mia
        .submit(&on_call, &on_call, &[("document", &rotation)])
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let stored: Value = app
        .get_json(&format!("/api/v1/teams/{team_id}/on-call"), &app.token)
        .await;
    assert_eq!(stored["members"], json!([ada["id"]]));
    assert!(mia
        .get("/console/admin/escalation")
        .await
        .html
        .contains("on call now: Ada Agent"));

    let new_schedule = "/console/admin/schedules/new";
    let bad_cron =
        r#"{"name": "Never", "cron": "whenever", "ticket": {"kind": "incident", "title": "x"}}"#;
    let refusal = mia
        .submit(new_schedule, new_schedule, &[("document", bad_cron)])
        .await;
    refused(&refusal, StatusCode::UNPROCESSABLE_ENTITY, "cron");
    let weekly = r#"{"name": "Weekly check", "cron": "0 0 9 * * Mon", "time_zone": "UTC", "ticket": {"kind": "service_request", "title": "Check the backups"}}"#;
    let saved = mia
        .submit(new_schedule, new_schedule, &[("document", weekly)])
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let schedules: Vec<Value> = app.get_json("/api/v1/schedules", &app.token).await;
    assert_eq!(schedules.len(), 1);
    assert!(mia
        .get("/console/admin/escalation")
        .await
        .html
        .contains("0 0 9 * * Mon (UTC) · opens a ticket"));

    app.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn catalog_items_and_their_forms_are_created_and_edited() {
    let app = spawn_app().await;
    let (mia, _) = admin(&app).await;
    expect_json(
        app.post("/api/v1/teams", &app.token, &json!({ "name": "Workplace" }))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let category = mia
        .submit(
            "/console/admin/catalog",
            "/console/admin/catalog/categories",
            &[("name", "Hardware"), ("position", "first")],
        )
        .await;
    refused(
        &category,
        StatusCode::UNPROCESSABLE_ENTITY,
        "position: must be a whole number",
    );
    let category = mia
        .submit(
            "/console/admin/catalog",
            "/console/admin/catalog/categories",
            &[("name", "Hardware"), ("position", "1")],
        )
        .await;
    assert_eq!(category.status, StatusCode::SEE_OTHER, "{}", category.html);

    let new = "/console/admin/catalog/items/new";
    let bad_form = r#"{"fields": [{"key": "model", "label": "Model", "type": "hologram"}]}"#;
    let refusal = mia
        .submit(
            new,
            new,
            &[
                ("name", "Laptop"),
                ("description", "A work laptop"),
                ("category", "Hardware"),
                ("team", "Workplace"),
                ("approval_policy", "No such policy"),
                ("tasks", "Order\nImage"),
                ("active", "on"),
                ("form", bad_form),
            ],
        )
        .await;
    assert_eq!(
        refusal.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refusal.html
    );
    assert!(
        refusal
            .html
            .contains("<p class=\"field-error\" id=\"form-error\">"),
        "the form definition's error at its field: {}",
        refusal.html
    );
    assert!(refusal.html.contains("id=\"approval_policy-error\""));
    assert!(
        refusal.html.contains(&escaped(bad_form)),
        "the JSON stays typed"
    );
    assert!(refusal.html.contains("value=\"Laptop\""));
    let catalog: Value = app.get_json("/api/v1/catalog", &app.token).await;
    assert_eq!(catalog["items"], json!([]), "nothing stored");

    let form = r#"{"fields": [{"key": "model", "label": "Model", "type": "choice", "required": true, "options": [{"value": "air"}, {"value": "pro"}]}]}"#;
    let saved = mia
        .submit(
            new,
            new,
            &[
                ("name", "Laptop"),
                ("description", "A work laptop"),
                ("category", "Hardware"),
                ("team", "Workplace"),
                ("approval_policy", ""),
                ("tasks", "Order\nImage"),
                ("active", "on"),
                ("form", form),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let catalog: Value = app.get_json("/api/v1/catalog", &app.token).await;
    let item = &catalog["items"][0];
    assert_eq!(item["team"], "Workplace");
    assert_eq!(item["category"], "Hardware");
    assert_eq!(item["tasks"], json!(["Order", "Image"]));
    assert_eq!(item["form"]["fields"][0]["type"], "choice");
    let list = mia.get("/console/admin/catalog").await;
    assert!(
        list.html.contains("fulfilled by Workplace"),
        "{}",
        list.html
    );

    let edit = format!("/console/admin/catalog/items/{}", id(item));
    let page = mia.get(&edit).await;
    assert!(page.html.contains("&#34;model&#34;"), "the form as JSON");
    assert!(page.html.contains("<option value=\"Workplace\" selected>"));
    let updated = mia
        .submit(
            &edit,
            &edit,
            &[
                ("name", "Laptop (2026)"),
                ("description", "A work laptop"),
                ("category", "Hardware"),
                ("team", "Workplace"),
                ("tasks", "Order"),
                ("form", form),
            ],
        )
        .await;
    assert_eq!(updated.status, StatusCode::SEE_OTHER, "{}", updated.html);
    let stored: Value = app
        .get_json(&format!("/api/v1/catalog/items/{}", id(item)), &app.token)
        .await;
    assert_eq!(stored["name"], "Laptop (2026)");
    assert_eq!(stored["active"], false, "the box was not ticked");
    assert_eq!(stored["tasks"], json!(["Order"]));

    app.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn rules_are_switched_and_deleted_and_webhooks_subscribed_with_the_secret_shown_once() {
    let app = spawn_app().await;
    let (mia, _) = admin(&app).await;
    let new = "/console/admin/rules/new";
    let unknown = r#"{"name": "Odd", "trigger": "ticket.exploded", "actions": []}"#;
    let refusal = mia.submit(new, new, &[("document", unknown)]).await;
    refused(&refusal, StatusCode::UNPROCESSABLE_ENTITY, "trigger");
    let rules: Vec<Value> = app.get_json("/api/v1/rules", &app.token).await;
    assert!(rules.is_empty());
    let rule = r#"{"name": "Catch-all", "trigger": "ticket.created", "actions": [{"type": "add_comment", "body": "Seen", "internal": true}]}"#;
    let saved = mia.submit(new, new, &[("document", rule)]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    assert_eq!(saved.location(), "/console/admin/automation");
    let rules: Vec<Value> = app.get_json("/api/v1/rules", &app.token).await;
    let rule_id = id(&rules[0]);
    let page = mia.get("/console/admin/automation").await;
    assert!(page.html.contains("Catch-all") && page.html.contains("Switch off"));

    let off = mia
        .submit(
            "/console/admin/automation",
            &format!("/console/admin/rules/{rule_id}/enabled"),
            &[],
        )
        .await;
    assert_eq!(off.status, StatusCode::SEE_OTHER, "{}", off.html);
    let stored: Value = app
        .get_json(&format!("/api/v1/rules/{rule_id}"), &app.token)
        .await;
    assert_eq!(stored["enabled"], false);
    assert_eq!(stored["actions"], rules[0]["actions"], "the rest as it was");
    let on = mia
        .submit(
            "/console/admin/automation",
            &format!("/console/admin/rules/{rule_id}/enabled"),
            &[("enabled", "true")],
        )
        .await;
    assert_eq!(on.status, StatusCode::SEE_OTHER);
    let stored: Value = app
        .get_json(&format!("/api/v1/rules/{rule_id}"), &app.token)
        .await;
    assert_eq!(stored["enabled"], true);
    let edit = format!("/console/admin/rules/{rule_id}");
    assert!(mia
        .get(&edit)
        .await
        .html
        .contains("&#34;match&#34;: &#34;all&#34;"));
    let deleted = mia.submit(&edit, &format!("{edit}/delete"), &[]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    let rules: Vec<Value> = app.get_json("/api/v1/rules", &app.token).await;
    assert!(rules.is_empty());

    let bad = mia
        .submit(
            "/console/admin/automation",
            "/console/admin/webhooks",
            &[
                ("url", "ftp://files.example.com"),
                ("event", "ticket.created"),
            ],
        )
        .await;
    refused(
        &bad,
        StatusCode::UNPROCESSABLE_ENTITY,
        "url: must be an http or https URL",
    );
    assert!(bad.html.contains("value=\"ftp://files.example.com\""));
    assert!(bad.html.contains("value=\"ticket.created\" checked"));
    let short = mia
        .submit(
            "/console/admin/automation",
            "/console/admin/webhooks",
            &[("url", "https://hooks.example.com/in"), ("secret", "short")],
        )
        .await;
    refused(
        &short,
        StatusCode::UNPROCESSABLE_ENTITY,
        "secret: must be at least 16 characters",
    );
    let hooks: Vec<Value> = app.get_json("/api/v1/webhooks", &app.token).await;
    assert!(hooks.is_empty());
    let created = mia
        .submit(
            "/console/admin/automation",
            "/console/admin/webhooks",
            &[
                ("url", "https://hooks.example.com/in"),
                ("event", "ticket.created"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.html);
    assert!(
        created.html.contains("<code class=\"secret\">whsec_"),
        "{}",
        created.html
    );
    let hooks: Vec<Value> = app.get_json("/api/v1/webhooks", &app.token).await;
    assert_eq!(hooks[0]["events"], json!(["ticket.created"]));
    assert!(
        !mia.get("/console/admin/automation")
            .await
            .html
            .contains("whsec_"),
        "the secret is shown once"
    );
    let removed = mia
        .submit(
            "/console/admin/automation",
            &format!("/console/admin/webhooks/{}/delete", id(&hooks[0])),
            &[],
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    // The desk keeps a deleted subscription, inactive, as the API lists it.
    let hooks: Vec<Value> = app.get_json("/api/v1/webhooks", &app.token).await;
    assert_eq!(hooks[0]["active"], false);
    let page = mia.get("/console/admin/automation").await;
    assert!(
        page.html.contains("badge state-other\">inactive"),
        "{}",
        page.html
    );
    assert!(!page.html.contains("/delete\""), "nothing left to delete");

    app.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn delegates_are_named_on_the_approvals_page() {
    let app = spawn_app().await;
    let (mia, _) = admin(&app).await;
    person_with_password(
        &app,
        &app.token,
        "Fay Finance",
        "fay@example.com",
        &["approver"],
    )
    .await;
    let delegated = mia
        .submit(
            "/console/approvals",
            "/console/approvals/delegations",
            &[("to", "fay@example.com"), ("until", "2099-12-31")],
        )
        .await;
    assert_eq!(
        delegated.status,
        StatusCode::SEE_OTHER,
        "{}",
        delegated.html
    );
    let page = mia.get("/console/approvals").await;
    assert!(
        page.html.contains("To Fay Finance (fay@example.com) until"),
        "{}",
        page.html
    );

    // A requester-approver may not look people up: the id, labelled.
    let fay = Visitor::new(&app);
    fay.sign_in("fay@example.com", PASSWORD).await;
    let back = fay
        .submit(
            "/console/approvals",
            "/console/approvals/delegations",
            &[("to", "mia@example.com"), ("until", "2099-12-31")],
        )
        .await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.html);
    let page = fay.get("/console/approvals").await;
    assert!(
        page.html.contains("the person with id <code>"),
        "{}",
        page.html
    );

    app.shutdown().await.expect("shutdown");
}

/// The token of the newest mail to `to` whose link goes to `path`.
async fn mailed_link_token(app: &TestApp, to: &str, path: &str) -> String {
    let outbox = app.outbox("pending").await;
    let text = outbox
        .iter()
        .filter(|m| m["channel"] == "email" && m["target"] == to)
        .filter_map(|m| m["payload"]["text"].as_str())
        .rfind(|t| t.contains(path))
        .unwrap_or_else(|| panic!("a mail to {to} with {path}: {outbox:?}"))
        .to_string();
    let start = text.find("token=").expect("a token") + "token=".len();
    text[start..]
        .split_whitespace()
        .next()
        .expect("token")
        .to_string()
}

#[tokio::test]
async fn a_forgotten_password_is_reset_through_the_mailed_link_once() {
    let app = spawn_app().await;
    person_with_password(&app, &app.token, "Ada Agent", "ada@example.com", &["agent"]).await;
    let visitor = Visitor::new(&app);
    let form = visitor.get("/console/forgot-password").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.html.contains("Forgot your password?"));
    let forged = visitor
        .post("/console/forgot-password", &[("email", "ada@example.com")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let sent = visitor
        .submit(
            "/console/forgot-password",
            "/console/forgot-password",
            &[("email", "ada@example.com")],
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK);
    assert!(sent
        .html
        .contains("a link to choose a new password is on its way"));
    // The same answer for an address without an account.
    let unknown = visitor
        .submit(
            "/console/forgot-password",
            "/console/forgot-password",
            &[("email", "nobody@example.com")],
        )
        .await;
    assert!(unknown.html.contains("is on its way"));
    let token = mailed_link_token(&app, "ada@example.com", "/reset-password").await;

    let reset_page = format!("/reset-password?token={token}");
    let page = visitor.get(&reset_page).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("Choose a new password"));
    assert_eq!(page.hidden("token").as_deref(), Some(token.as_str()));
    let new_password = "a brand new passphrase for ada";
    let weak = visitor
        .submit(
            &reset_page,
            "/reset-password",
            &[("token", &token), ("password", "short")],
        )
        .await;
    assert_eq!(
        weak.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        weak.html
    );
    let done = visitor
        .submit(
            &reset_page,
            "/reset-password",
            &[("token", &token), ("password", new_password)],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.html);
    assert!(done.html.contains("Password changed"));
    let again = visitor
        .submit(
            &reset_page,
            "/reset-password",
            &[
                ("token", &token),
                ("password", "yet another passphrase here"),
            ],
        )
        .await;
    assert!(again.status.is_client_error(), "{}", again.html);
    assert!(again.html.contains("class=\"error\""), "{}", again.html);

    let fresh = Visitor::new(&app);
    fresh.sign_in("ada@example.com", new_password).await;
    assert_eq!(fresh.get("/console/queue").await.status, StatusCode::OK);

    app.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn an_invitation_link_sets_the_password_and_signs_in() {
    let app = spawn_app().await;
    expect_json(
        app.post(
            "/api/v1/invitations",
            &app.token,
            &json!({ "email": "nell@example.com", "name": "Nell New", "roles": ["agent"] }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let token = app.emailed_token("nell@example.com").await;
    let visitor = Visitor::new(&app);
    let page_path = format!("/accept-invitation?token={token}");
    let page = visitor.get(&page_path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("Welcome to the service desk"));
    let wrong = visitor
        .submit(
            &page_path,
            "/accept-invitation",
            &[("token", "sbi_not-a-token"), ("password", PASSWORD)],
        )
        .await;
    assert!(wrong.status.is_client_error(), "{}", wrong.html);
    assert!(wrong.html.contains("class=\"error\""));
    let accepted = visitor
        .submit(
            &page_path,
            "/accept-invitation",
            &[("token", &token), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(accepted.status, StatusCode::SEE_OTHER, "{}", accepted.html);
    assert_eq!(accepted.location(), "/console/");
    let queue = visitor.get("/console/queue").await;
    assert_eq!(queue.status, StatusCode::OK, "signed in");
    assert!(queue.html.contains("Nell New"));
    let used = visitor
        .submit(
            &page_path,
            "/accept-invitation",
            &[("token", &token), ("password", PASSWORD)],
        )
        .await;
    assert!(
        used.status.is_client_error(),
        "a used invitation: {}",
        used.html
    );

    app.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn an_organization_requiring_mfa_sends_the_unenrolled_to_enrol() {
    let app = spawn_app().await;
    person_with_password(&app, &app.token, "Ada Agent", "ada@example.com", &["agent"]).await;
    let policy = app
        .client
        .patch(app.url("/api/v1/organization"))
        .bearer_auth(&app.token)
        .json(&json!({ "mfa_required": true }))
        .send()
        .await
        .expect("sent");
    assert_eq!(policy.status(), StatusCode::OK);
    let visitor = Visitor::new(&app);
    visitor.sign_in("ada@example.com", PASSWORD).await;
    for page in ["/console/queue", "/console/approvals", "/console/my"] {
        let sent = visitor.get(page).await;
        assert_eq!(sent.status, StatusCode::SEE_OTHER, "{page}");
        assert_eq!(sent.location(), "/console/mfa", "{page}");
    }
    let enrol = visitor.get("/console/mfa").await;
    assert_eq!(enrol.status, StatusCode::OK, "{}", enrol.html);
    assert!(enrol.html.contains("otpauth://"), "{}", enrol.html);

    app.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn the_admin_sets_the_report_time_zone_on_the_overview() {
    let app = spawn_app().await;
    let (mia, _) = admin(&app).await;
    let page = mia.get("/console/admin").await;
    assert!(page.html.contains("value=\"UTC\""), "{}", page.html);
    let bad = mia
        .submit(
            "/console/admin",
            "/console/admin/organization",
            &[("time_zone", "Mars/Olympus")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.html.contains("time_zone"), "{}", bad.html);
    let org: Value = app.get_json("/api/v1/organization", &app.token).await;
    assert_eq!(org["time_zone"], "UTC");
    let saved = mia
        .submit(
            "/console/admin",
            "/console/admin/organization",
            &[("time_zone", "Europe/Berlin")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let org: Value = app.get_json("/api/v1/organization", &app.token).await;
    assert_eq!(org["time_zone"], "Europe/Berlin");
    assert_eq!(org["mfa_required"], false);
    app.shutdown().await.expect("shutdown");
}
