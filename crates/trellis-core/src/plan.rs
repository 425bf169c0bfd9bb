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

/// The system columns that get an owner-keyed index (see [`owner_keyed`]): the usual sorts of a
/// list (newest, recently changed) and a board's stage.
pub const OWNER_KEYED_SYSTEM: [&str; 3] = ["created_at", "updated_at", "stage"];

/// The system columns a declared index ([`crate::def::IndexDef`]) may name, and whether each
/// needs a pipeline.
pub const INDEXABLE_SYSTEM: [(&str, bool); 7] = [
    ("created_at", false),
    ("updated_at", false),
    ("created_by", false),
    ("owner", false),
    ("stage", true),
    ("stage_entered_at", true),
    ("stage_due_at", true),
];

/// The longest name of a declared index: its table's name and a prefix must fit PostgreSQL's 63
/// bytes of an identifier.
pub const MAX_INDEX_NAME: usize = 30;

/// A column of an index: a system column or a field.
// Short-lived values in plans, as the steps' definitions are (see `Step`).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum KeyColumn {
    System(&'static str),
    Field(FieldDef),
}

impl KeyColumn {
    /// The field the index holds, for a field's index.
    fn field(&self) -> Option<&FieldDef> {
        match self {
            KeyColumn::Field(f) => Some(f),
            KeyColumn::System(_) => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            KeyColumn::System(c) => c.to_string(),
            KeyColumn::Field(f) => format!("'{}'", f.name),
        }
    }
}

/// Whether an entity's rows are read through an owner scope: some role of the app has the
/// `own` or `team` scope on it. Such an entity gets, beside each sort index on (column, id), an
/// index on (owner, column, id) for the indexed fields and [`OWNER_KEYED_SYSTEM`]. A scoped list
/// then reads each owner's matching rows through an index instead of either walking the whole
/// table's sort order for the few rows in scope or reading every row of the scope: with 2% of
/// the rows in scope, a filter the scope's rows do not match would read all of them.
pub fn owner_keyed(app: &AppDef, entity: &EntityDef) -> bool {
    use crate::permissions::{NamedScope, ScopeDef};
    app.roles
        .iter()
        .filter_map(|r| r.permissions.as_ref()?.get(entity.name.as_str()))
        .any(|p| matches!(p.scope, Some(ScopeDef::Named(NamedScope::Own | NamedScope::Team))))
}

/// The owner-keyed indexes an entity has in an app: none unless [`owner_keyed`].
pub fn owner_keys(app: &AppDef, entity: &EntityDef) -> Vec<KeyColumn> {
    if !owner_keyed(app, entity) {
        return Vec::new();
    }
    OWNER_KEYED_SYSTEM
        .iter()
        .map(|c| KeyColumn::System(c))
        .chain(
            entity
                .fields
                .iter()
                .filter(|f| index_kind(f).is_some())
                .map(|f| KeyColumn::Field(f.clone())),
        )
        .collect()
}

/// A declared index as the plan keeps it: its columns resolved, with the owner in front or not.
#[derive(Debug, Clone, PartialEq)]
pub struct CompositeIndex {
    pub def: crate::def::IndexDef,
    pub columns: Vec<KeyColumn>,
    pub by_owner: bool,
}

impl CompositeIndex {
    /// Whether the index refuses duplicates: a declared unique index, not its owner-keyed twin
    /// (which would only refuse them per owner).
    pub fn unique(&self) -> bool {
        self.def.unique && !self.by_owner
    }

    fn describe(&self) -> String {
        let cols: Vec<String> = self.columns.iter().map(KeyColumn::describe).collect();
        format!(
            "{}index '{}' on ({}{})",
            if self.unique() { "unique " } else { "" },
            self.def.name,
            if self.by_owner { "owner, " } else { "" },
            cols.join(", ")
        )
    }
}

