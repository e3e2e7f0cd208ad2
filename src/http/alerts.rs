//! Alert intake: `POST /hooks/alertmanager/{integration}` (Alertmanager's
//! webhook, version 4), `POST /v2/enqueue` (PagerDuty's Events API v2) and
//! `POST /hooks/generic/{integration}` (any JSON, read through the
//! integration's JSON Pointers). Each reads its sender's format into one
//! [`AlertBatch`] per group and hands it to `Desk::take_alerts`.
//!
//! Answers: 2xx only after commit; 401 for a wrong secret and 400 for a body
//! that cannot be read (permanent: senders do not retry them, and nothing
//! was opened); 429 over the integration's rate limit; 503 while the
//! database cannot be reached (senders retry).

use std::collections::BTreeMap;

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{error::ApiError, exec_use_case, AppState};
use crate::{
    desk::{
        alerts::{AlertBatch, AlertInput, AlertOutcome},
        integrations::{Integration, Refusal},
    },
    domain::alert::{read_generic, AlertStatus, IntegrationKind, Mapping},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/hooks/alertmanager/{integration}", post(alertmanager))
        .route("/hooks/generic/{integration}", post(generic))
        .route("/v2/enqueue", post(enqueue))
}

/// The secret a webhook presents: `Authorization: Bearer …`, or the
/// password of basic auth (Alertmanager's `basic_auth`).
fn presented_secret(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.trim().to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD.decode(rest.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        return text
            .split_once(':')
            .map(|(_, password)| password.to_string());
    }
    None
}

fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::Unauthenticated(why) => ApiError::Unauthorized(why),
        Refusal::TooMany => ApiError::TooManyRequests {
            detail: "this integration sends more events than its rate limit allows".into(),
            retry_after_secs: 60,
        },
    }
}

fn bad_json(what: &str, error: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("not a {what}: {error}"))
}

async fn authenticate(
    state: &AppState,
    id: &str,
    kind: IntegrationKind,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Integration, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::Unauthorized("no such integration"))?;
    let secret = presented_secret(headers);
    let signed = |mapping: &Mapping| {
        mapping
            .signature
            .as_ref()
            .is_some_and(|check| signature_ok(&check.secret, headers.get(&check.header), body))
    };
    let found = state
        .desk
        .authenticate_integration(id, kind, secret.as_deref(), signed)
        .await?;
    found.map_err(|refusal| {
        state.desk.metrics.alert_event("refused");
        refused(refusal)
    })
}

/// HMAC-SHA256 of the body in hex, optionally after `sha256=`.
fn signature_ok(secret: &str, header: Option<&header::HeaderValue>, body: &[u8]) -> bool {
    let Some(given) = header.and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let given = given.trim();
    let given = given.strip_prefix("sha256=").unwrap_or(given);
    let Ok(given) = hex::decode(given) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// Alertmanager's webhook body, version 4.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    version: String,
    group_key: String,
    #[serde(default)]
    truncated_alerts: u64,
    #[serde(default)]
    group_labels: BTreeMap<String, String>,
    #[serde(default)]
    common_labels: BTreeMap<String, String>,
    #[serde(default)]
    common_annotations: BTreeMap<String, String>,
    #[serde(default, rename = "externalURL")]
    external_url: Option<String>,
    alerts: Vec<AmAlert>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AmAlert {
    status: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    starts_at: Option<DateTime<Utc>>,
    #[serde(default)]
    ends_at: Option<DateTime<Utc>>,
    #[serde(default, rename = "generatorURL")]
    generator_url: Option<String>,
    #[serde(default)]
    fingerprint: Option<String>,
}

/// Alertmanager writes the zero time (year 1) for "not yet".
fn real_time(at: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    at.filter(|t| t.timestamp() > 0)
}

/// Alertmanager's own fingerprint, or (an older sender) one of the labels.
fn fingerprint_of(alert: &AmAlert) -> String {
    match &alert.fingerprint {
        Some(f) if !f.trim().is_empty() => f.trim().to_string(),
        _ => {
            let mut hash = Sha256::new();
            for (k, v) in &alert.labels {
                hash.update(k.as_bytes());
                hash.update([0]);
                hash.update(v.as_bytes());
                hash.update([0]);
            }
            hex::encode(&hash.finalize()[..8])
        }
    }
}

fn to_object(map: &BTreeMap<String, String>) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect::<Map<String, Value>>(),
    )
}

