//! The aggregate API (issue 16, point 1) over HTTP on SQLite and PostgreSQL: groups by fields
//! and time buckets with counts, sums, averages, minima and maxima, computed by the database
//! through the caller's row scope; hidden fields answered as fields that do not exist.

use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, Resp, TestApp, on_both, spawn};

const PATH: &str = "/api/v1/data/crm/deal/aggregate";

/// Deals with a select, a text, a currency, an integer and a datetime; `secret` is hidden from
/// reps, who read their own deals only; outsiders read no deal at all.
fn crm() -> Value {
    json!({
        "name": "crm", "label": {"en": "CRM"},
        "entities": [
            {"name": "memo", "label": {"en": "Memo"}, "fields": [
                {"name": "text", "label": {"en": "Text"}, "type": "text"}]},
            {"name": "deal", "label": {"en": "Deal"}, "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text"},
                {"name": "region", "label": {"en": "Region"}, "type": "single_select", "options": [
                    {"value": "north", "label": {"en": "North"}},
                    {"value": "south", "label": {"en": "South"}},
                    {"value": "west", "label": {"en": "West"}}]},
                {"name": "kind", "label": {"en": "Kind"}, "type": "single_select", "options": [
                    {"value": "new", "label": {"en": "New"}},
                    {"value": "renewal", "label": {"en": "Renewal"}}]},
                {"name": "customer", "label": {"en": "Customer"}, "type": "text"},
                {"name": "amount", "label": {"en": "Amount"}, "type": "currency", "currency": "CNY"},
                {"name": "qty", "label": {"en": "Qty"}, "type": "integer"},
                {"name": "signed_at", "label": {"en": "Signed"}, "type": "datetime"},
                {"name": "secret", "label": {"en": "Secret"}, "type": "integer"}]}
        ],
        "roles": [
            {"name": "rep", "label": {"en": "Rep"}, "permissions": {
                "deal": {"create": true, "read": true, "scope": "own", "fields": {"secret": "hidden"}}}},
            {"name": "outsider", "label": {"en": "Outsider"}, "permissions": {"memo": {"read": true}}}
        ]
    })
}

async fn agg(app: &TestApp, body: Value) -> Value {
    app.post(PATH, body).await.expect(200).body
}

async fn agg_as(app: &TestApp, token: &str, body: Value) -> Resp {
    app.call_as(Some(token), Method::POST, PATH, Some(body)).await
}

/// The groups as (key, measures) pairs.
fn groups(v: &Value) -> Vec<(Value, Value)> {
    v["groups"]
        .as_array()
        .unwrap_or_else(|| panic!("no groups: {v}"))
        .iter()
        .map(|g| (g["key"].clone(), g["measures"].clone()))
        .collect()
}

async fn seed(app: &TestApp) -> Vec<Value> {
    app.create_app(crm()).await;
    let rows = [
        ("north", "new", "a", Some("100"), 1, Some("2025-12-31T23:30:00Z"), 9),
        (
            "north",
            "renewal",
            "a",
            Some("50.5"),
            2,
            Some("2026-01-01T00:30:00Z"),
            9,
        ),
        ("south", "new", "b", Some("10"), 3, Some("2026-01-15T10:00:00Z"), 9),
        ("south", "new", "c", Some("20"), 4, Some("2025-12-15T10:00:00Z"), 9),
        ("west", "renewal", "a", None, 5, None, 9),
    ];
    let mut out = Vec::new();
    for (i, (region, kind, customer, amount, qty, signed, secret)) in rows.into_iter().enumerate() {
        let mut body = json!({"title": format!("d{i}"), "region": region, "kind": kind, "customer": customer,
                              "qty": qty, "secret": secret});
        if let Some(a) = amount {
            body["amount"] = json!(a);
        }
        if let Some(s) = signed {
            body["signed_at"] = json!(s);
        }
        out.push(app.create("crm", "deal", body).await);
    }
    out
}

