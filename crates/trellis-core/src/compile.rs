//! A validated app turned into what requests need: table and column names, compiled regexes,
//! typed bounds, option sets, reverse relations. Built once per app version, shared read-only.

use std::collections::HashMap;
use std::sync::Arc;

use regex::Regex;

use crate::def::{AppDef, EntityDef, FieldDef, FieldType, MAX_FILES};
use crate::names::{Slug, StorageId};
use crate::value::Val;

/// Table of an entity: derived from its storage id, never from a label or name.
pub fn table_name(entity: &StorageId) -> String {
    format!("rec_{entity}")
}

/// Column of a field: derived from its storage id.
pub fn column_name(field: &StorageId) -> String {
    format!("f_{field}")
}

/// Second column of a currency field, holding the ISO code.
pub fn currency_column_name(field: &StorageId) -> String {
    format!("f_{field}_cur")
}

/// The columns every entity table has, with the type their values take in filters and answers.
pub const SYSTEM_COLUMNS: &[(&str, FieldType)] = &[
    ("id", FieldType::Relation),
    ("created_at", FieldType::Datetime),
    ("updated_at", FieldType::Datetime),
    ("created_by", FieldType::User),
    ("owner", FieldType::User),
    ("version", FieldType::Integer),
];

/// The columns of an entity with a pipeline: its stage, when it entered it, when the stage's SLA
/// is due and when it was breached, and the stage a pending approval would move it to. Every
/// table has them; only entities with a pipeline answer them.
pub const PIPELINE_COLUMNS: &[(&str, FieldType)] = &[
    ("stage", FieldType::SingleSelect),
    ("stage_entered_at", FieldType::Datetime),
    ("stage_due_at", FieldType::Datetime),
    ("stage_breached_at", FieldType::Datetime),
    ("pending_stage", FieldType::SingleSelect),
];

/// An app ready for requests.
#[derive(Debug)]
pub struct CompiledApp {
    pub def: AppDef,
    pub version: i64,
    pub entities: HashMap<String, Arc<CompiledEntity>>,
}

impl CompiledApp {
    /// Compiles a definition that passed [`crate::validate::validate_app`].
    pub fn compile(def: AppDef, version: i64) -> CompiledApp {
        let mut entities: HashMap<String, CompiledEntity> = def
            .entities
            .iter()
            .map(|e| (e.name.to_string(), CompiledEntity::compile(e).at_version(version)))
            .collect();
        // Reverse relations: which fields point at each entity (for delete checks, later rollups).
        for e in &def.entities {
            for f in e.fields.iter().filter(|f| f.field_type == FieldType::Relation) {
                let target = f.target.as_ref().expect("validated relation has a target").to_string();
                let source = (e.name.clone(), f.name.clone());
                if let Some(t) = entities.get_mut(&target) {
                    t.incoming.push(source);
                }
            }
        }
        for e in &def.entities {
            for f in &e.fields {
                if let Some(r) = &f.rollup
                    && let Some(child) = entities.get_mut(r.from.as_str())
                {
                    // Validated at save: the filter parses against the aggregated entity.
                    let filter = r
                        .filter
                        .as_ref()
                        .and_then(|v| crate::query::parse_filter(child, v).ok());
                    child.rollups_over.push(RollupDep {
                        filter,
                        parent: e.name.to_string(),
                        parent_field: f.name.to_string(),
                        via: r.via.to_string(),
                        func: r.func,
                        field: r.field.as_ref().map(|x| x.to_string()),
                    });
                }
            }
        }
        let entities = entities.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
        CompiledApp { def, version, entities }
    }

    pub fn entity(&self, name: &str) -> Option<&Arc<CompiledEntity>> {
        self.entities.get(name)
    }
}

/// An entity ready for requests.
#[derive(Debug)]
pub struct CompiledEntity {
    pub def: EntityDef,
    pub table: String,
    /// The app version this was compiled from. Read queries alias their columns with it, so a
    /// schema change also changes the statement text and no cached statement outlives it.
    pub version: i64,
    /// System columns first, then the user's fields in definition order.
    pub columns: Vec<CompiledField>,
    by_name: HashMap<String, usize>,
    /// (entity, field) pairs of relation fields that point at this entity.
    pub incoming: Vec<(Slug, Slug)>,
    /// Rollups of other entities that aggregate this entity's records.
    pub rollups_over: Vec<RollupDep>,
}

