//! Field types as JSON Schema, and the OpenAPI document of an app's record API, generated from
//! its metadata: one schema per entity with its real field types.

use serde_json::{Map, Value, json};

use crate::compile::{CompiledApp, CompiledEntity, CompiledField};
use crate::def::FieldType;

/// JSON Schema of a field's value as the API answers it (nullable: any field may be empty).
pub fn field_schema(f: &CompiledField) -> Value {
    let mut s = match f.kind {
        FieldType::Text | FieldType::LongText => json!({"type": "string"}),
        // What the server takes (`value.rs`), which is not what the formats `email` and `uri`
        // mean (looser for the first, http and https only for the second).
        FieldType::Email => json!({"type": "string", "pattern": EMAIL, "maxLength": 254}),
        FieldType::Url => json!({"type": "string", "pattern": URL, "maxLength": 2048}),
        FieldType::Phone => json!({"type": "string", "pattern": PHONE}),
        FieldType::Integer => json!({"type": "integer", "format": "int64"}),
        FieldType::Decimal | FieldType::Percent => {
            json!({"type": "number", "multipleOf": 10f64.powi(-(f.scale as i32))})
        }
        FieldType::Currency => json!({
            "type": "object",
            "required": ["amount", "currency"],
            "properties": {
                "amount": {"type": "number"},
                "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}
            },
            "additionalProperties": false
        }),
        FieldType::Boolean => json!({"type": "boolean"}),
        FieldType::Date => json!({"type": "string", "format": "date"}),
        FieldType::Datetime => json!({"type": "string", "format": "date-time"}),
        FieldType::SingleSelect => json!({"type": "string", "enum": f.options}),
        FieldType::MultiSelect => {
            json!({"type": "array", "items": {"type": "string", "enum": f.options}, "uniqueItems": true})
        }
        FieldType::Relation | FieldType::User => json!({"type": "string", "format": "uuid"}),
        FieldType::Json => json!({}),
        FieldType::AutoNumber => json!({"type": "string", "readOnly": true}),
        FieldType::Attachment => json!({
            "type": "array",
            "maxItems": f.max_files,
            "items": {
                "type": "object",
                "required": ["id", "name", "size", "content_type", "sha256"],
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "name": {"type": "string"},
                    "size": {"type": "integer", "minimum": 0},
                    "content_type": {"type": "string"},
                    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}
                }
            }
        }),
    };
    if let Value::Object(o) = &mut s {
        if f.kind.is_fixed_point() && f.scale == 0 {
            o.remove("multipleOf");
            o.insert("type".into(), json!("integer"));
        }
        if let Some(n) = f.max_length.filter(|_| f.kind.is_textual()) {
            o.insert("maxLength".into(), json!(n));
        }
        if let Some(n) = f.min_length.filter(|_| f.kind.is_textual()) {
            o.insert("minLength".into(), json!(n));
        }
        if f.kind == FieldType::MultiSelect {
            if let Some(n) = f.max_length {
                o.insert("maxItems".into(), json!(n));
            }
            if let Some(n) = f.min_length {
                o.insert("minItems".into(), json!(n));
            }
        }
        if f.kind != FieldType::Json {
            // OpenAPI 3.1: nullable as a type union.
            match o.get("type").cloned() {
                Some(Value::String(t)) => {
                    o.insert("type".into(), json!([t, "null"]));
                    // An enum restricts the value on its own: an empty field must be one of it.
                    if let Some(Value::Array(options)) = o.get_mut("enum") {
                        options.push(Value::Null);
                    }
                }
                _ => {
                    let inner = Value::Object(std::mem::take(o));
                    o.insert("anyOf".into(), json!([inner, {"type": "null"}]));
                }
            }
        }
    }
    s
}

