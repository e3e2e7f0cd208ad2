//! Sealing secrets at rest: the AES-256-GCM [`Sealer`] lives in
//! `domain::seal` (the desk seals single sign-on client secrets with it);
//! re-exported here for the workers and channels that used it first.

pub use crate::domain::seal::Sealer;
