//! The generated record API: writes with every field type, validation, versions, deletes, list
//! queries (filters, sort, fields, expand, search, pages) and bulk, on SQLite and PostgreSQL.

use std::cmp::Ordering;
use std::collections::HashSet;

use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, Resp, TestApp, on_both, sales_app, spawn};

const DEALS: &str = "/api/v1/data/sales/deal";
const CUSTOMERS: &str = "/api/v1/data/sales/customer";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

async fn sales(b: Backend) -> TestApp {
    let app = spawn(b).await;
    app.create_app(sales_app()).await;
    app
}

/// Percent-encodes a query parameter value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("record has an id").to_string()
}

fn deal_path(id: &str) -> String {
    format!("{DEALS}/{id}")
}

/// Asserts an error answer: status, problem+json, code, and no database internals in the text.
#[track_caller]
fn problem(r: Resp, status: u16, code: &str) -> Resp {
    let r = r.expect_problem(status, code);
    for leak in [
        "SELECT",
        "INSERT",
        "UPDATE ",
        "DELETE FROM",
        "sqlx",
        "syntax error",
        "SQLSTATE",
        "rec_",
        "sea_orm",
        "DbErr",
    ] {
        assert!(!r.text.contains(leak), "error answer leaks '{leak}': {}", r.text);
    }
    assert_eq!(r.body["status"], json!(status), "{}", r.text);
    r
}

/// Asserts a 422 `validation_failed` whose errors are exactly these `(field, code)` pairs.
#[track_caller]
fn invalid(r: Resp, expected: &[(&str, &str)]) -> Resp {
    let r = problem(r, 422, "validation_failed");
    let mut got = r.errors();
    got.sort();
    let mut want: Vec<(String, String)> = expected.iter().map(|(f, c)| (f.to_string(), c.to_string())).collect();
    want.sort();
    assert_eq!(got, want, "{}", r.text);
    r
}

/// Asserts a 400 `bad_request` whose first error names the field and code.
#[track_caller]
fn bad(r: Resp, field: &str, code: &str) -> Resp {
    let r = problem(r, 400, "bad_request");
    assert_eq!(
        r.errors().first().cloned(),
        Some((field.to_string(), code.to_string())),
        "{}",
        r.text
    );
    r
}

async fn admin_id(app: &TestApp) -> String {
    let me = app.get("/api/v1/me").await.expect(200);
    me.body["user"]["id"].as_str().expect("user id").to_string()
}

/// How many deals exist.
async fn deal_count(app: &TestApp) -> i64 {
    let r = app.get(&format!("{DEALS}?count=true&limit=1")).await.expect(200);
    r.body["total"].as_i64().expect("total")
}

async fn list(app: &TestApp, query: &str) -> Value {
    app.get(&format!("{DEALS}?{query}")).await.expect(200).body
}

fn titles(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| r["title"].as_str().unwrap_or("").to_string())
        .collect()
}

fn ids(list: &Value) -> Vec<String> {
    list["data"].as_array().expect("data").iter().map(id_of).collect()
}

/// Titles of the deals a filter matches, in title order.
async fn matching(app: &TestApp, filter: Value) -> Vec<String> {
    let r = app
        .get(&format!("{DEALS}?sort=title&filter={}", enc(&filter.to_string())))
        .await;
    assert_eq!(r.status, 200, "{filter}: {}", r.text);
    let mut t = titles(&r.body);
    t.sort();
    t
}

fn names(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// Writes with every field type
// ---------------------------------------------------------------------------------------------

async fn a_deal_with_every_field_type_is_stored_and_answered_in_canonical_form(b: Backend) {
    let app = sales(b).await;
    let admin = admin_id(&app).await;
    let c = app
        .create(
            "sales",
            "customer",
            json!({"name": "华为 Huawei", "email": "ops@huawei.example", "phone": "+86 138-0000-0000", "level": "vip"}),
        )
        .await;
    assert_eq!(c["name"], "华为 Huawei");
    assert_eq!(c["email"], "ops@huawei.example");
    assert_eq!(c["phone"], "+86 138-0000-0000");
    assert_eq!(c["level"], "vip");

    let r = app
        .post(
            DEALS,
            json!({
                "title": "ERP rollout",
                "amount": {"amount": "1234.56", "currency": "USD"},
                "probability": "12.5",
                "quantity": 9007199254740993i64,
                "customer": c["id"],
                "phase": "won",
                "tags": ["hot", "key", "hot"],
                "expected_close": "2026-02-28",
                "signed_at": "2026-03-01T10:20:30.1234567+08:00",
                "urgent": true,
                "website": "https://erp.example.com/a?b=1",
                "rep": admin,
                "notes": "line one\nline two — 第二行",
                "extra": {"zeta": [1, 2.5, {"deep": null}], "alpha": "x", "flag": true}
            }),
        )
        .await
        .expect(201);
    assert_eq!(r.headers["etag"], "\"1\"");
    let d = r.body;
    assert_eq!(d["title"], "ERP rollout");
    assert_eq!(d["amount"], json!({"amount": 1234.56, "currency": "USD"}));
    assert_eq!(d["probability"], json!(12.5));
    assert_eq!(
        d["quantity"],
        json!(9007199254740993i64),
        "integers are exact beyond 2^53"
    );
    assert_eq!(d["customer"], c["id"]);
    assert_eq!(d["phase"], "won");
    assert_eq!(d["tags"], json!(["hot", "key"]), "multi_select drops repeated choices");
    assert_eq!(d["expected_close"], "2026-02-28");
    assert_eq!(
        d["signed_at"], "2026-03-01T02:20:30.123456Z",
        "datetimes are answered in UTC with microseconds"
    );
    assert_eq!(d["urgent"], json!(true));
    assert_eq!(d["website"], "https://erp.example.com/a?b=1");
    assert_eq!(d["rep"], json!(admin));
    assert_eq!(d["notes"], "line one\nline two — 第二行");
    assert_eq!(
        d["extra"],
        json!({"alpha": "x", "flag": true, "zeta": [1, 2.5, {"deep": null}]})
    );
    let code = d["code"].as_str().unwrap();
    assert!(code.starts_with("DL-") && code.ends_with("-00001"), "{code}");

    // System fields.
    let id = id_of(&d);
    assert_eq!(
        uuid::Uuid::parse_str(&id).unwrap().get_version_num(),
        7,
        "ids are UUID v7"
    );
    assert_eq!(d["version"], json!(1));
    assert_eq!(d["created_by"], json!(admin));
    assert_eq!(d["owner"], json!(admin));
    let created = d["created_at"].as_str().unwrap();
    assert_eq!(d["updated_at"], d["created_at"]);
    assert_eq!(created.len(), "2026-03-01T02:20:30.123456Z".len(), "{created}");
    assert!(created.ends_with('Z'), "{created}");
    assert_eq!(&code[3..7], &created[..4], "the number carries the year it was made in");
    let keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "created_at",
            "updated_at",
            "created_by",
            "owner",
            "version",
            "code",
            "title",
            "amount",
            "probability",
            "quantity",
            "customer",
            "phase",
            "tags",
            "expected_close",
            "signed_at",
            "urgent",
            "website",
            "rep",
            "notes",
            "extra"
        ],
        "system fields first, then the fields in definition order"
    );

    let got = app.get(&deal_path(&id)).await.expect(200);
    assert_eq!(got.headers["etag"], "\"1\"");
    assert_eq!(got.body, d, "a read answers what the write answered");
    assert_eq!(got.content_type(), "application/json");

    // A bare number takes the field's default currency; an amount string is exact.
    let bare = app
        .create("sales", "deal", json!({"title": "bare", "amount": 99.5}))
        .await;
    assert_eq!(bare["amount"], json!({"amount": 99.5, "currency": "CNY"}));
    let no_code = app
        .create(
            "sales",
            "deal",
            json!({"title": "object without currency", "amount": {"amount": "0.1"}}),
        )
        .await;
    assert_eq!(no_code["amount"], json!({"amount": 0.1, "currency": "CNY"}));
    let ids_upper = id.to_uppercase();
    let again = app.get(&deal_path(&ids_upper)).await.expect(200);
    assert_eq!(again.body["id"], json!(id), "an id in upper case finds the same record");
}

async fn defaults_apply_to_absent_fields_only_and_empty_fields_answer_null(b: Backend) {
    let app = sales(b).await;
    let c = app.create("sales", "customer", json!({"name": "Acme"})).await;
    assert_eq!(c["level"], "normal", "the default of a single_select");
    assert_eq!(c["email"], Value::Null);
    assert_eq!(c["phone"], Value::Null);

    let d = app.create("sales", "deal", json!({"title": "minimal"})).await;
    assert_eq!(d["urgent"], json!(false), "the default of a boolean");
    for f in [
        "amount",
        "probability",
        "quantity",
        "customer",
        "phase",
        "tags",
        "expected_close",
        "signed_at",
        "website",
        "rep",
        "notes",
        "extra",
    ] {
        assert_eq!(d[f], Value::Null, "{f} has no value");
        assert!(
            d.as_object().unwrap().contains_key(f),
            "{f} is answered as null, not left out"
        );
    }

    let explicit = app
        .create("sales", "deal", json!({"title": "explicit", "urgent": true}))
        .await;
    assert_eq!(explicit["urgent"], json!(true), "a given value wins over the default");
    let nulled = app
        .create("sales", "deal", json!({"title": "nulled", "urgent": null}))
        .await;
    assert_eq!(nulled["urgent"], Value::Null, "an explicit null is kept, not defaulted");
    let got = app.get(&deal_path(&id_of(&nulled))).await.expect(200);
    assert_eq!(got.body["urgent"], Value::Null);
}

async fn auto_numbers_count_up_and_cannot_be_set_by_clients(b: Backend) {
    let app = sales(b).await;
    let first = app.create("sales", "deal", json!({"title": "one"})).await;
    let second = app.create("sales", "deal", json!({"title": "two"})).await;
    let y = &first["created_at"].as_str().unwrap()[..4];
    assert_eq!(first["code"], json!(format!("DL-{y}-00001")));
    assert_eq!(second["code"], json!(format!("DL-{y}-00002")));

    invalid(
        app.post(DEALS, json!({"title": "mine", "code": "DL-2000-99999"})).await,
        &[("code", "read_only")],
    );
    invalid(
        app.post(DEALS, json!({"title": "mine", "code": null})).await,
        &[("code", "read_only")],
    );
    invalid(
        app.patch(&deal_path(&id_of(&first)), json!({"code": "DL-2000-99999"}))
            .await,
        &[("code", "read_only")],
    );
    invalid(
        app.patch(&deal_path(&id_of(&first)), json!({"code": null})).await,
        &[("code", "read_only")],
    );
    // Sending the number back unchanged (a record read, edited and sent back whole) is fine.
    let same = app
        .patch(
            &deal_path(&id_of(&first)),
            json!({"code": first["code"], "title": "one!"}),
        )
        .await
        .expect(200);
    assert_eq!(same.body["code"], first["code"]);
    assert_eq!(same.body["title"], "one!");

    let third = app.create("sales", "deal", json!({"title": "three"})).await;
    assert_eq!(
        third["code"],
        json!(format!("DL-{y}-00003")),
        "refused writes took no number"
    );
    assert_eq!(deal_count(&app).await, 3);
}

async fn a_failed_write_writes_nothing_and_takes_no_auto_number(b: Backend) {
    let app = sales(b).await;
    let first = app.create("sales", "deal", json!({"title": "first"})).await;
    let y = first["created_at"].as_str().unwrap()[..4].to_string();

    // Refused before the transaction.
    invalid(app.post(DEALS, json!({"quantity": 1})).await, &[("title", "required")]);
    // Refused inside the transaction (the relation is checked against the database).
    let missing = uuid::Uuid::now_v7().to_string();
    invalid(
        app.post(DEALS, json!({"title": "ghost customer", "customer": missing}))
            .await,
        &[("customer", "not_found")],
    );
    // Refused after a create of the same transaction was numbered and inserted.
    invalid(
        app.post(
            &format!("{DEALS}/bulk"),
            json!({"create": [{"title": "numbered then rolled back"}], "update": [{"id": id_of(&first), "quantity": "many"}]}),
        )
        .await,
        &[("update[0].quantity", "type")],
    );
    assert_eq!(deal_count(&app).await, 1);
    let all = list(&app, "limit=100").await;
    assert_eq!(titles(&all), ["first"]);

    let next = app.create("sales", "deal", json!({"title": "second"})).await;
    assert_eq!(
        next["code"],
        json!(format!("DL-{y}-00002")),
        "a rolled-back write does not consume the counter"
    );
}