fn record_schema(e: &CompiledEntity) -> Value {
    let mut props = Map::new();
    for c in &e.columns {
        let mut s = field_schema(c);
        if c.system {
            s = match c.name.as_str() {
                "id" => json!({"type": "string", "format": "uuid", "readOnly": true}),
                "version" => json!({"type": "integer", "minimum": 1, "readOnly": true}),
                "created_at" | "updated_at" => json!({"type": "string", "format": "date-time", "readOnly": true}),
                "created_by" => json!({"type": ["string", "null"], "format": "uuid", "readOnly": true}),
                "owner" => s,
                // The pipeline's columns change only through transitions.
                _ => {
                    if let Value::Object(o) = &mut s {
                        o.insert("readOnly".into(), json!(true));
                    }
                    s
                }
            };
        } else if c.kind == FieldType::Relation {
            // The id, or with `expand` the record it points at (as its reader sees it).
            s = json!({"anyOf": [
                {"type": "string", "format": "uuid"},
                {"type": "object", "required": ["id"], "properties": {"id": {"type": "string", "format": "uuid"}}},
                {"type": "null"}
            ]});
        }
        if !c.system
            && let (Some(label), Value::Object(o)) = (c_label(e, c), &mut s)
        {
            o.insert("title".into(), json!(label));
            if c.computed {
                o.insert("readOnly".into(), json!(true));
            }
            if let Some(d) = e.def.field(&c.name).and_then(describe_field) {
                o.insert("description".into(), json!(d));
            }
        }
        props.insert(c.name.clone(), s);
    }
    props.insert("_rights".into(), rights_schema());
    let required: Vec<&str> = ["id", "created_at", "updated_at", "version"].to_vec();
    json!({
        "type": "object",
        "title": e.def.label.display(e.name()),
        "properties": props,
        "required": required,
        "additionalProperties": false
    })
}

/// The records of a page a right reaches: all (`true`), none (`false`) or these ids.
fn allowed_schema() -> Value {
    json!({"anyOf": [{"type": "boolean"}, {"type": "array", "items": {"type": "string", "format": "uuid"}}]})
}

/// `_rights` of a record read with `rights=true`: whether the caller may update and delete it.
fn rights_schema() -> Value {
    json!({
        "type": "object", "readOnly": true, "required": ["update", "delete"],
        "description": "What the caller may do with the record (read with rights=true), by the row scopes the writes check",
        "properties": {"update": {"type": "boolean"}, "delete": {"type": "boolean"}},
        "additionalProperties": false
    })
}

