//! App packages: plan, install, reinstall, install under a second name, export → import → export,
//! and upgrades that merge the tenant's changes with the package's. Each test runs on SQLite and
//! PostgreSQL.

use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, TestApp, on_both, spawn};

fn label(zh: &str, en: &str) -> Value {
    json!({"zh": zh, "en": en})
}

/// Version 1.0.0 of a small CRM package: leads with a title, a phone, a source and a legacy
/// note; a rep role that reads leads without the phone; a grid view.
fn v1() -> Value {
    json!({
        "package": "crm",
        "version": "1.0.0",
        "label": label("客户管理", "CRM"),
        "app": {
            "name": "crm",
            "label": label("客户", "CRM"),
            "entities": [{
                "name": "lead",
                "label": label("线索", "Lead"),
                "title_field": "title",
                "fields": [
                    {"name": "title", "label": label("标题", "Title"), "type": "text", "required": true},
                    {"name": "phone", "label": label("电话", "Phone"), "type": "text"},
                    {"name": "source", "label": label("来源", "Source"), "type": "single_select",
                     "options": [{"value": "web", "label": label("网站", "Web")}]},
                    {"name": "legacy", "label": label("旧备注", "Legacy note"), "type": "text"}
                ]
            }],
            "roles": [{"name": "rep", "label": label("销售", "Rep"),
                       "permissions": {"lead": {"create": true, "read": true, "update": true,
                                                "fields": {"phone": "hidden"}}}}],
            "views": [{"name": "all_leads", "label": label("全部线索", "All leads"), "entity": "lead", "type": "grid"}]
        }
    })
}

/// Version 2.0.0: `phone` renamed `mobile` (same key), a `fair` source, a new `industry` field,
/// the title labelled "Subject" in English, the legacy note dropped.
fn v2() -> Value {
    let mut p = v1();
    p["version"] = json!("2.0.0");
    let fields = p["app"]["entities"][0]["fields"].as_array_mut().unwrap();
    fields[0]["label"]["en"] = json!("Subject");
    fields[1] = json!({"key": "phone", "name": "mobile", "label": label("手机", "Mobile"), "type": "text"});
    fields[2]["options"]
        .as_array_mut()
        .unwrap()
        .push(json!({"value": "fair", "label": label("展会", "Fair")}));
    fields.remove(3);
    fields.push(json!({"name": "industry", "label": label("行业", "Industry"), "type": "text"}));
    // The rep's hidden field follows the rename.
    p["app"]["roles"][0]["permissions"]["lead"]["fields"] = json!({"mobile": "hidden"});
    p
}

fn change<'a>(out: &'a Value, kind: &str, name: &str) -> Option<&'a Value> {
    out["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == kind && c["name"] == name)
}

async fn export(app: &TestApp, name: &str) -> String {
    let r = app.get(&format!("/api/v1/apps/{name}/package")).await.expect(200);
    r.text
}

