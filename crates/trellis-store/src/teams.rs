//! Teams (nested through `parent_id`) and their members; the `team` row scope of permissions
//! reads them.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, LockType, OnConflict, Order, Query};
use sea_orm::{DbBackend, DeriveIden, FromQueryResult};

use crate::error::StoreError;
use crate::rows;

fn a(s: &str) -> Alias {
    Alias::new(s)
}

/// `sys_team_members` and its columns.
#[derive(DeriveIden, Clone, Copy)]
enum SysTeamMembers {
    Table,
    CreatedAt,
    TeamId,
    UserId,
}

/// `sys_teams` and its columns.
#[derive(DeriveIden, Clone, Copy)]
enum SysTeams {
    Table,
    CreatedAt,
    Id,
    Name,
    ParentId,
    TenantId,
}

/// A team of a tenant.
#[derive(Debug, Clone, FromQueryResult)]
pub struct TeamRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

const COLS: [SysTeams; 5] = [
    SysTeams::Id,
    SysTeams::TenantId,
    SysTeams::Name,
    SysTeams::ParentId,
    SysTeams::CreatedAt,
];

pub async fn insert_team<C: crate::Writes>(c: &C, t: &TeamRow) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(SysTeams::Table)
        .columns(COLS)
        .values_panic([
            t.id.clone().into(),
            t.tenant_id.clone().into(),
            t.name.clone().into(),
            t.parent_id.clone().into(),
            t.created_at.into(),
        ])
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}

/// Every team of a tenant, by name.
pub async fn teams_of<C: crate::Reads>(c: &C, tenant_id: &str) -> Result<Vec<TeamRow>, StoreError> {
    let q = Query::select()
        .columns(COLS)
        .from(SysTeams::Table)
        .and_where(Expr::col(SysTeams::TenantId).eq(tenant_id))
        .order_by(SysTeams::Name, Order::Asc)
        .to_owned();
    rows::all(c, &q).await
}

/// Every team of a tenant, read for a change of the tree: on PostgreSQL the rows are locked
/// (in id order) until the write transaction ends, so two moves of the tenant's teams run one
/// after the other and the second checks the tree the first left; SQLite's one writer holds
/// everything already. Without it, A below B and B below A at once each passed the cycle check
/// on the tree before the other and together made a cycle.
pub async fn lock_teams_of<C: crate::Writes>(c: &C, tenant_id: &str) -> Result<Vec<TeamRow>, StoreError> {
    let mut q = Query::select()
        .columns(COLS)
        .from(SysTeams::Table)
        .and_where(Expr::col(SysTeams::TenantId).eq(tenant_id))
        .order_by(SysTeams::Id, Order::Asc)
        .to_owned();
    if c.get_database_backend() == DbBackend::Postgres {
        q.lock(LockType::Update);
    }
    rows::all(c, &q).await
}

/// A team of the tenant by id or by name.
pub async fn find_team<C: crate::Reads>(
    c: &C,
    tenant_id: &str,
    id_or_name: &str,
) -> Result<Option<TeamRow>, StoreError> {
    let q = Query::select()
        .columns(COLS)
        .from(SysTeams::Table)
        .and_where(Expr::col(SysTeams::TenantId).eq(tenant_id))
        .and_where(
            Expr::col(SysTeams::Id)
                .eq(id_or_name)
                .or(Expr::col(SysTeams::Name).eq(id_or_name)),
        )
        .to_owned();
    rows::one(c, &q).await
}

#[derive(FromQueryResult)]
struct Membership {
    team_id: String,
    user_id: String,
}

/// (team id, user id) of every membership of the tenant's teams.
pub async fn memberships_of<C: crate::Reads>(c: &C, tenant_id: &str) -> Result<Vec<(String, String)>, StoreError> {
    let q = Query::select()
        .column((a("m"), SysTeamMembers::TeamId))
        .column((a("m"), SysTeamMembers::UserId))
        .from_as(SysTeamMembers::Table, a("m"))
        .inner_join(
            SysTeams::Table,
            Expr::col((SysTeams::Table, SysTeams::Id)).equals((a("m"), SysTeamMembers::TeamId)),
        )
        .and_where(Expr::col((SysTeams::Table, SysTeams::TenantId)).eq(tenant_id))
        .order_by((a("m"), SysTeamMembers::UserId), Order::Asc)
        .to_owned();
    Ok(rows::all::<Membership, _>(c, &q)
        .await?
        .into_iter()
        .map(|r| (r.team_id, r.user_id))
        .collect())
}

/// Adds a member (idempotent).
pub async fn add_member<C: crate::Writes>(
    c: &C,
    team_id: &str,
    user_id: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(SysTeamMembers::Table)
        .columns([
            SysTeamMembers::TeamId,
            SysTeamMembers::UserId,
            SysTeamMembers::CreatedAt,
        ])
        .values_panic([team_id.into(), user_id.into(), at.into()])
        .on_conflict(
            OnConflict::columns([SysTeamMembers::TeamId, SysTeamMembers::UserId])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}

/// Removes a member; false when they were not one.
pub async fn remove_member<C: crate::Writes>(c: &C, team_id: &str, user_id: &str) -> Result<bool, StoreError> {
    let q = Query::delete()
        .from_table(SysTeamMembers::Table)
        .and_where(Expr::col(SysTeamMembers::TeamId).eq(team_id))
        .and_where(Expr::col(SysTeamMembers::UserId).eq(user_id))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected() > 0)
}

/// Renames a team and sets the team above it (`None`: the top).
pub async fn update_team<C: crate::Writes>(
    c: &C,
    team_id: &str,
    name: &str,
    parent_id: Option<&str>,
) -> Result<(), StoreError> {
    let q = Query::update()
        .table(SysTeams::Table)
        .value(SysTeams::Name, name.to_string())
        .value(SysTeams::ParentId, parent_id.map(str::to_string))
        .and_where(Expr::col(SysTeams::Id).eq(team_id))
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}
