//! Login, the caller, and API tokens.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use trellis_engine::Engine;
use utoipa::ToSchema;

use crate::extract::{Caller, SESSION_COOKIE};
use crate::problem::{ApiResult, Problem};

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct UserBody {
    id: String,
    email: String,
    name: String,
    tenant_id: String,
    is_admin: bool,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    token: String,
    user: UserBody,
}

#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    /// A name to recognise the token by.
    name: String,
    /// Role the token acts with (roles arrive with permissions; stored now).
    role: Option<String>,
    /// When the token stops working (RFC 3339).
    expires_at: Option<DateTime<Utc>>,
}

fn user_body(u: trellis_engine::auth::UserOut) -> UserBody {
    UserBody {
        id: u.id,
        email: u.email,
        name: u.name,
        tenant_id: u.tenant_id,
        is_admin: u.is_admin,
    }
}

/// Log in with e-mail and password; answers a bearer token (valid 7 days).
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = LoginResponse),
        (status = 401, description = "Wrong e-mail or password", body = Problem, content_type = "application/problem+json")
    ),
    security(())
)]
#[post("/auth/login")]
pub async fn login(
    engine: web::Data<Engine>,
    req: actix_web::HttpRequest,
    body: web::Json<LoginRequest>,
) -> ApiResult<HttpResponse> {
    // The peer address: a proxy in front should be trusted explicitly before X-Forwarded-For is.
    let addr = req.peer_addr().map(|a| a.ip().to_string());
    let (token, user) = engine.login_from(&body.email, &body.password, addr.as_deref()).await?;
    let cookie = Cookie::build(SESSION_COOKIE, token.clone())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(actix_web::cookie::time::Duration::hours(
            trellis_engine::auth::SESSION_TTL_HOURS,
        ))
        .finish();
    Ok(HttpResponse::Ok().cookie(cookie).json(LoginResponse {
        token,
        user: user_body(user),
    }))
}

/// The caller: user, tenant, tenant role, roles per app (`app_roles`) and effective permissions.
#[utoipa::path(tag = "auth", responses((status = 200, description = "The caller", body = Object), (status = 401, body = Problem)))]
#[get("/me")]
pub async fn get_me(engine: web::Data<Engine>, caller: Caller) -> ApiResult<HttpResponse> {
    let (user, tenant) = engine.me(&caller.0).await?;
    let app_roles = engine.my_app_roles(&caller.0).await?;
    let permissions = if caller.0.is_admin() {
        json!({"apps": "manage", "records": "all"})
    } else {
        json!({"apps": "read", "records": "all"})
    };
    Ok(HttpResponse::Ok().json(json!({
        "user": user_body(user),
        "tenant": {"id": tenant.id, "name": tenant.name},
        "roles": if caller.0.is_admin() { vec!["admin"] } else { vec!["member"] },
        "app_roles": app_roles,
        "permissions": permissions,
    })))
}

/// Create an API token; its secret is shown in this answer only.
#[utoipa::path(tag = "auth", request_body = TokenRequest, responses((status = 201, description = "The token, with its secret", body = Object), (status = 422, body = Problem)))]
#[post("/auth/tokens")]
pub async fn create_token(
    engine: web::Data<Engine>,
    caller: Caller,
    body: web::Json<TokenRequest>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let t = engine
        .create_api_token(&caller.0, &b.name, b.role, b.expires_at)
        .await?;
    Ok(HttpResponse::Created().json(t))
}

/// The caller's API tokens (never their secrets), with last use.
#[utoipa::path(tag = "auth", responses((status = 200, description = "Tokens", body = Object)))]
#[get("/auth/tokens")]
pub async fn list_tokens(engine: web::Data<Engine>, caller: Caller) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(json!({"data": engine.list_api_tokens(&caller.0).await?})))
}

/// Revoke one of the caller's API tokens.
#[utoipa::path(tag = "auth", params(("id" = String, Path)), responses((status = 204, description = "Revoked"), (status = 404, body = Problem)))]
#[delete("/auth/tokens/{id}")]
pub async fn revoke_token(engine: web::Data<Engine>, caller: Caller, id: web::Path<String>) -> ApiResult<HttpResponse> {
    engine.revoke_api_token(&caller.0, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
