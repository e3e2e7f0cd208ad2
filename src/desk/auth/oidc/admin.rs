//! An organization's identity providers (admins): created only after the
//! issuer's discovery document was fetched and read (an unreachable or
//! invalid issuer is a 422 naming the reason), the client secret sealed
//! and never answered; and whether local passwords still sign in, with
//! the break-glass admins who keep them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::types::Json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::super::{Desk, DeskError, Work};
use crate::{
    desk::{new_id, people, Actor},
    domain::{text::Name, Role},
    store::{
        self,
        sso::{ProviderRow, SettingsRow},
    },
};

/// An identity provider as the API shows it (never its client secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProviderView {
    pub id: Uuid,
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    /// Email domains whose people may sign in (and be created) through it.
    pub allowed_domains: Vec<String>,
    /// Group (from the ID token's groups claim) → role.
    #[schema(value_type = Object)]
    pub role_mapping: BTreeMap<String, String>,
    /// The ID token claim that lists the person's groups.
    pub groups_claim: String,
    /// The redirect URI to register at the provider.
    pub redirect_uri: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A provider to create, or the fields to change (`None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct ProviderInput {
    pub name: Option<String>,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub allowed_domains: Option<Vec<String>>,
    pub role_mapping: Option<BTreeMap<String, String>>,
    pub groups_claim: Option<String>,
}

/// Whether local passwords still sign in (per organization).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SsoSettingsView {
    /// False: only single sign-on, except for the break-glass admins.
    pub local_passwords: bool,
    /// People (ids) who keep password sign-in; each such sign-in is audited.
    pub break_glass: Vec<Uuid>,
}

pub(super) fn parse_domains(domains: &[String]) -> Result<Vec<String>, DeskError> {
    let mut out = Vec::new();
    for d in domains {
        let d = d.trim().trim_start_matches('@').to_lowercase();
        let valid = !d.is_empty()
            && d.len() <= 253
            && d.contains('.')
            && !d.starts_with('.')
            && !d.ends_with('.')
            && d.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !valid {
            return Err(DeskError::invalid(
                "allowed_domains",
                format!("`{d}` is not a domain name"),
            ));
        }
        if !out.contains(&d) {
            out.push(d);
        }
    }
    if out.is_empty() {
        return Err(DeskError::invalid(
            "allowed_domains",
            "name at least one email domain whose people may sign in",
        ));
    }
    Ok(out)
}

fn parse_mapping(mapping: &BTreeMap<String, String>) -> Result<Value, DeskError> {
    let mut out = serde_json::Map::new();
    for (group, role) in mapping {
        let group = group.trim();
        if group.is_empty() || group.len() > 200 {
            return Err(DeskError::invalid(
                "role_mapping",
                "group names are 1 to 200 characters",
            ));
        }
        let role =
            Role::parse(role).map_err(|e| DeskError::invalid("role_mapping", e.to_string()))?;
        out.insert(group.to_string(), Value::String(role.as_str().to_string()));
    }
    Ok(Value::Object(out))
}

fn parse_issuer(issuer: &str) -> Result<String, DeskError> {
    let issuer = issuer.trim();
    let url = url::Url::parse(issuer)
        .map_err(|e| DeskError::invalid("issuer", format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(DeskError::invalid(
            "issuer",
            "an http(s) URL with a host is needed",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(DeskError::invalid(
            "issuer",
            "an issuer URL has no query or fragment",
        ));
    }
    Ok(issuer.to_string())
}

fn required(field: &'static str, value: Option<String>) -> Result<String, DeskError> {
    match value.map(|v| v.trim().to_string()) {
        Some(v) if !v.is_empty() && v.len() <= 2000 => Ok(v),
        _ => Err(DeskError::invalid(
            field,
            "is required (1 to 2000 characters)",
        )),
    }
}

pub(super) fn mapping_of(row: &ProviderRow) -> BTreeMap<String, String> {
    row.role_mapping
        .0
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn settings_view(row: Option<SettingsRow>) -> SsoSettingsView {
    match row {
        Some(r) => SsoSettingsView {
            local_passwords: r.local_passwords,
            break_glass: r.break_glass.0,
        },
        None => SsoSettingsView {
            local_passwords: true,
            break_glass: Vec::new(),
        },
    }
}

impl Desk {
    fn provider_view(&self, row: &ProviderRow) -> ProviderView {
        ProviderView {
            id: row.id,
            name: row.name.clone(),
            issuer: row.issuer.clone(),
            client_id: row.client_id.clone(),
            allowed_domains: row.allowed_domains.0.clone(),
            role_mapping: mapping_of(row),
            groups_claim: row.groups_claim.clone(),
            redirect_uri: self.sso_redirect_uri(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }

    /// Checks the issuer by fetching its discovery document (not cached:
    /// an admin wants to know it works now).
    async fn check_issuer(&self, issuer: &str) -> Result<(), DeskError> {
        self.oidc
            .discover(issuer, true)
            .await
            .map(|_| ())
            .map_err(|reason| DeskError::invalid("issuer", reason))
    }

    /// Adds an identity provider to the actor's organization, after its
    /// discovery document was fetched and read.
    pub async fn create_sso_provider(
        &self,
        actor: &Actor,
        input: ProviderInput,
    ) -> Result<ProviderView, DeskError> {
        actor.require_admin()?;
        let name = Name::parse("name", input.name.as_deref().unwrap_or_default())?.into_inner();
        let issuer = parse_issuer(&required("issuer", input.issuer)?)?;
        let client_id = required("client_id", input.client_id)?;
        let secret = required("client_secret", input.client_secret)?;
        let domains = parse_domains(&input.allowed_domains.unwrap_or_default())?;
        let mapping = parse_mapping(&input.role_mapping.unwrap_or_default())?;
        let groups_claim = match input.groups_claim {
            Some(c) => required("groups_claim", Some(c))?,
            None => "groups".to_string(),
        };
        self.check_issuer(&issuer).await?;
        let sealer = self.sso_sealer().await?;
        let id = new_id();
        let (nonce, sealed) = sealer
            .seal(id.as_bytes(), secret.as_bytes())
            .map_err(DeskError::Internal)?;
        let now = store::now();
        let row = ProviderRow {
            id,
            org_id: actor.org_id,
            name,
            issuer,
            client_id,
            secret_nonce: nonce,
            secret_sealed: sealed,
            allowed_domains: Json(domains),
            role_mapping: Json(mapping),
            groups_claim,
            created_at: now,
            updated_at: now,
        };
        let actor = actor.clone();
        let saved = row.clone();
        self.execute(move |work| {
            Box::pin(async move {
                if store::sso::list_providers(&mut work.tx, actor.org_id)
                    .await?
                    .iter()
                    .any(|p| p.name.eq_ignore_ascii_case(&saved.name))
                {
                    return Err(DeskError::Conflict(format!(
                        "a provider named {} already exists",
                        saved.name
                    )));
                }
                store::sso::insert_provider(&mut work.tx, &saved).await?;
                work.audit(
                    &actor,
                    "sso.provider_created",
                    &saved.id.to_string(),
                    json!({ "name": saved.name, "issuer": saved.issuer, "client_id": saved.client_id,
                            "allowed_domains": saved.allowed_domains.0, "role_mapping": saved.role_mapping.0 }),
                );
                Ok(())
            })
        })
        .await?;
        Ok(self.provider_view(&row))
    }

    pub async fn list_sso_providers(&self, actor: &Actor) -> Result<Vec<ProviderView>, DeskError> {
        actor.require_admin()?;
        let mut tx = self.db.read().await?;
        let rows = store::sso::list_providers(&mut tx, actor.org_id).await?;
        Ok(rows.iter().map(|r| self.provider_view(r)).collect())
    }

    pub async fn get_sso_provider(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> Result<ProviderView, DeskError> {
        actor.require_admin()?;
        let mut tx = self.db.read().await?;
        let row = store::sso::find_provider(&mut tx, actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("provider"))?;
        Ok(self.provider_view(&row))
    }

    /// Changes a provider; a new issuer is checked like a new provider's.
    pub async fn update_sso_provider(
        &self,
        actor: &Actor,
        id: Uuid,
        input: ProviderInput,
    ) -> Result<ProviderView, DeskError> {
        actor.require_admin()?;
        let mut tx = self.db.read().await?;
        let mut row = store::sso::find_provider(&mut tx, actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("provider"))?;
        drop(tx);
        if let Some(name) = input.name {
            row.name = Name::parse("name", &name)?.into_inner();
        }
        if let Some(issuer) = input.issuer {
            let issuer = parse_issuer(&issuer)?;
            if issuer != row.issuer {
                self.check_issuer(&issuer).await?;
            }
            row.issuer = issuer;
        }
        if let Some(client_id) = input.client_id {
            row.client_id = required("client_id", Some(client_id))?;
        }
        if let Some(secret) = input.client_secret {
            let secret = required("client_secret", Some(secret))?;
            let (nonce, sealed) = self
                .sso_sealer()
                .await?
                .seal(row.id.as_bytes(), secret.as_bytes())
                .map_err(DeskError::Internal)?;
            row.secret_nonce = nonce;
            row.secret_sealed = sealed;
        }
        if let Some(domains) = input.allowed_domains {
            row.allowed_domains = Json(parse_domains(&domains)?);
        }
        if let Some(mapping) = input.role_mapping {
            row.role_mapping = Json(parse_mapping(&mapping)?);
        }
        if let Some(claim) = input.groups_claim {
            row.groups_claim = required("groups_claim", Some(claim))?;
        }
        row.updated_at = store::now();
        let actor = actor.clone();
        let saved = row.clone();
        self.execute(move |work| {
            Box::pin(async move {
                if store::sso::list_providers(&mut work.tx, actor.org_id)
                    .await?
                    .iter()
                    .any(|p| p.id != saved.id && p.name.eq_ignore_ascii_case(&saved.name))
                {
                    return Err(DeskError::Conflict(format!(
                        "a provider named {} already exists",
                        saved.name
                    )));
                }
                store::sso::update_provider(&mut work.tx, &saved).await?;
                work.audit(
                    &actor,
                    "sso.provider_updated",
                    &saved.id.to_string(),
                    json!({ "name": saved.name, "issuer": saved.issuer, "client_id": saved.client_id,
                            "allowed_domains": saved.allowed_domains.0, "role_mapping": saved.role_mapping.0 }),
                );
                Ok(())
            })
        })
        .await?;
        Ok(self.provider_view(&row))
    }

    /// Removes a provider; the people it linked stay (with their other
    /// ways in).
    pub async fn delete_sso_provider(&self, actor: &Actor, id: Uuid) -> Result<(), DeskError> {
        actor.require_admin()?;
        let actor = actor.clone();
        self.execute(move |work| {
            Box::pin(async move {
                if !store::sso::delete_provider(&mut work.tx, actor.org_id, id).await? {
                    return Err(DeskError::NotFound("provider"));
                }
                work.audit(&actor, "sso.provider_deleted", &id.to_string(), json!({}));
                Ok(())
            })
        })
        .await
    }

    pub async fn sso_settings(&self, actor: &Actor) -> Result<SsoSettingsView, DeskError> {
        actor.require_admin()?;
        let mut tx = self.db.read().await?;
        Ok(settings_view(
            store::sso::find_settings(&mut tx, actor.org_id).await?,
        ))
    }

    /// Switches local passwords on or off and names the break-glass
    /// admins (people by id or email), who keep password sign-in.
    /// Passwords go off only with at least one provider and one
    /// break-glass admin, so nobody is locked out.
    pub async fn update_sso_settings(
        &self,
        work: &mut Work,
        actor: &Actor,
        local_passwords: Option<bool>,
        break_glass: Option<Vec<String>>,
    ) -> Result<SsoSettingsView, DeskError> {
        actor.require_admin()?;
        let current = settings_view(store::sso::find_settings(&mut work.tx, actor.org_id).await?);
        let local = local_passwords.unwrap_or(current.local_passwords);
        let admins = match break_glass {
            Some(list) => {
                let mut ids = Vec::new();
                for who in list {
                    let (id, name, _) =
                        people::resolve_person(&mut work.tx, actor.org_id, "break_glass", &who)
                            .await?;
                    let person = store::people::find_person(&mut work.tx, actor.org_id, id)
                        .await?
                        .ok_or(DeskError::NotFound("person"))?;
                    if !person.roles.0.iter().any(|r| r == Role::Admin.as_str()) {
                        return Err(DeskError::invalid(
                            "break_glass",
                            format!("{name} is not an admin; break-glass accounts are admins"),
                        ));
                    }
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                ids
            }
            None => current.break_glass,
        };
        if !local {
            if admins.is_empty() {
                return Err(DeskError::invalid(
                    "break_glass",
                    "name at least one break-glass admin before switching local passwords off",
                ));
            }
            if store::sso::list_providers(&mut work.tx, actor.org_id)
                .await?
                .is_empty()
            {
                return Err(DeskError::invalid(
                    "local_passwords",
                    "add a single sign-on provider before switching local passwords off",
                ));
            }
        }
        let row = SettingsRow {
            org_id: actor.org_id,
            local_passwords: local,
            break_glass: Json(admins),
            updated_at: store::now(),
        };
        store::sso::save_settings(&mut work.tx, &row).await?;
        work.audit(
            actor,
            "sso.settings_changed",
            &actor.org_id.to_string(),
            json!({ "local_passwords": local, "break_glass": row.break_glass.0 }),
        );
        Ok(settings_view(Some(row)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalized_and_checked() {
        let ok = parse_domains(&[
            "Corp.Example".into(),
            "@corp.example".into(),
            "sub.corp.example".into(),
        ])
        .expect("valid");
        assert_eq!(ok, vec!["corp.example", "sub.corp.example"]);
        assert!(parse_domains(&[]).is_err());
        assert!(parse_domains(&["localhost".into()]).is_err());
        assert!(parse_domains(&["evil.example/x".into()]).is_err());
    }

    #[test]
    fn a_mapping_to_an_unknown_role_is_refused() {
        let mut mapping = BTreeMap::new();
        mapping.insert("g".to_string(), "overlord".to_string());
        assert!(parse_mapping(&mapping).is_err());
    }

    #[test]
    fn issuers_must_be_plain_http_urls() {
        assert!(parse_issuer("https://login.example.com/tenant/v2.0").is_ok());
        assert!(parse_issuer("ftp://x.example").is_err());
        assert!(parse_issuer("https://x.example/?a=b").is_err());
        assert!(parse_issuer("not a url").is_err());
    }
}
