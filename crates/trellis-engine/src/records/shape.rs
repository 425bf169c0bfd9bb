//! Answer shaping: a record and a page of records in their answer form, serialised straight
//! from the rows.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};
use trellis_core::{CompiledEntity, CompiledField, Val};
use trellis_store::records::{NewMeta, Row};

/// A page of records. Serialised straight from the rows (no intermediate JSON tree) unless
/// relations were expanded.
#[derive(Debug, Serialize)]
pub struct ListOut {
    pub data: Page,
    pub next_cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    /// What the caller may do with the page's records (asked with `rights=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rights: Option<super::PageRights>,
}

/// The records of a page.
#[derive(Debug)]
pub enum Page {
    Rows(Arc<CompiledEntity>, Vec<Row>),
    Expanded(Vec<Value>),
}

impl Serialize for Page {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        match self {
            Page::Expanded(v) => v.serialize(s),
            Page::Rows(e, rows) => {
                let mut seq = s.serialize_seq(Some(rows.len()))?;
                for r in rows {
                    seq.serialize_element(&RecordView { entity: e, row: r })?;
                }
                seq.end()
            }
        }
    }
}

/// A row serialised as its answer form, the same as [`record_json`] without building it.
pub(super) struct RecordView<'a> {
    entity: &'a CompiledEntity,
    row: &'a Row,
}

impl Serialize for RecordView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        for (c, v) in self.entity.columns.iter().zip(&self.row.values) {
            if let Some(v) = v {
                m.serialize_entry(&c.name, &ValView { field: c, val: v })?;
            }
        }
        m.end()
    }
}

pub(super) struct ValView<'a> {
    field: &'a CompiledField,
    val: &'a Val,
}

impl Serialize for ValView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.val {
            Val::Null => s.serialize_none(),
            Val::Text(t) => s.serialize_str(t),
            Val::Int(i) => s.serialize_i64(*i),
            Val::Bool(b) => s.serialize_bool(*b),
            Val::DateTime(t) => match trellis_core::value::datetime_text(t) {
                Some(b) => s.serialize_str(std::str::from_utf8(&b).unwrap_or_default()),
                None => s.collect_str(&t.format("%Y-%m-%dT%H:%M:%S%.6fZ")),
            },
            Val::Date(d) => match trellis_core::value::date_text(d) {
                Some(b) => s.serialize_str(std::str::from_utf8(&b).unwrap_or_default()),
                None => s.collect_str(&d.format("%Y-%m-%d")),
            },
            // Numbers and JSON as `Val::to_json` writes them, so both paths answer alike.
            other => other.to_json(self.field).serialize(s),
        }
    }
}

/// The answer form of a row: system fields, then the entity's fields in definition order.
pub fn record_json(entity: &CompiledEntity, row: &Row) -> Value {
    let mut m = Map::with_capacity(entity.columns.len());
    for (c, v) in entity.columns.iter().zip(&row.values) {
        if let Some(v) = v {
            m.insert(c.name.clone(), v.to_json(c));
        }
    }
    Value::Object(m)
}

pub(super) fn system_val(meta: &NewMeta, name: &str) -> Val {
    let opt = |s: &Option<String>| s.clone().map(Val::Text).unwrap_or(Val::Null);
    match name {
        "id" => Val::Text(meta.id.clone()),
        "created_at" | "updated_at" => Val::DateTime(meta.at),
        "created_by" => opt(&meta.created_by),
        "owner" => opt(&meta.owner),
        "version" => Val::Int(1),
        _ => Val::Null,
    }
}
