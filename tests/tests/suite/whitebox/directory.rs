//! The tenant directory, checked inside: a delegation as the store resolves it, the business
//! calendar the engine compiles from what was saved, and the inbox filled by the engine's own
//! notify (with repeats, another tenant and no recipients). Every test runs on SQLite and on
//! PostgreSQL.

use chrono::{Duration, TimeZone, Utc};
use reqwest::Method;
use trellis_core::def::Label;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, on_both, spawn};

use crate::blackbox::directory::{add_member, get_as, in_days, office_calendar, post_as, s, whoami};

async fn a_delegation_to_another_user_is_created_and_listed(b: Backend) {
    let app = spawn(b).await;
    let (member_id, m) = add_member(&app).await;
    let (admin_id, _) = whoami(&app, &app.token).await;

    let later = app
        .post(
            "/api/v1/me/delegations",
            json!({"delegate": member_id, "starts_at": in_days(10), "ends_at": in_days(20)}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(later["user"], json!(admin_id));
    assert_eq!(later["delegate"], json!(member_id));
    assert_eq!(later["active"], false);
    let now = app
        .post(
            "/api/v1/me/delegations",
            json!({"delegate": member_id, "starts_at": in_days(-1), "ends_at": in_days(300)}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(now["active"], true);

    let list = app.get("/api/v1/me/delegations").await.expect(200).body["data"].clone();
    let ids: Vec<&Value> = list.as_array().unwrap().iter().map(|d| &d["id"]).collect();
    assert_eq!(ids, [&now["id"], &later["id"]], "newest first");
    assert_eq!(list[0], now);
    // Times are normalised to UTC.
    assert!(s(&list[1]["starts_at"]).ends_with('Z'), "{}", list[1]);
    // The delegate gave none.
    assert_eq!(
        get_as(&app, &m, "/api/v1/me/delegations").await.expect(200).body["data"],
        json!([])
    );

    // Someone else acts for the admin now, as the store sees it.
    let (_, tenant) = whoami(&app, &app.token).await;
    let principals = trellis_store::directory::principals_of(&app.engine().db.read, &tenant, &member_id, Utc::now())
        .await
        .unwrap();
    assert_eq!(principals, [admin_id]);
}

async fn a_business_calendar_is_saved_read_listed_replaced_and_deleted(b: Backend) {
    let app = spawn(b).await;
    let (_, tenant) = whoami(&app, &app.token).await;
    let (_, m) = add_member(&app).await;
    assert_eq!(app.get("/api/v1/calendars").await.expect(200).body["data"], json!([]));

    let r = app.put("/api/v1/calendars/office", office_calendar()).await.expect(201);
    assert_eq!(r.body, office_calendar());
    app.put(
        "/api/v1/calendars/always",
        json!({"timezone": "UTC", "hours": {
        "mon": [["00:00", "24:00"]], "tue": [["00:00", "24:00"]], "wed": [["00:00", "24:00"]],
        "thu": [["00:00", "24:00"]], "fri": [["00:00", "24:00"]], "sat": [["00:00", "24:00"]],
        "sun": [["00:00", "24:00"]]}}),
    )
    .await
    .expect(201);
    assert_eq!(
        get_as(&app, &m, "/api/v1/calendars").await.expect(200).body["data"],
        json!(["always", "office"])
    );
    assert_eq!(
        get_as(&app, &m, "/api/v1/calendars/office").await.expect(200).body,
        office_calendar()
    );

    // The compiled calendar counts working time: Thursday 30 April 2026 17:00 in Shanghai plus
    // two working hours skips the evening, the 1 May holiday and the weekend.
    let cal = app
        .engine()
        .calendar(&tenant, "office")
        .await
        .unwrap()
        .expect("calendar");
    let start = Utc.with_ymd_and_hms(2026, 4, 30, 9, 0, 0).unwrap();
    assert_eq!(
        cal.add(start, Duration::hours(2)),
        Utc.with_ymd_and_hms(2026, 5, 4, 2, 0, 0).unwrap()
    );
    assert!(app.engine().calendar(&tenant, "nope").await.unwrap().is_none());

    // Replacing answers 200 and changes what is counted.
    let mut changed = office_calendar();
    changed["holidays"] = json!([]);
    app.put("/api/v1/calendars/office", changed.clone()).await.expect(200);
    // Stored in its canonical form: empty lists are left out.
    changed.as_object_mut().unwrap().remove("holidays");
    assert_eq!(app.get("/api/v1/calendars/office").await.expect(200).body, changed);
    let cal = app
        .engine()
        .calendar(&tenant, "office")
        .await
        .unwrap()
        .expect("calendar");
    assert_eq!(
        cal.add(start, Duration::hours(2)),
        Utc.with_ymd_and_hms(2026, 5, 1, 2, 0, 0).unwrap()
    );

    app.delete("/api/v1/calendars/office").await.expect(204);
    app.delete("/api/v1/calendars/office")
        .await
        .expect_problem(404, "not_found");
    app.get("/api/v1/calendars/office")
        .await
        .expect_problem(404, "not_found");
    assert_eq!(
        app.get("/api/v1/calendars").await.expect(200).body["data"],
        json!(["always"])
    );
}

async fn each_user_sees_and_reads_only_their_own_notifications(b: Backend) {
    let app = spawn(b).await;
    let (member_id, m) = add_member(&app).await;
    let (admin_id, tenant) = whoami(&app, &app.token).await;
    let other = app.new_tenant("globex", "boss@globex.example").await;
    let (other_id, other_tenant) = whoami(&app, &other).await;
    let tx = app.engine().db.begin_write().await.unwrap();
    let db = &tx;
    let notify = trellis_engine::notifications::notify;
    let title = Label::new("新商机", "New deal");
    notify(
        db,
        &tenant,
        &[admin_id.clone(), member_id.clone(), admin_id.clone()],
        trellis_core::status::NotificationKind::Rule,
        &title,
        json!({"app": "sales", "entity": "deal", "record": "r1"}),
    )
    .await
    .unwrap();
    notify(
        db,
        &tenant,
        std::slice::from_ref(&member_id),
        trellis_core::status::NotificationKind::SlaBreached,
        &Label::new("已超时", "Overdue"),
        json!({"record": "r2"}),
    )
    .await
    .unwrap();
    notify(
        db,
        &other_tenant,
        &[other_id],
        trellis_core::status::NotificationKind::Handover,
        &title,
        json!({}),
    )
    .await
    .unwrap();
    notify(
        db,
        &tenant,
        &[],
        trellis_core::status::NotificationKind::Rule,
        &title,
        json!({}),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let mine = app.get("/api/v1/notifications").await.expect(200).body;
    assert_eq!(mine["unread"], 1, "{mine}");
    let list = mine["data"].as_array().unwrap();
    assert_eq!(list.len(), 1, "a user listed twice is told once: {mine}");
    let n = &list[0];
    let keys: Vec<&str> = n.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["id", "kind", "title", "data", "at", "read_at"]);
    assert_eq!(n["kind"], "rule");
    assert_eq!(n["title"], json!({"zh": "新商机", "en": "New deal"}));
    assert_eq!(n["data"]["record"], "r1");
    assert_eq!(n["read_at"], Value::Null);
    let admins = s(&n["id"]).to_string();

    let theirs = get_as(&app, &m, "/api/v1/notifications").await.expect(200).body;
    let kinds: Vec<&str> = theirs["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| s(&n["kind"]))
        .collect();
    assert_eq!(kinds, ["sla_breached", "rule"], "newest first");
    assert_eq!(theirs["unread"], 2);
    let overdue = s(&theirs["data"][0]["id"]).to_string();
    assert_eq!(
        get_as(&app, &other, "/api/v1/notifications").await.expect(200).body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Someone else's notification is not found, in the tenant or outside it.
    post_as(&app, &m, &format!("/api/v1/notifications/{admins}/read"), json!({}))
        .await
        .expect_problem(404, "not_found");
    post_as(&app, &other, &format!("/api/v1/notifications/{admins}/read"), json!({}))
        .await
        .expect_problem(404, "not_found");
    assert_eq!(
        app.get("/api/v1/notifications?unread=true").await.expect(200).body["unread"],
        1
    );

    // Reading one leaves the others unread; reading again keeps the first time.
    app.call_as(
        Some(&m),
        Method::POST,
        &format!("/api/v1/notifications/{overdue}/read"),
        None,
    )
    .await
    .expect(204);
    let unread = get_as(&app, &m, "/api/v1/notifications?unread=true")
        .await
        .expect(200)
        .body;
    assert_eq!(unread["unread"], 1);
    let kinds: Vec<&str> = unread["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| s(&n["kind"]))
        .collect();
    assert_eq!(kinds, ["rule"]);
    let all = get_as(&app, &m, "/api/v1/notifications").await.expect(200).body;
    let read_at = all["data"][0]["read_at"].clone();
    assert!(read_at.is_string(), "{all}");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    app.call_as(
        Some(&m),
        Method::POST,
        &format!("/api/v1/notifications/{overdue}/read"),
        None,
    )
    .await
    .expect(204);
    let all = get_as(&app, &m, "/api/v1/notifications").await.expect(200).body;
    assert_eq!(all["data"][0]["read_at"], read_at);

    let one = get_as(&app, &m, "/api/v1/notifications?limit=1").await.expect(200).body;
    assert_eq!(one["data"].as_array().unwrap().len(), 1);
    for bad in ["limit=0", "limit=501", "limit=x", "unread=maybe"] {
        app.get(&format!("/api/v1/notifications?{bad}"))
            .await
            .expect_problem(400, "bad_request");
    }
    app.post(
        &format!("/api/v1/notifications/{}/read", uuid::Uuid::now_v7()),
        json!({}),
    )
    .await
    .expect_problem(404, "not_found");
}
on_both!(
    a_delegation_to_another_user_is_created_and_listed,
    a_business_calendar_is_saved_read_listed_replaced_and_deleted,
    each_user_sees_and_reads_only_their_own_notifications,
);
