//! API tokens: issuing them (from the CLI for a service account, through the
//! API for the caller or, for admins, a role's service account), listing,
//! revoking, and resolving a presented bearer token to its actor with a
//! short-lived cache. Only the token's hash is stored.

use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    new_id, people::insert_person, scim::Provisioner, views::TokenView, Actor, Desk, DeskError,
    Work,
};
use crate::{
    domain::{text::Name, Channel, Role},
    store::{self, tokens::TokenRow},
};

/// How long a token looked up in the database is trusted without asking it
/// again. Every request authenticates, so this saves one query (and a pool
/// checkout) per request. The cost: a change to the token row or to its
/// person's name/email (e.g. revoking it in the database, from this or another
/// replica) takes effect within this delay. Expiry is still checked on every
/// request against the cached `expires_at`; unknown tokens are never cached, so
/// a newly created token works at once on every replica.
pub const TOKEN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

const TOKEN_CACHE_MAX: usize = 10_000;

/// Prefix of API tokens, so leaked ones are easy to recognise and scan for.
pub const TOKEN_PREFIX: &str = "sb_";

pub fn hash_token(raw: &str) -> String {
    hex::encode(Sha256::digest(raw.as_bytes()))
}

impl Desk {
    /// Creates an API token for the organization and returns it in clear,
    /// once. It acts as the organization's service account for that role
    /// (created on first use).
    pub async fn create_token(
        &self,
        org_slug: &str,
        role: &str,
        name: &str,
    ) -> Result<String, DeskError> {
        self.issue_token(org_slug, None, role, name).await
    }

    /// Creates an API token that acts as an existing person with `role`.
    pub async fn create_token_for_person(
        &self,
        org_slug: &str,
        person: Uuid,
        role: &str,
        name: &str,
    ) -> Result<String, DeskError> {
        self.issue_token(org_slug, Some(person), role, name).await
    }

    async fn issue_token(
        &self,
        org_slug: &str,
        person: Option<Uuid>,
        role: &str,
        name: &str,
    ) -> Result<String, DeskError> {
        let grant = Grant::parse(role)?;
        let org = self.existing_org(org_slug).await?;
        let name = name.to_string();
        self.execute(move |work| {
            Box::pin(async move {
                let system = Actor::system(org.id);
                let person = match (person, grant) {
                    (Some(id), Grant::Role(_)) => {
                        store::people::find_person(&mut work.tx, org.id, id)
                            .await?
                            .ok_or(DeskError::NotFound("person"))?
                            .id
                    }
                    (Some(_), Grant::Scim) => {
                        return Err(DeskError::invalid(
                            "role",
                            "a SCIM token acts as the organization's provisioning account, not as a person",
                        ))
                    }
                    (None, grant) => service_account(work, &system, &org.slug, grant).await?,
                };
                let (_, raw) =
                    insert_api_token(work, &system, person, grant, grant.scope(), &name, None)
                        .await?;
                Ok(raw)
            })
        })
        .await
    }

    /// `POST /tokens`: a token acting as the caller with one of their roles,
    /// or — for admins naming a role they do not hold — as the
    /// organization's service account for that role.
    pub async fn create_api_token(
        &self,
        work: &mut Work,
        actor: &Actor,
        input: NewToken,
    ) -> Result<TokenView, DeskError> {
        let person = actor
            .person_id
            .ok_or_else(|| DeskError::Forbidden("only a person can create tokens".into()))?;
        let grant = match &input.role {
            Some(r) => Grant::parse(r)?,
            None => Grant::Role(
                *actor
                    .roles
                    .first()
                    .ok_or_else(|| DeskError::Forbidden("you hold no role".into()))?,
            ),
        };
        let scope = match input.scope.as_deref() {
            None | Some("read_write") => TokenScope::ReadWrite,
            Some("read") => TokenScope::Read,
            Some(other) => {
                return Err(DeskError::invalid(
                    "scope",
                    format!("unknown scope `{other}`; expected read or read_write"),
                ))
            }
        };
        if actor.read_only {
            return Err(DeskError::Forbidden(
                "a read-only token cannot create tokens".into(),
            ));
        }
        if input.expires_at.is_some_and(|at| at <= store::now()) {
            return Err(DeskError::invalid("expires_at", "must be in the future"));
        }
        let name = Name::parse("name", &input.name)?.into_inner();
        let acting_as = match grant {
            Grant::Role(role) if actor.has(role) => person,
            _ if actor.has(Role::Admin) => {
                let org = store::orgs::get_org(&mut work.tx, actor.org_id).await?;
                service_account(work, actor, &org.slug, grant).await?
            }
            Grant::Role(role) => {
                return Err(DeskError::Forbidden(format!(
                    "you do not hold the {role} role"
                )))
            }
            Grant::Scim => {
                return Err(DeskError::Forbidden(
                    "only an admin may create a SCIM token".into(),
                ))
            }
        };
        // A SCIM token's scope is SCIM whatever was asked.
        let scope = match grant {
            Grant::Scim => TokenScope::Scim,
            Grant::Role(_) => scope,
        };
        let (row, raw) = insert_api_token(
            work,
            actor,
            acting_as,
            grant,
            scope,
            &name,
            input.expires_at,
        )
        .await?;
        let mut view = TokenView::from(&row);
        view.token = Some(raw);
        Ok(view)
    }

