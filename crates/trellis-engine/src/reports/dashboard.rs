//! Dashboards at run time: each widget's report run through the reader's view, narrowed by the
//! dashboard's global filters (period, owner, team, fields), answered as the report's own JSON
//! and as a table ([`super::table`]); and the shape checks of widget queries when an app is
//! saved.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use trellis_core::dashboard::{DashboardDef, FilterKind, RelativePeriod, ReportKind, WidgetDef, WidgetKind};
use trellis_core::def::{AppDef, FieldType};
use trellis_core::error::FieldCode;
use trellis_core::permissions::{NO_ID, Right, substitute};
use trellis_core::zone::Zone;
use trellis_core::{CompiledEntity, Error, ErrorCode, FieldError, Label};

use super::funnel::day_start;
use super::table::{WidgetTable, table_of};
use super::{AggregateRequest, CycleRequest, FollowUpRequest, ForecastRequest, FunnelRequest, SlaRequest};
use crate::Engine;
use crate::compiled::scripts::LoadedApp;
use crate::context::TenantCtx;

/// The values of a dashboard's global filters (only filters the dashboard declares).
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DashboardFilters {
    /// First day of the period (a `period` filter; with `to`). None: the filter's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub from: Option<NaiveDate>,
    /// Last day of the period, included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub to: Option<NaiveDate>,
    /// A user id (an `owner` filter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, min_length = 1, max_length = 64)]
    pub owner: Option<String>,
    /// A team id (a `team` filter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, min_length = 1, max_length = 64)]
    pub team: Option<String>,
    /// Values per field of a `field` filter: records with any of them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = BTreeMap<String, Vec<serde_json::Value>>)]
    pub fields: BTreeMap<String, Vec<Value>>,
}

/// A dashboard's data as the caller may read it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DashboardData {
    pub dashboard: String,
    pub label: Label,
    /// The period applied (the one asked for, or the period filter's default).
    #[schema(required = true)]
    pub from: Option<NaiveDate>,
    #[schema(required = true)]
    pub to: Option<NaiveDate>,
    pub time_zone: String,
    pub widgets: Vec<WidgetData>,
}

/// One widget's data, or why it has none (its report refused: the widget's own problem, the
/// others still answer).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WidgetData {
    pub name: String,
    pub label: Label,
    pub kind: WidgetKind,
    pub report: ReportKind,
    pub entity: String,
    /// The report's answer, as its route answers it.
    #[schema(value_type = Option<Object>, required = true)]
    pub data: Option<Value>,
    #[schema(required = true)]
    pub table: Option<WidgetTable>,
    #[schema(required = true)]
    pub error: Option<WidgetError>,
}

/// Why a widget has no data.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WidgetError {
    pub status: u16,
    pub code: String,
    pub detail: String,
}

fn bad(at: &str, code: FieldCode, message: impl Into<String>) -> Error {
    Error::validation(vec![FieldError::new(at, code, message)])
}

fn parse<T: DeserializeOwned>(q: &Value) -> Result<T, String> {
    let q = if q.is_null() { json!({}) } else { q.clone() };
    serde_json::from_value(q).map_err(|e| e.to_string())
}

/// Whether the query has the shape of the report's request.
fn query_shape(report: ReportKind, q: &Value) -> Result<(), String> {
    match report {
        ReportKind::Aggregate => parse::<AggregateRequest>(q).map(drop),
        ReportKind::Funnel => parse::<FunnelRequest>(q).map(drop),
        ReportKind::Forecast => parse::<ForecastRequest>(q).map(drop),
        ReportKind::Sla => parse::<SlaRequest>(q).map(drop),
        ReportKind::FirstFollowUp => parse::<FollowUpRequest>(q).map(drop),
        ReportKind::Cycle => parse::<CycleRequest>(q).map(drop),
    }
}

