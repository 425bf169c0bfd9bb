//! The forecast of an entity's pipeline: the open records' amounts weighted by their stage's
//! configured probability, beside each stage's historical win rate (of the closed records that
//! entered the stage, won ÷ (won + lost)) and a calibrated probability that shrinks the
//! historical rate toward the configured one with a Beta prior of strength `k`:
//! `(won + k·p) ÷ (won + lost + k)`. Per owner, team or field, and per period of an expected
//! close date. The backtest (`backtest`) scores both probabilities on past dates.
//!
//! A stage's configured probability is its `probability` (else its `weight`), as a fraction of
//! 1; a stage configuring neither takes the pooled win rate of every closed record as its prior,
//! and adds nothing to the weighted (configured) forecast. Win rates count the stages a record
//! really entered (a move into them is kept): a skipped stage is not reached, unlike in the
//! funnel, since the rate answers "how often does a record in this stage win".

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use trellis_core::error::FieldCode;
use trellis_core::permissions::Right;
use trellis_core::pipeline::{PipelineDef, StageDef, StageKind};
use trellis_core::query::{Filter, parse_filter, unknown_field};
use trellis_core::zone::Zone;
use trellis_core::{CompiledEntity, CompiledField, Error, ErrorCode, FieldError, FieldType, Label, Val};
use trellis_store::aggregate::{self as agg, AggregateQuery, MeasureValue};
use trellis_store::forecast::{self as store, HistoryQuery};

use super::{BucketSpec, BucketUnit};
use crate::Engine;
use crate::context::TenantCtx;
use crate::records::entity_of;

/// The strength of the Beta prior (in closed records) when the request names none.
pub const DEFAULT_PRIOR_STRENGTH: f64 = 10.0;
/// A stage's historical win rate rests on fewer closed records than this: `low_sample`.
pub const LOW_SAMPLE: i64 = 30;
/// Most groups (stage × group × period) a forecast answers.
pub const MAX_FORECAST_GROUPS: u64 = 10_000;

/// What a forecast is grouped by besides the stage.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForecastRequest {
    /// The number field summed (integer, decimal, currency).
    #[schema(min_length = 1, max_length = 64)]
    pub amount: String,
    /// `owner`, `team` (the teams of the record's owner: a record whose owner is in two teams
    /// counts in both, in none under `null`) or a field that can be grouped (a select field…).
    #[serde(default)]
    #[schema(nullable = false, min_length = 1, max_length = 64)]
    pub group_by: Option<String>,
    /// Periods of an expected close date (a date or datetime field).
    #[serde(default)]
    #[schema(nullable = false)]
    pub period: Option<BucketSpec>,
    /// A filter of the record list's language on the records (open and closed).
    #[serde(default)]
    #[schema(value_type = Option<Object>, nullable = false)]
    pub filter: Option<Value>,
    /// Only records owned by a member of this team.
    #[serde(default)]
    #[schema(nullable = false)]
    pub team: Option<String>,
    /// The Beta prior's strength `k`, in closed records (0 to 1000; 10 when absent).
    #[serde(default)]
    #[schema(nullable = false, minimum = 0, maximum = 1000)]
    pub prior_strength: Option<f64>,
    /// The IANA time zone of a datetime period; the tenant's when absent.
    #[serde(default)]
    #[schema(nullable = false, min_length = 1, max_length = 64)]
    pub time_zone: Option<String>,
}

/// An open stage's probabilities, from its configuration and from history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StageRates {
    pub stage: String,
    pub label: Label,
    /// The stage's `probability` (else `weight`) as a fraction of 1; none when it has neither.
    #[schema(required = true)]
    #[serde(serialize_with = "rounded")]
    pub configured_probability: Option<f64>,
    /// Closed records that entered the stage and were won, and lost.
    pub won: i64,
    pub lost: i64,
    /// `won ÷ (won + lost)`; none without a closed record.
    #[schema(required = true)]
    #[serde(serialize_with = "rounded")]
    pub historical_win_rate: Option<f64>,
    /// `(won + k·p) ÷ (won + lost + k)`, `p` the configured probability (else the pooled win
    /// rate); none with neither history nor configuration.
    #[schema(required = true)]
    #[serde(serialize_with = "rounded")]
    pub calibrated_probability: Option<f64>,
    /// Fewer than 30 closed records entered the stage.
    pub low_sample: bool,
}

