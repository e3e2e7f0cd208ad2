//! Attachment storage without a shared filesystem (issue 22 item 10): in
//! the database (Postgres and SQLite) and in an S3 bucket (a real S3 API
//! server, moto), chosen by `[storage] backend`; and `switchboard storage
//! migrate` moving an installation's files into either, checked by hash
//! and resumable.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::Value;
use switchboard::config::StorageBackend;

use crate::{
    helpers::{fresh_database, spawn_on, TestApp},
    support::s3::S3Server,
};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

async fn upload(app: &TestApp, number: &str, name: &str, bytes: &[u8]) -> Value {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_string()),
    );
    let response = app
        .client
        .post(app.url(&format!("/api/v1/tickets/{number}/attachments")))
        .bearer_auth(&app.token)
        .multipart(form)
        .send()
        .await
        .expect("sent");
    let status = response.status();
    let body: Value = response.json().await.expect("attachment");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn download(app: &TestApp, number: &str, attachment: &Value) -> Vec<u8> {
    let id = attachment["id"].as_str().expect("id");
    let response = app
        .get(
            &format!("/api/v1/tickets/{number}/attachments/{id}"),
            &app.token,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.bytes().await.expect("bytes").to_vec()
}

/// A ticket with two attachments; answers its number and them.
async fn ticket_with_files(app: &TestApp) -> (String, Vec<(Value, Vec<u8>)>) {
    let ticket = app.create_ticket("incident", "logs attached").await;
    let number = ticket["number"].as_str().expect("number").to_string();
    let mut files = Vec::new();
    for (name, bytes) in [
        ("boot.log", b"kernel: eth0 link down\n".to_vec()),
        ("dump.bin", (0..=255u8).cycle().take(300_000).collect()),
    ] {
        let attachment = upload(app, &number, name, &bytes).await;
        files.push((attachment, bytes));
    }
    (number, files)
}

fn no_files(app: &TestApp) {
    assert!(
        !app.config.storage.data_dir.join("attachments").exists(),
        "nothing was written to the data directory"
    );
}

async fn in_the_database(url: &str) {
    let app = spawn_on(url, false, |c| c.storage.backend = StorageBackend::Database).await;
    let (number, files) = ticket_with_files(&app).await;
    for (attachment, bytes) in &files {
        assert_eq!(download(&app, &number, attachment).await, *bytes);
    }
    let db = app.desk.db.clone();
    let blobs = switchboard::store::blobs::Blobs::Database(db);
    let mut stored = blobs.list().await.expect("listed");
    stored.sort();
    let mut expected: Vec<String> = files
        .iter()
        .map(|(a, _)| a["sha256"].as_str().expect("sha").to_string())
        .collect();
    expected.sort();
    assert_eq!(stored, expected, "one row per content");
    no_files(&app);
    // The same content again is stored once.
    upload(&app, &number, "again.log", &files[0].1).await;
    assert_eq!(blobs.list().await.expect("listed").len(), 2);
}

#[tokio::test]
async fn attachments_live_in_postgres_with_the_database_backend() {
    in_the_database(&fresh_database().await).await;
}

#[tokio::test]
async fn attachments_live_in_sqlite_with_the_database_backend() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("switchboard.db").display());
    in_the_database(&url).await;
}

#[tokio::test]
async fn attachments_live_in_an_s3_bucket_with_the_s3_backend() {
    let s3 = S3Server::start().await;
    let url = fresh_database().await;
    let app = spawn_on(&url, false, |c| s3.configure(c, "desk/")).await;
    let (number, files) = ticket_with_files(&app).await;
    for (attachment, bytes) in &files {
        assert_eq!(download(&app, &number, attachment).await, *bytes);
    }
    let mut expected: Vec<String> = files
        .iter()
        .map(|(a, _)| {
            let sha = a["sha256"].as_str().expect("sha");
            format!("desk/attachments/{}/{sha}", &sha[..2])
        })
        .collect();
    expected.sort();
    assert_eq!(s3.keys().await, expected);
    no_files(&app);
}

#[tokio::test]
async fn a_bucket_that_is_down_refuses_the_upload_and_keeps_nothing() {
    let s3 = S3Server::start().await;
    let url = fresh_database().await;
    let app = spawn_on(&url, false, |c| {
        s3.configure(c, "");
        // Nothing listens here.
        c.storage.s3.endpoint = "http://127.0.0.1:9".into();
    })
    .await;
    let ticket = app
        .create_ticket("incident", "upload while S3 is down")
        .await;
    let number = ticket["number"].as_str().expect("number");
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"lost?".to_vec()).file_name("a.txt"),
    );
    let response = app
        .client
        .post(app.url(&format!("/api/v1/tickets/{number}/attachments")))
        .bearer_auth(&app.token)
        .multipart(form)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "5");
    let problem: Value = response.json().await.expect("problem");
    assert_eq!(problem["code"], "storage_unavailable");
    let listed: Vec<Value> = app
        .get_json(&format!("/api/v1/tickets/{number}/attachments"), &app.token)
        .await;
    assert!(
        listed.is_empty(),
        "no row names content that was not stored"
    );
}

