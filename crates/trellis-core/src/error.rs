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

crate::status::vocabulary! {
    /// What is wrong with one field or part of a request (`errors[].code`): the one list of the
    /// codes the server sends, besides a validation rule's own name and `schema_<keyword>` (a
    /// definition failing its JSON schema).
    FieldCode {
        /// A move needs an attachment of this kind.
        AttachmentRequired => "attachment_required",
        /// A date reads two ways (day or month first): an import names the order.
        AmbiguousDate => "ambiguous_date",
        /// A value names several records (a relation matched by its title).
        AmbiguousMatch => "ambiguous_match",
        /// A value names no record or user it could stand for.
        NoMatch => "no_match",
        /// A file none of whose columns fills a field.
        NoColumns => "no_columns",
        /// An all-or-nothing import with refused rows: nothing was written.
        InvalidRows => "invalid_rows",
        /// A field an import cannot fill (files).
        NotImportable => "not_importable",
        /// An end lies before its start.
        BeforeStart => "before_start",
        /// A password is too common.
        Common => "common",
        /// A stage condition of the move is not met.
        ConditionFailed => "condition_failed",
        /// Two settings contradict each other.
        Conflict => "conflict",
        /// Too many or too few items.
        Count => "count",
        /// A reference loops back to itself.
        Cycle => "cycle",
        /// The rule or feature is disabled.
        Disabled => "disabled",
        /// The name or value appears twice.
        Duplicate => "duplicate",
        /// The value must not be empty.
        Empty => "empty",
        /// The file's type is not accepted.
        FileType => "file_type",
        /// The text is not in the expected format.
        Format => "format",
        /// Stands for unmet requirements on data hidden from the caller (never names it).
        HiddenRequirement => "hidden_requirement",
        /// The value is not valid here.
        Invalid => "invalid",
        /// The paging cursor is not one this list gave.
        InvalidCursor => "invalid_cursor",
        /// Not a date `YYYY-MM-DD`.
        InvalidDate => "invalid_date",
        /// Not a valid interval.
        InvalidInterval => "invalid_interval",
        /// Not valid JSON.
        InvalidJson => "invalid_json",
        /// Not a valid name (lowercase letters, digits, `_`).
        InvalidName => "invalid_name",
        /// Not a valid cron schedule.
        InvalidSchedule => "invalid_schedule",
        /// Not a valid time of day.
        InvalidTime => "invalid_time",
        /// The text or list has the wrong length.
        Length => "length",
        /// The request part is malformed.
        Malformed => "malformed",
        /// A masked secret was sent where no secret is stored.
        Masked => "masked",
        /// Longer than the field's maximum length.
        MaxLength => "max_length",
        /// Shorter than the field's minimum length.
        MinLength => "min_length",
        /// The entity has no pipeline.
        NoPipeline => "no_pipeline",
        /// The rule needs a record.
        NoRecord => "no_record",
        /// No transition leads to that stage.
        NoTransition => "no_transition",
        /// The calendar has no working time.
        NoWorkingTime => "no_working_time",
        /// The option does not apply to this type.
        NotApplicable => "not_applicable",
        /// What it names does not exist.
        NotFound => "not_found",
        /// The rule is not a manual rule of this entity.
        NotManual => "not_manual",
        /// The body is not multipart.
        NotMultipart => "not_multipart",
        /// The field is not a relation.
        NotRelation => "not_relation",
        /// The field cannot be sorted on.
        NotSortable => "not_sortable",
        /// The filter operator does not apply to this field.
        OpNotAllowed => "op_not_allowed",
        /// Not one of the field's options.
        Option => "option",
        /// The number does not fit the field.
        OutOfRange => "out_of_range",
        /// Outside the caller's scope.
        OutOfScope => "out_of_scope",
        /// The time lies in the past.
        Past => "past",
        /// The record waits for an approval.
        PendingApproval => "pending_approval",
        /// Outside the allowed range.
        Range => "range",
        /// The field cannot be written.
        ReadOnly => "read_only",
        /// The value is required.
        Required => "required",
        /// The name is reserved.
        Reserved => "reserved",
        /// A password equals the e-mail address.
        SameAsEmail => "same_as_email",
        /// The script failed to run.
        ScriptError => "script_error",
        /// The script does not parse.
        ScriptSyntax => "script_syntax",
        /// The item refers to the caller or itself.
        #[serde(rename = "self")]
        SelfReference => "self",
        /// Too long.
        TooLong => "too_long",
        /// Too many items.
        TooMany => "too_many",
        /// Too many dates.
        TooManyDates => "too_many_dates",
        /// Too short.
        TooShort => "too_short",
        /// The value has the wrong type.
        Type => "type",
        /// Another record has this value.
        Unique => "unique",
        /// No such calendar.
        UnknownCalendar => "unknown_calendar",
        /// No such entity.
        UnknownEntity => "unknown_entity",
        /// No such field.
        UnknownField => "unknown_field",
        /// No such key.
        UnknownKey => "unknown_key",
        /// No such relation.
        UnknownRelation => "unknown_relation",
        /// No such role.
        UnknownRole => "unknown_role",
        /// No such rule.
        UnknownRule => "unknown_rule",
        /// No such stage.
        UnknownStage => "unknown_stage",
        /// No such time zone.
        UnknownTimezone => "unknown_timezone",
        /// No such user.
        UnknownUser => "unknown_user",
        /// The stage cannot be reached.
        Unreachable => "unreachable",
        /// The stage changes only through a transition.
        UseTransition => "use_transition",
        /// A password is too weak.
        Weak => "weak",
        /// Not a three-letter ISO 4217 currency code.
        Currency => "currency",
        /// A currency amount needs its currency.
        CurrencyRequired => "currency_required",
        /// Not a known format.
        InvalidFormat => "invalid_format",
        /// Not a valid regular expression.
        InvalidPattern => "invalid_pattern",
        /// More files than the field takes.
        MaxFiles => "max_files",
        /// More items than the field takes.
        MaxItems => "max_items",
        /// Above the field's maximum.
        Maximum => "maximum",
        /// Fewer items than the field needs.
        MinItems => "min_items",
        /// Below the field's minimum.
        Minimum => "minimum",
        /// Does not match the field's pattern.
        Pattern => "pattern",
        /// The filter is not shaped as documented.
        Shape => "shape",
        /// Nested too deeply.
        TooDeep => "too_deep",
        /// No such filter operator.
        UnknownOp => "unknown_op",
    }
}