async fn groups_fields_and_measures(backend: Backend) {
    let app = spawn(backend).await;
    let deals = seed(&app).await;

    // One select field: count and sum (a currency's sum as the record API answers an amount).
    let r = agg(
        &app,
        json!({"group_by": ["region"], "measures": [{"op": "count"}, {"op": "sum", "field": "amount", "as": "total"}]}),
    )
    .await;
    assert_eq!(
        groups(&r),
        vec![
            (json!({"region": "north"}), json!({"count": 2, "total": 150.5})),
            (json!({"region": "south"}), json!({"count": 2, "total": 30.0})),
            (json!({"region": "west"}), json!({"count": 1, "total": null})),
        ]
    );
    assert_eq!(r["truncated"], json!(false));

    // Two group fields.
    let r = agg(&app, json!({"group_by": ["region", "kind"]})).await;
    assert_eq!(
        groups(&r),
        vec![
            (json!({"region": "north", "kind": "new"}), json!({"count": 1})),
            (json!({"region": "north", "kind": "renewal"}), json!({"count": 1})),
            (json!({"region": "south", "kind": "new"}), json!({"count": 2})),
            (json!({"region": "west", "kind": "renewal"}), json!({"count": 1})),
        ]
    );

    // Month buckets of a datetime across a year boundary (UTC); a record without a value is
    // its own group, first.
    let r = agg(
        &app,
        json!({"bucket": {"field": "signed_at", "unit": "month"}, "measures": [{"op": "count"}, {"op": "sum", "field": "qty"}]}),
    )
    .await;
    assert_eq!(
        groups(&r),
        vec![
            (json!({"signed_at": null}), json!({"count": 1, "sum_qty": 5})),
            (json!({"signed_at": "2025-12-01"}), json!({"count": 2, "sum_qty": 5})),
            (json!({"signed_at": "2026-01-01"}), json!({"count": 2, "sum_qty": 5})),
        ]
    );
    // Weeks start on Monday: Wednesday 31 December and Thursday 1 January share one.
    let r = agg(
        &app,
        json!({"bucket": {"field": "signed_at", "unit": "week"},
               "filter": {"field": "signed_at", "op": "is_null", "value": false}}),
    )
    .await;
    assert_eq!(
        groups(&r),
        vec![
            (json!({"signed_at": "2025-12-15"}), json!({"count": 1})),
            (json!({"signed_at": "2025-12-29"}), json!({"count": 2})),
            (json!({"signed_at": "2026-01-12"}), json!({"count": 1})),
        ]
    );
    // Years and quarters, with a group field beside the bucket.
    let r = agg(
        &app,
        json!({"group_by": ["kind"], "bucket": {"field": "signed_at", "unit": "quarter"},
               "filter": {"field": "kind", "op": "eq", "value": "new"}}),
    )
    .await;
    assert_eq!(
        groups(&r),
        vec![
            (json!({"kind": "new", "signed_at": "2025-10-01"}), json!({"count": 2})),
            (json!({"kind": "new", "signed_at": "2026-01-01"}), json!({"count": 1})),
        ]
    );

    // count_distinct, per group and over every record.
    let r = agg(
        &app,
        json!({"group_by": ["region"], "measures": [{"op": "count_distinct", "field": "customer", "as": "customers"}]}),
    )
    .await;
    assert_eq!(
        groups(&r)
            .into_iter()
            .map(|(_, m)| m["customers"].clone())
            .collect::<Vec<_>>(),
        vec![json!(1), json!(2), json!(1)]
    );
    let r = agg(
        &app,
        json!({"measures": [{"op": "count_distinct", "field": "customer"}, {"op": "avg", "field": "qty"},
                            {"op": "avg", "field": "amount"}, {"op": "min", "field": "amount"},
                            {"op": "max", "field": "signed_at"}, {"op": "count", "field": "amount"}]}),
    )
    .await;
    assert_eq!(
        groups(&r),
        vec![(
            json!({}),
            json!({"count_distinct_customer": 3, "avg_qty": 3.0, "avg_amount": 45.13, "min_amount": 10.0,
                   "max_signed_at": deals[2]["signed_at"], "count_amount": 4})
        )]
    );

    // Sorted by a measure, descending, limited: the rest is said to be cut.
    let r = agg(
        &app,
        json!({"group_by": ["customer"], "measures": [{"op": "count", "as": "n"}], "sort": [{"by": "n", "desc": true}], "limit": 1}),
    )
    .await;
    assert_eq!(groups(&r), vec![(json!({"customer": "a"}), json!({"n": 3}))]);
    assert_eq!(r["truncated"], json!(true));
    let r = agg(
        &app,
        json!({"group_by": ["region"], "measures": [{"op": "sum", "field": "amount", "as": "total"}],
               "sort": [{"by": "total", "desc": true}]}),
    )
    .await;
    assert_eq!(
        groups(&r)
            .into_iter()
            .map(|(k, _)| k["region"].clone())
            .collect::<Vec<_>>(),
        vec![json!("north"), json!("south"), json!("west")],
        "empty sums last when descending"
    );

    // The filter of lists.
    let r = agg(
        &app,
        json!({"group_by": ["region"], "filter": {"field": "qty", "op": "gte", "value": 3}}),
    )
    .await;
    assert_eq!(
        groups(&r),
        vec![
            (json!({"region": "south"}), json!({"count": 2})),
            (json!({"region": "west"}), json!({"count": 1})),
        ]
    );

    // `having` keeps the groups whose measures meet it (an amount in its own units; an empty
    // sum meets nothing), before the limit.
    let r = agg(
        &app,
        json!({"group_by": ["region"], "measures": [{"op": "count"}, {"op": "sum", "field": "amount", "as": "total"}],
               "having": [{"by": "count", "op": "gte", "value": 2}, {"by": "total", "op": "gt", "value": 30}]}),
    )
    .await;
    assert_eq!(
        groups(&r),
        vec![(json!({"region": "north"}), json!({"count": 2, "total": 150.5}))]
    );
    let r = agg(
        &app,
        json!({"group_by": ["region"], "measures": [{"op": "sum", "field": "amount", "as": "total"}],
               "having": [{"by": "total", "op": "lte", "value": 30}], "limit": 1}),
    )
    .await;
    assert_eq!(groups(&r), vec![(json!({"region": "south"}), json!({"total": 30.0}))]);
    assert_eq!(r["truncated"], json!(false));
}

