//! App packages: install a package as a new app, upgrade an app installed from one with a
//! three-way merge ([`trellis_core::merge`]), and export an app as a package.
//!
//! The installed package version's file (canonical JSON) is kept beside the app
//! (`trellis_store::packages`): it is the base of the next upgrade's merge, and it says which
//! package version each element was last taken from.

use serde::Serialize;
use serde_json::{Map, Value};
use trellis_core::def::AppDef;
use trellis_core::error::FieldCode;
use trellis_core::merge::{Conflict, Prefer, merge_apps};
use trellis_core::package::{self, ChangeKind, ElementChange, ElementKind, PackageDef};
use trellis_core::plan::StepSummary;
use trellis_core::{Error, FieldError, Slug};
use trellis_store::packages::{self as stored, AppPackageRow};
use trellis_store::{ddl, system};

use super::{ChangeOptions, Recording};
use crate::Engine;
use crate::compiled::parse_stored;
use crate::context::TenantCtx;

/// How a package is installed.
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    /// The app to install it as (default: the package's app name).
    pub app: Option<String>,
    /// Plan only: nothing is stored.
    pub dry_run: bool,
    /// Drop the entities and fields the package removes, with their data; without it they are
    /// kept.
    pub allow_data_loss: bool,
    /// Whose value a property both changed keeps.
    pub prefer: Prefer,
}

/// What an install or upgrade did, or on a dry run would do.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InstallOut {
    /// The app it installs or upgrades.
    pub app: String,
    pub package: String,
    /// The package version installed.
    pub version: String,
    /// The package version the app was at (absent: a new app).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub from_version: Option<String>,
    /// Whether anything was stored (false on a dry run, or when there was nothing to change).
    pub applied: bool,
    /// The app definition's version after it (the current one when nothing was applied; on a
    /// dry run of a new app, 0).
    pub app_version: i64,
    /// The elements added, renamed, changed, removed and kept.
    pub changes: Vec<ElementChange>,
    /// The properties both the tenant and the package changed, and whose value was kept.
    pub conflicts: Vec<Conflict>,
    /// The table steps, with the records each destructive one touches.
    pub plan: Vec<StepSummary>,
}

fn conflict(code: FieldCode, field: &str, detail: String) -> Error {
    Error::conflict(detail.clone()).with_errors(vec![FieldError::new(field, code, detail)])
}

/// Each element's path (by key) in a package's app: `entities.lead`, `entities.lead.fields.title`,
/// `roles.rep`, … with its definition.
fn elements(app: &AppDef) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for e in &app.entities {
        let key = e.key.as_ref().unwrap_or(&e.name);
        let mut body = v(e);
        if let Some(o) = body.as_object_mut() {
            o.remove("fields");
        }
        out.push((format!("entities.{key}"), body));
        for f in &e.fields {
            out.push((
                format!("entities.{key}.fields.{}", f.key.as_ref().unwrap_or(&f.name)),
                v(f),
            ));
        }
    }
    macro_rules! list {
        ($kind:literal, $items:expr) => {
            for x in &$items {
                out.push((format!("{}.{}", $kind, x.key.as_ref().unwrap_or(&x.name)), v(x)));
            }
        };
    }
    list!("roles", app.roles);
    list!("rules", app.rules);
    list!("views", app.views);
    list!("forms", app.forms);
    list!("dashboards", app.dashboards);
    out
}

fn v<T: Serialize>(x: &T) -> Value {
    serde_json::to_value(x).expect("definitions serialise")
}

/// The package version each element of `theirs` was last changed in: `version` for an element
/// that is new or differs from `base`, its earlier origin otherwise.
fn origins(
    base: Option<&AppDef>,
    theirs: &AppDef,
    before: &Map<String, Value>,
    base_version: &str,
    version: &str,
) -> Value {
    let old: std::collections::HashMap<String, Value> = base.map(elements).unwrap_or_default().into_iter().collect();
    let mut out = Map::new();
    for (path, body) in elements(theirs) {
        let since = match old.get(&path) {
            Some(b) if *b == body => before
                .get(&path)
                .cloned()
                .unwrap_or_else(|| Value::String(base_version.to_string())),
            _ => Value::String(version.to_string()),
        };
        out.insert(path, since);
    }
    Value::Object(out)
}

/// The package file as it is kept: canonical JSON.
fn base_text(pkg: &PackageDef, app: &AppDef) -> Result<String, Error> {
    let mut p = pkg.clone();
    p.app = app.clone();
    let v = serde_json::to_value(&p).map_err(|e| Error::internal(e.to_string()))?;
    Ok(package::canonical_text(&v))
}

