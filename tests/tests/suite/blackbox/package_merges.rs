//! Package upgrades, case by case: each case installs version 1.0.0 of one package as an app of
//! its own, makes the tenant's changes through the builder API, installs 2.0.0 (the package's
//! changes) and checks the merged app, the conflicts and the changes listed. On SQLite and
//! PostgreSQL.

use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, TestApp, on_both, spawn};

fn l(en: &str) -> Value {
    json!({"en": en})
}

/// Version 1.0.0: customers and leads (with a pipeline), two roles, a rule, two views, a form.
fn v1() -> Value {
    json!({
        "package": "sales", "version": "1.0.0",
        "app": {
            "name": "sales", "label": l("Sales"),
            "entities": [
                {"name": "customer", "label": l("Customer"), "title_field": "name", "fields": [
                    {"name": "name", "label": l("Name"), "type": "text", "required": true},
                    {"name": "industry", "label": l("Industry"), "type": "single_select",
                     "options": [{"value": "it", "label": l("IT")}, {"value": "retail", "label": l("Retail")}]}]},
                {"name": "lead", "label": l("Lead"), "title_field": "title", "fields": [
                    {"name": "title", "label": l("Title"), "type": "text", "required": true},
                    {"name": "phone", "label": l("Phone"), "type": "text"},
                    {"name": "source", "label": l("Source"), "type": "single_select",
                     "options": [{"value": "web", "label": l("Web")}, {"value": "ads", "label": l("Ads")}]},
                    {"name": "amount", "label": l("Amount"), "type": "decimal"},
                    {"name": "legacy", "label": l("Legacy"), "type": "text"},
                    {"name": "customer", "label": l("Customer"), "type": "relation", "target": "customer"}],
                 "pipeline": {
                    "stages": [
                        {"key": "new", "label": l("New"), "probability": 10},
                        {"key": "qualified", "label": l("Qualified"), "probability": 40},
                        {"key": "won", "label": l("Won"), "kind": "won", "probability": 100},
                        {"key": "lost", "label": l("Lost"), "kind": "lost", "probability": 0}],
                    "transitions": [
                        {"from": ["new"], "to": "qualified"},
                        {"from": ["qualified"], "to": "won"},
                        {"from": ["*"], "to": "lost"}]}}
            ],
            "roles": [
                {"name": "rep", "label": l("Rep"), "permissions": {
                    "lead": {"create": true, "read": true, "update": true, "scope": "own", "fields": {"phone": "hidden"}}}},
                {"name": "manager", "label": l("Manager"), "permissions": {
                    "lead": {"read": true}, "customer": {"read": true}}}],
            "rules": [
                {"name": "welcome", "trigger": {"type": "record_created", "entity": "lead"},
                 "actions": [{"type": "notify", "to": {"owner": true}, "title": l("New lead")}]}],
            "views": [
                {"name": "all_leads", "label": l("All leads"), "entity": "lead", "type": "grid",
                 "columns": [{"field": "title"}, {"field": "source"}]},
                {"name": "board", "label": l("Board"), "entity": "lead", "type": "kanban", "group_by": "stage"}],
            "forms": [
                {"name": "lead_form", "label": l("Lead"), "entity": "lead",
                 "sections": [{"fields": [{"field": "title"}, {"field": "phone"}]}]}]
        }
    })
}

