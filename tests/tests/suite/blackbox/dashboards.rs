//! Dashboards (issue 16, point 6) over HTTP on SQLite and PostgreSQL: widgets bound to report
//! queries in the app definition, checked when saved and kept through renames; their data
//! through the reader's view under global filters; a widget as CSV; and the digest e-mailed on
//! a cron schedule to a role, each recipient reading their own view in their own language.

use std::time::Duration;

use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, TestApp, on_both, spawn};

const DATA: &str = "/api/v1/apps/sales/dashboards/board/data";

fn pos(x: u32, y: u32) -> Value {
    json!({"x": x, "y": y, "w": 6, "h": 4})
}

/// Deals with a pipeline; reps read their own deals and not `secret`; outsiders read no deal.
/// The board: the total amount, amount by region, the sum of the secret and the funnel, with a
/// period (this year by default), owner, team and region filters.
fn sales() -> Value {
    let to = |s: &str| json!({"from": ["*"], "to": s});
    json!({
        "name": "sales", "label": {"zh": "销售", "en": "Sales"},
        "entities": [
            {"name": "memo", "label": {"en": "Memo"}, "fields": [
                {"name": "text", "label": {"en": "Text"}, "type": "text"}]},
            {"name": "deal", "label": {"en": "Deal"}, "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text"},
                {"name": "amount", "label": {"zh": "金额", "en": "Amount"}, "type": "decimal"},
                {"name": "region", "label": {"zh": "区域", "en": "Region"}, "type": "single_select", "options": [
                    {"value": "north", "label": {"zh": "华北", "en": "North"}},
                    {"value": "south", "label": {"zh": "华南", "en": "South"}}]},
                {"name": "secret", "label": {"en": "Secret"}, "type": "integer"}],
             "pipeline": {
                "stages": [
                    {"key": "new", "label": {"zh": "新建", "en": "New"}},
                    {"key": "won", "label": {"zh": "赢单", "en": "Won"}, "kind": "won"},
                    {"key": "lost", "label": {"en": "Lost"}, "kind": "lost"}],
                "transitions": [to("won"), to("lost")]}}
        ],
        "roles": [
            {"name": "rep", "label": {"en": "Rep"}, "permissions": {
                "deal": {"create": true, "read": true, "scope": "own", "transition": true,
                         "fields": {"secret": "hidden"}}}},
            {"name": "outsider", "label": {"en": "Outsider"}, "permissions": {"memo": {"read": true}}}
        ],
        "dashboards": [{
            "name": "board", "label": {"zh": "销售看板", "en": "Sales board"},
            "filters": [{"kind": "period", "default": "this_year"}, {"kind": "owner"}, {"kind": "team"},
                        {"kind": "field", "field": "region"}],
            "widgets": [
                {"name": "total", "label": {"zh": "总金额", "en": "Total"}, "kind": "number", "entity": "deal",
                 "report": "aggregate", "query": {"measures": [{"op": "sum", "field": "amount"}]}, "position": pos(0, 0)},
                {"name": "by_region", "label": {"zh": "各区域", "en": "By region"}, "kind": "bar", "entity": "deal",
                 "report": "aggregate", "query": {"group_by": ["region"], "measures": [{"op": "count"}, {"op": "sum", "field": "amount"}],
                 "sort": [{"by": "region"}]}, "position": pos(6, 0)},
                {"name": "secrets", "label": {"en": "Secrets"}, "kind": "number", "entity": "deal",
                 "report": "aggregate", "query": {"measures": [{"op": "sum", "field": "secret"}]}, "position": pos(0, 4)},
                {"name": "funnel", "label": {"zh": "漏斗", "en": "Funnel"}, "kind": "funnel", "entity": "deal",
                 "report": "funnel", "query": {}, "position": pos(6, 4)}
            ]}]
    })
}

async fn deal(app: &TestApp, token: &str, title: &str, region: &str, amount: &str, won: bool) {
    let r = app
        .call_as(
            Some(token),
            Method::POST,
            "/api/v1/data/sales/deal",
            Some(json!({"title": title, "region": region, "amount": amount})),
        )
        .await
        .expect(201);
    if won {
        let id = r.body["id"].as_str().unwrap();
        app.call_as(
            Some(token),
            Method::POST,
            &format!("/api/v1/data/sales/deal/{id}/transition"),
            Some(json!({"to": "won"})),
        )
        .await
        .expect(200);
    }
}