    /// Admins see the organization's tokens; everyone else their own.
    pub async fn list_api_tokens(&self, actor: &Actor) -> Result<Vec<TokenView>, DeskError> {
        let mut tx = self.db.read().await?;
        let only = if actor.has(Role::Admin) {
            None
        } else {
            Some(actor.person_id.ok_or(DeskError::NotFound("person"))?)
        };
        Ok(store::tokens::list_tokens(&mut tx, actor.org_id, only)
            .await?
            .iter()
            .map(TokenView::from)
            .collect())
    }

    pub async fn revoke_api_token(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
    ) -> Result<(), DeskError> {
        let token = store::tokens::find_token(&mut work.tx, actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("token"))?;
        if token.person_id != actor.person_id.unwrap_or_default() && !actor.has(Role::Admin) {
            return Err(DeskError::NotFound("token"));
        }
        if !store::tokens::revoke_token(&mut work.tx, actor.org_id, id, store::now()).await? {
            return Err(DeskError::Conflict("this token is already revoked".into()));
        }
        // This process forgets it at once; other replicas within TOKEN_CACHE_TTL.
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&token.token_hash);
        work.audit(actor, "token.revoked", &token.name, json!({ "id": id }));
        Ok(())
    }

    /// A token found within the last [`TOKEN_CACHE_TTL`], if any.
    fn cached_token(&self, hash: &str) -> Option<store::tokens::TokenLookup> {
        let cache = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(hash)
            .filter(|(at, _)| at.elapsed() < TOKEN_CACHE_TTL)
            .map(|(_, row)| row.clone())
    }

    fn cache_token(&self, hash: String, row: &store::tokens::TokenLookup) {
        let mut cache = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= TOKEN_CACHE_MAX {
            // Crude bound against a flood of distinct tokens: start over.
            cache.clear();
        }
        cache.insert(hash, (std::time::Instant::now(), row.clone()));
    }

    /// The token row behind a presented bearer token, if it may be used
    /// now (not revoked or expired, its person not disabled).
    async fn usable_token(&self, raw: &str) -> Result<store::tokens::TokenLookup, DeskError> {
        let hash = hash_token(raw);
        let row = match self.cached_token(&hash) {
            Some(row) => row,
            None => {
                let row = store::tokens::find_token_by_hash(&self.db, &hash)
                    .await?
                    .ok_or(DeskError::Unauthenticated("unknown token"))?;
                self.cache_token(hash, &row);
                row
            }
        };
        if row.revoked_at.is_some() {
            return Err(DeskError::Unauthenticated("token revoked"));
        }
        if row.person_disabled_at.is_some() {
            return Err(DeskError::Unauthenticated("this account is disabled"));
        }
        if row.expires_at.is_some_and(|at| at <= store::now()) {
            return Err(DeskError::Unauthenticated("token expired"));
        }
        Ok(row)
    }

    /// Resolves a presented bearer token to the actor it stands for. A
    /// SCIM token stands for no actor: it is refused here (403), so it
    /// reaches no use case but SCIM's ([`Desk::authenticate_provisioner`]).
    pub async fn authenticate_token(
        &self,
        raw: &str,
        channel: Channel,
    ) -> Result<Actor, DeskError> {
        let row = self.usable_token(raw).await?;
        if row.scope == TokenScope::Scim.as_str() {
            return Err(DeskError::Forbidden(
                "this token may call only SCIM (/scim/v2)".into(),
            ));
        }
        actor_of(row, channel)
    }

    /// Resolves a bearer API token presented to SCIM: a SCIM token, or an
    /// admin's token.
    pub async fn authenticate_provisioner(
        &self,
        raw: &str,
        channel: Channel,
    ) -> Result<Provisioner, DeskError> {
        let row = self.usable_token(raw).await?;
        if row.scope == TokenScope::Scim.as_str() {
            return Ok(Provisioner::scim_token(Actor {
                org_id: row.org_id,
                person_id: Some(row.person_id),
                name: row.person_name,
                email: row.person_email,
                // No role: a SCIM token passes no other use case's check.
                roles: Vec::new(),
                channel,
                read_only: false,
            }));
        }
        Provisioner::admin(actor_of(row, channel)?)
    }

    /// Forgets this process's cached tokens of `person` (after disabling
    /// them); other replicas notice within [`TOKEN_CACHE_TTL`].
    pub(crate) fn forget_tokens_of(&self, person: Uuid) {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, (_, row)| row.person_id != person);
    }
}

