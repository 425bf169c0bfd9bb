//! The funnel of a pipeline (issue 16, point 2) over HTTP on SQLite and PostgreSQL: cohort and
//! snapshot funnels from the kept stage moves, skipped stages passed except by lost records,
//! through the caller's row scope, with filters by field and team.

use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, TestApp, on_both, spawn};

const PATH: &str = "/api/v1/data/sales/deal/funnel";

/// Deals moving new → qualified → proposal → won, or to lost from anywhere; reps read their own
/// deals and not `secret`; outsiders read no deal.
fn sales() -> Value {
    let to = |s: &str| json!({"from": ["*"], "to": s});
    json!({
        "name": "sales", "label": {"en": "Sales"},
        "entities": [
            {"name": "memo", "label": {"en": "Memo"}, "fields": [
                {"name": "text", "label": {"en": "Text"}, "type": "text"}]},
            {"name": "deal", "label": {"en": "Deal"}, "fields": [
                {"name": "title", "label": {"en": "Title"}, "type": "text"},
                {"name": "region", "label": {"en": "Region"}, "type": "single_select", "options": [
                    {"value": "north", "label": {"en": "North"}},
                    {"value": "south", "label": {"en": "South"}}]},
                {"name": "secret", "label": {"en": "Secret"}, "type": "integer"}],
             "pipeline": {
                "stages": [
                    {"key": "new", "label": {"zh": "新建", "en": "New"}},
                    {"key": "qualified", "label": {"en": "Qualified"}},
                    {"key": "proposal", "label": {"en": "Proposal"}},
                    {"key": "won", "label": {"en": "Won"}, "kind": "won"},
                    {"key": "lost", "label": {"en": "Lost"}, "kind": "lost"}],
                "transitions": [to("qualified"), to("proposal"), to("won"), to("lost")]}}
        ],
        "roles": [
            {"name": "rep", "label": {"en": "Rep"}, "permissions": {
                "deal": {"create": true, "read": true, "scope": "own", "transition": true,
                         "fields": {"secret": "hidden"}}}},
            {"name": "outsider", "label": {"en": "Outsider"}, "permissions": {"memo": {"read": true}}}
        ]
    })
}