/// The body of a problem with one name replaced: a hidden field's answer must be a missing
/// field's, word for word.
fn renamed(r: &Resp, from: &str, to: &str) -> Value {
    trellis_tests::serde_json::from_str(&r.text.replace(from, to)).unwrap()
}

async fn scope_hidden_fields_and_rights(backend: Backend) {
    let app = spawn(backend).await;
    seed(&app).await;
    let (_, rep) = app.user("crm", "rep", Some("rep")).await;
    let (_, outsider) = app.user("crm", "outsider", Some("outsider")).await;
    app.call_as(
        Some(&rep),
        Method::POST,
        "/api/v1/data/crm/deal",
        Some(json!({"title": "mine", "region": "north", "amount": "7", "qty": 1})),
    )
    .await
    .expect(201);

    // The rep's scope is their own deals: only those are counted and summed.
    let body = json!({"group_by": ["region"], "measures": [{"op": "count"}, {"op": "sum", "field": "amount"}]});
    let r = agg_as(&app, &rep, body.clone()).await.expect(200).body;
    assert_eq!(
        groups(&r),
        vec![(json!({"region": "north"}), json!({"count": 1, "sum_amount": 7.0}))]
    );
    let r = agg(&app, body).await;
    assert_eq!(r["groups"][0]["measures"], json!({"count": 3, "sum_amount": 157.5}));

    // A hidden field can be neither grouped, measured nor filtered: the answer is that of a
    // field that does not exist.
    for (hidden, missing) in [
        (json!({"group_by": ["secret"]}), json!({"group_by": ["nosuch"]})),
        (
            json!({"measures": [{"op": "sum", "field": "secret"}]}),
            json!({"measures": [{"op": "sum", "field": "nosuch"}]}),
        ),
        (
            json!({"filter": {"field": "secret", "op": "eq", "value": 9}}),
            json!({"filter": {"field": "nosuch", "op": "eq", "value": 9}}),
        ),
    ] {
        let h = agg_as(&app, &rep, hidden.clone())
            .await
            .expect_problem(422, "validation_failed");
        let m = agg_as(&app, &rep, missing)
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(h.errors()[0].1, "unknown_field", "{}", h.text);
        assert_eq!(renamed(&h, "secret", "nosuch"), m.body, "{hidden}");
        // The admin, who sees it, may.
        app.post(PATH, hidden).await.expect(200);
    }

    // Without the read right: 403.
    let r = agg_as(&app, &outsider, json!({}))
        .await
        .expect_problem(403, "permission_denied");
    assert!(r.body.get("groups").is_none());
}

