//! Parts of a definition with endpoints of their own (roles, validation rules, rules, views):
//! each listed, read, added, replaced and removed one at a time as one versioned app change, and
//! `If-Match` with the app's version refusing a lost update (412). Members read parts through
//! their view and change none. Each test runs on SQLite and on PostgreSQL.

use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, Resp, TestApp, on_both, spawn};

/// A CRM whose reps may not see a deal's margin: a validation rule, a role setting and a rule
/// name it.
fn crm() -> Value {
    json!({
        "name": "crm", "label": {"en": "CRM"},
        "entities": [{"name": "deal", "label": {"en": "Deal"}, "fields": [
            {"name": "title", "label": {"en": "Title"}, "type": "text"},
            {"name": "amount", "label": {"en": "Amount"}, "type": "decimal"},
            {"name": "margin", "label": {"en": "Margin"}, "type": "decimal"},
            {"name": "close", "label": {"en": "Close"}, "type": "date"}
        ], "validations": [
            {"name": "titled", "assert": "record.title != ()", "message": {"en": "A deal has a title"}, "field": "title"},
            {"name": "margin_cap", "assert": "record.margin == () || record.margin < 50",
             "message": {"en": "Margin under 50"}, "field": "margin"}
        ], "pipeline": {
            "stages": [{"key": "new", "label": {"en": "New"}}, {"key": "won", "label": {"en": "Won"}, "kind": "won"}],
            "transitions": [{"from": ["new"], "to": "won", "allow": {"roles": ["lead"]}}]}}],
        "roles": [
            {"name": "rep", "label": {"en": "Rep"}, "permissions": {
                "deal": {"create": true, "read": true, "update": true,
                         "fields": {"margin": "hidden", "amount": "read_only"}}}},
            {"name": "lead", "label": {"en": "Lead"}, "permissions": {"deal": {"read": true, "update": true}}}
        ],
        "rules": [
            {"name": "margin_watch", "trigger": {"type": "field_changed", "entity": "deal", "field": "margin"},
             "actions": [{"type": "set_fields", "values": {"title": "watched"}}]},
            {"name": "title_watch", "trigger": {"type": "field_changed", "entity": "deal", "field": "title"},
             "actions": [{"type": "set_fields", "values": {"amount": 1}}]}
        ]
    })
}

fn etag(r: &Resp) -> String {
    r.headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("an ETag: {}", r.text))
        .to_string()
}

async fn version(app: &TestApp) -> i64 {
    let a = app.get("/api/v1/apps/crm").await.expect(200);
    let v = a.body["version"].as_i64().expect("version");
    assert_eq!(etag(&a), format!("\"{v}\""), "the app's ETag is its version");
    v
}

async fn with(app: &TestApp, method: Method, path: &str, body: Option<Value>, if_match: &str) -> Resp {
    app.call_with(Some(&app.token), method, path, body, &[("If-Match", if_match)])
        .await
}

fn names(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|x| x["name"].as_str().expect("name").to_string())
        .collect()
}

fn role(name: &str, label: &str) -> Value {
    json!({"name": name, "label": {"en": label}, "permissions": {"deal": {"read": true}}})
}

