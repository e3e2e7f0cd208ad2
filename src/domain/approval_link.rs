//! One-click approval links: the token in `/approvals/email/{token}`.
//!
//! A token names one decision (approve or reject) of one stage of one
//! approval by one approver, and when it stops working. It is
//! `base64url(claims JSON) "." base64url(HMAC-SHA256(key, first part))`;
//! the signature is checked in constant time before the claims are read.
//! Single use is not the token's business: the desk records each used
//! token's hash.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

/// What a link lets its holder do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkClaims {
    /// Organization.
    pub o: Uuid,
    /// Approval.
    pub a: Uuid,
    /// Stage index the approver was asked for.
    pub s: i32,
    /// The approver.
    pub p: Uuid,
    /// `approve` or `reject`.
    pub d: String,
    /// Expiry, Unix seconds.
    pub e: i64,
}

impl LinkClaims {
    pub fn expires_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.e, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

/// Why a token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("this link is malformed (was it cut off in the mail?)")]
    Malformed,
    #[error("this link was not issued by this service")]
    Forged,
    #[error("this link has expired")]
    Expired,
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length")
}

/// Signs `claims` into a URL-safe token.
pub fn sign(key: &[u8], claims: &LinkClaims) -> String {
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let mut m = mac(key);
    m.update(body.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    format!("{body}.{signature}")
}

/// Checks the signature, then the expiry, and returns the claims.
pub fn verify(key: &[u8], token: &str, now: DateTime<Utc>) -> Result<LinkClaims, LinkError> {
    let (body, signature) = token.trim().split_once('.').ok_or(LinkError::Malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| LinkError::Malformed)?;
    let mut m = mac(key);
    m.update(body.as_bytes());
    m.verify_slice(&signature).map_err(|_| LinkError::Forged)?;
    let json = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| LinkError::Malformed)?;
    let claims: LinkClaims = serde_json::from_slice(&json).map_err(|_| LinkError::Malformed)?;
    if claims.d != "approve" && claims.d != "reject" {
        return Err(LinkError::Malformed);
    }
    if now.timestamp() >= claims.e {
        return Err(LinkError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(expires: i64) -> LinkClaims {
        LinkClaims {
            o: Uuid::nil(),
            a: Uuid::from_u128(1),
            s: 0,
            p: Uuid::from_u128(2),
            d: "approve".into(),
            e: expires,
        }
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let now = Utc::now();
        let c = claims(now.timestamp() + 60);
        let token = sign(b"key", &c);
        assert_eq!(verify(b"key", &token, now), Ok(c.clone()));
        assert_eq!(
            verify(b"key", &token, now + chrono::Duration::seconds(61)),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn another_key_or_a_changed_claim_is_forged() {
        let now = Utc::now();
        let token = sign(b"key", &claims(now.timestamp() + 60));
        assert_eq!(verify(b"other", &token, now), Err(LinkError::Forged));
        let (_, signature) = token.split_once('.').expect("two parts");
        let mut changed = claims(now.timestamp() + 60);
        changed.d = "reject".into();
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&changed).expect("json"));
        assert_eq!(
            verify(b"key", &format!("{body}.{signature}"), now),
            Err(LinkError::Forged)
        );
    }

    #[test]
    fn garbage_is_malformed() {
        let now = Utc::now();
        for token in ["", "abc", "a.b", "!!.??"] {
            assert!(
                matches!(
                    verify(b"key", token, now),
                    Err(LinkError::Malformed | LinkError::Forged)
                ),
                "{token}"
            );
        }
        assert_eq!(verify(b"key", "abc", now), Err(LinkError::Malformed));
    }
}