/// A stage of the forecast: its probabilities and its open records.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ForecastStage {
    #[serde(flatten)]
    pub rates: StageRates,
    /// Open records in the stage and the sum of their amounts.
    pub open_count: i64,
    pub open_amount: f64,
    /// `open_amount × configured probability` (0 without one).
    pub weighted: f64,
    /// `open_amount × calibrated probability` (0 without one).
    pub calibrated: f64,
}

/// One stage's open records in a group.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ForecastCell {
    pub stage: String,
    pub open_count: i64,
    pub open_amount: f64,
    pub weighted: f64,
    pub calibrated: f64,
}

/// A group (and period) of the forecast.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ForecastGroup {
    /// The group's value: the owner's id, the team's id, or the field's value as a record
    /// answers it; `null` for no value (or no group).
    pub key: Value,
    /// The team's name when grouped by team.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    /// The period's first day (`YYYY-MM-DD`) when cut in periods; `null` for records without
    /// an expected close date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<Value>,
    /// Open stages with records of the group.
    pub stages: Vec<ForecastCell>,
    pub open_count: i64,
    pub open_amount: f64,
    pub weighted: f64,
    pub calibrated: f64,
}

/// Sums of the whole forecast.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ForecastTotals {
    pub open_count: i64,
    pub open_amount: f64,
    pub weighted: f64,
    pub calibrated: f64,
}

/// A pipeline's forecast.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Forecast {
    pub amount: String,
    pub prior_strength: f64,
    /// Stages whose history rests on fewer closed records than this are `low_sample`.
    pub low_sample_under: i64,
    pub time_zone: String,
    /// The open stages in order.
    pub stages: Vec<ForecastStage>,
    /// Per group and period, in ascending order of both.
    pub groups: Vec<ForecastGroup>,
    pub totals: ForecastTotals,
}

/// The caller's view of an entity's pipeline for a forecast: the records they may read under
/// their filter and team, and the amount field.
pub(super) struct Base {
    pub entity: Arc<CompiledEntity>,
    pub view: Arc<CompiledEntity>,
    pub pipeline: PipelineDef,
    pub records: Option<Filter>,
    pub amount: Option<CompiledField>,
    pub prior: f64,
    pub zone: Zone,
    pub app_id: String,
}

impl Base {
    pub fn history<'a>(&'a self, tenant_id: &'a str) -> HistoryQuery<'a> {
        HistoryQuery {
            tenant_id,
            entity_id: self.entity.def.storage_id().as_str(),
            table: self.entity.table.as_str(),
            records: self.records.clone(),
        }
    }

    pub fn open(&self) -> Vec<&StageDef> {
        self.pipeline
            .stages
            .iter()
            .filter(|s| s.kind == StageKind::Open)
            .collect()
    }

    pub fn keys(&self, kind: StageKind) -> Vec<String> {
        self.pipeline
            .stages
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.key.to_string())
            .collect()
    }

    pub fn kind_of(&self, key: &str) -> Option<StageKind> {
        self.pipeline.stage(key).map(|s| s.kind)
    }

    /// The amount as a number in the field's units.
    pub fn units(&self, raw: i128) -> f64 {
        let scale = self
            .amount
            .as_ref()
            .filter(|f| f.kind.is_fixed_point())
            .map_or(0, |f| f.scale);
        raw as f64 / 10f64.powi(i32::from(scale))
    }
}

