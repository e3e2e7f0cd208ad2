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
//!
//! Files: `mod.rs` the sign-in (console and token exchange) and the
//! just-in-time account; `admin.rs` providers and settings; `keys.rs`
//! discovery and key caching, and the ID token verifier.

mod admin;
mod keys;

pub use admin::{ProviderInput, ProviderView, SsoSettingsView};
pub use keys::Providers;

use chrono::Duration;
use openidconnect::{
    core::{
        CoreClient, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
        CoreProviderMetadata,
    },
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EmptyAdditionalClaims, IdToken, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse,
};
use serde_json::json;
use sqlx::types::Json;
use uuid::Uuid;

use super::{random_token, sha256_hex, Desk, DeskError, Session, Work};
use crate::{
    desk::{people, Actor},
    domain::{seal::Sealer, text::Name, Channel, Role},
    store::{
        self,
        sso::{LoginRow, ProviderRow, SsoIdentityRow},
    },
};
use admin::mapping_of;
use keys::{chain, entra_domain_verified, groups_of, is_unknown_key, token_refusal, verifier};

/// How long a sign-in may take between the redirect and the callback.
pub const LOGIN_TTL: Duration = Duration::minutes(10);
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
            Err(refusal) => return self.sso_refused(&provider, refusal, address).await.map(Err),
        };
        let verified = match self.verify(&provider, &raw, Some(&login.nonce)).await {
            Ok(v) => v,
            Err(refusal) => return self.sso_refused(&provider, refusal, address).await.map(Err),
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
            Err(refusal) => return self.sso_refused(&provider, refusal, address).await.map(Err),
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
            email_verified: claims.email_verified() == Some(true) || entra_domain_verified(raw),
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
    ) -> Result<SsoRefusal, DeskError> {
        let org = provider.org_id;
        let provider_id = provider.id;
        let address = address.to_string();
        self.execute(move |work| {
            Box::pin(async move {
                work.audit(
                    &Actor::system(org),
                    "auth.sso_refused",
                    &provider_id.to_string(),
                    json!({ "provider": provider_id, "reason": refusal.0, "address": address }),
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

/// A fresh random value for the browser cookie that binds a sign-in.
pub fn browser_token() -> String {
    random_token("")
}

#[cfg(test)]
mod tests {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    use chrono::Utc;
    use serde_json::Value;

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
    fn entras_domain_verified_claim_counts_as_a_verified_email() {
        for yes in [json!(true), json!("true"), json!("1"), json!(1)] {
            assert!(entra_domain_verified(&jwt_with(
                &json!({ "xms_edov": yes })
            )));
        }
        for no in [json!(false), json!("false"), json!(0), json!(null)] {
            assert!(!entra_domain_verified(&jwt_with(
                &json!({ "xms_edov": no })
            )));
        }
        assert!(!entra_domain_verified(&jwt_with(
            &json!({ "email": "a@b.c" })
        )));
        assert!(!entra_domain_verified("not a jwt"));
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
}
