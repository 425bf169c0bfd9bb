//! Role permissions over HTTP: one predicate for every path. Each test runs on SQLite and on
//! PostgreSQL. The matrix: reps see and change their own deals, leads their teams' (teams nest),
//! auditors the deals a filter names; a margin field is hidden from reps and a region is read-only.

use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, Resp, TestApp, on_both, spawn};

pub(crate) fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

pub(crate) async fn call(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
    app.call_as(Some(token), method, path, body).await
}

pub(crate) async fn get(app: &TestApp, token: &str, path: &str) -> Resp {
    call(app, token, Method::GET, path, None).await
}

fn ids(r: &Resp) -> Vec<String> {
    let mut v: Vec<String> = r.body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {}", r.text))
        .iter()
        .map(|x| s(&x["id"]).to_string())
        .collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<&str>) -> Vec<String> {
    v.sort();
    v.into_iter().map(str::to_string).collect()
}

fn crm() -> Value {
    json!({
        "name": "crm", "label": {"en": "CRM"},
        "entities": [
            {"name": "customer", "label": {"en": "Customer"}, "fields": [
                {"name": "name", "label": {"en": "Name"}, "type": "text"}]},
            {"name": "deal", "label": {"en": "Deal"}, "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
                {"name": "amount", "label": {"en": "Amount"}, "type": "decimal"},
                {"name": "margin", "label": {"en": "Margin"}, "type": "decimal"},
                {"name": "secret", "label": {"en": "Secret"}, "type": "text"},
                {"name": "region", "label": {"en": "Region"}, "type": "text"},
                {"name": "auditor", "label": {"en": "Auditor"}, "type": "user"},
                {"name": "customer", "label": {"en": "Customer"}, "type": "relation", "target": "customer"}
            ], "pipeline": {
                "stages": [{"key": "new", "label": {"en": "New"}}, {"key": "won", "label": {"en": "Won"}, "kind": "won"},
                           {"key": "lost", "label": {"en": "Lost"}, "kind": "lost"}],
                "transitions": [{"from": ["new"], "to": "won"}, {"from": ["new"], "to": "lost"}]}}
        ],
        "roles": [
            {"name": "rep", "label": {"en": "Rep"}, "permissions": {
                "deal": {"create": true, "read": true, "update": true, "transition": ["won"], "scope": "own",
                         "fields": {"margin": "hidden", "secret": "hidden", "region": "read_only"}},
                "customer": {"read": true, "scope": "own"}}},
            {"name": "lead", "label": {"en": "Lead"}, "permissions": {
                "deal": {"read": true, "update": true, "delete": true, "transition": true, "scope": "team"},
                "customer": {"read": true}}},
            {"name": "auditor", "label": {"en": "Auditor"}, "permissions": {
                "deal": {"read": true, "scope": {"filter": {"field": "auditor", "op": "eq", "value": "$user.id"}}}}},
            {"name": "east", "label": {"en": "East"}, "permissions": {
                "deal": {"create": true, "read": true, "update": true,
                         "scope": {"filter": {"field": "region", "op": "eq", "value": "east"}}}}},
            {"name": "guest", "label": {"en": "Guest"}}
        ]
    })
}

/// The CRM with teams sales ⊃ {north, south}, users and deals.
pub(crate) struct World {
    pub(crate) app: TestApp,
    alice: (String, String),
    bob: (String, String),
    carol: (String, String),
    pub(crate) lead: (String, String),
    north_lead: (String, String),
    auditor: (String, String),
    guest: (String, String),
    deal_alice: String,
    deal_bob: String,
    deal_carol: String,
    cust_alice: String,
    cust_other: String,
}

pub(crate) async fn user(app: &TestApp, name: &str, role: Option<&str>) -> (String, String) {
    app.user("crm", name, role).await
}

pub(crate) async fn team(app: &TestApp, name: &str, parent: Option<&str>, members: &[&str]) -> String {
    let t = app
        .post("/api/v1/teams", json!({"name": name, "parent": parent}))
        .await
        .expect(201)
        .body;
    let id = s(&t["id"]).to_string();
    for m in members {
        app.post(&format!("/api/v1/teams/{id}/members"), json!({"user": m}))
            .await
            .expect(200);
    }
    id
}

pub(crate) async fn world(backend: Backend) -> World {
    let app = spawn(backend).await;
    app.create_app(crm()).await;
    let alice = user(&app, "alice", Some("rep")).await;
    let bob = user(&app, "bob", Some("rep")).await;
    let carol = user(&app, "carol", Some("rep")).await;
    let lead = user(&app, "lead", Some("lead")).await;
    let north_lead = user(&app, "nlead", Some("lead")).await;
    let auditor = user(&app, "auditor", Some("auditor")).await;
    let guest = user(&app, "guest", Some("guest")).await;
    let sales = team(&app, "sales", None, &[&lead.0]).await;
    team(&app, "north", Some(&sales), &[&alice.0, &bob.0, &north_lead.0]).await;
    team(&app, "south", Some("sales"), &[&carol.0]).await;
    let cust_alice = s(&app
        .create("crm", "customer", json!({"name": "Alice's", "owner": alice.0}))
        .await["id"])
    .to_string();
    let cust_other = s(&app.create("crm", "customer", json!({"name": "Other"})).await["id"]).to_string();
    let deal = |title: &str, owner: &str, customer: &str| {
        json!({"title": title, "amount": 100, "margin": 30, "secret": format!("{title} password"), "region": "north",
               "owner": owner, "customer": customer})
    };
    let deal_alice = s(&app.create("crm", "deal", deal("alpha", &alice.0, &cust_other)).await["id"]).to_string();
    let mut b = deal("bravo", &bob.0, &cust_alice);
    b["auditor"] = json!(auditor.0);
    let deal_bob = s(&app.create("crm", "deal", b).await["id"]).to_string();
    let deal_carol = s(&app.create("crm", "deal", deal("charlie", &carol.0, &cust_other)).await["id"]).to_string();
    World {
        app,
        alice,
        bob,
        carol,
        lead,
        north_lead,
        auditor,
        guest,
        deal_alice,
        deal_bob,
        deal_carol,
        cust_alice,
        cust_other,
    }
}

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

