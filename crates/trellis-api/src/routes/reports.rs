//! Reports on an entity's records: aggregates by group and time bucket, and pipeline funnels.

use actix_web::{HttpResponse, post, web};
use trellis_engine::Engine;
use trellis_engine::reports::{Aggregate, AggregateRequest, Funnel, FunnelRequest};

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
