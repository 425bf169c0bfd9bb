//! Views: shared ways to look at an entity's records (`schemas/view.schema.json`) — a grid, a
//! kanban board or a calendar, with a filter, sort keys, the visible columns and their widths,
//! a grouping and a row height. They live in the app definition, so a change that takes away a
//! field or entity a view uses is refused naming the view, and renames carry over to them.

use crate::error::FieldCode;
use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::compile::CompiledEntity;
use crate::def::{AppDef, FieldType, Label};
use crate::error::FieldError;
use crate::names::{Slug, truncate};
use crate::permissions::{HiddenFields, NO_ID, filter_names, substitute};

/// A shared view of an entity's records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewDef {
    /// Stable id of the element in the app package it came from: it survives renames, and
    /// package upgrades match elements by it ([`crate::package`]). None on elements made in
    /// the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub key: Option<crate::Slug>,
    /// Stable name, unique in the app.
    pub name: Slug,
    pub label: Label,
    /// The entity whose records it shows.
    pub entity: Slug,
    #[serde(rename = "type")]
    pub view_type: ViewType,
    /// Only records matching it (the list filter; `$user.id`, `$user.team` and `$user.teams`
    /// stand for the reader).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = Object)]
    pub filter: Option<Value>,
    /// Sort keys in order: fields or system fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 5)]
    pub sort: Vec<ViewSort>,
    /// The visible columns (grid) or card fields (kanban, calendar), in order; none: every field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 200)]
    pub columns: Vec<ViewColumn>,
    /// The field records are grouped by; a kanban board's columns (a single_select, user or
    /// relation field, or `stage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub group_by: Option<Slug>,
    /// Grid row height (default short).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub row_height: Option<RowHeight>,
    /// A calendar's date or datetime field (or `created_at`, `updated_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub date_field: Option<Slug>,
    /// A calendar's end date, for records that span days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub end_field: Option<Slug>,
    /// The entity's default view (at most one per entity).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
}

/// How a view lays out its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ViewType {
    Grid,
    Kanban,
    Calendar,
}

/// A sort key of a view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewSort {
    pub field: Slug,
    /// Descending (default ascending).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub desc: bool,
}

/// A visible column of a view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewColumn {
    pub field: Slug,
    /// Pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 40, maximum = 2000)]
    pub width: Option<u32>,
}

/// Grid row heights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RowHeight {
    Short,
    Medium,
    Tall,
    ExtraTall,
}

impl ViewDef {
    /// Every field of its entity the view names (columns, sort keys, grouping, dates).
    fn named_fields(&self) -> impl Iterator<Item = &Slug> {
        self.columns
            .iter()
            .map(|c| &c.field)
            .chain(self.sort.iter().map(|s| &s.field))
            .chain(self.group_by.iter())
            .chain(self.date_field.iter())
            .chain(self.end_field.iter())
    }
}

