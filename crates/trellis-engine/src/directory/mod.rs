//! The tenant's directory: users, role membership per app, delegations while away, and business
//! calendars. Everyone in a tenant may read it; administrators change users, members and calendars.

pub mod handover;
pub mod teams;

use std::collections::{BTreeMap, HashMap};
use trellis_core::error::FieldCode;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use serde::Serialize;
use serde_json::Value;
use trellis_core::calendar::{Calendar, CalendarDef};
use trellis_core::def::{AppDef, Label, RoleDef};
use trellis_core::schema::{self, DefKind};
use trellis_core::status::EventKind;
use trellis_core::value::{format_datetime, now_micros};
use trellis_core::{Error, FieldError, Slug};
use trellis_store::StoreError;
use trellis_store::directory::{self, DelegationRow};
use trellis_store::system::{self, AppRow, UserRow};

use crate::Engine;
use crate::compiled::parse_stored;
use crate::context::TenantCtx;

/// Longest delegation: a year, leap day included.
const MAX_DELEGATION: TimeDelta = TimeDelta::days(366);

/// A user as the directory shows it (never the password hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserEntry {
    #[schema(format = Uuid)]
    pub id: String,
    pub email: String,
    pub name: String,
    pub is_admin: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When the user was disabled (they cannot log in any more).
    #[schema(format = DateTime)]
    pub disabled_at: Option<String>,
}

impl From<&UserRow> for UserEntry {
    fn from(u: &UserRow) -> Self {
        UserEntry {
            id: u.id.clone(),
            email: u.email.clone(),
            name: u.name.clone(),
            is_admin: u.is_admin,
            created_at: format_datetime(&u.created_at),
            disabled_at: u.disabled_at.as_ref().map(format_datetime),
        }
    }
}

/// A role an app declares (as the caller reads the definition), with the ids of its members.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoleEntry {
    #[schema(value_type = trellis_core::Slug)]
    pub name: String,
    pub label: Label,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub description: Option<Label>,
    /// What the role may do per entity (`RoleDef`); for a member, without settings of fields
    /// hidden from them.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub permissions: Option<BTreeMap<String, trellis_core::permissions::EntityPermissions>>,
    /// The rules the role may test and run (`RoleDef`).
    #[serde(skip_serializing_if = "trellis_core::permissions::RunRules::is_none")]
    pub run_rules: trellis_core::permissions::RunRules,
    /// Ids of the users who are members.
    pub members: Vec<String>,
}

/// A delegation: `delegate` acts for `user` from `starts_at` until `ends_at`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DelegationEntry {
    #[schema(format = Uuid)]
    pub id: String,
    /// The user who delegates.
    pub user: String,
    /// The user who acts for them.
    pub delegate: String,
    #[schema(format = DateTime)]
    pub starts_at: String,
    #[schema(format = DateTime)]
    pub ends_at: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// In force now.
    pub active: bool,
}

impl DelegationEntry {
    fn new(d: &DelegationRow, now: DateTime<Utc>) -> Self {
        DelegationEntry {
            id: d.id.clone(),
            user: d.user_id.clone(),
            delegate: d.delegate_id.clone(),
            starts_at: format_datetime(&d.starts_at),
            ends_at: format_datetime(&d.ends_at),
            created_at: format_datetime(&d.created_at),
            active: d.starts_at <= now && now < d.ends_at,
        }
    }
}

/// At most this much of a client's text is quoted back in a message.
fn quote(s: &str) -> String {
    s.chars().take(80).collect()
}

/// Why a user id in a body cannot be used: not a user of the caller's tenant, or disabled.
fn usable_user(field: &str, id: &str, row: Option<&UserRow>) -> Option<FieldError> {
    match row {
        None => Some(FieldError::new(
            field,
            FieldCode::UnknownUser,
            format!("'{}' is not a user of your tenant", quote(id)),
        )),
        Some(u) if u.disabled_at.is_some() => {
            Some(FieldError::new(field, FieldCode::Disabled, "this user is disabled"))
        }
        Some(_) => None,
    }
}

fn declared_role<'a>(def: &'a AppDef, role: &str) -> Result<&'a RoleDef, Error> {
    def.role(role).ok_or_else(|| {
        let declared: Vec<&str> = def.roles.iter().map(|r| r.name.as_str()).collect();
        let hint = if declared.is_empty() {
            "it declares no roles; add them to the app's `roles` first".to_string()
        } else {
            format!("its roles are: {}", declared.join(", "))
        };
        Error::not_found(format!("app '{}' has no role '{}'; {hint}", def.name, quote(role)))
    })
}

