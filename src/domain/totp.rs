//! Time-based one-time passwords (RFC 6238, built on HOTP from RFC 4226) and
//! recovery codes for two-factor sign-in.
//!
//! Everything here is deterministic: the caller supplies the randomness (for
//! secrets and recovery codes) and the current time, so the rules can be
//! tested against the RFC vectors and nothing here touches a clock or an RNG.
//!
//! The parameters are the ones every authenticator app understands: HMAC-SHA1,
//! six digits, 30-second steps, and 160-bit secrets shown as RFC 4648 base32.
//! A code is accepted for the previous, current and next step to absorb clock
//! skew, and each accepted step is returned so the caller can store it and
//! refuse the same (or an older) step next time — without that, a code seen
//! over someone's shoulder would stay usable for up to a minute and a half.

use hmac::digest::Key;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use std::fmt;
use subtle::ConstantTimeEq;

/// Length of a secret in bytes (160 bits, the RFC 4226 recommendation and
/// the HMAC-SHA1 output size).
pub const SECRET_BYTES: usize = 20;
/// Digits in a code.
pub const DIGITS: usize = 6;
/// Seconds per time step.
pub const PERIOD: i64 = 30;
/// How many recovery codes [`recovery_codes`] produces.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Random bytes [`recovery_codes`] needs: one per code character.
pub const RECOVERY_RANDOM_BYTES: usize = RECOVERY_CODE_COUNT * RECOVERY_CODE_CHARS;

/// Characters per recovery code, not counting the hyphen.
const RECOVERY_CODE_CHARS: usize = 10;
/// Lowercase letters and digits without the easily confused `0`, `o`, `1`
/// and `l`. Exactly 32 characters, so a byte's low five bits pick one without
/// bias and each code carries 50 bits of entropy.
const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// A base32 secret could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    #[error("secret contains `{character}`, which is not a base32 character (A–Z, 2–7)")]
    InvalidCharacter { character: char },
    #[error("secret is not valid base32: it is truncated or its last character is wrong")]
    InvalidBase32,
    #[error("secret must be {SECRET_BYTES} bytes (32 base32 characters), got {got} bytes")]
    WrongLength { got: usize },
}

/// A shared TOTP secret. `Debug` is redacted so it cannot leak into logs.
#[derive(Clone)]
pub struct TotpSecret([u8; SECRET_BYTES]);

impl TotpSecret {
    /// Wraps 20 bytes that the caller drew from a cryptographically secure
    /// RNG (e.g. `rand::rngs::OsRng`). The domain never draws randomness
    /// itself, which keeps it deterministic and testable.
    pub const fn generate(random: [u8; SECRET_BYTES]) -> Self {
        Self(random)
    }

    /// Reads a secret in RFC 4648 base32, as shown by enrolment screens and
    /// stored by [`to_base32`](Self::to_base32). Case, whitespace and `=`
    /// padding are ignored because people copy secrets in all forms; the
    /// result must be exactly 20 bytes.
    pub fn from_base32(input: &str) -> Result<Self, TotpError> {
        let cleaned: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = base32_decode(cleaned.trim_end_matches('='))?;
        <[u8; SECRET_BYTES]>::try_from(bytes.as_slice())
            .map(Self)
            .map_err(|_| TotpError::WrongLength { got: bytes.len() })
    }

    /// The secret in RFC 4648 base32: uppercase, no padding (32 characters).
    pub fn to_base32(&self) -> String {
        base32_encode(&self.0)
    }

    /// The raw secret bytes.
    pub const fn as_bytes(&self) -> &[u8; SECRET_BYTES] {
        &self.0
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

/// The `otpauth://` URI that authenticator apps read from an enrolment QR
/// code. `issuer` and `account` are percent-encoded (everything but RFC 3986
/// unreserved characters), so a `:` or space in them cannot break the label.
pub fn otpauth_uri(secret: &TotpSecret, issuer: &str, account: &str) -> String {
    let issuer = percent_encode(issuer);
    let account = percent_encode(account);
    let secret = secret.to_base32();
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}\
         &algorithm=SHA1&digits={DIGITS}&period={PERIOD}"
    )
}

/// The six-digit code (zero-padded) for the time step containing
/// `unix_time` (seconds since the Unix epoch).
pub fn code_at(secret: &TotpSecret, unix_time: i64) -> String {
    code_for_step(secret, time_step(unix_time))
}

