//! Merging a duplicate into the ticket that goes on: what moves, what B
//! becomes, who is told; refusals; mail to the merged ticket landing on
//! the survivor; and reply-all copies of one mail through two mailboxes
//! making one ticket.

use reqwest::StatusCode;
use serde_json::{json, Value};
use switchboard::{config::MailboxConfig, workers::mail::imap::MailboxWorker};

use crate::{
    helpers::{error_fields, expect_json, spawn_app, spawn_app_with, Receiver, TestApp},
    support::{desk::number, dovecot::Dovecot, smtp::SmtpSink},
};

async fn merge(app: &TestApp, token: &str, from: &str, into: &str) -> reqwest::Response {
    app.post(
        &format!("/api/v1/tickets/{from}/merge"),
        token,
        &json!({ "into": into }),
    )
    .await
}

async fn blocks(app: &TestApp, from: &str, to: &str) -> reqwest::Response {
    app.post(
        &format!("/api/v1/tickets/{from}/links"),
        &app.token,
        &json!({ "to": to, "kind": "blocks" }),
    )
    .await
}

async fn raise(app: &TestApp, token: &str, title: &str, description: &str) -> String {
    number(
        &expect_json(
            app.post(
                "/api/v1/tickets",
                token,
                &json!({ "kind": "incident", "title": title, "description": description }),
            )
            .await,
            StatusCode::CREATED,
        )
        .await,
    )
}

async fn inbox_events(app: &TestApp, token: &str, event: &str) -> Vec<Value> {
    let inbox: Vec<Value> = app.get_json("/api/v1/me/inbox", token).await;
    inbox.into_iter().filter(|m| m["event"] == event).collect()
}

