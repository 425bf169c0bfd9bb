//! Record queries as the API takes them (filter JSON, sort, fields, cursor), parsed and checked
//! against an entity. The store compiles the checked form to SQL.

use crate::error::FieldCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::compile::{CompiledEntity, CompiledField};
use crate::def::FieldType;
use crate::error::{Error, FieldError};
use crate::value::Val;

/// Most conditions a filter may hold, and how deep it may nest.
pub const MAX_CONDITIONS: usize = 100;
pub const MAX_DEPTH: usize = 12;
/// Most values a filter may hold in all its conditions: each is a bound parameter, and the
/// databases take at most 32,766 (SQLite) and 65,535 (PostgreSQL) in one statement.
pub const MAX_FILTER_VALUES: usize = 10_000;

/// `bad_request` for a name that is not a field of the entity, reported at `at`.
pub fn unknown_field(entity: &CompiledEntity, at: &str, name: &str) -> Error {
    Error::bad_field(
        at,
        FieldCode::UnknownField,
        format!(
            "'{}' is not a field of '{}'",
            crate::names::truncate(name, 64),
            entity.name()
        ),
    )
}

/// Comparison operators of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
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

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            "in" => Op::In,
            "nin" => Op::Nin,
            "contains" => Op::Contains,
            "starts_with" => Op::StartsWith,
            "is_null" => Op::IsNull,
            "between" => Op::Between,
            _ => return None,
        })
    }
}

/// A filter whose fields exist and whose operands have the field's type.
#[derive(Debug, Clone)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Cond {
        field: Box<CompiledField>,
        op: Op,
        values: Vec<Val>,
        is_null: bool,
    },
}

/// Parses and checks a filter against an entity. Errors name the condition's path and field.
pub fn parse_filter(entity: &CompiledEntity, v: &Value) -> Result<Filter, Error> {
    let mut count = 0;
    let f = parse_node(entity, v, "filter", 0, &mut count)?;
    if f.value_count() > MAX_FILTER_VALUES {
        return Err(bad(
            "filter",
            "too_many",
            format!("a filter holds at most {MAX_FILTER_VALUES} values"),
        ));
    }
    Ok(f)
}

impl Filter {
    /// The values of all its conditions (each a bound parameter of the statement).
    pub fn value_count(&self) -> usize {
        match self {
            Filter::And(parts) | Filter::Or(parts) => parts.iter().map(Filter::value_count).sum(),
            Filter::Not(inner) => inner.value_count(),
            Filter::Cond { values, .. } => values.len(),
        }
    }
}

fn bad(path: &str, code: &str, msg: impl Into<String>) -> Error {
    Error::bad_field(path, code, msg)
}

fn parse_node(
    entity: &CompiledEntity,
    v: &Value,
    path: &str,
    depth: usize,
    count: &mut usize,
) -> Result<Filter, Error> {
    if depth > MAX_DEPTH {
        return Err(bad(
            path,
            "too_deep",
            format!("filters nest at most {MAX_DEPTH} levels"),
        ));
    }
    let obj = v
        .as_object()
        .ok_or_else(|| bad(path, "type", "a filter must be an object"))?;
    for key in ["and", "or"] {
        if let Some(list) = obj.get(key) {
            if obj.len() != 1 {
                return Err(bad(
                    path,
                    "shape",
                    format!("'{key}' must be the only key of its object"),
                ));
            }
            let items = list
                .as_array()
                .ok_or_else(|| bad(path, "type", format!("'{key}' takes an array of filters")))?;
            let parsed = items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_node(entity, item, &format!("{path}.{key}[{i}]"), depth + 1, count))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(if key == "and" {
                Filter::And(parsed)
            } else {
                Filter::Or(parsed)
            });
        }
    }
    if let Some(inner) = obj.get("not") {
        if obj.len() != 1 {
            return Err(bad(path, "shape", "'not' must be the only key of its object"));
        }
        return Ok(Filter::Not(Box::new(parse_node(
            entity,
            inner,
            &format!("{path}.not"),
            depth + 1,
            count,
        )?)));
    }
    *count += 1;
    if *count > MAX_CONDITIONS {
        return Err(bad(
            path,
            "too_many",
            format!("a filter has at most {MAX_CONDITIONS} conditions"),
        ));
    }
    if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "field" | "op" | "value")) {
        return Err(bad(
            path,
            "shape",
            format!(
                "unknown key '{}': a condition has field, op and value",
                crate::names::truncate(k, 40)
            ),
        ));
    }
    let name = obj
        .get("field")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(path, "shape", "a condition needs a 'field'"))?;
    let field = entity.column(name).ok_or_else(|| unknown_field(entity, name, name))?;
    let op_name = obj
        .get("op")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(name, "shape", "a condition needs an 'op'"))?;
    let op = Op::parse(op_name).ok_or_else(|| {
        bad(
            name,
            "unknown_op",
            format!(
                "'{}' is not an operator (eq ne gt gte lt lte in nin contains starts_with is_null between)",
                crate::names::truncate(op_name, 20)
            ),
        )
    })?;
    let value = obj.get("value").unwrap_or(&Value::Null);
    let cond = check_condition(field, op, value).map_err(|e| Error::bad_field(e.field, &e.code, e.message))?;
    Ok(cond)
}

