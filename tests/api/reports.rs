//! Reports over HTTP: volume counts and backlog on both backends, CSV read
//! back, a closed period giving the same bytes later, SLA outcomes,
//! permissions, tenant isolation and bad parameters.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{expect_json, spawn_app, spawn_on, TestApp};

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn around_now() -> (String, String) {
    let now = Utc::now();
    (
        rfc3339(now - Duration::days(2)),
        rfc3339(now + Duration::days(1)),
    )
}

async fn ticket(app: &TestApp, kind: &str, title: &str, team: Option<&str>) -> String {
    let mut body = json!({ "kind": kind, "title": title });
    if let Some(team) = team {
        body["team"] = json!(team);
    }
    let created = expect_json(
        app.post("/api/v1/tickets", &app.token, &body).await,
        StatusCode::CREATED,
    )
    .await;
    created["number"].as_str().expect("number").to_string()
}

async fn moves(app: &TestApp, number: &str, states: &[&str]) {
    for to in states {
        let moved = app.transition(number, to).await;
        assert_eq!(moved.status(), StatusCode::OK, "{number} to {to}");
    }
}

/// Five incidents: two resolved, one of them reopened and resolved again,
/// one cancelled. Created 5, resolved 4 (3 resolutions + 1 cancellation),
/// reopened 1, backlog 2.
async fn seed_volume(app: &TestApp) {
    let mut numbers = Vec::new();
    for i in 0..5 {
        numbers.push(ticket(app, "incident", &format!("volume {i}"), None).await);
    }
    moves(app, &numbers[0], &["in_progress", "resolved"]).await;
    moves(
        app,
        &numbers[1],
        &["in_progress", "resolved", "in_progress", "resolved"],
    )
    .await;
    moves(app, &numbers[2], &["cancelled"]).await;
    moves(app, &numbers[3], &["in_progress"]).await;
}

