//! What follows a renamed entity or field through the rest of an app: relations and rollups,
//! views, forms, field conditions, dashboards, and the roles' permissions (their per-entity
//! settings, hidden and read-only fields, scope filters). Used by the entity and field PATCH
//! and by package upgrades that rename ([`crate::merge`]). Rhai scripts are not rewritten.

use crate::Slug;
use crate::def::AppDef;
use crate::permissions::ScopeDef;

/// The app's references to entity `old` now name `new`.
pub fn entity_renamed(def: &mut AppDef, old: &str, new: &Slug) {
    for v in def.views.iter_mut().filter(|v| v.entity.as_str() == old) {
        v.entity = new.clone();
    }
    for f in def.forms.iter_mut().filter(|f| f.entity.as_str() == old) {
        f.entity = new.clone();
    }
    for e in &mut def.entities {
        for f in &mut e.fields {
            if f.target.as_ref().is_some_and(|t| t.as_str() == old) {
                f.target = Some(new.clone());
            }
            if let Some(r) = &mut f.rollup
                && r.from.as_str() == old
            {
                r.from = new.clone();
            }
        }
    }
    for role in &mut def.roles {
        if let Some(perms) = &mut role.permissions
            && let Some(p) = perms.remove(old)
        {
            perms.insert(new.to_string(), p);
        }
    }
}

/// The app's references to field `old` of `entity` now name `new`.
pub fn field_renamed(def: &mut AppDef, entity: &str, old: &str, new: &Slug) {
    if let Some(e) = def.entity_mut(entity) {
        if e.title_field.as_ref().is_some_and(|t| t.as_str() == old) {
            e.title_field = Some(new.clone());
        }
        // Declared indexes follow a renamed field.
        for index in &mut e.indexes {
            for f in &mut index.fields {
                if f.as_str() == old {
                    *f = new.clone();
                }
            }
        }
    }
    crate::view::rename_field(&mut def.views, entity, old, new);
    crate::form::rename_field(&mut def.forms, entity, old, new);
    crate::form::rename_in_conditions(def, entity, old, new.as_str());
    crate::dashboard::rename_field(&mut def.dashboards, entity, old, new);
    // Rollups over this entity.
    for other in &mut def.entities {
        for f in &mut other.fields {
            if let Some(r) = &mut f.rollup
                && r.from.as_str() == entity
            {
                if r.via.as_str() == old {
                    r.via = new.clone();
                }
                if r.field.as_ref().is_some_and(|x| x.as_str() == old) {
                    r.field = Some(new.clone());
                }
            }
        }
    }
    // A role keeps hiding (or protecting) the field, and its scope keeps filtering by it.
    for role in &mut def.roles {
        let Some(p) = role.permissions.as_mut().and_then(|m| m.get_mut(entity)) else {
            continue;
        };
        if let Some(access) = p.fields.remove(old) {
            p.fields.insert(new.to_string(), access);
        }
        if let Some(ScopeDef::Filter(f)) = &mut p.scope {
            crate::view::rename_in_filter(&mut f.filter, old, new.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_renamed_field_stays_hidden_and_keeps_its_views_and_scope() {
        let mut app = crate::validate::parse_app(&json!({
            "name": "crm", "label": {"en": "CRM"},
            "entities": [{"name": "lead", "label": {"en": "Lead"}, "title_field": "phone", "fields": [
                {"name": "phone", "label": {"en": "Phone"}, "type": "text"}]}],
            "roles": [{"name": "rep", "label": {"en": "Rep"}, "permissions": {"lead": {"read": true,
                "fields": {"phone": "hidden"},
                "scope": {"filter": {"field": "phone", "op": "is_null", "value": false}}}}}],
            "views": [{"name": "v", "label": {"en": "V"}, "entity": "lead", "type": "grid",
                "columns": [{"field": "phone"}]}]
        }))
        .unwrap();
        let mobile = Slug::parse("mobile").unwrap();
        field_renamed(&mut app, "lead", "phone", &mobile);
        let v = serde_json::to_value(&app).unwrap();
        let perms = &v["roles"][0]["permissions"]["lead"];
        assert_eq!(perms["fields"], json!({"mobile": "hidden"}));
        assert_eq!(perms["scope"]["filter"]["field"], "mobile");
        assert_eq!(v["views"][0]["columns"][0]["field"], "mobile");
        assert_eq!(v["entities"][0]["title_field"], "mobile");
        let prospect = Slug::parse("prospect").unwrap();
        entity_renamed(&mut app, "lead", &prospect);
        let v = serde_json::to_value(&app).unwrap();
        assert!(v["roles"][0]["permissions"]["prospect"]["read"].as_bool().unwrap());
        assert_eq!(v["views"][0]["entity"], "prospect");
    }
}
