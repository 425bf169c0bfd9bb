//! Dashboards: every widget's data under the dashboard's global filters, and one widget's data
//! as a CSV download. The dashboards themselves are part of the app definition (`GET/PATCH
//! /apps/{app}`).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use trellis_core::FieldError;
use trellis_core::error::FieldCode;
use trellis_engine::Engine;
use trellis_engine::records::Lang;
use trellis_engine::reports::{DashboardData, DashboardFilters, table_csv};
use utoipa::IntoParams;

use crate::extract::{Body, Caller};
use crate::problem::{ApiResult, Problem};

/// The data of every widget of a dashboard the caller may see (widgets naming a field hidden
/// from them, or on an entity they may not read, are left out), each report run through their
/// row scope and narrowed by the global filters the dashboard declares: `from`/`to` (a period
/// filter; without them its `default`), `owner`, `team`, and `fields` (values of a field
/// filter). A period narrows funnel, SLA and follow-up reports as their own period, the others
/// by the widget's `period_field` (`created_at` by default). A widget whose report refuses
/// answers its problem in `error`; the others still answer.
#[utoipa::path(tag = "reports", params(("app" = String, Path), ("dashboard" = String, Path)), request_body = DashboardFilters,
    responses((status = 200, description = "The widgets' data", body = DashboardData), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/apps/{app}/dashboards/{dashboard}/data")]
pub async fn dashboard_data(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: Body<DashboardFilters>,
) -> ApiResult<HttpResponse> {
    let (app, dashboard) = path.into_inner();
    let d = engine
        .dashboard_data(&caller.0, &app, &dashboard, &body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(d))
}

/// The filters of a widget's CSV download.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WidgetCsvQuery {
    /// First day of the period (`YYYY-MM-DD`, with `to`).
    from: Option<String>,
    /// Last day of the period, included.
    to: Option<String>,
    /// A user id.
    owner: Option<String>,
    /// A team id.
    team: Option<String>,
    /// JSON object of field filters: `{"region": ["east"]}`.
    fields: Option<String>,
    /// Language of the headers and labels (default: from `Accept-Language`, else English).
    #[param(inline)]
    lang: Option<Lang>,
}

fn date(at: &str, v: Option<String>) -> Result<Option<chrono::NaiveDate>, trellis_core::Error> {
    v.map(|s| {
        chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|_| {
            trellis_core::Error::validation(vec![FieldError::new(
                at,
                FieldCode::InvalidDate,
                "not a YYYY-MM-DD date",
            )])
        })
    })
    .transpose()
}

/// One widget's data as a CSV file (UTF-8 with a byte order mark): the widget's table, headers
/// and labels in `lang`, under the same filters and view as the dashboard's data.
#[utoipa::path(tag = "reports", params(("app" = String, Path), ("dashboard" = String, Path), ("widget" = String, Path), WidgetCsvQuery),
    responses(
        (status = 200, description = "The file, as an attachment (`Content-Disposition`)", content((String = "text/csv"))),
        (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/apps/{app}/dashboards/{dashboard}/widgets/{widget}/csv")]
pub async fn widget_csv(
    engine: web::Data<Engine>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    q: web::Query<WidgetCsvQuery>,
) -> ApiResult<HttpResponse> {
    let (app, dashboard, widget) = path.into_inner();
    let q = q.into_inner();
    let lang = q.lang.unwrap_or_else(|| {
        req.headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|h| h.to_str().ok())
            .map_or(Lang::En, Lang::from_accept_language)
    });
    let fields = match q.fields.as_deref() {
        None => Default::default(),
        Some(s) => serde_json::from_str(s).map_err(|_| {
            trellis_core::Error::validation(vec![FieldError::new(
                "fields",
                FieldCode::InvalidJson,
                "a JSON object of arrays of values",
            )])
        })?,
    };
    let filters = DashboardFilters {
        from: date("from", q.from)?,
        to: date("to", q.to)?,
        owner: q.owner,
        team: q.team,
        fields,
    };
    let (w, table, entity) = engine
        .widget_data(&caller.0, &app, &dashboard, &widget, &filters)
        .await?;
    let bytes = table_csv(&entity, &table, lang)?;
    let file = format!("{dashboard}-{}.csv", w.name);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            crate::routes::files::content_disposition(&file),
        ))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(bytes))
}
