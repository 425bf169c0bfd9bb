//! The one registry of error codes. Every crate maps its failures into these; the API turns them
//! into problem+json with the status given here.

use serde::{Deserialize, Serialize};

/// Stable, snake_case error codes (the contract in API.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Unauthenticated,
    PermissionDenied,
    NotFound,
    MethodNotAllowed,
    Conflict,
    VersionMismatch,
    ValidationFailed,
    TransitionBlocked,
    ScriptError,
    PayloadTooLarge,
    UriTooLong,
    HeadersTooLarge,
    RateLimited,
    Internal,
}

impl ErrorCode {
    /// The HTTP status this code answers with.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::PermissionDenied => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict => 409,
            ErrorCode::VersionMismatch => 412,
            ErrorCode::ValidationFailed => 422,
            ErrorCode::TransitionBlocked => 409,
            ErrorCode::ScriptError => 422,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UriTooLong => 414,
            ErrorCode::HeadersTooLarge => 431,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal => 500,
        }
    }

    /// The snake_case word, as sent to clients.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::VersionMismatch => "version_mismatch",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::TransitionBlocked => "transition_blocked",
            ErrorCode::ScriptError => "script_error",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UriTooLong => "uri_too_long",
            ErrorCode::HeadersTooLarge => "headers_too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
        }
    }

    /// A short human title for the problem document.
    pub fn title(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "Bad request",
            ErrorCode::Unauthenticated => "Authentication required",
            ErrorCode::PermissionDenied => "Permission denied",
            ErrorCode::NotFound => "Not found",
            ErrorCode::MethodNotAllowed => "Method not allowed",
            ErrorCode::Conflict => "Conflict",
            ErrorCode::VersionMismatch => "Version mismatch",
            ErrorCode::ValidationFailed => "Validation failed",
            ErrorCode::TransitionBlocked => "Transition blocked",
            ErrorCode::ScriptError => "Script error",
            ErrorCode::PayloadTooLarge => "Payload too large",
            ErrorCode::UriTooLong => "URL too long",
            ErrorCode::HeadersTooLarge => "Headers too large",
            ErrorCode::RateLimited => "Too many requests",
            ErrorCode::Internal => "Internal error",
        }
    }
}

/// The code of an `errors[]` item that stands for the unmet requirements on fields hidden from
/// the caller (a required field, a condition, `required_if`, validation rule or unique index
/// reading or holding one), of a 409 `transition_blocked` and of a refused record write (422
/// `validation_failed`): the move or write is refused without naming the field or showing its
/// value.
pub const HIDDEN_REQUIREMENT: &str = "hidden_requirement";

/// One problem with one field (or one part of a definition), as listed in `errors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field, parameter or definition path it is about (`amount`, `create[2].amount`,
    /// `rules[0].actions[1].to`); `stage`, `comment` or a condition's name in a blocked move.
    pub field: String,
    /// What is wrong, a stable snake_case code (`required`, `unknown_field`, …).
    pub code: String,
    pub message: String,
    /// The message in both languages, where the builder wrote one (validation rules), so a
    /// client shows its user's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<crate::def::Label>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            code: code.into(),
            message: message.into(),
            messages: None,
        }
    }

    /// The same error with its message in both languages.
    pub fn with_messages(mut self, messages: crate::def::Label) -> Self {
        self.messages = Some(messages);
        self
    }

    /// The same error with its field path prefixed (`create[2].amount`).
    pub fn prefixed(mut self, prefix: &str) -> Self {
        self.field = if self.field.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}

/// A failure a client can act on, or an internal one whose detail is never sent.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code:?}: {detail}")]
pub struct Error {
    pub code: ErrorCode,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Seconds to wait before trying again (`rate_limited`): answered as `Retry-After` and as
    /// the problem's `retry_after`.
    pub retry_after: Option<u64>,
    /// What caused it (a database or I/O error and its own causes): logged with an internal
    /// failure, never sent ([`Error::chain`]).
    #[source]
    source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Error {
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
            source: None,
        }
    }
    /// `rate_limited`: try again in `seconds` (at least one).
    pub fn rate_limited(detail: impl Into<String>, seconds: u64) -> Self {
        Error {
            retry_after: Some(seconds.max(1)),
            ..Self::new(ErrorCode::RateLimited, detail)
        }
    }
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, detail)
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, detail)
    }
    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, detail)
    }
    pub fn permission_denied(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::PermissionDenied, detail)
    }
    /// An internal failure: the detail is logged, never sent to a client.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, detail)
    }
    /// `validation_failed` with the listed field errors.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            many => format!("{} fields are invalid", many.len()),
        };
        Error {
            code: ErrorCode::ValidationFailed,
            detail,
            errors,
            retry_after: None,
            source: None,
        }
    }
    /// `bad_request` naming the offending parameter or field.
    pub fn bad_field(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        Error {
            code: ErrorCode::BadRequest,
            detail: format!("{field}: {message}"),
            errors: vec![FieldError::new(field, code, message)],
            retry_after: None,
            source: None,
        }
    }
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }
    /// The same error caused by `source` (kept for the log, never sent to a client).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(std::sync::Arc::new(source));
        self
    }
    /// The detail followed by every cause, `detail: cause: its cause`, for the log.
    pub fn chain(&self) -> String {
        let mut out = self.detail.clone();
        let mut next = std::error::Error::source(self);
        while let Some(e) = next {
            out.push_str(": ");
            out.push_str(&e.to_string());
            next = e.source();
        }
        out
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer failure")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_chain_names_every_cause_and_the_display_only_the_detail() {
        let e = Error::internal("the database could not complete the request")
            .with_source(Outer(std::io::Error::other("disk full")));
        assert_eq!(
            e.chain(),
            "the database could not complete the request: outer failure: disk full"
        );
        assert_eq!(e.to_string(), "Internal: the database could not complete the request");
        assert_eq!(Error::internal("alone").chain(), "alone");
        assert_eq!(e.clone().chain(), e.chain(), "a clone keeps its cause");
    }
}
