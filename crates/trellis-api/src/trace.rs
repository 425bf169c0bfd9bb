//! Request tracing: every request runs in a span carrying its id (answered as `x-request-id`),
//! and the tenant, user, app and entity once they are known; it ends with one line naming the
//! method, the route template, the status and the duration.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use tracing::field::{Empty, display};
use tracing::{Instrument, Span};

/// The header a request id comes in and goes out with.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest incoming request id that is kept.
const MAX_REQUEST_ID: usize = 64;

/// Whether an incoming `x-request-id` is kept: a short token (1 to 64 of `A-Z a-z 0-9 - _ . :`),
/// as proxies and clients send them. Anything else (empty, long, spaces, quotes, control
/// characters) is replaced by a fresh id, so the log and the answer never carry a caller's text.
pub fn is_sane_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The request's id: the caller's when it is sane, otherwise a new UUID v7 (time-ordered).
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_sane_request_id(id))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// Records the authenticated caller in the current request's span.
pub fn record_caller(ctx: &trellis_engine::TenantCtx) {
    let span = Span::current();
    span.record("tenant", display(ctx.tenant_id()));
    span.record("user", display(ctx.user_id()));
}

/// Paths polled by load balancers: their line is logged at debug, not info.
fn is_probe(path: &str) -> bool {
    path == "/healthz"
}

