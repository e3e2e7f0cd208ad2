//! Passwords: the strength policy and argon2id hashing.
//!
//! [`Password::parse`] is the only way to get a [`Password`], so holding one
//! proves the policy was checked: 12–128 characters, no control characters,
//! and not easy to guess by zxcvbn's estimate (score 3 of 4: common
//! passwords, names, keyboard walks, repeats, sequences and dates with a
//! few changes all score lower). Length is what actually makes a password
//! strong, so there are deliberately no composition rules ("one digit, one
//! symbol"), in line with NIST SP 800-63B.
//!
//! Hashes are argon2id in PHC string format with the OWASP-recommended cost
//! (19 MiB of memory, two passes, one lane) and a fresh random salt. The PHC
//! string records its own parameters, so raising the cost later does not
//! invalidate stored hashes. The salt is the one thing in the domain layer
//! that draws randomness itself; verification is deterministic.
//!
//! Passwords are compared exactly as typed: no trimming and no Unicode
//! normalisation, so what the user typed at sign-up must be typed again.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::fmt;

use super::text::FieldError;

/// The fewest characters a password may have.
pub const MIN_CHARS: usize = 12;
/// The most characters a password may have; long enough for any passphrase,
/// short enough that hashing cost stays bounded.
pub const MAX_CHARS: usize = 128;

/// argon2 memory cost in KiB (OWASP: 19 MiB).
const MEMORY_KIB: u32 = 19_456;
/// argon2 passes over memory (OWASP: 2).
const ITERATIONS: u32 = 2;
/// argon2 lanes (OWASP: 1).
const PARALLELISM: u32 = 1;

/// The field name used in [`FieldError`]s from [`Password::parse`].
const FIELD: &str = "password";

/// A valid argon2id hash (of a discarded random password) with exactly the
/// parameters [`hash_password`] uses, so that [`dummy_verify`] costs what a
/// real verification costs. A test checks the parameters still match.
const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$5ApE9X8Eg0swki39x8eqew$IGcbIshuwY8YoWNikoWS19EcmjkRxmRUkid9oKTpgH8";

/// The lowest zxcvbn score accepted: "safely unguessable", more than 10^8
/// guesses (zxcvbn's own recommendation and what Dropbox, which wrote it,
/// asks for).
const MIN_SCORE: zxcvbn::Score = zxcvbn::Score::Three;

/// A password that satisfies the policy. Deliberately has no `Display` and a
/// redacting `Debug`, so it cannot end up in logs by accident.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Checks `input` against the policy. The input is taken exactly as
    /// given (not trimmed): spaces are legitimate password characters.
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let error = |message: String| FieldError {
            field: FIELD.into(),
            message,
        };
        let chars = input.chars().count();
        if chars < MIN_CHARS {
            return Err(error(format!(
                "must be at least {MIN_CHARS} characters (got {chars})"
            )));
        }
        if chars > MAX_CHARS {
            return Err(error(format!(
                "must be at most {MAX_CHARS} characters (got {chars})"
            )));
        }
        if input.chars().any(char::is_control) {
            return Err(error(
                "must not contain control characters (including newlines and tabs)".to_owned(),
            ));
        }
        let estimate = zxcvbn::zxcvbn(input, &[]);
        if estimate.score() < MIN_SCORE {
            // zxcvbn's own words: "This is a very common password. Add
            // another word or two. …"
            let advice = match estimate.feedback() {
                Some(feedback) => feedback.to_string(),
                None => "Add another word or two.".to_owned(),
            };
            return Err(error(format!("is too easy to guess. {advice}")));
        }
        Ok(Self(input.to_owned()))
    }

    /// The password itself, for hashing or handing to a verifier.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Hashing a password failed. With fixed, valid parameters this should not
/// happen in practice; it is an error rather than a panic all the same.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(#[from] argon2::password_hash::Error),
    #[error("invalid argon2 parameters: {0}")]
    Params(#[from] argon2::Error),
}

/// The argon2id hasher with the OWASP parameters.
fn hasher() -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes `password` with argon2id and a fresh random 16-byte salt, returning
/// the PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) to store.
pub fn hash_password(password: &Password) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let hash = hasher()?.hash_password(password.as_str().as_bytes(), &salt)?;
    Ok(hash.to_string())
}

/// Whether `candidate` matches the stored PHC string. The comparison is
/// constant-time (argon2's own); a malformed or unsupported hash is simply a
/// mismatch. The cost parameters are read from `phc`, not assumed.
pub fn verify_password(candidate: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    Argon2::default()
        .verify_password(candidate.as_bytes(), &parsed)
        .is_ok()
}

