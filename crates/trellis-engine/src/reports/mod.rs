//! Reports on an app's records, computed by the database through the caller's view: aggregates
//! per group and period, and (from the stage moves pipelines keep) funnels. Periods are cut at
//! the wall clock of the tenant's time zone.

mod aggregate;
mod backtest;
mod calibration;
mod forecast;
mod funnel;

pub use aggregate::{
    Aggregate, AggregateGroup, AggregateRequest, AggregateSort, BucketSpec, BucketUnit, HavingOp, HavingSpec,
    MeasureOp, MeasureSpec,
};
pub use backtest::{Backtest, BacktestPeriod, BacktestRequest, BacktestScore, BacktestStage};
pub use calibration::{
    CalibrationEstimate, CalibrationEstimates, CalibrationExercise, CalibrationOutcome, CalibrationRecord,
    CalibrationRequest,
};
pub use forecast::{Forecast, ForecastCell, ForecastGroup, ForecastRequest, ForecastStage, ForecastTotals, StageRates};
pub use funnel::{Funnel, FunnelMode, FunnelRequest, FunnelStage};

pub use crate::zone::ZONE_KEY;
