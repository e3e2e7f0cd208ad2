//! One storage story, run on both backends: what the repository functions
//! write reads back the same on SQLite and on Postgres.

use std::time::Duration;

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

async fn story(db: Db) {
    let now = store::now();
    let mut tx = db.begin().await.expect("begin");
    let org = OrgRow {
        id: Uuid::now_v7(),
        slug: "acme".into(),
        name: "Acme".into(),
        priority_matrix: Json(json!({})),
        mfa_required: false,
        created_at: now,
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
        let t = NewTicket {
            id: Uuid::now_v7(),
            org_id: org.id,
            kind: "incident".into(),
            title: title.to_string(),
            description: String::new(),
            state: "new".into(),
            impact: "low".into(),
            urgency: "low".into(),
            priority: "p5".into(),
            requester_id: None,
            assignee_id: None,
            team_id: None,
            category_id: None,
            channel: "api".into(),
            created_at: now + chrono::Duration::milliseconds(i as i64),
        };
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
    let duplicate = NewTicket {
        id: Uuid::now_v7(),
        org_id: org.id,
        kind: "incident".into(),
        title: "dup".into(),
        description: String::new(),
        state: "new".into(),
        impact: "low".into(),
        urgency: "low".into(),
        priority: "p5".into(),
        requester_id: None,
        assignee_id: None,
        team_id: None,
        category_id: None,
        channel: "api".into(),
        created_at: now,
    };
    let error = store::tickets::insert_ticket(&mut tx, &duplicate, "INC0000001")
        .await
        .expect_err("duplicate number");
    assert!(store::is_unique_violation(&error));
}

#[tokio::test]
async fn the_storage_story_holds_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("story.db").display());
    let db = Db::connect(&url, 4, Duration::from_secs(5))
        .await
        .expect("sqlite");
    db.migrate().await.expect("migrate");
    assert!(db.migrations_applied().await.expect("check"));
    story(db).await;
}

#[tokio::test]
async fn the_storage_story_holds_on_postgres() {
    let url = fresh_database().await;
    let db = Db::connect(&url, 4, Duration::from_secs(5))
        .await
        .expect("postgres");
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
