//! Dashboards (`schemas/dashboard.schema.json`): widgets laid out on a grid, each bound to one
//! report query of an entity (aggregate, funnel, forecast, SLA, first follow-up, cycle), and
//! global filters (period, owner, team, any field) that narrow every widget they apply to. They
//! live in the app definition, so a change that takes away a field or entity a widget uses is
//! refused naming the dashboard, and renames carry over to them.
//!
//! The query of a widget is the report's request body as the API takes it; its shape is checked
//! by the engine (which owns the report types) when the app is saved, its meaning each time it
//! runs, through the reader's view.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::compile::CompiledEntity;
use crate::def::{AppDef, FieldType, Label};
use crate::error::{FieldCode, FieldError};
use crate::names::Slug;
use crate::permissions::{HiddenFields, filter_names};

/// A dashboard of an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DashboardDef {
    /// Stable id of the element in the app package it came from: it survives renames, and
    /// package upgrades match elements by it ([`crate::package`]). None on elements made in
    /// the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub key: Option<crate::Slug>,
    /// Stable name, unique in the app.
    pub name: Slug,
    pub label: Label,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub description: Option<Label>,
    /// Filters above the widgets, applied to every widget they fit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 10)]
    pub filters: Vec<DashboardFilter>,
    #[schema(min_items = 1, max_items = 40)]
    pub widgets: Vec<WidgetDef>,
}

/// A global filter of a dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DashboardFilter {
    pub kind: FilterKind,
    /// The field a `field` filter narrows by (a select, multi-select, user, relation, text or
    /// boolean field of the widgets' entities); widgets whose entity lacks it are not narrowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<Slug>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub label: Option<Label>,
    /// A `period` filter's value when the reader picks none (and in e-mailed digests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub default: Option<RelativePeriod>,
}

/// What a global filter narrows by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FilterKind {
    /// From and to dates: the report's period (funnel, SLA, follow-up) or the widget's
    /// `period_field` (aggregate, forecast, cycle; `created_at` by default).
    Period,
    /// The records' owner.
    Owner,
    /// Records owned by members of a team.
    Team,
    /// One or more values of `field`.
    Field,
}

/// A period relative to today, in the tenant's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RelativePeriod {
    Today,
    #[serde(rename = "last_7_days")]
    Last7Days,
    #[serde(rename = "last_30_days")]
    Last30Days,
    ThisWeek,
    ThisMonth,
    LastMonth,
    ThisQuarter,
    ThisYear,
}

/// A widget: one report query drawn one way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WidgetDef {
    /// Stable name, unique in the dashboard.
    pub name: Slug,
    pub label: Label,
    /// How it is drawn.
    pub kind: WidgetKind,
    /// The entity the report is about.
    pub entity: Slug,
    /// The report it shows.
    pub report: ReportKind,
    /// The report's request body, as its API route takes it (`POST …/{entity}/{report}`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub query: Value,
    /// The date or datetime field a period filter narrows (aggregate, forecast and cycle
    /// widgets; `created_at` by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub period_field: Option<Slug>,
    pub position: Position,
}

/// How a widget is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WidgetKind {
    Number,
    Bar,
    Line,
    Pie,
    Funnel,
    Forecast,
    Table,
    Sla,
}

/// The report a widget shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    Aggregate,
    Funnel,
    Forecast,
    Sla,
    FirstFollowUp,
    Cycle,
}

impl ReportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Aggregate => "aggregate",
            ReportKind::Funnel => "funnel",
            ReportKind::Forecast => "forecast",
            ReportKind::Sla => "sla",
            ReportKind::FirstFollowUp => "first_follow_up",
            ReportKind::Cycle => "cycle",
        }
    }

    /// Whether the report takes its period as `from`/`to` dates (else as a filter on a field).
    pub fn has_period(self) -> bool {
        matches!(self, ReportKind::Funnel | ReportKind::Sla | ReportKind::FirstFollowUp)
    }

    /// Whether the report takes a `team`.
    pub fn has_team(self) -> bool {
        !matches!(self, ReportKind::Aggregate)
    }
}