async fn every_read_path_reaches_the_same_rows(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let all = sorted(vec![&w.deal_alice, &w.deal_bob, &w.deal_carol]);
    let cases: Vec<(&str, &str, Vec<String>)> = vec![
        ("alice", &w.alice.1, sorted(vec![&w.deal_alice])),
        ("bob", &w.bob.1, sorted(vec![&w.deal_bob])),
        ("lead (sales and the teams below)", &w.lead.1, all.clone()),
        ("north lead", &w.north_lead.1, sorted(vec![&w.deal_alice, &w.deal_bob])),
        ("auditor (filter scope)", &w.auditor.1, sorted(vec![&w.deal_bob])),
        ("admin", &app.token, all.clone()),
    ];
    for (who, token, want) in cases {
        let list = get(app, token, "/api/v1/data/crm/deal?count=true").await.expect(200);
        assert_eq!(ids(&list), want, "list as {who}");
        assert_eq!(list.body["total"], json!(want.len()), "count as {who}");
        let found = get(app, token, "/api/v1/data/crm/deal?q=a").await.expect(200);
        assert_eq!(ids(&found), want, "search as {who}");
        let board = get(app, token, "/api/v1/data/crm/deal/board").await.expect(200);
        let new = &board.body["stages"][0];
        assert_eq!(new["count"], json!(want.len()), "board count as {who}: {}", board.text);
        assert_eq!(
            new["records"].as_array().map(Vec::len),
            Some(want.len()),
            "board records as {who}"
        );
        for id in &all {
            let reach = want.contains(id);
            let status = if reach { 200 } else { 404 };
            let r = get(app, token, &format!("/api/v1/data/crm/deal/{id}")).await;
            assert_eq!(r.status, status, "get {id} as {who}: {}", r.text);
            let h = get(app, token, &format!("/api/v1/data/crm/deal/{id}/history")).await;
            assert_eq!(h.status, status, "history {id} as {who}: {}", h.text);
            let t = get(app, token, &format!("/api/v1/data/crm/deal/{id}/transitions")).await;
            assert_eq!(t.status, status, "transitions {id} as {who}: {}", t.text);
        }
    }
    // A user without a role with permissions reads nothing, and says so.
    for path in ["/api/v1/data/crm/deal", "/api/v1/data/crm/deal/board"] {
        get(app, &w.guest.1, path)
            .await
            .expect_problem(403, "permission_denied");
    }
    get(app, &w.guest.1, &format!("/api/v1/data/crm/deal/{}", w.deal_alice))
        .await
        .expect_problem(403, "permission_denied");
}

