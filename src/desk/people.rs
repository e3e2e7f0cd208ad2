//! People: creating and changing them (admins), reading them (agents), and
//! the helpers every use case that names a person shares — email
//! normalization, role parsing, finding a person by id or email, and the
//! actor a person acts as. A leaf: it imports no other use-case module.

use serde_json::json;
use uuid::Uuid;

use super::{new_id, views::PersonView, Actor, Desk, DeskError, Work};
use crate::{
    domain::{text::Name, Channel, Role},
    store::{self, people::PersonRow, Tx},
};

pub(crate) fn parse_roles(roles: &[String]) -> Result<Vec<Role>, DeskError> {
    let mut parsed = Vec::new();
    for r in roles {
        let role = Role::parse(r).map_err(|e| DeskError::invalid("roles", e.to_string()))?;
        if !parsed.contains(&role) {
            parsed.push(role);
        }
    }
    if parsed.is_empty() {
        return Err(DeskError::invalid("roles", "at least one role is needed"));
    }
    Ok(parsed)
}

pub(crate) fn normalize_email(email: &str) -> Result<String, DeskError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(DeskError::invalid(
            "email",
            format!("`{email}` is not an email address"),
        ))
    }
}

impl Desk {
    pub async fn create_person(
        &self,
        work: &mut Work,
        actor: &Actor,
        name: &str,
        email: Option<&str>,
        roles: &[String],
    ) -> Result<PersonView, DeskError> {
        actor.require_admin()?;
        insert_person(work, actor, name, email, roles).await
    }

    pub async fn list_people(&self, actor: &Actor) -> Result<Vec<PersonView>, DeskError> {
        actor.require_agent()?;
        let mut tx = self.db.read().await?;
        Ok(store::people::list_people(&mut tx, actor.org_id)
            .await?
            .iter()
            .map(PersonView::from)
            .collect())
    }

    pub async fn get_person(&self, actor: &Actor, id: Uuid) -> Result<PersonView, DeskError> {
        if actor.person_id != Some(id) {
            actor.require_agent()?;
        }
        let mut tx = self.db.read().await?;
        let person = store::people::find_person(&mut tx, actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("person"))?;
        Ok(PersonView::from(&person))
    }

    /// Changes a person's name, roles or whether they may sign in (admin).
    pub async fn update_person(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
        changes: PersonChanges,
    ) -> Result<PersonView, DeskError> {
        actor.require_admin()?;
        let mut person = person_row(&mut work.tx, actor.org_id, id).await?;
        if let Some(name) = &changes.name {
            person.name = Name::parse("name", name)?.into_inner();
        }
        if let Some(roles) = &changes.roles {
            let roles: Vec<String> = parse_roles(roles)?
                .iter()
                .map(|r| r.as_str().to_string())
                .collect();
            if actor.person_id == Some(id) && !roles.iter().any(|r| r == "admin") {
                return Err(DeskError::Forbidden(
                    "you cannot remove your own admin role".into(),
                ));
            }
            if roles != person.roles.0 {
                work.audit(
                    actor,
                    "person.roles_changed",
                    &id.to_string(),
                    json!({ "from": person.roles.0, "to": roles }),
                );
                person.roles = sqlx::types::Json(roles);
            }
        }
        if let Some(disabled) = changes.disabled {
            if disabled && actor.person_id == Some(id) {
                return Err(DeskError::Forbidden("you cannot disable yourself".into()));
            }
            if disabled != person.disabled_at.is_some() {
                person.disabled_at = disabled.then(store::now);
                if disabled {
                    store::identity::revoke_person_sessions(&mut work.tx, id, store::now()).await?;
                }
                let action = if disabled {
                    "person.disabled"
                } else {
                    "person.enabled"
                };
                work.audit(actor, action, &id.to_string(), json!({}));
            }
        }
        store::people::update_person(&mut work.tx, &person).await?;
        Ok(PersonView::from(&person))
    }
}

#[derive(Debug, Clone, Default)]
pub struct PersonChanges {
    pub name: Option<String>,
    pub roles: Option<Vec<String>>,
    pub disabled: Option<bool>,
}

pub(crate) async fn insert_person(
    work: &mut Work,
    actor: &Actor,
    name: &str,
    email: Option<&str>,
    roles: &[String],
) -> Result<PersonView, DeskError> {
    let name = Name::parse("name", name)?;
    let email = email.map(normalize_email).transpose()?;
    let roles = parse_roles(roles)?;
    if let Some(email) = &email {
        if store::people::find_person_by_email(&mut work.tx, actor.org_id, email)
            .await?
            .is_some()
        {
            return Err(DeskError::Conflict(format!(
                "a person with email {email} already exists"
            )));
        }
    }
    let roles = roles.iter().map(|r| r.as_str().to_string()).collect();
    let row = PersonRow::new(
        new_id(),
        actor.org_id,
        name.into_inner(),
        email,
        roles,
        store::now(),
    );
    store::people::insert_person(&mut work.tx, &row).await?;
    work.audit(
        actor,
        "person.created",
        &row.id.to_string(),
        json!({ "name": row.name, "email": row.email, "roles": row.roles.0 }),
    );
    Ok(PersonView::from(&row))
}

pub(crate) async fn person_row(
    tx: &mut Tx,
    org_id: Uuid,
    id: Uuid,
) -> Result<PersonRow, DeskError> {
    store::people::find_person(tx, org_id, id)
        .await?
        .ok_or(DeskError::NotFound("person"))
}

/// Finds a person by id or email: (id, name, email).
pub(crate) async fn resolve_person(
    tx: &mut Tx,
    org_id: Uuid,
    field: &'static str,
    who: &str,
) -> Result<(Uuid, String, Option<String>), DeskError> {
    let found = match Uuid::parse_str(who.trim()) {
        Ok(id) => store::people::find_person(tx, org_id, id).await?,
        Err(_) => {
            store::people::find_person_by_email(tx, org_id, &who.trim().to_lowercase()).await?
        }
    };
    let person = found.ok_or_else(|| {
        DeskError::invalid(field, format!("no person `{who}` in this organization"))
    })?;
    Ok((person.id, person.name, person.email))
}

pub(crate) fn actor_for(person: &PersonRow, channel: Channel) -> Actor {
    actor_from(
        person.org_id,
        person.id,
        &person.name,
        &person.email,
        &person.roles.0,
        channel,
    )
}

/// The actor a person acts as through `channel`, holding their roles.
pub(crate) fn actor_from(
    org_id: Uuid,
    person: Uuid,
    name: &str,
    email: &Option<String>,
    roles: &[String],
    channel: Channel,
) -> Actor {
    Actor {
        org_id,
        person_id: Some(person),
        name: name.to_string(),
        email: email.clone(),
        roles: roles.iter().filter_map(|r| Role::parse(r).ok()).collect(),
        channel,
        read_only: false,
    }
}