/// Checks a code typed by the user at `unix_time`.
///
/// The code must be exactly six ASCII digits once surrounding whitespace and
/// inner spaces are removed (apps display `123 456`). It is compared in
/// constant time against the codes for the previous, current and next time
/// step. A step at or before `last_used_step` is refused, so each code works
/// once. Returns the matched step, which the caller must store as the new
/// `last_used_step`; `None` means "reject".
pub fn verify(
    secret: &TotpSecret,
    code: &str,
    unix_time: i64,
    last_used_step: Option<i64>,
) -> Option<i64> {
    let code: String = code.trim().chars().filter(|&c| c != ' ').collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = time_step(unix_time);
    // Check every candidate step (no early exit), so timing reveals nothing
    // about which step matched.
    let mut matched = None;
    for step in [now - 1, now, now + 1] {
        let expected = code_for_step(secret, step);
        let equal: bool = expected.as_bytes().ct_eq(code.as_bytes()).into();
        let fresh = last_used_step.is_none_or(|last| step > last);
        if equal && fresh {
            matched = Some(step);
        }
    }
    matched
}

/// Makes [`RECOVERY_CODE_COUNT`] single-use recovery codes shaped
/// `xxxxx-xxxxx` from the caller's randomness (one byte per character, so
/// [`RECOVERY_RANDOM_BYTES`] bytes from a cryptographically secure RNG).
///
/// Each code has 50 bits of entropy, so a duplicate within one set is
/// astronomically unlikely and is not checked for. Show the codes to the user
/// once and store only hashes of their [`normalize_recovery_code`] forms.
pub fn recovery_codes(random: &[u8; RECOVERY_RANDOM_BYTES]) -> Vec<String> {
    random
        .chunks_exact(RECOVERY_CODE_CHARS)
        .map(|chunk| {
            let mut code = String::with_capacity(RECOVERY_CODE_CHARS + 1);
            for (i, &byte) in chunk.iter().enumerate() {
                if i == RECOVERY_CODE_CHARS / 2 {
                    code.push('-');
                }
                code.push(char::from(RECOVERY_ALPHABET[usize::from(byte & 0x1f)]));
            }
            code
        })
        .collect()
}

