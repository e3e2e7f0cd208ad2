//! TOTP second factor: enrolment with recovery codes, confirmation,
//! disabling, and the organization's policy requiring it.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{own_account, sha256_hex};
use crate::desk::{Actor, Desk, DeskError, Work};
use crate::{
    domain::totp::{self, TotpSecret},
    store::{self},
};

impl Desk {
    /// Starts TOTP enrolment: a new secret, active once confirmed.
    pub async fn begin_mfa(
        &self,
        work: &mut Work,
        actor: &Actor,
    ) -> Result<MfaEnrolment, DeskError> {
        let (person, account) = own_account(&mut work.tx, actor).await?;
        if account.mfa_enabled {
            return Err(DeskError::Conflict(
                "two-factor authentication is already on; turn it off first to re-enrol".into(),
            ));
        }
        let mut bytes = [0u8; totp::SECRET_BYTES];
        rand::thread_rng().fill_bytes(&mut bytes);
        let secret = TotpSecret::generate(bytes);
        store::identity::set_mfa(&mut work.tx, person, Some(&secret.to_base32()), false, None)
            .await?;
        work.audit(
            actor,
            "mfa.enrolment_started",
            &person.to_string(),
            json!({}),
        );
        let label = account.email.unwrap_or(account.name);
        Ok(MfaEnrolment {
            otpauth_uri: totp::otpauth_uri(&secret, "Switchboard", &label),
            secret: secret.to_base32(),
        })
    }

    /// Confirms enrolment with a first code; returns the recovery codes.
    pub async fn confirm_mfa(
        &self,
        work: &mut Work,
        actor: &Actor,
        code: &str,
    ) -> Result<RecoveryCodes, DeskError> {
        let (person, account) = own_account(&mut work.tx, actor).await?;
        if account.mfa_enabled {
            return Err(DeskError::Conflict(
                "two-factor authentication is already on".into(),
            ));
        }
        let secret = account.totp_secret().ok_or_else(|| {
            DeskError::Conflict("start enrolment first (POST /api/v1/me/mfa/totp)".into())
        })?;
        let step =
            totp::verify(&secret, code, store::now().timestamp(), None).ok_or_else(|| {
                DeskError::invalid(
                    "code",
                    "the code does not match; check the device clock and try the current code",
                )
            })?;
        let mut random = [0u8; totp::RECOVERY_RANDOM_BYTES];
        rand::thread_rng().fill_bytes(&mut random);
        let codes = totp::recovery_codes(&random);
        let hashes: Vec<String> = codes
            .iter()
            .map(|c| sha256_hex(&totp::normalize_recovery_code(c)))
            .collect();
        store::identity::set_mfa(
            &mut work.tx,
            person,
            Some(&secret.to_base32()),
            true,
            Some(step),
        )
        .await?;
        store::identity::replace_recovery_codes(&mut work.tx, person, &hashes).await?;
        work.audit(
            actor,
            "mfa.enabled",
            &person.to_string(),
            json!({ "recovery_codes": codes.len() }),
        );
        Ok(RecoveryCodes {
            recovery_codes: codes,
        })
    }

    /// Turns MFA off after a valid current code (refused while the
    /// organization requires it).
    pub async fn disable_mfa(
        &self,
        work: &mut Work,
        actor: &Actor,
        code: &str,
    ) -> Result<(), DeskError> {
        let (person, account) = own_account(&mut work.tx, actor).await?;
        if account.mfa_required {
            return Err(DeskError::Forbidden(
                "your organization requires two-factor authentication".into(),
            ));
        }
        let secret = account.totp_secret();
        let valid = match (account.mfa_enabled, secret) {
            (true, Some(secret)) => totp::verify(
                &secret,
                code,
                store::now().timestamp(),
                account.mfa_last_step,
            )
            .is_some(),
            _ => {
                return Err(DeskError::Conflict(
                    "two-factor authentication is not on".into(),
                ))
            }
        };
        if !valid {
            work.audit(actor, "mfa.disable_refused", &person.to_string(), json!({}));
            return Err(DeskError::invalid("code", "the code does not match"));
        }
        store::identity::set_mfa(&mut work.tx, person, None, false, None).await?;
        store::identity::replace_recovery_codes(&mut work.tx, person, &[]).await?;
        work.audit(actor, "mfa.disabled", &person.to_string(), json!({}));
        Ok(())
    }

    /// The organization's policy: require MFA for every local account.
    pub async fn set_mfa_policy(
        &self,
        work: &mut Work,
        actor: &Actor,
        required: bool,
    ) -> Result<(), DeskError> {
        actor.require_admin()?;
        store::identity::set_org_mfa_required(&mut work.tx, actor.org_id, required).await?;
        work.audit(
            actor,
            "organization.mfa_policy_changed",
            &actor.org_id.to_string(),
            json!({ "mfa_required": required }),
        );
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MfaEnrolment {
    /// Base32 secret for manual entry.
    pub secret: String,
    /// Render as a QR code for authenticator apps.
    pub otpauth_uri: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecoveryCodes {
    /// Shown once; each works once instead of a TOTP code.
    pub recovery_codes: Vec<String>,
}
