//! The HTTP layer around every route: over-long URLs and headers, `If-Match`, and the platform
//! document's error answers, as an outside probe tried them.

use reqwest::Method;
use serde_json::{Value, json};
use trellis_tests::{Backend, on_both, sales_app, spawn};

async fn over_long_url_and_headers_answer_problems(backend: Backend) {
    let app = spawn(backend).await;
    let long = "a".repeat(40 * 1024);
    app.get(&format!("/api/v1/apps?x={long}"))
        .await
        .expect_problem(414, "uri_too_long");
    app.call_with(Some(&app.token), Method::GET, "/api/v1/apps", None, &[("x-big", &long)])
        .await
        .expect_problem(431, "headers_too_large");
    // The same routes answer as usual below the limits.
    app.get(&format!("/api/v1/apps?x={}", "a".repeat(8 * 1024)))
        .await
        .expect(200);
    // An over-long URL on a write writes nothing.
    app.call_as(
        Some(&app.token),
        Method::POST,
        &format!("/api/v1/apps?x={long}"),
        Some(sales_app()),
    )
    .await
    .expect_problem(414, "uri_too_long");
    let apps = app.get("/api/v1/apps").await.expect(200).body;
    assert_eq!(apps["data"].as_array().map(Vec::len), Some(0), "{apps}");
}

async fn if_match_takes_only_versions(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(sales_app()).await;
    let c = app.create("sales", "customer", json!({"name": "ACME"})).await;
    let path = format!("/api/v1/data/sales/customer/{}", c["id"].as_str().expect("id"));
    for bad in ["-1", "+1", "\"x\"", "1.0"] {
        app.call_with(
            Some(&app.token),
            Method::PATCH,
            &path,
            Some(json!({"name": "B"})),
            &[("If-Match", bad)],
        )
        .await
        .expect_problem(400, "bad_request");
    }
    // A body that is invalid in itself answers 422 before the precondition is looked at.
    let r = app
        .call_with(
            Some(&app.token),
            Method::PATCH,
            &path,
            Some(json!({"name": "B", "no_such_field": 1})),
            &[("If-Match", "\"7\"")],
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(
        r.errors(),
        vec![("no_such_field".to_string(), "unknown_field".to_string())]
    );
    // The record is at version 2 now: each spelling of version 1 parses as that version.
    app.patch(&path, json!({"name": "ACME 2"})).await.expect(200);
    for stale in ["\"1\"", "W/\"1\"", "1"] {
        app.call_with(
            Some(&app.token),
            Method::PATCH,
            &path,
            Some(json!({"name": "B"})),
            &[("If-Match", stale)],
        )
        .await
        .expect_problem(412, "version_mismatch");
    }
    app.call_with(
        Some(&app.token),
        Method::PATCH,
        &path,
        Some(json!({"name": "C"})),
        &[("If-Match", "\"2\"")],
    )
    .await
    .expect(200);
}

async fn an_undeclared_method_answers_405_with_allow(backend: Backend) {
    let app = spawn(backend).await;
    let r = app
        .call_as(Some(&app.token), Method::PUT, "/api/v1/users", Some(json!({})))
        .await
        .expect_problem(405, "method_not_allowed");
    assert_eq!(r.headers.get("allow").and_then(|v| v.to_str().ok()), Some("GET, POST"));
    let r = app
        .call_as(Some(&app.token), Method::DELETE, "/api/v1/data/sales/deal", None)
        .await
        .expect_problem(405, "method_not_allowed");
    assert_eq!(r.headers.get("allow").and_then(|v| v.to_str().ok()), Some("GET, POST"));
    // `bulk` is an endpoint of its own, not a record id.
    let r = app
        .call_as(
            Some(&app.token),
            Method::PATCH,
            "/api/v1/data/sales/deal/bulk",
            Some(json!({})),
        )
        .await
        .expect_problem(405, "method_not_allowed");
    assert_eq!(r.headers.get("allow").and_then(|v| v.to_str().ok()), Some("POST"));
    // A path no route has stays 404.
    app.get("/api/v1/nothing/here").await.expect_problem(404, "not_found");
}

/// Every error answer of the platform document is problem+json, and the answers of the layer
/// around the routes are documented where they can occur.
async fn the_platform_document_documents_errors_as_served(backend: Backend) {
    let app = spawn(backend).await;
    let doc = app.get("/api/v1/openapi.json").await.expect(200).body;
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let Some(responses) = op.get("responses").and_then(Value::as_object) else {
                continue;
            };
            operations += 1;
            for (status, r) in responses {
                if status.starts_with('4') {
                    let content = r["content"].as_object().expect("error content");
                    assert_eq!(
                        content.keys().collect::<Vec<_>>(),
                        vec!["application/problem+json"],
                        "{method} {path} {status}"
                    );
                }
            }
            let open = path.ends_with("/auth/login") || path.contains("/hooks/");
            if !open {
                assert!(responses.contains_key("401"), "{method} {path} documents 401");
            }
            if op.get("requestBody").is_some() {
                for s in ["400", "413", "422"] {
                    assert!(responses.contains_key(s), "{method} {path} documents {s}");
                }
            }
        }
    }
    assert!(operations > 50, "{operations} operations");
}

