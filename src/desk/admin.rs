//! Administration use cases: organizations, people, teams, categories,
//! webhook subscriptions, API tokens and the outbox.

use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    events::EVENT_NAMES,
    new_id,
    views::{
        CategoryView, OrganizationView, OutboxView, PersonView, TeamView, TokenView, WebhookView,
    },
    Actor, Desk, DeskError, Work,
};
use crate::{
    domain::{text::Name, Channel, PriorityMatrix, Role},
    store::{
        self,
        orgs::OrgRow,
        people::PersonRow,
        teams::{CategoryRow, TeamRow},
        tokens::TokenRow,
        webhooks::WebhookRow,
        Tx,
    },
};

/// The organization every fresh installation starts with.
pub const DEFAULT_ORG: &str = "default";

/// How long a token looked up in the database is trusted without asking it
/// again. Every request authenticates, so this saves one query (and a pool
/// checkout) per request. The cost: a change to the token row or to its
/// person's name/email (e.g. revoking it in the database, from this or another
/// replica) takes effect within this delay. Expiry is still checked on every
/// request against the cached `expires_at`; unknown tokens are never cached, so
/// a newly created token works at once on every replica.
pub const TOKEN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);
const TOKEN_CACHE_MAX: usize = 10_000;

/// Prefix of API tokens, so leaked ones are easy to recognise and scan for.
pub const TOKEN_PREFIX: &str = "sb_";