impl Notification {
    fn into_batch(self, mapping: &Mapping) -> AlertBatch {
        let mut labels = self.common_labels.clone();
        labels.extend(self.group_labels.clone());
        let name = labels
            .get("alertname")
            .cloned()
            .unwrap_or_else(|| "Alert".into());
        let title = match self.common_annotations.get("summary") {
            Some(summary) => format!("{name}: {summary}"),
            None => {
                let context: Vec<String> = self
                    .group_labels
                    .iter()
                    .filter(|(k, _)| k.as_str() != "alertname")
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                if context.is_empty() {
                    name.clone()
                } else {
                    format!("{name} ({})", context.join(", "))
                }
            }
        };
        let severity = labels.get(&mapping.severity_label).cloned().or_else(|| {
            self.alerts
                .iter()
                .find_map(|a| a.labels.get(&mapping.severity_label).cloned())
        });
        let mut description = String::new();
        if let Some(text) = self.common_annotations.get("description") {
            description.push_str(text);
            description.push_str("\n\n");
        }
        for key in ["runbook_url", "runbook", "dashboard"] {
            if let Some(link) = self.common_annotations.get(key) {
                description.push_str(&format!("{key}: {link}\n"));
            }
        }
        description.push_str(&format!("Alertmanager group {}\n", self.group_key));
        if let Some(url) = &self.external_url {
            description.push_str(&format!("Alertmanager: {url}\n"));
        }
        let alerts = self
            .alerts
            .into_iter()
            .map(|alert| {
                let summary = alert
                    .annotations
                    .get("summary")
                    .or_else(|| alert.labels.get("alertname"))
                    .cloned()
                    .unwrap_or_else(|| name.clone());
                AlertInput {
                    fingerprint: fingerprint_of(&alert),
                    status: if alert.status.eq_ignore_ascii_case("resolved") {
                        AlertStatus::Resolved
                    } else {
                        AlertStatus::Firing
                    },
                    summary,
                    severity: alert.labels.get(&mapping.severity_label).cloned(),
                    labels: to_object(&alert.labels),
                    annotations: to_object(&alert.annotations),
                    starts_at: real_time(alert.starts_at),
                    ends_at: real_time(alert.ends_at),
                    generator_url: alert.generator_url.filter(|u| !u.is_empty()),
                }
            })
            .collect();
        AlertBatch {
            group_key: self.group_key,
            title,
            description,
            severity,
            labels,
            alerts,
        }
    }
}

async fn take(
    state: &AppState,
    integration: Integration,
    batch: AlertBatch,
) -> Result<AlertOutcome, ApiError> {
    Ok(exec_use_case!(state, |desk, work| desk.take_alerts(
        work,
        &integration,
        batch
    )))
}

/// Alertmanager's webhook receiver. `truncatedAlerts` needs no care: an
/// alert missing from a notification is unchanged, never resolved.
pub async fn alertmanager(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let integration =
        authenticate(&state, &id, IntegrationKind::Alertmanager, &headers, &body).await?;
    let notification: Notification =
        serde_json::from_slice(&body).map_err(|e| bad_json("webhook notification", e))?;
    if notification.version != "4" {
        return Err(ApiError::BadRequest(format!(
            "webhook version `{}`; this endpoint reads version 4",
            notification.version
        )));
    }
    if notification.group_key.is_empty() {
        return Err(ApiError::BadRequest("`groupKey` is empty".into()));
    }
    let truncated = notification.truncated_alerts;
    let batch = notification.into_batch(&integration.mapping);
    let outcome = take(&state, integration, batch).await?;
    Ok(Json(json!({
        "status": "success",
        "action": outcome.action,
        "incident": outcome.ticket,
        "firing": outcome.firing,
        "resolved": outcome.resolved,
        "truncated_alerts": truncated,
    }))
    .into_response())
}

