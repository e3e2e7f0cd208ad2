//! Tenant isolation, route by route: every operation the OpenAPI document
//! lists under `/api/v1` is called with another organization's admin token
//! against our objects, and must treat them as not there. Routes that need
//! only known path parameters and no body are called as they come; a route
//! with a body, an unknown path parameter or a required query parameter
//! fails the walk until it is taught here.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{eventually, spawn_app_with, TestApp};

/// Not tenant data: served the same to everyone, or credential exchanges
/// that take no bearer token at all (tests/api/accounts.rs covers them).
const NOT_TENANT_DATA: &[&str] = &[
    "/api/v1/openapi.json",
    "/api/v1/auth/login",
    "/api/v1/auth/mfa",
    "/api/v1/auth/refresh",
    "/api/v1/auth/logout",
    "/api/v1/auth/register",
    "/api/v1/auth/password-reset",
    "/api/v1/auth/password-reset/confirm",
    "/api/v1/auth/oidc/token",
];

/// Routes that answer another organization's object with something other
/// than 403/404, yet exactly as they answer an id that exists nowhere (the
/// walk checks that), so they reveal nothing: (method, route, status).
const ANSWERS_AS_FOR_AN_UNKNOWN_ID: &[(&str, &str, u16)] = &[];

/// Organization B (the `default` organization): the objects the walk aims at.
struct OrgB {
    ticket_number: String,
    ticket_id: String,
    ticket_title: String,
    comment_id: String,
    comment_body: String,
    attachment_id: String,
    attachment_bytes: Vec<u8>,
    agent_id: String,
    agent_email: String,
    requester_id: String,
    team_id: String,
    team_name: String,
    category_id: String,
    category_name: String,
    webhook_id: String,
    identity_id: String,
    token_id: String,
    ci_id: String,
    other_ci_id: String,
    relationship_id: String,
    problem_number: String,
    problem_id: String,
    child_number: String,
    child_id: String,
    known_error_id: String,
    dead_outbox_ids: Vec<String>,
    process: Process,
}

/// B's process objects: an approval policy and a pending approval from a
/// catalog order, the catalog item, a change with its template, a freeze,
/// a rule, a task and a delegation.
struct Process {
    approver_id: String,
    policy_id: String,
    item_id: String,
    request_number: String,
    approval_id: String,
    task_id: String,
    change_number: String,
    template_id: String,
    freeze_id: String,
    rule_id: String,
    macro_id: String,
    delegation_id: String,
    sla_calendar_id: String,
    sla_policy_id: String,
    escalation_policy_id: String,
    schedule_id: String,
}

impl Process {
    async fn seed(app: &TestApp, ci_id: &str, agent_email: &str) -> Self {
        let token = &app.token;
        let (approver, approver_token) = app
            .person_with_token("Pat Approver", "pat@b.example", &["approver"])
            .await;
        let approver_id = id_of(&approver, "approver");
        let policy = created(
            app.post(
                "/api/v1/approval-policies",
                token,
                &json!({ "name": "B-only policy", "stages": [
                    { "name": "B-only stage", "approvers": [{ "type": "person", "id": approver_id }], "rule": { "type": "any" } }
                ]}),
            )
            .await,
            "B's policy",
        )
        .await;
        let policy_id = id_of(&policy, "policy");
        let item = created(
            app.post(
                "/api/v1/catalog/items",
                token,
                &json!({ "name": "B-only payroll access", "approval_policy": policy_id,
                         "tasks": ["B-only payroll task"],
                         "form": { "fields": [{ "key": "reason", "label": "Reason", "type": "text" }] } }),
            )
            .await,
            "B's catalog item",
        )
        .await;
        let item_id = id_of(&item, "catalog item");
        let order = created(
            app.post(
                &format!("/api/v1/catalog/items/{item_id}/orders"),
                token,
                &json!({ "answers": { "reason": "B-only payroll reason" } }),
            )
            .await,
            "B's order",
        )
        .await;
        let request_number = order["ticket"]["number"]
            .as_str()
            .expect("number")
            .to_string();
        let approvals: Vec<Value> = app
            .get_json(
                &format!("/api/v1/tickets/{request_number}/approvals"),
                token,
            )
            .await;
        let approval_id = id_of(&approvals[0], "approval");
        let tasks: Vec<Value> = app
            .get_json(&format!("/api/v1/tickets/{request_number}/tasks"), token)
            .await;
        let task_id = id_of(&tasks[0], "task");
        let template = created(
            app.post(
                "/api/v1/change-templates",
                token,
                &json!({ "name": "B-only template", "tasks": ["B-only payroll step"] }),
            )
            .await,
            "B's template",
        )
        .await;
        let template_id = id_of(&template, "template");
        let change = created(
            app.post(
                "/api/v1/changes",
                token,
                &json!({ "title": "B-only payroll change", "change_type": "normal", "cis": [ci_id],
                         "planned_start": "2026-12-05T22:00:00Z", "planned_end": "2026-12-06T02:00:00Z" }),
            )
            .await,
            "B's change",
        )
        .await;
        let change_number = change["ticket"]["number"]
            .as_str()
            .expect("number")
            .to_string();
        let freeze = created(
            app.post(
                "/api/v1/freeze-windows",
                token,
                &json!({ "name": "B-only freeze", "starts_at": "2027-12-20T00:00:00Z", "ends_at": "2028-01-02T00:00:00Z" }),
            )
            .await,
            "B's freeze",
        )
        .await;
        let freeze_id = id_of(&freeze, "freeze");
        let rule = created(
            app.post(
                "/api/v1/rules",
                token,
                &json!({ "name": "B-only rule", "trigger": "ticket.commented",
                         "actions": [{ "type": "add_watcher", "person": agent_email }] }),
            )
            .await,
            "B's rule",
        )
        .await;
        let rule_id = id_of(&rule, "rule");
        let macro_ = created(
            app.post(
                "/api/v1/macros",
                token,
                &json!({ "name": "B-only payroll macro", "body": "B-only payroll reply",
                         "changes": { "add_tags": ["b-only-payroll"] } }),
            )
            .await,
            "B's macro",
        )
        .await;
        let macro_id = id_of(&macro_, "macro");
        let delegation = created(
            app.post(
                "/api/v1/me/delegations",
                &approver_token,
                &json!({ "to": agent_email, "ends_at": "2030-01-01T00:00:00Z" }),
            )
            .await,
            "B's delegation",
        )
        .await;
        let delegation_id = id_of(&delegation, "delegation");
        let calendar = created(
            app.post(
                "/api/v1/sla/calendars",
                token,
                &json!({ "name": "B-only calendar", "time_zone": "Europe/Berlin",
                         "hours": { "mon": ["09:00-17:00"] } }),
            )
            .await,
            "B's calendar",
        )
        .await;
        let sla_calendar_id = id_of(&calendar, "calendar");
        let sla_policy = created(
            app.post(
                "/api/v1/sla/policies",
                token,
                &json!({ "name": "B-only SLA", "calendar": sla_calendar_id,
                         "targets": { "resolution_minutes": 480 } }),
            )
            .await,
            "B's SLA policy",
        )
        .await;
        let sla_policy_id = id_of(&sla_policy, "SLA policy");
        let escalation = created(
            app.post(
                "/api/v1/escalation-policies",
                token,
                &json!({ "name": "B-only escalation",
                         "steps": [{ "after_minutes": 30, "actions": [{ "type": "notify_lead" }] }] }),
            )
            .await,
            "B's escalation policy",
        )
        .await;
        let escalation_policy_id = id_of(&escalation, "escalation policy");
        let schedule = created(
            app.post(
                "/api/v1/schedules",
                token,
                &json!({ "name": "B-only review", "cron": "0 0 9 1 * *",
                         "ticket": { "kind": "service_request", "title": "B-only payroll review" } }),
            )
            .await,
            "B's schedule",
        )
        .await;
        let schedule_id = id_of(&schedule, "schedule");
        Self {
            approver_id,
            policy_id,
            item_id,
            request_number,
            approval_id,
            task_id,
            change_number,
            template_id,
            freeze_id,
            rule_id,
            macro_id,
            delegation_id,
            sla_calendar_id,
            sla_policy_id,
            escalation_policy_id,
            schedule_id,
        }
    }
}

