//! Sessions and passwords: logout, the list of one's sessions and revoking them, the sliding
//! expiry with its cap, and adding a user whose e-mail is taken in another tenant. (The password
//! policy on every path that sets a password is in `whitebox::sessions`.) Each test runs on
//! SQLite and on PostgreSQL.

use std::time::{Duration, Instant};

use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{ADMIN_EMAIL, Backend, Resp, TestApp, on_both, spawn, spawn_with};

pub(crate) fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

async fn call(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
    app.call_as(Some(token), method, path, body).await
}

async fn me(app: &TestApp, token: &str) -> u16 {
    call(app, token, Method::GET, "/api/v1/me", None).await.status.as_u16()
}

async fn sessions(app: &TestApp, token: &str) -> Vec<Value> {
    let r = call(app, token, Method::GET, "/api/v1/auth/sessions", None)
        .await
        .expect(200);
    r.body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {}", r.text))
        .clone()
}

pub(crate) fn assert_field_error(r: &Resp, field: &str, code: &str) {
    assert!(
        r.errors().iter().any(|(f, c)| f == field && c == code),
        "expected {field}/{code}: {}",
        r.text
    );
}

async fn logout_and_revoking_sessions_end_them(backend: Backend) {
    let app = spawn(backend).await;
    let (_, first) = app.user("none", "ann", None).await;
    let second = app.login("ann@example.com", "password-123").await;
    let third = app.login("ann@example.com", "password-123").await;

    // The list shows the caller's live sessions, the one of the request marked current.
    let list = sessions(&app, &second).await;
    assert_eq!(list.len(), 3, "{list:?}");
    let current: Vec<&Value> = list.iter().filter(|x| x["current"] == json!(true)).collect();
    assert_eq!(current.len(), 1, "{list:?}");
    for x in &list {
        assert!(x["created_at"].is_string() && x["expires_at"].is_string(), "{x}");
        assert!(x.get("token").is_none() && x.get("token_hash").is_none(), "{x}");
    }
    let second_id = s(&current[0]["id"]).to_string();

    // Logout ends the session of the request and no other.
    call(&app, &first, Method::POST, "/api/v1/auth/logout", None)
        .await
        .expect(204);
    assert_eq!(me(&app, &first).await, 401);
    call(&app, &first, Method::POST, "/api/v1/auth/logout", None)
        .await
        .expect_problem(401, "unauthenticated");
    assert_eq!(me(&app, &second).await, 200);
    assert_eq!(sessions(&app, &second).await.len(), 2);

    // Revoking another of one's sessions ends it.
    let third_id = sessions(&app, &third)
        .await
        .iter()
        .find(|x| x["current"] == json!(true))
        .map(|x| s(&x["id"]).to_string())
        .expect("current session");
    call(
        &app,
        &second,
        Method::DELETE,
        &format!("/api/v1/auth/sessions/{third_id}"),
        None,
    )
    .await
    .expect(204);
    assert_eq!(me(&app, &third).await, 401);
    call(
        &app,
        &second,
        Method::DELETE,
        &format!("/api/v1/auth/sessions/{third_id}"),
        None,
    )
    .await
    .expect_problem(404, "not_found");

    // Someone else's session, or an API token's id, is not one of the caller's: 404, and it
    // goes on working.
    let (_, bob) = app.user("none", "bob", None).await;
    call(
        &app,
        &bob,
        Method::DELETE,
        &format!("/api/v1/auth/sessions/{second_id}"),
        None,
    )
    .await
    .expect_problem(404, "not_found");
    assert_eq!(me(&app, &second).await, 200);
    assert!(sessions(&app, &bob).await.iter().all(|x| x["id"] != json!(second_id)));
    let token = call(
        &app,
        &second,
        Method::POST,
        "/api/v1/auth/tokens",
        Some(json!({"name": "ci"})),
    )
    .await
    .expect(201)
    .body;
    call(
        &app,
        &second,
        Method::DELETE,
        &format!("/api/v1/auth/sessions/{}", s(&token["id"])),
        None,
    )
    .await
    .expect_problem(404, "not_found");
    let api = s(&token["token"]).to_string();
    assert_eq!(me(&app, &api).await, 200);
    // An API token is no session to log out of.
    call(&app, &api, Method::POST, "/api/v1/auth/logout", None)
        .await
        .expect_problem(400, "bad_request");
    assert_eq!(me(&app, &api).await, 200);
}

