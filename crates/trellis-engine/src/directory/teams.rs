//! Teams of a tenant: nested (a team's `team` scope reaches the teams below it), with members.
//! Everyone reads them; administrators change them.

use serde::Serialize;
use serde_json::Value;
use trellis_core::error::FieldCode;
use trellis_core::value::{format_datetime, now_micros};
use trellis_core::{Error, FieldError};
use trellis_store::teams::{self, TeamRow};
use trellis_store::{StoreError, system};

use crate::Engine;
use crate::context::TenantCtx;

/// A team as answered.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TeamOut {
    #[schema(format = Uuid)]
    pub id: String,
    pub name: String,
    /// Id of the team above it.
    pub parent: Option<String>,
    /// Ids of its members.
    pub members: Vec<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

fn team_out(t: &TeamRow, memberships: &[(String, String)]) -> TeamOut {
    TeamOut {
        id: t.id.clone(),
        name: t.name.clone(),
        parent: t.parent_id.clone(),
        members: memberships
            .iter()
            .filter(|(team, _)| *team == t.id)
            .map(|(_, u)| u.clone())
            .collect(),
        created_at: format_datetime(&t.created_at),
    }
}

/// 1 to 100 characters, no NUL (names are shown and matched as given, trimmed).
fn team_name_ok(name: &str) -> bool {
    !name.is_empty() && name.chars().count() <= 100 && !name.contains('\0')
}

fn no_team(id: &str) -> Error {
    Error::not_found(format!(
        "team '{}' does not exist",
        trellis_core::names::truncate(id, 64)
    ))
}

impl Engine {
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_teams(&self, ctx: &TenantCtx) -> Result<Vec<TeamOut>, Error> {
        let all = teams::teams_of(&self.db.read, ctx.tenant_id()).await?;
        let m = teams::memberships_of(&self.db.read, ctx.tenant_id()).await?;
        Ok(all.iter().map(|t| team_out(t, &m)).collect())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    pub async fn get_team(&self, ctx: &TenantCtx, id: &str) -> Result<TeamOut, Error> {
        let t = teams::find_team(&self.db.read, ctx.tenant_id(), id)
            .await?
            .ok_or_else(|| no_team(id))?;
        let m = teams::memberships_of(&self.db.read, ctx.tenant_id()).await?;
        Ok(team_out(&t, &m))
    }

    /// Creates a team, below `parent` (an id or name of a team of the tenant) if given.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_team(&self, ctx: &TenantCtx, name: &str, parent: Option<&str>) -> Result<TeamOut, Error> {
        ctx.require_admin_to("create teams")?;
        self.create_team_in(ctx.tenant_id(), name, parent).await
    }

    /// Creates a team in a tenant (the admin CLI).
    pub async fn create_team_in(&self, tenant_id: &str, name: &str, parent: Option<&str>) -> Result<TeamOut, Error> {
        let name = name.trim();
        let mut errors = Vec::new();
        if !team_name_ok(name) {
            errors.push(FieldError::new(
                "name",
                FieldCode::Length,
                "must be 1 to 100 characters",
            ));
        }
        let parent_id = match parent.map(str::trim).filter(|p| !p.is_empty()) {
            None => None,
            Some(p) => match teams::find_team(&self.db.read, tenant_id, p).await? {
                Some(t) => Some(t.id),
                None => {
                    errors.push(FieldError::new(
                        "parent",
                        FieldCode::NotFound,
                        "no team has this id or name",
                    ));
                    None
                }
            },
        };
        if errors.is_empty() && teams::find_team(&self.db.read, tenant_id, name).await?.is_some() {
            return Err(Error::conflict(format!("a team named '{name}' exists")));
        }
        if !errors.is_empty() {
            return Err(Error::validation(errors));
        }
        let row = TeamRow {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant_id.to_string(),
            name: name.to_string(),
            parent_id,
            created_at: now_micros(),
        };
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        teams::insert_team(&tx, &row).await.map_err(|e| {
            if e.is_unique_violation() {
                Error::conflict(format!("a team named '{name}' exists"))
            } else {
                e.into()
            }
        })?;
        tx.commit().await.map_err(StoreError::from)?;
        self.forget_teams(&row.tenant_id);
        Ok(team_out(&row, &[]))
    }