fn check_condition(field: &CompiledField, op: Op, value: &Value) -> Result<Filter, FieldError> {
    let name = field.name.as_str();
    let not_for = |what: &str| {
        FieldError::new(
            name,
            FieldCode::OpNotAllowed,
            format!("'{what}' does not apply to a {} field", field.kind.as_str()),
        )
    };
    let operand = |v: &Value| -> Result<Val, FieldError> {
        if v.is_null() {
            return Err(FieldError::new(
                name,
                FieldCode::Type,
                "compare with null using is_null",
            ));
        }
        field.coerce_operand(v)
    };
    let kind = field.kind;
    let cond = |values: Vec<Val>| Filter::Cond {
        field: Box::new(field.clone()),
        op,
        values,
        is_null: false,
    };
    match op {
        Op::IsNull => {
            let b = value
                .as_bool()
                .ok_or_else(|| FieldError::new(name, FieldCode::Type, "is_null takes true or false"))?;
            Ok(Filter::Cond {
                field: Box::new(field.clone()),
                op,
                values: vec![],
                is_null: b,
            })
        }
        _ if kind == FieldType::Json => Err(not_for(op_str(op))),
        _ if kind == FieldType::Attachment => Err(FieldError::new(
            name,
            FieldCode::OpNotAllowed,
            format!(
                "'{}' does not apply to an attachment field; use is_null (true: no files, false: some)",
                op_str(op)
            ),
        )),
        Op::Eq | Op::Ne if kind == FieldType::MultiSelect => Err(not_for(op_str(op))),
        Op::Eq | Op::Ne => Ok(cond(vec![operand(value)?])),
        Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
            if !field.sortable() || kind == FieldType::Boolean {
                return Err(not_for(op_str(op)));
            }
            Ok(cond(vec![operand(value)?]))
        }
        Op::Between => {
            if !field.sortable() || kind == FieldType::Boolean {
                return Err(not_for("between"));
            }
            let pair = value
                .as_array()
                .filter(|a| a.len() == 2)
                .ok_or_else(|| FieldError::new(name, FieldCode::Type, "between takes [low, high]"))?;
            Ok(cond(vec![operand(&pair[0])?, operand(&pair[1])?]))
        }
        Op::In | Op::Nin => {
            if kind == FieldType::MultiSelect {
                return Err(not_for(op_str(op)));
            }
            let items = value
                .as_array()
                .ok_or_else(|| FieldError::new(name, FieldCode::Type, format!("{} takes an array", op_str(op))))?;
            if items.is_empty() || items.len() > 1000 {
                return Err(FieldError::new(
                    name,
                    FieldCode::Type,
                    format!("{} takes 1 to 1000 values", op_str(op)),
                ));
            }
            Ok(cond(items.iter().map(operand).collect::<Result<_, _>>()?))
        }
        Op::Contains | Op::StartsWith => {
            let textual = kind.is_textual() || (kind == FieldType::MultiSelect && op == Op::Contains);
            if !textual {
                return Err(not_for(op_str(op)));
            }
            let s = value
                .as_str()
                .ok_or_else(|| FieldError::new(name, FieldCode::Type, format!("{} takes a string", op_str(op))))?;
            if s.contains('\0') {
                return Err(FieldError::new(
                    name,
                    FieldCode::Type,
                    "must not contain NUL characters",
                ));
            }
            Ok(cond(vec![Val::Text(s.to_string())]))
        }
    }
}

