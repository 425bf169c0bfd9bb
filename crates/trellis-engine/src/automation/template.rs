//! Message templates: `{{ path.to.value }}` replaced by the value at that path of the rule's
//! input (`record`, `old`, `event`, `payload`, `rule`). Strings are inserted as they are, other
//! values as JSON, missing ones as nothing. No code runs in a template.

use serde_json::Value;

/// Where a run's input keeps the records its templates reach through relations, by the dotted
/// path of the relation's value (`record.customer` → the customer's values).
pub const RELATED: &str = "$related";

/// The value at a dotted path (`record.extra.buyer` walks into objects; `record.customer.phone`
/// continues in the related record loaded into [`RELATED`] when `record.customer` is its id).
pub fn lookup<'a>(input: &'a Value, path: &str) -> Option<&'a Value> {
    let parts: Vec<&str> = path.split('.').filter(|p| !p.is_empty()).collect();
    let mut v = input;
    for (i, part) in parts.iter().enumerate() {
        v = match v {
            Value::Object(m) => m.get(*part),
            Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
            Value::String(_) => input
                .get(RELATED)
                .and_then(|r| r.get(parts[..i].join(".")))
                .and_then(|rec| rec.get(*part)),
            _ => None,
        }?;
    }
    Some(v)
}

fn as_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        // A currency answers {amount, currency}: its amount reads best in a message.
        Value::Object(m) if m.contains_key("amount") && m.contains_key("currency") => {
            format!("{} {}", as_text(&m["amount"]), as_text(&m["currency"]))
        }
        other => other.to_string(),
    }
}

/// Renders a text template.
pub fn render(template: &str, input: &Value) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let path = after[..end].trim();
                if let Some(v) = lookup(input, path) {
                    out.push_str(&as_text(v));
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Renders every string inside a JSON template (webhook bodies). A string that is exactly one
/// placeholder takes the value's own JSON type.
pub fn render_json(template: &Value, input: &Value) -> Value {
    match template {
        Value::String(s) => {
            let t = s.trim();
            if t.starts_with("{{") && t.ends_with("}}") && t.matches("{{").count() == 1 {
                return lookup(input, t[2..t.len() - 2].trim()).cloned().unwrap_or(Value::Null);
            }
            Value::String(render(s, input))
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| render_json(v, input)).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), render_json(v, input))).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_take_values_by_path_and_missing_ones_vanish() {
        let input = json!({"record": {"title": "ACME", "amount": {"amount": 12.5, "currency": "CNY"}, "n": 3}});
        assert_eq!(
            render(
                "Deal {{ record.title }}: {{record.amount}} x{{record.n}}{{record.nope}}",
                &input
            ),
            "Deal ACME: 12.5 CNY x3"
        );
        assert_eq!(render("unclosed {{ record.title", &input), "unclosed {{ record.title");
        let with_related = json!({
            "record": {"customer": "c1"},
            "$related": {"record.customer": {"id": "c1", "phone": "138", "region": "r1"}, "record.customer.region": {"name": "East"}}
        });
        assert_eq!(
            render(
                "{{record.customer}} {{record.customer.phone}} {{record.customer.region.name}} [{{record.customer.fax}}]",
                &with_related
            ),
            "c1 138 East []"
        );
        assert_eq!(
            render_json(&json!({"id": "{{record.n}}", "t": "T: {{record.title}}"}), &input),
            json!({"id": 3, "t": "T: ACME"})
        );
    }
}
