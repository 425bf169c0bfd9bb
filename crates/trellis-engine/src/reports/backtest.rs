//! The backtest of a forecast: the open pipeline of past dates rebuilt from the kept stage
//! moves (a record is in the stage its last move before the date went to), each date's
//! configured and calibrated probabilities (calibrated from the records closed before the date
//! only) scored against what happened: Brier score per stage, accuracy `1 − |F − A| ÷ A` and
//! signed bias `(F − A) ÷ A` per date.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trellis_core::error::FieldCode;
use trellis_core::pipeline::StageKind;
use trellis_core::{Error, Label};
use trellis_store::forecast as store;

use super::BucketUnit;
use super::forecast::{StageRates, bad, rates_before, round, whole};
use crate::Engine;
use crate::context::TenantCtx;

/// Most past dates one backtest rebuilds.
pub const MAX_BACKTEST_DATES: usize = 36;

/// A backtest request: past dates, and how long after each the outcome is read.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestRequest {
    /// The number field summed (integer, decimal, currency); its value now stands for its
    /// value then.
    #[schema(min_length = 1, max_length = 64)]
    pub amount: String,
    /// The past dates whose pipeline is rebuilt (as the day begins in the time zone), up to
    /// 36; or `from`, `to` and `every`.
    #[serde(default)]
    #[schema(max_items = 36)]
    pub as_of: Vec<NaiveDate>,
    /// The first date of a series (with `to`).
    #[serde(default)]
    #[schema(nullable = false)]
    pub from: Option<NaiveDate>,
    /// The series' last date at most.
    #[serde(default)]
    #[schema(nullable = false)]
    pub to: Option<NaiveDate>,
    /// The step of the series; a month when absent.
    #[serde(default)]
    #[schema(nullable = false)]
    pub every: Option<BucketUnit>,
    /// Days after each date within which a win counts (1 to 3660): a record still open then
    /// counts as not won. Absent (or reaching past now): the outcome now, and records still
    /// open are left out (`unresolved`).
    #[serde(default, deserialize_with = "whole")]
    #[schema(nullable = false, minimum = 1, maximum = 3660)]
    pub horizon_days: Option<u64>,
    #[serde(default)]
    #[schema(value_type = Option<Object>, nullable = false)]
    pub filter: Option<Value>,
    #[serde(default)]
    #[schema(nullable = false)]
    pub team: Option<String>,
    #[serde(default)]
    #[schema(nullable = false, minimum = 0, maximum = 1000)]
    pub prior_strength: Option<f64>,
    #[serde(default)]
    #[schema(nullable = false, min_length = 1, max_length = 64)]
    pub time_zone: Option<String>,
}

/// One open stage of a past pipeline and how its records turned out.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BacktestStage {
    /// The stage's probabilities as they were: history from the records closed before the
    /// date only.
    #[serde(flatten)]
    pub rates: StageRates,
    /// Records in the stage at the date, of those scored won and not won, and unresolved.
    pub open: i64,
    pub scored: i64,
    pub won_after: i64,
    pub unresolved: i64,
    /// Brier score (mean of (p − outcome)²) of each probability over the scored records.
    #[schema(required = true)]
    pub brier_configured: Option<f64>,
    #[schema(required = true)]
    pub brier_calibrated: Option<f64>,
    /// Scored amount × each probability, and the amount won.
    pub forecast_configured: f64,
    pub forecast_calibrated: f64,
    pub actual: f64,
}

/// A past date's pipeline, its forecasts and what happened.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BacktestPeriod {
    pub as_of: NaiveDate,
    /// The instant the pipeline is rebuilt at, and the one the outcome is read at.
    pub at: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Whether `until` is still to come (the horizon reaches past now): records still open are
    /// then unresolved.
    pub partial: bool,
    pub open: i64,
    pub scored: i64,
    pub unresolved: i64,
    pub forecast_configured: f64,
    pub forecast_calibrated: f64,
    pub actual: f64,
    /// `1 − |F − A| ÷ A` and `(F − A) ÷ A` of each forecast; none when nothing was won.
    #[schema(required = true)]
    pub accuracy_configured: Option<f64>,
    #[schema(required = true)]
    pub accuracy_calibrated: Option<f64>,
    #[schema(required = true)]
    pub bias_configured: Option<f64>,
    #[schema(required = true)]
    pub bias_calibrated: Option<f64>,
    pub stages: Vec<BacktestStage>,
}

