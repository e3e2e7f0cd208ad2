//! Webhook subscriptions: where signed ticket events are sent (delivered by
//! the outbox dispatcher).

use serde_json::json;
use uuid::Uuid;

use super::{
    events::EVENT_NAMES, new_id, tokens::random_secret, views::WebhookView, Actor, Desk, DeskError,
    Work,
};
use crate::store::{self, webhooks::WebhookRow};

impl Desk {
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
}
