//! Files over HTTP: sniffed types, names, the file routes in the platform document, and
//! attachment fields of records. (Uploads and downloads, the size limit and tenant isolation,
//! checked with the stored rows counted, are in `whitebox::files`.) Every test runs on SQLite
//! and PostgreSQL.

use reqwest::header::HeaderMap;
use reqwest::multipart::{Form, Part};
use sha2::{Digest, Sha256};
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, Resp, TestApp, on_both, spawn};

pub(crate) const FILES: &str = "/api/v1/files";
pub(crate) const PDF: &[u8] =
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A PNG signature followed by every byte value (so nothing is lost as text on the way).
pub(crate) fn png() -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0".to_vec();
    b.extend(0..=255u8);
    b.extend((0..=255u8).rev());
    b
}

pub(crate) fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

/// Uploads one part named `file` as a browser does (the name as raw UTF-8).
pub(crate) async fn upload_as(
    app: &TestApp,
    token: Option<&str>,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> Resp {
    let part = Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str(content_type)
        .expect("mime");
    send_form(app, token, Form::new().percent_encode_noop().part("file", part)).await
}

pub(crate) async fn upload(app: &TestApp, name: &str, content_type: &str, bytes: Vec<u8>) -> Resp {
    upload_as(app, Some(&app.token), name, content_type, bytes).await
}

pub(crate) async fn send_form(app: &TestApp, token: Option<&str>, form: Form) -> Resp {
    let mut req = app.client.post(format!("{}{FILES}", app.base)).multipart(form);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    Resp::read(req.send().await.expect("request is answered")).await
}

/// A download: status, headers and the raw bytes.
pub(crate) async fn download_as(
    app: &TestApp,
    token: &str,
    id: &str,
    headers: &[(&str, &str)],
) -> (u16, HeaderMap, Vec<u8>) {
    let mut req = app.client.get(format!("{}{FILES}/{id}", app.base)).bearer_auth(token);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.expect("request is answered");
    let (status, headers) = (res.status().as_u16(), res.headers().clone());
    (status, headers, res.bytes().await.expect("body").to_vec())
}

pub(crate) fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

pub(crate) fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

#[track_caller]
pub(crate) fn assert_error(r: &Resp, field: &str, code: &str) {
    assert!(
        r.errors().iter().any(|(f, c)| f == field && c == code),
        "expected error ({field}, {code}) in {:?}: {}",
        r.errors(),
        r.text
    );
}

// ---------------------------------------------------------------------------------------------
// Upload and download
// ---------------------------------------------------------------------------------------------

async fn the_content_type_comes_from_the_bytes_not_from_what_the_client_declares(b: Backend) {
    let app = spawn(b).await;
    let r = upload(&app, "scan.png", "image/png", PDF.to_vec()).await.expect(201);
    assert_eq!(
        r.body["content_type"], "application/pdf",
        "a PDF declared as PNG is a PDF"
    );
    let (_, h, _) = download_as(&app, &app.token, s(&r.body["id"]), &[]).await;
    assert_eq!(header(&h, "content-type"), "application/pdf");

    let csv = upload(&app, "q3.csv", "text/csv", "客户,金额\nACME,12\n".as_bytes().to_vec())
        .await
        .expect(201);
    assert_eq!(
        csv.body["content_type"], "text/csv",
        "text has no signature: the declared type counts"
    );
    let exe = upload(&app, "x.png", "image/png", vec![0, 1, 2, 3, 4, 5, 6, 7])
        .await
        .expect(201);
    assert_eq!(
        exe.body["content_type"], "application/octet-stream",
        "unrecognised bytes are not what they claim"
    );
}

async fn a_chinese_file_name_round_trips_and_paths_are_cut_off(b: Backend) {
    let app = spawn(b).await;
    let r = upload(&app, "签收单.pdf", "application/pdf", PDF.to_vec())
        .await
        .expect(201);
    assert_eq!(r.body["name"], "签收单.pdf");
    let (status, h, _) = download_as(&app, &app.token, s(&r.body["id"]), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&h, "content-disposition"),
        "attachment; filename=\"___.pdf\"; filename*=UTF-8''%E7%AD%BE%E6%94%B6%E5%8D%95.pdf"
    );

    let r = upload(
        &app,
        "C:\\Users\\li\\合同\u{202e}fdp.exe",
        "application/pdf",
        PDF.to_vec(),
    )
    .await
    .expect(201);
    assert_eq!(r.body["name"], "合同fdp.exe", "no path, no direction override");
}

async fn the_platform_document_describes_the_file_routes(b: Backend) {
    let app = spawn(b).await;
    let spec = app.get("/api/v1/openapi.json").await.expect(200).body;
    let upload = &spec["paths"][FILES]["post"];
    assert!(
        upload["requestBody"]["content"]["multipart/form-data"].is_object(),
        "{upload}"
    );
    for code in ["201", "400", "413"] {
        assert!(upload["responses"][code].is_object(), "{code}: {upload}");
    }
    assert!(spec["paths"]["/api/v1/files/{id}"]["get"].is_object());
    assert!(spec["paths"]["/api/v1/files/{id}/meta"]["get"].is_object());
}

