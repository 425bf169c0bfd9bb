//! Parts of an app's definition with use cases of their own: roles, an entity's validation
//! rules, views, and whole rules replaced (rules are otherwise in [`rules`]). Each
//! change edits only its part of the stored definition and goes through the one versioned app
//! change ([`Engine::change_app`]): validated whole, planned, applied with its new version in
//! one transaction, refused with 412 when `If-Match` names an older version.

use serde_json::Value;
use trellis_core::def::{AppDef, RoleDef, ValidationRule};
use trellis_core::validate::{parse_role, parse_rule, parse_validation, parse_view};
use trellis_core::view::ViewDef;
use trellis_core::{Error, ErrorCode, FieldError};

use crate::apps::{ChangeOptions, ChangeOut};
use crate::directory::RoleEntry;
use crate::{Engine, TenantCtx};

/// A part as the caller reads it, and the app version it was read at (its `ETag`).
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub part: T,
    pub version: i64,
}

fn role_missing(name: &str) -> Error {
    Error::not_found(format!(
        "role '{}' does not exist",
        trellis_core::names::truncate(name, 64)
    ))
}

fn validation_missing(entity: &str, name: &str) -> Error {
    Error::not_found(format!(
        "entity '{}' has no validation rule '{}'",
        trellis_core::names::truncate(entity, 64),
        trellis_core::names::truncate(name, 64)
    ))
}

fn view_missing(name: &str) -> Error {
    Error::not_found(format!(
        "view '{}' does not exist",
        trellis_core::names::truncate(name, 64)
    ))
}

fn entity_missing(name: &str) -> Error {
    Error::not_found(format!(
        "entity '{}' does not exist",
        trellis_core::names::truncate(name, 64)
    ))
}

fn taken(what: &str, name: &str) -> Error {
    Error::conflict(format!("{what} '{name}' exists; replace it with PUT")).with_errors(vec![FieldError::new(
        "name",
        "duplicate",
        "is taken",
    )])
}

/// A replacing body names its part as the path does; a body without a name takes the path's.
fn named_as_path(body: &Value, name: &str, what: &str) -> Result<Value, Error> {
    let mut body = body.clone();
    let obj = body
        .as_object_mut()
        .ok_or_else(|| Error::bad_request("the body must be a JSON object"))?;
    match obj.get("name") {
        None => {
            obj.insert("name".into(), Value::String(name.to_string()));
        }
        Some(Value::String(n)) if n == name => {}
        Some(_) => {
            return Err(Error::validation(vec![FieldError::new(
                "name",
                "read_only",
                format!(
                    "must be '{}', the name in the path: a {what} is not renamed by replacing it",
                    trellis_core::names::truncate(name, 64)
                ),
            )]));
        }
    }
    Ok(body)
}

/// A removal has no body: what the rest of the definition still needs of the part is a
/// conflict with the current state (409, naming each place), not an invalid request.
fn as_conflict(e: Error) -> Error {
    if e.code == ErrorCode::ValidationFailed {
        Error::conflict(format!("the rest of the app still uses it: {}", e.detail)).with_errors(e.errors)
    } else {
        e
    }
}

impl Engine {
    /// The stored definition of an app as the caller may read it, and its version.
    async fn read_def(&self, ctx: &TenantCtx, app: &str) -> Result<(String, AppDef, i64), Error> {
        let (row, def) = self.app_and_def(ctx, app).await?;
        let def = self.def_for(&self.db.read, ctx, &row.id, &def).await?;
        Ok((row.id.clone(), def, row.version))
    }

    // -----------------------------------------------------------------------------------------
    // Roles
    // -----------------------------------------------------------------------------------------

    /// A role with its members, as the caller reads the definition.
    pub async fn get_role(&self, ctx: &TenantCtx, app: &str, role: &str) -> Result<Versioned<RoleEntry>, Error> {
        let (app_id, def, version) = self.read_def(ctx, app).await?;
        let r = def.role(role).ok_or_else(|| role_missing(role))?;
        Ok(Versioned {
            part: self.role_entry(&app_id, r).await?,
            version,
        })
    }

    /// Adds a role (409 when the app declares one of its name).
    pub async fn create_role(
        &self,
        ctx: &TenantCtx,
        app: &str,
        role: RoleDef,
        opts: ChangeOptions,
    ) -> Result<(ChangeOut, RoleDef), Error> {
        ctx.require_admin()?;
        let added = role.clone();
        let change = self
            .change_app(ctx, app, opts, move |def| {
                if def.role(role.name.as_str()).is_some() {
                    return Err(taken("role", role.name.as_str()));
                }
                def.roles.push(role);
                Ok(())
            })
            .await?;
        Ok((change, added))
    }

