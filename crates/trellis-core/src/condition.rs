//! Form conditions: a field's `visible_if` and the filter form of its `required_if`, written in
//! the list API's filter language (`filter.schema.json`, parsed by [`crate::query::parse_filter`])
//! and evaluated here against one record's JSON values. The browser's evaluator
//! (`web-ui/src/form/condition.ts`) follows the same rules, and both run the shared cases of
//! `schemas/tests/conditions.json`.
//!
//! The rules, per field kind (a value that does not have the field's kind counts as empty):
//! - empty: a missing key, `null`, a blank string, an empty array;
//! - text kinds: `eq`/`in` compare exactly, `gt`… by code point, `contains` and `starts_with`
//!   ignore case; relation and user ids compare without case;
//! - numbers (integer, decimal, percent, currency: its `amount`): JSON numbers or numeric
//!   strings, compared as numbers;
//! - dates `YYYY-MM-DD` in calendar order; date-times (RFC 3339, any offset) as instants to the
//!   microsecond; booleans by `eq`/`ne`/`in`/`nin`;
//! - multi_select: `contains` holds when the option is among the chosen ones;
//! - an empty value makes every comparison false except `ne` and `nin` (true) and `is_null`, so
//!   `not` is the exact complement of what it wraps, as in the list API.
//!
//! Conditions name the entity's own fields (no system columns) and may compare a user field with
//! `$user.id`, the writer (the form's user in the browser).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::compile::{CompiledEntity, CompiledField};
use crate::def::FieldType;
use crate::error::{Error, FieldCode, FieldError};
use crate::query::{Filter, Op};
use crate::value::Val;

/// `required_if` as written: a Rhai script (run with the entity's scripts) or a filter-language
/// condition (evaluated by [`holds`], in the browser too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum RequiredIf {
    /// Condition (Rhai), e.g. `record.phase == "confirmed"`.
    Script(String),
    /// A filter-language condition (`filter.schema.json`) on the record as written.
    #[schema(value_type = ConditionSchema)]
    Filter(Value),
}

impl RequiredIf {
    /// The Rhai source, when written as a script.
    pub fn script(&self) -> Option<&str> {
        match self {
            RequiredIf::Script(s) => Some(s),
            RequiredIf::Filter(_) => None,
        }
    }
    /// The filter, when written as a condition.
    pub fn filter(&self) -> Option<&Value> {
        match self {
            RequiredIf::Filter(f) => Some(f),
            RequiredIf::Script(_) => None,
        }
    }
}

/// The shape of a condition in the OpenAPI documents (what `filter.schema.json` takes): a
/// comparison, or `and` / `or` of conditions, or `not` of one. Only for the documents; the
/// server reads conditions with [`crate::query::parse_filter`].
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
#[schema(as = Condition)]
pub enum ConditionSchema {
    Comparison(Comparison),
    All(AllOf),
    Any(AnyOf),
    Negation(Negation),
}

/// `field op value`.
#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Comparison {
    field: crate::names::Slug,
    op: ConditionOp,
    /// An operand of the field's type; an array for in, nin and between ([low, high]); a
    /// boolean for is_null. `$user.id` stands for the writer.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    value: Option<Value>,
}

/// Operators of a comparison.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ConditionOp {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    Nin,
    Contains,
    StartsWith,
    IsNull,
    Between,
}

/// Every condition holds.
#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct AllOf {
    #[schema(no_recursion)]
    and: Vec<ConditionSchema>,
}

/// Some condition holds.
#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct AnyOf {
    #[schema(no_recursion)]
    or: Vec<ConditionSchema>,
}

/// The condition does not hold.
#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Negation {
    #[schema(no_recursion)]
    not: Box<ConditionSchema>,
}

/// Parses a condition for `entity`, `$user.id` standing for `user`.
pub fn parse(entity: &CompiledEntity, condition: &Value, user: &str) -> Result<Filter, Error> {
    let v = crate::permissions::substitute(condition, user, crate::permissions::NO_ID, &[]);
    crate::query::parse_filter(entity, &v)
}