/// A rollup that aggregates an entity's records into a field of the record they point at.
#[derive(Debug, Clone)]
pub struct RollupDep {
    /// The entity and field holding the rollup.
    pub parent: String,
    pub parent_field: String,
    /// The relation field of the aggregated entity that points at the parent.
    pub via: String,
    pub func: crate::def::RollupFn,
    /// The aggregated field of this entity (none for count).
    pub field: Option<String>,
    /// Only records matching this filter count.
    pub filter: Option<crate::query::Filter>,
}

impl CompiledEntity {
    pub fn compile(def: &EntityDef) -> CompiledEntity {
        let mut columns: Vec<CompiledField> = SYSTEM_COLUMNS
            .iter()
            .map(|(name, kind)| CompiledField::system(name, *kind))
            .collect();
        if let Some(p) = &def.pipeline {
            let keys: Vec<String> = p.stages.iter().map(|s| s.key.to_string()).collect();
            for (name, kind) in PIPELINE_COLUMNS {
                let mut c = CompiledField::system(name, *kind);
                if *kind == FieldType::SingleSelect {
                    c.options = keys.clone();
                }
                columns.push(c);
            }
        }
        columns.extend(def.fields.iter().map(CompiledField::compile));
        let by_name = columns.iter().enumerate().map(|(i, c)| (c.name.clone(), i)).collect();
        CompiledEntity {
            def: def.clone(),
            table: table_name(def.storage_id()),
            version: 0,
            columns,
            by_name,
            incoming: Vec::new(),
            rollups_over: Vec::new(),
        }
    }

    fn at_version(mut self, version: i64) -> CompiledEntity {
        self.version = version;
        self
    }

    /// The same entity without some of its fields: what a caller who may not see them reads,
    /// filters, sorts and searches (permissions' hidden fields).
    pub fn without(&self, hidden: &std::collections::HashSet<String>) -> CompiledEntity {
        let columns: Vec<CompiledField> = self
            .columns
            .iter()
            .filter(|c| c.system || !hidden.contains(&c.name))
            .cloned()
            .collect();
        let by_name = columns.iter().enumerate().map(|(i, c)| (c.name.clone(), i)).collect();
        CompiledEntity {
            def: self.def.clone(),
            table: self.table.clone(),
            version: self.version,
            columns,
            by_name,
            incoming: self.incoming.clone(),
            rollups_over: self.rollups_over.clone(),
        }
    }

    /// A column (system or user field) by its API name.
    pub fn column(&self, name: &str) -> Option<&CompiledField> {
        self.by_name.get(name).map(|i| &self.columns[*i])
    }

    /// The user's fields (no system columns).
    pub fn fields(&self) -> impl Iterator<Item = &CompiledField> {
        self.columns.iter().filter(|c| !c.system)
    }

    pub fn name(&self) -> &str {
        self.def.name.as_str()
    }
}

/// A column with everything needed to coerce, check, store and answer its values.
#[derive(Debug, Clone)]
pub struct CompiledField {
    pub name: String,
    pub kind: FieldType,
    pub column: String,
    pub currency_column: Option<String>,
    pub system: bool,
    pub required: bool,
    pub unique: bool,
    pub scale: u8,
    pub default_currency: Option<String>,
    pub regex: Option<Regex>,
    pub min: Option<Val>,
    pub max: Option<Val>,
    pub min_length: Option<u32>,
    pub max_length: Option<u32>,
    pub options: Vec<String>,
    pub target: Option<String>,
    pub default: Option<serde_json::Value>,
    pub format: Option<String>,
    /// Content types an attachment takes, lowercased (`image/*` takes every image); empty: any.
    pub accept: Vec<String>,
    /// Most files an attachment holds.
    pub max_files: u32,
    /// Computed by a formula: read-only for clients.
    pub computed: bool,
}

impl CompiledField {
    fn system(name: &str, kind: FieldType) -> CompiledField {
        CompiledField {
            name: name.to_string(),
            kind,
            column: name.to_string(),
            currency_column: None,
            system: true,
            required: false,
            unique: name == "id",
            scale: 0,
            default_currency: None,
            regex: None,
            min: None,
            max: None,
            min_length: None,
            max_length: None,
            options: Vec::new(),
            target: None,
            default: None,
            format: None,
            accept: Vec::new(),
            max_files: MAX_FILES,
            computed: false,
        }
    }