/// The checks of widget queries when an app is saved: the shape of the report's request,
/// fields of the widget's entity, a filter that parses. What only a run can tell (a pipeline,
/// the reader's view) is told by the widget's run.
pub fn check_dashboards(app: &AppDef, errors: &mut Vec<FieldError>) {
    for d in &app.dashboards {
        for w in &d.widgets {
            let at = format!("dashboards.{}.widgets.{}.query", d.name, w.name);
            let named = format!("dashboard '{}', widget '{}'", d.name, w.name);
            let Some(e) = app.entity(w.entity.as_str()) else {
                continue;
            };
            if let Err(e) = query_shape(w.report, &w.query) {
                errors.push(FieldError::new(
                    &at,
                    FieldCode::Invalid,
                    format!("{named}: not a {} query: {e}", w.report.as_str()),
                ));
                continue;
            }
            let compiled = CompiledEntity::compile(e);
            for f in trellis_core::dashboard::widget_fields(w) {
                if compiled.column(&f).is_none() {
                    errors.push(FieldError::new(
                        &at,
                        FieldCode::UnknownField,
                        format!("{named} uses '{f}', which is not a field of '{}'", e.name),
                    ));
                }
            }
            if let Some(filter) = w.query.get("filter") {
                let probe = substitute(filter, NO_ID, NO_ID, &[NO_ID.to_string()]);
                if let Err(err) = trellis_core::query::parse_filter(&compiled, &probe) {
                    for fe in err.errors {
                        errors.push(FieldError::new(
                            format!("{at}.filter"),
                            fe.code,
                            format!("{named}: {}", fe.message),
                        ));
                    }
                }
            }
        }
    }
}

/// The days of a relative period, both included, on `today`.
pub fn period_days(p: RelativePeriod, today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let month_start = |d: NaiveDate| d.with_day(1).unwrap_or(d);
    match p {
        RelativePeriod::Today => (today, today),
        RelativePeriod::Last7Days => (today - Duration::days(6), today),
        RelativePeriod::Last30Days => (today - Duration::days(29), today),
        RelativePeriod::ThisWeek => {
            let start = today - Duration::days(today.weekday().num_days_from_monday() as i64);
            (start, start + Duration::days(6))
        }
        RelativePeriod::ThisMonth => {
            let start = month_start(today);
            let next = month_start(start + Duration::days(32));
            (start, next - Duration::days(1))
        }
        RelativePeriod::LastMonth => {
            let end = month_start(today) - Duration::days(1);
            (month_start(end), end)
        }
        RelativePeriod::ThisQuarter => {
            let m0 = (today.month0() / 3) * 3 + 1;
            let start = NaiveDate::from_ymd_opt(today.year(), m0, 1).unwrap_or(today);
            let next = month_start(start + Duration::days(95));
            (start, next - Duration::days(1))
        }
        RelativePeriod::ThisYear => (
            NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today),
            NaiveDate::from_ymd_opt(today.year(), 12, 31).unwrap_or(today),
        ),
    }
}

/// The filters as they apply: the period resolved, the team's members known.
struct Applied {
    period: Option<(NaiveDate, NaiveDate)>,
    owner: Option<String>,
    team: Option<(String, Vec<String>)>,
    fields: BTreeMap<String, Vec<Value>>,
    zone: Zone,
}

fn and_filter(q: &mut serde_json::Map<String, Value>, extra: Vec<Value>) {
    if extra.is_empty() {
        return;
    }
    let mut all = Vec::with_capacity(extra.len() + 1);
    if let Some(f) = q.remove("filter").filter(|f| !f.is_null()) {
        all.push(f);
    }
    all.extend(extra);
    q.insert("filter".into(), json!({ "and": all }));
}

