//! Typed field values into script values, and the context a script runs in.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use rhai::{Array, Dynamic, Identifier, ImmutableString, Map};
use rust_decimal::Decimal;
use serde_json::Value;
use trellis_core::{CompiledField, FieldType, Val};

/// Who is writing: `user` in scripts, a map `#{id, roles, team}` (`team` is `()` when unset).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserInfo {
    pub id: String,
    pub roles: Vec<String>,
    pub team: Option<String>,
}

impl UserInfo {
    pub fn to_map(&self) -> Map {
        let mut m = Map::new();
        m.insert("id".into(), self.id.clone().into());
        let roles: Array = self.roles.iter().map(|r| Dynamic::from(r.clone())).collect();
        m.insert("roles".into(), Dynamic::from_array(roles));
        m.insert("team".into(), self.team.clone().map_or(Dynamic::UNIT, Dynamic::from));
        m
    }
}

/// Everything a script sees: `record`, `old` (`()` on create), `user` and `now`.
#[derive(Debug, Clone)]
pub struct ScriptContext {
    /// The values being written (see [`record_map`]).
    pub record: Map,
    /// The stored values on update; `None` on create.
    pub old: Option<Map>,
    pub user: UserInfo,
    pub now: DateTime<Utc>,
    /// Read-only related records by relation field: `related.customer.level` (`()` when empty).
    pub related: Map,
}

impl ScriptContext {
    /// A context for a create (no `old`).
    pub fn new(record: Map, user: UserInfo, now: DateTime<Utc>) -> ScriptContext {
        ScriptContext {
            record,
            old: None,
            user,
            now,
            related: Map::new(),
        }
    }
}

/// Suffix of the extra key holding a currency field's ISO code: `record.amount` is the exact
/// amount, `record.amount_currency` its code.
pub const CURRENCY_SUFFIX: &str = "_currency";

/// Like [`record_map`], with only the fields in `reads` (and a currency field's
/// `<name>_currency` when it is read); all fields when `reads` is `None`.
pub fn record_map_for(reads: Option<&[String]>, fields: &[(&CompiledField, &Val)]) -> Map {
    let Some(names) = reads else {
        return record_map(fields);
    };
    let mut m = Map::new();
    for (field, val) in fields {
        if names.contains(&field.name) {
            m.insert(field.name.as_str().into(), to_dynamic(field, val));
        }
    }
    for (field, val) in fields {
        if let Val::Currency(_, code) = val
            && names
                .iter()
                .any(|n| n.strip_suffix(CURRENCY_SUFFIX).is_some_and(|base| base == field.name))
        {
            insert_currency(&mut m, field, code);
        }
    }
    m
}

/// The map a script sees as `record` (or `old`): each field under its API name, converted by
/// [`to_dynamic`]; a currency field also adds `<name>_currency` with its code (unless a field of
/// that name exists: the field wins).
pub fn record_map(fields: &[(&CompiledField, &Val)]) -> Map {
    let mut m = Map::new();
    for (field, val) in fields {
        m.insert(field.name.as_str().into(), to_dynamic(field, val));
    }
    for (field, val) in fields {
        if let Val::Currency(_, code) = val {
            insert_currency(&mut m, field, code);
        }
    }
    m
}

fn insert_currency(m: &mut Map, field: &CompiledField, code: &str) {
    // Built in place: names up to 23 bytes need no allocation.
    let mut key = Identifier::from(field.name.as_str());
    key.push_str(CURRENCY_SUFFIX);
    m.entry(key).or_insert_with(|| ImmutableString::from(code).into());
}

/// One typed value as a script value: text → string; integer → `i64`; decimal, percent and
/// currency → an exact decimal at the field's scale; boolean; date → `Date`; datetime →
/// `DateTime` (UTC); multi_select → array of strings; json → maps, arrays, strings, booleans,
/// integers and decimals; empty → `()`.
pub fn to_dynamic(field: &CompiledField, val: &Val) -> Dynamic {
    match val {
        Val::Null => Dynamic::UNIT,
        Val::Text(s) => ImmutableString::from(s.as_str()).into(),
        Val::Int(i) => (*i).into(),
        Val::Fixed(minor) | Val::Currency(minor, _) => Dynamic::from_decimal(Decimal::new(*minor, field.scale as u32)),
        Val::Bool(b) => (*b).into(),
        Val::Date(d) => Dynamic::from(*d),
        Val::DateTime(t) => Dynamic::from(*t),
        Val::Json(v) if field.kind == FieldType::MultiSelect => match v {
            Value::Array(items) => Dynamic::from_array(items.iter().map(json_to_dynamic).collect()),
            other => json_to_dynamic(other),
        },
        Val::Json(v) => json_to_dynamic(v),
    }
}

/// A JSON value as a script value. Numbers become integers when they are whole and fit in 64
/// bits, exact decimals otherwise (a number beyond the decimal range stays its text).
pub fn json_to_dynamic(v: &Value) -> Dynamic {
    match v {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => {
                let text = n.to_string();
                Decimal::from_str(&text)
                    .or_else(|_| Decimal::from_scientific(&text))
                    .map_or_else(|_| text.into(), Dynamic::from_decimal)
            }
        },
        Value::String(s) => ImmutableString::from(s.as_str()).into(),
        Value::Array(items) => Dynamic::from_array(items.iter().map(json_to_dynamic).collect()),
        // `from_map`/`from_array`: `into()` would rebuild the collection item by item.
        Value::Object(o) => Dynamic::from_map(o.iter().map(|(k, v)| (k.as_str().into(), json_to_dynamic(v))).collect()),
    }
}
