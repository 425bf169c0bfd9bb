//! Forms: how an entity's record form is laid out (`schemas/form.schema.json`): sections with a
//! label and 1–4 columns, the fields of each in order, each spanning one or more columns. They
//! live in the app definition, so a change that takes away a field or entity a form places is
//! refused naming the form, and renames carry over to them.
//!
//! Fields a form does not place are not lost: the UI shows them after its sections, in one more
//! section, in the entity's order (a field added later, or a required one the form forgot, can
//! still be filled).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::def::{AppDef, Label};
use crate::error::{FieldCode, FieldError};
use crate::names::Slug;
use crate::permissions::HiddenFields;

/// Most columns a section has.
pub const MAX_COLUMNS: u8 = 4;

/// The layout of an entity's record form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormDef {
    /// Stable id of the element in the app package it came from: it survives renames, and
    /// package upgrades match elements by it ([`crate::package`]). None on elements made in
    /// the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub key: Option<crate::Slug>,
    /// Stable name, unique in the app.
    pub name: Slug,
    pub label: Label,
    /// The entity whose records it edits.
    pub entity: Slug,
    /// The sections, top to bottom.
    #[schema(min_items = 1, max_items = 50)]
    pub sections: Vec<FormSection>,
    /// The entity's default form (at most one per entity); the UI uses it to create and edit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
}

/// A section of a form: a titled group of fields in a grid of columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub label: Option<Label>,
    /// Columns of the section's grid (1–4, default 1).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    #[schema(minimum = 1, maximum = 4)]
    pub columns: u8,
    /// The fields in reading order (left to right, then down).
    #[schema(max_items = 500)]
    pub fields: Vec<FormItem>,
}

/// A field placed in a section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormItem {
    pub field: Slug,
    /// Columns it spans (default 1, at most the section's columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 1, maximum = 4)]
    pub span: Option<u8>,
}

fn one() -> u8 {
    1
}

fn is_one(n: &u8) -> bool {
    *n == 1
}

impl FormDef {
    /// Every field the form places.
    pub fn fields(&self) -> impl Iterator<Item = &Slug> {
        self.sections.iter().flat_map(|s| s.fields.iter().map(|i| &i.field))
    }
}

/// The semantic checks of the app's forms: unique names, known entities, fields of the entity
/// placed once, spans that fit, one default per entity. Each problem names the form.
pub fn validate_forms(app: &AppDef, errors: &mut Vec<FieldError>) {
    let mut names = HashSet::new();
    let mut defaults = HashSet::new();
    for form in &app.forms {
        let at = format!("forms.{}", form.name);
        let named = format!("form '{}'", form.name);
        if !names.insert(form.name.as_str()) {
            errors.push(FieldError::new(
                &at,
                FieldCode::Duplicate,
                format!("{named} is defined twice"),
            ));
        }
        let Some(e) = app.entity(form.entity.as_str()) else {
            errors.push(FieldError::new(
                format!("{at}.entity"),
                FieldCode::UnknownEntity,
                format!("{named} edits '{}', which is not an entity of this app", form.entity),
            ));
            continue;
        };
        if form.default && !defaults.insert(form.entity.as_str()) {
            errors.push(FieldError::new(
                format!("{at}.default"),
                FieldCode::Duplicate,
                format!("'{}' has another default form; an entity has one", form.entity),
            ));
        }
        let mut placed = HashSet::new();
        for (s, section) in form.sections.iter().enumerate() {
            if !(1..=MAX_COLUMNS).contains(&section.columns) {
                errors.push(FieldError::new(
                    format!("{at}.sections[{s}].columns"),
                    FieldCode::Range,
                    format!("{named}: a section has 1 to {MAX_COLUMNS} columns"),
                ));
            }
            for (i, item) in section.fields.iter().enumerate() {
                let path = format!("{at}.sections[{s}].fields[{i}]");
                if e.field(item.field.as_str()).is_none() {
                    errors.push(FieldError::new(
                        format!("{path}.field"),
                        FieldCode::UnknownField,
                        format!("{named} uses '{}', which is not a field of '{}'", item.field, e.name),
                    ));
                } else if !placed.insert(item.field.as_str()) {
                    errors.push(FieldError::new(
                        format!("{path}.field"),
                        FieldCode::Duplicate,
                        format!("{named} places '{}' twice", item.field),
                    ));
                }
                if let Some(span) = item.span
                    && (span == 0 || span > section.columns)
                {
                    errors.push(FieldError::new(
                        format!("{path}.span"),
                        FieldCode::Range,
                        format!(
                            "{named}: '{}' spans {span} columns; its section has {}",
                            item.field, section.columns
                        ),
                    ));
                }
            }
        }
    }
}

