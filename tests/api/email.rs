//! Email as a channel, end to end: a real Dovecot on loopback feeds the
//! mailbox worker, the SMTP sink receives what the outbox sends, and the
//! assertions look at what people see — tickets and comments through the
//! API, mails in the sink.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use switchboard::workers::mail::imap::MailboxWorker;

use crate::{
    helpers::{eventually, expect_json, spawn_app_with, TestApp},
    support::{
        desk::{number, titles},
        dovecot::Dovecot,
        smtp::SmtpSink,
    },
};

const FROM: &str = "Help Desk <help@corp.example>";

struct Mail {
    app: TestApp,
    dovecot: Dovecot,
    sink: SmtpSink,
}

async fn mail_app() -> Mail {
    mail_app_with(|_| {}).await
}

async fn mail_app_with(adjust: impl FnOnce(&mut switchboard::config::Config)) -> Mail {
    let dovecot = Dovecot::start().await;
    let sink = SmtpSink::start().await;
    let (imap, smtp) = (dovecot.url(), sink.url());
    let app = spawn_app_with(|c| {
        c.email.imap_url = switchboard::config::Secret::new(imap);
        c.email.smtp_url = switchboard::config::Secret::new(smtp);
        c.email.from = FROM.into();
        c.email.poll_interval = 1;
        adjust(c);
    })
    .await;
    Mail { app, dovecot, sink }
}

impl Mail {
    async fn worker(&self) -> MailboxWorker {
        let email = &self.app.config.email;
        MailboxWorker::new(self.app.desk.clone(), &email.mailboxes()[0], email)
            .await
            .expect("mailbox worker")
    }

    /// One pass of a fresh worker, then the outbox delivered.
    async fn poll(&self) -> usize {
        let pass = self.worker().await.poll_once().await.expect("poll");
        self.app.dispatcher.drain().await.expect("drain");
        pass.processed
    }

    /// The alerts the admin Ada got by mail once a failing worker has told
    /// her (within 15 s) and gone on retrying for a while (its 1 s and 2 s
    /// backoffs): a repeat would be among them.
    async fn admin_alerts(&self) -> Vec<crate::support::smtp::SinkMail> {
        assert!(
            eventually(Duration::from_secs(15), || async {
                self.app.dispatcher.drain().await.expect("drain");
                !self.sink.to("ada@corp.example").is_empty()
            })
            .await,
            "the admin was told"
        );
        tokio::time::sleep(Duration::from_millis(3500)).await;
        self.app.dispatcher.drain().await.expect("drain");
        self.sink.to("ada@corp.example")
    }

    async fn quarantine(&self) -> Vec<Value> {
        expect_json(
            self.app
                .get("/api/v1/email/quarantine", &self.app.token)
                .await,
            StatusCode::OK,
        )
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
    }
}

