//! Outbound webhooks: the outbox rows of channel `webhook`, one per
//! subscription and event, POSTed as JSON signed with the subscription's
//! secret (HMAC-SHA256 over "timestamp.body", documented in the README).

use std::time::Duration;

use chrono::Utc;
use futures::future::BoxFuture;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use sha2::Sha256;
use uuid::Uuid;

use crate::runtime::delivery::{error_chain, retry_after, Deliverer, Delivery};
use crate::{
    config::OutboxConfig,
    store::{self, outbox::OutboxRow, Db},
};

pub struct WebhookDeliverer {
    client: reqwest::Client,
    db: Db,
}

impl WebhookDeliverer {
    pub fn new(db: Db, settings: &OutboxConfig) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.delivery_timeout_secs))
            .user_agent(concat!("Switchboard-Webhooks/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { client, db })
    }
}

impl WebhookDeliverer {
    async fn send(&self, message: &OutboxRow) -> Delivery {
        let Ok(id) = Uuid::parse_str(&message.target) else {
            return Delivery::Permanent(format!("bad webhook target `{}`", message.target));
        };
        let subscription = match store::webhooks::get_webhook(&self.db, id).await {
            Ok(Some(s)) if s.active => s,
            Ok(_) => return Delivery::Permanent("the webhook subscription was deleted".into()),
            Err(e) => {
                return Delivery::Retry {
                    error: format!("database: {e}"),
                    not_before: None,
                }
            }
        };
        let body = match serde_json::to_vec(&message.payload.0) {
            Ok(b) => b,
            Err(e) => return Delivery::Permanent(format!("payload does not serialize: {e}")),
        };
        let timestamp = Utc::now().timestamp().to_string();
        let signature = sign(&subscription.secret, &timestamp, &body);
        let response = self
            .client
            .post(&subscription.url)
            .header("content-type", "application/json")
            .header("switchboard-event", &message.event)
            .header("switchboard-delivery", message.id.to_string())
            .header("switchboard-timestamp", &timestamp)
            .header("switchboard-signature", format!("v1={signature}"))
            .body(body)
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => Delivery::Delivered,
            Ok(r) if r.status() == StatusCode::GONE => {
                Delivery::Permanent("receiver answered 410 Gone".into())
            }
            Ok(r) => Delivery::Retry {
                error: format!("receiver answered {}", r.status()),
                not_before: retry_after(r.headers()),
            },
            Err(e) => Delivery::Retry {
                error: format!("request failed: {}", error_chain(&e)),
                not_before: None,
            },
        }
    }
}

impl Deliverer for WebhookDeliverer {
    fn channel(&self) -> &'static str {
        "webhook"
    }

    fn deliver<'a>(&'a self, message: &'a OutboxRow) -> BoxFuture<'a, Delivery> {
        Box::pin(self.send(message))
    }
}

/// `hex(HMAC-SHA256(secret, "{timestamp}.{body}"))`, as documented in the README.
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_of_timestamp_and_body() {
        // Known answer computed with `openssl dgst -sha256 -hmac secret`.
        let sig = sign("secret", "1700000000", b"{}");
        assert_eq!(
            sig,
            "b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
        assert_ne!(sig, sign("secret", "1700000001", b"{}"));
    }
}
