//! Attachment content: hashed, its type sniffed from the bytes, and kept
//! once per SHA-256 in the configured blob store (`store::blobs`: the
//! filesystem, the database or an S3 bucket).

use anyhow::Context;
use sha2::{Digest, Sha256};

use super::DeskError;
use crate::store::{blobs::Blobs, Tx};

/// The attachment store could not be reached (answered 503 at the edges).
pub use crate::store::blobs::Unavailable as StorageUnavailable;

pub struct Stored {
    pub sha256: String,
    pub content_type: String,
}

/// The type the bytes say they are; the uploader's claim is not trusted.
pub fn sniff(bytes: &[u8]) -> String {
    if let Some(kind) = infer::get(bytes) {
        return kind.mime_type().to_string();
    }
    if std::str::from_utf8(bytes).is_ok() {
        "text/plain; charset=utf-8".into()
    } else {
        "application/octet-stream".into()
    }
}

/// Stores `bytes` (once per content) and answers its hash and type.
///
/// Durable before it answers: the caller commits a row naming the content
/// next, and a committed row must never point at content lost in a crash.
/// Hashing runs on a blocking thread, off the runtime's (a large
/// attachment takes milliseconds to hash).
pub async fn store(blobs: &Blobs, bytes: &[u8]) -> Result<Stored, DeskError> {
    let (stored, owned) = hash(bytes).await?;
    blobs.put(&stored.sha256, owned).await.with_context(|| {
        format!(
            "storing attachment {} in the {}",
            stored.sha256,
            blobs.describe()
        )
    })?;
    Ok(stored)
}

/// [`store`] from inside a use case's transaction (see
/// [`Blobs::put_in`]).
pub async fn store_in(tx: &mut Tx, blobs: &Blobs, bytes: &[u8]) -> Result<Stored, DeskError> {
    let (stored, owned) = hash(bytes).await?;
    blobs
        .put_in(tx, &stored.sha256, owned)
        .await
        .with_context(|| {
            format!(
                "storing attachment {} in the {}",
                stored.sha256,
                blobs.describe()
            )
        })?;
    Ok(stored)
}

async fn hash(bytes: &[u8]) -> Result<(Stored, Vec<u8>), DeskError> {
    let owned = bytes.to_vec();
    let (sha256, content_type, owned) = tokio::task::spawn_blocking(move || {
        let sha256 = hex::encode(Sha256::digest(&owned));
        (sha256, sniff(&owned), owned)
    })
    .await
    .context("the attachment hashing thread failed")?;
    Ok((
        Stored {
            sha256,
            content_type,
        },
        owned,
    ))
}

pub async fn load(blobs: &Blobs, sha256: &str) -> Result<Vec<u8>, DeskError> {
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(DeskError::NotFound("attachment"));
    }
    blobs
        .get(sha256)
        .await
        .with_context(|| format!("reading attachment {sha256} from the {}", blobs.describe()))?
        .with_context(|| {
            format!(
                "attachment {sha256} is missing from the {}",
                blobs.describe()
            )
        })
        .map_err(DeskError::from)
}

/// Keeps the last path component, without control characters.
pub fn clean_filename(name: &str) -> Result<String, DeskError> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim();
    if clean.is_empty() || clean == "." || clean == ".." {
        return Err(DeskError::invalid("filename", "must name a file"));
    }
    if clean.chars().count() > 255 {
        return Err(DeskError::invalid(
            "filename",
            "must be at most 255 characters",
        ));
    }
    Ok(clean.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_content_not_name() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(sniff(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(sniff(b"just text"), "text/plain; charset=utf-8");
        assert_eq!(sniff(&[0xff, 0xfe, 0x00, 0x81]), "application/octet-stream");
    }

    #[test]
    fn filenames_lose_their_directories() {
        assert_eq!(
            clean_filename("../../etc/passwd").ok().as_deref(),
            Some("passwd")
        );
        assert_eq!(
            clean_filename("C:\\Users\\x\\log.txt").ok().as_deref(),
            Some("log.txt")
        );
        assert!(clean_filename("..").is_err());
        assert!(clean_filename("dir/").is_err());
    }
}
