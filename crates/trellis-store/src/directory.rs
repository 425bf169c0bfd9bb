//! Who is who in a tenant beyond users: role membership per app, delegations while away, and
//! business calendars.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Order, Query};

use sea_orm::{DeriveIden, FromQueryResult};

use crate::error::StoreError;
use crate::rows;

/// `sys_calendars` and its columns.
#[derive(DeriveIden, Clone, Copy)]
enum SysCalendars {
    Table,
    Definition,
    Name,
    TenantId,
    UpdatedAt,
}

/// `sys_delegations` and its columns.
#[derive(DeriveIden, Clone, Copy)]
enum SysDelegations {
    Table,
    Id,
    CreatedAt,
    DelegateId,
    EndsAt,
    StartsAt,
    TenantId,
    UserId,
}

/// `sys_role_members` and its columns.
#[derive(DeriveIden, Clone, Copy)]
enum SysRoleMembers {
    Table,
    AppId,
    CreatedAt,
    Role,
    TenantId,
    UserId,
}

#[derive(FromQueryResult)]
struct Role {
    role: String,
}

#[derive(FromQueryResult)]
struct AppRole {
    app_id: String,
    role: String,
}

#[derive(FromQueryResult)]
struct Member {
    user_id: String,
}

#[derive(FromQueryResult)]
struct Definition {
    definition: String,
}

#[derive(FromQueryResult)]
struct Name {
    name: String,
}

const DELEGATION_COLS: [SysDelegations; 7] = [
    SysDelegations::Id,
    SysDelegations::TenantId,
    SysDelegations::UserId,
    SysDelegations::DelegateId,
    SysDelegations::StartsAt,
    SysDelegations::EndsAt,
    SysDelegations::CreatedAt,
];

/// The roles a user holds in an app.
pub async fn roles_of<C: crate::Reads>(c: &C, app_id: &str, user_id: &str) -> Result<Vec<String>, StoreError> {
    let q = Query::select()
        .column(SysRoleMembers::Role)
        .from(SysRoleMembers::Table)
        .and_where(Expr::col(SysRoleMembers::AppId).eq(app_id))
        .and_where(Expr::col(SysRoleMembers::UserId).eq(user_id))
        .to_owned();
    Ok(rows::all::<Role, _>(c, &q).await?.into_iter().map(|r| r.role).collect())
}

/// Every role a user holds in the tenant's apps, as (app id, role).
pub async fn roles_of_user<C: crate::Reads>(
    c: &C,
    tenant_id: &str,
    user_id: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    let q = Query::select()
        .columns([SysRoleMembers::AppId, SysRoleMembers::Role])
        .from(SysRoleMembers::Table)
        .and_where(Expr::col(SysRoleMembers::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysRoleMembers::UserId).eq(user_id))
        .order_by(SysRoleMembers::AppId, Order::Asc)
        .order_by(SysRoleMembers::Role, Order::Asc)
        .to_owned();
    Ok(rows::all::<AppRole, _>(c, &q)
        .await?
        .into_iter()
        .map(|r| (r.app_id, r.role))
        .collect())
}

/// The members of a role of an app.
pub async fn members_of<C: crate::Reads>(c: &C, app_id: &str, role: &str) -> Result<Vec<String>, StoreError> {
    let q = Query::select()
        .column(SysRoleMembers::UserId)
        .from(SysRoleMembers::Table)
        .and_where(Expr::col(SysRoleMembers::AppId).eq(app_id))
        .and_where(Expr::col(SysRoleMembers::Role).eq(role))
        .order_by(SysRoleMembers::UserId, Order::Asc)
        .to_owned();
    Ok(rows::all::<Member, _>(c, &q)
        .await?
        .into_iter()
        .map(|r| r.user_id)
        .collect())
}

/// Adds a member (idempotent).
pub async fn add_member<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    app_id: &str,
    role: &str,
    user_id: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(SysRoleMembers::Table)
        .columns([
            SysRoleMembers::TenantId,
            SysRoleMembers::AppId,
            SysRoleMembers::Role,
            SysRoleMembers::UserId,
            SysRoleMembers::CreatedAt,
        ])
        .values_panic([tenant_id.into(), app_id.into(), role.into(), user_id.into(), at.into()])
        .on_conflict(
            OnConflict::columns([SysRoleMembers::AppId, SysRoleMembers::Role, SysRoleMembers::UserId])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}

