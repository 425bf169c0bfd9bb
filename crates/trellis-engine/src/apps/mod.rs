//! The builder's use cases: apps, entities and fields. Every change edits the app definition,
//! validates the whole of it, plans the table changes and applies plan and new version in one
//! transaction, then swaps the compiled app in the registry.

pub mod my_views;
pub mod packages;
pub mod parts;
mod pipeline;
pub mod rules;
pub mod templates;

use std::sync::Arc;
use trellis_core::error::FieldCode;

use serde::Serialize;
use serde_json::{Map, Value};
use trellis_core::def::{AppDef, EntityDef, FieldDef};
use trellis_core::plan::{Step, StepSummary, plan};
use trellis_core::status::EventKind;
use trellis_core::validate::{forget_ids, parse_app, parse_entity, parse_field, reissue_new_ids, validate_app};
use trellis_core::{Error, FieldError, Slug};

use crate::compiled::parse_stored;
use crate::compiled::scripts::LoadedApp;
use trellis_store::packages::AppPackageRow;
use trellis_store::system::{self, AppRow};
use trellis_store::{StoreError, ddl};

use crate::Engine;
use crate::context::TenantCtx;

/// An app as the API shows it: its definition plus version and times.
#[derive(Debug, Clone, Serialize)]
pub struct AppOut {
    #[serde(flatten)]
    pub def: AppDef,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// The schema of [`AppOut`]: the properties of [`AppDef`] and the three beside them (a
/// flattened `AppDef` would be an `allOf` whose `additionalProperties: false` refuses them).
impl utoipa::PartialSchema for AppOut {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, Schema, Type};
        use utoipa::openapi::{ObjectBuilder, RefOr};
        let RefOr::T(Schema::Object(mut o)) = <AppDef as utoipa::PartialSchema>::schema() else {
            unreachable!("AppDef derives an object schema")
        };
        let string = |d: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(d))
                .build()
        };
        o.properties.insert(
            "version".into(),
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                    utoipa::openapi::KnownFormat::Int64,
                )))
                .minimum(Some(1))
                .description(Some("The definition's version; every change adds one."))
                .build()
                .into(),
        );
        o.properties.insert(
            "created_at".into(),
            string("When the app was created (RFC 3339).").into(),
        );
        o.properties.insert(
            "updated_at".into(),
            string("When its definition last changed (RFC 3339).").into(),
        );
        o.required
            .extend(["version".into(), "created_at".into(), "updated_at".into()]);
        o.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
        o.description = Some("An app as the API answers it: its definition, version and times.".into());
        RefOr::T(Schema::Object(o))
    }
}

impl utoipa::ToSchema for AppOut {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        <AppDef as utoipa::ToSchema>::schemas(schemas);
    }
}

/// What a definition change did (or, on a dry run, would do).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChangeOut {
    /// Whether the change was stored (false on a dry run, or when it changed nothing).
    pub applied: bool,
    /// The app's version after the change (the current one when nothing was applied).
    pub version: i64,
    /// The steps, in order.
    pub plan: Vec<StepSummary>,
}

/// How a definition change is applied.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChangeOptions {
    pub dry_run: bool,
    pub allow_data_loss: bool,
    /// The app version the change is meant for (`If-Match`): another one answers 412 and the
    /// change is not made. `None`: whatever version is current.
    pub if_match: Option<i64>,
}

/// 412: the app's definition is no longer at the version the change was meant for.
pub fn stale_app(current: Option<i64>) -> Error {
    let at = current.map(|v| format!(" (it is at version {v})")).unwrap_or_default();
    Error::new(
        trellis_core::ErrorCode::VersionMismatch,
        format!("the app changed since it was read{at}; read it again and redo the change"),
    )
}

fn app_out(row: &AppRow, def: AppDef) -> AppOut {
    AppOut {
        def,
        version: row.version,
        created_at: trellis_core::value::format_datetime(&row.created_at),
        updated_at: trellis_core::value::format_datetime(&row.updated_at),
    }
}

/// What an install from a package stores beside the app, in the same transaction: the package
/// record, and the business calendars the package brings that the tenant lacks (name, JSON).
#[derive(Debug, Clone)]
pub(crate) struct Recording {
    pub origin: AppPackageRow,
    pub calendars: Vec<(Slug, String)>,
}

