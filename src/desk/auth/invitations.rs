//! Invitations (admin) and registration through an invitation's link.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{random_token, sha256_hex, Session};
use crate::desk::{new_id, Actor, Desk, DeskError, Work};
use crate::{
    domain::password::{hash_password, Password},
    store::{self, identity::InvitationRow},
};

impl Desk {
    pub async fn invite(
        &self,
        work: &mut Work,
        actor: &Actor,
        email: &str,
        name: &str,
        roles: &[String],
    ) -> Result<InvitationView, DeskError> {
        actor.require_admin()?;
        let email = crate::desk::people::normalize_email(email)?;
        let name = crate::domain::text::Name::parse("name", name)?.into_inner();
        let roles = crate::desk::people::parse_roles(roles)?;
        if let Some(existing) =
            store::people::find_person_by_email(&mut work.tx, actor.org_id, &email).await?
        {
            let account =
                store::identity::find_account(&mut work.tx, actor.org_id, existing.id).await?;
            if account.is_some_and(|a| a.password_hash.is_some()) {
                return Err(DeskError::Conflict(format!(
                    "{email} already has an account here"
                )));
            }
        }
        let now = store::now();
        let token = random_token("sbi_");
        let row = InvitationRow {
            id: new_id(),
            org_id: actor.org_id,
            email: email.clone(),
            name: name.clone(),
            roles: sqlx::types::Json(roles.iter().map(|r| r.as_str().to_string()).collect()),
            token_hash: sha256_hex(&token),
            invited_by: actor.person_id,
            expires_at: now + self.settings.auth.invitation_ttl,
            accepted_at: None,
            created_at: now,
        };
        store::identity::insert_invitation(&mut work.tx, &row).await?;
        let accept_url = format!(
            "{}/accept-invitation?token={token}",
            self.settings.auth.public_url.trim_end_matches('/')
        );
        work.send_email(
            actor.org_id,
            &email,
            "invitation",
            "You are invited to Switchboard",
            &format!(
                "Hello {name},\n\n{} invited you to the service desk. Choose a password here within {} days:\n\n{accept_url}\n",
                actor.name,
                self.settings.auth.invitation_ttl.num_days()
            ),
        );
        work.audit(
            actor,
            "invitation.created",
            &email,
            json!({ "id": row.id, "roles": row.roles.0 }),
        );
        Ok(InvitationView {
            id: row.id,
            email,
            name,
            roles: row.roles.0,
            expires_at: row.expires_at,
            accept_url,
        })
    }

    /// Accepts an invitation: the account exists from now on, signed in.
    pub async fn register(&self, token: String, password: String) -> Result<Session, DeskError> {
        let password = Password::parse(&password)?;
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(anyhow::Error::from)?
            .map_err(anyhow::Error::from)?;
        let desk = self.clone();
        self.execute(move |work| {
            Box::pin(async move {
                let now = store::now();
                let invitation =
                    store::identity::find_invitation_by_hash(&mut work.tx, &sha256_hex(&token))
                        .await?
                        .ok_or(DeskError::Unauthenticated("unknown invitation"))?;
                if invitation.accepted_at.is_some() {
                    return Err(DeskError::Unauthenticated(
                        "this invitation was already used",
                    ));
                }
                if invitation.expires_at <= now {
                    return Err(DeskError::Unauthenticated(
                        "this invitation expired; ask for a new one",
                    ));
                }
                // No new passwords where passwords do not sign in.
                if store::sso::find_settings(&mut work.tx, invitation.org_id)
                    .await?
                    .is_some_and(|s| !s.local_passwords)
                {
                    return Err(DeskError::Forbidden(
                        "this organization signs in through single sign-on: use its button on the \
                         sign-in page instead of a password"
                            .into(),
                    ));
                }
                if !store::identity::accept_invitation(&mut work.tx, invitation.id, now).await? {
                    return Err(DeskError::Unauthenticated(
                        "this invitation was already used",
                    ));
                }
                let system = Actor::system(invitation.org_id);
                // Someone first seen in chat or email keeps their history.
                let person = match store::people::find_person_by_email(
                    &mut work.tx,
                    invitation.org_id,
                    &invitation.email,
                )
                .await?
                {
                    Some(mut person) => {
                        let mut roles = person.roles.0.clone();
                        for role in &invitation.roles.0 {
                            if !roles.contains(role) {
                                roles.push(role.clone());
                            }
                        }
                        person.roles = sqlx::types::Json(roles);
                        store::people::update_person(&mut work.tx, &person).await?;
                        person.id
                    }
                    None => {
                        crate::desk::people::insert_person(
                            work,
                            &system,
                            &invitation.name,
                            Some(&invitation.email),
                            &invitation.roles.0,
                        )
                        .await?
                        .id
                    }
                };
                store::identity::set_password_hash(&mut work.tx, person, &hash).await?;
                work.audit(
                    &system,
                    "invitation.accepted",
                    &invitation.email,
                    json!({ "id": invitation.id, "person": person }),
                );
                let account =
                    store::identity::find_account(&mut work.tx, invitation.org_id, person)
                        .await?
                        .ok_or(DeskError::NotFound("person"))?;
                desk.issue_session(work, &account, None).await
            })
        })
        .await
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InvitationView {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub roles: Vec<String>,
    pub expires_at: DateTime<Utc>,
    /// The link also sent by email (shown to the admin for other channels).
    pub accept_url: String,
}
