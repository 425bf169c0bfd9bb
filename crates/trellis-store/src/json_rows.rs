//! A multi-row `INSERT` on PostgreSQL with one parameter: the rows as a JSON array of arrays,
//! spread into typed columns by `jsonb_array_elements` (jsonb, not json: `->>` on a json value
//! scans its text from the start for every column, a row's parse once per column). Its text depends on the columns only, so
//! one prepared statement (and, after a few runs, one generic plan) serves every batch, where
//! a `VALUES` list of thousands of placeholders is planned again for each.

use sea_orm::sea_query::Value;
use sea_orm::{DbBackend, Statement};

/// The PostgreSQL type a bound value of this kind is read as; `None` for kinds records never bind.
fn pg_type(v: &Value) -> Option<&'static str> {
    Some(match v {
        Value::String(_) => "text",
        Value::BigInt(_) => "bigint",
        Value::Int(_) => "integer",
        Value::Bool(_) => "boolean",
        Value::ChronoDate(_) => "date",
        Value::ChronoDateTimeUtc(_) => "timestamptz",
        Value::Json(_) => "jsonb",
        _ => return None,
    })
}

/// Writes one value as a JSON array element. JSON documents go as their text, so a JSON
/// `null` stays a value and only a missing value is SQL NULL.
fn write_value(out: &mut Vec<u8>, v: &Value) -> Option<()> {
    use std::io::Write;
    match v {
        Value::String(Some(s)) => serde_json::to_writer(&mut *out, s.as_str()).ok()?,
        Value::BigInt(Some(i)) => write!(out, "{i}").ok()?,
        Value::Int(Some(i)) => write!(out, "{i}").ok()?,
        Value::Bool(Some(b)) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::ChronoDate(Some(d)) => write!(out, "\"{}\"", d.format("%Y-%m-%d")).ok()?,
        Value::ChronoDateTimeUtc(Some(t)) => write!(out, "\"{}\"", t.format("%Y-%m-%dT%H:%M:%S%.6fZ")).ok()?,
        Value::Json(Some(j)) => serde_json::to_writer(&mut *out, &j.to_string()).ok()?,
        Value::String(None)
        | Value::BigInt(None)
        | Value::Int(None)
        | Value::Bool(None)
        | Value::ChronoDate(None)
        | Value::ChronoDateTimeUtc(None)
        | Value::Json(None) => out.extend_from_slice(b"null"),
        _ => return None,
    }
    Some(())
}

/// `INSERT INTO table (columns) SELECT … FROM jsonb_array_elements($1)` for rows that all set
/// `columns` with values of the same kinds; `None` when a value is of a kind it does not carry.
pub(crate) fn insert<S: AsRef<str>>(table: &str, columns: &[S], rows: &[Vec<Value>]) -> Option<Statement> {
    let first = rows.first()?;
    let types: Vec<&str> = first.iter().map(pg_type).collect::<Option<_>>()?;
    if types.len() != columns.len() {
        return None;
    }
    let quote = |n: &str| format!("\"{}\"", n.replace('"', "\"\""));
    let names: Vec<String> = columns.iter().map(|c| quote(c.as_ref())).collect();
    let reads: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, t)| format!("(r->>{i})::{t}"))
        .collect();
    let sql = format!(
        "INSERT INTO {} ({}) SELECT {} FROM jsonb_array_elements($1::jsonb) AS r",
        quote(table),
        names.join(", "),
        reads.join(", ")
    );
    let mut json = Vec::with_capacity(rows.len() * columns.len() * 16);
    json.push(b'[');
    for (n, row) in rows.iter().enumerate() {
        if n > 0 {
            json.push(b',');
        }
        json.push(b'[');
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                json.push(b',');
            }
            // Every row's value of a column is of the column's kind (typed NULLs included).
            if pg_type(v) != Some(types[i]) {
                return None;
            }
            write_value(&mut json, v)?;
        }
        json.push(b']');
    }
    json.push(b']');
    let json = String::from_utf8(json).ok()?;
    Some(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        [Value::String(Some(json))],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Utc};

    #[test]
    fn rows_become_one_json_parameter_with_typed_reads() {
        let cols = vec![
            "id".to_string(),
            "n".into(),
            "d".into(),
            "t".into(),
            "j".into(),
            "b".into(),
        ];
        let at = Utc.with_ymd_and_hms(2026, 3, 5, 8, 9, 10).unwrap();
        let rows = vec![
            vec![
                Value::String(Some("a\"1".into())),
                Value::BigInt(Some(-7)),
                Value::ChronoDate(Some(NaiveDate::from_ymd_opt(2026, 3, 5).unwrap())),
                Value::ChronoDateTimeUtc(Some(at)),
                Value::Json(Some(Box::new(serde_json::json!({"k": null})))),
                Value::Bool(Some(true)),
            ],
            vec![
                Value::String(Some("二".into())),
                Value::BigInt(None),
                Value::ChronoDate(None),
                Value::ChronoDateTimeUtc(None),
                Value::Json(None),
                Value::Bool(Some(false)),
            ],
        ];
        let s = insert("t_x", &cols, &rows).unwrap();
        assert_eq!(
            s.sql,
            "INSERT INTO \"t_x\" (\"id\", \"n\", \"d\", \"t\", \"j\", \"b\") SELECT (r->>0)::text, (r->>1)::bigint, \
             (r->>2)::date, (r->>3)::timestamptz, (r->>4)::jsonb, (r->>5)::boolean FROM jsonb_array_elements($1::jsonb) AS r"
        );
        let Some(values) = s.values else { panic!("no values") };
        let Value::String(Some(json)) = &values.0[0] else {
            panic!("not text")
        };
        let parsed: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!([
                [
                    "a\"1",
                    -7,
                    "2026-03-05",
                    "2026-03-05T08:09:10.000000Z",
                    "{\"k\":null}",
                    true
                ],
                ["二", null, null, null, null, false]
            ])
        );
    }

    #[test]
    fn a_column_whose_kinds_differ_between_rows_is_not_carried() {
        let cols = vec!["n".to_string()];
        let rows = vec![vec![Value::BigInt(Some(1))], vec![Value::String(Some("1".into()))]];
        assert!(insert("t", &cols, &rows).is_none());
        assert!(insert("t", &cols, &[vec![Value::Double(Some(1.0))]]).is_none());
    }
}