    /// Replaces a role in place (404 when there is none of the name). Its members stay.
    pub async fn put_role(
        &self,
        ctx: &TenantCtx,
        app: &str,
        role: &str,
        body: &Value,
        opts: ChangeOptions,
    ) -> Result<(ChangeOut, RoleDef), Error> {
        ctx.require_admin()?;
        let new = parse_role(&named_as_path(body, role, "role")?)?;
        let put = new.clone();
        let change = self
            .change_app(ctx, app, opts, move |def| {
                let slot = def
                    .roles
                    .iter_mut()
                    .find(|r| r.name == new.name)
                    .ok_or_else(|| role_missing(new.name.as_str()))?;
                *slot = new;
                Ok(())
            })
            .await?;
        Ok((change, put))
    }

    /// Takes a role out of the definition; refused (409) while a pipeline names it. Its
    /// members are kept: they hold it again if it is declared again.
    pub async fn delete_role(
        &self,
        ctx: &TenantCtx,
        app: &str,
        role: &str,
        opts: ChangeOptions,
    ) -> Result<ChangeOut, Error> {
        ctx.require_admin()?;
        let name = role.to_string();
        self.change_app(ctx, app, opts, move |def| {
            let before = def.roles.len();
            def.roles.retain(|r| r.name.as_str() != name);
            if def.roles.len() == before {
                return Err(role_missing(&name));
            }
            Ok(())
        })
        .await
        .map_err(as_conflict)
    }

    // -----------------------------------------------------------------------------------------
    // Validation rules of an entity
    // -----------------------------------------------------------------------------------------

    /// An entity's validation rules as the caller reads them (for a member: none that reads
    /// or reports on a field hidden from them).
    pub async fn list_validations(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
    ) -> Result<Versioned<Vec<ValidationRule>>, Error> {
        let (_, def, version) = self.read_def(ctx, app).await?;
        let e = def.entity(entity).ok_or_else(|| entity_missing(entity))?;
        Ok(Versioned {
            part: e.validations.clone(),
            version,
        })
    }

    /// One validation rule, as [`Engine::list_validations`] shows it (a hidden one: 404).
    pub async fn get_validation(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        name: &str,
    ) -> Result<Versioned<ValidationRule>, Error> {
        let all = self.list_validations(ctx, app, entity).await?;
        let rule = all
            .part
            .into_iter()
            .find(|r| r.name.as_str() == name)
            .ok_or_else(|| validation_missing(entity, name))?;
        Ok(Versioned {
            part: rule,
            version: all.version,
        })
    }

    /// Adds a validation rule to an entity (409 when it has one of the name); its scripts must
    /// compile.
    pub async fn create_validation(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        rule: ValidationRule,
        opts: ChangeOptions,
    ) -> Result<(ChangeOut, ValidationRule), Error> {
        ctx.require_admin()?;
        let added = rule.clone();
        let entity = entity.to_string();
        let change = self
            .change_app(ctx, app, opts, move |def| {
                let e = def.entity_mut(&entity).ok_or_else(|| entity_missing(&entity))?;
                if e.validations.iter().any(|r| r.name == rule.name) {
                    return Err(taken("validation rule", rule.name.as_str()));
                }
                e.validations.push(rule);
                Ok(())
            })
            .await?;
        Ok((change, added))
    }

    /// Replaces a validation rule in place (404 when the entity has none of the name).
    pub async fn put_validation(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        name: &str,
        body: &Value,
        opts: ChangeOptions,
    ) -> Result<(ChangeOut, ValidationRule), Error> {
        ctx.require_admin()?;
        let new = parse_validation(&named_as_path(body, name, "validation rule")?)?;
        let put = new.clone();
        let entity = entity.to_string();
        let change = self
            .change_app(ctx, app, opts, move |def| {
                let e = def.entity_mut(&entity).ok_or_else(|| entity_missing(&entity))?;
                let slot = e
                    .validations
                    .iter_mut()
                    .find(|r| r.name == new.name)
                    .ok_or_else(|| validation_missing(&entity, new.name.as_str()))?;
                *slot = new;
                Ok(())
            })
            .await?;
        Ok((change, put))
    }