async fn roles_are_added_read_replaced_and_removed_one_at_a_time(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm()).await;
    let (alice, _) = app.user("crm", "alice", Some("rep")).await;

    let r = app.get("/api/v1/apps/crm/roles/rep").await.expect(200);
    assert_eq!(etag(&r), "\"1\"");
    assert_eq!(r.body["members"], json!([alice]));
    assert_eq!(r.body["permissions"]["deal"]["fields"]["margin"], "hidden");

    let added = app
        .post("/api/v1/apps/crm/roles", role("auditor", "Auditor"))
        .await
        .expect(201);
    assert_eq!(added.body["applied"], true);
    assert_eq!(added.body["version"], 2);
    assert_eq!(etag(&added), "\"2\"");
    assert_eq!(added.body["role"]["name"], "auditor");
    assert_eq!(
        added.headers["location"].to_str().unwrap(),
        "/api/v1/apps/crm/roles/auditor"
    );
    let list = app.get("/api/v1/apps/crm/roles").await.expect(200);
    assert_eq!(names(&list.body), ["rep", "lead", "auditor"]);
    // The other roles are untouched, members included.
    assert_eq!(list.body["data"][0]["members"], json!([alice]));

    // Adding it again is a conflict; a bad body is every problem at once; neither writes.
    app.post("/api/v1/apps/crm/roles", role("auditor", "Again"))
        .await
        .expect_problem(409, "conflict");
    let bad = app
        .post("/api/v1/apps/crm/roles", json!({"name": "Bad Name", "colour": "red"}))
        .await
        .expect_problem(422, "validation_failed");
    let fields: Vec<String> = bad.errors().into_iter().map(|(f, _)| f).collect();
    assert!(fields.iter().any(|f| f == "name"), "{}", bad.text);
    assert!(
        bad.text.contains("label") && bad.text.contains("colour"),
        "{}",
        bad.text
    );
    assert_eq!(version(&app).await, 2);

    // Replaced whole: the label changes, permissions not sent are gone, members stay.
    let put = app
        .put(
            "/api/v1/apps/crm/roles/rep",
            json!({"label": {"en": "Sales rep"}, "permissions": {"deal": {"read": true}}}),
        )
        .await
        .expect(200);
    assert_eq!(put.body["version"], 3);
    assert_eq!(put.body["role"]["label"]["en"], "Sales rep");
    let rep = app.get("/api/v1/apps/crm/roles/rep").await.expect(200);
    assert_eq!(rep.body["label"]["en"], "Sales rep");
    assert!(rep.body["permissions"]["deal"].get("fields").is_none(), "{}", rep.text);
    assert_eq!(rep.body["members"], json!([alice]));
    assert_eq!(etag(&rep), "\"3\"");

    // A name other than the path's, or a role that does not exist, changes nothing.
    let renamed = app
        .put("/api/v1/apps/crm/roles/rep", role("seller", "Seller"))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(renamed.errors(), [("name".to_string(), "read_only".to_string())]);
    app.put("/api/v1/apps/crm/roles/nobody", role("nobody", "Nobody"))
        .await
        .expect_problem(404, "not_found");
    app.get("/api/v1/apps/crm/roles/nobody")
        .await
        .expect_problem(404, "not_found");
    assert_eq!(version(&app).await, 3);

    // A dry run plans and stores nothing.
    let dry = app
        .post("/api/v1/apps/crm/roles?dry_run=true", role("temp", "Temp"))
        .await
        .expect(201);
    assert_eq!(dry.body["applied"], false);
    assert_eq!(dry.body["version"], 3);
    app.get("/api/v1/apps/crm/roles/temp")
        .await
        .expect_problem(404, "not_found");

    // A role the pipeline names cannot go: 409 naming the place; one nobody names can.
    let used = app
        .delete("/api/v1/apps/crm/roles/lead")
        .await
        .expect_problem(409, "conflict");
    assert!(
        used.errors().iter().any(|(f, _)| f.contains("pipeline")),
        "{}",
        used.text
    );
    let gone = app.delete("/api/v1/apps/crm/roles/auditor").await.expect(200);
    assert_eq!(gone.body["applied"], true);
    assert_eq!(gone.body["version"], 4);
    assert_eq!(etag(&gone), "\"4\"");
    app.get("/api/v1/apps/crm/roles/auditor")
        .await
        .expect_problem(404, "not_found");
    app.delete("/api/v1/apps/crm/roles/auditor")
        .await
        .expect_problem(404, "not_found");
    let list = app.get("/api/v1/apps/crm/roles").await.expect(200);
    assert_eq!(names(&list.body), ["rep", "lead"]);
}

