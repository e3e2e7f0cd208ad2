//! Attachment content (and raw mail kept with tickets), stored once per
//! SHA-256, in one of three places chosen by `[storage] backend`:
//!
//! - `filesystem` (the default): `data_dir/attachments/ab/abcdef…`, one
//!   file per hash — replicas then need a shared volume;
//! - `database`: the `blobs` table of the database everything else is in,
//!   so replicas need nothing more;
//! - `s3`: an S3-compatible bucket (AWS, MinIO, Ceph, R2 …), objects named
//!   `<prefix>attachments/ab/abcdef…`.
//!
//! Every `put` is durable before it returns — the caller commits a row
//! naming the hash next, and a committed row must never point at content
//! lost in a crash — and idempotent (content already there is left alone).
//! `switchboard storage migrate` copies one backend's content into another
//! with [`Blobs::list`], [`Blobs::get`] and [`Blobs::put`].
//!
//! S3 requests are signed by `rusty-s3` (sans-IO) and sent with our own
//! reqwest client; see ARCHITECTURE.md for why not `object_store`.

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use chrono::Utc;
use rusty_s3::{actions::ListObjectsV2, Bucket, Credentials, S3Action, UrlStyle};

use super::{on, on_pool, Db, Tx};

/// Where blob content lives.
#[derive(Debug, Clone)]
pub enum Blobs {
    Files(PathBuf),
    Database(Db),
    S3(Arc<S3>),
}

/// An S3-compatible bucket and how to reach it.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// e.g. `https://s3.eu-west-1.amazonaws.com` or `http://minio:9000`.
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Path-style URLs (`endpoint/bucket/key`), which MinIO and most
    /// self-hosted servers need; `false`: virtual-host style (AWS).
    pub path_style: bool,
    /// Put before every object name, e.g. `switchboard/`.
    pub prefix: String,
}

pub struct S3 {
    bucket: Bucket,
    credentials: Credentials,
    prefix: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for S3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3")
            .field("bucket", &self.bucket.name())
            .field("endpoint", &self.bucket.base_url().as_str())
            .finish_non_exhaustive()
    }
}

/// How long a signed request stays valid: long enough for a large upload
/// on a slow link, short enough not to matter if a URL leaks into a log.
const INSERT_BLOB: &str = "INSERT INTO blobs (sha256, content, size_bytes, created_at) \
                           VALUES ($1, $2, $3, $4) ON CONFLICT (sha256) DO NOTHING";

const SIGNED_FOR: Duration = Duration::from_secs(15 * 60);

/// The object store could not be reached or answered a server error:
/// worth a retry, and answered 503 at the edge (nothing was stored).
#[derive(Debug, thiserror::Error)]
#[error("the attachment store is unavailable: {0}")]
pub struct Unavailable(String);

/// Sends a signed request; no answer or a 5xx is [`Unavailable`].
async fn send(request: reqwest::RequestBuilder, what: &str) -> anyhow::Result<reqwest::Response> {
    match request.send().await {
        Ok(response) if response.status().is_server_error() => {
            Err(Unavailable(format!("S3 {what} answered {}", response.status())).into())
        }
        Ok(response) => Ok(response),
        Err(e) => Err(Unavailable(format!("S3 {what}: {e}")).into()),
    }
}

fn check_hash(sha256: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit()),
        "`{sha256}` is not a SHA-256 in hex"
    );
    Ok(())
}

/// The object name of a hash, the same under every backend's root.
fn relative(sha256: &str) -> String {
    format!("attachments/{}/{sha256}", &sha256[..2])
}

impl S3 {
    pub fn new(settings: &S3Settings) -> anyhow::Result<Self> {
        let endpoint = settings
            .endpoint
            .parse()
            .with_context(|| format!("storage.s3.endpoint `{}`", settings.endpoint))?;
        let style = if settings.path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(
            endpoint,
            style,
            settings.bucket.clone(),
            settings.region.clone(),
        )
        .with_context(|| format!("storage.s3 bucket `{}`", settings.bucket))?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .context("building the S3 HTTP client")?;
        Ok(Self {
            bucket,
            credentials: Credentials::new(
                settings.access_key_id.clone(),
                settings.secret_access_key.clone(),
            ),
            prefix: settings.prefix.clone(),
            http,
        })
    }

