//! Ticket numbers stay gap-free and unique when they are predicted (see
//! `desk::numbering`): across replicas, after a wrong prediction, when a
//! use case opens two tickets of a kind, and when one fails after taking a
//! number.

use reqwest::StatusCode;
use serde_json::{json, Value};
use switchboard::{
    desk::{tickets::OpenTicket, Actor, DeskError},
    domain::Channel,
};

use crate::helpers::{fresh_database, spawn_on, TestApp};

/// Opens an incident through the API of `app`; answers its number.
async fn open(app: &TestApp, title: &str) -> String {
    let response = app
        .post(
            "/api/v1/tickets",
            &app.token,
            &json!({ "kind": "incident", "title": title }),
        )
        .await;
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["number"].as_str().expect("number").to_string()
}

/// The admin behind the app's token, as use cases see it.
async fn admin(app: &TestApp) -> Actor {
    app.desk
        .authenticate_token(&app.token, Channel::Api)
        .await
        .expect("actor")
}

fn incident(title: &str) -> OpenTicket {
    OpenTicket {
        kind: "incident".into(),
        title: title.into(),
        ..OpenTicket::default()
    }
}

/// Every incident number stored, in order.
async fn stored_numbers(app: &TestApp) -> Vec<String> {
    let list: Value = app
        .get_json("/api/v1/tickets?kind=incident&limit=200", &app.token)
        .await;
    let mut numbers: Vec<String> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["number"].as_str().expect("number").to_string())
        .collect();
    numbers.sort();
    numbers
}

fn incidents(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|n| format!("INC{n:07}")).collect()
}

#[tokio::test]
async fn a_number_another_replica_took_is_not_given_twice() {
    let url = fresh_database().await;
    let first = spawn_on(&url, false, |_| {}).await;
    let second = spawn_on(&url, false, |_| {}).await;

    assert_eq!(open(&first, "first").await, "INC0000001");
    // The first replica now expects to hand out 2 next; the second takes it.
    assert_eq!(open(&second, "second").await, "INC0000002");
    assert_eq!(open(&first, "third").await, "INC0000003");
    assert_eq!(
        first.desk.metrics.ticket_number_retries(),
        1,
        "the stale prediction was run again with the counter locked"
    );
    assert_eq!(open(&first, "fourth").await, "INC0000004");
    assert_eq!(first.desk.metrics.ticket_number_retries(), 1);
    assert_eq!(stored_numbers(&first).await, incidents(1..=4));
}

#[tokio::test]
async fn two_replicas_opening_tickets_at_once_leave_no_gap_and_no_repeat() {
    let url = fresh_database().await;
    let replicas = [
        spawn_on(&url, false, |_| {}).await,
        spawn_on(&url, false, |_| {}).await,
    ];
    let requests = (0..60).map(|i| open(&replicas[i % 2], "burst"));
    let mut numbers = futures::future::join_all(requests).await;
    numbers.sort();
    assert_eq!(numbers, incidents(1..=60));
    assert_eq!(stored_numbers(&replicas[0]).await, incidents(1..=60));
}

#[tokio::test]
async fn one_use_case_opening_two_incidents_numbers_them_one_after_the_other() {
    let url = fresh_database().await;
    let app = spawn_on(&url, false, |_| {}).await;
    let actor = admin(&app).await;
    let desk = app.desk.clone();
    let numbers = app
        .desk
        .execute(move |work| {
            Box::pin(async move {
                let a = desk.open_ticket(work, &actor, incident("one")).await?;
                let b = desk.open_ticket(work, &actor, incident("two")).await?;
                Ok((a.number, b.number))
            })
        })
        .await
        .expect("both opened");
    assert_eq!(numbers, ("INC0000001".into(), "INC0000002".into()));
    assert_eq!(open(&app, "next").await, "INC0000003");
    assert_eq!(stored_numbers(&app).await, incidents(1..=3));
}

#[tokio::test]
async fn a_use_case_failing_after_taking_a_number_gives_it_back() {
    let url = fresh_database().await;
    let app = spawn_on(&url, false, |_| {}).await;
    let actor = admin(&app).await;

    // Opened, then refused later in the same transaction: nothing commits.
    let failing = |title: &'static str| {
        let (desk, actor) = (app.desk.clone(), actor.clone());
        async move {
            let inner = desk.clone();
            desk.execute(move |work| {
                Box::pin(async move {
                    inner.open_ticket(work, &actor, incident(title)).await?;
                    Err::<(), _>(DeskError::Conflict("changed my mind".into()))
                })
            })
            .await
        }
    };
    assert!(matches!(failing("gone").await, Err(DeskError::Conflict(_))));
    assert_eq!(open(&app, "kept").await, "INC0000001");

    // The same among concurrent creations: the survivors close ranks.
    let mut kept = Vec::new();
    let mut refused = 0;
    let attempts = (0..30).map(|i| {
        let failing = &failing;
        let app = &app;
        async move {
            if i % 3 == 0 {
                failing("gone").await.err().map(|_| None)
            } else {
                Some(Some(open(app, "kept").await))
            }
        }
    });
    for outcome in futures::future::join_all(attempts).await {
        match outcome {
            Some(Some(number)) => kept.push(number),
            Some(None) => refused += 1,
            None => panic!("a failing use case committed"),
        }
    }
    kept.sort();
    assert_eq!(refused, 10);
    assert_eq!(kept, incidents(2..=21));
    assert_eq!(stored_numbers(&app).await, incidents(1..=21));
}
