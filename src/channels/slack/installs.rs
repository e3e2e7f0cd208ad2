//! Workspaces installed through OAuth v2: bot tokens sealed at rest with
//! AES-256-GCM (key: SHA-256 of `slack.token_key`; the team id is the
//! associated data), the signed `state` of the install flow, and the
//! lookups the API client and the handlers make — which workspace's token
//! to use, which organization a team belongs to — cached briefly so the
//! ack path does not pay a query per event.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use uuid::Uuid;

use crate::{
    runtime::seal::Sealer,
    store::{self, slack_installs::SlackInstallRow, Db},
};

/// How long a looked-up token or organization is reused.
const CACHE_TTL: Duration = Duration::from_secs(60);
/// How long an install link stays valid.
pub const STATE_TTL_SECS: i64 = 600;

/// Looked-up values with when they were read.
type Cache<K, V> = Mutex<HashMap<K, (Instant, V)>>;

pub struct Installs {
    db: Db,
    sealer: Sealer,
    /// Token by team id (None: no install for it).
    by_team: Cache<String, Option<(Uuid, String)>>,
    /// Token by organization.
    by_org: Cache<Uuid, Option<String>>,
}

fn cached<K: std::hash::Hash + Eq, V: Clone>(map: &Cache<K, V>, key: &K) -> Option<V> {
    let map = map.lock().unwrap_or_else(|e| e.into_inner());
    map.get(key)
        .filter(|(at, _)| at.elapsed() < CACHE_TTL)
        .map(|(_, v)| v.clone())
}

impl Installs {
    /// `secret` is `slack.token_key`; without one nothing can be sealed.
    pub fn new(db: Db, secret: &str) -> Option<Self> {
        if secret.is_empty() {
            return None;
        }
        Some(Self {
            db,
            sealer: Sealer::new(secret.as_bytes()),
            by_team: Mutex::default(),
            by_org: Mutex::default(),
        })
    }

    /// Seals a token for `team`: (nonce, ciphertext with tag).
    pub fn seal(&self, team: &str, token: &str) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
        self.sealer
            .seal(team.as_bytes(), token.as_bytes())
            .map_err(|e| e.context("sealing the Slack token failed"))
    }

    /// Opens a stored token; fails on a wrong key or a tampered row.
    pub fn open(&self, row: &SlackInstallRow) -> anyhow::Result<String> {
        let plain = self
            .sealer
            .open(row.team_id.as_bytes(), &row.token_nonce, &row.token_sealed)
            .map_err(|e| {
                e.context(format!(
                    "the stored Slack token for {} does not open with slack.token_key",
                    row.team_id
                ))
            })?;
        Ok(String::from_utf8(plain)?)
    }

    /// The installed workspace `team`: its organization and bot token.
    pub async fn for_team(&self, team: &str) -> anyhow::Result<Option<(Uuid, String)>> {
        if let Some(hit) = cached(&self.by_team, &team.to_string()) {
            return Ok(hit);
        }
        let found = match store::slack_installs::find_by_team(&self.db, team).await? {
            Some(row) => Some((row.org_id, self.open(&row)?)),
            None => None,
        };
        self.by_team
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(team.to_string(), (Instant::now(), found.clone()));
        Ok(found)
    }

    /// The bot token of the organization's workspace, if installed.
    pub async fn for_org(&self, org_id: Uuid) -> anyhow::Result<Option<String>> {
        if let Some(hit) = cached(&self.by_org, &org_id) {
            return Ok(hit);
        }
        let found = match store::slack_installs::find_by_org(&self.db, org_id).await? {
            Some(row) => Some(self.open(&row)?),
            None => None,
        };
        self.by_org
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(org_id, (Instant::now(), found.clone()));
        Ok(found)
    }

    /// Forgets cached lookups (after an install changed a token).
    pub fn forget(&self) {
        self.by_team
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.by_org
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    fn mac(&self) -> Hmac<Sha256> {
        // Domain-separated from the sealing key's use.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.sealer.key())
            .expect("HMAC takes keys of any length");
        mac.update(b"slack-oauth-state:");
        mac
    }

    /// The `state` of an install link: organization slug and expiry, signed.
    pub fn state(&self, org: &str, now: i64) -> String {
        let mut nonce = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut nonce);
        let body = format!("{org}|{}|{}", now + STATE_TTL_SECS, hex::encode(nonce));
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        let sig = hex::encode(mac.finalize().into_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{body}|{sig}"))
    }

    /// The organization slug of a valid, unexpired `state`.
    pub fn check_state(&self, state: &str, now: i64) -> Option<String> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(state)
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (body, sig) = raw.rsplit_once('|')?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        mac.verify_slice(&hex::decode(sig).ok()?).ok()?;
        let mut parts = body.split('|');
        let org = parts.next()?;
        let expires: i64 = parts.next()?.parse().ok()?;
        (now <= expires).then(|| org.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installs() -> Installs {
        let db = Db::Sqlite(sqlx::SqlitePool::connect_lazy("sqlite::memory:").expect("pool"));
        Installs::new(db, "a long random token key").expect("installs")
    }

    fn row(team: &str, nonce: Vec<u8>, sealed: Vec<u8>) -> SlackInstallRow {
        SlackInstallRow {
            team_id: team.into(),
            org_id: Uuid::nil(),
            team_name: "T".into(),
            bot_user_id: "U".into(),
            scopes: String::new(),
            token_nonce: nonce,
            token_sealed: sealed,
            installed_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[tokio::test]
    async fn tokens_are_sealed_and_bound_to_their_team() {
        let i = installs();
        let (nonce, sealed) = i.seal("T1", "xoxb-secret").expect("seal");
        assert!(!String::from_utf8_lossy(&sealed).contains("xoxb"));
        assert_eq!(
            i.open(&row("T1", nonce.clone(), sealed.clone()))
                .expect("open"),
            "xoxb-secret"
        );
        assert!(i.open(&row("T2", nonce.clone(), sealed.clone())).is_err());
        let db = Db::Sqlite(sqlx::SqlitePool::connect_lazy("sqlite::memory:").expect("pool"));
        let other = Installs::new(db, "another key").expect("installs");
        assert!(other.open(&row("T1", nonce, sealed)).is_err());
    }

    #[tokio::test]
    async fn states_are_signed_and_expire() {
        let i = installs();
        let state = i.state("acme", 1000);
        assert_eq!(i.check_state(&state, 1000).as_deref(), Some("acme"));
        assert_eq!(i.check_state(&state, 1000 + STATE_TTL_SECS + 1), None);
        let mut forged = state.clone();
        forged.replace_range(0..2, "xx");
        assert_eq!(i.check_state(&forged, 1000), None);
        assert_eq!(i.check_state("garbage", 1000), None);
    }
}
