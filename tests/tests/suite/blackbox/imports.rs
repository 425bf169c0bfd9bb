//! Record imports (issue 16, point 7) over HTTP on SQLite and PostgreSQL: files as Chinese Excel
//! saves them (GBK CSV, UTF-16 text, XLSX with date cells), cells as people type them, the
//! ambiguous-date refusal, dry runs with per-row problems, skip-invalid and all-or-nothing,
//! upsert by a unique field, and the importer's rights, row scope and hidden fields.

use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, TestApp, on_both, spawn};

/// Customers titled by name; deals with a unique code. Reps create and read their own deals
/// without `secret`; viewers only read.
fn crm() -> Value {
    json!({
        "name": "crm", "label": {"en": "CRM", "zh": "客户管理"},
        "entities": [
            {"name": "customer", "label": {"en": "Customer", "zh": "客户"}, "title_field": "name", "fields": [
                {"name": "name", "label": {"en": "Name", "zh": "名称"}, "type": "text"}]},
            {"name": "deal", "label": {"en": "Deal", "zh": "商机"}, "title_field": "title", "fields": [
                {"name": "code", "label": {"en": "Code", "zh": "编码"}, "type": "text", "unique": true},
                {"name": "title", "label": {"en": "Title", "zh": "标题"}, "type": "text", "required": true},
                {"name": "region", "label": {"en": "Region", "zh": "区域"}, "type": "single_select", "options": [
                    {"value": "north", "label": {"en": "North", "zh": "华北"}},
                    {"value": "south", "label": {"en": "South", "zh": "华南"}}]},
                {"name": "customer", "label": {"en": "Customer", "zh": "客户"}, "type": "relation", "target": "customer"},
                {"name": "amount", "label": {"en": "Amount", "zh": "金额"}, "type": "currency", "currency": "CNY"},
                {"name": "qty", "label": {"en": "Qty", "zh": "数量"}, "type": "integer"},
                {"name": "won", "label": {"en": "Won", "zh": "赢单"}, "type": "boolean"},
                {"name": "signed", "label": {"en": "Signed", "zh": "签约日"}, "type": "date"},
                {"name": "met_at", "label": {"en": "Met at", "zh": "会面时间"}, "type": "datetime"},
                {"name": "secret", "label": {"en": "Secret", "zh": "机密"}, "type": "integer"}]}
        ],
        "roles": [
            {"name": "rep", "label": {"en": "Rep"}, "permissions": {
                "customer": {"read": true},
                "deal": {"create": true, "read": true, "update": true, "scope": "own", "fields": {"secret": "hidden"}}}},
            {"name": "viewer", "label": {"en": "Viewer"}, "permissions": {
                "customer": {"read": true}, "deal": {"read": true}}}
        ]
    })
}

const IMPORTS: &str = "/api/v1/data/crm/deal/imports";

async fn setup(app: &TestApp) {
    app.create_app(crm()).await;
    app.create("crm", "customer", json!({"name": "华东大客户"})).await;
    app.create("crm", "customer", json!({"name": "Beta Ltd"})).await;
}

