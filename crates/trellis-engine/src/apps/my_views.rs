//! Personal views: each user's own views of an app's entities (`view.schema.json`, as shared
//! views), kept per user (`sys_personal_views`) rather than in the app definition. Only their
//! owner lists, reads and changes them.
//!
//! They are checked against the app as their owner reads it: the entity must be one the owner
//! may read and every field one they see (a field hidden from them is unknown, 422), and their
//! filter runs through the owner's row scope when a list uses it (it is only a list filter).
//!
//! The plan of an app change checks shared views only, so the definition may move on under a
//! personal view. A personal view is read against the app as it is then, and never breaks a
//! read: columns and sort keys of fields the owner no longer sees (deleted, renamed or hidden
//! from them since) are left out; a filter, grouping or date field naming one is left out and
//! the view is marked `broken`; `gone` names the fields the view named that the entity no
//! longer has (never a field that is only hidden from the owner). A view of an entity the owner
//! may no longer read is left out of the list (it can still be removed).

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use trellis_core::compile::CompiledEntity;
use trellis_core::def::AppDef;
use trellis_core::error::FieldCode;
use trellis_core::permissions::Right;
use trellis_core::validate::parse_view;
use trellis_core::view::{ViewDef, validate_views};
use trellis_core::{Error, FieldError};
use trellis_store::StoreError;
use trellis_store::personal_views::{self, PersonalViewRow};
use utoipa::ToSchema;

use crate::compiled::scripts::LoadedApp;
use crate::{Engine, TenantCtx};

/// How many personal views a user may keep in one app.
pub const MAX_PERSONAL_VIEWS: i64 = 100;

/// A personal view as its owner reads it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonalView {
    /// The view as its owner reads it today.
    pub view: ViewDef,
    /// Its filter, grouping or date field named a field the owner no longer sees, and was left
    /// out.
    pub broken: bool,
    /// Fields the view names that its entity no longer has (deleted or renamed).
    pub gone: Vec<String>,
    pub updated_at: DateTime<Utc>,
}

fn view_missing(name: &str) -> Error {
    Error::not_found(format!(
        "you have no view '{}'",
        trellis_core::names::truncate(name, 64)
    ))
}

/// The index in a path such as `columns[3].field` after `prefix` (`columns[`).
fn index_in(path: &str, prefix: &str) -> Option<usize> {
    path.strip_prefix(prefix)?.split(']').next()?.parse().ok()
}