/// The widget's query narrowed by the filters that fit its entity (`view`: as the reader sees
/// it, so a hidden field is not narrowed by and cannot be named).
fn narrowed(w: &WidgetDef, view: &CompiledEntity, a: &Applied) -> Value {
    let mut q = match &w.query {
        Value::Object(o) => o.clone(),
        _ => serde_json::Map::new(),
    };
    let mut extra = Vec::new();
    if let Some((from, to)) = a.period {
        if w.report.has_period() {
            q.insert("from".into(), json!(from));
            q.insert("to".into(), json!(to));
        } else {
            let field = w
                .period_field
                .as_ref()
                .map(|f| f.to_string())
                .or_else(|| {
                    (w.report == ReportKind::Forecast)
                        .then(|| q.get("period").and_then(|p| p["field"].as_str()).map(str::to_string))
                        .flatten()
                })
                .unwrap_or_else(|| "created_at".to_string());
            if let Some(c) = view.column(&field) {
                if c.kind == FieldType::Date {
                    extra.push(json!({"field": field, "op": "gte", "value": from}));
                    extra.push(json!({"field": field, "op": "lte", "value": to}));
                } else {
                    let start = trellis_core::value::format_datetime(&day_start(a.zone, from));
                    let end = trellis_core::value::format_datetime(&day_start(a.zone, to + Duration::days(1)));
                    extra.push(json!({"field": field, "op": "gte", "value": start}));
                    extra.push(json!({"field": field, "op": "lt", "value": end}));
                }
            }
        }
    }
    if let Some(owner) = &a.owner
        && view.column("owner").is_some()
    {
        extra.push(json!({"field": "owner", "op": "eq", "value": owner}));
    }
    if let Some((team, members)) = &a.team {
        if w.report.has_team() {
            q.insert("team".into(), json!(team));
        } else if view.column("owner").is_some() {
            let members = if members.is_empty() {
                vec![NO_ID.to_string()]
            } else {
                members.clone()
            };
            extra.push(json!({"field": "owner", "op": "in", "value": members}));
        }
    }
    for (name, values) in &a.fields {
        let Some(c) = view.column(name) else { continue };
        match c.kind {
            FieldType::MultiSelect => {
                let any: Vec<Value> = values
                    .iter()
                    .map(|v| json!({"field": name, "op": "contains", "value": v}))
                    .collect();
                extra.push(json!({ "or": any }));
            }
            FieldType::Boolean if values.len() == 1 => {
                extra.push(json!({"field": name, "op": "eq", "value": values[0]}));
            }
            _ => extra.push(json!({"field": name, "op": "in", "value": values})),
        }
    }
    and_filter(&mut q, extra);
    Value::Object(q)
}

fn widget_error(e: &Error) -> WidgetError {
    let detail = if e.code == ErrorCode::Internal {
        tracing::error!(error = %e.detail, "a dashboard widget failed");
        "the widget could not be computed".to_string()
    } else {
        let mut d = e.detail.clone();
        for fe in &e.errors {
            d.push_str(&format!("; {}: {}", fe.field, fe.message));
        }
        d
    };
    WidgetError {
        status: e.code.status(),
        code: e
            .errors
            .first()
            .map_or_else(|| e.code.as_str().to_string(), |fe| fe.code.clone()),
        detail,
    }
}

impl Engine {
    /// The dashboard as the caller reads it: widgets naming a field hidden from them, or on an
    /// entity they may not read, left out (404 when none is left).
    pub(crate) async fn dashboard_for(
        &self,
        ctx: &TenantCtx,
        app: &LoadedApp,
        name: &str,
    ) -> Result<DashboardDef, Error> {
        let missing = || Error::not_found(format!("dashboard '{name}' does not exist"));
        let view = self.def_for(&self.db.read, ctx, &app.id, &app.def).await?;
        let mut d = view
            .dashboards
            .into_iter()
            .find(|d| d.name.as_str() == name)
            .ok_or_else(missing)?;
        let mut readable = Vec::with_capacity(d.widgets.len());
        for w in d.widgets {
            let Some(entity) = app.entity(w.entity.as_str()) else {
                continue;
            };
            let access = self.access(&self.db.read, ctx, app, entity).await?;
            if access.grant.reach(Right::Read).is_some() {
                readable.push(w);
            }
        }
        d.widgets = readable;
        if d.widgets.is_empty() {
            return Err(missing());
        }
        Ok(d)
    }

