//! Login, the caller, and API tokens.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trellis_engine::Engine;
use trellis_engine::access::auth::{SessionOut, TokenOut};
use trellis_engine::preferences::{Language, Preferences};
use utoipa::ToSchema;

use crate::extract::{Body, Caller, SESSION_COOKIE};
use crate::problem::{ApiResult, Problem};
use crate::routes::List;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(max_length = 1024)]
    email: String,
    #[schema(max_length = 4096)]
    password: String,
    /// The tenant's name; needed only when the e-mail and password are a user's in several
    /// tenants (e-mails are unique per tenant).
    #[schema(max_length = 1024)]
    tenant: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserBody {
    #[schema(format = Uuid)]
    id: String,
    email: String,
    name: String,
    #[schema(format = Uuid)]
    tenant_id: String,
    is_admin: bool,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    token: String,
    user: UserBody,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// A name to recognise the token by: 1 to 100 characters, not only spaces.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    name: String,
    /// The role the token acts with: a role some app of the tenant declares (422 otherwise). A
    /// token limited to a role makes tokens of that role only (403 for another).
    role: Option<String>,
    /// When the token stops working (RFC 3339); must be in the future (422 otherwise).
    expires_at: Option<DateTime<Utc>>,
}

/// The caller's tenant.
#[derive(Serialize, ToSchema)]
pub struct TenantBody {
    #[schema(format = Uuid)]
    id: String,
    name: String,
}

/// The caller's role in the tenant.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TenantRole {
    Admin,
    Member,
}

/// What the caller may do with apps: `manage` (administrators) or `read`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppsPermission {
    Manage,
    Read,
}

/// Which records the caller reaches before the roles of each app narrow it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordsPermission {
    All,
}

/// The caller's effective platform permissions.
#[derive(Serialize, ToSchema)]
pub struct Permissions {
    apps: AppsPermission,
    records: RecordsPermission,
}

/// The caller.
#[derive(Serialize, ToSchema)]
pub struct MeBody {
    user: UserBody,
    tenant: TenantBody,
    /// The caller's role in the tenant (one of them).
    roles: Vec<TenantRole>,
    /// Per app name, the roles the caller is a member of.
    app_roles: BTreeMap<String, Vec<String>>,
    /// Per app name (every app of the tenant), what the caller may do there: per entity the
    /// rights and the rows they reach, the fields hidden from them and those they may not
    /// change, and which transitions of its pipeline they may make; decided by the code every
    /// request is checked by.
    apps: BTreeMap<String, trellis_engine::pipelines::AppAccess>,
    permissions: Permissions,
    /// The web UI's language the caller chose (`PUT /me/preferences`); none: the browser's.
    #[schema(required = true)]
    language: Option<Language>,
}

/// A change of the caller's preferences: each member sent replaces the stored one, `null`
/// clears it, a member left out stays.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesRequest {
    /// `zh-CN` or `en-US`, or `null` for the browser's language; anything else answers 422
    /// (`language`, `option`).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Language>)]
    language: Option<serde_json::Value>,
}

/// A member that is present (also as `null`) is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

fn user_body(u: trellis_engine::access::auth::UserOut) -> UserBody {
    UserBody {
        id: u.id,
        email: u.email,
        name: u.name,
        tenant_id: u.tenant_id,
        is_admin: u.is_admin,
    }
}

/// Log in with e-mail and password; answers a bearer token for a session that ends after 12 hours
/// without use and 7 days after the login at most (`POST /auth/logout` ends it sooner).
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = LoginResponse),
        (status = 401, description = "Wrong e-mail or password", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The e-mail and password are a user's in several tenants: send `tenant`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts for the account or the address; Retry-After says when to try again", body = Problem, content_type = "application/problem+json")
    ),
    security(())
)]
#[post("/auth/login")]
pub async fn login(
    engine: web::Data<Engine>,
    req: actix_web::HttpRequest,
    body: Body<LoginRequest>,
) -> ApiResult<HttpResponse> {
    // The peer address: a proxy in front should be trusted explicitly before X-Forwarded-For is.
    let addr = req.peer_addr().map(|a| a.ip().to_string());
    let (token, user) = engine
        .login_from(&body.email, &body.password, body.tenant.as_deref(), addr.as_deref())
        .await?;
    // The cookie may outlive an idle session; the session's own end is what counts.
    let max = engine.session_lifetime().max.as_secs();
    let cookie = Cookie::build(SESSION_COOKIE, token.clone())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(actix_web::cookie::time::Duration::seconds(
            i64::try_from(max).unwrap_or(i64::MAX),
        ))
        .finish();
    Ok(HttpResponse::Ok().cookie(cookie).json(LoginResponse {
        token,
        user: user_body(user),
    }))
}

