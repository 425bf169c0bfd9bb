//! Trellis's HTTP API on actix-web: routes, auth, problem+json errors, the platform OpenAPI
//! (collected from the annotated handlers), per-app OpenAPI, Swagger UI and the embedded web UI.

pub mod extract;
pub mod problem;
pub mod routes;
pub mod spec;
pub mod trace;

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::Compress;
use actix_web::{App, HttpServer, web};
use trellis_engine::Engine;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_actix_web::{AppExt, scope};

use crate::problem::{MAX_JSON_BODY, json_error, path_error, query_error, request_limits};
use crate::routes::{
    apps, audit, auth, automation, comments, dashboards, directory, docs, export, files, imports, packages, parts,
    pipelines, records, reports, teams, ui,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Trellis platform API", description = "Auth, the tenant directory (users, roles, delegations, calendars), the inbox, apps and metadata, pipelines and approvals, the generic record API, and files. Each app's own document, with one schema per entity, is at /api/v1/apps/{app}/openapi.json."),
    security(("bearer" = [])),
    tags((name = "auth"), (name = "directory"), (name = "notifications"), (name = "apps"), (name = "records"), (name = "reports"), (name = "pipelines"), (name = "automation"), (name = "files")),
    // `_rights` of a record read with `rights=true` (the record itself is the app document's).
    components(schemas(trellis_engine::records::RecordRights))
)]
struct ApiDoc;

/// Registers every API route under `/api/v1`; answers the app and the platform OpenAPI document.
fn api_app() -> (
    App<
        impl actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
            InitError = (),
        >,
    >,
    utoipa::openapi::OpenApi,
) {
    let (app, mut spec) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .service(
            scope::scope("/api/v1")
                .service(auth::login)
                .service(auth::get_me)
                .service(auth::get_preferences)
                .service(auth::put_preferences)
                .service(auth::create_token)
                .service(auth::list_tokens)
                .service(auth::revoke_token)
                .service(auth::logout)
                .service(auth::list_sessions)
                .service(auth::revoke_session)
                .service(directory::list_users)
                .service(directory::create_user)
                .service(directory::get_user)
                .service(directory::create_delegation)
                .service(directory::list_delegations)
                .service(directory::list_calendars)
                .service(directory::get_calendar)
                .service(directory::put_calendar)
                .service(directory::delete_calendar)
                .service(directory::list_notifications)
                .service(directory::read_notification)
                .service(apps::list_apps)
                .service(apps::create_app)
                .service(packages::install_package)
                .service(packages::list_templates)
                .service(packages::install_template)
                .service(docs::app_openapi)
                .service(apps::get_app)
                .service(apps::patch_app)
                .service(apps::delete_app)
                .service(packages::export_package)
                .service(apps::list_entities)
                .service(apps::create_entity)
                .service(apps::get_entity)
                .service(apps::patch_entity)
                .service(apps::delete_entity)
                .service(apps::list_fields)
                .service(apps::create_field)
                .service(apps::patch_field)
                .service(apps::delete_field)
                .service(apps::check_script)
                .service(automation::list_rules)
                .service(automation::create_rule)
                .service(automation::get_rule)
                .service(automation::put_rule)
                .service(automation::patch_rule)
                .service(automation::delete_rule)
                .service(automation::list_rule_runs)
                .service(automation::test_rule)
                .service(automation::inbound_hook)
                .service(automation::retry_job)
                .service(pipelines::get_pipeline)
                .service(pipelines::put_pipeline)
                .service(pipelines::list_approvals)
                .service(pipelines::get_approval)
                .service(pipelines::approve_approval)
                .service(pipelines::reject_approval)
                .service(pipelines::get_board)
                .service(directory::list_roles)
                .service(parts::create_role)
                .service(parts::get_role)
                .service(parts::put_role)
                .service(parts::delete_role)
                .service(parts::list_validations)
                .service(parts::create_validation)
                .service(parts::get_validation)
                .service(parts::put_validation)
                .service(parts::delete_validation)
                .service(parts::list_views)
                .service(parts::create_view)
                .service(parts::get_view)
                .service(parts::put_view)
                .service(parts::delete_view)
                .service(parts::list_my_views)
                .service(parts::create_my_view)
                .service(parts::get_my_view)
                .service(parts::put_my_view)
                .service(parts::delete_my_view)
                .service(directory::add_role_member)
                .service(directory::remove_role_member)
                .service(teams::list_teams)
                .service(teams::create_team)
                .service(teams::get_team)
                .service(teams::patch_team)
                .service(teams::add_team_member)
                .service(teams::remove_team_member)
                .service(audit::app_audit)
                .service(audit::handover)
                .service(audit::get_settings)
                .service(audit::put_settings)
                .service(reports::aggregate_records)
                .service(reports::funnel)
                .service(reports::sla)
                .service(reports::first_follow_up)
                .service(reports::cycle)
                .service(reports::forecast)
                .service(reports::forecast_backtest)
                .service(reports::create_calibration)
                .service(reports::get_calibration)
                .service(reports::put_calibration)
                .service(dashboards::dashboard_data)
                .service(dashboards::widget_csv)
                .service(export::export_records)
                .service(imports::start_import)
                .service(imports::list_imports)
                .service(imports::import_error_file)
                .service(imports::import_errors)
                .service(imports::cancel_import)
                .service(imports::get_import)
                .service(records::list_records)
                .service(records::create_record)
                .service(records::bulk_records)
                .service(records::get_record)
                .service(records::update_record)
                .service(records::delete_record)
                .service(pipelines::transition_record)
                .service(automation::run_rule)
                .service(pipelines::list_transitions)
                .service(pipelines::get_history)
                .service(comments::list_comments)
                .service(comments::post_comment)
                .service(comments::delete_comment)
                .service(comments::get_timeline)
                .service(comments::mentionable_users)
                .service(files::upload_file)
                .service(files::download_file)
                .service(files::file_meta)
                .route("/openapi.json", web::get().to(docs::platform_openapi))
                .default_service(web::route().to(problem::api_not_found)),
        )
        .split_for_parts();
    let components = spec.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    // A rule's action is one of the engine's actions, each with options of its own.
    let mut actions = utoipa::openapi::schema::OneOfBuilder::new()
        .description(Some("One step of a rule: its `type` and that action's options."));
    for action in trellis_engine::automation::actions::ALL {
        let (schema, refs) = action.schema();
        actions = actions.item(schema);
        for (name, s) in refs {
            components.schemas.entry(name).or_insert(s);
        }
    }
    components.schemas.insert("ActionDef".to_string(), actions.into());
    (app, spec)
}

