//! Local accounts and sessions: invitations and registration, login with
//! optional TOTP second step, short-lived JWT access tokens with rotating
//! refresh tokens (reuse revokes the family), logout, password change and
//! reset, MFA enrolment, and login throttling with temporary lockout.
//!
//! Failed attempts are use cases too: their throttle counters and audit
//! events commit, then the caller is refused.
//!
//! Files: `mod.rs` sign-in, sessions, JWTs, refresh and logout;
//! `passwords.rs` password change and reset; `invitations.rs` invitations
//! and registration; `mfa.rs` TOTP enrolment and the MFA policy. May import
//! `domain`, `store` and the desk modules below it (`people`, `throttle`).

mod invitations;
mod mfa;
pub mod oidc;
mod passwords;

pub use invitations::InvitationView;
pub use mfa::{MfaEnrolment, RecoveryCodes};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    new_id,
    throttle::{count_failure, locked_until},
    Actor, Desk, DeskError, Work,
};
use crate::{
    domain::{
        password::{dummy_verify, verify_password},
        totp::{self, TotpSecret},
        Channel,
    },
    store::{
        self,
        identity::{AccountRow, OneTime, RefreshRow},
        outbox::OutboxRow,
        Tx,
    },
};
use oidc::PasswordPolicy;

/// Lifetimes and limits of the account flows (`[auth]` in the configuration).
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub invitation_ttl: Duration,
    pub reset_ttl: Duration,
    pub mfa_challenge_ttl: Duration,
    /// Failures per account within 15 minutes before a lockout.
    pub max_failures: i32,
    /// Failures per client address within 15 minutes before a lockout.
    pub max_failures_per_address: i32,
    pub lockout: Duration,
    /// Base of links in emails (`server.public_url`).
    pub public_url: String,
    /// How long a one-click approval link works (`email.approval_link_ttl_hours`).
    pub approval_link_ttl: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            access_ttl: Duration::minutes(15),
            refresh_ttl: Duration::days(30),
            invitation_ttl: Duration::days(7),
            reset_ttl: Duration::minutes(30),
            mfa_challenge_ttl: Duration::minutes(5),
            max_failures: 5,
            max_failures_per_address: 50,
            lockout: Duration::minutes(15),
            public_url: "http://127.0.0.1:8080".into(),
            approval_link_ttl: Duration::hours(72),
        }
    }
}

/// Claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    org: Uuid,
    /// The session (refresh-token family); logout revokes it.
    sid: Uuid,
    iat: i64,
    exp: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Session {
    /// JWT for `Authorization: Bearer …`, valid `expires_in` seconds.
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    /// One-time: exchange at `/api/v1/auth/refresh` for a new pair.
    pub refresh_token: String,
    /// True when the organization requires MFA and this person has not
    /// enrolled yet: only `/api/v1/me/mfa/*` works until they do.
    pub mfa_enrollment_required: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LoginResult {
    /// Signed in.
    Authenticated(Session),
    /// Password accepted; send a TOTP or recovery code with this token to
    /// `/api/v1/auth/mfa`.
    MfaRequired { mfa_token: String, expires_in: i64 },
}

/// Why a sign-in was refused (after the failure was recorded).
#[derive(Debug, Clone)]
pub enum Refusal {
    BadCredentials,
    /// The organization signs in through single sign-on only.
    PasswordsOff,
    LockedOut {
        until: DateTime<Utc>,
    },
}

/// An authenticated access token: the actor and whether MFA enrolment is due.
pub struct Authenticated {
    pub actor: Actor,
    pub mfa_enrollment_required: bool,
    /// The session (refresh-token family) the token belongs to.
    pub session_id: Uuid,
}

pub(crate) fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// The `server_secrets` row of the JWT key (approval links derive theirs from it).
pub(crate) const JWT_SECRET_NAME: &str = "jwt_hs256";

pub(crate) fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

fn account_key(email: &str) -> String {
    format!("account:{}", email.trim().to_lowercase())
}

fn address_key(address: &str) -> String {
    format!("address:{address}")
}

impl Desk {
    /// Reads (or creates) the session signing key now, at start. Read
    /// first inside a use case's transaction, it would open a second one:
    /// on SQLite, with one writer, that one waits for the first and the
    /// sign-in fails with "database is locked".
    pub async fn load_signing_key(&self) -> Result<(), DeskError> {
        self.jwt_secret().await.map(|_| ())
    }

    pub(crate) async fn jwt_secret(&self) -> Result<&[u8], DeskError> {
        let secret = self
            .jwt
            .get_or_try_init(|| async {
                let mut tx = self.db.begin().await?;
                let fresh = random_token("");
                let value = store::identity::ensure_server_secret(
                    &mut tx,
                    JWT_SECRET_NAME,
                    &fresh,
                    store::now(),
                )
                .await?;
                tx.commit().await?;
                Ok::<_, DeskError>(value.into_bytes())
            })
            .await?;
        Ok(secret.as_slice())
    }

    async fn issue_session(
        &self,
        work: &mut Work,
        account: &AccountRow,
        family: Option<Uuid>,
    ) -> Result<Session, DeskError> {
        let now = store::now();
        let family = family.unwrap_or_else(new_id);
        let refresh = random_token("sbr_");
        store::identity::insert_refresh(
            &mut work.tx,
            &RefreshRow {
                id: new_id(),
                org_id: account.org_id,
                person_id: account.id,
                family_id: family,
                token_hash: sha256_hex(&refresh),
                expires_at: now + self.settings.auth.refresh_ttl,
                used_at: None,
                revoked_at: None,
                created_at: now,
            },
        )
        .await?;
        let claims = Claims {
            sub: account.id,
            org: account.org_id,
            sid: family,
            iat: now.timestamp(),
            exp: (now + self.settings.auth.access_ttl).timestamp(),
        };
        let key = EncodingKey::from_secret(self.jwt_secret().await?);
        let access = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key)
            .map_err(anyhow::Error::from)?;
        Ok(Session {
            access_token: access,
            token_type: "Bearer".into(),
            expires_in: self.settings.auth.access_ttl.num_seconds(),
            refresh_token: refresh,
            mfa_enrollment_required: account.mfa_required && !account.mfa_enabled,
        })
    }

    /// Verifies an access token and loads who it stands for. Revoked
    /// sessions and disabled people are refused at once, not at expiry.
    pub async fn authenticate_jwt(
        &self,
        token: &str,
        channel: Channel,
    ) -> Result<Authenticated, DeskError> {
        let key = DecodingKey::from_secret(self.jwt_secret().await?);
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    DeskError::Unauthenticated("access token expired; refresh it")
                }
                _ => DeskError::Unauthenticated("invalid access token"),
            })?
            .claims;
        if store::identity::family_revoked(&self.db, claims.sid).await? {
            return Err(DeskError::Unauthenticated("this session was signed out"));
        }
        let mut tx = self.db.read().await?;
        let account = store::identity::find_account(&mut tx, claims.org, claims.sub)
            .await?
            .ok_or(DeskError::Unauthenticated("unknown account"))?;
        if account.disabled_at.is_some() {
            return Err(DeskError::Unauthenticated("this account is disabled"));
        }
        Ok(Authenticated {
            actor: actor_for_account(&account, channel),
            mfa_enrollment_required: account.mfa_required && !account.mfa_enabled,
            session_id: claims.sid,
        })
    }

    /// The anti-forgery token of a session: forms of the web console carry
    /// it, and a state-changing request without it is refused. Derived
    /// from the session, so it holds across token refreshes and dies with
    /// the session.
    pub async fn session_csrf_token(&self, session_id: Uuid) -> Result<String, DeskError> {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(self.jwt_secret().await?)
            .map_err(anyhow::Error::from)?;
        mac.update(b"console-csrf:");
        mac.update(session_id.as_bytes());
        Ok(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    /// Password sign-in. `organization` picks among accounts that share an
    /// email across organizations; `address` is the client, for throttling.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        organization: Option<&str>,
        address: &str,
    ) -> Result<Result<LoginResult, Refusal>, DeskError> {
        let email = email.trim().to_lowercase();
        let mut tx = self.db.read().await?;
        let mut accounts = store::identity::find_accounts_by_email(&mut tx, &email).await?;
        drop(tx);
        if let Some(slug) = organization {
            let orgs = store::orgs::list_orgs(&self.db).await?;
            let wanted = orgs.iter().find(|o| o.slug == slug).map(|o| o.id);
            accounts.retain(|a| Some(a.org_id) == wanted);
        }
        // Organizations that sign in through single sign-on only: their
        // accounts' passwords are not even tried (break-glass admins' are).
        let mut tx = self.db.read().await?;
        let mut break_glass = Vec::new();
        let mut passwords_off = None;
        let mut allowed = Vec::new();
        for account in accounts {
            match self
                .password_policy(&mut tx, account.org_id, account.id)
                .await?
            {
                PasswordPolicy::Off => {
                    passwords_off.get_or_insert(account);
                }
                PasswordPolicy::BreakGlass => {
                    break_glass.push(account.id);
                    allowed.push(account);
                }
                PasswordPolicy::Allowed => allowed.push(account),
            }
        }
        drop(tx);
        let accounts = allowed;
        let passwords_off = passwords_off.filter(|_| accounts.is_empty());
        // Password hashing is slow on purpose: do it outside any transaction.
        let candidate = password.to_string();
        let matched = tokio::task::spawn_blocking(move || {
            let with_password: Vec<AccountRow> = accounts
                .into_iter()
                .filter(|a| a.password_hash.is_some())
                .collect();
            if with_password.is_empty() {
                dummy_verify(&candidate);
                return None;
            }
            with_password.into_iter().find(|a| {
                a.password_hash
                    .as_deref()
                    .is_some_and(|h| verify_password(&candidate, h))
            })
        })
        .await
        .map_err(anyhow::Error::from)?;
        let address = address.to_string();
        let desk = self.clone();
        self.execute(move |work| {
            Box::pin(async move {
                let now = store::now();
                for key in [account_key(&email), address_key(&address)] {
                    if let Some(until) = locked_until(&mut work.tx, &key, now).await? {
                        if let Some(account) = &matched {
                            work.audit(
                                &system_for(account),
                                "auth.login_refused_locked",
                                &account.id.to_string(),
                                json!({ "address": address }),
                            );
                        }
                        return Ok(Err(Refusal::LockedOut { until }));
                    }
                }
                if let (None, Some(account)) = (&matched, &passwords_off) {
                    work.audit(
                        &system_for(account),
                        "auth.password_sign_in_refused",
                        &account.id.to_string(),
                        json!({ "address": address, "reason": "local passwords are off" }),
                    );
                    return Ok(Err(Refusal::PasswordsOff));
                }
                let account = match matched {
                    Some(a) if a.disabled_at.is_none() => a,
                    disabled => {
                        let locked = desk.record_failure(work, &email, &address, now).await?;
                        let (account, reason) = match disabled {
                            Some(account) => (Some(account), "disabled"),
                            None => (desk.account_by_email(work, &email).await?, "password"),
                        };
                        if let Some(account) = account {
                            work.audit(
                                &system_for(&account),
                                "auth.login_failed",
                                &account.id.to_string(),
                                json!({ "address": address, "reason": reason }),
                            );
                        }
                        return Ok(Err(match locked {
                            Some(until) => Refusal::LockedOut { until },
                            None => Refusal::BadCredentials,
                        }));
                    }
                };
                store::identity::clear_throttle(&mut work.tx, &account_key(&email)).await?;
                if break_glass.contains(&account.id) {
                    work.audit(
                        &system_for(&account),
                        "auth.break_glass_sign_in",
                        &account.id.to_string(),
                        json!({ "address": address, "mfa": account.mfa_enabled }),
                    );
                }
                if account.mfa_enabled {
                    let challenge = random_token("sbm_");
                    let ttl = desk.settings.auth.mfa_challenge_ttl;
                    store::identity::insert_one_time(
                        &mut work.tx,
                        OneTime::MfaChallenge,
                        &sha256_hex(&challenge),
                        account.org_id,
                        account.id,
                        now + ttl,
                        now,
                    )
                    .await?;
                    work.audit(
                        &system_for(&account),
                        "auth.password_accepted",
                        &account.id.to_string(),
                        json!({ "address": address, "mfa": true }),
                    );
                    return Ok(Ok(LoginResult::MfaRequired {
                        mfa_token: challenge,
                        expires_in: ttl.num_seconds(),
                    }));
                }
                let session = desk.issue_session(work, &account, None).await?;
                work.audit(
                    &system_for(&account),
                    "auth.login_succeeded",
                    &account.id.to_string(),
                    json!({ "address": address }),
                );
                Ok(Ok(LoginResult::Authenticated(session)))
            })
        })
        .await
    }

    async fn account_by_email(
        &self,
        work: &mut Work,
        email: &str,
    ) -> Result<Option<AccountRow>, DeskError> {
        Ok(store::identity::find_accounts_by_email(&mut work.tx, email)
            .await?
            .into_iter()
            .next())
    }

    async fn record_failure(
        &self,
        work: &mut Work,
        email: &str,
        address: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, DeskError> {
        let auth = &self.settings.auth;
        let by_account = count_failure(
            &mut work.tx,
            &account_key(email),
            now,
            auth.max_failures,
            auth.lockout,
        )
        .await?;
        let by_address = count_failure(
            &mut work.tx,
            &address_key(address),
            now,
            auth.max_failures_per_address,
            auth.lockout,
        )
        .await?;
        let locked = by_account.or(by_address);
        if locked.is_some() {
            if let Some(account) = self.account_by_email(work, email).await? {
                work.audit(
                    &system_for(&account),
                    "auth.locked_out",
                    &account.id.to_string(),
                    json!({ "address": address, "until": locked }),
                );
            }
        }
        Ok(locked)
    }

    /// Second login step: a TOTP code or a recovery code.
    pub async fn login_mfa(
        &self,
        mfa_token: String,
        code: Option<String>,
        recovery_code: Option<String>,
        address: &str,
    ) -> Result<Result<Session, Refusal>, DeskError> {
        let address = address.to_string();
        let desk = self.clone();
        self.execute(move |work| {
            Box::pin(async move {
                let now = store::now();
                let hash = sha256_hex(&mfa_token);
                let challenge =
                    store::identity::find_one_time(&mut work.tx, OneTime::MfaChallenge, &hash)
                        .await?
                        .filter(|c| c.used_at.is_none() && c.expires_at > now);
                let Some(challenge) = challenge else {
                    return Ok(Err(Refusal::BadCredentials));
                };
                let account = store::identity::find_account(
                    &mut work.tx,
                    challenge.org_id,
                    challenge.person_id,
                )
                .await?
                .ok_or(DeskError::Unauthenticated("unknown account"))?;
                let email = account.email.clone().unwrap_or_default();
                if let Some(until) = locked_until(&mut work.tx, &account_key(&email), now).await? {
                    return Ok(Err(Refusal::LockedOut { until }));
                }
                let accepted = match (code, recovery_code) {
                    (Some(code), _) => match account
                        .mfa_secret
                        .as_deref()
                        .map(TotpSecret::from_base32)
                    {
                        Some(Ok(secret)) => match totp::verify(
                            &secret,
                            &code,
                            now.timestamp(),
                            account.mfa_last_step,
                        ) {
                            Some(step) => {
                                store::identity::set_mfa_last_step(&mut work.tx, account.id, step)
                                    .await?;
                                true
                            }
                            None => false,
                        },
                        _ => false,
                    },
                    (None, Some(recovery)) => {
                        let used = store::identity::use_recovery_code(
                            &mut work.tx,
                            account.id,
                            &sha256_hex(&totp::normalize_recovery_code(&recovery)),
                            now,
                        )
                        .await?;
                        if used {
                            work.audit(
                                &system_for(&account),
                                "auth.recovery_code_used",
                                &account.id.to_string(),
                                json!({ "address": address }),
                            );
                        }
                        used
                    }
                    (None, None) => {
                        return Err(DeskError::invalid(
                            "code",
                            "send `code` (from the authenticator app) or `recovery_code`",
                        ))
                    }
                };
                if !accepted {
                    let locked = desk.record_failure(work, &email, &address, now).await?;
                    work.audit(
                        &system_for(&account),
                        "auth.mfa_failed",
                        &account.id.to_string(),
                        json!({ "address": address }),
                    );
                    return Ok(Err(match locked {
                        Some(until) => Refusal::LockedOut { until },
                        None => Refusal::BadCredentials,
                    }));
                }
                if !store::identity::use_one_time(&mut work.tx, OneTime::MfaChallenge, &hash, now)
                    .await?
                {
                    return Ok(Err(Refusal::BadCredentials));
                }
                store::identity::clear_throttle(&mut work.tx, &account_key(&email)).await?;
                let session = desk.issue_session(work, &account, None).await?;
                work.audit(
                    &system_for(&account),
                    "auth.login_succeeded",
                    &account.id.to_string(),
                    json!({ "address": address, "mfa": true }),
                );
                Ok(Ok(session))
            })
        })
        .await
    }

    /// Exchanges a refresh token for a new pair. A token presented twice
    /// means it leaked: the whole session family is revoked.
    pub async fn refresh(
        &self,
        refresh_token: String,
    ) -> Result<Result<Session, Refusal>, DeskError> {
        let desk = self.clone();
        self.execute(move |work| {
            Box::pin(async move {
                let now = store::now();
                let Some(row) =
                    store::identity::lock_refresh(&mut work.tx, &sha256_hex(&refresh_token))
                        .await?
                else {
                    return Ok(Err(Refusal::BadCredentials));
                };
                let account =
                    store::identity::find_account(&mut work.tx, row.org_id, row.person_id)
                        .await?
                        .ok_or(DeskError::Unauthenticated("unknown account"))?;
                if row.revoked_at.is_some()
                    || row.expires_at <= now
                    || account.disabled_at.is_some()
                {
                    return Ok(Err(Refusal::BadCredentials));
                }
                if row.used_at.is_some() {
                    store::identity::revoke_family(&mut work.tx, row.family_id, now).await?;
                    work.audit(
                        &system_for(&account),
                        "auth.refresh_reuse_detected",
                        &account.id.to_string(),
                        json!({ "session": row.family_id }),
                    );
                    return Ok(Err(Refusal::BadCredentials));
                }
                store::identity::mark_refresh_used(&mut work.tx, row.id, now).await?;
                Ok(Ok(desk
                    .issue_session(work, &account, Some(row.family_id))
                    .await?))
            })
        })
        .await
    }

    /// Ends the session the refresh token belongs to (its access tokens too).
    pub async fn logout(&self, refresh_token: String) -> Result<bool, DeskError> {
        self.execute(move |work| {
            Box::pin(async move {
                let Some(row) =
                    store::identity::lock_refresh(&mut work.tx, &sha256_hex(&refresh_token))
                        .await?
                else {
                    return Ok(false);
                };
                store::identity::revoke_family(&mut work.tx, row.family_id, store::now()).await?;
                let actor = Actor::system(row.org_id);
                work.audit(
                    &actor,
                    "auth.logout",
                    &row.person_id.to_string(),
                    json!({ "session": row.family_id }),
                );
                Ok(true)
            })
        })
        .await
    }
}

fn actor_for_account(account: &AccountRow, channel: Channel) -> Actor {
    super::people::actor_from(
        account.org_id,
        account.id,
        &account.name,
        &account.email,
        &account.roles.0,
        channel,
    )
}

/// The actor an authentication event is recorded under: the account itself,
/// acting through the web channel.
fn system_for(account: &AccountRow) -> Actor {
    let mut actor = actor_for_account(account, Channel::Web);
    actor.roles.clear();
    actor
}

/// The signed-in person's account.
async fn own_account(tx: &mut Tx, actor: &Actor) -> Result<(Uuid, AccountRow), DeskError> {
    let person = actor.person_id.ok_or(DeskError::NotFound("person"))?;
    let account = store::identity::find_account(tx, actor.org_id, person)
        .await?
        .ok_or(DeskError::NotFound("person"))?;
    Ok((person, account))
}

impl AccountRow {
    /// The stored TOTP secret, if one is set and readable.
    fn totp_secret(&self) -> Option<TotpSecret> {
        self.mfa_secret
            .as_deref()
            .map(TotpSecret::from_base32)
            .and_then(Result::ok)
    }
}

impl Work {
    /// Queues an email in the outbox (delivered by the email channel).
    pub fn send_email(&mut self, org_id: Uuid, to: &str, event: &str, subject: &str, text: &str) {
        let now = store::now();
        self.buffers.outbox.push(OutboxRow {
            id: new_id(),
            org_id,
            channel: "email".into(),
            target: to.to_string(),
            event: event.to_string(),
            payload: sqlx::types::Json(json!({ "to": to, "subject": subject, "text": text })),
            state: store::outbox::PENDING.into(),
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            created_at: now,
            delivered_at: None,
        });
    }
}
