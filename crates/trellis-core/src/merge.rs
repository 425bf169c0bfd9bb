//! The three-way merge of a package upgrade: base = the package version the app was installed
//! from, theirs = the new package version, ours = the tenant's app today.
//!
//! The merge walks the three definitions as JSON, property by property:
//! - a property only the package changed takes the package's value;
//! - a property only the tenant changed keeps the tenant's;
//! - a property both changed to different values is a [`Conflict`]: the tenant's value stays,
//!   unless [`Prefer::Package`];
//! - lists of elements with an identity (a `key`, else a `name`, else a select option's `value`,
//!   else a transition's `from` → `to`) are merged element by element: the tenant's own elements
//!   stay, the package's new ones are added after their predecessor in the package, and an
//!   element the package removes goes unless the tenant changed it (a conflict) or it holds data
//!   that may not be lost (entities and fields without `allow_data_loss`: kept);
//! - any other list is one value.
//!
//! A tenant element with no key and the name of an element the new version adds is taken to be
//! the same element: it gets the package's key.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::def::AppDef;
use crate::error::FieldCode;
use crate::{Error, FieldError};

/// Whose value a conflict keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Prefer {
    /// The tenant's (the default).
    #[default]
    Tenant,
    /// The package's.
    Package,
}

/// A property both the tenant and the package changed, differently.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Conflict {
    /// Where, by element names: `entities[lead].fields[phone].label.zh`.
    pub path: String,
    /// The value in the installed package version (absent: it had none).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub base: Option<Value>,
    /// The new package version's (absent: it removes it).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub package: Option<Value>,
    /// The tenant's (absent: the tenant removed it).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub tenant: Option<Value>,
    /// Whose value the merge kept.
    pub kept: Prefer,
}

/// An element the package removes that stays because its data may not be lost.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    /// `entities` or `entities.fields`.
    pub shape: String,
    /// The entity's name, and the field's for a field.
    pub entity: String,
    pub field: Option<String>,
}

/// The merged definition with what the merge had to decide.
#[derive(Debug, Clone)]
pub struct Merged {
    pub app: AppDef,
    pub conflicts: Vec<Conflict>,
    pub kept: Vec<Kept>,
}

struct Ctx {
    prefer: Prefer,
    allow_data_loss: bool,
    conflicts: Vec<Conflict>,
    kept: Vec<Kept>,
}

/// Merges `theirs` into `ours` against `base` (see the module's rules).
pub fn merge_apps(
    base: &AppDef,
    theirs: &AppDef,
    ours: &AppDef,
    prefer: Prefer,
    allow_data_loss: bool,
) -> Result<Merged, Error> {
    let json = |a: &AppDef| serde_json::to_value(a).map_err(|e| Error::internal(e.to_string()));
    let (b, t, o) = (json(base)?, json(theirs)?, json(ours)?);
    let mut ctx = Ctx {
        prefer,
        allow_data_loss,
        conflicts: Vec::new(),
        kept: Vec::new(),
    };
    let merged = value(&mut ctx, "", "", Some(&b), Some(&t), Some(&o)).unwrap_or(o.clone());
    let app = crate::validate::parse_app(&merged).map_err(|e| {
        let mut errors = e.errors.clone();
        errors.insert(
            0,
            FieldError::new("$", FieldCode::Conflict, "the merged definition is not valid"),
        );
        Error::validation(errors)
    })?;
    let mut app = app;
    follow_renames(theirs, ours, &mut app);
    Ok(Merged {
        app,
        conflicts: ctx.conflicts,
        kept: ctx.kept,
    })
}

