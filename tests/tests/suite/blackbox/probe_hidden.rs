//! Hidden means hidden (issue 13, point 11), over HTTP on SQLite and PostgreSQL: a field the
//! caller's roles hide is never named nor shown to them by a blocked transition, the app's
//! definition (validations, rollup and scope filters, rule triggers, pipeline user fields) or a
//! rule's runs (records and values of other entities its actions touched).

use std::time::Duration;

use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, Resp, TestApp, on_both, spawn};

/// A value of a hidden field that must never reach a rep.
const HIDDEN_VALUE: &str = "the-hidden-note-value";

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

async fn as_user(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
    app.call_as(Some(token), method, path, body).await
}

/// Words that name a field hidden from reps (names, labels, the user field, values).
const HIDDEN_WORDS: [&str; 7] = [
    "margin",
    "Margin",
    "secret_note",
    "credit",
    "Credit",
    "manager",
    HIDDEN_VALUE,
];

fn assert_names_nothing_hidden(what: &str, text: &str) {
    for w in HIDDEN_WORDS {
        assert!(!text.contains(w), "{what} names '{w}': {text}");
    }
}

/// Deals whose `margin`, `secret_note` and `manager` are hidden from reps, of customers whose
/// `credit` is hidden from reps; an `audit` entity reps do not read at all. The pipeline's
/// requirements read hidden fields in every place they can; the definition names hidden fields
/// in every place it can; the rule `touch` acts on other entities.
fn crm() -> Value {
    json!({
        "name": "crm", "label": {"en": "CRM"},
        "entities": [
            {"name": "customer", "label": {"en": "Customer"}, "fields": [
                {"name": "name", "label": {"en": "Name"}, "type": "text"},
                {"name": "credit", "label": {"en": "Credit"}, "type": "integer"},
                {"name": "deal_count", "label": {"en": "Deals"}, "type": "integer",
                 "rollup": {"from": "deal", "via": "customer", "fn": "count"}},
                {"name": "rich_deals", "label": {"en": "Rich deals"}, "type": "integer",
                 "rollup": {"from": "deal", "via": "customer", "fn": "count",
                            "filter": {"field": "margin", "op": "gt", "value": 10}}}]},
            {"name": "audit", "label": {"en": "Audit"}, "fields": [
                {"name": "note", "label": {"en": "Note"}, "type": "text"}]},
            {"name": "deal", "label": {"en": "Deal"}, "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
                {"name": "summary", "label": {"en": "Summary"}, "type": "text"},
                {"name": "discount", "label": {"en": "Discount"}, "type": "integer",
                 "required_if": "record.margin > 50"},
                {"name": "margin", "label": {"en": "Margin"}, "type": "integer"},
                {"name": "secret_note", "label": {"en": "Note"}, "type": "text"},
                {"name": "manager", "label": {"en": "Boss"}, "type": "user"},
                {"name": "customer", "label": {"en": "Customer"}, "type": "relation", "target": "customer"}],
             "validations": [
                {"name": "margin_sane", "assert": "record.margin == () || record.margin < 1000",
                 "message": {"en": "Margin too high"}, "field": "margin"},
                {"name": "noted", "when": "record.secret_note != ()", "assert": "true",
                 "message": {"en": "Note rule"}},
                {"name": "title_short", "assert": "record.title.len() < 200",
                 "message": {"en": "Title too long"}}],
             "pipeline": {
                "stages": [
                    {"key": "open", "label": {"en": "Open"}, "exit": {"fields": ["margin"]}},
                    {"key": "won", "label": {"en": "Won"}, "kind": "won",
                     "entry": {"conditions": [{"name": "noted", "assert": "record.secret_note != ()",
                                               "message": {"en": "Note needed"}}]},
                     "sla": {"days": 3, "escalate_to": {"field": "manager"}}}],
                "transitions": [{"from": ["open"], "to": "won",
                    "allow": {"owner": true, "roles": ["lead"], "user_fields": ["manager"]},
                    "requires": {"fields": ["summary"], "conditions": [
                        {"name": "profitable", "assert": "record.margin > 10", "message": {"en": "Must be profitable"}},
                        {"name": "solvent", "assert": "related.customer.credit > 0", "message": {"en": "The customer must be solvent"}}]}}]}}
        ],
        "roles": [
            {"name": "rep", "label": {"en": "Rep"}, "run_rules": true, "permissions": {
                "deal": {"create": true, "read": true, "update": true, "transition": true, "scope": "own",
                         "fields": {"margin": "hidden", "secret_note": "hidden", "manager": "hidden"}},
                "customer": {"read": true, "update": true, "fields": {"credit": "hidden"}},
                "audit": {"create": true}}},
            {"name": "lead", "label": {"en": "Lead"}, "permissions": {
                "deal": {"read": true, "update": true, "transition": true}, "customer": {"read": true}}},
            {"name": "auditor", "label": {"en": "Auditor"}, "permissions": {
                "deal": {"read": true, "scope": {"filter": {"field": "margin", "op": "gt", "value": 0}}},
                "customer": {"read": true}, "audit": {"read": true}}}
        ],
        "rules": [
            {"name": "touch", "trigger": {"type": "manual", "entity": "deal"}, "actions": [
                {"type": "update_related", "relation": "customer", "values": {"credit": 77, "name": "touched"}},
                {"type": "create_record", "entity": "audit", "values": {"note": "{{record.title}}"}},
                {"type": "set_fields", "values": {"margin": 5, "summary": "stamped"}},
                {"type": "notify", "to": {"fields": ["manager"]}, "title": {"en": "Touched"}}]},
            {"name": "on_margin", "trigger": {"type": "field_changed", "entity": "deal", "field": "margin", "to": 99},
             "actions": [{"type": "set_fields", "values": {"summary": "big"}}]}
        ]
    })
}