/// Three admin deals (north 100 won, north 50, south 10) with a secret, and a rep's (south 7).
async fn seed(app: &TestApp) -> (String, String) {
    app.create_app(sales()).await;
    let (rep_id, rep) = app.user("sales", "rep", Some("rep")).await;
    let admin = app.token.clone();
    deal(app, &admin, "d1", "north", "100", true).await;
    deal(app, &admin, "d2", "north", "50", false).await;
    deal(app, &admin, "d3", "south", "10", false).await;
    app.patch_all_secrets().await;
    deal(app, &rep, "d4", "south", "7", false).await;
    (rep_id, rep)
}

trait Secrets {
    async fn patch_all_secrets(&self);
}

impl Secrets for TestApp {
    /// Every deal so far gets secret 5 (the admin's; reps cannot see or set it).
    async fn patch_all_secrets(&self) {
        let list = self.get("/api/v1/data/sales/deal").await.expect(200).body;
        for d in list["data"].as_array().unwrap() {
            let id = d["id"].as_str().unwrap();
            self.patch(&format!("/api/v1/data/sales/deal/{id}"), json!({"secret": 5}))
                .await
                .expect(200);
        }
    }
}

fn widget<'a>(d: &'a Value, name: &str) -> &'a Value {
    d["widgets"]
        .as_array()
        .unwrap_or_else(|| panic!("no widgets: {d}"))
        .iter()
        .find(|w| w["name"] == name)
        .unwrap_or_else(|| panic!("no widget {name}: {d}"))
}

