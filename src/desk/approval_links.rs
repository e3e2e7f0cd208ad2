//! One-click approval links in approval request mails.
//!
//! Each approver's request mail carries an Approve and a Reject link,
//! `{server.public_url}/approvals/email/{token}`: a token signed with a key
//! derived from the server's JWT secret (`domain::approval_link`), bound to
//! the approval, its stage, the approver and the decision, and expiring
//! after `email.approval_link_ttl_hours`. Opening a link only reads
//! ([`Desk::inspect_approval_link`]): mail scanners fetch links. Deciding is
//! a POST from the page ([`Desk::decide_by_link`]): one transaction that
//! records the token's hash (single use) and runs [`Desk::decide`] as the
//! approver through the `email` channel.

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use uuid::Uuid;

use super::{
    approvals::{closed_message, ApprovalView},
    auth::sha256_hex,
    people::actor_for,
    Desk, DeskError, Work,
};
use crate::{
    domain::{
        approval_link::{self, LinkClaims, LinkError},
        Channel,
    },
    store::{self, approvals::LinkUseRow, Tx},
};

/// What the link's page shows.
#[derive(Debug, Clone, Serialize)]
pub struct LinkPage {
    pub ticket: String,
    pub ticket_title: String,
    pub policy: String,
    pub stage: String,
    /// `approve` or `reject`.
    pub decision: String,
    pub approver: String,
    /// The approval after the decision (or as it stands).
    pub status: String,
}

/// Why a link does nothing. Each says what happened in words for the page.
#[derive(Debug, thiserror::Error)]
pub enum LinkRefusal {
    /// Not a token at all (cut off, mangled).
    #[error("{0}")]
    Malformed(String),
    /// A token this service did not sign.
    #[error("{0}")]
    Forged(String),
    #[error("{0}")]
    Expired(String),
    /// This very link was used already.
    #[error("{0}")]
    Used(String),
    /// The approval, its ticket or the approver is gone.
    #[error("{0}")]
    NotFound(String),
    /// Decided already, moved to another stage, cancelled.
    #[error("{0}")]
    Closed(String),
    /// The approver may not (or no longer) decide.
    #[error("{0}")]
    NotAllowed(String),
    /// The form was incomplete (a rejection without a reason).
    #[error("{0}")]
    Invalid(String),
    #[error("something went wrong; nothing was changed — try again later")]
    Failed(#[source] DeskError),
}

impl From<LinkError> for LinkRefusal {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Malformed => LinkRefusal::Malformed(e.to_string()),
            LinkError::Forged => LinkRefusal::Forged(e.to_string()),
            LinkError::Expired => LinkRefusal::Expired(format!(
                "{e}: decide in chat, by replying to the mail with #approve or #reject, or through the API"
            )),
        }
    }
}

impl From<DeskError> for LinkRefusal {
    fn from(e: DeskError) -> Self {
        match e {
            DeskError::NotFound(what) => LinkRefusal::NotFound(format!("{what} not found")),
            DeskError::Conflict(m) => LinkRefusal::Closed(m),
            DeskError::Forbidden(m) => LinkRefusal::NotAllowed(m),
            DeskError::Invalid(errors) => LinkRefusal::Invalid(
                errors
                    .iter()
                    .map(|e| e.message.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            other => LinkRefusal::Failed(other),
        }
    }
}

/// Domain separation: the link key is not the JWT key itself.
const KEY_LABEL: &[u8] = b"switchboard approval links v1";

fn derive_key(secret: &[u8]) -> Result<Vec<u8>, DeskError> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .map_err(|e| DeskError::Internal(anyhow::anyhow!("link key: {e}")))?;
    mac.update(KEY_LABEL);
    Ok(mac.finalize().into_bytes().to_vec())
}

impl Desk {
    async fn link_key(&self) -> Result<Vec<u8>, DeskError> {
        derive_key(self.jwt_secret().await?)
    }

    /// The key, read inside the caller's transaction when not cached yet
    /// (a second transaction would wait on SQLite's single writer). Not
    /// cached from here: the row may be this transaction's own insert.
    async fn link_key_in(&self, tx: &mut Tx) -> Result<Vec<u8>, DeskError> {
        match self.jwt.get() {
            Some(secret) => derive_key(secret),
            None => {
                let secret = store::identity::ensure_server_secret(
                    tx,
                    super::auth::JWT_SECRET_NAME,
                    &super::auth::random_token(""),
                    store::now(),
                )
                .await?;
                derive_key(secret.as_bytes())
            }
        }
    }

    /// The Approve and Reject URLs for `person` on the current stage.
    pub(crate) async fn approval_link_urls(
        &self,
        tx: &mut Tx,
        org_id: Uuid,
        approval_id: Uuid,
        stage: i32,
        person: Uuid,
    ) -> Result<(String, String), DeskError> {
        let key = self.link_key_in(tx).await?;
        let expires = store::now() + self.settings.auth.approval_link_ttl;
        let base = self.settings.auth.public_url.trim_end_matches('/');
        let url = |decision: &str| {
            let token = approval_link::sign(
                &key,
                &LinkClaims {
                    o: org_id,
                    a: approval_id,
                    s: stage,
                    p: person,
                    d: decision.into(),
                    e: expires.timestamp(),
                },
            );
            format!("{base}/approvals/email/{token}")
        };
        Ok((url("approve"), url("reject")))
    }

    async fn verify_link(&self, token: &str) -> Result<LinkClaims, LinkRefusal> {
        let key = self.link_key().await.map_err(LinkRefusal::Failed)?;
        Ok(approval_link::verify(&key, token, store::now())?)
    }