struct World {
    app: TestApp,
    alice: (String, String),
    boss: (String, String),
    customer: String,
    deal: String,
}

async fn world(backend: Backend) -> World {
    let app = spawn(backend).await;
    app.create_app(crm()).await;
    let alice = app.user("crm", "alice", Some("rep")).await;
    let boss = app.user("crm", "boss", Some("auditor")).await;
    let customer = s(&app
        .create("crm", "customer", json!({"name": "ACME", "credit": 0}))
        .await["id"])
    .to_string();
    let deal = app
        .create(
            "crm",
            "deal",
            json!({"title": "alpha", "owner": alice.0, "manager": boss.0, "customer": customer}),
        )
        .await;
    let deal = s(&deal["id"]).to_string();
    World {
        app,
        alice,
        boss,
        customer,
        deal,
    }
}

/// The `errors[]` items of a problem, as (field, code).
fn items(r: &Resp) -> Vec<(String, String)> {
    r.errors()
}

// ---------------------------------------------------------------------------------------------
// Blocked transitions
// ---------------------------------------------------------------------------------------------

/// A transition blocked by requirements on hidden fields is refused without naming them: one
/// `hidden_requirement` item stands for them all, visible requirements are still named; the
/// next moves (`GET …/transitions`) say the same; the administrator reads every requirement.
async fn a_blocked_transition_names_no_hidden_field(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let alice = &w.alice.1;
    let move_to = format!("/api/v1/data/crm/deal/{}/transition", w.deal);
    let r = as_user(app, alice, Method::POST, &move_to, Some(json!({"to": "won"})))
        .await
        .expect_problem(409, "transition_blocked");
    assert_names_nothing_hidden("a blocked transition", &r.text);
    let got = items(&r);
    assert!(
        got.contains(&("summary".into(), "required".into())),
        "a visible requirement is still named: {}",
        r.text
    );
    assert_eq!(
        got.iter().filter(|(_, c)| c == "hidden_requirement").count(),
        1,
        "one item stands for the hidden requirements: {}",
        r.text
    );
    assert_eq!(got.len(), 2, "{}", r.text);
    let next = as_user(
        app,
        alice,
        Method::GET,
        &format!("/api/v1/data/crm/deal/{}/transitions", w.deal),
        None,
    )
    .await
    .expect(200);
    assert_names_nothing_hidden("the next moves", &next.text);
    let blockers = &next.body["transitions"][0]["blocked_by"];
    assert!(
        blockers
            .as_array()
            .is_some_and(|b| b.iter().any(|e| e["code"] == "hidden_requirement")),
        "{}",
        next.text
    );
    assert_eq!(next.body["transitions"][0]["ready"], json!(false), "{}", next.text);
    // A lead, who sees every field, reads every requirement by name.
    let (_, lead) = app.user("crm", "lead", Some("lead")).await;
    let full = as_user(app, &lead, Method::POST, &move_to, Some(json!({"to": "won"})))
        .await
        .expect_problem(409, "transition_blocked");
    let got = items(&full);
    for (field, code) in [
        ("margin", "required"),
        ("summary", "required"),
        ("conditions.profitable", "condition_failed"),
        ("conditions.solvent", "condition_failed"),
        ("conditions.noted", "condition_failed"),
    ] {
        assert!(got.contains(&(field.into(), code.into())), "{field}: {}", full.text);
    }
    assert!(!full.text.contains("hidden_requirement"), "{}", full.text);
    // Only the visible requirement met: still refused, still unnamed.
    as_user(
        app,
        alice,
        Method::PATCH,
        &format!("/api/v1/data/crm/deal/{}", w.deal),
        Some(json!({"summary": "ready"})),
    )
    .await
    .expect(200);
    let r = as_user(app, alice, Method::POST, &move_to, Some(json!({"to": "won"})))
        .await
        .expect_problem(409, "transition_blocked");
    assert_names_nothing_hidden("a blocked transition", &r.text);
    assert_eq!(
        items(&r),
        [("requirements".to_string(), "hidden_requirement".to_string())]
    );
    // Every hidden requirement met by the administrator: the rep's move goes through.
    app.patch(
        &format!("/api/v1/data/crm/deal/{}", w.deal),
        json!({"margin": 20, "secret_note": HIDDEN_VALUE}),
    )
    .await
    .expect(200);
    app.patch(
        &format!("/api/v1/data/crm/customer/{}", w.customer),
        json!({"credit": 5}),
    )
    .await
    .expect(200);
    let moved = as_user(app, alice, Method::POST, &move_to, Some(json!({"to": "won"})))
        .await
        .expect(200);
    assert_eq!(moved.body["record"]["stage"], json!("won"), "{}", moved.text);
    assert_names_nothing_hidden("a transition's answer", &moved.text);
}

