//! Forms and conditions: form layouts in the definition (checked, following renames, keeping
//! the fields they place), and `visible_if` / filter-form `required_if` judged by the server on
//! every write (create, update, bulk) against the record as written: a field whose `visible_if`
//! is false, or that the writer may not see, is never required of them. Each test runs on
//! SQLite and on PostgreSQL.

use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, Resp, TestApp, on_both, spawn};

const ORDERS: &str = "/api/v1/data/shop/order";

/// A shop whose clerks may not see an order's margin nor its audit code; clerks reach their own
/// orders only.
fn shop() -> Value {
    json!({
        "name": "shop", "label": {"zh": "商店", "en": "Shop"},
        "entities": [{"name": "order", "label": {"zh": "订单", "en": "Order"}, "fields": [
            {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
            {"name": "kind", "label": {"en": "Kind"}, "type": "single_select", "options": [
                {"value": "retail", "label": {"en": "Retail"}}, {"value": "wholesale", "label": {"en": "Wholesale"}}]},
            {"name": "amount", "label": {"en": "Amount"}, "type": "decimal"},
            {"name": "vat_no", "label": {"en": "VAT no."}, "type": "text", "required": true,
             "visible_if": {"field": "kind", "op": "eq", "value": "wholesale"}},
            {"name": "discount_reason", "label": {"en": "Why the discount"}, "type": "text",
             "required_if": {"field": "amount", "op": "gt", "value": 1000}},
            {"name": "note", "label": {"en": "Note"}, "type": "text",
             "required_if": "record.amount != () && record.amount > 5000"},
            {"name": "margin", "label": {"en": "Margin"}, "type": "decimal"},
            {"name": "margin_note", "label": {"en": "Margin note"}, "type": "text",
             "required_if": {"field": "margin", "op": "gt", "value": 30}},
            {"name": "audit_code", "label": {"en": "Audit code"}, "type": "text",
             "required_if": {"field": "amount", "op": "gt", "value": 10000}}
        ]}],
        "roles": [{"name": "clerk", "label": {"en": "Clerk"}, "permissions": {"order": {
            "create": true, "read": true, "update": true, "scope": "own",
            "fields": {"margin": "hidden", "audit_code": "hidden"}}}}],
        "forms": [{"name": "main", "label": {"zh": "订单", "en": "Order"}, "entity": "order", "default": true,
            "sections": [
                {"label": {"en": "Basics"}, "columns": 2,
                 "fields": [{"field": "title", "span": 2}, {"field": "kind"}, {"field": "amount"}]},
                {"label": {"en": "Tax"}, "fields": [{"field": "vat_no"}, {"field": "audit_code"}]}
            ]}]
    })
}

async fn shop_app(b: Backend) -> TestApp {
    let app = spawn(b).await;
    app.create_app(shop()).await;
    app
}

fn sorted_errors(r: &Resp) -> Vec<(String, String)> {
    let mut e = r.errors();
    e.sort();
    e
}

fn required(field: &str) -> (String, String) {
    (field.to_string(), "required".to_string())
}

async fn a_condition_written_as_a_filter_requires_a_field_on_every_write(b: Backend) {
    let app = shop_app(b).await;
    // Create: the amount makes the reason required; the answer names the field.
    let r = app
        .post(ORDERS, json!({"title": "big", "amount": 1500}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.errors(), [required("discount_reason")], "{}", r.text);
    let blank = app
        .post(ORDERS, json!({"title": "big", "amount": 1500, "discount_reason": "  "}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(blank.errors(), [required("discount_reason")]);
    app.create(
        "shop",
        "order",
        json!({"title": "big", "amount": 1500, "discount_reason": "loyal"}),
    )
    .await;

    // Update: judged on the record as it will be, not on the body alone.
    let small = app
        .create("shop", "order", json!({"title": "small", "amount": 10}))
        .await;
    let path = format!("{ORDERS}/{}", small["id"].as_str().unwrap());
    let r = app
        .patch(&path, json!({"amount": 2000}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.errors(), [required("discount_reason")]);
    app.patch(&path, json!({"discount_reason": "season"})).await.expect(200);
    app.patch(&path, json!({"amount": 2000})).await.expect(200);
    let r = app
        .patch(&path, json!({"discount_reason": null}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.errors(), [required("discount_reason")]);
    app.patch(&path, json!({"amount": 20, "discount_reason": null}))
        .await
        .expect(200);

    // Bulk goes through the same write path.
    let r = app
        .post(
            &format!("{ORDERS}/bulk"),
            json!({"create": [{"title": "ok"}, {"title": "bulk", "amount": 3000}]}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(
        r.errors(),
        [("create[1].discount_reason".to_string(), "required".to_string())]
    );

    // The Rhai form still works beside it, and both are reported at once.
    let r = app
        .post(ORDERS, json!({"title": "huge", "amount": 6000}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(sorted_errors(&r), [required("discount_reason"), required("note")]);
    let list = app.get(&format!("{ORDERS}?limit=100")).await.expect(200);
    assert_eq!(
        list.body["data"].as_array().unwrap().len(),
        2,
        "nothing refused was written"
    );
}

async fn a_field_whose_visible_if_is_false_is_never_required(b: Backend) {
    let app = shop_app(b).await;
    // Retail: the VAT number is not shown, so not required although `required: true`.
    let retail = app
        .create("shop", "order", json!({"title": "r", "kind": "retail"}))
        .await;
    app.create("shop", "order", json!({"title": "no kind"})).await;
    let r = app
        .post(ORDERS, json!({"title": "w", "kind": "wholesale"}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.errors(), [required("vat_no")], "{}", r.text);
    app.create(
        "shop",
        "order",
        json!({"title": "w", "kind": "wholesale", "vat_no": "CN-1"}),
    )
    .await;
    // Turning a record wholesale makes the field shown, and required.
    let path = format!("{ORDERS}/{}", retail["id"].as_str().unwrap());
    let r = app
        .patch(&path, json!({"kind": "wholesale"}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.errors(), [required("vat_no")]);
    app.patch(&path, json!({"kind": "wholesale", "vat_no": "CN-2"}))
        .await
        .expect(200);
    // And back: the value may then be cleared.
    app.patch(&path, json!({"kind": "retail", "vat_no": null}))
        .await
        .expect(200);
    // The app's document says so: a create needs the title, not the VAT number.
    let doc = app.get("/api/v1/apps/shop/openapi.json").await.expect(200).body;
    assert_eq!(
        doc["components"]["schemas"]["OrderCreate"]["required"],
        json!(["title"])
    );
}

async fn a_required_field_hidden_from_the_writer_does_not_block_them(b: Backend) {
    let app = shop_app(b).await;
    let (_, clerk) = app.user("shop", "clerk", Some("clerk")).await;
    let (_, other) = app.user("shop", "other", Some("clerk")).await;
    let (_, outsider) = app.user("shop", "outsider", None).await;

    // The audit code is required above 10,000, but a clerk can neither see nor fill it.
    let body = json!({"title": "large", "amount": 20000, "discount_reason": "r", "note": "n"});
    let made = app
        .call_as(Some(&clerk), Method::POST, ORDERS, Some(body.clone()))
        .await
        .expect(201);
    assert!(made.body.get("audit_code").is_none(), "{}", made.text);
    // Someone who sees it must fill it.
    let r = app.post(ORDERS, body).await.expect_problem(422, "validation_failed");
    assert_eq!(r.errors(), [required("audit_code")]);

    // A condition reading a hidden field: the clerk is told a requirement they cannot see is
    // unmet, never which field or value.
    let id = made.body["id"].as_str().unwrap().to_string();
    let path = format!("{ORDERS}/{id}");
    app.patch(&path, json!({"margin": 40, "margin_note": "high", "audit_code": "A1"}))
        .await
        .expect(200);
    let r = app
        .call_as(Some(&clerk), Method::PATCH, &path, Some(json!({"margin_note": null})))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(
        r.errors(),
        [("requirements".to_string(), "hidden_requirement".to_string())]
    );
    assert!(!r.text.contains("margin\""), "{}", r.text);

    // The definition as the clerk reads it: no hidden field in the form, no condition naming one.
    let def = app
        .call_as(Some(&clerk), Method::GET, "/api/v1/apps/shop", None)
        .await
        .expect(200);
    let text = def.text.clone();
    assert!(!text.contains("audit_code") && !text.contains("\"margin\""), "{text}");
    let form = &def.body["forms"][0];
    assert_eq!(form["sections"][1]["fields"], json!([{"field": "vat_no"}]));
    let fields = def.body["entities"][0]["fields"].as_array().unwrap();
    let note = fields.iter().find(|f| f["name"] == "margin_note").unwrap();
    assert!(note.get("required_if").is_none(), "{note}");
    let vat = fields.iter().find(|f| f["name"] == "vat_no").unwrap();
    assert_eq!(vat["visible_if"]["field"], "kind");

    // Out of scope: another clerk cannot reach the record; a user without a role cannot write.
    app.call_as(Some(&other), Method::PATCH, &path, Some(json!({"title": "x"})))
        .await
        .expect_problem(404, "not_found");
    app.call_as(Some(&other), Method::GET, &path, None)
        .await
        .expect_problem(404, "not_found");
    app.call_as(Some(&outsider), Method::POST, ORDERS, Some(json!({"title": "x"})))
        .await
        .expect_problem(403, "permission_denied");
}

async fn forms_and_conditions_are_checked_and_keep_the_fields_they_name(b: Backend) {
    let app = shop_app(b).await;
    // Every problem of a form is named by its path.
    let bad = app
        .patch(
            "/api/v1/apps/shop",
            json!({"forms": [
                {"name": "bad", "label": {"en": "Bad"}, "entity": "order", "default": true,
                 "sections": [{"columns": 2, "fields": [{"field": "nope"}, {"field": "title", "span": 3}, {"field": "title"}]}]},
                {"name": "again", "label": {"en": "Again"}, "entity": "order", "default": true, "sections": [{"fields": []}]},
                {"name": "lost", "label": {"en": "Lost"}, "entity": "nothing", "sections": [{"fields": []}]}
            ]}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(
        sorted_errors(&bad),
        [
            ("forms.again.default".to_string(), "duplicate".to_string()),
            (
                "forms.bad.sections[0].fields[0].field".to_string(),
                "unknown_field".to_string()
            ),
            ("forms.bad.sections[0].fields[1].span".to_string(), "range".to_string()),
            (
                "forms.bad.sections[0].fields[2].field".to_string(),
                "duplicate".to_string()
            ),
            ("forms.lost.entity".to_string(), "unknown_entity".to_string()),
        ],
        "{}",
        bad.text
    );
    // The schema refuses what is not a form at all.
    app.patch(
        "/api/v1/apps/shop",
        json!({"forms": [{"name": "x", "label": {"en": "X"}, "entity": "order", "sections": [{"columns": 9, "fields": []}]}]}),
    )
    .await
    .expect_problem(422, "validation_failed");

    // Conditions: fields of the entity only, and $user.id only.
    let field = "/api/v1/apps/shop/entities/order/fields";
    let r = app
        .patch(
            &format!("{field}/vat_no"),
            json!({"visible_if": {"field": "nope", "op": "eq", "value": 1}}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(
        r.errors(),
        [(
            "entities.order.fields.vat_no.visible_if".to_string(),
            "unknown_field".to_string()
        )]
    );
    let r = app
        .patch(
            &format!("{field}/note"),
            json!({"required_if": {"field": "amount", "op": "contains", "value": "1"}}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(
        r.errors(),
        [(
            "entities.order.fields.note.required_if".to_string(),
            "op_not_allowed".to_string()
        )]
    );
    app.patch(
        &format!("{field}/vat_no"),
        json!({"visible_if": {"field": "owner", "op": "eq", "value": "$user.id"}}),
    )
    .await
    .expect_problem(422, "validation_failed");

    // A renamed field carries over to forms and conditions; a deleted one is refused while a
    // form or a condition names it, naming the form.
    app.patch(&format!("{field}/kind"), json!({"name": "channel"}))
        .await
        .expect(200);
    let def = app.get("/api/v1/apps/shop").await.expect(200);
    assert_eq!(def.body["forms"][0]["sections"][0]["fields"][1]["field"], "channel");
    let fields = def.body["entities"][0]["fields"].as_array().unwrap();
    let vat = fields.iter().find(|f| f["name"] == "vat_no").unwrap();
    assert_eq!(vat["visible_if"]["field"], "channel");
    let used = app
        .delete(&format!("{field}/audit_code"))
        .await
        .expect_problem(422, "validation_failed");
    assert!(used.text.contains("form 'main'"), "{}", used.text);
    let used = app
        .delete(&format!("{field}/channel"))
        .await
        .expect_problem(422, "validation_failed");
    assert!(
        used.text.contains("form 'main'") && used.text.contains("vat_no.visible_if"),
        "{}",
        used.text
    );
    // Out of the form, the field can go.
    app.patch(
        "/api/v1/apps/shop",
        json!({"forms": [{"name": "main", "label": {"en": "Order"}, "entity": "order", "default": true,
            "sections": [{"columns": 2, "fields": [{"field": "title"}, {"field": "channel"}]}]}]}),
    )
    .await
    .expect(200);
    app.delete(&format!("{field}/vat_no")).await.expect(200);
    let def = app.get("/api/v1/apps/shop").await.expect(200);
    assert_eq!(def.body["forms"][0]["sections"][0]["columns"], 2);
}

on_both!(
    a_condition_written_as_a_filter_requires_a_field_on_every_write,
    a_field_whose_visible_if_is_false_is_never_required,
    a_required_field_hidden_from_the_writer_does_not_block_them,
    forms_and_conditions_are_checked_and_keep_the_fields_they_name,
);