async fn two_editors_of_one_version_cannot_drop_each_others_role(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm()).await;
    // Both editors read the app at version 1.
    let read = app.get("/api/v1/apps/crm").await.expect(200);
    let seen = etag(&read);
    assert_eq!(seen, "\"1\"");

    with(
        &app,
        Method::POST,
        "/api/v1/apps/crm/roles",
        Some(role("auditor", "Auditor")),
        &seen,
    )
    .await
    .expect(201);
    // The second editor's change was meant for version 1: refused, with nothing written.
    let second = with(
        &app,
        Method::POST,
        "/api/v1/apps/crm/roles",
        Some(role("finance", "Finance")),
        &seen,
    )
    .await
    .expect_problem(412, "version_mismatch");
    assert!(second.text.contains("version 2"), "{}", second.text);
    // A whole-list merge patch of `roles` from the old read is refused the same way.
    let mut stale_roles = read.body["roles"].clone();
    stale_roles.as_array_mut().unwrap().push(role("finance", "Finance"));
    with(
        &app,
        Method::PATCH,
        "/api/v1/apps/crm",
        Some(json!({"roles": stale_roles})),
        &seen,
    )
    .await
    .expect_problem(412, "version_mismatch");
    // So are a replacement and a removal, even of a part that exists in both versions.
    with(
        &app,
        Method::PUT,
        "/api/v1/apps/crm/roles/rep",
        Some(role("rep", "Rep")),
        "W/\"1\"",
    )
    .await
    .expect_problem(412, "version_mismatch");
    with(&app, Method::DELETE, "/api/v1/apps/crm/roles/rep", None, "1")
        .await
        .expect_problem(412, "version_mismatch");
    let now = app.get("/api/v1/apps/crm").await.expect(200);
    assert_eq!(now.body["version"], 2);
    let held: Vec<&str> = now.body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(held, ["rep", "lead", "auditor"]);
    let history = app.get("/api/v1/apps/crm/audit").await.expect(200);
    let changes = history.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "app_changed")
        .count();
    assert_eq!(changes, 1, "{}", history.text);

    // Read again, the second editor's change goes through and the first's role survives.
    let fresh = etag(&now);
    let ok = with(
        &app,
        Method::POST,
        "/api/v1/apps/crm/roles",
        Some(role("finance", "Finance")),
        &fresh,
    )
    .await
    .expect(201);
    assert_eq!(etag(&ok), "\"3\"");
    let list = app.get("/api/v1/apps/crm/roles").await.expect(200);
    assert_eq!(names(&list.body), ["rep", "lead", "auditor", "finance"]);

    // `*` is any version; a malformed If-Match is a bad request that writes nothing.
    with(
        &app,
        Method::PUT,
        "/api/v1/apps/crm/roles/finance",
        Some(role("finance", "Money")),
        "*",
    )
    .await
    .expect(200);
    for bad in ["\"x\"", "-1", "1.0"] {
        with(&app, Method::DELETE, "/api/v1/apps/crm/roles/finance", None, bad)
            .await
            .expect_problem(400, "bad_request");
    }
    assert_eq!(version(&app).await, 4);
    // The other definition changes take If-Match too.
    with(
        &app,
        Method::PATCH,
        "/api/v1/apps/crm",
        Some(json!({"label": {"en": "Old"}})),
        "\"3\"",
    )
    .await
    .expect_problem(412, "version_mismatch");
    with(
        &app,
        Method::POST,
        "/api/v1/apps/crm/entities/deal/fields",
        Some(json!({"name": "note", "label": {"en": "Note"}, "type": "text"})),
        "\"3\"",
    )
    .await
    .expect_problem(412, "version_mismatch");
    let pipeline = read.body["entities"][0]["pipeline"].clone();
    let path = "/api/v1/apps/crm/entities/deal/pipeline";
    with(&app, Method::PUT, path, Some(pipeline), "\"3\"")
        .await
        .expect_problem(412, "version_mismatch");
    let path = "/api/v1/apps/crm/entities/deal/fields/amount";
    with(&app, Method::DELETE, path, None, "\"3\"")
        .await
        .expect_problem(412, "version_mismatch");
    assert_eq!(version(&app).await, 4);
    let patched = with(
        &app,
        Method::PATCH,
        "/api/v1/apps/crm",
        Some(json!({"label": {"en": "New"}})),
        "\"4\"",
    )
    .await
    .expect(200);
    assert_eq!(patched.body["version"], 5);
    assert_eq!(etag(&patched), "\"5\"");
    let field = json!({"name": "note", "label": {"en": "Note"}, "type": "text"});
    let path = "/api/v1/apps/crm/entities/deal/fields";
    let added = with(&app, Method::POST, path, Some(field), "\"5\"").await.expect(201);
    assert_eq!(etag(&added), "\"6\"");
}

fn validation(name: &str, assert: &str) -> Value {
    json!({"name": name, "assert": assert, "message": {"en": "Not allowed"}})
}