/// A whole number of a body, also when written with a zero fraction (`30.0`), as JSON Schema's
/// `integer` allows.
pub(super) fn whole<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(u) = n.as_u64() {
        return Ok(Some(u));
    }
    match n.as_f64() {
        Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= u64::MAX as f64 => Ok(Some(f as u64)),
        _ => Err(serde::de::Error::custom(format!(
            "{n} is not a whole number of 0 or more"
        ))),
    }
}

/// How a group's key sorts: empty first, then numbers by value, then text.
fn order_key(v: &Value) -> (u8, f64, String) {
    match v {
        Value::Null => (0, 0.0, String::new()),
        Value::Number(n) => (1, n.as_f64().unwrap_or(0.0), String::new()),
        Value::String(s) => (2, 0.0, s.clone()),
        other => (2, 0.0, other.to_string()),
    }
}

/// A stage's configured probability as a fraction of 1.
pub(super) fn configured(s: &StageDef) -> Option<f64> {
    match s.kind {
        StageKind::Won => Some(1.0),
        StageKind::Lost => Some(0.0),
        StageKind::Open => s.probability.or(s.weight).map(|p| p / 100.0),
    }
}

/// Amounts and probabilities as answered: rounded to 6 decimals (no float noise).
pub(super) fn round(v: f64) -> f64 {
    if v.is_finite() { (v * 1e6).round() / 1e6 } else { 0.0 }
}

/// A probability as answered (rounded; computed with in full).
pub(super) fn rounded<S: serde::Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    v.map(round).serialize(s)
}

/// The historical rates of the open stages from the records closed before an instant.
pub(super) async fn rates_before(
    engine: &Engine,
    ctx: &TenantCtx,
    base: &Base,
    before: DateTime<Utc>,
) -> Result<Vec<StageRates>, Error> {
    let won_keys = base.keys(StageKind::Won);
    let closed: Vec<String> = won_keys.iter().cloned().chain(base.keys(StageKind::Lost)).collect();
    let rows = store::closed_reach(&engine.db.read, &base.history(ctx.tenant_id()), before, &closed).await?;
    let is_won = |k: &str| won_keys.iter().any(|w| w == k);
    // Every closed record entered the closed stage it is in: the pooled rate.
    let (mut all_won, mut all_closed) = (0i64, 0i64);
    for r in rows.iter().filter(|r| r.stage == r.closed) {
        all_closed += r.n;
        if is_won(&r.closed) {
            all_won += r.n;
        }
    }
    let pooled = (all_closed > 0).then(|| all_won as f64 / all_closed as f64);
    let k = base.prior;
    Ok(base
        .open()
        .into_iter()
        .map(|s| {
            let (mut won, mut lost) = (0, 0);
            for r in rows.iter().filter(|r| r.stage == s.key.as_str()) {
                if is_won(&r.closed) {
                    won += r.n;
                } else {
                    lost += r.n;
                }
            }
            let n = won + lost;
            let cfg = configured(s);
            let historical = (n > 0).then(|| won as f64 / n as f64);
            let calibrated = match cfg.or(pooled) {
                Some(p) if n as f64 + k > 0.0 => Some((won as f64 + k * p) / (n as f64 + k)),
                Some(p) => Some(p),
                None => historical,
            };
            StageRates {
                stage: s.key.to_string(),
                label: s.label.clone(),
                configured_probability: cfg,
                won,
                lost,
                historical_win_rate: historical,
                calibrated_probability: calibrated,
                low_sample: n < LOW_SAMPLE,
            }
        })
        .collect())
}

/// A problem with the body is a 422 naming its place (as the body's type problems are).
pub(super) fn unprocessable(e: Error) -> Error {
    if e.code == ErrorCode::BadRequest && !e.errors.is_empty() {
        Error::validation(e.errors)
    } else {
        e
    }
}

pub(super) fn bad(at: &str, code: FieldCode, message: impl Into<String>) -> Error {
    Error::validation(vec![FieldError::new(at, code, message)])
}

