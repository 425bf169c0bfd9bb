//! What the caller may do with each record they read (`rights=true`): `_rights` on a record,
//! `rights` on a page, by the same row scopes the writes check, so a client offers no edit or
//! delete the server would refuse. Each test runs on SQLite and on PostgreSQL.

use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, on_both, spawn};

use super::permissions::{call, get, s};

/// Everyone reads every deal; reps change their own, managers delete those of the north.
fn crm() -> Value {
    json!({
        "name": "crm", "label": {"en": "CRM"},
        "entities": [{"name": "deal", "label": {"en": "Deal"}, "fields": [
            {"name": "title", "label": {"en": "Title"}, "type": "text"},
            {"name": "region", "label": {"en": "Region"}, "type": "text"}
        ]}],
        "roles": [
            {"name": "reader", "label": {"en": "Reader"}, "permissions": {"deal": {"read": true}}},
            {"name": "rep", "label": {"en": "Rep"}, "permissions": {
                "deal": {"read": true, "create": true, "update": true, "scope": "own"}}},
            {"name": "manager", "label": {"en": "Manager"}, "permissions": {
                "deal": {"read": true, "delete": true,
                         "scope": {"filter": {"field": "region", "op": "eq", "value": "north"}}}}}
        ]
    })
}

async fn each_record_says_what_the_caller_may_do_with_it_as_the_writes_decide(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(crm()).await;
    // Ann reads everything (reader) and changes her own (rep); she also deletes the north's.
    let ann = app.user("crm", "ann", Some("reader")).await;
    for role in ["rep", "manager"] {
        app.post(
            &format!("/api/v1/apps/crm/roles/{role}/members"),
            json!({"user": ann.0}),
        )
        .await
        .expect(200);
    }
    let bob = app.user("crm", "bob", Some("reader")).await;
    let mut ids = vec![];
    for (title, owner, region) in [
        ("mine-north", &ann.0, "north"),
        ("mine-south", &ann.0, "south"),
        ("bobs-north", &bob.0, "north"),
    ] {
        let r = app
            .create("crm", "deal", json!({"title": title, "owner": owner, "region": region}))
            .await;
        ids.push(s(&r["id"]).to_string());
    }
    let want = [(true, true), (true, false), (false, true)];

    // One record.
    for (id, (update, delete)) in ids.iter().zip(want) {
        let r = get(&app, &ann.1, &format!("/api/v1/data/crm/deal/{id}?rights=true"))
            .await
            .expect(200)
            .body;
        assert_eq!(r["_rights"], json!({"update": update, "delete": delete}), "{r}");
        // Not asked: not answered.
        let plain = get(&app, &ann.1, &format!("/api/v1/data/crm/deal/{id}"))
            .await
            .expect(200)
            .body;
        assert!(plain.get("_rights").is_none(), "{plain}");
    }

    // A page: the ids she may update and those she may delete, in the page's order.
    let page = get(&app, &ann.1, "/api/v1/data/crm/deal?sort=title&rights=true")
        .await
        .expect(200)
        .body;
    let titles: Vec<&str> = page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| s(&r["title"]))
        .collect();
    assert_eq!(titles, ["bobs-north", "mine-north", "mine-south"]);
    assert_eq!(
        page["rights"],
        json!({"update": [ids[0], ids[1]], "delete": [ids[2], ids[0]]}),
        "{page}"
    );
    // Bob may change none of them, the administrator all: no ids to list.
    let page = get(&app, &bob.1, "/api/v1/data/crm/deal?rights=true")
        .await
        .expect(200)
        .body;
    assert_eq!(page["rights"], json!({"update": false, "delete": false}), "{page}");
    let page = app.get("/api/v1/data/crm/deal?rights=true").await.expect(200).body;
    assert_eq!(page["rights"], json!({"update": true, "delete": true}), "{page}");
    let plain = get(&app, &ann.1, "/api/v1/data/crm/deal").await.expect(200).body;
    assert!(plain.get("rights").is_none(), "{plain}");
    // With a count and a page of one.
    let page = get(
        &app,
        &ann.1,
        "/api/v1/data/crm/deal?sort=title&rights=true&count=true&limit=1",
    )
    .await
    .expect(200)
    .body;
    assert_eq!(page["rights"], json!({"update": [], "delete": [ids[2]]}), "{page}");

    // Bob reads all and may change nothing; the administrator may do everything.
    let r = get(&app, &bob.1, &format!("/api/v1/data/crm/deal/{}?rights=true", ids[2]))
        .await
        .expect(200)
        .body;
    assert_eq!(r["_rights"], json!({"update": false, "delete": false}));
    let r = app
        .get(&format!("/api/v1/data/crm/deal/{}?rights=true", ids[2]))
        .await
        .expect(200)
        .body;
    assert_eq!(r["_rights"], json!({"update": true, "delete": true}));

    // The writes agree with what was answered (a record sent back as read, `_rights` and all).
    for (id, (update, _)) in ids.iter().zip(want) {
        let patched = call(
            &app,
            &ann.1,
            Method::PATCH,
            &format!("/api/v1/data/crm/deal/{id}"),
            Some(json!({"title": "renamed", "_rights": {"update": update, "delete": false}})),
        )
        .await;
        assert_eq!(patched.status.as_u16() == 200, update, "PATCH {id}: {}", patched.text);
    }
    for (id, (_, delete)) in ids.iter().zip(want) {
        let deleted = call(
            &app,
            &ann.1,
            Method::DELETE,
            &format!("/api/v1/data/crm/deal/{id}"),
            None,
        )
        .await;
        assert_eq!(deleted.status.as_u16() == 204, delete, "DELETE {id}: {}", deleted.text);
    }
}

on_both!(each_record_says_what_the_caller_may_do_with_it_as_the_writes_decide);
