//! Parts of an app's definition with use cases of their own: roles, an entity's validation
//! rules, views, and whole rules replaced (rules are otherwise in [`rules`]). Each
//! change edits only its part of the stored definition and goes through the one versioned app
//! change ([`Engine::change_app`]): validated whole, planned, applied with its new version in
//! one transaction, refused with 412 when `If-Match` names an older version.

use serde_json::Value;
use trellis_core::def::{AppDef, RoleDef, ValidationRule};
use trellis_core::error::FieldCode;
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
        FieldCode::Duplicate,
        "is taken",
    )])
}

/// A replacing body names its part as the path does; a body without a name takes the path's.
pub(super) fn named_as_path(body: &Value, name: &str, what: &str) -> Result<Value, Error> {
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
                FieldCode::ReadOnly,
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

/// A named part of a definition kept in a list: roles, views and rules of the app, validation
/// rules of an entity (`Scope` names the entity). Adding, replacing and removing one is written
/// once, below, for all of them.
pub(super) trait Part: Clone + Send + 'static {
    /// What a user calls it, in errors (`role`, `validation rule`).
    const WHAT: &'static str;
    /// Parses a replacing body (its schema check, then serde).
    fn parse(body: &Value) -> Result<Self, Error>;
    fn name(&self) -> &str;
    /// The list it lives in.
    fn list<'d>(def: &'d mut AppDef, scope: &str) -> Result<&'d mut Vec<Self>, Error>;
    /// The 404 of a name not in the list.
    fn missing(scope: &str, name: &str) -> Error;
    /// Its package key, for parts that have one ([`trellis_core::package`]).
    fn key_mut(&mut self) -> Option<&mut Option<trellis_core::Slug>> {
        None
    }
}

impl Part for RoleDef {
    const WHAT: &'static str = "role";
    fn parse(body: &Value) -> Result<Self, Error> {
        parse_role(body)
    }
    fn key_mut(&mut self) -> Option<&mut Option<trellis_core::Slug>> {
        Some(&mut self.key)
    }
    fn name(&self) -> &str {
        self.name.as_str()
    }
    fn list<'d>(def: &'d mut AppDef, _: &str) -> Result<&'d mut Vec<Self>, Error> {
        Ok(&mut def.roles)
    }
    fn missing(_: &str, name: &str) -> Error {
        role_missing(name)
    }
}

impl Part for ValidationRule {
    const WHAT: &'static str = "validation rule";
    fn parse(body: &Value) -> Result<Self, Error> {
        parse_validation(body)
    }
    fn name(&self) -> &str {
        self.name.as_str()
    }
    fn list<'d>(def: &'d mut AppDef, entity: &str) -> Result<&'d mut Vec<Self>, Error> {
        Ok(&mut def
            .entity_mut(entity)
            .ok_or_else(|| entity_missing(entity))?
            .validations)
    }
    fn missing(entity: &str, name: &str) -> Error {
        validation_missing(entity, name)
    }
}

impl Part for ViewDef {
    const WHAT: &'static str = "view";
    fn parse(body: &Value) -> Result<Self, Error> {
        parse_view(body)
    }
    fn key_mut(&mut self) -> Option<&mut Option<trellis_core::Slug>> {
        Some(&mut self.key)
    }
    fn name(&self) -> &str {
        self.name.as_str()
    }
    fn list<'d>(def: &'d mut AppDef, _: &str) -> Result<&'d mut Vec<Self>, Error> {
        Ok(&mut def.views)
    }
    fn missing(_: &str, name: &str) -> Error {
        view_missing(name)
    }
}

impl Part for trellis_core::automation::RuleDef {
    const WHAT: &'static str = "rule";
    fn parse(body: &Value) -> Result<Self, Error> {
        parse_rule(body)
    }
    fn key_mut(&mut self) -> Option<&mut Option<trellis_core::Slug>> {
        Some(&mut self.key)
    }
    fn name(&self) -> &str {
        self.name.as_str()
    }
    fn list<'d>(def: &'d mut AppDef, _: &str) -> Result<&'d mut Vec<Self>, Error> {
        Ok(&mut def.rules)
    }
    fn missing(_: &str, name: &str) -> Error {
        Error::not_found(format!(
            "rule '{}' does not exist",
            trellis_core::names::truncate(name, 64)
        ))
    }
}

impl Engine {
    /// Adds `part` under `scope` (409 when one of its name is there).
    pub(super) async fn add_part<P: Part>(
        &self,
        ctx: &TenantCtx,
        app: &str,
        scope: &str,
        part: P,
        opts: ChangeOptions,
    ) -> Result<(ChangeOut, P), Error> {
        ctx.require_admin()?;
        let added = part.clone();
        let scope = scope.to_string();
        let change = self
            .change_app(ctx, app, opts, move |def| {
                let list = P::list(def, &scope)?;
                if list.iter().any(|p| p.name() == part.name()) {
                    return Err(taken(P::WHAT, part.name()));
                }
                list.push(part);
                Ok(())
            })
            .await?;
        Ok((change, added))
    }

    /// Replaces the part `name` under `scope` in place with `body` (404 when there is none; a
    /// body naming another part: 422).
    async fn replace_part<P: Part>(
        &self,
        ctx: &TenantCtx,
        app: &str,
        scope: &str,
        name: &str,
        body: &Value,
        opts: ChangeOptions,
    ) -> Result<(ChangeOut, P), Error> {
        ctx.require_admin()?;
        let new = P::parse(&named_as_path(body, name, P::WHAT)?)?;
        let put = new.clone();
        let scope = scope.to_string();
        let change = self
            .change_app(ctx, app, opts, move |def| {
                let slot = P::list(def, &scope)?
                    .iter_mut()
                    .find(|p| p.name() == new.name())
                    .ok_or_else(|| P::missing(&scope, new.name()))?;
                let mut new = new;
                // A part replaced without its package key keeps it: the key is its identity
                // for package upgrades, as a storage id is an entity's.
                if let (Some(old), Some(key)) = (slot.key_mut().map(|k| k.clone()), new.key_mut())
                    && key.is_none()
                {
                    *key = old;
                }
                *slot = new;
                Ok(())
            })
            .await?;
        Ok((change, put))
    }