/// What an integrator should know of a field beyond its type: how it is computed or required.
fn describe_field(f: &crate::def::FieldDef) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(h) = &f.help {
        parts.push(h.display("").to_string());
    }
    if let Some(x) = &f.formula {
        parts.push(format!("Computed on every write by the formula `{x}`."));
    }
    if let Some(r) = &f.rollup {
        let what = match (&r.field, r.func) {
            (None, _) => format!("the number of '{}' records", r.from),
            (Some(x), func) => format!("{:?} of '{}.{x}'", func, r.from).to_lowercase(),
        };
        let filter = r.filter.as_ref().map(|f| format!(" matching {f}")).unwrap_or_default();
        parts.push(format!(
            "Rollup: {what}{filter} whose '{}' points at this record; kept current.",
            r.via
        ));
    }
    match &f.required_if {
        Some(crate::condition::RequiredIf::Script(x)) => parts.push(format!("Required when `{x}`.")),
        Some(crate::condition::RequiredIf::Filter(x)) => parts.push(format!("Required when {x}.")),
        None => {}
    }
    if let Some(x) = &f.visible_if {
        parts.push(format!("Shown (and required) only when {x}."));
    }
    if let Some(a) = &f.accept {
        parts.push(format!("Files of type {}.", a.join(", ")));
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

fn c_label(e: &CompiledEntity, c: &CompiledField) -> Option<String> {
    e.def.field(&c.name).map(|f| f.label.display(&c.name).to_string())
}

/// An e-mail address as the server takes it: 1 to 64 visible ASCII characters (no `@`), `@`, a
/// domain with a dot inside it, no white space or control character.
const EMAIL: &str = r"^[!-?A-~]{1,64}@[^@.\s\x00-\x1f\x7f-\x9f][^@\s\x00-\x1f\x7f-\x9f]*\.[^@\s\x00-\x1f\x7f-\x9f]*[^@.\s\x00-\x1f\x7f-\x9f]$";

/// An http or https URL with a host, no white space or control character.
const URL: &str = r"^https?://[^/?#\s\x00-\x1f\x7f-\x9f][^\s\x00-\x1f\x7f-\x9f]*$";

/// A phone number: 5 to 20 digits, spaces, `-`, `(`, `)`, a `+` only first.
const PHONE: &str = r"^\+?[ ()-]*(?:[0-9][ ()-]*){5,20}$";

/// Text without NUL characters (no text value may hold one).
const NO_NUL: &str = "^[^\\x00]*$";

/// Any JSON value without NUL characters in its strings and member names (what a `json`
/// field takes); a component, as it refers to itself.
fn json_schema() -> Value {
    let json = json!({"$ref": "#/components/schemas/Json"});
    json!({"anyOf": [
        {"type": ["null", "boolean", "number"]},
        {"type": "string", "pattern": NO_NUL},
        {"type": "array", "items": json},
        {"type": "object", "propertyNames": {"pattern": NO_NUL}, "additionalProperties": json}
    ]})
}

/// Text with something else than white space (what a required text field needs).
const NOT_BLANK: &str = "\\S";

/// Minor units of a fixed-point field of `scale` as a JSON number.
fn fixed_number(minor: i64, scale: u8) -> Value {
    let text = rust_decimal::Decimal::new(minor, u32::from(scale)).to_string();
    serde_json::from_str::<serde_json::Number>(&text)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// The pattern of a fixed-point value written as text (kept exact) within the field's bounds,
/// the column's range and its scale; `None` where a pattern cannot state the bounds (a lower
/// bound other than 0, a negative upper bound): the field then takes numbers only in the
/// document (the server takes text as well).
fn decimal_text(c: &CompiledField) -> Option<String> {
    use crate::value::Val;
    let minor = |v: &Val| match v {
        Val::Fixed(m) | Val::Currency(m, _) => Some(i128::from(*m)),
        _ => None,
    };
    let limit = i128::from(crate::value::max_minor(c.scale));
    let max = match &c.max {
        None => limit,
        Some(v) => minor(v)?.min(limit),
    };
    if max < 0 {
        return None;
    }
    let mut branches = Vec::new();
    match c.min.as_ref() {
        None => branches.push(format!("-{}", decimal_upto(limit, c.scale))),
        Some(v) if minor(v)? == 0 => {}
        Some(_) => return None,
    }
    branches.push(decimal_upto(max, c.scale));
    Some(format!("^(?:{})$", branches.join("|")))
}

/// A pattern of the non-negative decimals of at most `scale` fraction digits up to `max` minor
/// units (a fraction only below the largest whole number).
fn decimal_upto(max: i128, scale: u8) -> String {
    let whole = max / 10i128.pow(u32::from(scale));
    let (fraction, zeros) = match scale {
        0 => (String::new(), String::new()),
        s => (format!("(?:\\.[0-9]{{1,{s}}})?"), format!("(?:\\.0{{1,{s}}})?")),
    };
    let mut alternatives = Vec::new();
    if let Some(below) = integers_below(whole) {
        alternatives.push(format!("(?:{below}){fraction}"));
    }
    alternatives.push(format!("{whole}{zeros}"));
    format!("(?:{})", alternatives.join("|"))
}

/// A pattern of the integers from 0 to `n - 1`, written without leading zeros.
fn integers_below(n: i128) -> Option<String> {
    if n <= 0 {
        return None;
    }
    let digits: Vec<u8> = n.to_string().bytes().map(|b| b - b'0').collect();
    let k = digits.len();
    let mut alternatives = vec!["0".to_string()];
    if k >= 2 {
        alternatives.push(format!("[1-9][0-9]{{0,{}}}", k - 2));
    }
    for i in 0..k {
        let lo = if i == 0 { 1 } else { 0 };
        if digits[i] > lo {
            let prefix: String = digits[..i].iter().map(|d| char::from(b'0' + d)).collect();
            alternatives.push(format!("{prefix}[{lo}-{}][0-9]{{{}}}", digits[i] - 1, k - i - 1));
        }
    }
    Some(alternatives.join("|"))
}

/// A pattern of comma-separated names out of `names` (or of nothing when there is none).
fn name_list(names: &[&str]) -> Value {
    if names.is_empty() {
        return json!("^$");
    }
    let one = format!("(?:{})", names.join("|"));
    json!(format!("^(?:{one}(?:,{one})*)?$"))
}

fn input_schema(e: &CompiledEntity, for_create: bool) -> Value {
    // A field with a `visible_if` is required only while it holds: the write path judges it.
    let required = |c: &CompiledField| c.required && e.def.field(&c.name).is_none_or(|d| d.visible_if.is_none());
    let mut props = Map::new();
    for c in e.fields().filter(|c| c.kind != FieldType::AutoNumber && !c.computed) {
        let mut s = field_schema(c);
        if c.kind == FieldType::Currency {
            // What a write takes: the amount as a number or a decimal string (exact), the code
            // optional where the field has a default currency.
            let number = match c.scale {
                0 => json!({"type": "integer"}),
                s => json!({"type": "number", "multipleOf": 10f64.powi(-i32::from(s))}),
            };
            let amount = match decimal_text(c) {
                Some(p) => json!({"anyOf": [number, {"type": "string", "pattern": p}]}),
                None => number,
            };
            let object = json!({
                "type": "object",
                "required": ["amount"],
                "properties": {"amount": amount, "currency": {"type": ["string", "null"], "pattern": "^[A-Z]{3}$"}},
                "additionalProperties": false
            });
            s = json!({"anyOf": [object, amount, {"type": "null"}], "description": "An amount, or {amount, currency}"});
        } else if c.kind == FieldType::MultiSelect {
            // A choice sent twice counts once (a record holds each at most once).
            if let Value::Object(o) = &mut s {
                o.remove("uniqueItems");
            }
        } else if c.kind.is_fixed_point() {
            if let Some(p) = decimal_text(c) {
                s = json!({"anyOf": [s, {"type": "string", "pattern": p}]});
            }
        } else if c.kind == FieldType::Attachment {
            // Ids of uploaded files, or the objects a read answered (only their id counts).
            let id = json!({"type": "string", "format": "uuid"});
            let item = json!({"anyOf": [id, {"type": "object", "required": ["id"], "properties": {"id": id}}]});
            s = json!({
                "type": ["array", "null"],
                "maxItems": c.max_files,
                "items": item,
                "description": "Ids of files uploaded with POST /api/v1/files"
            });
        }
        let (mut min, mut max) = (
            c.min.as_ref().and_then(|v| bound(v, c)),
            c.max.as_ref().and_then(|v| bound(v, c)),
        );
        if c.kind.is_fixed_point() {
            // What the column holds, where the field states no tighter bound.
            let limit = crate::value::max_minor(c.scale);
            min.get_or_insert_with(|| fixed_number(-limit, c.scale));
            max.get_or_insert_with(|| fixed_number(limit, c.scale));
        }
        if min.is_some() || max.is_some() {
            with_bounds(&mut s, min.as_ref(), max.as_ref());
        }
        if required(c) {
            // A required field may be left out of an update, but never sent empty: not null,
            // not blank, not an empty list.
            non_null(&mut s);
            if matches!(c.kind, FieldType::MultiSelect | FieldType::Attachment) && s.get("minItems").is_none() {
                s["minItems"] = json!(1);
            }
        }
        if c.kind.is_textual() && c.kind != FieldType::SingleSelect {
            // Text has no NUL, matches the field's pattern, and is not blank where required.
            let mut patterns: Vec<String> = s
                .get("pattern")
                .and_then(Value::as_str)
                .map(str::to_string)
                .into_iter()
                .collect();
            patterns.push(NO_NUL.to_string());
            patterns.extend(c.regex.as_ref().map(|re| re.as_str().to_string()));
            if required(c) {
                patterns.push(NOT_BLANK.to_string());
            }
            s["pattern"] = json!(patterns[0]);
            if patterns.len() > 1 {
                s["allOf"] = patterns[1..].iter().map(|p| json!({"pattern": p})).collect();
            }
        } else if c.kind == FieldType::Json {
            s = json!({"$ref": "#/components/schemas/Json"});
        }
        props.insert(c.name.clone(), s);
    }
    props.insert("owner".into(), json!({"type": ["string", "null"], "format": "uuid"}));
    let mut s = json!({"type": "object", "properties": props, "additionalProperties": false});
    if for_create {
        let required: Vec<&str> = e
            .fields()
            .filter(|c| required(c) && c.default.is_none())
            .map(|c| c.name.as_str())
            .collect();
        if !required.is_empty() {
            s["required"] = json!(required);
        }
    }
    s
}

/// A field's `min` or `max` as a JSON number (`None` for bounds JSON Schema cannot state, such
/// as dates).
fn bound(v: &crate::value::Val, f: &CompiledField) -> Option<Value> {
    use crate::value::Val;
    match v {
        Val::Int(i) => Some(json!(i)),
        Val::Fixed(minor) | Val::Currency(minor, _) if f.scale == 0 => Some(json!(minor)),
        Val::Fixed(minor) | Val::Currency(minor, _) => {
            let text = rust_decimal::Decimal::new(*minor, u32::from(f.scale)).to_string();
            serde_json::from_str::<serde_json::Number>(&text)
                .ok()
                .map(Value::Number)
        }
        _ => None,
    }
}

/// Puts `minimum`/`maximum` on every numeric branch of a schema.
fn with_bounds(s: &mut Value, min: Option<&Value>, max: Option<&Value>) {
    match s {
        Value::Object(o) => {
            let numeric = match o.get("type") {
                Some(Value::String(t)) => t == "number" || t == "integer",
                Some(Value::Array(ts)) => ts.iter().any(|t| t == "number" || t == "integer"),
                _ => false,
            };
            if numeric {
                if let Some(m) = min {
                    o.insert("minimum".into(), m.clone());
                }
                if let Some(m) = max {
                    o.insert("maximum".into(), m.clone());
                }
            }
            o.values_mut().for_each(|v| with_bounds(v, min, max));
        }
        Value::Array(a) => a.iter_mut().for_each(|v| with_bounds(v, min, max)),
        _ => {}
    }
}

/// Removes `null` from what a schema accepts (its type union, enum and `anyOf` branches).
fn non_null(s: &mut Value) {
    let Value::Object(o) = s else { return };
    if let Some(Value::Array(types)) = o.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let t = types.remove(0);
            o.insert("type".into(), t);
        }
    }
    if let Some(Value::Array(options)) = o.get_mut("enum") {
        options.retain(|v| !v.is_null());
    }
    if let Some(Value::Array(branches)) = o.get_mut("anyOf") {
        branches.retain(|b| b != &json!({"type": "null"}));
        branches.iter_mut().for_each(non_null);
    }
}

