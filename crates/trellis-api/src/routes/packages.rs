//! App packages: install or upgrade an app from a package file, export an app as one.

use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;
use trellis_core::merge::Prefer;
use trellis_core::package::PackageDef;
use trellis_engine::Engine;
use trellis_engine::apps::packages::{InstallOptions, InstallOut};
use trellis_engine::apps::templates::TemplateOut;
use utoipa::IntoParams;

use crate::extract::{Admin, JsonObject};
use crate::problem::{ApiResult, Problem};
use crate::routes::List;

/// How a package is installed.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct InstallQuery {
    /// Install as this app (default: the package's app name); the same package installs under
    /// several names.
    #[serde(default)]
    #[param(pattern = "^[a-z][a-z0-9_]{0,62}$")]
    app: Option<String>,
    /// Plan only: what would be added, changed, renamed, removed and kept, and the conflicts;
    /// nothing is stored.
    #[serde(default)]
    dry_run: bool,
    /// Drop the entities and fields the package removes, with their records or values; without
    /// it they stay (listed as kept).
    #[serde(default)]
    allow_data_loss: bool,
    /// Whose value a property both the tenant and the package changed keeps (default: tenant).
    #[serde(default)]
    prefer: Prefer,
}

/// Install a package (`app-package.schema.json`) as a new app, or upgrade the app installed from
/// an earlier version of it: a three-way merge that keeps the tenant's own changes. One
/// transaction; installing the same version again changes nothing.
#[utoipa::path(
    tag = "apps",
    params(InstallQuery),
    request_body = PackageDef,
    responses(
        (status = 200, description = "The plan (a dry run, an upgrade, or nothing to do)", body = InstallOut),
        (status = 201, description = "A new app was installed", body = InstallOut),
        (status = 403, body = Problem),
        (status = 409, description = "The app exists and was not installed from this package, or is at a newer version", body = Problem),
        (status = 412, description = "The app changed while the upgrade was merged", body = Problem),
        (status = 422, body = Problem)
    )
)]
#[post("/apps/import")]
pub async fn install_package(
    engine: web::Data<Engine>,
    Admin(caller): Admin,
    q: web::Query<InstallQuery>,
    body: JsonObject,
) -> ApiResult<HttpResponse> {
    let out = engine
        .install_package(&caller.0, &body, q.into_inner().options())
        .await?;
    Ok(installed(out))
}

impl InstallQuery {
    fn options(self) -> InstallOptions {
        InstallOptions {
            app: self.app,
            dry_run: self.dry_run,
            allow_data_loss: self.allow_data_loss,
            prefer: self.prefer,
        }
    }
}

/// 201 when a new app was installed, else 200.
fn installed(out: InstallOut) -> HttpResponse {
    let created = out.applied && out.from_version.is_none();
    if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    }
    .json(out)
}

/// The templates Trellis ships (the sales management and store sales apps), each with the
/// tenant's apps installed from it. Administrators only.
#[utoipa::path(
    tag = "apps",
    responses(
        (status = 200, description = "Templates", body = List<TemplateOut>),
        (status = 401, body = Problem),
        (status = 403, body = Problem)
    )
)]
#[get("/templates")]
pub async fn list_templates(engine: web::Data<Engine>, Admin(caller): Admin) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(List::of(engine.list_templates(&caller.0).await?)))
}

/// Install a shipped template (as `POST /apps/import` with its package): `dry_run=true` answers
/// the plan the gallery previews.
#[utoipa::path(
    tag = "apps",
    params(("package" = String, Path, description = "The template's package name."), InstallQuery),
    responses(
        (status = 200, description = "The plan (a dry run, an upgrade, or nothing to do)", body = InstallOut),
        (status = 201, description = "A new app was installed", body = InstallOut),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem),
        (status = 422, body = Problem)
    )
)]
#[post("/templates/{package}/install")]
pub async fn install_template(
    engine: web::Data<Engine>,
    Admin(caller): Admin,
    package: web::Path<String>,
    q: web::Query<InstallQuery>,
) -> ApiResult<HttpResponse> {
    let out = engine
        .install_template(&caller.0, &package, q.into_inner().options())
        .await?;
    Ok(installed(out))
}

/// What an exported package is called.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// The package's name (default: the one the app was installed from, else the app's name).
    #[serde(default)]
    #[param(pattern = "^[a-z][a-z0-9_]{0,62}$")]
    package: Option<String>,
    /// Its semantic version (default: the installed one, else 1.0.0).
    #[serde(default)]
    #[param(
        pattern = "^(0|[1-9][0-9]{0,9})\\.(0|[1-9][0-9]{0,9})\\.(0|[1-9][0-9]{0,9})(-(0|[1-9][0-9]{0,9}|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(\\.(0|[1-9][0-9]{0,9}|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?(\\+[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?$"
    )]
    version: Option<String>,
}

/// An app as a package: canonical JSON (keys in byte order), elements keyed, no storage ids,
/// secrets masked. Exporting, installing into an empty tenant and exporting again gives the
/// same bytes.
#[utoipa::path(
    tag = "apps",
    params(("app" = String, Path), ExportQuery),
    responses(
        (status = 200, description = "The package", body = PackageDef),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 422, body = Problem)
    )
)]
#[get("/apps/{app}/package")]
pub async fn export_package(
    engine: web::Data<Engine>,
    Admin(caller): Admin,
    app: web::Path<String>,
    q: web::Query<ExportQuery>,
) -> ApiResult<HttpResponse> {
    let text = engine
        .export_package(&caller.0, &app, q.package.as_deref(), q.version.as_deref())
        .await?;
    Ok(HttpResponse::Ok().content_type("application/json").body(text))
}

#[cfg(test)]
mod tests {
    /// The export's `version` is documented with the package schema's pattern, so a version the
    /// document allows is one the server takes.
    #[test]
    fn the_export_version_is_documented_as_the_package_schema_takes_it() {
        let doc = crate::platform_spec();
        let params = doc["paths"]["/api/v1/apps/{app}/package"]["get"]["parameters"]
            .as_array()
            .expect("parameters");
        let version = params.iter().find(|p| p["name"] == "version").expect("version");
        assert_eq!(version["schema"]["pattern"], trellis_core::package::SEMVER_PATTERN);
    }
}