impl WidgetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WidgetKind::Number => "number",
            WidgetKind::Bar => "bar",
            WidgetKind::Line => "line",
            WidgetKind::Pie => "pie",
            WidgetKind::Funnel => "funnel",
            WidgetKind::Forecast => "forecast",
            WidgetKind::Table => "table",
            WidgetKind::Sla => "sla",
        }
    }

    /// Whether the widget can draw the report.
    pub fn draws(self, r: ReportKind) -> bool {
        use ReportKind as R;
        match self {
            WidgetKind::Table => true,
            WidgetKind::Number | WidgetKind::Pie | WidgetKind::Line => r == R::Aggregate,
            WidgetKind::Bar => matches!(r, R::Aggregate | R::Cycle | R::FirstFollowUp | R::Sla),
            WidgetKind::Funnel => r == R::Funnel,
            WidgetKind::Forecast => r == R::Forecast,
            WidgetKind::Sla => matches!(r, R::Sla | R::FirstFollowUp),
        }
    }
}

/// A widget's place on the dashboard's 12-column grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Position {
    #[schema(minimum = 0, maximum = 11)]
    pub x: u32,
    #[schema(minimum = 0, maximum = 1000)]
    pub y: u32,
    #[schema(minimum = 1, maximum = 12)]
    pub w: u32,
    #[schema(minimum = 1, maximum = 24)]
    pub h: u32,
}

