//! Semantic checks of definitions, after the JSON Schema check: what a schema cannot say
//! (unique names, relation targets, bounds that fit the type, defaults of the right type).

use crate::error::FieldCode;
use std::collections::HashSet;

use serde_json::Value;

use crate::autonumber::AutoFormat;
use crate::compile::CompiledField;
use crate::def::{AppDef, EntityDef, FieldDef, FieldType, RollupFn};
use crate::error::{Error, FieldError};
use crate::names::{SYSTEM_FIELDS, StorageId};
use crate::schema::{DefKind, check};

/// Parses an app definition from JSON: schema check, then serde.
pub fn parse_app(v: &Value) -> Result<AppDef, Error> {
    parse(DefKind::App, v)
}

/// Parses an entity definition from JSON: schema check, then serde.
pub fn parse_entity(v: &Value) -> Result<EntityDef, Error> {
    parse(DefKind::Entity, v)
}

/// Parses a pipeline definition from JSON: schema check, then serde.
pub fn parse_pipeline(v: &Value) -> Result<crate::pipeline::PipelineDef, Error> {
    parse(DefKind::Pipeline, v)
}

/// Parses an automation rule from JSON: schema check, then serde.
pub fn parse_rule(v: &Value) -> Result<crate::automation::RuleDef, Error> {
    parse(DefKind::Rule, v)
}

/// Parses a role of an app from JSON: schema check, then serde.
pub fn parse_role(v: &Value) -> Result<crate::def::RoleDef, Error> {
    parse(DefKind::Role, v)
}

/// Parses a validation rule of an entity from JSON: schema check, then serde.
pub fn parse_validation(v: &Value) -> Result<crate::def::ValidationRule, Error> {
    parse(DefKind::Validation, v)
}

/// Parses a view from JSON: schema check, then serde.
pub fn parse_view(v: &Value) -> Result<crate::view::ViewDef, Error> {
    parse(DefKind::View, v)
}

/// Parses a field definition from JSON: schema check, then serde.
pub fn parse_field(v: &Value) -> Result<FieldDef, Error> {
    parse(DefKind::Field, v)
}

/// A part of an app definition with a JSON Schema of its own: parsed by [`parse_def`], every
/// problem the schema finds answered at once.
pub trait Definition: serde::de::DeserializeOwned {
    /// Its schema.
    const KIND: DefKind;
}

macro_rules! definitions {
    ($($t:ty => $k:ident),+ $(,)?) => {
        $(impl Definition for $t {
            const KIND: DefKind = DefKind::$k;
        })+
    };
}

definitions! {
    AppDef => App,
    EntityDef => Entity,
    FieldDef => Field,
    crate::pipeline::PipelineDef => Pipeline,
    crate::automation::RuleDef => Rule,
    crate::def::RoleDef => Role,
    crate::def::ValidationRule => Validation,
    crate::view::ViewDef => View,
}

/// Parses a definition part from JSON: its schema check (422 listing every problem), then serde.
pub fn parse_def<T: Definition>(v: &Value) -> Result<T, Error> {
    parse(T::KIND, v)
}

fn parse<T: serde::de::DeserializeOwned>(kind: DefKind, v: &Value) -> Result<T, Error> {
    check(kind, v).map_err(Error::validation)?;
    serde_json::from_value(v.clone())
        .map_err(|e| Error::validation(vec![FieldError::new("$", FieldCode::Invalid, e.to_string())]))
}

/// Gives every entity and field without a storage id a fresh one.
pub fn assign_ids(app: &mut AppDef) {
    for e in &mut app.entities {
        if e.id.is_none() {
            e.id = Some(StorageId::generate());
        }
        for f in &mut e.fields {
            if f.id.is_none() {
                f.id = Some(StorageId::generate());
            }
        }
    }
}

