//! Reports on an entity's records: aggregates by group and time bucket, pipeline funnels and
//! forecasts (with their backtest and calibration exercises), SLA and first follow-up
//! timeliness, and deal cycles.

use actix_web::{HttpResponse, get, post, put, web};
use trellis_engine::Engine;
use trellis_engine::reports::{
    Aggregate, AggregateRequest, Backtest, BacktestRequest, CalibrationEstimates, CalibrationExercise,
    CalibrationRequest, Cycle, CycleRequest, FollowUp, FollowUpRequest, Forecast, ForecastRequest, Funnel,
    FunnelRequest, Sla, SlaRequest,
};

use crate::extract::{Body, Caller};
use crate::problem::{ApiResult, Problem};

type EntityPath = web::Path<(String, String)>;

/// Counts, sums, averages, minima and maxima of an entity's records per group of up to 3 fields
/// and/or a time bucket of a date or datetime field (datetimes at the wall clock of the tenant's time zone; weeks start on Monday),
/// under the record list's filter language, sorted and limited (1–1000 groups, 100 by default).
/// Computed by the database through the caller's row scope; a field hidden from the caller is
/// answered as a field that does not exist.
#[utoipa::path(tag = "reports", params(("app" = String, Path), ("entity" = String, Path)), request_body = AggregateRequest,
    responses((status = 200, description = "The groups", body = Aggregate), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/data/{app}/{entity}/aggregate")]
pub async fn aggregate_records(
    engine: web::Data<Engine>,
    caller: Caller,
    path: EntityPath,
    body: Body<AggregateRequest>,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    let r = engine
        .aggregate_records(&caller.0, &app, &entity, &body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(r))
}

/// The funnel of the entity's pipeline from its kept stage moves: per stage the records that
/// entered it, are still in it, advanced or were lost, the conversion to the next stage and from
/// the first, and the median and 90th percentile of the time in it. `cohort` (default) follows
/// the records created in the period, `snapshot` counts the moves made in it. Skipped stages
/// count as passed, except by lost records. Through the caller's row scope; hidden fields cannot
/// be filtered.
#[utoipa::path(tag = "reports", params(("app" = String, Path), ("entity" = String, Path)), request_body = FunnelRequest,
    responses((status = 200, description = "The funnel", body = Funnel), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/data/{app}/{entity}/funnel")]
pub async fn funnel(
    engine: web::Data<Engine>,
    caller: Caller,
    path: EntityPath,
    body: Body<FunnelRequest>,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    Ok(HttpResponse::Ok().json(engine.funnel(&caller.0, &app, &entity, &body.into_inner()).await?))
}

/// The forecast of the entity's pipeline: per open stage its configured probability beside its
/// historical win rate (closed records that entered the stage: won ÷ (won + lost)), a calibrated
/// probability shrinking the historical rate toward the configured one (Beta prior of strength
/// `prior_strength`, 10 by default: `(won + k·p) ÷ (won + lost + k)`; `low_sample` under 30
/// closed records), the open records' count and amount, and the weighted (configured) and
/// calibrated forecasts; per owner, team or field and per period of an expected close date.
/// Through the caller's row scope; a hidden field cannot be the amount, a group or a filter.
#[utoipa::path(tag = "reports", params(("app" = String, Path), ("entity" = String, Path)), request_body = ForecastRequest,
    responses((status = 200, description = "The forecast", body = Forecast), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/data/{app}/{entity}/forecast")]
pub async fn forecast(
    engine: web::Data<Engine>,
    caller: Caller,
    path: EntityPath,
    body: Body<ForecastRequest>,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    Ok(HttpResponse::Ok().json(engine.forecast(&caller.0, &app, &entity, &body.into_inner()).await?))
}

/// A backtest of the forecast: the open pipeline of past dates rebuilt from the kept stage
/// moves, each date's configured and calibrated probabilities (calibrated from the records
/// closed before the date only) scored against what happened within `horizon_days` (or by
/// now): Brier score per stage, forecast accuracy `1 − |F − A| ÷ A` and signed bias
/// `(F − A) ÷ A` per date. Through the caller's row scope.
#[utoipa::path(tag = "reports", params(("app" = String, Path), ("entity" = String, Path)), request_body = BacktestRequest,
    responses((status = 200, description = "The backtest", body = Backtest), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/data/{app}/{entity}/forecast/backtest")]
pub async fn forecast_backtest(
    engine: web::Data<Engine>,
    caller: Caller,
    path: EntityPath,
    body: Body<BacktestRequest>,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    Ok(HttpResponse::Ok().json(
        engine
            .forecast_backtest(&caller.0, &app, &entity, &body.into_inner())
            .await?,
    ))
}

/// A calibration exercise: `count` open records drawn at random from the caller's row scope,
/// each kept with the system's (calibrated) probability of its stage, for the team to estimate
/// (`PUT`) and to score against the outcomes later (`GET`).
#[utoipa::path(tag = "reports", params(("app" = String, Path), ("entity" = String, Path)), request_body = CalibrationRequest,
    responses((status = 201, description = "The exercise", body = CalibrationExercise), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/data/{app}/{entity}/forecast/calibration")]
pub async fn create_calibration(
    engine: web::Data<Engine>,
    caller: Caller,
    path: EntityPath,
    body: Body<CalibrationRequest>,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    Ok(HttpResponse::Created().json(
        engine
            .calibration_create(&caller.0, &app, &entity, &body.into_inner())
            .await?,
    ))
}

/// A calibration exercise as the caller may read it: the drawn records in their row scope now
/// (id, stage, and title when visible), each with the system's probability, the team's
/// estimate and the outcome (won, lost, open), and the Brier scores of both over the records
/// closed since.
#[utoipa::path(tag = "reports", params(("app" = String, Path), ("entity" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = "The exercise", body = CalibrationExercise), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/data/{app}/{entity}/forecast/calibration/{id}")]
pub async fn get_calibration(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
) -> ApiResult<HttpResponse> {
    let (app, entity, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(engine.calibration_get(&caller.0, &app, &entity, &id).await?))
}

/// Records the team's estimates (percent) of records of a calibration exercise.
#[utoipa::path(tag = "reports", params(("app" = String, Path), ("entity" = String, Path), ("id" = String, Path)), request_body = CalibrationEstimates,
    responses((status = 200, description = "The exercise", body = CalibrationExercise), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[put("/data/{app}/{entity}/forecast/calibration/{id}")]
pub async fn put_calibration(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
    body: Body<CalibrationEstimates>,
) -> ApiResult<HttpResponse> {
    let (app, entity, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(
        engine
            .calibration_estimate(&caller.0, &app, &entity, &id, &body.into_inner())
            .await?,
    ))
}

/// The SLA report of the entity's pipeline from its kept stage moves: per stage left, owner or
/// team (and per period of the day of the move, with `period`), the moves out of a stage whose
/// SLA gave a due time, made on time or after it (breached), the on-time rate, the records past
/// their due time now, and the median and 90th percentile of the seconds spent in the stage.
/// Through the caller's row scope; hidden fields cannot be filtered.
#[utoipa::path(tag = "reports", params(("app" = String, Path), ("entity" = String, Path)), request_body = SlaRequest,
    responses((status = 200, description = "The SLA report", body = Sla), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/data/{app}/{entity}/sla")]
pub async fn sla(
    engine: web::Data<Engine>,
    caller: Caller,
    path: EntityPath,
    body: Body<SlaRequest>,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    Ok(HttpResponse::Ok().json(engine.sla_report(&caller.0, &app, &entity, &body.into_inner()).await?))
}

/// How soon the records created in a period were first followed up, per owner or team: by their
/// first move out of the pipeline's first stage, or (`follow_up`) by the first record of another
/// entity of the app pointing at them through a relation (in the caller's row scope of that
/// entity). Records, followed up, within `within_hours` (48 by default), late, pending, the
/// share late and the median and 90th percentile of the hours. Through the caller's row scope.
#[utoipa::path(tag = "reports", params(("app" = String, Path), ("entity" = String, Path)), request_body = FollowUpRequest,
    responses((status = 200, description = "The first follow-up report", body = FollowUp), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/data/{app}/{entity}/first_follow_up")]
pub async fn first_follow_up(
    engine: web::Data<Engine>,
    caller: Caller,
    path: EntityPath,
    body: Body<FollowUpRequest>,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    Ok(HttpResponse::Ok().json(
        engine
            .first_follow_up(&caller.0, &app, &entity, &body.into_inner())
            .await?,
    ))
}

/// The deal cycle of the entity's pipeline per group (a field such as the industry, or the
/// owner): the records won, their amount, the average and median days from creation to the won
/// stage, and as an early warning the open records older than the group's average (up to 20
/// listed, the oldest first). Through the caller's row scope; a hidden field cannot be the
/// group, the amount or filtered.
#[utoipa::path(tag = "reports", params(("app" = String, Path), ("entity" = String, Path)), request_body = CycleRequest,
    responses((status = 200, description = "The cycle report", body = Cycle), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/data/{app}/{entity}/cycle")]
pub async fn cycle(
    engine: web::Data<Engine>,
    caller: Caller,
    path: EntityPath,
    body: Body<CycleRequest>,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    Ok(HttpResponse::Ok().json(
        engine
            .cycle_report(&caller.0, &app, &entity, &body.into_inner())
            .await?,
    ))
}