/// Removes a member; false when they were not one.
pub async fn remove_member<C: crate::Writes>(
    c: &C,
    app_id: &str,
    role: &str,
    user_id: &str,
) -> Result<bool, StoreError> {
    let q = Query::delete()
        .from_table(SysRoleMembers::Table)
        .and_where(Expr::col(SysRoleMembers::AppId).eq(app_id))
        .and_where(Expr::col(SysRoleMembers::Role).eq(role))
        .and_where(Expr::col(SysRoleMembers::UserId).eq(user_id))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected() > 0)
}

/// A delegation: `delegate_id` acts for `user_id` between the two times.
#[derive(Debug, Clone, FromQueryResult)]
pub struct DelegationRow {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub delegate_id: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_delegation<C: crate::Writes>(c: &C, d: &DelegationRow) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(SysDelegations::Table)
        .columns(DELEGATION_COLS)
        .values_panic([
            d.id.clone().into(),
            d.tenant_id.clone().into(),
            d.user_id.clone().into(),
            d.delegate_id.clone().into(),
            d.starts_at.into(),
            d.ends_at.into(),
            d.created_at.into(),
        ])
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}

/// The users `delegate_id` acts for at `at`.
pub async fn principals_of<C: crate::Reads>(
    c: &C,
    tenant_id: &str,
    delegate_id: &str,
    at: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let q = Query::select()
        .column(SysDelegations::UserId)
        .from(SysDelegations::Table)
        .and_where(Expr::col(SysDelegations::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysDelegations::DelegateId).eq(delegate_id))
        .and_where(Expr::col(SysDelegations::StartsAt).lte(at))
        .and_where(Expr::col(SysDelegations::EndsAt).gt(at))
        .to_owned();
    Ok(rows::all::<Member, _>(c, &q)
        .await?
        .into_iter()
        .map(|r| r.user_id)
        .collect())
}

/// A user's delegations (given), newest first.
pub async fn delegations_of<C: crate::Reads>(
    c: &C,
    tenant_id: &str,
    user_id: &str,
) -> Result<Vec<DelegationRow>, StoreError> {
    let q = Query::select()
        .columns(DELEGATION_COLS)
        .from(SysDelegations::Table)
        .and_where(Expr::col(SysDelegations::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysDelegations::UserId).eq(user_id))
        .order_by(SysDelegations::CreatedAt, Order::Desc)
        .to_owned();
    rows::all(c, &q).await
}

/// A tenant's business calendar definition (JSON), by name.
pub async fn calendar<C: crate::Reads>(c: &C, tenant_id: &str, name: &str) -> Result<Option<String>, StoreError> {
    let q = Query::select()
        .column(SysCalendars::Definition)
        .from(SysCalendars::Table)
        .and_where(Expr::col(SysCalendars::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysCalendars::Name).eq(name))
        .to_owned();
    Ok(rows::one::<Definition, _>(c, &q).await?.map(|r| r.definition))
}

/// The names of a tenant's calendars.
pub async fn calendar_names<C: crate::Reads>(c: &C, tenant_id: &str) -> Result<Vec<String>, StoreError> {
    let q = Query::select()
        .column(SysCalendars::Name)
        .from(SysCalendars::Table)
        .and_where(Expr::col(SysCalendars::TenantId).eq(tenant_id))
        .order_by(SysCalendars::Name, Order::Asc)
        .to_owned();
    Ok(rows::all::<Name, _>(c, &q).await?.into_iter().map(|r| r.name).collect())
}

/// Creates or replaces a calendar.
pub async fn put_calendar<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    name: &str,
    definition: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(SysCalendars::Table)
        .columns([
            SysCalendars::TenantId,
            SysCalendars::Name,
            SysCalendars::Definition,
            SysCalendars::UpdatedAt,
        ])
        .values_panic([tenant_id.into(), name.into(), definition.into(), at.into()])
        .on_conflict(
            OnConflict::columns([SysCalendars::TenantId, SysCalendars::Name])
                .update_columns([SysCalendars::Definition, SysCalendars::UpdatedAt])
                .to_owned(),
        )
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}

/// Deletes a calendar; false when there was none.
pub async fn delete_calendar<C: crate::Writes>(c: &C, tenant_id: &str, name: &str) -> Result<bool, StoreError> {
    let q = Query::delete()
        .from_table(SysCalendars::Table)
        .and_where(Expr::col(SysCalendars::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysCalendars::Name).eq(name))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected() > 0)
}
