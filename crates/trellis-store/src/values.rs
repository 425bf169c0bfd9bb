//! One place for the field type ↔ column mapping: column types for DDL, `Val` → bound SQL value,
//! and typed decoding of a row (never the lossy generic JSON decoding).

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{ColumnDef, Value};
use sea_orm::{DbBackend, QueryResult};
use trellis_core::def::StorageClass;
use trellis_core::{CompiledField, Val};

use crate::error::StoreError;

/// The column definition of a field's (main) column; every field column is nullable.
pub fn column_def(name: &str, class: StorageClass) -> ColumnDef {
    let mut c = ColumnDef::new(name.to_string());
    match class {
        StorageClass::Text => c.text(),
        StorageClass::Integer | StorageClass::FixedPoint => c.big_integer(),
        StorageClass::Boolean => c.boolean(),
        StorageClass::Date => c.date(),
        StorageClass::Datetime => c.timestamp_with_time_zone(),
        StorageClass::Json => c.json_binary(),
    };
    c.null();
    c
}

/// A typed SQL NULL for a storage class (PostgreSQL refuses an untyped one in some places).
pub fn null_of(class: StorageClass) -> Value {
    match class {
        StorageClass::Text => Value::String(None),
        StorageClass::Integer | StorageClass::FixedPoint => Value::BigInt(None),
        StorageClass::Boolean => Value::Bool(None),
        StorageClass::Date => Value::ChronoDate(None),
        StorageClass::Datetime => Value::ChronoDateTimeUtc(None),
        StorageClass::Json => Value::Json(None),
    }
}

/// The SQL value of a `Val` in a column of the field's class. Currency gives its amount.
pub fn to_sql(v: &Val, class: StorageClass) -> Value {
    match v {
        Val::Null => null_of(class),
        Val::Text(s) => Value::String(Some(s.clone())),
        Val::Int(i) | Val::Fixed(i) | Val::Currency(i, _) => Value::BigInt(Some(*i)),
        Val::Bool(b) => Value::Bool(Some(*b)),
        Val::Date(d) => Value::ChronoDate(Some(*d)),
        Val::DateTime(t) => Value::ChronoDateTimeUtc(Some(*t)),
        Val::Json(j) => Value::Json(Some(Box::new(j.clone()))),
    }
}

/// The (column, value) pairs a field's value is written as.
pub fn columns_of(f: &CompiledField, v: &Val) -> Vec<(String, Value)> {
    let class = f.kind.storage_class();
    let mut out = vec![(f.column.clone(), to_sql(v, class))];
    if let Some(cur) = &f.currency_column {
        let code = match v {
            Val::Currency(_, c) => Some(c.clone()),
            _ => None,
        };
        out.push((cur.clone(), Value::String(code)));
    }
    out
}

/// Reads a field's value from a row by position: its column at `at` (and a currency field's
/// code at `at + 1`). By position, not by name: no lookups or allocations per cell.
pub fn decode(row: &QueryResult, f: &CompiledField, backend: DbBackend, at: usize) -> Result<Val, StoreError> {
    let v = match f.kind.storage_class() {
        StorageClass::Text => row.try_get_by_index::<Option<String>>(at)?.map(Val::Text),
        StorageClass::Integer => row.try_get_by_index::<Option<i64>>(at)?.map(Val::Int),
        StorageClass::FixedPoint => {
            let amount = row.try_get_by_index::<Option<i64>>(at)?;
            match (&f.currency_column, amount) {
                (Some(_), Some(a)) => {
                    let code = row.try_get_by_index::<Option<String>>(at + 1)?.unwrap_or_default();
                    Some(Val::Currency(a, code))
                }
                (None, Some(a)) => Some(Val::Fixed(a)),
                (_, None) => None,
            }
        }
        StorageClass::Boolean => row.try_get_by_index::<Option<bool>>(at)?.map(Val::Bool),
        StorageClass::Date => row.try_get_by_index::<Option<NaiveDate>>(at)?.map(Val::Date),
        StorageClass::Datetime => row.try_get_by_index::<Option<DateTime<Utc>>>(at)?.map(Val::DateTime),
        StorageClass::Json => match backend {
            DbBackend::Sqlite => row
                .try_get_by_index::<Option<String>>(at)?
                .map(|s| serde_json::from_str(&s).map(Val::Json))
                .transpose()
                .map_err(|e| StoreError::Config(format!("stored JSON is malformed: {e}")))?,
            _ => row.try_get_by_index::<Option<serde_json::Value>>(at)?.map(Val::Json),
        },
    };
    Ok(v.unwrap_or(Val::Null))
}

/// How many result columns a field's value takes.
pub fn width(f: &CompiledField) -> usize {
    if f.currency_column.is_some() { 2 } else { 1 }
}
