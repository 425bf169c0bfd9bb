//! Findings of the outside probe (issue 13) on the platform's own API: team patches, bodies that
//! are not objects, storage ids given by clients, field edits that must never be dropped, and
//! provider settings out of range. (The outbound address policy of e-mail and connection errors
//! that say no more than needed are run on the actions themselves, in `whitebox::platform`.)

use serde_json::{Value, json};
use trellis_tests::{Backend, TestApp, on_both, sales_app, spawn};

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

async fn team(app: &TestApp, name: &str, parent: Option<&str>) -> String {
    let body = match parent {
        Some(p) => json!({"name": name, "parent": p}),
        None => json!({"name": name}),
    };
    let t = app.post("/api/v1/teams", body).await.expect(201).body;
    s(&t["id"]).to_string()
}

// ---------------------------------------------------------------------------------------------
// Point 8: PATCH /teams/{id} is a merge patch; bodies that are not objects are refused
// ---------------------------------------------------------------------------------------------

async fn a_team_patch_applies_what_it_is_given_and_keeps_the_rest(b: Backend) {
    let app = spawn(b).await;
    let top = team(&app, "sales", None).await;
    let east = team(&app, "east", Some("sales")).await;
    let other = team(&app, "support", None).await;
    let path = format!("/api/v1/teams/{east}");

    // A rename keeps the parent (it used to be dropped, and the parent cleared).
    let t = app
        .patch(&path, json!({"name": "  east-china "}))
        .await
        .expect(200)
        .body;
    assert_eq!(t["name"], "east-china");
    assert_eq!(t["parent"], top.as_str(), "a rename keeps the team where it is: {t}");
    let got = app.get(&path).await.expect(200).body;
    assert_eq!((s(&got["name"]), s(&got["parent"])), ("east-china", top.as_str()));

    // An empty patch changes nothing.
    let t = app.patch(&path, json!({})).await.expect(200).body;
    assert_eq!((s(&t["name"]), s(&t["parent"])), ("east-china", top.as_str()));

    // Move by name, then both at once, then to the top with an explicit null.
    let t = app.patch(&path, json!({"parent": "support"})).await.expect(200).body;
    assert_eq!(t["parent"], other.as_str());
    let t = app
        .patch(&path, json!({"name": "east", "parent": top}))
        .await
        .expect(200)
        .body;
    assert_eq!((s(&t["name"]), s(&t["parent"])), ("east", top.as_str()));
    // A team read with GET may be sent back as it is.
    let read = app.get(&path).await.expect(200).body;
    let t = app.patch(&path, read.clone()).await.expect(200).body;
    assert_eq!(t, read);
    let t = app.patch(&path, json!({"parent": null})).await.expect(200).body;
    assert!(t["parent"].is_null(), "{t}");
    assert_eq!(t["name"], "east");

    // Mistakes are refused and change nothing.
    app.patch(&path, json!({"parent": top})).await.expect(200);
    let r = app
        .patch(&path, json!({"name": "", "parent": 7, "colour": "red", "id": "x"}))
        .await
        .expect_problem(422, "validation_failed");
    let mut errors = r.errors();
    errors.sort();
    assert_eq!(
        errors,
        [
            ("colour".to_string(), "unknown_field".to_string()),
            ("id".to_string(), "read_only".to_string()),
            ("name".to_string(), "length".to_string()),
            ("parent".to_string(), "type".to_string()),
        ]
    );
    app.patch(&path, json!({"parent": "nowhere"}))
        .await
        .expect_problem(422, "validation_failed");
    app.patch(&path, json!({"name": "support"}))
        .await
        .expect_problem(409, "conflict");
    app.patch(&format!("/api/v1/teams/{top}"), json!({"parent": east}))
        .await
        .expect_problem(409, "conflict");
    for body in [json!([]), json!([{"name": "x"}]), json!(42), json!(null), json!("east")] {
        let r = app.patch(&path, body.clone()).await.expect_problem(400, "bad_request");
        assert_eq!(r.errors(), [("body".to_string(), "type".to_string())], "{body}");
    }
    let got = app.get(&path).await.expect(200).body;
    assert_eq!(
        (s(&got["name"]), s(&got["parent"])),
        ("east", top.as_str()),
        "refused patches changed nothing"
    );
}
on_both!(a_team_patch_applies_what_it_is_given_and_keeps_the_rest);