    async fn applied(&self, ctx: &TenantCtx, d: &DashboardDef, f: &DashboardFilters) -> Result<Applied, Error> {
        let declared = |k: FilterKind| d.filters.iter().find(|x| x.kind == k);
        let undeclared = |at: &str, what: &str| {
            bad(
                at,
                FieldCode::NotApplicable,
                format!("dashboard '{}' has no {what} filter", d.name),
            )
        };
        let zone = self.tenant_zone(ctx).await?;
        let period = match (f.from, f.to, declared(FilterKind::Period)) {
            (None, None, Some(p)) => {
                let today = Utc::now().with_timezone(&zone.tz()).date_naive();
                p.default.map(|r| period_days(r, today))
            }
            (None, None, None) => None,
            (_, _, None) => return Err(undeclared(if f.from.is_some() { "from" } else { "to" }, "period")),
            (Some(a), Some(b), Some(_)) if b < a => {
                return Err(bad("to", FieldCode::Range, "the period ends before it begins"));
            }
            (Some(a), Some(b), Some(_)) => Some((a, b)),
            (None, Some(_), Some(_)) => return Err(bad("from", FieldCode::Required, "a period has a first day")),
            (Some(_), None, Some(_)) => return Err(bad("to", FieldCode::Required, "a period has a last day")),
        };
        if f.owner.is_some() && declared(FilterKind::Owner).is_none() {
            return Err(undeclared("owner", "owner"));
        }
        let team = match &f.team {
            None => None,
            Some(_) if declared(FilterKind::Team).is_none() => return Err(undeclared("team", "team")),
            Some(t) => {
                let known = trellis_store::teams::teams_of(&self.db.read, ctx.tenant_id())
                    .await?
                    .iter()
                    .any(|x| &x.id == t);
                if !known {
                    return Err(bad("team", FieldCode::NotFound, "no such team"));
                }
                let members = trellis_store::teams::memberships_of(&self.db.read, ctx.tenant_id())
                    .await?
                    .into_iter()
                    .filter(|(team, _)| team == t)
                    .map(|(_, user)| user)
                    .collect();
                Some((t.clone(), members))
            }
        };
        for (name, values) in &f.fields {
            let at = format!("fields.{}", trellis_core::names::truncate(name, 64));
            if !d
                .filters
                .iter()
                .any(|x| x.kind == FilterKind::Field && x.field.as_ref().is_some_and(|n| n.as_str() == name))
            {
                return Err(bad(
                    &at,
                    FieldCode::NotApplicable,
                    format!("dashboard '{}' has no filter by this field", d.name),
                ));
            }
            if values.is_empty() || values.len() > 100 {
                return Err(bad(&at, FieldCode::Count, "between 1 and 100 values"));
            }
        }
        Ok(Applied {
            period,
            owner: f.owner.clone(),
            team,
            fields: f.fields.clone(),
            zone,
        })
    }

    /// A widget's report run as the caller, narrowed by the filters: its answer and table.
    async fn widget_compute(
        &self,
        ctx: &TenantCtx,
        app: &LoadedApp,
        w: &WidgetDef,
        a: &Applied,
    ) -> Result<(Value, WidgetTable), Error> {
        let entity = crate::records::entity_of(app, w.entity.as_str())?;
        let access = self.access(&self.db.read, ctx, app, entity).await?;
        let q = narrowed(w, &access.view, a);
        let data = self.run_report(ctx, app.def.name.as_str(), w, &q).await?;
        let table = table_of(w.report, &q, &data, &access.view);
        Ok((data, table))
    }

    /// [`Engine::widget_compute`] as a dashboard answers it: the refusal in the widget.
    async fn widget_run(&self, ctx: &TenantCtx, app: &LoadedApp, w: &WidgetDef, a: &Applied) -> WidgetData {
        let (data, table, error) = match self.widget_compute(ctx, app, w, a).await {
            Ok((d, t)) => (Some(d), Some(t), None),
            Err(e) => (None, None, Some(widget_error(&e))),
        };
        WidgetData {
            name: w.name.to_string(),
            label: w.label.clone(),
            kind: w.kind,
            report: w.report,
            entity: w.entity.to_string(),
            data,
            table,
            error,
        }
    }

