//! One storage story, run on both backends: what the repository functions
//! write reads back the same on SQLite and on Postgres.

use std::time::Duration;

use chrono::{DateTime, Utc};

use serde_json::json;
use sqlx::types::Json;
use switchboard::store::{
    self,
    orgs::OrgRow,
    outbox::OutboxRow,
    tickets::{NewTicket, SortField, TicketFilter, TicketPage},
    timers::TimerRow,
    Db, Exec,
};
use uuid::Uuid;

use crate::helpers::fresh_database;

fn org_row(slug: &str, name: &str) -> OrgRow {
    OrgRow {
        id: Uuid::now_v7(),
        slug: slug.into(),
        name: name.into(),
        priority_matrix: Json(json!({})),
        mfa_required: false,
        created_at: store::now(),
        time_zone: "UTC".into(),
    }
}

fn incident(org_id: Uuid, title: &str, channel: &str, created_at: DateTime<Utc>) -> NewTicket {
    NewTicket {
        id: Uuid::now_v7(),
        org_id,
        kind: "incident".into(),
        title: title.into(),
        description: String::new(),
        state: "new".into(),
        impact: "low".into(),
        urgency: "low".into(),
        priority: "p5".into(),
        requester_id: None,
        assignee_id: None,
        team_id: None,
        category_id: None,
        channel: channel.into(),
        created_at,
    }
}

async fn story(db: Db) {
    let now = store::now();
    let mut tx = db.begin().await.expect("begin");
    let org = OrgRow {
        created_at: now,
        ..org_row("acme", "Acme")
    };
    store::orgs::insert_org(&mut tx, &org).await.expect("org");
    let found = store::orgs::find_org_by_slug(&mut tx, "acme")
        .await
        .expect("query")
        .expect("found");
    assert_eq!(
        (found.id, found.created_at),
        (org.id, now),
        "uuid and timestamp round-trip exactly"
    );

    // Numbers are per organization and kind, consecutive.
    let seqs = [
        store::tickets::next_ticket_seq(&mut tx, org.id, "incident")
            .await
            .expect("seq"),
        store::tickets::next_ticket_seq(&mut tx, org.id, "incident")
            .await
            .expect("seq"),
        store::tickets::next_ticket_seq(&mut tx, org.id, "change")
            .await
            .expect("seq"),
    ];
    assert_eq!(seqs, [1, 2, 1]);

    for (i, title) in ["Alpha_1 100%", "beta", "Gamma"].iter().enumerate() {
        let t = incident(
            org.id,
            title,
            "api",
            now + chrono::Duration::milliseconds(i as i64),
        );
        store::tickets::insert_ticket(&mut tx, &t, &format!("INC{:07}", i + 1))
            .await
            .expect("ticket");
    }
    tx.commit().await.expect("commit");

    // Text search is case-insensitive and treats LIKE wildcards literally.
    let page = TicketPage {
        sort: SortField::Created,
        descending: false,
        after: None,
        limit: 10,
    };
    let search = |text: &str| TicketFilter {
        text: Some(text.into()),
        ..TicketFilter::default()
    };
    let hits = store::tickets::list_tickets(Exec::Db(&db), org.id, &search("ALPHA_1 100%"), &page)
        .await
        .expect("list");
    assert_eq!(hits.len(), 1);
    let none = store::tickets::list_tickets(Exec::Db(&db), org.id, &search("a_p"), &page)
        .await
        .expect("list");
    assert!(none.is_empty(), "`_` is not a wildcard");
    let all = store::tickets::list_tickets(Exec::Db(&db), org.id, &TicketFilter::default(), &page)
        .await
        .expect("list");
    let titles: Vec<_> = all.iter().map(|t| t.title.as_str()).collect();
    assert_eq!(titles, ["Alpha_1 100%", "beta", "Gamma"]);
    let after_first = TicketPage {
        after: Some((all[0].created_at, all[0].id)),
        ..page.clone()
    };
    let rest = store::tickets::list_tickets(
        Exec::Db(&db),
        org.id,
        &TicketFilter::default(),
        &after_first,
    )
    .await
    .expect("list");
    assert_eq!(rest.len(), 2);

    // Outbox claims lease rows: a claimed row is not claimed again until due.
    let mut tx = db.begin().await.expect("begin");
    let message = OutboxRow {
        id: Uuid::now_v7(),
        org_id: org.id,
        channel: "webhook".into(),
        target: "x".into(),
        event: "ticket.created".into(),
        payload: Json(json!({ "a": 1 })),
        state: "pending".into(),
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
        created_at: now,
        delivered_at: None,
    };
    store::outbox::insert_outbox(&mut tx, std::slice::from_ref(&message))
        .await
        .expect("outbox");
    let timer = TimerRow {
        id: Uuid::now_v7(),
        org_id: org.id,
        kind: "auto_close".into(),
        ticket_id: None,
        payload: Json(json!({})),
        due_at: now,
        created_at: now,
    };
    store::timers::insert_timer(&mut tx, &timer)
        .await
        .expect("timer");
    tx.commit().await.expect("commit");

    let later = store::now() + chrono::Duration::seconds(1);
    let claimed = store::outbox::claim_due_outbox(
        &db,
        "webhook",
        later,
        later + chrono::Duration::seconds(60),
        10,
    )
    .await
    .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].attempts, 1);
    assert_eq!(claimed[0].payload.0, json!({ "a": 1 }));
    let again = store::outbox::claim_due_outbox(
        &db,
        "webhook",
        later,
        later + chrono::Duration::seconds(60),
        10,
    )
    .await
    .expect("claim");
    assert!(again.is_empty(), "leased");
    store::outbox::mark_delivered(&db, message.id, later)
        .await
        .expect("mark");
    assert_eq!(
        store::outbox::count_by_state(&db, Some(org.id))
            .await
            .expect("count"),
        vec![("delivered".to_string(), 1)]
    );

    let mut tx = db.begin().await.expect("begin");
    let due = store::timers::claim_due_timer(&mut tx, later)
        .await
        .expect("claim")
        .expect("due");
    assert_eq!(due.id, timer.id);
    store::timers::delete_timer(&mut tx, due.id)
        .await
        .expect("delete");
    tx.commit().await.expect("commit");
    let mut tx = db.begin().await.expect("begin");
    assert!(store::timers::claim_due_timer(&mut tx, later)
        .await
        .expect("claim")
        .is_none());

    // The unique constraint on numbers is reported as such.
    let duplicate = incident(org.id, "dup", "api", now);
    let error = store::tickets::insert_ticket(&mut tx, &duplicate, "INC0000001")
        .await
        .expect_err("duplicate number");
    assert!(store::is_unique_violation(&error));
}

