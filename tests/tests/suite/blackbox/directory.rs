//! The tenant directory over HTTP: users, role membership per app, delegations and business
//! calendars refused or kept apart by tenant. (Delegations and calendars as the engine uses
//! them, and the inbox, are in `whitebox::directory`.) Every test runs on SQLite and on
//! PostgreSQL.

use chrono::{Duration, Utc};
use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{ADMIN_EMAIL, Backend, Resp, TestApp, on_both, sales_app, spawn};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const MEMBER_EMAIL: &str = "member@example.com";
const MEMBER_PASSWORD: &str = "member-password-1";

pub(crate) fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

#[track_caller]
fn assert_error(r: &Resp, field: &str, code: &str) {
    assert!(
        r.errors().iter().any(|(f, c)| f == field && c == code),
        "expected error ({field}, {code}) in {:?}: {}",
        r.errors(),
        r.text
    );
}

pub(crate) async fn get_as(app: &TestApp, token: &str, path: &str) -> Resp {
    app.call_as(Some(token), Method::GET, path, None).await
}

pub(crate) async fn post_as(app: &TestApp, token: &str, path: &str, body: Value) -> Resp {
    app.call_as(Some(token), Method::POST, path, Some(body)).await
}

/// Adds a non-admin user through the API; answers (user id, token).
pub(crate) async fn add_member(app: &TestApp) -> (String, String) {
    let u = app
        .post(
            "/api/v1/users",
            json!({"email": MEMBER_EMAIL, "name": "Li Lei", "password": MEMBER_PASSWORD}),
        )
        .await
        .expect(201)
        .body;
    let token = app.login(MEMBER_EMAIL, MEMBER_PASSWORD).await;
    (s(&u["id"]).to_string(), token)
}

/// The caller's user id and tenant id.
pub(crate) async fn whoami(app: &TestApp, token: &str) -> (String, String) {
    let me = get_as(app, token, "/api/v1/me").await.expect(200).body;
    (
        s(&me["user"]["id"]).to_string(),
        s(&me["user"]["tenant_id"]).to_string(),
    )
}

/// The sales app with two roles.
fn sales_with_roles() -> Value {
    let mut def = sales_app();
    def["roles"] = json!([
        {"name": "sales_rep", "label": {"zh": "销售", "en": "Sales rep"}},
        {"name": "presales", "label": {"zh": "售前", "en": "Pre-sales engineer"},
         "description": {"en": "Approves technical solutions"}}
    ]);
    def
}

fn role<'a>(roles: &'a Value, name: &str) -> &'a Value {
    roles["data"]
        .as_array()
        .expect("roles")
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("role {name} in {roles}"))
}

pub(crate) fn office_calendar() -> Value {
    json!({
        "timezone": "Asia/Shanghai",
        "hours": {
            "mon": [["09:00", "12:00"], ["13:00", "18:00"]],
            "tue": [["09:00", "12:00"], ["13:00", "18:00"]],
            "wed": [["09:00", "12:00"], ["13:00", "18:00"]],
            "thu": [["09:00", "12:00"], ["13:00", "18:00"]],
            "fri": [["09:00", "12:00"], ["13:00", "18:00"]]
        },
        "holidays": ["2026-05-01"],
        "workdays": ["2026-05-09"]
    })
}

pub(crate) fn in_days(days: i64) -> String {
    (Utc::now() + Duration::days(days)).to_rfc3339()
}

// ---------------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------------

