//! Aggregates of an entity's records: counts, sums, averages, minima and maxima per group of up
//! to [`MAX_GROUPS`] fields and a time bucket, computed by the database's `GROUP BY` through the
//! caller's row scope. A field hidden from the caller is unknown here, as in a list.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use trellis_core::error::FieldCode;
use trellis_core::permissions::Right;
use trellis_core::query::{parse_filter, unknown_field};
use trellis_core::zone::Zone;
use trellis_core::{CompiledEntity, CompiledField, Error, ErrorCode, FieldError, FieldType, Val};
use trellis_store::aggregate::{self as store, AggregateQuery, MeasureValue, SortBy};

use crate::Engine;
use crate::context::TenantCtx;

use crate::records::entity_of;

/// Most group fields of an aggregate.
pub const MAX_GROUPS: usize = 3;
/// Most measures of an aggregate.
pub const MAX_MEASURES: usize = 20;
/// Most groups one aggregate answers.
pub const MAX_AGGREGATE_LIMIT: u64 = 1000;
/// Groups answered when the request names no limit.
pub const DEFAULT_AGGREGATE_LIMIT: u64 = 100;

/// The unit of a time bucket. Weeks start on Monday; datetimes are bucketed at the wall clock of
/// the tenant's time zone (or the request's `time_zone`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BucketUnit {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

/// A time bucket: the groups are the periods of a date or datetime field.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BucketSpec {
    /// A date or datetime field (`created_at` too).
    pub field: String,
    pub unit: BucketUnit,
}

/// What a measure computes. `count` counts records (with a field: records where it is not
/// empty); `sum` and `avg` take number fields; `min` and `max` number, date and datetime fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MeasureOp {
    Count,
    CountDistinct,
    Sum,
    Avg,
    Min,
    Max,
}

impl MeasureOp {
    fn name(self) -> &'static str {
        match self {
            MeasureOp::Count => "count",
            MeasureOp::CountDistinct => "count_distinct",
            MeasureOp::Sum => "sum",
            MeasureOp::Avg => "avg",
            MeasureOp::Min => "min",
            MeasureOp::Max => "max",
        }
    }
}

/// One measure of each group.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeasureSpec {
    pub op: MeasureOp,
    /// The field measured; only `count` goes without.
    #[serde(default)]
    #[schema(nullable = false)]
    pub field: Option<String>,
    /// The measure's name in the answer; `count`, or `<op>_<field>`, when absent.
    #[serde(default, rename = "as")]
    #[schema(nullable = false, min_length = 1, max_length = 64)]
    pub alias: Option<String>,
}

/// How a `having` condition compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HavingOp {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
}

/// A condition on a numeric measure of each group: groups that fail it are left out (before
/// the limit). A group whose measure is empty fails every condition.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HavingSpec {
    /// A measure's name.
    pub by: String,
    pub op: HavingOp,
    /// In the field's units (`100.5` for an amount).
    pub value: f64,
}

/// A sort key of the groups.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AggregateSort {
    /// A measure's name, a group field or the bucket's field.
    pub by: String,
    #[serde(default)]
    pub desc: bool,
}

/// An aggregate request: groups (fields and/or a time bucket), measures, a filter, a sort and
/// a limit.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AggregateRequest {
    /// Up to 3 fields (select, text, relation, user, boolean, number, date, and system fields
    /// such as `owner` and `stage`); none: one group of every record matched.
    #[serde(default)]
    #[schema(max_items = 3)]
    pub group_by: Vec<String>,
    #[serde(default)]
    #[schema(nullable = false)]
    pub bucket: Option<BucketSpec>,
    /// The measures of each group; `[{"op": "count"}]` when absent.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub measures: Vec<MeasureSpec>,
    /// A filter of the record list's language.
    #[serde(default)]
    #[schema(value_type = Option<Object>, nullable = false)]
    pub filter: Option<Value>,
    /// Conditions on measures every group answered meets.
    #[serde(default)]
    #[schema(max_items = 8)]
    pub having: Vec<HavingSpec>,
    /// Sort keys, then the groups in ascending order.
    #[serde(default)]
    #[schema(max_items = 8)]
    pub sort: Vec<AggregateSort>,
    /// Most groups answered: 1 to 1000, 100 by default.
    #[serde(default)]
    #[schema(nullable = false, minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// The IANA time zone whose days, weeks and months bucket a datetime field; the tenant's
    /// (`time_zone` of the settings) when absent.
    #[serde(default)]
    #[schema(nullable = false, min_length = 1, max_length = 64)]
    pub time_zone: Option<String>,
}

/// The groups of an aggregate.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Aggregate {
    pub groups: Vec<AggregateGroup>,
    /// Whether more groups matched than the limit answered.
    pub truncated: bool,
    /// The time zone a datetime bucket was cut in.
    pub time_zone: String,
}

