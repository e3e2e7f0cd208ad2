//! Appending to the organization's hash chain at the end of a use case.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::{DeskError, Work};
use crate::{
    domain::audit::{canonical_split, chain_hash, SeqSplit},
    store::{self, audit::AuditRow, flush::ChainRow},
};

pub(super) struct PendingAudit {
    pub org_id: Uuid,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub channel: &'static str,
    pub action: String,
    pub subject: String,
    pub details: Value,
}

impl Work {
    /// Records an audit event; it is chained and written at commit.
    pub fn audit(&mut self, actor: &super::Actor, action: &str, subject: &str, details: Value) {
        self.buffers.audit.push(PendingAudit {
            org_id: actor.org_id,
            at: store::now(),
            actor_id: actor.person_id,
            channel: actor.channel.as_str(),
            action: action.to_string(),
            subject: subject.to_string(),
            details,
        });
    }
}

/// An entry's canonical content without its sequence number, which only
/// the head it is chained to decides (`domain::audit::canonical_split`):
/// Postgres joins the parts inside COMMIT, [`append`] here.
fn content(p: &PendingAudit) -> SeqSplit {
    let fields: Map<String, Value> = [
        ("org", json!(p.org_id)),
        ("at", json!(p.at)),
        ("actor", json!(p.actor_id)),
        ("channel", json!(p.channel)),
        ("action", json!(p.action)),
        ("subject", json!(p.subject)),
        ("details", p.details.clone()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_string(), value))
    .collect();
    canonical_split(&fields)
}

/// The entries of `org_id` for Postgres to chain at COMMIT
/// (`store::flush`): each canonical content split around its sequence
/// number. Joined with the number they are byte for byte what [`append`]
/// would write.
pub(super) fn chain_rows(pending: &[PendingAudit], org_id: Uuid) -> Vec<ChainRow> {
    pending
        .iter()
        .filter(|p| p.org_id == org_id)
        .map(|p| {
            let split = content(p);
            ChainRow {
                content_before_seq: split.before_seq,
                content_after_seq: split.after_seq,
                at: p.at,
                actor_id: p.actor_id,
                action: p.action.clone(),
                subject: p.subject.clone(),
            }
        })
        .collect()
}

/// Chains and writes `pending`. `locked` is the head of one organization
/// already locked by the flush (see `store::flush`); other organizations'
/// heads are locked here.
pub(super) async fn append(
    work: &mut Work,
    pending: Vec<PendingAudit>,
    locked: Option<(Uuid, (i64, Vec<u8>))>,
) -> Result<(), DeskError> {
    let mut by_org: Vec<Uuid> = pending.iter().map(|p| p.org_id).collect();
    by_org.sort_unstable();
    by_org.dedup();
    for org_id in by_org {
        let (mut seq, prev) = match &locked {
            Some((id, head)) if *id == org_id => head.clone(),
            _ => store::audit::lock_audit_head(&mut work.tx, org_id).await?,
        };
        let mut prev: [u8; 32] = prev.try_into().unwrap_or([0; 32]);
        let mut rows = Vec::new();
        for p in pending.iter().filter(|p| p.org_id == org_id) {
            seq += 1;
            let content = content(p).join(seq);
            let hash = chain_hash(&prev, content.as_bytes());
            prev = hash;
            rows.push(AuditRow {
                org_id,
                seq,
                at: p.at,
                actor_id: p.actor_id,
                action: p.action.clone(),
                subject: p.subject.clone(),
                content,
                hash: hash.to_vec(),
            });
        }
        store::audit::append_audit(&mut work.tx, &rows).await?;
    }
    Ok(())
}

/// Recomputes an organization's chain from the first entry and compares it
/// with the head row, which also catches a deleted last entry.
pub async fn verify(db: &store::Db, org_id: Uuid) -> Result<u64, anyhow::Error> {
    use crate::domain::audit::{verify_chain, AuditEntry};
    let mut checked = 0u64;
    let mut prev = crate::domain::audit::GENESIS;
    let mut after = 0i64;
    loop {
        let rows = store::audit::list_audit(db, org_id, after, 1000).await?;
        let Some(last) = rows.last() else { break };
        // Re-link each page onto the previous page's last hash.
        let mut expected = prev;
        for row in &rows {
            if row.seq != after + 1 {
                anyhow::bail!("entry {} missing (found {})", after + 1, row.seq);
            }
            let hash = chain_hash(&expected, row.content.as_bytes());
            if hash.as_slice() != row.hash.as_slice() {
                anyhow::bail!(
                    "entry {} does not match its hash: content or hash altered",
                    row.seq
                );
            }
            expected = hash;
            after = row.seq;
        }
        if checked == 0 {
            // The domain's verifier checks the first page from genesis too.
            let entries = rows.iter().map(|r| AuditEntry {
                seq: r.seq,
                content: r.content.as_bytes(),
                hash: &r.hash,
            });
            verify_chain(entries).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        prev = expected;
        checked += rows.len() as u64;
        after = last.seq;
    }
    let mut tx = db.begin().await?;
    let (head_seq, head_hash) = store::audit::lock_audit_head(&mut tx, org_id).await?;
    if head_seq != after || (head_seq > 0 && head_hash.as_slice() != prev.as_slice()) {
        anyhow::bail!(
            "the chain ends at entry {after} but the head says {head_seq}: entries were removed"
        );
    }
    Ok(checked)
}
