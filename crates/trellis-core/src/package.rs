//! App packages (`schemas/app-package.schema.json`): an app's definition under a package name and
//! a semantic version, to install into any tenant and to upgrade later.
//!
//! Every entity, field, role, rule, view, form and dashboard of a package carries a stable `key`
//! (its name when the author leaves it out). Keys are not storage ids: installing gives every
//! entity and field fresh storage ids, so one package installs into several tenants, or twice
//! into one under two app names. The installed app keeps the keys, and an upgrade matches
//! elements by them ([`crate::merge`]), so an element the package renames keeps its records.
//! Stages and select options are matched by their key and value, which records store.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::def::{AppDef, Label};
use crate::error::{FieldCode, FieldError};
use crate::schema::DefKind;
use crate::{Error, Slug};

/// What a package's version matches: semantic versioning 2.0.0 with at most ten digits a number
/// (the same pattern as `app-package.schema.json`).
pub const SEMVER_PATTERN: &str = "^(0|[1-9][0-9]{0,9})\\.(0|[1-9][0-9]{0,9})\\.(0|[1-9][0-9]{0,9})(-(0|[1-9][0-9]{0,9}|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(\\.(0|[1-9][0-9]{0,9}|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?(\\+[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?$";

/// An app package (`app-package.schema.json`): an app's definition under a package name and
/// semantic version. Elements carry stable keys (their name when left out); storage ids in it
/// are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageDef {
    /// The package's name: an app installed from it is upgraded only by a package of that name.
    pub package: Slug,
    /// Semantic version (2.0.0).
    #[schema(
        pattern = "^(0|[1-9][0-9]{0,9})\\.(0|[1-9][0-9]{0,9})\\.(0|[1-9][0-9]{0,9})(-(0|[1-9][0-9]{0,9}|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(\\.(0|[1-9][0-9]{0,9}|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?(\\+[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?$"
    )]
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub label: Option<Label>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub description: Option<Label>,
    /// The app it installs.
    pub app: AppDef,
    /// The business calendars its pipelines' SLAs count on, by name (`calendar.schema.json`):
    /// installing creates the ones the tenant lacks and leaves the tenant's own as they are.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub calendars: std::collections::BTreeMap<Slug, crate::calendar::CalendarDef>,
}

impl PackageDef {
    /// The parsed version (checked by [`parse_package`]).
    pub fn semver(&self) -> semver::Version {
        semver::Version::parse(&self.version).expect("a parsed package has a semantic version")
    }
}

/// Parses a package: its schema (422 listing every problem), serde, the version, and the keys
/// (unique among their siblings).
pub fn parse_package(v: &Value) -> Result<PackageDef, Error> {
    crate::schema::check(DefKind::Package, v).map_err(Error::validation)?;
    let pkg: PackageDef = serde_json::from_value(v.clone())
        .map_err(|e| Error::validation(vec![FieldError::new("$", FieldCode::Invalid, e.to_string())]))?;
    if let Err(e) = semver::Version::parse(&pkg.version) {
        return Err(Error::validation(vec![FieldError::new(
            "version",
            FieldCode::Format,
            format!("is not a semantic version: {e}"),
        )]));
    }
    let mut app = pkg.app.clone();
    fill_keys(&mut app);
    let mut errors = duplicate_keys(&app);
    for (name, c) in &pkg.calendars {
        if let Err(e) = crate::calendar::Calendar::compile(c) {
            errors.extend(
                e.into_iter()
                    .map(|fe| FieldError::new(format!("calendars.{name}.{}", fe.field), fe.code, fe.message)),
            );
        }
    }
    if !errors.is_empty() {
        return Err(Error::validation(errors));
    }
    Ok(pkg)
}

/// The definition a package installs as the app `name` (the package's own app name when None):
/// every element keyed, no storage ids (the installing server gives them).
pub fn app_of(pkg: &PackageDef, name: Option<&Slug>) -> AppDef {
    let mut app = pkg.app.clone();
    if let Some(n) = name {
        app.name = n.clone();
    }
    fill_keys(&mut app);
    for e in &mut app.entities {
        e.id = None;
        for f in &mut e.fields {
            f.id = None;
        }
    }
    app
}

