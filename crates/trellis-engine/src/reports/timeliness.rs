//! Timeliness of an entity's pipeline, from the stage moves pipelines keep (issue 16, point 4):
//! the **SLA** report (moves out of a stage that had a due time, on time or breached, the
//! records past due now, and the median and 90th percentile of the time in the stage, per
//! stage, owner or team and per period), and the **first follow-up** report (per rep, how soon
//! the records created in a period were first followed up: by their first move out of the first
//! stage, or by the first record of another entity pointing at them, such as a call log).
//!
//! A move counts in the period of the day it was made (in the time zone) and for the record's
//! owner now. The rows are read through the caller's row scope and aggregated here; a report
//! reads at most [`MAX_ROWS`] moves or records (422 above: filter it or shorten the period).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use trellis_core::error::FieldCode;
use trellis_core::permissions::Right;
use trellis_core::query::{Filter, parse_filter, unknown_field};
use trellis_core::zone::Zone;
use trellis_core::{CompiledEntity, Error, FieldType, Label, Val};
use trellis_store::aggregate::{self as agg, AggregateQuery, MeasureValue};
use trellis_store::timeliness::{self as store, MovesOf};

use super::BucketUnit;
use super::forecast::{Base, bad, unprocessable};
use super::funnel::{day_start, ratio};
use crate::Engine;
use crate::context::TenantCtx;
use crate::records::entity_of;

/// Most moves or records a timeliness report reads.
pub const MAX_ROWS: u64 = 200_000;

/// What an SLA report is grouped by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlaGroupBy {
    /// The stage left (the stage the record was in, for records past due now).
    #[default]
    Stage,
    /// The record's owner.
    Owner,
    /// The teams of the record's owner (a record whose owner is in two teams counts in both,
    /// in none under `null`).
    Team,
    /// One group of every move.
    None,
}

/// An SLA report request.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaRequest {
    /// The first day of the moves counted (in the time zone); none: from the beginning.
    #[serde(default)]
    #[schema(nullable = false)]
    pub from: Option<NaiveDate>,
    /// The last day, included; none: up to now.
    #[serde(default)]
    #[schema(nullable = false)]
    pub to: Option<NaiveDate>,
    #[serde(default)]
    #[schema(nullable = false)]
    pub group_by: Option<SlaGroupBy>,
    /// Cut the moves further in periods of the day they were made.
    #[serde(default)]
    #[schema(nullable = false)]
    pub period: Option<BucketUnit>,
    /// A filter of the record list's language on the records.
    #[serde(default)]
    #[schema(value_type = Option<Object>, nullable = false)]
    pub filter: Option<Value>,
    /// Only records owned by a member of this team.
    #[serde(default)]
    #[schema(nullable = false)]
    pub team: Option<String>,
    /// The IANA time zone of the days; the tenant's when absent.
    #[serde(default)]
    #[schema(nullable = false, min_length = 1, max_length = 64)]
    pub time_zone: Option<String>,
}

/// The counts of an SLA group.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct SlaCounts {
    /// Moves out of a stage whose SLA gave the record a due time there.
    pub with_due: i64,
    /// Of those, moves made by the due time, and after it.
    pub on_time: i64,
    pub breached: i64,
    /// `on_time ÷ with_due`; none without a move with a due time.
    #[schema(required = true)]
    pub on_time_rate: Option<f64>,
    /// Records whose due time in their current stage has passed (now, whatever the period);
    /// none in a group of a period.
    #[schema(required = true)]
    pub overdue_now: Option<i64>,
    /// Moves out of a stage with a known time in it, and the median and 90th percentile of
    /// that time in seconds (nearest rank).
    pub left: i64,
    #[schema(required = true)]
    pub p50_seconds: Option<f64>,
    #[schema(required = true)]
    pub p90_seconds: Option<f64>,
}

/// A group of the SLA report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SlaGroup {
    /// The stage's key, the owner's id or the team's id; `null` for none (or no group).
    pub key: Value,
    /// The stage's label when grouped by stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub label: Option<Label>,
    /// The team's name when grouped by team.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    /// The period's first day (`YYYY-MM-DD`) when cut in periods.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub period: Option<String>,
    #[serde(flatten)]
    pub counts: SlaCounts,
}

/// The SLA report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Sla {
    #[schema(required = true)]
    pub from: Option<NaiveDate>,
    #[schema(required = true)]
    pub to: Option<NaiveDate>,
    pub time_zone: String,
    pub group_by: SlaGroupBy,
    /// Per group (stages in the pipeline's order, else by key) and period.
    pub groups: Vec<SlaGroup>,
    pub totals: SlaCounts,
}