/// The canonical form of a typed recovery code: lowercase, without
/// whitespace or hyphens, so `ABCDE-FGHJK`, `abcde fghjk` and `abcdefghjk`
/// all match. Hash this form both when storing and when checking.
pub fn normalize_recovery_code(input: &str) -> String {
    input
        .chars()
        .filter(|&c| !c.is_whitespace() && c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The RFC 6238 time step containing `unix_time` (floor division, so times
/// before the epoch still map to a well-defined step).
fn time_step(unix_time: i64) -> i64 {
    unix_time.div_euclid(PERIOD)
}

/// HOTP (RFC 4226) for `counter`, formatted as a zero-padded code.
fn code_for_step(secret: &TotpSecret, counter: i64) -> String {
    // HMAC zero-pads keys shorter than the hash block, so handing it the
    // padded key is the same as handing it the 20-byte secret — and, unlike
    // `new_from_slice`, cannot fail.
    let mut key = Key::<Hmac<Sha1>>::default();
    key[..SECRET_BYTES].copy_from_slice(&secret.0);
    let mut mac = <Hmac<Sha1> as hmac::digest::KeyInit>::new(&key);
    // Negative steps (before 1970) keep their two's-complement bits.
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    // Dynamic truncation: the low nibble of the last byte picks an offset
    // (at most 15, so offset + 3 is within the 20-byte hash).
    let offset = usize::from(hash[hash.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        hash[offset] & 0x7f,
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ]);
    format!("{:0width$}", binary % 1_000_000, width = DIGITS)
}

/// RFC 4648 base32 without padding.
fn base32_encode(bytes: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(bytes)
}

/// RFC 4648 base32 without padding, case-insensitive. Refuses lengths no
/// encoder produces and non-zero leftover bits (data-encoding checks both),
/// so every byte string has exactly one accepted spelling (up to case).
fn base32_decode(input: &str) -> Result<Vec<u8>, TotpError> {
    // The first character outside the alphabet is named, whatever the length.
    if let Some(character) = input
        .chars()
        .find(|c| !c.is_ascii_alphabetic() && !('2'..='7').contains(c))
    {
        return Err(TotpError::InvalidCharacter { character });
    }
    data_encoding::BASE32_NOPAD
        .decode(input.to_ascii_uppercase().as_bytes())
        .map_err(|_| TotpError::InvalidBase32)
}

/// Everything but RFC 3986's unreserved characters.
const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes everything except RFC 3986 unreserved characters.
fn percent_encode(input: &str) -> String {
    percent_encoding::utf8_percent_encode(input, NOT_UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The RFC 6238 Appendix B SHA-1 secret (also RFC 4226 Appendix D's).
    fn rfc_secret() -> TotpSecret {
        TotpSecret::generate(*b"12345678901234567890")
    }

    fn secret_from(text: &str) -> TotpSecret {
        match TotpSecret::from_base32(text) {
            Ok(s) => s,
            Err(e) => panic!("{text:?} should parse: {e}"),
        }
    }

    #[test]
    fn rfc6238_sha1_vectors() {
        let secret = rfc_secret();
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(code_at(&secret, time), code, "t = {time}");
        }
    }

    #[test]
    fn rfc4226_hotp_vectors() {
        let secret = rfc_secret();
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in (0..).zip(expected) {
            assert_eq!(code_for_step(&secret, counter), code, "counter {counter}");
            assert_eq!(code_at(&secret, counter * PERIOD + 29), code);
        }
    }

    #[test]
    fn base32_rfc4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded), Ok(plain.as_bytes().to_vec()));
            assert_eq!(
                base32_decode(&encoded.to_lowercase()),
                Ok(plain.as_bytes().to_vec())
            );
        }
    }

    #[test]
    fn base32_rejects_bad_input() {
        assert_eq!(
            base32_decode("MZ1W"),
            Err(TotpError::InvalidCharacter { character: '1' })
        );
        // Lengths 1, 3 and 6 (mod 8) are impossible.
        assert_eq!(base32_decode("M"), Err(TotpError::InvalidBase32));
        assert_eq!(base32_decode("MZX"), Err(TotpError::InvalidBase32));
        assert_eq!(base32_decode("MZXW6Y"), Err(TotpError::InvalidBase32));
        // Non-zero leftover bits ("MY" is the canonical spelling of "f").
        assert_eq!(base32_decode("MZ"), Err(TotpError::InvalidBase32));
    }

    #[test]
    fn secret_base32_forms() {
        let secret = rfc_secret();
        let encoded = secret.to_base32();
        assert_eq!(encoded, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(secret_from(&encoded).as_bytes(), secret.as_bytes());
        let loose = " gezd gnbv gy3t qojq gezd gnbv gy3t qojq== ";
        assert_eq!(secret_from(loose).as_bytes(), secret.as_bytes());
        assert_eq!(
            TotpSecret::from_base32("MZXW6YTBOI").err(),
            Some(TotpError::WrongLength { got: 6 })
        );
        assert_eq!(
            TotpSecret::from_base32("").err(),
            Some(TotpError::WrongLength { got: 0 })
        );
        assert!(TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ0").is_err());
        assert_eq!(format!("{secret:?}"), "TotpSecret(<redacted>)");
    }

    #[test]
    fn otpauth_uri_encodes_label_and_issuer() {
        let uri = otpauth_uri(&rfc_secret(), "Acme Corp: IT", "alice+ops@example.com");
        assert_eq!(
            uri,
            "otpauth://totp/Acme%20Corp%3A%20IT:alice%2Bops%40example.com\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20Corp%3A%20IT\
             &algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(percent_encode("a-b.c_d~é"), "a-b.c_d~%C3%A9");
    }

    #[test]
    fn verify_accepts_one_step_of_skew() {
        let secret = rfc_secret();
        let now = 1_111_111_111;
        let step = time_step(now);
        assert_eq!(
            verify(&secret, &code_at(&secret, now), now, None),
            Some(step)
        );
        assert_eq!(
            verify(&secret, &code_at(&secret, now - PERIOD), now, None),
            Some(step - 1)
        );
        assert_eq!(
            verify(&secret, &code_at(&secret, now + PERIOD), now, None),
            Some(step + 1)
        );
        assert_eq!(
            verify(&secret, &code_at(&secret, now - 2 * PERIOD), now, None),
            None
        );
        assert_eq!(
            verify(&secret, &code_at(&secret, now + 2 * PERIOD), now, None),
            None
        );
        let other = TotpSecret::generate([7; SECRET_BYTES]);
        assert_eq!(verify(&other, &code_at(&secret, now), now, None), None);
    }

    #[test]
    fn verify_refuses_replays() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        let code = code_at(&secret, now);
        let Some(step) = verify(&secret, &code, now, None) else {
            panic!("fresh code refused");
        };
        assert_eq!(verify(&secret, &code, now, Some(step)), None);
        assert_eq!(verify(&secret, &code, now + 10, Some(step)), None);
        assert_eq!(verify(&secret, &code, now, Some(step + 1)), None);
        assert_eq!(verify(&secret, &code, now, Some(step - 1)), Some(step));
        // An earlier-step code is refused once a later step has been used.
        let previous = code_at(&secret, now - PERIOD);
        assert_eq!(verify(&secret, &previous, now, Some(step)), None);
        // The next step's code is still fine after this one.
        let next = code_at(&secret, now + PERIOD);
        assert_eq!(verify(&secret, &next, now, Some(step)), Some(step + 1));
    }

    #[test]
    fn verify_refuses_malformed_codes() {
        let secret = rfc_secret();
        let now = 59;
        assert_eq!(verify(&secret, "287082", now, None), Some(1));
        assert_eq!(verify(&secret, " 287082\n", now, None), Some(1));
        assert_eq!(verify(&secret, "287 082", now, None), Some(1));
        for bad in [
            "",
            "28708",
            "2870820",
            "94287082",
            "28708a",
            "-87082",
            "+87082",
            "287-082",
            "２８７０８２",
            "287082\0",
        ] {
            assert_eq!(verify(&secret, bad, now, None), None, "{bad:?}");
        }
    }

    #[test]
    fn time_steps_floor() {
        assert_eq!(time_step(0), 0);
        assert_eq!(time_step(29), 0);
        assert_eq!(time_step(30), 1);
        assert_eq!(time_step(-1), -1);
        // Extreme times neither panic nor overflow.
        let _ = verify(&rfc_secret(), "000000", i64::MIN, Some(i64::MAX));
        let _ = verify(&rfc_secret(), "000000", i64::MAX, None);
        assert_eq!(code_at(&rfc_secret(), i64::MIN).len(), DIGITS);
    }

    #[test]
    fn recovery_code_format() {
        let random: [u8; RECOVERY_RANDOM_BYTES] = std::array::from_fn(|i| (i * 7) as u8);
        let codes = recovery_codes(&random);
        assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
        assert_eq!(codes[0], "ahqx6-dkt29");
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), codes.len());
        assert!(RECOVERY_ALPHABET
            .iter()
            .all(|c| !b"0o1l".contains(c) && (c.is_ascii_lowercase() || c.is_ascii_digit())));
        let mut sorted = *RECOVERY_ALPHABET;
        sorted.sort_unstable();
        assert!(sorted.windows(2).all(|w| w[0] != w[1]));
    }

    #[test]
    fn recovery_codes_normalise() {
        assert_eq!(normalize_recovery_code("ABCDE-FGHJK"), "abcdefghjk");
        assert_eq!(normalize_recovery_code(" abcde fghjk\t"), "abcdefghjk");
        assert_eq!(normalize_recovery_code("abcdefghjk"), "abcdefghjk");
        assert_eq!(normalize_recovery_code("--"), "");
    }

    proptest! {
        #[test]
        fn base32_roundtrip(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let encoded = base32_encode(&bytes);
            prop_assert_eq!(encoded.len(), (bytes.len() * 8).div_ceil(5));
            prop_assert!(encoded.bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)));
            prop_assert_eq!(base32_decode(&encoded), Ok(bytes));
        }

        #[test]
        fn secret_roundtrip(bytes in any::<[u8; SECRET_BYTES]>()) {
            let secret = TotpSecret::generate(bytes);
            let encoded = secret.to_base32();
            prop_assert_eq!(encoded.len(), 32);
            let parsed = TotpSecret::from_base32(&encoded);
            prop_assert_eq!(parsed.map(|s| *s.as_bytes()), Ok(bytes));
        }

        #[test]
        fn base32_decode_never_panics(input in "\\PC{0,40}") {
            let _ = base32_decode(&input);
            let _ = TotpSecret::from_base32(&input);
        }

        #[test]
        fn current_code_always_verifies(bytes in any::<[u8; SECRET_BYTES]>(), now in 0i64..4_000_000_000) {
            let secret = TotpSecret::generate(bytes);
            let code = code_at(&secret, now);
            prop_assert_eq!(code.len(), DIGITS);
            prop_assert_eq!(verify(&secret, &code, now, None), Some(time_step(now)));
        }

        #[test]
        fn recovery_codes_are_well_formed(random in proptest::collection::vec(any::<u8>(), RECOVERY_RANDOM_BYTES)) {
            let Ok(random) = <[u8; RECOVERY_RANDOM_BYTES]>::try_from(random.as_slice()) else {
                return Err(TestCaseError::fail("wrong length"));
            };
            let codes = recovery_codes(&random);
            prop_assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
            for code in codes {
                prop_assert_eq!(code.len(), 11);
                prop_assert_eq!(code.find('-'), Some(5));
                let normal = normalize_recovery_code(&code);
                prop_assert_eq!(normal.len(), 10);
                prop_assert!(normal.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)));
                prop_assert_eq!(normalize_recovery_code(&code.to_uppercase().replace('-', " ")), normal);
            }
        }
    }
}