/// The caller: user, tenant, tenant role, roles per app (`app_roles`), what they may do in each
/// app (`apps`: rights, hidden and read-only fields per entity, allowed transitions) and
/// effective permissions.
#[utoipa::path(tag = "auth", responses((status = 200, description = "The caller", body = MeBody), (status = 401, body = Problem)))]
#[get("/me")]
pub async fn get_me(engine: web::Data<Engine>, caller: Caller) -> ApiResult<HttpResponse> {
    let (user, tenant) = engine.me(&caller.0).await?;
    let app_roles = engine.my_app_roles(&caller.0).await?;
    let apps = engine.my_apps_access(&caller.0).await?;
    let admin = caller.0.is_admin();
    Ok(HttpResponse::Ok().json(MeBody {
        user: user_body(user),
        tenant: TenantBody {
            id: tenant.id,
            name: tenant.name,
        },
        roles: vec![if admin { TenantRole::Admin } else { TenantRole::Member }],
        app_roles,
        apps,
        permissions: Permissions {
            apps: if admin {
                AppsPermission::Manage
            } else {
                AppsPermission::Read
            },
            records: RecordsPermission::All,
        },
        language: engine.my_preferences(&caller.0).await?.language,
    }))
}

/// The caller's preferences.
#[utoipa::path(tag = "auth", responses((status = 200, description = "The preferences", body = Preferences), (status = 401, body = Problem)))]
#[get("/me/preferences")]
pub async fn get_preferences(engine: web::Data<Engine>, caller: Caller) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(engine.my_preferences(&caller.0).await?))
}

/// Change the caller's preferences (the web UI's language, remembered per user); answers them.
#[utoipa::path(tag = "auth", request_body = PreferencesRequest, responses((status = 200, description = "The preferences", body = Preferences), (status = 400, body = Problem), (status = 401, body = Problem), (status = 422, description = "Not a language the UI has", body = Problem)))]
#[put("/me/preferences")]
pub async fn put_preferences(
    engine: web::Data<Engine>,
    caller: Caller,
    body: Body<PreferencesRequest>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    Ok(HttpResponse::Ok().json(engine.set_my_preferences(&caller.0, b.language.as_ref()).await?))
}

/// Create an API token; its secret is shown in this answer only.
#[utoipa::path(tag = "auth", request_body = TokenRequest, responses((status = 201, description = "The token, with its secret", body = TokenOut), (status = 422, body = Problem)))]
#[post("/auth/tokens")]
pub async fn create_token(
    engine: web::Data<Engine>,
    caller: Caller,
    body: Body<TokenRequest>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let t = engine
        .create_api_token(&caller.0, &b.name, b.role, b.expires_at)
        .await?;
    Ok(HttpResponse::Created().json(t))
}

/// The caller's API tokens (never their secrets), with last use.
#[utoipa::path(tag = "auth", responses((status = 200, description = "Tokens", body = List<TokenOut>)))]
#[get("/auth/tokens")]
pub async fn list_tokens(engine: web::Data<Engine>, caller: Caller) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(List::of(engine.list_api_tokens(&caller.0).await?)))
}

/// Revoke one of the caller's API tokens.
#[utoipa::path(tag = "auth", params(("id" = String, Path)), responses((status = 204, description = "Revoked"), (status = 404, body = Problem)))]
#[delete("/auth/tokens/{id}")]
pub async fn revoke_token(engine: web::Data<Engine>, caller: Caller, id: web::Path<String>) -> ApiResult<HttpResponse> {
    engine.revoke_api_token(&caller.0, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Log out: ends the session of this request's token (it answers 401 from then on) and clears the
/// session cookie. An API token is not a session: 400 (revoke it with `DELETE /auth/tokens/{id}`).
#[utoipa::path(tag = "auth", responses((status = 204, description = "Logged out"), (status = 400, body = Problem), (status = 401, body = Problem)))]
#[post("/auth/logout")]
pub async fn logout(engine: web::Data<Engine>, caller: Caller) -> ApiResult<HttpResponse> {
    engine.logout(&caller.0).await?;
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").finish();
    gone.make_removal();
    Ok(HttpResponse::NoContent().cookie(gone).finish())
}

/// The caller's live login sessions, newest first; `current` marks the one of this request.
#[utoipa::path(tag = "auth", responses((status = 200, description = "Sessions", body = List<SessionOut>), (status = 401, body = Problem)))]
#[get("/auth/sessions")]
pub async fn list_sessions(engine: web::Data<Engine>, caller: Caller) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(List::of(engine.list_sessions(&caller.0).await?)))
}

/// End one of the caller's login sessions (another device, say); anyone else's answers 404.
#[utoipa::path(tag = "auth", params(("id" = String, Path)), responses((status = 204, description = "Ended"), (status = 404, body = Problem)))]
#[delete("/auth/sessions/{id}")]
pub async fn revoke_session(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    engine.revoke_session(&caller.0, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
