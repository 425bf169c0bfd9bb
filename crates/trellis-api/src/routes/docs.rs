//! OpenAPI documents (the platform's, and each app's generated from its metadata) and the
//! Swagger UI at `/docs`, served from the binary.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use trellis_engine::Engine;
use utoipa_swagger_ui::{Config, Url};

use crate::extract::caller_or_cookie;
use crate::problem::{ApiError, ApiResult, Problem};

/// The platform OpenAPI document, produced at start from the registered routes.
pub struct PlatformSpec(pub String);

pub async fn platform_openapi(spec: web::Data<PlatformSpec>) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(spec.0.clone())
}

/// The OpenAPI document of an app's record API, generated from its current definition.
#[utoipa::path(tag = "apps", params(("app" = String, Path)), responses((status = 200, description = "OpenAPI 3.1 document", body = Object), (status = 404, body = Problem)))]
#[get("/apps/{app}/openapi.json")]
pub async fn app_openapi(
    engine: web::Data<Engine>,
    req: HttpRequest,
    app: web::Path<String>,
) -> ApiResult<HttpResponse> {
    // The browser's Swagger UI fetches this with the session cookie; integrators use a token.
    let ctx = caller_or_cookie(&req, &engine).await?;
    let mut doc = engine.app_openapi(&ctx, &app).await?;
    crate::spec::finish(&mut doc);
    Ok(HttpResponse::Ok().json(doc))
}

/// Swagger UI: the platform document, and each app of a logged-in browser's tenant.
pub async fn swagger(
    engine: web::Data<Engine>,
    req: HttpRequest,
    tail: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let mut app_docs: Vec<(String, String)> = Vec::new();
    if let Ok(ctx) = caller_or_cookie(&req, &engine).await
        && let Ok(apps) = engine.list_apps(&ctx).await
    {
        app_docs = apps
            .iter()
            .map(|a| {
                (
                    format!("app: {}", a.def.name),
                    format!("/api/v1/apps/{}/openapi.json", a.def.name),
                )
            })
            .collect();
    }
    let mut urls = vec![Url::with_primary("Trellis platform", "/api/v1/openapi.json", true)];
    urls.extend(app_docs.iter().map(|(name, url)| Url::new(name, url)));
    let config = Arc::new(Config::new(urls).with_credentials(true).persist_authorization(false));
    match utoipa_swagger_ui::serve(&tail, config) {
        Ok(Some(file)) => {
            let mut res = HttpResponse::Ok();
            res.content_type(file.content_type);
            if file.gzpipped {
                res.insert_header((header::CONTENT_ENCODING, "gzip"));
            }
            Ok(res.body(file.bytes.to_vec()))
        }
        Ok(None) => Err(ApiError(trellis_core::Error::not_found("no such documentation file"))),
        Err(e) => Err(ApiError(trellis_core::Error::internal(e.to_string()))),
    }
}
