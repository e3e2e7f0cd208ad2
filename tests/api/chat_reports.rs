//! `/report` in Slack and Discord: the summary and chart go to the channel
//! through the outbox (Slack's external upload flow, Discord's multipart
//! message), the asker gets Excel and PDF buttons that post those files,
//! requesters are refused as over the API, and an unreadable command is
//! answered with what it accepts.

use reqwest::StatusCode;
use serde_json::Value;

use crate::{
    helpers::{expect_json, TestApp},
    reports::pdf_text,
    support::{
        discord::{self, spawn_discord_app, CHANNEL, GUILD},
        slack::{self, spawn_slack_app, FakeSlack, TEAM},
    },
};

/// `/report <text>` from Slack user `user` in channel C0DESK; the answer.
async fn slack_report(app: &TestApp, base: &str, user: &str, text: &str, trigger: &str) -> Value {
    let form = serde_urlencoded::to_string([
        ("token", "t"),
        ("team_id", TEAM),
        ("team_domain", "test"),
        ("channel_id", "C0DESK"),
        ("user_id", user),
        ("user_name", &user.to_lowercase()),
        ("command", "/report"),
        ("text", text),
        ("response_url", &format!("{base}/response/{trigger}")),
        ("trigger_id", trigger),
    ])
    .expect("form");
    expect_json(app.post_slack_command(&form).await, StatusCode::OK).await
}

/// The files of the `n`th Slack share: (title, bytes).
fn shared_files(fake: &FakeSlack, n: usize) -> (Value, Vec<(String, Vec<u8>)>) {
    let shares = fake.calls_to("files.completeUploadExternal");
    let share = shares.get(n).cloned().expect("a share");
    let files = share["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            let id = f["id"].as_str().expect("id");
            let title = f["title"].as_str().expect("title").to_string();
            (title, fake.uploaded(id).expect("uploaded"))
        })
        .collect();
    (share, files)
}

