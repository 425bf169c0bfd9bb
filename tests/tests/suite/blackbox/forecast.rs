//! The forecast of a pipeline (issue 16, point 3) over HTTP on SQLite and PostgreSQL: the
//! weighted pipeline beside each stage's historical win rate and calibrated probability, per
//! field, owner, team and period; the calibration exercise; all through the caller's row scope,
//! with hidden fields refused. The backtest on generated history is in `whitebox::forecast`.

use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, TestApp, on_both, spawn};

pub(crate) const FORECAST: &str = "/api/v1/data/sales/deal/forecast";
const CALIBRATION: &str = "/api/v1/data/sales/deal/forecast/calibration";

/// Deals moving new (10 %) → qualified (30 %) → proposal (60 %) → won, or to lost from
/// anywhere; reps read their own deals and neither `secret` nor `budget`; auditors read every
/// deal but not its title or amount; outsiders read none.
pub(crate) fn sales() -> Value {
    let to = |s: &str| json!({"from": ["*"], "to": s});
    json!({
        "name": "sales", "label": {"en": "Sales"},
        "entities": [
            {"name": "memo", "label": {"en": "Memo"}, "fields": [
                {"name": "text", "label": {"en": "Text"}, "type": "text"}]},
            {"name": "deal", "label": {"en": "Deal"}, "title_field": "title", "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text"},
                {"name": "amount", "label": {"en": "Amount"}, "type": "decimal"},
                {"name": "budget", "label": {"en": "Budget"}, "type": "decimal"},
                {"name": "close", "label": {"en": "Expected close"}, "type": "date"},
                {"name": "region", "label": {"en": "Region"}, "type": "single_select", "options": [
                    {"value": "north", "label": {"en": "North"}},
                    {"value": "south", "label": {"en": "South"}}]},
                {"name": "secret", "label": {"en": "Secret"}, "type": "integer"}],
             "pipeline": {
                "stages": [
                    {"key": "new", "label": {"en": "New"}, "probability": 10},
                    {"key": "qualified", "label": {"en": "Qualified"}, "probability": 30},
                    {"key": "proposal", "label": {"en": "Proposal"}, "probability": 60},
                    {"key": "won", "label": {"en": "Won"}, "kind": "won"},
                    {"key": "lost", "label": {"en": "Lost"}, "kind": "lost"}],
                "transitions": [to("qualified"), to("proposal"), to("won"), to("lost")]}}
        ],
        "roles": [
            {"name": "rep", "label": {"en": "Rep"}, "permissions": {
                "deal": {"create": true, "read": true, "scope": "own", "transition": true,
                         "fields": {"secret": "hidden", "budget": "hidden"}}}},
            {"name": "auditor", "label": {"en": "Auditor"}, "permissions": {
                "deal": {"read": true, "fields": {"title": "hidden", "amount": "hidden"}}}},
            {"name": "outsider", "label": {"en": "Outsider"}, "permissions": {"memo": {"read": true}}}
        ]
    })
}

/// A deal created by the token's user (the admin without one), moved along `path`.
pub(crate) async fn deal(app: &TestApp, token: Option<&str>, body: Value, path: &[&str]) -> String {
    let token = Some(token.unwrap_or(&app.token));
    let r = app
        .call_as(token, Method::POST, "/api/v1/data/sales/deal", Some(body))
        .await
        .expect(201);
    let id = r.body["id"].as_str().expect("id").to_string();
    for to in path {
        app.call_as(
            token,
            Method::POST,
            &format!("/api/v1/data/sales/deal/{id}/transition"),
            Some(json!({"to": to})),
        )
        .await
        .expect(200);
    }
    id
}

