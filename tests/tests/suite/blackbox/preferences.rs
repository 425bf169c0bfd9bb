//! The web UI's language remembered per user (issue 15) over HTTP on SQLite and PostgreSQL:
//! `GET /me` says the caller's choice (none at first: the browser decides), `PUT
//! /me/preferences` changes only the caller's, and a language the UI does not have is a 422
//! that writes nothing. Preferences read no record, so row scopes and hidden fields have no
//! part here; a user of another tenant and a member without any role are covered instead.

use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, on_both, spawn};

async fn language_is_remembered_per_user(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(json!({"name": "desk", "label": {"en": "Desk"}, "entities": [
        {"name": "memo", "label": {"en": "Memo"}, "fields": [{"name": "text", "label": {"en": "Text"}, "type": "text"}]}
    ]}))
    .await;
    let (_, ann) = app.user("desk", "ann", None).await;
    let (_, ben) = app.user("desk", "ben", None).await;
    let other_admin = app.new_tenant("elsewhere", "boss@elsewhere.example").await;
    let me = |t: String| {
        let app = &app;
        async move {
            app.call_as(Some(&t), Method::GET, "/api/v1/me", None)
                .await
                .expect(200)
                .body
        }
    };
    let put = |t: String, body: Value| {
        let app = &app;
        async move {
            app.call_as(Some(&t), Method::PUT, "/api/v1/me/preferences", Some(body))
                .await
        }
    };

    // Nobody has chosen: the browser's language decides.
    assert_eq!(me(ann.clone()).await["language"], Value::Null);
    let r = app
        .call_as(Some(&ann), Method::GET, "/api/v1/me/preferences", None)
        .await
        .expect(200);
    assert_eq!(r.body, json!({"language": null}));

    // Ann chooses English; only she has it (not Ben, not the other tenant's administrator).
    let r = put(ann.clone(), json!({"language": "en-US"})).await.expect(200);
    assert_eq!(r.body, json!({"language": "en-US"}));
    assert_eq!(me(ann.clone()).await["language"], "en-US");
    assert_eq!(me(ben.clone()).await["language"], Value::Null);
    assert_eq!(me(other_admin.clone()).await["language"], Value::Null);
    put(ben.clone(), json!({"language": "zh-CN"})).await.expect(200);
    assert_eq!(me(ben.clone()).await["language"], "zh-CN");
    assert_eq!(me(ann.clone()).await["language"], "en-US");

    // A new session of Ann's finds it.
    let again = app.login("ann@example.com", "password-123").await;
    assert_eq!(me(again).await["language"], "en-US");

    // Bad values are 422 on `language` (`option`) and change nothing.
    for bad in [
        json!("fr-FR"),
        json!("zh"),
        json!("EN-us"),
        json!(""),
        json!(1),
        json!(["en-US"]),
    ] {
        let r = put(ann.clone(), json!({"language": bad}))
            .await
            .expect_problem(422, "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], "language", "{}", r.text);
        assert_eq!(r.body["errors"][0]["code"], "option", "{}", r.text);
    }
    put(ann.clone(), json!({"colour": "red"}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(me(ann.clone()).await["language"], "en-US");

    // A member left out stays; `null` clears it.
    put(ann.clone(), json!({})).await.expect(200);
    assert_eq!(me(ann.clone()).await["language"], "en-US");
    let r = put(ann.clone(), json!({"language": null})).await.expect(200);
    assert_eq!(r.body["language"], Value::Null);
    assert_eq!(me(ann).await["language"], Value::Null);

    // Without a session there is nothing to change.
    app.call_as(
        None,
        Method::PUT,
        "/api/v1/me/preferences",
        Some(json!({"language": "en-US"})),
    )
    .await
    .expect_problem(401, "unauthenticated");
}

on_both!(language_is_remembered_per_user);