async fn deal(app: &TestApp, token: Option<&str>, title: &str, region: &str, path: &[&str]) -> String {
    // The admin's deals carry the field hidden from reps.
    let body = match token {
        None => json!({"title": title, "region": region, "secret": 1}),
        Some(_) => json!({"title": title, "region": region}),
    };
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

/// (stage, entered, still_in, advanced, lost) per stage.
fn counts(f: &Value) -> Vec<(String, i64, i64, i64, i64)> {
    f["stages"]
        .as_array()
        .unwrap_or_else(|| panic!("no stages: {f}"))
        .iter()
        .map(|s| {
            let n = |k: &str| s[k].as_i64().unwrap_or_else(|| panic!("{k} of {s}"));
            (
                s["stage"].as_str().unwrap_or_default().to_string(),
                n("entered"),
                n("still_in"),
                n("advanced"),
                n("lost"),
            )
        })
        .collect()
}

fn row(stage: &str, entered: i64, still_in: i64, advanced: i64, lost: i64) -> (String, i64, i64, i64, i64) {
    (stage.to_string(), entered, still_in, advanced, lost)
}

/// The six deals of the examples: a won one, one left in qualified, one that skipped to
/// proposal, one lost from qualified, one that skipped to proposal and was lost there, and the
/// rep's own, still new.
async fn seed(app: &TestApp) -> (String, String) {
    app.create_app(sales()).await;
    let (rep_id, rep) = app.user("sales", "rep", Some("rep")).await;
    deal(app, None, "d1", "north", &["qualified", "proposal", "won"]).await;
    deal(app, None, "d2", "north", &["qualified"]).await;
    deal(app, None, "d3", "south", &["proposal"]).await;
    deal(app, None, "d4", "south", &["qualified", "lost"]).await;
    deal(app, None, "d5", "south", &["proposal", "lost"]).await;
    deal(app, Some(&rep), "d6", "north", &[]).await;
    (rep_id, rep)
}

async fn cohort_and_snapshot(backend: Backend) {
    let app = spawn(backend).await;
    let (rep_id, rep) = seed(&app).await;

    let expected = vec![
        row("new", 6, 1, 5, 0),
        // d3 skipped qualified and counts as passing it; d5 skipped it too but was lost.
        row("qualified", 4, 1, 2, 1),
        row("proposal", 3, 1, 1, 1),
        row("won", 1, 1, 0, 0),
        row("lost", 2, 2, 0, 0),
    ];
    let f = app.post(PATH, json!({})).await.expect(200).body;
    assert_eq!(f["mode"], json!("cohort"));
    assert_eq!(f["records"], json!(6));
    assert_eq!(counts(&f), expected, "{f}");
    let s = &f["stages"];
    assert_eq!(s[0]["conversion_next"].as_f64(), Some(4.0 / 6.0));
    assert_eq!(s[1]["conversion_next"].as_f64(), Some(3.0 / 4.0));
    assert_eq!(s[2]["conversion_next"].as_f64(), Some(1.0 / 3.0));
    assert_eq!(s[3]["conversion_cumulative"].as_f64(), Some(1.0 / 6.0));
    assert_eq!(s[0]["label"], json!({"zh": "新建", "en": "New"}));
    // Time in stage: five deals left `new`, with the time each spent there.
    assert_eq!(s[0]["left"], json!(5));
    let (median, p90) = (
        s[0]["median_seconds"].as_f64().unwrap(),
        s[0]["p90_seconds"].as_f64().unwrap(),
    );
    assert!(median >= 0.0 && median <= p90, "{f}");
    assert_eq!(s[3]["left"], json!(0));
    assert_eq!(s[3]["median_seconds"], Value::Null);

    // The same moves counted as a snapshot of today's moves.
    let today = chrono::Utc::now().date_naive().to_string();
    let snap = app
        .post(
            PATH,
            json!({"mode": "snapshot", "from": today, "to": today, "time_zone": "UTC"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(snap["records"], json!(6));
    assert_eq!(counts(&snap), expected, "{snap}");
    // Nothing moved, and nothing was created, in a past period.
    for mode in ["snapshot", "cohort"] {
        let past = app
            .post(PATH, json!({"mode": mode, "from": "2020-01-01", "to": "2020-12-31"}))
            .await
            .expect(200)
            .body;
        assert_eq!(past["records"], json!(0), "{past}");
        assert!(
            counts(&past)
                .iter()
                .all(|(_, e, s, a, l)| [e, s, a, l].iter().all(|n| **n == 0)),
            "{past}"
        );
    }

    // By a field: the northern deals (d1 won, d2 in qualified, d6 new).
    let north = app
        .post(
            PATH,
            json!({"filter": {"field": "region", "op": "eq", "value": "north"}}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        counts(&north)[..4],
        [
            row("new", 3, 1, 2, 0),
            row("qualified", 2, 1, 1, 0),
            row("proposal", 1, 0, 1, 0),
            row("won", 1, 1, 0, 0)
        ]
    );

    // A rep sees their own deal only; a team of the rep alone gives the same.
    let mine = app
        .call_as(Some(&rep), Method::POST, PATH, Some(json!({})))
        .await
        .expect(200)
        .body;
    assert_eq!(mine["records"], json!(1));
    assert_eq!(counts(&mine)[0], row("new", 1, 1, 0, 0));
    let team = app
        .post("/api/v1/teams", json!({"name": "East"}))
        .await
        .expect(201)
        .body;
    let team_id = team["id"].as_str().unwrap().to_string();
    app.post(&format!("/api/v1/teams/{team_id}/members"), json!({"user": rep_id}))
        .await
        .expect(200);
    let by_team = app.post(PATH, json!({"team": team_id})).await.expect(200).body;
    assert_eq!(by_team["records"], json!(1));
    assert_eq!(counts(&by_team)[0], row("new", 1, 1, 0, 0));
}

async fn scope_hidden_fields_and_bad_input(backend: Backend) {
    let app = spawn(backend).await;
    let (_, rep) = seed(&app).await;
    // A field hidden from the rep is unknown to them.
    let r = app
        .call_as(
            Some(&rep),
            Method::POST,
            PATH,
            Some(json!({"filter": {"field": "secret", "op": "eq", "value": 1}})),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        r.text.contains("secret") && !r.text.contains("\"stages\""),
        "{}",
        r.text
    );
    // An outsider reads no deal.
    let (_, outsider) = app.user("sales", "outsider", Some("outsider")).await;
    app.call_as(Some(&outsider), Method::POST, PATH, Some(json!({})))
        .await
        .expect_problem(403, "permission_denied");
    // Bad input, each a problem at its place.
    let r = app.post(PATH, json!({"from": "2026-02-01", "to": "2026-01-01"})).await;
    assert_eq!(r.errors(), vec![("to".to_string(), "range".to_string())], "{}", r.text);
    let r = app.post(PATH, json!({"team": "no-such-team"})).await;
    assert_eq!(
        r.errors(),
        vec![("team".to_string(), "not_found".to_string())],
        "{}",
        r.text
    );
    let r = app.post(PATH, json!({"time_zone": "Moon/Base"})).await;
    assert_eq!(
        r.errors(),
        vec![("time_zone".to_string(), "format".to_string())],
        "{}",
        r.text
    );
    app.post(PATH, json!({"mode": "sideways"}))
        .await
        .expect_problem(400, "bad_request");
    app.post("/api/v1/data/sales/memo/funnel", json!({}))
        .await
        .expect_problem(404, "not_found");
}

on_both!(cohort_and_snapshot, scope_hidden_fields_and_bad_input);