async fn invalid_values_are_refused_with_the_field_and_code_of_each(b: Backend) {
    let app = sales(b).await;
    // Many at once: every error is listed.
    invalid(
        app.post(
            DEALS,
            json!({
                "amount": -1,
                "probability": 100.01,
                "quantity": "three",
                "phase": "maybe",
                "tags": ["hot", "cold"],
                "expected_close": "2026-02-30",
                "signed_at": "yesterday",
                "urgent": "yes",
                "website": "ftp://files.example",
                "rep": "not-a-uuid",
                "colour": "red"
            }),
        )
        .await,
        &[
            ("amount", "minimum"),
            ("probability", "maximum"),
            ("quantity", "type"),
            ("phase", "option"),
            ("tags", "option"),
            ("expected_close", "type"),
            ("signed_at", "type"),
            ("urgent", "type"),
            ("website", "format"),
            ("rep", "type"),
            ("colour", "unknown_field"),
            ("title", "required"),
        ],
    );
    let r = invalid(
        app.post(DEALS, json!({"title": "x", "nickname": 1})).await,
        &[("nickname", "unknown_field")],
    );
    assert!(
        r.body["errors"][0]["message"].as_str().unwrap().contains("nickname"),
        "{}",
        r.text
    );

    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"title": "   "}), "title", "required"),
        (json!({"title": null}), "title", "required"),
        (json!({"title": 5}), "title", "type"),
        (json!({"title": "x", "probability": -0.01}), "probability", "minimum"),
        (json!({"title": "x", "probability": 1.234}), "probability", "scale"),
        (json!({"title": "x", "quantity": 1.5}), "quantity", "type"),
        (
            json!({"title": "x", "amount": {"amount": 1, "currency": "usd"}}),
            "amount",
            "currency",
        ),
        (
            json!({"title": "x", "amount": {"amount": 1, "rate": 2}}),
            "amount",
            "type",
        ),
        (json!({"title": "x", "amount": "lots"}), "amount", "type"),
        (json!({"title": "x", "tags": "hot"}), "tags", "type"),
        (json!({"title": "x", "customer": 42}), "customer", "type"),
        (
            json!({"title": "x", "signed_at": "2026-03-01T10:20:30"}),
            "signed_at",
            "type",
        ),
        (
            json!({"title": "x", "expected_close": "01/02/2026"}),
            "expected_close",
            "type",
        ),
    ];
    for (body, field, code) in cases {
        let r = app.post(DEALS, body.clone()).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text);
        invalid(r, &[(field, code)]);
    }

    invalid(
        app.post(CUSTOMERS, json!({"name": "x".repeat(101)})).await,
        &[("name", "max_length")],
    );
    let long = app.create("sales", "customer", json!({"name": "客".repeat(100)})).await;
    assert_eq!(
        long["name"].as_str().unwrap().chars().count(),
        100,
        "max_length counts characters"
    );
    invalid(
        app.post(CUSTOMERS, json!({"name": "x", "email": "no-at-sign"})).await,
        &[("email", "format")],
    );
    invalid(
        app.post(CUSTOMERS, json!({"name": "x", "phone": "call me"})).await,
        &[("phone", "format")],
    );
    invalid(
        app.post(CUSTOMERS, json!({"name": "x", "level": "gold"})).await,
        &[("level", "option")],
    );

    // The body must be an object; malformed JSON is a bad request.
    invalid(app.post(DEALS, json!(["title"])).await, &[("$", "type")]);
    let raw = app
        .client
        .post(format!("{}{DEALS}", app.base))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body("{\"title\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    assert_eq!(raw.headers()["content-type"], "application/problem+json");
    assert_eq!(deal_count(&app).await, 0, "nothing refused was written");
}

async fn a_duplicate_unique_email_is_refused_with_unique(b: Backend) {
    let app = sales(b).await;
    let a = app
        .create("sales", "customer", json!({"name": "A", "email": "a@corp.example"}))
        .await;
    let bb = app
        .create("sales", "customer", json!({"name": "B", "email": "b@corp.example"}))
        .await;
    invalid(
        app.post(CUSTOMERS, json!({"name": "C", "email": "a@corp.example"}))
            .await,
        &[("email", "unique")],
    );
    // A record keeps its own value.
    app.patch(
        &format!("{CUSTOMERS}/{}", id_of(&a)),
        json!({"email": "a@corp.example", "name": "A2"}),
    )
    .await
    .expect(200);
    invalid(
        app.patch(
            &format!("{CUSTOMERS}/{}", id_of(&bb)),
            json!({"email": "a@corp.example"}),
        )
        .await,
        &[("email", "unique")],
    );
    let got = app.get(&format!("{CUSTOMERS}/{}", id_of(&bb))).await.expect(200);
    assert_eq!(got.body["email"], "b@corp.example");
    assert_eq!(got.body["version"], json!(1));
    // Empty values are not duplicates of each other.
    app.create("sales", "customer", json!({"name": "D"})).await;
    app.create("sales", "customer", json!({"name": "E"})).await;
    let r = app.get(&format!("{CUSTOMERS}?count=true")).await.expect(200);
    assert_eq!(r.body["total"], json!(4));
}

async fn relations_users_and_owners_must_point_at_existing_records(b: Backend) {
    let app = sales(b).await;
    let admin = admin_id(&app).await;
    let ghost = uuid::Uuid::now_v7().to_string();
    invalid(
        app.post(DEALS, json!({"title": "x", "customer": ghost})).await,
        &[("customer", "not_found")],
    );
    invalid(
        app.post(DEALS, json!({"title": "x", "customer": "acme"})).await,
        &[("customer", "type")],
    );
    invalid(
        app.post(DEALS, json!({"title": "x", "rep": ghost})).await,
        &[("rep", "not_found")],
    );
    invalid(
        app.post(DEALS, json!({"title": "x", "owner": ghost})).await,
        &[("owner", "not_found")],
    );
    // A customer id is not a user id, and the other way round.
    let c = app.create("sales", "customer", json!({"name": "Acme"})).await;
    invalid(
        app.post(DEALS, json!({"title": "x", "rep": c["id"]})).await,
        &[("rep", "not_found")],
    );
    invalid(
        app.post(DEALS, json!({"title": "x", "customer": admin})).await,
        &[("customer", "not_found")],
    );
    assert_eq!(deal_count(&app).await, 0);

    let d = app
        .create(
            "sales",
            "deal",
            json!({"title": "x", "customer": c["id"], "rep": admin, "owner": admin}),
        )
        .await;
    assert_eq!(d["owner"], json!(admin));
    let other = app.new_tenant("other", "boss@other.example").await;
    let other_me = app
        .call_as(Some(&other), Method::GET, "/api/v1/me", None)
        .await
        .expect(200);
    let other_id = other_me.body["user"]["id"].as_str().unwrap().to_string();
    invalid(
        app.patch(&deal_path(&id_of(&d)), json!({"rep": other_id})).await,
        &[("rep", "not_found")],
    );
    invalid(
        app.patch(&deal_path(&id_of(&d)), json!({"owner": other_id})).await,
        &[("owner", "not_found")],
    );
}

// ---------------------------------------------------------------------------------------------
// Versions and PATCH
// ---------------------------------------------------------------------------------------------

async fn patch_follows_if_match_versions_and_refuses_stale_ones(b: Backend) {
    let app = sales(b).await;
    let d = app.create("sales", "deal", json!({"title": "v1", "quantity": 1})).await;
    let path = deal_path(&id_of(&d));

    let r = app
        .call_with(
            Some(&app.token),
            Method::PATCH,
            &path,
            Some(json!({"title": "v2"})),
            &[("If-Match", "\"1\"")],
        )
        .await
        .expect(200);
    assert_eq!(r.headers["etag"], "\"2\"");
    assert_eq!(r.body["version"], json!(2));
    assert_eq!(r.body["title"], "v2");
    assert_eq!(r.body["quantity"], json!(1), "fields not sent keep their values");
    assert_eq!(r.body["created_at"], d["created_at"]);
    assert!(r.body["updated_at"].as_str().unwrap() > d["updated_at"].as_str().unwrap());
    let got = app.get(&path).await.expect(200);
    assert_eq!(got.body, r.body, "the PATCH answer is what a read answers");
    assert_eq!(got.headers["etag"], "\"2\"");

    let stale = problem(
        app.call_with(
            Some(&app.token),
            Method::PATCH,
            &path,
            Some(json!({"title": "lost"})),
            &[("If-Match", "\"1\"")],
        )
        .await,
        412,
        "version_mismatch",
    );
    assert!(stale.body["detail"].as_str().unwrap().contains('2'), "{}", stale.text);
    let got = app.get(&path).await.expect(200);
    assert_eq!(got.body["title"], "v2", "a stale write changed nothing");
    assert_eq!(got.body["version"], json!(2));

    let weak = app
        .call_with(
            Some(&app.token),
            Method::PATCH,
            &path,
            Some(json!({"quantity": 3})),
            &[("If-Match", "W/\"2\"")],
        )
        .await
        .expect(200);
    assert_eq!(weak.headers["etag"], "\"3\"");
    let plain = app.patch(&path, json!({"quantity": 4})).await.expect(200);
    assert_eq!(
        plain.headers["etag"], "\"4\"",
        "without If-Match any version is updated"
    );
    let star = app
        .call_with(
            Some(&app.token),
            Method::PATCH,
            &path,
            Some(json!({"quantity": 5})),
            &[("If-Match", "*")],
        )
        .await
        .expect(200);
    assert_eq!(star.body["version"], json!(5));
    bad(
        app.call_with(
            Some(&app.token),
            Method::PATCH,
            &path,
            Some(json!({"quantity": 6})),
            &[("If-Match", "\"abc\"")],
        )
        .await,
        "If-Match",
        "invalid",
    );
    // An empty PATCH is a no-op write that still bumps the version.
    let empty = app.patch(&path, json!({})).await.expect(200);
    assert_eq!(empty.body["version"], json!(6));
    assert_eq!(empty.body["quantity"], json!(5));

    // Clearing a value, and a required field cannot be cleared.
    let cleared = app.patch(&path, json!({"quantity": null})).await.expect(200);
    assert_eq!(cleared.body["quantity"], Value::Null);
    invalid(app.patch(&path, json!({"title": null})).await, &[("title", "required")]);
    invalid(app.patch(&path, json!({"title": ""})).await, &[("title", "required")]);
    invalid(
        app.patch(&path, json!({"probability": 101})).await,
        &[("probability", "maximum")],
    );
    let got = app.get(&path).await.expect(200);
    assert_eq!(got.body["version"], json!(7), "refused PATCHes changed nothing");
    assert_eq!(got.body["title"], "v2");

    problem(
        app.patch(&deal_path(&uuid::Uuid::now_v7().to_string()), json!({"title": "x"}))
            .await,
        404,
        "not_found",
    );
}