    pub fn compile(f: &FieldDef) -> CompiledField {
        let id = f.storage_id();
        let mut c = CompiledField {
            name: f.name.to_string(),
            kind: f.field_type,
            column: column_name(id),
            currency_column: (f.field_type == FieldType::Currency).then(|| currency_column_name(id)),
            system: false,
            required: f.required,
            unique: f.unique,
            scale: if f.field_type.is_fixed_point() { f.scale() } else { 0 },
            default_currency: f.currency.clone(),
            regex: f
                .pattern
                .as_deref()
                .and_then(|p| Regex::new(&format!("^(?:{p})$")).ok()),
            min: None,
            max: None,
            min_length: f.min_length,
            max_length: f.max_length,
            options: f.options.iter().flatten().map(|o| o.value.clone()).collect(),
            target: f.target.as_ref().map(|t| t.to_string()),
            default: f.default.clone(),
            format: f.format.clone(),
            accept: f.accept.iter().flatten().map(|a| a.to_ascii_lowercase()).collect(),
            max_files: f.max_files.unwrap_or(MAX_FILES).min(MAX_FILES),
            computed: f.formula.is_some() || f.rollup.is_some(),
        };
        // Bounds are validated definitions: parse them with the field's own coercion.
        c.min = f.min.as_ref().and_then(|v| c.coerce_bound(v));
        c.max = f.max.as_ref().and_then(|v| c.coerce_bound(v));
        c
    }

    fn coerce_bound(&self, v: &serde_json::Value) -> Option<Val> {
        let mut plain = self.clone();
        plain.min = None;
        plain.max = None;
        plain.regex = None;
        if plain.kind == FieldType::Currency {
            plain.kind = FieldType::Decimal;
        }
        plain.coerce(v).ok()
    }

    /// Whether the column can be used in `sort` and in range comparisons.
    pub fn sortable(&self) -> bool {
        !self.kind.is_json()
    }

    /// Whether an attachment field takes a file of this content type (`accept` entries are
    /// exact types or `type/*`; parameters such as `; charset=utf-8` are ignored).
    pub fn accepts(&self, content_type: &str) -> bool {
        if self.accept.is_empty() {
            return true;
        }
        let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let main = essence.split('/').next().unwrap_or("");
        self.accept
            .iter()
            .any(|a| *a == essence || a.strip_suffix("/*") == Some(main))
    }
}

/// The value of a rollup field from the raw aggregates of the aggregated column (stored units
/// at `child_scale`; the sum exact in 128 bits): count; sum (0 when nothing points here); avg,
/// min, max (empty then). Exact decimals throughout, rounded to the rollup field's scale at the
/// end. `None` when the value is past what the rollup field holds (64 bits for an integer,
/// [`crate::value::max_minor`] for a decimal), as a value written to it would be.
pub fn rollup_value(
    func: crate::def::RollupFn,
    parent: &CompiledField,
    child_scale: u8,
    count: i64,
    sum: Option<i128>,
    min: Option<i64>,
    max: Option<i64>,
) -> Option<Val> {
    use crate::def::RollupFn;
    use rust_decimal::Decimal;
    use rust_decimal::prelude::ToPrimitive;
    // A sum of up to 2^32 values of 64 bits fits the 96 bits of a decimal; past that, `None`.
    let dec = |minor: i128| Decimal::try_from_i128_with_scale(minor, u32::from(child_scale)).ok();
    let raw: Option<i128> = match func {
        RollupFn::Count => Some(i128::from(count)),
        RollupFn::Sum => Some(sum.unwrap_or_default()),
        RollupFn::Avg => sum.filter(|_| count > 0),
        RollupFn::Min => min.map(i128::from),
        RollupFn::Max => max.map(i128::from),
    };
    let Some(raw) = raw else { return Some(Val::Null) };
    let d = match func {
        RollupFn::Count => Decimal::from(count),
        RollupFn::Avg => dec(raw)?.checked_div(Decimal::from(count))?,
        _ => dec(raw)?,
    };
    let fixed = parent.kind.is_fixed_point();
    let scale = if fixed { parent.scale } else { 0 };
    let minor = d
        .round_dp(u32::from(scale))
        .checked_mul(Decimal::from(10i64.pow(u32::from(scale))))?
        .to_i64()?;
    if fixed {
        crate::value::fits_fixed(minor, scale).then_some(Val::Fixed(minor))
    } else {
        Some(Val::Int(minor))
    }
}
