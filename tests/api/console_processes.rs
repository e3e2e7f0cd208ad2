//! The console's process pages over plain HTTP: problems and the
//! known-error database, the change calendar with freezes and conflicts,
//! the CMDB with a CI's relationships and impact, and what the ticket page
//! adds from them. Data is seeded through the REST API; the assertions read
//! what a person sees in the HTML.

use chrono::{Duration, NaiveTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{
    helpers::{expect_json, spawn_app, TestApp},
    support::console::{agent, person_with_password, requester, Visitor, PASSWORD},
};

/// An agent of a second organization, signed in.
async fn other_organizations_agent(app: &TestApp) -> Visitor {
    let other_admin = app.admin_of_new_org("other").await;
    person_with_password(
        app,
        &other_admin,
        "Olga Other",
        "olga@example.com",
        &["agent"],
    )
    .await;
    let olga = Visitor::new(app);
    olga.sign_in("olga@example.com", PASSWORD).await;
    olga
}

fn text(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{pointer} in {value}"))
        .to_string()
}

async fn created(app: &TestApp, path: &str, body: Value) -> Value {
    expect_json(app.post(path, &app.token, &body).await, StatusCode::CREATED).await
}

async fn ci(app: &TestApp, body: Value) -> String {
    text(&created(app, "/api/v1/cmdb/cis", body).await, "/id")
}

async fn relate(app: &TestApp, source: &str, kind: &str, target: &str) {
    created(
        app,
        "/api/v1/cmdb/relationships",
        json!({ "source": source, "kind": kind, "target": target }),
    )
    .await;
}

async fn link_ci(app: &TestApp, number: &str, ci: &str) {
    let linked = app
        .post(
            &format!("/api/v1/tickets/{number}/cis"),
            &app.token,
            &json!({ "ci": ci }),
        )
        .await;
    expect_json(linked, StatusCode::OK).await;
}

#[tokio::test]
async fn problems_and_known_errors_are_listed_with_workarounds_and_a_problem_page_shows_its_record()
{
    // Arrange: a problem with a workaround and an incident, a known error
    // raised from it, and a second incident that matches the known error.
    let app = spawn_app().await;
    let problem = text(
        &app.create_ticket("problem", "VPN MTU mismatch").await,
        "/number",
    );
    let linked = text(
        &app.create_ticket("incident", "VPN drops for the sales team")
            .await,
        "/number",
    );
    expect_json(
        app.post(
            &format!("/api/v1/problems/{problem}/incidents"),
            &app.token,
            &json!({ "incident": linked }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    expect_json(
        app.send(
            Method::PATCH,
            &format!("/api/v1/problems/{problem}"),
            &app.token,
            Some(&json!({ "workaround": "Lower the tunnel MTU to 1400" })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    created(
        &app,
        "/api/v1/known-errors",
        json!({
            "title": "VPN client disconnects every few minutes",
            "symptoms": "The VPN tunnel drops and reconnects in a loop",
            "cause": "MTU mismatch after the firewall upgrade",
            "workaround": "Set the MTU of the VPN adapter to 1400",
            "problem": problem,
        }),
    )
    .await;
    created(
        &app,
        "/api/v1/known-errors",
        json!({ "title": "Printer offline on floor 3", "workaround": "Power-cycle the printer" }),
    )
    .await;
    let fresh = text(
        &created(
            &app,
            "/api/v1/tickets",
            json!({ "kind": "incident", "title": "VPN disconnects constantly",
                    "description": "My VPN client disconnects every few minutes." }),
        )
        .await,
        "/number",
    );
    let ada = agent(&app).await;

    // The list: the problem, and known errors with their workarounds.
    let list = ada.get("/console/problems").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.html);
    assert!(list.html.contains(&problem) && list.html.contains("VPN MTU mismatch"));
    assert!(list
        .html
        .contains("VPN client disconnects every few minutes"));
    assert!(list.html.contains("Set the MTU of the VPN adapter to 1400"));
    assert!(list.html.contains("aria-current=\"page\">Problems</a>"));
    let searched = ada.get("/console/problems?q=nothing%20like%20it").await;
    assert!(!searched.html.contains("VPN MTU mismatch"));

    // The KEDB search: most relevant only.
    let kedb = ada.get("/console/known-errors?q=printer").await;
    assert_eq!(kedb.status, StatusCode::OK, "{}", kedb.html);
    assert!(kedb.html.contains("Power-cycle the printer"));
    assert!(!kedb.html.contains("VPN client disconnects"));
    let none = ada.get("/console/known-errors?q=keyboard").await;
    assert!(none.html.contains("No known error matches."));

    // The problem's page: its record.
    let page = ada.get(&format!("/console/tickets/{problem}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("Problem record"));
    assert!(page.html.contains("Lower the tunnel MTU to 1400"));
    assert!(page
        .html
        .contains(&format!("/console/tickets/{linked}\">{linked}</a>")));
    assert!(page
        .html
        .contains("VPN client disconnects every few minutes"));

    // The linked incident names its problem.
    let incident = ada.get(&format!("/console/tickets/{linked}")).await;
    assert!(incident.html.contains("Linked to problem"));
    assert!(incident
        .html
        .contains(&format!("/console/tickets/{problem}")));

    // The fresh incident is offered the known error; linking it links the
    // problem and notes the workaround.
    let path = format!("/console/tickets/{fresh}");
    let offered = ada.get(&path).await;
    assert!(offered.html.contains("Suggested known errors"));
    assert!(offered.html.contains("Link this known error"));
    assert!(
        !offered.html.contains("Printer offline"),
        "unrelated: not offered"
    );
    let known_error =
        crate::support::console::hidden(&offered.html, "known_error").expect("a suggestion's form");
    let done = ada
        .submit(
            &path,
            &format!("{path}/known-errors"),
            &[("known_error", &known_error)],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    assert_eq!(done.location(), path);
    let after = ada.get(&path).await;
    assert!(after.html.contains("Linked to problem"));
    assert!(after
        .html
        .contains("Known error linked: VPN client disconnects"));
    assert!(
        !after.html.contains("Link this known error"),
        "linked, not offered again"
    );

    // A forged link and a made-up id are refused.
    let forged = ada
        .post(
            &format!("{path}/known-errors"),
            &[("csrf", "forged"), ("known_error", &known_error)],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let unknown = ada
        .submit(
            &path,
            &format!("{path}/known-errors"),
            &[("known_error", "00000000-0000-0000-0000-000000000000")],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unknown.html.contains("no known error"), "{}", unknown.html);

    // Requesters have neither page nor the problem's record.
    let rex = requester(&app).await;
    for page in ["/console/problems", "/console/known-errors"] {
        assert_eq!(rex.get(page).await.status, StatusCode::FORBIDDEN, "{page}");
    }
    assert!(!rex
        .get("/console/my")
        .await
        .html
        .contains("/console/problems"));
}

#[tokio::test]
async fn the_change_calendar_groups_changes_by_day_and_marks_freezes_and_conflicts() {
    // Arrange: days relative to today, so the default span holds them.
    let app = spawn_app().await;
    let today = Utc::now().date_naive();
    let at = |days: i64, hour: u32| {
        (today + Duration::days(days))
            .and_time(NaiveTime::from_hms_opt(hour, 0, 0).expect("hour"))
            .and_utc()
            .to_rfc3339()
    };
    let payroll = ci(&app, json!({ "class": "service", "name": "Payroll" })).await;
    let intranet = ci(&app, json!({ "class": "service", "name": "Intranet" })).await;
    let change = |title: &str, cis: Vec<&str>, from: Option<(i64, u32)>, to: (i64, u32)| {
        let mut body = json!({ "title": title, "change_type": "normal", "cis": cis });
        if let Some(from) = from {
            body["planned_start"] = json!(at(from.0, from.1));
            body["planned_end"] = json!(at(to.0, to.1));
        }
        body
    };
    let patch = text(
        &created(
            &app,
            "/api/v1/changes",
            change("Patch payroll", vec![&payroll], Some((3, 22)), (4, 2)),
        )
        .await,
        "/ticket/number",
    );
    let move_intranet = text(
        &created(
            &app,
            "/api/v1/changes",
            change("Move intranet", vec![&intranet], Some((4, 1)), (4, 3)),
        )
        .await,
        "/ticket/number",
    );
    let year_end = text(
        &created(
            &app,
            "/api/v1/changes",
            change(
                "Upgrade the intranet",
                vec![&intranet],
                Some((10, 9)),
                (10, 11),
            ),
        )
        .await,
        "/ticket/number",
    );
    let later = text(
        &created(
            &app,
            "/api/v1/changes",
            change("Replace the firewall", vec![], Some((40, 9)), (40, 10)),
        )
        .await,
        "/ticket/number",
    );
    let unplanned = text(
        &created(
            &app,
            "/api/v1/changes",
            change("Retire the fax server", vec![], None, (0, 0)),
        )
        .await,
        "/ticket/number",
    );
    // Conflicts made after planning: the intranet move now also touches
    // payroll, and a freeze covers the intranet upgrade.
    link_ci(&app, &move_intranet, &payroll).await;
    created(
        &app,
        "/api/v1/freeze-windows",
        json!({ "name": "Audit freeze", "starts_at": at(9, 0), "ends_at": at(12, 0) }),
    )
    .await;
    let ada = agent(&app).await;

    // Act.
    let calendar = ada.get("/console/changes").await;

    // Assert: the planned changes of the next 30 days, under their days.
    assert_eq!(calendar.status, StatusCode::OK, "{}", calendar.html);
    let html = &calendar.html;
    for number in [&patch, &move_intranet, &year_end] {
        assert!(html.contains(number.as_str()), "{number} in the calendar");
    }
    assert!(!html.contains(&later), "day 40 is outside the default span");
    let day = |days: i64| format!("id=\"day-{}\"", today + Duration::days(days));
    let (day3, day4, day10) = (
        html.find(&day(3)).expect("day 3"),
        html.find(&day(4)).expect("day 4"),
        html.find(&day(10)).expect("day 10"),
    );
    let patch_at = html.find(&format!(">{patch}</a>")).expect("patch");
    let move_at = html
        .find(&format!(">{move_intranet}</a> Move"))
        .expect("move");
    assert!(
        day3 < patch_at && patch_at < day4,
        "the patch starts on day 3"
    );
    assert!(
        day4 < move_at && move_at < day10,
        "the move starts on day 4"
    );
    // Freeze windows: listed, on their days, and a conflict of the change
    // inside one; the two changes on payroll conflict with each other.
    assert!(html.contains("Audit freeze"));
    assert!(html.contains("Freeze: Audit freeze"));
    assert!(html.contains("Inside freeze window <strong>Audit freeze</strong>"));
    assert!(html.contains(&format!(
        "Overlaps <a href=\"/console/tickets/{patch}\">{patch}</a>"
    )));
    assert!(html.contains(&format!(
        "Overlaps <a href=\"/console/tickets/{move_intranet}\">{move_intranet}</a>"
    )));
    assert!(html.contains("3 changes in this span conflict"));
    assert!(html.contains("Not planned yet") && html.contains(&unplanned));

    // Another span: day 40 is in, the near ones are out.
    let from = today + Duration::days(35);
    let span = ada
        .get(&format!("/console/changes?from={from}&days=7"))
        .await;
    assert_eq!(span.status, StatusCode::OK);
    assert!(span.html.contains(&later) && !span.html.contains(&patch));
    for bad in ["?from=tomorrow", "?days=0", "?days=1000"] {
        let refused = ada.get(&format!("/console/changes{bad}")).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{bad}");
    }

    // The change's own page shows its window and conflicts.
    let page = ada.get(&format!("/console/tickets/{year_end}")).await;
    assert!(page.html.contains("Planned window"));
    assert!(page.html.contains("This window conflicts with"));
    assert!(page
        .html
        .contains("freeze window <strong>Audit freeze</strong>"));

    // A requester may not see it; another organization sees none of it.
    let rex = requester(&app).await;
    assert_eq!(
        rex.get("/console/changes").await.status,
        StatusCode::FORBIDDEN
    );
    let olga = other_organizations_agent(&app).await;
    let theirs = olga.get("/console/changes").await;
    assert_eq!(theirs.status, StatusCode::OK);
    assert!(!theirs.html.contains(&patch) && !theirs.html.contains("Audit freeze"));
    assert_eq!(
        olga.get(&format!("/console/tickets/{patch}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_cmdb_lists_cis_and_a_ci_shows_its_relationships_both_ways_and_its_impact() {
    // Arrange: Payroll depends on payroll-app, which runs on vm-a, which
    // runs on host-a; an incident on host-a.
    let app = spawn_app().await;
    let host = ci(
        &app,
        json!({ "class": "server", "name": "host-a", "lifecycle": "in_use",
                "attributes": { "hostname": "host-a.corp", "ip_address": "10.0.0.5" } }),
    )
    .await;
    let vm = ci(
        &app,
        json!({ "class": "virtual_machine", "name": "vm-a", "attributes": { "hostname": "vm-a" } }),
    )
    .await;
    let payroll_app = ci(
        &app,
        json!({ "class": "application", "name": "payroll-app" }),
    )
    .await;
    let payroll = ci(
        &app,
        json!({ "class": "service", "name": "Payroll", "criticality": "critical" }),
    )
    .await;
    relate(&app, &vm, "runs_on", &host).await;
    relate(&app, &payroll_app, "runs_on", &vm).await;
    relate(&app, &payroll, "depends_on", &payroll_app).await;
    let incident = text(
        &app.create_ticket("incident", "host-a is down").await,
        "/number",
    );
    link_ci(&app, &incident, &host).await;
    let ada = agent(&app).await;

    // The list, searched and filtered by class.
    let list = ada.get("/console/cmdb").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.html);
    for name in ["host-a", "vm-a", "payroll-app", "Payroll"] {
        assert!(list.html.contains(&format!(">{name}</a>")), "{name}");
    }
    let servers = ada.get("/console/cmdb?class=server").await;
    assert!(servers.html.contains(">host-a</a>") && !servers.html.contains(">vm-a</a>"));
    let searched = ada.get("/console/cmdb?q=payroll").await;
    assert!(searched.html.contains(">payroll-app</a>") && !searched.html.contains(">host-a</a>"));
    let unknown = ada.get("/console/cmdb?class=teapot").await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unknown.html.contains("teapot"), "{}", unknown.html);

    // A CI: attributes, relationships both ways as links, impact.
    let vm_page = ada.get(&format!("/console/cmdb/{vm}")).await;
    assert_eq!(vm_page.status, StatusCode::OK, "{}", vm_page.html);
    assert!(vm_page.html.contains(&format!(
        "This runs on <a href=\"/console/cmdb/{host}\">host-a</a>"
    )));
    assert!(vm_page.html.contains(&format!(
        "<a href=\"/console/cmdb/{payroll_app}\">payroll-app</a> runs on this"
    )));
    let host_page = ada.get(&format!("/console/cmdb/{host}")).await;
    assert!(host_page.html.contains("host-a.corp") && host_page.html.contains("10.0.0.5"));
    let services = host_page
        .html
        .split("Affected services")
        .nth(1)
        .expect("the affected services");
    assert!(services.contains(&format!("<a href=\"/console/cmdb/{payroll}\">Payroll</a>")));
    let depends = host_page
        .html
        .split("What depends on it")
        .nth(1)
        .expect("what depends on it");
    assert!(depends.contains(">vm-a</a>") && depends.contains("3 hops"));
    assert!(host_page
        .html
        .contains(&format!("/console/tickets/{incident}")));

    // Paged: one page of 50, then the rest.
    let items: Vec<Value> = (0..55)
        .map(|i| json!({ "external_id": format!("svc-{i:02}"), "class": "service", "name": format!("zz-service-{i:02}") }))
        .collect();
    expect_json(
        app.post("/api/v1/cmdb/bulk", &app.token, &json!({ "items": items }))
            .await,
        StatusCode::OK,
    )
    .await;
    let first = ada.get("/console/cmdb?q=zz-service").await;
    assert!(
        first.html.contains(">zz-service-00</a>") && !first.html.contains(">zz-service-54</a>")
    );
    let start = first.html.find("rel=\"next\"").expect("a next page");
    let href_at = first.html[..start].rfind("href=\"").expect("its link") + 6;
    let href = first.html[href_at..start]
        .trim_end()
        .trim_end_matches('"')
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    let second = ada.get(&href).await;
    assert_eq!(second.status, StatusCode::OK, "{href}: {}", second.html);
    assert!(
        second.html.contains(">zz-service-54</a>") && !second.html.contains(">zz-service-00</a>"),
        "{href}"
    );

    // The incident's page: its CI with the impact.
    let ticket = ada.get(&format!("/console/tickets/{incident}")).await;
    assert!(ticket
        .html
        .contains(&format!("<a href=\"/console/cmdb/{host}\">host-a</a>")));
    assert!(ticket.html.contains(&format!(
        "Affected services: <a href=\"/console/cmdb/{payroll}\">Payroll</a>"
    )));

    // Nonsense ids, requesters and another organization.
    assert_eq!(
        ada.get("/console/cmdb/not-an-id").await.status,
        StatusCode::NOT_FOUND
    );
    let rex = requester(&app).await;
    assert_eq!(rex.get("/console/cmdb").await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        rex.get(&format!("/console/cmdb/{host}")).await.status,
        StatusCode::FORBIDDEN
    );
    let olga = other_organizations_agent(&app).await;
    let theirs = olga.get(&format!("/console/cmdb/{host}")).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert!(!theirs.html.contains("host-a"));
    assert!(!olga.get("/console/cmdb").await.html.contains("host-a"));
}

#[tokio::test]
async fn agents_see_the_new_sections_in_the_navigation_and_requesters_do_not() {
    let app = spawn_app().await;
    let ada = agent(&app).await;
    let queue = ada.get("/console/queue").await;
    for link in ["/console/problems", "/console/changes", "/console/cmdb"] {
        assert!(queue.html.contains(&format!("href=\"{link}\"")), "{link}");
    }
    let calendar = ada.get("/console/changes").await;
    assert!(calendar.html.contains("aria-current=\"page\">Changes</a>"));
    assert!(calendar
        .html
        .contains("No open change is planned in this span."));
    let cmdb = ada.get("/console/cmdb").await;
    assert!(cmdb.html.contains("aria-current=\"page\">CMDB</a>"));
    let rex = requester(&app).await;
    let mine = rex.get("/console/my").await;
    for link in ["/console/problems", "/console/changes", "/console/cmdb"] {
        assert!(!mine.html.contains(&format!("href=\"{link}\"")), "{link}");
    }
}