/// The columns a declared index names, resolved in the entity: `None` when one is not a field
/// of it nor an indexable system column (validation refuses such an index first).
pub fn index_columns(entity: &EntityDef, index: &crate::def::IndexDef) -> Option<Vec<KeyColumn>> {
    index
        .fields
        .iter()
        .map(|name| {
            if let Some(f) = entity.field(name.as_str()) {
                return Some(KeyColumn::Field(f.clone()));
            }
            INDEXABLE_SYSTEM
                .iter()
                .find(|(c, pipeline)| *c == name.as_str() && (!pipeline || entity.pipeline.is_some()))
                .map(|(c, _)| KeyColumn::System(c))
        })
        .collect()
}

/// The indexes an entity's declared indexes make in an app: each as declared, and with the owner
/// in front when the entity is [`owner_keyed`].
pub fn composite_indexes(app: &AppDef, entity: &EntityDef) -> Vec<CompositeIndex> {
    let by_owner = owner_keyed(app, entity);
    let mut out = Vec::new();
    for def in &entity.indexes {
        let Some(columns) = index_columns(entity, def) else {
            continue;
        };
        let owner_first = columns.first() == Some(&KeyColumn::System("owner"));
        for owner in [false, true] {
            if owner && (!by_owner || owner_first) {
                continue;
            }
            out.push(CompositeIndex {
                def: def.clone(),
                columns: columns.clone(),
                by_owner: owner,
            });
        }
    }
    out
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
    /// An index on (owner, column, id); see [`owner_keyed`].
    CreateOwnerIndex {
        entity: EntityDef,
        key: KeyColumn,
    },
    DropOwnerIndex {
        entity: EntityDef,
        key: KeyColumn,
    },
    /// A declared index on several columns ([`crate::def::IndexDef`]).
    CreateCompositeIndex {
        entity: EntityDef,
        index: CompositeIndex,
    },
    DropCompositeIndex {
        entity: EntityDef,
        index: CompositeIndex,
    },
    /// A change of names, labels or options that touches no table.
    Metadata {
        entity: Option<String>,
        field: Option<String>,
        change: String,
    },
}

/// A step as a client reads it in a plan.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StepSummary {
    /// What the step does (`create_table`, `add_column`, `change_type`, `metadata`, …).
    pub op: &'static str,
    /// The entity it changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub entity: Option<String>,
    /// The field it changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<String>,
    /// What it does, in words.
    pub detail: String,
    /// True when the step may drop data that records hold.
    pub may_lose_data: bool,
    /// The records it deletes (dropping an entity) or empties (dropping a field), counted when
    /// the plan was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub rows: Option<i64>,
}

