//! A batch of an import's rows made ready to write: cells read as their fields' values,
//! relations and users looked up by text (one query per relation column per batch), keys
//! matched to the records they find, through the caller's read scope.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};
use trellis_core::coerce::{self, Cell};
use trellis_core::def::FieldType;
use trellis_core::error::FieldCode;
use trellis_core::{Error, FieldError};
use trellis_store::system;

use super::ImportAction;
use super::columns::Reading;
use super::run::{Coerced, Held, Ready, problem};
use crate::Engine;
use crate::context::TenantCtx;
use crate::records::{ListParams, Page, RowWrite, RowsWriter, record_json};

impl Engine {
    /// The tenant's enabled users by e-mail (lowercased) and by name; a name two users share
    /// matches neither.
    pub(super) async fn import_users(&self, ctx: &TenantCtx) -> Result<HashMap<String, Option<String>>, Error> {
        let mut by = HashMap::new();
        for u in system::users_of(&self.db.read, ctx.tenant_id()).await? {
            if u.disabled_at.is_some() {
                continue;
            }
            by.insert(u.email.to_lowercase(), Some(u.id.clone()));
            by.entry(u.name.trim().to_lowercase())
                .and_modify(|v: &mut Option<String>| {
                    if v.as_deref() != Some(u.id.as_str()) {
                        *v = None
                    }
                })
                .or_insert(Some(u.id.clone()));
        }
        Ok(by)
    }

    /// Records of an entity whose `field` has one of `values`, through the caller's read scope:
    /// each value's record ids.
    async fn import_find(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        field: &str,
        values: Vec<Value>,
    ) -> Result<HashMap<String, Vec<String>>, Error> {
        let mut found: HashMap<String, Vec<String>> = HashMap::new();
        for part in values.chunks(crate::records::MAX_LIMIT as usize / 2) {
            let p = ListParams {
                filter: Some(json!({"field": field, "op": "in", "value": part}).to_string()),
                fields: Some(if field == "id" {
                    "id".into()
                } else {
                    format!("id,{field}")
                }),
                limit: Some(crate::records::MAX_LIMIT),
                ..Default::default()
            };
            let out = self.list_records(ctx, app, entity, &p).await?;
            let Page::Rows(view, rows) = &out.data else { continue };
            for row in rows {
                let j = record_json(view, row);
                let key = key_text(&j[field]);
                if let Some(id) = j["id"].as_str() {
                    found.entry(key).or_default().push(id.to_string());
                }
            }
        }
        Ok(found)
    }