fn actor_of(row: store::tokens::TokenLookup, channel: Channel) -> Result<Actor, DeskError> {
    let role = Role::parse(&row.role).map_err(anyhow::Error::from)?;
    Ok(Actor {
        org_id: row.org_id,
        person_id: Some(row.person_id),
        name: row.person_name,
        email: row.person_email,
        roles: vec![role],
        channel,
        read_only: row.scope == TokenScope::Read.as_str(),
    })
}

/// What a token is created for: acting with a role, or provisioning
/// through SCIM (`--role scim`), which is no role of a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    Role(Role),
    Scim,
}

impl Grant {
    fn parse(role: &str) -> Result<Self, DeskError> {
        if role.trim().eq_ignore_ascii_case(SCIM_GRANT) {
            return Ok(Grant::Scim);
        }
        Role::parse(role)
            .map(Grant::Role)
            .map_err(|e| DeskError::invalid("role", format!("{e}, or {SCIM_GRANT}")))
    }

    fn scope(self) -> TokenScope {
        match self {
            Grant::Role(_) => TokenScope::ReadWrite,
            Grant::Scim => TokenScope::Scim,
        }
    }

    /// As stored in the token's `role` column.
    fn as_str(self) -> &'static str {
        match self {
            Grant::Role(role) => role.as_str(),
            Grant::Scim => SCIM_GRANT,
        }
    }
}

/// The `role` a SCIM token is created with and stored under.
pub const SCIM_GRANT: &str = "scim";

/// What an API token may do beyond its role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScope {
    Read,
    ReadWrite,
    /// Only SCIM provisioning (`/scim/v2`); refused everywhere else.
    Scim,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::ReadWrite => "read_write",
            TokenScope::Scim => "scim",
        }
    }
}

/// A token to create through the API.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub role: Option<String>,
    pub scope: Option<String>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The organization's service account for `grant`, created on first use.
/// SCIM's holds the requester role, the least, though its tokens act with
/// none.
async fn service_account(
    work: &mut Work,
    actor: &Actor,
    org_slug: &str,
    grant: Grant,
) -> Result<Uuid, DeskError> {
    let email = format!(
        "{}-service@{}.switchboard.invalid",
        grant.as_str(),
        org_slug
    );
    if let Some(p) = store::people::find_person_by_email(&mut work.tx, actor.org_id, &email).await?
    {
        return Ok(p.id);
    }
    let (name, role) = match grant {
        Grant::Role(role) => (format!("{role} service account"), role),
        Grant::Scim => ("SCIM provisioning".to_string(), Role::Requester),
    };
    Ok(insert_person(
        work,
        actor,
        &name,
        Some(&email),
        &[role.as_str().to_string()],
    )
    .await?
    .id)
}

async fn insert_api_token(
    work: &mut Work,
    actor: &Actor,
    person: Uuid,
    role: Grant,
    scope: TokenScope,
    name: &str,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(TokenRow, String), DeskError> {
    let raw = random_secret(TOKEN_PREFIX);
    let row = TokenRow {
        id: new_id(),
        org_id: actor.org_id,
        person_id: person,
        name: name.to_string(),
        role: role.as_str().into(),
        scope: scope.as_str().into(),
        token_hash: hash_token(&raw),
        created_at: store::now(),
        expires_at,
        revoked_at: None,
    };
    store::tokens::insert_token(&mut work.tx, &row).await?;
    work.audit(
        actor,
        "token.created",
        name,
        json!({ "id": row.id, "role": row.role, "scope": row.scope, "person": person }),
    );
    Ok((row, raw))
}

pub(crate) fn random_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}
