//! Definitions as users write them: apps, entities, fields. Stored as versioned JSON, validated
//! against `schemas/` and by [`crate::validate`] before they are accepted.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::names::{Slug, StorageId};

/// A label in both of the platform's languages; at least one is given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct Label {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, min_length = 1, max_length = 200)]
    pub zh: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, min_length = 1, max_length = 200)]
    pub en: Option<String>,
}

impl Label {
    pub fn new(zh: &str, en: &str) -> Label {
        Label {
            zh: Some(zh.to_string()),
            en: Some(en.to_string()),
        }
    }
    /// The English label, else the Chinese one, else the fallback.
    pub fn display<'a>(&'a self, fallback: &'a str) -> &'a str {
        self.en.as_deref().or(self.zh.as_deref()).unwrap_or(fallback)
    }
}

/// An app: a named set of entities with their pipelines, roles, rules, views and dashboards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppDef {
    pub name: Slug,
    pub label: Label,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub description: Option<Label>,
    #[serde(default)]
    #[schema(max_items = 300)]
    pub entities: Vec<EntityDef>,
    /// The app's roles; users are made members per app. Pipelines name them (who may move a
    /// record, who approves, who owns an SLA).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 100)]
    pub roles: Vec<RoleDef>,
    /// Automation rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 500)]
    pub rules: Vec<crate::automation::RuleDef>,
    /// Shared views of the entities' records (`view.schema.json`); at most one default per
    /// entity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 200)]
    pub views: Vec<crate::view::ViewDef>,
    /// Layouts of the entities' record forms (`form.schema.json`); at most one default per
    /// entity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 200)]
    pub forms: Vec<crate::form::FormDef>,
    /// Dashboards (`dashboard.schema.json`): widgets bound to report queries, global filters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 100)]
    pub dashboards: Vec<crate::dashboard::DashboardDef>,
}

/// A role of an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleDef {
    /// Stable id of the element in the app package it came from: it survives renames, and
    /// package upgrades match elements by it ([`crate::package`]). None on elements made in
    /// the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub key: Option<Slug>,
    pub name: Slug,
    pub label: Label,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub description: Option<Label>,
    /// What the role may do per entity (`crate::permissions`). An app where no role has
    /// permissions is open to every user of the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub permissions: Option<std::collections::BTreeMap<String, crate::permissions::EntityPermissions>>,
    /// The rules the role may test and run on records it reads (`crate::permissions::RunRules`).
    #[serde(default, skip_serializing_if = "crate::permissions::RunRules::is_none")]
    pub run_rules: crate::permissions::RunRules,
}

impl AppDef {
    pub fn rule(&self, name: &str) -> Option<&crate::automation::RuleDef> {
        self.rules.iter().find(|r| r.name.as_str() == name)
    }
    pub fn view(&self, name: &str) -> Option<&crate::view::ViewDef> {
        self.views.iter().find(|v| v.name.as_str() == name)
    }
    pub fn role(&self, name: &str) -> Option<&RoleDef> {
        self.roles.iter().find(|r| r.name.as_str() == name)
    }
    pub fn entity(&self, name: &str) -> Option<&EntityDef> {
        self.entities.iter().find(|e| e.name.as_str() == name)
    }
    pub fn entity_mut(&mut self, name: &str) -> Option<&mut EntityDef> {
        self.entities.iter_mut().find(|e| e.name.as_str() == name)
    }
}

/// An entity: a kind of record, stored in its own table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntityDef {
    /// Stable storage id; the table name derives from it. Assigned by the server when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub id: Option<StorageId>,
    /// Stable id of the element in the app package it came from: it survives renames, and
    /// package upgrades match elements by it ([`crate::package`]). None on elements made in
    /// the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub key: Option<Slug>,
    pub name: Slug,
    pub label: Label,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub description: Option<Label>,
    /// The field shown as the record's title (in lists and relation pickers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub title_field: Option<Slug>,
    #[serde(default)]
    #[schema(max_items = 500)]
    pub fields: Vec<FieldDef>,
    /// Rules every write must pass (Rhai), all reported together when they fail.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 100)]
    pub validations: Vec<ValidationRule>,
    /// Stages, transitions, approvals and SLAs; records of an entity with a pipeline have a
    /// `stage` changed only by transitions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub pipeline: Option<crate::pipeline::PipelineDef>,
    /// Indexes on several columns, for the lists an app filters and sorts by most (a board's
    /// stage and amount, a store's day): see [`IndexDef`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 16)]
    pub indexes: Vec<IndexDef>,
}

