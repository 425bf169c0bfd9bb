//! Sessions and passwords where HTTP does not reach: the password policy of the CLI's use case
//! and of the first administrator, and a user whose password predates the policy (a row put in
//! the store directly) still logging in.

use trellis_tests::serde_json::json;
use trellis_tests::{Backend, on_both, spawn};

use crate::blackbox::probe_sessions::{assert_field_error, s};

async fn passwords_follow_the_policy_on_every_path(backend: Backend) {
    let app = spawn(backend).await;
    let post = |email: &str, password: &str| {
        app.post(
            "/api/v1/users",
            json!({"email": email, "name": "New", "password": password}),
        )
    };
    assert_field_error(
        &post("n@example.com", "short-pw1").await.expect(422),
        "password",
        "min_length",
    );
    assert_field_error(
        &post("n@example.com", "Password123").await.expect(422),
        "password",
        "common",
    );
    assert_field_error(
        &post("n@example.com", "QWERTYUIOP").await.expect(422),
        "password",
        "common",
    );
    assert_field_error(
        &post("long.name@example.com", "Long.Name@example.com").await.expect(422),
        "password",
        "same_as_email",
    );
    // Nothing was written: the e-mail is still free.
    post("n@example.com", "a fine passphrase").await.expect(201);

    // The CLI's use case and the first administrator follow the same policy.
    let err = app
        .engine()
        .create_user("default", "cli@example.com", None, "letmein123", false)
        .await
        .expect_err("a common password is refused");
    assert!(
        err.errors.iter().any(|e| e.field == "password" && e.code == "common"),
        "{err:?}"
    );
    let err = app
        .engine()
        .create_user("default", "cli@example.com", None, "123456789", false)
        .await
        .expect_err("a short password is refused");
    assert!(
        err.errors
            .iter()
            .any(|e| e.field == "password" && e.code == "min_length"),
        "{err:?}"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let fresh = trellis_engine::Engine::open(&format!("sqlite://{}", dir.path().join("b.db").display()))
        .await
        .expect("engine");
    let err = fresh
        .bootstrap(Some("root@example.com"), Some("password1"))
        .await
        .expect_err("a weak first password is refused");
    assert!(err.errors.iter().any(|e| e.field == "password"), "{err:?}");

    // A user whose password predates the policy still logs in.
    let hash = trellis_engine::access::auth::hash_password("old-pw").expect("hash");
    let tenant = app.get("/api/v1/me").await.expect(200).body["tenant"]["id"].clone();
    let row = trellis_store::system::UserRow {
        id: "01900000-0000-7000-8000-0000000000aa".into(),
        tenant_id: s(&tenant).to_string(),
        email: "old@example.com".into(),
        name: "Old".into(),
        password_hash: hash,
        is_admin: false,
        created_at: trellis_core::value::now_micros(),
        disabled_at: None,
    };
    let tx = app.engine().db.begin_write().await.expect("begin");
    trellis_store::system::insert_user(&tx, &row).await.expect("insert");
    tx.commit().await.expect("commit");
    app.login("old@example.com", "old-pw").await;
}
on_both!(passwords_follow_the_policy_on_every_path);
