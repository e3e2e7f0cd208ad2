//! People and their identities: resolving a chat user or email sender to a
//! person (creating a requester on first contact), linking identities
//! (verified email, one-time link codes, by an agent), and profiles.

use chrono::Duration;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    new_id,
    people::{actor_for, person_row},
    views::PersonView,
    Actor, Desk, DeskError, Work,
};
use crate::{
    domain::{text::Name, Channel},
    store::{
        self,
        identity::{IdentityRow, OneTime},
        people::PersonRow,
    },
};

/// How long a `/link` code stays valid.
pub const LINK_CODE_TTL: Duration = Duration::minutes(10);

/// A way a person is known to a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityKey {
    Slack { team_id: String, user_id: String },
    Discord { guild_id: String, user_id: String },
    Email(String),
}

impl IdentityKey {
    /// (kind, namespace, external id) as stored.
    pub fn parts(&self) -> (&'static str, &str, String) {
        match self {
            IdentityKey::Slack { team_id, user_id } => ("slack", team_id, user_id.clone()),
            IdentityKey::Discord { guild_id, user_id } => ("discord", guild_id, user_id.clone()),
            IdentityKey::Email(address) => ("email", "", address.trim().to_lowercase()),
        }
    }

    /// Builds a key from its stored parts, validating them.
    pub fn parse(kind: &str, namespace: &str, external_id: &str) -> Result<Self, DeskError> {
        let need = |field: &'static str, value: &str| {
            let v = value.trim();
            if v.is_empty() || v.len() > 200 || v.chars().any(char::is_whitespace) {
                Err(DeskError::invalid(
                    field,
                    "must be a platform id without spaces (1 to 200 characters)",
                ))
            } else {
                Ok(v.to_string())
            }
        };
        match kind {
            "slack" => Ok(IdentityKey::Slack {
                team_id: need("namespace", namespace)?,
                user_id: need("external_id", external_id)?,
            }),
            "discord" => Ok(IdentityKey::Discord {
                guild_id: need("namespace", namespace)?,
                user_id: need("external_id", external_id)?,
            }),
            "email" => Ok(IdentityKey::Email(super::people::normalize_email(
                external_id,
            )?)),
            other => Err(DeskError::invalid(
                "kind",
                format!("unknown identity kind `{other}`; expected one of: slack, discord, email"),
            )),
        }
    }
}

