//! Secrets sealed at rest: AES-256-GCM under a key derived from a secret,
//! with associated data that binds a sealed value to the row it belongs to
//! (a sealed value copied to another row does not open). Used for Slack
//! bot tokens, rotated OAuth refresh tokens and the client secrets of
//! single sign-on providers. Pure computation (like `password`), so the
//! desk may use it; `runtime::seal` re-exports it for the workers.

use aes_gcm::{
    aead::{Aead, KeyInit, Payload},
    Aes256Gcm, Nonce,
};
use rand::RngCore;
use sha2::{Digest, Sha256};

pub struct Sealer {
    key: [u8; 32],
}

impl Sealer {
    /// A sealer keyed by SHA-256 of `secret`.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: Sha256::digest(secret).into(),
        }
    }

    /// The raw key, for other uses derived from the same secret (e.g. an HMAC).
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// Seals `plain` for `aad`: (nonce, ciphertext with tag).
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
        let cipher = Aes256Gcm::new_from_slice(&self.key)?;
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad })
            .map_err(|_| anyhow::anyhow!("sealing failed"))?;
        Ok((nonce.to_vec(), sealed))
    }

    /// Opens a sealed value; fails on a wrong key, another `aad` or a
    /// tampered value.
    pub fn open(&self, aad: &[u8], nonce: &[u8], sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
        if nonce.len() != 12 {
            anyhow::bail!("a sealed value with a nonce of {} bytes", nonce.len());
        }
        let cipher = Aes256Gcm::new_from_slice(&self.key)?;
        cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad })
            .map_err(|_| anyhow::anyhow!("the sealed value does not open with this key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_with_its_key_and_its_row() {
        let sealer = Sealer::new(b"a secret");
        let (nonce, sealed) = sealer.seal(b"row-1", b"token").expect("seal");
        assert_eq!(
            sealer.open(b"row-1", &nonce, &sealed).expect("open"),
            b"token"
        );
        assert!(sealer.open(b"row-2", &nonce, &sealed).is_err());
        assert!(Sealer::new(b"another")
            .open(b"row-1", &nonce, &sealed)
            .is_err());
        let mut tampered = sealed.clone();
        tampered[0] ^= 1;
        assert!(sealer.open(b"row-1", &nonce, &tampered).is_err());
        assert!(sealer.open(b"row-1", &nonce[..8], &sealed).is_err());
    }
}