/// The tenant's references follow the entities and fields the package renamed (found by storage
/// id: the merged definition keeps the tenant's ids), as they would after a PATCH.
fn follow_renames(theirs: &AppDef, ours: &AppDef, merged: &mut AppDef) {
    let mut entities = Vec::new();
    let mut fields = Vec::new();
    for oe in &ours.entities {
        let Some(me) = merged.entities.iter().find(|m| m.id.is_some() && m.id == oe.id) else {
            continue;
        };
        if me.name != oe.name {
            entities.push((oe.name.to_string(), me.name.clone()));
        }
        for of in &oe.fields {
            if let Some(mf) = me.fields.iter().find(|m| m.id.is_some() && m.id == of.id)
                && mf.name != of.name
            {
                fields.push((me.name.to_string(), of.name.to_string(), mf.name.clone()));
            }
        }
    }
    // A rename the package made that lost to the tenant's own: what the package's side names by
    // the package's new name names the tenant's.
    for te in &theirs.entities {
        let Some(me) = merged.entities.iter().find(|m| m.key.is_some() && m.key == te.key) else {
            continue;
        };
        if me.name != te.name && !merged.entities.iter().any(|m| m.name == te.name) {
            entities.push((te.name.to_string(), me.name.clone()));
        }
        for tf in &te.fields {
            if let Some(mf) = me.fields.iter().find(|m| m.key.is_some() && m.key == tf.key)
                && mf.name != tf.name
                && !me.fields.iter().any(|m| m.name == tf.name)
            {
                fields.push((me.name.to_string(), tf.name.to_string(), mf.name.clone()));
            }
        }
    }
    for (old, new) in &entities {
        crate::rename::entity_renamed(merged, old, new);
    }
    for (entity, old, new) in &fields {
        crate::rename::field_renamed(merged, entity, old, new);
    }
}

fn join(path: &str, part: &str) -> String {
    if path.is_empty() {
        part.to_string()
    } else {
        format!("{path}.{part}")
    }
}

/// The merge of one value. `path` names it for people; `shape` is its place by property names
/// only (`entities.fields`), which says what a removal costs.
fn value(
    ctx: &mut Ctx,
    path: &str,
    shape: &str,
    b: Option<&Value>,
    t: Option<&Value>,
    o: Option<&Value>,
) -> Option<Value> {
    // An empty list is left out of a definition: absent beside a list is an empty one.
    let empty = Value::Array(Vec::new());
    let is_list = [b, t, o].iter().any(|v| matches!(v, Some(Value::Array(_))));
    let (b, t, o) = if is_list {
        (b.or(Some(&empty)), t.or(Some(&empty)), o.or(Some(&empty)))
    } else {
        (b, t, o)
    };
    if t == b || o == t {
        return o.cloned();
    }
    // Where the package may remove entities or fields, an unchanged tenant side is still walked:
    // a removal there is kept unless data loss is allowed.
    let guarded = !ctx.allow_data_loss && matches!(shape, "" | "entities" | "entities.fields");
    if o == b && !guarded {
        return t.cloned();
    }
    match (b, t, o) {
        (None | Some(Value::Object(_)), Some(Value::Object(t)), Some(Value::Object(o))) => {
            let empty = Map::new();
            let b = b.and_then(Value::as_object).unwrap_or(&empty);
            Some(Value::Object(object(ctx, path, shape, b, t, o)))
        }
        (None | Some(Value::Array(_)), Some(Value::Array(t)), Some(Value::Array(o)))
            if identified(b.and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]))
                && identified(t)
                && identified(o) =>
        {
            let b = b.and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
            Some(Value::Array(array(ctx, path, shape, b, t, o)))
        }
        _ => {
            let kept = ctx.prefer;
            ctx.conflicts.push(Conflict {
                path: path.to_string(),
                base: b.cloned(),
                package: t.cloned(),
                tenant: o.cloned(),
                kept,
            });
            match kept {
                Prefer::Tenant => o.cloned(),
                Prefer::Package => t.cloned(),
            }
        }
    }
}

fn object(
    ctx: &mut Ctx,
    path: &str,
    shape: &str,
    b: &Map<String, Value>,
    t: &Map<String, Value>,
    o: &Map<String, Value>,
) -> Map<String, Value> {
    let mut out = Map::new();
    let names: Vec<&String> = o.keys().chain(t.keys().filter(|k| !o.contains_key(*k))).collect();
    for k in names {
        let merged = value(ctx, &join(path, k), &join(shape, k), b.get(k), t.get(k), o.get(k));
        if let Some(v) = merged {
            out.insert(k.clone(), v);
        }
    }
    // A property the package added that the tenant does not have is among `t`'s keys above; one
    // both removed is in neither.
    out
}