/// Someone reaching us through a channel, as the connector saw them.
#[derive(Debug, Clone)]
pub struct Contact {
    pub org_id: Uuid,
    pub identity: IdentityKey,
    pub display_name: String,
    /// An email address the platform vouches for (e.g. Slack's verified
    /// profile email); links to an existing person with that address.
    pub verified_email: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IdentityView {
    pub id: Uuid,
    /// `slack`, `discord` or `email`.
    pub kind: String,
    /// Slack team id or Discord guild id; empty for email.
    pub namespace: String,
    pub external_id: String,
    pub verified: bool,
}

impl From<&IdentityRow> for IdentityView {
    fn from(r: &IdentityRow) -> Self {
        Self {
            id: r.id,
            kind: r.kind.clone(),
            namespace: r.namespace.clone(),
            external_id: r.external_id.clone(),
            verified: r.verified,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LinkCode {
    /// Type it in chat: `/link 483920`.
    pub code: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Profile fields a person edits about themselves.
#[derive(Debug, Clone, Default)]
pub struct ProfileChanges {
    pub name: Option<String>,
    pub time_zone: Option<String>,
    pub locale: Option<String>,
    /// Notification preferences (`domain::notify`): `channels`, `events`,
    /// `quiet_hours`; top-level keys replace the stored ones.
    pub notification_prefs: Option<serde_json::Map<String, serde_json::Value>>,
    /// E.164 number for SMS; empty to remove it.
    pub phone: Option<String>,
}

fn code_hash(code: &str) -> String {
    hex::encode(Sha256::digest(code.trim().as_bytes()))
}

impl Desk {
    /// Resolves a channel contact to an actor, creating a requester on first
    /// contact and linking by verified email. Every connector calls this.
    pub async fn resolve_contact(
        &self,
        contact: Contact,
        channel: Channel,
    ) -> Result<Actor, DeskError> {
        let person = self
            .execute(move |work| Box::pin(async move { resolve_contact_in(work, &contact).await }))
            .await?;
        Ok(actor_for(&person, channel))
    }

    /// Issues a short code the signed-in person types in chat to link that
    /// chat identity to their account.
    pub async fn create_link_code(
        &self,
        work: &mut Work,
        actor: &Actor,
    ) -> Result<LinkCode, DeskError> {
        let person = actor
            .person_id
            .ok_or_else(|| DeskError::Forbidden("only a person can link identities".into()))?;
        let now = store::now();
        let expires_at = now + LINK_CODE_TTL;
        // Six digits are easy to type; redemption is throttled per identity.
        let code = format!("{:06}", rand::thread_rng().gen_range(0..1_000_000));
        store::identity::insert_one_time(
            &mut work.tx,
            OneTime::LinkCode,
            &code_hash(&code),
            actor.org_id,
            person,
            expires_at,
            now,
        )
        .await?;
        work.audit(
            actor,
            "identity.link_code_created",
            &person.to_string(),
            json!({ "expires_at": expires_at }),
        );
        Ok(LinkCode { code, expires_at })
    }

    /// `/link <code>` from a chat identity: that identity now belongs to the
    /// person who created the code. Wrong codes count against the identity.
    pub async fn redeem_link_code(
        &self,
        org_id: Uuid,
        identity: IdentityKey,
        code: String,
    ) -> Result<PersonView, DeskError> {
        let throttle_key = {
            let (kind, ns, ext) = identity.parts();
            format!("link:{org_id}:{kind}:{ns}:{ext}")
        };
        let outcome = self
            .execute(move |work| {
                Box::pin(async move {
                    let now = store::now();
                    if let Some(until) =
                        super::throttle::locked_until(&mut work.tx, &throttle_key, now).await?
                    {
                        return Ok(Err(DeskError::Forbidden(format!(
                            "too many wrong codes; try again after {until}"
                        ))));
                    }
                    let hash = code_hash(&code);
                    let valid =
                        store::identity::find_one_time(&mut work.tx, OneTime::LinkCode, &hash)
                            .await?
                            .filter(|c| {
                                c.org_id == org_id && c.used_at.is_none() && c.expires_at > now
                            });
                    let Some(valid) = valid else {
                        super::throttle::count_failure(
                            &mut work.tx,
                            &throttle_key,
                            now,
                            5,
                            Duration::minutes(15),
                        )
                        .await?;
                        return Ok(Err(DeskError::invalid(
                            "code",
                            "this code is unknown, used or expired; create a new one",
                        )));
                    };
                    if !store::identity::use_one_time(&mut work.tx, OneTime::LinkCode, &hash, now)
                        .await?
                    {
                        return Ok(Err(DeskError::invalid(
                            "code",
                            "this code was already used",
                        )));
                    }
                    store::identity::clear_throttle(&mut work.tx, &throttle_key).await?;
                    let person = person_row(&mut work.tx, org_id, valid.person_id).await?;
                    link(work, &Actor::system(org_id), &person, &identity, true).await?;
                    Ok(Ok(PersonView::from(&person)))
                })
            })
            .await?;
        outcome
    }

    pub async fn list_identities(
        &self,
        actor: &Actor,
        person: Uuid,
    ) -> Result<Vec<IdentityView>, DeskError> {
        if actor.person_id != Some(person) {
            actor.require_agent()?;
        }
        let mut tx = self.db.read().await?;
        person_row(&mut tx, actor.org_id, person).await?;
        Ok(
            store::identity::list_identities(&mut tx, actor.org_id, person)
                .await?
                .iter()
                .map(IdentityView::from)
                .collect(),
        )
    }

    /// An agent or admin links an identity to a person (moving it if it
    /// belonged to someone else, e.g. a requester created on first contact).
    pub async fn link_identity(
        &self,
        work: &mut Work,
        actor: &Actor,
        person: Uuid,
        identity: IdentityKey,
    ) -> Result<IdentityView, DeskError> {
        actor.require_agent()?;
        let person = person_row(&mut work.tx, actor.org_id, person).await?;
        link(work, actor, &person, &identity, true).await
    }

    pub async fn unlink_identity(
        &self,
        work: &mut Work,
        actor: &Actor,
        person: Uuid,
        identity: Uuid,
    ) -> Result<(), DeskError> {
        actor.require_agent()?;
        if !store::identity::delete_identity(&mut work.tx, actor.org_id, person, identity).await? {
            return Err(DeskError::NotFound("identity"));
        }
        work.audit(
            actor,
            "identity.unlinked",
            &person.to_string(),
            json!({ "identity": identity }),
        );
        Ok(())
    }

    pub async fn me(&self, actor: &Actor) -> Result<PersonView, DeskError> {
        let person = actor.person_id.ok_or(DeskError::NotFound("person"))?;
        let mut tx = self.db.read().await?;
        Ok(PersonView::from(
            &person_row(&mut tx, actor.org_id, person).await?,
        ))
    }

    pub async fn update_profile(
        &self,
        work: &mut Work,
        actor: &Actor,
        changes: ProfileChanges,
    ) -> Result<PersonView, DeskError> {
        let id = actor.person_id.ok_or(DeskError::NotFound("person"))?;
        let mut person = person_row(&mut work.tx, actor.org_id, id).await?;
        let mut errors = Vec::new();
        if let Some(name) = &changes.name {
            match Name::parse("name", name) {
                Ok(n) => person.name = n.into_inner(),
                Err(e) => errors.push(e),
            }
        }
        if let Some(tz) = &changes.time_zone {
            match tz.parse::<chrono_tz::Tz>() {
                Ok(tz) => person.time_zone = tz.name().to_string(),
                Err(_) => errors.push(crate::domain::FieldError {
                    field: "time_zone".into(),
                    message: format!("`{tz}` is not an IANA time zone such as Europe/Paris"),
                }),
            }
        }
        if let Some(locale) = &changes.locale {
            let valid = (2..=35).contains(&locale.len())
                && locale.split('-').all(|part| {
                    !part.is_empty()
                        && part.len() <= 8
                        && part.chars().all(|c| c.is_ascii_alphanumeric())
                });
            if valid {
                person.locale = locale.clone();
            } else {
                errors.push(crate::domain::FieldError {
                    field: "locale".into(),
                    message: format!("`{locale}` is not a language tag such as en or fr-CA"),
                });
            }
        }
        if let Some(prefs) = &changes.notification_prefs {
            let mut merged = person
                .notification_prefs
                .0
                .as_object()
                .cloned()
                .unwrap_or_default();
            merged.extend(prefs.clone());
            let merged = serde_json::Value::Object(merged);
            match crate::domain::notify::Prefs::parse(&merged, "notification_prefs", false) {
                Ok(_) => person.notification_prefs = sqlx::types::Json(merged),
                Err(problems) => {
                    if let super::DeskError::Invalid(mut found) =
                        super::notify::pref_errors(problems)
                    {
                        errors.append(&mut found);
                    }
                }
            }
        }
        if let Some(phone) = &changes.phone {
            if phone.trim().is_empty() {
                person.phone = None;
            } else {
                match crate::domain::notify::parse_phone(phone) {
                    Ok(p) => person.phone = Some(p),
                    Err(message) => errors.push(crate::domain::FieldError {
                        field: "phone".into(),
                        message,
                    }),
                }
            }
        }
        if !errors.is_empty() {
            return Err(DeskError::Invalid(errors));
        }
        store::people::update_person(&mut work.tx, &person).await?;
        work.audit(
            actor,
            "person.profile_updated",
            &id.to_string(),
            json!({ "time_zone": person.time_zone, "locale": person.locale }),
        );
        Ok(PersonView::from(&person))
    }
}

/// The person a contact already is, without creating anyone (a mailbox
/// that does not create requesters).
pub(crate) async fn find_contact_in(
    work: &mut Work,
    contact: &Contact,
) -> Result<Option<PersonRow>, DeskError> {
    let org_id = contact.org_id;
    let (kind, namespace, external_id) = contact.identity.parts();
    // One statement: every chat message and mail starts here.
    if let Some(person) =
        store::people::find_person_by_identity(&mut work.tx, org_id, kind, namespace, &external_id)
            .await?
    {
        return Ok(Some(person));
    }
    if let IdentityKey::Email(address) = &contact.identity {
        return Ok(store::people::find_person_by_email(
            &mut work.tx,
            org_id,
            &address.trim().to_lowercase(),
        )
        .await?);
    }
    Ok(None)
}

/// Holds `contact`'s identity until the transaction ends. A first contact
/// may be linked to a known person at this very moment (Slack's email
/// arrives after the first message): creating its person and linking it
/// take this in turn, and whoever comes second sees the first's result
/// instead of undoing it.
pub(crate) async fn lock_identity(work: &mut Work, contact: &Contact) -> Result<(), DeskError> {
    let (kind, namespace, external_id) = contact.identity.parts();
    store::identity::lock_identity_key(&mut work.tx, contact.org_id, kind, namespace, &external_id)
        .await?;
    Ok(())
}

/// [`Desk::resolve_contact`] inside a use case's transaction (email
/// resolves its sender in the same transaction as the ticket change).
pub(crate) async fn resolve_contact_in(
    work: &mut Work,
    contact: &Contact,
) -> Result<PersonRow, DeskError> {
    if let Some(person) = find_contact_in(work, contact).await? {
        return Ok(person);
    }
    lock_identity(work, contact).await?;
    if let Some(person) = find_contact_in(work, contact).await? {
        return Ok(person);
    }
    let org_id = contact.org_id;
    let (kind, _, external_id) = contact.identity.parts();
    let verified_email = match (&contact.identity, &contact.verified_email) {
        (IdentityKey::Email(_), _) => None,
        (_, Some(email)) => super::people::normalize_email(email).ok(),
        _ => None,
    };
    let system = Actor::system(org_id);
    // A verified email that matches someone we know: the same person.
    if let Some(email) = &verified_email {
        if let Some(person) =
            store::people::find_person_by_email(&mut work.tx, org_id, email).await?
        {
            link(work, &system, &person, &contact.identity, true).await?;
            return Ok(person);
        }
    }
    let email = match &contact.identity {
        IdentityKey::Email(address) => Some(address.trim().to_lowercase()),
        _ => verified_email.clone(),
    };
    let name = Name::parse("name", &contact.display_name)
        .map(Name::into_inner)
        .unwrap_or_else(|_| {
            email
                .clone()
                .unwrap_or_else(|| format!("{kind} user {external_id}"))
        });
    let view = super::people::insert_person(
        work,
        &system,
        &name,
        email.as_deref(),
        &["requester".to_string()],
    )
    .await?;
    let person = person_row(&mut work.tx, org_id, view.id).await?;
    if !matches!(contact.identity, IdentityKey::Email(_)) {
        link(
            work,
            &system,
            &person,
            &contact.identity,
            verified_email.is_some(),
        )
        .await?;
    }
    Ok(person)
}

/// Attaches `identity` to `person`, moving it from whoever had it.
pub(crate) async fn link(
    work: &mut Work,
    actor: &Actor,
    person: &PersonRow,
    identity: &IdentityKey,
    verified: bool,
) -> Result<IdentityView, DeskError> {
    let (kind, namespace, external_id) = identity.parts();
    let existing =
        store::identity::find_identity(&mut work.tx, person.org_id, kind, namespace, &external_id)
            .await?;
    let row = match existing {
        Some(mut row) if row.person_id == person.id => {
            if verified && !row.verified {
                store::identity::move_identity(
                    &mut work.tx,
                    person.org_id,
                    row.id,
                    person.id,
                    true,
                )
                .await?;
                row.verified = true;
            }
            return Ok(IdentityView::from(&row));
        }
        Some(mut row) => {
            let from = row.person_id;
            store::identity::move_identity(
                &mut work.tx,
                person.org_id,
                row.id,
                person.id,
                verified,
            )
            .await?;
            row.person_id = person.id;
            row.verified = verified;
            work.audit(
                actor,
                "identity.moved",
                &person.id.to_string(),
                json!({ "kind": kind, "from": from }),
            );
            row
        }
        None => {
            let row = IdentityRow {
                id: new_id(),
                org_id: person.org_id,
                person_id: person.id,
                kind: kind.to_string(),
                namespace: namespace.to_string(),
                external_id,
                verified,
                created_at: store::now(),
            };
            store::identity::insert_identity(&mut work.tx, &row).await?;
            row
        }
    };
    work.audit(
        actor,
        "identity.linked",
        &person.id.to_string(),
        json!({ "kind": row.kind, "namespace": row.namespace, "external_id": row.external_id }),
    );
    Ok(IdentityView::from(&row))
}