pub fn hash_token(raw: &str) -> String {
    hex::encode(Sha256::digest(raw.as_bytes()))
}

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
    /// Returns the organization with this slug, creating it (with the ITIL
    /// priority matrix) when missing. Second value: whether it was created.
    /// The id of the organization with this slug (chat workspaces and
    /// mailboxes are mapped to one by slug in the configuration).
    pub async fn organization_id(&self, slug: &str) -> Result<Uuid, DeskError> {
        let mut tx = self.db.read().await?;
        store::orgs::find_org_by_slug(&mut tx, slug)
            .await?
            .map(|o| o.id)
            .ok_or(DeskError::NotFound("organization"))
    }

    pub async fn ensure_org(&self, slug: &str) -> Result<(OrgRow, bool), DeskError> {
        let slug = slug.to_string();
        let desk = self.clone();
        self.execute(move |work| {
            Box::pin(async move {
                if let Some(org) = store::orgs::find_org_by_slug(&mut work.tx, &slug).await? {
                    return Ok((org, false));
                }
                let org = OrgRow {
                    id: new_id(),
                    slug: slug.clone(),
                    name: slug.clone(),
                    priority_matrix: sqlx::types::Json(
                        serde_json::to_value(PriorityMatrix::itil_default())
                            .map_err(anyhow::Error::from)?,
                    ),
                    mfa_required: false,
                    created_at: store::now(),
                };
                store::orgs::insert_org(&mut work.tx, &org).await?;
                desk.ensure_default_classes(&mut work.tx, org.id).await?;
                work.audit(
                    &Actor::system(org.id),
                    "organization.created",
                    &slug,
                    json!({}),
                );
                Ok((org, true))
            })
        })
        .await
    }

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

    pub async fn create_team(
        &self,
        work: &mut Work,
        actor: &Actor,
        name: &str,
        description: &str,
        lead: Option<Uuid>,
        members: &[Uuid],
    ) -> Result<TeamView, DeskError> {
        actor.require_admin()?;
        let name = Name::parse("name", name)?;
        if store::teams::find_team_by_name(&mut work.tx, actor.org_id, name.as_str())
            .await?
            .is_some()
        {
            return Err(DeskError::Conflict(format!(
                "a team named `{name}` already exists"
            )));
        }
        let fields = lead
            .iter()
            .map(|id| ("lead", id))
            .chain(members.iter().map(|id| ("members", id)));
        for (field, id) in fields {
            store::people::find_person(&mut work.tx, actor.org_id, *id)
                .await?
                .ok_or_else(|| {
                    DeskError::invalid(field, format!("no person {id} in this organization"))
                })?;
        }
        let team = TeamRow {
            id: new_id(),
            org_id: actor.org_id,
            name: name.into_inner(),
            description: description.trim().to_string(),
            lead_id: lead,
            default_channel: None,
            escalation_contact: None,
            created_at: store::now(),
        };
        store::teams::insert_team(&mut work.tx, &team).await?;
        for id in lead.iter().chain(members) {
            store::teams::add_member(&mut work.tx, team.id, *id).await?;
        }
        work.audit(
            actor,
            "team.created",
            &team.name,
            json!({ "id": team.id, "lead": lead, "members": members }),
        );
        let members = store::teams::list_members(&mut work.tx, team.id).await?;
        Ok(TeamView::from_row(&team, members))
    }

    pub async fn list_teams(&self, actor: &Actor) -> Result<Vec<TeamView>, DeskError> {
        let mut tx = self.db.read().await?;
        let mut teams = Vec::new();
        for team in store::teams::list_teams(&mut tx, actor.org_id).await? {
            let members = store::teams::list_members(&mut tx, team.id).await?;
            teams.push(TeamView::from_row(&team, members));
        }
        Ok(teams)
    }

    pub async fn get_team(&self, actor: &Actor, id_or_name: &str) -> Result<TeamView, DeskError> {
        let mut tx = self.db.read().await?;
        let team = team_by_ref(&mut tx, actor.org_id, id_or_name).await?;
        let members = store::teams::list_members(&mut tx, team.id).await?;
        Ok(TeamView::from_row(&team, members))
    }

    pub async fn set_team_member(
        &self,
        work: &mut Work,
        actor: &Actor,
        team: &str,
        person: Uuid,
        member: bool,
    ) -> Result<TeamView, DeskError> {
        actor.require_admin()?;
        let team = team_by_ref(&mut work.tx, actor.org_id, team).await?;
        store::people::find_person(&mut work.tx, actor.org_id, person)
            .await?
            .ok_or(DeskError::NotFound("person"))?;
        if member {
            store::teams::add_member(&mut work.tx, team.id, person).await?;
        } else if !store::teams::remove_member(&mut work.tx, team.id, person).await? {
            return Err(DeskError::NotFound("team member"));
        }
        let action = if member {
            "team.member_added"
        } else {
            "team.member_removed"
        };
        work.audit(actor, action, &team.name, json!({ "person": person }));
        let members = store::teams::list_members(&mut work.tx, team.id).await?;
        Ok(TeamView::from_row(&team, members))
    }

    pub async fn create_category(
        &self,
        work: &mut Work,
        actor: &Actor,
        name: &str,
        team: Option<&str>,
    ) -> Result<CategoryView, DeskError> {
        actor.require_admin()?;
        let name = Name::parse("name", name)?;
        let team_id = match team {
            Some(t) => Some(
                super::tickets::resolve_team(&mut work.tx, actor.org_id, t)
                    .await?
                    .id,
            ),
            None => None,
        };
        if store::teams::find_category_by_name(&mut work.tx, actor.org_id, name.as_str())
            .await?
            .is_some()
        {
            return Err(DeskError::Conflict(format!(
                "a category named `{name}` already exists"
            )));
        }
        let row = CategoryRow {
            id: new_id(),
            org_id: actor.org_id,
            name: name.into_inner(),
            team_id,
            created_at: store::now(),
        };
        store::teams::insert_category(&mut work.tx, &row).await?;
        work.audit(
            actor,
            "category.created",
            &row.name,
            json!({ "id": row.id, "team": team_id }),
        );
        Ok(CategoryView::from(&row))
    }

    pub async fn list_categories(&self, actor: &Actor) -> Result<Vec<CategoryView>, DeskError> {
        let mut tx = self.db.read().await?;
        Ok(store::teams::list_categories(&mut tx, actor.org_id)
            .await?
            .iter()
            .map(CategoryView::from)
            .collect())
    }

    pub async fn create_webhook(
        &self,
        work: &mut Work,
        actor: &Actor,
        url: &str,
        events: &[String],
        secret: Option<String>,
    ) -> Result<WebhookView, DeskError> {
        actor.require_admin()?;
        let parsed = url::Url::parse(url)
            .map_err(|e| DeskError::invalid("url", format!("not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(DeskError::invalid(
                "url",
                "must be an http or https URL with a host",
            ));
        }
        let events = if events.is_empty() {
            vec!["*".to_string()]
        } else {
            events.to_vec()
        };
        for e in &events {
            if e != "*" && !EVENT_NAMES.contains(&e.as_str()) {
                return Err(DeskError::invalid(
                    "events",
                    format!(
                        "unknown event `{e}`; expected `*` or one of: {}",
                        EVENT_NAMES.join(", ")
                    ),
                ));
            }
        }
        let secret = match secret {
            Some(s) if s.len() >= 16 => s,
            Some(_) => {
                return Err(DeskError::invalid(
                    "secret",
                    "must be at least 16 characters",
                ))
            }
            None => random_secret("whsec_"),
        };
        let row = WebhookRow {
            id: new_id(),
            org_id: actor.org_id,
            url: parsed.to_string(),
            secret: secret.clone(),
            events: sqlx::types::Json(events),
            active: true,
            created_at: store::now(),
        };
        store::webhooks::insert_webhook(&mut work.tx, &row).await?;
        work.audit(
            actor,
            "webhook.created",
            &row.url,
            json!({ "id": row.id, "events": row.events.0 }),
        );
        let mut view = WebhookView::from(&row);
        view.secret = Some(secret);
        Ok(view)
    }

    pub async fn list_webhooks(&self, actor: &Actor) -> Result<Vec<WebhookView>, DeskError> {
        actor.require_admin()?;
        let mut tx = self.db.read().await?;
        Ok(store::webhooks::list_webhooks(&mut tx, actor.org_id)
            .await?
            .iter()
            .map(WebhookView::from)
            .collect())
    }

    pub async fn delete_webhook(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
    ) -> Result<(), DeskError> {
        actor.require_admin()?;
        if !store::webhooks::delete_webhook(&mut work.tx, actor.org_id, id).await? {
            return Err(DeskError::NotFound("webhook subscription"));
        }
        work.audit(actor, "webhook.deleted", &id.to_string(), json!({}));
        Ok(())
    }

    pub async fn list_outbox(
        &self,
        actor: &Actor,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<OutboxView>, DeskError> {
        actor.require_admin()?;
        if let Some(s) = state {
            if ![
                store::outbox::PENDING,
                store::outbox::DELIVERED,
                store::outbox::DEAD,
            ]
            .contains(&s)
            {
                return Err(DeskError::invalid(
                    "state",
                    format!("unknown state `{s}`; expected one of: pending, delivered, dead"),
                ));
            }
        }
        if !(1..=500).contains(&limit) {
            return Err(DeskError::invalid("limit", "must be between 1 and 500"));
        }
        let mut tx = self.db.read().await?;
        Ok(
            store::outbox::list_outbox(&mut tx, actor.org_id, state, limit)
                .await?
                .iter()
                .map(OutboxView::from)
                .collect(),
        )
    }

    pub async fn retry_outbox(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
    ) -> Result<(), DeskError> {
        actor.require_admin()?;
        if !store::outbox::requeue(&mut work.tx, actor.org_id, id, store::now()).await? {
            return Err(
                match store::outbox::find_outbox_state(&mut work.tx, actor.org_id, id).await? {
                    None => DeskError::NotFound("outbox message"),
                    Some(state) => DeskError::Conflict(format!(
                        "only a dead-lettered message can be retried; this one is {state}"
                    )),
                },
            );
        }
        work.audit(actor, "outbox.requeued", &id.to_string(), json!({}));
        // A requeued row is due now: wake the dispatcher like any new row.
        work.outbox_touched = true;
        Ok(())
    }

    /// Creates an API token for the organization and returns it in clear,
    /// once. It acts as the organization's service account for that role
    /// (created on first use).
    pub async fn create_token(
        &self,
        org_slug: &str,
        role: &str,
        name: &str,
    ) -> Result<String, DeskError> {
        self.issue_token(org_slug, None, role, name).await
    }

    /// Creates an API token that acts as an existing person with `role`.
    pub async fn create_token_for_person(
        &self,
        org_slug: &str,
        person: Uuid,
        role: &str,
        name: &str,
    ) -> Result<String, DeskError> {
        self.issue_token(org_slug, Some(person), role, name).await
    }

    async fn issue_token(
        &self,
        org_slug: &str,
        person: Option<Uuid>,
        role: &str,
        name: &str,
    ) -> Result<String, DeskError> {
        let role = Role::parse(role).map_err(|e| DeskError::invalid("role", e.to_string()))?;
        let (org, _) = self.ensure_org(org_slug).await?;
        let name = name.to_string();
        self.execute(move |work| {
            Box::pin(async move {
                let system = Actor::system(org.id);
                let person = match person {
                    Some(id) => {
                        store::people::find_person(&mut work.tx, org.id, id)
                            .await?
                            .ok_or(DeskError::NotFound("person"))?
                            .id
                    }
                    None => service_account(work, &system, &org.slug, role).await?,
                };
                let (_, raw) = insert_api_token(
                    work,
                    &system,
                    person,
                    role,
                    TokenScope::ReadWrite,
                    &name,
                    None,
                )
                .await?;
                Ok(raw)
            })
        })
        .await
    }

    /// `POST /tokens`: a token acting as the caller with one of their roles,
    /// or — for admins naming a role they do not hold — as the
    /// organization's service account for that role.
    pub async fn create_api_token(
        &self,
        work: &mut Work,
        actor: &Actor,
        input: NewToken,
    ) -> Result<TokenView, DeskError> {
        let person = actor
            .person_id
            .ok_or_else(|| DeskError::Forbidden("only a person can create tokens".into()))?;
        let role = match &input.role {
            Some(r) => Role::parse(r).map_err(|e| DeskError::invalid("role", e.to_string()))?,
            None => *actor
                .roles
                .first()
                .ok_or_else(|| DeskError::Forbidden("you hold no role".into()))?,
        };
        let scope = match input.scope.as_deref() {
            None | Some("read_write") => TokenScope::ReadWrite,
            Some("read") => TokenScope::Read,
            Some(other) => {
                return Err(DeskError::invalid(
                    "scope",
                    format!("unknown scope `{other}`; expected read or read_write"),
                ))
            }
        };
        if actor.read_only {
            return Err(DeskError::Forbidden(
                "a read-only token cannot create tokens".into(),
            ));
        }
        if input.expires_at.is_some_and(|at| at <= store::now()) {
            return Err(DeskError::invalid("expires_at", "must be in the future"));
        }
        let name = Name::parse("name", &input.name)?.into_inner();
        let acting_as = if actor.has(role) {
            person
        } else if actor.has(Role::Admin) {
            let org = store::orgs::get_org(&mut work.tx, actor.org_id).await?;
            service_account(work, actor, &org.slug, role).await?
        } else {
            return Err(DeskError::Forbidden(format!(
                "you do not hold the {role} role"
            )));
        };
        let (row, raw) =
            insert_api_token(work, actor, acting_as, role, scope, &name, input.expires_at).await?;
        let mut view = TokenView::from(&row);
        view.token = Some(raw);
        Ok(view)
    }

    /// Admins see the organization's tokens; everyone else their own.
    pub async fn list_api_tokens(&self, actor: &Actor) -> Result<Vec<TokenView>, DeskError> {
        let mut tx = self.db.read().await?;
        let only = if actor.has(Role::Admin) {
            None
        } else {
            Some(actor.person_id.ok_or(DeskError::NotFound("person"))?)
        };
        Ok(store::tokens::list_tokens(&mut tx, actor.org_id, only)
            .await?
            .iter()
            .map(TokenView::from)
            .collect())
    }

    pub async fn revoke_api_token(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
    ) -> Result<(), DeskError> {
        let token = store::tokens::find_token(&mut work.tx, actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("token"))?;
        if token.person_id != actor.person_id.unwrap_or_default() && !actor.has(Role::Admin) {
            return Err(DeskError::NotFound("token"));
        }
        if !store::tokens::revoke_token(&mut work.tx, actor.org_id, id, store::now()).await? {
            return Err(DeskError::Conflict("this token is already revoked".into()));
        }
        // This process forgets it at once; other replicas within TOKEN_CACHE_TTL.
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&token.token_hash);
        work.audit(actor, "token.revoked", &token.name, json!({ "id": id }));
        Ok(())
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
        let mut person = super::identity::person_row(&mut work.tx, actor.org_id, id).await?;
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

    pub async fn organization(&self, actor: &Actor) -> Result<OrganizationView, DeskError> {
        let mut tx = self.db.read().await?;
        let org = store::orgs::get_org(&mut tx, actor.org_id).await?;
        Ok(OrganizationView::from(&org))
    }

    pub async fn update_organization(
        &self,
        work: &mut Work,
        actor: &Actor,
        mfa_required: Option<bool>,
    ) -> Result<OrganizationView, DeskError> {
        actor.require_admin()?;
        if let Some(required) = mfa_required {
            self.set_mfa_policy(work, actor, required).await?;
        }
        let org = store::orgs::get_org(&mut work.tx, actor.org_id).await?;
        Ok(OrganizationView::from(&org))
    }

    /// Edits a team's profile (admin).
    pub async fn update_team(
        &self,
        work: &mut Work,
        actor: &Actor,
        team: &str,
        changes: TeamChanges,
    ) -> Result<TeamView, DeskError> {
        actor.require_admin()?;
        let mut row = team_by_ref(&mut work.tx, actor.org_id, team).await?;
        if let Some(name) = &changes.name {
            row.name = Name::parse("name", name)?.into_inner();
        }
        if let Some(description) = &changes.description {
            row.description = description.trim().to_string();
        }
        for (field, value, slot) in [
            ("lead", changes.lead, &mut row.lead_id),
            (
                "escalation_contact",
                changes.escalation_contact,
                &mut row.escalation_contact,
            ),
        ] {
            if let Some(value) = value {
                if let Some(id) = value {
                    store::people::find_person(&mut work.tx, actor.org_id, id)
                        .await?
                        .ok_or_else(|| {
                            DeskError::invalid(
                                field,
                                format!("no person {id} in this organization"),
                            )
                        })?;
                }
                *slot = value;
            }
        }
        if let Some(channel) = changes.default_channel {
            row.default_channel = channel
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty());
        }
        store::teams::update_team(&mut work.tx, &row).await?;
        if let Some(lead) = row.lead_id {
            store::teams::add_member(&mut work.tx, row.id, lead).await?;
        }
        work.audit(actor, "team.updated", &row.name, json!({ "id": row.id, "lead": row.lead_id, "escalation_contact": row.escalation_contact, "default_channel": row.default_channel }));
        let members = store::teams::list_members(&mut work.tx, row.id).await?;
        Ok(TeamView::from_row(&row, members))
    }

    /// A token found within the last [`TOKEN_CACHE_TTL`], if any.
    fn cached_token(&self, hash: &str) -> Option<store::tokens::TokenLookup> {
        let cache = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(hash)
            .filter(|(at, _)| at.elapsed() < TOKEN_CACHE_TTL)
            .map(|(_, row)| row.clone())
    }

    fn cache_token(&self, hash: String, row: &store::tokens::TokenLookup) {
        let mut cache = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= TOKEN_CACHE_MAX {
            // Crude bound against a flood of distinct tokens: start over.
            cache.clear();
        }
        cache.insert(hash, (std::time::Instant::now(), row.clone()));
    }

    /// Resolves a presented bearer token to the actor it stands for.
    pub async fn authenticate_token(
        &self,
        raw: &str,
        channel: Channel,
    ) -> Result<Actor, DeskError> {
        let hash = hash_token(raw);
        let row = match self.cached_token(&hash) {
            Some(row) => row,
            None => {
                let row = store::tokens::find_token_by_hash(&self.db, &hash)
                    .await?
                    .ok_or(DeskError::Unauthenticated("unknown token"))?;
                self.cache_token(hash, &row);
                row
            }
        };
        if row.revoked_at.is_some() {
            return Err(DeskError::Unauthenticated("token revoked"));
        }
        if row.person_disabled_at.is_some() {
            return Err(DeskError::Unauthenticated("this account is disabled"));
        }
        if row.expires_at.is_some_and(|at| at <= store::now()) {
            return Err(DeskError::Unauthenticated("token expired"));
        }
        let role = Role::parse(&row.role).map_err(anyhow::Error::from)?;
        Ok(Actor {
            org_id: row.org_id,
            person_id: Some(row.person_id),
            name: row.person_name,
            email: row.person_email,
            roles: vec![role],
            channel,
            read_only: row.scope == TokenScope::Read.as_str(),
        })
    }
}

