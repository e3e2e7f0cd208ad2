//! Single sign-on with OpenID Connect: an organization's providers (admin
//! use cases), the console's authorization code flow (PKCE, `state`,
//! `nonce`), the token exchange for API clients holding an ID token, and
//! just-in-time accounts.
//!
//! The protocol is the `openidconnect` crate's: discovery from the
//! issuer's `/.well-known/openid-configuration`, the code exchange, and
//! the ID token's signature, issuer, audience, expiry and nonce checks.
//! What is ours: [`Providers`] caches each issuer's discovery document and
//! key set for an hour and fetches the key set again when a token names a
//! key it does not hold (the provider rotated its keys), at most once per
//! ten seconds per issuer; the sign-in under way is a row (`sso_logins`,
//! state stored hashed, single use, ten minutes) bound to the browser by a
//! cookie, so a replayed callback or a link sent to someone else signs
//! nobody in; and the account: the provider's subject is linked to a
//! person (first by verified email, as chat identities are), the person
//! created when new (only for an allowed email domain), roles taken from
//! the `groups` claim through the provider's mapping, every step audited.
//!
//! The client secret is sealed (`domain::seal`, AES-256-GCM with the
//! provider's id as associated data) under a key derived from the
//! server's session signing secret (`server_secrets`), so it is never
//! stored in the clear nor answered; it opens only with the database's own
//! secret row.
//!
//! Slow work (HTTP to the provider) never runs inside a transaction: a
//! use case reads, the exchange runs, another use case writes.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
    time::{Duration as StdDuration, Instant},
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Duration, Utc};
use openidconnect::{
    core::{
        CoreClient, CoreGenderClaim, CoreJsonWebKey, CoreJsonWebKeySet,
        CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    },
    AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, EmptyAdditionalClaims, IdToken, IdTokenVerifier, IssuerUrl, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, SignatureVerificationError,
    TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::types::Json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{random_token, sha256_hex, Desk, DeskError, Session, Work};
use crate::{
    desk::{new_id, people, Actor},
    domain::{seal::Sealer, text::Name, Channel, Role},
    store::{
        self,
        sso::{LoginRow, ProviderRow, SettingsRow, SsoIdentityRow},
    },
};

/// How long a sign-in may take between the redirect and the callback.
pub const LOGIN_TTL: Duration = Duration::minutes(10);
/// How long an issuer's discovery document and keys are kept.
const METADATA_TTL: StdDuration = StdDuration::from_secs(3600);
/// The least time between two key set fetches for an unknown key.
const JWKS_REFETCH_GAP: StdDuration = StdDuration::from_secs(10);
/// Outbound requests to a provider.
const HTTP_TIMEOUT: StdDuration = StdDuration::from_secs(10);
/// The console's callback, under `server.public_url`.
pub const CALLBACK_PATH: &str = "/console/sso/callback";
/// Scopes asked for; `groups` comes with `profile` or through the
/// provider's claim configuration (see the README).
const SCOPES: [&str; 2] = ["email", "profile"];

/// The ID token with the claims this module reads; `groups` is read from
/// the verified payload itself, since its name is configurable.
type Token = IdToken<
    EmptyAdditionalClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// Why a single sign-on was refused, in words fit for the person or
/// client (after any audit entry was committed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SsoRefusal(pub &'static str);

impl std::fmt::Display for SsoRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// An identity provider as the API shows it (never its client secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProviderView {
    pub id: Uuid,
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    /// Email domains whose people may sign in (and be created) through it.
    pub allowed_domains: Vec<String>,
    /// Group (from the ID token's groups claim) → role.
    #[schema(value_type = Object)]
    pub role_mapping: BTreeMap<String, String>,
    /// The ID token claim that lists the person's groups.
    pub groups_claim: String,
    /// The redirect URI to register at the provider.
    pub redirect_uri: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A provider to create, or the fields to change (`None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct ProviderInput {
    pub name: Option<String>,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub allowed_domains: Option<Vec<String>>,
    pub role_mapping: Option<BTreeMap<String, String>>,
    pub groups_claim: Option<String>,
}

/// Whether local passwords still sign in (per organization).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SsoSettingsView {
    /// False: only single sign-on, except for the break-glass admins.
    pub local_passwords: bool,
    /// People (ids) who keep password sign-in; each such sign-in is audited.
    pub break_glass: Vec<Uuid>,
}

/// A button of the sign-in page.
#[derive(Debug, Clone)]
pub struct SsoButton {
    pub id: Uuid,
    pub name: String,
}

/// Where the browser goes next, and the state it will come back with.
#[derive(Debug, Clone)]
pub struct SsoStart {
    pub authorize_url: String,
}

/// The claims a sign-in acts on, read from a verified ID token.
#[derive(Debug, Clone)]
struct Verified {
    subject: String,
    email: Option<String>,
    email_verified: bool,
    name: Option<String>,
    groups: Vec<String>,
}

struct Cached {
    metadata: CoreProviderMetadata,
    fetched: Instant,
    keys_fetched: Instant,
}

/// Discovery documents and key sets by issuer, and the HTTP client that
/// fetches them (no redirects followed, as the crate advises).
pub struct Providers {
    http: reqwest::Client,
    cache: Mutex<HashMap<String, Cached>>,
}

impl Default for Providers {
    fn default() -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self {
            http,
            cache: Mutex::default(),
        }
    }
}

/// The reason an HTTP exchange with the provider failed, its cause chain
/// included (it names the provider's host, never our secrets).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl Providers {
    fn cached(&self, issuer: &str) -> Option<CoreProviderMetadata> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(issuer)
            .filter(|c| c.fetched.elapsed() < METADATA_TTL)
            .map(|c| c.metadata.clone())
    }

    /// The issuer's discovery document and keys, fetched unless cached
    /// (or `fresh`). The error names the reason, for a 422.
    async fn discover(&self, issuer: &str, fresh: bool) -> Result<CoreProviderMetadata, String> {
        if !fresh {
            if let Some(metadata) = self.cached(issuer) {
                return Ok(metadata);
            }
        }
        let url = IssuerUrl::new(issuer.to_string()).map_err(|e| format!("not a URL: {e}"))?;
        let metadata = CoreProviderMetadata::discover_async(url, &self.http)
            .await
            .map_err(|e| {
                format!(
                    "the discovery document {}/.well-known/openid-configuration could not be used: {}",
                    issuer.trim_end_matches('/'),
                    chain(&e)
                )
            })?;
        let now = Instant::now();
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(
            issuer.to_string(),
            Cached {
                metadata: metadata.clone(),
                fetched: now,
                keys_fetched: now,
            },
        );
        Ok(metadata)
    }

    /// Fetches the issuer's key set again (a token named a key we do not
    /// hold); `None` when it was fetched moments ago or cannot be.
    async fn refetch_keys(&self, issuer: &str) -> Option<CoreProviderMetadata> {
        let metadata = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            let cached = cache.get(issuer)?;
            if cached.keys_fetched.elapsed() < JWKS_REFETCH_GAP {
                return None;
            }
            cached.metadata.clone()
        };
        let keys = match CoreJsonWebKeySet::fetch_async(metadata.jwks_uri(), &self.http).await {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!(issuer, error = %chain(&e), "refetching the provider's keys failed");
                return None;
            }
        };
        let metadata = metadata.set_jwks(keys);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cached) = cache.get_mut(issuer) {
            cached.metadata = metadata.clone();
            cached.keys_fetched = Instant::now();
        }
        Some(metadata)
    }
}

/// Signature algorithms accepted for ID tokens: asymmetric only (an HMAC
/// token would be signed with the client secret, which we do not expose
/// to the verifier).
const ALGORITHMS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

fn verifier<'a>(
    provider: &ProviderRow,
    metadata: &'a CoreProviderMetadata,
) -> IdTokenVerifier<'a, CoreJsonWebKey> {
    IdTokenVerifier::new_public_client(
        ClientId::new(provider.client_id.clone()),
        metadata.issuer().clone(),
        metadata.jwks().clone(),
    )
    .set_allowed_algs(ALGORITHMS)
}

/// A verification failure in the words a refusal uses.
fn token_refusal(error: &ClaimsVerificationError) -> SsoRefusal {
    SsoRefusal(match error {
        ClaimsVerificationError::Expired(_) => "the ID token has expired",
        ClaimsVerificationError::InvalidAudience(_) => "the ID token is for another audience",
        ClaimsVerificationError::InvalidIssuer(_) => "the ID token is from another issuer",
        ClaimsVerificationError::InvalidNonce(_) => {
            "the ID token's nonce does not match this sign-in"
        }
        ClaimsVerificationError::SignatureVerification(_) => {
            "the ID token's signature does not verify"
        }
        _ => "the ID token is not valid",
    })
}

fn is_unknown_key(error: &ClaimsVerificationError) -> bool {
    matches!(
        error,
        ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)
    )
}

/// The groups claim of a verified token's payload: a list of strings, or
/// one string.
fn groups_of(raw: &str, claim: &str) -> Vec<String> {
    let payload = raw
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
    match payload.as_ref().and_then(|p| p.get(claim)) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

fn parse_domains(domains: &[String]) -> Result<Vec<String>, DeskError> {
    let mut out = Vec::new();
    for d in domains {
        let d = d.trim().trim_start_matches('@').to_lowercase();
        let valid = !d.is_empty()
            && d.len() <= 253
            && d.contains('.')
            && !d.starts_with('.')
            && !d.ends_with('.')
            && d.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !valid {
            return Err(DeskError::invalid(
                "allowed_domains",
                format!("`{d}` is not a domain name"),
            ));
        }
        if !out.contains(&d) {
            out.push(d);
        }
    }
    if out.is_empty() {
        return Err(DeskError::invalid(
            "allowed_domains",
            "name at least one email domain whose people may sign in",
        ));
    }
    Ok(out)
}

fn parse_mapping(mapping: &BTreeMap<String, String>) -> Result<Value, DeskError> {
    let mut out = serde_json::Map::new();
    for (group, role) in mapping {
        let group = group.trim();
        if group.is_empty() || group.len() > 200 {
            return Err(DeskError::invalid(
                "role_mapping",
                "group names are 1 to 200 characters",
            ));
        }
        let role =
            Role::parse(role).map_err(|e| DeskError::invalid("role_mapping", e.to_string()))?;
        out.insert(group.to_string(), Value::String(role.as_str().to_string()));
    }
    Ok(Value::Object(out))
}

fn parse_issuer(issuer: &str) -> Result<String, DeskError> {
    let issuer = issuer.trim();
    let url = url::Url::parse(issuer)
        .map_err(|e| DeskError::invalid("issuer", format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(DeskError::invalid(
            "issuer",
            "an http(s) URL with a host is needed",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(DeskError::invalid(
            "issuer",
            "an issuer URL has no query or fragment",
        ));
    }
    Ok(issuer.to_string())
}

fn required(field: &'static str, value: Option<String>) -> Result<String, DeskError> {
    match value.map(|v| v.trim().to_string()) {
        Some(v) if !v.is_empty() && v.len() <= 2000 => Ok(v),
        _ => Err(DeskError::invalid(
            field,
            "is required (1 to 2000 characters)",
        )),
    }
}

fn mapping_of(row: &ProviderRow) -> BTreeMap<String, String> {
    row.role_mapping
        .0
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The roles a person's groups map to; `None` when the provider maps none
/// (roles are then kept as they are).
fn mapped_roles(row: &ProviderRow, groups: &[String]) -> Option<Vec<String>> {
    let mapping = mapping_of(row);
    if mapping.is_empty() {
        return None;
    }
    let mut roles: Vec<String> = Vec::new();
    for group in groups {
        if let Some(role) = mapping.get(group) {
            if !roles.contains(role) {
                roles.push(role.clone());
            }
        }
    }
    if roles.is_empty() {
        roles.push(Role::Requester.as_str().to_string());
    }
    Some(roles)
}

impl Desk {
    /// The redirect URI the provider must send browsers back to.
    pub fn sso_redirect_uri(&self) -> String {
        format!(
            "{}{CALLBACK_PATH}",
            self.settings.auth.public_url.trim_end_matches('/')
        )
    }

    fn provider_view(&self, row: &ProviderRow) -> ProviderView {
        ProviderView {
            id: row.id,
            name: row.name.clone(),
            issuer: row.issuer.clone(),
            client_id: row.client_id.clone(),
            allowed_domains: row.allowed_domains.0.clone(),
            role_mapping: mapping_of(row),
            groups_claim: row.groups_claim.clone(),
            redirect_uri: self.sso_redirect_uri(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }

    /// The sealer of client secrets: keyed by the session signing secret,
    /// read before any transaction (see [`Desk::load_signing_key`]).
    async fn sso_sealer(&self) -> Result<Sealer, DeskError> {
        let secret = self.jwt_secret().await?;
        Ok(Sealer::new(
            &[b"switchboard sso client secret\n".as_slice(), secret].concat(),
        ))
    }

    fn open_secret(&self, sealer: &Sealer, row: &ProviderRow) -> Result<String, DeskError> {
        let plain = sealer
            .open(row.id.as_bytes(), &row.secret_nonce, &row.secret_sealed)
            .map_err(|e| {
                e.context(format!(
                    "the client secret of provider {} does not open",
                    row.id
                ))
            })?;
        String::from_utf8(plain)
            .map_err(|_| DeskError::Internal(anyhow::anyhow!("a client secret that is not UTF-8")))
    }

    /// Checks the issuer by fetching its discovery document (not cached:
    /// an admin wants to know it works now).
    async fn check_issuer(&self, issuer: &str) -> Result<(), DeskError> {
        self.oidc
            .discover(issuer, true)
            .await
            .map(|_| ())
            .map_err(|reason| DeskError::invalid("issuer", reason))
    }

    /// Adds an identity provider to the actor's organization, after its
    /// discovery document was fetched and read.
    pub async fn create_sso_provider(
        &self,
        actor: &Actor,
        input: ProviderInput,
    ) -> Result<ProviderView, DeskError> {
        actor.require_admin()?;
        let name = Name::parse("name", input.name.as_deref().unwrap_or_default())?.into_inner();
        let issuer = parse_issuer(&required("issuer", input.issuer)?)?;
        let client_id = required("client_id", input.client_id)?;
        let secret = required("client_secret", input.client_secret)?;
        let domains = parse_domains(&input.allowed_domains.unwrap_or_default())?;
        let mapping = parse_mapping(&input.role_mapping.unwrap_or_default())?;
        let groups_claim = match input.groups_claim {
            Some(c) => required("groups_claim", Some(c))?,
            None => "groups".to_string(),
        };
        self.check_issuer(&issuer).await?;
        let sealer = self.sso_sealer().await?;
        let id = new_id();
        let (nonce, sealed) = sealer
            .seal(id.as_bytes(), secret.as_bytes())
            .map_err(DeskError::Internal)?;
        let now = store::now();
        let row = ProviderRow {
            id,
            org_id: actor.org_id,
            name,
            issuer,
            client_id,
            secret_nonce: nonce,
            secret_sealed: sealed,
            allowed_domains: Json(domains),
            role_mapping: Json(mapping),
            groups_claim,
            created_at: now,
            updated_at: now,
        };
        let actor = actor.clone();
        let saved = row.clone();
        self.execute(move |work| {
            Box::pin(async move {
                if store::sso::list_providers(&mut work.tx, actor.org_id)
                    .await?
                    .iter()
                    .any(|p| p.name.eq_ignore_ascii_case(&saved.name))
                {
                    return Err(DeskError::Conflict(format!(
                        "a provider named {} already exists",
                        saved.name
                    )));
                }
                store::sso::insert_provider(&mut work.tx, &saved).await?;
                work.audit(
                    &actor,
                    "sso.provider_created",
                    &saved.id.to_string(),
                    json!({ "name": saved.name, "issuer": saved.issuer, "client_id": saved.client_id,
                            "allowed_domains": saved.allowed_domains.0, "role_mapping": saved.role_mapping.0 }),
                );
                Ok(())
            })
        })
        .await?;
        Ok(self.provider_view(&row))
    }

    pub async fn list_sso_providers(&self, actor: &Actor) -> Result<Vec<ProviderView>, DeskError> {
        actor.require_admin()?;
        let mut tx = self.db.read().await?;
        let rows = store::sso::list_providers(&mut tx, actor.org_id).await?;
        Ok(rows.iter().map(|r| self.provider_view(r)).collect())
    }

    pub async fn get_sso_provider(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> Result<ProviderView, DeskError> {
        actor.require_admin()?;
        let mut tx = self.db.read().await?;
        let row = store::sso::find_provider(&mut tx, actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("provider"))?;
        Ok(self.provider_view(&row))
    }

    /// Changes a provider; a new issuer is checked like a new provider's.
    pub async fn update_sso_provider(
        &self,
        actor: &Actor,
        id: Uuid,
        input: ProviderInput,
    ) -> Result<ProviderView, DeskError> {
        actor.require_admin()?;
        let mut tx = self.db.read().await?;
        let mut row = store::sso::find_provider(&mut tx, actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("provider"))?;
        drop(tx);
        if let Some(name) = input.name {
            row.name = Name::parse("name", &name)?.into_inner();
        }
        if let Some(issuer) = input.issuer {
            let issuer = parse_issuer(&issuer)?;
            if issuer != row.issuer {
                self.check_issuer(&issuer).await?;
            }
            row.issuer = issuer;
        }
        if let Some(client_id) = input.client_id {
            row.client_id = required("client_id", Some(client_id))?;
        }
        if let Some(secret) = input.client_secret {
            let secret = required("client_secret", Some(secret))?;
            let (nonce, sealed) = self
                .sso_sealer()
                .await?
                .seal(row.id.as_bytes(), secret.as_bytes())
                .map_err(DeskError::Internal)?;
            row.secret_nonce = nonce;
            row.secret_sealed = sealed;
        }
        if let Some(domains) = input.allowed_domains {
            row.allowed_domains = Json(parse_domains(&domains)?);
        }
        if let Some(mapping) = input.role_mapping {
            row.role_mapping = Json(parse_mapping(&mapping)?);
        }
        if let Some(claim) = input.groups_claim {
            row.groups_claim = required("groups_claim", Some(claim))?;
        }
        row.updated_at = store::now();
        let actor = actor.clone();
        let saved = row.clone();
        self.execute(move |work| {
            Box::pin(async move {
                if store::sso::list_providers(&mut work.tx, actor.org_id)
                    .await?
                    .iter()
                    .any(|p| p.id != saved.id && p.name.eq_ignore_ascii_case(&saved.name))
                {
                    return Err(DeskError::Conflict(format!(
                        "a provider named {} already exists",
                        saved.name
                    )));
                }
                store::sso::update_provider(&mut work.tx, &saved).await?;
                work.audit(
                    &actor,
                    "sso.provider_updated",
                    &saved.id.to_string(),
                    json!({ "name": saved.name, "issuer": saved.issuer, "client_id": saved.client_id,
                            "allowed_domains": saved.allowed_domains.0, "role_mapping": saved.role_mapping.0 }),
                );
                Ok(())
            })
        })
        .await?;
        Ok(self.provider_view(&row))
    }

    /// Removes a provider; the people it linked stay (with their other
    /// ways in).
    pub async fn delete_sso_provider(&self, actor: &Actor, id: Uuid) -> Result<(), DeskError> {
        actor.require_admin()?;
        let actor = actor.clone();
        self.execute(move |work| {
            Box::pin(async move {
                if !store::sso::delete_provider(&mut work.tx, actor.org_id, id).await? {
                    return Err(DeskError::NotFound("provider"));
                }
                work.audit(&actor, "sso.provider_deleted", &id.to_string(), json!({}));
                Ok(())
            })
        })
        .await
    }

    pub async fn sso_settings(&self, actor: &Actor) -> Result<SsoSettingsView, DeskError> {
        actor.require_admin()?;
        let mut tx = self.db.read().await?;
        Ok(settings_view(
            store::sso::find_settings(&mut tx, actor.org_id).await?,
        ))
    }

    /// Switches local passwords on or off and names the break-glass
    /// admins (people by id or email), who keep password sign-in.
    /// Passwords go off only with at least one provider and one
    /// break-glass admin, so nobody is locked out.
    pub async fn update_sso_settings(
        &self,
        work: &mut Work,
        actor: &Actor,
        local_passwords: Option<bool>,
        break_glass: Option<Vec<String>>,
    ) -> Result<SsoSettingsView, DeskError> {
        actor.require_admin()?;
        let current = settings_view(store::sso::find_settings(&mut work.tx, actor.org_id).await?);
        let local = local_passwords.unwrap_or(current.local_passwords);
        let admins = match break_glass {
            Some(list) => {
                let mut ids = Vec::new();
                for who in list {
                    let (id, name, _) =
                        people::resolve_person(&mut work.tx, actor.org_id, "break_glass", &who)
                            .await?;
                    let person = store::people::find_person(&mut work.tx, actor.org_id, id)
                        .await?
                        .ok_or(DeskError::NotFound("person"))?;
                    if !person.roles.0.iter().any(|r| r == Role::Admin.as_str()) {
                        return Err(DeskError::invalid(
                            "break_glass",
                            format!("{name} is not an admin; break-glass accounts are admins"),
                        ));
                    }
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                ids
            }
            None => current.break_glass,
        };
        if !local {
            if admins.is_empty() {
                return Err(DeskError::invalid(
                    "break_glass",
                    "name at least one break-glass admin before switching local passwords off",
                ));
            }
            if store::sso::list_providers(&mut work.tx, actor.org_id)
                .await?
                .is_empty()
            {
                return Err(DeskError::invalid(
                    "local_passwords",
                    "add a single sign-on provider before switching local passwords off",
                ));
            }
        }
        let row = SettingsRow {
            org_id: actor.org_id,
            local_passwords: local,
            break_glass: Json(admins),
            updated_at: store::now(),
        };
        store::sso::save_settings(&mut work.tx, &row).await?;
        work.audit(
            actor,
            "sso.settings_changed",
            &actor.org_id.to_string(),
            json!({ "local_passwords": local, "break_glass": row.break_glass.0 }),
        );
        Ok(settings_view(Some(row)))
    }

    /// The providers whose buttons the sign-in page shows: those of the
    /// named organization, or of the only one when there is one.
    pub async fn sso_buttons(
        &self,
        organization: Option<&str>,
    ) -> Result<Vec<SsoButton>, DeskError> {
        let org = match organization {
            Some(slug) => {
                let mut tx = self.db.read().await?;
                store::orgs::find_org_by_slug(&mut tx, slug).await?
            }
            None => {
                let mut orgs = store::orgs::list_orgs(&self.db).await?;
                if orgs.len() == 1 {
                    orgs.pop()
                } else {
                    None
                }
            }
        };
        let Some(org) = org else {
            return Ok(Vec::new());
        };
        let mut tx = self.db.read().await?;
        Ok(store::sso::list_providers(&mut tx, org.id)
            .await?
            .into_iter()
            .map(|p| SsoButton {
                id: p.id,
                name: p.name,
            })
            .collect())
    }

    /// Starts a console sign-in through provider `id`: records the state,
    /// nonce and PKCE verifier (bound to `browser`, the browser's cookie)
    /// and answers where to send the browser.
    pub async fn sso_begin(
        &self,
        id: Uuid,
        browser: &str,
        next: &str,
    ) -> Result<SsoStart, DeskError> {
        let mut tx = self.db.read().await?;
        let provider = store::sso::find_provider_by_id(&mut tx, id)
            .await?
            .ok_or(DeskError::NotFound("provider"))?;
        drop(tx);
        let metadata = self
            .oidc
            .discover(&provider.issuer, false)
            .await
            .map_err(|reason| {
                tracing::warn!(provider = %provider.id, %reason, "single sign-on cannot start");
                DeskError::Unauthenticated(
                    "the identity provider cannot be reached; try again later",
                )
            })?;
        let redirect_uri = self.sso_redirect_uri();
        let redirect = RedirectUrl::new(redirect_uri.clone()).map_err(anyhow::Error::from)?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(provider.client_id.clone()),
            None,
        )
        .set_redirect_uri(redirect);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            AuthenticationFlow::<openidconnect::core::CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in SCOPES {
            request = request.add_scope(Scope::new(scope.to_string()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        let now = store::now();
        let row = LoginRow {
            state_hash: sha256_hex(state.secret()),
            org_id: provider.org_id,
            provider_id: provider.id,
            browser_hash: sha256_hex(browser),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            redirect_uri,
            next_path: next.to_string(),
            expires_at: now + LOGIN_TTL,
            used_at: None,
            created_at: now,
        };
        self.execute(move |work| {
            Box::pin(async move {
                store::sso::purge_logins(&mut work.tx, now - Duration::days(1)).await?;
                store::sso::insert_login(&mut work.tx, &row).await?;
                Ok(())
            })
        })
        .await?;
        Ok(SsoStart {
            authorize_url: url.to_string(),
        })
    }

    /// The console's callback: the state must name a sign-in under way of
    /// this browser (it is used up here, whatever follows), the code is
    /// exchanged with its PKCE verifier, the ID token verified with its
    /// nonce, and the person signed in. Answers the session and where the
    /// person was going.
    pub async fn sso_complete(
        &self,
        state: &str,
        code: &str,
        browser: Option<&str>,
        address: &str,
    ) -> Result<Result<(Session, String), SsoRefusal>, DeskError> {
        let hash = sha256_hex(state);
        let login = self
            .execute(move |work| {
                Box::pin(async move {
                    Ok(store::sso::take_login(&mut work.tx, &hash, store::now()).await?)
                })
            })
            .await?;
        let Some(login) = login else {
            return Ok(Err(SsoRefusal(
                "this sign-in is unknown, expired or already used; start again",
            )));
        };
        if browser.map(sha256_hex).as_deref() != Some(login.browser_hash.as_str()) {
            return Ok(Err(SsoRefusal(
                "this sign-in was started in another browser; start again",
            )));
        }
        let mut tx = self.db.read().await?;
        let provider = store::sso::find_provider(&mut tx, login.org_id, login.provider_id)
            .await?
            .ok_or(DeskError::NotFound("provider"))?;
        drop(tx);
        let sealer = self.sso_sealer().await?;
        let secret = self.open_secret(&sealer, &provider)?;
        let raw = match self.exchange_code(&provider, &secret, &login, code).await {
            Ok(raw) => raw,
            Err(refusal) => {
                return self
                    .sso_refused(&provider, refusal, address, None)
                    .await
                    .map(Err)
            }
        };
        let verified = match self.verify(&provider, &raw, Some(&login.nonce)).await {
            Ok(v) => v,
            Err(refusal) => {
                return self
                    .sso_refused(&provider, refusal, address, None)
                    .await
                    .map(Err)
            }
        };
        Ok(self
            .sso_sign_in(&provider, verified, address, "console")
            .await?
            .map(|session| (session, login.next_path)))
    }

    /// The token exchange for API clients: an ID token the client got
    /// from provider `id` (its audience must be the provider's client id)
    /// for the same session a password sign-in gives.
    pub async fn sso_exchange(
        &self,
        id: Uuid,
        id_token: &str,
        address: &str,
    ) -> Result<Result<Session, SsoRefusal>, DeskError> {
        let mut tx = self.db.read().await?;
        let provider = store::sso::find_provider_by_id(&mut tx, id).await?;
        drop(tx);
        let Some(provider) = provider else {
            return Ok(Err(SsoRefusal("unknown provider")));
        };
        let verified = match self.verify(&provider, id_token, None).await {
            Ok(v) => v,
            Err(refusal) => {
                return self
                    .sso_refused(&provider, refusal, address, None)
                    .await
                    .map(Err)
            }
        };
        self.sso_sign_in(&provider, verified, address, "token_exchange")
            .await
    }

    /// Exchanges the code at the provider's token endpoint (with the
    /// sign-in's PKCE verifier) and answers the raw ID token.
    async fn exchange_code(
        &self,
        provider: &ProviderRow,
        secret: &str,
        login: &LoginRow,
        code: &str,
    ) -> Result<String, SsoRefusal> {
        let unreachable = SsoRefusal("the identity provider cannot be reached; try again later");
        let metadata = self
            .oidc
            .discover(&provider.issuer, false)
            .await
            .map_err(|reason| {
                tracing::warn!(provider = %provider.id, %reason, "single sign-on discovery failed");
                unreachable
            })?;
        let redirect = RedirectUrl::new(login.redirect_uri.clone())
            .map_err(|_| SsoRefusal("the redirect URI is not valid"))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(provider.client_id.clone()),
            Some(ClientSecret::new(secret.to_string())),
        )
        .set_redirect_uri(redirect);
        let request = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|_| SsoRefusal("the identity provider has no token endpoint"))?
            .set_pkce_verifier(PkceCodeVerifier::new(login.pkce_verifier.clone()));
        let response = request.request_async(&self.oidc.http).await.map_err(|e| {
            tracing::info!(provider = %provider.id, error = %chain(&e), "the code exchange was refused");
            match e {
                openidconnect::RequestTokenError::ServerResponse(_) => {
                    SsoRefusal("the identity provider refused the code (used, expired or not ours)")
                }
                _ => unreachable,
            }
        })?;
        response
            .id_token()
            .map(ToString::to_string)
            .ok_or(SsoRefusal("the identity provider sent no ID token"))
    }

    /// Verifies an ID token of `provider`: signature (with a key set
    /// fetched again once for an unknown key), issuer, audience, expiry,
    /// and the nonce when the sign-in set one.
    async fn verify(
        &self,
        provider: &ProviderRow,
        raw: &str,
        nonce: Option<&str>,
    ) -> Result<Verified, SsoRefusal> {
        let token: Token = raw
            .trim()
            .parse()
            .map_err(|_| SsoRefusal("the ID token is not a signed JWT"))?;
        let metadata = self
            .oidc
            .discover(&provider.issuer, false)
            .await
            .map_err(|reason| {
                tracing::warn!(provider = %provider.id, %reason, "single sign-on discovery failed");
                SsoRefusal("the identity provider cannot be reached; try again later")
            })?;
        let check = |metadata: &CoreProviderMetadata| {
            let verifier = verifier(provider, metadata);
            let result = match nonce {
                Some(n) => token.claims(&verifier, &Nonce::new(n.to_string())).cloned(),
                None => token.claims(&verifier, |_: Option<&Nonce>| Ok(())).cloned(),
            };
            result
        };
        let claims = match check(&metadata) {
            Err(e) if is_unknown_key(&e) => match self.oidc.refetch_keys(&provider.issuer).await {
                Some(fresh) => check(&fresh),
                None => Err(e),
            },
            other => other,
        }
        .map_err(|e| {
            tracing::info!(provider = %provider.id, error = %e, "an ID token was refused");
            token_refusal(&e)
        })?;
        Ok(Verified {
            subject: claims.subject().as_str().to_string(),
            email: claims.email().map(|e| e.as_str().trim().to_lowercase()),
            email_verified: claims.email_verified() == Some(true),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_string()),
            groups: groups_of(raw, &provider.groups_claim),
        })
    }

    /// Records a refusal in the provider's organization's audit trail.
    async fn sso_refused(
        &self,
        provider: &ProviderRow,
        refusal: SsoRefusal,
        address: &str,
        subject: Option<(Uuid, String)>,
    ) -> Result<SsoRefusal, DeskError> {
        let org = provider.org_id;
        let provider_id = provider.id;
        let address = address.to_string();
        self.execute(move |work| {
            Box::pin(async move {
                let (actor, target) = match &subject {
                    Some((person, _)) => (Actor::system(org), person.to_string()),
                    None => (Actor::system(org), provider_id.to_string()),
                };
                work.audit(
                    &actor,
                    "auth.sso_refused",
                    &target,
                    json!({ "provider": provider_id, "reason": refusal.0, "address": address,
                            "email": subject.as_ref().map(|(_, e)| e) }),
                );
                Ok(refusal)
            })
        })
        .await
    }

    /// Just-in-time account and session for verified claims, in one use
    /// case: the subject's person, or the person with the verified email
    /// (linked), or a new person; roles from the groups; refusals audited.
    async fn sso_sign_in(
        &self,
        provider: &ProviderRow,
        claims: Verified,
        address: &str,
        via: &'static str,
    ) -> Result<Result<Session, SsoRefusal>, DeskError> {
        let provider = provider.clone();
        let address = address.to_string();
        let desk = self.clone();
        self.execute(move |work| {
            Box::pin(async move {
                let system = Actor::system(provider.org_id);
                let refuse = |work: &mut Work,
                              reason: &'static str,
                              person: Option<Uuid>|
                 -> Result<Result<Session, SsoRefusal>, DeskError> {
                    work.audit(
                        &system,
                        "auth.sso_refused",
                        &person.unwrap_or(provider.id).to_string(),
                        json!({ "provider": provider.id, "reason": reason, "address": address,
                                "subject": claims.subject, "email": claims.email }),
                    );
                    Ok(Err(SsoRefusal(reason)))
                };
                let Some(email) = claims.email.clone() else {
                    return refuse(work, "the ID token carries no email address", None);
                };
                if !claims.email_verified {
                    return refuse(work, "the identity provider has not verified this email address", None);
                }
                let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
                if !provider.allowed_domains.0.iter().any(|d| d == domain) {
                    return refuse(work, "this email domain may not sign in through this provider", None);
                }
                let now = store::now();
                let linked = store::sso::find_identity(&mut work.tx, provider.id, &claims.subject).await?;
                let mut person = match &linked {
                    Some(link) => store::people::find_person(&mut work.tx, provider.org_id, link.person_id).await?,
                    None => None,
                };
                let roles = mapped_roles(&provider, &claims.groups);
                if person.is_none() {
                    person = store::people::find_person_by_email(&mut work.tx, provider.org_id, &email).await?;
                    if let Some(existing) = &person {
                        if existing.disabled_at.is_some() {
                            return refuse(work, "this account is disabled", Some(existing.id));
                        }
                        work.audit(
                            &system,
                            "sso.person_linked",
                            &existing.id.to_string(),
                            json!({ "provider": provider.id, "subject": claims.subject, "email": email }),
                        );
                    }
                }
                let person = match person {
                    Some(p) => p,
                    None => {
                        let name = claims.name.clone().filter(|n| Name::parse("name", n).is_ok()).unwrap_or_else(|| email.clone());
                        let initial = roles.clone().unwrap_or_else(|| vec![Role::Requester.as_str().to_string()]);
                        let view = people::insert_person(work, &system, &name, Some(&email), &initial).await?;
                        work.audit(
                            &system,
                            "sso.person_created",
                            &view.id.to_string(),
                            json!({ "provider": provider.id, "subject": claims.subject, "email": email,
                                    "roles": initial, "groups": claims.groups }),
                        );
                        store::people::find_person(&mut work.tx, provider.org_id, view.id)
                            .await?
                            .ok_or(DeskError::NotFound("person"))?
                    }
                };
                if person.disabled_at.is_some() {
                    return refuse(work, "this account is disabled", Some(person.id));
                }
                match linked {
                    Some(_) => store::sso::touch_identity(&mut work.tx, provider.id, &claims.subject, &email, now).await?,
                    None => {
                        store::sso::insert_identity(&mut work.tx, &SsoIdentityRow {
                            provider_id: provider.id,
                            subject: claims.subject.clone(),
                            org_id: provider.org_id,
                            person_id: person.id,
                            email: email.clone(),
                            created_at: now,
                            last_login: now,
                        })
                        .await?
                    }
                }
                if let Some(roles) = roles {
                    let mut sorted_new = roles.clone();
                    sorted_new.sort();
                    let mut sorted_old = person.roles.0.clone();
                    sorted_old.sort();
                    if sorted_new != sorted_old {
                        let mut changed = person.clone();
                        changed.roles = Json(roles.clone());
                        store::people::update_person(&mut work.tx, &changed).await?;
                        work.audit(
                            &system,
                            "sso.roles_synced",
                            &person.id.to_string(),
                            json!({ "provider": provider.id, "from": person.roles.0, "to": roles, "groups": claims.groups }),
                        );
                    }
                }
                let account = store::identity::find_account(&mut work.tx, provider.org_id, person.id)
                    .await?
                    .ok_or(DeskError::NotFound("person"))?;
                let session = desk.issue_session(work, &account, None).await?;
                let mut actor = people::actor_from(
                    account.org_id,
                    account.id,
                    &account.name,
                    &account.email,
                    &[],
                    Channel::Web,
                );
                actor.roles.clear();
                work.audit(
                    &actor,
                    "auth.sso_login_succeeded",
                    &account.id.to_string(),
                    json!({ "provider": provider.id, "via": via, "address": address, "subject": claims.subject }),
                );
                Ok(Ok(session))
            })
        })
        .await
    }

    /// Whether `account` may sign in with its password: yes unless its
    /// organization switched local passwords off and it is not one of the
    /// break-glass admins (`Some(true)`: allowed as break-glass).
    pub(super) async fn password_policy(
        &self,
        tx: &mut store::Tx,
        org_id: Uuid,
        person_id: Uuid,
    ) -> Result<PasswordPolicy, DeskError> {
        let settings = store::sso::find_settings(tx, org_id).await?;
        Ok(match settings {
            Some(s) if !s.local_passwords => {
                if s.break_glass.0.contains(&person_id) {
                    PasswordPolicy::BreakGlass
                } else {
                    PasswordPolicy::Off
                }
            }
            _ => PasswordPolicy::Allowed,
        })
    }
}

/// What an organization's settings say about one account's password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PasswordPolicy {
    Allowed,
    BreakGlass,
    Off,
}

fn settings_view(row: Option<SettingsRow>) -> SsoSettingsView {
    match row {
        Some(r) => SsoSettingsView {
            local_passwords: r.local_passwords,
            break_glass: r.break_glass.0,
        },
        None => SsoSettingsView {
            local_passwords: true,
            break_glass: Vec::new(),
        },
    }
}

/// A fresh random value for the browser cookie that binds a sign-in.
pub fn browser_token() -> String {
    random_token("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt_with(payload: &Value) -> String {
        format!(
            "e30.{}.sig",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload).expect("json"))
        )
    }

    #[test]
    fn groups_are_read_as_a_list_or_one_string() {
        let raw = jwt_with(&json!({ "groups": ["a", "b", 3], "roles": "x" }));
        assert_eq!(groups_of(&raw, "groups"), vec!["a", "b"]);
        assert_eq!(groups_of(&raw, "roles"), vec!["x"]);
        assert!(groups_of(&raw, "missing").is_empty());
        assert!(groups_of("not a jwt", "groups").is_empty());
    }

    #[test]
    fn domains_are_normalized_and_checked() {
        let ok = parse_domains(&[
            "Corp.Example".into(),
            "@corp.example".into(),
            "sub.corp.example".into(),
        ])
        .expect("valid");
        assert_eq!(ok, vec!["corp.example", "sub.corp.example"]);
        assert!(parse_domains(&[]).is_err());
        assert!(parse_domains(&["localhost".into()]).is_err());
        assert!(parse_domains(&["evil.example/x".into()]).is_err());
    }

    #[test]
    fn groups_map_to_roles_and_unmapped_people_are_requesters() {
        let now = Utc::now();
        let row = ProviderRow {
            id: Uuid::nil(),
            org_id: Uuid::nil(),
            name: "Corp".into(),
            issuer: "https://idp.example".into(),
            client_id: "c".into(),
            secret_nonce: Vec::new(),
            secret_sealed: Vec::new(),
            allowed_domains: Json(vec!["corp.example".into()]),
            role_mapping: Json(json!({ "itsm-admins": "admin", "itsm-agents": "agent" })),
            groups_claim: "groups".into(),
            created_at: now,
            updated_at: now,
        };
        assert_eq!(
            mapped_roles(
                &row,
                &["staff".into(), "itsm-agents".into(), "itsm-admins".into()]
            ),
            Some(vec!["agent".to_string(), "admin".to_string()])
        );
        assert_eq!(
            mapped_roles(&row, &["staff".into()]),
            Some(vec!["requester".to_string()])
        );
        let unmapped = ProviderRow {
            role_mapping: Json(json!({})),
            ..row
        };
        assert_eq!(mapped_roles(&unmapped, &["itsm-admins".into()]), None);
    }

    #[test]
    fn a_mapping_to_an_unknown_role_is_refused() {
        let mut mapping = BTreeMap::new();
        mapping.insert("g".to_string(), "overlord".to_string());
        assert!(parse_mapping(&mapping).is_err());
    }

    #[test]
    fn issuers_must_be_plain_http_urls() {
        assert!(parse_issuer("https://login.example.com/tenant/v2.0").is_ok());
        assert!(parse_issuer("ftp://x.example").is_err());
        assert!(parse_issuer("https://x.example/?a=b").is_err());
        assert!(parse_issuer("not a url").is_err());
    }
}