/// An element's identity within its list.
fn identity(v: &Value) -> Option<String> {
    let o = v.as_object()?;
    let s = |k: &str| o.get(k).and_then(Value::as_str);
    if let Some(k) = s("key") {
        return Some(format!("key:{k}"));
    }
    if let Some(n) = s("name") {
        return Some(format!("name:{n}"));
    }
    if let Some(v) = s("value") {
        return Some(format!("value:{v}"));
    }
    if let (Some(from), Some(to)) = (o.get("from"), s("to")) {
        return Some(format!("transition:{from}>{to}"));
    }
    None
}

/// An element without the storage ids the tenant's copy carries (an entity's, its fields'),
/// which a package never has: what the tenant changed is the rest.
fn without_ids(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("id");
        if let Some(Value::Array(fields)) = o.get_mut("fields") {
            for f in fields {
                if let Some(f) = f.as_object_mut() {
                    f.remove("id");
                }
            }
        }
    }
    v
}

/// Whether every element has an identity, none twice.
fn identified(list: &[Value]) -> bool {
    let mut seen = std::collections::HashSet::new();
    list.iter().all(|v| identity(v).is_some_and(|i| seen.insert(i)))
}

/// How an element is named in a path: its name, else its identity.
fn label(v: &Value) -> String {
    let o = v.as_object();
    o.and_then(|o| o.get("name").or_else(|| o.get("key")).or_else(|| o.get("value")))
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| identity(v))
        .unwrap_or_default()
}