/// What followed a record up, when not its first move out of the first stage.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowUpBy {
    /// An entity of the same app (a call or visit log…).
    #[schema(min_length = 1, max_length = 64)]
    pub entity: String,
    /// Its relation field pointing at the records of the report.
    #[schema(min_length = 1, max_length = 64)]
    pub relation: String,
}

/// What a first follow-up report is grouped by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpGroupBy {
    #[default]
    Owner,
    Team,
    None,
}

/// A first follow-up report request.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowUpRequest {
    /// What follows a record up; none: its first move out of the pipeline's first stage.
    #[serde(default)]
    #[schema(nullable = false)]
    pub follow_up: Option<FollowUpBy>,
    /// The target, in hours after the record's creation (48 when absent; up to a year).
    #[serde(default)]
    #[schema(nullable = false, exclusive_minimum = 0, maximum = 8784)]
    pub within_hours: Option<f64>,
    /// The first day of the records' creation (in the time zone); none: from the beginning.
    #[serde(default)]
    #[schema(nullable = false)]
    pub from: Option<NaiveDate>,
    /// The last day, included; none: up to now.
    #[serde(default)]
    #[schema(nullable = false)]
    pub to: Option<NaiveDate>,
    #[serde(default)]
    #[schema(nullable = false)]
    pub group_by: Option<FollowUpGroupBy>,
    #[serde(default)]
    #[schema(value_type = Option<Object>, nullable = false)]
    pub filter: Option<Value>,
    #[serde(default)]
    #[schema(nullable = false)]
    pub team: Option<String>,
    #[serde(default)]
    #[schema(nullable = false, min_length = 1, max_length = 64)]
    pub time_zone: Option<String>,
}

/// The counts of a first follow-up group.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct FollowUpCounts {
    /// Records created in the period.
    pub records: i64,
    /// Of those, records followed up, and followed up within the target.
    pub followed_up: i64,
    pub within_target: i64,
    /// Records not followed up within the target: later, or not yet and past it now.
    pub late: i64,
    /// Records not followed up yet whose target has not passed.
    pub pending: i64,
    /// `late ÷ (records − pending)`: the share not followed up in time.
    #[schema(required = true)]
    pub late_share: Option<f64>,
    /// The median and 90th percentile of the hours to the first follow-up (nearest rank).
    #[schema(required = true)]
    pub p50_hours: Option<f64>,
    #[schema(required = true)]
    pub p90_hours: Option<f64>,
}

/// A group of the first follow-up report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FollowUpGroup {
    /// The owner's or team's id; `null` for none (or no group).
    pub key: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    #[serde(flatten)]
    pub counts: FollowUpCounts,
}

/// The first follow-up report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FollowUp {
    #[schema(required = true)]
    pub from: Option<NaiveDate>,
    #[schema(required = true)]
    pub to: Option<NaiveDate>,
    pub time_zone: String,
    pub within_hours: f64,
    pub group_by: FollowUpGroupBy,
    pub groups: Vec<FollowUpGroup>,
    pub totals: FollowUpCounts,
}

/// The value at a quantile of sorted values (nearest rank).
pub(super) fn quantile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let k = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
    Some(sorted[k])
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v
}

/// The first day of the period of an instant, in a zone.
fn period_of(at: DateTime<Utc>, zone: Zone, unit: BucketUnit) -> String {
    let d = at.with_timezone(&zone.tz()).date_naive();
    let first = match unit {
        BucketUnit::Day => Some(d),
        BucketUnit::Week => Some(d - chrono::Duration::days(i64::from(d.weekday().num_days_from_monday()))),
        BucketUnit::Month => d.with_day(1),
        BucketUnit::Quarter => NaiveDate::from_ymd_opt(d.year(), (d.month() - 1) / 3 * 3 + 1, 1),
        BucketUnit::Year => NaiveDate::from_ymd_opt(d.year(), 1, 1),
    };
    first.unwrap_or(d).to_string()
}

/// The instants a period begins and ends at (none: unbounded).
pub(super) type Span = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// The period `[from, to]` as instants; 422 when it ends before it begins.
pub(super) fn instants(zone: Zone, from: Option<NaiveDate>, to: Option<NaiveDate>) -> Result<Span, Error> {
    if let (Some(a), Some(b)) = (from, to)
        && b < a
    {
        return Err(bad("to", FieldCode::Range, "the period ends before it begins"));
    }
    Ok((
        from.map(|d| day_start(zone, d)),
        to.and_then(|d| d.succ_opt()).map(|d| day_start(zone, d)),
    ))
}