    /// Takes the part `name` out of its list; what the rest of the definition still needs of
    /// it is a conflict (409, naming each place).
    async fn remove_part<P: Part>(
        &self,
        ctx: &TenantCtx,
        app: &str,
        scope: &str,
        name: &str,
        opts: ChangeOptions,
    ) -> Result<ChangeOut, Error> {
        ctx.require_admin()?;
        let (scope, name) = (scope.to_string(), name.to_string());
        self.change_app(ctx, app, opts, move |def| {
            let list = P::list(def, &scope)?;
            let before = list.len();
            list.retain(|p| p.name() != name);
            if list.len() == before {
                return Err(P::missing(&scope, &name));
            }
            Ok(())
        })
        .await
        .map_err(as_conflict)
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
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn get_role(&self, ctx: &TenantCtx, app: &str, role: &str) -> Result<Versioned<RoleEntry>, Error> {
        let (app_id, def, version) = self.read_def(ctx, app).await?;
        let r = def.role(role).ok_or_else(|| role_missing(role))?;
        Ok(Versioned {
            part: self.role_entry(&app_id, r).await?,
            version,
        })
    }

    /// Adds a role (409 when the app declares one of its name).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn create_role(
        &self,
        ctx: &TenantCtx,
        app: &str,
        role: RoleDef,
        opts: ChangeOptions,
    ) -> Result<(ChangeOut, RoleDef), Error> {
        self.add_part(ctx, app, "", role, opts).await
    }

    /// Replaces a role in place (404 when there is none of the name). Its members stay.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn put_role(
        &self,
        ctx: &TenantCtx,
        app: &str,
        role: &str,
        body: &Value,
        opts: ChangeOptions,
    ) -> Result<(ChangeOut, RoleDef), Error> {
        self.replace_part(ctx, app, "", role, body, opts).await
    }

    /// Takes a role out of the definition; refused (409) while a pipeline names it. Its
    /// members are kept: they hold it again if it is declared again.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn delete_role(
        &self,
        ctx: &TenantCtx,
        app: &str,
        role: &str,
        opts: ChangeOptions,
    ) -> Result<ChangeOut, Error> {
        self.remove_part::<RoleDef>(ctx, app, "", role, opts).await
    }

    // -----------------------------------------------------------------------------------------
    // Validation rules of an entity
    // -----------------------------------------------------------------------------------------

    /// An entity's validation rules as the caller reads them (for a member: none that reads
    /// or reports on a field hidden from them).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
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
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
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
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn create_validation(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        rule: ValidationRule,
        opts: ChangeOptions,
    ) -> Result<(ChangeOut, ValidationRule), Error> {
        self.add_part(ctx, app, entity, rule, opts).await
    }

    /// Replaces a validation rule in place (404 when the entity has none of the name).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn put_validation(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        name: &str,
        body: &Value,
        opts: ChangeOptions,
    ) -> Result<(ChangeOut, ValidationRule), Error> {
        self.replace_part(ctx, app, entity, name, body, opts).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn delete_validation(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        name: &str,
        opts: ChangeOptions,
    ) -> Result<ChangeOut, Error> {
        self.remove_part::<ValidationRule>(ctx, app, entity, name, opts).await
    }

    // -----------------------------------------------------------------------------------------
    // Views
    // -----------------------------------------------------------------------------------------

    /// The app's shared views as the caller reads them ([`trellis_core::view::visible_views`]).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn list_views(&self, ctx: &TenantCtx, app: &str) -> Result<Versioned<Vec<ViewDef>>, Error> {
        let (_, def, version) = self.read_def(ctx, app).await?;
        Ok(Versioned {
            part: def.views,
            version,
        })
    }

    /// One view, as [`Engine::list_views`] shows it (one left out for the caller: 404).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
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
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn create_view(
        &self,
        ctx: &TenantCtx,
        app: &str,
        view: ViewDef,
        opts: ChangeOptions,
    ) -> Result<(ChangeOut, ViewDef), Error> {
        self.add_part(ctx, app, "", view, opts).await
    }

    /// Replaces a view in place (404 when there is none of the name).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn put_view(
        &self,
        ctx: &TenantCtx,
        app: &str,
        view: &str,
        body: &Value,
        opts: ChangeOptions,
    ) -> Result<(ChangeOut, ViewDef), Error> {
        self.replace_part(ctx, app, "", view, body, opts).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn delete_view(
        &self,
        ctx: &TenantCtx,
        app: &str,
        view: &str,
        opts: ChangeOptions,
    ) -> Result<ChangeOut, Error> {
        self.remove_part::<ViewDef>(ctx, app, "", view, opts).await
    }

    // -----------------------------------------------------------------------------------------
    // Rules, replaced whole
    // -----------------------------------------------------------------------------------------

    /// Replaces a rule (`rule.schema.json`) in place (404 when there is none of the name); a
    /// masked secret sent back keeps the stored one.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, rule = %rule))]
    pub async fn put_rule(
        &self,
        ctx: &TenantCtx,
        app: &str,
        rule: &str,
        body: &Value,
        opts: ChangeOptions,
    ) -> Result<ChangeOut, Error> {
        self.replace_part::<trellis_core::automation::RuleDef>(ctx, app, "", rule, body, opts)
            .await
            .map(|(change, _)| change)
    }
}