/// Gives a fresh storage id to every entity and field of `new` that `old` does not know by its
/// id, and to every later one of two that share an id (edits add elements at the end). Only
/// elements that already have storage keep a client's id: one sent with a new element (a
/// definition cloned from another app's GET answer, an entity copied within an app) may name a
/// table or column that belongs to something else, and creating it would fail or collide.
pub fn reissue_new_ids(old: Option<&AppDef>, new: &mut AppDef) {
    let mut entity_ids = HashSet::new();
    for e in &mut new.entities {
        let before = old
            .and_then(|o| o.entities.iter().find(|x| x.id.is_some() && x.id == e.id))
            .filter(|_| entity_ids.insert(e.id.clone()));
        if before.is_none() {
            e.id = Some(StorageId::generate());
        }
        let mut field_ids = HashSet::new();
        for f in &mut e.fields {
            let known = before.is_some_and(|b| b.fields.iter().any(|x| x.id.is_some() && x.id == f.id));
            if !(known && field_ids.insert(f.id.clone())) {
                f.id = Some(StorageId::generate());
            }
        }
    }
}

/// Clears the storage ids of a new entity and its fields: the server gives them.
pub fn forget_ids(entity: &mut EntityDef) {
    entity.id = None;
    for f in &mut entity.fields {
        f.id = None;
    }
}

/// All semantic problems of an app whose ids are assigned; empty when it may be stored.
pub fn validate_app(app: &AppDef) -> Result<(), Error> {
    let mut errors = Vec::new();
    let mut names = HashSet::new();
    let mut ids = HashSet::new();
    for e in &app.entities {
        let at = format!("entities.{}", e.name);
        if !names.insert(e.name.as_str()) {
            errors.push(FieldError::new(
                &at,
                FieldCode::Duplicate,
                format!("entity '{}' is defined twice", e.name),
            ));
        }
        if !ids.insert(e.storage_id().as_str()) {
            errors.push(FieldError::new(
                format!("{at}.id"),
                FieldCode::Duplicate,
                "entity id is used twice",
            ));
        }
        validate_entity(app, e, &at, &mut errors);
    }
    crate::automation::validate_rules(app, &mut errors);
    crate::view::validate_views(app, &mut errors);
    crate::condition::validate_conditions(app, &mut errors);
    crate::form::validate_forms(app, &mut errors);
    crate::dashboard::validate_dashboards(app, &mut errors);
    let mut roles = HashSet::new();
    for r in &app.roles {
        if !roles.insert(r.name.as_str()) {
            errors.push(FieldError::new(
                format!("roles.{}", r.name),
                FieldCode::Duplicate,
                format!("role '{}' is defined twice", r.name),
            ));
        }
    }
    crate::permissions::validate_permissions(app, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::validation(errors))
    }
}

fn validate_entity(app: &AppDef, e: &EntityDef, at: &str, errors: &mut Vec<FieldError>) {
    let mut names = HashSet::new();
    let mut ids = HashSet::new();
    for f in &e.fields {
        let fat = format!("{at}.fields.{}", f.name);
        if SYSTEM_FIELDS.contains(&f.name.as_str()) {
            errors.push(FieldError::new(
                &fat,
                FieldCode::Reserved,
                format!("'{}' is a system field name", f.name),
            ));
        }
        if !names.insert(f.name.as_str()) {
            errors.push(FieldError::new(
                &fat,
                FieldCode::Duplicate,
                format!("field '{}' is defined twice", f.name),
            ));
        }
        if !ids.insert(f.storage_id().as_str()) {
            errors.push(FieldError::new(
                format!("{fat}.id"),
                FieldCode::Duplicate,
                "field id is used twice",
            ));
        }
        validate_field(app, f, &fat, errors);
    }
    let mut rule_names = HashSet::new();
    for r in &e.validations {
        let rat = format!("{at}.validations.{}", r.name);
        if !rule_names.insert(r.name.as_str()) {
            errors.push(FieldError::new(
                &rat,
                FieldCode::Duplicate,
                format!("rule '{}' is defined twice", r.name),
            ));
        }
        if let Some(f) = &r.field
            && e.field(f.as_str()).is_none()
        {
            errors.push(FieldError::new(
                format!("{rat}.field"),
                FieldCode::UnknownField,
                format!("'{f}' is not a field of '{}'", e.name),
            ));
        }
    }
    if let Some(p) = &e.pipeline {
        crate::pipeline::validate_pipeline(app, e, p, at, errors);
    }
    validate_indexes(e, at, errors);
    if let Some(t) = &e.title_field {
        match e.field(t.as_str()) {
            None => errors.push(FieldError::new(
                format!("{at}.title_field"),
                FieldCode::UnknownField,
                format!("title field '{t}' is not a field of '{}'", e.name),
            )),
            Some(f) if !f.field_type.is_textual() => errors.push(FieldError::new(
                format!("{at}.title_field"),
                FieldCode::Type,
                "the title field must be a text-like field",
            )),
            Some(_) => {}
        }
    }
}