/// A migrated SQLite database in `dir`.
async fn sqlite_db(dir: &tempfile::TempDir) -> Db {
    let url = format!("sqlite://{}", dir.path().join("story.db").display());
    let db = Db::connect(&url, 4, Duration::from_secs(5))
        .await
        .expect("sqlite");
    db.migrate().await.expect("migrate");
    db
}

/// A fresh, migrated Postgres database.
async fn postgres_db() -> Db {
    let url = fresh_database().await;
    Db::connect(&url, 4, Duration::from_secs(5))
        .await
        .expect("postgres")
}

#[tokio::test]
async fn the_storage_story_holds_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let db = sqlite_db(&dir).await;
    assert!(db.migrations_applied().await.expect("check"));
    story(db).await;
}

#[tokio::test]
async fn the_storage_story_holds_on_postgres() {
    let db = postgres_db().await;
    assert!(db.migrations_applied().await.expect("check"));
    story(db).await;
}

#[tokio::test]
async fn every_foreign_key_has_an_index_on_postgres() {
    let url = fresh_database().await;
    let db = Db::connect(&url, 1, Duration::from_secs(5))
        .await
        .expect("postgres");
    let Db::Postgres(pool) = &db else {
        panic!("postgres")
    };
    let unindexed: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c \
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
         WHERE c.contype = 'f' AND NOT EXISTS ( \
           SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])",
    )
    .fetch_all(pool)
    .await
    .expect("catalog query");
    assert!(
        unindexed.is_empty(),
        "foreign keys without an index: {unindexed:?}"
    );
}

