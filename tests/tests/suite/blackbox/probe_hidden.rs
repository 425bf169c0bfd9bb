//! Hidden means hidden (issue 13, point 11), over HTTP on SQLite and PostgreSQL: a field the
//! caller's roles hide is never named nor shown to them by a blocked transition, a refused
//! write, the app's definition (validations, rollup and scope filters, rule triggers and
//! conditions, pipeline user fields) or a rule's runs (records and values of other entities its
//! actions touched, whether a rule reading a hidden field matched, errors depending on one).

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
             "actions": [{"type": "set_fields", "values": {"summary": "big"}}]},
            {"name": "watch", "trigger": {"type": "manual", "entity": "deal"}, "condition": "record.margin > 10",
             "actions": [{"type": "set_fields", "values": {"summary": "watched"}}]},
            {"name": "stamp", "trigger": {"type": "manual", "entity": "deal"},
             "actions": [{"type": "set_fields", "values": {"discount": null}}]}
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

// ---------------------------------------------------------------------------------------------
// Refused writes
// ---------------------------------------------------------------------------------------------

/// Words that name what a clerk of the ledger may not see (fields, a hidden default value).
const LEDGER_HIDDEN: [&str; 6] = ["margin", "region", "north", "cost", "serial", "S-1"];

fn assert_ledger_hides(what: &str, r: &Resp) {
    for w in LEDGER_HIDDEN {
        assert!(!r.text.contains(w), "{what} names '{w}': {}", r.text);
    }
}

/// Deals whose `margin` and `region` are hidden from clerks, with every kind of requirement that
/// can read them: a `required_if`, a validation rule reported on a visible field, a rule whose
/// script fails, a unique index holding one; entries with a hidden required field; tags with a
/// hidden unique field filled by its default. Southerners create deals only in their region,
/// which they do not see.
fn ledger() -> Value {
    json!({
        "name": "ledger", "label": {"en": "Ledger"},
        "entities": [
            {"name": "deal", "label": {"en": "Deal"}, "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
                {"name": "discount", "label": {"en": "Discount"}, "type": "integer",
                 "required_if": "record.margin > 50"},
                {"name": "margin", "label": {"en": "Margin"}, "type": "integer"},
                {"name": "region", "label": {"en": "Region"}, "type": "text", "default": "north"}],
             "indexes": [{"name": "pair", "fields": ["title", "region"], "unique": true}],
             "validations": [
                {"name": "cap", "when": "record.margin != ()",
                 "assert": "record.discount == () || record.discount <= record.margin",
                 "message": {"en": "The discount is too large"}, "field": "discount"},
                {"name": "ratio", "when": "record.discount == 0",
                 "assert": "record.margin / record.discount >= 0",
                 "message": {"en": "Bad ratio"}},
                {"name": "short", "assert": "record.title.len() < 20",
                 "message": {"en": "Title too long"}, "field": "title"}]},
            {"name": "entry", "label": {"en": "Entry"}, "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
                {"name": "cost", "label": {"en": "Cost"}, "type": "integer", "required": true}]},
            {"name": "tag", "label": {"en": "Tag"}, "fields": [
                {"name": "label", "label": {"en": "Label"}, "type": "text"},
                {"name": "serial", "label": {"en": "Serial"}, "type": "text", "unique": true, "default": "S-1"}]}
        ],
        "roles": [
            {"name": "clerk", "label": {"en": "Clerk"}, "permissions": {
                "deal": {"create": true, "read": true, "update": true,
                         "fields": {"margin": "hidden", "region": "hidden"}},
                "entry": {"create": true, "read": true, "fields": {"cost": "hidden"}},
                "tag": {"create": true, "read": true, "fields": {"serial": "hidden"}}}},
            {"name": "south", "label": {"en": "South"}, "permissions": {
                "deal": {"create": true, "read": true,
                         "scope": {"filter": {"field": "region", "op": "eq", "value": "south"}},
                         "fields": {"margin": "hidden", "region": "hidden"}}}}
        ]
    })
}

/// The one item that stands for the unmet requirements on hidden data.
fn hidden_item(prefix: &str) -> (String, String) {
    let field = if prefix.is_empty() {
        "requirements".to_string()
    } else {
        format!("{prefix}.requirements")
    };
    (field, "hidden_requirement".to_string())
}

