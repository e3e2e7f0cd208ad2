//! `switchboard storage migrate --from BACKEND`: copies attachment content
//! from another backend into the configured one (`[storage] backend`), so
//! an installation can move from the filesystem to the database or to S3
//! (or back) without losing a file.
//!
//! Copy, check, never delete: each blob is read from the source, its
//! SHA-256 checked against its name, written to the target (content already
//! there is left alone) and read back. The source is left as it was — the
//! operator removes it once the daemon runs on the target. Run it again
//! after a failure or after files arrived in between: it resumes.

use std::process::ExitCode;

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::{
    app,
    config::{Config, StorageBackend},
};

pub async fn migrate(config: Config, from: &str) -> anyhow::Result<ExitCode> {
    let Some(backend) = StorageBackend::parse(from) else {
        anyhow::bail!("--from must be filesystem, database or s3, not `{from}`");
    };
    if backend == config.storage.backend {
        anyhow::bail!(
            "--from {from} is the configured backend already; set [storage] backend \
             (or SWITCHBOARD__STORAGE__BACKEND) to where the content should go"
        );
    }
    let db = app::open_database(&config).await?;
    let target = app::blob_store(&config, &db)?;
    let mut source_config = config.clone();
    source_config.storage.backend = backend;
    let source = app::blob_store(&source_config, &db)?;

    let hashes = source
        .list()
        .await
        .with_context(|| format!("listing the {}", source.describe()))?;
    let already: std::collections::HashSet<String> = target
        .list()
        .await
        .with_context(|| format!("listing the {}", target.describe()))?
        .into_iter()
        .collect();
    eprintln!(
        "copying {} blob(s) from the {} to the {}",
        hashes.len(),
        source.describe(),
        target.describe()
    );
    let (mut copied, mut present, mut bytes) = (0usize, 0usize, 0u64);
    for sha256 in &hashes {
        if already.contains(sha256) {
            present += 1;
            continue;
        }
        let content = source
            .get(sha256)
            .await?
            .with_context(|| format!("{sha256} was listed but cannot be read"))?;
        let actual = hex::encode(Sha256::digest(&content));
        anyhow::ensure!(
            actual == *sha256,
            "{sha256} in the {} holds content hashing to {actual}: not copied; \
             nothing was deleted",
            source.describe()
        );
        let size = content.len() as u64;
        target.put(sha256, content).await?;
        let back = target
            .get(sha256)
            .await?
            .with_context(|| format!("{sha256} was written but cannot be read back"))?;
        anyhow::ensure!(
            hex::encode(Sha256::digest(&back)) == *sha256,
            "{sha256} reads back differently from the {}",
            target.describe()
        );
        copied += 1;
        bytes += size;
    }
    println!(
        "copied {copied} ({bytes} bytes), {present} already there, {} in all",
        hashes.len()
    );
    Ok(ExitCode::SUCCESS)
}
