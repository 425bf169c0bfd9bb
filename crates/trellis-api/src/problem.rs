//! problem+json: every error answer, from use cases and from request parsing alike.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use trellis_core::error::FieldCode;
use trellis_core::{Error, ErrorCode, FieldError};

/// An error answered as `application/problem+json`.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

/// The body of a problem answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub code: String,
    pub detail: String,
    /// Each problem with a field or part of the request, where there are several or one names
    /// a field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Seconds to wait before trying again (`rate_limited` only; also sent as `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 1)]
    pub retry_after: Option<u64>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let code = self.0.code;
        let detail = if code == ErrorCode::Internal {
            // The whole chain of causes goes to the log (in the request's span, with its id);
            // clients get no internals.
            tracing::error!(error = %self.0.chain(), "internal error answered");
            "Something went wrong on our side; the request wrote nothing. Try again later.".to_string()
        } else {
            self.0.detail.clone()
        };
        let body = Problem {
            kind: format!("https://trellis.dev/problems/{}", code.as_str()),
            title: code.title().to_string(),
            status: code.status(),
            code: code.as_str().to_string(),
            detail,
            errors: self.0.errors.clone(),
            retry_after: self.0.retry_after,
        };
        let mut res = HttpResponse::build(self.status_code());
        res.content_type("application/problem+json");
        if code == ErrorCode::Unauthenticated {
            res.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if let Some(wait) = self.0.retry_after {
            res.insert_header(("Retry-After", wait.to_string()));
        }
        res.body(serde_json::to_string(&body).unwrap_or_default())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Largest JSON body (bulk requests included).
pub const MAX_JSON_BODY: usize = 8 * 1024 * 1024;

pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let e = match &err {
        JsonPayloadError::Overflow { limit } | JsonPayloadError::OverflowKnownLength { limit, .. } => Error::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is larger than {limit} bytes"),
        ),
        JsonPayloadError::ContentType => Error::bad_request("send the body as application/json"),
        JsonPayloadError::Deserialize(e) => body_error(e),
        JsonPayloadError::Serialize(_) => Error::internal("serialize"),
        _ => Error::bad_request("the body could not be read"),
    };
    ApiError(e).into()
}

/// A body that is JSON but not of the documented shape: a member the body does not take is a
/// field problem (422 `unknown_field`, as the use cases answer it); anything else is malformed
/// (400, naming the member when one is missing).
pub fn body_error(e: &serde_json::Error) -> Error {
    let msg = e.to_string();
    let named = |prefix: &str| {
        msg.strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(|f| trellis_core::names::truncate(f, 64))
    };
    if e.classify() == serde_json::error::Category::Data {
        if let Some(field) = named("unknown field `") {
            return Error::validation(vec![FieldError::new(
                field,
                FieldCode::UnknownField,
                "not a member of this body",
            )]);
        }
        if let Some(field) = named("missing field `") {
            return Error::bad_field(field, FieldCode::Required, "is required");
        }
    }
    Error::bad_request(format!("the body is not valid JSON: {e}"))
}

pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let msg = match &err {
        QueryPayloadError::Deserialize(e) => format!("bad query parameter: {e}"),
        _ => "bad query string".to_string(),
    };
    ApiError(Error::bad_request(msg)).into()
}

pub fn path_error(_err: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError(Error::not_found("no such resource")).into()
}

/// Answers API requests no route took with a problem (the UI's fallback must not swallow them).
pub async fn api_not_found() -> HttpResponse {
    ApiError(Error::not_found("no such endpoint")).error_response()
}

