//! The plan of a definition change: the schema steps that turn the tables of one app version
//! into those of the next, found by diffing the two definitions by storage id.

use serde::Serialize;
use serde_json::Value;

use crate::compile::CompiledField;
use crate::def::{AppDef, EntityDef, FieldDef, FieldType};
use crate::names::StorageId;
use crate::value::Val;

/// How a field's index should look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexKind {
    Plain,
    Unique,
}

/// The index a field gets: unique fields a unique one; indexed, relation and user fields a plain one.
pub fn index_kind(f: &FieldDef) -> Option<IndexKind> {
    if f.unique || f.field_type == FieldType::AutoNumber {
        Some(IndexKind::Unique)
    } else if f.indexed || matches!(f.field_type, FieldType::Relation | FieldType::User) {
        Some(IndexKind::Plain)
    } else {
        None
    }
}

/// One step of a plan.
// Plans are short lists built once per definition change; boxing the definitions buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Step {
    CreateTable {
        entity: EntityDef,
    },
    DropTable {
        entity: EntityDef,
    },
    AddColumn {
        entity: EntityDef,
        field: FieldDef,
    },
    DropColumn {
        entity: EntityDef,
        field: FieldDef,
    },
    /// The column's values are rewritten from one field definition to the other; rows whose
    /// value cannot be carried over lose it (refused unless data loss is allowed).
    ConvertColumn {
        entity: EntityDef,
        from: FieldDef,
        to: FieldDef,
    },
    DropIndex {
        entity: EntityDef,
        field: FieldDef,
    },
    CreateIndex {
        entity: EntityDef,
        field: FieldDef,
        kind: IndexKind,
    },
    /// A change of names, labels or options that touches no table.
    Metadata {
        entity: Option<String>,
        field: Option<String>,
        change: String,
    },
}

/// A step as a client reads it in a plan.
#[derive(Debug, Clone, Serialize)]
pub struct StepSummary {
    pub op: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub detail: String,
    /// True when the step may drop data that records hold.
    pub may_lose_data: bool,
}

impl Step {
    pub fn summary(&self) -> StepSummary {
        let s = |op, entity: &EntityDef, field: Option<&FieldDef>, detail: String, lossy| StepSummary {
            op,
            entity: Some(entity.name.to_string()),
            field: field.map(|f| f.name.to_string()),
            detail,
            may_lose_data: lossy,
        };
        match self {
            Step::CreateTable { entity } => s(
                "create_entity",
                entity,
                None,
                format!("create table for '{}'", entity.name),
                false,
            ),
            Step::DropTable { entity } => s(
                "drop_entity",
                entity,
                None,
                format!("drop '{}' and all its records", entity.name),
                true,
            ),
            Step::AddColumn { entity, field } => s(
                "add_field",
                entity,
                Some(field),
                format!("add {} field '{}'", field.field_type.as_str(), field.name),
                false,
            ),
            Step::DropColumn { entity, field } => s(
                "drop_field",
                entity,
                Some(field),
                format!("drop field '{}' and its values", field.name),
                true,
            ),
            Step::ConvertColumn { entity, from, to } => s(
                "convert_field",
                entity,
                Some(to),
                format!("convert '{}' from {} to {}", to.name, describe(from), describe(to)),
                conversion_may_lose(from, to),
            ),
            Step::DropIndex { entity, field } => s(
                "drop_index",
                entity,
                Some(field),
                format!("drop index of '{}'", field.name),
                false,
            ),
            Step::CreateIndex { entity, field, kind } => s(
                "create_index",
                entity,
                Some(field),
                format!(
                    "create {} index on '{}'",
                    if *kind == IndexKind::Unique { "unique" } else { "an" },
                    field.name
                ),
                false,
            ),
            Step::Metadata { entity, field, change } => StepSummary {
                op: "metadata",
                entity: entity.clone(),
                field: field.clone(),
                detail: change.clone(),
                may_lose_data: false,
            },
        }
    }
}