/// Most declared indexes an entity may have, and most columns in one.
pub const MAX_INDEXES: usize = 16;
pub const MAX_INDEX_COLUMNS: usize = 5;

fn validate_indexes(e: &EntityDef, at: &str, errors: &mut Vec<FieldError>) {
    use crate::plan::{INDEXABLE_SYSTEM, MAX_INDEX_NAME};
    if e.indexes.len() > MAX_INDEXES {
        errors.push(FieldError::new(
            format!("{at}.indexes"),
            FieldCode::TooMany,
            format!("an entity has at most {MAX_INDEXES} declared indexes"),
        ));
    }
    let mut names = HashSet::new();
    let mut column_lists = HashSet::new();
    for index in &e.indexes {
        let iat = format!("{at}.indexes.{}", index.name);
        if index.name.as_str().len() > MAX_INDEX_NAME {
            errors.push(FieldError::new(
                format!("{iat}.name"),
                FieldCode::TooLong,
                format!("an index name has at most {MAX_INDEX_NAME} characters"),
            ));
        }
        if !names.insert(index.name.as_str()) {
            errors.push(FieldError::new(
                &iat,
                FieldCode::Duplicate,
                format!("index '{}' is defined twice", index.name),
            ));
        }
        if index.fields.is_empty() || index.fields.len() > MAX_INDEX_COLUMNS {
            errors.push(FieldError::new(
                format!("{iat}.fields"),
                FieldCode::Count,
                format!("an index holds 1 to {MAX_INDEX_COLUMNS} fields"),
            ));
        }
        let mut seen = HashSet::new();
        for name in &index.fields {
            let name = name.as_str();
            if !seen.insert(name) {
                errors.push(FieldError::new(
                    format!("{iat}.fields"),
                    FieldCode::Duplicate,
                    format!("'{name}' is listed twice"),
                ));
            }
            match e.field(name) {
                Some(f) if f.field_type == FieldType::Attachment => errors.push(FieldError::new(
                    format!("{iat}.fields"),
                    FieldCode::NotApplicable,
                    format!("'{name}' is an attachment field, which cannot be indexed"),
                )),
                Some(_) => {}
                None if index.unique && INDEXABLE_SYSTEM.iter().any(|(c, _)| *c == name) => {
                    errors.push(FieldError::new(
                        format!("{iat}.fields"),
                        FieldCode::NotApplicable,
                        format!("'{name}' is a system column: a unique index holds fields only"),
                    ))
                }
                None => match INDEXABLE_SYSTEM.iter().find(|(c, _)| *c == name) {
                    Some((_, true)) if e.pipeline.is_none() => errors.push(FieldError::new(
                        format!("{iat}.fields"),
                        FieldCode::NotApplicable,
                        format!("'{name}' exists only on an entity with a pipeline"),
                    )),
                    Some(_) => {}
                    None => errors.push(FieldError::new(
                        format!("{iat}.fields"),
                        FieldCode::UnknownField,
                        format!("'{name}' is not a field of '{}' nor an indexable system column", e.name),
                    )),
                },
            }
        }
        let list: Vec<&str> = index.fields.iter().map(|f| f.as_str()).collect();
        if !list.is_empty() && !column_lists.insert(list) {
            errors.push(FieldError::new(
                format!("{iat}.fields"),
                FieldCode::Duplicate,
                "another index holds the same fields in the same order",
            ));
        }
    }
}

