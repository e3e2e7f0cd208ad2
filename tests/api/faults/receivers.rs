//! Receivers that are down: the SMTP server away while mail comes in (the
//! acknowledgements pile up, the daemon is restarted on the backlog), and a
//! webhook target answering 500, then 429, then 200.

use std::time::Duration;

use crate::{
    helpers::{eventually, fresh_database},
    support::{
        daemon::{free_port, Daemon},
        dovecot::Dovecot,
        smtp::SmtpSink,
    },
};

use super::{
    kill::{mail_env, mails},
    *,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_server_down_then_up_gets_the_whole_backlog_once() {
    const MAILS: usize = 200;
    let url = fresh_database().await;
    let dovecot = Dovecot::start().await;
    let smtp_port = free_port();
    let env = mail_env(&url, &dovecot, format!("smtp://127.0.0.1:{smtp_port}"));
    let mut daemon = Daemon::start(&env);
    dovecot.deliver_all(&mails("smtp-down", 0..MAILS)).await;

    // Mail is taken in while nothing listens for our answers.
    let db = pool(&url).await;
    let taken_in = eventually(RECOVERY, || async {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM tickets WHERE title LIKE 'smtp-down%'")
                .fetch_one(&db)
                .await
                .expect("count");
        n as usize == MAILS
    })
    .await;
    assert!(taken_in, "intake went on without SMTP\n{}", daemon.log());
    run_for(Duration::from_secs(2)).await;
    let waiting: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE channel = 'email' AND state = 'pending' AND attempts > 0",
    )
    .fetch_one(&db)
    .await
    .expect("pending");
    assert!(waiting > 0, "the answers wait in the outbox, tried");

    // A daemon holding a failing backlog still stops at once.
    stops_cleanly(&mut daemon);
    // The mail server comes back; a fresh daemon starts on the backlog.
    let sink = SmtpSink::start_on(smtp_port).await;
    tokio::task::block_in_place(|| daemon.restart());
    wait_until_drained(&db).await;
    for i in 0..MAILS {
        let answers = sink.to(&format!("person-{i}@mail.example")).len();
        assert_eq!(answers, 1, "person-{i} got {answers} answers");
    }
    let subjects: Vec<String> = (0..MAILS).map(|i| format!("smtp-down-{i}")).collect();
    let found = each_once(&db, "smtp-down", &subjects).await;
    gap_free(&db).await;
    audit_verifies(&url);
    stops_cleanly(&mut daemon);
    Tally {
        sent: MAILS,
        acknowledged: MAILS,
        found,
        failed_attempts: 0,
        notifications: sink.received().len(),
        redelivered: 0,
    }
    .print("SMTP server down, then up with a backlog");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_target_answering_500_then_429_gets_each_event_once() {
    let url = fresh_database().await;
    let token = admin_token(&url);
    let mut daemon = Daemon::start(&daemon_env(&url));
    let receiver = subscribed_receiver(&daemon.base, &token).await;
    for _ in 0..30 {
        receiver.then(500, &[]);
    }
    for _ in 0..30 {
        receiver.then(429, &[("retry-after", "1")]);
    }

    let load = ApiLoad::start(&[daemon.base.clone()], Via::Api(token), "hook-down", 4);
    run_for(Duration::from_secs(2)).await;
    let load = load.finish().await;

    let (_, redelivered) = check_api_case(
        "webhook target answering 500, then 429",
        &url,
        "hook-down",
        &load,
        &receiver,
        &mut daemon,
    )
    .await;
    assert_eq!(redelivered, 0, "each event answered 200 once");
    let refused = receiver
        .received()
        .iter()
        .filter(|r| r.status == 500 || r.status == 429)
        .count();
    assert_eq!(refused, 60, "the target refused 60 deliveries");
}
