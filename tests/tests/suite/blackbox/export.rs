//! Record export (issue 16, point 8) over HTTP on SQLite and PostgreSQL: CSV and XLSX files of
//! the list's rows under the caller's row scope and view, with the role's `export` right;
//! headers in the caller's language, options as labels, relations as their record's title.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
use reqwest::header::HeaderMap;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, Resp, TestApp, held_to_contract, on_both, spawn};

const PATH: &str = "/api/v1/data/crm/deal/export";

/// Customers (titled by their name) and deals pointing at them; reps read and export their own
/// deals without `secret`; viewers read every deal but may not export.
fn crm() -> Value {
    json!({
        "name": "crm", "label": {"en": "CRM", "zh": "客户管理"},
        "entities": [
            {"name": "customer", "label": {"en": "Customer", "zh": "客户"}, "title_field": "name", "fields": [
                {"name": "name", "label": {"en": "Name", "zh": "名称"}, "type": "text"}]},
            {"name": "deal", "label": {"en": "Deal", "zh": "商机"}, "title_field": "title", "fields": [
                {"name": "title", "label": {"en": "Title", "zh": "标题"}, "type": "text"},
                {"name": "region", "label": {"en": "Region", "zh": "区域"}, "type": "single_select", "options": [
                    {"value": "north", "label": {"en": "North", "zh": "华北"}},
                    {"value": "south", "label": {"en": "South", "zh": "华南"}}]},
                {"name": "customer", "label": {"en": "Customer", "zh": "客户"}, "type": "relation", "target": "customer"},
                {"name": "amount", "label": {"en": "Amount", "zh": "金额"}, "type": "currency", "currency": "CNY"},
                {"name": "qty", "label": {"en": "Qty"}, "type": "integer"},
                {"name": "won", "label": {"en": "Won", "zh": "赢单"}, "type": "boolean"},
                {"name": "signed", "label": {"en": "Signed", "zh": "签约日"}, "type": "date"},
                {"name": "secret", "label": {"en": "Secret", "zh": "机密"}, "type": "integer"}]}
        ],
        "roles": [
            {"name": "rep", "label": {"en": "Rep"}, "permissions": {
                "customer": {"read": true},
                "deal": {"create": true, "read": true, "export": true, "scope": "own", "fields": {"secret": "hidden"}}}},
            {"name": "viewer", "label": {"en": "Viewer"}, "permissions": {
                "customer": {"read": true}, "deal": {"read": true}}}
        ]
    })
}

/// An export's answer: status, headers and bytes (checked against the platform document).
struct Download {
    status: u16,
    headers: HeaderMap,
    bytes: Vec<u8>,
}

impl Download {
    fn text(&self) -> String {
        String::from_utf8(self.bytes.clone()).expect("UTF-8")
    }
    /// The CSV's records, the header first; the file must start with a byte order mark.
    fn csv(&self) -> Vec<Vec<String>> {
        assert_eq!(self.status, 200, "{}", self.text());
        let text = self.text();
        let body = text.strip_prefix('\u{feff}').expect("a byte order mark");
        csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(body.as_bytes())
            .records()
            .map(|r| r.expect("a CSV record").iter().map(str::to_string).collect())
            .collect()
    }
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    fn problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(self.header("content-type"), "application/problem+json");
        let body: Value = trellis_tests::serde_json::from_slice(&self.bytes).expect("JSON");
        assert_eq!(body["code"], json!(code), "{body}");
        body
    }
}

