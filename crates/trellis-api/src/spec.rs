//! The last pass over the platform OpenAPI document: the error answers every route can give,
//! documented the way they are served. The handlers' annotations name the answers of their use
//! case; the ones that come from the HTTP layer around every route (authentication, a body that
//! is not JSON or too big, a malformed path or query, `If-Match`) are added here, so a new route
//! is documented completely without repeating them.

use serde_json::{Map, Value, json};

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// What `If-Match` accepts: a record's version as its ETag gives it (`"3"`, `W/"3"`, `3`) or `*`.
pub const IF_MATCH_PATTERN: &str = r#"^(\*|(W/)?"?[0-9]{1,18}"?)$"#;

const METHODS: [&str; 5] = ["get", "put", "post", "patch", "delete"];

/// Rewrites the document produced from the annotated handlers (see the module's doc).
pub fn finish(doc: &mut Value) {
    field_rules(doc);
    let global_security = doc
        .get("security")
        .is_some_and(|s| s.as_array().is_some_and(|a| !a.is_empty()));
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        for method in METHODS {
            let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) else {
                continue;
            };
            finish_operation(path, method, op, global_security);
        }
    }
}

fn finish_operation(path: &str, method: &str, op: &mut Map<String, Value>, global_security: bool) {
    if method == "put" {
        nullable_body_is_required(op);
    }
    let secured = match op.get("security").and_then(Value::as_array) {
        // `security: [{}]` or `[]` on an operation: no credentials needed.
        Some(reqs) => reqs.iter().any(|r| r.as_object().is_some_and(|o| !o.is_empty())),
        None => global_security,
    };
    let has_body = op.contains_key("requestBody");
    let params: Vec<(String, String)> = op
        .get("parameters")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    (
                        p["in"].as_str().unwrap_or("").to_string(),
                        p["name"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let has_if_match = params
        .iter()
        .any(|(i, n)| i == "header" && n.eq_ignore_ascii_case("If-Match"));
    let has_query = params.iter().any(|(i, _)| i == "query");
    let has_path = path.contains('{');

    let mut add: Vec<(&str, &str)> = Vec::new();
    if has_body || has_query || has_if_match {
        add.push((
            "400",
            "The request is malformed: a body that is not JSON, a bad query parameter or If-Match",
        ));
    }
    if secured {
        add.push(("401", "No valid credentials (a bearer token or the session cookie)"));
        add.push(("403", "The caller's roles do not allow this"));
    }
    if has_path {
        add.push(("404", "No such element, or one the caller may not see"));
    }
    if secured && method != "get" {
        add.push(("409", "The change conflicts with the current state"));
    }
    if has_if_match {
        add.push(("412", "If-Match names a version that is no longer current"));
    }
    if has_body {
        add.push(("413", "The body is larger than the server accepts"));
    }
    if has_body || has_query {
        add.push((
            "422",
            "The body or a query value is well-formed but invalid; `errors` names each field",
        ));
    }
    // Any URL can be made too long, whatever the route takes.
    add.push(("414", "The URL is longer than the server accepts"));
    add.push(("431", "The request's headers are larger than the server accepts"));

    let responses = op
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("responses is an object");
    for (status, description) in add {
        responses
            .entry(status)
            .or_insert_with(|| json!({"description": description}));
    }
    for (status, response) in responses.iter_mut() {
        if status.starts_with('4') || status.starts_with('5') {
            as_problem(response);
        }
    }
    if let Some(ps) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        for p in ps.iter_mut() {
            if p["in"] == "header" && p["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case("If-Match")) {
                p["schema"] = json!({"type": "string", "pattern": IF_MATCH_PATTERN, "examples": ["\"3\""]});
                p["description"] = json!(
                    "The version the change is meant for, as the ETag gives it: the record's, or on a definition change the app's (\"3\"; W/\"3\" and a bare 3 are accepted too). An older version answers 412 and nothing is written; `*` or no header: any version."
                );
            }
        }
    }
}

/// Serves an error answer's schema as `application/problem+json` (the way it is sent), with the
/// `Problem` schema when the annotation named none.
fn as_problem(response: &mut Value) {
    let Some(r) = response.as_object_mut() else { return };
    if r.contains_key("$ref") {
        return;
    }
    let content = r.entry("content").or_insert_with(|| json!({}));
    let Some(content) = content.as_object_mut() else { return };
    let schema = content
        .remove("application/json")
        .and_then(|c| c.get("schema").cloned())
        .unwrap_or_else(|| json!({"$ref": "#/components/schemas/Problem"}));
    content.clear();
    content.insert(PROBLEM_JSON.into(), json!({"schema": schema}));
}

/// The routes of the document by path template, with their methods: which methods a path
/// that no route took does have (405 and `Allow`, rather than 404).
pub struct Routes(Vec<(Vec<String>, Vec<String>)>);

impl Routes {
    pub fn of(doc: &Value) -> Routes {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            let segments = path.split('/').map(str::to_string).collect();
            let methods = METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| m.to_ascii_uppercase())
                .collect();
            out.push((segments, methods));
        }
        Routes(out)
    }

    /// The methods of the routes whose template matches `path` most closely (the most literal
    /// segments: `…/{entity}/bulk` before `…/{entity}/{id}`); empty: no route has it.
    pub fn methods_of(&self, path: &str) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .closest(path)
            .into_iter()
            .flat_map(|(_, methods)| methods.iter().map(String::as_str))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The segments of the template that matches `path` most closely (as [`Routes::methods_of`]
    /// chooses it): `["", "api", "v1", "data", "{app}", "{entity}", "{id}"]`.
    pub fn template_of(&self, path: &str) -> Option<&[String]> {
        self.closest(path).first().map(|(template, _)| template.as_slice())
    }

    /// The routes whose template matches `path` with the most literal segments.
    fn closest(&self, path: &str) -> Vec<&(Vec<String>, Vec<String>)> {
        let parts: Vec<&str> = path.split('/').collect();
        let mut best = 0;
        let mut out = Vec::new();
        for route in &self.0 {
            let template = &route.0;
            let matches = template.len() == parts.len()
                && template
                    .iter()
                    .zip(&parts)
                    .all(|(t, p)| t == p || (t.starts_with('{') && !p.is_empty()));
            if !matches {
                continue;
            }
            let literal = template.iter().filter(|t| !t.starts_with('{')).count();
            if literal > best {
                best = literal;
                out.clear();
            }
            if literal == best {
                out.push(route);
            }
        }
        out
    }
}