impl Recording {
    async fn store<C: trellis_store::Writes>(&self, tx: &C, tenant_id: &str, app_id: &str) -> Result<(), Error> {
        let mut origin = self.origin.clone();
        origin.app_id = app_id.to_string();
        trellis_store::packages::put(tx, &origin).await?;
        let now = trellis_core::value::now_micros();
        for (name, text) in &self.calendars {
            trellis_store::directory::put_calendar(tx, tenant_id, name.as_str(), text, now).await?;
        }
        Ok(())
    }

    fn calendar_names(r: Option<&Recording>) -> Vec<&str> {
        r.map(|r| r.calendars.iter().map(|(n, _)| n.as_str()).collect())
            .unwrap_or_default()
    }
}

/// Whether a stored package record says what `new` says (times aside).
fn same_origin(stored: Option<&AppPackageRow>, new: &AppPackageRow) -> bool {
    stored.is_some_and(|s| {
        (&s.package, &s.version, &s.base, &s.origins) == (&new.package, &new.version, &new.base, &new.origins)
    })
}

fn app_missing(name: &Slug) -> Error {
    Error::not_found(format!("app '{name}' does not exist"))
}

fn entity_missing(name: &str) -> Error {
    Error::not_found(format!("entity '{name}' does not exist"))
}

/// RFC 7396 merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn no_key(body: &Map<String, Value>, key: &str, what: &str) -> Result<(), Error> {
    if body.contains_key(key) {
        return Err(Error::validation(vec![FieldError::new(
            key,
            FieldCode::ReadOnly,
            format!("{what} cannot be changed here"),
        )]));
    }
    Ok(())
}

