//! The SLA, first follow-up and cycle reports (issue 16, points 4 and 5) on SQLite and
//! PostgreSQL, on a back-dated history: deals and calls are created and moved over HTTP, then
//! their kept stage moves are replaced by back-dated ones and their times set in the past (no
//! route writes the past). Through the caller's row scope: a rep sees their own deals only, a
//! field hidden from them is unknown, an outsider is refused. Win rates per rep come from the
//! aggregate route.

use chrono::{DateTime, Duration, TimeZone, Utc};
use reqwest::Method;
use trellis_store::sea_orm::ConnectionTrait;
use trellis_store::sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use trellis_store::stages::Move;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, TestApp, on_both, spawn};

const SLA: &str = "/api/v1/data/sales/deal/sla";
const FOLLOW: &str = "/api/v1/data/sales/deal/first_follow_up";
const CYCLE: &str = "/api/v1/data/sales/deal/cycle";

fn sales() -> Value {
    let to = |s: &str| json!({"from": ["*"], "to": s});
    json!({
        "name": "sales", "label": {"en": "Sales"},
        "entities": [
            {"name": "deal", "label": {"en": "Deal"}, "title_field": "title", "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text"},
                {"name": "industry", "label": {"en": "Industry"}, "type": "single_select", "options": [
                    {"value": "a", "label": {"en": "A"}}, {"value": "b", "label": {"en": "B"}}]},
                {"name": "amount", "label": {"en": "Amount"}, "type": "decimal"},
                {"name": "secret", "label": {"en": "Secret"}, "type": "integer"}],
             "pipeline": {
                "stages": [
                    {"key": "new", "label": {"en": "New"}, "sla": {"hours": 24}},
                    {"key": "qualified", "label": {"en": "Qualified"}, "sla": {"hours": 48}},
                    {"key": "won", "label": {"en": "Won"}, "kind": "won"},
                    {"key": "lost", "label": {"en": "Lost"}, "kind": "lost"}],
                "transitions": [to("qualified"), to("won"), to("lost")]}},
            {"name": "call", "label": {"en": "Call"}, "fields": [
                {"name": "deal", "label": {"en": "Deal"}, "type": "relation", "target": "deal"},
                {"name": "note", "label": {"en": "Note"}, "type": "text"}]}
        ],
        "roles": [
            {"name": "rep", "label": {"en": "Rep"}, "permissions": {
                "deal": {"create": true, "read": true, "scope": "own", "transition": true,
                         "fields": {"secret": "hidden"}},
                "call": {"create": true, "read": true, "scope": "own"}}},
            {"name": "outsider", "label": {"en": "Outsider"}, "permissions": {"call": {"read": true}}}
        ]
    })
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 3, 9, 0, 0).unwrap()
}

fn h(n: i64) -> Duration {
    Duration::hours(n)
}

async fn create(app: &TestApp, token: Option<&str>, path: &str, body: Value) -> String {
    let r = app
        .call_as(Some(token.unwrap_or(&app.token)), Method::POST, path, Some(body))
        .await
        .expect(201);
    r.body["id"].as_str().expect("id").to_string()
}

async fn deal(app: &TestApp, token: Option<&str>, title: &str, industry: &str, amount: f64, to: &[&str]) -> String {
    let body = match token {
        None => json!({"title": title, "industry": industry, "amount": amount, "secret": 1}),
        Some(_) => json!({"title": title, "industry": industry, "amount": amount}),
    };
    let id = create(app, token, "/api/v1/data/sales/deal", body).await;
    for s in to {
        app.call_as(
            Some(token.unwrap_or(&app.token)),
            Method::POST,
            &format!("/api/v1/data/sales/deal/{id}/transition"),
            Some(json!({"to": s})),
        )
        .await
        .expect(200);
    }
    id
}

/// Sets datetime columns of a record (`None`: empty).
async fn set_times(app: &TestApp, table: &str, id: &str, values: &[(&str, Option<DateTime<Utc>>)]) {
    let tx = app.engine().db.begin_write().await.unwrap();
    let mut q = Query::update();
    q.table(Alias::new(table));
    for (c, v) in values {
        q.value(Alias::new(*c), *v);
    }
    q.and_where(Expr::col(Alias::new("id")).eq(id.to_string()));
    tx.execute(&q).await.unwrap();
    tx.commit().await.unwrap();
}

