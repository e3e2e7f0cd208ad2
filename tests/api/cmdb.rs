//! The CMDB through the API: schema-validated CIs, relationships between
//! allowed classes, impact analysis with paths, services, incidents and
//! changes; history; retire instead of delete; bulk upserts.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

async fn ci(app: &TestApp, body: Value) -> Value {
    let response = app.post("/api/v1/cmdb/cis", &app.token, &body).await;
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn relate(app: &TestApp, source: &Value, kind: &str, target: &Value) -> reqwest::Response {
    app.post(
        "/api/v1/cmdb/relationships",
        &app.token,
        &json!({ "source": source["id"], "kind": kind, "target": target["id"] }),
    )
    .await
}

async fn count_cis(app: &TestApp) -> usize {
    let list: Value = app.get_json("/api/v1/cmdb/cis?limit=500", &app.token).await;
    list["items"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn attributes_are_checked_against_the_class_schema_and_unique_keys_hold() {
    let app = spawn_app().await;
    let classes: Vec<Value> = app.get_json("/api/v1/cmdb/classes", &app.token).await;
    let names: Vec<&str> = classes.iter().filter_map(|c| c["name"].as_str()).collect();
    for expected in [
        "service",
        "application",
        "server",
        "virtual_machine",
        "database",
        "network_device",
        "saas",
    ] {
        assert!(
            names.contains(&expected),
            "built-in class {expected}: {names:?}"
        );
    }

    let created = ci(&app, json!({ "class": "server", "name": "db-01", "attributes": { "hostname": " db-01.corp ", "cpu_count": "8", "ip_address": "10.0.0.5" } })).await;
    assert_eq!(created["attributes"]["hostname"], "db-01.corp", "trimmed");
    assert_eq!(created["attributes"]["cpu_count"], 8, "typed");
    assert_eq!(created["lifecycle"], "planned");

    let bad = app
        .post("/api/v1/cmdb/cis", &app.token, &json!({ "class": "server", "name": "x", "attributes": { "cpu_count": "four", "colour": "red" } }))
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = bad.json().await.expect("json");
    let messages: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("`hostname` is required")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("`cpu_count` must be an integer")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("unknown attribute `colour`")),
        "{messages:?}"
    );

    let unknown_class = app
        .post(
            "/api/v1/cmdb/cis",
            &app.token,
            &json!({ "class": "spaceship", "name": "x" }),
        )
        .await;
    assert_eq!(unknown_class.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let duplicate = app.post("/api/v1/cmdb/cis", &app.token, &json!({ "class": "server", "name": "db-01 again", "attributes": { "hostname": "DB-01.corp" } })).await;
    assert_eq!(duplicate.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = duplicate.json().await.expect("json");
    assert!(problem["errors"][0]["message"]
        .as_str()
        .expect("message")
        .contains("hostname"));
    assert_eq!(count_cis(&app).await, 1, "nothing else was created");

    // An organization-specific class extends the set.
    let class = app
        .post("/api/v1/cmdb/classes", &app.token, &json!({ "name": "load_balancer", "label": "Load balancer", "schema": { "attributes": [{ "name": "vip", "kind": { "type": "ip_address" }, "required": true, "unique": true }] } }))
        .await;
    assert_eq!(class.status(), StatusCode::CREATED);
    ci(
        &app,
        json!({ "class": "load_balancer", "name": "lb-1", "attributes": { "vip": "192.0.2.10" } }),
    )
    .await;
}

#[tokio::test]
async fn impact_analysis_lists_what_a_failure_hits_with_paths_services_incidents_and_changes() {
    let app = spawn_app().await;
    let server = ci(&app, json!({ "class": "server", "name": "host-a", "lifecycle": "in_use", "attributes": { "hostname": "host-a" } })).await;
    let vm = ci(
        &app,
        json!({ "class": "virtual_machine", "name": "vm-a", "attributes": { "hostname": "vm-a" } }),
    )
    .await;
    let app_ci = ci(
        &app,
        json!({ "class": "application", "name": "payroll-app" }),
    )
    .await;
    let db = ci(&app, json!({ "class": "database", "name": "payroll-db", "attributes": { "engine": "postgres" } })).await;
    let service = ci(
        &app,
        json!({ "class": "service", "name": "Payroll", "criticality": "critical" }),
    )
    .await;
    for (s, k, t) in [
        (&vm, "runs_on", &server),
        (&app_ci, "runs_on", &vm),
        (&app_ci, "depends_on", &db),
        (&service, "depends_on", &app_ci),
        (&db, "runs_on", &vm),
    ] {
        let r = relate(&app, s, k, t).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    // Cycles are harmless.
    assert_eq!(
        relate(&app, &db, "depends_on", &service).await.status(),
        StatusCode::CREATED
    );
    // Class rules and self-loops.
    let refused = relate(&app, &server, "runs_on", &app_ci).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        relate(&app, &vm, "depends_on", &vm).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let again = relate(&app, &vm, "runs_on", &server).await;
    assert_eq!(
        again.status(),
        StatusCode::CREATED,
        "the same relationship again is the existing one"
    );

    let incident = app.create_ticket("incident", "host-a is down").await;
    let change = app.create_ticket("change", "patch vm-a").await;
    for (ticket, target) in [(&incident, &server), (&change, &vm)] {
        let linked = app
            .post(
                &format!(
                    "/api/v1/tickets/{}/cis",
                    ticket["number"].as_str().expect("number")
                ),
                &app.token,
                &json!({ "ci": target["id"] }),
            )
            .await;
        assert_eq!(linked.status(), StatusCode::OK);
    }
    let change_number = change["number"].as_str().expect("number");
    // A normal change needs a window, a risk assessment and an approval
    // before it is scheduled; the approval is not what this test is about.
    let plan = app
        .client
        .put(app.url(&format!("/api/v1/changes/{change_number}/window")))
        .bearer_auth(&app.token)
        .json(&json!({ "planned_start": "2026-12-01T20:00:00Z", "planned_end": "2026-12-01T22:00:00Z" }))
        .send()
        .await
        .expect("plan sent");
    assert_eq!(plan.status(), StatusCode::OK);
    let risk = app
        .client
        .put(app.url(&format!("/api/v1/changes/{change_number}/risk")))
        .bearer_auth(&app.token)
        .json(&json!({ "answers": { "user_impact": "none", "complexity": "simple", "tested": "yes", "rollback": "easily", "done_before": "often" } }))
        .send()
        .await
        .expect("risk sent");
    assert_eq!(risk.status(), StatusCode::OK);
    let approver = app
        .person_with_token("Ann Approver", "ann@example.com", &["approver"])
        .await;
    let policy = app
        .post(
            "/api/v1/approval-policies",
            &app.token,
            &json!({ "name": "Quick", "default_for": "normal_change", "stages": [
                { "name": "One", "approvers": [{ "type": "person", "id": approver.0["id"] }], "rule": { "type": "any" } }
            ]}),
        )
        .await;
    assert_eq!(policy.status(), StatusCode::CREATED);
    for to in ["assessment", "awaiting_approval"] {
        assert_eq!(
            app.transition(change_number, to).await.status(),
            StatusCode::OK
        );
    }
    let approvals: Vec<Value> = app
        .get_json(
            &format!("/api/v1/tickets/{change_number}/approvals"),
            &app.token,
        )
        .await;
    let approval = approvals[0]["id"].as_str().expect("approval id");
    let approved = app
        .post(
            &format!("/api/v1/approvals/{approval}/decisions"),
            &approver.1,
            &json!({ "decision": "approve" }),
        )
        .await;
    assert_eq!(approved.status(), StatusCode::OK);
    let scheduled: Value = app.ticket(change_number).await;
    assert_eq!(scheduled["state"], "scheduled");

    let server_id = server["id"].as_str().expect("id");
    let impact: Value = app
        .get_json(
            &format!("/api/v1/cmdb/cis/{server_id}/impact?depth=5"),
            &app.token,
        )
        .await;
    let upstream: Vec<(&str, u64)> = impact["upstream"]
        .as_array()
        .expect("upstream")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default(),
                c["depth"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    for expected in [
        ("vm-a", 1),
        ("payroll-app", 2),
        ("payroll-db", 2),
        ("Payroll", 3),
    ] {
        assert!(upstream.contains(&expected), "{expected:?} in {upstream:?}");
    }
    let payroll = impact["upstream"]
        .as_array()
        .expect("upstream")
        .iter()
        .find(|c| c["name"] == "Payroll")
        .expect("service reached");
    assert_eq!(
        payroll["path"].as_array().map(Vec::len),
        Some(3),
        "a path of three relationships"
    );
    assert_eq!(payroll["path"][0]["target"], server["id"]);
    assert_eq!(impact["services"][0]["name"], "Payroll");
    assert_eq!(impact["open_incidents"][0]["number"], incident["number"]);
    assert_eq!(impact["scheduled_changes"][0]["number"], change["number"]);
    assert_eq!(
        impact["downstream"],
        json!([]),
        "a server depends on nothing here"
    );

    let shallow: Value = app
        .get_json(
            &format!("/api/v1/cmdb/cis/{server_id}/impact?depth=1"),
            &app.token,
        )
        .await;
    assert_eq!(shallow["upstream"].as_array().map(Vec::len), Some(1));
    let app_id = app_ci["id"].as_str().expect("id");
    let down: Value = app
        .get_json(
            &format!("/api/v1/cmdb/cis/{app_id}/impact?depth=5"),
            &app.token,
        )
        .await;
    let names: Vec<&str> = down["downstream"]
        .as_array()
        .expect("downstream")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(
        names.contains(&"host-a") && names.contains(&"payroll-db") && names.contains(&"vm-a"),
        "{names:?}"
    );
    assert_eq!(
        app.get(
            &format!("/api/v1/cmdb/cis/{server_id}/impact?depth=99"),
            &app.token
        )
        .await
        .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // A retired VM no longer carries impact, and the CI keeps its history.
    let vm_id = vm["id"].as_str().expect("id");
    let retired = app
        .client
        .patch(app.url(&format!("/api/v1/cmdb/cis/{vm_id}")))
        .bearer_auth(&app.token)
        .json(&json!({ "lifecycle": "retired" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(retired.status(), StatusCode::OK);
    let after: Value = app
        .get_json(
            &format!("/api/v1/cmdb/cis/{server_id}/impact?depth=5"),
            &app.token,
        )
        .await;
    assert_eq!(after["upstream"], json!([]));
    let detail: Value = app
        .get_json(&format!("/api/v1/cmdb/cis/{vm_id}"), &app.token)
        .await;
    assert_eq!(
        detail["relationships"].as_array().map(Vec::len),
        Some(3),
        "relationships are kept as history"
    );
    assert_eq!(detail["tickets"][0]["number"], change["number"]);
}

#[tokio::test]
async fn a_ci_with_relationships_is_retired_not_deleted_and_every_change_is_in_its_history() {
    let app = spawn_app().await;
    let server = ci(
        &app,
        json!({ "class": "server", "name": "old-box", "attributes": { "hostname": "old-box" } }),
    )
    .await;
    let vm = ci(&app, json!({ "class": "virtual_machine", "name": "guest", "attributes": { "hostname": "guest" } })).await;
    assert_eq!(
        relate(&app, &vm, "runs_on", &server).await.status(),
        StatusCode::CREATED
    );
    let id = server["id"].as_str().expect("id");
    let path = format!("/api/v1/cmdb/cis/{id}");

    let deleted = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("sent");
    assert_eq!(deleted.status(), StatusCode::CONFLICT);
    let problem: Value = deleted.json().await.expect("json");
    assert!(problem["detail"]
        .as_str()
        .expect("detail")
        .contains("retire"));

    let patch = |body: Value| {
        app.client
            .patch(app.url(&path))
            .bearer_auth(&app.token)
            .json(&body)
            .send()
    };
    assert_eq!(
        patch(json!({ "attributes": { "os": "Debian 12", "cpu_count": 4 } }))
            .await
            .expect("sent")
            .status(),
        StatusCode::OK
    );
    let illegal = patch(json!({ "lifecycle": "disposed" }))
        .await
        .expect("sent");
    assert_eq!(
        illegal.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "planned → disposed skips retirement"
    );
    assert_eq!(
        patch(json!({ "lifecycle": "retired" }))
            .await
            .expect("sent")
            .status(),
        StatusCode::OK
    );

    let history: Vec<Value> = app.get_json(&format!("{path}/history"), &app.token).await;
    let actions: Vec<(&str, Option<&str>)> = history
        .iter()
        .map(|h| {
            (
                h["action"].as_str().unwrap_or_default(),
                h["field"].as_str(),
            )
        })
        .collect();
    assert_eq!(actions[0], ("created", None));
    assert!(actions.contains(&("relationship_added", Some("relationships"))));
    assert!(
        history.iter().any(|h| h["new_value"] == "os=\"Debian 12\""),
        "{history:?}"
    );
    assert!(history
        .iter()
        .any(|h| h["field"] == "lifecycle" && h["new_value"] == "retired"));
    assert!(history.iter().all(|h| h["channel"] == "api"));

    // A CI nothing refers to can be deleted.
    let lonely = ci(&app, json!({ "class": "service", "name": "typo" })).await;
    let gone = app
        .client
        .delete(app.url(&format!(
            "/api/v1/cmdb/cis/{}",
            lonely["id"].as_str().expect("id")
        )))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("sent");
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn only_admins_and_the_owning_team_change_a_ci() {
    let app = spawn_app().await;
    let (owner, owner_token) = app
        .person_with_token("Olga Owner", "olga@example.com", &["agent"])
        .await;
    let (_, other_token) = app
        .person_with_token("Otto Other", "otto@example.com", &["agent"])
        .await;
    let (_, requester_token) = app
        .person_with_token("Rita", "rita@example.com", &["requester"])
        .await;
    app.post(
        "/api/v1/teams",
        &app.token,
        &json!({ "name": "Infra", "members": [owner["id"]] }),
    )
    .await;
    let server = ci(&app, json!({ "class": "server", "name": "srv", "owner_team": "Infra", "attributes": { "hostname": "srv" } })).await;
    let path = format!("/api/v1/cmdb/cis/{}", server["id"].as_str().expect("id"));
    let patch = |token: &str| {
        app.client
            .patch(app.url(&path))
            .bearer_auth(token.to_string())
            .json(&json!({ "criticality": "high" }))
            .send()
    };
    assert_eq!(
        patch(&other_token).await.expect("sent").status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        patch(&owner_token).await.expect("sent").status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get(&path, &other_token).await.status(),
        StatusCode::OK,
        "agents read"
    );
    assert_eq!(
        app.get(&path, &requester_token).await.status(),
        StatusCode::FORBIDDEN,
        "requesters do not"
    );
}

#[tokio::test]
async fn a_bulk_upsert_is_idempotent_and_all_or_nothing() {
    let app = spawn_app().await;
    let payload = json!({
        "items": [
            { "external_id": "disc-1", "class": "server", "name": "s1", "attributes": { "hostname": "s1" } },
            { "external_id": "disc-2", "class": "virtual_machine", "name": "v1", "attributes": { "hostname": "v1" } }
        ],
        "relationships": [{ "source_external_id": "disc-2", "kind": "runs_on", "target_external_id": "disc-1" }]
    });
    let first: Value = app
        .post("/api/v1/cmdb/bulk", &app.token, &payload)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        first,
        json!({ "created": 2, "updated": 0, "unchanged": 0, "relationships_created": 1, "relationships_existing": 0 })
    );
    let second: Value = app
        .post("/api/v1/cmdb/bulk", &app.token, &payload)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        second,
        json!({ "created": 0, "updated": 0, "unchanged": 2, "relationships_created": 0, "relationships_existing": 1 })
    );

    let renamed = json!({ "items": [{ "external_id": "disc-1", "class": "server", "name": "s1-renamed", "attributes": { "hostname": "s1" } }] });
    let third: Value = app
        .post("/api/v1/cmdb/bulk", &app.token, &renamed)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(third["updated"], 1);

    let broken = json!({
        "items": [
            { "external_id": "disc-3", "class": "server", "name": "s3", "attributes": { "hostname": "s3" } },
            { "external_id": "disc-4", "class": "server", "name": "s4" },
            { "class": "server", "name": "s5", "attributes": { "hostname": "s5" } }
        ],
        "relationships": [{ "source_external_id": "disc-3", "kind": "hosts", "target_external_id": "disc-1" }]
    });
    let refused = app.post("/api/v1/cmdb/bulk", &app.token, &broken).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = refused.json().await.expect("json");
    let errors: Vec<(&str, &str)> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or_default(),
                e["message"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        errors
            .iter()
            .any(|(f, m)| *f == "items[1]" && m.contains("hostname")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|(f, m)| *f == "items[2]" && m.contains("external_id")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|(f, m)| *f == "relationships[0]" && m.contains("hosts")),
        "{errors:?}"
    );
    assert_eq!(
        count_cis(&app).await,
        2,
        "nothing of the broken batch was applied"
    );
}

fn import(url: &str, file: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["cmdb", "import", "--quiet"])
        .arg(file)
        .env("SWITCHBOARD__DATABASE__URL", url)
        .output()
        .expect("runs")
}

#[tokio::test]
async fn the_importer_loads_csv_and_json_lines_and_names_the_bad_lines() {
    let url = crate::helpers::fresh_database().await;
    let dir = tempfile::tempdir().expect("dir");
    let items = dir.path().join("items.csv");
    std::fs::write(
        &items,
        "external_id,class,name,lifecycle,attr.hostname,attr.cpu_count\n\
         srv-1,server,Server one,in_use,srv-1.corp,8\n\
         vm-1,virtual_machine,VM one,,vm-1.corp,\n\
         app-1,application,Payroll,,,\n",
    )
    .expect("write");
    let relations = dir.path().join("relations.jsonl");
    std::fs::write(
        &relations,
        "{\"source_external_id\": \"vm-1\", \"kind\": \"runs_on\", \"target_external_id\": \"srv-1\"}\n\
         \n\
         {\"source_external_id\": \"app-1\", \"kind\": \"runs_on\", \"target_external_id\": \"vm-1\"}\n",
    )
    .expect("write");

    let first = import(&url, &items);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("created 3 CIs"));
    let linked = import(&url, &relations);
    assert!(
        linked.status.success(),
        "{}",
        String::from_utf8_lossy(&linked.stderr)
    );
    assert!(String::from_utf8_lossy(&linked.stdout).contains("relationships: 2 new"));
    let again = import(&url, &items);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("created 0 CIs, updated 0, unchanged 3"),
        "idempotent"
    );

    let malformed = dir.path().join("bad.csv");
    std::fs::write(
        &malformed,
        "external_id,class,name,attr.hostname\n\
         srv-2,server,Server two,srv-2.corp\n\
         srv-3,server,\"unterminated,srv-3.corp\n",
    )
    .expect("write");
    let refused = import(&url, &malformed);
    assert_eq!(refused.status.code(), Some(1));
    let invalid = dir.path().join("invalid.csv");
    std::fs::write(&invalid, "external_id,class,name,attr.hostname\nsrv-4,server,Four,srv-4.corp\nsrv-5,server,Five,\nsrv-6,toaster,Six,x\n").expect("write");
    let rejected = import(&url, &invalid);
    assert_eq!(rejected.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&rejected.stderr);
    assert!(
        stderr.contains("line 3:") && stderr.contains("hostname"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 4:") && stderr.contains("toaster"),
        "{stderr}"
    );

    let app = crate::helpers::spawn_on(&url, false, |_| {}).await;
    let list: Value = app.get_json("/api/v1/cmdb/cis?limit=500", &app.token).await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["Payroll", "Server one", "VM one"],
        "nothing of the bad files was written"
    );
    let vm = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|c| c["name"] == "VM one")
        .expect("vm");
    let impact: Value = app
        .get_json(
            &format!("/api/v1/cmdb/cis/{}/impact", vm["id"].as_str().expect("id")),
            &app.token,
        )
        .await;
    assert_eq!(impact["upstream"][0]["name"], "Payroll");
    assert_eq!(impact["downstream"][0]["name"], "Server one");
}
