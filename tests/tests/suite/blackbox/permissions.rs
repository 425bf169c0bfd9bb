//! Role permissions over HTTP: one predicate for every path. Each test runs on SQLite and on
//! PostgreSQL. The matrix: reps see and change their own deals, leads their teams' (teams nest),
//! auditors the deals a filter names; a margin field is hidden from reps and a region is read-only.

use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, Resp, TestApp, on_both, spawn};

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

async fn call(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
    app.call_as(Some(token), method, path, body).await
}

async fn get(app: &TestApp, token: &str, path: &str) -> Resp {
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
struct World {
    app: TestApp,
    alice: (String, String),
    bob: (String, String),
    carol: (String, String),
    lead: (String, String),
    north_lead: (String, String),
    auditor: (String, String),
    guest: (String, String),
    deal_alice: String,
    deal_bob: String,
    deal_carol: String,
    cust_alice: String,
    cust_other: String,
}

async fn user(app: &TestApp, name: &str, role: Option<&str>) -> (String, String) {
    app.user("crm", name, role).await
}

async fn team(app: &TestApp, name: &str, parent: Option<&str>, members: &[&str]) -> String {
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

async fn world(backend: Backend) -> World {
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

fn urlencode(s: &str) -> String {
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

async fn the_audit_trail_holds_definition_role_and_record_changes(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    // With the dispatcher stopped, a new record's event stays in the outbox (the app has a rule,
    // so its events are dispatched, not written done): retention must keep it. The events of
    // `world` were dispatched, so retention may drop them.
    app.post(
        "/api/v1/apps/crm/rules",
        json!({"name": "keep", "trigger": {"type": "record_created", "entity": "customer"},
               "actions": [{"type": "notify", "to": {"owner": true}, "title": {"en": "new customer"}}]}),
    )
    .await
    .expect(200);
    app.engine().stop_automation();
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    app.create("crm", "customer", json!({"name": "Undispatched"})).await;
    app.post(
        "/api/v1/apps/crm/entities/deal/fields",
        json!({"name": "note", "label": {"en": "Note"}, "type": "text"}),
    )
    .await
    .expect(201);
    let t = app.post("/api/v1/auth/tokens", json!({"name": "ci"})).await.expect(201);
    app.delete(&format!("/api/v1/auth/tokens/{}", s(&t.body["id"])))
        .await
        .expect(204);
    let trail = app.get("/api/v1/apps/crm/audit?limit=1000").await.expect(200);
    let kinds: Vec<(&str, &str)> = trail.body["data"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| (s(&e["entity"]), s(&e["kind"])))
        .collect();
    for want in [
        ("$app", "app_created"),
        ("$app", "app_changed"),
        ("$roles", "role_member_added"),
        ("deal", "created"),
        ("customer", "created"),
    ] {
        assert!(kinds.contains(&want), "{want:?} in {kinds:?}");
    }
    assert_eq!(kinds[0], ("$app", "app_changed"), "newest first");
    assert!(trail.body["data"][0]["plan"].is_array(), "{}", trail.body["data"][0]);
    // Paging.
    let page = app.get("/api/v1/apps/crm/audit?limit=2").await.expect(200);
    let next = s(&page.body["next_cursor"]).to_string();
    let rest = app
        .get(&format!("/api/v1/apps/crm/audit?limit=2&cursor={next}"))
        .await
        .expect(200);
    assert_eq!(rest.body["data"][0]["id"], trail.body["data"][2]["id"]);
    // Administrators only; other tenants do not find the app.
    get(app, &w.lead.1, "/api/v1/apps/crm/audit")
        .await
        .expect_problem(403, "permission_denied");
    let other = app.new_tenant("other", "root@other.example").await;
    get(app, &other, "/api/v1/apps/crm/audit")
        .await
        .expect_problem(404, "not_found");
    // Retention: audit events are dispatched at once and go after the retention; record events
    // the automation outbox has not dispatched stay 7 more days.
    app.put("/api/v1/settings", json!({"audit_retention_days": 0}))
        .await
        .expect_problem(422, "validation_failed");
    call(
        app,
        &w.lead.1,
        Method::PUT,
        "/api/v1/settings",
        Some(json!({"audit_retention_days": 5})),
    )
    .await
    .expect_problem(403, "permission_denied");
    let set = app
        .put("/api/v1/settings", json!({"audit_retention_days": 5}))
        .await
        .expect(200);
    assert_eq!(set.body["audit_retention_days"], 5);
    let now = trellis_tests::chrono::Utc::now();
    app.engine()
        .purge_events(now + trellis_tests::chrono::Duration::days(6))
        .await
        .expect("purge");
    let left = app.get("/api/v1/apps/crm/audit?limit=1000").await.expect(200);
    let kinds: Vec<&str> = left.body["data"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| s(&e["kind"]))
        .collect();
    assert!(!kinds.is_empty() && kinds.iter().all(|k| *k == "created"), "{kinds:?}");
    app.engine()
        .purge_events(now + trellis_tests::chrono::Duration::days(13))
        .await
        .expect("purge");
    let left = app.get("/api/v1/apps/crm/audit").await.expect(200);
    assert_eq!(left.body["data"], json!([]));
    let _ = other;
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

/// A team scope that keeps 1 row in 6 of a table whose statistics say so (on PostgreSQL the list
/// then reads the team's rows first and sorts them): sorted, filtered pages, by cursor and by
/// offset, hold exactly the team's matching rows in the list order, and a filter the team's
/// rows never match answers an empty page.
async fn a_selective_team_scope_pages_exactly_the_teams_rows_in_order(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(json!({
        "name": "sales", "label": {"en": "Sales"},
        "entities": [{"name": "lead", "label": {"en": "Lead"}, "fields": [
            {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
            {"name": "amount", "label": {"en": "Amount"}, "type": "integer", "indexed": true},
            {"name": "region", "label": {"en": "Region"}, "type": "text", "indexed": true}]}],
        "roles": [{"name": "seller", "label": {"en": "Seller"},
                   "permissions": {"lead": {"read": true, "scope": "team"}}}]
    }))
    .await;
    let mut users = Vec::new();
    for i in 0..12 {
        let email = format!("seller{i}@example.com");
        let u = app
            .post(
                "/api/v1/users",
                json!({"email": email, "name": format!("Seller {i}"), "password": "password-123"}),
            )
            .await
            .expect(201)
            .body;
        users.push(s(&u["id"]).to_string());
    }
    app.post("/api/v1/apps/sales/roles/seller/members", json!({"user": users[0]}))
        .await
        .expect(200);
    team(&app, "mine", None, &[&users[0], &users[1]]).await;
    let rest: Vec<&str> = users[2..].iter().map(String::as_str).collect();
    team(&app, "others", None, &rest).await;
    // 240 leads round the 12 users; amounts repeat and some are empty. The team's rows (users
    // 0 and 1) are all in regions r0 and r1, so `region eq r2` matches 60 rows, none of theirs.
    let amount = |i: usize| (i % 9 != 4).then_some((i * 7 % 11) as i64 * 10);
    let created = app
        .post(
            "/api/v1/data/sales/lead/bulk",
            json!({"create": (0..240).map(|i| json!({
                "title": format!("lead {i}"),
                "amount": amount(i),
                "region": format!("r{}", i % 4),
                "owner": users[i % 12],
            })).collect::<Vec<_>>()}),
        )
        .await
        .expect(200)
        .body;
    let ids: Vec<String> = created["created"]
        .as_array()
        .unwrap_or_else(|| panic!("created: {created}"))
        .iter()
        .map(|r| s(&r["id"]).to_string())
        .collect();
    assert_eq!(ids.len(), 240);
    if backend == Backend::Postgres {
        // The statistics the list's plan is chosen by (a bulk write refreshes them in the
        // background; here they must be there before the first list).
        let db = &app.engine().db;
        db.raw_execute_for_tests("ANALYZE").await.unwrap();
        let table: String = app
            .sql_rows(
                "SELECT relname FROM pg_class WHERE relname LIKE 'rec\\_%' AND relkind = 'r'",
                Vec::new(),
            )
            .await
            .unwrap()
            .first()
            .expect("the lead table")
            .try_get("", "relname")
            .unwrap();
        // They say what the list's plan is chosen by: 240 rows, 40 of them the team's.
        let stats = trellis_tests::trellis_store::records::owner_stats(&db.read, &table)
            .await
            .unwrap()
            .expect("statistics after ANALYZE");
        assert_eq!(stats.rows, 240.0);
        let team = stats.rows_owned_by([users[0].as_str(), users[1].as_str()]);
        assert!((team - 40.0).abs() < 1.0, "the team's rows: {team}");
    }
    let seller = app.login("seller0@example.com", "password-123").await;
    let mine = |i: &usize| i % 12 < 2;
    // The team's leads a filter keeps, in the list order: empty amounts smallest, ties by id in
    // the direction of the sort.
    let expected = |keep: &dyn Fn(usize) -> bool, desc: bool| -> Vec<String> {
        let mut v: Vec<(Option<i64>, &String)> = (0..240)
            .filter(|i| mine(i) && keep(*i))
            .map(|i| (amount(i), &ids[i]))
            .collect();
        v.sort();
        if desc {
            v.reverse();
        }
        v.into_iter().map(|(_, id)| id.clone()).collect()
    };
    let list = async |filter: &Value, sort: &str, extra: &str| -> Resp {
        get(
            &app,
            &seller,
            &format!(
                "/api/v1/data/sales/lead?filter={}&sort={sort}&limit=4{extra}",
                urlencode(&filter.to_string())
            ),
        )
        .await
        .expect(200)
    };
    let page_ids = |r: &Resp| -> Vec<String> {
        let data = r.body["data"]
            .as_array()
            .unwrap_or_else(|| panic!("a page: {}", r.text));
        assert!(data.len() <= 4, "a page holds at most the limit: {}", r.text);
        data.iter().map(|x| s(&x["id"]).to_string()).collect()
    };
    // Every page by cursor, and every page by offset.
    let walk = async |filter: &Value, sort: &str, extra: &str| -> (Vec<String>, Vec<String>) {
        let (mut by_cursor, mut cursor) = (Vec::new(), String::new());
        loop {
            let r = list(filter, sort, &format!("{extra}{cursor}")).await;
            by_cursor.extend(page_ids(&r));
            match r.body["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={}", urlencode(c)),
                None => break,
            }
        }
        let mut by_offset = Vec::new();
        loop {
            let r = list(filter, sort, &format!("{extra}&offset={}", by_offset.len())).await;
            let page = page_ids(&r);
            by_offset.extend(page.iter().cloned());
            if page.len() < 4 {
                break;
            }
        }
        (by_cursor, by_offset)
    };

    let some_regions = json!({"and": [
        {"field": "region", "op": "in", "value": ["r0", "r1", "r2"]},
        {"field": "amount", "op": "gte", "value": 30}]});
    let want = expected(&|i| amount(i).is_some_and(|a| a >= 30), true);
    assert!(want.len() > 12, "several pages: {}", want.len());
    for extra in ["", "&fields=title"] {
        let (by_cursor, by_offset) = walk(&some_regions, "-amount", extra).await;
        assert_eq!(by_cursor, want, "by cursor {extra}");
        assert_eq!(by_offset, want, "by offset {extra}");
    }
    let r = list(&some_regions, "-amount", "&count=true").await;
    assert_eq!(r.body["total"], json!(want.len()));
    assert_eq!(page_ids(&r), want[..4]);

    // Ascending: the empty amounts first.
    let region_r1 = json!({"field": "region", "op": "eq", "value": "r1"});
    let want = expected(&|i| i % 4 == 1, false);
    assert_eq!(want.len(), 20);
    assert!(amount(ids.iter().position(|id| *id == want[0]).unwrap()).is_none());
    let (by_cursor, by_offset) = walk(&region_r1, "amount", "").await;
    assert_eq!(by_cursor, want);
    assert_eq!(by_offset, want);

    // A filter none of the team's rows match: an empty answer (60 rows match it in the table).
    let region_r2 = json!({"field": "region", "op": "eq", "value": "r2"});
    let r = list(&region_r2, "-amount", "&count=true").await;
    assert_eq!(page_ids(&r), Vec::<String>::new());
    assert_eq!(r.body["next_cursor"], Value::Null);
    assert_eq!(r.body["total"], json!(0));
    let admin = app
        .get(&format!(
            "/api/v1/data/sales/lead?filter={}&count=true&limit=1",
            urlencode(&region_r2.to_string())
        ))
        .await
        .expect(200);
    assert_eq!(admin.body["total"], json!(60));
}

/// The names of the owner-keyed indexes in the database.
async fn owner_index_names(app: &TestApp) -> Vec<String> {
    let sql = if app.engine().db.is_sqlite() {
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ixo\\_%' ESCAPE '\\'"
    } else {
        "SELECT indexname AS name FROM pg_indexes WHERE indexname LIKE 'ixo\\_%' ESCAPE '\\'"
    };
    let rows = app.sql_rows(sql, Vec::new()).await.unwrap();
    rows.iter().map(|r| r.try_get("", "name").unwrap()).collect()
}

/// The owner-keyed indexes by the column they hold after `owner`: system columns by name,
/// fields as `field`.
async fn owner_indexes(app: &TestApp) -> Vec<String> {
    let mut out: Vec<String> = owner_index_names(app)
        .await
        .iter()
        .map(|name| {
            if name.contains("_f_") {
                return "field".to_string();
            }
            let system = ["created_at", "updated_at", "stage"]
                .into_iter()
                .find(|c| name.ends_with(c));
            system
                .unwrap_or_else(|| panic!("an owner index of what? {name}"))
                .to_string()
        })
        .collect();
    out.sort();
    out
}

async fn owner_keyed_indexes_follow_the_roles_and_survive_field_changes(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(json!({
        "name": "sales", "label": {"en": "Sales"},
        "entities": [{"name": "lead", "label": {"en": "Lead"}, "fields": [
            {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
            {"name": "amount", "label": {"en": "Amount"}, "type": "integer", "indexed": true},
            {"name": "region", "label": {"en": "Region"}, "type": "text", "indexed": true},
            {"name": "note", "label": {"en": "Note"}, "type": "text"}]},
            {"name": "memo", "label": {"en": "Memo"}}],
        "roles": [{"name": "seller", "label": {"en": "Seller"},
                   "permissions": {"lead": {"read": true, "scope": "team"}, "memo": {"read": true}}}]
    }))
    .await;
    let system = ["created_at", "stage", "updated_at"].map(str::to_string);
    let with_fields = |n: usize| {
        let mut v: Vec<String> = std::iter::repeat_n("field".to_string(), n)
            .chain(system.iter().cloned())
            .collect();
        v.sort();
        v
    };
    // The lead's (3 system columns, amount, region); none for the memo, which every role reads whole.
    assert_eq!(owner_indexes(&app).await, with_fields(2));

    let (s0, seller) = app.user("sales", "seller0", Some("seller")).await;
    let (s1, _) = app.user("sales", "seller1", None).await;
    let (s2, _) = app.user("sales", "seller2", None).await;
    team(&app, "mine", None, &[&s0, &s1]).await;
    let owners = [&s0, &s1, &s2];
    app.post(
        "/api/v1/data/sales/lead/bulk",
        json!({"create": (0..30).map(|i| json!({
            "title": format!("lead {i}"), "amount": i * 10, "region": format!("r{}", i % 3), "owner": owners[i % 3]
        })).collect::<Vec<_>>()}),
    )
    .await
    .expect(200);

    // Dropping an indexed field drops its owner index first (SQLite refuses to drop an indexed
    // column); converting one makes it again over the new column.
    app.delete("/api/v1/apps/sales/entities/lead/fields/region")
        .await
        .expect(200);
    assert_eq!(owner_indexes(&app).await, with_fields(1));
    app.patch(
        "/api/v1/apps/sales/entities/lead/fields/amount",
        json!({"type": "decimal"}),
    )
    .await
    .expect(200);
    assert_eq!(owner_indexes(&app).await, with_fields(1));
    app.post(
        "/api/v1/apps/sales/entities/lead/fields",
        json!({"name": "city", "label": {"en": "City"}, "type": "text", "indexed": true}),
    )
    .await
    .expect(201);
    assert_eq!(owner_indexes(&app).await, with_fields(2));

    // The seller pages the team's rows over the new indexes: leads of seller 0 and 1.
    let filter = urlencode(&json!({"field": "amount", "op": "gte", "value": 100}).to_string());
    let r = get(
        &app,
        &seller,
        &format!("/api/v1/data/sales/lead?filter={filter}&sort=-amount&limit=50"),
    )
    .await
    .expect(200);
    let amounts: Vec<String> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["amount"].to_string())
        .collect();
    let want: Vec<String> = (10..30)
        .rev()
        .filter(|i| i % 3 != 2)
        .map(|i| json!((i * 10) as f64).to_string())
        .collect();
    assert_eq!(amounts, want);

    // A role without an owner scope needs none of them; own is an owner scope again.
    let roles = |scope: &str| {
        json!({"roles": [{"name": "seller", "label": {"en": "Seller"},
                          "permissions": {"lead": {"read": true, "scope": scope}, "memo": {"read": true}}}]})
    };
    app.patch("/api/v1/apps/sales", roles("all")).await.expect(200);
    assert_eq!(owner_indexes(&app).await, Vec::<String>::new());
    app.patch("/api/v1/apps/sales", roles("own")).await.expect(200);
    assert_eq!(owner_indexes(&app).await, with_fields(2));
}

async fn apps_saved_before_owner_keyed_indexes_get_them_at_upgrade(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(json!({
        "name": "sales", "label": {"en": "Sales"},
        "entities": [{"name": "lead", "label": {"en": "Lead"}, "fields": [
            {"name": "amount", "label": {"en": "Amount"}, "type": "integer", "indexed": true}]}],
        "roles": [{"name": "seller", "label": {"en": "Seller"},
                   "permissions": {"lead": {"read": true, "scope": "own"}}}]
    }))
    .await;
    let made = owner_indexes(&app).await;
    assert_eq!(made.len(), 4, "{made:?}");
    // The database as a build of schema version 4 left it: the app without its owner indexes.
    let db = &app.engine().db;
    for name in owner_index_names(&app).await {
        db.raw_execute_for_tests(&format!("DROP INDEX \"{name}\""))
            .await
            .unwrap();
    }
    db.raw_execute_for_tests("UPDATE sys_meta SET value = '4' WHERE key = 'schema_version'")
        .await
        .unwrap();
    assert!(owner_indexes(&app).await.is_empty());
    let app = app.restart().await;
    assert_eq!(owner_indexes(&app).await, made);
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

/// The declared indexes in the database, by name without the table, each with its columns in
/// order, fields by name (`ixc_<table>_board` → `("ixc_board", "phase,amount,id")`).
async fn declared_indexes(app: &TestApp, entity: &str) -> Vec<(String, String)> {
    let sql = if app.engine().db.is_sqlite() {
        "SELECT m.name AS name, (SELECT group_concat(c, ',') FROM \
           (SELECT name AS c FROM pragma_index_info(m.name) ORDER BY seqno)) AS cols \
         FROM sqlite_master m WHERE m.type = 'index' AND m.name LIKE 'ixc%'"
    } else {
        "SELECT i.relname AS name, string_agg(a.attname, ',' ORDER BY k.ord) AS cols \
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
         CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord) \
         JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum \
         WHERE i.relname LIKE 'ixc%' GROUP BY i.relname"
    };
    let rows = app.sql_rows(sql, Vec::new()).await.unwrap();
    let def = app
        .get(&format!("/api/v1/apps/crm/entities/{entity}"))
        .await
        .expect(200)
        .body;
    let field_of = |column: &str| {
        def["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| format!("f_{}", s(&f["id"])) == column)
            .map(|f| s(&f["name"]).to_string())
            .unwrap_or_else(|| column.to_string())
    };
    let table = format!("rec_{}", s(&def["id"]));
    let mut out: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            let name: String = r.try_get("", "name").unwrap();
            let cols: String = r.try_get("", "cols").unwrap();
            let cols: Vec<String> = cols.split(',').map(field_of).collect();
            (name.replace(&format!("_{table}"), ""), cols.join(","))
        })
        .collect();
    out.sort();
    out
}

async fn declared_indexes_serve_scoped_lists_and_follow_field_changes(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(json!({
        "name": "crm", "label": {"en": "CRM"},
        "entities": [{"name": "deal", "label": {"en": "Deal"}, "fields": [
            {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
            {"name": "phase", "label": {"en": "Phase"}, "type": "text"},
            {"name": "amount", "label": {"en": "Amount"}, "type": "integer"}],
            "indexes": [{"name": "board", "fields": ["phase", "amount"]},
                        {"name": "recent", "fields": ["owner", "updated_at"]}]}],
        "roles": [{"name": "rep", "label": {"en": "Rep"},
                   "permissions": {"deal": {"read": true, "scope": "team"}}}]
    }))
    .await;
    let indexes = |board: &str| {
        vec![
            ("ixc_board".to_string(), format!("{board},id")),
            ("ixc_recent".to_string(), "owner,updated_at,id".to_string()),
            ("ixco_board".to_string(), format!("owner,{board},id")),
        ]
    };
    // With the team scope, the board again with the owner in front (not the one that starts with it).
    assert_eq!(declared_indexes(&app, "deal").await, indexes("phase,amount"));

    let (r0, rep) = user(&app, "rep0", Some("rep")).await;
    let (r1, _) = user(&app, "rep1", None).await;
    let (r2, _) = user(&app, "rep2", None).await;
    team(&app, "mine", None, &[&r0, &r1]).await;
    let owners = [&r0, &r1, &r2];
    let phases = ["new", "won", "lost"];
    // Deal i: owner i mod 3, phase (i / 3) mod 3, amount i × 10.
    app.post(
        "/api/v1/data/crm/deal/bulk",
        json!({"create": (0..90).map(|i| json!({
            "title": format!("deal {i}"), "phase": phases[(i / 3) % 3], "amount": i * 10, "owner": owners[i % 3]
        })).collect::<Vec<_>>()}),
    )
    .await
    .expect(200);
    let page = |r: &Resp| -> Vec<String> {
        r.body["data"]
            .as_array()
            .unwrap_or_else(|| panic!("a list: {}", r.text))
            .iter()
            .map(|x| s(&x["title"]).to_string())
            .collect()
    };
    let want = |in_scope: &dyn Fn(usize) -> bool| -> Vec<String> {
        (0..90)
            .rev()
            .filter(|i| phases[(i / 3) % 3] == "won" && i * 10 >= 200 && in_scope(*i))
            .take(10)
            .map(|i| format!("deal {i}"))
            .collect()
    };
    let list = |amount: &str| {
        let filter = json!({"and": [{"field": "phase", "op": "eq", "value": "won"},
                                    {"field": amount, "op": "gte", "value": 200}]});
        format!(
            "/api/v1/data/crm/deal?filter={}&sort=-{amount}&limit=10&fields=title",
            urlencode(&filter.to_string())
        )
    };
    let r = get(&app, &rep, &list("amount")).await.expect(200);
    assert_eq!(page(&r), want(&|i| i % 3 != 2), "the team's deals: rep 0's and 1's");
    let r = app.get(&list("amount")).await.expect(200);
    assert_eq!(page(&r), want(&|_| true));
    // Every page of the team's, by cursor and by offset: the scope of two owners is read in a
    // branch per owner (it holds too many rows to be read first), merged in order.
    let all: Vec<String> = (0..90)
        .rev()
        .filter(|i| phases[(i / 3) % 3] == "won" && i * 10 >= 200 && i % 3 != 2)
        .map(|i| format!("deal {i}"))
        .collect();
    assert_eq!(all.len(), 16);
    let first = list("amount").replace("limit=10", "limit=5");
    let (mut by_cursor, mut next) = (Vec::new(), first.clone());
    loop {
        let r = get(&app, &rep, &next).await.expect(200);
        by_cursor.extend(page(&r));
        match r.body["next_cursor"].as_str() {
            Some(c) => next = format!("{first}&cursor={}", urlencode(c)),
            None => break,
        }
    }
    assert_eq!(by_cursor, all);
    let mut by_offset = Vec::new();
    for offset in (0..20).step_by(5) {
        let r = get(&app, &rep, &format!("{first}&offset={offset}")).await.expect(200);
        by_offset.extend(page(&r));
    }
    assert_eq!(by_offset, all);

    // A renamed field stays in its indexes, under its new name; a converted one is indexed again.
    app.patch("/api/v1/apps/crm/entities/deal/fields/amount", json!({"name": "total"}))
        .await
        .expect(200);
    let def = app.get("/api/v1/apps/crm/entities/deal").await.expect(200).body;
    assert_eq!(def["indexes"][0]["fields"], json!(["phase", "total"]));
    assert_eq!(declared_indexes(&app, "deal").await, indexes("phase,total"));
    app.patch(
        "/api/v1/apps/crm/entities/deal/fields/total",
        json!({"type": "decimal"}),
    )
    .await
    .expect(200);
    assert_eq!(declared_indexes(&app, "deal").await, indexes("phase,total"));
    let r = get(&app, &rep, &list("total")).await.expect(200);
    assert_eq!(page(&r), want(&|i| i % 3 != 2));

    // A bad index is refused with the reasons, and nothing changes.
    let version = app.get("/api/v1/apps/crm").await.expect(200).body["version"].clone();
    let r = app
        .patch(
            "/api/v1/apps/crm/entities/deal",
            json!({"indexes": [{"name": "board", "fields": ["phase", "total"]},
                               {"name": "odd", "fields": ["nope", "stage"]}]}),
        )
        .await
        .expect_problem(422, "validation_failed");
    let errors = r.errors();
    for want in [
        ("entities.deal.indexes.odd.fields", "unknown_field"),
        ("entities.deal.indexes.odd.fields", "not_applicable"),
    ] {
        assert!(
            errors.iter().any(|(f, c)| (f.as_str(), c.as_str()) == want),
            "{want:?} in {errors:?}"
        );
    }
    assert_eq!(app.get("/api/v1/apps/crm").await.expect(200).body["version"], version);
    assert_eq!(declared_indexes(&app, "deal").await, indexes("phase,total"));

    // Without the owner scope the owner-keyed one goes; deleting a field drops the indexes that
    // hold it, from the definition and the database.
    app.patch(
        "/api/v1/apps/crm",
        json!({"roles": [{"name": "rep", "label": {"en": "Rep"},
                          "permissions": {"deal": {"read": true}}}]}),
    )
    .await
    .expect(200);
    assert_eq!(
        declared_indexes(&app, "deal").await,
        vec![
            ("ixc_board".to_string(), "phase,total,id".to_string()),
            ("ixc_recent".to_string(), "owner,updated_at,id".to_string()),
        ]
    );
    app.delete("/api/v1/apps/crm/entities/deal/fields/phase")
        .await
        .expect(200);
    let def = app.get("/api/v1/apps/crm/entities/deal").await.expect(200).body;
    assert_eq!(
        def["indexes"],
        json!([{"name": "recent", "fields": ["owner", "updated_at"]}])
    );
    assert_eq!(
        declared_indexes(&app, "deal").await,
        vec![("ixc_recent".to_string(), "owner,updated_at,id".to_string())]
    );
}

/// SQLite's planner statistics of a table: index name → its `sqlite_stat1` line.
async fn sqlite_stats(app: &TestApp, table: &str) -> std::collections::HashMap<String, String> {
    // No table before the first analysis.
    let rows = app
        .sql_rows("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = ?", vec![table.into()])
        .await
        .unwrap_or_default();
    rows.iter()
        .map(|r| {
            let idx: Option<String> = r.try_get("", "idx").unwrap();
            (idx.unwrap_or_default(), r.try_get("", "stat").unwrap())
        })
        .collect()
}

/// Waits up to 15 s for the table's statistics to satisfy `ok`.
async fn wait_for_stats(
    app: &TestApp,
    table: &str,
    what: &str,
    ok: impl Fn(&std::collections::HashMap<String, String>) -> bool,
) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let stats = sqlite_stats(app, table).await;
        if ok(&stats) {
            return;
        }
        assert!(std::time::Instant::now() < until, "{what}: {stats:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A large write within seconds of the last analysis is analysed after the pause; an index
/// made meanwhile gets its statistics at once. (Before, both waited for the periodic pass.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planner_statistics_follow_writes_in_quick_succession_and_new_indexes() {
    let app = spawn(Backend::Sqlite).await;
    app.create_app(json!({
        "name": "crm", "label": {"en": "CRM"},
        "entities": [{"name": "deal", "label": {"en": "Deal"}, "fields": [
            {"name": "phase", "label": {"en": "Phase"}, "type": "text"},
            {"name": "amount", "label": {"en": "Amount"}, "type": "integer", "indexed": true}]}]
    }))
    .await;
    let def = app.get("/api/v1/apps/crm/entities/deal").await.expect(200).body;
    let table = format!("rec_{}", s(&def["id"]));
    let rows_of = |stats: &std::collections::HashMap<String, String>, index: &str| -> Option<u64> {
        stats
            .iter()
            .find(|(k, _)| k.starts_with(index))
            .and_then(|(_, v)| v.split(' ').next()?.parse().ok())
    };
    let bulk = |from: usize| json!({"create": (from..from + 150).map(|i| { let phase = ["a", "b"][i % 2]; json!({"phase": phase, "amount": i}) }).collect::<Vec<_>>()});
    app.post("/api/v1/data/crm/deal/bulk", bulk(0)).await.expect(200);
    wait_for_stats(&app, &table, "150 rows analysed", |s| {
        rows_of(s, &format!("ix_{table}_created_at")) == Some(150)
    })
    .await;
    // Within the pause: a second large write, then an index.
    app.post("/api/v1/data/crm/deal/bulk", bulk(150)).await.expect(200);
    app.patch(
        "/api/v1/apps/crm/entities/deal",
        json!({"indexes": [{"name": "board", "fields": ["phase", "amount"]}]}),
    )
    .await
    .expect(200);
    wait_for_stats(&app, &table, "the new index analysed", |s| {
        rows_of(s, &format!("ixc_{table}_board")) == Some(300)
    })
    .await;
    app.post("/api/v1/data/crm/deal/bulk", bulk(300)).await.expect(200);
    wait_for_stats(&app, &table, "the last write analysed after the pause", |s| {
        rows_of(s, &format!("ix_{table}_created_at")) == Some(450)
    })
    .await;
}

async fn a_unique_index_refuses_a_second_record_with_the_same_values(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(json!({
        "name": "crm", "label": {"en": "Stores"},
        "entities": [{"name": "daily", "label": {"en": "Daily sales"}, "fields": [
            {"name": "store", "label": {"en": "Store"}, "type": "text"},
            {"name": "day", "label": {"en": "Day"}, "type": "date"},
            {"name": "total", "label": {"en": "Total"}, "type": "decimal"}],
            "indexes": [{"name": "one_a_day", "fields": ["store", "day"], "unique": true}]}],
        "roles": [{"name": "clerk", "label": {"en": "Clerk"},
                   "permissions": {"daily": {"read": true, "create": true, "update": true, "scope": "own"}}}]
    }))
    .await;
    // Unique on the fields alone; the owner-keyed twin is a plain index.
    assert_eq!(
        declared_indexes(&app, "daily").await,
        vec![
            ("ixc_one_a_day".to_string(), "store,day".to_string()),
            ("ixco_one_a_day".to_string(), "owner,store,day,id".to_string()),
        ]
    );
    let url = "/api/v1/data/crm/daily";
    let first = app
        .post(url, json!({"store": "S1", "day": "2026-11-27", "total": 10}))
        .await
        .expect(201)
        .body;
    app.post(url, json!({"store": "S1", "day": "2026-11-28", "total": 11}))
        .await
        .expect(201);
    app.post(url, json!({"store": "S2", "day": "2026-11-27", "total": 12}))
        .await
        .expect(201);
    // An empty field is not compared.
    app.post(url, json!({"store": "S1", "total": 1})).await.expect(201);
    app.post(url, json!({"store": "S1", "total": 2})).await.expect(201);
    let count = async || app.get(&format!("{url}?count=true&limit=1")).await.expect(200).body["total"].clone();
    assert_eq!(count().await, json!(5));

    // The same store and day again: refused on both fields, nothing written.
    let r = app
        .post(url, json!({"store": "S1", "day": "2026-11-27", "total": 99}))
        .await
        .expect_problem(422, "validation_failed");
    let mut errors = r.errors();
    errors.sort();
    assert_eq!(
        errors,
        vec![
            ("day".to_string(), "unique".to_string()),
            ("store".to_string(), "unique".to_string())
        ]
    );
    assert_eq!(count().await, json!(5));
    // A change of one field into another record's pair, the other field as stored.
    let second = app
        .get(&format!(
            "{url}?filter={}",
            urlencode(&json!({"field": "store", "op": "eq", "value": "S2"}).to_string())
        ))
        .await
        .expect(200)
        .body["data"][0]["id"]
        .clone();
    let r = app
        .patch(&format!("{url}/{}", s(&second)), json!({"store": "S1"}))
        .await
        .expect_problem(422, "validation_failed");
    assert!(
        r.errors().contains(&("store".to_string(), "unique".to_string())),
        "{}",
        r.text
    );
    // A record keeps its own pair, and a change that leaves both fields alone is no conflict.
    app.patch(
        &format!("{url}/{}", s(&first["id"])),
        json!({"day": "2026-11-27", "total": 20}),
    )
    .await
    .expect(200);
    app.patch(&format!("{url}/{}", s(&second)), json!({"total": 21}))
        .await
        .expect(200);
    // In one bulk request, the second of two equal pairs is refused and neither is written.
    let r = app
        .post(
            &format!("{url}/bulk"),
            json!({"create": [{"store": "S3", "day": "2026-11-27"}, {"store": "S3", "day": "2026-11-27"}]}),
        )
        .await;
    assert!(r.status == 422 || r.status == 409, "{}", r.text);
    assert_eq!(count().await, json!(5));

    // An index cannot be made unique over records that share values; the app is unchanged.
    let version = app.get("/api/v1/apps/crm").await.expect(200).body["version"].clone();
    app.patch(
        "/api/v1/apps/crm/entities/daily",
        json!({"indexes": [{"name": "one_a_day", "fields": ["store", "day"], "unique": true},
                           {"name": "per_store", "fields": ["store"], "unique": true}]}),
    )
    .await
    .expect_problem(409, "conflict");
    assert_eq!(app.get("/api/v1/apps/crm").await.expect(200).body["version"], version);
    assert_eq!(declared_indexes(&app, "daily").await.len(), 2);
}

on_both!(
    every_read_path_reaches_the_same_rows,
    writes_outside_the_scope_answer_404_and_missing_rights_403,
    hidden_fields_are_in_no_answer_and_unknown_to_queries,
    expanded_relations_outside_the_scope_are_null,
    permissions_are_checked_when_the_app_is_saved,
    an_app_where_no_role_has_permissions_stays_open,
    an_api_token_with_a_role_acts_only_with_that_role,
    teams_nest_refuse_cycles_and_belong_to_their_tenant,
    failed_logins_are_limited_per_account_with_retry_after,
    the_audit_trail_holds_definition_role_and_record_changes,
    a_handover_moves_every_record_round_robin_or_nothing,
    sql_looking_input_is_data_never_sql,
    an_owner_change_may_not_move_a_record_out_of_the_writers_scope,
    the_owner_may_be_read_only_for_a_role,
    a_created_record_must_fall_inside_the_creators_scope,
    a_rule_creates_only_inside_the_scope_of_the_user_it_acts_for,
    approvals_are_seen_only_by_those_who_may_read_their_record,
    scripts_see_the_users_roles_in_the_app_and_first_team,
    a_rule_notification_shows_each_recipient_only_fields_they_see,
    a_selective_team_scope_pages_exactly_the_teams_rows_in_order,
    owner_keyed_indexes_follow_the_roles_and_survive_field_changes,
    apps_saved_before_owner_keyed_indexes_get_them_at_upgrade,
    a_role_given_or_taken_holds_from_the_users_next_request,
    declared_indexes_serve_scoped_lists_and_follow_field_changes,
    a_unique_index_refuses_a_second_record_with_the_same_values,
);