fn validate_field(app: &AppDef, f: &FieldDef, at: &str, errors: &mut Vec<FieldError>) {
    let t = f.field_type;
    let mut err = |part: &str, code: &str, msg: String| {
        let path = if part.is_empty() {
            at.to_string()
        } else {
            format!("{at}.{part}")
        };
        errors.push(FieldError::new(path, code, msg));
    };
    if let Some(target) = &f.target
        && app.entity(target.as_str()).is_none()
    {
        err(
            "target",
            "unknown_entity",
            format!("relation target '{target}' is not an entity of this app"),
        );
    }
    if let Some(opts) = &f.options {
        let mut seen = HashSet::new();
        for o in opts {
            if !seen.insert(o.value.as_str()) {
                err("options", "duplicate", format!("option '{}' is listed twice", o.value));
            }
        }
    }
    if let Some(p) = &f.pattern {
        if !matches!(
            t,
            FieldType::Text | FieldType::LongText | FieldType::Phone | FieldType::Email | FieldType::Url
        ) {
            err(
                "pattern",
                "not_applicable",
                format!("a {} field has no pattern", t.as_str()),
            );
        } else if let Err(e) = regex::RegexBuilder::new(p).size_limit(1 << 20).build() {
            err(
                "pattern",
                "invalid_pattern",
                format!("not a valid regular expression: {e}"),
            );
        }
    }
    let numeric = matches!(
        t,
        FieldType::Integer | FieldType::Decimal | FieldType::Currency | FieldType::Percent
    );
    let dated = matches!(t, FieldType::Date | FieldType::Datetime);
    for (name, bound) in [("min", &f.min), ("max", &f.max)] {
        let Some(b) = bound else { continue };
        let fits = (numeric && b.is_number()) || (dated && b.is_string());
        if !fits {
            let want = if numeric {
                "a number"
            } else if dated {
                "a date string"
            } else {
                "not allowed for this type"
            };
            err(name, "not_applicable", format!("{name} must be {want}"));
        }
    }
    let lengthy =
        t.is_textual() && t != FieldType::AutoNumber && t != FieldType::SingleSelect || t == FieldType::MultiSelect;
    for (name, v) in [("min_length", f.min_length), ("max_length", f.max_length)] {
        if v.is_some() && !lengthy {
            err(name, "not_applicable", format!("a {} field has no {name}", t.as_str()));
        }
    }
    if let (Some(a), Some(b)) = (f.min_length, f.max_length)
        && a > b
    {
        err("min_length", "range", "min_length is larger than max_length".into());
    }
    if f.unique
        && matches!(
            t,
            FieldType::Json | FieldType::MultiSelect | FieldType::Boolean | FieldType::Currency | FieldType::Attachment
        )
    {
        err(
            "unique",
            "not_applicable",
            format!("a {} field cannot be unique", t.as_str()),
        );
    }
    // An attachment's column is a list of file metadata: nothing to sort or look up by.
    if f.indexed && t == FieldType::Attachment {
        err(
            "indexed",
            "not_applicable",
            "an attachment field cannot be indexed".into(),
        );
    }
    if let Some(fmt) = &f.format
        && let Err(e) = AutoFormat::parse(fmt)
    {
        err("format", "invalid_format", e);
    }
    if let Some(r) = &f.rollup {
        let numeric = matches!(t, FieldType::Integer | FieldType::Decimal | FieldType::Percent);
        if !numeric {
            err(
                "rollup",
                "not_applicable",
                format!("a rollup is a number: integer, decimal or percent, not {}", t.as_str()),
            );
        }
        if f.formula.is_some() || f.required || f.unique || f.default.is_some() || f.required_if.is_some() {
            err(
                "rollup",
                "not_applicable",
                "a rollup is computed: no formula, required, unique, default or required_if".into(),
            );
        }
        match app.entity(r.from.as_str()) {
            None => err(
                "rollup.from",
                "unknown_entity",
                format!("'{}' is not an entity of this app", r.from),
            ),
            Some(from) => {
                let via = from.field(r.via.as_str());
                let points_here = via.is_some_and(|v| {
                    v.field_type == FieldType::Relation
                        && app
                            .entities
                            .iter()
                            .any(|e| e.fields.iter().any(|x| x.id == f.id) && v.target.as_ref() == Some(&e.name))
                });
                if !points_here {
                    err(
                        "rollup.via",
                        "invalid",
                        format!(
                            "'{}' must be a relation field of '{}' that points at this entity",
                            r.via, r.from
                        ),
                    );
                }
                if let Some(filter) = &r.filter {
                    let mut child = from.clone();
                    for x in &mut child.fields {
                        x.id.get_or_insert_with(crate::names::StorageId::generate);
                    }
                    let compiled = crate::compile::CompiledEntity::compile(&child);
                    if let Err(e) = crate::query::parse_filter(&compiled, filter) {
                        err("rollup.filter", "invalid", e.detail);
                    }
                }
                match (&r.field, r.func) {
                    (None, RollupFn::Count) => {}
                    (Some(_), RollupFn::Count) => err("rollup.field", "not_applicable", "count takes no field".into()),
                    (None, _) => err("rollup.field", "required", "sum, avg, min and max need a field".into()),
                    (Some(name), _) => {
                        let ok = from.field(name.as_str()).is_some_and(|x| {
                            matches!(
                                x.field_type,
                                FieldType::Integer | FieldType::Decimal | FieldType::Percent | FieldType::Currency
                            )
                        });
                        if !ok {
                            err(
                                "rollup.field",
                                "invalid",
                                format!("'{name}' must be a number field of '{}'", r.from),
                            );
                        }
                    }
                }
            }
        }
    }
    if f.formula.is_some() {
        if matches!(
            t,
            FieldType::AutoNumber | FieldType::Relation | FieldType::User | FieldType::Json | FieldType::Attachment
        ) {
            err(
                "formula",
                "not_applicable",
                format!("a {} field cannot be a formula", t.as_str()),
            );
        }
        for (set, what) in [
            (f.required, "required"),
            (f.unique, "unique"),
            (f.default.is_some(), "default"),
            (f.required_if.is_some(), "required_if"),
        ] {
            if set {
                err(
                    what,
                    "not_applicable",
                    format!("a formula field is computed: it takes no {what}"),
                );
            }
        }
    }
    if f.default.is_some()
        && matches!(
            t,
            FieldType::AutoNumber | FieldType::Relation | FieldType::User | FieldType::Attachment
        )
    {
        err(
            "default",
            "not_applicable",
            format!("a {} field cannot have a default", t.as_str()),
        );
    }
    // Bounds and defaults are checked with the field's own coercion, so they mean what a value means.
    if f.id.is_some() && errors_for(at, errors) == 0 {
        let compiled = CompiledField::compile(f);
        if let (Some(min), Some(max)) = (&compiled.min, &compiled.max)
            && bound_gt(min, max)
        {
            errors.push(FieldError::new(
                format!("{at}.min"),
                FieldCode::Range,
                "min is larger than max",
            ));
        }
        if (f.min.is_some() && compiled.min.is_none()) || (f.max.is_some() && compiled.max.is_none()) {
            errors.push(FieldError::new(
                format!("{at}.min"),
                FieldCode::Type,
                "min/max is not a value of this field's type",
            ));
        }
        if let Some(d) = &f.default
            && let Err(e) = compiled.coerce(d)
        {
            errors.push(FieldError::new(
                format!("{at}.default"),
                e.code,
                format!("default {}", e.message),
            ));
        }
    }
}