fn op_str(op: Op) -> &'static str {
    match op {
        Op::Eq => "eq",
        Op::Ne => "ne",
        Op::Gt => "gt",
        Op::Gte => "gte",
        Op::Lt => "lt",
        Op::Lte => "lte",
        Op::In => "in",
        Op::Nin => "nin",
        Op::Contains => "contains",
        Op::StartsWith => "starts_with",
        Op::IsNull => "is_null",
        Op::Between => "between",
    }
}

/// One key of a sort order.
#[derive(Debug, Clone)]
pub struct SortKey {
    pub field: CompiledField,
    pub desc: bool,
}

/// Parses `sort=-amount,title`; the record id is always the last, implicit tie-breaker.
pub fn parse_sort(entity: &CompiledEntity, s: &str) -> Result<Vec<SortKey>, Error> {
    let mut keys: Vec<SortKey> = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (desc, name) = match part.strip_prefix('-') {
            Some(n) => (true, n),
            None => (false, part.strip_prefix('+').unwrap_or(part)),
        };
        let field = entity.column(name).ok_or_else(|| unknown_field(entity, "sort", name))?;
        if !field.sortable() {
            return Err(Error::bad_field(
                "sort",
                FieldCode::NotSortable,
                format!("a {} field cannot be sorted on", field.kind.as_str()),
            ));
        }
        if keys.iter().any(|k| k.field.name == field.name) {
            return Err(Error::bad_field(
                "sort",
                FieldCode::Duplicate,
                format!("'{name}' is sorted on twice"),
            ));
        }
        keys.push(SortKey {
            field: field.clone(),
            desc,
        });
    }
    if keys.len() > 5 {
        return Err(Error::bad_field("sort", FieldCode::TooMany, "sort on at most 5 fields"));
    }
    Ok(keys)
}

/// Parses `fields=title,amount` into column names (system fields are always included).
pub fn parse_fields(entity: &CompiledEntity, s: &str) -> Result<Vec<String>, Error> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|name| {
            entity
                .column(name)
                .map(|c| c.name.clone())
                .ok_or_else(|| unknown_field(entity, "fields", name))
        })
        .collect()
}

/// The position after the last row of a page: its sort values and id.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub values: Vec<Val>,
    pub id: String,
}

/// Encodes a cursor for a sort order (opaque to clients).
pub fn encode_cursor(sort: &[SortKey], values: &[Val], id: &str) -> String {
    let vals: Vec<Value> = sort
        .iter()
        .zip(values)
        .map(|(k, v)| cursor_value(&k.field, v))
        .collect();
    let sig: Vec<String> = sort
        .iter()
        .map(|k| format!("{}{}", if k.desc { "-" } else { "" }, k.field.name))
        .collect();
    URL_SAFE_NO_PAD.encode(json!({"s": sig.join(","), "v": vals, "id": id}).to_string())
}

fn cursor_value(f: &CompiledField, v: &Val) -> Value {
    match v {
        Val::Fixed(m) | Val::Currency(m, _) => json!(m),
        other => other.to_json(f),
    }
}