/// A create, update or bulk write refused by a requirement on a field hidden from the writer
/// (a `required_if` or a validation rule reading it, a rule whose script fails on it, a hidden
/// required field, a hidden unique field, a unique index holding one) answers 422 with one
/// `hidden_requirement` item instead, naming neither the field nor its value, and writes
/// nothing; problems of visible fields are named as before. The administrator reads each
/// problem by name.
async fn a_refused_write_names_no_hidden_field(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(ledger()).await;
    let (_, clerk) = app.user("ledger", "clerk", Some("clerk")).await;
    let deal = app
        .create("ledger", "deal", json!({"title": "alpha", "margin": 60, "discount": 5}))
        .await;
    let at = format!("/api/v1/data/ledger/deal/{}", s(&deal["id"]));
    let hidden = vec![hidden_item("")];

    // A `required_if` reading a hidden field.
    let r = as_user(&app, &clerk, Method::PATCH, &at, Some(json!({"discount": null})))
        .await
        .expect_problem(422, "validation_failed");
    assert_ledger_hides("a required_if", &r);
    assert_eq!(items(&r), hidden, "{}", r.text);
    let admin = app
        .patch(&at, json!({"discount": null}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(items(&admin), [("discount".to_string(), "required".to_string())]);
    // A validation rule reported on a visible field that reads a hidden one.
    let r = as_user(&app, &clerk, Method::PATCH, &at, Some(json!({"discount": 100})))
        .await
        .expect_problem(422, "validation_failed");
    assert_ledger_hides("a validation rule", &r);
    assert_eq!(items(&r), hidden, "{}", r.text);
    let admin = app
        .patch(&at, json!({"discount": 100}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(items(&admin), [("discount".to_string(), "cap".to_string())]);
    // A rule over a hidden field whose script fails.
    let r = as_user(&app, &clerk, Method::PATCH, &at, Some(json!({"discount": 0})))
        .await
        .expect_problem(422, "validation_failed");
    assert_ledger_hides("a failing rule", &r);
    assert_eq!(items(&r), hidden, "{}", r.text);
    app.patch(&at, json!({"discount": 0}))
        .await
        .expect_problem(422, "script_error");
    // A visible problem is still named, beside the hidden one.
    let long = "a title much longer than twenty characters";
    let r = as_user(&app, &clerk, Method::PATCH, &at, Some(json!({"title": long})))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(items(&r), [("title".to_string(), "short".to_string())]);
    let r = as_user(
        &app,
        &clerk,
        Method::PATCH,
        &at,
        Some(json!({"title": long, "discount": 100})),
    )
    .await
    .expect_problem(422, "validation_failed");
    assert_ledger_hides("a visible and a hidden problem", &r);
    assert_eq!(
        items(&r),
        [("title".to_string(), "short".to_string()), hidden_item("")],
        "{}",
        r.text
    );
    // Nothing was written.
    let now = app.get(&at).await.expect(200).body;
    assert_eq!(
        (&now["discount"], &now["title"], &now["version"]),
        (&json!(5), &json!("alpha"), &json!(1))
    );

    // A unique index holding a hidden field (its default).
    as_user(
        &app,
        &clerk,
        Method::POST,
        "/api/v1/data/ledger/deal",
        Some(json!({"title": "dup"})),
    )
    .await
    .expect(201);
    let r = as_user(
        &app,
        &clerk,
        Method::POST,
        "/api/v1/data/ledger/deal",
        Some(json!({"title": "dup"})),
    )
    .await
    .expect_problem(422, "validation_failed");
    assert_ledger_hides("a unique index", &r);
    assert_eq!(items(&r), hidden, "{}", r.text);
    let admin = app
        .post("/api/v1/data/ledger/deal", json!({"title": "dup"}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(
        items(&admin),
        [
            ("title".to_string(), "unique".to_string()),
            ("region".to_string(), "unique".to_string())
        ]
    );
    // A hidden required field, beside a visible one.
    let entries = "/api/v1/data/ledger/entry";
    let r = as_user(&app, &clerk, Method::POST, entries, Some(json!({})))
        .await
        .expect_problem(422, "validation_failed");
    assert_ledger_hides("a hidden required field", &r);
    assert_eq!(
        items(&r),
        [("title".to_string(), "required".to_string()), hidden_item("")],
        "{}",
        r.text
    );
    let admin = app
        .post(entries, json!({"title": "t"}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(items(&admin), [("cost".to_string(), "required".to_string())]);
    // A hidden unique field filled by its default.
    let tags = "/api/v1/data/ledger/tag";
    as_user(&app, &clerk, Method::POST, tags, Some(json!({"label": "one"})))
        .await
        .expect(201);
    let r = as_user(&app, &clerk, Method::POST, tags, Some(json!({"label": "two"})))
        .await
        .expect_problem(422, "validation_failed");
    assert_ledger_hides("a hidden unique field", &r);
    assert_eq!(items(&r), hidden, "{}", r.text);
    let admin = app
        .post(tags, json!({"label": "two"}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(items(&admin), [("serial".to_string(), "unique".to_string())]);

    // Bulk: each operation's hidden problems stand as one item; nothing at all is written.
    let bulk = json!({"create": [{"title": "fresh"}, {"title": "dup"}],
                      "update": [{"id": deal["id"], "discount": 100}]});
    let r = as_user(
        &app,
        &clerk,
        Method::POST,
        "/api/v1/data/ledger/deal/bulk",
        Some(bulk.clone()),
    )
    .await
    .expect_problem(422, "validation_failed");
    assert_ledger_hides("a bulk write", &r);
    assert_eq!(
        items(&r),
        [hidden_item("create[1]"), hidden_item("update[0]")],
        "{}",
        r.text
    );
    let admin = app
        .post("/api/v1/data/ledger/deal/bulk", bulk)
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(
        items(&admin),
        [
            ("create[1].title".to_string(), "unique".to_string()),
            ("create[1].region".to_string(), "unique".to_string()),
            ("update[0].discount".to_string(), "cap".to_string()),
        ]
    );
    let listed = app.get("/api/v1/data/ledger/deal?count=true").await.expect(200);
    assert_eq!(listed.body["total"], json!(2), "{}", listed.text);

    // A create scope over a hidden field refuses without naming it.
    let (_, sam) = app.user("ledger", "sam", Some("south")).await;
    let r = as_user(
        &app,
        &sam,
        Method::POST,
        "/api/v1/data/ledger/deal",
        Some(json!({"title": "s"})),
    )
    .await
    .expect_problem(403, "permission_denied");
    assert_ledger_hides("an out-of-scope create", &r);
}

// ---------------------------------------------------------------------------------------------
// Runs of rules that read hidden fields
// ---------------------------------------------------------------------------------------------

/// A rule whose condition reads a field hidden from a rep tells by each run whether it matched:
/// the rule is unknown to her (left out of the rules; its runs, a dry run and a manual run 404
/// as an unknown rule's); the administrator reads it and its runs.
async fn runs_of_a_rule_reading_a_hidden_field_are_unknown(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let alice = &w.alice.1;
    app.patch(&format!("/api/v1/data/crm/deal/{}", w.deal), json!({"margin": 20}))
        .await
        .expect(200);
    app.post(&format!("/api/v1/data/crm/deal/{}/rules/watch/run", w.deal), json!({}))
        .await
        .expect(202);
    let all = runs_done(app, "watch", 1).await;
    assert_eq!(all["data"][0]["matched"], json!(true), "{all}");
    let r = as_user(app, alice, Method::GET, "/api/v1/apps/crm/rules/watch/runs", None)
        .await
        .expect_problem(404, "not_found");
    let unknown = as_user(app, alice, Method::GET, "/api/v1/apps/crm/rules/nothing/runs", None)
        .await
        .expect_problem(404, "not_found");
    assert_eq!(
        r.body["detail"].as_str().map(|d| d.replace("watch", "nothing")),
        unknown.body["detail"].as_str().map(str::to_string),
        "answered as an unknown rule: {}",
        r.text
    );
    as_user(app, alice, Method::GET, "/api/v1/apps/crm/rules/watch", None)
        .await
        .expect_problem(404, "not_found");
    // Nor does she test or run it (a dry run's `matched` would be about her view only, but the
    // rule is not hers to know).
    as_user(
        app,
        alice,
        Method::POST,
        "/api/v1/apps/crm/rules/watch/test",
        Some(json!({"record": w.deal})),
    )
    .await
    .expect_problem(404, "not_found");
    as_user(
        app,
        alice,
        Method::POST,
        &format!("/api/v1/data/crm/deal/{}/rules/watch/run", w.deal),
        None,
    )
    .await
    .expect_problem(404, "not_found");
    let listed = as_user(app, alice, Method::GET, "/api/v1/apps/crm/rules", None)
        .await
        .expect(200);
    assert!(!listed.text.contains("watch"), "{}", listed.text);
    assert!(listed.text.contains("touch"), "{}", listed.text);
    // The administrator still reads the rule and its health.
    let listed = app.get("/api/v1/apps/crm/rules").await.expect(200);
    assert!(listed.text.contains("\"watch\""), "{}", listed.text);
}

/// A rule's action refused by a requirement reading a field hidden from a reader of its runs
/// (clearing `discount`, required while `margin` is over 50) reads as an error on a field they
/// cannot see; the administrator reads what failed and what it depends on.
async fn a_run_refused_by_a_hidden_requirement_is_veiled(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let alice = &w.alice.1;
    app.patch(
        &format!("/api/v1/data/crm/deal/{}", w.deal),
        json!({"margin": 60, "discount": 5}),
    )
    .await
    .expect(200);
    as_user(
        app,
        alice,
        Method::POST,
        &format!("/api/v1/data/crm/deal/{}/rules/stamp/run", w.deal),
        Some(json!({})),
    )
    .await
    .expect(202);
    let all = runs_done(app, "stamp", 1).await;
    let error = s(&all["data"][0]["actions"][0]["error"]).to_string();
    assert!(error.contains("discount") && error.contains("margin"), "{all}");
    let mine = as_user(app, alice, Method::GET, "/api/v1/apps/crm/rules/stamp/runs", None)
        .await
        .expect(200);
    assert_names_nothing_hidden("the runs", &mine.text);
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
    a_refused_write_names_no_hidden_field,
    runs_of_a_rule_reading_a_hidden_field_are_unknown,
    a_run_refused_by_a_hidden_requirement_is_veiled,
);