async fn validation_rules_have_endpoints_of_their_own(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm()).await;
    let base = "/api/v1/apps/crm/entities/deal/validations";

    let list = app.get(base).await.expect(200);
    assert_eq!(names(&list.body), ["titled", "margin_cap"]);
    assert_eq!(etag(&list), "\"1\"");
    let one = app.get(&format!("{base}/titled")).await.expect(200);
    assert_eq!(one.body["assert"], "record.title != ()");

    let added = app
        .post(base, validation("positive", "record.amount == () || record.amount > 0"))
        .await
        .expect(201);
    assert_eq!(added.body["version"], 2);
    assert_eq!(added.body["validation"]["name"], "positive");
    assert_eq!(added.headers["location"].to_str().unwrap(), format!("{base}/positive"));
    // The next write obeys it.
    let refused = app
        .post("/api/v1/data/crm/deal", json!({"title": "A", "amount": -1}))
        .await
        .expect_problem(422, "validation_failed");
    assert!(refused.text.contains("positive"), "{}", refused.text);

    app.post(base, validation("positive", "true"))
        .await
        .expect_problem(409, "conflict");
    // A script that does not compile, or a field the entity lacks, is refused and not stored.
    app.post(base, validation("broken", "record.amount >"))
        .await
        .expect(422);
    let unknown = app
        .post(
            base,
            json!({"name": "odd", "assert": "true", "message": {"en": "x"}, "field": "nope"}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert!(
        unknown.errors().iter().any(|(_, c)| c == "unknown_field"),
        "{}",
        unknown.text
    );
    app.post("/api/v1/apps/crm/entities/nope/validations", validation("x", "true"))
        .await
        .expect_problem(404, "not_found");
    assert_eq!(version(&app).await, 2);

    // Replaced whole; the name may be left out, another one is refused.
    let put = app
        .put(
            &format!("{base}/positive"),
            json!({"assert": "record.amount == () || record.amount >= 0", "message": {"en": "Not negative"}}),
        )
        .await
        .expect(200);
    assert_eq!(put.body["version"], 3);
    assert_eq!(put.body["validation"]["name"], "positive");
    app.create("crm", "deal", json!({"title": "Zero", "amount": 0})).await;
    let renamed = app
        .put(&format!("{base}/positive"), validation("other", "true"))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(renamed.errors(), [("name".to_string(), "read_only".to_string())]);
    app.put(&format!("{base}/nothing"), validation("nothing", "true"))
        .await
        .expect_problem(404, "not_found");

    // A stale If-Match writes nothing.
    with(&app, Method::DELETE, &format!("{base}/positive"), None, "\"2\"")
        .await
        .expect_problem(412, "version_mismatch");
    app.get(&format!("{base}/positive")).await.expect(200);
    let gone = with(&app, Method::DELETE, &format!("{base}/positive"), None, "\"3\"")
        .await
        .expect(200);
    assert_eq!(gone.body["version"], 4);
    app.get(&format!("{base}/positive"))
        .await
        .expect_problem(404, "not_found");
    app.delete(&format!("{base}/positive"))
        .await
        .expect_problem(404, "not_found");
    app.create("crm", "deal", json!({"title": "Negative", "amount": -5}))
        .await;
    let list = app.get(base).await.expect(200);
    assert_eq!(names(&list.body), ["titled", "margin_cap"]);
}

async fn rules_are_replaced_whole_and_take_if_match(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm()).await;
    let base = "/api/v1/apps/crm/rules";
    let r = app.get(&format!("{base}/title_watch")).await.expect(200);
    assert_eq!(etag(&r), "\"1\"");

    let replaced = with(
        &app,
        Method::PUT,
        &format!("{base}/title_watch"),
        Some(
            json!({"enabled": false, "trigger": {"type": "field_changed", "entity": "deal", "field": "title"},
                    "actions": [{"type": "set_fields", "values": {"amount": 2}}]}),
        ),
        "\"1\"",
    )
    .await
    .expect(200);
    assert_eq!(replaced.body["version"], 2);
    assert_eq!(etag(&replaced), "\"2\"");
    let r = app.get(&format!("{base}/title_watch")).await.expect(200);
    assert_eq!(r.body["enabled"], false);
    assert_eq!(r.body["actions"][0]["values"]["amount"], 2);

    // Stale: every rule change is refused and nothing is written.
    with(
        &app,
        Method::PATCH,
        &format!("{base}/title_watch"),
        Some(json!({"enabled": true})),
        "\"1\"",
    )
    .await
    .expect_problem(412, "version_mismatch");
    with(&app, Method::DELETE, &format!("{base}/title_watch"), None, "\"1\"")
        .await
        .expect_problem(412, "version_mismatch");
    let new_rule = json!({"name": "later", "trigger": {"type": "manual", "entity": "deal"},
                          "actions": [{"type": "set_fields", "values": {"title": "x"}}]});
    with(&app, Method::POST, base, Some(new_rule.clone()), "\"1\"")
        .await
        .expect_problem(412, "version_mismatch");
    assert_eq!(version(&app).await, 2);
    assert_eq!(
        app.get(&format!("{base}/title_watch")).await.expect(200).body["enabled"],
        false
    );

    let renamed = app
        .put(&format!("{base}/title_watch"), new_rule.clone())
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(renamed.errors(), [("name".to_string(), "read_only".to_string())]);
    app.put(&format!("{base}/later"), new_rule.clone())
        .await
        .expect_problem(404, "not_found");
    with(&app, Method::POST, base, Some(new_rule), "\"2\"")
        .await
        .expect(200);
    assert_eq!(version(&app).await, 3);
}