/// The number field named as the amount, in the caller's view (a hidden one is unknown).
fn amount_field(view: &CompiledEntity, name: &str) -> Result<CompiledField, Error> {
    let f = view
        .column(name)
        .filter(|f| !f.system)
        .ok_or_else(|| unprocessable(unknown_field(view, "amount", name)))?;
    if !(f.kind == FieldType::Integer || f.kind.is_fixed_point()) {
        return Err(bad(
            "amount",
            FieldCode::Type,
            format!("'{name}' is not a number field"),
        ));
    }
    Ok(f.clone())
}

/// The owners of a team's records: `owner in (members)`; 422 for a team that does not exist.
async fn team_filter(engine: &Engine, ctx: &TenantCtx, view: &CompiledEntity, team: &str) -> Result<Filter, Error> {
    let known = trellis_store::teams::teams_of(&engine.db.read, ctx.tenant_id())
        .await?
        .iter()
        .any(|t| t.id == team);
    if !known {
        return Err(bad("team", FieldCode::NotFound, "no such team"));
    }
    let mut members: Vec<String> = trellis_store::teams::memberships_of(&engine.db.read, ctx.tenant_id())
        .await?
        .into_iter()
        .filter(|(t, _)| t == team)
        .map(|(_, u)| u)
        .collect();
    if members.is_empty() {
        // A team without members owns nothing: an id no user has keeps no record.
        members.push("-".to_string());
    }
    parse_filter(view, &json!({"field": "owner", "op": "in", "value": members}))
        .map_err(|e| Error::validation(e.errors))
}

