//! Secrets an outside probe looked for (issue 13): those of webhooks and of the provider
//! settings are never shown back over HTTP, and what the database holds shows they were kept
//! when the masked value was sent back. On SQLite and PostgreSQL.

use reqwest::Method;
use trellis_tests::serde_json::json;
use trellis_tests::{Backend, Resp, TestApp, on_both};

use crate::blackbox::probe_access::{INBOUND_SECRET, SIGNING_SECRET, as_user, world};

fn no_secret(r: &Resp, what: &str) {
    assert!(
        !r.text.contains(INBOUND_SECRET) && !r.text.contains(SIGNING_SECRET),
        "{what} shows a secret: {}",
        r.text
    );
}

/// The text of column `v` of every row a statement answers, joined (what the database holds).
async fn stored_text(app: &TestApp, sql: &str) -> String {
    let rows = app.sql_rows(sql, Vec::new()).await.expect("statement runs");
    rows.iter()
        .map(|r| r.try_get::<String>("", "v").expect("a text column"))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn hook(app: &TestApp, secret: &str) -> u16 {
    app.call_with(
        None,
        Method::POST,
        "/api/v1/hooks/crm/orders",
        Some(json!({"name": "From hook"})),
        &[("X-Trellis-Secret", secret)],
    )
    .await
    .status
    .as_u16()
}

async fn webhook_secrets_are_write_only(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let paths = [
        "/api/v1/apps",
        "/api/v1/apps/crm",
        "/api/v1/apps/crm/rules",
        "/api/v1/apps/crm/rules/inbound",
        "/api/v1/apps/crm/rules/ping",
    ];
    for token in [&w.alice.1, &w.viewer.1, &app.token] {
        for p in paths {
            let r = as_user(app, token, Method::GET, p, None).await.expect(200);
            no_secret(&r, p);
        }
    }
    // Masked, with a flag that one is set.
    let rule = app.get("/api/v1/apps/crm/rules/inbound").await.expect(200).body;
    assert_eq!(rule["trigger"]["secret"], json!("********"), "{rule}");
    // A change answers the app without secrets; sending the masked rule back keeps them.
    let r = app
        .patch("/api/v1/apps/crm/rules/inbound", rule.clone())
        .await
        .expect(200);
    no_secret(&r, "a rule change");
    let mut ping = app.get("/api/v1/apps/crm/rules/ping").await.expect(200).body;
    assert_eq!(ping["actions"][1]["secret"], json!("********"), "{ping}");
    ping["label"] = json!({"en": "Ping"});
    let r = app.patch("/api/v1/apps/crm/rules/ping", ping).await.expect(200);
    no_secret(&r, "a rule change");
    let whole = app.get("/api/v1/apps/crm").await.expect(200).body;
    let r = app
        .patch(
            "/api/v1/apps/crm",
            json!({"label": {"en": "CRM 2"}, "rules": whole["rules"]}),
        )
        .await
        .expect(200);
    no_secret(&r, "an app change");
    assert_eq!(hook(app, INBOUND_SECRET).await, 202, "the secret was kept");
    // The stored signing secret was kept too (it is what the engine reads).
    let stored = stored_text(app, "SELECT definition AS v FROM sys_apps").await;
    assert!(stored.contains(SIGNING_SECRET), "the signing secret was lost");
    // A new rule cannot take the mask as its secret.
    app.post(
        "/api/v1/apps/crm/rules",
        json!({"name": "copy", "trigger": {"type": "manual", "entity": "deal"},
               "actions": [{"type": "webhook", "url": "http://127.0.0.1:9/x", "secret": "********"}]}),
    )
    .await
    .expect_problem(422, "validation_failed");
    // Rotation: a new secret in a PATCH replaces the old one.
    let new_secret = "rotated-secret-abcdefghij";
    app.patch(
        "/api/v1/apps/crm/rules/inbound",
        json!({"trigger": {"type": "webhook", "key": "orders", "secret": new_secret}}),
    )
    .await
    .expect(200);
    assert_eq!(hook(app, INBOUND_SECRET).await, 401);
    assert_eq!(hook(app, new_secret).await, 202);
    // Audit entries of app changes hold no secrets.
    let audit = app.get("/api/v1/apps/crm/audit?limit=500").await.expect(200);
    no_secret(&audit, "the audit trail");
    assert!(!audit.text.contains(new_secret), "{}", audit.text);
}

async fn settings_are_for_administrators_and_keep_their_secrets(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    app.put(
        "/api/v1/settings",
        json!({"smtp": {"host": "smtp.example.com", "from": "a@example.com", "username": "u", "password": "smtp-pass-123"}}),
    )
    .await
    .expect(200);
    as_user(app, &w.alice.1, Method::GET, "/api/v1/settings", None)
        .await
        .expect_problem(403, "permission_denied");
    let got = app.get("/api/v1/settings").await.expect(200);
    assert!(!got.text.contains("smtp-pass-123"), "{}", got.text);
    assert_eq!(got.body["smtp"]["password"], json!("********"));
    // Sent back as read, the password stays.
    app.put("/api/v1/settings", json!({"smtp": got.body["smtp"]}))
        .await
        .expect(200);
    let stored = stored_text(app, "SELECT value AS v FROM sys_settings WHERE key = 'smtp'").await;
    assert!(
        stored.contains("smtp-pass-123"),
        "the password was overwritten: {stored}"
    );
}

on_both!(
    webhook_secrets_are_write_only,
    settings_are_for_administrators_and_keep_their_secrets,
);