async fn a_package_is_planned_installed_and_installed_again_without_change(backend: Backend) {
    let app = spawn(backend).await;
    // The plan stores nothing.
    let plan = app
        .post("/api/v1/apps/import?dry_run=true", v1())
        .await
        .expect(200)
        .body;
    assert_eq!(plan["applied"], json!(false));
    assert_eq!(plan["app_version"], json!(0));
    assert_eq!(change(&plan, "entity", "lead").unwrap()["change"], "added");
    assert_eq!(change(&plan, "role", "rep").unwrap()["change"], "added");
    assert_eq!(plan["plan"][0]["op"], "create_entity");
    app.get("/api/v1/apps/crm").await.expect_problem(404, "not_found");

    let out = app.post("/api/v1/apps/import", v1()).await.expect(201).body;
    assert_eq!(out["applied"], json!(true));
    assert_eq!(out["app_version"], json!(1));
    let installed = app.get("/api/v1/apps/crm").await.expect(200).body;
    assert_eq!(
        installed["entities"][0]["key"], "lead",
        "elements keep their package keys"
    );
    assert_eq!(installed["entities"][0]["fields"][1]["key"], "phone");
    app.create("crm", "lead", json!({"title": "ACME", "phone": "138"}))
        .await;

    // The same version again: nothing to do, nothing written.
    let again = app.post("/api/v1/apps/import", v1()).await.expect(200).body;
    assert_eq!(again["applied"], json!(false), "{again}");
    assert_eq!(again["from_version"], "1.0.0");
    assert_eq!(again["changes"], json!([]));
    assert_eq!(again["plan"], json!([]));
    assert_eq!(app.get("/api/v1/apps/crm").await.expect(200).body["version"], json!(1));

    // The same package under a second name: its own tables and records.
    let second = app
        .post("/api/v1/apps/import?app=crm_east", v1())
        .await
        .expect(201)
        .body;
    assert_eq!(second["app"], "crm_east");
    app.create("crm", "lead", json!({"title": "Second"})).await;
    let east = app.get("/api/v1/data/crm_east/lead").await.expect(200).body;
    assert_eq!(east["data"], json!([]));
    let west = app.get("/api/v1/data/crm/lead").await.expect(200).body;
    assert_eq!(west["data"].as_array().unwrap().len(), 2);
}

async fn export_install_export_gives_the_same_bytes(backend: Backend) {
    let app = spawn(backend).await;
    app.post("/api/v1/apps/import", v1()).await.expect(201);
    // A field the tenant adds is exported too, keyed by its name.
    app.post(
        "/api/v1/apps/crm/entities/lead/fields",
        json!({"name": "wechat", "label": label("微信", "WeChat"), "type": "text"}),
    )
    .await
    .expect(201);
    let first = export(&app, "crm").await;
    let v: Value = trellis_tests::serde_json::from_str(&first).unwrap();
    assert_eq!(v["package"], "crm");
    assert_eq!(v["version"], "1.0.0");
    assert_eq!(v["label"]["en"], "CRM");
    let fields = v["app"]["entities"][0]["fields"].as_array().unwrap();
    assert_eq!(fields.last().unwrap()["key"], "wechat");
    assert!(!first.contains("\"id\""), "no storage ids: {first}");
    // Keys sorted at every level: `app` before `label` before `package` before `version`.
    let at = |k: &str| first.find(&format!("\n  \"{k}\"")).unwrap();
    assert!(at("app") < at("label") && at("label") < at("package") && at("package") < at("version"));

    // Into an empty tenant, then out again.
    let other = app.new_tenant("other", "boss@other.example").await;
    let r = app
        .call_as(
            Some(&other),
            reqwest::Method::POST,
            "/api/v1/apps/import",
            Some(trellis_tests::serde_json::from_str(&first).unwrap()),
        )
        .await
        .expect(201);
    assert_eq!(r.body["app"], "crm");
    let second = app
        .call_as(Some(&other), reqwest::Method::GET, "/api/v1/apps/crm/package", None)
        .await
        .expect(200)
        .text;
    assert_eq!(first, second);
    // Named and versioned on the way out.
    let named = app
        .get("/api/v1/apps/crm/package?package=crm_plus&version=1.2.0")
        .await
        .expect(200)
        .body;
    assert_eq!(
        (named["package"].as_str(), named["version"].as_str()),
        (Some("crm_plus"), Some("1.2.0"))
    );
    app.get("/api/v1/apps/crm/package?version=one")
        .await
        .expect_problem(422, "validation_failed");
}

