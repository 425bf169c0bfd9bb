//! Numbers at and past the edge of what a field holds: filter values, creates, patches, bulk
//! writes, board filters and sums, rollups, formulas and the script checker's sample record.
//! Every request is answered (no dropped connection, no 500): values outside a field's range
//! name the field, sums that do not fit 64 bits answer a clear error, and nothing is written.

use trellis_tests::reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, Resp, TestApp, on_both, spawn};

const HUGE: &str = "9999999999999999999999999999"; // 28 digits: ×100 overflows a 96-bit decimal
const HUGER: &str = "99999999999999999999999999999"; // 29 digits: the most a decimal parses

fn probe_app() -> Value {
    json!({
        "name": "probe", "label": {"en": "Probe"},
        "entities": [
            {"name": "customer", "label": {"en": "Customer"}, "fields": [
                {"name": "name", "label": {"en": "Name"}, "type": "text"},
                {"name": "qty_total", "label": {"en": "Quantity"}, "type": "integer",
                 "rollup": {"from": "deal", "via": "customer", "fn": "sum", "field": "qty"}},
                {"name": "price_total", "label": {"en": "Price"}, "type": "decimal",
                 "rollup": {"from": "deal", "via": "customer", "fn": "sum", "field": "price"}}
            ]},
            {"name": "deal", "label": {"en": "Deal"}, "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text"},
                {"name": "amount", "label": {"en": "Amount"}, "type": "currency", "currency": "CNY"},
                {"name": "price", "label": {"en": "Price"}, "type": "decimal"},
                {"name": "rate", "label": {"en": "Rate"}, "type": "percent"},
                {"name": "qty", "label": {"en": "Quantity"}, "type": "integer"},
                {"name": "customer", "label": {"en": "Customer"}, "type": "relation", "target": "customer"}
            ]},
            {"name": "line", "label": {"en": "Line"}, "fields": [
                {"name": "qty", "label": {"en": "Quantity"}, "type": "integer"},
                {"name": "price", "label": {"en": "Price"}, "type": "decimal"},
                {"name": "scaled", "label": {"en": "Scaled"}, "type": "decimal",
                 "formula": "if record.price == () { () } else { record.price * 1000000000000 }"}
            ]}
        ]
    })
}

async fn probe(b: Backend) -> TestApp {
    let app = spawn(b).await;
    app.create_app(probe_app()).await;
    app.put(
        "/api/v1/apps/probe/entities/deal/pipeline",
        json!({"stages": [{"key": "open", "label": {"en": "Open"}}, {"key": "closed", "label": {"en": "Closed"}}],
               "transitions": [{"from": ["open"], "to": "closed"}]}),
    )
    .await
    .expect(200);
    app
}