/// Predicted numbers in turn, after the incident counter stood at 1: a
/// prediction that skips a number, or repeats one, moves nothing; a counter
/// not started yet starts at 1, not at a later prediction.
const PREDICTIONS: [(&str, i64, bool); 5] = [
    ("incident", 3, false),
    ("incident", 1, false),
    ("incident", 2, true),
    ("problem", 3, false),
    ("problem", 1, true),
];

/// SQLite numbers tickets with the counter row locked, never by
/// prediction: a predicted number given to its flush is refused and
/// nothing is written. Entries to chain are left to the daemon.
async fn chain_in_the_flush(db: &Db, org_id: Uuid, empty: &store::flush::Buffers<'_>) {
    use store::flush::{write_and_lock_head, AuditHead, Buffers, CounterMove};
    let mut tx = db.begin().await.expect("begin");
    let predicted = Buffers {
        counter: Some(CounterMove {
            org_id,
            kind: "incident",
            number: 1,
        }),
        ..*empty
    };
    let error = write_and_lock_head(&mut tx, predicted, None)
        .await
        .expect_err("no predictions on SQLite");
    assert!(matches!(error, sqlx::Error::InvalidArgument(_)), "{error}");
    let head = flush_entries(&mut tx, org_id, empty).await;
    assert_eq!(head, AuditHead::Locked(1, vec![7; 32]));
}

/// The same on Postgres, where COMMIT checks the counter and chains the
/// entries (`switchboard_seal`): a wrong prediction fails the COMMIT with
/// `SBNUM` and nothing of the transaction stays.
async fn counter_and_chain_at_commit(db: &Db, org_id: Uuid, empty: &store::flush::Buffers<'_>) {
    use store::flush::{write_and_lock_head, AuditHead, Buffers, CounterMove};
    for (kind, number, moves) in PREDICTIONS {
        let mut tx = db.begin().await.expect("begin");
        let rows = Buffers {
            counter: Some(CounterMove {
                org_id,
                kind,
                number,
            }),
            ..*empty
        };
        let head = write_and_lock_head(&mut tx, rows, None)
            .await
            .expect("flush");
        assert_eq!(head, AuditHead::None);
        match tx.commit().await {
            Ok(()) => assert!(moves, "{kind} moved to {number}"),
            Err(error) => {
                assert!(!moves, "{kind} to {number}: {error}");
                assert!(store::tickets::is_number_taken(&error), "{error}");
            }
        }
    }
    let mut tx = db.begin().await.expect("begin");
    assert_eq!(
        store::tickets::last_ticket_seq(&mut tx, org_id, "incident")
            .await
            .expect("counter"),
        2
    );
    let head = flush_entries(&mut tx, org_id, empty).await;
    assert_eq!(head, AuditHead::Staged);
    tx.commit().await.expect("commit chains");
    let second = br#"{"action":"x","seq":2,"subject":"ticket.updated"}"#;
    let third = br#"{"action":"x","seq":3,"subject":"ticket.commented"}"#;
    let hash2 = switchboard::domain::audit::chain_hash(&[7; 32], second);
    let hash3 = switchboard::domain::audit::chain_hash(&hash2, third);
    let mut tx = db.begin().await.expect("begin");
    let head = store::audit::lock_audit_head(&mut tx, org_id)
        .await
        .expect("head");
    assert_eq!(head, (3, hash3.to_vec()), "the head moved with the entries");
    let stored = store::audit::list_audit(db, org_id, 1, 10)
        .await
        .expect("audit");
    let contents: Vec<&str> = stored.iter().map(|r| r.content.as_str()).collect();
    assert_eq!(
        contents,
        [
            r#"{"action":"x","seq":2,"subject":"ticket.updated"}"#,
            r#"{"action":"x","seq":3,"subject":"ticket.commented"}"#
        ]
    );
}

/// Two audit entries go to the flush, which answers what became of the
/// head.
async fn flush_entries(
    tx: &mut store::Tx,
    org_id: Uuid,
    empty: &store::flush::Buffers<'_>,
) -> store::flush::AuditHead {
    let entries = chain_rows(store::now());
    let chained = store::flush::Buffers {
        audit: &entries,
        ..*empty
    };
    store::flush::write_and_lock_head(tx, chained, Some(org_id))
        .await
        .expect("chain")
}

