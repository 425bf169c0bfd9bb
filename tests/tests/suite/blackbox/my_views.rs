//! Personal views (`/apps/{app}/my/views`): each user's own, checked against the app as they
//! read it (a field hidden from them is unknown), seen and changed by them alone, and never
//! breaking a read when the definition moves on under them. Each test runs on SQLite and on
//! PostgreSQL.

use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, on_both, spawn};

/// Deals whose margin reps may not see.
fn crm() -> Value {
    json!({
        "name": "crm", "label": {"en": "CRM"},
        "entities": [{"name": "deal", "label": {"en": "Deal"}, "fields": [
            {"name": "title", "label": {"en": "Title"}, "type": "text"},
            {"name": "amount", "label": {"en": "Amount"}, "type": "decimal"},
            {"name": "margin", "label": {"en": "Margin"}, "type": "decimal"},
            {"name": "close", "label": {"en": "Close"}, "type": "date"}
        ]}],
        "roles": [
            {"name": "rep", "label": {"en": "Rep"}, "permissions": {
                "deal": {"create": true, "read": true, "update": true, "fields": {"margin": "hidden"}}}}
        ]
    })
}

fn names(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| {
            v["view"]["name"]
                .as_str()
                .or(v["name"].as_str())
                .expect("a name")
                .to_string()
        })
        .collect()
}