/// Spends as long as a real [`verify_password`] would, and always "fails".
///
/// Call this when a login names an account that does not exist, so the
/// response time does not reveal which accounts exist.
pub fn dummy_verify(candidate: &str) {
    std::hint::black_box(verify_password(std::hint::black_box(candidate), DUMMY_PHC));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn message(input: &str) -> String {
        Password::parse(input)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    fn password(input: &str) -> Password {
        match Password::parse(input) {
            Ok(p) => p,
            Err(e) => panic!("{input:?} should be accepted: {e}"),
        }
    }

    #[test]
    fn policy_messages() {
        assert_eq!(
            message("short123"),
            "password: must be at least 12 characters (got 8)"
        );
        assert_eq!(
            message(""),
            "password: must be at least 12 characters (got 0)"
        );
        assert_eq!(
            message(&"ab".repeat(100)),
            "password: must be at most 128 characters (got 200)"
        );
        assert_eq!(
            message("password1234"),
            "password: is too easy to guess. This is a very common password. \
             Add another word or two. Uncommon words are better."
        );
        assert_eq!(
            message("correct horse\nbattery"),
            "password: must not contain control characters (including newlines and tabs)"
        );
        assert!(Password::parse("tab\tseparated words").is_err());
        assert!(Password::parse("nul byte here\0").is_err());
    }

    #[test]
    fn guessable_passwords_are_refused_whatever_their_length() {
        for weak in [
            "password1234",
            "Password12345",
            "qwertyuiop12",
            "1q2w3e4r5t6y",
            "123456789012",
            "abcdefghijkl",
            "iloveyou1234",
            "administrator",
            "aaaaaaaaaaaaaaaa",
            "abcabcabcabcabc",
        ] {
            let message = message(weak);
            assert!(
                message.starts_with("password: is too easy to guess"),
                "{weak}: {message}"
            );
        }
    }

    #[test]
    fn lengths_count_characters_and_input_is_kept_verbatim() {
        // 12 characters but 24 bytes.
        assert_eq!(password("çàéèùâêîôûëï").as_str(), "çàéèùâêîôûëï");
        let longest: String = "ünïcödé correct horse battery staple "
            .chars()
            .cycle()
            .take(MAX_CHARS)
            .collect();
        assert!(longest.len() > MAX_CHARS);
        assert!(Password::parse(&longest).is_ok());
        assert!(Password::parse(&format!("{longest}b")).is_err());
        assert_eq!(
            password("  correct horse battery  ").as_str(),
            "  correct horse battery  "
        );
    }

    #[test]
    fn debug_is_redacted() {
        let p = password("correct horse battery staple");
        assert_eq!(format!("{p:?}"), "Password(<redacted>)");
    }

    #[test]
    fn hash_roundtrip_and_mismatch() -> Result<(), PasswordError> {
        let p = password("correct horse battery staple");
        let phc = hash_password(&p)?;
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password("correct horse battery staple", &phc));
        assert!(!verify_password("correct horse battery stapl", &phc));
        assert!(!verify_password("", &phc));
        // Fresh salt each time.
        assert_ne!(hash_password(&p)?, phc);
        Ok(())
    }

    #[test]
    fn malformed_hashes_never_verify() {
        for phc in [
            "",
            "not a hash",
            "$argon2id$",
            "$argon2id$v=19$m=19456,t=2,p=1$",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$!!!",
            "$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
        ] {
            assert!(
                !verify_password("correct horse battery staple", phc),
                "{phc}"
            );
        }
    }

    #[test]
    fn dummy_hash_is_valid_and_uses_current_params() {
        let parsed = PasswordHash::new(DUMMY_PHC);
        let Ok(parsed) = parsed else {
            panic!("DUMMY_PHC does not parse: {parsed:?}");
        };
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        let params = Params::try_from(&parsed);
        assert_eq!(
            params.map(|p| (p.m_cost(), p.t_cost(), p.p_cost())),
            Ok((MEMORY_KIB, ITERATIONS, PARALLELISM))
        );
        assert!(parsed.hash.is_some());
        assert!(!verify_password("", DUMMY_PHC));
        dummy_verify("anything");
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_accepts_only_in_range(input in "\\PC{0,140}") {
            let in_range = (MIN_CHARS..=MAX_CHARS).contains(&input.chars().count());
            match Password::parse(&input) {
                Ok(p) => {
                    prop_assert!(in_range);
                    prop_assert_eq!(p.as_str(), input.as_str());
                }
                Err(e) => prop_assert_eq!(e.field, "password"),
            }
        }
    }
}