/// The problems of a condition written at `at` (a definition's path): it parses against the
/// entity, names only its fields, and uses no `$user` but `$user.id`.
pub fn check(entity: &CompiledEntity, condition: &Value, at: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    if mentions(condition, &|s| s == "$user.team" || s == "$user.teams") {
        out.push(FieldError::new(
            at,
            FieldCode::Type,
            "a condition may compare with $user.id, not $user.team or $user.teams",
        ));
    }
    let mut system = Vec::new();
    field_names(condition, &mut system);
    system.retain(|n| entity.column(n).is_some_and(|c| c.system));
    for n in system {
        out.push(FieldError::new(
            at,
            FieldCode::UnknownField,
            format!("'{n}' is set by Trellis; a condition names the entity's own fields"),
        ));
    }
    if let Err(e) = parse(entity, condition, crate::permissions::NO_ID) {
        for fe in e.errors {
            let message = format!("{}: {}", crate::names::truncate(&fe.field, 64), fe.message);
            out.push(FieldError::new(at, fe.code, message));
        }
    }
    out
}

/// Checks the conditions of every field of the app (`visible_if`, `required_if` written as a
/// condition); each problem names the field's path.
pub fn validate_conditions(app: &crate::def::AppDef, errors: &mut Vec<FieldError>) {
    for e in &app.entities {
        let compiled = CompiledEntity::compile(e);
        for f in &e.fields {
            let at = |what: &str| format!("entities.{}.fields.{}.{what}", e.name, f.name);
            if let Some(c) = f.required_if.as_ref().and_then(RequiredIf::filter) {
                errors.extend(check(&compiled, c, &at("required_if")));
            }
            if let Some(c) = &f.visible_if {
                errors.extend(check(&compiled, c, &at("visible_if")));
            }
        }
    }
}

fn mentions(v: &Value, what: &dyn Fn(&str) -> bool) -> bool {
    match v {
        Value::String(s) => what(s),
        Value::Array(a) => a.iter().any(|x| mentions(x, what)),
        Value::Object(o) => o.values().any(|x| mentions(x, what)),
        _ => false,
    }
}