/// Runs `switchboard storage migrate --from <from>` with `env` on top of
/// the test's configuration.
fn migrate(from: &str, env: &[(String, String)]) -> std::process::Output {
    Command::new(BIN)
        .args(["storage", "migrate", "--from", from])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("switchboard runs")
}

fn environment(url: &str, data_dir: &std::path::Path) -> Vec<(String, String)> {
    vec![
        ("SWITCHBOARD__DATABASE__URL".into(), url.into()),
        (
            "SWITCHBOARD__STORAGE__DATA_DIR".into(),
            data_dir.display().to_string(),
        ),
        ("SWITCHBOARD__LOG__FILTER".into(), "warn".into()),
    ]
}

#[tokio::test]
async fn storage_migrate_moves_files_to_s3_then_to_the_database_checked_and_resumable() {
    let s3 = S3Server::start().await;
    let url = fresh_database().await;
    let data = tempfile::tempdir().expect("data dir");
    let path = data.path().to_path_buf();
    let app = spawn_on(&url, false, |c| c.storage.data_dir = path.clone()).await;
    let (number, files) = ticket_with_files(&app).await;
    app.shutdown().await.expect("stopped");

    let mut to_s3 = environment(&url, data.path());
    to_s3.extend([
        (
            "SWITCHBOARD__STORAGE__BACKEND".to_string(),
            "s3".to_string(),
        ),
        (
            "SWITCHBOARD__STORAGE__S3__ENDPOINT".into(),
            s3.endpoint.clone(),
        ),
        (
            "SWITCHBOARD__STORAGE__S3__BUCKET".into(),
            crate::support::s3::BUCKET.into(),
        ),
        (
            "SWITCHBOARD__STORAGE__S3__ACCESS_KEY_ID".into(),
            crate::support::s3::KEY.into(),
        ),
        (
            "SWITCHBOARD__STORAGE__S3__SECRET_ACCESS_KEY".into(),
            crate::support::s3::SECRET.into(),
        ),
    ]);
    let total: usize = files.iter().map(|(_, b)| b.len()).sum();
    let first = migrate("filesystem", &to_s3);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&first.stdout).trim(),
        format!("copied 2 ({total} bytes), 0 already there, 2 in all")
    );
    let again = migrate("filesystem", &to_s3);
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        "copied 0 (0 bytes), 2 already there, 2 in all",
        "a second run resumes: {}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(s3.keys().await.len(), 2);
    assert!(
        data.path().join("attachments").exists(),
        "the source is left as it was"
    );

    // The daemon on the bucket serves what the files held.
    let on_s3 = spawn_on(&url, false, |c| s3.configure(c, "")).await;
    for (attachment, bytes) in &files {
        assert_eq!(download(&on_s3, &number, attachment).await, *bytes);
    }
    on_s3.shutdown().await.expect("stopped");

    // From the bucket into the database.
    let mut to_db = to_s3.clone();
    to_db.retain(|(k, _)| k != "SWITCHBOARD__STORAGE__BACKEND");
    to_db.push(("SWITCHBOARD__STORAGE__BACKEND".into(), "database".into()));
    let into_db = migrate("s3", &to_db);
    assert!(
        into_db.status.success(),
        "{}",
        String::from_utf8_lossy(&into_db.stderr)
    );
    assert!(String::from_utf8_lossy(&into_db.stdout).starts_with("copied 2 "));
    let empty = tempfile::tempdir().expect("empty dir");
    let on_db = spawn_on(&url, false, |c| {
        c.storage.backend = StorageBackend::Database;
        c.storage.data_dir = empty.path().to_path_buf();
    })
    .await;
    for (attachment, bytes) in &files {
        assert_eq!(download(&on_db, &number, attachment).await, *bytes);
    }

    // A source file whose content does not match its name is not copied.
    let sha = files[0].0["sha256"].as_str().expect("sha");
    std::fs::write(
        data.path().join("attachments").join(&sha[..2]).join(sha),
        b"tampered",
    )
    .expect("tamper");
    let bad_env = {
        let mut env = environment(&url, data.path());
        env.push(("SWITCHBOARD__STORAGE__BACKEND".into(), "s3".into()));
        env.extend(to_s3.iter().filter(|(k, _)| k.contains("__S3__")).cloned());
        env
    };
    // A fresh prefix, so the bucket does not hold it already.
    let mut bad_env = bad_env;
    bad_env.push(("SWITCHBOARD__STORAGE__S3__PREFIX".into(), "again/".into()));
    let refused = migrate("filesystem", &bad_env);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("holds content hashing to"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let same = migrate("database", &to_db);
    assert!(
        !same.status.success(),
        "from the configured backend is refused"
    );
}