async fn personal_views_are_their_owners_alone(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm()).await;
    let (_, rep) = app.user("crm", "rep", Some("rep")).await;
    let (_, other) = app.user("crm", "other", Some("rep")).await;
    let base = "/api/v1/apps/crm/my/views";
    let mine = json!({"name": "mine", "label": {"en": "My deals", "zh": "我的交易"}, "entity": "deal", "type": "grid",
        "columns": [{"field": "amount", "width": 240}, {"field": "title", "width": 90}],
        "sort": [{"field": "close", "desc": true}], "group_by": "title", "row_height": "tall",
        "filter": {"field": "owner", "op": "eq", "value": "$user.id"}});
    let added = app
        .call_as(Some(&rep), Method::POST, base, Some(mine.clone()))
        .await
        .expect(201);
    assert_eq!(added.headers["location"].to_str().unwrap(), format!("{base}/mine"));
    assert_eq!(added.body["view"]["columns"], mine["columns"]);
    assert_eq!(added.body["view"]["filter"], mine["filter"]);
    assert_eq!(added.body["broken"], false);
    assert_eq!(added.body["gone"], json!([]));

    // Only the owner lists, reads, replaces and removes it; the app's version does not move.
    let listed = app.call_as(Some(&rep), Method::GET, base, None).await.expect(200);
    assert_eq!(names(&listed.body), ["mine"]);
    for who in [&other, &app.token] {
        let seen = app.call_as(Some(who), Method::GET, base, None).await.expect(200);
        assert_eq!(names(&seen.body), Vec::<String>::new());
        app.call_as(Some(who), Method::GET, &format!("{base}/mine"), None)
            .await
            .expect_problem(404, "not_found");
        app.call_as(Some(who), Method::PUT, &format!("{base}/mine"), Some(mine.clone()))
            .await
            .expect_problem(404, "not_found");
        app.call_as(Some(who), Method::DELETE, &format!("{base}/mine"), None)
            .await
            .expect_problem(404, "not_found");
    }
    // Another user may keep a view of the same name: names are per user.
    app.call_as(Some(&other), Method::POST, base, Some(mine.clone()))
        .await
        .expect(201);
    app.call_as(Some(&rep), Method::POST, base, Some(mine.clone()))
        .await
        .expect_problem(409, "conflict");
    let v = app.get("/api/v1/apps/crm").await.expect(200);
    assert_eq!(v.body["version"], 1, "personal views are not app changes");
    let shared = app.get("/api/v1/apps/crm/views").await.expect(200);
    assert_eq!(names(&shared.body), Vec::<String>::new());

    // A field hidden from the owner is unknown to their view, wherever it is named; every
    // problem is answered at once and nothing is written.
    let bad = app
        .call_as(
            Some(&rep),
            Method::POST,
            base,
            Some(
                json!({"name": "bad", "label": {"en": "Bad"}, "entity": "deal", "type": "grid", "default": true,
                "columns": [{"field": "title"}, {"field": "margin"}], "sort": [{"field": "margin"}],
                "filter": {"field": "margin", "op": "gt", "value": 10}}),
            ),
        )
        .await
        .expect_problem(422, "validation_failed");
    let mut errors = bad.errors();
    errors.sort();
    assert_eq!(
        errors,
        [
            ("columns[1].field".to_string(), "unknown_field".to_string()),
            ("default".to_string(), "not_applicable".to_string()),
            ("filter".to_string(), "unknown_field".to_string()),
            ("sort[0].field".to_string(), "unknown_field".to_string()),
        ],
        "{}",
        bad.text
    );
    assert!(!bad.text.contains("Margin"), "{}", bad.text);
    let r = app
        .call_as(
            Some(&rep),
            Method::POST,
            base,
            Some(json!({"name": "x", "label": {"en": "X"}, "entity": "nope", "type": "grid"})),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.errors(), [("entity".to_string(), "unknown_entity".to_string())]);
    app.call_as(
        Some(&rep),
        Method::POST,
        base,
        Some(json!({"name": "x", "type": "pie"})),
    )
    .await
    .expect_problem(422, "validation_failed");
    // The administrator sees the margin, so their view may show it.
    let theirs = json!({"name": "margins", "label": {"en": "Margins"}, "entity": "deal", "type": "grid",
        "columns": [{"field": "title"}, {"field": "margin"}, {"field": "close"}], "group_by": "close",
        "filter": {"field": "close", "op": "is_null", "value": false}});
    app.post(base, theirs).await.expect(201);

    // Replaced whole by its owner; a bad replacement changes nothing.
    let mut wider = mine.clone();
    wider["columns"] = json!([{"field": "title", "width": 500}]);
    let put = app
        .call_as(Some(&rep), Method::PUT, &format!("{base}/mine"), Some(wider))
        .await
        .expect(200);
    assert_eq!(put.body["view"]["columns"], json!([{"field": "title", "width": 500}]));
    let mut hidden = mine.clone();
    hidden["columns"] = json!([{"field": "margin", "width": 500}]);
    app.call_as(Some(&rep), Method::PUT, &format!("{base}/mine"), Some(hidden))
        .await
        .expect_problem(422, "validation_failed");
    let mut renamed = mine.clone();
    renamed["name"] = json!("yours");
    app.call_as(Some(&rep), Method::PUT, &format!("{base}/mine"), Some(renamed))
        .await
        .expect_problem(422, "validation_failed");
    let got = app
        .call_as(Some(&rep), Method::GET, &format!("{base}/mine"), None)
        .await
        .expect(200);
    assert_eq!(got.body["view"]["columns"], json!([{"field": "title", "width": 500}]));
    let others = app
        .call_as(Some(&other), Method::GET, &format!("{base}/mine"), None)
        .await
        .expect(200);
    assert_eq!(
        others.body["view"]["columns"], mine["columns"],
        "the other user's view of the name is theirs"
    );

    // The plan of an app change does not look at personal views: a field one uses can go, and
    // the view still reads, without it, marked broken where its filter or grouping named it.
    app.delete("/api/v1/apps/crm/entities/deal/fields/close")
        .await
        .expect(200);
    let after = app.get(&format!("{base}/margins")).await.expect(200);
    assert_eq!(
        after.body["view"]["columns"],
        json!([{"field": "title"}, {"field": "margin"}])
    );
    assert!(after.body["view"].get("group_by").is_none(), "{}", after.text);
    assert!(after.body["view"].get("filter").is_none(), "{}", after.text);
    assert_eq!(after.body["broken"], true);
    assert_eq!(after.body["gone"], json!(["close"]));
    let reps = app.call_as(Some(&rep), Method::GET, base, None).await.expect(200);
    assert_eq!(reps.body["data"][0]["view"]["sort"], Value::Null, "{}", reps.text);
    assert_eq!(
        reps.body["data"][0]["broken"], false,
        "a sort key alone does not break it"
    );
    assert_eq!(reps.body["data"][0]["gone"], json!(["close"]));
    // Its owner fixes it by replacing it, or removes it.
    app.call_as(Some(&rep), Method::DELETE, &format!("{base}/mine"), None)
        .await
        .expect(204);
    app.call_as(Some(&rep), Method::GET, &format!("{base}/mine"), None)
        .await
        .expect_problem(404, "not_found");
    let still = app.call_as(Some(&other), Method::GET, base, None).await.expect(200);
    assert_eq!(names(&still.body), ["mine"]);
}

on_both!(personal_views_are_their_owners_alone);
