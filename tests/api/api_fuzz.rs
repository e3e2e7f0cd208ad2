//! schemathesis (PyPI, installed by `.ci/install-deps.sh`) over the served
//! `/api/v1/openapi.json`, as an admin, on both backends: examples,
//! fuzzing and the stateful phase (links between operations), a
//! bounded number of examples per operation and a fixed seed. Fails on any
//! 5xx and on any response that does not match its documented schema.
//! `SWITCHBOARD_API_FUZZ_EXAMPLES` raises the examples for a longer run.

use std::time::Duration;

use crate::helpers::{spawn_app, spawn_on, TestApp};

/// The whole run's bound; a run past it fails rather than hang CI.
const LIMIT: Duration = Duration::from_secs(600);

async fn schemathesis(app: &TestApp, backend: &str) {
    let examples = std::env::var("SWITCHBOARD_API_FUZZ_EXAMPLES").unwrap_or_else(|_| "4".into());
    // schemathesis keeps a cache (and replays past failures first) in its
    // working directory: a fresh one, so each run is the seed's alone.
    let workdir = tempfile::tempdir().expect("temp dir");
    let run = tokio::process::Command::new("st")
        .current_dir(workdir.path())
        .args([
            "run",
            &app.url("/api/v1/openapi.json"),
            "--url",
            &app.url(""),
            "--header",
            &format!("Authorization: Bearer {}", app.token),
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--phases",
            // The coverage phase stops with an error inside schemathesis
            // 4.32 itself (hypothesis reading a lambda's source on Python
            // 3.11), whatever the API answers; the other three run.
            "examples,fuzzing,stateful",
            "--max-examples",
            &examples,
            "--seed",
            "20261207",
            "--request-timeout",
            "30",
            "--workers",
            "2",
        ])
        .env("NO_COLOR", "1")
        .kill_on_drop(true)
        .output();
    let output = match tokio::time::timeout(LIMIT, run).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => {
            panic!("schemathesis (`st`) could not run — .ci/install-deps.sh installs it: {e}")
        }
        Err(_) => panic!("schemathesis on {backend} ran past {LIMIT:?}"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: Vec<&str> = stdout
        .lines()
        .rev()
        .take(25)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    eprintln!("schemathesis on {backend}:\n{}", summary.join("\n"));
    assert!(
        output.status.success(),
        "schemathesis found failures on {backend}:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_or_schema_violation_on_postgres() {
    let app = spawn_app().await;
    schemathesis(&app, "PostgreSQL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_or_schema_violation_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("switchboard.db").display());
    let app = spawn_on(&url, false, |_| {}).await;
    schemathesis(&app, "SQLite").await;
}