impl Engine {
    /// The caller's view of a pipeline for a forecast (403 without the read right; hidden
    /// fields cannot be the amount or filtered).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn forecast_base(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        amount: Option<&str>,
        filter: Option<&Value>,
        team: Option<&str>,
        prior: Option<f64>,
        time_zone: Option<&str>,
    ) -> Result<Base, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let entity = entity_of(&app, entity)?.clone();
        let Some(pipeline) = entity.def.pipeline.clone() else {
            return Err(Error::not_found(format!("entity '{}' has no pipeline", entity.name())));
        };
        let access = self.access(&self.db.read, ctx, &app, &entity).await?;
        let scope = self.scope(&self.db.read, ctx, &access, Right::Read).await?;
        let view = access.view.clone();
        let amount = amount.map(|a| amount_field(&view, a)).transpose()?;
        let prior = prior.unwrap_or(DEFAULT_PRIOR_STRENGTH);
        if !(0.0..=1000.0).contains(&prior) {
            return Err(bad("prior_strength", FieldCode::Range, "must be 0 to 1000"));
        }
        let zone = match time_zone {
            Some(z) => Zone::parse("time_zone", z).map_err(|e| Error::validation(e.errors))?,
            None => self.tenant_zone(ctx).await?,
        };
        let mut records = match filter {
            Some(f) => Some(parse_filter(&view, f).map_err(|e| Error::validation(e.errors))?),
            None => None,
        };
        if let Some(team) = team {
            records = crate::access::and(Some(team_filter(self, ctx, &view, team).await?), records);
        }
        let records = crate::access::and(scope, records);
        Ok(Base {
            entity,
            view,
            pipeline,
            records,
            amount,
            prior,
            zone,
            app_id: app.id.clone(),
        })
    }

    /// The forecast of an entity's pipeline through the caller's row scope.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn forecast(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        r: &ForecastRequest,
    ) -> Result<Forecast, Error> {
        let base = self
            .forecast_base(
                ctx,
                app,
                entity,
                Some(&r.amount),
                r.filter.as_ref(),
                r.team.as_deref(),
                r.prior_strength,
                r.time_zone.as_deref(),
            )
            .await?;
        let view = base.view.clone();
        let amount = base.amount.clone().expect("an amount was named");
        let by_team = r.group_by.as_deref() == Some("team");
        let group: Option<&CompiledField> = match r.group_by.as_deref() {
            None => None,
            Some("team") => view.column("owner"),
            Some(name) => {
                let f = view
                    .column(name)
                    .ok_or_else(|| unprocessable(unknown_field(&view, "group_by", name)))?;
                if !agg::groupable(f) || f.name == "stage" {
                    return Err(bad("group_by", FieldCode::Type, format!("'{name}' cannot be grouped")));
                }
                Some(f)
            }
        };
        let period = match &r.period {
            Some(b) => {
                let f = view
                    .column(&b.field)
                    .ok_or_else(|| unprocessable(unknown_field(&view, "period.field", &b.field)))?;
                if !matches!(f.kind, FieldType::Date | FieldType::Datetime) {
                    return Err(bad(
                        "period.field",
                        FieldCode::Type,
                        format!("'{}' is not a date or datetime field", b.field),
                    ));
                }
                let unit = match b.unit {
                    BucketUnit::Day => agg::Unit::Day,
                    BucketUnit::Week => agg::Unit::Week,
                    BucketUnit::Month => agg::Unit::Month,
                    BucketUnit::Quarter => agg::Unit::Quarter,
                    BucketUnit::Year => agg::Unit::Year,
                };
                Some((f, unit))
            }
            None => None,
        };
        let stage_col = view
            .column("stage")
            .ok_or_else(|| Error::internal("a pipeline without a stage column"))?;
        let mut groups = vec![stage_col];
        groups.extend(group);
        let q = AggregateQuery {
            groups,
            bucket: period,
            zone: base.zone,
            measures: vec![
                agg::Measure {
                    op: agg::Op::Count,
                    field: None,
                },
                agg::Measure {
                    op: agg::Op::Sum,
                    field: Some(&amount),
                },
            ],
            filter: base.records.clone(),
            having: Vec::new(),
            sort: Vec::new(),
            limit: MAX_FORECAST_GROUPS + 1,
        };
        let rows = agg::aggregate(&self.db.read, &view, &q).await?;
        if rows.len() as u64 > MAX_FORECAST_GROUPS {
            return Err(bad(
                "group_by",
                FieldCode::TooMany,
                format!("more than {MAX_FORECAST_GROUPS} groups; filter the forecast or choose longer periods"),
            ));
        }
        let rates = rates_before(
            self,
            ctx,
            &base,
            trellis_core::value::now_micros() + chrono::Duration::seconds(1),
        )
        .await?;
        let initial = base.pipeline.initial_stage().key.to_string();
        // Teams of each owner when grouped by team.
        let (teams_of_owner, team_names) = if by_team {
            let mut of: HashMap<String, Vec<String>> = HashMap::new();
            for (t, u) in trellis_store::teams::memberships_of(&self.db.read, ctx.tenant_id()).await? {
                of.entry(u).or_default().push(t);
            }
            let names: HashMap<String, String> = trellis_store::teams::teams_of(&self.db.read, ctx.tenant_id())
                .await?
                .into_iter()
                .map(|t| (t.id, t.name))
                .collect();
            (of, names)
        } else {
            (HashMap::new(), HashMap::new())
        };
        let mut stages: Vec<ForecastStage> = rates
            .into_iter()
            .map(|rates| ForecastStage {
                rates,
                open_count: 0,
                open_amount: 0.0,
                weighted: 0.0,
                calibrated: 0.0,
            })
            .collect();
        // (group key as text, period) → group
        let mut out: BTreeMap<(String, String), ForecastGroup> = BTreeMap::new();
        let mut totals = ForecastTotals::default();
        for row in rows {
            // Records from before the pipeline have no stage: they sit in the initial one.
            let stage = match row.keys.first() {
                Some(Val::Text(s)) => s.clone(),
                _ => initial.clone(),
            };
            let Some(st) = stages.iter_mut().find(|s| s.rates.stage == stage) else {
                continue;
            };
            let n = match row.measures.first() {
                Some(MeasureValue::Count(n)) => *n,
                _ => 0,
            };
            let sum = match row.measures.get(1) {
                Some(MeasureValue::Sum(Some(s))) => base.units(*s),
                _ => 0.0,
            };
            let weighted = sum * st.rates.configured_probability.unwrap_or(0.0);
            let calibrated = sum * st.rates.calibrated_probability.unwrap_or(0.0);
            st.open_count += n;
            st.open_amount += sum;
            st.weighted += weighted;
            st.calibrated += calibrated;
            totals.open_count += n;
            totals.open_amount += sum;
            totals.weighted += weighted;
            totals.calibrated += calibrated;
            let key = match (group, row.keys.get(1)) {
                (Some(f), Some(v)) => v.to_json(f),
                _ => Value::Null,
            };
            let keys: Vec<(Value, Option<String>)> = if by_team {
                match key.as_str().and_then(|o| teams_of_owner.get(o)) {
                    Some(ts) => ts
                        .iter()
                        .map(|t| (Value::String(t.clone()), team_names.get(t).cloned()))
                        .collect(),
                    None => vec![(Value::Null, None)],
                }
            } else {
                vec![(key, None)]
            };
            let period = period.map(|_| row.bucket.clone().map(Value::String).unwrap_or(Value::Null));
            for (key, name) in keys {
                let sort_key = (
                    if key.is_null() {
                        String::new()
                    } else {
                        format!("~{key}")
                    },
                    period.as_ref().map(|p| p.to_string()).unwrap_or_default(),
                );
                let g = out.entry(sort_key).or_insert_with(|| ForecastGroup {
                    key,
                    name,
                    period: period.clone(),
                    stages: Vec::new(),
                    open_count: 0,
                    open_amount: 0.0,
                    weighted: 0.0,
                    calibrated: 0.0,
                });
                g.open_count += n;
                g.open_amount += sum;
                g.weighted += weighted;
                g.calibrated += calibrated;
                match g.stages.iter_mut().find(|c| c.stage == stage) {
                    Some(c) => {
                        c.open_count += n;
                        c.open_amount += sum;
                        c.weighted += weighted;
                        c.calibrated += calibrated;
                    }
                    None => g.stages.push(ForecastCell {
                        stage: stage.clone(),
                        open_count: n,
                        open_amount: sum,
                        weighted,
                        calibrated,
                    }),
                }
            }
        }
        let order: Vec<String> = stages.iter().map(|s| s.rates.stage.clone()).collect();
        let mut groups: Vec<ForecastGroup> = out.into_values().collect();
        // Empty values first, numbers by value, the rest by their text; then periods.
        groups.sort_by(|a, b| {
            order_key(&a.key)
                .partial_cmp(&order_key(&b.key))
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| {
                    let p = |g: &ForecastGroup| g.period.as_ref().map(|p| p.as_str().unwrap_or("").to_string());
                    p(a).cmp(&p(b))
                })
        });
        for g in &mut groups {
            g.stages
                .sort_by_key(|c| order.iter().position(|s| *s == c.stage).unwrap_or(usize::MAX));
            for c in &mut g.stages {
                c.open_amount = round(c.open_amount);
                c.weighted = round(c.weighted);
                c.calibrated = round(c.calibrated);
            }
            g.open_amount = round(g.open_amount);
            g.weighted = round(g.weighted);
            g.calibrated = round(g.calibrated);
        }
        for s in &mut stages {
            s.open_amount = round(s.open_amount);
            s.weighted = round(s.weighted);
            s.calibrated = round(s.calibrated);
        }
        totals.open_amount = round(totals.open_amount);
        totals.weighted = round(totals.weighted);
        totals.calibrated = round(totals.calibrated);
        Ok(Forecast {
            amount: amount.name.clone(),
            prior_strength: base.prior,
            low_sample_under: LOW_SAMPLE,
            time_zone: base.zone.name().to_string(),
            stages,
            groups,
            totals,
        })
    }
}
