//! What people see of the desk, read through the API as the admin, and the
//! few set-ups that tests on every channel repeat. One copy here, so that a
//! test on Slack, Discord or email reads the same rows the same way.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{expect_json, TestApp};

/// The number of a ticket as the API shows it.
pub fn number(ticket: &Value) -> String {
    ticket["number"].as_str().expect("number").to_string()
}

/// When the dispatcher will try an outbox message again.
pub fn next_attempt_at(message: &Value) -> chrono::DateTime<chrono::Utc> {
    serde_json::from_value(message["next_attempt_at"].clone()).expect("time")
}

/// The titles of `tickets`, in their order.
pub fn titles(tickets: &[Value]) -> Vec<String> {
    tickets
        .iter()
        .map(|t| t["title"].as_str().unwrap_or("").to_string())
        .collect()
}

impl TestApp {
    /// Every ticket the admin sees, in the list's order. The page is larger
    /// than any test opens tickets, so none is left out by paging.
    pub async fn tickets(&self) -> Vec<Value> {
        let list: Value = self
            .get_json("/api/v1/tickets?limit=200", &self.token)
            .await;
        list["items"].as_array().cloned().unwrap_or_default()
    }

    /// The first of [`TestApp::tickets`] titled `title`.
    pub async fn ticket_titled(&self, title: &str) -> Value {
        self.tickets()
            .await
            .into_iter()
            .find(|t| t["title"] == title)
            .unwrap_or_else(|| panic!("no ticket titled {title:?}"))
    }

    pub async fn ticket(&self, number: &str) -> Value {
        self.get_json(&format!("/api/v1/tickets/{number}"), &self.token)
            .await
    }

    pub async fn comments(&self, number: &str) -> Vec<Value> {
        self.get_json(&format!("/api/v1/tickets/{number}/comments"), &self.token)
            .await
    }

    pub async fn attachments(&self, number: &str) -> Vec<Value> {
        self.get_json(
            &format!("/api/v1/tickets/{number}/attachments"),
            &self.token,
        )
        .await
    }

    pub async fn activity(&self, number: &str) -> Vec<Value> {
        self.get_json(&format!("/api/v1/tickets/{number}/activity"), &self.token)
            .await
    }

    /// The activity entries of `number` recording `action`.
    pub async fn activity_where(&self, number: &str, action: &str) -> Vec<Value> {
        let all = self.activity(number).await;
        all.into_iter().filter(|a| a["action"] == action).collect()
    }

    pub async fn approval(&self, id: &str) -> Value {
        self.get_json(&format!("/api/v1/approvals/{id}"), &self.token)
            .await
    }

    /// Outbox messages still waiting for `channel` (`slack`, `discord`, …).
    pub async fn pending_for(&self, channel: &str) -> Vec<Value> {
        self.outbox("pending")
            .await
            .into_iter()
            .filter(|m| m["channel"] == channel)
            .collect()
    }

    /// A public comment on `number` by the admin (asserting 201); the body
    /// leaves `internal` out, as a client that takes the default does.
    pub async fn comment(&self, number: &str, body: &str) -> Value {
        self.post_comment(number, &json!({ "body": body })).await
    }

    /// An internal note on `number` by the admin (asserting 201).
    pub async fn note(&self, number: &str, body: &str) -> Value {
        self.post_comment(number, &json!({ "body": body, "internal": true }))
            .await
    }

    async fn post_comment(&self, number: &str, body: &Value) -> Value {
        expect_json(
            self.post(
                &format!("/api/v1/tickets/{number}/comments"),
                &self.token,
                body,
            )
            .await,
            StatusCode::CREATED,
        )
        .await
    }

    /// Opens an incident for `team` as the admin (asserting 201).
    pub async fn team_incident(&self, title: &str, team: &str) -> Value {
        expect_json(
            self.post(
                "/api/v1/tickets",
                &self.token,
                &json!({ "kind": "incident", "title": title, "team": team }),
            )
            .await,
            StatusCode::CREATED,
        )
        .await
    }

    /// Changes ticket fields as the admin (asserting 200).
    pub async fn patch_ticket(&self, number: &str, fields: Value) -> Value {
        expect_json(
            self.send(
                Method::PATCH,
                &format!("/api/v1/tickets/{number}"),
                &self.token,
                Some(&fields),
            )
            .await,
            StatusCode::OK,
        )
        .await
    }

    /// A team of `members` (person ids) whose tickets are announced in
    /// `channel`, the triage channel the chat tests watch.
    pub async fn team_with_channel(&self, name: &str, members: &[Value], channel: &str) {
        expect_json(
            self.post(
                "/api/v1/teams",
                &self.token,
                &json!({ "name": name, "members": members }),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
        expect_json(
            self.send(
                Method::PATCH,
                &format!("/api/v1/teams/{name}"),
                &self.token,
                Some(&json!({ "default_channel": channel })),
            )
            .await,
            StatusCode::OK,
        )
        .await;
    }

    /// A one-stage approval policy `name` in which the person with id
    /// `approver` decides alone (asserting 201).
    pub async fn single_approver_policy(&self, name: &str, approver: &str) {
        expect_json(
            self.post("/api/v1/approval-policies", &self.token, &json!({ "name": name, "stages": [
                { "name": name, "approvers": [{ "type": "person", "id": approver }], "rule": { "type": "any" } }] }))
                .await,
            StatusCode::CREATED,
        )
        .await;
    }

    /// A service request waiting on one approval by the person with id
    /// `approver` (policy "Ann", any one decides); returns the ticket's
    /// number and the approval's id.
    pub async fn request_awaiting_approval_by(&self, approver: &str) -> (String, String) {
        self.single_approver_policy("Ann", approver).await;
        let ticket = self
            .create_ticket("service_request", "Admin rights on my laptop")
            .await;
        let number = number(&ticket);
        let approval = expect_json(
            self.post(
                &format!("/api/v1/tickets/{number}/approvals"),
                &self.token,
                &json!({ "policy": "Ann" }),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
        (number, approval["id"].as_str().expect("id").to_string())
    }

    /// Links a chat identity to the person with id `person` (asserting 201).
    pub async fn link_identity(&self, person: &str, kind: &str, namespace: &str, user: &str) {
        expect_json(
            self.post(
                &format!("/api/v1/people/{person}/identities"),
                &self.token,
                &json!({ "kind": kind, "namespace": namespace, "external_id": user }),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
    }
}