async fn patch_accepts_unchanged_system_fields_and_refuses_changed_ones(b: Backend) {
    let app = sales(b).await;
    let admin = admin_id(&app).await;
    let d = app.create("sales", "deal", json!({"title": "sys"})).await;
    let path = deal_path(&id_of(&d));

    // The whole record read, edited and sent back.
    let mut whole = app.get(&path).await.expect(200).body;
    whole["title"] = json!("sys edited");
    let r = app.patch(&path, whole).await.expect(200);
    assert_eq!(r.body["title"], "sys edited");
    assert_eq!(r.body["version"], json!(2));
    assert_eq!(r.body["id"], d["id"]);

    invalid(
        app.patch(&path, json!({"id": uuid::Uuid::now_v7().to_string()})).await,
        &[("id", "read_only")],
    );
    invalid(
        app.patch(&path, json!({"version": 99})).await,
        &[("version", "read_only")],
    );
    invalid(
        app.patch(&path, json!({"version": 1})).await,
        &[("version", "read_only")],
    );
    invalid(
        app.patch(&path, json!({"created_at": "2020-01-01T00:00:00.000000Z"}))
            .await,
        &[("created_at", "read_only")],
    );
    invalid(
        app.patch(&path, json!({"updated_at": "2020-01-01T00:00:00.000000Z"}))
            .await,
        &[("updated_at", "read_only")],
    );
    invalid(
        app.patch(&path, json!({"created_by": uuid::Uuid::now_v7().to_string()}))
            .await,
        &[("created_by", "read_only")],
    );
    invalid(
        app.post(DEALS, json!({"title": "x", "id": uuid::Uuid::now_v7().to_string()}))
            .await,
        &[("id", "read_only")],
    );
    invalid(
        app.post(DEALS, json!({"title": "x", "version": 1})).await,
        &[("version", "read_only")],
    );
    invalid(
        app.patch(&path, json!({"stage": "won"})).await,
        &[("stage", "unknown_field")],
    );
    assert_eq!(app.get(&path).await.expect(200).body["version"], json!(2));

    // The owner can be handed to another user of the tenant.
    let owner_path = path.clone();
    let handed = app.patch(&owner_path, json!({"owner": admin})).await.expect(200);
    assert_eq!(handed.body["owner"], json!(admin));
    let unowned = app.patch(&owner_path, json!({"owner": null})).await.expect(200);
    assert_eq!(unowned.body["owner"], Value::Null);
    assert_eq!(app.get(&owner_path).await.expect(200).body["owner"], Value::Null);
    let back = app.patch(&owner_path, json!({"owner": admin})).await.expect(200);
    assert_eq!(back.body["owner"], json!(admin));
    assert_eq!(back.body["created_by"], json!(admin));
}

// ---------------------------------------------------------------------------------------------
// DELETE
// ---------------------------------------------------------------------------------------------

async fn delete_answers_204_and_the_record_is_gone(b: Backend) {
    let app = sales(b).await;
    let d = app.create("sales", "deal", json!({"title": "doomed"})).await;
    let keep = app.create("sales", "deal", json!({"title": "kept"})).await;
    let path = deal_path(&id_of(&d));
    app.patch(&path, json!({"title": "doomed v2"})).await.expect(200);

    problem(
        app.call_with(Some(&app.token), Method::DELETE, &path, None, &[("If-Match", "\"1\"")])
            .await,
        412,
        "version_mismatch",
    );
    app.get(&path).await.expect(200);

    let r = app
        .call_with(Some(&app.token), Method::DELETE, &path, None, &[("If-Match", "\"2\"")])
        .await
        .expect(204);
    assert!(r.text.is_empty());
    problem(app.get(&path).await, 404, "not_found");
    problem(app.delete(&path).await, 404, "not_found");
    problem(app.patch(&path, json!({"title": "zombie"})).await, 404, "not_found");
    assert_eq!(ids(&list(&app, "").await), [id_of(&keep)]);
    // Without If-Match.
    app.delete(&deal_path(&id_of(&keep))).await.expect(204);
    assert_eq!(deal_count(&app).await, 0);
}

async fn a_customer_that_a_deal_points_at_cannot_be_deleted(b: Backend) {
    let app = sales(b).await;
    let c = app.create("sales", "customer", json!({"name": "Acme"})).await;
    let d = app
        .create("sales", "deal", json!({"title": "x", "customer": c["id"]}))
        .await;
    let cpath = format!("{CUSTOMERS}/{}", id_of(&c));
    let r = problem(app.delete(&cpath).await, 409, "conflict");
    assert!(r.body["detail"].as_str().unwrap().contains("deal"), "{}", r.text);
    app.get(&cpath).await.expect(200);
    app.patch(&deal_path(&id_of(&d)), json!({"customer": null}))
        .await
        .expect(200);
    app.delete(&cpath).await.expect(204);
    problem(app.get(&cpath).await, 404, "not_found");
}

// ---------------------------------------------------------------------------------------------
// Lists: filters
// ---------------------------------------------------------------------------------------------

struct Seed {
    acme: String,
    globex: String,
    admin: String,
    /// Deals by title.
    deals: Vec<Value>,
}

impl Seed {
    fn deal(&self, title: &str) -> &Value {
        self.deals.iter().find(|d| d["title"] == title).expect("seeded deal")
    }
}

/// Five deals whose fields cover the cases the filter, sort and search tests ask about.
async fn seed(app: &TestApp) -> Seed {
    let admin = admin_id(app).await;
    let acme = id_of(
        &app.create("sales", "customer", json!({"name": "Acme", "email": "x@acme.example"}))
            .await,
    );
    let globex = id_of(&app.create("sales", "customer", json!({"name": "Globex"})).await);
    let bodies = [
        json!({"title": "alpha", "amount": 100, "probability": 10, "quantity": 1, "phase": "new", "tags": ["hot"],
               "expected_close": "2026-01-10", "signed_at": "2026-01-10T09:00:00+08:00", "urgent": true,
               "customer": acme, "website": "https://alpha.example/x", "notes": "First DEAL of the year", "rep": admin}),
        json!({"title": "beta", "amount": {"amount": 5000, "currency": "USD"}, "probability": 50, "quantity": 5,
               "phase": "won", "tags": ["hot", "key"], "expected_close": "2026-02-01",
               "signed_at": "2026-01-31T23:30:00-01:00", "customer": globex, "extra": {"k": 1}}),
        json!({"title": "Gamma 50% off", "amount": "5000.5", "probability": 75.5, "quantity": 10, "phase": "lost",
               "tags": [], "expected_close": "2026-03-15", "customer": acme}),
        json!({"title": "delta 50x", "tags": ["key"], "signed_at": "2026-02-01T00:00:00Z"}),
        json!({"title": "epsilon_1", "amount": 0, "quantity": -3, "phase": "won", "expected_close": "2026-12-31",
               "customer": globex, "notes": "contains straße"}),
    ];
    let mut deals = Vec::new();
    for body in bodies {
        deals.push(app.create("sales", "deal", body).await);
    }
    Seed {
        acme,
        globex,
        admin,
        deals,
    }
}

async fn comparison_ops_filter_text_numbers_and_currency_amounts(b: Backend) {
    let app = sales(b).await;
    seed(&app).await;
    let f = |field: &str, op: &str, value: Value| json!({"field": field, "op": op, "value": value});
    let cases: Vec<(Value, Vec<&str>)> = vec![
        // text
        (f("title", "eq", json!("alpha")), vec!["alpha"]),
        (f("title", "eq", json!("ALPHA")), vec![]),
        (
            f("title", "ne", json!("alpha")),
            vec!["beta", "Gamma 50% off", "delta 50x", "epsilon_1"],
        ),
        (
            f("title", "in", json!(["alpha", "beta", "zeta"])),
            vec!["alpha", "beta"],
        ),
        (
            f("title", "nin", json!(["alpha", "beta"])),
            vec!["Gamma 50% off", "delta 50x", "epsilon_1"],
        ),
        (f("title", "between", json!(["b", "e"])), vec!["beta", "delta 50x"]),
        (f("title", "starts_with", json!("GAM")), vec!["Gamma 50% off"]),
        (f("title", "starts_with", json!("50")), vec![]),
        (f("title", "eq", json!("x' OR '1'='1")), vec![]),
        // integer
        (f("quantity", "eq", json!(5)), vec!["beta"]),
        (f("quantity", "gt", json!(1)), vec!["beta", "Gamma 50% off"]),
        (f("quantity", "gte", json!(5)), vec!["beta", "Gamma 50% off"]),
        (f("quantity", "lt", json!(1)), vec!["epsilon_1"]),
        (f("quantity", "lte", json!(1)), vec!["alpha", "epsilon_1"]),
        (f("quantity", "between", json!([1, 5])), vec!["alpha", "beta"]),
        (f("quantity", "in", json!([1, 10, 99])), vec!["alpha", "Gamma 50% off"]),
        (f("quantity", "is_null", json!(true)), vec!["delta 50x"]),
        (
            f("quantity", "is_null", json!(false)),
            vec!["alpha", "beta", "Gamma 50% off", "epsilon_1"],
        ),
        // percent (a decimal)
        (f("probability", "gte", json!(50)), vec!["beta", "Gamma 50% off"]),
        (f("probability", "eq", json!("75.5")), vec!["Gamma 50% off"]),
        (f("probability", "gt", json!(75.49)), vec!["Gamma 50% off"]),
        (f("probability", "lt", json!(10.01)), vec!["alpha"]),
        // currency: amounts compare as numbers, whatever the currency
        (f("amount", "gt", json!(100)), vec!["beta", "Gamma 50% off"]),
        (f("amount", "gte", json!(5000)), vec!["beta", "Gamma 50% off"]),
        (f("amount", "eq", json!(5000.5)), vec!["Gamma 50% off"]),
        (f("amount", "between", json!([0, "100.00"])), vec!["alpha", "epsilon_1"]),
        (f("amount", "lt", json!(0.01)), vec!["epsilon_1"]),
        (f("amount", "in", json!([100, 0])), vec!["alpha", "epsilon_1"]),
        (f("amount", "lte", json!(-1)), vec![]),
        // boolean
        (f("urgent", "eq", json!(true)), vec!["alpha"]),
        (
            f("urgent", "eq", json!(false)),
            vec!["beta", "Gamma 50% off", "delta 50x", "epsilon_1"],
        ),
        // json
        (f("extra", "is_null", json!(false)), vec!["beta"]),
    ];
    for (filter, want) in cases {
        assert_eq!(matching(&app, filter.clone()).await, names(&want), "{filter}");
    }
}

async fn date_and_datetime_filters_compare_calendar_days_and_utc_instants(b: Backend) {
    let app = sales(b).await;
    seed(&app).await;
    let f = |field: &str, op: &str, value: Value| json!({"field": field, "op": op, "value": value});
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (f("expected_close", "eq", json!("2026-12-31")), vec!["epsilon_1"]),
        (f("expected_close", "lt", json!("2026-02-01")), vec!["alpha"]),
        (f("expected_close", "lte", json!("2026-02-01")), vec!["alpha", "beta"]),
        (f("expected_close", "gt", json!("2026-03-15")), vec!["epsilon_1"]),
        (
            f("expected_close", "gte", json!("2026-03-15")),
            vec!["Gamma 50% off", "epsilon_1"],
        ),
        (
            f("expected_close", "between", json!(["2026-02-01", "2026-03-15"])),
            vec!["beta", "Gamma 50% off"],
        ),
        (
            f("expected_close", "in", json!(["2026-01-10", "2026-12-31"])),
            vec!["alpha", "epsilon_1"],
        ),
        (f("expected_close", "is_null", json!(true)), vec!["delta 50x"]),
        // alpha 01:00Z on Jan 10; beta 00:30Z on Feb 1; delta 00:00Z on Feb 1
        (
            f("signed_at", "gte", json!("2026-02-01T00:00:00Z")),
            vec!["beta", "delta 50x"],
        ),
        (f("signed_at", "gt", json!("2026-02-01T08:00:00+08:00")), vec!["beta"]),
        (f("signed_at", "lt", json!("2026-02-01T00:00:00Z")), vec!["alpha"]),
        (f("signed_at", "lte", json!("2026-01-10T01:00:00Z")), vec!["alpha"]),
        (f("signed_at", "eq", json!("2026-02-01T08:30:00+08:00")), vec!["beta"]),
        (f("signed_at", "eq", json!("2026-02-01T00:30:00.000001Z")), vec![]),
        (
            f(
                "signed_at",
                "between",
                json!(["2026-01-10T01:00:00Z", "2026-02-01T00:00:00Z"]),
            ),
            vec!["alpha", "delta 50x"],
        ),
        (
            f("signed_at", "ne", json!("2026-02-01T00:00:00Z")),
            vec!["alpha", "beta", "Gamma 50% off", "epsilon_1"],
        ),
        (
            f("signed_at", "is_null", json!(true)),
            vec!["Gamma 50% off", "epsilon_1"],
        ),
    ];
    for (filter, want) in cases {
        assert_eq!(matching(&app, filter.clone()).await, names(&want), "{filter}");
    }
    bad(
        app.get(&format!(
            "{DEALS}?filter={}",
            enc(&f("expected_close", "eq", json!("2026-02-01T00:00:00Z")).to_string())
        ))
        .await,
        "expected_close",
        "type",
    );
}