async fn download(app: &TestApp, token: &str, query: &str, headers: &[(&str, &str)]) -> Download {
    let path = format!("{PATH}?{query}");
    let mut req = app.client.get(format!("{}{path}", app.base)).bearer_auth(token);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.expect("answered");
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.expect("a whole body").to_vec();
    let media = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    let text = if media.starts_with("text/") || media.contains("json") {
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        String::new()
    };
    let resp = Resp {
        status,
        headers: headers.clone(),
        body: trellis_tests::serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text,
    };
    held_to_contract("GET", &path, &resp);
    Download {
        status: status.as_u16(),
        headers,
        bytes,
    }
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Two customers and four deals as the administrator; answers the customers' ids.
async fn seed(app: &TestApp) -> (String, String) {
    app.create_app(crm()).await;
    let acme = app.create("crm", "customer", json!({"name": "华东大客户"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let beta = app.create("crm", "customer", json!({"name": "Beta Ltd"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (title, region, customer, amount, qty, won, signed) in [
        ("北方一号", "north", &acme, "1200.5", 3, true, "2026-03-05"),
        ("North two", "north", &beta, "99", 1, false, "2026-01-31"),
        ("South one", "south", &acme, "10", 2, true, "2025-12-01"),
        ("=cmd()", "south", &beta, "5", 4, false, "2025-11-11"),
    ] {
        app.create(
            "crm",
            "deal",
            json!({"title": title, "region": region, "customer": customer, "amount": amount, "qty": qty,
                   "won": won, "signed": signed, "secret": 42}),
        )
        .await;
    }
    (acme, beta)
}

async fn scope_hidden_fields_and_the_export_right(backend: Backend) {
    let app = spawn(backend).await;
    let (acme, _) = seed(&app).await;
    let (_, rep) = app.user("crm", "rep", Some("rep")).await;
    let (_, viewer) = app.user("crm", "viewer", Some("viewer")).await;
    let r = app
        .call_as(
            Some(&rep),
            reqwest::Method::POST,
            "/api/v1/data/crm/deal",
            Some(json!({"title": "我的单子", "region": "north", "customer": acme, "amount": "7", "qty": 1})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    // The rep's own deal only, and no `secret` column.
    let d = download(&app, &rep, "format=csv&lang=en", &[]).await;
    assert_eq!(d.header("content-type"), "text/csv; charset=utf-8");
    assert_eq!(
        d.header("content-disposition"),
        "attachment; filename=\"crm-deal.csv\"; filename*=UTF-8''crm-deal.csv"
    );
    assert_eq!(
        d.csv(),
        vec![
            vec!["Title", "Region", "Customer", "Amount", "Qty", "Won", "Signed"],
            vec!["我的单子", "North", "华东大客户", "7.00 CNY", "1", "", ""],
        ]
    );
    // Naming the hidden field is naming a field that does not exist.
    let hidden = download(&app, &rep, "format=csv&fields=title,secret", &[]).await;
    let missing = download(&app, &rep, "format=csv&fields=title,nosuch", &[]).await;
    let h = hidden.problem(400, "bad_request");
    let m = missing.problem(400, "bad_request");
    assert_eq!(
        trellis_tests::serde_json::from_str::<Value>(&h.to_string().replace("secret", "nosuch")).unwrap(),
        m
    );
    // The administrator sees every deal and `secret`.
    let all = download(&app, &app.token, "format=csv&lang=en", &[]).await.csv();
    assert_eq!(all.len(), 6);
    assert_eq!(all[0].last().map(String::as_str), Some("Secret"));
    // Reading is not exporting: 403 with nothing else.
    let d = download(&app, &viewer, "format=csv", &[]).await;
    let body = d.problem(403, "permission_denied");
    assert!(body["detail"].as_str().unwrap().contains("export"), "{body}");
    let d = download(&app, &viewer, "format=xlsx", &[]).await;
    d.problem(403, "permission_denied");
}

async fn filter_sort_titles_and_labels(backend: Backend) {
    let app = spawn(backend).await;
    seed(&app).await;
    // Filter and sort as in the list; `fields` orders the columns; Chinese from the header.
    let filter = enc(r#"{"field":"amount","op":"gte","value":10}"#);
    let d = download(
        &app,
        &app.token,
        &format!("format=csv&filter={filter}&sort=-amount&fields=signed,title,customer,region,amount,won,qty"),
        &[("accept-language", "zh-CN,zh;q=0.9,en;q=0.8")],
    )
    .await;
    assert_eq!(
        d.csv(),
        vec![
            vec!["签约日", "标题", "客户", "区域", "金额", "赢单", "Qty"],
            vec!["2026-03-05", "北方一号", "华东大客户", "华北", "1200.50 CNY", "是", "3"],
            vec!["2026-01-31", "North two", "Beta Ltd", "华北", "99.00 CNY", "否", "1"],
            vec!["2025-12-01", "South one", "华东大客户", "华南", "10.00 CNY", "是", "2"],
        ]
    );
    // `lang` wins over the header; a search; a text a spreadsheet would run is defused.
    let d = download(
        &app,
        &app.token,
        "format=csv&lang=en&q=cmd&fields=title,region",
        &[("accept-language", "zh-CN")],
    )
    .await;
    assert_eq!(d.csv(), vec![vec!["Title", "Region"], vec!["'=cmd()", "South"]]);
    // The list's mistakes are the export's, before any byte of a file.
    let d = download(&app, &app.token, "format=csv&sort=nosuch", &[]).await;
    d.problem(400, "bad_request");
    let d = download(&app, &app.token, &format!("format=csv&filter={}", enc("{")), &[]).await;
    d.problem(400, "bad_request");
}

async fn xlsx_holds_typed_cells(backend: Backend) {
    let app = spawn(backend).await;
    seed(&app).await;
    let d = download(
        &app,
        &app.token,
        "format=xlsx&lang=zh&sort=signed&fields=title,customer,amount,qty,won,signed,region",
        &[],
    )
    .await;
    assert_eq!(d.status, 200);
    assert_eq!(
        d.header("content-type"),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert!(d.header("content-disposition").contains("crm-deal.xlsx"));
    let mut book: Xlsx<_> = open_workbook_from_rs(Cursor::new(d.bytes.clone())).expect("an XLSX workbook");
    let sheet = book.worksheet_range("Sheet1").expect("Sheet1");
    let rows: Vec<Vec<Data>> = sheet.rows().map(<[Data]>::to_vec).collect();
    assert_eq!(rows.len(), 5);
    let s = |t: &str| Data::String(t.to_string());
    assert_eq!(
        rows[0],
        vec![
            s("标题"),
            s("客户"),
            s("金额"),
            s("Qty"),
            s("赢单"),
            s("签约日"),
            s("区域")
        ]
    );
    // The latest signed deal: a Chinese text, the title of its customer, numbers as numbers,
    // the date as an Excel date.
    let last = &rows[4];
    assert_eq!(last[0], s("北方一号"));
    assert_eq!(last[1], s("华东大客户"));
    assert_eq!(last[2], Data::Float(1200.5));
    assert_eq!(last[3], Data::Float(3.0));
    assert_eq!(last[4], s("是"));
    match &last[5] {
        Data::DateTime(t) => assert_eq!(t.as_f64(), 46086.0),
        other => panic!("not a date: {other:?}"),
    }
    assert_eq!(last[6], s("华北"));
    assert_eq!(rows[1][0], s("=cmd()"), "a workbook's text is never a formula");
}

async fn pages_of_many_rows(backend: Backend) {
    let app = spawn(backend).await;
    seed(&app).await;
    // More rows than one page of the export reads (2,000), in three bulk requests.
    for chunk in 0..3 {
        let create: Vec<Value> = (0..1000)
            .filter(|i| chunk * 1000 + i < 2500)
            .map(|i| json!({"title": format!("bulk {}", chunk * 1000 + i), "qty": chunk * 1000 + i}))
            .collect();
        app.post("/api/v1/data/crm/deal/bulk", json!({"create": create}))
            .await
            .expect(200);
    }
    let filter = enc(r#"{"field":"title","op":"starts_with","value":"bulk"}"#);
    let rows = download(
        &app,
        &app.token,
        &format!("format=csv&filter={filter}&sort=-qty&fields=qty"),
        &[],
    )
    .await
    .csv();
    let got: Vec<i64> = rows[1..].iter().map(|r| r[0].parse().unwrap()).collect();
    let want: Vec<i64> = (0..2500).rev().collect();
    assert_eq!(got, want, "every row once, in order, across pages");
    // The same as a workbook.
    let d = download(
        &app,
        &app.token,
        &format!("format=xlsx&filter={filter}&fields=qty"),
        &[],
    )
    .await;
    let mut book: Xlsx<_> = open_workbook_from_rs(Cursor::new(d.bytes)).expect("an XLSX workbook");
    assert_eq!(book.worksheet_range("Sheet1").expect("Sheet1").height(), 2501);
}

async fn bad_formats_answer_problems(backend: Backend) {
    let app = spawn(backend).await;
    seed(&app).await;
    for query in ["format=pdf", "", "format=csv&lang=fr"] {
        let d = download(&app, &app.token, query, &[]).await;
        d.problem(400, "bad_request");
        assert!(d.header("content-disposition").is_empty());
    }
    let r = app.get("/api/v1/data/crm/nosuch/export?format=csv").await;
    r.expect_problem(404, "not_found");
}

on_both!(
    scope_hidden_fields_and_the_export_right,
    filter_sort_titles_and_labels,
    xlsx_holds_typed_cells,
    pages_of_many_rows,
    bad_formats_answer_problems
);
