//! Reports on an app's records, computed by the database through the caller's view: aggregates
//! per group and period, and (from the stage moves pipelines keep) funnels, forecasts, SLA and
//! follow-up timeliness, and deal cycles. Periods are cut at the wall clock of the tenant's time
//! zone. Dashboards run those reports per widget under global filters.

mod aggregate;
mod backtest;
mod calibration;
mod cycle;
mod dashboard;
mod digest;
mod forecast;
mod funnel;
mod table;
mod timeliness;

pub use aggregate::{
    Aggregate, AggregateGroup, AggregateRequest, AggregateSort, BucketSpec, BucketUnit, HavingOp, HavingSpec,
    MeasureOp, MeasureSpec,
};
pub use backtest::{Backtest, BacktestPeriod, BacktestRequest, BacktestScore, BacktestStage};
pub use calibration::{
    CalibrationEstimate, CalibrationEstimates, CalibrationExercise, CalibrationOutcome, CalibrationRecord,
    CalibrationRequest,
};
pub use cycle::{Cycle, CycleGroup, CycleRecord, CycleRequest};
pub use dashboard::{DashboardData, DashboardFilters, WidgetData, WidgetError, check_dashboards, period_days};
pub use digest::{Digest, digest};
pub use forecast::{Forecast, ForecastCell, ForecastGroup, ForecastRequest, ForecastStage, ForecastTotals, StageRates};
pub use funnel::{Funnel, FunnelMode, FunnelRequest, FunnelStage};
pub use table::{
    TableColumn, WidgetTable, cell_text as table_cell_text, esc as html_escape, to_csv as table_csv,
    to_html as table_html,
};
pub use timeliness::{
    FollowUp, FollowUpBy, FollowUpCounts, FollowUpGroup, FollowUpGroupBy, FollowUpRequest, Sla, SlaCounts, SlaGroup,
    SlaGroupBy, SlaRequest,
};

pub use crate::zone::ZONE_KEY;