/// An index on several columns of an entity's table, in order, then the id: a list whose filter
/// fixes the leading columns by equality and ranges over or sorts by the next one reads only its
/// page's rows. Fields and the system columns of [`crate::plan::INDEXABLE_SYSTEM`] may be named.
/// An entity read through an owner scope gets the same index with the owner in front.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IndexDef {
    /// Stable name within the entity, at most [`crate::plan::MAX_INDEX_NAME`] characters.
    #[schema(value_type = String, pattern = "^[a-z][a-z0-9_]{0,29}$")]
    pub name: Slug,
    /// Fields of the entity, or `created_at`, `updated_at`, `created_by`, `owner`, and with a
    /// pipeline `stage`, `stage_entered_at`, `stage_due_at`.
    #[schema(min_items = 1, max_items = 5)]
    pub fields: Vec<Slug>,
    /// No two records may hold the same values in all its fields (records with an empty one
    /// are not compared). Fields only, no system columns.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unique: bool,
}

/// A validation rule: when `when` holds (or always), `assert` must hold, else `message`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidationRule {
    /// Stable name; the error code of a failure.
    pub name: Slug,
    /// Condition (Rhai) under which the rule applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, min_length = 1, max_length = 4000)]
    pub when: Option<String>,
    /// Condition (Rhai) that must be true.
    #[schema(min_length = 1, max_length = 4000)]
    pub assert: String,
    pub message: Label,
    /// The field the failure is reported on (none: the record as a whole).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<Slug>,
}

impl EntityDef {
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name.as_str() == name)
    }
    pub fn field_mut(&mut self, name: &str) -> Option<&mut FieldDef> {
        self.fields.iter_mut().find(|f| f.name.as_str() == name)
    }
    /// The storage id; definitions that passed [`crate::validate`] always have one.
    pub fn storage_id(&self) -> &StorageId {
        self.id.as_ref().expect("entity id is assigned before validation")
    }
}

/// The type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    LongText,
    Integer,
    Decimal,
    Currency,
    Percent,
    Boolean,
    Date,
    Datetime,
    Email,
    Phone,
    Url,
    SingleSelect,
    MultiSelect,
    Relation,
    User,
    Json,
    AutoNumber,
    /// Uploaded files (ids of `/files`), stored with their metadata.
    Attachment,
}

impl FieldType {
    pub const ALL: [FieldType; 19] = [
        FieldType::Text,
        FieldType::LongText,
        FieldType::Integer,
        FieldType::Decimal,
        FieldType::Currency,
        FieldType::Percent,
        FieldType::Boolean,
        FieldType::Date,
        FieldType::Datetime,
        FieldType::Email,
        FieldType::Phone,
        FieldType::Url,
        FieldType::SingleSelect,
        FieldType::MultiSelect,
        FieldType::Relation,
        FieldType::User,
        FieldType::Json,
        FieldType::AutoNumber,
        FieldType::Attachment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::LongText => "long_text",
            FieldType::Integer => "integer",
            FieldType::Decimal => "decimal",
            FieldType::Currency => "currency",
            FieldType::Percent => "percent",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::Email => "email",
            FieldType::Phone => "phone",
            FieldType::Url => "url",
            FieldType::SingleSelect => "single_select",
            FieldType::MultiSelect => "multi_select",
            FieldType::Relation => "relation",
            FieldType::User => "user",
            FieldType::Json => "json",
            FieldType::AutoNumber => "auto_number",
            FieldType::Attachment => "attachment",
        }
    }

    /// Types stored as exact fixed-point numbers (minor units in a BIGINT column).
    pub fn is_fixed_point(self) -> bool {
        matches!(self, FieldType::Decimal | FieldType::Currency | FieldType::Percent)
    }

    /// Types whose values are strings in a text column (searchable with `q`, `contains`).
    pub fn is_textual(self) -> bool {
        matches!(
            self,
            FieldType::Text
                | FieldType::LongText
                | FieldType::Email
                | FieldType::Phone
                | FieldType::Url
                | FieldType::SingleSelect
                | FieldType::AutoNumber
        )
    }

    /// Types whose column holds JSON.
    pub fn is_json(self) -> bool {
        matches!(self, FieldType::MultiSelect | FieldType::Json | FieldType::Attachment)
    }

    /// The storage class: two types of one class share a column type, so a change between them
    /// needs no data conversion.
    pub fn storage_class(self) -> StorageClass {
        match self {
            FieldType::Text
            | FieldType::LongText
            | FieldType::Email
            | FieldType::Phone
            | FieldType::Url
            | FieldType::SingleSelect
            | FieldType::AutoNumber
            | FieldType::Relation
            | FieldType::User => StorageClass::Text,
            FieldType::Integer => StorageClass::Integer,
            FieldType::Decimal | FieldType::Percent | FieldType::Currency => StorageClass::FixedPoint,
            FieldType::Boolean => StorageClass::Boolean,
            FieldType::Date => StorageClass::Date,
            FieldType::Datetime => StorageClass::Datetime,
            FieldType::MultiSelect | FieldType::Json | FieldType::Attachment => StorageClass::Json,
        }
    }
}

