//! Rhai validation rules and conditional requirements in the write path, compile errors at save,
//! script failures as `script_error`, and the script checker.

use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, TestApp, on_both, spawn};

fn pipeline_app(validations: Value) -> Value {
    json!({
        "name": "crm", "label": {"zh": "客户关系", "en": "CRM"},
        "entities": [{"name": "deal", "label": {"zh": "商机", "en": "Deal"}, "validations": validations, "fields": [
            {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
            {"name": "phase", "label": {"en": "Phase"}, "type": "single_select", "default": "first_contact", "options": [
                {"value": "first_contact", "label": {"zh": "初次接触", "en": "First contact"}},
                {"value": "needs_confirmed", "label": {"zh": "需求确认", "en": "Needs confirmed"}},
                {"value": "won", "label": {"zh": "赢单", "en": "Won"}}
            ]},
            {"name": "amount", "label": {"en": "Amount"}, "type": "decimal"},
            {"name": "budget", "label": {"zh": "预算", "en": "Budget"}, "type": "decimal",
             "required_if": "record.phase == \"needs_confirmed\" || record.phase == \"won\""},
            {"name": "decision_maker", "label": {"zh": "决策人", "en": "Decision maker"}, "type": "text",
             "required_if": "record.phase != \"first_contact\""},
            {"name": "close_date", "label": {"en": "Close"}, "type": "date"}
        ]}]
    })
}

fn rules() -> Value {
    json!([
        {"name": "won_needs_amount", "when": "record.phase == \"won\"", "assert": "record.amount != () && record.amount > 0",
         "message": {"zh": "赢单必须有金额", "en": "A won deal needs an amount"}, "field": "amount"},
        {"name": "amount_within_budget", "when": "record.amount != () && record.budget != ()",
         "assert": "record.amount <= record.budget * 1.2", "message": {"en": "Amount exceeds the budget by more than 20%"}, "field": "amount"},
        {"name": "no_shrinking", "when": "old != () && old.amount != () && record.amount != ()",
         "assert": "record.amount >= old.amount", "message": {"en": "The amount may not decrease"}, "field": "amount"}
    ])
}

async fn crm(b: Backend) -> TestApp {
    let app = spawn(b).await;
    app.create_app(pipeline_app(rules())).await;
    app
}

async fn count(app: &TestApp) -> u64 {
    app.get("/api/v1/data/crm/deal?count=true").await.expect(200).body["total"]
        .as_u64()
        .unwrap()
}

async fn conditional_requirements_and_rules_are_all_reported_together(b: Backend) {
    let app = crm(b).await;
    // First contact: nothing beyond the title is needed.
    app.create("crm", "deal", json!({"title": "lead"})).await;
    // Needs confirmed: budget and decision maker become required.
    let r = app
        .post(
            "/api/v1/data/crm/deal",
            json!({"title": "x", "phase": "needs_confirmed"}),
        )
        .await;
    let r = r.expect_problem(422, "validation_failed");
    let mut errs = r.errors();
    errs.sort();
    assert_eq!(
        errs,
        vec![
            ("budget".into(), "required".into()),
            ("decision_maker".into(), "required".into())
        ]
    );
    // Won without amount, and over budget: both rules fail, named by field and rule.
    let r = app
        .post(
            "/api/v1/data/crm/deal",
            json!({"title": "x", "phase": "won", "budget": 100, "decision_maker": "Li"}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.errors(), vec![("amount".to_string(), "won_needs_amount".to_string())]);
    assert_eq!(r.body["errors"][0]["message"], "A won deal needs an amount");
    assert_eq!(
        r.body["errors"][0]["messages"],
        json!({"zh": "赢单必须有金额", "en": "A won deal needs an amount"})
    );
    let r = app
        .post(
            "/api/v1/data/crm/deal",
            json!({"title": "x", "phase": "won", "budget": 100, "amount": 121, "decision_maker": "Li"}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(
        r.errors(),
        vec![("amount".to_string(), "amount_within_budget".to_string())]
    );
    assert_eq!(count(&app).await, 1, "failed writes wrote nothing");
    // Exactly 20% over is allowed: decimals are exact.
    app.create(
        "crm",
        "deal",
        json!({"title": "ok", "phase": "won", "budget": "100.10", "amount": "120.12", "decision_maker": "Li"}),
    )
    .await;
}

async fn updates_see_the_record_as_it_will_be_and_old_as_stored(b: Backend) {
    let app = crm(b).await;
    let d = app.create("crm", "deal", json!({"title": "t", "amount": 50})).await;
    let path = format!("/api/v1/data/crm/deal/{}", d["id"].as_str().unwrap());
    // Moving to needs_confirmed without budget: the merged record lacks it.
    let r = app
        .patch(&path, json!({"phase": "needs_confirmed"}))
        .await
        .expect_problem(422, "validation_failed");
    assert!(r.errors().contains(&("budget".into(), "required".into())), "{}", r.text);
    // The stored budget counts on later updates.
    app.patch(
        &path,
        json!({"phase": "needs_confirmed", "budget": 1000, "decision_maker": "Wang"}),
    )
    .await
    .expect(200);
    app.patch(&path, json!({"title": "renamed"})).await.expect(200);
    // `old` is the stored record: the amount may not shrink.
    let r = app
        .patch(&path, json!({"amount": 40}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.errors(), vec![("amount".to_string(), "no_shrinking".to_string())]);
    let r = app.patch(&path, json!({"amount": 60})).await.expect(200);
    assert_eq!(r.body["amount"].as_f64(), Some(60.0));
    // Bulk runs the same rules and names the operation.
    let r = app
        .post(
            "/api/v1/data/crm/deal/bulk",
            json!({"create": [{"title": "a"}, {"title": "b", "phase": "won"}]}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert!(
        r.errors()
            .contains(&("create[1].amount".into(), "won_needs_amount".into())),
        "{}",
        r.text
    );
}

async fn scripts_that_do_not_compile_are_refused_at_save_with_line_and_column(b: Backend) {
    let app = spawn(b).await;
    let bad = json!([{"name": "broken", "assert": "record.amount >\n  (1 +", "message": {"en": "x"}},
                     {"name": "unknown_var", "assert": "amount > 1", "message": {"en": "x"}}]);
    let r = app
        .post("/api/v1/apps", pipeline_app(bad))
        .await
        .expect_problem(422, "validation_failed");
    let errs = r.body["errors"].as_array().unwrap().clone();
    let broken = errs
        .iter()
        .find(|e| e["field"] == "entities.deal.validations.broken.assert")
        .expect("broken named");
    assert_eq!(broken["code"], "script_syntax");
    assert!(
        broken["message"].as_str().unwrap().starts_with("line 2, column"),
        "{broken}"
    );
    let unknown = errs
        .iter()
        .find(|e| e["field"] == "entities.deal.validations.unknown_var.assert")
        .expect("unknown named");
    assert!(unknown["message"].as_str().unwrap().contains("amount"), "{unknown}");
    app.get("/api/v1/apps/crm").await.expect_problem(404, "not_found");
    // A field a script names must exist (a typo, or a field renamed since).
    let typo = json!([{"name": "typo", "assert": "record.amout > 0 || old.budgett == ()", "message": {"en": "x"}}]);
    let r = app
        .post("/api/v1/apps", pipeline_app(typo))
        .await
        .expect_problem(422, "validation_failed");
    let msgs: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(msgs.iter().any(|m| m.starts_with("record.amout:")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.starts_with("old.budgett:")), "{msgs:?}");
    // The same on a field added later.
    app.create_app(pipeline_app(json!([]))).await;
    let r = app
        .post(
            "/api/v1/apps/crm/entities/deal/fields",
            json!({"name": "x", "label": {"en": "X"}, "type": "text", "required_if": "record.phase =="}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.errors()[0].0, "entities.deal.fields.x.required_if");
    // Renaming a field that a script reads is refused until the script is changed too.
    app.patch(
        "/api/v1/apps/crm/entities/deal",
        json!({"validations": [
        {"name": "positive", "assert": "record.amount == () || record.amount > 0", "message": {"en": "x"}}]}),
    )
    .await
    .expect(200);
    let r = app
        .patch("/api/v1/apps/crm/entities/deal/fields/amount", json!({"name": "value"}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(
        r.errors(),
        vec![(
            "entities.deal.validations.positive.assert".to_string(),
            "unknown_field".to_string()
        )]
    );
}

async fn a_failing_script_fails_the_write_with_script_error_and_the_rule_name(b: Backend) {
    let app = spawn(b).await;
    app.create_app(pipeline_app(json!([
        {"name": "divides", "when": "record.title == \"div\"", "assert": "1 / 0 == 1", "message": {"en": "x"}},
        {"name": "spins", "when": "record.title == \"loop\"", "assert": "loop {} ; true", "message": {"en": "x"}}
    ])))
    .await;
    for (title, needle) in [("div", "divides"), ("loop", "spins")] {
        let r = app
            .post("/api/v1/data/crm/deal", json!({"title": title}))
            .await
            .expect_problem(422, "script_error");
        assert!(r.text.contains(needle), "{}", r.text);
    }
    assert_eq!(count(&app).await, 0);
}

async fn a_hostile_script_does_not_stop_other_requests(b: Backend) {
    let app = spawn(b).await;
    app.create_app(pipeline_app(json!([
        {"name": "grows", "assert": "let s = \"x\"; loop { s += s; } ; true", "message": {"en": "x"}}
    ])))
    .await;
    let hostile = app.post("/api/v1/data/crm/deal", json!({"title": "a"}));
    let meanwhile = async {
        let mut ok = 0;
        for _ in 0..5 {
            if app.get("/api/v1/apps/crm").await.status == 200 {
                ok += 1;
            }
        }
        ok
    };
    let (r, ok) = tokio::join!(hostile, meanwhile);
    r.expect_problem(422, "script_error");
    assert_eq!(ok, 5, "requests are answered while the script runs into its limit");
}

async fn the_script_checker_compiles_and_runs_on_a_sample_record(b: Backend) {
    let app = crm(b).await;
    let app = &app;
    let check = |body: Value| async move { app.post("/api/v1/apps/crm/scripts/check", body).await.expect(200).body };
    let r =
        check(json!({"entity": "deal", "script": "record.amount * 2", "kind": "value", "record": {"amount": "1.25"}}))
            .await;
    assert_eq!(r, json!({"ok": true, "kind": "value", "value": 2.5}));
    let r = check(json!({"entity": "deal", "script": "record.phase == \"first_contact\"", "kind": "condition"})).await;
    assert_eq!(r["value"], json!(true), "defaults fill the sample: {r}");
    let r = check(json!({"entity": "deal", "script": "record.amount >"})).await;
    assert_eq!(r["ok"], json!(false));
    assert_eq!(r["stage"], "compile");
    assert!(
        r["error"]["line"].as_u64().unwrap() >= 1 && r["error"]["column"].as_u64().unwrap() >= 1,
        "{r}"
    );
    let r = check(json!({"entity": "deal", "script": "1 / 0", "kind": "value"})).await;
    assert_eq!((r["ok"].clone(), r["stage"].clone()), (json!(false), json!("run")));
    let r = check(json!({"entity": "deal", "script": "42", "kind": "condition"})).await;
    assert_eq!(r["ok"], json!(false), "a condition must be true or false: {r}");
    app.post(
        "/api/v1/apps/crm/scripts/check",
        json!({"entity": "nope", "script": "1"}),
    )
    .await
    .expect_problem(400, "bad_request");
    app.post(
        "/api/v1/apps/crm/scripts/check",
        json!({"entity": "deal", "script": "1", "record": {"bogus": 1}}),
    )
    .await
    .expect_problem(400, "bad_request");
}

fn forecast_app(extra_fields: Value) -> Value {
    let mut fields = json!([
        {"name": "title", "label": {"en": "Title"}, "type": "text"},
        {"name": "amount", "label": {"zh": "金额", "en": "Amount"}, "type": "decimal"},
        {"name": "probability", "label": {"zh": "赢率", "en": "Probability"}, "type": "percent"},
        {"name": "weighted", "label": {"zh": "加权金额", "en": "Weighted"}, "type": "decimal",
         "formula": "if record.amount == () || record.probability == () { () } else { record.amount * record.probability / 100 }"},
        {"name": "band", "label": {"en": "Band"}, "type": "text",
         "formula": "if record.weighted == () { \"none\" } else if record.weighted >= 10000 { \"big\" } else { \"small\" }"},
        {"name": "due", "label": {"en": "Due"}, "type": "date"},
        {"name": "follow_up", "label": {"en": "Follow up"}, "type": "date", "formula": "if record.due == () { () } else { add_business_days(record.due, 2) }"}
    ]);
    fields
        .as_array_mut()
        .unwrap()
        .extend(extra_fields.as_array().unwrap().iter().cloned());
    json!({"name": "fc", "label": {"en": "Forecast"}, "entities": [{"name": "deal", "label": {"en": "Deal"}, "fields": fields,
        "validations": [{"name": "weighted_cap", "assert": "record.weighted == () || record.weighted < 1000000",
                         "message": {"en": "Weighted amount too large"}, "field": "amount"}]}]})
}

async fn formulas_are_computed_in_dependency_order_stored_and_read_only(b: Backend) {
    let app = spawn(b).await;
    app.create_app(forecast_app(json!([]))).await;
    let d = app
        .create(
            "fc",
            "deal",
            json!({"title": "a", "amount": "20000.50", "probability": 60, "due": "2026-11-27"}),
        )
        .await;
    assert_eq!(d["weighted"].as_f64(), Some(12000.3), "{d}");
    assert_eq!(d["band"], "big", "a formula sees the formulas before it");
    assert_eq!(d["follow_up"], "2026-12-01", "two business days after a Friday");
    let path = format!("/api/v1/data/fc/deal/{}", d["id"].as_str().unwrap());
    let u = app.patch(&path, json!({"probability": 10})).await.expect(200).body;
    assert_eq!(
        (u["weighted"].as_f64(), u["band"].clone()),
        (Some(2000.05), json!("small")),
        "{u}"
    );
    assert_eq!(app.get(&path).await.expect(200).body, u, "what was answered was stored");
    // Read-only: a set value is refused, the current one sent back is accepted.
    let r = app
        .patch(&path, json!({"weighted": 1}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.errors(), vec![("weighted".to_string(), "read_only".to_string())]);
    app.patch(&path, json!({"weighted": u["weighted"], "title": "b"}))
        .await
        .expect(200);
    // Stored in its column: filters and sorts work on it.
    app.create("fc", "deal", json!({"title": "c", "amount": 100000, "probability": 50}))
        .await;
    app.create("fc", "deal", json!({"title": "d"})).await;
    let l = app.get("/api/v1/data/fc/deal?sort=-weighted&filter=%7B%22field%22%3A%22band%22%2C%22op%22%3A%22ne%22%2C%22value%22%3A%22none%22%7D")
        .await
        .expect(200)
        .body;
    let titles: Vec<&str> = l["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["c", "b"]);
    // A formula added later is computed for the records that exist; one that fails on any of
    // them is refused and changes nothing.
    app.post(
        "/api/v1/apps/fc/entities/deal/fields",
        json!({"name": "shout", "label": {"en": "Shout"}, "type": "text",
        "formula": "upper(record.title)"}),
    )
    .await
    .expect(201);
    let again = app.get(&path).await.expect(200).body;
    assert_eq!(again["shout"], "B");
    let r = app
        .post(
            "/api/v1/apps/fc/entities/deal/fields",
            json!({"name": "ratio", "label": {"en": "Ratio"}, "type": "decimal",
            "formula": "1 / record.probability"}),
        )
        .await
        .expect_problem(422, "script_error");
    assert!(r.text.contains("record "), "names the record: {}", r.text);
    assert!(
        app.get("/api/v1/apps/fc/entities/deal/fields").await.expect(200).body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["name"] != "ratio")
    );
    // Rules see computed values.
    let r = app
        .post(
            "/api/v1/data/fc/deal",
            json!({"title": "e", "amount": 3000000, "probability": 50}),
        )
        .await;
    assert_eq!(
        r.expect_problem(422, "validation_failed").errors(),
        vec![("amount".to_string(), "weighted_cap".to_string())]
    );
}

async fn formula_cycles_and_misfit_results_are_refused(b: Backend) {
    let app = spawn(b).await;
    let cyclic = forecast_app(json!([
        {"name": "x", "label": {"en": "X"}, "type": "integer", "formula": "record.y + 1"},
        {"name": "y", "label": {"en": "Y"}, "type": "integer", "formula": "record.x + 1"}
    ]));
    let r = app
        .post("/api/v1/apps", cyclic)
        .await
        .expect_problem(422, "validation_failed");
    let e = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["code"] == "cycle")
        .expect("cycle reported")
        .clone();
    assert_eq!(e["field"], "entities.deal.fields.x.formula");
    assert!(e["message"].as_str().unwrap().contains("x → y → x"), "{e}");
    let misfit = forecast_app(json!([
        {"name": "score", "label": {"en": "Score"}, "type": "integer", "formula": "if record.title == \"half\" { 2.5 } else { 1 }"}
    ]));
    app.create_app(misfit).await;
    app.create("fc", "deal", json!({"title": "whole"})).await;
    let r = app
        .post("/api/v1/data/fc/deal", json!({"title": "half"}))
        .await
        .expect_problem(422, "script_error");
    assert!(r.text.contains("score"), "{}", r.text);
    assert!(
        app.post(
            "/api/v1/apps",
            forecast_app(
                json!([{"name": "z", "label": {"en": "Z"}, "type": "integer", "formula": "1", "required": true}])
            )
        )
        .await
        .status
            == 422
    );
}

fn rollup_app() -> Value {
    json!({"name": "sales", "label": {"en": "Sales"}, "entities": [
        {"name": "customer", "label": {"zh": "客户", "en": "Customer"}, "fields": [
            {"name": "name", "label": {"en": "Name"}, "type": "text"},
            {"name": "deal_count", "label": {"en": "Deals"}, "type": "integer",
             "rollup": {"from": "deal", "via": "customer", "fn": "count"}},
            {"name": "won_total", "label": {"zh": "赢单总额", "en": "Won total"}, "type": "decimal",
             "rollup": {"from": "deal", "via": "customer", "fn": "sum", "field": "amount",
                        "filter": {"field": "phase", "op": "eq", "value": "won"}}},
            {"name": "avg_amount", "label": {"en": "Average"}, "type": "decimal",
             "rollup": {"from": "deal", "via": "customer", "fn": "avg", "field": "amount"}}
        ]},
        {"name": "deal", "label": {"en": "Deal"}, "fields": [
            {"name": "title", "label": {"en": "Title"}, "type": "text"},
            {"name": "amount", "label": {"en": "Amount"}, "type": "decimal"},
            {"name": "phase", "label": {"en": "Phase"}, "type": "single_select", "default": "new", "options": [
                {"value": "new", "label": {"en": "New"}}, {"value": "won", "label": {"en": "Won"}}]},
            {"name": "customer", "label": {"en": "Customer"}, "type": "relation", "target": "customer"}
        ]}
    ]})
}

async fn rollups_follow_every_write_of_the_records_that_point_here(b: Backend) {
    let app = spawn(b).await;
    app.create_app(rollup_app()).await;
    let c1 = app.create("sales", "customer", json!({"name": "ACME"})).await;
    let c2 = app.create("sales", "customer", json!({"name": "Globex"})).await;
    assert_eq!(
        (
            c1["deal_count"].clone(),
            c1["won_total"].as_f64(),
            c1["avg_amount"].clone()
        ),
        (json!(0), Some(0.0), Value::Null)
    );
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    let cust = |c: &Value| {
        let path = format!("/api/v1/data/sales/customer/{}", id(c));
        let app = &app;
        async move { app.get(&path).await.expect(200).body }
    };
    let summary = |v: Value| {
        (
            v["deal_count"].as_i64(),
            v["won_total"].as_f64(),
            v["avg_amount"].as_f64(),
        )
    };
    let d1 = app
        .create(
            "sales",
            "deal",
            json!({"title": "a", "amount": 100, "phase": "won", "customer": id(&c1)}),
        )
        .await;
    let d2 = app
        .create(
            "sales",
            "deal",
            json!({"title": "b", "amount": "50.5", "customer": id(&c1)}),
        )
        .await;
    assert_eq!(summary(cust(&c1).await), (Some(2), Some(100.0), Some(75.25)));
    // A change of phase moves the deal into the won total.
    app.patch(&format!("/api/v1/data/sales/deal/{}", id(&d2)), json!({"phase": "won"}))
        .await
        .expect(200);
    assert_eq!(summary(cust(&c1).await), (Some(2), Some(150.5), Some(75.25)));
    // Moving a deal updates both customers.
    app.patch(
        &format!("/api/v1/data/sales/deal/{}", id(&d1)),
        json!({"customer": id(&c2)}),
    )
    .await
    .expect(200);
    assert_eq!(summary(cust(&c1).await), (Some(1), Some(50.5), Some(50.5)));
    assert_eq!(summary(cust(&c2).await), (Some(1), Some(100.0), Some(100.0)));
    // A bulk that fails changes nothing; one that succeeds counts every record.
    app.post(
        "/api/v1/data/sales/deal/bulk",
        json!({"create": [
            {"title": "c", "amount": 1, "customer": id(&c2)}, {"title": 5}
        ]}),
    )
    .await
    .expect_problem(422, "validation_failed");
    assert_eq!(summary(cust(&c2).await), (Some(1), Some(100.0), Some(100.0)));
    app.post("/api/v1/data/sales/deal/bulk", json!({"create": [
        {"title": "c", "amount": 1, "phase": "won", "customer": id(&c2)}, {"title": "d", "amount": 2, "customer": id(&c2)}
    ], "delete": [id(&d2)]}))
    .await
    .expect(200);
    assert_eq!(summary(cust(&c2).await), (Some(3), Some(101.0), Some(34.33)));
    assert_eq!(summary(cust(&c1).await), (Some(0), Some(0.0), None));
    // Rollups are computed: clients cannot set them.
    let r = app
        .patch(
            &format!("/api/v1/data/sales/customer/{}", id(&c1)),
            json!({"deal_count": 5}),
        )
        .await;
    assert_eq!(
        r.expect_problem(422, "validation_failed").errors(),
        vec![("deal_count".to_string(), "read_only".to_string())]
    );
    // A rollup added later is filled for the records that exist.
    app.post(
        "/api/v1/apps/sales/entities/customer/fields",
        json!({"name": "biggest", "label": {"en": "Biggest"},
        "type": "decimal", "rollup": {"from": "deal", "via": "customer", "fn": "max", "field": "amount"}}),
    )
    .await
    .expect(201);
    assert_eq!(cust(&c2).await["biggest"].as_f64(), Some(100.0));
    assert!(cust(&c1).await["biggest"].is_null());
    // Renaming the aggregated entity or its fields keeps the rollups working.
    app.patch("/api/v1/apps/sales/entities/deal", json!({"name": "opportunity"}))
        .await
        .expect(200);
    app.patch(
        "/api/v1/apps/sales/entities/opportunity/fields/amount",
        json!({"name": "value"}),
    )
    .await
    .expect(200);
    app.patch(
        "/api/v1/apps/sales/entities/opportunity/fields/customer",
        json!({"name": "account"}),
    )
    .await
    .expect(200);
    app.post(
        "/api/v1/data/sales/opportunity",
        json!({"title": "e", "value": 7, "phase": "won", "account": id(&c1)}),
    )
    .await
    .expect(201);
    assert_eq!(summary(cust(&c1).await), (Some(1), Some(7.0), Some(7.0)));
}

async fn rollups_that_cannot_work_are_refused_at_save(b: Backend) {
    let app = spawn(b).await;
    let mut bad = rollup_app();
    bad["entities"][0]["fields"][1]["rollup"]["via"] = json!("title");
    bad["entities"][0]["fields"][2]["rollup"]["field"] = json!("phase");
    bad["entities"][0]["fields"][3]["rollup"]["filter"] = json!({"field": "nope", "op": "eq", "value": 1});
    let r = app
        .post("/api/v1/apps", bad)
        .await
        .expect_problem(422, "validation_failed");
    let fields: Vec<String> = r.errors().into_iter().map(|(f, _)| f).collect();
    for want in [
        "entities.customer.fields.deal_count.rollup.via",
        "entities.customer.fields.won_total.rollup.field",
        "entities.customer.fields.avg_amount.rollup.filter",
    ] {
        assert!(fields.iter().any(|f| f == want), "{want} missing in {fields:?}");
    }
}

async fn scripts_read_related_records_through_their_relation(b: Backend) {
    let app = spawn(b).await;
    let mut def = rollup_app();
    def["entities"][0]["fields"].as_array_mut().unwrap().extend([
        json!({"name": "level", "label": {"en": "Level"}, "type": "single_select", "default": "normal",
               "options": [{"value": "normal", "label": {"en": "Normal"}}, {"value": "vip", "label": {"en": "VIP"}}]}),
        json!({"name": "credit_limit", "label": {"en": "Credit limit"}, "type": "decimal"}),
    ]);
    def["entities"][1]["fields"].as_array_mut().unwrap().push(json!({"name": "lane", "label": {"en": "Lane"}, "type": "text",
        "formula": "if related.customer == () { \"none\" } else if related.customer.level == \"vip\" { \"vip lane\" } else { \"standard\" }"}));
    def["entities"][1]["validations"] = json!([{"name": "within_credit",
        "when": "related.customer != () && related.customer.credit_limit != () && record.amount != ()",
        "assert": "record.amount <= related.customer.credit_limit", "message": {"en": "Over the customer's credit limit"}, "field": "amount"}]);
    app.create_app(def.clone()).await;
    let vip = app
        .create(
            "sales",
            "customer",
            json!({"name": "V", "level": "vip", "credit_limit": 1000}),
        )
        .await;
    let id = vip["id"].as_str().unwrap();
    let d = app
        .create("sales", "deal", json!({"title": "a", "amount": 900, "customer": id}))
        .await;
    assert_eq!(d["lane"], "vip lane");
    assert_eq!(app.create("sales", "deal", json!({"title": "b"})).await["lane"], "none");
    let r = app
        .post(
            "/api/v1/data/sales/deal",
            json!({"title": "c", "amount": 1001, "customer": id}),
        )
        .await;
    assert_eq!(
        r.expect_problem(422, "validation_failed").errors(),
        vec![("amount".to_string(), "within_credit".to_string())]
    );
    // The related record as it is now: a later write sees its change.
    app.patch(&format!("/api/v1/data/sales/customer/{id}"), json!({"level": "normal"}))
        .await
        .expect(200);
    let path = format!("/api/v1/data/sales/deal/{}", d["id"].as_str().unwrap());
    assert_eq!(
        app.patch(&path, json!({"title": "a2"})).await.expect(200).body["lane"],
        "standard"
    );
    // A script reading a field that is not a relation is refused at save.
    def["name"] = json!("other");
    def["entities"][1]["validations"][0]["assert"] = json!("related.title == ()");
    let r = app
        .post("/api/v1/apps", def)
        .await
        .expect_problem(422, "validation_failed");
    assert!(
        r.errors().contains(&(
            "entities.deal.validations.within_credit.assert".into(),
            "unknown_relation".into()
        )),
        "{}",
        r.text
    );
}

/// Scripts that name `user` see the writer's roles in the app and first team; the lookup is
/// skipped only for entities none of whose scripts name it.
async fn scripts_see_the_writers_roles_and_team(b: Backend) {
    use trellis_tests::reqwest::Method;
    let app = spawn(b).await;
    app.create_app(json!({
        "name": "crm", "label": {"en": "CRM"},
        "roles": [{"name": "rep", "label": {"en": "Rep"}, "permissions": {"deal": {"create": true, "read": true}, "note": {"create": true, "read": true}}},
                  {"name": "manager", "label": {"en": "Manager"}, "permissions": {"deal": {"create": true, "read": true}}}],
        "entities": [
            {"name": "deal", "label": {"en": "Deal"},
             "validations": [{"name": "big_needs_manager", "when": "record.amount != () && record.amount > 1000",
                              "assert": "\"manager\" in user.roles", "message": {"en": "Big deals need a manager"}, "field": "amount"}],
             "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
                {"name": "amount", "label": {"en": "Amount"}, "type": "decimal"},
                {"name": "team", "label": {"en": "Team"}, "type": "text", "formula": "user.team"}
             ]},
            {"name": "note", "label": {"en": "Note"}, "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
                {"name": "users", "label": {"en": "Users"}, "type": "integer", "formula": "1"}
            ]}
        ]
    }))
    .await;
    let who = [
        app.user("crm", "rita", Some("rep")).await,
        app.user("crm", "max", Some("manager")).await,
    ];
    let team = app
        .post("/api/v1/teams", json!({"name": "north"}))
        .await
        .expect(201)
        .body;
    let team = team["id"].as_str().unwrap().to_string();
    app.post(&format!("/api/v1/teams/{team}/members"), json!({"user": who[1].0}))
        .await
        .expect(200);
    let big = json!({"title": "big", "amount": 5000});
    let r = app
        .call_as(
            Some(&who[0].1),
            Method::POST,
            "/api/v1/data/crm/deal",
            Some(big.clone()),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(
        r.errors(),
        vec![("amount".to_string(), "big_needs_manager".to_string())]
    );
    let small = app
        .call_as(
            Some(&who[0].1),
            Method::POST,
            "/api/v1/data/crm/deal",
            Some(json!({"title": "small", "amount": 10})),
        )
        .await
        .expect(201);
    assert_eq!(small.body["team"], Value::Null, "rita is in no team");
    let ok = app
        .call_as(Some(&who[1].1), Method::POST, "/api/v1/data/crm/deal", Some(big))
        .await
        .expect(201);
    assert_eq!(ok.body["team"], json!(team), "max's team, read by the formula");
    // An entity whose scripts do not name `user` writes as before.
    let note = app
        .call_as(
            Some(&who[0].1),
            Method::POST,
            "/api/v1/data/crm/note",
            Some(json!({"title": "n"})),
        )
        .await
        .expect(201);
    assert_eq!(note.body["users"], json!(1));
}

on_both!(
    scripts_see_the_writers_roles_and_team,
    scripts_read_related_records_through_their_relation,
    rollups_follow_every_write_of_the_records_that_point_here,
    rollups_that_cannot_work_are_refused_at_save,
    formulas_are_computed_in_dependency_order_stored_and_read_only,
    formula_cycles_and_misfit_results_are_refused,
    conditional_requirements_and_rules_are_all_reported_together,
    updates_see_the_record_as_it_will_be_and_old_as_stored,
    scripts_that_do_not_compile_are_refused_at_save_with_line_and_column,
    a_failing_script_fails_the_write_with_script_error_and_the_rule_name,
    a_hostile_script_does_not_stop_other_requests,
    the_script_checker_compiles_and_runs_on_a_sample_record,
);