async fn select_multi_select_relation_and_system_field_filters_match(b: Backend) {
    let app = sales(b).await;
    let s = seed(&app).await;
    let f = |field: &str, op: &str, value: Value| json!({"field": field, "op": op, "value": value});
    let gamma = s.deal("Gamma 50% off");
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (f("phase", "eq", json!("won")), vec!["beta", "epsilon_1"]),
        (f("phase", "in", json!(["new", "lost"])), vec!["alpha", "Gamma 50% off"]),
        (f("phase", "is_null", json!(true)), vec!["delta 50x"]),
        (f("phase", "eq", json!("nonsense")), vec![]),
        (f("tags", "contains", json!("hot")), vec!["alpha", "beta"]),
        (f("tags", "contains", json!("key")), vec!["beta", "delta 50x"]),
        (f("tags", "contains", json!("HOT")), vec![]),
        (f("tags", "is_null", json!(true)), vec!["epsilon_1"]),
        (
            json!({"and": [f("quantity", "gt", json!(0)), f("tags", "contains", json!("hot")), f("title", "ne", json!("zzz"))]}),
            vec!["alpha", "beta"],
        ),
        (
            json!({"or": [f("tags", "contains", json!("key")), f("tags", "contains", json!("hot"))]}),
            vec!["alpha", "beta", "delta 50x"],
        ),
        (f("customer", "eq", json!(s.acme)), vec!["alpha", "Gamma 50% off"]),
        (f("customer", "in", json!([s.globex])), vec!["beta", "epsilon_1"]),
        (f("customer", "is_null", json!(true)), vec!["delta 50x"]),
        (f("rep", "eq", json!(s.admin)), vec!["alpha"]),
        // system fields
        (
            f("owner", "eq", json!(s.admin)),
            vec!["alpha", "beta", "Gamma 50% off", "delta 50x", "epsilon_1"],
        ),
        (f("created_by", "ne", json!(s.admin)), vec![]),
        (f("id", "eq", gamma["id"].clone()), vec!["Gamma 50% off"]),
        (
            f("id", "in", json!([s.deal("alpha")["id"], s.deal("beta")["id"]])),
            vec!["alpha", "beta"],
        ),
        (
            f("created_at", "gte", gamma["created_at"].clone()),
            vec!["Gamma 50% off", "delta 50x", "epsilon_1"],
        ),
        (
            f("created_at", "lt", gamma["created_at"].clone()),
            vec!["alpha", "beta"],
        ),
        (
            f("version", "eq", json!(1)),
            vec!["alpha", "beta", "Gamma 50% off", "delta 50x", "epsilon_1"],
        ),
        (f("code", "eq", gamma["code"].clone()), vec!["Gamma 50% off"]),
    ];
    for (filter, want) in cases {
        assert_eq!(matching(&app, filter.clone()).await, names(&want), "{filter}");
    }
}

async fn ne_and_nin_include_records_where_the_field_is_empty(b: Backend) {
    let app = sales(b).await;
    let s = seed(&app).await;
    let f = |field: &str, op: &str, value: Value| json!({"field": field, "op": op, "value": value});
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            f("phase", "ne", json!("won")),
            vec!["alpha", "Gamma 50% off", "delta 50x"],
        ),
        (f("phase", "nin", json!(["won", "lost"])), vec!["alpha", "delta 50x"]),
        (
            f("quantity", "ne", json!(5)),
            vec!["alpha", "Gamma 50% off", "delta 50x", "epsilon_1"],
        ),
        (
            f("quantity", "nin", json!([1, 5])),
            vec!["Gamma 50% off", "delta 50x", "epsilon_1"],
        ),
        (
            f("customer", "ne", json!(s.acme)),
            vec!["beta", "delta 50x", "epsilon_1"],
        ),
        (
            f("amount", "nin", json!([0])),
            vec!["alpha", "beta", "Gamma 50% off", "delta 50x"],
        ),
        (
            f("expected_close", "ne", json!("2026-12-31")),
            vec!["alpha", "beta", "Gamma 50% off", "delta 50x"],
        ),
    ];
    for (filter, want) in cases {
        assert_eq!(matching(&app, filter.clone()).await, names(&want), "{filter}");
    }
}

async fn and_or_not_nest_to_any_depth(b: Backend) {
    let app = sales(b).await;
    let s = seed(&app).await;
    let f = |field: &str, op: &str, value: Value| json!({"field": field, "op": op, "value": value});
    let won = f("phase", "eq", json!("won"));
    let big = f("quantity", "gt", json!(5));
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"or": [won, big]}), vec!["beta", "Gamma 50% off", "epsilon_1"]),
        (json!({"and": [won, f("quantity", "gt", json!(0))]}), vec!["beta"]),
        (
            json!({"and": [{"or": [won, big]}, {"not": f("customer", "eq", json!(s.globex))}]}),
            vec!["Gamma 50% off"],
        ),
        (json!({"not": {"or": [won, big]}}), vec!["alpha", "delta 50x"]),
        (json!({"not": {"not": won}}), vec!["beta", "epsilon_1"]),
        (
            json!({"not": f("phase", "is_null", json!(true))}),
            vec!["alpha", "beta", "Gamma 50% off", "epsilon_1"],
        ),
        (
            json!({"or": [{"and": [f("urgent", "eq", json!(true)), f("amount", "lt", json!(1000))]},
                          {"and": [f("phase", "eq", json!("won")), f("amount", "gt", json!(1000))]}]}),
            vec!["alpha", "beta"],
        ),
        (
            json!({"and": []}),
            vec!["alpha", "beta", "Gamma 50% off", "delta 50x", "epsilon_1"],
        ),
    ];
    for (filter, want) in cases {
        assert_eq!(matching(&app, filter.clone()).await, names(&want), "{filter}");
    }
    // `not` is the complement: it keeps records where the inner condition is unknown (empty).
    assert_eq!(
        matching(&app, json!({"not": f("phase", "eq", json!("won"))})).await,
        matching(&app, f("phase", "ne", json!("won"))).await,
        "not eq matches what ne matches"
    );
    assert_eq!(
        matching(&app, json!({"not": f("quantity", "gt", json!(1))})).await,
        names(&["alpha", "delta 50x", "epsilon_1"])
    );
}

async fn contains_ignores_ascii_case_and_takes_percent_and_underscore_literally(b: Backend) {
    let app = sales(b).await;
    seed(&app).await;
    let f = |field: &str, op: &str, value: Value| json!({"field": field, "op": op, "value": value});
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (f("title", "contains", json!("50%")), vec!["Gamma 50% off"]),
        (f("title", "contains", json!("50_")), vec![]),
        (f("title", "contains", json!("N_1")), vec!["epsilon_1"]),
        (f("title", "contains", json!("%")), vec!["Gamma 50% off"]),
        (f("title", "contains", json!("_")), vec!["epsilon_1"]),
        (f("title", "contains", json!("\\")), vec![]),
        (f("title", "contains", json!("gAmMa")), vec!["Gamma 50% off"]),
        (f("title", "contains", json!("ta 50")), vec!["delta 50x"]),
        (f("notes", "contains", json!("deal")), vec!["alpha"]),
        (f("notes", "contains", json!("straße")), vec!["epsilon_1"]),
        (f("website", "contains", json!("ALPHA.example")), vec!["alpha"]),
        (f("title", "starts_with", json!("Epsilon_")), vec!["epsilon_1"]),
        (f("title", "starts_with", json!("%")), vec![]),
    ];
    for (filter, want) in cases {
        assert_eq!(matching(&app, filter.clone()).await, names(&want), "{filter}");
    }
}

async fn bad_filters_answer_400_naming_the_field_and_the_problem(b: Backend) {
    let app = sales(b).await;
    seed(&app).await;
    let get = |filter: String| {
        let app = &app;
        async move { app.get(&format!("{DEALS}?filter={}", enc(&filter))).await }
    };
    let r = bad(get("{\"field\": \"title\", ".into()).await, "filter", "invalid_json");
    assert!(!r.body["detail"].as_str().unwrap().is_empty());
    bad(get("not json".into()).await, "filter", "invalid_json");
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"field": "nope", "op": "eq", "value": 1}),
            "nope",
            "unknown_field",
        ),
        (
            json!({"and": [{"field": "title", "op": "eq", "value": "x"}, {"field": "colour", "op": "eq", "value": "red"}]}),
            "colour",
            "unknown_field",
        ),
        (
            json!({"field": "title; DROP TABLE x", "op": "eq", "value": 1}),
            "title; DROP TABLE x",
            "unknown_field",
        ),
        (
            json!({"field": "quantity", "op": "gt", "value": "abc"}),
            "quantity",
            "type",
        ),
        (
            json!({"field": "quantity", "op": "eq", "value": null}),
            "quantity",
            "type",
        ),
        (
            json!({"field": "quantity", "op": "in", "value": []}),
            "quantity",
            "type",
        ),
        (json!({"field": "quantity", "op": "in", "value": 3}), "quantity", "type"),
        (
            json!({"field": "quantity", "op": "between", "value": [1]}),
            "quantity",
            "type",
        ),
        (
            json!({"field": "amount", "op": "gt", "value": {"amount": 1}}),
            "amount",
            "type",
        ),
        (
            json!({"field": "signed_at", "op": "gt", "value": "2026-01-01"}),
            "signed_at",
            "type",
        ),
        (json!({"field": "urgent", "op": "eq", "value": "yes"}), "urgent", "type"),
        (
            json!({"field": "customer", "op": "eq", "value": "acme"}),
            "customer",
            "type",
        ),
        (
            json!({"field": "title", "op": "is_null", "value": "yes"}),
            "title",
            "type",
        ),
        (json!({"field": "title", "op": "contains", "value": 5}), "title", "type"),
        (
            json!({"field": "quantity", "op": "contains", "value": "1"}),
            "quantity",
            "op_not_allowed",
        ),
        (
            json!({"field": "amount", "op": "starts_with", "value": "1"}),
            "amount",
            "op_not_allowed",
        ),
        (
            json!({"field": "extra", "op": "eq", "value": 1}),
            "extra",
            "op_not_allowed",
        ),
        (
            json!({"field": "urgent", "op": "gt", "value": true}),
            "urgent",
            "op_not_allowed",
        ),
        (
            json!({"field": "tags", "op": "eq", "value": "hot"}),
            "tags",
            "op_not_allowed",
        ),
        (
            json!({"field": "tags", "op": "in", "value": ["hot"]}),
            "tags",
            "op_not_allowed",
        ),
        (
            json!({"field": "title", "op": "like", "value": "x"}),
            "title",
            "unknown_op",
        ),
        (json!({"field": "title", "value": "x"}), "title", "shape"),
        (
            json!({"field": "title", "op": "eq", "value": "x", "limit": 1}),
            "filter",
            "shape",
        ),
        (json!({"and": {"field": "title"}}), "filter", "type"),
        (json!([1, 2]), "filter", "type"),
    ];
    for (filter, field, code) in cases {
        let r = get(filter.to_string()).await;
        assert_eq!(r.status, 400, "{filter}: {}", r.text);
        bad(r, field, code);
    }
    let mut deep = json!({"field": "title", "op": "eq", "value": "x"});
    for _ in 0..13 {
        deep = json!({"not": deep});
    }
    let r = problem(get(deep.to_string()).await, 400, "bad_request");
    assert_eq!(r.errors()[0].1, "too_deep");
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"field": "quantity", "op": "eq", "value": i}))
        .collect();
    let r = problem(get(json!({"or": many}).to_string()).await, 400, "bad_request");
    assert_eq!(r.errors()[0].1, "too_many");
}

// ---------------------------------------------------------------------------------------------
// Lists: sort, fields, expand, search, limit, count
// ---------------------------------------------------------------------------------------------