async fn writes_outside_the_scope_answer_404_and_missing_rights_403(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let alice = &w.alice.1;
    let patch = |id: &str| format!("/api/v1/data/crm/deal/{id}");
    // Bob's deal does not exist for Alice, whatever she tries.
    call(
        app,
        alice,
        Method::PATCH,
        &patch(&w.deal_bob),
        Some(json!({"title": "mine"})),
    )
    .await
    .expect_problem(404, "not_found");
    call(
        app,
        alice,
        Method::POST,
        &format!("{}/transition", patch(&w.deal_bob)),
        Some(json!({"to": "won"})),
    )
    .await
    .expect_problem(404, "not_found");
    let bulk = call(
        app,
        alice,
        Method::POST,
        "/api/v1/data/crm/deal/bulk",
        Some(json!({"update": [{"id": w.deal_alice, "title": "ok"}, {"id": w.deal_bob, "title": "mine"}]})),
    )
    .await;
    assert_eq!(bulk.status, 404, "{}", bulk.text);
    // …and the bulk wrote nothing.
    let mine = get(app, alice, &patch(&w.deal_alice)).await.expect(200);
    assert_eq!(mine.body["title"], "alpha");
    // Rights she lacks answer 403: delete (reps may not), a stage not in her list.
    call(app, alice, Method::DELETE, &patch(&w.deal_alice), None)
        .await
        .expect_problem(403, "permission_denied");
    call(
        app,
        alice,
        Method::POST,
        &format!("{}/transition", patch(&w.deal_alice)),
        Some(json!({"to": "lost"})),
    )
    .await
    .expect_problem(403, "permission_denied");
    let moves = get(app, alice, &format!("{}/transitions", patch(&w.deal_alice)))
        .await
        .expect(200);
    let allowed: Vec<(&str, bool)> = moves.body["transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .map(|t| (s(&t["to"]), t["allowed"].as_bool().unwrap_or(false)))
        .collect();
    assert_eq!(allowed, vec![("won", true), ("lost", false)]);
    let board = get(app, alice, "/api/v1/data/crm/deal/board").await.expect(200);
    assert_eq!(board.body["stages"][0]["may_move_to"], json!(["won"]));
    call(
        app,
        alice,
        Method::POST,
        &format!("{}/transition", patch(&w.deal_alice)),
        Some(json!({"to": "won"})),
    )
    .await
    .expect(200);
    // A read-only field: 403 naming it when changed, fine when sent back unchanged.
    let r = call(
        app,
        alice,
        Method::PATCH,
        &patch(&w.deal_alice),
        Some(json!({"region": "south"})),
    )
    .await
    .expect_problem(403, "permission_denied");
    assert_eq!(r.errors(), vec![("region".to_string(), "read_only".to_string())]);
    let ok = call(
        app,
        alice,
        Method::PATCH,
        &patch(&w.deal_alice),
        Some(json!({"region": "north", "title": "alpha 2"})),
    )
    .await
    .expect(200);
    assert_eq!(ok.body["title"], "alpha 2");
    // A create may not set a read-only field either; without it, it works and Alice owns it.
    call(
        app,
        alice,
        Method::POST,
        "/api/v1/data/crm/deal",
        Some(json!({"title": "d", "region": "x"})),
    )
    .await
    .expect_problem(403, "permission_denied");
    let created = call(
        app,
        alice,
        Method::POST,
        "/api/v1/data/crm/deal",
        Some(json!({"title": "delta"})),
    )
    .await
    .expect(201);
    assert_eq!(created.body["owner"], json!(w.alice.0));
    // The lead may delete in the team, not outside a scope: the auditor may not write at all.
    call(
        app,
        &w.auditor.1,
        Method::PATCH,
        &patch(&w.deal_bob),
        Some(json!({"title": "x"})),
    )
    .await
    .expect_problem(403, "permission_denied");
    call(
        app,
        &w.auditor.1,
        Method::POST,
        "/api/v1/data/crm/deal",
        Some(json!({"title": "x"})),
    )
    .await
    .expect_problem(403, "permission_denied");
    call(app, &w.lead.1, Method::DELETE, &patch(&w.deal_carol), None)
        .await
        .expect(204);
    call(app, &w.north_lead.1, Method::DELETE, &patch(&w.deal_carol), None)
        .await
        .expect_problem(404, "not_found");
}

// ---------------------------------------------------------------------------------------------
// Fields
// ---------------------------------------------------------------------------------------------

async fn hidden_fields_are_in_no_answer_and_unknown_to_queries(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let alice = &w.alice.1;
    let no_hidden = |v: &Value, at: &str| {
        assert!(
            v.get("margin").is_none() && v.get("secret").is_none(),
            "hidden field in {at}: {v}"
        );
        assert!(v.get("title").is_some(), "visible field missing in {at}: {v}");
    };
    let list = get(app, alice, "/api/v1/data/crm/deal").await.expect(200);
    no_hidden(&list.body["data"][0], "list");
    let one = get(app, alice, &format!("/api/v1/data/crm/deal/{}", w.deal_alice))
        .await
        .expect(200);
    no_hidden(&one.body, "get");
    let board = get(app, alice, "/api/v1/data/crm/deal/board").await.expect(200);
    no_hidden(&board.body["stages"][0]["records"][0], "board");
    let patched = call(
        app,
        alice,
        Method::PATCH,
        &format!("/api/v1/data/crm/deal/{}", w.deal_alice),
        Some(json!({"amount": 5})),
    )
    .await
    .expect(200);
    no_hidden(&patched.body, "update answer");
    let created = call(
        app,
        alice,
        Method::POST,
        "/api/v1/data/crm/deal",
        Some(json!({"title": "new"})),
    )
    .await
    .expect(201);
    no_hidden(&created.body, "create answer");
    let moved = call(
        app,
        alice,
        Method::POST,
        &format!("/api/v1/data/crm/deal/{}/transition", w.deal_alice),
        Some(json!({"to": "won"})),
    )
    .await
    .expect(200);
    no_hidden(&moved.body["record"], "transition answer");
    // The admin changes the margin; Alice's history of the deal does not show it.
    app.patch(
        &format!("/api/v1/data/crm/deal/{}", w.deal_alice),
        json!({"margin": 31, "amount": 6}),
    )
    .await
    .expect(200);
    let h = get(app, alice, &format!("/api/v1/data/crm/deal/{}/history", w.deal_alice))
        .await
        .expect(200);
    assert!(!h.text.contains("margin") && !h.text.contains("password"), "{}", h.text);
    assert!(h.text.contains("amount"), "{}", h.text);
    // Filtering, sorting, choosing, summing or writing a hidden field: as if it did not exist.
    let filter = json!({"field": "margin", "op": "gt", "value": 1}).to_string();
    for path in [
        format!("/api/v1/data/crm/deal?filter={}", urlencode(&filter)),
        "/api/v1/data/crm/deal?sort=margin".to_string(),
        "/api/v1/data/crm/deal?fields=title,margin".to_string(),
        "/api/v1/data/crm/deal/board?sum=margin".to_string(),
    ] {
        let r = get(app, alice, &path).await.expect_problem(400, "bad_request");
        assert!(
            r.errors().iter().any(|(_, c)| c == "unknown_field"),
            "{path}: {}",
            r.text
        );
    }
    let r = call(
        app,
        alice,
        Method::POST,
        "/api/v1/data/crm/deal",
        Some(json!({"title": "t", "margin": 1})),
    )
    .await
    .expect_problem(422, "validation_failed");
    assert_eq!(r.errors(), vec![("margin".to_string(), "unknown_field".to_string())]);
    // A search does not look into hidden text.
    let found = get(app, alice, "/api/v1/data/crm/deal?q=password").await.expect(200);
    assert_eq!(ids(&found), Vec::<String>::new());
    let found = get(app, &app.token, "/api/v1/data/crm/deal?q=password")
        .await
        .expect(200);
    assert_eq!(ids(&found).len(), 3);
    // Visible in one of a user's roles is visible: Alice also becomes an auditor.
    app.post("/api/v1/apps/crm/roles/auditor/members", json!({"user": w.alice.0}))
        .await
        .expect(200);
    let bob_deal = get(app, alice, &format!("/api/v1/data/crm/deal/{}", w.deal_bob)).await;
    assert_eq!(bob_deal.status, 404, "Bob's deal names the auditor, not Alice");
    let one = get(app, alice, &format!("/api/v1/data/crm/deal/{}", w.deal_alice))
        .await
        .expect(200);
    assert_eq!(one.body["margin"], json!(31.0), "{}", one.text);
}

pub(crate) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn expanded_relations_outside_the_scope_are_null(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    // Alice's deal points at a customer she does not own: it expands to null for her.
    let one = get(
        app,
        &w.alice.1,
        &format!("/api/v1/data/crm/deal/{}?expand=customer", w.deal_alice),
    )
    .await
    .expect(200);
    assert_eq!(one.body["customer"], Value::Null, "{}", one.text);
    // The lead reads every customer.
    let list = get(app, &w.lead.1, "/api/v1/data/crm/deal?expand=customer&sort=title")
        .await
        .expect(200);
    assert_eq!(list.body["data"][0]["customer"]["id"], json!(w.cust_other));
    assert_eq!(list.body["data"][1]["customer"]["id"], json!(w.cust_alice));
    // Customers list for Alice: her own only.
    let c = get(app, &w.alice.1, "/api/v1/data/crm/customer").await.expect(200);
    assert_eq!(ids(&c), vec![w.cust_alice.clone()]);
    // The auditor has no right on customers: expanding answers null, listing is refused.
    let d = get(
        app,
        &w.auditor.1,
        &format!("/api/v1/data/crm/deal/{}?expand=customer", w.deal_bob),
    )
    .await
    .expect(200);
    assert_eq!(d.body["customer"], Value::Null);
    get(app, &w.auditor.1, "/api/v1/data/crm/customer")
        .await
        .expect_problem(403, "permission_denied");
    let _ = (&w.bob, &w.carol);
}

// ---------------------------------------------------------------------------------------------
// Definitions, tokens, open apps
// ---------------------------------------------------------------------------------------------

async fn permissions_are_checked_when_the_app_is_saved(backend: Backend) {
    let app = spawn(backend).await;
    let mut def = crm();
    def["roles"] = json!([{"name": "rep", "label": {"en": "Rep"}, "permissions": {
        "ghost": {"read": true},
        "deal": {"read": true, "transition": ["nowhere"], "fields": {"nope": "hidden"},
                 "scope": {"filter": {"field": "missing", "op": "eq", "value": "$user.id"}}}}}]);
    let r = app
        .post("/api/v1/apps", def)
        .await
        .expect_problem(422, "validation_failed");
    let mut errors = r.errors();
    errors.sort();
    assert_eq!(
        errors,
        vec![
            (
                "roles.rep.permissions.deal.fields.nope".to_string(),
                "unknown_field".to_string()
            ),
            (
                "roles.rep.permissions.deal.scope.filter".to_string(),
                "unknown_field".to_string()
            ),
            (
                "roles.rep.permissions.deal.transition[0]".to_string(),
                "unknown_stage".to_string()
            ),
            ("roles.rep.permissions.ghost".to_string(), "unknown_entity".to_string()),
        ]
    );
    let mut bad = crm();
    bad["roles"][0]["permissions"]["deal"]["scope"] = json!("mine");
    let r = app
        .post("/api/v1/apps", bad)
        .await
        .expect_problem(422, "validation_failed");
    assert!(r.errors().iter().any(|(f, _)| f.contains("scope")), "{}", r.text);
    assert_eq!(
        app.get("/api/v1/apps").await.expect(200).body["data"],
        json!([]),
        "nothing was stored"
    );
}

async fn an_app_where_no_role_has_permissions_stays_open(backend: Backend) {
    let app = spawn(backend).await;
    let mut def = crm();
    for r in def["roles"].as_array_mut().expect("roles") {
        r.as_object_mut().expect("role").remove("permissions");
    }
    app.create_app(def).await;
    let (_, token) = user(&app, "member", None).await;
    let d = call(
        &app,
        &token,
        Method::POST,
        "/api/v1/data/crm/deal",
        Some(json!({"title": "t", "margin": 3})),
    )
    .await
    .expect(201);
    assert_eq!(d.body["margin"], json!(3.0));
    let list = get(&app, &token, "/api/v1/data/crm/deal").await.expect(200);
    assert_eq!(ids(&list).len(), 1);
}

async fn an_api_token_with_a_role_acts_only_with_that_role(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    // The lead's token made for the rep role (which the lead does not hold) reaches nothing.
    let t = call(
        app,
        &w.lead.1,
        Method::POST,
        "/api/v1/auth/tokens",
        Some(json!({"name": "rep-only", "role": "rep"})),
    )
    .await
    .expect(201);
    let token = s(&t.body["token"]).to_string();
    get(app, &token, "/api/v1/data/crm/deal")
        .await
        .expect_problem(403, "permission_denied");
    // The administrator's token for the rep role acts as a rep: own rows, hidden margin.
    app.post("/api/v1/data/crm/deal", json!({"title": "admin's", "margin": 1}))
        .await
        .expect(201);
    let t = app
        .post("/api/v1/auth/tokens", json!({"name": "as-rep", "role": "rep"}))
        .await
        .expect(201);
    let token = s(&t.body["token"]).to_string();
    let list = get(app, &token, "/api/v1/data/crm/deal").await.expect(200);
    assert_eq!(list.body["data"].as_array().map(Vec::len), Some(1), "{}", list.text);
    assert!(list.body["data"][0].get("margin").is_none());
    // A role no app of the tenant declares is refused; one another app declares reaches
    // nothing in this one.
    let r = app
        .post("/api/v1/auth/tokens", json!({"name": "other", "role": "nobody"}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.errors(), vec![("role".to_string(), "unknown_role".to_string())]);
    app.create_app(json!({"name": "hr", "label": {"en": "HR"}, "entities": [
        {"name": "person", "label": {"en": "Person"}, "fields": [
            {"name": "name", "label": {"en": "Name"}, "type": "text"}]}],
        "roles": [{"name": "clerk", "label": {"en": "Clerk"}}]}))
        .await;
    let t = app
        .post("/api/v1/auth/tokens", json!({"name": "other", "role": "clerk"}))
        .await
        .expect(201);
    assert_eq!(t.body["role"], "clerk");
    get(app, s(&t.body["token"]), "/api/v1/data/crm/deal")
        .await
        .expect_problem(403, "permission_denied");
    // Listed with its role, never its secret; revoked, it stops working at once.
    // The last use is recorded off the request path: give it a moment.
    let mut row = Value::Null;
    for _ in 0..40 {
        let listed = app.get("/api/v1/auth/tokens").await.expect(200);
        assert!(!listed.text.contains(&token));
        row = listed.body["data"]
            .as_array()
            .expect("tokens")
            .iter()
            .find(|x| x["name"] == "as-rep")
            .expect("as-rep listed")
            .clone();
        if row["last_used_at"].is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(row["role"], "rep");
    assert!(row["last_used_at"].is_string(), "{row}");
    app.delete(&format!("/api/v1/auth/tokens/{}", s(&row["id"])))
        .await
        .expect(204);
    get(app, &token, "/api/v1/data/crm/deal")
        .await
        .expect_problem(401, "unauthenticated");
}

// ---------------------------------------------------------------------------------------------
// Teams
// ---------------------------------------------------------------------------------------------

async fn teams_nest_refuse_cycles_and_belong_to_their_tenant(backend: Backend) {
    let app = spawn(backend).await;
    let (uid, member) = user(&app, "member", None).await;
    let a = team(&app, "a", None, &[&uid]).await;
    let b = team(&app, "b", Some(&a), &[]).await;
    let c = team(&app, "c", Some("b"), &[]).await;
    let list = app.get("/api/v1/teams").await.expect(200);
    let names: Vec<(&str, Option<&str>)> = list.body["data"]
        .as_array()
        .expect("teams")
        .iter()
        .map(|t| (s(&t["name"]), t["parent"].as_str()))
        .collect();
    assert_eq!(
        names,
        vec![("a", None), ("b", Some(a.as_str())), ("c", Some(b.as_str()))]
    );
    assert_eq!(list.body["data"][0]["members"], json!([uid]));
    // Cycles: a below c (its grandchild), a below itself.
    app.patch(&format!("/api/v1/teams/{a}"), json!({"parent": c}))
        .await
        .expect_problem(409, "conflict");
    app.patch(&format!("/api/v1/teams/{a}"), json!({"parent": a}))
        .await
        .expect_problem(409, "conflict");
    app.patch(&format!("/api/v1/teams/{c}"), json!({"parent": null}))
        .await
        .expect(200);
    // Mistakes.
    app.post("/api/v1/teams", json!({"name": "a"}))
        .await
        .expect_problem(409, "conflict");
    let r = app
        .post("/api/v1/teams", json!({"name": "", "parent": "nope"}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.errors().len(), 2, "{}", r.text);
    call(
        &app,
        &member,
        Method::POST,
        "/api/v1/teams",
        Some(json!({"name": "mine"})),
    )
    .await
    .expect_problem(403, "permission_denied");
    call(
        &app,
        &member,
        Method::POST,
        &format!("/api/v1/teams/{a}/members"),
        Some(json!({"user": uid})),
    )
    .await
    .expect_problem(403, "permission_denied");
    app.post(&format!("/api/v1/teams/{a}/members"), json!({"user": "nobody"}))
        .await
        .expect_problem(422, "validation_failed");
    app.delete(&format!("/api/v1/teams/{a}/members/{uid}"))
        .await
        .expect(204);
    app.delete(&format!("/api/v1/teams/{a}/members/{uid}"))
        .await
        .expect_problem(404, "not_found");
    // Another tenant's administrator sees none of it.
    let other = app.new_tenant("other", "root@other.example").await;
    let theirs = get(&app, &other, "/api/v1/teams").await.expect(200);
    assert_eq!(theirs.body["data"], json!([]));
    get(&app, &other, &format!("/api/v1/teams/{a}"))
        .await
        .expect_problem(404, "not_found");
    call(
        &app,
        &other,
        Method::POST,
        &format!("/api/v1/teams/{a}/members"),
        Some(json!({"user": uid})),
    )
    .await
    .expect_problem(404, "not_found");
    call(
        &app,
        &other,
        Method::PATCH,
        &format!("/api/v1/teams/{a}"),
        Some(json!({"parent": null})),
    )
    .await
    .expect_problem(404, "not_found");
}

// ---------------------------------------------------------------------------------------------
// Login limits, audit trail, handover, hostile input
// ---------------------------------------------------------------------------------------------

async fn failed_logins_are_limited_per_account_with_retry_after(backend: Backend) {
    let app = spawn(backend).await;
    user(&app, "victim", None).await;
    let login = |password: &'static str| {
        app.call_as(
            None,
            Method::POST,
            "/api/v1/auth/login",
            Some(json!({"email": "victim@example.com", "password": password})),
        )
    };
    for _ in 0..10 {
        login("wrong-password").await.expect_problem(401, "unauthenticated");
    }
    let r = login("password-123").await.expect_problem(429, "rate_limited");
    let wait: i64 = r.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=900).contains(&wait), "{wait}");
    // The wait is a member of its own, not dressed up as a field error.
    assert_eq!(r.body["retry_after"], json!(wait), "{}", r.body);
    assert!(r.body.get("errors").is_none(), "{}", r.body);
    // Other accounts from the same address still log in.
    app.login(trellis_tests::ADMIN_EMAIL, trellis_tests::ADMIN_PASSWORD)
        .await;
}

async fn a_handover_moves_every_record_round_robin_or_nothing(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    for i in 0..4 {
        app.create(
            "crm",
            "deal",
            json!({"title": format!("extra {i}"), "owner": w.alice.0, "region": if i < 2 { "east" } else { "west" }}),
        )
        .await;
    }
    // Mistakes write nothing.
    let r = app
        .post("/api/v1/apps/crm/handover", json!({"from": w.alice.0, "to": ["nobody"], "entities": ["ghost"], "filter": {"field": "nope", "op": "eq", "value": 1}}))
        .await
        .expect_problem(422, "validation_failed");
    let fields: Vec<String> = r.errors().into_iter().map(|(f, _)| f).collect();
    assert!(
        fields.contains(&"to[0]".to_string()) && fields.contains(&"entities[0]".to_string()),
        "{fields:?}"
    );
    call(
        app,
        &w.lead.1,
        Method::POST,
        "/api/v1/apps/crm/handover",
        Some(json!({"from": w.alice.0, "to": [w.bob.0]})),
    )
    .await
    .expect_problem(403, "permission_denied");
    // A filtered handover: only the east deals, to Bob.
    let r = app
        .post("/api/v1/apps/crm/handover", json!({"from": w.alice.0, "to": [w.bob.0], "entities": ["deal"], "filter": {"field": "region", "op": "eq", "value": "east"}}))
        .await
        .expect(200);
    assert_eq!(r.body["moved"], 2);
    // The rest (deals and her customer), round-robin to Bob and Carol.
    let r = app
        .post(
            "/api/v1/apps/crm/handover",
            json!({"from": w.alice.0, "to": [w.bob.0, w.carol.0]}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["moved"], 4, "{}", r.text);
    assert_eq!(r.body["by_owner"][&w.bob.0], 2);
    assert_eq!(r.body["by_owner"][&w.carol.0], 2);
    let mine = get(app, &w.alice.1, "/api/v1/data/crm/deal").await.expect(200);
    assert_eq!(ids(&mine), Vec::<String>::new());
    let h = app
        .get(&format!("/api/v1/data/crm/deal/{}/history", w.deal_alice))
        .await
        .expect(200);
    let last = h.body["data"]
        .as_array()
        .expect("events")
        .last()
        .expect("an event")
        .clone();
    assert_eq!(last["changes"]["owner"]["from"], json!(w.alice.0), "{last}");
    let inbox = get(app, &w.carol.1, "/api/v1/notifications").await.expect(200);
    assert_eq!(inbox.body["data"][0]["kind"], "handover", "{}", inbox.text);
    let other = app.new_tenant("other", "root@other.example").await;
    call(
        app,
        &other,
        Method::POST,
        "/api/v1/apps/crm/handover",
        Some(json!({"from": w.bob.0, "to": [w.carol.0]})),
    )
    .await
    .expect_problem(404, "not_found");
}

async fn sql_looking_input_is_data_never_sql(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let evil = "x'); DROP TABLE sys_users; --";
    let t = app.post("/api/v1/teams", json!({"name": evil})).await.expect(201);
    assert_eq!(t.body["name"], evil);
    let d = app
        .create("crm", "deal", json!({"title": evil, "region": "\" OR 1=1 --"}))
        .await;
    assert_eq!(d["title"], evil);
    let filter = json!({"or": [{"field": "title", "op": "eq", "value": evil}, {"field": "region", "op": "eq", "value": "' OR '1'='1"}]}).to_string();
    let found = app
        .get(&format!("/api/v1/data/crm/deal?filter={}", urlencode(&filter)))
        .await
        .expect(200);
    assert_eq!(ids(&found), vec![s(&d["id"]).to_string()]);
    // Alice's scope still holds against a filter trying to widen it.
    let widen = json!({"field": "title", "op": "contains", "value": "%' OR owner IS NOT NULL OR '"}).to_string();
    let r = get(
        app,
        &w.alice.1,
        &format!("/api/v1/data/crm/deal?filter={}", urlencode(&widen)),
    )
    .await
    .expect(200);
    assert_eq!(ids(&r), Vec::<String>::new());
    app.get("/api/v1/users").await.expect(200);
    app.get("/api/v1/data/crm/deal?sort=title;DROP TABLE x")
        .await
        .expect_problem(400, "bad_request");
}

// ---------------------------------------------------------------------------------------------
// Writes stay inside the writer's scope
// ---------------------------------------------------------------------------------------------

async fn deal_count(app: &TestApp) -> usize {
    app.get("/api/v1/data/crm/deal?limit=1000").await.expect(200).body["data"]
        .as_array()
        .map_or(0, Vec::len)
}

async fn an_owner_change_may_not_move_a_record_out_of_the_writers_scope(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let alice = &w.alice.1;
    let path = format!("/api/v1/data/crm/deal/{}", w.deal_alice);
    // Alice (scope own) gives her deal to Bob: refused naming the owner, nothing written.
    let r = call(
        app,
        alice,
        Method::PATCH,
        &path,
        Some(json!({"owner": w.bob.0, "title": "gift"})),
    )
    .await
    .expect_problem(403, "permission_denied");
    assert_eq!(r.errors(), vec![("owner".to_string(), "out_of_scope".to_string())]);
    let d = app.get(&path).await.expect(200);
    assert_eq!(
        (d.body["owner"].clone(), d.body["title"].clone()),
        (json!(w.alice.0), json!("alpha"))
    );
    assert_eq!(d.body["version"], json!(1));
    // Sent back as it is, the owner is fine.
    call(
        app,
        alice,
        Method::PATCH,
        &path,
        Some(json!({"owner": w.alice.0, "title": "alpha 2"})),
    )
    .await
    .expect(200);
    // The same through bulk: all or nothing, named by the operation.
    let before = deal_count(app).await;
    let r = call(
        app,
        alice,
        Method::POST,
        "/api/v1/data/crm/deal/bulk",
        Some(json!({"create": [{"title": "side"}], "update": [{"id": w.deal_alice, "owner": w.bob.0}]})),
    )
    .await
    .expect_problem(403, "permission_denied");
    assert_eq!(
        r.errors(),
        vec![("update[0].owner".to_string(), "out_of_scope".to_string())]
    );
    assert_eq!(deal_count(app).await, before, "the bulk wrote nothing");
    assert_eq!(app.get(&path).await.expect(200).body["owner"], json!(w.alice.0));
    // The lead (scope team: sales and the teams below) moves Carol's deal to Alice, inside the
    // team, but not to the guest, who is in no team.
    let carol_deal = format!("/api/v1/data/crm/deal/{}", w.deal_carol);
    call(
        app,
        &w.lead.1,
        Method::PATCH,
        &carol_deal,
        Some(json!({"owner": w.guest.0})),
    )
    .await
    .expect_problem(403, "permission_denied");
    call(
        app,
        &w.lead.1,
        Method::PATCH,
        &carol_deal,
        Some(json!({"owner": w.alice.0})),
    )
    .await
    .expect(200);
    // A filter scope: the region may not leave it either (named), other fields may change.
    let (_, eve) = user(app, "eve", Some("east")).await;
    let east = call(
        app,
        &eve,
        Method::POST,
        "/api/v1/data/crm/deal",
        Some(json!({"title": "e", "region": "east"})),
    )
    .await
    .expect(201);
    let east_path = format!("/api/v1/data/crm/deal/{}", s(&east.body["id"]));
    let r = call(app, &eve, Method::PATCH, &east_path, Some(json!({"region": "west"})))
        .await
        .expect_problem(403, "permission_denied");
    assert_eq!(r.errors(), vec![("region".to_string(), "out_of_scope".to_string())]);
    call(
        app,
        &eve,
        Method::PATCH,
        &east_path,
        Some(json!({"title": "e2", "owner": w.bob.0})),
    )
    .await
    .expect(200);
    assert_eq!(app.get(&east_path).await.expect(200).body["region"], "east");
}

async fn the_owner_may_be_read_only_for_a_role(backend: Backend) {
    let app = spawn(backend).await;
    let mut def = crm();
    def["roles"][0]["permissions"]["deal"]["fields"]["owner"] = json!("read_only");
    def["roles"][0]["permissions"]["deal"]["scope"] = json!("all");
    let mut bad = def.clone();
    bad["roles"][0]["permissions"]["deal"]["fields"]["owner"] = json!("hidden");
    let r = app
        .post("/api/v1/apps", bad)
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(
        r.errors(),
        vec![(
            "roles.rep.permissions.deal.fields.owner".to_string(),
            "option".to_string()
        )]
    );
    app.create_app(def).await;
    let (alice, token) = user(&app, "alice", Some("rep")).await;
    let (bob, _) = user(&app, "bob", Some("rep")).await;
    let r = call(
        &app,
        &token,
        Method::POST,
        "/api/v1/data/crm/deal",
        Some(json!({"title": "t", "owner": bob})),
    )
    .await
    .expect_problem(403, "permission_denied");
    assert_eq!(r.errors(), vec![("owner".to_string(), "read_only".to_string())]);
    let d = call(
        &app,
        &token,
        Method::POST,
        "/api/v1/data/crm/deal",
        Some(json!({"title": "t"})),
    )
    .await
    .expect(201);
    let path = format!("/api/v1/data/crm/deal/{}", s(&d.body["id"]));
    let r = call(&app, &token, Method::PATCH, &path, Some(json!({"owner": bob})))
        .await
        .expect_problem(403, "permission_denied");
    assert_eq!(r.errors(), vec![("owner".to_string(), "read_only".to_string())]);
    call(
        &app,
        &token,
        Method::PATCH,
        &path,
        Some(json!({"owner": alice, "title": "u"})),
    )
    .await
    .expect(200);
    // The administrator is not limited.
    app.patch(&path, json!({"owner": bob})).await.expect(200);
}

async fn a_created_record_must_fall_inside_the_creators_scope(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let alice = &w.alice.1;
    let before = deal_count(app).await;
    // Scope own: a deal for Bob is refused, naming the owner; her own is fine.
    let r = call(
        app,
        alice,
        Method::POST,
        "/api/v1/data/crm/deal",
        Some(json!({"title": "for bob", "owner": w.bob.0})),
    )
    .await
    .expect_problem(403, "permission_denied");
    assert_eq!(r.errors(), vec![("owner".to_string(), "out_of_scope".to_string())]);
    assert_eq!(deal_count(app).await, before);
    call(
        app,
        alice,
        Method::POST,
        "/api/v1/data/crm/deal",
        Some(json!({"title": "mine", "owner": w.alice.0})),
    )
    .await
    .expect(201);
    // Bulk: one create outside the scope and nothing is written.
    let r = call(
        app,
        alice,
        Method::POST,
        "/api/v1/data/crm/deal/bulk",
        Some(json!({"create": [{"title": "ok"}, {"title": "not ok", "owner": w.carol.0}]})),
    )
    .await
    .expect_problem(403, "permission_denied");
    assert_eq!(
        r.errors(),
        vec![("create[1].owner".to_string(), "out_of_scope".to_string())]
    );
    assert_eq!(deal_count(app).await, before + 1);
    // A filter scope: the new values must match it.
    let (_, eve) = user(app, "eve", Some("east")).await;
    let r = call(
        app,
        &eve,
        Method::POST,
        "/api/v1/data/crm/deal",
        Some(json!({"title": "w", "region": "west"})),
    )
    .await
    .expect_problem(403, "permission_denied");
    assert_eq!(r.errors(), vec![("region".to_string(), "out_of_scope".to_string())]);
    call(
        app,
        &eve,
        Method::POST,
        "/api/v1/data/crm/deal",
        Some(json!({"title": "w"})),
    )
    .await
    .expect_problem(403, "permission_denied");
    call(
        app,
        &eve,
        Method::POST,
        "/api/v1/data/crm/deal",
        Some(json!({"title": "e", "region": "east"})),
    )
    .await
    .expect(201);
    assert_eq!(deal_count(app).await, before + 2);
}

async fn a_rule_creates_only_inside_the_scope_of_the_user_it_acts_for(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    app.post(
        "/api/v1/apps/crm/rules",
        json!({"name": "spawn", "trigger": {"type": "record_updated", "entity": "deal"},
               "condition": "record.title == \"spawn\"",
               "actions": [{"type": "create_record", "entity": "deal",
                            "values": {"title": "child", "owner": w.bob.0}}]}),
    )
    .await
    .expect(200);
    let children = || async {
        let f = json!({"field": "title", "op": "eq", "value": "child"}).to_string();
        ids(&app
            .get(&format!("/api/v1/data/crm/deal?filter={}", urlencode(&f)))
            .await
            .expect(200))
        .len()
    };
    // Alice's change triggers it: the rule acts as Alice, whose scope is her own deals.
    call(
        app,
        &w.alice.1,
        Method::PATCH,
        &format!("/api/v1/data/crm/deal/{}", w.deal_alice),
        Some(json!({"title": "spawn"})),
    )
    .await
    .expect(200);
    let runs = app
        .eventually("/api/v1/apps/crm/rules/spawn/runs", |b| {
            b["data"][0]["status"] == "failed"
        })
        .await;
    assert!(
        runs["data"][0]["actions"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("scope")),
        "{runs}"
    );
    assert_eq!(children().await, 0);
    // The administrator's change: the record is created for Bob.
    app.patch(
        &format!("/api/v1/data/crm/deal/{}", w.deal_bob),
        json!({"title": "spawn"}),
    )
    .await
    .expect(200);
    app.eventually("/api/v1/apps/crm/rules/spawn/runs", |b| {
        b["data"]
            .as_array()
            .is_some_and(|a| a.iter().any(|r| r["status"] == "done"))
    })
    .await;
    assert_eq!(children().await, 1);
}

// ---------------------------------------------------------------------------------------------
// Approvals
// ---------------------------------------------------------------------------------------------

async fn approvals_are_seen_only_by_those_who_may_read_their_record(backend: Backend) {
    let app = spawn(backend).await;
    let mut def = crm();
    def["entities"][1]["pipeline"]["transitions"][0]["approval"] = json!({"roles": ["lead", "auditor"]});
    app.create_app(def).await;
    let (alice_id, alice) = user(&app, "alice", Some("rep")).await;
    let (_, bob) = user(&app, "bob", Some("rep")).await;
    let (lead_id, lead) = user(&app, "lead", Some("lead")).await;
    let (_, auditor) = user(&app, "auditor", Some("auditor")).await;
    team(&app, "north", None, &[&alice_id, &lead_id]).await;
    let d = app
        .create(
            "crm",
            "deal",
            json!({"title": "alpha", "owner": alice_id, "margin": 3, "secret": "the password"}),
        )
        .await;
    let moved = call(
        &app,
        &alice,
        Method::POST,
        &format!("/api/v1/data/crm/deal/{}/transition", s(&d["id"])),
        Some(json!({"to": "won"})),
    )
    .await
    .expect(202);
    let id = s(&moved.body["approval"]["id"]).to_string();
    let one = format!("/api/v1/approvals/{id}");
    // Bob may not read Alice's deal; the auditor approves but reads only deals naming them.
    for (who, token) in [("bob", &bob), ("auditor", &auditor)] {
        let list = get(&app, token, "/api/v1/approvals").await.expect(200);
        assert_eq!(list.body["data"], json!([]), "{who}: {}", list.text);
        get(&app, token, &one).await.expect_problem(404, "not_found");
        call(&app, token, Method::POST, &format!("{one}/approve"), Some(json!({})))
            .await
            .expect_problem(404, "not_found");
        call(
            &app,
            token,
            Method::POST,
            &format!("{one}/reject"),
            Some(json!({"comment": "no"})),
        )
        .await
        .expect_problem(404, "not_found");
    }
    // Alice (who asked) and the lead (her team) see it, with no field values in it.
    for (who, token) in [("alice", &alice), ("lead", &lead)] {
        let list = get(&app, token, "/api/v1/approvals").await.expect(200);
        assert_eq!(
            list.body["data"].as_array().map(Vec::len),
            Some(1),
            "{who}: {}",
            list.text
        );
        let a = get(&app, token, &one).await.expect(200);
        assert!(!a.text.contains("password") && !a.text.contains("margin"), "{}", a.text);
    }
    let mine = get(&app, &alice, "/api/v1/approvals?mine=true").await.expect(200);
    assert_eq!(mine.body["data"], json!([]), "Alice may not decide her own request");
    // Seeing is not deciding: Alice is no approver; the lead is.
    call(&app, &alice, Method::POST, &format!("{one}/approve"), Some(json!({})))
        .await
        .expect_problem(403, "permission_denied");
    call(&app, &lead, Method::POST, &format!("{one}/approve"), Some(json!({})))
        .await
        .expect(200);
    assert_eq!(get(&app, &lead, &one).await.expect(200).body["status"], "approved");
    // The administrator sees every approval.
    let all = app.get("/api/v1/approvals?status=approved").await.expect(200);
    assert_eq!(all.body["data"].as_array().map(Vec::len), Some(1));
}

// ---------------------------------------------------------------------------------------------
// Scripts see the user's roles and team
// ---------------------------------------------------------------------------------------------

async fn scripts_see_the_users_roles_in_the_app_and_first_team(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    // A validation rule: only a lead (or an administrator) may set a big amount.
    app.patch(
        "/api/v1/apps/crm/entities/deal",
        json!({"validations": [{"name": "big_needs_lead", "when": "record.amount != () && record.amount > 1000",
            "assert": "\"lead\" in user.roles || \"admin\" in user.roles",
            "message": {"en": "Big deals are for leads"}, "field": "amount"}]}),
    )
    .await
    .expect(200);
    let alice_deal = format!("/api/v1/data/crm/deal/{}", w.deal_alice);
    let r = call(
        app,
        &w.alice.1,
        Method::PATCH,
        &alice_deal,
        Some(json!({"amount": 5000})),
    )
    .await
    .expect_problem(422, "validation_failed");
    assert_eq!(r.errors(), vec![("amount".to_string(), "big_needs_lead".to_string())]);
    call(
        app,
        &w.north_lead.1,
        Method::PATCH,
        &alice_deal,
        Some(json!({"amount": 5000})),
    )
    .await
    .expect(200);
    app.patch(&alice_deal, json!({"amount": 6000})).await.expect(200);
    // A pipeline guard: only the north team may win deals.
    let teams = app.get("/api/v1/teams").await.expect(200).body;
    let north = teams["data"]
        .as_array()
        .expect("teams")
        .iter()
        .find(|t| t["name"] == "north")
        .map(|t| s(&t["id"]).to_string())
        .expect("north");
    let mut pipeline = crm()["entities"][1]["pipeline"].clone();
    pipeline["transitions"][0]["requires"] = json!({"conditions": [{"name": "north_only",
        "assert": format!("user.team == \"{north}\""), "message": {"en": "North wins deals"}}]});
    app.put("/api/v1/apps/crm/entities/deal/pipeline", pipeline)
        .await
        .expect(200);
    let carol_deal = format!("/api/v1/data/crm/deal/{}", w.deal_carol);
    let r = call(
        app,
        &w.carol.1,
        Method::POST,
        &format!("{carol_deal}/transition"),
        Some(json!({"to": "won"})),
    )
    .await
    .expect_problem(409, "transition_blocked");
    assert_eq!(
        r.errors(),
        vec![("conditions.north_only".to_string(), "condition_failed".to_string())]
    );
    let t = get(app, &w.carol.1, &format!("{carol_deal}/transitions"))
        .await
        .expect(200);
    assert_eq!(t.body["transitions"][0]["ready"], json!(false), "{}", t.text);
    call(
        app,
        &w.alice.1,
        Method::POST,
        &format!("{alice_deal}/transition"),
        Some(json!({"to": "won"})),
    )
    .await
    .expect(200);
}

// ---------------------------------------------------------------------------------------------
// Notifications
// ---------------------------------------------------------------------------------------------

async fn a_rule_notification_shows_each_recipient_only_fields_they_see(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    app.post(
        "/api/v1/apps/crm/rules",
        json!({"name": "tell", "trigger": {"type": "field_changed", "entity": "deal", "field": "title", "to": "ping"},
               "actions": [{"type": "notify", "to": {"owner": true, "users": [w.lead.0, w.guest.0]},
                            "title": {"en": "Deal {{record.title}} margin {{record.margin}}"},
                            "body": "was {{old.secret}}"}]}),
    )
    .await
    .expect(200);
    app.patch(
        &format!("/api/v1/data/crm/deal/{}", w.deal_alice),
        json!({"title": "ping"}),
    )
    .await
    .expect(200);
    app.eventually("/api/v1/apps/crm/rules/tell/runs", |b| b["data"][0]["status"] == "done")
        .await;
    let inbox = |token: String| async move {
        let r = get(app, &token, "/api/v1/notifications").await.expect(200);
        let n = r.body["data"]
            .as_array()
            .and_then(|a| a.iter().find(|n| n["kind"] == "rule").cloned())
            .unwrap_or_else(|| panic!("no rule notification: {}", r.text));
        (s(&n["title"]["en"]).to_string(), s(&n["data"]["body"]).to_string())
    };
    // Alice (margin and secret hidden) and the guest (no read right) get the texts without them.
    for token in [w.alice.1.clone(), w.guest.1.clone()] {
        let (title, body) = inbox(token).await;
        assert!(title.starts_with("Deal ") && !title.contains("30"), "{title}");
        assert!(!body.contains("password"), "{body}");
    }
    let (title, body) = inbox(w.lead.1.clone()).await;
    assert!(title.starts_with("Deal ping margin 30"), "{title}");
    assert_eq!(body, "was alpha password");
}

async fn a_role_given_or_taken_holds_from_the_users_next_request(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let (alice, token) = (&w.alice.0, &w.alice.1);
    let r = get(app, token, "/api/v1/data/crm/deal").await.expect(200);
    assert_eq!(ids(&r), sorted(vec![&w.deal_alice]));
    app.delete(&format!("/api/v1/apps/crm/roles/rep/members/{alice}"))
        .await
        .expect(204);
    get(app, token, "/api/v1/data/crm/deal")
        .await
        .expect_problem(403, "permission_denied");
    app.post("/api/v1/apps/crm/roles/lead/members", json!({"user": alice}))
        .await
        .expect(200);
    // As a lead, the deals of her team (north): hers and bob's.
    let r = get(app, token, "/api/v1/data/crm/deal").await.expect(200);
    assert_eq!(ids(&r), sorted(vec![&w.deal_alice, &w.deal_bob]));
}

/// A field a role hides stays hidden when it is renamed, and a role's scope filter follows it:
/// renaming it used to be refused (the role named a field that no longer existed).
async fn a_renamed_field_stays_hidden_and_in_the_scope(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(json!({
        "name": "crm", "label": {"en": "CRM"},
        "entities": [{"name": "lead", "label": {"en": "Lead"}, "fields": [
            {"name": "title", "label": {"en": "Title"}, "type": "text"},
            {"name": "region", "label": {"en": "Region"}, "type": "text"},
            {"name": "phone", "label": {"en": "Phone"}, "type": "text"}]}],
        "roles": [{"name": "rep", "label": {"en": "Rep"}, "permissions": {"lead": {
            "read": true, "fields": {"phone": "hidden"},
            "scope": {"filter": {"field": "region", "op": "eq", "value": "east"}}}}}]
    }))
    .await;
    app.create(
        "crm",
        "lead",
        json!({"title": "East", "region": "east", "phone": "138"}),
    )
    .await;
    app.create(
        "crm",
        "lead",
        json!({"title": "West", "region": "west", "phone": "139"}),
    )
    .await;
    app.patch("/api/v1/apps/crm/entities/lead/fields/phone", json!({"name": "mobile"}))
        .await
        .expect(200);
    app.patch("/api/v1/apps/crm/entities/lead/fields/region", json!({"name": "area"}))
        .await
        .expect(200);
    let role = app.get("/api/v1/apps/crm/roles/rep").await.expect(200).body;
    assert_eq!(
        role["permissions"]["lead"]["fields"],
        json!({"mobile": "hidden"}),
        "{role}"
    );
    assert_eq!(role["permissions"]["lead"]["scope"]["filter"]["field"], "area");
    let (_, rep) = app.user("crm", "rita", Some("rep")).await;
    let list = app
        .call_as(Some(&rep), Method::GET, "/api/v1/data/crm/lead", None)
        .await
        .expect(200)
        .body;
    let rows = list["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{list}");
    assert_eq!(rows[0]["title"], "East");
    assert!(
        rows[0].get("mobile").is_none() && rows[0].get("phone").is_none(),
        "{list}"
    );
}

on_both!(
    a_renamed_field_stays_hidden_and_in_the_scope,
    every_read_path_reaches_the_same_rows,
    writes_outside_the_scope_answer_404_and_missing_rights_403,
    hidden_fields_are_in_no_answer_and_unknown_to_queries,
    expanded_relations_outside_the_scope_are_null,
    permissions_are_checked_when_the_app_is_saved,
    an_app_where_no_role_has_permissions_stays_open,
    an_api_token_with_a_role_acts_only_with_that_role,
    teams_nest_refuse_cycles_and_belong_to_their_tenant,
    failed_logins_are_limited_per_account_with_retry_after,
    a_handover_moves_every_record_round_robin_or_nothing,
    sql_looking_input_is_data_never_sql,
    an_owner_change_may_not_move_a_record_out_of_the_writers_scope,
    the_owner_may_be_read_only_for_a_role,
    a_created_record_must_fall_inside_the_creators_scope,
    a_rule_creates_only_inside_the_scope_of_the_user_it_acts_for,
    approvals_are_seen_only_by_those_who_may_read_their_record,
    scripts_see_the_users_roles_in_the_app_and_first_team,
    a_rule_notification_shows_each_recipient_only_fields_they_see,
    a_role_given_or_taken_holds_from_the_users_next_request,
);