struct Seed {
    rep_id: String,
    rep: String,
    ids: Vec<String>,
}

/// Deals (admin's unless said): d1 new→qualified (10 h, on time)→won (72 h, late); d2
/// new→qualified (30 h, late), past due now in qualified; d3 new→lost (5 h); d4 (the rep's)
/// still new and past due; d5 (the rep's) new→qualified (20 h) a week later; d6 new, created
/// now; d7 won after 48 h. Calls: on d3 after 2 h, on d2 after 50 h, and the admin's on d5
/// after 1 h (the rep does not see it).
async fn seed(app: &TestApp) -> Seed {
    let created = app.create_app(sales()).await;
    let (rep_id, rep) = app.user("sales", "rep", Some("rep")).await;
    let d1 = deal(app, None, "d1", "a", 100.0, &["qualified", "won"]).await;
    let d2 = deal(app, None, "d2", "a", 10.0, &["qualified"]).await;
    let d3 = deal(app, None, "d3", "b", 10.0, &["lost"]).await;
    let d4 = deal(app, Some(&rep), "d4", "b", 10.0, &[]).await;
    let d5 = deal(app, Some(&rep), "d5", "b", 10.0, &["qualified"]).await;
    let d6 = deal(app, None, "d6", "a", 10.0, &[]).await;
    let d7 = deal(app, None, "d7", "a", 300.0, &["won"]).await;
    let c1 = create(
        app,
        None,
        "/api/v1/data/sales/call",
        json!({"deal": d3, "note": "hello"}),
    )
    .await;
    let c2 = create(app, None, "/api/v1/data/sales/call", json!({"deal": d2})).await;
    let c3 = create(app, None, "/api/v1/data/sales/call", json!({"deal": d5})).await;

    let storage = |i: usize| {
        created["entities"][i]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no storage id: {created}"))
            .to_string()
    };
    let (deal_t, call_t) = (format!("rec_{}", storage(0)), format!("rec_{}", storage(1)));
    let rows = app
        .sql_rows("SELECT tenant_id, app_id FROM sys_stage_moves", Vec::new())
        .await
        .unwrap();
    let get = |k: &str| -> String { rows[0].try_get("", k).unwrap() };
    let (tenant_id, app_id) = (get("tenant_id"), get("app_id"));
    let db = &app.engine().db;
    db.raw_execute_for_tests("DELETE FROM sys_stage_moves").await.unwrap();
    let w = t0() + Duration::days(9);
    // (record, from, to, at, seconds in from, due in from)
    type M<'a> = (
        &'a str,
        Option<&'a str>,
        &'a str,
        DateTime<Utc>,
        Option<i64>,
        Option<DateTime<Utc>>,
    );
    let plan: Vec<M> = vec![
        (&d1, None, "new", t0(), None, None),
        (
            &d1,
            Some("new"),
            "qualified",
            t0() + h(10),
            Some(10),
            Some(t0() + h(24)),
        ),
        (
            &d1,
            Some("qualified"),
            "won",
            t0() + h(82),
            Some(72),
            Some(t0() + h(58)),
        ),
        (&d2, None, "new", t0(), None, None),
        (
            &d2,
            Some("new"),
            "qualified",
            t0() + h(30),
            Some(30),
            Some(t0() + h(24)),
        ),
        (&d3, None, "new", t0(), None, None),
        (&d3, Some("new"), "lost", t0() + h(5), Some(5), Some(t0() + h(24))),
        (&d4, None, "new", w, None, None),
        (&d5, None, "new", w, None, None),
        (&d5, Some("new"), "qualified", w + h(20), Some(20), Some(w + h(24))),
        (&d7, None, "new", t0(), None, None),
        (&d7, Some("new"), "won", t0() + h(48), Some(48), None),
    ];
    let moves: Vec<Move> = plan
        .iter()
        .map(|(r, from, to, at, secs, due)| Move {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant_id.clone(),
            app_id: app_id.clone(),
            entity_id: storage(0),
            record_id: r.to_string(),
            from_stage: from.map(str::to_string),
            to_stage: to.to_string(),
            at: *at,
            seconds_in_from: secs.map(|s| (s * 3600) as f64),
            from_due_at: *due,
            actor: None,
        })
        .collect();
    let tx = db.begin_write().await.unwrap();
    trellis_store::stages::insert_moves(&tx, &moves).await.unwrap();
    tx.commit().await.unwrap();
    let past = Some(t0() + h(100));
    for (id, created, entered, due) in [
        (&d1, t0(), Some(t0() + h(82)), None),
        (&d2, t0(), Some(t0() + h(30)), past),
        (&d3, t0(), Some(t0() + h(5)), None),
        (&d4, w, Some(w), past),
        (&d5, w, Some(w + h(20)), Some(Utc::now() + Duration::days(2))),
        (&d7, t0(), Some(t0() + h(48)), None),
    ] {
        let values = [
            ("created_at", Some(created)),
            ("stage_entered_at", entered),
            ("stage_due_at", due),
        ];
        set_times(app, &deal_t, id, &values).await;
    }
    for (id, at) in [(&c1, t0() + h(2)), (&c2, t0() + h(50)), (&c3, w + h(1))] {
        set_times(app, &call_t, id, &[("created_at", Some(at))]).await;
    }
    Seed {
        rep_id,
        rep,
        ids: vec![d1, d2, d3, d4, d5, d6, d7],
    }
}

