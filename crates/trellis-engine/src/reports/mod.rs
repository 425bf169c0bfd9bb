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

use trellis_core::Error;
use trellis_core::zone::Zone;

use crate::Engine;
use crate::context::TenantCtx;

/// The setting naming the tenant's time zone (IANA), in which reports cut days, weeks, months.
pub const ZONE_KEY: &str = "time_zone";

impl Engine {
    /// The tenant's time zone (`UTC` unless an administrator set one), readable by every member:
    /// reports cut their periods in it.
    pub async fn tenant_zone(&self, ctx: &TenantCtx) -> Result<Zone, Error> {
        let stored = trellis_store::settings::get(&self.db.read, ctx.tenant_id(), ZONE_KEY).await?;
        Ok(stored.and_then(|z| Zone::parse(ZONE_KEY, &z).ok()).unwrap_or_default())
    }
}