/// How a field's value is kept in its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StorageClass {
    Text,
    Integer,
    FixedPoint,
    Boolean,
    Date,
    Datetime,
    Json,
}

/// One choice of a single_select or multi_select field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectOption {
    #[schema(min_length = 1, max_length = 100)]
    pub value: String,
    pub label: Label,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, max_length = 32)]
    pub color: Option<String>,
}

/// A field of an entity. Options that do not apply to the type are refused by validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// Stable storage id; the column name derives from it. Assigned by the server when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub id: Option<StorageId>,
    /// Stable id of the element in the app package it came from: it survives renames, and
    /// package upgrades match elements by it ([`crate::package`]). None on elements made in
    /// the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub key: Option<Slug>,
    pub name: Slug,
    pub label: Label,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub unique: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub indexed: bool,
    /// Value given to a new record that leaves the field out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub default: Option<Value>,
    /// Lower bound: a number, or for date/datetime an ISO date/time string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, schema_with = number_or_string)]
    pub min: Option<Value>,
    /// Upper bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, schema_with = number_or_string)]
    pub max: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 0, maximum = 1000000)]
    pub min_length: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 1, maximum = 1000000)]
    pub max_length: Option<u32>,
    /// A regular expression the whole text must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, min_length = 1, max_length = 500)]
    pub pattern: Option<String>,
    /// Digits after the decimal point of decimal, currency and percent (0–6, default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 0, maximum = 6)]
    pub scale: Option<u8>,
    /// Default ISO 4217 code of a currency field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, pattern = "^[A-Z]{3}$")]
    pub currency: Option<String>,
    /// Choices of a single_select or multi_select.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, min_items = 1, max_items = 500)]
    pub options: Option<Vec<SelectOption>>,
    /// Target entity of a relation (N:1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub target: Option<Slug>,
    /// Pattern of an auto_number, e.g. `DL-{YYYY}-{00000}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, min_length = 1, max_length = 100)]
    pub format: Option<String>,
    /// Content types an attachment field takes (`application/pdf`, `image/*`); none: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, schema_with = accept_schema)]
    pub accept: Option<Vec<String>>,
    /// Most files an attachment field holds (1–100, default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 1, maximum = 100)]
    pub max_files: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub help: Option<Label>,
    /// When the field is required: a Rhai condition (`record.phase == "confirmed"`) or a
    /// filter-language condition on the record as written (`crate::condition`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub required_if: Option<crate::condition::RequiredIf>,
    /// A filter-language condition under which the field is shown in forms; while it is false
    /// the field is not required (`crate::condition`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = crate::condition::ConditionSchema)]
    pub visible_if: Option<Value>,
    /// Expression (Rhai) that computes the field on every write, e.g.
    /// `record.amount * record.probability / 100`. The field's type says how the value is
    /// stored, so it can be filtered, sorted and aggregated; clients cannot set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, min_length = 1, max_length = 4000)]
    pub formula: Option<String>,
    /// An aggregate over the records of another entity that point at this one, kept current
    /// when they change (e.g. a customer's total won amount).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub rollup: Option<Rollup>,
}

/// Aggregate functions of a rollup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RollupFn {
    Count,
    Sum,
    Avg,
    Min,
    Max,
}

impl RollupFn {
    /// The word a definition writes (`"fn": "sum"`).
    pub fn as_str(self) -> &'static str {
        match self {
            RollupFn::Count => "count",
            RollupFn::Sum => "sum",
            RollupFn::Avg => "avg",
            RollupFn::Min => "min",
            RollupFn::Max => "max",
        }
    }
}

/// `fn` of `field` over the records of `from` whose relation `via` points at this record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rollup {
    pub from: Slug,
    pub via: Slug,
    #[serde(rename = "fn")]
    pub func: RollupFn,
    /// The aggregated field (none for count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<Slug>,
    /// Only records of `from` matching this filter (the list filter JSON) count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = Object)]
    pub filter: Option<serde_json::Value>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A bound of a field: a number, or an ISO date or date-time.
