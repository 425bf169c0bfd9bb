//! The platform over HTTP: auth and API tokens, tenant isolation, the builder's metadata API,
//! the OpenAPI documents (platform and per app), the docs UI, restarts and error answers.
//! Every test that touches the database runs on SQLite and on PostgreSQL.

use std::time::{Duration, Instant};

use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, Resp, TestApp, on_both, sales_app, spawn};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

fn has_error(r: &Resp, field: &str, code: &str) -> bool {
    r.errors().iter().any(|(f, c)| f == field && c == code)
}

#[track_caller]
fn assert_error(r: &Resp, field: &str, code: &str) {
    assert!(
        has_error(r, field, code),
        "expected error ({field}, {code}) in {:?}: {}",
        r.errors(),
        r.text
    );
}

/// A request with a raw body and content type.
async fn raw(
    app: &TestApp,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Vec<u8>,
    content_type: Option<&str>,
) -> Resp {
    let mut req = app.client.request(method, format!("{}{}", app.base, path)).body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    Resp::read(req.send().await.expect("request is answered")).await
}

async fn get_as(app: &TestApp, token: &str, path: &str) -> Resp {
    app.call_as(Some(token), Method::GET, path, None).await
}

/// The ops of a change answer's plan.
fn plan_ops(body: &Value) -> Vec<String> {
    body["plan"]
        .as_array()
        .expect("plan")
        .iter()
        .map(|p| s(&p["op"]).to_string())
        .collect()
}

async fn app_version(app: &TestApp, name: &str) -> i64 {
    app.get(&format!("/api/v1/apps/{name}")).await.expect(200).body["version"]
        .as_i64()
        .expect("version")
}

async fn field_def(app: &TestApp, entity: &str, field: &str) -> Option<Value> {
    let r = app
        .get(&format!("/api/v1/apps/sales/entities/{entity}/fields"))
        .await
        .expect(200);
    r.body["data"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["name"] == field)
        .cloned()
}

async fn record(app: &TestApp, entity: &str, id: &Value) -> Value {
    app.get(&format!("/api/v1/data/sales/{entity}/{}", s(id)))
        .await
        .expect(200)
        .body
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// A validator for one component schema of an OpenAPI document (references resolved in it).
fn component_validator(spec: &Value, name: &str) -> jsonschema::Validator {
    let schema = json!({"$ref": format!("#/components/schemas/{name}"), "components": spec["components"].clone()});
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("schema {name} compiles: {e}"))
}