fn plain(from: &str, subject: &str, id: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {FROM}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         Date: Sun, 22 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

fn reply(from: &str, subject: &str, id: &str, in_reply_to: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {FROM}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         In-Reply-To: <{in_reply_to}>\r\nReferences: <{in_reply_to}>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn a_plain_mail_opens_a_ticket_and_is_acknowledged_in_its_thread() {
    let m = mail_app().await;
    m.dovecot
        .deliver(plain(
            "Ann Example <ann@corp.example>",
            "Printer on 3rd floor jams",
            "first@corp.example",
            "Every page jams since this morning.",
        ))
        .await;
    assert_eq!(m.poll().await, 1);

    let tickets = m.app.tickets().await;
    assert_eq!(tickets.len(), 1);
    let ticket = m.app.ticket(&number(&tickets[0])).await;
    assert_eq!(ticket["title"], "Printer on 3rd floor jams");
    assert_eq!(ticket["kind"], "incident");
    assert_eq!(ticket["channel"], "email");
    assert_eq!(ticket["requester"]["email"], "ann@corp.example");
    assert!(ticket["description"]
        .as_str()
        .expect("description")
        .contains("Every page jams"));
    let files = m.app.attachments(&number(&ticket)).await;
    assert!(
        files
            .iter()
            .any(|f| f["filename"].as_str().unwrap_or("").ends_with(".eml")),
        "the original is kept: {files:?}"
    );

    let acks = m.sink.to("ann@corp.example");
    assert_eq!(acks.len(), 1, "one acknowledgement");
    let ack = &acks[0];
    assert_eq!(ack.from, "help@corp.example", "sent from email.from");
    assert!(
        ack.subject().contains(&format!("[{}]", number(&ticket))),
        "{}",
        ack.subject()
    );
    assert_eq!(
        ack.header("In-Reply-To").as_deref(),
        Some("<first@corp.example>")
    );
    assert!(ack
        .header("References")
        .unwrap_or_default()
        .contains("first@corp.example"));
    assert_eq!(
        ack.header("Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert!(ack.text().contains(&number(&ticket)));
    assert!(ack.html().is_some(), "an HTML alternative");
    assert_eq!(m.dovecot.seen_and_unseen().await, (1, 0), "marked \\Seen");
}

#[tokio::test]
async fn an_html_only_mail_becomes_readable_text() {
    let m = mail_app().await;
    m.dovecot
        .deliver(
            "From: bob@corp.example\r\nSubject: VPN down\r\nMessage-ID: <html1@corp.example>\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
             <html><head><style>p {color: red}</style></head><body><p>The VPN &amp; Wi-Fi</p>\
             <p>are <b>down</b>.</p></body></html>\r\n",
        )
        .await;
    m.poll().await;
    let tickets = m.app.tickets().await;
    let ticket = m.app.ticket(&number(&tickets[0])).await;
    let description = ticket["description"].as_str().expect("description");
    assert!(description.contains("The VPN & Wi-Fi"), "{description}");
    assert!(description.contains("down"), "{description}");
    assert!(
        !description.contains("<p>") && !description.contains("color"),
        "{description}"
    );
}

#[tokio::test]
async fn attachments_are_stored_on_the_ticket() {
    let m = mail_app().await;
    let raw = "From: carl@corp.example\r\nSubject: Screenshot of the error\r\n\
               Message-ID: <att1@corp.example>\r\nMIME-Version: 1.0\r\n\
               Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
               --XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached.\r\n\
               --XX\r\nContent-Type: image/png; name=\"error.png\"\r\n\
               Content-Disposition: attachment; filename=\"error.png\"\r\n\
               Content-Transfer-Encoding: base64\r\n\r\n\
               iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==\r\n\
               --XX\r\nContent-Type: text/plain; name=\"log.txt\"\r\n\
               Content-Disposition: attachment; filename=\"log.txt\"\r\n\r\nline 1\r\nline 2\r\n\
               --XX--\r\n";
    m.dovecot.deliver(raw).await;
    m.poll().await;
    let tickets = m.app.tickets().await;
    let files = m.app.attachments(&number(&tickets[0])).await;
    let names: Vec<&str> = files
        .iter()
        .filter_map(|f| f["filename"].as_str())
        .collect();
    assert!(names.contains(&"error.png"), "{names:?}");
    assert!(names.contains(&"log.txt"), "{names:?}");
    let png = files
        .iter()
        .find(|f| f["filename"] == "error.png")
        .expect("png");
    assert_eq!(png["content_type"], "image/png");
}

#[tokio::test]
async fn a_mail_in_a_legacy_charset_is_decoded() {
    let m = mail_app().await;
    let mut raw = b"From: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <joerg@corp.example>\r\n\
Subject: =?windows-1252?Q?Drucker_im_B=FCro_=96_kaputt?=\r\n\
Message-ID: <latin1@corp.example>\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        .to_vec();
    raw.extend_from_slice(b"Gr\xfc\xdfe, der Drucker druckt nur noch \xbd Seiten.\r\n");
    m.dovecot.deliver(raw).await;
    m.poll().await;
    let tickets = m.app.tickets().await;
    let ticket = m.app.ticket(&number(&tickets[0])).await;
    assert_eq!(ticket["title"], "Drucker im Büro – kaputt");
    assert!(ticket["description"]
        .as_str()
        .expect("description")
        .contains("Grüße, der Drucker druckt nur noch ½ Seiten."));
    assert_eq!(ticket["requester"]["name"], "Jörg Müller");
}

#[tokio::test]
async fn a_reply_to_our_mail_becomes_a_comment_without_the_quote() {
    let m = mail_app().await;
    m.dovecot
        .deliver(plain(
            "ann@corp.example",
            "Laptop slow",
            "orig@corp.example",
            "It is slow.",
        ))
        .await;
    m.poll().await;
    let ack = m.sink.to("ann@corp.example").remove(0);
    let ack_id = ack.message_id();
    let number = number(&m.app.tickets().await[0]);

    m.dovecot
        .deliver(reply(
            "ann@corp.example",
            "Re: whatever the client made of it",
            "reply1@corp.example",
            &ack_id,
            "It got worse after the update.\r\n\r\nOn Sun, 22 Nov 2026, Help Desk <help@corp.example> wrote:\r\n> we have received your request",
        ))
        .await;
    m.poll().await;
    assert_eq!(m.app.tickets().await.len(), 1, "no new ticket");
    let comments = m.app.comments(&number).await;
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert_eq!(comments[0]["body"], "It got worse after the update.");
    assert_eq!(
        m.sink.to("ann@corp.example").len(),
        1,
        "comments are not acknowledged"
    );
}

#[tokio::test]
async fn an_agent_reply_reaches_the_requester_in_the_thread_and_the_answer_comes_back() {
    let m = mail_app().await;
    m.dovecot
        .deliver(plain(
            "ann@corp.example",
            "Keyboard",
            "k1@corp.example",
            "Keys stick.",
        ))
        .await;
    m.poll().await;
    let number = number(&m.app.tickets().await[0]);
    let (_, agent) = m
        .app
        .person_with_token("Al Agent", "al@corp.example", &["agent"])
        .await;
    expect_json(
        m.app
            .post(
                &format!("/api/v1/tickets/{number}/comments"),
                &agent,
                &json!({ "body": "Please try another USB port.", "internal": false }),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    expect_json(
        m.app
            .post(
                &format!("/api/v1/tickets/{number}/comments"),
                &agent,
                &json!({ "body": "internal: probably coffee", "internal": true }),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    m.app.dispatcher.drain().await.expect("drain");
    let mails = m.sink.to("ann@corp.example");
    assert_eq!(
        mails.len(),
        2,
        "the acknowledgement and the public reply only"
    );
    let answer = &mails[1];
    assert!(answer.text().contains("Please try another USB port."));
    assert!(answer.subject().contains(&format!("[{number}]")));
    assert_eq!(
        answer.header("In-Reply-To").as_deref(),
        Some("<k1@corp.example>")
    );
    assert!(
        answer.header("Auto-Submitted").is_none(),
        "a person wrote it"
    );

    m.dovecot
        .deliver(reply(
            "ann@corp.example",
            &format!("Re: {}", answer.subject()),
            "k2@corp.example",
            &answer.message_id(),
            "That worked, thanks!\r\n\r\nOn Sun, Help Desk wrote:\r\n> Please try another USB port.",
        ))
        .await;
    m.poll().await;
    let comments = m.app.comments(&number).await;
    let bodies: Vec<&str> = comments.iter().filter_map(|c| c["body"].as_str()).collect();
    assert!(bodies.contains(&"That worked, thanks!"), "{bodies:?}");
    assert_eq!(
        m.sink.to("ann@corp.example").len(),
        2,
        "the requester's own comment is not mailed back"
    );
}

#[tokio::test]
async fn a_subject_token_threads_a_participant_but_not_a_stranger() {
    let m = mail_app().await;
    m.dovecot
        .deliver(plain(
            "ann@corp.example",
            "Monitor flickers",
            "m1@corp.example",
            "Flicker.",
        ))
        .await;
    m.poll().await;
    let number = number(&m.app.tickets().await[0]);
    // A new mail (no reply headers) from the requester with the token.
    m.dovecot
        .deliver(plain(
            "ann@corp.example",
            &format!("Update [{number}]"),
            "m2@corp.example",
            "It also makes a noise.",
        ))
        .await;
    // The same token from someone with nothing to do with the ticket.
    m.dovecot
        .deliver(plain(
            "mallory@elsewhere.example",
            &format!("[{number}] close this"),
            "m3@elsewhere.example",
            "Please close it.",
        ))
        .await;
    m.poll().await;
    let comments = m.app.comments(&number).await;
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0]["body"], "It also makes a noise.");
    assert_eq!(
        m.app.tickets().await.len(),
        2,
        "the stranger's mail opened its own ticket"
    );
}

#[tokio::test]
async fn a_message_fetched_twice_changes_nothing_the_second_time() {
    let m = mail_app().await;
    let raw = plain(
        "dup@corp.example",
        "Same mail twice",
        "dup1@corp.example",
        "Once.",
    );
    m.dovecot.deliver_all(&[raw.clone(), raw]).await;
    assert_eq!(m.poll().await, 2);
    assert_eq!(m.app.tickets().await.len(), 1);
    assert_eq!(
        m.sink.to("dup@corp.example").len(),
        1,
        "one acknowledgement"
    );
    assert_eq!(
        m.dovecot.seen_and_unseen().await,
        (2, 0),
        "both are marked read"
    );
}

#[tokio::test]
async fn automatic_mail_is_taken_in_but_never_answered() {
    let m = mail_app().await;
    let auto = |id: &str, header: &str, from: &str| {
        format!(
            "From: {from}\r\nSubject: Out of office\r\nMessage-ID: <{id}>\r\n{header}\r\n\
             Content-Type: text/plain\r\n\r\nI am away.\r\n"
        )
        .into_bytes()
    };
    m.dovecot
        .deliver_all(&[
            auto(
                "a1@x.example",
                "Auto-Submitted: auto-replied",
                "away@x.example",
            ),
            auto("a2@x.example", "Precedence: bulk", "news@x.example"),
            auto(
                "a3@x.example",
                "List-Id: <all.lists.x.example>",
                "list@x.example",
            ),
            auto("a4@x.example", "X-Autoreply: yes", "robot@x.example"),
            auto("a5@x.example", "Auto-Submitted: no", "human@x.example"),
        ])
        .await;
    m.poll().await;
    assert_eq!(
        m.app.tickets().await.len(),
        5,
        "every message is kept as a ticket"
    );
    let answered: Vec<Vec<String>> = m.sink.received().into_iter().map(|s| s.to).collect();
    assert_eq!(answered, vec![vec!["human@x.example".to_string()]]);
}

#[tokio::test]
async fn a_bounce_is_recorded_against_the_mail_that_bounced_and_not_answered() {
    let m = mail_app().await;
    m.dovecot
        .deliver(plain(
            "gone@corp.example",
            "Old account",
            "b0@corp.example",
            "Help.",
        ))
        .await;
    m.poll().await;
    let ack = m.sink.to("gone@corp.example").remove(0);
    let ack_id = ack.message_id();
    let dsn = format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.corp.example>\r\n\
         To: help@corp.example\r\nSubject: Undelivered Mail Returned to Sender\r\n\
         Message-ID: <dsn1@mx.corp.example>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
         --B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\
         --B\r\nContent-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; mx.corp.example\r\n\r\n\
         Final-Recipient: rfc822; gone@corp.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n\
         --B\r\nContent-Type: text/rfc822-headers\r\n\r\n\
         From: {FROM}\r\nTo: gone@corp.example\r\nMessage-ID: <{ack_id}>\r\nSubject: x\r\n\r\n\
         --B--\r\n"
    );
    m.dovecot.deliver(dsn).await;
    m.poll().await;
    assert_eq!(m.app.tickets().await.len(), 1, "a bounce opens no ticket");
    assert_eq!(m.sink.received().len(), 1, "and gets no answer");
    let delivered = m.app.outbox("delivered").await;
    let bounced = delivered
        .iter()
        .find(|o| o["channel"] == "email")
        .expect("the acknowledgement");
    assert!(
        bounced["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("5.1.1"),
        "the bounce is noted on the outbox message: {bounced}"
    );
}

#[tokio::test]
async fn a_mail_loop_is_stopped_by_the_sender_rate_limit() {
    let m = mail_app_with(|c| c.email.sender_rate_limit = 5).await;
    // A badly behaved autoresponder: answers every mail with a fresh one
    // and no automatic-mail headers.
    for round in 0..4 {
        let batch: Vec<Vec<u8>> = (0..3)
            .map(|i| {
                plain(
                    "robot@loop.example",
                    &format!("Thanks for your mail {round}-{i}"),
                    &format!("loop-{round}-{i}@loop.example"),
                    "Your mail has been received.",
                )
            })
            .collect();
        m.dovecot.deliver_all(&batch).await;
        m.poll().await;
    }
    assert_eq!(m.app.tickets().await.len(), 5, "the limit held");
    assert_eq!(m.sink.to("robot@loop.example").len(), 5, "answers stop too");
    let quarantine = m.quarantine().await;
    assert_eq!(quarantine.len(), 7, "the rest is kept, not lost");
    assert!(quarantine[0]["reason"]
        .as_str()
        .expect("reason")
        .contains("rate limit"));
    assert_eq!(m.dovecot.seen_and_unseen().await, (12, 0));
}

#[tokio::test]
async fn a_restart_in_the_middle_of_a_batch_loses_and_repeats_nothing() {
    let m = mail_app().await;
    let batch: Vec<Vec<u8>> = (0..10)
        .map(|i| {
            plain(
                &format!("user{i}@corp.example"),
                &format!("Request {i}"),
                &format!("r{i}@corp.example"),
                "Please help.",
            )
        })
        .collect();
    m.dovecot.deliver_all(&batch).await;
    assert_eq!(m.poll().await, 10);
    // The crash came after the tickets committed but before the server was
    // told and the position saved for all but the first three.
    let sql = "UPDATE mail_cursors SET last_uid = 3";
    if let switchboard::store::Db::Postgres(pool) = &m.app.desk.db {
        sqlx::query(sql).execute(pool).await.expect("rewind");
    }
    m.dovecot.mark_all_unseen().await;
    let more: Vec<Vec<u8>> = (10..15)
        .map(|i| {
            plain(
                &format!("user{i}@corp.example"),
                &format!("Request {i}"),
                &format!("r{i}@corp.example"),
                "Please help.",
            )
        })
        .collect();
    m.dovecot.deliver_all(&more).await;
    // A new process (a new worker) picks up from the database.
    assert_eq!(m.poll().await, 12);
    let tickets = m.app.tickets().await;
    assert_eq!(tickets.len(), 15);
    let mut titles = titles(&tickets);
    titles.sort();
    titles.dedup();
    assert_eq!(titles.len(), 15, "no duplicates");
    assert_eq!(m.sink.received().len(), 15, "each acknowledged once");
    let (seen, unseen) = m.dovecot.seen_and_unseen().await;
    assert_eq!(
        (seen, unseen),
        (12, 3),
        "the first three had been flagged before the crash"
    );
}

/// Thirty mails in three fetches of ten, worked on four at a time, where
/// the use case of the mail titled "Boom" fails (a database error) until
/// the trigger `boom` on `tickets` is dropped.
async fn batch_with_a_failing_mail(m: &Mail) {
    let switchboard::store::Db::Postgres(pool) = &m.app.desk.db else {
        panic!("the email tests run on Postgres");
    };
    // The use case of the mail titled "Boom" fails (a database error) until
    // the trigger is dropped.
    for sql in [
        "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN \
         IF NEW.title = 'Boom' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$ \
         LANGUAGE plpgsql",
        "CREATE TRIGGER boom BEFORE INSERT ON tickets FOR EACH ROW EXECUTE FUNCTION boom()",
    ] {
        sqlx::query(sql).execute(pool).await.expect("trigger");
    }
    // Three fetches of ten, four at a time: 5 answers 3 (same batch), 13
    // fails, 16 answers it and 18 comes from its sender (both must wait),
    // 25 answers 20.
    let batch: Vec<Vec<u8>> = (0..30)
        .map(|i| match i {
            5 => reply(
                "user3@corp.example",
                "Re: Request 3",
                "r5@corp.example",
                "r3@corp.example",
                "More.",
            ),
            13 => plain(
                "user13@corp.example",
                "Boom",
                "boom@corp.example",
                "Please help.",
            ),
            16 => reply(
                "user16@corp.example",
                "Re: Boom",
                "r16@corp.example",
                "boom@corp.example",
                "Me too.",
            ),
            18 => plain(
                "user13@corp.example",
                "Request 18",
                "r18@corp.example",
                "Another one.",
            ),
            25 => reply(
                "user20@corp.example",
                "Re: Request 20",
                "r25@corp.example",
                "r20@corp.example",
                "More.",
            ),
            _ => plain(
                &format!("user{i}@corp.example"),
                &format!("Request {i}"),
                &format!("r{i}@corp.example"),
                "Please help.",
            ),
        })
        .collect();
    m.dovecot.deliver_all(&batch).await;
}

/// One pass of a fresh worker fetching ten mails at a time and working on
/// four at once, then the outbox delivered: (mails processed, whether the
/// pass stopped early).
async fn poll_in_concurrent_batches(m: &Mail) -> (usize, bool) {
    let pass = m
        .worker()
        .await
        .with_batches(10, 4)
        .poll_once()
        .await
        .expect("poll");
    m.app.dispatcher.drain().await.expect("drain");
    (pass.processed, pass.stopped_early)
}

async fn drop_the_failing_trigger(m: &Mail) {
    let switchboard::store::Db::Postgres(pool) = &m.app.desk.db else {
        panic!("the email tests run on Postgres");
    };
    sqlx::query("DROP TRIGGER boom ON tickets")
        .execute(pool)
        .await
        .expect("drop trigger");
}

#[tokio::test]
async fn a_failure_in_a_concurrent_batch_stops_the_position_before_the_failed_mail() {
    let m = mail_app().await;
    batch_with_a_failing_mail(&m).await;
    let (processed, stopped_early) = poll_in_concurrent_batches(&m).await;
    assert!(stopped_early);
    assert_eq!(processed, 13, "the position stops before the failed mail");
    assert_eq!(m.dovecot.seen_and_unseen().await, (13, 17));
    let titles = titles(&m.app.tickets().await);
    // Batch one without the answer, and of batch two what does not depend
    // on the failed mail; nothing of batch three yet.
    assert_eq!(titles.len(), 9 + 7, "{titles:?}");
    assert!(!titles
        .iter()
        .any(|t| t.contains("Boom") || t == "Request 18"));
}

#[tokio::test]
async fn the_pass_after_a_failure_in_a_concurrent_batch_repeats_nothing_and_leaves_no_gap() {
    let m = mail_app().await;
    batch_with_a_failing_mail(&m).await;
    poll_in_concurrent_batches(&m).await;
    drop_the_failing_trigger(&m).await;
    let (processed, stopped_early) = poll_in_concurrent_batches(&m).await;
    assert!(!stopped_early);
    assert_eq!(processed, 17, "from the failed mail on");
    assert_eq!(m.dovecot.seen_and_unseen().await, (30, 0));
    let tickets = m.app.tickets().await;
    assert_eq!(tickets.len(), 27, "30 mails, 3 of them answers");
    let mut titles = titles(&tickets);
    titles.sort();
    titles.dedup();
    assert_eq!(titles.len(), 27, "no duplicates");
    // Gap-free numbers although one creation failed and was retried.
    let mut numbers: Vec<String> = tickets.iter().map(number).collect();
    numbers.sort();
    let expected: Vec<String> = (1..=27).map(|n| format!("INC{n:07}")).collect();
    assert_eq!(numbers, expected);
    // Each ticket acknowledged once, and the stranger's answer to Boom
    // relayed to its requester.
    assert_eq!(m.sink.received().len(), 27 + 1);
    assert_eq!(m.sink.to("user13@corp.example").len(), 3);
    for (title, answers) in [("Boom", 1), ("Request 3", 1), ("Request 20", 1)] {
        let ticket = tickets
            .iter()
            .find(|t| t["title"] == title)
            .expect("ticket");
        assert_eq!(
            m.app.comments(&number(ticket)).await.len(),
            answers,
            "the answer to {title} is a comment on it"
        );
    }
}

#[tokio::test]
async fn the_worker_reconnects_after_the_server_goes_away() {
    let mut m = mail_app().await;
    let worker = m.worker().await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(worker.run(stopped));
    m.dovecot
        .deliver(plain(
            "a@corp.example",
            "Before the outage",
            "o1@corp.example",
            "x",
        ))
        .await;
    assert!(
        eventually(Duration::from_secs(15), || async {
            m.app.tickets().await.len() == 1
        })
        .await,
        "the running worker takes the first mail in"
    );
    m.dovecot.restart().await;
    m.dovecot
        .deliver(plain(
            "b@corp.example",
            "After the outage",
            "o2@corp.example",
            "y",
        ))
        .await;
    assert!(
        eventually(Duration::from_secs(30), || async {
            m.app.tickets().await.len() == 2
        })
        .await,
        "the worker reconnected and took the second mail in"
    );
    let _ = stop.send(true);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the worker stops on shutdown")
        .expect("worker task");
}

#[tokio::test]
async fn a_mailbox_that_cannot_sign_in_alerts_the_admins_once() {
    let m = mail_app().await;
    let wrong = m.dovecot.url().replace("imap-secret", "wrong-password");
    m.app
        .person_with_token("Ada Admin", "ada@corp.example", &["admin"])
        .await;
    let mut email = m.app.config.email.clone();
    email.imap_url = switchboard::config::Secret::new(wrong);
    let worker = MailboxWorker::new(m.app.desk.clone(), &email.mailboxes()[0], &email)
        .await
        .expect("worker");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(worker.run(stopped));
    // Retries (1 s, 2 s backoff) do not repeat the alert.
    let alerts = m.admin_alerts().await;
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0].text().contains("cannot sign in"),
        "{}",
        alerts[0].text()
    );
    let metrics = m
        .app
        .client
        .get(m.app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("switchboard_mail_errors_total{action=\"auth\"}"),
        "{metrics}"
    );
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
}

#[tokio::test]
async fn smtp_failures_retry_when_temporary_and_dead_letter_when_permanent() {
    let m = mail_app().await;
    m.sink.then_reply("451 4.3.0 mailbox busy, try later");
    m.dovecot
        .deliver(plain("t@corp.example", "Temp", "t1@corp.example", "x"))
        .await;
    m.poll().await;
    assert!(m.sink.received().is_empty(), "the first attempt failed");
    let pending = m.app.outbox("pending").await;
    assert_eq!(pending.len(), 1);
    assert!(pending[0]["last_error"]
        .as_str()
        .unwrap_or("")
        .contains("451"));
    assert!(
        eventually(Duration::from_secs(10), || async {
            m.app.dispatcher.drain().await.expect("drain");
            m.sink.received().len() == 1
        })
        .await,
        "the retry delivered it"
    );

    m.sink.then_reply("550 5.1.1 no such user");
    m.dovecot
        .deliver(plain("p@corp.example", "Perm", "p1@corp.example", "x"))
        .await;
    m.poll().await;
    let dead = m.app.outbox("dead").await;
    assert_eq!(dead.len(), 1, "dead-lettered at once: {dead:?}");
    assert!(dead[0]["last_error"].as_str().unwrap_or("").contains("550"));
}

#[tokio::test]
async fn the_requester_resolves_a_ticket_by_replying_with_a_command() {
    let m = mail_app().await;
    m.dovecot
        .deliver(plain(
            "ann@corp.example",
            "Mouse broken",
            "c1@corp.example",
            "Dead mouse.",
        ))
        .await;
    m.poll().await;
    let ack_id = m.sink.to("ann@corp.example").remove(0).message_id();
    let number = number(&m.app.tickets().await[0]);
    // Only agents resolve incidents: the requester's command is refused
    // with an explanation, and the mail is kept as a comment.
    m.dovecot
        .deliver(reply(
            "ann@corp.example",
            "Re: Mouse broken",
            "c2@corp.example",
            &ack_id,
            "#resolve\r\nfound a new one",
        ))
        .await;
    m.poll().await;
    let explanation = m.sink.to("ann@corp.example");
    assert_eq!(explanation.len(), 2, "an explanation");
    assert!(explanation[1].text().contains("could not be carried out"));
    assert_eq!(m.app.comments(&number).await.len(), 1);

    // An agent's command works.
    m.app
        .person_with_token("Al Agent", "al@corp.example", &["agent"])
        .await;
    m.dovecot
        .deliver(reply(
            "al@corp.example",
            &format!("Re: [{number}]"),
            "c3@corp.example",
            &ack_id,
            "#resolve\r\nReplaced the mouse.",
        ))
        .await;
    m.poll().await;
    let ticket = m.app.ticket(&number).await;
    assert_eq!(ticket["state"], "resolved", "{ticket}");
}

#[tokio::test]
async fn an_approver_approves_by_replying_to_the_request() {
    let m = mail_app().await;
    let (fay, _) = m
        .app
        .person_with_token("Fay Finance", "fay@corp.example", &["approver"])
        .await;
    m.app
        .single_approver_policy("Finance", fay["id"].as_str().expect("id"))
        .await;
    let ticket = m.app.create_ticket("service_request", "New monitor").await;
    let number = number(&ticket);
    expect_json(
        m.app
            .post(
                &format!("/api/v1/tickets/{number}/approvals"),
                &m.app.token,
                &json!({ "policy": "Finance" }),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    m.app.dispatcher.drain().await.expect("drain");
    let request = m.sink.to("fay@corp.example");
    assert_eq!(request.len(), 1, "the approval request went out by mail");
    assert!(request[0].subject().contains(&number));
    m.dovecot
        .deliver(reply(
            "fay@corp.example",
            &format!("Re: {}", request[0].subject()),
            "approve1@corp.example",
            &request[0].message_id(),
            "#approve\r\n\r\nOn Sun, Help Desk wrote:\r\n> Your approval is needed",
        ))
        .await;
    m.poll().await;
    let approvals: Vec<Value> = m
        .app
        .get_json(&format!("/api/v1/tickets/{number}/approvals"), &m.app.token)
        .await;
    assert_eq!(approvals[0]["status"], "approved", "{approvals:?}");
}

#[tokio::test]
async fn unreadable_and_unanswerable_mail_goes_to_the_quarantine_and_the_poller_goes_on() {
    let m = mail_app_with(|c| c.storage.max_attachment_bytes = 64 * 1024).await;
    let huge_line = format!(
        "From: big@corp.example\r\nSubject: One long line\r\nMessage-ID: <big@corp.example>\r\n\r\n{}\r\n",
        "x".repeat(10 * 1024 * 1024)
    );
    m.dovecot
        .deliver_all(&[
            b"this is not a mail at all".to_vec(),
            b"Subject: no sender\r\nMessage-ID: <nosender@x>\r\n\r\nbody\r\n".to_vec(),
            huge_line.into_bytes(),
            plain(
                "fine@corp.example",
                "A normal one",
                "fine@corp.example",
                "ok",
            ),
        ])
        .await;
    assert_eq!(m.poll().await, 4);
    let quarantine = m.quarantine().await;
    let reasons: Vec<&str> = quarantine
        .iter()
        .filter_map(|q| q["reason"].as_str())
        .collect();
    assert!(reasons.iter().any(|r| r.contains("sender")), "{reasons:?}");
    let tickets = m.app.tickets().await;
    let titles: Vec<&str> = tickets.iter().filter_map(|t| t["title"].as_str()).collect();
    assert!(titles.contains(&"A normal one"), "{titles:?}");
    assert!(
        titles.contains(&"One long line"),
        "the 10 MB line is stored, cut: {titles:?}"
    );
    assert_eq!(
        tickets.len() + quarantine.len(),
        4,
        "every message is accounted for"
    );
    // Only admins see the quarantine.
    let (_, agent) = m
        .app
        .person_with_token("Al", "al@corp.example", &["agent"])
        .await;
    assert_eq!(
        m.app.get("/api/v1/email/quarantine", &agent).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn every_message_of_the_corpus_is_taken_in() {
    let m = mail_app().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/email-corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/email-corpus")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 30,
        "at least 30 corpus messages, found {}",
        files.len()
    );
    let raws: Vec<Vec<u8>> = files
        .iter()
        .map(|p| std::fs::read(p).expect("read corpus file"))
        .collect();
    m.dovecot.deliver_all(&raws).await;
    assert_eq!(m.poll().await, files.len(), "every message committed");
    assert_eq!(m.dovecot.seen_and_unseen().await, (files.len(), 0));
    let quarantine = m.quarantine().await;
    for q in &quarantine {
        let subject = q["subject"].as_str().unwrap_or("");
        assert!(
            subject.to_ascii_lowercase().contains("malformed")
                || q["reason"].as_str().unwrap_or("").contains("sender"),
            "only malformed messages are quarantined: {q}"
        );
    }
    let titles: Vec<String> = m
        .app
        .tickets()
        .await
        .iter()
        .filter_map(|t| t["title"].as_str().map(String::from))
        .collect();
    for expected in [
        "パスワード",
        "Проблема",
        "打印机坏了",
        "\u{201c}Urgent\u{201d} \u{2013} laptop",
        "Überweisung fehlgeschlagen – bitte prüfen",
        "🔥 Server on fire",
        "Can't log in to the VPN",
    ] {
        assert!(
            titles.iter().any(|t| t == expected),
            "{expected} among {titles:?}"
        );
    }
    // Bounces (the DSN and the NDR) are recorded, not ticketed.
    let bounces = files
        .iter()
        .filter(|p| {
            let name = p.to_string_lossy();
            name.contains("-dsn") || name.contains("-ndr")
        })
        .count();
    assert_eq!(
        m.app.tickets().await.len() + quarantine.len() + bounces,
        files.len(),
        "every message became a ticket, a bounce record or a quarantine entry"
    );
}

/// An approver, a one-stage policy and a service request waiting on it;
/// returns the ticket number once the request mail is in the sink.
async fn request_approval_by_mail(m: &Mail) -> String {
    let (fay, _) = m
        .app
        .person_with_token("Fay Finance", "fay@corp.example", &["approver"])
        .await;
    m.app
        .single_approver_policy("Finance", fay["id"].as_str().expect("id"))
        .await;
    // Ordered from the catalog, so the request waits in awaiting_approval.
    expect_json(
        m.app
            .post(
                "/api/v1/catalog/categories",
                &m.app.token,
                &json!({ "name": "Hardware" }),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let item = expect_json(
        m.app
            .post(
                "/api/v1/catalog/items",
                &m.app.token,
                &json!({ "name": "New monitor", "description": "A second screen", "category": "Hardware",
                         "approval_policy": "Finance", "form": { "fields": [] } }),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    let (_, requester) = m
        .app
        .person_with_token("Rita Requester", "rita@corp.example", &["requester"])
        .await;
    let order = expect_json(
        m.app
            .post(
                &format!(
                    "/api/v1/catalog/items/{}/orders",
                    item["id"].as_str().expect("id")
                ),
                &requester,
                &json!({ "answers": {} }),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    m.app.dispatcher.drain().await.expect("drain");
    order["ticket"]["number"]
        .as_str()
        .expect("number")
        .to_string()
}

/// The path (`/approvals/email/…`) of the link after `label` in a text.
fn link_after(text: &str, label: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no `{label}` line in {text}"));
    let at = line
        .find("/approvals/email/")
        .unwrap_or_else(|| panic!("no link in {line}"));
    line[at..].trim().to_string()
}

impl Mail {
    async fn open_link(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .app
            .client
            .get(self.app.url(path))
            .send()
            .await
            .expect("GET link");
        let status = response.status();
        (status, response.text().await.expect("page"))
    }

    async fn confirm_link(&self, path: &str, reason: &str) -> (StatusCode, String) {
        let response = self
            .app
            .client
            .post(self.app.url(path))
            .form(&[("reason", reason)])
            .send()
            .await
            .expect("POST link");
        let status = response.status();
        (status, response.text().await.expect("page"))
    }

    async fn approvals(&self, number: &str) -> Vec<Value> {
        self.app
            .get_json(
                &format!("/api/v1/tickets/{number}/approvals"),
                &self.app.token,
            )
            .await
    }
}

#[tokio::test]
async fn an_approval_request_mail_carries_links_that_approve_only_after_confirmation() {
    let m = mail_app().await;
    let number = request_approval_by_mail(&m).await;
    let request = m.sink.to("fay@corp.example");
    assert_eq!(request.len(), 1, "the approval request went out by mail");
    let text = request[0].text();
    let approve = link_after(&text, "Approve:");
    let reject = link_after(&text, "Reject:");
    assert_ne!(approve, reject);
    let html = request[0].html().expect("an HTML part");
    assert!(
        html.contains(&approve),
        "the HTML has the Approve button: {html}"
    );
    assert!(html.contains(&reject), "the HTML has the Reject button");

    // Opening the link (as a mail scanner would) decides nothing.
    let (status, page) = m.open_link(&approve).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(&number), "{page}");
    assert!(page.contains("New monitor"), "{page}");
    assert!(page.contains("Fay Finance"), "{page}");
    assert!(page.contains("approve"), "{page}");
    assert!(page.contains("<form method=\"post\""), "{page}");
    let (status, _) = m.open_link(&approve).await;
    assert_eq!(status, StatusCode::OK, "a second look is still harmless");
    assert_eq!(m.approvals(&number).await[0]["status"], "pending");
    assert_eq!(m.app.ticket(&number).await["state"], "awaiting_approval");

    // The page's button decides, as Fay, through the email channel.
    let (status, page) = m.confirm_link(&approve, "").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("approved"), "{page}");
    let approvals = m.approvals(&number).await;
    assert_eq!(approvals[0]["status"], "approved", "{approvals:?}");
    let decision = &approvals[0]["stages"][0]["decisions"][0];
    assert_eq!(decision["approver"]["name"], "Fay Finance");
    assert_eq!(decision["channel"], "email");
    assert_eq!(
        m.app.ticket(&number).await["state"],
        "in_progress",
        "the ticket moved on"
    );

    // The same link again, and the other link: refused, nothing changes.
    let (status, page) = m.confirm_link(&approve, "").await;
    assert_eq!(status, StatusCode::GONE, "{page}");
    assert!(page.contains("already used"), "{page}");
    let (status, _) = m.open_link(&approve).await;
    assert_eq!(status, StatusCode::GONE);
    let (status, page) = m.confirm_link(&reject, "changed my mind").await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(page.contains("already approved"), "{page}");
    let approvals = m.approvals(&number).await;
    assert_eq!(approvals[0]["status"], "approved");
    assert_eq!(
        approvals[0]["stages"][0]["decisions"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn a_reject_link_needs_a_reason_and_forged_or_malformed_links_change_nothing() {
    let m = mail_app().await;
    let number = request_approval_by_mail(&m).await;
    let text = m.sink.to("fay@corp.example")[0].text();
    let reject = link_after(&text, "Reject:");

    let (status, page) = m.open_link(&reject).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("name=\"reason\""),
        "asks for a reason: {page}"
    );

    // A changed signature, a changed claim, garbage.
    let (body, signature) = reject.rsplit_once('.').expect("signed token");
    let mut forged_sig = signature.to_string();
    let last = forged_sig.pop().expect("non-empty");
    // The last character of 32 bytes in unpadded base64 carries 4 bits and
    // two zero bits: 'A' and 'E' both keep it canonical ('B' would make the
    // token malformed, a 400, instead of forged).
    forged_sig.push(if last == 'A' { 'E' } else { 'A' });
    let (status, page) = m.confirm_link(&format!("{body}.{forged_sig}"), "no").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    let approve = link_after(&text, "Approve:");
    let (approve_body, _) = approve.rsplit_once('.').expect("signed token");
    let (status, _) = m
        .confirm_link(&format!("{approve_body}.{signature}"), "")
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a claim moved under another signature"
    );
    let (status, _) = m.open_link("/approvals/email/not-a-token").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(m.approvals(&number).await[0]["status"], "pending");

    // Rejecting needs a reason; without one nothing is used up.
    let (status, page) = m.confirm_link(&reject, "  ").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert_eq!(m.approvals(&number).await[0]["status"], "pending");
    let (status, page) = m.confirm_link(&reject, "Over budget").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let approvals = m.approvals(&number).await;
    assert_eq!(approvals[0]["status"], "rejected");
    assert!(approvals[0]["reason"]
        .as_str()
        .unwrap_or("")
        .contains("Over budget"));
    assert_eq!(m.app.ticket(&number).await["state"], "rejected");
}

#[tokio::test]
async fn an_expired_approval_link_is_refused() {
    let m = mail_app_with(|c| c.email.approval_link_ttl_hours = 1.0 / 3600.0).await;
    let number = request_approval_by_mail(&m).await;
    let approve = link_after(&m.sink.to("fay@corp.example")[0].text(), "Approve:");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, page) = m.open_link(&approve).await;
    assert_eq!(status, StatusCode::GONE, "{page}");
    assert!(page.contains("expired"), "{page}");
    let (status, _) = m.confirm_link(&approve, "").await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(m.approvals(&number).await[0]["status"], "pending");
}

#[tokio::test]
async fn an_smtp_sign_in_failure_alerts_the_admins_once_and_keeps_the_mail_queued() {
    let m = mail_app_with(|c| {
        let url = c
            .email
            .smtp_url
            .expose()
            .replace("smtp://", "smtp://desk%40corp.example:smtp-pw@");
        c.email.smtp_url = switchboard::config::Secret::new(url);
    })
    .await;
    let (_, ada) = m
        .app
        .person_with_token("Ada Admin", "ada@corp.example", &["admin"])
        .await;
    m.sink.accept_auth(|_, _| false);
    m.dovecot
        .deliver(plain(
            "ann@corp.example",
            "Printer",
            "sa1@corp.example",
            "x",
        ))
        .await;
    assert_eq!(m.poll().await, 1);
    // Several tries, all refused: one alert, and the mail is never dead.
    for _ in 0..6 {
        m.app.dispatcher.drain().await.expect("drain");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(m.sink.received().is_empty());
    let tries = m.sink.auths();
    assert!(tries.len() >= 3, "it kept trying: {tries:?}");
    assert_eq!(tries[0].0, "PLAIN");
    assert!(tries[0].1.contains("smtp-pw"), "{tries:?}");
    assert!(m.app.outbox("dead").await.is_empty(), "not dead-lettered");
    let pending = m.app.outbox("pending").await;
    assert!(
        pending.iter().any(|r| r["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("sign-in failed")),
        "{pending:?}"
    );
    let inbox: Vec<Value> = m.app.get_json("/api/v1/me/inbox", &ada).await;
    let alerts: Vec<&Value> = inbox
        .iter()
        .filter(|i| {
            i["subject"]
                .as_str()
                .unwrap_or("")
                .contains("cannot sign in")
        })
        .collect();
    assert_eq!(alerts.len(), 1, "one alert per failure streak: {inbox:?}");
    let metrics = m
        .app
        .client
        .get(m.app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("switchboard_mail_errors_total{action=\"smtp_auth\"}"),
        "{metrics}"
    );

    // Fixed: the queued mail goes out, and so does the admin's alert mail.
    m.sink.accept_auth(|_, _| true);
    assert!(
        eventually(Duration::from_secs(10), || async {
            m.app.dispatcher.drain().await.expect("drain");
            !m.sink.to("ann@corp.example").is_empty() && !m.sink.to("ada@corp.example").is_empty()
        })
        .await,
        "the held mail was delivered once the sign-in worked"
    );
}

#[tokio::test]
async fn processed_mail_is_moved_to_the_processed_folder_and_not_read_again_after_a_restart() {
    let mut m = mail_app_with(|c| c.email.processed_folder = "Processed".into()).await;
    m.dovecot
        .deliver_all(&[
            plain("a@corp.example", "One", "pf1@corp.example", "x"),
            plain("b@corp.example", "Two", "pf2@corp.example", "y"),
            plain("c@corp.example", "Three", "pf3@corp.example", "z"),
        ])
        .await;
    assert_eq!(m.poll().await, 3);
    assert_eq!(m.dovecot.count("INBOX").await, 0, "moved out of the INBOX");
    assert_eq!(
        m.dovecot.count("Processed").await,
        3,
        "into the processed folder"
    );
    assert_eq!(m.app.tickets().await.len(), 3);

    // A restart of the server and a fresh worker: only the new mail is read.
    m.dovecot.restart().await;
    m.dovecot
        .deliver(plain("d@corp.example", "Four", "pf4@corp.example", "w"))
        .await;
    assert_eq!(m.poll().await, 1, "the position survived the moves");
    assert_eq!(m.poll().await, 0, "nothing read twice");
    assert_eq!(m.app.tickets().await.len(), 4);
    assert_eq!(m.dovecot.count("INBOX").await, 0);
    assert_eq!(m.dovecot.count("Processed").await, 4);
}

/// Dovecot checking XOAUTH2 tokens at a fake provider, the daemon's
/// IMAP (and optionally SMTP) sign-in configured with that provider.
async fn oauth_mail_app(smtp_too: bool) -> (Mail, crate::support::oauth::FakeOAuth) {
    let fake = crate::support::oauth::FakeOAuth::start(crate::support::dovecot::USER).await;
    let dovecot = Dovecot::start_with_oauth(&fake.introspection_url()).await;
    let sink = SmtpSink::start().await;
    // No password in the URL: the token is the only credential.
    let imap = dovecot.url().replace(":imap-secret@", "@");
    let smtp = if smtp_too {
        sink.url().replace("smtp://", "smtp://desk%40corp.example@")
    } else {
        sink.url()
    };
    let oauth = fake.config();
    let app = spawn_app_with(|c| {
        c.email.imap_url = switchboard::config::Secret::new(imap);
        c.email.smtp_url = switchboard::config::Secret::new(smtp);
        c.email.from = FROM.into();
        c.email.poll_interval = 1;
        c.email.imap_oauth = oauth.clone();
        if smtp_too {
            c.email.smtp_oauth = oauth;
        }
    })
    .await;
    (Mail { app, dovecot, sink }, fake)
}

#[tokio::test]
async fn an_oauth_mailbox_signs_in_with_a_refreshed_token_and_refreshes_again_when_refused() {
    let (m, fake) = oauth_mail_app(false).await;
    fake.rotate_refresh_tokens();
    let worker = m.worker().await;
    m.dovecot
        .deliver(plain(
            "a@corp.example",
            "Token one",
            "oa1@corp.example",
            "x",
        ))
        .await;
    assert_eq!(worker.poll_once().await.expect("poll").processed, 1);
    assert_eq!(fake.presented(), vec!["rt-0"], "one refresh");
    assert!(fake.is_active("at-1"));

    // The cached token is reused while it is valid.
    m.dovecot
        .deliver(plain(
            "b@corp.example",
            "Token two",
            "oa2@corp.example",
            "y",
        ))
        .await;
    assert_eq!(worker.poll_once().await.expect("poll").processed, 1);
    assert_eq!(fake.presented().len(), 1, "no second refresh");

    // Revoked early: refused once, refreshed with the rotated refresh token.
    fake.revoke_access_tokens();
    m.dovecot
        .deliver(plain(
            "c@corp.example",
            "Token three",
            "oa3@corp.example",
            "z",
        ))
        .await;
    assert_eq!(worker.poll_once().await.expect("poll").processed, 1);
    assert_eq!(
        fake.presented(),
        vec!["rt-0", "rt-1"],
        "the rotated one was used"
    );
    assert_eq!(m.app.tickets().await.len(), 3);
}

#[tokio::test]
async fn a_failed_token_refresh_alerts_the_admins_once_like_a_refused_sign_in() {
    let (m, fake) = oauth_mail_app(false).await;
    m.app
        .person_with_token("Ada Admin", "ada@corp.example", &["admin"])
        .await;
    fake.set_failing(true);
    let worker = m.worker().await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(worker.run(stopped));
    let alerts = m.admin_alerts().await;
    assert_eq!(alerts.len(), 1, "once per failure streak");
    assert!(
        alerts[0].text().contains("cannot sign in"),
        "{}",
        alerts[0].text()
    );
    assert!(
        alerts[0].text().contains("invalid_grant"),
        "{}",
        alerts[0].text()
    );
    assert!(fake.presented().len() >= 2, "it kept trying");
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
}

#[tokio::test]
async fn a_rotated_refresh_token_outlives_the_process_sealed_and_replicas_pick_it_up() {
    let (m, fake) = oauth_mail_app(false).await;
    fake.rotate_refresh_tokens();
    let first = m.worker().await;
    m.dovecot
        .deliver(plain("a@corp.example", "Rot one", "rot1@corp.example", "x"))
        .await;
    assert_eq!(first.poll_once().await.expect("poll").processed, 1);
    assert_eq!(fake.presented(), vec!["rt-0"]);

    // Stored sealed: the database does not hold the usable token.
    let db = m.app.desk.db.clone();
    let switchboard::store::Db::Postgres(pool) = &db else {
        panic!("the suite runs on Postgres")
    };
    let rows: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT token_sealed FROM oauth_refresh_tokens")
        .fetch_all(pool)
        .await
        .expect("stored tokens");
    assert_eq!(rows.len(), 1);
    assert!(
        !rows[0].0.windows(4).any(|w| w == b"rt-1"),
        "sealed at rest"
    );

    // A restarted daemon (a new worker, as after a restart) goes on with
    // the rotated token; the provider retired the configured one.
    let restarted = m.worker().await;
    m.dovecot
        .deliver(plain("b@corp.example", "Rot two", "rot2@corp.example", "y"))
        .await;
    assert_eq!(restarted.poll_once().await.expect("poll").processed, 1);
    assert_eq!(fake.presented(), vec!["rt-0", "rt-1"]);

    // The first worker (a replica) still holds rt-1, which the restarted one
    // rotated away: refused, it reads the stored token and retries once.
    fake.revoke_access_tokens();
    m.dovecot
        .deliver(plain(
            "c@corp.example",
            "Rot three",
            "rot3@corp.example",
            "z",
        ))
        .await;
    assert_eq!(first.poll_once().await.expect("poll").processed, 1);
    assert_eq!(fake.presented(), vec!["rt-0", "rt-1", "rt-1", "rt-2"]);
    assert_eq!(m.app.tickets().await.len(), 3);
}

#[tokio::test]
async fn a_sign_in_failure_streak_alerts_once_across_restarts_and_again_after_a_success() {
    let (m, fake) = oauth_mail_app(false).await;
    m.app
        .person_with_token("Ada Admin", "ada@corp.example", &["admin"])
        .await;
    fake.set_failing(true);
    let run_for_a_while = |worker: MailboxWorker| {
        let fake = fake.clone();
        async move {
            let before = fake.presented().len();
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let task = tokio::spawn(worker.run(stopped));
            assert!(
                eventually(Duration::from_secs(15), || async {
                    fake.presented().len() >= before + 2
                })
                .await,
                "it kept trying"
            );
            let _ = stop.send(true);
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    };
    run_for_a_while(m.worker().await).await;
    assert_eq!(m.admin_alerts().await.len(), 1);
    // Restarted, still failing: the streak goes on, nobody is told again.
    run_for_a_while(m.worker().await).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    m.app.dispatcher.drain().await.expect("drain");
    assert_eq!(
        m.sink.to("ada@corp.example").len(),
        1,
        "one alert per streak"
    );

    // Fixed: a sign-in ends the streak; the next failure alerts again.
    fake.set_failing(false);
    let worker = m.worker().await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(worker.run(stopped));
    let db = m.app.desk.db.clone();
    let switchboard::store::Db::Postgres(pool) = &db else {
        panic!("the suite runs on Postgres")
    };
    assert!(
        eventually(Duration::from_secs(15), || async {
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM mail_auth_alerts")
                .fetch_one(pool)
                .await
                .expect("count");
            n == 0
        })
        .await,
        "a sign-in ends the streak"
    );
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    fake.set_failing(true);
    fake.revoke_access_tokens();
    run_for_a_while(m.worker().await).await;
    assert!(
        eventually(Duration::from_secs(15), || async {
            m.app.dispatcher.drain().await.expect("drain");
            m.sink.to("ada@corp.example").len() == 2
        })
        .await,
        "a new streak alerts again"
    );
}

#[tokio::test]
async fn smtp_signs_in_with_xoauth2_refreshes_an_expired_token_and_holds_mail_when_refresh_fails() {
    let (m, fake) = oauth_mail_app(true).await;
    let checker = fake.clone();
    m.sink.accept_auth(move |mechanism, credentials| {
        mechanism == "XOAUTH2"
            && credentials
                .split('\u{1}')
                .find_map(|p| p.strip_prefix("auth=Bearer "))
                .is_some_and(|t| checker.is_active(t))
    });
    fake.set_expires_in(1);
    m.dovecot
        .deliver(plain("a@corp.example", "First", "so1@corp.example", "x"))
        .await;
    m.poll().await;
    assert_eq!(m.sink.to("a@corp.example").len(), 1, "sent with a token");
    let auths = m.sink.auths();
    assert!(
        auths.iter().any(|(mech, cred, ok)| mech == "XOAUTH2"
            && *ok
            && cred.contains("user=desk@corp.example")),
        "{auths:?}"
    );

    // The token expires: the next mail gets a fresh one.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    m.dovecot
        .deliver(plain("b@corp.example", "Second", "so2@corp.example", "y"))
        .await;
    m.poll().await;
    assert_eq!(m.sink.to("b@corp.example").len(), 1);
    let refreshes = fake.presented().len();
    assert!(refreshes >= 3, "IMAP once, SMTP twice: {refreshes}");
    assert!(m
        .sink
        .auths()
        .iter()
        .any(|(_, cred, ok)| *ok && !cred.contains("at-1") && cred.contains("auth=Bearer at-")));

    // The provider refuses: the mail waits, admins are told.
    let (_, ada) = m
        .app
        .person_with_token("Ada Admin", "ada@corp.example", &["admin"])
        .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    fake.set_failing(true);
    // A comment on the emailed ticket goes to its requester by mail.
    let number = number(&m.app.ticket_titled("Second").await);
    expect_json(
        m.app
            .post(
                &format!("/api/v1/tickets/{number}/comments"),
                &m.app.token,
                &json!({ "body": "On it", "internal": false }),
            )
            .await,
        StatusCode::CREATED,
    )
    .await;
    m.app.dispatcher.drain().await.expect("drain");
    assert_eq!(m.sink.to("b@corp.example").len(), 1, "held, not sent");
    assert!(m.app.outbox("dead").await.is_empty());
    let inbox: Vec<Value> = m.app.get_json("/api/v1/me/inbox", &ada).await;
    assert!(
        inbox.iter().any(|i| i["subject"]
            .as_str()
            .unwrap_or("")
            .contains("cannot sign in")
            && i["text"].as_str().unwrap_or("").contains("invalid_grant")),
        "{inbox:?}"
    );
}

#[tokio::test]
async fn without_move_processed_mail_is_copied_flagged_deleted_and_expunged() {
    let dovecot = Dovecot::start_advertising("IMAP4rev1 LITERAL+ IDLE UIDPLUS").await;
    let sink = SmtpSink::start().await;
    let (imap, smtp) = (dovecot.url(), sink.url());
    let app = spawn_app_with(|c| {
        c.email.imap_url = switchboard::config::Secret::new(imap);
        c.email.smtp_url = switchboard::config::Secret::new(smtp);
        c.email.from = FROM.into();
        c.email.processed_folder = "Archive".into();
    })
    .await;
    let m = Mail { app, dovecot, sink };
    m.dovecot
        .deliver_all(&[
            plain("a@corp.example", "One", "cf1@corp.example", "x"),
            plain("b@corp.example", "Two", "cf2@corp.example", "y"),
        ])
        .await;
    assert_eq!(m.poll().await, 2);
    assert_eq!(m.dovecot.count("INBOX").await, 0, "expunged from the INBOX");
    assert_eq!(m.dovecot.count("Archive").await, 2, "copied to the folder");
    m.dovecot
        .deliver(plain("c@corp.example", "Three", "cf3@corp.example", "z"))
        .await;
    assert_eq!(m.poll().await, 1);
    assert_eq!(m.app.tickets().await.len(), 3, "each read once");
    assert_eq!(m.dovecot.count("Archive").await, 3);
}

#[tokio::test]
async fn the_admin_console_shows_when_each_mailbox_was_checked_and_why_it_fails() {
    let m = mail_app().await;
    crate::support::console::person_with_password(
        &m.app,
        &m.app.token,
        "Ada Admin",
        "ada@corp.example",
        &["admin"],
    )
    .await;
    let ada = crate::support::console::Visitor::new(&m.app);
    ada.sign_in("ada@corp.example", crate::support::console::PASSWORD)
        .await;
    assert!(!ada
        .get("/console/admin")
        .await
        .html
        .contains("last checked"));

    m.dovecot
        .deliver(plain("p@corp.example", "Hello", "m1@corp.example", "hi"))
        .await;
    assert_eq!(m.poll().await, 1);
    let page = ada.get("/console/admin").await;
    assert!(page.html.contains("<h3>Mailboxes</h3>"), "{}", page.html);
    assert!(page.html.contains("last checked"));
    assert!(!page.html.contains("failing"));

    // The same mailbox with a wrong password: the failure shows, with the
    // last good check kept.
    let wrong = m.dovecot.url().replace("imap-secret", "wrong-password");
    let mut email = m.app.config.email.clone();
    email.imap_url = switchboard::config::Secret::new(wrong);
    let worker = MailboxWorker::new(m.app.desk.clone(), &email.mailboxes()[0], &email)
        .await
        .expect("worker");
    assert!(worker.poll_once().await.is_err());
    let page = ada.get("/console/admin").await;
    assert!(page.html.contains("last checked"));
    assert!(page.html.contains("failing at"), "{}", page.html);
    assert!(page.html.contains("login as"), "{}", page.html);
    // Not the password itself.
    assert!(!page.html.contains("wrong-password"));
}
