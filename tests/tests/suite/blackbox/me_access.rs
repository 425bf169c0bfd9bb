//! `GET /me`'s `apps`: what the caller may do in each app, as the requests themselves decide
//! it: per entity the rights and the rows they reach, the fields hidden from the caller and the
//! read-only ones, and per transition whether the caller may make it. Each test runs on SQLite
//! and on PostgreSQL.

use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, on_both, spawn};

use super::permissions::{call, get, s};

fn crm() -> Value {
    json!({
        "name": "crm", "label": {"en": "CRM"},
        "entities": [
            {"name": "customer", "label": {"en": "Customer"}, "fields": [
                {"name": "name", "label": {"en": "Name"}, "type": "text"}]},
            {"name": "deal", "label": {"en": "Deal"}, "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text"},
                {"name": "margin", "label": {"en": "Margin"}, "type": "decimal"},
                {"name": "region", "label": {"en": "Region"}, "type": "text"}
            ], "pipeline": {
                "stages": [{"key": "new", "label": {"en": "New"}}, {"key": "won", "label": {"en": "Won"}, "kind": "won"},
                           {"key": "lost", "label": {"en": "Lost"}, "kind": "lost"}],
                "transitions": [
                    {"from": ["new"], "to": "won", "allow": {"roles": ["manager"]}},
                    {"from": ["new"], "to": "lost"},
                    {"from": ["won", "lost"], "to": "new", "allow": {"owner": true}}
                ]}},
            {"name": "secret", "label": {"en": "Secret"}, "fields": [
                {"name": "code", "label": {"en": "Code"}, "type": "text"}]}
        ],
        "roles": [
            {"name": "rep", "label": {"en": "Rep"}, "permissions": {
                "deal": {"create": true, "read": true, "update": true, "transition": ["lost", "new"], "scope": "own",
                         "fields": {"margin": "hidden", "region": "read_only"}},
                "customer": {"read": true}}},
            {"name": "manager", "label": {"en": "Manager"}, "permissions": {
                "deal": {"read": true, "update": true, "delete": true, "export": true, "transition": true},
                "customer": {"read": true, "create": true}}}
        ]
    })
}

fn moves(entity: &Value) -> Vec<(String, String)> {
    entity["transitions"]
        .as_array()
        .unwrap_or_else(|| panic!("transitions: {entity}"))
        .iter()
        .map(|t| (s(&t["to"]).to_string(), s(&t["allowed"]).to_string()))
        .collect()
}

async fn me_says_per_app_what_the_caller_may_do_as_the_requests_decide(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm()).await;
    app.create_app(json!({"name": "open", "label": {"en": "Open"},
        "entities": [{"name": "note", "label": {"en": "Note"}, "fields": [
            {"name": "text", "label": {"en": "Text"}, "type": "text"}]}]}))
        .await;
    let rep = app.user("crm", "rep", Some("rep")).await;
    let manager = app.user("crm", "manager", Some("manager")).await;

    let me = get(&app, &rep.1, "/api/v1/me").await.expect(200).body;
    let deal = &me["apps"]["crm"]["entities"]["deal"];
    assert_eq!(
        deal["rights"],
        json!({"create": "scoped", "read": "scoped", "update": "scoped", "delete": "none", "export": "none", "transition": "scoped"}),
        "{me}"
    );
    assert_eq!(deal["hidden"], json!(["margin"]));
    assert_eq!(deal["read_only"], json!(["region"]));
    // won: not a stage her transition right enters; lost: yes; back to new: only as the owner.
    assert_eq!(
        moves(deal),
        vec![
            ("won".into(), "no".into()),
            ("lost".into(), "yes".into()),
            ("new".into(), "record".into())
        ]
    );
    assert_eq!(deal["transitions"][2]["from"], json!(["won", "lost"]));
    let customer = &me["apps"]["crm"]["entities"]["customer"];
    assert_eq!(customer["rights"]["create"], "none");
    assert_eq!(customer["rights"]["read"], "all");
    assert_eq!(customer["transitions"], json!([]));
    // An entity she may not read: no rights, and nothing named of its fields.
    let secret = &me["apps"]["crm"]["entities"]["secret"];
    assert_eq!(secret["rights"]["read"], "none");
    assert_eq!(secret["hidden"], json!([]));
    // An app where no role declares permissions is open to everyone.
    assert_eq!(me["apps"]["open"]["entities"]["note"]["rights"]["delete"], "all");

    // The requests agree: the hidden field is in no answer, customers are not hers to create,
    // the move to won is refused, the one to lost is made.
    let d = call(
        &app,
        &rep.1,
        Method::POST,
        "/api/v1/data/crm/deal",
        Some(json!({"title": "mine"})),
    )
    .await
    .expect(201)
    .body;
    assert!(d.get("margin").is_none(), "{d}");
    let id = s(&d["id"]).to_string();
    call(
        &app,
        &rep.1,
        Method::POST,
        "/api/v1/data/crm/customer",
        Some(json!({"name": "ACME"})),
    )
    .await
    .expect_problem(403, "permission_denied");
    let refused = call(
        &app,
        &rep.1,
        Method::POST,
        &format!("/api/v1/data/crm/deal/{id}/transition"),
        Some(json!({"to": "won"})),
    )
    .await;
    assert_eq!(refused.status.as_u16(), 403, "{}", refused.text);
    call(
        &app,
        &rep.1,
        Method::POST,
        &format!("/api/v1/data/crm/deal/{id}/transition"),
        Some(json!({"to": "lost"})),
    )
    .await
    .expect(200);

    let me = get(&app, &manager.1, "/api/v1/me").await.expect(200).body;
    let deal = &me["apps"]["crm"]["entities"]["deal"];
    assert_eq!(deal["rights"]["delete"], "all");
    assert_eq!(deal["hidden"], json!([]));
    assert_eq!(deal["read_only"], json!([]));
    assert_eq!(
        moves(deal),
        vec![
            ("won".into(), "yes".into()),
            ("lost".into(), "yes".into()),
            ("new".into(), "record".into())
        ]
    );
    assert_eq!(me["apps"]["crm"]["entities"]["customer"]["rights"]["create"], "all");

    // The administrator has every right; a move only managers make stays theirs, as a move
    // checks it.
    let me = app.get("/api/v1/me").await.expect(200).body;
    let deal = &me["apps"]["crm"]["entities"]["deal"];
    assert_eq!(deal["rights"]["export"], "all");
    assert_eq!(deal["hidden"], json!([]));
    assert_eq!(moves(deal)[0], ("won".to_string(), "no".to_string()), "{deal}");
}

on_both!(me_says_per_app_what_the_caller_may_do_as_the_requests_decide);
