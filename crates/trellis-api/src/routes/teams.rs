//! Teams: nested groups of users whose records a role's `team` scope reaches.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trellis_engine::Engine;
use trellis_engine::directory::teams::TeamOut;
use utoipa::ToSchema;

use crate::extract::{Body, Caller, JsonObject, checked, double_option};
use crate::problem::{ApiResult, Problem};
use crate::routes::List;

/// A new team.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamRequest {
    /// 1 to 100 characters, unique in the tenant (409 when taken).
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
    )]
    name: String,
    /// Id or name of the team above it.
    #[serde(default)]
    parent: Option<String>,
}

/// A change of a team (merge patch): a member left out keeps its value.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamPatch {
    /// 1 to 100 characters, unique in the tenant (409 when taken).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 100, pattern = r"^[^\x00]*[^\s\x00][^\x00]*$")]
    name: Option<String>,
    /// Id or name of the team to move it below; `null` moves it to the top. A move below
    /// itself answers 409.
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    parent: Option<Option<String>>,
    /// As the team was answered; may be sent back unchanged (a team read with GET can be edited
    /// and sent back), any other value is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    id: Option<Value>,
    /// As `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    members: Option<Value>,
    /// As `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    created_at: Option<Value>,
}

/// A user to add to a team.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamMemberRequest {
    /// Id or e-mail of a user of the caller's tenant.
    #[serde(default)]
    #[schema(required = true, min_length = 1)]
    user: String,
}

/// The tenant's teams with their members.
#[utoipa::path(tag = "directory", responses((status = 200, description = "The teams", body = List<TeamOut>), (status = 401, body = Problem)))]
#[get("/teams")]
pub async fn list_teams(engine: web::Data<Engine>, caller: Caller) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(List::of(engine.list_teams(&caller.0).await?)))
}

/// Create a team (administrators only).
#[utoipa::path(tag = "directory", request_body = TeamRequest, responses((status = 201, description = "The team", body = TeamOut), (status = 403, body = Problem), (status = 409, description = "The name is taken", body = Problem), (status = 422, body = Problem)))]
#[post("/teams")]
pub async fn create_team(
    engine: web::Data<Engine>,
    caller: Caller,
    body: Body<TeamRequest>,
) -> ApiResult<HttpResponse> {
    let t = engine
        .create_team(&caller.0, &body.name, body.parent.as_deref())
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/teams/{}", t.id)))
        .json(t))
}

/// A team with its members.
#[utoipa::path(tag = "directory", params(("id" = String, Path)), responses((status = 200, description = "The team", body = TeamOut), (status = 404, body = Problem)))]
#[get("/teams/{id}")]
pub async fn get_team(engine: web::Data<Engine>, caller: Caller, id: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(engine.get_team(&caller.0, &id).await?))
}

/// Change a team (merge patch; administrators only): `{"name"?, "parent"?: id | name | null}`.
/// A key left out keeps its value; `parent: null` moves the team to the top. A move that would
/// put a team below itself, or a taken name, answers 409; a body that is not an object 400.
#[utoipa::path(tag = "directory", params(("id" = String, Path)), request_body = TeamPatch, responses((status = 200, description = "The team", body = TeamOut), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[patch("/teams/{id}")]
pub async fn patch_team(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<String>,
    body: JsonObject,
) -> ApiResult<HttpResponse> {
    let patch = checked::<TeamPatch>(body.into_inner());
    Ok(HttpResponse::Ok().json(engine.patch_team(&caller.0, &id, &patch).await?))
}

/// Add a user to a team (administrators only; adding twice is harmless).
#[utoipa::path(tag = "directory", params(("id" = String, Path)), request_body = TeamMemberRequest, responses((status = 200, description = "The team", body = TeamOut), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/teams/{id}/members")]
pub async fn add_team_member(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<String>,
    body: Body<TeamMemberRequest>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(engine.add_team_member(&caller.0, &id, &body.user).await?))
}

/// Remove a user from a team (administrators only).
#[utoipa::path(tag = "directory", params(("id" = String, Path), ("user" = String, Path)), responses((status = 204, description = "Removed"), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[delete("/teams/{id}/members/{user}")]
pub async fn remove_team_member(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (id, user) = path.into_inner();
    engine.remove_team_member(&caller.0, &id, &user).await?;
    Ok(HttpResponse::NoContent().finish())
}
