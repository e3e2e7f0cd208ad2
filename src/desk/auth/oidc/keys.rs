//! The protocol's moving parts: each issuer's discovery document and key
//! set, cached for an hour and fetched again when a token names a key we
//! do not hold (the provider rotated its keys; at most once per ten
//! seconds per issuer), the ID token verifier (asymmetric algorithms
//! only), and how a verification failure is told.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration as StdDuration, Instant},
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use openidconnect::{
    core::{CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreProviderMetadata},
    ClaimsVerificationError, ClientId, IdTokenVerifier, IssuerUrl, SignatureVerificationError,
};
use serde_json::Value;

use super::SsoRefusal;
use crate::store::sso::ProviderRow;

/// How long an issuer's discovery document and keys are kept.
const METADATA_TTL: StdDuration = StdDuration::from_secs(3600);
/// The least time between two key set fetches for an unknown key.
const JWKS_REFETCH_GAP: StdDuration = StdDuration::from_secs(10);
/// Outbound requests to a provider.
const HTTP_TIMEOUT: StdDuration = StdDuration::from_secs(10);

struct Cached {
    metadata: CoreProviderMetadata,
    fetched: Instant,
    /// The last fetch of the key set for an unknown key (the first one
    /// after discovery is always allowed: a rotation right after it).
    refetched: Option<Instant>,
}

/// Discovery documents and key sets by issuer, and the HTTP client that
/// fetches them (no redirects followed, as the crate advises).
pub struct Providers {
    pub(super) http: reqwest::Client,
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
pub(super) fn chain(error: &dyn std::error::Error) -> String {
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
    pub(super) async fn discover(
        &self,
        issuer: &str,
        fresh: bool,
    ) -> Result<CoreProviderMetadata, String> {
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
                refetched: None,
            },
        );
        Ok(metadata)
    }

    /// Fetches the issuer's key set again (a token named a key we do not
    /// hold); `None` when it was fetched moments ago or cannot be.
    pub(super) async fn refetch_keys(&self, issuer: &str) -> Option<CoreProviderMetadata> {
        let metadata = {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            let cached = cache.get_mut(issuer)?;
            if cached
                .refetched
                .is_some_and(|at| at.elapsed() < JWKS_REFETCH_GAP)
            {
                return None;
            }
            // Counted before the fetch, so a failing key set is not
            // fetched again at every token either.
            cached.refetched = Some(Instant::now());
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

pub(super) fn verifier<'a>(
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
pub(super) fn token_refusal(error: &ClaimsVerificationError) -> SsoRefusal {
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

pub(super) fn is_unknown_key(error: &ClaimsVerificationError) -> bool {
    matches!(
        error,
        ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)
    )
}

/// The groups claim of a verified token's payload: a list of strings, or
/// one string.
pub(super) fn groups_of(raw: &str, claim: &str) -> Vec<String> {
    match payload(raw).as_ref().and_then(|p| p.get(claim)) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

/// Whether Entra ID says the email's domain is verified by its owner (the
/// optional `xms_edov` claim, Microsoft's answer for apps that link by
/// email: Entra sends no `email_verified`). Read from a token whose
/// signature was already checked.
pub(super) fn entra_domain_verified(raw: &str) -> bool {
    match payload(raw).as_ref().and_then(|p| p.get("xms_edov")) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.as_str(), "true" | "True" | "1"),
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        _ => false,
    }
}

/// The claims of a JWT, unverified (the caller verified the signature).
fn payload(raw: &str) -> Option<Value> {
    raw.split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
}