async fn members_read_parts_through_their_view_and_change_none(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm()).await;
    let (_, rep) = app.user("crm", "rep", Some("rep")).await;
    let call = |method: Method, path: &str, body: Option<Value>| {
        let (app, rep, path) = (&app, rep.clone(), path.to_string());
        async move { app.call_as(Some(&rep), method, &path, body).await }
    };

    // Validation rules: the one reporting on the hidden margin is not there.
    let list = call(Method::GET, "/api/v1/apps/crm/entities/deal/validations", None)
        .await
        .expect(200);
    assert_eq!(names(&list.body), ["titled"]);
    assert!(!list.text.contains("margin"), "{}", list.text);
    call(
        Method::GET,
        "/api/v1/apps/crm/entities/deal/validations/margin_cap",
        None,
    )
    .await
    .expect_problem(404, "not_found");
    // Roles: no setting of the hidden field.
    for path in ["/api/v1/apps/crm/roles", "/api/v1/apps/crm/roles/rep"] {
        let r = call(Method::GET, path, None).await.expect(200);
        assert!(!r.text.contains("margin"), "{path}: {}", r.text);
        assert!(r.text.contains("read_only"), "{path}: {}", r.text);
    }
    // Rules: the one whose trigger names the hidden field is not there.
    call(Method::GET, "/api/v1/apps/crm/rules/margin_watch", None)
        .await
        .expect_problem(404, "not_found");
    call(Method::GET, "/api/v1/apps/crm/rules/title_watch", None)
        .await
        .expect(200);

    // No change of any part, whatever the body.
    let changes: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::POST, "/api/v1/apps/crm/roles", Some(role("mine", "Mine"))),
        (Method::POST, "/api/v1/apps/crm/roles", Some(json!({"bad": true}))),
        (Method::PUT, "/api/v1/apps/crm/roles/rep", Some(role("rep", "Rep"))),
        (Method::DELETE, "/api/v1/apps/crm/roles/lead", None),
        (
            Method::POST,
            "/api/v1/apps/crm/entities/deal/validations",
            Some(validation("mine", "true")),
        ),
        (
            Method::PUT,
            "/api/v1/apps/crm/entities/deal/validations/titled",
            Some(validation("titled", "true")),
        ),
        (
            Method::DELETE,
            "/api/v1/apps/crm/entities/deal/validations/margin_cap",
            None,
        ),
        (Method::POST, "/api/v1/apps/crm/rules", Some(json!({"name": "x"}))),
        // Creating anything with a broken body: refused for the rights, the body unread.
        (Method::POST, "/api/v1/apps", Some(json!({"name": 1, "x": true}))),
        (Method::POST, "/api/v1/apps/crm/entities", Some(json!({"x": true}))),
        (
            Method::POST,
            "/api/v1/apps/crm/entities/deal/fields",
            Some(json!({"x": true})),
        ),
        (
            Method::POST,
            "/api/v1/apps/crm/entities/deal/validations",
            Some(json!({"x": true})),
        ),
        (Method::POST, "/api/v1/apps/crm/views", Some(json!({"x": true}))),
        (
            Method::PATCH,
            "/api/v1/apps/crm/rules/title_watch",
            Some(json!({"enabled": "no"})),
        ),
        (
            Method::PUT,
            "/api/v1/apps/crm/rules/title_watch",
            Some(json!({"trigger": {"type": "manual", "entity": "deal"},
            "actions": [{"type": "set_fields", "values": {"title": "x"}}]})),
        ),
    ];
    for (method, path, body) in changes {
        let m = method.to_string();
        let r = call(method, path, body).await;
        assert_eq!(r.status, 403, "{m} {path}: {}", r.text);
        assert_eq!(r.code(), "permission_denied", "{m} {path}");
    }
    assert_eq!(version(&app).await, 1);
    // The administrator still sees everything.
    let all = app.get("/api/v1/apps/crm/entities/deal/validations").await.expect(200);
    assert_eq!(names(&all.body), ["titled", "margin_cap"]);
}