impl OrgB {
    /// A ticket with a comment and an attachment, two people, a team with a
    /// member, a category, a webhook and its dead-lettered outbox messages.
    async fn seed(app: &TestApp) -> Self {
        let token = &app.token;
        app.subscribe("http://127.0.0.1:9/hook").await;
        let webhooks: Vec<Value> = app.get_json("/api/v1/webhooks", token).await;
        let webhook_id = id_of(&webhooks[0], "webhook");

        let agent_email = "bea@b.example".to_string();
        let (agent, _) = app
            .person_with_token("Bea Agent", &agent_email, &["agent"])
            .await;
        let agent_id = id_of(&agent, "agent");
        let requester = created(
            app.post(
                "/api/v1/people",
                token,
                &json!({ "name": "Rob Requester", "email": "rob@b.example", "roles": ["requester"] }),
            )
            .await,
            "B's requester",
        )
        .await;
        let requester_id = id_of(&requester, "requester");
        let identity = created(
            app.post(
                &format!("/api/v1/people/{agent_id}/identities"),
                token,
                &json!({ "kind": "slack", "namespace": "TB", "external_id": "UB" }),
            )
            .await,
            "B's identity",
        )
        .await;
        let identity_id = id_of(&identity, "identity");
        let api_token = created(
            app.post("/api/v1/tokens", token, &json!({ "name": "B-only token" }))
                .await,
            "B's token",
        )
        .await;
        let token_id = id_of(&api_token, "token");

        let team_name = "B Network".to_string();
        let team = created(
            app.post(
                "/api/v1/teams",
                token,
                &json!({ "name": team_name, "members": [agent_id] }),
            )
            .await,
            "B's team",
        )
        .await;
        let team_id = id_of(&team, "team");
        let category_name = "B Hardware".to_string();
        let category = created(
            app.post(
                "/api/v1/categories",
                token,
                &json!({ "name": category_name, "team": team_id }),
            )
            .await,
            "B's category",
        )
        .await;
        let category_id = id_of(&category, "category");

        let ticket_title = "B-only: payroll server is down".to_string();
        let ticket = app.create_ticket("incident", &ticket_title).await;
        let ticket_number = ticket["number"]
            .as_str()
            .expect("B's ticket has a number")
            .to_string();
        let ticket_id = id_of(&ticket, "ticket");
        let comment_body = "B-only: the root password is in the vault".to_string();
        let comment = created(
            app.post(
                &format!("/api/v1/tickets/{ticket_number}/comments"),
                token,
                &json!({ "body": comment_body }),
            )
            .await,
            "B's comment",
        )
        .await;
        let comment_id = id_of(&comment, "comment");
        let attachment_bytes = b"B-only: payroll.csv\n".to_vec();
        let attachment = created(
            app.client
                .post(app.url(&format!("/api/v1/tickets/{ticket_number}/attachments")))
                .bearer_auth(token)
                .multipart(upload_form(&attachment_bytes))
                .send()
                .await
                .expect("upload sent"),
            "B's attachment",
        )
        .await;
        let attachment_id = id_of(&attachment, "attachment");

        let service = created(
            app.post("/api/v1/cmdb/cis", token, &json!({ "class": "service", "name": "B-only payroll service", "external_id": "b-ext-1" })).await,
            "B's service",
        )
        .await;
        let ci_id = id_of(&service, "CI");
        let app_ci = created(
            app.post(
                "/api/v1/cmdb/cis",
                token,
                &json!({ "class": "application", "name": "B-only payroll app" }),
            )
            .await,
            "B's application",
        )
        .await;
        let other_ci_id = id_of(&app_ci, "CI");
        let relationship = created(
            app.post(
                "/api/v1/cmdb/relationships",
                token,
                &json!({ "source": ci_id, "kind": "depends_on", "target": other_ci_id }),
            )
            .await,
            "B's relationship",
        )
        .await;
        let relationship_id = id_of(&relationship, "relationship");
        let linked = app
            .post(
                &format!("/api/v1/tickets/{ticket_number}/cis"),
                token,
                &json!({ "ci": ci_id }),
            )
            .await;
        assert_eq!(
            linked.status(),
            StatusCode::OK,
            "B's ticket is linked to B's service"
        );

        // A problem with B's ticket as its incident, a known error from it,
        // and a child incident under B's ticket.
        let problem = created(
            app.post(
                "/api/v1/tickets",
                token,
                &json!({ "kind": "problem", "title": "B-only payroll root cause" }),
            )
            .await,
            "B's problem",
        )
        .await;
        let problem_number = problem["number"]
            .as_str()
            .expect("B's problem has a number")
            .to_string();
        let problem_id = id_of(&problem, "problem");
        let linked = app
            .post(
                &format!("/api/v1/problems/{problem_number}/incidents"),
                token,
                &json!({ "incident": ticket_number }),
            )
            .await;
        assert_eq!(
            linked.status(),
            StatusCode::OK,
            "B's incident is linked to B's problem"
        );
        let known_error = created(
            app.post(
                "/api/v1/known-errors",
                token,
                &json!({ "title": "B-only payroll known error", "workaround": "B-only payroll workaround", "problem": problem_number }),
            )
            .await,
            "B's known error",
        )
        .await;
        let known_error_id = id_of(&known_error, "known error");
        let child = app
            .create_ticket("incident", "B-only payroll child incident")
            .await;
        let child_number = child["number"]
            .as_str()
            .expect("B's child has a number")
            .to_string();
        let child_id = id_of(&child, "child incident");
        let parented = app
            .client
            .put(app.url(&format!("/api/v1/tickets/{child_number}/parent")))
            .bearer_auth(token)
            .json(&json!({ "parent": ticket_number }))
            .send()
            .await
            .expect("parent sent");
        assert_eq!(
            parented.status(),
            StatusCode::OK,
            "B's child has B's ticket as parent"
        );

        // Nothing listens on port 9: every event is dead-lettered, so the
        // retry route has something it could really requeue.
        let all_dead = eventually(Duration::from_secs(10), || async {
            app.dispatcher.run_once().await.expect("dispatch");
            app.outbox("pending").await.is_empty()
        })
        .await;
        assert!(all_dead, "B's webhook messages are dead-lettered");
        let dead_outbox_ids: Vec<String> = app
            .outbox("dead")
            .await
            .iter()
            .map(|m| id_of(m, "outbox message"))
            .collect();
        assert!(
            !dead_outbox_ids.is_empty(),
            "B's ticket events produced outbox messages"
        );
        // After the dead letters: approval requests wait for email delivery.
        let process = Process::seed(app, &ci_id, &agent_email).await;

        Self {
            ticket_number,
            ticket_id,
            ticket_title,
            comment_id,
            comment_body,
            attachment_id,
            attachment_bytes,
            agent_id,
            agent_email,
            requester_id,
            team_id,
            team_name,
            category_id,
            category_name,
            webhook_id,
            identity_id,
            token_id,
            ci_id,
            other_ci_id,
            relationship_id,
            problem_number,
            problem_id,
            child_number,
            child_id,
            known_error_id,
            dead_outbox_ids,
            process,
        }
    }