/// The platform OpenAPI document: the annotated routes, with the answers of the HTTP layer
/// around them ([`spec::finish`]).
pub fn platform_spec() -> serde_json::Value {
    let mut doc = serde_json::to_value(api_app().1).unwrap_or_default();
    spec::finish(&mut doc);
    doc
}

/// Starts serving on a bound listener.
pub fn serve(engine: Engine, listener: TcpListener, workers: usize) -> std::io::Result<Server> {
    let doc = platform_spec();
    let routes = web::Data::new(spec::Routes::of(&doc));
    let spec = web::Data::new(docs::PlatformSpec(doc.to_string()));
    let engine = web::Data::new(engine);
    let server = HttpServer::new(move || {
        let (app, _) = api_app();
        app.app_data(engine.clone())
            .app_data(spec.clone())
            .app_data(routes.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(MAX_JSON_BODY)
                    .error_handler(json_error),
            )
            .app_data(web::QueryConfig::default().error_handler(query_error))
            .app_data(web::PathConfig::default().error_handler(path_error))
            .wrap(actix_web::middleware::from_fn(request_limits))
            .wrap(Compress::default())
            .wrap(actix_web::middleware::from_fn(crate::problem::prefer_gzip))
            .wrap(actix_web::middleware::from_fn(crate::trace::trace_requests))
            .route(
                "/healthz",
                web::get().to(|| async {
                    actix_web::HttpResponse::Ok()
                        .content_type("application/json")
                        .body(r#"{"status":"ok"}"#)
                }),
            )
            .route(
                "/docs",
                web::get().to(|| async {
                    actix_web::HttpResponse::PermanentRedirect()
                        .insert_header(("Location", "/docs/"))
                        .finish()
                }),
            )
            .route("/docs/{tail:.*}", web::get().to(docs::swagger))
            .route("/api/{tail:.*}", web::route().to(problem::api_not_found))
            .default_service(web::get().to(ui::serve))
    })
    .workers(workers)
    // Answers are written in pieces (a compressed page is a chunked body): with Nagle's
    // algorithm on, the piece after the first waits for the client's delayed ACK, ~40 ms on
    // every later answer of a kept-alive connection.
    .tcp_nodelay(true)
    .listen(listener)?
    .run();
    Ok(server)
}
