//! `{{ path }}` placeholders in the texts, addresses, URLs and values of rule actions, checked
//! when a rule is saved. A path starts at one of the run's inputs: `record` and `old` (the
//! trigger's record: a field, a system field, and through N:1 relations the fields of the record
//! pointed at, `{{record.customer.phone}}`), or `event`, `payload`, `rule`, `entity` (free-form).
//! The engine renders them ([`crate::automation`] actions) with each relation loaded once per run.

use crate::error::FieldCode;
use serde_json::Value;

use crate::automation::{ActionDef, RuleDef};
use crate::def::{AppDef, EntityDef, FieldType};
use crate::error::FieldError;
use crate::names::SYSTEM_FIELDS;

/// How many relations a path may follow (`record.a.b.c.field`).
pub const MAX_HOPS: usize = 3;

/// The inputs whose content is not known when the rule is saved.
const FREE_ROOTS: [&str; 4] = ["event", "payload", "rule", "entity"];

/// The placeholders of a text, trimmed, in order (`{{` without `}}` is text, as it renders).
pub fn placeholders(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push(after[..end].trim());
        rest = &after[end + 2..];
    }
    out
}

/// A relation a path follows: the dotted prefix naming the relation's value (`record.customer`,
/// `record.customer.region`) and the entity its records belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub prefix: String,
    pub target: String,
}

/// Checks one placeholder's path against the trigger's entity; answers the relations it follows.
pub fn check_path(app: &AppDef, entity: Option<&EntityDef>, path: &str) -> Result<Vec<Hop>, String> {
    let parts: Vec<&str> = path.split('.').collect();
    let root = parts[0];
    if FREE_ROOTS.contains(&root) {
        return Ok(Vec::new());
    }
    if root != "record" && root != "old" {
        return Err(format!(
            "'{root}' is not an input of a rule: use record, old, event, payload, rule or entity"
        ));
    }
    let Some(mut current) = entity else {
        return Err(format!("this trigger has no record, so '{path}' is always empty"));
    };
    let mut hops = Vec::new();
    let mut i = 1;
    while i < parts.len() {
        let name = parts[i];
        if name.is_empty() {
            return Err(format!("'{path}' has an empty part"));
        }
        let rest = parts.len() - i - 1;
        if SYSTEM_FIELDS.contains(&name) {
            return if rest == 0 {
                Ok(hops)
            } else {
                Err(format!("'{name}' of '{}' has no parts", current.name))
            };
        }
        let Some(field) = current.field(name) else {
            return Err(format!("'{name}' is not a field of '{}'", current.name));
        };
        if rest == 0 {
            return Ok(hops);
        }
        match field.field_type {
            FieldType::Relation => {
                let target = field.target.as_ref().map(|t| t.as_str()).unwrap_or_default();
                let Some(next) = app.entity(target) else {
                    return Err(format!("the relation '{name}' points at no entity of this app"));
                };
                if hops.len() == MAX_HOPS {
                    return Err(format!("'{path}' follows more than {MAX_HOPS} relations"));
                }
                hops.push(Hop {
                    prefix: parts[..=i].join("."),
                    target: next.name.to_string(),
                });
                current = next;
            }
            // Values with parts of their own: a currency's amount and code, JSON, lists.
            FieldType::Currency if rest == 1 && matches!(parts[i + 1], "amount" | "currency") => return Ok(hops),
            FieldType::Json | FieldType::MultiSelect | FieldType::Attachment => return Ok(hops),
            _ => return Err(format!("'{name}' of '{}' has no parts", current.name)),
        }
        i += 1;
    }
    // `{{record}}` alone: the whole record (as JSON).
    Ok(hops)
}

/// The strings inside a JSON template, with their place.
pub fn walk<'a>(at: String, v: &'a Value, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::String(s) => out.push((at, s)),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                walk(format!("{at}[{i}]"), x, out);
            }
        }
        // `{"expr": "…"}` is a script, not a template.
        Value::Object(m) if m.len() == 1 && m.contains_key("expr") => {}
        Value::Object(m) => {
            for (k, x) in m {
                walk(format!("{at}.{k}"), x, out);
            }
        }
        _ => {}
    }
}

/// Every template text of an action with where it is (`subject`, `to.addresses[0]`, …): which
/// options are templates is the action's to say (the engine's actions).
pub type Texts<'f> = &'f dyn Fn(&ActionDef) -> Vec<(String, String)>;

/// The relations a rule's templates follow, each once, shortest first (a run loads each once).
pub fn hops_of(app: &AppDef, rule: &RuleDef, texts: Texts<'_>) -> Vec<Hop> {
    let entity = rule.trigger.entity().and_then(|e| app.entity(e.as_str()));
    let mut out: Vec<Hop> = Vec::new();
    for a in &rule.actions {
        for (_, text) in texts(a) {
            for p in placeholders(&text) {
                for hop in check_path(app, entity, p).unwrap_or_default() {
                    if !out.contains(&hop) {
                        out.push(hop);
                    }
                }
            }
        }
    }
    out.sort_by_key(|h| h.prefix.matches('.').count());
    out
}