/// The OpenAPI 3.1 document of an app's record endpoints.
pub fn app_openapi(app: &CompiledApp) -> Value {
    let mut schemas = Map::new();
    let mut paths = Map::new();
    schemas.insert("Problem".into(), problem_schema());
    schemas.insert("Json".into(), json_schema());
    let mut names: Vec<&String> = app.entities.keys().collect();
    names.sort();
    for name in names {
        let e = &app.entities[name];
        let title = camel(name);
        schemas.insert(title.clone(), record_schema(e));
        schemas.insert(format!("{title}Create"), input_schema(e, true));
        schemas.insert(format!("{title}Update"), input_schema(e, false));
        // A bulk update names its record, and may name the version it is meant for.
        let mut bulk_update = input_schema(e, false);
        bulk_update["properties"]["id"] = json!({"type": "string", "format": "uuid"});
        bulk_update["properties"]["version"] = version_taken();
        bulk_update["required"] = json!(["id"]);
        schemas.insert(format!("{title}BulkUpdate"), bulk_update);
        let base = format!("/api/v1/data/{}/{}", app.def.name, name);
        let rec = json!({"$ref": format!("#/components/schemas/{title}")});
        let one = |status: &str, desc: &str| json!({status: {"description": desc, "content": {"application/json": {"schema": rec}}}});
        let label = e.def.label.display(name).to_string();
        paths.insert(base.clone(), json!({
            "get": {
                "operationId": format!("list_{name}"), "summary": format!("List {label}"), "tags": [label],
                "parameters": list_parameters(e),
                "responses": merge(json!({"200": {"description": "A page of records", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["data"],
                    "properties": {"data": {"type": "array", "items": rec}, "next_cursor": {"type": ["string", "null"]}, "total": {"type": "integer"},
                        "rights": {"type": "object", "description": "With rights=true: the page's records the caller may update, and may delete: true (all), false (none) or their ids",
                                   "required": ["update", "delete"], "additionalProperties": false, "properties": {
                            "update": allowed_schema(), "delete": allowed_schema()}}}
                }}}}}), errors(&["400"]))
            },
            "post": {
                "operationId": format!("create_{name}"), "summary": format!("Create a {label}"), "tags": [label],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{title}Create")}}}},
                "responses": merge(one("201", "Created"), errors(&["400", "422"]))
            }
        }));
        paths.insert(format!("{base}/{{id}}"), json!({
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
            "get": {"operationId": format!("get_{name}"), "summary": format!("Get a {label}"), "tags": [label],
                    "parameters": [
                        {"name": "expand", "in": "query", "description": "Comma-separated relation fields to expand", "schema": {"type": "string", "pattern": expandable(e)}},
                        {"name": "fields", "in": "query", "description": "Comma-separated fields to return", "schema": {"type": "string", "pattern": columns(e)}},
                        {"name": "rights", "in": "query", "description": "Also answer _rights: whether the caller may update and delete the record", "schema": {"type": "boolean"}}
                    ],
                    "responses": merge(one("200", "The record"), errors(&["404"]))},
            "patch": {"operationId": format!("update_{name}"), "summary": format!("Update a {label}"), "tags": [label],
                      "parameters": [{"name": "If-Match", "in": "header", "schema": {"type": "string"}, "description": "The ETag read; a stale one answers 412"}],
                      "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{title}Update")}}}},
                      "responses": merge(one("200", "The updated record"), errors(&["400", "404", "412", "422"]))},
            "delete": {"operationId": format!("delete_{name}"), "summary": format!("Delete a {label}"), "tags": [label],
                       "parameters": [{"name": "If-Match", "in": "header", "schema": {"type": "string"}}],
                       "responses": merge(json!({"204": {"description": "Deleted"}}), errors(&["404", "409", "412"]))}
        }));
        paths.insert(format!("{base}/bulk"), json!({
            "post": {"operationId": format!("bulk_{name}"), "summary": format!("Create, update and delete {label} records, all or nothing"), "tags": [label],
                     "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {
                         "create": {"type": ["array", "null"], "items": {"$ref": format!("#/components/schemas/{title}Create")}},
                         "update": {"type": ["array", "null"], "items": {"$ref": format!("#/components/schemas/{title}BulkUpdate")}},
                         "delete": {"type": ["array", "null"], "items": {"anyOf": [
                             {"type": "string", "format": "uuid"},
                             {"type": "object", "required": ["id"], "properties": {"id": {"type": "string", "format": "uuid"}, "version": version_taken()}, "additionalProperties": false}
                         ]}}
                     }, "additionalProperties": false}}}},
                     "responses": merge(json!({"200": {"description": "What was done", "content": {"application/json": {"schema": {"type": "object", "properties": {
                         "created": {"type": "array", "items": rec}, "updated": {"type": "array", "items": rec}, "deleted": {"type": "array", "items": {"type": "string"}}
                     }}}}}}), errors(&["400", "404", "409", "412", "422"]))}
        }));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": format!("{} API", app.def.label.display(app.def.name.as_str())),
            "version": app.version.to_string(),
            "description": format!("Record API of the app '{}', generated from its metadata (version {}).", app.def.name, app.version)
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}
        }
    })
}

