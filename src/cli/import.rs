//! `switchboard cmdb import FILE`: loads configuration items and
//! relationships from CSV, JSON or JSON Lines through the same bulk upsert
//! as the API (idempotent by external id), in batches, with a progress bar.
//!
//! Formats:
//! - CSV of items: `external_id,class,name[,lifecycle,criticality,owner_team,attr.<name>…]`;
//!   CSV of relationships: `source_external_id,kind,target_external_id`.
//! - JSON: `{"items": [...], "relationships": [...]}` as `POST /api/v1/cmdb/bulk`.
//! - JSON Lines (`.jsonl`, `.ndjson`): one item or relationship object a line.
//!
//! Every record is read first and syntax errors are reported by line with
//! nothing written. Then batches apply one transaction each; a batch with an
//! invalid record is refused whole and the import stops, naming the lines.
//! Batches already applied stay, and running the import again after a fix
//! is safe (unchanged CIs are left alone).

use std::{path::Path, process::ExitCode};

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value};

use crate::{
    app,
    config::Config,
    desk::{
        cmdb::{BulkRelationship, BulkResult, BulkUpsert, CiInput},
        orgs::DEFAULT_ORG,
        Actor, Desk,
    },
};

/// `switchboard cmdb import FILE`: imports into `org` (created when
/// missing, with the default CI classes) as its system actor, prints what
/// changed and fails naming the lines that stopped the import.
pub async fn command(
    config: Config,
    file: &Path,
    org: &str,
    batch: usize,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let db = app::open_database(&config).await?;
    let desk = app::build_desk(&config, db)?;
    desk.ensure_org(DEFAULT_ORG).await?;
    let org = desk.existing_org(org).await?;
    desk.ensure_default_classes_everywhere().await?;
    let actor = Actor::system(org.id);
    let report = import(&desk, &actor, file, batch, !quiet).await?;
    let r = &report.result;
    println!(
        "created {} CIs, updated {}, unchanged {}; relationships: {} new, {} existing",
        r.created, r.updated, r.unchanged, r.relationships_created, r.relationships_existing
    );
    if report.errors.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        for e in &report.errors {
            eprintln!("{}: {e}", file.display());
        }
        Ok(ExitCode::FAILURE)
    }
}

/// A record with the line (or position) it came from.
struct Located<T> {
    line: usize,
    record: T,
}

#[derive(Default)]
struct Records {
    items: Vec<Located<CiInput>>,
    relationships: Vec<Located<BulkRelationship>>,
}

/// Reads `path`; on syntax errors returns them all, one per line.
fn read(path: &Path) -> anyhow::Result<Result<Records, Vec<String>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_lowercase();
    match ext.as_str() {
        "csv" => Ok(read_csv(&text)),
        "json" => Ok(read_json(&text)),
        "jsonl" | "ndjson" => Ok(read_json_lines(&text)),
        other => bail!("cannot import `.{other}` files: use .csv, .json or .jsonl"),
    }
}

fn read_csv(text: &str) -> Result<Records, Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(vec![format!("line 1: {e}")]),
    };
    let has = |name: &str| headers.iter().any(|h| h == name);
    let relationships = has("source_external_id") && has("kind") && has("target_external_id");
    let items = has("external_id") && has("class") && has("name");
    if !(relationships || items) {
        return Err(vec![
            "line 1: expected columns external_id,class,name[,lifecycle,criticality,owner_team,attr.<name>…] or source_external_id,kind,target_external_id".into(),
        ]);
    }
    let mut records = Records::default();
    let mut errors = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let line = row
            .as_ref()
            .ok()
            .and_then(|r| r.position())
            .map_or(i + 2, |p| p.line() as usize);
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                errors.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let get = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .and_then(|i| row.get(i))
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        if relationships {
            match (
                get("source_external_id"),
                get("kind"),
                get("target_external_id"),
            ) {
                (Some(source), Some(kind), Some(target)) => records.relationships.push(Located {
                    line,
                    record: BulkRelationship {
                        source_external_id: source,
                        kind,
                        target_external_id: target,
                    },
                }),
                _ => errors.push(format!(
                    "line {line}: source_external_id, kind and target_external_id are all required"
                )),
            }
            continue;
        }
        let mut attributes = Map::new();
        for (header, value) in headers.iter().zip(row.iter()) {
            if let Some(name) = header.strip_prefix("attr.") {
                if !value.is_empty() {
                    attributes.insert(name.to_string(), Value::String(value.to_string()));
                }
            }
        }
        records.items.push(Located {
            line,
            record: CiInput {
                class: get("class").unwrap_or_default(),
                name: get("name").unwrap_or_default(),
                owner_team: get("owner_team"),
                lifecycle: get("lifecycle"),
                criticality: get("criticality"),
                attributes,
                external_id: get("external_id"),
            },
        });
    }
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(errors)
    }
}

fn read_json(text: &str) -> Result<Records, Vec<String>> {
    let bulk: BulkUpsert =
        serde_json::from_str(text).map_err(|e| vec![format!("line {}: {e}", e.line())])?;
    Ok(Records {
        items: bulk
            .items
            .into_iter()
            .enumerate()
            .map(|(i, record)| Located {
                line: i + 1,
                record,
            })
            .collect(),
        relationships: bulk
            .relationships
            .into_iter()
            .enumerate()
            .map(|(i, record)| Located {
                line: i + 1,
                record,
            })
            .collect(),
    })
}