/// Every `field` a condition names.
pub fn field_names(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if let Some(f) = o.get("field").and_then(Value::as_str)
                && !out.iter().any(|x| x == f)
            {
                out.push(f.to_string());
            }
            for k in ["and", "or", "not"] {
                if let Some(inner) = o.get(k) {
                    field_names(inner, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| field_names(x, out)),
        _ => {}
    }
}

/// Whether a record (its fields' JSON values by name) satisfies a parsed condition.
pub fn holds(filter: &Filter, record: &Map<String, Value>) -> bool {
    match filter {
        Filter::And(parts) => parts.iter().all(|p| holds(p, record)),
        Filter::Or(parts) => parts.iter().any(|p| holds(p, record)),
        Filter::Not(inner) => !holds(inner, record),
        Filter::Cond {
            field,
            op,
            values,
            is_null,
        } => {
            let have = record.get(&field.name).and_then(|v| norm(field, v));
            let Some(have) = have else {
                return match op {
                    Op::IsNull => *is_null,
                    Op::Ne | Op::Nin => true,
                    _ => false,
                };
            };
            let ops: Vec<Norm> = values.iter().map(|v| operand(field, v)).collect();
            compare(*op, *is_null, &have, &ops)
        }
    }
}

/// A value reduced to what conditions compare.
#[derive(Debug, Clone, PartialEq)]
enum Norm {
    Text(String),
    Num(f64),
    Bool(bool),
    /// Microseconds since the epoch.
    Instant(i64),
    Items(Vec<String>),
    /// Any other non-empty value (json, attachments): only `is_null` looks at it.
    Some,
}

fn is_id(kind: FieldType) -> bool {
    matches!(kind, FieldType::Relation | FieldType::User)
}

/// A record's JSON value as its field's kind reads it; `None` when empty or not of that kind.
fn norm(field: &CompiledField, v: &Value) -> Option<Norm> {
    use FieldType as T;
    match field.kind {
        T::Integer | T::Decimal | T::Percent | T::Currency => {
            let v = match v {
                Value::Object(o) if field.kind == T::Currency => o.get("amount")?,
                other => other,
            };
            number(v).map(Norm::Num)
        }
        T::Boolean => v.as_bool().map(Norm::Bool),
        T::Date => {
            let s = v.as_str()?;
            is_date(s).then(|| Norm::Text(s.to_string()))
        }
        T::Datetime => instant(v.as_str()?).map(Norm::Instant),
        T::MultiSelect => {
            let items: Vec<String> = v
                .as_array()?
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect();
            (!items.is_empty()).then_some(Norm::Items(items))
        }
        T::Json | T::Attachment => match v {
            Value::Null => None,
            Value::Array(a) if a.is_empty() => None,
            _ => Some(Norm::Some),
        },
        kind => {
            let s = v.as_str().filter(|s| !s.trim().is_empty())?;
            Some(Norm::Text(if is_id(kind) { s.to_lowercase() } else { s.to_string() }))
        }
    }
}

/// A parsed operand as [`norm`] reads values.
fn operand(field: &CompiledField, v: &Val) -> Norm {
    match v {
        Val::Int(i) => Norm::Num(*i as f64),
        Val::Fixed(m) | Val::Currency(m, _) => Norm::Num(*m as f64 / 10f64.powi(i32::from(field.scale))),
        Val::Bool(b) => Norm::Bool(*b),
        Val::Date(d) => Norm::Text(d.format("%Y-%m-%d").to_string()),
        Val::DateTime(t) => Norm::Instant(t.timestamp_micros()),
        Val::Text(s) if is_id(field.kind) => Norm::Text(s.to_lowercase()),
        Val::Text(s) => Norm::Text(s.clone()),
        Val::Null | Val::Json(_) => Norm::Some,
    }
}

fn compare(op: Op, is_null: bool, have: &Norm, ops: &[Norm]) -> bool {
    use std::cmp::Ordering;
    let order = |want: &Norm| -> Option<Ordering> {
        match (have, want) {
            (Norm::Num(a), Norm::Num(b)) => a.partial_cmp(b),
            (Norm::Text(a), Norm::Text(b)) => Some(a.as_str().cmp(b.as_str())),
            (Norm::Instant(a), Norm::Instant(b)) => Some(a.cmp(b)),
            (Norm::Bool(a), Norm::Bool(b)) => Some(a.cmp(b)),
            _ => None,
        }
    };
    let is = |i: usize, want: &[Ordering]| ops.get(i).and_then(order).is_some_and(|o| want.contains(&o));
    let text = |n: &Norm| match n {
        Norm::Text(s) => s.to_lowercase(),
        _ => String::new(),
    };
    match op {
        Op::IsNull => !is_null,
        Op::Eq => is(0, &[Ordering::Equal]),
        Op::Ne => !is(0, &[Ordering::Equal]),
        Op::Gt => is(0, &[Ordering::Greater]),
        Op::Gte => is(0, &[Ordering::Greater, Ordering::Equal]),
        Op::Lt => is(0, &[Ordering::Less]),
        Op::Lte => is(0, &[Ordering::Less, Ordering::Equal]),
        Op::Between => is(0, &[Ordering::Greater, Ordering::Equal]) && is(1, &[Ordering::Less, Ordering::Equal]),
        Op::In => (0..ops.len()).any(|i| is(i, &[Ordering::Equal])),
        Op::Nin => !(0..ops.len()).any(|i| is(i, &[Ordering::Equal])),
        Op::Contains => match (have, ops.first()) {
            (Norm::Items(items), Some(Norm::Text(want))) => items.iter().any(|i| i == want),
            (Norm::Text(_), Some(want)) => text(have).contains(&text(want)),
            _ => false,
        },
        Op::StartsWith => ops.first().is_some_and(|w| text(have).starts_with(&text(w))),
    }
}

/// A JSON number, or a string holding a decimal number.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let s = s.trim();
            let ok = !s.is_empty()
                && s.trim_start_matches(['+', '-'])
                    .chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
                && s.chars().any(|c| c.is_ascii_digit());
            ok.then(|| s.parse::<f64>().ok()).flatten().filter(|f| f.is_finite())
        }
        _ => None,
    }
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

