//! Alert integrations: the monitoring systems that may open incidents
//! (admins create, list, change, disable them and rotate their secrets),
//! how a webhook proves it is one of them, and each one's rate limit.
//! The secret (for Events v2 the routing key, which is its secret) is shown
//! once and stored hashed.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    new_id, teams::resolve_team, tokens::hash_token, tokens::random_secret, Actor, Desk, DeskError,
    Work,
};
use crate::{
    domain::{
        alert::{IntegrationKind, Mapping},
        text::Name,
        Channel, FieldError, Role,
    },
    store::{self, alerts::IntegrationRow, Exec},
};

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIntegration {
    pub name: String,
    /// `alertmanager`, `events_v2` or `generic`.
    pub kind: String,
    /// Team (name or id) the incidents go to.
    #[serde(default)]
    pub team: Option<String>,
    /// Escalation policy (name or id) started on each incident.
    #[serde(default)]
    pub escalation_policy: Option<String>,
    /// The mapping (`severities`, `ci_labels`, `auto_resolve`,
    /// `reopen_window_minutes`, `pointers` for generic …); absent fields
    /// keep their defaults.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub settings: Option<Value>,
}

/// A change; absent fields stay as they are, `settings` is merged into the
/// current mapping (RFC 7386: `null` restores a field's default).
#[derive(Debug, Clone, Default)]
pub struct UpdateIntegration {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    /// `Some(None)` clears.
    pub team: Option<Option<String>>,
    pub escalation_policy: Option<Option<String>>,
    pub settings: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IntegrationView {
    pub id: Uuid,
    pub name: String,
    #[schema(value_type = String)]
    pub kind: IntegrationKind,
    /// Where the monitoring system posts.
    pub url: String,
    pub enabled: bool,
    #[schema(value_type = Object)]
    pub settings: Mapping,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The secret, in clear: only in the answer that created or rotated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Events v2: the routing key senders put in each event (the same
    /// secret), likewise shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,
}

/// An integration a webhook proved to be, with its mapping read.
#[derive(Debug, Clone)]
pub struct Integration {
    pub row: IntegrationRow,
    pub kind: IntegrationKind,
    pub mapping: Mapping,
}

impl Integration {
    pub(crate) fn read(row: IntegrationRow) -> Result<Self, DeskError> {
        let kind = IntegrationKind::parse(&row.kind).map_err(anyhow::Error::from)?;
        let mapping: Mapping =
            serde_json::from_value(row.settings.0.clone()).map_err(anyhow::Error::from)?;
        Ok(Self { row, kind, mapping })
    }

    /// Who the alerts of this integration act as: the daemon itself, named
    /// after the integration, on the `alert` channel.
    pub fn actor(&self) -> Actor {
        Actor {
            org_id: self.row.org_id,
            person_id: None,
            name: self.row.name.clone(),
            email: None,
            roles: vec![Role::Admin],
            channel: Channel::Alert,
            read_only: false,
        }
    }
}

/// Events counted per integration in the current minute (per process).
#[derive(Default)]
pub struct AlertRates(std::sync::Mutex<HashMap<Uuid, (i64, u32)>>);

impl AlertRates {
    /// Counts one event; false once the minute's allowance is used up.
    fn allow(&self, integration: Uuid, now: DateTime<Utc>, per_minute: u32) -> bool {
        let minute = now.timestamp().div_euclid(60);
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if counts.len() > 10_000 {
            counts.retain(|_, (m, _)| *m == minute);
        }
        let entry = counts.entry(integration).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        if entry.1 >= per_minute {
            return false;
        }
        entry.1 += 1;
        true
    }
}

/// Why a webhook was refused before anything was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No such integration, a wrong secret, or a disabled one (401).
    Unauthenticated(&'static str),
    /// Over the integration's rate limit (429).
    TooMany,
}

fn length_ok(a: &str, b: &str) -> bool {
    a.len() == b.len()
}

/// Constant-time comparison of two hex hashes.
fn same_hash(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    length_ok(a, b) && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl Desk {
    pub async fn create_integration(
        &self,
        work: &mut Work,
        actor: &Actor,
        input: CreateIntegration,
    ) -> Result<IntegrationView, DeskError> {
        actor.require_admin()?;
        let mut errors = Vec::new();
        let name = Name::parse("name", &input.name)
            .map_err(|e| errors.push(e))
            .ok();
        let kind = IntegrationKind::parse(&input.kind)
            .map_err(|e| errors.push(FieldError::new("kind", e.to_string())))
            .ok();
        let mapping = match input.settings.unwrap_or_else(|| json!({})) {
            Value::Object(map) => serde_json::from_value::<Mapping>(Value::Object(map))
                .map_err(|e| errors.push(FieldError::new("settings", e.to_string())))
                .ok(),
            _ => {
                errors.push(FieldError::new("settings", "must be an object"));
                None
            }
        };
        let (Some(name), Some(kind), Some(mut mapping)) = (name, kind, mapping) else {
            return Err(DeskError::Invalid(errors));
        };
        self.resolve_refs(
            work,
            actor,
            &mut mapping,
            input.team,
            input.escalation_policy,
        )
        .await?;
        mapping.validate(kind).map_err(DeskError::Invalid)?;
        let secret = new_secret(kind);
        let now = store::now();
        let row = IntegrationRow {
            id: new_id(),
            org_id: actor.org_id,
            name: name.into_inner(),
            kind: kind.as_str().into(),
            token_hash: hash_token(&secret),
            settings: sqlx::types::Json(
                serde_json::to_value(&mapping).map_err(anyhow::Error::from)?,
            ),
            enabled: true,
            created_at: now,
            updated_at: now,
        };
        store::alerts::insert_integration(&mut work.tx, &row).await?;
        work.audit(
            actor,
            "integration.created",
            &row.name,
            json!({ "id": row.id, "kind": row.kind }),
        );
        let mut view = self.integration_view(Integration { row, kind, mapping });
        reveal(&mut view, secret);
        Ok(view)
    }

    pub async fn list_integrations(
        &self,
        actor: &Actor,
    ) -> Result<Vec<IntegrationView>, DeskError> {
        actor.require_admin()?;
        let rows = store::alerts::list_integrations(Exec::Db(&self.db), actor.org_id).await?;
        rows.into_iter()
            .map(|row| Ok(self.integration_view(Integration::read(row)?)))
            .collect()
    }

    pub async fn get_integration(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> Result<IntegrationView, DeskError> {
        actor.require_admin()?;
        match store::alerts::find_integration(&self.db, id).await? {
            Some(row) if row.org_id == actor.org_id => {
                Ok(self.integration_view(Integration::read(row)?))
            }
            _ => Err(DeskError::NotFound("integration")),
        }
    }

    pub async fn update_integration(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
        input: UpdateIntegration,
    ) -> Result<IntegrationView, DeskError> {
        actor.require_admin()?;
        let mut current = self.locked_integration(work, actor, id).await?;
        let mut settings = current.row.settings.0.clone();
        match input.settings {
            Some(patch @ Value::Object(_)) => merge_patch(&mut settings, patch),
            Some(_) => return Err(DeskError::invalid("settings", "must be an object")),
            None => {}
        }
        let mut mapping: Mapping = serde_json::from_value(settings)
            .map_err(|e| DeskError::invalid("settings", e.to_string()))?;
        if matches!(input.team, Some(None)) {
            mapping.team_id = None;
        }
        if matches!(input.escalation_policy, Some(None)) {
            mapping.escalation_policy_id = None;
        }
        self.resolve_refs(
            work,
            actor,
            &mut mapping,
            input.team.flatten(),
            input.escalation_policy.flatten(),
        )
        .await?;
        mapping.validate(current.kind).map_err(DeskError::Invalid)?;
        if let Some(name) = &input.name {
            current.row.name = Name::parse("name", name)
                .map_err(|e| DeskError::Invalid(vec![e]))?
                .into_inner();
        }
        if let Some(enabled) = input.enabled {
            current.row.enabled = enabled;
        }
        current.row.settings =
            sqlx::types::Json(serde_json::to_value(&mapping).map_err(anyhow::Error::from)?);
        current.row.updated_at = store::now();
        current.mapping = mapping;
        store::alerts::update_integration(&mut work.tx, &current.row).await?;
        work.audit(
            actor,
            "integration.updated",
            &current.row.name,
            json!({ "id": id, "enabled": current.row.enabled }),
        );
        Ok(self.integration_view(current))
    }

    /// A new secret (routing key); the old one stops working at once.
    pub async fn rotate_integration_secret(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
    ) -> Result<IntegrationView, DeskError> {
        actor.require_admin()?;
        let mut current = self.locked_integration(work, actor, id).await?;
        let secret = new_secret(current.kind);
        current.row.token_hash = hash_token(&secret);
        current.row.updated_at = store::now();
        store::alerts::update_integration(&mut work.tx, &current.row).await?;
        work.audit(
            actor,
            "integration.secret_rotated",
            &current.row.name,
            json!({ "id": id }),
        );
        let mut view = self.integration_view(current);
        reveal(&mut view, secret);
        Ok(view)
    }

    /// Stops taking its alerts (401 from then on); its incidents stay.
    pub async fn disable_integration(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
    ) -> Result<IntegrationView, DeskError> {
        let input = UpdateIntegration {
            enabled: Some(false),
            ..UpdateIntegration::default()
        };
        self.update_integration(work, actor, id, input).await
    }

    /// The integration a webhook names, if `secret` is its secret and it
    /// is enabled; then counts the event against its rate limit.
    pub async fn authenticate_integration(
        &self,
        id: Uuid,
        kind: IntegrationKind,
        secret: Option<&str>,
        signed: impl FnOnce(&Mapping) -> bool,
    ) -> Result<Result<Integration, Refusal>, DeskError> {
        let Some(row) = store::alerts::find_integration(&self.db, id).await? else {
            return Ok(Err(Refusal::Unauthenticated("no such integration")));
        };
        let integration = Integration::read(row)?;
        let proven = secret.is_some_and(|s| same_hash(&hash_token(s), &integration.row.token_hash))
            || signed(&integration.mapping);
        if integration.kind != kind || !proven {
            return Ok(Err(Refusal::Unauthenticated(
                "wrong secret for this integration",
            )));
        }
        self.admit(integration)
    }

    /// The Events v2 integration of a routing key.
    pub async fn integration_of_routing_key(
        &self,
        routing_key: &str,
    ) -> Result<Result<Integration, Refusal>, DeskError> {
        let found = store::alerts::find_integration_by_secret(&self.db, &hash_token(routing_key))
            .await?
            .map(Integration::read)
            .transpose()?;
        match found {
            Some(i) if i.kind == IntegrationKind::EventsV2 => self.admit(i),
            _ => Ok(Err(Refusal::Unauthenticated("unknown routing_key"))),
        }
    }

    fn admit(&self, integration: Integration) -> Result<Result<Integration, Refusal>, DeskError> {
        if !integration.row.enabled {
            return Ok(Err(Refusal::Unauthenticated(
                "this integration is disabled",
            )));
        }
        let allowed = self.alert_rates.allow(
            integration.row.id,
            self.clock.now(),
            integration.mapping.rate_limit_per_minute,
        );
        if !allowed {
            self.metrics.alert_event("rate_limited");
            return Ok(Err(Refusal::TooMany));
        }
        Ok(Ok(integration))
    }

    async fn locked_integration(
        &self,
        work: &mut Work,
        actor: &Actor,
        id: Uuid,
    ) -> Result<Integration, DeskError> {
        let row = store::alerts::get_integration(&mut work.tx, actor.org_id, id)
            .await?
            .ok_or(DeskError::NotFound("integration"))?;
        Integration::read(row)
    }

    /// Names given for the team and escalation policy, checked and stored
    /// as ids; ids already in the mapping are checked too.
    async fn resolve_refs(
        &self,
        work: &mut Work,
        actor: &Actor,
        mapping: &mut Mapping,
        team: Option<String>,
        policy: Option<String>,
    ) -> Result<(), DeskError> {
        if let Some(team) = team {
            mapping.team_id = Some(resolve_team(&mut work.tx, actor.org_id, &team).await?.id);
        } else if let Some(id) = mapping.team_id {
            resolve_team(&mut work.tx, actor.org_id, &id.to_string()).await?;
        }
        let policy_ref = policy.or(mapping.escalation_policy_id.map(|id| id.to_string()));
        if let Some(wanted) = policy_ref {
            let policies =
                store::sla::list_escalation_policies(Exec::Tx(&mut work.tx), actor.org_id).await?;
            let found = policies
                .iter()
                .find(|p| p.id.to_string() == wanted.trim() || p.name == wanted.trim())
                .ok_or_else(|| {
                    DeskError::invalid(
                        "escalation_policy",
                        format!(
                            "no escalation policy `{wanted}`; there are: {}",
                            names_or_none(policies.iter().map(|p| p.name.as_str()))
                        ),
                    )
                })?;
            mapping.escalation_policy_id = Some(found.id);
        }
        Ok(())
    }

    fn integration_view(&self, i: Integration) -> IntegrationView {
        let base = self.settings.auth.public_url.trim_end_matches('/');
        let url = match i.kind {
            IntegrationKind::Alertmanager => format!("{base}/hooks/alertmanager/{}", i.row.id),
            IntegrationKind::Generic => format!("{base}/hooks/generic/{}", i.row.id),
            IntegrationKind::EventsV2 => format!("{base}/v2/enqueue"),
        };
        IntegrationView {
            id: i.row.id,
            name: i.row.name,
            kind: i.kind,
            url,
            enabled: i.row.enabled,
            settings: i.mapping,
            created_at: i.row.created_at,
            updated_at: i.row.updated_at,
            token: None,
            routing_key: None,
        }
    }
}

fn names_or_none<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        "none yet".into()
    } else {
        names.join(", ")
    }
}

/// Events v2 routing keys are 32 characters, as senders that check them
/// expect; the other secrets are longer and prefixed, so a leaked one is
/// easy to recognise.
fn new_secret(kind: IntegrationKind) -> String {
    match kind {
        IntegrationKind::EventsV2 => random_secret("").chars().take(32).collect(),
        _ => random_secret("sbint_"),
    }
}

fn reveal(view: &mut IntegrationView, secret: String) {
    if view.kind == IntegrationKind::EventsV2 {
        view.routing_key = Some(secret.clone());
    }
    view.token = Some(secret);
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: Value) {
    match patch {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = json!({});
            }
            if let Value::Object(map) = target {
                for (key, value) in fields {
                    if value.is_null() {
                        map.remove(&key);
                    } else {
                        merge_patch(map.entry(key).or_insert(Value::Null), value);
                    }
                }
            }
        }
        other => *target = other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut doc = json!({"a": 1, "b": {"c": 2, "d": 3}});
        merge_patch(&mut doc, json!({"a": null, "b": {"c": 5}, "e": [1]}));
        assert_eq!(doc, json!({"b": {"c": 5, "d": 3}, "e": [1]}));
    }

    #[test]
    fn the_rate_limit_counts_per_integration_and_minute() {
        let rates = AlertRates::default();
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let t = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        assert!(rates.allow(a, t, 2));
        assert!(rates.allow(a, t, 2));
        assert!(!rates.allow(a, t, 2));
        assert!(rates.allow(b, t, 2));
        assert!(rates.allow(a, t + chrono::Duration::seconds(60), 2));
    }

    #[test]
    fn routing_keys_are_32_characters() {
        assert_eq!(new_secret(IntegrationKind::EventsV2).len(), 32);
        assert!(new_secret(IntegrationKind::Generic).starts_with("sbint_"));
    }
}