fn describe(f: &FieldDef) -> String {
    if f.field_type.is_fixed_point() {
        format!("{} (scale {})", f.field_type.as_str(), f.scale())
    } else {
        f.field_type.as_str().to_string()
    }
}

/// Whether a conversion can fail for some value (the store counts the values that actually do).
pub fn conversion_may_lose(from: &FieldDef, to: &FieldDef) -> bool {
    use FieldType::*;
    let (a, b) = (from.field_type, to.field_type);
    // Files are not values of another type, nor another type's values files.
    if (a == Attachment) != (b == Attachment) {
        return true;
    }
    if matches!(b, Text | LongText) && a != Currency {
        return false;
    }
    match (a, b) {
        (Integer, Decimal | Percent) => false,
        (Decimal | Percent, Decimal | Percent) => to.scale() < from.scale(),
        (Date, Datetime) => false,
        (SingleSelect, MultiSelect) => options_removed(from, to),
        (x, y) if x == y => options_removed(from, to) || (x == Relation && from.target != to.target),
        _ => true,
    }
}

fn options_removed(from: &FieldDef, to: &FieldDef) -> bool {
    let new: Vec<&str> = to.options.iter().flatten().map(|o| o.value.as_str()).collect();
    from.options.iter().flatten().any(|o| !new.contains(&o.value.as_str()))
}

/// Whether a field change needs its stored values rewritten or re-checked. `retargeted`: a
/// relation now points at another entity (not the same one renamed).
fn needs_conversion(from: &FieldDef, to: &FieldDef, retargeted: bool) -> bool {
    from.field_type != to.field_type
        || (from.field_type.is_fixed_point() && from.scale() != to.scale())
        || options_removed(from, to)
        || retargeted
}

/// The storage id of the entity a relation points at, within its app.
fn target_id<'a>(app: &'a AppDef, f: &FieldDef) -> Option<&'a StorageId> {
    f.target
        .as_ref()
        .and_then(|t| app.entity(t.as_str()))
        .and_then(|e| e.id.as_ref())
}

/// The steps from `old` (None: nothing yet) to `new`, both with storage ids assigned.
pub fn plan(old: Option<&AppDef>, new: &AppDef) -> Vec<Step> {
    let mut steps = Vec::new();
    let empty: Vec<EntityDef> = Vec::new();
    let old_entities = old.map(|a| &a.entities).unwrap_or(&empty);
    // Without a step, a change of the app's own label or description would not be stored.
    if let Some(o) = old
        && (o.label != new.label || o.description != new.description || o.roles != new.roles || o.rules != new.rules)
    {
        steps.push(Step::Metadata {
            entity: None,
            field: None,
            change: "change the app's label, description, roles or rules".into(),
        });
    }
    for e in old_entities {
        if !new.entities.iter().any(|n| n.id == e.id) {
            steps.push(Step::DropTable { entity: e.clone() });
        }
    }
    for e in &new.entities {
        match old_entities.iter().find(|o| o.id == e.id) {
            None => {
                steps.push(Step::CreateTable { entity: e.clone() });
                for f in &e.fields {
                    if let Some(kind) = index_kind(f) {
                        steps.push(Step::CreateIndex {
                            entity: e.clone(),
                            field: f.clone(),
                            kind,
                        });
                    }
                }
            }
            Some(o) => plan_entity(old.expect("an old entity has an old app"), new, o, e, &mut steps),
        }
    }
    steps
}

