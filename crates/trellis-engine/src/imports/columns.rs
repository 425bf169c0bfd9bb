//! The columns of an import's file matched to fields: by the caller's map, else by the field's
//! name or its label in either language (a trailing `*` and spaces ignored), among the fields
//! the caller sees. A column of a field set by Trellis (numbers, formulas, timestamps) or holding
//! files is kept aside, named with why; a hidden field is as unknown as a field that does not
//! exist.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use trellis_core::coerce::ColumnReading;
use trellis_core::def::FieldType;
use trellis_core::error::FieldCode;
use trellis_core::permissions::Right;
use trellis_core::{CompiledEntity, CompiledField, Error, FieldError};

use super::{ImportAction, ImportRequest};
use crate::Engine;
use crate::compiled::scripts::LoadedApp;
use crate::context::TenantCtx;
use crate::records::{entity_of, system_label};

/// A column of the file and what it fills.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportColumn {
    /// Its position, from 0.
    pub index: usize,
    pub header: String,
    /// The field it fills; none when it is ignored.
    #[schema(required = true)]
    pub field: Option<String>,
    /// Why it is ignored: `unknown` (no field by that name or label), `skipped` (mapped to
    /// nothing), `read_only` (set by Trellis), `not_importable` (files).
    #[schema(required = true)]
    pub ignored: Option<String>,
}

fn norm(s: &str) -> String {
    s.trim()
        .trim_end_matches(['*', '＊'])
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Why a field cannot be filled by a column (unless it is the key).
fn not_fillable(c: &CompiledField) -> Option<&'static str> {
    if c.system {
        return (c.name != "owner").then_some("read_only");
    }
    if c.computed || c.kind == FieldType::AutoNumber {
        return Some("read_only");
    }
    (c.kind == FieldType::Attachment).then_some("not_importable")
}

/// Names and labels of the caller's fields, normalised, to the field's name.
fn names_of(view: &CompiledEntity) -> HashMap<String, String> {
    let mut by = HashMap::new();
    for c in &view.columns {
        let mut keys = vec![c.name.clone()];
        if c.system {
            for lang in [crate::records::Lang::Zh, crate::records::Lang::En] {
                keys.extend(system_label(&c.name, lang).map(str::to_string));
            }
        } else if let Some(f) = view.def.fields.iter().find(|f| f.name.as_str() == c.name) {
            keys.extend(f.label.zh.clone());
            keys.extend(f.label.en.clone());
        }
        for k in keys {
            // A field's own name wins over another's label.
            by.entry(norm(&k)).or_insert_with(|| c.name.clone());
        }
    }
    by
}

/// Matches the header to fields; 422 when the map or key does not fit the file or the fields.
pub(crate) fn map_columns(
    view: &CompiledEntity,
    entity: &CompiledEntity,
    headers: &[String],
    r: &ImportRequest,
) -> Result<Vec<ImportColumn>, Error> {
    let explicit = r.columns.clone().unwrap_or_default();
    let mut errors = Vec::new();
    for h in explicit.keys() {
        if !headers.iter().any(|x| x.trim() == h.trim()) {
            errors.push(FieldError::new(
                format!("columns.{}", trellis_core::names::truncate(h, 60)),
                FieldCode::UnknownKey,
                "the file has no column with this header",
            ));
        }
    }
    let key = r.key.as_deref();
    match (r.action, key) {
        (ImportAction::Insert, Some(_)) => errors.push(FieldError::new(
            "key",
            FieldCode::NotApplicable,
            "a key is for update and upsert",
        )),
        (ImportAction::Update | ImportAction::Upsert, None) => errors.push(FieldError::new(
            "key",
            FieldCode::Required,
            "update and upsert need the key field that finds a row's record",
        )),
        (_, Some(k)) => match view.column(k) {
            Some(c) if c.name == "id" || c.unique || c.kind == FieldType::AutoNumber => {}
            Some(_) => errors.push(FieldError::new(
                "key",
                FieldCode::Unique,
                "must be id or a unique field",
            )),
            None => errors.push(FieldError::new(
                "key",
                FieldCode::UnknownField,
                "is not a field of the entity",
            )),
        },
        (_, None) => {}
    }
    let by_name = names_of(view);
    let mut columns = Vec::with_capacity(headers.len());
    let mut used: HashSet<String> = HashSet::new();
    for (index, header) in headers.iter().enumerate() {
        let at = || format!("columns.{}", trellis_core::names::truncate(header.trim(), 60));
        let (field, explicit_field) = match explicit.get(header.trim()) {
            Some(None) => {
                columns.push(ImportColumn {
                    index,
                    header: header.clone(),
                    field: None,
                    ignored: Some("skipped".into()),
                });
                continue;
            }
            Some(Some(f)) => match view.column(f) {
                Some(c) => (Some(c), true),
                None => {
                    errors.push(FieldError::new(
                        at(),
                        FieldCode::UnknownField,
                        "is not a field of the entity",
                    ));
                    continue;
                }
            },
            None => (by_name.get(&norm(header)).and_then(|n| view.column(n)), false),
        };
        let Some(c) = field else {
            columns.push(ImportColumn {
                index,
                header: header.clone(),
                field: None,
                ignored: Some("unknown".into()),
            });
            continue;
        };
        let is_key = key == Some(c.name.as_str());
        if let Some(why) = not_fillable(c).filter(|_| !is_key) {
            if explicit_field {
                errors.push(FieldError::new(
                    at(),
                    FieldCode::ReadOnly,
                    "this field cannot be imported",
                ));
            }
            columns.push(ImportColumn {
                index,
                header: header.clone(),
                field: None,
                ignored: Some(why.into()),
            });
            continue;
        }
        if !used.insert(c.name.clone()) {
            errors.push(FieldError::new(
                at(),
                FieldCode::Duplicate,
                format!("another column fills '{}' already", c.name),
            ));
            continue;
        }
        columns.push(ImportColumn {
            index,
            header: header.clone(),
            field: Some(c.name.clone()),
            ignored: None,
        });
    }
    if let Some(k) = key
        && view.column(k).is_some()
        && !used.contains(k)
    {
        errors.push(FieldError::new(
            "key",
            FieldCode::Required,
            "no column of the file holds the key field",
        ));
    }
    if errors.is_empty() && used.iter().all(|u| Some(u.as_str()) == key) {
        errors.push(FieldError::new(
            "columns",
            FieldCode::NoColumns,
            "no column of the file fills a field (match headers to field names or labels, or map them)",
        ));
    }
    // The full entity knows fields the caller does not: never named in an error.
    let _ = entity;
    if errors.is_empty() {
        Ok(columns)
    } else {
        Err(Error::validation(errors))
    }
}

