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
            {"name": "boss", "label": {"en": "Boss"}},
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

/// A dry run of a message lists who it would reach on its channel, each part of `to` that reaches
/// nobody with the reason, and says when nobody at all would get it.
async fn a_dry_run_lists_each_recipient_and_says_when_there_is_none(backend: Backend) {
    let app = spawn(backend).await;
    let rule = json!({
        "name": "tell", "trigger": {"type": "manual", "entity": "task"},
        "actions": [
            {"type": "email", "subject": "About {{record.title}}", "body": "x",
             "to": {"roles": ["rep", "boss"], "owner": true,
                    "addresses": ["{{record.contract.customer.phone}}", "ops@example.com"]}},
            {"type": "sms", "text": "Hi", "to": {"roles": ["rep"]}},
            {"type": "notify", "title": {"en": "Hi"}, "to": {"addresses": ["{{record.note}}"]}}
        ]
    });
    app.create_app(crm(json!([rule]))).await;
    let (rita, _) = app.user("crm", "rita", Some("rep")).await;
    let customer = app
        .create("crm", "customer", json!({"name": "ACME", "phone": "+86 139 1111 2222"}))
        .await;
    let contract = app
        .create(
            "crm",
            "contract",
            json!({"title": "Big deal", "customer": customer["id"]}),
        )
        .await;
    let body = json!({"record": {"title": "Draft", "contract": contract["id"]}});
    let r = app.post("/api/v1/apps/crm/rules/tell/test", body).await.expect(200);
    let actions = r.body["actions"].as_array().expect("actions").clone();
    assert_eq!(actions.len(), 3, "{}", r.text);
    let reasons = |a: &Value| -> Vec<(String, String)> {
        a["recipients"]["unresolved"]
            .as_array()
            .expect("unresolved")
            .iter()
            .map(|u| {
                (
                    u["source"].as_str().unwrap().to_string(),
                    u["reason"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    // E-mail: the rep's member and the plain address; the empty role, the missing owner and
    // the phone number (no e-mail) are each named.
    let email = &actions[0];
    let to: Vec<(Value, Value)> = email["recipients"]["to"]
        .as_array()
        .expect("to")
        .iter()
        .map(|t| (t["user_id"].clone(), t["email"].clone()))
        .collect();
    assert_eq!(
        to,
        vec![
            (json!(rita), json!("rita@example.com")),
            (Value::Null, json!("ops@example.com"))
        ],
        "{}",
        r.text
    );
    assert_eq!(email["recipients"]["empty"], json!(false));
    assert_eq!(
        reasons(email),
        vec![
            ("roles.boss".to_string(), "the role has no members".to_string()),
            ("owner".to_string(), "the record has no owner".to_string()),
            ("+8613911112222".to_string(), "has no e-mail address".to_string()),
        ],
        "{}",
        r.text
    );
    // SMS to users only: users have no phone, so nobody gets it.
    let sms = &actions[1];
    assert_eq!(sms["recipients"]["to"], json!([]), "{}", r.text);
    assert_eq!(sms["recipients"]["empty"], json!(true));
    assert_eq!(reasons(sms)[0].0, rita);
    // A template address that renders empty.
    let notify = &actions[2];
    assert_eq!(notify["recipients"]["empty"], json!(true), "{}", r.text);
    assert_eq!(
        reasons(notify),
        vec![("addresses[0]".to_string(), "renders empty".to_string())]
    );
    // Actions that send nothing carry no recipients.
    app.post(
        "/api/v1/apps/crm/rules",
        json!({"name": "noop", "trigger": {"type": "manual", "entity": "task"},
                   "actions": [{"type": "set_fields", "values": {"note": "x"}}]}),
    )
    .await
    .expect(200);
    let r = app
        .post("/api/v1/apps/crm/rules/noop/test", json!({"record": {"title": "x"}}))
        .await
        .expect(200);
    assert!(r.body["actions"][0].get("recipients").is_none(), "{}", r.text);
}

on_both!(
    a_dry_run_lists_each_recipient_and_says_when_there_is_none,
    unknown_paths_are_refused_when_the_rule_is_saved,
    a_run_follows_relations_to_the_records_they_point_at,
    a_dry_run_follows_relations_through_the_callers_view,
);
