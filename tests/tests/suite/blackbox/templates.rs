//! `{{…}}` paths in rule actions: checked when the rule is saved (an unknown field or relation is
//! 422 naming the action's property), followed through N:1 relations when the rule runs, and
//! rendered through the caller's view in a dry run. Each test runs on SQLite and PostgreSQL.

use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, on_both, spawn};

/// Tasks point at contracts, contracts at customers; reps read contracts without the `terms`.
fn crm(rules: Value) -> Value {
    json!({
        "name": "crm", "label": {"en": "CRM"},
        "entities": [
            {"name": "customer", "label": {"en": "Customer"}, "fields": [
                {"name": "name", "label": {"en": "Name"}, "type": "text"},
                {"name": "phone", "label": {"en": "Phone"}, "type": "phone"}]},
            {"name": "contract", "label": {"en": "Contract"}, "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
                {"name": "terms", "label": {"en": "Terms"}, "type": "text"},
                {"name": "customer", "label": {"en": "Customer"}, "type": "relation", "target": "customer"}]},
            {"name": "task", "label": {"en": "Task"}, "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
                {"name": "note", "label": {"en": "Note"}, "type": "text"},
                {"name": "contract", "label": {"en": "Contract"}, "type": "relation", "target": "contract"}]}
        ],
        "roles": [
            {"name": "rep", "label": {"en": "Rep"}, "run_rules": true, "permissions": {
                "task": {"create": true, "read": true, "update": true},
                "contract": {"read": true, "fields": {"terms": "hidden"}},
                "customer": {"read": true}}}
        ],
        "rules": rules
    })
}

fn call_rule() -> Value {
    json!({
        "name": "call", "trigger": {"type": "record_created", "entity": "task"},
        "actions": [
            {"type": "set_fields", "values": {
                "note": "Call {{record.contract.customer.name}} on {{record.contract.customer.phone}} about {{record.contract.title}} ({{record.contract.terms}})"}}
        ]
    })
}

async fn unknown_paths_are_refused_when_the_rule_is_saved(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm(json!([]))).await;
    let cases = [
        (
            json!({"type": "email", "to": {"addresses": ["{{record.contract.customer.mail}}"]}, "subject": "Hi", "body": "x"}),
            "rules[0].actions[0].to.addresses[0]",
            "'mail' is not a field of 'customer'",
        ),
        (
            json!({"type": "sms", "to": {"owner": true}, "text": "{{ record.titel }}"}),
            "rules[0].actions[0].text",
            "'titel' is not a field of 'task'",
        ),
        (
            json!({"type": "webhook", "url": "http://127.0.0.1:9/{{record.contract.nope}}"}),
            "rules[0].actions[0].url",
            "'nope' is not a field of 'contract'",
        ),
        (
            json!({"type": "create_record", "entity": "customer", "values": {"name": "{{record.title.first}}"}}),
            "rules[0].actions[0].values.name",
            "has no parts",
        ),
        (
            json!({"type": "notify", "to": {"owner": true}, "title": {"en": "{{user.name}}"}}),
            "rules[0].actions[0].title.en",
            "not an input",
        ),
    ];
    for (action, at, message) in cases {
        let rule = json!({"name": "r", "trigger": {"type": "record_created", "entity": "task"}, "actions": [action]});
        let r = app.post("/api/v1/apps/crm/rules", rule).await;
        assert_eq!(r.status, 422, "{action}: {}", r.text);
        assert_eq!(r.code(), "validation_failed", "{}", r.text);
        let errors = r.body["errors"].as_array().cloned().unwrap_or_default();
        assert!(
            errors.iter().any(|e| e["field"] == at
                && e["code"] == "unknown_field"
                && e["message"].as_str().is_some_and(|m| m.contains(message))),
            "{action}: expected {at} / {message} in {}",
            r.text
        );
    }
    // Nothing was saved; a rule whose paths all exist is.
    assert_eq!(
        app.get("/api/v1/apps/crm/rules").await.expect(200).body["data"],
        json!([])
    );
    app.post("/api/v1/apps/crm/rules", call_rule()).await.expect(200);
    // The same check holds when the whole app is written at once.
    let mut bad = crm(json!([{"name": "x", "trigger": {"type": "manual", "entity": "task"},
        "actions": [{"type": "notify", "to": {"owner": true}, "title": {"en": "{{record.contract.customer.fax}}"}}]}]));
    bad["name"] = json!("crm2");
    let r = app.post("/api/v1/apps", bad).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("'fax' is not a field of 'customer'"), "{}", r.text);
}

async fn a_run_follows_relations_to_the_records_they_point_at(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm(json!([call_rule()]))).await;
    let customer = app
        .create("crm", "customer", json!({"name": "ACME", "phone": "+86 138 0000 0000"}))
        .await;
    let contract = app
        .create(
            "crm",
            "contract",
            json!({"title": "Big deal", "terms": "net 30", "customer": customer["id"]}),
        )
        .await;
    let task = app
        .create("crm", "task", json!({"title": "Follow up", "contract": contract["id"]}))
        .await;
    let path = format!("/api/v1/data/crm/task/{}", task["id"].as_str().unwrap());
    let done = app.eventually(&path, |b| b["note"].is_string()).await;
    assert_eq!(
        done["note"],
        json!("Call ACME on +86 138 0000 0000 about Big deal (net 30)")
    );
    // A task without a contract renders the missing parts as nothing.
    let lone = app.create("crm", "task", json!({"title": "Alone"})).await;
    let path = format!("/api/v1/data/crm/task/{}", lone["id"].as_str().unwrap());
    let done = app.eventually(&path, |b| b["note"].is_string()).await;
    assert_eq!(done["note"], json!("Call  on  about  ()"));
}

async fn a_dry_run_follows_relations_through_the_callers_view(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm(json!([call_rule()]))).await;
    let (_, rep) = app.user("crm", "rita", Some("rep")).await;
    let customer = app
        .create("crm", "customer", json!({"name": "ACME", "phone": "+86 139 1111 2222"}))
        .await;
    let contract = app
        .create(
            "crm",
            "contract",
            json!({"title": "Big deal", "terms": "secret terms", "customer": customer["id"]}),
        )
        .await;
    let body = json!({"record": {"title": "Draft", "contract": contract["id"]}});
    let admin = app
        .post("/api/v1/apps/crm/rules/call/test", body.clone())
        .await
        .expect(200);
    assert_eq!(
        admin.body["actions"][0]["would"]["values"]["note"],
        json!("Call ACME on +86 139 1111 2222 about Big deal (secret terms)"),
        "{}",
        admin.text
    );
    // The rep does not see the contract's terms: the preview renders them as nothing.
    let r = app
        .call_as(Some(&rep), Method::POST, "/api/v1/apps/crm/rules/call/test", Some(body))
        .await
        .expect(200);
    assert!(
        !r.text.contains("secret terms"),
        "a hidden value in the dry run: {}",
        r.text
    );
    assert_eq!(
        r.body["actions"][0]["would"]["values"]["note"],
        json!("Call ACME on +86 139 1111 2222 about Big deal ()"),
        "{}",
        r.text
    );
}

on_both!(
    unknown_paths_are_refused_when_the_rule_is_saved,
    a_run_follows_relations_to_the_records_they_point_at,
    a_dry_run_follows_relations_through_the_callers_view,
);
