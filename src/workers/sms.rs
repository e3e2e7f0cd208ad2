//! The SMS deliverer: outbox rows of channel `sms` (target: the person's
//! E.164 number, payload `text`) sent through a gateway speaking Twilio's
//! Messages API — a form POST of `To`, `From`, `Body` to
//! `{sms_api_base_url}/2010-04-01/Accounts/{sid}/Messages.json` with basic
//! auth (sid, token). The base URL is configurable so tests and proxies can
//! stand in. 429 and 5xx are retried (Retry-After honoured); another 4xx
//! means the request itself is wrong (bad number, bad credentials) and is
//! not retried.

use std::time::Duration;

use futures::future::BoxFuture;

use crate::runtime::delivery::{error_chain, retry_after, Deliverer, Delivery};
use crate::{config::NotificationsConfig, store::outbox::OutboxRow};

/// Longest SMS body sent: ten concatenated segments.
const MAX_BODY_CHARS: usize = 1600;

pub struct SmsDeliverer {
    client: reqwest::Client,
    url: String,
    sid: String,
    token: String,
    from: String,
}

impl SmsDeliverer {
    pub fn new(config: &NotificationsConfig, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("Switchboard/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let base = config.sms_api_base_url.trim_end_matches('/');
        let sid = config.sms_account_sid.trim().to_string();
        Ok(Self {
            client,
            url: format!("{base}/2010-04-01/Accounts/{sid}/Messages.json"),
            sid,
            token: config.sms_auth_token.expose().to_string(),
            from: config.sms_from.trim().to_string(),
        })
    }

    async fn send(&self, message: &OutboxRow) -> Delivery {
        let Some(text) = message.payload.0["text"].as_str() else {
            return Delivery::Permanent("the message has no text".into());
        };
        let body: String = text.chars().take(MAX_BODY_CHARS).collect();
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("To", &message.target)
            .append_pair("From", &self.from)
            .append_pair("Body", &body)
            .finish();
        let response = self
            .client
            .post(&self.url)
            .basic_auth(&self.sid, Some(&self.token))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("idempotency-key", message.id.to_string())
            .body(form)
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => Delivery::Delivered,
            Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                Delivery::Retry {
                    error: format!("SMS gateway answered {}", r.status()),
                    not_before: retry_after(r.headers()),
                }
            }
            Ok(r) => {
                let status = r.status();
                // Twilio explains a refusal in `message`; keep it short.
                let detail = r
                    .json::<serde_json::Value>()
                    .await
                    .ok()
                    .and_then(|v| {
                        v["message"]
                            .as_str()
                            .map(|m| m.chars().take(200).collect::<String>())
                    })
                    .unwrap_or_default();
                Delivery::Permanent(
                    format!("SMS gateway answered {status} {detail}")
                        .trim()
                        .to_string(),
                )
            }
            Err(e) => Delivery::Retry {
                error: format!("request failed: {}", error_chain(&e)),
                not_before: None,
            },
        }
    }
}

impl Deliverer for SmsDeliverer {
    fn channel(&self) -> &'static str {
        "sms"
    }

    fn deliver<'a>(&'a self, message: &'a OutboxRow) -> BoxFuture<'a, Delivery> {
        Box::pin(self.send(message))
    }
}