/// The forms as a caller who may not see `hidden` reads them: fields hidden from them are left
/// out (a section left empty stays, with its label).
pub fn visible_forms(forms: &[FormDef], hidden: &HiddenFields) -> Vec<FormDef> {
    forms
        .iter()
        .map(|f| {
            let mut f = f.clone();
            if let Some(h) = hidden.get(f.entity.as_str()) {
                for s in &mut f.sections {
                    s.fields.retain(|i| !h.contains(i.field.as_str()));
                }
            }
            f
        })
        .collect()
}

/// Forms of `entity` follow a renamed field.
pub fn rename_field(forms: &mut [FormDef], entity: &str, old: &str, new: &Slug) {
    for f in forms.iter_mut().filter(|f| f.entity.as_str() == entity) {
        for s in &mut f.sections {
            for i in s.fields.iter_mut().filter(|i| i.field.as_str() == old) {
                i.field = new.clone();
            }
        }
    }
}

/// Conditions of `entity`'s fields follow a renamed field.
pub fn rename_in_conditions(app: &mut AppDef, entity: &str, old: &str, new: &str) {
    if let Some(e) = app.entity_mut(entity) {
        for f in &mut e.fields {
            if let Some(c) = f.visible_if.as_mut() {
                crate::view::rename_in_filter(c, old, new);
            }
            if let Some(crate::condition::RequiredIf::Filter(c)) = f.required_if.as_mut() {
                crate::view::rename_in_filter(c, old, new);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn problems(forms: Value) -> Vec<String> {
        let mut a: AppDef = serde_json::from_value(json!({
            "name": "crm", "label": {"en": "CRM"},
            "entities": [{"name": "deal", "label": {"en": "Deal"}, "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text"},
                {"name": "amount", "label": {"en": "Amount"}, "type": "decimal"}
            ]}],
            "forms": forms
        }))
        .unwrap();
        crate::validate::assign_ids(&mut a);
        let mut errors = Vec::new();
        validate_forms(&a, &mut errors);
        errors.into_iter().map(|e| format!("{}:{}", e.field, e.code)).collect()
    }

    #[test]
    fn a_form_places_fields_of_its_entity_once() {
        assert!(
            problems(
                json!([{"name": "main", "label": {"en": "Main"}, "entity": "deal", "default": true,
                "sections": [{"label": {"en": "Basics"}, "columns": 2,
                    "fields": [{"field": "title", "span": 2}, {"field": "amount"}]}]}])
            )
            .is_empty()
        );
        let got = problems(json!([
            {"name": "bad", "label": {"en": "Bad"}, "entity": "deal", "default": true,
             "sections": [{"columns": 2, "fields": [{"field": "nope"}, {"field": "title", "span": 3}, {"field": "title"}]},
                          {"columns": 5, "fields": []}]},
            {"name": "again", "label": {"en": "Again"}, "entity": "deal", "default": true, "sections": [{"fields": []}]},
            {"name": "lost", "label": {"en": "Lost"}, "entity": "nothing", "sections": [{"fields": []}]}
        ]));
        assert_eq!(
            got,
            [
                "forms.bad.sections[0].fields[0].field:unknown_field",
                "forms.bad.sections[0].fields[1].span:range",
                "forms.bad.sections[0].fields[2].field:duplicate",
                "forms.bad.sections[1].columns:range",
                "forms.again.default:duplicate",
                "forms.lost.entity:unknown_entity",
            ]
        );
    }
}
