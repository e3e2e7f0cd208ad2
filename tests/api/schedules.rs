//! Cron schedules: the next run is a timer in the schedule's time zone; a
//! run after downtime happens once; digests go to a team's channel; bad
//! expressions are refused naming the field.

use chrono::{Duration, Timelike};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{expect_json, spawn_app, TestApp};

#[tokio::test]
async fn a_recurring_ticket_runs_once_after_downtime_and_digests_reach_the_channel() {
    schedule_story(&spawn_app().await).await;
}

/// Also run on SQLite (tests/api/sqlite.rs).
pub async fn schedule_story(app: &TestApp) {
    let bad = app
        .post(
            "/api/v1/schedules",
            &app.token,
            &json!({ "name": "bad", "cron": "every monday", "time_zone": "Mars/Base",
                     "ticket": { "kind": "incident", "title": "x" } }),
        )
        .await;
    let problem = expect_json(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields = crate::helpers::error_fields(&problem);
    assert_eq!(fields, ["cron", "time_zone"]);

    let schedule = expect_json(
        app.post(
            "/api/v1/schedules",
            &app.token,
            &json!({ "name": "backup check", "cron": "0 0 9 * * *", "time_zone": "Europe/Berlin",
                     "ticket": { "kind": "service_request", "title": "Check last night's backup" } }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let next: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(schedule["next_run_at"].clone()).expect("next run");
    let local = next.with_timezone(&chrono_tz::Europe::Berlin);
    assert_eq!((local.hour(), local.minute()), (9, 0));
    assert!(next > app.desk.clock.now());

    // Three days of downtime: one run, not three.
    app.pass(Duration::days(3)).await;
    app.scheduler.run_due().await.expect("timers");
    let list: Value = app.get_json("/api/v1/tickets?q=backup", &app.token).await;
    assert_eq!(list["items"].as_array().expect("items").len(), 1);
    let id = schedule["id"].as_str().expect("id");
    let after: Value = app
        .get_json(&format!("/api/v1/schedules/{id}"), &app.token)
        .await;
    assert!(after["last_run_at"].is_string());
    let next: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(after["next_run_at"].clone()).expect("next run");
    assert!(next > app.desk.clock.now());

    expect_json(
        app.post("/api/v1/teams", &app.token, &json!({ "name": "Ops" }))
            .await,
        StatusCode::CREATED,
    )
    .await;
    expect_json(
        app.post(
            "/api/v1/tickets",
            &app.token,
            &json!({ "kind": "incident", "title": "disk filling up", "team": "Ops" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    expect_json(
        app.post(
            "/api/v1/schedules",
            &app.token,
            &json!({ "name": "ops digest", "cron": "0 30 8 * * Mon-Fri", "time_zone": "Europe/Berlin",
                     "digest": { "team": "Ops", "channel": "slack", "target": "C0OPS" } }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    app.pass(Duration::days(4)).await;
    let digests: Vec<Value> = app
        .outbox("pending")
        .await
        .into_iter()
        .filter(|m| m["event"] == "digest")
        .collect();
    assert_eq!(digests.len(), 1, "{digests:?}");
    assert_eq!(digests[0]["target"], "C0OPS");
}

/// A daily report, sent at 08:00 London time for the day before: a bad
/// template is refused naming each field and creates nothing; the run
/// mails the PDF and CSV (the period's tickets counted in them) and posts
/// the chart with the files to Slack in one message; a second day sends
/// the second report, once.
#[tokio::test]
async fn a_scheduled_report_reaches_mail_and_slack_with_its_files() {
    use mail_parser::MimeHeaders;

    let sink = crate::support::smtp::SmtpSink::start().await;
    let smtp = sink.url();
    let (app, slack, _) = crate::support::slack::spawn_slack_app_with(move |c| {
        c.email.smtp_url = switchboard::config::Secret::new(smtp);
        c.email.from = "desk@corp.example".into();
    })
    .await;

    let bad = app
        .post(
            "/api/v1/schedules",
            &app.token,
            &json!({ "name": "daily volume", "cron": "0 0 8 * * *", "time_zone": "Europe/London",
                     "report": { "report": "volume", "period": "fortnight", "formats": ["docx"],
                                 "email": ["not an address"], "slack": ["#reports"],
                                 "filters": { "interval": "hour" } } }),
        )
        .await;
    let problem = expect_json(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields = crate::helpers::error_fields(&problem);
    for field in [
        "report.period",
        "report.formats",
        "report.email",
        "report.slack",
        "report.filters.interval",
    ] {
        assert!(fields.contains(&field), "{field} in {fields:?}");
    }
    let none: Value = app.get_json("/api/v1/schedules", &app.token).await;
    assert_eq!(none.as_array().map(Vec::len), Some(0), "{none}");

    // At ten in the morning London time or later: today's tickets are
    // yesterday's by the time the next 08:00 run comes. Tickets carry the
    // wall clock's time, so the clock moves forward within today only
    // (moving it past midnight made the test fail after 10:00 London).
    let london = app
        .desk
        .clock
        .now()
        .with_timezone(&chrono_tz::Europe::London);
    if london.hour() < 10 {
        let to_ten = 10 - london.hour() as i64;
        app.advance_clock(Duration::hours(to_ten) - Duration::minutes(london.minute() as i64));
    }
    for title in ["printer jammed", "vpn drops", "laptop slow"] {
        app.create_ticket("incident", title).await;
    }
    let schedule = expect_json(
        app.post(
            "/api/v1/schedules",
            &app.token,
            &json!({ "name": "daily volume", "cron": "0 0 8 * * *", "time_zone": "Europe/London",
                     "report": { "report": "volume", "period": "previous_day",
                                 "filters": { "interval": "day" }, "formats": ["pdf", "csv"],
                                 "email": ["manager@corp.example"], "slack": ["C0REPORTS"] } }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(schedule["report"]["report"], "volume", "{schedule}");

    app.pass(Duration::hours(23)).await;
    app.dispatcher.drain().await.expect("drain");

    let mails = sink.to("manager@corp.example");
    assert_eq!(mails.len(), 1, "one mail per run");
    let mail = mails[0].parsed();
    assert!(
        mails[0].subject().contains("daily volume"),
        "{}",
        mails[0].subject()
    );
    assert!(
        mails[0].text().contains("Created: 3"),
        "{}",
        mails[0].text()
    );
    let files: Vec<(String, Vec<u8>)> = mail
        .attachments()
        .map(|a| {
            (
                a.attachment_name().unwrap_or_default().to_string(),
                a.contents().to_vec(),
            )
        })
        .collect();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.len() == 2 && names[0].ends_with(".pdf") && names[1].ends_with(".csv"),
        "{names:?}"
    );
    let pdf = crate::reports::pdf_text(&files[0].1);
    assert!(
        pdf.contains("Ticket volume") && pdf.contains("Europe/London"),
        "{pdf}"
    );
    let csv = String::from_utf8_lossy(&files[1].1);
    assert!(
        csv.lines().next().is_some_and(|h| h.contains("created")),
        "{csv}"
    );

    let shared = slack.calls_to("files.completeUploadExternal");
    assert_eq!(shared.len(), 1, "one Slack post per run");
    assert_eq!(shared[0]["channel_id"], "C0REPORTS");
    let comment = shared[0]["initial_comment"].as_str().unwrap_or_default();
    assert!(comment.contains("Created: 3"), "{comment}");
    let ids: Vec<&str> = shared[0]["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 3, "the chart, the PDF and the CSV");
    let chart = slack.uploaded(ids[0]).expect("chart uploaded");
    assert!(
        chart.starts_with(b"\x89PNG\r\n\x1a\n"),
        "the chart is a PNG"
    );

    // The next day: one more report, of a day without tickets.
    app.pass(Duration::days(1)).await;
    app.dispatcher.drain().await.expect("drain");
    let mails = sink.to("manager@corp.example");
    assert_eq!(mails.len(), 2);
    assert!(
        mails[1].text().contains("Created: 0"),
        "{}",
        mails[1].text()
    );
    assert_eq!(slack.calls_to("files.completeUploadExternal").len(), 2);
}

/// The same on Discord: one message in the channel with the summary, the
/// chart and the workbook as files (`payload_json` and `files[n]`). The
/// week is the one New York's clocks go forward in (167 hours): a ticket of
/// its Sunday afternoon counts, one just after its end does not.
#[tokio::test]
async fn a_weekly_report_across_the_march_change_is_posted_to_discord_with_its_files() {
    use crate::support::discord::{spawn_discord_app, CHANNEL};

    let (app, discord) = spawn_discord_app().await;
    let at = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .expect("instant")
            .with_timezone(&chrono::Utc)
    };
    // Sunday 14 March 2027, noon in New York (EDT since 02:00), and half
    // past midnight on Monday, next week's.
    for (title, created) in [
        ("printer jammed", at("2027-03-14T16:00:00Z")),
        ("vpn drops", at("2027-03-15T04:30:00Z")),
    ] {
        let ticket = app.create_ticket("incident", title).await;
        backdate(&app, ticket["number"].as_str().expect("number"), created).await;
    }
    app.advance_clock(at("2027-03-15T05:00:00Z") - app.desk.clock.now());
    expect_json(
        app.post(
            "/api/v1/schedules",
            &app.token,
            &json!({ "name": "weekly volume", "cron": "0 0 8 * * Mon", "time_zone": "America/New_York",
                     "report": { "report": "volume", "period": "last-week", "formats": ["xlsx"],
                                 "discord": [CHANNEL] } }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    app.pass(Duration::hours(8)).await;
    app.dispatcher.drain().await.expect("drain");

    let posted = discord.posted_in(CHANNEL);
    assert_eq!(posted.len(), 1, "one message per run: {posted:?}");
    let (id, body) = &posted[0];
    let content = body["content"].as_str().unwrap_or_default();
    assert!(
        content.starts_with("**weekly volume: Ticket volume**")
            && content.contains("Period: 2027-03-08 00:00 – 2027-03-15 00:00")
            && content.contains(r"Time zone: America/New\_York")
            && content.contains("Created: 1"),
        "{content}"
    );
    let files = discord.files_of(id);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.len() == 2 && names[0].ends_with(".png") && names[1].ends_with(".xlsx"),
        "{names:?}"
    );
    assert!(files[1].1.starts_with(b"PK"), "an XLSX is a zip");
    assert_eq!(body["attachments"][1]["filename"], names[1]);
}

/// Moves a ticket's creation to `at` (the desk stamps rows with the wall
/// clock, which a test cannot move to a DST weekend).
async fn backdate(app: &TestApp, number: &str, at: chrono::DateTime<chrono::Utc>) {
    let switchboard::store::Db::Postgres(pool) = &app.desk.db else {
        panic!("runs on PostgreSQL");
    };
    sqlx::query("UPDATE tickets SET created_at = $1 WHERE number = $2")
        .bind(at)
        .bind(number)
        .execute(pool)
        .await
        .expect("backdate");
}