on_both!(
    the_content_type_comes_from_the_bytes_not_from_what_the_client_declares,
    a_chinese_file_name_round_trips_and_paths_are_cut_off,
    the_platform_document_describes_the_file_routes,
);

// ---------------------------------------------------------------------------------------------
// Attachment fields
// ---------------------------------------------------------------------------------------------

const ORDERS: &str = "/api/v1/data/shop/order";

fn shop() -> Value {
    json!({
        "name": "shop", "label": {"zh": "商店", "en": "Shop"},
        "entities": [{"name": "order", "label": {"zh": "订单", "en": "Order"}, "fields": [
            {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
            {"name": "receipts", "label": {"zh": "签收单", "en": "Receipts"}, "type": "attachment",
             "accept": ["application/pdf", "image/*"], "max_files": 2},
            {"name": "anything", "label": {"en": "Anything"}, "type": "attachment"}
        ]}]
    })
}

/// What an attachment holds for an uploaded file.
fn attached(f: &Value) -> Value {
    json!({
        "id": f["id"], "name": f["name"], "size": f["size"],
        "content_type": f["content_type"], "sha256": f["sha256"]
    })
}

async fn count_orders(app: &TestApp) -> i64 {
    app.get(&format!("{ORDERS}?count=true")).await.expect(200).body["total"]
        .as_i64()
        .expect("total")
}

async fn attachment_fields_store_and_answer_the_files_metadata(b: Backend) {
    let app = spawn(b).await;
    app.create_app(shop()).await;
    let pdf = upload(&app, "签收单.pdf", "application/pdf", PDF.to_vec())
        .await
        .expect(201)
        .body;
    let img = upload(&app, "photo.png", "image/png", png()).await.expect(201).body;

    let created = app
        .create(
            "shop",
            "order",
            json!({"title": "A", "receipts": [pdf["id"], img["id"]]}),
        )
        .await;
    assert_eq!(created["receipts"], json!([attached(&pdf), attached(&img)]));
    assert!(created.get("anything").is_none_or(Value::is_null), "{created}");
    let id = s(&created["id"]).to_string();
    let read = app.get(&format!("{ORDERS}/{id}")).await.expect(200).body;
    assert_eq!(read["receipts"], created["receipts"]);
    let listed = app.get(ORDERS).await.expect(200).body;
    assert_eq!(listed["data"][0]["receipts"], created["receipts"]);

    // A record read may be sent back as it is; objects count by their id.
    let mut back = read.clone();
    back["receipts"] = json!([read["receipts"][1]]);
    let updated = app.patch(&format!("{ORDERS}/{id}"), back).await.expect(200).body;
    assert_eq!(updated["receipts"], json!([attached(&img)]));
    let stored = app.get(&format!("{ORDERS}/{id}")).await.expect(200).body;
    assert_eq!(stored["receipts"], json!([attached(&img)]));

    // Empty is null: `is_null` finds records without files; nothing else filters or sorts.
    app.create("shop", "order", json!({"title": "B", "receipts": []})).await;
    let q = |f: Value| format!("{ORDERS}?filter={}", urlencode(&f.to_string()));
    let none = app
        .get(&q(json!({"field": "receipts", "op": "is_null", "value": true})))
        .await
        .expect(200);
    assert_eq!(none.body["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(none.body["data"][0]["title"], "B");
    let some = app
        .get(&q(json!({"field": "receipts", "op": "is_null", "value": false})))
        .await
        .expect(200);
    assert_eq!(some.body["data"][0]["title"], "A");
    let r = app
        .get(&q(json!({"field": "receipts", "op": "eq", "value": s(&img["id"])})))
        .await
        .expect_problem(400, "bad_request");
    assert_error(&r, "receipts", "op_not_allowed");
    let r = app
        .get(&format!("{ORDERS}?sort=receipts"))
        .await
        .expect_problem(400, "bad_request");
    assert_error(&r, "sort", "not_sortable");

    // The app's document describes the field: what is answered, and both forms a write takes.
    let doc = app.get("/api/v1/apps/shop/openapi.json").await.expect(200).body;
    let field = &doc["components"]["schemas"]["Order"]["properties"]["receipts"];
    assert_eq!(field["maxItems"], 2, "{field}");
    let valid = |name: &str, instance: &Value| {
        let schema = json!({"$ref": format!("#/components/schemas/{name}"), "components": doc["components"]});
        let v = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&schema)
            .expect("schema compiles");
        let errors: Vec<String> = v.iter_errors(instance).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{name}: {errors:?}\n{instance:#}");
    };
    valid("Order", &created);
    valid("Order", &stored);
    valid(
        "OrderCreate",
        &json!({"title": "A", "receipts": [pdf["id"], img["id"]]}),
    );
    valid(
        "OrderUpdate",
        &json!({"receipts": created["receipts"], "anything": null}),
    );
}

async fn unknown_wrong_type_and_too_many_files_answer_422_and_write_nothing(b: Backend) {
    let app = spawn(b).await;
    app.create_app(shop()).await;
    let pdf = upload(&app, "a.pdf", "application/pdf", PDF.to_vec())
        .await
        .expect(201)
        .body;
    let img = upload(&app, "b.png", "image/png", png()).await.expect(201).body;
    let csv = upload(&app, "c.csv", "text/csv", b"a,b\n".to_vec())
        .await
        .expect(201)
        .body;
    let other = app.new_tenant("other", "boss@other.example").await;
    let theirs = upload_as(&app, Some(&other), "t.pdf", "application/pdf", PDF.to_vec())
        .await
        .expect(201)
        .body;
    let unknown = "0190c0de-0000-7000-8000-000000000001";

    for (receipts, code) in [
        (json!([pdf["id"], unknown]), "not_found"),
        (json!([theirs["id"]]), "not_found"),
        (json!([csv["id"]]), "file_type"),
        (json!([pdf["id"], img["id"], csv["id"]]), "max_files"),
        (json!(["nope"]), "type"),
        (json!(s(&pdf["id"])), "type"),
    ] {
        let r = app
            .post(ORDERS, json!({"title": "x", "receipts": receipts}))
            .await
            .expect_problem(422, "validation_failed");
        assert_error(&r, "receipts", code);
    }
    // All problems of a request come back together, and any type goes where nothing is accepted.
    let r = app
        .post(
            ORDERS,
            json!({"title": "x", "receipts": [csv["id"]], "anything": [unknown, csv["id"]]}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "receipts", "file_type");
    assert_error(&r, "anything", "not_found");
    assert_eq!(r.errors().len(), 2, "{}", r.text);
    assert_eq!(count_orders(&app).await, 0, "nothing written");

    // The same checks on updates and in bulk.
    let order = app
        .create("shop", "order", json!({"title": "ok", "receipts": [pdf["id"]]}))
        .await;
    let path = format!("{ORDERS}/{}", s(&order["id"]));
    let r = app
        .patch(&path, json!({"receipts": [csv["id"]]}))
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "receipts", "file_type");
    let r = app
        .post(
            &format!("{ORDERS}/bulk"),
            json!({"create": [{"title": "y", "receipts": [pdf["id"]]}, {"title": "z", "receipts": [unknown]}]}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "create[1].receipts", "not_found");
    assert_eq!(count_orders(&app).await, 1);
    let stored = app.get(&path).await.expect(200).body;
    assert_eq!(stored["receipts"], json!([attached(&pdf)]));
    assert_eq!(stored["version"], 1);
}

async fn attachment_fields_convert_to_nothing_else_and_refuse_options_of_other_types(b: Backend) {
    let app = spawn(b).await;
    app.create_app(shop()).await;
    let pdf = upload(&app, "a.pdf", "application/pdf", PDF.to_vec())
        .await
        .expect(201)
        .body;
    app.create("shop", "order", json!({"title": "ok", "receipts": [pdf["id"]]}))
        .await;
    let field = "/api/v1/apps/shop/entities/order/fields";
    let r = app
        .patch(
            &format!("{field}/receipts"),
            json!({"type": "json", "accept": null, "max_files": null}),
        )
        .await
        .expect_problem(409, "conflict");
    assert!(r.text.contains("1 record"), "{}", r.text);
    let r = app
        .patch(&format!("{field}/title"), json!({"type": "attachment"}))
        .await
        .expect_problem(409, "conflict");
    assert!(r.text.contains("1 record"), "{}", r.text);
    let r = app
        .post(
            field,
            json!({"name": "note", "label": {"en": "N"}, "type": "text", "accept": ["image/*"]}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "accept", "not_applicable");
    let r = app
        .post(
            field,
            json!({"name": "many", "label": {"en": "M"}, "type": "attachment", "max_files": 101}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "max_files", "schema_maximum");
    // Narrowing what a field accepts is metadata; stored values stay as they are.
    app.patch(&format!("{field}/receipts"), json!({"accept": ["image/*"]}))
        .await
        .expect(200);
    let listed = app.get(ORDERS).await.expect(200).body;
    assert_eq!(listed["data"][0]["receipts"], json!([attached(&pdf)]));
}

on_both!(
    attachment_fields_store_and_answer_the_files_metadata,
    unknown_wrong_type_and_too_many_files_answer_422_and_write_nothing,
    attachment_fields_convert_to_nothing_else_and_refuse_options_of_other_types,
);

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
