//! The forecast's backtest (issue 16, points 3 and 9) on generated history whose true win rates
//! are known: deals are created and moved over HTTP, then their kept stage moves are replaced by
//! back-dated ones (no route writes the past). The rebuilt pipeline of each past date matches
//! the history, each date's calibration uses only the deals closed before it, and the
//! calibrated probabilities land closer to the true rates than the configured ones.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use reqwest::Method;
use trellis_store::stages::Move;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, TestApp, on_both, spawn};

use crate::blackbox::forecast::{deal, sales, stage};

const BACKTEST: &str = "/api/v1/data/sales/deal/forecast/backtest";
const OPEN: [&str; 3] = ["new", "qualified", "proposal"];

/// A small deterministic generator (xorshift64*), uniform in [0, 1).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One generated deal: its id, amount and moves (stage, instant), oldest first.
struct Gen {
    id: String,
    amount: f64,
    moves: Vec<(&'static str, DateTime<Utc>)>,
}

impl Gen {
    /// The stage the deal was in just before `t`.
    fn at(&self, t: DateTime<Utc>) -> Option<&'static str> {
        self.moves.iter().rev().find(|(_, m)| *m < t).map(|(s, _)| *s)
    }
}

fn day(d: &str) -> DateTime<Utc> {
    let d: NaiveDate = d.parse().unwrap();
    Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap())
}

/// The true rates: 30 % are lost in `new`, 40 % of the rest in `qualified`, and 35 % of those
/// reaching `proposal` are won; so a deal wins from `new` with 0.147, from `qualified` with
/// 0.21, from `proposal` with 0.35. The configuration says 50, 70 and 90 %.
const TRUE_RATES: [f64; 3] = [0.7 * 0.6 * 0.35, 0.6 * 0.35, 0.35];

fn app_def() -> Value {
    let mut def = sales();
    let stages = &mut def["entities"][1]["pipeline"]["stages"];
    for (i, p) in [50, 70, 90].iter().enumerate() {
        stages[i]["probability"] = json!(p);
    }
    def
}

/// 150 deals, one every two days from 2025-01-01, each move three days after the last; and
/// the rep's three deals still in proposal.
async fn history(app: &TestApp, rep: &str) -> Vec<Gen> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let start = day("2025-01-01") + Duration::hours(9);
    let mut gens = Vec::new();
    for i in 0..150i64 {
        let mut path: Vec<&'static str> = vec!["new"];
        if rng.next() < 0.3 {
            path.push("lost");
        } else {
            path.push("qualified");
            if rng.next() < 0.4 {
                path.push("lost");
            } else {
                path.push("proposal");
                path.push(if rng.next() < 0.35 { "won" } else { "lost" });
            }
        }
        let amount = (1000 + 10 * i) as f64;
        let id = deal(
            app,
            None,
            json!({"title": format!("g{i}"), "amount": amount}),
            &path[1..],
        )
        .await;
        let t0 = start + Duration::days(2 * i);
        let moves = path
            .iter()
            .enumerate()
            .map(|(k, s)| (*s, t0 + Duration::days(3 * k as i64)))
            .collect();
        gens.push(Gen { id, amount, moves });
    }
    for i in 0..3i64 {
        let id = deal(
            app,
            Some(rep),
            json!({"title": format!("r{i}"), "amount": 500}),
            &["proposal"],
        )
        .await;
        let t0 = day("2025-08-20") + Duration::hours(i);
        gens.push(Gen {
            id,
            amount: 500.0,
            moves: vec![("new", t0), ("proposal", t0 + Duration::days(5))],
        });
    }
    // The kept moves, back-dated: those the writes kept go, the generated ones take their place.
    let db = &app.engine().db;
    let rows = app
        .sql_rows("SELECT tenant_id, app_id, entity_id FROM sys_stage_moves", Vec::new())
        .await
        .unwrap();
    let get = |k: &str| -> String { rows[0].try_get("", k).unwrap() };
    let (tenant_id, app_id, entity_id) = (get("tenant_id"), get("app_id"), get("entity_id"));
    db.raw_execute_for_tests("DELETE FROM sys_stage_moves").await.unwrap();
    let mut moves = Vec::new();
    for g in &gens {
        let mut from: Option<&str> = None;
        for (s, at) in &g.moves {
            moves.push(Move {
                id: uuid::Uuid::now_v7().to_string(),
                tenant_id: tenant_id.clone(),
                app_id: app_id.clone(),
                entity_id: entity_id.clone(),
                record_id: g.id.clone(),
                from_stage: from.map(str::to_string),
                to_stage: s.to_string(),
                at: *at,
                seconds_in_from: None,
                from_due_at: None,
                actor: None,
            });
            from = Some(s);
        }
    }
    let tx = db.begin_write().await.unwrap();
    trellis_store::stages::insert_moves(&tx, &moves).await.unwrap();
    tx.commit().await.unwrap();
    gens
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