// ---------------------------------------------------------------------------------------------
// The definition as a member reads it
// ---------------------------------------------------------------------------------------------

/// No place of the app's definition names a field hidden from the caller: validations reading
/// or reported on one, `required_if`, rollups filtered by one, other roles' scope filters, a
/// transition's user fields, an SLA's escalation, rules started by one; the OpenAPI document
/// neither. The administrator and a role that sees them read them all.
async fn the_definition_names_no_hidden_field_anywhere(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let alice = &w.alice.1;
    for p in [
        "/api/v1/apps",
        "/api/v1/apps/crm",
        "/api/v1/apps/crm/entities",
        "/api/v1/apps/crm/entities/deal",
        "/api/v1/apps/crm/entities/deal/fields",
        "/api/v1/apps/crm/entities/customer",
        "/api/v1/apps/crm/entities/deal/pipeline",
        "/api/v1/apps/crm/rules",
        "/api/v1/apps/crm/roles",
        "/api/v1/apps/crm/openapi.json",
    ] {
        let r = as_user(app, alice, Method::GET, p, None).await;
        if r.status == 404 || r.status == 405 {
            continue;
        }
        let r = r.expect(200);
        assert_names_nothing_hidden(p, &r.text);
        assert!(
            !r.text.contains("rich_deals"),
            "{p}: a rollup chosen by a hidden field: {}",
            r.text
        );
        assert!(
            !r.text.contains("on_margin"),
            "{p}: a rule started by a hidden field: {}",
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
    // What reads no hidden field stays.
    let rules: Vec<&str> = deal["validations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| s(&v["name"]))
        .collect();
    assert_eq!(rules, ["title_short"], "{deal}");
    let auditor = def["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "auditor")
        .unwrap();
    assert_eq!(
        auditor["permissions"]["deal"]["scope"],
        json!({"filter": null}),
        "a scope filter on a hidden field is masked: {auditor}"
    );
    assert_eq!(
        deal["pipeline"]["transitions"][0]["allow"],
        json!({"owner": true, "roles": ["lead"]}),
        "{deal}"
    );
    // The rep's records agree: no aggregate of hidden margins.
    let c = as_user(
        app,
        alice,
        Method::GET,
        &format!("/api/v1/data/crm/customer/{}", w.customer),
        None,
    )
    .await
    .expect(200);
    assert!(c.body.get("rich_deals").is_none(), "{}", c.text);
    assert_eq!(c.body["deal_count"], json!(1), "{}", c.text);
    // Those who see the fields read everything.
    for admin in [true, false] {
        let r = if admin {
            app.get("/api/v1/apps/crm").await
        } else {
            as_user(app, &w.boss.1, Method::GET, "/api/v1/apps/crm", None).await
        }
        .expect(200);
        if admin {
            for word in ["margin_sane", "record.margin > 50", "on_margin", "\"manager\""] {
                assert!(r.text.contains(word), "{word}: {}", r.text);
            }
        }
        assert!(
            r.text.contains("rich_deals") && r.text.contains("\"field\":\"margin\""),
            "{}",
            r.text
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Rule runs
// ---------------------------------------------------------------------------------------------

async fn runs_done(app: &TestApp, rule: &str, n: usize) -> Value {
    let mut all = Value::Null;
    for _ in 0..160 {
        all = app
            .get(&format!("/api/v1/apps/crm/rules/{rule}/runs"))
            .await
            .expect(200)
            .body;
        let done = all["data"].as_array().is_some_and(|d| {
            d.len() == n
                && d.iter().all(|r| {
                    r["actions"].as_array().is_some_and(|a| {
                        a.iter()
                            .all(|x| matches!(x["status"].as_str(), Some("done" | "dead" | "skipped")))
                    })
                })
        });
        if done {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(125)).await;
    }
    panic!("the runs of {rule} did not finish: {all}");
}

/// A rule's runs as a rep reads them show no field hidden in any entity its actions touched:
/// values set on a related record without its hidden fields, a record of an entity the rep
/// does not read left out, values set on the trigger record without its hidden fields, no
/// user read from a hidden field, and no error text naming a hidden field. The administrator
/// reads them whole.
async fn rule_runs_hide_every_hidden_field_of_every_entity(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let alice = &w.alice.1;
    // The administrator runs the rule on alice's deal: every action does its work.
    let run = format!("/api/v1/data/crm/deal/{}/rules/touch/run", w.deal);
    app.post(&run, json!({})).await.expect(202);
    let all = runs_done(app, "touch", 1).await;
    let actions = all["data"][0]["actions"].clone();
    assert!(
        actions.as_array().unwrap().iter().all(|a| a["status"] == "done"),
        "{all}"
    );
    // The administrator sees what was done.
    let full = all.to_string();
    for word in ["credit", "margin", &w.boss.0] {
        assert!(full.contains(word), "{word}: {full}");
    }
    let audit_id = s(&actions[1]["output"]["created"]).to_string();
    let mine = as_user(app, alice, Method::GET, "/api/v1/apps/crm/rules/touch/runs", None)
        .await
        .expect(200);
    assert_names_nothing_hidden("the runs", &mine.text);
    assert!(
        !mine.text.contains(&w.boss.0),
        "a user of a hidden field: {}",
        mine.text
    );
    assert!(
        !mine.text.contains(&audit_id),
        "a record the rep does not read: {}",
        mine.text
    );
    let a = &mine.body["data"][0]["actions"];
    // What she may read stays.
    assert_eq!(a[0]["output"]["set"]["name"], json!("touched"), "{}", mine.text);
    assert_eq!(a[0]["output"]["record"], json!(w.customer), "{}", mine.text);
    assert_eq!(a[2]["output"]["set"]["summary"], json!("stamped"), "{}", mine.text);
    assert_eq!(mine.body["data"][0]["record"], json!(w.deal), "{}", mine.text);
    // Alice's own run stops where she may not write: the error names no hidden field.
    as_user(app, alice, Method::POST, &run, None).await.expect(202);
    let all = runs_done(app, "touch", 2).await;
    assert!(all.to_string().contains("credit"), "{all}");
    let mine = as_user(app, alice, Method::GET, "/api/v1/apps/crm/rules/touch/runs", None)
        .await
        .expect(200);
    assert_names_nothing_hidden("the runs", &mine.text);
    assert_eq!(mine.body["data"].as_array().map(Vec::len), Some(2), "{}", mine.text);
    assert_eq!(
        mine.body["data"][0]["actions"][0]["error"],
        json!("the action failed on a field you cannot see"),
        "{}",
        mine.text
    );
}

on_both!(
    a_blocked_transition_names_no_hidden_field,
    the_definition_names_no_hidden_field_anywhere,
    rule_runs_hide_every_hidden_field_of_every_entity,
);
