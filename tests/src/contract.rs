//! The platform contract, checked on every answer the harness receives: the operation must be in
//! the platform OpenAPI document, the status must be one it lists, the content type one it lists
//! for that status, and a JSON body must match the schema it gives. A handler that drifts from
//! its annotation fails whichever test called it.
//!
//! Records are tenant-defined: their routes document `object` here, and their schemas are in
//! each app's own document (checked by the record suites).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use serde_json::{Value, json};

use crate::Resp;

const METHODS: [&str; 5] = ["get", "put", "post", "patch", "delete"];

/// An operation of the document: its method, its path template split at `/`, its answers.
struct Operation {
    method: &'static str,
    template: String,
    segments: Vec<String>,
    responses: Value,
}

/// The platform document's operations and the validators of their answers, compiled once.
pub struct Contract {
    operations: Vec<Operation>,
    components: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

static PLATFORM: LazyLock<Contract> = LazyLock::new(|| Contract::of(&trellis_api::platform_spec()));

/// The platform document's contract.
pub fn platform() -> &'static Contract {
    &PLATFORM
}

impl Contract {
    pub fn of(doc: &Value) -> Contract {
        let mut operations = Vec::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for method in METHODS {
                if let Some(op) = item.get(method) {
                    operations.push(Operation {
                        method,
                        template: path.clone(),
                        segments: path.split('/').map(str::to_string).collect(),
                        responses: op.get("responses").cloned().unwrap_or_else(|| json!({})),
                    });
                }
            }
        }
        Contract {
            operations,
            components: doc.get("components").cloned().unwrap_or_else(|| json!({})),
            validators: Mutex::default(),
        }
    }

    /// The operation of the template that matches `path` most literally (`…/bulk` before
    /// `…/{id}`, as the server routes it); `None` when that template has no such method.
    fn operation(&self, method: &str, path: &str) -> Option<&Operation> {
        let parts: Vec<&str> = path.split('/').collect();
        let best = self
            .operations
            .iter()
            .filter(|op| op.segments.len() == parts.len())
            .filter(|op| {
                op.segments
                    .iter()
                    .zip(&parts)
                    .all(|(t, p)| t == p || (t.starts_with('{') && !p.is_empty()))
            })
            .max_by_key(|op| op.segments.iter().filter(|t| !t.starts_with('{')).count())?;
        self.operations
            .iter()
            .find(|op| op.template == best.template && op.method.eq_ignore_ascii_case(method))
    }

    /// Checks one answer to `method path` (the path may carry a query); `Err` says what differs.
    pub fn check(&self, method: &str, path: &str, resp: &Resp) -> Result<(), String> {
        let path = path.split(['?', '#']).next().unwrap_or(path);
        if !path.starts_with("/api/") || path == "/api/v1/openapi.json" {
            return Ok(());
        }
        let status = resp.status.as_u16();
        if status >= 500 {
            return Err(format!("{method} {path} answered {status}: {}", resp.text));
        }
        let Some(op) = self.operation(method, path) else {
            // No such route: the layer's 404/405 answers, which are problem+json.
            return match status {
                404 | 405 if resp.content_type() == "application/problem+json" => Ok(()),
                _ => Err(format!(
                    "{method} {path} is not in the platform document, yet answered {status}"
                )),
            };
        };
        let what = format!("{method} {} → {status}", op.template);
        let Some(answer) = op
            .responses
            .get(status.to_string())
            .or_else(|| op.responses.get(format!("{}XX", status / 100)))
            .or_else(|| op.responses.get("default"))
        else {
            return Err(format!(
                "{what}: the document does not list this status; answer: {}",
                resp.text
            ));
        };
        let media = resp.content_type().split(';').next().unwrap_or("").trim();
        let content = answer.get("content").and_then(Value::as_object);
        let Some(content) = content.filter(|c| !c.is_empty()) else {
            return if resp.text.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{what}: the document gives no body, the answer has one ({media}): {}",
                    resp.text
                ))
            };
        };
        let Some(entry) = content.get(media).or_else(|| {
            content
                .iter()
                .find(|(k, _)| k.ends_with("/*") || *k == "*/*")
                .map(|(_, v)| v)
        }) else {
            return Err(format!(
                "{what}: answered {media:?}, the document lists {:?}",
                content.keys().collect::<Vec<_>>()
            ));
        };
        // A compressed body (the client asked for it) is checked by the test that decodes it.
        if !media.ends_with("json") || resp.headers.contains_key("content-encoding") {
            return Ok(());
        }
        let Some(schema) = entry.get("schema") else {
            return Ok(());
        };
        if resp.text.is_empty() || (resp.body.is_null() && resp.text.trim() != "null") {
            return Err(format!(
                "{what}: a JSON answer was documented, the body is not JSON: {}",
                resp.text
            ));
        }
        let key = format!("{what} {media}");
        let validator = self.validator(&key, schema)?;
        let errors: Vec<String> = validator
            .iter_errors(&resp.body)
            .take(8)
            .map(|e| format!("{e} at '{}'", e.instance_path().as_str()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{what}: the answer does not match the document's schema: {errors:#?}\n{:#}",
                resp.body
            ))
        }
    }

    fn validator(&self, key: &str, schema: &Value) -> Result<Arc<jsonschema::Validator>, String> {
        if let Some(v) = self.validators.lock().expect("validators").get(key) {
            return Ok(v.clone());
        }
        let mut root = schema.clone();
        if let Some(o) = root.as_object_mut() {
            o.insert("components".into(), self.components.clone());
        }
        let v = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&root)
            .map(Arc::new)
            .map_err(|e| format!("{key}: the document's schema does not compile: {e}"))?;
        self.validators
            .lock()
            .expect("validators")
            .insert(key.to_string(), v.clone());
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

    fn resp(status: u16, media: &str, body: Value) -> Resp {
        let mut headers = HeaderMap::new();
        if !media.is_empty() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_str(media).unwrap());
        }
        let text = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        Resp {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body,
            text,
        }
    }

    fn contract() -> Contract {
        Contract::of(&json!({
            "paths": {
                "/api/v1/teams/{id}": {
                    "get": {"responses": {
                        "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Team"}}}},
                        "404": {"content": {"application/problem+json": {"schema": {"type": "object"}}}}
                    }},
                    "delete": {"responses": {"204": {"description": "gone"}}}
                },
                "/api/v1/teams/mine": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {"type": "array"}}}}}}}
            },
            "components": {"schemas": {"Team": {"type": "object", "required": ["id", "name"], "properties": {"id": {"type": "string"}, "name": {"type": "string"}}}}}
        }))
    }

    #[test]
    fn answers_are_held_to_the_document() {
        let c = contract();
        let team = json!({"id": "t1", "name": "East"});
        assert!(
            c.check("GET", "/api/v1/teams/t1?x=1", &resp(200, "application/json", team))
                .is_ok()
        );
        // A drifted body, an unlisted status, a wrong media type, an undocumented body, a 5xx.
        let err = c.check(
            "GET",
            "/api/v1/teams/t1",
            &resp(200, "application/json", json!({"id": 1})),
        );
        assert!(err.unwrap_err().contains("does not match"));
        assert!(
            c.check(
                "GET",
                "/api/v1/teams/t1",
                &resp(409, "application/problem+json", json!({}))
            )
            .is_err()
        );
        assert!(
            c.check("GET", "/api/v1/teams/t1", &resp(404, "application/json", json!({})))
                .is_err()
        );
        assert!(
            c.check("DELETE", "/api/v1/teams/t1", &resp(204, "", Value::Null))
                .is_ok()
        );
        assert!(
            c.check(
                "DELETE",
                "/api/v1/teams/t1",
                &resp(204, "application/json", json!({"a": 1}))
            )
            .is_err()
        );
        assert!(
            c.check(
                "GET",
                "/api/v1/teams/t1",
                &resp(500, "application/problem+json", json!({}))
            )
            .is_err()
        );
        // The most literal template wins; an unknown route may only answer the layer's 404/405.
        assert!(
            c.check("GET", "/api/v1/teams/mine", &resp(200, "application/json", json!([])))
                .is_ok()
        );
        assert!(
            c.check(
                "GET",
                "/api/v1/nothing",
                &resp(404, "application/problem+json", json!({}))
            )
            .is_ok()
        );
        assert!(
            c.check("GET", "/api/v1/nothing", &resp(200, "application/json", json!({})))
                .is_err()
        );
        // Outside the API (the UI, health): not the document's business.
        assert!(
            c.check("GET", "/healthz", &resp(200, "application/json", json!({})))
                .is_ok()
        );
    }
}