/// Refuses, at save, a placeholder naming no field (`rules[i].actions[j].<where>`).
pub fn validate_templates(app: &AppDef, texts: Texts<'_>, errors: &mut Vec<FieldError>) {
    for (i, r) in app.rules.iter().enumerate() {
        let entity = r.trigger.entity().and_then(|e| app.entity(e.as_str()));
        for (j, a) in r.actions.iter().enumerate() {
            for (at, text) in texts(a) {
                for p in placeholders(&text) {
                    if let Err(message) = check_path(app, entity, p) {
                        errors.push(FieldError::new(
                            format!("rules[{i}].actions[{j}].{at}"),
                            FieldCode::UnknownField,
                            format!("{{{{{p}}}}}: {message}"),
                        ));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app() -> AppDef {
        serde_json::from_value(json!({
            "name": "sales", "label": {"en": "Sales"},
            "entities": [
                {"name": "region", "label": {"en": "Region"}, "fields": [
                    {"name": "name", "label": {"en": "Name"}, "type": "text"}]},
                {"name": "customer", "label": {"en": "Customer"}, "fields": [
                    {"name": "phone", "label": {"en": "Phone"}, "type": "phone"},
                    {"name": "region", "label": {"en": "Region"}, "type": "relation", "target": "region"}]},
                {"name": "deal", "label": {"en": "Deal"}, "fields": [
                    {"name": "title", "label": {"en": "Title"}, "type": "text"},
                    {"name": "amount", "label": {"en": "Amount"}, "type": "currency", "currency": "CNY"},
                    {"name": "extra", "label": {"en": "Extra"}, "type": "json"},
                    {"name": "customer", "label": {"en": "Customer"}, "type": "relation", "target": "customer"}]}
            ],
            "rules": [{"name": "r", "trigger": {"type": "record_created", "entity": "deal"}, "actions": [
                {"type": "sms", "to": {"addresses": ["{{record.customer.phone}}"]}, "text": "{{ record.title }} in {{record.customer.region.name}}"}
            ]}]
        }))
        .expect("app")
    }

    #[test]
    fn placeholders_are_found_as_they_render() {
        assert_eq!(placeholders("a {{ x.y }} b {{z}} {{ open"), vec!["x.y", "z"]);
        assert!(placeholders("no templates").is_empty());
    }

    #[test]
    fn paths_follow_relations_and_name_what_is_unknown() {
        let app = app();
        let deal = app.entity("deal");
        let ok = |p: &str| check_path(&app, deal, p);
        assert_eq!(ok("record.title"), Ok(vec![]));
        assert_eq!(ok("old.amount.amount"), Ok(vec![]));
        assert_eq!(ok("record.extra.any.depth"), Ok(vec![]));
        assert_eq!(ok("record.id"), Ok(vec![]));
        assert_eq!(ok("payload.whatever"), Ok(vec![]));
        let hops = ok("record.customer.region.name").expect("two hops");
        assert_eq!(
            hops,
            vec![
                Hop {
                    prefix: "record.customer".into(),
                    target: "customer".into()
                },
                Hop {
                    prefix: "record.customer.region".into(),
                    target: "region".into()
                },
            ]
        );
        assert!(
            ok("record.nope")
                .unwrap_err()
                .contains("'nope' is not a field of 'deal'")
        );
        assert!(
            ok("record.customer.fax")
                .unwrap_err()
                .contains("'fax' is not a field of 'customer'")
        );
        assert!(ok("record.title.length").unwrap_err().contains("has no parts"));
        assert!(ok("record.customer").is_ok(), "the relation's own value is its id");
        assert!(ok("recrod.title").unwrap_err().contains("not an input"));
        assert!(
            check_path(&app, None, "record.title")
                .unwrap_err()
                .contains("no record")
        );
    }

    /// The templates of the messages in these tests (the engine's actions say theirs).
    fn texts(a: &ActionDef) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (i, t) in a.options["to"]["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            out.push((format!("to.addresses[{i}]"), t.as_str().unwrap_or_default().to_string()));
        }
        for k in ["subject", "text"] {
            if let Some(t) = a.options.get(k).and_then(Value::as_str) {
                out.push((k.to_string(), t.to_string()));
            }
        }
        out
    }

    #[test]
    fn a_rules_hops_are_listed_once_and_unknown_paths_are_refused_at_their_place() {
        let mut app = app();
        assert_eq!(hops_of(&app, &app.rules[0], &texts).len(), 2);
        let mut errors = Vec::new();
        validate_templates(&app, &texts, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        app.rules[0].actions[0] = serde_json::from_value(json!(
            {"type": "email", "to": {"addresses": ["{{record.customer.mail}}"]}, "subject": "{{record.titel}}", "body": "ok"}
        ))
        .unwrap();
        validate_templates(&app, &texts, &mut errors);
        let at: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            at,
            vec!["rules[0].actions[0].to.addresses[0]", "rules[0].actions[0].subject"]
        );
        assert!(
            errors[0].message.contains("'mail' is not a field of 'customer'"),
            "{errors:?}"
        );
    }
}