/// Gives every keyed element without a key its name as key.
pub fn fill_keys(app: &mut AppDef) {
    fn fill(key: &mut Option<Slug>, name: &Slug) {
        if key.is_none() {
            *key = Some(name.clone());
        }
    }
    for e in &mut app.entities {
        fill(&mut e.key, &e.name);
        for f in &mut e.fields {
            fill(&mut f.key, &f.name);
        }
    }
    for r in &mut app.roles {
        fill(&mut r.key, &r.name);
    }
    for r in &mut app.rules {
        fill(&mut r.key, &r.name);
    }
    for v in &mut app.views {
        fill(&mut v.key, &v.name);
    }
    for f in &mut app.forms {
        fill(&mut f.key, &f.name);
    }
    for d in &mut app.dashboards {
        fill(&mut d.key, &d.name);
    }
}

/// Keys used twice among siblings (two entities, two fields of one entity, two roles, …).
fn duplicate_keys(app: &AppDef) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut check = |at: String, keys: Vec<Option<&Slug>>| {
        let mut seen = HashSet::new();
        for k in keys.into_iter().flatten() {
            if !seen.insert(k.as_str()) {
                errors.push(FieldError::new(
                    format!("{at}.{k}"),
                    FieldCode::Duplicate,
                    format!("key '{k}' is used twice"),
                ));
            }
        }
    };
    check(
        "app.entities".into(),
        app.entities.iter().map(|e| e.key.as_ref()).collect(),
    );
    for e in &app.entities {
        check(
            format!("app.entities.{}.fields", e.name),
            e.fields.iter().map(|f| f.key.as_ref()).collect(),
        );
    }
    check("app.roles".into(), app.roles.iter().map(|r| r.key.as_ref()).collect());
    check("app.rules".into(), app.rules.iter().map(|r| r.key.as_ref()).collect());
    check("app.views".into(), app.views.iter().map(|v| v.key.as_ref()).collect());
    check("app.forms".into(), app.forms.iter().map(|f| f.key.as_ref()).collect());
    check(
        "app.dashboards".into(),
        app.dashboards.iter().map(|d| d.key.as_ref()).collect(),
    );
    errors
}

/// An installed app as a package: elements keyed (by their name where the tenant made them), no
/// storage ids, in [`canonical`] form. `app` should have its secrets masked.
pub fn export(
    app: &AppDef,
    package: &Slug,
    version: &str,
    label: Option<&Label>,
    description: Option<&Label>,
    calendars: std::collections::BTreeMap<Slug, crate::calendar::CalendarDef>,
) -> Value {
    let pkg = PackageDef {
        package: package.clone(),
        version: version.to_string(),
        label: label.cloned(),
        description: description.cloned(),
        calendars,
        app: {
            let mut a = app.clone();
            fill_keys(&mut a);
            for e in &mut a.entities {
                e.id = None;
                for f in &mut e.fields {
                    f.id = None;
                }
            }
            a
        },
    };
    canonical(&serde_json::to_value(&pkg).expect("a package serialises"))
}

/// The value with every object's keys in byte order: the same definition always prints the same.
pub fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let mut out = Map::with_capacity(o.len());
            for k in keys {
                out.insert(k.clone(), canonical(&o[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// A canonical value as text: two-space indents, one final newline.
pub fn canonical_text(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(&canonical(v)).expect("JSON prints");
    s.push('\n');
    s
}

/// What kind of element a [`ElementChange`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ElementKind {
    Entity,
    Field,
    Role,
    Rule,
    View,
    Form,
    Dashboard,
    /// A business calendar of the tenant's (added when the tenant had none of its name).
    Calendar,
}

/// How an element changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    /// Its name changes (and maybe more); its records and references stay.
    Renamed,
    Changed,
    /// The package removes it, but it stays (with its data) because data loss was not allowed.
    Kept,
}

/// One element an install or upgrade adds, changes, renames or removes.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ElementChange {
    pub kind: ElementKind,
    pub change: ChangeKind,
    /// Its name after the change (before it, for a removal).
    pub name: String,
    /// The entity a field belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub entity: Option<String>,
    /// Its name before a rename.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub from: Option<String>,
    /// Its package key.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub key: Option<String>,
    /// Its label (after the change; before it, for a removal), for people to read the plan by.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub label: Option<Label>,
    /// The records (for a field: the records with a value) a removal deletes or a kept element
    /// holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub rows: Option<i64>,
}

/// An element of one kind, as [`element_changes`] compares them.
struct Element<'a> {
    id: Option<&'a str>,
    key: Option<&'a Slug>,
    name: &'a str,
    body: Value,
}