    /// A coerced batch read as writes: relations, users and keys looked up (one query per
    /// relation column and one for the keys).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn import_ready(
        &self,
        ctx: &TenantCtx,
        app: &str,
        w: &RowsWriter,
        reads: &[Reading],
        users: &HashMap<String, Option<String>>,
        h: &Held,
        batch: CoercedBatch,
    ) -> Result<Vec<Ready>, Error> {
        let import = h.row.id.as_str();
        let key = h.options.key.clone();
        let CoercedBatch { mut rows, wanted } = batch;
        // Look the texts up: relations by their match field, users by e-mail or name.
        let mut found: Vec<HashMap<String, Vec<String>>> = vec![HashMap::new(); reads.len()];
        for (i, r) in reads.iter().enumerate() {
            if wanted[i].is_empty() {
                continue;
            }
            if let Some((target, m)) = &r.lookup {
                let ids: Vec<String> = wanted[i]
                    .iter()
                    .filter(|t| uuid::Uuid::parse_str(t).is_ok())
                    .cloned()
                    .collect();
                if m != "id" {
                    let values = wanted[i].iter().map(|t| Value::String(t.clone())).collect();
                    found[i] = self.import_find(ctx, app, target, m, values).await?;
                }
                for id in ids {
                    found[i].entry(id.clone()).or_insert_with(|| vec![id.clone()]);
                }
            } else if r.field.kind == FieldType::User {
                for t in &wanted[i] {
                    let id = users
                        .get(&t.to_lowercase())
                        .cloned()
                        .flatten()
                        .or_else(|| uuid::Uuid::parse_str(t).ok().map(|_| t.clone()));
                    if let Some(id) = id {
                        found[i].insert(t.clone(), vec![id]);
                    }
                }
            }
        }
        for (line, cells, body, errors) in rows.iter_mut() {
            for (i, r) in reads.iter().enumerate() {
                if wanted[i].is_empty() {
                    continue;
                }
                let Some(Value::String(t)) = body.get(&r.field.name).cloned() else {
                    continue;
                };
                if !wanted[i].contains(&t) {
                    continue;
                }
                match found[i].get(&t).map(Vec::as_slice) {
                    Some([id]) => {
                        body.insert(r.field.name.clone(), Value::String(id.clone()));
                    }
                    Some([_, _, ..]) => errors.push(problem(
                        import,
                        *line,
                        &r.header,
                        cells.get(r.index).map_or("", String::as_str),
                        &FieldError::new(
                            r.field.name.clone(),
                            FieldCode::AmbiguousMatch,
                            "names several records: match a unique field",
                        ),
                    )),
                    _ => errors.push(problem(
                        import,
                        *line,
                        &r.header,
                        cells.get(r.index).map_or("", String::as_str),
                        &FieldError::new(
                            r.field.name.clone(),
                            FieldCode::NoMatch,
                            "names no record or user you can see",
                        ),
                    )),
                }
            }
        }
        // The records the keys find.
        let mut existing: HashMap<String, Vec<String>> = HashMap::new();
        if let Some(k) = &key {
            let values: Vec<Value> = rows
                .iter()
                .filter_map(|(_, _, b, e)| e.is_empty().then(|| b.get(k).cloned()).flatten())
                .collect();
            if !values.is_empty() {
                existing = self.import_find(ctx, app, w.entity.name(), k, values).await?;
            }
        }
        let mut out = Vec::with_capacity(rows.len());
        for (line, cells, mut body, errors) in rows {
            if !errors.is_empty() {
                out.push((line, cells, Err(errors)));
                continue;
            }
            if body.is_empty() {
                out.push((line, cells, Ok(None)));
                continue;
            }
            let Some(k) = &key else {
                out.push((line, cells, Ok(Some(RowWrite::Insert(Value::Object(body))))));
                continue;
            };
            let kv = body.get(k).cloned().unwrap_or(Value::Null);
            let settable = w
                .entity
                .column(k)
                .is_some_and(|c| !c.system && !c.computed && c.kind != FieldType::AutoNumber);
            let matches = existing.get(&key_text(&kv)).cloned().unwrap_or_default();
            let header = reads
                .iter()
                .find(|r| &r.field.name == k)
                .map(|r| (r.header.clone(), r.index));
            let (col, text) = header
                .map(|(hd, i)| (hd, cells.get(i).cloned().unwrap_or_default()))
                .unwrap_or_default();
            let r = match (matches.as_slice(), h.options.action) {
                ([id], _) => {
                    body.remove(k);
                    Ok(Some(RowWrite::Update {
                        id: id.clone(),
                        body: Value::Object(body),
                    }))
                }
                ([_, _, ..], _) => Err(vec![problem(
                    import,
                    line,
                    &col,
                    &text,
                    &FieldError::new(k.clone(), FieldCode::AmbiguousMatch, "the key finds several records"),
                )]),
                ([], ImportAction::Upsert) if !kv.is_null() || settable => {
                    if !settable {
                        body.remove(k);
                    }
                    Ok(Some(RowWrite::Insert(Value::Object(body))))
                }
                ([], _) => Err(vec![problem(
                    import,
                    line,
                    &col,
                    &text,
                    &FieldError::new(k.clone(), FieldCode::NoMatch, "no record you may update has this key"),
                )]),
            };
            out.push((line, cells, r));
        }
        Ok(out)
    }
}

/// A batch's rows with every cell read as its field's value, and per reading the texts that
/// name a record or a user (looked up later, once per batch).
pub(super) struct CoercedBatch {
    pub rows: Vec<Coerced>,
    pub wanted: Vec<HashSet<String>>,
}

/// Reads a batch's cells as their fields' values: pure work, done on the thread that reads the
/// file while the previous batch is written.
pub(super) fn coerce_batch(
    import: &str,
    reads: &[Reading],
    zone: trellis_core::zone::Zone,
    batch: Vec<(u64, Vec<String>)>,
) -> CoercedBatch {
    let mut rows: Vec<Coerced> = Vec::with_capacity(batch.len());
    let mut wanted: Vec<HashSet<String>> = vec![HashSet::new(); reads.len()];
    for (line, cells) in batch {
        if cells.iter().all(|c| c.trim().is_empty()) {
            rows.push((line, cells, Map::new(), Vec::new()));
            continue;
        }
        let mut body = Map::new();
        let mut errors = Vec::new();
        for (i, r) in reads.iter().enumerate() {
            let text = cells.get(r.index).map(String::as_str).unwrap_or("");
            match coerce::read_cell(r.field.kind, &r.reading, zone, text) {
                Ok(Cell::Value(Value::Null)) => {}
                Ok(Cell::Value(v)) => {
                    body.insert(r.field.name.clone(), v);
                }
                Ok(Cell::Lookup(t)) => {
                    if !wanted[i].contains(&t) {
                        wanted[i].insert(t.clone());
                    }
                    body.insert(r.field.name.clone(), Value::String(t));
                }
                Err(e) => errors.push(problem(
                    import,
                    line,
                    &r.header,
                    text,
                    &FieldError::new(r.field.name.clone(), e.code, e.message),
                )),
            }
        }
        rows.push((line, cells, body, errors));
    }
    CoercedBatch { rows, wanted }
}

/// A key's value as the text both sides of a lookup compare.
fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The header and cell text of the column a problem's field came from (the field's name when the file has no column for it).
pub(super) fn column_of(reads: &[Reading], cells: &[String], field: &str) -> (String, String) {
    let name = field.split(['.', '[']).next().unwrap_or(field);
    reads
        .iter()
        .find(|r| r.field.name == name)
        .map(|r| (r.header.clone(), cells.get(r.index).cloned().unwrap_or_default()))
        // A field the file has no column for (a condition made it required): named itself.
        .unwrap_or_else(|| (name.to_string(), String::new()))
}