/// The field of a relation's target that its cells name: asked for, else the title field, else
/// the id.
pub(crate) fn match_field(target: &CompiledEntity, asked: Option<&String>) -> String {
    asked
        .cloned()
        .or_else(|| target.def.title_field.as_ref().map(|t| t.to_string()))
        .unwrap_or_else(|| "id".into())
}

/// Checks `relations`: each names a relation column of the import and a field of its target
/// that the caller reads and that is unique or the title field.
pub(crate) async fn check_relations(
    engine: &Engine,
    ctx: &TenantCtx,
    app: &LoadedApp,
    view: &CompiledEntity,
    columns: &[ImportColumn],
    r: &ImportRequest,
) -> Result<(), Error> {
    let asked = r.relations.clone().unwrap_or_default();
    let mut errors = Vec::new();
    for k in asked.keys() {
        let mapped = columns.iter().any(|c| c.field.as_deref() == Some(k.as_str()));
        if !mapped || view.column(k).is_none_or(|c| c.kind != FieldType::Relation) {
            errors.push(FieldError::new(
                format!("relations.{}", trellis_core::names::truncate(k, 60)),
                FieldCode::NotRelation,
                "is not a relation field filled by a column",
            ));
        }
    }
    for c in columns
        .iter()
        .filter_map(|c| c.field.as_deref())
        .filter_map(|f| view.column(f))
    {
        let (FieldType::Relation, Some(target), false) = (c.kind, &c.target, c.system) else {
            continue;
        };
        let target = entity_of(app, target)?;
        let access = engine.access(&engine.db.read, ctx, app, target).await?;
        let m = match_field(&access.view, asked.get(&c.name));
        let at = format!("relations.{}", c.name);
        let title = access.view.def.title_field.as_ref().map(|t| t.as_str()) == Some(m.as_str());
        match access.view.column(&m) {
            _ if m == "id" => {}
            None => errors.push(FieldError::new(
                at,
                FieldCode::UnknownField,
                format!("'{m}' is not a field of the related entity"),
            )),
            Some(t) if !(t.unique || title) => errors.push(FieldError::new(
                at,
                FieldCode::Unique,
                "must be a unique field or the title field",
            )),
            Some(_) if access.grant.reach(Right::Read).is_none() => errors.push(FieldError::new(
                at,
                FieldCode::OutOfScope,
                "you cannot read the related records: name them by id",
            )),
            Some(_) => {}
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::validation(errors))
    }
}

/// How the cells of a mapped column are read.
pub(crate) struct Reading {
    pub index: usize,
    pub header: String,
    pub field: CompiledField,
    pub reading: ColumnReading,
    /// Relations: the target entity and the field matched.
    pub lookup: Option<(String, String)>,
}

/// The readings of an import's mapped columns.
pub(crate) fn readings(
    view: &CompiledEntity,
    columns: &[ImportColumn],
    relations: &BTreeMap<String, String>,
    app: &LoadedApp,
    date_orders: &BTreeMap<String, trellis_core::coerce::DateOrder>,
) -> Vec<Reading> {
    let mut out = Vec::new();
    for col in columns {
        let Some(f) = col.field.as_deref().and_then(|n| view.column(n)) else {
            continue;
        };
        let mut options = HashMap::new();
        if let Some(def) = view.def.fields.iter().find(|d| d.name.as_str() == f.name) {
            for o in def.options.iter().flatten() {
                for k in [Some(&o.value), o.label.zh.as_ref(), o.label.en.as_ref()]
                    .into_iter()
                    .flatten()
                {
                    options
                        .entry(k.trim().to_lowercase())
                        .or_insert_with(|| o.value.clone());
                }
            }
        }
        let lookup = match (&f.kind, &f.target) {
            (FieldType::Relation, Some(t)) if !f.system => {
                let m = entity_of(app, t)
                    .map(|target| match_field(target, relations.get(&f.name)))
                    .unwrap_or_else(|_| "id".into());
                Some((t.clone(), m))
            }
            _ => None,
        };
        out.push(Reading {
            index: col.index,
            header: col.header.clone(),
            field: f.clone(),
            reading: ColumnReading {
                date_order: date_orders.get(&f.name).copied(),
                options,
                percent_divides: f.kind == FieldType::Decimal,
            },
            lookup,
        });
    }
    out
}