    /// Strings only B's data contains: none may show up in A's answers.
    fn markers(&self) -> Vec<&str> {
        let mut markers = vec![
            self.ticket_id.as_str(),
            &self.ticket_title,
            &self.comment_id,
            &self.comment_body,
            &self.attachment_id,
            &self.agent_id,
            &self.requester_id,
            &self.team_id,
            &self.category_id,
            &self.webhook_id,
            &self.identity_id,
            &self.token_id,
            &self.ci_id,
            &self.other_ci_id,
            &self.relationship_id,
            &self.problem_id,
            &self.child_id,
            &self.known_error_id,
            &self.process.approver_id,
            &self.process.policy_id,
            &self.process.item_id,
            &self.process.approval_id,
            &self.process.task_id,
            &self.process.template_id,
            &self.process.freeze_id,
            &self.process.rule_id,
            &self.process.macro_id,
            &self.process.delegation_id,
            &self.process.sla_calendar_id,
            &self.process.sla_policy_id,
            &self.process.escalation_policy_id,
            &self.process.schedule_id,
            "B-only payroll",
        ];
        markers.extend(self.dead_outbox_ids.iter().map(String::as_str));
        markers
    }

    /// What `{param}` stands for in `route`: B's object of that kind.
    fn fill(&self, route: &str) -> String {
        let segments: Vec<&str> = route.split('/').collect();
        let filled: Vec<String> = segments
            .iter()
            .enumerate()
            .map(|(i, segment)| {
                let Some(param) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'))
                else {
                    return segment.to_string();
                };
                let value = match (param, segments[i - 1]) {
                    ("number", "problems") => &self.problem_number,
                    ("number", "changes") => &self.process.change_number,
                    ("id", "items") => &self.process.item_id,
                    ("id", "approval-policies") => &self.process.policy_id,
                    ("id", "approvals") => &self.process.approval_id,
                    ("id", "tasks") => &self.process.task_id,
                    ("id", "rules") => &self.process.rule_id,
                    ("id", "macros") => &self.process.macro_id,
                    ("macro", _) => &self.process.macro_id,
                    ("id", "delegations") => &self.process.delegation_id,
                    ("id", "calendars") => &self.process.sla_calendar_id,
                    ("id", "policies") => &self.process.sla_policy_id,
                    ("id", "escalation-policies") => &self.process.escalation_policy_id,
                    ("id", "schedules") => &self.process.schedule_id,
                    ("number", _) => &self.ticket_number,
                    ("incident", _) => &self.ticket_number,
                    // The other ticket of a link: B's child incident.
                    ("to", "links") => &self.child_number,
                    ("id", "known-errors") => &self.known_error_id,
                    ("team", _) => &self.team_id,
                    ("person", _) => &self.agent_id,
                    ("id", "attachments") => &self.attachment_id,
                    ("id", "comments") => &self.comment_id,
                    ("id", "people") => &self.agent_id,
                    ("id", "teams") => &self.team_id,
                    ("id", "categories") => &self.category_id,
                    ("id", "webhooks") => &self.webhook_id,
                    // Any id of B's: A has no integration by it.
                    ("id", "integrations") => &self.webhook_id,
                    ("id", "skill-rules") => &self.webhook_id,
                    // Any id of B's: A has no identity provider by it
                    // (tests/api/sso.rs walks B's own provider).
                    ("id", "providers") => &self.webhook_id,
                    ("absence", _) => &self.comment_id,
                    ("id", "outbox") => &self.dead_outbox_ids[0],
                    ("id", "tokens") => &self.token_id,
                    ("id", "cis") => &self.ci_id,
                    ("id", "relationships") => &self.relationship_id,
                    ("ci", _) => &self.ci_id,
                    ("identity", _) => &self.identity_id,
                    // Any id of B's: it is in nobody's inbox of A.
                    ("id", "inbox") => &self.comment_id,
                    _ => panic!(
                        "new path parameter {{{param}}} in {route}: \
                         teach tests/api/isolation.rs which object of B fills it"
                    ),
                };
                value.clone()
            })
            .collect();
        filled.join("/")
    }
}

/// One operation of the OpenAPI document.
struct Operation {
    method: Method,
    route: String,
    has_body: bool,
    path_params: Vec<String>,
    required_query: Vec<String>,
}

impl Operation {
    fn name(&self) -> String {
        format!("{} {}", self.method, self.route)
    }