    fn key(&self, sha256: &str) -> String {
        format!("{}{}", self.prefix, relative(sha256))
    }

    async fn head(&self, key: &str) -> anyhow::Result<bool> {
        let url = self
            .bucket
            .head_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        let response = send(self.http.head(url), "HEAD").await?;
        match response.status() {
            s if s.is_success() => Ok(true),
            reqwest::StatusCode::NOT_FOUND => Ok(false),
            s => anyhow::bail!("S3 HEAD {key} answered {s}"),
        }
    }

    async fn put(&self, sha256: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        let key = self.key(sha256);
        if self.head(&key).await? {
            return Ok(());
        }
        let url = self
            .bucket
            .put_object(Some(&self.credentials), &key)
            .sign(SIGNED_FOR);
        let request = self
            .http
            .put(url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes);
        let response = send(request, "PUT").await?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            anyhow::bail!("S3 PUT {key} answered {status}: {}", body.trim());
        }
        Ok(())
    }

    async fn get(&self, sha256: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let key = self.key(sha256);
        let url = self
            .bucket
            .get_object(Some(&self.credentials), &key)
            .sign(SIGNED_FOR);
        let response = send(self.http.get(url), "GET").await?;
        match response.status() {
            s if s.is_success() => Ok(Some(
                response
                    .bytes()
                    .await
                    .context("reading S3 object")?
                    .to_vec(),
            )),
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            s => anyhow::bail!("S3 GET {key} answered {s}"),
        }
    }

    async fn list(&self) -> anyhow::Result<Vec<String>> {
        let prefix = format!("{}attachments/", self.prefix);
        let mut hashes = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut action = self.bucket.list_objects_v2(Some(&self.credentials));
            action.with_prefix(prefix.as_str());
            if let Some(token) = &token {
                action.with_continuation_token(token.as_str());
            }
            let url = action.sign(SIGNED_FOR);
            let response = send(self.http.get(url), "LIST").await?;
            let status = response.status();
            let text = response.text().await.context("reading S3 listing")?;
            anyhow::ensure!(status.is_success(), "S3 LIST answered {status}: {text}");
            let page = ListObjectsV2::parse_response(&text).context("reading S3 listing")?;
            hashes.extend(
                page.contents
                    .iter()
                    .filter_map(|o| o.key.rsplit('/').next())
                    .filter(|h| check_hash(h).is_ok())
                    .map(str::to_string),
            );
            match page.next_continuation_token {
                Some(next) => token = Some(next),
                None => return Ok(hashes),
            }
        }
    }
}

impl Blobs {
    /// Names the place, for logs and the migrate command.
    pub fn describe(&self) -> String {
        match self {
            Blobs::Files(dir) => format!("filesystem {}", dir.display()),
            Blobs::Database(_) => "database".into(),
            Blobs::S3(s3) => format!("s3 bucket {} at {}", s3.bucket.name(), s3.bucket.base_url()),
        }
    }

    /// Stores `bytes` under their hash, durably; content already there is
    /// left as it is.
    pub async fn put(&self, sha256: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        check_hash(sha256)?;
        match self {
            Blobs::Files(dir) => {
                let path = dir.join(relative(sha256));
                tokio::task::spawn_blocking(move || write_file(&path, &bytes))
                    .await
                    .context("the attachment store's thread failed")?
            }
            Blobs::Database(db) => {
                let size = i64::try_from(bytes.len()).context("blob size")?;
                let now = Utc::now();
                on_pool!(db, p => sqlx::query(INSERT_BLOB)
                    .bind(sha256)
                    .bind(&bytes)
                    .bind(size)
                    .bind(now)
                    .execute(p)
                    .await
                    .map(|_| ()))
                .context("storing a blob in the database")
            }
            Blobs::S3(s3) => s3.put(sha256, bytes).await,
        }
    }

    /// Like [`Blobs::put`] from inside a transaction: the database backend
    /// writes in `tx` (SQLite's one writer is the transaction itself, and
    /// the content then commits or rolls back with the row naming it); the
    /// others store at once.
    pub async fn put_in(&self, tx: &mut Tx, sha256: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        check_hash(sha256)?;
        match self {
            Blobs::Database(_) => {
                let size = i64::try_from(bytes.len()).context("blob size")?;
                let now = Utc::now();
                on!(tx, c => sqlx::query(INSERT_BLOB)
                    .bind(sha256)
                    .bind(&bytes)
                    .bind(size)
                    .bind(now)
                    .execute(c)
                    .await
                    .map(|_| ()))
                .context("storing a blob in the database")
            }
            _ => self.put(sha256, bytes).await,
        }
    }