/// A request whose JSON body is sent as written (numbers beyond 64 bits cannot be built as a
/// `Value`).
async fn send_raw(app: &TestApp, method: Method, path: &str, body: &str) -> Resp {
    let r = app
        .client
        .request(method, format!("{}{}", app.base, path))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("request is answered");
    Resp::read(r).await
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn count(app: &TestApp, entity: &str) -> u64 {
    app.get(&format!("/api/v1/data/probe/{entity}?count=true&limit=1"))
        .await
        .expect(200)
        .body["total"]
        .as_u64()
        .expect("total")
}

#[track_caller]
fn assert_names(r: &Resp, field: &str, code: &str) {
    assert!(
        r.errors().iter().any(|(f, c)| f == field && c == code),
        "expected ({field}, {code}) in {}",
        r.text
    );
    assert!(!r.text.contains("overflow"), "no internals in the answer: {}", r.text);
}

/// 28–29 digit filter values on currency, decimal, percent and integer fields, as strings and as
/// JSON numbers, in lists and on the board: 400 naming the field, never a dropped connection.
async fn huge_filter_values_answer_an_error_naming_the_field(b: Backend) {
    let app = probe(b).await;
    app.create(
        "probe",
        "deal",
        json!({"title": "x", "amount": 5, "price": 5, "rate": 5, "qty": 5}),
    )
    .await;
    for field in ["amount", "price", "rate", "qty"] {
        let mut values = vec![
            HUGE.to_string(),
            HUGER.to_string(),
            format!("-{HUGE}"),
            "1e30".to_string(),
            "9223372036854775808".to_string(),
            "18446744073709551616".to_string(),
        ];
        if field != "qty" {
            // Integers take numbers only; decimals take strings too.
            values.extend([format!("\"{HUGE}\""), format!("\"{HUGER}\""), "\"1e300\"".to_string()]);
        }
        for v in values {
            for op in ["gt", "eq", "lte"] {
                let filter = format!(r#"{{"field":"{field}","op":"{op}","value":{v}}}"#);
                for path in [
                    format!("/api/v1/data/probe/deal?filter={}", encode(&filter)),
                    format!("/api/v1/data/probe/deal/board?filter={}", encode(&filter)),
                ] {
                    let r = app.get(&path).await.expect_problem(400, "bad_request");
                    assert_names(&r, field, "out_of_range");
                }
            }
            let filter = format!(r#"{{"field":"{field}","op":"in","value":[1,{v}]}}"#);
            let r = app
                .get(&format!("/api/v1/data/probe/deal?filter={}", encode(&filter)))
                .await
                .expect_problem(400, "bad_request");
            assert_names(&r, field, "out_of_range");
        }
    }
    // The largest values a field holds still filter.
    for (field, v) in [
        ("qty", "9223372036854775807"),
        ("price", "9999999999999.99"),
        ("amount", "-9999999999999.99"),
    ] {
        let filter = format!(r#"{{"field":"{field}","op":"lt","value":{v}}}"#);
        app.get(&format!("/api/v1/data/probe/deal?filter={}", encode(&filter)))
            .await
            .expect(200);
    }
    assert_eq!(count(&app, "deal").await, 1);
}

/// Creates, patches and bulk writes with values past a field's range: 422 naming each field,
/// nothing written.
async fn huge_values_in_writes_answer_422_naming_the_field_and_write_nothing(b: Backend) {
    let app = probe(b).await;
    let bodies = [
        (format!(r#"{{"amount":"{HUGE}"}}"#), "amount"),
        (format!(r#"{{"amount":{HUGE}}}"#), "amount"),
        (
            format!(r#"{{"amount":{{"amount":"{HUGE}","currency":"USD"}}}}"#),
            "amount",
        ),
        (
            format!(r#"{{"amount":{{"amount":{HUGER},"currency":"USD"}}}}"#),
            "amount",
        ),
        (format!(r#"{{"price":"{HUGE}"}}"#), "price"),
        (format!(r#"{{"price":{HUGER}}}"#), "price"),
        (format!(r#"{{"price":"-{HUGE}"}}"#), "price"),
        (r#"{"price":"1e28"}"#.to_string(), "price"),
        (r#"{"price":1e300}"#.to_string(), "price"),
        (format!(r#"{{"rate":"{HUGE}"}}"#), "rate"),
        (format!(r#"{{"rate":{HUGER}}}"#), "rate"),
        (format!(r#"{{"qty":{HUGE}}}"#), "qty"),
        (r#"{"qty":9223372036854775808}"#.to_string(), "qty"),
        (r#"{"qty":-9223372036854775809}"#.to_string(), "qty"),
        (r#"{"qty":1e300}"#.to_string(), "qty"),
    ];
    for (body, field) in &bodies {
        let r = send_raw(&app, Method::POST, "/api/v1/data/probe/deal", body).await;
        let r = r.expect_problem(422, "validation_failed");
        assert_names(&r, field, "out_of_range");
    }
    // Every bad field of one request together.
    let r = send_raw(
        &app,
        Method::POST,
        "/api/v1/data/probe/deal",
        &format!(r#"{{"amount":"{HUGE}","price":{HUGER},"rate":"{HUGE}","qty":{HUGE}}}"#),
    )
    .await
    .expect_problem(422, "validation_failed");
    for f in ["amount", "price", "rate", "qty"] {
        assert_names(&r, f, "out_of_range");
    }
    assert_eq!(count(&app, "deal").await, 0, "nothing written");

    let d = app
        .create(
            "probe",
            "deal",
            json!({"title": "kept", "amount": "1.5", "price": 2, "rate": 3, "qty": 4}),
        )
        .await;
    let id = d["id"].as_str().unwrap();
    for (body, field) in &bodies {
        let r = send_raw(&app, Method::PATCH, &format!("/api/v1/data/probe/deal/{id}"), body).await;
        let r = r.expect_problem(422, "validation_failed");
        assert_names(&r, field, "out_of_range");
    }
    let bulk = format!(r#"{{"create":[{{"title":"a"}},{{"price":"{HUGE}"}}]}}"#);
    let r = send_raw(&app, Method::POST, "/api/v1/data/probe/deal/bulk", &bulk)
        .await
        .expect_problem(422, "validation_failed");
    assert_names(&r, "create[1].price", "out_of_range");
    let bulk = format!(r#"{{"update":[{{"id":"{id}","qty":{HUGE}}}]}}"#);
    let r = send_raw(&app, Method::POST, "/api/v1/data/probe/deal/bulk", &bulk)
        .await
        .expect_problem(422, "validation_failed");
    assert_names(&r, "update[0].qty", "out_of_range");
    let after = app.get(&format!("/api/v1/data/probe/deal/{id}")).await.expect(200).body;
    assert_eq!(after["version"], d["version"], "nothing written: {after}");
    assert_eq!(after["qty"], 4);
    assert_eq!(after["price"], json!(2.0));
    assert_eq!(count(&app, "deal").await, 1);

    // The edges themselves are kept exactly.
    let edge = app
        .create(
            "probe",
            "deal",
            json!({"qty": i64::MAX, "price": "-9999999999999.99", "amount": "9999999999999.99", "rate": "0.01"}),
        )
        .await;
    assert_eq!(edge["qty"], json!(i64::MAX));
    assert_eq!(edge["price"], json!(-9999999999999.99));
    assert_eq!(edge["amount"]["amount"], json!(9999999999999.99));
    let low = app.create("probe", "deal", json!({"qty": i64::MIN})).await;
    assert_eq!(low["qty"], json!(i64::MIN));
    // Digits past the scale are a scale error however many there are, not rounded away.
    let r = app
        .post(
            "/api/v1/data/probe/deal",
            json!({"price": "0.1000000000000000000000000000001"}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_names(&r, "price", "scale");
}

/// The board's `sum=` over integers whose total passes 64 bits answers a clear error naming
/// `sum`; totals that pass 64 bits only on the way are exact.
async fn board_sums_are_exact_and_refuse_what_64_bits_cannot_hold(b: Backend) {
    let app = probe(b).await;
    for q in [i64::MAX, i64::MAX, i64::MIN, i64::MIN, i64::MIN + 5] {
        app.create("probe", "deal", json!({"qty": q, "price": 1})).await;
    }
    let r = app.get("/api/v1/data/probe/deal/board?sum=qty,price").await.expect(200);
    let open = &r.body["stages"][0];
    assert_eq!(open["count"], 5);
    assert_eq!(open["sums"]["qty"], json!(i64::MIN + 3), "{open}");
    assert_eq!(open["sums"]["price"], json!(5.0));

    let app = probe(b).await;
    for _ in 0..2 {
        app.create("probe", "deal", json!({"qty": i64::MAX})).await;
    }
    let r = app
        .get("/api/v1/data/probe/deal/board?sum=qty")
        .await
        .expect_problem(422, "validation_failed");
    assert_names(&r, "sum", "out_of_range");
    assert!(r.text.contains("qty"), "{}", r.text);
    // A filter that leaves one of them answers its sum.
    let first = app.get("/api/v1/data/probe/deal?limit=1").await.expect(200).body["data"][0]["id"].clone();
    let filter = json!({"field": "id", "op": "eq", "value": first}).to_string();
    let r = app
        .get(&format!(
            "/api/v1/data/probe/deal/board?sum=qty&filter={}",
            encode(&filter)
        ))
        .await
        .expect(200);
    assert_eq!(r.body["stages"][0]["sums"]["qty"], json!(i64::MAX));
}

/// A write that would push a `sum` rollup past what its field holds is refused naming the field
/// written, and writes nothing; so is adding a rollup whose sum cannot be held.
async fn a_sum_rollup_pushed_past_its_range_refuses_the_write(b: Backend) {
    let app = probe(b).await;
    let c = app.create("probe", "customer", json!({"name": "ACME"})).await;
    let cid = c["id"].as_str().unwrap().to_string();
    app.create("probe", "deal", json!({"qty": i64::MAX, "customer": cid}))
        .await;
    let c = app
        .get(&format!("/api/v1/data/probe/customer/{cid}"))
        .await
        .expect(200)
        .body;
    assert_eq!(c["qty_total"], json!(i64::MAX));
    let r = app
        .post("/api/v1/data/probe/deal", json!({"qty": 1, "customer": cid}))
        .await
        .expect_problem(422, "validation_failed");
    assert_names(&r, "qty", "out_of_range");
    assert!(r.text.contains("qty_total"), "names the rollup: {}", r.text);
    assert_eq!(count(&app, "deal").await, 1, "nothing written");

    // A decimal rollup holds what a decimal field holds (15 significant digits).
    app.create("probe", "deal", json!({"price": "9999999999999.99", "customer": cid}))
        .await;
    let r = app
        .post("/api/v1/data/probe/deal", json!({"price": "0.01", "customer": cid}))
        .await
        .expect_problem(422, "validation_failed");
    assert_names(&r, "price", "out_of_range");
    // Moving a record to another parent: the other parent's sum is checked too.
    let d = app.create("probe", "deal", json!({"qty": 1})).await;
    let r = app
        .patch(
            &format!("/api/v1/data/probe/deal/{}", d["id"].as_str().unwrap()),
            json!({"customer": cid}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_names(&r, "qty", "out_of_range");
    let c = app
        .get(&format!("/api/v1/data/probe/customer/{cid}"))
        .await
        .expect(200)
        .body;
    assert_eq!(c["qty_total"], json!(i64::MAX), "{c}");
    assert_eq!(c["price_total"], json!(9999999999999.99), "{c}");

    // Records whose sum cannot be held exist before the rollup: adding it is refused.
    let other = app.create("probe", "customer", json!({"name": "Globex"})).await;
    let oid = other["id"].as_str().unwrap();
    app.create("probe", "line", json!({"qty": i64::MAX})).await;
    app.post(
        "/api/v1/apps/probe/entities/line/fields",
        json!({"name": "customer", "label": {"en": "Customer"}, "type": "relation", "target": "customer"}),
    )
    .await
    .expect(201);
    for _ in 0..2 {
        app.create("probe", "line", json!({"qty": i64::MAX, "customer": oid}))
            .await;
    }
    let r = app
        .post(
            "/api/v1/apps/probe/entities/customer/fields",
            json!({"name": "line_qty", "label": {"en": "Line quantity"}, "type": "integer",
                   "rollup": {"from": "line", "via": "customer", "fn": "sum", "field": "qty"}}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_names(&r, "line_qty", "out_of_range");
    let e = app.get("/api/v1/apps/probe").await.expect(200).body;
    assert!(!e.to_string().contains("line_qty"), "the field was not added");
}

/// The script checker's sample record with numbers past a field's range answers 422 naming the
/// field; huge related values and results are answers, never a dropped connection; a formula
/// whose result does not fit is a script error naming the field.
async fn scripts_meet_huge_numbers_without_panicking(b: Backend) {
    let app = probe(b).await;
    let check = "/api/v1/apps/probe/scripts/check";
    for (record, field) in [
        (format!(r#"{{"price":"{HUGE}"}}"#), "record.price"),
        (
            format!(r#"{{"amount":{{"amount":{HUGER},"currency":"USD"}}}}"#),
            "record.amount",
        ),
        (format!(r#"{{"rate":{HUGE}}}"#), "record.rate"),
        (format!(r#"{{"qty":{HUGE}}}"#), "record.qty"),
    ] {
        let body = format!(r#"{{"entity":"deal","script":"record","kind":"value","record":{record}}}"#);
        let r = send_raw(&app, Method::POST, check, &body)
            .await
            .expect_problem(422, "validation_failed");
        assert_names(&r, field, "out_of_range");
    }
    // Huge related values and results that overflow are answers of the checker.
    let body = format!(
        r#"{{"entity":"deal","script":"related.customer.total * 100","kind":"value","related":{{"customer":{{"total":{HUGE}}}}}}}"#
    );
    let r = send_raw(&app, Method::POST, check, &body).await.expect(200);
    assert_eq!(r.body["ok"], json!(false), "{}", r.text);
    let r = app
        .post(
            check,
            json!({"entity": "deal", "script": "record.qty + 1", "kind": "value", "record": {"qty": i64::MAX}}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["ok"], json!(false), "{}", r.text);
    let r = app
        .post(
            check,
            json!({"entity": "deal", "script": "record.price * 1000000000000000", "kind": "value",
                   "record": {"price": "9999999999999.99"}}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["ok"], json!(true), "{}", r.text);
    // A formula whose result is past its field's range.
    let r = app
        .post("/api/v1/data/probe/line", json!({"price": "9999999999999.99"}))
        .await
        .expect_problem(422, "script_error");
    assert_names(&r, "scaled", "script_error");
    assert_eq!(count(&app, "line").await, 0);
    let ok = app.create("probe", "line", json!({"price": "0.01"})).await;
    assert_eq!(ok["scaled"], json!(10000000000.0));
}

/// Definitions holding numbers past a field's range (bounds, defaults) or a rule's (a relative
/// time's offset of i64::MIN) are refused naming where, not a dropped connection.
async fn definitions_with_huge_numbers_are_refused_naming_where(b: Backend) {
    let app = probe(b).await;
    let fields = "/api/v1/apps/probe/entities/deal/fields";
    for (body, at, code) in [
        (
            format!(r#"{{"name":"big","label":{{"en":"Big"}},"type":"decimal","min":{HUGE}}}"#),
            "min",
            "type",
        ),
        (
            format!(r#"{{"name":"big","label":{{"en":"Big"}},"type":"currency","currency":"CNY","max":{HUGER}}}"#),
            "min",
            "type",
        ),
        (
            format!(r#"{{"name":"big","label":{{"en":"Big"}},"type":"percent","default":"{HUGE}"}}"#),
            "default",
            "out_of_range",
        ),
        (
            r#"{"name":"big","label":{"en":"Big"},"type":"integer","default":9223372036854775808}"#.to_string(),
            "default",
            "out_of_range",
        ),
    ] {
        let r = send_raw(&app, Method::POST, fields, &body)
            .await
            .expect_problem(422, "validation_failed");
        assert!(
            r.errors()
                .iter()
                .any(|(f, c)| f.ends_with(&format!("big.{at}")) && c == code),
            "expected big.{at} {code}: {}",
            r.text
        );
    }
    let rule = json!({"name": "later", "trigger": {"type": "relative_time", "entity": "deal", "field": "created_at",
                      "offset_seconds": i64::MIN},
                      "actions": [{"type": "set_fields", "values": {"title": "late"}}]});
    let r = app
        .post("/api/v1/apps/probe/rules", rule)
        .await
        .expect_problem(422, "validation_failed");
    assert!(
        r.errors()
            .iter()
            .any(|(f, c)| f.ends_with("trigger.offset_seconds") && c == "out_of_range"),
        "{}",
        r.text
    );
    let e = app.get("/api/v1/apps/probe").await.expect(200).body;
    assert!(!e.to_string().contains("\"big\""), "nothing added");
}

on_both!(
    huge_filter_values_answer_an_error_naming_the_field,
    huge_values_in_writes_answer_422_naming_the_field_and_write_nothing,
    board_sums_are_exact_and_refuse_what_64_bits_cannot_hold,
    a_sum_rollup_pushed_past_its_range_refuses_the_write,
    scripts_meet_huge_numbers_without_panicking,
    definitions_with_huge_numbers_are_refused_naming_where,
);
