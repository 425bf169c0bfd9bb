//! Files, with the rows the database holds counted: uploads come back whole and are stored
//! once each, and what is refused (over the size limit, not a file part, no token) leaves no
//! row and no file behind. Every test runs on SQLite and PostgreSQL.

use std::path::{Path, PathBuf};

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use trellis_tests::serde_json::json;
use trellis_tests::{Backend, TestApp, on_both, spawn};

use crate::blackbox::files::{
    FILES, PDF, assert_error, download_as, header, png, s, send_form, sha256_hex, upload, upload_as,
};

async fn file_rows(app: &TestApp) -> i64 {
    let rows = app
        .sql_rows("SELECT count(*) AS n FROM sys_files", Vec::new())
        .await
        .expect("count");
    rows[0].try_get::<i64>("", "n").expect("n")
}

/// Every regular file under a folder (none when it does not exist).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

async fn uploads_come_back_byte_identical_with_their_headers(b: Backend) {
    let app = spawn(b).await;
    for (name, declared, bytes, sniffed) in [
        ("contract.pdf", "application/pdf", PDF.to_vec(), "application/pdf"),
        ("logo.png", "image/png", png(), "image/png"),
    ] {
        let r = upload(&app, name, declared, bytes.clone()).await.expect(201);
        let f = r.body.clone();
        let id = s(&f["id"]);
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{f}");
        assert_eq!(f["name"], name);
        assert_eq!(f["size"], bytes.len());
        assert_eq!(f["sha256"], sha256_hex(&bytes));
        assert_eq!(f["content_type"], sniffed);
        assert!(chrono::DateTime::parse_from_rfc3339(s(&f["created_at"])).is_ok(), "{f}");
        assert_eq!(header(&r.headers, "location"), format!("{FILES}/{id}"));

        let (status, h, body) = download_as(&app, &app.token, id, &[]).await;
        assert_eq!(status, 200);
        assert_eq!(body, bytes, "{name} comes back byte-identical");
        assert_eq!(header(&h, "content-type"), sniffed);
        assert_eq!(header(&h, "content-length"), bytes.len().to_string());
        assert_eq!(
            header(&h, "content-disposition"),
            format!("attachment; filename=\"{name}\"; filename*=UTF-8''{name}")
        );
        let etag = format!("\"{}\"", sha256_hex(&bytes));
        assert_eq!(header(&h, "etag"), etag);
        assert_eq!(header(&h, "x-content-type-options"), "nosniff");

        let (status, h, body) = download_as(&app, &app.token, id, &[("if-none-match", &etag)]).await;
        assert_eq!(status, 304, "the ETag revalidates");
        assert!(body.is_empty());
        assert_eq!(header(&h, "etag"), etag);

        let meta = app.get(&format!("{FILES}/{id}/meta")).await.expect(200);
        assert_eq!(meta.body, f, "the metadata is what the upload answered");
    }
    assert_eq!(file_rows(&app).await, 2);
    let on_disk = files_under(&app.data_dir().join("files"));
    assert_eq!(on_disk.len(), 2, "{on_disk:?}");
}

async fn an_upload_over_the_limit_answers_413_and_leaves_nothing_behind(b: Backend) {
    let app = spawn(b).await;
    let limit = trellis_engine::files::DEFAULT_MAX_FILE_BYTES as usize;
    let mut big = PDF.to_vec();
    big.resize(limit + 1, b'x');
    upload(&app, "huge.pdf", "application/pdf", big)
        .await
        .expect_problem(413, "payload_too_large");
    assert_eq!(file_rows(&app).await, 0, "no row");
    let left = files_under(&app.data_dir().join("files"));
    assert!(left.is_empty(), "no file left behind: {left:?}");

    // The node goes on taking uploads.
    upload(&app, "small.pdf", "application/pdf", PDF.to_vec())
        .await
        .expect(201);
    assert_eq!(files_under(&app.data_dir().join("files")).len(), 1);
}

async fn uploads_that_are_not_a_file_part_answer_400(b: Backend) {
    let app = spawn(b).await;
    let r = app
        .post(FILES, json!({"file": "x"}))
        .await
        .expect_problem(400, "bad_request");
    assert_error(&r, "Content-Type", "not_multipart");

    let form = Form::new().text("comment", "no file here");
    let r = send_form(&app, Some(&app.token), form)
        .await
        .expect_problem(400, "bad_request");
    assert_error(&r, "file", "required");

    let r = upload(&app, "empty.txt", "text/plain", Vec::new())
        .await
        .expect_problem(400, "bad_request");
    assert_error(&r, "file", "empty");

    let two = Form::new()
        .part("file", Part::bytes(PDF.to_vec()).file_name("a.pdf"))
        .part("file", Part::bytes(PDF.to_vec()).file_name("b.pdf"));
    let r = send_form(&app, Some(&app.token), two)
        .await
        .expect_problem(400, "bad_request");
    assert_error(&r, "file", "duplicate");

    // Extra form fields next to the file are ignored.
    let form = Form::new()
        .text("comment", "signed copy")
        .part("file", Part::bytes(PDF.to_vec()).file_name("signed.pdf"));
    send_form(&app, Some(&app.token), form).await.expect(201);
    assert_eq!(file_rows(&app).await, 1, "only the good upload is stored");
    assert_eq!(files_under(&app.data_dir().join("files")).len(), 1);
}

async fn files_are_private_to_their_tenant_and_need_a_token(b: Backend) {
    let app = spawn(b).await;
    let f = upload(&app, "mine.pdf", "application/pdf", PDF.to_vec())
        .await
        .expect(201)
        .body;
    let id = s(&f["id"]);
    let other = app.new_tenant("other", "boss@other.example").await;
    for path in [format!("{FILES}/{id}"), format!("{FILES}/{id}/meta")] {
        app.call_as(Some(&other), Method::GET, &path, None)
            .await
            .expect_problem(404, "not_found");
        app.call_as(None, Method::GET, &path, None)
            .await
            .expect_problem(401, "unauthenticated");
    }
    for bad in ["not-a-uuid", "0190c0de-0000-7000-8000-000000000001", "%2e%2e"] {
        app.get(&format!("{FILES}/{bad}"))
            .await
            .expect_problem(404, "not_found");
        app.get(&format!("{FILES}/{bad}/meta"))
            .await
            .expect_problem(404, "not_found");
    }
    upload_as(&app, None, "x.pdf", "application/pdf", PDF.to_vec())
        .await
        .expect_problem(401, "unauthenticated");
    upload_as(&app, Some("trs_not-a-token"), "x.pdf", "application/pdf", PDF.to_vec())
        .await
        .expect_problem(401, "unauthenticated");
    assert_eq!(file_rows(&app).await, 1);

    // The other tenant keeps its files in a folder of its own.
    let theirs = upload_as(&app, Some(&other), "theirs.pdf", "application/pdf", PDF.to_vec())
        .await
        .expect(201);
    app.get(&format!("{FILES}/{}", s(&theirs.body["id"])))
        .await
        .expect_problem(404, "not_found");
    let tenants: Vec<_> = std::fs::read_dir(app.data_dir().join("files"))
        .expect("files folder")
        .flatten()
        .collect();
    assert_eq!(tenants.len(), 2);
}
on_both!(
    uploads_come_back_byte_identical_with_their_headers,
    an_upload_over_the_limit_answers_413_and_leaves_nothing_behind,
    uploads_that_are_not_a_file_part_answer_400,
    files_are_private_to_their_tenant_and_need_a_token,
);
