//! The JSON Schemas of `schemas/`, embedded in the binary. Every definition is checked against its
//! schema before it is parsed and given the semantic checks of [`crate::validate`].

use crate::error::FieldCode;
use std::sync::LazyLock;

use jsonschema::{Retrieve, Uri, Validator};
use serde_json::Value;

use crate::error::FieldError;

const BASE: &str = "https://trellis.dev/schemas/";

/// (file name, contents) of every schema.
pub const SCHEMAS: &[(&str, &str)] = &[
    ("label.schema.json", include_str!("../../../schemas/label.schema.json")),
    ("field.schema.json", include_str!("../../../schemas/field.schema.json")),
    (
        "entity.schema.json",
        include_str!("../../../schemas/entity.schema.json"),
    ),
    ("app.schema.json", include_str!("../../../schemas/app.schema.json")),
    (
        "pipeline.schema.json",
        include_str!("../../../schemas/pipeline.schema.json"),
    ),
    (
        "filter.schema.json",
        include_str!("../../../schemas/filter.schema.json"),
    ),
    ("rule.schema.json", include_str!("../../../schemas/rule.schema.json")),
    (
        "calendar.schema.json",
        include_str!("../../../schemas/calendar.schema.json"),
    ),
    ("view.schema.json", include_str!("../../../schemas/view.schema.json")),
    ("form.schema.json", include_str!("../../../schemas/form.schema.json")),
    (
        "dashboard.schema.json",
        include_str!("../../../schemas/dashboard.schema.json"),
    ),
    (
        "app-package.schema.json",
        include_str!("../../../schemas/app-package.schema.json"),
    ),
];

/// Kinds of definition with a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefKind {
    App,
    Entity,
    Field,
    Filter,
    Calendar,
    Pipeline,
    Rule,
    /// A role of an app (`app.schema.json`, `roles` items).
    Role,
    /// A validation rule of an entity (`entity.schema.json`, `validations` items).
    Validation,
    View,
    /// An app package (`app-package.schema.json`).
    Package,
}

impl DefKind {
    fn file(self) -> &'static str {
        match self {
            DefKind::App => "app.schema.json",
            DefKind::Entity => "entity.schema.json",
            DefKind::Field => "field.schema.json",
            DefKind::Filter => "filter.schema.json",
            DefKind::Calendar => "calendar.schema.json",
            DefKind::Pipeline => "pipeline.schema.json",
            DefKind::Rule => "rule.schema.json",
            DefKind::Role => "app.schema.json#/properties/roles/items",
            DefKind::Validation => "entity.schema.json#/properties/validations/items",
            DefKind::View => "view.schema.json",
            DefKind::Package => "app-package.schema.json",
        }
    }
}

/// Resolves `$ref`s between the embedded schemas; never reaches the network.
struct Embedded;

impl Retrieve for Embedded {
    fn retrieve(&self, uri: &Uri<String>) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let s = uri.as_str();
        let file = s.strip_prefix(BASE).ok_or_else(|| format!("unknown schema {s}"))?;
        schema_json(file).ok_or_else(|| format!("unknown schema {s}").into())
    }
}

/// The parsed JSON of an embedded schema by file name.
pub fn schema_json(file: &str) -> Option<Value> {
    SCHEMAS
        .iter()
        .find(|(f, _)| *f == file)
        .map(|(_, text)| serde_json::from_str(text).expect("embedded schema is JSON"))
}

fn build(kind: DefKind) -> Validator {
    // A part of a definition is checked against its place in the file that holds it.
    let schema = if kind.file().contains('#') {
        serde_json::json!({"$ref": format!("{BASE}{}", kind.file())})
    } else {
        schema_json(kind.file()).expect("schema is embedded")
    };
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .with_retriever(Embedded)
        .build(&schema)
        .expect("embedded schema compiles")
}

/// The compiled validators of the embedded definition schemas: constants of the binary, no
/// tenant data, so compiled once per process and shared by every engine in it.
static VALIDATORS: LazyLock<[(DefKind, Validator); 11]> = LazyLock::new(|| {
    [
        (DefKind::App, build(DefKind::App)),
        (DefKind::Entity, build(DefKind::Entity)),
        (DefKind::Field, build(DefKind::Field)),
        (DefKind::Filter, build(DefKind::Filter)),
        (DefKind::Calendar, build(DefKind::Calendar)),
        (DefKind::Pipeline, build(DefKind::Pipeline)),
        (DefKind::Rule, build(DefKind::Rule)),
        (DefKind::Role, build(DefKind::Role)),
        (DefKind::Validation, build(DefKind::Validation)),
        (DefKind::View, build(DefKind::View)),
        (DefKind::Package, build(DefKind::Package)),
    ]
});

