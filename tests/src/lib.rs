//! Black-box test harness: a real Trellis node on a random port, over a fresh SQLite file or a
//! fresh PostgreSQL database (created for the test, dropped after it), driven over HTTP.

pub mod contract;
pub mod http_receiver;
pub mod smtp_sink;

use std::path::PathBuf;

use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use trellis_server::{Running, Settings};

pub use http_receiver::HttpReceiver;
pub use serde_json;
pub use smtp_sink::{ReceivedMail, SmtpSink};
pub use {chrono, reqwest, trellis_engine, trellis_store};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Admin URL of the PostgreSQL that test databases are created in.
pub fn pg_admin_url() -> String {
    std::env::var("TRELLIS_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

/// A running node with an admin session.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// Bearer token of the bootstrap administrator.
    pub token: String,
    pub backend: Backend,
    pub database_url: String,
    running: Option<Running>,
    dir: Option<tempfile::TempDir>,
    pg_db: Option<String>,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    /// Reads an answer: status, headers, text, and the text as JSON (null when it is not).
    pub async fn read(res: reqwest::Response) -> Resp {
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    /// The problem code of an error answer.
    pub fn code(&self) -> &str {
        self.body.get("code").and_then(Value::as_str).unwrap_or("")
    }
    /// `(field, code)` of each listed error.
    pub fn errors(&self) -> Vec<(String, String)> {
        self.body
            .get("errors")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|e| {
                        (
                            e["field"].as_str().unwrap_or("").to_string(),
                            e["code"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    #[track_caller]
    pub fn expect(self, status: u16) -> Resp {
        assert_eq!(self.status.as_u16(), status, "unexpected answer: {}", self.text);
        self
    }
    /// Asserts a problem+json answer with the status and code.
    #[track_caller]
    pub fn expect_problem(self, status: u16, code: &str) -> Resp {
        assert_eq!(self.status.as_u16(), status, "unexpected answer: {}", self.text);
        assert_eq!(self.content_type(), "application/problem+json", "{}", self.text);
        assert_eq!(self.code(), code, "{}", self.text);
        self
    }
}

/// Fails the calling test when an answer differs from the platform document ([`contract`]).
#[track_caller]
pub fn held_to_contract(method: &str, path: &str, resp: &Resp) {
    if let Err(e) = contract::platform().check(method, path, resp) {
        panic!("the answer breaks the platform contract: {e}");
    }
}

async fn create_pg_database() -> (String, String) {
    use trellis_store::sea_orm::{ConnectionTrait, Database};
    let admin = pg_admin_url();
    let name = format!("trellis_t_{}", uuid::Uuid::new_v4().simple());
    let conn = Database::connect(&admin)
        .await
        .expect("PostgreSQL for tests is reachable");
    conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    let _ = conn.close().await;
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin);
    (name.clone(), format!("{base}/{name}"))
}

fn drop_pg_database(name: String) {
    // Drop runs outside any runtime (or inside one that is shutting down): use a thread of its own.
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            use trellis_store::sea_orm::{ConnectionTrait, Database};
            if let Ok(conn) = Database::connect(&pg_admin_url()).await {
                let _ = conn
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
                let _ = conn.close().await;
            }
        });
    })
    .join();
}

/// Starts a node on a fresh database of the backend, logged in as the bootstrap administrator.
pub async fn spawn(backend: Backend) -> TestApp {
    spawn_with(backend, |_| {}).await
}

/// Starts a node like [`spawn`] with its settings changed first (e.g. short session lifetimes).
pub async fn spawn_with(backend: Backend, change: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let (pg_db, database_url) = match backend {
        Backend::Sqlite => (None, format!("sqlite://{}", dir.path().join("trellis.db").display())),
        Backend::Postgres => {
            let (name, url) = create_pg_database().await;
            (Some(name), url)
        }
    };
    spawn_on(backend, database_url, dir, pg_db, change).await
}

async fn spawn_on(
    backend: Backend,
    database_url: String,
    dir: tempfile::TempDir,
    pg_db: Option<String>,
    change: impl FnOnce(&mut Settings),
) -> TestApp {
    let mut settings = Settings {
        bind: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        database_url: database_url.clone(),
        workers: 2,
        admin_email: Some(ADMIN_EMAIL.into()),
        admin_password: Some(ADMIN_PASSWORD.into()),
        max_file_bytes: trellis_engine::files::DEFAULT_MAX_FILE_BYTES,
        // The webhook and SMS peers of the tests listen on loopback.
        allow_private_outbound: true,
        sessions: Default::default(),
        cache_ttl: trellis_engine::access::DEFAULT_CACHE_TTL,
        demo: false,
    };
    change(&mut settings);
    let running = trellis_server::start(settings).await.expect("node starts");
    let base = format!("http://{}", running.addr);
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("client");
    let mut app = TestApp {
        base,
        client,
        token: String::new(),
        backend,
        database_url,
        running: Some(running),
        dir: Some(dir),
        pg_db,
    };
    app.token = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    app
}

impl TestApp {
    /// A second node on the same database (PostgreSQL: the scale-out setup), logged in as the
    /// same administrator. Dropping it leaves the database to the first node.
    pub async fn peer(&self) -> TestApp {
        self.peer_with(|_| {}).await
    }

    /// [`TestApp::peer`] with its settings changed first (e.g. how long it caches teams).
    pub async fn peer_with(&self, change: impl FnOnce(&mut Settings)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        spawn_on(self.backend, self.database_url.clone(), dir, None, change).await
    }

    /// A node of its own on a copy of this node's SQLite database, as a restored backup: the
    /// same tenants, apps, users, teams, sessions and ids, in a file of its own that changes
    /// apart from this node's from then on.
    pub async fn sqlite_copy_with(&self, change: impl FnOnce(&mut Settings)) -> TestApp {
        assert_eq!(self.backend, Backend::Sqlite, "a copy of an SQLite database");
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("trellis.db");
        let path = path.to_str().expect("a UTF-8 temp path");
        assert!(!path.contains('\''), "{path}");
        self.sql_rows(&format!("VACUUM INTO '{path}'"), vec![])
            .await
            .expect("copy of the database");
        spawn_on(Backend::Sqlite, format!("sqlite://{path}"), dir, None, change).await
    }

    /// Logs in and returns the session token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let r = self
            .call_as(
                None,
                Method::POST,
                "/api/v1/auth/login",
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(r.status, 200, "login failed: {}", r.text);
        r.body["token"].as_str().expect("token").to_string()
    }

    /// A request with an optional bearer token; JSON in and out.
    pub async fn call_as(&self, token: Option<&str>, method: Method, path: &str, body: Option<Value>) -> Resp {
        self.call_with(token, method, path, body, &[]).await
    }

    /// A request with extra headers.
    pub async fn call_with(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let method_name = method.as_str().to_string();
        let mut req = self.client.request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = Resp::read(req.send().await.expect("request is answered")).await;
        held_to_contract(&method_name, path, &resp);
        resp
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call_as(Some(&self.token.clone()), Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call_as(Some(&self.token.clone()), Method::POST, path, Some(body))
            .await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.call_as(Some(&self.token.clone()), Method::PATCH, path, Some(body))
            .await
    }
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.call_as(Some(&self.token.clone()), Method::PUT, path, Some(body))
            .await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.call_as(Some(&self.token.clone()), Method::DELETE, path, None)
            .await
    }

    /// Polls `path` as the administrator until `check` holds on its body (10 s at most), for
    /// what happens after the answer (rule runs, jobs); answers the body that satisfied it.
    pub async fn eventually(&self, path: &str, check: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        for _ in 0..80 {
            last = self.get(path).await.body;
            if check(&last) {
                return last;
            }
            tokio::time::sleep(std::time::Duration::from_millis(125)).await;
        }
        panic!("{path} never satisfied the check; last answer: {last}");
    }

    /// Uploads a file as `token`'s user (`POST /files`, multipart); answers its id.
    pub async fn upload(&self, token: &str, name: &str, content_type: &str, bytes: &[u8]) -> String {
        let part = reqwest::multipart::Part::bytes(bytes.to_vec())
            .file_name(name.to_string())
            .mime_str(content_type)
            .expect("content type");
        let form = reqwest::multipart::Form::new().part("file", part);
        let r = self
            .client
            .post(format!("{}/api/v1/files", self.base))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("upload is answered");
        let r = Resp::read(r).await;
        held_to_contract("POST", "/api/v1/files", &r);
        assert_eq!(r.status, 201, "upload failed: {}", r.text);
        r.body["id"].as_str().expect("file id").to_string()
    }

    /// Creates an app from a definition, asserting success.
    pub async fn create_app(&self, def: Value) -> Value {
        self.post("/api/v1/apps", def).await.expect(201).body
    }

    /// A user `<name>@example.com` created over the API, given `role` in app `app` when set,
    /// and logged in: (id, token).
    pub async fn user(&self, app: &str, name: &str, role: Option<&str>) -> (String, String) {
        let email = format!("{name}@example.com");
        let u = self
            .post(
                "/api/v1/users",
                json!({"email": email, "name": name, "password": "password-123"}),
            )
            .await
            .expect(201)
            .body;
        let id = u["id"].as_str().expect("user id").to_string();
        if let Some(r) = role {
            self.post(&format!("/api/v1/apps/{app}/roles/{r}/members"), json!({"user": id}))
                .await
                .expect(200);
        }
        (id, self.login(&email, "password-123").await)
    }

    /// Creates a record, asserting success; answers it.
    pub async fn create(&self, app: &str, entity: &str, body: Value) -> Value {
        self.post(&format!("/api/v1/data/{app}/{entity}"), body)
            .await
            .expect(201)
            .body
    }

    /// Runs the trellis admin CLI's use cases against this node's database: a new tenant with an
    /// admin user, logged in.
    pub async fn new_tenant(&self, tenant: &str, email: &str) -> String {
        let engine = &self.running.as_ref().expect("running").engine;
        engine.create_tenant(tenant).await.expect("tenant");
        engine
            .create_user(tenant, email, None, "tenant-password-1", true)
            .await
            .expect("user");
        self.login(email, "tenant-password-1").await
    }

    /// The node's engine (for setup that has no HTTP route yet).
    pub fn engine(&self) -> &trellis_engine::Engine {
        &self.running.as_ref().expect("running").engine
    }

    /// The rows of a statement on the node's read pool, to look at the database itself
    /// (indexes, statistics). `values` bind its `?` (SQLite) or `$n` (PostgreSQL) parameters.
    pub async fn sql_rows(
        &self,
        sql: &str,
        values: Vec<trellis_store::sea_orm::Value>,
    ) -> Result<Vec<trellis_store::sea_orm::QueryResult>, trellis_store::sea_orm::DbErr> {
        self.engine().db.raw_rows_for_tests(sql, values).await
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.as_ref().expect("dir").path().to_path_buf()
    }

    /// Stops the node and starts a new one on the same database (a restart).
    pub async fn restart(mut self) -> TestApp {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
        let (dir, pg_db) = (self.dir.take().expect("dir"), self.pg_db.take());
        spawn_on(self.backend, self.database_url.clone(), dir, pg_db, |_| {}).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The server's worker threads die with the test process; the database must not linger.
        if let Some(name) = self.pg_db.take() {
            drop(self.running.take());
            drop_pg_database(name);
        }
    }
}

/// Runs a test body on SQLite and on PostgreSQL, as two tests named `<name>::sqlite` and
/// `<name>::postgres`.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::Backend::Postgres).await
            }
        }
    )*};
}