/// The whole merge as people see it; run on Postgres here and on SQLite
/// in `sqlite.rs`.
pub async fn merge_story(app: &TestApp) {
    let receiver = Receiver::default();
    let addr = receiver.serve("127.0.0.1:0".parse().expect("addr")).await;
    app.subscribe(&format!("http://{addr}/hook")).await;
    let (_, rita) = app
        .person_with_token("Rita Requester", "rita@corp.example", &["requester"])
        .await;
    let (_, bob_token) = app
        .person_with_token("Bob Requester", "bob@corp.example", &["requester"])
        .await;
    let (wendy, _) = app
        .person_with_token("Wendy Watcher", "wendy@corp.example", &["requester"])
        .await;
    let a = raise(app, &rita, "Email is down", "Nobody gets mail since nine.").await;
    let b = raise(
        app,
        &bob_token,
        "Cannot send mail",
        "Outlook says the server is gone.",
    )
    .await;
    let said = app.comment(&b, "Looking into the relay.").await;
    app.note(&b, "Relay queue is full.").await;
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"Undeliverable: 554 relay".to_vec())
            .file_name("bounce.txt"),
    );
    let upload = app
        .client
        .post(app.url(&format!("/api/v1/tickets/{b}/attachments")))
        .bearer_auth(&app.token)
        .multipart(form)
        .send()
        .await
        .expect("sent");
    let file = expect_json(upload, StatusCode::CREATED).await;
    expect_json(
        app.post(
            &format!("/api/v1/tickets/{b}/watchers"),
            &app.token,
            &json!({ "person": wendy["id"] }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    app.dispatcher.drain().await.expect("dispatch");

    let merged = expect_json(merge(app, &app.token, &b, &a).await, StatusCode::OK).await;
    assert_eq!(merged["ticket"]["number"], b.as_str());
    assert_eq!(merged["ticket"]["state"], "closed");
    assert_eq!(merged["ticket"]["merged_into"], a.as_str());
    assert_eq!(merged["into"]["number"], a.as_str());
    assert_eq!(merged["comments"], 3, "the description and two comments");
    assert_eq!(merged["attachments"], 1);
    assert_eq!(merged["watchers"], 2, "Bob and Wendy");

    // B: closed as merged into A, with the link; A: the other end.
    let b_json = app.ticket(&b).await;
    assert_eq!(b_json["state"], "closed");
    assert_eq!(b_json["merged_into"], a.as_str());
    assert_eq!(b_json["links"][0]["ticket"], a.as_str());
    assert_eq!(b_json["links"][0]["kind"], "duplicate_of");
    let a_json = app.ticket(&a).await;
    assert!(a_json.get("merged_into").is_none(), "{a_json}");
    assert_eq!(a_json["links"][0]["ticket"], b.as_str());
    assert_eq!(a_json["links"][0]["kind"], "duplicated_by");
    assert_eq!(a_json["state"], "new");

    // A has B's conversation, as written, marked as coming from B; B keeps its own.
    let on_a = app.comments(&a).await;
    assert_eq!(on_a.len(), 3, "{on_a:#?}");
    assert!(
        on_a.iter().all(|c| c["merged_from"] == b.as_str()),
        "{on_a:#?}"
    );
    assert_eq!(on_a[0]["author"]["name"], "Bob Requester");
    assert!(on_a[0]["body"]
        .as_str()
        .unwrap_or_default()
        .contains("Outlook says the server is gone."));
    let copied = on_a
        .iter()
        .find(|c| c["body"] == "Looking into the relay.")
        .expect("the public comment");
    assert_eq!(copied["created_at"], said["created_at"]);
    assert_eq!(copied["author"], said["author"]);
    assert_ne!(copied["id"], said["id"]);
    assert!(on_a
        .iter()
        .any(|c| c["body"] == "Relay queue is full." && c["internal"] == true));
    let on_b = app.comments(&b).await;
    assert_eq!(on_b.len(), 2);
    assert!(on_b.iter().all(|c| c.get("merged_from").is_none()));
    let files = app.attachments(&a).await;
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["sha256"], file["sha256"]);
    assert_eq!(files[0]["filename"], "bounce.txt");
    let watchers: Vec<Value> = app
        .get_json(&format!("/api/v1/tickets/{a}/watchers"), &app.token)
        .await;
    let names: Vec<&str> = watchers.iter().filter_map(|w| w["name"].as_str()).collect();
    assert_eq!(names, ["Bob Requester", "Wendy Watcher"]);
    // Bob follows A now, and sees its public side only.
    let bob_sees: Vec<Value> = app
        .get_json(&format!("/api/v1/tickets/{a}/comments"), &bob_token)
        .await;
    assert_eq!(bob_sees.len(), 2, "{bob_sees:#?}");
    assert_eq!(
        app.activity_where(&b, "merged").await[0]["new_value"],
        a.as_str()
    );
    assert_eq!(
        app.activity_where(&a, "merged").await[0]["new_value"],
        b.as_str()
    );
    assert!(app
        .activity_where(&b, "state_changed")
        .await
        .iter()
        .any(|e| e["new_value"] == "closed"));

    // Each requester is told once.
    assert_eq!(inbox_events(app, &rita, "ticket.merged").await.len(), 1);
    let told_bob = inbox_events(app, &bob_token, "ticket.merged").await;
    assert_eq!(told_bob.len(), 1);
    assert!(told_bob[0]["text"]
        .as_str()
        .unwrap_or_default()
        .contains(&format!("merged into {a}")));
    assert_eq!(
        inbox_events(app, &bob_token, "ticket.state_changed")
            .await
            .len(),
        0,
        "the closing is not a second message"
    );

    app.dispatcher.drain().await.expect("dispatch");
    let events: Vec<Value> = receiver.received().iter().map(|r| r.json()).collect();
    let merged_events: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "ticket.merged")
        .collect();
    assert_eq!(merged_events.len(), 1);
    assert_eq!(merged_events[0]["ticket"]["number"], b.as_str());
    assert_eq!(merged_events[0]["ticket"]["merged_into"], a.as_str());
    assert_eq!(merged_events[0]["details"]["into"]["number"], a.as_str());
    assert!(events
        .iter()
        .any(|e| e["type"] == "ticket.state_changed" && e["ticket"]["number"] == b.as_str()));

    // Done for good: B moves no more and is not merged twice.
    assert_eq!(
        app.transition(&b, "in_progress").await.status(),
        StatusCode::CONFLICT
    );
    let c = raise(app, &rita, "Mail still down", "").await;
    let problem = expect_json(
        merge(app, &app.token, &b, &c).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&problem), ["ticket"]);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("already merged"),
        "{problem}"
    );
}

#[tokio::test]
async fn a_merge_copies_the_conversation_closes_the_duplicate_and_tells_each_requester_once() {
    let app = spawn_app().await;
    merge_story(&app).await;
}