fn number_or_string() -> utoipa::openapi::schema::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            utoipa::openapi::schema::Type::Number,
            utoipa::openapi::schema::Type::String,
        ]))
        .build()
}

/// What `accept` holds: distinct content types (`image/*` allowed).
fn accept_schema() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(
            utoipa::openapi::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String)
                .pattern(Some(
                    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/([A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}|\*)$",
                )),
        )
        .min_items(Some(1))
        .max_items(Some(50))
        .unique_items(true)
        .build()
}

/// Most files an attachment field may hold, whatever its `max_files`.
pub const MAX_FILES: u32 = 100;

/// Largest scale of fixed-point fields; keeps every amount below 2^53 minor units exact in JSON.
pub const MAX_SCALE: u8 = 6;

impl FieldDef {
    /// A field with no options, for building definitions in code and tests.
    pub fn new(name: &str, label: Label, field_type: FieldType) -> FieldDef {
        FieldDef {
            id: None,
            key: None,
            name: Slug::parse(name).expect("valid field name"),
            label,
            field_type,
            required: false,
            unique: false,
            indexed: false,
            default: None,
            min: None,
            max: None,
            min_length: None,
            max_length: None,
            pattern: None,
            scale: None,
            currency: None,
            options: None,
            target: None,
            format: None,
            accept: None,
            max_files: None,
            help: None,
            required_if: None,
            visible_if: None,
            formula: None,
            rollup: None,
        }
    }

    pub fn storage_id(&self) -> &StorageId {
        self.id.as_ref().expect("field id is assigned before validation")
    }

    /// The scale of a fixed-point field (default 2).
    pub fn scale(&self) -> u8 {
        self.scale.unwrap_or(2)
    }
}

/// The OpenAPI schemas of the definition types agree with `schemas/*.schema.json`, which stay
/// the validation source of truth: the same properties, the same required ones, and the same
/// bounds, patterns and choices where the JSON Schema gives them.
#[cfg(test)]
mod schema_agreement {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::Value;
    use utoipa::{PartialSchema, ToSchema};

    const KEYWORDS: [&str; 9] = [
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "pattern",
        "minItems",
        "maxItems",
        "minProperties",
        "uniqueItems",
    ];

    /// Bounds the OpenAPI schema leaves out because answers go below them: a member whose
    /// roles hide a field reads a guard naming it with an empty `assert`.
    const ANSWERED_LOOSER: [(&str, &str); 1] = [(
        "pipeline.schema.json.transitions[].requires.conditions[].assert",
        "minLength",
    )];

    /// A type's schema with its components, `$ref`s and single-choice wrappers resolved.
    struct Doc {
        components: BTreeMap<String, Value>,
    }

    impl Doc {
        fn of<T: ToSchema>() -> (Doc, Value) {
            let mut list = Vec::new();
            <T as ToSchema>::schemas(&mut list);
            let mut components: BTreeMap<String, Value> = list
                .into_iter()
                .map(|(n, s)| (n, serde_json::to_value(s).unwrap()))
                .collect();
            components.insert(T::name().into(), serde_json::to_value(T::schema()).unwrap());
            let root = components[T::name().as_ref()].clone();
            (Doc { components }, root)
        }

        fn resolve(&self, v: &Value) -> Value {
            let mut v = v.clone();
            loop {
                if let Some(r) = v.get("$ref").and_then(Value::as_str) {
                    let name = r.rsplit('/').next().unwrap();
                    v = self
                        .components
                        .get(name)
                        .unwrap_or_else(|| panic!("no component {name}"))
                        .clone();
                    continue;
                }
                let one = ["oneOf", "allOf", "anyOf"].iter().find_map(|k| {
                    let items: Vec<&Value> = v.get(*k)?.as_array()?.iter().filter(|i| i["type"] != "null").collect();
                    (items.len() == 1).then(|| items[0].clone())
                });
                match one {
                    Some(inner) => v = inner,
                    None => return v,
                }
            }
        }
    }

    /// A JSON Schema of `schemas/` with its `$defs` and the other files' refs resolved.
    fn json_schema(file: &str) -> Value {
        crate::schema::SCHEMAS
            .iter()
            .find(|(n, _)| *n == file)
            .map(|(_, s)| serde_json::from_str(s).unwrap())
            .unwrap()
    }