impl Engine {
    /// Installs a package (`app-package.schema.json`) as a new app, or upgrades the app
    /// installed from an earlier version of it by a three-way merge. One transaction; a dry run
    /// answers the same plan and stores nothing.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn install_package(
        &self,
        ctx: &TenantCtx,
        body: &Value,
        opts: InstallOptions,
    ) -> Result<InstallOut, Error> {
        ctx.require_admin()?;
        let pkg = package::parse_package(body)?;
        let name = match &opts.app {
            Some(a) => Slug::parse(a)
                .map_err(|m| Error::validation(vec![FieldError::new("app", FieldCode::InvalidName, m)]))?,
            None => pkg.app.name.clone(),
        };
        let theirs = package::app_of(&pkg, Some(&name));
        let version = pkg.version.clone();
        let now = trellis_core::value::now_micros();
        // The calendars the package brings that the tenant lacks; the tenant's own stay.
        let mut calendars = Vec::new();
        let mut calendar_changes = Vec::new();
        for (cal, def) in &pkg.calendars {
            if trellis_store::directory::calendar(&self.db.read, ctx.tenant_id(), cal.as_str())
                .await?
                .is_none()
            {
                let text = serde_json::to_string(def).map_err(|e| Error::internal(e.to_string()))?;
                calendars.push((cal.clone(), text));
                calendar_changes.push(ElementChange {
                    kind: ElementKind::Calendar,
                    change: ChangeKind::Added,
                    name: cal.to_string(),
                    entity: None,
                    from: None,
                    key: None,
                    label: None,
                    rows: None,
                });
            }
        }
        let row = system::app_by_name(&self.db.read, ctx.tenant_id(), name.as_str()).await?;
        let Some(row) = row else {
            let origin = AppPackageRow {
                app_id: String::new(),
                tenant_id: ctx.tenant_id().to_string(),
                package: pkg.package.to_string(),
                version: version.clone(),
                base: base_text(&pkg, &theirs)?,
                origins: origins(None, &theirs, &Map::new(), &version, &version).to_string(),
                installed_at: now,
                updated_at: now,
            };
            let (out, plan) = self
                .create_app_recording(ctx, theirs.clone(), Some(Recording { origin, calendars }), opts.dry_run)
                .await?;
            let mut changes = calendar_changes;
            changes.extend(package::element_changes(None, &theirs));
            return Ok(InstallOut {
                app: name.to_string(),
                package: pkg.package.to_string(),
                version,
                from_version: None,
                applied: !opts.dry_run,
                app_version: if opts.dry_run { 0 } else { out.version },
                changes,
                conflicts: Vec::new(),
                plan,
            });
        };
        let Some(record) = stored::of_app(&self.db.read, &row.id).await? else {
            return Err(conflict(
                FieldCode::Conflict,
                "app",
                format!(
                    "app '{name}' exists and was not installed from a package; install the package under another name (app=…)"
                ),
            ));
        };
        if record.package != pkg.package.as_str() {
            return Err(conflict(
                FieldCode::Conflict,
                "package",
                format!(
                    "app '{name}' was installed from package '{}', not '{}'",
                    record.package, pkg.package
                ),
            ));
        }
        let installed = semver::Version::parse(&record.version).map_err(|e| Error::internal(e.to_string()))?;
        if pkg.semver() < installed {
            return Err(conflict(
                FieldCode::OutOfRange,
                "version",
                format!(
                    "app '{name}' is at version {} of package '{}'; {version} is older",
                    record.version, pkg.package
                ),
            ));
        }
        let base_pkg: PackageDef = serde_json::from_str(&record.base).map_err(|e| Error::internal(e.to_string()))?;
        let base = base_pkg.app;
        let ours = parse_stored(&row)?;
        let before: Map<String, Value> = serde_json::from_str(&record.origins).unwrap_or_default();
        // Merged against the definition as read; the change applies only to that version.
        let merged = merge_apps(&base, &theirs, &ours, opts.prefer, opts.allow_data_loss)?;
        // What the package removed but the app keeps stays in the base, so the next upgrade
        // may still drop it (with data loss allowed).
        let mut recorded = theirs.clone();
        for k in &merged.kept {
            let Some(be) = base.entity(&k.entity) else { continue };
            match k.field.as_deref() {
                None => recorded.entities.push(be.clone()),
                Some(f) => {
                    if let (Some(bf), Some(re)) = (be.field(f), recorded.entities.iter_mut().find(|e| e.key == be.key))
                    {
                        re.fields.push(bf.clone());
                    }
                }
            }
        }
        let origin = AppPackageRow {
            app_id: row.id.clone(),
            tenant_id: ctx.tenant_id().to_string(),
            package: pkg.package.to_string(),
            version: version.clone(),
            base: base_text(&pkg, &recorded)?,
            origins: origins(Some(&base), &theirs, &before, &record.version, &version).to_string(),
            installed_at: record.installed_at,
            updated_at: now,
        };
        let change = self
            .change_app_recording(
                ctx,
                name.as_str(),
                ChangeOptions {
                    dry_run: opts.dry_run,
                    allow_data_loss: opts.allow_data_loss,
                    // What was merged is what was read: a change made meanwhile answers 412.
                    if_match: Some(row.version),
                },
                |def| {
                    *def = merged.app.clone();
                    Ok(())
                },
                Some(Recording { origin, calendars }),
            )
            .await?;
        let mut changes = calendar_changes;
        changes.extend(package::element_changes(Some(&ours), &merged.app));
        for k in &merged.kept {
            let Some(entity) = ours.entity(&k.entity) else { continue };
            let field = k.field.as_deref().and_then(|f| entity.field(f));
            let rows = ddl::values_held(&self.db.read, entity, field).await?;
            changes.push(ElementChange {
                kind: if field.is_some() {
                    ElementKind::Field
                } else {
                    ElementKind::Entity
                },
                change: ChangeKind::Kept,
                name: field.map_or(entity.name.to_string(), |f| f.name.to_string()),
                entity: field.map(|_| entity.name.to_string()),
                from: None,
                key: field
                    .map_or(entity.key.as_ref(), |f| f.key.as_ref())
                    .map(|k| k.to_string()),
                label: Some(field.map_or(&entity.label, |f| &f.label).clone()),
                rows: Some(rows),
            });
        }
        Ok(InstallOut {
            app: name.to_string(),
            package: pkg.package.to_string(),
            version,
            from_version: Some(record.version),
            applied: change.applied,
            app_version: change.version,
            changes,
            conflicts: merged.conflicts,
            plan: change.plan,
        })
    }

    /// An app as a package (canonical JSON): the package and version it was installed from
    /// unless named here (else the app's name and 1.0.0), elements keyed, storage ids left out,
    /// secrets masked. For administrators, who read the whole definition.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn export_package(
        &self,
        ctx: &TenantCtx,
        app: &str,
        package_name: Option<&str>,
        version: Option<&str>,
    ) -> Result<String, Error> {
        ctx.require_admin()?;
        let name = Slug::from_path("app", app)?;
        let row = system::app_by_name(&self.db.read, ctx.tenant_id(), name.as_str())
            .await?
            .ok_or_else(|| super::app_missing(&name))?;
        let def = trellis_core::automation::masked_app(&parse_stored(&row)?);
        let record = stored::of_app(&self.db.read, &row.id).await?;
        let base: Option<PackageDef> = record.as_ref().and_then(|r| serde_json::from_str(&r.base).ok());
        let pname = match package_name {
            Some(p) => Slug::parse(p)
                .map_err(|m| Error::validation(vec![FieldError::new("package", FieldCode::InvalidName, m)]))?,
            None => record
                .as_ref()
                .and_then(|r| Slug::parse(&r.package).ok())
                .unwrap_or_else(|| name.clone()),
        };
        let version = match version {
            Some(v) => {
                semver::Version::parse(v).map_err(|e| {
                    Error::validation(vec![FieldError::new(
                        "version",
                        FieldCode::Format,
                        format!("is not a semantic version: {e}"),
                    )])
                })?;
                v.to_string()
            }
            None => record.as_ref().map_or("1.0.0".to_string(), |r| r.version.clone()),
        };
        // The calendars its SLAs count on, as the tenant has them now.
        let mut calendars = std::collections::BTreeMap::new();
        for e in &def.entities {
            for stage in e.pipeline.iter().flat_map(|p| &p.stages) {
                let Some(cal) = stage.sla.as_ref().and_then(|s| s.calendar.as_ref()) else {
                    continue;
                };
                if let Some(text) =
                    trellis_store::directory::calendar(&self.db.read, ctx.tenant_id(), cal.as_str()).await?
                {
                    let c: trellis_core::calendar::CalendarDef =
                        serde_json::from_str(&text).map_err(|e| Error::internal(e.to_string()))?;
                    calendars.insert(cal.clone(), c);
                }
            }
        }
        let v = package::export(
            &def,
            &pname,
            &version,
            base.as_ref().and_then(|b| b.label.as_ref()),
            base.as_ref().and_then(|b| b.description.as_ref()),
            calendars,
        );
        Ok(package::canonical_text(&v))
    }
}