/// The per-app document: required fields are never null in what a write takes, bounds are
/// stated, `If-Match` is a version, errors are problem+json.
async fn the_app_document_states_required_fields_and_bounds(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(sales_app()).await;
    let doc = app.get("/api/v1/apps/sales/openapi.json").await.expect(200).body;
    let schemas = &doc["components"]["schemas"];
    let create = &schemas["DealCreate"]["properties"];
    assert_eq!(create["title"]["type"], "string", "{}", create["title"]);
    assert_eq!(schemas["DealUpdate"]["properties"]["title"]["type"], "string");
    assert_eq!(
        create["quantity"]["type"],
        json!(["integer", "null"]),
        "optional fields stay nullable"
    );
    let text = create["probability"].to_string();
    assert!(
        text.contains(r#""minimum":0"#) && text.contains(r#""maximum":100"#),
        "{text}"
    );
    assert!(
        create["amount"].to_string().contains(r#""minimum":0"#),
        "{}",
        create["amount"]
    );
    let patch = &doc["paths"]["/api/v1/data/sales/deal/{id}"]["patch"];
    let if_match = patch["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "If-Match"))
        .expect("If-Match");
    assert!(if_match["schema"]["pattern"].is_string(), "{if_match}");
    for s in ["400", "401", "403", "404", "409", "412", "413", "422"] {
        assert!(
            patch["responses"][s]["content"]["application/problem+json"].is_object(),
            "PATCH documents {s}: {}",
            patch["responses"]
        );
    }
    // What the document says is what the server does: a required field sent empty is refused.
    let c = app.create("sales", "deal", json!({"title": "T"})).await;
    app.patch(
        &format!("/api/v1/data/sales/deal/{}", c["id"].as_str().expect("id")),
        json!({"title": null}),
    )
    .await
    .expect_problem(422, "validation_failed");
}

/// A browser's `Accept-Encoding` gets gzip on API answers (cheaper than brotli for JSON pages).
async fn api_answers_are_gzipped_for_browsers(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(sales_app()).await;
    for i in 0..30 {
        app.create(
            "sales",
            "customer",
            json!({"name": format!("Customer number {i} with a long name")}),
        )
        .await;
    }
    for (accepted, expected) in [
        ("gzip, deflate, br, zstd", Some("gzip")),
        ("br;q=1.0, gzip;q=0.5", Some("gzip")),
        ("br", Some("br")),
        ("gzip;q=0, br", Some("br")),
        ("identity", None),
    ] {
        let r = app
            .call_with(
                Some(&app.token),
                Method::GET,
                "/api/v1/data/sales/customer?limit=30",
                None,
                &[("accept-encoding", accepted)],
            )
            .await
            .expect(200);
        let encoding = r.headers.get("content-encoding").and_then(|v| v.to_str().ok());
        assert_eq!(encoding, expected, "Accept-Encoding: {accepted}");
    }
}

on_both!(
    api_answers_are_gzipped_for_browsers,
    the_app_document_states_required_fields_and_bounds,
    over_long_url_and_headers_answer_problems,
    if_match_takes_only_versions,
    an_undeclared_method_answers_405_with_allow,
    the_platform_document_documents_errors_as_served,
);
