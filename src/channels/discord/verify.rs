//! Discord request signing: `X-Signature-Ed25519` is the hex Ed25519
//! signature of `timestamp ‖ body` under the application's public key,
//! `X-Signature-Timestamp` the timestamp. Discord itself probes the
//! endpoint with bad signatures and expects 401. The signature does not
//! cover freshness, so the timestamp must also be within five minutes
//! (replay protection), as for Slack.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier as _, VerifyingKey};

/// How far a request's timestamp may be from now, in seconds.
pub const MAX_SKEW_SECS: i64 = 300;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing X-Signature-Ed25519 or X-Signature-Timestamp")]
    Missing,
    #[error("the request timestamp is not a number")]
    BadTimestamp,
    #[error("the request is older than five minutes (or from the future)")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
}

/// The application's public key, parsed once at start.
#[derive(Clone)]
pub struct Verifier {
    key: VerifyingKey,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Verifier({})", hex::encode(self.key.as_bytes()))
    }
}

impl Verifier {
    /// From the hex public key shown on the application's page.
    pub fn new(public_key_hex: &str) -> Result<Self, String> {
        let key = crate::config::parse_ed25519_public_key(public_key_hex)?;
        Ok(Self { key })
    }

    /// Checks a request's signature; `now` in Unix seconds.
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), VerifyError> {
        let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
            return Err(VerifyError::Missing);
        };
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| VerifyError::BadTimestamp)?;
        let signature: [u8; 64] = hex::decode(signature.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(VerifyError::Mismatch)?;
        let mut message = Vec::with_capacity(timestamp.len() + body.len());
        message.extend_from_slice(timestamp.as_bytes());
        message.extend_from_slice(body);
        self.key
            .verify(&message, &Signature::from_bytes(&signature))
            .map_err(|_| VerifyError::Mismatch)?;
        // Checked after the signature so a forged request learns nothing.
        if (now - ts).abs() > MAX_SKEW_SECS {
            return Err(VerifyError::Stale);
        }
        Ok(())
    }
}

/// The signature Discord would send for `body` at `timestamp`, made with
/// the 32-byte secret seed; tests and the benchmark sign with it.
pub fn sign(seed: &[u8; 32], timestamp: &str, body: &[u8]) -> String {
    let key = SigningKey::from_bytes(seed);
    let mut message = Vec::with_capacity(timestamp.len() + body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.extend_from_slice(body);
    hex::encode(key.sign(&message).to_bytes())
}

/// The hex public key belonging to a secret seed (for test configuration).
pub fn public_key_hex(seed: &[u8; 32]) -> String {
    hex::encode(SigningKey::from_bytes(seed).verifying_key().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: [u8; 32] = [7; 32];

    #[test]
    fn signed_requests_verify_and_forged_stale_or_missing_are_refused() {
        let verifier = Verifier::new(&public_key_hex(&SEED)).expect("key");
        let body = br#"{"type":1}"#;
        let good = sign(&SEED, "1000", body);
        assert_eq!(
            verifier.verify(Some("1000"), Some(&good), body, 1000),
            Ok(())
        );
        let other = sign(&[8; 32], "1000", body);
        assert_eq!(
            verifier.verify(Some("1000"), Some(&other), body, 1000),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verifier.verify(Some("1000"), Some(&good), br#"{"type":2}"#, 1000),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verifier.verify(Some("1001"), Some(&good), body, 1000),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verifier.verify(Some("1000"), Some(&good), body, 1000 + 301),
            Err(VerifyError::Stale)
        );
        assert_eq!(
            verifier.verify(None, Some(&good), body, 1000),
            Err(VerifyError::Missing)
        );
        assert_eq!(
            verifier.verify(Some("1000"), Some("zz"), body, 1000),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verifier.verify(Some("soon"), Some(&good), body, 1000),
            Err(VerifyError::BadTimestamp)
        );
    }

    #[test]
    fn keys_agree_with_an_independent_implementation() {
        // Python's `cryptography` derives this public key from 32 bytes of 0x2a.
        assert_eq!(
            public_key_hex(&[42; 32]),
            "197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61"
        );
    }

    #[test]
    fn bad_public_keys_are_named() {
        assert!(Verifier::new("abc").is_err());
        assert!(Verifier::new(&"00".repeat(31)).is_err());
    }
}
