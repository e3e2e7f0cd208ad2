//! Password changes and resets: a reset link by email that does not say
//! whether the address has an account, and a reset that ends every session.

use serde_json::json;

use super::{own_account, random_token, sha256_hex, system_for};
use crate::desk::{Actor, Desk, DeskError, Work};
use crate::{
    domain::password::{hash_password, verify_password, Password},
    store::{self, identity::OneTime},
};

impl Desk {
    pub async fn change_password(
        &self,
        work: &mut Work,
        actor: &Actor,
        current: String,
        new: String,
    ) -> Result<(), DeskError> {
        let (person, account) = own_account(&mut work.tx, actor).await?;
        let new = Password::parse(&new)?;
        let hash = account.password_hash.clone();
        let (ok, new_hash) = tokio::task::spawn_blocking(move || {
            let ok = hash
                .as_deref()
                .is_some_and(|h| verify_password(&current, h));
            (ok, if ok { hash_password(&new).ok() } else { None })
        })
        .await
        .map_err(anyhow::Error::from)?;
        if !ok {
            return Err(DeskError::Forbidden(
                "the current password is not correct".into(),
            ));
        }
        let new_hash =
            new_hash.ok_or_else(|| anyhow::anyhow!("hashing the new password failed"))?;
        store::identity::set_password_hash(&mut work.tx, person, &new_hash).await?;
        store::identity::revoke_person_sessions(&mut work.tx, person, store::now()).await?;
        work.audit(
            actor,
            "password.changed",
            &person.to_string(),
            json!({ "sessions_revoked": true }),
        );
        Ok(())
    }

    /// Sends a reset link to every account with this email. Answers the same
    /// whether or not one exists, so it reveals nothing.
    pub async fn request_password_reset(&self, email: &str) -> Result<(), DeskError> {
        let email = email.trim().to_lowercase();
        let desk = self.clone();
        self.execute(move |work| {
            Box::pin(async move {
                let now = store::now();
                for account in store::identity::find_accounts_by_email(&mut work.tx, &email).await? {
                    if account.disabled_at.is_some() {
                        continue;
                    }
                    let token = random_token("sbp_");
                    let expires = now + desk.settings.auth.reset_ttl;
                    store::identity::insert_one_time(&mut work.tx, OneTime::PasswordReset, &sha256_hex(&token), account.org_id, account.id, expires, now).await?;
                    let link = format!("{}/reset-password?token={token}", desk.settings.auth.public_url.trim_end_matches('/'));
                    work.send_email(
                        account.org_id,
                        &email,
                        "password_reset",
                        "Reset your Switchboard password",
                        &format!(
                            "Hello {},\n\nSomeone (hopefully you) asked to reset your Switchboard password.\nOpen this link within {} minutes to choose a new one:\n\n{link}\n\nIf it wasn't you, ignore this message; your password stays as it is.\n",
                            account.name,
                            desk.settings.auth.reset_ttl.num_minutes()
                        ),
                    );
                    work.audit(&system_for(&account), "password.reset_requested", &account.id.to_string(), json!({ "expires_at": expires }));
                }
                Ok(())
            })
        })
        .await
    }

    pub async fn reset_password(&self, token: String, new: String) -> Result<(), DeskError> {
        let new = Password::parse(&new)?;
        let new_hash = tokio::task::spawn_blocking(move || hash_password(&new))
            .await
            .map_err(anyhow::Error::from)?
            .map_err(anyhow::Error::from)?;
        self.execute(move |work| {
            Box::pin(async move {
                let now = store::now();
                let hash = sha256_hex(&token);
                let reset =
                    store::identity::find_one_time(&mut work.tx, OneTime::PasswordReset, &hash)
                        .await?
                        .ok_or(DeskError::Unauthenticated("unknown reset token"))?;
                if reset.used_at.is_some() {
                    return Err(DeskError::Unauthenticated(
                        "this reset link was already used",
                    ));
                }
                if reset.expires_at <= now {
                    return Err(DeskError::Unauthenticated(
                        "this reset link expired; ask for a new one",
                    ));
                }
                if !store::identity::use_one_time(&mut work.tx, OneTime::PasswordReset, &hash, now)
                    .await?
                {
                    return Err(DeskError::Unauthenticated(
                        "this reset link was already used",
                    ));
                }
                store::identity::set_password_hash(&mut work.tx, reset.person_id, &new_hash)
                    .await?;
                store::identity::revoke_person_sessions(&mut work.tx, reset.person_id, now).await?;
                work.audit(
                    &Actor::system(reset.org_id),
                    "password.reset",
                    &reset.person_id.to_string(),
                    json!({ "sessions_revoked": true }),
                );
                Ok(())
            })
        })
        .await
    }
}