fn group<'a>(r: &'a Value, key: &Value) -> &'a Value {
    r["groups"]
        .as_array()
        .unwrap_or_else(|| panic!("no groups: {r}"))
        .iter()
        .find(|g| g["key"] == *key)
        .unwrap_or_else(|| panic!("no group {key}: {r}"))
}

/// (with_due, on_time, breached, overdue_now, left, p50 hours, p90 hours)
fn sla_counts(g: &Value) -> (i64, i64, i64, Value, i64, Value, Value) {
    let hours = |v: &Value| v.as_f64().map(|s| json!(s / 3600.0)).unwrap_or(Value::Null);
    (
        g["with_due"].as_i64().unwrap(),
        g["on_time"].as_i64().unwrap(),
        g["breached"].as_i64().unwrap(),
        g["overdue_now"].clone(),
        g["left"].as_i64().unwrap(),
        hours(&g["p50_seconds"]),
        hours(&g["p90_seconds"]),
    )
}

async fn sla_per_stage_owner_team_and_period(backend: Backend) {
    let app = spawn(backend).await;
    let s = seed(&app).await;
    let march = json!({"from": "2025-03-01", "to": "2025-03-31", "time_zone": "UTC"});
    let r = app.post(SLA, march.clone()).await.expect(200).body;
    assert_eq!(r["group_by"], json!("stage"));
    // Out of new: d1 10 h, d2 30 h (late), d3 5 h, d5 20 h, d7 48 h (no due time).
    assert_eq!(
        sla_counts(group(&r, &json!("new"))),
        (4, 3, 1, json!(1), 5, json!(20.0), json!(48.0)),
        "{r}"
    );
    assert_eq!(
        sla_counts(group(&r, &json!("qualified"))),
        (1, 0, 1, json!(1), 1, json!(72.0), json!(72.0)),
        "{r}"
    );
    assert_eq!(group(&r, &json!("new"))["on_time_rate"].as_f64(), Some(0.75));
    assert_eq!(group(&r, &json!("new"))["label"], json!({"en": "New"}));
    assert_eq!(r["totals"]["with_due"], json!(5));
    assert_eq!(r["totals"]["overdue_now"], json!(2));
    // The stages in the pipeline's order.
    let keys: Vec<&Value> = r["groups"].as_array().unwrap().iter().map(|g| &g["key"]).collect();
    assert_eq!(keys, vec![&json!("new"), &json!("qualified")], "{r}");

    // Per owner: the admin's late d2 and d1 (out of qualified), the rep's d5 on time and d4
    // past due now.
    let mut by_owner = march.clone();
    by_owner["group_by"] = json!("owner");
    let r = app.post(SLA, by_owner).await.expect(200).body;
    let rep = group(&r, &json!(s.rep_id));
    assert_eq!(
        (rep["with_due"].clone(), rep["on_time"].clone()),
        (json!(1), json!(1)),
        "{r}"
    );
    assert_eq!(rep["overdue_now"], json!(1));
    let admins: Vec<&Value> = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["key"] != json!(s.rep_id))
        .collect();
    assert_eq!(admins.len(), 1, "{r}");
    assert_eq!(
        (admins[0]["with_due"].clone(), admins[0]["breached"].clone()),
        (json!(4), json!(2)),
        "{r}"
    );

    // Per team: the rep's team, and no team for the admin.
    let team = app
        .post("/api/v1/teams", json!({"name": "East"}))
        .await
        .expect(201)
        .body;
    let team_id = team["id"].as_str().unwrap().to_string();
    app.post(&format!("/api/v1/teams/{team_id}/members"), json!({"user": s.rep_id}))
        .await
        .expect(200);
    let mut by_team = march.clone();
    by_team["group_by"] = json!("team");
    let r = app.post(SLA, by_team).await.expect(200).body;
    assert_eq!(group(&r, &json!(team_id))["name"], json!("East"));
    assert_eq!(group(&r, &json!(team_id))["with_due"], json!(1));
    assert_eq!(group(&r, &Value::Null)["with_due"], json!(4));

    // Per week, one group each: the first week's four moves with a due time, the second's one.
    let r = app
        .post(
            SLA,
            json!({"group_by": "none", "period": "week", "from": "2025-03-01", "to": "2025-03-31", "time_zone": "UTC"}),
        )
        .await
        .expect(200)
        .body;
    let weeks: Vec<(Value, Value, Value)> = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["period"].clone(), g["with_due"].clone(), g["overdue_now"].clone()))
        .collect();
    assert_eq!(
        weeks,
        vec![
            (json!("2025-03-03"), json!(4), Value::Null),
            (json!("2025-03-10"), json!(1), Value::Null)
        ],
        "{r}"
    );
    // A shorter period: only the moves from the 5th (d1 out of qualified, d5 out of new).
    let r = app
        .post(
            SLA,
            json!({"from": "2025-03-05", "to": "2025-03-31", "time_zone": "UTC"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(r["totals"]["with_due"], json!(2), "{r}");
    assert_eq!(r["totals"]["breached"], json!(1), "{r}");

    // The rep: their own deals only.
    let r = app
        .call_as(Some(&s.rep), Method::POST, SLA, Some(march))
        .await
        .expect(200)
        .body;
    assert_eq!(r["totals"]["with_due"], json!(1), "{r}");
    assert_eq!(r["totals"]["overdue_now"], json!(1), "{r}");
    assert_eq!(r["groups"].as_array().unwrap().len(), 1, "{r}");
}

async fn first_follow_up_by_move_and_by_call(backend: Backend) {
    let app = spawn(backend).await;
    let s = seed(&app).await;
    // By the first move out of new: the admin's d1 10 h, d2 30 h, d3 5 h, d7 48 h, and d6 new
    // today (pending); the rep's d5 20 h, d4 never (late).
    let r = app.post(FOLLOW, json!({})).await.expect(200).body;
    assert_eq!(r["within_hours"], json!(48.0));
    let rep = group(&r, &json!(s.rep_id));
    let counts = |g: &Value| {
        ["records", "followed_up", "within_target", "late", "pending"]
            .iter()
            .map(|k| g[k].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(counts(rep), vec![2, 1, 1, 1, 0], "{r}");
    assert_eq!(rep["late_share"].as_f64(), Some(0.5));
    assert_eq!(rep["p50_hours"].as_f64(), Some(20.0));
    let admin = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] != json!(s.rep_id))
        .unwrap();
    assert_eq!(counts(admin), vec![5, 4, 4, 0, 1], "{r}");
    assert_eq!(admin["late_share"].as_f64(), Some(0.0));
    assert_eq!(
        (admin["p50_hours"].as_f64(), admin["p90_hours"].as_f64()),
        (Some(10.0), Some(48.0)),
        "{r}"
    );
    // A 24-hour target: d2 and d7 are late.
    let r = app
        .post(
            FOLLOW,
            json!({"within_hours": 24, "group_by": "none", "from": "2025-03-01", "to": "2025-03-31"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(counts(&r["totals"]), vec![6, 5, 3, 3, 0], "{r}");
    assert_eq!(r["totals"]["late_share"].as_f64(), Some(0.5));

    // By the first call: d3 after 2 h, d2 after 50 h (late), d5 after 1 h by the admin's call.
    let by_call = json!({"follow_up": {"entity": "call", "relation": "deal"}});
    let r = app.post(FOLLOW, by_call.clone()).await.expect(200).body;
    assert_eq!(counts(group(&r, &json!(s.rep_id))), vec![2, 1, 1, 1, 0], "{r}");
    assert_eq!(counts(&r["totals"]), vec![7, 3, 2, 4, 1], "{r}");
    // The rep does not see the admin's call on d5: neither of their deals was followed up.
    let r = app
        .call_as(Some(&s.rep), Method::POST, FOLLOW, Some(by_call))
        .await
        .expect(200)
        .body;
    assert_eq!(counts(&r["totals"]), vec![2, 0, 0, 2, 0], "{r}");
    assert_eq!(r["groups"].as_array().unwrap().len(), 1, "{r}");
    // Bad follow-ups.
    let r = app
        .post(FOLLOW, json!({"follow_up": {"entity": "call", "relation": "note"}}))
        .await;
    assert_eq!(
        r.errors(),
        vec![("follow_up.relation".to_string(), "type".to_string())],
        "{}",
        r.text
    );
    let r = app
        .post(FOLLOW, json!({"follow_up": {"entity": "nothing", "relation": "deal"}}))
        .await;
    assert_eq!(
        r.errors(),
        vec![("follow_up.entity".to_string(), "not_found".to_string())],
        "{}",
        r.text
    );
    let r = app.post(FOLLOW, json!({"within_hours": 0})).await;
    assert_eq!(
        r.errors(),
        vec![("within_hours".to_string(), "range".to_string())],
        "{}",
        r.text
    );
    assert_eq!(s.ids.len(), 7);
}

async fn cycle_per_industry_and_win_rates_per_rep(backend: Backend) {
    let app = spawn(backend).await;
    let s = seed(&app).await;
    // Industry a: d1 won after 82 h, d7 after 48 h (average 65 h); d2 open since March (past
    // it), d6 open since today (not). Industry b: no won deal; d4 and d5 open (d3 lost).
    let r = app
        .post(CYCLE, json!({"group_by": "industry", "amount": "amount"}))
        .await
        .expect(200)
        .body;
    let a = group(&r, &json!("a"));
    assert_eq!(
        (a["won"].clone(), a["won_amount"].clone()),
        (json!(2), json!(400.0)),
        "{r}"
    );
    let avg = a["average_days"].as_f64().unwrap();
    assert!((avg - 65.0 / 24.0).abs() < 1e-5, "{r}");
    assert!((a["median_days"].as_f64().unwrap() - 2.0).abs() < 1e-5, "{r}");
    assert_eq!(
        (a["open"].clone(), a["past_average"].clone()),
        (json!(2), json!(1)),
        "{r}"
    );
    let listed = &a["past_average_records"][0];
    assert_eq!(
        (listed["id"].as_str(), listed["title"].clone(), listed["stage"].clone()),
        (Some(s.ids[1].as_str()), json!("d2"), json!("qualified")),
        "{r}"
    );
    let b = group(&r, &json!("b"));
    assert_eq!(
        (
            b["won"].clone(),
            b["average_days"].clone(),
            b["open"].clone(),
            b["past_average"].clone()
        ),
        (json!(0), Value::Null, json!(2), json!(0)),
        "{r}"
    );
    // The rep: only their own open deals of industry b.
    let r = app
        .call_as(Some(&s.rep), Method::POST, CYCLE, Some(json!({"group_by": "industry"})))
        .await
        .expect(200)
        .body;
    assert_eq!(r["groups"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(group(&r, &json!("b"))["open"], json!(2));

    // Win rate per rep (and lead quality per source alike): the aggregate of the closed deals
    // per owner and stage, won ÷ (won + lost), with the won amount and average.
    let agg = app
        .post(
            "/api/v1/data/sales/deal/aggregate",
            json!({
                "group_by": ["owner", "stage"],
                "filter": {"field": "stage", "op": "in", "value": ["won", "lost"]},
                "measures": [{"op": "count"}, {"op": "sum", "field": "amount"}, {"op": "avg", "field": "amount"}]
            }),
        )
        .await
        .expect(200)
        .body;
    let cell = |stage: &str, m: &str| {
        agg["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["key"]["stage"] == json!(stage))
            .map(|g| g["measures"][m].clone())
            .unwrap_or(Value::Null)
    };
    let (won, lost) = (cell("won", "count"), cell("lost", "count"));
    assert_eq!((won.clone(), lost.clone()), (json!(2), json!(1)), "{agg}");
    assert_eq!(
        won.as_f64().unwrap() / (won.as_f64().unwrap() + lost.as_f64().unwrap()),
        2.0 / 3.0
    );
    assert_eq!(cell("won", "sum_amount"), json!(400.0), "{agg}");
    assert_eq!(cell("won", "avg_amount"), json!(200.0), "{agg}");

    // Lead quality per source (the industry here): every record per source and stage; the
    // conversion is the won count ÷ the source's records, the value the won amount.
    let agg = app
        .post(
            "/api/v1/data/sales/deal/aggregate",
            json!({"group_by": ["industry", "stage"], "measures": [{"op": "count"}, {"op": "sum", "field": "amount"}]}),
        )
        .await
        .expect(200)
        .body;
    let of = |industry: &str| -> Vec<&Value> {
        agg["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["key"]["industry"] == json!(industry))
            .collect()
    };
    let total: i64 = of("a").iter().map(|g| g["measures"]["count"].as_i64().unwrap()).sum();
    let won = of("a").into_iter().find(|g| g["key"]["stage"] == json!("won")).unwrap();
    assert_eq!((won["measures"]["count"].clone(), total), (json!(2), 4), "{agg}");
    assert_eq!(won["measures"]["sum_amount"], json!(400.0), "{agg}");
    assert!(of("b").iter().all(|g| g["key"]["stage"] != json!("won")), "{agg}");
}

async fn scope_hidden_fields_and_bad_input(backend: Backend) {
    let app = spawn(backend).await;
    let s = seed(&app).await;
    // A field hidden from the rep is unknown to them, wherever it is named (a filter's
    // problem is at the field it names, as in a list).
    for (path, body, at) in [
        (
            SLA,
            json!({"filter": {"field": "secret", "op": "eq", "value": 1}}),
            "secret",
        ),
        (
            FOLLOW,
            json!({"filter": {"field": "secret", "op": "eq", "value": 1}}),
            "secret",
        ),
        (CYCLE, json!({"group_by": "secret"}), "group_by"),
        (CYCLE, json!({"amount": "secret"}), "amount"),
    ] {
        let r = app.call_as(Some(&s.rep), Method::POST, path, Some(body.clone())).await;
        assert_eq!(r.status, 422, "{path} {body}: {}", r.text);
        assert_eq!(
            r.errors(),
            vec![(at.to_string(), "unknown_field".to_string())],
            "{}",
            r.text
        );
        assert!(
            r.text.contains("'secret'") && !r.text.contains("\"groups\""),
            "{}",
            r.text
        );
    }
    // The admin may name it.
    app.post(CYCLE, json!({"group_by": "secret"})).await.expect(200);
    // An outsider reads no deal.
    let (_, outsider) = app.user("sales", "outsider", Some("outsider")).await;
    for path in [SLA, FOLLOW, CYCLE] {
        app.call_as(Some(&outsider), Method::POST, path, Some(json!({})))
            .await
            .expect_problem(403, "permission_denied");
    }
    // Bad input, each a problem at its place.
    let r = app.post(SLA, json!({"from": "2026-02-01", "to": "2026-01-01"})).await;
    assert_eq!(r.errors(), vec![("to".to_string(), "range".to_string())], "{}", r.text);
    let r = app.post(SLA, json!({"team": "no-such-team"})).await;
    assert_eq!(
        r.errors(),
        vec![("team".to_string(), "not_found".to_string())],
        "{}",
        r.text
    );
    app.post(SLA, json!({"group_by": "sideways"}))
        .await
        .expect_problem(400, "bad_request");
    let r = app.post(CYCLE, json!({"group_by": "title", "amount": "title"})).await;
    assert_eq!(
        r.errors(),
        vec![("amount".to_string(), "type".to_string())],
        "{}",
        r.text
    );
    let r = app.post(CYCLE, json!({"group_by": "stage"})).await;
    assert_eq!(
        r.errors(),
        vec![("group_by".to_string(), "type".to_string())],
        "{}",
        r.text
    );
    app.post("/api/v1/data/sales/call/sla", json!({}))
        .await
        .expect_problem(404, "not_found");
}

on_both!(
    sla_per_stage_owner_team_and_period,
    first_follow_up_by_move_and_by_call,
    cycle_per_industry_and_win_rates_per_rep,
    scope_hidden_fields_and_bad_input
);