/// A small sales app used across tests: customers and deals with most field types.
pub fn sales_app() -> Value {
    json!({
        "name": "sales",
        "label": {"zh": "销售管理", "en": "Sales"},
        "entities": [
            {"name": "customer", "label": {"zh": "客户", "en": "Customer"}, "title_field": "name", "fields": [
                {"name": "name", "label": {"zh": "名称", "en": "Name"}, "type": "text", "required": true, "max_length": 100},
                {"name": "email", "label": {"zh": "邮箱", "en": "E-mail"}, "type": "email", "unique": true},
                {"name": "phone", "label": {"zh": "电话", "en": "Phone"}, "type": "phone"},
                {"name": "level", "label": {"zh": "等级", "en": "Level"}, "type": "single_select", "default": "normal", "options": [
                    {"value": "normal", "label": {"zh": "普通", "en": "Normal"}},
                    {"value": "vip", "label": {"zh": "VIP", "en": "VIP"}}
                ]}
            ]},
            {"name": "deal", "label": {"zh": "商机", "en": "Deal"}, "title_field": "title", "fields": [
                {"name": "code", "label": {"zh": "编号", "en": "No."}, "type": "auto_number", "format": "DL-{YYYY}-{00000}"},
                {"name": "title", "label": {"zh": "标题", "en": "Title"}, "type": "text", "required": true},
                {"name": "amount", "label": {"zh": "金额", "en": "Amount"}, "type": "currency", "currency": "CNY", "min": 0},
                {"name": "probability", "label": {"zh": "赢率", "en": "Probability"}, "type": "percent", "min": 0, "max": 100},
                {"name": "quantity", "label": {"zh": "数量", "en": "Quantity"}, "type": "integer"},
                {"name": "customer", "label": {"zh": "客户", "en": "Customer"}, "type": "relation", "target": "customer"},
                {"name": "phase", "label": {"zh": "阶段", "en": "Phase"}, "type": "single_select", "options": [
                    {"value": "new", "label": {"zh": "新建", "en": "New"}},
                    {"value": "won", "label": {"zh": "赢单", "en": "Won"}},
                    {"value": "lost", "label": {"zh": "输单", "en": "Lost"}}
                ]},
                {"name": "tags", "label": {"zh": "标签", "en": "Tags"}, "type": "multi_select", "options": [
                    {"value": "hot", "label": {"zh": "热", "en": "Hot"}},
                    {"value": "key", "label": {"zh": "重点", "en": "Key account"}}
                ]},
                {"name": "expected_close", "label": {"zh": "预计成交", "en": "Expected close"}, "type": "date"},
                {"name": "signed_at", "label": {"zh": "签约时间", "en": "Signed at"}, "type": "datetime"},
                {"name": "urgent", "label": {"zh": "紧急", "en": "Urgent"}, "type": "boolean", "default": false},
                {"name": "website", "label": {"zh": "网址", "en": "Website"}, "type": "url"},
                {"name": "rep", "label": {"zh": "销售", "en": "Rep"}, "type": "user"},
                {"name": "notes", "label": {"zh": "备注", "en": "Notes"}, "type": "long_text"},
                {"name": "extra", "label": {"zh": "扩展", "en": "Extra"}, "type": "json"}
            ]}
        ]
    })
}