async fn sort_orders_by_several_keys_with_empty_values_smallest_and_ties_by_id(b: Backend) {
    let app = sales(b).await;
    seed(&app).await;
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "quantity",
            vec!["delta 50x", "epsilon_1", "alpha", "beta", "Gamma 50% off"],
        ),
        (
            "-quantity",
            vec!["Gamma 50% off", "beta", "alpha", "epsilon_1", "delta 50x"],
        ),
        (
            "-amount",
            vec!["Gamma 50% off", "beta", "alpha", "epsilon_1", "delta 50x"],
        ),
        (
            "amount",
            vec!["delta 50x", "epsilon_1", "alpha", "beta", "Gamma 50% off"],
        ),
        (
            "-expected_close",
            vec!["epsilon_1", "Gamma 50% off", "beta", "alpha", "delta 50x"],
        ),
        (
            "expected_close",
            vec!["delta 50x", "alpha", "beta", "Gamma 50% off", "epsilon_1"],
        ),
        (
            "signed_at",
            vec!["Gamma 50% off", "epsilon_1", "alpha", "delta 50x", "beta"],
        ),
        (
            "-signed_at",
            vec!["beta", "delta 50x", "alpha", "epsilon_1", "Gamma 50% off"],
        ),
        (
            "phase,-quantity",
            vec!["delta 50x", "Gamma 50% off", "alpha", "beta", "epsilon_1"],
        ),
        (
            "-phase,+quantity",
            vec!["epsilon_1", "beta", "alpha", "Gamma 50% off", "delta 50x"],
        ),
        (
            "-urgent,-probability",
            vec!["alpha", "Gamma 50% off", "beta", "epsilon_1", "delta 50x"],
        ),
        (
            "created_at",
            vec!["alpha", "beta", "Gamma 50% off", "delta 50x", "epsilon_1"],
        ),
        (
            "-created_at",
            vec!["epsilon_1", "delta 50x", "Gamma 50% off", "beta", "alpha"],
        ),
        (
            "-code",
            vec!["epsilon_1", "delta 50x", "Gamma 50% off", "beta", "alpha"],
        ),
    ];
    for (sort, want) in cases {
        let got = titles(&list(&app, &format!("sort={}", enc(sort))).await);
        assert_eq!(got, want, "sort={sort}");
    }
    // Without a sort, records come in id order (UUID v7: creation order).
    assert_eq!(
        titles(&list(&app, "").await),
        ["alpha", "beta", "Gamma 50% off", "delta 50x", "epsilon_1"]
    );
    bad(app.get(&format!("{DEALS}?sort=nope")).await, "sort", "unknown_field");
    bad(app.get(&format!("{DEALS}?sort=extra")).await, "sort", "not_sortable");
    bad(app.get(&format!("{DEALS}?sort=tags")).await, "sort", "not_sortable");
    bad(
        app.get(&format!("{DEALS}?sort=title,-title")).await,
        "sort",
        "duplicate",
    );
    bad(
        app.get(&format!("{DEALS}?sort=a,b,c,d,e,f")).await,
        "sort",
        "unknown_field",
    );
    bad(
        app.get(&format!("{DEALS}?sort=title,quantity,amount,phase,urgent,code"))
            .await,
        "sort",
        "too_many",
    );
}

async fn fields_selects_the_answered_fields_and_system_fields_always_come(b: Backend) {
    let app = sales(b).await;
    let s = seed(&app).await;
    let system = ["id", "created_at", "updated_at", "created_by", "owner", "version"];
    let keys = |r: &Value| -> Vec<String> { r.as_object().unwrap().keys().cloned().collect() };
    let want = |extra: &[&str]| -> Vec<String> { system.iter().chain(extra).map(|s| s.to_string()).collect() };
    let l = list(&app, "fields=amount,title&sort=title").await;
    for r in l["data"].as_array().unwrap() {
        assert_eq!(keys(r), want(&["title", "amount"]), "{r}");
    }
    assert_eq!(l["data"][0]["title"], "Gamma 50% off");
    assert_eq!(l["data"][0]["amount"], json!({"amount": 5000.5, "currency": "CNY"}));
    let l = list(&app, "fields=id").await;
    assert_eq!(keys(&l["data"][0]), want(&[]));
    let l = list(&app, &format!("fields={}", enc(" title , phase "))).await;
    assert_eq!(keys(&l["data"][0]), want(&["title", "phase"]));

    let alpha = s.deal("alpha");
    let one = app
        .get(&format!("{}?fields=quantity", deal_path(&id_of(alpha))))
        .await
        .expect(200);
    assert_eq!(keys(&one.body), want(&["quantity"]));
    assert_eq!(one.body["quantity"], json!(1));
    assert_eq!(one.headers["etag"], "\"1\"");
    bad(
        app.get(&format!("{DEALS}?fields=title,nope")).await,
        "fields",
        "unknown_field",
    );
    bad(
        app.get(&format!("{}?fields=nope", deal_path(&id_of(alpha)))).await,
        "fields",
        "unknown_field",
    );
}

async fn expand_replaces_relation_ids_with_the_records_and_leaves_empty_ones_null(b: Backend) {
    let app = sales(b).await;
    let s = seed(&app).await;
    let l = list(&app, "expand=customer&sort=title").await;
    let data = l["data"].as_array().unwrap();
    let by_title = |t: &str| data.iter().find(|r| r["title"] == t).unwrap().clone();
    let acme = app.get(&format!("{CUSTOMERS}/{}", s.acme)).await.expect(200).body;
    assert_eq!(by_title("alpha")["customer"], acme, "the whole related record");
    assert_eq!(by_title("Gamma 50% off")["customer"], acme);
    assert_eq!(by_title("beta")["customer"]["name"], "Globex");
    assert_eq!(by_title("beta")["customer"]["id"], json!(s.globex));
    assert_eq!(by_title("delta 50x")["customer"], Value::Null);

    let one = app
        .get(&format!("{}?expand=customer", deal_path(&id_of(s.deal("epsilon_1")))))
        .await
        .expect(200);
    assert_eq!(one.body["customer"]["name"], "Globex");
    let none = app
        .get(&format!("{}?expand=customer", deal_path(&id_of(s.deal("delta 50x")))))
        .await
        .expect(200);
    assert_eq!(none.body["customer"], Value::Null);
    // Without expand the id stays.
    assert_eq!(
        list(&app, "sort=title&limit=1").await["data"][0]["customer"],
        json!(s.acme)
    );
    // Expand works together with fields and with a filter on the relation.
    let filtered = list(
        &app,
        &format!(
            "expand=customer&fields=title,customer&filter={}",
            enc(&json!({"field": "customer", "op": "eq", "value": s.globex}).to_string())
        ),
    )
    .await;
    assert_eq!(filtered["data"].as_array().unwrap().len(), 2);
    for r in filtered["data"].as_array().unwrap() {
        assert_eq!(r["customer"]["name"], "Globex");
    }
    bad(
        app.get(&format!("{DEALS}?expand=title")).await,
        "expand",
        "not_relation",
    );
    bad(app.get(&format!("{DEALS}?expand=rep")).await, "expand", "not_relation");
    bad(
        app.get(&format!("{DEALS}?expand=nope")).await,
        "expand",
        "unknown_field",
    );
}

async fn q_searches_every_text_field_ignoring_ascii_case(b: Backend) {
    let app = sales(b).await;
    let s = seed(&app).await;
    let search = |q: &'static str| {
        let app = &app;
        async move {
            let mut t = titles(&list(app, &format!("q={}", enc(q))).await);
            t.sort();
            t
        }
    };
    assert_eq!(search("ALPHA").await, names(&["alpha"]), "title and website");
    assert_eq!(search("first deal").await, names(&["alpha"]), "long text");
    assert_eq!(search("alpha.EXAMPLE/x").await, names(&["alpha"]), "url");
    assert_eq!(
        search("won").await,
        names(&["beta", "epsilon_1"]),
        "single_select values"
    );
    assert_eq!(search("50%").await, names(&["Gamma 50% off"]));
    assert_eq!(search("50_").await, Vec::<String>::new());
    assert_eq!(search("nothing like this").await, Vec::<String>::new());
    let code = s.deal("delta 50x")["code"].as_str().unwrap();
    let by_code = list(&app, &format!("q={}", enc(code))).await;
    assert_eq!(titles(&by_code), ["delta 50x"], "auto numbers are searched");
    assert_eq!(search("").await.len(), 5, "an empty q matches everything");
    assert_eq!(search("  ").await.len(), 5);
    // q and filter combine with AND; count counts the matches of both.
    let l = list(
        &app,
        &format!(
            "count=true&q=a&filter={}",
            enc(&json!({"field": "phase", "op": "eq", "value": "won"}).to_string())
        ),
    )
    .await;
    let mut t = titles(&l);
    t.sort();
    assert_eq!(t, names(&["beta", "epsilon_1"]));
    assert_eq!(l["total"], json!(2));
    // Several words: each must be in some text field, in any order.
    assert_eq!(search("deal FIRST").await, names(&["alpha"]));
    assert_eq!(
        search("  alpha   first ").await,
        names(&["alpha"]),
        "words in different fields"
    );
    assert_eq!(search("alpha beta").await, Vec::<String>::new());
    let words = vec!["w"; 17].join(" ");
    bad(app.get(&format!("{DEALS}?q={}", enc(&words))).await, "q", "too_many");
    // Text beyond ASCII finds itself on both databases.
    app.create("sales", "deal", json!({"title": "Über Ärger", "notes": "Δέλτα"}))
        .await;
    assert_eq!(search("Über").await, names(&["Über Ärger"]));
    assert_eq!(search("Ärger Δέλτα").await, names(&["Über Ärger"]));
    let f = json!({"field": "title", "op": "contains", "value": "Ärger"});
    assert_eq!(matching(&app, f).await, names(&["Über Ärger"]));
    let f = json!({"field": "title", "op": "starts_with", "value": "Über"});
    assert_eq!(matching(&app, f).await, names(&["Über Ärger"]));
}

async fn limit_is_1_to_1000_and_count_gives_the_total(b: Backend) {
    let app = sales(b).await;
    seed(&app).await;
    bad(app.get(&format!("{DEALS}?limit=0")).await, "limit", "range");
    bad(app.get(&format!("{DEALS}?limit=1001")).await, "limit", "range");
    problem(app.get(&format!("{DEALS}?limit=-1")).await, 400, "bad_request");
    problem(app.get(&format!("{DEALS}?limit=ten")).await, 400, "bad_request");
    problem(app.get(&format!("{DEALS}?count=maybe")).await, 400, "bad_request");
    let l = list(&app, "limit=1000").await;
    assert_eq!(l["data"].as_array().unwrap().len(), 5);
    assert_eq!(l["next_cursor"], Value::Null);
    assert!(l.get("total").is_none(), "total only when asked: {l}");

    let l = list(&app, "limit=2&count=true").await;
    assert_eq!(l["data"].as_array().unwrap().len(), 2);
    assert_eq!(l["total"], json!(5), "total counts every match, not the page");
    assert!(l["next_cursor"].is_string());
    let l = list(&app, "limit=5").await;
    assert_eq!(l["next_cursor"], Value::Null, "a page that ends the list has no cursor");
    let l = list(&app, "offset=3&limit=10&count=true").await;
    assert_eq!(titles(&l), ["delta 50x", "epsilon_1"]);
    assert_eq!(l["total"], json!(5));
    let l = list(&app, "offset=50").await;
    assert_eq!(l["data"], json!([]));
    assert_eq!(l["next_cursor"], Value::Null);
    let l = list(
        &app,
        &format!(
            "count=true&limit=1&filter={}",
            enc(&json!({"field": "quantity", "op": "gt", "value": 0}).to_string())
        ),
    )
    .await;
    assert_eq!(l["total"], json!(3));
    let empty = app
        .get(&format!(
            "{CUSTOMERS}?count=true&filter={}",
            enc(&json!({"field": "name", "op": "eq", "value": "none"}).to_string())
        ))
        .await
        .expect(200);
    assert_eq!(empty.body, json!({"data": [], "next_cursor": null, "total": 0}));
}

// ---------------------------------------------------------------------------------------------
// Keyset pagination
// ---------------------------------------------------------------------------------------------