/// Two audit entries as `desk::audit::chain_rows` would prepare them.
fn chain_rows(at: DateTime<Utc>) -> [store::flush::ChainRow; 2] {
    ["ticket.updated", "ticket.commented"].map(|action| store::flush::ChainRow {
        content_before_seq: r#"{"action":"x","seq":"#.into(),
        content_after_seq: format!(r#","subject":"{action}"}}"#),
        at,
        actor_id: None,
        action: action.into(),
        subject: "INC0000001".into(),
    })
}

/// The end-of-use-case write (`store::flush`): one statement on Postgres,
/// one per table on SQLite — the same rows either way, the audit head of a
/// new chain answered as genesis, and a second intake record under the same
/// key failing as a duplicate (and only that), and on Postgres a predicted
/// ticket number moving the counter only from just below it and audit
/// entries chained by the statement as the daemon would chain them.
async fn flush_story(db: Db) {
    use store::{
        activity::ActivityRow,
        audit::AuditRow,
        chat::ChatMessageRow,
        flush::{write_and_lock_head, AuditHead, Buffers, CounterMove},
        inbound::InboundRow,
        mail::MailMessageRow,
        tickets::AttachmentRow,
    };
    let now = store::now();
    let postgres = matches!(db, Db::Postgres(_));
    let mut tx = db.begin().await.expect("begin");
    let org = org_row("flush", "Flush");
    store::orgs::insert_org(&mut tx, &org).await.expect("org");
    let ticket = incident(org.id, "Printer on fire", "email", now);
    store::tickets::insert_ticket(&mut tx, &ticket, "INC0000001")
        .await
        .expect("ticket");

    let intake = InboundRow {
        source: "email".into(),
        key: "<m1@example.com>".into(),
        fingerprint: "f".into(),
        status: 201,
        response: Json(json!({ "number": "INC0000001" })),
        created_at: now,
    };
    let activity = [ActivityRow {
        id: Uuid::now_v7(),
        org_id: org.id,
        ticket_id: ticket.id,
        actor_id: None,
        actor_name: None,
        channel: "email".into(),
        action: "created".into(),
        field: None,
        old_value: None,
        new_value: Some("new".into()),
        created_at: now,
    }];
    let outbox: Vec<OutboxRow> = (0..2)
        .map(|i| OutboxRow {
            id: Uuid::now_v7(),
            org_id: org.id,
            channel: "email".into(),
            target: format!("person{i}@example.com"),
            event: "email.acknowledgement".into(),
            payload: Json(json!({ "i": i })),
            state: "pending".into(),
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            created_at: now,
            delivered_at: None,
        })
        .collect();
    let timers = [TimerRow {
        id: Uuid::now_v7(),
        org_id: org.id,
        kind: "sla.breach".into(),
        ticket_id: Some(ticket.id),
        payload: Json(json!({})),
        due_at: now + chrono::Duration::hours(4),
        created_at: now,
    }];
    let chat = [ChatMessageRow {
        id: Uuid::now_v7(),
        org_id: org.id,
        platform: "slack".into(),
        purpose: "requester_thread".into(),
        ticket_id: Some(ticket.id),
        approval_id: None,
        person_id: None,
        channel: "D1".into(),
        ts: "1700000000.000100".into(),
        outbox_id: None,
        created_at: now,
    }];
    let attachments: Vec<AttachmentRow> = ["a.txt", "original.eml"]
        .iter()
        .map(|name| AttachmentRow {
            id: Uuid::now_v7(),
            org_id: org.id,
            ticket_id: ticket.id,
            filename: name.to_string(),
            content_type: "text/plain".into(),
            size_bytes: 5,
            sha256: "0".repeat(64),
            uploaded_by: None,
            channel: "email".into(),
            created_at: now,
        })
        .collect();
    let mail = [MailMessageRow {
        org_id: org.id,
        message_id: "<m1@example.com>".into(),
        direction: store::mail::IN,
        ticket_id: Some(ticket.id),
        sender: "someone@example.com".into(),
        outbox_id: None,
        created_at: now,
    }];
    let rows = Buffers {
        inbound: Some(&intake),
        activity: &activity,
        outbox: &outbox,
        inbox: &[],
        timers: &timers,
        chat: &chat,
        attachments: &attachments,
        mail_messages: &mail,
        // The first number starts the counter at COMMIT (Postgres).
        counter: postgres.then_some(CounterMove {
            org_id: org.id,
            kind: "incident",
            number: 1,
        }),
        audit: &[],
    };
    let written = write_and_lock_head(&mut tx, rows, Some(org.id))
        .await
        .expect("flush");
    assert_eq!(
        written,
        AuditHead::Locked(0, vec![0; 32]),
        "a new chain starts at genesis"
    );
    // The head moves; the next flush answers where it stands.
    let entry = AuditRow {
        org_id: org.id,
        seq: 1,
        at: now,
        actor_id: None,
        action: "ticket.created".into(),
        subject: "INC0000001".into(),
        content: "{}".into(),
        hash: vec![7; 32],
    };
    store::audit::append_audit(&mut tx, &[entry])
        .await
        .expect("audit");
    tx.commit().await.expect("commit");

    let mut tx = db.begin().await.expect("begin");
    let recorded = store::inbound::find_inbound(&mut tx, "email", "<m1@example.com>")
        .await
        .expect("query")
        .expect("intake recorded");
    assert_eq!(recorded.response.0["number"], "INC0000001");
    let listed = store::activity::list_activity(Exec::Tx(&mut tx), org.id, ticket.id)
        .await
        .expect("activity");
    assert_eq!(listed.len(), 1);
    let queued = store::outbox::list_outbox(&mut tx, org.id, Some("pending"), 10)
        .await
        .expect("outbox");
    assert_eq!(queued.len(), 2);
    let scheduled = store::timers::list_ticket_timers(&mut tx, ticket.id)
        .await
        .expect("timers");
    assert_eq!(scheduled.len(), 1);
    let thread = store::chat::find_by_ts(&mut tx, "slack", "D1", "1700000000.000100")
        .await
        .expect("chat")
        .expect("thread recorded");
    assert_eq!(thread.ticket_id, Some(ticket.id));
    let files = store::tickets::list_attachments(Exec::Tx(&mut tx), org.id, ticket.id)
        .await
        .expect("attachments");
    assert_eq!(files.len(), 2);
    let threaded =
        store::mail::find_thread_ticket(&mut tx, org.id, &["<m1@example.com>".to_string()])
            .await
            .expect("mail");
    assert_eq!(threaded, Some(ticket.id));

    // Nothing buffered, no head asked: nothing written, no head answered.
    let empty = Buffers {
        inbound: None,
        activity: &[],
        outbox: &[],
        inbox: &[],
        timers: &[],
        chat: &[],
        attachments: &[],
        mail_messages: &[],
        counter: None,
        audit: &[],
    };
    let none = write_and_lock_head(&mut tx, empty, None)
        .await
        .expect("empty flush");
    assert_eq!(none, AuditHead::None);
    let again = Buffers {
        inbound: None,
        ..empty
    };
    let written = write_and_lock_head(&mut tx, again, Some(org.id))
        .await
        .expect("head");
    assert_eq!(written, AuditHead::Locked(1, vec![7; 32]));
    drop(tx); // rolls back
    if postgres {
        counter_and_chain_at_commit(&db, org.id, &empty).await;
    } else {
        chain_in_the_flush(&db, org.id, &empty).await;
    }

    // The same intake key again is a duplicate; a duplicate of another
    // table's key is not mistaken for one.
    let mut tx = db.begin().await.expect("begin");
    let repeat = Buffers {
        inbound: Some(&intake),
        ..empty
    };
    let error = write_and_lock_head(&mut tx, repeat, Some(org.id))
        .await
        .expect_err("duplicate intake");
    assert!(store::inbound::is_duplicate(&error), "{error}");
    drop(tx); // rolls back
    let mut tx = db.begin().await.expect("begin");
    let same_outbox = Buffers {
        outbox: &outbox[..1],
        ..empty
    };
    let error = write_and_lock_head(&mut tx, same_outbox, None)
        .await
        .expect_err("duplicate outbox id");
    assert!(store::is_unique_violation(&error));
    assert!(!store::inbound::is_duplicate(&error), "{error}");
    drop(tx); // rolls back
}

#[tokio::test]
async fn the_flush_writes_the_same_rows_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    flush_story(sqlite_db(&dir).await).await;
}