/// Decodes a cursor made by [`encode_cursor`] for the same sort order.
pub fn decode_cursor(sort: &[SortKey], s: &str) -> Result<Cursor, Error> {
    let bad = || {
        Error::bad_field(
            "cursor",
            FieldCode::InvalidCursor,
            "the cursor is not one this list gave out (or the sort changed)",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(s.as_bytes()).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let sig: Vec<String> = sort
        .iter()
        .map(|k| format!("{}{}", if k.desc { "-" } else { "" }, k.field.name))
        .collect();
    if v.get("s").and_then(Value::as_str) != Some(sig.join(",").as_str()) {
        return Err(bad());
    }
    let id = v
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| uuid::Uuid::parse_str(id).is_ok())
        .ok_or_else(bad)?;
    let raw = v
        .get("v")
        .and_then(Value::as_array)
        .filter(|a| a.len() == sort.len())
        .ok_or_else(bad)?;
    let mut values = Vec::with_capacity(raw.len());
    for (k, rv) in sort.iter().zip(raw) {
        let val = if rv.is_null() {
            Val::Null
        } else if k.field.kind.is_fixed_point() {
            Val::Fixed(rv.as_i64().ok_or_else(bad)?)
        } else {
            k.field.coerce_operand(rv).map_err(|_| bad())?
        };
        values.push(val);
    }
    Ok(Cursor {
        values,
        id: id.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::CompiledApp;
    use crate::validate::{assign_ids, parse_app};

    fn deal() -> std::sync::Arc<CompiledEntity> {
        let mut a = parse_app(&json!({"name": "s", "label": {"en": "S"}, "entities": [
            {"name": "deal", "label": {"en": "Deal"}, "fields": [
                {"name": "title", "label": {"en": "T"}, "type": "text"},
                {"name": "amount", "label": {"en": "A"}, "type": "decimal"},
                {"name": "tags", "label": {"en": "Tags"}, "type": "multi_select", "options": [{"value": "vip", "label": {"en": "VIP"}}]},
                {"name": "extra", "label": {"en": "X"}, "type": "json"}
            ]}]}))
        .unwrap();
        assign_ids(&mut a);
        CompiledApp::compile(a, 1).entity("deal").unwrap().clone()
    }

    #[test]
    fn nested_filters_parse_with_typed_operands() {
        let e = deal();
        let f = parse_filter(&e, &json!({"and": [
            {"field": "amount", "op": "between", "value": ["1.5", 10]},
            {"or": [{"field": "title", "op": "contains", "value": "客户"}, {"not": {"field": "tags", "op": "contains", "value": "vip"}}]},
            {"field": "created_at", "op": "gte", "value": "2026-01-01T00:00:00Z"}
        ]}))
        .unwrap();
        let Filter::And(parts) = f else { panic!("and expected") };
        let Filter::Cond { values, .. } = &parts[0] else {
            panic!("cond expected")
        };
        assert_eq!(values, &vec![Val::Fixed(150), Val::Fixed(1000)]);
    }

    #[test]
    fn a_filter_holds_at_most_ten_thousand_values() {
        let e = deal();
        let ins = |n: usize| {
            let conds: Vec<Value> = (0..n)
                .map(|k| json!({"field": "title", "op": "in", "value": (0..1000).map(|i| format!("{k}-{i}")).collect::<Vec<_>>()}))
                .collect();
            parse_filter(&e, &json!({"or": conds}))
        };
        assert_eq!(ins(10).unwrap().value_count(), 10_000);
        let err = ins(11).unwrap_err();
        assert!(
            err.errors.iter().any(|x| x.field == "filter" && x.code == "too_many"),
            "{err:?}"
        );
    }

    #[test]
    fn bad_filters_name_the_field_and_problem() {
        let e = deal();
        let cases = [
            (json!({"field": "nope", "op": "eq", "value": 1}), "unknown_field"),
            (json!({"field": "amount", "op": "like", "value": 1}), "unknown_op"),
            (json!({"field": "amount", "op": "eq", "value": "x"}), "type"),
            (
                json!({"field": "amount", "op": "contains", "value": "1"}),
                "op_not_allowed",
            ),
            (json!({"field": "extra", "op": "eq", "value": 1}), "op_not_allowed"),
            (json!({"field": "amount", "op": "in", "value": []}), "type"),
            (json!({"field": "title", "op": "contains", "value": "a\u{0}"}), "type"),
            (json!({"field": "title", "op": "eq", "value": "a\u{0}"}), "type"),
            (json!({"field": "amount", "op": "eq", "value": null}), "type"),
            (json!({"and": {"field": "amount"}}), "type"),
            (json!([1]), "type"),
        ];
        for (f, code) in cases {
            let err = parse_filter(&e, &f).unwrap_err();
            assert_eq!(err.errors[0].code, code, "{f}: {err:?}");
        }
    }

    #[test]
    fn cursors_round_trip_and_refuse_another_sort() {
        let e = deal();
        let sort = parse_sort(&e, "-amount,title").unwrap();
        let id = uuid::Uuid::now_v7().to_string();
        let c = encode_cursor(&sort, &[Val::Fixed(1234), Val::Text("x".into())], &id);
        let back = decode_cursor(&sort, &c).unwrap();
        assert_eq!(back.values, vec![Val::Fixed(1234), Val::Text("x".into())]);
        assert_eq!(back.id, id);
        let other = parse_sort(&e, "amount").unwrap();
        assert!(decode_cursor(&other, &c).is_err());
        assert!(decode_cursor(&sort, "garbage!").is_err());
    }

    #[test]
    fn sort_refuses_unknown_and_json_fields() {
        let e = deal();
        assert!(parse_sort(&e, "nope").is_err());
        assert!(parse_sort(&e, "extra").is_err());
        assert_eq!(parse_sort(&e, "-created_at").unwrap().len(), 1);
    }
}