/// Every route that takes an object (merge patches, definitions, settings, records, actions)
/// refuses `[]`, a number and `null` with 400, and writes nothing.
async fn routes_taking_an_object_refuse_other_json(b: Backend) {
    let app = spawn(b).await;
    let mut def = sales_app();
    def["rules"] = json!([{"name": "flag", "trigger": {"type": "manual", "entity": "deal"},
        "actions": [{"type": "set_fields", "values": {"urgent": true}}]}]);
    app.create_app(def).await;
    let deal = app.create("sales", "deal", json!({"title": "ACME"})).await;
    let id = s(&deal["id"]).to_string();
    let team_id = team(&app, "sales", None).await;
    let before = app.get("/api/v1/apps/sales").await.expect(200).body;
    let settings = app.get("/api/v1/settings").await.expect(200).body;
    let routes: Vec<(reqwest::Method, String)> = vec![
        (reqwest::Method::POST, "/api/v1/apps".into()),
        (reqwest::Method::PATCH, "/api/v1/apps/sales".into()),
        (reqwest::Method::POST, "/api/v1/apps/sales/entities".into()),
        (reqwest::Method::PATCH, "/api/v1/apps/sales/entities/deal".into()),
        (reqwest::Method::POST, "/api/v1/apps/sales/entities/deal/fields".into()),
        (
            reqwest::Method::PATCH,
            "/api/v1/apps/sales/entities/deal/fields/title".into(),
        ),
        (reqwest::Method::POST, "/api/v1/apps/sales/rules".into()),
        (reqwest::Method::PATCH, "/api/v1/apps/sales/rules/flag".into()),
        (reqwest::Method::POST, "/api/v1/apps/sales/rules/flag/test".into()),
        (reqwest::Method::POST, "/api/v1/apps/sales/scripts/check".into()),
        (reqwest::Method::POST, "/api/v1/apps/sales/handover".into()),
        (reqwest::Method::PUT, "/api/v1/settings".into()),
        (reqwest::Method::PUT, "/api/v1/calendars/work".into()),
        (reqwest::Method::POST, "/api/v1/data/sales/deal".into()),
        (reqwest::Method::POST, "/api/v1/data/sales/deal/bulk".into()),
        (reqwest::Method::PATCH, format!("/api/v1/data/sales/deal/{id}")),
        (
            reqwest::Method::POST,
            format!("/api/v1/data/sales/deal/{id}/transition"),
        ),
        (reqwest::Method::PATCH, format!("/api/v1/teams/{team_id}")),
    ];
    for (method, path) in &routes {
        for body in [json!([]), json!([{"title": "x"}]), json!(42), json!(null), json!(true)] {
            let r = app
                .call_as(Some(&app.token), method.clone(), path, Some(body.clone()))
                .await;
            // Record values and calendars keep their older answer: 422 with `$` `type`.
            let values =
                (path.starts_with("/api/v1/data/") && !path.contains("/bulk") && !path.ends_with("/transition"))
                    || path.starts_with("/api/v1/calendars/");
            let (status, code) = if values {
                (422, "validation_failed")
            } else {
                (400, "bad_request")
            };
            assert_eq!(r.status, status, "{method} {path} with {body}: {}", r.text);
            assert_eq!(r.code(), code, "{method} {path} with {body}: {}", r.text);
            assert_eq!(r.content_type(), "application/problem+json");
        }
    }
    // A pipeline is an object, or null to remove it; nothing else.
    for body in [json!([]), json!(42), json!("x")] {
        app.put("/api/v1/apps/sales/entities/deal/pipeline", body)
            .await
            .expect_problem(400, "bad_request");
    }
    assert_eq!(app.get("/api/v1/apps/sales").await.expect(200).body, before);
    assert_eq!(app.get("/api/v1/settings").await.expect(200).body, settings);
    let got = app.get(&format!("/api/v1/data/sales/deal/{id}")).await.expect(200).body;
    assert_eq!(got["version"], deal["version"]);
    let list = app.get("/api/v1/data/sales/deal").await.expect(200).body;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(app.get("/api/v1/calendars/work").await.status, 404);
}
on_both!(routes_taking_an_object_refuse_other_json);

// ---------------------------------------------------------------------------------------------
// Point 9: storage ids given by a client never collide with storage in use
// ---------------------------------------------------------------------------------------------

fn entity_ids(app: &Value) -> Vec<String> {
    app["entities"]
        .as_array()
        .expect("entities")
        .iter()
        .map(|e| s(&e["id"]).to_string())
        .collect()
}