#[tokio::test]
async fn the_flush_writes_the_same_rows_on_postgres() {
    flush_story(postgres_db().await).await;
}

/// What a new ticket reads about its organization (`store::setup`): one
/// statement on Postgres, four reads on SQLite — the same lists either way,
/// each in the order of its own read (position, then creation or name).
async fn open_setup_story(db: Db) {
    use store::{rules::RuleRow, sla::EscalationPolicyRow, sla::PolicyRow, webhooks::WebhookRow};
    let now = store::now();
    let mut tx = db.begin().await.expect("begin");
    let org = org_row("setup", "Setup");
    store::orgs::insert_org(&mut tx, &org).await.expect("org");
    for (name, position) in [("late", 20), ("early", 10)] {
        let policy = PolicyRow {
            id: Uuid::now_v7(),
            org_id: org.id,
            name: name.into(),
            position,
            selector: Json(json!({ "kind": "incident" })),
            targets: Json(json!({ "resolution": { "minutes": 60 } })),
            warn_at_percent: Json(json!([80])),
            pause_states: Json(json!(["on_hold"])),
            on_reopen: "resume".into(),
            calendar_id: None,
            created_at: now,
            updated_at: now,
        };
        store::sla::upsert_policy(&mut tx, &policy)
            .await
            .expect("policy");
        let escalation = EscalationPolicyRow {
            id: Uuid::now_v7(),
            org_id: org.id,
            name: name.into(),
            position,
            selector: Json(json!({})),
            steps: Json(json!([{ "after_minutes": 5 }])),
            created_at: now,
            updated_at: now,
        };
        store::sla::upsert_escalation_policy(&mut tx, &escalation)
            .await
            .expect("escalation policy");
        for enabled in [true, false] {
            let rule = RuleRow {
                id: Uuid::now_v7(),
                org_id: org.id,
                name: format!("{name} {enabled}"),
                position: i32::try_from(position).expect("small"),
                enabled,
                on_event: "ticket.created".into(),
                match_all: true,
                conditions: Json(json!([])),
                actions: Json(json!([])),
                stop_processing: false,
                created_at: now,
                updated_at: now,
            };
            store::rules::insert_rule(&mut tx, &rule)
                .await
                .expect("rule");
            let webhook = WebhookRow {
                id: Uuid::now_v7(),
                org_id: org.id,
                url: format!("https://hooks.example/{name}"),
                secret: "s".into(),
                events: Json(vec!["*".into()]),
                active: enabled,
                created_at: now,
            };
            store::webhooks::insert_webhook(&mut tx, &webhook)
                .await
                .expect("webhook");
        }
    }
    let setup = store::setup::read_open_setup(&mut tx, org.id)
        .await
        .expect("setup");
    assert_eq!(
        setup
            .sla_policies
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["early", "late"]
    );
    assert_eq!(
        setup.sla_policies[0].targets.0,
        json!({ "resolution": { "minutes": 60 } })
    );
    assert_eq!(setup.sla_policies[0].created_at, now);
    assert_eq!(
        setup
            .escalation_policies
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["early", "late"]
    );
    assert_eq!(
        setup
            .rules
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        ["early true", "late true"],
        "enabled rules only"
    );
    let mut urls: Vec<String> = setup.webhooks.iter().map(|w| w.url.clone()).collect();
    urls.sort();
    assert_eq!(
        urls,
        ["https://hooks.example/early", "https://hooks.example/late"],
        "active subscriptions only"
    );
    let empty = store::setup::read_open_setup(&mut tx, Uuid::now_v7())
        .await
        .expect("setup of nobody");
    assert!(empty.webhooks.is_empty() && empty.sla_policies.is_empty() && empty.rules.is_empty());
}

#[tokio::test]
async fn a_new_ticket_reads_the_same_setup_on_postgres() {
    open_setup_story(postgres_db().await).await;
}

#[tokio::test]
async fn a_new_ticket_reads_the_same_setup_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    open_setup_story(sqlite_db(&dir).await).await;
}