/// Brier scores of a stage over every date.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BacktestScore {
    pub stage: String,
    pub label: Label,
    pub scored: i64,
    #[schema(required = true)]
    pub brier_configured: Option<f64>,
    #[schema(required = true)]
    pub brier_calibrated: Option<f64>,
}

/// A backtest of the forecast.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Backtest {
    pub amount: String,
    pub prior_strength: f64,
    pub time_zone: String,
    #[schema(required = true)]
    pub horizon_days: Option<u64>,
    pub periods: Vec<BacktestPeriod>,
    /// Per open stage, the Brier scores pooled over the dates.
    pub stages: Vec<BacktestScore>,
}

fn step(d: NaiveDate, unit: BucketUnit) -> Option<NaiveDate> {
    match unit {
        BucketUnit::Day => d.succ_opt(),
        BucketUnit::Week => d.checked_add_days(chrono::Days::new(7)),
        BucketUnit::Month => d.checked_add_months(Months::new(1)),
        BucketUnit::Quarter => d.checked_add_months(Months::new(3)),
        BucketUnit::Year => d.checked_add_months(Months::new(12)),
    }
}

fn dates_of(r: &BacktestRequest, today: NaiveDate) -> Result<Vec<NaiveDate>, Error> {
    let mut dates = match (r.as_of.is_empty(), r.from, r.to) {
        (false, None, None) => r.as_of.clone(),
        (false, _, _) => {
            return Err(bad("as_of", FieldCode::Conflict, "name either as_of or from and to"));
        }
        (true, Some(from), Some(to)) => {
            if to < from {
                return Err(bad("to", FieldCode::Range, "the series ends before it begins"));
            }
            let mut v = vec![from];
            let unit = r.every.unwrap_or(BucketUnit::Month);
            // Months step from the first date (31 January, 28 February, 31 March…).
            let mut i = 1u32;
            loop {
                let next = match unit {
                    BucketUnit::Month | BucketUnit::Quarter | BucketUnit::Year => {
                        let m = match unit {
                            BucketUnit::Month => 1,
                            BucketUnit::Quarter => 3,
                            _ => 12,
                        };
                        from.checked_add_months(Months::new(m * i))
                    }
                    _ => v.last().and_then(|d| step(*d, unit)),
                };
                match next {
                    Some(d) if d <= to => {
                        if v.len() >= MAX_BACKTEST_DATES {
                            return Err(bad(
                                "every",
                                FieldCode::TooMany,
                                format!("the series has more than {MAX_BACKTEST_DATES} dates"),
                            ));
                        }
                        v.push(d);
                    }
                    _ => break,
                }
                i += 1;
            }
            v
        }
        (true, None, None) => return Err(bad("as_of", FieldCode::Required, "name as_of, or from and to")),
        (true, None, Some(_)) => return Err(bad("from", FieldCode::Required, "a series needs from and to")),
        (true, Some(_), None) => return Err(bad("to", FieldCode::Required, "a series needs from and to")),
    };
    if dates.len() > MAX_BACKTEST_DATES {
        return Err(bad(
            "as_of",
            FieldCode::TooMany,
            format!("at most {MAX_BACKTEST_DATES} dates"),
        ));
    }
    for (i, d) in dates.iter().enumerate() {
        if *d > today {
            let at = if r.as_of.is_empty() {
                "to".to_string()
            } else {
                format!("as_of[{i}]")
            };
            return Err(bad(&at, FieldCode::Range, "a backtest rebuilds past dates only"));
        }
        if d.year() < 1970 {
            let at = if r.as_of.is_empty() {
                "from".to_string()
            } else {
                format!("as_of[{i}]")
            };
            return Err(bad(&at, FieldCode::Range, "must be 1970 or later"));
        }
    }
    dates.sort();
    dates.dedup();
    Ok(dates)
}