/// The pattern of a list of the entity's fields.
fn columns(e: &CompiledEntity) -> Value {
    name_list(&e.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>())
}

/// The pattern of a list of the entity's relation fields (what `expand` takes).
fn expandable(e: &CompiledEntity) -> Value {
    let names: Vec<&str> = e
        .columns
        .iter()
        .filter(|c| c.kind == FieldType::Relation && !c.system)
        .map(|c| c.name.as_str())
        .collect();
    name_list(&names)
}

/// The pattern of a sort order: fields that can be sorted on, each optionally after `-` or `+`
/// (each at most once, at most 5: the server answers 400 otherwise).
fn sortable(e: &CompiledEntity) -> Value {
    let names: Vec<&str> = e
        .columns
        .iter()
        .filter(|c| c.sortable())
        .map(|c| c.name.as_str())
        .collect();
    let one = format!("[-+]?(?:{})", names.join("|"));
    json!(format!("^(?:{one}(?:,{one}){{0,4}})?$"))
}

fn list_parameters(e: &CompiledEntity) -> Value {
    let q = |name: &str, desc: &str, schema: Value| json!({"name": name, "in": "query", "description": desc, "schema": schema});
    json!([
        q("filter", "JSON filter (filter.schema.json)", json!({"type": "string"})),
        q(
            "sort",
            "Comma-separated fields, '-' for descending",
            json!({"type": "string", "pattern": sortable(e)})
        ),
        q(
            "fields",
            "Comma-separated fields to return",
            json!({"type": "string", "pattern": columns(e)})
        ),
        q(
            "expand",
            "Comma-separated relation fields to expand",
            json!({"type": "string", "pattern": expandable(e)})
        ),
        q("q", "Text searched in every text field", json!({"type": "string"})),
        q(
            "limit",
            "Page size (default 50, max 1000)",
            json!({"type": "integer", "minimum": 1, "maximum": 1000})
        ),
        q("cursor", "next_cursor of the previous page", json!({"type": "string"})),
        q(
            "offset",
            "Rows to skip (instead of a cursor)",
            json!({"type": "integer", "minimum": 0})
        ),
        q("count", "Also answer the total", json!({"type": "boolean"})),
        q(
            "rights",
            "Also answer rights: the records of the page the caller may update and delete",
            json!({"type": "boolean"})
        )
    ])
}

/// A version a bulk write names: whole numbers up to 2^53 - 1 (JSON's exact integers).
fn version_taken() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": 9_007_199_254_740_991_i64})
}

fn problem_schema() -> Value {
    json!({
        "type": "object",
        "required": ["type", "title", "status", "code"],
        "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "code": {"type": "string"}, "detail": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object", "properties": {
                "field": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"}}}}
        }
    })
}

fn errors(statuses: &[&str]) -> Value {
    let mut m = Map::new();
    for s in statuses.iter().chain(["401"].iter()) {
        m.insert(
            s.to_string(),
            json!({"description": "Problem", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}),
        );
    }
    Value::Object(m)
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Value::Object(x), Value::Object(y)) = (&mut a, b) {
        x.extend(y);
    }
    a
}

fn camel(s: &str) -> String {
    s.split('_')
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}