/// Four closed deals (new: 2 won of 4; qualified: 1 of 3; proposal: 1 of 2, the won deal that
/// skipped from new did not enter them) and four open ones, the last the rep's own.
async fn seed(app: &TestApp) -> (String, String, Vec<String>) {
    app.create_app(sales()).await;
    let (rep_id, rep) = app.user("sales", "rep", Some("rep")).await;
    let closed = |t: &str| json!({"title": t, "amount": 100, "secret": 1, "budget": 7});
    deal(app, None, closed("h1"), &["qualified", "proposal", "won"]).await;
    deal(app, None, closed("h2"), &["qualified", "lost"]).await;
    deal(app, None, closed("h3"), &["qualified", "proposal", "lost"]).await;
    deal(app, None, closed("h4"), &["won"]).await;
    let open = |t: &str, amount: f64, region: &str, close: &str| json!({"title": t, "amount": amount, "region": region, "close": close, "secret": 1, "budget": 7});
    let o1 = deal(app, None, open("o1", 1000.0, "north", "2026-01-15"), &[]).await;
    let o2 = deal(app, None, open("o2", 2000.0, "south", "2026-02-10"), &["qualified"]).await;
    let o3 = deal(app, None, open("o3", 500.0, "north", "2026-01-20"), &["proposal"]).await;
    let o4 = deal(
        app,
        Some(&rep),
        json!({"title": "o4", "amount": 300, "region": "north", "close": "2026-02-01"}),
        &["proposal"],
    )
    .await;
    (rep_id, rep, vec![o1, o2, o3, o4])
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-4
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The stage `key` of a forecast or backtest.
pub(crate) fn stage<'a>(f: &'a Value, key: &str) -> &'a Value {
    f["stages"]
        .as_array()
        .unwrap_or_else(|| panic!("no stages: {f}"))
        .iter()
        .find(|s| s["stage"] == key)
        .unwrap_or_else(|| panic!("no stage {key}: {f}"))
}