/// `Σ (p − o)²` over `won` records with outcome 1 and `not` with outcome 0.
fn squared_errors(p: f64, won: i64, not: i64) -> f64 {
    won as f64 * (1.0 - p).powi(2) + not as f64 * p.powi(2)
}

fn accuracy(f: f64, a: f64) -> (Option<f64>, Option<f64>) {
    if a > 0.0 {
        (Some(round(1.0 - (f - a).abs() / a)), Some(round((f - a) / a)))
    } else {
        (None, None)
    }
}

impl Engine {
    /// Rebuilds the open pipeline of past dates from the kept stage moves and scores the
    /// configured and calibrated probabilities (each date's calibration from the records
    /// closed before it) against what happened.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn forecast_backtest(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        r: &BacktestRequest,
    ) -> Result<Backtest, Error> {
        let base = self
            .forecast_base(
                ctx,
                app,
                entity,
                Some(&r.amount),
                r.filter.as_ref(),
                r.team.as_deref(),
                r.prior_strength,
                r.time_zone.as_deref(),
            )
            .await?;
        if let Some(h) = r.horizon_days
            && !(1..=3660).contains(&h)
        {
            return Err(bad("horizon_days", FieldCode::Range, "must be 1 to 3660"));
        }
        let now = trellis_core::value::now_micros();
        let today = now.with_timezone(&base.zone.tz()).date_naive();
        let dates = dates_of(r, today)?;
        let amount = base.amount.clone().expect("an amount was named");
        let open_keys = base.keys(StageKind::Open);
        let history = base.history(ctx.tenant_id());
        // Per stage over every date: scored records and squared errors of each probability.
        let mut pooled: Vec<(i64, f64, i64, f64)> = vec![(0, 0.0, 0, 0.0); open_keys.len()];
        let mut periods = Vec::with_capacity(dates.len());
        for d in dates {
            let at = super::funnel::day_start(base.zone, d);
            let until = match r.horizon_days {
                Some(h) => at + chrono::Duration::days(h as i64),
                None => now,
            };
            let partial = until > now;
            let until = until.min(now + chrono::Duration::seconds(1));
            let rates = rates_before(self, ctx, &base, at).await?;
            let rows = store::outcomes(&self.db.read, &history, at, until, &open_keys, &amount.column).await?;
            let mut stages = Vec::with_capacity(rates.len());
            let (mut p_open, mut p_scored, mut p_unres) = (0, 0, 0);
            let (mut f_cfg, mut f_cal, mut act) = (0.0, 0.0, 0.0);
            for (i, rates) in rates.into_iter().enumerate() {
                let (mut open, mut won, mut not, mut unresolved) = (0i64, 0i64, 0i64, 0i64);
                let (mut scored_amount, mut won_amount) = (0.0, 0.0);
                for o in rows.iter().filter(|o| o.then == rates.stage) {
                    let amt = o.amount.map_or(0.0, |a| base.units(a));
                    open += o.n;
                    match base.kind_of(&o.later) {
                        Some(StageKind::Won) => {
                            won += o.n;
                            scored_amount += amt;
                            won_amount += amt;
                        }
                        // Still open with no horizon, or before a horizon still to come.
                        Some(StageKind::Open) if r.horizon_days.is_none() || partial => unresolved += o.n,
                        // Lost, or still open past the horizon (or a stage no longer kept).
                        _ => {
                            not += o.n;
                            scored_amount += amt;
                        }
                    }
                }
                let scored = won + not;
                let brier = |p: Option<f64>| {
                    p.filter(|_| scored > 0)
                        .map(|p| round(squared_errors(p, won, not) / scored as f64))
                };
                let (cfg, cal) = (rates.configured_probability, rates.calibrated_probability);
                if let Some(acc) = pooled.get_mut(i) {
                    if let Some(p) = cfg {
                        acc.0 += scored;
                        acc.1 += squared_errors(p, won, not);
                    }
                    if let Some(p) = cal {
                        acc.2 += scored;
                        acc.3 += squared_errors(p, won, not);
                    }
                }
                let fc = scored_amount * cfg.unwrap_or(0.0);
                let fl = scored_amount * cal.unwrap_or(0.0);
                p_open += open;
                p_scored += scored;
                p_unres += unresolved;
                f_cfg += fc;
                f_cal += fl;
                act += won_amount;
                stages.push(BacktestStage {
                    brier_configured: brier(cfg),
                    brier_calibrated: brier(cal),
                    rates,
                    open,
                    scored,
                    won_after: won,
                    unresolved,
                    forecast_configured: round(fc),
                    forecast_calibrated: round(fl),
                    actual: round(won_amount),
                });
            }
            let (accuracy_configured, bias_configured) = accuracy(f_cfg, act);
            let (accuracy_calibrated, bias_calibrated) = accuracy(f_cal, act);
            periods.push(BacktestPeriod {
                as_of: d,
                at,
                until,
                partial,
                open: p_open,
                scored: p_scored,
                unresolved: p_unres,
                forecast_configured: round(f_cfg),
                forecast_calibrated: round(f_cal),
                actual: round(act),
                accuracy_configured,
                accuracy_calibrated,
                bias_configured,
                bias_calibrated,
                stages,
            });
        }
        let stages = base
            .open()
            .into_iter()
            .zip(pooled)
            .map(|(s, (nc, ec, nl, el))| BacktestScore {
                stage: s.key.to_string(),
                label: s.label.clone(),
                scored: nc.max(nl),
                brier_configured: (nc > 0).then(|| round(ec / nc as f64)),
                brier_calibrated: (nl > 0).then(|| round(el / nl as f64)),
            })
            .collect();
        Ok(Backtest {
            amount: amount.name.clone(),
            prior_strength: base.prior,
            time_zone: base.zone.name().to_string(),
            horizon_days: r.horizon_days,
            periods,
            stages,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(from: &str, to: &str, every: Option<BucketUnit>) -> Result<Vec<NaiveDate>, Error> {
        let r = BacktestRequest {
            amount: "amount".into(),
            as_of: Vec::new(),
            from: Some(from.parse().unwrap()),
            to: Some(to.parse().unwrap()),
            every,
            horizon_days: None,
            filter: None,
            team: None,
            prior_strength: None,
            time_zone: None,
        };
        dates_of(&r, "2026-12-31".parse().unwrap())
    }

    #[test]
    fn months_step_from_the_first_date() {
        let d = series("2025-01-31", "2025-04-30", None).unwrap();
        let d: Vec<String> = d.iter().map(ToString::to_string).collect();
        assert_eq!(d, ["2025-01-31", "2025-02-28", "2025-03-31", "2025-04-30"]);
        let q = series("2025-01-01", "2025-12-31", Some(BucketUnit::Quarter)).unwrap();
        assert_eq!(q.len(), 4);
        assert_eq!(
            series("2025-01-01", "2025-01-15", Some(BucketUnit::Week))
                .unwrap()
                .len(),
            3
        );
        assert!(series("2020-01-01", "2025-01-01", Some(BucketUnit::Week)).is_err());
        assert!(series("2027-01-01", "2027-02-01", None).is_err(), "future dates");
    }

    #[test]
    fn brier_and_accuracy() {
        // Three won at 0.6, one not: (3·0.16 + 0.36) ÷ 4.
        assert!((squared_errors(0.6, 3, 1) / 4.0 - 0.21).abs() < 1e-12);
        assert_eq!(accuracy(120.0, 100.0), (Some(0.8), Some(0.2)));
        assert_eq!(accuracy(80.0, 100.0), (Some(0.8), Some(-0.2)));
        assert_eq!(accuracy(10.0, 0.0), (None, None));
    }
}