    fn teach(&self, what: &str) -> ! {
        panic!(
            "new route {} ({what}): teach tests/api/isolation.rs how to call it",
            self.name()
        )
    }
}

fn operations(doc: &Value) -> Vec<Operation> {
    let paths = doc["paths"]
        .as_object()
        .expect("OpenAPI document has paths");
    let mut operations = Vec::new();
    for (route, item) in paths {
        for method in [
            "get", "put", "post", "delete", "patch", "head", "options", "trace",
        ] {
            let Some(op) = item.get(method) else { continue };
            let params: Vec<&Value> = op["parameters"]
                .as_array()
                .map(|p| p.iter().collect())
                .unwrap_or_default();
            let required_query: Vec<String> = params
                .iter()
                .filter(|p| p["in"] == "query" && p["required"] == true)
                .map(|p| p["name"].as_str().expect("parameter name").to_string())
                .collect();
            operations.push(Operation {
                method: Method::from_bytes(method.to_uppercase().as_bytes()).expect("HTTP method"),
                route: route.clone(),
                has_body: op.get("requestBody").is_some(),
                // From the template: the document's `in` is not to be trusted.
                path_params: route
                    .split('/')
                    .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                    .map(String::from)
                    .collect(),
                required_query,
            });
        }
    }
    operations
}

#[derive(Clone)]
enum Body {
    Empty,
    Json(Value),
    Upload(Vec<u8>),
}

/// What an answer to organization A must look like.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Expect {
    /// B's object is not there for A: 403 or 404.
    Hidden,
    /// Created in A's own organization: 2xx, carrying nothing of B.
    Created,
    /// Refers to B's objects, which A cannot see: a 4xx.
    Rejected,
    /// A's collection: 200 with nothing of B in it.
    Listed,
    /// A filter naming B's objects: 200 with nothing of B, or a 4xx.
    ListedOrRejected,
}

struct Call {
    operation: String,
    method: Method,
    path: String,
    body: Body,
    expect: Expect,
}