/// Checks a definition against its schema; each error names the JSON path it is about.
pub fn check(kind: DefKind, instance: &Value) -> Result<(), Vec<FieldError>> {
    let validator = &VALIDATORS
        .iter()
        .find(|(k, _)| *k == kind)
        .expect("every kind has a validator")
        .1;
    let errors: Vec<FieldError> = validator
        .iter_errors(instance)
        .take(20)
        .map(|e| {
            let path = e.instance_path().as_str().trim_start_matches('/').replace('/', ".");
            let path = if path.is_empty() { "$".to_string() } else { path };
            let keyword = e
                .schema_path()
                .as_str()
                .rsplit('/')
                .next()
                .unwrap_or("schema")
                .to_string();
            let message = e.masked().to_string();
            // The schemas say "this option only applies to some types" as `not: {required: [x]}`,
            // whose stock message is cryptic: name the option instead.
            if keyword == "not"
                && let Some(option) = forbidden_option(&message)
            {
                let at = if path == "$" {
                    option.clone()
                } else {
                    format!("{path}.{option}")
                };
                return FieldError::new(
                    at,
                    FieldCode::NotApplicable,
                    format!("'{option}' does not apply here (remove it or change the type)"),
                );
            }
            FieldError::new(path, format!("schema_{keyword}"), message)
        })
        .collect();
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// The option named by a `not: {"required": ["x"]}` failure message.
fn forbidden_option(message: &str) -> Option<String> {
    let rest = message.strip_prefix("{\"required\":[\"")?;
    let name: String = rest
        .chars()
        .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
        .collect();
    rest[name.len()..].starts_with("\"]}").then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_option_that_does_not_fit_the_type_is_named() {
        let errs = check(
            DefKind::Field,
            &json!({"name": "x", "label": {"en": "X"}, "type": "integer", "currency": "CNY"}),
        )
        .unwrap_err();
        assert!(
            errs.iter().any(|e| e.field == "currency" && e.code == "not_applicable"),
            "{errs:?}"
        );
    }

    #[test]
    fn every_schema_compiles_and_checks_a_good_app() {
        let app = json!({
            "name": "sales", "label": {"zh": "销售", "en": "Sales"},
            "entities": [{"name": "deal", "label": {"en": "Deal"}, "fields": [
                {"name": "title", "label": {"zh": "标题"}, "type": "text", "required": true},
                {"name": "stage", "label": {"en": "Stage"}, "type": "single_select",
                 "options": [{"value": "new", "label": {"zh": "新", "en": "New"}}]}
            ]}]
        });
        check(DefKind::App, &app).unwrap();
    }

    #[test]
    fn schema_errors_name_the_path() {
        let bad = json!({"name": "x", "label": {"en": "X"}, "type": "relation"});
        let errs = check(DefKind::Field, &bad).unwrap_err();
        assert!(errs.iter().any(|e| e.message.contains("target")), "{errs:?}");
        let bad = json!({"name": "x", "label": {}, "type": "text", "colour": 1});
        let errs = check(DefKind::Field, &bad).unwrap_err();
        assert!(errs.iter().any(|e| e.field == "label"), "{errs:?}");
        assert!(errs.iter().any(|e| e.message.contains("colour")), "{errs:?}");
    }

    #[test]
    fn parts_are_checked_against_their_place_in_the_definition() {
        let role = json!({"name": "rep", "label": {"en": "Rep"}, "run_rules": ["notify"],
                          "permissions": {"deal": {"read": true, "scope": "own"}}});
        check(DefKind::Role, &role).unwrap();
        let errs = check(
            DefKind::Role,
            &json!({"name": "Rep", "label": {"en": "Rep"}, "colour": 1}),
        )
        .unwrap_err();
        assert!(errs.iter().any(|e| e.field == "name"), "{errs:?}");
        assert!(errs.iter().any(|e| e.message.contains("colour")), "{errs:?}");
        let rule = json!({"name": "positive", "assert": "record.amount > 0", "message": {"en": "Positive"}});
        check(DefKind::Validation, &rule).unwrap();
        let errs = check(DefKind::Validation, &json!({"name": "positive", "assert": ""})).unwrap_err();
        assert!(errs.iter().any(|e| e.field == "assert"), "{errs:?}");
        assert!(errs.iter().any(|e| e.message.contains("message")), "{errs:?}");
    }

    #[test]
    fn filter_schema_accepts_nested_filters() {
        let f = json!({"and": [{"field": "a", "op": "eq", "value": 1}, {"not": {"field": "b", "op": "is_null", "value": true}}]});
        check(DefKind::Filter, &f).unwrap();
        assert!(check(DefKind::Filter, &json!({"field": "a", "op": "like"})).is_err());
    }
}