fn too_many() -> Error {
    bad(
        "filter",
        FieldCode::TooMany,
        format!("more than {MAX_ROWS} rows to read; filter the report or shorten the period"),
    )
}

/// The teams of each owner and the teams' names.
pub(super) async fn teams(
    engine: &Engine,
    ctx: &TenantCtx,
) -> Result<(HashMap<String, Vec<String>>, HashMap<String, String>), Error> {
    let mut of: HashMap<String, Vec<String>> = HashMap::new();
    for (t, u) in trellis_store::teams::memberships_of(&engine.db.read, ctx.tenant_id()).await? {
        of.entry(u).or_default().push(t);
    }
    let names = trellis_store::teams::teams_of(&engine.db.read, ctx.tenant_id())
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    Ok((of, names))
}

/// The keys (and team names) an owner's record counts under.
fn owner_keys(
    owner: Option<&str>,
    by_team: bool,
    teams_of: &HashMap<String, Vec<String>>,
    names: &HashMap<String, String>,
) -> Vec<(Value, Option<String>)> {
    let key = owner.map(|o| Value::String(o.to_string())).unwrap_or(Value::Null);
    if !by_team {
        return vec![(key, None)];
    }
    match owner.and_then(|o| teams_of.get(o)) {
        Some(ts) => ts
            .iter()
            .map(|t| (Value::String(t.clone()), names.get(t).cloned()))
            .collect(),
        None => vec![(Value::Null, None)],
    }
}

fn sort_key(key: &Value) -> String {
    match key {
        Value::Null => String::new(),
        Value::String(s) => format!("~{s}"),
        other => format!("~{other}"),
    }
}

#[derive(Default)]
struct SlaAcc {
    counts: SlaCounts,
    seconds: Vec<f64>,
}

impl SlaAcc {
    fn finish(mut self, overdue: bool) -> SlaCounts {
        let s = sorted(std::mem::take(&mut self.seconds));
        let mut c = self.counts;
        c.on_time_rate = ratio(c.on_time, c.with_due);
        c.left = s.len() as i64;
        c.p50_seconds = quantile(&s, 0.5);
        c.p90_seconds = quantile(&s, 0.9);
        if overdue {
            c.overdue_now = Some(c.overdue_now.unwrap_or(0));
        }
        c
    }
}

