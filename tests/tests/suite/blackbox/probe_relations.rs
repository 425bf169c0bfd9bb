//! Relations respect scope: a relation may only point at a record its writer may read. A record
//! outside the writer's read scope answers exactly like an id that does not exist, on every path
//! that writes relations (create, PATCH, bulk create and update), and nothing is written, so the
//! owner of the record can still delete it. Each test runs on SQLite and on PostgreSQL.

use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, Resp, TestApp, on_both, spawn};

const MISSING: &str = "01900000-0000-7000-8000-000000000000";

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

fn crm() -> Value {
    json!({
        "name": "crm", "label": {"en": "CRM"},
        "entities": [
            {"name": "customer", "label": {"en": "Customer"}, "fields": [
                {"name": "name", "label": {"en": "Name"}, "type": "text"}]},
            {"name": "deal", "label": {"en": "Deal"}, "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
                {"name": "customer", "label": {"en": "Customer"}, "type": "relation", "target": "customer"}]}
        ],
        "roles": [
            {"name": "rep", "label": {"en": "Rep"}, "permissions": {
                "deal": {"create": true, "read": true, "update": true, "scope": "own"},
                "customer": {"create": true, "read": true, "delete": true, "scope": "own"}}},
            {"name": "dealer", "label": {"en": "Dealer"}, "permissions": {
                "deal": {"create": true, "read": true, "update": true, "scope": "own"}}}
        ]
    })
}

async fn call(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
    app.call_as(Some(token), method, path, body).await
}

/// Status, code and field errors of an answer, with `id` written as `<id>` so that the answers
/// for two different ids can be compared.
fn shape(r: &Resp, id: &str) -> String {
    format!("{} {} {}", r.status, r.code(), r.body["errors"]).replace(id, "<id>")
}

/// Sends the same write once pointing at `hidden` and once at an id that does not exist, and
/// asserts both answers are the same refusal.
async fn same_as_missing(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: impl Fn(&str) -> Value,
    hidden: &str,
) {
    let a = call(app, token, method.clone(), path, Some(body(hidden))).await;
    let b = call(app, token, method, path, Some(body(MISSING))).await;
    assert!(
        a.status.as_u16() >= 400,
        "pointing at a record out of scope succeeded: {}",
        a.text
    );
    assert_eq!(shape(&a, hidden), shape(&b, MISSING), "{} vs {}", a.text, b.text);
}

async fn relations_need_read_access_to_their_target(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm()).await;
    let (_, alice) = app.user("crm", "alice", Some("rep")).await;
    let (_, bob) = app.user("crm", "bob", Some("rep")).await;
    let (_, dan) = app.user("crm", "dan", Some("dealer")).await;
    let cust_a = call(
        &app,
        &alice,
        Method::POST,
        "/api/v1/data/crm/customer",
        Some(json!({"name": "A"})),
    )
    .await
    .expect(201)
    .body;
    let cust_a = s(&cust_a["id"]).to_string();
    let cust_b = call(
        &app,
        &bob,
        Method::POST,
        "/api/v1/data/crm/customer",
        Some(json!({"name": "B"})),
    )
    .await
    .expect(201)
    .body;
    let cust_b = s(&cust_b["id"]).to_string();

    // Create: Bob (own scope) cannot point at Alice's customer; Dan (no read right on customers)
    // cannot point at any.
    let create = |c: &str| json!({"title": "t", "customer": c});
    same_as_missing(&app, &bob, Method::POST, "/api/v1/data/crm/deal", create, &cust_a).await;
    same_as_missing(&app, &dan, Method::POST, "/api/v1/data/crm/deal", create, &cust_b).await;

    // PATCH, of a deal Bob owns.
    let deal = call(
        &app,
        &bob,
        Method::POST,
        "/api/v1/data/crm/deal",
        Some(json!({"title": "mine"})),
    )
    .await
    .expect(201)
    .body;
    let deal = s(&deal["id"]).to_string();
    let path = format!("/api/v1/data/crm/deal/{deal}");
    same_as_missing(&app, &bob, Method::PATCH, &path, |c| json!({"customer": c}), &cust_a).await;

    // Bulk create and update.
    let bulk = "/api/v1/data/crm/deal/bulk";
    same_as_missing(
        &app,
        &bob,
        Method::POST,
        bulk,
        |c| json!({"create": [{"title": "b", "customer": c}]}),
        &cust_a,
    )
    .await;
    let d = deal.clone();
    same_as_missing(
        &app,
        &bob,
        Method::POST,
        bulk,
        move |c| json!({"update": [{"id": d, "customer": c}]}),
        &cust_a,
    )
    .await;

    // Nothing was written: Bob's only deal points nowhere.
    let list = call(&app, &bob, Method::GET, "/api/v1/data/crm/deal", None)
        .await
        .expect(200);
    let deals = list.body["data"].as_array().expect("list");
    assert_eq!(deals.len(), 1, "{}", list.text);
    assert!(deals[0]["customer"].is_null(), "{}", list.text);

    // A customer Bob may read he may point at, on every path.
    call(&app, &bob, Method::PATCH, &path, Some(json!({"customer": cust_b})))
        .await
        .expect(200);
    call(&app, &bob, Method::POST, "/api/v1/data/crm/deal", Some(create(&cust_b)))
        .await
        .expect(201);

    // Alice can still delete her customer: nothing points at it.
    call(
        &app,
        &alice,
        Method::DELETE,
        &format!("/api/v1/data/crm/customer/{cust_a}"),
        None,
    )
    .await
    .expect(204);

    // An administrator reads every customer, so may point at any.
    app.post("/api/v1/data/crm/deal", create(&cust_b)).await.expect(201);
}

