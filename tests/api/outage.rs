//! A database outage is answered 503 with `Retry-After` and the code
//! `database_unavailable`, changes nothing, and the daemon serves again by
//! itself once the database is back. The daemon reaches PostgreSQL through
//! a loopback proxy the test cuts.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{
    helpers::{eventually, fresh_database, spawn_on},
    support::tcp_proxy::TcpProxy,
};

/// The daemon on a fresh database reached through a proxy the test holds.
async fn app_through_proxy(
    adjust: impl FnOnce(&mut switchboard::config::Config),
) -> (crate::helpers::TestApp, TcpProxy) {
    let real = fresh_database().await;
    let parsed = url::Url::parse(&real).expect("database url");
    let upstream = format!(
        "{}:{}",
        parsed.host_str().expect("host"),
        parsed.port().unwrap_or(5432)
    );
    let upstream = tokio::net::lookup_host(upstream)
        .await
        .expect("resolve")
        .next()
        .expect("an address");
    let proxy = TcpProxy::start(upstream).await;
    let mut through = parsed.clone();
    through.set_host(Some("127.0.0.1")).expect("host");
    through.set_port(Some(proxy.addr.port())).expect("port");
    let app = spawn_on(through.as_str(), false, adjust).await;
    (app, proxy)
}

#[tokio::test]
async fn an_unreachable_database_is_a_503_with_retry_after_and_then_the_daemon_recovers() {
    let (app, proxy) = app_through_proxy(|c| c.database.acquire_timeout_secs = 1).await;
    app.create_ticket("incident", "before the outage").await;

    proxy.cut();
    for attempt in [
        app.get("/api/v1/tickets", &app.token).await,
        app.post(
            "/api/v1/tickets",
            &app.token,
            &json!({ "kind": "incident", "title": "during the outage" }),
        )
        .await,
    ] {
        let status = attempt.status();
        let headers = attempt.headers().clone();
        let problem: Value = attempt.json().await.expect("problem");
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
        assert_eq!(headers["retry-after"], "5");
        assert_eq!(headers["content-type"], "application/problem+json");
        assert_eq!(problem["code"], "database_unavailable", "{problem}");
    }

    // Cut, `/readyz` says so and the gauge shows it.
    let ready = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    let metrics = metrics.text().await.expect("text");
    assert!(metrics.contains("switchboard_database_up 0"), "{metrics}");

    proxy.restore().await;
    let back = eventually(std::time::Duration::from_secs(15), || async {
        app.get("/api/v1/tickets", &app.token).await.status() == StatusCode::OK
    })
    .await;
    assert!(back, "serves again once the database is back");
    let list: Value = app.get_json("/api/v1/tickets", &app.token).await;
    let titles: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|t| t["title"].as_str())
        .collect();
    assert_eq!(
        titles,
        ["before the outage"],
        "nothing of the outage was kept"
    );
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    let metrics = metrics.text().await.expect("text");
    assert!(metrics.contains("switchboard_database_up 1"), "{metrics}");
}

/// A database that takes connections and never answers: `/readyz` still
/// answers 503 (its probe has its own one-second deadline) while the pool
/// would wait a minute for a connection.
#[tokio::test]
async fn readyz_answers_when_the_database_hangs() {
    let (app, proxy) = app_through_proxy(|c| c.database.acquire_timeout_secs = 60).await;
    proxy.hang();
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("client");
    let ready = client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("an answer long before the pool gives up");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = ready.text().await.expect("text");
    assert!(body.contains("database"), "{body}");
    proxy.restore().await;
}