/// The code of an `errors[]` item that stands for the unmet requirements on fields hidden from
/// the caller (a required field, a condition, `required_if`, validation rule or unique index
/// reading or holding one), of a 409 `transition_blocked` and of a refused record write (422
/// `validation_failed`): the move or write is refused without naming the field or showing its
/// value.
pub const HIDDEN_REQUIREMENT: &str = FieldCode::HiddenRequirement.as_str();

/// One problem with one field (or one part of a definition), as listed in `errors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field, parameter or definition path it is about (`amount`, `create[2].amount`,
    /// `rules[0].actions[1].to`); `stage`, `comment` or a condition's name in a blocked move.
    pub field: String,
    /// What is wrong, a stable snake_case code: a `FieldCode`, a validation rule's name, or
    /// `schema_<keyword>`.
    #[schema(schema_with = field_code_schema)]
    pub code: String,
    pub message: String,
    /// The message in both languages, where the builder wrote one (validation rules), so a
    /// client shows its user's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<crate::def::Label>,
}

/// `FieldError.code` in the OpenAPI documents: one of the known codes, or a validation rule's
/// name or `schema_<keyword>`.
fn field_code_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, Type};
    let any = AnyOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(FieldCode::ALL.iter().map(|c| c.as_str()))),
        )
        .item(ObjectBuilder::new().schema_type(Type::String).description(Some(
            "A validation rule's name, or `schema_<keyword>` for a definition failing its JSON schema.",
        )))
        .description(Some("What is wrong: a stable snake_case code."))
        .build();
    Schema::AnyOf(any)
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
    pub fn bad_field(field: impl Into<String>, code: impl Into<String>, message: impl Into<String>) -> Self {
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

    /// The `.rs` files under `dir`, recursively.
    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The second argument of the call whose `(` is at `open`, as written.
    fn second_argument(text: &str, open: usize) -> Option<&str> {
        let bytes = text.as_bytes();
        let (mut depth, mut in_str, mut start, mut arg) = (0usize, false, 0usize, 0usize);
        let mut i = open;
        while i < bytes.len() {
            let c = bytes[i];
            if in_str {
                if c == b'\\' {
                    i += 1;
                } else if c == b'"' {
                    in_str = false;
                }
            } else {
                match c {
                    b'"' => in_str = true,
                    b'(' | b'[' | b'{' => depth += 1,
                    b')' | b']' | b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            return (arg == 1).then(|| text[start..i].trim());
                        }
                    }
                    b',' if depth == 1 => {
                        if arg == 1 {
                            return Some(text[start..i].trim());
                        }
                        arg += 1;
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            i += 1;
        }
        None
    }

    /// Every code written in the crates' sources as the code of a field error (the second
    /// argument of `FieldError::new`, `Error::bad_field` and the helpers that pass theirs on) is
    /// a `FieldCode`, so the list the OpenAPI documents carry is complete; a code that is not a
    /// literal must be one of the reviewed forms below.
    #[test]
    fn every_field_code_the_sources_send_is_listed() {
        let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        sources(&crates, &mut files);
        assert!(files.len() > 20, "the sources were not found");
        // Passed on from a caller that wrote a literal, or open by design (a validation rule's
        // name, a JSON schema keyword).
        let reviewed = [
            "code",
            "fe.code",
            "e.code",
            "&e.code",
            "HIDDEN_REQUIREMENT",
            "trellis_core::error::HIDDEN_REQUIREMENT",
            "r.rule.name.to_string()",
            "format!(\"schema_{keyword}\")",
            "code.into()",
            // A `FieldCode` already.
            "code.as_str()",
            // `parse_integer` / `parse_fixed`: `type`, `out_of_range`.
            "c",
        ];
        let calls = [
            "FieldError::new(",
            "bad_field(",
            " fail(",
            "(fail(",
            " bad(",
            "(bad(",
            " err(",
            "(err(",
        ];
        let mut unknown = Vec::new();
        let mut seen = 0;
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            for call in calls {
                for (at, _) in text.match_indices(call) {
                    let Some(arg) = second_argument(&text, at + call.len() - 1) else {
                        continue;
                    };
                    if arg.starts_with("FieldCode::") {
                        // Typed: the compiler checks the variant.
                        seen += 1;
                    } else if let Some(word) = arg.strip_prefix('"').and_then(|a| a.strip_suffix('"')) {
                        seen += 1;
                        if FieldCode::parse(word).is_none() {
                            unknown.push(format!("{}: \"{word}\"", file.display()));
                        }
                    } else if !reviewed.contains(&arg) && !arg.starts_with("code:") {
                        unknown.push(format!("{}: {arg}", file.display()));
                    }
                }
            }
        }
        assert!(seen > 100, "only {seen} codes found");
        assert!(unknown.is_empty(), "field codes missing from FieldCode: {unknown:#?}");
    }

    #[test]
    fn field_codes_are_their_serde_names() {
        for c in FieldCode::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::json!(c.as_str()));
            assert_eq!(FieldCode::parse(c.as_str()), Some(*c));
        }
        assert_eq!(HIDDEN_REQUIREMENT, "hidden_requirement");
    }

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