fn errors_for(at: &str, errors: &[FieldError]) -> usize {
    errors.iter().filter(|e| e.field.starts_with(at)).count()
}

fn bound_gt(a: &crate::value::Val, b: &crate::value::Val) -> bool {
    use crate::value::Val::*;
    match (a, b) {
        (Int(x), Int(y)) | (Fixed(x), Fixed(y)) => x > y,
        (Date(x), Date(y)) => x > y,
        (DateTime(x), DateTime(y)) => x > y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_of_new_elements_are_issued_by_the_server() {
        let mut old = parse_app(&json!({"name": "s", "label": {"en": "S"}, "entities": [
            {"name": "deal", "label": {"en": "D"}, "fields": [{"name": "title", "label": {"en": "T"}, "type": "text"}]}]}))
        .unwrap();
        assign_ids(&mut old);
        let (deal, title) = (old.entities[0].id.clone(), old.entities[0].fields[0].id.clone());
        // A clone: the same ids, as a new app.
        let mut clone = old.clone();
        reissue_new_ids(None, &mut clone);
        assert_ne!(clone.entities[0].id, deal);
        assert_ne!(clone.entities[0].fields[0].id, title);
        // An edit keeps the ids that have storage and replaces those that do not.
        let mut new = old.clone();
        let mut copy = new.entities[0].clone();
        copy.name = crate::names::Slug::parse("deal_two").unwrap();
        let sibling = FieldDef {
            name: crate::names::Slug::parse("subtitle").unwrap(),
            ..new.entities[0].fields[0].clone()
        };
        new.entities[0].fields.push(sibling);
        new.entities.push(copy);
        new.entities[1].id = Some(StorageId::parse("elsewhere1").unwrap());
        reissue_new_ids(Some(&old), &mut new);
        assert_eq!((&new.entities[0].id, &new.entities[0].fields[0].id), (&deal, &title));
        assert_ne!(new.entities[0].fields[1].id, title, "a new field with a sibling's id");
        assert_ne!(new.entities[1].id.as_ref().unwrap().as_str(), "elsewhere1");
        assert_ne!(new.entities[1].fields[0].id, title, "a new entity's fields are new");
        validate_app(&new).expect("no duplicate ids");
    }

    fn app(fields: Value) -> AppDef {
        let mut a = parse_app(&json!({"name": "s", "label": {"en": "S"}, "entities": [
            {"name": "customer", "label": {"en": "Customer"}, "fields": [{"name": "name", "label": {"en": "N"}, "type": "text"}]},
            {"name": "deal", "label": {"en": "Deal"}, "fields": fields}
        ]}))
        .unwrap();
        assign_ids(&mut a);
        a
    }

    fn codes(a: &AppDef) -> Vec<String> {
        match validate_app(a) {
            Ok(()) => vec![],
            Err(e) => e
                .errors
                .into_iter()
                .map(|e| format!("{}:{}", e.field, e.code))
                .collect(),
        }
    }

    #[test]
    fn a_sound_app_passes() {
        let a = app(json!([
            {"name": "title", "label": {"en": "T"}, "type": "text", "max_length": 100, "default": "x"},
            {"name": "amount", "label": {"en": "A"}, "type": "currency", "currency": "CNY", "min": 0, "default": 5},
            {"name": "customer", "label": {"en": "C"}, "type": "relation", "target": "customer"},
            {"name": "no", "label": {"en": "No"}, "type": "auto_number", "format": "DL-{YYYY}-{00000}", "unique": true}
        ]));
        assert_eq!(codes(&a), Vec::<String>::new());
    }

    #[test]
    fn semantic_errors_are_all_reported_with_paths() {
        let a = app(json!([
            {"name": "owner", "label": {"en": "O"}, "type": "text"},
            {"name": "c", "label": {"en": "C"}, "type": "relation", "target": "nowhere"},
            {"name": "p", "label": {"en": "P"}, "type": "text", "pattern": "(unclosed"},
            {"name": "n", "label": {"en": "N"}, "type": "integer", "min": 10, "max": 1},
            {"name": "d", "label": {"en": "D"}, "type": "integer", "default": "abc"},
            {"name": "b", "label": {"en": "B"}, "type": "boolean", "min": 1},
            {"name": "n2", "label": {"en": "N"}, "type": "auto_number", "format": "X-{YYYY}"},
            {"name": "d", "label": {"en": "D2"}, "type": "date"}
        ]));
        let c = codes(&a);
        for want in [
            "entities.deal.fields.owner:reserved",
            "entities.deal.fields.c.target:unknown_entity",
            "entities.deal.fields.p.pattern:invalid_pattern",
            "entities.deal.fields.n.min:range",
            "entities.deal.fields.d.default:type",
            "entities.deal.fields.b.min:not_applicable",
            "entities.deal.fields.n2.format:invalid_format",
            "entities.deal.fields.d:duplicate",
        ] {
            assert!(c.iter().any(|x| x == want), "missing {want} in {c:?}");
        }
    }

    #[test]
    fn declared_indexes_name_indexable_columns_once() {
        let with = |indexes: Value| {
            let mut a = app(json!([
                {"name": "phase", "label": {"en": "P"}, "type": "text"},
                {"name": "amount", "label": {"en": "A"}, "type": "decimal"},
                {"name": "files", "label": {"en": "F"}, "type": "attachment"}
            ]));
            a.entities[1].indexes = serde_json::from_value(indexes).unwrap();
            codes(&a)
        };
        assert_eq!(
            with(json!([{"name": "board", "fields": ["phase", "amount"]},
                        {"name": "recent", "fields": ["owner", "updated_at", "created_at", "created_by"]}])),
            Vec::<String>::new()
        );
        let c = with(json!([
            {"name": "board", "fields": ["phase", "amount"]},
            {"name": "board", "fields": ["amount"]},
            {"name": "again", "fields": ["phase", "amount"]},
            {"name": "twice", "fields": ["phase", "phase"]},
            {"name": "unknown", "fields": ["region", "id", "version"]},
            {"name": "stage", "fields": ["stage"]},
            {"name": "files", "fields": ["files"]},
            {"name": "none", "fields": []},
            {"name": "six", "fields": ["phase", "amount", "owner", "created_at", "updated_at", "created_by"]},
            {"name": "a_name_longer_than_thirty_chars", "fields": ["created_at"]},
            {"name": "unique_owner", "fields": ["phase", "owner"], "unique": true}
        ]));
        for want in [
            "entities.deal.indexes.board:duplicate",
            "entities.deal.indexes.again.fields:duplicate",
            "entities.deal.indexes.twice.fields:duplicate",
            "entities.deal.indexes.unknown.fields:unknown_field",
            "entities.deal.indexes.stage.fields:not_applicable",
            "entities.deal.indexes.files.fields:not_applicable",
            "entities.deal.indexes.none.fields:count",
            "entities.deal.indexes.six.fields:count",
            "entities.deal.indexes.a_name_longer_than_thirty_chars.name:too_long",
            "entities.deal.indexes.unique_owner.fields:not_applicable",
        ] {
            assert!(c.iter().any(|x| x == want), "missing {want} in {c:?}");
        }
        assert_eq!(
            c.iter().filter(|x| x.ends_with("unknown_field")).count(),
            3,
            "id and version are not indexable: {c:?}"
        );
    }

    #[test]
    fn attachment_fields_take_accept_and_max_files_and_nothing_that_needs_a_value() {
        let a = app(json!([
            {"name": "files", "label": {"en": "F"}, "type": "attachment", "required": true,
             "accept": ["application/pdf", "image/*"], "max_files": 3}
        ]));
        assert_eq!(codes(&a), Vec::<String>::new());
        let a = app(json!([
            {"name": "u", "label": {"en": "U"}, "type": "attachment", "unique": true},
            {"name": "i", "label": {"en": "I"}, "type": "attachment", "indexed": true},
            {"name": "d", "label": {"en": "D"}, "type": "attachment", "default": []},
            {"name": "f", "label": {"en": "F"}, "type": "attachment", "formula": "1"}
        ]));
        let c = codes(&a);
        for want in [
            "entities.deal.fields.u.unique:not_applicable",
            "entities.deal.fields.i.indexed:not_applicable",
            "entities.deal.fields.d.default:not_applicable",
            "entities.deal.fields.f.formula:not_applicable",
        ] {
            assert!(c.iter().any(|x| x == want), "missing {want} in {c:?}");
        }
        for bad in [
            json!({"name": "x", "label": {"en": "X"}, "type": "text", "accept": ["image/*"]}),
            json!({"name": "x", "label": {"en": "X"}, "type": "json", "max_files": 2}),
            json!({"name": "x", "label": {"en": "X"}, "type": "attachment", "max_files": 0}),
            json!({"name": "x", "label": {"en": "X"}, "type": "attachment", "max_files": 101}),
            json!({"name": "x", "label": {"en": "X"}, "type": "attachment", "accept": ["pdf"]}),
            json!({"name": "x", "label": {"en": "X"}, "type": "attachment", "accept": []}),
        ] {
            assert!(parse_field(&bad).is_err(), "{bad}");
        }
    }
}