async fn bad_requests(backend: Backend) {
    let app = spawn(backend).await;
    seed(&app).await;
    let only = |r: &Resp, field: &str, code: &str| {
        assert_eq!(r.errors(), vec![(field.to_string(), code.to_string())], "{}", r.text);
        assert!(r.body.get("groups").is_none(), "{}", r.text);
    };
    // An operation that does not exist is not of the body's type.
    let r = app
        .post(PATH, json!({"measures": [{"op": "median", "field": "qty"}]}))
        .await
        .expect_problem(400, "bad_request");
    assert!(r.body.get("groups").is_none());
    let r = app
        .post(PATH, json!({"group_by": ["region", "kind", "customer", "title"]}))
        .await
        .expect_problem(422, "validation_failed");
    only(&r, "group_by", "too_many");
    let r = app
        .post(PATH, json!({"measures": [{"op": "sum", "field": "title"}]}))
        .await
        .expect_problem(422, "validation_failed");
    only(&r, "measures[0].field", "type");
    let r = app
        .post(PATH, json!({"limit": 0}))
        .await
        .expect_problem(422, "validation_failed");
    only(&r, "limit", "range");
    let r = app
        .post(PATH, json!({"group_by": ["region"], "colour": "red"}))
        .await
        .expect_problem(422, "validation_failed");
    only(&r, "colour", "unknown_field");
    let r = app
        .post(PATH, json!({"bucket": {"field": "qty", "unit": "month"}}))
        .await
        .expect_problem(422, "validation_failed");
    only(&r, "bucket.field", "type");
    let r = app
        .post(PATH, json!({"measures": [{"op": "avg"}]}))
        .await
        .expect_problem(422, "validation_failed");
    only(&r, "measures[0].field", "required");
    let r = app
        .post(PATH, json!({"group_by": ["region"], "sort": [{"by": "qty"}]}))
        .await
        .expect_problem(422, "validation_failed");
    only(&r, "sort[0].by", "not_sortable");
    let r = app
        .post(
            PATH,
            json!({"group_by": ["region"], "having": [{"by": "region", "op": "gt", "value": 1}]}),
        )
        .await
        .expect_problem(422, "validation_failed");
    only(&r, "having[0].by", "unknown_key");
    let r = app
        .post(
            PATH,
            json!({"measures": [{"op": "max", "field": "signed_at"}], "having": [{"by": "max_signed_at", "op": "gt", "value": 1}]}),
        )
        .await
        .expect_problem(422, "validation_failed");
    only(&r, "having[0].by", "type");
    app.post("/api/v1/data/crm/nosuch/aggregate", json!({}))
        .await
        .expect_problem(404, "not_found");
}

/// Datetimes fall into the periods of the tenant's time zone (Shanghai: 23:30 UTC on
/// 31 December is 1 January), or of the request's; an unknown zone writes nothing.
async fn periods_in_the_tenant_s_time_zone(backend: Backend) {
    let app = spawn(backend).await;
    seed(&app).await;
    let months = json!({"bucket": {"field": "signed_at", "unit": "month"},
                        "filter": {"field": "signed_at", "op": "is_null", "value": false}});
    let r = agg(&app, months.clone()).await;
    assert_eq!(r["time_zone"], json!("UTC"));
    assert_eq!(
        groups(&r),
        vec![
            (json!({"signed_at": "2025-12-01"}), json!({"count": 2})),
            (json!({"signed_at": "2026-01-01"}), json!({"count": 2})),
        ]
    );
    let bad = app.put("/api/v1/settings", json!({"time_zone": "Asia/Atlantis"})).await;
    assert_eq!(
        bad.errors(),
        vec![("time_zone".to_string(), "format".to_string())],
        "{}",
        bad.text
    );
    let set = app
        .put("/api/v1/settings", json!({"time_zone": "Asia/Shanghai"}))
        .await
        .expect(200);
    assert_eq!(set.body["time_zone"], json!("Asia/Shanghai"));
    let r = agg(&app, months.clone()).await;
    assert_eq!(r["time_zone"], json!("Asia/Shanghai"));
    assert_eq!(
        groups(&r),
        vec![
            (json!({"signed_at": "2025-12-01"}), json!({"count": 1})),
            (json!({"signed_at": "2026-01-01"}), json!({"count": 3})),
        ]
    );
    // The request's zone wins over the tenant's.
    let mut utc = months.clone();
    utc["time_zone"] = json!("UTC");
    assert_eq!(groups(&agg(&app, utc).await).len(), 2);
    let mut la = months;
    la["time_zone"] = json!("America/Los_Angeles");
    let r = agg(&app, la).await;
    assert_eq!(r["time_zone"], json!("America/Los_Angeles"));
    assert_eq!(
        groups(&r),
        vec![
            (json!({"signed_at": "2025-12-01"}), json!({"count": 3})),
            (json!({"signed_at": "2026-01-01"}), json!({"count": 1})),
        ]
    );
    let mut nowhere = json!({"bucket": {"field": "signed_at", "unit": "month"}});
    nowhere["time_zone"] = json!("Nowhere/Else");
    let r = app.post(PATH, nowhere).await;
    assert_eq!(
        r.errors(),
        vec![("time_zone".to_string(), "format".to_string())],
        "{}",
        r.text
    );
}

on_both!(
    groups_fields_and_measures,
    scope_hidden_fields_and_rights,
    bad_requests,
    periods_in_the_tenant_s_time_zone
);