#[tokio::test]
async fn slack_report_posts_the_chart_to_the_channel_and_its_buttons_post_the_files() {
    let (app, fake, base) = spawn_slack_app().await;
    let (manager, _) = app
        .person_with_token("Mia Manager", "mia@example.com", &["manager"])
        .await;
    let id = manager["id"].as_str().expect("id");
    app.link_identity(id, "slack", TEAM, "UMIA").await;
    for title in ["printer jammed", "vpn drops"] {
        app.create_ticket("incident", title).await;
    }

    let help = slack_report(&app, &base, "UMIA", "", "t1").await;
    assert!(
        help["text"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Try `/report sla"),
        "{help}"
    );
    let unknown = slack_report(&app, &base, "UMIA", "weather", "t2").await;
    let unknown = unknown["text"].as_str().unwrap_or_default();
    assert!(
        unknown.starts_with("I don't know the report `weather`"),
        "{unknown}"
    );
    let no_team = slack_report(&app, &base, "UMIA", r#"volume team:"Night shift""#, "t3").await;
    let no_team = no_team["text"].as_str().unwrap_or_default();
    assert!(no_team.contains("no team `Night shift`"), "{no_team}");
    let requester = slack_report(&app, &base, "UREQ", "volume", "t4").await;
    let requester = requester["text"].as_str().unwrap_or_default();
    assert!(requester.contains("agent, manager or admin"), "{requester}");
    app.dispatcher.drain().await.expect("drain");
    assert!(
        fake.calls_to("files.completeUploadExternal").is_empty(),
        "nothing posted"
    );

    let answer = slack_report(&app, &base, "UMIA", "volume group-by:kind", "t5").await;
    assert_eq!(answer["response_type"], "ephemeral");
    assert!(
        answer["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Ticket volume"),
        "{answer}"
    );
    let buttons = answer["blocks"][1]["elements"]
        .as_array()
        .expect("buttons")
        .clone();
    let labels: Vec<&str> = buttons
        .iter()
        .filter_map(|b| b["text"]["text"].as_str())
        .collect();
    assert_eq!(labels, ["Excel", "PDF"]);
    app.dispatcher.drain().await.expect("drain");
    let (share, files) = shared_files(&fake, 0);
    assert_eq!(share["channel_id"], "C0DESK");
    let comment = share["initial_comment"].as_str().unwrap_or_default();
    assert!(
        comment.contains("Ticket volume") && comment.contains("Created: 2"),
        "{comment}"
    );
    assert_eq!(files.len(), 1, "the chart");
    assert!(files[0].0.ends_with(".png") && files[0].1.starts_with(b"\x89PNG\r\n\x1a\n"));

    let pdf = buttons[1]["action_id"].as_str().expect("action id");
    let click = slack::click("UMIA", "t6", pdf, pdf, &format!("{base}/response/t6"));
    assert_eq!(
        app.post_slack_interaction(click).await.status(),
        StatusCode::OK
    );
    assert!(fake.responded("t6").await);
    let told = fake.responses("t6")[0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        told.ends_with(".pdf is on its way to this channel."),
        "{told}"
    );
    app.dispatcher.drain().await.expect("drain");
    let (share, files) = shared_files(&fake, 1);
    assert_eq!(share["channel_id"], "C0DESK");
    assert!(files[0].0.ends_with(".pdf"), "{:?}", files[0].0);
    let text = pdf_text(&files[0].1);
    assert!(
        text.contains("Ticket volume") && text.contains("Created"),
        "{text}"
    );
}

#[tokio::test]
async fn slack_app_home_shows_the_dashboard_to_agents_only() {
    let (app, fake, _) = spawn_slack_app().await;
    let (agent, _) = app
        .person_with_token("Al Agent", "al@example.com", &["agent"])
        .await;
    app.link_identity(agent["id"].as_str().expect("id"), "slack", TEAM, "UAL")
        .await;
    for (user, event) in [("UAL", "EvH1"), ("UREQ", "EvH2")] {
        let opened = slack::event(
            event,
            serde_json::json!({ "type": "app_home_opened", "user": user, "channel": format!("D{user}"),
                                "tab": "home", "event_ts": "1700000050.1" }),
        );
        assert_eq!(app.post_slack_event(&opened).await.status(), StatusCode::OK);
    }
    let homes = crate::helpers::eventually(std::time::Duration::from_secs(5), || async {
        fake.calls_to("views.publish").len() >= 2
    })
    .await;
    assert!(homes, "both homes published");
    for home in fake.calls_to("views.publish") {
        let blocks = home["view"]["blocks"].to_string();
        let agent = home["user_id"] == "UAL";
        assert_eq!(blocks.contains("The desk now"), agent, "{blocks}");
        assert_eq!(blocks.contains("Open:"), agent, "{blocks}");
    }
}

#[tokio::test]
async fn discord_report_posts_the_chart_with_file_buttons_for_the_asker() {
    let (app, fake) = spawn_discord_app().await;
    let user = "3000000000000000300";
    let (admin, _) = app
        .person_with_token("Ada Admin", "ada-admin@example.com", &["admin"])
        .await;
    app.link_identity(admin["id"].as_str().expect("id"), "discord", GUILD, user)
        .await;
    app.create_ticket("incident", "printer jammed").await;

    let bad = discord::command(
        "4000000000000000301",
        user,
        "report",
        &[("report", "sla"), ("filters", "colour:blue")],
    );
    let bad = app.discord_final_answer(&fake, &bad).await;
    assert!(
        discord::content(&bad).contains("I don't know the filter `colour`"),
        "{bad}"
    );

    let ask = discord::command(
        "4000000000000000302",
        user,
        "report",
        &[("report", "volume"), ("filters", "kind:incident")],
    );
    let answer = app.discord_final_answer(&fake, &ask).await;
    assert_eq!(
        answer["data"]["flags"], 64,
        "only the asker sees the answer"
    );
    let buttons = answer["data"]["components"][0]["components"]
        .as_array()
        .unwrap_or_else(|| panic!("buttons: {answer}"))
        .clone();
    assert_eq!(buttons.len(), 2);
    app.dispatcher.drain().await.expect("drain");
    let posted = fake.posted_in(CHANNEL);
    assert_eq!(posted.len(), 1, "{posted:?}");
    let content = posted[0].1["content"].as_str().unwrap_or_default();
    assert!(content.contains("Created: 1"), "{content}");
    let chart = fake.files_of(&posted[0].0);
    assert!(
        chart.len() == 1 && chart[0].0.ends_with(".png"),
        "{:?}",
        chart.len()
    );

    let excel = buttons[0]["custom_id"].as_str().expect("custom id");
    let click = discord::click(
        "4000000000000000303",
        user,
        true,
        excel,
        // The buttons are on the asker's own (ephemeral) answer.
        discord::echoed("1400000000000000990", CHANNEL, &answer["data"]),
    );
    let told = app.discord_answer(&click).await;
    assert!(
        discord::content(&told).contains(".xlsx is on its way"),
        "{told}"
    );
    app.dispatcher.drain().await.expect("drain");
    let posted = fake.posted_in(CHANNEL);
    assert_eq!(posted.len(), 2);
    let workbook = fake.files_of(&posted[1].0);
    assert!(workbook[0].0.ends_with(".xlsx") && workbook[0].1.starts_with(b"PK"));
}