#[tokio::test]
async fn merges_across_kinds_into_itself_or_into_finished_tickets_are_refused_with_the_field() {
    let app = spawn_app().await;
    let incident = number(&app.create_ticket("incident", "VPN drops").await);
    let change = number(&app.create_ticket("change", "Replace the VPN gateway").await);
    let closed = number(&app.create_ticket("incident", "VPN slow last week").await);
    for to in ["resolved", "closed"] {
        assert_eq!(app.transition(&closed, to).await.status(), StatusCode::OK);
    }
    let cases = [
        (
            &incident,
            &change,
            "into",
            "only tickets of one kind merge: this is incident, the other is change",
        ),
        (&incident, &incident, "into", "cannot be merged into itself"),
        (
            &incident,
            &closed,
            "into",
            "is closed; merge into an open ticket",
        ),
        (
            &closed,
            &incident,
            "ticket",
            "is closed and cannot be merged",
        ),
    ];
    for (from, into, field, says) in cases {
        let problem = expect_json(
            merge(&app, &app.token, from, into).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(problem["code"], "validation_failed");
        assert_eq!(error_fields(&problem), [field], "{problem}");
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(says), "{says}: {problem}");
        assert!(
            detail.contains(&format!("cannot merge {from} into {into}")),
            "{problem}"
        );
    }
    let missing = expect_json(
        app.post(
            &format!("/api/v1/tickets/{incident}/merge"),
            &app.token,
            &json!({ "to": change }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        missing["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("into"),
        "{missing}"
    );

    // A merged ticket takes no merges either; one linked the other way round is refused.
    let first = number(&app.create_ticket("incident", "VPN: first report").await);
    let second = number(&app.create_ticket("incident", "VPN: second report").await);
    expect_json(
        merge(&app, &app.token, &second, &first).await,
        StatusCode::OK,
    )
    .await;
    let problem = expect_json(
        merge(&app, &app.token, &incident, &second).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&problem), ["into"]);
    assert!(problem["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("merge into that one"));
    expect_json(
        app.post(
            &format!("/api/v1/tickets/{first}/links"),
            &app.token,
            &json!({ "to": incident, "kind": "duplicate_of" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let problem = expect_json(
        merge(&app, &app.token, &incident, &first).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("remove that link first"),
        "{problem}"
    );
    for (ticket, state) in [(&incident, "new"), (&change, "new"), (&first, "new")] {
        assert_eq!(app.ticket(ticket).await["state"], state);
    }
}

const FROM: &str = "Help Desk <help@corp.example>";

struct Mail {
    app: TestApp,
    dovecots: Vec<Dovecot>,
    sink: SmtpSink,
}

/// The app reading `mailboxes` Dovecot servers as mailboxes of one organization.
async fn mail_app(mailboxes: usize) -> Mail {
    let mut dovecots = Vec::new();
    for _ in 0..mailboxes {
        dovecots.push(Dovecot::start().await);
    }
    let sink = SmtpSink::start().await;
    let urls: Vec<String> = dovecots.iter().map(Dovecot::url).collect();
    let smtp = sink.url();
    let app = spawn_app_with(|c| {
        c.email.imap_url = switchboard::config::Secret::new(urls[0].clone());
        c.email.smtp_url = switchboard::config::Secret::new(smtp);
        c.email.from = FROM.into();
        c.email.poll_interval = 1;
        c.email.mailboxes = urls[1..]
            .iter()
            .map(|url| MailboxConfig {
                imap_url: switchboard::config::Secret::new(url.clone()),
                ..MailboxConfig::default()
            })
            .collect();
    })
    .await;
    Mail {
        app,
        dovecots,
        sink,
    }
}

impl Mail {
    /// One pass of mailbox `i`'s worker, then the outbox delivered.
    async fn poll(&self, i: usize) -> usize {
        let email = &self.app.config.email;
        let worker = MailboxWorker::new(self.app.desk.clone(), &email.mailboxes()[i], email)
            .await
            .expect("mailbox worker");
        let pass = worker.poll_once().await.expect("poll");
        self.app.dispatcher.drain().await.expect("drain");
        pass.processed
    }

    /// Every mailbox, once each.
    async fn poll_all(&self) {
        for i in 0..self.dovecots.len() {
            self.poll(i).await;
        }
    }
}

fn mail(from: &str, to: &str, subject: &str, headers: &str, body: &str) -> Vec<u8> {
    format!(
        "{headers}From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Date: Mon, 07 Dec 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn a_later_mail_reply_to_the_merged_ticket_lands_on_the_survivor() {
    let m = mail_app(1).await;
    let app = &m.app;
    let dovecot = &m.dovecots[0];
    dovecot
        .deliver(mail(
            "bob@corp.example",
            "help@corp.example",
            "Mail bounces",
            "Message-ID: <b1@corp.example>\r\n",
            "Every mail bounces.",
        ))
        .await;
    m.poll(0).await;
    dovecot
        .deliver(mail(
            "ann@corp.example",
            "help@corp.example",
            "Mail is down",
            "Message-ID: <a1@corp.example>\r\n",
            "No mail at all.",
        ))
        .await;
    m.poll(0).await;
    let b = number(&app.ticket_titled("Mail bounces").await);
    let a = number(&app.ticket_titled("Mail is down").await);
    let ack = m.sink.to("bob@corp.example").remove(0);

    expect_json(merge(app, &app.token, &b, &a).await, StatusCode::OK).await;
    app.dispatcher.drain().await.expect("drain");

    // A reply in B's mail thread, and a new mail with B's number in the subject.
    dovecot
        .deliver(mail(
            "bob@corp.example",
            "help@corp.example",
            &format!("Re: {}", ack.subject()),
            &format!(
                "Message-ID: <b2@corp.example>\r\nIn-Reply-To: <{id}>\r\nReferences: <{id}>\r\n",
                id = ack.message_id()
            ),
            "Still bouncing.\r\n\r\nOn Mon, Help Desk wrote:\r\n> we have received your request",
        ))
        .await;
    dovecot
        .deliver(mail(
            "bob@corp.example",
            "help@corp.example",
            &format!("More on [{b}]"),
            "Message-ID: <b3@corp.example>\r\n",
            "It also happens on my phone.",
        ))
        .await;
    m.poll(0).await;
    assert_eq!(app.tickets().await.len(), 2, "no new ticket");
    let bodies: Vec<String> = app
        .comments(&a)
        .await
        .iter()
        .filter(|c| c.get("merged_from").is_none())
        .filter_map(|c| c["body"].as_str().map(str::to_string))
        .collect();
    assert_eq!(bodies, ["Still bouncing.", "It also happens on my phone."]);
    assert_eq!(app.comments(&b).await.len(), 0, "nothing more on B");

    // Each requester got one mail about the merge.
    for who in ["bob@corp.example", "ann@corp.example"] {
        let told: Vec<_> = m
            .sink
            .to(who)
            .into_iter()
            .filter(|mail| {
                mail.subject().contains(b.as_str()) && mail.text().contains("was merged into")
            })
            .collect();
        assert_eq!(told.len(), 1, "{who}");
    }
}

#[tokio::test]
async fn reply_all_copies_through_two_mailboxes_make_one_ticket_and_one_comment() {
    let m = mail_app(2).await;
    let app = &m.app;
    let to = "help@corp.example, it@corp.example";
    // The same message, each copy with the trace headers of its own delivery.
    let copy = |delivered_to: &str, id_header: &str, subject: &str, body: &str| {
        mail(
            "carol@corp.example",
            to,
            subject,
            &format!("Received: from mx.corp.example by {delivered_to}\r\nDelivered-To: {delivered_to}\r\n{id_header}"),
            body,
        )
    };
    let id = "Message-ID: <printer1@corp.example>\r\n";
    m.dovecots[0]
        .deliver(copy("help@corp.example", id, "Printer on fire", "Smoke!"))
        .await;
    m.dovecots[1]
        .deliver(copy("it@corp.example", id, "Printer on fire", "Smoke!"))
        .await;
    m.poll_all().await;
    let tickets = app.tickets().await;
    assert_eq!(tickets.len(), 1, "{tickets:#?}");
    let number = number(&tickets[0]);
    assert_eq!(
        m.sink.to("carol@corp.example").len(),
        1,
        "one acknowledgement"
    );

    // Her reply-all to the acknowledgement reaches both mailboxes too.
    let ack = m.sink.to("carol@corp.example").remove(0);
    let reply_id = format!(
        "Message-ID: <printer2@corp.example>\r\nIn-Reply-To: <{id}>\r\nReferences: <{id}>\r\n",
        id = ack.message_id()
    );
    m.dovecots[1]
        .deliver(copy(
            "it@corp.example",
            &reply_id,
            &format!("Re: {}", ack.subject()),
            "Fire is out.",
        ))
        .await;
    m.dovecots[0]
        .deliver(copy(
            "help@corp.example",
            &reply_id,
            &format!("Re: {}", ack.subject()),
            "Fire is out.",
        ))
        .await;
    m.poll_all().await;
    let comments = app.comments(&number).await;
    assert_eq!(comments.len(), 1, "{comments:#?}");
    assert_eq!(comments[0]["body"], "Fire is out.");

    // Without a Message-ID, what the sender wrote decides.
    m.dovecots[0]
        .deliver(copy(
            "help@corp.example",
            "",
            "Scanner jammed",
            "Paper stuck.",
        ))
        .await;
    m.dovecots[1]
        .deliver(copy(
            "it@corp.example",
            "",
            "Scanner jammed",
            "Paper stuck.",
        ))
        .await;
    m.poll_all().await;
    let titles: Vec<String> = app
        .tickets()
        .await
        .iter()
        .filter_map(|t| t["title"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        titles.iter().filter(|t| *t == "Scanner jammed").count(),
        1,
        "{titles:?}"
    );
    assert_eq!(titles.len(), 2);
    assert_eq!(
        m.dovecots[0].seen_and_unseen().await,
        (3, 0),
        "every copy is taken in"
    );
    assert_eq!(m.dovecots[1].seen_and_unseen().await, (3, 0));
}

#[tokio::test]
async fn a_reply_in_the_merged_tickets_slack_thread_lands_on_the_survivor_and_its_news_reach_that_thread(
) {
    let (app, fake, _) = crate::support::slack::spawn_slack_app().await;
    let dm_ts = "1700000100.000100";
    let opened = crate::support::slack::event(
        "EvMerge1",
        crate::support::slack::direct_message("UREQ", "VPN keeps dropping", dm_ts, None),
    );
    assert_eq!(app.post_slack_event(&opened).await.status(), StatusCode::OK);
    app.dispatcher.drain().await.expect("deliver");
    let b = number(&app.ticket_titled("VPN keeps dropping").await);
    let a = number(&app.create_ticket("incident", "VPN down for everyone").await);
    expect_json(merge(&app, &app.token, &b, &a).await, StatusCode::OK).await;
    app.dispatcher.drain().await.expect("deliver");

    let reply = crate::support::slack::event(
        "EvMerge2",
        crate::support::slack::direct_message(
            "UREQ",
            "Dropped again at 10:05",
            "1700000100.000200",
            Some(dm_ts),
        ),
    );
    assert_eq!(app.post_slack_event(&reply).await.status(), StatusCode::OK);
    let on_a: Vec<String> = app
        .comments(&a)
        .await
        .iter()
        .filter(|c| c.get("merged_from").is_none())
        .filter_map(|c| c["body"].as_str().map(str::to_string))
        .collect();
    assert_eq!(on_a, ["Dropped again at 10:05"]);
    assert!(app.comments(&b).await.is_empty());

    // What happens on A now reaches the requester's thread of B.
    app.comment(&a, "The gateway was replaced; please try again.")
        .await;
    app.dispatcher.drain().await.expect("deliver");
    let in_thread = fake
        .posted_messages()
        .into_iter()
        .filter(|p| p["thread_ts"] == dm_ts)
        .filter(|p| {
            p["text"]
                .as_str()
                .unwrap_or_default()
                .contains("The gateway was replaced")
        })
        .count();
    assert_eq!(in_thread, 1);
}

#[tokio::test]
async fn opposite_merges_and_links_at_once_lock_both_tickets_in_one_order_and_one_wins() {
    let app = spawn_app().await;
    for round in 0..5 {
        let a = number(
            &app.create_ticket("incident", &format!("Round {round}: A"))
                .await,
        );
        let b = number(
            &app.create_ticket("incident", &format!("Round {round}: B"))
                .await,
        );
        let (one, other) = tokio::join!(
            merge(&app, &app.token, &b, &a),
            merge(&app, &app.token, &a, &b)
        );
        let mut statuses = [one.status().as_u16(), other.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [200, 422],
            "round {round}: one merge, one refusal"
        );
        let merged = [app.ticket(&a).await, app.ticket(&b).await]
            .iter()
            .filter(|t| t["state"] == "closed" && t.get("merged_into").is_some())
            .count();
        assert_eq!(merged, 1, "round {round}");

        let c = number(
            &app.create_ticket("incident", &format!("Round {round}: C"))
                .await,
        );
        let d = number(
            &app.create_ticket("incident", &format!("Round {round}: D"))
                .await,
        );
        let (one, other) = tokio::join!(blocks(&app, &c, &d), blocks(&app, &d, &c));
        let mut statuses = [one.status().as_u16(), other.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [201, 422],
            "round {round}: one link, one contradiction"
        );
    }
}
