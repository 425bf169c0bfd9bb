//! The first path a user takes: log in, create an app, write and read a record.

use trellis_tests::serde_json::json;
use trellis_tests::{Backend, on_both, sales_app, spawn};

async fn a_record_written_is_read_back_the_same(b: Backend) {
    let app = spawn(b).await;
    app.create_app(sales_app()).await;
    let c = app
        .create(
            "sales",
            "customer",
            json!({"name": "华为 Huawei", "email": "ops@huawei.example"}),
        )
        .await;
    let d = app
        .create("sales", "deal", json!({"title": "ERP", "amount": {"amount": "1234.56", "currency": "CNY"}, "customer": c["id"], "tags": ["hot"]}))
        .await;
    assert_eq!(d["amount"], json!({"amount": 1234.56, "currency": "CNY"}));
    assert_eq!(d["urgent"], json!(false), "default applied");
    assert!(d["code"].as_str().unwrap().starts_with("DL-"), "{d}");
    let got = app
        .get(&format!("/api/v1/data/sales/deal/{}", d["id"].as_str().unwrap()))
        .await
        .expect(200);
    assert_eq!(got.body, d, "a read answers exactly what the write answered");
    assert_eq!(got.headers["etag"], "\"1\"");
}

on_both!(a_record_written_is_read_back_the_same);