/// Starts an import as `token` and waits for it to end; answers it.
async fn import(app: &TestApp, token: &str, body: Value) -> Value {
    let r = app
        .call_as(Some(token), reqwest::Method::POST, IMPORTS, Some(body))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let path = format!("{IMPORTS}/{id}");
    for _ in 0..200 {
        let r = app.call_as(Some(token), reqwest::Method::GET, &path, None).await;
        assert_eq!(r.status, 200, "{}", r.text);
        if matches!(r.body["status"].as_str(), Some("done" | "failed" | "cancelled")) {
            return r.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("import {id} never ended");
}

async fn errors(app: &TestApp, token: &str, id: &Value) -> Vec<Value> {
    let r = app
        .call_as(
            Some(token),
            reqwest::Method::GET,
            &format!("{IMPORTS}/{}/errors", id.as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

async fn deals(app: &TestApp) -> Vec<Value> {
    let r = app.get("/api/v1/data/crm/deal?sort=code&limit=1000").await.expect(200);
    r.body["data"].as_array().unwrap().clone()
}

fn gbk(text: &str) -> Vec<u8> {
    encoding_rs::GBK.encode(text).0.into_owned()
}

async fn gbk_csv_dry_run_then_skip_invalid(backend: Backend) {
    let app = spawn(backend).await;
    setup(&app).await;
    let csv = "编码,标题,区域,客户,金额,数量,赢单,签约日,备注\n\
               D1,北方一号,华北,华东大客户,\"￥1,200.50\",\"1,234\",是,2026年3月5日,x\n\
               D2,South one,South,Beta Ltd,99,2,否,2026/1/31,\n\
               D3,坏的,西北,没有这个客户,abc,1.5,也许,2026年2月30日,\n\
               ,,,,,,,,\n";
    let file = app.upload(&app.token, "deals.csv", "text/csv", &gbk(csv)).await;

    let dry = import(&app, &app.token, json!({"file": file, "dry_run": true})).await;
    assert_eq!(dry["status"], "done", "{dry}");
    assert_eq!(
        (dry["total"].as_i64(), dry["inserted"].as_i64(), dry["failed"].as_i64()),
        (Some(4), Some(2), Some(1))
    );
    assert!(deals(&app).await.is_empty(), "a dry run writes nothing");
    let cols: Vec<(Value, Value)> = dry["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["field"].clone(), c["ignored"].clone()))
        .collect();
    assert_eq!(cols[0], (json!("code"), Value::Null));
    assert_eq!(cols[8], (Value::Null, json!("unknown")), "备注 is no field");
    // Every bad cell of row 4 is named with its column, value and both languages.
    let es = errors(&app, &app.token, &dry["id"]).await;
    let got: Vec<(i64, &str, &str, &str)> = es
        .iter()
        .map(|e| {
            (
                e["row"].as_i64().unwrap(),
                e["column"].as_str().unwrap(),
                e["value"].as_str().unwrap(),
                e["code"].as_str().unwrap(),
            )
        })
        .collect();
    for want in [
        (4, "区域", "西北", "option"),
        (4, "金额", "abc", "type"),
        (4, "数量", "1.5", "type"),
        (4, "赢单", "也许", "type"),
        (4, "签约日", "2026年2月30日", "type"),
        (4, "客户", "没有这个客户", "no_match"),
    ] {
        assert!(got.contains(&want), "{want:?} missing from {got:?}");
    }
    assert!(es.iter().all(|e| !e["message_zh"].as_str().unwrap().is_empty()));
    // The error file opens in Excel: a BOM, a header, one line per problem.
    let r = app
        .client
        .get(format!(
            "{}{IMPORTS}/{}/errors.csv",
            app.base,
            dry["id"].as_str().unwrap()
        ))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = String::from_utf8(r.bytes().await.unwrap().to_vec()).unwrap();
    assert!(text.starts_with("\u{feff}row,column,value,code,message,说明"), "{text}");
    assert_eq!(text.lines().count(), es.len() + 1);

    let real = import(&app, &app.token, json!({"file": file, "mode": "skip_invalid"})).await;
    assert_eq!(real["status"], "done", "{real}");
    assert_eq!((real["inserted"].as_i64(), real["failed"].as_i64()), (Some(2), Some(1)));
    let ds = deals(&app).await;
    assert_eq!(ds.len(), 2);
    assert_eq!(ds[0]["amount"], json!({"amount": 1200.5, "currency": "CNY"}));
    assert_eq!(
        (&ds[0]["qty"], &ds[0]["won"], &ds[0]["signed"], &ds[0]["region"]),
        (&json!(1234), &json!(true), &json!("2026-03-05"), &json!("north"))
    );
    assert_eq!(
        (&ds[1]["won"], &ds[1]["signed"], &ds[1]["region"]),
        (&json!(false), &json!("2026-01-31"), &json!("south"))
    );
    // The relation is the customer named by its title; the write made its `created` event.
    let customer = app
        .get(&format!(
            "/api/v1/data/crm/customer/{}",
            ds[0]["customer"].as_str().unwrap()
        ))
        .await
        .expect(200);
    assert_eq!(customer.body["name"], "华东大客户");
    let h = app
        .get(&format!(
            "/api/v1/data/crm/deal/{}/history",
            ds[0]["id"].as_str().unwrap()
        ))
        .await
        .expect(200);
    assert!(h.text.contains("created"), "{}", h.text);
}

async fn utf16_text_and_chinese_excel_workbooks(backend: Backend) {
    let app = spawn(backend).await;
    setup(&app).await;
    let mut le = vec![0xFF, 0xFE];
    for u in "Code\tTitle\tSigned\r\nU1\t宽字符\t2026-03-05\r\n".encode_utf16() {
        le.extend(u.to_le_bytes());
    }
    let file = app.upload(&app.token, "wide.txt", "text/plain", &le).await;
    let i = import(&app, &app.token, json!({"file": file})).await;
    assert_eq!(
        (i["status"].as_str(), i["inserted"].as_i64()),
        (Some("done"), Some(1)),
        "{i}"
    );

    // A workbook as Chinese Excel writes it: a date cell with a Chinese format, money as a
    // number with a ￥ format, text with ￥ typed in, 是/否.
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let date = rust_xlsxwriter::Format::new().set_num_format("yyyy\"年\"m\"月\"d\"日\"");
    let money = rust_xlsxwriter::Format::new().set_num_format("\"￥\"#,##0.00");
    for (c, h) in ["编码", "标题", "签约日", "金额", "赢单", "数量"].iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    let d = rust_xlsxwriter::ExcelDateTime::from_ymd(2026, 3, 5).unwrap();
    sheet.write_string(1, 0, "X1").unwrap();
    sheet.write_string(1, 1, "表格一").unwrap();
    sheet.write_datetime_with_format(1, 2, &d, &date).unwrap();
    sheet.write_number_with_format(1, 3, 1200.5, &money).unwrap();
    sheet.write_string(1, 4, "是").unwrap();
    sheet.write_number(1, 5, 7).unwrap();
    sheet.write_string(2, 0, "X2").unwrap();
    sheet.write_string(2, 1, "表格二").unwrap();
    sheet.write_string(2, 2, "2026年4月1日").unwrap();
    sheet.write_string(2, 3, "￥3,000").unwrap();
    sheet.write_string(2, 4, "否").unwrap();
    let bytes = book.save_to_buffer().unwrap();
    let file = app
        .upload(
            &app.token,
            "中文.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            &bytes,
        )
        .await;
    let i = import(&app, &app.token, json!({"file": file})).await;
    assert_eq!(
        (i["status"].as_str(), i["inserted"].as_i64()),
        (Some("done"), Some(2)),
        "{i}"
    );
    let ds = deals(&app).await;
    let x1 = ds.iter().find(|d| d["code"] == "X1").unwrap();
    assert_eq!(
        (&x1["signed"], &x1["amount"]["amount"], &x1["won"], &x1["qty"]),
        (&json!("2026-03-05"), &json!(1200.5), &json!(true), &json!(7))
    );
    let x2 = ds.iter().find(|d| d["code"] == "X2").unwrap();
    assert_eq!(
        (&x2["signed"], &x2["amount"]["amount"], &x2["won"]),
        (&json!("2026-04-01"), &json!(3000.0), &json!(false))
    );
}

async fn ambiguous_dates_wait_for_the_order(backend: Backend) {
    let app = spawn(backend).await;
    setup(&app).await;
    let csv = "code,title,signed\nA1,one,05/03/2026\nA2,two,06/04/2026\n";
    let file = app.upload(&app.token, "d.csv", "text/csv", csv.as_bytes()).await;
    let i = import(&app, &app.token, json!({"file": file})).await;
    assert_eq!(i["status"], "failed", "{i}");
    assert_eq!(i["error"]["code"], "ambiguous_date");
    assert!(i["error"]["detail"].as_str().unwrap().contains("'signed'"), "{i}");
    assert!(deals(&app).await.is_empty());
    let i = import(&app, &app.token, json!({"file": file, "date_order": "dmy"})).await;
    assert_eq!(i["status"], "done", "{i}");
    assert_eq!(i["date_orders"], json!({"signed": "dmy"}));
    assert_eq!(deals(&app).await[0]["signed"], "2026-03-05");
    // One day over 12 decides the column: no order needed.
    let csv = "code,title,signed\nB1,one,03/05/2026\nB2,two,04/25/2026\n";
    let file = app.upload(&app.token, "e.csv", "text/csv", csv.as_bytes()).await;
    let i = import(&app, &app.token, json!({"file": file})).await;
    assert_eq!(
        (i["status"].as_str(), &i["date_orders"]),
        (Some("done"), &json!({"signed": "mdy"})),
        "{i}"
    );
}

async fn upsert_by_key_and_all_or_nothing(backend: Backend) {
    let app = spawn(backend).await;
    setup(&app).await;
    app.create("crm", "deal", json!({"code": "K1", "title": "old", "qty": 1}))
        .await;
    let csv = "code,title,qty\nK1,renamed,5\nK2,new,6\n";
    let file = app.upload(&app.token, "u.csv", "text/csv", csv.as_bytes()).await;
    let i = import(
        &app,
        &app.token,
        json!({"file": file, "action": "upsert", "key": "code"}),
    )
    .await;
    assert_eq!(
        (i["inserted"].as_i64(), i["updated"].as_i64()),
        (Some(1), Some(1)),
        "{i}"
    );
    let ds = deals(&app).await;
    assert_eq!(
        (ds.len(), &ds[0]["title"], &ds[0]["qty"], &ds[0]["version"]),
        (2, &json!("renamed"), &json!(5), &json!(2))
    );
    // Update only: a key matching nothing is a refused row.
    let csv = "code,qty\nK2,60\nK9,1\n";
    let file = app.upload(&app.token, "v.csv", "text/csv", csv.as_bytes()).await;
    let i = import(
        &app,
        &app.token,
        json!({"file": file, "action": "update", "key": "code"}),
    )
    .await;
    assert_eq!(
        (i["status"].as_str(), &i["error"]["code"]),
        (Some("failed"), &json!("invalid_rows")),
        "{i}"
    );
    assert_eq!(
        deals(&app).await[1]["qty"],
        6,
        "all or nothing: K2 is not updated either"
    );
    let e = errors(&app, &app.token, &i["id"]).await;
    assert_eq!(
        (e[0]["row"].as_i64(), e[0]["code"].as_str()),
        (Some(3), Some("no_match"))
    );
    // A duplicate of an existing unique value and one within the file, in a dry run.
    let csv = "code,title\nK1,dup of existing\nN1,fine\nN1,dup in file\n";
    let file = app.upload(&app.token, "w.csv", "text/csv", csv.as_bytes()).await;
    let i = import(&app, &app.token, json!({"file": file, "dry_run": true})).await;
    let codes: Vec<String> = errors(&app, &app.token, &i["id"])
        .await
        .iter()
        .map(|e| e["code"].as_str().unwrap().to_string())
        .collect();
    assert!(codes.contains(&"duplicate".to_string()), "{codes:?}");
    let real = import(&app, &app.token, json!({"file": file, "mode": "skip_invalid"})).await;
    assert_eq!(
        (real["inserted"].as_i64(), real["failed"].as_i64()),
        (Some(1), Some(2)),
        "{real}"
    );
    let codes: Vec<String> = errors(&app, &app.token, &real["id"])
        .await
        .iter()
        .map(|e| e["code"].as_str().unwrap().to_string())
        .collect();
    assert!(codes.iter().any(|c| c == "unique" || c == "conflict"), "{codes:?}");
}

async fn the_importer_rights_scope_and_hidden_fields(backend: Backend) {
    let app = spawn(backend).await;
    setup(&app).await;
    let (_, rep) = app.user("crm", "rep", Some("rep")).await;
    let (_, viewer) = app.user("crm", "viewer", Some("viewer")).await;
    let theirs = app
        .create(
            "crm",
            "deal",
            json!({"code": "ADMIN1", "title": "admin's", "secret": 42}),
        )
        .await;
    // A hidden field's column is as unknown as a column of no field: ignored, never named.
    let csv = "code,title,secret,nosuch\nR1,mine,7,x\n";
    let file = app.upload(&rep, "r.csv", "text/csv", csv.as_bytes()).await;
    let i = import(&app, &rep, json!({"file": file})).await;
    assert_eq!(
        (i["status"].as_str(), i["inserted"].as_i64()),
        (Some("done"), Some(1)),
        "{i}"
    );
    let ignored: Vec<&Value> = i["columns"].as_array().unwrap().iter().map(|c| &c["ignored"]).collect();
    assert_eq!(
        ignored,
        [&Value::Null, &Value::Null, &json!("unknown"), &json!("unknown")]
    );
    let mine = app.get("/api/v1/data/crm/deal?filter=%7B%22field%22%3A%22code%22%2C%22op%22%3A%22eq%22%2C%22value%22%3A%22R1%22%7D").await.expect(200);
    assert_eq!(
        mine.body["data"][0]["secret"],
        Value::Null,
        "the hidden column was not written"
    );
    // Mapping onto the hidden field answers as mapping onto a field that does not exist.
    let hidden = app
        .call_as(
            Some(&rep),
            reqwest::Method::POST,
            IMPORTS,
            Some(json!({"file": file, "columns": {"nosuch": "secret"}})),
        )
        .await;
    let missing = app
        .call_as(
            Some(&rep),
            reqwest::Method::POST,
            IMPORTS,
            Some(json!({"file": file, "columns": {"nosuch": "zzz"}})),
        )
        .await;
    assert_eq!(hidden.status, 422, "{}", hidden.text);
    assert_eq!(
        hidden.text.replace("secret", "zzz"),
        missing.text.replace(
            hidden.body["request_id"].as_str().unwrap_or("-"),
            missing.body["request_id"].as_str().unwrap_or("-")
        )
    );
    // Updating a record out of the rep's scope by its key: no such record for them.
    let csv = format!("id,title\n{},stolen\n", theirs["id"].as_str().unwrap());
    let file = app.upload(&rep, "s.csv", "text/csv", csv.as_bytes()).await;
    let i = import(
        &app,
        &rep,
        json!({"file": file, "action": "update", "key": "id", "mode": "skip_invalid"}),
    )
    .await;
    assert_eq!((i["updated"].as_i64(), i["failed"].as_i64()), (Some(0), Some(1)), "{i}");
    let after = app
        .get(&format!("/api/v1/data/crm/deal/{}", theirs["id"].as_str().unwrap()))
        .await
        .expect(200);
    assert_eq!(after.body["title"], "admin's");
    // Creating a record owned by someone else is outside an own scope.
    let csv = "code,title,owner\nR2,for admin,admin@example.com\n";
    let file = app.upload(&rep, "o.csv", "text/csv", csv.as_bytes()).await;
    let i = import(&app, &rep, json!({"file": file, "mode": "skip_invalid"})).await;
    assert_eq!(
        (i["inserted"].as_i64(), i["failed"].as_i64()),
        (Some(0), Some(1)),
        "{i}"
    );
    // A reader may not import; another user's import is not theirs to see.
    let r = app
        .call_as(
            Some(&viewer),
            reqwest::Method::POST,
            IMPORTS,
            Some(json!({"file": file})),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "permission_denied"), "{}", r.text);
    let r = app
        .call_as(
            Some(&viewer),
            reqwest::Method::GET,
            &format!("{IMPORTS}/{}", i["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
    let r = app
        .call_as(
            Some(&viewer),
            reqwest::Method::GET,
            &format!("{IMPORTS}/{}/errors", i["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
}

async fn bad_requests_write_nothing(backend: Backend) {
    let app = spawn(backend).await;
    setup(&app).await;
    let file = app.upload(&app.token, "x.csv", "text/csv", b"foo,bar\n1,2\n").await;
    for (body, status, code) in [
        (json!({"file": file}), 422, "validation_failed"),
        (
            json!({"file": "00000000-0000-0000-0000-000000000000"}),
            422,
            "validation_failed",
        ),
        (json!({"file": file, "action": "upsert"}), 422, "validation_failed"),
        (json!({"file": file, "delimiter": "ab"}), 422, "validation_failed"),
        (json!({"file": file, "nope": 1}), 422, "validation_failed"),
    ] {
        let r = app.post(IMPORTS, body.clone()).await;
        assert_eq!((r.status.as_u16(), r.code()), (status, code), "{body}: {}", r.text);
    }
    let r = app.post(IMPORTS, json!({"file": file})).await;
    assert!(r.text.contains("no_columns"), "{}", r.text);
    let r = app.get("/api/v1/data/crm/deal/imports").await.expect(200);
    assert_eq!(r.body, json!([]));
}

/// An export read back by an import gives the same records: labels, titles, money with its
/// code, yes/no, texts the export kept from running as formulas (`'=…`), and datetimes at the
/// wall clock of the tenant's zone both ways.
async fn an_export_imports_back_to_the_same_records(backend: Backend) {
    let app = spawn(backend).await;
    setup(&app).await;
    app.put("/api/v1/settings", json!({"time_zone": "Asia/Shanghai"}))
        .await
        .expect(200);
    let customers = app.get("/api/v1/data/crm/customer?sort=name").await.expect(200);
    let beta = customers.body["data"][0]["id"].clone();
    for (code, region, won, at) in [
        ("E1", "north", true, "2026-03-05T06:30:00Z"),
        ("E2", "south", false, "2026-12-31T20:00:05Z"),
    ] {
        app.create(
            "crm",
            "deal",
            json!({"code": code, "title": format!("=出口 {code}"), "region": region, "customer": beta, "amount": "1200.5",
                   "qty": 3, "won": won, "signed": "2026-03-05", "met_at": at, "secret": 1}),
        )
        .await;
    }
    let before = deals(&app).await;
    let r = app
        .client
        .get(format!(
            "{}/api/v1/data/crm/deal/export?format=csv&lang=zh&sort=code",
            app.base
        ))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    let file = r.bytes().await.unwrap().to_vec();
    let text = String::from_utf8(file.clone()).unwrap();
    assert!(
        text.contains("2026-03-05 14:30:00") && text.contains("2027-01-01 04:00:05"),
        "local wall clock: {text}"
    );
    for d in &before {
        app.delete(&format!("/api/v1/data/crm/deal/{}", d["id"].as_str().unwrap()))
            .await
            .expect(204);
    }
    let id = app.upload(&app.token, "deal.csv", "text/csv", &file).await;
    let i = import(&app, &app.token, json!({"file": id})).await;
    assert_eq!(
        (i["status"].as_str(), i["inserted"].as_i64()),
        (Some("done"), Some(2)),
        "{i}"
    );
    let after = deals(&app).await;
    for (b, a) in before.iter().zip(&after) {
        for f in [
            "code", "title", "region", "customer", "amount", "qty", "won", "signed", "met_at", "secret",
        ] {
            assert_eq!(a[f], b[f], "{f}");
        }
    }
}

/// Imported rows are created as a single create is: each enters the pipeline's first stage with
/// its SLA due time, leaves a created event in its history, and rules on creation run for it.
async fn imported_rows_enter_the_pipeline_and_trigger_rules(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(json!({
        "name": "flow", "label": {"en": "Flow"},
        "entities": [{"name": "lead", "label": {"en": "Lead"}, "fields": [
            {"name": "title", "label": {"en": "Title"}, "type": "text"},
            {"name": "note", "label": {"en": "Note"}, "type": "text"},
            {"name": "phone", "label": {"en": "Phone"}, "type": "text",
             "required_if": {"field": "title", "op": "eq", "value": "l4"}}],
            "pipeline": {
                "stages": [{"key": "new", "label": {"en": "New"}, "sla": {"hours": 2}},
                           {"key": "done", "label": {"en": "Done"}, "kind": "won"}],
                "transitions": [{"from": ["new"], "to": "done"}]}}],
        "rules": [{"name": "tag", "trigger": {"type": "record_created", "entity": "lead"},
                   "actions": [{"type": "set_fields", "values": {"note": "seen {{record.title}}"}}]}]
    }))
    .await;
    // l4 needs a phone (a condition in the filter language) and has none: refused alone.
    let csv = "title\nl1\nl2\nl3\nl4\n";
    let file = app.upload(&app.token, "leads.csv", "text/csv", csv.as_bytes()).await;
    let r = app
        .post(
            "/api/v1/data/flow/lead/imports",
            json!({"file": file, "mode": "skip_invalid"}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let path = format!("/api/v1/data/flow/lead/imports/{}", r.body["id"].as_str().unwrap());
    let done = app.eventually(&path, |i| i["status"] == "done").await;
    assert_eq!(
        (done["inserted"].as_i64(), done["failed"].as_i64()),
        (Some(3), Some(1)),
        "{done}"
    );
    let refused = app.get(&format!("{path}/errors")).await.expect(200);
    assert!(
        refused.text.contains("\"phone\"") && refused.text.contains("\"required\""),
        "{}",
        refused.text
    );
    let leads = app
        .eventually("/api/v1/data/flow/lead?sort=title", |l| {
            l["data"].as_array().is_some_and(|a| {
                a.len() == 3
                    && a.iter()
                        .all(|x| x["note"].as_str().is_some_and(|n| n.starts_with("seen")))
            })
        })
        .await;
    for (i, l) in leads["data"].as_array().unwrap().iter().enumerate() {
        assert_eq!(l["stage"], "new", "{l}");
        assert!(l["stage_due_at"].is_string(), "the SLA's due time: {l}");
        assert_eq!(l["note"], json!(format!("seen l{}", i + 1)));
    }
    let id = leads["data"][0]["id"].as_str().unwrap();
    let history = app
        .get(&format!("/api/v1/data/flow/lead/{id}/history"))
        .await
        .expect(200);
    assert!(history.text.contains("\"created\""), "{}", history.text);
    let f = app.post("/api/v1/data/flow/lead/funnel", json!({})).await.expect(200);
    assert_eq!(f.body["stages"][0]["entered"], json!(3), "{}", f.text);
}

/// A batch's references are looked up together (one statement per related entity, one for
/// users): a record outside the importer's read scope answers as one that does not exist, as
/// does an unknown user, and neither lets the rest of a batch through unchecked.
async fn references_outside_the_scope_are_not_found(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(json!({
        "name": "ref", "label": {"en": "Refs"},
        "entities": [
            {"name": "account", "label": {"en": "Account"}, "title_field": "name", "fields": [
                {"name": "name", "label": {"en": "Name"}, "type": "text"}]},
            {"name": "deal", "label": {"en": "Deal"}, "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true},
                {"name": "account", "label": {"en": "Account"}, "type": "relation", "target": "account"},
                {"name": "buddy", "label": {"en": "Buddy"}, "type": "user"}]}
        ],
        "roles": [{"name": "rep", "label": {"en": "Rep"}, "permissions": {
            "account": {"read": true, "scope": "own"},
            "deal": {"create": true, "read": true, "scope": "own"}}}]
    }))
    .await;
    let (rep_id, rep) = app.user("ref", "rep", Some("rep")).await;
    let theirs = app.create("ref", "account", json!({"name": "Admin's"})).await;
    let mine = app
        .create("ref", "account", json!({"name": "Rep's", "owner": rep_id}))
        .await;
    let (theirs, mine) = (theirs["id"].as_str().unwrap(), mine["id"].as_str().unwrap());
    let nobody = "01900000-0000-7000-8000-000000000000";
    let csv = format!(
        "title,account,buddy\n\
         ok one,{mine},rep@example.com\n\
         theirs,{theirs},\n\
         nowhere,{nobody},\n\
         no buddy,{mine},{nobody}\n\
         ok two,,\n"
    );
    let file = app.upload(&rep, "refs.csv", "text/csv", csv.as_bytes()).await;
    let path = "/api/v1/data/ref/deal/imports";
    let run = |body: Value| {
        let (app, rep) = (&app, &rep);
        async move {
            let r = app.call_as(Some(rep), reqwest::Method::POST, path, Some(body)).await;
            assert_eq!(r.status, 202, "{}", r.text);
            let at = format!("{path}/{}", r.body["id"].as_str().unwrap());
            for _ in 0..200 {
                let r = app.call_as(Some(rep), reqwest::Method::GET, &at, None).await;
                if matches!(r.body["status"].as_str(), Some("done" | "failed")) {
                    let es = app
                        .call_as(Some(rep), reqwest::Method::GET, &format!("{at}/errors"), None)
                        .await;
                    return (r.body, es.body["items"].as_array().cloned().unwrap_or_default());
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("the import never ended");
        }
    };
    // All or nothing: the refused rows refuse the file.
    let (all, _) = run(json!({"file": file})).await;
    assert_eq!(all["status"], "failed", "{all}");
    let listed = app.get("/api/v1/data/ref/deal").await.expect(200);
    assert_eq!(listed.body["data"], json!([]), "nothing was written");
    // Skipping them: the two good rows go in, each refused one is named at its cell.
    let (skip, es) = run(json!({"file": file, "mode": "skip_invalid"})).await;
    assert_eq!(
        (
            skip["status"].as_str(),
            skip["inserted"].as_i64(),
            skip["failed"].as_i64()
        ),
        (Some("done"), Some(2), Some(3)),
        "{skip}"
    );
    let mut got: Vec<(i64, String, String)> = es
        .iter()
        .map(|e| {
            (
                e["row"].as_i64().unwrap(),
                e["column"].as_str().unwrap().to_string(),
                e["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let want = |row: i64, col: &str| (row, col.to_string(), "not_found".to_string());
    assert_eq!(got, [want(3, "account"), want(4, "account"), want(5, "buddy")]);
    let listed = app.get("/api/v1/data/ref/deal?sort=title").await.expect(200);
    let titles: Vec<&str> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["ok one", "ok two"]);
    assert_eq!(listed.body["data"][0]["account"], json!(mine));
    assert_eq!(listed.body["data"][0]["buddy"], json!(rep_id));
}

on_both!(
    imported_rows_enter_the_pipeline_and_trigger_rules,
    an_export_imports_back_to_the_same_records,
    gbk_csv_dry_run_then_skip_invalid,
    utf16_text_and_chinese_excel_workbooks,
    ambiguous_dates_wait_for_the_order,
    upsert_by_key_and_all_or_nothing,
    the_importer_rights_scope_and_hidden_fields,
    references_outside_the_scope_are_not_found,
    bad_requests_write_nothing
);