    /// What a link would do, changing nothing (the GET).
    pub async fn inspect_approval_link(&self, token: &str) -> Result<LinkPage, LinkRefusal> {
        let claims = self.verify_link(token).await?;
        let mut tx = self.db.read().await.map_err(DeskError::from)?;
        let page = self.check_link(&mut tx, &claims, token).await?;
        Ok(page)
    }

    /// Carries out a link's decision (the POST from its page): one
    /// transaction that marks the link used and decides as the approver.
    pub async fn decide_by_link(
        &self,
        token: &str,
        reason: Option<String>,
    ) -> Result<LinkPage, LinkRefusal> {
        let claims = self.verify_link(token).await?;
        let desk = self.clone();
        let token = token.trim().to_string();
        // A refusal must roll the transaction back (the link's use may be
        // recorded already): it leaves as an error, its words kept aside.
        let refused: std::sync::Arc<std::sync::Mutex<Option<LinkRefusal>>> = Default::default();
        let slot = refused.clone();
        let result = self
            .execute(move |work| {
                Box::pin(async move {
                    match desk.decide_link_in(work, &claims, &token, reason).await {
                        Ok(page) => Ok(page),
                        Err(refusal) => {
                            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(refusal);
                            Err(DeskError::Conflict("approval link refused".into()))
                        }
                    }
                })
            })
            .await;
        match result {
            Ok(page) => Ok(page),
            Err(e) => Err(refused
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .unwrap_or_else(|| e.into())),
        }
    }

    /// Inside the transaction: checks the link again (under the
    /// approval's lock, taken by `decide`), records its use, decides.
    async fn decide_link_in(
        &self,
        work: &mut Work,
        claims: &LinkClaims,
        token: &str,
        reason: Option<String>,
    ) -> Result<LinkPage, LinkRefusal> {
        let mut page = self.check_link(&mut work.tx, claims, token).await?;
        let person = store::people::find_person(&mut work.tx, claims.o, claims.p)
            .await
            .map_err(DeskError::from)?
            .ok_or_else(|| LinkRefusal::NotFound("the approver no longer exists".into()))?;
        let recorded = store::approvals::insert_link_use(
            &mut work.tx,
            &LinkUseRow {
                token_hash: sha256_hex(token),
                org_id: claims.o,
                approval_id: claims.a,
                person_id: claims.p,
                decision: claims.d.clone(),
                used_at: store::now(),
            },
        )
        .await
        .map_err(DeskError::from)?;
        if !recorded {
            return Err(LinkRefusal::Used(
                "this link was used a moment ago; nothing more was done".into(),
            ));
        }
        let actor = actor_for(&person, Channel::Email);
        let view: ApprovalView = self
            .decide(work, &actor, claims.a, &claims.d, reason)
            .await?;
        page.status = view.status;
        Ok(page)
    }

    /// Checks a verified link against the database: approval, ticket and
    /// approver exist, the link is unused, the approval still waits on
    /// this stage and on this approver.
    async fn check_link(
        &self,
        tx: &mut Tx,
        claims: &LinkClaims,
        token: &str,
    ) -> Result<LinkPage, LinkRefusal> {
        let gone = || LinkRefusal::NotFound("this approval no longer exists".into());
        let row = store::approvals::find_approval(tx, claims.o, claims.a)
            .await
            .map_err(DeskError::from)?
            .ok_or_else(gone)?;
        let view = self.approval_view(tx, &row).await.map_err(|e| match e {
            DeskError::NotFound(_) => gone(),
            other => other.into(),
        })?;
        let person = store::people::find_person(tx, claims.o, claims.p)
            .await
            .map_err(DeskError::from)?
            .ok_or_else(|| LinkRefusal::NotFound("the approver no longer exists".into()))?;
        if let Some(used) = store::approvals::find_link_use(tx, claims.o, &sha256_hex(token))
            .await
            .map_err(DeskError::from)?
        {
            return Err(LinkRefusal::Used(format!(
                "this link was already used: {} chose {} on {} UTC",
                person.name,
                used.decision,
                used.used_at.format("%Y-%m-%d %H:%M")
            )));
        }
        if row.status != "pending" {
            return Err(LinkRefusal::Closed(closed_message(&view)));
        }
        if row.stage != claims.s {
            return Err(LinkRefusal::Closed(format!(
                "this approval has moved on to stage `{}`; use the link of the newest request mail",
                view.stages
                    .get(view.stage)
                    .map(|s| s.name.as_str())
                    .unwrap_or("")
            )));
        }
        if person.disabled_at.is_some() {
            return Err(LinkRefusal::NotAllowed(
                "your account is disabled; you can no longer decide".into(),
            ));
        }
        let stage = view.stages.get(view.stage);
        let approver = stage.and_then(|s| s.approvers.iter().find(|a| a.id == person.id));
        match approver {
            None => {
                return Err(LinkRefusal::NotAllowed(
                    "you are no longer an approver of this stage".into(),
                ))
            }
            Some(a) if a.decision.is_some() => {
                let at = stage
                    .and_then(|s| s.decisions.iter().find(|d| d.approver.id == person.id))
                    .map(|d| format!(" on {} UTC", d.at.format("%Y-%m-%d %H:%M")))
                    .unwrap_or_default();
                return Err(LinkRefusal::Closed(format!(
                    "you already decided this stage ({}{at})",
                    a.decision.as_deref().unwrap_or("")
                )));
            }
            Some(_) => {}
        }
        Ok(LinkPage {
            ticket: view.ticket.clone(),
            ticket_title: view.ticket_title.clone(),
            policy: view.policy.clone(),
            stage: stage.map(|s| s.name.clone()).unwrap_or_default(),
            decision: claims.d.clone(),
            approver: person.name,
            status: view.status,
        })
    }
}