impl Engine {
    /// The SLA report of an entity's pipeline through the caller's row scope (403 without the
    /// read right; hidden fields cannot be filtered).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn sla_report(&self, ctx: &TenantCtx, app: &str, entity: &str, r: &SlaRequest) -> Result<Sla, Error> {
        let base = self
            .forecast_base(
                ctx,
                app,
                entity,
                None,
                r.filter.as_ref(),
                r.team.as_deref(),
                None,
                r.time_zone.as_deref(),
            )
            .await?;
        let (start, end) = instants(base.zone, r.from, r.to)?;
        let group_by = r.group_by.unwrap_or_default();
        let moves = store::moves_out(&self.db.read, &moves_of(ctx, &base), start, end, MAX_ROWS + 1).await?;
        if moves.len() as u64 > MAX_ROWS {
            return Err(too_many());
        }
        let (teams_of, names) = if group_by == SlaGroupBy::Team {
            teams(self, ctx).await?
        } else {
            Default::default()
        };
        let stage_rank = |k: &str| base.pipeline.stages.iter().position(|s| s.key.as_str() == k);
        let keys_of = |stage: &str, owner: Option<&str>| -> Vec<(String, Value, Option<String>)> {
            match group_by {
                SlaGroupBy::Stage => vec![(
                    format!("{:05}", stage_rank(stage).unwrap_or(99_999)),
                    Value::String(stage.to_string()),
                    None,
                )],
                SlaGroupBy::None => vec![(String::new(), Value::Null, None)],
                _ => owner_keys(owner, group_by == SlaGroupBy::Team, &teams_of, &names)
                    .into_iter()
                    .map(|(k, n)| (sort_key(&k), k, n))
                    .collect(),
            }
        };
        type Key = (String, String);
        let mut groups: BTreeMap<Key, (Value, Option<String>, SlaAcc)> = BTreeMap::new();
        let mut total = SlaAcc::default();
        let add = |acc: &mut SlaAcc, m: &store::MoveOut| {
            if let Some(due) = m.from_due_at {
                acc.counts.with_due += 1;
                if m.moved_at <= due {
                    acc.counts.on_time += 1;
                } else {
                    acc.counts.breached += 1;
                }
            }
            if let Some(s) = m.seconds_in_from {
                acc.seconds.push(s);
            }
        };
        for m in &moves {
            add(&mut total, m);
            let period = r
                .period
                .map(|u| period_of(m.moved_at, base.zone, u))
                .unwrap_or_default();
            for (sk, key, name) in keys_of(&m.from_stage, m.owner.as_deref()) {
                let g = groups
                    .entry((sk, period.clone()))
                    .or_insert_with(|| (key, name, SlaAcc::default()));
                add(&mut g.2, m);
            }
        }
        // Records past due now, per stage and owner.
        let view = &base.view;
        let now = trellis_core::value::now_micros();
        let past_due = parse_filter(
            view,
            &json!({"field": "stage_due_at", "op": "lt", "value": now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)}),
        )?;
        let (stage_col, owner_col) = match (view.column("stage"), view.column("owner")) {
            (Some(s), Some(o)) => (s, o),
            _ => return Err(Error::internal("a pipeline without a stage or owner column")),
        };
        let q = AggregateQuery {
            groups: vec![stage_col, owner_col],
            bucket: None,
            zone: base.zone,
            measures: vec![agg::Measure {
                op: agg::Op::Count,
                field: None,
            }],
            filter: crate::access::and(base.records.clone(), Some(past_due)),
            having: Vec::new(),
            sort: Vec::new(),
            limit: MAX_ROWS,
        };
        let overdue = agg::aggregate(&self.db.read, view, &q).await?;
        let text = |v: Option<&Val>| match v {
            Some(Val::Text(s)) => Some(s.clone()),
            _ => None,
        };
        let mut overdue_total = 0;
        for row in &overdue {
            let n = match row.measures.first() {
                Some(MeasureValue::Count(n)) => *n,
                _ => 0,
            };
            overdue_total += n;
            if r.period.is_some() {
                continue;
            }
            let (stage, owner) = (text(row.keys.first()), text(row.keys.get(1)));
            for (sk, key, name) in keys_of(stage.as_deref().unwrap_or(""), owner.as_deref()) {
                let g = groups
                    .entry((sk, String::new()))
                    .or_insert_with(|| (key, name, SlaAcc::default()));
                *g.2.counts.overdue_now.get_or_insert(0) += n;
            }
        }
        total.counts.overdue_now = Some(overdue_total);
        let groups = groups
            .into_iter()
            .map(|((_, period), (key, name, acc))| SlaGroup {
                label: match (group_by, key.as_str()) {
                    (SlaGroupBy::Stage, Some(k)) => base.pipeline.stage(k).map(|s| s.label.clone()),
                    _ => None,
                },
                key,
                name,
                period: r.period.map(|_| period),
                counts: acc.finish(r.period.is_none()),
            })
            .collect();
        Ok(Sla {
            from: r.from,
            to: r.to,
            time_zone: base.zone.name().to_string(),
            group_by,
            groups,
            totals: total.finish(true),
        })
    }

    /// The first follow-up report of an entity's records through the caller's row scope (and,
    /// for a related entity, their row scope of it: 403 without its read right).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn first_follow_up(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        r: &FollowUpRequest,
    ) -> Result<FollowUp, Error> {
        let within = r.within_hours.unwrap_or(48.0);
        if !(within > 0.0 && within <= 8784.0) {
            return Err(bad(
                "within_hours",
                FieldCode::Range,
                "must be more than 0 and at most 8784",
            ));
        }
        let base = self
            .forecast_base(
                ctx,
                app,
                entity,
                None,
                r.filter.as_ref(),
                r.team.as_deref(),
                None,
                r.time_zone.as_deref(),
            )
            .await?;
        let view = base.view.clone();
        let (start, end) = instants(base.zone, r.from, r.to)?;
        let mut created: Option<Filter> = None;
        for (op, at) in [("gte", start), ("lt", end)] {
            if let Some(at) = at {
                let f = parse_filter(
                    &view,
                    &json!({"field": "created_at", "op": op, "value": at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)}),
                )?;
                created = crate::access::and(created, Some(f));
            }
        }
        let db = &self.db.read;
        let first = match &r.follow_up {
            None => {
                let initial = base.pipeline.initial_stage().key.to_string();
                store::first_moves_from(db, &moves_of(ctx, &base), created.as_ref(), &initial).await?
            }
            Some(by) => {
                let app_c = self.compiled_app(ctx, app).await?;
                let related = entity_of(&app_c, &by.entity)
                    .map_err(|_| bad("follow_up.entity", FieldCode::NotFound, "no such entity in this app"))?;
                let access = self.access(db, ctx, &app_c, related).await?;
                let scope = self.scope(db, ctx, &access, Right::Read).await?;
                let rel: &CompiledEntity = &access.view;
                let f = rel
                    .column(&by.relation)
                    .filter(|f| !f.system)
                    .ok_or_else(|| unprocessable(unknown_field(rel, "follow_up.relation", &by.relation)))?;
                if f.kind != FieldType::Relation || f.target.as_deref() != Some(base.entity.name()) {
                    return Err(bad(
                        "follow_up.relation",
                        FieldCode::Type,
                        format!("'{}' is not a relation to '{}'", by.relation, base.entity.name()),
                    ));
                }
                store::first_related(
                    db,
                    &moves_of(ctx, &base),
                    created.as_ref(),
                    &related.table,
                    &f.column,
                    scope.as_ref(),
                )
                .await?
            }
        };
        let first: HashMap<String, DateTime<Utc>> = first
            .into_iter()
            .filter_map(|f| f.at.map(|at| (f.record_id, at)))
            .collect();
        let list = trellis_store::records::ListQuery {
            filter: crate::access::and(base.records.clone(), created),
            limit: MAX_ROWS + 1,
            columns: Some(Vec::new()),
            ..Default::default()
        };
        let rows = trellis_store::records::list(db, &view, &list).await?;
        if rows.len() as u64 > MAX_ROWS {
            return Err(too_many());
        }
        let group_by = r.group_by.unwrap_or_default();
        let (teams_of, names) = if group_by == FollowUpGroupBy::Team {
            teams(self, ctx).await?
        } else {
            Default::default()
        };
        let now = trellis_core::value::now_micros();
        let mut groups: BTreeMap<String, (Value, Option<String>, FollowUpCounts, Vec<f64>)> = BTreeMap::new();
        let mut total = (FollowUpCounts::default(), Vec::new());
        let add = |c: &mut FollowUpCounts, hours: &mut Vec<f64>, after: Option<f64>, age: f64| {
            c.records += 1;
            match after {
                Some(h) => {
                    c.followed_up += 1;
                    hours.push(h);
                    if h <= within {
                        c.within_target += 1;
                    } else {
                        c.late += 1;
                    }
                }
                None if age > within => c.late += 1,
                None => c.pending += 1,
            }
        };
        let hours = |a: DateTime<Utc>, b: DateTime<Utc>| ((b - a).num_milliseconds() as f64 / 3_600_000.0).max(0.0);
        for row in &rows {
            let Some(Val::DateTime(at)) = row.get(&view, "created_at").cloned() else {
                continue;
            };
            let after = first.get(row.id()).map(|f| hours(at, *f));
            let age = hours(at, now);
            add(&mut total.0, &mut total.1, after, age);
            let owner = match row.get(&view, "owner") {
                Some(Val::Text(o)) => Some(o.as_str()),
                _ => None,
            };
            let keys = match group_by {
                FollowUpGroupBy::None => vec![(Value::Null, None)],
                g => owner_keys(owner, g == FollowUpGroupBy::Team, &teams_of, &names),
            };
            for (key, name) in keys {
                let g = groups
                    .entry(sort_key(&key))
                    .or_insert_with(|| (key, name, FollowUpCounts::default(), Vec::new()));
                add(&mut g.2, &mut g.3, after, age);
            }
        }
        let finish = |mut c: FollowUpCounts, h: Vec<f64>| {
            let h = sorted(h);
            c.late_share = ratio(c.late, c.records - c.pending);
            c.p50_hours = quantile(&h, 0.5);
            c.p90_hours = quantile(&h, 0.9);
            c
        };
        Ok(FollowUp {
            from: r.from,
            to: r.to,
            time_zone: base.zone.name().to_string(),
            within_hours: within,
            group_by,
            groups: groups
                .into_values()
                .map(|(key, name, c, h)| FollowUpGroup {
                    key,
                    name,
                    counts: finish(c, h),
                })
                .collect(),
            totals: finish(total.0, total.1),
        })
    }
}

/// The moves of the records a base counts.
pub(super) fn moves_of<'a>(ctx: &'a TenantCtx, base: &'a Base) -> MovesOf<'a> {
    MovesOf {
        tenant_id: ctx.tenant_id(),
        entity_id: base.entity.def.storage_id().as_str(),
        table: base.entity.table.as_str(),
        records: base.records.clone(),
    }
}