/// One group: its key and measures.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AggregateGroup {
    /// Per group field its value as a record answers it, and for a bucket the first day of the
    /// period (`YYYY-MM-DD`) under the bucket's field name.
    #[schema(value_type = Object)]
    pub key: Map<String, Value>,
    /// Per measure its value: counts as integers, sums, averages, minima and maxima as the
    /// field's numbers (a date or datetime as in a record), `null` when no record had a value.
    #[schema(value_type = Object)]
    pub measures: Map<String, Value>,
}

/// A field of the caller's view by name, or the answer of a field that does not exist.
fn field<'e>(entity: &'e CompiledEntity, at: &str, name: &str) -> Result<&'e CompiledField, Error> {
    entity.column(name).ok_or_else(|| unknown_field(entity, at, name))
}

fn wrong_type(at: &str, name: &str, what: &str) -> Error {
    Error::bad_field(at, FieldCode::Type, format!("'{name}' {what}"))
}

fn is_number(f: &CompiledField) -> bool {
    f.kind == FieldType::Integer || f.kind.is_fixed_point()
}

fn is_time(f: &CompiledField) -> bool {
    matches!(f.kind, FieldType::Date | FieldType::Datetime)
}

/// The field as one plain number column, as a board's sums answer it.
fn plain(f: &CompiledField) -> CompiledField {
    let mut p = f.clone();
    p.currency_column = None;
    if p.kind == FieldType::Currency {
        p.kind = FieldType::Decimal;
    }
    p
}

/// A checked aggregate, ready for the store.
struct Checked<'e> {
    query: AggregateQuery<'e>,
    aliases: Vec<String>,
}

