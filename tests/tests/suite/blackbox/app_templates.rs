//! The shipped templates (`examples/sales-management`, `examples/store-sales`) as an ops team
//! meets them: planned, installed, installed again without change, every view listed and every
//! dashboard computed without an error, exported, installed into an empty tenant and exported
//! again to the same bytes. On SQLite and PostgreSQL.

use reqwest::Method;
use trellis_tests::serde_json::{self, Value, json};
use trellis_tests::{Backend, TestApp, on_both, spawn, spawn_with};

fn template(dir: &str) -> Value {
    let path = format!("{}/../examples/{dir}/package.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every label of the package (any `label`, `message` or `title` object with a language) has
/// both Chinese and English.
fn labels_in_both_languages(v: &Value, at: &str, missing: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                let here = format!("{at}.{k}");
                if let Value::Object(l) = x
                    && (l.contains_key("zh") || l.contains_key("en"))
                    && l.keys().all(|k| k == "zh" || k == "en")
                    && !(l.get("zh").is_some_and(|s| s.as_str().is_some_and(|s| !s.is_empty()))
                        && l.get("en").is_some_and(|s| s.as_str().is_some_and(|s| !s.is_empty())))
                {
                    missing.push(here.clone());
                }
                labels_in_both_languages(x, &here, missing);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                labels_in_both_languages(x, &format!("{at}[{i}]"), missing);
            }
        }
        _ => {}
    }
}