async fn views_are_parts_of_the_definition_that_fields_cannot_leave(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm()).await;
    let (_, rep) = app.user("crm", "rep", Some("rep")).await;
    let base = "/api/v1/apps/crm/views";
    let grid = json!({"name": "mine", "label": {"en": "My deals"}, "entity": "deal", "type": "grid", "default": true,
        "columns": [{"field": "title", "width": 320}, {"field": "amount"}, {"field": "margin", "width": 80}],
        "sort": [{"field": "close", "desc": true}], "group_by": "stage", "row_height": "medium",
        "filter": {"field": "owner", "op": "eq", "value": "$user.id"}});
    let added = app.post(base, grid.clone()).await.expect(201);
    assert_eq!(added.body["version"], 2);
    assert_eq!(added.body["view"], grid);
    assert_eq!(added.headers["location"].to_str().unwrap(), format!("{base}/mine"));
    let board = json!({"name": "board", "label": {"en": "Board"}, "entity": "deal", "type": "kanban", "group_by": "stage",
        "columns": [{"field": "title"}]});
    app.post(base, board).await.expect(201);
    let margins = json!({"name": "margins", "label": {"en": "High margins"}, "entity": "deal", "type": "grid",
        "filter": {"field": "margin", "op": "gt", "value": 30}});
    app.post(base, margins).await.expect(201);
    let dates = json!({"name": "dates", "label": {"en": "Closing"}, "entity": "deal", "type": "calendar", "date_field": "close"});
    app.post(base, dates).await.expect(201);

    // Every problem of a view is named, and nothing is stored.
    let bad = app
        .post(
            base,
            json!({"name": "bad", "label": {"en": "Bad"}, "entity": "deal", "type": "calendar", "date_field": "title",
                   "columns": [{"field": "nope"}], "default": true}),
        )
        .await
        .expect_problem(422, "validation_failed");
    let mut errors = bad.errors();
    errors.sort();
    assert_eq!(
        errors,
        [
            ("views.bad.columns[0].field".to_string(), "unknown_field".to_string()),
            ("views.bad.date_field".to_string(), "type".to_string()),
            ("views.bad.default".to_string(), "duplicate".to_string()),
        ],
        "{}",
        bad.text
    );
    app.post(
        base,
        json!({"name": "cal", "label": {"en": "Cal"}, "entity": "deal", "type": "calendar"}),
    )
    .await
    .expect_problem(422, "validation_failed");
    app.post(base, grid.clone()).await.expect_problem(409, "conflict");
    assert_eq!(version(&app).await, 5);

    let list = app.get(base).await.expect(200);
    assert_eq!(names(&list.body), ["mine", "board", "margins", "dates"]);
    assert_eq!(etag(&list), "\"5\"");

    // Replaced whole; another name or an unknown view changes nothing.
    let mut wider = grid.clone();
    wider["columns"][0]["width"] = json!(480);
    let put = app.put(&format!("{base}/mine"), wider.clone()).await.expect(200);
    assert_eq!(put.body["view"]["columns"][0]["width"], 480);
    let mut renamed = wider.clone();
    renamed["name"] = json!("yours");
    let r = app
        .put(&format!("{base}/mine"), renamed)
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.errors(), [("name".to_string(), "read_only".to_string())]);
    app.put(
        &format!("{base}/nothing"),
        json!({"label": {"en": "X"}, "entity": "deal", "type": "grid"}),
    )
    .await
    .expect_problem(404, "not_found");

    // A renamed field carries over to the views; a deleted one is refused while a view uses it.
    app.patch(
        "/api/v1/apps/crm/entities/deal/fields/close",
        json!({"name": "closing"}),
    )
    .await
    .expect(200);
    let mine = app.get(&format!("{base}/mine")).await.expect(200);
    assert_eq!(mine.body["sort"][0]["field"], "closing");
    let dates = app.get(&format!("{base}/dates")).await.expect(200);
    assert_eq!(dates.body["date_field"], "closing");
    let used = app
        .delete("/api/v1/apps/crm/entities/deal/fields/closing")
        .await
        .expect_problem(422, "validation_failed");
    assert!(
        used.text.contains("view 'mine'") && used.text.contains("view 'dates'"),
        "{}",
        used.text
    );
    let fields = app.get("/api/v1/apps/crm/entities/deal/fields").await.expect(200);
    assert!(fields.text.contains("closing"), "the field stays: {}", fields.text);

    // A member reads views through their view: no hidden column, no view filtering by one.
    let seen = app.call_as(Some(&rep), Method::GET, base, None).await.expect(200);
    assert_eq!(names(&seen.body), ["mine", "board", "dates"]);
    assert!(!seen.text.contains("margin"), "{}", seen.text);
    assert_eq!(seen.body["data"][0]["columns"].as_array().unwrap().len(), 2);
    app.call_as(Some(&rep), Method::GET, &format!("{base}/margins"), None)
        .await
        .expect_problem(404, "not_found");
    app.call_as(Some(&rep), Method::DELETE, &format!("{base}/board"), None)
        .await
        .expect_problem(403, "permission_denied");
    app.call_as(Some(&rep), Method::POST, base, Some(json!({"name": "x"})))
        .await
        .expect_problem(403, "permission_denied");

    // Removed with If-Match; then the field can go.
    let v = version(&app).await;
    with(
        &app,
        Method::DELETE,
        &format!("{base}/mine"),
        None,
        &format!("\"{}\"", v - 1),
    )
    .await
    .expect_problem(412, "version_mismatch");
    with(&app, Method::DELETE, &format!("{base}/mine"), None, &format!("\"{v}\""))
        .await
        .expect(200);
    app.get(&format!("{base}/mine")).await.expect_problem(404, "not_found");
    app.delete(&format!("{base}/mine"))
        .await
        .expect_problem(404, "not_found");
    app.delete(&format!("{base}/dates")).await.expect(200);
    app.delete("/api/v1/apps/crm/entities/deal/fields/closing")
        .await
        .expect(200);
}