/// Bodies for routes that take one, and what creating in A's own
/// organization may and may not do (B's references must not resolve).
fn bodies(method: &Method, route: &str, b: &OrgB) -> Option<Vec<(Body, Expect)>> {
    let hidden = |body: Value| vec![(Body::Json(body), Expect::Hidden)];
    let calls = match (method.as_str(), route) {
        ("POST", "/api/v1/tickets") => vec![
            (
                Body::Json(json!({ "kind": "service_request", "title": "A: new laptop" })),
                Expect::Created,
            ),
            (
                Body::Json(
                    json!({ "kind": "service_request", "title": "A: probe", "team": b.team_id }),
                ),
                Expect::Rejected,
            ),
            (
                Body::Json(
                    json!({ "kind": "service_request", "title": "A: probe", "category": b.category_id }),
                ),
                Expect::Rejected,
            ),
            (
                Body::Json(
                    json!({ "kind": "service_request", "title": "A: probe", "requester": b.requester_id }),
                ),
                Expect::Rejected,
            ),
        ],
        ("POST", "/api/v1/people") => vec![(
            // B's email and name are free in A: a conflict would betray B.
            Body::Json(json!({ "name": "Bea Agent", "email": b.agent_email, "roles": ["agent"] })),
            Expect::Created,
        )],
        ("POST", "/api/v1/teams") => vec![
            (Body::Json(json!({ "name": b.team_name })), Expect::Created),
            (
                Body::Json(json!({ "name": "A probe", "members": [b.agent_id] })),
                Expect::Rejected,
            ),
            (
                Body::Json(json!({ "name": "A probe", "lead": b.agent_id })),
                Expect::Rejected,
            ),
        ],
        ("POST", "/api/v1/categories") => vec![
            (
                Body::Json(json!({ "name": b.category_name })),
                Expect::Created,
            ),
            (
                Body::Json(json!({ "name": "A probe", "team": b.team_id })),
                Expect::Rejected,
            ),
        ],
        ("POST", "/api/v1/integrations") => vec![(
            Body::Json(json!({ "name": "A probe", "kind": "alertmanager" })),
            Expect::Created,
        )],
        ("PATCH", "/api/v1/integrations/{id}") => hidden(json!({ "name": "A was here" })),
        ("POST", "/api/v1/macros") => vec![(
            Body::Json(json!({ "name": "A probe", "body": "A was here" })),
            Expect::Created,
        )],
        ("PATCH", "/api/v1/macros/{id}") => hidden(json!({ "body": "A was here" })),
        // No issuer answers here: refused, and nothing of B's is named.
        ("POST", "/api/v1/sso/providers") => vec![(
            Body::Json(json!({ "name": "A probe", "issuer": "http://127.0.0.1:9",
                               "client_id": "a", "client_secret": "a",
                               "allowed_domains": ["a.example"] })),
            Expect::Rejected,
        )],
        ("PATCH", "/api/v1/sso/providers/{id}") => hidden(json!({ "name": "A was here" })),
        ("PATCH", "/api/v1/sso/settings") => vec![(
            Body::Json(json!({ "local_passwords": true })),
            Expect::Created,
        )],
        ("POST", "/api/v1/skill-rules") => vec![(
            Body::Json(json!({ "skill": "a-probe", "tag": "a-probe" })),
            Expect::Created,
        )],
        ("PUT", "/api/v1/people/{id}/skills") => hidden(json!({ "skills": ["a-was-here"] })),
        ("PUT", "/api/v1/people/{id}/working-hours") => hidden(json!({ "calendar": null })),
        ("POST", "/api/v1/people/{id}/absences") => {
            hidden(json!({ "ends_at": "2099-01-01T00:00:00Z" }))
        }
        ("POST", "/api/v1/webhooks") => vec![(
            Body::Json(json!({ "url": "http://127.0.0.1:9/a-hook" })),
            Expect::Created,
        )],
        // Valid for B's objects, so only the organization stands in the way.
        ("PATCH", "/api/v1/tickets/{number}") => hidden(json!({ "title": "A was here" })),
        ("POST", "/api/v1/tickets/{number}/transitions") => hidden(json!({ "to": "in_progress" })),
        ("POST", "/api/v1/tickets/{number}/satisfaction") => hidden(json!({ "score": 5 })),
        ("POST", "/api/v1/tickets/{number}/assignment") => {
            hidden(json!({ "team": b.team_id, "assignee": b.agent_id }))
        }
        ("POST", "/api/v1/tickets/{number}/comments") => hidden(json!({ "body": "A was here" })),
        ("POST", "/api/v1/tickets/{number}/time") => {
            hidden(json!({ "minutes": 5, "note": "A was here" }))
        }
        ("POST", "/api/v1/tickets/{number}/attachments") => {
            vec![(Body::Upload(b"A was here".to_vec()), Expect::Hidden)]
        }
        ("POST", "/api/v1/teams/{team}/members") => hidden(json!({ "person": b.requester_id })),
        ("PATCH", "/api/v1/teams/{team}") => hidden(json!({ "description": "A was here" })),
        ("PATCH", "/api/v1/people/{id}") => hidden(json!({ "name": "A was here" })),
        ("POST", "/api/v1/people/{id}/identities") => {
            hidden(json!({ "kind": "slack", "namespace": "TA", "external_id": "UA" }))
        }
        ("POST", "/api/v1/tickets/{number}/watchers") => {
            hidden(json!({ "person": b.requester_id }))
        }
        ("POST", "/api/v1/tickets/{number}/links") => {
            hidden(json!({ "to": b.child_number, "kind": "related" }))
        }
        ("POST", "/api/v1/tickets/{number}/merge") => hidden(json!({ "into": b.child_number })),
        ("POST", "/api/v1/tickets/{number}/cis") => hidden(json!({ "ci": b.ci_id })),
        ("PATCH", "/api/v1/cmdb/cis/{id}") => hidden(json!({ "name": "A was here" })),
        ("PATCH", "/api/v1/problems/{number}") => hidden(json!({ "workaround": "A was here" })),
        ("POST", "/api/v1/problems/{number}/incidents") => {
            hidden(json!({ "incident": b.child_number }))
        }
        ("POST", "/api/v1/problems/{number}/resolve") => {
            hidden(json!({ "resolve_incidents": true, "note": "A was here" }))
        }
        ("PATCH", "/api/v1/known-errors/{id}") => hidden(json!({ "title": "A was here" })),
        ("POST", "/api/v1/tickets/{number}/known-errors") => {
            hidden(json!({ "known_error": b.known_error_id }))
        }
        ("POST", "/api/v1/tickets/{number}/major") => hidden(json!({ "major": true })),
        ("POST", "/api/v1/tickets/{number}/escalation") => hidden(json!({ "level": 3 })),
        ("PUT", "/api/v1/tickets/{number}/parent") => hidden(json!({ "parent": b.child_number })),
        ("POST", "/api/v1/known-errors") => vec![
            (
                Body::Json(json!({ "title": "A known error", "workaround": "A workaround" })),
                Expect::Created,
            ),
            (
                Body::Json(json!({ "title": "A probe", "problem": b.problem_number })),
                Expect::Rejected,
            ),
        ],
        ("POST", "/api/v1/cmdb/classes") => vec![(
            Body::Json(json!({ "name": "a_class", "label": "A class", "schema": {} })),
            Expect::Created,
        )],
        ("POST", "/api/v1/cmdb/cis") => vec![
            (
                Body::Json(json!({ "class": "service", "name": "A service" })),
                Expect::Created,
            ),
            (
                Body::Json(
                    json!({ "class": "service", "name": "A probe", "owner_team": b.team_id }),
                ),
                Expect::Rejected,
            ),
        ],
        ("POST", "/api/v1/cmdb/relationships") => vec![(
            Body::Json(json!({ "source": b.ci_id, "kind": "depends_on", "target": b.other_ci_id })),
            Expect::Rejected,
        )],
        // B's external id is free in A: the upsert creates A's own CI.
        ("POST", "/api/v1/cmdb/bulk") => vec![(
            Body::Json(
                json!({ "items": [{ "external_id": "b-ext-1", "class": "service", "name": "A bulk" }] }),
            ),
            Expect::Created,
        )],
        ("PUT", "/api/v1/catalog/items/{id}") => hidden(json!({ "name": "A was here" })),
        ("POST", "/api/v1/catalog/items/{id}/orders") => {
            hidden(json!({ "answers": { "reason": "A was here" } }))
        }
        ("PUT", "/api/v1/approval-policies/{id}") => hidden(json!({ "name": "A was here",
            "stages": [{ "name": "s", "approvers": [{ "type": "requester_manager" }], "rule": { "type": "any" } }] })),
        ("POST", "/api/v1/approvals/{id}/decisions") => hidden(json!({ "decision": "approve" })),
        ("POST", "/api/v1/tickets/{number}/approvals") => {
            hidden(json!({ "policy": b.process.policy_id }))
        }
        ("PUT", "/api/v1/people/{id}/manager") => hidden(json!({ "manager": b.requester_id })),
        ("PUT", "/api/v1/changes/{number}/window") => hidden(
            json!({ "planned_start": "2026-12-07T22:00:00Z", "planned_end": "2026-12-08T02:00:00Z" }),
        ),
        ("PUT", "/api/v1/changes/{number}/risk") => hidden(json!({ "answers": {
            "user_impact": "none", "complexity": "simple", "tested": "yes", "rollback": "easily", "done_before": "often" } })),
        ("PUT", "/api/v1/changes/{number}/review") => {
            hidden(json!({ "outcome": "successful", "lessons": "A was here" }))
        }
        ("POST", "/api/v1/tickets/{number}/tasks") => hidden(json!({ "title": "A was here" })),
        ("PATCH", "/api/v1/tickets/{number}/tasks/{id}") => hidden(json!({ "state": "done" })),
        ("PUT", "/api/v1/rules/{id}") => {
            hidden(json!({ "name": "A was here", "trigger": "ticket.created",
            "actions": [{ "type": "add_comment", "body": "A was here" }] }))
        }
        ("POST", "/api/v1/catalog/categories") => {
            vec![(Body::Json(json!({ "name": "B category" })), Expect::Created)]
        }
        ("POST", "/api/v1/catalog/items") => vec![
            (Body::Json(json!({ "name": "A item" })), Expect::Created),
            (
                Body::Json(json!({ "name": "A probe", "approval_policy": b.process.policy_id })),
                Expect::Rejected,
            ),
            (
                Body::Json(json!({ "name": "A probe", "team": b.team_id })),
                Expect::Rejected,
            ),
        ],
        ("POST", "/api/v1/approval-policies") => vec![
            (
                Body::Json(json!({ "name": "B-only policy", "stages": [
                    { "name": "s", "approvers": [{ "type": "requester_manager" }], "rule": { "type": "any" } }] })),
                Expect::Created,
            ),
            (
                Body::Json(json!({ "name": "A probe", "stages": [
                    { "name": "s", "approvers": [{ "type": "person", "id": b.process.approver_id }], "rule": { "type": "any" } }] })),
                Expect::Rejected,
            ),
            (
                Body::Json(json!({ "name": "A probe", "stages": [
                    { "name": "s", "approvers": [{ "type": "cab", "team": b.team_id }], "rule": { "type": "any" } }] })),
                Expect::Rejected,
            ),
        ],
        ("POST", "/api/v1/changes") => vec![
            (
                Body::Json(json!({ "title": "A change", "change_type": "normal",
                    "planned_start": "2026-12-05T22:00:00Z", "planned_end": "2026-12-06T02:00:00Z" })),
                Expect::Created,
            ),
            (
                Body::Json(
                    json!({ "title": "A probe", "change_type": "normal", "cis": [b.ci_id] }),
                ),
                Expect::Rejected,
            ),
            (
                Body::Json(
                    json!({ "title": "A probe", "change_type": "standard", "template": b.process.template_id }),
                ),
                Expect::Rejected,
            ),
        ],
        ("POST", "/api/v1/change-templates") => {
            vec![(
                Body::Json(json!({ "name": "B-only template" })),
                Expect::Created,
            )]
        }
        ("POST", "/api/v1/freeze-windows") => vec![
            (
                Body::Json(
                    json!({ "name": "A freeze", "starts_at": "2027-12-20T00:00:00Z", "ends_at": "2028-01-02T00:00:00Z" }),
                ),
                Expect::Created,
            ),
            (
                Body::Json(
                    json!({ "name": "A probe", "team": b.team_id, "starts_at": "2027-12-20T00:00:00Z", "ends_at": "2028-01-02T00:00:00Z" }),
                ),
                Expect::Rejected,
            ),
        ],
        ("POST", "/api/v1/rules") => vec![
            (
                Body::Json(json!({ "name": "A rule", "trigger": "ticket.created",
                    "actions": [{ "type": "add_comment", "body": "A rule" }] })),
                Expect::Created,
            ),
            (
                Body::Json(json!({ "name": "A probe", "trigger": "ticket.created",
                    "actions": [{ "type": "assign_team", "team": b.team_id }] })),
                Expect::Rejected,
            ),
            (
                Body::Json(json!({ "name": "A probe", "trigger": "ticket.created",
                    "actions": [{ "type": "start_approval", "policy": b.process.policy_id }] })),
                Expect::Rejected,
            ),
        ],
        ("PUT", "/api/v1/sla/calendars/{id}") => {
            hidden(json!({ "name": "A was here", "time_zone": "UTC", "always_open": true }))
        }
        ("PUT", "/api/v1/sla/policies/{id}") => {
            hidden(json!({ "name": "A was here", "targets": { "resolution_minutes": 60 } }))
        }
        ("PUT", "/api/v1/escalation-policies/{id}") => hidden(json!({ "name": "A was here",
            "steps": [{ "after_minutes": 1, "actions": [{ "type": "notify_lead" }] }] })),
        ("PUT", "/api/v1/teams/{team}/on-call") => hidden(json!({ "time_zone": "UTC",
            "handoff_day": "mon", "handoff_time": "09:00", "members": [], "starts": "2026-11-23" })),
        ("POST", "/api/v1/escalation-policies") => vec![(
            Body::Json(json!({ "name": "B-only escalation",
                "steps": [{ "on": "sla_breach", "actions": [{ "type": "notify_lead" }] }] })),
            Expect::Created,
        )],
        ("PUT", "/api/v1/schedules/{id}") => {
            hidden(json!({ "name": "A was here", "cron": "0 0 9 * * *",
            "ticket": { "kind": "incident", "title": "A was here" } }))
        }
        ("POST", "/api/v1/schedules") => vec![
            (
                Body::Json(json!({ "name": "B-only review", "cron": "0 0 9 1 * *",
                    "ticket": { "kind": "incident", "title": "A review" } })),
                Expect::Created,
            ),
            (
                Body::Json(json!({ "name": "A probe", "cron": "0 0 9 1 * *",
                    "digest": { "team": b.team_id, "channel": "slack", "target": "C1" } })),
                Expect::Rejected,
            ),
        ],
        ("POST", "/api/v1/sla/calendars") => vec![(
            Body::Json(
                json!({ "name": "B-only calendar", "time_zone": "UTC", "always_open": true }),
            ),
            Expect::Created,
        )],
        ("POST", "/api/v1/sla/policies") => vec![
            (
                Body::Json(
                    json!({ "name": "B-only SLA", "targets": { "resolution_minutes": 60 } }),
                ),
                Expect::Created,
            ),
            (
                Body::Json(
                    json!({ "name": "A probe", "calendar": b.process.sla_calendar_id,
                    "targets": { "resolution_minutes": 60 } }),
                ),
                Expect::Rejected,
            ),
        ],
        ("POST", "/api/v1/me/delegations") => vec![(
            Body::Json(json!({ "to": b.agent_id, "ends_at": "2030-01-01T00:00:00Z" })),
            Expect::Rejected,
        )],
        // A's own organization, profile and credentials.
        ("POST", "/api/v1/invitations") => vec![(
            Body::Json(json!({ "email": b.agent_email, "name": "Bea Agent", "roles": ["agent"] })),
            Expect::Created,
        )],
        ("PATCH", "/api/v1/organization") => {
            vec![(
                Body::Json(json!({ "mfa_required": false })),
                Expect::Created,
            )]
        }
        ("POST", "/api/v1/tokens") => {
            vec![(Body::Json(json!({ "name": "A token" })), Expect::Created)]
        }
        ("PATCH", "/api/v1/me") => vec![(Body::Json(json!({ "locale": "en" })), Expect::Created)],
        ("POST", "/api/v1/me/inbox/read-all") => vec![(Body::Empty, Expect::Created)],
        // A's own mapping; B's team names are not needed to set it.
        ("PUT", "/api/v1/scim/group-roles") => vec![(
            Body::Json(json!({ "mappings": [{ "group": "A: agents", "role": "agent" }] })),
            Expect::Created,
        )],
        ("PUT", "/api/v1/organization/notification-defaults") => vec![(
            Body::Json(json!({ "channels": { "sms": false } })),
            Expect::Created,
        )],
        ("POST", "/api/v1/me/link-codes") | ("POST", "/api/v1/me/mfa/totp") => {
            vec![(Body::Empty, Expect::Created)]
        }
        // A service account has no password and no MFA yet: refused, of course.
        ("POST", "/api/v1/me/password") => vec![(
            Body::Json(
                json!({ "current_password": "not the password", "new_password": "a long new passphrase" }),
            ),
            Expect::Rejected,
        )],
        ("POST", "/api/v1/me/mfa/totp/confirm") | ("POST", "/api/v1/me/mfa/disable") => {
            vec![(Body::Json(json!({ "code": "000000" })), Expect::Rejected)]
        }
        _ => return None,
    };
    Some(calls)
}

