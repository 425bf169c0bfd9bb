//! System fields in the grid: `owner`, `created_by`, `created_at`, `updated_at` and `stage` are
//! answered with every record and may be sorted, filtered, grouped and bucketed by as fields
//! are, which is what the web UI's grid offers on them. Each test runs on SQLite and on
//! PostgreSQL.

use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, on_both, spawn};

use super::permissions::{call, get, s};

fn crm() -> Value {
    json!({
        "name": "crm", "label": {"en": "CRM"},
        "entities": [{"name": "deal", "label": {"en": "Deal"}, "fields": [
            {"name": "title", "label": {"en": "Title"}, "type": "text"}
        ], "pipeline": {
            "stages": [{"key": "new", "label": {"en": "New"}}, {"key": "won", "label": {"en": "Won"}, "kind": "won"}],
            "transitions": [{"from": ["new"], "to": "won"}]}}],
        "roles": [{"name": "rep", "label": {"en": "Rep"}, "permissions": {
            "deal": {"read": true, "create": true, "update": true, "transition": true}}}]
    })
}

fn enc(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn titles(r: &Value) -> Vec<String> {
    r["data"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {r}"))
        .iter()
        .map(|x| s(&x["title"]).to_string())
        .collect()
}

async fn system_fields_sort_filter_and_group_like_fields(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm()).await;
    let ann = app.user("crm", "ann", Some("rep")).await;
    let bob = app.user("crm", "bob", Some("rep")).await;
    // Created one after the other, by two people; b1 moves to won.
    let mut ids = vec![];
    for (title, token) in [("a1", &ann.1), ("b1", &bob.1), ("a2", &ann.1)] {
        let r = call(
            &app,
            token,
            Method::POST,
            "/api/v1/data/crm/deal",
            Some(json!({"title": title})),
        )
        .await
        .expect(201)
        .body;
        ids.push(s(&r["id"]).to_string());
    }
    call(
        &app,
        &bob.1,
        Method::POST,
        &format!("/api/v1/data/crm/deal/{}/transition", ids[1]),
        Some(json!({"to": "won"})),
    )
    .await
    .expect(200);

    // Every row answers its system fields.
    let list = get(&app, &ann.1, "/api/v1/data/crm/deal?sort=title")
        .await
        .expect(200)
        .body;
    let first = &list["data"][0];
    for f in ["owner", "created_by", "created_at", "updated_at", "stage"] {
        assert!(first.get(f).is_some_and(|v| !v.is_null()), "{f} in {first}");
    }
    assert_eq!(first["owner"], json!(ann.0));
    assert_eq!(first["created_by"], json!(ann.0));

    // Sort keys.
    for (sort, want) in [
        ("-created_at", vec!["a2", "b1", "a1"]),
        ("created_at", vec!["a1", "b1", "a2"]),
        ("stage,title", vec!["a1", "a2", "b1"]),
        ("-updated_at", vec!["b1", "a2", "a1"]),
    ] {
        let r = get(&app, &ann.1, &format!("/api/v1/data/crm/deal?sort={sort}"))
            .await
            .expect(200)
            .body;
        assert_eq!(titles(&r), want, "sort {sort}");
    }
    let by_owner = get(&app, &ann.1, "/api/v1/data/crm/deal?sort=owner,title")
        .await
        .expect(200)
        .body;
    let mut want = [("a1", &ann.0), ("a2", &ann.0), ("b1", &bob.0)];
    want.sort_by(|x, y| x.1.cmp(y.1).then(x.0.cmp(y.0)));
    assert_eq!(titles(&by_owner), want.iter().map(|w| w.0).collect::<Vec<_>>());

    // Filters.
    let since = s(&list["data"][1]["created_at"]).to_string(); // a2's (sorted by title)
    for (filter, want) in [
        (json!({"field": "owner", "op": "eq", "value": bob.0}), vec!["b1"]),
        (
            json!({"field": "created_by", "op": "in", "value": [ann.0]}),
            vec!["a1", "a2"],
        ),
        (json!({"field": "stage", "op": "eq", "value": "won"}), vec!["b1"]),
        (json!({"field": "created_at", "op": "gte", "value": since}), vec!["a2"]),
        (
            json!({"field": "updated_at", "op": "is_null", "value": false}),
            vec!["a1", "a2", "b1"],
        ),
    ] {
        let r = get(
            &app,
            &ann.1,
            &format!("/api/v1/data/crm/deal?sort=title&filter={}", enc(&filter.to_string())),
        )
        .await
        .expect(200)
        .body;
        assert_eq!(titles(&r), want, "filter {filter}");
    }

    // Groups and buckets.
    for (body, want) in [
        (
            json!({"group_by": ["stage"]}),
            vec![(json!("new"), 2), (json!("won"), 1)],
        ),
        (json!({"group_by": ["created_by"]}), {
            let mut v = vec![(json!(ann.0), 2), (json!(bob.0), 1)];
            v.sort_by_key(|x| x.0.to_string());
            v
        }),
    ] {
        let by = s(&body["group_by"][0]).to_string();
        let mut body = body;
        body["sort"] = json!([{"by": by}]);
        let r = call(
            &app,
            &ann.1,
            Method::POST,
            "/api/v1/data/crm/deal/aggregate",
            Some(body),
        )
        .await
        .expect(200)
        .body;
        let got: Vec<(Value, u64)> = r["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .map(|g| (g["key"][&by].clone(), g["measures"]["count"].as_u64().expect("count")))
            .collect();
        assert_eq!(got, want, "group by {by}");
    }
    let r = call(
        &app,
        &ann.1,
        Method::POST,
        "/api/v1/data/crm/deal/aggregate",
        Some(json!({"bucket": {"field": "created_at", "unit": "year"}, "group_by": ["owner"]})),
    )
    .await
    .expect(200)
    .body;
    let total: u64 = r["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["measures"]["count"].as_u64().expect("count"))
        .sum();
    assert_eq!(total, 3, "{r}");
}

on_both!(system_fields_sort_filter_and_group_like_fields);