fn plan_entity(old_app: &AppDef, new_app: &AppDef, old: &EntityDef, new: &EntityDef, steps: &mut Vec<Step>) {
    let meta = |steps: &mut Vec<Step>, field: Option<&FieldDef>, change: String| {
        steps.push(Step::Metadata {
            entity: Some(new.name.to_string()),
            field: field.map(|f| f.name.to_string()),
            change,
        })
    };
    if old.name != new.name {
        meta(steps, None, format!("rename entity '{}' to '{}'", old.name, new.name));
    }
    if old.label != new.label || old.description != new.description || old.title_field != new.title_field {
        meta(steps, None, "change labels or title field".into());
    }
    if old.pipeline != new.pipeline {
        let what = match (&old.pipeline, &new.pipeline) {
            (None, _) => "add the pipeline",
            (_, None) => "remove the pipeline",
            _ => "change the pipeline",
        };
        meta(steps, None, what.into());
    }
    if old.validations != new.validations {
        meta(steps, None, "change validation rules".into());
    }
    for f in &old.fields {
        if !new.fields.iter().any(|n| n.id == f.id) {
            if index_kind(f).is_some() {
                steps.push(Step::DropIndex {
                    entity: new.clone(),
                    field: f.clone(),
                });
            }
            steps.push(Step::DropColumn {
                entity: new.clone(),
                field: f.clone(),
            });
        }
    }
    for f in &new.fields {
        let Some(o) = old.fields.iter().find(|x| x.id == f.id) else {
            steps.push(Step::AddColumn {
                entity: new.clone(),
                field: f.clone(),
            });
            if let Some(kind) = index_kind(f) {
                steps.push(Step::CreateIndex {
                    entity: new.clone(),
                    field: f.clone(),
                    kind,
                });
            }
            continue;
        };
        if o.name != f.name {
            meta(steps, Some(f), format!("rename field '{}' to '{}'", o.name, f.name));
        }
        let (old_index, new_index) = (index_kind(o), index_kind(f));
        // Relations are compared by the storage id of their target, so renaming an entity
        // leaves the values of the relations pointing at it alone.
        let retargeted = o.field_type == FieldType::Relation
            && f.field_type == FieldType::Relation
            && target_id(old_app, o) != target_id(new_app, f);
        let convert = needs_conversion(o, f, retargeted);
        if old_index.is_some() && (old_index != new_index || convert) {
            steps.push(Step::DropIndex {
                entity: new.clone(),
                field: o.clone(),
            });
        }
        if convert {
            steps.push(Step::ConvertColumn {
                entity: new.clone(),
                from: o.clone(),
                to: f.clone(),
            });
        }
        if let Some(kind) = new_index
            && (old_index != new_index || convert)
        {
            steps.push(Step::CreateIndex {
                entity: new.clone(),
                field: f.clone(),
                kind,
            });
        }
        // Whatever else differs (labels, constraints, defaults) is metadata only.
        let mut a = o.clone();
        a.name = f.name.clone();
        (a.field_type, a.scale, a.options, a.target, a.unique, a.indexed) = (
            f.field_type,
            f.scale,
            f.options.clone(),
            f.target.clone(),
            f.unique,
            f.indexed,
        );
        if &a != f {
            meta(steps, Some(f), "change labels, constraints or default".into());
        }
    }
}

