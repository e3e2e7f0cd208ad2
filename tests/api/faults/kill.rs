//! SIGKILL of the daemon while inputs arrive over the API, from Slack and
//! by mail; each case kills it twice and starts it again on the same port.

use std::time::Duration;

use crate::{
    helpers::{eventually, fresh_database},
    support::{daemon::Daemon, dovecot::Dovecot, slack::FakeSlack, smtp::SmtpSink},
};

use super::*;

/// Kills the daemon twice, `every` apart, starting it again at once each
/// time; the load keeps running throughout.
async fn kill_twice(daemon: &mut Daemon, every: Duration) {
    for _ in 0..2 {
        run_for(every).await;
        daemon.kill9();
        tokio::task::block_in_place(|| daemon.restart());
    }
    run_for(every).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_api_load_loses_and_repeats_nothing() {
    let url = fresh_database().await;
    let token = admin_token(&url);
    let mut daemon = Daemon::start(&daemon_env(&url));
    let receiver = subscribed_receiver(&daemon.base, &token).await;

    let load = ApiLoad::start(&[daemon.base.clone()], Via::Api(token), "kill-api", 8);
    kill_twice(&mut daemon, Duration::from_millis(1500)).await;
    let load = load.finish().await;

    check_api_case(
        "kill -9 under API load",
        &url,
        "kill-api",
        &load,
        &receiver,
        &mut daemon,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_slack_load_loses_and_repeats_nothing() {
    let url = fresh_database().await;
    let fake = FakeSlack::default();
    let api = fake.start().await;
    let mut env = daemon_env(&url);
    env.extend([
        (
            "SWITCHBOARD__SLACK__SIGNING_SECRET",
            crate::support::slack::SECRET.to_string(),
        ),
        ("SWITCHBOARD__SLACK__BOT_TOKEN", "xoxb-test".to_string()),
        ("SWITCHBOARD__SLACK__API_BASE_URL", api),
        // The fake does not limit; Slack's pacing would stretch the
        // confirmations of a few hundred messages past the recovery bound.
        (
            "SWITCHBOARD__SLACK__MAX_CALLS_PER_SECOND",
            "1000".to_string(),
        ),
    ]);
    let mut daemon = Daemon::start(&env);

    let load = ApiLoad::start(&[daemon.base.clone()], Via::SlackDm, "kill-slack", 6);
    kill_twice(&mut daemon, Duration::from_millis(1500)).await;
    let load = load.finish().await;

    let db = pool(&url).await;
    let found = each_once(&db, "kill-slack", &load.acknowledged).await;
    gap_free(&db).await;
    wait_until_drained(&db).await;
    // Each acknowledged message is confirmed in its thread exactly once,
    // even where a kill came between the post and recording it.
    let posts = fake.posted_messages();
    for title in &load.acknowledged {
        let ts = dm_ts_of(title);
        let confirmations = posts
            .iter()
            .filter(|p| p["thread_ts"] == ts.as_str())
            .count();
        assert_eq!(confirmations, 1, "{title} confirmed {confirmations} times");
    }
    audit_verifies(&url);
    no_server_errors(&load);
    stops_cleanly(&mut daemon);
    Tally {
        sent: load.sent,
        acknowledged: load.acknowledged.len(),
        found,
        failed_attempts: load.failed_attempts,
        notifications: load.acknowledged.len(),
        redelivered: 0,
    }
    .print("kill -9 under Slack load");
}

/// A mail shaped like one a person sends the desk.
pub fn mail(subject: &str, from: &str) -> Vec<u8> {
    format!(
        "From: Someone <{from}>\r\n\
         To: Help Desk <help@corp.example>\r\n\
         Subject: {subject}\r\n\
         Message-ID: <{subject}@mail.example>\r\n\
         Date: Mon, 07 Dec 2026 10:00:00 +0000\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         The screen of {subject} stays black.\r\n"
    )
    .into_bytes()
}

/// The daemon's environment for mail intake from `dovecot`, answering
/// through `smtp_url`.
pub fn mail_env(url: &str, dovecot: &Dovecot, smtp_url: String) -> Vec<(&'static str, String)> {
    let mut env = daemon_env(url);
    env.extend([
        ("SWITCHBOARD__EMAIL__IMAP_URL", dovecot.url()),
        ("SWITCHBOARD__EMAIL__SMTP_URL", smtp_url),
        (
            "SWITCHBOARD__EMAIL__FROM",
            "Help Desk <help@corp.example>".to_string(),
        ),
        ("SWITCHBOARD__EMAIL__POLL_INTERVAL", "1".to_string()),
    ]);
    env
}

/// `n` mails numbered from `from`: subject `kill-mail-i` from `person-i`.
pub fn mails(prefix: &str, range: std::ops::Range<usize>) -> Vec<Vec<u8>> {
    range
        .map(|i| {
            mail(
                &format!("{prefix}-{i}"),
                &format!("person-{i}@mail.example"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_mail_load_loses_and_repeats_nothing() {
    let url = fresh_database().await;
    let dovecot = Dovecot::start().await;
    let sink = SmtpSink::start().await;
    let mut daemon = Daemon::start(&mail_env(&url, &dovecot, sink.url()));

    // Mail keeps arriving while the daemon is killed twice.
    const BATCH: usize = 100;
    for round in 0..3 {
        dovecot
            .deliver_all(&mails("kill-mail", round * BATCH..(round + 1) * BATCH))
            .await;
        run_for(Duration::from_millis(1200)).await;
        if round < 2 {
            daemon.kill9();
            tokio::task::block_in_place(|| daemon.restart());
        }
    }
    let sent: Vec<String> = (0..3 * BATCH).map(|i| format!("kill-mail-{i}")).collect();

    let db = pool(&url).await;
    let all_in = eventually(super::RECOVERY, || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(DISTINCT title) FROM tickets WHERE title LIKE 'kill-mail%'",
        )
        .fetch_one(&db)
        .await
        .expect("count");
        n as usize == sent.len()
    })
    .await;
    assert!(all_in, "not every mail was taken in\n{}", daemon.log());
    // Dovecot accepted every mail: each one is acknowledged.
    let found = each_once(&db, "kill-mail", &sent).await;
    gap_free(&db).await;
    wait_until_drained(&db).await;
    // Every sender got the acknowledgement of their ticket.
    let mut redelivered = 0;
    for i in 0..sent.len() {
        let acks = sink.to(&format!("person-{i}@mail.example")).len();
        assert!(acks >= 1, "person-{i} was never answered");
        redelivered += acks - 1;
    }
    audit_verifies(&url);
    stops_cleanly(&mut daemon);
    Tally {
        sent: sent.len(),
        acknowledged: sent.len(),
        found,
        failed_attempts: 0,
        notifications: sent.len(),
        redelivered,
    }
    .print("kill -9 under mail load");
}
