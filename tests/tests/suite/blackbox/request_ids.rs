//! Every answer carries `x-request-id`: the caller's when it is a short token, otherwise a fresh
//! UUID v7, whatever the route and whatever the status (the id ties an answer to its log lines).

use reqwest::Method;
use trellis_tests::serde_json::json;
use trellis_tests::{Backend, Resp, TestApp, on_both, sales_app, spawn};

fn request_id(r: &Resp) -> String {
    r.headers
        .get("x-request-id")
        .unwrap_or_else(|| panic!("x-request-id answered ({}): {}", r.status, r.text))
        .to_str()
        .expect("ASCII")
        .to_string()
}

#[track_caller]
fn assert_fresh_v7(id: &str) {
    let uuid = uuid::Uuid::parse_str(id).unwrap_or_else(|_| panic!("a UUID: {id}"));
    assert_eq!(uuid.get_version_num(), 7, "{id}");
}

async fn call(app: &TestApp, method: Method, path: &str, headers: &[(&str, &str)]) -> Resp {
    let token = app.token.clone();
    app.call_with(Some(&token), method, path, None, headers).await
}

async fn request_ids_are_answered_and_echoed(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(sales_app()).await;
    let rec = app.create("sales", "customer", json!({"name": "Ann"})).await;
    let id = rec["id"].as_str().expect("record id").to_string();

    // Each kind of answer: a record read, a created record, a problem from a handler, one
    // refused before routing (405), one without a caller (401), the health probe, the UI.
    let record = format!("/api/v1/data/sales/customer/{id}");
    let answers = [
        call(&app, Method::GET, &record, &[]).await.expect(200),
        app.post("/api/v1/data/sales/customer", json!({"name": "Bo"}))
            .await
            .expect(201),
        call(&app, Method::GET, "/api/v1/data/sales/customer/nope", &[])
            .await
            .expect_problem(404, "not_found"),
        call(&app, Method::PUT, "/api/v1/data/sales/customer", &[])
            .await
            .expect_problem(405, "method_not_allowed"),
        app.call_as(None, Method::GET, "/api/v1/me", None)
            .await
            .expect_problem(401, "unauthenticated"),
        app.call_as(None, Method::GET, "/healthz", None).await.expect(200),
        app.call_as(None, Method::GET, "/", None).await,
    ];
    let mut seen = std::collections::HashSet::new();
    for r in &answers {
        let id = request_id(r);
        assert_fresh_v7(&id);
        assert!(seen.insert(id.clone()), "each request has its own id: {id}");
    }

    // A caller's short token is kept, on success and on failure alike.
    for (path, status) in [(record.as_str(), 200), ("/api/v1/data/sales/customer/nope", 404)] {
        let r = call(&app, Method::GET, path, &[("x-request-id", "client-req.42:a_b")]).await;
        assert_eq!(r.status.as_u16(), status, "{}", r.text);
        assert_eq!(request_id(&r), "client-req.42:a_b");
    }

    // Anything else is replaced, never echoed: too long, or not a token.
    let long = "x".repeat(65);
    for sent in [long.as_str(), "two words", "<script>", ""] {
        let r = call(&app, Method::GET, &record, &[("x-request-id", sent)])
            .await
            .expect(200);
        let answered = request_id(&r);
        assert_ne!(answered, sent);
        assert_fresh_v7(&answered);
    }
}

on_both!(request_ids_are_answered_and_echoed);