    /// The content under `sha256`, if stored.
    pub async fn get(&self, sha256: &str) -> anyhow::Result<Option<Vec<u8>>> {
        check_hash(sha256)?;
        match self {
            Blobs::Files(dir) => {
                let path = dir.join(relative(sha256));
                match tokio::fs::read(&path).await {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(anyhow::Error::from(e)
                        .context(format!("reading attachment {}", path.display()))),
                }
            }
            Blobs::Database(db) => {
                let sql = "SELECT content FROM blobs WHERE sha256 = $1";
                on_pool!(db, p => sqlx::query_scalar::<_, Vec<u8>>(sql)
                    .bind(sha256)
                    .fetch_optional(p)
                    .await)
                .context("reading a blob from the database")
            }
            Blobs::S3(s3) => s3.get(sha256).await,
        }
    }

    /// Every hash stored, in no particular order.
    pub async fn list(&self) -> anyhow::Result<Vec<String>> {
        match self {
            Blobs::Files(dir) => {
                let root = dir.join("attachments");
                tokio::task::spawn_blocking(move || list_files(&root))
                    .await
                    .context("the attachment store's thread failed")?
            }
            Blobs::Database(db) => {
                let sql = "SELECT sha256 FROM blobs";
                on_pool!(db, p => sqlx::query_scalar::<_, String>(sql).fetch_all(p).await)
                    .context("listing the database's blobs")
            }
            Blobs::S3(s3) => s3.list().await,
        }
    }
}

/// Writes a file durably: to a temporary name, synced, renamed into place
/// (a reader never sees half a file), and the directory entry synced.
fn write_file(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    if path.exists() {
        return Ok(());
    }
    let dir = path.parent().context("attachment path has a parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .context("attachment path has a name")?;
    let temp = dir.join(format!(".{name}.{}", uuid::Uuid::new_v4().simple()));
    let written = std::fs::File::create(&temp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    });
    if let Err(error) = written {
        // Best effort: a temp file left behind is only wasted space.
        let _ = std::fs::remove_file(&temp);
        return Err(
            anyhow::Error::from(error).context(format!("writing attachment {}", path.display()))
        );
    }
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))
}

fn list_files(root: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let mut hashes = Vec::new();
    let shards = match std::fs::read_dir(root) {
        Ok(shards) => shards,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(hashes),
        Err(e) => return Err(anyhow::Error::from(e).context(format!("listing {}", root.display()))),
    };
    for shard in shards {
        let shard = shard.with_context(|| format!("listing {}", root.display()))?;
        if !shard.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        for file in std::fs::read_dir(shard.path())
            .with_context(|| format!("listing {}", shard.path().display()))?
        {
            let file = file.with_context(|| format!("listing {}", shard.path().display()))?;
            if let Some(name) = file.file_name().to_str() {
                // Temporary files start with a dot and are not content.
                if check_hash(name).is_ok() {
                    hashes.push(name.to_string());
                }
            }
        }
    }
    Ok(hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[tokio::test]
    async fn files_are_put_once_read_back_and_listed() {
        let dir = tempfile::tempdir().expect("dir");
        let blobs = Blobs::Files(dir.path().to_path_buf());
        assert_eq!(blobs.get(HASH).await.expect("read"), None);
        blobs.put(HASH, b"test".to_vec()).await.expect("put");
        blobs.put(HASH, b"test".to_vec()).await.expect("again");
        assert_eq!(blobs.get(HASH).await.expect("read"), Some(b"test".to_vec()));
        assert!(dir.path().join("attachments/9f").join(HASH).exists());
        std::fs::write(dir.path().join("attachments/9f/.partial"), b"x").expect("temp");
        assert_eq!(blobs.list().await.expect("list"), vec![HASH.to_string()]);
        assert!(blobs.put("../etc/passwd", Vec::new()).await.is_err());
        assert!(blobs.get("nothex").await.is_err());
    }
}
