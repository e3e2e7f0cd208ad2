//! PostgreSQL restarted, and stopped for a few seconds, under API load. The
//! database is a cluster of the case's own, so stopping it touches no other
//! test.

use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::support::{daemon::Daemon, postgres::OwnCluster};

use super::*;

/// The case's cluster with an empty, migrated database `faults`.
async fn own_database() -> (OwnCluster, String) {
    let cluster = tokio::task::block_in_place(OwnCluster::start);
    let admin = cluster.url();
    let mut conn = PgConnection::connect(&admin).await.expect("connect");
    sqlx::raw_sql(AssertSqlSafe("CREATE DATABASE faults".to_string()))
        .execute(&mut conn)
        .await
        .expect("create database");
    let _ = conn.close().await;
    let url = format!("postgres://postgres@127.0.0.1:{}/faults", cluster.port);
    let (code, out) = cli(&url, &["migrate"]);
    assert_eq!(code, Some(0), "migrate: {out}");
    (cluster, url)
}

/// What `/readyz` and `/metrics` answer now, and how long `/readyz` took.
async fn probe(base: &str) -> (u16, Duration, String) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let started = Instant::now();
    let ready = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    let took = started.elapsed();
    let metrics = match http.get(format!("{base}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    (ready, took, metrics)
}

/// Runs the load through `outage` (which gets the cluster and the daemon's
/// URL), then checks everything and prints the tally.
async fn under_load<F, Fut>(case: &str, prefix: &str, outage: F) -> LoadResult
where
    F: FnOnce(OwnCluster, String) -> Fut,
    Fut: std::future::Future<Output = OwnCluster>,
{
    let (cluster, url) = own_database().await;
    let token = admin_token(&url);
    let mut daemon = Daemon::start(&daemon_env(&url));
    let receiver = subscribed_receiver(&daemon.base, &token).await;

    let load = ApiLoad::start(&[daemon.base.clone()], Via::Api(token), prefix, 8);
    run_for(Duration::from_millis(1500)).await;
    let cluster = outage(cluster, daemon.base.clone()).await;
    run_for(Duration::from_millis(1500)).await;
    let load = load.finish().await;

    let (_, redelivered) = check_api_case(case, &url, prefix, &load, &receiver, &mut daemon).await;
    assert_eq!(
        redelivered, 0,
        "no SIGKILL here: every webhook exactly once"
    );
    drop(cluster);
    load
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_under_load_loses_nothing() {
    under_load(
        "Postgres restarted under API load",
        "pg-restart",
        |cluster, _| async move {
            tokio::task::block_in_place(|| {
                cluster.stop();
                cluster.start_again();
            });
            cluster
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_under_load_is_answered_503_and_loses_nothing() {
    let load = under_load(
        "Postgres stopped 4 s under API load",
        "pg-stop",
        |cluster, base| async move {
            tokio::task::block_in_place(|| cluster.stop());
            // While it is down, readiness answers at once and says so, and the
            // gauge shows the outage.
            run_for(Duration::from_millis(1500)).await;
            let (ready, took, metrics) = probe(&base).await;
            assert_eq!(ready, 503, "/readyz during the outage");
            assert!(
                took < Duration::from_secs(1),
                "/readyz took {took:?} under load"
            );
            assert!(
                metrics.contains("switchboard_database_up 0"),
                "the gauge shows the outage"
            );
            run_for(Duration::from_millis(2500)).await;
            tokio::task::block_in_place(|| cluster.start_again());
            cluster
        },
    )
    .await;
    assert!(
        load.refusals.get(&503).copied().unwrap_or_default() > 0,
        "clients were told 503 during the outage: {:?}",
        load.refusals
    );
}