    pub async fn delete_validation(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        name: &str,
        opts: ChangeOptions,
    ) -> Result<ChangeOut, Error> {
        ctx.require_admin()?;
        let (entity, name) = (entity.to_string(), name.to_string());
        self.change_app(ctx, app, opts, move |def| {
            let e = def.entity_mut(&entity).ok_or_else(|| entity_missing(&entity))?;
            let before = e.validations.len();
            e.validations.retain(|r| r.name.as_str() != name);
            if e.validations.len() == before {
                return Err(validation_missing(&entity, &name));
            }
            Ok(())
        })
        .await
        .map_err(as_conflict)
    }

    // -----------------------------------------------------------------------------------------
    // Views
    // -----------------------------------------------------------------------------------------

    /// The app's shared views as the caller reads them ([`trellis_core::view::visible_views`]).
    pub async fn list_views(&self, ctx: &TenantCtx, app: &str) -> Result<Versioned<Vec<ViewDef>>, Error> {
        let (_, def, version) = self.read_def(ctx, app).await?;
        Ok(Versioned {
            part: def.views,
            version,
        })
    }

    /// One view, as [`Engine::list_views`] shows it (one left out for the caller: 404).
    pub async fn get_view(&self, ctx: &TenantCtx, app: &str, view: &str) -> Result<Versioned<ViewDef>, Error> {
        let all = self.list_views(ctx, app).await?;
        let part = all
            .part
            .into_iter()
            .find(|v| v.name.as_str() == view)
            .ok_or_else(|| view_missing(view))?;
        Ok(Versioned {
            part,
            version: all.version,
        })
    }

    /// Adds a view (409 when the app has one of the name).
    pub async fn create_view(
        &self,
        ctx: &TenantCtx,
        app: &str,
        view: ViewDef,
        opts: ChangeOptions,
    ) -> Result<(ChangeOut, ViewDef), Error> {
        ctx.require_admin()?;
        let added = view.clone();
        let change = self
            .change_app(ctx, app, opts, move |def| {
                if def.view(view.name.as_str()).is_some() {
                    return Err(taken("view", view.name.as_str()));
                }
                def.views.push(view);
                Ok(())
            })
            .await?;
        Ok((change, added))
    }

    /// Replaces a view in place (404 when there is none of the name).
    pub async fn put_view(
        &self,
        ctx: &TenantCtx,
        app: &str,
        view: &str,
        body: &Value,
        opts: ChangeOptions,
    ) -> Result<(ChangeOut, ViewDef), Error> {
        ctx.require_admin()?;
        let new = parse_view(&named_as_path(body, view, "view")?)?;
        let put = new.clone();
        let change = self
            .change_app(ctx, app, opts, move |def| {
                let slot = def
                    .views
                    .iter_mut()
                    .find(|v| v.name == new.name)
                    .ok_or_else(|| view_missing(new.name.as_str()))?;
                *slot = new;
                Ok(())
            })
            .await?;
        Ok((change, put))
    }

    pub async fn delete_view(
        &self,
        ctx: &TenantCtx,
        app: &str,
        view: &str,
        opts: ChangeOptions,
    ) -> Result<ChangeOut, Error> {
        ctx.require_admin()?;
        let name = view.to_string();
        self.change_app(ctx, app, opts, move |def| {
            let before = def.views.len();
            def.views.retain(|v| v.name.as_str() != name);
            if def.views.len() == before {
                return Err(view_missing(&name));
            }
            Ok(())
        })
        .await
        .map_err(as_conflict)
    }

    // -----------------------------------------------------------------------------------------
    // Rules, replaced whole
    // -----------------------------------------------------------------------------------------

    /// Replaces a rule (`rule.schema.json`) in place (404 when there is none of the name); a
    /// masked secret sent back keeps the stored one.
    pub async fn put_rule(
        &self,
        ctx: &TenantCtx,
        app: &str,
        rule: &str,
        body: &Value,
        opts: ChangeOptions,
    ) -> Result<ChangeOut, Error> {
        ctx.require_admin()?;
        let new = parse_rule(&named_as_path(body, rule, "rule")?)?;
        self.change_app(ctx, app, opts, move |def| {
            let slot = def.rules.iter_mut().find(|r| r.name == new.name).ok_or_else(|| {
                Error::not_found(format!(
                    "rule '{}' does not exist",
                    trellis_core::names::truncate(new.name.as_str(), 64)
                ))
            })?;
            *slot = new;
            Ok(())
        })
        .await
    }
}