async fn of_two_simultaneous_changes_to_one_version_one_is_refused(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm()).await;
    let first = with(
        &app,
        Method::POST,
        "/api/v1/apps/crm/roles",
        Some(role("auditor", "Auditor")),
        "\"1\"",
    );
    let second = with(
        &app,
        Method::POST,
        "/api/v1/apps/crm/roles",
        Some(role("finance", "Finance")),
        "\"1\"",
    );
    let (a, b) = tokio::join!(first, second);
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [201, 412], "{} / {}", a.text, b.text);
    let (won, lost) = if a.status == 201 { (a, b) } else { (b, a) };
    assert_eq!(lost.code(), "version_mismatch");
    let list = app.get("/api/v1/apps/crm/roles").await.expect(200);
    assert_eq!(
        names(&list.body),
        ["rep", "lead", won.body["role"]["name"].as_str().unwrap()]
    );
    assert_eq!(version(&app).await, 2);
}

/// A new part is read as its type once the caller may send it: every problem its schema finds
/// answers at once (422 listing each), nothing is written.
async fn a_new_part_answers_every_problem_at_once(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm()).await;
    let cases = [
        (
            "/api/v1/apps",
            json!({"name": "Bad Name", "label": {"en": "x"}, "colour": "red"}),
            vec!["name", "colour"],
        ),
        (
            "/api/v1/apps/crm/entities",
            json!({"name": "Ticket!", "label": "no", "fields": []}),
            vec!["name", "label"],
        ),
        (
            "/api/v1/apps/crm/entities/deal/fields",
            json!({"name": "x-y", "label": {"en": "X"}, "type": "nope"}),
            vec!["name", "type"],
        ),
        (
            "/api/v1/apps/crm/roles",
            json!({"name": "Boss", "label": {"en": "Boss"}, "extra": 1}),
            vec!["name", "extra"],
        ),
        (
            "/api/v1/apps/crm/views",
            json!({"name": "all deals", "entity": "deal", "type": "table"}),
            vec!["name", "type"],
        ),
    ];
    for (path, body, named) in cases {
        let r = app.post(path, body).await;
        assert_eq!(r.status, 422, "{path}: {}", r.text);
        assert_eq!(r.code(), "validation_failed", "{path}");
        let errors = r.body["errors"].as_array().cloned().unwrap_or_default();
        for n in named {
            assert!(
                errors.iter().any(|e| e["field"].as_str().is_some_and(|f| f.contains(n))
                    || e["message"].as_str().is_some_and(|m| m.contains(n))),
                "{path}: no problem about '{n}' in {}",
                r.text
            );
        }
        assert!(errors.len() >= 2, "{path}: {}", r.text);
    }
    assert_eq!(version(&app).await, 1, "nothing was written");
    assert_eq!(
        app.get("/api/v1/apps").await.expect(200).body["data"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

/// A merge patch is read as its type: a member the type does not take is refused (422
/// `unknown_field` naming it) on each patch route, and nothing is written; a patch of the type,
/// `null` removing a member, applies.
async fn a_merge_patch_with_a_member_its_type_lacks_changes_nothing(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm()).await;
    let patches = [
        ("/api/v1/apps/crm", json!({"label": {"en": "Changed"}, "colour": "red"})),
        (
            "/api/v1/apps/crm/entities/deal",
            json!({"label": {"en": "Changed"}, "colour": "red"}),
        ),
        (
            "/api/v1/apps/crm/entities/deal/fields/title",
            json!({"label": {"en": "Changed"}, "colour": "red"}),
        ),
        (
            "/api/v1/apps/crm/rules/title_watch",
            json!({"enabled": false, "colour": "red"}),
        ),
    ];
    for (path, body) in patches {
        let r = app.patch(path, body).await.expect_problem(422, "validation_failed");
        assert_eq!(
            r.errors(),
            [("colour".to_string(), "unknown_field".to_string())],
            "{path}"
        );
        // An unknown member inside a member's value is refused too, with the whole definition.
        let r = app
            .patch(path, json!({"label": {"en": "Changed", "colour": "red"}}))
            .await;
        assert_eq!(r.status, 422, "{path}: {}", r.text);
    }
    assert_eq!(version(&app).await, 1, "nothing was written");
    let def = app.get("/api/v1/apps/crm").await.expect(200).body;
    assert_eq!(def["label"], json!({"en": "CRM"}));
    assert_eq!(def["entities"][0]["label"], json!({"en": "Deal"}), "{def}");
    assert_eq!(def["entities"][0]["fields"][0]["label"], json!({"en": "Title"}));
    let rule = app.get("/api/v1/apps/crm/rules/title_watch").await.expect(200).body;
    assert_ne!(rule["enabled"], json!(false), "{rule}");
    // The script checker's body too.
    let r = app
        .post(
            "/api/v1/apps/crm/scripts/check",
            json!({"entity": "deal", "script": "1", "colour": "red"}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.errors(), [("colour".to_string(), "unknown_field".to_string())]);

    // A patch of the type applies; `null` removes an optional member.
    app.patch("/api/v1/apps/crm", json!({"description": {"en": "Deals"}}))
        .await
        .expect(200);
    let r = app
        .patch("/api/v1/apps/crm", json!({"description": null}))
        .await
        .expect(200);
    assert_eq!(r.body["version"], 3);
    assert!(r.body["app"].get("description").is_none(), "{}", r.text);
}

on_both!(
    a_merge_patch_with_a_member_its_type_lacks_changes_nothing,
    a_new_part_answers_every_problem_at_once,
    roles_are_added_read_replaced_and_removed_one_at_a_time,
    two_editors_of_one_version_cannot_drop_each_others_role,
    validation_rules_have_endpoints_of_their_own,
    rules_are_replaced_whole_and_take_if_match,
    members_read_parts_through_their_view_and_change_none,
    views_are_parts_of_the_definition_that_fields_cannot_leave,
    of_two_simultaneous_changes_to_one_version_one_is_refused,
);