fn instant(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_micros())
}

/// A typed record as conditions read it: each field's value as a client sees it.
pub fn record_json(record: &[(&CompiledField, &Val)]) -> Map<String, Value> {
    record.iter().map(|(f, v)| (f.name.clone(), v.to_json(f))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::CompiledApp;
    use crate::validate::{assign_ids, parse_app};
    use serde_json::json;

    /// The shared cases, run by this test and by web-ui's `condition.test.ts`.
    const CASES: &str = include_str!("../../../schemas/tests/conditions.json");

    #[test]
    fn every_shared_case_gives_its_expected_answer() {
        let file: Value = serde_json::from_str(CASES).unwrap();
        let mut app =
            parse_app(&json!({"name": "cases", "label": {"en": "Cases"}, "entities": [file["entity"].clone()]}))
                .expect("the cases' entity is valid");
        assign_ids(&mut app);
        let entity_name = file["entity"]["name"].as_str().unwrap().to_string();
        let compiled = CompiledApp::compile(app, 1);
        let entity = compiled.entity(&entity_name).unwrap();
        let cases = file["cases"].as_array().unwrap();
        assert!(cases.len() >= 40, "at least 40 shared cases");
        let mut failed = Vec::new();
        for c in cases {
            let name = c["name"].as_str().unwrap();
            let problems = check(entity, &c["condition"], "condition");
            assert!(problems.is_empty(), "{name}: {problems:?}");
            let user = c["user"].as_str().unwrap_or(crate::permissions::NO_ID);
            let filter = parse(entity, &c["condition"], user).unwrap();
            let record = c["record"].as_object().cloned().unwrap_or_default();
            if holds(&filter, &record) != c["expected"].as_bool().unwrap() {
                failed.push(name.to_string());
            }
        }
        assert!(failed.is_empty(), "cases that disagree: {failed:?}");
    }

    #[test]
    fn conditions_name_own_fields_and_only_user_id() {
        let file: Value = serde_json::from_str(CASES).unwrap();
        let mut app =
            parse_app(&json!({"name": "cases", "label": {"en": "Cases"}, "entities": [file["entity"].clone()]}))
                .unwrap();
        assign_ids(&mut app);
        let name = file["entity"]["name"].as_str().unwrap().to_string();
        let compiled = CompiledApp::compile(app, 1);
        let e = compiled.entity(&name).unwrap();
        let codes = |c: Value| -> Vec<String> { check(e, &c, "x").into_iter().map(|p| p.code).collect() };
        assert_eq!(
            codes(json!({"field": "owner", "op": "is_null", "value": true})),
            ["unknown_field"]
        );
        assert_eq!(
            codes(json!({"field": "nope", "op": "eq", "value": 1})),
            ["unknown_field"]
        );
        assert_eq!(
            codes(json!({"field": "assignee", "op": "eq", "value": "$user.team"})),
            ["type"]
        );
        assert!(codes(json!({"field": "assignee", "op": "eq", "value": "$user.id"})).is_empty());
    }

    #[test]
    fn required_if_takes_a_script_or_a_condition() {
        let s: RequiredIf = serde_json::from_value(json!("record.a > 1")).unwrap();
        assert_eq!(s.script(), Some("record.a > 1"));
        let f: RequiredIf = serde_json::from_value(json!({"field": "a", "op": "gt", "value": 1})).unwrap();
        assert!(f.filter().is_some());
    }
}