async fn new(app: &TestApp, token: &str, entity: &str, body: Value) -> String {
    let path = format!("/api/v1/data/crm/{entity}");
    s(&call(app, token, Method::POST, &path, Some(body)).await.expect(201).body["id"]).to_string()
}

/// A rule acts as the user whose change triggered it: its `set_fields` cannot point a relation
/// at a record that user may not read either.
async fn rule_actions_point_relations_only_at_what_the_user_may_read(backend: Backend) {
    let app = spawn(backend).await;
    let mut def = crm();
    def["entities"][1]["fields"]
        .as_array_mut()
        .expect("fields")
        .push(json!({"name": "customer_ref", "label": {"en": "Customer ref"}, "type": "text"}));
    def["rules"] = json!([{
        "name": "link",
        "trigger": {"type": "record_created", "entity": "deal"},
        "actions": [{"type": "set_fields", "values": {"customer": "{{record.customer_ref}}"}}]
    }]);
    app.create_app(def).await;
    let (_, alice) = app.user("crm", "alice", Some("rep")).await;
    let (_, bob) = app.user("crm", "bob", Some("rep")).await;
    let cust_a = new(&app, &alice, "customer", json!({"name": "A"})).await;
    let cust_b = new(&app, &bob, "customer", json!({"name": "B"})).await;
    let theirs = new(&app, &bob, "deal", json!({"title": "theirs", "customer_ref": cust_a})).await;
    let mine = new(&app, &bob, "deal", json!({"title": "mine", "customer_ref": cust_b})).await;
    // The rule links Bob's deal to Bob's customer...
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let d = call(&app, &bob, Method::GET, &format!("/api/v1/data/crm/deal/{mine}"), None)
            .await
            .expect(200);
        if d.body["customer"] == json!(cust_b) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the rule never ran: {}", d.text);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // ... and not to Alice's, which Bob cannot see; she can still delete it.
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let d = call(
        &app,
        &bob,
        Method::GET,
        &format!("/api/v1/data/crm/deal/{theirs}"),
        None,
    )
    .await
    .expect(200);
    assert!(d.body["customer"].is_null(), "{}", d.text);
    call(
        &app,
        &alice,
        Method::DELETE,
        &format!("/api/v1/data/crm/customer/{cust_a}"),
        None,
    )
    .await
    .expect(204);
}

on_both!(
    relations_need_read_access_to_their_target,
    rule_actions_point_relations_only_at_what_the_user_may_read,
);