fn array(ctx: &mut Ctx, path: &str, shape: &str, b: &[Value], t: &[Value], o: &[Value]) -> Vec<Value> {
    let index = |list: &[Value]| -> HashMap<String, usize> {
        list.iter()
            .enumerate()
            .filter_map(|(i, v)| identity(v).map(|id| (id, i)))
            .collect()
    };
    let (bi, ti) = (index(b), index(t));
    // Each of the tenant's elements under the identity it is merged by: a keyless element of the
    // tenant's with the name of one the package adds is that element.
    let mut ours: Vec<(String, &Value)> = o.iter().map(|v| (identity(v).unwrap_or_default(), v)).collect();
    for tv in t {
        let id = identity(tv).unwrap_or_default();
        if bi.contains_key(&id) || ours.iter().any(|(i, _)| *i == id) {
            continue;
        }
        let name = tv.get("name");
        if let Some(slot) = ours
            .iter_mut()
            .find(|(i, v)| v.get("key").is_none() && name.is_some() && v.get("name") == name && !ti.contains_key(i))
        {
            slot.0 = id;
        }
    }
    let mut out: Vec<(String, Value)> = Vec::new();
    for (id, ov) in &ours {
        let bv = bi.get(id).map(|&i| &b[i]);
        let tv = ti.get(id).map(|&i| &t[i]);
        let at = format!("{path}[{}]", label(ov));
        match (bv, tv) {
            (Some(bv), None) => {
                // The package removes it.
                let protected = !ctx.allow_data_loss && (shape == "entities" || shape == "entities.fields");
                if without_ids(ov) != without_ids(bv) && ctx.prefer == Prefer::Tenant {
                    ctx.conflicts.push(Conflict {
                        path: at,
                        base: Some(bv.clone()),
                        package: None,
                        tenant: Some((*ov).clone()),
                        kept: Prefer::Tenant,
                    });
                    out.push((id.clone(), (*ov).clone()));
                } else if protected {
                    let (entity, field) = match shape {
                        "entities" => (label(ov), None),
                        _ => (
                            path.split('[')
                                .nth(1)
                                .and_then(|s| s.split(']').next())
                                .unwrap_or_default()
                                .to_string(),
                            Some(label(ov)),
                        ),
                    };
                    ctx.kept.push(Kept {
                        shape: shape.to_string(),
                        entity,
                        field,
                    });
                    out.push((id.clone(), (*ov).clone()));
                }
            }
            _ => {
                if let Some(v) = value(ctx, &at, shape, bv, tv, Some(ov)) {
                    out.push((id.clone(), v));
                }
            }
        }
    }
    // The package's elements the tenant does not have: new ones, and ones the tenant removed.
    let mut previous: Option<String> = None;
    for tv in t {
        let id = identity(tv).unwrap_or_default();
        if out.iter().any(|(i, _)| *i == id) || ours.iter().any(|(i, _)| *i == id) {
            previous = Some(id);
            continue;
        }
        let add = match bi.get(&id).map(|&i| &b[i]) {
            None => true,
            // The tenant removed it: it stays removed, unless the package changed it too.
            Some(bv) if bv == tv => false,
            Some(bv) => {
                ctx.conflicts.push(Conflict {
                    path: format!("{path}[{}]", label(tv)),
                    base: Some(bv.clone()),
                    package: Some(tv.clone()),
                    tenant: None,
                    kept: ctx.prefer,
                });
                ctx.prefer == Prefer::Package
            }
        };
        if add {
            let at = previous
                .as_ref()
                .and_then(|p| out.iter().position(|(i, _)| i == p))
                .map(|p| p + 1)
                .unwrap_or(0);
            out.insert(at, (id.clone(), tv.clone()));
            previous = Some(id);
        }
    }
    out.into_iter().map(|(_, v)| v).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(v: Value) -> AppDef {
        crate::validate::parse_app(&v).expect("app parses")
    }

    fn base() -> Value {
        json!({
            "name": "crm",
            "label": {"zh": "客户", "en": "CRM"},
            "entities": [{
                "key": "lead",
                "name": "lead",
                "label": {"zh": "线索", "en": "Lead"},
                "fields": [
                    {"key": "title", "name": "title", "label": {"zh": "标题", "en": "Title"}, "type": "text"},
                    {"key": "source", "name": "source", "label": {"zh": "来源", "en": "Source"}, "type": "single_select",
                     "options": [{"value": "web", "label": {"zh": "网站", "en": "Web"}}]}
                ]
            }]
        })
    }

    fn merge(b: &Value, t: &Value, o: &Value) -> Merged {
        merge_apps(&app(b.clone()), &app(t.clone()), &app(o.clone()), Prefer::Tenant, false).expect("merges")
    }

    #[test]
    fn one_sided_changes_are_taken_from_their_side() {
        let b = base();
        let mut t = b.clone();
        t["entities"][0]["label"]["en"] = json!("Sales lead");
        let mut o = b.clone();
        o["entities"][0]["fields"][0]["label"]["zh"] = json!("主题");
        let m = merge(&b, &t, &o);
        assert!(m.conflicts.is_empty());
        assert_eq!(m.app.entities[0].label.en.as_deref().unwrap(), "Sales lead");
        assert_eq!(m.app.entities[0].fields[0].label.zh.as_deref().unwrap(), "主题");
    }

    #[test]
    fn options_added_on_both_sides_are_all_kept_in_package_order() {
        let b = base();
        let mut t = b.clone();
        t["entities"][0]["fields"][1]["options"]
            .as_array_mut()
            .unwrap()
            .push(json!({"value": "fair", "label": {"zh": "展会", "en": "Fair"}}));
        let mut o = b.clone();
        o["entities"][0]["fields"][1]["options"]
            .as_array_mut()
            .unwrap()
            .push(json!({"value": "referral", "label": {"zh": "转介绍", "en": "Referral"}}));
        let m = merge(&b, &t, &o);
        let values: Vec<&str> = m.app.entities[0].fields[1]
            .options
            .as_ref()
            .unwrap()
            .iter()
            .map(|o| o.value.as_str())
            .collect();
        assert_eq!(values, ["web", "fair", "referral"]);
    }

    #[test]
    fn a_property_both_changed_keeps_the_tenants_unless_the_package_is_preferred() {
        let b = base();
        let mut t = b.clone();
        t["label"]["en"] = json!("Sales");
        let mut o = b.clone();
        o["label"]["en"] = json!("Our CRM");
        let m = merge(&b, &t, &o);
        assert_eq!(m.app.label.en.as_deref().unwrap(), "Our CRM");
        assert_eq!(m.conflicts.len(), 1);
        assert_eq!(m.conflicts[0].path, "label.en");
        let m = merge_apps(&app(b), &app(t), &app(o), Prefer::Package, false).unwrap();
        assert_eq!(m.app.label.en.as_deref().unwrap(), "Sales");
        assert_eq!(m.conflicts[0].kept, Prefer::Package);
    }

    #[test]
    fn a_field_the_package_drops_is_kept_without_data_loss_and_dropped_with_it() {
        let b = base();
        let mut t = b.clone();
        t["entities"][0]["fields"].as_array_mut().unwrap().remove(1);
        let m = merge(&b, &t, &b);
        assert_eq!(m.app.entities[0].fields.len(), 2);
        assert_eq!(
            m.kept,
            vec![Kept {
                shape: "entities.fields".into(),
                entity: "lead".into(),
                field: Some("source".into())
            }]
        );
        let m = merge_apps(&app(b.clone()), &app(t), &app(b), Prefer::Tenant, true).unwrap();
        assert_eq!(m.app.entities[0].fields.len(), 1);
    }

    #[test]
    fn a_rename_in_the_package_follows_the_key_and_a_tenant_rename_wins_over_nothing() {
        let b = base();
        let mut t = b.clone();
        t["entities"][0]["fields"][0]["name"] = json!("subject");
        let mut o = b.clone();
        o["entities"][0]["fields"][0]["id"] = json!("abcdefgh0001");
        let m = merge(&b, &t, &o);
        let f = &m.app.entities[0].fields[0];
        assert_eq!(f.name.as_str(), "subject");
        assert_eq!(f.id.as_ref().unwrap().as_str(), "abcdefgh0001", "the storage id stays");
        assert_eq!(m.app.entities[0].fields.len(), 2);
    }

    #[test]
    fn tenant_fields_stay_and_a_same_named_package_field_adopts_them() {
        let b = base();
        let mut t = b.clone();
        t["entities"][0]["fields"]
            .as_array_mut()
            .unwrap()
            .push(json!({"key": "phone", "name": "phone", "label": {"zh": "电话", "en": "Phone"}, "type": "text"}));
        let mut o = b.clone();
        let fields = o["entities"][0]["fields"].as_array_mut().unwrap();
        fields.push(json!({"name": "phone", "label": {"zh": "手机", "en": "Mobile"}, "type": "text"}));
        fields.push(json!({"name": "wechat", "label": {"zh": "微信", "en": "WeChat"}, "type": "text"}));
        let m = merge(&b, &t, &o);
        let names: Vec<&str> = m.app.entities[0].fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["title", "source", "phone", "wechat"]);
        let phone = &m.app.entities[0].fields[2];
        assert_eq!(
            phone.key.as_ref().unwrap().as_str(),
            "phone",
            "adopted the package's key"
        );
        assert_eq!(phone.label.zh.as_deref().unwrap(), "手机");
        assert_eq!(
            m.conflicts.len(),
            2,
            "both labelled it, in zh and en: {:?}",
            m.conflicts
        );
    }

    #[test]
    fn an_element_the_tenant_removed_stays_removed_unless_the_package_changed_it() {
        let mut b = base();
        b["roles"] = json!([{"key": "rep", "name": "rep", "label": {"zh": "销售", "en": "Rep"}}]);
        let t = b.clone();
        let mut o = b.clone();
        o.as_object_mut().unwrap().remove("roles");
        let m = merge(&b, &t, &o);
        assert!(m.app.roles.is_empty());
        let mut t2 = b.clone();
        t2["roles"][0]["label"]["en"] = json!("Sales rep");
        let m = merge(&b, &t2, &o);
        assert!(m.app.roles.is_empty());
        assert_eq!(m.conflicts.len(), 1);
    }
}