/// The careless clone: GET an app, change its name, POST it. The copy gets storage of its own;
/// the original keeps working.
async fn an_app_cloned_from_its_get_answer_gets_its_own_storage(b: Backend) {
    let app = spawn(b).await;
    app.create_app(sales_app()).await;
    let customer = app.create("sales", "customer", json!({"name": "ACME"})).await;
    app.create(
        "sales",
        "deal",
        json!({"title": "Original", "customer": customer["id"]}),
    )
    .await;
    let original = app.get("/api/v1/apps/sales").await.expect(200).body;

    let mut copy = original.clone();
    copy["name"] = json!("sales_copy");
    // What GET adds to the definition is not part of one.
    for key in ["version", "created_at", "updated_at"] {
        copy.as_object_mut().unwrap().remove(key);
    }
    let r = app.post("/api/v1/apps", copy).await;
    assert_eq!(r.status, 201, "the clone is created: {}", r.text);
    let created = app.get("/api/v1/apps/sales_copy").await.expect(200).body;
    let (old_ids, new_ids) = (entity_ids(&original), entity_ids(&created));
    assert!(
        new_ids.iter().all(|i| !i.is_empty() && !old_ids.contains(i)),
        "{old_ids:?} {new_ids:?}"
    );
    let field_ids = |a: &Value| -> Vec<String> {
        a["entities"][1]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| s(&f["id"]).to_string())
            .collect()
    };
    assert_ne!(field_ids(&original), field_ids(&created));
    assert_eq!(created["version"], 1);

    // Both apps hold their own records.
    let c2 = app.create("sales_copy", "customer", json!({"name": "Copy Co"})).await;
    app.create("sales_copy", "deal", json!({"title": "Copy", "customer": c2["id"]}))
        .await;
    app.create("sales", "deal", json!({"title": "Second"})).await;
    let titles = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| s(&r["title"]).to_string())
            .collect()
    };
    let l = app.get("/api/v1/data/sales/deal").await.expect(200).body;
    assert_eq!(titles(&l), ["Original", "Second"]);
    let l = app.get("/api/v1/data/sales_copy/deal").await.expect(200).body;
    assert_eq!(titles(&l), ["Copy"]);
    // The original's definition is untouched.
    let mut now = app.get("/api/v1/apps/sales").await.expect(200).body;
    now["updated_at"] = original["updated_at"].clone();
    assert_eq!(now, original);

    // Deleting the copy leaves the original's tables alone.
    app.delete("/api/v1/apps/sales_copy").await.expect(204);
    let l = app.get("/api/v1/data/sales/deal").await.expect(200).body;
    assert_eq!(titles(&l), ["Original", "Second"]);
}
on_both!(an_app_cloned_from_its_get_answer_gets_its_own_storage);