/// The list a view shows: its filter and sort over the entity's records.
fn view_query(view: &Value) -> String {
    let mut q = vec!["limit=50".to_string()];
    if let Some(f) = view.get("filter") {
        q.push(format!("filter={}", urlencode(&f.to_string())));
    }
    if let Some(sort) = view.get("sort").and_then(Value::as_array) {
        let keys: Vec<String> = sort
            .iter()
            .map(|s| {
                let desc = s["desc"].as_bool().unwrap_or(false);
                format!("{}{}", if desc { "-" } else { "" }, s["field"].as_str().unwrap())
            })
            .collect();
        q.push(format!("sort={}", keys.join(",")));
    }
    q.join("&")
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn check_template(app: &TestApp, dir: &str, name: &str) {
    let package = template(dir);
    let mut missing = Vec::new();
    labels_in_both_languages(&package, "", &mut missing);
    assert!(missing.is_empty(), "{dir}: labels without zh or en: {missing:?}");
    assert_eq!(package["app"]["name"], name);

    let plan = app
        .post("/api/v1/apps/import?dry_run=true", package.clone())
        .await
        .expect(200);
    assert_eq!(plan.body["applied"], json!(false));
    let out = app.post("/api/v1/apps/import", package.clone()).await.expect(201);
    assert_eq!(
        out.body["changes"], plan.body["changes"],
        "{dir}: the plan is what was done"
    );
    let again = app.post("/api/v1/apps/import", package.clone()).await.expect(200);
    assert_eq!(again.body["applied"], json!(false), "{dir}: {}", again.text);

    // Every view lists, every dashboard computes each widget.
    let def = app.get(&format!("/api/v1/apps/{name}")).await.expect(200).body;
    let views = def["views"].as_array().cloned().unwrap_or_default();
    assert!(!views.is_empty(), "{dir} has views");
    for v in &views {
        let path = format!(
            "/api/v1/data/{name}/{}?{}",
            v["entity"].as_str().unwrap(),
            view_query(v)
        );
        let r = app.get(&path).await;
        assert_eq!(r.status, 200, "{dir}: view {}: {}", v["name"], r.text);
    }
    let dashboards = def["dashboards"].as_array().cloned().unwrap_or_default();
    assert!(!dashboards.is_empty(), "{dir} has dashboards");
    for d in &dashboards {
        let path = format!("/api/v1/apps/{name}/dashboards/{}/data", d["name"].as_str().unwrap());
        let data = app.post(&path, json!({})).await.expect(200).body;
        let widgets = data["widgets"].as_array().unwrap_or_else(|| panic!("{data}"));
        assert_eq!(widgets.len(), d["widgets"].as_array().unwrap().len());
        for w in widgets {
            assert!(
                w["error"].is_null(),
                "{dir}: dashboard {} widget {}: {}",
                d["name"],
                w["name"],
                w["error"]
            );
        }
    }

    // Out, into an empty tenant, and out again: the same bytes.
    let first = app.get(&format!("/api/v1/apps/{name}/package")).await.expect(200).text;
    let tenant = format!("t_{name}");
    let other = app.new_tenant(&tenant, &format!("ops@{tenant}.example")).await;
    app.call_as(
        Some(&other),
        Method::POST,
        "/api/v1/apps/import",
        Some(serde_json::from_str(&first).unwrap()),
    )
    .await
    .expect(201);
    let second = app
        .call_as(Some(&other), Method::GET, &format!("/api/v1/apps/{name}/package"), None)
        .await
        .expect(200)
        .text;
    assert_eq!(first, second, "{dir}: export → install → export");
}

async fn the_sales_template_installs_and_every_view_and_dashboard_runs(backend: Backend) {
    let app = spawn(backend).await;
    check_template(&app, "sales-management", "sales").await;
}

async fn the_store_template_installs_and_every_view_and_dashboard_runs(backend: Backend) {
    let app = spawn(backend).await;
    check_template(&app, "store-sales", "store").await;
}

/// The gallery's routes: the templates listed with where each is installed, a plan, an install
/// under a name of the caller's; members (whatever their role hides) are refused.
async fn the_gallery_lists_plans_and_installs_templates_for_administrators(backend: Backend) {
    let app = spawn(backend).await;
    let list = app.get("/api/v1/templates").await.expect(200).body;
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["package"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sales_management", "store_sales"]);
    let sales = &list["data"][0];
    assert_eq!(
        (sales["app"].as_str(), sales["entities"].as_u64()),
        (Some("sales"), Some(11))
    );
    assert_eq!(sales["installed"], json!([]));
    assert_eq!(sales["label"]["zh"], "销售管理");

    let plan = app
        .post(
            "/api/v1/templates/sales_management/install?app=crm&dry_run=true",
            json!({}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        (plan["app"].as_str(), plan["applied"].as_bool()),
        (Some("crm"), Some(false))
    );
    app.get("/api/v1/apps/crm").await.expect_problem(404, "not_found");
    app.post("/api/v1/templates/sales_management/install?app=crm", json!({}))
        .await
        .expect(201);
    let list = app.get("/api/v1/templates").await.expect(200).body;
    assert_eq!(
        list["data"][0]["installed"],
        json!([{"app": "crm", "version": "1.0.0"}])
    );
    app.post("/api/v1/templates/nothing_here/install", json!({}))
        .await
        .expect_problem(404, "not_found");

    // A rep of the installed app, with fields hidden from them, may neither list nor install.
    let (_, rep) = app.user("crm", "rita", Some("sales_rep")).await;
    app.call_as(Some(&rep), Method::GET, "/api/v1/templates", None)
        .await
        .expect_problem(403, "permission_denied");
    app.call_as(
        Some(&rep),
        Method::POST,
        "/api/v1/templates/store_sales/install?app=mine",
        Some(json!({})),
    )
    .await
    .expect_problem(403, "permission_denied");
    app.get("/api/v1/apps/mine").await.expect_problem(404, "not_found");
}

/// `serve --demo` (what `just run` sets) installs every template on a fresh database, with the
/// calendar the sales template brings; without it a node starts empty.
async fn a_demo_node_starts_with_both_templates(backend: Backend) {
    let app = spawn_with(backend, |s| s.demo = true).await;
    let apps = app.get("/api/v1/apps").await.expect(200).body;
    let names: Vec<&str> = apps["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sales", "store"]);
    app.get("/api/v1/calendars/business_hours").await.expect(200);
    let plain = spawn(backend).await;
    assert_eq!(plain.get("/api/v1/apps").await.expect(200).body["data"], json!([]));
}

on_both!(
    the_gallery_lists_plans_and_installs_templates_for_administrators,
    a_demo_node_starts_with_both_templates,
    the_sales_template_installs_and_every_view_and_dashboard_runs,
    the_store_template_installs_and_every_view_and_dashboard_runs,
);