fn check<'e>(entity: &'e CompiledEntity, r: &AggregateRequest, zone: Zone) -> Result<Checked<'e>, Error> {
    if r.group_by.len() > MAX_GROUPS {
        return Err(Error::bad_field(
            "group_by",
            FieldCode::TooMany,
            format!("group by at most {MAX_GROUPS} fields"),
        ));
    }
    let mut names: HashSet<&str> = HashSet::new();
    let mut groups = Vec::with_capacity(r.group_by.len());
    for name in &r.group_by {
        let f = field(entity, "group_by", name)?;
        if !store::groupable(f) {
            return Err(wrong_type("group_by", name, "cannot be grouped"));
        }
        if !names.insert(f.name.as_str()) {
            return Err(Error::bad_field(
                "group_by",
                FieldCode::Duplicate,
                format!("'{name}' is named twice"),
            ));
        }
        groups.push(f);
    }
    let bucket = match &r.bucket {
        Some(b) => {
            let f = field(entity, "bucket.field", &b.field)?;
            if !is_time(f) {
                return Err(wrong_type("bucket.field", &b.field, "is not a date or datetime field"));
            }
            if !names.insert(f.name.as_str()) {
                return Err(Error::bad_field(
                    "bucket.field",
                    FieldCode::Duplicate,
                    format!("'{}' is also a group field", b.field),
                ));
            }
            let unit = match b.unit {
                BucketUnit::Day => store::Unit::Day,
                BucketUnit::Week => store::Unit::Week,
                BucketUnit::Month => store::Unit::Month,
                BucketUnit::Quarter => store::Unit::Quarter,
                BucketUnit::Year => store::Unit::Year,
            };
            Some((f, unit))
        }
        None => None,
    };
    let count_all = [MeasureSpec {
        op: MeasureOp::Count,
        field: None,
        alias: None,
    }];
    let specs: &[MeasureSpec] = if r.measures.is_empty() { &count_all } else { &r.measures };
    if specs.len() > MAX_MEASURES {
        return Err(Error::bad_field(
            "measures",
            FieldCode::TooMany,
            format!("at most {MAX_MEASURES} measures"),
        ));
    }
    let mut measures = Vec::with_capacity(specs.len());
    let mut aliases: Vec<String> = Vec::with_capacity(specs.len());
    for (i, m) in specs.iter().enumerate() {
        let at = format!("measures[{i}].field");
        let f = match m.field.as_deref() {
            Some(name) => Some(field(entity, &at, name)?),
            None if m.op == MeasureOp::Count => None,
            None => {
                return Err(Error::bad_field(
                    at,
                    FieldCode::Required,
                    format!("{} needs a field", m.op.name()),
                ));
            }
        };
        let op = match m.op {
            MeasureOp::Count => store::Op::Count,
            MeasureOp::CountDistinct => store::Op::CountDistinct,
            MeasureOp::Sum => store::Op::Sum,
            MeasureOp::Avg => store::Op::Avg,
            MeasureOp::Min => store::Op::Min,
            MeasureOp::Max => store::Op::Max,
        };
        if let Some(f) = f {
            let fits = match m.op {
                MeasureOp::Count => true,
                MeasureOp::CountDistinct => store::groupable(f) || is_time(f),
                MeasureOp::Sum | MeasureOp::Avg => is_number(f),
                MeasureOp::Min | MeasureOp::Max => is_number(f) || is_time(f),
            };
            if !fits {
                let what = match m.op {
                    MeasureOp::Sum | MeasureOp::Avg => "is not a number field",
                    MeasureOp::Min | MeasureOp::Max => "is not a number, date or datetime field",
                    _ => "cannot be counted apart",
                };
                return Err(wrong_type(&at, &f.name, what));
            }
        }
        let alias = match (&m.alias, f) {
            (Some(a), _) => a.clone(),
            (None, None) => "count".to_string(),
            (None, Some(f)) => format!("{}_{}", m.op.name(), f.name),
        };
        let alias_at = format!("measures[{i}].as");
        if alias.is_empty() || alias.chars().count() > 64 {
            return Err(Error::bad_field(
                alias_at,
                FieldCode::Length,
                "must be 1 to 64 characters",
            ));
        }
        if aliases.contains(&alias) || names.contains(alias.as_str()) {
            return Err(Error::bad_field(
                alias_at,
                FieldCode::Duplicate,
                format!(
                    "'{}' names another measure or a group field; name it with 'as'",
                    trellis_core::names::truncate(&alias, 64)
                ),
            ));
        }
        aliases.push(alias);
        measures.push(store::Measure { op, field: f });
    }
    let filter = r.filter.as_ref().map(|v| parse_filter(entity, v)).transpose()?;
    if r.having.len() > 8 {
        return Err(Error::bad_field("having", FieldCode::TooMany, "at most 8 conditions"));
    }
    let mut having = Vec::with_capacity(r.having.len());
    for (i, h) in r.having.iter().enumerate() {
        let at = format!("having[{i}].by");
        let Some(m) = aliases.iter().position(|a| *a == h.by) else {
            return Err(Error::bad_field(
                at,
                FieldCode::UnknownKey,
                format!(
                    "'{}' is not a measure of this aggregate",
                    trellis_core::names::truncate(&h.by, 64)
                ),
            ));
        };
        // Sums, averages, minima and maxima compare in the field's stored units.
        let scale = match measures[m].field {
            Some(f)
                if matches!(
                    measures[m].op,
                    store::Op::Sum | store::Op::Avg | store::Op::Min | store::Op::Max
                ) =>
            {
                if !is_number(f) {
                    return Err(wrong_type(&at, &h.by, "is not a number"));
                }
                if f.kind.is_fixed_point() { f.scale } else { 0 }
            }
            _ => 0,
        };
        if !h.value.is_finite() {
            return Err(Error::bad_field(
                format!("having[{i}].value"),
                FieldCode::Type,
                "must be a finite number",
            ));
        }
        let cmp = match h.op {
            HavingOp::Eq => store::Cmp::Eq,
            HavingOp::Ne => store::Cmp::Ne,
            HavingOp::Gt => store::Cmp::Gt,
            HavingOp::Gte => store::Cmp::Gte,
            HavingOp::Lt => store::Cmp::Lt,
            HavingOp::Lte => store::Cmp::Lte,
        };
        let value = h.value * 10f64.powi(i32::from(scale));
        if !value.is_finite() {
            return Err(Error::bad_field(
                format!("having[{i}].value"),
                FieldCode::Range,
                "is out of range",
            ));
        }
        having.push((m, cmp, value));
    }
    let mut sort = Vec::with_capacity(r.sort.len());
    if r.sort.len() > 8 {
        return Err(Error::bad_field("sort", FieldCode::TooMany, "at most 8 sort keys"));
    }
    for (i, s) in r.sort.iter().enumerate() {
        let by = if let Some(m) = aliases.iter().position(|a| *a == s.by) {
            SortBy::Measure(m)
        } else if let Some(g) = groups.iter().position(|g| g.name == s.by) {
            SortBy::Group(g)
        } else if bucket.is_some_and(|(f, _)| f.name == s.by) {
            SortBy::Bucket
        } else {
            return Err(Error::bad_field(
                format!("sort[{i}].by"),
                FieldCode::NotSortable,
                format!(
                    "'{}' is neither a measure nor a group of this aggregate",
                    trellis_core::names::truncate(&s.by, 64)
                ),
            ));
        };
        sort.push((by, s.desc));
    }
    let limit = r.limit.unwrap_or(DEFAULT_AGGREGATE_LIMIT);
    if !(1..=MAX_AGGREGATE_LIMIT).contains(&limit) {
        return Err(Error::bad_field(
            "limit",
            FieldCode::Range,
            format!("must be 1 to {MAX_AGGREGATE_LIMIT}"),
        ));
    }
    Ok(Checked {
        query: AggregateQuery {
            groups,
            bucket,
            zone,
            measures,
            filter,
            having,
            sort,
            limit,
        },
        aliases,
    })
}