/// A change to the package: JSON pointer edits of version 1.0.0.
enum Edit {
    Set(&'static str, Value),
    Remove(&'static str),
    Push(&'static str, Value),
    Insert(&'static str, usize, Value),
}

fn v2(edits: &[Edit]) -> Value {
    let mut p = v1();
    p["version"] = json!("2.0.0");
    for e in edits {
        match e {
            Edit::Set(at, v) => {
                let (parent, last) = at.rsplit_once('/').unwrap();
                match p.pointer_mut(parent).unwrap_or_else(|| panic!("{parent}")) {
                    Value::Object(o) => {
                        o.insert(last.to_string(), v.clone());
                    }
                    Value::Array(a) => a[last.parse::<usize>().unwrap()] = v.clone(),
                    _ => panic!("{at}"),
                }
            }
            Edit::Remove(at) => {
                let (parent, last) = at.rsplit_once('/').unwrap();
                match p.pointer_mut(parent).unwrap_or_else(|| panic!("{parent}")) {
                    Value::Array(a) => {
                        a.remove(last.parse::<usize>().unwrap());
                    }
                    Value::Object(o) => {
                        o.remove(last);
                    }
                    _ => panic!("{at}"),
                }
            }
            Edit::Push(at, v) => p.pointer_mut(at).unwrap().as_array_mut().unwrap().push(v.clone()),
            Edit::Insert(at, i, v) => p.pointer_mut(at).unwrap().as_array_mut().unwrap().insert(*i, v.clone()),
        }
    }
    p
}

/// A path through an app by names: at a list, the next part is an element's name (else its key,
/// else its value) or its index.
fn find<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut at = v;
    for part in path.split('/') {
        at = match at {
            Value::Object(o) => o.get(part)?,
            Value::Array(a) => a
                .iter()
                .find(|x| {
                    // An element is called by its name, else its key (stages), else its value.
                    let called = ["name", "key", "value"]
                        .iter()
                        .find_map(|k| x.get(*k).and_then(Value::as_str));
                    called == Some(part)
                })
                .or_else(|| part.parse::<usize>().ok().and_then(|i| a.get(i)))?,
            _ => return None,
        };
    }
    Some(at)
}

struct Case {
    name: &'static str,
    /// The tenant's changes: (method, path under /api/v1/apps/{app}/, body).
    tenant: Vec<(Method, &'static str, Value)>,
    /// Records made before the upgrade: (entity, body).
    records: Vec<(&'static str, Value)>,
    package: Vec<Edit>,
    /// The upgrade's query (`allow_data_loss=true`, `prefer=package`).
    query: &'static str,
    /// The upgrade's status.
    status: u16,
    /// The conflicts' paths.
    conflicts: Vec<&'static str>,
    /// (kind, change, name) that must be listed.
    changes: Vec<(&'static str, &'static str, &'static str)>,
    /// (path by names, value) in the app after the upgrade; null: absent.
    then: Vec<(&'static str, Value)>,
    /// (entity, record title, field, value) read after the upgrade.
    reads: Vec<(&'static str, &'static str, &'static str, Value)>,
}

impl Default for Case {
    fn default() -> Self {
        Case {
            name: "",
            tenant: vec![],
            records: vec![],
            package: vec![],
            query: "",
            status: 200,
            conflicts: vec![],
            changes: vec![],
            then: vec![],
            reads: vec![],
        }
    }
}

fn cases() -> Vec<Case> {
    use Edit::*;
    let patch = Method::PATCH;
    let post = Method::POST;
    let put = Method::PUT;
    let delete = Method::DELETE;
    vec![
        Case {
            name: "a label only the package changed takes the package's",
            package: vec![Set("/app/entities/1/fields/0/label/en", json!("Subject"))],
            then: vec![("entities/lead/fields/title/label/en", json!("Subject"))],
            changes: vec![("field", "changed", "title")],
            ..Default::default()
        },
        Case {
            name: "a label only the tenant changed keeps the tenant's",
            tenant: vec![(
                patch.clone(),
                "entities/lead/fields/title",
                json!({"label": l("Headline")}),
            )],
            package: vec![Set("/app/entities/1/fields/1/label/en", json!("Telephone"))],
            then: vec![
                ("entities/lead/fields/title/label/en", json!("Headline")),
                ("entities/lead/fields/phone/label/en", json!("Telephone")),
            ],
            ..Default::default()
        },
        Case {
            name: "a label both changed keeps the tenant's and is a conflict",
            tenant: vec![(
                patch.clone(),
                "entities/lead/fields/title",
                json!({"label": l("Headline")}),
            )],
            package: vec![Set("/app/entities/1/fields/0/label/en", json!("Subject"))],
            conflicts: vec!["entities[lead].fields[title].label.en"],
            then: vec![("entities/lead/fields/title/label/en", json!("Headline"))],
            ..Default::default()
        },
        Case {
            name: "prefer=package takes the package's side of a conflict",
            tenant: vec![(
                patch.clone(),
                "entities/lead/fields/title",
                json!({"label": l("Headline")}),
            )],
            package: vec![Set("/app/entities/1/fields/0/label/en", json!("Subject"))],
            query: "prefer=package",
            conflicts: vec!["entities[lead].fields[title].label.en"],
            then: vec![("entities/lead/fields/title/label/en", json!("Subject"))],
            ..Default::default()
        },
        Case {
            name: "the same change on both sides is no conflict",
            tenant: vec![(
                patch.clone(),
                "entities/lead/fields/title",
                json!({"label": l("Subject")}),
            )],
            package: vec![Set("/app/entities/1/fields/0/label/en", json!("Subject"))],
            then: vec![("entities/lead/fields/title/label/en", json!("Subject"))],
            ..Default::default()
        },
        Case {
            name: "options added on both sides are all kept",
            tenant: vec![(
                patch.clone(),
                "entities/lead/fields/source",
                json!({"options": [{"value": "web", "label": l("Web")}, {"value": "ads", "label": l("Ads")},
                                   {"value": "referral", "label": l("Referral")}]}),
            )],
            package: vec![Push(
                "/app/entities/1/fields/2/options",
                json!({"value": "fair", "label": l("Fair")}),
            )],
            then: vec![
                ("entities/lead/fields/source/options/fair/label/en", json!("Fair")),
                (
                    "entities/lead/fields/source/options/referral/label/en",
                    json!("Referral"),
                ),
            ],
            ..Default::default()
        },
        Case {
            name: "an option the package relabels beside one the tenant added",
            tenant: vec![(
                patch.clone(),
                "entities/lead/fields/source",
                json!({"options": [{"value": "web", "label": l("Web")}, {"value": "ads", "label": l("Ads")},
                                   {"value": "phone", "label": l("Phone in")}]}),
            )],
            package: vec![Set("/app/entities/1/fields/2/options/1/label/en", json!("Advertising"))],
            then: vec![
                ("entities/lead/fields/source/options/ads/label/en", json!("Advertising")),
                ("entities/lead/fields/source/options/phone/label/en", json!("Phone in")),
            ],
            ..Default::default()
        },
        Case {
            name: "a field the package renames keeps its values, its hiding and its places",
            records: vec![("lead", json!({"title": "ACME", "phone": "138"}))],
            package: vec![
                Set("/app/entities/1/fields/1/key", json!("phone")),
                Set("/app/entities/1/fields/1/name", json!("mobile")),
                Set("/app/roles/0/permissions/lead/fields", json!({"mobile": "hidden"})),
                Set("/app/forms/0/sections/0/fields/1/field", json!("mobile")),
            ],
            changes: vec![("field", "renamed", "mobile")],
            then: vec![
                ("entities/lead/fields/mobile/key", json!("phone")),
                ("entities/lead/fields/phone", Value::Null),
                ("roles/rep/permissions/lead/fields/mobile", json!("hidden")),
            ],
            reads: vec![("lead", "ACME", "mobile", json!("138"))],
            ..Default::default()
        },
        Case {
            name: "a package rename carries the tenant's own view and role settings along",
            tenant: vec![
                (
                    post.clone(),
                    "views",
                    json!({"name": "phones", "label": l("Phones"), "entity": "lead", "type": "grid",
                           "columns": [{"field": "title"}, {"field": "phone"}]}),
                ),
                (
                    put.clone(),
                    "roles/manager",
                    json!({"label": l("Manager"), "permissions": {"lead": {"read": true, "fields": {"phone": "read_only"}}, "customer": {"read": true}}}),
                ),
            ],
            package: vec![
                Set("/app/entities/1/fields/1/key", json!("phone")),
                Set("/app/entities/1/fields/1/name", json!("mobile")),
                Set("/app/roles/0/permissions/lead/fields", json!({"mobile": "hidden"})),
                Set("/app/forms/0/sections/0/fields/1/field", json!("mobile")),
            ],
            then: vec![
                ("views/phones/columns/1/field", json!("mobile")),
                ("roles/manager/permissions/lead/fields/mobile", json!("read_only")),
                ("roles/manager/permissions/lead/fields/phone", Value::Null),
            ],
            ..Default::default()
        },
        Case {
            name: "a field the tenant renamed keeps the tenant's name and takes the package's label",
            tenant: vec![(patch.clone(), "entities/lead/fields/phone", json!({"name": "tel"}))],
            package: vec![Set("/app/entities/1/fields/1/label/en", json!("Telephone"))],
            then: vec![
                ("entities/lead/fields/tel/label/en", json!("Telephone")),
                ("entities/lead/fields/phone", Value::Null),
            ],
            ..Default::default()
        },
        Case {
            name: "a field both renamed differently keeps the tenant's name",
            tenant: vec![(patch.clone(), "entities/lead/fields/phone", json!({"name": "tel"}))],
            package: vec![
                Set("/app/entities/1/fields/1/key", json!("phone")),
                Set("/app/entities/1/fields/1/name", json!("mobile")),
                Set("/app/roles/0/permissions/lead/fields", json!({"mobile": "hidden"})),
                Set("/app/forms/0/sections/0/fields/1/field", json!("mobile")),
            ],
            // The package's form names its new name, the tenant's form the tenant's.
            conflicts: vec!["entities[lead].fields[tel].name", "forms[lead_form].sections"],
            then: vec![
                ("entities/lead/fields/tel/key", json!("phone")),
                ("entities/lead/fields/mobile", Value::Null),
                ("roles/rep/permissions/lead/fields/tel", json!("hidden")),
            ],
            ..Default::default()
        },
        Case {
            name: "a field the package adds goes after its predecessor",
            package: vec![Insert(
                "/app/entities/1/fields",
                1,
                json!({"name": "email", "label": l("E-mail"), "type": "email"}),
            )],
            changes: vec![("field", "added", "email")],
            then: vec![("entities/lead/fields/1/name", json!("email"))],
            ..Default::default()
        },
        Case {
            name: "a field the tenant adds stays",
            tenant: vec![(
                post.clone(),
                "entities/lead/fields",
                json!({"name": "wechat", "label": l("WeChat"), "type": "text"}),
            )],
            package: vec![Set("/app/label/en", json!("Sales 2"))],
            then: vec![
                ("entities/lead/fields/wechat/type", json!("text")),
                ("label/en", json!("Sales 2")),
            ],
            ..Default::default()
        },
        Case {
            name: "a field both added under one name becomes the package's",
            tenant: vec![(
                post.clone(),
                "entities/lead/fields",
                json!({"name": "email", "label": l("Mail"), "type": "email"}),
            )],
            package: vec![Push(
                "/app/entities/1/fields",
                json!({"name": "email", "label": l("E-mail"), "type": "email"}),
            )],
            conflicts: vec!["entities[lead].fields[email].label.en"],
            then: vec![
                ("entities/lead/fields/email/key", json!("email")),
                ("entities/lead/fields/email/label/en", json!("Mail")),
            ],
            ..Default::default()
        },
        Case {
            name: "a field the package drops is kept with its values",
            records: vec![("lead", json!({"title": "ACME", "legacy": "old"}))],
            package: vec![Remove("/app/entities/1/fields/4")],
            changes: vec![("field", "kept", "legacy")],
            then: vec![("entities/lead/fields/legacy/type", json!("text"))],
            reads: vec![("lead", "ACME", "legacy", json!("old"))],
            ..Default::default()
        },
        Case {
            name: "a field the package drops goes with allow_data_loss",
            records: vec![("lead", json!({"title": "ACME", "legacy": "old"}))],
            package: vec![Remove("/app/entities/1/fields/4")],
            query: "allow_data_loss=true",
            changes: vec![("field", "removed", "legacy")],
            then: vec![("entities/lead/fields/legacy", Value::Null)],
            ..Default::default()
        },
        Case {
            name: "a field the package drops but the tenant changed stays as a conflict",
            tenant: vec![(
                patch.clone(),
                "entities/lead/fields/legacy",
                json!({"label": l("Old notes")}),
            )],
            package: vec![Remove("/app/entities/1/fields/4")],
            query: "allow_data_loss=true",
            conflicts: vec!["entities[lead].fields[legacy]"],
            then: vec![("entities/lead/fields/legacy/label/en", json!("Old notes"))],
            ..Default::default()
        },
        Case {
            name: "a field the package drops but a tenant view uses cannot go",
            tenant: vec![(
                post.clone(),
                "views",
                json!({"name": "old", "label": l("Old"), "entity": "lead", "type": "grid", "columns": [{"field": "legacy"}]}),
            )],
            package: vec![Remove("/app/entities/1/fields/4")],
            query: "allow_data_loss=true",
            status: 422,
            ..Default::default()
        },
        Case {
            name: "a field the tenant deleted stays deleted",
            tenant: vec![(delete.clone(), "entities/lead/fields/legacy", Value::Null)],
            package: vec![Set("/app/label/en", json!("Sales 2"))],
            then: vec![("entities/lead/fields/legacy", Value::Null)],
            ..Default::default()
        },
        Case {
            name: "a field the tenant deleted and the package changed stays deleted as a conflict",
            tenant: vec![(delete.clone(), "entities/lead/fields/legacy", Value::Null)],
            package: vec![Set("/app/entities/1/fields/4/label/en", json!("Archive"))],
            conflicts: vec!["entities[lead].fields[legacy]"],
            then: vec![("entities/lead/fields/legacy", Value::Null)],
            ..Default::default()
        },
        Case {
            name: "an entity the package adds gets its table",
            package: vec![Push(
                "/app/entities",
                json!({"name": "contract", "label": l("Contract"), "fields": [
                    {"name": "no", "label": l("No."), "type": "text"},
                    {"name": "customer", "label": l("Customer"), "type": "relation", "target": "customer"}]}),
            )],
            changes: vec![("entity", "added", "contract")],
            then: vec![("entities/contract/fields/no/type", json!("text"))],
            ..Default::default()
        },
        Case {
            name: "an entity the package drops is kept with its records",
            records: vec![("customer", json!({"name": "ACME"}))],
            package: vec![
                Remove("/app/entities/1/fields/5"),
                Remove("/app/entities/0"),
                Remove("/app/roles/1/permissions/customer"),
            ],
            changes: vec![("entity", "kept", "customer"), ("field", "kept", "customer")],
            then: vec![("entities/customer/fields/name/type", json!("text"))],
            ..Default::default()
        },
        Case {
            name: "an entity the package renames keeps its records and its relations",
            records: vec![("customer", json!({"name": "ACME"}))],
            package: vec![
                Set("/app/entities/0/key", json!("customer")),
                Set("/app/entities/0/name", json!("account")),
                Set("/app/entities/1/fields/5/target", json!("account")),
                Set(
                    "/app/roles/1/permissions",
                    json!({"lead": {"read": true}, "account": {"read": true}}),
                ),
            ],
            changes: vec![("entity", "renamed", "account")],
            then: vec![
                ("entities/lead/fields/customer/target", json!("account")),
                ("roles/manager/permissions/account/read", json!(true)),
            ],
            reads: vec![("account", "ACME", "name", json!("ACME"))],
            ..Default::default()
        },
        Case {
            name: "a stage the package inserts joins the pipeline",
            package: vec![
                Insert(
                    "/app/entities/1/pipeline/stages",
                    2,
                    json!({"key": "proposal", "label": l("Proposal"), "probability": 60}),
                ),
                Set(
                    "/app/entities/1/pipeline/transitions",
                    json!([{"from": ["new"], "to": "qualified"}, {"from": ["qualified"], "to": "proposal"},
                           {"from": ["proposal"], "to": "won"}, {"from": ["*"], "to": "lost"}]),
                ),
            ],
            then: vec![
                ("entities/lead/pipeline/stages/2/key", json!("proposal")),
                ("entities/lead/pipeline/stages/qualified/probability", json!(40.0)),
            ],
            ..Default::default()
        },
        Case {
            name: "stages inserted by both are both kept",
            tenant: vec![(
                put.clone(),
                "entities/lead/pipeline",
                json!({"stages": [
                    {"key": "new", "label": l("New"), "probability": 10},
                    {"key": "contacted", "label": l("Contacted"), "probability": 20},
                    {"key": "qualified", "label": l("Qualified"), "probability": 40},
                    {"key": "won", "label": l("Won"), "kind": "won", "probability": 100},
                    {"key": "lost", "label": l("Lost"), "kind": "lost", "probability": 0}],
                  "transitions": [{"from": ["new"], "to": "contacted"}, {"from": ["contacted"], "to": "qualified"},
                                  {"from": ["qualified"], "to": "won"}, {"from": ["*"], "to": "lost"}]}),
            )],
            package: vec![
                Insert(
                    "/app/entities/1/pipeline/stages",
                    2,
                    json!({"key": "proposal", "label": l("Proposal"), "probability": 60}),
                ),
                Push(
                    "/app/entities/1/pipeline/transitions",
                    json!({"from": ["qualified"], "to": "proposal"}),
                ),
                Push(
                    "/app/entities/1/pipeline/transitions",
                    json!({"from": ["proposal"], "to": "won"}),
                ),
            ],
            then: vec![
                ("entities/lead/pipeline/stages/contacted/probability", json!(20.0)),
                ("entities/lead/pipeline/stages/proposal/probability", json!(60.0)),
                ("entities/lead/pipeline/stages/3/key", json!("proposal")),
            ],
            ..Default::default()
        },
        Case {
            name: "a stage both inserted with one key is one stage",
            tenant: vec![(
                put.clone(),
                "entities/lead/pipeline",
                json!({"stages": [
                    {"key": "new", "label": l("New"), "probability": 10},
                    {"key": "qualified", "label": l("Qualified"), "probability": 40},
                    {"key": "proposal", "label": l("Offer"), "probability": 60},
                    {"key": "won", "label": l("Won"), "kind": "won", "probability": 100},
                    {"key": "lost", "label": l("Lost"), "kind": "lost", "probability": 0}],
                  "transitions": [{"from": ["new"], "to": "qualified"}, {"from": ["qualified"], "to": "proposal"},
                                  {"from": ["proposal"], "to": "won"}, {"from": ["*"], "to": "lost"}]}),
            )],
            package: vec![
                Insert(
                    "/app/entities/1/pipeline/stages",
                    2,
                    json!({"key": "proposal", "label": l("Proposal"), "probability": 60}),
                ),
                Set(
                    "/app/entities/1/pipeline/transitions",
                    json!([{"from": ["new"], "to": "qualified"}, {"from": ["qualified"], "to": "proposal"},
                           {"from": ["proposal"], "to": "won"}, {"from": ["*"], "to": "lost"}]),
                ),
            ],
            conflicts: vec!["entities[lead].pipeline.stages[proposal].label.en"],
            then: vec![("entities/lead/pipeline/stages/proposal/label/en", json!("Offer"))],
            ..Default::default()
        },
        Case {
            name: "a stage probability the package recalibrates",
            package: vec![Set("/app/entities/1/pipeline/stages/1/probability", json!(35))],
            then: vec![("entities/lead/pipeline/stages/qualified/probability", json!(35.0))],
            ..Default::default()
        },
        Case {
            name: "a role scope the tenant narrowed stays narrow while the package grants more",
            tenant: vec![(
                put.clone(),
                "roles/manager",
                json!({"label": l("Manager"), "permissions": {"lead": {"read": true, "scope": "team"}, "customer": {"read": true}}}),
            )],
            package: vec![Set("/app/roles/1/permissions/customer/update", json!(true))],
            then: vec![
                ("roles/manager/permissions/lead/scope", json!("team")),
                ("roles/manager/permissions/customer/update", json!(true)),
            ],
            ..Default::default()
        },
        Case {
            name: "a role scope both changed keeps the tenant's",
            tenant: vec![(
                put.clone(),
                "roles/rep",
                json!({"label": l("Rep"), "permissions": {"lead": {"create": true, "read": true, "update": true, "scope": "team", "fields": {"phone": "hidden"}}}}),
            )],
            package: vec![Set("/app/roles/0/permissions/lead/scope", json!("all"))],
            conflicts: vec!["roles[rep].permissions.lead.scope"],
            then: vec![("roles/rep/permissions/lead/scope", json!("team"))],
            ..Default::default()
        },
        Case {
            name: "a role the tenant adds stays and a role the package adds arrives",
            tenant: vec![(post.clone(), "roles", json!({"name": "intern", "label": l("Intern")}))],
            package: vec![Push("/app/roles", json!({"name": "finance", "label": l("Finance")}))],
            changes: vec![("role", "added", "finance")],
            then: vec![
                ("roles/intern/label/en", json!("Intern")),
                ("roles/finance/label/en", json!("Finance")),
            ],
            ..Default::default()
        },
        Case {
            name: "a rule the tenant disabled stays disabled while the package changes its message",
            tenant: vec![(
                put.clone(),
                "rules/welcome",
                json!({"name": "welcome", "enabled": false, "trigger": {"type": "record_created", "entity": "lead"},
                       "actions": [{"type": "notify", "to": {"owner": true}, "title": l("New lead")}]}),
            )],
            package: vec![Set("/app/rules/0/actions/0/title/en", json!("A new lead arrived"))],
            then: vec![
                ("rules/welcome/enabled", json!(false)),
                ("rules/welcome/actions/0/title/en", json!("A new lead arrived")),
            ],
            ..Default::default()
        },
        Case {
            name: "a view the tenant relabelled while the package adds a column",
            tenant: vec![(
                put.clone(),
                "views/all_leads",
                json!({"label": l("Every lead"), "entity": "lead", "type": "grid", "columns": [{"field": "title"}, {"field": "source"}]}),
            )],
            package: vec![Push("/app/views/0/columns", json!({"field": "amount"}))],
            then: vec![
                ("views/all_leads/label/en", json!("Every lead")),
                ("views/all_leads/columns/2/field", json!("amount")),
            ],
            ..Default::default()
        },
        Case {
            name: "a view the tenant deleted stays deleted",
            tenant: vec![(delete.clone(), "views/board", Value::Null)],
            package: vec![Set("/app/label/en", json!("Sales 2"))],
            then: vec![("views/board", Value::Null)],
            ..Default::default()
        },
        Case {
            name: "the app's label and description change on different sides",
            tenant: vec![(patch.clone(), "", json!({"label": l("Our sales")}))],
            package: vec![Set("/app/description", l("Leads and customers"))],
            then: vec![
                ("label/en", json!("Our sales")),
                ("description/en", json!("Leads and customers")),
            ],
            ..Default::default()
        },
        Case {
            name: "a type change that would lose values is refused without allow_data_loss",
            records: vec![("lead", json!({"title": "ACME", "phone": "call me"}))],
            package: vec![Set("/app/entities/1/fields/1/type", json!("integer"))],
            status: 409,
            ..Default::default()
        },
    ]
}

fn listed(out: &Value, kind: &str, change: &str, name: &str) -> bool {
    out["changes"].as_array().is_some_and(|a| {
        a.iter()
            .any(|c| c["kind"] == kind && c["change"] == change && c["name"] == name)
    })
}

async fn run_case(app: &TestApp, i: usize, c: &Case) {
    let name = format!("c{i}");
    let at = c.name;
    app.post(&format!("/api/v1/apps/import?app={name}"), v1())
        .await
        .expect(201);
    for (method, path, body) in &c.tenant {
        let url = if path.is_empty() {
            format!("/api/v1/apps/{name}")
        } else {
            format!("/api/v1/apps/{name}/{path}")
        };
        let body = (!body.is_null()).then(|| body.clone());
        let token = app.token.clone();
        let r = app.call_as(Some(&token), method.clone(), &url, body).await;
        assert!(r.status.is_success(), "{at}: {method} {url}: {}", r.text);
    }
    for (entity, body) in &c.records {
        app.create(&name, entity, body.clone()).await;
    }
    let before = app.get(&format!("/api/v1/apps/{name}")).await.expect(200).body;
    let q = if c.query.is_empty() {
        String::new()
    } else {
        format!("&{}", c.query)
    };
    // The plan and the upgrade answer alike; only the upgrade stores.
    let plan = app
        .post(
            &format!("/api/v1/apps/import?app={name}&dry_run=true{q}"),
            v2(&c.package),
        )
        .await;
    assert_eq!(plan.status, c.status, "{at}: plan {}", plan.text);
    assert_eq!(
        app.get(&format!("/api/v1/apps/{name}")).await.expect(200).body["version"],
        before["version"],
        "{at}: a plan stores nothing"
    );
    let out = app
        .post(&format!("/api/v1/apps/import?app={name}{q}"), v2(&c.package))
        .await;
    assert_eq!(out.status, c.status, "{at}: {}", out.text);
    let after = app.get(&format!("/api/v1/apps/{name}")).await.expect(200).body;
    if c.status != 200 {
        assert_eq!(after, before, "{at}: a refused upgrade changes nothing");
        return;
    }
    assert_eq!(
        plan.body["changes"], out.body["changes"],
        "{at}: the plan is what was done"
    );
    let conflicts: Vec<&str> = out.body["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(conflicts, c.conflicts, "{at}: {}", out.text);
    for (kind, change, n) in &c.changes {
        assert!(
            listed(&out.body, kind, change, n),
            "{at}: {kind} {change} {n} in {}",
            out.text
        );
    }
    for (path, want) in &c.then {
        let got = find(&after, path);
        if want.is_null() {
            assert!(got.is_none(), "{at}: {path} should be gone, is {got:?}");
        } else {
            assert_eq!(got, Some(want), "{at}: {path} in {after}");
        }
    }
    for (entity, title, field, want) in &c.reads {
        let list = app.get(&format!("/api/v1/data/{name}/{entity}")).await.expect(200).body;
        let title_field = if *entity == "lead" { "title" } else { "name" };
        let row = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r[title_field] == *title)
            .unwrap_or_else(|| panic!("{at}: {entity} '{title}' in {list}"));
        assert_eq!(&row[*field], want, "{at}: {entity}.{field}");
    }
    // Installing 2.0.0 again changes nothing.
    let again = app
        .post(&format!("/api/v1/apps/import?app={name}{q}"), v2(&c.package))
        .await
        .expect(200);
    assert_eq!(again.body["applied"], json!(false), "{at}: again {}", again.text);
}

async fn upgrades_merge_case_by_case(backend: Backend) {
    let app = spawn(backend).await;
    let cases = cases();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    for (i, c) in cases.iter().enumerate() {
        run_case(&app, i, c).await;
    }
}

on_both!(upgrades_merge_case_by_case);