impl Step {
    pub fn summary(&self) -> StepSummary {
        let s = |op, entity: &EntityDef, field: Option<&FieldDef>, detail: String, lossy| StepSummary {
            op,
            entity: Some(entity.name.to_string()),
            field: field.map(|f| f.name.to_string()),
            detail,
            may_lose_data: lossy,
            rows: None,
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
            Step::CreateOwnerIndex { entity, key } => s(
                "create_index",
                entity,
                key.field(),
                format!("create an index on owner and {}", key.describe()),
                false,
            ),
            Step::DropOwnerIndex { entity, key } => s(
                "drop_index",
                entity,
                key.field(),
                format!("drop the index on owner and {}", key.describe()),
                false,
            ),
            Step::CreateCompositeIndex { entity, index } => s(
                "create_index",
                entity,
                None,
                format!("create {}", index.describe()),
                false,
            ),
            Step::DropCompositeIndex { entity, index } => {
                s("drop_index", entity, None, format!("drop {}", index.describe()), false)
            }
            Step::Metadata { entity, field, change } => StepSummary {
                op: "metadata",
                entity: entity.clone(),
                field: field.clone(),
                detail: change.clone(),
                may_lose_data: false,
                rows: None,
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
        && (o.label != new.label
            || o.description != new.description
            || o.roles != new.roles
            || o.rules != new.rules
            || o.views != new.views
            || o.forms != new.forms
            || o.dashboards != new.dashboards)
    {
        steps.push(Step::Metadata {
            entity: None,
            field: None,
            change: "change the app's label, description, roles, rules, views, forms or dashboards".into(),
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
                for key in owner_keys(new, e) {
                    steps.push(Step::CreateOwnerIndex { entity: e.clone(), key });
                }
                for index in composite_indexes(new, e) {
                    steps.push(Step::CreateCompositeIndex {
                        entity: e.clone(),
                        index,
                    });
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
    if old.indexes != new.indexes {
        meta(steps, None, "change declared indexes".into());
    }
    // Owner-keyed indexes go before the columns they hold are dropped or rewritten, and come
    // back once the columns are in place.
    let (old_keys, new_keys) = (owner_keys(old_app, old), owner_keys(new_app, new));
    let same = |o: &KeyColumn, n: &KeyColumn| match (o, n) {
        (KeyColumn::System(a), KeyColumn::System(b)) => a == b,
        (KeyColumn::Field(a), KeyColumn::Field(b)) => a.id == b.id && !rewritten(old_app, new_app, a, b),
        _ => false,
    };
    for key in old_keys.iter().filter(|o| !new_keys.iter().any(|n| same(o, n))) {
        steps.push(Step::DropOwnerIndex {
            entity: new.clone(),
            key: key.clone(),
        });
    }
    let creates: Vec<KeyColumn> = new_keys
        .iter()
        .filter(|n| !old_keys.iter().any(|o| same(o, n)))
        .cloned()
        .collect();
    // Declared indexes likewise: one that changes name, columns or owner keying, or holds a
    // column that is rewritten, is dropped first and made again last.
    let (old_composite, new_composite) = (composite_indexes(old_app, old), composite_indexes(new_app, new));
    let same_index = |o: &CompositeIndex, n: &CompositeIndex| {
        o.def.name == n.def.name
            && o.by_owner == n.by_owner
            && o.unique() == n.unique()
            && o.columns.len() == n.columns.len()
            && o.columns.iter().zip(&n.columns).all(|(a, b)| same(a, b))
    };
    for index in old_composite
        .iter()
        .filter(|o| !new_composite.iter().any(|n| same_index(o, n)))
    {
        steps.push(Step::DropCompositeIndex {
            entity: new.clone(),
            index: index.clone(),
        });
    }
    let composite_creates: Vec<CompositeIndex> = new_composite
        .iter()
        .filter(|n| !old_composite.iter().any(|o| same_index(o, n)))
        .cloned()
        .collect();
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
        let convert = rewritten(old_app, new_app, o, f);
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
        // Whatever else differs (labels, options, constraints, defaults, formats) changes no
        // table but is a change all the same: it gets a step, so it is stored. A conversion
        // covers type, scale and options, an index step unique and indexed; a target names
        // the same entity unless the conversion above retargets it.
        let changed: Vec<String> = changed_properties(o, f)
            .into_iter()
            .filter(|k| match k.as_str() {
                "type" | "scale" | "options" => !convert,
                "unique" | "indexed" => old_index == new_index && !convert,
                "target" => false,
                _ => true,
            })
            .collect();
        if !changed.is_empty() {
            meta(steps, Some(f), format!("change {}", changed.join(", ")));
        }
    }
    for key in creates {
        steps.push(Step::CreateOwnerIndex {
            entity: new.clone(),
            key,
        });
    }
    for index in composite_creates {
        steps.push(Step::CreateCompositeIndex {
            entity: new.clone(),
            index,
        });
    }
}

/// The properties (as named in `field.schema.json`) whose values differ between two versions
/// of a field, other than its name and storage id.
fn changed_properties(old: &FieldDef, new: &FieldDef) -> Vec<String> {
    let (Ok(Value::Object(a)), Ok(Value::Object(b))) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        return vec!["definition".into()];
    };
    let mut keys: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| !matches!(k.as_str(), "name" | "id"))
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Whether a field change needs the column's values rewritten or re-checked (a conversion,
/// which drops the indexes that hold the column). Relations are compared by the storage id of
/// their target, so renaming an entity leaves the values of the relations pointing at it alone.
fn rewritten(old_app: &AppDef, new_app: &AppDef, o: &FieldDef, f: &FieldDef) -> bool {
    let retargeted = o.field_type == FieldType::Relation
        && f.field_type == FieldType::Relation
        && target_id(old_app, o) != target_id(new_app, f);
    needs_conversion(o, f, retargeted)
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
        // A currency field's own value (a new scale, say) is re-checked as it is.
        (Currency, Currency, Value::Object(_)) => json.clone(),
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
    use crate::def::{Label, SelectOption};
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
    fn option_and_constraint_changes_are_steps_that_name_what_changed() {
        let mut a = parse_app(&json!({"name": "s", "label": {"en": "S"}, "entities": [
            {"name": "lead", "label": {"en": "L"}, "fields": [
                {"name": "source", "label": {"en": "S"}, "type": "single_select",
                 "options": [{"value": "web", "label": {"en": "Web"}}]}]}]}))
        .unwrap();
        assign_ids(&mut a);
        let changes = |b: &AppDef| -> Vec<String> {
            plan(Some(&a), b)
                .iter()
                .map(|s| match s {
                    Step::Metadata { change, .. } => change.clone(),
                    other => other.summary().op.to_string(),
                })
                .collect()
        };
        // Added, relabelled, reordered or coloured options touch no table but are changes.
        let mut b = a.clone();
        let options = b.entities[0].fields[0].options.as_mut().unwrap();
        options.insert(
            0,
            SelectOption {
                value: "fair".into(),
                label: Label::new("展会", "Fair"),
                color: Some("orange".into()),
            },
        );
        assert_eq!(changes(&b), ["change options"]);
        let mut c = a.clone();
        c.entities[0].fields[0].required = true;
        c.entities[0].fields[0].help = Some(Label::new("来源", "Source"));
        assert_eq!(changes(&c), ["change help, required"]);
        // Removing an option re-checks the column instead.
        let mut d = b.clone();
        d.entities[0].fields[0].options.as_mut().unwrap().truncate(1);
        assert_eq!(changes(&d), ["convert_field"], "web gone: the values are re-checked");
    }

    #[test]
    fn a_currency_keeps_its_values_through_a_change_of_scale() {
        let (two, three) = (f(FieldType::Currency, Some(2)), f(FieldType::Currency, Some(3)));
        let v = two.coerce(&json!({"amount": 12.5, "currency": "USD"})).unwrap();
        let kept = convert_value(&two, &three, &v).expect("a wider scale keeps the value");
        assert_eq!(kept.to_json(&three), json!({"amount": 12.5, "currency": "USD"}));
        let fine = three.coerce(&json!({"amount": 1.125, "currency": "USD"})).unwrap();
        assert!(
            convert_value(&three, &two, &fine).is_none(),
            "a narrower one cannot hold 1.125"
        );
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

    /// (op, detail) of the steps `keep` keeps, in order.
    fn summaries(steps: &[Step], keep: impl Fn(&Step) -> bool) -> Vec<(&'static str, String)> {
        steps
            .iter()
            .filter(|s| keep(s))
            .map(|s| (s.summary().op, s.summary().detail))
            .collect()
    }

    /// Where the step of this detail is among `ops`.
    fn position(ops: &[(&str, String)], detail: &str) -> usize {
        ops.iter()
            .position(|(_, d)| d == detail)
            .unwrap_or_else(|| panic!("{detail}: {ops:?}"))
    }

    /// (op, detail) of each owner-index step, in order.
    fn owner_steps(steps: &[Step]) -> Vec<(&'static str, String)> {
        summaries(steps, |s| {
            matches!(s, Step::CreateOwnerIndex { .. } | Step::DropOwnerIndex { .. })
        })
    }

    #[test]
    fn entities_read_through_an_owner_scope_get_owner_keyed_indexes() {
        let app = |scope: &str| {
            let mut a = parse_app(&json!({"name": "s", "label": {"en": "S"}, "entities": [
                {"name": "deal", "label": {"en": "D"}, "fields": [
                    {"name": "title", "label": {"en": "T"}, "type": "text"},
                    {"name": "amount", "label": {"en": "A"}, "type": "integer", "indexed": true},
                    {"name": "code", "label": {"en": "C"}, "type": "text", "unique": true}]},
                {"name": "note", "label": {"en": "N"}}],
                "roles": [{"name": "rep", "label": {"en": "Rep"},
                           "permissions": {"deal": {"read": true, "scope": scope}, "note": {"read": true}}}]}))
            .unwrap();
            assign_ids(&mut a);
            a
        };
        let team = app("team");
        assert!(owner_keyed(&team, &team.entities[0]));
        assert!(!owner_keyed(&team, &team.entities[1]), "no scope: all rows");
        let created = owner_steps(&plan(None, &team));
        assert_eq!(
            created,
            vec![
                ("create_index", "create an index on owner and created_at".to_string()),
                ("create_index", "create an index on owner and updated_at".to_string()),
                ("create_index", "create an index on owner and stage".to_string()),
                ("create_index", "create an index on owner and 'amount'".to_string()),
                ("create_index", "create an index on owner and 'code'".to_string()),
            ]
        );
        assert!(owner_steps(&plan(None, &app("all"))).is_empty());

        // Same ids, other scope: team → own keeps them; own → all drops them; all → team makes them.
        let mut own = team.clone();
        own.roles[0]
            .permissions
            .as_mut()
            .unwrap()
            .get_mut("deal")
            .unwrap()
            .scope = Some(crate::permissions::ScopeDef::Named(crate::permissions::NamedScope::Own));
        assert!(owner_steps(&plan(Some(&team), &own)).is_empty());
        let mut all = team.clone();
        all.roles[0]
            .permissions
            .as_mut()
            .unwrap()
            .get_mut("deal")
            .unwrap()
            .scope = None;
        let dropped = owner_steps(&plan(Some(&own), &all));
        assert_eq!(dropped.len(), 5);
        assert!(dropped.iter().all(|(op, _)| *op == "drop_index"), "{dropped:?}");
        assert_eq!(owner_steps(&plan(Some(&all), &team)).len(), 5);

        // A dropped field's owner index goes before its column; a converted field's is made
        // again after the conversion; a new indexed field gets one after its column.
        let mut b = team.clone();
        b.entities[0].fields.retain(|f| f.name.as_str() != "code");
        b.entities[0].fields[1].field_type = FieldType::Decimal;
        let mut extra = FieldDef::new("region", Label::new("r", "r"), FieldType::Text);
        extra.indexed = true;
        b.entities[0].fields.push(extra);
        assign_ids(&mut b);
        let ops = summaries(&plan(Some(&team), &b), |_| true);
        let at = |detail: &str| position(&ops, detail);
        assert!(at("drop the index on owner and 'code'") < at("drop field 'code' and its values"));
        assert!(at("drop the index on owner and 'amount'") < at("convert 'amount' from integer to decimal (scale 2)"));
        assert!(at("convert 'amount' from integer to decimal (scale 2)") < at("create an index on owner and 'amount'"));
        assert!(at("add text field 'region'") < at("create an index on owner and 'region'"));
        assert_eq!(owner_steps(&plan(Some(&team), &b)).len(), 4, "{ops:?}");
        assert!(owner_steps(&plan(Some(&b), &b)).is_empty());
    }

    /// The plan's steps that touch declared indexes, as (op, detail).
    fn composite_steps(steps: &[Step]) -> Vec<(&'static str, String)> {
        summaries(steps, |s| {
            matches!(s, Step::CreateCompositeIndex { .. } | Step::DropCompositeIndex { .. })
        })
    }

    #[test]
    fn declared_indexes_follow_their_fields_and_the_owner_scope() {
        let app = |scope: &str| {
            let mut a = parse_app(&json!({"name": "s", "label": {"en": "S"}, "entities": [
                {"name": "deal", "label": {"en": "D"}, "fields": [
                    {"name": "phase", "label": {"en": "P"}, "type": "text"},
                    {"name": "amount", "label": {"en": "A"}, "type": "integer"}],
                 "pipeline": {"stages": [{"key": "a", "label": {"en": "A"}}]},
                 "indexes": [{"name": "board", "fields": ["phase", "amount"]},
                             {"name": "due", "fields": ["stage", "stage_due_at"]},
                             {"name": "mine", "fields": ["owner", "updated_at"]}]}],
                "roles": [{"name": "rep", "label": {"en": "Rep"},
                           "permissions": {"deal": {"read": true, "scope": scope}}}]}))
            .unwrap();
            assign_ids(&mut a);
            a
        };
        let all = app("all");
        assert_eq!(
            composite_steps(&plan(None, &all)),
            vec![
                (
                    "create_index",
                    "create index 'board' on ('phase', 'amount')".to_string()
                ),
                (
                    "create_index",
                    "create index 'due' on (stage, stage_due_at)".to_string()
                ),
                ("create_index", "create index 'mine' on (owner, updated_at)".to_string()),
            ]
        );
        // Read through a team scope: each again with the owner in front, but for the one that
        // starts with it.
        let mut team = all.clone();
        team.roles = app("team").roles;
        assert_eq!(
            composite_steps(&plan(Some(&all), &team)),
            vec![
                (
                    "create_index",
                    "create index 'board' on (owner, 'phase', 'amount')".to_string()
                ),
                (
                    "create_index",
                    "create index 'due' on (owner, stage, stage_due_at)".to_string()
                ),
            ]
        );
        assert!(composite_steps(&plan(Some(&team), &team)).is_empty());

        // A renamed field leaves its indexes alone; reordered columns, a converted column or a
        // dropped index are dropped first and made again (or not) after the columns change.
        let mut renamed = team.clone();
        renamed.entities[0].fields[0].name = crate::names::Slug::parse("step").unwrap();
        renamed.entities[0].indexes[0].fields[0] = crate::names::Slug::parse("step").unwrap();
        let steps = plan(Some(&team), &renamed);
        assert!(composite_steps(&steps).is_empty(), "{:?}", composite_steps(&steps));
        assert!(steps.iter().any(|s| s.summary().detail == "change declared indexes"));

        let mut changed = team.clone();
        changed.entities[0].fields[1].field_type = FieldType::Decimal;
        changed.entities[0].indexes[1].fields.reverse();
        changed.entities[0].indexes.remove(2);
        let ops = summaries(&plan(Some(&team), &changed), |_| true);
        let at = |detail: &str| position(&ops, detail);
        let convert = at("convert 'amount' from integer to decimal (scale 2)");
        for owner in ["", "owner, "] {
            assert!(at(&format!("drop index 'board' on ({owner}'phase', 'amount')")) < convert);
            assert!(convert < at(&format!("create index 'board' on ({owner}'phase', 'amount')")));
            assert!(at(&format!("drop index 'due' on ({owner}stage, stage_due_at)")) < convert);
            assert!(convert < at(&format!("create index 'due' on ({owner}stage_due_at, stage)")));
        }
        assert!(ops.contains(&("drop_index", "drop index 'mine' on (owner, updated_at)".to_string())));

        // Made unique: the index again, its owner-keyed twin (plain either way) left alone.
        let mut unique = team.clone();
        unique.entities[0].indexes[0].unique = true;
        assert_eq!(
            composite_steps(&plan(Some(&team), &unique)),
            vec![
                ("drop_index", "drop index 'board' on ('phase', 'amount')".to_string()),
                (
                    "create_index",
                    "create unique index 'board' on ('phase', 'amount')".to_string()
                ),
            ]
        );
        assert_eq!(composite_steps(&plan(Some(&team), &changed)).len(), 9, "{ops:?}");
    }
}