/// The value of a sort key of a record, comparable: numbers, strings, currency amounts.
fn sort_value(r: &Value, field: &str) -> Option<Value> {
    match &r[field] {
        Value::Null => None,
        Value::Object(o) => o.get("amount").cloned(),
        v => Some(v.clone()),
    }
}

fn cmp_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64().unwrap().partial_cmp(&y.as_f64().unwrap()).unwrap(),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => panic!("incomparable {a} {b}"),
    }
}

/// The order the API promises: each key ascending or descending with empty values as the
/// smallest (first ascending, last descending), then id in the direction of the last key.
fn expected_order(records: &[Value], sort: &str) -> Vec<String> {
    let keys: Vec<(bool, &str)> = sort
        .split(',')
        .filter(|k| !k.is_empty())
        .map(|k| match k.strip_prefix('-') {
            Some(n) => (true, n),
            None => (false, k),
        })
        .collect();
    let mut rs = records.to_vec();
    rs.sort_by(|a, b| {
        for (desc, field) in &keys {
            let o = match (sort_value(a, field), sort_value(b, field)) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(x), Some(y)) => cmp_values(&x, &y),
            };
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        let by_id = id_of(a).cmp(&id_of(b));
        if keys.last().is_some_and(|(desc, _)| *desc) {
            by_id.reverse()
        } else {
            by_id
        }
    });
    rs.iter().map(id_of).collect()
}

/// Walks a list by cursor with `limit`, asserting every page but the last is full.
async fn walk(app: &TestApp, query: &str, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut q = format!("{query}&limit={limit}");
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={}", enc(c)));
        }
        let page = list(app, &q).await;
        let n = page["data"].as_array().unwrap().len();
        out.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(n, limit, "only the last page may be short ({query})");
                cursor = Some(c.to_string());
            }
            None => return out,
        }
    }
    panic!("the walk did not end: {query}");
}

async fn walk_offsets(app: &TestApp, query: &str, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    for page in 0..100 {
        let l = list(app, &format!("{query}&limit={limit}&offset={}", page * limit)).await;
        let got = ids(&l);
        if got.is_empty() {
            return out;
        }
        out.extend(got);
    }
    panic!("offset walk did not end");
}

async fn keyset_pages_walk_every_record_exactly_once_in_sort_order(b: Backend) {
    let app = sales(b).await;
    let creates: Vec<Value> = (0..37)
        .map(|i: usize| {
            let mut d = json!({"title": format!("p{:02}", i % 30)});
            if !i.is_multiple_of(7) {
                d["amount"] = json!((i % 7) * 1000);
            }
            if !i.is_multiple_of(5) {
                d["expected_close"] = json!(format!("2026-01-{:02}", 1 + i % 9));
            }
            if !i.is_multiple_of(4) {
                d["signed_at"] = json!(format!("2026-02-{:02}T0{}:00:00.{:06}Z", 1 + i % 3, i % 5, i * 7));
            }
            if i % 4 != 3 {
                d["phase"] = json!(["new", "won", "lost"][i % 3]);
            }
            if !i.is_multiple_of(6) {
                d["quantity"] = json!((i % 4) as i64 - 1);
            }
            d
        })
        .collect();
    let r = app
        .post(&format!("{DEALS}/bulk"), json!({"create": creates}))
        .await
        .expect(200);
    assert_eq!(r.body["created"].as_array().unwrap().len(), 37);
    let all = list(&app, "limit=1000").await["data"].as_array().unwrap().clone();
    assert_eq!(all.len(), 37);

    for sort in [
        "-amount,title",
        "expected_close",
        "-expected_close",
        "-signed_at,quantity",
        "phase,-quantity,title",
        "title,-amount",
        "quantity,expected_close",
        "-created_at",
        "",
    ] {
        let query = format!("sort={}", enc(sort));
        let want = expected_order(&all, sort);
        let full = ids(&list(&app, &format!("{query}&limit=1000")).await);
        assert_eq!(full, want, "the API's order for sort={sort}");
        let walked = walk(&app, &query, 5).await;
        assert_eq!(walked.len(), 37, "sort={sort}");
        assert_eq!(
            walked.iter().collect::<HashSet<_>>().len(),
            37,
            "no duplicates: sort={sort}"
        );
        assert_eq!(walked, want, "cursor pages for sort={sort}");
        assert_eq!(
            walk_offsets(&app, &query, 5).await,
            want,
            "offset pages for sort={sort}"
        );
    }

    // Pages of a filtered list, and pages whose answered fields leave out the sort keys.
    let filter = json!({"field": "phase", "op": "ne", "value": "won"});
    let query = format!("sort={}&filter={}", enc("-amount,title"), enc(&filter.to_string()));
    let full = ids(&list(&app, &format!("{query}&limit=1000")).await);
    assert_eq!(full.len(), 37 - (0..37).filter(|i| i % 4 != 3 && i % 3 == 1).count());
    assert_eq!(walk(&app, &query, 4).await, full);
    let want = expected_order(&all, "-amount,title");
    assert_eq!(
        walk(&app, &format!("sort={}&fields=code", enc("-amount,title")), 5).await,
        want
    );
    let page = list(&app, &format!("sort={}&fields=code&limit=3", enc("-amount,title"))).await;
    assert!(
        page["data"][0].get("amount").is_none(),
        "fields still decides what is answered"
    );
    assert_eq!(
        walk(&app, &format!("sort={}&fields=title&q=p0", enc("expected_close")), 3).await,
        expected_order(
            &all.iter()
                .filter(|r| r["title"].as_str().unwrap().starts_with("p0"))
                .cloned()
                .collect::<Vec<_>>(),
            "expected_close"
        )
    );
}

async fn cursors_are_refused_for_another_sort_garbage_or_together_with_offset(b: Backend) {
    let app = sales(b).await;
    for i in 0..4 {
        app.create("sales", "deal", json!({"title": format!("t{i}"), "amount": i}))
            .await;
    }
    let page = list(&app, "sort=-amount&limit=2").await;
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let next = list(&app, &format!("sort=-amount&limit=2&cursor={}", enc(&cursor))).await;
    assert_eq!(titles(&next), ["t1", "t0"]);
    bad(
        app.get(&format!("{DEALS}?sort=amount&limit=2&cursor={}", enc(&cursor)))
            .await,
        "cursor",
        "invalid_cursor",
    );
    bad(
        app.get(&format!("{DEALS}?limit=2&cursor={}", enc(&cursor))).await,
        "cursor",
        "invalid_cursor",
    );
    bad(
        app.get(&format!("{DEALS}?sort=-amount&cursor=garbage!!")).await,
        "cursor",
        "invalid_cursor",
    );
    bad(
        app.get(&format!("{DEALS}?sort=-amount&cursor=e30")).await,
        "cursor",
        "invalid_cursor",
    );
    bad(
        app.get(&format!(
            "{DEALS}?sort=-amount&limit=2&offset=2&cursor={}",
            enc(&cursor)
        ))
        .await,
        "cursor",
        "conflict",
    );
}

// ---------------------------------------------------------------------------------------------
// Bulk
// ---------------------------------------------------------------------------------------------