    fn resolve_json(root: &Value, v: &Value) -> Value {
        let mut v = v.clone();
        while let Some(r) = v.get("$ref").and_then(Value::as_str) {
            v = match r.strip_prefix("#/$defs/") {
                Some(name) => root["$defs"][name].clone(),
                None => json_schema(r),
            };
        }
        v
    }

    fn keys(v: &Value, k: &str) -> BTreeSet<String> {
        match v.get(k) {
            Some(Value::Object(o)) => o.keys().cloned().collect(),
            Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
            _ => BTreeSet::new(),
        }
    }

    /// Compares one object schema with its JSON Schema, `depth` levels of properties down.
    fn agree(doc: &Doc, ours: &Value, root: &Value, theirs: &Value, at: &str, depth: usize) {
        let ours = doc.resolve(ours);
        let theirs = resolve_json(root, theirs);
        for k in KEYWORDS {
            if ANSWERED_LOOSER.contains(&(at, k)) {
                continue;
            }
            if let Some(want) = theirs.get(k) {
                let got = ours.get(k);
                let same = got.is_some_and(|g| g == want || (g.as_f64().is_some() && g.as_f64() == want.as_f64()));
                assert!(
                    same,
                    "{at}: {k} is {want} in the JSON Schema, {got:?} in the OpenAPI schema"
                );
            }
        }
        if let Some(want) = theirs.get("enum") {
            assert_eq!(
                keys(&ours, "enum"),
                keys(&theirs, "enum"),
                "{at}: choices differ ({want})"
            );
        }
        if theirs.get("properties").is_some() {
            assert_eq!(
                keys(&ours, "properties"),
                keys(&theirs, "properties"),
                "{at}: properties differ"
            );
            assert_eq!(
                keys(&ours, "required"),
                keys(&theirs, "required"),
                "{at}: required properties differ"
            );
            assert_eq!(
                ours.get("additionalProperties"),
                theirs.get("additionalProperties"),
                "{at}: additionalProperties differ"
            );
            if depth > 0 {
                for (name, t) in theirs["properties"].as_object().unwrap() {
                    agree(
                        doc,
                        &ours["properties"][name],
                        root,
                        t,
                        &format!("{at}.{name}"),
                        depth - 1,
                    );
                }
            }
        }
        if let (Some(o), Some(t)) = (ours.get("items"), theirs.get("items"))
            && depth > 0
        {
            agree(doc, o, root, t, &format!("{at}[]"), depth - 1);
        }
    }

    fn check<T: ToSchema>(file: &str, depth: usize) {
        let (doc, ours) = Doc::of::<T>();
        let theirs = json_schema(file);
        agree(&doc, &ours, &theirs, &theirs, file, depth);
    }

    #[test]
    fn field_def_agrees_with_field_schema() {
        check::<super::FieldDef>("field.schema.json", 3);
    }

    #[test]
    fn label_agrees_with_label_schema() {
        check::<super::Label>("label.schema.json", 1);
    }

    #[test]
    fn entity_def_agrees_with_entity_schema() {
        check::<super::EntityDef>("entity.schema.json", 3);
    }

    #[test]
    fn app_def_agrees_with_app_schema() {
        check::<super::AppDef>("app.schema.json", 1);
    }

    #[test]
    fn pipeline_def_agrees_with_pipeline_schema() {
        check::<crate::pipeline::PipelineDef>("pipeline.schema.json", 4);
    }

    #[test]
    fn rule_def_agrees_with_rule_schema() {
        check::<crate::automation::RuleDef>("rule.schema.json", 0);
    }

    #[test]
    fn view_def_agrees_with_view_schema() {
        check::<crate::view::ViewDef>("view.schema.json", 3);
    }

    #[test]
    fn form_def_agrees_with_form_schema() {
        check::<crate::form::FormDef>("form.schema.json", 4);
    }

    #[test]
    fn dashboard_def_agrees_with_dashboard_schema() {
        check::<crate::dashboard::DashboardDef>("dashboard.schema.json", 3);
    }

    #[test]
    fn calendar_def_agrees_with_calendar_schema() {
        check::<crate::calendar::CalendarDef>("calendar.schema.json", 3);
    }

    #[test]
    fn names_have_the_schemas_pattern() {
        let slug = serde_json::to_value(crate::Slug::schema()).unwrap();
        assert_eq!(
            slug["pattern"],
            json_schema("field.schema.json")["$defs"]["slug"]["pattern"]
        );
        let id = serde_json::to_value(crate::StorageId::schema()).unwrap();
        assert_eq!(
            id["pattern"],
            json_schema("field.schema.json")["properties"]["id"]["pattern"]
        );
    }
}