/// Extra query strings for collection reads: filters naming B's objects.
fn queries(route: &str, b: &OrgB) -> Vec<String> {
    match route {
        "/api/v1/tickets" => vec![
            format!("?q={}", b.ticket_title.replace(' ', "%20")),
            format!("?team={}", b.team_id),
            format!("?requester={}", b.agent_id),
            format!("?assignee={}", b.agent_id),
        ],
        "/api/v1/outbox" => vec!["?state=dead".into(), "?state=pending".into()],
        "/api/v1/known-errors" => vec!["?q=payroll".into(), "?include_inactive=true".into()],
        _ => Vec::new(),
    }
}

/// Every call the walk makes, in order: B's objects first, then creating in
/// A's organization, then A's collections (now holding A's own objects).
fn plan(doc: &Value, b: &OrgB) -> Vec<Call> {
    let mut on_objects = Vec::new();
    let mut creates = Vec::new();
    let mut reads = Vec::new();
    for op in operations(doc) {
        if !op.route.starts_with("/api/v1/") || NOT_TENANT_DATA.contains(&op.route.as_str()) {
            continue;
        }
        if !op.required_query.is_empty() {
            op.teach(&format!("required query {:?}", op.required_query));
        }
        let known = bodies(&op.method, &op.route, b);
        if op.has_body && known.is_none() {
            op.teach("it takes a body");
        }
        let call = |path: String, body: Body, expect: Expect| Call {
            operation: op.name(),
            method: op.method.clone(),
            path,
            body,
            expect,
        };
        if op.path_params.is_empty() {
            match (&op.method, known) {
                (_, Some(known)) => creates.extend(
                    known
                        .into_iter()
                        .map(|(body, expect)| call(op.route.clone(), body, expect)),
                ),
                (&Method::GET, None) => {
                    reads.push(call(op.route.clone(), Body::Empty, Expect::Listed));
                    reads.extend(queries(&op.route, b).into_iter().map(|q| {
                        call(
                            format!("{}{q}", op.route),
                            Body::Empty,
                            Expect::ListedOrRejected,
                        )
                    }));
                }
                _ => op.teach("a collection route without a body"),
            }
        } else {
            let path = b.fill(&op.route);
            let known = known.unwrap_or_else(|| vec![(Body::Empty, Expect::Hidden)]);
            on_objects.extend(
                known
                    .into_iter()
                    .map(|(body, expect)| call(path.clone(), body, expect)),
            );
        }
    }
    on_objects.into_iter().chain(creates).chain(reads).collect()
}