    /// Changes a team by merge patch: `name` renames it, `parent` (an id or name) moves it below
    /// another team and `parent: null` moves it to the top; a key left out keeps its value. A
    /// move that would make a team its own ancestor answers 409, a taken name 409. The read-only
    /// keys of a team as answered (`id`, `members`, `created_at`) may be sent back unchanged, so
    /// a team read with GET can be edited and sent back; anything else is refused.
    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    pub async fn patch_team(&self, ctx: &TenantCtx, id: &str, patch: &Value) -> Result<TeamOut, Error> {
        ctx.require_admin_to("change teams")?;
        let patch = patch
            .as_object()
            .ok_or_else(|| Error::bad_field("body", FieldCode::Type, "must be a JSON object"))?;
        // The check and the write in one write transaction with the tenant's teams locked
        // (`lock_teams_of`): a concurrent move waits, then meets this one's tree.
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        let all = teams::lock_teams_of(&tx, ctx.tenant_id()).await?;
        let t = all
            .iter()
            .find(|t| t.id == id || t.name == id)
            .ok_or_else(|| no_team(id))?
            .clone();
        let current = team_out(&t, &teams::memberships_of(&tx, ctx.tenant_id()).await?);
        let mut errors = Vec::new();
        let mut name = t.name.clone();
        let mut parent_id = t.parent_id.clone();
        for (key, v) in patch {
            match key.as_str() {
                "name" => match v.as_str().map(str::trim) {
                    Some(n) if team_name_ok(n) => name = n.to_string(),
                    Some(_) => errors.push(FieldError::new(
                        "name",
                        FieldCode::Length,
                        "must be 1 to 100 characters",
                    )),
                    None => errors.push(FieldError::new("name", FieldCode::Type, "must be a string")),
                },
                "parent" => match v {
                    Value::Null => parent_id = None,
                    Value::String(p) => match all.iter().find(|x| x.id == *p || x.name == *p) {
                        Some(x) => parent_id = Some(x.id.clone()),
                        None => errors.push(FieldError::new(
                            "parent",
                            FieldCode::NotFound,
                            "no team has this id or name",
                        )),
                    },
                    _ => errors.push(FieldError::new(
                        "parent",
                        FieldCode::Type,
                        "must be a team id, a team name or null",
                    )),
                },
                "id" | "members" | "created_at" => {
                    let now = serde_json::to_value(&current).unwrap_or_default();
                    if now.get(key) != Some(v) {
                        errors.push(FieldError::new(
                            key.as_str(),
                            FieldCode::ReadOnly,
                            "cannot be changed here",
                        ));
                    }
                }
                other => errors.push(FieldError::new(
                    other,
                    FieldCode::UnknownField,
                    "teams have no such property",
                )),
            }
        }
        if !errors.is_empty() {
            return Err(Error::validation(errors));
        }
        if name != t.name && all.iter().any(|x| x.id != t.id && x.name == name) {
            return Err(Error::conflict(format!("a team named '{name}' exists")));
        }
        // Walk up from the new parent: meeting the team itself means a cycle.
        let mut at = parent_id.clone();
        let mut steps = 0;
        while let Some(cur) = at {
            if cur == t.id || steps > all.len() {
                return Err(Error::conflict("a team cannot be below itself"));
            }
            at = all.iter().find(|x| x.id == cur).and_then(|x| x.parent_id.clone());
            steps += 1;
        }
        teams::update_team(&tx, &t.id, &name, parent_id.as_deref())
            .await
            .map_err(|e| {
                if e.is_unique_violation() {
                    Error::conflict(format!("a team named '{name}' exists"))
                } else {
                    e.into()
                }
            })?;
        tx.commit().await.map_err(StoreError::from)?;
        self.forget_teams(&t.tenant_id);
        self.get_team(ctx, &t.id).await
    }

    /// Adds a user of the tenant to a team (idempotent).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn add_team_member(&self, ctx: &TenantCtx, team: &str, user: &str) -> Result<TeamOut, Error> {
        ctx.require_admin_to("change teams")?;
        self.add_team_member_in(ctx.tenant_id(), team, user).await?;
        self.get_team(ctx, team).await
    }

    /// Adds a user (id or e-mail) of a tenant to a team (id or name); the admin CLI uses it too.
    pub async fn add_team_member_in(&self, tenant_id: &str, team: &str, user: &str) -> Result<(), Error> {
        let t = teams::find_team(&self.db.read, tenant_id, team)
            .await?
            .ok_or_else(|| no_team(team))?;
        let u = match system::user_by_id(&self.db.read, tenant_id, user).await? {
            Some(u) => Some(u),
            None => system::user_by_email_in(&self.db.read, tenant_id, &user.trim().to_lowercase()).await?,
        };
        let u = u.filter(|u| u.disabled_at.is_none()).ok_or_else(|| {
            Error::validation(vec![FieldError::new(
                "user",
                FieldCode::NotFound,
                "not a user of this tenant",
            )])
        })?;
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        teams::add_member(&tx, &t.id, &u.id, now_micros()).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.forget_teams(&t.tenant_id);
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn remove_team_member(&self, ctx: &TenantCtx, team: &str, user: &str) -> Result<(), Error> {
        ctx.require_admin_to("change teams")?;
        let t = teams::find_team(&self.db.read, ctx.tenant_id(), team)
            .await?
            .ok_or_else(|| no_team(team))?;
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        if !teams::remove_member(&tx, &t.id, user).await? {
            return Err(Error::not_found("the user is not a member of this team"));
        }
        tx.commit().await.map_err(StoreError::from)?;
        self.forget_teams(&t.tenant_id);
        Ok(())
    }
}

impl Engine {
    async fn tenant_id_named(&self, tenant: &str) -> Result<String, Error> {
        Ok(system::tenant_by_name(&self.db.read, tenant)
            .await?
            .ok_or_else(|| {
                Error::not_found(format!(
                    "tenant '{}' does not exist",
                    trellis_core::names::truncate(tenant, 64)
                ))
            })?
            .id)
    }

    /// `trellis team create <tenant> <name> [--parent]`.
    pub async fn admin_create_team(&self, tenant: &str, name: &str, parent: Option<&str>) -> Result<TeamOut, Error> {
        let id = self.tenant_id_named(tenant).await?;
        self.create_team_in(&id, name, parent).await
    }

    /// `trellis team add-member <tenant> <team> <email>`.
    pub async fn admin_add_team_member(&self, tenant: &str, team: &str, email: &str) -> Result<(), Error> {
        let id = self.tenant_id_named(tenant).await?;
        self.add_team_member_in(&id, team, email).await
    }
}