/// RFC 3339 time of a body field, to the microsecond the databases keep.
fn parse_time(field: &str, text: &str, errors: &mut Vec<FieldError>) -> Option<DateTime<Utc>> {
    if text.trim().is_empty() {
        errors.push(FieldError::new(field, FieldCode::Required, "is required"));
        return None;
    }
    match DateTime::parse_from_rfc3339(text.trim()) {
        Ok(t) => Some(t.with_timezone(&Utc).trunc_subsecs(6)),
        Err(_) => {
            errors.push(FieldError::new(
                field,
                FieldCode::Format,
                "must be an RFC 3339 date-time such as 2026-05-01T09:00:00+08:00",
            ));
            None
        }
    }
}

fn calendar_missing(name: &str) -> Error {
    Error::not_found(format!("calendar '{}' does not exist", quote(name)))
}

impl Engine {
    /// An app of the caller's tenant: its row (for the id) and definition.
    pub(crate) async fn app_and_def(&self, ctx: &TenantCtx, app: &str) -> Result<(AppRow, AppDef), Error> {
        let name = Slug::from_path("app", app)?;
        let row = system::app_by_name(&self.db.read, ctx.tenant_id(), name.as_str())
            .await?
            .ok_or_else(|| Error::not_found(format!("app '{name}' does not exist")))?;
        let def = parse_stored(&row)?;
        Ok((row, def))
    }

    // -----------------------------------------------------------------------------------------
    // Users
    // -----------------------------------------------------------------------------------------