async fn calibrated_rates_land_closer_to_the_true_ones(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(app_def()).await;
    let (_, rep) = app.user("sales", "rep", Some("rep")).await;
    let gens = history(&app, &rep).await;

    let b = app
        .post(
            BACKTEST,
            json!({"amount": "amount", "from": "2025-02-01", "to": "2025-09-01", "every": "month", "time_zone": "UTC"}),
        )
        .await
        .expect(200)
        .body;
    let periods = b["periods"].as_array().unwrap_or_else(|| panic!("{b}"));
    assert_eq!(periods.len(), 8, "{b}");
    let (mut bias_cfg, mut bias_cal) = (0.0, 0.0);
    for p in periods {
        let t = day(p["as_of"].as_str().unwrap());
        assert_eq!(
            p["at"].as_str().map(|s| s.parse::<DateTime<Utc>>().unwrap()),
            Some(t),
            "{p}"
        );
        for (k, key) in OPEN.iter().enumerate() {
            let s = stage(p, key);
            // The pipeline of the date, rebuilt from the moves.
            let open: Vec<&Gen> = gens.iter().filter(|g| g.at(t) == Some(*key)).collect();
            assert_eq!(s["open"].as_i64(), Some(open.len() as i64), "{key} at {t}: {s}");
            let won_later = open.iter().filter(|g| g.moves.last().unwrap().0 == "won").count();
            assert_eq!(s["won_after"].as_i64(), Some(won_later as i64), "{key} at {t}: {s}");
            // History: only the deals closed before the date, by the stages they had entered.
            let closed = |outcome: &str| {
                gens.iter()
                    .filter(|g| g.at(t) == Some(outcome) && g.moves.iter().any(|(m, at)| m == key && *at < t))
                    .count() as i64
            };
            assert_eq!(
                (s["won"].as_i64(), s["lost"].as_i64()),
                (Some(closed("won")), Some(closed("lost"))),
                "{key} at {t}: {s}"
            );
            let (won, n) = (closed("won") as f64, (closed("won") + closed("lost")) as f64);
            let cfg = [0.5, 0.7, 0.9][k];
            assert!((num(&s["configured_probability"]) - cfg).abs() < 1e-9, "{s}");
            let cal = (won + 10.0 * cfg) / (n + 10.0);
            assert!((num(&s["calibrated_probability"]) - cal).abs() < 1e-5, "{s}");
            assert_eq!(s["low_sample"], json!(n < 30.0), "{s}");
        }
        if let (Some(a), Some(b)) = (p["bias_configured"].as_f64(), p["bias_calibrated"].as_f64()) {
            // The configuration promises too much: the configured forecast is biased upward.
            assert!(a > 0.0, "{p}");
            bias_cfg += a.abs();
            bias_cal += b.abs();
            let acc = num(&p["accuracy_configured"]);
            assert!((acc - (1.0 - a.abs())).abs() < 1e-5, "{p}");
        }
    }
    assert!(
        bias_cal < bias_cfg,
        "calibrated |bias| {bias_cal} vs configured {bias_cfg}"
    );
    // Nothing closed before the first day: calibrated is configured.
    let first = app
        .post(
            BACKTEST,
            json!({"amount": "amount", "as_of": ["2025-01-02"], "time_zone": "UTC"}),
        )
        .await
        .expect(200)
        .body;
    let first = &first["periods"][0];
    assert_eq!(first["open"], json!(1), "{first}");
    for key in OPEN {
        let s = stage(first, key);
        assert_eq!((s["won"].as_i64(), s["lost"].as_i64()), (Some(0), Some(0)), "{s}");
        assert!((num(&s["calibrated_probability"]) - num(&s["configured_probability"])).abs() < 1e-9);
    }
    // By the last date the calibrated rates are nearer the true ones than the configuration,
    // and every stage scores better (lower Brier) calibrated than configured.
    let last = periods.last().unwrap();
    for (k, key) in OPEN.iter().enumerate() {
        let s = stage(last, key);
        let cal = num(&s["calibrated_probability"]);
        let cfg = num(&s["configured_probability"]);
        assert!(
            (cal - TRUE_RATES[k]).abs() < (cfg - TRUE_RATES[k]).abs() / 2.0,
            "{key}: calibrated {cal}, configured {cfg}, true {}",
            TRUE_RATES[k]
        );
        let pooled = stage(&b, key);
        assert!(
            num(&pooled["brier_calibrated"]) < num(&pooled["brier_configured"]),
            "{pooled}"
        );
    }
    // The rep's three deals are still open: unresolved now, left out of the scores.
    assert_eq!(stage(last, "proposal")["unresolved"], json!(3), "{last}");
    assert_eq!(last["unresolved"], json!(3), "{last}");

    // With a horizon of 30 days a deal still open then counts as not won; the amounts add up.
    let h = app
        .post(
            BACKTEST,
            json!({"amount": "amount", "as_of": ["2025-05-01"], "horizon_days": 30, "time_zone": "UTC"}),
        )
        .await
        .expect(200)
        .body;
    let p = &h["periods"][0];
    let t = day("2025-05-01");
    let until = t + Duration::days(30);
    assert_eq!(p["unresolved"], json!(0), "{p}");
    assert_eq!(p["partial"], json!(false));
    let open: Vec<&Gen> = gens
        .iter()
        .filter(|g| g.at(t).is_some_and(|s| OPEN.contains(&s)))
        .collect();
    assert_eq!(p["open"].as_i64(), Some(open.len() as i64), "{p}");
    let actual: f64 = open
        .iter()
        .filter(|g| g.at(until + Duration::seconds(1)) == Some("won"))
        .map(|g| g.amount)
        .sum();
    assert!((num(&p["actual"]) - actual).abs() < 1e-6, "{p}: {actual}");
    let f: f64 = open
        .iter()
        .map(|g| {
            let k = OPEN.iter().position(|s| Some(*s) == g.at(t)).unwrap();
            g.amount * num(&stage(p, OPEN[k])["configured_probability"])
        })
        .sum();
    assert!((num(&p["forecast_configured"]) - f).abs() < 1e-3, "{p}: {f}");

    // A horizon reaching past now: the deals still open are unresolved, not lost.
    let long = app
        .post(
            BACKTEST,
            json!({"amount": "amount", "as_of": ["2025-09-01"], "horizon_days": 3660, "time_zone": "UTC"}),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(long["periods"][0]["partial"], json!(true), "{long}");
    assert_eq!(long["periods"][0]["unresolved"], json!(3), "{long}");

    // The rep backtests their own deals only: no history, three unresolved in proposal.
    let mine = app
        .call_as(
            Some(&rep),
            Method::POST,
            BACKTEST,
            Some(json!({"amount": "amount", "as_of": ["2025-09-01"]})),
        )
        .await
        .expect(200)
        .body;
    let p = &mine["periods"][0];
    assert_eq!(p["open"], json!(3), "{mine}");
    assert_eq!(stage(p, "proposal")["won"], json!(0), "{mine}");
    assert_eq!(stage(p, "proposal")["lost"], json!(0), "{mine}");
    // A hidden amount, a future date, a date list and a series at once: problems at their place.
    let r = app
        .call_as(
            Some(&rep),
            Method::POST,
            BACKTEST,
            Some(json!({"amount": "budget", "as_of": ["2025-09-01"]})),
        )
        .await;
    assert_eq!(
        r.errors(),
        vec![("amount".to_string(), "unknown_field".to_string())],
        "{}",
        r.text
    );
    let future = (Utc::now() + Duration::days(3)).date_naive().to_string();
    for (body, at, code) in [
        (json!({"amount": "amount", "as_of": [future]}), "as_of[0]", "range"),
        (json!({"amount": "amount"}), "as_of", "required"),
        (
            json!({"amount": "amount", "as_of": ["2025-01-01"], "from": "2025-01-01", "to": "2025-02-01"}),
            "as_of",
            "conflict",
        ),
        (
            json!({"amount": "amount", "from": "2025-03-01", "to": "2025-01-01"}),
            "to",
            "range",
        ),
        (
            json!({"amount": "amount", "from": "2020-01-01", "to": "2025-01-01", "every": "week"}),
            "every",
            "too_many",
        ),
        (
            json!({"amount": "amount", "as_of": ["2025-01-01"], "horizon_days": 0}),
            "horizon_days",
            "range",
        ),
    ] {
        let r = app.post(BACKTEST, body.clone()).await;
        assert_eq!(
            r.errors(),
            vec![(at.to_string(), code.to_string())],
            "{body}: {}",
            r.text
        );
    }
}

on_both!(calibrated_rates_land_closer_to_the_true_ones);