/// A sum as answered: exact while it fits the 64 bits of stored units, else 422 (as a board).
fn sum_json(f: &CompiledField, alias: &str, raw: i128) -> Result<Value, Error> {
    let Ok(raw) = i64::try_from(raw) else {
        return Err(Error::validation(vec![FieldError::new(
            "measures",
            FieldCode::OutOfRange,
            format!("the measure '{alias}' is past 64 bits; filter the aggregate to fewer records"),
        )]));
    };
    let v = if f.kind.is_fixed_point() {
        Val::Fixed(raw)
    } else {
        Val::Int(raw)
    };
    Ok(v.to_json(&plain(f)))
}

/// An average as answered: a fixed-point field's in its own scale (rounded half away from
/// zero), an integer field's as a floating number.
fn avg_json(f: &CompiledField, sum: i128, n: i64) -> Value {
    let n = i128::from(n);
    if f.kind.is_fixed_point() {
        let q = sum / n;
        let r = sum % n;
        let q = if 2 * r.abs() >= n { q + sum.signum() } else { q };
        match i64::try_from(q) {
            Ok(q) => Val::Fixed(q).to_json(&plain(f)),
            Err(_) => Value::Null,
        }
    } else {
        serde_json::Number::from_f64(sum as f64 / n as f64)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

fn measure_json(m: &store::Measure, alias: &str, v: MeasureValue) -> Result<Value, Error> {
    Ok(match (v, m.field) {
        (MeasureValue::Count(n), _) => Value::from(n),
        (MeasureValue::Sum(Some(s)), Some(f)) => sum_json(f, alias, s)?,
        (MeasureValue::Avg(Some(s), n), Some(f)) if n > 0 => avg_json(f, s, n),
        (MeasureValue::Value(v), Some(f)) if !v.is_null() => v.to_json(&plain(f)),
        _ => Value::Null,
    })
}

impl Engine {
    /// Counts, sums, averages, minima and maxima of an entity's records per group, by the
    /// database, through the caller's row scope (403 without the read right).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn aggregate_records(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        r: &AggregateRequest,
    ) -> Result<Aggregate, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let entity = entity_of(&app, entity)?;
        let access = self.access(&self.db.read, ctx, &app, entity).await?;
        let scope = self.scope(&self.db.read, ctx, &access, Right::Read).await?;
        // Hidden fields are not in the view: grouping, measuring or filtering them is unknown.
        let view = &access.view;
        // A problem with the body is a 422 naming its place, as the body's type problems are
        // (the list answers 400 for its query string).
        let zone = match &r.time_zone {
            Some(z) => Zone::parse("time_zone", z).map_err(|e| Error::validation(e.errors))?,
            None => self.tenant_zone(ctx).await?,
        };
        // The filter's `$user.*` stand for the caller, as in a list.
        let mine;
        let r = match &r.filter {
            Some(f) => {
                mine = AggregateRequest {
                    filter: Some(self.for_reader(&self.db.read, ctx, f).await?),
                    ..r.clone()
                };
                &mine
            }
            None => r,
        };
        let Checked { mut query, aliases } = check(view, r, zone).map_err(|e| {
            if e.code == ErrorCode::BadRequest && !e.errors.is_empty() {
                Error::validation(e.errors)
            } else {
                e
            }
        })?;
        query.filter = crate::access::and(scope, query.filter.take());
        let limit = query.limit;
        query.limit = limit + 1;
        let mut rows = trellis_store::aggregate::aggregate(&self.db.read, view, &query).await?;
        let truncated = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let mut groups = Vec::with_capacity(rows.len());
        for row in rows {
            let mut key = Map::new();
            for (f, v) in query.groups.iter().zip(&row.keys) {
                key.insert(f.name.clone(), v.to_json(&plain(f)));
            }
            if let Some((f, _)) = query.bucket {
                key.insert(f.name.clone(), row.bucket.map(Value::String).unwrap_or(Value::Null));
            }
            let mut measures = Map::new();
            for ((m, alias), v) in query.measures.iter().zip(&aliases).zip(row.measures) {
                measures.insert(alias.clone(), measure_json(m, alias, v)?);
            }
            groups.push(AggregateGroup { key, measures });
        }
        Ok(Aggregate {
            groups,
            truncated,
            time_zone: zone.name().to_string(),
        })
    }
}
