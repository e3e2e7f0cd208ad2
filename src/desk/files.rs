//! Attachment content, stored once per SHA-256 under the data directory
//! (`attachments/ab/abcdef…`), with the content type sniffed from the bytes.

use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

use super::DeskError;

pub struct Stored {
    pub sha256: String,
    pub content_type: String,
}

fn path_for(data_dir: &Path, sha256: &str) -> PathBuf {
    data_dir.join("attachments").join(&sha256[..2]).join(sha256)
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
/// Durable before it answers: the caller commits a row naming the file
/// next, and a committed row must never point at content lost in a crash,
/// so the file and its directory entry are synced like the database's own
/// commit. Hashing and the file system calls run on a blocking thread, off
/// the runtime's (a large attachment takes milliseconds to hash).
pub async fn store(data_dir: &Path, bytes: &[u8]) -> Result<Stored, DeskError> {
    let data_dir = data_dir.to_path_buf();
    let bytes = bytes.to_vec();
    tokio::task::spawn_blocking(move || store_blocking(&data_dir, &bytes))
        .await
        .context("the attachment store's thread failed")?
}

fn store_blocking(data_dir: &Path, bytes: &[u8]) -> Result<Stored, DeskError> {
    use std::io::Write;
    let sha256 = hex::encode(Sha256::digest(bytes));
    let path = path_for(data_dir, &sha256);
    let stored = Stored {
        content_type: sniff(bytes),
        sha256: sha256.clone(),
    };
    if path.exists() {
        return Ok(stored);
    }
    let dir = path.parent().context("attachment path has a parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // Write then rename, so a reader never sees half a file.
    let temp = dir.join(format!(".{}.{}", sha256, uuid::Uuid::new_v4().simple()));
    let written = std::fs::File::create(&temp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, &path)
    });
    if let Err(error) = written {
        // Best effort: a temp file left behind is only wasted space.
        let _ = std::fs::remove_file(&temp);
        return Err(anyhow::Error::from(error)
            .context(format!("writing attachment {}", path.display()))
            .into());
    }
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))?;
    Ok(stored)
}

pub async fn load(data_dir: &Path, sha256: &str) -> Result<Vec<u8>, DeskError> {
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(DeskError::NotFound("attachment"));
    }
    let path = path_for(data_dir, sha256);
    Ok(tokio::fs::read(&path)
        .await
        .with_context(|| format!("reading attachment {}", path.display()))?)
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