/// Also run on SQLite (below).
async fn volume_story(app: &TestApp) {
    seed_volume(app).await;
    let (from, to) = around_now();
    let report: Value = expect_json(
        app.get(
            &format!("/api/v1/reports/volume?from={from}&to={to}&interval=day"),
            &app.token,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(report["totals"]["created"], 5);
    assert_eq!(report["totals"]["resolved"], 4);
    assert_eq!(report["totals"]["reopened"], 1);
    assert_eq!(report["totals"]["opening_backlog"], 0);
    assert_eq!(report["totals"]["backlog"], 2);
    let rows = report["rows"].as_array().expect("rows");
    assert!(rows.len() >= 3, "one row per day of the period: {rows:?}");
    let sum = |key: &str| {
        rows.iter()
            .map(|r| r[key].as_i64().expect("count"))
            .sum::<i64>()
    };
    assert_eq!(sum("created"), 5);
    assert_eq!(sum("resolved"), 4);
    let mut previous = 0;
    for row in rows {
        let backlog = row["backlog"].as_i64().expect("backlog");
        assert_eq!(
            backlog,
            previous + row["created"].as_i64().expect("created")
                - row["resolved"].as_i64().expect("resolved")
                + row["reopened"].as_i64().expect("reopened")
        );
        previous = backlog;
    }
    assert_eq!(previous, 2);

    // Grouped by kind: one group, the same totals.
    let by_kind: Value = expect_json(
        app.get(
            &format!("/api/v1/reports/volume?from={from}&to={to}&group_by=kind&interval=week"),
            &app.token,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_kind["totals"]["created"], 5);
    assert!(by_kind["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .all(|r| r["group"] == "incident"));

    // The dashboard sees the two open tickets now.
    let dashboard: Value = expect_json(
        app.get("/api/v1/reports/dashboard", &app.token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(dashboard["open"], 2);
    assert_eq!(dashboard["unassigned"], 2);
    assert_eq!(dashboard["created"]["last_7_days"], 5);
    assert_eq!(dashboard["resolved"]["last_7_days"], 4);
    let states: Vec<(String, i64)> = dashboard["open_by_state"]
        .as_array()
        .expect("states")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or_default().to_string(),
                s["count"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        states,
        [("in_progress".to_string(), 1), ("new".to_string(), 1)]
    );
    assert!(dashboard["oldest_open"]["number"].is_string());

    // Every other report answers on this backend too.
    for report in ["sla", "agents", "processes"] {
        let response = app
            .get(
                &format!("/api/v1/reports/{report}?from={from}&to={to}"),
                &app.token,
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{report}");
    }
    let agents: Value = app
        .get_json(
            &format!("/api/v1/reports/agents?from={from}&to={to}"),
            &app.token,
        )
        .await;
    let unassigned = &agents["agents"][0];
    assert_eq!(unassigned["id"], Value::Null);
    assert_eq!(unassigned["assigned"], 5);
    assert_eq!(unassigned["resolved"], 4);
    assert_eq!(unassigned["reopened"], 1);
    assert_eq!(unassigned["open"], 2);
}

#[tokio::test]
async fn volume_counts_creations_resolutions_reopenings_and_the_backlog() {
    volume_story(&spawn_app().await).await;
}

#[tokio::test]
async fn volume_counts_the_same_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("switchboard.db").display());
    volume_story(&spawn_on(&url, false, |_| {}).await).await;
}

#[tokio::test]
async fn volume_as_csv_reads_back_with_metric_headers_and_a_file_name() {
    let app = spawn_app().await;
    seed_volume(&app).await;
    let (from, to) = around_now();
    let response = app
        .get(
            &format!("/api/v1/reports/volume?from={from}&to={to}&format=csv"),
            &app.token,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert!(header("content-type").starts_with("text/csv"));
    let disposition = header("content-disposition");
    assert!(
        disposition.starts_with("attachment; filename=\"volume-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let body = response.bytes().await.expect("body");
    let mut reader = csv::Reader::from_reader(body.as_ref());
    let headers: Vec<String> = reader
        .headers()
        .expect("headers")
        .iter()
        .map(String::from)
        .collect();
    assert_eq!(
        headers,
        ["bucket", "created", "resolved", "reopened", "backlog"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    let created: i64 = rows
        .iter()
        .map(|r| r[1].parse::<i64>().expect("created"))
        .sum();
    let resolved: i64 = rows
        .iter()
        .map(|r| r[2].parse::<i64>().expect("resolved"))
        .sum();
    assert_eq!((created, resolved), (5, 4));
    assert_eq!(&rows[rows.len() - 1][4], "2");
}

/// The export of the volume report in `format`: its content type, file
/// name and bytes.
async fn export(app: &TestApp, format: &str) -> (String, String, Vec<u8>) {
    let (from, to) = around_now();
    let response = app
        .get(
            &format!("/api/v1/reports/volume?from={from}&to={to}&format={format}"),
            &app.token,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK, "{format}");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (content_type, disposition) = (header("content-type"), header("content-disposition"));
    assert!(
        disposition.starts_with("attachment; filename=\"volume-")
            && disposition.ends_with(&format!(".{format}\"")),
        "{disposition}"
    );
    let body = response.bytes().await.expect("body").to_vec();
    (content_type, disposition, body)
}

#[tokio::test]
async fn volume_as_xlsx_pdf_png_and_svg_reads_back_with_the_same_numbers() {
    let app = spawn_app().await;
    seed_volume(&app).await;

    let (kind, _, xlsx) = export(&app, "xlsx").await;
    assert_eq!(
        kind,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    use calamine::Reader;
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(xlsx)).expect("a workbook");
    let sheet = book
        .sheet_names()
        .into_iter()
        .map(|name| book.worksheet_range(&name).expect("a sheet"))
        .find(|range| {
            range.rows().next().is_some_and(|header| {
                header.iter().map(|c| c.to_string()).collect::<Vec<_>>()
                    == ["bucket", "created", "resolved", "reopened", "backlog"]
            })
        })
        .expect("a sheet headed with the metric names");
    let sum = |column: usize| -> f64 {
        sheet
            .rows()
            .skip(1)
            .filter_map(|row| row.get(column).and_then(calamine::DataType::as_f64))
            .sum()
    };
    assert_eq!((sum(1), sum(2)), (5.0, 4.0), "created and resolved");

    let (kind, _, pdf) = export(&app, "pdf").await;
    assert_eq!(kind, "application/pdf");
    assert!(pdf.starts_with(b"%PDF-"));
    let text = pdf_text(&pdf);
    for expected in [
        "Organization",
        "Period",
        "Time zone",
        "Generated at",
        "Created",
    ] {
        assert!(text.contains(expected), "{expected} in the PDF:\n{text}");
    }

    let (kind, _, png) = export(&app, "png").await;
    assert_eq!(kind, "image/png");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG signature");

    let (kind, _, svg) = export(&app, "svg").await;
    assert_eq!(kind, "image/svg+xml");
    let svg = String::from_utf8(svg).expect("SVG is text");
    assert!(
        svg.contains("<svg") && svg.contains("created"),
        "{svg:.200}"
    );
}

#[tokio::test]
async fn a_closed_period_gives_the_same_bytes_after_later_changes() {
    let app = spawn_app().await;
    let first = ticket(&app, "incident", "before", None).await;
    moves(&app, &first, &["in_progress", "resolved"]).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let end = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let path = format!(
        "/api/v1/reports/volume?from={}&to={}&group_by=priority",
        rfc3339(end - Duration::days(1)),
        rfc3339(end)
    );
    let before = app
        .get(&path, &app.token)
        .await
        .bytes()
        .await
        .expect("body");

    // After the period: the ticket is reopened, another one opens.
    moves(&app, &first, &["in_progress"]).await;
    ticket(&app, "incident", "after", None).await;
    let after = app
        .get(&path, &app.token)
        .await
        .bytes()
        .await
        .expect("body");
    assert_eq!(before, after);
    let report: Value = serde_json::from_slice(&after).expect("json");
    assert_eq!(report["totals"]["created"], 1);
    assert_eq!(report["totals"]["reopened"], 0);
}

#[tokio::test]
async fn the_sla_report_counts_breaches_and_clocks_still_running() {
    let app = spawn_app().await;
    expect_json(
        app.post(
            "/api/v1/sla/policies",
            &app.token,
            &json!({
                "name": "standard",
                "targets": { "first_response_minutes": 60, "resolution_minutes": 240 },
            }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    ticket(&app, "incident", "mail is down", None).await;
    app.desk.clock.advance(Duration::minutes(61));
    app.scheduler.run_due().await.expect("timers");
    app.scheduler.run_due().await.expect("timers");

    let (from, to) = around_now();
    let report: Value = expect_json(
        app.get(
            &format!("/api/v1/reports/sla?from={from}&to={to}"),
            &app.token,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let rows = report["rows"].as_array().expect("rows");
    let row = |target: &str| {
        rows.iter()
            .find(|r| r["target"] == target)
            .unwrap_or_else(|| panic!("no {target} row in {report}"))
    };
    let first = row("first_response");
    assert_eq!(first["group"], "standard");
    assert_eq!(
        (first["met"].as_i64(), first["breached"].as_i64()),
        (Some(0), Some(1))
    );
    assert_eq!(first["percent_met"], 0.0);
    assert_eq!(first["in_progress"], 0);
    assert_eq!(row("resolution")["in_progress"], 1);

    let dashboard: Value = app.get_json("/api/v1/reports/dashboard", &app.token).await;
    assert_eq!(dashboard["sla_breached"], 1);
}

#[tokio::test]
async fn requesters_get_403_and_agents_see_only_their_teams() {
    let app = spawn_app().await;
    let (agent, agent_token) = app
        .person_with_token("Ada Agent", "ada@example.com", &["agent"])
        .await;
    let (_, requester_token) = app
        .person_with_token("Rey Requester", "rey@example.com", &["requester"])
        .await;
    let agent_id = agent["id"].as_str().expect("id");
    for (name, members) in [("Network", json!([agent_id])), ("Facilities", json!([]))] {
        expect_json(
            app.post(
                "/api/v1/teams",
                &app.token,
                &json!({ "name": name, "members": members }),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
    }
    ticket(&app, "incident", "switch down", Some("Network")).await;
    ticket(&app, "incident", "router down", Some("Network")).await;
    ticket(&app, "incident", "door stuck", Some("Facilities")).await;
    let (from, to) = around_now();
    let path = format!("/api/v1/reports/volume?from={from}&to={to}&group_by=team");

    let refused = app.get(&path, &requester_token).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        refused.headers()["content-type"].to_str().ok(),
        Some("application/problem+json")
    );
    let refused = app.get("/api/v1/reports/dashboard", &requester_token).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let theirs: Value = expect_json(app.get(&path, &agent_token).await, StatusCode::OK).await;
    assert_eq!(theirs["totals"]["created"], 2);
    assert!(theirs["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .all(|r| r["group"] == "Network"));
    let all: Value = app.get_json(&path, &app.token).await;
    assert_eq!(all["totals"]["created"], 3);
    let filtered: Value = app
        .get_json(&format!("{path}&team=Facilities"), &app.token)
        .await;
    assert_eq!(filtered["totals"]["created"], 1);
    let dashboard: Value = app
        .get_json("/api/v1/reports/dashboard", &agent_token)
        .await;
    assert_eq!(dashboard["open"], 2);
}

#[tokio::test]
async fn another_organizations_reports_show_nothing_of_ours() {
    let app = spawn_app().await;
    seed_volume(&app).await;
    let theirs = app.admin_of_new_org("other").await;
    let (from, to) = around_now();
    let report: Value = expect_json(
        app.get(
            &format!("/api/v1/reports/volume?from={from}&to={to}"),
            &theirs,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(report["totals"]["created"], 0);
    assert_eq!(report["totals"]["backlog"], 0);
    let dashboard: Value = app.get_json("/api/v1/reports/dashboard", &theirs).await;
    assert_eq!(dashboard["open"], 0);
    assert_eq!(dashboard["oldest_open"], Value::Null);
}

#[tokio::test]
async fn bad_parameters_are_400s_naming_the_parameter_and_what_it_accepts() {
    let app = spawn_app().await;
    let cases = [
        (
            "/api/v1/reports/volume?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            "`from`",
            "before",
        ),
        (
            "/api/v1/reports/volume?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            "`to`",
            "5 years",
        ),
        (
            "/api/v1/reports/volume?group_by=colour",
            "`group_by`",
            "kind, team, priority",
        ),
        (
            "/api/v1/reports/sla?group_by=kind",
            "`group_by`",
            "policy, team, priority, category",
        ),
        (
            "/api/v1/reports/volume?interval=hour",
            "`interval`",
            "day, week, month",
        ),
        (
            "/api/v1/reports/volume?format=docx",
            "`format`",
            "json, csv, xlsx, pdf, png, svg",
        ),
        (
            "/api/v1/reports/agents?from=yesterday",
            "`from`",
            "RFC 3339",
        ),
        (
            "/api/v1/reports/volume?time_zone=Mars/Olympus",
            "`time_zone`",
            "IANA",
        ),
    ];
    for (path, parameter, accepts) in cases {
        let response = app.get(path, &app.token).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(
            response.headers()["content-type"].to_str().ok(),
            Some("application/problem+json"),
            "{path}"
        );
        let problem: Value = response.json().await.expect("problem");
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(parameter) && detail.contains(accepts),
            "{path}: {detail}"
        );
    }
}

#[tokio::test]
async fn the_reports_are_in_the_openapi_document() {
    let app = spawn_app().await;
    let doc: Value = app.get_json("/api/v1/openapi.json", &app.token).await;
    for report in ["dashboard", "volume", "sla", "agents", "processes"] {
        let path = format!("/api/v1/reports/{report}");
        assert!(doc["paths"][&path]["get"].is_object(), "{path} missing");
    }
    let params: Vec<&str> = doc["paths"]["/api/v1/reports/volume"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in [
        "from", "to", "interval", "group_by", "format", "team", "agent",
    ] {
        assert!(params.contains(&name), "{name} not documented");
    }
}

#[tokio::test]
async fn an_admin_sets_the_organizations_time_zone_and_reports_cut_days_in_it() {
    let app = spawn_app().await;
    let before: Value = app.get_json("/api/v1/organization", &app.token).await;
    assert_eq!(before["time_zone"], "UTC");
    let set = app
        .send(
            reqwest::Method::PATCH,
            "/api/v1/organization",
            &app.token,
            Some(&json!({ "time_zone": "Europe/Berlin" })),
        )
        .await;
    let org = expect_json(set, StatusCode::OK).await;
    assert_eq!(org["time_zone"], "Europe/Berlin");
    let dashboard: Value = app.get_json("/api/v1/reports/dashboard", &app.token).await;
    assert_eq!(dashboard["time_zone"], "Europe/Berlin");

    // A zone that does not exist is refused at its field and changes nothing.
    let bad = app
        .send(
            reqwest::Method::PATCH,
            "/api/v1/organization",
            &app.token,
            Some(&json!({ "time_zone": "Mars/Olympus", "mfa_required": true })),
        )
        .await;
    let problem = expect_json(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "time_zone");
    let after: Value = app.get_json("/api/v1/organization", &app.token).await;
    assert_eq!(after["time_zone"], "Europe/Berlin");
    assert_eq!(
        after["mfa_required"], false,
        "nothing of the refused request applied"
    );

    // Agents may read reports but not change the organization.
    let (_, agent) = app
        .person_with_token("Al Agent", "al@example.com", &["agent"])
        .await;
    let refused = app
        .send(
            reqwest::Method::PATCH,
            "/api/v1/organization",
            &agent,
            Some(&json!({ "time_zone": "UTC" })),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    app.shutdown().await.expect("shutdown");
}

/// A PDF's text as pdftotext reads it (a reader's view of the file).
pub fn pdf_text(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("report.pdf");
    std::fs::write(&path, pdf).expect("write the PDF");
    let text = std::process::Command::new("pdftotext")
        .arg("-layout")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext runs (Debian package poppler-utils, installed by .ci/install-deps.sh)");
    String::from_utf8_lossy(&text.stdout).into_owned()
}

/// Business time in the SLA report is the calendar's: a first response met
/// from Friday 16:00 to Monday 10:00 under a Monday–Friday 09:00–17:00
/// London calendar took two business hours (66 on the wall clock).
#[tokio::test]
async fn sla_business_times_follow_a_custom_calendar() {
    let app = spawn_app().await;
    let days = ["mon", "tue", "wed", "thu", "fri"];
    let hours: serde_json::Map<String, Value> = days
        .iter()
        .map(|d| (d.to_string(), serde_json::json!(["09:00-17:00"])))
        .collect();
    let calendar = expect_json(
        app.post(
            "/api/v1/sla/calendars",
            &app.token,
            &serde_json::json!({ "name": "London office", "time_zone": "Europe/London", "hours": hours }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    expect_json(
        app.post(
            "/api/v1/sla/policies",
            &app.token,
            &serde_json::json!({ "name": "Office hours", "position": 1,
                "selector": { "kinds": ["incident"] },
                "targets": { "first_response_minutes": 480, "resolution_minutes": 4800 },
                "calendar": calendar["id"] }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let (_, agent) = app
        .person_with_token("Alan", "alan@example.com", &["agent"])
        .await;
    let number = ticket(&app, "incident", "VPN drops", None).await;
    let reply = app
        .post(
            &format!("/api/v1/tickets/{number}/comments"),
            &agent,
            &serde_json::json!({ "body": "on it", "internal": false }),
        )
        .await;
    assert_eq!(reply.status(), StatusCode::CREATED);
    // The outcome as if the ticket came in on Friday 6 November 2026 at
    // 16:00 and was answered on Monday at 10:00 (London is on GMT).
    let switchboard::store::Db::Postgres(pool) = &app.desk.db else {
        panic!("runs on PostgreSQL");
    };
    let moved = sqlx::query(
        "UPDATE sla_outcomes SET started_at = '2026-11-06T16:00:00Z', decided_at = '2026-11-09T10:00:00Z' \
         WHERE target = 'first_response'",
    )
    .execute(pool)
    .await
    .expect("backdate");
    assert_eq!(moved.rows_affected(), 1, "one first response met");
    let report: Value = expect_json(
        app.get(
            "/api/v1/reports/sla?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z",
            &app.token,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let rows = report["rows"].as_array().expect("rows");
    let first = rows
        .iter()
        .find(|r| r["target"] == "first_response")
        .unwrap_or_else(|| panic!("a first-response row: {report}"));
    assert_eq!(first["met"], 1, "{first}");
    assert_eq!(first["median_business_seconds"], 2 * 3600, "{first}");
}