async fn bulk_creates_updates_and_deletes_together(b: Backend) {
    let app = sales(b).await;
    let a = app.create("sales", "deal", json!({"title": "a", "quantity": 1})).await;
    let gone = app.create("sales", "deal", json!({"title": "gone"})).await;
    let y = a["created_at"].as_str().unwrap()[..4].to_string();
    let r = app
        .post(
            &format!("{DEALS}/bulk"),
            json!({
                "create": [{"title": "n1", "amount": 5}, {"title": "n2", "tags": ["key"]}],
                "update": [{"id": id_of(&a), "version": 1, "title": "a2"}],
                "delete": [id_of(&gone)]
            }),
        )
        .await
        .expect(200);
    let created = r.body["created"].as_array().unwrap();
    assert_eq!(created.len(), 2);
    assert_eq!(created[0]["title"], "n1");
    assert_eq!(created[0]["amount"], json!({"amount": 5.0, "currency": "CNY"}));
    assert_eq!(created[0]["code"], json!(format!("DL-{y}-00003")));
    assert_eq!(created[1]["code"], json!(format!("DL-{y}-00004")));
    assert_eq!(created[1]["tags"], json!(["key"]));
    let updated = r.body["updated"].as_array().unwrap();
    assert_eq!(updated[0]["title"], "a2");
    assert_eq!(updated[0]["quantity"], json!(1));
    assert_eq!(updated[0]["version"], json!(2));
    assert_eq!(r.body["deleted"], json!([id_of(&gone)]));

    let mut t = titles(&list(&app, "limit=100").await);
    t.sort();
    assert_eq!(t, ["a2", "n1", "n2"]);
    problem(app.get(&deal_path(&id_of(&gone))).await, 404, "not_found");
    for c in created {
        assert_eq!(&app.get(&deal_path(&id_of(c))).await.expect(200).body, c);
    }
    // Deletes may name records as objects, and an empty bulk does nothing.
    let r = app
        .post(
            &format!("{DEALS}/bulk"),
            json!({"delete": [{"id": id_of(&created[0]), "version": 1}]}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["deleted"], json!([id_of(&created[0])]));
    let r = app.post(&format!("{DEALS}/bulk"), json!({})).await.expect(200);
    assert_eq!(r.body, json!({"created": [], "updated": [], "deleted": []}));
    assert_eq!(deal_count(&app).await, 2);
}

async fn one_invalid_bulk_item_fails_the_whole_batch_and_names_its_path(b: Backend) {
    let app = sales(b).await;
    let a = app.create("sales", "deal", json!({"title": "a", "quantity": 1})).await;
    let c = app.create("sales", "customer", json!({"name": "Acme"})).await;
    let y = a["created_at"].as_str().unwrap()[..4].to_string();
    let bulk = format!("{DEALS}/bulk");
    let before = list(&app, "limit=100").await;
    let customers_before = app.get(&format!("{CUSTOMERS}?limit=100")).await.expect(200).body;

    invalid(
        app.post(
            &bulk,
            json!({"create": [{"title": "ok1"}, {"title": "ok2"}, {"quantity": 3}], "update": [{"id": id_of(&a), "title": "changed"}]}),
        )
        .await,
        &[("create[2].title", "required")],
    );
    invalid(
        app.post(
            &bulk,
            json!({"create": [{"title": "ok1"}, {"title": "ok2", "amount": -5}], "delete": [id_of(&a)]}),
        )
        .await,
        &[("create[1].amount", "minimum")],
    );
    invalid(
        app.post(
            &bulk,
            json!({"create": [{"title": "ok1"}], "update": [{"id": id_of(&a), "quantity": "lots"}]}),
        )
        .await,
        &[("update[0].quantity", "type")],
    );
    // Both at once: the batch is refused; the create's error is named (updates are checked only
    // once every create is valid).
    let r = problem(
        app.post(
            &bulk,
            json!({"create": [{"title": "ok1"}, {"title": "ok2"}, {"quantity": 3}], "update": [{"id": id_of(&a), "quantity": "lots"}]}),
        )
        .await,
        422,
        "validation_failed",
    );
    assert!(
        r.errors()
            .contains(&("create[2].title".to_string(), "required".to_string())),
        "{}",
        r.text
    );
    invalid(
        app.post(
            &bulk,
            json!({"create": [{"title": "ok1"}, {"title": "ok2", "customer": uuid::Uuid::now_v7().to_string()}]}),
        )
        .await,
        &[("create[1].customer", "not_found")],
    );
    invalid(
        app.post(&bulk, json!({"update": [{"title": "no id"}]})).await,
        &[("update[0].id", "required")],
    );
    invalid(
        app.post(&bulk, json!({"update": [{"id": id_of(&a), "version": "one"}]}))
            .await,
        &[("update[0].version", "type")],
    );
    invalid(app.post(&bulk, json!({"delete": [42]})).await, &[("delete[0]", "type")]);
    invalid(
        app.post(
            &bulk,
            json!({"create": [{"title": "x", "colour": "red"}, {"title": "y", "code": "DL-1"}]}),
        )
        .await,
        &[("create[0].colour", "unknown_field"), ("create[1].code", "read_only")],
    );
    assert_eq!(list(&app, "limit=100").await, before, "no refused batch wrote anything");

    // A stale version in an update refuses the batch with 412.
    app.patch(&deal_path(&id_of(&a)), json!({"quantity": 2}))
        .await
        .expect(200);
    app.create("sales", "deal", json!({"title": "linked", "customer": c["id"]}))
        .await;
    let before_link = list(&app, "limit=100").await;
    problem(
        app.post(
            &bulk,
            json!({"create": [{"title": "ok1"}], "update": [{"id": id_of(&a), "version": 1, "title": "stale"}]}),
        )
        .await,
        412,
        "version_mismatch",
    );
    // Deleting a record that others point at refuses the batch with 409.
    let r = problem(
        app.post(
            &format!("{CUSTOMERS}/bulk"),
            json!({"create": [{"name": "New Co"}], "delete": [c["id"]]}),
        )
        .await,
        409,
        "conflict",
    );
    assert!(
        r.body["detail"].as_str().unwrap().starts_with("delete[0]"),
        "{}",
        r.text
    );
    assert_eq!(
        app.get(&format!("{CUSTOMERS}?limit=100")).await.expect(200).body,
        customers_before
    );
    problem(app.post(&bulk, json!({"upsert": []})).await, 400, "bad_request");
    problem(
        app.post(&bulk, json!({"create": {"title": "x"}})).await,
        400,
        "bad_request",
    );
    problem(app.post(&bulk, json!([1])).await, 400, "bad_request");
    problem(
        app.post(
            &bulk,
            json!({"update": [{"id": id_of(&a), "title": "x"}, {"id": id_of(&a), "title": "y"}]}),
        )
        .await,
        400,
        "bad_request",
    );

    assert_eq!(
        list(&app, "limit=100").await,
        before_link,
        "no refused batch wrote anything"
    );
    let next = app.create("sales", "deal", json!({"title": "next"})).await;
    assert_eq!(
        next["code"],
        json!(format!("DL-{y}-00003")),
        "refused batches took no numbers"
    );
}

/// A version written `2.0` is the integer 2 (what the document's `integer` allows), in a bulk
/// update and a bulk delete alike: a stale one is refused, the current one is taken.
async fn bulk_version_written_with_a_fraction_of_zero_is_an_integer(b: Backend) {
    let app = sales(b).await;
    let a = app.create("sales", "deal", json!({"title": "a"})).await;
    let bulk = format!("{DEALS}/bulk");
    problem(
        app.post(
            &bulk,
            json!({"update": [{"id": id_of(&a), "version": 2.0, "title": "x"}]}),
        )
        .await,
        412,
        "version_mismatch",
    );
    let r = app
        .post(
            &bulk,
            json!({"update": [{"id": id_of(&a), "version": 1.0, "title": "a2"}]}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["updated"][0]["version"], json!(2));
    problem(
        app.post(&bulk, json!({"delete": [{"id": id_of(&a), "version": 1.0}]}))
            .await,
        412,
        "version_mismatch",
    );
    app.post(&bulk, json!({"delete": [{"id": id_of(&a), "version": 2.0}]}))
        .await
        .expect(200);
    assert_eq!(deal_count(&app).await, 0);
}

async fn bulk_delete_of_a_missing_record_answers_404_and_writes_nothing(b: Backend) {
    let app = sales(b).await;
    let a = app.create("sales", "deal", json!({"title": "a"})).await;
    let ghost = uuid::Uuid::now_v7().to_string();
    let r = problem(
        app.post(
            &format!("{DEALS}/bulk"),
            json!({"create": [{"title": "new"}], "update": [{"id": id_of(&a), "title": "a2"}], "delete": [id_of(&a), ghost]}),
        )
        .await,
        404,
        "not_found",
    );
    assert!(
        r.body["detail"].as_str().unwrap().starts_with("delete[1]"),
        "{}",
        r.text
    );
    let l = list(&app, "limit=100").await;
    assert_eq!(titles(&l), ["a"]);
    assert_eq!(l["data"][0]["version"], json!(1));
    let r = problem(
        app.post(
            &format!("{DEALS}/bulk"),
            json!({"update": [{"id": ghost, "title": "x"}]}),
        )
        .await,
        404,
        "not_found",
    );
    assert!(
        r.body["detail"].as_str().unwrap().starts_with("update[0]"),
        "{}",
        r.text
    );
    assert_eq!(deal_count(&app).await, 1);
}

async fn a_bulk_request_of_more_than_1000_operations_is_refused_with_413(b: Backend) {
    let app = sales(b).await;
    let creates: Vec<Value> = (0..1001).map(|i| json!({"title": format!("t{i}")})).collect();
    problem(
        app.post(&format!("{DEALS}/bulk"), json!({"create": creates})).await,
        413,
        "payload_too_large",
    );
    let creates: Vec<Value> = (0..600).map(|i| json!({"title": format!("t{i}")})).collect();
    let deletes: Vec<Value> = (0..401).map(|_| json!(uuid::Uuid::now_v7().to_string())).collect();
    problem(
        app.post(&format!("{DEALS}/bulk"), json!({"create": creates, "delete": deletes}))
            .await,
        413,
        "payload_too_large",
    );
    assert_eq!(deal_count(&app).await, 0);
    let creates: Vec<Value> = (0..1000).map(|i| json!({"title": format!("t{i}")})).collect();
    let r = app
        .post(&format!("{DEALS}/bulk"), json!({"create": creates}))
        .await
        .expect(200);
    assert_eq!(r.body["created"].as_array().unwrap().len(), 1000);
    assert_eq!(deal_count(&app).await, 1000);
}

// ---------------------------------------------------------------------------------------------
// Paths and errors
// ---------------------------------------------------------------------------------------------

async fn malformed_ids_and_unknown_apps_or_entities_answer_404_problems(b: Backend) {
    let app = sales(b).await;
    let d = app.create("sales", "deal", json!({"title": "x"})).await;
    for bad_id in [
        "not-a-uuid",
        "1",
        "00000000-0000-0000-0000-00000000000g",
        "%27%20OR%201%3D1",
    ] {
        let path = deal_path(bad_id);
        problem(app.get(&path).await, 404, "not_found");
        problem(app.patch(&path, json!({"title": "y"})).await, 404, "not_found");
        problem(app.delete(&path).await, 404, "not_found");
    }
    problem(
        app.get(&deal_path(&uuid::Uuid::now_v7().to_string())).await,
        404,
        "not_found",
    );
    for path in [
        "/api/v1/data/nope/deal".to_string(),
        "/api/v1/data/sales/nope".to_string(),
        "/api/v1/data/Sales/deal".to_string(),
        "/api/v1/data/sales/deal%3B".to_string(),
        format!("/api/v1/data/nope/deal/{}", id_of(&d)),
        format!("/api/v1/data/sales/customer/{}", id_of(&d)),
    ] {
        problem(app.get(&path).await, 404, "not_found");
        // A record's path takes no POST, whatever the app: 405 (see `probe_http`).
        let post = if path.matches('/').count() > 5 {
            (405, "method_not_allowed")
        } else {
            (404, "not_found")
        };
        problem(app.post(&path, json!({"title": "x"})).await, post.0, post.1);
    }
    problem(
        app.post("/api/v1/data/sales/nope/bulk", json!({})).await,
        404,
        "not_found",
    );
    problem(
        app.delete(&format!("/api/v1/data/sales/customer/{}", id_of(&d))).await,
        404,
        "not_found",
    );
    problem(app.get("/api/v1/data/sales/deal/x/y/z").await, 404, "not_found");
    // Another tenant does not see the app, nor the record.
    let other = app.new_tenant("other", "boss@other.example").await;
    let r = app
        .call_as(Some(&other), Method::GET, &deal_path(&id_of(&d)), None)
        .await;
    problem(r, 404, "not_found");
    let r = app.call_as(Some(&other), Method::GET, DEALS, None).await;
    problem(r, 404, "not_found");
    // No token: 401.
    let r = app.call_as(None, Method::GET, DEALS, None).await;
    problem(r, 401, "unauthenticated");
    let r = app
        .call_as(Some("not-a-token"), Method::POST, DEALS, Some(json!({"title": "x"})))
        .await;
    problem(r, 401, "unauthenticated");
    assert_eq!(deal_count(&app).await, 1);
}

async fn nul_characters_are_refused_in_values_filters_and_search_on_both_databases(b: Backend) {
    let app = sales(b).await;
    invalid(app.post(DEALS, json!({"title": "a\u{0}b"})).await, &[("title", "type")]);
    invalid(
        app.post(DEALS, json!({"title": "x", "notes": "\u{0}"})).await,
        &[("notes", "type")],
    );
    invalid(
        app.post(DEALS, json!({"title": "x", "extra": {"k": ["a\u{0}b"]}}))
            .await,
        &[("extra", "type")],
    );
    invalid(
        app.post(DEALS, json!({"title": "x", "extra": {"a\u{0}": 1}})).await,
        &[("extra", "type")],
    );
    invalid(
        app.post(CUSTOMERS, json!({"name": "x", "email": "a\u{0}@b.example"}))
            .await,
        &[("email", "type")],
    );
    let d = app.create("sales", "deal", json!({"title": "clean"})).await;
    invalid(
        app.patch(&deal_path(&id_of(&d)), json!({"title": "dirty\u{0}"})).await,
        &[("title", "type")],
    );
    bad(app.get(&format!("{DEALS}?q={}", enc("a\u{0}b"))).await, "q", "type");
    for (field, op, value) in [
        ("title", "eq", json!("a\u{0}")),
        ("title", "contains", json!("a\u{0}")),
        ("title", "in", json!(["ok", "a\u{0}"])),
        ("phase", "eq", json!("won\u{0}")),
        ("website", "starts_with", json!("\u{0}")),
        ("tags", "contains", json!("hot\u{0}")),
    ] {
        let filter = json!({"field": field, "op": op, "value": value});
        bad(
            app.get(&format!("{DEALS}?filter={}", enc(&filter.to_string()))).await,
            field,
            "type",
        );
    }
    let l = list(&app, "").await;
    assert_eq!(titles(&l), ["clean"]);
    assert_eq!(l["data"][0]["version"], json!(1));
}

async fn offsets_beyond_the_databases_range_are_refused_not_crashed_on(b: Backend) {
    let app = sales(b).await;
    app.create("sales", "deal", json!({"title": "only"})).await;
    let max = i64::MAX;
    let l = list(&app, &format!("offset={max}")).await;
    assert_eq!(l["data"], json!([]));
    bad(
        app.get(&format!("{DEALS}?offset={}", max as u64 + 1)).await,
        "offset",
        "range",
    );
    bad(
        app.get(&format!("{DEALS}?offset={}", u64::MAX)).await,
        "offset",
        "range",
    );
    // The node still answers.
    assert_eq!(titles(&list(&app, "offset=0").await), ["only"]);
}

async fn concurrent_writes_keep_versions_numbers_and_unique_values_consistent(b: Backend) {
    let app = sales(b).await;
    let d = app
        .create("sales", "deal", json!({"title": "contested", "quantity": 0}))
        .await;
    let path = deal_path(&id_of(&d));
    // Ten clients that all read version 1: exactly one PATCH wins.
    let patches = (0..10).map(|i| {
        let (app, path) = (&app, path.clone());
        async move {
            app.call_with(
                Some(&app.token),
                Method::PATCH,
                &path,
                Some(json!({"quantity": i})),
                &[("If-Match", "\"1\"")],
            )
            .await
        }
    });
    let answers = futures_join(patches).await;
    let won: Vec<&Resp> = answers.iter().filter(|r| r.status == 200).collect();
    assert_eq!(
        won.len(),
        1,
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in answers.iter().filter(|r| r.status != 200) {
        assert_eq!(r.status, 412, "{}", r.text);
        assert_eq!(r.code(), "version_mismatch");
    }
    let got = app.get(&path).await.expect(200);
    assert_eq!(got.body["version"], json!(2));
    assert_eq!(got.body["quantity"], won[0].body["quantity"]);

    // Concurrent creates take distinct, gapless numbers.
    let creates = (0..12).map(|i| {
        let app = &app;
        async move { app.post(DEALS, json!({"title": format!("c{i}")})).await }
    });
    let answers = futures_join(creates).await;
    let y = d["created_at"].as_str().unwrap()[..4].to_string();
    let mut codes: Vec<String> = answers
        .into_iter()
        .map(|r| r.expect(201).body["code"].as_str().unwrap().to_string())
        .collect();
    codes.sort();
    let want: Vec<String> = (2..=13).map(|n| format!("DL-{y}-{n:05}")).collect();
    assert_eq!(codes, want);

    // Concurrent creates of one unique e-mail: one is stored, the others refused.
    let same = (0..6).map(|i| {
        let app = &app;
        async move {
            app.post(
                CUSTOMERS,
                json!({"name": format!("n{i}"), "email": "race@corp.example"}),
            )
            .await
        }
    });
    let answers = futures_join(same).await;
    assert_eq!(answers.iter().filter(|r| r.status == 201).count(), 1);
    for r in answers.iter().filter(|r| r.status != 201) {
        assert!(
            (r.status == 422 && r.errors() == [("email".to_string(), "unique".to_string())])
                || (r.status == 409 && r.code() == "conflict"),
            "{}",
            r.text
        );
        assert_eq!(r.content_type(), "application/problem+json");
    }
    let c = app.get(&format!("{CUSTOMERS}?count=true")).await.expect(200);
    assert_eq!(c.body["total"], json!(1));
}

async fn edge_values_are_answered_exactly_as_stored_and_sort_alike_on_both_databases(b: Backend) {
    let app = sales(b).await;
    // A leap second is the next second on both databases, in the write's answer and in reads.
    let leap = app
        .create(
            "sales",
            "deal",
            json!({"title": "leap", "signed_at": "2026-06-30T23:59:60.25Z"}),
        )
        .await;
    assert_eq!(leap["signed_at"], "2026-07-01T00:00:00.250000Z");
    assert_eq!(app.get(&deal_path(&id_of(&leap))).await.expect(200).body, leap);
    // Four-digit years only: SQLite keeps times as text and must sort them as PostgreSQL does.
    for (field, value) in [
        ("expected_close", "0000-12-31"),
        ("expected_close", "-0001-01-01"),
        ("expected_close", "+10000-01-01"),
        ("signed_at", "0001-01-01T00:00:00+01:00"),
        ("signed_at", "9999-12-31T23:59:59-01:00"),
    ] {
        invalid(
            app.post(DEALS, json!({"title": "x", field: value})).await,
            &[(field, "out_of_range")],
        );
    }
    for (t, day, at) in [
        ("late", "9999-12-31", "9999-12-31T23:59:59.999999Z"),
        ("early", "0001-01-01", "0001-01-01T00:00:00+00:00"),
        ("now", "2026-1-5", "2026-01-05T12:00:00+08:00"),
    ] {
        app.create(
            "sales",
            "deal",
            json!({"title": t, "expected_close": day, "signed_at": at}),
        )
        .await;
    }
    let l = list(&app, "sort=expected_close&fields=expected_close,title").await;
    let days: Vec<&Value> = l["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["expected_close"])
        .collect();
    assert_eq!(
        days,
        [
            &Value::Null,
            &json!("0001-01-01"),
            &json!("2026-01-05"),
            &json!("9999-12-31"),
        ]
    );
    assert_eq!(
        titles(&list(&app, "sort=-signed_at").await),
        ["late", "leap", "now", "early"]
    );
    let f = json!({"field": "signed_at", "op": "lt", "value": "1000-01-01T00:00:00Z"});
    assert_eq!(matching(&app, f).await, ["early"]);

    // Amounts with decimals keep 15 significant digits, all of which a JSON number carries.
    let big = app
        .create(
            "sales",
            "deal",
            json!({"title": "big", "amount": "9999999999999.99", "probability": 99.99}),
        )
        .await;
    assert_eq!(big["amount"], json!({"amount": 9999999999999.99, "currency": "CNY"}));
    assert_eq!(
        app.get(&deal_path(&id_of(&big))).await.expect(200).body["amount"],
        big["amount"]
    );
    let eq = json!({"field": "amount", "op": "eq", "value": big["amount"]["amount"]});
    assert_eq!(matching(&app, eq).await, ["big"]);
    invalid(
        app.post(DEALS, json!({"title": "x", "amount": "90071992547409.91"}))
            .await,
        &[("amount", "out_of_range")],
    );
    invalid(
        app.post(DEALS, json!({"title": "x", "amount": "-0.01"})).await,
        &[("amount", "minimum")],
    );
    // Integers use the whole 64-bit range.
    for q in [i64::MIN, i64::MAX] {
        let d = app
            .create("sales", "deal", json!({"title": "int", "quantity": q}))
            .await;
        assert_eq!(d["quantity"], json!(q));
        assert_eq!(
            app.get(&deal_path(&id_of(&d))).await.expect(200).body["quantity"],
            json!(q)
        );
    }
}

async fn another_tenants_records_numbers_and_ids_stay_apart(b: Backend) {
    let app = sales(b).await;
    let c = app.create("sales", "customer", json!({"name": "Acme"})).await;
    let d = app
        .create("sales", "deal", json!({"title": "ours", "customer": c["id"]}))
        .await;
    let other = app.new_tenant("other", "boss@other.example").await;
    let as_other = |m: Method, path: String, body: Option<Value>| {
        let (app, other) = (&app, other.clone());
        async move { app.call_as(Some(&other), m, &path, body).await }
    };
    // The same app in the other tenant has its own tables and counters.
    as_other(Method::POST, "/api/v1/apps".into(), Some(sales_app()))
        .await
        .expect(201);
    let theirs = as_other(Method::POST, DEALS.into(), Some(json!({"title": "theirs"})))
        .await
        .expect(201)
        .body;
    assert_eq!(theirs["code"], d["code"], "each tenant numbers from 1");
    let l = as_other(Method::GET, format!("{DEALS}?count=true"), None)
        .await
        .expect(200)
        .body;
    assert_eq!(titles(&l), ["theirs"]);
    assert_eq!(l["total"], json!(1));
    assert_eq!(titles(&list(&app, "").await), ["ours"]);
    // Ids of one tenant mean nothing in the other: 404 and not_found, never their data.
    problem(
        as_other(Method::GET, deal_path(&id_of(&d)), None).await,
        404,
        "not_found",
    );
    problem(
        as_other(Method::PATCH, deal_path(&id_of(&d)), Some(json!({"title": "x"}))).await,
        404,
        "not_found",
    );
    problem(
        as_other(Method::DELETE, deal_path(&id_of(&d)), None).await,
        404,
        "not_found",
    );
    invalid(
        as_other(
            Method::POST,
            DEALS.into(),
            Some(json!({"title": "x", "customer": c["id"]})),
        )
        .await,
        &[("customer", "not_found")],
    );
    problem(
        as_other(
            Method::POST,
            format!("{DEALS}/bulk"),
            Some(json!({"delete": [id_of(&d)]})),
        )
        .await,
        404,
        "not_found",
    );
    let f = json!({"field": "id", "op": "eq", "value": d["id"]});
    let l = as_other(Method::GET, format!("{DEALS}?filter={}", enc(&f.to_string())), None)
        .await
        .expect(200)
        .body;
    assert_eq!(l["data"], json!([]));
    assert_eq!(
        app.get(&deal_path(&id_of(&d))).await.expect(200).body,
        d,
        "ours is untouched"
    );
}

async fn tampered_cursors_are_refused_as_bad_requests(b: Backend) {
    let app = sales(b).await;
    for i in 0..3 {
        app.create(
            "sales",
            "deal",
            json!({"title": format!("t{i}"), "amount": i, "expected_close": "2026-01-01"}),
        )
        .await;
    }
    let id = uuid::Uuid::now_v7().to_string();
    let make = |v: Value| base64url(v.to_string().as_bytes());
    let ok = make(json!({"s": "-amount", "v": [100], "id": id}));
    let page = list(&app, &format!("sort=-amount&cursor={ok}")).await;
    // Descending sorts break ties by descending id: t1 (amount 1, an older id) still follows.
    assert_eq!(
        titles(&page),
        ["t1", "t0"],
        "a well-formed cursor resumes after its values"
    );
    for (sort, cursor) in [
        ("-amount", make(json!({"s": "-amount", "v": ["1 OR 1=1"], "id": id}))),
        ("-amount", make(json!({"s": "-amount", "v": [1.5], "id": id}))),
        ("-amount", make(json!({"s": "-amount", "v": [1, 2], "id": id}))),
        ("-amount", make(json!({"s": "-amount", "v": [1], "id": "x' OR '1'='1"}))),
        ("-amount", make(json!({"s": "-amount", "v": [1]}))),
        (
            "expected_close",
            make(json!({"s": "expected_close", "v": ["tomorrow"], "id": id})),
        ),
        (
            "expected_close",
            make(json!({"s": "expected_close", "v": ["2026-01-01T00:00:00Z"], "id": id})),
        ),
        ("title", make(json!({"s": "title", "v": [["t1"]], "id": id}))),
        ("title", make(json!([1, 2]))),
    ] {
        let r = app.get(&format!("{DEALS}?sort={sort}&cursor={cursor}")).await;
        bad(r, "cursor", "invalid_cursor");
    }
}

/// Unpadded base64url, the encoding of cursors.
fn base64url(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Runs futures concurrently and answers their outputs in order.
async fn futures_join<F: std::future::Future<Output = Resp>>(fs: impl Iterator<Item = F>) -> Vec<Resp> {
    let handles: Vec<F> = fs.collect();
    let mut out = Vec::with_capacity(handles.len());
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = handles.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<Resp>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if done[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(r) => done[i] = Some(r),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.extend(done.into_iter().map(|r| r.expect("finished")));
    out
}

on_both!(
    a_deal_with_every_field_type_is_stored_and_answered_in_canonical_form,
    defaults_apply_to_absent_fields_only_and_empty_fields_answer_null,
    auto_numbers_count_up_and_cannot_be_set_by_clients,
    a_failed_write_writes_nothing_and_takes_no_auto_number,
    invalid_values_are_refused_with_the_field_and_code_of_each,
    a_duplicate_unique_email_is_refused_with_unique,
    relations_users_and_owners_must_point_at_existing_records,
    patch_follows_if_match_versions_and_refuses_stale_ones,
    patch_accepts_unchanged_system_fields_and_refuses_changed_ones,
    delete_answers_204_and_the_record_is_gone,
    a_customer_that_a_deal_points_at_cannot_be_deleted,
    comparison_ops_filter_text_numbers_and_currency_amounts,
    date_and_datetime_filters_compare_calendar_days_and_utc_instants,
    select_multi_select_relation_and_system_field_filters_match,
    ne_and_nin_include_records_where_the_field_is_empty,
    and_or_not_nest_to_any_depth,
    contains_ignores_ascii_case_and_takes_percent_and_underscore_literally,
    bad_filters_answer_400_naming_the_field_and_the_problem,
    sort_orders_by_several_keys_with_empty_values_smallest_and_ties_by_id,
    fields_selects_the_answered_fields_and_system_fields_always_come,
    expand_replaces_relation_ids_with_the_records_and_leaves_empty_ones_null,
    q_searches_every_text_field_ignoring_ascii_case,
    limit_is_1_to_1000_and_count_gives_the_total,
    keyset_pages_walk_every_record_exactly_once_in_sort_order,
    cursors_are_refused_for_another_sort_garbage_or_together_with_offset,
    bulk_creates_updates_and_deletes_together,
    one_invalid_bulk_item_fails_the_whole_batch_and_names_its_path,
    bulk_delete_of_a_missing_record_answers_404_and_writes_nothing,
    bulk_version_written_with_a_fraction_of_zero_is_an_integer,
    a_bulk_request_of_more_than_1000_operations_is_refused_with_413,
    malformed_ids_and_unknown_apps_or_entities_answer_404_problems,
    nul_characters_are_refused_in_values_filters_and_search_on_both_databases,
    offsets_beyond_the_databases_range_are_refused_not_crashed_on,
    concurrent_writes_keep_versions_numbers_and_unique_values_consistent,
    edge_values_are_answered_exactly_as_stored_and_sort_alike_on_both_databases,
    another_tenants_records_numbers_and_ids_stay_apart,
    tampered_cursors_are_refused_as_bad_requests,
);