/// The outermost middleware: opens the request's span, runs the request in it, answers its id,
/// and logs one line when the answer is ready (replacing actix's `Logger`).
///
/// The span is at ERROR level so that an error logged inside a request carries its id even when
/// the filter lets only errors through; the request line itself is an INFO event.
pub async fn trace_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id(&req);
    let span = tracing::error_span!(
        "request",
        id = %id,
        tenant = Empty,
        user = Empty,
        app = Empty,
        entity = Empty
    );
    // Routing happens inside: the app and entity come from the documented template the path
    // matches, so that lines logged by the handler already name them.
    let template = req
        .app_data::<web::Data<crate::spec::Routes>>()
        .and_then(|routes| routes.template_of(req.path()).map(<[String]>::to_vec));
    if let Some(template) = &template {
        for (name, value) in template.iter().zip(req.path().split('/')) {
            match name.as_str() {
                "{app}" => span.record("app", display(value)),
                "{entity}" => span.record("entity", display(value)),
                _ => &span,
            };
        }
    }
    let method = req.method().clone();
    let probe = is_probe(req.path());
    // (The request may not be cloned here: routing needs it unshared.)
    let result = next.call(req).instrument(span.clone()).await;
    let (status, route) = match &result {
        Ok(res) => (
            res.status(),
            res.request().match_pattern().or_else(|| template.map(|t| t.join("/"))),
        ),
        // An error no handler turned into an answer (actix answers it without our header).
        Err(e) => (e.as_response_error().status_code(), template.map(|t| t.join("/"))),
    };
    let route = route.unwrap_or_else(|| "(default)".to_string());
    let status = status.as_u16();
    let duration_ms = started.elapsed().as_micros() as f64 / 1000.0;
    {
        let _in = span.enter();
        if probe {
            tracing::debug!(method = %method, route = %route, status, duration_ms, "request");
        } else if status >= 500 {
            tracing::warn!(method = %method, route = %route, status, duration_ms, "request");
        } else {
            tracing::info!(method = %method, route = %route, status, duration_ms, "request");
        }
    }
    let mut res = result?;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use actix_web::test as atest;
    use actix_web::{App, HttpResponse, web};
    use trellis_core::Error;

    use super::*;
    use crate::problem::ApiError;

    /// Log output captured in memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn json_subscriber(out: &Captured) -> impl tracing::Subscriber + Send + Sync {
        let out = out.clone();
        tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || out.clone())
            .finish()
    }

    #[derive(Debug, thiserror::Error)]
    #[error("connection reset by peer")]
    struct Reset;

    #[derive(Debug, thiserror::Error)]
    #[error("query failed")]
    struct QueryFailed(#[source] Reset);

    async fn fails() -> Result<HttpResponse, ApiError> {
        Err(ApiError(
            Error::internal("the database could not complete the request").with_source(QueryFailed(Reset)),
        ))
    }

    #[test]
    fn sane_ids_are_short_tokens() {
        for yes in [
            "a",
            "abc-123",
            "0191b3c2-7e4f-7cc0-9b8a-3f1e2d4c5b6a",
            "req_1.2:3",
            &"x".repeat(64),
        ] {
            assert!(is_sane_request_id(yes), "{yes}");
        }
        for no in [
            "",
            " ",
            "a b",
            "a\"b",
            "a\nb",
            "<script>",
            "é",
            &"x".repeat(65),
            "a/b",
            "a;b",
        ] {
            assert!(!is_sane_request_id(no), "{no:?}");
        }
    }

    /// One line per request names the route template (not the concrete path) and the status;
    /// a 500's log line carries the whole chain of causes and the request id, the answer none
    /// of the causes.
    #[actix_web::test]
    async fn a_request_logs_one_line_with_its_template_and_an_internal_error_its_causes() {
        let out = Captured::default();
        let _guard = tracing::subscriber::set_default(json_subscriber(&out));
        let routes = web::Data::new(crate::spec::Routes::of(&serde_json::json!({"paths": {
            "/api/v1/data/{app}/{entity}/{id}": {"get": {}}
        }})));
        let app = atest::init_service(
            App::new()
                .app_data(routes)
                .wrap(actix_web::middleware::from_fn(trace_requests))
                .route("/api/v1/data/{app}/{entity}/{id}", web::get().to(fails)),
        )
        .await;
        let req = atest::TestRequest::get()
            .uri("/api/v1/data/sales/deal/r1")
            .insert_header(("x-request-id", "trace-me-1"))
            .to_request();
        let res = atest::call_service(&app, req).await;
        assert_eq!(res.status(), 500);
        assert_eq!(res.headers().get("x-request-id").unwrap(), "trace-me-1");
        let body = String::from_utf8(atest::read_body(res).await.to_vec()).unwrap();
        assert!(!body.contains("query failed") && !body.contains("reset"), "{body}");

        let lines: Vec<serde_json::Value> = out
            .text()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        let error = lines
            .iter()
            .find(|l| l["fields"]["message"] == "internal error answered")
            .unwrap_or_else(|| panic!("the 500 is logged: {lines:?}"));
        assert_eq!(
            error["fields"]["error"],
            "the database could not complete the request: query failed: connection reset by peer"
        );
        assert_eq!(error["span"]["id"], "trace-me-1");
        assert_eq!(error["span"]["app"], "sales");
        assert_eq!(error["span"]["entity"], "deal");
        let request: Vec<_> = lines.iter().filter(|l| l["fields"]["message"] == "request").collect();
        assert_eq!(request.len(), 1, "one line per request: {lines:?}");
        let line = &request[0];
        assert_eq!(line["fields"]["method"], "GET");
        assert_eq!(line["fields"]["route"], "/api/v1/data/{app}/{entity}/{id}");
        assert_eq!(line["fields"]["status"], 500);
        assert!(line["fields"]["duration_ms"].is_number(), "{line}");
        assert_eq!(line["span"]["id"], "trace-me-1");

        // No id, or one that is not a short token: a fresh UUID v7.
        for sent in [None, Some("not a token")] {
            let mut req = atest::TestRequest::get().uri("/api/v1/data/sales/deal/r1");
            if let Some(v) = sent {
                req = req.insert_header(("x-request-id", v));
            }
            let res = atest::call_service(&app, req.to_request()).await;
            let id = res.headers().get("x-request-id").unwrap().to_str().unwrap();
            let id = uuid::Uuid::parse_str(id).expect("a UUID");
            assert_eq!(id.get_version_num(), 7);
        }
    }
}