fn pair<'a>(old: &'a [Element<'a>], new: &'a [Element<'a>]) -> Vec<(Option<&'a Element<'a>>, Option<&'a Element<'a>>)> {
    let same = |a: &Element, b: &Element| match (a.id, b.id, a.key, b.key) {
        (Some(x), Some(y), _, _) => x == y,
        (_, _, Some(x), Some(y)) => x == y,
        _ => a.name == b.name,
    };
    let mut out = Vec::new();
    let mut matched = vec![false; new.len()];
    for o in old {
        match new.iter().enumerate().find(|(i, n)| !matched[*i] && same(o, n)) {
            Some((i, n)) => {
                matched[i] = true;
                out.push((Some(o), Some(n)));
            }
            None => out.push((Some(o), None)),
        }
    }
    for (i, n) in new.iter().enumerate() {
        if !matched[i] {
            out.push((None, Some(n)));
        }
    }
    out
}

fn body<T: Serialize>(v: &T) -> Value {
    let mut v = serde_json::to_value(v).expect("definitions serialise");
    if let Some(o) = v.as_object_mut() {
        o.remove("name");
        o.remove("fields");
        o.remove("id");
        o.remove("key");
    }
    v
}

fn diff(kind: ElementKind, entity: Option<&str>, old: &[Element], new: &[Element], out: &mut Vec<ElementChange>) {
    for (o, n) in pair(old, new) {
        let (change, name, from, key) = match (o, n) {
            (None, Some(n)) => (ChangeKind::Added, n.name, None, n.key),
            (Some(o), None) => (ChangeKind::Removed, o.name, None, o.key),
            (Some(o), Some(n)) if o.name != n.name => (ChangeKind::Renamed, n.name, Some(o.name), n.key.or(o.key)),
            (Some(o), Some(n)) if o.body != n.body => (ChangeKind::Changed, n.name, None, n.key.or(o.key)),
            _ => continue,
        };
        let label = n
            .or(o)
            .and_then(|e| e.body.get("label"))
            .and_then(|l| serde_json::from_value::<Label>(l.clone()).ok());
        out.push(ElementChange {
            kind,
            change,
            name: name.to_string(),
            entity: entity.map(str::to_string),
            from: from.map(str::to_string),
            key: key.map(|k| k.to_string()),
            label,
            rows: None,
        });
    }
}

macro_rules! elements {
    ($list:expr) => {
        $list
            .iter()
            .map(|x| Element {
                id: None,
                key: x.key.as_ref(),
                name: x.name.as_str(),
                body: body(x),
            })
            .collect::<Vec<_>>()
    };
}

/// The elements `new` adds, removes, renames or changes against `old` (None: an app not yet
/// installed). Entities and fields are matched by storage id, the rest by key, then name.
pub fn element_changes(old: Option<&AppDef>, new: &AppDef) -> Vec<ElementChange> {
    let empty = AppDef {
        name: new.name.clone(),
        label: new.label.clone(),
        description: None,
        entities: Vec::new(),
        roles: Vec::new(),
        rules: Vec::new(),
        views: Vec::new(),
        forms: Vec::new(),
        dashboards: Vec::new(),
    };
    let old = old.unwrap_or(&empty);
    let mut out = Vec::new();
    fn entities(a: &AppDef) -> Vec<Element<'_>> {
        a.entities
            .iter()
            .map(|e| Element {
                id: e.id.as_ref().map(|i| i.as_str()),
                key: e.key.as_ref(),
                name: e.name.as_str(),
                body: body(e),
            })
            .collect()
    }
    let (oe, ne) = (entities(old), entities(new));
    diff(ElementKind::Entity, None, &oe, &ne, &mut out);
    for (o, n) in pair(&oe, &ne) {
        let find = |a: &'_ AppDef, el: Option<&Element>| {
            el.and_then(|el| a.entities.iter().find(|e| e.name.as_str() == el.name))
                .map(|e| e.fields.clone())
                .unwrap_or_default()
        };
        let (of, nf) = (find(old, o), find(new, n));
        // A field of an added or removed entity comes and goes with it.
        if of.is_empty() || nf.is_empty() {
            continue;
        }
        fn fields(fs: &[crate::def::FieldDef]) -> Vec<Element<'_>> {
            fs.iter()
                .map(|f| Element {
                    id: f.id.as_ref().map(|i| i.as_str()),
                    key: f.key.as_ref(),
                    name: f.name.as_str(),
                    body: body(f),
                })
                .collect()
        }
        let entity = n.map(|e| e.name).unwrap_or_default();
        diff(ElementKind::Field, Some(entity), &fields(&of), &fields(&nf), &mut out);
    }
    diff(
        ElementKind::Role,
        None,
        &elements!(old.roles),
        &elements!(new.roles),
        &mut out,
    );
    diff(
        ElementKind::Rule,
        None,
        &elements!(old.rules),
        &elements!(new.rules),
        &mut out,
    );
    diff(
        ElementKind::View,
        None,
        &elements!(old.views),
        &elements!(new.views),
        &mut out,
    );
    diff(
        ElementKind::Form,
        None,
        &elements!(old.forms),
        &elements!(new.forms),
        &mut out,
    );
    diff(
        ElementKind::Dashboard,
        None,
        &elements!(old.dashboards),
        &elements!(new.dashboards),
        &mut out,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pkg(v: Value) -> PackageDef {
        parse_package(&v).expect("package parses")
    }

    fn minimal() -> Value {
        json!({
            "package": "crm",
            "version": "1.0.0",
            "app": {
                "name": "crm",
                "label": {"zh": "客户", "en": "CRM"},
                "entities": [{
                    "name": "lead",
                    "label": {"zh": "线索", "en": "Lead"},
                    "fields": [{"name": "title", "label": {"zh": "标题", "en": "Title"}, "type": "text"}]
                }]
            }
        })
    }

    #[test]
    fn keys_default_to_names_and_storage_ids_are_dropped() {
        let mut v = minimal();
        v["app"]["entities"][0]["id"] = json!("abcdefgh1234");
        let app = app_of(&pkg(v), Some(&Slug::parse("crm2").unwrap()));
        assert_eq!(app.name.as_str(), "crm2");
        assert_eq!(app.entities[0].key.as_ref().unwrap().as_str(), "lead");
        assert!(app.entities[0].id.is_none());
        assert_eq!(app.entities[0].fields[0].key.as_ref().unwrap().as_str(), "title");
    }

    #[test]
    fn a_bad_version_and_a_key_used_twice_are_refused() {
        let mut v = minimal();
        v["version"] = json!("1.0");
        let e = parse_package(&v).unwrap_err();
        assert_eq!(e.errors[0].field, "version");
        let mut v = minimal();
        v["app"]["entities"][0]["fields"]
            .as_array_mut()
            .unwrap()
            .push(json!({"key": "title", "name": "other", "label": {"zh": "其他", "en": "Other"}, "type": "text"}));
        let e = parse_package(&v).unwrap_err();
        assert_eq!(e.errors[0].field, "app.entities.lead.fields.title");
        assert_eq!(e.errors[0].code, "duplicate");
    }

    #[test]
    fn the_schema_file_and_the_api_take_the_same_versions() {
        let schema = crate::schema::schema_json("app-package.schema.json").unwrap();
        assert_eq!(schema["properties"]["version"]["pattern"], SEMVER_PATTERN);
        let api = serde_json::to_value(<PackageDef as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(api["properties"]["version"]["pattern"], SEMVER_PATTERN);
        let re = regex::Regex::new(SEMVER_PATTERN).unwrap();
        for ok in ["0.0.0", "1.2.3", "2.0.0-rc.1", "1.0.0-alpha-1+build.5", "10.20.30"] {
            assert!(re.is_match(ok) && semver::Version::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "1.0",
            "01.0.0",
            "1.0.0-",
            "1.0.0-.",
            "1.0.0-01",
            "1.0.0+",
            "99999999999.0.0",
        ] {
            assert!(!re.is_match(bad), "{bad}");
        }
    }

    #[test]
    fn canonical_text_sorts_keys_at_every_depth() {
        let v = json!({"b": 1, "a": {"d": [{"z": 1, "y": 2}], "c": null}});
        assert_eq!(
            canonical_text(&v),
            "{\n  \"a\": {\n    \"c\": null,\n    \"d\": [\n      {\n        \"y\": 2,\n        \"z\": 1\n      }\n    ]\n  },\n  \"b\": 1\n}\n"
        );
    }

    #[test]
    fn changes_name_renames_by_key_and_additions() {
        let v1 = app_of(&pkg(minimal()), None);
        let mut v2 = v1.clone();
        v2.entities[0].fields[0].name = Slug::parse("subject").unwrap();
        v2.entities[0].fields.push(crate::def::FieldDef::new(
            "phone",
            Label::new("电话", "Phone"),
            crate::def::FieldType::Text,
        ));
        let changes = element_changes(Some(&v1), &v2);
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(changes[0].change, ChangeKind::Renamed);
        assert_eq!(changes[0].from.as_deref(), Some("title"));
        assert_eq!(changes[0].name, "subject");
        assert_eq!(changes[1].change, ChangeKind::Added);
        assert_eq!(changes[1].entity.as_deref(), Some("lead"));
        let all = element_changes(None, &v1);
        assert_eq!(all.len(), 1, "an added entity brings its fields: {all:?}");
    }
}