    /// Adds a user to the caller's tenant (administrators only).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_tenant_user(
        &self,
        ctx: &TenantCtx,
        email: &str,
        name: &str,
        password: &str,
        is_admin: bool,
    ) -> Result<UserEntry, Error> {
        ctx.require_admin_to("add users")?;
        let row = self
            .insert_user(ctx.tenant_id(), email, Some(name), password, is_admin)
            .await?;
        Ok(UserEntry::from(&row))
    }

    /// The users of the caller's tenant, by e-mail.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_users(&self, ctx: &TenantCtx) -> Result<Vec<UserEntry>, Error> {
        Ok(system::users_of(&self.db.read, ctx.tenant_id())
            .await?
            .iter()
            .map(UserEntry::from)
            .collect())
    }

    /// One user of the caller's tenant (another tenant's answers not found).
    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    pub async fn get_user(&self, ctx: &TenantCtx, id: &str) -> Result<UserEntry, Error> {
        system::user_by_id(&self.db.read, ctx.tenant_id(), id)
            .await?
            .map(|u| UserEntry::from(&u))
            .ok_or_else(|| Error::not_found("no such user"))
    }

    // -----------------------------------------------------------------------------------------
    // Role membership
    // -----------------------------------------------------------------------------------------

    /// The roles an app declares, each with its members, as the caller reads the definition
    /// ([`Engine::def_for`]: no settings of fields hidden from them).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn list_roles(&self, ctx: &TenantCtx, app: &str) -> Result<Vec<RoleEntry>, Error> {
        let (row, def) = self.app_and_def(ctx, app).await?;
        let def = self.def_for(&self.db.read, ctx, &row.id, &def).await?;
        let mut out = Vec::with_capacity(def.roles.len());
        for r in &def.roles {
            out.push(self.role_entry(&row.id, r).await?);
        }
        Ok(out)
    }

    pub(crate) async fn role_entry(&self, app_id: &str, r: &RoleDef) -> Result<RoleEntry, Error> {
        Ok(RoleEntry {
            name: r.name.to_string(),
            label: r.label.clone(),
            description: r.description.clone(),
            permissions: r.permissions.clone(),
            run_rules: r.run_rules.clone(),
            members: directory::members_of(&self.db.read, app_id, r.name.as_str()).await?,
        })
    }

    /// Makes a user of the tenant a member of a declared role (idempotent); answers the role.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn add_role_member(
        &self,
        ctx: &TenantCtx,
        app: &str,
        role: &str,
        user: &str,
    ) -> Result<RoleEntry, Error> {
        ctx.require_admin_to("manage role members")?;
        let (row, def) = self.app_and_def(ctx, app).await?;
        let r = declared_role(&def, role)?;
        let u = system::user_by_id(&self.db.read, ctx.tenant_id(), user).await?;
        if let Some(e) = usable_user("user", user, u.as_ref()) {
            return Err(Error::validation(vec![e]));
        }
        // The membership and its audit line: one transaction.
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        directory::add_member(&tx, ctx.tenant_id(), &row.id, r.name.as_str(), user, now_micros()).await?;
        let data = serde_json::json!({"role": r.name, "user": user});
        crate::audit::write(&tx, ctx, &row.id, "$roles", &row.id, EventKind::RoleMemberAdded, data).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.forget_roles(&row.id, user);
        self.role_entry(&row.id, r).await
    }

    /// Ends a user's membership of a role. A role no longer declared can still be emptied.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn remove_role_member(&self, ctx: &TenantCtx, app: &str, role: &str, user: &str) -> Result<(), Error> {
        ctx.require_admin_to("manage role members")?;
        let (row, _) = self.app_and_def(ctx, app).await?;
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        if !directory::remove_member(&tx, &row.id, role, user).await? {
            return Err(Error::not_found(format!(
                "the user is not a member of role '{}'",
                quote(role)
            )));
        }
        let data = serde_json::json!({"role": role, "user": user});
        crate::audit::write(&tx, ctx, &row.id, "$roles", &row.id, EventKind::RoleMemberRemoved, data).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.forget_roles(&row.id, user);
        Ok(())
    }

    /// The caller's roles per app name (declared roles only; apps where they hold none are left out).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn my_app_roles(&self, ctx: &TenantCtx) -> Result<BTreeMap<String, Vec<String>>, Error> {
        let held = directory::roles_of_user(&self.db.read, ctx.tenant_id(), ctx.user_id()).await?;
        let mut out = BTreeMap::new();
        if held.is_empty() {
            return Ok(out);
        }
        let apps: HashMap<String, AppDef> = system::apps_of(&self.db.read, ctx.tenant_id())
            .await?
            .iter()
            .map(|r| Ok((r.id.clone(), parse_stored(r)?)))
            .collect::<Result<_, Error>>()?;
        for (app_id, role) in held {
            if let Some(def) = apps.get(&app_id)
                && def.role(&role).is_some()
            {
                out.entry(def.name.to_string()).or_insert_with(Vec::new).push(role);
            }
        }
        Ok(out)
    }

    // -----------------------------------------------------------------------------------------
    // Delegations
    // -----------------------------------------------------------------------------------------

    /// Lets another user of the tenant act for the caller between two times (at most a year,
    /// ending in the future). Every problem of the request is answered together.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_delegation(
        &self,
        ctx: &TenantCtx,
        delegate: &str,
        starts_at: &str,
        ends_at: &str,
    ) -> Result<DelegationEntry, Error> {
        let mut errors = Vec::new();
        if delegate.is_empty() {
            errors.push(FieldError::new("delegate", FieldCode::Required, "is required"));
        } else if delegate == ctx.user_id() {
            errors.push(FieldError::new(
                "delegate",
                FieldCode::SelfReference,
                "you cannot delegate to yourself",
            ));
        } else {
            let u = system::user_by_id(&self.db.read, ctx.tenant_id(), delegate).await?;
            errors.extend(usable_user("delegate", delegate, u.as_ref()));
        }
        let starts = parse_time("starts_at", starts_at, &mut errors);
        let ends = parse_time("ends_at", ends_at, &mut errors);
        let now = now_micros();
        if let (Some(s), Some(e)) = (starts, ends) {
            if e <= s {
                errors.push(FieldError::new(
                    "ends_at",
                    FieldCode::BeforeStart,
                    "must be after starts_at",
                ));
            } else if e - s > MAX_DELEGATION {
                errors.push(FieldError::new(
                    "ends_at",
                    FieldCode::TooLong,
                    "a delegation lasts at most a year (366 days); create a new one when it ends",
                ));
            } else if e <= now {
                errors.push(FieldError::new("ends_at", FieldCode::Past, "must be in the future"));
            }
        }
        let (Some(starts_at), Some(ends_at)) = (starts, ends) else {
            return Err(Error::validation(errors));
        };
        if !errors.is_empty() {
            return Err(Error::validation(errors));
        }
        let row = DelegationRow {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: ctx.tenant_id().to_string(),
            user_id: ctx.user_id().to_string(),
            delegate_id: delegate.to_string(),
            starts_at,
            ends_at,
            created_at: now,
        };
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        directory::insert_delegation(&tx, &row).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(DelegationEntry::new(&row, now))
    }

    /// The delegations the caller gave, newest first.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_delegations(&self, ctx: &TenantCtx) -> Result<Vec<DelegationEntry>, Error> {
        let now = Utc::now();
        Ok(directory::delegations_of(&self.db.read, ctx.tenant_id(), ctx.user_id())
            .await?
            .iter()
            .map(|d| DelegationEntry::new(d, now))
            .collect())
    }

    // -----------------------------------------------------------------------------------------
    // Business calendars
    // -----------------------------------------------------------------------------------------

    /// The names of the tenant's calendars.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_calendars(&self, ctx: &TenantCtx) -> Result<Vec<String>, Error> {
        Ok(directory::calendar_names(&self.db.read, ctx.tenant_id()).await?)
    }

    /// A calendar's definition as stored.
    pub async fn get_calendar(&self, ctx: &TenantCtx, name: &str) -> Result<CalendarDef, Error> {
        let slug = Slug::from_path("calendar", name)?;
        let text = directory::calendar(&self.db.read, ctx.tenant_id(), slug.as_str())
            .await?
            .ok_or_else(|| calendar_missing(name))?;
        parse_stored_calendar(name, &text)
    }

    /// Creates or replaces a calendar (administrators only) once it checks against the schema and
    /// compiles; answers the stored definition and whether it is new.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn put_calendar(&self, ctx: &TenantCtx, name: &str, body: &Value) -> Result<(CalendarDef, bool), Error> {
        ctx.require_admin_to("change business calendars")?;
        let mut errors = Vec::new();
        let slug = Slug::from_field("name", name).map_err(|e| errors.push(e)).ok();
        let def = match schema::check(DefKind::Calendar, body) {
            Err(e) => {
                errors.extend(e);
                None
            }
            Ok(()) => match serde_json::from_value::<CalendarDef>(body.clone()) {
                Err(e) => {
                    errors.push(FieldError::new("$", FieldCode::Invalid, e.to_string()));
                    None
                }
                Ok(def) => match Calendar::compile(&def) {
                    Err(e) => {
                        errors.extend(e);
                        None
                    }
                    Ok(_) => Some(def),
                },
            },
        };
        let (Some(slug), Some(def), true) = (slug, def, errors.is_empty()) else {
            return Err(Error::validation(errors));
        };
        let text = serde_json::to_string(&def).map_err(|e| Error::internal(e.to_string()))?;
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        let existed = directory::calendar(&tx, ctx.tenant_id(), slug.as_str())
            .await?
            .is_some();
        directory::put_calendar(&tx, ctx.tenant_id(), slug.as_str(), &text, now_micros()).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok((def, !existed))
    }

    /// Deletes a calendar (administrators only).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn delete_calendar(&self, ctx: &TenantCtx, name: &str) -> Result<(), Error> {
        ctx.require_admin_to("change business calendars")?;
        let slug = Slug::from_path("calendar", name)?;
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        if !directory::delete_calendar(&tx, ctx.tenant_id(), slug.as_str()).await? {
            return Err(calendar_missing(name));
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    /// A tenant's calendar, compiled for counting working time (SLA timers); `None` when there is
    /// no calendar of that name.
    pub async fn calendar(&self, tenant_id: &str, name: &str) -> Result<Option<Calendar>, Error> {
        let Some(text) = directory::calendar(&self.db.read, tenant_id, name).await? else {
            return Ok(None);
        };
        let def = parse_stored_calendar(name, &text)?;
        // Stored calendars compiled when they were saved; failing now means the code changed.
        Calendar::compile(&def).map(Some).map_err(|e| {
            Error::internal(format!(
                "stored calendar '{name}' of tenant {tenant_id} no longer compiles: {e:?}"
            ))
        })
    }
}

fn parse_stored_calendar(name: &str, text: &str) -> Result<CalendarDef, Error> {
    serde_json::from_str(text).map_err(|e| Error::internal(format!("stored calendar '{name}' is unreadable: {e}")))
}