async fn send(app: &TestApp, token: &str, call: &Call) -> (StatusCode, String) {
    let request = app
        .client
        .request(call.method.clone(), app.url(&call.path))
        .bearer_auth(token);
    let request = match &call.body {
        Body::Empty => request,
        Body::Json(body) => request.json(body),
        Body::Upload(bytes) => request.multipart(upload_form(bytes)),
    };
    let response = request.send().await.expect("request sent");
    let status = response.status();
    (status, response.text().await.expect("response body"))
}

/// What is wrong with A's answer to `call`, if anything.
async fn judge(
    app: &TestApp,
    token: &str,
    call: &Call,
    status: StatusCode,
    body: &str,
    markers: &[&str],
) -> Option<String> {
    let leaked: Vec<&&str> = markers.iter().filter(|m| body.contains(**m)).collect();
    let ok = match call.expect {
        Expect::Hidden if [StatusCode::NOT_FOUND, StatusCode::FORBIDDEN].contains(&status) => true,
        Expect::Hidden => {
            let route = call.operation.split_once(' ').map(|(_, r)| r);
            let documented = ANSWERS_AS_FOR_AN_UNKNOWN_ID.iter().any(|(m, r, s)| {
                *m == call.method.as_str() && Some(*r) == route && *s == status.as_u16()
            });
            documented && answer_for_unknown_id(app, token, call).await == (status, body.into())
        }
        Expect::Created => status.is_success() && leaked.is_empty(),
        Expect::Rejected => status.is_client_error(),
        Expect::Listed => status == StatusCode::OK && leaked.is_empty(),
        Expect::ListedOrRejected => {
            (status == StatusCode::OK && leaked.is_empty()) || status.is_client_error()
        }
    };
    (!ok).then(|| {
        format!(
            "{} as {} → expected {:?}, got {status} (B's data in it: {leaked:?}): {body}",
            call.operation, call.path, call.expect
        )
    })
}

/// The same call with the last path segment that names an object replaced
/// by an id no organization has.
async fn answer_for_unknown_id(app: &TestApp, token: &str, call: &Call) -> (StatusCode, String) {
    let unknown = uuid::Uuid::new_v4().to_string();
    let mut segments: Vec<String> = call.path.split('/').map(String::from).collect();
    let last_id = segments
        .iter()
        .rposition(|s| uuid::Uuid::parse_str(s).is_ok())
        .expect("the documented exception names an object by id");
    segments[last_id] = unknown;
    let probe = Call {
        operation: call.operation.clone(),
        method: call.method.clone(),
        path: segments.join("/"),
        body: call.body.clone(),
        expect: call.expect,
    };
    send(app, token, &probe).await
}

/// B's own view of everything the walk aimed at.
async fn snapshot(app: &TestApp, b: &OrgB) -> Vec<(String, Value)> {
    let number = &b.ticket_number;
    let mut views = Vec::new();
    for path in [
        format!("/api/v1/tickets/{number}"),
        format!("/api/v1/tickets/{number}/comments"),
        format!("/api/v1/tickets/{number}/attachments"),
        format!("/api/v1/tickets/{number}/activity"),
        "/api/v1/tickets".to_string(),
        "/api/v1/people".to_string(),
        format!("/api/v1/people/{}", b.agent_id),
        "/api/v1/teams".to_string(),
        format!("/api/v1/teams/{}", b.team_id),
        "/api/v1/categories".to_string(),
        "/api/v1/webhooks".to_string(),
        "/api/v1/outbox?state=dead".to_string(),
        "/api/v1/outbox?state=pending".to_string(),
        "/api/v1/outbox?state=delivered".to_string(),
        format!("/api/v1/problems/{}", b.problem_number),
        format!("/api/v1/tickets/{number}/children"),
        format!("/api/v1/tickets/{number}/known-errors"),
        "/api/v1/known-errors?include_inactive=true".to_string(),
        "/api/v1/catalog".to_string(),
        "/api/v1/approval-policies".to_string(),
        format!("/api/v1/approvals/{}", b.process.approval_id),
        format!("/api/v1/tickets/{}/tasks", b.process.request_number),
        format!("/api/v1/changes/{}", b.process.change_number),
        "/api/v1/change-templates".to_string(),
        "/api/v1/freeze-windows".to_string(),
        "/api/v1/rules".to_string(),
        "/api/v1/macros".to_string(),
    ] {
        let view: Value = app.get_json(&path, &app.token).await;
        views.push((path, view));
    }
    views
}