/// Every `field` a filter names.
fn filter_fields(filter: &Value, out: &mut BTreeSet<String>) {
    match filter {
        Value::Object(o) => {
            if let Some(f) = o.get("field").and_then(Value::as_str) {
                out.insert(f.to_string());
            }
            for k in ["and", "or", "not"] {
                if let Some(inner) = o.get(k) {
                    filter_fields(inner, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| filter_fields(x, out)),
        _ => {}
    }
}

/// The problems of `view` against `visible` (the app as its owner reads it), their paths
/// relative to the view.
fn problems(visible: &mut AppDef, view: &ViewDef) -> Vec<FieldError> {
    visible.views = vec![view.clone()];
    let mut errors = Vec::new();
    validate_views(visible, &mut errors);
    let prefix = format!("views.{}.", view.name);
    for e in &mut errors {
        if let Some(p) = e.field.strip_prefix(&prefix) {
            e.field = p.to_string();
        }
    }
    errors
}

/// The stored view as its owner reads it against the app today (see the module's notes); none
/// when its entity is no longer one they read.
fn as_owner_reads(
    stored: ViewDef,
    updated_at: DateTime<Utc>,
    visible: &mut AppDef,
    declared: &AppDef,
    readable: &HashSet<String>,
) -> Option<PersonalView> {
    if !readable.contains(stored.entity.as_str()) {
        return None;
    }
    let mut v = stored;
    v.default = false;
    let errors = problems(visible, &v);
    let (mut broken, mut gone) = (false, Vec::new());
    if !errors.is_empty() {
        let declared_entity = declared.entity(v.entity.as_str()).map(CompiledEntity::compile);
        let mut named = BTreeSet::new();
        named.extend(v.columns.iter().map(|c| c.field.to_string()));
        named.extend(v.sort.iter().map(|s| s.field.to_string()));
        named.extend(
            [&v.group_by, &v.date_field, &v.end_field]
                .into_iter()
                .flatten()
                .map(|f| f.to_string()),
        );
        if let Some(f) = &v.filter {
            filter_fields(f, &mut named);
        }
        gone = named
            .into_iter()
            .filter(|f| declared_entity.as_ref().is_some_and(|e| e.column(f).is_none()))
            .collect();
        let (mut cols, mut sorts) = (HashSet::new(), HashSet::new());
        for e in &errors {
            let p = e.field.as_str();
            if let Some(i) = index_in(p, "columns[") {
                cols.insert(i);
            } else if let Some(i) = index_in(p, "sort[") {
                sorts.insert(i);
            } else if p.starts_with("group_by") {
                v.group_by = None;
                broken = true;
            } else if p.starts_with("date_field") {
                v.date_field = None;
                broken = true;
            } else if p.starts_with("end_field") {
                v.end_field = None;
                broken = true;
            } else if p.starts_with("filter") {
                v.filter = None;
                broken = true;
            } else if p.starts_with("row_height") {
                v.row_height = None;
            } else {
                broken = true;
            }
        }
        v.columns = std::mem::take(&mut v.columns)
            .into_iter()
            .enumerate()
            .filter_map(|(i, c)| (!cols.contains(&i)).then_some(c))
            .collect();
        v.sort = std::mem::take(&mut v.sort)
            .into_iter()
            .enumerate()
            .filter_map(|(i, s)| (!sorts.contains(&i)).then_some(s))
            .collect();
    }
    Some(PersonalView {
        view: v,
        broken,
        gone,
        updated_at,
    })
}

/// What reading the caller's views needs: the app as declared and as they read it, and the
/// entities they may read.
struct OwnerApp {
    app: std::sync::Arc<LoadedApp>,
    visible: AppDef,
    readable: HashSet<String>,
}

impl Engine {
    async fn owner_app(&self, ctx: &TenantCtx, app: &str) -> Result<OwnerApp, Error> {
        let loaded = self.compiled_app(ctx, app).await?;
        let visible = self.def_for(&self.db.read, ctx, &loaded.id, &loaded.def).await?;
        let mut readable = HashSet::new();
        for (name, e) in &loaded.entities {
            let access = self.access(&self.db.read, ctx, &loaded, e).await?;
            if access.grant.reach(Right::Read).is_some() {
                readable.insert(name.clone());
            }
        }
        Ok(OwnerApp {
            app: loaded,
            visible,
            readable,
        })
    }

    fn owner_reads(o: &mut OwnerApp, row: PersonalViewRow) -> Result<Option<PersonalView>, Error> {
        let stored: ViewDef = serde_json::from_str(&row.definition)
            .map_err(|e| Error::internal(format!("a stored personal view does not parse: {e}")))?;
        Ok(as_owner_reads(
            stored,
            row.updated_at,
            &mut o.visible,
            &o.app.def,
            &o.readable,
        ))
    }

    /// The caller's personal views of the app, oldest first, as they read them today.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn my_views(&self, ctx: &TenantCtx, app: &str) -> Result<Vec<PersonalView>, Error> {
        let mut o = self.owner_app(ctx, app).await?;
        let rows = personal_views::list(&self.db.read, ctx.tenant_id(), &o.app.id, ctx.user_id()).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.extend(Self::owner_reads(&mut o, r)?);
        }
        Ok(out)
    }

    /// One of the caller's personal views (404 when they have none of the name, or may no
    /// longer read its entity).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn my_view(&self, ctx: &TenantCtx, app: &str, name: &str) -> Result<PersonalView, Error> {
        let mut o = self.owner_app(ctx, app).await?;
        let row = personal_views::get(&self.db.read, ctx.tenant_id(), &o.app.id, ctx.user_id(), name)
            .await?
            .ok_or_else(|| view_missing(name))?;
        Self::owner_reads(&mut o, row)?.ok_or_else(|| view_missing(name))
    }

    /// Parses and checks a personal view against the app as the caller reads it; every problem
    /// at once (422).
    fn checked_view(o: &mut OwnerApp, body: &Value) -> Result<ViewDef, Error> {
        let v = parse_view(body)?;
        let mut errors = Vec::new();
        if v.default {
            errors.push(FieldError::new(
                "default",
                FieldCode::NotApplicable,
                "a personal view is no entity's default: that is a shared view's setting",
            ));
        }
        if o.readable.contains(v.entity.as_str()) {
            errors.extend(problems(&mut o.visible, &v));
        } else {
            errors.push(FieldError::new(
                "entity",
                FieldCode::UnknownEntity,
                format!(
                    "'{}' is not an entity of this app you may read",
                    trellis_core::names::truncate(v.entity.as_str(), 64)
                ),
            ));
        }
        if errors.is_empty() {
            Ok(v)
        } else {
            Err(Error::validation(errors))
        }
    }

    /// Adds a personal view (409 when the caller has one of the name).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn create_my_view(&self, ctx: &TenantCtx, app: &str, body: &Value) -> Result<PersonalView, Error> {
        let mut o = self.owner_app(ctx, app).await?;
        let v = Self::checked_view(&mut o, body)?;
        let (tenant, user) = (ctx.tenant_id(), ctx.user_id());
        if personal_views::count(&self.db.read, tenant, &o.app.id, user).await? >= MAX_PERSONAL_VIEWS {
            return Err(Error::validation(vec![FieldError::new(
                "name",
                FieldCode::TooMany,
                format!("you keep {MAX_PERSONAL_VIEWS} views of this app; remove one first"),
            )]));
        }
        let json = serde_json::to_string(&v).map_err(|e| Error::internal(e.to_string()))?;
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        let at = trellis_core::value::now_micros();
        if !personal_views::insert(&tx, tenant, &o.app.id, user, v.name.as_str(), &json, at).await? {
            return Err(
                Error::conflict(format!("you have a view '{}'; replace it with PUT", v.name))
                    .with_errors(vec![FieldError::new("name", FieldCode::Duplicate, "is taken")]),
            );
        }
        tx.commit().await.map_err(StoreError::from)?;
        self.my_view(ctx, app, v.name.as_str()).await
    }

    /// Replaces one of the caller's personal views whole (404 when they have none of the name;
    /// a body naming another view: 422).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn put_my_view(
        &self,
        ctx: &TenantCtx,
        app: &str,
        name: &str,
        body: &Value,
    ) -> Result<PersonalView, Error> {
        let mut o = self.owner_app(ctx, app).await?;
        let body = super::parts::named_as_path(body, name, "view")?;
        let v = Self::checked_view(&mut o, &body)?;
        let json = serde_json::to_string(&v).map_err(|e| Error::internal(e.to_string()))?;
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        let at = trellis_core::value::now_micros();
        if !personal_views::update(&tx, ctx.tenant_id(), &o.app.id, ctx.user_id(), name, &json, at).await? {
            return Err(view_missing(name));
        }
        tx.commit().await.map_err(StoreError::from)?;
        self.my_view(ctx, app, name).await
    }

    /// Removes one of the caller's personal views (404 when they have none of the name).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn delete_my_view(&self, ctx: &TenantCtx, app: &str, name: &str) -> Result<(), Error> {
        let loaded = self.compiled_app(ctx, app).await?;
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        if !personal_views::delete(&tx, ctx.tenant_id(), &loaded.id, ctx.user_id(), name).await? {
            return Err(view_missing(name));
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_are_read_from_paths() {
        assert_eq!(index_in("columns[3].field", "columns["), Some(3));
        assert_eq!(index_in("sort[0].field", "columns["), None);
        let mut out = BTreeSet::new();
        filter_fields(
            &serde_json::json!({"and": [{"field": "a", "op": "eq", "value": 1}, {"not": {"field": "b", "op": "is_null", "value": true}}]}),
            &mut out,
        );
        assert_eq!(out.into_iter().collect::<Vec<_>>(), ["a", "b"]);
    }
}