async fn sessions_slide_with_use_up_to_their_cap(backend: Backend) {
    let app = spawn_with(backend, |s| {
        s.sessions.idle = Duration::from_secs(3);
        s.sessions.max = Duration::from_secs(9);
    })
    .await;
    // Used every second, a session outlives its idle time.
    let t = app.login(ADMIN_EMAIL, trellis_tests::ADMIN_PASSWORD).await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(me(&app, &t).await, 200);
    }
    // Left alone longer than the idle time, it ends.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(me(&app, &t).await, 401);

    // However much it is used, it ends at its cap.
    let start = Instant::now();
    let t = app.login(ADMIN_EMAIL, trellis_tests::ADMIN_PASSWORD).await;
    let ended = loop {
        tokio::time::sleep(Duration::from_millis(700)).await;
        if me(&app, &t).await == 401 {
            break start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the session outlived its cap"
        );
    };
    assert!(ended > Duration::from_secs(5), "ended after {ended:?}, before its cap");
}

async fn an_email_of_another_tenant_is_not_revealed(backend: Backend) {
    let app = spawn(backend).await;
    let globex = app.new_tenant("globex", "boss@globex.example").await;
    let add = |email: &str, password: &str| {
        app.post(
            "/api/v1/users",
            json!({"email": email, "name": "Someone", "password": password}),
        )
    };
    // Taken in another tenant: answered exactly as a fresh e-mail is.
    let taken = add("Boss@Globex.example", "default-password-9").await;
    let fresh = add("fresh@globex.example", "default-password-9").await;
    assert_eq!(taken.status, 201, "{}", taken.text);
    assert_eq!(fresh.status, 201, "{}", fresh.text);
    let keys = |r: &Resp| {
        let mut k: Vec<String> = r.body.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&taken), keys(&fresh));
    assert_eq!(taken.body["email"], json!("boss@globex.example"));
    // Taken in the same tenant: 409 as before.
    add("boss@globex.example", "default-password-9")
        .await
        .expect_problem(409, "conflict");

    // Each logs in to their own tenant by their own password.
    let mine = app.login("boss@globex.example", "default-password-9").await;
    let r = call(&app, &mine, Method::GET, "/api/v1/me", None).await.expect(200);
    assert_eq!(r.body["tenant"]["name"], json!("default"));
    let r = call(&app, &globex, Method::GET, "/api/v1/me", None).await.expect(200);
    assert_eq!(r.body["tenant"]["name"], json!("globex"));
    let theirs = app.login("boss@globex.example", "tenant-password-1").await;
    let r = call(&app, &theirs, Method::GET, "/api/v1/me", None).await.expect(200);
    assert_eq!(r.body["tenant"]["name"], json!("globex"));
    // Neither tenant's user list shows the other's user.
    let users = call(&app, &theirs, Method::GET, "/api/v1/users", None)
        .await
        .expect(200);
    assert_eq!(users.body["data"].as_array().map(Vec::len), Some(1), "{}", users.text);

    // The same e-mail and password in two tenants: the tenant must be named.
    let login = |body: Value| app.call_as(None, Method::POST, "/api/v1/auth/login", Some(body));
    call(
        &app,
        &globex,
        Method::POST,
        "/api/v1/users",
        Some(json!({"email": "twin@example.com", "name": "twin", "password": "twin-password-1"})),
    )
    .await
    .expect(201);
    add("twin@example.com", "twin-password-1").await.expect(201);
    let r = login(json!({"email": "twin@example.com", "password": "twin-password-1"}))
        .await
        .expect(422);
    assert_field_error(&r, "tenant", "required");
    let r = login(json!({"email": "twin@example.com", "password": "twin-password-1", "tenant": "globex"}))
        .await
        .expect(200);
    let globex_id = call(&app, &theirs, Method::GET, "/api/v1/me", None)
        .await
        .expect(200)
        .body["tenant"]["id"]
        .clone();
    assert_eq!(r.body["user"]["tenant_id"], globex_id);
    login(json!({"email": "twin@example.com", "password": "wrong-password-1", "tenant": "globex"}))
        .await
        .expect_problem(401, "unauthenticated");
}

on_both!(
    logout_and_revoking_sessions_end_them,
    sessions_slide_with_use_up_to_their_cap,
    an_email_of_another_tenant_is_not_revealed,
);
