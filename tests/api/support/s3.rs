//! A real S3 API server on loopback: moto's server (PyPI `moto[server]`,
//! installed by `.ci/install-deps.sh`), one per test, with one bucket made.
//! Fails with a clear message when moto is not installed.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use rusty_s3::{actions::ListObjectsV2, Bucket, Credentials, S3Action, UrlStyle};

pub const BUCKET: &str = "switchboard-test";
pub const KEY: &str = "test-key";
pub const SECRET: &str = "test-secret";

pub struct S3Server {
    pub endpoint: String,
    child: Child,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl S3Server {
    /// Starts moto and makes [`BUCKET`].
    pub async fn start() -> S3Server {
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let server = S3Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
        };
        let client = reqwest::Client::new();
        let mut up = false;
        for _ in 0..150 {
            if client.get(&server.endpoint).send().await.is_ok() {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            up,
            "moto's S3 server did not start: the S3 storage tests need it. Install it with \
             `python3 -m pip install 'moto[server]'` (.ci/install-deps.sh does it)."
        );
        let url = server
            .bucket()
            .create_bucket(&server.credentials())
            .sign(Duration::from_secs(60));
        let made = client
            .put(url)
            .header(reqwest::header::CONTENT_LENGTH, 0)
            .send()
            .await
            .expect("create bucket");
        assert!(made.status().is_success(), "bucket made: {}", made.status());
        server
    }

    fn bucket(&self) -> Bucket {
        Bucket::new(
            self.endpoint.parse().expect("endpoint url"),
            UrlStyle::Path,
            BUCKET,
            "us-east-1",
        )
        .expect("bucket")
    }

    fn credentials(&self) -> Credentials {
        Credentials::new(KEY, SECRET)
    }

    /// The bucket's object names, as S3 lists them.
    pub async fn keys(&self) -> Vec<String> {
        let bucket = self.bucket();
        let credentials = self.credentials();
        let url = bucket
            .list_objects_v2(Some(&credentials))
            .sign(Duration::from_secs(60));
        let text = reqwest::get(url)
            .await
            .expect("list")
            .text()
            .await
            .expect("listing");
        let mut keys: Vec<String> = ListObjectsV2::parse_response(&text)
            .expect("a listing")
            .contents
            .into_iter()
            .map(|o| o.key)
            .collect();
        keys.sort();
        keys
    }

    /// Points a configuration's storage at this bucket, under `prefix`.
    pub fn configure(&self, config: &mut switchboard::config::Config, prefix: &str) {
        config.storage.backend = switchboard::config::StorageBackend::S3;
        let s3 = &mut config.storage.s3;
        s3.endpoint = self.endpoint.clone();
        s3.bucket = BUCKET.into();
        s3.access_key_id = KEY.into();
        s3.secret_access_key = switchboard::config::Secret::new(SECRET);
        s3.prefix = prefix.into();
    }
}