/// One Events v2 event.
#[derive(Debug, Deserialize)]
struct Event {
    routing_key: Option<String>,
    event_action: Option<String>,
    dedup_key: Option<String>,
    payload: Option<EventPayload>,
    #[serde(default)]
    links: Vec<EventLink>,
    client: Option<String>,
    client_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct EventPayload {
    summary: Option<String>,
    source: Option<String>,
    severity: Option<String>,
    timestamp: Option<DateTime<Utc>>,
    component: Option<String>,
    group: Option<String>,
    class: Option<String>,
    #[serde(default)]
    custom_details: Value,
}

#[derive(Debug, Deserialize)]
struct EventLink {
    href: String,
    #[serde(default)]
    text: Option<String>,
}

const SEVERITIES: [&str; 4] = ["critical", "error", "warning", "info"];

/// PagerDuty's answer to an event it will not take; senders do not retry.
fn invalid_event(status: StatusCode, errors: Vec<String>) -> Response {
    let body = json!({
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": errors,
    });
    (status, Json(body)).into_response()
}

fn event_batch(event: Event, dedup_key: String, action: &str) -> Result<AlertBatch, Vec<String>> {
    if action != "trigger" {
        return Ok(AlertBatch {
            group_key: dedup_key.clone(),
            alerts: vec![AlertInput {
                fingerprint: dedup_key,
                status: AlertStatus::Resolved,
                summary: String::new(),
                severity: None,
                labels: Value::Null,
                annotations: Value::Null,
                starts_at: None,
                ends_at: Some(Utc::now()),
                generator_url: None,
            }],
            ..AlertBatch::default()
        });
    }
    let mut errors = Vec::new();
    let Some(payload) = event.payload else {
        return Err(vec!["'payload' is missing or blank".into()]);
    };
    let summary = payload.summary.clone().unwrap_or_default();
    if summary.trim().is_empty() {
        errors.push("'payload.summary' is missing or blank".into());
    } else if summary.chars().count() > 1024 {
        errors.push("'payload.summary' must be at most 1024 characters".into());
    }
    let source = payload.source.clone().unwrap_or_default();
    if source.trim().is_empty() {
        errors.push("'payload.source' is missing or blank".into());
    }
    let severity = payload.severity.clone().unwrap_or_default().to_lowercase();
    if !SEVERITIES.contains(&severity.as_str()) {
        errors.push(format!(
            "'payload.severity' must be one of {}",
            SEVERITIES.join(", ")
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut labels = BTreeMap::new();
    labels.insert("source".to_string(), source.clone());
    for (key, value) in [
        ("component", &payload.component),
        ("group", &payload.group),
        ("class", &payload.class),
    ] {
        if let Some(v) = value {
            labels.insert(key.to_string(), v.clone());
        }
    }
    if let Value::Object(details) = &payload.custom_details {
        for (k, v) in details {
            if let Some(text) = v.as_str() {
                labels.entry(k.clone()).or_insert_with(|| text.to_string());
            }
        }
    }
    let mut description = format!("Source: {source}\n");
    for (key, value) in [
        ("Component", &payload.component),
        ("Group", &payload.group),
        ("Class", &payload.class),
    ] {
        if let Some(v) = value {
            description.push_str(&format!("{key}: {v}\n"));
        }
    }
    if !payload.custom_details.is_null() {
        description.push_str(&format!(
            "\nDetails:\n{}\n",
            serde_json::to_string_pretty(&payload.custom_details).unwrap_or_default()
        ));
    }
    for link in &event.links {
        description.push_str(&format!(
            "{}: {}\n",
            link.text.as_deref().unwrap_or("Link"),
            link.href
        ));
    }
    if let Some(client) = &event.client {
        description.push_str(&format!("Sent by {client}"));
        if let Some(url) = &event.client_url {
            description.push_str(&format!(" ({url})"));
        }
        description.push('\n');
    }
    let annotations = json!({
        "custom_details": payload.custom_details,
        "links": event.links.iter().map(|l| json!({"href": l.href, "text": l.text})).collect::<Vec<_>>(),
    });
    let generator_url = event
        .client_url
        .clone()
        .or_else(|| event.links.first().map(|l| l.href.clone()));
    Ok(AlertBatch {
        group_key: dedup_key.clone(),
        title: summary.clone(),
        description,
        severity: Some(severity.clone()),
        labels: labels.clone(),
        alerts: vec![AlertInput {
            fingerprint: dedup_key,
            status: AlertStatus::Firing,
            summary,
            severity: Some(severity),
            labels: to_object(&labels),
            annotations,
            starts_at: payload.timestamp,
            ends_at: None,
            generator_url,
        }],
    })
}

/// PagerDuty's Events API v2: `trigger`, `acknowledge`, `resolve`.
pub async fn enqueue(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let event: Event = match serde_json::from_slice(&body) {
        Ok(event) => event,
        Err(e) => return Ok(invalid_event(StatusCode::BAD_REQUEST, vec![e.to_string()])),
    };
    let Some(routing_key) = event.routing_key.clone().filter(|k| !k.trim().is_empty()) else {
        return Ok(invalid_event(
            StatusCode::BAD_REQUEST,
            vec!["'routing_key' is missing or blank".into()],
        ));
    };
    let integration = match state
        .desk
        .integration_of_routing_key(routing_key.trim())
        .await?
    {
        Ok(integration) => integration,
        Err(Refusal::TooMany) => {
            let body = json!({
                "status": "throttle event",
                "message": "Requests for this service are arriving too quickly. Please retry later.",
            });
            let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("60"));
            return Ok(response);
        }
        Err(Refusal::Unauthenticated(why)) => {
            state.desk.metrics.alert_event("refused");
            return Ok(invalid_event(StatusCode::UNAUTHORIZED, vec![why.into()]));
        }
    };
    let action = event
        .event_action
        .clone()
        .unwrap_or_default()
        .to_lowercase();
    if !["trigger", "acknowledge", "resolve"].contains(&action.as_str()) {
        return Ok(invalid_event(
            StatusCode::BAD_REQUEST,
            vec!["'event_action' must be one of trigger, acknowledge, resolve".into()],
        ));
    }
    let dedup_key = match event.dedup_key.clone().filter(|k| !k.trim().is_empty()) {
        Some(key) if key.chars().count() > 255 => {
            return Ok(invalid_event(
                StatusCode::BAD_REQUEST,
                vec!["'dedup_key' must be at most 255 characters".into()],
            ))
        }
        Some(key) => key,
        None if action == "trigger" => Uuid::now_v7().simple().to_string(),
        None => {
            return Ok(invalid_event(
                StatusCode::BAD_REQUEST,
                vec![format!("'dedup_key' is required to {action} an event")],
            ))
        }
    };
    if action == "acknowledge" {
        let key = dedup_key.clone();
        exec_use_case!(state, |desk, work| desk.acknowledge_alert_group(
            work,
            &integration,
            &key
        ));
    } else {
        let batch = match event_batch(event, dedup_key.clone(), &action) {
            Ok(batch) => batch,
            Err(errors) => return Ok(invalid_event(StatusCode::BAD_REQUEST, errors)),
        };
        take(&state, integration, batch).await?;
    }
    let answer = json!({
        "status": "success",
        "message": "Event processed",
        "dedup_key": dedup_key,
    });
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

/// Any JSON body, read through the integration's pointers.
pub async fn generic(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let integration = authenticate(&state, &id, IntegrationKind::Generic, &headers, &body).await?;
    let value: Value = serde_json::from_slice(&body).map_err(|e| bad_json("JSON body", e))?;
    let Some(pointers) = integration.mapping.pointers.clone() else {
        return Err(ApiError::BadRequest(
            "this integration has no pointers to read a body with".into(),
        ));
    };
    let event = read_generic(&pointers, &value)
        .map_err(|e| ApiError::BadRequest(format!("{}: {}", e.field, e.message)))?;
    let labels: BTreeMap<String, String> = match &value {
        Value::Object(fields) => fields
            .iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k.clone(), s.clone())),
                Value::Number(n) => Some((k.clone(), n.to_string())),
                _ => None,
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    let severity = event.severity.clone();
    let batch = AlertBatch {
        group_key: event.dedup_key.clone(),
        title: event.title.clone(),
        description: event.description.clone().unwrap_or_default(),
        severity: severity.clone(),
        labels: labels.clone(),
        alerts: vec![AlertInput {
            fingerprint: event.dedup_key.clone(),
            status: event.status,
            summary: event.title,
            severity,
            labels: to_object(&labels),
            annotations: json!({ "description": event.description }),
            starts_at: None,
            ends_at: None,
            generator_url: None,
        }],
    };
    let outcome = take(&state, integration, batch).await?;
    Ok(Json(json!({
        "status": "success",
        "action": outcome.action,
        "incident": outcome.ticket,
        "dedup_key": event.dedup_key,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_come_as_bearer_or_basic_auth_passwords() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            "Bearer  abc ".parse().expect("header"),
        );
        assert_eq!(presented_secret(&headers).as_deref(), Some("abc"));
        let basic = format!("Basic {}", STANDARD.encode("alertmanager:s3cret:x"));
        headers.insert(header::AUTHORIZATION, basic.parse().expect("header"));
        assert_eq!(presented_secret(&headers).as_deref(), Some("s3cret:x"));
        headers.insert(header::AUTHORIZATION, "Token abc".parse().expect("header"));
        assert_eq!(presented_secret(&headers), None);
    }

    #[test]
    fn signatures_are_hmac_sha256_hex_with_or_without_prefix() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"0123456789abcdef").expect("key");
        mac.update(b"{}");
        let hex = hex::encode(mac.finalize().into_bytes());
        let ok = |v: &str| {
            let value = header::HeaderValue::from_str(v).expect("header");
            signature_ok("0123456789abcdef", Some(&value), b"{}")
        };
        assert!(ok(&hex));
        assert!(ok(&format!("sha256={hex}")));
        assert!(!ok("sha256=00"));
        assert!(!signature_ok("0123456789abcdef", None, b"{}"));
    }

    #[test]
    fn a_notification_reads_into_one_batch_by_fingerprint() {
        let body = json!({
            "version": "4", "groupKey": "{}:{alertname=\"DiskFull\"}", "truncatedAlerts": 0,
            "status": "firing", "receiver": "switchboard", "externalURL": "http://am:9093",
            "groupLabels": {"alertname": "DiskFull"},
            "commonLabels": {"alertname": "DiskFull", "severity": "critical"},
            "commonAnnotations": {"summary": "Disk almost full", "runbook_url": "https://runbooks/disk"},
            "alerts": [
                {"status": "firing", "labels": {"alertname": "DiskFull", "instance": "db1"},
                 "annotations": {}, "startsAt": "2026-12-07T08:00:00Z",
                 "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom/graph",
                 "fingerprint": "aa11"},
                {"status": "resolved", "labels": {"alertname": "DiskFull", "instance": "db2"},
                 "annotations": {"summary": "db2 disk"}, "startsAt": "2026-12-07T07:00:00Z",
                 "endsAt": "2026-12-07T07:30:00Z"}
            ]
        });
        let n: Notification = serde_json::from_value(body).expect("a v4 notification");
        let batch = n.into_batch(&Mapping::default());
        assert_eq!(batch.title, "DiskFull: Disk almost full");
        assert_eq!(batch.severity.as_deref(), Some("critical"));
        assert!(batch
            .description
            .contains("runbook_url: https://runbooks/disk"));
        assert_eq!(batch.alerts.len(), 2);
        assert_eq!(batch.alerts[0].fingerprint, "aa11");
        assert_eq!(batch.alerts[0].ends_at, None, "the zero time is no end");
        assert_eq!(batch.alerts[1].status, AlertStatus::Resolved);
        assert_eq!(batch.alerts[1].summary, "db2 disk");
        // No fingerprint given: one of the labels, stable.
        assert_eq!(batch.alerts[1].fingerprint.len(), 16);
    }

    #[test]
    fn an_invalid_trigger_names_every_missing_field() {
        let event: Event = serde_json::from_value(json!({
            "routing_key": "k", "event_action": "trigger", "payload": {"severity": "fatal"}
        }))
        .expect("an event");
        let errors = event_batch(event, "d".into(), "trigger")
            .err()
            .unwrap_or_default();
        assert_eq!(errors.len(), 3, "{errors:?}");
    }

    /// Fuzz targets: Alertmanager, Events v2 and generic bodies read into
    /// batches without a panic; accepted when they parse.
    #[test]
    fn fuzz_alert_bodies() {
        let tokens: &[&[u8]] = &[
            b"\"version\": \"4\", ",
            b"\"alerts\": [{}], ",
            b"\"labels\": {\"severity\": \"critical\"}, ",
            b"\"endsAt\": \"0001-01-01T00:00:00Z\", ",
            b"\"event_action\": \"resolve\", ",
            b"\"payload\": {}, ",
            b"\"links\": [{\"href\": \"\"}], ",
        ];
        let notification = serde_json::to_vec(&json!({
            "version": "4", "groupKey": "{}:{alertname=\"DiskFull\"}", "truncatedAlerts": 0,
            "status": "firing", "receiver": "switchboard", "externalURL": "http://am:9093",
            "groupLabels": {"alertname": "DiskFull"},
            "commonLabels": {"alertname": "DiskFull", "severity": "critical", "service": "db"},
            "commonAnnotations": {"summary": "Disk almost full", "description": "92 %"},
            "alerts": [
                {"status": "firing", "labels": {"alertname": "DiskFull", "instance": "db1"},
                 "annotations": {}, "startsAt": "2026-12-07T08:00:00Z",
                 "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom/graph",
                 "fingerprint": "aa11"},
                {"status": "resolved", "labels": {"alertname": "DiskFull", "instance": "db2"},
                 "annotations": {"summary": "db2 disk"}, "startsAt": "2026-12-07T07:00:00Z",
                 "endsAt": "2026-12-07T07:30:00Z"}
            ]
        }))
        .expect("json");
        let mapping = Mapping {
            category_label: Some("service".into()),
            ci_labels: vec!["instance".into()],
            ..Mapping::default()
        };
        crate::domain::fuzz::run(
            &[&notification],
            tokens,
            |body| match serde_json::from_slice::<Notification>(body) {
                Ok(n) => {
                    let _ = n.into_batch(&mapping);
                    true
                }
                Err(_) => false,
            },
        );
        let event = serde_json::to_vec(&json!({
            "routing_key": "k", "event_action": "trigger", "dedup_key": "disk-db1",
            "payload": {"summary": "Disk full on db1", "source": "db1", "severity": "critical",
                        "timestamp": "2026-12-07T08:00:00Z", "component": "disk",
                        "group": "db", "class": "capacity",
                        "custom_details": {"free": "3 %", "nested": {"a": [1, 2]}}},
            "links": [{"href": "https://grafana/d/1", "text": "Dashboard"}],
            "client": "Grafana", "client_url": "https://grafana"
        }))
        .expect("json");
        crate::domain::fuzz::run(&[&event], tokens, |body| {
            match serde_json::from_slice::<Event>(body) {
                Ok(event) => {
                    let action = event.event_action.clone().unwrap_or_default();
                    let _ = event_batch(event, "d".into(), &action.to_lowercase());
                    true
                }
                Err(_) => false,
            }
        });
        let pointers: crate::domain::alert::GenericPointers = serde_json::from_value(json!({
            "title": "/title", "dedup_key": "/id", "status": "/state",
            "severity": "/level", "description": "/details/text"
        }))
        .expect("pointers");
        let generic = serde_json::to_vec(&json!({
            "title": "Queue backlog", "id": "q-1", "state": "alerting", "level": "warning",
            "details": {"text": "12,000 messages waiting"}
        }))
        .expect("json");
        crate::domain::fuzz::run(&[&generic], tokens, |body| {
            match serde_json::from_slice::<Value>(body) {
                Ok(value) => read_generic(&pointers, &value).is_ok(),
                Err(_) => false,
            }
        });
    }
}