/// An entity or field added with an `id` already in use (by another app, or by a sibling)
/// gets a fresh one; nothing fails and nothing existing is touched.
async fn entities_and_fields_added_with_ids_in_use_get_their_own(b: Backend) {
    let app = spawn(b).await;
    app.create_app(sales_app()).await;
    app.create_app(json!({"name": "other", "label": {"en": "Other"}})).await;
    let sales = app.get("/api/v1/apps/sales").await.expect(200).body;
    let customer_id = s(&sales["entities"][0]["id"]).to_string();
    let title_id = s(&sales["entities"][1]["fields"][1]["id"]).to_string();
    app.create("sales", "deal", json!({"title": "Kept"})).await;
    app.create("sales", "customer", json!({"name": "Kept"})).await;

    // Another app's entity id.
    let mut e = sales["entities"][0].clone();
    let r = app.post("/api/v1/apps/other/entities", e.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_ne!(s(&r.body["entity"]["id"]), customer_id);
    app.create("other", "customer", json!({"name": "Elsewhere"})).await;
    // The same app's entity id, under a new name.
    e["name"] = json!("customer_two");
    let r = app.post("/api/v1/apps/sales/entities", e).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let two = &r.body["entity"];
    assert_ne!(s(&two["id"]), customer_id);
    app.create("sales", "customer_two", json!({"name": "Two"})).await;

    // A field with the id of a sibling field.
    let r = app
        .post(
            "/api/v1/apps/sales/entities/deal/fields",
            json!({"id": title_id, "name": "subtitle", "label": {"en": "Subtitle"}, "type": "text"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_ne!(s(&r.body["field"]["id"]), title_id);
    let d = app
        .create("sales", "deal", json!({"title": "T", "subtitle": "S"}))
        .await;
    assert_eq!((s(&d["title"]), s(&d["subtitle"])), ("T", "S"));

    let l = app.get("/api/v1/data/sales/deal").await.expect(200).body;
    assert_eq!(l["data"][0]["title"], "Kept");
    assert!(l["data"][0]["subtitle"].is_null());
    let l = app.get("/api/v1/data/other/customer").await.expect(200).body;
    assert_eq!(l["data"][0]["name"], "Elsewhere");
    let l = app.get("/api/v1/data/sales/customer").await.expect(200).body;
    assert_eq!(l["data"][0]["name"], "Kept");
}
on_both!(entities_and_fields_added_with_ids_in_use_get_their_own);

// ---------------------------------------------------------------------------------------------
// Point 15: a field edit is applied or refused, never dropped
// ---------------------------------------------------------------------------------------------

const DEAL_FIELDS: &str = "/api/v1/apps/sales/entities/deal/fields";

/// PATCHes a field and answers the field as GET reads it afterwards; the change must be applied
/// as a new version.
async fn patch_field(app: &TestApp, field: &str, body: Value) -> Value {
    let before = app.get("/api/v1/apps/sales").await.expect(200).body["version"]
        .as_i64()
        .unwrap();
    let r = app.patch(&format!("{DEAL_FIELDS}/{field}"), body.clone()).await;
    assert_eq!(r.status, 200, "{field} {body}: {}", r.text);
    assert_eq!(r.body["applied"], true, "{field} {body}: {}", r.text);
    assert_eq!(r.body["version"], before + 1, "{field} {body}: {}", r.text);
    assert!(
        !r.body["plan"].as_array().unwrap().is_empty(),
        "an applied change has a plan: {}",
        r.text
    );
    let after = app.get("/api/v1/apps/sales").await.expect(200).body["version"]
        .as_i64()
        .unwrap();
    assert_eq!(after, before + 1);
    let name = body["name"].as_str().unwrap_or(field);
    read_field(app, name).await
}

/// A field of the deal as `GET .../fields` answers it.
async fn read_field(app: &TestApp, name: &str) -> Value {
    let all = app.get(DEAL_FIELDS).await.expect(200).body;
    all["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no field {name}"))
}

async fn deal_write(app: &TestApp, body: Value) -> trellis_tests::Resp {
    app.post("/api/v1/data/sales/deal", body).await
}

#[track_caller]
fn has_error(r: &trellis_tests::Resp, field: &str, code: &str) {
    assert!(
        r.errors().contains(&(field.to_string(), code.to_string())),
        "{field}/{code} expected: {}",
        r.text
    );
}

async fn every_field_property_changed_by_patch_is_applied(b: Backend) {
    let app = spawn(b).await;
    let mut def = sales_app();
    def["entities"][1]["fields"].as_array_mut().unwrap().push(
        json!({"name": "source", "label": {"zh": "来源", "en": "Source"}, "type": "single_select",
            "options": [{"value": "web", "label": {"zh": "网站", "en": "Web"}}]}),
    );
    def["entities"][1]["fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "documents", "label": {"en": "Documents"}, "type": "attachment"}));
    app.create_app(def).await;

    // A body that changes nothing is the only one answered with applied: false and no plan.
    let r = app.patch(&format!("{DEAL_FIELDS}/source"), json!({})).await.expect(200);
    assert_eq!(
        (r.body["applied"].clone(), r.body["plan"].clone()),
        (json!(false), json!([]))
    );
    let same = read_field(&app, "source").await;
    let r = app.patch(&format!("{DEAL_FIELDS}/source"), same).await.expect(200);
    assert_eq!(
        (r.body["applied"].clone(), r.body["plan"].clone()),
        (json!(false), json!([]))
    );

    // Options: add 展会 ("fair"), then the record takes it.
    deal_write(&app, json!({"title": "t", "source": "fair"}))
        .await
        .expect_problem(422, "validation_failed");
    let f = patch_field(
        &app,
        "source",
        json!({"options": [{"value": "web", "label": {"zh": "网站", "en": "Web"}},
            {"value": "fair", "label": {"zh": "展会", "en": "Fair"}}]}),
    )
    .await;
    assert_eq!(f["options"][1]["label"]["zh"], "展会");
    deal_write(&app, json!({"title": "t", "source": "fair"}))
        .await
        .expect(201);
    // Relabel, reorder and colour.
    let f = patch_field(
        &app,
        "source",
        json!({"options": [{"value": "fair", "label": {"zh": "展会", "en": "Trade fair"}, "color": "orange"},
            {"value": "web", "label": {"zh": "官网", "en": "Website"}}]}),
    )
    .await;
    assert_eq!(
        f["options"],
        json!([{"value": "fair", "label": {"zh": "展会", "en": "Trade fair"}, "color": "orange"},
            {"value": "web", "label": {"zh": "官网", "en": "Website"}}])
    );
    // The same on a multi-select.
    let f = patch_field(
        &app,
        "tags",
        json!({"options": [{"value": "key", "label": {"zh": "重点", "en": "Key"}},
            {"value": "hot", "label": {"zh": "热", "en": "Hot"}},
            {"value": "new", "label": {"zh": "新", "en": "New"}}]}),
    )
    .await;
    assert_eq!(f["options"][2]["value"], "new");
    deal_write(&app, json!({"title": "t", "tags": ["new", "hot"]}))
        .await
        .expect(201);

    // Label and help.
    let f = patch_field(
        &app,
        "notes",
        json!({"label": {"zh": "说明", "en": "Remarks"}, "help": {"en": "Anything"}}),
    )
    .await;
    assert_eq!(
        (f["label"]["en"].clone(), f["help"]["en"].clone()),
        (json!("Remarks"), json!("Anything"))
    );

    // required, default.
    patch_field(&app, "quantity", json!({"required": true})).await;
    has_error(
        &deal_write(&app, json!({"title": "q"})).await.expect(422),
        "quantity",
        "required",
    );
    let f = patch_field(&app, "quantity", json!({"required": null, "default": 5})).await;
    assert_eq!((f.get("required"), f["default"].clone()), (None, json!(5)));
    let d = deal_write(&app, json!({"title": "q"})).await.expect(201).body;
    assert_eq!(d["quantity"], 5);

    // min / max.
    let f = patch_field(&app, "quantity", json!({"min": 1, "max": 10})).await;
    assert_eq!((f["min"].clone(), f["max"].clone()), (json!(1), json!(10)));
    has_error(
        &deal_write(&app, json!({"title": "q", "quantity": 11}))
            .await
            .expect(422),
        "quantity",
        "maximum",
    );
    has_error(
        &deal_write(&app, json!({"title": "q", "quantity": 0})).await.expect(422),
        "quantity",
        "minimum",
    );
    deal_write(&app, json!({"title": "q", "quantity": 10}))
        .await
        .expect(201);

    // max_length, min_length, pattern.
    patch_field(&app, "title", json!({"max_length": 5})).await;
    deal_write(&app, json!({"title": "too long"})).await.expect(422);
    patch_field(&app, "title", json!({"max_length": null, "min_length": 3})).await;
    deal_write(&app, json!({"title": "ab"})).await.expect(422);
    let f = patch_field(&app, "title", json!({"pattern": "^[A-Z].*"})).await;
    assert_eq!(f["pattern"], "^[A-Z].*");
    deal_write(&app, json!({"title": "lower"})).await.expect(422);
    deal_write(&app, json!({"title": "Upper"})).await.expect(201);
    let f = patch_field(&app, "title", json!({"min_length": null, "pattern": null})).await;
    assert_eq!((f.get("min_length"), f.get("pattern")), (None, None));
    deal_write(&app, json!({"title": "x"})).await.expect(201);

    // currency: a bare amount takes the new default code.
    let f = patch_field(&app, "amount", json!({"currency": "USD"})).await;
    assert_eq!(f["currency"], "USD");
    let d = deal_write(&app, json!({"title": "Money", "amount": 12.5}))
        .await
        .expect(201)
        .body;
    assert_eq!(d["amount"], json!({"amount": 12.5, "currency": "USD"}));

    // scale.
    let f = patch_field(&app, "amount", json!({"scale": 3})).await;
    assert_eq!(f["scale"], 3);
    let d = deal_write(&app, json!({"title": "Money", "amount": 1.125}))
        .await
        .expect(201)
        .body;
    assert_eq!(d["amount"]["amount"], 1.125);

    // format of an auto number.
    let f = patch_field(&app, "code", json!({"format": "NEW-{00000}"})).await;
    assert_eq!(f["format"], "NEW-{00000}");
    let d = deal_write(&app, json!({"title": "Numbered"})).await.expect(201).body;
    assert!(s(&d["code"]).starts_with("NEW-"), "{d}");

    // unique and indexed.
    let f = patch_field(&app, "website", json!({"unique": true})).await;
    assert_eq!(f["unique"], true);
    deal_write(&app, json!({"title": "W", "website": "https://a.example"}))
        .await
        .expect(201);
    has_error(
        &deal_write(&app, json!({"title": "W", "website": "https://a.example"}))
            .await
            .expect(422),
        "website",
        "unique",
    );
    let f = patch_field(&app, "expected_close", json!({"indexed": true})).await;
    assert_eq!(f["indexed"], true);

    // required_if.
    patch_field(&app, "signed_at", json!({"required_if": "record.urgent == true"})).await;
    has_error(
        &deal_write(&app, json!({"title": "U", "urgent": true}))
            .await
            .expect(422),
        "signed_at",
        "required",
    );

    // accept and max_files of an attachment.
    let f = patch_field(
        &app,
        "documents",
        json!({"accept": ["application/pdf"], "max_files": 1}),
    )
    .await;
    assert_eq!(
        (f["accept"].clone(), f["max_files"].clone()),
        (json!(["application/pdf"]), json!(1))
    );
    let png = app
        .upload(&app.token, "a.png", "image/png", b"\x89PNG\r\n\x1a\n0000000000000")
        .await;
    has_error(
        &deal_write(&app, json!({"title": "F", "documents": [png]}))
            .await
            .expect(422),
        "documents",
        "file_type",
    );

    // target: a relation moved to another entity.
    let f = patch_field(&app, "customer", json!({"target": "deal"})).await;
    assert_eq!(f["target"], "deal");
    let other = deal_write(&app, json!({"title": "Parent"})).await.expect(201).body;
    deal_write(&app, json!({"title": "Child", "customer": other["id"]}))
        .await
        .expect(201);

    // A rename together with an option change.
    let f = patch_field(
        &app,
        "source",
        json!({"name": "channel", "options": [{"value": "fair", "label": {"zh": "展会", "en": "Fair"}}]}),
    )
    .await;
    assert_eq!(
        (f["name"].clone(), f["options"].as_array().map(Vec::len)),
        (json!("channel"), Some(1))
    );

    // What cannot change answers an error naming it.
    let r = app
        .patch(&format!("{DEAL_FIELDS}/title"), json!({"id": "abcdefgh12345678"}))
        .await
        .expect(422);
    has_error(&r, "id", "read_only");
    let r = app.patch(&format!("{DEAL_FIELDS}/title"), json!({"options": []})).await;
    assert!(r.status == 422 || r.status == 400, "{}", r.text);
}
on_both!(every_field_property_changed_by_patch_is_applied);

// ---------------------------------------------------------------------------------------------
// Point 5: provider timeouts stay in the range the actions use
// ---------------------------------------------------------------------------------------------

/// A provider timeout outside what the actions use (found by Schemathesis: 2^63 was stored) is
/// refused naming it, and nothing is stored.
async fn provider_timeouts_outside_their_range_are_refused(backend: Backend) {
    let app = spawn(backend).await;
    for (body, at) in [
        (
            json!({"sms": {"url": "https://sms.example.com", "timeout_ms": 9_223_372_036_854_775_808u64}}),
            "sms.timeout_ms",
        ),
        (
            json!({"sms": {"url": "https://sms.example.com", "timeout_ms": 60_001}}),
            "sms.timeout_ms",
        ),
        (
            json!({"smtp": {"host": "mail.example.com", "from": "a@example.com", "timeout_ms": 99}}),
            "smtp.timeout_ms",
        ),
    ] {
        let r = app.put("/api/v1/settings", body.clone()).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text);
        assert!(
            r.errors().iter().any(|(f, c)| f == at && c == "out_of_range"),
            "{body}: {}",
            r.text
        );
    }
    let s = app.get("/api/v1/settings").await.expect(200).body;
    assert!(s["sms"].is_null() && s["smtp"].is_null(), "{s}");
    let ok = json!({"sms": {"url": "https://sms.example.com", "timeout_ms": 60_000}});
    let s = app.put("/api/v1/settings", ok).await.expect(200).body;
    assert_eq!(s["sms"]["timeout_ms"], json!(60_000));
}

on_both!(provider_timeouts_outside_their_range_are_refused);