    async fn run_report(&self, ctx: &TenantCtx, app: &str, w: &WidgetDef, q: &Value) -> Result<Value, Error> {
        let shape = |e: String| bad("query", FieldCode::Invalid, e);
        let entity = w.entity.as_str();
        let json = |v: Result<Value, serde_json::Error>| v.map_err(|e| Error::internal(e.to_string()));
        match w.report {
            ReportKind::Aggregate => {
                let r = parse(q).map_err(shape)?;
                json(serde_json::to_value(
                    self.aggregate_records(ctx, app, entity, &r).await?,
                ))
            }
            ReportKind::Funnel => {
                let r = parse(q).map_err(shape)?;
                json(serde_json::to_value(self.funnel(ctx, app, entity, &r).await?))
            }
            ReportKind::Forecast => {
                let r = parse(q).map_err(shape)?;
                json(serde_json::to_value(self.forecast(ctx, app, entity, &r).await?))
            }
            ReportKind::Sla => {
                let r = parse(q).map_err(shape)?;
                json(serde_json::to_value(self.sla_report(ctx, app, entity, &r).await?))
            }
            ReportKind::FirstFollowUp => {
                let r = parse(q).map_err(shape)?;
                json(serde_json::to_value(self.first_follow_up(ctx, app, entity, &r).await?))
            }
            ReportKind::Cycle => {
                let r = parse(q).map_err(shape)?;
                json(serde_json::to_value(self.cycle_report(ctx, app, entity, &r).await?))
            }
        }
    }

    /// Every widget's data of a dashboard, as the caller may read it, under the filters.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, dashboard = %dashboard))]
    pub async fn dashboard_data(
        &self,
        ctx: &TenantCtx,
        app: &str,
        dashboard: &str,
        filters: &DashboardFilters,
    ) -> Result<DashboardData, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let d = self.dashboard_for(ctx, &app, dashboard).await?;
        let a = self.applied(ctx, &d, filters).await?;
        let mut widgets = Vec::with_capacity(d.widgets.len());
        for w in &d.widgets {
            widgets.push(self.widget_run(ctx, &app, w, &a).await);
        }
        Ok(DashboardData {
            dashboard: d.name.to_string(),
            label: d.label.clone(),
            from: a.period.map(|p| p.0),
            to: a.period.map(|p| p.1),
            time_zone: a.zone.name().to_string(),
            widgets,
        })
    }

    /// One widget's table and the entity as the caller sees it (for its CSV): 404 for a widget
    /// the caller may not see, the report's refusal as the answer's.
    pub async fn widget_data(
        &self,
        ctx: &TenantCtx,
        app: &str,
        dashboard: &str,
        widget: &str,
        filters: &DashboardFilters,
    ) -> Result<(WidgetDef, WidgetTable, std::sync::Arc<CompiledEntity>), Error> {
        let app = self.compiled_app(ctx, app).await?;
        let d = self.dashboard_for(ctx, &app, dashboard).await?;
        let w = d
            .widgets
            .iter()
            .find(|w| w.name.as_str() == widget)
            .ok_or_else(|| Error::not_found(format!("dashboard '{dashboard}' has no widget '{widget}'")))?;
        let a = self.applied(ctx, &d, filters).await?;
        let entity = crate::records::entity_of(&app, w.entity.as_str())?;
        let view = self.access(&self.db.read, ctx, &app, entity).await?.view;
        let (_, table) = self.widget_compute(ctx, &app, w, &a).await?;
        Ok((w.clone(), table, view))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn relative_periods_are_whole_days_of_the_calendar() {
        let today = d("2026-11-18"); // a Wednesday
        assert_eq!(
            period_days(RelativePeriod::ThisWeek, today),
            (d("2026-11-16"), d("2026-11-22"))
        );
        assert_eq!(
            period_days(RelativePeriod::ThisMonth, today),
            (d("2026-11-01"), d("2026-11-30"))
        );
        assert_eq!(
            period_days(RelativePeriod::LastMonth, today),
            (d("2026-10-01"), d("2026-10-31"))
        );
        assert_eq!(
            period_days(RelativePeriod::ThisQuarter, today),
            (d("2026-10-01"), d("2026-12-31"))
        );
        assert_eq!(period_days(RelativePeriod::Last7Days, today), (d("2026-11-12"), today));
        assert_eq!(
            period_days(RelativePeriod::ThisYear, today),
            (d("2026-01-01"), d("2026-12-31"))
        );
        assert_eq!(
            period_days(RelativePeriod::ThisMonth, d("2026-02-10")),
            (d("2026-02-01"), d("2026-02-28"))
        );
        assert_eq!(
            period_days(RelativePeriod::LastMonth, d("2026-01-05")),
            (d("2025-12-01"), d("2025-12-31"))
        );
    }
}