async fn an_admin_adds_a_user_who_can_log_in_and_everyone_lists_the_tenants_users(b: Backend) {
    let app = spawn(b).await;
    let r = app
        .post(
            "/api/v1/users",
            json!({"email": "  Wang.Fang@Example.com ", "name": " Wang Fang ", "password": "s3cret-pass", "is_admin": true}),
        )
        .await
        .expect(201);
    let user = r.body.clone();
    assert_eq!(user["email"], "wang.fang@example.com");
    assert_eq!(user["name"], "Wang Fang");
    assert_eq!(user["is_admin"], true);
    assert_eq!(user["disabled_at"], Value::Null);
    assert!(user["created_at"].is_string());
    assert!(!r.text.contains("argon2") && user.get("password_hash").is_none() && user.get("password").is_none());
    let id = s(&user["id"]).to_string();
    assert_eq!(
        r.headers.get("location").and_then(|v| v.to_str().ok()),
        Some(format!("/api/v1/users/{id}").as_str())
    );

    let token = app.login("wang.fang@example.com", "s3cret-pass").await;
    let (_, member_token) = add_member(&app).await;

    // Every user of the tenant may list and read the directory.
    for t in [&app.token, &token, &member_token] {
        let list = get_as(&app, t, "/api/v1/users").await.expect(200).body;
        let emails: Vec<&str> = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| s(&u["email"]))
            .collect();
        assert_eq!(emails, [ADMIN_EMAIL, MEMBER_EMAIL, "wang.fang@example.com"]);
        for u in list["data"].as_array().unwrap() {
            let keys: Vec<&str> = u.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, ["id", "email", "name", "is_admin", "created_at", "disabled_at"]);
        }
    }
    let one = get_as(&app, &member_token, &format!("/api/v1/users/{id}"))
        .await
        .expect(200)
        .body;
    assert_eq!(one, user);
    app.get(&format!("/api/v1/users/{}", uuid::Uuid::now_v7()))
        .await
        .expect_problem(404, "not_found");
    app.get("/api/v1/users/not-an-id")
        .await
        .expect_problem(404, "not_found");
}

