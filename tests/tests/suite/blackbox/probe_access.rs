//! What an outside probe found reachable beyond a caller's rights (issue 13), over HTTP on
//! SQLite and PostgreSQL: rule dry runs, manual runs and run logs stay within the caller's scope
//! and view; a role-limited API token carries no more than its role; hidden fields stay hidden
//! in the app's definition, its OpenAPI document and the rollups over them. (Secrets, which are
//! never shown back but must stay stored, are in `whitebox::access`.)

use std::time::Duration;

use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, Resp, TestApp, on_both, spawn};

pub(crate) const INBOUND_SECRET: &str = "inbound-secret-0123456789";
pub(crate) const SIGNING_SECRET: &str = "signing-secret-9876543210";
const HIDDEN_VALUE: &str = "the-hidden-margin-note";

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

pub(crate) async fn as_user(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
    app.call_as(Some(token), method, path, body).await
}

/// Deals with a hidden `secret_note` and a rollup of their margins on the customer; reps see
/// their own deals, and may test and run rules; viewers read all deals but run no rules.
fn crm() -> Value {
    json!({
        "name": "crm", "label": {"en": "CRM"},
        "entities": [
            {"name": "customer", "label": {"en": "Customer"}, "fields": [
                {"name": "name", "label": {"en": "Name"}, "type": "text"},
                {"name": "deal_count", "label": {"en": "Deals"}, "type": "integer",
                 "rollup": {"from": "deal", "via": "customer", "fn": "count"}},
                {"name": "margin_total", "label": {"en": "Margins"}, "type": "decimal",
                 "rollup": {"from": "deal", "via": "customer", "fn": "sum", "field": "margin"}}]},
            {"name": "deal", "label": {"en": "Deal"}, "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
                {"name": "margin", "label": {"en": "Margin"}, "type": "decimal"},
                {"name": "secret_note", "label": {"en": "Note"}, "type": "text"},
                {"name": "customer", "label": {"en": "Customer"}, "type": "relation", "target": "customer"}]}
        ],
        "roles": [
            {"name": "rep", "label": {"en": "Rep"}, "run_rules": true, "permissions": {
                "deal": {"create": true, "read": true, "update": true, "scope": "own",
                         "fields": {"margin": "hidden", "secret_note": "hidden"}},
                "customer": {"read": true}}},
            {"name": "viewer", "label": {"en": "Viewer"}, "permissions": {
                "deal": {"read": true}, "customer": {"read": true}}}
        ],
        "rules": [
            {"name": "ping", "trigger": {"type": "manual", "entity": "deal"}, "actions": [
                {"type": "notify", "to": {"owner": true}, "title": {"en": "Note: {{record.secret_note}} / {{record.title}}"}},
                {"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": SIGNING_SECRET}]},
            {"name": "stamp", "trigger": {"type": "record_updated", "entity": "deal"},
             "condition": "record.title == \"stamp me\"",
             "actions": [{"type": "set_fields", "values": {"margin": 1}}]},
            {"name": "inbound", "trigger": {"type": "webhook", "key": "orders", "secret": INBOUND_SECRET},
             "actions": [{"type": "create_record", "entity": "customer", "values": {"name": "{{payload.name}}"}}]}
        ]
    })
}

pub(crate) struct World {
    pub(crate) app: TestApp,
    pub(crate) alice: (String, String),
    bob: (String, String),
    pub(crate) viewer: (String, String),
    deal_alice: String,
    deal_bob: String,
}