async fn weighted_and_calibrated(backend: Backend) {
    let app = spawn(backend).await;
    let (rep_id, rep, _) = seed(&app).await;

    let f = app.post(FORECAST, json!({"amount": "amount"})).await.expect(200).body;
    assert_eq!(f["prior_strength"], json!(10.0), "{f}");
    assert_eq!(f["low_sample_under"], json!(30));
    // Configured, historical (won ÷ closed that entered the stage) and calibrated
    // ((won + 10·p) ÷ (closed + 10)) probabilities.
    let expect = [
        ("new", 0.1, 2, 2, 0.5, 3.0 / 14.0, 1, 1000.0),
        ("qualified", 0.3, 1, 2, 1.0 / 3.0, 4.0 / 13.0, 1, 2000.0),
        ("proposal", 0.6, 1, 1, 0.5, 7.0 / 12.0, 2, 800.0),
    ];
    assert_eq!(f["stages"].as_array().map(Vec::len), Some(3), "only open stages: {f}");
    for (key, cfg, won, lost, hist, cal, n, amount) in expect {
        let s = stage(&f, key);
        assert!(close(num(&s["configured_probability"]), cfg), "{key}: {s}");
        assert_eq!(
            (s["won"].as_i64(), s["lost"].as_i64()),
            (Some(won), Some(lost)),
            "{key}: {s}"
        );
        assert!(close(num(&s["historical_win_rate"]), hist), "{key}: {s}");
        assert!(close(num(&s["calibrated_probability"]), cal), "{key}: {s}");
        assert_eq!(s["low_sample"], json!(true), "{s}");
        assert_eq!(s["open_count"], json!(n), "{s}");
        assert!(close(num(&s["open_amount"]), amount), "{s}");
        assert!(close(num(&s["weighted"]), amount * cfg), "{s}");
        assert!(close(num(&s["calibrated"]), amount * cal), "{s}");
    }
    let t = &f["totals"];
    assert_eq!(t["open_count"], json!(4));
    assert!(close(num(&t["open_amount"]), 3800.0), "{t}");
    assert!(close(num(&t["weighted"]), 100.0 + 600.0 + 480.0), "{t}");
    let calibrated = 1000.0 * 3.0 / 14.0 + 2000.0 * 4.0 / 13.0 + 800.0 * 7.0 / 12.0;
    assert!(close(num(&t["calibrated"]), calibrated), "{t}");
    // Without a grouping: one group of everything.
    assert_eq!(f["groups"].as_array().map(Vec::len), Some(1), "{f}");
    assert_eq!(f["groups"][0]["key"], Value::Null);

    // No prior: the calibrated probability is the historical rate.
    let raw = app
        .post(FORECAST, json!({"amount": "amount", "prior_strength": 0}))
        .await
        .expect(200)
        .body;
    assert!(
        close(num(&stage(&raw, "qualified")["calibrated_probability"]), 1.0 / 3.0),
        "{raw}"
    );

    // Per region and month of the expected close.
    let g = app
        .post(
            FORECAST,
            json!({"amount": "amount", "group_by": "region", "period": {"field": "close", "unit": "month"}}),
        )
        .await
        .expect(200)
        .body;
    let groups: Vec<(Value, Value, i64, f64)> = g["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["key"].clone(),
                x["period"].clone(),
                x["open_count"].as_i64().unwrap(),
                num(&x["weighted"]),
            )
        })
        .collect();
    assert_eq!(groups.len(), 3, "{g}");
    assert_eq!(
        (&groups[0].0, &groups[0].1, groups[0].2),
        (&json!("north"), &json!("2026-01-01"), 2)
    );
    assert!(close(groups[0].3, 100.0 + 300.0), "{g}");
    assert_eq!(
        (&groups[1].0, &groups[1].1, groups[1].2),
        (&json!("north"), &json!("2026-02-01"), 1)
    );
    assert!(close(groups[1].3, 180.0), "{g}");
    assert_eq!(
        (&groups[2].0, &groups[2].1, groups[2].2),
        (&json!("south"), &json!("2026-02-01"), 1)
    );
    assert!(close(groups[2].3, 600.0), "{g}");
    let cells = &g["groups"][0]["stages"];
    assert_eq!(cells[0]["stage"], json!("new"), "{g}");
    assert_eq!(cells[1]["stage"], json!("proposal"), "{g}");

    // Per owner, and per team (the rep's team; the admin is in none).
    let o = app
        .post(FORECAST, json!({"amount": "amount", "group_by": "owner"}))
        .await
        .expect(200)
        .body;
    let rep_group = o["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["key"] == json!(rep_id))
        .unwrap_or_else(|| panic!("{o}"));
    assert_eq!(rep_group["open_count"], json!(1), "{o}");
    let team = app
        .post("/api/v1/teams", json!({"name": "East"}))
        .await
        .expect(201)
        .body;
    let team_id = team["id"].as_str().unwrap().to_string();
    app.post(&format!("/api/v1/teams/{team_id}/members"), json!({"user": rep_id}))
        .await
        .expect(200);
    let by_team = app
        .post(FORECAST, json!({"amount": "amount", "group_by": "team"}))
        .await
        .expect(200)
        .body;
    let keys: Vec<(Value, i64)> = by_team["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["key"].clone(), x["open_count"].as_i64().unwrap()))
        .collect();
    assert_eq!(keys, vec![(Value::Null, 3), (json!(team_id), 1)], "{by_team}");
    assert_eq!(by_team["groups"][1]["name"], json!("East"));
    // Only the team's records.
    let only_team = app
        .post(FORECAST, json!({"amount": "amount", "team": team_id}))
        .await
        .expect(200)
        .body;
    assert_eq!(only_team["totals"]["open_count"], json!(1), "{only_team}");

    // The rep sees their own deal only, and no history of others: the configured probability.
    let mine = app
        .call_as(Some(&rep), Method::POST, FORECAST, Some(json!({"amount": "amount"})))
        .await
        .expect(200)
        .body;
    assert_eq!(mine["totals"]["open_count"], json!(1), "{mine}");
    assert!(close(num(&mine["totals"]["open_amount"]), 300.0), "{mine}");
    let p = stage(&mine, "proposal");
    assert_eq!((p["won"].as_i64(), p["lost"].as_i64()), (Some(0), Some(0)), "{mine}");
    assert_eq!(p["historical_win_rate"], Value::Null);
    assert!(close(num(&p["calibrated_probability"]), 0.6), "{mine}");
}

async fn scope_hidden_fields_and_bad_input(backend: Backend) {
    let app = spawn(backend).await;
    let (_, rep, _) = seed(&app).await;
    // A field hidden from the rep cannot be the amount, a group, a period or a filter.
    for body in [
        json!({"amount": "budget"}),
        json!({"amount": "amount", "group_by": "secret"}),
        json!({"amount": "amount", "filter": {"field": "secret", "op": "eq", "value": 1}}),
    ] {
        let r = app
            .call_as(Some(&rep), Method::POST, FORECAST, Some(body.clone()))
            .await;
        assert_eq!(r.status, 422, "{body}: {}", r.text);
        assert!(
            (r.text.contains("budget") || r.text.contains("secret")) && !r.text.contains("\"stages\""),
            "{}",
            r.text
        );
    }
    let r = app
        .call_as(Some(&rep), Method::POST, FORECAST, Some(json!({"amount": "budget"})))
        .await;
    assert_eq!(
        r.errors(),
        vec![("amount".to_string(), "unknown_field".to_string())],
        "{}",
        r.text
    );
    // An outsider reads no deal.
    let (_, outsider) = app.user("sales", "outsider", Some("outsider")).await;
    for path in [FORECAST, CALIBRATION] {
        let body = if path == FORECAST {
            json!({"amount": "amount"})
        } else {
            json!({})
        };
        app.call_as(Some(&outsider), Method::POST, path, Some(body))
            .await
            .expect_problem(403, "permission_denied");
    }
    // Bad input, each a problem at its place.
    let cases = [
        (json!({"amount": "title"}), "amount", "type"),
        (json!({"amount": "nothing"}), "amount", "unknown_field"),
        (
            json!({"amount": "amount", "prior_strength": -1}),
            "prior_strength",
            "range",
        ),
        (
            json!({"amount": "amount", "group_by": "nothing"}),
            "group_by",
            "unknown_field",
        ),
        (
            json!({"amount": "amount", "period": {"field": "region", "unit": "month"}}),
            "period.field",
            "type",
        ),
        (json!({"amount": "amount", "team": "no-such-team"}), "team", "not_found"),
        (
            json!({"amount": "amount", "time_zone": "Moon/Base"}),
            "time_zone",
            "format",
        ),
    ];
    for (body, at, code) in cases {
        let r = app.post(FORECAST, body.clone()).await;
        assert_eq!(
            r.errors(),
            vec![(at.to_string(), code.to_string())],
            "{body}: {}",
            r.text
        );
    }
    app.post(FORECAST, json!({})).await.expect_problem(400, "bad_request");
    app.post("/api/v1/data/sales/memo/forecast", json!({"amount": "text"}))
        .await
        .expect_problem(404, "not_found");
}

async fn calibration_exercise(backend: Backend) {
    let app = spawn(backend).await;
    let (_, rep, open) = seed(&app).await;

    // The rep draws from their own open deals only.
    let mine = app
        .call_as(Some(&rep), Method::POST, CALIBRATION, Some(json!({"count": 10})))
        .await
        .expect(201)
        .body;
    assert_eq!(mine["drawn"], json!(1), "{mine}");
    assert_eq!(mine["records"][0]["id"], json!(open[3]), "{mine}");

    // The admin draws every open deal (fewer than asked), each with the system's probability
    // of its stage, the configured one, and the title.
    let x = app.post(CALIBRATION, json!({"count": 10})).await.expect(201).body;
    let id = x["id"].as_str().expect("id").to_string();
    assert_eq!(x["drawn"], json!(4), "{x}");
    let mut drawn: Vec<String> = x["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    drawn.sort();
    let mut expected = open.clone();
    expected.sort();
    assert_eq!(drawn, expected, "only open deals are drawn: {x}");
    let rec = |x: &Value, id: &str| -> Value {
        x["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} not in {x}"))
    };
    let o2 = rec(&x, &open[1]);
    assert_eq!(o2["stage"], json!("qualified"));
    assert_eq!(o2["title"], json!("o2"));
    assert!(close(num(&o2["system_probability"]), 4.0 / 13.0), "{o2}");
    assert!(close(num(&o2["configured_probability"]), 0.3), "{o2}");
    assert_eq!(o2["team_probability"], Value::Null);
    assert_eq!(o2["outcome"], json!("open"));
    assert_eq!(x["scored"], json!(0));
    assert_eq!(x["brier_team"], Value::Null);

    // The team's estimates, then outcomes: o2 is won, o1 lost, o3 stays open.
    let one = format!("{CALIBRATION}/{id}");
    let put = |body: Value| app.put(&one, body);
    put(json!({"estimates": [
        {"record": open[0], "estimate": 20},
        {"record": open[1], "estimate": 90},
        {"record": open[2], "estimate": 50}]}))
    .await
    .expect(200);
    for (i, to) in [(1, "won"), (0, "lost")] {
        app.post(
            &format!("/api/v1/data/sales/deal/{}/transition", open[i]),
            json!({"to": to}),
        )
        .await
        .expect(200);
    }
    let r = app.get(&format!("{CALIBRATION}/{id}")).await.expect(200).body;
    assert_eq!(rec(&r, &open[1])["outcome"], json!("won"));
    assert_eq!(rec(&r, &open[1])["stage_now"], json!("won"));
    assert_eq!(rec(&r, &open[0])["outcome"], json!("lost"));
    assert!(close(num(&rec(&r, &open[1])["team_probability"]), 0.9), "{r}");
    assert_eq!(r["scored"], json!(2), "{r}");
    // Team: ((0.2 − 0)² + (0.9 − 1)²) ÷ 2; system: o1 in new (3/14), o2 in qualified (4/13).
    assert!(close(num(&r["brier_team"]), (0.04 + 0.01) / 2.0), "{r}");
    let system = ((3.0f64 / 14.0).powi(2) + (1.0 - 4.0f64 / 13.0).powi(2)) / 2.0;
    assert!(close(num(&r["brier_system"]), system), "{r}");
    assert!(close(num(&r["brier_configured"]), (0.01 + 0.49) / 2.0), "{r}");

    // The rep reads the admin's exercise: their own deal only, the others left out; nor may
    // they estimate a deal outside their scope.
    let seen = app
        .call_as(Some(&rep), Method::GET, &format!("{CALIBRATION}/{id}"), None)
        .await
        .expect(200)
        .body;
    assert_eq!(seen["drawn"], json!(4), "{seen}");
    assert_eq!(seen["left_out"], json!(3), "{seen}");
    assert_eq!(seen["records"].as_array().map(Vec::len), Some(1), "{seen}");
    assert!(!seen.to_string().contains("o2"), "{seen}");
    let r = app
        .call_as(
            Some(&rep),
            Method::PUT,
            &format!("{CALIBRATION}/{id}"),
            Some(json!({"estimates": [{"record": open[1], "estimate": 10}]})),
        )
        .await;
    assert_eq!(
        r.errors(),
        vec![("estimates[0].record".to_string(), "not_found".to_string())],
        "{}",
        r.text
    );
    // An auditor reads every drawn deal, without the title hidden from them.
    let (_, auditor) = app.user("sales", "auditor", Some("auditor")).await;
    let audited = app
        .call_as(Some(&auditor), Method::GET, &format!("{CALIBRATION}/{id}"), None)
        .await
        .expect(200)
        .body;
    assert_eq!(audited["records"].as_array().map(Vec::len), Some(4), "{audited}");
    assert!(
        audited["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.get("title").is_none()),
        "{audited}"
    );
    assert!(!audited.to_string().contains("\"o2\""), "{audited}");
    let r = app
        .call_as(
            Some(&auditor),
            Method::POST,
            FORECAST,
            Some(json!({"amount": "amount"})),
        )
        .await;
    assert_eq!(
        r.errors(),
        vec![("amount".to_string(), "unknown_field".to_string())],
        "{}",
        r.text
    );

    // Bad input writes nothing.
    let r = put(json!({"estimates": [{"record": open[2], "estimate": 120}]})).await;
    assert_eq!(
        r.errors(),
        vec![("estimates[0].estimate".to_string(), "range".to_string())],
        "{}",
        r.text
    );
    let after = app.get(&format!("{CALIBRATION}/{id}")).await.expect(200).body;
    assert!(close(num(&rec(&after, &open[2])["team_probability"]), 0.5), "{after}");
    let r = app.post(CALIBRATION, json!({"count": 0})).await;
    assert_eq!(
        r.errors(),
        vec![("count".to_string(), "range".to_string())],
        "{}",
        r.text
    );
    app.get(&format!("{CALIBRATION}/no-such-exercise"))
        .await
        .expect_problem(404, "not_found");
}

on_both!(
    weighted_and_calibrated,
    scope_hidden_fields_and_bad_input,
    calibration_exercise
);