impl Engine {
    /// The apps of the tenant, each as the caller may read it ([`Engine::def_for`]).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_apps(&self, ctx: &TenantCtx) -> Result<Vec<AppOut>, Error> {
        let rows = system::apps_of(&self.db.read, ctx.tenant_id()).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let def = self.def_for(&self.db.read, ctx, &r.id, &parse_stored(r)?).await?;
            out.push(app_out(r, def));
        }
        Ok(out)
    }

    /// An app as the caller may read it: secrets masked, and for members of a guarded app
    /// without the fields hidden from them ([`Engine::def_for`]).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn get_app(&self, ctx: &TenantCtx, app: &str) -> Result<AppOut, Error> {
        let name = Slug::from_path("app", app)?;
        let row = system::app_by_name(&self.db.read, ctx.tenant_id(), name.as_str())
            .await?
            .ok_or_else(|| app_missing(&name))?;
        let def = self.def_for(&self.db.read, ctx, &row.id, &parse_stored(&row)?).await?;
        Ok(app_out(&row, def))
    }

    /// The OpenAPI document of an app's record API as the caller may use it: every entity
    /// through the caller's view, so a field hidden from them is not named.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn app_openapi(&self, ctx: &TenantCtx, app: &str) -> Result<Value, Error> {
        let app = self.compiled_app(ctx, app).await?;
        if ctx.is_admin() || !trellis_core::permissions::is_guarded(&app.def) {
            return Ok(trellis_core::openapi::app_openapi(&app.compiled));
        }
        let def = self.def_for(&self.db.read, ctx, &app.id, &app.def).await?;
        let mut entities = std::collections::HashMap::with_capacity(app.compiled.entities.len());
        for (name, e) in &app.compiled.entities {
            let access = self.access(&self.db.read, ctx, &app, e).await?;
            // Described from the definition as the caller reads it (no `required_if` reading
            // a hidden field, no validation naming one).
            let mut view = access.view.without(&Default::default());
            if let Some(d) = def.entity(name) {
                view.def = d.clone();
            }
            entities.insert(name.clone(), std::sync::Arc::new(view));
        }
        let view = trellis_core::compile::CompiledApp {
            def,
            version: app.compiled.version,
            entities,
        };
        Ok(trellis_core::openapi::app_openapi(&view))
    }

    /// Creates an app from a definition (entities included, if any).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_app(&self, ctx: &TenantCtx, def: AppDef) -> Result<AppOut, Error> {
        Ok(self.create_app_recording(ctx, def, None, false).await?.0)
    }

    /// Creates an app, recording the package it comes from (its `app_id` is filled in here);
    /// a dry run makes it in a transaction it rolls back. Answers the app and its plan.
    pub(crate) async fn create_app_recording(
        &self,
        ctx: &TenantCtx,
        mut def: AppDef,
        recording: Option<Recording>,
        dry_run: bool,
    ) -> Result<(AppOut, Vec<StepSummary>), Error> {
        ctx.require_admin()?;
        // A new app has no storage yet: every id is the server's to give.
        reissue_new_ids(None, &mut def);
        validate_whole(&def, &self.rules)?;
        self.check_calendars(&self.db.read, ctx, &def, &Recording::calendar_names(recording.as_ref()))
            .await?;
        // Scripts compile now, so a definition whose scripts do not compile is never stored.
        let id = uuid::Uuid::now_v7().to_string();
        let loaded = LoadedApp::load(&self.rules, &id, def.clone(), 1)?;
        let steps = plan(None, &def);
        let summary: Vec<StepSummary> = steps.iter().map(Step::summary).collect();
        let now = trellis_core::value::now_micros();
        let definition = serde_json::to_string(&def).map_err(|e| Error::internal(e.to_string()))?;
        let row = AppRow {
            id,
            tenant_id: ctx.tenant_id().to_string(),
            name: def.name.to_string(),
            version: 1,
            definition: definition.clone(),
            created_at: now,
            updated_at: now,
        };
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        system::insert_app(&tx, &row).await.map_err(|e| match e {
            StoreError::Unique(_) => Error::conflict(format!("an app named '{}' exists", def.name))
                .with_errors(vec![FieldError::new("name", FieldCode::Duplicate, "is taken")]),
            other => other.into(),
        })?;
        system::insert_app_version(&tx, &row.id, 1, &definition, Some(ctx.user_id()), now).await?;
        ddl::apply(&tx, &steps, false).await?;
        crate::automation::schedule::sync_cron(&tx, ctx.tenant_id(), &row.id, &def).await?;
        if let Some(r) = &recording {
            r.store(&tx, ctx.tenant_id(), &row.id).await?;
        }
        let created = serde_json::json!({"name": row.name, "version": 1});
        crate::audit::write(&tx, ctx, &row.id, "$app", &row.id, EventKind::AppCreated, created).await?;
        if dry_run {
            tx.rollback().await.map_err(StoreError::from)?;
        } else {
            tx.commit().await.map_err(StoreError::from)?;
            self.registry.put(ctx.tenant_id(), Arc::new(loaded));
        }
        Ok((app_out(&row, trellis_core::automation::masked_app(&def)), summary))
    }

    /// Deletes an app with all its tables and records.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn delete_app(&self, ctx: &TenantCtx, app: &str) -> Result<(), Error> {
        ctx.require_admin()?;
        let name = Slug::from_path("app", app)?;
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        let row = system::app_by_name(&tx, ctx.tenant_id(), name.as_str())
            .await?
            .ok_or_else(|| app_missing(&name))?;
        let def = parse_stored(&row)?;
        let steps: Vec<Step> = def
            .entities
            .iter()
            .map(|e| Step::DropTable { entity: e.clone() })
            .collect();
        ddl::apply(&tx, &steps, true).await?;
        system::delete_app(&tx, &row.id).await?;
        let deleted = serde_json::json!({"name": row.name, "version": row.version});
        crate::audit::write(&tx, ctx, &row.id, "$app", &row.id, EventKind::AppDeleted, deleted).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.registry.remove(ctx.tenant_id(), name.as_str());
        Ok(())
    }

    /// Applies an edit to an app's definition: validate, plan, apply, store the new version.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn change_app<F>(
        &self,
        ctx: &TenantCtx,
        app: &str,
        opts: ChangeOptions,
        edit: F,
    ) -> Result<ChangeOut, Error>
    where
        F: FnOnce(&mut AppDef) -> Result<(), Error>,
    {
        self.change_app_recording(ctx, app, opts, edit, None).await
    }

    /// [`Engine::change_app`], recording with the new version the package it comes from (an
    /// upgrade). A package record that differs is stored even when the definition does not.
    pub(crate) async fn change_app_recording<F>(
        &self,
        ctx: &TenantCtx,
        app: &str,
        opts: ChangeOptions,
        edit: F,
        recording: Option<Recording>,
    ) -> Result<ChangeOut, Error>
    where
        F: FnOnce(&mut AppDef) -> Result<(), Error>,
    {
        ctx.require_admin()?;
        let name = Slug::from_path("app", app)?;
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        let row = system::app_by_name(&tx, ctx.tenant_id(), name.as_str())
            .await?
            .ok_or_else(|| app_missing(&name))?;
        // The precondition comes before what the change finds in the definition (RFC 9110,
        // 13.2.2): an editor who read an older version learns that first, not that their part
        // exists or is gone meanwhile.
        if let Some(v) = opts.if_match
            && v != row.version
        {
            return Err(stale_app(Some(row.version)));
        }
        let old = parse_stored(&row)?;
        let mut new = old.clone();
        edit(&mut new)?;
        // A definition read (secrets masked) and sent back keeps the stored secrets.
        trellis_core::automation::keep_masked_secrets(&old.rules, &mut new.rules);
        reissue_new_ids(Some(&old), &mut new);
        // Re-check the whole definition against the schema, then the semantic rules.
        let as_json = serde_json::to_value(&new).map_err(|e| Error::internal(e.to_string()))?;
        parse_app(&as_json)?;
        validate_whole(&new, &self.rules)?;
        self.check_calendars(&tx, ctx, &new, &Recording::calendar_names(recording.as_ref()))
            .await?;
        let loaded = LoadedApp::load(&self.rules, &row.id, new.clone(), row.version + 1)?;
        let mut steps = plan(Some(&old), &new);
        // Every difference must be stored, even one the plan has no words for.
        if steps.is_empty() && old != new {
            steps.push(Step::Metadata {
                entity: None,
                field: None,
                change: "change the definition".into(),
            });
        }
        let mut summary: Vec<StepSummary> = steps.iter().map(Step::summary).collect();
        for (step, s) in steps.iter().zip(summary.iter_mut()) {
            s.rows = ddl::rows_touched(&tx, step).await?;
        }
        if steps.is_empty() {
            let mut applied = false;
            if let Some(r) = &recording
                && !opts.dry_run
                && (!same_origin(trellis_store::packages::of_app(&tx, &row.id).await?.as_ref(), &r.origin)
                    || !r.calendars.is_empty())
            {
                r.store(&tx, ctx.tenant_id(), &row.id).await?;
                tx.commit().await.map_err(StoreError::from)?;
                applied = true;
            }
            return Ok(ChangeOut {
                applied,
                version: row.version,
                plan: summary,
            });
        }
        // A dry run applies the plan too, then rolls back: it finds the values a conversion would lose.
        ddl::apply(&tx, &steps, opts.allow_data_loss).await?;
        crate::records::rollups::fill_changed(&tx, Some(&old), &loaded.compiled).await?;
        self.fill_formulas(&tx, ctx, &old, &loaded).await?;
        crate::pipelines::reconcile(&tx, ctx.tenant_id(), &old, &loaded).await?;
        if old.rules != new.rules {
            crate::automation::schedule::sync_cron(&tx, ctx.tenant_id(), &row.id, &new).await?;
        }
        if opts.dry_run {
            tx.rollback().await.map_err(StoreError::from)?;
            return Ok(ChangeOut {
                applied: false,
                version: row.version,
                plan: summary,
            });
        }
        let now = trellis_core::value::now_micros();
        let definition = serde_json::to_string(&new).map_err(|e| Error::internal(e.to_string()))?;
        let next = AppRow {
            version: row.version + 1,
            definition: definition.clone(),
            updated_at: now,
            ..row.clone()
        };
        if !system::update_app(&tx, &next, row.version).await? {
            if opts.if_match.is_some() {
                return Err(stale_app(None));
            }
            return Err(Error::conflict(
                "the app was changed by someone else meanwhile; read it again and retry",
            ));
        }
        system::insert_app_version(&tx, &row.id, next.version, &definition, Some(ctx.user_id()), now).await?;
        if let Some(r) = &recording {
            r.store(&tx, ctx.tenant_id(), &row.id).await?;
        }
        let changed = serde_json::json!({"from_version": row.version, "version": next.version, "plan": summary});
        crate::audit::write(&tx, ctx, &row.id, "$app", &row.id, EventKind::AppChanged, changed).await?;
        tx.commit().await.map_err(StoreError::from)?;
        // An index made on a table with rows has no planner statistics until the table is
        // analysed; without them SQLite guesses and may ignore it.
        let mut indexed: Vec<String> = Vec::new();
        for step in &steps {
            if let Step::CreateIndex { entity, .. }
            | Step::CreateOwnerIndex { entity, .. }
            | Step::CreateCompositeIndex { entity, .. } = step
            {
                let table = trellis_core::compile::table_name(entity.storage_id());
                if !indexed.contains(&table) {
                    self.stats.refresh_now(&self.db, &table);
                    indexed.push(table);
                }
            }
        }
        self.registry.put(ctx.tenant_id(), Arc::new(loaded));
        Ok(ChangeOut {
            applied: true,
            version: next.version,
            plan: summary,
        })
    }

    /// PATCH of an app: label and description (the name is its address and stays).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn patch_app(
        &self,
        ctx: &TenantCtx,
        app: &str,
        body: &Value,
        opts: ChangeOptions,
    ) -> Result<ChangeOut, Error> {
        let obj = body
            .as_object()
            .ok_or_else(|| Error::bad_request("the body must be a JSON object"))?;
        no_key(obj, "entities", "entities")?;
        let body = body.clone();
        let app_name = app.to_string();
        self.change_app(ctx, app, opts, move |def| {
            let mut v = serde_json::to_value(&*def).map_err(|e| Error::internal(e.to_string()))?;
            merge_patch(&mut v, &body);
            let patched = parse_app(&v)?;
            if patched.name.as_str() != app_name {
                return Err(Error::validation(vec![FieldError::new(
                    "name",
                    FieldCode::ReadOnly,
                    "an app cannot be renamed",
                )]));
            }
            *def = patched;
            Ok(())
        })
        .await
    }

    /// Adds an entity (with its fields, if given).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn create_entity(
        &self,
        ctx: &TenantCtx,
        app: &str,
        mut entity: EntityDef,
        opts: ChangeOptions,
    ) -> Result<ChangeOut, Error> {
        forget_ids(&mut entity);
        self.change_app(ctx, app, opts, move |def| {
            if def.entity(entity.name.as_str()).is_some() {
                return Err(Error::conflict(format!("entity '{}' exists", entity.name))
                    .with_errors(vec![FieldError::new("name", FieldCode::Duplicate, "is taken")]));
            }
            def.entities.push(entity);
            Ok(())
        })
        .await
    }

    /// PATCH of an entity: name, labels, title field (fields have their own endpoints).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn patch_entity(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        body: &Value,
        opts: ChangeOptions,
    ) -> Result<ChangeOut, Error> {
        let obj = body
            .as_object()
            .ok_or_else(|| Error::bad_request("the body must be a JSON object"))?;
        no_key(obj, "fields", "fields")?;
        no_key(obj, "id", "the storage id")?;
        let (body, entity) = (body.clone(), entity.to_string());
        self.change_app(ctx, app, opts, move |def| {
            let old_name = entity.clone();
            let current = def.entity(&entity).ok_or_else(|| entity_missing(&entity))?;
            let mut v = serde_json::to_value(current).map_err(|e| Error::internal(e.to_string()))?;
            merge_patch(&mut v, &body);
            let patched: EntityDef = parse_entity(&v)?;
            let new_name = patched.name.clone();
            if new_name.as_str() != old_name && def.entity(new_name.as_str()).is_some() {
                return Err(Error::conflict(format!("entity '{new_name}' exists")));
            }
            *def.entity_mut(&old_name).expect("found above") = patched;
            // A rename keeps relations, rollups, views, forms and roles pointing at the entity.
            if new_name.as_str() != old_name {
                trellis_core::rename::entity_renamed(def, &old_name, &new_name);
            }
            Ok(())
        })
        .await
    }

    /// Deletes an entity and its records; refused while another entity's relation points at it.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn delete_entity(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        opts: ChangeOptions,
    ) -> Result<ChangeOut, Error> {
        let entity = entity.to_string();
        self.change_app(ctx, app, opts, move |def| {
            if def.entity(&entity).is_none() {
                return Err(entity_missing(&entity));
            }
            for e in def.entities.iter().filter(|e| e.name.as_str() != entity) {
                if let Some(f) = e
                    .fields
                    .iter()
                    .find(|f| f.target.as_ref().is_some_and(|t| t.as_str() == entity))
                {
                    return Err(Error::conflict(format!(
                        "'{}.{}' still points at '{entity}': remove that field first",
                        e.name, f.name
                    )));
                }
            }
            def.entities.retain(|e| e.name.as_str() != entity);
            Ok(())
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn create_field(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        mut field: FieldDef,
        opts: ChangeOptions,
    ) -> Result<ChangeOut, Error> {
        // A new field has no column yet: its id is the server's to give.
        field.id = None;
        let entity = entity.to_string();
        self.change_app(ctx, app, opts, move |def| {
            let e = def.entity_mut(&entity).ok_or_else(|| entity_missing(&entity))?;
            if e.field(field.name.as_str()).is_some() {
                return Err(Error::conflict(format!("field '{}' exists", field.name))
                    .with_errors(vec![FieldError::new("name", FieldCode::Duplicate, "is taken")]));
            }
            e.fields.push(field);
            Ok(())
        })
        .await
    }

    /// PATCH of a field (merge patch): rename, relabel, constraints, or a type change (planned;
    /// refused where values would be lost unless `allow_data_loss`).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn patch_field(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        field: &str,
        body: &Value,
        opts: ChangeOptions,
    ) -> Result<ChangeOut, Error> {
        if !body.is_object() {
            return Err(Error::bad_request("the body must be a JSON object"));
        }
        let (body, entity, field) = (body.clone(), entity.to_string(), field.to_string());
        self.change_app(ctx, app, opts, move |def| {
            let e = def.entity_mut(&entity).ok_or_else(|| entity_missing(&entity))?;
            let current = e
                .field(&field)
                .ok_or_else(|| Error::not_found(format!("field '{field}' does not exist")))?;
            // A field read with GET may be sent back: its own id is no change.
            if let Some(id) = body.get("id")
                && id.as_str() != current.id.as_ref().map(|i| i.as_str())
            {
                return Err(Error::validation(vec![FieldError::new(
                    "id",
                    FieldCode::ReadOnly,
                    "the storage id cannot be changed here",
                )]));
            }
            let mut v = serde_json::to_value(current).map_err(|e| Error::internal(e.to_string()))?;
            merge_patch(&mut v, &body);
            let patched: FieldDef = parse_field(&v)?;
            if patched.name.as_str() != field && e.field(patched.name.as_str()).is_some() {
                return Err(Error::conflict(format!("field '{}' exists", patched.name)));
            }
            let new_name = patched.name.clone();
            *e.field_mut(&field).expect("found above") = patched;
            // Everything that names the field follows a rename: the title, indexes, views,
            // forms, conditions, dashboards, rollups and the roles' settings of it.
            if new_name.as_str() != field {
                trellis_core::rename::field_renamed(def, &entity, &field, &new_name);
            }
            Ok(())
        })
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn delete_field(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        field: &str,
        opts: ChangeOptions,
    ) -> Result<ChangeOut, Error> {
        let (entity, field) = (entity.to_string(), field.to_string());
        self.change_app(ctx, app, opts, move |def| {
            let e = def.entity_mut(&entity).ok_or_else(|| entity_missing(&entity))?;
            if e.field(&field).is_none() {
                return Err(Error::not_found(format!("field '{field}' does not exist")));
            }
            if e.title_field.as_ref().is_some_and(|t| t.as_str() == field) {
                e.title_field = None;
            }
            e.fields.retain(|f| f.name.as_str() != field);
            // An index without one of its fields is another index: those naming it go too.
            e.indexes.retain(|i| !i.fields.iter().any(|f| f.as_str() == field));
            Ok(())
        })
        .await
    }
}

impl Engine {
    /// SLA calendars are tenant data: a pipeline may name only calendars the tenant has.
    async fn check_calendars<C: trellis_store::Reads>(
        &self,
        conn: &C,
        ctx: &TenantCtx,
        def: &AppDef,
        coming: &[&str],
    ) -> Result<(), Error> {
        let mut errors = Vec::new();
        for e in &def.entities {
            let Some(p) = &e.pipeline else { continue };
            for (i, s) in p.stages.iter().enumerate() {
                if let Some(name) = s.sla.as_ref().and_then(|x| x.calendar.as_ref())
                    && !coming.contains(&name.as_str())
                    && trellis_store::directory::calendar(conn, ctx.tenant_id(), name.as_str())
                        .await?
                        .is_none()
                {
                    errors.push(FieldError::new(
                        format!("entities.{}.pipeline.stages[{i}].sla.calendar", e.name),
                        FieldCode::UnknownCalendar,
                        format!("the tenant has no business calendar '{name}' (PUT /api/v1/calendars/{name})"),
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::validation(errors))
        }
    }
}

/// The semantic checks of a whole definition: the core's, then each rule action's own
/// ([`crate::automation::actions::check_rules`]) and the dashboards' queries
/// ([`crate::reports::check_dashboards`]); one 422 lists the problems of all.
fn validate_whole(def: &AppDef, scripts: &trellis_rules::RuleEngine) -> Result<(), Error> {
    let mut errors = Vec::new();
    if let Err(e) = validate_app(def) {
        if e.errors.is_empty() {
            return Err(e);
        }
        errors.extend(e.errors);
    }
    if let Err(e) = crate::automation::actions::check_rules(def, scripts) {
        if e.errors.is_empty() && errors.is_empty() {
            return Err(e);
        }
        errors.extend(e.errors);
    }
    crate::reports::check_dashboards(def, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::validation(errors))
    }
}