#[tokio::test]
async fn another_organizations_admin_finds_none_of_our_data_through_any_route() {
    // Arrange: B's objects, A's admin, the document listing every route.
    let app = spawn_app_with(|c| c.outbox.max_attempts = 2).await;
    let b = OrgB::seed(&app).await;
    let before = snapshot(&app, &b).await;
    let a = app.admin_of_new_org("org-a").await;
    let doc: Value = app.get_json("/api/v1/openapi.json", &a).await;
    let calls = plan(&doc, &b);

    // Act: every operation, as A, against B's objects.
    let markers = b.markers();
    let mut wrong = Vec::new();
    for call in &calls {
        let (status, body) = send(&app, &a, call).await;
        if let Some(problem) = judge(&app, &a, call, status, &body, &markers).await {
            wrong.push(problem);
        }
    }

    // Assert: A was turned away everywhere, and B's data is as it was.
    let covered: std::collections::BTreeSet<&str> =
        calls.iter().map(|c| c.operation.as_str()).collect();
    assert!(
        covered.len() >= 25,
        "the walk covered every /api/v1 operation, found only {covered:?}"
    );
    assert!(
        wrong.is_empty(),
        "organization A reached organization B's data:\n{}",
        wrong.join("\n")
    );
    let after = snapshot(&app, &b).await;
    for ((path, was), (_, is)) in before.iter().zip(&after) {
        assert_eq!(was, is, "B's view of {path} changed during A's walk");
    }
    let number = &b.ticket_number;
    let ticket: Value = app.ticket(number).await;
    assert_eq!(ticket["state"], "new");
    assert_eq!(ticket["title"], b.ticket_title.as_str());
    let comments: Vec<Value> = app.comments(number).await;
    assert_eq!(comments.len(), 1, "only B's own comment");
    let attachment = app
        .get(
            &format!("/api/v1/tickets/{number}/attachments/{}", b.attachment_id),
            &app.token,
        )
        .await;
    assert_eq!(attachment.status(), StatusCode::OK);
    let bytes = attachment.bytes().await.expect("attachment bytes");
    assert_eq!(bytes.as_ref(), b.attachment_bytes.as_slice());
    let webhooks: Vec<Value> = app.get_json("/api/v1/webhooks", &app.token).await;
    assert_eq!(webhooks.len(), 1);
    assert_eq!(webhooks[0]["active"], true, "B's webhook still active");
    let team: Value = app
        .get_json(&format!("/api/v1/teams/{}", b.team_id), &app.token)
        .await;
    assert_eq!(team["members"], json!([b.agent_id]));
    let dead: Vec<String> = app
        .outbox("dead")
        .await
        .iter()
        .map(|m| id_of(m, "outbox message"))
        .collect();
    assert_eq!(dead, b.dead_outbox_ids, "B's dead letters stay dead");
}

fn upload_form(bytes: &[u8]) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes.to_vec())
            .file_name("payroll.csv")
            .mime_str("text/plain")
            .expect("mime type"),
    )
}

async fn created(response: reqwest::Response, what: &str) -> Value {
    let status = response.status();
    let body = response.text().await.expect("response body");
    assert_eq!(status, StatusCode::CREATED, "creating {what}: {body}");
    serde_json::from_str(&body).expect("created object is JSON")
}

fn id_of(object: &Value, what: &str) -> String {
    object["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{what} has an id: {object}"))
        .to_string()
}

impl OrgB {
    /// Stand-in values, for checking the walk's planning without a daemon.
    fn placeholder() -> Self {
        let id = || uuid::Uuid::new_v4().to_string();
        Self {
            ticket_number: "INC0000001".into(),
            ticket_id: id(),
            ticket_title: "title".into(),
            comment_id: id(),
            comment_body: "comment".into(),
            attachment_id: id(),
            attachment_bytes: Vec::new(),
            agent_id: id(),
            agent_email: "agent@b.example".into(),
            requester_id: id(),
            team_id: id(),
            team_name: "team".into(),
            category_id: id(),
            category_name: "category".into(),
            webhook_id: id(),
            identity_id: id(),
            token_id: id(),
            ci_id: id(),
            other_ci_id: id(),
            relationship_id: id(),
            problem_number: "PRB0000001".into(),
            problem_id: id(),
            child_number: "INC0000002".into(),
            child_id: id(),
            known_error_id: id(),
            dead_outbox_ids: vec![id()],
            process: Process {
                approver_id: id(),
                policy_id: id(),
                item_id: id(),
                request_number: "REQ0000001".into(),
                approval_id: id(),
                task_id: id(),
                change_number: "CHG0000001".into(),
                template_id: id(),
                freeze_id: id(),
                rule_id: id(),
                macro_id: id(),
                delegation_id: id(),
                sla_calendar_id: id(),
                sla_policy_id: id(),
                escalation_policy_id: id(),
                schedule_id: id(),
            },
        }
    }
}

#[test]
#[should_panic(
    expected = "new route POST /api/v1/widgets (it takes a body): teach tests/api/isolation.rs"
)]
fn the_walk_refuses_a_route_with_a_body_it_was_not_taught() {
    let doc = json!({ "paths": { "/api/v1/widgets": { "post": {
        "requestBody": { "content": { "application/json": {} } }
    } } } });

    plan(&doc, &OrgB::placeholder());
}

#[test]
#[should_panic(
    expected = "new path parameter {widget} in /api/v1/widgets/{widget}: teach tests/api/isolation.rs"
)]
fn the_walk_refuses_a_path_parameter_it_was_not_taught() {
    let doc = json!({ "paths": { "/api/v1/widgets/{widget}": { "get": {} } } });

    plan(&doc, &OrgB::placeholder());
}

#[test]
#[should_panic(expected = "new route DELETE /api/v1/widgets (a collection route without a body)")]
fn the_walk_refuses_a_collection_route_it_was_not_taught() {
    let doc = json!({ "paths": { "/api/v1/widgets": { "delete": {} } } });

    plan(&doc, &OrgB::placeholder());
}