fn names(d: &Value) -> Vec<String> {
    d["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap().to_string())
        .collect()
}

async fn definitions_are_checked_and_follow_renames(backend: Backend) {
    let app = spawn(backend).await;
    let mut bad = sales();
    bad["name"] = json!("bad");
    let widgets = &mut bad["dashboards"][0]["widgets"];
    widgets[0]["query"] = json!({"measures": "all"});
    widgets[1]["query"]["group_by"] = json!(["regoin"]);
    widgets[2]["kind"] = json!("funnel");
    widgets[3]["entity"] = json!("nothing");
    bad["dashboards"][0]["filters"][3]["field"] = json!("title_x");
    let r = app
        .post("/api/v1/apps", bad)
        .await
        .expect_problem(422, "validation_failed");
    let mut got = r.errors();
    got.sort();
    assert_eq!(
        got,
        [
            ("dashboards.board.filters[3].field", "unknown_field"),
            ("dashboards.board.widgets.by_region.query", "unknown_field"),
            ("dashboards.board.widgets.funnel.entity", "unknown_entity"),
            ("dashboards.board.widgets.secrets.kind", "not_applicable"),
            ("dashboards.board.widgets.total.query", "invalid"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string())),
        "{}",
        r.text
    );
    assert!(r.text.contains("widget 'by_region' uses 'regoin'"), "{}", r.text);
    app.get("/api/v1/apps/bad").await.expect_problem(404, "not_found");

    app.create_app(sales()).await;
    // A field a widget uses cannot go; a rename carries over to queries and filters.
    let used = app
        .delete("/api/v1/apps/sales/entities/deal/fields/region")
        .await
        .expect_problem(422, "validation_failed");
    assert!(used.text.contains("dashboard 'board'"), "{}", used.text);
    app.patch(
        "/api/v1/apps/sales/entities/deal/fields/region",
        json!({"name": "area"}),
    )
    .await
    .expect(200);
    let def = app.get("/api/v1/apps/sales").await.expect(200).body;
    let board = &def["dashboards"][0];
    assert_eq!(board["widgets"][1]["query"]["group_by"], json!(["area"]));
    assert_eq!(board["widgets"][1]["query"]["sort"][0]["by"], json!("area"));
    assert_eq!(board["filters"][3]["field"], json!("area"));
    // The board still runs after the rename.
    let d = app
        .post(DATA, json!({"fields": {"area": ["north"]}}))
        .await
        .expect(200)
        .body;
    assert!(widget(&d, "by_region")["error"].is_null(), "{d}");

    // Dashboards are replaced whole by PATCH /apps, checked the same way.
    let r = app
        .patch(
            "/api/v1/apps/sales",
            json!({"dashboards": [{"name": "x", "label": {"en": "X"}, "widgets": [
                {"name": "w", "label": {"en": "W"}, "kind": "pie", "entity": "deal", "report": "aggregate",
                 "query": {"group_by": ["nope"]}, "position": {"x": 10, "y": 0, "w": 6, "h": 2}}]}]}),
        )
        .await
        .expect_problem(422, "validation_failed");
    let mut got = r.errors();
    got.sort();
    assert_eq!(
        got,
        [
            ("dashboards.x.widgets.w.position", "out_of_range"),
            ("dashboards.x.widgets.w.query", "unknown_field"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    // A change of the dashboards alone is kept.
    let mut fewer = def["dashboards"].clone();
    fewer[0]["widgets"].as_array_mut().unwrap().truncate(1);
    fewer[0]["label"] = json!({"en": "Just the total"});
    app.patch("/api/v1/apps/sales", json!({"dashboards": fewer}))
        .await
        .expect(200);
    let def = app.get("/api/v1/apps/sales").await.expect(200).body;
    assert_eq!(def["dashboards"], fewer);
    let d = app.post(DATA, json!({})).await.expect(200).body;
    assert_eq!(names(&d), ["total"]);
    assert_eq!(d["label"], json!({"en": "Just the total"}));
}

async fn data_through_the_reader_s_view_under_filters(backend: Backend) {
    let app = spawn(backend).await;
    let (rep_id, rep) = seed(&app).await;
    let (_, outsider) = app.user("sales", "outsider", Some("outsider")).await;

    let d = app.post(DATA, json!({})).await.expect(200).body;
    assert_eq!(names(&d), ["total", "by_region", "secrets", "funnel"]);
    let year = trellis_tests::chrono::Utc::now().date_naive().format("%Y").to_string();
    assert_eq!(d["from"], json!(format!("{year}-01-01")), "the period's default");
    assert_eq!(d["to"], json!(format!("{year}-12-31")));
    assert_eq!(
        widget(&d, "total")["data"]["groups"][0]["measures"]["sum_amount"],
        json!(167.0)
    );
    assert_eq!(
        widget(&d, "secrets")["data"]["groups"][0]["measures"]["sum_secret"],
        json!(15)
    );
    let table = &widget(&d, "by_region")["table"];
    assert_eq!(
        table["columns"][0],
        json!({"key": "region", "label": {"zh": "区域", "en": "Region"}})
    );
    assert_eq!(table["rows"], json!([["north", 2, 150.0], ["south", 2, 17.0]]));
    let funnel = &widget(&d, "funnel")["data"]["stages"];
    assert_eq!(funnel[0]["entered"], json!(4), "{funnel}");

    // A rep: their own deal only, and no widget naming the hidden field (not in the app as
    // they read it, not in the data, no CSV).
    let r = app
        .call_as(Some(&rep), Method::POST, DATA, Some(json!({})))
        .await
        .expect(200);
    assert_eq!(names(&r.body), ["total", "by_region", "funnel"]);
    assert!(!r.text.contains("secret"), "{}", r.text);
    assert_eq!(
        widget(&r.body, "total")["data"]["groups"][0]["measures"]["sum_amount"],
        json!(7.0)
    );
    assert_eq!(
        widget(&r.body, "by_region")["table"]["rows"],
        json!([["south", 1, 7.0]])
    );
    let def = app
        .call_as(Some(&rep), Method::GET, "/api/v1/apps/sales", None)
        .await
        .expect(200);
    assert!(!def.text.contains("secrets"), "{}", def.text);
    let csv = "/api/v1/apps/sales/dashboards/board/widgets";
    app.call_as(Some(&rep), Method::GET, &format!("{csv}/secrets/csv"), None)
        .await
        .expect_problem(404, "not_found");
    // An outsider reads no deal: no board.
    app.call_as(Some(&outsider), Method::POST, DATA, Some(json!({})))
        .await
        .expect_problem(404, "not_found");

    // Global filters: a region, an owner, a team, a period.
    let d = app
        .post(DATA, json!({"fields": {"region": ["north"]}}))
        .await
        .expect(200)
        .body;
    assert_eq!(
        widget(&d, "total")["data"]["groups"][0]["measures"]["sum_amount"],
        json!(150.0)
    );
    assert_eq!(widget(&d, "funnel")["data"]["stages"][0]["entered"], json!(2));
    let d = app.post(DATA, json!({"owner": rep_id})).await.expect(200).body;
    assert_eq!(
        widget(&d, "total")["data"]["groups"][0]["measures"]["sum_amount"],
        json!(7.0)
    );
    let team = app
        .post("/api/v1/teams", json!({"name": "East"}))
        .await
        .expect(201)
        .body;
    let team = team["id"].as_str().unwrap().to_string();
    app.post(&format!("/api/v1/teams/{team}/members"), json!({"user": rep_id}))
        .await
        .expect(200);
    let d = app.post(DATA, json!({"team": team})).await.expect(200).body;
    assert_eq!(
        widget(&d, "total")["data"]["groups"][0]["measures"]["sum_amount"],
        json!(7.0)
    );
    assert_eq!(widget(&d, "funnel")["data"]["stages"][0]["entered"], json!(1));
    let d = app
        .post(DATA, json!({"from": "2001-01-01", "to": "2001-12-31"}))
        .await
        .expect(200)
        .body;
    assert_eq!(
        widget(&d, "total")["data"]["groups"][0]["measures"]["sum_amount"],
        json!(null)
    );
    assert_eq!(widget(&d, "funnel")["data"]["records"], json!(0));

    // Filters the board does not declare, or bad values, write nothing and say why.
    for (body, at, code) in [
        (json!({"fields": {"title": ["x"]}}), "fields.title", "not_applicable"),
        (json!({"fields": {"region": []}}), "fields.region", "count"),
        (json!({"from": "2026-02-01", "to": "2026-01-01"}), "to", "range"),
        (json!({"from": "2026-02-01"}), "to", "required"),
        (json!({"team": "nope"}), "team", "not_found"),
    ] {
        let r = app.post(DATA, body).await.expect_problem(422, "validation_failed");
        assert_eq!(r.errors(), [(at.to_string(), code.to_string())], "{}", r.text);
    }
    let r = app
        .post(DATA, json!({"colour": "red"}))
        .await
        .expect_problem(422, "validation_failed");
    assert_eq!(r.errors(), [("colour".to_string(), "unknown_field".to_string())]);
    app.post("/api/v1/apps/sales/dashboards/nothing/data", json!({}))
        .await
        .expect_problem(404, "not_found");

    // A widget as CSV, headers in the language asked for, the filters applied.
    let r = app
        .get(&format!(
            "{csv}/by_region/csv?lang=zh&fields=%7B%22region%22%3A%5B%22south%22%5D%7D"
        ))
        .await
        .expect(200);
    assert!(r.content_type().starts_with("text/csv"), "{}", r.content_type());
    // (The byte order mark Excel needs is read away by the client.)
    assert_eq!(r.text.trim_start_matches('\u{feff}'), "区域,数量,金额合计\n华南,2,17\n");
    let r = app
        .call_as(Some(&rep), Method::GET, &format!("{csv}/by_region/csv?lang=en"), None)
        .await
        .expect(200);
    assert_eq!(
        r.text.trim_start_matches('\u{feff}'),
        "Region,Count,Sum of Amount\nSouth,1,7\n"
    );
    app.get(&format!("{csv}/by_region/csv?from=yesterday"))
        .await
        .expect_problem(422, "validation_failed");
    app.get(&format!("{csv}/nothing/csv"))
        .await
        .expect_problem(404, "not_found");
}

async fn a_digest_goes_to_a_role_each_in_their_view_and_language(backend: Backend) {
    let app = spawn(backend).await;
    let smtp = trellis_tests::SmtpSink::start().await;
    let (_, rep) = seed(&app).await;
    app.call_as(
        Some(&rep),
        Method::PUT,
        "/api/v1/me/preferences",
        Some(json!({"language": "zh-CN"})),
    )
    .await
    .expect(200);
    app.put(
        "/api/v1/settings",
        json!({"smtp": smtp.settings("Trellis <robot@trellis.example>")}),
    )
    .await
    .expect(200);
    let me = app.get("/api/v1/me").await.expect(200).body;
    let admin_id = me["id"].as_str().or(me["user"]["id"].as_str()).unwrap().to_string();

    // Plain addresses and unknown dashboards are refused when the rule is saved.
    let rule = |to: Value, dashboard: &str| {
        json!({"name": "digest", "trigger": {"type": "cron", "schedule": "*/2 * * * * *"},
               "actions": [{"type": "email_dashboard", "dashboard": dashboard, "to": to}]})
    };
    let r = app
        .post(
            "/api/v1/apps/sales/rules",
            rule(json!({"addresses": ["boss@example.com"]}), "nothing"),
        )
        .await
        .expect_problem(422, "validation_failed");
    let mut got = r.errors();
    got.sort();
    assert_eq!(
        got,
        [
            ("rules[0].actions[0].dashboard", "not_found"),
            ("rules[0].actions[0].to.addresses", "not_applicable"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string())),
        "{}",
        r.text
    );
    app.post(
        "/api/v1/apps/sales/rules",
        rule(json!({"roles": ["rep"], "users": [admin_id]}), "board"),
    )
    .await
    .expect(200);

    let runs = app
        .eventually("/api/v1/apps/sales/rules/digest/runs", |r| {
            r["data"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x["status"] != "running"))
        })
        .await;
    assert_eq!(runs["data"][0]["status"], "done", "{runs}");
    let mails = smtp.wait_for(2, Duration::from_secs(30)).await;
    app.delete("/api/v1/apps/sales/rules/digest").await;
    let to = |who: &str| {
        mails
            .iter()
            .find(|m| m.to.iter().any(|t| t.starts_with(who)))
            .unwrap_or_else(|| {
                panic!(
                    "nothing to {who}: {:?}",
                    mails.iter().map(|m| &m.to).collect::<Vec<_>>()
                )
            })
            .clone()
    };
    let rep_mail = to("rep@");
    let subject = rep_mail.subject.clone().unwrap_or_default();
    assert!(subject.starts_with("销售 · 销售看板 · "), "{subject}");
    let parts = rep_mail.parts();
    assert_eq!(parts.len(), 2, "{}", rep_mail.data);
    assert!(
        parts[0].0.starts_with("text/plain") && parts[1].0.starts_with("text/html"),
        "{parts:?}"
    );
    let html = &parts[1].1;
    assert!(
        html.contains("<h3 style=\"margin:16px 0 4px;font-size:15px\">各区域</h3>"),
        "{html}"
    );
    assert!(
        html.contains(">华南</td>") && !html.contains("华北"),
        "the rep's own deals only: {html}"
    );
    assert!(!html.contains("Secrets") && !html.contains("secret"), "{html}");
    assert!(parts[0].1.contains("区域 | 数量 | 金额合计"), "{}", parts[0].1);

    let admin_mail = to("admin@");
    let html = &admin_mail.parts()[1].1;
    assert!(
        admin_mail
            .subject
            .clone()
            .unwrap_or_default()
            .starts_with("Sales · Sales board · ")
    );
    assert!(html.contains(">North</td>") && html.contains(">Secrets</h3>"), "{html}");
    assert!(html.contains(">167</p>"), "the total, large: {html}");
}

/// The SLA and first follow-up reports group by `team` or `none` as their documents say; a
/// dashboard saying so was refused (`none` read as a field).
async fn sla_and_follow_up_widgets_group_by_team_or_none(backend: Backend) {
    let app = spawn(backend).await;
    let mut def = sales();
    let widget = |name: &str, report: &str, group_by: &str| {
        json!({"name": name, "label": {"en": name}, "kind": "table", "entity": "deal", "report": report,
               "query": {"group_by": group_by}, "position": pos(0, 8)})
    };
    def["dashboards"][0]["widgets"] = json!([
        widget("sla_none", "sla", "none"),
        widget("sla_team", "sla", "team"),
        widget("first_none", "first_follow_up", "none"),
        widget("first_team", "first_follow_up", "team"),
    ]);
    app.create_app(def).await;
    let data = app.post(DATA, json!({})).await.expect(200).body;
    for w in data["widgets"].as_array().unwrap() {
        assert!(w["error"].is_null(), "{}: {}", w["name"], w["error"]);
    }
}

on_both!(
    sla_and_follow_up_widgets_group_by_team_or_none,
    definitions_are_checked_and_follow_renames,
    data_through_the_reader_s_view_under_filters,
    a_digest_goes_to_a_role_each_in_their_view_and_language
);