/// The field names a widget's query names (under `field`, `group_by`, `amount` keys and in its
/// filter), and its period field.
pub fn widget_fields(w: &WidgetDef) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                for (k, x) in o {
                    match (k.as_str(), x) {
                        ("field" | "group_by" | "amount", Value::String(s)) => out.push(s.clone()),
                        ("group_by", Value::Array(a)) => {
                            out.extend(a.iter().filter_map(Value::as_str).map(str::to_string))
                        }
                        // Another entity's fields (first follow-up by a related record).
                        ("follow_up", _) => {}
                        _ => walk(x, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    // The SLA and first follow-up reports group by `team` or `none` too: words, not fields.
    let words: &[&str] = match w.report {
        ReportKind::Sla | ReportKind::FirstFollowUp => &["team", "none"],
        _ => &[],
    };
    if let Some(Value::String(g)) = w.query.get("group_by")
        && words.contains(&g.as_str())
    {
        let mut q = w.query.clone();
        q.as_object_mut()
            .expect("a query with group_by is an object")
            .remove("group_by");
        walk(&q, &mut out);
    } else {
        walk(&w.query, &mut out);
    }
    out.extend(w.period_field.iter().map(|f| f.to_string()));
    out
}

fn fits_field_filter(t: FieldType) -> bool {
    matches!(
        t,
        FieldType::SingleSelect
            | FieldType::MultiSelect
            | FieldType::User
            | FieldType::Relation
            | FieldType::Text
            | FieldType::Boolean
    )
}

/// The semantic checks of the app's dashboards that need no report types: unique names,
/// known entities, widgets that can draw their report, fields that exist, filters that fit,
/// positions inside the grid. Each problem names the dashboard (and widget).
pub fn validate_dashboards(app: &AppDef, errors: &mut Vec<FieldError>) {
    let mut names = HashSet::new();
    for d in &app.dashboards {
        let at = format!("dashboards.{}", d.name);
        let named = format!("dashboard '{}'", d.name);
        if !names.insert(d.name.as_str()) {
            errors.push(FieldError::new(
                &at,
                FieldCode::Duplicate,
                format!("{named} is defined twice"),
            ));
        }
        let mut widgets = HashSet::new();
        let mut entities = Vec::new();
        for w in &d.widgets {
            let wat = format!("{at}.widgets.{}", w.name);
            let wnamed = format!("{named}, widget '{}'", w.name);
            if !widgets.insert(w.name.as_str()) {
                errors.push(FieldError::new(
                    &wat,
                    FieldCode::Duplicate,
                    format!("{wnamed} is defined twice"),
                ));
            }
            if !w.kind.draws(w.report) {
                errors.push(FieldError::new(
                    format!("{wat}.kind"),
                    FieldCode::NotApplicable,
                    format!(
                        "{wnamed}: a {} widget cannot draw the {} report",
                        w.kind.as_str(),
                        w.report.as_str()
                    ),
                ));
            }
            if w.position.x + w.position.w > 12 {
                errors.push(FieldError::new(
                    format!("{wat}.position"),
                    FieldCode::OutOfRange,
                    format!("{wnamed} reaches past the grid's 12 columns"),
                ));
            }
            let Some(e) = app.entity(w.entity.as_str()) else {
                errors.push(FieldError::new(
                    format!("{wat}.entity"),
                    FieldCode::UnknownEntity,
                    format!("{wnamed} reports on '{}', which is not an entity of this app", w.entity),
                ));
                continue;
            };
            if !w.query.is_object() && !w.query.is_null() {
                errors.push(FieldError::new(
                    format!("{wat}.query"),
                    FieldCode::Type,
                    format!("{wnamed}: the query is the report's request object"),
                ));
            }
            let compiled = CompiledEntity::compile(e);
            if let Some(p) = &w.period_field {
                match compiled.column(p.as_str()) {
                    None => errors.push(FieldError::new(
                        format!("{wat}.period_field"),
                        FieldCode::UnknownField,
                        format!("{wnamed} uses '{p}', which is not a field of '{}'", e.name),
                    )),
                    Some(c) if !matches!(c.kind, FieldType::Date | FieldType::Datetime) => {
                        errors.push(FieldError::new(
                            format!("{wat}.period_field"),
                            FieldCode::Type,
                            format!("{wnamed}: '{p}' is not a date or datetime field"),
                        ))
                    }
                    Some(_) => {}
                }
            }
            entities.push(compiled);
        }
        let mut kinds = HashSet::new();
        for (i, f) in d.filters.iter().enumerate() {
            let fat = format!("{at}.filters[{i}]");
            let key = (f.kind, f.field.as_ref().map(|s| s.to_string()));
            if !kinds.insert(key) {
                errors.push(FieldError::new(
                    &fat,
                    FieldCode::Duplicate,
                    format!("{named} has this filter twice"),
                ));
            }
            match (f.kind, &f.field) {
                (FilterKind::Field, None) => errors.push(FieldError::new(
                    format!("{fat}.field"),
                    FieldCode::Required,
                    format!("{named}: a field filter names its field"),
                )),
                (FilterKind::Field, Some(name)) => {
                    let cols: Vec<_> = entities.iter().filter_map(|c| c.column(name.as_str())).collect();
                    if cols.is_empty() {
                        errors.push(FieldError::new(
                            format!("{fat}.field"),
                            FieldCode::UnknownField,
                            format!("{named} filters by '{name}', which no widget's entity has"),
                        ));
                    } else if cols.iter().any(|c| !fits_field_filter(c.kind)) {
                        errors.push(FieldError::new(
                            format!("{fat}.field"),
                            FieldCode::Type,
                            format!(
                                "{named} cannot filter by '{name}' (a select, user, relation, text or boolean field)"
                            ),
                        ));
                    }
                }
                (_, Some(_)) => errors.push(FieldError::new(
                    format!("{fat}.field"),
                    FieldCode::NotApplicable,
                    format!("{named}: only a field filter names a field"),
                )),
                (_, None) => {}
            }
            if f.default.is_some() && f.kind != FilterKind::Period {
                errors.push(FieldError::new(
                    format!("{fat}.default"),
                    FieldCode::NotApplicable,
                    format!("{named}: only a period filter has a default"),
                ));
            }
        }
    }
}

/// The dashboards as a caller who may not see `hidden` reads them: widgets whose query names a
/// hidden field are left out, filters by a hidden field too; a dashboard left with no widget is
/// left out whole.
pub fn visible_dashboards(dashboards: &[DashboardDef], hidden: &HiddenFields) -> Vec<DashboardDef> {
    dashboards
        .iter()
        .filter_map(|d| {
            let mut d = d.clone();
            d.widgets.retain(|w| widget_visible(w, hidden));
            let seen: HashSet<&str> = d.widgets.iter().map(|w| w.entity.as_str()).collect();
            let all_hidden = |f: &Slug| {
                seen.iter()
                    .all(|e| hidden.get(*e).is_some_and(|h| h.contains(f.as_str())))
            };
            d.filters.retain(|f| !f.field.as_ref().is_some_and(all_hidden));
            (!d.widgets.is_empty()).then_some(d)
        })
        .collect()
}

/// Whether a reader who may not see `hidden` may see the widget.
pub fn widget_visible(w: &WidgetDef, hidden: &HiddenFields) -> bool {
    let Some(h) = hidden.get(w.entity.as_str()).filter(|h| !h.is_empty()) else {
        return true;
    };
    !widget_fields(w).iter().any(|f| h.contains(f)) && !filter_names(&w.query, h)
}

/// Widgets on `entity` follow a renamed field (query keys, filters, period field) and field
/// filters naming it do too.
pub fn rename_field(dashboards: &mut [DashboardDef], entity: &str, old: &str, new: &Slug) {
    fn walk(v: &mut Value, old: &str, new: &str) {
        match v {
            Value::Object(o) => {
                for (k, x) in o.iter_mut() {
                    match (k.as_str(), &mut *x) {
                        ("field" | "group_by" | "amount" | "by", Value::String(s)) if s == old => *s = new.to_string(),
                        ("follow_up", _) => {}
                        _ => walk(x, old, new),
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| match x {
                Value::String(s) if s == old => *s = new.to_string(),
                x => walk(x, old, new),
            }),
            _ => {}
        }
    }
    for d in dashboards.iter_mut() {
        let mut touched = false;
        for w in d.widgets.iter_mut().filter(|w| w.entity.as_str() == entity) {
            touched = true;
            walk(&mut w.query, old, new.as_str());
            if w.period_field.as_ref().is_some_and(|p| p.as_str() == old) {
                w.period_field = Some(new.clone());
            }
        }
        if touched {
            for f in d.filters.iter_mut() {
                if f.field.as_ref().is_some_and(|x| x.as_str() == old) {
                    f.field = Some(new.clone());
                }
            }
        }
    }
}

/// The dashboards with a widget that uses `field` of `entity`, by name.
pub fn using_field(dashboards: &[DashboardDef], entity: &str, field: &str) -> Vec<String> {
    let one = HashSet::from([field.to_string()]);
    dashboards
        .iter()
        .filter(|d| {
            d.widgets.iter().any(|w| {
                w.entity.as_str() == entity
                    && (widget_fields(w).iter().any(|f| f == field) || filter_names(&w.query, &one))
            })
        })
        .map(|d| d.name.to_string())
        .collect()
}

/// The dashboards with a widget on `entity`, by name.
pub fn using_entity(dashboards: &[DashboardDef], entity: &str) -> Vec<String> {
    dashboards
        .iter()
        .filter(|d| d.widgets.iter().any(|w| w.entity.as_str() == entity))
        .map(|d| d.name.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn team_and_none_are_groupings_of_the_sla_and_follow_up_reports_not_fields() {
        let widget = |report: &str, group_by: &str| -> WidgetDef {
            serde_json::from_value(json!({"name": "w", "label": {"en": "W"}, "kind": "table", "entity": "deal",
                "report": report, "query": {"group_by": group_by, "filter": {"field": "region", "op": "eq", "value": "x"}},
                "position": {"x": 0, "y": 0, "w": 6, "h": 4}}))
            .unwrap()
        };
        for report in ["sla", "first_follow_up"] {
            for word in ["team", "none"] {
                assert_eq!(widget_fields(&widget(report, word)), ["region"], "{report} {word}");
            }
            assert_eq!(widget_fields(&widget(report, "region")), ["region", "region"]);
        }
        assert_eq!(
            widget_fields(&widget("cycle", "none")),
            ["none", "region"],
            "a field for the cycle report"
        );
    }

    use super::*;
    use serde_json::json;

    fn app(dashboards: Value) -> AppDef {
        let mut a: AppDef = serde_json::from_value(json!({
            "name": "crm", "label": {"en": "CRM"},
            "entities": [{"name": "deal", "label": {"en": "Deal"}, "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text"},
                {"name": "amount", "label": {"en": "Amount"}, "type": "decimal"},
                {"name": "region", "label": {"en": "Region"}, "type": "single_select",
                 "options": [{"value": "east", "label": {"en": "East"}}]},
                {"name": "close", "label": {"en": "Close"}, "type": "date"},
                {"name": "extra", "label": {"en": "Extra"}, "type": "json"}
            ]}],
            "dashboards": dashboards
        }))
        .unwrap();
        crate::validate::assign_ids(&mut a);
        a
    }

    fn problems(dashboards: Value) -> Vec<String> {
        let mut errors = Vec::new();
        validate_dashboards(&app(dashboards), &mut errors);
        errors.into_iter().map(|e| format!("{}:{}", e.field, e.code)).collect()
    }

    fn pos() -> Value {
        json!({"x": 0, "y": 0, "w": 6, "h": 4})
    }

    #[test]
    fn widgets_draw_what_fits_and_filters_name_fields_that_exist() {
        assert!(
            problems(json!([{"name": "sales", "label": {"en": "Sales"},
                "filters": [{"kind": "period", "default": "this_month"}, {"kind": "owner"}, {"kind": "field", "field": "region"}],
                "widgets": [
                    {"name": "total", "label": {"en": "Total"}, "kind": "number", "entity": "deal", "report": "aggregate",
                     "query": {"measures": [{"op": "sum", "field": "amount"}]}, "period_field": "close", "position": pos()},
                    {"name": "funnel", "label": {"en": "Funnel"}, "kind": "funnel", "entity": "deal", "report": "funnel",
                     "query": {}, "position": {"x": 6, "y": 0, "w": 6, "h": 4}}
                ]}]))
            .is_empty()
        );
        let got = problems(json!([
            {"name": "bad", "label": {"en": "Bad"},
             "filters": [{"kind": "field"}, {"kind": "field", "field": "nope"}, {"kind": "field", "field": "extra"},
                         {"kind": "owner", "field": "title"}, {"kind": "team", "default": "today"}],
             "widgets": [
                {"name": "a", "label": {"en": "A"}, "kind": "funnel", "entity": "deal", "report": "aggregate",
                 "query": {}, "period_field": "title", "position": {"x": 8, "y": 0, "w": 6, "h": 4}},
                {"name": "a", "label": {"en": "A"}, "kind": "table", "entity": "gone", "report": "cycle", "query": {}, "position": pos()}
             ]},
            {"name": "bad", "label": {"en": "Again"}, "widgets": [
                {"name": "q", "label": {"en": "Q"}, "kind": "table", "entity": "deal", "report": "cycle", "query": [1], "position": pos()}]}
        ]));
        assert_eq!(
            got,
            [
                "dashboards.bad.widgets.a.kind:not_applicable",
                "dashboards.bad.widgets.a.position:out_of_range",
                "dashboards.bad.widgets.a.period_field:type",
                "dashboards.bad.widgets.a:duplicate",
                "dashboards.bad.widgets.a.entity:unknown_entity",
                "dashboards.bad.filters[0].field:required",
                "dashboards.bad.filters[1].field:unknown_field",
                "dashboards.bad.filters[2].field:type",
                "dashboards.bad.filters[3].field:not_applicable",
                "dashboards.bad.filters[4].default:not_applicable",
                "dashboards.bad:duplicate",
                "dashboards.bad.widgets.q.query:type",
            ]
        );
    }

    #[test]
    fn hidden_fields_take_out_widgets_and_renames_carry_over() {
        let mut a = app(json!([{"name": "sales", "label": {"en": "Sales"},
        "filters": [{"kind": "field", "field": "region"}],
        "widgets": [
            {"name": "by_region", "label": {"en": "By region"}, "kind": "bar", "entity": "deal", "report": "aggregate",
             "query": {"group_by": ["region"], "measures": [{"op": "sum", "field": "amount"}],
                       "sort": [{"by": "region"}], "filter": {"field": "close", "op": "is_null", "value": false}},
             "position": pos()},
            {"name": "count", "label": {"en": "Count"}, "kind": "number", "entity": "deal", "report": "aggregate",
             "query": {"measures": [{"op": "count"}]}, "position": pos()}
        ]}]));
        assert_eq!(using_field(&a.dashboards, "deal", "close"), ["sales"]);
        assert!(using_field(&a.dashboards, "deal", "title").is_empty());
        let new = Slug::parse("area").unwrap();
        rename_field(&mut a.dashboards, "deal", "region", &new);
        let w = &a.dashboards[0].widgets[0];
        assert_eq!(w.query["group_by"], json!(["area"]));
        assert_eq!(w.query["sort"][0]["by"], "area");
        assert_eq!(a.dashboards[0].filters[0].field.as_ref().unwrap().as_str(), "area");
        let hidden = HiddenFields::from([("deal".to_string(), HashSet::from(["amount".to_string()]))]);
        let seen = visible_dashboards(&a.dashboards, &hidden);
        assert_eq!(seen[0].widgets.len(), 1);
        assert_eq!(seen[0].widgets[0].name.as_str(), "count");
        let hidden = HiddenFields::from([("deal".to_string(), HashSet::from(["area".to_string()]))]);
        let seen = visible_dashboards(&a.dashboards, &hidden);
        assert!(seen[0].filters.is_empty(), "a filter by a hidden field is left out");
        assert_eq!(seen[0].widgets.len(), 1);
    }
}