async fn an_upgrade_keeps_the_tenants_changes_and_takes_the_packages(backend: Backend) {
    let app = spawn(backend).await;
    app.post("/api/v1/apps/import", v1()).await.expect(201);
    let lead = app
        .create(
            "crm",
            "lead",
            json!({"title": "ACME", "phone": "13800000000", "source": "web", "legacy": "old"}),
        )
        .await;
    // The tenant's changes: a field of their own, a source of their own, their own English
    // title label, the view relabelled.
    app.post(
        "/api/v1/apps/crm/entities/lead/fields",
        json!({"name": "wechat", "label": label("微信", "WeChat"), "type": "text"}),
    )
    .await
    .expect(201);
    app.patch(
        "/api/v1/apps/crm/entities/lead/fields/source",
        json!({"options": [{"value": "web", "label": label("网站", "Web")},
                           {"value": "referral", "label": label("转介绍", "Referral")}]}),
    )
    .await
    .expect(200);
    app.patch(
        "/api/v1/apps/crm/entities/lead/fields/title",
        json!({"label": label("标题", "Headline")}),
    )
    .await
    .expect(200);
    let view = app.get("/api/v1/apps/crm/views/all_leads").await.expect(200).body;
    let mut view = view;
    view["label"] = label("所有线索", "Every lead");
    app.put("/api/v1/apps/crm/views/all_leads", view).await.expect(200);
    let version_before = app.get("/api/v1/apps/crm").await.expect(200).body["version"].clone();

    // The plan: the rename, the new field, the kept legacy note with its one value, the
    // conflict on the title's English label.
    let plan = app
        .post("/api/v1/apps/import?dry_run=true", v2())
        .await
        .expect(200)
        .body;
    assert_eq!(plan["from_version"], "1.0.0");
    assert_eq!(plan["applied"], json!(false));
    let renamed = change(&plan, "field", "mobile").expect("rename listed");
    assert_eq!(
        (renamed["change"].as_str(), renamed["from"].as_str()),
        (Some("renamed"), Some("phone"))
    );
    assert_eq!(change(&plan, "field", "industry").unwrap()["change"], "added");
    let kept = change(&plan, "field", "legacy").expect("legacy listed");
    assert_eq!(
        (kept["change"].as_str(), kept["rows"].as_i64()),
        (Some("kept"), Some(1))
    );
    let conflicts = plan["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{plan}");
    assert_eq!(conflicts[0]["path"], "entities[lead].fields[title].label.en");
    assert_eq!(
        (
            conflicts[0]["tenant"].as_str(),
            conflicts[0]["package"].as_str(),
            conflicts[0]["kept"].as_str()
        ),
        (Some("Headline"), Some("Subject"), Some("tenant"))
    );
    assert_eq!(
        app.get("/api/v1/apps/crm").await.expect(200).body["version"],
        version_before
    );

    let out = app.post("/api/v1/apps/import", v2()).await.expect(200).body;
    assert_eq!(out["applied"], json!(true), "{out}");
    let def = app.get("/api/v1/apps/crm").await.expect(200).body;
    let fields: Vec<&str> = def["entities"][0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    // A field the package adds goes after its predecessor in the package.
    assert_eq!(fields, ["title", "mobile", "source", "industry", "legacy", "wechat"]);
    let f = |n: &str| {
        def["entities"][0]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(f("title")["label"]["en"], "Headline", "the tenant's label stays");
    assert_eq!(f("mobile")["label"]["zh"], "手机", "the package's rename and label");
    let source = f("source");
    let sources: Vec<&str> = source["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["value"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["web", "fair", "referral"]);
    assert_eq!(
        app.get("/api/v1/apps/crm/views/all_leads").await.expect(200).body["label"]["en"],
        "Every lead"
    );
    // The record kept its values through the rename; the rep still does not see the phone.
    let path = format!("/api/v1/data/crm/lead/{}", lead["id"].as_str().unwrap());
    let read = app.get(&path).await.expect(200).body;
    assert_eq!(
        (read["mobile"].as_str(), read["legacy"].as_str()),
        (Some("13800000000"), Some("old"))
    );
    let (_, rep) = app.user("crm", "rita", Some("rep")).await;
    let as_rep = app
        .call_as(Some(&rep), reqwest::Method::GET, &path, None)
        .await
        .expect(200)
        .body;
    assert!(
        as_rep.get("mobile").is_none(),
        "hidden from the rep after the rename: {as_rep}"
    );
    assert_eq!(as_rep["title"], "ACME");

    // Installing 2.0.0 again changes nothing; 1.0.0 is refused as older.
    let again = app.post("/api/v1/apps/import", v2()).await.expect(200).body;
    assert_eq!(again["applied"], json!(false), "{again}");
    app.post("/api/v1/apps/import", v1())
        .await
        .expect_problem(409, "conflict");

    // 2.0.1 with data loss allowed drops the legacy note, counting its values.
    let mut v3 = v2();
    v3["version"] = json!("2.0.1");
    v3["app"]["entities"][0]["fields"][0]["label"]["en"] = json!("Topic");
    let plan = app
        .post("/api/v1/apps/import?dry_run=true&allow_data_loss=true", v3.clone())
        .await
        .expect(200)
        .body;
    let drop = plan["plan"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["op"] == "drop_field")
        .expect("a drop step")
        .clone();
    assert_eq!(
        (drop["field"].as_str(), drop["rows"].as_i64()),
        (Some("legacy"), Some(1))
    );
    assert_eq!(change(&plan, "field", "legacy").unwrap()["change"], "removed");
    // 2.0.1 relabels the title again: a conflict with the tenant's label, and the package's
    // label wins where asked.
    let out = app
        .post("/api/v1/apps/import?allow_data_loss=true&prefer=package", v3)
        .await
        .expect(200)
        .body;
    assert_eq!(out["conflicts"][0]["kept"], "package", "{out}");
    let def = app.get("/api/v1/apps/crm").await.expect(200).body;
    let title = &def["entities"][0]["fields"][0];
    assert_eq!(title["label"]["en"], "Topic");
    assert!(
        !def["entities"][0]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "legacy"),
        "{def}"
    );
}

async fn packages_that_cannot_install_are_refused_and_write_nothing(backend: Backend) {
    let app = spawn(backend).await;
    // Not a package.
    let mut bad = v1();
    bad["version"] = json!("1.0");
    let r = app
        .post("/api/v1/apps/import", bad)
        .await
        .expect_problem(422, "validation_failed");
    assert!(r.errors().iter().any(|(f, _)| f == "version"), "{}", r.text);
    let mut twice = v1();
    twice["app"]["entities"][0]["fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"key": "phone", "name": "phone2", "label": label("电话2", "Phone 2"), "type": "text"}));
    let r = app
        .post("/api/v1/apps/import", twice)
        .await
        .expect_problem(422, "validation_failed");
    assert!(r.text.contains("key 'phone' is used twice"), "{}", r.text);
    // An app made by hand is not upgraded by a package of its name.
    app.create_app(json!({"name": "crm", "label": label("客户", "CRM")}))
        .await;
    let r = app
        .post("/api/v1/apps/import", v1())
        .await
        .expect_problem(409, "conflict");
    assert!(r.text.contains("not installed from a package"), "{}", r.text);
    // Nor is an app installed from another package.
    app.post("/api/v1/apps/import?app=crm2", v1()).await.expect(201);
    let mut other = v1();
    other["package"] = json!("other_crm");
    let r = app
        .post("/api/v1/apps/import?app=crm2", other)
        .await
        .expect_problem(409, "conflict");
    assert!(r.text.contains("installed from package 'crm'"), "{}", r.text);
    assert_eq!(app.get("/api/v1/apps/crm2").await.expect(200).body["version"], json!(1));
}

async fn members_can_neither_install_nor_export_and_secrets_stay_masked(backend: Backend) {
    let app = spawn(backend).await;
    let mut p = v1();
    p["app"]["rules"] = json!([{
        "name": "push", "trigger": {"type": "record_created", "entity": "lead"},
        "actions": [{"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "erp-shared-secret-1"}]
    }]);
    app.post("/api/v1/apps/import", p).await.expect(201);
    // A rep who cannot read the phone reads neither the package nor installs one.
    let (_, rep) = app.user("crm", "rita", Some("rep")).await;
    let r = app
        .call_as(Some(&rep), reqwest::Method::GET, "/api/v1/apps/crm/package", None)
        .await
        .expect_problem(403, "permission_denied");
    assert!(!r.text.contains("phone"), "{}", r.text);
    app.call_as(
        Some(&rep),
        reqwest::Method::POST,
        "/api/v1/apps/import?app=mine",
        Some(v1()),
    )
    .await
    .expect_problem(403, "permission_denied");
    app.get("/api/v1/apps/mine").await.expect_problem(404, "not_found");
    // The administrator's export masks the signing secret.
    let text = export(&app, "crm").await;
    assert!(!text.contains("erp-shared-secret-1"), "{text}");
    assert!(text.contains("********"), "{text}");
}

on_both!(
    a_package_is_planned_installed_and_installed_again_without_change,
    export_install_export_gives_the_same_bytes,
    an_upgrade_keeps_the_tenants_changes_and_takes_the_packages,
    packages_that_cannot_install_are_refused_and_write_nothing,
    members_can_neither_install_nor_export_and_secrets_stay_masked,
);

/// A package brings the business calendars its SLAs count on: installing creates the ones the
/// tenant lacks and leaves the tenant's own; the export carries them.
async fn a_package_brings_its_calendars_and_keeps_the_tenants(backend: Backend) {
    let app = spawn(backend).await;
    let hours = |from: &str| json!({"mon": [[from, "18:00"]], "tue": [[from, "18:00"]]});
    let mut p = v1();
    p["calendars"] = json!({
        "office": {"timezone": "Asia/Shanghai", "hours": hours("09:00")},
        "support": {"timezone": "Asia/Shanghai", "hours": hours("08:00")}
    });
    p["app"]["entities"][0]["pipeline"] = json!({
        "stages": [
            {"key": "new", "label": label("新", "New"), "sla": {"hours": 2, "calendar": "office"}},
            {"key": "done", "label": label("完成", "Done"), "kind": "won", "sla": {"hours": 8, "calendar": "support"}}],
        "transitions": [{"from": ["new"], "to": "done"}]
    });
    // The tenant has its own `support` calendar already.
    let own = json!({"timezone": "Europe/Berlin", "hours": hours("10:00")});
    app.put("/api/v1/calendars/support", own.clone()).await.expect(201);

    let plan = app
        .post("/api/v1/apps/import?dry_run=true", p.clone())
        .await
        .expect(200)
        .body;
    assert!(
        change(&plan, "calendar", "office").is_some_and(|c| c["change"] == "added"),
        "{plan}"
    );
    assert!(
        change(&plan, "calendar", "support").is_none(),
        "the tenant's stays: {plan}"
    );
    app.get("/api/v1/calendars/office")
        .await
        .expect_problem(404, "not_found");

    app.post("/api/v1/apps/import", p.clone()).await.expect(201);
    let office = app.get("/api/v1/calendars/office").await.expect(200).body;
    assert_eq!(office["timezone"], "Asia/Shanghai");
    let support = app.get("/api/v1/calendars/support").await.expect(200).body;
    assert_eq!(support["timezone"], "Europe/Berlin", "{support}");
    let again = app.post("/api/v1/apps/import", p).await.expect(200).body;
    assert_eq!(again["applied"], json!(false), "{again}");

    // The export carries the calendars as the tenant has them.
    let v: Value = trellis_tests::serde_json::from_str(&export(&app, "crm").await).unwrap();
    assert_eq!(v["calendars"]["office"]["timezone"], "Asia/Shanghai");
    assert_eq!(v["calendars"]["support"]["timezone"], "Europe/Berlin");
    // A calendar that does not compile is named at its place.
    let mut bad = v1();
    bad["calendars"] = json!({"office": {"timezone": "Mars/Olympus", "hours": {}}});
    let r = app
        .post("/api/v1/apps/import?app=crm_b", bad)
        .await
        .expect_problem(422, "validation_failed");
    assert!(
        r.errors().iter().any(|(f, _)| f.starts_with("calendars.office")),
        "{}",
        r.text
    );
}

on_both!(a_package_brings_its_calendars_and_keeps_the_tenants);