/// The semantic checks of the app's views: unique names, known entities, fields of the entity
/// that fit their use, filters that parse, one default per entity. Each problem names the view.
pub fn validate_views(app: &AppDef, errors: &mut Vec<FieldError>) {
    let mut names = HashSet::new();
    let mut defaults = HashSet::new();
    for v in &app.views {
        let at = format!("views.{}", v.name);
        let named = format!("view '{}'", v.name);
        if !names.insert(v.name.as_str()) {
            errors.push(FieldError::new(
                &at,
                FieldCode::Duplicate,
                format!("{named} is defined twice"),
            ));
        }
        let Some(e) = app.entity(v.entity.as_str()) else {
            errors.push(FieldError::new(
                format!("{at}.entity"),
                FieldCode::UnknownEntity,
                format!("{named} shows '{}', which is not an entity of this app", v.entity),
            ));
            continue;
        };
        if v.default && !defaults.insert(v.entity.as_str()) {
            errors.push(FieldError::new(
                format!("{at}.default"),
                FieldCode::Duplicate,
                format!("'{}' has another default view; an entity has one", v.entity),
            ));
        }
        let compiled = CompiledEntity::compile(e);
        // A field the view uses: it must be a column of the entity, fit for `what`.
        let check = |path: String, field: &Slug, fits: &dyn Fn(FieldType) -> bool, what: &str| match compiled
            .column(field.as_str())
        {
            None => Some(FieldError::new(
                path,
                FieldCode::UnknownField,
                format!("{named} uses '{field}', which is not a field of '{}'", e.name),
            )),
            Some(c) if !fits(c.kind) => Some(FieldError::new(
                path,
                FieldCode::Type,
                format!("{named}: '{field}' cannot be {what} (it is {})", c.kind.as_str()),
            )),
            Some(_) => None,
        };
        let any = |_: FieldType| true;
        let sortable = |t: FieldType| !t.is_json();
        let mut shown = HashSet::new();
        for (i, c) in v.columns.iter().enumerate() {
            let path = format!("{at}.columns[{i}].field");
            if !shown.insert(c.field.as_str()) {
                errors.push(FieldError::new(
                    path.clone(),
                    FieldCode::Duplicate,
                    format!("{named} shows '{}' twice", c.field),
                ));
            }
            errors.extend(check(path, &c.field, &any, "shown"));
        }
        let mut sorted = HashSet::new();
        for (i, s) in v.sort.iter().enumerate() {
            let path = format!("{at}.sort[{i}].field");
            if !sorted.insert(s.field.as_str()) {
                errors.push(FieldError::new(
                    path.clone(),
                    FieldCode::Duplicate,
                    format!("{named} sorts by '{}' twice", s.field),
                ));
            }
            errors.extend(check(path, &s.field, &sortable, "sorted by"));
        }
        if let Some(g) = &v.group_by {
            let board = |t: FieldType| matches!(t, FieldType::SingleSelect | FieldType::User | FieldType::Relation);
            if v.view_type == ViewType::Kanban {
                errors.extend(check(format!("{at}.group_by"), g, &board, "a board's columns"));
            } else {
                errors.extend(check(format!("{at}.group_by"), g, &sortable, "grouped by"));
            }
        }
        let dated = |t: FieldType| matches!(t, FieldType::Date | FieldType::Datetime);
        for (key, f) in [("date_field", &v.date_field), ("end_field", &v.end_field)] {
            if let Some(f) = f {
                errors.extend(check(format!("{at}.{key}"), f, &dated, "a calendar's date"));
            }
        }
        if v.row_height.is_some() && v.view_type != ViewType::Grid {
            errors.push(FieldError::new(
                format!("{at}.row_height"),
                FieldCode::NotApplicable,
                format!("{named}: only a grid has a row height"),
            ));
        }
        if let Some(filter) = &v.filter {
            let probe = substitute(filter, NO_ID, NO_ID, &[NO_ID.to_string()]);
            if let Err(err) = crate::query::parse_filter(&compiled, &probe) {
                for fe in err.errors {
                    errors.push(FieldError::new(
                        format!("{at}.filter"),
                        fe.code,
                        format!("{named}: {}: {}", truncate(&fe.field, 64), fe.message),
                    ));
                }
            }
        }
    }
}

/// The views as a caller who may not see `hidden` reads them: columns and sort keys naming a
/// hidden field are left out; a view that filters, groups or dates by one is left out whole
/// (it would not show them what it shows others, and would name the field).
pub fn visible_views(views: &[ViewDef], hidden: &HiddenFields) -> Vec<ViewDef> {
    views
        .iter()
        .filter_map(|v| {
            let Some(h) = hidden.get(v.entity.as_str()).filter(|h| !h.is_empty()) else {
                return Some(v.clone());
            };
            let hides = |f: &Option<Slug>| f.as_ref().is_some_and(|f| h.contains(f.as_str()));
            if hides(&v.group_by)
                || hides(&v.date_field)
                || hides(&v.end_field)
                || v.filter.as_ref().is_some_and(|f| filter_names(f, h))
            {
                return None;
            }
            let mut v = v.clone();
            v.columns.retain(|c| !h.contains(c.field.as_str()));
            v.sort.retain(|s| !h.contains(s.field.as_str()));
            Some(v)
        })
        .collect()
}

/// Views of `entity` follow a renamed field (columns, sort keys, grouping, dates, filter).
pub fn rename_field(views: &mut [ViewDef], entity: &str, old: &str, new: &Slug) {
    for v in views.iter_mut().filter(|v| v.entity.as_str() == entity) {
        let rename = |f: &mut Slug| {
            if f.as_str() == old {
                *f = new.clone();
            }
        };
        v.columns.iter_mut().for_each(|c| rename(&mut c.field));
        v.sort.iter_mut().for_each(|s| rename(&mut s.field));
        for f in [&mut v.group_by, &mut v.date_field, &mut v.end_field]
            .into_iter()
            .flatten()
        {
            rename(f);
        }
        if let Some(filter) = &mut v.filter {
            rename_in_filter(filter, old, new.as_str());
        }
    }
}