async fn a_taken_email_answers_409_and_bad_input_answers_422_with_every_problem(b: Backend) {
    let app = spawn(b).await;
    let r = app
        .post(
            "/api/v1/users",
            json!({"email": "ADMIN@example.com", "name": "Again", "password": "another-pass-1"}),
        )
        .await
        .expect_problem(409, "conflict");
    assert_error(&r, "email", "duplicate");

    let r = app
        .post(
            "/api/v1/users",
            json!({"email": "not an e-mail", "name": "  ", "password": "short"}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "email", "format");
    assert_error(&r, "name", "length");
    assert_error(&r, "password", "min_length");

    let r = app
        .post(
            "/api/v1/users",
            json!({"email": "x@example.com", "name": "X", "password": ""}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "password", "min_length");
    let r = app
        .post(
            "/api/v1/users",
            json!({"email": "x@example.com", "name": "X", "password": "aaaaaaaaaa"}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "password", "weak");
    let r = app
        .post("/api/v1/users", json!({}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.errors().len(), 3, "{}", r.text);

    // Nothing was written.
    let list = app.get("/api/v1/users").await.expect(200).body;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
}

async fn members_may_read_the_directory_but_not_change_it(b: Backend) {
    let app = spawn(b).await;
    app.create_app(sales_with_roles()).await;
    let (member_id, m) = add_member(&app).await;
    let (admin_id, _) = whoami(&app, &app.token).await;
    app.put("/api/v1/calendars/office", office_calendar()).await.expect(201);

    let r = post_as(
        &app,
        &m,
        "/api/v1/users",
        json!({"email": "new@example.com", "name": "New", "password": "new-password-1"}),
    )
    .await
    .expect_problem(403, "permission_denied");
    assert!(s(&r.body["detail"]).contains("administrators"), "{}", r.text);
    post_as(
        &app,
        &m,
        "/api/v1/apps/sales/roles/sales_rep/members",
        json!({"user": member_id}),
    )
    .await
    .expect_problem(403, "permission_denied");
    app.post("/api/v1/apps/sales/roles/sales_rep/members", json!({"user": admin_id}))
        .await
        .expect(200);
    app.call_as(
        Some(&m),
        Method::DELETE,
        &format!("/api/v1/apps/sales/roles/sales_rep/members/{admin_id}"),
        None,
    )
    .await
    .expect_problem(403, "permission_denied");
    app.call_as(Some(&m), Method::PUT, "/api/v1/calendars/office", Some(json!({})))
        .await
        .expect_problem(403, "permission_denied");
    app.call_as(Some(&m), Method::DELETE, "/api/v1/calendars/office", None)
        .await
        .expect_problem(403, "permission_denied");

    // Nothing changed, and members read all of it.
    let users = get_as(&app, &m, "/api/v1/users").await.expect(200).body;
    assert_eq!(users["data"].as_array().unwrap().len(), 2);
    let roles = get_as(&app, &m, "/api/v1/apps/sales/roles").await.expect(200).body;
    assert_eq!(role(&roles, "sales_rep")["members"], json!([admin_id]));
    get_as(&app, &m, "/api/v1/calendars/office").await.expect(200);
}

async fn another_tenants_users_roles_and_calendars_are_not_found(b: Backend) {
    let app = spawn(b).await;
    app.create_app(sales_with_roles()).await;
    let (admin_id, _) = whoami(&app, &app.token).await;
    app.put("/api/v1/calendars/office", office_calendar()).await.expect(201);
    let other = app.new_tenant("globex", "boss@globex.example").await;
    let (other_id, _) = whoami(&app, &other).await;

    let users = get_as(&app, &other, "/api/v1/users").await.expect(200).body;
    let emails: Vec<&str> = users["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| s(&u["email"]))
        .collect();
    assert_eq!(emails, ["boss@globex.example"]);
    get_as(&app, &other, &format!("/api/v1/users/{admin_id}"))
        .await
        .expect_problem(404, "not_found");
    get_as(&app, &other, "/api/v1/apps/sales/roles")
        .await
        .expect_problem(404, "not_found");
    post_as(
        &app,
        &other,
        "/api/v1/apps/sales/roles/sales_rep/members",
        json!({"user": other_id}),
    )
    .await
    .expect_problem(404, "not_found");
    get_as(&app, &other, "/api/v1/calendars/office")
        .await
        .expect_problem(404, "not_found");
    assert_eq!(
        get_as(&app, &other, "/api/v1/calendars").await.expect(200).body["data"],
        json!([])
    );
    app.call_as(Some(&other), Method::DELETE, "/api/v1/calendars/office", None)
        .await
        .expect_problem(404, "not_found");
    // Same name, own calendar: the first tenant's stays as it was.
    let mut own = office_calendar();
    own["timezone"] = json!("Europe/Berlin");
    app.call_as(Some(&other), Method::PUT, "/api/v1/calendars/office", Some(own))
        .await
        .expect(201);
    assert_eq!(
        app.get("/api/v1/calendars/office").await.expect(200).body["timezone"],
        "Asia/Shanghai"
    );

    // A user of another tenant cannot be made a member, nor a delegate.
    let r = app
        .post("/api/v1/apps/sales/roles/sales_rep/members", json!({"user": other_id}))
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "user", "unknown_user");
    let r = app
        .post(
            "/api/v1/me/delegations",
            json!({"delegate": other_id, "starts_at": in_days(0), "ends_at": in_days(7)}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "delegate", "unknown_user");
}

// ---------------------------------------------------------------------------------------------
// Role membership
// ---------------------------------------------------------------------------------------------

async fn a_member_added_to_a_role_is_listed_and_removed_again(b: Backend) {
    let app = spawn(b).await;
    app.create_app(sales_with_roles()).await;
    let (member_id, m) = add_member(&app).await;

    let roles = app.get("/api/v1/apps/sales/roles").await.expect(200).body;
    let names: Vec<&str> = roles["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| s(&r["name"]))
        .collect();
    assert_eq!(names, ["sales_rep", "presales"]);
    assert_eq!(role(&roles, "presales")["label"]["en"], "Pre-sales engineer");
    assert_eq!(
        role(&roles, "presales")["description"]["en"],
        "Approves technical solutions"
    );
    assert_eq!(role(&roles, "sales_rep")["members"], json!([]));

    let path = "/api/v1/apps/sales/roles/presales/members";
    let r = app.post(path, json!({"user": member_id})).await.expect(200).body;
    assert_eq!(r["name"], "presales");
    assert_eq!(r["members"], json!([member_id]));
    // Adding again changes nothing.
    let again = app.post(path, json!({"user": member_id})).await.expect(200).body;
    assert_eq!(again, r);
    let roles = app.get("/api/v1/apps/sales/roles").await.expect(200).body;
    assert_eq!(role(&roles, "presales")["members"], json!([member_id]));
    assert_eq!(role(&roles, "sales_rep")["members"], json!([]));

    // The member sees their roles per app.
    let me = get_as(&app, &m, "/api/v1/me").await.expect(200).body;
    assert_eq!(me["app_roles"], json!({"sales": ["presales"]}));
    assert_eq!(me["roles"], json!(["member"]));
    let me = app.get("/api/v1/me").await.expect(200).body;
    assert_eq!(me["app_roles"], json!({}));

    let member_path = format!("{path}/{member_id}");
    app.delete(&member_path).await.expect(204);
    app.delete(&member_path).await.expect_problem(404, "not_found");
    let roles = app.get("/api/v1/apps/sales/roles").await.expect(200).body;
    assert_eq!(role(&roles, "presales")["members"], json!([]));
    let me = get_as(&app, &m, "/api/v1/me").await.expect(200).body;
    assert_eq!(me["app_roles"], json!({}));
}

async fn an_unknown_role_or_app_answers_404_and_an_unknown_user_422(b: Backend) {
    let app = spawn(b).await;
    app.create_app(sales_with_roles()).await;
    let (member_id, _) = add_member(&app).await;

    let r = app
        .post("/api/v1/apps/sales/roles/approver/members", json!({"user": member_id}))
        .await
        .expect_problem(404, "not_found");
    let detail = s(&r.body["detail"]);
    assert!(
        detail.contains("approver") && detail.contains("sales_rep, presales"),
        "{detail}"
    );
    app.post("/api/v1/apps/nope/roles/sales_rep/members", json!({"user": member_id}))
        .await
        .expect_problem(404, "not_found");
    app.get("/api/v1/apps/nope/roles")
        .await
        .expect_problem(404, "not_found");

    let r = app
        .post(
            "/api/v1/apps/sales/roles/sales_rep/members",
            json!({"user": uuid::Uuid::now_v7().to_string()}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "user", "unknown_user");
    let r = app
        .post("/api/v1/apps/sales/roles/sales_rep/members", json!({}))
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "user", "unknown_user");
    let roles = app.get("/api/v1/apps/sales/roles").await.expect(200).body;
    assert_eq!(role(&roles, "sales_rep")["members"], json!([]));

    // An app without roles lists none.
    let mut plain = sales_app();
    plain["name"] = json!("plain");
    app.create_app(plain).await;
    assert_eq!(
        app.get("/api/v1/apps/plain/roles").await.expect(200).body["data"],
        json!([])
    );
}

// ---------------------------------------------------------------------------------------------
// Delegations
// ---------------------------------------------------------------------------------------------

async fn a_delegation_that_is_not_sensible_answers_422_listing_the_problems(b: Backend) {
    let app = spawn(b).await;
    let (member_id, _) = add_member(&app).await;
    let (admin_id, _) = whoami(&app, &app.token).await;
    let path = "/api/v1/me/delegations";

    let r = app
        .post(
            path,
            json!({"delegate": admin_id, "starts_at": in_days(5), "ends_at": in_days(1)}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "delegate", "self");
    assert_error(&r, "ends_at", "before_start");
    let r = app
        .post(
            path,
            json!({"delegate": member_id, "starts_at": in_days(0), "ends_at": in_days(400)}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "ends_at", "too_long");
    let r = app
        .post(
            path,
            json!({"delegate": member_id, "starts_at": in_days(-10), "ends_at": in_days(-1)}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "ends_at", "past");
    let r = app
        .post(
            path,
            json!({"delegate": uuid::Uuid::now_v7().to_string(), "starts_at": "tomorrow", "ends_at": "2026-13-01"}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "delegate", "unknown_user");
    assert_error(&r, "starts_at", "format");
    assert_error(&r, "ends_at", "format");
    let r = app.post(path, json!({})).await.expect_problem(422, "validation_failed");
    assert_error(&r, "delegate", "required");
    assert_error(&r, "starts_at", "required");
    assert_error(&r, "ends_at", "required");

    assert_eq!(app.get(path).await.expect(200).body["data"], json!([]));
}

// ---------------------------------------------------------------------------------------------
// Business calendars
// ---------------------------------------------------------------------------------------------

async fn a_bad_calendar_answers_422_listing_every_error_and_stores_nothing(b: Backend) {
    let app = spawn(b).await;
    let r = app
        .put(
            "/api/v1/calendars/office",
            json!({"timezone": "Mars/Olympus", "hours": {"mon": [["09:00", "08:00"]], "tue": [["09:00", "12:00"], ["11:00", "13:00"]]},
                   "holidays": ["2026-02-30"], "workdays": ["2026-10-03"]}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "timezone", "unknown_timezone");
    assert_error(&r, "hours.mon[0]", "invalid_interval");
    assert_error(&r, "hours.tue[1]", "invalid_interval");
    assert_error(&r, "holidays[0]", "invalid_date");
    assert!(r.errors().len() >= 4, "{}", r.text);

    // Shape errors come from the schema, each with its path.
    let r = app
        .put(
            "/api/v1/calendars/office",
            json!({"timezone": "UTC", "hours": {"mon": [["9am", "17:00"]], "someday": []}, "colour": "red"}),
        )
        .await
        .expect_problem(422, "validation_failed");
    let fields: Vec<String> = r.errors().into_iter().map(|(f, _)| f).collect();
    assert!(fields.iter().any(|f| f.starts_with("hours.mon")), "{fields:?}");
    assert!(r.errors().len() >= 3, "{}", r.text);
    app.put("/api/v1/calendars/office", json!("not an object"))
        .await
        .expect_problem(422, "validation_failed");
    let r = app
        .put("/api/v1/calendars/office", json!({"timezone": "UTC", "hours": {}}))
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "hours", "no_working_time");

    // The name must be a slug; its error comes with the body's.
    let r = app
        .put(
            "/api/v1/calendars/Office-Hours",
            json!({"timezone": "Nowhere", "hours": {}}),
        )
        .await
        .expect_problem(422, "validation_failed");
    assert_error(&r, "name", "invalid_name");
    assert_error(&r, "timezone", "unknown_timezone");

    assert_eq!(app.get("/api/v1/calendars").await.expect(200).body["data"], json!([]));
    app.get("/api/v1/calendars/Office-Hours")
        .await
        .expect_problem(404, "not_found");
}

on_both!(
    an_admin_adds_a_user_who_can_log_in_and_everyone_lists_the_tenants_users,
    a_taken_email_answers_409_and_bad_input_answers_422_with_every_problem,
    members_may_read_the_directory_but_not_change_it,
    another_tenants_users_roles_and_calendars_are_not_found,
    a_member_added_to_a_role_is_listed_and_removed_again,
    an_unknown_role_or_app_answers_404_and_an_unknown_user_422,
    a_delegation_that_is_not_sensible_answers_422_listing_the_problems,
    a_bad_calendar_answers_422_listing_every_error_and_stores_nothing,
);