pub(crate) async fn world(backend: Backend) -> World {
    let app = spawn(backend).await;
    app.create_app(crm()).await;
    let alice = app.user("crm", "alice", Some("rep")).await;
    let bob = app.user("crm", "bob", Some("rep")).await;
    let viewer = app.user("crm", "viewer", Some("viewer")).await;
    let cust = s(&app.create("crm", "customer", json!({"name": "ACME"})).await["id"]).to_string();
    let deal = |title: &str, owner: &str| json!({"title": title, "margin": 40, "secret_note": HIDDEN_VALUE, "owner": owner, "customer": cust});
    let deal_alice = s(&app.create("crm", "deal", deal("alpha", &alice.0)).await["id"]).to_string();
    let deal_bob = s(&app.create("crm", "deal", deal("bravo", &bob.0)).await["id"]).to_string();
    World {
        app,
        alice,
        bob,
        viewer,
        deal_alice,
        deal_bob,
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Rule dry runs, manual runs and run logs
// ---------------------------------------------------------------------------------------------

async fn rule_dry_runs_and_manual_runs_stay_in_the_callers_scope_and_view(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let alice = &w.alice.1;
    // Another rep's deal is out of alice's scope: 404, exactly as on a get.
    let test = "/api/v1/apps/crm/rules/ping/test";
    as_user(app, alice, Method::POST, test, Some(json!({"record": w.deal_bob})))
        .await
        .expect_problem(404, "not_found");
    let run_bob = format!("/api/v1/data/crm/deal/{}/rules/ping/run", w.deal_bob);
    as_user(app, alice, Method::POST, &run_bob, None)
        .await
        .expect_problem(404, "not_found");
    // Her own deal: the preview renders through her view, without the hidden fields.
    let r = as_user(app, alice, Method::POST, test, Some(json!({"record": w.deal_alice})))
        .await
        .expect(200);
    assert_eq!(r.body["matched"], json!(true), "{}", r.text);
    assert!(
        !r.text.contains(HIDDEN_VALUE),
        "a hidden value in the dry run: {}",
        r.text
    );
    assert!(!r.text.contains("margin"), "a hidden field in the dry run: {}", r.text);
    assert!(r.text.contains("alpha"), "{}", r.text);
    // The webhook action without a body previews the record: as she sees it.
    let hook = r.body["actions"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["type"] == "webhook"))
        .unwrap_or_else(|| panic!("a webhook action: {}", r.text));
    assert_eq!(hook["would"]["body"]["record"]["title"], json!("alpha"), "{}", r.text);
    assert!(hook["would"]["body"]["record"].get("secret_note").is_none());
    let run_alice = format!("/api/v1/data/crm/deal/{}/rules/ping/run", w.deal_alice);
    as_user(app, alice, Method::POST, &run_alice, None).await.expect(202);
    // Bob runs the rule on his own deal; alice's view of the runs does not name his deal.
    let run_bob_own = format!("/api/v1/data/crm/deal/{}/rules/ping/run", w.deal_bob);
    as_user(app, &w.bob.1, Method::POST, &run_bob_own, None)
        .await
        .expect(202);
    let mut all = Value::Null;
    for _ in 0..80 {
        all = app.get("/api/v1/apps/crm/rules/ping/runs").await.expect(200).body;
        if all["data"].as_array().is_some_and(|d| d.len() == 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(125)).await;
    }
    assert_eq!(
        all["data"].as_array().map(Vec::len),
        Some(2),
        "admin sees both runs: {all}"
    );
    let mine = as_user(app, alice, Method::GET, "/api/v1/apps/crm/rules/ping/runs", None)
        .await
        .expect(200);
    assert!(
        !mine.text.contains(&w.deal_bob),
        "bob's deal in alice's runs: {}",
        mine.text
    );
    assert!(mine.text.contains(&w.deal_alice), "{}", mine.text);
    assert!(!mine.text.contains(HIDDEN_VALUE), "{}", mine.text);
    // Testing and running rules is a right of its own: a viewer who reads every deal lacks it.
    let v = &w.viewer.1;
    as_user(app, v, Method::POST, test, Some(json!({"record": w.deal_alice})))
        .await
        .expect_problem(403, "permission_denied");
    as_user(app, v, Method::POST, &run_alice, None)
        .await
        .expect_problem(403, "permission_denied");
    as_user(app, v, Method::GET, "/api/v1/apps/crm/rules/ping/runs", None)
        .await
        .expect_problem(403, "permission_denied");
    // Administrators keep it.
    let r = app.post(test, json!({"record": w.deal_bob})).await.expect(200);
    assert!(r.text.contains(HIDDEN_VALUE), "{}", r.text);
}

async fn the_run_right_names_rules_and_is_checked_at_save(backend: Backend) {
    let app = spawn(backend).await;
    let mut def = crm();
    def["roles"][0]["run_rules"] = json!(["ping", "nope"]);
    let r = app
        .post("/api/v1/apps", def.clone())
        .await
        .expect_problem(422, "validation_failed");
    assert!(
        r.errors()
            .contains(&("roles.rep.run_rules[1]".into(), "unknown_rule".into())),
        "{}",
        r.text
    );
    def["roles"][0]["run_rules"] = json!("sometimes");
    app.post("/api/v1/apps", def.clone())
        .await
        .expect_problem(422, "validation_failed");
    def["roles"][0]["run_rules"] = json!(["ping"]);
    app.create_app(def).await;
    let (_, alice) = app.user("crm", "alice", Some("rep")).await;
    let body = Some(json!({"record": {"title": "x"}}));
    as_user(
        &app,
        &alice,
        Method::POST,
        "/api/v1/apps/crm/rules/ping/test",
        body.clone(),
    )
    .await
    .expect(200);
    as_user(&app, &alice, Method::POST, "/api/v1/apps/crm/rules/inbound/test", body)
        .await
        .expect_problem(403, "permission_denied");
    // Deleting a rule takes it out of the roles that name it.
    app.delete("/api/v1/apps/crm/rules/ping").await.expect(200);
    let roles = app.get("/api/v1/apps/crm").await.expect(200).body["roles"].clone();
    assert_eq!(roles[0]["run_rules"], json!([]), "{roles}");
}

// ---------------------------------------------------------------------------------------------
// 2. Role-limited API tokens
// ---------------------------------------------------------------------------------------------

async fn a_role_limited_token_carries_no_more_than_its_role(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    // The administrator makes a token limited to the rep role.
    let t = app
        .post("/api/v1/auth/tokens", json!({"name": "sales bot", "role": "rep"}))
        .await
        .expect(201)
        .body;
    let tok = s(&t["token"]).to_string();
    // Records: limited to the rep's scope (own deals) and view (hidden fields absent).
    let own = app
        .create("crm", "deal", json!({"title": "admin's", "secret_note": HIDDEN_VALUE}))
        .await;
    let own = format!("/api/v1/data/crm/deal/{}", s(&own["id"]));
    let d = as_user(app, &tok, Method::GET, &own, None).await.expect(200);
    assert!(d.body.get("secret_note").is_none(), "{}", d.text);
    as_user(
        app,
        &tok,
        Method::GET,
        &format!("/api/v1/data/crm/deal/{}", w.deal_alice),
        None,
    )
    .await
    .expect_problem(404, "not_found");
    // No administrator route.
    let admin_calls: Vec<(Method, &str, Option<Value>)> = vec![
        (
            Method::POST,
            "/api/v1/apps",
            Some(json!({"name": "x", "label": {"en": "X"}})),
        ),
        (
            Method::POST,
            "/api/v1/users",
            Some(json!({"email": "evil@example.com", "name": "Evil", "password": "password-123", "is_admin": true})),
        ),
        (
            Method::PUT,
            "/api/v1/settings",
            Some(json!({"audit_retention_days": 1})),
        ),
        (Method::GET, "/api/v1/settings", None),
        (Method::POST, "/api/v1/teams", Some(json!({"name": "x"}))),
        (
            Method::POST,
            "/api/v1/apps/crm/roles/viewer/members",
            Some(json!({"user": w.alice.0})),
        ),
        (Method::GET, "/api/v1/apps/crm/audit", None),
        (
            Method::PATCH,
            "/api/v1/apps/crm",
            Some(json!({"label": {"en": "Mine"}})),
        ),
    ];
    for (m, path, body) in admin_calls {
        let r = as_user(app, &tok, m.clone(), path, body).await;
        assert_eq!(r.status, 403, "{m} {path} with a rep token: {}", r.text);
        assert_eq!(r.code(), "permission_denied", "{}", r.text);
    }
    // A token it mints carries its role at most.
    let child = as_user(
        app,
        &tok,
        Method::POST,
        "/api/v1/auth/tokens",
        Some(json!({"name": "x"})),
    )
    .await
    .expect(201)
    .body;
    assert_eq!(child["role"], json!("rep"), "{child}");
    let ctok = s(&child["token"]).to_string();
    let d = as_user(app, &ctok, Method::GET, &own, None).await.expect(200);
    assert!(d.body.get("secret_note").is_none(), "{}", d.text);
    as_user(
        app,
        &ctok,
        Method::POST,
        "/api/v1/users",
        Some(json!({"email": "e2@example.com", "name": "E", "password": "password-123"})),
    )
    .await
    .expect_problem(403, "permission_denied");
    as_user(
        app,
        &tok,
        Method::POST,
        "/api/v1/auth/tokens",
        Some(json!({"name": "y", "role": "viewer"})),
    )
    .await
    .expect_problem(403, "permission_denied");
    // A rule its change starts acts with its role too: the margin is hidden from reps, so the
    // rule's write of it fails instead of acting as the whole administrator.
    as_user(app, &tok, Method::PATCH, &own, Some(json!({"title": "stamp me"})))
        .await
        .expect(200);
    let mut run = Value::Null;
    for _ in 0..80 {
        let runs = app.get("/api/v1/apps/crm/rules/stamp/runs").await.expect(200).body;
        run = runs["data"][0].clone();
        if matches!(run["status"].as_str(), Some("done" | "failed")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(125)).await;
    }
    assert_eq!(run["status"], json!("failed"), "{run}");
    let d = app.get(&own).await.expect(200);
    assert!(
        d.body["margin"].is_null(),
        "the rule wrote a field its trigger could not: {}",
        d.text
    );
    // `/me` does not call the token an administrator.
    let me = as_user(app, &tok, Method::GET, "/api/v1/me", None).await.expect(200);
    assert_eq!(me.body["roles"], json!(["member"]), "{}", me.text);
    assert_ne!(me.body["permissions"]["apps"], json!("manage"), "{}", me.text);
    // The session of the same administrator is not limited.
    app.get("/api/v1/settings").await.expect(200);
}

// ---------------------------------------------------------------------------------------------
// 11. Hidden means hidden
// ---------------------------------------------------------------------------------------------

async fn hidden_fields_stay_out_of_definitions_openapi_and_rollups(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let alice = &w.alice.1;
    // The app's definition as alice sees it names no hidden field.
    for p in [
        "/api/v1/apps",
        "/api/v1/apps/crm",
        "/api/v1/apps/crm/entities/deal",
        "/api/v1/apps/crm/entities/deal/fields",
    ] {
        let r = as_user(app, alice, Method::GET, p, None).await.expect(200);
        assert!(!r.text.contains("secret_note"), "{p} names a hidden field: {}", r.text);
        assert!(
            !r.text.contains("margin_total"),
            "{p} names the rollup of a hidden field: {}",
            r.text
        );
    }
    let def = as_user(app, alice, Method::GET, "/api/v1/apps/crm", None)
        .await
        .expect(200)
        .body;
    let deal = def["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "deal")
        .unwrap()
        .clone();
    let names: Vec<&str> = deal["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| s(&f["name"]))
        .collect();
    assert_eq!(names, vec!["title", "customer"], "{deal}");
    // The viewer sees them all; so does the administrator.
    let r = as_user(app, &w.viewer.1, Method::GET, "/api/v1/apps/crm", None)
        .await
        .expect(200);
    assert!(
        r.text.contains("secret_note") && r.text.contains("margin_total"),
        "{}",
        r.text
    );
    // The OpenAPI document of the app is the caller's view.
    let doc = as_user(app, alice, Method::GET, "/api/v1/apps/crm/openapi.json", None)
        .await
        .expect(200);
    let deal_schema = &doc.body["components"]["schemas"]["Deal"]["properties"];
    assert!(deal_schema.get("title").is_some(), "{}", doc.text);
    assert!(
        deal_schema.get("secret_note").is_none() && deal_schema.get("margin").is_none(),
        "{}",
        doc.text
    );
    let cust_schema = &doc.body["components"]["schemas"]["Customer"]["properties"];
    assert!(cust_schema.get("deal_count").is_some(), "{}", doc.text);
    assert!(cust_schema.get("margin_total").is_none(), "{}", doc.text);
    let full = app.get("/api/v1/apps/crm/openapi.json").await.expect(200);
    assert!(
        full.body["components"]["schemas"]["Deal"]["properties"]
            .get("secret_note")
            .is_some()
    );
    // A rollup over a hidden field is itself hidden: no aggregate of hidden margins.
    let custs = as_user(app, alice, Method::GET, "/api/v1/data/crm/customer", None)
        .await
        .expect(200);
    let c = &custs.body["data"][0];
    assert_eq!(c["deal_count"], json!(2), "{}", custs.text);
    assert!(
        c.get("margin_total").is_none(),
        "the sum of hidden margins: {}",
        custs.text
    );
    as_user(
        app,
        alice,
        Method::GET,
        "/api/v1/data/crm/customer?sort=margin_total",
        None,
    )
    .await
    .expect(400);
    let v = as_user(app, &w.viewer.1, Method::GET, "/api/v1/data/crm/customer", None)
        .await
        .expect(200);
    assert_eq!(v.body["data"][0]["margin_total"].as_f64(), Some(80.0), "{}", v.text);
    let _ = &w.bob;
}

/// A pipeline's requirements name no field the caller's roles hide, in `GET …/pipeline` or in
/// the app's definition; the administrator still reads them whole.
async fn pipeline_requirements_name_no_hidden_field(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    app.put(
        "/api/v1/apps/crm/entities/deal/pipeline",
        json!({
            "stages": [
                {"key": "open", "label": {"en": "Open"}, "exit": {"fields": ["secret_note"]}},
                {"key": "won", "label": {"en": "Won"}, "kind": "won"}],
            "transitions": [{"from": ["open"], "to": "won", "requires": {
                "fields": ["title", "margin"],
                "conditions": [{"name": "noted", "assert": "record.secret_note != ()", "message": {"en": "Add the note"}}]}}]
        }),
    )
    .await
    .expect(200);
    for p in ["/api/v1/apps/crm/entities/deal/pipeline", "/api/v1/apps/crm"] {
        let r = as_user(app, &w.alice.1, Method::GET, p, None).await.expect(200);
        assert!(!r.text.contains("secret_note"), "{p}: {}", r.text);
        assert!(!r.text.contains("\"margin\""), "{p}: {}", r.text);
        // What blocks a move is still there to read.
        assert!(
            r.text.contains("\"title\"") && r.text.contains("Add the note"),
            "{p}: {}",
            r.text
        );
    }
    let full = app.get("/api/v1/apps/crm/entities/deal/pipeline").await.expect(200);
    assert!(
        full.text.contains("secret_note") && full.text.contains("\"margin\""),
        "{}",
        full.text
    );
}

on_both!(
    pipeline_requirements_name_no_hidden_field,
    rule_dry_runs_and_manual_runs_stay_in_the_callers_scope_and_view,
    the_run_right_names_rules_and_is_checked_at_save,
    a_role_limited_token_carries_no_more_than_its_role,
    hidden_fields_stay_out_of_definitions_openapi_and_rollups,
);