pub fn rename_in_filter(filter: &mut Value, old: &str, new: &str) {
    match filter {
        Value::Object(o) => {
            if o.get("field").and_then(Value::as_str) == Some(old) {
                o.insert("field".into(), Value::String(new.to_string()));
            }
            for k in ["and", "or", "not"] {
                if let Some(inner) = o.get_mut(k) {
                    rename_in_filter(inner, old, new);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rename_in_filter(x, old, new)),
        _ => {}
    }
}

/// The fields of its entity a view names (for callers that look for uses of a field).
pub fn uses_field(v: &ViewDef, field: &str) -> bool {
    v.named_fields().any(|f| f.as_str() == field)
        || v.filter
            .as_ref()
            .is_some_and(|f| filter_names(f, &HashSet::from([field.to_string()])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(views: Value) -> AppDef {
        let mut a: AppDef = serde_json::from_value(json!({
            "name": "crm", "label": {"en": "CRM"},
            "entities": [{"name": "deal", "label": {"en": "Deal"}, "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text"},
                {"name": "phase", "label": {"en": "Phase"}, "type": "single_select",
                 "options": [{"value": "new", "label": {"en": "New"}}]},
                {"name": "close", "label": {"en": "Close"}, "type": "date"},
                {"name": "extra", "label": {"en": "Extra"}, "type": "json"}
            ]}],
            "views": views
        }))
        .unwrap();
        crate::validate::assign_ids(&mut a);
        a
    }

    fn problems(views: Value) -> Vec<String> {
        let mut errors = Vec::new();
        validate_views(&app(views), &mut errors);
        errors.into_iter().map(|e| format!("{}:{}", e.field, e.code)).collect()
    }

    #[test]
    fn a_view_names_only_fields_that_fit_their_use() {
        assert!(
            problems(json!([
                {"name": "all", "label": {"en": "All"}, "entity": "deal", "type": "grid", "default": true,
                 "columns": [{"field": "title", "width": 300}, {"field": "created_at"}],
                 "sort": [{"field": "close", "desc": true}], "group_by": "phase", "row_height": "tall",
                 "filter": {"field": "owner", "op": "eq", "value": "$user.id"}},
                {"name": "board", "label": {"en": "Board"}, "entity": "deal", "type": "kanban", "group_by": "phase"},
                {"name": "dates", "label": {"en": "Dates"}, "entity": "deal", "type": "calendar", "date_field": "close"}
            ]))
            .is_empty()
        );
        let got = problems(json!([
            {"name": "bad", "label": {"en": "Bad"}, "entity": "deal", "type": "kanban", "default": true,
             "columns": [{"field": "nope"}, {"field": "title"}, {"field": "title"}],
             "sort": [{"field": "extra"}], "group_by": "title", "row_height": "tall",
             "filter": {"field": "gone", "op": "eq", "value": 1}},
            {"name": "again", "label": {"en": "Again"}, "entity": "deal", "type": "calendar",
             "date_field": "title", "default": true},
            {"name": "lost", "label": {"en": "Lost"}, "entity": "nothing", "type": "grid"}
        ]));
        assert_eq!(
            got,
            [
                "views.bad.columns[0].field:unknown_field",
                "views.bad.columns[2].field:duplicate",
                "views.bad.sort[0].field:type",
                "views.bad.group_by:type",
                "views.bad.row_height:not_applicable",
                "views.bad.filter:unknown_field",
                "views.again.default:duplicate",
                "views.again.date_field:type",
                "views.lost.entity:unknown_entity",
            ]
        );
    }

    #[test]
    fn renames_carry_over_and_hidden_fields_are_not_shown() {
        let mut a = app(json!([
            {"name": "all", "label": {"en": "All"}, "entity": "deal", "type": "grid",
             "columns": [{"field": "title"}, {"field": "close"}], "sort": [{"field": "close"}],
             "filter": {"and": [{"field": "close", "op": "is_null", "value": false}]}},
            {"name": "dates", "label": {"en": "Dates"}, "entity": "deal", "type": "calendar", "date_field": "close"}
        ]));
        let new = Slug::parse("closing").unwrap();
        rename_field(&mut a.views, "deal", "close", &new);
        assert!(
            a.views
                .iter()
                .all(|v| !uses_field(v, "close") && uses_field(v, "closing"))
        );
        let hidden = HiddenFields::from([("deal".to_string(), HashSet::from(["title".to_string()]))]);
        let seen = visible_views(&a.views, &hidden);
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].columns.len(), 1);
        let hidden = HiddenFields::from([("deal".to_string(), HashSet::from(["closing".to_string()]))]);
        assert!(visible_views(&a.views, &hidden).is_empty());
    }
}