/// Carries one stored value over a field change; `None` when it cannot be kept.
pub fn convert_value(from: &CompiledField, to: &CompiledField, v: &Val) -> Option<Val> {
    use FieldType::*;
    if v.is_null() {
        return Some(Val::Null);
    }
    match (from.kind == Attachment, to.kind == Attachment) {
        // Stored metadata stays as it is; coercion would keep only the ids.
        (true, true) => return Some(v.clone()),
        (true, false) | (false, true) => return None,
        (false, false) => {}
    }
    let json = v.to_json(from);
    let adapted: Value = match (from.kind, to.kind, &json) {
        (_, Text | LongText, Value::String(_)) => json.clone(),
        (_, Text | LongText, Value::Object(o)) if from.kind == Currency => {
            Value::String(format!("{} {}", o.get("amount")?, o.get("currency")?.as_str()?))
        }
        (_, Text | LongText, other) => Value::String(other.to_string()),
        (Currency, _, Value::Object(_)) => return None,
        (_, Integer | Decimal | Percent | Currency, Value::String(s)) => {
            serde_json::from_str::<Value>(s.trim()).ok().filter(Value::is_number)?
        }
        (Integer | Decimal | Percent, Boolean, Value::Number(n)) => Value::Bool(n.as_f64()? != 0.0),
        (Boolean, Integer | Decimal | Percent, Value::Bool(b)) => Value::from(*b as i64),
        (Datetime, Date, Value::String(s)) => {
            let day = &s[..10];
            if !s[10..].starts_with("T00:00:00.000000") {
                return None;
            }
            Value::String(day.to_string())
        }
        (Date, Datetime, Value::String(s)) => Value::String(format!("{s}T00:00:00Z")),
        (_, MultiSelect, Value::String(s)) => Value::Array(vec![Value::String(s.clone())]),
        (MultiSelect, SingleSelect, Value::Array(a)) if a.len() == 1 => a[0].clone(),
        (Relation, Relation, _) if from.target != to.target => return None,
        _ => json.clone(),
    };
    to.coerce(&adapted).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::CompiledField;
    use crate::def::Label;
    use crate::names::StorageId;
    use crate::validate::{assign_ids, parse_app};
    use serde_json::json;

    fn f(kind: FieldType, scale: Option<u8>) -> CompiledField {
        let mut d = FieldDef::new("x", Label::new("x", "x"), kind);
        d.id = Some(StorageId::generate());
        d.scale = scale;
        d.currency = (kind == FieldType::Currency).then(|| "CNY".to_string());
        CompiledField::compile(&d)
    }

    #[test]
    fn conversions_keep_what_fits_and_report_what_does_not() {
        let (int, dec, dec1, text, b) = (
            f(FieldType::Integer, None),
            f(FieldType::Decimal, None),
            f(FieldType::Decimal, Some(1)),
            f(FieldType::Text, None),
            f(FieldType::Boolean, None),
        );
        assert_eq!(convert_value(&int, &dec, &Val::Int(3)), Some(Val::Fixed(300)));
        assert_eq!(convert_value(&dec, &int, &Val::Fixed(300)), Some(Val::Int(3)));
        assert_eq!(convert_value(&dec, &int, &Val::Fixed(350)), None);
        assert_eq!(convert_value(&dec, &dec1, &Val::Fixed(355)), None);
        assert_eq!(convert_value(&dec, &dec1, &Val::Fixed(350)), Some(Val::Fixed(35)));
        assert_eq!(
            convert_value(&text, &int, &Val::Text(" 42 ".into())),
            Some(Val::Int(42))
        );
        assert_eq!(convert_value(&text, &int, &Val::Text("abc".into())), None);
        assert_eq!(convert_value(&int, &text, &Val::Int(7)), Some(Val::Text("7".into())));
        assert_eq!(convert_value(&b, &int, &Val::Bool(true)), Some(Val::Int(1)));
        let cur = f(FieldType::Currency, None);
        assert_eq!(
            convert_value(&dec, &cur, &Val::Fixed(5)),
            Some(Val::Currency(5, "CNY".into()))
        );
        assert_eq!(convert_value(&cur, &dec, &Val::Currency(5, "CNY".into())), None);
    }

    #[test]
    fn attachments_convert_to_and_from_nothing_else() {
        let (att, text, json) = (
            f(FieldType::Attachment, None),
            f(FieldType::Text, None),
            f(FieldType::Json, None),
        );
        let files = Val::Json(json!([{"id": "0190c0de-0000-7000-8000-000000000001", "name": "a.pdf"}]));
        for other in [&text, &json] {
            assert_eq!(convert_value(&att, other, &files), None);
        }
        assert_eq!(convert_value(&text, &att, &Val::Text("x".into())), None);
        assert_eq!(convert_value(&json, &att, &files), None);
        assert_eq!(convert_value(&att, &att, &files), Some(files.clone()));
        assert_eq!(
            convert_value(&att, &text, &Val::Null),
            Some(Val::Null),
            "empty values carry over"
        );
        let def = |t| FieldDef::new("x", Label::new("x", "x"), t);
        for other in [FieldType::Text, FieldType::Json, FieldType::MultiSelect] {
            assert!(conversion_may_lose(&def(FieldType::Attachment), &def(other)));
            assert!(conversion_may_lose(&def(other), &def(FieldType::Attachment)));
        }
    }

    #[test]
    fn plans_diff_by_storage_id_so_renames_touch_no_table() {
        let mut a = parse_app(&json!({"name": "s", "label": {"en": "S"}, "entities": [
            {"name": "deal", "label": {"en": "Deal"}, "fields": [
                {"name": "title", "label": {"en": "T"}, "type": "text"},
                {"name": "amount", "label": {"en": "A"}, "type": "integer"}]}]}))
        .unwrap();
        assign_ids(&mut a);
        let first = plan(None, &a);
        assert!(matches!(first[0], Step::CreateTable { .. }));

        let mut b = a.clone();
        b.entities[0].fields[0].name = crate::names::Slug::parse("subject").unwrap();
        b.entities[0].fields[1].field_type = FieldType::Decimal;
        b.entities[0].fields.push({
            let mut n = FieldDef::new("due", Label::new("到期", "Due"), FieldType::Date);
            n.indexed = true;
            n
        });
        assign_ids(&mut b);
        let ops: Vec<&str> = plan(Some(&a), &b).iter().map(|s| s.summary().op).collect();
        assert_eq!(ops, vec!["metadata", "convert_field", "add_field", "create_index"]);
        let steps = plan(Some(&a), &b);
        assert!(
            !steps[1].summary().may_lose_data,
            "integer to decimal keeps every value"
        );

        let mut c = b.clone();
        c.entities[0].fields.remove(0);
        let ops: Vec<(&str, bool)> = plan(Some(&b), &c)
            .iter()
            .map(|s| (s.summary().op, s.summary().may_lose_data))
            .collect();
        assert_eq!(ops, vec![("drop_field", true)]);
    }

    #[test]
    fn renaming_an_entity_leaves_the_relations_to_it_alone() {
        let mut a = parse_app(&json!({"name": "s", "label": {"en": "S"}, "entities": [
            {"name": "customer", "label": {"en": "C"}},
            {"name": "deal", "label": {"en": "D"}, "fields": [
                {"name": "customer", "label": {"en": "C"}, "type": "relation", "target": "customer"}]}]}))
        .unwrap();
        assign_ids(&mut a);
        let mut b = a.clone();
        b.entities[0].name = crate::names::Slug::parse("client").unwrap();
        b.entities[1].fields[0].target = Some(crate::names::Slug::parse("client").unwrap());
        let ops: Vec<&str> = plan(Some(&a), &b).iter().map(|s| s.summary().op).collect();
        assert_eq!(ops, vec!["metadata"], "a rename, not a conversion");

        // Pointing the relation at another entity is a conversion.
        let mut c = a.clone();
        c.entities.push(
            parse_app(
                &json!({"name": "x", "label": {"en": "X"}, "entities": [{"name": "lead", "label": {"en": "L"}}]}),
            )
            .unwrap()
            .entities[0]
                .clone(),
        );
        c.entities[1].fields[0].target = Some(crate::names::Slug::parse("lead").unwrap());
        assign_ids(&mut c);
        let ops: Vec<(&str, bool)> = plan(Some(&a), &c)
            .iter()
            .map(|s| (s.summary().op, s.summary().may_lose_data))
            .collect();
        assert!(ops.contains(&("convert_field", true)), "{ops:?}");
    }

    #[test]
    fn a_change_of_the_apps_own_label_is_a_step() {
        let mut a = parse_app(&json!({"name": "s", "label": {"en": "S"}})).unwrap();
        assign_ids(&mut a);
        let mut b = a.clone();
        b.label = Label::new("销售", "Sales");
        let ops: Vec<&str> = plan(Some(&a), &b).iter().map(|s| s.summary().op).collect();
        assert_eq!(ops, vec!["metadata"]);
        assert!(plan(Some(&b), &b).is_empty());
    }
}