fn read_json_lines(text: &str) -> Result<Records, Vec<String>> {
    let mut records = Records::default();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let value: Value = match serde_json::from_str(raw) {
            Ok(v) => v,
            Err(e) => {
                errors.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let parsed = if value.get("source_external_id").is_some() {
            serde_json::from_value::<BulkRelationship>(value)
                .map(|record| records.relationships.push(Located { line, record }))
        } else {
            serde_json::from_value::<CiInput>(value)
                .map(|record| records.items.push(Located { line, record }))
        };
        if let Err(e) = parsed {
            errors.push(format!("line {line}: {e}"));
        }
    }
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(errors)
    }
}

/// What an import did, or the lines that stopped it.
pub struct ImportReport {
    pub result: BulkResult,
    pub errors: Vec<String>,
}

/// Imports `path` as `actor` (an admin), `batch` records per transaction.
pub async fn import(
    desk: &Desk,
    actor: &Actor,
    path: &Path,
    batch: usize,
    progress: bool,
) -> anyhow::Result<ImportReport> {
    let records = match read(path)? {
        Ok(r) => r,
        Err(errors) => {
            return Ok(ImportReport {
                result: empty(),
                errors,
            })
        }
    };
    let what = if records.relationships.is_empty() {
        "CIs"
    } else {
        "records"
    };
    let total = (records.items.len() + records.relationships.len()) as u64;
    let bar = if progress {
        ProgressBar::new(total)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg} ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(what);
    let mut total_result = empty();
    let batch = batch.max(1);
    let item_chunks = records.items.chunks(batch).map(|c| (c, &[][..]));
    let relation_chunks = records.relationships.chunks(batch).map(|c| (&[][..], c));
    for (items, relationships) in item_chunks.chain(relation_chunks) {
        let input = BulkUpsert {
            items: items.iter().map(|l| l.record.clone()).collect(),
            relationships: relationships.iter().map(|l| l.record.clone()).collect(),
        };
        let lines_items: Vec<usize> = items.iter().map(|l| l.line).collect();
        let lines_relations: Vec<usize> = relationships.iter().map(|l| l.line).collect();
        let (d, a) = (desk.clone(), actor.clone());
        let outcome = desk
            .execute(move |work| Box::pin(async move { d.bulk_upsert(work, &a, input).await }))
            .await;
        match outcome {
            Ok(r) => {
                total_result.created += r.created;
                total_result.updated += r.updated;
                total_result.unchanged += r.unchanged;
                total_result.relationships_created += r.relationships_created;
                total_result.relationships_existing += r.relationships_existing;
                bar.inc((items.len() + relationships.len()) as u64);
            }
            Err(crate::desk::DeskError::BulkInvalid(errors)) => {
                bar.abandon();
                let messages = errors
                    .into_iter()
                    .map(|e| {
                        let lines = if e.section == "items" {
                            &lines_items
                        } else {
                            &lines_relations
                        };
                        let line = lines.get(e.index).copied().unwrap_or_default();
                        format!("line {line}: {}", e.errors.join("; "))
                    })
                    .collect();
                return Ok(ImportReport {
                    result: total_result,
                    errors: messages,
                });
            }
            Err(e) => {
                bar.abandon();
                return Err(anyhow::Error::new(e).context("importing"));
            }
        }
    }
    bar.finish();
    Ok(ImportReport {
        result: total_result,
        errors: Vec::new(),
    })
}

fn empty() -> BulkResult {
    BulkResult {
        created: 0,
        updated: 0,
        unchanged: 0,
        relationships_created: 0,
        relationships_existing: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fuzz targets: CSV, JSON and JSON-lines import files are read into
    /// records or refused with line-numbered errors, never a panic.
    #[test]
    fn fuzz_import_files() {
        let csv: &[u8] = b"external_id,class,name,lifecycle,criticality,owner_team,attr.ip\n\
            srv-1,server,db1,operational,high,Network,10.0.0.1\n\
            srv-2,server,\"db2, replica\",,low,,\n";
        let relationships: &[u8] =
            b"source_external_id,kind,target_external_id\nsvc-1,depends_on,srv-1\n";
        let tokens: &[&[u8]] = &[b",", b"\"", b"\n", b"attr.", b";", b"\"\"\""];
        crate::domain::fuzz::run(&[csv, relationships], tokens, |bytes| {
            read_csv(&String::from_utf8_lossy(bytes)).is_ok()
        });
        let json: &[u8] = br#"{"items": [{"external_id": "srv-1", "class": "server", "name": "db1",
            "attributes": {"ip": "10.0.0.1", "cores": 8}}],
            "relationships": [{"source_external_id": "svc-1", "kind": "depends_on",
            "target_external_id": "srv-1"}]}"#;
        crate::domain::fuzz::run(&[json], &[], |bytes| {
            read_json(&String::from_utf8_lossy(bytes)).is_ok()
        });
        let lines: &[u8] = br#"{"external_id": "srv-1", "class": "server", "name": "db1"}
{"source_external_id": "svc-1", "kind": "depends_on", "target_external_id": "srv-1"}
"#;
        crate::domain::fuzz::run(&[lines], &[], |bytes| {
            read_json_lines(&String::from_utf8_lossy(bytes)).is_ok()
        });
    }
}