#[track_caller]
fn assert_valid(v: &jsonschema::Validator, what: &str, instance: &Value) {
    let errors: Vec<String> = v
        .iter_errors(instance)
        .map(|e| format!("{} at '{}'", e, e.instance_path().as_str()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match its schema: {errors:#?}\n{instance:#}"
    );
}

// ---------------------------------------------------------------------------------------------
// 1. Auth
// ---------------------------------------------------------------------------------------------

async fn logging_in_answers_a_token_and_wrong_credentials_answer_401(b: Backend) {
    let app = spawn(b).await;
    let r = app
        .call_as(
            None,
            Method::POST,
            "/api/v1/auth/login",
            Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
        )
        .await
        .expect(200);
    assert!(s(&r.body["token"]).starts_with("trs_"), "{}", r.text);
    assert_eq!(r.body["user"]["email"], ADMIN_EMAIL);
    assert_eq!(r.body["user"]["is_admin"], true);
    let cookie = r.headers.get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(
        cookie.starts_with("trellis_session="),
        "login sets the session cookie: {cookie}"
    );
    assert!(cookie.contains("HttpOnly"), "{cookie}");

    // The e-mail is matched case-insensitively.
    app.call_as(
        None,
        Method::POST,
        "/api/v1/auth/login",
        Some(json!({"email": "ADMIN@Example.com", "password": ADMIN_PASSWORD})),
    )
    .await
    .expect(200);

    let wrong_pw = app
        .call_as(
            None,
            Method::POST,
            "/api/v1/auth/login",
            Some(json!({"email": ADMIN_EMAIL, "password": "not-the-password"})),
        )
        .await
        .expect_problem(401, "unauthenticated");
    let unknown = app
        .call_as(
            None,
            Method::POST,
            "/api/v1/auth/login",
            Some(json!({"email": "nobody@example.com", "password": ADMIN_PASSWORD})),
        )
        .await
        .expect_problem(401, "unauthenticated");
    assert_eq!(
        wrong_pw.body["detail"], unknown.body["detail"],
        "the answer does not tell which e-mails exist"
    );
    assert!(wrong_pw.body.get("token").is_none());
}

async fn requests_without_a_valid_token_answer_401(b: Backend) {
    let app = spawn(b).await;
    let none = app
        .call_as(None, Method::GET, "/api/v1/me", None)
        .await
        .expect_problem(401, "unauthenticated");
    assert_eq!(
        none.headers.get("www-authenticate").and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    let forged_session = format!("trs_{}", "x".repeat(43));
    let forged_api = format!("trk_{}", "A".repeat(43));
    for t in [
        "trs_xxx",
        forged_session.as_str(),
        forged_api.as_str(),
        "not-a-token",
        "",
    ] {
        app.call_as(Some(t), Method::GET, "/api/v1/me", None)
            .await
            .expect_problem(401, "unauthenticated");
        app.call_as(Some(t), Method::GET, "/api/v1/apps", None)
            .await
            .expect_problem(401, "unauthenticated");
    }
    let good = app.token.clone();
    let basic = format!("Basic {good}");
    let no_space = format!("Bearer{good}");
    for h in [
        "garbage",
        "Bearer",
        "Bearer ",
        basic.as_str(),
        no_space.as_str(),
        "Bearer trs_a trs_b",
    ] {
        app.call_with(None, Method::GET, "/api/v1/me", None, &[("authorization", h)])
            .await
            .expect_problem(401, "unauthenticated");
    }
    // The scheme is case-insensitive.
    let lower = format!("bearer {good}");
    app.call_with(
        None,
        Method::GET,
        "/api/v1/me",
        None,
        &[("authorization", lower.as_str())],
    )
    .await
    .expect(200);
}

async fn me_shows_the_user_and_the_tenant(b: Backend) {
    let app = spawn(b).await;
    let me = app.get("/api/v1/me").await.expect(200).body;
    assert_eq!(me["user"]["email"], ADMIN_EMAIL);
    assert_eq!(me["user"]["is_admin"], true);
    assert_eq!(me["tenant"]["name"], "default");
    assert_eq!(me["tenant"]["id"], me["user"]["tenant_id"]);
    assert_eq!(me["roles"], json!(["admin"]));
    assert_eq!(me["permissions"]["apps"], "manage");
    assert!(uuid::Uuid::parse_str(s(&me["user"]["id"])).is_ok());
}

async fn an_api_token_is_shown_once_works_as_a_bearer_and_stops_working_when_revoked(b: Backend) {
    let app = spawn(b).await;
    let created = app
        .post("/api/v1/auth/tokens", json!({"name": "ci pipeline"}))
        .await
        .expect(201)
        .body;
    let secret = s(&created["token"]).to_string();
    let id = s(&created["id"]).to_string();
    assert!(secret.starts_with("trk_"), "{created}");
    assert_eq!(created["name"], "ci pipeline");
    assert_eq!(created["revoked"], false);
    assert!(created["expires_at"].is_null());

    let listed = app.get("/api/v1/auth/tokens").await.expect(200).body;
    let tokens = listed["data"].as_array().expect("data");
    assert_eq!(tokens.len(), 1, "login sessions are not listed as API tokens: {listed}");
    assert_eq!(tokens[0]["id"], id.as_str());
    assert!(tokens[0].get("token").is_none(), "the secret is never listed: {listed}");
    assert!(!listed.to_string().contains(&secret), "the secret is never listed");
    assert!(tokens[0]["last_used_at"].is_null());

    // The token acts as its user.
    let me = get_as(&app, &secret, "/api/v1/me").await.expect(200).body;
    assert_eq!(me["user"]["email"], ADMIN_EMAIL);
    get_as(&app, &secret, "/api/v1/apps").await.expect(200);

    // Its use is recorded (written in the background).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let l = app.get("/api/v1/auth/tokens").await.expect(200).body;
        let used = &l["data"][0]["last_used_at"];
        if used.is_string() {
            assert!(chrono::DateTime::parse_from_rfc3339(s(used)).is_ok(), "{used}");
            break;
        }
        assert!(Instant::now() < deadline, "last_used_at was never written: {l}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Another user's token ids answer 404; then revoke ours.
    app.delete(&format!("/api/v1/auth/tokens/{}", uuid::Uuid::now_v7()))
        .await
        .expect_problem(404, "not_found");
    app.delete(&format!("/api/v1/auth/tokens/{id}")).await.expect(204);
    get_as(&app, &secret, "/api/v1/me")
        .await
        .expect_problem(401, "unauthenticated");
    get_as(&app, &secret, "/api/v1/apps")
        .await
        .expect_problem(401, "unauthenticated");
    let l = app.get("/api/v1/auth/tokens").await.expect(200).body;
    assert_eq!(l["data"][0]["revoked"], true, "{l}");
    // The login session is untouched.
    app.get("/api/v1/me").await.expect(200);
}

async fn an_api_token_cannot_be_created_already_expired_or_nameless(b: Backend) {
    let app = spawn(b).await;
    let r = app
        .post(
            "/api/v1/auth/tokens",
            json!({"name": "old", "expires_at": "2001-01-01T00:00:00Z"}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "expires_at", "past");
    let r = app
        .post("/api/v1/auth/tokens", json!({"name": "  "}))
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "name", "length");
    app.post("/api/v1/auth/tokens", json!({"name": "x", "expires_at": "next week"}))
        .await
        .expect_problem(400, "bad_request");
    let l = app.get("/api/v1/auth/tokens").await.expect(200).body;
    assert_eq!(l["data"], json!([]), "refused requests wrote nothing");
}

async fn an_api_token_stops_working_when_it_expires(b: Backend) {
    let app = spawn(b).await;
    let expires = chrono::Utc::now() + chrono::Duration::milliseconds(2000);
    let created = app
        .post(
            "/api/v1/auth/tokens",
            json!({"name": "short", "expires_at": expires.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)}),
        )
        .await
        .expect(201)
        .body;
    assert!(created["expires_at"].is_string(), "{created}");
    let secret = s(&created["token"]).to_string();
    get_as(&app, &secret, "/api/v1/me").await.expect(200);
    let wait = (expires - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(300);
    tokio::time::sleep(wait).await;
    // Used once before expiry, so it is also in the node's cache: the cache must not outlive it.
    get_as(&app, &secret, "/api/v1/me")
        .await
        .expect_problem(401, "unauthenticated");
}

on_both!(
    logging_in_answers_a_token_and_wrong_credentials_answer_401,
    requests_without_a_valid_token_answer_401,
    me_shows_the_user_and_the_tenant,
    an_api_token_is_shown_once_works_as_a_bearer_and_stops_working_when_revoked,
    an_api_token_cannot_be_created_already_expired_or_nameless,
    an_api_token_stops_working_when_it_expires,
);

// ---------------------------------------------------------------------------------------------
// 2. Tenant isolation
// ---------------------------------------------------------------------------------------------

/// Every way at A's records from tenant B answers 404.
async fn records_of_a_are_not_found(app: &TestApp, tb: &str, cid: &str, did: &str) {
    let bt = Some(tb);
    let one = format!("/api/v1/data/sales/customer/{cid}");
    app.call_as(bt, Method::GET, &one, None)
        .await
        .expect_problem(404, "not_found");
    app.call_as(bt, Method::PATCH, &one, Some(json!({"name": "stolen"})))
        .await
        .expect_problem(404, "not_found");
    app.call_as(bt, Method::DELETE, &format!("/api/v1/data/sales/deal/{did}"), None)
        .await
        .expect_problem(404, "not_found");
    app.call_as(
        bt,
        Method::POST,
        "/api/v1/data/sales/customer/bulk",
        Some(json!({"update": [{"id": cid, "name": "stolen"}]})),
    )
    .await
    .expect_problem(404, "not_found");
    app.call_as(
        bt,
        Method::POST,
        "/api/v1/data/sales/deal/bulk",
        Some(json!({"delete": [did]})),
    )
    .await
    .expect_problem(404, "not_found");
}

async fn another_tenant_gets_404_for_everything_of_this_tenant_even_with_the_same_names(b: Backend) {
    let app = spawn(b).await;
    app.create_app(sales_app()).await;
    let c = app
        .create("sales", "customer", json!({"name": "Acme A", "email": "a@a.example"}))
        .await;
    let d = app
        .create("sales", "deal", json!({"title": "A's deal", "customer": c["id"]}))
        .await;
    let (cid, did) = (s(&c["id"]).to_string(), s(&d["id"]).to_string());
    let a_token = app
        .post("/api/v1/auth/tokens", json!({"name": "a"}))
        .await
        .expect(201)
        .body;

    let tb = app.new_tenant("beta", "admin@beta.example").await;
    let bt = Some(tb.as_str());
    let me = get_as(&app, &tb, "/api/v1/me").await.expect(200).body;
    assert_eq!(me["tenant"]["name"], "beta");

    let listed = get_as(&app, &tb, "/api/v1/apps").await.expect(200).body;
    assert_eq!(listed["data"], json!([]), "tenant B sees none of A's apps");

    // Metadata of A: 404 on every verb, never 403.
    let meta_paths = [
        "/api/v1/apps/sales",
        "/api/v1/apps/sales/entities",
        "/api/v1/apps/sales/entities/customer",
        "/api/v1/apps/sales/entities/customer/fields",
        "/api/v1/apps/sales/openapi.json",
    ];
    for p in meta_paths {
        get_as(&app, &tb, p).await.expect_problem(404, "not_found");
    }
    let field = json!({"name": "x", "label": {"en": "X"}, "type": "text"});
    let label = json!({"label": {"en": "X"}});
    let writes: [(Method, &str, Option<Value>); 8] = [
        (Method::PATCH, "/api/v1/apps/sales", Some(label.clone())),
        (
            Method::POST,
            "/api/v1/apps/sales/entities",
            Some(json!({"name": "x", "label": {"en": "X"}})),
        ),
        (
            Method::PATCH,
            "/api/v1/apps/sales/entities/customer",
            Some(label.clone()),
        ),
        (Method::POST, "/api/v1/apps/sales/entities/customer/fields", Some(field)),
        (
            Method::PATCH,
            "/api/v1/apps/sales/entities/customer/fields/name",
            Some(label),
        ),
        (
            Method::DELETE,
            "/api/v1/apps/sales/entities/customer/fields/phone",
            None,
        ),
        (Method::DELETE, "/api/v1/apps/sales/entities/deal", None),
        (Method::DELETE, "/api/v1/apps/sales", None),
    ];
    for (method, path, body) in writes {
        app.call_as(bt, method, path, body)
            .await
            .expect_problem(404, "not_found");
    }
    // A's API token is not B's to revoke.
    app.call_as(
        bt,
        Method::DELETE,
        &format!("/api/v1/auth/tokens/{}", s(&a_token["id"])),
        None,
    )
    .await
    .expect_problem(404, "not_found");

    // Records of A, while B has no app of that name.
    records_of_a_are_not_found(&app, &tb, &cid, &did).await;
    app.call_as(bt, Method::GET, "/api/v1/data/sales/customer", None)
        .await
        .expect_problem(404, "not_found");
    app.call_as(
        bt,
        Method::POST,
        "/api/v1/data/sales/customer",
        Some(json!({"name": "x"})),
    )
    .await
    .expect_problem(404, "not_found");

    // B builds an app with the very same names: A's ids are still nowhere to be found.
    let b_app = app
        .call_as(bt, Method::POST, "/api/v1/apps", Some(sales_app()))
        .await
        .expect(201)
        .body;
    let a_app = app.get("/api/v1/apps/sales").await.expect(200).body;
    assert_ne!(
        b_app["entities"][0]["id"], a_app["entities"][0]["id"],
        "each app has its own tables"
    );
    records_of_a_are_not_found(&app, &tb, &cid, &did).await;
    let bc = app
        .call_as(
            bt,
            Method::POST,
            "/api/v1/data/sales/customer",
            Some(json!({"name": "Beta B", "email": "a@a.example"})),
        )
        .await
        .expect(201)
        .body;
    let b_list = app
        .call_as(bt, Method::GET, "/api/v1/data/sales/customer?count=true", None)
        .await
        .expect(200)
        .body;
    assert_eq!(b_list["data"].as_array().unwrap().len(), 1, "{b_list}");
    assert_eq!(b_list["data"][0]["id"], bc["id"]);
    assert_eq!(b_list["total"], 1);
    let b_deals = app
        .call_as(bt, Method::GET, "/api/v1/data/sales/deal", None)
        .await
        .expect(200)
        .body;
    assert_eq!(b_deals["data"], json!([]));
    // A relation in B's app cannot point at A's record.
    let r = app
        .call_as(
            bt,
            Method::POST,
            "/api/v1/data/sales/deal",
            Some(json!({"title": "t", "customer": cid})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_error(&r, "customer", "not_found");

    // A is untouched and sees only its own.
    let a_list = app.get("/api/v1/data/sales/customer").await.expect(200).body;
    assert_eq!(a_list["data"].as_array().unwrap().len(), 1);
    assert_eq!(a_list["data"][0], c, "A's record is unchanged");
    assert_eq!(record(&app, "deal", &d["id"]).await, d);
    app.get(&format!("/api/v1/data/sales/customer/{}", s(&bc["id"])))
        .await
        .expect_problem(404, "not_found");
    let a_apps = app.get("/api/v1/apps").await.expect(200).body;
    assert_eq!(a_apps["data"].as_array().unwrap().len(), 1);
    assert_eq!(app_version(&app, "sales").await, 1, "nothing B did changed A's app");
}

on_both!(another_tenant_gets_404_for_everything_of_this_tenant_even_with_the_same_names);

// ---------------------------------------------------------------------------------------------
// 3. Metadata
// ---------------------------------------------------------------------------------------------

fn small_app(name: &str, fields: Value) -> Value {
    json!({"name": name, "label": {"en": "Small"}, "entities": [
        {"name": "customer", "label": {"en": "Customer"}, "fields": [{"name": "name", "label": {"en": "Name"}, "type": "text"}]},
        {"name": "deal", "label": {"en": "Deal"}, "fields": fields}
    ]})
}

async fn an_invalid_app_definition_answers_422_with_the_paths_of_its_problems(b: Backend) {
    let app = spawn(b).await;
    // Schema errors: bad slug, unknown type, unknown property.
    let r = app
        .post("/api/v1/apps", json!({"name": "Sales App", "label": {"en": "S"}}))
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "name", "schema_pattern");
    let r = app
        .post(
            "/api/v1/apps",
            small_app("s1", json!([{"name": "amount", "label": {"en": "A"}, "type": "money"}])),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "entities.1.fields.0.type", "schema_enum");
    let r = app
        .post(
            "/api/v1/apps",
            small_app(
                "s1",
                json!([{"name": "Amount", "label": {"en": "A"}, "type": "integer", "colour": "red"}]),
            ),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert!(
        r.errors().iter().any(|(f, _)| f == "entities.1.fields.0.name"),
        "{}",
        r.text
    );
    assert!(r.errors().iter().any(|(f, _)| f == "entities.1.fields.0"), "{}", r.text);
    let r = app
        .post(
            "/api/v1/apps",
            small_app("s1", json!([{"name": "c", "label": {"en": "C"}, "type": "relation"}])),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert!(
        r.errors().iter().any(|(f, _)| f.starts_with("entities.1.fields.0")),
        "{}",
        r.text
    );

    // Semantic errors, all reported at once.
    let r = app
        .post(
            "/api/v1/apps",
            small_app(
                "s1",
                json!([
                    {"name": "title", "label": {"en": "T"}, "type": "text"},
                    {"name": "title", "label": {"en": "T2"}, "type": "text"},
                    {"name": "customer", "label": {"en": "C"}, "type": "relation", "target": "client"},
                    {"name": "owner", "label": {"en": "O"}, "type": "user"},
                    {"name": "qty", "label": {"en": "Q"}, "type": "integer", "min": 10, "max": 1}
                ]),
            ),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "entities.deal.fields.title", "duplicate");
    assert_error(&r, "entities.deal.fields.customer.target", "unknown_entity");
    assert_error(&r, "entities.deal.fields.owner", "reserved");
    assert_error(&r, "entities.deal.fields.qty.min", "range");
    let dup_entity = json!({"name": "s1", "label": {"en": "S"}, "entities": [
        {"name": "deal", "label": {"en": "D"}}, {"name": "deal", "label": {"en": "D2"}}]});
    let r = app
        .post("/api/v1/apps", dup_entity)
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "entities.deal", "duplicate");
    let bad_title = json!({"name": "s1", "label": {"en": "S"}, "entities": [{"name": "deal", "label": {"en": "D"}, "title_field": "nope"}]});
    let r = app
        .post("/api/v1/apps", bad_title)
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "entities.deal.title_field", "unknown_field");

    assert_eq!(
        app.get("/api/v1/apps").await.expect(200).body["data"],
        json!([]),
        "refused definitions wrote nothing"
    );

    app.create_app(sales_app()).await;
    let r = app
        .post("/api/v1/apps", sales_app())
        .await
        .expect_problem(409, "conflict");
    assert_error(&r, "name", "duplicate");
}

async fn entities_and_fields_added_later_take_records_and_existing_rows_get_the_default(b: Backend) {
    let app = spawn(b).await;
    app.create_app(sales_app()).await;
    let c1 = app.create("sales", "customer", json!({"name": "One"})).await;
    let c2 = app.create("sales", "customer", json!({"name": "Two"})).await;

    let r = app
        .post(
            "/api/v1/apps/sales/entities",
            json!({"name": "contact", "label": {"zh": "联系人", "en": "Contact"}, "title_field": "full_name", "fields": [
                {"name": "full_name", "label": {"en": "Name"}, "type": "text", "required": true},
                {"name": "customer", "label": {"en": "Customer"}, "type": "relation", "target": "customer"}
            ]}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(r["applied"], true);
    assert_eq!(r["version"], 2);
    assert_eq!(plan_ops(&r)[0], "create_entity", "{r}");
    assert!(r["entity"]["id"].is_string(), "a storage id was assigned: {r}");
    let contact = app
        .create("sales", "contact", json!({"full_name": "Ann", "customer": c1["id"]}))
        .await;
    assert_eq!(contact["customer"], c1["id"]);
    let r = app
        .post("/api/v1/data/sales/contact", json!({}))
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "full_name", "required");

    // A field with a default fills the rows that exist.
    let r = app
        .post(
            "/api/v1/apps/sales/entities/customer/fields",
            json!({"name": "region", "label": {"en": "Region"}, "type": "text", "default": "north"}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(r["field"]["name"], "region");
    assert_eq!(r["version"], 3);
    assert!(plan_ops(&r).contains(&"add_field".to_string()), "{r}");
    app.post(
        "/api/v1/apps/sales/entities/customer/fields",
        json!({"name": "score", "label": {"en": "Score"}, "type": "integer", "default": 5}),
    )
    .await
    .expect(201);
    app.post(
        "/api/v1/apps/sales/entities/customer/fields",
        json!({"name": "memo", "label": {"en": "Memo"}, "type": "text"}),
    )
    .await
    .expect(201);
    for c in [&c1, &c2] {
        let got = record(&app, "customer", &c["id"]).await;
        assert_eq!(got["region"], "north", "{got}");
        assert_eq!(got["score"], 5, "{got}");
        assert!(got["memo"].is_null(), "{got}");
        assert_eq!(got["name"], c["name"], "other values are kept");
    }
    let c3 = app.create("sales", "customer", json!({"name": "Three"})).await;
    assert_eq!(c3["region"], "north");
    let c4 = app
        .create(
            "sales",
            "customer",
            json!({"name": "Four", "region": "south", "score": 9}),
        )
        .await;
    assert_eq!((c4["region"].clone(), c4["score"].clone()), (json!("south"), json!(9)));

    // Conflicts and invalid definitions.
    let r = app
        .post(
            "/api/v1/apps/sales/entities/customer/fields",
            json!({"name": "region", "label": {"en": "R"}, "type": "text"}),
        )
        .await
        .expect_problem(409, "conflict");
    assert_error(&r, "name", "duplicate");
    app.post(
        "/api/v1/apps/sales/entities",
        json!({"name": "contact", "label": {"en": "C"}}),
    )
    .await
    .expect_problem(409, "conflict");
    let r = app
        .post(
            "/api/v1/apps/sales/entities/customer/fields",
            json!({"name": "version", "label": {"en": "V"}, "type": "integer"}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "entities.customer.fields.version", "reserved");
    let r = app
        .post(
            "/api/v1/apps/sales/entities/customer/fields",
            json!({"name": "parent", "label": {"en": "P"}, "type": "relation", "target": "nowhere"}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "entities.customer.fields.parent.target", "unknown_entity");
    let r = app
        .post(
            "/api/v1/apps/sales/entities/customer/fields",
            json!({"name": "2nd", "label": {"en": "P"}, "type": "text"}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "name", "schema_pattern");
    app.post(
        "/api/v1/apps/sales/entities/nowhere/fields",
        json!({"name": "x", "label": {"en": "X"}, "type": "text"}),
    )
    .await
    .expect_problem(404, "not_found");
    assert_eq!(
        app_version(&app, "sales").await,
        5,
        "refused changes left the version alone"
    );
}

async fn renaming_a_field_is_metadata_only_and_keeps_its_values_and_column(b: Backend) {
    let app = spawn(b).await;
    app.create_app(sales_app()).await;
    let c = app
        .create("sales", "customer", json!({"name": "Acme", "phone": "+86 10 1234"}))
        .await;
    let before = field_def(&app, "customer", "phone").await.expect("phone");
    let title_before = field_def(&app, "customer", "name").await.expect("name");

    let r = app
        .patch(
            "/api/v1/apps/sales/entities/customer/fields/phone",
            json!({"name": "mobile", "label": {"en": "Mobile"}}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(r["applied"], true);
    assert_eq!(r["version"], 2);
    assert!(
        plan_ops(&r).iter().all(|op| op == "metadata"),
        "a rename touches no table: {r}"
    );
    let after = field_def(&app, "customer", "mobile").await.expect("mobile");
    assert_eq!(after["id"], before["id"], "the storage id stays");
    assert_eq!(after["label"], json!({"zh": "电话", "en": "Mobile"}), "labels merge");
    assert!(field_def(&app, "customer", "phone").await.is_none());
    let got = record(&app, "customer", &c["id"]).await;
    assert_eq!(got["mobile"], "+86 10 1234", "{got}");
    assert!(got.get("phone").is_none(), "{got}");
    let list = app.get("/api/v1/data/sales/customer?filter=%7B%22field%22%3A%22mobile%22%2C%22op%22%3A%22eq%22%2C%22value%22%3A%22%2B86%2010%201234%22%7D").await.expect(200).body;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "filters use the new name: {list}"
    );
    let r = app
        .post(
            "/api/v1/data/sales/customer",
            json!({"name": "x", "phone": "+86 10 1234"}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "phone", "unknown_field");

    // Renaming the title field moves the entity's title with it.
    let r = app
        .patch(
            "/api/v1/apps/sales/entities/customer/fields/name",
            json!({"name": "company"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(r["app"]["entities"][0]["title_field"], "company", "{r}");
    assert_eq!(
        field_def(&app, "customer", "company").await.unwrap()["id"],
        title_before["id"]
    );
    assert_eq!(record(&app, "customer", &c["id"]).await["company"], "Acme");

    // Labels alone.
    let r = app
        .patch(
            "/api/v1/apps/sales/entities/customer/fields/company",
            json!({"label": {"zh": "公司", "en": "Company"}}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(plan_ops(&r), vec!["metadata"]);
    let r = app
        .patch(
            "/api/v1/apps/sales/entities/customer",
            json!({"label": {"en": "Client"}}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(plan_ops(&r), vec!["metadata"]);
    assert_eq!(r["app"]["entities"][0]["label"], json!({"zh": "客户", "en": "Client"}));
    let r = app
        .patch("/api/v1/apps/sales", json!({"label": {"en": "Sales CRM"}}))
        .await
        .expect(200)
        .body;
    assert_eq!(r["app"]["label"], json!({"zh": "销售管理", "en": "Sales CRM"}));
    app.patch("/api/v1/apps/sales", json!({"name": "other"}))
        .await
        .expect_problem(422, "validation_failed");

    // Nothing to do: nothing applied, no new version.
    let v = app_version(&app, "sales").await;
    let r = app
        .patch("/api/v1/apps/sales/entities/customer/fields/company", json!({}))
        .await
        .expect(200)
        .body;
    assert_eq!(r["applied"], false);
    assert_eq!(app_version(&app, "sales").await, v);

    // The storage id is not the client's to change; names must not collide.
    let r = app
        .patch(
            "/api/v1/apps/sales/entities/customer/fields/mobile",
            json!({"id": "abcdefgh12"}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "id", "read_only");
    app.patch(
        "/api/v1/apps/sales/entities/customer/fields/mobile",
        json!({"name": "email"}),
    )
    .await
    .expect_problem(409, "conflict");
    app.patch("/api/v1/apps/sales/entities/customer/fields/nope", json!({"name": "x"}))
        .await
        .expect_problem(404, "not_found");

    // Renaming an entity keeps relations pointing at it and its records where they were.
    let d = app
        .create("sales", "deal", json!({"title": "T", "customer": c["id"]}))
        .await;
    let r = app
        .patch("/api/v1/apps/sales/entities/customer", json!({"name": "client"}))
        .await
        .expect(200)
        .body;
    assert!(plan_ops(&r).iter().all(|op| op == "metadata"), "{r}");
    let deal_def = app.get("/api/v1/apps/sales/entities/deal").await.expect(200).body;
    let rel = deal_def["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "customer")
        .unwrap();
    assert_eq!(rel["target"], "client");
    assert_eq!(
        app.get(&format!("/api/v1/data/sales/client/{}", s(&c["id"])))
            .await
            .expect(200)
            .body["company"],
        "Acme"
    );
    app.get(&format!("/api/v1/data/sales/customer/{}", s(&c["id"])))
        .await
        .expect_problem(404, "not_found");
    let d2 = app
        .get(&format!("/api/v1/data/sales/deal/{}?expand=customer", s(&d["id"])))
        .await
        .expect(200)
        .body;
    assert_eq!(d2["customer"]["company"], "Acme", "{d2}");
}

async fn a_type_change_converts_values_and_refuses_to_lose_any_unless_allowed(b: Backend) {
    let app = spawn(b).await;
    app.create_app(sales_app()).await;
    let q3 = app
        .create("sales", "deal", json!({"title": "three", "quantity": 3}))
        .await;
    let q7 = app
        .create("sales", "deal", json!({"title": "seven", "quantity": 7}))
        .await;
    let qn = app.create("sales", "deal", json!({"title": "none"})).await;
    let qty = field_def(&app, "deal", "quantity").await.unwrap();

    // integer → decimal keeps every value; a dry run first changes nothing.
    let r = app
        .patch(
            "/api/v1/apps/sales/entities/deal/fields/quantity?dry_run=true",
            json!({"type": "decimal"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(r["applied"], false);
    assert_eq!(r["version"], 1);
    let step = r["plan"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["op"] == "convert_field")
        .cloned()
        .expect("convert_field step");
    assert_eq!(step["field"], "quantity");
    assert_eq!(step["may_lose_data"], false);
    assert_eq!(field_def(&app, "deal", "quantity").await.unwrap()["type"], "integer");
    assert_eq!(app_version(&app, "sales").await, 1);
    assert_eq!(record(&app, "deal", &q3["id"]).await["quantity"], 3);

    let r = app
        .patch(
            "/api/v1/apps/sales/entities/deal/fields/quantity",
            json!({"type": "decimal"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(r["applied"], true);
    assert_eq!(r["version"], 2);
    let f = field_def(&app, "deal", "quantity").await.unwrap();
    assert_eq!(f["type"], "decimal");
    assert_eq!(f["id"], qty["id"]);
    assert_eq!(num(&record(&app, "deal", &q3["id"]).await["quantity"]), Some(3.0));
    assert_eq!(num(&record(&app, "deal", &q7["id"]).await["quantity"]), Some(7.0));
    assert!(record(&app, "deal", &qn["id"]).await["quantity"].is_null());
    let half = app
        .patch(
            &format!("/api/v1/data/sales/deal/{}", s(&q7["id"])),
            json!({"quantity": "2.5"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(num(&half["quantity"]), Some(2.5));

    // decimal → integer would lose 2.5: refused, naming the count, writing nothing.
    for path in [
        "/api/v1/apps/sales/entities/deal/fields/quantity",
        "/api/v1/apps/sales/entities/deal/fields/quantity?dry_run=true",
    ] {
        let r = app
            .patch(path, json!({"type": "integer"}))
            .await
            .expect_problem(409, "conflict");
        let detail = s(&r.body["detail"]);
        assert!(detail.contains("1 record(s)"), "names the count: {detail}");
        assert!(detail.contains("allow_data_loss"), "says how to proceed: {detail}");
        assert!(!detail.to_lowercase().contains("select"), "no SQL: {detail}");
    }
    assert_eq!(field_def(&app, "deal", "quantity").await.unwrap()["type"], "decimal");
    assert_eq!(app_version(&app, "sales").await, 2);
    assert_eq!(num(&record(&app, "deal", &q7["id"]).await["quantity"]), Some(2.5));
    assert_eq!(num(&record(&app, "deal", &q3["id"]).await["quantity"]), Some(3.0));

    // A dry run that allows the loss shows it and still changes nothing.
    let r = app
        .patch(
            "/api/v1/apps/sales/entities/deal/fields/quantity?dry_run=true&allow_data_loss=true",
            json!({"type": "integer"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(r["applied"], false);
    let step = r["plan"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["op"] == "convert_field")
        .cloned()
        .expect("convert_field step");
    assert_eq!(step["may_lose_data"], true, "{r}");
    assert_eq!(app_version(&app, "sales").await, 2);
    assert_eq!(num(&record(&app, "deal", &q7["id"]).await["quantity"]), Some(2.5));

    let r = app
        .patch(
            "/api/v1/apps/sales/entities/deal/fields/quantity?allow_data_loss=true",
            json!({"type": "integer"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(r["applied"], true);
    assert_eq!(r["version"], 3);
    assert_eq!(
        record(&app, "deal", &q3["id"]).await["quantity"],
        3,
        "integral values are kept"
    );
    assert!(
        record(&app, "deal", &q7["id"]).await["quantity"].is_null(),
        "the fractional value is dropped"
    );
    assert!(record(&app, "deal", &qn["id"]).await["quantity"].is_null());
    app.patch(
        &format!("/api/v1/data/sales/deal/{}", s(&q7["id"])),
        json!({"quantity": 2.5}),
    )
    .await
    .expect_problem(422, "validation_failed");

    // text → integer, on an entity of its own: numbers in text carry over; other text is refused.
    app.post(
        "/api/v1/apps/sales/entities",
        json!({"name": "ticket", "label": {"en": "Ticket"}, "fields": [
            {"name": "ref_no", "label": {"en": "Ref"}, "type": "text"},
            {"name": "subject", "label": {"en": "Subject"}, "type": "text"}
        ]}),
    )
    .await
    .expect(201);
    let t42 = app.create("sales", "ticket", json!({"ref_no": "42"})).await;
    let t7 = app.create("sales", "ticket", json!({"ref_no": " 7 "})).await;
    let tx = app.create("sales", "ticket", json!({"ref_no": "abc"})).await;
    let r = app
        .patch(
            "/api/v1/apps/sales/entities/ticket/fields/ref_no",
            json!({"type": "integer"}),
        )
        .await
        .expect_problem(409, "conflict");
    assert!(s(&r.body["detail"]).contains("1 record(s)"), "{}", r.text);
    let kept = app
        .get(&format!("/api/v1/data/sales/ticket/{}?fields=ref_no", s(&tx["id"])))
        .await
        .expect(200)
        .body;
    assert_eq!(kept["ref_no"], "abc", "the refused change wrote nothing");
    assert_eq!(field_def(&app, "ticket", "ref_no").await.unwrap()["type"], "text");
    app.delete(&format!("/api/v1/data/sales/ticket/{}", s(&tx["id"])))
        .await
        .expect(204);
    let t1000 = app.create("sales", "ticket", json!({"ref_no": "1000"})).await;
    let r = app
        .patch(
            "/api/v1/apps/sales/entities/ticket/fields/ref_no",
            json!({"type": "integer"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(r["applied"], true);
    assert_eq!(record(&app, "ticket", &t42["id"]).await["ref_no"], 42);
    assert_eq!(record(&app, "ticket", &t7["id"]).await["ref_no"], 7);
    assert_eq!(record(&app, "ticket", &t1000["id"]).await["ref_no"], 1000);
    let list = app
        .get("/api/v1/data/sales/ticket?sort=-ref_no&limit=1")
        .await
        .expect(200)
        .body;
    assert_eq!(
        list["data"][0]["ref_no"], 1000,
        "the column sorts as a number now: {list}"
    );
}

async fn a_field_cannot_be_made_unique_while_records_share_a_value(b: Backend) {
    let app = spawn(b).await;
    app.create_app(sales_app()).await;
    app.create("sales", "customer", json!({"name": "A", "phone": "010 8888 0001"}))
        .await;
    let dup = app
        .create("sales", "customer", json!({"name": "B", "phone": "010 8888 0001"}))
        .await;
    let r = app
        .patch(
            "/api/v1/apps/sales/entities/customer/fields/phone",
            json!({"unique": true}),
        )
        .await
        .expect_problem(409, "conflict");
    assert!(s(&r.body["detail"]).contains("phone"), "{}", r.text);
    assert_eq!(
        field_def(&app, "customer", "phone")
            .await
            .unwrap()
            .get("unique")
            .cloned()
            .unwrap_or(json!(false)),
        false
    );
    assert_eq!(app_version(&app, "sales").await, 1);
    // Once the values differ it works, and holds from then on.
    app.patch(
        &format!("/api/v1/data/sales/customer/{}", s(&dup["id"])),
        json!({"phone": "010 8888 0002"}),
    )
    .await
    .expect(200);
    let r = app
        .patch(
            "/api/v1/apps/sales/entities/customer/fields/phone",
            json!({"unique": true}),
        )
        .await
        .expect(200)
        .body;
    assert!(plan_ops(&r).contains(&"create_index".to_string()), "{r}");
    assert_eq!(field_def(&app, "customer", "phone").await.unwrap()["unique"], true);
    let r = app
        .post(
            "/api/v1/data/sales/customer",
            json!({"name": "C", "phone": "010 8888 0001"}),
        )
        .await;
    assert!(r.status == 409 || r.status == 422, "a duplicate is refused: {}", r.text);
    assert_eq!(
        app.get("/api/v1/data/sales/customer?count=true").await.expect(200).body["total"],
        2
    );
}

async fn deleting_fields_entities_and_apps_removes_them_with_their_data(b: Backend) {
    let app = spawn(b).await;
    app.create_app(sales_app()).await;
    let c = app.create("sales", "customer", json!({"name": "A"})).await;
    let d = app
        .create(
            "sales",
            "deal",
            json!({"title": "T", "notes": "secret", "customer": c["id"]}),
        )
        .await;

    let r = app
        .delete("/api/v1/apps/sales/entities/deal/fields/notes")
        .await
        .expect(200)
        .body;
    let step = &r["plan"][0];
    assert_eq!(
        (step["op"].clone(), step["may_lose_data"].clone()),
        (json!("drop_field"), json!(true)),
        "{r}"
    );
    let got = record(&app, "deal", &d["id"]).await;
    assert!(got.get("notes").is_none(), "{got}");
    let r = app
        .post("/api/v1/data/sales/deal", json!({"title": "x", "notes": "y"}))
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "notes", "unknown_field");
    app.delete("/api/v1/apps/sales/entities/deal/fields/notes")
        .await
        .expect_problem(404, "not_found");
    // A field of the same name added again starts empty.
    app.post(
        "/api/v1/apps/sales/entities/deal/fields",
        json!({"name": "notes", "label": {"en": "N"}, "type": "long_text"}),
    )
    .await
    .expect(201);
    assert!(record(&app, "deal", &d["id"]).await["notes"].is_null());

    // An entity that a relation points at stays.
    let v = app_version(&app, "sales").await;
    let r = app
        .delete("/api/v1/apps/sales/entities/customer")
        .await
        .expect_problem(409, "conflict");
    assert!(s(&r.body["detail"]).contains("deal.customer"), "{}", r.text);
    assert_eq!(app_version(&app, "sales").await, v);
    record(&app, "customer", &c["id"]).await;

    app.delete("/api/v1/apps/sales/entities/deal/fields/customer")
        .await
        .expect(200);
    let r = app
        .delete("/api/v1/apps/sales/entities/customer")
        .await
        .expect(200)
        .body;
    assert_eq!(plan_ops(&r), vec!["drop_entity"]);
    app.get("/api/v1/apps/sales/entities/customer")
        .await
        .expect_problem(404, "not_found");
    app.get("/api/v1/data/sales/customer")
        .await
        .expect_problem(404, "not_found");
    app.delete("/api/v1/apps/sales/entities/customer")
        .await
        .expect_problem(404, "not_found");
    record(&app, "deal", &d["id"]).await;

    // The app, with all that is left.
    app.delete("/api/v1/apps/sales").await.expect(204);
    app.get("/api/v1/apps/sales").await.expect_problem(404, "not_found");
    app.get(&format!("/api/v1/data/sales/deal/{}", s(&d["id"])))
        .await
        .expect_problem(404, "not_found");
    app.get("/api/v1/apps/sales/openapi.json")
        .await
        .expect_problem(404, "not_found");
    app.delete("/api/v1/apps/sales").await.expect_problem(404, "not_found");
    assert_eq!(app.get("/api/v1/apps").await.expect(200).body["data"], json!([]));
    // The name is free again, and the new app starts without records.
    app.create_app(sales_app()).await;
    assert_eq!(
        app.get("/api/v1/data/sales/deal?count=true").await.expect(200).body["total"],
        0
    );
    app.get(&format!("/api/v1/data/sales/deal/{}", s(&d["id"])))
        .await
        .expect_problem(404, "not_found");
    let again = app.create("sales", "deal", json!({"title": "first again"})).await;
    assert!(
        s(&again["code"]).ends_with("00001"),
        "numbering starts anew in a new app: {again}"
    );
}

async fn members_read_and_write_records_but_may_not_change_metadata(b: Backend) {
    let app = spawn(b).await;
    app.create_app(sales_app()).await;
    app.post(
        "/api/v1/users",
        json!({"email": "member@example.com", "name": "member", "password": "member-password-1"}),
    )
    .await
    .expect(201);
    let m = app.login("member@example.com", "member-password-1").await;
    let mt = Some(m.as_str());
    let me = get_as(&app, &m, "/api/v1/me").await.expect(200).body;
    assert_eq!(me["user"]["is_admin"], false);
    assert_eq!(me["roles"], json!(["member"]));

    // Reads of metadata and all record operations.
    assert_eq!(
        get_as(&app, &m, "/api/v1/apps").await.expect(200).body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    get_as(&app, &m, "/api/v1/apps/sales/entities/deal/fields")
        .await
        .expect(200);
    get_as(&app, &m, "/api/v1/apps/sales/openapi.json").await.expect(200);
    let c = app
        .call_as(
            mt,
            Method::POST,
            "/api/v1/data/sales/customer",
            Some(json!({"name": "by member"})),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(c["created_by"], me["user"]["id"]);
    let p = format!("/api/v1/data/sales/customer/{}", s(&c["id"]));
    app.call_as(mt, Method::PATCH, &p, Some(json!({"phone": "+86 21 5555 0101"})))
        .await
        .expect(200);
    app.call_as(mt, Method::GET, "/api/v1/data/sales/customer", None)
        .await
        .expect(200);
    app.call_as(
        mt,
        Method::POST,
        "/api/v1/data/sales/customer/bulk",
        Some(json!({"create": [{"name": "bulk"}]})),
    )
    .await
    .expect(200);
    app.call_as(mt, Method::DELETE, &p, None).await.expect(204);
    // A member may have API tokens of their own.
    app.call_as(mt, Method::POST, "/api/v1/auth/tokens", Some(json!({"name": "mine"})))
        .await
        .expect(201);

    let field = json!({"name": "x", "label": {"en": "X"}, "type": "text"});
    let denied: Vec<(Method, &str, Option<Value>)> = vec![
        (
            Method::POST,
            "/api/v1/apps",
            Some(json!({"name": "mine", "label": {"en": "Mine"}})),
        ),
        (Method::PATCH, "/api/v1/apps/sales", Some(json!({"label": {"en": "X"}}))),
        (Method::DELETE, "/api/v1/apps/sales", None),
        (
            Method::POST,
            "/api/v1/apps/sales/entities",
            Some(json!({"name": "x", "label": {"en": "X"}})),
        ),
        (
            Method::PATCH,
            "/api/v1/apps/sales/entities/deal",
            Some(json!({"label": {"en": "X"}})),
        ),
        (Method::DELETE, "/api/v1/apps/sales/entities/deal", None),
        (Method::POST, "/api/v1/apps/sales/entities/deal/fields", Some(field)),
        (
            Method::PATCH,
            "/api/v1/apps/sales/entities/deal/fields/title",
            Some(json!({"name": "subject"})),
        ),
        (Method::DELETE, "/api/v1/apps/sales/entities/deal/fields/title", None),
    ];
    for (method, path, body) in denied {
        app.call_as(mt, method, path, body)
            .await
            .expect_problem(403, "permission_denied");
    }
    assert_eq!(app_version(&app, "sales").await, 1, "nothing changed");
    assert_eq!(
        app.get("/api/v1/apps").await.expect(200).body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

on_both!(
    an_invalid_app_definition_answers_422_with_the_paths_of_its_problems,
    entities_and_fields_added_later_take_records_and_existing_rows_get_the_default,
    renaming_a_field_is_metadata_only_and_keeps_its_values_and_column,
    a_type_change_converts_values_and_refuses_to_lose_any_unless_allowed,
    a_field_cannot_be_made_unique_while_records_share_a_value,
    deleting_fields_entities_and_apps_removes_them_with_their_data,
    members_read_and_write_records_but_may_not_change_metadata,
);

// ---------------------------------------------------------------------------------------------
// 4. OpenAPI
// ---------------------------------------------------------------------------------------------

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// A concrete path for a templated one.
fn fill(path: &str) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    path.replace("{app}", "sales")
        .replace("{entity}", "customer")
        .replace("{field}", "name")
        .replace("{id}", &id)
        .replace("{rule}", "r")
        .replace("{role}", "r")
        .replace("{user}", &id)
        .replace("{name}", "office")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_of_the_platform_document_is_registered_and_needs_a_token() {
    let app = spawn(Backend::Sqlite).await;
    app.create_app(sales_app()).await;
    let r = app
        .call_as(None, Method::GET, "/api/v1/openapi.json", None)
        .await
        .expect(200);
    assert!(r.content_type().starts_with("application/json"), "{}", r.content_type());
    let spec = r.body;
    assert!(s(&spec["openapi"]).starts_with("3.1"), "{}", spec["openapi"]);
    assert!(spec["info"]["title"].is_string());
    assert_eq!(spec["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let paths = spec["paths"].as_object().expect("paths");

    let expected = [
        ("post", "/api/v1/auth/login"),
        ("post", "/api/v1/auth/tokens"),
        ("get", "/api/v1/auth/tokens"),
        ("delete", "/api/v1/auth/tokens/{id}"),
        ("get", "/api/v1/me"),
        ("get", "/api/v1/users"),
        ("post", "/api/v1/users"),
        ("get", "/api/v1/users/{id}"),
        ("get", "/api/v1/me/delegations"),
        ("post", "/api/v1/me/delegations"),
        ("get", "/api/v1/calendars"),
        ("get", "/api/v1/calendars/{name}"),
        ("put", "/api/v1/calendars/{name}"),
        ("delete", "/api/v1/calendars/{name}"),
        ("get", "/api/v1/notifications"),
        ("post", "/api/v1/notifications/{id}/read"),
        ("get", "/api/v1/apps/{app}/roles"),
        ("post", "/api/v1/apps/{app}/roles/{role}/members"),
        ("delete", "/api/v1/apps/{app}/roles/{role}/members/{user}"),
        ("get", "/api/v1/apps"),
        ("post", "/api/v1/apps"),
        ("get", "/api/v1/apps/{app}"),
        ("patch", "/api/v1/apps/{app}"),
        ("delete", "/api/v1/apps/{app}"),
        ("get", "/api/v1/apps/{app}/openapi.json"),
        ("get", "/api/v1/apps/{app}/entities"),
        ("post", "/api/v1/apps/{app}/entities"),
        ("get", "/api/v1/apps/{app}/entities/{entity}"),
        ("patch", "/api/v1/apps/{app}/entities/{entity}"),
        ("delete", "/api/v1/apps/{app}/entities/{entity}"),
        ("get", "/api/v1/apps/{app}/entities/{entity}/fields"),
        ("post", "/api/v1/apps/{app}/entities/{entity}/fields"),
        ("patch", "/api/v1/apps/{app}/entities/{entity}/fields/{field}"),
        ("delete", "/api/v1/apps/{app}/entities/{entity}/fields/{field}"),
        ("get", "/api/v1/data/{app}/{entity}"),
        ("post", "/api/v1/data/{app}/{entity}"),
        ("post", "/api/v1/data/{app}/{entity}/bulk"),
        ("get", "/api/v1/data/{app}/{entity}/{id}"),
        ("patch", "/api/v1/data/{app}/{entity}/{id}"),
        ("delete", "/api/v1/data/{app}/{entity}/{id}"),
    ];
    for (m, p) in expected {
        assert!(
            paths.get(p).and_then(|o| o.get(m)).is_some(),
            "{} {p} is documented",
            m.to_uppercase()
        );
    }

    let mut checked = 0;
    for (path, item) in paths {
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let public =
                (m == "post" && path == "/api/v1/auth/login") || (m == "get" && path == "/api/v1/openapi.json");
            if public {
                continue;
            }
            let method = Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
            let body = op.get("requestBody").map(|_| json!({}));
            let r = app.call_as(None, method, &fill(path), body).await;
            assert_eq!(
                r.status,
                401,
                "{} {path} answers 401 without a token: {}",
                m.to_uppercase(),
                r.text
            );
            assert_eq!(r.code(), "unauthenticated", "{} {path}", m.to_uppercase());
            assert_eq!(r.content_type(), "application/problem+json");
            checked += 1;
        }
    }
    assert!(checked >= expected.len() - 1, "checked {checked} operations");
    // An undocumented path answers 404, so the 401s above prove the routes exist.
    app.call_as(None, Method::GET, "/api/v1/not-a-route", None)
        .await
        .expect_problem(404, "not_found");
    // A documented path with a method it does not have answers 405 naming the ones it has.
    let r = app
        .call_as(None, Method::PUT, "/api/v1/apps", Some(json!({})))
        .await
        .expect_problem(405, "method_not_allowed");
    assert_eq!(r.headers.get("allow").and_then(|v| v.to_str().ok()), Some("GET, POST"));
}

/// A deal with every field filled (as sent).
fn full_deal(customer: &Value, user: &Value) -> Value {
    json!({
        "title": "ERP rollout", "amount": {"amount": "1234.56", "currency": "CNY"}, "probability": 40.5, "quantity": 12,
        "customer": customer, "phase": "new", "tags": ["hot", "key"], "expected_close": "2026-03-31",
        "signed_at": "2026-01-15T08:30:00Z", "urgent": true, "website": "https://erp.example.com/x",
        "rep": user, "notes": "长文本 long text", "extra": {"nested": [1, 2, {"a": null}]}
    })
}

async fn the_app_document_describes_every_record_the_api_answers(b: Backend) {
    let app = spawn(b).await;
    app.create_app(sales_app()).await;
    let spec = app.get("/api/v1/apps/sales/openapi.json").await.expect(200).body;
    assert_eq!(spec["openapi"], "3.1.0");
    assert_eq!(spec["info"]["version"], "1");
    let schemas = spec["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "Customer",
        "CustomerCreate",
        "CustomerUpdate",
        "Deal",
        "DealCreate",
        "DealUpdate",
        "Problem",
    ] {
        assert!(
            schemas.contains_key(name),
            "{name} in {:?}",
            schemas.keys().collect::<Vec<_>>()
        );
    }
    for p in [
        "/api/v1/data/sales/deal",
        "/api/v1/data/sales/deal/{id}",
        "/api/v1/data/sales/deal/bulk",
        "/api/v1/data/sales/customer",
    ] {
        assert!(spec["paths"].get(p).is_some(), "{p} is documented");
    }
    // Real types, nullable as 3.1 unions.
    let deal = &schemas["Deal"]["properties"];
    assert_eq!(deal["quantity"]["type"], json!(["integer", "null"]));
    assert_eq!(deal["probability"]["type"], json!(["number", "null"]));
    assert_eq!(deal["urgent"]["type"], json!(["boolean", "null"]));
    assert_eq!(deal["expected_close"]["format"], "date");
    assert_eq!(deal["signed_at"]["format"], "date-time");
    // A relation reads as an id, or expanded as the record it points at.
    assert_eq!(deal["customer"]["anyOf"][0]["format"], "uuid");
    assert_eq!(deal["customer"]["anyOf"][1]["type"], "object");
    assert_eq!(deal["tags"]["type"], json!(["array", "null"]));
    assert!(deal["phase"]["enum"].as_array().unwrap().contains(&json!("won")));
    assert_eq!(deal["amount"]["type"], json!(["object", "null"]));
    assert_eq!(deal["amount"]["properties"]["currency"]["pattern"], "^[A-Z]{3}$");
    assert_eq!(deal["code"]["readOnly"], true);
    // The server's own e-mail rule, not the format `email` (which it is looser than).
    assert!(schemas["Customer"]["properties"]["email"]["pattern"].is_string());
    assert_eq!(schemas["Customer"]["properties"]["email"]["maxLength"], 254);
    assert_eq!(schemas["Customer"]["properties"]["name"]["maxLength"], 100);
    assert_eq!(schemas["CustomerCreate"]["required"], json!(["name"]));
    assert!(
        schemas["DealCreate"]["properties"].get("code").is_none(),
        "auto numbers are not written"
    );

    let (deal_v, customer_v) = (
        component_validator(&spec, "Deal"),
        component_validator(&spec, "Customer"),
    );
    let (deal_create_v, deal_update_v) = (
        component_validator(&spec, "DealCreate"),
        component_validator(&spec, "DealUpdate"),
    );
    // The validator is not vacuous.
    assert!(!deal_v.is_valid(&json!({"id": "x"})));
    assert!(!deal_v.is_valid(&json!({"id": uuid::Uuid::now_v7().to_string(), "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "version": 1, "quantity": "many"})));

    let me = app.get("/api/v1/me").await.expect(200).body;
    let c_body = json!({"name": "华为 Huawei", "email": "ops@huawei.example", "phone": "+86 755 1234", "level": "vip"});
    let c = app.create("sales", "customer", c_body).await;
    assert_valid(&customer_v, "created customer", &c);
    // What the server refuses, the create schema refuses too, and what it takes, it allows.
    let customer_create_v = component_validator(&spec, "CustomerCreate");
    for refused in [
        json!({"name": " "}),
        json!({"name": "a\u{0}b"}),
        json!({"name": "a", "email": "a@b"}),
    ] {
        assert!(!customer_create_v.is_valid(&refused), "{refused}");
        app.post("/api/v1/data/sales/customer", refused)
            .await
            .expect_problem(422, "validation_failed");
    }
    let odd = json!({"name": "Odd", "email": "x|y@example.com*"});
    assert_valid(&customer_create_v, "an address the server takes", &odd);
    let odd = app.create("sales", "customer", odd).await;
    assert_valid(&customer_v, "created customer", &odd);
    let sent = full_deal(&c["id"], &me["user"]["id"]);
    assert_valid(&deal_create_v, "the create body", &sent);
    let d = app.create("sales", "deal", sent).await;
    assert_valid(&deal_v, "created deal", &d);
    let empty = app.create("sales", "deal", json!({"title": "bare"})).await;
    assert_valid(&deal_v, "deal with empty fields", &empty);
    assert_valid(&deal_v, "read deal", &record(&app, "deal", &d["id"]).await);
    let expanded = app
        .get(&format!("/api/v1/data/sales/deal/{}?expand=customer", s(&d["id"])))
        .await
        .expect(200)
        .body;
    assert!(expanded["customer"].is_object(), "{expanded}");
    assert_valid(&deal_v, "expanded deal", &expanded);
    // A decimal written as text keeps to the field's bounds and scale in the document too.
    assert!(!deal_create_v.is_valid(&json!({"title": "t", "amount": "-1"})));
    assert!(!deal_create_v.is_valid(&json!({"title": "t", "amount": "1.001"})));
    assert_valid(
        &deal_create_v,
        "an amount as text",
        &json!({"title": "t", "amount": "12.5"}),
    );
    // A choice sent twice is taken once.
    let twice = json!({"title": "twice", "tags": ["key", "key"]});
    assert_valid(&deal_create_v, "a choice sent twice", &twice);
    assert_eq!(app.create("sales", "deal", twice).await["tags"], json!(["key"]));
    let upd = json!({"quantity": 13, "phase": "won", "tags": [], "amount": 99.5, "probability": null});
    assert_valid(&deal_update_v, "the update body", &upd);
    let patched = app
        .patch(&format!("/api/v1/data/sales/deal/{}", s(&d["id"])), upd)
        .await
        .expect(200)
        .body;
    assert_valid(&deal_v, "patched deal", &patched);
    let bulk = app
        .post(
            "/api/v1/data/sales/deal/bulk",
            json!({"create": [{"title": "b1", "quantity": 1}], "update": [{"id": empty["id"], "urgent": true}]}),
        )
        .await
        .expect(200)
        .body;
    for r in bulk["created"]
        .as_array()
        .unwrap()
        .iter()
        .chain(bulk["updated"].as_array().unwrap())
    {
        assert_valid(&deal_v, "bulk-written deal", r);
    }
    let list = app.get("/api/v1/data/sales/deal?limit=100").await.expect(200).body;
    assert_eq!(list["data"].as_array().unwrap().len(), 4);
    for item in list["data"].as_array().unwrap() {
        assert_valid(&deal_v, "listed deal", item);
    }
    for item in app.get("/api/v1/data/sales/customer").await.expect(200).body["data"]
        .as_array()
        .unwrap()
    {
        assert_valid(&customer_v, "listed customer", item);
    }
    // Problems match the Problem schema too.
    let problem_v = component_validator(&spec, "Problem");
    let bad = app
        .post("/api/v1/data/sales/deal", json!({"amount": -1}))
        .await
        .expect_problem(422, "validation_failed");
    assert_valid(&problem_v, "a problem", &bad.body);
}

async fn the_app_document_follows_the_definition(b: Backend) {
    let app = spawn(b).await;
    app.create_app(sales_app()).await;
    let v1 = app.get("/api/v1/apps/sales/openapi.json").await.expect(200).body;
    assert!(
        v1["components"]["schemas"]["Customer"]["properties"]
            .get("region")
            .is_none()
    );
    app.post(
        "/api/v1/apps/sales/entities/customer/fields",
        json!({"name": "region", "label": {"en": "Region"}, "type": "integer"}),
    )
    .await
    .expect(201);
    let v2 = app.get("/api/v1/apps/sales/openapi.json").await.expect(200).body;
    assert_eq!(v2["info"]["version"], "2");
    assert_eq!(
        v2["components"]["schemas"]["Customer"]["properties"]["region"]["type"],
        json!(["integer", "null"])
    );
    assert!(
        v2["components"]["schemas"]["CustomerCreate"]["properties"]
            .get("region")
            .is_some()
    );
    let c = app.create("sales", "customer", json!({"name": "n", "region": 3})).await;
    assert_valid(&component_validator(&v2, "Customer"), "customer with the new field", &c);
    // A record with the new field does not fit the old document: the documents really differ.
    assert!(!component_validator(&v1, "Customer").is_valid(&c));

    app.post(
        "/api/v1/apps/sales/entities",
        json!({"name": "sales_order", "label": {"en": "Order"}}),
    )
    .await
    .expect(201);
    let v3 = app.get("/api/v1/apps/sales/openapi.json").await.expect(200).body;
    assert_eq!(v3["info"]["version"], "3");
    assert!(v3["components"]["schemas"].get("SalesOrder").is_some());
    assert!(v3["paths"].get("/api/v1/data/sales/sales_order").is_some());
}

on_both!(
    the_app_document_describes_every_record_the_api_answers,
    the_app_document_follows_the_definition
);

// ---------------------------------------------------------------------------------------------
// 5. Docs
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_ui_is_served_from_the_binary_and_lists_a_logged_in_browsers_apps() {
    let app = spawn(Backend::Sqlite).await;
    app.create_app(sales_app()).await;
    let index = app.call_as(None, Method::GET, "/docs/", None).await.expect(200);
    assert!(
        index.content_type().starts_with("text/html"),
        "{}",
        index.content_type()
    );
    assert!(index.text.to_lowercase().contains("swagger"), "{}", index.text);
    // /docs leads to /docs/.
    let r = app.call_as(None, Method::GET, "/docs", None).await.expect(200);
    assert!(r.content_type().starts_with("text/html"));
    // The UI's own files come from the binary too.
    let bundle = app
        .client
        .get(format!("{}/docs/swagger-ui-bundle.js", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);
    assert!(
        bundle.bytes().await.unwrap().len() > 100_000,
        "the real bundle, not a stub"
    );
    app.call_as(None, Method::GET, "/docs/no-such-file.js", None)
        .await
        .expect_problem(404, "not_found");

    let anon = app
        .call_as(None, Method::GET, "/docs/swagger-initializer.js", None)
        .await
        .expect(200);
    assert!(anon.text.contains("/api/v1/openapi.json"), "{}", anon.text);
    assert!(
        !anon.text.contains("/api/v1/apps/sales/openapi.json"),
        "no apps without a session: {}",
        anon.text
    );

    // A browser login: the cookie, not a bearer token.
    let login = app
        .client
        .post(format!("{}/api/v1/auth/login", app.base))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let set_cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    assert!(cookie.starts_with("trellis_session=trs_"), "{set_cookie}");
    let cookie_hdr = [("cookie", cookie.as_str())];
    let with = app
        .call_with(None, Method::GET, "/docs/swagger-initializer.js", None, &cookie_hdr)
        .await
        .expect(200);
    assert!(with.text.contains("/api/v1/openapi.json"), "{}", with.text);
    assert!(
        with.text.contains("/api/v1/apps/sales/openapi.json"),
        "the app's document is listed: {}",
        with.text
    );
    // What the UI then fetches with that cookie.
    let doc = app
        .call_with(None, Method::GET, "/api/v1/apps/sales/openapi.json", None, &cookie_hdr)
        .await
        .expect(200);
    assert_eq!(doc.body["openapi"], "3.1.0");
    // The cookie opens the documentation only, not the API.
    app.call_with(None, Method::GET, "/api/v1/apps", None, &cookie_hdr)
        .await
        .expect_problem(401, "unauthenticated");
    // A forged cookie lists nothing.
    let forged = app
        .call_with(
            None,
            Method::GET,
            "/docs/swagger-initializer.js",
            None,
            &[("cookie", "trellis_session=trs_forged")],
        )
        .await
        .expect(200);
    assert!(!forged.text.contains("/api/v1/apps/sales/openapi.json"));
}

// ---------------------------------------------------------------------------------------------
// 6. Restart
// ---------------------------------------------------------------------------------------------

async fn records_and_metadata_survive_a_restart_and_auto_numbers_continue(b: Backend) {
    let app = spawn(b).await;
    app.create_app(sales_app()).await;
    app.post(
        "/api/v1/apps/sales/entities/customer/fields",
        json!({"name": "region", "label": {"en": "Region"}, "type": "text", "default": "east"}),
    )
    .await
    .expect(201);
    let c = app.create("sales", "customer", json!({"name": "Acme"})).await;
    let d1 = app
        .create(
            "sales",
            "deal",
            json!({"title": "one", "customer": c["id"], "amount": 10}),
        )
        .await;
    let d2 = app.create("sales", "deal", json!({"title": "two"})).await;
    assert!(s(&d2["code"]).ends_with("00002"), "{d2}");
    let api = app
        .post("/api/v1/auth/tokens", json!({"name": "survivor"}))
        .await
        .expect(201)
        .body;
    let old_session = app.token.clone();
    let def_before = app.get("/api/v1/apps/sales").await.expect(200).body;

    let app = app.restart().await;

    assert_eq!(
        app.get("/api/v1/apps/sales").await.expect(200).body,
        def_before,
        "the definition is the same"
    );
    assert_eq!(record(&app, "customer", &c["id"]).await, c);
    assert_eq!(record(&app, "deal", &d1["id"]).await, d1);
    assert_eq!(record(&app, "deal", &d2["id"]).await, d2);
    // Tokens are in the database, not in the node.
    get_as(&app, &old_session, "/api/v1/me").await.expect(200);
    get_as(&app, s(&api["token"]), "/api/v1/me").await.expect(200);

    // Writes go on; numbers are not reused.
    let d3 = app.create("sales", "deal", json!({"title": "three"})).await;
    assert!(s(&d3["code"]).ends_with("00003"), "{d3}");
    let c2 = app.create("sales", "customer", json!({"name": "New"})).await;
    assert_eq!(c2["region"], "east");
    app.patch(
        &format!("/api/v1/data/sales/deal/{}", s(&d1["id"])),
        json!({"title": "one, edited"}),
    )
    .await
    .expect(200);
    app.post(
        "/api/v1/apps/sales/entities/deal/fields",
        json!({"name": "after", "label": {"en": "After"}, "type": "boolean"}),
    )
    .await
    .expect(201);
    assert_eq!(app_version(&app, "sales").await, 3);
    let all = app
        .get("/api/v1/data/sales/deal?count=true&sort=code")
        .await
        .expect(200)
        .body;
    assert_eq!(all["total"], 3);
    let codes: Vec<&str> = all["data"].as_array().unwrap().iter().map(|d| s(&d["code"])).collect();
    assert_eq!(codes.len(), 3);
    assert!(codes.windows(2).all(|w| w[0] < w[1]), "distinct, increasing: {codes:?}");
}

on_both!(records_and_metadata_survive_a_restart_and_auto_numbers_continue);

// ---------------------------------------------------------------------------------------------
// 7. Errors
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_and_unknown_paths_answer_problems_and_other_paths_the_web_ui() {
    let app = spawn(Backend::Sqlite).await;
    app.create_app(sales_app()).await;
    let t = Some(app.token.as_str());

    // Not JSON, not JSON-typed, the wrong JSON.
    let r = raw(
        &app,
        t,
        Method::POST,
        "/api/v1/data/sales/customer",
        b"{not json".to_vec(),
        Some("application/json"),
    )
    .await;
    let r = r.expect_problem(400, "bad_request");
    assert!(!r.text.contains("serde"), "{}", r.text);
    raw(
        &app,
        t,
        Method::POST,
        "/api/v1/apps",
        b"name=x".to_vec(),
        Some("application/x-www-form-urlencoded"),
    )
    .await
    .expect_problem(400, "bad_request");
    raw(
        &app,
        t,
        Method::POST,
        "/api/v1/apps",
        Vec::new(),
        Some("application/json"),
    )
    .await
    .expect_problem(400, "bad_request");
    raw(
        &app,
        None,
        Method::POST,
        "/api/v1/auth/login",
        br#"{"email": "a@b.c"}"#.to_vec(),
        Some("application/json"),
    )
    .await
    .expect_problem(400, "bad_request");
    app.patch("/api/v1/apps/sales", json!([1, 2]))
        .await
        .expect_problem(400, "bad_request");
    app.get("/api/v1/data/sales/customer?limit=lots")
        .await
        .expect_problem(400, "bad_request");
    let r = app
        .post("/api/v1/data/sales/customer", json!("just a string"))
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "$", "type");

    // Over 8 MiB.
    let big = serde_json::to_vec(&json!({"name": "x".repeat(9 * 1024 * 1024)})).unwrap();
    let r = raw(
        &app,
        t,
        Method::POST,
        "/api/v1/data/sales/customer",
        big,
        Some("application/json"),
    )
    .await;
    r.expect_problem(413, "payload_too_large");
    // Just under the limit is read (and then judged on its content).
    let near = serde_json::to_vec(&json!({"name": "x".repeat(8 * 1024 * 1024 - 100)})).unwrap();
    let r = raw(
        &app,
        t,
        Method::POST,
        "/api/v1/data/sales/customer",
        near,
        Some("application/json"),
    )
    .await;
    assert_eq!(r.status, 422, "{}", &r.text[..r.text.len().min(300)]);

    // Unknown API paths are problems, not the web UI.
    for p in [
        "/api/v1/nope",
        "/api/v1/apps/sales/nope",
        "/api/v2/apps",
        "/api/v1/data/sales",
        "/api/v1/data/sales/customer/x/y/z",
    ] {
        let r = app.get(p).await.expect_problem(404, "not_found");
        assert_eq!(r.body["status"], 404, "{p}");
    }
    app.get("/api/v1/data/sales/customer/not-a-uuid")
        .await
        .expect_problem(404, "not_found");
    app.get("/api/v1/data/sales/nope")
        .await
        .expect_problem(404, "not_found");
    app.get("/api/v1/apps/NOT_A_SLUG")
        .await
        .expect_problem(404, "not_found");

    // Everything else is the single-page app.
    for p in ["/", "/apps/sales/deal", "/login"] {
        let r = app.call_as(None, Method::GET, p, None).await.expect(200);
        assert!(r.content_type().starts_with("text/html"), "{p}: {}", r.content_type());
        assert!(r.text.to_lowercase().contains("<!doctype html"), "{p}: {}", r.text);
    }
}

// ---------------------------------------------------------------------------------------------
// Reads after schema changes
// ---------------------------------------------------------------------------------------------

/// Reads a record and a list a dozen times, so that every pooled connection runs them.
async fn warm(app: &TestApp, path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for _ in 0..12 {
        out.push(app.get(path).await.expect(200).body);
        app.get("/api/v1/data/ops/ticket?sort=ref_no").await.expect(200);
    }
    out
}

/// Regression: pooled connections kept statements prepared before a schema change. On SQLite a
/// field added later read as null on some connections; on PostgreSQL a read after a column type
/// change failed with "cached plan must not change result type" (500).
async fn every_pooled_connection_reads_the_schema_as_changed(b: Backend) {
    let app = spawn(b).await;
    app.create_app(json!({"name": "ops", "label": {"en": "Ops"}, "entities": [
        {"name": "ticket", "label": {"en": "Ticket"}, "fields": [
            {"name": "ref_no", "label": {"en": "Ref"}, "type": "text"}]}]}))
        .await;
    let t = app.create("ops", "ticket", json!({"ref_no": "42"})).await;
    let path = format!("/api/v1/data/ops/ticket/{}", s(&t["id"]));
    warm(&app, &path).await;
    app.post(
        "/api/v1/apps/ops/entities/ticket/fields",
        json!({"name": "priority", "label": {"en": "Priority"}, "type": "integer", "default": 3}),
    )
    .await
    .expect(201);
    for r in warm(&app, &path).await {
        assert_eq!(r["priority"], 3, "the new field is read on every connection: {r}");
    }
    app.patch(
        "/api/v1/apps/ops/entities/ticket/fields/ref_no",
        json!({"type": "integer"}),
    )
    .await
    .expect(200);
    for r in warm(&app, &path).await {
        assert_eq!(r["ref_no"], 42, "the converted column is read on every connection: {r}");
    }
    let r = app.patch(&path, json!({"ref_no": 43})).await.expect(200).body;
    assert_eq!(r["ref_no"], 43);
}

on_both!(every_pooled_connection_reads_the_schema_as_changed);