/// What an API token may do beyond its role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScope {
    Read,
    ReadWrite,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::ReadWrite => "read_write",
        }
    }
}

/// A token to create through the API.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub role: Option<String>,
    pub scope: Option<String>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, Default)]
pub struct PersonChanges {
    pub name: Option<String>,
    pub roles: Option<Vec<String>>,
    pub disabled: Option<bool>,
}

/// Team profile changes; `Some(None)` clears a field.
#[derive(Debug, Clone, Default)]
pub struct TeamChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub lead: Option<Option<Uuid>>,
    pub default_channel: Option<Option<String>>,
    pub escalation_contact: Option<Option<Uuid>>,
}

/// The organization's service account for `role`, created on first use.
async fn service_account(
    work: &mut Work,
    actor: &Actor,
    org_slug: &str,
    role: Role,
) -> Result<Uuid, DeskError> {
    let email = format!("{}-service@{}.switchboard.invalid", role.as_str(), org_slug);
    if let Some(p) = store::people::find_person_by_email(&mut work.tx, actor.org_id, &email).await?
    {
        return Ok(p.id);
    }
    let name = format!("{} service account", role.as_str());
    Ok(insert_person(
        work,
        actor,
        &name,
        Some(&email),
        &[role.as_str().to_string()],
    )
    .await?
    .id)
}

async fn insert_api_token(
    work: &mut Work,
    actor: &Actor,
    person: Uuid,
    role: Role,
    scope: TokenScope,
    name: &str,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(TokenRow, String), DeskError> {
    let raw = random_secret(TOKEN_PREFIX);
    let row = TokenRow {
        id: new_id(),
        org_id: actor.org_id,
        person_id: person,
        name: name.to_string(),
        role: role.as_str().into(),
        scope: scope.as_str().into(),
        token_hash: hash_token(&raw),
        created_at: store::now(),
        expires_at,
        revoked_at: None,
    };
    store::tokens::insert_token(&mut work.tx, &row).await?;
    work.audit(
        actor,
        "token.created",
        name,
        json!({ "id": row.id, "role": row.role, "scope": row.scope, "person": person }),
    );
    Ok((row, raw))
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

async fn team_by_ref(tx: &mut Tx, org_id: Uuid, id_or_name: &str) -> Result<TeamRow, DeskError> {
    super::tickets::find_team_ref(tx, org_id, id_or_name)
        .await?
        .ok_or(DeskError::NotFound("team"))
}

fn random_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}