/// A `PUT` body that may be `null` (`PUT .../pipeline`: `null` removes it) is still required: no
/// body is not `null` (400). utoipa marks an `Option` body optional. (A `POST` may take no body
/// at all: approving with no comment.)
fn nullable_body_is_required(op: &mut Map<String, Value>) {
    let Some(body) = op.get_mut("requestBody").and_then(Value::as_object_mut) else {
        return;
    };
    let nullable = body
        .get("content")
        .and_then(|c| c.get("application/json"))
        .and_then(|m| m["schema"]["oneOf"].as_array())
        .is_some_and(|branches| branches.contains(&json!({"type": "null"})));
    if nullable {
        body.insert("required".into(), json!(true));
    }
}

/// Puts on the `FieldDef` component the rules between a field definition's members that
/// `field.schema.json` states with `if`/`then`/`else` (which members go with which type: the
/// options of a select, the target of a relation, the scale of a decimal...). OpenAPI 3.1
/// schemas are JSON Schema 2020-12 and carry them; utoipa's derive has no attribute for them.
fn field_rules(doc: &mut Value) {
    let Some(field) = doc
        .pointer_mut("/components/schemas/FieldDef")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let rules = trellis_core::schema::SCHEMAS
        .iter()
        .find(|(name, _)| *name == "field.schema.json")
        .and_then(|(_, text)| serde_json::from_str::<Value>(text).ok())
        .and_then(|schema| schema.get("allOf").cloned());
    if let Some(rules) = rules {
        field.insert("allOf".into(), rules);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_put_body_that_may_be_null_is_required() {
        let doc = crate::platform_spec();
        let body = &doc["paths"]["/api/v1/apps/{app}/entities/{entity}/pipeline"]["put"]["requestBody"];
        assert_eq!(body["required"], true, "{body}");
        let approve = &doc["paths"]["/api/v1/approvals/{id}/approve"]["post"]["requestBody"];
        assert!(approve.get("required").is_none(), "{approve}");
    }

    #[test]
    fn a_field_definition_carries_the_rules_of_its_type() {
        let doc = crate::platform_spec();
        let rules = doc["components"]["schemas"]["FieldDef"]["allOf"]
            .as_array()
            .expect("FieldDef.allOf");
        assert!(
            rules.iter().any(|r| r["then"]["required"] == json!(["target"])),
            "{rules:?}"
        );
        assert!(rules.iter().any(|r| r["if"].is_object() && r.get("else").is_some()));
    }

    fn doc() -> Value {
        json!({
            "security": [{"bearer": []}],
            "paths": {
                "/api/v1/auth/login": {"post": {
                    "security": [{}],
                    "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                    "responses": {"200": {"description": "ok"}, "401": {"description": "wrong", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}}
                }},
                "/api/v1/data/{app}/{entity}/{id}": {"patch": {
                    "parameters": [{"in": "path", "name": "app"}, {"in": "header", "name": "If-Match", "schema": {"type": ["string", "null"]}}],
                    "requestBody": {"content": {"application/json": {}}},
                    "responses": {"200": {"description": "ok", "content": {"application/json": {}}}}
                }},
                "/api/v1/apps": {"get": {"responses": {"200": {"description": "ok"}}}}
            }
        })
    }

    #[test]
    fn errors_are_problem_json_and_every_layer_answer_is_documented() {
        let mut d = doc();
        finish(&mut d);
        let login = &d["paths"]["/api/v1/auth/login"]["post"]["responses"];
        // An open route: no 401 added, but the one it documents is served as problem+json.
        assert!(login["401"]["content"]["application/problem+json"].is_object());
        assert!(login["401"]["content"].get("application/json").is_none());
        assert!(login["403"].is_null());
        assert!(login["400"].is_object() && login["413"].is_object() && login["422"].is_object());
        assert!(login["200"]["content"].is_null(), "success answers are left alone");

        let patch = &d["paths"]["/api/v1/data/{app}/{entity}/{id}"]["patch"];
        for s in ["400", "401", "403", "404", "409", "412", "413", "414", "422", "431"] {
            let r = &patch["responses"][s];
            assert_eq!(
                r["content"]["application/problem+json"]["schema"]["$ref"], "#/components/schemas/Problem",
                "{s}"
            );
        }
        let if_match = &patch["parameters"][1];
        assert_eq!(if_match["schema"]["pattern"], IF_MATCH_PATTERN);

        let list = &d["paths"]["/api/v1/apps"]["get"]["responses"];
        assert!(list["401"].is_object() && list["403"].is_object());
        assert!(list["404"].is_null() && list["409"].is_null() && list["422"].is_null());
    }

    #[test]
    fn routes_know_the_methods_of_a_path() {
        let routes = Routes::of(&json!({"paths": {
            "/api/v1/data/{app}/{entity}": {"get": {}, "post": {}},
            "/api/v1/data/{app}/{entity}/bulk": {"post": {}},
            "/api/v1/data/{app}/{entity}/{id}": {"get": {}, "patch": {}, "delete": {}}
        }}));
        assert_eq!(routes.methods_of("/api/v1/data/sales/deal"), vec!["GET", "POST"]);
        assert_eq!(routes.methods_of("/api/v1/data/sales/deal/bulk"), vec!["POST"]);
        assert_eq!(
            routes.methods_of("/api/v1/data/sales/deal/x1"),
            vec!["DELETE", "GET", "PATCH"]
        );
        assert!(routes.methods_of("/api/v1/data/sales").is_empty());
        assert!(routes.methods_of("/api/v1/data//deal").is_empty());
        assert!(routes.methods_of("/api/v1/nothing").is_empty());
    }

    /// The documented pattern and the extractor agree on every value (a client that follows the
    /// document is never refused, and the document promises nothing the server refuses).
    #[test]
    fn the_if_match_pattern_takes_what_the_server_takes() {
        let schema = json!({"type": "string", "pattern": IF_MATCH_PATTERN});
        let validator = jsonschema::validator_for(&schema).expect("the pattern compiles");
        for value in [
            "\"3\"",
            "W/\"3\"",
            "3",
            "*",
            "\"x\"",
            "abc",
            "W/",
            "\"-1\"",
            "1.5",
            "+3",
            "\"99999999999999999999\"",
            "\"\"3\"\"",
        ] {
            let req = actix_web::test::TestRequest::default()
                .insert_header(("If-Match", value))
                .to_http_request();
            let served = crate::extract::if_match(&req).is_ok();
            assert_eq!(validator.is_valid(&json!(value)), served, "If-Match: {value}");
        }
    }
}