/// 405 with `Allow` for a method the documented endpoint of `path` does not have (`None`: it
/// has the method, or the path is no documented endpoint). Decided before routing, so
/// `PATCH …/{entity}/bulk` is not taken for a record whose id is `bulk`.
fn wrong_method(req: &actix_web::dev::ServiceRequest) -> Option<HttpResponse> {
    if !req.path().starts_with("/api/") {
        return None;
    }
    let routes = req.app_data::<actix_web::web::Data<crate::spec::Routes>>()?;
    let methods = routes.methods_of(req.path());
    if methods.is_empty() || methods.contains(&req.method().as_str()) {
        return None;
    }
    let allow = methods.join(", ");
    let mut res = ApiError(Error::new(
        ErrorCode::MethodNotAllowed,
        format!("{} is not a method of this endpoint; it takes {allow}", req.method()),
    ))
    .error_response();
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&allow) {
        res.headers_mut().insert(actix_web::http::header::ALLOW, v);
    }
    Some(res)
}

/// Longest URL (path and query) a route reads. Longer ones answer 414; past the HTTP parser's
/// own limit (64 KiB) the connection is closed with a bare 400 before any route sees it.
pub const MAX_URL_BYTES: usize = 32 * 1024;

/// Largest header section a route reads (names, values and their separators). Larger ones answer
/// 431; past the HTTP parser's own limits (128 KiB or 96 headers) the connection is closed with a
/// bare 431 or 400.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Refuses an over-long URL or header section, and a method the endpoint does not have, with a
/// problem, before any route or extractor.
pub async fn request_limits(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let url = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    let refused = if url > MAX_URL_BYTES {
        Some(Error::new(
            ErrorCode::UriTooLong,
            format!("the URL has {url} bytes; at most {MAX_URL_BYTES} are read"),
        ))
    } else if headers > MAX_HEADER_BYTES {
        Some(Error::new(
            ErrorCode::HeadersTooLarge,
            format!("the headers have {headers} bytes; at most {MAX_HEADER_BYTES} are read"),
        ))
    } else {
        None
    };
    if let Some(e) = refused {
        return Ok(req.into_response(ApiError(e).error_response()).map_into_right_body());
    }
    if let Some(res) = wrong_method(&req) {
        return Ok(req.into_response(res).map_into_right_body());
    }
    next.call(req).await.map(|r| r.map_into_left_body())
}

/// API answers are compressed with gzip whenever the client takes it: a browser offers
/// `gzip, deflate, br, zstd`, and the compressor would pick brotli, which costs about twice
/// gzip's CPU on a JSON page for little gain on bodies this size (docs/BENCHMARKS.md). Runs
/// before the compressor reads the header; other paths (the UI's files) keep its choice.
pub async fn prefer_gzip(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use actix_web::http::header::{ACCEPT_ENCODING, HeaderValue};
    if req.path().starts_with("/api/")
        && let Some(accepted) = req.headers().get(ACCEPT_ENCODING).and_then(|v| v.to_str().ok())
        && accepts_gzip(accepted)
    {
        req.headers_mut()
            .insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
    }
    next.call(req).await
}

/// Whether an `Accept-Encoding` value takes gzip: listed by name or as `*`, and not refused by
/// name with `q=0` (`gzip;q=0, *` refuses it).
fn accepts_gzip(accepted: &str) -> bool {
    let parts: Vec<(&str, bool)> = accepted
        .split(',')
        .map(|part| {
            let mut pieces = part.split(';').map(str::trim);
            let name = pieces.next().unwrap_or("");
            let refused = pieces.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name, refused)
        })
        .collect();
    let gzip = parts.iter().find(|(name, _)| name.eq_ignore_ascii_case("gzip"));
    match gzip {
        Some((_, refused)) => !refused,
        None => parts.iter().any(|(name, refused)| *name == "*" && !refused),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn gzip_is_taken_when_listed_without_q_zero() {
        for yes in ["gzip", "gzip, deflate, br, zstd", "br;q=1.0, gzip;q=0.8", "*", "GZIP"] {
            assert!(super::accepts_gzip(yes), "{yes}");
        }
        for no in [
            "",
            "br",
            "identity",
            "gzip;q=0",
            "br, gzip; q=0.0",
            "x-gzip-like",
            "gzip;q=0, *",
            "*;q=0",
        ] {
            assert!(!super::accepts_gzip(no), "{no}");
        }
    }
}
